"""The HubSpot batch hooks against the local HubSpot server (search lag on): what HubSpot
holds afterwards, what a second call writes, and which inputs a refusal fails."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from crm_push.destination.discovery import load_destination
from crm_push.destination.facade import Destination
from crm_push.errors import CrmPushError, InvalidInput
from crm_push.models import (
    Company,
    CompanyInput,
    Connection,
    LinkInput,
    Note,
    NoteInput,
    Person,
    PersonInput,
    RecordRef,
)
from crm_push.models.crm import ConnectOptions, Credentials
from pydantic import SecretStr

from crm_push_hubspot import server
from crm_push_hubspot.properties import DOMAIN_PROPERTY, UNIQUE_DOMAIN

NO_SCHEMAS = tuple(s for s in server.DEFAULT_SCOPES if s != "crm.schemas.companies.write")


@pytest.fixture
def srv() -> Iterator[server.HubSpotServer]:
    tokens = {
        server.DEFAULT_TOKEN: server.TokenInfo(),
        "pat-no-schemas": server.TokenInfo(scopes=NO_SCHEMAS),
    }
    with server.HubSpotServer(search_lag=2.0, tokens=tokens) as running:
        yield running


@pytest.fixture
def dest() -> Iterator[Destination]:
    destination = load_destination("hubspot")
    yield destination
    destination.plugin.close()  # type: ignore[attr-defined]


def connect(
    dest: Destination, srv: server.HubSpotServer, token: str = server.DEFAULT_TOKEN
) -> Connection:
    return dest.connect(
        Credentials(access_token=SecretStr(token)),
        ConnectOptions(interactive=False, base_url=srv.base_url),
    )


def writes(srv: server.HubSpotServer) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in srv.requests
        if r.method != "GET" and "/search" not in r.path
    ]


def ref(answer: RecordRef | CrmPushError) -> RecordRef:
    assert isinstance(answer, RecordRef), answer
    return answer


def test_batch_size_is_hubspots(dest: Destination, srv: server.HubSpotServer) -> None:
    assert dest.batch_capable and dest.batch_size(connect(dest, srv)) == 100


def test_companies_one_per_domain_created_with_the_unique_property(
    dest: Destination, srv: server.HubSpotServer
) -> None:
    connection = connect(dest, srv)
    assert connection.can(UNIQUE_DOMAIN) and not connection.warnings
    inputs = [
        CompanyInput(key="a", company=Company(domain="https://www.Acme.com/pricing", name="Acme")),
        CompanyInput(key="b", company=Company(domain="acme.com")),
        CompanyInput(key="c", company=Company(domain="globex.io", name="Globex")),
        CompanyInput(key="d", company=Company(name="No Domain Ltd")),
    ]
    srv.clear_requests()
    answers = dest.assert_companies(connection, inputs)
    acme, also_acme, globex, keyless = (ref(answers[k]) for k in "abcd")
    assert acme.record_id == also_acme.record_id and acme.outcome == "created"
    companies = {c.get("domain") or c["name"]: c for c in srv.objects("companies")}
    assert set(companies) == {"acme.com", "globex.io", "No Domain Ltd"}
    assert companies["acme.com"]["name"] == "Acme"
    assert companies["acme.com"][DOMAIN_PROPERTY] == "acme.com"
    assert companies["globex.io"]["id"] == globex.record_id
    assert companies["No Domain Ltd"]["id"] == keyless.record_id
    # Searched once for both domains, created together with the keyless one.
    paths = [r.path.rsplit("/", 2)[-2:] for r in srv.requests if r.method == "POST"]
    assert paths == [["companies", "search"], ["batch", "create"]]

    # Again, with the marker of the keyless one: the domains are not written again.
    srv.clear_requests()
    again = dest.assert_companies(
        connection, [*inputs[:3], inputs[3].model_copy(update={"existing": keyless})]
    )
    assert [ref(again[k]).outcome for k in "abc"] == ["unchanged"] * 3
    assert ref(again["d"]).record_id == keyless.record_id
    assert writes(srv) == ["POST /crm/objects/2026-03/companies/batch/update"]
    assert len(srv.objects("companies")) == 3


def test_a_company_made_in_hubspot_is_adopted_not_duplicated(dest: Destination) -> None:
    with server.HubSpotServer(search_lag=0.0) as srv:
        srv.store.insert("companies", {"domain": "initech.example", "name": "Initech (CRM)"})
        connection = connect(dest, srv)
        answers = dest.assert_companies(
            connection, [CompanyInput(key="i", company=Company(domain="initech.example"))]
        )
        (company,) = srv.objects("companies")
        assert ref(answers["i"]).record_id == company["id"]
        assert ref(answers["i"]).outcome == "updated"
        assert company[DOMAIN_PROPERTY] == "initech.example"
        assert company["name"] == "Initech (CRM)"  # a value crm-push does not have is kept


def test_without_schema_scope_companies_fall_back_to_search_and_create(
    dest: Destination, srv: server.HubSpotServer
) -> None:
    connection = connect(dest, srv, "pat-no-schemas")
    assert not connection.can(UNIQUE_DOMAIN)
    assert any(DOMAIN_PROPERTY in w for w in connection.warnings)
    srv.clear_requests()
    answers = dest.assert_companies(
        connection, [CompanyInput(key="a", company=Company(domain="acme.com", name="Acme"))]
    )
    assert ref(answers["a"]).outcome == "created"
    assert writes(srv) == ["POST /crm/objects/2026-03/companies/batch/create"]
    assert DOMAIN_PROPERTY not in srv.objects("companies")[0]


@pytest.mark.parametrize("token", [server.DEFAULT_TOKEN, "pat-no-schemas"])
def test_eight_workers_with_search_lag_create_each_domain_once(
    dest: Destination, srv: server.HubSpotServer, token: str
) -> None:
    connection = connect(dest, srv, token)
    domains = [f"shared{i}.example" for i in range(12)]
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        inputs = [
            CompanyInput(key=f"{n}-{d}", company=Company(domain=d, name=f"Co {d} by {n % 2}"))
            for d in domains[n % 3 :]
        ]
        barrier.wait()
        results.append(dest.assert_companies(connection, inputs))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8  # a worker that raised would leave its answers out
    held = [c["domain"] for c in srv.objects("companies")]
    assert sorted(held) == sorted(domains)  # each once, despite the search lag
    ids = {c["domain"]: c["id"] for c in srv.objects("companies")}
    for answers in results:
        for key, answer in answers.items():
            assert ref(answer).record_id == ids[key.split("-", 1)[1]]


def test_people_upserted_by_lowercased_email_and_keyless_ones_linked_inline(
    dest: Destination, srv: server.HubSpotServer
) -> None:
    connection = connect(dest, srv)
    company = ref(
        dest.assert_companies(
            connection, [CompanyInput(key="c", company=Company(domain="acme.com"))]
        )["c"]
    )
    people = [
        PersonInput(
            key="jane",
            person=Person(
                email="Jane.Doe@ACME.com",
                name="Jane Doe",
                job_title="CTO",
                linkedin_url="https://www.linkedin.com/in/janedoe",
            ),
            company=company,
        ),
        PersonInput(key="cher", person=Person(name="Cher"), company=company),
    ]
    answers = dest.assert_people(connection, people)
    jane, cher = ref(answers["jane"]), ref(answers["cher"])
    assert jane.outcome == "created" and jane.linked == ()  # an upsert cannot link
    assert cher.outcome == "created" and cher.linked == (company.record_id,)
    contacts = {c["id"]: c for c in srv.objects("contacts")}
    assert contacts[jane.record_id]["email"] == "jane.doe@acme.com"
    assert (contacts[jane.record_id]["firstname"], contacts[jane.record_id]["lastname"]) == (
        "Jane",
        "Doe",
    )
    assert contacts[jane.record_id]["jobtitle"] == "CTO"
    assert contacts[jane.record_id]["hs_linkedin_url"] == "https://www.linkedin.com/in/janedoe"
    assert contacts[cher.record_id]["firstname"] == "Cher"
    assert "lastname" not in contacts[cher.record_id]
    assert srv.associated("contacts", cher.record_id, "companies") == [company.record_id]

    # Again: the email one updated in place, the keyless one through its marker.
    again = dest.assert_people(
        connection, [people[0], people[1].model_copy(update={"existing": cher})]
    )
    assert ref(again["jane"]).outcome == "updated"
    assert ref(again["jane"]).record_id == jane.record_id
    assert ref(again["cher"]).record_id == cher.record_id
    assert len(srv.objects("contacts")) == 2


def test_a_refused_contact_fails_alone_naming_its_field(
    dest: Destination, srv: server.HubSpotServer
) -> None:
    connection = connect(dest, srv)
    people = [
        PersonInput(key=f"p{i}", person=Person(email=f"p{i}@acme.com", name=f"P {i}"))
        for i in range(5)
    ]
    people[2] = PersonInput(key="p2", person=Person(email="p2@acme.com", job_title="x" * 70_000))
    answers = dest.assert_people(connection, people)
    refused = answers["p2"]
    assert isinstance(refused, InvalidInput) and refused.field == "person.job_title"
    assert all(isinstance(answers[f"p{i}"], RecordRef) for i in (0, 1, 3, 4))
    assert sorted(c["email"] for c in srv.objects("contacts")) == [
        f"p{i}@acme.com" for i in (0, 1, 3, 4)
    ]


def test_associations_and_notes(dest: Destination, srv: server.HubSpotServer) -> None:
    connection = connect(dest, srv)
    company = ref(
        dest.assert_companies(
            connection, [CompanyInput(key="c", company=Company(domain="acme.com"))]
        )["c"]
    )
    person = ref(
        dest.assert_people(connection, [PersonInput(key="p", person=Person(email="a@acme.com"))])[
            "p"
        ]
    )
    missing = RecordRef(object="companies", record_id="999999")
    links = dest.associate_people(
        connection,
        [
            LinkInput(key="ok", person=person, company=company),
            LinkInput(key="bad", person=person, company=missing),
        ],
    )
    assert ref(links["ok"]).linked == (company.record_id,)
    assert isinstance(links["bad"], CrmPushError)
    assert srv.associated("contacts", person.record_id, "companies") == [company.record_id]

    visited = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    # The pusher's notes carry their key in the content, as here.
    note = Note(
        key="visit-42",
        title="Visit",
        content="/pricing\ncrm-push visit key: visit-42",
        created_at=visited,
    )
    made = dest.add_notes(connection, [NoteInput(key="n", parent=person, note=note)])
    created = made["n"]
    assert not isinstance(created, CrmPushError) and created.status == "created"
    (held,) = srv.objects("notes")
    assert held["hs_timestamp"] == "2026-11-26T12:00:00.000Z"
    assert "visit-42" in str(held["hs_note_body"])
    assert srv.associated("contacts", person.record_id, "notes") == [held["id"]]
    # After a crash the note may exist: it is found, not made again.
    again = dest.add_notes(
        connection,
        [NoteInput(key="n", parent=person, note=note.model_copy(update={"may_exist": True}))],
    )
    found = again["n"]
    assert not isinstance(found, CrmPushError)
    assert (found.status, found.note_id) == ("existing", held["id"])
    assert len(srv.objects("notes")) == 1
    assert all(r.method != "DELETE" for r in srv.requests)


def test_two_processes_pushing_new_domains_at_once_make_each_company_once(
    srv: server.HubSpotServer,
) -> None:
    # Two destinations share nothing in memory, as two processes would; the search lags
    # (2 s), so neither sees the other's companies: the unique property keeps them single.
    domains = [f"race{i}.example" for i in range(20)]
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []

    def process(n: int) -> None:
        dest = load_destination("hubspot")
        try:
            connection = connect(dest, srv)
            inputs = [
                CompanyInput(key=d, company=Company(domain=d, name=f"by {n}")) for d in domains
            ]
            barrier.wait()
            answers.append(dest.assert_companies(connection, inputs))
        finally:
            dest.plugin.close()  # type: ignore[attr-defined]

    threads = [threading.Thread(target=process, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = sorted(c["domain"] for c in srv.objects("companies"))
    assert held == sorted(domains)
    first, second = answers
    assert {k: ref(v).record_id for k, v in first.items()} == {
        k: ref(v).record_id for k, v in second.items()
    }
