"""A local Attio-compatible server (stdlib http.server + jsonschema), for tests and demos.

    from crm_push_attio.server import AttioServer, TokenInfo

    with AttioServer() as srv:  # token "local-dev-token" with the usual scopes
        ...  # point the client at srv.base_url

It keeps Attio's semantics (unique matching, references that must exist, notes, scopes, 429
with an HTTP-date Retry-After, errors in Attio's shape) and validates request bodies against
the OpenAPI schema shipped beside it. Run it standalone with `python -m crm_push_attio.server`.
"""

from .app import RequestLog
from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo
from .server import AttioServer

__all__ = ["DEFAULT_SCOPES", "DEFAULT_TOKEN", "AttioServer", "RequestLog", "TokenInfo"]
