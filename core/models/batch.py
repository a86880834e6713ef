"""What the batch hooks take: one input per record, keyed, so answers never depend on position.

A destination with batch endpoints (HubSpot: 100 records a request) implements the optional batch
hooks (`crm_push.hookspecs.BATCH_HOOKS`); the pusher then hands it lists of these inputs and reads
back a dict keyed by each input's `key`.
"""

from __future__ import annotations

from crm_push.models.crm import Note, Pending, RecordRef, _Result
from crm_push.models.visitor import Company, Person


class CompanyInput(_Result):
    """A company to create or update, as `assert_company` takes it, under core's key."""

    #: Core's key for this input; the answer is keyed by it.
    key: str
    company: Company
    #: From a marker: the record pushed before (companies without a domain).
    existing: RecordRef | None = None
    #: A claim taken over from a dead push: look for the record before creating it.
    pending: Pending | None = None


class PersonInput(_Result):
    """A person to create or update, as `assert_person` takes it, under core's key."""

    key: str
    person: Person
    #: The company already written, to link inline if the CRM can.
    company: RecordRef | None = None
    existing: RecordRef | None = None
    pending: Pending | None = None


class LinkInput(_Result):
    """A person to link to a company, as `associate` takes them, under core's key."""

    key: str
    person: RecordRef
    company: RecordRef


class NoteInput(_Result):
    """A note to put on a record, as `add_note` takes it (`note.may_exist` as there)."""

    key: str
    parent: RecordRef
    note: Note
