"""Issue 38: a run is bound to its data. A folder dataset removed and added again from other images under
the same name was measured silently under the run's class names (export, bench, compare, report), or failed
as an internal shape error; an evaluation never splits the training images it does not use."""

import json

import pytest
from cliutil import assert_clean_error
from imagefolders import make_image_folder
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def _ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def pets_run(tmp_path, monkeypatch):
    """`zoo train mlp --dataset pets` on cat/dog, then exported: (run folder, export folder)."""
    monkeypatch.setenv("COLUMNS", "200")
    _ok(
        ["data", "add", "pets", str(make_image_folder(tmp_path / "a", {"cat": 12, "dog": 12})), "--size", "8"]
    )
    trained = json.loads(_ok(["train", "mlp", "--dataset", "pets", "--set", "epochs=1", "--json"]).stdout)
    run = trained["run_dir"]
    _ok(["export", run, "--out", str(tmp_path / "export")])
    return run, tmp_path / "export"


def _swap(tmp_path, classes, size="8"):
    _ok(["data", "remove", "pets"])
    _ok(["data", "add", "pets", str(make_image_folder(tmp_path / "b", classes)), "--size", size])


@pytest.mark.parametrize(
    ("classes", "size", "differs"),
    [
        ({"owl": 12, "fox": 12}, "8", "classes cat, dog then, fox, owl now"),  # same shape, other classes
        ({"cat": 14, "dog": 14}, "8", "images sha256"),  # same names, other images
        ({"cat": 12, "dog": 12}, "10", "images 1x8x8 then, 1x10x10 now"),  # another shape: was exit 70
    ],
)
def test_a_dataset_swapped_under_a_run_is_refused_by_every_command_that_reuses_it(
    pets_run, tmp_path, classes, size, differs
):
    run, export = pets_run
    _swap(tmp_path, classes, size)
    for args in (
        ["export", run, "--out", str(tmp_path / "again"), "--force"],
        ["compare", run, str(export / "model.onnx"), "--no-latency"],
        ["report", run, "--out", str(tmp_path / "report")],
        ["bench", str(export), "--runtime", "onnxruntime", "--iters", "1", "--warmup", "0"],
    ):
        result = runner.invoke(app, args)
        if args[0] == "bench" and "then, 1x10x10 now" in differs:
            # a shape the export cannot take was already one line (exported.check_dataset)
            assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
            continue
        assert_clean_error(result, 1, "on another dataset than the one now named 'pets'")
        assert differs in " ".join(result.output.split()), args
    assert not (tmp_path / "again").exists() and not (tmp_path / "report").exists()


def test_an_export_of_a_removed_dataset_still_predicts(pets_run, tmp_path):
    from PIL import Image

    run, export = pets_run
    _ok(["data", "remove", "pets"])
    Image.new("L", (8, 8), 200).save(tmp_path / "x.png")
    rows = json.loads(_ok(["predict", str(export / "model.onnx"), str(tmp_path / "x.png"), "--json"]).stdout)
    assert rows[0]["class_name"] in ("cat", "dog")
    gone = runner.invoke(app, ["export", run, "--out", str(tmp_path / "again")])
    assert_clean_error(gone, 1, "which is not here now")


def test_a_resume_on_other_data_under_the_same_name_is_refused(tmp_path):
    from zoo.data import load
    from zoo.data.identity import DatasetChanged
    from zoo.train.resume import ResumeRequest
    from zoo.train.runs import _bound_to_data

    _ok(
        ["data", "add", "pets", str(make_image_folder(tmp_path / "a", {"cat": 12, "dog": 12})), "--size", "8"]
    )
    folder = tmp_path / "unfinished"
    folder.mkdir()
    request = ResumeRequest.new(
        model="mlp",
        dataset="pets",
        overrides={},
        data_dir=None,
        run_dir=str(tmp_path / "artifacts" / "runs" / "mlp" / "r"),
        evaluate_test=True,
        extra_record={},
        epochs=10,
    )
    _bound_to_data(request, folder, load("pets")).write(folder)  # the run starts: its data is recorded
    assert _bound_to_data(request, folder, load("pets")).data_sha256 == ResumeRequest.read(folder).data_sha256
    _swap(tmp_path, {"cat": 14, "dog": 14})  # same names, other images
    with pytest.raises(DatasetChanged, match="started on other data than dataset 'pets' holds now"):
        _bound_to_data(request, folder, load("pets"))


def test_an_evaluation_only_dataset_is_benched_without_splitting_its_training_images(tmp_path):
    """200 classes x 5 images were refused: bench re-split the training images with val_fraction=0.1."""
    import numpy as np
    from imagefolders import class_pixels
    from PIL import Image
    from test_foreign_onnx import FEED, _export, _network

    root, rng = tmp_path / "src", np.random.default_rng(0)
    for split, n in (("train", 1), ("test", 6)):
        for label, name in enumerate(("a", "b")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(class_pixels(label, 2, (28, 28), "L", rng)).save(
                    root / split / name / f"{i}.png"
                )
    _ok(["data", "add", "tiny", str(root), "--size", "28"])
    model = _export(_network(classes=2), tmp_path / "two.onnx", (1, 1, 28, 28))
    feed = [a if a != "fashion-mnist" else "tiny" for a in FEED]
    result = runner.invoke(
        app,
        ["bench", str(model), *feed, "--runtime", "onnxruntime", "--iters", "1", "--warmup", "0", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["available"]


# ---------------------------------------------------------------------- splits of many small classes


def test_split_problem_says_the_smallest_fraction_that_splits():
    from zoo.data.splits import split_problem

    assert split_problem([4] * 50, 0.1) == (
        "val_fraction=0.1 gives 20 validation image(s) for 50 classes, fewer than one per class: use "
        "--set val_fraction=0.25 or more"
    )
    assert split_problem([4] * 50, 0.25) is None and split_problem([100] * 10, 0.1) is None
    assert "fewer than 2 training images" in split_problem([1, 9, 9], 0.5)
    assert split_problem([1, 9], 0) is None  # no validation split: nothing to refuse


def test_data_add_says_what_the_default_split_will_refuse_and_the_fraction_it_says_trains(tmp_path):
    many = make_image_folder(tmp_path / "many", {f"c{i:02d}": 5 for i in range(40)})
    added = _ok(["data", "add", "many", str(many), "--size", "8"])
    said = " ".join(added.output.split())
    assert "split a validation set off the training images: val_fraction=0.1 gives" in said
    fraction = said.split("use --set val_fraction=")[1].split()[0]
    refused = runner.invoke(app, ["train", "mlp", "--dataset", "many", "--set", "epochs=1"])
    assert_clean_error(refused, 2, f"use --set val_fraction={fraction} or more")
    _ok(["train", "mlp", "--dataset", "many", "--set", "epochs=1", "--set", f"val_fraction={fraction}"])


def test_tune_of_a_recipe_without_a_validation_split_runs_as_written(tmp_path):
    """`zoo tune cnn-fast --dataset X` (the README's command) refused and asked for val_fraction."""
    _ok(
        ["data", "add", "pets", str(make_image_folder(tmp_path / "a", {"cat": 20, "dog": 20})), "--size", "8"]
    )
    result = _ok(["tune", "cnn-fast", "--dataset", "pets", "--trials", "1", "--epochs", "1", "--json"])
    assert "its trials are scored on a validation split of 0.1" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["best"] is not None
