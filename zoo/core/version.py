"""zoo's version, as installed (the wheel's metadata): recorded in every run, dataset and export."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
