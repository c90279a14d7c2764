"""The shipped weights' digests and figures: one entry per variant whose trained run ships with zoo
(its files under zoo/weights/<name>/). Written by benchmarks/ship_weights.py from the run directories;
read through `weights_of(name)` and zoo.weights.store. A variant without an entry says why in NO_WEIGHTS,
or has no weights because its dataset is not on the machines that train them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
    """A variant's shipped weights, named by the sha256 of their files (torchvision puts a hash prefix in
    each weight file's name; here the registry holds the whole digest). The figures are the shipped run's
    own, on the official test split, and `zoo weights verify` re-measures them from the file."""

    sha256: str  # of weights.safetensors
    record_sha256: str  # of run.json
    size: int  # bytes of weights.safetensors
    correct: int  # correct predictions of the default model (no test-time flip) on the official test split
    n: int  # images in that split
    # the same with test-time flips (`--tta`), for a recipe measured that way; None for the others
    correct_tta: int | None = None
    # of reference.safetensors: a few test images and the default model's logits, checked before predicting
    reference_sha256: str | None = None

    @property
    def tag(self) -> str:
        """The short name of this file, as torchvision's `-<sha8>` suffix."""
        return self.sha256[:8]

    @property
    def test_accuracy(self) -> float:
        """The headline: what the default model (`zoo predict NAME`, the default export) scores."""
        return self.correct / self.n

    @property
    def tta_accuracy(self) -> float | None:
        """The same with test-time flips (`--tta`), shown beside the headline; None where not measured."""
        return self.correct_tta / self.n if self.correct_tta else None


def weights_of(name: str) -> "Weights | None":
    """`name`'s shipped weights, or None: the one table of their digests (SHIPPED, below)."""
    return SHIPPED.get(name)


NO_WEIGHTS: dict[str, str] = {
    "fashion-cnn-air": (
        "a GPU recipe (94.35% in about 5 s on one H200; minutes per epoch on 2 CPU cores) whose GPU runs "
        "were not kept; train one with `zoo train NAME --device cuda`"
    ),
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
        reference_sha256="610cc4f8404bf5489d577c012712a2c293cb3ef1658b953440edbc3423e2064b",
    ),
    "fashion-cnn-baseline": Weights(
        sha256="a16ea7493e1f5fb2e4ac1edf9dda352c6084ee19238e5d0b5f17d401b8bf1c38",
        record_sha256="2a54ea14f963bcb2c460fe87eb1e0daa3a99b0834d543877dc58c48bb5d1b9c4",
        size=931480,
        correct=8334,
        n=10000,
        reference_sha256="93335ed0415be9bb5b3480f4efe2132a6f6643b07d6bd380ea3a0a85810c7a0a",
    ),
    "fashion-cnn-better": Weights(
        sha256="89d727e8b340479f51f9d85d7c149b1503eb5d789981e32481ccea4bb8b95b4b",
        record_sha256="e42e5eabf8c8731f65fd2d898ae900ee8cd12f401784f2b7a97c9c1a11f66db3",
        size=931480,
        correct=9070,
        n=10000,
        reference_sha256="a3b70fdba0fb79c723e76eb73c5e37c76253124608676c7400cf0d773f0c17dd",
    ),
    "fashion-cnn-fast": Weights(
        sha256="ad623dcaad08f5d96def6104fbd9909311ce019a30628c80321aea21020fc85d",
        record_sha256="54d9a585b838ee6844d97308edaa14386a1497205fa1eb39db21f7d04c1a1239",
        size=1689152,
        correct=9227,
        n=10000,
        reference_sha256="bf955e2543e18ddb03465e1f845b9ed2187fff64bdb8e2a3f02f699b62de6448",
    ),
    "fashion-cnn2-grid": Weights(
        sha256="fc30fce9b8ff724fd99fe01595d035be13fd02166b45658a46311826a47ab458",
        record_sha256="49ab8fe08d24e9cb0824d0d454ccf49ca0b4669b70f15c0256aebbe6d29d96e4",
        size=1687296,
        correct=9184,
        n=10000,
        reference_sha256="872459e65a98f9f9f615c4031f0923f3820a2d051867bcd77fb4fea216ac39a1",
    ),
    "fashion-cnn3": Weights(
        sha256="7b1449328f88ba72721544b028b61f22943276cba071cea2aff13f641487d61e",
        record_sha256="796f39cc2aeedd64d2cd9b3fcca4d912fcbb068488d760725e06ce86c5ffd1b2",
        size=763544,
        correct=9229,
        n=10000,
        reference_sha256="9827593846f96db356134c245ab783345da1b263362924cdd7fa9e387e98e473",
    ),
    "fashion-cnn3-aug": Weights(
        sha256="6ada2e08a52118787f987d0e4de7dd3a5f3572ea4112730c8435c0c7bf9e196f",
        record_sha256="e48cee748759bf3d890d0e7684491ea50b6b88e030499042a2edb5f2ed96ee38",
        size=763544,
        correct=9210,
        n=10000,
        reference_sha256="403da33fdf5c87e790b932d7f89dd438f7428b5539dfb92726173fd5b21a2444",
    ),
    "fashion-mlp": Weights(
        sha256="c79ff0ef49db65a6b8968c0f742d8a58cbda6bb8bd363df9fa58acadc5b03351",
        record_sha256="48fad64063b0976e444cbfa70ef5203cc1ac5d34a0000e9224356f3ccd722a7a",
        size=941104,
        correct=8847,
        n=10000,
        reference_sha256="5f34ee313aacfcf68557f44655cb17dfd0706de46d27749bc97f600605f08222",
    ),
    "fashion-mlp4": Weights(
        sha256="d103076cdc6082c160783bbb0031a298957cef78f5e9a81c191a9fe3060fbf7d",
        record_sha256="7085003edf02eafc58af2fe9a574db8533ced1ab00c37ec44b5fcd366d3dcf87",
        size=1474808,
        correct=8912,
        n=10000,
        reference_sha256="edf34071a2dfcfa9005532e7c698fec0e08c0c2d4c003ada279224ec81620ea0",
    ),
    "fashion-mlp4-aug": Weights(
        sha256="8efaf4c13153773ad9bf96d41f69c2753bf2c7429c16140ac72caabc89413043",
        record_sha256="ca732344af76c2c7392e33d208dc673bc50ddc5d3aa135b8348807627dd383f2",
        size=1474808,
        correct=8882,
        n=10000,
        reference_sha256="1b591efe1e2405a8fff2975bf0931e148634528162a23515642949098986cbf6",
    ),
    "fashion-resnet": Weights(
        sha256="d555462995f08327b16318b0d6eb8cfcf169c377071c2071ecfafc00fdfd4f12",
        record_sha256="7db00b03e2a5b2c0355fc6770167c6f923f9fa4d83654ea72c78d3b265d38ce6",
        size=2797488,
        correct=9471,
        n=10000,
        correct_tta=9498,
        reference_sha256="21802ef537c803e154ac126783d30973d4f52dd79090d7af7da4b42226bf022a",
    ),
    "fashion-resnet-compact": Weights(
        sha256="1aaa18f30bfe84a416d00c9bd865b74d1d73095ca92300c4397c79330ee9bd0c",
        record_sha256="fbcdff53aac66bc36e398d86b97d6806098f4e512491b4203ceea5c193ce1d8c",
        size=336280,
        correct=9362,
        n=10000,
        correct_tta=9402,
        reference_sha256="e33462a8f7760274cd5f0392bf232d956a279e915b03c23692652fedc6d35cca",
    ),
}
