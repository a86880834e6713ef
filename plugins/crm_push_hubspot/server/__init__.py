"""A local HubSpot-compatible server (stdlib http.server), for tests and demos.

    from crm_push_hubspot.server import HubSpotServer

    with HubSpotServer() as srv:  # token "pat-local-dev-token" with the usual scopes
        ...  # point the client at srv.base_url

It keeps HubSpot's semantics: unique emails, case-sensitive upsert keys, search that lags
writes and its limits, 207 batch answers, a rolling ten-second rate limit with HubSpot's
headers and 429 bodies, scopes, OAuth with 30-minute access tokens, and error bodies in
HubSpot's shape. It imports nothing from crm_push. Run it with `python -m crm_push_hubspot.server`.
"""

from .app import RequestLog
from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo
from .server import HubSpotServer

__all__ = ["DEFAULT_SCOPES", "DEFAULT_TOKEN", "HubSpotServer", "RequestLog", "TokenInfo"]
