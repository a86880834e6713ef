"""Every pydantic model a hook or a host app handles: visitors, CRM results, actions.

Plugins import these names from here: `from crm_push.models import Connection, Person`.
"""

from crm_push.models.actions import (
    Action,
    GroupResult,
    IdentifyResult,
    RecordAssertion,
    UserIdentity,
    Values,
    WorkspaceGroup,
)
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
from crm_push.models.fields import normalize_domain, normalize_email, normalize_url, split_name
from crm_push.models.visitor import (
    REJECT_KEY,
    Company,
    Person,
    Visit,
    Visitor,
    parse_line,
    parse_visitor,
)

__all__ = [
    "REJECT_KEY",
    "Action",
    "Company",
    "ConnectOptions",
    "Connection",
    "Credentials",
    "DisconnectResult",
    "GroupResult",
    "IdentifyResult",
    "Note",
    "NoteResult",
    "Pending",
    "Person",
    "RecordAssertion",
    "RecordRef",
    "UserIdentity",
    "Values",
    "Visit",
    "Visitor",
    "WorkspaceGroup",
    "normalize_domain",
    "normalize_email",
    "normalize_url",
    "parse_line",
    "parse_visitor",
    "split_name",
]
