"""zoo.data: seeded stratified splits, subsets, normalisation statistics, batches and the Normalizer."""

import json

import fakedata
import numpy as np
import pytest
import torch

from zoo.core.errors import InternalError, UsageError
from zoo.data import DataSplits, Normalizer, Split, iterate_batches, load, load_raw
from zoo.data.loading import content_sha256


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    # 1003 images: classes of unequal size (101 and 100), so rounding in the stratification shows
    return fakedata.make_idx_dataset(tmp_path_factory.mktemp("mnist"), n_train=1003, n_test=200, gz=True)


def rows(split: Split) -> list[bytes]:
    """Each image's bytes: the fake images are random noise, so these identify the images."""
    return [bytes(r) for r in split.images.reshape(len(split), -1).numpy()]


def test_load_returns_splits(mnist_dir):
    data = load("mnist", data_dir=mnist_dir)
    assert isinstance(data, DataSplits) and data.info.name == "mnist"
    assert (len(data.train), len(data.val), len(data.test)) == (902, 101, 200)
    assert data.source == str(mnist_dir)
    for split in (data.train, data.val, data.test):
        assert split.images.dtype == torch.uint8 and split.images.is_contiguous()
        assert split.labels.dtype == torch.int64 and split.images.device.type == "cpu"
    fp = data.fingerprint
    assert set(fp) == {
        "dataset",
        "source",
        "sha256",
        "val_fraction",
        "split_seed",
        "subset",
        "n_train",
        "n_val",
        "n_test",
    }
    assert (fp["dataset"], fp["val_fraction"], fp["split_seed"], fp["subset"]) == ("mnist", 0.1, 0, None)
    assert (fp["n_train"], fp["n_val"], fp["n_test"]) == (902, 101, 200)
    assert json.loads(json.dumps(fp)) == fp
    train, test, _ = load_raw("mnist", mnist_dir)
    assert fp["sha256"] == content_sha256(train, test) and len(fp["sha256"]) == 64


def test_train_and_val_partition_the_training_set(mnist_dir):
    data = load("mnist", data_dir=mnist_dir, val_fraction=0.25, seed=5)
    full, _, _ = load_raw("mnist", mnist_dir)
    train, val = rows(data.train), rows(data.val)
    assert not set(train) & set(val)
    assert sorted(train + val) == sorted(rows(full))


def test_split_is_stratified(mnist_dir):
    data = load("mnist", data_dir=mnist_dir, val_fraction=0.3, seed=1)
    full, _, _ = load_raw("mnist", mnist_dir)
    per_class = full.labels.bincount(minlength=10).numpy()
    val = data.val.labels.bincount(minlength=10).numpy()
    assert np.all(np.abs(val - 0.3 * per_class) <= 1)
    assert np.array_equal(val + data.train.labels.bincount(minlength=10).numpy(), per_class)


def test_same_seed_same_split_other_seed_other_split(mnist_dir):
    a = load("mnist", data_dir=mnist_dir, seed=7)
    b = load("mnist", data_dir=mnist_dir, seed=7)
    c = load("mnist", data_dir=mnist_dir, seed=8)
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.labels, b.train.labels)
    assert a.fingerprint == b.fingerprint
    assert set(rows(a.val)) != set(rows(c.val))
    assert a.fingerprint["sha256"] == c.fingerprint["sha256"]  # same data, another split


def test_subset_is_stratified_and_seeded(mnist_dir):
    a = load("mnist", data_dir=mnist_dir, subset=200, seed=3)
    b = load("mnist", data_dir=mnist_dir, subset=200, seed=3)
    c = load("mnist", data_dir=mnist_dir, subset=200, seed=4)
    assert len(a.train) + len(a.val) == 200 and len(a.test) == 200  # the test set is never subsampled
    counts = (a.train.labels.bincount(minlength=10) + a.val.labels.bincount(minlength=10)).numpy()
    assert np.all(np.abs(counts - 20) <= 1)
    assert rows(a.train) == rows(b.train) and rows(a.val) == rows(b.val)
    assert set(rows(a.train) + rows(a.val)) != set(rows(c.train) + rows(c.val))
    assert a.fingerprint["subset"] == 200 and a.fingerprint["n_train"] + a.fingerprint["n_val"] == 200
    whole = load("mnist", data_dir=mnist_dir, subset=1003, val_fraction=0)
    assert len(whole.train) == 1003


def test_no_validation_split(mnist_dir):
    data = load("mnist", data_dir=mnist_dir, val_fraction=0)
    assert len(data.val) == 0 and data.val.images.shape == (0, 1, 28, 28)
    assert len(data.train) == 1003


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"val_fraction": "0.1"}, "val_fraction"),
        ({"subset": 19}, "at least 20"),
        ({"subset": 1004}, "larger than the 1003 training images"),
        ({"subset": 2.5}, "subset"),
        ({"seed": -1}, "seed"),
        ({"val_fraction": 0.001}, "cannot split"),  # fewer val images than classes
    ],
)
def test_bad_arguments(mnist_dir, kwargs, expected):
    with pytest.raises(UsageError) as info:
        load("mnist", data_dir=mnist_dir, **kwargs)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_mean_std_from_train_split_only(mnist_dir):
    data = load("mnist", data_dir=mnist_dir, val_fraction=0.5)
    pixels = data.train.images.double() / 255
    assert data.mean == pytest.approx((pixels.mean().item(),), abs=1e-12)
    assert data.std == pytest.approx((pixels.std(correction=0).item(),), abs=1e-12)
    everything = torch.cat([data.train.images, data.val.images]).double() / 255
    assert data.mean[0] != pytest.approx(everything.mean().item(), abs=1e-9)


def test_mean_std_per_channel(tmp_path):
    data = load("cifar10", data_dir=fakedata.make_cifar_dataset(tmp_path, 40), val_fraction=0.2)
    pixels = data.train.images.double() / 255
    assert len(data.mean) == 3
    assert data.mean == pytest.approx(tuple(pixels.mean(dim=(0, 2, 3)).tolist()), abs=1e-12)
    assert data.std == pytest.approx(tuple(pixels.std(dim=(0, 2, 3), correction=0).tolist()), abs=1e-12)
    assert (len(data.train), len(data.val), len(data.test)) == (160, 40, 40)


# ---------------------------------------------------------------- batches


def numbered(n: int) -> Split:
    """A split whose labels are the sample numbers, so batches show which samples they hold."""
    return Split(torch.zeros(n, 1, 2, 2, dtype=torch.uint8), torch.arange(n))


def test_batches_in_order_are_views():
    split = numbered(23)
    batches = list(iterate_batches(split, 10, shuffle=False))
    assert [len(y) for _, y in batches] == [10, 10, 3]
    assert torch.equal(torch.cat([y for _, y in batches]), split.labels)
    x0, _ = batches[0]
    assert x0.untyped_storage().data_ptr() == split.images.untyped_storage().data_ptr()  # no copy


def test_shuffled_batches_cover_every_sample_once():
    split = numbered(103)
    seen = torch.cat(
        [y for _, y in iterate_batches(split, 10, shuffle=True, generator=torch.Generator().manual_seed(0))]
    )
    assert sorted(seen.tolist()) == list(range(103))
    assert not torch.equal(seen, split.labels)
    again = torch.cat(
        [y for _, y in iterate_batches(split, 10, shuffle=True, generator=torch.Generator().manual_seed(0))]
    )
    assert torch.equal(seen, again)


def test_drop_last():
    sizes = [len(y) for _, y in iterate_batches(numbered(23), 10, shuffle=True, drop_last=True)]
    assert sizes == [10, 10]
    assert [len(y) for _, y in iterate_batches(numbered(20), 10, shuffle=False, drop_last=True)] == [10, 10]
    assert list(iterate_batches(numbered(0), 10, shuffle=True)) == []


def test_images_follow_labels_when_shuffled():
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).contiguous()
    split = Split(images, torch.arange(50))
    for x, y in iterate_batches(split, 8, shuffle=True):
        assert torch.equal(x.view(-1).long(), y)


def test_bad_batch_size():
    with pytest.raises(UsageError):
        list(iterate_batches(numbered(5), 0, shuffle=False))


def test_split_checks_its_tensors():
    with pytest.raises(InternalError):
        Split(torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.int64))  # float images
    with pytest.raises(InternalError):
        Split(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))


# ---------------------------------------------------------------- Normalizer


def test_normalizer():
    norm = Normalizer((0.5, 0.25, 0.1), (0.2, 0.3, 0.4))
    assert norm.mean.shape == (1, 3, 1, 1) and norm.std.shape == (1, 3, 1, 1)
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    before = x.clone()
    out = norm(x)
    assert out.dtype == torch.float32 and out.shape == x.shape
    mean = torch.tensor([0.5, 0.25, 0.1]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    assert torch.allclose(out, (x.float() / 255 - mean) / std, atol=1e-6)
    assert torch.equal(x, before)
    as_float = x.float()
    norm(as_float)
    assert torch.equal(as_float, before.float())  # a float input is not modified in place either


def test_normalizer_rejects_bad_input():
    with pytest.raises(UsageError):
        Normalizer((0.5,), (0.2, 0.3))
    with pytest.raises(UsageError):
        Normalizer((0.5,), (0.0,))
    with pytest.raises(InternalError):  # zoo itself passes the wrong tensor: a bug, not the user's input
        Normalizer((0.5,), (0.2,))(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_normalizer_on_cuda():
    norm = Normalizer((0.5,), (0.25,), device="cuda")
    x = torch.randint(0, 256, (4, 1, 3, 3), dtype=torch.uint8).pin_memory()
    out = norm(x)
    assert out.device.type == "cuda"
    assert torch.allclose(out.cpu(), Normalizer((0.5,), (0.25,))(x), atol=1e-6)
