"""crm-push destination for HubSpot (CRM API, dated version 2026-03), entry point ``hubspot``.

Modules (every CRM package has the first seven, with the same names):

- ``plugin``: ``HubSpotDestination``, the hooks, each a few lines that delegate.
- ``connect``: the token (HUBSPOT_ACCESS_TOKEN or stored), the portal, the scopes; disconnect.
- ``clients``: one ``HubSpotClient`` per connection, cached; what this process created.
- ``api``: ``HubSpotClient``, one method per HubSpot endpoint, on ``crm_push.http.HttpClient``.
- ``errors``: HubSpot's error bodies as typed errors naming the field.
- ``records``: contacts upserted by email, companies by domain, keyless ones created once.
- ``notes``: the visit note on the contact, found by its key before it is created.
- ``batches``: batch calls, 100 inputs a request, answers matched by key, shared requests.
- ``properties``: the unique company property ``crmpush_domain`` (the companies' upsert key).
- ``limits``: the rate budget of each portal (core's shared one), from HubSpot's headers.
- ``server``: a local HubSpot-compatible server for tests and demos (imports no crm_push).

Nothing here ever sends DELETE to HubSpot. This module imports nothing, so ``server`` stays
free of crm_push.
"""


def reset_caches() -> None:
    """Forget this process's HubSpot rate budgets (for tests)."""
    from .limits import reset_limits

    reset_limits()
