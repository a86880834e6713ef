"""docs/engines.md's job for any engine runs as written (its database aside), and keeps one
loaded destination per process across tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.docs import python_blocks

ROOT = Path(__file__).resolve().parents[2]
ENGINES_MD = ROOT / "docs" / "engines.md"


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
def test_the_job_for_any_engine_runs_and_keeps_its_destination(tmp_path: Path) -> None:
    from crm_push import Credentials, Session
    from pydantic import SecretStr

    blocks = python_blocks(ENGINES_MD.read_text(encoding="utf-8"))
    (job,) = [b for b in blocks if "def push_batch" in b]
    db = f"sqlite:///{tmp_path / 'state.db'}"
    assert 'DB = "postgresql+psycopg://' in job
    namespace: dict[str, object] = {"__name__": "engines_md"}
    exec(compile(job, str(ENGINES_MD), "exec"), namespace)
    namespace["DB"] = db
    credentials = Credentials(access_token=SecretStr("good-token"))
    with Session("filecrm", db_url=db, credentials=credentials) as session:
        workspace = session.save().workspace_id
    lines = (ROOT / "docs" / "examples" / "visitors.jsonl").read_text().splitlines()
    push_batch = namespace["push_batch"]
    first = push_batch("filecrm", workspace, lines)  # type: ignore[operator]
    assert first["total"] == len([line for line in lines if line.strip()])
    assert first["created"] > 0 and first["stopped"] is None
    destination = namespace["destination_for"]("filecrm")  # type: ignore[operator]
    closed: list[bool] = []
    destination.close = lambda: closed.append(True)  # type: ignore[method-assign]
    again = push_batch("filecrm", workspace, lines)  # type: ignore[operator]
    assert namespace["destination_for"]("filecrm") is destination  # type: ignore[operator]
    assert again["created"] == 0 and json.dumps(again)
    assert closed == []  # the task's Session closing left the process's destination open
