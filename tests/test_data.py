"""zoo.data: file formats, validation, lookup order, checksums, and the real Fashion-MNIST."""

import gzip
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import fakedata
import numpy as np
import pytest
import torch

from zoo.core.errors import DataError, UsageError
from zoo.core.paths import data_cache_dir
from zoo.data import (
    dataset_names,
    dataset_status,
    find_dataset,
    get_dataset_info,
    load_raw,
)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not all((FASHION_DIR / f"{n}.gz").is_file() for n in fakedata.IDX_NAMES.values()),
    reason="Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)",
)


def data_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "errors are printed as one line"
    return message


# ---------------------------------------------------------------- catalog


def test_catalog_names_and_info():
    assert dataset_names() == ["fashion-mnist", "mnist", "cifar10"]
    fashion = get_dataset_info("fashion-mnist")
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[-1] == "Ankle boot"
    assert fashion.image_shape == (1, 28, 28)
    assert get_dataset_info("mnist").class_names == tuple("0123456789")
    cifar = get_dataset_info("cifar10")
    assert cifar.image_shape == (3, 32, 32) and cifar.class_names[1] == "automobile"
    assert all("\n" not in get_dataset_info(n).description for n in dataset_names())


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(UsageError) as info:
        get_dataset_info("fashon-mnist")
    assert "fashion-mnist" in str(info.value)
    assert info.value.exit_code == 2


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_dataset_loads(tmp_path, gz):
    folder = fakedata.make_idx_dataset(tmp_path / "mnist", n_train=120, n_test=30, gz=gz)
    train, test, source = load_raw("mnist", data_dir=folder)
    assert source == str(folder)
    assert train.images.shape == (120, 1, 28, 28) and test.images.shape == (30, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.images.is_contiguous() and len(train) == 120
    assert sorted(train.labels.unique().tolist()) == list(range(10))


def test_idx_raw_and_gz_hold_the_same(tmp_path):
    raw = load_raw("mnist", fakedata.make_idx_dataset(tmp_path / "raw", 50, 20, gz=False, seed=3))
    gz = load_raw("mnist", fakedata.make_idx_dataset(tmp_path / "gz", 50, 20, gz=True, seed=3))
    for a, b in zip(raw[:2], gz[:2], strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def _rewrite(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


def _bad_magic(folder):
    labels = (folder / "train-labels-idx1-ubyte").read_bytes()
    _rewrite(folder, "train-images-idx3-ubyte", labels)


def _bad_dtype(folder):
    data = bytearray((folder / "train-images-idx3-ubyte").read_bytes())
    data[2] = 0x0D  # float32
    _rewrite(folder, "train-images-idx3-ubyte", bytes(data))


def _truncated(folder):
    data = (folder / "train-images-idx3-ubyte").read_bytes()
    _rewrite(folder, "train-images-idx3-ubyte", data[:-100])


def _trailing(folder):
    data = (folder / "t10k-images-idx3-ubyte").read_bytes()
    _rewrite(folder, "t10k-images-idx3-ubyte", data + b"\0" * 7)


def _count_mismatch(folder):
    fakedata.write_idx_labels(folder / "train-labels-idx1-ubyte", np.zeros(39, np.uint8))


def _label_out_of_range(folder):
    fakedata.write_idx_labels(folder / "train-labels-idx1-ubyte", np.full(40, 12, np.uint8))


def _wrong_dims(folder):
    fakedata.write_idx_images(folder / "train-images-idx3-ubyte", np.zeros((40, 32, 32), np.uint8))


def _gzip_under_raw_name(folder):
    data = (folder / "train-labels-idx1-ubyte").read_bytes()
    _rewrite(folder, "train-labels-idx1-ubyte", gzip.compress(data))


def _header_only(folder):
    _rewrite(folder, "t10k-labels-idx1-ubyte", b"\x00\x00\x08")


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_bad_magic, "train-images-idx3-ubyte: not an IDX image file: magic number should be 0x00000803"),
        (_bad_dtype, "found 0x00000d03"),
        (_truncated, "truncated: the header declares 40 images"),
        (_trailing, "7 unexpected trailing bytes"),
        (_count_mismatch, "holds 40 images but train-labels-idx1-ubyte holds 39 labels"),
        (_label_out_of_range, "label 12 at index 0 is out of range 0..9"),
        (_wrong_dims, "images are 32x32, expected 28x28"),
        (_gzip_under_raw_name, "gzip-compressed; rename it to train-labels-idx1-ubyte.gz"),
        (_header_only, "magic number should be 0x00000801"),
    ],
)
def test_idx_validation(tmp_path, corrupt, expected):
    folder = fakedata.make_idx_dataset(tmp_path / "d", n_train=40, n_test=10)
    corrupt(folder)
    message = data_error(load_raw, "mnist", folder)
    assert expected in message
    assert str(folder) in message  # names the file
    assert "zoo data fetch mnist" in message  # and the fix


@pytest.mark.parametrize("damage", ["truncate", "garble", "not-gzip"])
def test_idx_corrupt_gzip(tmp_path, damage):
    folder = fakedata.make_idx_dataset(tmp_path / "d", n_train=40, n_test=10, gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garble":
        middle = len(data) // 2
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]
    else:
        data = b"this is not gzip at all"
    path.write_bytes(data)
    message = data_error(load_raw, "mnist", folder)
    assert f"{path}: corrupt gzip file" in message


def test_raw_file_preferred_over_gz(tmp_path):
    folder = fakedata.make_idx_dataset(tmp_path / "d", n_train=40, n_test=10, gz=True)
    fakedata.make_idx_dataset(folder, n_train=40, n_test=10, gz=False)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"broken, but never read")
    train, _, _ = load_raw("mnist", folder)
    assert len(train) == 40


# ---------------------------------------------------------------- CIFAR-10


def _cifar_written(n_per_batch: int, seed: int = 0):
    files = fakedata.cifar_files(n_per_batch, seed)
    batches = [pickle.loads(files[f"data_batch_{i}"], encoding="bytes") for i in range(1, 6)]
    return np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)


def test_cifar_folder(tmp_path):
    root = fakedata.make_cifar_dataset(tmp_path / "c", n_per_batch=20)
    train, test, source = load_raw("cifar10", root)
    assert source == str(root / "cifar-10-batches-py")
    assert train.images.shape == (100, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    assert train.images.is_contiguous()
    assert np.array_equal(train.images.numpy(), _cifar_written(20))
    assert set(train.labels.tolist()) == set(range(10))


def test_cifar_tar_matches_folder(tmp_path):
    loose = load_raw("cifar10", fakedata.make_cifar_dataset(tmp_path / "loose", 20))
    tarred = load_raw("cifar10", fakedata.make_cifar_dataset(tmp_path / "tar", 20, as_tar=True))
    assert tarred[2] == str(tmp_path / "tar")
    for a, b in zip(loose[:2], tarred[:2], strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_cifar_files_directly_in_folder(tmp_path):
    root = fakedata.make_cifar_dataset(tmp_path / "c", 10)
    flat = tmp_path / "flat"
    shutil.copytree(root / "cifar-10-batches-py", flat)
    train, _, source = load_raw("cifar10", flat)
    assert source == str(flat) and len(train) == 50


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_refuses_forbidden_globals(tmp_path):
    root = fakedata.make_cifar_dataset(tmp_path / "c", 10)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Exploit(marker), b"labels": []}, protocol=4)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(payload)
    message = data_error(load_raw, "cifar10", root)
    assert f"data_batch_3: refused to unpickle {os.system.__module__}.system;" in message
    assert not marker.exists()


def _zeros(n: int) -> np.ndarray:
    return np.zeros((n, 3072), np.uint8)


def _cifar_rewrite(root: Path, name: str, obj) -> None:
    (root / "cifar-10-batches-py" / name).write_bytes(fakedata.cifar_pickle(obj))


@pytest.mark.parametrize(
    ("name", "obj", "expected"),
    [
        ("data_batch_2", [1, 2, 3], "expected a dict with b'data' and b'labels', found list"),
        ("data_batch_2", {b"labels": [0]}, "missing key(s) data"),
        ("data_batch_2", {b"data": np.zeros((10, 100), np.uint8), b"labels": [0] * 10}, "shape (N, 3072)"),
        (
            "data_batch_2",
            {b"data": np.zeros((10, 3072), np.uint8), b"labels": [0] * 9},
            "10 images but labels",
        ),
        (
            "test_batch",
            {b"data": np.zeros((10, 3072), np.uint8), b"labels": [10] * 10},
            "label 10 at index 0",
        ),
        ("data_batch_5", {b"data": np.zeros((9, 3072), np.uint8), b"labels": [0] * 9}, "differ in size"),
        ("batches.meta", {b"label_names": [b"cat", b"dog"]}, "label_names are ['cat', 'dog']"),
    ],
)
def test_cifar_validation(tmp_path, name, obj, expected):
    root = fakedata.make_cifar_dataset(tmp_path / "c", 10)
    _cifar_rewrite(root, name, obj)
    message = data_error(load_raw, "cifar10", root)
    assert expected in message and name in message


def test_cifar_truncated_pickle(tmp_path):
    root = fakedata.make_cifar_dataset(tmp_path / "c", 10)
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    assert "test_batch: not a readable CIFAR pickle" in data_error(load_raw, "cifar10", root)


def test_cifar_tar_missing_member(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, data in fakedata.cifar_files(10).items():
            if name != "data_batch_2":
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    assert "the archive lacks data_batch_2" in data_error(load_raw, "cifar10", root)


def test_cifar_corrupt_tar(tmp_path):
    root = fakedata.make_cifar_dataset(tmp_path / "c", 10, as_tar=True)
    archive = root / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:3000])
    assert "cifar-10-python.tar.gz: corrupt or unreadable" in data_error(load_raw, "cifar10", root)


# ---------------------------------------------------------------- lookup order


def test_lookup_order(tmp_path, monkeypatch):
    system = fakedata.make_idx_dataset(tmp_path / "system", 20, 10)
    fakedata.replace_spec(monkeypatch, "fashion-mnist", system_dirs=(system,))
    assert find_dataset("fashion-mnist") == system

    cache = fakedata.make_idx_dataset(data_cache_dir("fashion-mnist"), 20, 10)
    assert find_dataset("fashion-mnist") == cache

    env_root = tmp_path / "env"
    env = fakedata.make_idx_dataset(env_root / "fashion-mnist", 20, 10, gz=True)  # root/<dataset>/ form
    monkeypatch.setenv("ZOO_DATA_DIR", str(env_root))
    assert find_dataset("fashion-mnist") == env

    given = fakedata.make_idx_dataset(tmp_path / "given", 20, 10)  # the folder itself
    assert find_dataset("fashion-mnist", data_dir=given) == given
    assert load_raw("fashion-mnist", data_dir=str(given))[2] == str(given)


def test_data_dir_without_the_dataset_falls_through(tmp_path, monkeypatch):
    cache = fakedata.make_idx_dataset(data_cache_dir("mnist"), 20, 10)
    other = fakedata.make_idx_dataset(tmp_path / "root" / "fashion-mnist", 20, 10)
    assert find_dataset("mnist", data_dir=tmp_path / "root") == cache
    assert find_dataset("fashion-mnist", data_dir=tmp_path / "root") == other


def test_cifar_lookup_forms(tmp_path):
    root = tmp_path / "root"
    fakedata.make_cifar_dataset(root / "cifar10", 10)
    assert find_dataset("cifar10", root) == root / "cifar10" / "cifar-10-batches-py"
    fakedata.make_cifar_dataset(data_cache_dir("cifar10"), 10, as_tar=True)
    assert find_dataset("cifar10") == data_cache_dir("cifar10")


def test_missing_dataset_lists_places(tmp_path, monkeypatch):
    nowhere = tmp_path / "no-system-copy"
    fakedata.replace_spec(monkeypatch, "fashion-mnist", system_dirs=(nowhere,))
    empty = tmp_path / "empty"
    empty.mkdir()
    message = data_error(find_dataset, "fashion-mnist", empty)
    assert message.startswith("fashion-mnist not found; looked in: ")
    for place in (empty, empty / "fashion-mnist", data_cache_dir("fashion-mnist"), nowhere):
        assert str(place) in message
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "zoo data fetch fashion-mnist" in message and "--data-dir" in message

    message = data_error(load_raw, "cifar10")
    assert "zoo data fetch cifar10" in message and str(data_cache_dir("cifar10")) in message


def test_partial_data_dir_names_the_missing_file(tmp_path):
    folder = fakedata.make_idx_dataset(tmp_path / "d", 20, 10, gz=True)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    message = data_error(find_dataset, "mnist", folder)
    assert "holds only some of the files" in message and "t10k-labels-idx1-ubyte" in message
    assert "train-images" not in message

    root = fakedata.make_cifar_dataset(tmp_path / "c", 10)
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    assert "missing: data_batch_4" in data_error(find_dataset, "cifar10", root)


def test_nonexistent_data_dir(tmp_path):
    assert "does not exist" in data_error(find_dataset, "mnist", tmp_path / "typo")


# ---------------------------------------------------------------- status


def test_status_of_fake_files(tmp_path):
    raw = fakedata.make_idx_dataset(tmp_path / "raw", 20, 10)
    status = dataset_status("mnist", raw)
    assert status.folder == raw and status.info.name == "mnist"
    # no content hash recorded for MNIST, and the md5 is of the .gz download
    assert [f.checksum for f in status.files] == ["unknown"] * 4
    assert status.files[0].size == (raw / "train-images-idx3-ubyte").stat().st_size

    gz = fakedata.make_idx_dataset(tmp_path / "gz", 20, 10, gz=True)
    assert [f.checksum for f in dataset_status("mnist", gz).files] == ["mismatch"] * 4


def test_status_when_missing(tmp_path):
    status = dataset_status("cifar10")
    assert status.folder is None and status.searched == [data_cache_dir("cifar10")]
    assert [(f.name, f.path, f.checksum) for f in status.files] == [
        ("cifar-10-python.tar.gz", None, "missing")
    ]

    folder = fakedata.make_idx_dataset(tmp_path / "d", 20, 10)
    (folder / "train-labels-idx1-ubyte").unlink()
    status = dataset_status("mnist", folder)
    assert status.folder is None
    assert [f.checksum for f in status.files] == ["unknown", "missing", "unknown", "unknown"]
    assert status.files[1].name == "train-labels-idx1-ubyte.gz"


def test_status_of_cifar(tmp_path):
    root = fakedata.make_cifar_dataset(tmp_path / "c", 10)
    status = dataset_status("cifar10", root)
    assert [f.name for f in status.files][-1] == "batches.meta"
    assert {f.checksum for f in status.files} == {"mismatch"}
    tarred = fakedata.make_cifar_dataset(tmp_path / "t", 10, as_tar=True)
    files = dataset_status("cifar10", tarred).files
    assert [(f.name, f.checksum) for f in files] == [("cifar-10-python.tar.gz", "mismatch")]


# ---------------------------------------------------------------- the real Fashion-MNIST


@needs_fashion
def test_real_fashion_mnist():
    train, test, source = load_raw("fashion-mnist")
    assert source == str(FASHION_DIR)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels.bincount().tolist() == [6000] * 10
    assert test.labels.bincount().tolist() == [1000] * 10
    assert get_dataset_info("fashion-mnist").class_names[9] == "Ankle boot"


@needs_fashion
def test_real_fashion_mnist_status_ok():
    status = dataset_status("fashion-mnist")
    assert status.folder == FASHION_DIR
    assert [f.checksum for f in status.files] == ["ok"] * 4  # Debian re-gzipped: the content hash decides


@needs_fashion
def test_status_of_decompressed_and_altered_files(tmp_path):
    folder = tmp_path / "fashion"
    folder.mkdir()
    for name in fakedata.IDX_NAMES.values():
        if "labels" in name:
            (folder / name).write_bytes(gzip.decompress((FASHION_DIR / f"{name}.gz").read_bytes()))
        else:
            (folder / f"{name}.gz").symlink_to(FASHION_DIR / f"{name}.gz")
    assert [f.checksum for f in dataset_status("fashion-mnist", folder).files] == ["ok"] * 4

    labels = folder / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[-1] = (data[-1] + 1) % 10
    labels.write_bytes(bytes(data))
    assert [f.checksum for f in dataset_status("fashion-mnist", folder).files][3] == "mismatch"


def test_a_cifar_archive_that_inflates_far_past_the_official_size_is_refused_unread(tmp_path):
    """A 100 MiB member (official batches are 31 MB) is refused from its header, without reading it."""
    import resource
    import tarfile

    from zoo.data.cifar import read_cifar

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar, open("/dev/zero", "rb") as zeros:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = 100 << 20
        tar.addfile(info, zeros)
    assert (tmp_path / "cifar-10-python.tar.gz").stat().st_size < 1 << 20
    with pytest.raises(DataError, match="larger than any official CIFAR-10 batch"):
        read_cifar(tmp_path, tuple("abcdefghij"))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 << 10  # KiB: < 64 MiB more


def test_a_gzip_that_inflates_past_any_official_file_is_refused(tmp_path):
    import gzip

    from zoo.data.idx import MAX_FILE_BYTES, read_file_bytes

    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range((MAX_FILE_BYTES >> 20) + 1):
            f.write(b"\0" * (1 << 20))
    with pytest.raises(DataError, match="larger than any official dataset file"):
        read_file_bytes(path)
