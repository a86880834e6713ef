"""The contract suite run in-process against the example plugin and the core tests' FileCRM."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from crm_push import Company, Destination, Person
from crm_push.testing import DestinationContract, count_vanished
from crm_push_jsoncrm import JsonCRM

from contract.helpers import EXAMPLE
from support.filecrm import BatchFileCRM, FileCRM


def _ids_in(path: Path) -> Callable[[], list[str]]:
    """Every record and note id of a JSON file CRM ({table: {id: record}})."""

    def ids() -> list[str]:
        data = json.loads(path.read_text()) if path.exists() else {}
        return [f"{t}/{rid}" for t, rows in data.items() if isinstance(rows, dict) for rid in rows]

    return ids


def _example_tests() -> type:
    """The example plugin's own contract class, from its tests folder (not a package)."""
    path = EXAMPLE / "tests" / "test_contract.py"
    spec = importlib.util.spec_from_file_location("jsoncrm_example_tests", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TestJsonCRM  # type: ignore[no-any-return]


class TestJsonCRMContract(_example_tests()):  # type: ignore[misc]
    """The example's own contract tests, with the plugin imported from its folder: it is not
    installed here (test_example_install.py runs them through the entry point)."""

    @pytest.fixture
    def destination(self) -> Destination:
        return Destination("jsoncrm", JsonCRM())


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


class TestBatchFileCRMContract(TestFileCRMContract):
    """FileCRM with the batch hooks: the batch part of the contract runs too."""

    @pytest.fixture
    def destination(self, crm_file: Path) -> Destination:
        return Destination("batchfilecrm", BatchFileCRM(crm_file, inline_link=self.inline_link))


class TestBatchFileCRMWithoutInlineLinkContract(TestBatchFileCRMContract):
    inline_link = False
