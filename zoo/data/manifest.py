"""The stored form of a folder dataset, `artifacts/data/NAME/`: its one home (writer, reader, checks).

    manifest.json       the typed record below: classes, shape, counts, conversion, source fingerprint,
                        skipped files, what the checks found, the tensor file's sha256
    images.safetensors  uint8 images (N, C, H, W) and int64 labels per split: train.images,
                        train.labels, [val.images, val.labels,] test.images, test.labels

The tensor file is written here as a stream (safetensors' own writer first copies every tensor into
bytes, doubling the memory of the largest thing zoo holds) and read with safetensors' reader; loading
checks it against the manifest's sha256 first, so a changed file is one line, never wrong pixels.
"""

import functools
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, NotRequired

import numpy as np
import torch
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from zoo.core.errors import DataError, first_line
from zoo.core.fileio import sha256_file, write_text_atomic
from zoo.core.schema import MAX_SIDE, ClassName
from zoo.core.validation import problem_line
from zoo.data.scan import SPLIT_FOLDERS

FORMAT = "zoo.folder-dataset/1"
MANIFEST = "manifest.json"
TENSORS = "images.safetensors"

_Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_Count = Annotated[int, Field(ge=0)]
_Side = Annotated[int, Field(gt=0, le=MAX_SIDE)]
_ClassName = Annotated[ClassName, Field(min_length=1)]
_STRICT = ConfigDict(extra="forbid")  # a key this version does not know is a newer format: refused


class Conversion(TypedDict):
    """How each file became pixels (zoo.core.images, the same steps as `zoo predict`) and how the test
    split was drawn (null where the folder had its own test/). Manifests written before rectangles have
    `size` (a square) and no `height`, `width` or `resize_mode` (stretch): `Manifest.image_size` and
    `Manifest.resize_mode` read both."""

    __pydantic_config__ = _STRICT
    height: NotRequired[_Side]
    width: NotRequired[_Side]
    size: NotRequired[_Side]  # manifests before rectangles: height = width = size
    channels: Literal[1, 3]
    color: Literal["grayscale", "rgb"]
    exif_orientation: bool
    sixteen_bit: Literal["scaled"]
    resize: Literal["bilinear"]  # the filter
    antialias: bool
    keep_aspect_ratio: bool
    # how an image of another aspect ratio became height x width (zoo.core.images.fit); stretch where missing
    resize_mode: NotRequired[Literal["stretch", "pad", "crop"]]
    test_fraction: Annotated[float, Field(gt=0, lt=1)] | None
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None


class SourceFingerprint(TypedDict):
    __pydantic_config__ = _STRICT
    sha256: _Sha256  # over every "path\0sha256\n" line, sorted by path
    files: dict[str, _Sha256]  # every file read (decoded or refused): relative path -> sha256 of its bytes


class Skipped(TypedDict):
    __pydantic_config__ = _STRICT
    path: str  # relative to the source, printable (undecodable bytes and controls escaped)
    reason: str
    detail: str


class Duplicates(TypedDict):
    """Images of one split that are also in another: leakage that inflates test accuracy."""

    __pydantic_config__ = _STRICT
    count: _Count
    same_bytes: _Count
    same_pixels: _Count  # different files, the same pixels once converted
    examples: list[tuple[str, str]]


class LabelConflicts(TypedDict):
    """Pairs of images with the same pixels filed under two different classes, by the splits they are in."""

    __pydantic_config__ = _STRICT
    count: _Count
    by_splits: dict[
        Literal["train-train", "train-val", "train-test", "val-val", "val-test", "test-test"], _Count
    ]
    examples: list[tuple[str, str]]


class Checks(TypedDict):
    __pydantic_config__ = _STRICT
    imbalance: Annotated[float, Field(ge=1, allow_inf_nan=False)]  # largest / smallest class, train split
    duplicates: Duplicates
    label_conflicts: NotRequired[LabelConflicts]  # manifests of zoo 0.1.0 before it have none
    sizes: dict[str, _Count]  # "WxH" as stored -> images
    modes: dict[str, _Count]  # Pillow's mode as stored -> images


@dataclass
class Manifest:
    name: str
    class_names: Annotated[list[_ClassName], Field(min_length=2)]
    image_shape: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=3, max_length=3)]
    layout: Literal["class-folders", "split-folders"]
    counts: dict[Literal["train", "val", "test"], list[_Count]]  # images per class (class_names order)
    conversion: Conversion
    source: str
    source_fingerprint: SourceFingerprint
    tensors_sha256: _Sha256
    tensors_bytes: _Count
    skipped: list[Skipped]
    checks: Checks
    created_at: str
    zoo_version: str

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLIT_FOLDERS if s in self.counts]

    def total(self, split: str) -> int:
        return sum(self.counts.get(split, []))

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) every image was resized to."""
        return conversion_size(self.conversion) or (0, 0)

    @property
    def resize_mode(self) -> str:
        """stretch, pad or crop: how images of another aspect ratio became `image_size`."""
        return self.conversion.get("resize_mode", "stretch")

    def to_dict(self) -> dict:
        import dataclasses

        return {"format": FORMAT, **dataclasses.asdict(self)}

    def problem(self) -> str | None:
        """What the types allow but a dataset cannot be: one line, or None."""
        c, h, w = self.image_shape
        conversion = self.conversion
        size = conversion_size(conversion)
        if size is None:
            return "conversion: height and width (or size) are required, and must agree"
        if (c, h, w) != (conversion["channels"], *size):
            return f"image_shape: {c}x{h}x{w} does not match the conversion settings"
        if conversion["keep_aspect_ratio"] != (self.resize_mode != "stretch"):
            return f"conversion.keep_aspect_ratio: does not fit resize_mode {self.resize_mode}"
        if len(set(self.class_names)) != len(self.class_names):
            return "class_names: a class name appears twice"
        if "train" not in self.counts or "test" not in self.counts:
            return "counts: train and test are required"
        for split, counts in self.counts.items():
            if len(counts) != len(self.class_names):
                return f"counts.{split}: one count per class is required"
        return None


def conversion_size(conversion: Conversion) -> tuple[int, int] | None:
    """(height, width) of a conversion: its height and width, or the `size` of a manifest written before
    rectangles; None when it has neither, or both and they disagree."""
    size = conversion.get("size")
    height, width = conversion.get("height"), conversion.get("width")
    if height is None and width is None:
        return None if size is None else (size, size)
    if height is None or width is None or (size is not None and (size, size) != (height, width)):
        return None
    return height, width


_ADAPTER = TypeAdapter(Manifest)


def _rebuild_hint(name: str) -> str:
    return f"rebuild it with `zoo data add {name} PATH --force` or remove it with `zoo data remove {name}`"


def manifest_from_dict(data: object, source: str | os.PathLike, name: str) -> Manifest:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(
            f"{source} is not a zoo folder-dataset manifest (format {FORMAT}); {_rebuild_hint(name)}"
        )
    fields = {k: v for k, v in data.items() if k != "format"}
    try:
        manifest = _ADAPTER.validate_json(json.dumps(fields), strict=True)
    except ValidationError as exc:
        raise DataError(
            f"{source} is not a valid manifest ({problem_line(exc)}); {_rebuild_hint(name)}"
        ) from None
    problem = manifest.problem() or (
        None if manifest.name == name else f"name: {manifest.name!r} is not {name!r}"
    )
    if problem:
        raise DataError(f"{source} is not a valid manifest ({problem}); {_rebuild_hint(name)}")
    return manifest


@functools.lru_cache(maxsize=16)
def _read_cached(path: str, name: str, _stamp: tuple[int, int, int]) -> Manifest:
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path} cannot be read ({first_line(exc)}); {_rebuild_hint(name)}") from None
    return manifest_from_dict(data, path, name)


def read_manifest(folder: Path, name: str) -> Manifest:
    """The validated manifest of the dataset in `folder`, DataError naming the file and key otherwise.

    Cached by the file's identity (inode, size, mtime): model code asks a dataset's shape and classes
    many times, and the manifest of 70,000 images is megabytes; a rebuilt dataset is a new file."""
    path = folder / MANIFEST
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"{path} is missing; {_rebuild_hint(name)}") from None
    return _read_cached(str(path), name, (st.st_ino, st.st_size, st.st_mtime_ns))


def write_manifest(folder: Path, manifest: Manifest) -> None:
    problem = manifest.problem()
    if problem:
        from zoo.core.errors import InternalError

        raise InternalError(f"the new manifest of {manifest.name} is inconsistent: {problem}")
    write_text_atomic(folder / MANIFEST, json.dumps(manifest.to_dict(), indent=2, allow_nan=False) + "\n")


# ---------------------------------------------------------------------------------------- the tensor file

_DTYPES = {np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}
_TORCH = {"U8": torch.uint8, "I64": torch.int64}
_WRITE_ROWS_BYTES = 32 << 20  # rows gathered per write: bounds the copy a fancy index makes


@dataclass(frozen=True)
class TensorSource:
    """One tensor of the file: `array[rows]` (all of `array` when rows is None)."""

    key: str
    array: np.ndarray
    rows: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        n = len(self.array) if self.rows is None else len(self.rows)
        return (n, *self.array.shape[1:])

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.array.dtype.itemsize


def write_tensors(path: Path, tensors: list[TensorSource], metadata: dict[str, str]) -> tuple[str, int]:
    """Write a safetensors file, gathering rows in blocks; (sha256, bytes) of what was written."""
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for t in tensors:
        header[t.key] = {
            "dtype": _DTYPES[t.array.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    digest = hashlib.sha256()
    with open(path, "wb") as f:

        def put(data: bytes | memoryview) -> None:
            f.write(data)
            digest.update(data)

        put(struct.pack("<Q", len(text)) + text)
        for t in tensors:
            row_bytes = max(1, t.nbytes // max(1, t.shape[0]))
            block = max(1, _WRITE_ROWS_BYTES // row_bytes)
            for start in range(0, t.shape[0], block):
                if t.rows is None:
                    part = t.array[start : start + block]
                else:
                    part = t.array[t.rows[start : start + block]]
                put(memoryview(np.ascontiguousarray(part)).cast("B"))
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest(), 8 + len(text) + offset


@dataclass(frozen=True)
class StoredSplit:
    images: torch.Tensor
    labels: torch.Tensor


def tensors_check(folder: Path, manifest: Manifest) -> str:
    """Whether the dataset's tensor file is the one its manifest records: "ok", "missing", "mismatch"
    (another file) or "unreadable: REASON". The one place the tensors' sha256 is compared (zoo data list,
    loading, the runs bound to their data through the manifest's digest)."""
    path = folder / TENSORS
    if not path.is_file():
        return "missing"
    try:
        digest = sha256_file(path)
    except OSError as exc:
        return f"unreadable: {first_line(exc)}"
    return "ok" if digest == manifest.tensors_sha256 else "mismatch"


def read_tensors(folder: Path, manifest: Manifest) -> dict[str, StoredSplit]:
    """{split: images and labels} of the dataset in `folder`, checked against its manifest."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / TENSORS
    name = manifest.name
    rebuild = f"rebuild it with `zoo data add {name} {manifest.source} --force`"
    check = tensors_check(folder, manifest)
    if check == "missing":
        raise DataError(f"{path} is missing; {rebuild}")
    if check.startswith("unreadable"):
        raise DataError(f"{path} cannot be read ({check.split(': ', 1)[1]}); {rebuild}")
    if check == "mismatch":
        raise DataError(
            f"{path} does not match the sha256 in its {MANIFEST}: the file was changed; {rebuild}"
        )
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{path} cannot be read ({first_line(exc)}); {rebuild}") from None
    c, h, w = manifest.image_shape
    k = len(manifest.class_names)
    splits = {}
    for split in manifest.splits:
        images, labels = tensors.get(f"{split}.images"), tensors.get(f"{split}.labels")
        n = manifest.total(split)
        ok = (
            images is not None
            and labels is not None
            and images.dtype == torch.uint8
            and tuple(images.shape) == (n, c, h, w)
            and labels.dtype == torch.int64
            and tuple(labels.shape) == (n,)
        )
        # the sha256 matched, so this only fails for a manifest and a tensor file of different builds
        if ok and n:
            ok = int(labels.min()) >= 0 and int(labels.max()) < k
            ok = ok and torch.bincount(labels, minlength=k).tolist() == manifest.counts[split]
        if not ok:
            raise DataError(f"{path} does not hold the {split} split its {MANIFEST} describes; {rebuild}")
        splits[split] = StoredSplit(images, labels)
    return splits
