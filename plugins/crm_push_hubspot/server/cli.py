"""CLI: serve a local HubSpot-compatible API until Ctrl-C (`python -m crm_push_hubspot.server`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crm_localserver import listen_parser, serve_until_stopped

from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo
from .server import HubSpotServer

MODULE_PROG = "python -m crm_push_hubspot.server"


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = listen_parser(
        prog,
        "Serve a local HubSpot-compatible CRM API (in memory) for tests and demos. "
        "Everything is lost when it stops.",
        port=8766,
    )
    p.add_argument(
        "--token",
        default=DEFAULT_TOKEN,
        help="the accepted private-app token (default: %(default)s)",
    )
    p.add_argument(
        "--scopes",
        default=" ".join(DEFAULT_SCOPES),
        help="the token's scopes, space or comma separated (default: %(default)s)",
    )
    p.add_argument(
        "--portal-id",
        type=int,
        default=12345678,
        help="the portal (account) id /account-info reports (default: %(default)s)",
    )
    p.add_argument(
        "--api-version",
        default="2026-03",
        help="the dated API version served beside v3/v4 (default: %(default)s)",
    )
    p.add_argument(
        "--search-lag",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds before a write shows in search results (default: %(default)s)",
    )
    p.add_argument(
        "--ten-secondly-limit",
        type=int,
        default=100,
        metavar="REQUESTS",
        help="requests per rolling 10 s before 429s; 0: no limit (default: %(default)s)",
    )
    p.add_argument(
        "--search-rate",
        type=int,
        default=5,
        metavar="PER_SECOND",
        help="searches a second before 429s; 0: no limit (default: %(default)s)",
    )
    p.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="register an OAuth client; repeatable (default: none)",
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = _parser(prog).parse_args(argv)
    scopes = tuple(s for s in args.scopes.replace(",", " ").split() if s)
    clients = {}
    for pair in args.oauth_client:
        client_id, sep, secret = pair.partition(":")
        if not sep:
            print(f"--oauth-client expects ID:SECRET, got {pair!r}", file=sys.stderr)
            return 2
        clients[client_id] = secret
    srv = HubSpotServer(
        tokens={args.token: TokenInfo(scopes=scopes)},
        portal_id=args.portal_id,
        api_version=args.api_version,
        search_lag=args.search_lag,
        ten_secondly_limit=args.ten_secondly_limit or None,
        search_per_second=args.search_rate or None,
        oauth_clients=clients,
        host=args.host,
        port=args.port,
    )
    try:
        srv.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    url = srv.base_url
    # A local development token: printing it is the point.
    return serve_until_stopped(
        srv,
        [
            f"HubSpot-compatible server on {url} — "
            f"export HUBSPOT_BASE_URL={url} HUBSPOT_ACCESS_TOKEN={args.token}",
            "In-memory portal; everything is lost on exit. Press Ctrl-C to stop.",
        ],
    )
