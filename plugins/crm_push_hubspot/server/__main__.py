"""`python -m crm_push_hubspot.server`: see cli.py."""

import sys

from .cli import MODULE_PROG, main

sys.exit(main(prog=MODULE_PROG))
