"""A small front server in the role nginx plays in an image: listens on every address,
passes each GET to the app behind it, and logs one access line per request to stdout."""

import os
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:8765")


class Front(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            with urllib.request.urlopen(UPSTREAM + self.path, timeout=5) as answer:
                status, body = answer.status, answer.read()
        except OSError as e:
            status, body = 502, f"upstream: {e}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # access lines on stdout, as nginx writes them to its access log
        sys.stdout.write(f"{self.address_string()} {format % args}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), Front)
    print(f"front listening on http://{host}:{port}, upstream {UPSTREAM}", flush=True)
    server.serve_forever()
