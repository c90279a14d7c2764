"""zoo export: every family exports, parity holds, metadata round-trips, failures leave nothing."""

import json

import fakedata
import numpy as np
import onnx
import pytest
from cliutil import assert_clean_error
from typer.testing import CliRunner

from cli.main import app
from zoo.core.errors import UsageError
from zoo.export import exporter as export_module
from zoo.export.exporter import ExportConflict, ExportError, ExportOptions, export_run, read_metadata
from zoo.models.registry import get_spec, list_models
from zoo.train.checkpoint import WEIGHTS
from zoo.train.runs import train_run

runner = CliRunner()
# export checks graphs and files; the small official-format files keep each export under a second
pytestmark = pytest.mark.usefixtures("fake_fashion_dir")


@pytest.fixture(scope="module")
def trained_run(fake_fashion, tmp_path_factory):
    """fashion-cnn, 2 epochs on the small files."""
    return train_run(
        "fashion-cnn",
        {"epochs": 2},
        data=fake_fashion[1],
        run_dir=tmp_path_factory.mktemp("runs") / "cnn",
    ).run_dir


def _fake_data_dir(dataset: str, root):
    if dataset == "cifar10":
        return fakedata.make_cifar_dataset(root / "cifar10", n_per_batch=40)
    return fakedata.make_idx_dataset(root / dataset, n_train=300, n_test=120)


@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).dataset])
def test_every_family_exports_with_parity(name, tmp_path):
    """Every preset, on small files in its dataset's official format (120 test images): parity is about
    the graph, not the test set's size; the full Fashion-MNIST test set made the ResNets take minutes.
    The dataset-agnostic variants build these families' graphs; tests/test_any_dataset.py exports them."""
    spec = get_spec(name)
    data_dir = str(_fake_data_dir(spec.dataset, tmp_path))
    # The wide ResNet's graph at a quarter of its width: the same blocks and dropout, 1/16 of the compute
    # (its full size cost 8-16 s here, and size is not what this test is about).
    narrower = {"widths": (16, 32, 64)} if name == "fashion-resnet-wide" else {}
    run = train_run(
        name,
        {"epochs": 1, "subset": 200, "batch_size": 32, **narrower},
        data_dir=data_dir,
        run_dir=tmp_path / "run",
    )
    result = export_run(run.run_dir, ExportOptions(out=tmp_path / "out"), data_dir=data_dir)
    fp32 = result.parity["fp32"]
    assert fp32["passed"] and fp32["argmax_agreement"] >= 0.999 and fp32["max_abs_logit_diff"] <= 1e-3
    assert fp32["batch_sizes_ok"] == {"1": True, "7": True, "64": True}
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["SHA256SUMS", "card.md", "model.json", "model.onnx", "parity.json"]


def test_dynamic_batch_single_file_and_metadata_round_trip(trained_run, tmp_path):
    result = export_run(trained_run, ExportOptions(out=tmp_path / "m"))
    path = tmp_path / "m" / "model.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert model.opset_import[0].version >= 18
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    meta = read_metadata(path)
    assert meta["zoo.format"] == "zoo.onnx/1" and meta["model"] == "fashion-cnn"
    assert meta["class_names"][9] == "Ankle boot" and meta["input_shape"] == [1, 28, 28]
    assert len(meta["mean"]) == 1 and meta["hyperparameters"]["filters"] == [64, 32]
    assert meta["metrics"]["test"]["n"] == 500 and meta["versions"]["onnx"] == onnx.__version__
    assert meta["weights_sha256"] and meta == result.metadata | {"created_at": meta["created_at"]}
    sums = dict(line.split("  ")[::-1] for line in (tmp_path / "m" / "SHA256SUMS").read_text().splitlines())
    from zoo.train.checkpoint import sha256_file

    assert sums["model.onnx"] == sha256_file(path)
    card = (tmp_path / "m" / "card.md").read_text()
    assert "onnxruntime" in card and "Ankle boot" in card


def test_exports_are_single_pass_unless_tta_is_asked(trained_run, tmp_path):
    import onnxruntime as ort

    plain = export_run(trained_run, ExportOptions(out=tmp_path / "plain"))
    both = export_run(trained_run, ExportOptions(out=tmp_path / "tta", tta=True))
    assert plain.metadata["test_time_augmentation"] == "none"
    assert both.metadata["test_time_augmentation"].startswith("hflip")
    assert both.parity["fp32"]["passed"]
    for result in (plain, both):
        exported = result.metadata["metrics"]["test_exported"]["accuracy"]
        assert exported == result.parity["fp32"]["accuracy_onnx"]

    def run(folder, x):
        session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    mirrored = x[..., ::-1].copy()
    np.testing.assert_allclose(run(tmp_path / "tta", x), run(tmp_path / "tta", mirrored), atol=1e-5)
    expected = (run(tmp_path / "plain", x) + run(tmp_path / "plain", mirrored)) / 2
    np.testing.assert_allclose(run(tmp_path / "tta", x), expected, atol=1e-4)
    assert not np.allclose(run(tmp_path / "plain", x), run(tmp_path / "plain", mirrored), atol=1e-3)


def _own_figures(path, data):
    """A file's test accuracy and log loss, by plain onnxruntime and numpy."""
    import onnxruntime as ort

    meta = read_metadata(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mean = np.array(meta["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(meta["std"], np.float32).reshape(1, -1, 1, 1)
    x = ((data.test.images.numpy() / np.float32(255) - mean) / std).astype(np.float32)
    logits = session.run(["logits"], {"images": x})[0].astype(np.float64)
    labels = data.test.labels.numpy()
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float((logits.argmax(1) == labels).mean()), float(
        -log_probs[np.arange(len(labels)), labels].mean()
    )


def test_int8_and_fp16_variants_record_their_own_figures(trained_run, fake_fashion, tmp_path):
    """model.int8.onnx and model.fp16.onnx said `test_exported` = model.onnx's accuracy."""
    result = export_run(trained_run, ExportOptions(out=tmp_path / "q", int8=True, fp16=True))
    assert result.parity["int8"]["drop_points"] <= 1.0
    assert result.parity["fp16"]["argmax_agreement"] >= 0.999
    quantization = read_metadata(tmp_path / "q" / "model.int8.onnx")["quantization"]
    assert quantization["name"] == result.parity["int8"]["recipe"] and "QDQ" in quantization["description"]
    ops = {n.op_type for n in onnx.load(str(tmp_path / "q" / "model.int8.onnx")).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    own = {}
    for name in ("model.onnx", "model.int8.onnx", "model.fp16.onnx"):
        own[name] = read_metadata(tmp_path / "q" / name)["metrics"]["test_exported"]
        accuracy, log_loss = _own_figures(tmp_path / "q" / name, fake_fashion[1])
        assert own[name]["n"] == 500 and own[name]["accuracy"] == pytest.approx(accuracy, abs=1e-4), name
        assert own[name]["log_loss"] == pytest.approx(log_loss, rel=1e-3, abs=1e-4), name
    assert own["model.int8.onnx"]["accuracy"] == result.parity["int8"]["accuracy"]
    assert own["model.fp16.onnx"]["accuracy"] == result.parity["fp16"]["accuracy_onnx"]


def test_the_quantization_record_says_what_the_int8_file_holds(exported):
    """NNCF quantizes the outputs of non-negative ops to uint8 and the rest to int8: the record said
    `activations: int8` whatever the file held."""
    path = exported / "models" / "fashion-mlp" / "t0" / "model.int8.onnx"
    model = onnx.load(str(path))
    dtypes = {t.name: onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in model.graph.initializer}
    counts: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear":
            counts[dtypes[node.input[2]]] = counts.get(dtypes[node.input[2]], 0) + 1
    quantization = read_metadata(path)["quantization"]
    assert quantization["activation_zero_points"] == counts and sum(counts.values()) > 0
    assert quantization["activations"] == (next(iter(counts)) if len(counts) == 1 else "mixed")
    if quantization["name"] == "nncf":  # what the issue saw: uint8 zero points after GELU
        assert quantization["activations"] == "mixed" and counts["uint8"] > 0
    parity = json.loads((path.parent / "parity.json").read_text())
    assert parity["int8"]["activations"] == quantization["activations"]


def test_each_onnx_file_has_its_metadata_as_plain_json_beside_it(exported, tmp_path):
    """onnxruntime-web and other clients expose no metadata_props: model.json carries the same content."""
    import shutil

    from zoo.core.fileio import sha256_file
    from zoo.export.exported import ExportedModelError, read_metadata_json

    folder = exported / "models" / "fashion-mlp" / "t0"
    sums = dict(line.split("  ")[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    for onnx_name, json_name in (("model.onnx", "model.json"), ("model.int8.onnx", "model.int8.json")):
        props = {p.key: json.loads(p.value) for p in onnx.load(str(folder / onnx_name)).metadata_props}
        plain = json.loads((folder / json_name).read_text())
        assert plain == props and plain["image_preprocessing"]["polarity"] == "light-on-dark"
        assert read_metadata_json(folder / json_name) == read_metadata(folder / onnx_name)
        assert sums[json_name] == sha256_file(folder / json_name)
    assert json.loads((folder / "model.int8.json").read_text())["quantization"]["activations"]
    copy = tmp_path / "model.json"
    shutil.copy(folder / "model.json", copy)
    tampered = json.loads(copy.read_text())
    tampered["image_preprocessing"]["resize"]["height"] = 32
    copy.write_text(json.dumps(tampered))
    with pytest.raises(
        ExportedModelError, match=r"image_preprocessing\.resize: 32x28 is not 28x28"
    ) as caught:
        read_metadata_json(copy)
    assert str(copy) in str(caught.value) and len(str(caught.value).splitlines()) == 1


def test_an_export_of_an_older_zoo_gains_its_model_json_without_force(trained_run, tmp_path):
    from zoo.export.exported import write_sums

    export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    (tmp_path / "e" / "model.json").unlink()  # as an older zoo wrote the folder
    write_sums(tmp_path / "e")
    again = export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    assert not again.up_to_date and (tmp_path / "e" / "model.json").is_file()
    assert export_run(trained_run, ExportOptions(out=tmp_path / "e")).up_to_date


def test_int8_over_threshold_is_refused_and_leaves_nothing(trained_run, tmp_path):
    with pytest.raises(ExportError, match="int8 model loses"):
        export_run(trained_run, ExportOptions(out=tmp_path / "q", int8=True, max_int8_drop=-100))
    assert not (tmp_path / "q").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left either


def test_failed_parity_leaves_nothing(trained_run, tmp_path, monkeypatch):
    def bad_parity(path, model, data, max_diff):
        return {
            "passed": False,
            "argmax_agreement": 0.9,
            "max_abs_logit_diff": 0.5,
            "thresholds": {"max_abs_logit_diff": max_diff},
            "batch_sizes_ok": {"1": True},
        }

    monkeypatch.setattr(export_module, "parity", bad_parity)
    with pytest.raises(ExportError, match="parity failed"):
        export_run(trained_run, ExportOptions(out=tmp_path / "p"))
    assert list(tmp_path.iterdir()) == []


def test_same_export_again_is_up_to_date_and_writes_nothing(trained_run, tmp_path):
    first = export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    stamp = (tmp_path / "e" / "model.onnx").stat().st_mtime_ns
    again = export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    assert again.up_to_date and not first.up_to_date
    assert (tmp_path / "e" / "model.onnx").stat().st_mtime_ns == stamp
    assert again.metadata["weights_sha256"] == first.metadata["weights_sha256"]
    # another graph of the same weights (two passes): replacing the file people use needs force
    with pytest.raises(ExportConflict, match=r"made another way \(opset 18, tta False\).*--force"):
        export_run(trained_run, ExportOptions(out=tmp_path / "e", tta=True))
    assert (tmp_path / "e" / "model.onnx").stat().st_mtime_ns == stamp


def test_variants_of_the_same_weights_are_added_and_never_dropped(trained_run, tmp_path):
    export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    added = export_run(trained_run, ExportOptions(out=tmp_path / "e", int8=True))  # no force needed
    assert not added.up_to_date and (tmp_path / "e" / "model.int8.onnx").is_file()
    plain = export_run(trained_run, ExportOptions(out=tmp_path / "e"))  # fp32 is there: up to date
    assert plain.up_to_date and (tmp_path / "e" / "model.int8.onnx").is_file()
    both = export_run(trained_run, ExportOptions(out=tmp_path / "e", fp16=True))
    names = sorted(p.name for p in (tmp_path / "e").iterdir())
    assert not both.up_to_date and {"model.int8.onnx", "model.fp16.onnx"} <= set(names)


def test_a_damaged_export_of_the_same_weights_is_rebuilt(trained_run, tmp_path):
    export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    (tmp_path / "e" / "card.md").write_text("edited")
    rebuilt = export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    assert not rebuilt.up_to_date and "edited" not in (tmp_path / "e" / "card.md").read_text()


def test_a_folder_of_the_users_files_is_never_replaced(trained_run, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("months of work")
    with pytest.raises(ExportConflict, match="not a zoo export"):
        export_run(trained_run, ExportOptions(out=tmp_path / "mine", force=True))
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "months of work"


def test_onnx_runs_with_plain_onnxruntime_as_the_card_says(trained_run, fake_fashion, tmp_path):
    import onnxruntime as ort

    export_run(trained_run, ExportOptions(out=tmp_path / "c"))
    session = ort.InferenceSession(str(tmp_path / "c" / "model.onnx"))
    meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    mean = np.array(meta["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(meta["std"], np.float32).reshape(1, -1, 1, 1)
    test = fake_fashion[1].test
    pixels = test.images.numpy()
    logits = session.run(["logits"], {"images": ((pixels / 255.0 - mean) / std).astype(np.float32)})[0]
    accuracy = (logits.argmax(1) == test.labels.numpy()).mean()
    assert accuracy == pytest.approx(meta["metrics"]["test_exported"]["accuracy"], abs=1e-6)


def test_cli_export_best_from_a_study(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    base = ["--artifacts", str(tmp_path / "a")]
    tuned = runner.invoke(
        app,
        [
            *base,
            "tune",
            "fashion-mlp",
            "--trials",
            "2",
            "--epochs",
            "1",
            "--subset",
            "500",
            "--no-retrain",
            "--json",
        ],
    )
    assert tuned.exit_code == 0, tuned.output
    best = json.loads(tuned.stdout)["best"]["number"]
    result = runner.invoke(app, [*base, "export", "best"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "a" / "models" / "fashion-mlp" / f"fashion-mlp-t{best}"
    assert (folder / "model.onnx").is_file() and "parity" in result.stdout
    meta = read_metadata(folder / "model.onnx")
    assert meta["study"] == "fashion-mlp" and meta["trial"] == best
    again = runner.invoke(app, [*base, "export", "fashion-mlp"])
    assert again.exit_code == 0 and "up to date" in again.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["export", "best"], 1, "no studies yet"),
        (["export", "fashion-cnn"], 1, "no studies yet"),
        (["export", "./no/such/run"], 1, "does not exist"),
    ],
)
def test_cli_export_bad_input(args, code, message, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), *args])
    assert_clean_error(result, code, message)
    assert not (tmp_path / "a" / "models").exists()


def test_cli_export_mismatched_weights(trained_run, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("COLUMNS", "200")
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    data = bytearray((copy / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / WEIGHTS).write_bytes(bytes(data))
    result = runner.invoke(app, ["--artifacts", str(tmp_path / "a"), "export", str(copy)])
    assert result.exit_code == 1 and "does not match the sha256" in result.stderr
    assert not (tmp_path / "a" / "models").exists()


def test_opset_too_old(trained_run, tmp_path):
    with pytest.raises(UsageError, match="opset 18"):
        export_run(trained_run, ExportOptions(out=tmp_path / "o", opset=13))
    assert list(tmp_path.iterdir()) == []


def _no_work(monkeypatch):
    """Make loading the run fail loudly: a refusal must come before any work."""

    def loaded(*args, **kwargs):
        raise AssertionError("the run was loaded: the export started before refusing")

    monkeypatch.setattr(export_module, "load_run", loaded)


@pytest.mark.parametrize(
    "out, message",
    [
        (".", "is the current directory"),
        ("..", "holds the current directory"),
        ("{link_to_here}", "is the current directory"),
        ("{run}", "is the run being exported"),
        ("{run_parent}", "holds the run being exported"),
        ("{artifacts}", "is the artifacts folder"),
        ("/", "is the root folder"),
        ("{a_file}", "is a file, not a folder"),
    ],
    ids=["cwd", "parent-of-cwd", "link-to-cwd", "run", "runs-folder", "artifacts", "root", "file"],
)
def test_an_out_that_cannot_be_replaced_as_a_folder_is_refused_before_any_work(
    out, message, trained_run, tmp_path, monkeypatch
):
    """`--out .` ran the whole export, then died on EBUSY as an internal error: every destination that
    cannot be replaced as a whole is one line (exit 2) naming it, before the run is even loaded."""
    monkeypatch.setenv("COLUMNS", "200")
    here = tmp_path / "here"  # an empty current directory: nothing else stopped the export there
    here.mkdir()
    (tmp_path / "link").symlink_to(here, target_is_directory=True)
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    _no_work(monkeypatch)
    values = {
        "link_to_here": tmp_path / "link",
        "run": trained_run,
        "run_parent": trained_run.parent,
        "artifacts": tmp_path / "a",
        "a_file": tmp_path / "notes.txt",
    }
    result = runner.invoke(
        app, ["--artifacts", str(tmp_path / "a"), "export", str(trained_run), "--out", out.format(**values)]
    )
    assert_clean_error(result, 2, message)
    assert "pick a new or empty folder" in result.stderr
    assert list(here.iterdir()) == [] and (tmp_path / "notes.txt").read_text() == "mine"


def test_the_current_directory_is_refused_even_when_it_holds_an_export(trained_run, tmp_path, monkeypatch):
    """An export folder may be replaced with --force, but not while it is the current directory."""
    monkeypatch.setenv("COLUMNS", "200")
    export_run(trained_run, ExportOptions(out=tmp_path / "e"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "e").iterdir()}
    monkeypatch.chdir(tmp_path / "e")
    _no_work(monkeypatch)
    result = runner.invoke(app, ["export", str(trained_run), "--out", ".", "--force", "--tta"])
    assert_clean_error(result, 2, "is the current directory")
    assert {p.name: p.read_bytes() for p in (tmp_path / "e").iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".zoo-")]


def test_a_folder_of_the_users_files_is_refused_before_any_work(trained_run, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("months of work")
    _no_work(monkeypatch)
    result = runner.invoke(app, ["export", str(trained_run), "--out", str(tmp_path / "mine"), "--force"])
    assert_clean_error(result, 1, "not a zoo export")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]


def test_an_opset_outside_the_exporters_range_is_refused_with_the_range(trained_run, tmp_path, monkeypatch):
    """`--opset 99` printed onnxscript's traceback, then an error naming a deleted temporary file, after
    9 s: the range is the installed exporter's (onnxscript's version converter), refused up front."""
    from onnxscript.version_converter import _version_converter as converter

    low, high = 18, min(converter.SUPPORTED_MAX_ONNX_OPSET, onnx.defs.onnx_opset_version())
    monkeypatch.setenv("COLUMNS", "200")
    with monkeypatch.context() as patched:
        _no_work(patched)
        for opset in (99, high + 1, 17, 0):
            result = runner.invoke(
                app, ["export", str(trained_run), "--out", str(tmp_path / "o"), "--opset", str(opset)]
            )
            assert_clean_error(result, 2, f"--opset {opset} is not supported")
            assert f"opset {low} to {high}" in result.stderr
        with pytest.raises(UsageError, match=f"opset {low} to {high}"):
            ExportOptions(opset=high + 1)
    assert not (tmp_path / "o").exists() and export_module.supported_opsets() == (low, high)
    # the newest opset of the range is real: the file says it and passes every check
    export_run(trained_run, ExportOptions(out=tmp_path / "o", opset=high))
    assert onnx.load(str(tmp_path / "o" / "model.onnx")).opset_import[0].version == high


def test_an_out_symlinked_to_an_export_updates_the_export_it_points_to(trained_run, tmp_path):
    """`--out LINK --force`: the link was replaced by a folder, the export it points to kept its stale
    files and a `.zoo-tmp.*` link was left beside it. The link is followed: the folder it points to is
    replaced whole, the link stays, and nothing is left beside either."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "links").mkdir()
    real = tmp_path / "exports" / "real"
    export_run(trained_run, ExportOptions(out=real))
    link = tmp_path / "links" / "current"
    link.symlink_to(real, target_is_directory=True)
    result = runner.invoke(app, ["export", str(trained_run), "--out", str(link), "--force", "--tta"])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.readlink() == real
    assert read_metadata(real / "model.onnx")["export_options"]["tta"] is True
    for parent in (tmp_path / "exports", tmp_path / "links"):
        assert [p.name for p in parent.iterdir()] == [{"exports": "real", "links": "current"}[parent.name]]
    again = runner.invoke(app, ["export", str(trained_run), "--out", str(link), "--tta"])
    assert again.exit_code == 0 and "up to date" in again.stdout
