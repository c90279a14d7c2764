"""Milliseconds per training step of CNN variations, for sizing a search space against a time budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/experiments/step_time.py [--threads 1] [--batch 256] \
        [--network "filters=32,64,128 kernel_size=3,3,3 pool_size=2,2,2" ...]

Each network is `fashion-cnn` with issue 29's winner's settings (GELU, max pool, dropout 0.13, dense 256,
dense dropout 0.19) and the `--set`-style changes given; without --network, the seven of
benchmarks/RESULTS.md (session 13). One step is forward, loss, backward and Adam's update at one batch, bf16
autocast where zoo would use it, channels-last; the figure is the mean of 15 steps after 3 warm-up steps,
on random images (the cost does not depend on the pixels).
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from zoo.core.runtime import flush_denormals, tune_allocator
from zoo.models.registry import count_parameters, create_model, get_spec
from zoo.train.config import parse_assignments
from zoo.train.loop import bf16_pays_off

WINNER = "activation=gelu dropout=0.13 pool_type=max dense_units=256 dense_dropout=0.19"
NETWORKS = [
    "filters=32,64 kernel_size=3,3 pool_size=2",
    "filters=32,64,128 kernel_size=3,3,3 pool_size=2,2,2",
    "filters=32,64,64,128,128 kernel_size=3,3,3,3,3 pool_size=2,2,1,2,1 dense_units= dense_dropout=0",
    "filters=48,96 kernel_size=3,3 pool_size=2",
    "filters=32,64,128 kernel_size=3,3,3 pool_size=2,2,1",
    "filters=32,64,64 kernel_size=3,3,3 pool_size=2,1,2",
    "filters=32,32,64,64 kernel_size=3,3,3,3 pool_size=1,2,1,2",
]


def step_ms(model, batch: int, bf16: bool) -> float:
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(15):
        step()
    return (time.perf_counter() - started) / 15 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--network", action="append", help="space-separated key=value changes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_allocator()
    flush_denormals()
    bf16 = bf16_pays_off(torch.device("cpu"))
    spec = get_spec("fashion-cnn")
    print(f"{args.threads} thread(s), batch {args.batch}, {'bf16 autocast' if bf16 else 'fp32'}")
    print("| network | parameters | ms per step | vs the first |\n| --- | ---: | ---: | ---: |")
    first = None
    for network in args.network or NETWORKS:
        hparams = parse_assignments(spec, f"{WINNER} {network}".split())
        torch.manual_seed(0)
        model = create_model("fashion-cnn", **hparams)
        ms = step_ms(model, args.batch, bf16)
        first = first or ms
        print(f"| {network} | {count_parameters(model):,} | {ms:.1f} | {ms / first:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
