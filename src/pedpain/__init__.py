"""pedpain: research software that assesses postoperative pain in children from faces.

pedpain is research software, not a medical device. It supports clinical judgement and
never replaces it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pedpain")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

DISCLAIMER = (
    "pedpain is research software, not a medical device. It supports clinical judgement "
    "and never replaces it."
)

__all__ = ["DISCLAIMER", "__version__"]
