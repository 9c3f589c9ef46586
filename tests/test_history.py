"""The state history a run records: authorities, bundle copies, entries, SVIDs and polls agree
with the certificates and bundles the model actually held."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.history import x509_authority_id
from sim.scenario import builtin_scenario_path, load_scenario
from sim.simulation import Result, Simulation

FAILURES = Path(__file__).resolve().parents[1] / "scenarios" / "failures"
R4 = FAILURES / "r4-partition-during-rotation.yaml"


@pytest.fixture(scope="module")
def seed() -> Result:
    return Simulation(load_scenario(builtin_scenario_path("seed"))).run()


@pytest.fixture(scope="module")
def r4() -> Result:
    return Simulation(load_scenario(R4)).run()


def test_final_bundle_copies_match_the_servers(seed: Result) -> None:
    for holder, server in seed.servers.items():
        own = seed.history.bundle_at(holder, holder, seed.until)
        assert own is not None
        assert own.x509_ids == tuple(x509_authority_id(c) for c in server.bundle.x509_authorities)
        for td, bundle in server.federated.items():
            copy = seed.history.bundle_at(holder, td.name, seed.until)
            assert copy is not None
            assert copy.x509_ids == tuple(x509_authority_id(c) for c in bundle.x509_authorities)


def test_seed_bundle_set_then_refresh(seed: Result) -> None:
    changes = seed.history.bundle_changes("foo.example.com", "bar.example.com")
    assert [c.cause for c in changes[:2]] == ["bundle_set", "bundle_client"]
    # 00:29:32 is the blog's "Bundle refreshed" instant.
    assert changes[1].t == 29 * 60 + 32
    fetches = seed.history.fetches_of("foo.example.com", "bar.example.com")
    assert not fetches[0].ok and "local bundle not found" in fetches[0].error
    assert any(f.ok for f in fetches)


def test_seed_entries_lose_federates_with(seed: Result) -> None:
    before = seed.history.entries_at("bar.example.com", 5 * 3600)
    after = seed.history.entries_at("bar.example.com", 6 * 3600)
    client_before = [e for e in before.values() if e.spiffe_id.endswith("/client")]
    client_after = [e for e in after.values() if e.spiffe_id.endswith("/client")]
    assert client_before[0].federates_with == ("foo.example.com",)
    assert client_after[0].federates_with == ()
    assert client_before[0].entry_id != client_after[0].entry_id


def test_delivered_svids_were_issued_by_the_active_authority(seed: Result) -> None:
    assert seed.history.deliveries
    for d in seed.history.deliveries:
        if d.serial is None:
            continue
        issued = seed.history.svid(d.serial)
        assert issued is not None and issued.spiffe_id == d.spiffe_id
        assert issued.not_before <= d.t < issued.not_after
        steps = seed.history.authority_steps(issued.trust_domain, "x509")[issued.authority_id]
        assert steps["activated"] <= issued.t


def test_r4_copy_lacks_the_new_root_during_the_partition(r4: Result) -> None:
    steps = r4.history.authority_steps("bar.example.com", "x509")
    ids = list(steps)
    assert len(ids) >= 2
    first, second = ids[0], ids[1]
    assert "retired" in steps[first] and steps[second]["activated"] == steps[first]["retired"]
    # bar's CA rotation happens inside the 11h..22h partition: foo's copy held then lacks it.
    activated = steps[second]["activated"]
    assert 11 * 3600 < activated < 22 * 3600
    held = r4.history.bundle_at("foo.example.com", "bar.example.com", activated)
    assert held is not None and second not in held.x509_ids and first in held.x509_ids
    later = r4.history.bundle_at("foo.example.com", "bar.example.com", 23 * 3600)
    assert later is not None and second in later.x509_ids
    failed = [f for f in r4.history.fetches_of("foo.example.com", "bar.example.com")
              if 11 * 3600 < f.t < 22 * 3600]  # fmt: skip
    assert failed and not any(f.ok for f in failed)
