"""Would more test-time views help? Each saved run evaluated on the test set with one view, with the image
and its mirror (what `test_time_flip` does), and with those two each also shifted one pixel left, right, up
and down (10 views); the views' log-softmax outputs are summed.

    .venv/bin/python benchmarks/experiments/eval_views.py RUN_DIR [RUN_DIR ...]

A measurement for issue 29 (benchmarks/RESULTS.md, session 13), not a feature.
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from zoo.data import Normalizer
from zoo.data.loading import load_raw
from zoo.train.checkpoint import load_run
from zoo.train.loop import predict_logits

SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def shifted(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The images moved by (dx, dy) pixels, the edge they leave filled with zeros (uint8 background)."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (1, 1, 1, 1))
    return padded[..., 1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]


def view_accuracies(run: Path, test) -> tuple[float, float, float]:
    """Test accuracy of `run` with one view, two (image and mirror) and ten (those two, each shifted)."""
    model, record = load_run(run)
    normalize = Normalizer(record.normalization["mean"], record.normalization["std"])

    def log_probabilities(images: torch.Tensor) -> torch.Tensor:
        return predict_logits(model, images, normalize).log_softmax(1)

    def pair(images: torch.Tensor) -> torch.Tensor:
        return log_probabilities(images) + log_probabilities(images.flip(-1))

    def accuracy(scores: torch.Tensor) -> float:
        return (scores.argmax(1) == test.labels).float().mean().item()

    two = pair(test.images)
    ten = two + sum(pair(shifted(test.images, dx, dy)) for dx, dy in SHIFTS)
    return accuracy(log_probabilities(test.images)), accuracy(two), accuracy(ten)


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]]
    if not runs:
        sys.exit("usage: eval_views.py RUN_DIR [RUN_DIR ...]")
    _, test, _ = load_raw(load_run(runs[0])[1].dataset)
    print("| run | one view | image + mirror | + 1-pixel shifts of both (10 views) |")
    print("| --- | ---: | ---: | ---: |")
    for run in runs:
        one, two, ten = view_accuracies(run, test)
        print(f"| {run.name} | {one:.2%} | {two:.2%} | {ten:.2%} |", flush=True)


if __name__ == "__main__":
    main()
