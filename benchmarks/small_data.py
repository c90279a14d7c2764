"""Small datasets: the default `zoo train cnn --dataset X` (and `mlp`) against scikit-learn's `SVC()`.

    .venv/bin/python benchmarks/small_data.py [--out small_data.json] [--test 2000] [--seed 0] \
        [--rgb-train 2000] [--datasets fashion-1k,fashion-3k,shapes-rgb]

Three folder datasets, made by this script and added with `zoo data add` (the library call), in a
temporary artifacts folder:

- fashion-1k, fashion-3k: stratified 1,000- and 3,000-image subsets of Fashion-MNIST's training images
  (/usr/share/datasets/fashion-mnist) as train/, and a stratified `--test` images of its official test
  set as test/, one grayscale PNG per image at 28x28 (the pixels are the official ones);
- shapes-rgb (synthetic, labelled as such): `--rgb-train` training and half as many test 32x32 RGB
  images of 10 shapes
  (disc, square, triangle, ring, cross, ...) of random colour, size and position on a noisy background
  of another random colour, so the class is the shape alone.

For each dataset: `train_run("cnn", {}, dataset=X)` (what `zoo train cnn --dataset X` calls, with no
option: its budget is the step budget of zoo/train/budget.py), the same with `--set epochs=10` (the fixed
recipe before the step budget) and `mlp` with its default budget; then `sklearn.svm.SVC()` fitted on the
same training split the CNN trained on (zoo's split: `val_fraction` of the training images held out) as
raw pixels / 255, scored on the same test split. Prints a markdown table and writes the rows as JSON.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = ("disc", "square", "triangle", "ring", "cross", "hbar", "vbar", "diamond", "x", "frame")


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray, names: list[str]) -> None:
    """images (N, C, H, W) uint8 as PNG files folder/<class>/<index>.png."""
    from PIL import Image

    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        Image.fromarray(pixels, "L" if image.shape[0] == 1 else "RGB").save(
            folder / names[label] / f"{i:05d}.png"
        )


def fashion_subset(root: Path, n_train: int, n_test: int, seed: int) -> Path:
    from zoo.data import get_dataset_info, load_raw
    from zoo.data.splits import stratified_subset

    train, test, _ = load_raw("fashion-mnist")
    names = [n.replace("/", "-") for n in get_dataset_info("fashion-mnist").class_names]
    for split, data, n in (("train", train, n_train), ("test", test, n_test)):
        labels = data.labels.numpy()
        keep = stratified_subset(labels, n, seed)
        write_split(root / split, data.images.numpy()[keep], labels[keep], names)
    return root


def shape_mask(kind: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean (side, side) mask of shape `kind` at a random size and position."""
    r = rng.uniform(0.18, 0.32) * side
    cy, cx = rng.uniform(r + 1, side - r - 1, size=2)
    y, x = np.mgrid[:side, :side].astype(np.float32)
    dy, dx = y - cy, x - cx
    t = max(1.5, r / 3)  # stroke width
    name = SHAPES[kind]
    if name == "disc":
        return dx**2 + dy**2 <= r**2
    if name == "square":
        return (abs(dx) <= r * 0.8) & (abs(dy) <= r * 0.8)
    if name == "triangle":
        return (dy <= r * 0.8) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)
    if name == "ring":
        d = np.sqrt(dx**2 + dy**2)
        return (d <= r) & (d >= r - t)
    if name == "cross":
        return ((abs(dx) <= t / 2) | (abs(dy) <= t / 2)) & (abs(dx) <= r) & (abs(dy) <= r)
    if name == "hbar":
        return (abs(dy) <= t / 2 + 0.5) & (abs(dx) <= r)
    if name == "vbar":
        return (abs(dx) <= t / 2 + 0.5) & (abs(dy) <= r)
    if name == "diamond":
        return abs(dx) + abs(dy) <= r
    if name == "x":
        return ((abs(dx - dy) <= t * 0.7) | (abs(dx + dy) <= t * 0.7)) & (abs(dx) <= r) & (abs(dy) <= r)
    inner = r * 0.8 - t  # frame: a square outline
    return (abs(dx) <= r * 0.8) & (abs(dy) <= r * 0.8) & ~((abs(dx) <= inner) & (abs(dy) <= inner))


def shapes(n: int, side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % len(SHAPES)
    rng.shuffle(labels)
    images = np.empty((n, 3, side, side), np.uint8)
    for i, label in enumerate(labels):
        background = rng.uniform(0, 255, 3)
        colour = rng.uniform(0, 255, 3)
        while np.abs(colour - background).sum() < 150:  # visible, whatever the colours
            colour = rng.uniform(0, 255, 3)
        image = background[:, None, None] + rng.normal(0, 25, (3, side, side))
        mask = shape_mask(int(label), side, rng)
        image[:, mask] = colour[:, None] + rng.normal(0, 15, (3, int(mask.sum())))
        images[i] = np.clip(image, 0, 255).astype(np.uint8)
    return images, labels


def shapes_dataset(root: Path, n_train: int, n_test: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = shapes(n, 32, rng)
        write_split(root / split, images, labels, list(SHAPES))
    return root


def svc_score(train, test) -> tuple[float, float]:
    from sklearn.svm import SVC

    def flat(split):
        return split.images.reshape(len(split), -1).numpy() / 255.0, split.labels.numpy()

    t0 = time.perf_counter()
    svc = SVC().fit(*flat(train))
    x_test, y_test = flat(test)
    accuracy = float((svc.predict(x_test) == y_test).mean())
    return accuracy, time.perf_counter() - t0


def run(model: str, dataset: str, overrides: dict) -> dict:
    from zoo.train.runs import train_run

    budgets = []
    result = train_run(model, overrides, dataset=dataset, on_budget=budgets.append)
    record = result.record
    print(f"  {model} {overrides or ''}: {budgets[0].describe()}", file=sys.stderr)
    return {
        "model": model,
        "overrides": overrides,
        "epochs": budgets[0].epochs,
        "steps": budgets[0].steps,
        "test_accuracy": record.metrics["test"]["accuracy"],
        "train_seconds": record.train_seconds,
        "budget": budgets[0].describe(),
        "data": result.data,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("small_data.json"))
    parser.add_argument("--test", type=int, default=2000, help="Fashion-MNIST test images per dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rgb-train", type=int, default=2000, help="shapes-rgb training images")
    parser.add_argument(
        "--datasets", default="fashion-1k,fashion-3k,shapes-rgb", help="which of the three, comma-separated"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zoo-small-"))
    os.environ["ZOO_ARTIFACTS"] = str(work / "artifacts")
    from zoo.data import add_folder_dataset

    makers = {
        "fashion-1k": lambda root: fashion_subset(root, 1000, args.test, args.seed),
        "fashion-3k": lambda root: fashion_subset(root, 3000, args.test, args.seed),
        "shapes-rgb": lambda root: shapes_dataset(root, args.rgb_train, args.rgb_train // 2, args.seed),
    }
    makers = {name: makers[name] for name in args.datasets.split(",")}
    rows = []
    for name, make in makers.items():
        source = make(work / name)
        rgb = name.endswith("rgb")
        add_folder_dataset(name, source, size=32 if rgb else 28, channels=3 if rgb else 1)
        print(f"{name}:", file=sys.stderr)
        cnn = run("cnn", name, {})
        before = run("cnn", name, {"epochs": 10})
        mlp = run("mlp", name, {})
        data = cnn.pop("data")
        for r in (before, mlp):
            r.pop("data")
        svc, svc_seconds = svc_score(data.train, data.test)
        rows.append(
            {
                "dataset": name,
                "train": len(data.train),
                "val": len(data.val),
                "test": len(data.test),
                "cnn": cnn,
                "cnn_10_epochs": before,
                "mlp": mlp,
                "svc": {"test_accuracy": svc, "seconds": svc_seconds},
            }
        )
        print(f"  SVC(): {svc:.4f} in {svc_seconds:.2f} s", file=sys.stderr)
        args.out.write_text(json.dumps(rows, indent=2))

    print(
        "| dataset | train / val / test | `cnn` default: epochs (steps) | `cnn` test acc | s | "
        "`cnn --set epochs=10` (old default) | `mlp` default | `SVC()` test acc | SVC s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        cnn, before, mlp, svc = r["cnn"], r["cnn_10_epochs"], r["mlp"], r["svc"]
        print(
            f"| {r['dataset']} | {r['train']:,} / {r['val']:,} / {r['test']:,} | "
            f"{cnn['epochs']} ({cnn['steps']:,}) | **{cnn['test_accuracy']:.2%}** | "
            f"{cnn['train_seconds']:.0f} | "
            f"{before['test_accuracy']:.2%} ({before['steps']:,} steps) | "
            f"{mlp['test_accuracy']:.2%} ({mlp['epochs']} ep) | "
            f"{svc['test_accuracy']:.2%} | {svc['seconds']:.2f} |"
        )


if __name__ == "__main__":
    main()
