"""Time to accuracy: wall-clock training seconds until test accuracy first reaches 92%, 93% and 94%.

    .venv/bin/python benchmarks/time_to_accuracy.py [VARIANT[@DATASET] ...] [--set key=value ...] [--seeds 3]
        [--first-seed 0] [--thresholds 0.92,0.93,0.94] [--out FILE]
    .venv/bin/python benchmarks/time_to_accuracy.py --merge A.json B.json [--thresholds ...]

Each variant trains with its own registered recipe (plus any --set) once per seed; `cnn-fast@NAME` trains a
dataset-agnostic variant on dataset NAME (a folder dataset of `zoo data add`, in ZOO_ARTIFACTS). Test
accuracy is measured after every epoch *outside* the timer, as DAWNBench does; it only observes the run and
steers nothing (no early stopping, no selection). The figure per threshold is the median over seeds of the
training seconds at the first epoch whose test accuracy reaches it; when fewer than half the seeds reach
it, the threshold is reported as not reached. Prints a Markdown table with the machine (CPU model, cores,
threads, GPU) and keeps the per-epoch curves in --out (JSON, rewritten after every run).

Seeds can run as separate processes (one per core, or one per machine of the same kind): give each its own
--first-seed and --out, then --merge the files to print the table over all their runs.
"""

import argparse
import json
import math
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train_throughput import machine as machine_info

from zoo.data import Normalizer, load
from zoo.models.registry import count_parameters, create_model, get_spec, resolve_dataset
from zoo.train.config import parse_assignments, resolve
from zoo.train.loop import evaluate, fit, resolve_precision, select_device

DEFAULT = ["fashion-cnn-fast", "fashion-cnn", "fashion-resnet-compact"]


def machine() -> str:
    info = machine_info()
    return f"{info['cpu']}, {info['torch_threads']} torch threads, {info['cuda'] or 'no GPU'}"


def run_one(variant: str, assignments: list[str], seed: int) -> dict:
    name, _, asked = variant.partition("@")
    spec = get_spec(name)
    dataset = resolve_dataset(spec, asked or None)
    overrides = {**parse_assignments(spec, assignments), "seed": seed}
    hparams, config = resolve(spec, overrides, dataset)
    data = load(dataset, val_fraction=config.val_fraction, seed=seed, subset=config.subset)
    device = select_device(config.device)
    normalize = Normalizer(data.mean, data.std, device=device)
    torch.manual_seed(seed)
    model = create_model(name, dataset, **hparams)
    curve: list[dict] = []
    elapsed = 0.0

    def on_epoch(stats) -> None:
        nonlocal elapsed
        elapsed += stats.seconds  # fit's epoch time ends before this callback: evaluation is not counted
        single = evaluate(model, data.test, normalize).accuracy
        flipped = evaluate(model, data.test, normalize, flip=True).accuracy
        curve.append(
            {
                "epoch": stats.epoch,
                "train_seconds": elapsed,
                "test_acc": flipped if config.test_time_flip else single,  # what the recipe reports
                "test_acc_single_pass": single,
                "test_acc_flip_averaged": flipped,
            }
        )
        # One line per epoch as it ends, so a long run that is stopped still leaves its curve behind.
        print(
            f"  {name} seed {seed} epoch {stats.epoch}/{stats.epochs}: {elapsed:.2f} s training, "
            f"test acc {single:.4f} single, {flipped:.4f} flip-averaged",
            file=sys.stderr,
            flush=True,
        )
        model.train()

    fit(model, data, config, on_epoch=on_epoch)
    return {
        "seed": seed,
        "dataset": dataset,
        "n_train": len(data.train),
        "curve": curve,
        "config": config.to_dict(),
        "hyperparameters": hparams,
        "num_params": count_parameters(model),
        "device": str(device),
        "precision": resolve_precision(config.precision, device),
    }


def first_reaching(curve: list[dict], threshold: float) -> float | None:
    return next((p["train_seconds"] for p in curve if p["test_acc"] >= threshold), None)


def median_time(runs: list[dict], threshold: float) -> float | None:
    """Median over seeds; a seed that never reaches the threshold counts as slower than any that did,
    and an even count takes the slower middle value, so a reported time is never optimistic."""
    times = [first_reaching(r["curve"], threshold) for r in runs]
    value = statistics.median_high([math.inf if t is None else t for t in times])
    return None if value == math.inf else value


def merged(paths: list[Path]) -> dict:
    """The runs of several --out files; the machine must be the same in all of them."""
    results: dict = {"variants": {}}
    for path in paths:
        part = json.loads(path.read_text())
        if results.setdefault("machine", part["machine"]) != part["machine"]:
            sys.exit(f"{path} ran on {part['machine']!r}, not {results['machine']!r}: times do not compare")
        results["date"] = max(results.get("date", ""), part["date"])
        for name, entry in part["variants"].items():
            for run in entry["runs"]:
                # One row per variant and resolved recipe: seeds of one recipe pool even when it was spelled
                # differently (`--set epochs=30` before 30 became the default), other recipes stay apart.
                recipe = {k: v for k, v in run["config"].items() if k != "seed"}
                key = json.dumps([name, recipe, run["hyperparameters"]], sort_keys=True)
                into = results["variants"].setdefault(key, {"name": name, "set": entry["set"], "runs": []})
                into["runs"].append(run)
    return results


def percent(threshold: float) -> str:
    return f"{threshold * 100:g}%"


def print_table(results: dict, thresholds: list[float]) -> None:
    print(f"\n{results['machine']}, {results['date']}\n")
    heads = " | ".join(f"to {percent(t)}" for t in thresholds)
    print(f"| variant | params | epochs | seeds | {heads} | final test acc (median) | images/s (median) |")
    print("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in thresholds) + " | ---: | ---: |")
    for key, entry in results["variants"].items():
        name, runs = entry.get("name", key), entry["runs"]
        cells = []
        for t in thresholds:
            value = median_time(runs, t)
            cells.append("not reached" if value is None else f"{value:.1f} s")
        final = statistics.median(r["curve"][-1]["test_acc"] for r in runs)
        epochs = runs[0]["config"]["epochs"]
        label = name + (f" ({', '.join(entry['set'])})" if entry["set"] else "")
        # training images per second of training time (older files lack n_train: left blank)
        speeds = [
            r["n_train"] * r["curve"][-1]["epoch"] / r["curve"][-1]["train_seconds"]
            for r in runs
            if "n_train" in r
        ]
        speed = f"{statistics.median(speeds):,.0f}" if speeds else ""
        print(
            f"| {label} | {runs[0]['num_params']:,} | {epochs} | {len(runs)} | {' | '.join(cells)} "
            f"| {final:.4f} | {speed} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="*", default=DEFAULT)
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--thresholds", default="0.92,0.93,0.94")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON", help="print the table of saved runs")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    if args.merge:
        print_table(merged(args.merge), thresholds)
        return
    results: dict = {"machine": machine(), "date": datetime.now(UTC).date().isoformat(), "variants": {}}
    for name in args.variants:
        runs = results["variants"].setdefault(name, {"set": args.assignments, "runs": []})["runs"]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            started = time.perf_counter()
            run = run_one(name, args.assignments, seed)
            runs.append(run)
            last = run["curve"][-1]
            print(
                f"{name} seed {seed}: final test acc {last['test_acc']:.4f} after {last['epoch']} epochs, "
                f"{last['train_seconds']:.1f} s training ({time.perf_counter() - started:.0f} s wall); "
                "per epoch (s, single, flip): "
                + " ".join(
                    f"{p['train_seconds']:.0f}/{p['test_acc_single_pass']:.4f}/{p['test_acc_flip_averaged']:.4f}"
                    for p in run["curve"]
                ),
                flush=True,
            )
            if args.out:
                args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results, thresholds)


if __name__ == "__main__":
    main()
