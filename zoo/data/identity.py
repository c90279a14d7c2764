"""Is the dataset registered under a run's dataset name the one the run was trained on?

A folder dataset can be removed and added again from other images under the same name (`zoo data remove
pets && zoo data add pets OTHER`); every command that reuses a run then measured the new images under the
old class names, or failed deep inside the model with a shape error. A run records its data (class names,
image shape, and for a folder dataset the sha256 of its tensors file); this check compares them with what
the name holds now, from the catalog and the manifest only (no images are read), before any work.
"""

from collections.abc import Sequence

from zoo.core.errors import DataError, ZooError
from zoo.data.folders import folder_manifest, is_folder_dataset
from zoo.data.lookup import get_dataset_info


class DatasetChanged(DataError):
    """The dataset under a run's dataset name is not the data the run was trained on."""


def _listed(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown}, ..." if len(names) > limit else shown


def data_differences(
    dataset: str, class_names: Sequence[str], image_shape: Sequence[int], tensors_sha256: str | None = None
) -> list[str]:
    """What differs between the data a run (or an export) records and what `dataset` holds now."""
    info = get_dataset_info(dataset)
    found = []
    if list(info.class_names) != list(class_names):
        found.append(f"classes {_listed(list(class_names))} then, {_listed(list(info.class_names))} now")
    if list(info.image_shape) != list(image_shape):
        then, now = "x".join(map(str, image_shape)), "x".join(map(str, info.image_shape))
        found.append(f"images {then} then, {now} now")
    if tensors_sha256 and is_folder_dataset(dataset):
        now_sha = folder_manifest(dataset).tensors_sha256
        if now_sha != tensors_sha256:
            found.append(f"images sha256 {tensors_sha256[:12]} then, {now_sha[:12]} now")
    return found


def check_same_data(
    who: str,
    dataset: str,
    class_names: Sequence[str],
    image_shape: Sequence[int],
    tensors_sha256: str | None = None,
) -> None:
    """DatasetChanged (one line naming `who`, the dataset and what differs) unless `dataset` still holds
    the data `who` was made from; a dataset that is gone says how to bring it back."""
    try:
        found = data_differences(dataset, class_names, image_shape, tensors_sha256)
    except ZooError as exc:
        raise DatasetChanged(
            f"{who} was trained on dataset {dataset!r}, which is not here now ({exc}); add it again from "
            "the same images (zoo data add), or use the run's export, which needs no dataset"
        ) from None
    if found:
        raise DatasetChanged(
            f"{who} was trained on another dataset than the one now named {dataset!r} ({'; '.join(found)}); "
            f"add the run's images again under a new name, or retrain on the new data"
        )


def check_run_data(record, run_dir: object) -> None:
    """check_same_data for a run record (zoo.train.checkpoint.RunRecord)."""
    tensors = record.data.get("tensors_sha256")  # run.json's data is a checked dict
    check_same_data(f"run {run_dir}", record.dataset, record.class_names, record.input_shape, tensors)
