import pytest

from zoo.core import paths

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def _isolated_artifacts(tmp_path, monkeypatch):
    """Every test writes into its own artifacts folder, never into the repo."""
    monkeypatch.setenv("ZOO_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    paths.set_artifacts_dir(None)
    yield
    paths.set_artifacts_dir(None)


@pytest.fixture(scope="session")
def fashion_small():
    """A 3,000-image stratified Fashion-MNIST subset (10% of it for validation), loaded once."""
    from zoo.core.errors import DataError
    from zoo.data import load

    try:
        return load("fashion-mnist", subset=3000, seed=0)
    except DataError as exc:
        pytest.skip(f"Fashion-MNIST is not installed ({exc})")


@pytest.fixture(scope="session")
def fake_fashion(tmp_path_factory):
    """Small files in Fashion-MNIST's official format (600 training, 500 test images) and their loaded
    form, for tests about graphs, files and folders rather than accuracy: every export and bench of the
    official 10,000 test images took seconds."""
    import fakedata

    from zoo.data import load

    folder = fakedata.make_idx_dataset(tmp_path_factory.mktemp("data") / "fashion-mnist", 600, 500)
    return folder, load("fashion-mnist", data_dir=str(folder))


@pytest.fixture(scope="session")
def fashion_files(fashion_small, tmp_path_factory):
    """Real Fashion-MNIST in its official format, small: the 3,000 training images `fashion_small` keeps
    (so the same train/val split) and a stratified 1,000 of the 10,000 official test images; with its
    loaded form. For tests that need real images (real confusions, a CNN that learns) but not the figure
    of the whole test set: a CNN or ResNet evaluated on all 10,000 took seconds per evaluation."""
    import fakedata

    from zoo.data import load
    from zoo.data.loading import load_raw
    from zoo.data.splits import stratified_subset

    train, test, _ = load_raw("fashion-mnist")
    kept = stratified_subset(train.labels.numpy(), 3000, 0)
    shown = stratified_subset(test.labels.numpy(), 1000, 0)
    folder = tmp_path_factory.mktemp("data") / "fashion-mnist"
    names = fakedata.IDX_NAMES
    for split, indices, prefix in ((train, kept, "train"), (test, shown, "test")):
        part = split.take(indices)
        fakedata.write_idx_images(folder / names[f"{prefix}_images"], part.images[:, 0].numpy())
        fakedata.write_idx_labels(folder / names[f"{prefix}_labels"], part.labels.numpy())
    data = load("fashion-mnist", data_dir=str(folder))
    assert data.train.labels.tolist() == fashion_small.train.labels.tolist()  # the same split
    return folder, data


@pytest.fixture
def fake_fashion_dir(fake_fashion, monkeypatch):
    """Make the small files this test's Fashion-MNIST (`ZOO_DATA_DIR`, inherited by subprocesses);
    use with `pytestmark = pytest.mark.usefixtures("fake_fashion_dir")`."""
    monkeypatch.setenv("ZOO_DATA_DIR", str(fake_fashion[0]))
    return fake_fashion[0]


@pytest.fixture
def small_tmpfs(tmp_path):
    """`small_tmpfs("3m")`: a real tmpfs of that size (a disk that fills up as disks do), unmounted after
    the test; skipped where mounting is not allowed (not root)."""
    import subprocess

    mounted = []

    def mount(size: str):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture(scope="session")
def exported(fashion_small, tmp_path_factory):
    """fashion-mlp trained 1 epoch on 2,700 images, exported (fp32 + int8) under a models folder."""
    from zoo.export.exporter import ExportOptions, export_run
    from zoo.train.runs import train_run

    root = tmp_path_factory.mktemp("art")
    run = train_run(
        "fashion-mlp", {"epochs": 1, "subset": 3000}, data=fashion_small, run_dir=root / "runs" / "r"
    )
    export_run(run.run_dir, ExportOptions(out=root / "models" / "fashion-mlp" / "t0", int8=True))
    return root


@pytest.fixture
def artifacts(exported, monkeypatch):
    """The `exported` folder as this test's artifacts folder."""
    monkeypatch.setenv("ZOO_ARTIFACTS", str(exported))
    paths.set_artifacts_dir(None)
    return exported
