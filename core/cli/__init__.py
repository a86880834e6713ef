"""The crm-push command line, one module per command: `crm-push [--dest NAME] [--db URL] CMD`.

Exit codes: 0 every visitor succeeded, 1 some failed (or the run stopped), 2 usage or
configuration errors (a wrong setting such as `--db`: nothing was pushed).
"""

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
    cli(prog_name="crm-push")
