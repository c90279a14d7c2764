"""zoo.data.fetch against a local HTTP server: verified downloads, and no partial files on failure."""

import hashlib
import shutil
import socket
from pathlib import Path

import fakedata
import pytest
from httpserve import ShortHandler, serve

from zoo.data import dataset_status, fetch, find_dataset, load
from zoo.data.catalog import FileSpec, get_dataset_spec
from zoo.errors import DataError
from zoo.paths import data_cache_dir

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
