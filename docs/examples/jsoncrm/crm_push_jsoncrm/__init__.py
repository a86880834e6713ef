"""A crm-push destination for JsonCRM, a tiny CRM kept in one JSON file.

This is the example plugin of docs/plugin-guide.md: the guide shows every line of it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crm_push import (
    Company,
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    Fatal,
    InvalidInput,
    Note,
    NoteResult,
    Pending,
    Person,
    ReconnectRequired,
    RecordRef,
    hookimpl,
)

NAME = "jsoncrm"  # the entry-point name: stored connections are found by it
PATH_ENV = "JSONCRM_PATH"
MAX_NAME = 100  # JsonCRM refuses longer names, as real CRMs refuse bad values


class JsonCRM:
    """The destination. crm-push makes one instance per loaded destination."""

    def __init__(self) -> None:
        # The pusher calls hooks from several threads, and the file is rewritten whole.
        self._lock = threading.Lock()

    @contextmanager
    def _crm(self, connection: Connection) -> Iterator[dict[str, Any]]:
        """Read the whole CRM, let the caller change it, then write it back atomically."""
        path = Path(connection.workspace_id)
        with self._lock:
            data = json.loads(path.read_text()) if path.exists() else {}
            for table in ("companies", "people", "notes"):
                data.setdefault(table, {})
            yield data  # an exception here leaves the file as it was
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2))
            tmp.replace(path)

    @hookimpl
    def connect(self, credentials: Credentials | None, options: ConnectOptions) -> Connection:
        """JsonCRM has no tokens: the file is the workspace. Check that it is usable."""
        raw = options.extra.get("path") or os.environ.get(PATH_ENV)
        if not raw:
            raise ReconnectRequired(
                "JsonCRM does not know which file to use",
                next_step=f"set {PATH_ENV}=crm.json, or connect with --option path=crm.json",
            )
        path = Path(raw).resolve()
        if not path.parent.is_dir():
            raise Fatal(f"{path.parent} does not exist", next_step=f"fix {PATH_ENV}")
        return Connection(
            destination=NAME,
            workspace_id=str(path),
            workspace_name=path.name,
            # A real CRM grants notes per token scope; every JsonCRM file can hold notes.
            capabilities=frozenset({"notes", "inline_link"}),
        )

    @hookimpl
    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        """Match on the domain; a company without one is found through existing/pending."""
        values = company.model_dump(exclude_none=True)
        with self._crm(connection) as crm:
            return _upsert(crm["companies"], "companies", "domain", values, existing, pending)

    @hookimpl
    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        """Match on the email, and link the company inline so the pusher skips associate."""
        values = person.model_dump(exclude_none=True)
        with self._crm(connection) as crm:
            if company is not None:
                _must_exist(crm["companies"], company)
                values["company_id"] = company.record_id
            ref = _upsert(crm["people"], "people", "email", values, existing, pending)
        if company is None:
            return ref
        return ref.model_copy(update={"linked": (company.record_id,)})

    @hookimpl
    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        """Link a person to a company (the pusher calls this only when not linked inline)."""
        with self._crm(connection) as crm:
            _must_exist(crm["companies"], company)
            _must_exist(crm["people"], person)["company_id"] = company.record_id
        return person.model_copy(update={"outcome": "updated", "linked": (company.record_id,)})

    @hookimpl
    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        """One note per `note.key`. Without the notes capability: skipped, never failed."""
        if not connection.can("notes"):
            return NoteResult(status="skipped", reason="this connection cannot write notes")
        with self._crm(connection) as crm:
            _must_exist(crm["people"], parent)
            if note.may_exist:  # an earlier push may have written it, then crashed
                for note_id, old in crm["notes"].items():
                    if old["parent"] == parent.record_id and note.key in old["content"]:
                        return NoteResult(status="existing", note_id=note_id)
            note_id = uuid.uuid4().hex
            crm["notes"][note_id] = {
                "parent": parent.record_id,
                "title": note.title,
                "content": note.content,  # the pusher put the note's key in its content
            }
        return NoteResult(status="created", note_id=note_id)

    @hookimpl
    def disconnect(self, connection: Connection) -> DisconnectResult:
        """Nothing to revoke, and nothing is ever deleted."""
        return DisconnectResult(revoked=False, message="JsonCRM has no token to revoke.")


def _upsert(
    table: dict[str, Any],
    object: str,
    key: str,
    values: dict[str, Any],
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """Update the matching record, or create one: the core of assert_company/assert_person."""
    if len(values.get("name") or "") > MAX_NAME:
        raise InvalidInput(f"JsonCRM refuses names over {MAX_NAME} characters", field="name")
    found = None
    if values.get(key):  # the matching key: unique in the CRM
        found = next((rid for rid, rec in table.items() if rec.get(key) == values[key]), None)
    elif existing is not None and existing.record_id in table:  # pushed before: update it
        found = existing.record_id
    elif pending is not None:  # a crashed push may have created it: same name, since then
        found = next(
            (
                rid
                for rid, rec in table.items()
                if rec.get("name") == values.get("name")
                and dt.datetime.fromisoformat(rec["created_at"]) >= pending.since
            ),
            None,
        )
    if found is not None:
        table[found].update(values)
        return RecordRef(object=object, record_id=found, outcome="updated")
    record_id = uuid.uuid4().hex
    table[record_id] = {**values, "created_at": dt.datetime.now(dt.UTC).isoformat()}
    return RecordRef(object=object, record_id=record_id, outcome="created")


def _must_exist(table: dict[str, Any], ref: RecordRef) -> dict[str, Any]:
    """The record `ref` points at; a reference to a missing record is the input's fault."""
    if ref.record_id not in table:
        raise InvalidInput(f"JsonCRM has no {ref.object} record {ref.record_id}", field=ref.object)
    record: dict[str, Any] = table[ref.record_id]
    return record
