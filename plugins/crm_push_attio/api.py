"""A thin typed client of the Attio REST API v2 endpoints crm-push uses, on crm_push.http.

One method per endpoint, each one request; Attio's answers to record writes come back as
`Written`. Errors are `errors.error_for`'s, raised by the HttpClient. There is deliberately no
method that deletes anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
from crm_push.errors import Fatal
from crm_push.http import HttpClient

DEFAULT_BASE_URL = "https://api.attio.com"

SCOPE_RECORDS = "record_permission:read-write"
SCOPE_OBJECTS = "object_configuration:read"
SCOPE_NOTES = "note:read-write"
#: Scopes without which nothing can be pushed.
REQUIRED_SCOPES = (SCOPE_RECORDS, SCOPE_OBJECTS)
#: Notes are listed at most this many at a time (Attio's maximum page size).
NOTES_PAGE = 50
#: Attributes are listed this many at a time; a shorter page is the last one.
ATTRIBUTES_PAGE = 100

# Allowance when deciding created vs updated from `created_at` (see created_by_this_call):
# small against Attio's own Date header, larger against our clock, which may be skewed.
_SERVER_CLOCK_SLACK = dt.timedelta(seconds=0.5)
_LOCAL_CLOCK_SLACK = dt.timedelta(seconds=2)
# Record ids this process saw created, most recent last (bounded): a record cannot be created
# twice, so a later assert onto one of them is an update, however recent its created_at. Only
# an assert within seconds of the create could misread it (the slack above, plus the call's
# own waits), so the last 10,000 are plenty (400 s of creates at Attio's 25 writes/s): 100,000
# kept 20 MB for nothing, and made a long push's memory grow with the records it created.
_CREATED_IDS: OrderedDict[str, None] = OrderedDict()
_CREATED_IDS_MAX = 10_000
_CREATED_IDS_LOCK = threading.Lock()


# -- results -----------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Attio's timestamps ("2022-11-21T13:22:49.061281000Z") as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:  # Python 3.11+ reads Attio's form, "Z" and nanoseconds (cut to microseconds)
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Written:
    """A record as Attio answered a write, and whether the write created it."""

    record_id: str
    created: bool
    web_url: str | None = None


#: The last Date header read, and its time: a Date changes once a second, so most answers
#: repeat it. One tuple, replaced whole: a thread reads an old pair or a new one.
_last_date: tuple[str | None, dt.datetime | None] = (None, None)


def _server_now(response: httpx.Response) -> dt.datetime | None:
    global _last_date
    date = response.headers.get("date")
    if not date:
        return None
    last = _last_date
    if last[0] == date:
        return last[1]
    try:
        parsed = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    _last_date = (date, parsed)
    return parsed


def created_by_this_call(
    created_at: dt.datetime | None,
    sent_at: dt.datetime,
    elapsed: float,
    response: httpx.Response,
) -> bool:
    """Whether an assert created the record: Attio's answer does not say.

    Heuristic: the record was created by this call when its `created_at` is not older than the
    moment the request was sent. That moment is taken on Attio's own clock when the response
    has a Date header: the header's time (whole seconds, rounded down, stamped after the record
    was written) minus the call's duration is no later than the write, so a skewed local clock
    does not matter. Without the header, our clock with a larger slack. A record another writer
    created within that window reads as created (records this process created are excluded by
    `remember_created`).
    """
    if created_at is None:
        return False
    server_now = _server_now(response)
    if server_now is None:
        return created_at >= sent_at - _LOCAL_CLOCK_SLACK
    start = server_now - dt.timedelta(seconds=elapsed)
    return created_at >= start - _SERVER_CLOCK_SLACK


def remember_created(record_id: str, created: bool) -> bool:
    """Whether the write created the record, given the ids this process already saw created."""
    with _CREATED_IDS_LOCK:
        if record_id in _CREATED_IDS:
            _CREATED_IDS.move_to_end(record_id)
            return False
        if created:
            _CREATED_IDS[record_id] = None
            if len(_CREATED_IDS) > _CREATED_IDS_MAX:
                _CREATED_IDS.popitem(last=False)
        return created


def reset_created() -> None:
    """Forget the record ids this process saw created (tests reuse fixed ids)."""
    with _CREATED_IDS_LOCK:
        _CREATED_IDS.clear()


def written_from(data: dict[str, Any], created: bool) -> Written:
    """A record of Attio's output shape (a query result, say) as a Written."""
    ident = data.get("id") or {}
    record_id = ident.get("record_id") if isinstance(ident, dict) else None
    if not record_id:
        raise Fatal("Attio answered a record write without a record id")
    return Written(str(record_id), created, data.get("web_url"))


class NotAttio(Fatal):
    """An answer Attio never gives to GET /v2/self: the base URL points somewhere else.

    The message is what happened ("answered 404 (…)"); connect says which URL was wrong.
    """


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class AttioClient:
    """The Attio endpoints crm-push calls. Each method is one request.

    `once` sends the calls that are not idempotent (creating a record or a note): it must not
    retry by itself, since a write that timed out may have been applied and a blind retry
    would duplicate it. The caller looks for the result before trying again.
    `notes` lists notes: Attio limits GET /v2/notes to 10 requests/s of its own, so it draws
    on a budget of that size (beside the workspace's reads).
    """

    def __init__(
        self, http: HttpClient, once: HttpClient | None = None, notes: HttpClient | None = None
    ) -> None:
        self.http = http
        self.once = once or http
        self.notes = notes or http

    def close(self) -> None:
        for client in {id(c): c for c in (self.http, self.once, self.notes)}.values():
            client.close()

    def _data(self, response: httpx.Response) -> Any:
        body = response.json()
        return body.get("data") if isinstance(body, dict) else None

    def self_info(self) -> dict[str, Any]:
        """GET /v2/self: whether the token is active, its workspace and scopes (not wrapped).

        An answer Attio never gives (not JSON, no ``active``) raises NotAttio: the base URL
        points somewhere else.
        """
        response = self.http.request("GET", "/v2/self", kind="read")
        try:
            body = response.json()
        except ValueError:
            raise NotAttio(
                f"answered {response.status_code} with a body that is not JSON"
            ) from None
        if not isinstance(body, dict) or "active" not in body:
            raise NotAttio(
                f"answered {response.status_code} with JSON that is not Attio's /v2/self answer"
            )
        return body

    def _write(
        self,
        method: str,
        path: str,
        values: dict[str, Any],
        *,
        params: dict[str, str] | None = None,
        created: bool | None = None,
    ) -> Written:
        sent_at = dt.datetime.now(dt.UTC)
        started = time.monotonic()
        http = self.once if method == "POST" else self.http
        response = http.request(
            method, path, params=params, json={"data": {"values": values}}, kind="write"
        )
        elapsed = time.monotonic() - started
        data = self._data(response) or {}
        if created is None:
            created_at = parse_timestamp(data.get("created_at"))
            created = created_by_this_call(created_at, sent_at, elapsed, response)
        written = written_from(data, created)
        if method == "PUT":  # an assert: created, unless this process saw it created before
            created = remember_created(written.record_id, written.created)
            written = dataclasses.replace(written, created=created)
        elif written.created:  # a POST always creates
            remember_created(written.record_id, True)
        return written

    def assert_record(
        self, object: str, matching_attribute: str, values: dict[str, Any]
    ) -> Written:
        """PUT /v2/objects/{object}/records?matching_attribute=…: update the match or create."""
        return self._write(
            "PUT",
            f"/v2/objects/{_q(object)}/records",
            values,
            params={"matching_attribute": matching_attribute},
        )

    def create_record(self, object: str, values: dict[str, Any]) -> Written:
        """POST /v2/objects/{object}/records."""
        return self._write("POST", f"/v2/objects/{_q(object)}/records", values, created=True)

    def update_record(self, object: str, record_id: str, values: dict[str, Any]) -> Written:
        """PATCH /v2/objects/{object}/records/{id}: multiselect values are appended."""
        path = f"/v2/objects/{_q(object)}/records/{_q(record_id)}"
        return self._write("PATCH", path, values, created=False)

    def get_record(self, object: str, record_id: str) -> dict[str, Any]:
        """GET /v2/objects/{object}/records/{id}."""
        path = f"/v2/objects/{_q(object)}/records/{_q(record_id)}"
        data = self._data(self.http.request("GET", path, kind="read"))
        return data if isinstance(data, dict) else {}

    def list_notes(
        self, parent_object: str, parent_record_id: str, limit: int = NOTES_PAGE, offset: int = 0
    ) -> list[dict[str, Any]]:
        """GET /v2/notes for one record, one page."""
        params = {
            "parent_object": parent_object,
            "parent_record_id": parent_record_id,
            "limit": str(limit),
            "offset": str(offset),
        }
        data = self._data(self.notes.request("GET", "/v2/notes", params=params, kind="read"))
        return [n for n in data or () if isinstance(n, dict)]

    def create_note(
        self,
        parent_object: str,
        parent_record_id: str,
        title: str,
        content: str,
        format: str = "markdown",
        created_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """POST /v2/notes; `created_at` backdates the note (never in the future)."""
        note: dict[str, Any] = {
            "parent_object": parent_object,
            "parent_record_id": parent_record_id,
            "title": title,
            "format": format,
            "content": content,
        }
        if created_at is not None:
            note["created_at"] = format_timestamp(created_at)
        response = self.once.request("POST", "/v2/notes", json={"data": note}, kind="write")
        data = self._data(response)
        return data if isinstance(data, dict) else {}

    def query_records(
        self,
        object: str,
        filter: dict[str, Any],
        *,
        sorts: list[dict[str, Any]] | None = None,
        limit: int = 10,
    ) -> list[dict[str, Any]]:
        """POST /v2/objects/{object}/records/query: a read, despite the method."""
        body: dict[str, Any] = {"filter": filter, "limit": limit}
        if sorts:
            body["sorts"] = sorts
        path = f"/v2/objects/{_q(object)}/records/query"
        data = self._data(self.http.request("POST", path, json=body, kind="read"))
        return [r for r in data or () if isinstance(r, dict)]

    def list_attributes(self, object: str) -> list[dict[str, Any]]:
        """GET /v2/objects/{object}/attributes, every page: slugs, types, writability.

        Archived attributes are left out (Attio's default).
        """
        path = f"/v2/objects/{_q(object)}/attributes"
        out: list[dict[str, Any]] = []
        while True:
            params = {"limit": str(ATTRIBUTES_PAGE), "offset": str(len(out))}
            data = self._data(self.http.request("GET", path, params=params, kind="read"))
            page = [a for a in data or () if isinstance(a, dict)]
            out += page
            if len(page) < ATTRIBUTES_PAGE:
                return out

    def list_objects(self) -> list[dict[str, Any]]:
        """GET /v2/objects: the objects activated in the workspace."""
        data = self._data(self.http.request("GET", "/v2/objects", kind="read"))
        return [o for o in data or () if isinstance(o, dict)]

    def list_choices(self, object: str, attribute: str, kind: str) -> list[dict[str, Any]]:
        """GET …/attributes/{attribute}/options (select) or /statuses (status), unarchived."""
        if kind not in ("options", "statuses"):
            raise ValueError(f"kind must be 'options' or 'statuses', not {kind!r}")
        path = f"/v2/objects/{_q(object)}/attributes/{_q(attribute)}/{kind}"
        data = self._data(self.http.request("GET", path, kind="read"))
        return [c for c in data or () if isinstance(c, dict)]

    def list_workspace_members(self) -> list[dict[str, Any]]:
        """GET /v2/workspace_members (needs the user_management:read scope)."""
        data = self._data(self.http.request("GET", "/v2/workspace_members", kind="read"))
        return [m for m in data or () if isinstance(m, dict)]


def format_timestamp(value: dt.datetime) -> str:
    """UTC ISO 8601 with a Z, as Attio writes them; a naive time is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
