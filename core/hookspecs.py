"""The destination hooks. A CRM plugin implements these six, and may implement the optional ones.

The optional hooks `assert_record`, `identify_user` and `group_workspace` are Segment's three
actions in CRM-neutral words; a destination without one simply cannot do it, and
`Destination.implements(name)` says so. The optional hooks `current_credentials`,
`request_stats` and `close` serve the connection lifecycle that `Session` runs;
`oauth_settings` and `oauth_credentials` give `crm_push.oauth` a CRM's OAuth particulars. The
optional batch hooks (`BATCH_HOOKS`) serve destinations with batch endpoints: a destination
implements all five or none, and the pusher then pushes visitors in batches.

Every hook but `close` is `firstresult=True`: each destination has its own PluginManager, so
exactly one implementation answers. Arguments are keyword arguments carrying core models;
implementations may accept any subset of them, as pluggy allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # types only: importing the hooks (or a stub plugin) must not import pydantic
    from crm_push.errors import CrmPushError
    from crm_push.models import (
        Company,
        CompanyInput,
        Connection,
        ConnectOptions,
        Credentials,
        DisconnectResult,
        GroupResult,
        IdentifyResult,
        LinkInput,
        Note,
        NoteInput,
        NoteResult,
        OAuthSettings,
        Pending,
        Person,
        PersonInput,
        RecordRef,
        UserIdentity,
        WorkspaceGroup,
    )

PROJECT = "crm_push"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The hooks every destination implements, in the order they fire for a visitor.
CORE_HOOKS = ("connect", "assert_company", "assert_person", "associate", "add_note", "disconnect")
#: Hooks a destination may leave out; a missing one means "this destination cannot".
OPTIONAL_HOOKS = (
    "assert_record",
    "identify_user",
    "group_workspace",
    "current_credentials",
    "request_stats",
    "close",
    # The OAuth web flow (`crm_push.oauth`).
    "oauth_settings",
    "oauth_credentials",
    # Batch endpoints (`BATCH_HOOKS`).
    "batch_size",
    "assert_companies",
    "assert_people",
    "associate_people",
    "add_notes",
)
#: The batch hooks, in the order they fire for a batch: a destination implements all or none.
BATCH_HOOKS = ("batch_size", "assert_companies", "assert_people", "associate_people", "add_notes")


@hookspec(firstresult=True)
def connect(credentials: Credentials | None, options: ConnectOptions) -> Connection:
    """Check credentials with the CRM and describe the workspace they reach.

    :param credentials: the stored credentials of this destination, or None on first connect
        (a plugin may also read its own environment variables, which take precedence).
    :param options: what the user asked: OAuth flow, client id/secret, base URL override.
    :return: a Connection with the workspace id, scopes, capabilities and any warnings.
    :raises ReconnectRequired: no usable credentials, or the CRM says they are dead.
    :raises ScopeMissing: a scope required for pushing is missing.
    """


@hookspec(firstresult=True)
def assert_company(
    connection: Connection, company: Company, existing: RecordRef | None, pending: Pending | None
) -> RecordRef:
    """Create or update a company, matching on its domain.

    :param connection: the connection returned by `connect`.
    :param company: the normalised company.
    :param existing: the record this company was pushed to before (from a push marker). Use it
        when the company has no domain, so a re-push updates instead of creating a duplicate.
    :param pending: set when an earlier push was creating this domain-less company and died;
        look for a matching record created since `pending.since` before creating one.
    :return: a RecordRef with outcome "created" or "updated".
    """


@hookspec(firstresult=True)
def assert_person(
    connection: Connection,
    person: Person,
    company: RecordRef | None,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """Create or update a person, matching on the email, and link the company if you can.

    :param connection: the connection returned by `connect`.
    :param person: the normalised person (a visitor's person or a company's key contact).
    :param company: the company record to link to, already written, or None.
    :param existing: the record this person was pushed to before (from a push marker); use it
        when the person has no email.
    :param pending: set when an earlier push was creating this email-less person and died;
        look for a matching record created since `pending.since` before creating one.
    :return: a RecordRef; put the company's record id in `linked` when the write linked it, so
        the pusher does not call `associate`.
    """


@hookspec(firstresult=True)
def associate(connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
    """Link a person to a company, when `assert_person` did not link it inline.

    :param connection: the connection returned by `connect`.
    :param person: the person's record.
    :param company: the company's record.
    :return: the person's RecordRef with the company's id in `linked`.
    """


@hookspec(firstresult=True)
def add_note(connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
    """Put a note (the visit context) on a record, at most once per `note.key`.

    :param connection: the connection returned by `connect`.
    :param parent: the record the note belongs to (a person).
    :param note: title, content and the key of the visit; when `note.may_exist` is true an
        earlier push may have created it before a crash, so look for it before creating.
    :return: NoteResult "created", "existing" (found, not created again) or "skipped" with a
        reason when the destination cannot write notes (a missing scope, say): skipping never
        fails the visitor.
    """


@hookspec(firstresult=True)
def disconnect(connection: Connection) -> DisconnectResult:
    """Revoke the credentials where the CRM allows it. Never delete anything in the CRM.

    :param connection: the connection to end.
    :return: whether a token was revoked, and a message for the user.
    """


@hookspec(firstresult=True)
def assert_record(
    connection: Connection, object: str, matching_attribute: str, values: dict[str, Any]
) -> RecordRef:
    """Optional: create or update a record of any object, matching on one unique attribute.

    :param connection: the connection returned by `connect`.
    :param object: the object's slug or id (e.g. "companies", "deals").
    :param matching_attribute: a unique attribute whose value is among `values`.
    :param values: attribute slug or id ⇒ simple value (a list for several values of a
        multiselect attribute); None unsets the attribute. Convert them with the CRM's own
        attribute metadata and raise InvalidInput naming the attribute, the value and the
        expected format before writing anything.
    :return: a RecordRef with outcome "created" or "updated".
    :raises InvalidInput: an unknown, read-only or non-unique attribute, or a bad value.
    """


@hookspec(firstresult=True)
def identify_user(connection: Connection, identity: UserIdentity) -> IdentifyResult:
    """Optional: assert a person by email, then the user (of your product) linked to it.

    :param connection: the connection returned by `connect`.
    :param identity: the user id and email (already normalised), plus extra simple values for
        the person (`person_values`) and for the user (`user_values`).
    :return: an IdentifyResult with the person's and the user's RecordRefs.
    :raises InvalidInput: a bad value, refused before anything is written.
    :raises Fatal: the CRM has no user object (say how to enable it).
    """


@hookspec(firstresult=True)
def group_workspace(connection: Connection, group: WorkspaceGroup) -> GroupResult:
    """Optional: assert a company by domain, then the workspace linked to it (and to a user).

    :param connection: the connection returned by `connect`.
    :param group: the workspace id and the company's domain (already normalised), the user id
        to add to the workspace's users (never replacing the others) or None, plus extra
        simple values for the company (`company_values`) and the workspace
        (`workspace_values`).
    :return: a GroupResult with the company's and the workspace's RecordRefs; the workspace's
        `linked` holds the company's record id (and the user's, when one was added).
    :raises InvalidInput: a bad value, or a user that does not exist in the CRM.
    :raises Fatal: the CRM has no workspace object (say how to enable it).
    """


@hookspec(firstresult=True)
def current_credentials(connection: Connection) -> Credentials:
    """Optional: the connection's credentials as the plugin holds them now.

    A plugin that renews tokens mid-run (an OAuth refresh, with a rotated refresh token) gives
    the renewed ones here, so that `Session` stores them; without this hook the connection's
    own credentials are kept.

    :param connection: the connection returned by `connect`.
    :return: the current Credentials of that connection.
    """


@hookspec(firstresult=True)
def request_stats(connection: Connection) -> dict[str, float]:
    """Optional: HTTP figures of the plugin's clients for this connection.

    The keys `crm-push push` shows: `requests`, `writes`, `reads`, `retries`, `throttled`
    (429 answers); a plugin may add its own. Without this hook a summary's `http` is empty.

    :param connection: the connection returned by `connect`.
    :return: figure name ⇒ count (or seconds), since the destination was loaded.
    """


@hookspec
def close() -> None:
    """Optional: close every client (HTTP connection pool, thread) the plugin opened.

    `Session.close()` calls it; the plugin may be used again afterwards and then opens new
    clients.
    """


# -- the OAuth web flow: the CRM-specific parts of `crm_push.oauth` -------------------------


@hookspec(firstresult=True)
def oauth_settings(options: ConnectOptions) -> OAuthSettings:
    """Optional: the CRM's OAuth 2.0 endpoints, scopes and habits, for `crm_push.oauth`.

    A destination that implements it can be connected with `crm_push.oauth.begin` and
    `complete` (a host app's web flow) and `crm-push connect --oauth` (the CLI's loopback
    flow); core runs the protocol (state, PKCE, code exchange, refresh, revoke) on authlib.

    :param options: the connect options of the flow: `base_url` (a local server, say) and the
        destination's own `extra` options (endpoint overrides); `environment` says whether the
        destination may read its environment variables (a base URL, endpoint overrides).
    :return: OAuthSettings: authorize, token and revoke URLs, scopes, PKCE, client
        authentication, the environment variables of the client id and secret, the base URL.
    :raises ConfigurationError: a setting (an override) is unusable.
    """


@hookspec(firstresult=True)
def oauth_credentials(answer: dict[str, Any]) -> Credentials:
    """Optional: read the token endpoint's JSON answer (to a code or a refresh) as Credentials.

    Without it core reads the standard fields (RFC 6749 §5.1): `access_token`,
    `refresh_token`, `expires_in`, `token_type`. Core adds the OAuth app's client id and
    secret to what is returned, so the token can be refreshed and revoked later.

    :param answer: the token endpoint's JSON object (never log it: it holds the tokens).
    :return: Credentials with the access token, and the refresh token and expiry if any.
    :raises ReconnectRequired: the answer carries no usable token.
    """


# -- batch endpoints: the batch hooks (`BATCH_HOOKS`), all five or none ---------------------


@hookspec(firstresult=True)
def batch_size(connection: Connection) -> int:
    """Optional (a batch hook): the most inputs one call of a batch hook takes.

    :param connection: the connection returned by `connect`.
    :return: a positive number (HubSpot: 100); the pusher never passes more inputs at once.
    """


@hookspec(firstresult=True)
def assert_companies(
    connection: Connection, companies: list[CompanyInput]
) -> dict[str, RecordRef | CrmPushError]:
    """Optional (a batch hook): create or update companies, as `assert_company` does each.

    :param connection: the connection returned by `connect`.
    :param companies: inputs with distinct keys; each carries the company and its `existing`
        and `pending`, with the meaning they have for `assert_company`.
    :return: input key ⇒ its RecordRef, or the typed error for that input only (an
        `InvalidInput(field=…)` for a company the CRM refused). A key left out fails its input.
        Match the CRM's batch results to inputs by your own trace id or key, never by position.
    :raises CrmPushError: for every input of the call (dead credentials, a transport error).
    """


@hookspec(firstresult=True)
def assert_people(
    connection: Connection, people: list[PersonInput]
) -> dict[str, RecordRef | CrmPushError]:
    """Optional (a batch hook): create or update people, as `assert_person` does each.

    :param connection: the connection returned by `connect`.
    :param people: inputs with distinct keys; each carries the person, the company already
        written (or None), `existing` and `pending`, as for `assert_person`.
    :return: input key ⇒ its RecordRef (the company's record id in `linked` when the write
        linked it), or the typed error for that input only. A key left out fails its input.
    :raises CrmPushError: for every input of the call.
    """


@hookspec(firstresult=True)
def associate_people(
    connection: Connection, links: list[LinkInput]
) -> dict[str, RecordRef | CrmPushError]:
    """Optional (a batch hook): link people to companies, as `associate` does each.

    :param connection: the connection returned by `connect`.
    :param links: inputs with distinct keys, each a person's and a company's record.
    :return: input key ⇒ the person's RecordRef with the company's id in `linked`, or the
        typed error for that input only. A key left out fails its input.
    :raises CrmPushError: for every input of the call.
    """


@hookspec(firstresult=True)
def add_notes(
    connection: Connection, notes: list[NoteInput]
) -> dict[str, NoteResult | CrmPushError]:
    """Optional (a batch hook): put notes on records, at most once per `note.key`, as `add_note`.

    :param connection: the connection returned by `connect`.
    :param notes: inputs with distinct keys, each the parent record and the note (look for it
        first when `note.may_exist` is true).
    :return: input key ⇒ its NoteResult ("created", "existing" or "skipped" with a reason), or
        the typed error for that input only. A key left out fails its input.
    :raises CrmPushError: for every input of the call.
    """
