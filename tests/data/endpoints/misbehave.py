"""misbehave: a test endpoint that fails on request, the ways real endpoints do.

    GET .../allocate?mb=N   holds N MiB more (touched, so the kernel counts it): past the container's
                            memory limit the kernel kills it (OOMKilled)
    GET .../status/NNN      answers with status NNN (e.g. 500)
    GET .../burn?ms=N       spends N ms of CPU time before answering (load for the autoscaler)
    GET anything else       answers 200

Each request is logged to stdout, like a server's access log. Integration tests copy it into their
scratch project with a `misbehave` entry in valohai.yaml (tests/integration/observe_project.py).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HELD: list[bytearray] = []
STATUS = re.compile(r"/status/(\d{3})/?$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        status = 200
        if url.path.rstrip("/").endswith("/allocate"):
            megabytes = int(parse_qs(url.query).get("mb", ["0"])[0])
            block = bytearray(megabytes * 1024 * 1024)
            # Write every page, so the memory is resident and counted against the limit.
            for offset in range(0, len(block), 4096):
                block[offset] = 1
            HELD.append(block)
        elif url.path.rstrip("/").endswith("/burn"):
            # CPU time, not wall time: on a busy node the request takes longer, the CPU used is the same.
            until = time.thread_time() + int(parse_qs(url.query).get("ms", ["0"])[0]) / 1000
            while time.thread_time() < until:
                pass
        elif match := STATUS.search(url.path):
            status = int(match.group(1))
        body = json.dumps({"status": status, "heldMiB": sum(len(b) for b in HELD) // (1024 * 1024)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} - {format % args}", file=sys.stdout, flush=True)


def main() -> None:
    # Inside a pod every interface is the pod's own.
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler)
    server.daemon_threads = True
    print(f"misbehave listening on {server.server_address}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
