"""Which project files may become image content: none that holds credentials or state.

A file source is any path inside the Pulumi project, so a pull request could name `.git/config`,
the state backend's files or the kubeconfig the deploy workflow writes, and the image pushed to
the registry would carry it. This is a deny-list (README, "Security notes"): models live anywhere
in the project, as they always have, and these paths are refused, wherever a symlink leads:

- any path with a part starting with `.` (`.git/`, `.pulumi-state/`, `.env`, `.build/`, `.ssh/`, ...);
- `kubeconfigs/` (the deploy workflow writes cluster credentials there) and the stack's own
  `target.kubeconfig`;
- `Pulumi.yaml` and `Pulumi.<stack>.yaml` (encrypted secrets and the salt that decrypts them),
  in the project and in its `stackConfigDir`;
- the state backend's directory when `PULUMI_BACKEND_URL` (or Pulumi.yaml's `backend.url`) is a
  `file://` URL inside the project (whatever its name);
- `.env`-style files anywhere (`*.env`; `.env*` is hidden) and key material (`*.pem`, `*.key`, `id_rsa*`, ...).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from components.inputs.stack_file import project_file

# Directories the project's workflows and tools write credentials or state to (README, workflows).
CREDENTIAL_DIRECTORIES = ("kubeconfigs",)
# File names (any directory) that hold configuration secrets, state or keys.
CREDENTIAL_FILES = (
    "Pulumi.yaml",
    "Pulumi.yml",
    "Pulumi.*.yaml",
    "Pulumi.*.yml",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "kubeconfig*",
    "*.kubeconfig",
    "credentials*",
)


@dataclass(frozen=True)
class ProtectedPaths:
    """The project's own places that never become image content (absolute, symlinks resolved)."""

    project_dir: Path
    directories: tuple[Path, ...] = ()
    files: tuple[Path, ...] = ()

    @classmethod
    def of(
        cls, project_dir: Path, kubeconfig: str | None = None, environ: Mapping[str, str] | None = None
    ) -> ProtectedPaths:
        project_dir = project_dir.resolve()
        project = project_file(project_dir)
        directories = [project_dir / name for name in CREDENTIAL_DIRECTORIES]
        stack_dir = project.get("stackConfigDir")
        if isinstance(stack_dir, str):
            directories.append((project_dir / stack_dir).resolve())
        backend = (os.environ if environ is None else environ).get("PULUMI_BACKEND_URL")
        url = project.get("backend", {}).get("url") if isinstance(project.get("backend"), dict) else None
        for candidate in (backend, url):
            state = _file_backend(candidate, project_dir)
            if state is not None:
                # Pulumi keeps a file backend's state in `<path>/.pulumi`; a `<path>` of its own inside
                # the project (not the project itself) is the state's directory as a whole.
                directories += [state / ".pulumi", state]
        files = [(project_dir / _expanded(kubeconfig)).resolve()] if kubeconfig else []
        # Places outside the project need no rule: file sources must be inside it anyway.
        inside = tuple(d for d in directories if d != project_dir and d.is_relative_to(project_dir))
        return cls(project_dir, inside, tuple(files))

    def refusal(self, resolved: Path) -> str | None:
        """Why `resolved` (a file inside the project, symlinks followed) may not be a file source, or None."""
        relative = resolved.relative_to(self.project_dir)
        hidden = next((part for part in relative.parts if part.startswith(".")), None)
        if hidden is not None:
            return f"'{hidden}' is hidden (repository data, state, credentials); hidden paths are never image content"
        for directory in self.directories:
            if resolved.is_relative_to(directory):
                return f"it is in {directory.relative_to(self.project_dir)}/, which holds credentials or state"
        if resolved in self.files:
            return "it is the stack's target.kubeconfig (cluster credentials)"
        for pattern in CREDENTIAL_FILES:
            if fnmatch.fnmatchcase(resolved.name, pattern):
                return f"its name matches {pattern}, a file that holds configuration secrets or keys"
        return None


def _file_backend(url: object, project_dir: Path) -> Path | None:
    """The directory a `file://` backend URL names (`~` is home, a relative path the project's), else None."""
    if not isinstance(url, str) or not url.startswith("file://"):
        return None
    parts = urlsplit(url)
    text = unquote(parts.netloc + parts.path)
    path = _expanded(text)
    return (project_dir / path).resolve() if not path.is_absolute() else path.resolve()


def _expanded(text: str) -> Path:
    """`~` and `~user` expanded as a shell would; left as written when there is no such home."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)
