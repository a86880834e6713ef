"""The crm-push command line, one module per command: `crm-push [--dest NAME] [--db URL] CMD`.

Exit codes: 0 every visitor succeeded, 1 some failed (or the run stopped), 2 usage or
configuration errors (a wrong setting such as `--db`: nothing was pushed).
"""

import gc

from crm_push.cli import (  # noqa: F401  (commands)
    connection,
    jobs,
    markers,
    plugins,
    push,
    record,
    schema,
)
from crm_push.cli.app import DEST_ENV, FORMATS, Context, cli

__all__ = ["DEST_ENV", "FORMATS", "Context", "cli", "main"]


def main() -> None:
    try:
        cli(prog_name="crm-push")
    finally:
        # The process ends here. Frozen, the objects the imports made (SQLAlchemy, pydantic,
        # procrastinate…) are not walked by the collections of the interpreter's exit: about
        # 0.1 s of CPU less per command. Exit handlers still run and objects are still freed
        # by their reference counts; only reference cycles are left to the process's end.
        gc.freeze()
