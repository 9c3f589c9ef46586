"""`spire-sim inspect`: what the real CLIs would print at an instant of a scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _inspect(capsys, *args: str) -> str:
    assert main(["inspect", *args]) == 0
    return capsys.readouterr().out


def test_bundle_list_is_the_seeds(capsys) -> None:
    out = _inspect(capsys, "seed", "--at", "30m", "bundle", "list", "--td", "foo.example.com")
    head, doc = out.split("****************************************\n{", 1)
    assert head == "****************************************\n* spiffe://bar.example.com\n"
    document = json.loads("{" + doc)
    assert [k["use"] for k in document["keys"]] == ["x509-svid", "jwt-svid"]
    assert document["spiffe_refresh_hint"] == 15768000
    assert "spiffe_sequence" not in document  # SPIRE 0.9
    # x5c holds bar's cfssl-like root, the same one bar's server serves.
    own = _inspect(capsys, "seed", "--at", "30m", "bundle", "show", "--td", "bar.example.com")
    assert document["keys"][0]["x5c"][0] in own.replace("\n", "")


def test_bundle_list_before_the_bootstrap_is_empty(capsys) -> None:
    assert (
        _inspect(capsys, "seed", "--at", "10m", "bundle", "list", "--td", "foo.example.com") == ""
    )


def test_entry_show_before_and_after_the_re_registration(capsys) -> None:
    before = _inspect(capsys, "seed", "--at", "2h", "entry", "show", "--td", "foo.example.com")
    after = _inspect(capsys, "seed", "--at", "5h25m", "entry", "show", "--td", "foo.example.com")
    for out in (before, after):
        assert out.startswith("Found 2 entries\n")
        assert "SPIFFE ID     : spiffe://foo.example.com/http-server" in out
        assert "TTL           : 3600" in out
    assert "FederatesWith : spiffe://bar.example.com" in before
    assert "FederatesWith" not in after


def test_x509_svid_shows_the_federated_bundle_only_while_federated(capsys) -> None:
    before = _inspect(capsys, "seed", "--at", "2h", "x509", "svid", "client")
    after = _inspect(capsys, "seed", "--at", "5h25m", "x509", "svid", "client")
    for out in (before, after):
        assert out.startswith(
            "Received 1 svid after 0s\n\nSPIFFE ID:\t\tspiffe://bar.example.com/client\n"
        )
        assert "Intermediate #1 Valid After:\t" in out
        assert "issuer SERIALNUMBER=" in out  # the SVID's issuer is bar's SPIRE CA
    assert "[spiffe://foo.example.com] CA #1 Valid After:" in before
    assert "[spiffe://foo.example.com]" not in after


def test_federation_status(capsys) -> None:
    out = _inspect(capsys, "seed", "--at", "1h", "federation", "status").splitlines()
    assert out[0].split() == [
        "SERVER",
        "PEER",
        "PROFILE",
        "LAST",
        "REFRESH",
        "SEQUENCE",
        "HELD",
        "NEXT",
        "REFRESH",
        "LAST",
        "ERROR",
    ]
    row = out[1].split()
    assert row[:4] == ["foo.example.com", "bar.example.com", "https_spiffe", "2019-12-17T00:29:32Z"]
    assert row[5] == "2020-01-31T15:29:32Z" and row[6] == "-"
    early = _inspect(capsys, "seed", "--at", "10m", "federation", "status").splitlines()
    assert early[1].endswith("local bundle not found")


def test_1x_bundle_show_has_a_sequence(capsys) -> None:
    out = _inspect(
        capsys,
        str(ROOT / "scenarios" / "https-web.yaml"),
        "--at",
        "10m",
        "bundle",
        "show",
        "--td",
        "foo.example.com",
        "--format",
        "spiffe",
    )
    doc = json.loads(out)
    assert doc["spiffe_sequence"] == 2 and "spiffe_refresh_hint" not in doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["seed", "--at", "1h", "entry", "show", "--td", "baz.example.com"],
            'spire-sim: no trust domain "baz.example.com" in this scenario (it has: '
            "bar.example.com, foo.example.com)",
        ),
        (
            ["seed", "--at", "1h", "x509", "svid", "nope"],
            'spire-sim: no workload "nope" in this scenario (it has: client, http-server)',
        ),
        (
            ["seed", "--at", "10m", "x509", "svid", "client"],
            'spire-sim: workload "client" has no pod or no SPIRE agent at this instant',
        ),
        (
            ["seed", "--at", "6h", "federation", "status"],
            "spire-sim: --at 6h is outside the scenario (0 .. 5h30m0s)",
        ),
        (
            ["seed", "--at", "0s", "bundle", "show", "--td", "foo.example.com"],
            'spire-sim: the SPIRE server of "foo.example.com" has not started at this instant',
        ),
    ],
)
def test_errors_exit_2_with_a_reason(capsys, args, message) -> None:
    assert main(["inspect", *args]) == 2
    assert capsys.readouterr().err.strip() == message
