"""Reproduction table: each classic variant trained with its own recipe, 3 seeds, on the full data.

    .venv/bin/python benchmarks/reproduce.py [--seeds 3] [--budget NAME] [--out FILE] [VARIANT ...]

--budget picks one of the variant's named budgets (`zoo models NAME`); by default its registered recipe,
which for the classic variants is the published budget (early stopping, so "epochs" is what ran).

Prints one line per finished run and a Markdown table (test accuracy mean ± std, epochs, wall time) at the
end; --out keeps the JSON, rewritten after every run so a stopped reproduction keeps what it finished.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.models.registry import budget_overrides, get_spec
from zoo.train.runs import train_run

DEFAULT = [
    "fashion-mlp4",
    "fashion-mlp4-aug",
    "fashion-cnn-baseline",
    "fashion-cnn3",
    "fashion-cnn3-aug",
    "fashion-cnn-better",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="*", default=DEFAULT)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", help="a named budget of every variant (default: its registered recipe)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    resumed = args.out and args.out.exists()
    results: dict[str, list[dict]] = json.loads(args.out.read_text()) if resumed else {}
    for name in args.variants:
        budget = budget_overrides(get_spec(name), args.budget)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if any(row["seed"] == seed for row in results.get(name, [])):
                continue  # finished by an earlier call with the same --out
            started = time.perf_counter()
            run = train_run(name, {**budget, "seed": seed})
            r = run.record
            row = {
                "seed": seed,
                "test_acc": r.metrics["test"]["accuracy"],
                "epochs": len(r.history),
                "best_epoch": r.best_epoch,
                "val_loss": [e.get("val_loss") for e in r.history],
                "train_seconds": r.train_seconds,
                "wall_seconds": time.perf_counter() - started,
                "stopped_early": r.stopped_early,
                "run_dir": str(run.run_dir),
            }
            results.setdefault(name, []).append(row)
            print(
                f"{name} seed {seed}: test acc {row['test_acc']:.4f}, {row['epochs']} epochs, "
                f"{row['train_seconds']:.0f} s",
                flush=True,
            )
            if args.out:
                args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("| variant | test accuracy (mean ± std) | seeds | epochs | training s per seed |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rows in results.items():
        accs = [r["test_acc"] for r in rows]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        epochs = "/".join(str(r["epochs"]) for r in rows)
        secs = statistics.median(r["train_seconds"] for r in rows)
        print(f"| {name} | {statistics.fmean(accs):.4f} ± {std:.4f} | {len(rows)} | {epochs} | {secs:.0f} |")


if __name__ == "__main__":
    main()
