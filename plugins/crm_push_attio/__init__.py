"""crm-push destination for Attio (REST API v2), registered as entry point ``attio``.

Modules (every CRM package has the first seven, with the same names):

- ``plugin``: ``AttioDestination``, the hooks, each a few lines that delegate.
- ``connect``: a token (environment, stored, OAuth), ``GET /v2/self``, the scopes, the
  ``Connection``; and disconnecting.
- ``clients``: one ``AttioClient`` per connection, cached, with the workspace's rate budget.
- ``api``: ``AttioClient``, one method per Attio endpoint, on ``crm_push.http.HttpClient``.
- ``errors``: Attio's error bodies as typed errors, and the messages that say what to do.
- ``records``: people and companies as Attio ``values``, asserted or created once.
- ``notes``: the visit note, found by its key before it is created.
- ``limits``: the rate budget of each workspace in this process.
- ``actions``: Segment's assert record, identify user and group workspace.
- ``attributes``: each object's attribute metadata, fetched once and cached.
- ``convert``: simple values as Attio's typed write format, checked before anything is sent.
- ``token``: the bearer token on every request, renewed in flight.
- ``oauth``: the OAuth authorization-code flow (loopback redirect), refresh and revoke.
- ``demo``: an offline demo against the local server.
- ``server``: a local Attio-compatible server for tests, demos and benchmarks.

Nothing here ever sends DELETE to Attio.
"""


def reset_caches() -> None:
    """Forget this process's Attio state: the workspaces' rate budgets, the record ids seen
    created and the domain-less companies seen. For tests (one test's budget or ids must not
    leak into the next)."""
    from .api import reset_created
    from .limits import reset_limits
    from .records import reset_domainless

    reset_limits()
    reset_created()
    reset_domainless()
