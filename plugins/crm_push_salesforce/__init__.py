"""Salesforce destination for crm-push — a stub: listed, documented, and not implemented yet."""

from crm_push import StubDestination


class SalesforceDestination(StubDestination):
    """Stub: every hook raises NotImplementedYet; nothing is sent to Salesforce."""

    crm_name = "Salesforce"
