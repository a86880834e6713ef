"""The Attio destination: crm-push's six hooks against Attio's REST API v2.

People are asserted by email, companies by domain (created when there is none, and updated
through the push marker's record on re-push), the person's standard `company` reference links
them inline, and a visit note goes on the person — skipped, never failed, without the note
scope. Nothing is ever deleted: no code path sends DELETE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from crm_push.errors import Fatal, InvalidInput, ReconnectRequired, RetryLater, ScopeMissing
from crm_push.hookspecs import hookimpl
from crm_push.http import HttpClient, RateLimits
from crm_push.models import Company, Person
from crm_push.models.actions import GroupResult, IdentifyResult, UserIdentity, WorkspaceGroup
from crm_push.models.crm import (
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    Note,
    NoteResult,
    Pending,
    RecordRef,
)
from pydantic import SecretStr

from . import oauth
from .actions import AttioActions
from .api import (
    DEFAULT_BASE_URL,
    NOTES_PAGE,
    REQUIRED_SCOPES,
    SCOPE_NOTES,
    AttioClient,
    Written,
    format_timestamp,
    written_from,
)
from .errors import RECONNECT, error_for, is_retriable
from .records import (
    COMPANIES,
    COMPANY_MATCH,
    PEOPLE,
    PERSON_MATCH,
    Values,
    company_reference,
    company_values,
    person_values,
    same_values,
)
from .token import TokenAuth, expired

NAME = "attio"
TOKEN_ENV = "ATTIO_ACCESS_TOKEN"
BASE_URL_ENV = "ATTIO_BASE_URL"
REDIRECT_URI_ENV = "ATTIO_REDIRECT_URI"

NO_TOKEN = (
    "no Attio token: create an access token in Attio (Workspace settings → Developers → "
    "access token, with record_permission:read-write, object_configuration:read and "
    "note:read-write) and `export ATTIO_ACCESS_TOKEN=…`, or run "
    "`crm-push --dest attio connect --oauth`"
)
NOTES_SKIPPED = "the Attio token lacks the note:read-write scope; grant it and reconnect"
NOTES_WARNING = (
    "notes will be skipped: grant note:read-write to the Attio token or app, then reconnect"
)
KEPT = "Nothing in Attio was deleted: the records and notes pushed so far stay."
# Notes of one record are listed at most this many pages deep (50 notes a page).
_MAX_NOTE_PAGES = 200
# A create that may have been applied is tried at most this many times, each time after
# looking for its result; a server asking to wait longer than this (s) is not waited for.
_CREATE_ATTEMPTS = 4
_MAX_CREATE_WAIT = 60.0
# How far before a pending create's start to look for the record it made (clock skew).
_PENDING_SLACK = dt.timedelta(seconds=60)

_T = TypeVar("_T")


def _version() -> str:
    try:
        return importlib.metadata.version("crm-push")
    except importlib.metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"crm-push-attio/{_version()}"

# Attio's limits (25 writes/s, 100 reads/s) are "across the whole API"; budget them per
# workspace, shared by every client of this process that writes to that workspace.
_LIMITS: dict[str, RateLimits] = {}
_LIMITS_LOCK = threading.Lock()


def workspace_limits(workspace_id: str) -> RateLimits:
    """The one rate budget of a workspace in this process (ATTIO_*_PER_SECOND override)."""
    with _LIMITS_LOCK:
        limits = _LIMITS.get(workspace_id)
        if limits is None:
            limits = _LIMITS[workspace_id] = RateLimits.from_env("ATTIO", 25, 100)
        return limits


def has_scope(scopes: tuple[str, ...] | list[str], needed: str) -> bool:
    """`needed` is granted, or its read-write form is when only read is needed."""
    if needed in scopes:
        return True
    return needed.endswith(":read") and needed + "-write" in scopes


def _ref(object: str, written: Written, linked: tuple[str, ...] = ()) -> RecordRef:
    return RecordRef(
        object=object,
        record_id=written.record_id,
        outcome="created" if written.created else "updated",
        linked=linked,
        web_url=written.web_url,
    )


class AttioDestination:
    """crm-push destination for Attio. One instance per loaded destination.

    The keyword arguments exist for tests and host apps: an httpx transport, the sleep used
    between retries, the browser opener and the line printer of the OAuth flow.
    """

    crm_name = "Attio"

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        open_browser: Callable[[str], Any] = webbrowser.open,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self._transport = transport
        self._sleep = sleep
        self._open_browser = open_browser
        self._echo = echo
        self._clients: dict[tuple[str, str, str], AttioClient] = {}
        self._auths: dict[tuple[str, str, str], TokenAuth] = {}
        self._actions: dict[tuple[str, str, str], AttioActions] = {}
        self._lock = threading.Lock()

    # -- clients --------------------------------------------------------------------------

    def _http(
        self, base_url: str, auth: TokenAuth, limits: RateLimits | None, max_retries: int = 5
    ) -> HttpClient:
        return HttpClient(
            base_url=base_url,
            auth=auth,
            limits=limits,
            timeout=30.0,
            max_retries=max_retries,
            user_agent=USER_AGENT,
            error_for=error_for,
            is_retriable=is_retriable,
            transport=self._transport,
            sleep=self._sleep,
        )

    def _key(self, connection: Connection) -> tuple[str, str, str]:
        token = connection.credentials.access_token
        if token is None:
            raise ReconnectRequired("the Attio connection holds no token", next_step=RECONNECT)
        base_url = (connection.base_url or DEFAULT_BASE_URL).rstrip("/")
        # The token's hash, not the token, keys the cache: nothing secret in any repr.
        digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:16]
        return (base_url, connection.workspace_id, digest)

    def client(self, connection: Connection) -> AttioClient:
        """The (cached) client of a connection, with its workspace's shared rate budget."""
        key = self._key(connection)
        base_url = key[0]
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                limits = workspace_limits(connection.workspace_id)
                # One token for both clients: a refresh by either serves the other.
                auth = TokenAuth(
                    connection.credentials,
                    oauth.Endpoints.resolve(None, base_url),
                    self._transport,
                )
                self._auths[key] = auth
                client = self._clients[key] = AttioClient(
                    self._http(base_url, auth, limits),
                    # Creates: no retry inside HttpClient (see AttioClient and _once).
                    once=self._http(base_url, auth, limits, max_retries=0),
                )
            return client

    @hookimpl
    def current_credentials(self, connection: Connection) -> Credentials:
        """The connection's credentials as they are now: new ones if a refresh happened."""
        with self._lock:
            auth = self._auths.get(self._key(connection))
        return auth.credentials if auth else connection.credentials

    def actions(self, connection: Connection) -> AttioActions:
        """Assert record, identify user and group workspace on this connection, as a library
        API (the hooks call these). Cached with the client: attribute metadata is fetched once
        per connection (and again after `attributes.SCHEMA_TTL` seconds)."""
        client = self.client(connection)
        key = self._key(connection)
        with self._lock:
            actions = self._actions.get(key)
            if actions is None or actions.client is not client:
                actions = self._actions[key] = AttioActions(client)
            return actions

    @hookimpl
    def request_stats(self, connection: Connection) -> dict[str, float]:
        """What the HTTP clients of this connection's workspace spent: requests, retries, 429s…"""
        totals: dict[str, float] = {}
        with self._lock:
            clients = [c for k, c in self._clients.items() if k[1] == connection.workspace_id]
        for client in clients:
            https = {id(client.http): client.http, id(client.once): client.once}
            for http in https.values():
                for key, value in http.stats.as_dict().items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    @hookimpl
    def close(self) -> None:
        """Close every HTTP client this destination opened."""
        with self._lock:
            self._actions = {}
            clients, self._clients = list(self._clients.values()), {}
            self._auths = {}
        for client in clients:
            client.close()

    # -- connect ----------------------------------------------------------------------------

    def _self_info(self, base_url: str, credentials: Credentials) -> dict[str, Any] | None:
        """GET /v2/self; None when Attio says the token is dead (inactive, 401, malformed)."""
        assert credentials.access_token is not None
        client = AttioClient(self._http(base_url, TokenAuth(credentials), None))
        try:
            info = client.self_info()
        except ReconnectRequired:
            return None
        except InvalidInput:
            # A malformed token gets 400 missing_value on /v2/self.
            return None
        finally:
            client.close()
        return info if info.get("active") is True else None

    def _credentials(
        self, credentials: Credentials | None, options: ConnectOptions, endpoints: oauth.Endpoints
    ) -> Credentials:
        if options.oauth:
            # An explicit --oauth wins over any token: the user asked for a new one.
            if not options.interactive:
                raise ReconnectRequired(
                    "the Attio OAuth flow needs a browser and cannot run here",
                    next_step="run `crm-push --dest attio connect --oauth` in a terminal",
                )
            app = oauth.App.resolve(options.client_id, options.client_secret, options.extra)
            timeout = float(options.extra.get("oauth_timeout") or oauth.DEFAULT_TIMEOUT)
            return oauth.authorize(
                app,
                endpoints,
                redirect_uri=options.extra.get("redirect_uri") or os.environ.get(REDIRECT_URI_ENV),
                timeout=timeout,
                open_browser=self._open_browser,
                echo=self._echo or oauth.print_line,
                transport=self._transport,
            )
        env_token = os.environ.get(TOKEN_ENV, "").strip()
        if env_token:
            return Credentials(access_token=SecretStr(env_token))
        if credentials is not None and credentials.access_token is not None:
            return credentials
        raise ReconnectRequired(NO_TOKEN, next_step="then run `crm-push --dest attio connect`")

    @hookimpl
    def connect(self, credentials: Credentials | None, options: ConnectOptions) -> Connection:
        """Resolve a token, check it with GET /v2/self, and describe the workspace."""
        base = (
            options.base_url
            or os.environ.get(BASE_URL_ENV)
            or options.stored_base_url
            or DEFAULT_BASE_URL
        )
        base_url = base.rstrip("/")
        endpoints = oauth.Endpoints.resolve(options.extra, base_url)
        creds = self._credentials(credentials, options, endpoints)
        refreshed = False
        if expired(creds) and creds.refresh_token is not None:
            creds, refreshed = oauth.refresh(creds, endpoints, self._transport), True
        info = self._self_info(base_url, creds)
        if info is None and creds.refresh_token is not None and not refreshed:
            creds = oauth.refresh(creds, endpoints, self._transport)
            info = self._self_info(base_url, creds)
        if info is None:
            raise ReconnectRequired(
                "the Attio token is not active: it was revoked or has expired",
                next_step=RECONNECT,
            )
        scopes = tuple(str(info.get("scope") or "").split())
        missing = [s for s in REQUIRED_SCOPES if not has_scope(scopes, s)]
        if missing:
            names = " and ".join(missing)
            raise ScopeMissing(
                f"the Attio token lacks {names}, which crm-push needs to write people and "
                "companies",
                scope=" ".join(missing),
                next_step=f"grant {names} to the access token (Workspace settings → "
                "Developers) or the app, then run `crm-push --dest attio connect` again",
            )
        workspace_id = info.get("workspace_id") or info.get("sub")
        if not workspace_id:
            raise Fatal("Attio's /v2/self answer names no workspace")
        capabilities = {"inline_link"}
        warnings: list[str] = []
        if has_scope(scopes, SCOPE_NOTES):
            capabilities.add("notes")
        else:
            warnings.append(NOTES_WARNING)
        exp = info.get("exp")
        if creds.expires_at is None and isinstance(exp, int | float):
            creds = creds.model_copy(
                update={"expires_at": dt.datetime.fromtimestamp(float(exp), dt.UTC)}
            )
        return Connection(
            destination=NAME,
            workspace_id=str(workspace_id),
            workspace_name=info.get("workspace_name"),
            scopes=scopes,
            capabilities=frozenset(capabilities),
            warnings=tuple(warnings),
            credentials=creds,
            base_url=base_url,
        )

    # -- records ----------------------------------------------------------------------------

    def _find_created(
        self, client: AttioClient, object: str, values: Values, since: dt.datetime
    ) -> Written | None:
        """A record created since `since` that holds every value sent: the one an earlier
        attempt (a crashed push, or a create whose answer was lost) made."""
        name = values.get("name")
        if not name:
            return None
        item = name[0]
        name_filter: dict[str, Any]
        if object == PEOPLE:
            full = item if isinstance(item, str) else item.get("full_name")
            name_filter = {"name": {"full_name": {"$eq": full}}}
        else:
            name_filter = {"name": {"$eq": item.get("value")}}
        start = format_timestamp(since - _PENDING_SLACK)
        found = client.query_records(
            object,
            {"$and": [{"created_at": {"$gte": start}}, name_filter]},
            sorts=[{"direction": "asc", "attribute": "created_at"}],
        )
        for record in found:
            if same_values(values, record.get("values") or {}):
                return written_from(record, created=True)
        return None

    def _create(self, client: AttioClient, object: str, values: Values) -> Written:
        """Create a record without a blind retry: after a failed attempt (which may have been
        applied), look for the record before trying again."""
        since = dt.datetime.now(dt.UTC)
        return self._once(
            lambda: client.create_record(object, values),
            lambda: self._find_created(client, object, values, since),
        )

    def _once(self, create: Callable[[], _T], find: Callable[[], _T | None]) -> _T:
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                return create()
            except RetryLater as exc:
                wait = 1.0 if exc.retry_after is None else exc.retry_after
                if attempt == _CREATE_ATTEMPTS or wait > _MAX_CREATE_WAIT:
                    raise
                self._sleep(wait)
                found = find()
                if found is not None:
                    return found
        raise AssertionError("unreachable")  # the loop returns or raises

    def _keyless(
        self,
        client: AttioClient,
        object: str,
        values: Values,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> Written:
        """A record without a matching key: update the marker's record, or create one — after
        looking for the one a crashed push may have created."""
        if existing is not None:
            return client.update_record(object, existing.record_id, values)
        if pending is not None:
            found = self._find_created(client, object, values, pending.since)
            if found is not None:
                return found
        return self._create(client, object, values)

    @hookimpl
    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        """Assert by domain; without one, update the marker's record or create a new one."""
        client = self.client(connection)
        values = company_values(company)
        if company.domain:
            written = client.assert_record(COMPANIES, COMPANY_MATCH, values)
        else:
            written = self._keyless(client, COMPANIES, values, existing, pending)
        return _ref(COMPANIES, written)

    @hookimpl
    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        """Assert by email, linking the company inline; without email, update or create."""
        client = self.client(connection)
        company_id = company.record_id if company is not None else None
        values = person_values(person, company_id)
        if person.email:
            written = client.assert_record(PEOPLE, PERSON_MATCH, values)
        else:
            written = self._keyless(client, PEOPLE, values, existing, pending)
        return _ref(PEOPLE, written, (company_id,) if company_id else ())

    @hookimpl
    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        """Set the person's standard `company` reference (Attio updates the company's team)."""
        values = {"company": company_reference(company.record_id)}
        written = self.client(connection).update_record(person.object, person.record_id, values)
        return RecordRef(
            object=person.object,
            record_id=written.record_id,
            outcome="updated",
            linked=(company.record_id,),
            web_url=written.web_url or person.web_url,
        )

    # -- Segment's actions ------------------------------------------------------------------

    @hookimpl
    def assert_record(
        self, connection: Connection, object: str, matching_attribute: str, values: dict[str, Any]
    ) -> RecordRef:
        """Assert a record of any activated object, with typed values checked first."""
        return self.actions(connection).assert_record(object, matching_attribute, values)

    @hookimpl
    def identify_user(self, connection: Connection, identity: UserIdentity) -> IdentifyResult:
        """Assert the person by email, then the user linked to it (users must be activated)."""
        return self.actions(connection).identify_user(identity)

    @hookimpl
    def group_workspace(self, connection: Connection, group: WorkspaceGroup) -> GroupResult:
        """Assert the company by domain, then the workspace linked to it, adding the user."""
        return self.actions(connection).group_workspace(group)

    # -- notes ------------------------------------------------------------------------------

    def _find_note(self, client: AttioClient, parent: RecordRef, key: str) -> str | None:
        """The id of the record's note that carries this visit key, if one exists."""
        for page in range(_MAX_NOTE_PAGES):
            notes = client.list_notes(
                parent.object, parent.record_id, limit=NOTES_PAGE, offset=page * NOTES_PAGE
            )
            for note in notes:
                # The key (24 hex chars) is searched alone: markdown may be re-serialised.
                text = " ".join(
                    str(note.get(f) or "") for f in ("content_plaintext", "content_markdown")
                )
                if key in text:
                    ident = note.get("id") or {}
                    return str(ident.get("note_id") or "") or None
            if len(notes) < NOTES_PAGE:
                return None
        return None

    @hookimpl
    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        """Create the visit note once per key; skip (never fail) without the note scope."""
        if not connection.can("notes"):
            return NoteResult(status="skipped", reason=NOTES_SKIPPED)
        client = self.client(connection)

        def create() -> NoteResult:
            data = client.create_note(
                parent.object,
                parent.record_id,
                note.title,
                note.content,
                note.format,
                note.created_at,
            )
            return NoteResult(status="created", note_id=(data.get("id") or {}).get("note_id"))

        def find() -> NoteResult | None:
            found = self._find_note(client, parent, note.key)
            return NoteResult(status="created", note_id=found) if found else None

        try:
            if note.may_exist:
                found = self._find_note(client, parent, note.key)
                if found:
                    return NoteResult(status="existing", note_id=found)
            return self._once(create, find)
        except ScopeMissing:
            # Any 403 on notes is taken as the note scope missing (Attio's answer is unverified).
            return NoteResult(status="skipped", reason=NOTES_SKIPPED)

    # -- disconnect -------------------------------------------------------------------------

    @hookimpl
    def disconnect(self, connection: Connection) -> DisconnectResult:
        """Revoke an OAuth token; a workspace access token can only be revoked in Attio."""
        self.close()
        creds = connection.credentials
        if creds.client_id and creds.access_token is not None:
            endpoints = oauth.Endpoints.resolve(None, connection.base_url)
            revoked, why = oauth.revoke(creds, endpoints, self._transport)
            if revoked:
                return DisconnectResult(revoked=True, message=f"Revoked the Attio token. {KEPT}")
            return DisconnectResult(
                revoked=False,
                message=f"Could not revoke the Attio token ({why}); remove the app's access in "
                f"Attio (Workspace settings → Apps). {KEPT}",
            )
        return DisconnectResult(
            revoked=False,
            message="An Attio workspace access token cannot be revoked through the API: revoke "
            f"it in Attio (Workspace settings → Developers). {KEPT}",
        )
