"""Web PKI serving certificates and Go's verification texts for https_web bundle endpoints."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from sim import ca, rng
from sim.spiffeid import SpiffeID, TrustDomain
from sim.webpki import WebPKIError, mint_serving_certificate, verify_server

NOW = datetime(2024, 6, 1, tzinfo=UTC)
HOST = "spire-server.foo.svc.cluster.local"


@pytest.fixture(scope="module")
def web_ca() -> ca.UpstreamAuthority:
    return ca.UpstreamAuthority.generate("Example Web CA", now=NOW, rng=rng.stream(1, "web"))


@pytest.fixture(scope="module")
def serving(web_ca):
    return mint_serving_certificate(
        web_ca,
        dns_names=[HOST, "*.bundle.example.com"],
        ttl=90 * 86400,
        now=NOW,
        rng=rng.stream(1, "serving"),
    )


def _error(certs, roots, host, at=NOW) -> WebPKIError:
    with pytest.raises(WebPKIError) as err:
        verify_server(certs, roots, hostname=host, at=at)
    return err.value


@pytest.mark.parametrize(
    "host", [HOST, "a.bundle.example.com", "SPIRE-SERVER.foo.svc.cluster.local"]
)
def test_accepts_matching_names(serving, web_ca, host) -> None:
    verify_server(serving.certificates, web_ca.roots, hostname=host, at=NOW)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (
            "bar.example.com",
            f"x509: certificate is valid for {HOST}, *.bundle.example.com, not bar.example.com",
        ),
        (
            "a.b.bundle.example.com",  # a wildcard covers exactly one label
            f"x509: certificate is valid for {HOST}, *.bundle.example.com, "
            "not a.b.bundle.example.com",
        ),
        (
            "10.96.0.4",
            "x509: cannot validate certificate for 10.96.0.4 because it doesn't contain "
            "any IP SANs",
        ),
    ],
)
def test_hostname_errors_are_gos(serving, web_ca, host, message) -> None:
    err = _error(serving.certificates, web_ca.roots, host)
    assert str(err) == message and err.kind == "hostname"


def test_unknown_authority_and_expiry(serving, web_ca) -> None:
    other = ca.UpstreamAuthority.generate("Other CA", now=NOW, rng=rng.stream(2, "web"))
    err = _error(serving.certificates, other.roots, HOST)
    assert str(err) == "x509: certificate signed by unknown authority"
    later = serving.certificates[0].not_valid_after_utc + timedelta(seconds=1)
    err = _error(serving.certificates, web_ca.roots, HOST, at=later)
    assert str(err) == (
        "x509: certificate has expired or is not yet valid: current time "
        "2024-08-30T00:00:01Z is after 2024-08-30T00:00:00Z"
    )


def test_a_spiffe_svid_has_no_dns_names_and_carries_its_id() -> None:
    td = TrustDomain.parse("bar.example.com")
    r = rng.stream(3, "svid")
    own = ca.self_sign_x509_ca(trust_domain=td, ttl=86400, now=NOW, rng=r)
    svid = ca.mint_x509_svid(
        own,
        spiffe_id=SpiffeID.from_path(td, "/spire/server"),
        private_key=ca.new_ec_key(r),
        ttl=3600,
        now=NOW,
        rng=r,
    )
    err = _error(svid.certificates, own.roots, HOST)
    assert str(err) == f"x509: certificate is not valid for any names, but wanted to match {HOST}"
    assert err.spiffe_id == "spiffe://bar.example.com/spire/server"


def test_legacy_common_name_only(web_ca) -> None:
    key = ca.new_ec_key(rng.stream(4, "k"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(web_ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(5)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(web_ca.private_key, hashes.SHA256())
    )
    err = _error((cert,), web_ca.roots, HOST)
    assert str(err) == "x509: certificate relies on legacy Common Name field, use SANs instead"


def test_openssl_agrees(serving, web_ca, tmp_path: Path) -> None:
    leaf = tmp_path / "leaf.pem"
    root = tmp_path / "root.pem"
    leaf.write_bytes(serving.certificates[0].public_bytes(serialization.Encoding.PEM))
    root.write_bytes(web_ca.certificate.public_bytes(serialization.Encoding.PEM))
    epoch = str(int((NOW + timedelta(hours=1)).timestamp()))

    def check(host: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-attime",
                epoch,
                "-purpose",
                "sslserver",
                "-verify_hostname",
                host,
                "-CAfile",
                str(root),
                str(leaf),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    assert check(HOST).returncode == 0
    bad = check("bar.example.com")
    assert bad.returncode != 0 and "hostname mismatch" in (bad.stdout + bad.stderr)
