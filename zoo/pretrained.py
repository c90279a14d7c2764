"""Shipped, hash-pinned weights: each one a run directory (weights.safetensors + run.json + shipped.json),
found offline first, so every command that takes a run directory works on it unchanged.

Where a variant's weights are looked for, in order (timm and torchvision keep a cache the same way):
1. the cache, `$ZOO_HOME/weights/<name>-<sha8>/` (default `~/.cache/zoo`);
2. the package's own files, `zoo/weights/<name>/` (they travel with the repository and the wheel);
3. a download from `$ZOO_WEIGHTS_URL/<name>-<sha8>/` into the cache, for weights too large to ship.
A folder is used only when both files match the registry's sha256; a download is checked the same way
before it is renamed into place.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from zoo.checkpoint import RECORD, WEIGHTS, load_run
from zoo.download import DownloadFailed, ProgressFn, download
from zoo.errors import UsageError, ZooError
from zoo.fileio import sha256_file
from zoo.names import temporary_sibling
from zoo.registry import ANY_DATASET, ModelSpec, Weights, get_spec, list_models
from zoo.registry import create_model as build_model

HOME_ENV = "ZOO_HOME"
URL_ENV = "ZOO_WEIGHTS_URL"
PROVENANCE = "shipped.json"  # the command, machine, date and commit that made the run
PACKAGE_DIR = Path(__file__).parent / "weights"


class WeightsError(ZooError):
    """Shipped weights are missing, damaged or cannot be fetched."""


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "zoo")


def cache_dir(name: str, weights: Weights) -> Path:
    return home() / "weights" / f"{name}-{weights.tag}"


def package_dir(name: str) -> Path:
    return PACKAGE_DIR / name


def shipped_weights(name: str) -> Weights:
    """The registry's entry for `name`'s weights, or one line saying why it has none."""
    spec = get_spec(name)
    if spec.weights is not None:
        return spec.weights
    raise WeightsError(f"{name} has no shipped weights: {no_weights_reason(spec).replace('NAME', name)}")


def no_weights_reason(spec: ModelSpec) -> str:
    """Why `spec` has no shipped weights, in words that fit every variant with the same reason."""
    from zoo.shipped import NO_WEIGHTS

    if spec.name in NO_WEIGHTS:
        return NO_WEIGHTS[spec.name]
    if spec.dataset is None:
        return (
            "it is dataset-agnostic: its weights depend on the dataset it is trained for; "
            "train one with `zoo train NAME --dataset DATASET`"
        )
    if spec.dataset != "fashion-mnist":
        return (
            f"zoo ships weights for Fashion-MNIST variants only ({spec.dataset} is not on the machines that "
            "train them); train one with `zoo train NAME --data-dir DIR`"
        )
    return "none were made for this variant yet; train one with `zoo train NAME`"


def folder_problem(folder: Path, weights: Weights) -> str | None:
    """What keeps `folder` from being `weights`' run directory, or None."""
    for file, expected in ((WEIGHTS, weights.sha256), (RECORD, weights.record_sha256)):
        path = folder / file
        if not path.is_file():
            return f"{path} is missing"
        actual = sha256_file(path)
        if actual != expected:
            return f"{path} has sha256 {actual}, expected {expected}"
    return None


@dataclass(frozen=True)
class Located:
    folder: Path
    source: str  # "cache", "package" or "download"


def locate(name: str, *, fetch: bool = True, on_progress: ProgressFn | None = None) -> Located:
    """The run directory of `name`'s shipped weights, checked against the registry's digests."""
    weights = shipped_weights(name)
    problems = []
    for folder, source in ((cache_dir(name, weights), "cache"), (package_dir(name), "package")):
        if folder.is_dir():
            problem = folder_problem(folder, weights)
            if problem is None:
                return Located(folder, source)
            problems.append(problem)
    if not fetch:
        raise WeightsError(
            f"{name}'s weights are not here{_because(problems)}; fetch them: zoo weights pull {name}"
        )
    return Located(_download_run(name, weights, problems, on_progress), "download")


def _because(problems: list[str]) -> str:
    return f" ({'; '.join(problems)})" if problems else ""


def _download_run(name: str, weights: Weights, problems: list[str], on_progress: ProgressFn | None) -> Path:
    base = os.environ.get(URL_ENV)
    if not base:
        raise WeightsError(
            f"{name}'s weights are neither in the cache nor in the package{_because(problems)}; "
            f"set {URL_ENV} to a mirror's base URL to download them, or reinstall zoo"
        )
    final = cache_dir(name, weights)
    url = f"{base.rstrip('/')}/{final.name}"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    try:
        for file, expected in ((WEIGHTS, weights.sha256), (RECORD, weights.record_sha256)):
            try:
                download(f"{url}/{file}", tmp / file, _sha256_is(expected), on_progress)
            except DownloadFailed as exc:
                raise WeightsError(f"cannot download {url}/{file}: {exc}") from None
        shutil.rmtree(final, ignore_errors=True)  # a damaged copy: its files failed the check above
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _sha256_is(expected: str):
    def check(path: Path) -> str | None:
        actual = sha256_file(path)
        return None if actual == expected else f"sha256 {actual}, expected {expected}"

    return check


def pull(name: str, on_progress: ProgressFn | None = None) -> Located:
    """Make sure `name`'s weights are in the cache or the package (downloading them if neither)."""
    return locate(name, fetch=True, on_progress=on_progress)


def create_model(name: str, pretrained: bool = False, **hparams) -> nn.Module:
    """Variant `name`: untrained with `hparams`, or its shipped weights in eval mode (timm's spelling)."""
    if not pretrained:
        return build_model(name, **hparams)
    if hparams:
        raise UsageError(
            f"pretrained {name} has the architecture it was trained with; drop {', '.join(sorted(hparams))}"
        )
    model, _ = load_run(locate(name).folder)
    return model


def export_folder(name: str) -> Path:
    return home() / "exports" / f"{name}-{shipped_weights(name).tag}"


def exported(name: str, *, data_dir: str | None = None) -> Path:
    """model.onnx of `name`'s shipped weights, exported into the cache on first use with export's parity
    checks (which read the test split); later calls find it up to date and write nothing."""
    from zoo.export import ExportOptions, export_run

    folder = export_folder(name)
    export_run(locate(name).folder, ExportOptions(out=folder), data_dir=data_dir)
    return folder / "model.onnx"


def model_file(arg: str | os.PathLike) -> Path:
    """What `zoo predict` takes: an ONNX file, or a variant's name for its shipped model (an existing
    path of the same name wins: it is what the user pointed at)."""
    path = Path(arg)
    if path.exists() or str(arg) not in list_models():
        return path
    return exported(str(arg))


# Logits closer than this at the top can swap places on another CPU: fp32 kernels differ in summation order
# (a relative 1e-6 on logits of size ~10), so those images are the only ones whose verdict may move.
NEAR_TIE = 1e-3


@dataclass(frozen=True)
class Verification:
    name: str
    correct: int
    expected: int
    n: int
    near_ties: int  # images whose two best logits are within NEAR_TIE

    @property
    def exact(self) -> bool:
        return self.correct == self.expected

    @property
    def ok(self) -> bool:
        """Exact, or off by no more than the near ties another CPU's kernels may decide otherwise."""
        return abs(self.correct - self.expected) <= self.near_ties

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


def verify(name: str, *, data_dir: str | None = None) -> Verification:
    """Evaluate `name`'s shipped weights on the official test split and count the correct predictions,
    to compare with the registry's figure (on the CPU that made them, in fp32, they match exactly)."""
    from zoo.runs import evaluate_run

    weights = shipped_weights(name)
    model, record = load_run(locate(name, fetch=False).folder)
    result = evaluate_run(model.float().cpu(), record, data_dir=data_dir)
    correct = int((result.predictions == result.labels).sum())
    top2 = result.logits.topk(2, dim=1).values
    near_ties = int(((top2[:, 0] - top2[:, 1]) < NEAR_TIE).sum())
    return Verification(name, correct, weights.correct, len(result.labels), near_ties)


@dataclass(frozen=True)
class Listing:
    name: str
    dataset: str
    weights: Weights | None
    where: str | None  # cache / package, None where not on this machine
    reason: str | None  # why there are no weights


def list_weights(pattern: str | None = None) -> list[Listing]:
    rows = []
    for name in list_models(pattern):
        spec = get_spec(name)
        if spec.weights is None:
            rows.append(Listing(name, spec.dataset or ANY_DATASET, None, None, no_weights_reason(spec)))
            continue
        try:
            where = locate(name, fetch=False).source
        except WeightsError:
            where = None
        rows.append(Listing(name, spec.dataset, spec.weights, where, None))
    return rows
