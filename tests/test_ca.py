"""SPIRE's CAs and SVIDs: every field SPIRE sets, lifetimes, capping, and determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sim import ca, rng
from sim.spiffeid import SpiffeID, TrustDomain

NOW = datetime(2019, 12, 17, 0, 0, 0, tzinfo=UTC)
FOO = TrustDomain.parse("foo.example.com")
HTTP = SpiffeID.parse("spiffe://foo.example.com/http-server")


def _ext(cert: x509.Certificate, cls: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(cls)


@pytest.fixture(scope="module")
def upstream() -> ca.UpstreamAuthority:
    return ca.UpstreamAuthority.generate("foo root", now=NOW, rng=rng.stream(1, "root"))


@pytest.fixture(scope="module")
def spire_ca(upstream: ca.UpstreamAuthority) -> ca.X509CA:
    return ca.upstream_sign_x509_ca(
        upstream, trust_domain=FOO, ttl=12 * 3600, now=NOW, rng=rng.stream(1, "ca")
    )


def test_generated_root_is_cfssl_like(upstream: ca.UpstreamAuthority) -> None:
    root = upstream.certificate
    assert root.subject.rfc4514_string() == "CN=foo root,OU=CA,O=SPIRE,L=Tokyo,C=JP"
    assert [a.oid for a in root.subject] == [
        NameOID.COUNTRY_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert root.issuer == root.subject
    assert root.not_valid_before_utc == NOW - timedelta(minutes=5)
    # 43800h: the seed's 5-year root gives SPIRE 0.9's refresh hint of exactly 15768000 s.
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert lifetime == timedelta(hours=43800)
    assert int(lifetime.total_seconds()) // 10 == 15768000
    ku = _ext(root, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    bc = _ext(root, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert upstream.roots == (root,)


def test_cfssl_rounds_now_to_the_minute() -> None:
    late = NOW + timedelta(seconds=31)
    root = ca.UpstreamAuthority.generate("x", now=late, rng=rng.stream(1, "r")).certificate
    assert root.not_valid_before_utc == NOW + timedelta(minutes=1) - timedelta(minutes=5)


def test_upstream_signed_ca(spire_ca: ca.X509CA, upstream: ca.UpstreamAuthority) -> None:
    cert = spire_ca.certificate
    assert cert.issuer == upstream.certificate.subject
    assert cert.not_valid_before_utc == NOW - timedelta(seconds=10)
    assert cert.not_valid_after_utc == NOW + timedelta(hours=12)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://foo.example.com"]
    ku = _ext(cert, x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert _ext(cert, x509.BasicConstraints).value.ca
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == _ext(upstream.certificate, x509.SubjectKeyIdentifier).value.digest
    assert spire_ca.chain == (cert,)
    assert spire_ca.roots == upstream.roots  # the bundle holds the upstream root only
    names = {a.oid: a.value for a in cert.subject}
    assert names[NameOID.COUNTRY_NAME] == "US" and names[NameOID.ORGANIZATION_NAME] == "SPIFFE"
    assert names[NameOID.SERIAL_NUMBER].isdigit()


def test_upstream_caps_ca_lifetime_at_its_own_expiry(upstream: ca.UpstreamAuthority) -> None:
    near_end = upstream.certificate.not_valid_after_utc - timedelta(hours=1)
    capped = ca.upstream_sign_x509_ca(
        upstream, trust_domain=FOO, ttl=12 * 3600, now=near_end, rng=rng.stream(1, "c")
    )
    assert capped.not_after == upstream.certificate.not_valid_after_utc


def test_self_signed_ca() -> None:
    own = ca.self_sign_x509_ca(trust_domain=FOO, ttl=86400, now=NOW, rng=rng.stream(1, "s"))
    cert = own.certificate
    assert cert.issuer == cert.subject
    assert own.chain == () and own.roots == (cert,) and own.self_signed
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(hours=24, seconds=10)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://foo.example.com"]
    legacy = ca.self_sign_x509_ca(
        trust_domain=FOO,
        ttl=86400,
        now=NOW,
        rng=rng.stream(1, "s"),
        digital_signature=True,
        subject=x509.Name([]),
    )
    assert _ext(legacy.certificate, x509.KeyUsage).value.digital_signature
    assert legacy.certificate.subject == x509.Name([])


def test_svid_is_minted_as_spire_mints_it(spire_ca: ca.X509CA) -> None:
    r = rng.stream(1, "svid")
    svid = ca.mint_x509_svid(
        spire_ca,
        spiffe_id=HTTP,
        private_key=ca.new_ec_key(r),
        ttl=3600,
        now=NOW,
        rng=r,
        dns_names=["http-server", "http-server.foo.svc.cluster.local"],
    )
    leaf = svid.leaf
    assert svid.certificates == (leaf, spire_ca.certificate)
    assert leaf.subject.rfc4514_string() == "CN=http-server,O=SPIRE,C=US"
    san = _ext(leaf, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [str(HTTP)]
    assert san.get_values_for_type(x509.DNSName) == [
        "http-server",
        "http-server.foo.svc.cluster.local",
    ]
    ku = _ext(leaf, x509.KeyUsage)
    assert ku.critical
    assert (ku.value.digital_signature, ku.value.key_encipherment, ku.value.key_agreement) == (
        True,
        True,
        True,
    )
    assert not (ku.value.key_cert_sign or ku.value.crl_sign)
    assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    bc = _ext(leaf, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    assert 1 <= leaf.serial_number < 2**128
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    assert leaf.not_valid_before_utc == NOW - timedelta(seconds=10)
    assert leaf.not_valid_after_utc == NOW + timedelta(hours=1)
    assert (
        _ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier
        == _ext(spire_ca.certificate, x509.SubjectKeyIdentifier).value.digest
    )


def test_svid_without_dns_names_has_no_cn(spire_ca: ca.X509CA) -> None:
    r = rng.stream(2, "svid")
    svid = ca.mint_x509_svid(
        spire_ca, spiffe_id=HTTP, private_key=ca.new_ec_key(r), ttl=60, now=NOW, rng=r
    )
    assert svid.leaf.subject.rfc4514_string() == "O=SPIRE,C=US"
    assert (
        _ext(svid.leaf, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == []
    )


def test_svid_lifetime_is_capped_at_the_ca(spire_ca: ca.X509CA) -> None:
    r = rng.stream(3, "svid")
    late = spire_ca.not_after - timedelta(minutes=20)
    svid = ca.mint_x509_svid(
        spire_ca, spiffe_id=HTTP, private_key=ca.new_ec_key(r), ttl=3600, now=late, rng=r
    )
    assert svid.not_after == spire_ca.not_after


@pytest.mark.parametrize(
    ("spiffe_id", "message"),
    [
        (
            "spiffe://bar.example.com/client",
            'invalid X509-SVID ID: "spiffe://bar.example.com/client" is not a member of trust '
            'domain "foo.example.com"',
        ),
        (
            "spiffe://foo.example.com",
            'invalid X509-SVID ID: "spiffe://foo.example.com" is not a member of trust domain '
            '"foo.example.com"; path is empty',
        ),
    ],
)
def test_svid_must_belong_to_the_ca_domain(
    spire_ca: ca.X509CA, spiffe_id: str, message: str
) -> None:
    r = rng.stream(4, "svid")
    with pytest.raises(ca.CAError) as err:
        ca.mint_x509_svid(
            spire_ca,
            spiffe_id=SpiffeID.parse(spiffe_id),
            private_key=ca.new_ec_key(r),
            ttl=60,
            now=NOW,
            rng=r,
        )
    assert str(err.value) == message


def test_jwt_key() -> None:
    key = ca.new_jwt_key(ttl=86400, now=NOW, rng=rng.stream(1, "jwt"))
    assert len(key.key_id) == 32 and key.key_id.isalnum() and key.key_id.isascii()
    assert key.not_after == NOW + timedelta(days=1)
    assert key.public_key().curve.name == "secp256r1"
    assert ca.new_jwt_key(ttl=1, now=NOW, rng=rng.stream(2, "jwt")).key_id != key.key_id


def test_times_must_be_aware() -> None:
    with pytest.raises(ca.CAError, match="timezone-aware"):
        ca.self_sign_x509_ca(
            trust_domain=FOO, ttl=60, now=datetime(2019, 12, 17), rng=rng.stream(1, "x")
        )


def test_microseconds_are_dropped_from_certificate_times() -> None:
    own = ca.self_sign_x509_ca(
        trust_domain=FOO, ttl=60, now=NOW + timedelta(microseconds=900), rng=rng.stream(1, "x")
    )
    assert own.not_before == NOW - timedelta(seconds=10)
