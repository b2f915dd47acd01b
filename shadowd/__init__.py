"""shadowd: a live shadow of a production IP network."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shadowd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
