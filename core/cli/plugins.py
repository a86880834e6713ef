"""`crm-push plugins`: the installed destinations and their status, as JSON."""

from __future__ import annotations

import json

import click
from crm_push.cli.app import cli


@cli.command()
def plugins() -> None:
    """List installed destinations as JSON: name, module, distribution, version, status, error.

    Each plugin is loaded on its own: a broken one shows as "broken" with its error.
    CRM_PUSH_PLUGINS=a,b loads only those; CRM_PUSH_BLOCK_PLUGINS=c hides c. What they hide,
    and names in them that are not installed, are said on stderr; stdout stays JSON.
    """
    from crm_push.destination.discovery import PluginFilter, list_plugins

    click.echo(json.dumps([p.model_dump() for p in list_plugins()], indent=2))
    for line in PluginFilter.from_environment().notes():
        click.echo(line, err=True)
