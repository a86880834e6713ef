"""The contract suite run in-process against the example plugin and the core tests' FileCRM."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from crm_push import Company, ConnectOptions, Destination, Person
from crm_push.testing import DestinationContract, count_vanished
from crm_push_jsoncrm import JsonCRM

from support.filecrm import FileCRM


def _ids_in(path: Path) -> Callable[[], list[str]]:
    """Every record and note id of a JSON file CRM ({table: {id: record}})."""

    def ids() -> list[str]:
        data = json.loads(path.read_text()) if path.exists() else {}
        return [f"{t}/{rid}" for t, rows in data.items() if isinstance(rows, dict) for rid in rows]

    return ids


class TestJsonCRMContract(DestinationContract):
    @pytest.fixture
    def crm_file(self, tmp_path: Path) -> Path:
        return tmp_path / "crm.json"

    @pytest.fixture
    def destination(self) -> Destination:
        return Destination("jsoncrm", JsonCRM())

    @pytest.fixture
    def connect_options(self, crm_file: Path) -> ConnectOptions:
        return ConnectOptions(interactive=False, extra={"path": str(crm_file)})

    @pytest.fixture
    def rejected_company(self) -> Company:
        return Company(name="x" * 101, domain="too-long.example")

    @pytest.fixture
    def rejected_person(self) -> Person:
        return Person(name="x" * 101)

    @pytest.fixture
    def deletes_sent(self, crm_file: Path) -> Callable[[], int]:
        return count_vanished(_ids_in(crm_file))


class TestFileCRMContract(DestinationContract):
    """FileCRM links inline; the subclass below makes the pusher call associate instead."""

    inline_link = True

    @pytest.fixture
    def destination(self, crm_file: Path) -> Destination:  # crm_file: from tests/conftest.py
        return Destination("filecrm", FileCRM(crm_file, inline_link=self.inline_link))

    @pytest.fixture
    def rejected_company(self) -> Company:
        return Company(name="REJECT ME")

    @pytest.fixture
    def rejected_person(self) -> Person:
        return Person(name="REJECT ME")

    @pytest.fixture
    def deletes_sent(self, crm_file: Path) -> Callable[[], int]:
        return count_vanished(_ids_in(crm_file))


class TestFileCRMWithoutInlineLinkContract(TestFileCRMContract):
    inline_link = False
