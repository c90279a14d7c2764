"""What zoo knows about each dataset: classes, shapes, official files, checksums and mirrors."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (C, H, W)
    description: str
    # light-on-dark: light objects on a black background, so photos of dark objects on white need inverting
    polarity: str = "natural"
    # how an image of another aspect ratio became (H, W): stretch, pad or crop (zoo.core.images.fit); a run
    # records it and its export tells `zoo predict` to do the same
    resize: str = "stretch"


@dataclass(frozen=True)
class FileSpec:
    """One official file and the checksums that identify it.

    `md5` is recorded for exactly one form of the file: `download` when the official download is a
    compressed copy (IDX .gz), else `name` itself. `sha256` is of the uncompressed content, recorded where
    repackagers (Debian) re-compress the files, which changes their md5 but not their content.
    """

    name: str
    md5: str | None
    download: str | None = None
    sha256: str | None = None

    @property
    def md5_form(self) -> str:
        return self.download or self.name


@dataclass(frozen=True)
class DatasetSpec:
    info: DatasetInfo
    format: str  # "idx" or "cifar"
    files: tuple[FileSpec, ...]  # what the reader needs (IDX: raw names, each also accepted as .gz)
    downloads: tuple[FileSpec, ...]  # what `fetch` downloads
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    install_hint: str = ""


def _idx_files(md5s: dict[str, str], sha256s: dict[str, str] | None = None) -> tuple[FileSpec, ...]:
    return tuple(
        FileSpec(name=base, md5=md5, download=base + ".gz", sha256=(sha256s or {}).get(base))
        for base, md5 in md5s.items()
    )


_FASHION_FILES = _idx_files(
    {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        # As in the official README and torchvision (…a12a480…); a copy with …a12e480… is a typo.
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
)

# From torchvision.datasets.MNIST.resources.
_MNIST_FILES = _idx_files(
    {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    }
)

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_META = "batches.meta"

# From torchvision.datasets.CIFAR10; the md5s of the members are of the files inside the archive.
_CIFAR_FILES = (
    FileSpec("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    FileSpec("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    FileSpec("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    FileSpec("data_batch_4", "634d18415352ddfa80567beed471001a"),
    FileSpec("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    FileSpec("test_batch", "40351d587109b95175f43aff81a1287e"),
    FileSpec("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
)
_CIFAR_ARCHIVE_FILE = FileSpec(CIFAR_ARCHIVE, "c58f30108f718f92721af3b95e74349a")

BUILTIN: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        info=DatasetInfo(
            name="fashion-mnist",
            class_names=(
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
            image_shape=(1, 28, 28),
            description="Zalando Fashion-MNIST: 60k train / 10k test 28x28 grayscale",
            polarity="light-on-dark",
        ),
        format="idx",
        files=_FASHION_FILES,
        downloads=_FASHION_FILES,
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
        install_hint="Install it with `apt-get install -y dataset-fashion-mnist`, or run "
        "`zoo data fetch fashion-mnist`, or pass --data-dir DIR",
    ),
    "mnist": DatasetSpec(
        info=DatasetInfo(
            name="mnist",
            class_names=tuple(str(d) for d in range(10)),
            image_shape=(1, 28, 28),
            description="MNIST handwritten digits: 60k train / 10k test 28x28 grayscale",
            polarity="light-on-dark",
        ),
        format="idx",
        files=_MNIST_FILES,
        downloads=_MNIST_FILES,
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        install_hint="Run `zoo data fetch mnist`, or pass --data-dir DIR with the four official IDX files",
    ),
    "cifar10": DatasetSpec(
        info=DatasetInfo(
            name="cifar10",
            class_names=(
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ),
            image_shape=(3, 32, 32),
            description="CIFAR-10: 50k train / 10k test 32x32 colour",
        ),
        format="cifar",
        files=_CIFAR_FILES,
        downloads=(_CIFAR_ARCHIVE_FILE,),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        install_hint=f"Run `zoo data fetch cifar10`, or pass --data-dir DIR with {CIFAR_ARCHIVE} "
        f"or the {CIFAR_FOLDER}/ folder",
    ),
}


def builtin_dataset_names() -> list[str]:
    """The datasets zoo knows by their official files (fashion-mnist, mnist, cifar10)."""
    return list(BUILTIN)
