"""Segment's three Attio actions: assert a record, identify a user, group a workspace.

    actions = AttioDestination().actions(connection)
    actions.assert_record("companies", "domains", {"domains": "app.attio.com", "twitter": "@attio"})
    actions.identify_user(UserIdentity(user_id="u_1", email="ada@acme.com"))
    actions.group_workspace(WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="u_1"))

Every value goes through `convert.convert_values` first: all the values of an action are checked
against Attio's attribute metadata before its first write, so a bad value writes nothing.
The `users` and `workspaces` objects are off by default in Attio; when one is not activated the
action says so and how to turn it on, before writing anything.
"""

from __future__ import annotations

from typing import Any, Literal

from crm_push.errors import Fatal, InvalidInput
from crm_push.models import (
    Connection,
    GroupResult,
    IdentifyResult,
    RecordRef,
    UserIdentity,
    WorkspaceGroup,
)

from .api import AttioClient, Written
from .attributes import Schemas
from .convert import convert_values
from .errors import ACTIVATE, ObjectNotFound
from .records import COMPANIES, PEOPLE, ref

USERS = "users"
WORKSPACES = "workspaces"

#: How multiselect values other than the matching attribute's are written.
#: "append" (the default, as Segment's Attio destination does): added to the record's values,
#: none removed. "replace": Attio's assert semantics, the record's values become exactly those
#: sent (the others are removed).
Multiselect = Literal["append", "replace"]
#: The connection capability that makes "replace" the mode of every action on a connection
#: (how `--multiselect replace` reaches the `assert_record` hook, which takes no mode).
REPLACE_CAPABILITY = "multiselect:replace"  # crm_push.models.actions.MULTISELECT_REPLACE


def mode_of(connection: Connection, default: Multiselect = "append") -> Multiselect:
    """The multiselect mode on a connection: "replace" when it carries the capability."""
    return "replace" if connection.can(REPLACE_CAPABILITY) else default


#: Standard objects Attio ships switched off; an admin activates them.
OFF_BY_DEFAULT = {USERS: "Users", WORKSPACES: "Workspaces", "deals": "Deals"}


def _by_id(object: str, record_id: str) -> list[dict[str, str]]:
    return [{"target_object": object, "target_record_id": record_id}]


class AttioActions:
    """Assert record, identify user and group workspace on one Attio connection.

    Thread-safe: the client and the metadata cache are shared by every thread.
    """

    def __init__(self, client: AttioClient, schemas: Schemas | None = None) -> None:
        self.client = client
        self.schemas = schemas or Schemas(client)

    # -- metadata -----------------------------------------------------------------------

    def _require(self, object: str, action: str) -> None:
        """Fetch (or reuse) the object's attributes; say how to activate it when it is off."""
        try:
            self.schemas.object(object)
        except ObjectNotFound as exc:
            label = OFF_BY_DEFAULT.get(object)
            if label is None:
                raise
            raise Fatal(
                f"the {label} object is not activated in this Attio workspace, and {action} "
                f"writes {label.lower()} records",
                next_step=f"an Attio admin activates it in {ACTIVATE} > {label}; then push again",
            ) from exc

    def values(
        self, object: str, values: dict[str, Any], matching_attribute: str | None = None
    ) -> dict[str, list[Any]]:
        """Simple values ⇒ Attio's write format for `object`, or InvalidInput naming the
        attribute, the value and the format expected. Reads metadata; writes nothing."""
        return convert_values(self.schemas, object, values, matching_attribute=matching_attribute)

    # -- assert record ------------------------------------------------------------------

    def assert_record(
        self,
        object: str,
        matching_attribute: str,
        values: dict[str, Any],
        multiselect: Multiselect = "append",
    ) -> RecordRef:
        """Create or update a record of any activated object, matching on a unique attribute
        (`PUT /v2/objects/{object}/records?matching_attribute=…`).

        Multiselect values are appended (`multiselect="append"`, the default): the record's
        other values stay. `"replace"` keeps Attio's assert semantics: the record's values of
        each multiselect sent become exactly those sent. On the matching attribute values
        are always added.
        """
        try:
            body = self.values(object, values, matching_attribute)
        except ObjectNotFound as exc:
            raise self._unknown_object(object) from exc
        match = self.schemas.object(object).find(matching_attribute)
        assert match is not None  # convert_values checked it
        return ref(object, self._assert(object, match.slug, body, multiselect))

    def _assert(
        self, object: str, match: str, body: dict[str, list[Any]], multiselect: Multiselect
    ) -> Written:
        """Assert `body` on `match`. In append mode, each non-empty multiselect other than the
        matching one is left out of the assert (which would replace it) and sent after it in a
        PATCH of the record, which appends (Attio's spec has no append option on assert).
        An empty list (a value set to None: unset) stays in the assert and clears."""
        if multiselect == "replace":
            return self.client.assert_record(object, match, body)
        schema = self.schemas.object(object)
        appended: dict[str, list[Any]] = {}
        for slug, items in body.items():
            attr = schema.find(slug)
            if slug != match and items and attr is not None and attr.is_multiselect:
                appended[slug] = items
        asserted = {k: v for k, v in body.items() if k not in appended}
        written = self.client.assert_record(object, match, asserted)
        if appended:
            self.client.update_record(object, written.record_id, appended)
        return written

    def _unknown_object(self, object: str) -> Fatal | InvalidInput:
        label = OFF_BY_DEFAULT.get(object)
        if label is not None:
            return Fatal(
                f"the {label} object is not activated in this Attio workspace",
                next_step=f"an Attio admin activates it in {ACTIVATE} > {label}; then try again",
            )
        try:
            known = ", ".join(sorted(self.schemas.objects().values())) or "none"
        except Exception:  # the list is a courtesy; the error stands without it
            known = "see Workspace Settings > Objects"
        return InvalidInput(
            f"Attio has no activated object {object!r} (activated objects: {known})",
            field="object",
            code="not_found",
            next_step=f"check the object's slug, or activate it in Attio ({ACTIVATE})",
        )

    # -- identify user ------------------------------------------------------------------

    def identify_user(
        self, identity: UserIdentity, multiselect: Multiselect | None = None
    ) -> IdentifyResult:
        """Assert the person by email, then the user by `user_id` with its
        `primary_email_address` and its `person` reference to that person.

        Both objects' values are checked before the first write; the users object must be
        activated.
        """
        self._require(USERS, "identify user")
        person_values = {**identity.person_values, "email_addresses": identity.email}
        person_body = self.values(PEOPLE, person_values, "email_addresses")
        user_values = {
            **identity.user_values,
            "user_id": identity.user_id,
            "primary_email_address": identity.email,
        }
        user_body = self.values(USERS, user_values, "user_id")
        mode = multiselect or identity.multiselect
        person = ref(PEOPLE, self._assert(PEOPLE, "email_addresses", person_body, mode))
        user_body["person"] = _by_id(PEOPLE, person.record_id)
        user = ref(
            USERS,
            self._assert(USERS, "user_id", user_body, mode),
            linked=(person.record_id,),
        )
        return IdentifyResult(person=person, user=user)

    # -- group workspace ----------------------------------------------------------------

    def group_workspace(
        self, group: WorkspaceGroup, multiselect: Multiselect | None = None
    ) -> GroupResult:
        """Assert the company by domain, then the workspace by `workspace_id` linked to it by
        record id; then add the user (found by `user_id`) to the workspace's `users`.

        Adding the user is a PATCH of the workspace record, which appends to a multiselect:
        the workspace's other users stay. (An assert would replace them, and reading the users
        first then writing them all back would lose a user added in between.) The user is
        looked up before the first write: an unknown user id writes nothing.
        """
        self._require(WORKSPACES, "group workspace")
        if group.user_id is not None:
            self._require(USERS, "group workspace with a user id")
        company_values = {**group.company_values, "domains": group.domain}
        company_body = self.values(COMPANIES, company_values, "domains")
        workspace_values = {**group.workspace_values, "workspace_id": group.workspace_id}
        workspace_body = self.values(WORKSPACES, workspace_values, "workspace_id")
        # Users given as extra values are added like the event's user, never replaced.
        users: list[Any] = list(workspace_body.pop("users", []))
        user_record: str | None = None
        if group.user_id is not None:
            user_record = self.find_user(group.user_id)
            users += _by_id(USERS, user_record)

        mode = multiselect or group.multiselect
        company = ref(COMPANIES, self._assert(COMPANIES, "domains", company_body, mode))
        workspace_body["company"] = _by_id(COMPANIES, company.record_id)
        written = self._assert(WORKSPACES, "workspace_id", workspace_body, mode)
        if users:
            self.client.update_record(WORKSPACES, written.record_id, {"users": users})
        linked = (company.record_id, *((user_record,) if user_record else ()))
        return GroupResult(company=company, workspace=ref(WORKSPACES, written, linked=linked))

    def find_user(self, user_id: str) -> str:
        """The record id of the user with this `user_id`, or InvalidInput (a read)."""
        found = self.client.query_records(USERS, {"user_id": {"$eq": user_id}}, limit=1)
        record_id = ((found[0].get("id") or {}).get("record_id")) if found else None
        if not record_id:
            raise InvalidInput(
                f"no Attio user has user_id {user_id!r}, so it cannot be added to a workspace",
                field="user_id",
                code="not_found",
                next_step="identify the user first (an identify event before the group "
                "event), then push again; nothing was written",
            )
        return str(record_id)
