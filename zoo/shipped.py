"""The shipped weights' digests and figures: one entry per variant whose trained run ships with zoo
(its files under zoo/weights/<name>/). Written by benchmarks/ship_weights.py from the run directories;
read through `ModelSpec.weights`. A variant without an entry says why in NO_WEIGHTS, or has no weights
because its dataset is not on the machines that train them."""

from zoo.registry import Weights

SHIPPED: dict[str, Weights] = {}

NO_WEIGHTS: dict[str, str] = {
    "fashion-resnet-wide": (
        "its recipe needs a GPU or a long resumable CPU run, not yet made; train it with "
        "`zoo train fashion-resnet-wide` (resumable with --resume)"
    ),
}
