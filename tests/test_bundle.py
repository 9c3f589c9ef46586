"""SPIFFE bundle documents: SPIRE's exact JWKS shape in and out, PEM, and clear errors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization

from sim import ca, rng
from sim.bundle import Bundle, BundleError, BundleSet, JWTAuthority
from sim.spiffeid import TrustDomain

NOW = datetime(2019, 12, 17, tzinfo=UTC)
BAR = TrustDomain.parse("bar.example.com")
FOO = TrustDomain.parse("foo.example.com")


@pytest.fixture(scope="module")
def seed_like_bundle() -> Bundle:
    """What foo's `bundle list` showed for bar in the seed: one cfssl root and one JWT key."""
    r = rng.stream(7, "bundle-test")
    root = ca.UpstreamAuthority.generate("bar root", now=NOW, rng=r)
    jwt = ca.new_jwt_key(ttl=86400, now=NOW, rng=r)
    return Bundle(
        trust_domain=BAR,
        x509_authorities=root.roots,
        jwt_authorities=(JWTAuthority(jwt.key_id, jwt.public_key()),),
        refresh_hint=15768000,
    )


def test_jwks_has_spires_shape(seed_like_bundle: Bundle) -> None:
    text = seed_like_bundle.to_jwks()
    lines = text.splitlines()
    # Go's json.MarshalIndent(..., "", "    ") and go-jose's field order, as the blog printed.
    assert lines[0] == "{"
    assert lines[1] == '    "keys": ['
    assert [line.strip().split(":")[0] for line in lines[3:9]] == [
        '"use"',
        '"kty"',
        '"crv"',
        '"x"',
        '"y"',
        '"x5c"',
    ]
    doc = json.loads(text)
    x509_key, jwt_key = doc["keys"]
    assert list(x509_key) == ["use", "kty", "crv", "x", "y", "x5c"]
    assert list(jwt_key) == ["use", "kty", "kid", "crv", "x", "y"]
    assert x509_key["use"] == "x509-svid" and x509_key["crv"] == "P-256"
    assert jwt_key["use"] == "jwt-svid" and len(jwt_key["kid"]) == 32
    assert list(doc) == ["keys", "spiffe_refresh_hint"]
    assert doc["spiffe_refresh_hint"] == 15768000
    der = base64.b64decode(x509_key["x5c"][0])
    assert der == seed_like_bundle.x509_authorities[0].public_bytes(serialization.Encoding.DER)
    # Coordinates are unpadded base64url of exactly 32 bytes.
    for coord in ("x", "y"):
        assert len(x509_key[coord]) == 43 and "=" not in x509_key[coord]


def test_sequence_is_written_before_hint_and_omitted_at_zero(seed_like_bundle: Bundle) -> None:
    with_seq = seed_like_bundle.with_sequence_number(3)
    assert list(json.loads(with_seq.to_jwks())) == [
        "keys",
        "spiffe_sequence",
        "spiffe_refresh_hint",
    ]
    assert "spiffe_sequence" not in with_seq.to_jwks(include_sequence=False)
    assert "spiffe_sequence" not in seed_like_bundle.with_sequence_number(0).to_jwks()


def test_round_trip(seed_like_bundle: Bundle) -> None:
    b = seed_like_bundle.with_sequence_number(9)
    again = Bundle.from_jwks(BAR, b.to_jwks())
    assert again == b
    assert again.to_jwks() == b.to_jwks()


def test_pem_round_trip(seed_like_bundle: Bundle) -> None:
    pem = seed_like_bundle.to_pem()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    back = Bundle.from_pem(BAR, pem + pem)  # duplicates collapse, as SPIRE's append does
    assert back.x509_authorities == seed_like_bundle.x509_authorities


def _doc(**over: object) -> str:
    return json.dumps({"keys": [over]})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "bundle: unable to parse JWKS: unexpected end of JSON input"),
        ("   \n", "bundle: unable to parse JWKS: unexpected end of JSON input"),
        (
            "{",
            "bundle: unable to parse JWKS: Expecting property name enclosed in double quotes "
            "at line 1 column 2",
        ),
        ("[]", "bundle: unable to parse JWKS: document is not a JSON object"),
        ("{}", 'bundle: unable to parse JWKS: "keys" is missing'),
        ('{"keys": {}}', 'bundle: unable to parse JWKS: "keys" is not a list'),
        ('{"keys": [1]}', "bundle: key entry 0 is not a JSON object"),
        (_doc(kty="EC"), "bundle: missing use for key entry 0"),
        (_doc(use="wit"), 'bundle: unrecognized use "wit" for key entry 0'),
        (
            _doc(use="x509-svid"),
            "bundle: expected a single certificate in x509-svid entry 0; got 0",
        ),
        (
            _doc(use="x509-svid", x5c=["a", "b"]),
            "bundle: expected a single certificate in x509-svid entry 0; got 2",
        ),
        (_doc(use="jwt-svid", kty="EC"), "bundle: missing key ID in jwt-svid entry 0"),
        (_doc(use="jwt-svid", kid="k", kty="RSA"), 'bundle: key entry 0: unsupported kty "RSA"'),
        (
            _doc(use="jwt-svid", kid="k", kty="EC", crv="P-256", x="AA", y="AA"),
            "bundle: key entry 0: invalid EC key coordinates for P-256",
        ),
        (
            '{"keys": [], "spiffe_refresh_hint": -1}',
            'bundle: "spiffe_refresh_hint" must be a non-negative integer, got -1',
        ),
        (
            '{"keys": [], "spiffe_sequence": "1"}',
            "bundle: \"spiffe_sequence\" must be a non-negative integer, got '1'",
        ),
    ],
)
def test_malformed_documents_name_the_fault(document: str, message: str) -> None:
    with pytest.raises(BundleError) as err:
        Bundle.from_jwks(BAR, document)
    assert str(err.value) == message


def test_x5c_must_be_a_certificate() -> None:
    with pytest.raises(
        BundleError, match=r"^bundle: x509-svid entry 0: invalid certificate in x5c"
    ):
        Bundle.from_jwks(BAR, _doc(use="x509-svid", x5c=[base64.b64encode(b"nope").decode()]))


def test_jwk_key_must_match_its_certificate(seed_like_bundle: Bundle) -> None:
    doc = json.loads(seed_like_bundle.to_jwks())
    doc["keys"][0]["x"], doc["keys"][0]["y"] = doc["keys"][1]["x"], doc["keys"][1]["y"]
    with pytest.raises(BundleError, match="public keys mismatch"):
        Bundle.from_jwks(BAR, json.dumps(doc))


def test_empty_keys_is_a_valid_bundle_that_trusts_nothing() -> None:
    b = Bundle.from_jwks(FOO, '{"keys": []}')
    assert b.x509_authorities == () and b.jwt_authorities == ()
    assert b.refresh_hint is None and b.sequence_number is None


def test_changes_return_new_bundles(seed_like_bundle: Bundle) -> None:
    root = seed_like_bundle.x509_authorities[0]
    assert seed_like_bundle.with_x509_authority(root) is seed_like_bundle
    other = ca.UpstreamAuthority.generate("other", now=NOW, rng=rng.stream(1, "o")).certificate
    grown = seed_like_bundle.with_x509_authority(other)
    assert grown.x509_authorities == (root, other)
    assert not grown.same_authorities(seed_like_bundle)
    assert seed_like_bundle.with_refresh_hint(300).same_authorities(seed_like_bundle)
    assert grown.x509_fingerprint != seed_like_bundle.x509_fingerprint


def test_duplicate_kid_is_refused(seed_like_bundle: Bundle) -> None:
    auth = seed_like_bundle.jwt_authorities[0]
    with pytest.raises(BundleError, match="duplicate JWT key ID"):
        Bundle(BAR, jwt_authorities=(auth, auth))


def test_bundle_set_keeps_domains_apart(seed_like_bundle: Bundle) -> None:
    foo = Bundle(FOO)
    s = BundleSet.of([seed_like_bundle, foo])
    assert s.trust_domains() == (BAR, FOO)
    assert s.get_bundle_for_trust_domain(FOO) is foo
    assert s.get_bundle_for_trust_domain(TrustDomain.parse("baz")) is None
    assert FOO in s and len(s) == 2
    with pytest.raises(BundleError, match='two bundles for trust domain "foo.example.com"'):
        BundleSet.of([foo, Bundle(FOO)])
    # A lone bundle is a source for its own trust domain only.
    assert foo.get_bundle_for_trust_domain(BAR) is None
