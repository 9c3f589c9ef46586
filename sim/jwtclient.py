"""JWT-SVID bearer authentication between workloads: the client fetches a JWT-SVID for an
audience from its agent's Workload API and sends it as ``Authorization: Bearer <token>`` with
each request; the server app validates it, either itself with go-spiffe v2
(``jwtsvid.ParseAndValidate`` against the JWT bundles its Workload API streams, own and
federated) or by asking its agent (``ValidateJWTSVID``, SPIRE's own validator).

The server app is go-spiffe's ``examples/spiffe-jwt`` server (go-spiffe v2.8.1
examples/spiffe-jwt/server/main.go): a bad token is logged as ``Invalid token: <err>`` and
answered ``401 Unauthorized``; a missing or malformed header as ``Invalid or unsupported
authorization header``. The client is its client (``Unable to fetch SVID: <err>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.agent import SpireAgent
from sim.eventlog import Logger
from sim.jwtsvid import JWTSVID, JWTSVIDError, parse_and_validate
from sim.registration import Selector

__all__ = ["VALIDATORS", "Rejection", "fetch_token", "reason_of", "validate_bearer"]

# go-spiffe v2 in the app, or the agent's ValidateJWTSVID.
VALIDATORS = ("go-spiffe", "workload_api")

# Failure kinds for RequestRecord.reason, by a fragment of the validator's text (both eras).
_KINDS = (
    ("not found in trust domain", "jwt_unknown_authority"),
    ("no JWT authority", "jwt_unknown_authority"),
    ("no bundle found for trust domain", "jwt_no_bundle"),
    ("no keys found for trust domain", "jwt_no_bundle"),
    ("token has expired", "jwt_expired"),
    ("expected audience in", "jwt_audience"),
    ("error in cryptographic primitive", "jwt_bad_signature"),
    ("Invalid or unsupported authorization header", "jwt_missing"),
)


def reason_of(text: str) -> str:
    """The RequestRecord reason for a validator's text ("jwt_invalid" when none fits)."""
    for fragment, kind in _KINDS:
        if fragment in text:
            return kind
    return "jwt_invalid"


@dataclass(frozen=True, slots=True)
class Rejection:
    """The app refused the request: HTTP status line and what it logged."""

    status: str
    reason: str
    errors: tuple[str, ...]


def fetch_token(
    agent: SpireAgent | None,
    selectors: tuple[Selector, ...],
    audience: str,
    log: Logger,
    t: float,
) -> JWTSVID | str:
    """The client's FetchJWTSVID; on failure logs the example client's line and returns it."""
    if agent is None:
        got: JWTSVID | str = (
            "rpc error: code = Unavailable desc = connection error: desc = "
            '"transport: Error while dialing: dial unix /run/spire/sockets/agent.sock: '
            'connect: no such file or directory"'
        )
    else:
        got = agent.fetch_jwt_svid(selectors, (audience,))
    if isinstance(got, str):
        text = f"Unable to fetch SVID: {got}"
        log.error(t, text)
        return text
    return got


def validate_bearer(
    token: str | None,
    *,
    audience: str,
    validator: str,
    agent: SpireAgent | None,
    selectors: tuple[Selector, ...],
    log: Logger,
    t: float,
    skew: float = 0.0,
) -> Rejection | None:
    """The server app's check of one request's bearer token at sim time ``t`` (its node's
    clock ``skew`` seconds ahead); None when it accepts."""
    if token is None:
        text = "Invalid or unsupported authorization header"
        log.info(t, text)
        return Rejection("HTTP/1.0 401 Unauthorized", reason_of(text), (text,))
    if agent is None:
        error = "workload API unavailable"
    elif validator == "workload_api":
        got = agent.validate_jwt_svid(selectors, token, audience, at_skew=skew)
        error = got if isinstance(got, str) else None
    else:
        try:
            parse_and_validate(
                token,
                agent.jwt_bundles(selectors),
                [audience],
                at=agent.clock.to_datetime(t + skew),
            )
            error = None
        except JWTSVIDError as exc:
            error = str(exc)
    if error is None:
        return None
    text = f"Invalid token: {error}"
    log.info(t, text)
    return Rejection("HTTP/1.0 401 Unauthorized", reason_of(error), (text,))
