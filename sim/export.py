"""An export is what a real deployment would have on disk at a run's last instant: each
workload's SVID, key and bundles in spiffe-helper's layout, each SPIRE server's bundles as SPIFFE
documents and PEM, and a manifest saying what every file is.

>>> import tempfile
>>> from pathlib import Path
>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=7200).run()
>>> with tempfile.TemporaryDirectory() as tmp:
...     written = export(result, Path(tmp) / "out")
...     for path in written:
...         if path.parent.name == "client":
...             print(path.name, oct(path.stat().st_mode & 0o777))
federated_bundle.foo.example.com.pem 0o644
svid.pem 0o644
svid_bundle.pem 0o644
svid_key.pem 0o600

What spiffe-helper really does (spiffe/spiffe-helper@06cfd7e, v0.11.0-58; pkg/disk/x509.go
WriteX509Context, cmd/spiffe-helper/config/config.go, README.md):

- It writes three files into ``cert_dir``, named by ``svid_file_name``, ``svid_key_file_name``
  and ``svid_bundle_file_name``. Those names have no defaults (config.go refuses a config that
  leaves the set incomplete); ``svid.pem``, ``svid_key.pem`` and ``svid_bundle.pem`` are the
  names of its README and shipped helper.conf, so we use them.
- ``svid.pem``: the default SVID (go-spiffe ``X509Context.DefaultSVID``, the first one the
  Workload API sent), leaf then intermediates, as ``CERTIFICATE`` PEM blocks (unless
  ``add_intermediates_to_bundle`` moves the intermediates into the bundle file; default false).
- ``svid_key.pem``: the key alone, ``x509.MarshalPKCS8PrivateKey`` as a ``PRIVATE KEY`` block
  (the README's "private key and public certificate" is wrong: no certificate goes there).
- ``svid_bundle.pem``: the X.509 authorities of the SVID's own trust domain. With
  ``include_federated_domains = true`` (default false) the authorities of every other bundle
  the Workload API sent are appended to this same file, in trust-domain order (go-spiffe's
  ``x509bundle.Set.Bundles`` sorts); spiffe-helper never writes separate federated files.
- Modes: ``cert_file_mode`` 0644 and ``key_file_mode`` 0600 by default (config.go).

So ``svid.pem``, ``svid_key.pem`` and ``svid_bundle.pem`` here are byte-for-byte what
spiffe-helper writes with its defaults (``include_federated_domains = false``). The
``federated_bundle.<trust domain>.pem`` files are spire-sim's addition, one per federated bundle
the Workload API pushed to the workload; ``cat svid_bundle.pem federated_bundle.*.pem`` (the
shell sorts the glob as go-spiffe sorts trust domains) gives what spiffe-helper writes with
``include_federated_domains = true``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.bundle import Bundle
from sim.server import SpireServer
from sim.simulation import Result, WorkloadState

__all__ = ["ExportError", "export"]

# spiffe-helper's README / helper.conf names (see the module docstring).
SVID_FILE = "svid.pem"
SVID_KEY_FILE = "svid_key.pem"
SVID_BUNDLE_FILE = "svid_bundle.pem"
MANIFEST_FILE = "manifest.json"
# spiffe-helper's defaults (cmd/spiffe-helper/config/config.go defaultCertFileMode/KeyFileMode).
CERT_FILE_MODE = 0o644
KEY_FILE_MODE = 0o600


class ExportError(ValueError):
    """The export cannot be written (a clear one-line reason); nothing was written."""


@dataclass(frozen=True, slots=True)
class _File:
    """One file to write: where (relative to the export folder), what, its mode and a line
    for the manifest."""

    path: str
    data: bytes
    mode: int
    description: str


def export(result: Result, out_dir: str | Path) -> list[Path]:
    """Write the run's on-disk state at ``result.until`` into ``out_dir`` (which must be empty
    or absent) and return the paths written, in the manifest's order, ``manifest.json`` last."""
    out = Path(out_dir)
    _check_folder(out)
    # Everything is computed before the first byte is written, so a failure cannot leave half
    # an export behind.
    files: list[_File] = []
    workloads: list[dict[str, Any]] = []
    for name in sorted(result.workloads):
        entry, wl_files = _workload(result.workloads[name])
        workloads.append(entry)
        files += wl_files
    servers: list[dict[str, Any]] = []
    for td in sorted(result.servers):
        entry, srv_files = _server(result.servers[td])
        servers.append(entry)
        files += srv_files
    files.sort(key=lambda f: f.path)
    manifest = {
        "instant": result.clock.rfc3339(result.until),
        "scenario": result.scenario.name,
        "seed": result.seed,
        "layout": (
            "workloads/<name>/: spiffe-helper's svid_file_name, svid_key_file_name and "
            "svid_bundle_file_name (include_federated_domains = false), plus one "
            "federated_bundle.<trust domain>.pem per federated bundle (spire-sim's addition)"
        ),
        "workloads": workloads,
        "servers": servers,
        "files": [{"path": f.path, "description": f.description} for f in files],
    }
    files.append(
        _File(
            MANIFEST_FILE,
            (json.dumps(manifest, indent=2) + "\n").encode("utf-8"),
            CERT_FILE_MODE,
            "this manifest",
        )
    )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in files:
        path = out / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, f.data, f.mode)
        written.append(path)
    return written


def _check_folder(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f'export folder "{out}" is not a folder; choose a new or empty folder')
    n = sum(1 for _ in out.iterdir())
    if n:
        entries = "entry" if n == 1 else "entries"
        raise ExportError(
            f'export folder "{out}" is not empty (it has {n} {entries}); '
            "choose a new or empty folder"
        )


def _write(path: Path, data: bytes, mode: int) -> None:
    # Created with its final mode so a key is never readable by others, not even between
    # create and chmod; O_EXCL because an export never overwrites anything. fchmod then
    # sets the exact mode whatever the umask took away.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _workload(state: WorkloadState) -> tuple[dict[str, Any], list[_File]]:
    """The workload's manifest entry and spiffe-helper's files for it (none without identity)."""
    entry: dict[str, Any] = {"name": state.name, "spiffe_id": None}
    if state.pod is None:
        entry["status"] = "no pod at this instant"
        return entry, []
    entry["pod"] = f"{state.pod.namespace}/{state.pod.name}"
    if state.agent is None:
        entry["status"] = "no SPIRE agent on the pod's node"
        return entry, []
    update = state.agent.update_for(state.selectors, quiet=True)
    if update.empty:
        # The Workload API answers PermissionDenied (pkg/agent/endpoints/workload/handler.go);
        # spiffe-helper keeps waiting and writes nothing.
        entry["status"] = "no identity issued"
        return entry, []
    # go-spiffe's DefaultSVID: the first SVID of the response.
    _reg, svid = update.svids[0]
    entry["spiffe_id"] = str(svid.spiffe_id)
    if update.bundle is None:
        # WriteX509Context fails before writing anything (pkg/disk/x509.go).
        td = svid.spiffe_id.trust_domain.id_string()
        entry["status"] = f'no bundles found for "{td}" trust domain'
        return entry, []
    entry["status"] = "exported"
    base = f"workloads/{state.name}"
    files = [
        _File(
            f"{base}/{SVID_FILE}",
            svid.chain_pem(),
            CERT_FILE_MODE,
            f"X509-SVID of {svid.spiffe_id}: leaf then {len(svid.certificates) - 1} "
            "intermediate(s)",
        ),
        _File(
            f"{base}/{SVID_KEY_FILE}",
            svid.key_pem(),
            KEY_FILE_MODE,
            f"private key of {svid.spiffe_id} (PKCS#8, unencrypted)",
        ),
        _File(
            f"{base}/{SVID_BUNDLE_FILE}",
            update.bundle.to_pem().encode("ascii"),
            CERT_FILE_MODE,
            f"trust bundle of {update.bundle.trust_domain.name}: "
            f"{_roots(update.bundle)} (spiffe-helper, include_federated_domains = false)",
        ),
    ]
    for fed in update.federated:
        td = fed.trust_domain.name
        files.append(
            _File(
                f"{base}/federated_bundle.{td}.pem",
                fed.to_pem().encode("ascii"),
                CERT_FILE_MODE,
                f"federated trust bundle of {td}: {_roots(fed)} (spire-sim's addition)",
            )
        )
    return entry, files


def _server(server: SpireServer) -> tuple[dict[str, Any], list[_File]]:
    """The server's manifest entry and its bundle files (none before it has started)."""
    td = server.trust_domain.name
    if server.bundle is None:
        return {"trust_domain": td, "status": "not started at this instant"}, []
    base = f"servers/{td}"
    # `bundle show -format spiffe` / `bundle list`: the stored bundle, with a sequence only
    # where the version has one (as sim.inspection does).
    seq = server.config.profile.emits_sequence
    files = [
        _File(
            f"{base}/bundle.json",
            (server.bundle.to_jwks(include_sequence=seq) + "\n").encode("ascii"),
            CERT_FILE_MODE,
            f"own bundle of {td} as a SPIFFE bundle document (bundle show -format spiffe)",
        ),
        _File(
            f"{base}/bundle.pem",
            server.bundle.to_pem().encode("ascii"),
            CERT_FILE_MODE,
            f"own bundle of {td}: {_roots(server.bundle)} (bundle show -format pem)",
        ),
    ]
    peers = sorted(server.federated, key=lambda t: t.name)
    for peer in peers:
        bundle = server.federated[peer]
        files.append(
            _File(
                f"{base}/federated/{peer.name}.json",
                (bundle.to_jwks(include_sequence=seq) + "\n").encode("ascii"),
                CERT_FILE_MODE,
                f"federated bundle of {peer.name} stored by {td} (SPIFFE bundle document)",
            )
        )
    entry = {
        "trust_domain": td,
        "status": "running" if server.running else "stopped",
        "federated": [p.name for p in peers],
    }
    return entry, files


def _roots(bundle: Bundle) -> str:
    n = len(bundle.x509_authorities)
    return f"{n} X.509 authorit{'y' if n == 1 else 'ies'}"
