"""A real HTTP server on 127.0.0.1 serving a folder, for download tests (datasets, shipped weights)."""

import functools
import http.server
import threading
from pathlib import Path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class ShortHandler(QuietHandler):
    """Promises more bytes than it sends, like a connection dropped mid-download."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + b"x" * 1000)
        self.close_connection = True


def serve(folder: Path, handler=QuietHandler):
    """Serve `folder` at the root; returns (server, its URL + "files/", where tests put their files)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/files/"
