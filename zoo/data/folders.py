"""Folder datasets: `zoo data add NAME PATH` turns a folder of class folders into a dataset that loads
like the built-in ones (`zoo.data.load(NAME)`), lists beside them, and is removed by name.

    scan (no file opened) -> estimate memory and disk -> decode every file on every core
    -> check (counts, imbalance, duplicates, sizes and modes) -> split -> write in a hidden folder -> swap

Nothing is registered until every file was read: the dataset is built in a marked sibling folder and
swapped in whole (zoo.core.names), so Ctrl-C, a kill or a full disk leaves no half-written dataset and an
existing one intact.
"""

import errno
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from zoo.core import memory, names, paths
from zoo.core.errors import DataError, UsageError
from zoo.core.fileio import check_writable
from zoo.core.images import STRETCH, check_resize_mode, parse_size, size_text
from zoo.core.version import __version__
from zoo.data import decode, findings
from zoo.data.catalog import DatasetInfo, builtin_dataset_names
from zoo.data.manifest import (
    FORMAT,
    MANIFEST,
    TENSORS,
    Conversion,
    Manifest,
    TensorSource,
    conversion_size,
    read_manifest,
    read_tensors,
    tensors_check,
    write_manifest,
    write_tensors,
)
from zoo.data.scan import LAYOUT_SPLITS, WHOLE, Scan, SourceFile, scan, shown

ProgressFn = Callable[[str, int, int], None]  # (stage: "hashing" or "decoding", files done, files in all)
SayFn = Callable[[str], None]

# A worker's own memory beyond the parent's (shared after fork) while it decodes: one 12-megapixel photo
# decoded, rotated and converted (three copies of 36 MB) and its chunk of results.
DECODE_BYTES_PER_WORKER = 160 << 20
CHANGED_EXAMPLES = 3


# ------------------------------------------------------------------------------------------- names, lookup


def data_root() -> Path:
    return paths.artifacts_dir() / "data"


def _is_builtin(name: str) -> bool:
    return name.strip().lower() in builtin_dataset_names()


def dataset_folder(name: str) -> Path:
    """artifacts/data/NAME for a folder dataset's name, checked: zoo's name rule, not a built-in's."""
    if isinstance(name, str) and _is_builtin(name):
        raise UsageError(
            f"{name!r} is a built-in dataset; a folder dataset needs another name "
            "(`zoo data list` shows the names in use)"
        )
    names.check_name(name, "dataset name")
    return names.inside(data_root(), name, what="dataset name")


def _folder_if_any(name: object) -> Path | None:
    if not isinstance(name, str) or not names.is_valid_name(name) or _is_builtin(name):
        return None
    folder = data_root() / name
    return folder if (folder / MANIFEST).is_file() else None


def folder_dataset_names() -> list[str]:
    """The folder datasets under artifacts/data, sorted (hidden and half-built folders are not)."""
    root = data_root()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}") if _folder_if_any(p.parent.name))


def is_folder_dataset(name: object) -> bool:
    return _folder_if_any(name) is not None


def folder_manifest(name: str) -> Manifest:
    folder = _folder_if_any(name)
    if folder is None:
        raise UsageError(f"no folder dataset named {name!r}; `zoo data list` shows them")
    return read_manifest(folder, name)


def _description(manifest: Manifest) -> str:
    c, h, w = manifest.image_shape
    counts = " / ".join(f"{manifest.total(s):,} {s}" for s in manifest.splits)
    color = "grayscale" if c == 1 else "colour"
    how = {"pad": " (padded)", "crop": " (cropped)"}.get(manifest.resize_mode, "")
    return f"folder dataset: {counts} {h}x{w}{how} {color} images in {len(manifest.class_names)} classes"


def folder_info(name: object) -> DatasetInfo | None:
    """The DatasetInfo of folder dataset `name`; None when there is none (DataError for a broken one)."""
    folder = _folder_if_any(name)
    if folder is None:
        return None
    manifest = read_manifest(folder, str(name))
    c, h, w = manifest.image_shape
    return DatasetInfo(
        name=manifest.name,
        class_names=tuple(manifest.class_names),
        image_shape=(c, h, w),
        description=_description(manifest),
        polarity="natural",
        resize=manifest.resize_mode,
    )


# ------------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class FolderData:
    manifest: Manifest
    folder: Path
    splits: dict  # split -> StoredSplit(images, labels)


def read_folder_dataset(name: str) -> FolderData:
    """Every split of folder dataset `name`, its tensor file checked against the manifest's sha256."""
    folder = _folder_if_any(name)
    if folder is None:
        raise UsageError(f"no folder dataset named {name!r}; `zoo data list` shows them")
    manifest = read_manifest(folder, name)
    return FolderData(manifest, folder, read_tensors(folder, manifest))


# --------------------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class FolderStatus:
    name: str
    folder: Path
    manifest: Manifest | None
    problem: str | None  # why the manifest cannot be read
    size: int  # bytes of the dataset's files
    check: str  # "ok", "mismatch" (the tensor file is not the one recorded) or "missing"


def _tensors_ok(folder: Path, manifest: Manifest) -> bool:
    return tensors_check(folder, manifest) == "ok"


def folder_status(name: str) -> FolderStatus:
    """The manifest (or why it is unreadable) and a fresh check of the tensor file's sha256."""
    folder = data_root() / name
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0
    try:
        manifest = read_manifest(folder, name)
    except DataError as exc:
        return FolderStatus(name, folder, None, str(exc), size, "unknown")
    check = tensors_check(folder, manifest)
    check = "missing" if check.startswith("unreadable") else check  # what `zoo data list` shows
    return FolderStatus(name, folder, manifest, None, size, check)


# --------------------------------------------------------------------------------------------------- remove


def remove_folder_dataset(name: str) -> Path:
    """Remove folder dataset `name` as a whole (renamed aside first, so no reader sees half of it)."""
    if isinstance(name, str) and _is_builtin(name):
        raise UsageError(
            f"{name} is a built-in dataset and cannot be removed; `zoo data remove` removes folder datasets "
            "(its downloaded files, if any, are in artifacts/data and can be deleted by hand)"
        )
    folder = dataset_folder(name)
    if not (folder / MANIFEST).is_file():
        raise UsageError(f"no folder dataset named {name!r}; `zoo data list` shows them")
    aside = names.temporary_sibling(folder)
    os.rename(folder, aside / "removed")
    shutil.rmtree(aside, ignore_errors=True)
    return folder


# ------------------------------------------------------------------------------------------------------ add


@dataclass
class SourceChanges:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    def summary(self) -> str:
        parts = []
        for what, files in (("added", self.added), ("removed", self.removed), ("modified", self.modified)):
            if files:
                listed = ", ".join(files[:CHANGED_EXAMPLES]) + (
                    ", ..." if len(files) > CHANGED_EXAMPLES else ""
                )
                parts.append(f"{len(files):,} {what} ({listed})")
        return "; ".join(parts)


def compare_files(old: dict[str, str], new: dict[str, str]) -> SourceChanges:
    return SourceChanges(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        modified=sorted(k for k in set(old) & set(new) if old[k] != new[k]),
    )


@dataclass
class AddResult:
    name: str
    folder: Path
    status: str  # "created", "rebuilt" or "up-to-date"
    manifest: Manifest
    changes: SourceChanges | None = None
    seconds: float = 0.0
    workers: int = 1
    files: int = 0


def _check_settings(channels: object, test_fraction: object, seed: object) -> None:
    if channels not in (1, 3) or isinstance(channels, bool):
        raise UsageError(f"--channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float)
        or not 0 < test_fraction < 1
    ):
        raise UsageError(
            f"--test-fraction must be a number between 0 and 1 (exclusive), got {test_fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise UsageError(f"--seed must be an integer from 0 to 2**32-1, got {seed!r}")


def _conversion(
    layout: str, size: tuple[int, int], resize: str, channels: int, test_fraction: float, seed: int
) -> Conversion:
    own_test = layout == LAYOUT_SPLITS  # the folder's test/ decides; --test-fraction and --seed do nothing
    return {
        "height": size[0],
        "width": size[1],
        "channels": channels,  # type: ignore[typeddict-item]
        "color": "grayscale" if channels == 1 else "rgb",
        "exif_orientation": True,
        "sixteen_bit": "scaled",
        "resize": "bilinear",
        "antialias": True,
        "keep_aspect_ratio": resize != STRETCH,
        "resize_mode": resize,  # type: ignore[typeddict-item]
        "test_fraction": None if own_test else float(test_fraction),
        "seed": None if own_test else int(seed),
    }


def _differences(manifest: Manifest, source: str, conversion: Conversion) -> list[str]:
    """What differs between how `manifest` was built and what is asked now, as "what: was -> now"."""
    found = []
    if manifest.source != source:
        found.append(f"source: {shown(manifest.source)} -> {shown(source)}")
    # a folder that gained or lost its test/ changes layout: that is a change of files, not of settings
    was_size, now_size = manifest.image_size, conversion_size(conversion)
    if now_size is not None and was_size != now_size:
        found.append(f"--size: {size_text(*was_size)} -> {size_text(*now_size)}")
    now_mode = conversion.get("resize_mode", STRETCH)
    if manifest.resize_mode != now_mode:
        found.append(f"--resize: {manifest.resize_mode} -> {now_mode}")
    for key in ("channels", "test_fraction", "seed"):
        was, now = manifest.conversion[key], conversion[key]  # type: ignore[literal-required]
        if was != now and now is not None and was is not None:
            found.append(f"--{key.replace('_', '-')}: {was:g} -> {now:g}")
    steps = ("color", "exif_orientation", "sixteen_bit", "resize", "antialias", "keep_aspect_ratio")
    if not found and any(manifest.conversion[k] != conversion[k] for k in steps):  # type: ignore[literal-required]
        found.append("conversion: the images were converted by another version of zoo")
    return found


def _existing(folder: Path, name: str, force: bool) -> Manifest | None:
    """The manifest of the dataset `add` would replace; refuses to replace what zoo did not write."""
    if not folder.exists():
        return None
    if not (folder / MANIFEST).is_file():
        raise UsageError(
            f"{folder} exists but holds no folder dataset ({MANIFEST} is missing); move it away or pick "
            "another name"
        )
    try:
        return read_manifest(folder, name)
    except DataError:
        if force:
            return None
        raise


def _fingerprint_files(files: list[SourceFile], digests: list[str | None]) -> dict[str, str]:
    return {f.relative: d for f, d in zip(files, digests, strict=True) if d is not None}


def _fingerprint_digest(files: dict[str, str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for path in sorted(files):
        h.update(f"{path}\0{files[path]}\n".encode())
    return h.hexdigest()


def estimate_memory(n_files: int, channels: int, size: tuple[int, int], workers: int) -> tuple[int, int]:
    """(bytes the images take, bytes the decode takes besides) for `n_files` files of `size` (height,
    width) on `workers` cores."""
    images = n_files * (channels * size[0] * size[1] + 8)  # + int64 labels
    return images, workers * DECODE_BYTES_PER_WORKER


def _plan_workers(name: str, n_files: int, channels: int, size: tuple[int, int], workers: int | None) -> int:
    """The workers to decode with: as many as asked and memory allows; DataError when even one would
    not fit beside the images, with both figures."""
    wanted = decode.default_workers(n_files) if workers is None else max(1, workers)
    available = memory.available_memory()
    if available is None:
        return wanted
    for count in range(wanted, 0, -1):
        images, work = estimate_memory(n_files, channels, size, count)
        if images + work <= available:
            return count
    images, work = estimate_memory(n_files, channels, size, 1)
    raise DataError(
        f"{name}: {n_files:,} images of {channels}x{size[0]}x{size[1]} need about "
        f"{memory.format_bytes(images + work)} of memory ({memory.format_bytes(images)} of pixels, "
        f"{memory.format_bytes(work)} to decode), but {memory.format_bytes(available)} is available; "
        "use a smaller --size, --channels 1 or fewer images"
    )


def _test_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted positions of the test images: `fraction` of each class (at least one, and at least one
    left for training), drawn with `seed`."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(int(labels.max()) + 1):
        positions = np.flatnonzero(labels == label)
        k = min(len(positions) - 1, max(1, round(fraction * len(positions))))
        chosen.append(rng.permutation(positions)[:k])
    return np.sort(np.concatenate(chosen))


def _skip_reasons(failed: list[tuple[str, str, str]]) -> str:
    reasons: dict[str, int] = {}
    for _, reason, _ in failed:
        reasons[reason] = reasons.get(reason, 0) + 1
    return ", ".join(f"{n} {r}" for r, n in reasons.items())


def _assign_splits(
    scan_: Scan, decoded: decode.Decoded, test_fraction: float, seed: int, failed: list[tuple[str, str, str]]
) -> dict[str, np.ndarray]:
    """{split: positions into decoded.images}, checked: every class has its images in every split."""
    files = scan_.files
    labels = np.asarray([files[i].label for i in decoded.kept], dtype=np.int64)
    splits = np.asarray([files[i].split for i in decoded.kept])
    k = len(scan_.class_names)
    own = scan_.layout == LAYOUT_SPLITS
    # in the class-folder layout each class is split in two, so it needs two images
    needed = {s: 1 for s in scan_.splits} if own else {WHOLE: 2}
    for split, minimum in needed.items():
        counts = np.bincount(labels[splits == split], minlength=k) if len(labels) else np.zeros(k, int)
        for label in np.flatnonzero(counts < minimum):
            prefix = "" if split == WHOLE else f"{split}/"
            folder = f"{prefix}{shown(scan_.class_names[label])}/"
            lost = [f for f in failed if f[0].startswith(folder)]
            why = f" ({len(lost)} files skipped: {_skip_reasons(lost)})" if lost else ""
            if counts[label] == 0:
                raise DataError(
                    f"class folder {folder} holds no readable images{why}; add images or remove it"
                )
            raise DataError(
                f"class folder {folder} holds only {counts[label]} readable image{why}; every class needs at "
                "least 2, one for training and one for testing: add images, or use train/ and test/ folders"
            )
    if own:
        return {s: np.flatnonzero(splits == s) for s in scan_.splits}
    test = _test_split(labels, test_fraction, seed)
    train = np.setdiff1d(np.arange(len(labels)), test, assume_unique=True)
    return {"train": train, "test": test}


def _build(
    tmp: Path,
    name: str,
    scan_: Scan,
    conversion: Conversion,
    workers: int,
    on_progress: ProgressFn | None,
) -> tuple[Manifest, int]:
    """Decode, check, split and write the dataset into `tmp`; (its manifest, files read)."""
    channels, size = conversion["channels"], conversion_size(conversion) or (0, 0)
    files = scan_.files
    progress = (lambda done, total: on_progress("decoding", done, total)) if on_progress else None
    decoded = decode.decode_files(
        [f.path for f in files],
        channels,
        size,
        resize=conversion.get("resize_mode", STRETCH),
        workers=workers,
        on_progress=progress,
    )
    failed = [
        (files[i].relative, r.reason, r.detail) for i, r in enumerate(decoded.results) if r.reason is not None
    ]
    rows = _assign_splits(scan_, decoded, conversion["test_fraction"] or 0.0, conversion["seed"] or 0, failed)
    labels = np.asarray([files[i].label for i in decoded.kept], dtype=np.int64)
    k = len(scan_.class_names)
    counts = {s: np.bincount(labels[r], minlength=k).tolist() for s, r in rows.items()}

    row_split = np.empty(len(labels), dtype=object)
    for split, r in rows.items():
        row_split[r] = split
    kept_results = [decoded.results[i] for i in decoded.kept]
    kept_paths = [files[i].relative for i in decoded.kept]
    digests = [r.pixel_digest or b"" for r in kept_results]
    duplicates = findings.find_duplicates(
        list(row_split), kept_paths, [r.sha256 or "" for r in kept_results], digests, labels.tolist()
    )
    conflicts = findings.find_label_conflicts(list(row_split), kept_paths, digests, labels.tolist())
    tensors = []
    for split, r in rows.items():
        tensors.append(TensorSource(f"{split}.images", decoded.images, r))
        tensors.append(TensorSource(f"{split}.labels", labels, r))
    sha, nbytes = write_tensors(tmp / TENSORS, tensors, {"format": FORMAT})
    fingerprint = _fingerprint_files(files, [r.sha256 for r in decoded.results])
    skipped = [{"path": s.relative, "reason": s.reason, "detail": s.detail} for s in scan_.skipped]
    skipped += [{"path": p, "reason": reason, "detail": detail} for p, reason, detail in failed]
    manifest = Manifest(
        name=name,
        class_names=list(scan_.class_names),
        image_shape=[channels, *size],
        layout=scan_.layout,  # type: ignore[arg-type]
        counts=counts,  # type: ignore[arg-type]
        conversion=conversion,
        source=str(scan_.root),
        source_fingerprint={"sha256": _fingerprint_digest(fingerprint), "files": fingerprint},
        tensors_sha256=sha,
        tensors_bytes=nbytes,
        skipped=skipped,  # type: ignore[arg-type]
        checks={
            "imbalance": findings.imbalance(counts["train"]),
            "duplicates": duplicates,
            "label_conflicts": conflicts,
            "sizes": {f"{w}x{h}": n for (w, h), n in sorted(decoded.sizes.items())},
            "modes": dict(sorted(decoded.modes.items())),
        },
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        zoo_version=__version__,
    )
    write_manifest(tmp, manifest)
    return manifest, len(files)


def _source_changes(
    existing: Manifest,
    name: str,
    scanned: Scan,
    conversion: Conversion,
    workers: int | None,
    on_progress: ProgressFn | None,
) -> tuple[SourceChanges, int]:
    """(what changed in the source files since `existing` was built, files hashed); another source or
    other settings are refused: rebuilding silently would change what a name means."""
    differences = _differences(existing, str(scanned.root), conversion)
    if differences:
        raise UsageError(
            f"dataset {name} exists and was made otherwise ({'; '.join(differences)}): pass --force to "
            "replace it, or pick another name"
        )
    progress = (lambda done, total: on_progress("hashing", done, total)) if on_progress else None
    # hashing holds one file at a time per process: no memory plan needed (nothing may need building)
    digests = decode.hash_files([f.path for f in scanned.files], workers=workers, on_progress=progress)
    changes = compare_files(existing.source_fingerprint["files"], _fingerprint_files(scanned.files, digests))
    return changes, len(digests)


def _write_dataset(
    name: str,
    folder: Path,
    scanned: Scan,
    conversion: Conversion,
    workers: int,
    on_progress: ProgressFn | None,
) -> tuple[Manifest, int, bool]:
    """Build the dataset beside `folder` and swap it in: (its manifest, files read, whether it replaced
    one). A full disk leaves the one there intact and says so."""
    channels, sides = conversion["channels"], conversion_size(conversion) or (0, 0)
    images_bytes, _ = estimate_memory(len(scanned.files), channels, sides, 0)
    # the manifest: a path and a sha256 per file
    check_writable(data_root(), images_bytes + 200 * len(scanned.files), what=f"dataset {name}")
    replacing = folder.exists()
    tmp = names.temporary_sibling(folder)
    try:
        manifest, n_files = _build(tmp, name, scanned, conversion, workers, on_progress)
        names.replace_folder(tmp, folder)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        kept = f"; the dataset {name} there is unchanged" if replacing else ""
        raise DataError(
            f"the disk under {data_root()} filled up while writing {name} ({exc.strerror}){kept}: "
            "free some space and run the command again"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest, n_files, replacing


def add_folder_dataset(
    name: str,
    path: str | os.PathLike,
    *,
    size: int | str | tuple[int, int] = 32,
    resize: str = STRETCH,
    channels: int = 1,
    test_fraction: float = 0.2,
    seed: int = 0,
    force: bool = False,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
    say: SayFn | None = None,
) -> AddResult:
    """Build folder dataset `name` from the class folders in `path` (see the module's docstring).

    `size` is N (N x N), "HxW" or (height, width); `resize` says how an image of another aspect ratio
    becomes that size: stretch (the default), pad or crop (zoo.core.images.fit).

    On a name that exists: the same source and settings with unchanged files do nothing ("up-to-date");
    changed files are said (`say`) and the dataset is rebuilt; another source or other settings are
    refused unless `force`."""
    started = time.perf_counter()
    sides = parse_size(size, "--size")
    resize = check_resize_mode(resize)
    _check_settings(channels, test_fraction, seed)
    folder = dataset_folder(name)
    names.remove_stale(data_root())
    existing = _existing(folder, name, force)
    scanned = scan(path)
    conversion = _conversion(scanned.layout, sides, resize, channels, test_fraction, seed)

    changes = None
    if existing is not None and not force:
        changes, files = _source_changes(existing, name, scanned, conversion, workers, on_progress)
        tensors_ok = _tensors_ok(folder, existing)
        if not changes and tensors_ok:
            seconds = time.perf_counter() - started
            used = workers or decode.default_workers(files)
            return AddResult(name, folder, "up-to-date", existing, None, seconds, used, files)
        if say and changes:
            say(f"{shown(str(scanned.root))} changed since {name} was added: {changes.summary()}; rebuilding")
        elif say:
            say(f"{folder / TENSORS} is not the file {name} was built with; rebuilding")

    workers = _plan_workers(name, len(scanned.files), channels, sides, workers)
    manifest, n_files, replacing = _write_dataset(name, folder, scanned, conversion, workers, on_progress)
    status = "rebuilt" if replacing else "created"
    return AddResult(name, folder, status, manifest, changes, time.perf_counter() - started, workers, n_files)
