"""Tests for sim.x509svid: verification in go-spiffe's order with go-spiffe's words, for both the
pre-1.0 library ghostunnel v1.5.2 used (Go 1.13) and go-spiffe v2; the verdict cache; parsing.

Expected texts are verbatim from go-spiffe@018e7197 spiffe/{tls_verify,id}.go (PRE1),
go-spiffe v2.8.1 svid/x509svid/{verify,svid}.go, bundle/x509bundle/{set,bundle}.go (V2), and
Go's crypto/x509 (verify.go CertificateInvalidError / UnknownAuthorityError).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from sim import ca, rng
from sim.bundle import Bundle, BundleSet
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import (
    X509SVID,
    VerificationCache,
    Verified,
    VerifyStyle,
    X509SVIDError,
    go_time,
    id_from_cert,
    verify,
)

PRE1, V2 = VerifyStyle.PRE1, VerifyStyle.V2
NOW = datetime(2019, 12, 17, 0, 0, 0, tzinfo=UTC)
FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")
# Every SVID minted at NOW with the default 1h TTL (SPIRE backdates notBefore by 10 s).
SVID_NOT_BEFORE = datetime(2019, 12, 16, 23, 59, 50, tzinfo=UTC)
SVID_NOT_AFTER = datetime(2019, 12, 17, 1, 0, 0, tzinfo=UTC)

EXPIRED = "x509: certificate has expired or is not yet valid"
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"
V2_VERIFY = "x509svid: could not verify leaf certificate: "
V2_ID = "x509svid: could not get leaf SPIFFE ID: "
BAD_TD_CHARS = (
    "trust domain characters are limited to lowercase letters, numbers, dots, dashes, "
    "and underscores"
)


def verify_error(certs, source, *, at=NOW, style=V2, cache=None) -> X509SVIDError:
    with pytest.raises(X509SVIDError) as info:
        verify(certs, source, at=at, style=style, cache=cache)
    return info.value


# -- success ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", [PRE1, V2])
@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_minted_svid_verifies(foo, both_bundles, mint, kind, style):
    x509ca = foo.x509ca(kind)
    svid = mint(x509ca, "/http-server")
    got = verify(svid.certificates, both_bundles(kind), at=NOW, style=style)
    assert isinstance(got, Verified)
    assert got.spiffe_id == SpiffeID.parse("spiffe://foo.example.com/http-server")
    # The chain runs from the leaf to a root of foo's bundle, through SPIRE's intermediate when
    # upstream-signed (bundle = upstream root, chain = leaf + SPIRE CA).
    expected = {
        "self": (svid.leaf, x509ca.certificate),
        "upstream": (svid.leaf, x509ca.certificate, foo.upstream.certificate),
    }[kind]
    assert got.chain == expected
    assert len(svid.certificates) == {"self": 1, "upstream": 2}[kind]


@pytest.mark.parametrize("style", [PRE1, V2])
def test_single_bundle_of_the_right_trust_domain_is_a_source(foo, mint, style):
    svid = mint(foo.self_ca, "/web")
    assert verify(svid.certificates, foo.bundle("self"), at=NOW, style=style).spiffe_id == (
        svid.spiffe_id
    )


@pytest.mark.parametrize("style", [PRE1, V2])
def test_root_with_same_name_among_bundle_roots_does_not_hide_the_real_one(foo, mint, style):
    # Go tries every candidate parent; an impostor named like the real root is only a hint.
    impostor = ca.UpstreamAuthority.generate("foo root", now=NOW, rng=rng.stream(1, "impostor"))
    bundle = Bundle(FOO, (impostor.certificate, foo.upstream.certificate))
    svid = mint(foo.upstream_ca, "/web")
    assert verify(svid.certificates, bundle, at=NOW, style=style).spiffe_id == svid.spiffe_id


# -- the leaf's SPIFFE ID -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uris", "style", "message"),
    [
        ((), V2, V2_ID + "certificate contains no URI SAN"),
        ((), PRE1, "peer certificate contains no URI SAN"),
        (
            ("spiffe://foo.example.com/a", "spiffe://foo.example.com/b"),
            V2,
            V2_ID + "certificate contains more than one URI SAN",
        ),
        (
            ("spiffe://foo.example.com/a", "spiffe://foo.example.com/b"),
            PRE1,
            "peer certificate contains more than one URI SAN",
        ),
        (("https://foo.example.com/x",), V2, V2_ID + "scheme is missing or invalid"),
        (("spiffe://foo.example.com:8443/x",), V2, V2_ID + BAD_TD_CHARS),
        (("spiffe://Foo.example.com/x",), V2, V2_ID + BAD_TD_CHARS),
        # go-spiffe@018e7197 spiffe/id.go ValidateURI(id, AllowAny()): its own reasons, not v2's.
        (
            ("https://foo.example.com/x",),
            PRE1,
            'invalid SPIFFE ID "https://foo.example.com/x": invalid scheme',
        ),
        (
            ("spiffe://foo.example.com:8443/x",),
            PRE1,
            'invalid SPIFFE ID "spiffe://foo.example.com:8443/x": port is not allowed',
        ),
        # Pre-1.0 does not check trust domain characters; it looks the host up verbatim.
        (
            ("spiffe://Foo.example.com/x",),
            PRE1,
            'no roots for peer trust domain "spiffe://Foo.example.com"',
        ),
    ],
)
def test_leaf_spiffe_id_errors(foo, both_bundles, craft, uris, style, message):
    certs, _ = craft(foo.self_ca, uris=uris, name=f"uris/{'|'.join(uris)}")
    assert str(verify_error(certs, both_bundles("self"), style=style)) == message


def test_id_from_cert_texts(foo, craft, mint):
    assert id_from_cert(mint(foo.self_ca, "/web").leaf) == SpiffeID.parse(
        "spiffe://foo.example.com/web"
    )
    certs, _ = craft(foo.self_ca, uris=(), name="no-uri")
    with pytest.raises(X509SVIDError, match="^certificate contains no URI SAN$"):
        id_from_cert(certs[0])


# -- leaf constraints (v2 only) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"is_ca": True}, "x509svid: leaf certificate with CA flag set to true"),
        (
            {"is_ca": True, "key_cert_sign": True},
            "x509svid: leaf certificate with CA flag set to true",
        ),
        ({"key_cert_sign": True}, "x509svid: leaf certificate with KeyCertSign key usage"),
        ({"crl_sign": True}, "x509svid: leaf certificate with KeyCrlSign key usage"),
        (
            {"key_cert_sign": True, "crl_sign": True},
            "x509svid: leaf certificate with KeyCertSign key usage",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_v2_rejects_leaf_constraints_but_pre1_accepts(
    foo, both_bundles, craft, kind, flags, message
):
    certs, _ = craft(
        foo.x509ca(kind),
        uris=("spiffe://foo.example.com/ca-leaf",),
        name=f"flags/{kind}/{sorted(flags)}",
        **flags,
    )
    err = verify_error(certs, both_bundles(kind), style=V2)
    assert str(err) == message
    assert err.kind == "leaf_constraint"
    # go-spiffe@018e7197 never looked at the leaf's CA flag or key usage, and Go's x509 does not
    # either: such a leaf that chains is accepted by ghostunnel v1.5.2.
    got = verify(certs, both_bundles(kind), at=NOW, style=PRE1)
    assert got.spiffe_id == SpiffeID.parse("spiffe://foo.example.com/ca-leaf")


def test_v2_checks_leaf_constraints_before_the_bundle(foo, craft):
    # verify.go: the CA-flag switch comes before GetX509BundleForTrustDomain.
    certs, _ = craft(
        foo.self_ca,
        uris=("spiffe://foo.example.com/ca-leaf",),
        is_ca=True,
        name="ca-leaf-no-bundle",
    )
    assert str(verify_error(certs, BundleSet())) == (
        "x509svid: leaf certificate with CA flag set to true"
    )


# -- missing bundle -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "style", "message"),
    [
        ("set", PRE1, 'no roots for peer trust domain "spiffe://foo.example.com"'),
        ("single", PRE1, 'no roots for peer trust domain "spiffe://foo.example.com"'),
        (
            "set",
            V2,
            "x509svid: could not get X509 bundle: x509bundle: no X.509 bundle for "
            'trust domain "foo.example.com"',
        ),
        (
            "single",
            V2,
            "x509svid: could not get X509 bundle: x509bundle: no X.509 bundle found "
            'for trust domain: "foo.example.com"',
        ),
    ],
)
def test_missing_bundle(foo, bar, mint, source, style, message):
    svid = mint(foo.self_ca, "/http-server")
    bundles = BundleSet.of([bar.bundle("self")]) if source == "set" else bar.bundle("self")
    err = verify_error(svid.certificates, bundles, style=style)
    assert str(err) == message
    assert err.kind == "no_bundle"


# -- roots never mix across trust domains ----------------------------------------------------------


@pytest.mark.parametrize("style", [PRE1, V2])
@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_impersonation_bar_id_signed_by_foo_ca_is_rejected(foo, both_bundles, craft, kind, style):
    # foo's CA signs a leaf claiming a bar identity; both bundles are trusted. Only bar's roots
    # may judge a bar ID, so the chain has no root.
    certs, _ = craft(
        foo.x509ca(kind), uris=("spiffe://bar.example.com/client",), name=f"impersonate/{kind}"
    )
    assert id_from_cert(certs[0]).trust_domain == BAR
    err = verify_error(certs, both_bundles(kind), style=style)
    assert str(err) == (V2_VERIFY if style is V2 else "") + UNKNOWN_AUTHORITY
    assert err.kind == "unknown_authority"


@pytest.mark.parametrize("style", [PRE1, V2])
@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_foo_leaf_against_bar_roots_filed_under_foo(foo, bar, mint, kind, style):
    svid = mint(foo.x509ca(kind), "/http-server")
    wrong = BundleSet.of([Bundle(FOO, bar.x509ca(kind).roots), bar.bundle(kind)])
    err = verify_error(svid.certificates, wrong, style=style)
    assert str(err) == (V2_VERIFY if style is V2 else "") + UNKNOWN_AUTHORITY


def test_the_right_bundle_is_used_for_each_peer(foo, bar, both_bundles, mint):
    bundles = both_bundles("self")
    for d in (foo, bar):
        svid = mint(d.self_ca, "/workload")
        assert verify(svid.certificates, bundles, at=NOW).spiffe_id.trust_domain == d.td


# -- validity at an instant -----------------------------------------------------------------------


def _expiry_cases():
    half = timedelta(milliseconds=500)
    one = timedelta(seconds=1)
    return [
        # (instant, v2 detail or None when valid)
        (SVID_NOT_AFTER, None),
        (SVID_NOT_BEFORE, None),
        (SVID_NOT_AFTER - half, None),
        (SVID_NOT_AFTER + one, "current time 2019-12-17T01:00:01Z is after 2019-12-17T01:00:00Z"),
        # Go's now.After(NotAfter) is exact; RFC3339 drops the fraction in the text.
        (SVID_NOT_AFTER + half, "current time 2019-12-17T01:00:00Z is after 2019-12-17T01:00:00Z"),
        (SVID_NOT_BEFORE - one, "current time 2019-12-16T23:59:49Z is before 2019-12-16T23:59:50Z"),
        (
            SVID_NOT_BEFORE - half,
            "current time 2019-12-16T23:59:49Z is before 2019-12-16T23:59:50Z",
        ),
    ]


@pytest.mark.parametrize("style", [PRE1, V2])
@pytest.mark.parametrize("kind", ["self", "upstream"])
@pytest.mark.parametrize(("at", "detail"), _expiry_cases(), ids=lambda v: str(v))
def test_leaf_validity_window(foo, both_bundles, mint, kind, style, at, detail):
    svid = mint(foo.x509ca(kind), "/web")
    assert (svid.not_before, svid.not_after) == (SVID_NOT_BEFORE, SVID_NOT_AFTER)
    if detail is None:
        assert verify(svid.certificates, both_bundles(kind), at=at, style=style).spiffe_id == (
            svid.spiffe_id
        )
        return
    err = verify_error(svid.certificates, both_bundles(kind), at=at, style=style)
    # Go 1.13 (ghostunnel v1.5.2's toolchain) had no detail in CertificateInvalidError.Expired.
    expected = EXPIRED if style is PRE1 else f"{V2_VERIFY}{EXPIRED}: {detail}"
    assert str(err) == expected
    assert err.kind == "expired"


@pytest.mark.parametrize("style", [PRE1, V2])
def test_expired_intermediate_with_valid_leaf(foo, both_bundles, craft, style):
    spire_ca = foo.upstream_ca
    ca_not_after = spire_ca.not_after
    assert ca_not_after == datetime(2019, 12, 17, 12, 0, 0, tzinfo=UTC)
    # SPIRE caps leaves at the CA's notAfter; craft one that outlives it.
    certs, _ = craft(
        spire_ca,
        uris=("spiffe://foo.example.com/outlives",),
        not_after=ca_not_after + timedelta(hours=1),
        name="outlives-ca",
    )
    assert len(certs) == 2
    at = ca_not_after + timedelta(seconds=1)
    err = verify_error(certs, both_bundles("upstream"), at=at, style=style)
    expected = (
        EXPIRED
        if style is PRE1
        else (
            f"{V2_VERIFY}{EXPIRED}: current time 2019-12-17T12:00:01Z is after 2019-12-17T12:00:00Z"
        )
    )
    assert str(err) == expected
    # One second earlier everything is valid.
    assert verify(certs, both_bundles("upstream"), at=ca_not_after, style=style)


@pytest.mark.parametrize("style", [PRE1, V2])
def test_root_with_same_name_but_other_key_gives_go_hint(foo, mint, style):
    impostor = ca.UpstreamAuthority.generate("foo root", now=NOW, rng=rng.stream(1, "impostor"))
    assert impostor.certificate.subject == foo.upstream.certificate.subject
    assert impostor.certificate.public_key() != foo.upstream.certificate.public_key()
    svid = mint(foo.upstream_ca, "/web")
    err = verify_error(svid.certificates, Bundle(FOO, (impostor.certificate,)), style=style)
    hint = (
        ' (possibly because of "x509: ECDSA verification failure" while trying to verify '
        'candidate authority certificate "foo root")'
    )
    assert str(err) == (V2_VERIFY if style is V2 else "") + UNKNOWN_AUTHORITY + hint
    assert err.kind == "unknown_authority"


def test_naive_instant_is_refused(foo, mint):
    svid = mint(foo.self_ca, "/web")
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(svid.certificates, foo.bundle("self"), at=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("style", "message"),
    [(PRE1, "no peer certificates"), (V2, "x509svid: empty certificates chain")],
)
def test_empty_chain(foo, style, message):
    assert str(verify_error((), foo.bundle("self"), style=style)) == message


def test_go_time():
    assert go_time(datetime(2019, 12, 17, 5, 26, 35, 999999, tzinfo=UTC)) == (
        "2019-12-17T05:26:35Z"
    )


# -- the verdict cache ----------------------------------------------------------------------------


def test_cache_hit_returns_the_same_verdict(foo, both_bundles, mint):
    cache = VerificationCache()
    svid = mint(foo.upstream_ca, "/web")
    first = verify(svid.certificates, both_bundles("upstream"), at=NOW, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    second = verify(
        svid.certificates, both_bundles("upstream"), at=NOW + timedelta(minutes=5), cache=cache
    )
    assert (cache.hits, cache.misses) == (1, 1)
    assert second == first
    assert len(cache) == 1


def test_cache_does_not_go_stale_across_not_after(foo, both_bundles, mint):
    cache = VerificationCache()
    svid = mint(foo.self_ca, "/web")
    bundles = both_bundles("self")
    assert verify(svid.certificates, bundles, at=SVID_NOT_AFTER, cache=cache)
    with pytest.raises(X509SVIDError) as info:
        verify(svid.certificates, bundles, at=SVID_NOT_AFTER + timedelta(seconds=1), cache=cache)
    assert str(info.value) == (
        f"{V2_VERIFY}{EXPIRED}: current time 2019-12-17T01:00:01Z is after 2019-12-17T01:00:00Z"
    )
    assert (cache.hits, cache.misses) == (0, 2)
    # A later instant in the same phase is a hit, but the text carries *that* instant.
    with pytest.raises(X509SVIDError) as info:
        verify(svid.certificates, bundles, at=SVID_NOT_AFTER + timedelta(hours=1), cache=cache)
    assert str(info.value) == (
        f"{V2_VERIFY}{EXPIRED}: current time 2019-12-17T02:00:00Z is after 2019-12-17T01:00:00Z"
    )
    # The cached failure is rendered per style.
    with pytest.raises(X509SVIDError, match=f"^{EXPIRED}$"):
        verify(
            svid.certificates,
            bundles,
            at=SVID_NOT_AFTER + timedelta(hours=1),
            cache=cache,
            style=PRE1,
        )
    assert (cache.hits, cache.misses) == (2, 2)
    # And back inside the window it is valid again (a hit on the first verdict).
    assert verify(svid.certificates, bundles, at=NOW, cache=cache).spiffe_id == svid.spiffe_id
    assert (cache.hits, cache.misses) == (3, 2)


def test_cache_misses_on_a_different_bundle(foo, bar, mint):
    cache = VerificationCache()
    svid = mint(foo.self_ca, "/web")
    verify(svid.certificates, foo.bundle("self"), at=NOW, cache=cache)
    # Same trust domain, another root added: a different bundle, a fresh verdict.
    grown = foo.bundle("self").with_x509_authority(foo.upstream.certificate)
    verify(svid.certificates, grown, at=NOW, cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)
    # And a bundle whose roots cannot vouch for the leaf must not reuse the earlier success.
    swapped = Bundle(FOO, bar.self_ca.roots)
    with pytest.raises(X509SVIDError) as info:
        verify(svid.certificates, swapped, at=NOW, cache=cache)
    assert str(info.value) == V2_VERIFY + UNKNOWN_AUTHORITY
    assert (cache.hits, cache.misses) == (0, 3)


def test_cache_misses_on_a_different_chain(foo, mint):
    cache = VerificationCache()
    for path in ("/a", "/b"):
        verify(mint(foo.self_ca, path).certificates, foo.bundle("self"), at=NOW, cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)


# -- parsing (go-spiffe v2 x509svid.Parse) ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_parse_round_trips(foo, mint, kind):
    svid = mint(foo.x509ca(kind), "/web", dns_names=("web",))
    parsed = X509SVID.parse(svid.chain_pem(), svid.key_pem())
    assert parsed == svid
    assert parsed.certificates == svid.certificates
    assert parsed.key_pem() == svid.key_pem()
    assert parsed.key_pem().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert svid.chain_pem().count(b"-----BEGIN CERTIFICATE-----") == len(svid.certificates)


def test_parse_rejects_a_key_that_does_not_match(foo, mint):
    svid = mint(foo.self_ca, "/web")
    other = mint(foo.self_ca, "/other")
    with pytest.raises(X509SVIDError) as info:
        X509SVID.parse(svid.chain_pem(), other.key_pem())
    # go-spiffe v2 svid.go newSVID: "private key validation failed: %v".
    assert str(info.value) == (
        "x509svid: private key validation failed: leaf certificate does not match private key"
    )


@pytest.mark.parametrize(
    ("flags", "uris", "reason"),
    [
        (
            {"is_ca": True},
            ("spiffe://foo.example.com/ca-leaf",),
            "leaf certificate must not have CA flag set to true",
        ),
        (
            {"key_cert_sign": True},
            ("spiffe://foo.example.com/kcs",),
            "leaf certificate must not have 'keyCertSign' set as key usage",
        ),
        (
            {"crl_sign": True},
            ("spiffe://foo.example.com/crl",),
            "leaf certificate must not have 'cRLSign' set as key usage",
        ),
        ({}, (), "cannot get leaf certificate SPIFFE ID: certificate contains no URI SAN"),
        ({}, ("spiffe://foo.example.com",), "leaf certificate SPIFFE ID must have a non-root path"),
    ],
)
def test_parse_rejects_invalid_leaves(foo, craft, flags, uris, reason):
    certs, key = craft(foo.self_ca, uris=uris, name=f"parse/{sorted(flags)}/{uris}", **flags)
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(X509SVIDError) as info:
        X509SVID.parse(chain_pem, key_pem)
    assert str(info.value) == f"x509svid: certificate validation failed: {reason}"


def test_parse_rejects_garbage(foo, mint):
    svid = mint(foo.self_ca, "/web")
    with pytest.raises(X509SVIDError) as info:
        X509SVID.parse(b"not a pem", svid.key_pem())
    assert str(info.value) == (
        "x509svid: cannot parse PEM encoded certificate: no PEM blocks found"
    )
    with pytest.raises(X509SVIDError) as info:
        X509SVID.parse(svid.chain_pem(), b"not a pem")
    assert str(info.value) == (
        "x509svid: cannot parse PEM encoded private key: no PEM blocks found"
    )


def test_svid_needs_certificates(foo, mint):
    key = mint(foo.self_ca, "/web").private_key
    with pytest.raises(X509SVIDError, match="^x509svid: no certificates found$"):
        X509SVID(
            spiffe_id=SpiffeID.parse("spiffe://foo.example.com/web"),
            certificates=(),
            private_key=key,
        )
