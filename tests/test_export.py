"""`sim.export`: the files a real deployment would hold at an instant, judged by independent
tools (openssl, py-spiffe) and read back with our own parsers.

The seed at 2h is federated (the entries carry federatesWith); at 5h25m the entries have been
re-created without it and both workloads redeployed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from sim.bundle import Bundle
from sim.export import ExportError, export
from sim.scenario import EntryCreateEvent, builtin_scenario_path, load_scenario
from sim.simulation import Result, Simulation
from sim.spiffeid import TrustDomain

FEDERATED = 2 * 3600
NOT_FEDERATED = 5 * 3600 + 25 * 60
CLIENT_ID = "spiffe://bar.example.com/client"
SERVER_ID = "spiffe://foo.example.com/http-server"
SPIFFE_HELPER_FILES = {"svid.pem", "svid_key.pem", "svid_bundle.pem"}


def _run(until: float) -> Result:
    return Simulation(load_scenario(builtin_scenario_path("seed")), until=until).run()


@pytest.fixture(scope="module")
def runs() -> dict[int, Result]:
    return {t: _run(t) for t in (FEDERATED, NOT_FEDERATED)}


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict[int, Path]:
    out = {}
    for t, result in runs.items():
        out[t] = tmp_path_factory.mktemp(f"export-{t}") / "out"
        export(result, out[t])
    return out


@pytest.fixture(scope="module")
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("openssl is not on PATH; CI installs it and these checks must run")
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text(encoding="utf-8"))


# -- layout and modes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "federated"),
    [
        (FEDERATED, {"client": "foo.example.com", "http-server": "bar.example.com"}),
        (NOT_FEDERATED, {}),
    ],
    ids=["2h", "5h25m"],
)
def test_files_have_the_expected_names_and_modes(exported, at, federated) -> None:
    root = exported[at]
    expected = {"manifest.json"}
    for td, peer in (
        ("foo.example.com", "bar.example.com"),
        ("bar.example.com", "foo.example.com"),
    ):
        expected |= {
            f"servers/{td}/bundle.json",
            f"servers/{td}/bundle.pem",
            f"servers/{td}/federated/{peer}.json",
        }
    for name in ("client", "http-server"):
        expected |= {f"workloads/{name}/{f}" for f in SPIFFE_HELPER_FILES}
        if name in federated:
            expected.add(f"workloads/{name}/federated_bundle.{federated[name]}.pem")
    assert set(_tree(root)) == expected
    for rel in expected:
        mode = (root / rel).stat().st_mode & 0o777
        assert mode == (0o600 if rel.endswith("svid_key.pem") else 0o644), rel


def test_the_federated_pem_follows_federates_with(exported) -> None:
    # At 2h the client's entry federates with foo; at 5h25m it no longer does.
    assert (exported[FEDERATED] / "workloads/client/federated_bundle.foo.example.com.pem").is_file()
    client = exported[NOT_FEDERATED] / "workloads/client"
    assert sorted(p.name for p in client.iterdir()) == sorted(SPIFFE_HELPER_FILES)


def test_the_federated_pem_is_the_peer_servers_bundle(exported) -> None:
    root = exported[FEDERATED]
    fed = (root / "workloads/client/federated_bundle.foo.example.com.pem").read_bytes()
    assert fed == (root / "servers/foo.example.com/bundle.pem").read_bytes()


def test_manifest_lists_every_file_in_order(runs, exported) -> None:
    root = exported[FEDERATED]
    manifest = _manifest(root)
    assert manifest["instant"] == "2019-12-17T02:00:00Z"
    assert manifest["scenario"] == runs[FEDERATED].scenario.name == "seed-federation"
    assert manifest["seed"] == 1
    paths = [f["path"] for f in manifest["files"]]
    assert paths == sorted(paths)
    assert set(paths) == set(_tree(root)) - {"manifest.json"}
    assert all(f["description"] and "\n" not in f["description"] for f in manifest["files"])
    workloads = {w["name"]: w for w in manifest["workloads"]}
    assert workloads["client"]["spiffe_id"] == CLIENT_ID
    assert workloads["client"]["status"] == "exported"
    assert [s["federated"] for s in manifest["servers"]] == [
        ["foo.example.com"],
        ["bar.example.com"],
    ]


def test_export_returns_the_paths_it_wrote(runs, tmp_path) -> None:
    written = export(runs[FEDERATED], tmp_path / "out")
    rel = [p.relative_to(tmp_path / "out").as_posix() for p in written]
    assert rel[-1] == "manifest.json"
    assert rel[:-1] == [f["path"] for f in _manifest(tmp_path / "out")["files"]]


# -- independent judges --------------------------------------------------------------------------


def _openssl_verify(openssl: str, tmp: Path, svid_pem: Path, ca_file: Path, at: int):
    """`openssl verify -attime <epoch> -CAfile <ca> -untrusted <intermediates> <leaf>` on
    svid.pem split into its leaf and intermediates."""
    certs = x509.load_pem_x509_certificates(svid_pem.read_bytes())
    assert len(certs) >= 2, "the seed's SVIDs carry an intermediate (upstream_bundle = true)"
    blocks = svid_pem.read_bytes().split(b"-----END CERTIFICATE-----\n")[:-1]
    blocks = [b + b"-----END CERTIFICATE-----\n" for b in blocks]
    leaf, intermediates = tmp / "leaf.pem", tmp / "intermediates.pem"
    leaf.write_bytes(blocks[0])
    intermediates.write_bytes(b"".join(blocks[1:]))
    cmd = [openssl, "verify", "-attime", str(at), "-CAfile", str(ca_file)]
    cmd += ["-untrusted", str(intermediates), str(leaf)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("at", [FEDERATED, NOT_FEDERATED], ids=["2h", "5h25m"])
def test_openssl_accepts_the_client_svid_with_its_own_bundle(
    runs, exported, openssl, tmp_path, at
) -> None:
    root = exported[at]
    epoch = int(runs[at].clock.to_datetime(at).timestamp())
    client = root / "workloads/client"
    code, out = _openssl_verify(
        openssl, tmp_path, client / "svid.pem", client / "svid_bundle.pem", epoch
    )
    assert code == 0, out
    assert out.strip().endswith("leaf.pem: OK")
    # ... and rejects it against the peer's bundle: foo's roots did not sign bar's client.
    code, out = _openssl_verify(
        openssl, tmp_path, client / "svid.pem", root / "servers/foo.example.com/bundle.pem", epoch
    )
    assert code != 0
    assert "unable to get local issuer certificate" in out


def test_openssl_accepts_the_server_svid_with_the_clients_federated_bundle(
    runs, exported, openssl, tmp_path
) -> None:
    # What the client's ghostunnel checks at 2h: foo's server SVID against foo's roots as
    # the client received them.
    root = exported[FEDERATED]
    epoch = int(runs[FEDERATED].clock.to_datetime(FEDERATED).timestamp())
    code, out = _openssl_verify(
        openssl,
        tmp_path,
        root / "workloads/http-server/svid.pem",
        root / "workloads/client/federated_bundle.foo.example.com.pem",
        epoch,
    )
    assert code == 0, out


@pytest.mark.parametrize(("name", "spiffe_id"), [("client", CLIENT_ID), ("http-server", SERVER_ID)])
@pytest.mark.parametrize("at", [FEDERATED, NOT_FEDERATED], ids=["2h", "5h25m"])
def test_py_spiffe_accepts_svid_and_key(runs, exported, at, name, spiffe_id) -> None:
    from spiffe import X509Svid

    wl = exported[at] / "workloads" / name
    parsed = X509Svid.parse((wl / "svid.pem").read_bytes(), (wl / "svid_key.pem").read_bytes())
    assert str(parsed.spiffe_id) == spiffe_id
    state = runs[at].workloads[name]
    assert state.agent is not None
    _entry, svid = state.agent.update_for(state.selectors).svids[0]
    assert parsed.leaf == svid.leaf
    assert (wl / "svid_key.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")


# -- server bundles read back --------------------------------------------------------------------


@pytest.mark.parametrize("at", [FEDERATED, NOT_FEDERATED], ids=["2h", "5h25m"])
def test_server_bundle_documents_read_back(runs, exported, at) -> None:
    for name, server in runs[at].servers.items():
        td = TrustDomain.parse(name)
        base = exported[at] / "servers" / name
        text = (base / "bundle.json").read_text(encoding="utf-8")
        assert server.bundle is not None
        assert Bundle.from_jwks(td, text).same_authorities(server.bundle)
        assert Bundle.from_pem(td, (base / "bundle.pem").read_bytes()).x509_authorities == (
            server.bundle.x509_authorities
        )
        assert "spiffe_sequence" not in json.loads(text)  # SPIRE 0.9 has no sequence numbers
        for peer, stored in server.federated.items():
            doc = (base / "federated" / f"{peer.name}.json").read_text(encoding="utf-8")
            assert Bundle.from_jwks(peer, doc).same_authorities(stored)
            assert "spiffe_sequence" not in json.loads(doc)


# -- refusal, absence, determinism ---------------------------------------------------------------


def test_a_non_empty_folder_is_refused_and_nothing_is_written(runs, tmp_path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    for name in ("a", "b", "c"):
        (out / name).write_text(name)
    before = _tree(out)
    with pytest.raises(ExportError) as err:
        export(runs[FEDERATED], out)
    assert str(err.value) == (
        f'export folder "{out}" is not empty (it has 3 entries); choose a new or empty folder'
    )
    assert _tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c"]


def test_a_file_in_place_of_the_folder_is_refused(runs, tmp_path) -> None:
    out = tmp_path / "file"
    out.write_text("")
    with pytest.raises(ExportError, match="is not a folder; choose a new or empty folder$"):
        export(runs[FEDERATED], out)
    assert out.read_text() == ""


def test_an_existing_empty_folder_is_used(runs, tmp_path) -> None:
    export(runs[FEDERATED], tmp_path)
    assert (tmp_path / "manifest.json").is_file()


def test_workloads_without_identity_get_no_files_but_are_listed(tmp_path) -> None:
    # The seed without its workload entries: both pods run next to an agent that has nothing
    # for them, so the Workload API answers PermissionDenied and spiffe-helper writes nothing.
    seed = load_scenario(builtin_scenario_path("seed"))
    bare = dataclasses.replace(
        seed, events=tuple(e for e in seed.events if not isinstance(e, EntryCreateEvent))
    )
    export(Simulation(bare, until=FEDERATED).run(), tmp_path / "out")
    assert not (tmp_path / "out" / "workloads").exists()
    manifest = _manifest(tmp_path / "out")
    assert [(w["name"], w["spiffe_id"], w["status"]) for w in manifest["workloads"]] == [
        ("client", None, "no identity issued"),
        ("http-server", None, "no identity issued"),
    ]


def test_workloads_not_yet_deployed_are_listed(tmp_path) -> None:
    # At 1h17m the client's Deployment (1h20m) does not exist yet; the http-server's does.
    export(_run(3600 + 17 * 60), tmp_path / "out")
    manifest = _manifest(tmp_path / "out")
    statuses = {w["name"]: w["status"] for w in manifest["workloads"]}
    assert statuses == {"client": "no pod at this instant", "http-server": "exported"}
    assert sorted(p.name for p in (tmp_path / "out" / "workloads").iterdir()) == ["http-server"]


def test_exports_are_byte_identical(runs, exported, tmp_path) -> None:
    # The same run exported twice, and a second run of the same scenario and seed.
    again = tmp_path / "again"
    export(runs[FEDERATED], again)
    rerun = tmp_path / "rerun"
    export(_run(FEDERATED), rerun)
    first = _tree(exported[FEDERATED])
    assert _tree(again) == first
    assert _tree(rerun) == first
