"""Download one file to a target path, bounded, and put it in place only after its content checks out.

No mirror can make a download fill the disk or last forever:
- size: a download gets the file's known size (shipped weights: the registry's), else the cap its caller
  gives (datasets); a Content-Length above it is refused before the first byte, and a stream without one
  is cut as soon as one byte more arrives;
- time: connecting and each read wait at most TIMEOUT_S, and every RATE_WINDOW_S the transfer must have
  brought MIN_RATE bytes/s over that window (a mirror sending one byte every 2 s, which no read timeout
  catches, fails after one window); so a download ends within about size / MIN_RATE + RATE_WINDOW_S;
- content: a `Verifier` sees the bytes as they arrive (the file is never read again) and judges the whole
  before the rename.

The temporary file lives beside the target, so the final rename is atomic; any failure leaves `atomic_path`
to delete it, so a cut-off or corrupt download never looks like a real file. User info in a URL
(`https://user:password@host/`) is sent as HTTP basic authentication, never to the host of a redirect, and
never shown: every URL in a message goes through `redact`.

Failures of the mirror, the network or the content raise DownloadFailed (one line); failures to write the
target (a read-only or full disk) are the OSError they are, for the caller to name its folder and the fix.
"""

import base64
import hashlib
import http.client
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from zoo.core.fileio import atomic_path

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, total bytes or None)

_CHUNK = 1 << 16
TIMEOUT_S = 60.0  # connecting, and each read
RATE_WINDOW_S = 30.0  # every window of this many seconds must bring at least MIN_RATE bytes/s
MIN_RATE = 16 * 1024  # bytes/s: 1 MB of weights in about a minute, a 170 MB dataset in three hours
SCHEMES = ("http", "https", "file")
URL_FORMS = "http://HOST/PATH, https://HOST/PATH or file:///PATH"


class DownloadFailed(Exception):
    """One URL failed for one file: the message is one line (HTTP status, short transfer, bad digest)."""


class Verifier(Protocol):
    """Sees every byte of a download as it arrives, then says what is wrong with the whole, or None."""

    def update(self, chunk: bytes) -> None: ...

    def problem(self) -> str | None: ...


class Digest:
    """A Verifier: the bytes' `algorithm` digest (hashlib's name) must be `expected` (hex)."""

    def __init__(self, algorithm: str, expected: str) -> None:
        self.algorithm = algorithm
        self.expected = expected.lower()
        self._hash = hashlib.new(algorithm)

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def problem(self) -> str | None:
        actual = self._hash.hexdigest()
        if actual == self.expected:
            return None
        return f"checksum mismatch: {self.algorithm} {actual}, expected {self.expected}"


# The authority of a URL (scheme optional, so that a malformed value is redacted too): what lies between
# `//` and the first `/`, `?` or `#`; its user info ends at the last `@`.
_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://)?([^/?#]*)")


def redact(url: str) -> str:
    """`url` fit for a message: `user:***@host` where it has a password, `***@host` where its user info is
    one word (often a token), else unchanged (pip redacts the same way)."""
    match = _AUTHORITY.match(url)
    if not match or "@" not in match.group(1):
        return url
    userinfo, _, host = match.group(1).rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{url[: match.start(1)]}{shown}@{host}{url[match.end(1) :]}"


def url_problem(url: str) -> str | None:
    """What keeps `url` from being a base URL zoo can download from, or None."""
    if not url.strip():
        return "it is empty"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it holds spaces or control characters (a space in a URL is written %20)"
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a port that is no number, or out of range, raises here
    except ValueError as exc:
        return f"it is not a URL ({exc})"
    if not parts.scheme:
        return "it has no scheme"
    if parts.scheme.lower() not in SCHEMES:
        return f"zoo does not download {parts.scheme}: URLs"
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            return "a file: URL needs an absolute path, file:///PATH"
    elif not parts.hostname:
        return "it names no host"
    return None


def download(
    url: str,
    target: Path,
    verifier: Verifier,
    *,
    size: int | None = None,
    max_bytes: int | None = None,
    on_progress: ProgressFn | None = None,
) -> None:
    """Fetch `url` into `target`: exactly `size` bytes where it is known, else at most `max_bytes` (None: no
    cap); `verifier` sees every byte and judges the whole file before it replaces anything."""
    limit = size if size is not None else max_bytes
    request = _request(url)
    # a read-only or full disk fails here, before the request
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        start = time.monotonic()
        with _open(request) as response:
            announced = _announced(response)
            if announced is not None and limit is not None and announced > limit:
                raise DownloadFailed(f"the mirror announces {announced:,} bytes, expected at most {limit:,}")
            total = size if size is not None else announced
            done = 0
            if on_progress:
                on_progress(target.name, done, total)
            window = (start, 0)  # (when, bytes done then)
            while True:
                wanted = _CHUNK if limit is None else min(_CHUNK, limit - done + 1)  # one byte over: too long
                chunk = _read(response, wanted)
                if not chunk:
                    break
                done += len(chunk)
                if limit is not None and done > limit:
                    raise DownloadFailed(
                        f"the mirror sent more than the {limit:,} bytes expected; stopped there"
                    )
                out.write(chunk)
                verifier.update(chunk)
                if on_progress:
                    on_progress(target.name, done, total)
                window = _check_rate(window, done)
        for expected in (announced, size):
            if expected is not None and done != expected:
                raise DownloadFailed(f"the connection closed after {done} of {expected} bytes")
        problem = verifier.problem()
        if problem:
            raise DownloadFailed(problem)


def _request(url: str) -> urllib.request.Request:
    """A request for `url`, its user info moved into an Authorization header that no redirect carries."""
    try:
        parts = urllib.parse.urlsplit(url)
        if "@" not in parts.netloc or parts.scheme.lower() not in ("http", "https"):
            return urllib.request.Request(url)
        userinfo, _, host = parts.netloc.rpartition("@")
        request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=host)))
    except ValueError as exc:  # callers check their URLs first (url_problem); this is the last guard
        raise DownloadFailed(
            f"{redact(url)} is not a URL zoo can download ({exc}); use {URL_FORMS}"
        ) from None
    user, _, password = (urllib.parse.unquote(part) for part in userinfo.partition(":"))
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _open(request: urllib.request.Request):
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        e.close()
        raise DownloadFailed(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise DownloadFailed(f"no answer within {TIMEOUT_S:g} s") from None
        raise DownloadFailed(str(reason)) from None
    except TimeoutError:
        raise DownloadFailed(f"no answer within {TIMEOUT_S:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadFailed(f"{type(e).__name__}: {e}") from None


def _announced(response) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length and length.strip().isdigit() else None


def _read(response, n: int) -> bytes:
    """At most `n` bytes, as soon as any arrive (read1: one system call, so a trickle returns each byte to
    the rate check instead of blocking read() until `n` have come)."""
    try:
        read = getattr(response, "read1", response.read)
        return read(n)
    except TimeoutError:
        raise DownloadFailed(f"the mirror sent nothing for {TIMEOUT_S:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadFailed(f"{type(e).__name__}: {e}") from None


def _check_rate(window: tuple[float, int], done: int) -> tuple[float, int]:
    """The window to measure from next; DownloadFailed where the one that ends now was too slow."""
    since, done_then = window
    now = time.monotonic()
    elapsed = now - since
    if elapsed < RATE_WINDOW_S:
        return window
    brought = done - done_then
    if brought < MIN_RATE * elapsed:
        raise DownloadFailed(
            f"too slow: {brought:,} bytes in the last {elapsed:.1f} s, below the {MIN_RATE:,} bytes/s "
            "zoo waits for; try again later or use another mirror"
        )
    return now, done
