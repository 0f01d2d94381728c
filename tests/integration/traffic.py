"""Requests through the local router, and a steady, bounded load for watching live changes.

Everything goes to the router on 127.0.0.1; the host name only selects the route (a Host
header), so no name is ever looked up.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROUTER_HOST, ROUTER_PORT = "127.0.0.1", 8080


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(
    host: str,
    path: str,
    *,
    method: str = "GET",
    auth: tuple[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
) -> Response:
    all_headers = {"Host": host, **(headers or {})}
    if auth:
        all_headers["Authorization"] = basic_auth(*auth)
    connection = http.client.HTTPConnection(ROUTER_HOST, ROUTER_PORT, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """name -> (filename, data, content type) as a multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, (filename, data, content_type) in fields.items():
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Sample:
    sent: float  # seconds since the load started
    status: int  # 0: no HTTP answer at all
    answer: str  # what identifies the responder (e.g. the version), or the error


@dataclass
class SteadyLoad:
    """Requests at a fixed rate from one thread, until stopped or a bound is reached.

    `identify` turns a 200 response into a label (e.g. the version that answered). Bounded in
    count and time, so a hung test cannot turn this into an endless loop.
    """

    host: str
    path: str
    identify: Callable[[Response], str]
    auth: tuple[str, str] | None = None
    rate: float = 20.0
    max_seconds: float = 300.0
    max_requests: int = 6000
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _start: float = 0.0

    def __enter__(self) -> SteadyLoad:
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def now(self) -> float:
        return time.monotonic() - self._start

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set() and len(self.samples) < self.max_requests and self.now() < self.max_seconds:
            sent = self.now()
            try:
                response = request(self.host, self.path, auth=self.auth, timeout=10)
                answer = (
                    self.identify(response) if response.status == 200 else response.body[:200].decode(errors="replace")
                )
                self.samples.append(Sample(sent, response.status, answer))
            except (OSError, http.client.HTTPException, ValueError) as err:
                self.samples.append(Sample(sent, 0, f"{type(err).__name__}: {err}"))
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def wait_until(self, predicate: Callable[[list[Sample]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.samples)):
                return True
            time.sleep(0.1)
        return False

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if s.status != 200]

    def last_change_to(self, answer: str) -> float | None:
        """When answers became `answer` for good: the first sample of the final run of them."""
        samples = list(self.samples)
        if not samples or samples[-1].answer != answer:
            return None
        index = len(samples) - 1
        while index > 0 and samples[index - 1].answer == answer:
            index -= 1
        return samples[index].sent
