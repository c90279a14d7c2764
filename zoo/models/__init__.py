"""Model families; importing this package registers every variant."""

from zoo.models import cnn, mlp  # noqa: F401
