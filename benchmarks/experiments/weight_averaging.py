"""Would averaged weights beat the last ones? One training run of a variant, with exponential moving averages
at several decays and uniform averages over the last epochs (SWA) kept beside it, all tested at the end.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/experiments/weight_averaging.py fashion-cnn --seed 0 \
        --set filters=32,64 --set kernel_size=3,3 ... [--decays 0.99,0.995,0.998,0.999] [--swa-epochs 3,5]

Every average is `torch.optim.swa_utils.AveragedModel` updated after each optimizer step, batch-norm
statistics averaged too (`use_buffers=True`), so it needs no extra pass over the data. Test accuracy is
measured once, after the last epoch, as the variant's recipe evaluates (flip-averaged where it says so).
A measurement for issue 29 (benchmarks/RESULTS.md, session 13), not a feature: zoo saves the last weights.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from zoo.data import Normalizer, load
from zoo.models.registry import create_model, get_spec, resolve_dataset
from zoo.train.config import parse_assignments, resolve
from zoo.train.loop import evaluate, fit, select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decays", default="0.99,0.995,0.998,0.999")
    parser.add_argument("--swa-epochs", default="3,5", help="uniform averages over these last epochs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    spec = get_spec(args.variant)
    dataset = resolve_dataset(spec)
    hparams, config = resolve(spec, {**parse_assignments(spec, args.assignments), "seed": args.seed}, dataset)
    data = load(dataset, val_fraction=config.val_fraction, seed=args.seed, subset=config.subset)
    normalize = Normalizer(data.mean, data.std, device=select_device(config.device))
    torch.manual_seed(args.seed)  # as `zoo train` builds its model
    model = create_model(args.variant, dataset, **hparams)

    averages = {
        f"EMA {decay}": (
            AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(float(decay)), use_buffers=True),
            1,
        )
        for decay in args.decays.split(",")
        if decay
    }
    for last in (int(n) for n in args.swa_epochs.split(",") if n):
        first = max(config.epochs - last + 1, 1)
        averages[f"SWA last {last} epochs"] = (AveragedModel(model, use_buffers=True), first)
    epoch, update_seconds = 1, 0.0

    def on_batch(step: int, steps: int, loss: float) -> None:
        nonlocal update_seconds
        started = time.perf_counter()
        for average, first in averages.values():
            if epoch >= first:
                average.update_parameters(model)
        update_seconds += time.perf_counter() - started

    def on_epoch(stats) -> None:
        nonlocal epoch
        epoch = stats.epoch + 1
        print(f"epoch {stats.epoch}/{stats.epochs}: {stats.seconds:.1f} s", file=sys.stderr, flush=True)

    result = fit(model, data, config, on_batch=on_batch, on_epoch=on_epoch)
    flip = config.test_time_flip
    rows = {"last weights": evaluate(model, data.test, normalize, flip=flip).accuracy}
    rows.update(
        {
            name: evaluate(avg.module, data.test, normalize, flip=flip).accuracy
            for name, (avg, _) in averages.items()
        }
    )
    print(f"| {args.variant}, seed {args.seed} | test accuracy |\n| --- | ---: |")
    for name, accuracy in rows.items():
        print(f"| {name} | {accuracy:.2%} |")
    print(f"training {result.seconds:.0f} s, of which {update_seconds:.1f} s updating the averages")
    if args.out:
        args.out.write_text(
            json.dumps({"seed": args.seed, "test_accuracy": rows, "seconds": result.seconds}, indent=1)
        )


if __name__ == "__main__":
    main()
