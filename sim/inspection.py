"""What the real command-line tools would print about a run's state at its last instant:
`spire-server bundle show|list`, `spire-server entry show`, `spire-agent api fetch x509`, and a
federation status table (spire-sim's own: SPIRE has no single command for it).

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=1800).run()
>>> for line in bundle_list(result, "foo.example.com").splitlines()[:3]:
...     print(line)
****************************************
* spiffe://bar.example.com
****************************************
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from sim.bundle import Bundle
from sim.registration import render_entry_show
from sim.server import SpireServer
from sim.simulation import Result
from sim.spiffeid import TrustDomain

__all__ = [
    "InspectError",
    "bundle_list",
    "bundle_show",
    "entry_show",
    "federation_status",
    "x509_svid",
]

# cmd/spire-server/cli/bundle headerFmt (v0.9.2 list.go, HEAD common.go).
_HEADER = (
    "****************************************\n* {}\n****************************************\n"
)


class InspectError(ValueError):
    """The thing asked about does not exist in the run (a clear one-line reason)."""


def _server(result: Result, trust_domain: str) -> SpireServer:
    try:
        name = TrustDomain.parse(trust_domain).name
    except ValueError as exc:
        raise InspectError(f'invalid trust domain "{trust_domain}": {exc}') from None
    server = result.servers.get(name)
    if server is None:
        known = ", ".join(sorted(result.servers))
        raise InspectError(f'no trust domain "{name}" in this scenario (it has: {known})')
    if server.bundle is None:
        raise InspectError(f'the SPIRE server of "{name}" has not started at this instant')
    return server


def _document(server: SpireServer, bundle: Bundle) -> str:
    # The CLI marshals the stored bundle (bundleutil.Marshal): its stored hint, and a sequence
    # only where the version has them.
    return bundle.to_jwks(include_sequence=server.config.profile.emits_sequence)


def bundle_show(result: Result, trust_domain: str, *, fmt: str = "pem") -> str:
    """`spire-server bundle show [-format pem|spiffe]`: the server's own bundle."""
    server = _server(result, trust_domain)
    assert server.bundle is not None
    if fmt == "pem":
        return server.bundle.to_pem()
    return _document(server, server.bundle) + "\n"


def bundle_list(result: Result, trust_domain: str, *, fmt: str | None = None) -> str:
    """`spire-server bundle list` (0.9: `experimental bundle list`): the federated bundles the
    server stores, each under a header. The default format is the seed's (SPIFFE documents) for
    0.9 and PEM, as `bundle list` defaults, for 1.x."""
    server = _server(result, trust_domain)
    fmt = fmt or ("spiffe" if server.config.legacy else "pem")
    parts = []
    for td in sorted(server.federated, key=lambda t: t.name):
        bundle = server.federated[td]
        body = bundle.to_pem() if fmt == "pem" else _document(server, bundle) + "\n"
        parts.append(_HEADER.format(td.id_string()) + body)
    return "\n".join(parts)


def entry_show(result: Result, trust_domain: str) -> str:
    """`spire-server entry show`, in the layout of the scenario's SPIRE version."""
    server = _server(result, trust_domain)
    return render_entry_show(server.entries.list(), version=server.config.spire_version)


def _go_time(t: datetime) -> str:
    # Go's time.Time String() for a UTC instant of whole seconds.
    return t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def x509_svid(result: Result, workload: str) -> str:
    """`spire-agent api fetch x509` from inside the workload's pod, then a chain summary
    (serial, subject and issuer of every certificate: spire-sim's addition)."""
    state = result.workloads.get(workload)
    if state is None:
        known = ", ".join(sorted(result.workloads))
        raise InspectError(f'no workload "{workload}" in this scenario (it has: {known})')
    if state.pod is None or state.agent is None:
        raise InspectError(f'workload "{workload}" has no pod or no SPIRE agent at this instant')
    if not state.agent.running:  # (stopped or crashed: its Workload API socket is gone)
        raise InspectError(
            f'the SPIRE agent of workload "{workload}" is not running at this instant'
        )
    update = state.agent.update_for(state.selectors, quiet=True)
    if update.empty:
        # The Workload API answers PermissionDenied (pkg/agent/endpoints/workload/handler.go).
        return "rpc error: code = PermissionDenied desc = no identity issued\n"
    n = len(update.svids)
    lines = [f"Received {n} svid{'' if n == 1 else 's'} after 0s", ""]
    roots = update.bundle.x509_authorities if update.bundle is not None else ()
    for _entry, svid in update.svids:
        # cmd/spire-agent/cli/api/printer.go printX509SVID / printX509FederatedBundle
        lines.append(f"SPIFFE ID:\t\t{svid.spiffe_id}")
        lines.append(f"SVID Valid After:\t{_go_time(svid.not_before)}")
        lines.append(f"SVID Valid Until:\t{_go_time(svid.not_after)}")
        for i, cert in enumerate(svid.certificates[1:], start=1):
            lines.append(f"Intermediate #{i} Valid After:\t{_go_time(cert.not_valid_before_utc)}")
            lines.append(f"Intermediate #{i} Valid Until:\t{_go_time(cert.not_valid_after_utc)}")
        for i, cert in enumerate(roots, start=1):
            lines.append(f"CA #{i} Valid After:\t{_go_time(cert.not_valid_before_utc)}")
            lines.append(f"CA #{i} Valid Until:\t{_go_time(cert.not_valid_after_utc)}")
        for fed in update.federated:
            for i, cert in enumerate(fed.x509_authorities, start=1):
                td = fed.trust_domain.id_string()
                lines.append(f"[{td}] CA #{i} Valid After:\t{_go_time(cert.not_valid_before_utc)}")
                lines.append(f"[{td}] CA #{i} Valid Until:\t{_go_time(cert.not_valid_after_utc)}")
        lines.append("")
    lines.append("Chain (spire-sim):")
    for _entry, svid in update.svids:
        for cert in svid.certificates:
            lines.append(_chain_line(cert))
    return "\n".join(lines) + "\n"


# Go's pkix.Name.String() spells the serialNumber attribute SERIALNUMBER.
_NAMES = {NameOID.SERIAL_NUMBER: "SERIALNUMBER"}


def _chain_line(cert: x509.Certificate) -> str:
    return (
        f"  serial {cert.serial_number:x}  subject {cert.subject.rfc4514_string(_NAMES)}  "
        f"issuer {cert.issuer.rfc4514_string(_NAMES)}  "
        f"{_go_time(cert.not_valid_before_utc)} .. {_go_time(cert.not_valid_after_utc)}"
    )


def federation_status(result: Result) -> str:
    """One row per federation relationship: last refresh, last error, sequence held, next poll."""
    header = (
        "SERVER",
        "PEER",
        "PROFILE",
        "LAST REFRESH",
        "SEQUENCE HELD",
        "NEXT REFRESH",
        "LAST ERROR",
    )
    rows = [header]
    for client in result.bundle_clients:
        rel = client.relationship
        held = client.server.federated.get(rel.trust_domain)
        rows.append((
            client.server.trust_domain.name,
            rel.trust_domain.name,
            rel.profile,
            "-" if client.last_refresh is None else result.clock.rfc3339(client.last_refresh),
            "-" if held is None else str(held.sequence_number or 0),
            "-" if client.next_poll is None else result.clock.rfc3339(client.next_poll),
            client.last_error or "-",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        out.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(out) + "\n"
