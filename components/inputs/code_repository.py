"""The code repository: commits, files at a commit, and deterministic exports of its trees."""

from __future__ import annotations

import functools
import io
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

from components.inputs.errors import ConfigError, shown_name


class CodeRepository:
    """A git repository read only through committed objects, never the working tree."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            top = self._git("rev-parse", "--show-toplevel").strip()
        except ConfigError:
            raise ConfigError(
                [
                    f"config: codeRepository: {shown_name(str(path))} is not a git repository; point it at the "
                    "repository holding valohai.yaml (relative to the Pulumi project, or absolute)"
                ]
            ) from None
        self.top = Path(top)

    def _run(self, *args: str) -> bytes:
        try:
            return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True).stdout
        except (subprocess.CalledProcessError, FileNotFoundError) as err:
            stderr = getattr(err, "stderr", b"") or b""
            raise ConfigError([f"git {' '.join(args)}: {stderr.decode(errors='replace').strip() or err}"]) from None

    def _git(self, *args: str) -> str:
        return self._run(*args).decode()

    @functools.cache  # noqa: B019 (one repository object per run; refs are resolved once)
    def resolve(self, ref: str) -> str | None:
        """The commit id `ref` names, or None."""
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip() or None
        except ConfigError:
            return None

    def relative(self, directory: str) -> str:
        """`directory` (relative to the repository top) in git's spelling: '' for the root."""
        parts = PurePosixPath(directory).parts
        return "/".join(p for p in parts if p != ".")

    @functools.cache  # noqa: B019
    def read(self, commit: str, path: str) -> str | None:
        try:
            return self._git("show", f"{commit}:{path}")
        except ConfigError:
            return None

    @functools.cache  # noqa: B019
    def tree(self, commit: str, directory: str) -> str | None:
        """The tree id of `directory` at `commit`: a digest of every byte and mode beneath it."""
        spec = f"{commit}:{directory}" if directory else f"{commit}^{{tree}}"
        try:
            return self._git("rev-parse", "--verify", "--quiet", spec).strip() or None
        except ConfigError:
            return None

    def export(self, tree: str, destination: Path) -> None:
        """Write the files of `tree` under `destination`; modes come from git (644/755, symlinks kept).

        The caller fixes timestamps for the whole build context at once.
        """
        data = self._run("archive", "--format=tar", tree)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(destination, filter="tar")
