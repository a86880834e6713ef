"""Settings: where the CRM is, the OAuth app, the state database and the visitors file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app

#: The example visitors (a copy of crm-push's docs/examples/visitors.jsonl, broken line included).
EXAMPLE_VISITORS = Path(__file__).with_name("visitors.jsonl")


@dataclass(frozen=True)
class Settings:
    """What the app needs to run.

    :param attio_url: Attio's API root; the local Attio-compatible server's URL in the demo.
    :param client_id: the OAuth app's client id, as registered with Attio.
    :param client_secret: the OAuth app's client secret (never shown on a page or in a log).
    :param db_url: crm-push's state database (connections, markers) — also holds this app's
        own table of push failures. A SQLite file by default.
    :param session_key: signs the browser's session cookie (the customer, the OAuth state).
    :param visitors: a JSON Lines file of visitors, the same for every customer in this demo.
    """

    attio_url: str
    client_id: str
    client_secret: str
    db_url: str
    session_key: str
    visitors: Path = EXAMPLE_VISITORS


def current() -> Settings:
    """The settings of the app handling this request."""
    value: Settings = current_app.config["HOSTAPP"]
    return value
