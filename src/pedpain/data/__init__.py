"""Datasets: OAPC-FEI from the store, UNBC-McMaster from its tree, phantom, splits."""
