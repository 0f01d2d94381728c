"""The image of a version: a deterministic Docker build context, its content tag, its Dockerfile.

The content key is computed from inputs that are already digests (git tree id, file sha256s,
base image, Dockerfile text), so an unchanged version gets the same tag, the same context
directory and no rebuild; the context is written once per key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inputs.code_repository import CodeRepository
from components.inputs.config_sections import UrlSource
from components.inputs.contract import CODE_DIR, RUN_AS_USER, SERVE_DIR
from components.inputs.errors import ConfigError
from components.inputs.image_reference import is_image_reference
from components.inputs.plan import DeploymentPlan, ImagePlan, VersionPlan

# Bump when the context layout or Dockerfile shape changes, so every image is rebuilt once.
FORMAT = "vh-image-3"
# The image payload of wsgi endpoints (gunicorn settings and the prefix shim), part of the content key.
SERVE_SOURCES = Path(__file__).parent.parent / "serve"
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


@functools.cache
def base_image_digest(reference: str) -> str | None:
    """The registry digest of the local `reference` image (`sha256:...`), or None when docker has none.

    Docker records it (RepoDigests) for an image pulled from or pushed to a registry; an image that
    was never pulled, or was built or `docker import`ed locally, has none, and is then used by name.
    """
    if "@" in reference:
        return reference.split("@", 1)[1]
    try:
        out = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", reference],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        digests = json.loads(out or "null") or []
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    repository = _familiar(_repository(reference))
    for item in digests:
        name, _, digest = str(item).partition("@")
        if _familiar(name) == repository and digest:
            return digest
    return None


def _repository(reference: str) -> str:
    """`host:5000/a/b:tag` -> `host:5000/a/b`."""
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _familiar(repository: str) -> str:
    """Docker Hub names as docker prints them: `docker.io/library/python` -> `python`."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        repository = repository.removeprefix(prefix)
    return repository.removeprefix("library/")


def dockerfile(image: ImagePlan, requirements: str | None, base_digest: str | None = None) -> str:
    # valohai.yaml is checked already; this keeps a bad reference from ever becoming Dockerfile lines.
    if not is_image_reference(image.base_image):
        raise ConfigError([f"image {image.base_image!r} is not an image reference"])
    user = f"{RUN_AS_USER}:{RUN_AS_USER}"
    # Pinned by digest when docker knows one, so the build cannot pick up a moved tag unnoticed;
    # the tag stays in the line for readers (docker ignores it next to a digest).
    base = f"{image.base_image}@{base_digest}" if base_digest and "@" not in image.base_image else image.base_image
    lines = [
        f"FROM {base}",
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
    # The base digest is in the key through the Dockerfile text.
    text = dockerfile(image, requirements, base_image_digest(image.base_image))
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
    else:
        # Contexts written before modes were normalized converge too (chmod leaves mtimes alone).
        normalize_modes(context.directory)
    return context


def prepare_contexts(plan: DeploymentPlan, build_root: Path) -> dict[str, dict[str, BuildContext]]:
    """version -> image key -> its build context, each written once (before any resource is declared)."""
    return {
        name: {
            image.key: prepare_context(build_root, plan.repository, plan.code_directory, version, image)
            for image in version.images
        }
        for name, version in plan.versions.items()
    }


def normalize_modes(root: Path) -> None:
    """0755 for directories and executables, 0644 for other files: the bytes docker sends (and the
    provider's context digest) must not depend on the umask of the machine that wrote them."""
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue  # a link's own mode means nothing and cannot be set on Linux
            executable = stat.S_ISDIR(mode) or bool(mode & stat.S_IXUSR)
            wanted = 0o755 if executable else 0o644
            if stat.S_IMODE(mode) != wanted:
                path.chmod(wanted)
    # The root keeps mkdtemp's 0700 (umask-independent), which existing context digests include.


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
        normalize_modes(staging)
        for root, dirs, files in os.walk(staging):
            for name in dirs + files:
                os.utime(Path(root) / name, (0, 0), follow_symlinks=False)
        if context.directory.exists():
            shutil.rmtree(context.directory)
        # Rename is atomic: a run interrupted mid-write never leaves a half context marked complete.
        staging.rename(context.directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# A URL file is a model or data file; more than this is a mistake or a hostile server (README, Security notes).
MAX_DOWNLOAD = 4 * 1024**3


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another https URL: a downgrade to http could be tampered with in transit."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme != "https":
            raise urllib.error.URLError(f"redirected to {newurl!r}, which is not https; give the final https URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(source: UrlSource, cache: Path) -> Path:
    """Download `source` once into a digest-addressed cache; a wrong digest is an error.

    https only, redirects too, at most MAX_DOWNLOAD bytes.
    """
    target = cache / source.sha256
    if target.exists():
        return target
    if urllib.parse.urlsplit(source.url).scheme != "https":
        raise ConfigError([f"files: {source.url} is not an https URL; only https sources are downloaded"])
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    opener = urllib.request.build_opener(_HttpsOnlyRedirects())
    try:
        with opener.open(source.url, timeout=60) as response, partial.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_DOWNLOAD:
                raise _TooLarge
            received = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                received += len(block)
                if received > MAX_DOWNLOAD:
                    raise _TooLarge
                digest.update(block)
                out.write(block)
    except _TooLarge:
        partial.unlink(missing_ok=True)
        raise ConfigError(
            [f"files: {source.url} is larger than {MAX_DOWNLOAD} bytes, the most a URL file may be"]
        ) from None
    except (OSError, ValueError) as err:
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


class _TooLarge(Exception):
    pass
