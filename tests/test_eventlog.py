"""Tests for sim.eventlog: appending, querying, and the exact native and JSONL renderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sim.clock import Clock, parse_duration
from sim.eventlog import (
    JSONL_KEYS,
    EventLog,
    EventLogError,
    Record,
    go_quote,
    go_sprint,
)

CLOCK = Clock.parse("2019-12-17T00:00:00Z")
REFRESHED = parse_duration("29m32s")
HANDSHAKE = parse_duration("5h26m41s") + 0.381518
DIAL_ERROR = parse_duration("5h26m35s") + 0.997469


def seed_log() -> EventLog:
    """The seed's observable lines: foo's server, both ghostunnels and curl."""
    log = EventLog()
    server = log.logger(
        "foo/spire-server-0",
        host="spire-federation-worker",
        component="spire-server",
        trust_domain="foo.example.com",
    )
    client = server.with_fields(subsystem_name="bundle_client")
    client.info(REFRESHED, "Bundle refreshed", trust_domain="bar.example.com")
    client.debug(
        REFRESHED,
        "Scheduling next bundle refresh",
        at=CLOCK.rfc3339(REFRESHED + parse_duration("45d15h")),
        trust_domain="bar.example.com",
    )
    bar_tunnel = log.logger(
        "bar/client/ghostunnel",
        host="spire-federation-worker2",
        component="ghostunnel",
        trust_domain="bar.example.com",
        style="golog",
    )
    bar_tunnel.error(
        DIAL_ERROR,
        'error on dial: no roots for peer trust domain "spiffe://foo.example.com"',
    )
    foo_tunnel = log.logger(
        "foo/http-server/ghostunnel",
        host="spire-federation-worker",
        component="ghostunnel",
        trust_domain="foo.example.com",
        style="golog",
    )
    foo_tunnel.error(
        HANDSHAKE,
        "error on TLS handshake from 10.244.2.15:33568: remote error: tls: bad certificate",
    )
    curl = log.logger(
        "bar/client/curl", host="spire-federation-worker2", component="curl", style="curl"
    )
    curl.error(HANDSHAKE, "Recv failure: Connection reset by peer", exit_code=56)
    return log


def test_logrus_lines_match_the_seed() -> None:
    assert seed_log().render_native("foo/spire-server-0", CLOCK) == (
        'time="2019-12-17T00:29:32Z" level=info msg="Bundle refreshed" '
        "subsystem_name=bundle_client trust_domain=bar.example.com\n"
        'time="2019-12-17T00:29:32Z" level=debug msg="Scheduling next bundle refresh" '
        'at="2020-01-31T15:29:32Z" subsystem_name=bundle_client trust_domain=bar.example.com\n'
    )


def test_golog_lines_match_the_seed() -> None:
    log = seed_log()
    assert log.render_native("foo/http-server/ghostunnel", CLOCK) == (
        "[1] 2019/12/17 05:26:41.381518 error on TLS handshake from 10.244.2.15:33568: "
        "remote error: tls: bad certificate\n"
    )
    assert log.render_native("bar/client/ghostunnel", CLOCK) == (
        "[1] 2019/12/17 05:26:35.997469 error on dial: no roots for peer trust domain "
        '"spiffe://foo.example.com"\n'
    )


def test_curl_line_matches_the_seed() -> None:
    assert seed_log().render_native("bar/client/curl", CLOCK) == (
        "curl: (56) Recv failure: Connection reset by peer\n"
    )


@pytest.mark.parametrize(
    ("level", "msg", "fields", "line"),
    [
        ("info", "plain", {}, 'time="2019-12-17T00:00:05Z" level=info msg=plain'),
        ("warn", "w", {}, 'time="2019-12-17T00:00:05Z" level=warning msg=w'),
        ("error", "", {"a": 1}, 'time="2019-12-17T00:00:05Z" level=error a=1'),
        (
            "debug",
            "sorted",
            {"zeta": "z", "alpha": "a", "Mid": "m", "_u": "u"},
            'time="2019-12-17T00:00:05Z" level=debug msg=sorted Mid=m _u=u alpha=a zeta=z',
        ),
        (
            "info",
            "m",
            {"error": "rpc error: code = Unavailable"},
            'time="2019-12-17T00:00:05Z" level=info msg=m error="rpc error: code = Unavailable"',
        ),
        (
            "info",
            "m",
            {"q": 'say "hi"', "bs": "a\\b", "nl": "a\nb"},
            'time="2019-12-17T00:00:05Z" level=info msg=m bs="a\\\\b" nl="a\\nb" q="say \\"hi\\""',
        ),
        (
            "info",
            "m",
            {"safe": "a-Z_0.9/x@y^z+w", "empty": "", "colon": "a:b", "eq": "a=b"},
            'time="2019-12-17T00:00:05Z" level=info msg=m colon="a:b" empty= eq="a=b" '
            "safe=a-Z_0.9/x@y^z+w",
        ),
        (
            "info",
            "m",
            {"ttl": 3600, "ok": True, "ratio": 0.5, "big": 1e6, "nil": None, "f": 3600.0},
            'time="2019-12-17T00:00:05Z" level=info msg=m big=1e+06 f=3600 nil="<nil>" '
            "ok=true ratio=0.5 ttl=3600",
        ),
        (
            "info",
            "m",
            {"expiration": datetime(2019, 12, 17, 12, tzinfo=UTC)},
            'time="2019-12-17T00:00:05Z" level=info msg=m '
            'expiration="2019-12-17 12:00:00 +0000 UTC"',
        ),
        (
            "info",
            "m",
            {"msg": "x", "level": "y", "time": "z", "other": "o"},
            'time="2019-12-17T00:00:05Z" level=info msg=m fields.level=y fields.msg=x '
            "fields.time=z other=o",
        ),
        (
            "info",
            "Bundle refreshed",
            {"trust_domain": "caf\u00e9.example"},
            'time="2019-12-17T00:00:05Z" level=info msg="Bundle refreshed" '
            'trust_domain="caf\u00e9.example"',
        ),
    ],
)
def test_logrus_rendering(level: str, msg: str, fields: dict[str, Any], line: str) -> None:
    log = EventLog()
    log.register("ns/x", host="h", component="spire-server")
    log.log(5, "ns/x", level, msg, **fields)
    assert log.render_native("ns/x", CLOCK) == line + "\n"
    assert log.render_line(log[0], CLOCK) == line


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('a "b"', '"a \\"b\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there", '"tab\\there"'),
        ("bell\x07", '"bell\\a"'),
        ("nul\x00", '"nul\\x00"'),
        ("del\x7f", '"del\\x7f"'),
        ("nbsp\u00a0", '"nbsp\\u00a0"'),
        ("caf\u00e9 \u65e5\u672c", '"caf\u00e9 \u65e5\u672c"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
        ([1, "a", True], "[1 a true]"),
    ],
)
def test_go_sprint(value: Any, text: str) -> None:
    assert go_sprint(value) == text


def test_golog_uses_the_instance_pid_and_strips_one_newline() -> None:
    log = EventLog()
    tunnel = log.logger("foo/t", host="h", component="ghostunnel", style="golog", pid=7)
    tunnel.info(0.000001, "starting ghostunnel in server mode\n")
    assert log.render_native("foo/t", CLOCK) == (
        "[7] 2019/12/17 00:00:00.000001 starting ghostunnel in server mode\n"
    )


def test_curl_without_exit_code_prints_the_message() -> None:
    log = EventLog()
    curl = log.logger("bar/c", host="h", component="curl", style="curl")
    curl.info(1, "<!DOCTYPE HTML PUBLIC>")
    assert log.render_native("bar/c", CLOCK) == "<!DOCTYPE HTML PUBLIC>\n"


def test_jsonl_is_fixed_and_byte_stable() -> None:
    first, second = seed_log().to_jsonl(CLOCK), seed_log().to_jsonl(CLOCK)
    assert first == second
    lines = first.splitlines()
    assert len(lines) == 5
    assert lines[0] == (
        '{"t":1772.0,"time":"2019-12-17T00:29:32.000000Z","host":"spire-federation-worker",'
        '"component":"spire-server","instance":"foo/spire-server-0",'
        '"trust_domain":"foo.example.com","level":"info","msg":"Bundle refreshed",'
        '"fields":{"subsystem_name":"bundle_client","trust_domain":"bar.example.com"},'
        '"style":"logrus"}'
    )
    for line in lines:
        obj = json.loads(line)
        assert tuple(obj) == JSONL_KEYS
        # The fast path must give what plain json.dumps with the documented options gives.
        assert json.dumps(obj, ensure_ascii=False, separators=(",", ":")) == line


def test_jsonl_keeps_non_ascii_and_renders_odd_values() -> None:
    log = EventLog()
    log.register("ns/x", host="h", component="app", style="plain")
    when = datetime(2020, 1, 31, 15, 29, 32, tzinfo=UTC)
    log.log(0, "ns/x", "info", "caf\u00e9", at=when, n=None, ids=("a", "b"))
    assert log.to_jsonl(CLOCK) == (
        '{"t":0.0,"time":"2019-12-17T00:00:00.000000Z","host":"h","component":"app",'
        '"instance":"ns/x","trust_domain":"","level":"info","msg":"caf\u00e9",'
        '"fields":{"at":"2020-01-31T15:29:32Z","n":null,"ids":["a","b"]},"style":"plain"}\n'
    )


def test_write_files(tmp_path: Path) -> None:
    log = seed_log()
    log.register("bar/silent", host="h", component="app", style="plain")
    paths = log.write_native(tmp_path / "native", CLOCK)
    assert [p.name for p in paths] == [
        "bar_client_curl.log",
        "bar_client_ghostunnel.log",
        "bar_silent.log",
        "foo_http-server_ghostunnel.log",
        "foo_spire-server-0.log",
    ]
    assert paths[0].read_bytes() == b"curl: (56) Recv failure: Connection reset by peer\n"
    assert paths[2].read_bytes() == b""
    jsonl = log.write_jsonl(tmp_path / "events.jsonl", CLOCK)
    assert jsonl.read_bytes() == log.to_jsonl(CLOCK).encode("utf-8")


def test_queries() -> None:
    log = seed_log()
    assert log.count() == len(log) == 5
    assert log.count(component="ghostunnel") == 2
    assert log.count(level="error") == 3
    assert log.count(trust_domain="foo.example.com") == 3
    assert log.count(fields={"trust_domain": "bar.example.com"}) == 2
    assert log.count(fields={"subsystem_name": "bundle_client", "at": "nope"}) == 0
    assert log.count(since=REFRESHED, until=REFRESHED + 1) == 2
    assert log.count(since=HANDSHAKE) == 2
    assert log.count(contains="no roots for peer trust domain") == 1
    assert log.find(msg="Bundle refreshed")[0].field("subsystem_name") == "bundle_client"
    first = log.first(component="ghostunnel")
    assert first is not None and first.instance == "bar/client/ghostunnel"
    assert log.first(component="spire-agent") is None
    assert log.instances() == [
        "bar/client/curl",
        "bar/client/ghostunnel",
        "foo/http-server/ghostunnel",
        "foo/spire-server-0",
    ]


def test_records_are_values() -> None:
    record = seed_log()[0]
    assert record == Record(
        REFRESHED,
        "spire-federation-worker",
        "spire-server",
        "foo/spire-server-0",
        "foo.example.com",
        "info",
        "Bundle refreshed",
        (("subsystem_name", "bundle_client"), ("trust_domain", "bar.example.com")),
        "logrus",
    )
    with pytest.raises(AttributeError):
        record.msg = "changed"  # type: ignore[misc]


def test_late_records_sort_into_place_stably() -> None:
    log = EventLog()
    app = log.logger("ns/a", host="h", component="app", style="plain")
    app.info(10, "third")
    app.info(5, "first")
    app.info(5, "second")
    app.info(20, "fourth")
    assert [r.msg for r in log] == ["first", "second", "third", "fourth"]
    assert log.render_native("ns/a", CLOCK) == "first\nsecond\nthird\nfourth\n"


def test_append_registers_and_checks_instances() -> None:
    log = EventLog()
    record = Record(1, "h", "app", "ns/a", "", "info", "m", (("k", "v"),), "plain")
    log.append(record)
    assert log[0] == record
    assert log.instance("ns/a").style == "plain"
    with pytest.raises(EventLogError, match='instance "ns/a" is already registered'):
        log.append(Record(2, "other-host", "app", "ns/a", "", "info", "m"))


def test_with_fields_lets_the_call_override() -> None:
    log = EventLog()
    base = log.logger("ns/s", host="h", component="spire-server")
    base.with_fields(subsystem_name="ca_manager", slot="A").info(0, "X509 CA prepared", slot="B")
    assert log[0].fields == (("subsystem_name", "ca_manager"), ("slot", "B"))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda log: log.log(0, "ns/none", "info", "m"),
            'unknown instance "ns/none": register it first',
        ),
        (
            lambda log: log.log(0, "ns/x", "warning", "m"),
            'invalid level "warning" (expected debug, info, warn, error)',
        ),
        (
            lambda log: log.register("ns/y", host="h", component="c", style="json"),
            'invalid style "json" for instance "ns/y" (expected logrus, golog, curl, plain)',
        ),
        (
            lambda log: log.register("../etc", host="h", component="c"),
            'invalid instance name "../etc": use letters, digits and ._:@/+- (it names a log file)',
        ),
        (
            lambda log: log.register("ns/x", host="h", component="other"),
            'instance "ns/x" is already registered as',
        ),
        (lambda log: log.render_native("ns/none", CLOCK), 'unknown instance "ns/none"'),
    ],
)
def test_errors(call: Any, message: str) -> None:
    log = EventLog()
    log.register("ns/x", host="h", component="c")
    with pytest.raises(EventLogError) as caught:
        call(log)
    assert str(caught.value).startswith(message)


def test_register_is_idempotent() -> None:
    log = EventLog()
    a = log.register("ns/x", host="h", component="c")
    assert log.register("ns/x", host="h", component="c") is a
