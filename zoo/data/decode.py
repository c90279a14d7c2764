"""Read and decode many image files on every core: each file is read once, hashed (its bytes, for the
fingerprint; its pixels, to find duplicates) and converted as `zoo predict` converts (zoo.core.images).

Files are handed to worker processes in chunks (a chunk costs one round trip, a file about 0.1 ms to
decode), a few chunks in flight per worker so that results, which arrive in order, fill one
preallocated array without a copy. Workers ignore Ctrl-C: the parent decides, stops handing out chunks,
and the workers finish the chunk they hold (a fraction of a second) and exit.
"""

import hashlib
import io
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from zoo.core.errors import DataError
from zoo.core.images import STRETCH, UNREADABLE, ImageRefused, decode_image

ProgressFn = Callable[[int, int], None]  # (files done, files in all)

# Files read into memory whole; a larger one is hashed as a stream and decoded from its path.
READ_WHOLE_BYTES = 64 << 20
MAX_CHUNK = 256  # files per task
TASKS_PER_WORKER = 4  # at least, so the last tasks do not leave a core idle
IN_FLIGHT_PER_WORKER = 2
# Below this many files the work takes less time than starting processes.
POOL_FROM_FILES = 64


def cpu_count() -> int:
    """The cores this process may run on (its affinity, as `taskset` and container limits set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(n_files: int) -> int:
    return 1 if n_files < POOL_FROM_FILES else min(cpu_count(), n_files)


@dataclass
class FileResult:
    sha256: str | None  # None when the file could not be read
    reason: str | None = None  # why it was not decoded; None when it was
    detail: str = ""
    pixel_digest: bytes | None = None
    size: tuple[int, int] | None = None
    mode: str | None = None


@dataclass
class Decoded:
    images: np.ndarray  # uint8 (kept, C, H, W): the decoded files, in file order
    kept: np.ndarray  # int64 (kept,): their indices into the file list
    results: list[FileResult] = field(default_factory=list)  # one per file

    @property
    def sizes(self) -> Counter:
        return Counter(r.size for r in self.results if r.reason is None)

    @property
    def modes(self) -> Counter:
        return Counter(r.mode for r in self.results if r.reason is None)


def _read(path: str) -> tuple[str, bytes | None]:
    """(sha256 of the file's bytes, the bytes when small enough to keep); OSError when unreadable."""
    with open(path, "rb") as f:
        data = f.read(READ_WHOLE_BYTES + 1)
        if len(data) <= READ_WHOLE_BYTES:
            return hashlib.sha256(data).hexdigest(), data
        digest = hashlib.sha256(data)
        while block := f.read(1 << 20):
            digest.update(block)
        return digest.hexdigest(), None


def _unreadable(exc: OSError) -> FileResult:
    return FileResult(None, UNREADABLE, exc.strerror or type(exc).__name__)


def _decode_chunk(
    paths: Sequence[str], channels: int, size: tuple[int, int], resize: str
) -> tuple[np.ndarray, list[FileResult]]:
    """Decode `paths` to `size` (height, width): (pixels of the decoded ones, stacked in order; one result
    per path)."""
    results, pixels = [], []
    for path in paths:
        try:
            sha, data = _read(path)
        except OSError as exc:
            results.append(_unreadable(exc))
            continue
        try:
            source = io.BytesIO(data) if data is not None else path
            image = decode_image(source, channels, size[0], size[1], resize)
        except ImageRefused as exc:
            results.append(FileResult(sha, exc.reason, exc.detail))
            continue
        pixels.append(image.pixels)
        digest = hashlib.blake2b(image.pixels.data, digest_size=16).digest()
        results.append(FileResult(sha, None, "", digest, image.size, image.mode))
    stacked = np.stack(pixels) if pixels else np.empty((0, channels, *size), np.uint8)
    return stacked, results


def _hash_chunk(paths: Sequence[str]) -> list[str | None]:
    out: list[str | None] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                out.append(hashlib.file_digest(f, "sha256").hexdigest())
        except OSError:
            out.append(None)
    return out


def _worker_init() -> None:
    # The parent handles Ctrl-C and `kill`: a worker that raised KeyboardInterrupt itself would print a
    # traceback of its own. SIGTERM kills a worker outright (the parent's handler would unwind it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _context() -> multiprocessing.context.BaseContext:
    # fork: a worker starts in milliseconds with zoo already imported (spawn would import torch again in
    # each, seconds); workers run only Pillow, numpy and hashlib, none of the parent's threads' locks.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _chunks(n: int, workers: int) -> list[tuple[int, int]]:
    size = max(1, min(MAX_CHUNK, -(-n // (workers * TASKS_PER_WORKER))))
    return [(start, min(n, start + size)) for start in range(0, n, size)]


def _run(
    fn: Callable, paths: Sequence[str], args: tuple, workers: int, on_progress: ProgressFn | None
) -> Iterator[tuple[tuple[int, int], object]]:
    """(chunk bounds, fn(chunk, *args)) for each chunk of `paths`, in order."""
    chunks = _chunks(len(paths), workers)
    if workers <= 1:
        for start, end in chunks:
            yield (start, end), fn(paths[start:end], *args)
            if on_progress:
                on_progress(end, len(paths))
        return
    executor = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_worker_init)
    try:
        pending: list[tuple[tuple[int, int], Future]] = []
        todo = iter(chunks)
        window = workers * IN_FLIGHT_PER_WORKER
        for bounds in todo:
            pending.append((bounds, executor.submit(fn, paths[bounds[0] : bounds[1]], *args)))
            if len(pending) >= window:
                break
        while pending:
            bounds, future = pending.pop(0)
            try:
                result = future.result()
            except BrokenProcessPool:
                raise DataError(
                    "a process decoding the images ended unexpectedly (killed, or out of memory: the system "
                    "ends the largest process first); run again, with a smaller --size or fewer images if "
                    "memory is short"
                ) from None
            for nxt in todo:
                pending.append((nxt, executor.submit(fn, paths[nxt[0] : nxt[1]], *args)))
                break
            yield bounds, result
            if on_progress:
                on_progress(bounds[1], len(paths))
    except BaseException:  # Ctrl-C, a kill, a full disk: the workers' chunks are no longer wanted
        _stop_workers(executor)
        raise
    executor.shutdown(wait=True)


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """End the workers now rather than after the chunks they hold (seconds of large photos)."""
    stop = getattr(executor, "terminate_workers", None)  # Python 3.14
    if stop is not None:
        stop()
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())  # shutdown forgets them
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def decode_files(
    paths: Sequence[str],
    channels: int,
    size: int | tuple[int, int],
    *,
    resize: str = STRETCH,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> Decoded:
    """Decode every file of `paths` into one (kept, C, H, W) uint8 array: `size` is (H, W), or N for N x N;
    `resize` how an image of another aspect ratio becomes that size (zoo.core.images.fit)."""
    workers = default_workers(len(paths)) if workers is None else max(1, workers)
    sides = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    images = np.empty((len(paths), channels, *sides), np.uint8)
    kept: list[int] = []
    results: list[FileResult] = []
    for (start, _), (pixels, chunk_results) in _run(
        _decode_chunk, paths, (channels, sides, resize), workers, on_progress
    ):
        at = len(kept)
        images[at : at + len(pixels)] = pixels
        kept.extend(start + i for i, r in enumerate(chunk_results) if r.reason is None)
        results.extend(chunk_results)
    return Decoded(images[: len(kept)], np.asarray(kept, dtype=np.int64), results)


def hash_files(
    paths: Sequence[str], *, workers: int | None = None, on_progress: ProgressFn | None = None
) -> list[str | None]:
    """The sha256 of each file's bytes (None where it cannot be read), on every core."""
    workers = default_workers(len(paths)) if workers is None else max(1, workers)
    digests: list[str | None] = []
    for _, chunk in _run(_hash_chunk, paths, (), workers, on_progress):
        digests.extend(chunk)
    return digests
