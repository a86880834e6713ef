"""crm-push destination for Attio (REST API v2), registered as entry point ``attio``.

Modules:

- ``plugin``: ``AttioDestination``, the six crm-push hooks.
- ``api``: ``AttioClient``, a thin typed wrapper of the Attio endpoints on top of
  ``crm_push.http.HttpClient``.
- ``errors``: ``error_for``, Attio's error bodies as typed errors, and the messages.
- ``records``: visitor people and companies as Attio ``values`` dicts.
- ``attributes``: the attribute metadata of each object, fetched once and cached.
- ``convert``: simple values as Attio's typed write format, checked against the attribute
  metadata before anything is sent.
- ``token``: the bearer token on every request, renewed in flight.
- ``actions``: ``AttioActions``, Segment's assert record, identify user and group workspace.
- ``oauth``: the OAuth authorization-code flow (loopback redirect), refresh and revoke.
- ``server``: a local Attio-compatible server for tests, demos and benchmarks.

Nothing here ever sends DELETE to Attio.
"""
