"""A scenario is the YAML description of one run (trust domains, servers, agents, entries,
workloads and a timeline of events), read into frozen, validated dataclasses.

Every mistake is reported with its ``file:line:col`` and all of them at once; nothing a user
can type makes the loader raise anything but :class:`ScenarioError`.

>>> sc = load_scenario(builtin_scenario_path("seed"))
>>> sc.name, sc.profile.spire, [str(td.trust_domain) for td in sc.trust_domains]
('seed-federation', '0.9', ['foo.example.com', 'bar.example.com'])
>>> sc.domain("foo.example.com").server.ca_ttl, sc.workload("client").sidecar.mode
(86400.0, 'client')
>>> text = "name: demo\\nstart: 2019-12-17T00:00:00Z\\nduraton: 1h\\ncluster: []\\n"
>>> try:
...     parse_scenario(text, "demo.yaml")
... except ScenarioError as exc:
...     print(exc)
demo.yaml:1:1: missing required key "duration"
demo.yaml:1:1: missing required key "trust_domains"
demo.yaml:3:1: unknown key "duraton" (did you mean "duration"?)
demo.yaml:4:10: expected a mapping, got []
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar
from urllib.parse import urlsplit

import yaml
from yaml.events import MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from sim.clock import Clock, ClockError, human_duration, parse_datetime, parse_duration
from sim.network import NetworkError, Taint, Toleration
from sim.profiles import SPIRE_VERSIONS, spire_profile
from sim.registration import Selector
from sim.spiffeid import SpiffeID, SpiffeIDError, TrustDomain

__all__ = [
    "UpstreamReplaceEvent",
    "LatencyEvent",
    "FederationRefreshEvent",
    "EntryUpdateEvent",
    "DnsFailureEvent",
    "BundleEndpointEvent",
    "AuthorityEvent",
    "AGENT_SYNC_INTERVAL",
    "Agent",
    "BundleEndpoint",
    "DEFAULT_SERVING_CERT_TTL",
    "BundleSetEvent",
    "CFSSL_CA_TTL",
    "Cluster",
    "DEFAULT_BUNDLE_ENDPOINT_PORT",
    "DEFAULT_CLUSTER_DOMAIN",
    "DEFAULT_POD_SUBNET",
    "DEFAULT_SERVICE_SUBNET",
    "Link",
    "DEFAULT_CA_TTL",
    "DEFAULT_SVID_TTL",
    "DiskUpstreamAuthority",
    "BundleExpectation",
    "ClockSkewEvent",
    "Entry",
    "Expectation",
    "LogExpectation",
    "NetworkEvent",
    "RequestsExpectation",
    "Window",
    "apply_overrides",
    "EntryCreateEvent",
    "EntryDeleteEvent",
    "Event",
    "FederationRelationship",
    "GeneratedRoot",
    "HostPort",
    "HttpServerApp",
    "JWTCheck",
    "JWTTraffic",
    "JWT_VALIDATORS",
    "Node",
    "Problem",
    "Profile",
    "Scenario",
    "ScenarioError",
    "Server",
    "ServingCert",
    "Service",
    "Sidecar",
    "Traffic",
    "TrustDomainSpec",
    "WebAuthority",
    "Workload",
    "WorkloadRestartEvent",
    "ServerLifecycleEvent",
    "AgentLifecycleEvent",
    "PauseEvent",
    "builtin_scenario_path",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
]

# --- SPIRE's defaults (reference/spire-facts.md sections 1.1, 2 and 4) -------------------------

DEFAULT_CA_TTL = 24 * 3600.0  # ca_ttl (credtemplate.DefaultX509CATTL)
DEFAULT_SVID_TTL = 3600.0  # default_x509_svid_ttl (credtemplate.DefaultX509SVIDTTL)
DEFAULT_BUNDLE_ENDPOINT_PORT = 8443
# A serving certificate's lifetime when the scenario does not say (ACME certificates: 90 days).
DEFAULT_SERVING_CERT_TTL = 90 * 86400.0
AGENT_SYNC_INTERVAL = 5.0  # the agent's sync ticker; not configurable (yet)
# cfssl's default CA expiry ("43800h", five years): what `cfssl gencert -initca` gives a root.
CFSSL_CA_TTL = 43800 * 3600.0
# kubeadm's defaults: the cluster DNS domain and the service subnet; kind's pod subnet.
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_POD_SUBNET = "10.244.0.0/16"
DEFAULT_SERVICE_SUBNET = "10.96.0.0/12"
# kubeadm (k8s 1.17) taints the control plane so; sim.network applies the same default.
_MASTER_TAINT = "node-role.kubernetes.io/master:NoSchedule"

SPIRE_PROFILES = SPIRE_VERSIONS  # sim.profiles: one profile per SPIRE release line
GHOSTUNNEL_PROFILES = ("1.5.2", "latest")

# Guards against hostile input: deeper YAML is refused before it is composed (PyYAML's composer
# recurses), and error messages never render more than a few levels of a value.
_MAX_DEPTH = 64
_SHOW_LIMIT = 60


# --- problems --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One mistake at a 1-based ``line`` and ``col`` of ``file`` (0, 0: the whole file)."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; ``problems`` lists every mistake, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[tuple[Problem, ...]]]:
        return (type(self), (self.problems,))


# --- the validated tree ----------------------------------------------------------------------
# Built by the loader, which validates everything; ``line`` is where the item starts in the
# file (for later messages) and takes no part in equality.


def _line() -> int:
    return field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Which product versions the run imitates: their behaviour and their message texts."""

    spire: str = "1.x"  # one of sim.profiles.SPIRE_VERSIONS
    ghostunnel: Literal["1.5.2", "latest"] = "latest"


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A kind node. ``taints`` are resolved: a control plane without ``taints`` gets kubeadm's
    ``node-role.kubernetes.io/master:NoSchedule``, a worker none."""

    name: str
    control_plane: bool = False
    taints: tuple[Taint, ...] = ()
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """A Kubernetes (kind) cluster: its nodes, DNS domain and pod and Service ranges.

    ``linked`` is False for the one-cluster shorthand (``cluster:``, on the docker bridge) and
    True for the clusters of ``clusters:``, each a site of its own that reaches the others only
    through ``links:``."""

    name: str
    nodes: tuple[Node, ...]
    domain: str = DEFAULT_CLUSTER_DOMAIN
    pod_subnet: str = DEFAULT_POD_SUBNET
    service_subnet: str = DEFAULT_SERVICE_SUBNET
    linked: bool = False
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A routed link between clusters ``a`` and ``b``: one-way ``latency`` (seconds) and the
    chance ``loss`` that a connection attempt across it is lost."""

    a: str
    b: str
    latency: float
    loss: float = 0.0
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedRoot:
    """A root CA made like ``cfssl gencert -initca`` from a CSR with these names."""

    common_name: str
    country: str = "JP"
    locality: str = "Tokyo"
    organization: str = "SPIRE"
    organizational_unit: str = "CA"
    ttl: float = CFSSL_CA_TTL


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskUpstreamAuthority:
    """SPIRE's ``disk`` UpstreamAuthority: files (absolute paths) or a generated root.

    Exactly one of ``cert_file`` + ``key_file`` or ``generate`` is set. ``ttl`` is the
    plugin's TTL for SPIRE's intermediate, resolved to the server's ``ca_ttl`` when not given.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    bundle_file: Path | None = None
    generate: GeneratedRoot | None = None
    ttl: float = DEFAULT_CA_TTL


@dataclass(frozen=True, slots=True, kw_only=True)
class WebAuthority:
    """A Web PKI CA the scenario defines (``web_pki: authorities:``), made like a cfssl root."""

    name: str
    root: GeneratedRoot
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingCert:
    """``serving_cert_file`` of an https_web endpoint: issued by a Web PKI authority."""

    authority: str
    dns_names: tuple[str, ...]
    ttl: float = DEFAULT_SERVING_CERT_TTL


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleEndpoint:
    """The server's own bundle endpoint: ``https_spiffe`` (served with its server SVID, the
    default) or ``https_web`` (served with ``serving_cert``)."""

    port: int = DEFAULT_BUNDLE_ENDPOINT_PORT
    profile: Literal["https_spiffe", "https_web"] = "https_spiffe"
    serving_cert: ServingCert | None = None
    # federation.bundle_endpoint.refresh_hint (SPIRE 1.8+); None: the version's default.
    refresh_hint: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FederationRelationship:
    """Where and how a server fetches a peer's bundle (``federates_with "<td>" {...}``)."""

    trust_domain: TrustDomain
    address: str
    port: int = DEFAULT_BUNDLE_ENDPOINT_PORT
    profile: Literal["https_spiffe", "https_web"] = "https_spiffe"
    endpoint_spiffe_id: SpiffeID | None = None  # https_spiffe only
    line: int = _line()

    @property
    def url(self) -> str:
        """``https://<address>:<port>``, as SPIRE dials it."""
        return f"https://{self.address}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """A SPIRE server's configuration; times are seconds (``start`` from the run's start)."""

    start: float = 0.0
    ca_ttl: float = DEFAULT_CA_TTL
    svid_ttl: float = DEFAULT_SVID_TTL
    upstream_authority: DiskUpstreamAuthority | None = None
    upstream_bundle: bool = True
    bundle_endpoint: BundleEndpoint | None = None
    federates_with: tuple[FederationRelationship, ...] = ()
    # Names of the Web PKI authorities in this server's system trust store (https_web
    # clients); None means every authority the scenario defines.
    web_roots: tuple[str, ...] | None = None
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    """The trust domain's SPIRE agents (a DaemonSet: the model places one per admitting node)."""

    start: float = 0.0
    # availability_target (SPIRE 1.9+): rotate X509-SVIDs when this much lifetime is left.
    availability_target: float | None = None
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """A registration entry. ``parent_id`` is resolved (a node entry's parent is the server,
    ``spiffe://<td>/spire/server``) and so is ``ttl`` (absent or 0: the server's svid_ttl)."""

    spiffe_id: SpiffeID
    parent_id: SpiffeID
    selectors: tuple[Selector, ...]
    node: bool = False
    dns_names: tuple[str, ...] = ()
    federates_with: tuple[TrustDomain, ...] = ()
    ttl: float = DEFAULT_SVID_TTL
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustDomainSpec:
    """One trust domain: its namespace, server, agents and initial registration entries."""

    trust_domain: TrustDomain
    namespace: str
    # The cluster its server, agents and workloads run in ("": the scenario's only cluster).
    cluster: str = ""
    tolerations: tuple[Toleration, ...] = ()
    server: Server = field(default_factory=Server)
    agent: Agent | None = None
    entries: tuple[Entry, ...] = ()
    line: int = _line()


@dataclass(frozen=True, slots=True)
class HostPort:
    """``host:port`` as ghostunnel's ``--listen`` and ``--target`` take it."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class JWTCheck:
    """The server app requires a JWT-SVID bearer token for ``audience``, validated by
    ``validator``: "go-spiffe" (the app, against its Workload API JWT bundles) or
    "workload_api" (the agent's ValidateJWTSVID); None: the profile's (0.9: workload_api)."""

    audience: str
    validator: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpServerApp:
    """``python -m http.server <port>``: answers GET with a directory listing; with ``jwt``,
    only requests bearing a valid JWT-SVID (go-spiffe's spiffe-jwt example server)."""

    port: int
    jwt: JWTCheck | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JWTTraffic:
    """Each request carries ``Authorization: Bearer`` a JWT-SVID for ``audience``, fetched
    from the Workload API (the agent's cache renews it at half-life)."""

    audience: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Sidecar:
    """A ghostunnel sidecar fed by the Workload API; ``allow_uris`` (server mode) and
    ``verify_uris`` (client mode) are its ``--allow-uri`` / ``--verify-uri`` flags."""

    mode: Literal["server", "client"]
    listen: HostPort
    target: HostPort
    allow_uris: tuple[SpiffeID, ...] = ()
    verify_uris: tuple[SpiffeID, ...] = ()
    unsafe_listen: bool = False
    # "per_trust_domain" (go-spiffe) or the UNSAFE "pooled" (one root pool for all domains).
    trust: str = "per_trust_domain"
    # An attacker holding its trust domain's CA key presents this ID instead of its SVID.
    forged_spiffe_id: SpiffeID | None = None
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """A Kubernetes Service selecting the workload's pods: ``port`` -> ``target_port``."""

    name: str
    port: int
    target_port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """``curl <url>`` from inside the pod every ``every`` seconds from ``start`` on."""

    curl: str
    every: float
    start: float
    jwt: JWTTraffic | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A pod of a trust domain's namespace, with its app, sidecar, Service and traffic."""

    name: str
    trust_domain: TrustDomain
    start: float = 0.0
    cluster: str = ""  # always its trust domain's cluster ("": the scenario's only cluster)
    labels: tuple[tuple[str, str], ...] = ()
    app: HttpServerApp | None = None
    sidecar: Sidecar | None = None
    service: Service | None = None
    traffic: Traffic | None = None
    line: int = _line()

    def label(self, key: str) -> str | None:
        """The value of label ``key``, or None."""
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleSetEvent:
    """``spire-server bundle set --id spiffe://<peer>`` on ``trust_domain``'s server, with the
    CA certificate of ``ca_of`` (the peer unless the operator picked the wrong file)."""

    do: ClassVar[str] = "bundle_set"
    at: float
    trust_domain: TrustDomain
    peer: TrustDomain
    ca_of: TrustDomain
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryDeleteEvent:
    """``spire-server entry delete`` of the entries with ``spiffe_id`` on that server."""

    do: ClassVar[str] = "entry_delete"
    at: float
    trust_domain: TrustDomain
    spiffe_id: SpiffeID
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryCreateEvent:
    """``spire-server entry create`` on ``trust_domain``'s server."""

    do: ClassVar[str] = "entry_create"
    at: float
    trust_domain: TrustDomain
    entry: Entry
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadRestartEvent:
    """The workload's pod is deleted and created again (a redeploy)."""

    do: ClassVar[str] = "workload_restart"
    at: float
    workload: str
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkEvent:
    """A network fault or its repair: ``partition`` drops all traffic between two places,
    ``heal`` restores it. A place is a node, a cluster, a trust domain (its pods running at
    that instant), a SPIRE server (``<namespace>/spire-server``) or a workload's pod
    (``<namespace>/<workload>``)."""

    do: str  # "partition" | "heal"
    at: float
    between: tuple[str, str]
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockSkewEvent:
    """From ``at`` on, ``node``'s clock is off by ``by`` seconds (negative: behind); what runs
    there judges certificate validity by that clock."""

    do: ClassVar[str] = "clock_skew"
    at: float
    node: str
    by: float
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorityEvent:
    """``spire-server localauthority <kind> <action>`` or ``upstreamauthority <action>`` on
    ``trust_domain``'s server. ``authority`` is an authority ID (an X.509 SKI in hex, a JWT key
    ID) or a slot: ``current``, or ``old`` / ``prepared`` / ``next`` (all three: the slot that
    is not current; SPIRE checks its status); empty for ``prepare``."""

    do: str  # "localauthority" | "upstreamauthority"
    at: float
    trust_domain: TrustDomain
    kind: str  # "x509" | "jwt"
    action: str  # prepare | activate | taint | revoke
    authority: str = ""
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLifecycleEvent:
    """``server_stop``: ``trust_domain``'s SPIRE server process stops (its ports refuse
    connections, nothing rotates); ``server_start``: it starts again. ``datastore`` says what
    the start finds: ``kept`` (same CA, keys and entries) or ``lost`` (the data directory is
    gone: a new CA, no entries, no federated bundles)."""

    do: str  # "server_stop" | "server_start"
    at: float
    trust_domain: TrustDomain
    datastore: str = "kept"
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamReplaceEvent:
    """The disk UpstreamAuthority's cert and key files are replaced by a new root (made like
    the generated roots); SPIRE uses it at its next X.509 CA preparation."""

    do: ClassVar[str] = "upstream_ca_replace"
    at: float
    trust_domain: TrustDomain
    root: GeneratedRoot
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLifecycleEvent:
    """``agent_stop`` / ``agent_start``: the SPIRE agent of ``trust_domain`` on ``node`` (every
    agent of the trust domain when None) stops or starts again; workloads keep the SVIDs they
    were last sent."""

    do: str  # "agent_stop" | "agent_start"
    at: float
    trust_domain: TrustDomain
    node: str | None = None
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class FederationRefreshEvent:
    """``spire-server federation refresh -id spiffe://<peer>`` on ``trust_domain``'s server."""

    do: ClassVar[str] = "federation_refresh"
    at: float
    trust_domain: TrustDomain
    peer: TrustDomain
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleEndpointEvent:
    """``bundle_endpoint_down``: the server's bundle endpoint stops listening (its port is
    closed, the server keeps running); ``bundle_endpoint_up`` opens it again."""

    do: str  # "bundle_endpoint_down" | "bundle_endpoint_up"
    at: float
    trust_domain: TrustDomain
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsFailureEvent:
    """Lookups of the DNS name ``name`` (fully qualified) fail for ``duration`` seconds:
    ``nxdomain`` (no such host), ``servfail`` (server misbehaving) or ``timeout``."""

    do: ClassVar[str] = "dns_failure"
    at: float
    name: str
    duration: float
    mode: str = "nxdomain"
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyEvent:
    """From ``at`` on, the link from ``place`` (a node, the cluster, a server or workload pod)
    to its parent has this one-way latency, in seconds."""

    do: ClassVar[str] = "latency"
    at: float
    place: str
    latency: float
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryUpdateEvent:
    """``spire-server entry update`` of the entries with ``spiffe_id``: the fields given
    replace the entry's (None: unchanged); agents pick the change up at their next sync."""

    do: ClassVar[str] = "entry_update"
    at: float
    trust_domain: TrustDomain
    spiffe_id: SpiffeID
    selectors: tuple[Selector, ...] | None = None
    federates_with: tuple[TrustDomain, ...] | None = None
    dns_names: tuple[str, ...] | None = None
    ttl: float | None = None
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseEvent:
    """The whole world is suspended (a laptop asleep) from ``at`` for ``duration`` seconds:
    no process runs, then everything resumes with the wall clock moved on."""

    do: ClassVar[str] = "pause"
    at: float
    duration: float
    line: int = _line()


Event: TypeAlias = (
    BundleSetEvent
    | EntryDeleteEvent
    | EntryCreateEvent
    | WorkloadRestartEvent
    | NetworkEvent
    | ClockSkewEvent
    | AuthorityEvent
    | UpstreamReplaceEvent
    | FederationRefreshEvent
    | BundleEndpointEvent
    | DnsFailureEvent
    | LatencyEvent
    | EntryUpdateEvent
    | ServerLifecycleEvent
    | AgentLifecycleEvent
    | PauseEvent
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """When an expectation looks: ``[start, end]`` in seconds (None: open). ``at`` picks the
    first request at or after an instant, or the state at that instant."""

    start: float | None = None
    end: float | None = None
    at: float | None = None

    def contains(self, t: float) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t <= self.end)

    def describe(self) -> str:
        from sim.clock import human_duration

        if self.at is not None:
            return f"at {human_duration(self.at)}"
        if self.start is not None and self.end is not None:
            return f"during {human_duration(self.start)}..{human_duration(self.end)}"
        if self.start is not None:
            return f"after {human_duration(self.start)}"
        if self.end is not None:
            return f"before {human_duration(self.end)}"
        return "over the whole run"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestsExpectation:
    """Every request from ``workload`` in the window (or the first at ``at``) has ``result``:
    "ok", "failed", or a text one of the products printed about it (substring, or equal with
    ``exact``)."""

    window: Window
    workload: str
    result: str
    exact: bool = False
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class LogExpectation:
    """Log records matching the filter in the window: present (default), absent, or counted."""

    window: Window
    component: str | None = None
    instance: str | None = None
    workload: str | None = None
    trust_domain: str | None = None
    level: str | None = None
    msg: str | None = None
    contains: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    count_min: int = 1
    count_max: int | None = None
    line: int = _line()


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleExpectation:
    """At ``at``, the bundle of ``of`` as ``held_by``'s server holds it (its own when they are
    the same) has these authority counts (None: not checked)."""

    at: float
    of: TrustDomain
    held_by: TrustDomain
    x509_authorities: int | None = None
    jwt_authorities: int | None = None
    line: int = _line()


Expectation: TypeAlias = RequestsExpectation | LogExpectation | BundleExpectation


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario. ``start`` is a UTC instant; every other time is seconds from it.
    ``events`` are in time order (ties keep file order)."""

    name: str
    description: str = ""
    start: datetime
    duration: float
    seed: int = 1
    profile: Profile = field(default_factory=Profile)
    cluster: Cluster  # the first (or only) cluster; see ``clusters``
    trust_domains: tuple[TrustDomainSpec, ...]
    workloads: tuple[Workload, ...] = ()
    events: tuple[Event, ...] = ()
    web_authorities: tuple[WebAuthority, ...] = ()
    expect: tuple[Expectation, ...] = ()
    source: str = field(default="<string>", compare=False)
    # Every cluster, in file order (``(cluster,)`` when built without it), and their links.
    clusters: tuple[Cluster, ...] = ()
    links: tuple[Link, ...] = ()

    def __post_init__(self) -> None:
        if not self.clusters:
            object.__setattr__(self, "clusters", (self.cluster,))

    def cluster_named(self, name: str) -> Cluster:
        """The cluster ``name`` ("" is the first one); KeyError if none."""
        if not name:
            return self.clusters[0]
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(name)

    def cluster_of(self, item: TrustDomainSpec | Workload) -> Cluster:
        """The cluster a trust domain or workload runs in."""
        if isinstance(item, Workload):
            return self.cluster_named(item.cluster or self.domain(item.trust_domain).cluster)
        return self.cluster_named(item.cluster)

    def domain(self, name: str | TrustDomain) -> TrustDomainSpec:
        """The trust domain ``name`` (``foo.example.com`` or a TrustDomain); KeyError if none."""
        for spec in self.trust_domains:
            if spec.trust_domain.name == str(name):
                return spec
        raise KeyError(str(name))

    def workload(self, name: str) -> Workload:
        """The workload ``name``; KeyError if none."""
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise KeyError(name)

    def clock(self) -> Clock:
        """A clock anchored at the scenario's start."""
        return Clock(self.start)


# --- loading ---------------------------------------------------------------------------------


def load_scenario(path: str | PathLike[str]) -> Scenario:
    """Read and validate the scenario file at ``path``; relative files it names (upstream CA
    certificates and keys) resolve against its folder. Raises :class:`ScenarioError`."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError([Problem(name, 0, 0, f"cannot read scenario: {reason}")]) from None
    return parse_scenario(data, name, base_dir=Path(path).parent)


def parse_scenario(
    text: str | bytes, filename: str = "<string>", *, base_dir: str | PathLike[str] | None = None
) -> Scenario:
    """Validate the scenario in ``text`` (YAML; bytes must be UTF-8). ``filename`` names it in
    messages; relative file paths resolve against ``base_dir`` (default: the current folder).
    Raises :class:`ScenarioError` listing every problem found."""
    reader = _Reader(filename, Path(base_dir) if base_dir is not None else Path.cwd())
    root = reader.compose(text)
    scenario = reader.scenario(root) if root is not None else None
    if reader.problems or scenario is None:
        raise ScenarioError(sorted(set(reader.problems)))
    return scenario


def apply_overrides(text: str, overrides: Sequence[str], filename: str = "<string>") -> str:
    """The scenario ``text`` with ``key.path=value`` overrides applied (``--set``), as YAML.

    The path walks mappings by key (keys may contain dots, like trust domain names: the longest
    key that fits wins) and lists by index; the value is read as YAML (``12h``, ``5``,
    ``[a, b]``). A path that does not exist may only add a last key to an existing mapping.
    Raises :class:`ScenarioError` naming the override at fault.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(filename, 0, 0, f"cannot apply --set: {exc}")]) from None
    for item in overrides:
        where = f"--set {item}"
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ScenarioError([Problem(where, 0, 0, "expected key.path=value")])
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node, rest = data, path
        while True:
            if isinstance(node, dict):
                keys = sorted((str(k) for k in node), key=len, reverse=True)
                key = next((k for k in keys if rest == k or rest.startswith(k + ".")), None)
                if key is None:
                    if "." in rest:
                        raise ScenarioError([Problem(
                            where, 0, 0, f'no key "{rest.split(".")[0]}" here '
                            f"(expected one of: {', '.join(sorted(keys))})")])  # fmt: skip
                    node[rest] = value
                    break
                if rest == key:
                    node[key] = value
                    break
                node, rest = node[key], rest[len(key) + 1 :]
            elif isinstance(node, list):
                index, _, after = rest.partition(".")
                if not index.isdigit() or int(index) >= len(node):
                    raise ScenarioError([Problem(
                        where, 0, 0, f'"{index}" is not an index of this list (0..{len(node) - 1})'
                    )])  # fmt: skip
                if not after:
                    node[int(index)] = value
                    break
                node, rest = node[int(index)], after
            else:
                raise ScenarioError([Problem(where, 0, 0, f'"{rest}" goes below a plain value')])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def builtin_scenarios() -> tuple[str, ...]:
    """Names of the scenarios shipped in the package (``seed``, ...)."""
    folder = resources.files("sim").joinpath("data", "scenarios")
    return tuple(
        sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


def builtin_scenario_path(name: str) -> Path:
    """The file of the shipped scenario ``name`` (``sim/data/scenarios/<name>.yaml``)."""
    available = builtin_scenarios()
    if name not in available:
        message = f"no built-in scenario {_q(name)} (available: {', '.join(available)})"
        raise ScenarioError([Problem("<builtin>", 0, 0, message)])
    return Path(str(resources.files("sim").joinpath("data", "scenarios", f"{name}.yaml")))


# --- rendering helpers -----------------------------------------------------------------------


def _q(text: str) -> str:
    """A double-quoted string (Go's %q for printable text)."""
    return json.dumps(text, ensure_ascii=False)


_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_TAGS: dict[type, frozenset[str]] = {
    ScalarNode: frozenset(
        f"tag:yaml.org,2002:{t}"
        for t in ("str", "int", "float", "bool", "null", "timestamp", "merge")
    ),
    SequenceNode: frozenset({"tag:yaml.org,2002:seq"}),
    MappingNode: frozenset({"tag:yaml.org,2002:map"}),
}
_PLAIN_WORD = re.compile(r"[\w.\-/:@]+")


def _show(node: YamlNode, depth: int = 0) -> str:
    """A short flow-style rendering of ``node`` for messages (``[1, 2]``, ``"abc"``, ``null``).

    Bounded whatever the input: three levels and four items per collection at most, so that
    recursive aliases and huge lists cost nothing.
    """
    if isinstance(node, ScalarNode):
        if node.tag == _NULL_TAG and node.value in ("", "~"):
            return "null"
        if node.tag == _STR_TAG and (
            depth == 0 or node.style is not None or not _PLAIN_WORD.fullmatch(node.value)
        ):
            return _clip(_q(node.value))
        return _clip(node.value)
    if depth >= 3:
        return "..."
    items = node.value if isinstance(node.value, list) else []
    if isinstance(node, SequenceNode):
        parts = [_show(item, depth + 1) for item in items[:4]]
        opening, closing = "[", "]"
    else:
        parts = [f"{_show(k, depth + 1)}: {_show(v, depth + 1)}" for k, v in items[:4]]
        opening, closing = "{", "}"
    if len(items) > 4:
        parts.append("...")
    return _clip(opening + ", ".join(parts) + closing)


def _clip(text: str) -> str:
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


def _choices(options: Sequence[str]) -> str:
    quoted = [_q(o) for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _did_you_mean(word: str, options: Sequence[str], expected: str) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    if close:
        return f"did you mean {_q(close[0])}?"
    return expected


# --- name syntax -----------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_HOST_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*\.?")
_DNS_NAME = re.compile(rf"(\*\.)?{_HOST_LABEL}(\.{_HOST_LABEL})*")

_LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"


def _parse_selector(text: str) -> Selector:
    """SPIRE's selector parsing; its texts name the selector only when the format is wrong."""
    try:
        return Selector.parse(text)
    except ValueError as exc:
        message = str(exc)
        if text not in message:
            message = f"invalid selector {_q(text)}: {message}"
        raise ValueError(message) from None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return len(host) <= 253 and bool(_HOSTNAME.fullmatch(host))
    return True


def _parse_host_port(text: str) -> HostPort:
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not port.isascii():
        raise ValueError(f'invalid address {_q(text)}: expected "host:port"')
    if not _valid_host(host):
        raise ValueError(f"invalid address {_q(text)}: bad host {_q(host)}")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"invalid address {_q(text)}: port must be between 1 and 65535")
    return HostPort(host, int(port))


# --- the reader ------------------------------------------------------------------------------

T = TypeVar("T")
# A value that failed validation (its problem is already reported). Typed Any so that it can
# stand in for any field while the walk goes on; no Scenario is built once a problem exists.
_BAD: Any = object()
# How a sidecar judges peers: go-spiffe's per-trust-domain bundles, or the UNSAFE root pool.
SIDECAR_TRUST = ("per_trust_domain", "pooled")
# Who validates a JWT-SVID at a server app (sim.jwtclient.VALIDATORS).
JWT_VALIDATORS = ("go-spiffe", "workload_api")


class _Map:
    """A mapping node's known keys: value nodes and key nodes (for positions)."""

    __slots__ = ("keys", "node", "values")

    def __init__(self, node: MappingNode) -> None:
        self.node = node
        self.values: dict[str, YamlNode] = {}
        self.keys: dict[str, YamlNode] = {}

    def get(self, key: str) -> YamlNode | None:
        return self.values.get(key)


_TOP_KEYS = (
    "name", "description", "start", "duration", "seed", "profile", "web_pki", "cluster",
    "clusters", "links", "trust_domains", "workloads", "events", "expect",
)  # fmt: skip
_CLUSTER_KEYS = ("domain", "pod_subnet", "service_subnet", "nodes")
_LINK_KEYS = ("between", "latency", "loss")
_EXPECT_KEYS = (
    "at", "during", "after", "before", "requests", "result", "match", "log", "count", "absent",
    "bundle",
)  # fmt: skip
_ENDPOINT_PROFILES = ("https_spiffe", "https_web")
_HTTPS_WEB_NEEDS_1X = (
    'https_web needs profile spire "1.7" or later (SPIRE of December 2019 authenticated '
    "bundle endpoints with SPIFFE only)"
)
_TOP_REQUIRED = ("name", "start", "duration", "trust_domains")  # and cluster or clusters
_TOP_SHOWN = ("name", "start", "duration", "cluster", "trust_domains")
_EVENT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # do: (keys, required keys) besides "at" and "do"
    "bundle_set": (("trust_domain", "peer", "ca_of"), ("trust_domain", "peer")),
    "entry_delete": (("trust_domain", "spiffe_id"), ("trust_domain", "spiffe_id")),
    "entry_create": (("trust_domain", "entry"), ("trust_domain", "entry")),
    "workload_restart": (("workload",), ("workload",)),
    "partition": (("between",), ("between",)),
    "clock_skew": (("node", "by"), ("node", "by")),
    "heal": (("between",), ("between",)),
    "server_stop": (("trust_domain", "datastore"), ("trust_domain",)),
    "server_start": (("trust_domain", "datastore"), ("trust_domain",)),
    "agent_stop": (("trust_domain", "node"), ("trust_domain",)),
    "agent_start": (("trust_domain", "node"), ("trust_domain",)),
    "pause": (("for",), ("for",)),
    "localauthority": (
        ("trust_domain", "kind", "action", "authority"),
        ("trust_domain", "kind", "action"),
    ),
    "upstreamauthority": (("trust_domain", "action", "authority"), ("trust_domain", "action")),
    "upstream_ca_replace": (("trust_domain", "generate"), ("trust_domain", "generate")),
    "federation_refresh": (("trust_domain", "peer"), ("trust_domain", "peer")),
    "bundle_endpoint_down": (("trust_domain",), ("trust_domain",)),
    "bundle_endpoint_up": (("trust_domain",), ("trust_domain",)),
    "dns_failure": (("name", "for", "mode"), ("name", "for")),
    "latency": (("place", "latency"), ("place", "latency")),
    "entry_update": (
        ("trust_domain", "spiffe_id", "selectors", "federates_with", "dns_names", "ttl"),
        ("trust_domain", "spiffe_id"),
    ),
}
# SPIRE releases that brought a command, for the loader's refusals (spire tags: the
# localauthority/upstreamauthority CLI appears in v1.11.0, `federation refresh` in v1.1.0).
_LOCALAUTHORITY_PROFILES = ("1.x",)
_OPERATOR_EVENTS = (
    "localauthority", "upstreamauthority", "upstream_ca_replace", "federation_refresh",
    "bundle_endpoint_down", "bundle_endpoint_up", "entry_update",
)  # fmt: skip
_FEDERATION_REFRESH_PROFILES = ("1.7", "1.8", "1.9", "1.x")
_DATASTORE = ("kept", "lost")
_ALL_EVENT_KEYS = ("at", "do", *sorted({k for keys, _ in _EVENT_KEYS.values() for k in keys}))


class _Reader:
    """Walks the composed YAML nodes along the schema, collecting problems as it goes."""

    def __init__(self, filename: str, base_dir: Path) -> None:
        self.filename = filename
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._bad_tags: set[int] = set()  # ids of nodes (kept alive by the tree)
        # Filled as the walk proceeds, for cross references.
        self.domain_names: list[str] = []
        self.domain_ttls: dict[str, float] = {}
        self.domain_clusters: dict[str, str] = {}
        self.workload_names: list[str] = []
        self.web_authority_names: list[str] = []
        self.places: set[str] = set()
        self.node_names: set[str] = set()
        self.clusters: dict[str, Cluster] = {}  # loaded clusters by name
        self.run_duration: float | None = None
        self.spire_version: str | None = None
        self.domain_specs: dict[str, Any] = {}  # trust domain name -> its spec

    # -- reporting and composing --

    def report(self, node: YamlNode, message: str) -> None:
        if id(node) in self._bad_tags:  # its tag is the problem, already reported
            return
        mark = node.start_mark
        self.problems.append(Problem(self.filename, mark.line + 1, mark.column + 1, message))

    def _report_at(self, line: int, col: int, message: str) -> None:
        self.problems.append(Problem(self.filename, line, col, message))

    def compose(self, text: str | bytes) -> YamlNode | None:
        """The root node, or None (with a problem) for undecodable, malformed or empty input."""
        if isinstance(text, bytes | bytearray):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                before = bytes(text)[: exc.start]
                line = before.count(b"\n") + 1
                col = exc.start - (before.rfind(b"\n") + 1) + 1
                bad = bytes(text)[exc.start]
                self._report_at(line, col, f"not UTF-8 text: cannot decode byte 0x{bad:02x}")
                return None
        text = text.removeprefix("\ufeff")
        try:
            depth = 0
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                if isinstance(event, MappingStartEvent | SequenceStartEvent):
                    depth += 1
                    if depth > _MAX_DEPTH:
                        mark = event.start_mark
                        self._report_at(
                            mark.line + 1,
                            mark.column + 1,
                            f"nesting deeper than {_MAX_DEPTH} levels",
                        )
                        return None
                elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                    depth -= 1
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            self._yaml_error(exc)
            return None
        except yaml.reader.ReaderError as exc:
            before = text[: exc.position]
            line = before.count("\n") + 1
            col = exc.position - (before.rfind("\n") + 1) + 1
            self._report_at(
                line,
                col,
                f"invalid YAML: unacceptable character #x{exc.character:04x}"
                if isinstance(exc.character, int)
                else f"invalid YAML: {exc.reason}",
            )
            return None
        except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error is one of the above
            self._report_at(1, 1, f"invalid YAML: {exc}")
            return None
        if root is None:
            self._report_at(
                1, 1, "empty scenario: expected a mapping with keys " + ", ".join(_TOP_SHOWN)
            )
            return None
        self._check_tags(root)
        return root

    def _check_tags(self, root: YamlNode) -> None:
        """Report explicit tags the schema has no use for (``!!python/object``, ``!foo``)."""
        seen: set[int] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in seen:  # aliases share nodes, and may even point at an ancestor
                continue
            seen.add(id(node))
            if node.tag not in _TAGS.get(type(node), ()):
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                self.report(node, f"unsupported tag {_q(tag)}")
                self._bad_tags.add(id(node))
            if isinstance(node, SequenceNode):
                stack.extend(reversed(node.value))
            elif isinstance(node, MappingNode):
                stack.extend(n for pair in reversed(node.value) for n in reversed(pair))

    def _yaml_error(self, exc: yaml.MarkedYAMLError) -> None:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        message = f"invalid YAML: {problem}"
        if exc.context and exc.problem and problem.startswith("but "):
            message = f"invalid YAML: {exc.context}, {problem}"
        elif exc.context and exc.problem and exc.context_mark is not None:
            ctx = exc.context_mark
            message += f" ({exc.context} at line {ctx.line + 1}, column {ctx.column + 1})"
        if mark is None:  # pragma: no cover - PyYAML always marks its errors
            self._report_at(1, 1, message)
        else:
            self._report_at(mark.line + 1, mark.column + 1, message)

    # -- generic shapes --

    def value(self, node: YamlNode) -> object:
        """The Python value of a scalar node, or _BAD for a collection."""
        if not isinstance(node, ScalarNode):
            return _BAD
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError, LookupError):
            return node.value

    def pairs(self, node: MappingNode) -> Iterator[tuple[str, YamlNode, YamlNode]]:
        """(key, key node, value node) with string keys, duplicates reported and skipped."""
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                self.report(key_node, f"expected a string key, got {_show(key_node)}")
                continue
            if key in seen:
                self.report(key_node, f"duplicate key {_q(key)}")
                continue
            seen.add(key)
            if (
                isinstance(value_node, ScalarNode)
                and value_node.tag == _NULL_TAG
                and (value_node.value == "")
            ):
                # An empty value is marked where the *next* token starts (often the next line);
                # point at its key instead.
                value_node = ScalarNode(
                    _NULL_TAG, "", key_node.start_mark, key_node.end_mark, style=None
                )
            yield key, key_node, value_node

    def mapping(
        self, node: YamlNode, keys: Sequence[str], required: Sequence[str] = ()
    ) -> _Map | None:
        if not isinstance(node, MappingNode):
            self.report(node, f"expected a mapping, got {_show(node)}")
            return None
        found = _Map(node)
        for key, key_node, value_node in self.pairs(node):
            if key not in keys:
                expected = f"expected one of: {', '.join(keys)}" if keys else "expected none"
                hint = _did_you_mean(key, keys, expected)
                self.report(key_node, f"unknown key {_q(key)} ({hint})")
                continue
            found.values[key] = value_node
            found.keys[key] = key_node
        for key in required:
            if key not in found.values:
                self.report(node, f"missing required key {_q(key)}")
        return found

    def named(self, node: YamlNode) -> list[tuple[str, YamlNode, YamlNode]]:
        """The pairs of a name -> spec mapping (null reads as empty)."""
        if _is_null(node):
            return []
        if not isinstance(node, MappingNode):
            self.report(node, f"expected a mapping, got {_show(node)}")
            return []
        return list(self.pairs(node))

    def items(self, node: YamlNode, what: str = "a list") -> list[YamlNode]:
        """The items of a sequence node (null reads as empty)."""
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.report(node, f"expected {what}, got {_show(node)}")
            return []
        return list(node.value)

    def opt(self, m: _Map, key: str, read: Callable[[YamlNode], T], default: T) -> T:
        node = m.get(key)
        return default if node is None else read(node)

    # -- scalars --

    def string(self, node: YamlNode) -> str:
        value = self.value(node)
        if not isinstance(value, str):
            self.report(node, f"expected a string, got {_show(node)}")
            return _BAD
        if not value:
            self.report(node, "expected a non-empty string")
            return _BAD
        return value

    def checked(self, node: YamlNode, check: Callable[[str], T]) -> T:
        """A string turned into a value by ``check``, whose ValueError is the problem."""
        text = self.string(node)
        if text is _BAD:
            return _BAD
        try:
            return check(text)
        except ValueError as exc:
            self.report(node, str(exc))
            return _BAD

    def boolean(self, node: YamlNode) -> bool:
        value = self.value(node)
        if not isinstance(value, bool):
            self.report(node, f"expected true or false, got {_show(node)}")
            return _BAD
        return value

    def integer(self, node: YamlNode, *, minimum: int = 0) -> int:
        value = self.value(node)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            kind = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
            self.report(node, f"expected {kind}, got {_show(node)}")
            return _BAD
        return value

    def port(self, node: YamlNode) -> int:
        value = self.value(node)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            self.report(node, f"expected a port number (1 to 65535), got {_show(node)}")
            return _BAD
        return value

    def duration(self, node: YamlNode, *, positive: bool = False) -> float:
        value = self.value(node)
        plain_number = isinstance(value, int | float) and not isinstance(value, bool)
        if plain_number and ":" in str(getattr(node, "value", "")):
            plain_number = False  # YAML 1.1 reads 1:30 as the base-60 number 90
        if not isinstance(value, str) and not plain_number:
            self.report(node, f'expected a duration like "90s" or "12h", got {_show(node)}')
            return _BAD
        try:
            seconds = parse_duration(value)
        except ClockError as exc:
            self.report(node, str(exc))
            return _BAD
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds):
            self.report(node, f"duration {_show(node)} is too large")
            return _BAD
        if positive and seconds <= 0:
            self.report(node, f"expected a positive duration, got {_show(node)}")
            return _BAD
        return seconds

    def instant(self, node: YamlNode) -> datetime:
        value = self.value(node)
        if not isinstance(value, str | datetime):
            value = node.value if isinstance(node, ScalarNode) and value is not None else None
        if value is None:
            self.report(node, f'expected a time like "2019-12-17T00:00:00Z", got {_show(node)}')
            return _BAD
        try:
            return parse_datetime(value)
        except ClockError as exc:
            self.report(node, str(exc))
        except OverflowError:
            self.report(node, f"time {_show(node)} is out of range")
        return _BAD

    def choice(self, node: YamlNode, what: str, options: Sequence[str]) -> str:
        value = self.value(node)
        # Versions like 0.9 read as numbers when unquoted: take the text as written.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = node.value
        if not isinstance(value, str):
            self.report(node, f"expected {_choices(options)}, got {_show(node)}")
            return _BAD
        if value not in options:
            hint = _did_you_mean(value, options, f"expected {_choices(options)}")
            self.report(node, f"unknown {what} {_q(value)} ({hint})")
            return _BAD
        return value

    def strings(self, node: YamlNode, read: Callable[[YamlNode], T]) -> tuple[T, ...]:
        """A list of strings, each read by ``read`` (null reads as empty)."""
        out = []
        for item in self.items(node, "a list of strings"):
            value = read(item)
            if value is not _BAD:
                out.append(value)
        return tuple(out)

    def spiffe_id(self, node: YamlNode) -> SpiffeID:
        def check(text: str) -> SpiffeID:
            try:
                return SpiffeID.parse(text)
            except SpiffeIDError as exc:
                raise ValueError(f"invalid SPIFFE ID {_q(text)}: {exc}") from None

        return self.checked(node, check)

    def trust_domain(self, node: YamlNode) -> TrustDomain:
        def check(text: str) -> TrustDomain:
            try:
                return TrustDomain.parse(text)
            except SpiffeIDError as exc:
                raise ValueError(f"invalid trust domain {_q(text)}: {exc}") from None

        return self.checked(node, check)

    def known_domain(self, node: YamlNode) -> TrustDomain:
        """A reference to a trust domain of this scenario."""
        td = self.trust_domain(node)
        if td is not _BAD and td.name not in self.domain_names:
            self.report(node, _unknown("trust domain", td.name, self.domain_names))
            return _BAD
        return td

    def name(self, node: YamlNode, what: str, pattern: re.Pattern[str], rule: str) -> str:
        def check(text: str) -> str:
            if not pattern.fullmatch(text):
                raise ValueError(f"invalid {what} {_q(text)}: {rule}")
            return text

        return self.checked(node, check)

    def file(self, node: YamlNode) -> Path:
        def check(text: str) -> Path:
            path = Path(text)
            resolved = path if path.is_absolute() else self.base_dir / path
            try:
                exists = resolved.is_file()
            except (OSError, ValueError):
                exists = False
            if not exists:
                raise ValueError(f"file {_q(text)} not found (looked for {_q(str(resolved))})")
            return resolved

        return self.checked(node, check)

    # -- the schema --

    def scenario(self, root: YamlNode) -> Scenario | None:
        m = self.mapping(root, _TOP_KEYS, _TOP_REQUIRED)
        if m is None:
            return None
        name = self.opt(m, "name", self.string, _BAD)
        description = self.opt(m, "description", self.string, "")
        start = self.opt(m, "start", self.instant, _BAD)
        duration = self.opt(m, "duration", lambda n: self.duration(n, positive=True), _BAD)
        self.run_duration = None if duration is _BAD else duration
        if start is not _BAD and duration is not _BAD:
            try:
                start + timedelta(seconds=duration)
            except OverflowError:
                self.report(m.values["duration"], "the run would end after the year 9999")
        seed = self.opt(m, "seed", self.integer, 1)
        profile = self.opt(m, "profile", self.profile, Profile())
        web = self.opt(m, "web_pki", self.web_pki, ())
        clusters, links = self.cluster_set(m)
        cluster = clusters[0] if clusters else _BAD
        domains = self.opt(m, "trust_domains", lambda n: self.trust_domains(n, profile), ())
        workloads = self.opt(m, "workloads", self.workloads, ())
        self.places = _places(clusters, domains, workloads)
        self.spire_version = getattr(profile, "spire", None)
        self.domain_specs = {
            spec.trust_domain.name: spec
            for spec in (domains if isinstance(domains, tuple) else ())
            if isinstance(getattr(spec, "trust_domain", None), TrustDomain)
        }
        self.node_names = {
            n.name
            for c in clusters
            for n in getattr(c, "nodes", ())
            if isinstance(getattr(n, "name", None), str)
        }
        events = self.opt(m, "events", self.events, ())
        expect = self.opt(m, "expect", self.expectations, ())
        if self.problems:
            return None
        return Scenario(
            name=name,
            description=description,
            start=start,
            duration=duration,
            seed=seed,
            profile=profile,
            cluster=cluster,
            trust_domains=domains,
            workloads=workloads,
            events=tuple(sorted(events, key=lambda e: e.at)),
            web_authorities=web,
            expect=expect,
            source=self.filename,
            clusters=clusters,
            links=links,
        )

    def cluster_set(self, m: _Map) -> tuple[tuple[Cluster, ...], tuple[Link, ...]]:
        """``cluster:`` (one, on the bridge) or ``clusters:`` (several sites) and ``links:``."""
        if "cluster" in m.values and "clusters" in m.values:
            self.report(m.keys["clusters"], "give either cluster or clusters, not both")
        if "cluster" not in m.values and "clusters" not in m.values:
            self.report(m.node, 'missing required key "cluster" (or "clusters")')
        if "links" in m.values and "clusters" not in m.values:
            self.report(m.keys["links"], "links join the clusters of clusters:, not cluster:")
        if "clusters" in m.values:
            clusters: tuple[Cluster, ...] = self.cluster_map(m.values["clusters"])
        elif "cluster" in m.values:
            one = self.cluster(m.values["cluster"])
            clusters = () if one is _BAD else (one,)
        else:
            clusters = ()
        self.clusters = {c.name: c for c in clusters if isinstance(c.name, str)}
        links = self.opt(m, "links", self.links, ())
        return clusters, links

    def cluster_map(self, node: YamlNode) -> tuple[Cluster, ...]:
        pairs = self.named(node)
        if not pairs and not self.problems_at(node):
            self.report(node, "expected at least one cluster")
        out: list[Cluster] = []
        seen: dict[str, tuple[str, YamlNode]] = {}  # node name / domain / CIDR -> cluster

        def unique(what: str, value: str, owner: str, where: YamlNode) -> None:
            other = seen.setdefault(f"{what}:{value}", (owner, where))[0]
            if other != owner:
                self.report(where, f"{what} {_q(value)} is already used by cluster {_q(other)}")

        subnets: list[tuple[str, str, ipaddress.IPv4Network, YamlNode]] = []
        for name, key_node, spec in pairs:
            if not _DNS_LABEL.fullmatch(name):
                self.report(key_node, f"invalid cluster name {_q(name)}: expected {_LABEL_RULE}")
                continue
            m = self.mapping(spec, _CLUSTER_KEYS, ("nodes",))
            if m is None:
                continue
            domain = self.opt(m, "domain", self.dns_name, DEFAULT_CLUSTER_DOMAIN)
            if domain is not _BAD:
                unique("domain", domain, name, m.values.get("domain", key_node))
            nets = {}
            for key, default in (
                ("pod_subnet", DEFAULT_POD_SUBNET), ("service_subnet", DEFAULT_SERVICE_SUBNET)
            ):  # fmt: skip
                nets[key] = self.opt(m, key, lambda n, k=key: self.subnet(n, k), default)
                if nets[key] is not _BAD:
                    where = m.values.get(key, key_node)
                    for other, okey, onet, _ in subnets:
                        if onet.overlaps(ipaddress.IPv4Network(nets[key])):
                            self.report(
                                where,
                                f"{key.replace('_', ' ')} {nets[key]} overlaps the "
                                f"{okey.replace('_', ' ')} {onet} of cluster {_q(other)}: "
                                "linked clusters route each other's ranges",
                            )
                            break
                    subnets.append((name, key, ipaddress.IPv4Network(nets[key]), where))
            cluster = self.cluster_body(name, m, key_node)
            for n in cluster.nodes:
                if n is not _BAD:
                    unique("node name", n.name, name, key_node)
            out.append(
                Cluster(
                    name=name,
                    nodes=cluster.nodes,
                    domain=domain,
                    pod_subnet=nets["pod_subnet"],
                    service_subnet=nets["service_subnet"],
                    linked=True,
                    line=key_node.start_mark.line + 1,
                )
            )
        return tuple(out)

    def subnet(self, node: YamlNode, what: str) -> str:
        def check(text: str) -> str:
            try:
                net = ipaddress.IPv4Network(text)
            except ValueError:
                raise ValueError(
                    f"invalid {what.replace('_', ' ')} {_q(text)}: expected an IPv4 CIDR like "
                    '"10.244.0.0/16"'
                ) from None
            if what == "pod_subnet" and net.prefixlen > 24:
                raise ValueError(f"pod subnet {text} is smaller than one node's /24")
            return str(net)

        return self.checked(node, check)

    def links(self, node: YamlNode) -> tuple[Link, ...]:
        out: list[Link] = []
        seen: set[tuple[str, str]] = set()
        for item in self.items(node):
            m = self.mapping(item, _LINK_KEYS, ("between", "latency"))
            if m is None or "between" not in m.values:
                continue
            pair = self.items(m.values["between"], "a list of two clusters")
            names = [self.checked(n, self._cluster_name) for n in pair]
            if len(pair) != 2:
                self.report(m.values["between"], "between takes [cluster, cluster]: two clusters")
                continue
            if names[0] is not _BAD and names[0] == names[1]:
                self.report(m.values["between"], f"cannot link cluster {_q(names[0])} to itself")
                continue
            latency = self.opt(m, "latency", self.duration, _BAD)
            loss = self.opt(m, "loss", self.probability, 0.0)
            if _BAD in names:
                continue
            key = (min(names), max(names))
            if key in seen:
                self.report(m.values["between"], f"clusters {_q(key[0])} and {_q(key[1])} "
                            "are already linked")  # fmt: skip
            seen.add(key)
            out.append(Link(a=names[0], b=names[1], latency=latency, loss=loss,
                            line=item.start_mark.line + 1))  # fmt: skip
        return tuple(out)

    def probability(self, node: YamlNode) -> float:
        value = self.value(node)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
            self.report(node, f"expected a number from 0 up to (not 1), got {_show(node)}")
            return _BAD
        return float(value)

    def _cluster_name(self, text: str) -> str:
        if text not in self.clusters:
            raise ValueError(_unknown("cluster", text, sorted(self.clusters)))
        return text

    def known_cluster(self, node: YamlNode) -> str:
        return self.checked(node, self._cluster_name)

    def profile(self, node: YamlNode) -> Profile:
        m = self.mapping(node, ("spire", "ghostunnel"))
        if m is None:
            return _BAD
        spire = self.opt(
            m, "spire", lambda n: self.choice(n, "spire version", SPIRE_PROFILES), "1.x"
        )
        ghostunnel = self.opt(
            m, "ghostunnel", lambda n: self.choice(n, "ghostunnel version", GHOSTUNNEL_PROFILES),
            "latest",
        )  # fmt: skip
        if spire is _BAD or ghostunnel is _BAD:
            return _BAD  # later checks test `profile is not _BAD` before using it
        return Profile(spire=spire, ghostunnel=ghostunnel)

    def cluster(self, node: YamlNode) -> Cluster:
        m = self.mapping(node, ("name", "nodes"), ("name", "nodes"))
        if m is None:
            return _BAD
        name = self.opt(
            m,
            "name",
            lambda n: self.name(n, "cluster name", _DNS_LABEL, f"expected {_LABEL_RULE}"),
            _BAD,
        )
        return self.cluster_body(name, m, node)

    def cluster_body(self, name: str, m: _Map, node: YamlNode) -> Cluster:
        """The nodes of a cluster mapping (``cluster:`` or an item of ``clusters:``)."""
        nodes = []
        nodes_node = m.get("nodes")
        for node_name, key_node, spec in self.named(nodes_node) if nodes_node is not None else []:
            if len(node_name) > 253 or not _DNS_SUBDOMAIN.fullmatch(node_name):
                self.report(
                    key_node,
                    f"invalid node name {_q(node_name)}: expected {_LABEL_RULE} (dots allowed)",
                )
            nodes.append(self.node(node_name, key_node, spec))
        if nodes_node is not None and not nodes and not self.problems_at(nodes_node):
            self.report(nodes_node, "expected at least one node")
        return Cluster(name=name, nodes=tuple(nodes), line=node.start_mark.line + 1)

    def problems_at(self, node: YamlNode) -> bool:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        return any(p.line == line and p.col == col for p in self.problems)

    def node(self, name: str, key_node: YamlNode, spec: YamlNode) -> Node:
        if _is_null(spec):
            spec = MappingNode("tag:yaml.org,2002:map", [], key_node.start_mark, key_node.end_mark)
        m = self.mapping(spec, ("control_plane", "taints"))
        if m is None:
            return _BAD
        control_plane = self.opt(m, "control_plane", self.boolean, False)
        default = (_MASTER_TAINT,) if control_plane is True else ()
        taints = self.opt(
            m, "taints", lambda n: self.strings(n, lambda i: self.checked(i, _taint)), None
        )
        if taints is None:
            taints = tuple(Taint.parse(t) for t in default)
        return Node(
            name=name,
            control_plane=control_plane,
            taints=taints,
            line=key_node.start_mark.line + 1,
        )

    def trust_domains(self, node: YamlNode, profile: Profile) -> tuple[TrustDomainSpec, ...]:
        pairs = self.named(node)
        if _is_null(node) or (isinstance(node, MappingNode) and not node.value):
            self.report(node, "expected at least one trust domain")
        # Names first, so that any trust domain may refer to one defined further down.
        valid: list[tuple[TrustDomain, YamlNode, YamlNode]] = []
        for name, key_node, spec in pairs:
            try:
                td = TrustDomain(name)
            except SpiffeIDError as exc:
                self.report(key_node, f"invalid trust domain {_q(name)}: {exc}")
                continue
            self.domain_names.append(name)
            valid.append((td, key_node, spec))
        namespaces: dict[str, str] = {}
        specs = []
        for td, key_node, spec in valid:
            result = self.trust_domain_spec(td, key_node, spec, profile, namespaces)
            if result is not _BAD:
                specs.append(result)
        return tuple(specs)

    def trust_domain_spec(
        self,
        td: TrustDomain,
        key_node: YamlNode,
        node: YamlNode,
        profile: Profile,
        namespaces: dict[str, str],
    ) -> TrustDomainSpec:
        m = self.mapping(
            node,
            ("namespace", "cluster", "tolerations", "server", "agent", "entries"),
            ("namespace",),
        )
        if m is None:
            return _BAD
        cluster = self.opt(m, "cluster", self.known_cluster, "")
        if "cluster" not in m.values and len(self.clusters) > 1:
            self.report(
                node,
                f'missing required key "cluster" (the scenario has {len(self.clusters)} '
                f"clusters: {', '.join(sorted(self.clusters))})",
            )
        if cluster not in ("", _BAD) and len(self.clusters) == 1:
            cluster = ""  # the only cluster: the same as not naming it
        self.domain_clusters[td.name] = cluster
        namespace = self.opt(
            m, "namespace",
            lambda n: self.name(n, "namespace", _DNS_LABEL, f"expected {_LABEL_RULE}"), _BAD,
        )  # fmt: skip
        if namespace is not _BAD:
            other = namespaces.setdefault(namespace, td.name)
            if other != td.name:
                self.report(
                    m.values["namespace"],
                    f"namespace {_q(namespace)} is already used by trust domain {_q(other)}",
                )
        tolerations = self.opt(
            m, "tolerations", lambda n: self.strings(n, lambda i: self.checked(i, _toleration)),
            (),
        )  # fmt: skip
        server = self.opt(m, "server", lambda n: self.server(td, n, profile), Server())
        if server is not _BAD:
            self.domain_ttls[td.name] = server.svid_ttl
        agent = self.opt(m, "agent", lambda n: self.agent(n, profile), None)
        entries = []
        entries_node = m.get("entries")
        for item in self.items(entries_node) if entries_node is not None else []:
            entry = self.entry(td, item)
            if entry is not _BAD:
                entries.append(entry)
        return TrustDomainSpec(
            trust_domain=td,
            namespace=namespace,
            cluster=cluster,
            tolerations=tolerations,
            server=server,
            agent=agent,
            entries=tuple(entries),
            line=key_node.start_mark.line + 1,
        )

    def web_pki(self, node: YamlNode) -> tuple[WebAuthority, ...]:
        m = self.mapping(node, ("authorities",), ("authorities",))
        if m is None or m.get("authorities") is None:
            return ()
        out = []
        for name, key_node, spec in self.named(m.values["authorities"]):
            root = self.generated_root(spec)
            self.web_authority_names.append(name)
            if root is not _BAD:
                out.append(WebAuthority(name=name, root=root, line=key_node.start_mark.line + 1))
        return tuple(out)

    def web_authority(self, node: YamlNode) -> str:
        """A reference to an authority of ``web_pki``."""
        name = self.string(node)
        if name is not _BAD and name not in self.web_authority_names:
            self.report(node, _unknown("Web PKI authority", name, self.web_authority_names))
            return _BAD
        return name

    def server(self, td: TrustDomain, node: YamlNode, profile: Profile) -> Server:
        keys = (
            "start", "ca_ttl", "svid_ttl", "upstream_authority", "upstream_bundle",
            "bundle_endpoint", "federates_with", "web_roots",
        )  # fmt: skip
        m = self.mapping(node, keys)
        if m is None:
            return _BAD
        start = self.opt(m, "start", self.duration, 0.0)
        ca_ttl = self.opt(m, "ca_ttl", lambda n: self.duration(n, positive=True), DEFAULT_CA_TTL)
        svid_ttl = self.opt(
            m, "svid_ttl", lambda n: self.duration(n, positive=True), DEFAULT_SVID_TTL
        )
        upstream = self.opt(
            m, "upstream_authority", lambda n: self.upstream_authority(n, ca_ttl), None
        )
        upstream_bundle = self.opt(m, "upstream_bundle", self.boolean, True)
        if upstream_bundle is False and profile is not _BAD and profile.spire != "0.9":
            self.report(
                m.values["upstream_bundle"],
                'upstream_bundle: false needs profile spire "0.9" '
                "(later SPIRE always uses the upstream bundle)",
            )
        endpoint = self.opt(m, "bundle_endpoint", self.bundle_endpoint, None)
        if (
            endpoint not in (None, _BAD)
            and endpoint.refresh_hint is not None
            and profile is not _BAD
            and spire_profile(profile.spire).refresh_hint == "computed"
        ):
            self.report(
                m.values["bundle_endpoint"],
                f'refresh_hint needs profile spire "1.8" or later (SPIRE {profile.spire} '
                "computes the hint from the root lifetime)",
            )
        relationships = []
        fed = m.get("federates_with")
        for peer_name, key_node, spec in self.named(fed) if fed is not None else []:
            rel = self.relationship(td, peer_name, key_node, spec, profile)
            if rel is not _BAD:
                relationships.append(rel)
        web_roots = self.opt(m, "web_roots", lambda n: self.strings(n, self.web_authority), None)
        if (
            profile is not _BAD
            and not spire_profile(profile.spire).https_web
            and endpoint not in (None, _BAD)
            and endpoint.profile == "https_web"
        ):
            self.report(m.values["bundle_endpoint"], _HTTPS_WEB_NEEDS_1X)
        return Server(
            start=start,
            ca_ttl=ca_ttl,
            svid_ttl=svid_ttl,
            upstream_authority=upstream,
            upstream_bundle=upstream_bundle,
            bundle_endpoint=endpoint,
            federates_with=tuple(relationships),
            web_roots=web_roots,
            line=node.start_mark.line + 1,
        )

    def upstream_authority(self, node: YamlNode, ca_ttl: float) -> DiskUpstreamAuthority:
        m = self.mapping(node, ("disk",), ("disk",))
        if m is None or m.get("disk") is None:
            return _BAD
        disk = m.values["disk"]
        d = self.mapping(disk, ("cert_file", "key_file", "bundle_file", "generate", "ttl"))
        if d is None:
            return _BAD
        has_files = "cert_file" in d.values or "key_file" in d.values
        if "generate" in d.values and has_files:
            self.report(
                d.keys["generate"], "give either cert_file and key_file, or generate, not both"
            )
        elif "generate" not in d.values and not has_files:
            self.report(disk, "missing cert_file and key_file (or generate)")
        elif has_files:
            for key in ("cert_file", "key_file"):
                if key not in d.values:
                    self.report(disk, f"missing required key {_q(key)}")
        elif "bundle_file" in d.values:
            self.report(d.keys["bundle_file"], "bundle_file goes with cert_file and key_file")
        default_ttl = DEFAULT_CA_TTL if ca_ttl is _BAD else ca_ttl
        return DiskUpstreamAuthority(
            cert_file=self.opt(d, "cert_file", self.file, None),
            key_file=self.opt(d, "key_file", self.file, None),
            bundle_file=self.opt(d, "bundle_file", self.file, None),
            generate=self.opt(d, "generate", self.generated_root, None),
            ttl=self.opt(d, "ttl", lambda n: self.duration(n, positive=True), default_ttl),
        )

    def generated_root(self, node: YamlNode) -> GeneratedRoot:
        keys = ("common_name", "country", "locality", "organization", "organizational_unit", "ttl")
        m = self.mapping(node, keys, ("common_name",))
        if m is None:
            return _BAD
        names = {k: self.string(m.values[k]) for k in keys[:-1] if k in m.values}
        names.setdefault("common_name", _BAD)
        ttl = self.opt(m, "ttl", lambda n: self.duration(n, positive=True), CFSSL_CA_TTL)
        return GeneratedRoot(**names, ttl=ttl)

    def bundle_endpoint(self, node: YamlNode) -> BundleEndpoint:
        m = self.mapping(node, ("port", "profile", "serving_cert", "refresh_hint"))
        if m is None:
            return _BAD
        profile = self.opt(
            m, "profile", lambda n: self.choice(n, "profile", _ENDPOINT_PROFILES), "https_spiffe"
        )
        serving = self.opt(m, "serving_cert", self.serving_cert, None)
        if profile == "https_web" and "serving_cert" not in m.values:
            self.report(node, 'missing required key "serving_cert" (profile https_web)')
        if profile == "https_spiffe" and "serving_cert" in m.values:
            self.report(
                m.keys["serving_cert"],
                "serving_cert goes with profile https_web (https_spiffe serves the server SVID)",
            )
        return BundleEndpoint(
            port=self.opt(m, "port", self.port, DEFAULT_BUNDLE_ENDPOINT_PORT),
            profile=profile,
            serving_cert=serving,
            refresh_hint=self.opt(
                m, "refresh_hint", lambda n: self.duration(n, positive=True), None
            ),
        )

    def serving_cert(self, node: YamlNode) -> ServingCert:
        m = self.mapping(node, ("authority", "dns_names", "ttl"), ("authority", "dns_names"))
        if m is None:
            return _BAD
        names = self.opt(m, "dns_names", lambda n: self.strings(n, self.dns_name), ())
        if "dns_names" in m.values and not names:
            self.report(m.values["dns_names"], "expected at least one DNS name")
        return ServingCert(
            authority=self.opt(m, "authority", self.web_authority, _BAD),
            dns_names=names,
            ttl=self.opt(
                m, "ttl", lambda n: self.duration(n, positive=True), DEFAULT_SERVING_CERT_TTL
            ),
        )

    def relationship(
        self,
        td: TrustDomain,
        peer_name: str,
        key_node: YamlNode,
        node: YamlNode,
        run_profile: Profile,
    ) -> FederationRelationship:
        try:
            peer = TrustDomain.parse(peer_name)
        except SpiffeIDError as exc:
            self.report(key_node, f"invalid trust domain {_q(peer_name)}: {exc}")
            peer = _BAD
        if peer is not _BAD and peer == td:
            self.report(key_node, f"trust domain {_q(td.name)} cannot federate with itself")
        m = self.mapping(node, ("address", "port", "profile", "endpoint_spiffe_id"), ("address",))
        if m is None:
            return _BAD
        profile = self.opt(
            m, "profile", lambda n: self.choice(n, "profile", _ENDPOINT_PROFILES), "https_spiffe"
        )
        if (
            profile == "https_web"
            and run_profile is not _BAD
            and not spire_profile(run_profile.spire).https_web
        ):
            self.report(m.values["profile"], _HTTPS_WEB_NEEDS_1X)
        if profile == "https_web" and "endpoint_spiffe_id" in m.values:
            self.report(
                m.keys["endpoint_spiffe_id"],
                "endpoint_spiffe_id goes with profile https_spiffe (https_web checks the "
                "host name against Web PKI roots)",
            )

        def address(text: str) -> str:
            if not _valid_host(text):
                raise ValueError(f"invalid address {_q(text)}: expected a host name or IP address")
            return text

        default_id = SpiffeID(peer, "/spire/server") if peer is not _BAD else _BAD
        return FederationRelationship(
            trust_domain=peer,
            address=self.opt(m, "address", lambda n: self.checked(n, address), _BAD),
            port=self.opt(m, "port", self.port, DEFAULT_BUNDLE_ENDPOINT_PORT),
            profile=profile,
            endpoint_spiffe_id=(
                None
                if profile == "https_web"
                else self.opt(m, "endpoint_spiffe_id", self.spiffe_id, default_id)
            ),
            line=key_node.start_mark.line + 1,
        )

    def agent(self, node: YamlNode, profile: Profile) -> Agent:
        m = self.mapping(node, ("start", "availability_target"))
        if m is None:
            return _BAD
        target = self.opt(m, "availability_target", lambda n: self.duration(n, positive=True), None)
        if target not in (None, _BAD):
            at_node = m.values["availability_target"]
            if profile is not _BAD and not spire_profile(profile.spire).rotation_jitter:
                self.report(
                    at_node,
                    f'availability_target needs profile spire "1.9" or later (not {profile.spire})',
                )
            elif target < 86400:
                # pkg/agent/agent.go / run.go: the agent refuses to start.
                self.report(at_node, "availability_target must be at least 24h0m0s")
        return Agent(
            start=self.opt(m, "start", self.duration, 0.0),
            availability_target=target,
            line=node.start_mark.line + 1,
        )

    def entry(self, td: TrustDomain, node: YamlNode) -> Entry:
        keys = ("spiffe_id", "parent_id", "selectors", "node", "dns_names", "federates_with", "ttl")
        m = self.mapping(node, keys, ("spiffe_id", "selectors"))
        if m is None:
            return _BAD
        spiffe_id = self.opt(m, "spiffe_id", self.spiffe_id, _BAD)
        if spiffe_id is not _BAD and not spiffe_id.member_of(td):
            self.report(
                m.values["spiffe_id"],
                f"SPIFFE ID {_q(str(spiffe_id))} is not in trust domain {_q(td.name)}",
            )
        is_node = self.opt(m, "node", self.boolean, False)
        parent_id = self.opt(m, "parent_id", self.spiffe_id, None)
        if is_node is True and "parent_id" in m.values:
            self.report(
                m.keys["parent_id"],
                "parent_id is not allowed with node: true (a node entry's parent is the server)",
            )
        elif is_node is False and "parent_id" not in m.values:
            self.report(
                node,
                'missing required key "parent_id" '
                "(a parent ID is required if the node flag is not set)",
            )
        elif parent_id not in (None, _BAD) and not parent_id.member_of(td):
            self.report(
                m.values["parent_id"],
                f"parent ID {_q(str(parent_id))} is not in trust domain {_q(td.name)}",
            )
        if is_node is True:
            parent_id = SpiffeID(td, "/spire/server")
        selectors = self.opt(
            m, "selectors", lambda n: self.strings(n, lambda i: self.checked(i, _parse_selector)),
            (),
        )  # fmt: skip
        selectors_node = m.get("selectors")
        if selectors_node is not None and (
            _is_null(selectors_node)
            or (isinstance(selectors_node, SequenceNode) and not selectors_node.value)
        ):
            self.report(selectors_node, "expected at least one selector")
        dns_names = self.opt(m, "dns_names", lambda n: self.strings(n, self.dns_name), ())
        federates_with = self.opt(
            m, "federates_with", lambda n: self.strings(n, self.trust_domain), ()
        )
        ttl = self.opt(m, "ttl", self.duration, 0.0)
        if ttl == 0.0:
            ttl = self.domain_ttls.get(td.name, DEFAULT_SVID_TTL)
        return Entry(
            spiffe_id=spiffe_id,
            parent_id=parent_id,
            selectors=selectors,
            node=is_node,
            dns_names=dns_names,
            federates_with=federates_with,
            ttl=ttl,
            line=node.start_mark.line + 1,
        )

    def dns_name(self, node: YamlNode) -> str:
        def check(text: str) -> str:
            if len(text) > 253 or not _DNS_NAME.fullmatch(text):
                raise ValueError(f"invalid DNS name {_q(text)}")
            return text

        return self.checked(node, check)

    def workloads(self, node: YamlNode) -> tuple[Workload, ...]:
        out = []
        pairs = self.named(node)
        self.workload_names.extend(name for name, _, _ in pairs)
        for name, key_node, spec in pairs:
            if not _DNS_LABEL.fullmatch(name):
                self.report(key_node, f"invalid workload name {_q(name)}: expected {_LABEL_RULE}")
            workload = self.workload(name, key_node, spec)
            if workload is not _BAD:
                out.append(workload)
        return tuple(out)

    def workload(self, name: str, key_node: YamlNode, node: YamlNode) -> Workload:
        keys = (
            "trust_domain", "cluster", "start", "labels", "app", "sidecar", "service", "traffic"
        )  # fmt: skip
        m = self.mapping(node, keys, ("trust_domain",))
        if m is None:
            return _BAD
        start = self.opt(m, "start", self.duration, 0.0)
        td = self.opt(m, "trust_domain", self.known_domain, _BAD)
        cluster = self.opt(m, "cluster", self.known_cluster, "")
        home = self.domain_clusters.get(td.name) if td is not _BAD else None
        if cluster not in ("", _BAD) and home is not None and home is not _BAD:
            if cluster != (home or next(iter(self.clusters), "")):
                # The agents serving its Workload API run only in the trust domain's cluster.
                self.report(
                    m.values["cluster"],
                    f"workload {_q(name)} must run in cluster {_q(home)}, where the agents of "
                    f"{td.name} run",
                )
            cluster = home
        elif home not in (None, _BAD):
            cluster = home
        return Workload(
            name=name,
            trust_domain=td,
            start=start,
            cluster=cluster,
            labels=self.opt(m, "labels", self.labels, ()),
            app=self.opt(m, "app", self.app, None),
            sidecar=self.opt(m, "sidecar", self.sidecar, None),
            service=self.opt(m, "service", lambda n: self.service(name, n), None),
            traffic=self.opt(m, "traffic", lambda n: self.traffic(start, n), None),
            line=key_node.start_mark.line + 1,
        )

    def labels(self, node: YamlNode) -> tuple[tuple[str, str], ...]:
        out = []
        for key, key_node, value_node in self.named(node):
            if len(key) > 316 or not _LABEL_KEY.fullmatch(key):
                self.report(key_node, f"invalid label key {_q(key)}")
            value = self.value(value_node)
            if not isinstance(value, str):
                self.report(value_node, f"expected a string, got {_show(value_node)}")
            elif not _LABEL_VALUE.fullmatch(value):
                self.report(
                    value_node,
                    f"invalid label value {_q(value)}: at most 63 letters, digits, '-', '_' "
                    "or '.', starting and ending with a letter or digit",
                )
            else:
                out.append((key, value))
        return tuple(out)

    def app(self, node: YamlNode) -> HttpServerApp:
        m = self.mapping(node, ("http_server",), ("http_server",))
        if m is None or m.get("http_server") is None:
            return _BAD
        h = self.mapping(m.values["http_server"], ("port", "jwt"), ("port",))
        if h is None:
            return _BAD
        return HttpServerApp(
            port=self.opt(h, "port", self.port, _BAD), jwt=self.opt(h, "jwt", self.jwt_check, None)
        )

    def jwt_check(self, node: YamlNode) -> JWTCheck:
        m = self.mapping(node, ("audience", "validator"), ("audience",))
        if m is None:
            return _BAD
        return JWTCheck(
            audience=self.opt(m, "audience", self.audience, _BAD),
            validator=self.opt(
                m, "validator", lambda n: self.choice(n, "JWT validator", JWT_VALIDATORS), None
            ),
        )

    def audience(self, node: YamlNode) -> str:
        return self.string(node)  # any non-empty string (an `aud` value)

    def sidecar(self, node: YamlNode) -> Sidecar:
        keys = (
            "ghostunnel", "listen", "target", "allow_uri", "verify_uri", "unsafe_listen",
            "trust", "forged_spiffe_id",
        )  # fmt: skip
        m = self.mapping(node, keys, ("ghostunnel", "listen", "target"))
        if m is None:
            return _BAD
        mode = self.opt(
            m, "ghostunnel", lambda n: self.choice(n, "ghostunnel mode", ("server", "client")),
            _BAD,
        )  # fmt: skip
        if mode == "client" and "allow_uri" in m.values:
            self.report(
                m.keys["allow_uri"],
                "allow_uri is for ghostunnel server mode; a client checks the server with "
                "verify_uri",
            )
        if mode == "server" and "verify_uri" in m.values:
            self.report(
                m.keys["verify_uri"],
                "verify_uri is for ghostunnel client mode; a server checks clients with allow_uri",
            )
        return Sidecar(
            mode=mode,
            listen=self.opt(m, "listen", lambda n: self.checked(n, _parse_host_port), _BAD),
            target=self.opt(m, "target", lambda n: self.checked(n, _parse_host_port), _BAD),
            allow_uris=self.opt(m, "allow_uri", lambda n: self.strings(n, self.spiffe_id), ()),
            verify_uris=self.opt(m, "verify_uri", lambda n: self.strings(n, self.spiffe_id), ()),
            unsafe_listen=self.opt(m, "unsafe_listen", self.boolean, False),
            trust=self.opt(
                m, "trust", lambda n: self.choice(n, "trust", SIDECAR_TRUST), "per_trust_domain"
            ),
            forged_spiffe_id=self.opt(m, "forged_spiffe_id", self.spiffe_id, None),
            line=node.start_mark.line + 1,
        )

    def service(self, workload: str, node: YamlNode) -> Service:
        m = self.mapping(node, ("name", "port", "target_port"), ("port",))
        if m is None:
            return _BAD
        rule = "expected lowercase letters, digits and '-', starting with a letter"
        name = self.opt(
            m, "name", lambda n: self.name(n, "service name", _DNS_1035_LABEL, rule), workload
        )
        port = self.opt(m, "port", self.port, _BAD)
        return Service(
            name=name, port=port, target_port=self.opt(m, "target_port", self.port, port)
        )

    def traffic(self, workload_start: float, node: YamlNode) -> Traffic:
        m = self.mapping(node, ("curl", "every", "start", "jwt"), ("curl", "every"))
        if m is None:
            return _BAD
        return Traffic(
            curl=self.opt(m, "curl", lambda n: self.checked(n, _url), _BAD),
            every=self.opt(m, "every", lambda n: self.duration(n, positive=True), _BAD),
            start=self.opt(m, "start", self.duration, workload_start),
            jwt=self.opt(m, "jwt", self.jwt_traffic, None),
        )

    def jwt_traffic(self, node: YamlNode) -> JWTTraffic:
        m = self.mapping(node, ("audience",), ("audience",))
        if m is None:
            return _BAD
        return JWTTraffic(audience=self.opt(m, "audience", self.audience, _BAD))

    def _node_name(self, text: str) -> str:
        if text not in self.node_names:
            raise ValueError(_unknown("node", text, sorted(self.node_names)))
        return text

    def _signed_duration(self, node: YamlNode) -> float:
        """A duration with an optional sign: ``-2m`` (behind) or ``+90s`` / ``90s`` (ahead)."""
        text = self.string(node)
        if text is _BAD:
            return _BAD
        sign = -1.0 if text.startswith("-") else 1.0
        try:
            return sign * parse_duration(text.lstrip("+-"))
        except ClockError as exc:
            self.report(node, str(exc))
            return _BAD

    def _place(self, text: str) -> str:
        if text not in self.places:
            raise ValueError(_unknown("place", text, sorted(self.places)))
        return text

    def expectations(self, node: YamlNode) -> tuple[Expectation, ...]:
        out = []
        for item in self.items(node):
            exp = self.expectation(item)
            if exp is not _BAD:
                out.append(exp)
        return tuple(out)

    def _instant(self, node: YamlNode) -> float:
        t = self.duration(node)
        if t is not _BAD and self.run_duration is not None and t > self.run_duration:
            self.report(
                node,
                f"{human_duration(t)} is after the end of the run "
                f"(duration {human_duration(self.run_duration)})",
            )
            return _BAD
        return t

    def _window(self, m: _Map) -> Window:
        given = [k for k in ("at", "during", "after", "before") if k in m.values]
        if "at" in given and len(given) > 1:
            self.report(m.keys["at"], "give either at, or during/after/before, not both")
        at = self.opt(m, "at", self._instant, None)
        start = self.opt(m, "after", self._instant, None)
        end = self.opt(m, "before", self._instant, None)
        if "during" in m.values:
            pair = self.items(m.values["during"], "a list of two durations")
            if len(pair) != 2:
                self.report(m.values["during"], "during takes [from, to]: two durations")
            else:
                start, end = self._instant(pair[0]), self._instant(pair[1])
                if start is not _BAD and end is not _BAD and end < start:
                    self.report(m.values["during"], "during [from, to] ends before it starts")
        return Window(start=start, end=end, at=at)

    def expectation(self, node: YamlNode) -> Expectation:
        m = self.mapping(node, _EXPECT_KEYS)
        if m is None:
            return _BAD
        subjects = [k for k in ("requests", "log", "bundle") if k in m.values]
        if len(subjects) != 1:
            self.report(node, "an expectation checks exactly one of: requests, log, bundle")
            return _BAD
        subject = subjects[0]
        allowed = {
            "requests": {"result", "match"},
            "log": {"count", "absent"},
            "bundle": set(),
        }[subject]
        for key in ("result", "match", "count", "absent"):
            if key in m.values and key not in allowed:
                self.report(m.keys[key], f"{key} does not go with {subject}")
        window = self._window(m)
        line = node.start_mark.line + 1
        if subject == "requests":
            r = self.mapping(m.values["requests"], ("from",), ("from",))
            workload = _BAD if r is None else self.opt(r, "from", self._known_workload, _BAD)
            if "result" not in m.values:
                self.report(node, 'missing required key "result" (ok, failed, or a text)')
            result = self.opt(m, "result", self.string, _BAD)
            match = self.opt(
                m, "match", lambda n: self.choice(n, "match", ("contains", "exact")), "contains"
            )
            return RequestsExpectation(
                window=window, workload=workload, result=result, exact=match == "exact", line=line
            )
        if subject == "log":
            keys = ("component", "instance", "workload", "trust_domain", "level", "msg",
                    "contains", "fields")  # fmt: skip
            f = self.mapping(m.values["log"], keys)
            if f is None:
                return _BAD
            absent = self.opt(m, "absent", self.boolean, False)
            count_min, count_max = 1, None
            if "count" in m.values:
                count_min, count_max = self._count(m.values["count"])
            if absent is True:
                if "count" in m.values:
                    self.report(m.keys["absent"], "give either absent or count, not both")
                count_min, count_max = 0, 0
            fields_node = f.get("fields")
            fields: tuple[tuple[str, str], ...] = ()
            if fields_node is not None:
                fields = tuple(
                    (name, self.string(value)) for name, _k, value in self.named(fields_node)
                )
            level = self.opt(
                f, "level", lambda n: self.choice(n, "level", ("debug", "info", "warn", "error")),
                None,
            )  # fmt: skip
            return LogExpectation(
                window=window,
                component=self.opt(f, "component", self.string, None),
                instance=self.opt(f, "instance", self.string, None),
                workload=self.opt(f, "workload", self._known_workload, None),
                trust_domain=self.opt(f, "trust_domain", self.string, None),
                level=level,
                msg=self.opt(f, "msg", self.string, None),
                contains=self.opt(f, "contains", self.string, None),
                fields=fields,
                count_min=count_min,
                count_max=count_max,
                line=line,
            )
        b = self.mapping(
            m.values["bundle"], ("of", "held_by", "x509_authorities", "jwt_authorities"), ("of",)
        )
        if b is None:
            return _BAD
        if window.at is None:
            self.report(node, 'a bundle expectation needs "at" (the instant to look)')
        of = self.opt(b, "of", self.known_domain, _BAD)
        return BundleExpectation(
            at=window.at if window.at is not None else _BAD,
            of=of,
            held_by=self.opt(b, "held_by", self.known_domain, of),
            x509_authorities=self.opt(b, "x509_authorities", self.integer, None),
            jwt_authorities=self.opt(b, "jwt_authorities", self.integer, None),
            line=line,
        )

    def _count(self, node: YamlNode) -> tuple[int, int | None]:
        if isinstance(node, MappingNode):
            c = self.mapping(node, ("min", "max"))
            if c is None:
                return _BAD, None
            lo = self.opt(c, "min", self.integer, 0)
            hi = self.opt(c, "max", self.integer, None)
            if lo is not _BAD and hi not in (None, _BAD) and hi < lo:
                self.report(node, "count: max is below min")
            return lo, hi
        n = self.integer(node)
        return n, n

    def _known_workload(self, node: YamlNode) -> str:
        def check(text: str) -> str:
            if text not in self.workload_names:
                raise ValueError(_unknown("workload", text, self.workload_names))
            return text

        return self.checked(node, check)

    def events(self, node: YamlNode) -> tuple[Event, ...]:
        out = []
        nodes = []
        for item in self.items(node):
            event = self.event(item)
            if event is not _BAD:
                out.append(event)
                nodes.append(item)
        self._check_lifecycle(out, nodes)
        return tuple(out)

    def _check_lifecycle(self, events: list[Event], nodes: list[YamlNode]) -> None:
        """Stops and starts alternate (a start names what a stop before it named), none comes
        before the component's own start, and nothing is scheduled while the world is paused."""
        # (events whose instant failed to load, already reported, take no part)
        order = sorted(
            (i for i in range(len(events)) if isinstance(events[i].at, float | int)),
            key=lambda i: events[i].at,
        )
        pauses = [
            (ev.at, ev.at + ev.duration, ev.line)
            for ev in events
            if isinstance(ev, PauseEvent)
            and isinstance(ev.at, float | int)
            and isinstance(ev.duration, float | int)
        ]
        stopped: set[tuple[str, str, str]] = set()
        for i in order:
            ev, n = events[i], nodes[i]
            for start, end, line in pauses:
                if start < ev.at < end:
                    self.report(
                        n,
                        f"{ev.do} at {human_duration(ev.at)} falls inside the pause from "
                        f"{human_duration(start)} to {human_duration(end)} (line {line}): "
                        "nothing runs during a pause",
                    )
            if not isinstance(ev, ServerLifecycleEvent | AgentLifecycleEvent):
                continue
            spec = self.domain_specs.get(getattr(ev.trust_domain, "name", None))
            if spec is None or (isinstance(ev, AgentLifecycleEvent) and ev.node is _BAD):
                continue  # an unknown trust domain or node, already reported
            server = isinstance(ev, ServerLifecycleEvent)
            what = "server" if server else "agent"
            if not server and spec.agent is None:
                self.report(n, f"trust domain {_q(ev.trust_domain.name)} has no agent")
                continue
            began = getattr(spec.server if server else spec.agent, "start", None)
            if isinstance(began, float | int) and ev.at < began:
                self.report(
                    n,
                    f"{ev.do} at {human_duration(ev.at)} comes before the {what} starts "
                    f"(at {human_duration(began)})",
                )
                continue
            key = (what, ev.trust_domain.name, "" if server else (ev.node or ""))
            if ev.do.endswith("_stop"):
                if key in stopped:
                    self.report(n, f"{ev.do}: the {what} is already stopped")
                stopped.add(key)
            else:
                if key not in stopped:
                    self.report(
                        n,
                        f"{ev.do}: the {what} is not stopped (no {what}_stop of the same "
                        f"{'trust domain' if server else 'trust domain and node'} before it)",
                    )
                stopped.discard(key)

    def event(self, node: YamlNode) -> Event:
        if not isinstance(node, MappingNode):
            self.report(node, f"expected a mapping, got {_show(node)}")
            return _BAD
        do_node = next(
            (v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "do"), None
        )
        kind = None
        if do_node is not None:
            kind = self.choice(do_node, "event", tuple(_EVENT_KEYS))
        if kind in _EVENT_KEYS:
            keys, required = _EVENT_KEYS[kind]
            m = self.mapping(node, ("at", "do", *keys), ("at", "do", *required))
        else:  # unknown kind: only flag keys no event has, and what every event needs
            m = self.mapping(node, _ALL_EVENT_KEYS, ("at", "do") if do_node is None else ("at",))
        if m is None:  # pragma: no cover - node is a mapping
            return _BAD
        at = self.opt(m, "at", self.duration, _BAD)
        if at is not _BAD and self.run_duration is not None and at > self.run_duration:
            self.report(
                m.values["at"],
                f"at {human_duration(at)} is after the end of the run "
                f"(duration {human_duration(self.run_duration)})",
            )
        line = node.start_mark.line + 1
        if kind not in _EVENT_KEYS:
            return _BAD
        if kind == "clock_skew":
            node_name = self.opt(m, "node", lambda n: self.checked(n, self._node_name), _BAD)
            by = self.opt(m, "by", self._signed_duration, _BAD)
            return ClockSkewEvent(at=at, node=node_name, by=by, line=line)
        if kind in ("partition", "heal"):
            pair = self.items(m.values["between"], "a list of two places")
            names = tuple(self.checked(n, self._place) for n in pair)
            if len(pair) != 2:
                self.report(m.values["between"], "between takes [place, place]: two places")
            elif names[0] is not _BAD and names[0] == names[1]:
                self.report(m.values["between"], f"cannot {kind} {_q(names[0])} from itself")
            return NetworkEvent(do=kind, at=at, between=names[:2], line=line)
        if kind == "workload_restart":

            def known_workload(text: str) -> str:
                if text not in self.workload_names:
                    raise ValueError(_unknown("workload", text, self.workload_names))
                return text

            workload = self.opt(m, "workload", lambda n: self.checked(n, known_workload), _BAD)
            return WorkloadRestartEvent(at=at, workload=workload, line=line)
        if kind in ("dns_failure", "latency"):
            return self.network_fault(kind, m, at, line)
        if kind == "pause":
            length = self.opt(m, "for", lambda n: self.duration(n, positive=True), _BAD)
            return PauseEvent(at=at, duration=length, line=line)
        td = self.opt(m, "trust_domain", self.known_domain, _BAD)
        if kind in _OPERATOR_EVENTS:
            return self.operator_event(kind, m, td, at, line)
        if kind in ("server_stop", "server_start"):
            datastore = self.opt(
                m, "datastore", lambda n: self.choice(n, "datastore", _DATASTORE), "kept"
            )
            return ServerLifecycleEvent(
                do=kind, at=at, trust_domain=td, datastore=datastore, line=line
            )
        if kind in ("agent_stop", "agent_start"):
            node_name = self.opt(m, "node", lambda n: self.checked(n, self._node_name), None)
            return AgentLifecycleEvent(do=kind, at=at, trust_domain=td, node=node_name, line=line)
        if kind == "bundle_set":
            peer = self.opt(m, "peer", self.known_domain, _BAD)
            if td is not _BAD and td == peer:
                self.report(
                    m.values["peer"],
                    f"peer {_q(td.name)} is the trust domain itself; bundle_set stores the "
                    "bundle of another trust domain",
                )
            ca_of = self.opt(m, "ca_of", self.known_domain, peer)
            return BundleSetEvent(at=at, trust_domain=td, peer=peer, ca_of=ca_of, line=line)
        if kind == "entry_delete":
            spiffe_id = self.opt(m, "spiffe_id", self.spiffe_id, _BAD)
            if td is not _BAD and spiffe_id is not _BAD and not spiffe_id.member_of(td):
                self.report(
                    m.values["spiffe_id"],
                    f"SPIFFE ID {_q(str(spiffe_id))} is not in trust domain {_q(td.name)}",
                )
            return EntryDeleteEvent(at=at, trust_domain=td, spiffe_id=spiffe_id, line=line)
        entry = _BAD
        if td is not _BAD and m.get("entry") is not None:
            entry = self.entry(td, m.values["entry"])
        return EntryCreateEvent(at=at, trust_domain=td, entry=entry, line=line)

    def _needs_version(self, m: _Map, what: str, versions: Sequence[str], since: str) -> None:
        if self.spire_version is not None and self.spire_version not in versions:
            wanted = " or ".join(f'"{v}"' for v in versions)
            self.report(
                m.values["do"],
                f"{what} needs profile spire {wanted} ({since}; profile spire is "
                f"{_q(self.spire_version)})",
            )

    def network_fault(self, kind: str, m: _Map, at: float, line: int) -> Event:
        """``dns_failure`` and ``latency``: faults of the network itself."""
        if kind == "dns_failure":
            name = self.opt(m, "name", self.dns_name, _BAD)
            duration = self.opt(m, "for", lambda n: self.duration(n, positive=True), _BAD)
            mode = self.opt(
                m, "mode", lambda n: self.choice(n, "mode", ("nxdomain", "servfail", "timeout")),
                "nxdomain",
            )  # fmt: skip
            return DnsFailureEvent(at=at, name=name, duration=duration, mode=mode, line=line)
        place = self.opt(m, "place", lambda n: self.checked(n, self._place), _BAD)
        latency = self.opt(m, "latency", self.duration, _BAD)
        return LatencyEvent(at=at, place=place, latency=latency, line=line)

    def operator_event(self, kind: str, m: _Map, td: TrustDomain, at: float, line: int) -> Event:
        """The operator's SPIRE commands beyond entries and bundle set."""
        spec = None if td is _BAD else self.domain_specs.get(td.name)
        server = getattr(spec, "server", None)
        has_upstream = getattr(server, "upstream_authority", None) not in (None, _BAD)
        if kind in ("localauthority", "upstreamauthority"):
            self._needs_version(
                m, kind, _LOCALAUTHORITY_PROFILES,
                f"`spire-server {kind}` arrived in SPIRE v1.11.0",
            )  # fmt: skip
            if kind == "upstreamauthority":
                kind_value = "x509"
                actions: tuple[str, ...] = ("taint", "revoke")
                if spec is not None and not has_upstream:
                    self.report(
                        m.values["trust_domain"],
                        f"trust domain {_q(td.name)} has no upstream_authority (upstreamauthority "
                        "taints or revokes the disk UpstreamAuthority's old root)",
                    )
            else:
                kind_value = self.opt(
                    m, "kind", lambda n: self.choice(n, "kind", ("x509", "jwt")), _BAD
                )
                actions = ("prepare", "activate", "taint", "revoke")
            action = self.opt(m, "action", lambda n: self.choice(n, "action", actions), _BAD)
            default = {"prepare": "", "activate": "prepared"}.get(action, "old")
            authority = self.opt(m, "authority", self.string, default)
            if action == "prepare" and "authority" in m.values:
                self.report(m.keys["authority"], "prepare takes no authority (it makes one)")
            return AuthorityEvent(
                do=kind, at=at, trust_domain=td, kind=kind_value, action=action,
                authority=authority, line=line,
            )  # fmt: skip
        if kind == "upstream_ca_replace":
            if spec is not None and not has_upstream:
                self.report(
                    m.values["trust_domain"],
                    f"trust domain {_q(td.name)} has no upstream_authority (upstream_ca_replace "
                    "replaces the disk UpstreamAuthority's files)",
                )
            root = self.opt(m, "generate", self.generated_root, _BAD)
            return UpstreamReplaceEvent(at=at, trust_domain=td, root=root, line=line)
        if kind == "federation_refresh":
            self._needs_version(
                m, kind, _FEDERATION_REFRESH_PROFILES,
                "`spire-server federation refresh` arrived in SPIRE v1.1.0",
            )  # fmt: skip
            peer = self.opt(m, "peer", self.known_domain, _BAD)
            return FederationRefreshEvent(at=at, trust_domain=td, peer=peer, line=line)
        if kind in ("bundle_endpoint_down", "bundle_endpoint_up"):
            if server not in (None, _BAD) and server.bundle_endpoint is None:
                self.report(
                    m.values["trust_domain"],
                    f"trust domain {_q(td.name)} serves no bundle endpoint "
                    "(server: bundle_endpoint)",
                )
            return BundleEndpointEvent(do=kind, at=at, trust_domain=td, line=line)
        # entry_update
        spiffe_id = self.opt(m, "spiffe_id", self.spiffe_id, _BAD)
        if td is not _BAD and spiffe_id is not _BAD and not spiffe_id.member_of(td):
            self.report(
                m.values["spiffe_id"],
                f"SPIFFE ID {_q(str(spiffe_id))} is not in trust domain {_q(td.name)}",
            )
        changes = ("selectors", "federates_with", "dns_names", "ttl")
        if not any(k in m.values for k in changes):
            self.report(
                m.values["do"], "entry_update changes nothing: give selectors, federates_with, "
                "dns_names or ttl",
            )  # fmt: skip
        selectors = self.opt(
            m, "selectors", lambda n: self.strings(n, lambda i: self.checked(i, _parse_selector)),
            None,
        )  # fmt: skip
        if selectors == ():
            self.report(m.values["selectors"], "expected at least one selector")
        ttl = self.opt(m, "ttl", self.duration, None)
        if ttl == 0.0 and td is not _BAD:
            ttl = self.domain_ttls.get(td.name, DEFAULT_SVID_TTL)
        return EntryUpdateEvent(
            at=at,
            trust_domain=td,
            spiffe_id=spiffe_id,
            selectors=selectors,
            federates_with=self.opt(
                m, "federates_with", lambda n: self.strings(n, self.trust_domain), None
            ),
            dns_names=self.opt(m, "dns_names", lambda n: self.strings(n, self.dns_name), None),
            ttl=ttl,
            line=line,
        )


# --- small helpers ---------------------------------------------------------------------------


def _places(clusters: Any, domains: Any, workloads: Any) -> set[str]:
    """Names a network event may use: nodes, clusters, trust domains, servers and workload
    pods. Parts that failed to load (the _BAD sentinel, already reported) are skipped."""

    def text(obj: Any, attr: str) -> str | None:
        value = getattr(obj, attr, None)
        return value if isinstance(value, str) else None

    places: set[str] = set()
    for cluster in clusters:
        names = [text(cluster, "name")] + [text(n, "name") for n in getattr(cluster, "nodes", ())]
        places.update(name for name in names if name)
    namespaces: dict[Any, str] = {}
    for spec in domains if isinstance(domains, tuple) else ():
        ns = text(spec, "namespace")
        td = getattr(spec, "trust_domain", None)
        if isinstance(td, TrustDomain):
            places.add(td.name)
        if ns:
            places.add(f"{ns}/spire-server")
            namespaces[getattr(spec, "trust_domain", None)] = ns
    for wl in workloads if isinstance(workloads, tuple) else ():
        ns = namespaces.get(getattr(wl, "trust_domain", None))
        name = text(wl, "name")
        if ns and name:
            places.add(f"{ns}/{name}")
    return places


def _is_null(node: YamlNode | None) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _unknown(what: str, name: str, known: Sequence[str]) -> str:
    if not known:
        return f"unknown {what} {_q(name)} (none are defined)"
    hint = _did_you_mean(name, known, f"expected one of: {', '.join(known)}")
    return f"unknown {what} {_q(name)} ({hint})"


def _taint(text: str) -> Taint:
    try:
        return Taint.parse(text)
    except NetworkError as exc:
        raise ValueError(_with_text(str(exc), "taint", text)) from None


def _toleration(text: str) -> Toleration:
    try:
        return Toleration.parse(text)
    except NetworkError as exc:
        raise ValueError(_with_text(str(exc), "toleration", text)) from None


def _with_text(message: str, what: str, text: str) -> str:
    """sim.network names only the faulty part (``invalid taint effect "X"``); say which text."""
    prefix = f"invalid {what} {_q(text)}"
    return message if message.startswith(prefix) else f"{prefix}: {message}"


def _url(text: str) -> str:
    error = f'invalid URL {_q(text)}: expected "http://host[:port]/path"'
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(error) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(error)
    return text
