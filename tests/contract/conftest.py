"""Contract tests: the example plugin is importable from its source folder here."""

import sys

from contract.helpers import EXAMPLE

# The example plugin is not installed in the test environment (test_example_install.py installs
# it, in a venv of its own), so it is imported from its folder.
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))
