"""Tests for sim.registration: selectors, entries, the entry store's refusals (exact SPIRE texts
per version), authorized-entry computation, workload matching and the `entry show` layouts."""

from __future__ import annotations

import random
import re
import uuid
from contextlib import AbstractContextManager
from dataclasses import replace

import pytest

from sim.registration import (
    EntryStore,
    RegistrationEntry,
    RegistrationError,
    Selector,
    entries_for_agent,
    entries_for_workload,
    matches,
    new_entry_id,
    render_entry,
    render_entry_show,
)
from sim.spiffeid import SpiffeID, TrustDomain

FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")
# The entry IDs the seed blog's `entry show` printed.
FOO_HTTP_ID = "cdb445de-e14d-44d0-af7b-b9aecb677331"
FOO_AGENT_ID = "06f327bd-cdc5-464c-b315-fef71dc5726b"
BAR_CLIENT_ID = "0b260337-da76-49b3-98bb-1c169a4e4711"
BAR_AGENT_ID = "ec192d5d-b6b5-4d7a-b368-934e4b7773f7"
# An agent attested by k8s_psat (its ID's shape: spire@HEAD k8s_psat attestor AgentID).
FOO_AGENT = SpiffeID.parse("spiffe://foo.example.com/spire/agent/k8s_psat/spire-federation/n1")
FOO_AGENT_SELECTORS = (
    Selector.parse("k8s_psat:agent_ns:foo"),
    Selector.parse("k8s_psat:cluster:spire-federation"),
)
HTTP_SERVER_SELECTORS = (
    Selector.parse("k8s:ns:foo"),
    Selector.parse("k8s:pod-label:app:http-server"),
)


def sel(*texts: str) -> tuple[Selector, ...]:
    return tuple(Selector.parse(t) for t in texts)


def raises(message: str) -> AbstractContextManager[pytest.ExceptionInfo[RegistrationError]]:
    """RegistrationError whose str() is exactly ``message``."""
    return pytest.raises(RegistrationError, match="^" + re.escape(message) + "$")


def foo_agent_entry(**kw: object) -> RegistrationEntry:
    args = dict(
        entry_id=FOO_AGENT_ID,
        spiffe_id="spiffe://foo.example.com/spire-agent",
        selectors=["k8s_psat:agent_ns:foo"],
        node=True,
        x509_svid_ttl=3600,
    )
    args.update(kw)
    return RegistrationEntry.build(**args)  # type: ignore[arg-type]


def foo_http_entry(**kw: object) -> RegistrationEntry:
    args = dict(
        entry_id=FOO_HTTP_ID,
        spiffe_id="spiffe://foo.example.com/http-server",
        parent_id="spiffe://foo.example.com/spire-agent",
        selectors=["k8s:pod-label:app:http-server"],
        dns_names=["http-server", "http-server.foo.svc.cluster.local"],
        x509_svid_ttl=3600,
    )
    args.update(kw)
    return RegistrationEntry.build(**args)  # type: ignore[arg-type]


def bar_entries() -> list[RegistrationEntry]:
    return [
        RegistrationEntry.build(
            entry_id=BAR_CLIENT_ID,
            spiffe_id="spiffe://bar.example.com/client",
            parent_id="spiffe://bar.example.com/spire-agent",
            selectors=["k8s:pod-label:app:client"],
            x509_svid_ttl=3600,
        ),
        RegistrationEntry.build(
            entry_id=BAR_AGENT_ID,
            spiffe_id="spiffe://bar.example.com/spire-agent",
            selectors=["k8s_psat:agent_ns:bar"],
            node=True,
            x509_svid_ttl=3600,
        ),
    ]


# -- Selector --------------------------------------------------------------------------------

SELECTOR_PARSES = [
    ("k8s:pod-label:app:http-server", "k8s", "pod-label:app:http-server"),
    ("k8s_psat:agent_ns:foo", "k8s_psat", "agent_ns:foo"),
    ("unix:uid:1000", "unix", "uid:1000"),
    ("spiffe_id:spiffe://example.org/foo", "spiffe_id", "spiffe://example.org/foo"),
    ("a:b", "a", "b"),
]


@pytest.mark.parametrize(("text", "kind", "value"), SELECTOR_PARSES)
def test_selector_parse(text: str, kind: str, value: str) -> None:
    s = Selector.parse(text)
    assert (s.type, s.value) == (kind, value)
    assert str(s) == text


SELECTOR_ERRORS = [
    # v0.9.2 cmd/spire-server/cli/entry/util.go parseSelector.
    ("x", 'selector "x" must be formatted as type:value'),
    ("", 'selector "" must be formatted as type:value'),
    ("unix", 'selector "unix" must be formatted as type:value'),
    # HEAD pkg/server/api/selector.go.
    (":uid:1000", "missing selector type"),
    ("unix:", "missing selector value"),
]


@pytest.mark.parametrize(("text", "message"), SELECTOR_ERRORS)
def test_selector_parse_errors(text: str, message: str) -> None:
    with raises(message):
        Selector.parse(text)


def test_selector_type_with_colon_refused() -> None:
    with raises("selector type contains ':'"):
        Selector("unix:user", "root")


def test_selector_order_is_type_then_value() -> None:
    got = sorted(sel("unix:uid:1", "k8s:z", "k8s:a"))
    assert [str(s) for s in got] == ["k8s:a", "k8s:z", "unix:uid:1"]


# -- RegistrationEntry -------------------------------------------------------------------------


def test_entry_normalises_selectors_and_federates_with() -> None:
    e = foo_http_entry(
        selectors=["k8s:pod-label:app:http-server", "k8s:ns:foo", "k8s:ns:foo"],
        federates_with=["spiffe://foo.example.com", "bar.example.com", "spiffe://bar.example.com"],
    )
    assert [str(s) for s in e.selectors] == ["k8s:ns:foo", "k8s:pod-label:app:http-server"]
    assert e.federates_with == (BAR, FOO)
    assert e.dns_names == ("http-server", "http-server.foo.svc.cluster.local")
    assert e.node is False
    assert e.revision_number == 0


def test_node_entry_parent_is_server_id() -> None:
    e = foo_agent_entry()
    assert str(e.parent_id) == "spiffe://foo.example.com/spire/server"
    assert e.node is True
    # An entry parented by the server ID is a node entry however it was made.
    direct = RegistrationEntry(
        entry_id="x",
        spiffe_id=SpiffeID.parse("spiffe://foo.example.com/a"),
        parent_id=SpiffeID.parse("spiffe://foo.example.com/spire/server"),
        selectors=sel("k8s_psat:agent_ns:foo"),
    )
    assert direct.node is True


ENTRY_ERRORS = [
    # HEAD pkg/server/datastore/sqlstore/sqlstore.go validateRegistrationEntry.
    ({"selectors": ()}, "invalid registration entry: missing selector list"),
    ({"entry_id": "a/b"}, "invalid registration entry: entry ID contains invalid characters"),
    ({"entry_id": "x" * 256}, "invalid registration entry: entry ID too long"),
    ({"x509_svid_ttl": -1}, "invalid registration entry: X509SvidTtl is not set"),
    ({"jwt_svid_ttl": -1}, "invalid registration entry: JwtSvidTtl is not set"),
    # Ours.
    ({"entry_id": ""}, "invalid registration entry: missing entry ID"),
]


@pytest.mark.parametrize(("change", "message"), ENTRY_ERRORS)
def test_entry_validation(change: dict, message: str) -> None:
    args = dict(
        entry_id="e1",
        spiffe_id=SpiffeID.parse("spiffe://foo.example.com/w"),
        parent_id=SpiffeID.parse("spiffe://foo.example.com/spire-agent"),
        selectors=sel("k8s:ns:foo"),
    )
    args.update(change)
    with raises(message):
        RegistrationEntry(**args)  # type: ignore[arg-type]


def test_entry_id_of_255_allowed_chars_is_valid() -> None:
    e = foo_http_entry(entry_id="A-z_0.9" + "a" * 248)
    assert len(e.entry_id) == 255


BUILD_ERRORS = [
    # v0.9.2 / HEAD cmd/spire-server/cli/entry/create.go Validate, in its order.
    ({"selectors": []}, "at least one selector is required"),
    (
        {"node": True, "federates_with": ["spiffe://bar.example.com"]},
        "node entries can not federate",
    ),
    ({"parent_id": None}, "a parent ID is required if the node flag is not set"),
    ({"selectors": [], "parent_id": None}, "at least one selector is required"),
]


@pytest.mark.parametrize(("change", "message"), BUILD_ERRORS)
def test_build_cli_errors(change: dict, message: str) -> None:
    with raises(message):
        foo_http_entry(**change)


def test_entry_type_errors() -> None:
    with pytest.raises(TypeError):
        RegistrationEntry(
            entry_id="e",
            spiffe_id="spiffe://foo.example.com/w",  # type: ignore[arg-type]
            parent_id=SpiffeID.parse("spiffe://foo.example.com/a"),
            selectors=sel("a:b"),
        )
    with pytest.raises(TypeError):
        foo_http_entry(x509_svid_ttl=True)


# -- new_entry_id ------------------------------------------------------------------------------

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize("seed", [0, 1, 2, 12345])
def test_new_entry_id_is_uuid4(seed: int) -> None:
    text = new_entry_id(random.Random(seed))
    assert UUID4.match(text), text
    u = uuid.UUID(text)
    assert (u.version, u.variant) == (4, uuid.RFC_4122)
    assert new_entry_id(random.Random(seed)) == text  # same stream, same ID


def test_new_entry_id_values_and_seed_ids_have_the_same_shape() -> None:
    rng = random.Random(7)
    ids = {new_entry_id(rng) for _ in range(200)}
    assert len(ids) == 200
    for seed_id in (FOO_HTTP_ID, FOO_AGENT_ID, BAR_CLIENT_ID, BAR_AGENT_ID):
        assert UUID4.match(seed_id)


# -- EntryStore ------------------------------------------------------------------------------

MISSING_BAR = 'unable to find federated bundle "spiffe://bar.example.com"'

CREATE_FEDERATION_REFUSALS = [
    (
        "0.9",
        "error trying to create entry: rpc error: code = Unknown desc = " + MISSING_BAR,
        "rpc error: code = Internal desc = error trying to create entry: "
        "rpc error: code = Unknown desc = " + MISSING_BAR,
    ),
    (
        "1.x",
        "failed to create entry: " + MISSING_BAR,
        "rpc error: code = Internal desc = failed to create entry: " + MISSING_BAR,
    ),
]


@pytest.mark.parametrize(("version", "message", "grpc"), CREATE_FEDERATION_REFUSALS)
def test_create_refuses_federation_without_bundle(version: str, message: str, grpc: str) -> None:
    store = EntryStore(version=version)
    entry = foo_http_entry(federates_with=["spiffe://bar.example.com"])
    with raises(message) as info:
        store.create(entry, known_bundles={FOO})
    assert info.value.code == "Internal"
    assert info.value.reason == MISSING_BAR
    assert info.value.grpc_error() == grpc
    assert len(store) == 0 and store.revision == 0
    # Once bar's bundle is stored (`bundle set` or the bundle client), the same entry is taken.
    assert store.create(entry, known_bundles={FOO, BAR}) == entry
    assert store.revision == 1


def test_create_accepts_federation_with_own_trust_domain() -> None:
    store = EntryStore()
    entry = foo_http_entry(federates_with=["spiffe://foo.example.com"])
    assert store.create(entry, known_bundles={FOO}).federates_with == (FOO,)


def test_create_reports_first_missing_bundle_in_name_order() -> None:
    store = EntryStore()
    entry = foo_http_entry(federates_with=["zed.example.com", "bar.example.com"])
    with raises("failed to create entry: " + MISSING_BAR):
        store.create(entry, known_bundles=set())


DUPLICATES = [("0.9", "entry already exists"), ("1.x", "similar entry already exists")]


@pytest.mark.parametrize(("version", "message"), DUPLICATES)
def test_create_refuses_duplicates(version: str, message: str) -> None:
    store = EntryStore(version=version)
    store.create(foo_http_entry(), known_bundles={FOO})
    # Same SPIFFE ID, parent and selectors: refused whatever else differs, and before the
    # federation check (the duplicate test runs first in both versions).
    twin = foo_http_entry(
        entry_id="other", dns_names=[], x509_svid_ttl=60, federates_with=["bar.example.com"]
    )
    with raises(message) as info:
        store.create(twin, known_bundles={FOO})
    assert info.value.code == "AlreadyExists"
    assert info.value.grpc_error() == f"rpc error: code = AlreadyExists desc = {message}"
    # A different selector set, parent or SPIFFE ID is a different entry.
    for variant in (
        foo_http_entry(entry_id="s", selectors=["k8s:pod-label:app:http-server", "k8s:ns:foo"]),
        foo_http_entry(entry_id="p", parent_id="spiffe://foo.example.com/other-agent"),
        foo_http_entry(entry_id="i", spiffe_id="spiffe://foo.example.com/http-server2"),
    ):
        store.create(variant, known_bundles={FOO})
    assert len(store) == 4 and store.revision == 4


def test_create_refuses_reused_entry_id() -> None:
    store = EntryStore()
    store.create(foo_http_entry(), known_bundles={FOO})
    with raises(f'entry ID "{FOO_HTTP_ID}" already exists'):
        store.create(foo_agent_entry(entry_id=FOO_HTTP_ID), known_bundles={FOO})


def test_create_resets_revision_number() -> None:
    store = EntryStore()
    stored = store.create(replace(foo_http_entry(), revision_number=9), known_bundles={FOO})
    assert stored.revision_number == 0


NOT_FOUND = [
    # (version, op, message, code)
    (
        "0.9",
        "update",
        "failed to update registration entry: "
        "rpc error: code = NotFound desc = datastore-sql: record not found",
        "Internal",
    ),
    ("1.x", "update", "failed to update entry", "NotFound"),
    (
        "0.9",
        "delete",
        "rpc error: code = NotFound desc = datastore-sql: record not found",
        "Internal",
    ),
    ("1.x", "delete", "entry not found", "NotFound"),
    ("0.9", "get", "no such registration entry", "NotFound"),
    ("1.x", "get", "entry not found", "NotFound"),
]


@pytest.mark.parametrize(("version", "op", "message", "code"), NOT_FOUND)
def test_not_found(version: str, op: str, message: str, code: str) -> None:
    store = EntryStore(version=version)
    with raises(message) as info:
        if op == "update":
            store.update(foo_http_entry(), known_bundles={FOO})
        elif op == "delete":
            store.delete(FOO_HTTP_ID)
        else:
            store.get(FOO_HTTP_ID)
    assert info.value.code == code
    assert store.revision == 0


UPDATE_FEDERATION_REFUSALS = [
    ("0.9", "failed to update registration entry: rpc error: code = Unknown desc = " + MISSING_BAR),
    ("1.x", "failed to update entry: " + MISSING_BAR),
]


@pytest.mark.parametrize(("version", "message"), UPDATE_FEDERATION_REFUSALS)
def test_update(version: str, message: str) -> None:
    store = EntryStore(version=version)
    store.create(foo_http_entry(), known_bundles={FOO})
    federated = foo_http_entry(federates_with=["spiffe://bar.example.com"])
    with raises(message) as info:
        store.update(federated, known_bundles={FOO})
    assert (info.value.code, info.value.reason) == ("Internal", MISSING_BAR)
    assert store.get(FOO_HTTP_ID).federates_with == ()
    assert store.revision == 1
    first = store.update(federated, known_bundles={FOO, BAR})
    second = store.update(foo_http_entry(), known_bundles={FOO})
    assert (first.revision_number, second.revision_number) == (1, 2)
    assert store.get(FOO_HTTP_ID) == second
    assert store.revision == 3


def test_delete_and_get() -> None:
    store = EntryStore(version="0.9")
    http = store.create(foo_http_entry(), known_bundles={FOO})
    store.create(foo_agent_entry(), known_bundles={FOO})
    assert FOO_HTTP_ID in store
    assert store.get(FOO_HTTP_ID) == http
    assert store.delete(FOO_HTTP_ID) == http
    assert FOO_HTTP_ID not in store
    assert [e.entry_id for e in store.list()] == [FOO_AGENT_ID]
    assert store.revision == 3


def entry_at(entry_id: str, spiffe_id: str, parent_id: str, *selectors: str, ttl: int = 0):
    return RegistrationEntry(
        entry_id=entry_id,
        spiffe_id=SpiffeID.parse(spiffe_id),
        parent_id=SpiffeID.parse(parent_id),
        selectors=sel(*selectors),
        x509_svid_ttl=ttl,
    )


LIST_ORDER = [
    # v0.9.2 compares the ID strings: "." (0x2e) sorts before "/" (0x2f).
    ("0.9", ["td-long", "td-short", "sel-1", "sel-2", "ttl-0", "ttl-9", "tie-a", "tie-b"]),
    # HEAD compares trust domain names first: "a.b" before "a.b.c".
    ("1.x", ["td-short", "td-long", "sel-1", "sel-2", "ttl-0", "ttl-9", "tie-a", "tie-b"]),
]


@pytest.mark.parametrize(("version", "expected"), LIST_ORDER)
def test_list_order_is_entry_show_order(version: str, expected: list[str]) -> None:
    store = EntryStore(version=version)
    entries = [
        entry_at("tie-b", "spiffe://x.org/w", "spiffe://x.org/q", "a:1", ttl=10),
        entry_at("tie-a", "spiffe://x.org/w", "spiffe://x.org/p", "a:1", ttl=10),
        entry_at("ttl-9", "spiffe://x.org/t", "spiffe://x.org/p", "a:1", ttl=9),
        entry_at("ttl-0", "spiffe://x.org/t", "spiffe://x.org/p", "a:2"),
        entry_at("sel-2", "spiffe://x.org/s", "spiffe://x.org/p", "a:0", "b:0"),
        entry_at("sel-1", "spiffe://x.org/s", "spiffe://x.org/p", "z:9"),
        entry_at("td-short", "spiffe://a.b/x", "spiffe://a.b/p", "a:1"),
        entry_at("td-long", "spiffe://a.b.c/x", "spiffe://a.b.c/p", "a:1"),
    ]
    for e in entries:
        store.create(e, known_bundles=set())
    assert [e.entry_id for e in store.list()] == expected


def test_unknown_version() -> None:
    with pytest.raises(ValueError, match='unknown SPIRE version "2.0"'):
        EntryStore(version="2.0")
    with pytest.raises(ValueError, match='unknown SPIRE version "0"'):
        render_entry_show([], version="0")


# -- matching ----------------------------------------------------------------------------------

MATCHES = [
    (("k8s:pod-label:app:http-server",), HTTP_SERVER_SELECTORS, True),
    (("k8s:ns:foo", "k8s:pod-label:app:http-server"), HTTP_SERVER_SELECTORS, True),
    (("k8s:ns:foo", "k8s:sa:default"), HTTP_SERVER_SELECTORS, False),
    (("k8s:pod-label:app:client",), HTTP_SERVER_SELECTORS, False),
    (("k8s:ns:foo",), (), False),
    ((), HTTP_SERVER_SELECTORS, False),  # SPIRE never reaches an entry with no selectors
]


@pytest.mark.parametrize(("entry_sels", "workload_sels", "expected"), MATCHES)
def test_matches(entry_sels: tuple[str, ...], workload_sels: tuple, expected: bool) -> None:
    assert matches(sel(*entry_sels), workload_sels) is expected


def seed_store(version: str) -> EntryStore:
    store = EntryStore(version=version)
    store.create(foo_agent_entry(), known_bundles={FOO})
    store.create(
        foo_http_entry(federates_with=["spiffe://bar.example.com"]), known_bundles={FOO, BAR}
    )
    return store


AGENT_ENTRIES = [
    ("1.x", FOO_AGENT_SELECTORS, [FOO_HTTP_ID]),
    # v0.9.2 regentryutil maps the node entry itself to the agent, so it is returned too.
    ("0.9", FOO_AGENT_SELECTORS, [FOO_HTTP_ID, FOO_AGENT_ID]),
    ("1.x", sel("k8s_psat:agent_ns:bar"), []),
    ("0.9", sel("k8s_psat:agent_ns:bar"), []),
    ("1.x", (), []),
]


@pytest.mark.parametrize(("version", "agent_sels", "expected"), AGENT_ENTRIES)
def test_entries_for_agent_seed(version: str, agent_sels: tuple, expected: list[str]) -> None:
    got = entries_for_agent(seed_store(version), FOO_AGENT, agent_sels)
    assert [e.entry_id for e in got] == expected


def test_node_entry_needs_all_its_selectors() -> None:
    store = EntryStore()
    store.create(
        foo_agent_entry(selectors=["k8s_psat:agent_ns:foo", "k8s_psat:agent_sa:spire-agent"]),
        known_bundles={FOO},
    )
    store.create(foo_http_entry(), known_bundles={FOO})
    assert entries_for_agent(store, FOO_AGENT, FOO_AGENT_SELECTORS) == []
    with_sa = (*FOO_AGENT_SELECTORS, Selector.parse("k8s_psat:agent_sa:spire-agent"))
    assert [e.entry_id for e in entries_for_agent(store, FOO_AGENT, with_sa)] == [FOO_HTTP_ID]


@pytest.mark.parametrize("version", ["0.9", "1.x"])
def test_entries_for_agent_descends_and_filters(version: str) -> None:
    store = seed_store(version)
    agent = str(FOO_AGENT)
    extra = [
        # Parented directly by the agent's own ID.
        entry_at("direct", "spiffe://foo.example.com/direct", agent, "unix:uid:0"),
        # Parented by a workload entry's SPIFFE ID (nested SPIRE, downstream): descended.
        entry_at(
            "nested",
            "spiffe://foo.example.com/nested",
            "spiffe://foo.example.com/http-server",
            "unix:uid:1",
        ),
        entry_at(
            "deeper",
            "spiffe://foo.example.com/deeper",
            "spiffe://foo.example.com/nested",
            "unix:uid:2",
        ),
        # A cycle reached from the agent terminates.
        entry_at(
            "cyc-a",
            "spiffe://foo.example.com/cyc-b",
            "spiffe://foo.example.com/direct",
            "unix:uid:3",
        ),
        entry_at(
            "cyc-b",
            "spiffe://foo.example.com/direct",
            "spiffe://foo.example.com/cyc-b",
            "unix:uid:4",
        ),
        # Another agent's entries and another trust domain's entries are not ours.
        entry_at(
            "other",
            "spiffe://foo.example.com/o",
            "spiffe://foo.example.com/other-agent",
            "unix:uid:5",
        ),
        entry_at("foreign", "spiffe://bar.example.com/w", agent, "unix:uid:6"),
    ]
    for e in extra:
        store.create(e, known_bundles=set())
    got = {e.entry_id for e in entries_for_agent(store, FOO_AGENT, FOO_AGENT_SELECTORS)}
    expected = {FOO_HTTP_ID, "direct", "nested", "deeper", "cyc-a", "cyc-b"}
    if version == "0.9":
        expected.add(FOO_AGENT_ID)
    assert got == expected


MAPPED = [("0.9", ["mapped"]), ("1.x", [])]


@pytest.mark.parametrize(("version", "expected"), MAPPED)
def test_legacy_maps_any_entry_matching_node_selectors(version: str, expected: list) -> None:
    # v0.9.2 mappedEntries lists every entry whose selectors the node's cover, whatever its
    # parent; HEAD only takes node (alias) entries from selectors.
    store = EntryStore(version=version)
    store.create(
        entry_at(
            "mapped",
            "spiffe://foo.example.com/m",
            "spiffe://foo.example.com/elsewhere",
            "k8s_psat:agent_ns:foo",
        ),
        known_bundles=set(),
    )
    got = entries_for_agent(store, FOO_AGENT, FOO_AGENT_SELECTORS)
    assert [e.entry_id for e in got] == expected


DEDUP = [("0.9", ["a-first"]), ("1.x", ["a-first", "b-second"])]


@pytest.mark.parametrize(("version", "expected"), DEDUP)
def test_legacy_dedups_equal_entries(version: str, expected: list) -> None:
    # Update does not check for duplicates, so two equal entries can exist; v0.9.2
    # DedupRegistrationEntries returns one of them.
    store = EntryStore(version=version)
    agent = str(FOO_AGENT)
    store.create(entry_at("a-first", "spiffe://foo.example.com/w", agent, "u:1"), known_bundles=())
    store.create(entry_at("b-second", "spiffe://foo.example.com/v", agent, "u:1"), known_bundles=())
    store.update(entry_at("b-second", "spiffe://foo.example.com/w", agent, "u:1"), known_bundles=())
    got = entries_for_agent(store, FOO_AGENT, ())
    assert [e.entry_id for e in got] == expected


def test_entries_for_workload() -> None:
    agent_entries = [
        entry_at("c", "spiffe://foo.example.com/w3", "spiffe://foo.example.com/a", "k8s:ns:foo"),
        entry_at(
            "a",
            "spiffe://foo.example.com/w1",
            "spiffe://foo.example.com/a",
            "k8s:pod-label:app:http-server",
        ),
        entry_at(
            "b",
            "spiffe://foo.example.com/w2",
            "spiffe://foo.example.com/a",
            "k8s:pod-label:app:client",
        ),
        entry_at(
            "d",
            "spiffe://foo.example.com/w4",
            "spiffe://foo.example.com/a",
            "k8s:ns:foo",
            "k8s:sa:db",
        ),
    ]
    got = entries_for_workload(agent_entries, HTTP_SERVER_SELECTORS)
    assert [e.entry_id for e in got] == ["a", "c"]  # ascending entry ID (sortIdentities)
    assert entries_for_workload(agent_entries, ()) == []


# -- entry show ------------------------------------------------------------------------------

# The seed's re-created entries (no federatesWith), as v0.9.2 printEntry prints them.
SEED_FOO_SHOW_09 = """\
Found 2 entries
Entry ID      : cdb445de-e14d-44d0-af7b-b9aecb677331
SPIFFE ID     : spiffe://foo.example.com/http-server
Parent ID     : spiffe://foo.example.com/spire-agent
TTL           : 3600
Selector      : k8s:pod-label:app:http-server
DNS name      : http-server
DNS name      : http-server.foo.svc.cluster.local

Entry ID      : 06f327bd-cdc5-464c-b315-fef71dc5726b
SPIFFE ID     : spiffe://foo.example.com/spire-agent
Parent ID     : spiffe://foo.example.com/spire/server
TTL           : 3600
Selector      : k8s_psat:agent_ns:foo

"""

SEED_BAR_SHOW_09 = """\
Found 2 entries
Entry ID      : 0b260337-da76-49b3-98bb-1c169a4e4711
SPIFFE ID     : spiffe://bar.example.com/client
Parent ID     : spiffe://bar.example.com/spire-agent
TTL           : 3600
Selector      : k8s:pod-label:app:client

Entry ID      : ec192d5d-b6b5-4d7a-b368-934e4b7773f7
SPIFFE ID     : spiffe://bar.example.com/spire-agent
Parent ID     : spiffe://bar.example.com/spire/server
TTL           : 3600
Selector      : k8s_psat:agent_ns:bar

"""

# The blog's copy of the same output (seed-blog-spire-federation-ja.txt lines 322-346): its
# formatting collapsed runs of spaces and dropped the blank lines.
BLOG_FOO = """\
Found 2 entries
Entry ID : cdb445de-e14d-44d0-af7b-b9aecb677331
SPIFFE ID : spiffe://foo.example.com/http-server
Parent ID : spiffe://foo.example.com/spire-agent
TTL : 3600
Selector : k8s:pod-label:app:http-server
DNS name : http-server
DNS name : http-server.foo.svc.cluster.local
Entry ID : 06f327bd-cdc5-464c-b315-fef71dc5726b
SPIFFE ID : spiffe://foo.example.com/spire-agent
Parent ID : spiffe://foo.example.com/spire/server
TTL : 3600
Selector : k8s_psat:agent_ns:foo"""

BLOG_BAR = """\
Found 2 entries
Entry ID : 0b260337-da76-49b3-98bb-1c169a4e4711
SPIFFE ID : spiffe://bar.example.com/client
Parent ID : spiffe://bar.example.com/spire-agent
TTL : 3600
Selector : k8s:pod-label:app:client
Entry ID : ec192d5d-b6b5-4d7a-b368-934e4b7773f7
SPIFFE ID : spiffe://bar.example.com/spire-agent
Parent ID : spiffe://bar.example.com/spire/server
TTL : 3600
Selector : k8s_psat:agent_ns:bar"""


def collapse(text: str) -> str:
    return "\n".join(re.sub(r" +", " ", line) for line in text.splitlines() if line)


SEED_SHOWS = [
    # Created in the blog's order (node entry first); `entry show` sorts by SPIFFE ID.
    ([foo_agent_entry(), foo_http_entry()], SEED_FOO_SHOW_09, BLOG_FOO),
    (bar_entries(), SEED_BAR_SHOW_09, BLOG_BAR),
]


@pytest.mark.parametrize(("entries", "expected", "blog"), SEED_SHOWS)
def test_entry_show_09_seed(entries: list, expected: str, blog: str) -> None:
    store = EntryStore(version="0.9")
    for e in entries:
        store.create(e, known_bundles=set())
    assert render_entry_show(store.list(), version="0.9") == expected
    assert render_entry_show(reversed(entries), version="0.9") == expected
    assert collapse(expected) == blog


def test_entry_show_09_federated_and_flags() -> None:
    e = foo_http_entry(
        federates_with=["spiffe://bar.example.com"], x509_svid_ttl=0, admin=True, downstream=True
    )
    assert render_entry_show([e], version="0.9") == (
        "Found 1 entry\n"
        "Entry ID      : cdb445de-e14d-44d0-af7b-b9aecb677331\n"
        "SPIFFE ID     : spiffe://foo.example.com/http-server\n"
        "Parent ID     : spiffe://foo.example.com/spire-agent\n"
        "Downstream    : true\n"
        "TTL           : default\n"
        "Selector      : k8s:pod-label:app:http-server\n"
        "FederatesWith : spiffe://bar.example.com\n"
        "DNS name      : http-server\n"
        "DNS name      : http-server.foo.svc.cluster.local\n"
        "Admin         : true\n"
        "\n"
    )


def test_entry_show_1x_seed_federated() -> None:
    store = EntryStore()
    store.create(foo_agent_entry(x509_svid_ttl=0), known_bundles={FOO})
    http = store.create(
        foo_http_entry(federates_with=["spiffe://bar.example.com"], x509_svid_ttl=0),
        known_bundles={FOO, BAR},
    )
    store.update(http, known_bundles={FOO, BAR})
    assert render_entry_show(store.list(), version="1.x") == (
        "Found 2 entries\n"
        "Entry ID                : cdb445de-e14d-44d0-af7b-b9aecb677331\n"
        "SPIFFE ID               : spiffe://foo.example.com/http-server\n"
        "Parent ID               : spiffe://foo.example.com/spire-agent\n"
        "Revision                : 1\n"
        "X509-SVID TTL           : default\n"
        "JWT-SVID TTL            : default\n"
        "Selector                : k8s:pod-label:app:http-server\n"
        "FederatesWith           : bar.example.com\n"
        "DNS name                : http-server\n"
        "DNS name                : http-server.foo.svc.cluster.local\n"
        "\n"
        "Entry ID                : 06f327bd-cdc5-464c-b315-fef71dc5726b\n"
        "SPIFFE ID               : spiffe://foo.example.com/spire-agent\n"
        "Parent ID               : spiffe://foo.example.com/spire/server\n"
        "Revision                : 0\n"
        "X509-SVID TTL           : default\n"
        "JWT-SVID TTL            : default\n"
        "Selector                : k8s_psat:agent_ns:foo\n"
        "\n"
    )


def test_entry_show_1x_ttls_and_flags() -> None:
    e = foo_http_entry(
        x509_svid_ttl=3600, jwt_svid_ttl=300, admin=True, downstream=True, dns_names=[]
    )
    assert render_entry(e, version="1.x") == (
        "Entry ID                : cdb445de-e14d-44d0-af7b-b9aecb677331\n"
        "SPIFFE ID               : spiffe://foo.example.com/http-server\n"
        "Parent ID               : spiffe://foo.example.com/spire-agent\n"
        "Revision                : 0\n"
        "Downstream              : true\n"
        "X509-SVID TTL           : 3600\n"
        "JWT-SVID TTL            : 300\n"
        "Selector                : k8s:pod-label:app:http-server\n"
        "Admin                   : true\n"
        "\n"
    )


COUNTS = [(0, "Found 0 entries\n"), (1, "Found 1 entry\n"), (2, "Found 2 entries\n")]


@pytest.mark.parametrize(("n", "first_line"), COUNTS)
@pytest.mark.parametrize("version", ["0.9", "1.x"])
def test_entry_show_count_line(n: int, first_line: str, version: str) -> None:
    entries = [foo_agent_entry(), foo_http_entry()][:n]
    out = render_entry_show(entries, version=version)
    assert out.splitlines(keepends=True)[0] == first_line
    assert out.count("\n\n") == n
