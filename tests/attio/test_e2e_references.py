"""Record references by a matching attribute need not be unique (Attio's 2026 linking guide):
the value must match exactly one record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from attio_helpers import connect_local
from crm_push.destination.facade import Destination
from crm_push.errors import InvalidInput

from crm_push_attio import server


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer(activated_objects=("people", "companies", "deals")) as running:
        running.add_attribute("companies", "erp_code", "text")  # not unique
        yield running


def test_a_reference_by_a_non_unique_attribute_links_the_one_match(
    dest: Destination, srv: Any
) -> None:
    conn = connect_local(dest, srv)
    acme = dest.assert_record(
        conn, "companies", "domains", {"domains": "acme.com", "erp_code": "A1"}
    )
    dest.assert_record(conn, "companies", "domains", {"domains": "globex.com", "erp_code": "G1"})
    ref = {"target_object": "companies", "erp_code": [{"value": "A1"}]}
    values = {"external_id": "d-1", "name": "Rockets", "stage": "Lead", "associated_company": ref}
    deal = dest.assert_record(conn, "deals", "external_id", values)
    [record] = [r for r in srv.records("deals") if r["id"]["record_id"] == deal.record_id]
    linked = [v["target_record_id"] for v in record["values"]["associated_company"]]
    assert linked == [acme.record_id]


def test_a_reference_matching_several_records_is_refused(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    dest.assert_record(conn, "companies", "domains", {"domains": "acme.com", "erp_code": "X"})
    dest.assert_record(conn, "companies", "domains", {"domains": "globex.com", "erp_code": "X"})
    ref = {"target_object": "companies", "erp_code": [{"value": "X"}]}
    with pytest.raises(InvalidInput, match="exactly one"):
        dest.assert_record(
            conn,
            "deals",
            "external_id",
            {"external_id": "d-2", "name": "R", "associated_company": ref},
        )
    assert srv.records("deals") == []
