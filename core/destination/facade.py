"""A loaded destination: one plugin in its own PluginManager, behind a typed facade."""

from __future__ import annotations

import threading
from typing import Any

import pluggy
from crm_push import hookspecs
from crm_push.errors import (
    CapabilityMissing,
    CrmPushError,
    Fatal,
    NotImplementedYet,
    PluginLoadError,
)
from crm_push.models import Company, Person
from crm_push.models.actions import GroupResult, IdentifyResult, UserIdentity, WorkspaceGroup
from crm_push.models.batch import CompanyInput, LinkInput, NoteInput, PersonInput
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
from crm_push.models.oauth import OAuthSettings

#: What each optional hook does, in words: "destination X cannot assert records".
OPTIONAL_ABILITIES = {
    "assert_record": "assert records",
    "identify_user": "identify users",
    "group_workspace": "group workspaces",
    "oauth_settings": "connect through OAuth",
    **dict.fromkeys(hookspecs.BATCH_HOOKS, "push in batches"),
}
#: What a batch hook answers for an input the destination left out of its answer.
NO_ANSWER = "the destination gave no answer for it"


def is_stub(plugin: object) -> bool:
    """Stub destinations say so with a true `crm_push_stub` attribute."""
    return bool(getattr(plugin, "crm_push_stub", False))


class Destination:
    """One CRM destination. Calls go to exactly one plugin's hook implementations."""

    def __init__(self, name: str, plugin: object) -> None:
        self.name = name
        self.plugin = plugin
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        try:
            self.pm.register(plugin, name=name)
            # A misspelt hook implementation fails here, loudly, instead of never being called.
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(
                f"destination {name!r} has an invalid hook implementation: {exc}",
                next_step="fix the plugin's hook names and signatures (see docs/hooks.md)",
            ) from exc
        batch = [hook for hook in hookspecs.BATCH_HOOKS if self.implements(hook)]
        if batch and len(batch) < len(hookspecs.BATCH_HOOKS):
            missing = [hook for hook in hookspecs.BATCH_HOOKS if hook not in batch]
            raise PluginLoadError(
                f"destination {name!r} implements the batch hooks {', '.join(batch)} but not "
                f"{', '.join(missing)}: a destination implements all five batch hooks or none",
                next_step="add the missing batch hooks, or remove the others (see docs/hooks.md)",
            )
        #: Whether this destination pushes in batches: it implements every hook of BATCH_HOOKS.
        self.batch_capable = bool(batch)
        self._holders = 0  # the Sessions using it (see hold)
        self._holders_lock = threading.Lock()

    @property
    def status(self) -> str:
        return "stub" if is_stub(self.plugin) else "ok"

    def request_stats(self, connection: Connection) -> dict[str, float]:
        """HTTP figures of the plugin's clients for this connection; {} when it keeps none."""
        stats = self.pm.hook.request_stats(connection=connection)
        return dict(stats) if stats else {}

    def current_credentials(self, connection: Connection) -> Credentials:
        """The connection's credentials as the plugin holds them now (renewed mid-run, say);
        the connection's own when the plugin does not renew any."""
        current: Credentials | None = self.pm.hook.current_credentials(connection=connection)
        return current if current is not None else connection.credentials

    def close(self) -> None:
        """Close the plugin's clients (a no-op for a plugin that keeps none)."""
        self.pm.hook.close()

    def hold(self) -> None:
        """One more user (a Session) of this destination: `release` closes the plugin's
        clients only when the last user lets go, so Sessions sharing one destination in
        several threads do not close each other's clients mid-push."""
        with self._holders_lock:
            self._holders += 1

    def release(self) -> None:
        """One user fewer; the last one closes the plugin's clients."""
        with self._holders_lock:
            self._holders = max(0, self._holders - 1)
            if self._holders == 0:
                self.close()

    def implements(self, hook: str) -> bool:
        caller = getattr(self.pm.hook, hook, None)
        return bool(caller and caller.get_hookimpls())

    def cannot(self, hook: str) -> str | None:
        """Why this destination cannot run an optional hook, or None when it can."""
        if self.implements(hook):
            return None
        ability = OPTIONAL_ABILITIES.get(hook, f"run {hook!r}")
        return (
            f"destination {self.name!r} cannot {ability}: it does not implement the optional "
            f"hook {hook!r}"
        )

    def _call(self, hook: str, **kwargs: Any) -> Any:
        if hook in hookspecs.OPTIONAL_HOOKS and (why := self.cannot(hook)):
            raise CapabilityMissing(
                why, next_step="use a destination that does (see `crm-push plugins`)"
            )
        result = getattr(self.pm.hook, hook)(**kwargs)
        if result is None:
            raise NotImplementedYet(f"destination {self.name!r} does not implement {hook!r}")
        return result

    def connect(
        self, credentials: Credentials | None = None, options: ConnectOptions | None = None
    ) -> Connection:
        result: Connection = self._call(
            "connect", credentials=credentials, options=options or ConnectOptions()
        )
        return result

    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None = None,
        pending: Pending | None = None,
    ) -> RecordRef:
        result: RecordRef = self._call(
            "assert_company",
            connection=connection,
            company=company,
            existing=existing,
            pending=pending,
        )
        return result

    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None = None,
        existing: RecordRef | None = None,
        pending: Pending | None = None,
    ) -> RecordRef:
        result: RecordRef = self._call(
            "assert_person",
            connection=connection,
            person=person,
            company=company,
            existing=existing,
            pending=pending,
        )
        return result

    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        result: RecordRef = self._call(
            "associate", connection=connection, person=person, company=company
        )
        return result

    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        result: NoteResult = self._call("add_note", connection=connection, parent=parent, note=note)
        return result

    def disconnect(self, connection: Connection) -> DisconnectResult:
        result: DisconnectResult = self._call("disconnect", connection=connection)
        return result

    def assert_record(
        self,
        connection: Connection,
        object: str,
        matching_attribute: str,
        values: dict[str, Any],
    ) -> RecordRef:
        result: RecordRef = self._call(
            "assert_record",
            connection=connection,
            object=object,
            matching_attribute=matching_attribute,
            values=values,
        )
        return result

    def identify_user(self, connection: Connection, identity: UserIdentity) -> IdentifyResult:
        result: IdentifyResult = self._call(
            "identify_user", connection=connection, identity=identity
        )
        return result

    def group_workspace(self, connection: Connection, group: WorkspaceGroup) -> GroupResult:
        result: GroupResult = self._call("group_workspace", connection=connection, group=group)
        return result

    # -- the OAuth web flow (crm_push.oauth) ------------------------------------------------

    def oauth_settings(self, options: ConnectOptions | None = None) -> OAuthSettings:
        """The CRM's OAuth endpoints and habits; CapabilityMissing when it has no OAuth."""
        result: OAuthSettings = self._call("oauth_settings", options=options or ConnectOptions())
        return result

    def oauth_credentials(self, answer: dict[str, Any]) -> Credentials | None:
        """The token endpoint's answer read by the plugin; None when it leaves that to core."""
        result: Credentials | None = self.pm.hook.oauth_credentials(answer=answer)
        return result

    # -- the batch hooks (a destination implements all of BATCH_HOOKS or none) -------------------

    def batch_size(self, connection: Connection) -> int:
        """The most inputs one batch call takes, as the destination says (at least 1)."""
        size = self._call("batch_size", connection=connection)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise Fatal(
                f"destination {self.name!r} gave batch_size {size!r}: it must be a positive "
                "whole number",
                next_step="fix the plugin's batch_size hook",
            )
        return size

    def assert_companies(
        self, connection: Connection, companies: list[CompanyInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        """Every input's key ⇒ its RecordRef or the error for that input alone."""
        return self._batch("assert_companies", connection, "companies", companies, RecordRef)

    def assert_people(
        self, connection: Connection, people: list[PersonInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        """Every input's key ⇒ its RecordRef or the error for that input alone."""
        return self._batch("assert_people", connection, "people", people, RecordRef)

    def associate_people(
        self, connection: Connection, links: list[LinkInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        """Every input's key ⇒ the person's RecordRef or the error for that input alone."""
        return self._batch("associate_people", connection, "links", links, RecordRef)

    def add_notes(
        self, connection: Connection, notes: list[NoteInput]
    ) -> dict[str, NoteResult | CrmPushError]:
        """Every input's key ⇒ its NoteResult or the error for that input alone."""
        return self._batch("add_notes", connection, "notes", notes, NoteResult)

    def _batch(
        self,
        hook: str,
        connection: Connection,
        argument: str,
        inputs: list[Any],
        answer: type[Any],
    ) -> dict[str, Any]:
        """Call a batch hook on at most `batch_size` inputs at a time, and answer every input:
        a key the destination left out, or answered with something else than `answer` or a
        CrmPushError, fails that input alone. An exception the hook raises is raised as is (it
        applies to every input of the call)."""
        keys = [item.key for item in inputs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{hook}: the inputs of one call must have distinct keys")
        out: dict[str, Any] = {}
        if not inputs:
            return out
        size = self.batch_size(connection)
        for start in range(0, len(inputs), size):
            chunk = inputs[start : start + size]
            answers = self._call(hook, connection=connection, **{argument: chunk})
            if not isinstance(answers, dict):
                raise Fatal(
                    f"destination {self.name!r}: {hook} returned {type(answers).__name__}, "
                    "not a dict keyed by input key",
                    next_step=f"fix the plugin's {hook} hook",
                )
            for item in chunk:
                got = answers.get(item.key)
                if got is None:
                    got = Fatal(NO_ANSWER, next_step="push the visitor again")
                elif not isinstance(got, answer | CrmPushError):
                    got = Fatal(
                        f"the destination answered {type(got).__name__}, not {answer.__name__}",
                        next_step=f"fix the plugin's {hook} hook",
                    )
                out[item.key] = got
        return out
