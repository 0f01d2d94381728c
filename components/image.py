"""The image of a version: a deterministic Docker build context, its content tag, its Dockerfile.

The content key is computed from inputs that are already digests (git tree id, file sha256s,
base image, Dockerfile text), so an unchanged version gets the same tag, the same context
directory and no rebuild; the context is written once per key.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from components.code_repository import CodeRepository
from components.errors import ConfigError
from components.plan import ImagePlan, VersionPlan
from components.settings import UrlSource
from components.workload_spec import CODE_DIR, RUN_AS_USER, SERVE_DIR

# Bump when the context layout or Dockerfile shape changes, so every image is rebuilt once.
FORMAT = "vh-image-3"
SERVE_SOURCES = Path(__file__).parent / "serve"
REQUIREMENTS = ("requirements-deployment.txt", "requirements.txt")
_COMPLETE = ".complete"


@dataclass(frozen=True)
class BuildContext:
    key: str
    directory: Path

    @property
    def dockerfile(self) -> Path:
        return self.directory / "Dockerfile"


def sha256_file(path: Path) -> str:
    stat = path.stat()
    return _sha256_file(path, stat.st_size, stat.st_mtime_ns)


@functools.cache
def _sha256_file(path: Path, size: int, mtime_ns: int) -> str:
    """Keyed by size and mtime too: many versions share one model file, which is read once."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dockerfile(image: ImagePlan, requirements: str | None) -> str:
    user = f"{RUN_AS_USER}:{RUN_AS_USER}"
    lines = [
        f"FROM {image.base_image}",
        "ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "
        "PIP_ROOT_USER_ACTION=ignore HOME=/tmp",
    ]
    if image.serves_wsgi:
        lines += [
            f"COPY serve/ {SERVE_DIR}/",
            f"RUN python -m pip install -r {SERVE_DIR}/requirements.txt",
        ]
    lines.append(f"COPY --chown={user} repository/ {CODE_DIR}/")
    if requirements:
        # Installed from the copied code so `-r other.txt` lines resolve as they do on Valohai.
        lines.append(f"RUN cd {CODE_DIR} && python -m pip install -r {requirements}")
    if image.files:
        lines.append(f"COPY --chown={user} files/ {CODE_DIR}/")
    lines += [f"WORKDIR {CODE_DIR}", f"USER {user}", ""]
    return "\n".join(lines)


def _file_digest(source: Path | UrlSource) -> str:
    return source.sha256 if isinstance(source, UrlSource) else sha256_file(source)


def _requirements(repository: CodeRepository, version: VersionPlan, code_dir: str) -> str | None:
    for name in REQUIREMENTS:
        path = f"{code_dir}/{name}" if code_dir else name
        if repository.read(version.commit, path) is not None:
            return name
    return None


def prepare_context(
    build_root: Path, repository: CodeRepository, code_dir: str, version: VersionPlan, image: ImagePlan
) -> BuildContext:
    """The build context of `image`, written under `build_root/contexts/<key>` unless already there."""
    requirements = _requirements(repository, version, code_dir)
    text = dockerfile(image, requirements)
    digest = hashlib.sha256()
    for part in (FORMAT, image.base_image, version.tree, text):
        digest.update(part.encode() + b"\0")
    for item in sorted(image.files, key=lambda f: f.path):
        digest.update(f"{item.path}\0{_file_digest(item.source)}\0".encode())
    if image.serves_wsgi:
        for source in sorted(SERVE_SOURCES.glob("*.*")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    key = digest.hexdigest()
    context = BuildContext(key=key, directory=build_root / "contexts" / key[:32])
    if not (context.directory / _COMPLETE).exists():
        _write(context=context, repository=repository, version=version, image=image, text=text, build_root=build_root)
    return context


def _write(
    *,
    context: BuildContext,
    repository: CodeRepository,
    version: VersionPlan,
    image: ImagePlan,
    text: str,
    build_root: Path,
) -> None:
    context.directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=context.directory.parent))
    try:
        (staging / "repository").mkdir()
        repository.export(version.tree, staging / "repository")
        for item in image.files:
            destination = staging / "files" / item.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(item.source, UrlSource):
                shutil.copyfile(fetch(item.source, build_root / "downloads"), destination)
            else:
                shutil.copyfile(item.source, destination)
        if image.serves_wsgi:
            shutil.copytree(SERVE_SOURCES, staging / "serve", ignore=shutil.ignore_patterns("__pycache__"))
        (staging / "Dockerfile").write_text(text)
        (staging / _COMPLETE).write_text(context.key + "\n")
        for root, dirs, files in os.walk(staging):
            for name in dirs + files:
                os.utime(Path(root) / name, (0, 0), follow_symlinks=False)
        if context.directory.exists():
            shutil.rmtree(context.directory)
        # Rename is atomic: a run interrupted mid-write never leaves a half context marked complete.
        staging.rename(context.directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch(source: UrlSource, cache: Path) -> Path:
    """Download `source` once into a digest-addressed cache; a wrong digest is an error."""
    target = cache / source.sha256
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(source.url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310 (https only, checked in settings)
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise ConfigError([f"files: cannot download {source.url}: {err}"]) from None
    if digest.hexdigest() != source.sha256:
        partial.unlink(missing_ok=True)
        raise ConfigError(
            [
                f"files: {source.url} has sha256 {digest.hexdigest()}, but config says {source.sha256}; "
                "fix the digest or the URL"
            ]
        )
    partial.rename(target)
    return target
