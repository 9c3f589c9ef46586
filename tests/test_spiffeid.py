"""Tests for sim.spiffeid: go-spiffe v2's parse rules and exact error texts, plus the spec's
length limits (SPIFFE-ID.md section 2.3)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from sim.spiffeid import SpiffeID, SpiffeIDError, TrustDomain

# go-spiffe v2.8.1 spiffeid/errors.go, verbatim.
BAD_TD_CHAR = (
    "trust domain characters are limited to lowercase letters, numbers, dots, dashes, "
    "and underscores"
)
BAD_PATH_CHAR = (
    "path segment characters are limited to letters, numbers, dots, dashes, and underscores"
)
DOT_SEGMENT = "path cannot contain dot segments"
NO_LEADING_SLASH = "path must have a leading slash"
EMPTY = "cannot be empty"
EMPTY_SEGMENT = "path cannot contain empty segments"
MISSING_TD = "trust domain is missing"
TRAILING_SLASH = "path cannot have a trailing slash"
WRONG_SCHEME = "scheme is missing or invalid"

# Ours (go-spiffe has no length checks).
TD_TOO_LONG_256 = "trust domain is too long: 256 bytes, the limit is 255"
ID_TOO_LONG_2049 = "SPIFFE ID is too long: 2049 bytes, the limit is 2048"

TD_255 = "a" * 255
TD_256 = "a" * 256
# "spiffe://" (9) + "td" (2) + path: a path of 2037 bytes gives exactly 2048.
PATH_2037 = "/" + "p" * 2036
PATH_2038 = "/" + "p" * 2037


def raises(message: str) -> AbstractContextManager[pytest.ExceptionInfo[SpiffeIDError]]:
    """Expect SpiffeIDError whose str() is exactly ``message`` (not merely containing it)."""
    return pytest.raises(SpiffeIDError, match="^" + re.escape(message) + "$")


# (text, trust domain name, path)
VALID_IDS = [
    ("spiffe://trustdomain", "trustdomain", ""),
    ("spiffe://trustdomain/path", "trustdomain", "/path"),
    ("spiffe://foo.example.com/http-server", "foo.example.com", "/http-server"),
    (
        "spiffe://k8s-west.example.com/ns/staging/sa/default",
        "k8s-west.example.com",
        "/ns/staging/sa/default",
    ),
    (
        "spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453",
        "example.com",
        "/9eebccd2-12bf-40a6-b262-65fe0487d453",
    ),
    ("spiffe://a-b_c.0-9/A-Z_a.z-0", "a-b_c.0-9", "/A-Z_a.z-0"),
    ("spiffe://td/UPPER/Case", "td", "/UPPER/Case"),
    # Segments that contain dots but are not exactly "." or ".." are fine (go-spiffe id_test.go).
    ("spiffe://trustdomain/.path", "trustdomain", "/.path"),
    ("spiffe://trustdomain/..path", "trustdomain", "/..path"),
    ("spiffe://trustdomain/...", "trustdomain", "/..."),
    ("spiffe://trustdomain/path./x..", "trustdomain", "/path./x.."),
    ("spiffe://.", ".", ""),
    ("spiffe://_-/-_", "_-", "/-_"),
    ("spiffe://" + TD_255, TD_255, ""),
    ("spiffe://td" + PATH_2037, "td", PATH_2037),
]

# (text, exact error)
INVALID_IDS = [
    ("", EMPTY),
    ("s", WRONG_SCHEME),
    ("spiffe:/", WRONG_SCHEME),
    ("spiffe:/trustdomain/path", WRONG_SCHEME),
    ("Spiffe://trustdomain", WRONG_SCHEME),
    ("SPIFFE://trustdomain", WRONG_SCHEME),
    ("https://trustdomain/path", WRONG_SCHEME),
    ("trustdomain/path", WRONG_SCHEME),
    (" spiffe://trustdomain", WRONG_SCHEME),
    ("spiffe://", MISSING_TD),
    ("spiffe:///", MISSING_TD),
    ("spiffe:///path", MISSING_TD),
    ("spiffe://trustdomain/", TRAILING_SLASH),
    ("spiffe://trustdomain/path/", TRAILING_SLASH),
    ("spiffe://trustdomain//", EMPTY_SEGMENT),
    ("spiffe://trustdomain//path", EMPTY_SEGMENT),
    ("spiffe://trustdomain/a//b", EMPTY_SEGMENT),
    ("spiffe://trustdomain/.", DOT_SEGMENT),
    ("spiffe://trustdomain/./path", DOT_SEGMENT),
    ("spiffe://trustdomain/path/./other", DOT_SEGMENT),
    ("spiffe://trustdomain/path/..", DOT_SEGMENT),
    ("spiffe://trustdomain/..", DOT_SEGMENT),
    ("spiffe://trustdomain/../path", DOT_SEGMENT),
    ("spiffe://trustdomain/path/../other", DOT_SEGMENT),
    ("spiffe://Trustdomain/path", BAD_TD_CHAR),
    ("spiffe://FOO.EXAMPLE.COM", BAD_TD_CHAR),
    ("spiffe://trust$domain", BAD_TD_CHAR),
    ("spiffe://trustdomain/path$", BAD_PATH_CHAR),
    # No percent-encoding anywhere.
    ("spiffe://%F0%9F%A4%AF/path", BAD_TD_CHAR),
    ("spiffe://trustdomain/%F0%9F%A4%AF", BAD_PATH_CHAR),
    ("spiffe://%62%61%64/path", BAD_TD_CHAR),
    ("spiffe://trustdomain/%62%61%64", BAD_PATH_CHAR),
    # No port, userinfo, query or fragment: each is caught by the charset checks.
    ("spiffe://trustdomain:8443/path", BAD_TD_CHAR),
    ("spiffe://trustdomain:8443", BAD_TD_CHAR),
    ("spiffe://user@trustdomain/path", BAD_TD_CHAR),
    ("spiffe://user:pass@trustdomain", BAD_TD_CHAR),
    ("spiffe://trustdomain?query=1", BAD_TD_CHAR),
    ("spiffe://trustdomain/path?query=1", BAD_PATH_CHAR),
    ("spiffe://trustdomain#fragment", BAD_TD_CHAR),
    ("spiffe://trustdomain/path#fragment", BAD_PATH_CHAR),
    ("spiffe://[::1]/path", BAD_TD_CHAR),
    # Non-ASCII and whitespace.
    ("spiffe://dömain/path", BAD_TD_CHAR),
    ("spiffe://trustdomain/päth", BAD_PATH_CHAR),
    ("spiffe://trustdomain/a b", BAD_PATH_CHAR),
    ("spiffe://trustdomain/path ", BAD_PATH_CHAR),
    ("spiffe://trustdomain\n", BAD_TD_CHAR),
    ("spiffe://trust\\domain", BAD_TD_CHAR),
    ("spiffe://trustdomain/a\\b", BAD_PATH_CHAR),
    # Precedence follows go-spiffe's left-to-right scan.
    ("spiffe://trust$domain//", BAD_TD_CHAR),
    ("spiffe://trustdomain/a$/./b", BAD_PATH_CHAR),
    ("spiffe://trustdomain/./a$", DOT_SEGMENT),
    ("spiffe://trustdomain/a$/", BAD_PATH_CHAR),
    ("spiffe://trustdomain//a/", EMPTY_SEGMENT),
    ("spiffe://trustdomain/a/b$/", BAD_PATH_CHAR),
    # Length limits (SPIFFE-ID.md 2.3), ours.
    ("spiffe://" + TD_256, TD_TOO_LONG_256),
    ("spiffe://" + TD_256 + "/path", TD_TOO_LONG_256),
    ("spiffe://td" + PATH_2038, ID_TOO_LONG_2049),
    # go-spiffe's own reasons win over our length limits.
    ("spiffe://" + TD_256 + "/bad$", BAD_PATH_CHAR),
    ("spiffe://td" + PATH_2038 + "/", TRAILING_SLASH),
]

# (text, trust domain name)
VALID_TRUST_DOMAINS = [
    ("trustdomain", "trustdomain"),
    ("foo.example.com", "foo.example.com"),
    ("a_b-c.d9", "a_b-c.d9"),
    ("spiffe://trustdomain", "trustdomain"),
    ("spiffe://trustdomain/path", "trustdomain"),
    ("spiffe://bar.example.com/ns/prod/sa/web", "bar.example.com"),
    (TD_255, TD_255),
    ("spiffe://" + TD_255 + "/x", TD_255),
]

# (text, exact error)
INVALID_TRUST_DOMAINS = [
    ("", MISSING_TD),
    ("spiffe:/trustdomain/path", WRONG_SCHEME),
    ("https://trustdomain", WRONG_SCHEME),
    ("SPIFFE://trustdomain", WRONG_SCHEME),
    ("spiffe://", MISSING_TD),
    ("spiffe:///path", MISSING_TD),
    # An ID is parsed whole, so its path must be valid too (go-spiffe trustdomain_test.go).
    ("spiffe://trustdomain/", TRAILING_SLASH),
    ("spiffe://trustdomain/path/", TRAILING_SLASH),
    ("spiffe://trustdomain/../x", DOT_SEGMENT),
    ("spiffe://%F0%9F%A4%AF/path", BAD_TD_CHAR),
    ("spiffe://trustdomain/%F0%9F%A4%AF", BAD_PATH_CHAR),
    ("Foo.example.com", BAD_TD_CHAR),
    ("foo.example.com:8443", BAD_TD_CHAR),
    ("user@foo.example.com", BAD_TD_CHAR),
    ("foo.example.com/path", BAD_TD_CHAR),
    # Without ":/" it is taken as a bare name, so "//" is a bad character, not a scheme.
    ("spiffe//foo", BAD_TD_CHAR),
    ("spiffe:foo", BAD_TD_CHAR),
    ("dömain", BAD_TD_CHAR),
    (" trustdomain", BAD_TD_CHAR),
    (TD_256, TD_TOO_LONG_256),
    ("spiffe://" + TD_256, TD_TOO_LONG_256),
]

# (path, exact error or None when valid)
FROM_PATH_CASES = [
    ("", None),
    ("/a", None),
    ("/a/b/c", None),
    ("/.a/..b/...", None),
    ("a", NO_LEADING_SLASH),
    ("a/b", NO_LEADING_SLASH),
    (".", NO_LEADING_SLASH),
    ("/", TRAILING_SLASH),
    ("/a/", TRAILING_SLASH),
    ("//", EMPTY_SEGMENT),
    ("//a", EMPTY_SEGMENT),
    ("/.", DOT_SEGMENT),
    ("/..", DOT_SEGMENT),
    ("/a/../b", DOT_SEGMENT),
    ("/a b", BAD_PATH_CHAR),
    ("/a?b=c", BAD_PATH_CHAR),
    ("/a#b", BAD_PATH_CHAR),
    ("/a%20b", BAD_PATH_CHAR),
    ("/a:b", BAD_PATH_CHAR),
    (PATH_2037, None),
    (PATH_2038, ID_TOO_LONG_2049),
]

TD_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-_")
PATH_CHARS = TD_CHARS | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize(("text", "td_name", "path"), VALID_IDS)
def test_parse_valid_id(text: str, td_name: str, path: str) -> None:
    sid = SpiffeID.parse(text)
    assert sid.trust_domain == TrustDomain(td_name)
    assert sid.trust_domain.name == td_name
    assert sid.path == path
    assert str(sid) == text
    assert SpiffeID.parse(str(sid)) == sid
    assert SpiffeID.from_path(TrustDomain(td_name), path) == sid
    assert SpiffeID(TrustDomain(td_name), path) == sid
    assert sid.member_of(TrustDomain(td_name))


@pytest.mark.parametrize(("text", "message"), INVALID_IDS)
def test_parse_invalid_id(text: str, message: str) -> None:
    with raises(message) as info:
        SpiffeID.parse(text)
    assert str(info.value) == message
    assert info.value.args == (message,)


@pytest.mark.parametrize(("text", "td_name"), VALID_TRUST_DOMAINS)
def test_parse_valid_trust_domain(text: str, td_name: str) -> None:
    td = TrustDomain.parse(text)
    assert td == TrustDomain(td_name)
    assert td.name == td_name
    assert str(td) == td_name
    assert td.id_string() == "spiffe://" + td_name
    assert td.id() == SpiffeID.parse("spiffe://" + td_name)
    assert td.id().path == ""
    assert str(td.id()) == td.id_string()
    assert TrustDomain.parse(str(td)) == td
    assert TrustDomain.parse(td.id_string()) == td


@pytest.mark.parametrize(("text", "message"), INVALID_TRUST_DOMAINS)
def test_parse_invalid_trust_domain(text: str, message: str) -> None:
    with raises(message) as info:
        TrustDomain.parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("path", "message"), FROM_PATH_CASES)
def test_from_path_validates(path: str, message: str | None) -> None:
    td = TrustDomain("td")
    if message is None:
        sid = SpiffeID.from_path(td, path)
        assert sid.path == path
        assert str(sid) == "spiffe://td" + path
        assert SpiffeID.parse(str(sid)) == sid
    else:
        with raises(message):
            SpiffeID.from_path(td, path)
        with raises(message):
            SpiffeID(td, path)


# The byte sweep of go-spiffe's id_test.go and trustdomain_test.go: every code point 0..255.
@pytest.mark.parametrize("code", [c for c in range(256) if chr(c) != "/"])
def test_character_sweep(code: int) -> None:
    ch = chr(code)
    if ch in TD_CHARS:
        assert (
            str(SpiffeID.parse(f"spiffe://trustdomain{ch}/path"))
            == f"spiffe://trustdomain{ch}/path"
        )
        assert TrustDomain.parse("trustdomain" + ch).name == "trustdomain" + ch
        assert TrustDomain.parse(f"spiffe://trustdomain{ch}").name == "trustdomain" + ch
    else:
        with raises(BAD_TD_CHAR):
            SpiffeID.parse(f"spiffe://trustdomain{ch}/path")
        with raises(BAD_TD_CHAR):
            TrustDomain("trustdomain" + ch)
        with raises(BAD_TD_CHAR):
            TrustDomain.parse("trustdomain" + ch)
    if ch in PATH_CHARS:
        assert SpiffeID.parse(f"spiffe://trustdomain/path{ch}").path == "/path" + ch
    else:
        with raises(BAD_PATH_CHAR):
            SpiffeID.parse(f"spiffe://trustdomain/path{ch}")


@pytest.mark.parametrize(
    ("sid", "td", "expected"),
    [
        ("spiffe://foo.example.com/web", "foo.example.com", True),
        ("spiffe://foo.example.com", "foo.example.com", True),
        ("spiffe://foo.example.com/web", "bar.example.com", False),
        ("spiffe://foo.example.com/web", "example.com", False),  # no subdomain semantics
        ("spiffe://foo.example.com/web", "foo.example.co", False),
        ("spiffe://foo/bar", "foo.bar", False),
    ],
)
def test_member_of(sid: str, td: str, expected: bool) -> None:
    assert SpiffeID.parse(sid).member_of(TrustDomain(td)) is expected


def test_equality_and_hash() -> None:
    td = TrustDomain("foo.example.com")
    a = SpiffeID.parse("spiffe://foo.example.com/web")
    b = SpiffeID.from_path(TrustDomain.parse("spiffe://foo.example.com"), "/web")
    c = SpiffeID(td, "/web")
    assert a == b == c
    assert hash(a) == hash(b) == hash(c)
    assert len({a, b, c}) == 1
    assert {a: 1}[c] == 1
    assert a != SpiffeID(td, "/db")
    assert a != SpiffeID(TrustDomain("bar.example.com"), "/web")
    assert a != "spiffe://foo.example.com/web"  # not equal to its string form
    assert td == TrustDomain.parse("spiffe://foo.example.com/x")
    assert hash(td) == hash(TrustDomain.parse("foo.example.com"))
    assert {td: "x"}[TrustDomain("foo.example.com")] == "x"
    assert td.id() != a
    assert td.id() == SpiffeID(td, "")


def test_ordering_is_total_and_deterministic() -> None:
    tds = [TrustDomain("c"), TrustDomain("a"), TrustDomain("b")]
    assert [t.name for t in sorted(tds)] == ["a", "b", "c"]
    ids = [
        SpiffeID.parse(s) for s in ("spiffe://b/x", "spiffe://a/y", "spiffe://a", "spiffe://a/x")
    ]
    assert [str(i) for i in sorted(ids)] == [
        "spiffe://a",
        "spiffe://a/x",
        "spiffe://a/y",
        "spiffe://b/x",
    ]
    assert sorted(ids) == sorted(reversed(ids))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TrustDomain(""), MISSING_TD),
        # The constructor takes a bare name; only parse() accepts an ID.
        (lambda: TrustDomain("spiffe://foo"), BAD_TD_CHAR),
        (lambda: TrustDomain("Foo"), BAD_TD_CHAR),
        (lambda: TrustDomain("foo:443"), BAD_TD_CHAR),
        (lambda: TrustDomain(TD_256), TD_TOO_LONG_256),
        (lambda: SpiffeID(TrustDomain("td"), "x"), NO_LEADING_SLASH),
        (lambda: SpiffeID(TrustDomain("td"), "/"), TRAILING_SLASH),
        (lambda: SpiffeID(TrustDomain("td"), "/a/./b"), DOT_SEGMENT),
        (lambda: SpiffeID(TrustDomain("td"), "/a//b"), EMPTY_SEGMENT),
        (lambda: SpiffeID(TrustDomain("td"), "/a$"), BAD_PATH_CHAR),
        (lambda: SpiffeID(TrustDomain("td"), PATH_2038), ID_TOO_LONG_2049),
        (lambda: SpiffeID(TrustDomain(TD_255), "/" + "p" * 1784), ID_TOO_LONG_2049),
    ],
)
def test_constructor_validates(build: Callable[[], object], message: str) -> None:
    with raises(message):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: TrustDomain(None),
        lambda: TrustDomain(b"foo"),
        lambda: TrustDomain.parse(None),
        lambda: SpiffeID("foo", "/x"),
        lambda: SpiffeID(TrustDomain("foo"), None),
        lambda: SpiffeID.parse(b"spiffe://foo"),
        lambda: SpiffeID.from_path("foo", "/x"),
    ],
)
def test_wrong_types_are_type_errors(build: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        build()


def test_instances_are_immutable() -> None:
    sid = SpiffeID.parse("spiffe://foo/bar")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sid.path = "/other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sid.trust_domain.name = "Bad!"  # type: ignore[misc]
    assert not hasattr(sid, "__dict__")
    assert not hasattr(sid.trust_domain, "__dict__")


def test_error_class() -> None:
    assert issubclass(SpiffeIDError, ValueError)
    with pytest.raises(ValueError, match="^cannot be empty$"):
        SpiffeID.parse("")
