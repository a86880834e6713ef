"""crm-push: push website visitors — people, their companies and what they did — into CRMs.

Host apps connect a customer's CRM with `crm_push.oauth.begin`/`complete` (the OAuth web flow),
then push::

    from crm_push import Session, parse_visitor
    with Session("attio", workspace="ws_1") as session:  # the connection `connect` stored
        result = session.pusher().push(parse_visitor(payload))

Plugin authors: `hookimpl`, the models (`crm_push.models`), the errors, `crm_push.http`.

Names are imported on first use, so that `crm-push --help` does not pay for SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ConnectionStore": "crm_push.state.connections",
    "Destination": "crm_push.destination.facade",
    "AmbiguousConnection": "crm_push.errors",
    "CapabilityMissing": "crm_push.errors",
    "ConfigurationError": "crm_push.errors",
    "CrmPushError": "crm_push.errors",
    "DestinationNotFound": "crm_push.errors",
    "Fatal": "crm_push.errors",
    "InvalidInput": "crm_push.errors",
    "NotImplementedYet": "crm_push.errors",
    "PluginLoadError": "crm_push.errors",
    "ReconnectRequired": "crm_push.errors",
    "RetryLater": "crm_push.errors",
    "ScopeMissing": "crm_push.errors",
    "hookimpl": "crm_push.hookspecs",
    "hookspec": "crm_push.hookspecs",
    "ENTRY_POINT_GROUP": "crm_push.destination.discovery",
    "available": "crm_push.destination.discovery",
    "list_plugins": "crm_push.destination.discovery",
    "load_destination": "crm_push.destination.discovery",
    "MarkerStore": "crm_push.state.markers",
    "Company": "crm_push.models",
    "Person": "crm_push.models",
    "Visit": "crm_push.models",
    "Visitor": "crm_push.models",
    "Line": "crm_push.inputs.lines",
    "parse_visitor": "crm_push.inputs.visitors",
    "read_jsonl": "crm_push.inputs.visitors",
    "read_records": "crm_push.inputs.records",
    "SegmentMapping": "crm_push.inputs.segment",
    "read_segment": "crm_push.inputs.segment",
    "Pusher": "crm_push.push.pusher",
    "BatchPusher": "crm_push.push.batch",
    "pusher_for": "crm_push.push.batch",
    "ActionRunner": "crm_push.push.runner",
    "RunAborted": "crm_push.errors",
    "ActionResult": "crm_push.push.results",
    "ActionSummary": "crm_push.push.results",
    "RunSummary": "crm_push.push.results",
    "VisitorResult": "crm_push.push.results",
    "PlannerPlugin": "crm_push.destination.planner",
    "ReadOnlyMarkers": "crm_push.state.markers",
    "ConnectOptions": "crm_push.models.crm",
    "Connection": "crm_push.models.crm",
    "Credentials": "crm_push.models.crm",
    "DisconnectResult": "crm_push.models.crm",
    "Note": "crm_push.models.crm",
    "NoteResult": "crm_push.models.crm",
    "Pending": "crm_push.models.crm",
    "RecordRef": "crm_push.models.crm",
    "Session": "crm_push.session",
    "StubDestination": "crm_push.destination.stub",
    "OAuthSettings": "crm_push.models.oauth",
    "Authorization": "crm_push.oauth",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActionResult",
    "ActionRunner",
    "ActionSummary",
    "AmbiguousConnection",
    "Authorization",
    "BatchPusher",
    "CapabilityMissing",
    "Company",
    "ConfigurationError",
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
    "Line",
    "MarkerStore",
    "NotImplementedYet",
    "Note",
    "NoteResult",
    "OAuthSettings",
    "Pending",
    "Person",
    "PlannerPlugin",
    "PluginLoadError",
    "Pusher",
    "ReadOnlyMarkers",
    "ReconnectRequired",
    "RecordRef",
    "RetryLater",
    "RunAborted",
    "RunSummary",
    "ScopeMissing",
    "SegmentMapping",
    "Session",
    "StubDestination",
    "Visit",
    "Visitor",
    "VisitorResult",
    "available",
    "hookimpl",
    "hookspec",
    "list_plugins",
    "load_destination",
    "parse_visitor",
    "pusher_for",
    "read_jsonl",
    "read_records",
    "read_segment",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'crm_push' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from crm_push.destination.discovery import (
        ENTRY_POINT_GROUP,
        available,
        list_plugins,
        load_destination,
    )
    from crm_push.destination.facade import Destination
    from crm_push.destination.planner import PlannerPlugin
    from crm_push.destination.stub import StubDestination
    from crm_push.errors import (
        AmbiguousConnection,
        CapabilityMissing,
        ConfigurationError,
        CrmPushError,
        DestinationNotFound,
        Fatal,
        InvalidInput,
        NotImplementedYet,
        PluginLoadError,
        ReconnectRequired,
        RetryLater,
        RunAborted,
        ScopeMissing,
    )
    from crm_push.hookspecs import hookimpl, hookspec
    from crm_push.inputs.lines import Line
    from crm_push.inputs.records import read_records
    from crm_push.inputs.segment import SegmentMapping, read_segment
    from crm_push.inputs.visitors import parse_visitor, read_jsonl
    from crm_push.models import Company, Person, Visit, Visitor
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
    from crm_push.oauth import Authorization
    from crm_push.push.batch import BatchPusher, pusher_for
    from crm_push.push.pusher import Pusher
    from crm_push.push.results import ActionResult, ActionSummary, RunSummary, VisitorResult
    from crm_push.push.runner import ActionRunner
    from crm_push.session import Session
    from crm_push.state.connections import ConnectionStore
    from crm_push.state.markers import MarkerStore, ReadOnlyMarkers
