"""Tests for sim.scenario: the seed loads as the blog has it, every mistake is reported with its
exact file:line:col and message (all of them at once), and no input makes the loader raise
anything but ScenarioError."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.network import Taint, Toleration
from sim.registration import Selector
from sim.scenario import (
    DEFAULT_CA_TTL,
    BundleSetEvent,
    EntryCreateEvent,
    EntryDeleteEvent,
    Problem,
    Scenario,
    ScenarioError,
    WorkloadRestartEvent,
    builtin_scenario_path,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from sim.spiffeid import SpiffeID, TrustDomain

ROOT = Path(__file__).resolve().parents[1]
SEED_FILE = ROOT / "scenarios" / "seed.yaml"
FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")

# Nine lines: whatever a case appends starts at line 10.
MINIMAL = """\
name: t
start: 2019-12-17T00:00:00Z
duration: 1h
cluster:
  name: kind
  nodes: {kind-worker: {}}
trust_domains:
  foo.example.com:
    namespace: foo
"""


def problems(text: str | bytes, *, base_dir: Path | None = None) -> list[str]:
    """``line:col: message`` of every problem (the file name is checked elsewhere)."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.yaml", base_dir=base_dir)
    assert all(p.file == "t.yaml" for p in info.value.problems)
    return [f"{p.line}:{p.col}: {p.message}" for p in info.value.problems]


# --- the seed --------------------------------------------------------------------------------


def test_seed_loads_as_the_blog_has_it() -> None:
    sc = load_scenario(SEED_FILE)
    assert sc.name == "seed-federation"
    assert sc.start == datetime(2019, 12, 17, tzinfo=UTC)
    assert sc.duration == 5 * 3600 + 30 * 60
    assert (sc.profile.spire, sc.profile.ghostunnel) == ("0.9", "1.5.2")
    assert sc.source == str(SEED_FILE)
    assert [n.name for n in sc.cluster.nodes] == [
        "spire-federation-control-plane",
        "spire-federation-worker",
        "spire-federation-worker2",
    ]
    # The control plane gets kubeadm's master taint by default.
    assert [n.taints for n in sc.cluster.nodes] == [
        (Taint("node-role.kubernetes.io/master", "", "NoSchedule"),),
        (Taint("app", "foo", "NoSchedule"),),
        (Taint("app", "bar", "NoSchedule"),),
    ]
    foo = sc.domain("foo.example.com")
    assert foo.namespace == "foo"
    assert foo.tolerations == (Toleration("app", "Equal", "foo", "NoSchedule"),)
    server = foo.server
    assert (server.start, server.ca_ttl, server.svid_ttl) == (32.0, DEFAULT_CA_TTL, 3600.0)
    assert server.upstream_authority is not None
    assert server.upstream_authority.generate is not None
    assert server.upstream_authority.generate.common_name == "foo root"
    assert server.upstream_authority.ttl == 12 * 3600
    assert server.upstream_bundle is True
    assert server.bundle_endpoint is not None and server.bundle_endpoint.port == 8443
    (rel,) = server.federates_with
    assert rel.trust_domain == BAR
    assert rel.url == "https://spire-server.bar.svc.cluster.local:8443"
    assert str(rel.endpoint_spiffe_id) == "spiffe://bar.example.com/spire/server"
    assert foo.agent is not None and foo.agent.start == 3600
    (node_entry,) = foo.entries
    assert node_entry.node
    assert str(node_entry.parent_id) == "spiffe://foo.example.com/spire/server"
    assert node_entry.selectors == (Selector.parse("k8s_psat:agent_ns:foo"),)

    client = sc.workload("client")
    assert client.trust_domain == BAR
    assert client.label("app") == "client"
    assert client.sidecar is not None and client.sidecar.mode == "client"
    assert str(client.sidecar.target) == "http-server.foo.svc.cluster.local:18443"
    assert client.sidecar.verify_uris == (SpiffeID.parse("spiffe://foo.example.com/http-server"),)
    assert client.traffic is not None
    assert (client.traffic.every, client.traffic.start) == (10.0, 4860.0)
    server_wl = sc.workload("http-server")
    assert server_wl.service is not None
    assert (server_wl.service.port, server_wl.service.target_port) == (18443, 8443)
    assert server_wl.app is not None and server_wl.app.port == 8080

    kinds = [(e.at, type(e).__name__) for e in sc.events]
    assert kinds == [
        (1740.0, "BundleSetEvent"),
        (1740.0, "BundleSetEvent"),
        (3900.0, "EntryCreateEvent"),
        (3900.0, "EntryCreateEvent"),
        (19200.0, "EntryDeleteEvent"),
        (19200.0, "EntryDeleteEvent"),
        (19260.0, "EntryCreateEvent"),
        (19260.0, "EntryCreateEvent"),
        (19320.0, "WorkloadRestartEvent"),
        (19320.0, "WorkloadRestartEvent"),
    ]
    first = sc.events[0]
    assert isinstance(first, BundleSetEvent)
    assert (first.trust_domain, first.peer, first.ca_of) == (FOO, BAR, BAR)
    created = [e for e in sc.events if isinstance(e, EntryCreateEvent)]
    assert [e.entry.federates_with for e in created] == [(BAR,), (FOO,), (), ()]
    assert all(e.entry.ttl == 3600 for e in created)
    assert isinstance(sc.events[4], EntryDeleteEvent)
    assert isinstance(sc.events[-1], WorkloadRestartEvent)
    assert sc.events[-1].workload == "client"
    assert sc.clock().rfc3339(1772) == "2019-12-17T00:29:32Z"


def test_packaged_seed_is_the_same_file() -> None:
    packaged = builtin_scenario_path("seed")
    assert packaged.read_bytes() == SEED_FILE.read_bytes()
    assert "seed" in builtin_scenarios()
    assert load_scenario(packaged) == load_scenario(SEED_FILE)


def test_unknown_builtin_scenario() -> None:
    with pytest.raises(ScenarioError) as info:
        builtin_scenario_path("nope")
    assert str(info.value).startswith('<builtin>: no built-in scenario "nope" (available: ')


def test_values_are_frozen() -> None:
    sc = load_scenario(SEED_FILE)
    with pytest.raises(AttributeError):
        sc.name = "x"  # type: ignore[misc]
    assert hash(sc.trust_domains[0].entries[0]) == hash(sc.trust_domains[0].entries[0])


# --- all mistakes at once --------------------------------------------------------------------

FIVE_MISTAKES = """\
name: five
start: 2019-12-17T00:00:00Z
duration: [1, 2]
cluster:
  name: kind
  nodes: {kind-worker: {}}
trust_domains:
  foo.example.com:
    namespace: foo
    tolerationz: []
    entries:
      - {spiffe_id: "spiffe://foo.example.com/a/../b", node: true, selectors: ["x:y"]}
workloads:
  web: {trust_domain: baz.example.com}
events:
  - {at: 1m, do: workload_restart, workload: web, workload: web}
"""


def test_five_mistakes_five_messages() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(FIVE_MISTAKES, "five.yaml")
    assert str(info.value).splitlines() == [
        'five.yaml:3:11: expected a duration like "90s" or "12h", got [1, 2]',
        'five.yaml:10:5: unknown key "tolerationz" (did you mean "tolerations"?)',
        'five.yaml:12:21: invalid SPIFFE ID "spiffe://foo.example.com/a/../b": '
        "path cannot contain dot segments",
        'five.yaml:14:23: unknown trust domain "baz.example.com" (did you mean "foo.example.com"?)',
        'five.yaml:16:51: duplicate key "workload"',
    ]
    assert [(p.line, p.col) for p in info.value.problems] == [
        (3, 11),
        (10, 5),
        (12, 21),
        (14, 23),
        (16, 51),
    ]


def test_problem_rendering_and_pickling() -> None:
    assert str(Problem("s.yaml", 3, 7, "bad")) == "s.yaml:3:7: bad"
    assert (
        str(Problem("s.yaml", 0, 0, "cannot read scenario: x")) == "s.yaml: cannot read scenario: x"
    )
    err = ScenarioError([Problem("a", 1, 2, "x"), Problem("a", 3, 4, "y")])
    assert str(err) == "a:1:2: x\na:3:4: y"
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == err.problems and str(again) == str(err)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: cannot read scenario: No such file or directory"


# --- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "",
            [
                "1:1: empty scenario: expected a mapping with keys name, start, duration, "
                "cluster, trust_domains"
            ],
            id="empty",
        ),
        pytest.param(
            "# only a comment\n\n",
            [
                "1:1: empty scenario: expected a mapping with keys name, start, duration, "
                "cluster, trust_domains"
            ],
            id="comment-only",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00",
            ["1:1: not UTF-8 text: cannot decode byte 0x89"],
            id="binary",
        ),
        pytest.param(
            b"name: t\nstart: \xc3\x28\n",
            ["2:8: not UTF-8 text: cannot decode byte 0xc3"],
            id="bad-utf8-line-2",
        ),
        pytest.param(
            "name: t\x00\n", ["1:8: invalid YAML: unacceptable character #x0000"], id="nul"
        ),
        pytest.param("[" * 200, ["1:65: nesting deeper than 64 levels"], id="deep-flow"),
        pytest.param(
            "".join("  " * i + "a:\n" for i in range(100)),
            ["65:129: nesting deeper than 64 levels"],
            id="deep-block",
        ),
        pytest.param(
            "name: t\nstart: [1, 2\n",
            [
                "3:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
                "(while parsing a flow sequence at line 2, column 8)"
            ],
            id="unclosed-flow",
        ),
        pytest.param(
            "name: t\n  duration: 1h\n",
            ["2:11: invalid YAML: mapping values are not allowed here"],
            id="bad-indent",
        ),
        pytest.param(
            "name: t\n\tduration: 1h\n",
            ["2:1: invalid YAML: found character '\\t' that cannot start any token"],
            id="tab",
        ),
        pytest.param(
            "--- {}\n--- {}\n",
            [
                "2:1: invalid YAML: expected a single document in the stream, but found another "
                "document"
            ],
            id="two-documents",
        ),
        pytest.param(
            "name: *nowhere\n",
            ["1:7: invalid YAML: found undefined alias 'nowhere'"],
            id="undefined-alias",
        ),
        pytest.param("- 1\n- 2\n", ["1:1: expected a mapping, got [1, 2]"], id="top-list"),
        pytest.param("just text\n", ['1:1: expected a mapping, got "just text"'], id="top-scalar"),
        pytest.param("&a [*a]\n", ["1:1: expected a mapping, got [[[...]]]"], id="self-alias"),
    ],
)
def test_malformed_input(text: str | bytes, expected: list[str]) -> None:
    assert problems(text) == expected


def test_byte_order_mark_is_fine() -> None:
    sc = parse_scenario(b"\xef\xbb\xbf" + MINIMAL.encode(), "t.yaml")
    assert sc.name == "t"


# --- one mistake, one exact message ----------------------------------------------------------

CASES = [
    # (id, text appended to MINIMAL, expected problems)
    ("unknown-key", "duraton: 2h\n", ['10:1: unknown key "duraton" (did you mean "duration"?)']),
    (
        "unknown-key-no-match",
        "zzz: 1\n",
        [
            '10:1: unknown key "zzz" (expected one of: name, description, start, duration, '
            "seed, profile, web_pki, cluster, clusters, links, trust_domains, workloads, events, "
            "expect)"
        ],
    ),
    ("duplicate-key", "name: again\n", ['10:1: duplicate key "name"']),
    ("string-key", "1: x\n", ["10:1: expected a string key, got 1"]),
    ("unsupported-tag", "description: !!binary aGk=\n", ['10:14: unsupported tag "!!binary"']),
    ("seed-negative", "seed: -1\n", ["10:7: expected a non-negative integer, got -1"]),
    ("seed-string", "seed: one\n", ['10:7: expected a non-negative integer, got "one"']),
    (
        "profile-version",
        "profile: {spire: 1.0}\n",
        ['10:18: unknown spire version "1.0" (did you mean "1.x"?)'],
    ),
    (
        "profile-ghostunnel",
        "profile: {ghostunnel: lates}\n",
        ['10:23: unknown ghostunnel version "lates" (did you mean "latest"?)'],
    ),
    (
        "td-did-you-mean",
        "    tolerationz: []\n",
        ['10:5: unknown key "tolerationz" (did you mean "tolerations"?)'],
    ),
    (
        "tolerations-not-a-list",
        "    tolerations: app\n",
        ['10:18: expected a list of strings, got "app"'],
    ),
    ("toleration-not-a-string", "    tolerations: [[a]]\n", ["10:19: expected a string, got [a]"]),
    (
        "toleration-effect",
        "    tolerations: [app=foo:Never]\n",
        [
            '10:19: invalid toleration "app=foo:Never": invalid toleration effect "Never" '
            "(expected NoSchedule, PreferNoSchedule, NoExecute)"
        ],
    ),
    ("server-not-mapping", "    server: 5\n", ["10:13: expected a mapping, got 5"]),
    ("server-null", "    server:\n", ["10:5: expected a mapping, got null"]),
    (
        "ca-ttl-unit",
        "    server: {ca_ttl: 12x}\n",
        ['10:22: invalid duration "12x": unknown unit "x" (expected ms, s, m, h or d)'],
    ),
    (
        "ca-ttl-zero",
        "    server: {ca_ttl: 0}\n",
        ["10:22: expected a positive duration, got 0"],
    ),
    (
        "svid-ttl-list",
        "    server: {svid_ttl: [1, 2]}\n",
        ['10:24: expected a duration like "90s" or "12h", got [1, 2]'],
    ),
    (
        "base-60",
        "    server: {start: 1:30}\n",
        ['10:21: expected a duration like "90s" or "12h", got 1:30'],
    ),
    (
        "endpoint-port",
        "    server: {bundle_endpoint: {port: 0}}\n",
        ["10:38: expected a port number (1 to 65535), got 0"],
    ),
    (
        "upstream-bundle-profile",
        "    server: {upstream_bundle: false}\n",
        [
            '10:31: upstream_bundle: false needs profile spire "0.9" '
            "(later SPIRE always uses the upstream bundle)"
        ],
    ),
    (
        "upstream-plugin",
        "    server: {upstream_authority: {vault: {}}}\n",
        [
            '10:34: missing required key "disk"',
            '10:35: unknown key "vault" (expected one of: disk)',
        ],
    ),
    (
        "upstream-neither",
        "    server: {upstream_authority: {disk: {ttl: 1h}}}\n",
        ["10:41: missing cert_file and key_file (or generate)"],
    ),
    (
        "upstream-both",
        "    server: {upstream_authority: {disk: {generate: {common_name: r}, key_file: k}}}\n",
        [
            "10:42: give either cert_file and key_file, or generate, not both",
            '10:80: file "k" not found (looked for "/nonexistent/k")',
        ],
    ),
    (
        "upstream-cert-only",
        "    server: {upstream_authority: {disk: {cert_file: /etc/hostname}}}\n",
        ['10:41: missing required key "key_file"'],
    ),
    (
        "generate-needs-cn",
        "    server: {upstream_authority: {disk: {generate: {}}}}\n",
        ['10:52: missing required key "common_name"'],
    ),
    (
        "federate-with-self",
        "    server: {federates_with: {foo.example.com: {address: x}}}\n",
        ['10:31: trust domain "foo.example.com" cannot federate with itself'],
    ),
    (
        "federate-bad-td",
        "    server: {federates_with: {Bar: {address: x}}}\n",
        [
            '10:31: invalid trust domain "Bar": trust domain characters are limited to '
            "lowercase letters, numbers, dots, dashes, and underscores"
        ],
    ),
    (
        "federate-address",
        "    server: {federates_with: {bar.example.com: {address: 'a b', port: 99999}}}\n",
        [
            '10:58: invalid address "a b": expected a host name or IP address',
            "10:71: expected a port number (1 to 65535), got 99999",
        ],
    ),
    (
        "federate-missing-address",
        "    server: {federates_with: {bar.example.com: {}}}\n",
        ['10:48: missing required key "address"'],
    ),
    (
        "federate-endpoint-id",
        "    server: {federates_with: {bar.example.com: {address: a, endpoint_spiffe_id: x}}}\n",
        ['10:81: invalid SPIFFE ID "x": scheme is missing or invalid'],
    ),
    (
        "agent-start",
        "    agent: {start: soon}\n",
        ['10:20: invalid duration "soon": expected a number at "soon"'],
    ),
    ("entries-not-list", "    entries: {}\n", ["10:14: expected a list, got {}"]),
    (
        "entry-bad-id",
        "    entries: [{spiffe_id: 'spiffe://foo.example.com/a/', node: true, selectors: [a:b]}]\n",
        [
            '10:27: invalid SPIFFE ID "spiffe://foo.example.com/a/": '
            "path cannot have a trailing slash"
        ],
    ),
    (
        "entry-other-td",
        "    entries: [{spiffe_id: spiffe://bar.example.com/a, node: true, selectors: [a:b]}]\n",
        ['10:27: SPIFFE ID "spiffe://bar.example.com/a" is not in trust domain "foo.example.com"'],
    ),
    (
        "entry-parent-other-td",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, parent_id: spiffe://bar.example.com/p,"
        " selectors: [a:b]}]\n",
        ['10:66: parent ID "spiffe://bar.example.com/p" is not in trust domain "foo.example.com"'],
    ),
    (
        "entry-missing-parent",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, selectors: [a:b]}]\n",
        [
            '10:15: missing required key "parent_id" '
            "(a parent ID is required if the node flag is not set)"
        ],
    ),
    (
        "entry-node-and-parent",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, node: true,"
        " parent_id: spiffe://foo.example.com/p, selectors: [a:b]}]\n",
        ["10:67: parent_id is not allowed with node: true (a node entry's parent is the server)"],
    ),
    (
        "entry-selector",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, node: true,"
        " selectors: [k8s, ':x']}]\n",
        [
            '10:79: selector "k8s" must be formatted as type:value',
            '10:84: invalid selector ":x": missing selector type',
        ],
    ),
    (
        "entry-no-selectors",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, node: true, selectors: []}]\n",
        ["10:78: expected at least one selector"],
    ),
    (
        "entry-dns",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, node: true, selectors: [a:b],"
        " dns_names: [-x]}]\n",
        ['10:97: invalid DNS name "-x"'],
    ),
    (
        "entry-federates-with-syntax",
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, node: true, selectors: [a:b],"
        " federates_with: ['spiffe://Bar']}]\n",
        [
            '10:102: invalid trust domain "spiffe://Bar": trust domain characters are limited '
            "to lowercase letters, numbers, dots, dashes, and underscores"
        ],
    ),
    (
        "td-duplicate-key",
        "    namespace: foo2\n",
        ['10:5: duplicate key "namespace"'],
    ),
    (
        "namespace-syntax",
        "  bar.example.com: {namespace: Bar}\n",
        [
            "10:32: invalid namespace \"Bar\": expected lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        ],
    ),
    (
        "namespace-taken",
        "  bar.example.com: {namespace: foo}\n",
        ['10:32: namespace "foo" is already used by trust domain "foo.example.com"'],
    ),
    (
        "td-name",
        "  UPPER.example.com: {namespace: up}\n",
        [
            '10:3: invalid trust domain "UPPER.example.com": trust domain characters are '
            "limited to lowercase letters, numbers, dots, dashes, and underscores"
        ],
    ),
    (
        "td-missing-namespace",
        "  bar.example.com: {}\n",
        ['10:20: missing required key "namespace"'],
    ),
    (
        "workload-td",
        "workloads: {web: {trust_domain: bar.example.com}}\n",
        ['10:33: unknown trust domain "bar.example.com" (did you mean "foo.example.com"?)'],
    ),
    (
        "workload-td-far",
        "workloads: {web: {trust_domain: zzz}}\n",
        ['10:33: unknown trust domain "zzz" (expected one of: foo.example.com)'],
    ),
    (
        "workload-name",
        "workloads: {Web: {trust_domain: foo.example.com}}\n",
        [
            "10:13: invalid workload name \"Web\": expected lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        ],
    ),
    (
        "workload-labels",
        "workloads: {web: {trust_domain: foo.example.com, labels: {app: 1, v: 'a b'}}}\n",
        [
            "10:64: expected a string, got 1",
            "10:70: invalid label value \"a b\": at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
        ],
    ),
    (
        "sidecar-mode",
        "workloads: {web: {trust_domain: foo.example.com, sidecar: {ghostunnel: serve,"
        " listen: 'a:1', target: 'b:2'}}}\n",
        ['10:72: unknown ghostunnel mode "serve" (did you mean "server"?)'],
    ),
    (
        "sidecar-allow-uri-in-client",
        "workloads: {web: {trust_domain: foo.example.com, sidecar: {ghostunnel: client,"
        " listen: 'a:1', target: 'b:2', allow_uri: []}}}\n",
        [
            "10:110: allow_uri is for ghostunnel server mode; "
            "a client checks the server with verify_uri"
        ],
    ),
    (
        "sidecar-verify-uri-in-server",
        "workloads: {web: {trust_domain: foo.example.com, sidecar: {ghostunnel: server,"
        " listen: 'a:1', target: 'b:2', verify_uri: []}}}\n",
        [
            "10:110: verify_uri is for ghostunnel client mode; "
            "a server checks clients with allow_uri"
        ],
    ),
    (
        "sidecar-addresses",
        "workloads: {web: {trust_domain: foo.example.com, sidecar: {ghostunnel: server,"
        " listen: '0.0.0.0', target: 'b:0', allow_uri: [spiffe://x/y, 3]}}}\n",
        [
            '10:88: invalid address "0.0.0.0": expected "host:port"',
            '10:107: invalid address "b:0": port must be between 1 and 65535',
            "10:140: expected a string, got 3",
        ],
    ),
    (
        "service",
        "workloads: {web: {trust_domain: foo.example.com, service: {name: 1web, port: '80'}}}\n",
        [
            "10:66: invalid service name \"1web\": expected lowercase letters, digits and '-', "
            "starting with a letter",
            '10:78: expected a port number (1 to 65535), got "80"',
        ],
    ),
    (
        "traffic",
        "workloads: {web: {trust_domain: foo.example.com,"
        " traffic: {curl: 'ftp://x', every: 0s}}}\n",
        [
            '10:66: invalid URL "ftp://x": expected "http://host[:port]/path"',
            '10:84: expected a positive duration, got "0s"',
        ],
    ),
    (
        "app",
        "workloads: {web: {trust_domain: foo.example.com, app: {http_server: {}}}}\n",
        ['10:69: missing required key "port"'],
    ),
    ("events-not-list", "events: {}\n", ["10:9: expected a list, got {}"]),
    ("event-not-mapping", "events: [5]\n", ["10:10: expected a mapping, got 5"]),
    (
        "event-unknown-do",
        "events: [{at: 1m, do: entry_delet}]\n",
        ['10:23: unknown event "entry_delet" (did you mean "entry_delete"?)'],
    ),
    (
        "event-missing-do",
        "events: [{at: 1m}]\n",
        ['10:10: missing required key "do"'],
    ),
    (
        "event-after-end",
        "events: [{at: 2h, do: workload_restart, workload: w}]\n",
        [
            "10:15: at 2h is after the end of the run (duration 1h)",
            '10:51: unknown workload "w" (none are defined)',
        ],
    ),
    (
        "event-unknown-key",
        "events: [{at: 1m, do: entry_delete, trust_domain: foo.example.com,"
        " spiffe_id: spiffe://foo.example.com/x, peer: x}]\n",
        ['10:107: unknown key "peer" (expected one of: at, do, trust_domain, spiffe_id)'],
    ),
    (
        "event-entry-delete-other-td",
        "events: [{at: 1m, do: entry_delete, trust_domain: foo.example.com,"
        " spiffe_id: spiffe://bar.example.com/x}]\n",
        ['10:79: SPIFFE ID "spiffe://bar.example.com/x" is not in trust domain "foo.example.com"'],
    ),
    (
        "event-bundle-set",
        "events: [{at: 1m, do: bundle_set, trust_domain: foo.example.com,"
        " peer: bar.example.com}]\n",
        ['10:72: unknown trust domain "bar.example.com" (did you mean "foo.example.com"?)'],
    ),
    (
        "event-bundle-set-self",
        "events: [{at: 1m, do: bundle_set, trust_domain: foo.example.com,"
        " peer: foo.example.com}]\n",
        [
            '10:72: peer "foo.example.com" is the trust domain itself; '
            "bundle_set stores the bundle of another trust domain"
        ],
    ),
    (
        "event-entry-create",
        "events: [{at: 1m, do: entry_create, trust_domain: foo.example.com,"
        " entry: {spiffe_id: spiffe://foo.example.com/x}}]\n",
        [
            '10:75: missing required key "parent_id" '
            "(a parent ID is required if the node flag is not set)",
            '10:75: missing required key "selectors"',
        ],
    ),
    (
        "minimal-is-valid",
        "",
        [],
    ),
]


@pytest.mark.parametrize(("extra", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_mistake_one_message(extra: str, expected: list[str]) -> None:
    if not expected:
        assert parse_scenario(MINIMAL + extra, "t.yaml").name == "t"
        return
    assert problems(MINIMAL + extra, base_dir=Path("/nonexistent")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL.replace("duration: 1h", "duration: 0s"),
            ['3:11: expected a positive duration, got "0s"'],
            id="duration-zero",
        ),
        pytest.param(
            MINIMAL.replace("2019-12-17T00:00:00Z", "2019-12-17T00:00:00"),
            [
                '2:8: invalid datetime "2019-12-17T00:00:00": missing time zone '
                '(write it like "2019-12-17T00:00:00Z")'
            ],
            id="start-naive",
        ),
        pytest.param(
            MINIMAL.replace("2019-12-17T00:00:00Z", "'17 Dec 2019'"),
            ['2:8: invalid datetime "17 Dec 2019": expected RFC 3339 like "2019-12-17T00:00:00Z"'],
            id="start-text",
        ),
        pytest.param(
            MINIMAL.replace("2019-12-17T00:00:00Z", "[2019]"),
            ['2:8: expected a time like "2019-12-17T00:00:00Z", got [2019]'],
            id="start-list",
        ),
        pytest.param(
            MINIMAL.replace("{kind-worker: {}}", "{kind-worker: {taints: [app=foo:Sometimes]}}"),
            [
                '6:34: invalid taint "app=foo:Sometimes": invalid taint effect "Sometimes" '
                "(expected NoSchedule, PreferNoSchedule, NoExecute)"
            ],
            id="taint",
        ),
        pytest.param(
            MINIMAL.replace("{kind-worker: {}}", "{kind-worker: {control_plane: 1}}"),
            ["6:40: expected true or false, got 1"],
            id="control-plane-bool",
        ),
        pytest.param(
            MINIMAL.replace("{kind-worker: {}}", "{}"),
            ["6:10: expected at least one node"],
            id="no-nodes",
        ),
        pytest.param(
            MINIMAL.replace("{kind-worker: {}}", "{Kind_Worker: {}}"),
            [
                '6:11: invalid node name "Kind_Worker": expected lowercase letters, digits '
                "and '-', starting and ending with a letter or digit (dots allowed)"
            ],
            id="node-name",
        ),
        pytest.param(
            MINIMAL.split("trust_domains:")[0] + "trust_domains: {}\n",
            ["7:16: expected at least one trust domain"],
            id="no-trust-domains",
        ),
        pytest.param(
            MINIMAL.split("trust_domains:")[0] + "trust_domains:\n",
            ["7:1: expected at least one trust domain"],
            id="null-trust-domains",
        ),
    ],
)
def test_top_level_mistakes(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_unknown_trust_domain_in_entry_federates_with_is_not_a_load_error() -> None:
    # SPIRE refuses it when the entry is created ("unable to find federated bundle"): a run-time
    # event, which a scenario may want to show.
    text = MINIMAL + (
        "    entries: [{spiffe_id: spiffe://foo.example.com/a, node: true, selectors: [a:b],"
        " federates_with: [spiffe://elsewhere.test]}]\n"
    )
    (entry,) = parse_scenario(text).domain("foo.example.com").entries
    assert entry.federates_with == (TrustDomain("elsewhere.test"),)


def test_relative_files_resolve_against_the_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("cert")
    (tmp_path / "ca-key.pem").write_text("key")
    path = tmp_path / "s.yaml"
    path.write_text(
        MINIMAL + "    server: {upstream_authority: {disk: {cert_file: ca.pem,"
        " key_file: ca-key.pem}}, ca_ttl: 2h}\n"
    )
    upstream = load_scenario(path).domain("foo.example.com").server.upstream_authority
    assert upstream is not None
    assert (upstream.cert_file, upstream.key_file) == (tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert upstream.ttl == 7200  # the disk plugin's ttl defaults to ca_ttl


def test_defaults_are_spires() -> None:
    sc = parse_scenario(MINIMAL)
    assert isinstance(sc, Scenario)
    assert (sc.seed, sc.profile.spire, sc.profile.ghostunnel) == (1, "1.x", "latest")
    server = sc.domain("foo.example.com").server
    assert (server.start, server.ca_ttl, server.svid_ttl) == (0.0, 86400.0, 3600.0)
    assert server.upstream_authority is None and server.bundle_endpoint is None
    assert sc.domain("foo.example.com").agent is None
    assert sc.cluster.nodes[0].taints == ()


# --- no input escapes as anything but ScenarioError ------------------------------------------

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
SEED_LINES = SEED_TEXT.splitlines(keepends=True)
TRICKY = [
    "", "[]", "{}", "null", "~", "1:30", "-1", "0", "yes", "!!binary aGk=", "*a", "&a x", "'",
    '"', "\t", "0x_", "2019-13-45", "9" * 400, ".inf", ".nan", "[[[[", "{a: *b}", "!foo x",
    "spiffe://", "spiffe://Foo/x", "a:b:c", "0.0.0.0:0", "99999999", "- x", "? x", "<<: {}",
    "\u00e9\u00e8", "%TAG ! x", "--- x", "|\n  x", ">-", "2019-12-17", "0001-01-01T00:00:00+01:00",
]  # fmt: skip


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    lines = list(SEED_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "value", "line", "bytes"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "value" and ": " in lines[i]:
            head = lines[i].split(": ", 1)[0]
            lines[i] = f"{head}: {draw(st.sampled_from(TRICKY))}\n"
        elif op == "line":
            lines[i] = draw(st.text(max_size=30)) + "\n"
        if not lines:
            lines = ["\n"]
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    return data


def _loads_or_reports(data: str | bytes) -> None:
    try:
        sc = parse_scenario(data, "fuzz.yaml", base_dir=Path("/nonexistent"))
    except ScenarioError as exc:
        assert exc.problems
        assert all(p.file == "fuzz.yaml" and p.line >= 1 and p.col >= 1 for p in exc.problems)
        assert str(exc)
    else:
        assert isinstance(sc, Scenario)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seed())
def test_mutated_seed_never_crashes(data: bytes) -> None:
    _loads_or_reports(data)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_input_never_crashes(data: str | bytes) -> None:
    _loads_or_reports(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TRICKY + ["a:", "  b:", "- c", "x: y", "\n"]), max_size=12))
def test_yaml_shaped_input_never_crashes(parts: list[str]) -> None:
    _loads_or_reports("\n".join(parts))
