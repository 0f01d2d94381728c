"""gunicorn settings for wsgi endpoints; the environment can tune them per deployment."""

import os

# Inside a pod every interface is the pod's own; tests on a shared host set VH_BIND_HOST=127.0.0.1.
bind = f"{os.environ.get('VH_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("VH_WORKERS", "2"))
timeout = int(os.environ.get("VH_TIMEOUT", "120"))
accesslog = "-"
pythonpath = "/valohai/serve"
wsgi_app = "vh_wsgi:application"
