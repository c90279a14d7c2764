"""What averaging runs' predictions would buy: each run's test accuracy, every pair's and all of them
together (mean of their softmax probabilities, each run evaluated as `zoo` evaluates it: its own
normalisation, flip-averaged where it was trained so).

    .venv/bin/python benchmarks/experiments/ensemble_runs.py RUN_DIR RUN_DIR [RUN_DIR ...]

A measurement for deciding whether an ensemble is worth its inference cost, not a feature: zoo exports one
network per run."""

import itertools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from zoo.data.loading import load_raw
from zoo.train.checkpoint import load_run
from zoo.train.runs import evaluate_run


def main() -> None:
    run_dirs = [Path(p) for p in sys.argv[1:]]
    if len(run_dirs) < 2:
        sys.exit("usage: ensemble_runs.py RUN_DIR RUN_DIR [RUN_DIR ...]")
    probabilities, test = {}, None
    for run_dir in run_dirs:
        model, record = load_run(run_dir)
        if test is None:
            _, test, _ = load_raw(record.dataset)
        evaluation = evaluate_run(model, record, test=test)
        probabilities[run_dir.name] = evaluation.logits.softmax(1)
        print(f"{run_dir.name}: {evaluation.metrics['accuracy']:.4f}")

    def accuracy(names) -> float:
        mean = sum(probabilities[n] for n in names) / len(names)
        return (mean.argmax(1) == test.labels).float().mean().item()

    pairs = {pair: accuracy(pair) for pair in itertools.combinations(probabilities, 2)}
    for (a, b), value in pairs.items():
        print(f"{a} + {b}: {value:.4f}")
    values = list(pairs.values())
    above = sum(v >= 0.935 for v in values)
    print(
        f"pairs: mean {statistics.mean(values):.4f}, median {statistics.median(values):.4f}, "
        f"range {min(values):.4f}-{max(values):.4f}, {above} of {len(values)} >= 93.5%"
    )
    print(f"all {len(probabilities)}: {accuracy(list(probabilities)):.4f}")


if __name__ == "__main__":
    main()
