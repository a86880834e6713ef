"""Offline demo: push a visitors file to the local Attio-compatible server, twice, and show
what Attio would now hold. Run: python -m crm_push_attio.demo [FILE] (--help for more)

It runs the real `crm-push` command against a server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from crm_push_attio.server import DEFAULT_TOKEN, AttioServer

EXAMPLE = Path("docs/examples/visitors.jsonl")


def _text(record: dict[str, Any], slug: str, key: str = "value") -> str:
    values = record["values"].get(slug) or []
    return ", ".join(str(v.get(key, "")) for v in values)


def _show(srv: AttioServer) -> None:
    companies = {c["id"]["record_id"]: c for c in srv.records("companies")}
    print(f"\nAttio now holds {len(companies)} companies:")
    for c in companies.values():
        print(f"  {_text(c, 'name'):<12} {_text(c, 'domains', 'domain'):<20}")
    people = srv.records("people")
    print(f"{len(people)} people:")
    for p in people:
        links = p["values"].get("company") or []
        company = companies.get(links[0]["target_record_id"]) if links else None
        print(
            f"  {_text(p, 'name', 'full_name'):<18} "
            f"{_text(p, 'email_addresses', 'email_address') or '(no email)':<24} "
            f"{'→ ' + _text(company, 'name') if company else ''}"
        )
    notes = srv.notes()
    print(f"{len(notes)} notes:")
    for n in notes:
        print(f"  {n['title']} (on {n['created_at'][:10]})")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m crm_push_attio.demo",
        description="Push a file of visitors to a local Attio-compatible server, twice (the "
        "second push finds nothing to do), and show what Attio would now hold. It runs the "
        "real crm-push command against a server on 127.0.0.1, with a temporary state "
        "database; nothing leaves the machine.",
    )
    p.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=EXAMPLE,
        metavar="FILE",
        help="a JSON Lines file of visitors (default: %(default)s, in a source checkout)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    path: Path = parser.parse_args(argv).file
    if not path.is_file():
        parser.error(f"no such file: {path} (give a JSON Lines file of visitors)")
    with AttioServer() as srv, tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "ATTIO_BASE_URL": srv.base_url,
            "ATTIO_ACCESS_TOKEN": DEFAULT_TOKEN,
            "CRM_PUSH_DB": f"sqlite:///{Path(tmp) / 'state.db'}",
        }
        print(f"Local Attio-compatible server on {srv.base_url}; state in a temporary database.")
        rejects = Path(tmp) / "rejects.jsonl"
        command = ["crm-push", "--dest", "attio", "push", str(path), "--rejects", str(rejects)]
        for attempt in ("First push", "Second push of the same file (a re-run skips it all)"):
            print(f"\n{attempt}:\n$ {shlex.join(command)}", flush=True)
            # stderr into stdout, so the failure lines show where they happen
            subprocess.run(
                [sys.executable, "-m", "crm_push", *command[1:]],
                env=env,
                check=False,
                stderr=subprocess.STDOUT,
            )
        _show(srv)
        if rejects.stat().st_size:
            print("\nRejected lines, with their reason (fix them and push the file again):")
            print(rejects.read_text().rstrip())
        methods = Counter(r.method for r in srv.requests)
        by_method = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
        print(f"\n{srv.count()} requests reached the server: {by_method}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
