"""`zoo tune fashion-cnn --trials 30` with the defaults: wall time, best val acc, test acc of the best;
then the same study without pruning (same sampler seed): epochs spent and best val acc.

    .venv/bin/python benchmarks/tune_budget.py [--trials 30] [--skip-unpruned] [--out FILE]

Each study runs through the real CLI in its own artifacts folder, so the figures are what a user gets.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.tune.studies import open_storage


def run_study(artifacts: Path, *extra: str) -> tuple[dict, float]:
    command = [
        sys.executable,
        "-m",
        "cli",
        "--artifacts",
        str(artifacts),
        "tune",
        "fashion-cnn",
        *extra,
        "--json",
    ]
    print("$ zoo " + " ".join(command[3:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"study failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), seconds


def epochs_spent(artifacts: Path, study: str) -> tuple[int, dict]:
    trials = optuna.load_study(
        study_name=study, storage=open_storage(f"sqlite:///{artifacts}/zoo.db", heartbeat=False)
    ).trials
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    return sum(len(t.intermediate_values) for t in trials), states


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--skip-unpruned", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zoo-tune-bench-"))
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "trials": args.trials}

    pruned, seconds = run_study(root / "pruned", "--trials", str(args.trials))
    epochs, states = epochs_spent(root / "pruned", "fashion-cnn")
    results["default"] = {
        "wall_seconds": seconds,
        "best_val_acc": pruned["best"]["val_acc"],
        "test_acc": pruned["final"]["test_accuracy"],
        "epochs_spent": epochs,
        "states": states,
        "best_params": pruned["best"]["params"],
        "final": pruned["final"],
    }
    print(
        f"defaults: {seconds / 60:.1f} min, best val acc {pruned['best']['val_acc']:.4f}, "
        f"test acc of the best (retrained) {pruned['final']['test_accuracy']:.4f}, "
        f"{epochs} tuning epochs, {states}",
        flush=True,
    )

    if not args.skip_unpruned:
        unpruned, seconds = run_study(
            root / "unpruned", "--trials", str(args.trials), "--pruner", "none", "--no-retrain"
        )
        u_epochs, u_states = epochs_spent(root / "unpruned", "fashion-cnn")
        results["unpruned"] = {
            "wall_seconds": seconds,
            "best_val_acc": unpruned["best"]["val_acc"],
            "epochs_spent": u_epochs,
            "states": u_states,
        }
        print(
            f"no pruning: {seconds / 60:.1f} min, best val acc {unpruned['best']['val_acc']:.4f}, "
            f"{u_epochs} tuning epochs",
            flush=True,
        )
        print(
            f"pruning: {epochs / u_epochs:.0%} of the epochs, best val acc "
            f"{(pruned['best']['val_acc'] - unpruned['best']['val_acc']) * 100:+.2f} points",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
