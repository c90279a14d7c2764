"""Dropout's CPU mask: drop rate per byte position of each 64-bit draw, and the draw's cost, old and new.

    .venv/bin/python benchmarks/dropout_mask.py [--p 0.2] [--values 8000000]

`old` is the draw zoo used until issue 24 (`randint(-2**62, 2**62)`: the top byte of each draw only ever
took 0x00-0x3F or 0xC0-0xFF); `new` is `random_` over the whole int64 range (zoo/models/layers.py).
"""

import argparse
import statistics
import time

import torch


def old_draw(m: int) -> torch.Tensor:
    return torch.randint(-(2**62), 2**62, (m,), dtype=torch.int64)


def new_draw(m: int) -> torch.Tensor:
    return torch.empty(m, dtype=torch.int64).random_(-(2**63), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--p", type=float, default=0.2)
    parser.add_argument("--values", type=int, default=8_000_000)
    args = parser.parse_args()
    threshold = round(args.p * 256)
    m = args.values // 8
    torch.manual_seed(0)
    print(f"p={args.p} (threshold {threshold}/256 = {threshold / 256:.4f}), {m:,} draws of 8 bytes")
    times: dict[str, list[float]] = {"old": [], "new": []}
    for name, draw in (("old", old_draw), ("new", new_draw)):
        rates = (draw(m).view(torch.uint8).view(-1, 8) < threshold).float().mean(0)
        print(f"{name}: drop rate per byte position " + " ".join(f"{r:.4f}" for r in rates.tolist()))
    for _ in range(15):  # interleaved, so both see the same machine
        for name, draw in (("old", old_draw), ("new", new_draw)):
            t = time.perf_counter()
            draw(m)
            times[name].append(time.perf_counter() - t)
    for name, values in times.items():
        print(f"{name}: {statistics.median(values) * 1e3:.2f} ms per {m:,} draws (median of 15)")


if __name__ == "__main__":
    main()
