"""A real HTTP server on 127.0.0.1 serving a folder, for download tests (datasets, shipped weights), and
handlers that misbehave as real mirrors do: cut short, endless, trickling, gated, asking for a password.

The server records the path of every request it gets (`server.requests`), and gated handlers wait for
`server.release` (set by default) before they answer."""

import base64
import functools
import http.server
import threading
import time
from pathlib import Path

SAFETY_BYTES = 64 << 20  # the endless handlers stop here, so a download without a cap ends anyway
TRICKLE_SECONDS = 8.0  # the trickling handler gives up after this long


class Server(http.server.ThreadingHTTPServer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def handle_error(self, request, client_address):
        pass  # a client that hung up (the test killed it, or it refused the rest): not news


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        self.answer()

    def answer(self):
        super().do_GET()


class ShortHandler(QuietHandler):
    """Promises more bytes than it sends, like a connection dropped mid-download."""

    def answer(self):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + b"x" * 1000)
        self.close_connection = True


class EndlessHandler(QuietHandler):
    """Streams bytes with no Content-Length until the client hangs up (or SAFETY_BYTES)."""

    length: str | None = None

    def answer(self):
        self.send_response(200)
        if self.length is not None:
            self.send_header("Content-Length", self.length)
        self.end_headers()
        block = b"\0" * (1 << 16)
        for _ in range(SAFETY_BYTES // len(block)):
            self.wfile.write(block)
        self.close_connection = True


class HugeLengthHandler(EndlessHandler):
    """Announces 3 GB, then streams as EndlessHandler."""

    length = str(3 * 10**9)


class TrickleHandler(QuietHandler):
    """Announces 100 kB, then sends one byte every 20 ms, which no read timeout catches."""

    def answer(self):
        self.send_response(200)
        self.send_header("Content-Length", str(10**5))
        self.end_headers()
        end = time.monotonic() + TRICKLE_SECONDS
        while time.monotonic() < end:
            self.wfile.write(b"\0")
            self.wfile.flush()
            time.sleep(0.02)
        self.close_connection = True


class GatedHandler(QuietHandler):
    """Serves the folder once `server.release` is set: a mirror slow to answer, as long as a test needs."""

    def answer(self):
        self.server.release.wait(timeout=60)
        super().answer()


class BasicAuthHandler(QuietHandler):
    """Serves the folder only to `user:password` (HTTP basic authentication), else 401."""

    user, password = "alice", "s3cret-pw"

    def answer(self):
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {token}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="zoo"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().answer()


def serve(folder: Path, handler=QuietHandler):
    """Serve `folder` at the root; returns (server, its URL + "files/", where tests put their files)."""
    server = Server(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/files/"
