"""`crm-push schema`: the JSON Schema of one input line."""

from __future__ import annotations

import json

import click
from crm_push.cli.app import cli


@cli.command()
def schema() -> None:
    """Print the JSON Schema of one input line (a visitor)."""
    from crm_push.inputs.lines import REJECT_KEY
    from crm_push.models import Visitor

    schema = Visitor.model_json_schema()
    # push accepts lines of a --rejects file as they are: document the key it ignores.
    schema["properties"][REJECT_KEY] = {
        "type": "object",
        "description": "Added by --rejects: why the line failed. Ignored when pushed again.",
    }
    click.echo(json.dumps(schema, indent=2))
