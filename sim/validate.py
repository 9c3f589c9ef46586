"""Validation of scenario files beyond their syntax: everything the loader checks, plus what only
the assembled world reveals (a parent ID no entry provides, a workload no node can host, a
federation relationship with no bundle endpoint behind it), all reported at once.

>>> from sim.scenario import builtin_scenario_path
>>> validate_file(builtin_scenario_path("seed"))
[]
"""

from __future__ import annotations

import random
from pathlib import Path

from sim.clusters import build_clusters
from sim.network import Network, NetworkError
from sim.scenario import (
    AgentLifecycleEvent,
    EntryCreateEvent,
    Problem,
    Scenario,
    ScenarioError,
    load_scenario,
)

__all__ = ["validate_file", "validate_scenario"]


def validate_file(path: str | Path) -> list[Problem]:
    """Every problem of the scenario file at ``path`` (empty when it is valid)."""
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        return list(exc.problems)
    return validate_scenario(scenario)


def validate_scenario(scenario: Scenario) -> list[Problem]:
    """The checks that need the whole scenario, each at the line it concerns (column 1: the
    loader keeps lines, not columns, of validated objects)."""
    problems: list[Problem] = []
    src = scenario.source

    def report(line: int, message: str) -> None:
        problems.append(Problem(src, line, 1, message))

    # 1. Parents: a workload entry's parent must be some entry's SPIFFE ID (a node entry's
    # alias or another entry), or the agent could never be authorized for it.
    for spec in scenario.trust_domains:
        entries = list(spec.entries) + [
            ev.entry
            for ev in scenario.events
            if isinstance(ev, EntryCreateEvent) and ev.trust_domain == spec.trust_domain
        ]
        ids = {e.spiffe_id for e in entries}
        for e in entries:
            if not e.node and e.parent_id not in ids:
                report(
                    e.line,
                    f'parent ID "{e.parent_id}" is provided by no entry of '
                    f'{spec.trust_domain.name}: no agent can be authorized for "{e.spiffe_id}"',
                )
    # 2. Placement: every pod needs a node whose taints it tolerates.
    net = Network(random.Random(0))
    build_clusters(net, scenario)
    domains = {spec.trust_domain: spec for spec in scenario.trust_domains}
    for spec in scenario.trust_domains:
        try:
            net.add_pod(scenario.cluster_of(spec).name, spec.namespace, "spire-server-0",
                        tolerations=list(spec.tolerations))  # fmt: skip
        except NetworkError as exc:
            report(spec.server.line, f"the SPIRE server of {spec.trust_domain.name}: {exc}")
    for wl in scenario.workloads:
        spec = domains[wl.trust_domain]
        try:
            pod = net.add_pod(scenario.cluster_of(spec).name, spec.namespace, f"{wl.name}-check",
                              tolerations=list(spec.tolerations))  # fmt: skip
        except NetworkError as exc:
            report(wl.line, f'workload "{wl.name}": {exc}')
            continue
        net.remove_pod(pod)
    # 3. Federation: the address must name a server of the scenario with a bundle endpoint
    # on that port (the model's servers answer at spire-server.<namespace>.svc.cluster.local).
    for spec in scenario.trust_domains:
        for rel in spec.server.federates_with:
            target = _server_at(scenario, rel.address, spec)
            where = f"{rel.address}:{rel.port}"
            if target is None:
                report(rel.line, f"federation with {rel.trust_domain.name}: {where} is no SPIRE "
                       "server of this scenario (expected spire-server.<namespace>."
                       "svc.<cluster domain>)")  # fmt: skip
                continue
            endpoint = target.server.bundle_endpoint
            if endpoint is None:
                report(rel.line, f"federation with {rel.trust_domain.name}: the server at {where} "
                       f"({target.trust_domain.name}) has no bundle_endpoint")  # fmt: skip
            elif endpoint.port != rel.port:
                report(rel.line, f"federation with {rel.trust_domain.name}: the bundle endpoint "
                       f"of {target.trust_domain.name} listens on port {endpoint.port}, "
                       f"not {rel.port}")  # fmt: skip
    # 4. Agent lifecycle events name a node where the trust domain's agent DaemonSet runs.
    agent_nodes: dict[object, set[str]] = {}
    for ev in scenario.events:
        if not isinstance(ev, AgentLifecycleEvent) or ev.node is None:
            continue
        spec = domains[ev.trust_domain]
        if spec.trust_domain not in agent_nodes:
            pods = net.add_daemonset(
                scenario.cluster_of(spec).name, spec.namespace, "spire-agent-check",
                labels={"app": "agent-check"},
                tolerations=list(spec.tolerations), host_network=True,
            )  # fmt: skip
            agent_nodes[spec.trust_domain] = {p.node for p in pods}
            for pod in pods:
                net.remove_pod(pod)
        where = sorted(agent_nodes[spec.trust_domain])
        if ev.node not in where:
            report(ev.line, f"{ev.do}: no agent of {ev.trust_domain.name} runs on {ev.node} "
                   f"(it runs on {', '.join(where) or 'no node'})")  # fmt: skip
    return sorted(problems)


def _server_at(scenario: Scenario, address: str, origin):  # noqa: ANN001, ANN202
    here = scenario.cluster_of(origin)
    for spec in scenario.trust_domains:
        there = scenario.cluster_of(spec)
        # From another cluster only the fully qualified name reaches it (a stub domain).
        names = {f"spire-server.{spec.namespace}.svc.{there.domain}"}
        if there.name == here.name:
            names |= {f"spire-server.{spec.namespace}.svc", f"spire-server.{spec.namespace}"}
            if spec.namespace == origin.namespace:
                names.add("spire-server")
        if address in names:
            return spec
    return None
