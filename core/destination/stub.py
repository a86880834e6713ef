"""A base for stub destinations: listed as `stub`, and every hook fails plainly.

A stub never pretends to work: it exists so the destination's name, entry point and docs are in
place before its client is written.
"""

from __future__ import annotations

from typing import Any, NoReturn

from crm_push.errors import NotImplementedYet
from crm_push.hookspecs import hookimpl


class StubDestination:
    """Subclass with `crm_name` set; register the subclass as the entry point."""

    crm_push_stub = True
    crm_name = "this CRM"

    def _fail(self, hook: str) -> NoReturn:
        raise NotImplementedYet(
            f"the {self.crm_name} destination is a stub: {hook!r} is not implemented yet, "
            "nothing was sent"
        )

    @hookimpl
    def connect(self, **_: Any) -> NoReturn:
        self._fail("connect")

    @hookimpl
    def assert_company(self, **_: Any) -> NoReturn:
        self._fail("assert_company")

    @hookimpl
    def assert_person(self, **_: Any) -> NoReturn:
        self._fail("assert_person")

    @hookimpl
    def associate(self, **_: Any) -> NoReturn:
        self._fail("associate")

    @hookimpl
    def add_note(self, **_: Any) -> NoReturn:
        self._fail("add_note")

    @hookimpl
    def disconnect(self, **_: Any) -> NoReturn:
        self._fail("disconnect")
