"""Export a run to a validated, self-describing ONNX file (+ optional int8 and fp16 variants).

The whole export folder is built under a marker name beside the destination and swapped in as a
whole only when every check passed: a failed or killed export leaves the previous folder as it was,
and a replaced folder never keeps a variant of another model. Exporting the same weights with the same
options again is a no-op ("up to date"); a folder holding another model is replaced only with `force`.
"""

import dataclasses
import functools
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.core import jsontext, paths
from zoo.core.errors import DataError, InternalError, UsageError, ZooError
from zoo.core.fileio import check_writable, sha256_file, umask
from zoo.core.names import check_replaceable, inside, remove_stale, replace_folder, temporary_sibling
from zoo.data import DataSplits, Normalizer, get_dataset_info, load
from zoo.data.identity import check_run_data
from zoo.export.card import model_card
from zoo.export.exported import (
    FORMAT,
    INPUT,
    METADATA_FILES,
    OUTPUT,
    SUMS,
    VARIANT_FILES,
    ExportedModelError,
    decode,
    encode,
    image_preprocessing,
    is_export_folder,
    normalise,
    onnx_logits,
    open_model,
    open_session,
    read_sums,
    session_function,
    write_metadata_json,
    write_sums,
)
from zoo.export.exported import read_metadata as read_metadata
from zoo.export.quantize import activation_types, build, calibration_images, default_recipe, get_recipe
from zoo.export.targets import resolve_targets
from zoo.models.layers import FlipAveraged
from zoo.train.checkpoint import RunRecord, load_run
from zoo.train.loop import predict_logits
from zoo.train.runs import versions

PARITY_BATCHES = (1, 7, 64)
MIN_AGREEMENT = 0.999
MAX_LOGIT_DIFF = 1e-3
# half precision keeps ~3 significant digits: judge it by agreement, loosely by logits
FP16_MAX_LOGIT_DIFF = 5e-2
CALIBRATION_IMAGES = 512


class ExportError(ZooError):
    """The exported model failed a check; nothing was written."""


class ExportConflict(ZooError):
    """The destination holds an export of other weights or options; replacing it needs `force`."""


@dataclass
class ExportOptions:
    opset: int = 18
    int8: bool = False
    int8_recipe: str | None = None  # a name in zoo.export.quantize.RECIPES; None: quantize.default_recipe()
    fp16: bool = False
    max_int8_drop: float = 1.0  # accuracy points on the test set
    force: bool = False
    out: Path | None = None  # default artifacts/models/<model>/<name>/
    name: str | None = None  # folder name: <study>-t<trial> or the run dir's name
    study: str | None = None
    trial: int | None = None
    # Two passes in one graph (image and mirror, logits averaged); off by default so exported models
    # cost one forward pass whatever the run was evaluated with.
    tta: bool = False

    def __post_init__(self) -> None:
        check_opset(self.opset)  # before any target is touched
        if self.int8_recipe is not None:
            get_recipe(self.int8_recipe)  # an unknown name fails before any target is touched

    def signature(self) -> dict[str, Any]:
        """What makes two exports of the same weights differ; stored in the metadata."""
        recipe = self.int8_recipe if self.int8 else None
        return {
            "opset": self.opset,
            "int8": self.int8,
            "int8_recipe": recipe,
            "fp16": self.fp16,
            "tta": self.tta,
        }


@dataclass
class ExportResult:
    folder: Path
    files: list[Path]
    parity: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    up_to_date: bool = False  # the folder already held this export; nothing was written


@functools.cache
def supported_opsets() -> tuple[int, int]:
    """The lowest and highest opset the installed exporter writes: torch.onnx's dynamo exporter builds
    its graphs with onnxscript's torchlib and converts them with onnxscript's version converter, whose
    range this is, within what the installed onnx knows. Outside it the exporter falls back to onnx's C
    converter, which logs tracebacks and, failing, silently keeps the graph at its own opset."""
    import onnx

    low, high = 18, onnx.defs.onnx_opset_version()
    try:
        from onnxscript.version_converter import _version_converter as converter
    except ImportError:  # a newer onnxscript moved it: the onnx range, checked after export_onnx
        return low, high
    low = max(low, getattr(converter, "SUPPORTED_MIN_ONNX_OPSET", low))
    return low, min(high, getattr(converter, "SUPPORTED_MAX_ONNX_OPSET", high))


def check_opset(opset: int) -> None:
    low, high = supported_opsets()
    if not low <= opset <= high:
        raise UsageError(
            f"--opset {opset} is not supported: the installed exporter writes opset {low} to {high}; "
            f"pass one of those (the default is {ExportOptions.opset})"
        )


def _session(path: Path, threads: int = 2):
    return open_session(path, threads=threads)


def export_onnx(model: nn.Module, input_shape: tuple[int, int, int], path: Path, opset: int) -> None:
    """The dynamo exporter with a dynamic batch axis; traced with batch 2 (batch 1 would freeze it)."""
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    example = torch.zeros(2, *input_shape)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes={"x": {0: batch}},
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; the user needs the first line
            raise ExportError(f"torch.onnx.export failed: {str(exc).strip().splitlines()[0]}") from None
    written = program.model.opset_imports.get("")
    if written != opset:  # the exporter keeps its own opset where it cannot convert, and says so in a log
        raise ExportError(f"the exporter wrote opset {written}, not {opset}; pass --opset {written}")
    program.save(str(path), external_data=False)


def add_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Store every entry as a JSON string in `metadata_props`, then run the full checker; the same
    metadata goes beside the file as plain JSON (model.json) for clients that cannot read metadata_props.
    The metadata passes the contract's reader first: zoo never writes a file it would refuse to read."""
    import onnx

    try:
        decode(encode(metadata), path)
    except ExportedModelError as exc:
        raise InternalError(str(exc)) from None
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, encode(metadata))
    model.producer_name = "zoo"
    model.doc_string = (
        f"{metadata['model']} trained on {metadata['dataset']}; inputs: {metadata['preprocessing']}"
    )
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported graph fails onnx.checker: {str(exc).splitlines()[0]}") from None
    onnx.save(model, str(path))
    write_metadata_json(path, metadata)
    try:  # the graph too: every reader opens it through open_model, so must the writer
        open_model(path)
    except ExportedModelError as exc:
        raise ExportError(f"the exported file fails zoo's own contract: {exc}") from None


def build_metadata(record: RunRecord, run_dir: Path, options: ExportOptions) -> dict[str, Any]:
    import onnx

    metrics = {
        split: {k: record.metrics[split][k] for k in ("accuracy", "log_loss", "n")}
        for split in ("val", "test")
        if split in record.metrics
    }
    return {
        "zoo.format": FORMAT,
        "model": record.model,
        "dataset": record.dataset,
        "class_names": record.class_names,
        "input_name": INPUT,
        "output_name": OUTPUT,
        "input_shape": record.input_shape,
        "dtype": "float32",
        "layout": "NCHW",
        "mean": record.normalization["mean"],
        "std": record.normalization["std"],
        "preprocessing": "x = (pixels / 255 - mean) / std, pixels uint8 in NCHW order",
        "image_preprocessing": image_preprocessing(
            record.input_shape,
            record.normalization["mean"],
            record.normalization["std"],
            get_dataset_info(record.dataset).polarity,
            # how the run's images of another aspect ratio were resized (runs before it: stretch)
            record.data.get("resize", "stretch"),
        ),
        "test_time_augmentation": "hflip: mean logits of the image and its mirror" if options.tta else "none",
        "hyperparameters": record.hyperparameters,
        "train_config": dict(record.train_config),
        "metrics": metrics,
        "num_params": record.num_params,
        "study": options.study or record.study,
        "trial": options.trial if options.trial is not None else record.trial,
        "run_dir": str(run_dir.resolve()),
        "weights_sha256": record.weights_sha256,
        # a folder dataset's images, by digest: bench refuses to score the export on other images filed
        # under the same dataset name (zoo.data.identity); null for the built-in datasets
        "data_tensors_sha256": record.data.get("tensors_sha256"),
        "export_options": options.signature(),
        "versions": {**versions(), "onnx": onnx.__version__},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def file_logits(path: Path, data: DataSplits) -> np.ndarray:
    """The ONNX file's logits on the whole test set."""
    return onnx_logits(_session(path), data.test.images.numpy(), data.mean, data.std)


def figures(logits: np.ndarray, data: DataSplits) -> dict[str, Any]:
    """A file's own test figures, as its metadata records them in `metrics.test_exported`."""
    labels = data.test.labels
    return {
        "accuracy": float((logits.argmax(1) == labels.numpy()).mean()),
        "log_loss": float(F.cross_entropy(torch.from_numpy(logits), labels).item()),
        "n": len(labels),
    }


def parity(path: Path, model: nn.Module, data: DataSplits, max_diff: float) -> dict[str, Any]:
    """ONNX Runtime against PyTorch on the whole test set, plus the batch sizes that must run."""
    reference = predict_logits(model, data.test.images, Normalizer(data.mean, data.std)).numpy()
    got = file_logits(path, data)
    own = figures(got, data)
    labels = data.test.labels.numpy()
    run = session_function(_session(path))
    pixels = data.test.images.numpy()
    batches = {}
    for b in PARITY_BATCHES:
        out = run(normalise(pixels[np.arange(b) % len(pixels)], data.mean, data.std))  # small test sets wrap
        batches[str(b)] = list(out.shape) == [b, reference.shape[1]]
    report = {
        "images": len(labels),
        "max_abs_logit_diff": float(np.abs(got - reference).max()),
        "argmax_agreement": float((got.argmax(1) == reference.argmax(1)).mean()),
        "accuracy_torch": float((reference.argmax(1) == labels).mean()),
        "accuracy_onnx": own["accuracy"],
        "log_loss_onnx": own["log_loss"],
        "batch_sizes_ok": batches,
        "thresholds": {"min_agreement": MIN_AGREEMENT, "max_abs_logit_diff": max_diff},
    }
    report["passed"] = bool(
        report["argmax_agreement"] >= MIN_AGREEMENT
        and report["max_abs_logit_diff"] <= max_diff
        and all(batches.values())
    )
    return report


def _check_parity(report: dict[str, Any], what: str) -> None:
    if not report["passed"]:
        bad = [b for b, ok in report["batch_sizes_ok"].items() if not ok]
        raise ExportError(
            f"{what} parity failed: argmax agreement {report['argmax_agreement']:.4%} (needs ≥ "
            f"{MIN_AGREEMENT:.1%}), max |Δlogit| {report['max_abs_logit_diff']:.2e} (limit "
            f"{report['thresholds']['max_abs_logit_diff']:.0e})"
            + (f", batch sizes {bad} failed" if bad else "")
        )


def convert_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        # the converter appends its input/output Cast nodes at the end; the checker wants them in order
        OnnxModel(model).topological_sort()
    onnx.save(model, str(dst))


def variant_metadata(fp32: dict[str, Any], own: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A variant file's metadata: the fp32 file's, with the variant's own test figures (`test_exported`
    is what *this* file scores, not what model.onnx scores) and what is particular to it."""
    metrics = {**fp32["metrics"], "test_exported": own}
    return {**fp32, "metrics": metrics, **extra}


def destination(record: RunRecord, run_dir: Path, options: ExportOptions) -> Path:
    """artifacts/models/<model>/<name>, both names checked, or the user's own `--out`."""
    if options.out is not None:
        return Path(options.out)
    return inside(paths.artifacts_dir() / "models", record.model, options.name or run_dir.name)


def check_out(out: Path, run_dirs: list[Path]) -> None:
    """Refuse an `--out` the export could not replace as a whole, before any work: `/`, a file, the
    current directory, the artifacts folder, a run being exported or a folder holding any of them
    (zoo.core.names.check_replaceable), or a folder of the user's files (anything but an export, or empty).
    An export already there is judged later by `plan` (up to date, rebuilt, or replaced with --force).
    A symlinked --out is followed: the export replaces the folder it points to."""
    check_replaceable(out, keep=[(r, "the run being exported") for r in run_dirs])
    if out.is_dir() and any(out.iterdir()) and not is_export_folder(out):
        raise ExportConflict(
            f"{out} holds files that are not a zoo export; pick another --out (zoo never replaces them)"
        )


def plan(folder: Path, record: RunRecord, options: ExportOptions) -> ExportResult | ExportOptions:
    """What exporting `record` into `folder` must do, decided before any work.

    - The folder already holds these weights, exported the same way (opset, tta) with every variant asked
      for, files intact: that export (`up_to_date`); nothing is written.
    - The same weights and way, with fewer variants (or damaged files): the options to rebuild it with,
      keeping the variants it had, since replacing it loses nothing.
    - The folder is free, or `force` is given: the options as asked.
    - Otherwise (other weights, another opset or tta): ExportConflict, naming `--force`."""
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return options
    if not is_export_folder(folder):
        raise ExportConflict(
            f"{folder} holds files that are not a zoo export; pick another --out (zoo never replaces them)"
        )
    try:
        meta = read_metadata(folder / VARIANT_FILES["fp32"])
    except ExportedModelError:
        meta = None
    had = (meta or {}).get("export_options") or {}
    same_weights = meta is not None and meta["weights_sha256"] == record.weights_sha256
    same_way = same_weights and all(had.get(k) == getattr(options, k) for k in ("opset", "tta"))
    if same_way:
        covered = all(had.get(v) or not getattr(options, v) for v in ("int8", "fp16"))
        # an int8 file of another recipe (an older zoo's, or another --int8-recipe) is rebuilt
        covered = covered and (not options.int8 or had.get("int8_recipe") == options.int8_recipe)
        # a folder of an older zoo (no model.json) is rebuilt: same weights and way, so without --force
        covered = covered and all((folder / METADATA_FILES[v]).is_file() for v in _variants(folder))
        if covered and _files_intact(folder):
            parity = json.loads((folder / "parity.json").read_text())
            files = sorted(p for p in folder.iterdir() if p.is_file())
            return ExportResult(folder, files, parity, meta, up_to_date=True)
        if not options.force:
            return dataclasses.replace(
                options,
                int8=options.int8 or bool(had.get("int8")),
                int8_recipe=options.int8_recipe if options.int8 else had.get("int8_recipe"),
                fp16=options.fp16 or bool(had.get("fp16")),
            )
    if options.force:
        return options
    what = (
        "an export of other weights"
        if not same_weights
        else f"an export made another way (opset {had.get('opset')}, tta {had.get('tta')})"
    )
    raise ExportConflict(f"{folder} already holds {what}; pass --force to replace it")


def _variants(folder: Path) -> list[str]:
    return [v for v, name in VARIANT_FILES.items() if (folder / name).is_file()]


def _files_intact(folder: Path) -> bool:
    sums = read_sums(folder)
    present = {p.name for p in folder.iterdir() if p.is_file()} - {SUMS}
    return bool(sums) and set(sums) == present and all(sha256_file(folder / n) == d for n, d in sums.items())


def export_run(
    run_dir: str | os.PathLike, options: ExportOptions, *, data_dir: str | None = None
) -> ExportResult:
    """Export one run directory; see the module docstring for what is checked and guaranteed."""
    check_opset(options.opset)
    if options.int8:
        options = dataclasses.replace(
            options, int8_recipe=get_recipe(options.int8_recipe or default_recipe()).name
        )
    run_dir = Path(run_dir)
    if options.out is not None:
        check_out(Path(options.out), [run_dir])  # before anything is loaded
    model, record = load_run(run_dir)
    check_run_data(record, run_dir)  # before any work: another dataset under the run's name is refused
    folder = destination(record, run_dir, options)
    target = check_replaceable(folder, keep=[(run_dir, "the run being exported")])
    remove_stale(target.parent)
    decided = plan(folder, record, options)
    if isinstance(decided, ExportResult):
        return decided
    options = decided
    # fp32 + int8 (1/4) + fp16 (1/2) copies of the weights, and the old folder until the swap
    weights = record.num_params * 4 * (2 + options.int8 + options.fp16) + (2 << 20)
    check_writable(target.parent, weights, "the export")
    if options.tta:
        model = FlipAveraged(model)
    data = _parity_data(record, run_dir, data_dir, options)
    # the statistics the model was trained with (a --subset run computed them on its subset)
    norm = record.normalization
    data = dataclasses.replace(data, mean=tuple(norm["mean"]), std=tuple(norm["std"]))

    work = temporary_sibling(target)  # beside the folder a symlinked --out points to: one rename away
    try:
        report, metadata = _build(work, model, record, run_dir, data, options)
        os.chmod(work, 0o777 & ~umask())
        replace_folder(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(folder, sorted(p for p in folder.iterdir() if p.is_file()), report, metadata)


def _parity_data(
    record: RunRecord, run_dir: Path, data_dir: str | None, options: ExportOptions
) -> DataSplits:
    """The run's own splits; for a shipped model whose dataset is not installed, its reference images
    (zoo.weights.use.reference_data): the package alone exports it, fp32 and fp16."""
    config = record.train_config
    try:
        return load(
            record.dataset, data_dir=data_dir, val_fraction=config["val_fraction"], seed=config["seed"]
        )
    except DataError as missing:
        from zoo.weights.use import reference_data

        reference = reference_data(run_dir, record, tta=options.tta)
        if reference is None:
            raise
        if options.int8:
            raise DataError(
                f"{missing}; --int8 calibrates on the training images, so it needs the dataset (an fp32 or "
                "--fp16 export of a shipped model does not)"
            ) from None
        return reference


def _build(
    work: Path, model: nn.Module, record: RunRecord, run_dir: Path, data: DataSplits, options: ExportOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write every file of the export into `work`; raise ExportError when a check fails."""
    onnx_path = work / VARIANT_FILES["fp32"]
    export_onnx(model, tuple(record.input_shape), onnx_path, options.opset)
    report: dict[str, Any] = {"fp32": parity(onnx_path, model, data, MAX_LOGIT_DIFF)}
    _check_parity(report["fp32"], "ONNX")
    metadata = build_metadata(record, run_dir, options)
    # The run's own test figure may come from two passes (test_time_flip); this is the file's own.
    # a shipped model exported without its dataset: parity on its reference images, and its shipped figure
    reference = data.fingerprint.get("test_exported") if data.fingerprint.get("reference") else None
    metadata["metrics"]["test_exported"] = reference or _own(report["fp32"])
    add_metadata(onnx_path, metadata)
    if options.int8:
        int8_path = work / VARIANT_FILES["int8"]
        recipe = get_recipe(options.int8_recipe or default_recipe())
        train = normalise(data.train.images.numpy(), data.mean, data.std)
        calibration = calibration_images(train, CALIBRATION_IMAGES)
        build(recipe, onnx_path, int8_path, calibration, work)
        own = figures(file_logits(int8_path, data), data)
        # the types in the file, not the recipe's wish: NNCF quantizes some activations to uint8
        quantization = {**recipe.to_dict(), **activation_types(int8_path)}
        add_metadata(int8_path, variant_metadata(metadata, own, quantization=quantization))
        acc = own["accuracy"]
        drop = (report["fp32"]["accuracy_onnx"] - acc) * 100
        report["int8"] = {
            "recipe": recipe.name,
            "activations": quantization["activations"],
            "accuracy": acc,
            "log_loss": own["log_loss"],
            "drop_points": drop,
            "max_drop_points": options.max_int8_drop,
        }
        if drop > options.max_int8_drop:
            raise ExportError(
                f"int8 model loses {drop:.2f} accuracy points ({report['fp32']['accuracy_onnx']:.4f} -> "
                f"{acc:.4f}), over the {options.max_int8_drop:g} allowed; "
                "raise --max-int8-drop or drop --int8"
            )
    if options.fp16:
        fp16_path = work / VARIANT_FILES["fp16"]
        convert_fp16(onnx_path, fp16_path)
        report["fp16"] = parity(fp16_path, model, data, FP16_MAX_LOGIT_DIFF)
        _check_parity(report["fp16"], "fp16")
        precision = "float16 weights and compute; float32 inputs"
        add_metadata(fp16_path, variant_metadata(metadata, _own(report["fp16"]), precision=precision))
    try:
        (work / "parity.json").write_text(jsontext.dumps(report) + "\n")
    except ValueError as exc:  # a NaN figure: the report would not be JSON
        raise ExportError(f"the parity report cannot be written: {exc}") from None
    (work / "card.md").write_text(model_card(record, metadata, report))
    write_sums(work)
    return report, metadata


def _own(parity_report: dict[str, Any]) -> dict[str, Any]:
    return {
        "accuracy": parity_report["accuracy_onnx"],
        "log_loss": parity_report["log_loss_onnx"],
        "n": parity_report["images"],
    }


@dataclass
class ExportOutcome:
    """One target of `export_targets`: its result, or the one-line reason it was not exported."""

    name: str
    run_dir: Path
    result: ExportResult | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {"name": self.name, "run_dir": str(self.run_dir), "error": self.error}
        r = self.result
        return {
            "name": self.name,
            "folder": str(r.folder),
            "up_to_date": r.up_to_date,
            "files": [str(f) for f in r.files],
            "parity": r.parity,
            "metadata": r.metadata,
        }


def export_targets(
    target: str,
    options: ExportOptions,
    *,
    storage: str | None = None,
    study: str | None = None,
    data_dir: str | None = None,
    on_start: Any = None,
    pretrained: bool = False,
) -> list[ExportOutcome]:
    """Export every run TARGET names (`best`, a study, a model or a run directory).

    One target: its error is raised. Several (`best` over many studies): each is exported when it can
    be, and a conflict or failure of one is recorded in its outcome without stopping the others."""
    targets = resolve_targets(target, storage=storage, study=study, pretrained=pretrained)
    if options.out is not None and len(targets) > 1:
        raise UsageError(f"{target} names {len(targets)} models; --out takes one: add --study NAME")
    if options.out is not None:
        check_out(Path(options.out), [t.run_dir for t in targets])
    outcomes = []
    for t in targets:
        if on_start:
            on_start(t)
        outcome = ExportOutcome(t.name, t.run_dir)
        each = dataclasses.replace(options, name=t.name, study=t.study, trial=t.trial)
        try:
            outcome.result = export_run(t.run_dir, each, data_dir=data_dir)
        except ZooError as exc:
            if len(targets) == 1:
                raise
            outcome.error = str(exc)
        outcomes.append(outcome)
    return outcomes
