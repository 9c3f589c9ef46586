"""Web PKI for bundle endpoints served with the `https_web` profile: a serving certificate from a
Web PKI CA, and a client's check of it against its system roots with a hostname check, in the
order and words of Go's crypto/x509 (leaf validity, then ``VerifyHostname``, then the chain).

>>> from datetime import datetime, timezone
>>> from sim import ca, rng
>>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> r = rng.stream(1, "doc")
>>> web_ca = ca.UpstreamAuthority.generate("Example Web CA", now=now, rng=r)
>>> serving = mint_serving_certificate(web_ca, dns_names=["spire-server.bar.svc.cluster.local"],
...                                    ttl=90 * 86400, now=now, rng=r)
>>> verify_server(serving.certificates, web_ca.roots,
...               hostname="spire-server.bar.svc.cluster.local", at=now)
>>> try:
...     verify_server(serving.certificates, web_ca.roots, hostname="bar.example.com", at=now)
... except WebPKIError as err:
...     print(err)
x509: certificate is valid for spire-server.bar.svc.cluster.local, not bar.example.com
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from sim import ca
from sim.x509svid import go_chain_error, go_time

__all__ = ["ServingCertificate", "WebPKIError", "mint_serving_certificate", "verify_server"]


class WebPKIError(Exception):
    """A Web PKI server certificate did not verify. ``kind`` names the cause for metrics;
    ``spiffe_id`` is the SPIFFE ID the rejected leaf carried, if any (SPIRE mentions it)."""

    def __init__(self, message: str, *, kind: str, spiffe_id: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.spiffe_id = spiffe_id


@dataclass(frozen=True, slots=True)
class ServingCertificate:
    """A TLS serving certificate chain (leaf first) and its key: `serving_cert_file`."""

    certificates: tuple[x509.Certificate, ...]
    private_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)


def mint_serving_certificate(
    authority: ca.UpstreamAuthority,
    *,
    dns_names: Sequence[str],
    ttl: float,
    now: datetime,
    rng: random.Random,
) -> ServingCertificate:
    """A server certificate as a Web PKI CA issues one: DNS SANs (the first also as CN),
    serverAuth, digitalSignature, not a CA, capped at the CA's notAfter."""
    if not dns_names:
        raise WebPKIError(
            "webpki: a serving certificate needs at least one DNS name", kind="config"
        )
    key = ca.new_ec_key(rng)
    now = now.replace(microsecond=0)
    issuer = authority.certificate
    not_after = min(now + timedelta(seconds=ttl), issuer.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(ca.new_serial(rng))
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns_names]), critical=False
        )
    )
    leaf = builder.sign(authority.private_key, hashes.SHA256(), ecdsa_deterministic=True)
    return ServingCertificate(certificates=(leaf, *authority.intermediates), private_key=key)


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _matches(pattern: str, host: str) -> bool:
    # Go's matchHostnames: case-insensitive, a leading "*." matches exactly one label.
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p.startswith("*."):
        return "." in h and h.split(".", 1)[1] == p[2:] and h.split(".", 1)[0] != ""
    return p == h


def _hostname_error(cert: x509.Certificate, host: str) -> str | None:
    """Go's Certificate.VerifyHostname and HostnameError.Error() (crypto/x509 verify.go)."""
    san = _san(cert)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        ips = [] if san is None else san.get_values_for_type(x509.IPAddress)
        if any(a == ip for a in ips):
            return None
        if not ips:
            return (
                f"x509: cannot validate certificate for {host} because it doesn't contain "
                "any IP SANs"
            )
        return f"x509: certificate is valid for {', '.join(str(a) for a in ips)}, not {host}"
    names = [] if san is None else san.get_values_for_type(x509.DNSName)
    if any(_matches(n, host) for n in names):
        return None
    if san is None:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cns and _matches(str(cns[0].value), host):
            return "x509: certificate relies on legacy Common Name field, use SANs instead"
    if not names:
        return f"x509: certificate is not valid for any names, but wanted to match {host}"
    return f"x509: certificate is valid for {', '.join(names)}, not {host}"


def verify_server(
    certificates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    hostname: str,
    at: datetime,
) -> None:
    """Verify a TLS server's chain as Go's crypto/tls client does for `https_web`.

    Raises :class:`WebPKIError` with Go's text: expiry (with the Go 1.14+ detail), hostname
    mismatch, or unknown authority. The chain itself is judged by ``cryptography``'s WebPKI
    server verifier against ``roots`` only.
    """
    if not certificates:
        raise WebPKIError("tls: server didn't provide a certificate", kind="no_certificates")
    leaf, intermediates = certificates[0], list(certificates[1:])
    uris = (
        []
        if _san(leaf) is None
        else _san(leaf).get_values_for_type(  # type: ignore[union-attr]
            x509.UniformResourceIdentifier
        )
    )
    spiffe_id = uris[0] if uris and uris[0].startswith("spiffe://") else None
    nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if at < nb or at > na:
        direction, bound = ("before", nb) if at < nb else ("after", na)
        raise WebPKIError(
            "x509: certificate has expired or is not yet valid: current time "
            f"{go_time(at)} is {direction} {go_time(bound)}",
            kind="expired",
            spiffe_id=spiffe_id,
        )
    host_error = _hostname_error(leaf, hostname)
    if host_error is not None:
        raise WebPKIError(host_error, kind="hostname", spiffe_id=spiffe_id)
    try:
        subject = IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        subject = DNSName(hostname)
    try:
        verifier = (
            PolicyBuilder().store(Store(list(roots))).time(at.replace(microsecond=0))
            .build_server_verifier(subject)
        )  # fmt: skip
        verifier.verify(leaf, intermediates)
        return
    except (VerificationError, ValueError) as exc:
        reason = str(exc)
    go = go_chain_error(leaf, intermediates, roots, at=at)
    if go is not None:
        raise WebPKIError(go[1], kind=go[0], spiffe_id=spiffe_id)
    raise WebPKIError(f"x509: {reason}", kind="policy", spiffe_id=spiffe_id)
