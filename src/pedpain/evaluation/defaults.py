"""Defaults of the evaluation that light modules (the command line) need without
importing the evaluation itself (scikit-learn, SciPy, Matplotlib)."""

#: Used when the table has no ``threshold`` column, no threshold is given and there is no
#: ``age_months`` to look Table 1 up with: 3/10 is the therapeutic threshold of FLACC, OPS
#: and NRS, the scales pedpain reports on from 2 months of age.
DEFAULT_THRESHOLD = 3.0
