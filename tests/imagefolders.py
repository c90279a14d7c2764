"""Small folders of class folders for tests of folder datasets (`zoo data add`) and what builds on them.

    make_image_folder(tmp_path / "pets", {"cat": 12, "dog": 12})            # pets/cat/*.png, pets/dog/*.png
    make_image_folder(root, {"a": 8, "b": 8}, splits=True, fmt="JPEG", mode="RGB")  # train/ and test/

The images are learnable: each class has its own brightness and brightens its own band of rows (its own
colour channel in RGB), with seeded noise so that no two images are alike; a small CNN tells the
classes apart after one epoch.
"""

from pathlib import Path

import numpy as np
from PIL import Image

SUFFIX = {"PNG": ".png", "JPEG": ".jpg"}


def class_pixels(label: int, n_classes: int, size: tuple[int, int], mode: str, rng) -> np.ndarray:
    """One image of class `label` as uint8 (H, W) or (H, W, 3)."""
    w, h = size
    base = 40 + 170 * label / max(1, n_classes - 1)
    gray = np.full((h, w), base) + rng.normal(0, 10, (h, w))
    band = slice(label * h // n_classes, (label + 1) * h // n_classes or 1)
    gray[band] += 60
    if mode == "L":
        return np.clip(gray, 0, 255).astype(np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2) * 0.6
    rgb[:, :, label % 3] += 80
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_image_folder(
    root: str | Path,
    classes: dict[str, int],
    *,
    size: tuple[int, int] = (12, 12),
    mode: str = "L",
    fmt: str = "PNG",
    splits: bool = False,
    seed: int = 0,
) -> Path:
    """Write `classes` ({class folder name: number of images}) under `root` and return `root`.

    `splits=True` writes train/ and test/, each with every class folder, about 75/25 (at least one image
    on each side). `size` is (width, height); `mode` "L" or "RGB"; `fmt` "PNG" or "JPEG"."""
    if mode not in ("L", "RGB") or fmt not in SUFFIX:
        raise ValueError(f"mode must be L or RGB and fmt PNG or JPEG, got {mode!r}, {fmt!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label, (name, count) in enumerate(classes.items()):
        if splits:
            n_test = min(count - 1, max(1, round(count * 0.25)))
            places = ["train"] * (count - n_test) + ["test"] * n_test
        else:
            places = [""] * count
        for i, place in enumerate(places):
            folder = root / place / name if place else root / name
            folder.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(class_pixels(label, len(classes), size, mode, rng), mode)
            image.save(folder / f"{label}_{i:03d}{SUFFIX[fmt]}", fmt)
    return root
