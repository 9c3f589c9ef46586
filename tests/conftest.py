"""Shared fixtures: a fixed UTC instant, seeded RNG streams, the foo/bar trust domains with a
self-signed SPIRE CA and an upstream-disk-signed SPIRE CA each, and helpers that mint SVIDs the
way SPIRE does or craft deliberately wrong leaves with ``cryptography``.

Everything expensive is session-scoped; every helper derives its randomness from a stream name
built from its arguments, so identical calls give byte-identical certificates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sim import ca, rng
from sim.bundle import Bundle, BundleSet
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID

# The seed blog's day: 2019-12-17T00:00:00Z.
NOW = datetime(2019, 12, 17, 0, 0, 0, tzinfo=UTC)
SEED = 1
FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")
CA_TTL = 24 * 3600  # SPIRE's default ca_ttl
SVID_TTL = 3600  # SPIRE's default X509-SVID TTL


@dataclass(frozen=True)
class Domain:
    """One trust domain's authorities: a self-signed SPIRE CA, a cfssl-like upstream root and a
    SPIRE CA signed by that root (the disk UpstreamAuthority case)."""

    td: TrustDomain
    self_ca: ca.X509CA
    upstream: ca.UpstreamAuthority
    upstream_ca: ca.X509CA

    def x509ca(self, kind: str) -> ca.X509CA:
        return {"self": self.self_ca, "upstream": self.upstream_ca}[kind]

    def bundle(self, kind: str) -> Bundle:
        """What SPIRE publishes: the self-signed CA, or the upstream roots."""
        return Bundle(trust_domain=self.td, x509_authorities=self.x509ca(kind).roots)


def make_domain(td: TrustDomain, *, seed: int = SEED, now: datetime = NOW) -> Domain:
    self_ca = ca.self_sign_x509_ca(
        trust_domain=td, ttl=CA_TTL, now=now, rng=rng.stream(seed, f"self-ca/{td}")
    )
    upstream = ca.UpstreamAuthority.generate(
        f"{td.name.split('.')[0]} root", now=now, rng=rng.stream(seed, f"upstream/{td}")
    )
    upstream_ca = ca.upstream_sign_x509_ca(
        upstream, trust_domain=td, ttl=12 * 3600, now=now, rng=rng.stream(seed, f"up-ca/{td}")
    )
    return Domain(td=td, self_ca=self_ca, upstream=upstream, upstream_ca=upstream_ca)


def mint_svid(
    x509ca: ca.X509CA,
    path: str,
    *,
    ttl: float = SVID_TTL,
    at: datetime = NOW,
    dns_names: Sequence[str] = (),
    seed: int = SEED,
) -> X509SVID:
    """An SVID minted by ``x509ca`` for ``<td><path>``; same arguments, same bytes."""
    r = rng.stream(seed, f"svid/{x509ca.certificate.serial_number}/{path}/{ttl}/{at.isoformat()}")
    return ca.mint_x509_svid(
        x509ca,
        spiffe_id=SpiffeID.from_path(x509ca.trust_domain, path),
        private_key=ca.new_ec_key(r),
        ttl=ttl,
        now=at,
        rng=r,
        dns_names=dns_names,
    )


def ski_of(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def craft_leaf(
    issuer: ca.X509CA,
    *,
    uris: Sequence[str] = (),
    is_ca: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    name: str = "crafted",
) -> tuple[tuple[x509.Certificate, ...], ec.EllipticCurvePrivateKey]:
    """A leaf signed by ``issuer``'s real key with whatever flaws the test asks for, returned as
    the chain a peer would present (leaf, then the issuer's chain) and the leaf's key."""
    r = rng.stream(SEED, f"craft/{name}")
    key = ca.new_ec_key(r)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE"),
                ]
            )
        )
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(ca.new_serial(r))
        .not_valid_before(not_before or NOW - timedelta(seconds=10))
        .not_valid_after(not_after or NOW + timedelta(hours=1))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=key_cert_sign,
                crl_sign=crl_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier(ski_of(issuer.certificate), None, None), critical=False
        )
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=False,
        )
    leaf = builder.sign(issuer.private_key, hashes.SHA256(), ecdsa_deterministic=True)
    return (leaf, *issuer.chain), key


@pytest.fixture(scope="session")
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def streams() -> Callable[[str], object]:
    """``streams(name)``: a fresh seeded random stream for ``name``."""
    return lambda name: rng.stream(SEED, name)


@pytest.fixture(scope="session")
def foo_td() -> TrustDomain:
    return FOO


@pytest.fixture(scope="session")
def bar_td() -> TrustDomain:
    return BAR


@pytest.fixture(scope="session")
def foo() -> Domain:
    return make_domain(FOO)


@pytest.fixture(scope="session")
def bar() -> Domain:
    return make_domain(BAR)


@pytest.fixture(scope="session")
def both_bundles(foo: Domain, bar: Domain) -> Callable[[str], BundleSet]:
    """``both_bundles(kind)``: a set with foo's and bar's bundles of that CA kind."""
    return lambda kind: BundleSet.of([foo.bundle(kind), bar.bundle(kind)])


@pytest.fixture(scope="session")
def mint() -> Callable[..., X509SVID]:
    return mint_svid


@pytest.fixture(scope="session")
def craft() -> Callable[..., tuple[tuple[x509.Certificate, ...], ec.EllipticCurvePrivateKey]]:
    return craft_leaf
