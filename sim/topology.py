"""A generated topology is a scenario for N trust domains over M clusters, made from two
networkx graphs: the federation graph (which trust domains federate: full mesh, hub and spoke,
ring, or random with a seed) and the network graph of cluster links, which may differ from it.

Each trust domain gets a SPIRE server with a bundle endpoint, an agent DaemonSet, and
workloads: HTTP servers behind ghostunnel, and ghostunnel clients whose curl traffic targets a
server of a federated peer; the first client of a trust domain that has non-federated peers
targets one of those instead, to show that federation is not transitive (its requests fail with
``no roots for peer trust domain``). The scenario carries an ``expect:`` section saying so.

>>> sorted(federation_graph("ring", 4).edges())
[(0, 1), (0, 3), (1, 2), (2, 3)]
>>> spec = TopologySpec(trust_domains=4, clusters=2, workloads=12, federation="ring")
>>> data = generate(spec)
>>> sorted(data["trust_domains"]["td1.example.org"]["server"]["federates_with"])
['td2.example.org', 'td4.example.org']
>>> data["workloads"]["td1-client-2"]["sidecar"]["target"]
'td3-web-1.td3.svc.c1.local:18443'
>>> render(data).splitlines()[0]
'name: "ring-4td-2c"'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from sim.clock import format_duration

__all__ = [
    "GRAPH_KINDS",
    "TopologySpec",
    "TopologyError",
    "federation_graph",
    "generate",
    "network_graph",
    "render",
]

GRAPH_KINDS = ("mesh", "hub", "ring", "random")
# A random federation (or network) graph keeps each possible edge with this chance.
RANDOM_EDGE_PROBABILITY = 0.3
BUNDLE_ENDPOINT_PORT = 8443  # SPIRE's default bundle endpoint port
SERVICE_PORT, SIDECAR_PORT, APP_PORT, CLIENT_PORT = 18443, 8443, 8080, 8080
# Kubernetes gives each node a /24 of pod addresses (253 usable); leave headroom.
_PODS_PER_WORKER = 200
_MAX_CLUSTERS = 120  # pod ranges 10.<1..120>.0.0/16, Service ranges 10.<128..247>.0.0/16


class TopologyError(ValueError):
    """A topology that cannot be generated as asked."""


def _graph(kind: str, n: int, seed: int) -> nx.Graph:
    if kind not in GRAPH_KINDS:
        raise TopologyError(f'unknown graph kind "{kind}" (expected {", ".join(GRAPH_KINDS)})')
    if n < 1:
        raise TopologyError(f"need at least one vertex, got {n}")
    if kind == "mesh":
        g = nx.complete_graph(n)
    elif kind == "hub":
        g = nx.star_graph(n - 1)  # vertex 0 is the hub
    elif kind == "ring":
        g = nx.cycle_graph(n) if n >= 3 else nx.path_graph(n)
    else:
        g = nx.gnp_random_graph(n, RANDOM_EDGE_PROBABILITY, seed=seed)
    # Vertices in order, edges sorted: iteration order (and so the scenario) is stable.
    out = nx.Graph()
    out.add_nodes_from(range(n))
    out.add_edges_from(sorted(tuple(sorted(e)) for e in g.edges()))
    return out


def federation_graph(kind: str, n: int, *, seed: int = 1) -> nx.Graph:
    """Which of ``n`` trust domains (vertices 0..n-1) federate with which (an edge: both
    servers fetch each other's bundle and their entries federate with each other)."""
    return _graph(kind, n, seed)


def network_graph(kind: str, m: int, *, seed: int = 1) -> nx.Graph:
    """Which of ``m`` clusters are linked directly (routes may cross several links). A random
    network graph is made connected by joining its components in order, since clusters that
    cannot reach each other at all would leave nothing to observe."""
    g = _graph(kind, m, seed + 1)
    parts = sorted(min(c) for c in nx.connected_components(g))
    for a, b in zip(parts, parts[1:], strict=False):
        g.add_edge(a, b)
    return g


@dataclass(frozen=True, slots=True, kw_only=True)
class TopologySpec:
    """What to generate. Times are seconds; ``latency`` is one way per link."""

    trust_domains: int
    clusters: int
    workloads: int
    federation: str = "mesh"
    network: str = "mesh"
    seed: int = 1
    duration: float = 3600.0
    every: float = 60.0  # curl interval of each client
    latency: float = 0.005
    loss: float = 0.0
    unfederated_clients: bool = True  # first client of a domain targets a non-federated peer
    spire: str = "1.x"  # profile: SPIRE release line
    ghostunnel: str = "latest"  # profile: "1.5.2" (go-spiffe pre-1.0 texts) or "latest"
    start: str = "2026-01-01T00:00:00Z"

    def check(self) -> None:
        if self.trust_domains < 1:
            raise TopologyError("need at least one trust domain")
        if not 1 <= self.clusters <= _MAX_CLUSTERS:
            raise TopologyError(f"clusters must be between 1 and {_MAX_CLUSTERS}")
        if self.workloads < 0:
            raise TopologyError("workloads must not be negative")
        if self.every <= 0 or self.duration <= 0:
            raise TopologyError("duration and every must be positive")
        if not 0 <= self.loss < 1:
            raise TopologyError("loss must be at least 0 and below 1")


def _td(i: int) -> str:
    return f"td{i + 1}.example.org"


def _ns(i: int) -> str:
    return f"td{i + 1}"


def _cl(j: int) -> str:
    return f"c{j + 1}"


def generate(spec: TopologySpec) -> dict[str, Any]:
    """The scenario of ``spec`` as plain data (what :func:`render` writes as YAML)."""
    spec.check()
    n, m = spec.trust_domains, spec.clusters
    fed = federation_graph(spec.federation, n, seed=spec.seed)
    net = network_graph(spec.network, m, seed=spec.seed)
    home = {i: i % m for i in range(n)}  # trust domain -> cluster, round robin

    # Workloads per trust domain, round robin; in each, the first is a server, the rest
    # clients (a lone workload is a server).
    per_td = [spec.workloads // n + (1 if i < spec.workloads % n else 0) for i in range(n)]
    servers: dict[int, list[str]] = {i: [] for i in range(n)}
    clients: dict[int, list[str]] = {i: [] for i in range(n)}
    for i in range(n):
        for k in range(per_td[i]):
            if k == 0 or (k % 4 == 0 and per_td[i] > 4):  # one server per four workloads
                servers[i].append(f"{_ns(i)}-web-{k + 1}")
            else:
                clients[i].append(f"{_ns(i)}-client-{k + 1}")

    # Each client's target: (its own trust domain, the target's, server workload, federated?).
    targets: dict[str, tuple[int, int, str, bool]] = {}
    for i in range(n):
        peers = [j for j in sorted(fed.neighbors(i)) if servers[j]]
        strangers = [j for j in range(n) if j != i and not fed.has_edge(i, j) and servers[j]]
        # Nearest non-federated peer after i (ring order), so each domain shows one.
        strangers.sort(key=lambda j: (j - i) % n)
        for c, name in enumerate(clients[i]):
            if c == 0 and spec.unfederated_clients and strangers:
                j = strangers[0]
                targets[name] = (i, j, servers[j][0], False)
                continue
            pool = peers or ([i] if servers[i] else [])
            if not pool:
                continue
            j = pool[c % len(pool)]
            targets[name] = (i, j, servers[j][(c // len(pool)) % len(servers[j])], j != i)

    pods = {j: 0 for j in range(m)}
    for i in range(n):
        pods[home[i]] += 1 + per_td[i]
    clusters = {}
    for j in range(m):
        workers = max(2, math.ceil(pods[j] / _PODS_PER_WORKER))
        nodes: dict[str, Any] = {f"{_cl(j)}-control-plane": {"control_plane": True}}
        for w in range(workers):
            nodes[f"{_cl(j)}-worker{w + 1 if w else ''}"] = {}
        clusters[_cl(j)] = {
            "domain": f"{_cl(j)}.local",
            "pod_subnet": f"10.{j + 1}.0.0/16",
            "service_subnet": f"10.{128 + j}.0.0/16",
            "nodes": nodes,
        }
    links = [
        {
            "between": [_cl(a), _cl(b)],
            "latency": format_duration(spec.latency),
            **({"loss": spec.loss} if spec.loss else {}),
        }
        for a, b in sorted(net.edges())
    ]

    def server_address(j: int) -> str:
        return f"spire-server.{_ns(j)}.svc.{_cl(home[j])}.local"

    trust_domains = {}
    events: list[dict[str, Any]] = []
    for i in range(n):
        peers = sorted(fed.neighbors(i))
        trust_domains[_td(i)] = {
            "namespace": _ns(i),
            "cluster": _cl(home[i]),
            "server": {
                "bundle_endpoint": {"port": BUNDLE_ENDPOINT_PORT},
                "federates_with": {
                    _td(j): {"address": server_address(j), "port": BUNDLE_ENDPOINT_PORT}
                    for j in peers
                },
            },
            "agent": {},
            "entries": [
                {
                    "spiffe_id": f"spiffe://{_td(i)}/spire-agent",
                    "selectors": [f"k8s_psat:agent_ns:{_ns(i)}"],
                    "node": True,
                }
            ],
        }
        # `spire-server bundle set` with each peer's bundle once both servers run.
        events += [
            {"at": "30s", "do": "bundle_set", "trust_domain": _td(i), "peer": _td(j)} for j in peers
        ]

    workloads: dict[str, Any] = {}
    allowed: dict[str, list[str]] = {}
    for name, (i, _j, server, _f) in sorted(targets.items()):
        allowed.setdefault(server, []).append(f"spiffe://{_td(i)}/{name}")
    for i in range(n):
        peers = [_td(j) for j in sorted(fed.neighbors(i))]
        for name in servers[i]:
            workloads[name] = {
                "trust_domain": _td(i),
                "start": "2m",
                "labels": {"app": name},
                "app": {"http_server": {"port": APP_PORT}},
                "sidecar": {
                    "ghostunnel": "server",
                    "listen": f"0.0.0.0:{SIDECAR_PORT}",
                    "target": f"127.0.0.1:{APP_PORT}",
                    "allow_uri": sorted(allowed.get(name, [f"spiffe://{_td(i)}/{name}"])),
                },
                "service": {"port": SERVICE_PORT, "target_port": SIDECAR_PORT},
            }
        for name in clients[i]:
            if name not in targets:
                continue
            _i, j, server, _f = targets[name]
            workloads[name] = {
                "trust_domain": _td(i),
                "start": "2m",
                "labels": {"app": name},
                "sidecar": {
                    "ghostunnel": "client",
                    "listen": f"0.0.0.0:{CLIENT_PORT}",
                    "target": f"{server}.{_ns(j)}.svc.{_cl(home[j])}.local:{SERVICE_PORT}",
                    "verify_uri": [f"spiffe://{_td(j)}/{server}"],
                    "unsafe_listen": True,
                },
                "traffic": {
                    "curl": f"http://localhost:{CLIENT_PORT}/",
                    "every": format_duration(spec.every),
                    "start": "3m",
                },
            }
        # Entries after the bundle exchange: SPIRE refuses a federatesWith naming a trust
        # domain it holds no bundle for.
        for name in [*servers[i], *(c for c in clients[i] if c in targets)]:
            entry: dict[str, Any] = {
                "spiffe_id": f"spiffe://{_td(i)}/{name}",
                "parent_id": f"spiffe://{_td(i)}/spire-agent",
                "selectors": [f"k8s:pod-label:app:{name}"],
            }
            if name in servers[i]:
                entry["dns_names"] = [f"{name}.{_ns(i)}.svc.{_cl(home[i])}.local"]
            if peers:
                entry["federates_with"] = [f"spiffe://{p}" for p in peers]
            events.append(
                {"at": "1m", "do": "entry_create", "trust_domain": _td(i), "entry": entry}
            )

    expect = []
    for name, (i, j, _s, federated) in sorted(targets.items()):
        result = "ok" if federated or j == i else _no_bundle(spec.ghostunnel, _td(j))
        expect.append({"after": "4m", "requests": {"from": name}, "result": result})

    tag = f"{spec.federation}-{n}td-{m}c"
    return {
        "name": tag,
        "description": (
            f"Generated: {n} trust domains federated as a {spec.federation} over {m} clusters "
            f"linked as a {spec.network}, {spec.workloads} workloads (seed {spec.seed})."
        ),
        "start": spec.start,
        "duration": format_duration(spec.duration),
        "seed": spec.seed,
        "profile": {"spire": spec.spire, "ghostunnel": spec.ghostunnel},
        "clusters": clusters,
        "links": links,
        "trust_domains": trust_domains,
        "workloads": workloads,
        "events": events,
        "expect": expect,
    }


def _no_bundle(ghostunnel: str, td: str) -> str:
    """What a ghostunnel client says when it holds no bundle for the server's trust domain
    (sim.x509svid: go-spiffe pre-1.0 in ghostunnel 1.5.2, go-spiffe v2 since)."""
    if ghostunnel == "1.5.2":
        return f'no roots for peer trust domain "spiffe://{td}"'
    return f'no X.509 bundle for trust domain "{td}"'


def render(data: Mapping[str, Any], *, header: str = "") -> str:
    """``data`` as block-style YAML: strings double-quoted (JSON escapes are YAML's), numbers
    and booleans plain, ``header`` as leading comment lines."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _emit(data, 0, lines)
    return "\n".join(lines) + "\n"


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else _scalar(key)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "null"
    return json.dumps(str(value), ensure_ascii=False)


def _flow(value: Any) -> str | None:
    """A short flow rendering for empty collections and lists of scalars."""
    if isinstance(value, Mapping) and not value:
        return "{}"
    if isinstance(value, list):
        if all(not isinstance(v, Mapping | list) for v in value):
            return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if not isinstance(value, Mapping | list):
        return _scalar(value)
    return None


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            flow = _flow(item)
            if flow is not None:
                out.append(f"{pad}{_key(key)}: {flow}")
            else:
                out.append(f"{pad}{_key(key)}:")
                _emit(item, indent + 2, out)
    else:
        for item in value:
            flow = _flow(item)
            if flow is not None:
                out.append(f"{pad}- {flow}")
                continue
            sub: list[str] = []
            _emit(item, indent + 2, sub)
            out.append(f"{pad}- {sub[0].lstrip()}")
            out.extend(sub[1:])
