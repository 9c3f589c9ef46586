"""Certificate authorities as SPIRE runs them: the upstream "disk" authority, SPIRE's own X.509 CA
(self-signed or signed by the upstream), the X509-SVIDs it mints and its JWT signing keys.

Everything is a real certificate made with ``cryptography``. Keys come from the run's random
stream (``ec.derive_private_key``), serials too, and ECDSA signatures are deterministic
(RFC 6979), so the same seed gives byte-identical DER.

>>> from datetime import datetime, timezone
>>> from sim import rng
>>> from sim.spiffeid import SpiffeID, TrustDomain
>>> now = datetime(2019, 12, 17, tzinfo=timezone.utc)
>>> r = rng.stream(1, "doc")
>>> root = UpstreamAuthority.generate("foo root", now=now, rng=r)
>>> td = TrustDomain.parse("foo.example.com")
>>> ca = upstream_sign_x509_ca(root, trust_domain=td, ttl=12 * 3600, now=now, rng=r)
>>> svid = mint_x509_svid(ca, spiffe_id=SpiffeID.parse("spiffe://foo.example.com/web"),
...                       private_key=new_ec_key(r), ttl=3600, now=now, rng=r)
>>> [c.subject.rfc4514_string() for c in svid.certificates]  # doctest: +ELLIPSIS
['O=SPIRE,C=US', '2.5.4.5=...,O=SPIFFE,C=US']
>>> svid.certificates[1].issuer.rfc4514_string()
'CN=foo root,OU=CA,O=SPIRE,L=Tokyo,C=JP'
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID, X509SVIDError, go_time, verify

__all__ = [
    "CAError",
    "JWTKey",
    "UpstreamAuthority",
    "X509CA",
    "default_ca_subject",
    "mint_x509_svid",
    "new_ec_key",
    "new_jwt_key",
    "forge_x509_svid",
    "new_serial",
    "self_sign_x509_ca",
    "upstream_sign_x509_ca",
]

# SPIRE backdates every certificate it signs by 10 s so peers with slightly slow clocks accept it
# (spire@HEAD pkg/server/credtemplate/builder.go NotBeforeCushion; pkg/common/x509svid/upstreamca.go
# DefaultUpstreamCABackdate).
NOT_BEFORE_CUSHION = timedelta(seconds=10)
# cfssl's default CA expiry is 5 years written as 43800h = 1825 days (cfssl initca,
# `cfssl/initca/initca.go` CAPolicy "43800h"), and it backdates notBefore by 5 minutes, as the
# fixtures in shared/fixtures/cfssl show (2026-11-28T16:05Z .. 2031-11-27T16:05Z).
CFSSL_CA_LIFETIME = timedelta(hours=43800)
CFSSL_BACKDATE = timedelta(minutes=5)
# P-256 group order: private scalars are drawn uniformly from [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_JWT_KID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class CAError(Exception):
    """A certificate authority could not load, sign or mint."""


def new_ec_key(rng: random.Random) -> ec.EllipticCurvePrivateKey:
    """A P-256 key (SPIRE's default `ca_key_type` and workload key type) drawn from ``rng``."""
    return ec.derive_private_key(rng.randrange(1, _P256_ORDER), ec.SECP256R1())


def new_serial(rng: random.Random) -> int:
    """A serial in [1, 2^128-1] as SPIRE draws them (pkg/common/x509util/serialnumber.go)."""
    return rng.randrange(1, 1 << 128)


def default_ca_subject(serial: int) -> x509.Name:
    """SPIRE 1.x's X.509 CA subject: ``C=US, O=SPIFFE`` plus the serial as SERIALNUMBER.

    (spire@HEAD credtemplate/builder.go buildX509CATemplate: `tmpl.Subject.SerialNumber =
    tmpl.SerialNumber.String()`.) SPIRE 0.9 used the configured `ca_subject`, empty by default.
    """
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIFFE"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, str(serial)),
        ]
    )


def _whole_seconds(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise CAError("ca: times must be timezone-aware (UTC)")
    return t.replace(microsecond=0)


def _ski(public_key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    # RFC 5280 method 1 (SHA-1 of the subjectPublicKey bits), as SPIRE's x509util.GetSubjectKeyID.
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _sign(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    # Go's x509.CreateCertificate picks ecdsa-with-SHA256 for a P-256 issuer key.
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def _ca_builder(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    uri: str | None,
    issuer_ski: bytes | None,
    digital_signature: bool = False,
) -> x509.CertificateBuilder:
    # Extension order follows Go's buildCertExtensions: keyUsage, basicConstraints, SKI, AKI, SAN.
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ski(public_key), critical=False)
    )
    if issuer_ski is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier(issuer_ski, None, None), critical=False)
    if uri is not None:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
    return b


def _issuer_ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True, slots=True)
class UpstreamAuthority:
    """SPIRE's `disk` UpstreamAuthority: a CA certificate and key read from files.

    ``roots`` are what SPIRE puts in the trust bundle: the certificate itself when no
    `bundle_file_path` is configured (then it must be self-signed), else the bundle file's roots.
    ``intermediates`` are the certificates between the upstream CA and a root (bundle case only).
    """

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_pem(
        cls, cert_pem: bytes, key_pem: bytes, *, bundle_pem: bytes | None = None
    ) -> UpstreamAuthority:
        """Load what `cfssl gencert -initca | cfssljson -bare` writes (SEC1 `EC PRIVATE KEY`)
        or PKCS#8. Error texts are the disk plugin's (spire@HEAD
        pkg/server/plugin/upstreamauthority/disk/disk.go)."""
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CAError(f"unable to load upstream CA key: {_first_line(exc)}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CAError(
                "unable to load upstream CA key: only ECDSA keys are modelled "
                f"(got {type(key).__name__})"
            )
        try:
            certs = x509.load_pem_x509_certificates(cert_pem)
        except ValueError as exc:
            raise CAError(f"unable to load upstream CA cert: {_first_line(exc)}") from None
        cert = certs[0]
        if cert.public_key() != key.public_key():
            raise CAError("unable to load upstream CA: certificate and private key do not match")
        if bundle_pem is None:
            if not _self_signed(cert):
                raise CAError(
                    "with no bundle_file_path configured only self-signed CAs are supported"
                )
            return cls(certificate=cert, private_key=key, roots=(cert,))
        try:
            roots = tuple(x509.load_pem_x509_certificates(bundle_pem))
        except ValueError as exc:
            raise CAError(f"unable to load upstream CA bundle: {_first_line(exc)}") from None
        return cls(certificate=cert, private_key=key, roots=roots, intermediates=tuple(certs[1:]))

    @classmethod
    def load(
        cls, cert_file: str | Path, key_file: str | Path, *, bundle_file: str | Path | None = None
    ) -> UpstreamAuthority:
        """Read the files the disk plugin's `cert_file_path`/`key_file_path` name."""

        def read(path: str | Path, what: str) -> bytes:
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise CAError(
                    f"unable to load upstream CA {what}: {exc.strerror}: {path}"
                ) from None

        return cls.from_pem(
            read(cert_file, "cert"),
            read(key_file, "key"),
            bundle_pem=None if bundle_file is None else read(bundle_file, "bundle"),
        )

    @classmethod
    def generate(
        cls,
        common_name: str,
        *,
        now: datetime,
        rng: random.Random,
        country: str = "JP",
        locality: str = "Tokyo",
        organization: str = "SPIRE",
        organizational_unit: str = "CA",
        lifetime: timedelta = CFSSL_CA_LIFETIME,
    ) -> UpstreamAuthority:
        """A root made the way the seed made its roots with cfssl 1.2.0 `gencert -initca`.

        Subject order C, L, O, OU, CN; critical keyCertSign|cRLSign and CA:TRUE; SKI; a 159-bit
        serial; notBefore backdated 5 minutes from ``now`` rounded to the minute; 43800h validity.
        """
        now = _whole_seconds(now)
        key = new_ec_key(rng)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                x509.NameAttribute(NameOID.LOCALITY_NAME, locality),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        minute = now.replace(second=0)
        if now.second >= 30:
            minute += timedelta(minutes=1)
        not_before = minute - CFSSL_BACKDATE
        cert = _sign(
            _ca_builder(
                subject=name,
                issuer=name,
                public_key=key.public_key(),
                serial=rng.getrandbits(159) | 1,
                not_before=not_before,
                not_after=not_before + lifetime,
                uri=None,
                issuer_ski=None,
            ),
            key,
        )
        return cls(certificate=cert, private_key=key, roots=(cert,))

    def sign_x509_ca(
        self,
        *,
        public_key: ec.EllipticCurvePublicKey,
        subject: x509.Name,
        trust_domain: TrustDomain,
        ttl: float,
        now: datetime,
        rng: random.Random,
    ) -> x509.Certificate:
        """Sign SPIRE's CA CSR as the disk plugin does (pkg/common/x509svid/upstreamca.go SignCSR):
        notBefore now-10s, notAfter now+ttl capped at the upstream's notAfter, CA with
        keyCertSign|cRLSign, SAN `spiffe://<td>`, SKI from the CSR key, AKI from the upstream."""
        now = _whole_seconds(now)
        not_before = now - NOT_BEFORE_CUSHION
        not_after = min(now + timedelta(seconds=ttl or 3600), self.certificate.not_valid_after_utc)
        if not_after <= not_before:
            # Go mints such an inverted certificate without complaint; SPIRE then rejects it when
            # it verifies a throwaway SVID against it (pkg/server/ca/validation.go), with this
            # text. cryptography refuses to build an inverted validity, so we raise it here.
            raise CAError(
                "X509 CA produced an invalid X509-SVID chain: x509svid: could not verify leaf "
                "certificate: x509: certificate has expired or is not yet valid: current time "
                f"{go_time(now)} is after {go_time(not_after)}"
            )
        return _sign(
            _ca_builder(
                subject=subject,
                issuer=self.certificate.subject,
                public_key=public_key,
                serial=new_serial(rng),
                not_before=not_before,
                not_after=not_after,
                uri=trust_domain.id_string(),
                issuer_ski=_issuer_ski(self.certificate),
            ),
            self.private_key,
        )


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, x509.InvalidSignature):
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@dataclass(frozen=True, slots=True)
class X509CA:
    """SPIRE's signing CA for one slot.

    ``chain`` is what follows the leaf in every SVID it signs (empty when self-signed; the CA and
    the upstream intermediates when upstream-signed: ca.go makeCertChain), and ``roots`` what
    the CA contributes to the trust bundle (itself when self-signed, the upstream roots otherwise).
    """

    trust_domain: TrustDomain
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def self_signed(self) -> bool:
        return not self.chain


def self_sign_x509_ca(
    *,
    trust_domain: TrustDomain,
    ttl: float,
    now: datetime,
    rng: random.Random,
    subject: x509.Name | None = None,
    digital_signature: bool = False,
) -> X509CA:
    """A self-signed SPIRE CA (manager.go selfSignX509CA / credtemplate buildX509CATemplate).

    Subject defaults to :func:`default_ca_subject`; SPIRE 0.9 also set digitalSignature (pass
    ``digital_signature=True``) and had an empty default subject.
    """
    now = _whole_seconds(now)
    key = new_ec_key(rng)
    serial = new_serial(rng)
    name = default_ca_subject(serial) if subject is None else subject
    cert = _sign(
        _ca_builder(
            subject=name,
            issuer=name,
            public_key=key.public_key(),
            serial=serial,
            not_before=now - NOT_BEFORE_CUSHION,
            not_after=now + timedelta(seconds=ttl),
            uri=trust_domain.id_string(),
            issuer_ski=None,
            digital_signature=digital_signature,
        ),
        key,
    )
    return X509CA(
        trust_domain=trust_domain, certificate=cert, private_key=key, chain=(), roots=(cert,)
    )


def upstream_sign_x509_ca(
    upstream: UpstreamAuthority,
    *,
    trust_domain: TrustDomain,
    ttl: float,
    now: datetime,
    rng: random.Random,
    subject: x509.Name | None = None,
    validate: bool = True,
) -> X509CA:
    """SPIRE's CA as an intermediate signed by ``upstream`` (manager.go upstreamSignX509CA).

    With ``validate`` the result is checked as SPIRE does before using it: a throwaway SVID
    must verify against the upstream roots (pkg/server/ca/validation.go); failures raise
    :class:`CAError` with SPIRE's text.
    """
    key = new_ec_key(rng)
    # The CSR template draws a serial for the SERIALNUMBER attribute even though the upstream
    # assigns the certificate's own serial (credtemplate BuildUpstreamSignedX509CACSR).
    name = default_ca_subject(new_serial(rng)) if subject is None else subject
    cert = upstream.sign_x509_ca(
        public_key=key.public_key(),
        subject=name,
        trust_domain=trust_domain,
        ttl=ttl,
        now=now,
        rng=rng,
    )
    ca = X509CA(
        trust_domain=trust_domain,
        certificate=cert,
        private_key=key,
        chain=(cert, *upstream.intermediates),
        roots=upstream.roots,
    )
    if validate:
        _validate_x509_ca(ca, now=_whole_seconds(now), rng=rng)
    return ca


def _validate_x509_ca(ca: X509CA, *, now: datetime, rng: random.Random) -> None:
    from sim.bundle import Bundle

    probe = mint_x509_svid(
        ca,
        spiffe_id=SpiffeID.from_path(ca.trust_domain, "/spire/throwaway"),
        private_key=new_ec_key(rng),
        ttl=(ca.not_after - now).total_seconds() + NOT_BEFORE_CUSHION.total_seconds(),
        now=now,
        rng=rng,
    )
    bundle = Bundle(trust_domain=ca.trust_domain, x509_authorities=ca.roots)
    try:
        verify(probe.certificates, bundle, at=now)
    except X509SVIDError as exc:
        raise CAError(f"X509 CA produced an invalid X509-SVID chain: {exc}") from None


def mint_x509_svid(
    ca: X509CA,
    *,
    spiffe_id: SpiffeID,
    private_key: ec.EllipticCurvePrivateKey,
    ttl: float,
    now: datetime,
    rng: random.Random,
    dns_names: Sequence[str] = (),
) -> X509SVID:
    """An X509-SVID exactly as SPIRE mints it (credtemplate buildX509SVIDTemplate, spire-facts 2).

    One URI SAN; DNS SANs with the first as CN; subject C=US, O=SPIRE; critical keyUsage
    digitalSignature|keyEncipherment|keyAgreement; EKU serverAuth+clientAuth; CA:FALSE; SKI and
    AKI; notBefore now-10s; notAfter min(now+ttl, CA notAfter).
    """
    if not spiffe_id.member_of(ca.trust_domain):
        # api.VerifyTrustDomainMemberID, wrapped by buildX509SVIDTemplate.
        raise CAError(
            f'invalid X509-SVID ID: "{spiffe_id}" is not a member of trust domain '
            f'"{ca.trust_domain}"'
        )
    if not spiffe_id.path:
        raise CAError(
            f'invalid X509-SVID ID: "{spiffe_id}" is not a member of trust domain '
            f'"{ca.trust_domain}"; path is empty'
        )
    now = _whole_seconds(now)
    not_after = min(now + timedelta(seconds=ttl), ca.not_after)
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE"),
    ]
    if dns_names:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0]))
    public_key = private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(new_serial(rng))
        .not_valid_before(now - NOT_BEFORE_CUSHION)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
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
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_ski(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(_issuer_ski(ca.certificate), None, None), critical=False
        )
        .add_extension(
            # Go's marshalSANs writes DNS names before URIs.
            x509.SubjectAlternativeName(
                [x509.DNSName(d) for d in dns_names]
                + [x509.UniformResourceIdentifier(str(spiffe_id))]
            ),
            critical=False,
        )
    )
    leaf = _sign(builder, ca.private_key)
    return X509SVID(spiffe_id=spiffe_id, certificates=(leaf, *ca.chain), private_key=private_key)


def forge_x509_svid(
    ca: X509CA,
    *,
    spiffe_id: SpiffeID,
    private_key: ec.EllipticCurvePrivateKey,
    ttl: float,
    now: datetime,
    rng: random.Random,
) -> X509SVID:
    """What a thief of ``ca``'s key can sign: an SVID-shaped certificate for *any* SPIFFE ID,
    another trust domain's included (SPIRE's member check is exactly what the theft skips).
    Failure story E4: a verifier that pools the roots of several trust domains accepts it."""
    return mint_x509_svid(
        replace(ca, trust_domain=spiffe_id.trust_domain),
        spiffe_id=spiffe_id,
        private_key=private_key,
        ttl=ttl,
        now=now,
        rng=rng,
    )


@dataclass(frozen=True, slots=True)
class JWTKey:
    """A JWT signing key of one slot: its ``kid`` (32 characters of [a-zA-Z0-9], manager.go
    newKeyID) and its expiry, which is the CA TTL after preparation (manager.go PrepareJWTKey)."""

    key_id: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    not_after: datetime

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()


def new_jwt_key(*, ttl: float, now: datetime, rng: random.Random) -> JWTKey:
    """A fresh P-256 JWT signing key, valid for ``ttl`` seconds from ``now``."""
    kid = "".join(rng.choice(_JWT_KID_ALPHABET) for _ in range(32))
    return JWTKey(
        key_id=kid,
        private_key=new_ec_key(rng),
        not_after=_whole_seconds(now) + timedelta(seconds=ttl),
    )
