"""A destination with a misspelt hook implementation: loading it must fail loudly."""

from crm_push import hookimpl


class Misspelt:
    @hookimpl
    def assert_persn(self, person):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")
