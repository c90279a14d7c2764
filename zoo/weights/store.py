"""Shipped, hash-pinned weights: each one a run directory (weights.safetensors + run.json + shipped.json),
found offline first, so every command that takes a run directory works on it unchanged.

Where a variant's weights are looked for, in order (timm and torchvision keep a cache the same way):
1. the cache, `$ZOO_HOME/weights/<name>-<sha8>/` (default `~/.cache/zoo`);
2. the package's own files, `zoo/weights/<name>/` (they travel with the repository and the wheel);
3. a download from `$ZOO_WEIGHTS_URL/<name>-<sha8>/` into the cache, for weights too large to ship.
A folder is used only when both files match the registry's sha256; a download is checked the same way
before it is renamed into place.

A download is bounded (zoo.core.download: the registry's size for the weights, RECORD_MAX_BYTES for run.json,
a minimum rate) and runs under a lock, `$ZOO_HOME/weights/.<name>-<sha8>.lock`: a second pull of the same
weights waits, then finds the first one's copy and downloads nothing. The holder first sweeps the temporary
folders of pulls that were killed, and the finished folder replaces a damaged one as a whole
(zoo.core.names.replace_folder), so a reader never finds it half there.
"""

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from zoo.core.download import URL_FORMS, Digest, DownloadFailed, ProgressFn, download, redact, url_problem
from zoo.core.errors import UsageError, ZooError
from zoo.core.fileio import locked, sha256_file
from zoo.core.names import remove_stale, replace_folder, temporary_sibling
from zoo.models.registry import ANY_DATASET, ModelSpec, get_spec, list_models
from zoo.models.registry import create_model as build_model
from zoo.train.checkpoint import RECORD, WEIGHTS, load_run
from zoo.weights.shipped import Weights, weights_of

HOME_ENV = "ZOO_HOME"
URL_ENV = "ZOO_WEIGHTS_URL"
PROVENANCE = "shipped.json"  # the command, machine, date and commit that made the run
PACKAGE_DIR = Path(__file__).parent  # the weight folders are package data beside this module
# The registry pins run.json's sha256 but not its size: a run record is tens of kB (35 kB at most so far).
RECORD_MAX_BYTES = 1 << 20
# a few official test images with the default model's logits (zoo.weights.use checks them); 20 images of
# 28x28 and their logits take about 17 kB
REFERENCE = "reference.safetensors"
REFERENCE_MAX_BYTES = 4 << 20


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
    weights = weights_of(name)
    if weights is not None:
        return weights
    raise WeightsError(f"{name} has no shipped weights: {no_weights_reason(spec).replace('NAME', name)}")


def no_weights_reason(spec: ModelSpec) -> str:
    """Why `spec` has no shipped weights, in words that fit every variant with the same reason."""
    from zoo.weights.shipped import NO_WEIGHTS

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


def _files(weights: Weights) -> list[tuple[str, str]]:
    """(file, sha256) of every file the registry pins for `weights`."""
    pinned = [(WEIGHTS, weights.sha256), (RECORD, weights.record_sha256)]
    return pinned + ([(REFERENCE, weights.reference_sha256)] if weights.reference_sha256 else [])


def folder_problem(folder: Path, weights: Weights) -> str | None:
    """What keeps `folder` from being `weights`' run directory, or None."""
    for file, expected in _files(weights):
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
    return _download_run(name, weights, problems, on_progress)


def _because(problems: list[str]) -> str:
    return f" ({'; '.join(problems)})" if problems else ""


def mirror_url() -> str | None:
    """$ZOO_WEIGHTS_URL, checked before any work: None where unset, one line naming it where it is no URL."""
    base = os.environ.get(URL_ENV)
    if not base:
        return None
    problem = url_problem(base)
    if problem:
        raise WeightsError(
            f"{URL_ENV}={redact(base)!r} is not a mirror's base URL: {problem}; set it to {URL_FORMS}, "
            "or unset it"
        )
    return base


def _download_run(
    name: str, weights: Weights, problems: list[str], on_progress: ProgressFn | None
) -> Located:
    base = mirror_url()
    if base is None:
        raise WeightsError(
            f"{name}'s weights are neither in the cache nor in the package{_because(problems)}; "
            f"set {URL_ENV} to a mirror's base URL to download them, or reinstall zoo"
        )
    final = cache_dir(name, weights)
    url = f"{base.rstrip('/')}/{final.name}"
    files = (
        (WEIGHTS, Digest("sha256", weights.sha256), weights.size, None),
        (RECORD, Digest("sha256", weights.record_sha256), None, RECORD_MAX_BYTES),
        *(
            [(REFERENCE, Digest("sha256", weights.reference_sha256), None, REFERENCE_MAX_BYTES)]
            if weights.reference_sha256
            else []
        ),
    )
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with locked(final.parent / f".{final.name}.lock"):
            remove_stale(final.parent)  # the temporary folders of pulls that were killed on their way
            if final.is_dir() and folder_problem(final, weights) is None:
                return Located(final, "cache")  # another pull put it there while this one waited
            tmp = temporary_sibling(final)
            try:
                for file, verifier, size, cap in files:
                    try:
                        download(
                            f"{url}/{file}",
                            tmp / file,
                            verifier,
                            size=size,
                            max_bytes=cap,
                            on_progress=on_progress,
                        )
                    except DownloadFailed as exc:
                        raise WeightsError(f"cannot download {redact(url)}/{file}: {exc}") from None
                # a damaged copy there (its files failed the check above) is replaced as a whole
                replace_folder(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise WeightsError(_cannot_write(final.parent, exc)) from None
    return Located(final, "download")


def _cannot_write(folder: Path, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free some space there, or set {HOME_ENV} to a folder on another disk"
    else:
        fix = f"set {HOME_ENV} to a writable folder"
    return f"cannot write the weights cache {folder} ({reason}); {fix}"


def pull(name: str, on_progress: ProgressFn | None = None) -> Located:
    """Make sure `name`'s weights are in the cache or the package (downloading them if neither)."""
    mirror_url()  # a malformed $ZOO_WEIGHTS_URL is refused even where nothing needs downloading
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


def names_shipped_model(arg: str | os.PathLike) -> bool:
    """Whether `zoo predict ARG` means a variant's shipped model: ARG is a variant's name and no file of
    that name exists (an existing path wins: it is what the user pointed at)."""
    return not Path(arg).exists() and str(arg) in list_models()


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


def verify(name: str, *, data_dir: str | None = None, tta: bool = False) -> Verification:
    """Evaluate `name`'s shipped weights on the official test split and count the correct predictions,
    to compare with the registry's figure (on the CPU that made them, in fp32, they match exactly): the
    default model's (what predict and the default export compute), or with `tta` the flip-averaged one."""
    import dataclasses

    from zoo.train.runs import evaluate_run

    weights = shipped_weights(name)
    if tta and weights.correct_tta is None:
        raise UsageError(f"{name}'s figure was not measured with test-time flips; drop --tta")
    model, record = load_run(locate(name, fetch=False).folder)
    record = dataclasses.replace(record, train_config={**record.train_config, "test_time_flip": tta})
    result = evaluate_run(model.float().cpu(), record, data_dir=data_dir)
    correct = int((result.predictions == result.labels).sum())
    top2 = result.logits.topk(2, dim=1).values
    near_ties = int(((top2[:, 0] - top2[:, 1]) < NEAR_TIE).sum())
    expected = weights.correct_tta if tta else weights.correct
    return Verification(name, correct, int(expected or 0), len(result.labels), near_ties)


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
        weights = weights_of(name)
        if weights is None:
            rows.append(Listing(name, spec.dataset or ANY_DATASET, None, None, no_weights_reason(spec)))
            continue
        try:
            where = locate(name, fetch=False).source
        except WeightsError:
            where = None
        rows.append(Listing(name, spec.dataset, weights, where, None))
    return rows
