"""One deploy target as the console reads it: config, outputs and credentials through the Pulumi CLI.

Every `pulumi` command starts a process (about a second), and the page polls, so reads are kept:
config and credentials until the stack's config file changes (an edit, `alias set`), outputs for a
few seconds or until the console itself changed the stack. Credentials stay in this process: they
are added to requests on the server side and never reach a page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from components.inputs.config_sections import Console
from components.inputs.stack_file import stack_file_path
from components.stacks.endpoint_calls import credentials
from components.stacks.errors import ToolError
from components.stacks.stack_config import Pulumi, StackConfig

T = TypeVar("T")
# Outputs change only with `pulumi up`; one made elsewhere shows within this many seconds.
OUTPUTS_SECONDS = 15.0


@dataclass
class _Kept:
    key: object
    value: Any


class StackSource:
    """Reads of one stack, kept between polls; `changing()` serializes the console's own changes."""

    def __init__(self, pulumi: Pulumi, base_url: str | None = None) -> None:
        self.pulumi = pulumi
        self.base_url = base_url
        self._lock = threading.Lock()
        self._change = threading.Lock()
        self._kept: dict[str, _Kept] = {}
        # Counts reads of config or outputs: what was derived from them is stale when it moves.
        self.revision = 0

    @property
    def stack(self) -> str:
        return self.pulumi.stack

    @property
    def project_dir(self) -> Path:
        return self.pulumi.project_dir

    def config(self) -> StackConfig:
        value: StackConfig = self._keep("config", self._file_key(), self.pulumi.read_config)
        return value

    def outputs(self) -> dict[str, Any]:
        """The outputs of the last `pulumi up`; empty when the stack was never deployed."""
        value: dict[str, Any] = self._keep("outputs", self._time_key(OUTPUTS_SECONDS), self._read_outputs)
        return value

    def credentials(self) -> tuple[str, str] | None:
        """The stack's first basicAuth user and password (decrypted once per config file version)."""
        config = self.config()
        value: tuple[str, str] | None = self._keep(
            "credentials", self._file_key(), lambda: credentials(self.pulumi, config, None)
        )
        return value

    def console_settings(self) -> tuple[Console, list[str]]:
        """The stack's `console` key, checked alone (the rest of its config may be broken)."""
        raw = self.config().values.get("console") or {}
        try:
            return Console.model_validate(raw), []
        except ValueError as err:
            first = str(err).splitlines()
            return Console(allow_apply=False), [f"config: console: not valid ({first[-1].strip() if first else err})"]

    def allows_apply(self) -> bool:
        settings, problems = self.console_settings()
        return not problems and settings.allows_apply(self.config().short_stack)

    def forget(self) -> None:
        """Read everything again next time (after the console changed the stack)."""
        with self._lock:
            self._kept.clear()

    @contextmanager
    def changing(self) -> Iterator[None]:
        """One change at a time per stack from this console; a second one is refused, not queued."""
        if not self._change.acquire(blocking=False):
            raise ToolError(f"another change to stack '{self.stack}' is running from this console; wait for it")
        try:
            yield
        finally:
            self._change.release()
            self.forget()

    def _read_outputs(self) -> dict[str, Any]:
        try:
            return self.pulumi.outputs()
        except ToolError:
            # A stack that was never deployed has no outputs; the page says so from the empty dict.
            return {}

    def _keep(self, name: str, key: object, read: Callable[[], T]) -> T:
        with self._lock:
            kept = self._kept.get(name)
            if kept is not None and kept.key == key:
                value: T = kept.value
                return value
        value = read()
        with self._lock:
            self._kept[name] = _Kept(key, value)
            self.revision += 1
        return value

    def _file_key(self) -> object:
        """Changes whenever the project or stack file does (their size and modification time)."""
        key: list[object] = []
        for path in (self.project_dir / "Pulumi.yaml", stack_file_path(self.project_dir, self.stack)):
            try:
                stat = path.stat()
                key.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                key.append(None)
        if key[-1] is None:
            # Config kept elsewhere than a file here: read it again every few seconds.
            key.append(self._time_key(OUTPUTS_SECONDS))
        return tuple(key)

    @staticmethod
    def _time_key(seconds: float) -> object:
        return int(time.monotonic() // seconds)
