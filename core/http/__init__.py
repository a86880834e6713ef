"""The one way plugins talk HTTP: a client with rate limits, Retry-After, retries and redaction.

limits = RateLimits(writes_per_second=25.0, reads_per_second=100.0)
with HttpClient("https://api.attio.com", headers={"Authorization": "Bearer …"},
                limits=limits) as client:
    data = client.json("GET", "/v2/self")
"""

from crm_push.http.client import HttpClient
from crm_push.http.limits import WINDOW_MARGIN, Kind, RateLimits
from crm_push.http.redact import has_control_characters, redact, redact_error, secrets_in
from crm_push.http.retry_after import retry_after_seconds
from crm_push.http.stats import HttpStats

__all__ = [
    "WINDOW_MARGIN",
    "HttpClient",
    "HttpStats",
    "Kind",
    "RateLimits",
    "has_control_characters",
    "redact",
    "redact_error",
    "retry_after_seconds",
    "secrets_in",
]
