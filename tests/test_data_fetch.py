"""zoo.data.fetch against a local HTTP server: verified downloads, and no partial files on failure; an
endless or trickling mirror, one behind a password, a garbage mirror URL and a read-only artifacts folder."""

import hashlib
import importlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import fakedata
import pytest
from cliutil import assert_clean_error
from httpserve import BasicAuthHandler, EndlessHandler, ShortHandler, TrickleHandler, serve
from typer.testing import CliRunner

import zoo.core.download
from cli.main import app
from zoo.core import paths
from zoo.core.errors import DataError
from zoo.core.paths import data_cache_dir
from zoo.data import dataset_status, fetch, find_dataset, load
from zoo.data.catalog import FileSpec
from zoo.data.lookup import get_dataset_spec

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
GZ_NAMES = [f"{n}.gz" for n in fakedata.IDX_NAMES.values()]


@pytest.fixture
def served(tmp_path):
    """(folder, mirror URL): files put in folder are served under the mirror URL."""
    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    server, url = serve(root)
    yield root / "files", url
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def patch_mnist_checksums(monkeypatch, folder: Path) -> None:
    """Record the md5s of the fake .gz files in `folder` as if they were the official ones."""
    files = tuple(
        FileSpec(name=n[:-3], md5=hashlib.md5((folder / n).read_bytes()).hexdigest(), download=n)
        for n in GZ_NAMES
    )
    fakedata.replace_spec(monkeypatch, "mnist", files=files, downloads=files)


@pytest.mark.skipif(not (FASHION_DIR / GZ_NAMES[0]).is_file(), reason="Fashion-MNIST not installed")
def test_fetch_real_fashion_mnist(served, closed_port_url):
    folder, url = served
    for name in GZ_NAMES:
        shutil.copy(FASHION_DIR / name, folder / name)
    progress = []
    dest = fetch("fashion-mnist", mirror=url, on_progress=lambda *a: progress.append(a))
    assert dest == data_cache_dir("fashion-mnist")
    assert leftovers(dest) == sorted(GZ_NAMES)
    status = dataset_status("fashion-mnist")
    assert status.folder == dest  # the cache comes before /usr/share
    assert [f.checksum for f in status.files] == ["ok"] * 4
    final = {name: (done, total) for name, done, total in progress}
    assert final == {n: ((folder / n).stat().st_size,) * 2 for n in GZ_NAMES}
    assert progress[0] == (GZ_NAMES[0], 0, (folder / GZ_NAMES[0]).stat().st_size)

    # verified files are kept: nothing is downloaded again, so a dead mirror does not matter
    assert fetch("fashion-mnist", mirror=closed_port_url) == dest


def test_fetch_fake_mnist_then_load(served, monkeypatch, tmp_path):
    folder, url = served
    fakedata.make_idx_dataset(folder, n_train=100, n_test=20, gz=True)
    patch_mnist_checksums(monkeypatch, folder)
    dest = fetch("mnist", mirror=url, dest=tmp_path / "elsewhere")
    assert dest == tmp_path / "elsewhere" and leftovers(dest) == sorted(GZ_NAMES)
    fetch("mnist", mirror=url)
    assert find_dataset("mnist") == data_cache_dir("mnist")
    assert len(load("mnist", val_fraction=0.2).train) == 80


def test_fetch_tries_mirrors_in_order(served, monkeypatch, closed_port_url):
    folder, url = served
    fakedata.make_idx_dataset(folder, n_train=30, n_test=10, gz=True)
    patch_mnist_checksums(monkeypatch, folder)
    fakedata.replace_spec(monkeypatch, "mnist", mirrors=(closed_port_url, url))
    dest = fetch("mnist")
    assert leftovers(dest) == sorted(GZ_NAMES)


def test_corrupted_download_leaves_nothing(served):
    folder, url = served
    (folder / GZ_NAMES[0]).write_bytes(b"\x1f\x8b not the real file" * 100)
    with pytest.raises(DataError) as info:
        fetch("fashion-mnist", mirror=url)
    message = str(info.value)
    assert f"{url}{GZ_NAMES[0]}: checksum mismatch" in message and "\n" not in message
    assert leftovers(data_cache_dir("fashion-mnist")) == []


def test_missing_file_on_mirror(served):
    _, url = served
    with pytest.raises(DataError) as info:
        fetch("fashion-mnist", mirror=url)
    assert f"{url}{GZ_NAMES[0]}: HTTP 404" in str(info.value)
    assert leftovers(data_cache_dir("fashion-mnist")) == []


def test_connection_cut_short(tmp_path):
    server, url = serve(tmp_path, ShortHandler)
    try:
        with pytest.raises(DataError) as info:
            fetch("mnist", mirror=url)
    finally:
        server.shutdown()
        server.server_close()
    assert url in str(info.value)
    assert leftovers(data_cache_dir("mnist")) == []


def test_unreachable_mirror(closed_port_url):
    with pytest.raises(DataError) as info:
        fetch("cifar10", mirror=closed_port_url)
    message = str(info.value)
    assert message.startswith("could not download cifar-10-python.tar.gz:")
    assert f"{closed_port_url}cifar-10-python.tar.gz" in message
    assert leftovers(data_cache_dir("cifar10")) == []


def test_cifar_downloads_the_archive():
    assert [f.md5_form for f in get_dataset_spec("cifar10").downloads] == ["cifar-10-python.tar.gz"]


fetch_module = importlib.import_module("zoo.data.fetch")  # `zoo.data.fetch` is also the function's name


def test_an_endless_mirror_is_cut_at_the_cap(tmp_path, monkeypatch):
    """The catalog records no sizes: a download may have MAX_BYTES (1 GiB; shrunk here to 1 MiB)."""
    monkeypatch.setattr(fetch_module, "MAX_BYTES", 1 << 20)
    server, url = serve(tmp_path, EndlessHandler)
    written = []
    try:
        with pytest.raises(DataError, match=r"more than the 1,048,576 bytes expected") as info:
            fetch("mnist", mirror=url, on_progress=lambda name, done, total: written.append(done))
    finally:
        server.shutdown()
        server.server_close()
    assert "\n" not in str(info.value) and max(written) <= 1 << 20
    assert leftovers(data_cache_dir("mnist")) == []


def test_a_trickling_mirror_fails_within_one_rate_window(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo.core.download, "RATE_WINDOW_S", 0.5)
    monkeypatch.setattr(zoo.core.download, "MIN_RATE", 1000)
    server, url = serve(tmp_path, TrickleHandler)
    start = time.monotonic()
    try:
        with pytest.raises(DataError, match=r"too slow: .* below the 1,000 bytes/s"):
            fetch("mnist", mirror=url)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - start < 3
    assert leftovers(data_cache_dir("mnist")) == []


def test_credentials_in_a_mirror_url_are_sent_and_never_shown(served, monkeypatch, tmp_path):
    folder, _url = served
    fakedata.make_idx_dataset(folder, n_train=30, n_test=10, gz=True)
    patch_mnist_checksums(monkeypatch, folder)
    server, url = serve(folder.parent, BasicAuthHandler)
    host = url.removeprefix("http://")
    try:
        with pytest.raises(DataError) as info:
            fetch("mnist", mirror=f"http://alice:wrong-pw@{host}")
        message = str(info.value)
        assert f"http://alice:***@{host}{GZ_NAMES[0]}: HTTP 401" in message and "wrong-pw" not in message
        dest = fetch("mnist", mirror=f"http://alice:s3cret-pw@{host}", dest=tmp_path / "got")
    finally:
        server.shutdown()
        server.server_close()
    assert leftovers(dest) == sorted(GZ_NAMES)


@pytest.mark.parametrize("mirror", ["not a url", "ftp://127.0.0.1/mnist/", "http://bob:topsecret@"])
def test_a_garbage_mirror_is_one_line_naming_it(mirror, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(app, ["data", "fetch", "mnist", "--mirror", mirror])
    assert_clean_error(result, 2, "mirror '")
    assert "http://HOST/PATH" in result.stderr and "topsecret" not in result.output


def test_a_read_only_artifacts_folder_is_one_line_naming_it(served, monkeypatch, tmp_path):
    """A real read-only file system (a tmpfs mounted ro: chmod means nothing to root)."""
    folder, url = served
    fakedata.make_idx_dataset(folder, n_train=30, n_test=10, gz=True)
    patch_mnist_checksums(monkeypatch, folder)
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(read_only)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        monkeypatch.setenv("ZOO_ARTIFACTS", str(read_only))
        monkeypatch.setenv("COLUMNS", "300")
        paths.set_artifacts_dir(None)
        result = CliRunner().invoke(app, ["data", "fetch", "mnist", "--mirror", url])
    finally:
        subprocess.run(["umount", str(read_only)], check=False)
    assert_clean_error(result, 1, f"cannot write {read_only / 'data' / 'mnist'} (Read-only file system)")
    assert "--artifacts DIR" in result.stderr
