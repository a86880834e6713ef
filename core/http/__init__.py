"""The one way plugins talk HTTP: a client with rate limits, Retry-After, retries and redaction.

limits = RateLimits(writes_per_second=25.0, reads_per_second=100.0)
with HttpClient("https://api.attio.com", headers={"Authorization": "Bearer …"},
                limits=limits) as client:
    data = client.json("GET", "/v2/self")
"""

from crm_push.http.auth import BearerAuth, can_refresh, expired
from crm_push.http.client import (
    HttpClient,
    connection_key,
    default_transport,
    shared_ssl_context,
    user_agent,
)
from crm_push.http.limits import (
    BUDGET_ENV,
    WINDOW_MARGIN,
    Budget,
    Kind,
    RateLimits,
    budget_for,
    rate_from_env,
    reset_budgets,
)
from crm_push.http.redact import has_control_characters, redact, redact_error, secrets_in
from crm_push.http.retry_after import retry_after_seconds
from crm_push.http.stats import HttpStats
from crm_push.http.transport import LeanTransport

__all__ = [
    "BUDGET_ENV",
    "WINDOW_MARGIN",
    "BearerAuth",
    "Budget",
    "HttpClient",
    "HttpStats",
    "Kind",
    "LeanTransport",
    "RateLimits",
    "budget_for",
    "can_refresh",
    "connection_key",
    "default_transport",
    "expired",
    "has_control_characters",
    "rate_from_env",
    "redact",
    "redact_error",
    "reset_budgets",
    "retry_after_seconds",
    "secrets_in",
    "shared_ssl_context",
    "user_agent",
]
