"""Model families; importing this package registers every variant."""

from zoo.models import classic, cnn, mlp, resnet  # noqa: F401
