"""zoo: a model zoo for small image classifiers."""

from zoo.core.version import __version__

__all__ = ["__version__", "create_model", "list_models", "pretrained_transforms"]


def __getattr__(name: str):
    """`zoo.create_model` (timm's spelling: zoo.create_model(name, pretrained=True)) and `zoo.list_models`,
    imported when first used (PEP 562): `import zoo` itself stays light, so a module that needs only the
    small ones (zoo.core.stop, zoo.core.errors: the CLI's signal handling) does not import torch and every
    family. The package's layers are drawn in docs/architecture.md."""
    if name == "create_model":
        from zoo.weights.store import create_model

        return create_model
    if name == "pretrained_transforms":  # torchvision's weights.transforms(): the shipped preprocessing
        from zoo.weights.use import pretrained_transforms

        return pretrained_transforms
    if name == "list_models":
        from zoo.models.registry import list_models

        return list_models
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
