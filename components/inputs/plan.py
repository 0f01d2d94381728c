"""The deployment plan: settings joined with each version's valohai.yaml, fully checked.

Everything a user can get wrong is found here, before a single resource is declared, and all
problems are reported together.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from components.inputs import naming
from components.inputs.code_repository import CodeRepository
from components.inputs.config_sections import UrlSource, Version
from components.inputs.errors import ConfigError, shown_name
from components.inputs.file_sources import ProtectedPaths
from components.inputs.settings import PlanInput, StackSettings
from components.inputs.valohai_config import Endpoint, ValohaiFile, parse_valohai_yaml


@dataclass(frozen=True)
class FilePlan:
    """One file a version puts into its image at `path` (relative to the code directory)."""

    endpoint: str
    name: str
    path: str
    source: Path | UrlSource


@dataclass(frozen=True)
class ImagePlan:
    """One image of a version: the endpoints that share a base image, and their files."""

    key: str
    base_image: str
    endpoints: tuple[Endpoint, ...]
    files: tuple[FilePlan, ...]

    @property
    def serves_wsgi(self) -> bool:
        return any(e.wsgi for e in self.endpoints)


@dataclass(frozen=True)
class VersionPlan:
    name: str
    commit: str
    tree: str
    endpoints: tuple[Endpoint, ...]
    images: tuple[ImagePlan, ...]
    settings: Version


@dataclass(frozen=True)
class DeploymentPlan:
    repository: CodeRepository
    code_directory: str
    versions: dict[str, VersionPlan] = field(default_factory=dict)


def code_location(settings: PlanInput, project_dir: Path) -> tuple[CodeRepository, str, str]:
    """(the code repository, `codeDirectory` and valohai.yaml's path inside it in git's spelling)."""
    repo_path = (project_dir / settings.code_repository).resolve()
    repository = CodeRepository(repo_path)
    code_dir = _code_directory(repository, repo_path, settings.code_directory)
    yaml_path = posixpath.join(code_dir, settings.valohai_yaml) if code_dir else settings.valohai_yaml
    return repository, code_dir, yaml_path


def build_plan(settings: PlanInput, project_dir: Path) -> DeploymentPlan:
    """Resolve every version against its commit's valohai.yaml; raise `ConfigError` on any problem."""
    repository, code_dir, yaml_path = code_location(settings, project_dir)
    plan = DeploymentPlan(repository=repository, code_directory=code_dir)
    kubeconfig = settings.target.kubeconfig if isinstance(settings, StackSettings) else None
    protected = ProtectedPaths.of(project_dir, kubeconfig)

    problems: list[str] = []
    parsed: dict[str, ValohaiFile] = {}
    for name, version in settings.versions.items():
        try:
            plan.versions[name] = _version_plan(
                name=name,
                version=version,
                repository=repository,
                code_dir=code_dir,
                yaml_path=yaml_path,
                parsed=parsed,
                protected=protected,
            )
        except ConfigError as err:
            problems += err.problems
    _check_splits(settings, plan, problems)
    if problems:
        raise ConfigError(problems)
    return plan


def _code_directory(repository: CodeRepository, repo_path: Path, code_directory: str) -> str:
    """`codeDirectory` as a path inside the repository, in git's spelling ('' for the top)."""
    absolute = (repo_path / code_directory).resolve()
    if not absolute.is_relative_to(repository.top):
        raise ConfigError(
            [
                f"config: codeDirectory: '{shown_name(code_directory)}' is outside the repository "
                f"{repository.top.name}; give a directory inside codeRepository"
            ]
        )
    return repository.relative(absolute.relative_to(repository.top).as_posix())


def _version_plan(
    *,
    name: str,
    version: Version,
    repository: CodeRepository,
    code_dir: str,
    yaml_path: str,
    parsed: dict[str, ValohaiFile],
    protected: ProtectedPaths,
) -> VersionPlan:
    where = f"versions.{shown_name(name)}"
    commit = repository.resolve(version.commit)
    if commit is None:
        raise ConfigError(
            [
                f"config: {where}.commit: '{shown_name(version.commit)}' is not a commit of {repository.top.name}; "
                "use a branch, tag or commit id that exists there (git log)"
            ]
        )
    tree = repository.tree(commit, code_dir)
    text = repository.read(commit, yaml_path)
    if tree is None or text is None:
        raise ConfigError(
            [
                f"config: {where}: {yaml_path} does not exist at commit {commit[:12]} ({version.commit}); "
                "check codeDirectory / valohaiYaml, or commit the file"
            ]
        )
    source = f"{yaml_path}@{commit[:12]}"
    if tree not in parsed:
        parsed[tree] = parse_valohai_yaml(text, source)
    valohai = parsed[tree]

    problems: list[str] = []
    enabled = version.endpoints if version.endpoints is not None else valohai.endpoint_names
    unknown = [e for e in enabled if valohai.endpoint(e) is None]
    problems += [
        f"config: {where}.endpoints: '{shown_name(e)}' is not an endpoint of {source}; "
        f"choose from: {', '.join(valohai.endpoint_names) or '(none)'}"
        for e in unknown
    ]
    if not enabled:
        problems.append(f"config: {where}.endpoints: enable at least one endpoint of {source}")
    endpoints = tuple(e for e in valohai.endpoints if e.name in enabled)
    files, file_problems = _files(
        where=where, version=version, endpoints=endpoints, valohai=valohai, source=source, protected=protected
    )
    problems += file_problems
    images, image_problems = _images(where, endpoints, files)
    problems += image_problems
    if problems:
        raise ConfigError(problems)
    return VersionPlan(name=name, commit=commit, tree=tree, endpoints=endpoints, images=images, settings=version)


def _files(
    *,
    where: str,
    version: Version,
    endpoints: tuple[Endpoint, ...],
    valohai: ValohaiFile,
    source: str,
    protected: ProtectedPaths,
) -> tuple[list[FilePlan], list[str]]:
    problems: list[str] = []
    files: list[FilePlan] = []
    enabled = {e.name for e in endpoints}
    for endpoint_name, chosen in version.files.items():
        endpoint = valohai.endpoint(endpoint_name)
        if endpoint is None or endpoint_name not in enabled:
            state = "not enabled in this version" if endpoint else f"not an endpoint of {source}"
            shown_endpoint = shown_name(endpoint_name)
            problems.append(
                f"config: {where}.files.{shown_endpoint}: endpoint '{shown_endpoint}' is {state}; "
                f"remove these files or enable the endpoint"
            )
            continue
        declared = {f.name: f for f in endpoint.files}
        for file_name, file_source in chosen.items():
            key = f"{where}.files.{shown_name(endpoint_name)}.{shown_name(file_name)}"
            if file_name not in declared:
                problems.append(
                    f"config: {key}: endpoint '{shown_name(endpoint_name)}' declares no file '{shown_name(file_name)}' "
                    f"in {source}; "
                    f"its files are: {', '.join(declared) or '(none)'}"
                )
                continue
            resolved: Path | UrlSource
            if isinstance(file_source, UrlSource):
                resolved = file_source
            else:
                # resolve() follows symlinks, so a link that points out of the project is caught too.
                resolved = (protected.project_dir / file_source).resolve()
                if not resolved.is_relative_to(protected.project_dir):
                    problems.append(
                        f"config: {key}: '{shown_name(file_source)}' is outside the Pulumi project directory (symlinks "
                        "followed); use a path inside the project, or {url: https://..., sha256: ...}"
                    )
                    continue
                if not resolved.is_file():
                    problems.append(
                        f"config: {key}: file '{shown_name(file_source)}' not found (paths are relative to the Pulumi "
                        "project directory); fix the path or add the file"
                    )
                    continue
                refused = protected.refusal(resolved)
                if refused is not None:
                    problems.append(
                        f"config: {key}: '{shown_name(file_source)}' may not go into an image: {refused}; "
                        "keep models and data in a directory of their own (README, Security notes)"
                    )
                    continue
            files.append(FilePlan(endpoint_name, file_name, declared[file_name].path, resolved))
    for endpoint in endpoints:
        given = set(version.files.get(endpoint.name, {}))
        problems += [
            f"config: {where}.files.{endpoint.name}.{f.name}: missing; endpoint '{endpoint.name}' needs file "
            f"'{f.name}' at {f.path} ({source}); set it to a path or {{url, sha256}}"
            for f in endpoint.files
            if f.name not in given
        ]
    return files, problems


def _images(
    where: str, endpoints: tuple[Endpoint, ...], files: list[FilePlan]
) -> tuple[tuple[ImagePlan, ...], list[str]]:
    """Endpoints with the same base image share one image, so a version builds once per base."""
    problems: list[str] = []
    images = []
    for base in dict.fromkeys(e.image for e in endpoints):
        members = tuple(e for e in endpoints if e.image == base)
        names = {e.name for e in members}
        own = tuple(f for f in files if f.endpoint in names)
        by_path: dict[str, FilePlan] = {}
        for item in own:
            other = by_path.setdefault(posixpath.normpath(item.path), item)
            if other.source != item.source:
                problems.append(
                    f"config: {where}.files: endpoints '{other.endpoint}' and '{item.endpoint}' share image "
                    f"{base} but put different files at {item.path}; give them different paths in valohai.yaml"
                )
        images.append(ImagePlan(key=naming.object_name(base), base_image=base, endpoints=members, files=own))
    return tuple(images), problems


def _check_splits(settings: PlanInput, plan: DeploymentPlan, problems: list[str]) -> None:
    """Both sides of a traffic split must serve the same endpoints, or some URLs would 404 by chance."""
    for alias in settings.aliases:
        # A mirror gets a copy of every request the alias serves, so it must serve the same endpoints.
        versions = [plan.versions[v] for v in settings.alias(alias).versions if v in plan.versions]
        served = {v.name: sorted(e.name for e in v.endpoints) for v in versions}
        if len({tuple(s) for s in served.values()}) > 1:
            detail = "; ".join(f"{v}: {', '.join(s)}" for v, s in served.items())
            problems.append(f"config: aliases.{alias}: versions in a split must enable the same endpoints ({detail})")
