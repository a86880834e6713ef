"""The optional actions beyond visitors: assert any record, identify a user, group a workspace.

These are the arguments and results of the optional hooks `assert_record`, `identify_user` and
`group_workspace` (Segment's three Attio actions, in CRM-neutral words):

- **assert record**: create or update a record of any object, matching on one unique attribute.
- **identify user**: a *person* (matched by email) and the product *user* behind it (matched by
  the user id of your app), the user linked to the person.
- **group workspace**: a *company* (matched by domain) and the product *workspace* (tenant,
  account, team…) of your app, linked to the company, and optionally to one of its users.

Values are *simple* values keyed by attribute (slug or id): strings, numbers, booleans, lists,
None to unset. The destination turns them into the CRM's write format using the CRM's own
attribute metadata, and refuses a bad value, naming it, before it writes anything.
"""

from __future__ import annotations

from typing import Any, Literal

from crm_push.models.crm import RecordRef
from crm_push.models.fields import normalize_domain, normalize_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Simple attribute values: attribute slug or id ⇒ value; None unsets the attribute.
Values = dict[str, Any]
#: How multiselect values (other than the matching attribute's) meet the record's own:
#: "append" adds them and removes none (the default); "replace" makes the record's values
#: exactly those sent, removing the others.
Multiselect = Literal["append", "replace"]
#: The connection capability that asks a destination to replace multiselects (the CLI's
#: `--multiselect replace`): how the choice reaches the `assert_record` hook, which takes
#: values only, and overrides the default of identify and group actions on that connection.
MULTISELECT_REPLACE = "multiselect:replace"


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _text_id(value: Any) -> Any:
    # Ids from exports and event streams are often numbers; keep them as text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class RecordAssertion(_Action):
    """Create or update one record of any object, matching on a unique attribute."""

    object: str = Field(min_length=1)
    matching_attribute: str = Field(min_length=1)
    values: Values

    def describe(self) -> str:
        match = self.values.get(self.matching_attribute)
        return f"{self.object} by {self.matching_attribute} {match!r}"


class UserIdentity(_Action):
    """A user of your product and the person they are: Segment's `identify`.

    The person is matched by `email`, the user by `user_id`; the user is linked to the person.
    """

    user_id: str = Field(min_length=1)
    email: str
    #: Extra values for the person record (attribute ⇒ simple value).
    person_values: Values = Field(default_factory=dict)
    #: Extra values for the user record (attribute ⇒ simple value).
    user_values: Values = Field(default_factory=dict)
    #: Multiselect values: "append" (default, the record's others stay) or "replace".
    multiselect: Multiselect = "append"

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id_text(cls, value: Any) -> Any:
        return _text_id(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    def describe(self) -> str:
        return f"user {self.user_id!r} ({self.email})"


class WorkspaceGroup(_Action):
    """A workspace (account, team, tenant) of your product and its company: Segment's `group`.

    The company is matched by `domain`, the workspace by `workspace_id` and linked to the
    company; when `user_id` is given, that user is added to the workspace's users (the others
    stay).
    """

    workspace_id: str = Field(min_length=1)
    domain: str
    user_id: str | None = None
    #: Extra values for the company record (attribute ⇒ simple value).
    company_values: Values = Field(default_factory=dict)
    #: Extra values for the workspace record (attribute ⇒ simple value).
    workspace_values: Values = Field(default_factory=dict)
    #: Multiselect values: "append" (default, the record's others stay) or "replace".
    multiselect: Multiselect = "append"

    @field_validator("workspace_id", "user_id", mode="before")
    @classmethod
    def _ids_text(cls, value: Any) -> Any:
        return _text_id(value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return normalize_domain(value)

    @field_validator("user_id")
    @classmethod
    def _blank_user(cls, value: str | None) -> str | None:
        return value or None

    def describe(self) -> str:
        return f"workspace {self.workspace_id!r} ({self.domain})"


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def refs(self) -> tuple[RecordRef, ...]:
        return tuple(v for v in (getattr(self, n) for n in type(self).model_fields) if v)

    @property
    def outcome(self) -> Literal["created", "updated", "unchanged"]:
        """ "created" when any record was created, else "updated" (or "unchanged")."""
        outcomes = {ref.outcome for ref in self.refs}
        if "created" in outcomes:
            return "created"
        return "updated" if "updated" in outcomes else "unchanged"


class IdentifyResult(_Result):
    """What `identify_user` wrote: the person and the user records."""

    person: RecordRef
    user: RecordRef


class GroupResult(_Result):
    """What `group_workspace` wrote: the company and the workspace records.

    The workspace's `linked` holds the company's record id and, when a user was added, the
    user's record id.
    """

    company: RecordRef
    workspace: RecordRef


#: Anything the action runner can push.
Action = RecordAssertion | UserIdentity | WorkspaceGroup
