"""Testing helpers for destination authors: the contract every destination passes.

    from crm_push.testing import DestinationContract

    class TestMyCRM(DestinationContract):
        @pytest.fixture
        def destination(self):
            return load_destination("mycrm")

See docs/plugin-guide.md ("Testing with the contract suite") for the fixtures to override.
"""

import pytest

# Rewrite the contract's asserts so failures show the values, as in the author's own tests.
# This must run before the module is imported.
pytest.register_assert_rewrite("crm_push.testing.contract")

from crm_push.testing.contract import (  # noqa: E402
    STUB_REASON,
    DestinationContract,
    count_vanished,
    skip_if_stub,
)

__all__ = ["STUB_REASON", "DestinationContract", "count_vanished", "skip_if_stub"]
