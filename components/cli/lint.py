"""`lint [PATH] [--json]`: check a valohai.yaml as a pull-request gate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components.inputs.errors import ConfigError
from components.inputs.valohai_config import parse_valohai_yaml


def lint(path: Path, as_json: bool) -> int:
    try:
        text = path.read_text()
    except OSError as err:
        print(f"{path}: cannot read: {err.strerror or err}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as err:
        print(f"{path}: not a text file (not UTF-8 at offset {err.start}); give a valohai.yaml", file=sys.stderr)
        return 1
    try:
        valohai = parse_valohai_yaml(text, str(path))
    except ConfigError as err:
        if as_json:
            print(json.dumps({"errors": err.problems}, indent=2))
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({"endpoints": [e.to_valohai_dict() for e in valohai.endpoints]}, indent=2))
        return 0
    for e in valohai.endpoints:
        how = f"wsgi {e.wsgi_target}" if e.wsgi else f"server-command {e.server_command!r}"
        files = ", ".join(f"{f.name} -> {f.path}" for f in e.files) or "no files"
        print(f"{e.name}: image {e.image}, port {e.port}, {how}; {files}")
    print(f"{path}: {len(valohai.endpoints)} endpoint(s), no errors")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "lint",
        help="validate a valohai.yaml and list its endpoints",
        description="Validate a valohai.yaml (a pull-request gate): list its endpoints, or every error "
        "with file, endpoint and field, and exit 1.",
    )
    parser.add_argument("path", nargs="?", default="valohai.yaml", type=Path, help="default: valohai.yaml")
    parser.add_argument("--json", action="store_true", help='print {"endpoints": [...]} with valohai.yaml\'s keys')
    parser.set_defaults(run=lambda args: lint(args.path, args.json))
