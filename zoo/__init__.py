"""zoo: a model zoo for small image classifiers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["create_model", "list_models", "pretrained_transforms"]


def __getattr__(name: str):
    """`zoo.create_model` (timm's spelling: zoo.create_model(name, pretrained=True)) and `zoo.list_models`,
    imported when first used (PEP 562): `import zoo` itself stays light, so a module that needs only the
    small ones (zoo.stop, zoo.errors: the CLI's signal handling) does not import torch and every family.
    The registry imports the families when it is first asked (zoo.registry), as `import zoo` did."""
    if name == "create_model":
        from zoo.pretrained import create_model

        return create_model
    if name == "pretrained_transforms":  # torchvision's weights.transforms(): the shipped preprocessing
        from zoo.shipped_use import pretrained_transforms

        return pretrained_transforms
    if name == "list_models":
        from zoo.registry import list_models

        return list_models
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
