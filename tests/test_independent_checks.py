"""We do not grade ourselves: independent implementations judge the certificates we mint.

- py-spiffe (`spiffe` on PyPI) parses every kind of SVID with the SPIFFE X509-SVID rules;
- `openssl verify -attime` path-validates chains at an instant, `openssl x509 -text` shows what
  is inside, and Python's ssl module (OpenSSL's TLS stack) completes a real mTLS handshake;
- the real cfssl-made roots in shared/fixtures/cfssl load as a disk UpstreamAuthority;
- the same seed gives byte-identical certificates and JWT key IDs.

CI installs openssl, so a missing binary fails these tests instead of skipping them.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sim import ca, rng
from sim.bundle import Bundle
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID, verify

NOW = datetime(2019, 12, 17, 0, 0, 0, tzinfo=UTC)
FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "cfssl"
# The cfssl roots' window (cfssl backdates notBefore by 5 minutes; 43800h validity).
CFSSL_NOT_BEFORE = datetime(2026, 11, 28, 16, 5, 0, tzinfo=UTC)
CFSSL_NOT_AFTER = datetime(2031, 11, 27, 16, 5, 0, tzinfo=UTC)
INSIDE_CFSSL = datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("openssl is not on PATH; CI installs it and these checks must run")
    return path


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def write(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(pem(c) for c in certs))
    return path


def openssl_verify(openssl, tmp_path, svid: X509SVID, roots, at: datetime, *extra: str):
    """`openssl verify -attime <epoch> -CAfile root.pem [-untrusted intermediates.pem] leaf.pem`."""
    cmd = [
        openssl,
        "verify",
        "-attime",
        str(int(at.timestamp())),
        *extra,
        "-CAfile",
        str(write(tmp_path / "root.pem", *roots)),
    ]
    if len(svid.certificates) > 1:
        cmd += ["-untrusted", str(write(tmp_path / "intermediates.pem", *svid.certificates[1:]))]
    cmd.append(str(write(tmp_path / "leaf.pem", svid.leaf)))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    return done.returncode, done.stdout + done.stderr


# -- the kinds of SVID we mint --------------------------------------------------------------------


SVID_KINDS = ["workload-self-signed-ca", "workload-upstream-ca", "server-svid"]


@pytest.fixture(scope="module")
def svids(foo, mint):
    """Each kind of SVID with the CA kind whose bundle judges it."""
    return {
        "workload-self-signed-ca": (
            mint(
                foo.self_ca,
                "/http-server",
                dns_names=("http-server", "http-server.foo.svc.cluster.local"),
            ),
            foo.self_ca,
        ),
        "workload-upstream-ca": (
            mint(foo.upstream_ca, "/client", dns_names=("client",)),
            foo.upstream_ca,
        ),
        "server-svid": (mint(foo.self_ca, "/spire/server"), foo.self_ca),
    }


@pytest.mark.parametrize("kind", SVID_KINDS)
def test_py_spiffe_accepts_every_svid_kind(svids, kind):
    from spiffe import X509Svid

    svid, _ = svids[kind]
    parsed = X509Svid.parse(svid.chain_pem(), svid.key_pem())
    assert str(parsed.spiffe_id) == str(svid.spiffe_id)
    assert [der(c) for c in parsed.cert_chain] == [der(c) for c in svid.certificates]


def test_py_spiffe_judges_for_real(foo, craft):
    # The judge is not a rubber stamp: a CA leaf signed by the same CA is refused.
    from spiffe import X509Svid
    from spiffe.svid.errors import InvalidLeafCertificateError

    certs, key = craft(
        foo.self_ca,
        uris=("spiffe://foo.example.com/ca-leaf",),
        is_ca=True,
        name="py-spiffe-ca-leaf",
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidLeafCertificateError, match="CA flag set to true"):
        X509Svid.parse(b"".join(pem(c) for c in certs), key_pem)


@pytest.mark.parametrize("kind", SVID_KINDS)
@pytest.mark.parametrize("purpose", [None, "sslserver", "sslclient"])
def test_openssl_verify_inside_validity(openssl, tmp_path, svids, kind, purpose):
    svid, x509ca = svids[kind]
    extra = () if purpose is None else ("-purpose", purpose)
    code, out = openssl_verify(
        openssl, tmp_path, svid, x509ca.roots, NOW + timedelta(minutes=30), *extra
    )
    assert code == 0, out
    assert out.strip().endswith("leaf.pem: OK"), out


@pytest.mark.parametrize("kind", SVID_KINDS)
def test_openssl_verify_rejects_after_not_after(openssl, tmp_path, svids, kind):
    svid, x509ca = svids[kind]
    # The instant our verifier also rejects (Go's now.After(NotAfter)).
    at = svid.not_after + timedelta(seconds=1)
    with pytest.raises(Exception, match="certificate has expired"):
        verify(svid.certificates, Bundle(FOO, x509ca.roots), at=at)
    code, out = openssl_verify(openssl, tmp_path, svid, x509ca.roots, at)
    assert code != 0, out
    assert "certificate has expired" in out, out


def test_openssl_verify_rejects_foo_leaf_with_bar_root(openssl, tmp_path, svids, bar):
    svid, _ = svids["workload-upstream-ca"]
    code, out = openssl_verify(
        openssl, tmp_path, svid, bar.upstream_ca.roots, NOW + timedelta(minutes=30)
    )
    assert code != 0, out
    assert "unable to get local issuer certificate" in out, out


def test_openssl_shows_spire_svid_contents(openssl, tmp_path, svids):
    svid, x509ca = svids["workload-self-signed-ca"]
    done = subprocess.run(
        [openssl, "x509", "-noout", "-text", "-in", str(write(tmp_path / "leaf.pem", svid.leaf))],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    lines = [line.strip() for line in done.stdout.splitlines()]
    text = "\n".join(lines)
    after = {lines[i]: lines[i + 1] for i in range(len(lines) - 1)}
    assert after["X509v3 Key Usage: critical"] == (
        "Digital Signature, Key Encipherment, Key Agreement"
    )
    assert after["X509v3 Extended Key Usage:"] == (
        "TLS Web Server Authentication, TLS Web Client Authentication"
    )
    assert after["X509v3 Basic Constraints: critical"] == "CA:FALSE"
    # Go's marshalSANs writes DNS names before URIs.
    assert after["X509v3 Subject Alternative Name:"] == (
        "DNS:http-server, DNS:http-server.foo.svc.cluster.local, "
        "URI:spiffe://foo.example.com/http-server"
    )
    assert "Signature Algorithm: ecdsa-with-SHA256" in lines
    assert "Subject: C = US, O = SPIRE, CN = http-server" in lines
    assert "ASN1 OID: prime256v1" in lines
    assert "Not Before: Dec 16 23:59:50 2019 GMT" in lines
    assert "Not After : Dec 17 01:00:00 2019 GMT" in lines
    assert "X509v3 Subject Key Identifier:" in text
    assert "X509v3 Authority Key Identifier:" in text


def test_openssl_shows_spire_ca_contents(openssl, tmp_path, foo):
    done = subprocess.run(
        [
            openssl,
            "x509",
            "-noout",
            "-text",
            "-in",
            str(write(tmp_path / "ca.pem", foo.upstream_ca.certificate)),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    lines = [line.strip() for line in done.stdout.splitlines()]
    after = {lines[i]: lines[i + 1] for i in range(len(lines) - 1)}
    assert after["X509v3 Key Usage: critical"] == "Certificate Sign, CRL Sign"
    assert after["X509v3 Basic Constraints: critical"] == "CA:TRUE"
    assert after["X509v3 Subject Alternative Name:"] == "URI:spiffe://foo.example.com"
    assert "Issuer: C = JP, L = Tokyo, O = SPIRE, OU = CA, CN = foo root" in lines


# -- a real TLS stack -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wall_world(mint):
    """SVIDs minted at the wall-clock instant (the ssl module checks validity against it): foo
    upstream-signed, bar self-signed."""
    wall = datetime.now(UTC).replace(microsecond=0)
    root = ca.UpstreamAuthority.generate("foo root", now=wall, rng=rng.stream(1, "tls/root"))
    foo_ca = ca.upstream_sign_x509_ca(
        root, trust_domain=FOO, ttl=3600, now=wall, rng=rng.stream(1, "tls/foo")
    )
    bar_ca = ca.self_sign_x509_ca(
        trust_domain=BAR, ttl=3600, now=wall, rng=rng.stream(1, "tls/bar")
    )
    return {
        "server": mint(foo_ca, "/http-server", at=wall),
        "client": mint(bar_ca, "/client", at=wall),
        "foo_roots": foo_ca.roots,
        "bar_roots": bar_ca.roots,
    }


def _tls_context(tmp_path, side, svid, roots):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if side == "server" else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # SPIFFE authenticates the URI SAN, not a hostname
    ctx.verify_mode = ssl.CERT_REQUIRED  # on the server too: mutual TLS
    (tmp_path / f"{side}.pem").write_bytes(svid.chain_pem())
    (tmp_path / f"{side}.key").write_bytes(svid.key_pem())
    ctx.load_cert_chain(tmp_path / f"{side}.pem", tmp_path / f"{side}.key")
    ctx.load_verify_locations(cadata="".join(pem(c).decode() for c in roots))
    return ctx


def _tls_handshake(server_ctx, client_ctx):
    """Run both sides over a socket pair; return (client's view, server's view or error)."""
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    seen: dict[str, object] = {}

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                seen["peer"] = s.getpeercert()
                s.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            seen["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b) as c:
            peer = c.getpeercert()
            data = c.recv(2)
        return peer, data, seen
    finally:
        thread.join(timeout=10)
        a.close()
        b.close()


def test_python_ssl_mtls_handshake_with_minted_svids(tmp_path, wall_world):
    """OpenSSL's TLS stack (via Python's ssl) completes mutual TLS with our SVIDs, each side
    trusting only the peer's roots, the server sending its SPIRE intermediate in its chain."""
    w = wall_world
    peer, data, seen = _tls_handshake(
        _tls_context(tmp_path, "server", w["server"], w["bar_roots"]),
        _tls_context(tmp_path, "client", w["client"], w["foo_roots"]),
    )
    assert "error" not in seen, seen
    assert data == b"ok"
    assert ("URI", "spiffe://foo.example.com/http-server") in peer["subjectAltName"]
    assert ("URI", "spiffe://bar.example.com/client") in seen["peer"]["subjectAltName"]


def test_python_ssl_client_without_servers_roots_fails(tmp_path, wall_world):
    w = wall_world
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        _tls_handshake(
            _tls_context(tmp_path, "server", w["server"], w["bar_roots"]),
            _tls_context(tmp_path, "client", w["client"], w["bar_roots"]),
        )


# -- the real cfssl fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cfssl_dir() -> Path:
    if not (FIXTURES / "foo-ca.pem").is_file():
        pytest.fail(f"cfssl fixtures not found at {FIXTURES} (shared/ must sit beside the repo)")
    return FIXTURES


@pytest.fixture(scope="module")
def cfssl_foo(cfssl_dir) -> ca.UpstreamAuthority:
    return ca.UpstreamAuthority.load(cfssl_dir / "foo-ca.pem", cfssl_dir / "foo-ca-key.pem")


def test_cfssl_fixture_is_what_the_readme_says(cfssl_dir, cfssl_foo):
    assert (cfssl_dir / "foo-ca-key.pem").read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    cert = cfssl_foo.certificate
    assert cert.subject.rfc4514_string() == "CN=foo root,OU=CA,O=SPIRE,L=Tokyo,C=JP"
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (
        CFSSL_NOT_BEFORE,
        CFSSL_NOT_AFTER,
    )
    assert cfssl_foo.roots == (cert,)
    assert cfssl_foo.intermediates == ()


def test_cfssl_upstream_signed_svid_verifies_with_openssl(openssl, tmp_path, cfssl_dir, cfssl_foo):
    r = rng.stream(1, "cfssl")
    spire_ca = ca.upstream_sign_x509_ca(
        cfssl_foo, trust_domain=FOO, ttl=24 * 3600, now=INSIDE_CFSSL, rng=r
    )
    assert spire_ca.roots == (cfssl_foo.certificate,)
    assert spire_ca.certificate.issuer == cfssl_foo.certificate.subject
    svid = ca.mint_x509_svid(
        spire_ca,
        spiffe_id=SpiffeID.parse("spiffe://foo.example.com/web"),
        private_key=ca.new_ec_key(r),
        ttl=3600,
        now=INSIDE_CFSSL,
        rng=r,
    )
    at = INSIDE_CFSSL + timedelta(minutes=1)
    assert verify(svid.certificates, Bundle(FOO, spire_ca.roots), at=at).spiffe_id == (
        svid.spiffe_id
    )
    # Judge against the fixture file itself, not our re-encoding of it.
    cmd = [
        openssl,
        "verify",
        "-attime",
        str(int(at.timestamp())),
        "-CAfile",
        str(cfssl_dir / "foo-ca.pem"),
        "-untrusted",
        str(write(tmp_path / "spire-ca.pem", spire_ca.certificate)),
        str(write(tmp_path / "leaf.pem", svid.leaf)),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfssl_key_as_pkcs8_loads_too(tmp_path, cfssl_dir, cfssl_foo):
    key = serialization.load_pem_private_key((cfssl_dir / "foo-ca-key.pem").read_bytes(), None)
    pkcs8 = tmp_path / "foo-ca-key.pkcs8.pem"
    pkcs8.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert pkcs8.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = ca.UpstreamAuthority.load(cfssl_dir / "foo-ca.pem", pkcs8)
    assert loaded.certificate == cfssl_foo.certificate
    assert loaded.private_key.private_numbers() == cfssl_foo.private_key.private_numbers()


def test_cfssl_mismatched_cert_and_key(cfssl_dir):
    with pytest.raises(ca.CAError) as info:
        ca.UpstreamAuthority.load(cfssl_dir / "foo-ca.pem", cfssl_dir / "bar-ca-key.pem")
    assert str(info.value) == "unable to load upstream CA: certificate and private key do not match"


def test_non_self_signed_upstream_without_bundle(tmp_path, foo):
    # SPIRE's own intermediate, offered as the disk plugin's cert: not self-signed.
    spire_ca = foo.upstream_ca
    cert = write(tmp_path / "ca.pem", spire_ca.certificate)
    key = tmp_path / "ca-key.pem"
    key.write_bytes(
        spire_ca.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ca.CAError) as info:
        ca.UpstreamAuthority.load(cert, key)
    assert str(info.value) == (
        "with no bundle_file_path configured only self-signed CAs are supported"
    )


def test_cfssl_fixture_after_its_not_after(cfssl_foo):
    at = CFSSL_NOT_AFTER + timedelta(days=1)
    with pytest.raises(ca.CAError) as info:
        ca.upstream_sign_x509_ca(
            cfssl_foo, trust_domain=FOO, ttl=3600, now=at, rng=rng.stream(1, "late")
        )
    assert "certificate has expired or is not yet valid" in str(info.value)
    assert str(info.value).endswith("is after 2031-11-27T16:05:00Z"), str(info.value)


def test_cfssl_fixture_before_its_not_before(cfssl_foo):
    at = CFSSL_NOT_BEFORE - timedelta(days=1)
    with pytest.raises(ca.CAError) as info:
        ca.upstream_sign_x509_ca(
            cfssl_foo, trust_domain=FOO, ttl=3600, now=at, rng=rng.stream(1, "early")
        )
    assert "is before" in str(info.value)
    assert str(info.value).endswith(
        "current time 2026-11-27T16:05:00Z is before 2026-11-28T16:05:00Z"
    ), str(info.value)


# -- determinism ---------------------------------------------------------------------------------


def _build(seed: int):
    root = ca.UpstreamAuthority.generate("foo root", now=NOW, rng=rng.stream(seed, "root"))
    spire_ca = ca.upstream_sign_x509_ca(
        root, trust_domain=FOO, ttl=86400, now=NOW, rng=rng.stream(seed, "ca")
    )
    r = rng.stream(seed, "svid")
    svid = ca.mint_x509_svid(
        spire_ca,
        spiffe_id=SpiffeID.parse("spiffe://foo.example.com/w"),
        private_key=ca.new_ec_key(r),
        ttl=3600,
        now=NOW,
        rng=r,
        dns_names=("w",),
    )
    jwt = ca.new_jwt_key(ttl=86400, now=NOW, rng=rng.stream(seed, "jwt"))
    return root, spire_ca, svid, jwt


def test_same_seed_gives_byte_identical_certificates():
    a, b = _build(7), _build(7)
    assert der(a[0].certificate) == der(b[0].certificate)
    assert der(a[1].certificate) == der(b[1].certificate)
    assert [der(c) for c in a[2].certificates] == [der(c) for c in b[2].certificates]
    assert a[2].key_pem() == b[2].key_pem()
    assert a[3].key_id == b[3].key_id
    assert len(a[3].key_id) == 32 and a[3].key_id.isalnum() and a[3].key_id.isascii()
    assert a[3].public_key() == b[3].public_key()


def test_different_seed_gives_different_serials_and_keys():
    a, b = _build(7), _build(8)
    for x, y in [
        (a[0].certificate, b[0].certificate),
        (a[1].certificate, b[1].certificate),
        (a[2].leaf, b[2].leaf),
    ]:
        assert x.serial_number != y.serial_number
        assert x.public_key() != y.public_key()
    assert a[3].key_id != b[3].key_id
    assert a[3].public_key() != b[3].public_key()
