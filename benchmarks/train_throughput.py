"""Training speed of `fashion-cnn`: zoo's loop against the usual hand-written loop, and time to 92%.

    .venv/bin/python benchmarks/train_throughput.py [--epochs-to-target 12] [--target 0.92] [--out FILE]

1. Throughput: images/s of one full training epoch (54,000 images), same model class, same device,
   measured side by side in this run. Each loop runs in its own subprocess so that zoo's process
   settings (allocator tuning) cannot speed up the hand-written loop, and neither warms the other.
   The hand-written loop is the one in every tutorial: torchvision `FashionMNIST` + `ToTensor` +
   `Normalize` + `DataLoader(batch_size=128, shuffle=True)`, Adam, fp32, default memory format.
2. Time to accuracy: `fashion-cnn` with its default recipe, trained epoch by epoch; after each epoch the
   test accuracy is measured (outside the timer; measurement only, it steers nothing) and the training
   wall time at which it first reaches the target is reported.
"""

import argparse
import dataclasses
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def machine() -> dict:
    from zoo.core.runtime import cpu_info

    return {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_info("model name") or "unknown",
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def handwritten_epoch(batch_size: int) -> dict:
    """The tutorial loop, on the same model class zoo builds."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from zoo.data import find_dataset, load
    from zoo.models.registry import create_model

    splits = load("fashion-mnist")  # only for the same 54,000 training indices and statistics
    root = Path(tempfile.mkdtemp())
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    source = find_dataset("fashion-mnist")
    for name in FILES:  # torchvision wants the raw files under <root>/FashionMNIST/raw/
        plain, packed = source / name, source / f"{name}.gz"
        if plain.exists():
            shutil.copy(plain, raw / name)
        else:
            with gzip.open(packed) as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(splits.mean, splits.std)])
    full = datasets.FashionMNIST(str(root), train=True, download=False, transform=transform)
    # zoo trains on 54,000 of the 60,000 images (the rest is validation): time an epoch of as many.
    loader = DataLoader(Subset(full, range(len(splits.train))), batch_size=batch_size, shuffle=True)
    torch.manual_seed(0)
    model = create_model("fashion-cnn")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    seen = 0
    for images, labels in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    seconds = time.perf_counter() - start
    shutil.rmtree(root, ignore_errors=True)
    return {
        "loop": "hand-written (torchvision + DataLoader)",
        "images": seen,
        "seconds": seconds,
        "images_per_s": seen / seconds,
        "batch_size": batch_size,
    }


def zoo_epoch(overrides: dict) -> dict:
    from zoo.data import load
    from zoo.models.registry import create_model, get_spec
    from zoo.train.config import resolve
    from zoo.train.loop import fit

    spec = get_spec("fashion-cnn")
    hparams, config = resolve(spec, {**overrides, "epochs": 1, "val_fraction": 0.1})
    data = load("fashion-mnist", val_fraction=config.val_fraction, seed=config.seed)
    # Validation is skipped here: the hand-written loop does none either.
    data = dataclasses.replace(data, val=data.val.take([]))
    torch.manual_seed(0)
    model = create_model("fashion-cnn", **hparams)
    result = fit(model, data, config)
    seconds = result.history[0].seconds
    return {
        "loop": "zoo fit",
        "images": len(data.train),
        "seconds": seconds,
        "images_per_s": len(data.train) / seconds,
        "batch_size": config.batch_size,
        "precision": config.precision,
        "channels_last": config.channels_last,
    }


def time_to_accuracy(target: float, overrides: dict) -> dict:
    from zoo.data import Normalizer, load
    from zoo.models.registry import create_model, get_spec
    from zoo.train.config import resolve
    from zoo.train.loop import evaluate, fit

    spec = get_spec("fashion-cnn")
    hparams, config = resolve(spec, overrides)
    data = load("fashion-mnist", val_fraction=config.val_fraction, seed=config.seed)
    torch.manual_seed(config.seed)
    model = create_model("fashion-cnn", **hparams)
    normalize = Normalizer(data.mean, data.std)
    curve = []
    train_seconds = 0.0

    def on_epoch(stats) -> None:
        nonlocal train_seconds
        train_seconds += stats.seconds
        test = evaluate(model, data.test, normalize)
        curve.append(
            {
                "epoch": stats.epoch,
                "train_seconds": round(train_seconds, 2),
                "val_acc": stats.val_acc,
                "test_acc": test.accuracy,
            }
        )
        model.train()

    fit(model, data, config, on_epoch=on_epoch)
    reached = next((c for c in curve if c["test_acc"] >= target), None)
    return {
        "target": target,
        "config": config.to_dict(),
        "curve": curve,
        "reached_at_seconds": reached["train_seconds"] if reached else None,
        "reached_at_epoch": reached["epoch"] if reached else None,
        "final_test_acc": curve[-1]["test_acc"],
    }


def _in_subprocess(call: str) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import train_throughput as b; print(json.dumps({call}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", type=float, default=0.92)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the fashion-cnn recipe (as zoo train --set)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="throughput pairs to run; medians are reported")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-time-to-accuracy", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from zoo.models.registry import get_spec
    from zoo.train.config import parse_assignments

    overrides = parse_assignments(get_spec("fashion-cnn"), args.set)
    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "overrides": overrides}
    if not args.skip_throughput:
        hands, ours = [], []
        for _ in range(args.repeat):  # alternate, so drifts in machine load hit both loops alike
            hands.append(_in_subprocess("b.handwritten_epoch(128)"))
            ours.append(_in_subprocess(f"b.zoo_epoch({overrides!r})"))
        hand_rate = statistics.median(h["images_per_s"] for h in hands)
        our_rate = statistics.median(o["images_per_s"] for o in ours)
        results["throughput"] = {
            "handwritten": hands,
            "zoo": ours,
            "median_handwritten_images_per_s": hand_rate,
            "median_zoo_images_per_s": our_rate,
            "speedup": our_rate / hand_rate,
        }
        print(
            f"hand-written loop: {hand_rate:8.0f} images/s (median of {args.repeat}: "
            + ", ".join(f"{h['images_per_s']:.0f}" for h in hands)
            + ")"
        )
        print(
            f"zoo fit:           {our_rate:8.0f} images/s (median of {args.repeat}: "
            + ", ".join(f"{o['images_per_s']:.0f}" for o in ours)
            + ")"
        )
        print(f"speed-up:          {our_rate / hand_rate:.2f}x")
    if args.skip_time_to_accuracy:
        print(json.dumps(results["machine"]))
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")
        return
    tta = _in_subprocess(f"b.time_to_accuracy({args.target!r}, {overrides!r})")
    results["time_to_accuracy"] = tta
    for point in tta["curve"]:
        print(f"epoch {point['epoch']:>2}  {point['train_seconds']:7.1f} s  test acc {point['test_acc']:.4f}")
    if tta["reached_at_seconds"] is not None:
        print(
            f"{args.target:.0%} test accuracy after {tta['reached_at_seconds']:.1f} s of training "
            f"(epoch {tta['reached_at_epoch']})"
        )
    else:
        print(f"{args.target:.0%} not reached; final test accuracy {tta['final_test_acc']:.4f}")
    print(json.dumps(results["machine"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
