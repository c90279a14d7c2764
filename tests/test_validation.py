"""Bad input fails before any work starts: one line naming the key, the value and the allowed range,
exit 2, no traceback, and nothing written (no epoch ran, no run folder)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import UsageError
from zoo.models.params import ARCHITECTURE, TRAINING, check_value
from zoo.models.registry import get_spec, list_models
from zoo.train.config import TrainConfig

runner = CliRunner()
ZOO = str(Path(sys.executable).parent / "zoo")

# A value of a search-space parameter is pinned in the sampler by `zoo tune`: it is checked against the
# search space's own range or choices, the tighter rule.
IN_SPACE = {
    "lr=0.1,0.2": "not one of the search space's choices (0.001, 0.0001, 1e-05)",
    "dropout=1.5": "the search space takes dropout in [0.0, 0.3]",
}
BAD_SETS = [
    ("lr=0.1,0.2", "lr takes a number > 0"),
    ("weight_decay=-1", "weight_decay takes a number in [0, 1]"),
    ("momentum=-3", "momentum takes a number in [0, 1)"),
    ("dropout=1.5", "dropout takes a number in [0, 1)"),
    ("batch_size=2,3", "batch_size takes an integer"),
    ("epochs=1,2", "epochs takes an integer"),
    ("hidden=0", "hidden takes an integer ≥ 1"),
    ("augment_classes=99", "class indices go from 0 to 9"),
    ("patience=-1", "patience takes an integer ≥ 0"),
    ("label_smoothing=1", "label_smoothing takes a number in [0, 1)"),
    ("activation=swish", "activation takes one of relu"),
    ("subset=0", "subset takes an integer ≥ 1"),
    ("device=tpu", "device takes text matching"),
    ("lrr=0.1", "did you mean lr?"),
]


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("item, message", BAD_SETS, ids=[b[0] for b in BAD_SETS])
@pytest.mark.parametrize("command", ["train", "tune"])
def test_every_bad_value_is_one_line_exit_2_before_any_work(command, item, message, tmp_path):
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), command, "fashion-mlp", "--set", item])
    assert_clean_error(result, 2, IN_SPACE.get(item, message) if command == "tune" else message)
    assert result.stdout.strip() == ""  # no epoch line, no table
    assert not (tmp_path / "a").exists()  # nothing written, no data loaded into a cache


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ZOO_HEARTBEAT_SECONDS": "abc"}, "ZOO_HEARTBEAT_SECONDS='abc' is not allowed"),
        ({"ZOO_GRACE_SECONDS": "0"}, "ZOO_GRACE_SECONDS='0' is not allowed"),
        ({"ZOO_HEARTBEAT_SECONDS": "30", "ZOO_GRACE_SECONDS": "20"}, "must be longer than"),
    ],
)
def test_bad_environment_is_one_line(env, message, tmp_path, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), "tune", "fashion-mlp", "--trials", "1"])
    assert_clean_error(result, 2, message)
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("key", sorted(ARCHITECTURE | TRAINING))
def test_each_rule_accepts_its_default_kind_and_refuses_garbage(key):
    with pytest.raises(UsageError, match=f"{key}=.* is not allowed: {key} takes"):
        check_value(key, "garbage" if key not in ("device",) else 3)
    with pytest.raises(UsageError):
        check_value(key, [object()])


@pytest.mark.parametrize("name", list_models())
def test_every_registered_default_passes_its_own_rules(name):
    from zoo.train.config import resolve

    spec = get_spec(name)  # a dataset-agnostic variant's for a dataset: its class count is checked too
    resolve(spec, dataset=spec.dataset or "mnist")  # a registry entry with an out-of-range default fails here


def test_train_config_from_python_is_checked_like_the_command_line():
    with pytest.raises(UsageError, match="momentum=2"):
        TrainConfig(momentum=2)
    assert TrainConfig(augment_classes=[2, 6]).augment_classes == (2, 6)


def test_an_unwritable_destination_fails_before_any_epoch(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "file" / "x"), "train", "fashion-mlp"])
    assert_clean_error(result, 1, "is a file, not a folder")
    assert "epoch" not in result.output


def test_a_full_disk_fails_before_training_not_after(small_tmpfs):
    tiny_disk = small_tmpfs("3m")
    (tiny_disk / "filler").write_bytes(b"\0" * (2 * 2**20 + 2**19))  # 0.5 MiB left
    env = {**os.environ, "COLUMNS": "200"}
    command = f"{ZOO} --artifacts {tiny_disk / 'a'} train fashion-mlp --subset 1000 --epochs 1"
    done = subprocess.run(
        command.split(),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "not enough space for the run" in done.stderr and "Traceback" not in done.stderr
    assert "epoch" not in done.stdout + done.stderr


def test_export_report_and_bench_check_their_destination_before_the_work(fashion_small, tmp_path):
    from zoo.train.runs import train_run

    run = train_run("fashion-mlp", {"epochs": 1, "subset": 1000}, data=fashion_small, run_dir=tmp_path / "r")
    (tmp_path / "file").write_text("a regular file")
    blocked = str(tmp_path / "file" / "x")
    for command in (
        ["export", str(run.run_dir), "--out", blocked],
        ["report", str(run.run_dir), "--out", blocked],
    ):
        result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), *command])
        assert_clean_error(result, 1, "is a file, not a folder")
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), "bench", "--out", blocked])
    assert_clean_error(result, 1, "is a file, not a folder")


# ---------------------------------------------------------------------------------- one printable-text rule

# one character of each kind the rule refuses: C0, DEL, C1 (CSI), ALM, LRM/RLM, LS/PS, overrides, isolates
REFUSED = [
    "\x00",
    "\x1b",
    "\n",
    "\x7f",
    "\x9b",
    "\u061c",
    "\u200e",
    "\u200f",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2069",
]


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_every_reader_and_printer_holds_the_same_printable_rule(char):
    """The rule was written four times and had drifted: an ONNX file's metadata took U+2028 in a class
    name, which folder datasets and the terminal refuse."""
    from pydantic import TypeAdapter, ValidationError

    from cli.console import printable
    from zoo.data.manifest import Manifest
    from zoo.data.scan import shown
    from zoo.export.exported import ModelMetadata

    name = f"cat{char}dog"
    with pytest.raises(ValidationError, match="class_names"):
        TypeAdapter(ModelMetadata).validate_python({"class_names": [name]})
    with pytest.raises(ValidationError, match="class_names"):
        TypeAdapter(Manifest).validate_python({"class_names": [name, "bird"]})
    assert char not in printable(name) and char not in shown(name)
