"""JWT-SVID bearer traffic in a run: the agent's cache renews at half-life, the scenario
language's `jwt:` keys are validated with their line, and a missing token is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.jwtclient import VALIDATORS, reason_of
from sim.scenario import JWT_VALIDATORS, ScenarioError, load_scenario, parse_scenario
from sim.simulation import Simulation

R3 = (
    Path(__file__).resolve().parents[1] / "scenarios/failures/r3-refresh-hint-ignores-jwt-keys.yaml"
)
CLIENT_JWT = "      jwt: {audience: spiffe://foo.example.com/http-server}\n"


def test_the_loader_and_the_model_agree_on_validators() -> None:
    assert JWT_VALIDATORS == VALIDATORS


def test_the_agent_serves_its_cached_token_until_half_its_life() -> None:
    r = Simulation(load_scenario(R3), until=3600).run()
    bar = r.servers["bar.example.com"]
    # Requests every 60 s from 6m; a 300 s token is renewed once ttl <= 150 s, so every
    # third request (at 0, 60, 120 s the token is fresh enough; at 180 s it is not).
    n = sum(1 for q in r.requests)
    assert bar.jwt_minted == -(-n // 3)
    assert all(q.ok for q in r.requests)


def test_a_request_without_a_token_is_refused() -> None:
    text = R3.read_text()
    assert CLIENT_JWT in text
    r = Simulation(parse_scenario(text.replace(CLIENT_JWT, ""), "r3.yaml"), until=1800).run()
    assert r.requests and all(
        q.reason == "jwt_missing"
        and q.errors == ("Invalid or unsupported authorization header", "HTTP/1.0 401 Unauthorized")
        for q in r.requests
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (CLIENT_JWT, "      jwt: {audience: ''}\n", "expected a non-empty string"),
        (CLIENT_JWT, "      jwt: {audiance: x}\n", '"audiance"'),
        (
            "jwt: {audience: spiffe://foo.example.com/http-server}   #",
            "jwt: {audience: x, validator: go-spife}   #",
            'did you mean "go-spiffe"',
        ),
    ],
)
def test_jwt_keys_are_validated_with_their_line(old: str, new: str, message: str) -> None:
    text = R3.read_text()
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text.replace(old, new), "r3.yaml")
    assert message in str(err.value) and f"r3.yaml:{line}:" in str(err.value)


def test_reasons_name_the_failure() -> None:
    assert reason_of('public key "k" not found in trust domain "x"') == "jwt_unknown_authority"
    assert reason_of("jwtsvid: token has expired") == "jwt_expired"
    assert reason_of("something else") == "jwt_invalid"


def test_with_the_server_down_the_agent_serves_its_cached_token_until_it_expires() -> None:
    sim = Simulation(load_scenario(R3), until=3600)
    bar = sim.domains[next(td for td in sim.domains if td.name == "bar.example.com")].server

    def stop():  # noqa: ANN202 - a SimPy process
        yield sim.env.timeout(30 * 60)
        bar.running = False

    sim.env.process(stop())
    r = sim.run()
    warned = r.log.find(component="spire-agent", msg="Unable to renew JWT; returning cached copy")
    failed = [q for q in r.requests if not q.ok]
    assert warned and failed and all(q.reason == "jwt_fetch" for q in failed)
    # The last token was minted before 30m; it is served until its exp, then fetches fail.
    last = max(q.t for q in r.requests if q.ok)
    assert 30 * 60 < last <= 30 * 60 + 300 and min(q.t for q in failed) > last
    expected = (
        "Unable to fetch SVID: rpc error: code = Unavailable desc = could not fetch JWT-SVID: "
        'unable to renew JWT for "spiffe://bar.example.com/client" '
        "(err=failed to fetch JWT SVID: the SPIRE server is unreachable)"
    )
    assert failed[0].errors == (expected,)
    assert r.log.count(component="spire-agent", msg="Could not fetch JWT-SVID") == len(failed)


def test_jwt_runs_are_byte_identical_per_seed() -> None:
    # 1.9: the agent draws a jittered half-life at each JWT-SVID cache check.
    text = R3.read_text().replace('spire: "1.7"', 'spire: "1.9"')
    runs = [Simulation(parse_scenario(text, "r3.yaml"), until=2 * 3600).run() for _ in range(2)]
    a, b = (r.log.to_jsonl(r.clock) for r in runs)
    assert a == b and "Fetched JWT SVID" in a
    assert all(q.ok for q in runs[0].requests)
