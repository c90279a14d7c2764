import pytest

from zoo import paths

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
    from zoo.data import load
    from zoo.errors import DataError

    try:
        return load("fashion-mnist", subset=3000, seed=0)
    except DataError as exc:
        pytest.skip(f"Fashion-MNIST is not installed ({exc})")
