"""`python -m components <command>`: the everyday workflow (see components/cli)."""

import sys

from components.cli import main

sys.exit(main())
