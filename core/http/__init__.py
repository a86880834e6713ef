"""The one way plugins talk HTTP: a client with rate limits, Retry-After, retries and redaction."""

from crm_push.http.client import (
    WINDOW_MARGIN,
    HttpClient,
    HttpStats,
    Kind,
    RateLimits,
    retry_after_seconds,
)

__all__ = ["WINDOW_MARGIN", "HttpClient", "HttpStats", "Kind", "RateLimits", "retry_after_seconds"]
