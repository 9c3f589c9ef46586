"""JWT-SVIDs: SPIRE's minting (claims, header, exp capped by the JWT key), real ES256 signatures
judged by independent libraries, and every error path of both validators with its exact text."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from sim import ca, rng
from sim.bundle import Bundle, BundleSet, JWTAuthority
from sim.jwtsvid import JWTSVIDError, mint, parse_and_validate, validate_token
from sim.spiffeid import SpiffeID, TrustDomain

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")
CLIENT = SpiffeID.parse("spiffe://foo.example.com/client")
AUD = "spiffe://bar.example.com/api"


def _key(name: str = "k", *, now: datetime = NOW, ttl: float = 86400) -> ca.JWTKey:
    return ca.new_jwt_key(ttl=ttl, now=now, rng=rng.stream(7, name))


KEY = _key()
OTHER = _key("other")
BUNDLES = BundleSet.of(
    [
        Bundle(FOO, jwt_authorities=(JWTAuthority(KEY.key_id, KEY.public_key()),)),
        Bundle(BAR),
    ]
)


def _b64(obj: object) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict, dict, str]:
    h, p, s = token.split(".")
    pad = lambda t: t + "=" * (-len(t) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(h))),
        json.loads(base64.urlsafe_b64decode(pad(p))),
        s,
    )


def _resign(header: dict, claims: dict | bytes, key: ca.JWTKey = KEY) -> str:
    """A token with arbitrary header and claims, really signed with ``key`` (ES256)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    signing_input = f"{_b64(header)}.{_b64(claims)}"
    r, s = decode_dss_signature(key.private_key.sign(signing_input.encode(),
                                                     ec.ECDSA(hashes.SHA256())))  # fmt: skip
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _claims(**over: object) -> dict:
    base = {"aud": [AUD], "exp": int(NOW.timestamp()) + 300, "iat": int(NOW.timestamp()),
            "sub": str(CLIENT)}  # fmt: skip
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


HDR = {"alg": "ES256", "kid": KEY.key_id, "typ": "JWT"}


# -- minting -------------------------------------------------------------------------------


def test_mint_builds_spires_header_and_claims() -> None:
    svid = mint(KEY, spiffe_id=CLIENT, audience=[AUD, ""], ttl=300, now=NOW)
    header, claims, _sig = _parts(svid.token)
    assert header == {"alg": "ES256", "kid": KEY.key_id, "typ": "JWT"}
    assert list(header) == ["alg", "kid", "typ"]  # Go's encoding/json sorts map keys
    assert list(claims) == ["aud", "exp", "iat", "sub"]
    assert claims == {"aud": [AUD], "exp": int(NOW.timestamp()) + 300,
                      "iat": int(NOW.timestamp()), "sub": str(CLIENT)}  # fmt: skip
    assert svid.audience == (AUD,) and svid.lifetime == 300
    # Deterministic (RFC 6979): the same key and claims give the same token.
    assert mint(KEY, spiffe_id=CLIENT, audience=[AUD], ttl=300, now=NOW).token == svid.token


def test_exp_is_capped_at_the_jwt_keys_expiry() -> None:
    key = _key("short", ttl=120)
    svid = mint(key, spiffe_id=CLIENT, audience=[AUD], ttl=300, now=NOW)
    assert svid.expiry == key.not_after == NOW + timedelta(seconds=120)


def test_mint_refuses_an_empty_audience() -> None:
    with pytest.raises(JWTSVIDError, match="^invalid JWT-SVID audience: cannot be empty$"):
        mint(KEY, spiffe_id=CLIENT, audience=["", ""], ttl=300, now=NOW)


def test_independent_validators_accept_our_tokens() -> None:
    jwt = pytest.importorskip("jwt")  # PyJWT
    spiffe = pytest.importorskip("spiffe")
    now = datetime.now(UTC)  # the independent libraries judge expiry by the wall clock
    key = _key("wall", now=now)
    svid = mint(key, spiffe_id=CLIENT, audience=[AUD], ttl=300, now=now)
    decoded = jwt.decode(svid.token, key.public_key(), algorithms=["ES256"], audience=AUD)
    assert decoded["sub"] == str(CLIENT)
    assert jwt.get_unverified_header(svid.token)["kid"] == key.key_id
    bundle = spiffe.JwtBundle(spiffe.TrustDomain("foo.example.com"),
                              {key.key_id: key.public_key()})  # fmt: skip
    parsed = spiffe.JwtSvid.parse_and_validate(svid.token, bundle, {AUD})
    assert str(parsed.spiffe_id) == str(CLIENT)
    # ... and reject a token signed by another key under the same kid.
    forged = _resign(_parts(svid.token)[0], _parts(svid.token)[1], OTHER)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.public_key(), algorithms=["ES256"], audience=AUD)


# -- go-spiffe v2 ParseAndValidate ---------------------------------------------------------

GOOD = mint(KEY, spiffe_id=CLIENT, audience=[AUD], ttl=300, now=NOW).token
FOREIGN = mint(OTHER, spiffe_id=CLIENT, audience=[AUD], ttl=300, now=NOW).token
BAR_TOKEN = mint(OTHER, spiffe_id=SpiffeID.parse("spiffe://bar.example.com/x"),
                 audience=[AUD], ttl=300, now=NOW).token  # fmt: skip
BAZ_TOKEN = mint(KEY, spiffe_id=SpiffeID.parse("spiffe://baz.example.com/x"),
                 audience=[AUD], ttl=300, now=NOW).token  # fmt: skip
BAD_SIG = GOOD.rsplit(".", 1)[0] + "." + FOREIGN.rsplit(".", 1)[1]

GO_SPIFFE_CASES = [
    ("two parts", "a.b", NOW, "jwtsvid: unable to parse JWT token"),
    ("not base64", "a!.b.c", NOW, "jwtsvid: unable to parse JWT token"),
    ("alg none", _resign({"alg": "none", "kid": "x"}, _claims()), NOW,
     "jwtsvid: unable to parse JWT token"),
    ("typ", _resign({**HDR, "typ": "at+jwt"}, _claims()), NOW,
     "jwtsvid: token header type not equal to either JWT or JOSE"),
    ("claims not JSON", _resign(HDR, b"nope"), NOW,
     "jwtsvid: unable to get claims from token: invalid character 'n' looking for beginning "
     "of value"),
    ("no sub", _resign(HDR, _claims(sub=None)), NOW, "jwtsvid: token missing subject claim"),
    ("no exp", _resign(HDR, _claims(exp=None)), NOW, "jwtsvid: token missing exp claim"),
    ("bad sub", _resign(HDR, _claims(sub="https://foo/x")), NOW,
     "jwtsvid: token has an invalid subject claim: scheme is missing or invalid"),
    ("no kid", _resign({"alg": "ES256", "typ": "JWT"}, _claims()), NOW,
     "jwtsvid: token header missing key id"),
    ("unknown domain", BAZ_TOKEN, NOW,
     'jwtsvid: no bundle found for trust domain "baz.example.com"'),
    ("unknown kid", FOREIGN, NOW,
     f'jwtsvid: no JWT authority "{OTHER.key_id}" found for trust domain "foo.example.com"'),
    ("empty peer bundle", BAR_TOKEN, NOW,
     f'jwtsvid: no JWT authority "{OTHER.key_id}" found for trust domain "bar.example.com"'),
    ("bad signature", BAD_SIG, NOW,
     "jwtsvid: unable to get claims from token: go-jose/go-jose: error in cryptographic "
     "primitive"),
    ("audience", _resign(HDR, _claims(aud=["a", "b"])), NOW,
     f'jwtsvid: expected audience in ["{AUD}"] (audience=["a" "b"])'),
    ("expired past leeway", GOOD, NOW + timedelta(seconds=361), "jwtsvid: token has expired"),
    ("not yet valid", _resign(HDR, _claims(nbf=int(NOW.timestamp()) + 61)), NOW,
     "go-jose/go-jose/jwt: validation failed, token not valid yet (nbf)"),
    ("issued in the future", GOOD, NOW - timedelta(seconds=61),
     "go-jose/go-jose/jwt: validation field, token issued in the future (iat)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "token", "at", "text"), GO_SPIFFE_CASES,
                         ids=[c[0] for c in GO_SPIFFE_CASES])  # fmt: skip
def test_go_spiffe_errors(name: str, token: str, at: datetime, text: str) -> None:
    with pytest.raises(JWTSVIDError) as err:
        parse_and_validate(token, BUNDLES, [AUD], at=at)
    assert str(err.value) == text


@pytest.mark.parametrize("at", [NOW, NOW + timedelta(seconds=360), NOW - timedelta(seconds=60)])
def test_go_spiffe_accepts_within_the_leeway(at: datetime) -> None:
    svid = parse_and_validate(GOOD, BUNDLES, [AUD, "other"], at=at)
    assert svid.spiffe_id == CLIENT and svid.key_id == KEY.key_id
    assert svid.expiry == NOW + timedelta(seconds=300)
    # one string as aud is accepted as well (jwt.Audience)
    parse_and_validate(_resign(HDR, _claims(aud=AUD)), BUNDLES, [AUD], at=at)


# -- SPIRE agent ValidateJWTSVID -----------------------------------------------------------

SPIRE_CASES = [
    ("two parts", "a.b", False,
     "unable to parse JWT token: go-jose/go-jose: compact JWS format must have three parts"),
    ("two parts 0.9", "a.b", True, "unable to parse JWT token"),
    ("no kid", _resign({"alg": "ES256"}, _claims()), False, "token header missing key id"),
    ("no sub", _resign(HDR, _claims(sub=None)), False, "token missing subject claim"),
    ("no exp", _resign(HDR, _claims(exp=None)), False, "token missing exp claim"),
    ("bad sub", _resign(HDR, _claims(sub="spiffe://")), False,
     "token has in invalid subject claim: trust domain is missing"),
    ("unknown domain", BAZ_TOKEN, False, 'no keys found for trust domain "baz.example.com"'),
    ("unknown domain 0.9", BAZ_TOKEN, True,
     'no keys found for trust domain "spiffe://baz.example.com"'),
    ("unknown kid", FOREIGN, False,
     f'public key "{OTHER.key_id}" not found in trust domain "foo.example.com"'),
    ("unknown kid 0.9", FOREIGN, True,
     f'public key "{OTHER.key_id}" not found in trust domain "spiffe://foo.example.com"'),
    ("bad signature", BAD_SIG, False, "go-jose/go-jose: error in cryptographic primitive"),
    ("bad signature 0.9", BAD_SIG, True, "square/go-jose: error in cryptographic primitive"),
    ("audience", _resign(HDR, _claims(aud=["a"])), False,
     f'expected audience in ["{AUD}"] (audience=["a"])'),
    # square/go-jose.v2 wanted exactly the expected audiences
    ("two audiences 0.9", _resign(HDR, _claims(aud=[AUD, "b"])), True,
     f'expected audience in ["{AUD}"] (audience=["{AUD}" "b"])'),
]  # fmt: skip


@pytest.mark.parametrize(("name", "token", "legacy", "text"), SPIRE_CASES,
                         ids=[c[0] for c in SPIRE_CASES])  # fmt: skip
def test_spire_agent_errors(name: str, token: str, legacy: bool, text: str) -> None:
    with pytest.raises(JWTSVIDError) as err:
        validate_token(token, BUNDLES, [AUD], at=NOW, trust_domains=[FOO, BAR], legacy=legacy)
    assert str(err.value) == text


def test_spire_agent_expiry_and_success() -> None:
    kw = {"trust_domains": [FOO], "legacy": False}
    assert validate_token(GOOD, BUNDLES, [AUD], at=NOW, **kw).spiffe_id == CLIENT
    with pytest.raises(JWTSVIDError, match="^token has expired$"):
        validate_token(GOOD, BUNDLES, [AUD], at=NOW + timedelta(seconds=361), **kw)
    # A bundle the workload is not entitled to is not in the agent's key store.
    with pytest.raises(JWTSVIDError, match='^no keys found for trust domain "foo.example.com"$'):
        validate_token(GOOD, BUNDLES, [AUD], at=NOW, trust_domains=[BAR])
    # 0.9 accepted two audiences only when both were expected
    two = _resign(HDR, _claims(aud=[AUD, "b"]))
    validate_token(two, BUNDLES, [AUD], at=NOW, trust_domains=[FOO])
    validate_token(two, BUNDLES, [AUD, "b"], at=NOW, trust_domains=[FOO], legacy=True)
