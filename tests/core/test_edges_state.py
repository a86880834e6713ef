"""The state database at its edges: a bad `--db`, a read-only file, a new or in-memory one.

Read-only is reproduced for real: as root (the test containers) permission bits do not stop a
write, so the commands run in a subprocess whose uid is dropped to `nobody` (`os.setuid` in
`preexec_fn`); as any other user the directory and file are simply made read-only. SQLite's own
`mode=ro` URI is used where an in-process check suffices.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push.cli import cli
from crm_push.errors import ConfigurationError
from crm_push.models.crm import Connection, Credentials
from crm_push.state import database as db
from crm_push.state.connections import ConnectionStore
from crm_push.state.markers import MarkerStore
from pydantic import SecretStr

NOBODY = 65534
CLOSED_PORT_PG = "postgresql+psycopg://postgres@127.0.0.1:1/crm_push"


def forget_engine(url: str) -> None:
    """Drop this process's engine of `url`, so the next use opens the database again."""
    engine = db._engines.pop(url, None)
    getattr(db, "_read_only", {}).pop(url, None)
    if engine is not None:
        engine.dispose()


# -- 6. a --db that cannot be used: one line, exit 2 -------------------------------------------


@pytest.fixture
def not_a_database(tmp_path: Path) -> str:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a SQLite database, it is a shopping list\n" * 100)
    return f"sqlite:///{path}"


BAD_URLS = {
    "nonsense": ("nonsense", "is not a database URL"),
    "no-driver": ("mysql://u:hunter22@db.example/crm", "is not installed"),
    "unknown-type": ("foo://x", "unknown database type"),
    "unreachable": (CLOSED_PORT_PG, "cannot connect to the state database"),
}


@pytest.mark.parametrize("case", [*BAD_URLS, "not-a-database"])
@pytest.mark.parametrize("how", ["--db", "env"])
def test_unusable_db_is_one_line_and_exit_2(
    case: str, how: str, not_a_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, says = BAD_URLS.get(case, (not_a_database, "cannot be opened as SQLite"))
    args = ["--dest", "hubspot", "markers", "list"]
    if how == "--db":
        args = ["--db", url, *args]
    else:
        monkeypatch.setenv(db.DB_ENV, url)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and says in lines[0]
    assert "--db or CRM_PUSH_DB" in lines[0] and " — " in lines[0]  # the setting, then the fix
    assert "hunter22" not in result.output and "Traceback" not in result.output
    assert result.stdout == ""


def test_engine_for_raises_configuration_error_with_next_step(not_a_database: str) -> None:
    for url in [u for u, _ in BAD_URLS.values()] + [not_a_database]:
        with pytest.raises(ConfigurationError) as caught:
            db.engine_for(url)
        assert caught.value.next_step and "\n" not in str(caught.value)
        assert url not in db._engines  # a failed open is not cached: fixing it works


def test_missing_driver_suggests_the_installable_one() -> None:
    with pytest.raises(ConfigurationError) as caught:
        db.engine_for("mysql://u@h/crm")
    assert "'MySQLdb'" in caught.value.message and "pymysql" in caught.value.next_step


def test_cannot_create_the_file_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="cannot create the state database"):
        db.engine_for(f"sqlite:///{blocker / 'state.db'}")  # its "directory" is a file


def test_a_directory_is_not_a_state_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        db.engine_for(f"sqlite:///{tmp_path}")


# -- 7. a read-only state database ------------------------------------------------------------


def test_new_file_is_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.db"
    db.engine_for(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_file_mode_is_never_changed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    MarkerStore("hubspot", "ws", url).record("v1", "person", payload="h", record_id="p1")
    forget_engine(url)
    path.chmod(0o640)  # the operator's choice, e.g. readable by a group of auditors
    assert MarkerStore("hubspot", "ws", url).get("v1", "person") is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="crm-push-ro-"))
    path.chmod(0o755)
    yield path
    for p in (path, *path.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path)


Result = tuple[int, str, str]  # exit code, stdout, stderr


def _unreadable_path_entries_are_missing() -> None:
    """Here the interpreter lives under /root, which nobody cannot enter; stevedore stats every
    sys.path entry to key its cache and would fail on those. A real user can read their own
    interpreter: count such entries as missing, as stevedore does for absent ones."""
    import stevedore._cache

    original = stevedore._cache._get_mtime

    def _get_mtime(name: str) -> float:
        try:
            return original(name)
        except PermissionError:
            return -1.0

    stevedore._cache._get_mtime = _get_mtime


def read_only_runner(directory: Path) -> Callable[..., Result]:
    """Run `crm-push ARGS` where `directory` and its files are really read-only to it.

    As root, in a forked child whose uid and gid are dropped to nobody (exec-ing a new
    interpreter as nobody fails here: it lives under /root); otherwise with the directory and
    its files made read-only. The child opens the database itself: no engine of the parent's.
    """
    for p in directory.iterdir():
        p.chmod(0o644)  # readable by others, as a shared or inspected database would be
    as_root = os.geteuid() == 0
    if not as_root:
        for p in directory.iterdir():
            p.chmod(0o444)
        directory.chmod(0o555)

    def warm_up(*args: str) -> None:
        """Run the command once on a copy of the directory: as nobody the child cannot read the
        interpreter's library, so whatever the command imports must be imported before the
        fork, whichever tests ran before this one. Not `status`, whose check of the CRM would
        retry for seconds with no network; the host name it looks up needs the idna codec."""
        if "status" in args:
            codecs.lookup("idna")
            return
        with tempfile.TemporaryDirectory() as copy:
            shutil.copytree(directory, copy, dirs_exist_ok=True)
            db._engines.clear()
            CliRunner().invoke(cli, [a.replace(str(directory), copy) for a in args])
            db._engines.clear()

    def run(*args: str) -> Result:
        warm_up(*args)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                os.close(read_end)
                if as_root:
                    _unreadable_path_entries_are_missing()
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                db._engines.clear()
                getattr(db, "_read_only", {}).clear()
                result = CliRunner().invoke(cli, list(args))
                stderr = result.stderr
                if result.exception and not isinstance(result.exception, SystemExit):
                    tb = traceback.format_exception(result.exception)
                    stderr += "".join(tb)  # says "Traceback"
                with os.fdopen(write_end, "w") as out:
                    json.dump([result.exit_code, result.stdout, stderr], out)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end) as answer:
            data = answer.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0 and data, "the read-only child failed"
        exit_code, stdout, stderr = json.loads(data)
        return exit_code, stdout, stderr

    return run


def stored_connection() -> Connection:
    return Connection(
        destination="hubspot",
        workspace_id="ws_ro",
        workspace_name="Read-only Inc",
        credentials=Credentials(access_token=SecretStr("tok-123456")),
    )


@pytest.mark.parametrize("journal", ["checkpointed", "wal-left"])
def test_reading_commands_work_on_a_read_only_database(shared_dir: Path, journal: str) -> None:
    path = shared_dir / "state.db"
    url = f"sqlite:///{path}"
    markers = MarkerStore("hubspot", "ws_ro", url)
    markers.record("v1", "person", payload="h", record_id="p1")
    ConnectionStore(url).save(stored_connection())
    if journal == "checkpointed":
        forget_engine(url)  # the last connection closes: SQLite folds the WAL into the file
        assert not path.with_name("state.db-wal").exists()
    else:
        assert path.with_name("state.db-wal").exists()  # as a killed or running writer leaves
    before = path.read_bytes()
    run = read_only_runner(shared_dir)
    base = ["--dest", "hubspot", "--db", url]

    code, out, err = run(*base, "markers", "list")
    assert code == 0, err
    assert "workspace ws_ro" in out and "v1" in out
    code, out, err = run(*base, "markers", "show", "v1")
    assert code == 0, err
    assert json.loads(out)[0]["record_id"] == "p1"
    code, out, err = run(*base, "status")  # the stub cannot check it: exit 1, after the stored part
    assert "Stored connection" in out and "ws_ro" in out, err
    assert "Traceback" not in err
    code, out, err = run("--db", url, "plugins")
    assert code == 0 and json.loads(out), err

    code, out, err = run(*base, "markers", "remove", "v1")
    assert code == 2, err
    assert "is read-only" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert stat.S_IMODE(path.stat().st_mode) in (0o644, 0o444)  # never chmod-ed
    if journal == "checkpointed":
        assert path.read_bytes() == before


def test_read_only_uri_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    MarkerStore("hubspot", "ws", url).record("v1", "person", payload="h", record_id="p1")
    forget_engine(url)
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"
    store = MarkerStore("hubspot", "ws", ro)
    assert db.is_read_only(ro) and not db.is_read_only(url)
    assert store.get("v1", "person") is not None
    with pytest.raises(ConfigurationError, match="is read-only"):
        store.remove(["v1"])
    assert store.get("v1", "person") is not None


# -- 24. a new state database is announced; an in-memory one can be refused -------------------


def test_a_new_state_database_is_announced_once(tmp_path: Path) -> None:
    path = tmp_path / "fressh.db"
    args = [sys.executable, "-m", "crm_push", "--dest", "hubspot", "--db", f"sqlite:///{path}"]
    first = subprocess.run([*args, "markers", "list"], capture_output=True, text=True, check=True)
    lines = first.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "new, empty state database" in lines[0]
    assert "--db or CRM_PUSH_DB" in lines[0]
    again = subprocess.run([*args, "markers", "list"], capture_output=True, text=True, check=True)
    assert again.stderr == ""


def test_new_database_is_logged_for_host_apps_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with caplog.at_level(logging.WARNING, logger="crm_push.state.database"):
        db.engine_for(url)
        forget_engine(url)
        db.engine_for(url)
    assert [r.getMessage().count("new, empty state database") for r in caplog.records] == [1]


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true"]
)
def test_check_for_push_refuses_an_in_memory_database(url: str) -> None:
    assert db.is_in_memory(url)
    with pytest.raises(ConfigurationError, match="in memory") as caught:
        db.check_for_push(url)
    assert "--db or CRM_PUSH_DB" in str(caught.value)


def test_check_for_push_refuses_a_read_only_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db.engine_for(f"sqlite:///{path}")
    with pytest.raises(ConfigurationError, match="read-only"):
        db.check_for_push(f"sqlite:///file:{path}?mode=ro&uri=true")


def test_check_for_push_accepts_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db.check_for_push(f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv(db.DB_ENV, f"sqlite:///{tmp_path / 'env.db'}")
    db.check_for_push(None)  # CRM_PUSH_DB, as the CLI passes it
    assert not db.is_in_memory(None)


def test_an_in_memory_database_is_one_for_every_thread() -> None:
    import threading

    url = "sqlite:///:memory:"
    forget_engine(url)
    MarkerStore("hubspot", "ws", url).record("v1", "person", payload="h", record_id="p1")
    seen: list[object] = []
    worker = threading.Thread(
        target=lambda: seen.append(MarkerStore("hubspot", "ws", url).get("v1", "person"))
    )
    worker.start()
    worker.join()
    assert seen and seen[0] is not None  # the pusher's workers see the same markers
    forget_engine(url)


@pytest.mark.usefixtures("with_test_plugins")
@pytest.mark.parametrize("kind", ["memory", "read-only"])
def test_push_refuses_a_state_database_that_cannot_keep_markers(
    kind: str, tmp_path: Path, crm_file: Path
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text('{"id": "v1", "person": {"name": "No Email"}}\n')
    url = "sqlite://"
    if kind == "read-only":
        path = tmp_path / "state.db"
        db.engine_for(f"sqlite:///{path}")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    result = CliRunner().invoke(cli, ["--dest", "filecrm", "--db", url, "push", str(visitors)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "--db or CRM_PUSH_DB" in result.stderr
    assert not crm_file.exists()  # nothing was written to the CRM
    dry = CliRunner().invoke(
        cli, ["--dest", "filecrm", "--db", url, "push", "--dry-run", str(visitors)]
    )
    assert dry.exit_code == 0, dry.output  # a dry run writes no marker


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
def test_connect_to_a_read_only_database_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db.engine_for(f"sqlite:///{path}")
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    result = CliRunner().invoke(cli, ["--dest", "filecrm", "--db", url, "connect"])
    assert result.exit_code == 2, result.output  # commands' own `except CrmPushError` too
    assert result.stderr.count("\n") == 1 and "is read-only" in result.stderr
