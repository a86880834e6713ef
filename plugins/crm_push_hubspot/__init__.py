"""HubSpot destination for crm-push — a stub: listed, documented, and not implemented yet.

``server`` (a local HubSpot-compatible server) imports nothing from crm_push, so this module
imports the stub lazily.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "HubSpotDestination":
        from crm_push import StubDestination

        class HubSpotDestination(StubDestination):
            """Stub: every hook raises NotImplementedYet; nothing is sent to HubSpot."""

            crm_name = "HubSpot"

        return HubSpotDestination
    raise AttributeError(name)
