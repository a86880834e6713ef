"""Every pydantic model a hook or a host app handles: visitors, CRM results, actions.

Plugins import these names from here: `from crm_push.models import Connection, Person`.
"""

import importlib
from typing import Any

from crm_push.models.actions import (
    Action,
    GroupResult,
    IdentifyResult,
    RecordAssertion,
    UserIdentity,
    Values,
    WorkspaceGroup,
)
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
from crm_push.models.fields import normalize_domain, normalize_email, normalize_url, split_name
from crm_push.models.oauth import OAuthSettings
from crm_push.models.visitor import Company, Person, Visit, Visitor

#: Names that moved to crm_push.inputs, still importable from here; imported on first use,
#: so that the models never import the readers.
_MOVED = {
    "REJECT_KEY": "crm_push.inputs.lines",
    "parse_line": "crm_push.inputs.visitors",
    "parse_visitor": "crm_push.inputs.visitors",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'crm_push.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "REJECT_KEY",
    "Action",
    "Company",
    "CompanyInput",
    "ConnectOptions",
    "Connection",
    "Credentials",
    "DisconnectResult",
    "GroupResult",
    "IdentifyResult",
    "LinkInput",
    "Note",
    "NoteInput",
    "NoteResult",
    "OAuthSettings",
    "Pending",
    "Person",
    "PersonInput",
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
