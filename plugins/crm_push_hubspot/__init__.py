"""HubSpot destination for crm-push — a stub: listed, documented, and not implemented yet."""

from crm_push import StubDestination


class HubSpotDestination(StubDestination):
    """Stub: every hook raises NotImplementedYet; nothing is sent to HubSpot."""

    crm_name = "HubSpot"
