"""`python -m crm_push_attio.server`: see cli.py."""

import sys

from .cli import main

sys.exit(main())
