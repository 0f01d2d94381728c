"""gunicorn settings for wsgi endpoints; the environment can tune them per deployment."""

import os

bind = f"{os.environ.get('VH_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("VH_WORKERS", "2"))
timeout = int(os.environ.get("VH_TIMEOUT", "120"))
accesslog = "-"
pythonpath = "/valohai/serve"
wsgi_app = "vh_wsgi:application"
