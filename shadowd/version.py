"""The installed shadowd's version, from its package metadata.

A module of its own, not ``shadowd.__version__``: importlib.metadata costs tens of
milliseconds at import, and every command (``shadowctl status`` in a loop) imports the
package; only the daemon's status answer needs this.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("shadowd")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"
