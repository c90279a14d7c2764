"""The shipped models' results table, like timm's results-imagenet.csv: one row per shipped Fashion-MNIST
model, from its files (zoo/weights/<name>/) and the registry, written to benchmarks/results-fashion-mnist.csv.

    .venv/bin/python benchmarks/results_table.py [--out FILE]

Columns: model, top1 and top1_err (%, the shipped model as `zoo predict NAME` and its default export run it,
on the official test split), top1_tta (with test-time flips, `--tta`, for a recipe measured so), log_loss
(of the default model), param_count,
mflops (forward FLOPs of one image by torch.utils.flop_counter, in millions), the weights' sha256, epochs
trained, train_seconds, machine and command (from shipped.json); README's table of shipped models is
rewritten from it. tests/test_pretrained.py checks both against the registry.
"""

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zoo.models.registry import (  # noqa: E402
    count_parameters,
    create_model,
    get_spec,
    input_shape_of,
)
from zoo.train.checkpoint import read_record  # noqa: E402
from zoo.weights.shipped import SHIPPED  # noqa: E402
from zoo.weights.store import PACKAGE_DIR, PROVENANCE  # noqa: E402

CSV_PATH = ROOT / "benchmarks" / "results-fashion-mnist.csv"
README = ROOT / "README.md"
README_START, README_END = "<!-- results-fashion-mnist.csv -->", "<!-- /results-fashion-mnist.csv -->"
COLUMNS = [
    "model",
    "top1",
    "top1_err",
    "top1_tta",
    "log_loss",
    "param_count",
    "mflops",
    "sha256",
    "epochs",
    "train_seconds",
    "machine",
    "command",
]


def forward_mflops(name: str, hyperparameters: dict) -> float:
    """FLOPs of one image's forward pass (a multiply-add counts two), in millions."""
    model = create_model(name, **hyperparameters).eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, *input_shape_of(get_spec(name))))
    return counter.get_total_flops() / 1e6


def row(name: str) -> dict:
    weights = SHIPPED[name]
    folder = PACKAGE_DIR / name
    record = read_record(folder)
    made = json.loads((folder / PROVENANCE).read_text())
    return {
        "model": name,
        "top1": f"{100 * weights.test_accuracy:.2f}",
        "top1_err": f"{100 * (1 - weights.test_accuracy):.2f}",
        "top1_tta": f"{100 * weights.tta_accuracy:.2f}" if weights.tta_accuracy is not None else "",
        # the record's is of the model it was measured as (with flips, for those recipes)
        "log_loss": f"{made.get('log_loss', record.metrics['test']['log_loss']):.4f}",
        "param_count": count_parameters(create_model(name, **record.hyperparameters)),
        "mflops": f"{forward_mflops(name, record.hyperparameters):.2f}",
        "sha256": weights.sha256,
        "epochs": len(record.history),
        "train_seconds": f"{record.train_seconds:.0f}",
        "machine": made["machine"],
        "command": made["command"],
    }


def table() -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = sorted((row(name) for name in SHIPPED), key=lambda r: -float(r["top1"]))
    writer.writerows(rows)
    return out.getvalue()


def markdown(csv_text: str) -> str:
    """README's table of the shipped models: the CSV's figures, without the long columns."""
    lines = [
        "| model | top-1 % | with flips | log loss | parameters | MFLOPs | epochs | train s | sha256 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    names = []
    for r in csv.DictReader(io.StringIO(csv_text)):
        names.append(r["model"])
        lines.append(
            f"| `{r['model']}` | {r['top1']} | {r['top1_tta'] or '-'} | {r['log_loss']} "
            f"| {int(r['param_count']):,} | {r['mflops']} "
            f"| {r['epochs']} | {r['train_seconds']} | `{r['sha256'][:8]}` |"
        )
    size = sum(p.stat().st_size for name in names for p in (PACKAGE_DIR / name).iterdir() if p.is_file())
    lines += [
        "",
        f"The {len(names)} shipped models take {size / 1e6:.1f} MB in the repository and the installed "
        "package "
        "(safetensors weights, `run.json`, `shipped.json` and 20 reference test images; no optimizer state). "
        'top-1 is what `zoo predict NAME` and the default export score; "with flips" averages each image '
        "with its mirror (`--tta`).",
    ]
    return "\n".join(lines) + "\n"


def readme_with(csv_text: str, readme: str) -> str:
    head, rest = readme.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    return head + README_START + "\n" + markdown(csv_text) + README_END + tail


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=CSV_PATH)
    args = parser.parse_args()
    text = table()
    args.out.write_text(text)
    README.write_text(readme_with(text, README.read_text()))
    print(text, end="")


if __name__ == "__main__":
    main()
