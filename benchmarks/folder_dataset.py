"""How long `zoo data add` takes on Fashion-MNIST as 70,000 PNG files (target: <= 30 s on 2 cores).

    .venv/bin/python benchmarks/folder_dataset.py FOLDER [--repeats 3] [--name fashion-folder]

FOLDER receives train/ and test/, each with one folder per class (the class names of Fashion-MNIST,
"/" in "T-shirt/top" written as "-"), one grayscale PNG per image, from `zoo.data.load_raw("fashion-mnist")`
(the files in /usr/share/datasets/fashion-mnist); a folder that already holds all 70,000 is reused.
Then `zoo data add NAME FOLDER --size 28 --channels 1 --force` runs as a subprocess `--repeats` times
(in a temporary artifacts folder): wall time from start to exit, Python's start-up and imports included,
as a user sees it. The median is printed as a markdown row with the machine, its cores, the CPU seconds
the command and its workers used (what a busy machine does not inflate) and the load average after the
runs (other work on the machine slows the wall time). `--size 28`
keeps the pixels identical to the built-in dataset's, so training on either compares like with like.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zoo.core.runtime import cpu_info  # noqa: E402
from zoo.data import get_dataset_info, load_raw  # noqa: E402
from zoo.data.decode import cpu_count  # noqa: E402

EXPECTED = {"train": 60_000, "test": 10_000}


def class_folders() -> list[str]:
    return [name.replace("/", "-") for name in get_dataset_info("fashion-mnist").class_names]


def count_pngs(folder: Path) -> dict[str, int]:
    return {split: sum(1 for _ in (folder / split).glob("*/*.png")) for split in EXPECTED}


def write_pngs(folder: Path) -> None:
    """70,000 PNG files, train/<class>/<index>.png and test/<class>/<index>.png."""
    from PIL import Image

    train, test, source = load_raw("fashion-mnist")
    print(f"writing 70,000 PNG files from {source} into {folder}", file=sys.stderr)
    names = class_folders()
    for split, data in (("train", train), ("test", test)):
        for name in names:
            (folder / split / name).mkdir(parents=True, exist_ok=True)
        images, labels = data.images.numpy(), data.labels.numpy()
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(image[0], "L").save(folder / split / names[label] / f"{i:05d}.png")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_add(folder: Path, name: str, artifacts: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its worker processes)."""
    env = {**os.environ, "ZOO_ARTIFACTS": str(artifacts)}
    cpu = _children_cpu()
    command = [
        sys.executable,
        "-m",
        "cli",
        "data",
        "add",
        name,
        str(folder),
        "--size",
        "28",
        "--channels",
        "1",
    ]
    started = time.perf_counter()
    done = subprocess.run([*command, "--force"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"zoo data add failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="Where the PNG files are (written there if missing).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="fashion-folder")
    args = parser.parse_args()
    if count_pngs(args.folder) != EXPECTED:
        write_pngs(args.folder)
    if count_pngs(args.folder) != EXPECTED:
        sys.exit(f"{args.folder} does not hold exactly {EXPECTED} PNG files; empty it and run again")
    with tempfile.TemporaryDirectory() as artifacts:
        measured = [time_add(args.folder, args.name, Path(artifacts)) for _ in range(args.repeats)]
    times = [wall for wall, _ in measured]
    cpu = statistics.median(c for _, c in measured)
    machine = cpu_info("model name") or "unknown CPU"
    runs = " / ".join(f"{t:.1f}" for t in times)
    load = os.getloadavg()[0]
    print("| machine | cores | files | `zoo data add`, median | runs (s) | CPU s, median | load avg |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    print(
        f"| {machine} | {cpu_count()} | 70,000 PNG | **{statistics.median(times):.1f} s** | {runs} | "
        f"{cpu:.1f} | {load:.1f} |"
    )


if __name__ == "__main__":
    main()
