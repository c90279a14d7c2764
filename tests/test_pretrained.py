"""Shipped weights: the registry's digests decide what is used; cache, package, then a real download
from 127.0.0.1 (good file, wrong hash, truncated, 404, endless, trickling, behind a password, a garbage
URL, a read-only cache, pulls killed or run twice at once); and every shipped model re-measures its figure."""

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from cliutil import assert_clean_error
from httpserve import (
    BasicAuthHandler,
    EndlessHandler,
    GatedHandler,
    HugeLengthHandler,
    ShortHandler,
    TrickleHandler,
    serve,
)
from typer.testing import CliRunner

import zoo
import zoo.core.download
from cli.main import app
from zoo.core.errors import UsageError
from zoo.core.fileio import sha256_file
from zoo.train.checkpoint import RECORD, WEIGHTS, load_run, read_record
from zoo.train.runs import evaluate_run, train_run
from zoo.weights import store as pretrained
from zoo.weights.shipped import SHIPPED, Weights, weights_of
from zoo.weights.store import REFERENCE, WeightsError

pytestmark = pytest.mark.usefixtures("fake_fashion_dir")


@pytest.fixture(scope="module")
def shipped_run(fake_fashion, tmp_path_factory):
    """A fashion-mlp run on the small files and the Weights entry the shipping script would write."""
    folder = tmp_path_factory.mktemp("pkg") / "fashion-mlp"
    run = train_run("fashion-mlp", {"epochs": 1}, data=fake_fashion[1], run_dir=folder)
    model, record = load_run(folder)
    result = evaluate_run(model, record, test=fake_fashion[1].test)
    weights = Weights(
        sha256=sha256_file(folder / WEIGHTS),
        record_sha256=sha256_file(folder / RECORD),
        size=(folder / WEIGHTS).stat().st_size,
        correct=int((result.predictions == result.labels).sum()),
        n=len(result.labels),
    )
    return run.run_dir, weights


@pytest.fixture
def ship(shipped_run, tmp_path, monkeypatch):
    """fashion-mlp as a shipped model: in the package folder, nothing in the cache ($ZOO_HOME)."""
    folder, weights = shipped_run
    package = tmp_path / "package"
    shutil.copytree(folder, package / "fashion-mlp")
    monkeypatch.setattr(pretrained, "PACKAGE_DIR", package)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_WEIGHTS_URL", raising=False)
    monkeypatch.setitem(SHIPPED, "fashion-mlp", weights)
    return package / "fashion-mlp", weights


def test_the_package_copy_is_found_offline_and_loads_as_its_run(ship):
    folder, _weights = ship
    located = pretrained.locate("fashion-mlp", fetch=False)
    assert located.source == "package" and located.folder == folder
    model = zoo.create_model("fashion-mlp", pretrained=True)
    reference, _ = load_run(folder)
    for (k, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert not model.training
    untrained = zoo.create_model("fashion-mlp")
    assert not torch.equal(next(untrained.parameters()), next(model.parameters()))


def test_pretrained_refuses_architecture_overrides(ship):
    with pytest.raises(UsageError, match="drop dense_units"):
        zoo.create_model("fashion-mlp", pretrained=True, dense_units=[8])


def test_the_cache_comes_first_and_a_damaged_copy_is_never_used(ship, tmp_path):
    folder, weights = ship
    cached = pretrained.cache_dir("fashion-mlp", weights)
    shutil.copytree(folder, cached)
    assert pretrained.locate("fashion-mlp").source == "cache"
    (cached / WEIGHTS).write_bytes(b"\0" * weights.size)  # same size, other bytes
    assert pretrained.locate("fashion-mlp").source == "package"
    shutil.rmtree(folder)
    with pytest.raises(WeightsError) as caught:
        pretrained.locate("fashion-mlp")
    message = str(caught.value)
    assert "\n" not in message and weights.sha256 in message and "ZOO_WEIGHTS_URL" in message


def test_a_damaged_package_copy_is_refused_with_both_digests(ship):
    folder, weights = ship
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(
        WeightsError, match=rf"sha256 {sha256_file(folder / WEIGHTS)}, expected {weights.sha256}"
    ):
        pretrained.locate("fashion-mlp", fetch=False)


@pytest.fixture
def mirror(ship, tmp_path, monkeypatch):
    """The package copy moved to a mirror served on 127.0.0.1 (as `<name>-<sha8>/<file>`)."""
    folder, weights = ship
    root = tmp_path / "www"
    served = root / "files" / f"fashion-mlp-{weights.tag}"
    served.parent.mkdir(parents=True)
    shutil.move(folder, served)
    return root, served, weights


def _serve(monkeypatch, root, handler=None):
    server, url = serve(root, handler) if handler else serve(root)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", url)
    return server


def test_a_download_is_checked_written_whole_and_then_offline(mirror, monkeypatch):
    root, _served, weights = mirror
    server = _serve(monkeypatch, root)
    seen = []
    try:
        located = pretrained.pull(
            "fashion-mlp", on_progress=lambda f, done, total: seen.append((f, done, total))
        )
    finally:
        server.shutdown()
        server.server_close()
    assert located.source == "download" and located.folder == pretrained.cache_dir("fashion-mlp", weights)
    assert sha256_file(located.folder / WEIGHTS) == weights.sha256
    assert (WEIGHTS, weights.size, weights.size) in seen
    assert [p.name for p in located.folder.parent.iterdir()] == [located.folder.name]  # nothing temporary
    assert pretrained.locate("fashion-mlp", fetch=False).source == "cache"  # the server is gone
    assert read_record(located.folder).model == "fashion-mlp"


def test_a_mirror_with_other_bytes_is_refused_naming_file_and_digests(mirror, monkeypatch):
    root, served, weights = mirror
    (served / WEIGHTS).write_bytes((served / WEIGHTS).read_bytes()[:-1] + b"!")
    actual = sha256_file(served / WEIGHTS)
    server = _serve(monkeypatch, root)
    try:
        with pytest.raises(WeightsError) as caught:
            pretrained.pull("fashion-mlp")
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert f"{served.name}/{WEIGHTS}" in message and f"sha256 {actual}, expected {weights.sha256}" in message
    assert not (pretrained.home() / "weights").exists() or not any((pretrained.home() / "weights").iterdir())


def test_a_truncated_transfer_and_a_404_are_one_line_each(mirror, monkeypatch):
    root, served, _weights = mirror
    server = _serve(monkeypatch, root, ShortHandler)
    try:
        with pytest.raises(WeightsError, match=r"connection closed after \d+ of 100000 bytes"):
            pretrained.pull("fashion-mlp")
    finally:
        server.shutdown()
        server.server_close()
    shutil.rmtree(served)
    server = _serve(monkeypatch, root)
    try:
        with pytest.raises(WeightsError, match=rf"{served.name}/{WEIGHTS}: HTTP 404"):
            pretrained.pull("fashion-mlp")
    finally:
        server.shutdown()
        server.server_close()
    assert not (pretrained.home() / "weights").exists() or not any((pretrained.home() / "weights").iterdir())


def _nothing_left() -> bool:
    folder = pretrained.home() / "weights"
    return not folder.exists() or not any(folder.iterdir())


def _stop(server) -> None:
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("handler", [EndlessHandler, HugeLengthHandler], ids=["no-length", "3GB-length"])
def test_a_mirror_sending_more_than_the_file_is_cut_at_its_size(mirror, monkeypatch, handler):
    root, _served, weights = mirror
    server = _serve(monkeypatch, root, handler)
    written = []
    try:
        with pytest.raises(WeightsError) as caught:
            pretrained.pull("fashion-mlp", on_progress=lambda f, done, total: written.append(done))
    finally:
        _stop(server)
    message = str(caught.value)
    assert f"{weights.size:,}" in message and "\n" not in message
    assert max(written, default=0) <= weights.size  # never a byte more than the file on disk
    assert _nothing_left()


def test_a_trickling_mirror_fails_within_one_rate_window(mirror, monkeypatch):
    """One byte every 20 ms: each read returns in time, so only the rate check ends it (30 s windows
    shrunk to half a second)."""
    root, _served, _weights = mirror
    monkeypatch.setattr(zoo.core.download, "RATE_WINDOW_S", 0.5)
    monkeypatch.setattr(zoo.core.download, "MIN_RATE", 1000)
    server = _serve(monkeypatch, root, TrickleHandler)
    start = time.monotonic()
    try:
        with pytest.raises(
            WeightsError, match=r"too slow: \d+ bytes in the last 0\.\d s, below the 1,000 bytes/s"
        ):
            pretrained.pull("fashion-mlp")
    finally:
        _stop(server)
    assert time.monotonic() - start < 3
    assert _nothing_left()


def test_credentials_in_the_mirror_url_are_sent_and_never_shown(mirror, monkeypatch):
    root, _served, _weights = mirror
    server, url = serve(root, BasicAuthHandler)
    host = url.removeprefix("http://")
    monkeypatch.setenv("COLUMNS", "300")
    try:
        monkeypatch.setenv("ZOO_WEIGHTS_URL", f"http://alice:wrong-pw@{host}")
        refused = CliRunner().invoke(app, ["weights", "pull", "fashion-mlp"])
        assert_clean_error(refused, 1, f"cannot download http://alice:***@{host}")
        assert "HTTP 401" in refused.stderr and "wrong-pw" not in refused.output
        monkeypatch.setenv("ZOO_WEIGHTS_URL", f"http://alice:s3cret-pw@{host}")
        assert pretrained.pull("fashion-mlp").source == "download"
    finally:
        _stop(server)


@pytest.mark.parametrize(
    "value",
    ["not a url", "ftp://127.0.0.1/weights", "http://", "http://127.0.0.1:99999/", "http://bob:topsecret@/x"],
)
def test_a_garbage_mirror_url_is_one_line_naming_the_variable(mirror, monkeypatch, value):
    monkeypatch.setenv("ZOO_WEIGHTS_URL", value)
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(app, ["weights", "pull", "fashion-mlp"])
    assert_clean_error(result, 1, "ZOO_WEIGHTS_URL=")
    assert "http://HOST/PATH" in result.stderr and "file:///PATH" in result.stderr
    assert "topsecret" not in result.output
    with pytest.raises(WeightsError, match="ZOO_WEIGHTS_URL="):
        zoo.create_model("fashion-mlp", pretrained=True)
    assert _nothing_left()


@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only file system (a tmpfs mounted ro; chmod means nothing to root); skipped where
    mounting is not allowed."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_read_only_zoo_home_is_one_line_naming_it_before_any_download(mirror, monkeypatch, read_only_dir):
    root, _served, _weights = mirror
    server = _serve(monkeypatch, root)
    monkeypatch.setenv("ZOO_HOME", str(read_only_dir))
    monkeypatch.setenv("COLUMNS", "300")
    try:
        result = CliRunner().invoke(app, ["weights", "pull", "fashion-mlp"])
    finally:
        _stop(server)
    assert_clean_error(result, 1, f"cannot write the weights cache {read_only_dir / 'weights'}")
    assert "Read-only file system" in result.stderr and "set ZOO_HOME to a writable folder" in result.stderr
    assert server.requests == []


ROOT = Path(__file__).resolve().parents[1]

# `zoo weights pull fashion-mlp` as a user runs it (cli.main.run: its signal handling, its exit codes), with
# the package's copy out of sight, so that the mirror is the only source.
PULL = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import zoo.weights.store

    zoo.weights.store.PACKAGE_DIR = Path(sys.argv[1])
    sys.argv = ["zoo", "weights", "pull", "fashion-mlp"]
    from cli.main import run

    run()
    """
)


@pytest.fixture
def real_mirror(tmp_path, monkeypatch):
    """The registry's own fashion-mlp on a gated mirror on 127.0.0.1, an empty package folder and an empty
    ZOO_HOME: what a `zoo weights pull` in a subprocess sees. Yields (server, package folder)."""
    weights = SHIPPED["fashion-mlp"]
    root = tmp_path / "www"
    shutil.copytree(pretrained.package_dir("fashion-mlp"), root / "files" / f"fashion-mlp-{weights.tag}")
    package = tmp_path / "no-package"
    package.mkdir()
    server, url = serve(root, GatedHandler)
    monkeypatch.setattr(pretrained, "PACKAGE_DIR", package)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZOO_WEIGHTS_URL", url)
    monkeypatch.setenv("COLUMNS", "500")
    yield server, package
    _stop(server)


def _pull_process(package: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PULL, str(package)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the pull ended first (exit {process.returncode}): {process.communicate()}")
        if time.monotonic() > end:
            pytest.fail("timed out")
        time.sleep(0.02)


def _waits_for_a_lock(pid: int) -> bool:
    """Whether process `pid` is blocked on a file lock (the kernel lists each waiter with `->`)."""
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "->" and parts[5] == str(pid):
            return True
    return False


def _end(*processes) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_pull_killed_midway_leaves_nothing_once_the_next_pull_is_done(real_mirror, sig):
    server, package = real_mirror
    server.release.clear()  # the mirror answers nothing until the pull is killed
    cache = pretrained.home() / "weights"
    pull = _pull_process(package)
    try:
        _wait_for(lambda: server.requests, pull)  # downloading: its temporary folder is there
        assert any(p.name.startswith(".zoo-tmp.") for p in cache.iterdir())
        pull.send_signal(sig)
        pull.communicate(timeout=30)
    finally:
        _end(pull)
    assert pull.returncode == (-sig if sig == signal.SIGKILL else 128 + sig)
    server.release.set()
    located = pretrained.pull("fashion-mlp")
    assert located.source == "download"
    assert [p.name for p in cache.iterdir()] == [located.folder.name]  # no temporary folder, no lock file
    assert pretrained.folder_problem(located.folder, SHIPPED["fashion-mlp"]) is None


def test_two_pulls_at_once_download_once_and_both_succeed(real_mirror):
    """The first pull holds the mirror's answer until the second is certainly running beside it: waiting
    for the first one's lock (or, without a lock, asking the mirror itself)."""
    server, package = real_mirror
    server.release.clear()
    first = second = None
    try:
        first = _pull_process(package)
        _wait_for(lambda: server.requests, first)
        second = _pull_process(package)
        _wait_for(lambda: len(server.requests) > 1 or _waits_for_a_lock(second.pid), second)
        server.release.set()
        outputs = [p.communicate(timeout=120) for p in (first, second)]
    finally:
        _end(first, second)
    assert [first.returncode, second.returncode] == [0, 0], outputs
    tag = SHIPPED["fashion-mlp"].tag
    assert sorted(server.requests) == sorted(
        f"/files/fashion-mlp-{tag}/{f}" for f in (WEIGHTS, RECORD, REFERENCE)
    )
    final = pretrained.cache_dir("fashion-mlp", SHIPPED["fashion-mlp"])
    assert f"fashion-mlp: download {final}" in outputs[0][1]
    assert f"fashion-mlp: cache {final}" in outputs[1][1]  # found after the wait: nothing downloaded
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_verify_counts_the_correct_predictions_and_catches_a_wrong_figure(ship, monkeypatch):
    _folder, weights = ship
    result = pretrained.verify("fashion-mlp")
    assert result.exact and result.correct == weights.correct and result.n == 500
    monkeypatch.setitem(
        SHIPPED, "fashion-mlp", Weights(**{**weights.__dict__, "correct": weights.correct + 1})
    )
    wrong_by_one = pretrained.verify("fashion-mlp")
    assert not wrong_by_one.exact and wrong_by_one.ok == (wrong_by_one.near_ties >= 1)


@pytest.mark.parametrize("name", ["mnist-cnn", "cifar10-cnn", "fashion-resnet-wide"])
def test_variants_without_weights_say_why_in_one_line(name):
    with pytest.raises(WeightsError) as caught:
        zoo.create_model(name, pretrained=True)
    message = str(caught.value)
    assert "\n" not in message and name in message and "zoo train" in message


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_model_re_measures_its_figure_exactly(name, monkeypatch):
    """The official test split, CPU fp32: the registry's count of correct predictions, exactly on the CPU
    that made it; elsewhere only images whose two best logits are within 1e-3 may be decided otherwise."""
    monkeypatch.delenv("ZOO_DATA_DIR")
    result = pretrained.verify(name)
    assert result.n == 10_000 and result.ok, (result.correct, result.expected, result.near_ties)


def test_cli_lists_pulls_and_verifies(ship, tmp_path, monkeypatch):
    import json

    folder, weights = ship
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["weights", "list", "fashion-*", "--json"]).stdout)
    mlp = next(r for r in listed if r["name"] == "fashion-mlp")
    assert mlp["weights"]["sha256"] == weights.sha256 and mlp["where"] == "package"
    wide = next(r for r in listed if r["name"] == "fashion-resnet-wide")
    assert wide["weights"] is None and "GPU" in wide["reason"]
    table = runner.invoke(app, ["weights", "list", "fashion-mlp"])
    assert f"{weights.test_accuracy:.2%}" in table.stdout and weights.tag in table.stdout
    verified = runner.invoke(app, ["weights", "verify", "fashion-mlp"])
    assert verified.exit_code == 0 and f"{weights.correct:,}/500 correct" in verified.stdout
    monkeypatch.setitem(SHIPPED, "fashion-mlp", Weights(**{**weights.__dict__, "correct": 1}))
    (folder / RECORD).write_bytes((folder / RECORD).read_bytes())  # same bytes: the record still matches
    assert runner.invoke(app, ["weights", "verify", "fashion-mlp"]).exit_code == 1
    refused = runner.invoke(app, ["weights", "pull", "mnist-cnn"])
    assert (
        refused.exit_code == 1 and refused.stderr.count("\n") == 1 and "zoo train mnist-cnn" in refused.stderr
    )


def test_predict_takes_a_variant_name_for_its_shipped_model(ship, tmp_path, monkeypatch):
    """An empty artifacts folder, no network: the shipped weights predict as they are, nothing is
    exported or written (tests/test_first_contact.py: with the dataset hidden too)."""
    import json

    import numpy as np
    from PIL import Image

    image = tmp_path / "shoe.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30), dtype=np.uint8)).save(image)
    runner = CliRunner()
    args = ["--artifacts", str(tmp_path / "empty"), "predict", "fashion-mlp", str(image), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)[0]["class_name"]
    again = runner.invoke(app, args)
    assert again.stdout == first.stdout
    assert not (tmp_path / "empty").exists() and not (pretrained.home() / "exports").exists()


def test_the_results_table_and_readme_say_what_the_registry_ships():
    """benchmarks/results-fashion-mnist.csv (timm's results table) and README's copy of it."""
    import csv
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("results_table", root / "benchmarks" / "results_table.py")
    results_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results_table)
    text = (root / "benchmarks" / "results-fashion-mnist.csv").read_text()
    rows = {r["model"]: r for r in csv.DictReader(text.splitlines())}
    assert set(rows) == set(SHIPPED)
    for name, weights in SHIPPED.items():
        row = rows[name]
        assert row["sha256"] == weights.sha256 and row["top1"] == f"{100 * weights.test_accuracy:.2f}"
        assert float(row["top1"]) + float(row["top1_err"]) == pytest.approx(100.0)
        assert int(row["param_count"]) == read_record(pretrained.package_dir(name)).num_params
        assert float(row["mflops"]) > 0 and row["machine"] and name in row["command"]
    readme = (root / "README.md").read_text()
    assert results_table.readme_with(text, readme) == readme, "run benchmarks/results_table.py"


def test_export_report_and_compare_take_the_shipped_run_by_name(ship, shipped_run, tmp_path, monkeypatch):
    import json

    from zoo.export.exported import read_metadata

    folder, weights = ship
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    art = tmp_path / "art"
    exported = runner.invoke(app, ["--artifacts", str(art), "export", "fashion-mlp", "--pretrained"])
    assert exported.exit_code == 0, exported.output
    onnx_file = art / "models" / "fashion-mlp" / "fashion-mlp-pretrained" / "model.onnx"
    assert read_metadata(onnx_file)["weights_sha256"] == weights.sha256
    compared = runner.invoke(
        app,
        ["--artifacts", str(art), "compare", str(shipped_run[0]), "fashion-mlp", "--pretrained", "--json"],
    )
    assert compared.exit_code == 0, compared.output
    accuracies = {e["accuracy"] for e in json.loads(compared.stdout)["entries"]}
    assert accuracies == {weights.test_accuracy}  # the same weights twice
    reported = runner.invoke(app, ["--artifacts", str(art), "report", "fashion-mlp", "--pretrained"])
    assert reported.exit_code == 0, reported.output
    assert (art / "reports" / "fashion-mlp-pretrained" / "report.html").is_file()
    assert (
        list(folder.iterdir()) == list(folder.iterdir())
        and sha256_file(folder / RECORD) == weights.record_sha256
    )


def test_every_fashion_variant_ships_weights_or_says_why():
    from zoo.models.registry import list_models
    from zoo.weights.shipped import NO_WEIGHTS

    for name in list_models("fashion-*"):
        assert (weights_of(name) is not None) != (name in NO_WEIGHTS), name
