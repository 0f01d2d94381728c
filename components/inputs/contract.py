"""The runtime contract: what every endpoint container can rely on, and what the platform reserves.

An endpoint written for Valohai runs unchanged: its code in `CODE_DIR`, its port in `PORT`, the URL
prefix it was reached under in the `X-VH-Prefix` header, and a few `VH_*` variables. The program
(workload specs, routes, images), the command line and the image payload in `components/serve/`
all read these names from here; `serve/` cannot import this package inside an image, so a test
checks that it spells the same names.
"""

from __future__ import annotations

# Where the image puts the code (the working directory) and the platform's own serving files.
CODE_DIR = "/valohai/repository"
SERVE_DIR = "/valohai/serve"
# Images run as this user (the Dockerfile chowns the code to it), so the pod can refuse root
# without breaking ordinary base images that default to root.
RUN_AS_USER = 10001

# Valohai's default when valohai.yaml gives no `port`.
DEFAULT_PORT = 8000
# The Service port every route sends to, and the name of the container port behind it.
SERVICE_PORT = 80
PORT_NAME = "http"

# Set by the router to the prefix the request matched (a client's own value is replaced).
PREFIX_HEADER = "X-VH-Prefix"
# `/<owner>/<project>/<deployment>/<version or alias>/<endpoint>`: five segments.
PREFIX_SEGMENTS = 5

# Environment every endpoint container gets.
ENV_PORT = "PORT"
ENV_DEFAULT_PREFIX = "VH_DEFAULT_PREFIX"
ENV_VERSION = "VH_DEPLOYMENT_VERSION"
ENV_ENDPOINT = "VH_ENDPOINT"
ENV_WSGI_APP = "VH_WSGI_APP"
# Knobs a version may set in its `env` to tune how wsgi endpoints are served (gunicorn_conf.py).
TUNABLE_ENV = {
    "VH_WORKERS": "gunicorn worker processes (default 2)",
    "VH_TIMEOUT": "seconds a worker may take for one request before it is restarted (default 120)",
}
RESERVED_ENV_PREFIX = "VH_"


def url_prefix(owner: str, project: str, deployment: str, route: str, endpoint: str) -> str:
    """`/<owner>/<project>/<deployment>/<version or alias>/<endpoint>`, no trailing slash."""
    return f"/{owner}/{project}/{deployment}/{route}/{endpoint}"


def is_platform_env(name: str) -> bool:
    """True for names the platform sets (`PORT`, `VH_*`) and a version may not override."""
    return name == ENV_PORT or (name.startswith(RESERVED_ENV_PREFIX) and name not in TUNABLE_ENV)
