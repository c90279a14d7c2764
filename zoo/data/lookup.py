"""Every dataset by name, built-in or folder: the one lookup across both kinds (zoo.data.catalog holds the
built-in ones, zoo.data.folders the ones `zoo data add` made; this module stands on both)."""

import difflib

from zoo.core.errors import UsageError
from zoo.data.catalog import BUILTIN, DatasetInfo, DatasetSpec
from zoo.data.folders import folder_dataset_names, folder_info, is_folder_dataset


def dataset_names() -> list[str]:
    """The built-in datasets, then the folder datasets of the artifacts folder (`zoo data add`)."""
    return [*BUILTIN, *folder_dataset_names()]


def _unknown(name: object) -> UsageError:
    known = dataset_names()
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return UsageError(
        f"unknown dataset {name!r}; {hint}known: {', '.join(known)} (`zoo data list` shows them; "
        "`zoo data add NAME PATH` adds a folder of images)"
    )


def get_dataset_spec(name: str) -> DatasetSpec:
    """The official files of a built-in dataset; a folder dataset has none, and says so."""
    key = name.strip().lower() if isinstance(name, str) else name
    spec = BUILTIN.get(key)
    if spec is not None:
        return spec
    if is_folder_dataset(name):
        raise UsageError(
            f"{name} is a folder dataset, made by `zoo data add` from a folder of images: it has no official "
            f"files to find or download; `zoo data add {name} PATH` rebuilds it"
        )
    raise _unknown(name)


def get_dataset_info(name: str) -> DatasetInfo:
    """What a model needs to know about dataset `name`, built-in or folder (`zoo data add`)."""
    key = name.strip().lower() if isinstance(name, str) else name
    spec = BUILTIN.get(key)
    if spec is not None:
        return spec.info
    info = folder_info(name)
    if info is None:
        raise _unknown(name)
    return info
