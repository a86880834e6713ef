"""JsonCRM passes the crm-push destination contract."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from crm_push import Company, ConnectOptions, Destination, Person, load_destination
from crm_push.testing import DestinationContract, count_vanished


class TestJsonCRM(DestinationContract):
    @pytest.fixture
    def crm_file(self, tmp_path: Path) -> Path:
        return tmp_path / "crm.json"

    @pytest.fixture
    def destination(self) -> Destination:
        return load_destination("jsoncrm")  # through the entry point, as crm-push does

    @pytest.fixture
    def connect_options(self, crm_file: Path) -> ConnectOptions:
        return ConnectOptions(interactive=False, extra={"path": str(crm_file)})

    @pytest.fixture
    def rejected_company(self) -> Company:
        return Company(name="x" * 101, domain="too-long.example")

    @pytest.fixture
    def rejected_person(self) -> Person:
        return Person(name="x" * 101, email="too-long@example.com")

    @pytest.fixture
    def deletes_sent(self, crm_file: Path) -> Callable[[], int]:
        def ids() -> list[str]:
            tables = json.loads(crm_file.read_text()) if crm_file.exists() else {}
            return [f"{table}/{rid}" for table, rows in tables.items() for rid in rows]

        return count_vanished(ids)
