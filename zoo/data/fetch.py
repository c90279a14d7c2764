"""Download a dataset's official files and put each in place only after its checksum matches."""

from pathlib import Path

from zoo.data.catalog import FileSpec, get_dataset_spec
from zoo.data.checksums import checksum_status, file_digest
from zoo.download import DownloadFailed, ProgressFn, download
from zoo.errors import DataError
from zoo.paths import data_cache_dir


def _download(url: str, spec: FileSpec, target: Path, on_progress: ProgressFn | None) -> None:
    def check(path: Path) -> str | None:
        if checksum_status(path, spec, name=target.name) == "ok":
            return None
        return f"checksum mismatch: md5 {file_digest(path, 'md5')}, expected {spec.md5}"

    download(url, target, check, on_progress)


def _download_from_any(
    spec: FileSpec, mirrors: list[str], target: Path, on_progress: ProgressFn | None
) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        try:
            _download(url, spec, target, on_progress)
            return
        except DownloadFailed as e:
            failures.append(f"{url}: {e}")
    raise DataError(f"could not download {target.name}: {'; '.join(failures)}")


def fetch(
    name: str,
    *,
    mirror: str | None = None,
    dest: Path | None = None,
    on_progress: ProgressFn | None = None,
) -> Path:
    """Download `name`'s official files into `dest` (default: the artifacts data cache) and return it.

    Tries `mirror` (a base URL) or else each default mirror in turn; files already there and verified
    are kept. A failure raises DataError and leaves no partial file.
    """
    spec = get_dataset_spec(name)
    folder = Path(dest) if dest is not None else data_cache_dir(spec.info.name)
    mirrors = [mirror] if mirror else list(spec.mirrors)
    for file in spec.downloads:
        target = folder / file.md5_form
        if target.is_file() and checksum_status(target, file) == "ok":
            if on_progress:
                size = target.stat().st_size
                on_progress(target.name, size, size)
            continue
        _download_from_any(file, mirrors, target, on_progress)
    return folder
