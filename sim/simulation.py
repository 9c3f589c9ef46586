"""A simulation turns a validated scenario into a world of SimPy processes (servers, bundle
clients, agents, workloads, the operator's timeline), runs it on the virtual clock and returns a
:class:`Result`: the event log plus the actors' final state.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=1800).run()
>>> [r.field("at") for r in result.log.find(msg="Scheduling next bundle refresh", since=1772)]
['2020-01-31T15:29:32Z', '2020-01-31T15:29:32Z']
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import simpy

from sim import ca, rng, webpki
from sim.agent import SpireAgent, WorkloadUpdate
from sim.bundle import Bundle
from sim.clock import Clock, format_duration
from sim.clusters import build_clusters
from sim.eventlog import EventLog, Logger
from sim.federation import BundleClient, Relationship
from sim.history import ClockSkew, History, SvidDelivered, x509_authority_id
from sim.jwtclient import Rejection, fetch_token, validate_bearer
from sim.network import Connection, DialError, Network, Pod
from sim.registration import RegistrationEntry, Selector, new_entry_id, render_entry
from sim.scenario import (
    AgentLifecycleEvent,
    AuthorityEvent,
    BundleEndpointEvent,
    BundleExpectation,
    BundleSetEvent,
    ClockSkewEvent,
    DnsFailureEvent,
    EntryCreateEvent,
    EntryDeleteEvent,
    EntryUpdateEvent,
    FederationRefreshEvent,
    GeneratedRoot,
    LatencyEvent,
    NetworkEvent,
    PauseEvent,
    Scenario,
    ServerLifecycleEvent,
    TrustDomainSpec,
    UpstreamReplaceEvent,
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

    def suspend(self, length: float, wall: set[int]) -> None:
        """A pause from now for ``length`` seconds: every pending event is delayed by it (a
        timer counts time the machine is awake), except the scenario's wall-clock instants
        (``wall``: ids of their timeouts), which only move to the resume if they fell inside."""
        end = self.now + length
        self._queue[:] = [
            ((max(t, end) if id(ev) in wall else t + length), prio, eid, ev)
            for t, prio, eid, ev in self._queue
        ]
        heapq.heapify(self._queue)


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
    # Who met whom (see RequestOutcome): which side refused, each side's SVID serial and node.
    rejected_by: str | None = None
    client_serial: int | None = None
    server_serial: int | None = None
    client_node: str | None = None
    server_node: str | None = None
    said_by: tuple[str, ...] = ()  # for each line of errors: "client", "server" or "curl"

    @classmethod
    def of(cls, t: float, workload: str, outcome: RequestOutcome) -> RequestRecord:
        """The record of ``outcome``: all of its fields, plus when and from which workload."""
        return cls(t, workload, **{f.name: getattr(outcome, f.name) for f in fields(outcome)})


@dataclass
class _TrustDomainWorld:
    spec: TrustDomainSpec
    server: SpireServer
    server_pod: Pod
    clients: list[BundleClient] = field(default_factory=list)
    agents: dict[str, SpireAgent] = field(default_factory=dict)  # node name -> agent
    datastore_lost: bool = False  # a server_stop said its data goes with it


@dataclass
class _WorkloadWorld:
    spec: Workload
    pod: Pod | None = None
    sidecar: Ghostunnel | None = None
    agent: SpireAgent | None = None
    generation: int = 0
    selectors: tuple[Selector, ...] = ()
    on_update: Callable[[WorkloadUpdate], None] | None = None


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
    # The model's state changes (authorities, bundle copies, entries, SVIDs, polls).
    history: History = field(default_factory=History)

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

    # -- analysis series (sim.analysis; imported here so the result needs no numpy to exist) --

    def events(self, **criteria: Any) -> Any:
        """The event log as a numpy table; see :func:`sim.analysis.events`."""
        from sim import analysis

        return analysis.events(self, **criteria)

    def request_table(self) -> Any:
        """``requests`` as a numpy table; see :func:`sim.analysis.requests`."""
        from sim import analysis

        return analysis.requests(self)

    def outcomes(self, bin: str | float = "1h") -> Any:  # noqa: A002
        """Requests per bin and outcome; see :func:`sim.analysis.outcomes`."""
        from sim import analysis

        return analysis.outcomes(self, bin)

    def svid_intervals(self, workload: str | None = None) -> Any:
        """The SVIDs each workload held; see :func:`sim.analysis.svid_intervals`."""
        from sim import analysis

        return analysis.svid_intervals(self, workload)

    def authorities(self, trust_domain: str | None = None) -> Any:
        """Each CA and JWT key's steps; see :func:`sim.analysis.authorities`."""
        from sim import analysis

        return analysis.authorities(self, trust_domain)

    def freshness(self, holder: str, peer: str) -> Any:
        """What holder's copy of peer's bundle lacked; see :func:`sim.analysis.freshness`."""
        from sim import analysis

        return analysis.freshness(self, holder, peer)

    def stale_windows(self, holder: str, peer: str) -> Any:
        """When peer used what holder lacked; see :func:`sim.analysis.stale_windows`."""
        from sim import analysis

        return analysis.stale_windows(self, holder, peer)

    def longest_stale_window(self, holder: str | None = None, peer: str | None = None) -> float:
        """Seconds; see :func:`sim.analysis.longest_stale_window`."""
        from sim import analysis

        return analysis.longest_stale_window(self, holder, peer)

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
        self.history = History()
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
        # Lifecycle faults: the agents' own verification memo (so the run's figures of the
        # sidecars' verifications stay theirs), the ids of timeouts set at wall-clock instants
        # (a pause does not delay them) and the log of pauses.
        self._agent_cache = VerificationCache()
        self._wall: set[int] = set()
        self._world_log: Logger | None = None
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
            self.env, config, self.clock, logger, rng.stream(self.seed, f"server/{td}"),
            history=self.history,
        )  # fmt: skip
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
            link=lambda: self._agent_link(world, pod), cache=self._agent_cache,
        )  # fmt: skip

    def _agent_link(self, world: _TrustDomainWorld, pod: Pod) -> str | None:
        """Why the agent on ``pod``'s node cannot reach its server now (Go's dial error), or
        None. The agent's server_address is the Service `spire-server` (the quickstart's
        agent.conf); a probe with a pinned source port, as the agent's gRPC connection is
        long-lived and draws no new ports."""
        conn = self.net.dial(pod, "spire-server", SERVER_BIND_PORT, src_port=0)
        if isinstance(conn, DialError):
            return conn.text
        if conn.dst != world.server_pod or not world.server.running:
            return f"dial tcp {conn.remote_addr}: connect: connection refused"
        return None

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

    def _wall_timeout(self, t: float) -> simpy.Timeout:
        """A timeout at the scenario's instant ``t`` (a pause does not move it later)."""
        timeout = self.env.timeout(max(0.0, t - self.env.now))
        self._wall.add(id(timeout))
        # (forgotten once it fires, so that a later event reusing the id is not taken for it)
        timeout.callbacks.append(lambda ev: self._wall.discard(id(ev)))
        return timeout

    def _at(self, t: float, action: Callable[[], Any]):  # noqa: ANN202 - a SimPy process
        yield self._wall_timeout(t)
        action()

    def _start_later(self, t: float, process: Callable[[], Any]):  # noqa: ANN202
        yield self._wall_timeout(t)
        self.env.process(process())

    def _start_server(self, world: _TrustDomainWorld):  # noqa: ANN202 - a SimPy process
        yield self._wall_timeout(world.spec.server.start)
        server = world.server
        self.net.listen(world.server_pod, server.config.bind_port)
        if server.config.bundle_endpoint_port is not None:
            self.net.listen(world.server_pod, server.config.bundle_endpoint_port)
        self.env.process(server.run())
        yield self.env.timeout(0)
        if not server.running:
            return
        self._serve_endpoints(world, create_entries=True)

    def _serve_endpoints(self, world: _TrustDomainWorld, *, create_entries: bool) -> None:
        """A started server's bundle endpoint, the scenario's entries on its first start, and
        its bundle clients (each start polls at once)."""
        server = world.server
        if server.config.bundle_endpoint_port is not None:
            server.warn_refresh_hint()
            endpoint_fields: dict[str, Any] = {
                "addr": f"0.0.0.0:{server.config.bundle_endpoint_port}"
            }
            if not self.legacy:
                endpoint_fields["refresh_hint"] = format_duration(server.served_refresh_hint())
            server.log.info(self.env.now, "Serving bundle endpoint", **endpoint_fields)
        if create_entries:
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
        if self._kubectl_refused(world):
            return
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
        if self._kubectl_refused(world):
            return
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
        if self._kubectl_refused(world):
            return
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
        sidecar.pooled = sc.trust == "pooled"
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
            base = (
                sidecar.on_update
                if sc.forged_spiffe_id is None
                else self._forging(sidecar, world, sc.forged_spiffe_id)
            )
            wl.on_update = self._delivery(name, sidecar, base)
            wl.agent.subscribe(wl.selectors, wl.on_update)

    def _delivery(
        self, name: str, sidecar: Ghostunnel, base: Callable[[WorkloadUpdate], None]
    ) -> Callable[[WorkloadUpdate], None]:
        """The sidecar's Workload API callback ``base``, recording what the workload holds
        after it."""

        def on_update(update: WorkloadUpdate) -> None:
            base(update)
            svid = sidecar.svid
            self.history.deliveries.append(
                SvidDelivered(
                    self.env.now,
                    name,
                    None if svid is None else str(svid.spiffe_id),
                    None if svid is None else svid.serial_number,
                    tuple(td.name for td in sidecar.bundles.trust_domains()),
                    tuple(
                        (b.trust_domain.name,
                         tuple(x509_authority_id(c) for c in b.x509_authorities))
                        for b in sidecar.bundles
                    ),
                )
            )  # fmt: skip

        return on_update

    def _forging(self, sidecar: Ghostunnel, world: _TrustDomainWorld, spiffe_id: SpiffeID):  # noqa: ANN202
        """Story E4's attacker: on every Workload API update, swap the SVID for a certificate
        claiming ``spiffe_id``, signed with the own server's current CA key (stolen)."""
        forge_rng = rng.stream(self.seed, f"forge/{sidecar.pod.namespace}/{spiffe_id}")
        server = world.server

        def on_update(update) -> None:  # noqa: ANN001 - a WorkloadUpdate
            sidecar.on_update(update)
            if sidecar.svid is not None and server.x509_ca is not None:
                sidecar.svid = ca.forge_x509_svid(
                    server.x509_ca, spiffe_id=spiffe_id, private_key=ca.new_ec_key(forge_rng),
                    ttl=server.config.svid_ttl, now=self.clock.to_datetime(self.env.now),
                    rng=forge_rng,
                )  # fmt: skip

        return on_update

    def _stop_workload(self, name: str) -> None:
        wl = self.workloads[name]
        if wl.pod is None:
            return
        if wl.agent is not None and wl.sidecar is not None:
            wl.agent.unsubscribe(wl.on_update)
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
        self._poke_agents()

    def _clock_skew(self, ev: ClockSkewEvent) -> None:
        self.skews[ev.node] = ev.by
        self.history.skews.append(ClockSkew(self.env.now, ev.node, ev.by))
        if self._network_log is None:
            self._network_log = self.log.logger(
                "network", host="network", component="network", style="plain"
            )
        where = "ahead" if ev.by >= 0 else "behind"
        self._network_log.info(
            self.env.now, f"clock of {ev.node} is now {format_duration(abs(ev.by))} {where}"
        )

    # -- operator actions on authorities, federation and entries; network faults ----------

    def _net_log(self) -> Logger:
        if self._network_log is None:
            self._network_log = self.log.logger(
                "network", host="network", component="network", style="plain"
            )
        return self._network_log

    def _server_down(self, world: _TrustDomainWorld, op: Logger) -> bool:
        """The CLI cannot reach a server that is not running: a stopped one has no pod to exec
        into; a starting one has no API socket yet."""
        if self._kubectl_refused(world):
            return True
        if world.server.running and world.server.bundle is not None:
            return False
        op.error(
            self.env.now,
            'Error: connection error: desc = "transport: error while dialing: dial unix '
            '/tmp/spire-server/private/api.sock: connect: no such file or directory"',
        )
        return True

    def _authority_event(self, ev: AuthorityEvent) -> None:
        world = self.domains[ev.trust_domain]
        server, op, ns = world.server, self._operator_log(), world.spec.namespace
        if ev.do == "localauthority":
            aid = "" if ev.action == "prepare" else server.authority_id(ev.kind, ev.authority)
            flag = f" -authorityID {aid}" if aid else ""
            op.info(self.env.now, f"{ns}$ spire-server localauthority {ev.kind} {ev.action}{flag}")
            if self._server_down(world, op):
                return
            ok, out = server.localauthority(ev.kind, ev.action, aid)
        else:
            ski = server.authority_id("upstream", ev.authority)
            flag = f" -subjectKeyID {ski}" if ski else ""
            op.info(self.env.now, f"{ns}$ spire-server upstreamauthority {ev.action}{flag}")
            if self._server_down(world, op):
                return
            ok, out = server.upstreamauthority(ev.action, ski)
        (op.info if ok else op.error)(self.env.now, out)

    def _upstream_ca_replace(self, ev: UpstreamReplaceEvent) -> None:
        world = self.domains[ev.trust_domain]
        root = self._generate_root(
            ev.root, f"upstream/{ev.trust_domain}/replaced@{ev.at:g}", self.now_datetime()
        )
        world.server.replace_upstream(root)
        self._operator_log().info(
            self.env.now,
            f"{world.spec.namespace}: the disk UpstreamAuthority's cert_file and key_file now "
            f"hold a new CA: {root.certificate.subject.rfc4514_string()}, valid until "
            f"{self.clock.rfc3339(self.clock.to_sim(root.certificate.not_valid_after_utc))}",
        )

    def now_datetime(self) -> datetime:
        return self.clock.to_datetime(self.env.now)

    def _federation_refresh(self, ev: FederationRefreshEvent) -> None:
        world = self.domains[ev.trust_domain]
        op, server = self._operator_log(), world.server
        op.info(
            self.env.now,
            f"{world.spec.namespace}$ spire-server federation refresh -id {ev.peer.id_string()}",
        )
        if self._server_down(world, op):
            return
        client = next((c for c in world.clients if c.relationship.trust_domain == ev.peer), None)
        if client is None:
            # trustdomain/v1 service.go RefreshBundle (NotFound) and cli/federation/refresh.go.
            server.log.error(
                self.env.now,
                f'No relationship with trust domain "{ev.peer.name}"',
                trust_domain_id=ev.peer.name,
            )
            op.error(
                self.env.now,
                "Error: there is no federation relationship with trust domain "
                f'"{ev.peer.id_string()}"',
            )
            return
        error = client.refresh_now()
        if error is None:
            op.info(self.env.now, "Bundle refreshed")
            return
        server.log.error(
            self.env.now, "Failed to refresh bundle", error=error, trust_domain_id=ev.peer.name
        )
        op.error(
            self.env.now,
            "Error: failed to refresh bundle: rpc error: code = Internal desc = failed to "
            f"refresh bundle: {error}",
        )

    def _entry_update(self, ev: EntryUpdateEvent) -> None:
        world = self.domains[ev.trust_domain]
        op, version = self._operator_log(), self.scenario.profile.spire
        olds = [e for e in world.server.entries.list() if e.spiffe_id == ev.spiffe_id]
        if not olds:
            op.error(
                self.env.now,
                f"{world.spec.namespace}$ spire-server entry update: no entry with SPIFFE ID "
                f"{ev.spiffe_id} to update",
            )
            return
        for old in olds:
            entry = RegistrationEntry.build(
                entry_id=old.entry_id,
                spiffe_id=old.spiffe_id,
                parent_id=None if old.node else old.parent_id,
                node=old.node,
                selectors=old.selectors if ev.selectors is None else ev.selectors,
                dns_names=old.dns_names if ev.dns_names is None else ev.dns_names,
                federates_with=(
                    old.federates_with if ev.federates_with is None else ev.federates_with
                ),
                x509_svid_ttl=old.x509_svid_ttl if ev.ttl is None else int(ev.ttl),
            )
            entry = replace(entry, revision_number=old.revision_number)
            op.info(
                self.env.now,
                f"{world.spec.namespace}$ spire-server entry update -entryID {old.entry_id} "
                f"-spiffeID {old.spiffe_id} ...",
            )
            outcome = world.server.update_entry(entry)
            if isinstance(outcome, RegistrationEntry):
                op.info(self.env.now, render_entry(outcome, version=version).rstrip("\n"))
                continue
            # cli/entry/update.go: the failed entries on stderr, then the command fails; the
            # message is Go's %q of the status message.
            quoted = str(outcome).replace("\\", "\\\\").replace('"', '\\"')
            op.error(
                self.env.now,
                f'Failed to update the following entry (code: {outcome.code}, msg: "{quoted}"):\n'
                f"{render_entry(entry, version=version)}"
                "Error: failed to update one or more entries",
            )

    def _bundle_endpoint_event(self, ev: BundleEndpointEvent) -> None:
        world = self.domains[ev.trust_domain]
        port = world.server.config.bundle_endpoint_port
        assert port is not None  # the loader refuses the event otherwise
        pod = world.server_pod
        listening = port in self.net.listening(pod)
        down = ev.do == "bundle_endpoint_down"
        if listening != down:
            state = "not listening" if down else "already listening"
            self._net_log().warn(
                self.env.now,
                f"{ev.do} {ev.trust_domain.name}: {state} on {pod.ip}:{port}; nothing changed",
            )
            return
        if down:
            self.net.unlisten(pod, port)
            what = "down: nothing accepts on"
        else:
            self.net.listen(pod, port)
            what = "up: accepting again on"
        self._net_log().info(
            self.env.now,
            f"bundle endpoint of {ev.trust_domain.name} {what} {pod.ip}:{port}",
        )

    def _dns_failure(self, ev: DnsFailureEvent) -> None:
        self.net.fail_dns(ev.name, mode=ev.mode)
        self._net_log().info(
            self.env.now,
            f"DNS lookups of {ev.name} fail ({ev.mode}) for {format_duration(ev.duration)}",
        )

        def restore() -> None:
            self.net.restore_dns(ev.name)
            self._net_log().info(self.env.now, f"DNS lookups of {ev.name} answer again")

        self.env.process(self._at(self.env.now + ev.duration, restore))

    def _latency(self, ev: LatencyEvent) -> None:
        place = self._place(ev.place)
        if place is None:
            self._net_log().warn(
                self.env.now, f"latency {ev.place}: no pod is running there; nothing changed"
            )
            return
        self.net.set_latency(place, ev.latency)
        self._net_log().info(
            self.env.now,
            f"one-way latency of the link from {ev.place} is now {ev.latency * 1000:g} ms",
        )

    # -- lifecycle faults: servers and agents stop and start, the world pauses -----------------

    def _kubectl_refused(self, world: _TrustDomainWorld) -> bool:
        """An operator's `kubectl exec ... spire-server-0 -- spire-server ...` while the server
        is scaled to zero finds no pod (kubectl's own NotFound text)."""
        if world.server.running:
            return False
        pod = world.server_pod.name
        self._operator_log().error(
            self.env.now, f'Error from server (NotFound): pods "{pod}" not found'
        )
        return True

    def _server_lifecycle(self, ev: ServerLifecycleEvent) -> None:
        world = self.domains[ev.trust_domain]
        server, pod, ns = world.server, world.server_pod, world.spec.namespace
        op = self._operator_log()
        ports = [server.config.bind_port]
        if server.config.bundle_endpoint_port is not None:
            ports.append(server.config.bundle_endpoint_port)
        if ev.do == "server_stop":
            op.info(
                self.env.now, f"{ns}$ kubectl -n {ns} scale statefulset spire-server --replicas=0"
            )
            if ev.datastore == "lost":
                world.datastore_lost = True
            if not server.running:
                return
            server.stop()
            for port in ports:
                self.net.unlisten(pod, port)
            # cmd/spire-server/cli/run/run.go (v0.9.2 and HEAD).
            server.log.info(self.env.now, "Server stopped gracefully")
            server._notify()  # agents find out at their next sync
            return
        lost = world.datastore_lost or ev.datastore == "lost"
        world.datastore_lost = False
        if lost:
            # The StatefulSet's volume claim (the quickstart's spire-data) is gone with its data.
            op.info(self.env.now, f"{ns}$ kubectl -n {ns} delete pvc spire-data-{pod.name}")
        op.info(self.env.now, f"{ns}$ kubectl -n {ns} scale statefulset spire-server --replicas=1")
        if server.running:
            return
        for port in ports:
            self.net.listen(pod, port)
        self.env.process(self._restart_server(world, lost))

    def _restart_server(self, world: _TrustDomainWorld, lost: bool):  # noqa: ANN202
        server = world.server
        self.env.process(server.restart(datastore_lost=lost))
        yield self.env.timeout(0)
        if server.running:
            self._serve_endpoints(world, create_entries=False)

    def _agents_of(self, ev: AgentLifecycleEvent) -> list[SpireAgent]:
        world = self.domains[ev.trust_domain]
        if ev.node is None:
            return [world.agents[n] for n in sorted(world.agents)]
        agent = world.agents.get(ev.node)
        if agent is None:
            self._world_logger().warn(
                self.env.now, f"{ev.do} {ev.trust_domain.name} on {ev.node}: no agent runs "
                "there; nothing changed",
            )  # fmt: skip
            return []
        return [agent]

    def _agent_lifecycle(self, ev: AgentLifecycleEvent) -> None:
        for agent in self._agents_of(ev):
            if ev.do == "agent_stop":
                was_running = agent.running
                agent.stop()  # (also cancels a pending restart after a crash)
                if was_running:
                    # cmd/spire-agent/cli/run/run.go (v0.9.2 and HEAD).
                    agent.log.info(self.env.now, "Agent stopped gracefully")
            elif not agent.running:
                self.env.process(agent.run())

    def _world_logger(self) -> Logger:
        if self._world_log is None:
            self._world_log = self.log.logger(
                "world", host="world", component="world", style="plain"
            )
        return self._world_log

    def _pause(self, ev: PauseEvent) -> None:
        """Suspend everything (a laptop's lid closed): pending timers are delayed by the pause,
        the wall clock is not; at the resume the rotators and agents wake at their next tick."""
        end = self.env.now + ev.duration
        log = self._world_logger()
        log.info(
            self.env.now, f"pause: every process is suspended for {format_duration(ev.duration)}"
        )
        self.env.suspend(ev.duration, self._wall)
        self.env.process(self._at(end, lambda: self._resume(ev)))

    def _resume(self, ev: PauseEvent) -> None:
        self._world_logger().info(
            self.env.now, f"resume: the wall clock moved on {format_duration(ev.duration)}"
        )
        for world in self.domains.values():
            if world.server.running:
                world.server.resume(ev.duration)
            for node in sorted(world.agents):
                agent = world.agents[node]
                if agent.running:
                    agent.resume(ev.duration)

    def _poke_agents(self) -> None:
        """The network changed: agents whose server became (un)reachable find out at their
        next sync."""
        for world in self.domains.values():
            for node in sorted(world.agents):
                world.agents[node].poke()

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

    def _app_logger(self, wl: _WorkloadWorld, what: str) -> Logger:
        assert wl.pod is not None
        return self.log.logger(
            f"{wl.pod.namespace}/{wl.pod.name}/{what}", host=wl.pod.node, component=what,
            trust_domain=wl.spec.trust_domain.name, style="golog",
        )  # fmt: skip

    def _jwt_app(self, token: str | None) -> Callable[[Ghostunnel, float], Rejection | None]:
        """The backend behind a server sidecar checks the bearer token (when its app says
        `jwt:`), at its node's clock."""

        def check(server: Ghostunnel, t: float) -> Rejection | None:
            wl = next((w for w in self.workloads.values() if w.sidecar is server), None)
            if wl is None or wl.spec.app is None or wl.spec.app.jwt is None or wl.pod is None:
                return None
            jwt = wl.spec.app.jwt
            validator = jwt.validator or ("workload_api" if self.legacy else "go-spiffe")
            return validate_bearer(
                token, audience=jwt.audience, validator=validator, agent=wl.agent,
                selectors=wl.selectors, log=self._app_logger(wl, "app"), t=t,
                skew=self.skews.get(wl.pod.node),
            )  # fmt: skip

        return check

    def _curl(self, name: str):  # noqa: ANN202 - a SimPy process
        wl = self.workloads[name]
        traffic = wl.spec.traffic
        assert traffic is not None
        yield self._wall_timeout(traffic.start)
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
                token: str | None = None
                if traffic.jwt is not None:
                    got = fetch_token(wl.agent, wl.selectors, traffic.jwt.audience,
                                      self._app_logger(wl, "client"), self.env.now)  # fmt: skip
                    if isinstance(got, str):
                        self.requests.append(
                            RequestRecord(self.env.now, name, False, "jwt_fetch", 0, (got,))
                        )
                        yield self.env.timeout(traffic.every)
                        continue
                    token = got.token
                out: RequestOutcome = request(
                    self.env, wl.sidecar, self.net.dial, self._sidecar_at, curl, self.clock,
                    self.cache, self.skews.get, app=self._jwt_app(token),
                )  # fmt: skip
                self.requests.append(RequestRecord.of(self.env.now, name, out))
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
            AuthorityEvent: self._authority_event,
            UpstreamReplaceEvent: self._upstream_ca_replace,
            FederationRefreshEvent: self._federation_refresh,
            EntryUpdateEvent: self._entry_update,
            BundleEndpointEvent: self._bundle_endpoint_event,
            DnsFailureEvent: self._dns_failure,
            LatencyEvent: self._latency,
            ServerLifecycleEvent: self._server_lifecycle,
            AgentLifecycleEvent: self._agent_lifecycle,
            PauseEvent: self._pause,
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
            history=self.history,
            workloads={
                name: WorkloadState(name, wl.pod, wl.sidecar, wl.agent, wl.selectors)
                for name, wl in self.workloads.items()
            },
        )
