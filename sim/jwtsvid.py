"""A JWT-SVID: a SPIFFE ID in the ``sub`` claim of a compact JWS signed by a trust domain's JWT
authority, minted the way a SPIRE server mints it and validated at a given instant in the words
of the validator that judges it.

Minting follows SPIRE (spire@HEAD pkg/server/credtemplate/builder.go BuildWorkloadJWTSVIDClaims,
pkg/server/ca/ca.go SignWorkloadJWTSVID / signJWTSVID): claims ``aud``, ``exp``, ``iat``, ``sub``
(Go's encoding/json writes map keys sorted), ``exp = min(now + ttl, JWT key notAfter)``
(computeCappedLifetime with the key's expiry as the cap), header ``alg`` from the key
(cryptoutil.JoseAlgFromPublicKey: ES256 for P-256), ``kid`` and ``typ: JWT``.

Two validators, one per era (both verify the ES signature for real):

- :func:`parse_and_validate` is go-spiffe v2's ``jwtsvid.ParseAndValidate`` (go-spiffe v2.8.1
  svid/jwtsvid/svid.go), which a workload runs itself against its JWT bundles, errors
  prefixed ``jwtsvid:``;
- :func:`validate_token` is SPIRE's own ``jwtsvid.ValidateToken`` (pkg/common/jwtsvid/validate.go),
  which the agent runs for the Workload API's ``ValidateJWTSVID``: the source of the
  ``public key "<kid>" not found in trust domain "<td>"`` text the failure catalog quotes. Before
  SPIRE v1.2.0 (commit bcb24d713) the trust domain there is printed as ``spiffe://<td>``.

Time checks are go-jose's ``Claims.Validate`` with its one-minute ``DefaultLeeway``
(go-jose/v4 jwt/validation.go): audience, then nbf, exp, iat.

>>> from datetime import datetime, timedelta, timezone
>>> from sim import ca, rng
>>> from sim.bundle import Bundle, JWTAuthority
>>> from sim.spiffeid import SpiffeID, TrustDomain
>>> now = datetime(2024, 6, 1, tzinfo=timezone.utc)
>>> key = ca.new_jwt_key(ttl=86400, now=now, rng=rng.stream(1, "doc"))
>>> svid = mint(key, spiffe_id=SpiffeID.parse("spiffe://foo.example.com/client"),
...             audience=("spiffe://bar.example.com/api",), ttl=300, now=now)
>>> svid.expiry - svid.issued_at
datetime.timedelta(seconds=300)
>>> foo = Bundle(TrustDomain("foo.example.com"),
...              jwt_authorities=(JWTAuthority(key.key_id, key.public_key()),))
>>> parse_and_validate(svid.token, foo, ["spiffe://bar.example.com/api"], at=now).spiffe_id
SpiffeID(trust_domain=TrustDomain(name='foo.example.com'), path='/client')
>>> try:
...     parse_and_validate(svid.token, foo, ["spiffe://bar.example.com/api"],
...                        at=now + timedelta(minutes=7))
... except JWTSVIDError as err:
...     print(err)
jwtsvid: token has expired
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sim.bundle import BundleSource
from sim.ca import JWTKey
from sim.spiffeid import SpiffeID, SpiffeIDError, TrustDomain

__all__ = ["JWTSVID", "JWTSVIDError", "mint", "parse_and_validate", "validate_token"]

# go-jose v4 jwt/validation.go DefaultLeeway.
LEEWAY = timedelta(minutes=1)
# go-spiffe v2 svid/jwtsvid/svid.go allowedSignatureAlgorithms (SPIRE's validate.go: the same).
ALLOWED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
)  # fmt: skip
# cryptoutil.JoseAlgFromPublicKey: the curve decides the algorithm.
_ALG_BY_CURVE = {"secp256r1": ("ES256", 32), "secp384r1": ("ES384", 48), "secp521r1": ("ES512", 66)}
_CURVE_BY_ALG = {alg: (curve, size) for curve, (alg, size) in _ALG_BY_CURVE.items()}
_HASH_BY_ALG = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}

# go-jose's own error texts: v4 (go-jose/go-jose/v4, SPIRE >= 1.9 and go-spiffe v2.2+) and
# square/go-jose.v2 (SPIRE 0.9). jose.ErrCryptoFailure, the compact-format error of
# jws.go parseSignedCompact, and the jwt package's ErrNotValidYet / ErrIssuedInTheFuture.
_GO_JOSE = {False: "go-jose/go-jose", True: "square/go-jose"}


def _crypto_failure(legacy: bool) -> str:
    return f"{_GO_JOSE[legacy]}: error in cryptographic primitive"


def _not_valid_yet(legacy: bool) -> str:
    return f"{_GO_JOSE[legacy]}/jwt: validation failed, token not valid yet (nbf)"


def _issued_in_future(legacy: bool) -> str:
    # "validation field" is go-jose's own typo.
    return f"{_GO_JOSE[legacy]}/jwt: validation field, token issued in the future (iat)"


class JWTSVIDError(ValueError):
    """A JWT-SVID could not be minted, parsed or validated; the text is the validator's."""


@dataclass(frozen=True, slots=True)
class JWTSVID:
    """A JWT-SVID and what its claims say. ``token`` is the compact JWS a workload sends."""

    spiffe_id: SpiffeID
    audience: tuple[str, ...]
    expiry: datetime
    issued_at: datetime | None
    key_id: str
    token: str = field(repr=False)
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def lifetime(self) -> float:
        """Seconds from issue to expiry (SPIRE's rotation threshold is half of it)."""
        start = self.issued_at if self.issued_at is not None else self.expiry
        return (self.expiry - start).total_seconds()


# -- encoding --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    # go-jose decodes with RawURLEncoding after stripping padding; anything else fails.
    text = text.rstrip("=")
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("illegal base64 data")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _go_json(value: Any) -> bytes:
    # encoding/json: map keys sorted, no spaces, HTML characters escaped as \u003c etc.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def _q(text: str) -> str:
    """Go's %q for the plain strings quoted here (SPIFFE IDs, kids, audiences)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _q_list(items: Sequence[str]) -> str:
    """Go's %q of a []string: ``["a" "b"]``."""
    return "[" + " ".join(_q(s) for s in items) + "]"


def _unix(t: datetime) -> int:
    # jwt.NewNumericDate: whole seconds since the epoch, fraction dropped.
    return int(t.timestamp())


def mint(
    key: JWTKey,
    *,
    spiffe_id: SpiffeID,
    audience: Sequence[str],
    ttl: float,
    now: datetime,
) -> JWTSVID:
    """Sign a JWT-SVID for ``spiffe_id`` with ``key`` (the server's active JWT key).

    Empty audience values are dropped and none left is refused, with credtemplate's texts.
    """
    aud = tuple(a for a in audience if a)
    if not aud:
        raise JWTSVIDError("invalid JWT-SVID audience: cannot be empty")
    cap = key.not_after
    expires = min(now + timedelta(seconds=ttl), cap)
    alg, size = _ALG_BY_CURVE[key.private_key.curve.name]
    header = {"alg": alg, "kid": key.key_id, "typ": "JWT"}
    claims = {
        "aud": list(aud),
        "exp": _unix(expires),
        "iat": _unix(now),
        "sub": str(spiffe_id),
    }
    signing_input = f"{_b64url(_go_json(header))}.{_b64url(_go_json(claims))}"
    der = key.private_key.sign(
        signing_input.encode(),
        ec.ECDSA(_HASH_BY_ALG[alg](), deterministic_signing=True),
    )
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    token = f"{signing_input}.{_b64url(signature)}"
    return JWTSVID(
        spiffe_id=spiffe_id,
        audience=aud,
        expiry=datetime.fromtimestamp(claims["exp"], UTC),
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        key_id=key.key_id,
        token=token,
        claims=claims,
    )


# -- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


class _ParseError(Exception):
    """go-jose's ParseSigned refused the token; ``detail`` is go-jose's text (v4 wording)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _parse_signed(token: str) -> _Parsed:
    """jwt.ParseSigned(token, allowed algorithms): compact JWS, one header, known ``alg``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise _ParseError("go-jose/go-jose: compact JWS format must have three parts")
    try:
        raw_header = _b64url_decode(parts[0])
        payload = _b64url_decode(parts[1])
        signature = _b64url_decode(parts[2])
    except ValueError:
        raise _ParseError("illegal base64 data") from None
    try:
        header = json.loads(raw_header)
    except (ValueError, UnicodeDecodeError):
        raise _ParseError("go-jose/go-jose: invalid protected header") from None
    if not isinstance(header, dict):
        raise _ParseError("go-jose/go-jose: invalid protected header")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise _ParseError(
            f"go-jose/go-jose: unexpected signature algorithm {_q(str(alg))}; "
            f"expected {_q_list(ALLOWED_ALGORITHMS)}"
        )
    return _Parsed(header, payload, f"{parts[0]}.{parts[1]}".encode(), signature)


@dataclass(frozen=True, slots=True)
class _Claims:
    """The registered claims go-jose's jwt.Claims reads (the rest stays in ``all``)."""

    all: Mapping[str, Any]
    sub: str
    aud: tuple[str, ...]
    exp: int | None
    nbf: int | None
    iat: int | None


def _go_json_error(payload: bytes) -> str:
    """What Go's encoding/json says about a payload that is not a JSON object of claims."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        text = payload.decode("utf-8", "replace").lstrip()
        if not text:
            return "unexpected end of JSON input"
        return f"invalid character {_go_char(text[0])} looking for beginning of value"
    return f"json: cannot unmarshal {_go_json_type(value)} into Go value of type jwt.Claims"


def _go_char(ch: str) -> str:
    return "'\\''" if ch == "'" else f"'{ch}'"


def _go_json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _claims(payload: bytes) -> _Claims:
    """tok.UnsafeClaimsWithoutVerification(&jwt.Claims): raises with Go's JSON error text."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise JWTSVIDError(_go_json_error(payload)) from None
    if not isinstance(doc, dict):
        raise JWTSVIDError(_go_json_error(payload))

    def numeric(name: str) -> int | None:
        value = doc.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise JWTSVIDError(
                f"json: cannot unmarshal {_go_json_type(value)} into Go struct field "
                f"Claims.{name} of type jwt.NumericDate"
            )
        return int(value)

    sub = doc.get("sub", "")
    if not isinstance(sub, str):
        raise JWTSVIDError(
            f"json: cannot unmarshal {_go_json_type(sub)} into Go struct field Claims.sub "
            "of type string"
        )
    aud = doc.get("aud", [])
    # jwt.Audience accepts one string or an array of strings.
    if isinstance(aud, str):
        aud = [aud]
    if not isinstance(aud, list) or not all(isinstance(a, str) for a in aud):
        raise JWTSVIDError(
            "go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience"
        )
    return _Claims(doc, sub, tuple(aud), numeric("exp"), numeric("nbf"), numeric("iat"))


def _verify_signature(parsed: _Parsed, public_key: object) -> bool:
    alg = parsed.header["alg"]
    if alg not in _CURVE_BY_ALG or not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False  # only EC keys are modelled (bundle.py); an RS/PS token never verifies
    curve, size = _CURVE_BY_ALG[alg]
    if public_key.curve.name != curve or len(parsed.signature) != 2 * size:
        return False
    r = int.from_bytes(parsed.signature[:size], "big")
    s = int.from_bytes(parsed.signature[size:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s), parsed.signing_input, ec.ECDSA(_HASH_BY_ALG[alg]())
        )
    except InvalidSignature:
        return False
    return True


def _time_error(c: _Claims, at: datetime, legacy: bool) -> str | None:
    """go-jose Claims.Validate's time checks with DefaultLeeway, in its order (Go's
    Time.Before / After: strict, at full precision against whole-second claims)."""
    t = at.timestamp()
    lee = LEEWAY.total_seconds()
    if c.nbf is not None and t + lee < c.nbf:
        return _not_valid_yet(legacy)
    if c.exp is not None and t - lee > c.exp:
        return "token has expired"
    if c.iat is not None and t + lee < c.iat:
        return _issued_in_future(legacy)
    return None


def _result(token: str, parsed: _Parsed, c: _Claims, sid: SpiffeID) -> JWTSVID:
    assert c.exp is not None
    return JWTSVID(
        spiffe_id=sid,
        audience=c.aud,
        expiry=datetime.fromtimestamp(c.exp, UTC),
        issued_at=None if c.iat is None else datetime.fromtimestamp(c.iat, UTC),
        key_id=str(parsed.header.get("kid", "")),
        token=token,
        claims=dict(c.all),
    )


# -- go-spiffe v2 ----------------------------------------------------------------------------


def parse_and_validate(
    token: str, source: BundleSource, audience: Sequence[str], *, at: datetime
) -> JWTSVID:
    """go-spiffe v2 ``jwtsvid.ParseAndValidate`` at instant ``at`` against the JWT authorities
    of the bundle of the token's trust domain (as a workload's JWTSource holds them)."""

    def fail(text: str) -> JWTSVIDError:
        return JWTSVIDError(f"jwtsvid: {text}")

    try:
        parsed = _parse_signed(token)
    except _ParseError:
        raise fail("unable to parse JWT token") from None
    typ = parsed.header.get("typ")
    if "typ" in parsed.header and typ not in ("JOSE", "JWT"):
        raise fail("token header type not equal to either JWT or JOSE")
    try:
        c = _claims(parsed.payload)
    except JWTSVIDError as exc:
        raise fail(f"unable to get claims from token: {exc}") from None
    if c.sub == "":
        raise fail("token missing subject claim")
    if c.exp is None:
        raise fail("token missing exp claim")
    try:
        sid = SpiffeID.parse(c.sub)
    except SpiffeIDError as exc:
        raise fail(f"token has an invalid subject claim: {exc}") from None
    td = sid.trust_domain
    kid = parsed.header.get("kid") or ""
    if not kid:
        raise fail("token header missing key id")
    bundle = source.get_bundle_for_trust_domain(td)
    if bundle is None:
        raise fail(f"no bundle found for trust domain {_q(td.name)}")
    authority = next((a for a in bundle.jwt_authorities if a.key_id == kid), None)
    if authority is None:
        raise fail(f"no JWT authority {_q(str(kid))} found for trust domain {_q(td.name)}")
    if not _verify_signature(parsed, authority.public_key):
        raise fail(f"unable to get claims from token: {_crypto_failure(False)}")
    if audience and not set(audience) & set(c.aud):
        raise fail(f"expected audience in {_q_list(audience)} (audience={_q_list(c.aud)})")
    problem = _time_error(c, at, legacy=False)
    if problem == "token has expired":
        raise fail(problem)
    if problem is not None:
        raise JWTSVIDError(problem)  # go-spiffe passes the others through unwrapped
    return _result(token, parsed, c, sid)


# -- SPIRE's agent (Workload API ValidateJWTSVID) ----------------------------------------------


def validate_token(
    token: str,
    source: BundleSource,
    audience: Sequence[str],
    *,
    at: datetime,
    trust_domains: Sequence[TrustDomain],
    legacy: bool = False,
) -> JWTSVID:
    """SPIRE's ``jwtsvid.ValidateToken`` as the agent's ``ValidateJWTSVID`` runs it, with a key
    store of ``trust_domains``' bundles from ``source`` (the workload's own and federated ones).

    ``legacy`` is SPIRE before v1.2.0 (0.9 here): trust domains printed as ``spiffe://<td>``,
    square/go-jose's texts, no exp-claim check, the parse error without go-jose's detail.
    """

    def td_text(td: TrustDomain) -> str:
        return _q(td.id_string() if legacy else td.name)

    try:
        parsed = _parse_signed(token)
    except _ParseError as exc:
        raise JWTSVIDError(
            "unable to parse JWT token" if legacy else f"unable to parse JWT token: {exc.detail}"
        ) from None
    kid = parsed.header.get("kid") or ""
    if not kid:
        raise JWTSVIDError("token header missing key id")
    c = _claims(parsed.payload)
    if c.sub == "":
        raise JWTSVIDError("token missing subject claim")
    if c.exp is None and not legacy:
        raise JWTSVIDError("token missing exp claim")
    try:
        sid = SpiffeID.parse(c.sub)
    except SpiffeIDError as exc:
        # "in invalid" is SPIRE's own typo (validate.go).
        raise JWTSVIDError(f"token has in invalid subject claim: {exc}") from None
    td = sid.trust_domain
    bundle = source.get_bundle_for_trust_domain(td) if td in trust_domains else None
    if bundle is None:
        raise JWTSVIDError(f"no keys found for trust domain {td_text(td)}")
    authority = next((a for a in bundle.jwt_authorities if a.key_id == kid), None)
    if authority is None:
        raise JWTSVIDError(f"public key {_q(str(kid))} not found in trust domain {td_text(td)}")
    if not _verify_signature(parsed, authority.public_key):
        raise JWTSVIDError(_crypto_failure(legacy))
    # square/go-jose.v2 wanted exactly the expected audiences; v4 any one of them.
    mismatch = (
        (len(audience) != len(c.aud) or any(a not in c.aud for a in audience))
        if legacy
        else not set(audience) & set(c.aud)
    )
    if audience and mismatch:
        raise JWTSVIDError(f"expected audience in {_q_list(audience)} (audience={_q_list(c.aud)})")
    problem = _time_error(c, at, legacy)
    if problem is not None:
        raise JWTSVIDError(problem)
    if c.exp is None:  # 0.9 accepted a token without exp; it never expires then
        c = _Claims(c.all, c.sub, c.aud, _unix(at + LEEWAY), c.nbf, c.iat)
    return _result(token, parsed, c, sid)
