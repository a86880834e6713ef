"""Pipedrive destination for crm-push — a stub: listed, documented, and not implemented yet."""

from crm_push import StubDestination


class PipedriveDestination(StubDestination):
    """Stub: every hook raises NotImplementedYet; nothing is sent to Pipedrive."""

    crm_name = "Pipedrive"
