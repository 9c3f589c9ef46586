"""A simulation turns a validated scenario into a world of SimPy processes (servers, bundle
clients, agents, workloads, the operator's timeline), runs it on the virtual clock and returns a
:class:`Result`: the event log plus the actors' final state.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=1800).run()
>>> [r.field("at") for r in result.log.find(msg="Scheduling next bundle refresh", since=1772)]
['2020-01-31T15:29:32Z', '2020-01-31T15:29:32Z']
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import simpy

from sim import ca, rng, webpki
from sim.agent import SpireAgent
from sim.bundle import Bundle
from sim.clock import Clock, format_duration
from sim.clusters import build_clusters
from sim.eventlog import EventLog, Logger
from sim.federation import BundleClient, Relationship
from sim.network import Connection, Network, Pod
from sim.registration import RegistrationEntry, Selector, new_entry_id, render_entry
from sim.scenario import (
    BundleExpectation,
    BundleSetEvent,
    ClockSkewEvent,
    EntryCreateEvent,
    EntryDeleteEvent,
    GeneratedRoot,
    NetworkEvent,
    Scenario,
    TrustDomainSpec,
    Workload,
    WorkloadRestartEvent,
)
from sim.server import ServerConfig, SpireServer
from sim.spiffeid import SpiffeID, TrustDomain
from sim.workload import Ghostunnel, RequestOutcome, request
from sim.x509svid import VerificationCache, VerifyStyle

__all__ = ["RequestRecord", "Result", "Simulation", "SimulationError", "WorkloadState"]

SERVER_BIND_PORT = 8081  # server.conf bind_port in the seed
# Kubernetes' generated-name alphabet (apimachinery util/rand: no vowels, no look-alikes).
_K8S_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class _Environment(simpy.Environment):
    """SimPy's environment, counting scheduled events for the run's figures."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event, priority=1, delay=0):  # noqa: ANN001, ANN201 - SimPy's signature
        self.scheduled += 1
        super().schedule(event, priority, delay)


class _Skews(dict):
    """Node -> clock offset in seconds; nodes never skewed read 0."""

    def get(self, node: str, default: float = 0.0) -> float:  # type: ignore[override]
        return super().get(node, default)


class SimulationError(Exception):
    """The scenario could not be turned into a world (e.g. upstream CA files unreadable)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One curl request: when, from which workload, how it ended and what the products said."""

    t: float
    workload: str
    ok: bool
    reason: str
    curl_exit: int
    errors: tuple[str, ...] = ()


@dataclass
class _TrustDomainWorld:
    spec: TrustDomainSpec
    server: SpireServer
    server_pod: Pod
    clients: list[BundleClient] = field(default_factory=list)
    agents: dict[str, SpireAgent] = field(default_factory=dict)  # node name -> agent


@dataclass
class _WorkloadWorld:
    spec: Workload
    pod: Pod | None = None
    sidecar: Ghostunnel | None = None
    agent: SpireAgent | None = None
    generation: int = 0
    selectors: tuple[Selector, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """A workload at the end of a run: its pod, sidecar, agent and attested selectors."""

    name: str
    pod: Pod | None
    sidecar: Ghostunnel | None
    agent: SpireAgent | None
    selectors: tuple[Selector, ...]


@dataclass
class Result:
    """What a run produced. Everything observable is in ``log``; the rest is final state."""

    scenario: Scenario
    seed: int
    until: float
    clock: Clock
    log: EventLog
    requests: list[RequestRecord]
    servers: dict[str, SpireServer]
    bundle_clients: list[BundleClient]
    agents: list[SpireAgent]
    cache: VerificationCache
    events_scheduled: int = 0
    workloads: dict[str, WorkloadState] = field(default_factory=dict)
    # For each bundle expectation (by its index in scenario.expect): the (X.509, JWT) authority
    # counts of that bundle at its instant, or None where the bundle did not exist.
    bundle_snapshots: dict[int, tuple[int, int] | None] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts a human (or a CI job) wants after a run; stable key order."""
        reasons = Counter(r.reason for r in self.requests if not r.ok)
        # One pass over the log for every relationship (a scan each is quadratic at scale).
        refreshed = Counter(
            (r.instance, r.field("trust_domain")) for r in self.log.find(msg="Bundle refreshed")
        )
        refreshes = {
            f"{c.server.trust_domain.name} <- {c.relationship.trust_domain.name}": {
                "refreshed": refreshed[(c.log.instance.instance, c.relationship.trust_domain.name)],
                "errors": c.failures,
            }
            for c in self.bundle_clients
        }
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "start": self.clock.rfc3339(0),
            "end": self.clock.rfc3339(self.until),
            "simulated": format_duration(self.until),
            "requests": {
                "total": len(self.requests),
                "ok": sum(r.ok for r in self.requests),
                "failed": dict(sorted(reasons.items())),
            },
            "certificates_minted": sum(s.minted for s in self.servers.values()),
            "svids_issued_by_agents": sum(a.issued for a in self.agents),
            "ca_rotations": sum(max(0, s.activations - 1) for s in self.servers.values()),
            "bundle_refreshes": refreshes,
            "chain_verifications": self.cache.misses,
            "verdicts_reused": self.cache.hits,
            "log_records": len(self.log),
        }

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``events.jsonl``, one native log per component instance under ``logs/``, and
        ``summary.json``; returns the paths written."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [self.log.write_jsonl(out / "events.jsonl", self.clock)]
        written += self.log.write_native(out / "logs", self.clock)
        summary = out / "summary.json"
        summary.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        written.append(summary)
        return written


class Simulation:
    """Build the world of ``scenario`` (optionally with another ``seed`` or a shorter horizon
    ``until``, in seconds) and run it with :meth:`run`."""

    def __init__(
        self, scenario: Scenario, *, seed: int | None = None, until: float | None = None
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.until = scenario.duration if until is None else min(until, scenario.duration)
        self.clock = scenario.clock()
        self.env = _Environment()
        self.log = EventLog()
        self.cache = VerificationCache()
        self.net = Network(rng.stream(self.seed, "network"))
        self.requests: list[RequestRecord] = []
        self.legacy = scenario.profile.spire.startswith("0.")
        self.style = VerifyStyle.PRE1 if scenario.profile.ghostunnel == "1.5.2" else VerifyStyle.V2
        self.domains: dict[TrustDomain, _TrustDomainWorld] = {}
        self.workloads: dict[str, _WorkloadWorld] = {}
        self._entry_rng = rng.stream(self.seed, "entries")
        self._operator: Logger | None = None
        self._network_log: Logger | None = None
        # Node -> seconds its clock is ahead of true time (clock_skew events; sidecars there
        # judge validity by it).
        self.skews: _Skews = _Skews()
        self.bundle_snapshots: dict[int, tuple[int, int] | None] = {}
        self._sidecar_memo: dict[Pod, _WorkloadWorld] = {}
        self._build()

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        build_clusters(self.net, self.scenario)
        # Web PKI authorities exist before anything else (they are the Internet's CAs).
        self.web_authorities: dict[str, ca.UpstreamAuthority] = {}
        for auth in self.scenario.web_authorities:
            self.web_authorities[auth.name] = self._generate_root(
                auth.root, f"webpki/{auth.name}", self.clock.to_datetime(0)
            )
        for spec in self.scenario.trust_domains:
            self._build_domain(spec)
        for world in self.domains.values():
            self._build_federation(world)
        for wl in self.scenario.workloads:
            self._build_workload(wl)

    def _build_domain(self, spec: TrustDomainSpec) -> None:
        cl = self.scenario.cluster_of(spec).name
        td, ns = spec.trust_domain, spec.namespace
        tolerations = list(spec.tolerations)
        pod = self.net.add_pod(
            cl, ns, "spire-server-0", labels={"app": "spire-server"}, tolerations=tolerations
        )
        ports = [(SERVER_BIND_PORT, SERVER_BIND_PORT)]
        if spec.server.bundle_endpoint is not None:
            ports.append((spec.server.bundle_endpoint.port, spec.server.bundle_endpoint.port))
        self.net.add_service(cl, ns, "spire-server", selector={"app": "spire-server"}, ports=ports)
        upstream = None
        disk = spec.server.upstream_authority
        start = self.clock.to_datetime(spec.server.start)
        if disk is not None:
            try:
                if disk.generate is not None:
                    upstream = self._generate_root(disk.generate, f"upstream/{td}", start)
                else:
                    assert disk.cert_file is not None and disk.key_file is not None
                    upstream = ca.UpstreamAuthority.load(
                        disk.cert_file, disk.key_file, bundle_file=disk.bundle_file
                    )
            except ca.CAError as exc:
                raise SimulationError(f"{td}: UpstreamAuthority disk: {exc}") from None
        endpoint = spec.server.bundle_endpoint
        serving = None
        if endpoint is not None and endpoint.serving_cert is not None:
            sc = endpoint.serving_cert
            serving = webpki.mint_serving_certificate(
                self.web_authorities[sc.authority],
                dns_names=sc.dns_names,
                ttl=sc.ttl,
                now=start,
                rng=rng.stream(self.seed, f"serving-cert/{td}"),
            )
        root_names = (
            spec.server.web_roots
            if spec.server.web_roots is not None
            else tuple(self.web_authorities)
        )
        config = ServerConfig(
            trust_domain=td,
            spire_version=self.scenario.profile.spire,
            ca_ttl=spec.server.ca_ttl,
            svid_ttl=spec.server.svid_ttl,
            upstream=upstream,
            upstream_ttl=None if disk is None else disk.ttl,
            upstream_bundle=spec.server.upstream_bundle,
            bind_port=SERVER_BIND_PORT,
            bundle_endpoint_port=None if endpoint is None else endpoint.port,
            bundle_endpoint_profile="https_spiffe" if endpoint is None else endpoint.profile,
            serving_certificate=serving,
            refresh_hint=None if endpoint is None else endpoint.refresh_hint,
            web_roots=tuple(
                root for name in root_names for root in self.web_authorities[name].roots
            ),
        )
        logger = self.log.logger(
            f"{ns}/spire-server-0", host=pod.node, component="spire-server", trust_domain=td.name
        )
        server = SpireServer(
            self.env, config, self.clock, logger, rng.stream(self.seed, f"server/{td}")
        )
        self.domains[td] = _TrustDomainWorld(spec, server, pod)
        if spec.agent is not None:
            for agent_pod in self.net.add_daemonset(
                cl, ns, "spire-agent", labels={"app": "spire-agent"},
                tolerations=tolerations, host_network=True,
            ):  # fmt: skip
                self._build_agent(self.domains[td], agent_pod)

    def _generate_root(self, g: GeneratedRoot, stream: str, now: datetime) -> ca.UpstreamAuthority:
        """A cfssl-like root made from the scenario's `generate:` names."""
        return ca.UpstreamAuthority.generate(
            g.common_name,
            now=now,
            rng=rng.stream(self.seed, stream),
            country=g.country,
            locality=g.locality,
            organization=g.organization,
            organizational_unit=g.organizational_unit,
            lifetime=timedelta(seconds=g.ttl),
        )

    def _build_agent(self, world: _TrustDomainWorld, pod: Pod) -> None:
        td, ns, cluster = world.spec.trust_domain, world.spec.namespace, pod.cluster
        r = rng.stream(self.seed, f"agent/{td}/{pod.node}")
        node_uid = new_entry_id(r)  # a UUID, as the node's metadata.uid is
        # k8s_psat's agent ID (pkg/common/plugin/k8s AgentID): cluster name and node UID.
        agent_id = SpiffeID.from_path(td, f"/spire/agent/k8s_psat/{cluster}/{node_uid}")
        selectors = tuple(
            Selector.parse(s)
            for s in (
                f"k8s_psat:cluster:{cluster}",
                f"k8s_psat:agent_ns:{ns}",
                "k8s_psat:agent_sa:spire-agent",
                f"k8s_psat:agent_pod_name:{pod.name}",
                f"k8s_psat:agent_node_name:{pod.node}",
            )
        )
        logger = self.log.logger(
            f"{ns}/{pod.name}", host=pod.node, component="spire-agent", trust_domain=td.name
        )
        assert world.spec.agent is not None
        world.agents[pod.node] = SpireAgent(
            self.env, world.server, self.clock, logger, r, agent_id, selectors,
            availability_target=world.spec.agent.availability_target,
        )  # fmt: skip

    def _build_federation(self, world: _TrustDomainWorld) -> None:
        server_pod = world.server_pod
        for rel in world.spec.server.federates_with:
            relationship = Relationship(
                rel.trust_domain, rel.address, rel.port, rel.endpoint_spiffe_id, rel.profile
            )
            world.clients.append(
                BundleClient(
                    self.env,
                    world.server,
                    relationship,
                    dial=lambda host, port, pod=server_pod: self.net.dial(pod, host, port),
                    endpoint_at=self._endpoint_at,
                    clock=self.clock,
                    log=world.server.log,
                    cache=self.cache,
                )
            )

    def _endpoint_at(self, conn: Connection) -> SpireServer | None:
        for world in self.domains.values():
            endpoint = world.server.config.bundle_endpoint_port
            if (
                world.server_pod.name == conn.dst.name
                and world.server_pod.namespace == conn.dst.namespace
                and endpoint == conn.target_port
                and world.server.running
            ):
                return world.server
        return None

    def _build_workload(self, spec: Workload) -> None:
        world = self._domain_of(spec)
        if spec.service is not None:
            self.net.add_service(
                self.scenario.cluster_of(spec).name,
                world.spec.namespace,
                spec.service.name,
                selector=dict(spec.labels),
                ports=[(spec.service.port, spec.service.target_port)],
            )
        self.workloads[spec.name] = _WorkloadWorld(spec)

    def _domain_of(self, spec: Workload) -> _TrustDomainWorld:
        return self.domains[spec.trust_domain]

    # -- processes ---------------------------------------------------------------------------

    def _at(self, t: float, action: Callable[[], Any]):  # noqa: ANN202 - a SimPy process
        yield self.env.timeout(max(0.0, t - self.env.now))
        action()

    def _start_later(self, t: float, process: Callable[[], Any]):  # noqa: ANN202
        yield self.env.timeout(max(0.0, t - self.env.now))
        self.env.process(process())

    def _start_server(self, world: _TrustDomainWorld):  # noqa: ANN202 - a SimPy process
        yield self.env.timeout(max(0.0, world.spec.server.start - self.env.now))
        server = world.server
        self.net.listen(world.server_pod, server.config.bind_port)
        if server.config.bundle_endpoint_port is not None:
            self.net.listen(world.server_pod, server.config.bundle_endpoint_port)
        self.env.process(server.run())
        yield self.env.timeout(0)
        if not server.running:
            return
        if server.config.bundle_endpoint_port is not None:
            server.warn_refresh_hint()
            fields: dict[str, Any] = {"addr": f"0.0.0.0:{server.config.bundle_endpoint_port}"}
            if not self.legacy:
                fields["refresh_hint"] = format_duration(server.served_refresh_hint())
            server.log.info(self.env.now, "Serving bundle endpoint", **fields)
        for spec_entry in world.spec.entries:
            self._create_entry(world, spec_entry)
        for client in world.clients:
            self.env.process(client.run())

    def _operator_log(self) -> Logger:
        if self._operator is None:
            self._operator = self.log.logger(
                "operator", host="operator", component="operator", style="plain"
            )
        return self._operator

    def _create_entry(self, world: _TrustDomainWorld, e) -> None:  # noqa: ANN001
        server = world.server
        op = self._operator_log()
        ttl = int(e.ttl)
        entry = RegistrationEntry.build(
            entry_id=new_entry_id(self._entry_rng),
            spiffe_id=e.spiffe_id,
            parent_id=None if e.node else e.parent_id,
            node=e.node,
            selectors=e.selectors,
            dns_names=e.dns_names,
            federates_with=e.federates_with,
            x509_svid_ttl=ttl,
        )
        version = self.scenario.profile.spire
        op.info(
            self.env.now,
            f"{world.spec.namespace}$ spire-server entry create -spiffeID {e.spiffe_id} ...",
        )
        outcome = server.create_entry(entry)
        if isinstance(outcome, str):
            op.error(
                self.env.now,
                f"FAILED to create the following entry:\n"
                f"{render_entry(entry, version=version)}{outcome}",
            )
        else:
            op.info(self.env.now, render_entry(outcome, version=version).rstrip("\n"))

    def _bundle_set(self, ev: BundleSetEvent) -> None:
        world = self.domains[ev.trust_domain]
        source = self.domains.get(ev.ca_of)
        op = self._operator_log()
        op.info(
            self.env.now,
            f"{world.spec.namespace}$ spire-server bundle set "
            f"-id {ev.peer.id_string()} -path {ev.ca_of.name.split('.')[0]}-ca.pem",
        )
        if source is None or source.server.bundle is None or not world.server.running:
            op.error(self.env.now, "bundle set failed: the CA certificate is not available yet")
            return
        roots = source.server.bundle.x509_authorities
        world.server.set_federated_bundle(Bundle(ev.peer, roots))
        op.info(self.env.now, "bundle set.")

    def _entry_delete(self, ev: EntryDeleteEvent) -> None:
        world = self.domains[ev.trust_domain]
        op = self._operator_log()
        for gone in world.server.delete_entry(ev.spiffe_id):
            op.info(
                self.env.now,
                f"{world.spec.namespace}$ spire-server entry delete -entryID {gone.entry_id}",
            )
            op.info(self.env.now, "Deleted entry with ID: " + gone.entry_id)

    def _start_workload(self, name: str) -> None:
        wl = self.workloads[name]
        spec = wl.spec
        world = self._domain_of(spec)
        cl, ns = self.scenario.cluster_of(spec).name, world.spec.namespace
        wl.generation += 1
        # A Deployment's pods are <name>-<pod-template-hash>-<5 chars>; the template, and so
        # the hash, stays the same when the same manifest is deployed again.
        hash_rng = rng.stream(self.seed, f"deployment/{ns}/{spec.name}")
        template_hash = "".join(hash_rng.choice(_K8S_NAME_ALPHABET) for _ in range(9))
        pod = self.net.add_pod(
            cl, ns, self.net.generate_name(cl, ns, f"{spec.name}-{template_hash}-"),
            labels=dict(spec.labels),
            tolerations=list(world.spec.tolerations),
        )  # fmt: skip
        wl.pod = pod
        wl.agent = world.agents.get(pod.node)
        if spec.app is not None:
            self.net.listen(pod, spec.app.port)
        if spec.sidecar is None:
            return
        sc = spec.sidecar
        uris = sc.allow_uris if sc.mode == "server" else sc.verify_uris
        logger = self.log.logger(
            f"{ns}/{pod.name}/ghostunnel", host=pod.node, component="ghostunnel",
            trust_domain=world.spec.trust_domain.name, style="golog",
        )  # fmt: skip
        sidecar = Ghostunnel(
            self.env, sc.mode, pod, sc.listen.port, sc.target.host, sc.target.port,
            tuple(str(u) for u in uris), self.style, logger,
        )  # fmt: skip
        wl.sidecar = sidecar
        self.net.listen(pod, sc.listen.port)
        sidecar.start()
        if wl.agent is not None:
            selectors = [
                f"k8s:ns:{ns}",
                "k8s:sa:default",
                f"k8s:pod-name:{pod.name}",
                f"k8s:node-name:{pod.node}",
            ]
            selectors += [f"k8s:pod-label:{k}:{v}" for k, v in spec.labels]
            wl.selectors = tuple(Selector.parse(s) for s in selectors)
            wl.agent.subscribe(wl.selectors, sidecar.on_update)

    def _stop_workload(self, name: str) -> None:
        wl = self.workloads[name]
        if wl.pod is None:
            return
        if wl.agent is not None and wl.sidecar is not None:
            wl.agent.unsubscribe(wl.sidecar.on_update)
        self.net.remove_pod(wl.pod)
        wl.pod, wl.sidecar = None, None

    def _restart_workload(self, ev: WorkloadRestartEvent) -> None:
        self._stop_workload(ev.workload)
        self._start_workload(ev.workload)

    def _domain_pods(self, world: _TrustDomainWorld) -> list[Pod]:
        """The pods of a trust domain running now: server, agents and workloads."""
        cl = self.scenario.cluster_of(world.spec).name
        pods = [world.server_pod]
        pods += [
            p for p in self.net.pods(cl, world.spec.namespace) if p.label("app") == "spire-agent"
        ]
        pods += [
            wl.pod
            for wl in self.workloads.values()
            if wl.pod is not None and wl.spec.trust_domain == world.spec.trust_domain
        ]
        return pods

    def _place(self, name: str) -> Pod | str | list[Pod] | None:
        """A network event's place: a node or cluster name as is; `<ns>/spire-server` and
        `<ns>/<workload>` as the pod running now (None when it has none)."""
        if "/" not in name:
            td = next((w for t, w in self.domains.items() if t.name == name), None)
            return name if td is None else self._domain_pods(td)
        ns, what = name.split("/", 1)
        for world in self.domains.values():
            if world.spec.namespace == ns and what == "spire-server":
                return world.server_pod
        wl = self.workloads.get(what)
        return None if wl is None else wl.pod

    def _network_event(self, ev: NetworkEvent) -> None:
        if self._network_log is None:
            self._network_log = self.log.logger(
                "network", host="network", component="network", style="plain"
            )
        a, b = (self._place(p) for p in ev.between)
        if not a or not b:
            self._network_log.warn(self.env.now, f"{ev.do} {ev.between[0]} | {ev.between[1]}: "
                                   "no pod is running there; nothing changed")  # fmt: skip
            return
        # Partitions hold between the pods that run now; a pod started later is not cut. A
        # trust domain stands for each of its pods.
        for x in a if isinstance(a, list) else [a]:
            for y in b if isinstance(b, list) else [b]:
                if ev.do == "partition":
                    self.net.partition(x, y)
                else:
                    self.net.heal(x, y)
        self._network_log.info(self.env.now, f"{ev.do} {ev.between[0]} | {ev.between[1]}")

    def _clock_skew(self, ev: ClockSkewEvent) -> None:
        self.skews[ev.node] = ev.by
        if self._network_log is None:
            self._network_log = self.log.logger(
                "network", host="network", component="network", style="plain"
            )
        where = "ahead" if ev.by >= 0 else "behind"
        self._network_log.info(
            self.env.now, f"clock of {ev.node} is now {format_duration(abs(ev.by))} {where}"
        )

    def _sidecar_at(self, conn: Connection) -> Ghostunnel | None:
        # The workload last found behind this pod, if it still is (a scan per request costs
        # O(workloads) at scale); otherwise scan.
        wl = self._sidecar_memo.get(conn.dst)
        if wl is not None:
            sc = wl.sidecar
            if (
                sc is not None
                and wl.pod == conn.dst
                and sc.mode == "server"
                and sc.listen_port == conn.target_port
            ):
                return sc
        for wl in self.workloads.values():
            sc = wl.sidecar
            if (
                sc is not None
                and wl.pod is not None
                and sc.mode == "server"
                and (
                    wl.pod.name == conn.dst.name
                    and wl.pod.namespace == conn.dst.namespace
                    and sc.listen_port == conn.target_port
                )
            ):
                self._sidecar_memo[conn.dst] = wl
                return sc
        return None

    def _curl(self, name: str):  # noqa: ANN202 - a SimPy process
        wl = self.workloads[name]
        traffic = wl.spec.traffic
        assert traffic is not None
        yield self.env.timeout(max(0.0, traffic.start - self.env.now))
        curl: Logger | None = None
        curl_pod: Pod | None = None
        while True:
            if wl.sidecar is not None and wl.pod is not None:
                if curl is None or curl_pod is not wl.pod:
                    curl_pod = wl.pod
                    curl = self.log.logger(
                        f"{wl.pod.namespace}/{wl.pod.name}/curl", host=wl.pod.node,
                        component="curl", trust_domain=wl.spec.trust_domain.name, style="curl",
                    )  # fmt: skip
                out: RequestOutcome = request(
                    self.env, wl.sidecar, self.net.dial, self._sidecar_at, curl, self.clock,
                    self.cache, self.skews.get,
                )  # fmt: skip
                self.requests.append(
                    RequestRecord(self.env.now, name, out.ok, out.reason, out.curl_exit, out.errors)
                )
            yield self.env.timeout(traffic.every)

    def _snapshot(self, index: int, exp: BundleExpectation) -> None:
        world = self.domains.get(exp.held_by)
        bundle = None if world is None else world.server.bundle_for(exp.of)
        self.bundle_snapshots[index] = (
            None if bundle is None else (len(bundle.x509_authorities), len(bundle.jwt_authorities))
        )

    def _advance(self, t: float) -> None:
        """Process every event scheduled at or before ``t`` (SimPy's run(until=t) would leave
        those at exactly ``t`` undone, and refuses t = 0)."""
        env = self.env
        while env.peek() <= t:
            env.step()

    def run(self, *, progress: Callable[[float, float], None] | None = None) -> Result:
        """Run to the horizon; ``progress(now, until)`` is called about a hundred times."""
        env = self.env
        # Fixed start order: servers, agents, workloads, traffic, then the operator's timeline.
        for world in self.domains.values():
            env.process(self._start_server(world))
        for world in self.domains.values():
            if world.spec.agent is not None:
                for node in sorted(world.agents):
                    env.process(self._start_later(world.spec.agent.start, world.agents[node].run))
        for name, wl in self.workloads.items():
            env.process(self._at(wl.spec.start, lambda n=name: self._start_workload(n)))
            if wl.spec.traffic is not None:
                env.process(self._curl(name))
        handlers: dict[type, Callable[[Any], None]] = {
            BundleSetEvent: self._bundle_set,
            EntryCreateEvent: lambda ev: self._create_entry(
                self.domains[ev.trust_domain], ev.entry
            ),
            EntryDeleteEvent: self._entry_delete,
            WorkloadRestartEvent: self._restart_workload,
            NetworkEvent: self._network_event,
            ClockSkewEvent: self._clock_skew,
        }
        for ev in self.scenario.events:
            env.process(self._at(ev.at, lambda ev=ev: handlers[type(ev)](ev)))
        for index, exp in enumerate(self.scenario.expect):
            if isinstance(exp, BundleExpectation):
                env.process(self._at(exp.at, lambda i=index, e=exp: self._snapshot(i, e)))
        if progress is None:
            self._advance(self.until)
        else:
            step = max(self.until / 100, 1.0)
            t = 0.0
            while t < self.until:
                t = min(t + step, self.until)
                self._advance(t)
                progress(t, self.until)
        return Result(
            scenario=self.scenario,
            seed=self.seed,
            until=self.until,
            clock=self.clock,
            log=self.log,
            requests=self.requests,
            servers={td.name: w.server for td, w in self.domains.items()},
            bundle_clients=[c for w in self.domains.values() for c in w.clients],
            agents=[a for w in self.domains.values() for a in w.agents.values()],
            cache=self.cache,
            events_scheduled=self.env.scheduled,
            bundle_snapshots=dict(self.bundle_snapshots),
            workloads={
                name: WorkloadState(name, wl.pod, wl.sidecar, wl.agent, wl.selectors)
                for name, wl in self.workloads.items()
            },
        )
