"""The time-to-accuracy benchmark's arithmetic: the median over seeds and pooling seeds run apart."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import time_to_accuracy as tta


def run(seed: int, accs: list[float], seconds_per_epoch: float = 10.0, lr: float = 0.1) -> dict:
    curve = [
        {"epoch": i + 1, "train_seconds": seconds_per_epoch * (i + 1), "test_acc": acc}
        for i, acc in enumerate(accs)
    ]
    config = {"epochs": len(accs), "lr": lr, "seed": seed}
    return {"seed": seed, "curve": curve, "num_params": 1000, "config": config, "hyperparameters": {"w": 8}}


def test_median_counts_a_seed_that_never_reaches_as_slowest():
    runs = [run(0, [0.91, 0.925]), run(1, [0.93, 0.94]), run(2, [0.90, 0.91])]
    assert tta.median_time(runs, 0.92) == 20.0  # 10 s, 20 s, never: the middle one is 20 s
    assert tta.median_time(runs, 0.93) is None  # only one seed of three reaches 93%


def test_even_seed_count_takes_the_slower_middle():
    assert tta.median_time([run(0, [0.93]), run(1, [0.90, 0.93])], 0.93) == 20.0


def write(path: Path, machine: str, variants: dict) -> Path:
    path.write_text(json.dumps({"machine": machine, "date": "2026-11-23", "variants": variants}))
    return path


def test_merge_pools_seeds_of_one_recipe_and_keeps_recipes_apart(tmp_path):
    a = write(tmp_path / "a.json", "cpu", {"m": {"set": [], "runs": [run(0, [0.93])]}})
    # The same recipe spelled out with --set pools with the default; another learning rate does not.
    b = write(
        tmp_path / "b.json",
        "cpu",
        {"m": {"set": ["epochs=1"], "runs": [run(1, [0.92]), run(2, [0.94])]}},
    )
    c = write(tmp_path / "c.json", "cpu", {"m": {"set": ["lr=0.2"], "runs": [run(0, [0.95], lr=0.2)]}})
    merged = tta.merged([a, b, c])
    rows = list(merged["variants"].values())
    assert [len(r["runs"]) for r in rows] == [3, 1]
    assert [r["runs"][0]["config"]["lr"] for r in rows] == [0.1, 0.2]
    assert tta.median_time(rows[0]["runs"], 0.93) == 10.0


def test_merge_refuses_runs_from_different_machines(tmp_path):
    a = write(tmp_path / "a.json", "cpu-a", {"m": {"set": [], "runs": [run(0, [0.93])]}})
    b = write(tmp_path / "b.json", "cpu-b", {"m": {"set": [], "runs": [run(1, [0.93])]}})
    with pytest.raises(SystemExit, match="times do not compare"):
        tta.merged([a, b])


def test_the_table_gives_training_images_per_second_of_each_variant(capsys):
    fast, slow = run(0, [0.93, 0.94], seconds_per_epoch=2.0), run(1, [0.93, 0.94], seconds_per_epoch=4.0)
    fast["n_train"] = slow["n_train"] = 1000
    older = run(2, [0.93])  # saved before n_train was recorded: no figure rather than a wrong one
    results = {
        "machine": "m",
        "date": "d",
        "variants": {"a": {"set": [], "runs": [fast, slow]}, "b": {"set": [], "runs": [older]}},
    }
    tta.print_table(results, [0.93])
    rows = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| a") or line.startswith("| b")
    ]
    assert rows[0].endswith("| 375 |")  # 1000 images x 2 epochs in 4 s and in 8 s: median of 500 and 250
    assert rows[1].endswith("|  |")
