"""Issue 39's first contact: `zoo predict NAME IMAGE` from a cold start with the installed package alone.

Each run is a fresh process in its own mount namespace where /usr/share/datasets is an empty tmpfs (no
dataset), with an empty ZOO_HOME and artifacts folder (no cache, no export) and no network; the wall time
of the whole command is measured, `--runs` times, and the median and the range printed. Needs root and
`unshare` (Linux).

    .venv/bin/python benchmarks/predict_cold.py [--model fashion-resnet] [--runs 7]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(zoo: str, model: str, image: Path, home: Path) -> float:
    env = {**os.environ, "ZOO_HOME": str(home / "home"), "ZOO_ARTIFACTS": str(home / "artifacts")}
    env.pop("ZOO_DATA_DIR", None)
    script = 'mount -t tmpfs none /usr/share/datasets && exec "$@"'
    started = time.perf_counter()
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", zoo, "predict", model, str(image), "--json"],
        capture_output=True,
        text=True,
        cwd=home,
        env=env,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"zoo predict failed: {done.stderr.strip()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="fashion-resnet")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--zoo", default=str(ROOT / ".venv" / "bin" / "zoo"))
    args = parser.parse_args()
    from PIL import Image

    from zoo.data.loading import load_test

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        image = home / "boot.png"
        Image.fromarray(load_test("fashion-mnist").images[0, 0].numpy()).save(image)
        times = [one_run(args.zoo, args.model, image, home) for _ in range(args.runs)]
    print(
        f"zoo predict {args.model} IMAGE, cold, package alone: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
