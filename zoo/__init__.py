"""zoo: a model zoo for small image classifiers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

# Importing the families registers every variant (timm's layout): zoo.registry stays a leaf module.
import zoo.models  # noqa: F401
from zoo.pretrained import create_model  # timm's spelling: zoo.create_model(name, pretrained=True)
from zoo.registry import list_models

__all__ = ["create_model", "list_models"]
