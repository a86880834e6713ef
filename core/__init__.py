"""crm-push: push website visitors — people, their companies and what they did — into CRMs.

Host apps::

    from crm_push import load_destination, MarkerStore, Pusher
    dest = load_destination("attio")
    connection = dest.connect()
    pusher = Pusher(dest, connection, MarkerStore("attio", connection.workspace_id))
    result = pusher.push(visitor)
"""

from crm_push.connections import ConnectionStore
from crm_push.destination import Destination
from crm_push.errors import (
    CapabilityMissing,
    CrmPushError,
    DestinationNotFound,
    Fatal,
    InvalidInput,
    NotImplementedYet,
    PluginLoadError,
    ReconnectRequired,
    RetryLater,
    ScopeMissing,
)
from crm_push.hookspecs import hookimpl, hookspec
from crm_push.loading import ENTRY_POINT_GROUP, available, list_plugins, load_destination
from crm_push.markers import MarkerStore
from crm_push.models import Company, Person, Visit, Visitor, parse_visitor
from crm_push.pusher import Pusher, RunAborted, RunSummary, VisitorResult
from crm_push.records import (
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    Note,
    NoteResult,
    Pending,
    RecordRef,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CapabilityMissing",
    "Company",
    "ConnectOptions",
    "Connection",
    "ConnectionStore",
    "Credentials",
    "CrmPushError",
    "Destination",
    "DestinationNotFound",
    "DisconnectResult",
    "Fatal",
    "InvalidInput",
    "MarkerStore",
    "NotImplementedYet",
    "Note",
    "NoteResult",
    "Pending",
    "Person",
    "PluginLoadError",
    "Pusher",
    "ReconnectRequired",
    "RecordRef",
    "RetryLater",
    "RunAborted",
    "RunSummary",
    "ScopeMissing",
    "Visit",
    "Visitor",
    "VisitorResult",
    "available",
    "hookimpl",
    "hookspec",
    "list_plugins",
    "load_destination",
    "parse_visitor",
]
