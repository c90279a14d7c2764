"""Download a dataset's official files and put each in place only after its checksum matches.

Each download is bounded (zoo.core.download): the catalog records no sizes, so a file may have at most
MAX_BYTES, and it is judged as its bytes arrive (`_OfficialBytes`), as `checksum_status` judges a file on
disk, without reading it again."""

import hashlib
import zlib
from pathlib import Path

from zoo.core.download import URL_FORMS, DownloadFailed, ProgressFn, download, redact, url_problem
from zoo.core.errors import DataError, UsageError
from zoo.core.paths import data_cache_dir
from zoo.data.catalog import FileSpec
from zoo.data.checksums import checksum_status
from zoo.data.lookup import get_dataset_spec

MAX_BYTES = 1 << 30  # per file; the largest official download, CIFAR-10's archive, has 163 MiB
CONTENT_MAX_BYTES = 1 << 30  # what a .gz may decompress to (Fashion-MNIST's largest file: 47 MB)
_PIECE = 1 << 20  # decompressed bytes per step, so a small chunk that inflates hugely costs no memory


class _OfficialBytes:
    """A Verifier for the `name` form of `spec`: the publisher's md5 of the download, or the sha256 of the
    content (what a .gz decompresses to), which a recompressed copy (Debian's) keeps."""

    def __init__(self, spec: FileSpec, name: str) -> None:
        self.spec = spec
        self.md5 = hashlib.md5() if name == spec.md5_form else None
        self.content = hashlib.sha256() if spec.sha256 is not None else None
        gz = name.endswith(".gz") and not spec.name.endswith(".gz")
        self.inflate = zlib.decompressobj(wbits=31) if self.content is not None and gz else None
        self.inflated = 0

    def update(self, chunk: bytes) -> None:
        if self.md5 is not None:
            self.md5.update(chunk)
        if self.content is None:
            return
        if self.inflate is None:
            self.content.update(chunk)
            return
        try:
            self._inflate(chunk)
        except zlib.error:
            self.content = None  # not even valid gzip: certainly not the official content

    def _inflate(self, data: bytes) -> None:
        while self.content is not None:
            if self.inflate.eof:
                if not data:
                    return
                self.inflate = zlib.decompressobj(wbits=31)  # a gzip file may hold several members
            piece = self.inflate.decompress(data, _PIECE)
            self.inflated += len(piece)
            if self.inflated > CONTENT_MAX_BYTES:
                self.content = None  # far more than any official file: a bomb, not the content
                return
            self.content.update(piece)
            data = self.inflate.unused_data if self.inflate.eof else self.inflate.unconsumed_tail
            if not data and len(piece) < _PIECE:
                return

    def problem(self) -> str | None:
        if self.md5 is not None and self.spec.md5 is not None and self.md5.hexdigest() == self.spec.md5:
            return None
        complete = self.inflate is None or self.inflate.eof
        if self.content is not None and complete and self.content.hexdigest() == self.spec.sha256:
            return None
        md5 = self.md5.hexdigest() if self.md5 is not None else "not recorded"
        return f"checksum mismatch: md5 {md5}, expected {self.spec.md5}"


def _download_from_any(
    spec: FileSpec, mirrors: list[str], target: Path, on_progress: ProgressFn | None
) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        try:
            download(
                url,
                target,
                _OfficialBytes(spec, target.name),
                max_bytes=MAX_BYTES,
                on_progress=on_progress,
            )
            return
        except DownloadFailed as e:
            failures.append(f"{redact(url)}: {e}")
        except OSError as e:  # writing, not the mirror: another mirror would not help
            raise DataError(
                f"cannot write {target.parent} ({e.strerror or type(e).__name__}); make it writable, or "
                "use another artifacts folder (--artifacts DIR or ZOO_ARTIFACTS)"
            ) from None
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
    if mirror:
        problem = url_problem(mirror)
        if problem:
            raise UsageError(f"mirror {redact(mirror)!r} is not a base URL: {problem}; use {URL_FORMS}")
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
