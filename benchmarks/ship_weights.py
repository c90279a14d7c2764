"""Ship trained runs as zoo's pretrained weights: copy each run directory's weights.safetensors and run.json
into zoo/weights/<variant>/, write beside them how the run was made (shipped.json), count its correct
predictions on the official test split on this CPU in fp32 (the figure `zoo weights verify` re-measures),
then regenerate zoo/weights/shipped.py, the registry's table of digests, from every folder under zoo/weights/.

    .venv/bin/python benchmarks/ship_weights.py --command CMD --machine TEXT --commit SHA RUN_DIR ...
    .venv/bin/python benchmarks/ship_weights.py --table-only     # rewrite zoo/weights/shipped.py from
    zoo/weights/
    .venv/bin/python benchmarks/ship_weights.py --references     # re-count and write reference images

Each shipped folder also gets `reference.safetensors` (zoo.weights.use): a few official test images and
the logits the default model gives them, checked on the user's machine before a prediction. The figure
shipped is the default model's (no test-time flip: what `zoo predict NAME` and the default export
compute); a recipe measured with test-time flips has that count beside it as `correct_tta` (`--tta`).

Only runs of the variant's registered default recipe are accepted (the run's train config must be the
recipe's), so a shipped figure is the figure of the recipe `zoo models` shows.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zoo.core.fileio import sha256_file, write_json_atomic, write_text_atomic  # noqa: E402
from zoo.models.registry import get_spec  # noqa: E402
from zoo.train.checkpoint import RECORD, WEIGHTS, load_run  # noqa: E402
from zoo.train.config import resolve  # noqa: E402
from zoo.train.runs import evaluate_run  # noqa: E402
from zoo.weights.store import PACKAGE_DIR, PROVENANCE, REFERENCE  # noqa: E402

TABLE = ROOT / "zoo" / "shipped.py"
MARKER = "# Generated below by benchmarks/ship_weights.py from the folders under zoo/weights/.\n"


def _recipe_mismatch(record) -> list[str]:
    """Keys where the run differs from its variant's registered recipe and architecture (seed aside)."""
    hparams, recipe = resolve(get_spec(record.model))  # what `zoo train NAME` would run
    ran = record.train_config
    recipe = json.loads(json.dumps(vars(recipe)))  # as run.json stores it: tuples become lists
    differs = [k for k, v in recipe.items() if k != "seed" and k in ran and ran[k] != v]
    # through JSON, as run.json stores them (tuples become lists)
    hparams = json.loads(json.dumps(hparams))
    return sorted(differs + [k for k, v in hparams.items() if record.hyperparameters.get(k) != v])


def ship(run_dir: Path, provenance: dict) -> None:
    model, record = load_run(run_dir)
    problems = _recipe_mismatch(record)
    if problems:
        raise SystemExit(f"{run_dir}: not the registered recipe of {record.model} (differs in {problems})")
    result = evaluate_run(model.float().cpu(), record)
    correct = int((result.predictions == result.labels).sum())
    recorded = round(record.metrics["test"]["accuracy"] * record.metrics["test"]["n"])
    if correct != recorded:
        print(f"{record.model}: fp32 here counts {correct}, the run recorded {recorded}", file=sys.stderr)
    target = PACKAGE_DIR / record.model
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in (WEIGHTS, RECORD):
        shutil.copy2(run_dir / file, target / file)
    write_json_atomic(
        target / PROVENANCE,
        {
            **provenance,
            "command": provenance["command"].replace("VARIANT", record.model),
            "date": record.created_at[:10],
            "seed": record.train_config["seed"],
            "correct": correct,
            "n": len(result.labels),
        },
    )
    print(
        f"{record.model}: {correct}/{len(result.labels)} correct, {(target / WEIGHTS).stat().st_size:,} bytes"
    )
    references(target)


def references(folder: Path) -> None:
    """Count the default model's (and, for a flip-measured recipe, the flipped model's) correct test
    predictions on this CPU in fp32, and write the reference images and logits beside the weights."""
    import torch
    from safetensors.torch import save_file

    from zoo.data import load_raw
    from zoo.weights.use import default_logits, make_reference

    model, record = load_run(folder)
    _, test, _ = load_raw(record.dataset)
    made = json.loads((folder / PROVENANCE).read_text())
    counts = {"correct": made["correct"]}  # counted by ship() on the CPU that made the run: kept
    if record.train_config.get("test_time_flip"):
        # that count was of the flipped model (the recipe's own figure); the default one is counted here
        counts["correct_tta"] = made.get("correct_tta", made["correct"])
        logits = default_logits(model, record, test.images)
        counts["correct"] = int((logits.argmax(1) == test.labels).sum())
        counts["log_loss"] = round(float(torch.nn.functional.cross_entropy(logits, test.labels)), 6)
    save_file(
        make_reference(model, record, test), str(folder / REFERENCE), metadata={"format": "zoo.reference/1"}
    )
    write_json_atomic(folder / PROVENANCE, {**made, **counts, "n": len(test.labels)})
    print(f"{folder.name}: default {counts['correct']}, with flips {counts.get('correct_tta', '-')}")


def write_table() -> None:
    entries = []
    for folder in sorted(p for p in PACKAGE_DIR.iterdir() if (p / PROVENANCE).is_file()):
        made = json.loads((folder / PROVENANCE).read_text())
        entries.append(
            f'    "{folder.name}": Weights(\n'
            f'        sha256="{sha256_file(folder / WEIGHTS)}",\n'
            f'        record_sha256="{sha256_file(folder / RECORD)}",\n'
            f"        size={(folder / WEIGHTS).stat().st_size},\n"
            f"        correct={made['correct']},\n"
            f"        n={made['n']},\n"
            + (f"        correct_tta={made['correct_tta']},\n" if made.get("correct_tta") else "")
            + (
                f'        reference_sha256="{sha256_file(folder / REFERENCE)}",\n'
                if (folder / REFERENCE).is_file()
                else ""
            )
            + "    ),\n"
        )
    head = TABLE.read_text().split(MARKER, 1)[0]
    write_text_atomic(TABLE, head + MARKER + "SHIPPED: dict[str, Weights] = {\n" + "".join(entries) + "}\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--command", help="the command that trained the runs (VARIANT: each one's name)")
    parser.add_argument("--machine", help="lscpu model and flags, cores and threads used")
    parser.add_argument("--commit", help="the zoo commit the runs were trained at")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--references", action="store_true", help="re-count and write reference images")
    args = parser.parse_args()
    if args.references:
        for folder in sorted(p for p in PACKAGE_DIR.iterdir() if (p / PROVENANCE).is_file()):
            references(folder)
    elif not args.table_only:
        if not (args.runs and args.command and args.machine and args.commit):
            parser.error("give RUN_DIRs with --command, --machine and --commit")
        for run_dir in args.runs:
            ship(run_dir, {"command": args.command, "machine": args.machine, "commit": args.commit})
    write_table()


if __name__ == "__main__":
    main()
