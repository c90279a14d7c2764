"""The shipped weights' digests and figures: one entry per variant whose trained run ships with zoo
(its files under zoo/weights/<name>/). Written by benchmarks/ship_weights.py from the run directories;
read through `ModelSpec.weights`. A variant without an entry says why in NO_WEIGHTS, or has no weights
because its dataset is not on the machines that train them."""

from zoo.registry import Weights

NO_WEIGHTS: dict[str, str] = {
    "fashion-resnet-wide": (
        "its recipe needs a GPU or a long resumable CPU run, not yet made; train one with "
        "`zoo train NAME` (resumable with --resume)"
    ),
}

# Generated below by benchmarks/ship_weights.py from the folders under zoo/weights/.
SHIPPED: dict[str, Weights] = {
    "fashion-cnn": Weights(
        sha256="f0d55fc18f5711b8649caed7fef3072ca62c446d9035d655e376278ccf6a22eb",
        record_sha256="e3c610f9473c80a29ad5621daa46138d5d8a4c7a5317d410fe6c7a8359a325cf",
        size=633512,
        correct=9234,
        n=10000,
    ),
    "fashion-cnn-fast": Weights(
        sha256="ad623dcaad08f5d96def6104fbd9909311ce019a30628c80321aea21020fc85d",
        record_sha256="54d9a585b838ee6844d97308edaa14386a1497205fa1eb39db21f7d04c1a1239",
        size=1689152,
        correct=9227,
        n=10000,
    ),
    "fashion-mlp": Weights(
        sha256="c79ff0ef49db65a6b8968c0f742d8a58cbda6bb8bd363df9fa58acadc5b03351",
        record_sha256="48fad64063b0976e444cbfa70ef5203cc1ac5d34a0000e9224356f3ccd722a7a",
        size=941104,
        correct=8847,
        n=10000,
    ),
    "fashion-mlp4": Weights(
        sha256="d103076cdc6082c160783bbb0031a298957cef78f5e9a81c191a9fe3060fbf7d",
        record_sha256="7085003edf02eafc58af2fe9a574db8533ced1ab00c37ec44b5fcd366d3dcf87",
        size=1474808,
        correct=8912,
        n=10000,
    ),
}
