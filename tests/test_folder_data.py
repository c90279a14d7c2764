"""Folder datasets (`zoo data add / list / remove`, zoo.data.folders): a folder of class folders becomes a
dataset that loads like the built-in ones. Small images, a few dozen files; faults as they happen (real
signals to a real `zoo data add`, a real full disk, real corrupt and hostile files)."""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from cliutil import assert_clean_error
from imagefolders import class_pixels, make_image_folder
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from zoo.core import memory
from zoo.core.errors import DataError, UsageError
from zoo.core.images import ImageRefused, decode_image
from zoo.core.paths import artifacts_dir
from zoo.data import (
    add_folder_dataset,
    dataset_names,
    folder_dataset_names,
    get_dataset_info,
    is_folder_dataset,
    load,
    load_raw,
    remove_folder_dataset,
)
from zoo.data.catalog import DatasetInfo
from zoo.data.findings import find_duplicates, find_label_conflicts
from zoo.data.loading import content_sha256
from zoo.data.manifest import MANIFEST, TENSORS
from zoo.data.splits import channel_stats
from zoo.inference.predict import load_image

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
FOUR = {"ant": 10, "bee": 10, "cat": 10, "dog": 10}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def data_dir() -> Path:
    return artifacts_dir() / "data"


def zoo(*args: str):
    return runner.invoke(app, [*args])


def hidden_leftovers() -> list[str]:
    root = data_dir()
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")) if root.is_dir() else []


def label_of_pixels(root: Path, shape: tuple[int, int, int], class_names: list[str]) -> dict[bytes, int]:
    """Each source file decoded as `zoo predict` decodes it: its pixels -> the class of its folder."""
    found = {}
    for label, name in enumerate(class_names):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.parent.name == name:
                found[load_image(path, shape).tobytes()] = label
    return found


# ----------------------------------------------------------------------------------- pixels = zoo predict's


def _exif_rotated(path: Path) -> None:
    photo = np.zeros((10, 16, 3), np.uint8)
    photo[:, :4] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo).save(path, exif=exif)


def _sixteen_bit(path: Path) -> None:
    ramp = (np.arange(14 * 9, dtype=np.uint16).reshape(9, 14) * 500).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    image.save(path)


def _palette_with_transparency(path: Path) -> None:
    image = Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10) * 2, "L").convert("P")
    image.info["transparency"] = 3
    image.save(path, transparency=3)


SAMPLES = {
    "gray.png": lambda p: Image.fromarray(class_pixels(1, 3, (12, 12), "L", np.random.default_rng(0))).save(
        p
    ),
    "rgb.jpg": lambda p: Image.fromarray(class_pixels(2, 3, (20, 16), "RGB", np.random.default_rng(1))).save(
        p
    ),
    "rgba.png": lambda p: Image.fromarray(
        np.random.default_rng(2).integers(0, 255, (9, 7, 4), np.uint8)
    ).save(p),
    "la.png": lambda p: Image.fromarray(
        np.random.default_rng(3).integers(0, 255, (8, 8, 2), np.uint8), "LA"
    ).save(p),
    "one-bit.png": lambda p: Image.fromarray(
        np.random.default_rng(4).integers(0, 2, (11, 13)).astype(bool)
    ).save(p),
    "big.png": lambda p: Image.fromarray(
        np.random.default_rng(5).integers(0, 255, (90, 70, 3), np.uint8)
    ).save(p),
    "palette.png": _palette_with_transparency,
    "sixteen.png": _sixteen_bit,
    "rotated.jpg": _exif_rotated,
}


@pytest.mark.parametrize("shape", [(1, 12, 12), (3, 12, 12), (1, 5, 5), (3, 31, 31)])
def test_pixels_are_exactly_those_zoo_predict_reads(tmp_path, shape):
    """Training sees what `zoo predict` feeds the model: the same function of the file, to the pixel."""
    for name, make in SAMPLES.items():
        path = tmp_path / name
        make(path)
        decoded = decode_image(path, *shape)
        expected = load_image(path, shape)
        assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape == shape, name
        assert np.array_equal(decoded.pixels, expected), name
        with open(path, "rb") as f:  # from memory (how workers read a file once) as from the path
            assert np.array_equal(decode_image(f, *shape).pixels, expected), name


def _photos(folder: Path, per_class: int, classes=("a", "b")) -> Path:
    """Links to one 4000 x 4000 photo, which takes ~0.1 s to decode: work long enough to interrupt."""
    ramp = np.linspace(0, 255, 4000)
    photo = folder.parent / f"{folder.name}-photo.jpg"
    Image.fromarray((ramp[None] / 2 + ramp[:, None] / 2).astype(np.uint8)).save(photo)
    for cls in classes:
        (folder / cls).mkdir(parents=True)
        for i in range(per_class):
            os.link(photo, folder / cls / f"{i}.jpg")
    return folder


def test_a_decoding_process_that_dies_is_one_line(tmp_path):
    import multiprocessing

    from zoo.data.decode import decode_files

    paths = sorted(str(p) for p in _photos(tmp_path / "p", 8).rglob("*.jpg"))

    def kill_a_worker(done, total):
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)  # what the OOM killer does

    with pytest.raises(DataError, match="a process decoding the images ended unexpectedly"):
        decode_files(paths, 1, 8, workers=2, on_progress=kill_a_worker)


def test_decode_refusals_say_why(tmp_path):
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageRefused) as info:
        decode_image(tmp_path / "text.png", 1, 8, 8)
    assert info.value.reason == "not an image"
    Image.fromarray(np.zeros((30, 30), np.uint8) + 7).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    with pytest.raises(ImageRefused) as info:
        decode_image(tmp_path / "cut.png", 1, 8, 8)
    assert info.value.reason == "corrupt or truncated image"
    Image.fromarray(np.zeros((4, 4), np.float32), "F").save(tmp_path / "float.tiff")
    with pytest.raises(ImageRefused) as info:
        decode_image(tmp_path / "float.tiff", 1, 8, 8)
    assert info.value.reason == "unsupported pixels" and "floating-point" in info.value.detail


# ---------------------------------------------------------------------------------------- add, then load


def test_add_then_load_like_a_builtin(tmp_path):
    root = make_image_folder(tmp_path / "src", {"zebra": 10, "ant": 15, "moth": 20}, size=(14, 10))
    result = add_folder_dataset("bugs", root, size=12)
    assert result.status == "created" and result.files == 45
    m = result.manifest
    assert m.class_names == ["ant", "moth", "zebra"]  # folder names, sorted
    # stratified: 20% of each class (rounded) in test, the rest in train
    assert m.counts == {"train": [12, 16, 8], "test": [3, 4, 2]}
    assert m.layout == "class-folders" and m.conversion["test_fraction"] == 0.2 and m.conversion["seed"] == 0

    info = get_dataset_info("bugs")
    assert info == DatasetInfo("bugs", ("ant", "moth", "zebra"), (1, 12, 12), info.description, "natural")
    assert dataset_names() == ["fashion-mnist", "mnist", "cifar10", "bugs"]
    assert is_folder_dataset("bugs") and folder_dataset_names() == ["bugs"]

    train, test, source = load_raw("bugs")
    assert source == str(data_dir() / "bugs")
    assert train.images.dtype == torch.uint8 and train.images.shape == (36, 1, 12, 12)
    assert test.labels.dtype == torch.int64 and test.images.shape == (9, 1, 12, 12)
    # every row's label is the folder its file came from
    truth = label_of_pixels(root, (1, 12, 12), m.class_names)
    for split in (train, test):
        for image, label in zip(split.images, split.labels, strict=True):
            assert truth[image.numpy().tobytes()] == int(label)
    assert len({img.numpy().tobytes() for img in torch.cat([train.images, test.images])}) == 45

    data = load("bugs", val_fraction=0.25, seed=3)
    assert (len(data.train), len(data.val), len(data.test)) == (27, 9, 9)
    assert torch.bincount(data.val.labels).tolist() == [3, 4, 2]  # stratified
    assert data.mean == channel_stats(data.train.images)[0] and data.pool_size == 36
    assert data.fingerprint["sha256"] == content_sha256(train, test)
    assert data.fingerprint["tensors_sha256"] == m.tensors_sha256 and data.fingerprint["n_val"] == 9
    again = load("bugs", val_fraction=0.25, seed=3)
    assert torch.equal(again.train.images, data.train.images) and torch.equal(
        again.val.labels, data.val.labels
    )
    other = load("bugs", val_fraction=0.25, seed=4)
    assert not torch.equal(other.val.images, data.val.images)
    small = load("bugs", subset=12, val_fraction=0.25)
    assert len(small.train) + len(small.val) == 12 and small.pool_size == 36
    with pytest.raises(UsageError, match="--data-dir"):
        load("bugs", data_dir=tmp_path)


def test_the_test_split_is_seeded_and_the_build_deterministic(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR)
    a = add_folder_dataset("a", root, seed=7).manifest
    b = add_folder_dataset("b", root, seed=7, workers=2).manifest  # a process pool gives the same bytes
    c = add_folder_dataset("c", root, seed=8).manifest
    assert a.tensors_sha256 == b.tensors_sha256 != c.tensors_sha256
    assert a.source_fingerprint == c.source_fingerprint
    assert a.counts == c.counts == {"train": [8] * 4, "test": [2] * 4}
    test_a, test_c = load_raw("a")[1], load_raw("c")[1]
    assert not torch.equal(test_a.images, test_c.images)


def test_train_test_and_val_folders(tmp_path):
    root = make_image_folder(tmp_path / "src", {"x": 8, "y": 12}, splits=True, mode="RGB", fmt="JPEG")
    make_image_folder(tmp_path / "v", {"x": 3, "y": 2}, mode="RGB", fmt="JPEG", seed=9)
    shutil.move(tmp_path / "v", root / "val")
    result = add_folder_dataset("xy", root, size=10, channels=3, test_fraction=0.5, seed=5)
    m = result.manifest
    assert (
        m.layout == "split-folders" and m.conversion["test_fraction"] is None and m.conversion["seed"] is None
    )
    assert m.counts == {"train": [6, 9], "val": [3, 2], "test": [2, 3]}
    data = load("xy", val_fraction=0.3)
    # the val/ folder is the validation set: nothing of train was split off
    assert (len(data.train), len(data.val), len(data.test)) == (15, 5, 5)
    assert data.fingerprint["val_from"] == "val/ folder"
    truth = label_of_pixels(root / "val", (3, 10, 10), m.class_names)
    assert sorted(truth[i.numpy().tobytes()] for i in data.val.images) == sorted(data.val.labels.tolist())
    assert data.train.images.shape[1:] == (3, 10, 10) and len(data.mean) == 3
    assert len(load("xy", val_fraction=0).val) == 5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: shutil.rmtree(r / "test" / "b"), "class 'b' has a folder in train/ but none in test/"),
        (lambda r: (r / "test" / "c").mkdir(), "test/c/ has no train/c/"),
        (lambda r: shutil.rmtree(r / "test"), "has train/ but no test/"),
        (lambda r: (r / "extra").mkdir(), "beside other folders (extra/)"),
        (lambda r: shutil.rmtree(r / "test" / "b") or (r / "test" / "b").mkdir(), "test/b/ in"),
    ],
)
def test_split_folders_must_agree(tmp_path, make, message):
    root = make_image_folder(tmp_path / "src", {"a": 4, "b": 4}, splits=True)
    make(root)
    result = zoo("data", "add", "ab", str(root))
    assert_clean_error(result, 1, message)
    assert not data_dir().exists() or not any(data_dir().iterdir())


@pytest.mark.parametrize(
    ("fmt", "mode", "channels"), [("PNG", "L", 1), ("JPEG", "RGB", 3), ("PNG", "RGB", 1), ("JPEG", "L", 3)]
)
def test_png_jpeg_gray_and_rgb_through_the_cli(tmp_path, fmt, mode, channels):
    root = make_image_folder(tmp_path / "src", {"one": 6, "two": 6}, mode=mode, fmt=fmt, size=(9, 9))
    result = zoo("data", "add", "pics", str(root), "--size", "9", "--channels", str(channels))
    assert result.exit_code == 0, result.output
    assert f"pics created: 2 classes, 10 train / 2 test images of {channels}x9x9" in result.stdout
    if (mode == "L") != (channels == 1):
        color = "grayscale" if channels == 1 else "rgb"
        assert f"the images are {mode}, converted to {color}" in result.stdout
    _, test, _ = load_raw("pics")
    truth = label_of_pixels(root, (channels, 9, 9), ["one", "two"])
    assert [truth[i.numpy().tobytes()] for i in test.images] == test.labels.tolist()


def test_mixed_sizes_and_modes_are_converted_and_counted(tmp_path):
    root = make_image_folder(tmp_path / "src", {"a": 6, "b": 6}, size=(12, 12))
    make_image_folder(tmp_path / "more", {"a": 3, "b": 2}, size=(20, 16), mode="RGB", fmt="JPEG", seed=4)
    for path in (tmp_path / "more").rglob("*.jpg"):
        shutil.move(path, root / path.parent.name / ("rgb-" + path.name))
    result = zoo("data", "add", "mixed", str(root), "--size", "8", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    m = json.loads((data_dir() / "mixed" / MANIFEST).read_text())
    assert m["checks"]["sizes"] == {"12x12": 12, "20x16": 5} and m["checks"]["modes"] == {"L": 12, "RGB": 5}
    assert any(
        "images of 2 sizes (12x12: 12, 20x16: 5) and 2 mode(s) (L: 12, RGB: 5)" in n for n in summary["notes"]
    )
    assert any("5 images are not square" in n for n in summary["notes"])
    assert load_raw("mixed")[0].images.shape[1:] == (1, 8, 8)


# ------------------------------------------------------------------------------- what users get wrong


def test_duplicates_across_train_and_test_are_said_with_names(tmp_path):
    root = make_image_folder(tmp_path / "src", {"a": 8, "b": 8}, splits=True)
    shutil.copy(root / "train" / "a" / "0_000.png", root / "test" / "a" / "copy.png")  # same bytes
    with Image.open(root / "train" / "b" / "1_001.png") as image:
        image.save(root / "test" / "b" / "again.bmp")  # other bytes, same pixels
    result = zoo("data", "add", "dups", str(root))
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert (
        "2 validation or test images are exact duplicates of earlier ones "
        "(1 the same file bytes, 1 the same pixels)" in out
    )
    assert "train/a/0_000.png = test/a/copy.png" in out and "train/b/1_001.png = test/b/again.bmp" in out
    dup = json.loads((data_dir() / "dups" / MANIFEST).read_text())["checks"]["duplicates"]
    assert (dup["count"], dup["same_bytes"], dup["same_pixels"]) == (2, 1, 1)


def test_find_duplicates_counts_each_later_image_once():
    found = find_duplicates(
        ["train", "train", "test", "test", "val", "test"],
        ["t1", "t2", "x1", "x2", "v1", "x3"],
        ["s1", "s2", "s1", "s9", "s8", "s8"],
        [b"p1", b"p2", b"p1", b"p2", b"p8", b"p7"],
    )
    # x1 = t1 (bytes), x2 = t2 (pixels), x3 = v1 (bytes); inside one split nothing is leakage
    assert (found["count"], found["same_bytes"], found["same_pixels"]) == (3, 2, 1)
    assert ("t1", "x1") in found["examples"] and ("v1", "x3") in found["examples"]


def test_the_same_image_in_two_classes_is_a_label_conflict_not_leakage(tmp_path):
    """Five byte-identical files in both cat/ and dog/: one was called leakage that "inflates accuracy" and
    the four inside the training split went unsaid. Each pair is a label conflict, counted by splits."""
    root = make_image_folder(tmp_path / "src", {"cat": 30, "dog": 30})
    for i in range(5):
        shutil.copy(root / "cat" / f"0_{i:03d}.png", root / "dog" / f"same_{i}.png")
    result = zoo("data", "add", "conflicts", str(root), "--seed", "0")
    assert result.exit_code == 0, result.output
    checks = json.loads((data_dir() / "conflicts" / MANIFEST).read_text())["checks"]
    conflicts = checks["label_conflicts"]
    assert conflicts["count"] == 5 and sum(conflicts["by_splits"].values()) == 5
    assert all(pair.split("-")[0] in ("train", "test") for pair in conflicts["by_splits"])
    assert checks["duplicates"]["count"] == 0  # the same image under another class is no leakage
    out = " ".join(result.stdout.split())
    assert "label conflicts: 5 pair(s) of identical images are filed under two different classes (" in out
    assert "cat/0_000.png = dog/same_0.png" in out or "dog/same_0.png = cat/0_000.png" in out
    assert "exact duplicates" not in out


def test_find_label_conflicts_counts_pairs_by_their_splits():
    found = find_label_conflicts(
        ["train", "train", "test", "test", "train", "test"],
        ["a/1", "b/1", "b/2", "a/3", "a/4", "a/5"],
        [b"p", b"p", b"p", b"q", b"q", b"r"],
        [0, 1, 1, 0, 0, 0],
    )
    # p: a/1 (0) against b/1 (1, train) and b/2 (1, test); q: one class only; r: alone
    assert found["by_splits"] == {"train-train": 1, "train-test": 1} and found["count"] == 2
    assert ("a/1", "b/1") in found["examples"] and ("a/1", "b/2") in found["examples"]


def test_class_folders_spelled_two_unicode_ways_are_refused(tmp_path):
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    root = make_image_folder(tmp_path / "src", {nfc: 4, "dog": 4})
    shutil.copytree(root / nfc, root / nfd)
    result = zoo("data", "add", "lookalike", str(root))
    assert_clean_error(result, 1, "are one name in two Unicode spellings")
    assert not (data_dir() / "lookalike").exists()


def test_a_class_spelled_nfd_in_test_is_the_nfc_class_of_train(tmp_path):
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    root = make_image_folder(tmp_path / "src", {nfc: 6, "dog": 6}, splits=True)
    (root / "test" / nfc).rename(root / "test" / nfd)  # what a second tool (macOS writes NFD) may leave
    result = zoo("data", "add", "spelled", str(root))
    assert result.exit_code == 0, result.output
    assert sorted(get_dataset_info("spelled").class_names) == sorted([nfc, "dog"])


def test_imbalance_past_ten_to_one_is_a_warning(tmp_path):
    root = make_image_folder(tmp_path / "src", {"many": 60, "few": 3})
    result = zoo("data", "add", "skewed", str(root))
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "warning: class imbalance 24:1 in the training split: 'many' has 48 images, 'few' 2" in out
    balanced = zoo("data", "add", "even", str(make_image_folder(tmp_path / "even", {"a": 30, "b": 4})))
    assert balanced.exit_code == 0 and "class imbalance" not in balanced.stdout  # 24:3 is 8:1


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ({"only": 5}, "has a single class folder (only); a classifier needs at least two"),
        ({}, "holds no class folders"),
        ({"a": 5, "b": 1}, "class folder b/ holds only 1 readable image"),
    ],
)
def test_layouts_a_classifier_cannot_learn(tmp_path, classes, message):
    root = make_image_folder(tmp_path / "src", classes)
    root.mkdir(exist_ok=True)
    assert_clean_error(zoo("data", "add", "bad", str(root)), 1, message)
    assert not (data_dir() / "bad").exists()


def test_a_class_folder_with_no_images_is_named(tmp_path):
    root = make_image_folder(tmp_path / "src", {"a": 4, "b": 4})
    (root / "empty").mkdir()
    assert_clean_error(zoo("data", "add", "e", str(root)), 1, "class folder empty/ in")
    (root / "empty" / "notes.txt").write_text("no pictures here")
    (root / "empty" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = zoo("data", "add", "e", str(root))
    assert_clean_error(result, 1, "class folder empty/ holds no readable images (2 files skipped: ")
    assert "not an image" in result.stderr


# --------------------------------------------------------------------------------------------- bad input


def _bomb_png(path: Path, side: int = 20000) -> None:
    """A PNG whose header claims side x side pixels: Pillow refuses it at open, from the header alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_bad_files_are_counted_skips_never_a_traceback(tmp_path):
    root = make_image_folder(tmp_path / "src", {"a": 6, "b": 6})
    outside = make_image_folder(tmp_path / "elsewhere", {"z": 1})
    good = (root / "a" / "0_000.png").read_bytes()
    (root / "a" / "cut.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "a" / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(300))  # no image at all
    (root / "a" / "notes.txt").write_text("not an image")
    os.mkfifo(root / "a" / "pipe.png")  # opening it would block forever
    _bomb_png(root / "b" / "bomb.png")
    (root / "b" / "away.png").symlink_to(outside / "z" / "0_000.png")  # leads outside PATH
    (root / "b" / "here.png").symlink_to(root / "a" / "0_001.png")  # stays inside: read
    (root / "b" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    with open(os.path.join(os.fsencode(root / "b"), b"caf\xe9.png"), "wb") as f:  # Latin-1, not UTF-8
        f.write(good)
    (root / "b" / "locked.png").write_bytes(good)
    os.chmod(root / "b" / "locked.png", 0)
    can_lock = not os.access(root / "b" / "locked.png", os.R_OK)  # root reads whatever the mode says

    result = zoo("data", "add", "rough", str(root))
    os.chmod(root / "b" / "locked.png", 0o644)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    skipped = {s["path"]: s for s in json.loads((data_dir() / "rough" / MANIFEST).read_text())["skipped"]}
    expected = {
        "a/cut.png": "corrupt or truncated image",
        "a/noise.jpg": "not an image",
        "a/notes.txt": "not an image",
        "a/pipe.png": "not a regular file",
        "b/bomb.png": "decompression bomb",
        "b/away.png": "link leading outside PATH",
        "b/.DS_Store": "hidden",
        "b/caf\\xe9.png": "name not UTF-8",
    }
    if can_lock:
        expected["b/locked.png"] = "unreadable"
    assert {p: s["reason"] for p, s in skipped.items()} == expected
    assert "exceeds limit" in skipped["b/bomb.png"]["detail"]  # Pillow's own words, with the pixel counts
    out = " ".join(result.stdout.split())
    assert f"warning: {len(expected)} files skipped: " in out and "decompression bomb: 1 (b/bomb.png)" in out
    assert "b/caf\\xe9.png" in out
    train, test, _ = load_raw("rough")
    assert len(train) + len(test) == 12 + 1 + (0 if can_lock else 1)  # here.png was read
    assert hidden_leftovers() == []


def test_class_names_with_control_characters_are_refused_and_html_is_kept(tmp_path):
    root = make_image_folder(tmp_path / "src", {"ok": 4, "red\x1b[31malert": 4})
    result = zoo("data", "add", "ctl", str(root))
    assert_clean_error(result, 1, "class folder 'red\\x1b[31malert' holds control or bidi characters")
    assert "rename the folder" in result.stderr and "\x1b" not in result.stderr
    assert not data_dir().exists() or not any(data_dir().iterdir())

    html = make_image_folder(tmp_path / "html", {"<img src=x onerror=alert(1)>": 4, "[red]x": 4, "plain": 4})
    result = zoo("data", "add", "html", str(html))
    assert result.exit_code == 0, result.output
    assert "<img src=x onerror=alert(1)>" in result.stdout and "│ [red]x " in result.stdout  # shown as text
    assert get_dataset_info("html").class_names == ("<img src=x onerror=alert(1)>", "[red]x", "plain")


def test_a_class_folder_name_that_is_not_utf8_is_refused(tmp_path):
    root = make_image_folder(tmp_path / "src", {"a": 3, "b": 3})
    os.rename(root / "b", os.path.join(os.fsencode(root), b"\xffb"))
    result = zoo("data", "add", "latin", str(root))
    assert_clean_error(result, 1, "class folder '\\xffb' has a name that is not UTF-8")
    assert "rename the folder" in result.stderr
    os.rename(os.path.join(os.fsencode(root), b"\xffb"), root / "b")
    os.rename(root, os.path.join(os.fsencode(tmp_path), b"sr\xe7"))
    assert_clean_error(
        zoo("data", "add", "latin", os.fsdecode(os.path.join(os.fsencode(tmp_path), b"sr\xe7"))),
        2,
        "sr\\xe7 is not UTF-8 text",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../escape", "is not a valid name"),
        ("a/b", "is not a valid name"),
        (".hidden", "is not a valid name"),
        ("fashion-mnist", "'fashion-mnist' is a built-in dataset"),
        ("MNIST", "'MNIST' is a built-in dataset"),
        ("cifar10", "'cifar10' is a built-in dataset"),
    ],
)
def test_dataset_names_are_checked_before_anything_is_read(tmp_path, name, message):
    root = make_image_folder(tmp_path / "src", {"a": 3, "b": 3})
    assert_clean_error(zoo("data", "add", name, str(root)), 2, message)
    assert not (tmp_path / "escape").exists() and not data_dir().exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--size", "0", "--size must be an integer from 1 to 4096"),
        ("--size", "5000", "--size must be an integer from 1 to 4096"),
        ("--channels", "2", "--channels must be 1 (grayscale) or 3 (RGB)"),
        ("--test-fraction", "1", "--test-fraction=1.0 is not allowed"),
        ("--seed", "-1", "--seed must be an integer"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, option, value, message):
    root = make_image_folder(tmp_path / "src", {"a": 3, "b": 3})
    assert_clean_error(zoo("data", "add", "s", str(root), option, value), 2, message)
    assert not data_dir().exists()


def test_a_missing_source_folder(tmp_path):
    assert_clean_error(zoo("data", "add", "s", str(tmp_path / "nope")), 2, "does not exist")
    (tmp_path / "file").write_text("x")
    assert_clean_error(zoo("data", "add", "s", str(tmp_path / "file")), 2, "is not a folder")


# ------------------------------------------------------------------------------ changes, force, tampering


def test_adding_again_says_up_to_date_or_what_changed(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR)
    assert zoo("data", "add", "four", str(root)).exit_code == 0
    manifest = data_dir() / "four" / MANIFEST
    stamp = manifest.stat().st_mtime_ns

    again = zoo("data", "add", "four", str(root))
    assert again.exit_code == 0 and "four is up to date: the 40 files of" in " ".join(again.stdout.split())
    assert manifest.stat().st_mtime_ns == stamp  # nothing was rewritten

    (root / "ant" / "0_000.png").unlink()
    shutil.copy(root / "bee" / "1_000.png", root / "bee" / "new.png")
    with Image.open(root / "cat" / "2_003.png") as image:
        Image.fromarray(255 - np.asarray(image)).save(root / "cat" / "2_003.png")
    changed = zoo("data", "add", "four", str(root))
    assert changed.exit_code == 0, changed.output
    said = " ".join(changed.output.split())
    assert "1 added (bee/new.png); 1 removed (ant/0_000.png); 1 modified (cat/2_003.png); rebuilding" in said
    assert "four rebuilt" in said
    files = json.loads(manifest.read_text())["source_fingerprint"]["files"]
    assert "bee/new.png" in files and "ant/0_000.png" not in files and len(files) == 40
    assert hidden_leftovers() == []


def test_another_source_or_settings_needs_force(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR)
    other = make_image_folder(tmp_path / "other", FOUR, seed=3)
    assert zoo("data", "add", "four", str(root)).exit_code == 0
    before = (data_dir() / "four" / TENSORS).read_bytes()
    result = zoo("data", "add", "four", str(other))
    assert_clean_error(result, 2, f"source: {root} -> {other}")
    assert "pass --force to replace it" in result.stderr
    assert_clean_error(zoo("data", "add", "four", str(root), "--size", "16"), 2, "--size: 32 -> 16")
    assert_clean_error(zoo("data", "add", "four", str(root), "--seed", "2"), 2, "--seed: 0 -> 2")
    assert (data_dir() / "four" / TENSORS).read_bytes() == before
    forced = zoo("data", "add", "four", str(other), "--size", "16", "--force")
    assert forced.exit_code == 0 and "four rebuilt" in forced.stdout
    assert get_dataset_info("four").image_shape == (1, 16, 16)
    assert json.loads((data_dir() / "four" / MANIFEST).read_text())["source"] == str(other)


def test_a_tampered_tensor_file_is_one_line_and_add_rebuilds_it(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR)
    assert zoo("data", "add", "four", str(root)).exit_code == 0
    tensors = data_dir() / "four" / TENSORS
    data = bytearray(tensors.read_bytes())
    data[-100] ^= 0xFF  # one pixel
    tensors.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        load("four")
    message = str(info.value)
    assert "\n" not in message and str(tensors) in message and "was changed" in message
    assert f"zoo data add four {root} --force" in message
    listed = {r["dataset"]: r for r in json.loads(zoo("data", "list", "--json").stdout)}
    assert listed["four"]["check"] == "mismatch"
    table = zoo("data", "list")
    assert "mismatch" in table.stdout
    rebuilt = zoo("data", "add", "four", str(root))
    assert rebuilt.exit_code == 0 and "is not the file four was built with; rebuilding" in " ".join(
        rebuilt.output.split()
    )
    assert len(load("four").test) == 8


def test_a_broken_manifest_is_named_and_replaced_only_with_force(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR)
    assert zoo("data", "add", "four", str(root)).exit_code == 0
    manifest = data_dir() / "four" / MANIFEST
    record = json.loads(manifest.read_text())
    record["image_shape"] = [1, 32, "32"]
    manifest.write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"manifest.json is not a valid manifest \(image_shape.2: "):
        get_dataset_info("four")
    listed = zoo("data", "list", "--json")
    assert listed.exit_code == 0
    row = next(r for r in json.loads(listed.stdout) if r["dataset"] == "four")
    assert "image_shape.2" in row["problem"]
    assert_clean_error(
        zoo("data", "add", "four", str(root)), 1, "rebuild it with `zoo data add four PATH --force`"
    )
    assert zoo("data", "add", "four", str(root), "--force").exit_code == 0
    assert get_dataset_info("four").image_shape == (1, 32, 32)


def test_a_folder_that_is_not_a_dataset_is_never_replaced(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR)
    (data_dir() / "mine").mkdir(parents=True)
    (data_dir() / "mine" / "precious.txt").write_text("keep me")
    assert_clean_error(zoo("data", "add", "mine", str(root), "--force"), 2, "holds no folder dataset")
    assert (data_dir() / "mine" / "precious.txt").read_text() == "keep me"


# ----------------------------------------------------------------------------------- list, remove, fetch


def test_list_remove_and_fetch(tmp_path):
    root = make_image_folder(tmp_path / "src", FOUR, size=(8, 8))
    assert zoo("data", "add", "four", str(root), "--size", "8").exit_code == 0
    rows = {r["dataset"]: r for r in json.loads(zoo("data", "list", "--json").stdout)}
    assert [rows[n]["kind"] for n in ("fashion-mnist", "mnist", "cifar10", "four")] == ["built-in"] * 3 + [
        "folder"
    ]
    four = rows["four"]
    assert four["classes"] == ["ant", "bee", "cat", "dog"] and four["image_shape"] == [1, 8, 8]
    assert four["counts"] == {"train": dict.fromkeys(FOUR, 8), "test": dict.fromkeys(FOUR, 2)}
    assert four["source"] == str(root) and four["check"] == "ok" and four["size"] > 40 * 64
    table = zoo("data", "list")
    assert table.exit_code == 0 and "folder datasets" in table.stdout and "32 train / 8 test" in table.stdout

    fetched = zoo("data", "fetch", "four")
    assert_clean_error(fetched, 2, "four is a folder dataset")
    assert "zoo data add four PATH" in fetched.stderr
    assert_clean_error(zoo("data", "remove", "fashion-mnist"), 2, "fashion-mnist is a built-in dataset")
    assert_clean_error(zoo("data", "remove", "nope"), 2, "no folder dataset named 'nope'")
    assert_clean_error(zoo("data", "remove", "../x"), 2, "is not a valid name")
    removed = zoo("data", "remove", "four")
    assert removed.exit_code == 0 and not (data_dir() / "four").exists() and hidden_leftovers() == []
    assert dataset_names() == ["fashion-mnist", "mnist", "cifar10"]
    assert "no folder datasets yet" in zoo("data", "list").stdout


def test_add_and_list_read_well_at_80_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    names = {"a-rather-long-class-name-without-any-spaces-in-it-at-all": 12, "short": 3}
    root = make_image_folder(tmp_path / "a-source-folder-with-a-long-name" / "and-deeper-still", names)
    for args in (["data", "add", "wrapped", str(root)], ["data", "list"]):
        result = zoo(*args)
        assert result.exit_code == 0, result.output
        assert "…" not in result.stdout, result.stdout  # nothing cut off
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout


def test_an_unknown_dataset_says_how_to_list_and_add():
    with pytest.raises(UsageError) as info:
        get_dataset_info("pest")
    assert "unknown dataset 'pest'" in str(info.value)
    assert "`zoo data list`" in str(info.value) and "`zoo data add NAME PATH`" in str(info.value)
    with pytest.raises(UsageError, match="unknown dataset"):
        load_raw("pest")
    with pytest.raises(UsageError, match="unknown dataset"):
        load("pest")
    with pytest.raises(UsageError, match="no folder dataset named 'pest'"):
        remove_folder_dataset("pest")


# ---------------------------------------------------------------------------------------- memory, disk


def test_what_would_not_fit_in_memory_is_refused_with_both_figures(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "src", FOUR)
    monkeypatch.setattr(memory, "available_memory", lambda: 100 << 20)
    result = zoo("data", "add", "huge", str(root), "--size", "1024", "--channels", "3")
    # 40 images x 3 x 1024 x 1024 = 120 MiB of pixels, + 160 MiB for one decoding process
    assert_clean_error(result, 1, "huge: 40 images of 3x1024x1024 need about 280.0 MiB of memory")
    assert "(120.0 MiB of pixels, 160.0 MiB to decode), but 100.0 MiB is available" in result.stderr
    assert not data_dir().exists() or not any(data_dir().iterdir())
    # what fits with fewer processes is decoded with fewer
    monkeypatch.setattr(memory, "available_memory", lambda: (1 << 20) + (160 << 20))
    assert add_folder_dataset("fits", root, size=8, workers=2).workers == 1


def test_available_memory_reads_meminfo_and_cgroup_limits(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n")
    cgroup = tmp_path / "cg"
    (cgroup / "job").mkdir(parents=True)
    self_cgroup = tmp_path / "self"
    self_cgroup.write_text("0::/job\n")
    assert memory.available_memory(meminfo, cgroup, self_cgroup) == 8000000 * 1024
    (cgroup / "job" / "memory.max").write_text("1000000000\n")
    (cgroup / "job" / "memory.current").write_text("600000000\n")
    (cgroup / "job" / "memory.stat").write_text("anon 1\ninactive_file 100000000\n")
    assert memory.available_memory(meminfo, cgroup, self_cgroup) == 500_000_000
    assert memory.available_memory(tmp_path / "none", tmp_path / "none", tmp_path / "none") is None
    assert memory.format_bytes(3 * 2**30 / 2) == "1.5 GiB"


def test_a_full_disk_leaves_the_old_dataset_intact(tmp_path, small_tmpfs, monkeypatch):
    disk = small_tmpfs("600k")
    monkeypatch.setenv("ZOO_ARTIFACTS", str(disk / "artifacts"))
    small = make_image_folder(tmp_path / "small", FOUR)
    big = make_image_folder(tmp_path / "big", {f"c{i}": 20 for i in range(5)}, size=(40, 40))
    assert zoo("data", "add", "ds", str(small), "--size", "8").exit_code == 0
    before = {p.name: p.read_bytes() for p in (disk / "artifacts" / "data" / "ds").iterdir()}

    # refused before decoding: 100 x 3 x 64 x 64 = 1.2 MB does not fit in what is left
    result = zoo("data", "add", "ds", str(big), "--size", "64", "--channels", "3", "--force")
    assert_clean_error(result, 1, "not enough space for dataset ds")

    # the same when the disk fills up while writing (the estimate let through)
    monkeypatch.setattr("zoo.data.folders.check_writable", lambda *a, **k: None)
    result = zoo("data", "add", "ds", str(big), "--size", "64", "--channels", "3", "--force")
    assert_clean_error(result, 1, "filled up while writing ds (No space left on device)")
    assert "the dataset ds there is unchanged" in result.stderr
    assert {p.name: p.read_bytes() for p in (disk / "artifacts" / "data" / "ds").iterdir()} == before
    assert hidden_leftovers() == [] and len(load("ds").test) == 8


# ------------------------------------------------------------------------------------------ interrupted


def _foreground() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a test suite started in the background ignores SIGINT


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_add_leaves_nothing_and_the_old_dataset_intact(tmp_path, sig):
    art = artifacts_dir()
    add_folder_dataset("ds", make_image_folder(tmp_path / "small", {"a": 3, "b": 3}), size=8)
    env = {**os.environ, "COLUMNS": "200"}  # ZOO_ARTIFACTS: this test's
    before = {p.name: p.read_bytes() for p in (art / "data" / "ds").iterdir()}

    slow = _photos(tmp_path / "slow", 60)  # seconds of decoding
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "data", "add", "ds", str(slow), "--size", "8", "--force"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_foreground,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".zoo-tmp.") for p in (art / "data").iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the add never started decoding"
        time.sleep(0.02)
    time.sleep(0.3)  # decoding
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert "interrupted; nothing partial was saved" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in (art / "data").iterdir()) == ["ds"]
    assert {p.name: p.read_bytes() for p in (art / "data" / "ds").iterdir()} == before
