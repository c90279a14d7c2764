"""What resumable training costs: seconds to write the resume state at the end of an epoch.

    .venv/bin/python benchmarks/resume_overhead.py [VARIANT ...] [--repeats 7]

For each variant: its model and optimizer (Adam moments filled by one real step on a batch of its
size), the state fit writes every epoch (weights, best weights, optimizer tensors, RNG states, JSON
metadata) written with zoo.train.resume.save_state to a temporary folder `--repeats` times; the median
seconds and the file size are printed. The epoch it is amortised over is the variant's own (see
benchmarks/RESULTS.md for epoch times on the same machine).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from zoo.core.runtime import cpu_info
from zoo.models.registry import create_model, get_spec, input_shape_of
from zoo.train.config import resolve
from zoo.train.loop import make_optimizer, make_scheduler
from zoo.train.resume import TrainingState, save_state


def measure(name: str, repeats: int) -> dict:
    spec = get_spec(name)
    hparams, config = resolve(spec)
    torch.manual_seed(0)
    model = create_model(name, **hparams)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=100)
    x = torch.randn(config.batch_size, *input_shape_of(spec))
    loss = model(x).logsumexp(1).mean()
    loss.backward()
    optimizer.step()
    state = TrainingState(
        epoch=1,
        history=[
            {
                "epoch": 1,
                "epochs": config.epochs,
                "train_loss": 0.5,
                "train_acc": 0.8,
                "val_loss": 0.4,
                "val_acc": 0.85,
                "lr": config.lr,
                "seconds": 10.0,
            }
        ],
        best_loss=0.4,
        best_epoch=1,
        stale=0,
        stopped_early=False,
        seconds=10.0,
        model=model.state_dict(),
        best_model={k: v.clone() for k, v in model.state_dict().items()} if config.patience else None,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        scaler={},
        torch_rng=torch.get_rng_state(),
        generator_rng=torch.Generator().manual_seed(0).get_state(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.safetensors"
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            save_state(path, state)
            times.append(time.perf_counter() - started)
        size = path.stat().st_size
    return {
        "variant": name,
        "params": sum(p.numel() for p in model.parameters()),
        "bytes": size,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=["fashion-cnn-fast", "fashion-resnet"])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {cpu_info('model name') or 'unknown'}, {torch.get_num_threads()} torch threads")
    print("| variant | parameters | state file | save, median (min-max) |")
    print("| --- | ---: | ---: | ---: |")
    for name in args.variants:
        r = measure(name, args.repeats)
        print(
            f"| `{r['variant']}` | {r['params']:,} | {r['bytes'] / 2**20:.1f} MiB | "
            f"{r['median_s'] * 1e3:.1f} ms ({r['min_s'] * 1e3:.1f}-{r['max_s'] * 1e3:.1f}) |"
        )


if __name__ == "__main__":
    main()
