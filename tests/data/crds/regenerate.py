"""Regenerate the CRD schemas the fast tests validate route objects against (no network in tests).

Run `python tests/data/crds/regenerate.py` after changing a pin below; it fetches each module from
the Go module proxy (`go mod download -json`) and writes one JSON file per kind and version:
the CRD's `openAPIV3Schema`, plus where it came from.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
# module@version -> CRD files inside the module (kind, version) pairs are taken from each file.
SOURCES = {
    # Standard channel: what a conformant Gateway API install serves by default.
    "sigs.k8s.io/gateway-api@v1.6.3": ["config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"],
    "github.com/traefik/traefik/v3@v3.6.12": [
        "docs/content/reference/dynamic-configuration/traefik.io_middlewares.yaml"
    ],
    "github.com/envoyproxy/gateway@v1.9.1": [
        "charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_securitypolicies.yaml"
    ],
}


def module_dir(module: str) -> Path:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    out = subprocess.run(
        ["go", "mod", "download", "-json", module], check=True, capture_output=True, text=True, env=env
    )
    return Path(json.loads(out.stdout)["Dir"])


def main() -> None:
    for module, files in SOURCES.items():
        root = module_dir(module)
        for relative in files:
            for crd in yaml.safe_load_all((root / relative).read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                # The storage version is the one the program writes (HTTPRoute v1, the others v1alpha1).
                for version in (v for v in crd["spec"]["versions"] if v.get("storage")):
                    target = HERE / f"{group}_{kind}_{version['name']}.json"
                    document = {
                        "source": f"{module} {relative}",
                        "openAPIV3Schema": version["schema"]["openAPIV3Schema"],
                    }
                    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
                    print(target.name)


if __name__ == "__main__":
    main()
