"""The scenario schema is the scenario language of :mod:`sim.scenario` written down as a JSON
Schema (draft 2020-12), for editors and validators, and rendered as the Markdown reference
``docs/scenario-reference.md``.

The loader stays the authority (it also checks what a schema cannot: references between names,
version-dependent settings, files); ``tests/test_schema.py`` keeps the two from drifting apart.

>>> schema = scenario_schema()
>>> schema["required"]
['name', 'start', 'duration', 'trust_domains']
>>> server = schema["$defs"]["server"]["properties"]
>>> server["svid_ttl"]["default"], server["ca_ttl"]["default"]
('1h', '24h')
>>> render_reference(schema).splitlines()[0]
'# Scenario reference'
"""

from __future__ import annotations

import json
import re
from typing import Any

from sim.profiles import SPIRE_VERSIONS

__all__ = ["SCHEMA_ID", "render_reference", "scenario_schema"]

SCHEMA_ID = "urn:spire-sim:schema:scenario"

# --- value syntax, as the loader checks it (sim.scenario, sim.clock, sim.spiffeid, sim.network)
# ECMA-262 compatible (no named groups, no inline flags), so editors can use them too.

# sim.clock.parse_duration: a plain number (seconds) or number+unit components in any order.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_DURATION_BODY = rf"\s*(?:{_NUMBER}|(?:{_NUMBER}(?:ms|s|m|h|d))+)\s*$"
_DURATION = "^" + _DURATION_BODY
_POSITIVE_DURATION = "^(?=[^1-9]*[1-9])" + _DURATION_BODY  # some non-zero digit
# sim.clock._RFC3339 (surrounding blanks are stripped).
_INSTANT = (
    r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})\s*$"
)
# sim.spiffeid (go-spiffe): trust domain charset and length, path segments.
_TD = r"[a-z0-9._-]{1,255}"
_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._-]+"
_SPIFFE_ID = rf"^spiffe://{_TD}(?:/{_SEGMENT})*$"
_TRUST_DOMAIN = rf"^{_TD}$"
_TRUST_DOMAIN_REF = rf"^(?:{_TD}|spiffe://{_TD}(?:/{_SEGMENT})*)$"
# sim.network: taints and tolerations (label key, optional value, effect).
_NET_LABEL_KEY = r"(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_EFFECT = "(?:NoSchedule|PreferNoSchedule|NoExecute)"
_TAINT = rf"^{_NET_LABEL_KEY}(?:=.*)?:{_EFFECT}$"
_TOLERATION = rf"^{_NET_LABEL_KEY}(?:(?:=[^:]*)?|(?:=.*)?:{_EFFECT}?)$"
# sim.scenario: Kubernetes names and labels.
_DNS_LABEL = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_1035_LABEL = r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$"
_LABEL_KEY = (
    r"^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
_HOST_LABEL = r"[A-Za-z0-9](?:[-A-Za-z0-9_]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?"
_IPV6 = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[^%\]]+)?"  # loose: Python's ipaddress decides
_HOST = rf"^(?:{_HOSTNAME}|{_IPV6})$"
_DNS_NAME = rf"^(?:\*\.)?{_HOST_LABEL}(?:\.{_HOST_LABEL})*$"
_PORT = (
    r"0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
_HOST_PORT = rf"^(?:\[(?:{_HOSTNAME}|{_IPV6})\]|{_HOSTNAME}|{_IPV6}):{_PORT}$"
_URL = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[^/?#@]*@)?"
    r"(?:\[[0-9A-Fa-f:.]+(?:%[^\]]*)?\]|[^/?#:@\[\]]+)"
    rf"(?::(?:0*|{_PORT}))?(?:[/?#].*)?$"
)
_SELECTOR = r"^[^:]+:[\s\S]+$"
_CIDR = r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}/[0-9]{1,2}$"

_ENDPOINT_PROFILES = ["https_spiffe", "https_web"]
_GHOSTUNNEL_VERSIONS = ["1.5.2", "latest"]


# --- building blocks -------------------------------------------------------------------------


def _ref(name: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}", "description": description, **extra}


def _list(
    items: dict[str, Any], description: str, *, nullable: bool = True, **extra: Any
) -> dict[str, Any]:
    """A YAML sequence; ``nullable``: an empty value (``key:``) reads as an empty list."""
    kind: Any = ["array", "null"] if nullable else "array"
    return {"type": kind, "items": items, "description": description, **extra}


def _map(
    keys: dict[str, Any], values: dict[str, Any], description: str, *, nullable: bool = True,
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """A YAML mapping from names the author picks to ``values``."""
    kind: Any = ["object", "null"] if nullable else "object"
    return {
        "type": kind,
        "propertyNames": keys,
        "additionalProperties": values,
        "description": description,
        **extra,
    }


def _object(
    title: str,
    description: str,
    properties: dict[str, Any],
    required: tuple[str, ...] = (),
    *,
    nullable: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": title,
        "description": description,
        "type": ["object", "null"] if nullable else "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description, **extra}


def _bool(description: str, default: bool) -> dict[str, Any]:
    return {"type": "boolean", "description": description, "default": default}


def _port(description: str, **extra: Any) -> dict[str, Any]:
    return _ref("port", description, **extra)


def _spire_choices() -> list[Any]:
    """SPIRE_VERSIONS, plus the numbers YAML reads from unquoted ones (``spire: 0.9``)."""
    numbers: list[Any] = []
    for version in SPIRE_VERSIONS:
        try:
            value = float(version)
        except ValueError:
            continue
        if repr(value) == version:
            numbers.append(value)
    return [*SPIRE_VERSIONS, *numbers]


# --- the schema ------------------------------------------------------------------------------


def _formats() -> dict[str, Any]:
    """Value formats shared by many keys (not objects: they get no section of their own)."""
    return {
        "duration": {
            "title": "duration",
            "description": (
                "A length of time: number+unit components in any order, units `ms`, `s`, `m`, "
                "`h`, `d` (a day is 86400 s), as Go's `time.ParseDuration` reads them plus days; "
                "or a plain number of seconds. Never negative."
            ),
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": _DURATION},
            ],
            "examples": ["90s", "1h30m", "12h", "3d", "500ms", 30],
        },
        "positive_duration": {
            "title": "positive duration",
            "description": "A duration greater than zero.",
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": _POSITIVE_DURATION},
            ],
            "examples": ["10s", "1h", "43800h"],
        },
        "instant": {
            "title": "instant",
            "description": (
                "An RFC 3339 date and time with a zone (`Z` or an offset, converted to UTC); "
                "YAML may read it unquoted as a timestamp."
            ),
            "type": "string",
            "format": "date-time",
            "pattern": _INSTANT,
            "examples": ["2019-12-17T00:00:00Z", "2019-12-17T09:00:00+09:00"],
        },
        "spiffe_id": {
            "title": "SPIFFE ID",
            "description": (
                "`spiffe://<trust domain><path>` as go-spiffe parses it: a trust domain of "
                "lowercase letters, digits, `.`, `-`, `_`; path segments of letters, digits, "
                "`.`, `-`, `_` (not `.` or `..`); at most 2048 bytes."
            ),
            "type": "string",
            "maxLength": 2048,
            "pattern": _SPIFFE_ID,
            "examples": ["spiffe://foo.example.com/http-server"],
        },
        "trust_domain_name": {
            "title": "trust domain name",
            "description": (
                "A trust domain name: lowercase letters, digits, `.`, `-`, `_`; at most 255 bytes."
            ),
            "type": "string",
            "pattern": _TRUST_DOMAIN,
            "examples": ["foo.example.com"],
        },
        "trust_domain": {
            "title": "trust domain name or ID",
            "description": (
                "A trust domain, by name or by a SPIFFE ID in it (go-spiffe "
                "`TrustDomainFromString`)."
            ),
            "type": "string",
            "pattern": _TRUST_DOMAIN_REF,
            "examples": ["bar.example.com", "spiffe://bar.example.com"],
        },
        "selector": {
            "title": "selector",
            "description": (
                "`type:value` as `spire-server entry create -selector` takes it; everything "
                "after the first colon is the value."
            ),
            "type": "string",
            "pattern": _SELECTOR,
            "examples": ["k8s:pod-label:app:client", "k8s_psat:agent_ns:foo"],
        },
        "taint": {
            "title": "taint",
            "description": (
                "A node taint as `kubectl taint` writes it: `key[=value]:Effect`, Effect one of "
                "`NoSchedule`, `PreferNoSchedule`, `NoExecute`."
            ),
            "type": "string",
            "pattern": _TAINT,
            "examples": ["app=foo:NoSchedule", "node-role.kubernetes.io/master:NoSchedule"],
        },
        "toleration": {
            "title": "toleration",
            "description": (
                "A pod toleration in taint syntax: `key=value:Effect` or `key=value` "
                "(operator Equal; without an effect it tolerates every effect), `key:Effect` or "
                "`key` (operator Exists)."
            ),
            "type": "string",
            "pattern": _TOLERATION,
            "examples": ["app=foo:NoSchedule", "app"],
        },
        "dns_label": {
            "title": "DNS label",
            "description": (
                "A Kubernetes name (RFC 1123 label): at most 63 lowercase letters, digits and "
                "`-`, starting and ending with a letter or digit."
            ),
            "type": "string",
            "pattern": _DNS_LABEL,
            "examples": ["foo", "http-server"],
        },
        "dns_1035_label": {
            "title": "DNS-1035 label",
            "description": "A Kubernetes Service name: a DNS label starting with a letter.",
            "type": "string",
            "pattern": _DNS_1035_LABEL,
            "examples": ["http-server"],
        },
        "dns_subdomain": {
            "title": "DNS subdomain",
            "description": "A Kubernetes node name: a DNS label that may also contain dots.",
            "type": "string",
            "maxLength": 253,
            "pattern": _DNS_SUBDOMAIN,
            "examples": ["spire-federation-worker"],
        },
        "label_key": {
            "title": "label key",
            "description": (
                "A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then at most "
                "63 letters, digits, `-`, `_`, `.`."
            ),
            "type": "string",
            "maxLength": 316,
            "pattern": _LABEL_KEY,
            "examples": ["app", "app.kubernetes.io/name"],
        },
        "label_value": {
            "title": "label value",
            "description": (
                "A Kubernetes label value: at most 63 letters, digits, `-`, `_`, `.`, starting "
                "and ending with a letter or digit (or empty)."
            ),
            "type": "string",
            "pattern": _LABEL_VALUE,
            "examples": ["http-server"],
        },
        "dns_name": {
            "title": "DNS name",
            "description": "A DNS SAN: host name labels joined by dots, optionally `*.` first.",
            "type": "string",
            "maxLength": 253,
            "pattern": _DNS_NAME,
            "examples": ["http-server.foo.svc.cluster.local", "*.example.com"],
        },
        "host": {
            "title": "host",
            "description": "A host name or an IP address.",
            "type": "string",
            "maxLength": 253,
            "pattern": _HOST,
            "examples": ["spire-server.bar.svc.cluster.local", "10.96.0.10"],
        },
        "host_port": {
            "title": "host:port",
            "description": (
                "`host:port` as ghostunnel's `--listen` and `--target` take it (IPv6 in "
                "brackets), port 1 to 65535."
            ),
            "type": "string",
            "pattern": _HOST_PORT,
            "examples": ["0.0.0.0:8443", "http-server.foo.svc.cluster.local:18443"],
        },
        "port": {
            "title": "port",
            "description": "A TCP port number, 1 to 65535.",
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
            "examples": [8443],
        },
        "url": {
            "title": "URL",
            "description": "An `http://` or `https://` URL with a host.",
            "type": "string",
            "pattern": _URL,
            "examples": ["http://localhost:8080/"],
        },
    }


def _objects() -> dict[str, Any]:
    """The objects of the language, in the order the reference presents them."""
    return {
        "profile": _object(
            "profile",
            "Which product versions the run imitates, in behaviour and in message texts.",
            {
                "spire": {
                    "enum": _spire_choices(),
                    "default": "1.x",
                    "description": (
                        'SPIRE release line: `"0.9"` (December 2019: `svid_ttl`, '
                        "`upstream_bundle`, computed refresh hints, go-spiffe pre-1.0 texts), "
                        '`"1.7"`, `"1.8"` (configurable `refresh_hint`), `"1.9"` (jittered '
                        'SVID rotation, `availability_target`, 5m refresh hint) or `"1.x"` '
                        "(latest). An unquoted 0.9 is read as written."
                    ),
                },
                "ghostunnel": {
                    "enum": list(_GHOSTUNNEL_VERSIONS),
                    "default": "latest",
                    "description": (
                        "ghostunnel version: `1.5.2` (go-spiffe pre-1.0, e.g. `no roots for "
                        'peer trust domain "spiffe://..."`) or `latest` (go-spiffe v2 texts).'
                    ),
                },
            },
        ),
        "web_pki": _object(
            "web_pki",
            "Web PKI certificate authorities (the public CAs of the Internet, in miniature) "
            "that issue `https_web` bundle endpoint certificates.",
            {
                "authorities": _map(
                    {"type": "string", "minLength": 1},
                    {"$ref": "#/$defs/generated_root"},
                    "The authorities by name; each is a root made like `cfssl gencert -initca`.",
                ),
            },
            ("authorities",),
        ),
        "cluster": _object(
            "cluster",
            "The Kubernetes (kind) cluster every pod of the scenario runs in, as "
            "`kind create cluster --name <name>` makes it.",
            {
                "name": _ref("dns_label", "Cluster name (`kind create cluster --name`)."),
                "nodes": _map(
                    {"$ref": "#/$defs/dns_subdomain"},
                    {"$ref": "#/$defs/node"},
                    "The nodes by name (at least one). Pods are scheduled on the nodes whose "
                    "taints they tolerate.",
                    nullable=False,
                    minProperties=1,
                ),
            },
            ("name", "nodes"),
        ),
        "node": _object(
            "node",
            "A kind node (a container acting as a Kubernetes node). `{}` or no value at all is "
            "a worker without taints.",
            {
                "control_plane": _bool(
                    "A control-plane node (kind's `role: control-plane`).", False
                ),
                "taints": _list(
                    {"$ref": "#/$defs/taint"},
                    "Node taints (`kubectl taint nodes <node> app=foo:NoSchedule`).",
                    **{
                        "x-default": "control plane: kubeadm's "
                        "`node-role.kubernetes.io/master:NoSchedule`; worker: none"
                    },
                ),
            },
            nullable=True,
        ),
        "cluster_spec": _object(
            "cluster (of clusters)",
            "One cluster of `clusters:`: a site of its own, reaching the others only through "
            "`links:`. Linked clusters route each other's pod and Service ranges and forward "
            "each other's DNS domains (as Submariner or a flat routed network with CoreDNS "
            "stub domains would), so `<service>.<namespace>.svc.<domain>` reaches a Service "
            "from any linked cluster; ranges and domains must therefore not overlap.",
            {
                "domain": _ref(
                    "dns_name",
                    "The cluster's DNS domain (kubelet `clusterDomain`).",
                    default="cluster.local",
                ),
                "pod_subnet": _string(
                    "The pod range (kubeadm `podSubnet`), an IPv4 CIDR; each node gets a /24.",
                    pattern=_CIDR,
                    default="10.244.0.0/16",
                ),
                "service_subnet": _string(
                    "The Service range (kubeadm `serviceSubnet`), an IPv4 CIDR; kube-dns "
                    "gets its tenth address.",
                    pattern=_CIDR,
                    default="10.96.0.0/12",
                ),
                "nodes": _map(
                    {"$ref": "#/$defs/dns_subdomain"},
                    {"$ref": "#/$defs/node"},
                    "The nodes by name (at least one; names unique across clusters).",
                    nullable=False,
                    minProperties=1,
                ),
            },
            ("nodes",),
        ),
        "link": _object(
            "link",
            "A routed link between two clusters of `clusters:` (routes may cross several).",
            {
                "between": {
                    "type": "array",
                    "items": _string("Name of a cluster."),
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "The two clusters.",
                },
                "latency": _ref("duration", "One-way latency across the link, e.g. `15ms`."),
                "loss": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMaximum": 1,
                    "default": 0,
                    "description": "Chance that one connection attempt across the link is lost "
                    "(drawn from the run's seed): the dial then fails with Go's "
                    "`dial tcp <ip>:<port>: i/o timeout`.",
                },
            },
            ("between", "latency"),
        ),
        "trust_domain_spec": _object(
            "trust domain",
            "One trust domain: the namespace its SPIRE server, agents and workloads run in, "
            "and its initial registration entries.",
            {
                "namespace": _ref(
                    "dns_label",
                    "Kubernetes namespace of the trust domain's pods; one per trust domain.",
                ),
                "cluster": _string(
                    "Name of the cluster (of `clusters:`) its server, agents and workloads run "
                    "in; required when there are several.",
                    **{"x-default": "the only cluster"},
                ),
                "tolerations": _list(
                    {"$ref": "#/$defs/toleration"},
                    "Tolerations of every pod of the trust domain (the pod spec's `tolerations:`).",
                    default=[],
                ),
                "server": _ref(
                    "server",
                    "The SPIRE server (`server.conf`).",
                    **{"x-default": "a server with every default"},
                ),
                "agent": _ref(
                    "agent",
                    "The SPIRE agents (`agent.conf`, a DaemonSet).",
                    **{"x-default": "no agents"},
                ),
                "entries": _list(
                    {"$ref": "#/$defs/entry"},
                    "Registration entries present when the server starts "
                    "(`spire-server entry create`); later ones come from `entry_create` events.",
                    default=[],
                ),
            },
            ("namespace",),
        ),
        "server": _object(
            "server",
            "A SPIRE server's configuration (`server.conf`). Times count from the run's start.",
            {
                "start": _ref(
                    "duration", "When the server process starts (the seed's: 32s).", default="0s"
                ),
                "ca_ttl": _ref(
                    "positive_duration",
                    "Lifetime of the server's X.509 CA and JWT signing keys: `ca_ttl`. The next "
                    "CA is prepared at 1/2 and activated at 5/6 of its life.",
                    default="24h",
                ),
                "svid_ttl": _ref(
                    "positive_duration",
                    "Default X509-SVID lifetime (the server's own SVID and entries without a "
                    "`ttl`): `default_x509_svid_ttl` (SPIRE 0.9: `svid_ttl`).",
                    default="1h",
                ),
                "upstream_authority": _ref(
                    "upstream_authority",
                    "The `UpstreamAuthority` plugin (SPIRE 0.9: `UpstreamCA`) that signs the "
                    "server's CA.",
                    **{"x-default": "none: the server self-signs its CA"},
                ),
                "upstream_bundle": _bool(
                    "`upstream_bundle` (SPIRE 0.9): true puts the upstream root in the trust "
                    "bundle; false makes SPIRE's intermediate the root and needs profile spire "
                    '`"0.9"` (later SPIRE always behaves as true; 0.9 itself defaulted to false).',
                    True,
                ),
                "bundle_endpoint": _ref(
                    "bundle_endpoint",
                    "Serve this trust domain's bundle to peers: `federation { bundle_endpoint "
                    "{...} }` (SPIRE 0.9: `experimental { bundle_endpoint_enabled = true }`).",
                    **{"x-default": "none: no bundle endpoint"},
                ),
                "federates_with": _map(
                    {"$ref": "#/$defs/trust_domain"},
                    {"$ref": "#/$defs/relationship"},
                    "Peers whose bundles this server fetches, by trust domain: `federation { "
                    'federates_with "<td>" {...} }` (SPIRE 0.9: under `experimental`).',
                    default={},
                ),
                "web_roots": _list(
                    _string("Name of a `web_pki` authority."),
                    "Web PKI authorities in the server's system trust store, which "
                    "authenticates `https_web` peers (an empty list trusts none).",
                    **{"x-default": "every `web_pki` authority"},
                ),
            },
        ),
        "upstream_authority": _object(
            "upstream_authority",
            "The server's `UpstreamAuthority` plugin (SPIRE 0.9: `UpstreamCA`); SPIRE's CA "
            "becomes an intermediate under its root.",
            {
                "disk": _ref(
                    "disk",
                    "The `disk` plugin: an upstream CA read from files, or generated at start.",
                ),
            },
            ("disk",),
        ),
        "disk": _object(
            "disk",
            "SPIRE's `disk` UpstreamAuthority: give `cert_file` and `key_file` (and maybe "
            "`bundle_file`), or `generate`, not both.",
            {
                "cert_file": _string(
                    "PEM upstream CA certificate: `cert_file_path`. Relative paths resolve "
                    "against the scenario's folder; the file must exist.",
                    **{"x-required": "with `key_file`, unless `generate`"},
                ),
                "key_file": _string(
                    "PEM private key of that certificate: `key_file_path`.",
                    **{"x-required": "with `cert_file`, unless `generate`"},
                ),
                "bundle_file": _string(
                    "PEM upstream roots, when `cert_file` is not self-signed: "
                    "`bundle_file_path` (only with `cert_file` and `key_file`).",
                ),
                "generate": _ref(
                    "generated_root",
                    "Make the upstream root at start, like `cfssl gencert -initca` (instead of "
                    "`cert_file` and `key_file`).",
                    **{"x-required": "unless `cert_file` and `key_file`"},
                ),
                "ttl": _ref(
                    "positive_duration",
                    "Lifetime of SPIRE's intermediate, capped at the upstream certificate's "
                    'expiry: SPIRE 0.9\'s `UpstreamCA "disk" { ttl }` (later SPIRE asks for '
                    "`ca_ttl`).",
                    **{"x-default": "the server's `ca_ttl`"},
                ),
            },
            oneOf=[
                {
                    "required": ["cert_file", "key_file"],
                    "not": {"required": ["generate"]},
                },
                {
                    "required": ["generate"],
                    "not": {
                        "anyOf": [
                            {"required": ["cert_file"]},
                            {"required": ["key_file"]},
                            {"required": ["bundle_file"]},
                        ]
                    },
                },
            ],
        ),
        "generated_root": _object(
            "generated root",
            "A self-signed root CA made like `cfssl gencert -initca` from a CSR with these "
            "names (ECDSA P-256); the defaults are the seed blog's CSR.",
            {
                "common_name": _string("Subject CN (the CSR's `CN`)."),
                "country": _string("Subject C (`names[].C`).", default="JP"),
                "locality": _string("Subject L (`names[].L`).", default="Tokyo"),
                "organization": _string("Subject O (`names[].O`).", default="SPIRE"),
                "organizational_unit": _string("Subject OU (`names[].OU`).", default="CA"),
                "ttl": _ref(
                    "positive_duration",
                    "Lifetime of the root: cfssl's default CA expiry (`43800h`, five years).",
                    default="43800h",
                ),
            },
            ("common_name",),
        ),
        "bundle_endpoint": _object(
            "bundle_endpoint",
            "The server's bundle endpoint, which serves its trust bundle to federated peers.",
            {
                "port": _port(
                    "TCP port: `bundle_endpoint { port }` (SPIRE 0.9: `bundle_endpoint_port`; "
                    "SPIRE's own default is 443).",
                    default=8443,
                ),
                "profile": {
                    "enum": list(_ENDPOINT_PROFILES),
                    "default": "https_spiffe",
                    "description": (
                        "`profile`: `https_spiffe` serves with the server's own X509-SVID "
                        "(`spiffe://<td>/spire/server`); `https_web` with `serving_cert` "
                        "(not with profile spire 0.9)."
                    ),
                },
                "serving_cert": _ref(
                    "serving_cert",
                    'The certificate an `https_web` endpoint serves: `profile "https_web" '
                    "{ serving_cert_file {...} }`; refused with `https_spiffe`.",
                    **{"x-required": "with profile `https_web`", "x-default": "none"},
                ),
                "refresh_hint": _ref(
                    "positive_duration",
                    "`spiffe_refresh_hint` served (peers poll every hint/4): `bundle_endpoint "
                    "{ refresh_hint }`, SPIRE 1.8 and later.",
                    **{"x-default": "the version's: 5m from 1.9, else root lifetime / 10"},
                ),
            },
            **{
                "if": {"properties": {"profile": {"const": "https_web"}}, "required": ["profile"]},
                "then": {"required": ["serving_cert"]},
                "else": {"not": {"required": ["serving_cert"]}},
            },
        ),
        "serving_cert": _object(
            "serving_cert",
            "A Web PKI certificate for an `https_web` bundle endpoint (`serving_cert_file`), "
            "issued by a `web_pki` authority.",
            {
                "authority": _string("Name of the `web_pki` authority that issues it."),
                "dns_names": _list(
                    {"$ref": "#/$defs/dns_name"},
                    "DNS SANs (at least one); peers check the endpoint's host name against them.",
                    nullable=False,
                    minItems=1,
                ),
                "ttl": _ref(
                    "positive_duration",
                    "Lifetime (an ACME certificate's 90 days).",
                    default="90d",
                ),
            },
            ("authority", "dns_names"),
        ),
        "relationship": _object(
            "federation relationship",
            'Where and how the server fetches a peer\'s bundle: `federates_with "<td>" { '
            "bundle_endpoint_url, bundle_endpoint_profile }`. The key is the peer trust domain, "
            "never the server's own.",
            {
                "address": _ref(
                    "host",
                    "Host of the peer's bundle endpoint (`bundle_endpoint_url`'s host; SPIRE "
                    "0.9: `bundle_endpoint_address`).",
                ),
                "port": _port(
                    "Port of the peer's bundle endpoint (SPIRE 0.9: `bundle_endpoint_port`).",
                    default=8443,
                ),
                "profile": {
                    "enum": list(_ENDPOINT_PROFILES),
                    "default": "https_spiffe",
                    "description": (
                        "`bundle_endpoint_profile`: `https_spiffe` authenticates the endpoint "
                        "with the peer bundle held locally (bootstrapped by `bundle set`); "
                        "`https_web` with `web_roots` and the host name (not with profile "
                        "spire 0.9)."
                    ),
                },
                "endpoint_spiffe_id": _ref(
                    "spiffe_id",
                    "SPIFFE ID the endpoint must present, `https_spiffe` only: "
                    "`endpoint_spiffe_id` (SPIRE 0.9: `bundle_endpoint_spiffe_id`).",
                    **{"x-default": "`spiffe://<peer>/spire/server`"},
                ),
            },
            ("address",),
            **{
                "if": {"properties": {"profile": {"const": "https_web"}}, "required": ["profile"]},
                "then": {"not": {"required": ["endpoint_spiffe_id"]}},
            },
        ),
        "agent": _object(
            "agent",
            "The trust domain's SPIRE agents: a DaemonSet, one agent per node that admits the "
            "trust domain's pods, syncing with the server every 5 s.",
            {
                "start": _ref("duration", "When the agents start.", default="0s"),
                "availability_target": _ref(
                    "positive_duration",
                    "`availability_target` (SPIRE 1.9+, at least 24h): renew X509-SVIDs when "
                    "this much lifetime is left, instead of at (jittered) half-life.",
                    **{"x-default": "unset: renew at half-life"},
                ),
            },
        ),
        "entry": _object(
            "entry",
            "A registration entry, as `spire-server entry create` takes it. Its IDs are in the "
            "trust domain it belongs to.",
            {
                "spiffe_id": _ref("spiffe_id", "`-spiffeID`: the identity issued."),
                "parent_id": _ref(
                    "spiffe_id",
                    "`-parentID`: the agent whose workloads may get this identity (the "
                    "SPIFFE ID of a node entry); refused with `node: true`.",
                    **{
                        "x-required": "unless `node: true`",
                        "x-default": "node entries: `spiffe://<td>/spire/server`",
                    },
                ),
                "selectors": _list(
                    {"$ref": "#/$defs/selector"},
                    "`-selector`, at least one; a workload (an agent, for a node entry) must "
                    "match them all.",
                    nullable=False,
                    minItems=1,
                ),
                "node": _bool(
                    "`-node`: a node entry, matched by attested agents; its parent is the server.",
                    False,
                ),
                "dns_names": _list(
                    {"$ref": "#/$defs/dns_name"},
                    "`-dns`: DNS SANs of the SVID; the first is also its subject CN.",
                    default=[],
                ),
                "federates_with": _list(
                    {"$ref": "#/$defs/trust_domain"},
                    "`-federatesWith`: trust domains whose bundles the Workload API hands to the "
                    "matching workloads.",
                    default=[],
                ),
                "ttl": _ref(
                    "duration",
                    "`-ttl` (SPIRE 1.x: `-x509SVIDTTL`): X509-SVID lifetime; 0 means the "
                    "server's `svid_ttl`.",
                    default="0s",
                ),
            },
            ("spiffe_id", "selectors"),
            **{
                "if": {"properties": {"node": {"const": True}}, "required": ["node"]},
                "then": {"not": {"required": ["parent_id"]}},
                "else": {"required": ["parent_id"]},
            },
        ),
        "workload": _object(
            "workload",
            "A pod in a trust domain's namespace: an app, a ghostunnel sidecar, a Service and "
            "the requests it sends.",
            {
                "trust_domain": _ref(
                    "trust_domain",
                    "Trust domain whose namespace the pod runs in and whose agent serves its "
                    "Workload API.",
                ),
                "start": _ref("duration", "When the pod starts.", default="0s"),
                "cluster": _string(
                    "Cluster the pod runs in: always its trust domain's (where its agents "
                    "are); given, it must name that one.",
                    **{"x-default": "its trust domain's cluster"},
                ),
                "labels": _map(
                    {"$ref": "#/$defs/label_key"},
                    {"$ref": "#/$defs/label_value"},
                    "Pod labels, matched by `k8s:pod-label:<key>:<value>` selectors.",
                    default={},
                ),
                "app": _ref("app", "The application container.", **{"x-default": "none"}),
                "sidecar": _ref(
                    "sidecar",
                    "A ghostunnel sidecar using the Workload API (`--use-workload-api-addr`).",
                    **{"x-default": "none"},
                ),
                "service": _ref(
                    "service", "A Kubernetes Service for the pod.", **{"x-default": "none"}
                ),
                "traffic": _ref(
                    "traffic", "Requests sent from inside the pod.", **{"x-default": "none"}
                ),
            },
            ("trust_domain",),
        ),
        "app": _object(
            "app",
            "The workload's application container.",
            {
                "http_server": _ref(
                    "http_server", "`python -m http.server <port>` (a directory listing)."
                ),
            },
            ("http_server",),
        ),
        "http_server": _object(
            "http_server",
            "`python -m http.server <port>`: answers GET with a directory listing.",
            {
                "port": _port("Port it listens on (the server sidecar's `--target`)."),
                "jwt": _ref(
                    "jwt_check",
                    "Require a JWT-SVID bearer token on every request (go-spiffe's spiffe-jwt "
                    "example server: `Invalid token: <err>` and 401 otherwise).",
                    **{"x-default": "none"},
                ),
            },
            ("port",),
        ),
        "jwt_check": _object(
            "jwt_check",
            "How the server app validates the JWT-SVID a request bears.",
            {
                "audience": _string("The audience the token must carry (`aud`)."),
                "validator": {
                    "enum": ["go-spiffe", "workload_api"],
                    "description": (
                        "`go-spiffe`: the app runs go-spiffe v2 `jwtsvid.ParseAndValidate` "
                        "against the JWT bundles its Workload API streams (own and federated); "
                        "`workload_api`: it asks its agent (`ValidateJWTSVID`, SPIRE's own "
                        'validator: `public key "<kid>" not found in trust domain ...`).'
                    ),
                    "x-default": 'SPIRE `"0.9"`: `workload_api`; otherwise `go-spiffe`',
                },
            },
            ("audience",),
        ),
        "sidecar": _object(
            "sidecar",
            "A ghostunnel sidecar whose certificate and roots come from the Workload API.",
            {
                "ghostunnel": {
                    "enum": ["server", "client"],
                    "description": (
                        "Mode: `server` accepts mTLS on `listen` and forwards to `target`; "
                        "`client` accepts plain TCP on `listen` and dials `target` over mTLS."
                    ),
                },
                "listen": _ref("host_port", "`--listen` address."),
                "target": _ref("host_port", "`--target` address (a Service name works)."),
                "allow_uri": _list(
                    {"$ref": "#/$defs/spiffe_id"},
                    "`--allow-uri` (server mode): clients accepted; none accepts nobody.",
                    default=[],
                ),
                "verify_uri": _list(
                    {"$ref": "#/$defs/spiffe_id"},
                    "`--verify-uri` (client mode): servers accepted; none accepts any valid SVID.",
                    default=[],
                ),
                "unsafe_listen": _bool(
                    "`--unsafe-listen`: let a client listen on a non-loopback address.", False
                ),
                "trust": {
                    "enum": ["per_trust_domain", "pooled"],
                    "default": "per_trust_domain",
                    "description": (
                        "How peers are verified. `per_trust_domain` (go-spiffe): a peer's chain "
                        "only against the bundle of the trust domain its SPIFFE ID names. "
                        "`pooled` is **UNSAFE** and exists to teach why (failure story E4): "
                        "every bundle's roots in one pool, as with one CA file of all bundles, "
                        "so any federated domain's CA can vouch for any other domain's IDs."
                    ),
                },
                "forged_spiffe_id": _ref(
                    "spiffe_id",
                    "An attack (story E4): the sidecar presents a certificate for this SPIFFE "
                    "ID, signed with its own trust domain's current CA key (a stolen CA), "
                    "instead of the SVID the Workload API gives it.",
                    **{"x-default": "none"},
                ),
            },
            ("ghostunnel", "listen", "target"),
            allOf=[
                {
                    "if": {"properties": {"ghostunnel": {"const": "client"}}},
                    "then": {"not": {"required": ["allow_uri"]}},
                },
                {
                    "if": {"properties": {"ghostunnel": {"const": "server"}}},
                    "then": {"not": {"required": ["verify_uri"]}},
                },
            ],
        ),
        "service": _object(
            "service",
            "A Kubernetes Service selecting the workload's pod: "
            "`<name>.<namespace>.svc.cluster.local:<port>` reaches `target_port`.",
            {
                "name": _ref(
                    "dns_1035_label", "Service name.", **{"x-default": "the workload's name"}
                ),
                "port": _port("Service port."),
                "target_port": _port(
                    "Pod port it forwards to (the sidecar's listen port).",
                    **{"x-default": "`port`"},
                ),
            },
            ("port",),
        ),
        "traffic": _object(
            "traffic",
            "`curl <url>` run inside the pod at a fixed interval.",
            {
                "curl": _ref("url", "The URL curl requests."),
                "every": _ref("positive_duration", "Interval between requests."),
                "start": _ref(
                    "duration", "First request.", **{"x-default": "the workload's `start`"}
                ),
                "jwt": _ref(
                    "jwt_traffic",
                    "Send a JWT-SVID as `Authorization: Bearer` with each request.",
                    **{"x-default": "none"},
                ),
            },
            ("curl", "every"),
        ),
        "jwt_traffic": _object(
            "jwt_traffic",
            "A JWT-SVID fetched from the Workload API (`FetchJWTSVID`) for each request; the "
            "agent serves its cached token until half its lifetime is left.",
            {"audience": _string("The audience requested (the token's `aud`).")},
            ("audience",),
        ),
        **_events(),
        "expectation": _object(
            "expect",
            "One assertion checked by `spire-sim run` (exit 1 if it fails). It checks exactly one "
            "of `requests`, `log` or `bundle`, over a window: `at` (an instant), `during`, "
            "`after`, `before`, or the whole run.",
            {
                "at": _ref(
                    "duration",
                    "The instant: the first request at or after it, the "
                    "log from it on, or the bundle as it is then.",
                ),
                "during": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/duration"},
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "`[from, to]`, both included.",
                },
                "after": _ref("duration", "From this instant on (included)."),
                "before": _ref("duration", "Up to this instant (included)."),
                "requests": _ref("expect_requests", "Check the curl requests of a workload."),
                "result": _string(
                    "With `requests`: `ok`, `failed`, or a text one of the products printed "
                    "about each request (a ghostunnel line or curl's error line)."
                ),
                "match": {
                    "enum": ["contains", "exact"],
                    "default": "contains",
                    "description": "With a text `result`: a substring of a line, or a whole line.",
                },
                "log": _ref("expect_log", "Check log records matching a filter."),
                "count": {
                    "oneOf": [
                        {"type": "integer", "minimum": 0},
                        _object(
                            "count",
                            "A range of counts.",
                            {
                                "min": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "default": 0,
                                    "description": "At least this many.",
                                },
                                "max": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "description": "At most this many.",
                                },
                            },
                        ),
                    ],
                    "description": "With `log`: exactly N matching records, or `{min, max}`; "
                    "without it, at least one.",
                },
                "absent": _bool("With `log`: no record may match.", False),
                "bundle": _ref("expect_bundle", "Check a bundle's authorities at `at`."),
            },
            oneOf=[
                {"required": ["requests"]},
                {"required": ["log"]},
                {"required": ["bundle"]},
            ],
        ),
        "expect_requests": _object(
            "requests",
            "Which requests an expectation looks at.",
            {"from": _ref("dns_label", "The workload whose curl makes them.")},
            ("from",),
        ),
        "expect_log": _object(
            "log",
            "A filter on log records; every key given must match.",
            {
                "component": _string(
                    "`spire-server`, `spire-agent`, `ghostunnel`, `curl` or `operator`."
                ),
                "instance": _string(
                    "An instance, as named in the run's logs/ (e.g. `foo/spire-server-0`)."
                ),
                "workload": _ref("dns_label", "Any pod of this workload (across restarts)."),
                "trust_domain": _string("The trust domain of the component."),
                "level": {
                    "enum": ["debug", "info", "warn", "error"],
                    "description": "The record's level.",
                },
                "msg": _string("The whole message."),
                "contains": _string("A substring of the message."),
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Fields the record must carry, compared as text "
                    "(e.g. `{trust_domain: bar.example.com}`).",
                },
            },
        ),
        "expect_bundle": _object(
            "bundle",
            "A trust bundle as a server holds it.",
            {
                "of": _ref("trust_domain", "Whose bundle."),
                "held_by": _ref(
                    "trust_domain",
                    "Which server's copy (its own when the same).",
                    **{"x-default": "`of`"},
                ),
                "x509_authorities": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many X.509 roots it holds.",
                },
                "jwt_authorities": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many JWT keys it holds.",
                },
            },
            ("of",),
        ),
    }


def _events() -> dict[str, Any]:
    """One object per event kind, told apart by ``do``."""

    def event(
        kind: str, description: str, props: dict[str, Any], req: tuple[str, ...]
    ) -> dict[str, Any]:
        properties = {
            "at": _ref("duration", "When, counted from the run's start (at most `duration`)."),
            "do": {"const": kind, "description": "The event kind."},
            **props,
        }
        return _object(f"event {kind}", description, properties, ("at", "do", *req))

    td = _ref("trust_domain", "Trust domain whose server runs the command.")
    return {
        "event_bundle_set": event(
            "bundle_set",
            "`spire-server bundle set -id spiffe://<peer> -path <file>` on `trust_domain`'s "
            "server: stores a bundle for the peer, the bootstrap of `https_spiffe` federation.",
            {
                "trust_domain": td,
                "peer": _ref("trust_domain", "`-id`: the peer (another trust domain)."),
                "ca_of": _ref(
                    "trust_domain",
                    "Trust domain whose CA certificate the file holds: the peer's, unless the "
                    "operator picked the wrong file.",
                    **{"x-default": "`peer`"},
                ),
            },
            ("trust_domain", "peer"),
        ),
        "event_entry_delete": event(
            "entry_delete",
            "`spire-server entry delete` of the entries with `spiffe_id` on `trust_domain`'s "
            "server.",
            {
                "trust_domain": td,
                "spiffe_id": _ref("spiffe_id", "SPIFFE ID of the entries (in `trust_domain`)."),
            },
            ("trust_domain", "spiffe_id"),
        ),
        "event_entry_create": event(
            "entry_create",
            "`spire-server entry create` on `trust_domain`'s server.",
            {
                "trust_domain": td,
                "entry": _ref("entry", "The entry (in `trust_domain`)."),
            },
            ("trust_domain", "entry"),
        ),
        "event_workload_restart": event(
            "workload_restart",
            "The workload's pod is deleted and created again (a redeploy).",
            {"workload": _string("Name of a workload of the scenario.")},
            ("workload",),
        ),
        "event_clock_skew": event(
            "clock_skew",
            "From `at` on, a node's clock is off: the sidecars there judge certificate "
            "validity by it (SPIRE backdates notBefore by only 10 s).",
            {
                "node": _string("Name of a node of the cluster."),
                "by": {
                    "type": "string",
                    "pattern": "^[+-]?[0-9][0-9.]*(ms|s|m|h|d)([0-9.]+(ms|s|m|h|d))*$",
                    "description": "The offset, a duration with a sign: `-2m` is two minutes "
                    "behind, `+90s` or `90s` ahead.",
                },
            },
            ("node", "by"),
        ),
        "event_localauthority": event(
            "localauthority",
            "`spire-server localauthority <kind> <action>` (SPIRE 1.11+, so profile spire "
            '"1.x"): prepare a new authority, activate the prepared one, taint the old one '
            "(agents re-sign SVIDs it signed; the bundle keeps it) or revoke a tainted old one "
            "(it leaves the bundle; peers learn it at their next refresh). SPIRE's "
            "preconditions apply and its errors are logged.",
            {
                "trust_domain": td,
                "kind": {"enum": ["x509", "jwt"], "description": "The authority kind."},
                "action": {
                    "enum": ["prepare", "activate", "taint", "revoke"],
                    "description": "The subcommand.",
                },
                "authority": _string(
                    "`-authorityID`: an authority ID (X.509: the CA's subject key ID in hex; "
                    "JWT: the key ID) or a slot, resolved when the command runs: `current`, or "
                    "`old` / `prepared` / `next` (the slot that is not current, whatever its "
                    "status). Not for `prepare`.",
                    **{"x-default": "activate: `prepared`; taint, revoke: `old`"},
                ),
            },
            ("trust_domain", "kind", "action"),
        ),
        "event_upstreamauthority": event(
            "upstreamauthority",
            "`spire-server upstreamauthority taint|revoke -subjectKeyID <ski>` (SPIRE 1.11+) on "
            "a server with a disk `upstream_authority`: taint or revoke the upstream root that "
            "signed the old X.509 authority (after `upstream_ca_replace` and a rotation).",
            {
                "trust_domain": td,
                "action": {"enum": ["taint", "revoke"], "description": "The subcommand."},
                "authority": _string(
                    "`-subjectKeyID`: the upstream root's subject key ID in hex, or `old` (the "
                    "root that signed the non-current slot's authority) or `current`.",
                    **{"x-default": "`old`"},
                ),
            },
            ("trust_domain", "action"),
        ),
        "event_upstream_ca_replace": event(
            "upstream_ca_replace",
            "The disk UpstreamAuthority's `cert_file` and `key_file` are replaced by a new root. "
            "The plugin re-reads them at every mint, so SPIRE signs its next X.509 CA with it and "
            "adds the new root to the bundle then (at the scheduled preparation or a "
            "`localauthority x509 prepare`).",
            {
                "trust_domain": td,
                "generate": _ref(
                    "generated_root", "The new root, made like `cfssl gencert -initca`."
                ),
            },
            ("trust_domain", "generate"),
        ),
        "event_federation_refresh": event(
            "federation_refresh",
            "`spire-server federation refresh -id spiffe://<peer>` (SPIRE 1.1+) on "
            "`trust_domain`'s server: fetch the peer's bundle now, outside the polling schedule "
            "(which stays as it was).",
            {
                "trust_domain": td,
                "peer": _ref("trust_domain", "`-id`: the federated trust domain."),
            },
            ("trust_domain", "peer"),
        ),
        **{
            f"event_{kind}": event(
                kind,
                text,
                {"trust_domain": _ref("trust_domain", "Trust domain whose server it is.")},
                ("trust_domain",),
            )
            for kind, text in (
                (
                    "bundle_endpoint_down",
                    "The server's bundle endpoint stops accepting connections (the server runs "
                    "on): peers' polls fail with `connect: connection refused`.",
                ),
                ("bundle_endpoint_up", "The bundle endpoint accepts connections again."),
            )
        },
        "event_dns_failure": event(
            "dns_failure",
            "Cluster DNS fails lookups of a name for a while: dialers log Go's `lookup <name> "
            "on <dns>:53: no such host` (or `server misbehaving`, `i/o timeout`).",
            {
                "name": _ref("dns_name", "The fully qualified name, e.g. a Service's."),
                "for": _ref("positive_duration", "How long lookups fail."),
                "mode": {
                    "enum": ["nxdomain", "servfail", "timeout"],
                    "default": "nxdomain",
                    "description": "`nxdomain`: no such host; `servfail`: server misbehaving; "
                    "`timeout`: the query goes unanswered.",
                },
            },
            ("name", "for"),
        ),
        "event_latency": event(
            "latency",
            "From `at` on, the link from a place to its parent (a pod to its node, a node to "
            "the cluster) has this one-way latency. It delays what crosses it; it never times "
            "a dial out.",
            {
                "place": _string(
                    "A node, the cluster, a SPIRE server (`<namespace>/spire-server`) or a "
                    "workload's pod (`<namespace>/<workload>`)."
                ),
                "latency": _ref("duration", "One-way latency, e.g. `200ms`."),
            },
            ("place", "latency"),
        ),
        "event_entry_update": event(
            "entry_update",
            "`spire-server entry update` of the entries with `spiffe_id`: the fields given "
            "replace the entry's. Agents see it at their next sync (SPIRE 1.x re-signs the "
            "SVID at once, 0.9 at its next rotation).",
            {
                "trust_domain": td,
                "spiffe_id": _ref("spiffe_id", "SPIFFE ID of the entries (in `trust_domain`)."),
                "selectors": _list(
                    {"$ref": "#/$defs/selector"},
                    "New `-selector` list.",
                    nullable=False,
                    minItems=1,
                    **{"x-default": "unchanged"},
                ),
                "federates_with": _list(
                    {"$ref": "#/$defs/trust_domain"},
                    "New `-federatesWith` list.",
                    **{"x-default": "unchanged"},
                ),
                "dns_names": _list(
                    {"$ref": "#/$defs/dns_name"},
                    "New `-dns` list.",
                    **{"x-default": "unchanged"},
                ),
                "ttl": _ref(
                    "duration",
                    "New X509-SVID TTL (0: the server's `svid_ttl`).",
                    **{"x-default": "unchanged"},
                ),
            },
            ("trust_domain", "spiffe_id"),
        ),
        **{
            f"event_{kind}": event(
                kind,
                text,
                {
                    "trust_domain": _ref("trust_domain", "Trust domain whose server it is."),
                    "datastore": {
                        "enum": ["kept", "lost"],
                        "default": "kept",
                        "description": "What the server's next start finds: `kept` (the same "
                        "CA, keys and entries, with rotations that fell due caught up) or `lost` "
                        "(its data directory is gone: a new CA, no entries, no attested agents, "
                        "no federated bundles; `lost` on a stop applies to the next start).",
                    },
                },
                ("trust_domain",),
            )
            for kind, text in (
                (
                    "server_stop",
                    "The trust domain's SPIRE server stops (scaled to zero): its bundle "
                    "endpoint and agent API refuse connections, nothing rotates; agents keep "
                    "serving the SVIDs they hold until these expire.",
                ),
                (
                    "server_start",
                    "The server starts again after a `server_stop` of the same trust domain.",
                ),
            )
        },
        **{
            f"event_{kind}": event(
                kind,
                text,
                {
                    "trust_domain": _ref("trust_domain", "Trust domain whose agents they are."),
                    "node": _string(
                        "Name of the node whose agent it is.",
                        **{"x-default": "every agent of the trust domain"},
                    ),
                },
                ("trust_domain",),
            )
            for kind, text in (
                (
                    "agent_stop",
                    "The SPIRE agent stops: no sync, no rotation, no Workload API; workloads "
                    "keep their last SVIDs until these expire.",
                ),
                (
                    "agent_start",
                    "The agent starts again after an `agent_stop` with the same `node`: it "
                    "loads its agent SVID, or attests again if that expired meanwhile.",
                ),
            )
        },
        "event_pause": event(
            "pause",
            "The whole world is suspended (a laptop asleep): no process runs for `for`, "
            "then everything resumes with the wall clock moved on: certificates that expired "
            "meanwhile are found late, rotations that fell due run at the next tick. No other "
            "event may fall inside the pause.",
            {"for": _ref("positive_duration", "How long the pause lasts.")},
            ("for",),
        ),
        **{
            f"event_{kind}": event(
                kind,
                text,
                {
                    "between": {
                        "type": "array",
                        "items": _string(
                            "A place: a node, the cluster, a SPIRE server "
                            "(`<namespace>/spire-server`) or a workload's pod "
                            "(`<namespace>/<workload>`)."
                        ),
                        "minItems": 2,
                        "maxItems": 2,
                        "description": "The two places.",
                    }
                },
                ("between",),
            )
            for kind, text in (
                (
                    "partition",
                    "Drop all traffic between two places (from now on, for the pods running now).",
                ),
                ("heal", "Restore the traffic a `partition` of the same places dropped."),
            )
        },
    }


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of scenario files; a new dict on every call."""
    objects = _objects()
    events = [{"$ref": f"#/$defs/{name}"} for name in objects if name.startswith("event_")]
    top = {
        "name": _string("Name of the scenario; runs are written under `runs/<name>/`."),
        "description": _string(
            "What the scenario shows, in a sentence or two.", **{"x-default": "none"}
        ),
        "start": _ref(
            "instant",
            "The UTC instant of simulated time 0; certificate times and log timestamps "
            "derive from it.",
        ),
        "duration": _ref("positive_duration", "How much simulated time to run."),
        "seed": {
            "type": "integer",
            "minimum": 0,
            "default": 1,
            "description": (
                "Seed of every random stream (keys, serials, jitter): the same scenario and "
                "seed give byte-identical logs and certificates."
            ),
        },
        "profile": _ref(
            "profile", "Product versions imitated.", **{"x-default": "SPIRE 1.x, ghostunnel latest"}
        ),
        "web_pki": _ref(
            "web_pki", "Web PKI authorities, for `https_web`.", **{"x-default": "none"}
        ),
        "cluster": _ref(
            "cluster", "The Kubernetes cluster (on the docker bridge); or give `clusters:`."
        ),
        "clusters": _map(
            {"$ref": "#/$defs/dns_label"},
            {"$ref": "#/$defs/cluster_spec"},
            "Several clusters by name, each a site of its own joined by `links:` (instead of "
            "`cluster:`).",
            nullable=False,
            minProperties=1,
            **{"x-default": "the one `cluster:`"},
        ),
        "links": _list(
            {"$ref": "#/$defs/link"},
            "Routed links between the clusters of `clusters:`; without a route between two "
            "clusters their names do not resolve and their addresses time out.",
            default=[],
        ),
        "trust_domains": _map(
            {"$ref": "#/$defs/trust_domain_name"},
            {"$ref": "#/$defs/trust_domain_spec"},
            "The trust domains by name (at least one).",
            nullable=False,
            minProperties=1,
        ),
        "workloads": _map(
            {"$ref": "#/$defs/dns_label"},
            {"$ref": "#/$defs/workload"},
            "The workloads (pods) by name.",
            default={},
        ),
        "events": _list(
            {"oneOf": events},
            "The timeline: operator actions, each at its instant (ties keep file order).",
            default=[],
        ),
        "expect": _list(
            {"$ref": "#/$defs/expectation"},
            "The scenario's own checks, verified by `spire-sim run` (exit 1 if one fails).",
            default=[],
        ),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "spire-sim scenario",
        "description": (
            "A spire-sim scenario: trust domains with their SPIRE servers, agents and "
            "registration entries, workloads with ghostunnel sidecars on a kind cluster, and a "
            "timeline of operator actions. Defaults are SPIRE's unless said otherwise."
        ),
        "type": "object",
        "properties": top,
        "required": ["name", "start", "duration", "trust_domains"],
        "oneOf": [{"required": ["cluster"]}, {"required": ["clusters"]}],
        "additionalProperties": False,
        "$defs": {**objects, **_formats()},
    }


# --- the Markdown reference ------------------------------------------------------------------

_EXAMPLE = """\
name: seed-federation
description: >-
  foo.example.com and bar.example.com federate through their bundle endpoints (SPIRE 0.9,
  UpstreamCA disk roots made by cfssl); a ghostunnel client in bar reaches an HTTP server in foo
  over mTLS until the registration entries are re-created without federatesWith.
start: 2019-12-17T00:00:00Z
duration: 5h30m
seed: 1
profile: {spire: "0.9", ghostunnel: "1.5.2"}
cluster:
  name: spire-federation
  nodes:
    spire-federation-control-plane: {control_plane: true}
    spire-federation-worker: {taints: ["app=foo:NoSchedule"]}
    spire-federation-worker2: {taints: ["app=bar:NoSchedule"]}
trust_domains:
  foo.example.com:
    namespace: foo
    tolerations: ["app=foo:NoSchedule"]
    server:
      start: 32s
      svid_ttl: 1h
      upstream_authority: {disk: {generate: {common_name: foo root}, ttl: 12h}}
      bundle_endpoint: {port: 8443}
      federates_with:
        bar.example.com: {address: spire-server.bar.svc.cluster.local, port: 8443}
    agent: {start: 1h}
    entries:
      - {spiffe_id: spiffe://foo.example.com/spire-agent, selectors: ["k8s_psat:agent_ns:foo"],
         node: true}
  bar.example.com:
    namespace: bar
    tolerations: ["app=bar:NoSchedule"]
    server:
      start: 32s
      svid_ttl: 1h
      upstream_authority: {disk: {generate: {common_name: bar root}, ttl: 12h}}
      bundle_endpoint: {port: 8443}
      federates_with:
        foo.example.com: {address: spire-server.foo.svc.cluster.local, port: 8443}
    agent: {start: 1h}
    entries:
      - {spiffe_id: spiffe://bar.example.com/spire-agent, selectors: ["k8s_psat:agent_ns:bar"],
         node: true}
workloads:
  http-server:
    trust_domain: foo.example.com
    start: 1h15m
    labels: {app: http-server}
    app: {http_server: {port: 8080}}
    sidecar: {ghostunnel: server, listen: "0.0.0.0:8443", target: "127.0.0.1:8080",
              allow_uri: [spiffe://bar.example.com/client]}
    service: {name: http-server, port: 18443, target_port: 8443}
  client:
    trust_domain: bar.example.com
    start: 1h20m
    labels: {app: client}
    sidecar: {ghostunnel: client, listen: "0.0.0.0:8080",
              target: "http-server.foo.svc.cluster.local:18443",
              verify_uri: [spiffe://foo.example.com/http-server], unsafe_listen: true}
    traffic: {curl: "http://localhost:8080/", every: 10s, start: 1h21m}
events:
  - {at: 29m, do: bundle_set, trust_domain: foo.example.com, peer: bar.example.com}
  - {at: 29m, do: bundle_set, trust_domain: bar.example.com, peer: foo.example.com}
  - at: 1h5m
    do: entry_create
    trust_domain: foo.example.com
    entry: {spiffe_id: spiffe://foo.example.com/http-server,
            parent_id: spiffe://foo.example.com/spire-agent,
            selectors: ["k8s:pod-label:app:http-server"],
            dns_names: [http-server, http-server.foo.svc.cluster.local],
            federates_with: [spiffe://bar.example.com]}
  - at: 1h5m
    do: entry_create
    trust_domain: bar.example.com
    entry: {spiffe_id: spiffe://bar.example.com/client,
            parent_id: spiffe://bar.example.com/spire-agent,
            selectors: ["k8s:pod-label:app:client"], federates_with: [spiffe://foo.example.com]}
  - {at: 5h20m, do: entry_delete, trust_domain: foo.example.com,
     spiffe_id: spiffe://foo.example.com/http-server}
  - {at: 5h20m, do: entry_delete, trust_domain: bar.example.com,
     spiffe_id: spiffe://bar.example.com/client}
  - at: 5h21m
    do: entry_create
    trust_domain: foo.example.com
    entry: {spiffe_id: spiffe://foo.example.com/http-server,
            parent_id: spiffe://foo.example.com/spire-agent,
            selectors: ["k8s:pod-label:app:http-server"],
            dns_names: [http-server, http-server.foo.svc.cluster.local]}
  - at: 5h21m
    do: entry_create
    trust_domain: bar.example.com
    entry: {spiffe_id: spiffe://bar.example.com/client,
            parent_id: spiffe://bar.example.com/spire-agent,
            selectors: ["k8s:pod-label:app:client"]}
  - {at: 5h22m, do: workload_restart, workload: http-server}
  - {at: 5h22m, do: workload_restart, workload: client}
expect:
  - before: 29m
    log: {component: spire-server, trust_domain: foo.example.com, msg: Error updating bundle,
          fields: {error: local bundle not found}}
    count: {min: 28}
  - log: {instance: foo/spire-server-0, msg: Bundle refreshed,
          fields: {trust_domain: bar.example.com}}
    count: 1
  - log: {instance: foo/spire-server-0, msg: Scheduling next bundle refresh,
          fields: {trust_domain: bar.example.com, at: "2020-01-31T15:29:32Z"}}
    count: 1
  - at: 30m
    bundle: {of: bar.example.com, held_by: foo.example.com, x509_authorities: 1,
             jwt_authorities: 1}
  - during: [1h21m, 5h20m]
    requests: {from: client}
    result: ok
  - after: 5h22m
    requests: {from: client}
    result: 'error on dial: no roots for peer trust domain "spiffe://foo.example.com"'
    match: exact
  - after: 5h22m
    requests: {from: client}
    result: "curl: (56) Recv failure: Connection reset by peer"
    match: exact
  - after: 5h22m
    log: {component: ghostunnel, workload: http-server,
          contains: ": remote error: tls: bad certificate"}
    count: {min: 40}
"""

_INTRO = """\
A scenario is one YAML file describing a run of spire-sim: the kind cluster, the trust domains \
with their SPIRE servers, agents and registration entries, the workloads with their ghostunnel \
sidecars, and a timeline of operator actions. `spire-sim run FILE` loads it, reporting every \
mistake with its line and column, and simulates it. Settings carry the names of the SPIRE, \
ghostunnel and Kubernetes settings they model, and their defaults are SPIRE's unless a row says \
otherwise. Times in the file are durations counted from `start`. A list or map written with no \
value (YAML null) reads as empty, except where at least one item is required. The loader also \
checks what this reference can only say in words: names must refer to things the scenario \
defines, and some settings need a given `profile.spire` version. The same language is \
available as a JSON Schema (draft 2020-12) from `sim.schema.scenario_schema()`."""


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", title.lower())
    return text.replace(" ", "-")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _def_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.removeprefix("#/$defs/") if ref.startswith("#/$defs/") else None


def _is_section(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return "object" in kinds and "propertyNames" not in schema


class _Renderer:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.sections = [name for name, d in self.defs.items() if _is_section(d)]
        self.places: dict[str, list[str]] = {name: [] for name in self.defs}
        self._walk(schema, "")

    def _walk(self, node: Any, path: str) -> None:
        """Record where each definition is used, as a dotted path from the file's top."""
        if not isinstance(node, dict):
            return
        name = _def_name(node)
        if name is not None:
            if path and path not in self.places[name]:
                self.places[name].append(path)
                self._walk(self.defs[name], path)
            return
        for key, sub in node.get("properties", {}).items():
            self._walk(sub, f"{path}.{key}" if path else key)
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            self._walk(values, f"{path}.<{self._key_title(node)}>")
        if isinstance(node.get("items"), dict):
            self._walk(node["items"], f"{path}[]")
        for sub in node.get("oneOf", []):
            self._walk(sub, path)

    @staticmethod
    def _key_title(node: dict[str, Any]) -> str:
        name = _def_name(node.get("propertyNames", {})) or ""
        return "trust domain" if name.startswith("trust_domain") else "name"

    def link(self, name: str) -> str:
        d = self.defs[name]
        target = _anchor(d["title"]) if name in self.sections else "value-formats"
        return f"[{d['title']}](#{target})"

    def type_text(self, s: dict[str, Any]) -> str:
        name = _def_name(s)
        if name is not None:
            return self.link(name)
        if "const" in s:
            return f"`{s['const']}`"
        if "enum" in s:
            return "one of " + ", ".join(f"`{v}`" for v in s["enum"] if isinstance(v, str))
        if "oneOf" in s:
            return "one of " + ", ".join(self.type_text(x) for x in s["oneOf"])
        if "anyOf" in s:
            return " or ".join(self.type_text(x) for x in s["anyOf"])
        kind = s.get("type")
        kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
        if kinds == ["array"]:
            return "list of " + self.type_text(s.get("items", {}))
        if kinds == ["object"] and isinstance(s.get("additionalProperties"), dict):
            key = s.get("propertyNames", {})
            key_text = self.type_text(key) if _def_name(key) else "name"
            return f"map of {key_text} to {self.type_text(s['additionalProperties'])}"
        return " or ".join(k for k in kinds if k) or "any"

    @staticmethod
    def default_text(s: dict[str, Any]) -> str:
        if "default" in s:
            value = s["default"]
            return f"`{value if isinstance(value, str) else json.dumps(value)}`"
        return s.get("x-default", "")

    def table(self, obj: dict[str, Any]) -> list[str]:
        props = obj.get("properties", {})
        if not props:
            return ["No keys are fixed yet: any mapping is accepted."]
        required = obj.get("required", [])
        lines = [
            "| key | type | default | required | description |",
            "|---|---|---|---|---|",
        ]
        for key, s in props.items():
            req = "yes" if key in required else s.get("x-required", "no")
            row = [
                f"`{key}`",
                self.type_text(s),
                self.default_text(s),
                req,
                s.get("description", ""),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        return lines

    def formats(self) -> list[str]:
        lines = [
            "## Value formats",
            "",
            "| format | YAML type | examples | description |",
            "|---|---|---|---|",
        ]
        for name, d in self.defs.items():
            if name in self.sections:
                continue
            kinds = [x.get("type") for x in d["anyOf"]] if "anyOf" in d else [d.get("type")]
            yaml_type = " or ".join(str(k) for k in kinds)
            examples = ", ".join(f"`{e}`" for e in d.get("examples", []))
            row = [d["title"], yaml_type, examples, d.get("description", "")]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        return lines

    def render(self) -> str:
        out = [
            "# Scenario reference",
            "",
            "<!-- Generated from sim/schema.py by `python -m sim schema --markdown`; "
            "do not edit. -->",
            "",
            _INTRO,
            "",
            "## Example",
            "",
            "The seed scenario (`scenarios/seed.yaml`, without its comments): two SPIRE 0.9 trust "
            "domains federate, a ghostunnel client in one reaches an HTTP server in the other "
            "until the entries are re-created without `federates_with`, and the run checks "
            "itself against the blog's log lines.",
            "",
            "```yaml",
            _EXAMPLE.rstrip("\n"),
            "```",
            "",
            "## Top level",
            "",
            _cell(self.schema.get("description", "")),
            "",
            *self.table(self.schema),
            "",
        ]
        for name in self.sections:
            d = self.defs[name]
            places = ", ".join(f"`{p}`" for p in self.places[name])
            out += [f"## {d['title']}", "", _cell(d.get("description", ""))]
            if places:
                out += ["", f"Appears at: {places}."]
            out += ["", *self.table(d), ""]
        out += self.formats()
        return "\n".join(out) + "\n"


def render_reference(schema: dict[str, Any]) -> str:
    """The Markdown reference of ``schema`` (``docs/scenario-reference.md``), deterministic."""
    return _Renderer(schema).render()
