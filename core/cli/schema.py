"""`crm-push schema`: the JSON Schema of one input line."""

from __future__ import annotations

import json

import click
from crm_push.cli.app import cli

#: The JSON Schema draft the schema is written in (pydantic's).
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@cli.command()
def schema() -> None:
    """Print the JSON Schema of one input line (a visitor).

    It accepts exactly the lines whose structure and types push accepts; what a schema cannot
    check (an email's syntax, a domain, a URL, a date such as February 30) push checks too."""
    from crm_push.inputs.lines import REJECT_KEY
    from crm_push.models import Visitor

    schema = {"$schema": DRAFT, **Visitor.model_json_schema()}
    # push accepts lines of a --rejects file as they are: document the key it ignores (whatever
    # it holds, as push does).
    schema["properties"][REJECT_KEY] = {
        "description": "Added by --rejects: why the line failed. Ignored when pushed again.",
    }
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))
