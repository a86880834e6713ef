"""`crm-push assert-record`: create or update one record of any object."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from crm_push.cli.app import Context, _fail, _need, cli, pass_ctx
from crm_push.errors import CrmPushError

if TYPE_CHECKING:
    from crm_push.models.crm import Connection


def _parse_value(text: str) -> Any:
    """JSON when it parses as JSON (numbers, true, null, lists, objects), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(sets: tuple[str, ...], set_jsons: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for option, items, strict in (("--set", sets, False), ("--set-json", set_jsons, True)):
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                shape = "KEY=JSON" if strict else "KEY=VALUE"
                raise click.BadParameter(f"{item!r} is not {shape}", param_hint=option)
            if strict:
                try:
                    value = json.loads(raw)
                except ValueError as exc:
                    raise click.BadParameter(
                        f"{key}: {raw!r} is not JSON ({exc})", param_hint=option
                    ) from None
            else:
                value = _parse_value(raw)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 1:
                values[key] = value
            elif seen[key] == 2:
                values[key] = [values[key], value]  # a repeated key: several values
            else:
                values[key].append(value)
    return values


@cli.command("assert-record")
@click.option(
    "--object", "object_", required=True, metavar="OBJECT", help="The object's slug or id."
)
@click.option(
    "--match",
    "matching_attribute",
    required=True,
    metavar="ATTRIBUTE",
    help="The unique attribute to match on; give its value with --set.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="An attribute value; repeatable (a repeated KEY gives several values). VALUE is read "
    "as JSON when it parses (42, true, null, [..]), else as text.",
)
@click.option(
    "--set-json",
    "set_jsons",
    multiple=True,
    metavar="KEY=JSON",
    help="An attribute value that must be JSON; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--multiselect",
    type=click.Choice(["append", "replace"]),
    default="append",
    show_default=True,
    help="Multiselect values (other than the matching attribute's): append keeps the "
    "record's other values; replace makes them exactly those sent, removing the others.",
)
@pass_ctx
def assert_record(
    ctx: Context,
    object_: str,
    matching_attribute: str,
    sets: tuple[str, ...],
    set_jsons: tuple[str, ...],
    as_json: bool,
    multiselect: str,
) -> None:
    """Create or update one record of any object, matching on a unique attribute.

    \b
    crm-push --dest attio assert-record --object companies --match domains \\
        --set domains=app.attio.com --set twitter=@attio

    Values are simple values (a domain, an email, a select option's title, "Last, First" for a
    name…): the destination checks each against the object's attributes and writes nothing
    when one is wrong. null unsets an attribute. Prints the record id and whether it was
    created or updated.
    """
    values = _values(sets, set_jsons)
    if values.get(matching_attribute) is None:
        raise click.UsageError(
            f"--match {matching_attribute} needs a value to match on: add "
            f"--set {matching_attribute}=VALUE"
        )
    with ctx.session() as session:
        _need(session.destination, "assert_record")
        try:
            ref = session.destination.assert_record(
                with_multiselect(session.connect(), multiselect),
                object_,
                matching_attribute,
                values,
            )
        except CrmPushError as exc:
            raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(ref.model_dump(mode="json"), indent=2))
        return
    click.echo(f"{ref.outcome} {ref.object} record {ref.record_id}")
    if ref.web_url:
        click.echo(ref.web_url)


def with_multiselect(connection: Connection, mode: str) -> Connection:
    """The connection, carrying `multiselect:replace` when `--multiselect replace` was given."""
    from crm_push.models.actions import MULTISELECT_REPLACE

    if mode != "replace":
        return connection
    return connection.model_copy(
        update={"capabilities": connection.capabilities | {MULTISELECT_REPLACE}}
    )
