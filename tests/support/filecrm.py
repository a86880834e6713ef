"""A tiny CRM kept in one JSON file, used as a real destination by the core tests.

It has the semantics the pusher relies on: people unique by email, companies unique by domain,
references that must exist, notes findable by content. A file (with a lock) lets a killed
subprocess and the test that killed it see the same CRM.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crm_push import (
    Company,
    Connection,
    DisconnectResult,
    Note,
    NoteResult,
    Pending,
    Person,
    ReconnectRequired,
    RecordRef,
    hookimpl,
)
from crm_push.errors import CrmPushError, InvalidInput, RetryLater
from crm_push.models import CompanyInput, LinkInput, NoteInput, PersonInput

PATH_ENV = "FILECRM_PATH"
DELAY_ENV = "FILECRM_DELAY"


class FileCRM:
    """Destination plugin. `inline_link=False` makes the pusher call `associate`."""

    #: The entry-point name, which `connect` gives as the connection's destination.
    name = "filecrm"

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, inline_link: bool = True
    ) -> None:
        self._path = Path(path) if path else None
        self.inline_link = inline_link
        self.delay = float(os.environ.get(DELAY_ENV, "0"))
        self.calls: list[str] = []

    @property
    def path(self) -> Path:
        # Read at use time: listing plugins instantiates this class with no CRM file set.
        return self._path or Path(os.environ[PATH_ENV])

    @contextmanager
    def _db(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = (
                json.loads(self.path.read_text())
                if self.path.exists()
                else {"people": {}, "companies": {}, "notes": {}, "tokens": ["good-token"]}
            )
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)

    def _wait(self, hook: str) -> None:
        self.calls.append(hook)
        if self.delay:
            time.sleep(self.delay)

    @hookimpl
    def connect(self, credentials: Any, options: Any) -> Connection:
        self._wait("connect")
        from_env = os.environ.get("FILECRM_TOKEN") if options.environment else None
        token = from_env or (
            credentials.access_token.get_secret_value()
            if credentials and credentials.access_token
            else None
        )
        with self._db() as db:
            if token not in db["tokens"]:
                raise ReconnectRequired("the file CRM does not know this token")
        from crm_push import Credentials

        return Connection(
            destination=self.name,
            workspace_id=f"file:{self.path.name}",
            workspace_name="File CRM",
            scopes=("records", "notes"),
            capabilities=frozenset({"notes"} | ({"inline_link"} if self.inline_link else set())),
            credentials=Credentials(access_token=token),
        )

    def _upsert(
        self,
        db: dict[str, Any],
        obj: str,
        key: str | None,
        existing: RecordRef | None,
        pending: Pending | None,
        values: dict[str, Any],
    ) -> RecordRef:
        table = db[obj]
        found = None
        if key:
            found = next((rid for rid, rec in table.items() if rec.get("key") == key), None)
        elif existing and existing.record_id in table:
            found = existing.record_id
        elif pending:
            # An earlier push may have created it before dying: same name, created since then.
            since = pending.since.isoformat()
            found = next(
                (
                    rid
                    for rid, rec in table.items()
                    if rec.get("name") == values.get("name") and rec["created_at"] >= since
                ),
                None,
            )
        if found:
            table[found].update({k: v for k, v in values.items() if v is not None})
            return RecordRef(object=obj, record_id=found, outcome="updated")
        rid = str(uuid.uuid4())
        created_at = dt.datetime.now(dt.UTC).isoformat()
        table[rid] = {"key": key, "created_at": created_at, **values}
        return RecordRef(object=obj, record_id=rid, outcome="created")

    @hookimpl
    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        self._wait("assert_company")
        if company.name == "REJECT ME":
            raise InvalidInput("the file CRM refuses this name", field="company.name")
        with self._db() as db:
            return self._upsert(
                db, "companies", company.domain, existing, pending, company.model_dump()
            )

    @hookimpl
    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        self._wait("assert_person")
        if person.name == "REJECT ME":
            raise InvalidInput("the file CRM refuses this name", field="person.name")
        with self._db() as db:
            values = person.model_dump()
            if company and self.inline_link:
                if company.record_id not in db["companies"]:
                    raise InvalidInput("referenced company does not exist", field="company")
                values["company_id"] = company.record_id
            ref = self._upsert(db, "people", person.email, existing, pending, values)
        if company and self.inline_link:
            return ref.model_copy(update={"linked": (company.record_id,)})
        return ref

    @hookimpl
    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        self._wait("associate")
        with self._db() as db:
            if company.record_id not in db["companies"]:
                raise InvalidInput("referenced company does not exist", field="company")
            db["people"][person.record_id]["company_id"] = company.record_id
        return person.model_copy(update={"linked": (company.record_id,)})

    @hookimpl
    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        self._wait("add_note")
        if not connection.can("notes"):
            return NoteResult(status="skipped", reason="notes are switched off for this token")
        with self._db() as db:
            if note.may_exist:
                for nid, existing in db["notes"].items():
                    if existing["parent"] == parent.record_id and note.key in existing["content"]:
                        return NoteResult(status="existing", note_id=nid)
            nid = str(uuid.uuid4())
            db["notes"][nid] = {
                "parent": parent.record_id,
                "title": note.title,
                "content": note.content,
                "created_at": note.created_at.isoformat() if note.created_at else None,
            }
        return NoteResult(status="created", note_id=nid)

    @hookimpl
    def disconnect(self, connection: Connection) -> DisconnectResult:
        self._wait("disconnect")
        return DisconnectResult(revoked=False, message="The file CRM has no tokens to revoke.")

    # -- for assertions ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._db() as db:
            return json.loads(json.dumps(db))


#: Names that make BatchFileCRM misbehave for one input or one call, as a real CRM can.
NO_ANSWER = "NO ANSWER"  # the input's key is left out of the answer
BREAKS_BATCH = "BREAKS BATCH"  # the whole call raises (a plugin bug): every input of it fails
THROTTLED = "THROTTLED"  # the input is refused for now (RetryLater, retry after 7 s)
THROTTLES_BATCH = "THROTTLES BATCH"  # the whole call is refused for now (a 429 that outlasted
# the client's retries): every input of it, retry after 9 s
BATCH_ENV = "FILECRM_BATCH"
#: Seconds a batch call waits after its write, before answering: a kill -9 then lands after the
#: CRM stored the records and before the pusher heard of them (an answer lost on the way).
AFTER_ENV = "FILECRM_AFTER"


class BatchFileCRM(FileCRM):
    """FileCRM with the batch hooks: each call reads and writes the file once, as a batch
    endpoint takes one request, and answers every input by its key. `batches` records
    (hook, number of inputs) per call."""

    name = "batchfilecrm"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        inline_link: bool = True,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(path, inline_link=inline_link)
        self.size = batch_size or int(os.environ.get(BATCH_ENV, "10"))
        self.after = float(os.environ.get(AFTER_ENV, "0"))
        self.batches: list[tuple[str, int]] = []
        #: Set to refuse the token from now on: every batch call raises ReconnectRequired.
        self.revoked = False

    def _batch(self, hook: str, inputs: list[Any]) -> None:
        if self.revoked:
            raise ReconnectRequired("the file CRM does not know this token")
        self._wait(hook)
        self.batches.append((hook, len(inputs)))
        assert len(inputs) <= self.size, f"{hook} got {len(inputs)} inputs, batch_size {self.size}"
        assert len({i.key for i in inputs}) == len(inputs), "keys of one call must be distinct"

    def _answered(self, answers: dict[str, Any]) -> dict[str, Any]:
        if self.after:
            time.sleep(self.after)
        return answers

    @hookimpl
    def batch_size(self, connection: Connection) -> int:
        return self.size

    @hookimpl
    def assert_companies(
        self, connection: Connection, companies: list[CompanyInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        self._batch("assert_companies", companies)
        answers: dict[str, RecordRef | CrmPushError] = {}
        with self._db() as db:
            for item in reversed(companies):  # answers in another order than the inputs
                company = item.company
                if company.name == BREAKS_BATCH:
                    raise RuntimeError("the batch endpoint broke")
                if company.name == NO_ANSWER:
                    continue
                if company.name == "REJECT ME":
                    answers[item.key] = InvalidInput(
                        "the file CRM refuses this name", field="company.name"
                    )
                    continue
                answers[item.key] = self._upsert(
                    db,
                    "companies",
                    company.domain,
                    item.existing,
                    item.pending,
                    company.model_dump(),
                )
        return self._answered(answers)

    @hookimpl
    def assert_people(
        self, connection: Connection, people: list[PersonInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        self._batch("assert_people", people)
        answers: dict[str, RecordRef | CrmPushError] = {}
        with self._db() as db:
            for item in reversed(people):
                person, company = item.person, item.company
                if person.name == BREAKS_BATCH:
                    raise RuntimeError("the batch endpoint broke")
                if person.name == THROTTLES_BATCH:
                    raise RetryLater("the file CRM is busy", retry_after=9.0)
                if person.name == NO_ANSWER:
                    continue
                if person.name == THROTTLED:
                    answers[item.key] = RetryLater("the file CRM is busy", retry_after=7.0)
                    continue
                if person.name == "REJECT ME":
                    answers[item.key] = InvalidInput(
                        "the file CRM refuses this name", field="person.name"
                    )
                    continue
                values = person.model_dump()
                link = company is not None and self.inline_link
                if company is not None and link:
                    if company.record_id not in db["companies"]:
                        answers[item.key] = InvalidInput(
                            "referenced company does not exist", field="company"
                        )
                        continue
                    values["company_id"] = company.record_id
                ref = self._upsert(db, "people", person.email, item.existing, item.pending, values)
                if company is not None and link:
                    ref = ref.model_copy(update={"linked": (company.record_id,)})
                answers[item.key] = ref
        return self._answered(answers)

    @hookimpl
    def associate_people(
        self, connection: Connection, links: list[LinkInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        self._batch("associate_people", links)
        answers: dict[str, RecordRef | CrmPushError] = {}
        with self._db() as db:
            for item in links:
                if item.company.record_id not in db["companies"]:
                    answers[item.key] = InvalidInput(
                        "referenced company does not exist", field="company"
                    )
                    continue
                db["people"][item.person.record_id]["company_id"] = item.company.record_id
                answers[item.key] = item.person.model_copy(
                    update={"linked": (*item.person.linked, item.company.record_id)}
                )
        return answers

    @hookimpl
    def add_notes(
        self, connection: Connection, notes: list[NoteInput]
    ) -> dict[str, NoteResult | CrmPushError]:
        self._batch("add_notes", notes)
        if not connection.can("notes"):
            skipped = NoteResult(status="skipped", reason="notes are switched off for this token")
            return {item.key: skipped for item in notes}
        answers: dict[str, NoteResult | CrmPushError] = {}
        with self._db() as db:
            for item in notes:
                note, parent = item.note, item.parent
                found = None
                if note.may_exist:
                    found = next(
                        (
                            nid
                            for nid, stored in db["notes"].items()
                            if stored["parent"] == parent.record_id
                            and note.key in stored["content"]
                        ),
                        None,
                    )
                if found:
                    answers[item.key] = NoteResult(status="existing", note_id=found)
                    continue
                nid = str(uuid.uuid4())
                db["notes"][nid] = {
                    "parent": parent.record_id,
                    "title": note.title,
                    "content": note.content,
                    "created_at": note.created_at.isoformat() if note.created_at else None,
                }
                answers[item.key] = NoteResult(status="created", note_id=nid)
        return self._answered(answers)
