"""What users get wrong with their own images, found while a folder dataset is built and said before any
training: class imbalance, the same image in training and test under one class (leakage), the same image
under two classes (a label conflict, wherever the two copies are), mixed sizes and modes, files
that were skipped. The figures are kept in the manifest; the sentences are made from them here, so
`zoo data add` and any later reader say the same thing."""

from collections import Counter, defaultdict
from collections.abc import Sequence

from zoo.data.manifest import Duplicates, LabelConflicts, Manifest
from zoo.data.splits import DEFAULT_VAL_FRACTION, split_problem

# Pillow modes that already are what the conversion makes, give or take an alpha channel or a palette
_SAME_COLOR = {
    "grayscale": ("L", "LA", "1", "I;16", "I;16B", "I;16L", "I"),
    "rgb": ("RGB", "RGBA", "P", "RGBX"),
}
IMBALANCE_WARNING = 10.0  # largest / smallest class in the training split
EXAMPLES = 3  # file names shown per finding


def find_duplicates(
    splits: Sequence[str],
    paths: Sequence[str],
    file_sha: Sequence[str],
    pixel_digest: Sequence[bytes],
    labels: Sequence[int] | None = None,
) -> Duplicates:
    """Images of val or test whose file bytes, or converted pixels, are also those of an image of the
    same class in an earlier split (train, then val): each counted once, with a few (earlier, later) path
    pairs. The same image under another class is a label conflict (`find_label_conflicts`), not leakage."""
    labels = labels if labels is not None else [0] * len(splits)
    seen_bytes: dict[tuple[str, int], str] = {}
    seen_pixels: dict[tuple[bytes, int], str] = {}
    order = {"train": 0, "val": 1, "test": 2}
    same_bytes = same_pixels = 0
    examples: list[tuple[str, str]] = []
    rows = sorted(range(len(splits)), key=lambda i: order[splits[i]])
    for split_rank in (0, 1, 2):
        current = [i for i in rows if order[splits[i]] == split_rank]
        if split_rank > 0:
            for i in current:
                earlier = seen_bytes.get((file_sha[i], labels[i]))
                if earlier is not None:
                    same_bytes += 1
                else:
                    earlier = seen_pixels.get((pixel_digest[i], labels[i]))
                    if earlier is None:
                        continue
                    same_pixels += 1
                if len(examples) < EXAMPLES:
                    examples.append((earlier, paths[i]))
        for i in current:  # after the comparison: duplicates inside one split are no leakage
            seen_bytes.setdefault((file_sha[i], labels[i]), paths[i])
            seen_pixels.setdefault((pixel_digest[i], labels[i]), paths[i])
    return {
        "count": same_bytes + same_pixels,
        "same_bytes": same_bytes,
        "same_pixels": same_pixels,
        "examples": examples,
    }


_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


def find_label_conflicts(
    splits: Sequence[str], paths: Sequence[str], pixel_digest: Sequence[bytes], labels: Sequence[int]
) -> LabelConflicts:
    """Pairs of images with the same pixels (the same bytes included) under two different classes, counted
    by the splits they are in ("train-train", "train-test", ...), with a few path pairs. No model can learn
    both labels; inside the training split such a pair is noise, across splits it is a wrong test label."""
    groups: dict[bytes, list[int]] = defaultdict(list)
    for i, digest in enumerate(pixel_digest):
        groups[digest].append(i)
    by_splits: Counter[str] = Counter()
    examples: list[tuple[str, str]] = []
    for members in groups.values():
        if len({labels[i] for i in members}) < 2:
            continue
        for n, a in enumerate(members):
            for b in members[n + 1 :]:
                if labels[a] == labels[b]:
                    continue
                first, second = sorted((a, b), key=lambda i: (_SPLIT_ORDER[splits[i]], paths[i]))
                by_splits[f"{splits[first]}-{splits[second]}"] += 1
                if len(examples) < EXAMPLES:
                    examples.append((paths[first], paths[second]))
    return {
        "count": sum(by_splits.values()),
        "by_splits": dict(sorted(by_splits.items())),
        "examples": examples,
    }


def imbalance(counts: Sequence[int]) -> float:
    """Largest over smallest class count (every class has at least one image by then)."""
    return max(counts) / max(1, min(counts))


def _examples(names: Sequence[str], total: int) -> str:
    shown = ", ".join(names[:EXAMPLES])
    return f"{shown}, ..." if total > EXAMPLES else shown


def warnings(manifest: Manifest) -> list[str]:
    """What should be fixed, or at least known, before training on the dataset: one line each."""
    found = []
    train = manifest.counts["train"]
    ratio = manifest.checks["imbalance"]
    if ratio > IMBALANCE_WARNING:
        big, small = train.index(max(train)), train.index(min(train))
        found.append(
            f"class imbalance {ratio:.0f}:1 in the training split: '{manifest.class_names[big]}' has "
            f"{train[big]:,} images, '{manifest.class_names[small]}' {train[small]:,}; accuracy will flatter "
            "a model that ignores the small classes: add images of them, and read the per-class figures"
        )
    dup = manifest.checks["duplicates"]
    if dup["count"]:
        pairs = "; ".join(f"{a} = {b}" for a, b in dup["examples"])
        found.append(
            f"{dup['count']:,} validation or test images are exact duplicates of earlier ones "
            f"({dup['same_bytes']:,} the same file bytes, {dup['same_pixels']:,} the same pixels), so test "
            f"accuracy is inflated: remove them from one side (e.g. {pairs})"
        )
    conflicts = manifest.checks.get("label_conflicts")
    if conflicts and conflicts["count"]:
        where = ", ".join(f"{n:,} {pair}" for pair, n in conflicts["by_splits"].items())
        pairs = "; ".join(f"{a} = {b}" for a, b in conflicts["examples"])
        found.append(
            f"label conflicts: {conflicts['count']:,} pair(s) of identical images are filed under two "
            f"different classes ({where}), so no model can be right on both: keep each image in one class "
            f"folder (e.g. {pairs})"
        )
    if "val" not in manifest.counts:  # a val/ folder is the validation set: nothing is split off
        problem = split_problem([c for c in train if c], DEFAULT_VAL_FRACTION)
        if problem:
            found.append(
                f"`zoo train` and `zoo tune` split a validation set off the training images: {problem}"
            )
    by_reason: dict[str, list[str]] = defaultdict(list)
    for skip in manifest.skipped:
        by_reason[skip["reason"]].append(skip["path"])
    if by_reason:
        parts = [
            f"{reason}: {len(paths):,} ({_examples(paths, len(paths))})"
            for reason, paths in by_reason.items()
        ]
        found.append(f"{len(manifest.skipped):,} files skipped: {'; '.join(parts)}")
    return found


def notes(manifest: Manifest) -> list[str]:
    """How the images were converted, where they were not all alike: one line each."""
    sizes, modes = manifest.checks["sizes"], manifest.checks["modes"]
    conversion = manifest.conversion
    height, width = manifest.image_size
    target = f"{height}x{width} {conversion['color']}"
    found = []
    if len(sizes) > 1 or len(modes) > 1:
        by_size = ", ".join(f"{k}: {v:,}" for k, v in Counter(sizes).most_common(EXAMPLES))
        by_mode = ", ".join(f"{k}: {v:,}" for k, v in Counter(modes).most_common(EXAMPLES))
        more = "..." if len(sizes) > EXAMPLES else ""
        found.append(
            f"images of {len(sizes)} sizes ({by_size}{', ' + more if more else ''}) and {len(modes)} "
            f"mode(s) ({by_mode}), all converted to {target}"
        )
    elif modes and next(iter(modes)) not in _SAME_COLOR[conversion["color"]]:
        mode = next(iter(modes))
        other = "--channels 3 keeps the colour" if conversion["color"] == "grayscale" else "--channels 1"
        found.append(f"the images are {mode}, converted to {conversion['color']} ({other})")
    # sizes are "WxH" as stored: an image has the target's aspect ratio when w / h == width / height
    other = sum(v for k, v in sizes.items() if _ratio_differs(k, height, width))
    if other:
        what = "are not square" if height == width else f"do not have the aspect ratio of {height}x{width}"
        how = {
            "stretch": "resized to {} without keeping the aspect ratio (as `zoo predict` resizes); "
            "--resize pad or crop keeps it",
            "pad": "resized to fit inside {}, the rest black (--resize pad, as `zoo predict` does)",
            "crop": "resized to cover {}, the centre kept (--resize crop, as `zoo predict` does)",
        }[manifest.resize_mode]
        found.append(f"{other:,} images {what}: {how.format(target)}")
    return found


def _ratio_differs(stored: str, height: int, width: int) -> bool:
    w, _, h = stored.partition("x")
    return not (w.isdigit() and h.isdigit()) or int(w) * height != int(h) * width
