"""Explanations of a run's failed requests: for each failure (or run of identical failures of one
workload), the chain of causes the model knows, read from its recorded state
(:class:`sim.history.History`, the scenario's configuration and what each request met), never
from the text the products logged.

A chain goes from the symptom to its root: "bar's client holds no bundle for foo.example.com"
because "entry ... of spiffe://bar.example.com/client has no federatesWith foo.example.com".
Each :class:`Cause` is a sentence plus structured fields (trust domain, entry, authority, named
instants in simulation seconds) so notebooks can use them; :func:`render` prints them for humans.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed"))).run()
>>> [(e.workload, e.kind, e.count) for e in explain(result)]
[('client', 'missing_federates_with', 54)]

New cause kinds: a handshake rejection's ``reason`` maps to a diagnosis in ``_HANDSHAKE``, other
reasons are routed by ``_diagnose``; a diagnosis returns its causes from symptom to root (kinds
that are only context are listed in ``_CONTEXT_KINDS``). Grouping, rendering and the JSON form
need no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.clock import Clock, format_duration
from sim.history import (
    AuthorityEvent,
    BundleChange,
    EntryChange,
    FetchAttempt,
    History,
    SvidDelivered,
    SvidIssued,
)
from sim.scenario import FederationRelationship, TrustDomainSpec, Workload
from sim.simulation import RequestRecord, Result

__all__ = ["Cause", "Explanation", "explain", "render"]


@dataclass(frozen=True, slots=True)
class Cause:
    """One link of a chain: ``kind`` (e.g. ``missing_federates_with``, ``stale_bundle``), the
    sentence, and the state it rests on. ``times`` are named instants in simulation seconds
    (e.g. ``("activated", 72610.0)``); ``side`` is the verifier's side where one refused."""

    kind: str
    text: str
    trust_domain: str | None = None
    workload: str | None = None
    spiffe_id: str | None = None
    entry_id: str | None = None
    authority_id: str | None = None
    side: str | None = None
    times: tuple[tuple[str, float], ...] = ()

    def time(self, name: str) -> float | None:
        """The instant called ``name``, or None."""
        return dict(self.times).get(name)

    def to_dict(self, clock: Clock | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text}
        for key in ("trust_domain", "workload", "spiffe_id", "entry_id", "authority_id", "side"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.times:
            out["times"] = {
                name: (t if clock is None else clock.rfc3339(t)) for name, t in self.times
            }
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """``count`` failed requests of ``workload`` from ``first`` to ``last`` (simulation seconds)
    with the same diagnosis and no success in between; ``errors`` are the products' lines for
    the first of them (``last_errors`` for the last), ``causes`` the chain (root last) and
    ``kind`` the root cause's kind."""

    workload: str
    reason: str
    kind: str
    first: float
    last: float
    count: int
    errors: tuple[str, ...]
    last_errors: tuple[str, ...]
    causes: tuple[Cause, ...]
    rejected_by: str | None = None
    # Who said each line of ``errors``: "<workload>'s ghostunnel (<side> side)" or "curl".
    said_by: tuple[str, ...] = ()

    def _lines(self, lines: tuple[str, ...]) -> list[dict[str, str]]:
        who = self.said_by if len(self.said_by) == len(lines) else ("",) * len(lines)
        return [{"said_by": w, "line": line} for w, line in zip(who, lines, strict=True)]

    def to_dict(self, clock: Clock | None = None) -> dict[str, Any]:
        def at(t: float) -> float | str:
            return t if clock is None else clock.rfc3339(t)

        return {
            "workload": self.workload,
            "reason": self.reason,
            "kind": self.kind,
            "first": at(self.first),
            "last": at(self.last),
            "count": self.count,
            "rejected_by": self.rejected_by,
            "errors": self._lines(self.errors),
            "last_errors": self._lines(self.last_errors),
            "causes": [c.to_dict(clock) for c in self.causes],
        }


# -- the state a diagnosis reads ----------------------------------------------------------------


@dataclass
class _Context:
    result: Result
    history: History
    clock: Clock
    issued: dict[int, SvidIssued] = field(default_factory=dict)
    holder_of: dict[int, str] = field(default_factory=dict)  # SVID serial -> workload
    workloads: dict[str, Workload] = field(default_factory=dict)
    domains: dict[str, TrustDomainSpec] = field(default_factory=dict)
    _fetches: dict[tuple[str, str], list[FetchAttempt]] = field(default_factory=dict)

    @classmethod
    def of(cls, result: Result) -> _Context:
        h = result.history
        ctx = cls(result, h, result.clock)
        for rec in h.svids:
            ctx.issued[rec.serial] = rec
        for d in h.deliveries:
            if d.serial is not None:
                ctx.holder_of.setdefault(d.serial, d.workload)
        ctx.workloads = {w.name: w for w in result.scenario.workloads}
        ctx.domains = {spec.trust_domain.name: spec for spec in result.scenario.trust_domains}
        return ctx

    def at(self, t: float) -> str:
        return self.clock.rfc3339(t)

    def copy_at(self, holder: str, peer: str, t: float) -> BundleChange | None:
        """The copy of ``peer``'s bundle ``holder``'s server held at ``t``; None when it held
        none (never, or lost: an empty change)."""
        copy = self.history.bundle_at(holder, peer, t)
        return None if copy is None or not (copy.x509_ids or copy.jwt_ids) else copy

    def fetches(self, holder: str, peer: str) -> list[FetchAttempt]:
        """``holder``'s polls of ``peer`` (computed once per pair: runs poll thousands of times)."""
        key = (holder, peer)
        if key not in self._fetches:
            self._fetches[key] = self.history.fetches_of(holder, peer)
        return self._fetches[key]

    def td_of(self, workload: str) -> str:
        return self.workloads[workload].trust_domain.name

    def relationship(self, holder: str, peer: str) -> FederationRelationship | None:
        spec = self.domains.get(holder)
        if spec is None:
            return None
        return next((r for r in spec.server.federates_with if r.trust_domain.name == peer), None)

    def selectors(self, workload: str) -> frozenset[str]:
        state = self.result.workloads.get(workload)
        return frozenset() if state is None else frozenset(str(s) for s in state.selectors)

    def entry_of(self, trust_domain: str, spiffe_id: str, t: float) -> EntryChange | None:
        """The live entry of ``spiffe_id`` at ``t`` (the newest when several)."""
        live = [e for e in self.history.entries_at(trust_domain, t).values()
                if e.spiffe_id == spiffe_id]  # fmt: skip
        return live[-1] if live else None

    def authority_roots(self, trust_domain: str, authority_id: str) -> tuple[str, ...]:
        for step in ("activated", "prepared"):
            ev = self.history.authority_event(trust_domain, authority_id, step)  # type: ignore[arg-type]
            if ev is not None and ev.roots:
                return ev.roots
        return (authority_id,)

    def owner_of(self, authority_id: str) -> str | None:
        """The trust domain whose authority (or whose authority's root) this ID is."""
        for ev in self.history.authorities:
            if ev.authority_id == authority_id or authority_id in ev.roots:
                return ev.trust_domain
        return None


_HOW = {
    "bundle_client": "fetched by its bundle client",
    "bundle_set": "by `spire-server bundle set`",
    "federation_refresh": "by `spire-server federation refresh`",
    "rotation": "by its CA rotation",
    "prune": "by pruning",
    "localauthority": "by a `localauthority` / `upstreamauthority` operation",
}


def _how(cause: str) -> str:
    """How a bundle copy came to be, from its recorded cause."""
    return _HOW.get(cause, cause.replace("_", " "))


def _ids(ids: tuple[str, ...] | list[str]) -> str:
    return ", ".join(ids) if ids else "none"


def _unexplained(ctx: _Context, req: RequestRecord, detail: str = "") -> list[Cause]:
    more = f" ({detail})" if detail else ""
    return [
        Cause(
            "unexplained",
            f"the model has no recorded cause for this failure (reason {req.reason}){more}",
            workload=req.workload,
        )
    ]


# -- why a server holds no copy of a peer's bundle ------------------------------------------------


def _why_no_copy(ctx: _Context, holder: str, peer: str, t: float) -> list[Cause]:
    h = ctx.history
    if ctx.copy_at(holder, peer, t) is not None:
        return []
    rel = ctx.relationship(holder, peer)
    if rel is None:
        known = peer in ctx.domains
        kind = "no_relationship" if known else "unknown_federated_domain"
        what = "a trust domain of this scenario" if known else "a trust domain nobody here runs"
        return [
            Cause(
                kind,
                f"{holder}'s server has no federation relationship with {peer} ({what}): "
                f"no federates_with {peer} in its configuration and no `bundle set` for it, so "
                f"it never held {peer}'s bundle",
                trust_domain=peer,
            )
        ]
    polls = [f for f in ctx.fetches(holder, peer) if f.t <= t]
    set_ever = any(c.cause == "bundle_set" for c in h.bundle_changes(holder, peer))
    if polls and not any(f.ok for f in polls):
        bootstrap = rel.profile == "https_spiffe" and not set_ever
        why = (
            f"over https_spiffe it must already hold {peer}'s bundle to authenticate "
            f"{peer}'s endpoint, and no `spire-server bundle set` gave it one"
            if bootstrap
            else "so it never stored a copy"
        )
        return [
            Cause(
                "never_bootstrapped" if bootstrap else "fetch_failing",
                f"{holder}'s bundle client polled {peer}'s endpoint {len(polls)} times from "
                f"{ctx.at(polls[0].t)} to {ctx.at(polls[-1].t)} and every poll failed "
                f"({polls[-1].error}); {why}",
                trust_domain=peer,
                times=(
                    ("first_poll", polls[0].t),
                    ("last_poll", polls[-1].t),
                    ("next_poll", polls[-1].next_poll),
                ),
            )  # fmt: skip
        ]
    return [
        Cause(
            "no_copy",
            f"{holder}'s server held no copy of {peer}'s bundle at {ctx.at(t)}",
            trust_domain=peer,
        )
    ]


# -- why a workload has no identity ---------------------------------------------------------------


def _why_no_identity(ctx: _Context, workload: str, t: float) -> list[Cause]:
    td = ctx.td_of(workload)
    mine = ctx.selectors(workload)

    def matches(e: EntryChange) -> bool:
        return bool(e.selectors) and set(e.selectors) <= mine

    live = [e for e in ctx.history.entries_at(td, t).values() if matches(e)]
    if live:
        e = live[-1]
        missing = [f for f in e.federates_with if ctx.copy_at(td, f, t) is None]
        text = (
            f"{td} has entry {e.entry_id} for {e.spiffe_id} matching {workload}'s selectors "
            f"since {ctx.at(e.t)}, but {workload} had received no SVID by {ctx.at(t)}"
        )
        causes = [Cause("no_svid_delivered", text, trust_domain=td, workload=workload,
                        spiffe_id=e.spiffe_id, entry_id=e.entry_id)]  # fmt: skip
        for f in missing:
            causes += _why_no_copy(ctx, td, f, t)
        return causes
    refused = [e for e in ctx.history.entries if e.trust_domain == td and e.op == "rejected"
               and e.t <= t and matches(e)]  # fmt: skip
    if not refused:
        return [
            Cause(
                "no_entry",
                f"no registration entry of {td} matches {workload}'s selectors "
                f"({', '.join(sorted(mine))}) at {ctx.at(t)}",
                trust_domain=td,
                workload=workload,
            )
        ]
    e = refused[-1]
    causes = [
        Cause(
            "entry_rejected",
            f"{td}'s server refused the entry for {e.spiffe_id} at {ctx.at(e.t)} "
            f"(federatesWith {_ids(list(e.federates_with))}): {e.error}; with no entry, "
            f"{workload} gets no identity",
            trust_domain=td,
            workload=workload,
            spiffe_id=e.spiffe_id,
            times=(("refused", e.t),),
        )
    ]
    for f in e.federates_with:
        if ctx.copy_at(td, f, e.t) is None:
            causes += _why_no_copy(ctx, td, f, e.t)
    return causes


def _no_identity(ctx: _Context, req: RequestRecord) -> list[Cause]:
    d = ctx.history.delivery_at(req.workload, req.t)
    if d is not None and d.serial is not None:
        return _unexplained(ctx, req, "the sidecar had an SVID")
    first = Cause(
        "no_identity",
        f"{req.workload}'s ghostunnel has had no Workload API update with an SVID, so it "
        "does not listen and curl cannot connect",
        workload=req.workload,
    )
    return [first, *_why_no_identity(ctx, req.workload, req.t)]


# -- dial failures --------------------------------------------------------------------------------


def _target_workload(ctx: _Context, workload: str) -> str | None:
    sidecar = ctx.workloads[workload].sidecar
    if sidecar is None:
        return None
    service = sidecar.target.host.split(".")[0]
    for w in ctx.workloads.values():
        if w.service is not None and w.service.name == service:
            return w.name
    return None


def _dial(ctx: _Context, req: RequestRecord) -> list[Cause]:
    sidecar = ctx.workloads[req.workload].sidecar
    target = "" if sidecar is None else f"{sidecar.target.host}:{sidecar.target.port}"
    kind = req.reason.removeprefix("dial_")
    first = Cause(
        "dial_failed",
        f"{req.workload}'s ghostunnel could not connect to {target} ({kind})",
        workload=req.workload,
    )
    peer = _target_workload(ctx, req.workload)
    if kind == "refused" and peer is not None:
        d = ctx.history.delivery_at(peer, req.t)
        if d is None or d.serial is None:
            return [
                first,
                Cause(
                    "peer_not_listening",
                    f"{peer}'s ghostunnel does not listen yet: it has no SVID",
                    workload=peer,
                ),
                *_why_no_identity(ctx, peer, req.t),
            ]
    return [first, *_unexplained(ctx, req, "the model records no network state for this dial")]


# -- handshake rejections -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Meeting:
    """A handshake's two sides from the verifier's point of view."""

    side: str  # the refusing side: "client" | "server"
    verifier: str  # its workload
    verifier_node: str | None
    judged: SvidIssued  # the SVID it refused
    judged_by: str | None  # the workload that presented it
    held: SvidDelivered | None  # what the verifier held at the time


def _server_workload(ctx: _Context, req: RequestRecord) -> str | None:
    """The workload whose server sidecar a request reached (or aimed at)."""
    if req.server_serial is not None and req.server_serial in ctx.holder_of:
        return ctx.holder_of[req.server_serial]
    return _target_workload(ctx, req.workload)


def _meeting(ctx: _Context, req: RequestRecord) -> _Meeting | None:
    if req.rejected_by not in ("client", "server"):
        return None
    server_wl = None if req.server_serial is None else ctx.holder_of.get(req.server_serial)
    if req.rejected_by == "client":
        verifier, node, judged_serial = req.workload, req.client_node, req.server_serial
        judged_by = server_wl
    else:
        verifier, node, judged_serial = server_wl, req.server_node, req.client_serial
        judged_by = req.workload
    judged = None if judged_serial is None else ctx.issued.get(judged_serial)
    if verifier is None or judged is None:
        return None
    held = ctx.history.delivery_at(verifier, req.t)
    return _Meeting(req.rejected_by, verifier, node, judged, judged_by, held)


def _missing_federates_with(ctx: _Context, workload: str, held: SvidDelivered | None,
                            peer: str, side: str, t: float) -> list[Cause]:  # fmt: skip
    """Why ``workload`` (on ``side``) holds no bundle for ``peer``: its entry, or its server."""
    td = ctx.td_of(workload)
    if held is None or held.spiffe_id is None:
        return []
    entry = ctx.entry_of(td, held.spiffe_id, held.t)
    if entry is None:
        entry = ctx.entry_of(td, held.spiffe_id, t)
    if entry is not None and peer not in entry.federates_with:
        return [
            Cause(
                "missing_federates_with",
                f"{workload}'s entry {entry.entry_id} ({entry.spiffe_id}) has no federatesWith "
                f"{peer} (federatesWith: {_ids(list(entry.federates_with))}), so the agent "
                f"hands {workload} no bundle for {peer}",
                trust_domain=peer,
                workload=workload,
                spiffe_id=entry.spiffe_id,
                entry_id=entry.entry_id,
                side=side,
                times=(("entry_created", entry.t),),
            )
        ]
    return _why_no_copy(ctx, td, peer, t)


def _no_bundle(ctx: _Context, req: RequestRecord, m: _Meeting) -> list[Cause]:
    peer = m.judged.trust_domain
    held = m.held
    bundles = "nothing" if held is None else _ids(list(held.bundles))
    since = "" if held is None else f" (Workload API update of {ctx.at(held.t)})"
    causes = [
        Cause(
            "no_bundle",
            f"{m.verifier} ({m.side} side) holds no bundle for {peer}: its bundle set "
            f"holds {bundles}{since}, so it cannot verify {m.judged.spiffe_id}",
            trust_domain=peer,
            workload=m.verifier,
            side=m.side,
        )
    ]
    causes += _missing_federates_with(ctx, m.verifier, held, peer, m.side, req.t)
    # The other side: would it have refused too, or is the federation one-sided?
    other = m.judged_by
    if other is None:
        return causes
    other_side = "server" if m.side == "client" else "client"
    other_held = ctx.history.delivery_at(other, req.t)
    mine = ctx.td_of(m.verifier)
    if other_held is not None and mine not in other_held.bundles:
        said = (
            "it logged only the client's bad_certificate alert because the client refused first"
            if m.side == "client"
            else "it refused first"
        )
        causes.append(
            Cause(
                "no_bundle",
                f"the {other_side} side would refuse too: {other} holds no bundle for {mine} "
                f"(its bundle set holds {_ids(list(other_held.bundles))}); {said}",
                trust_domain=mine,
                workload=other,
                side=other_side,
            )
        )
        causes += _missing_federates_with(ctx, other, other_held, mine, other_side, req.t)
    elif other_held is not None:
        causes.append(
            Cause(
                "one_sided",
                f"the federation is one-sided: {other} ({other_side} side) does hold "
                f"{mine}'s bundle, so only {m.verifier} refuses",
                trust_domain=mine,
                workload=other,
                side=other_side,
            )
        )
    return causes


def _unknown_authority(ctx: _Context, req: RequestRecord, m: _Meeting) -> list[Cause]:
    h = ctx.history
    peer = m.judged.trust_domain
    holder = ctx.td_of(m.verifier)
    authority = m.judged.authority_id
    roots = ctx.authority_roots(peer, authority)
    met = Cause(
        "peer_authority",
        f"{m.verifier} ({m.side} side) could not chain the SVID of {m.judged.spiffe_id} "
        f"(serial {m.judged.serial:x}, minted at {ctx.at(m.judged.t)} under {peer}'s X.509 "
        f"authority {authority}, whose chains end at root {_ids(roots)}) to its copy of "
        f"{peer}'s bundle",
        trust_domain=peer,
        workload=m.judged_by,
        spiffe_id=m.judged.spiffe_id,
        authority_id=authority,
        times=(("minted", m.judged.t),),
    )
    copy = ctx.copy_at(holder, peer, req.t)
    workload_ids = None if m.held is None else m.held.x509_ids(peer)
    if copy is None:
        return [met, *_why_no_copy(ctx, holder, peer, req.t)]
    peer_ids = {ev.authority_id for ev in h.authorities if ev.trust_domain == peer}
    peer_ids |= {r for ev in h.authorities if ev.trust_domain == peer for r in ev.roots}
    if holder != peer and not peer_ids & set(copy.x509_ids):
        owners = sorted({o for o in (ctx.owner_of(i) for i in copy.x509_ids) if o is not None})
        whose = f"they are {', '.join(owners)}'s" if owners else "the model knows no owner"
        causes = [
            met,
            Cause(
                "wrong_bundle",
                f"{holder}'s copy of {peer}'s bundle, stored at {ctx.at(copy.t)} "
                f"{_how(copy.cause)}, holds authorities {_ids(copy.x509_ids)}, none "
                f"of them {peer}'s ({whose})",
                trust_domain=peer,
                authority_id=authority,
                times=(("stored", copy.t),),
            ),
        ]
        return causes + _polls_since(ctx, holder, peer, copy.t, req.t)
    missing = [r for r in roots if r not in copy.x509_ids]
    if missing and holder == peer:
        return [
            met,
            Cause(
                "own_bundle_lacks_root",
                f"{holder}'s own bundle at {ctx.at(req.t)} (since {ctx.at(copy.t)}, "
                f"{_how(copy.cause)}) lacks root {_ids(missing)} of the authority "
                f"that signed the SVID",
                trust_domain=holder,
                authority_id=authority,
                times=(("stored", copy.t),),
            ),
        ]
    if missing:
        return [met, *_stale(ctx, holder, peer, authority, missing, copy.t, req.t, m)]
    if workload_ids is not None and any(r not in workload_ids for r in roots):
        assert m.held is not None
        has = next((c.t for c in h.bundle_changes(holder, peer)
                    if c.t <= req.t and all(r in c.x509_ids for r in roots)), copy.t)  # fmt: skip
        return [
            met,
            Cause(
                "not_yet_delivered",
                f"{holder}'s server has held {peer}'s root {_ids(roots)} since {ctx.at(has)}, "
                f"but {m.verifier}'s copy came with the Workload API update of "
                f"{ctx.at(m.held.t)}, before it; the agent's next sync delivers it",
                trust_domain=peer,
                workload=m.verifier,
                authority_id=authority,
                times=(("server_has", has), ("workload_update", m.held.t)),
            ),
        ]
    return [met, *_unexplained(ctx, req, "the verifier's copy holds the SVID's root")]


def _polls_since(ctx: _Context, holder: str, peer: str, since: float, t: float) -> list[Cause]:
    """How the holder's polls of the peer went from ``since`` to ``t``, and the next one."""
    polls = [f for f in ctx.fetches(holder, peer) if since < f.t <= t]
    before = [f for f in ctx.fetches(holder, peer) if f.t <= t]
    if not before:
        return []
    nxt = before[-1].next_poll
    failed = [f for f in polls if not f.ok]
    if failed:
        text = (
            f"{holder}'s bundle client has not replaced it: {len(failed)} of {len(polls)} polls "
            f"of {peer}'s endpoint since {ctx.at(since)} failed (last: {failed[-1].error}); "
            f"next poll at {ctx.at(nxt)}"
        )
        kind = "fetch_failing"
    elif polls:
        text = (f"{holder}'s {len(polls)} polls since then did not bring it; next poll at "
                f"{ctx.at(nxt)}")  # fmt: skip
        kind = "next_refresh"
    else:
        text = f"{holder} has not polled {peer} since then; next poll at {ctx.at(nxt)}"
        kind = "next_refresh"
    times = [("next_poll", nxt)]
    if failed:
        times = [("first_failed_poll", failed[0].t), ("last_failed_poll", failed[-1].t), *times]
    return [Cause(kind, text, trust_domain=peer, times=tuple(times))]


def _news(ctx: _Context, times: list[tuple[str, float]], published_what: str,
          published: float | None, activated_what: str, activated: AuthorityEvent | None
          ) -> str:  # fmt: skip
    """ ": <peer> published it at T and <activated_what> at T2" for what the copy lacks; adds
    the instants to ``times``."""
    news = []
    if published is not None:
        news.append(f"{published_what} at {ctx.at(published)}")
        times.append(("published", published))
    if activated is not None:
        sep = " " if activated_what.endswith("since") else " at "
        news.append(f"{activated_what}{sep}{ctx.at(activated.t)}")
        times.append(("activated", activated.t))
    return ": " + " and ".join(news) if news else ""


def _stale(ctx: _Context, holder: str, peer: str, authority: str, missing: list[str],
           stored: float, t: float, m: _Meeting) -> list[Cause]:  # fmt: skip
    """The holder's copy predates the peer's new root (R1/R4)."""
    h = ctx.history
    published = next((c.t for c in h.bundle_changes(peer, peer)
                      if all(r in c.x509_ids for r in missing)), None)  # fmt: skip
    activated = h.authority_event(peer, authority, "activated")
    ok = [f for f in ctx.fetches(holder, peer) if f.ok and f.t <= t]
    fetched = ok[-1].t if ok else stored
    times = [("stored", stored), ("fetched", fetched)]
    text = (
        f"{holder}'s copy of {peer}'s bundle was last fetched at {ctx.at(fetched)} and lacks "
        f"root {_ids(missing)}"
    )
    text += _news(ctx, times, f"{peer} published it in its bundle", published,
                  f"activated its CA {authority}", activated)  # fmt: skip
    causes = [
        Cause(
            "stale_bundle",
            text,
            trust_domain=peer,
            authority_id=authority,
            times=tuple(times),
        )
    ]
    causes += _polls_since(ctx, holder, peer, fetched, t)
    fixed = next((c for c in h.bundle_changes(holder, peer)
                  if c.t > t and all(r in c.x509_ids for r in missing)), None)  # fmt: skip
    if fixed is None:
        causes.append(
            Cause(
                "not_fixed",
                f"{holder} still lacked it at the end of the run ({ctx.at(ctx.result.until)})",
                trust_domain=peer,
                authority_id=authority,
            )
        )
        return causes
    got = next((d for d in h.deliveries if d.workload == m.verifier and d.t >= fixed.t
                and all(r in (d.x509_ids(peer) or ()) for r in missing)), None)  # fmt: skip
    text = f"fixed when {holder} stored a copy with it at {ctx.at(fixed.t)}, {_how(fixed.cause)}"
    times = [("fixed", fixed.t)]
    if got is not None:
        text += f"; {m.verifier} received it at {ctx.at(got.t)}"
        times.append(("delivered", got.t))
    causes.append(Cause("fixed", text, trust_domain=peer, authority_id=authority,
                        times=tuple(times)))  # fmt: skip
    return causes


def _expired(ctx: _Context, req: RequestRecord, m: _Meeting) -> list[Cause]:
    j = m.judged
    node = m.verifier_node
    skew = None if node is None else ctx.history.skew_at(node, req.t)
    by = 0.0 if skew is None else skew.by
    seen = req.t + by
    validity = f"valid from {ctx.at(j.not_before)} to {ctx.at(j.not_after)}"
    cert = (f"{j.spiffe_id}'s SVID serial {j.serial:x} (minted at {ctx.at(j.t)}) is "
            f"{validity}")  # fmt: skip
    if skew is not None and by != 0 and j.not_before <= req.t <= j.not_after:
        where = "behind" if by < 0 else "ahead"
        state = "not yet valid" if seen < j.not_before else "already expired"
        until = j.not_before - by if seen < j.not_before else None
        text = (
            f"{node}'s clock has been {format_duration(abs(by))} {where} since "
            f"{ctx.at(skew.t)}, so at {ctx.at(req.t)} {m.verifier}'s ghostunnel read "
            f"{ctx.at(seen)}; {cert}: {state} by that clock, fine by true time"
        )
        times = [("skewed", skew.t), ("verifier_clock", seen), ("not_before", j.not_before),
                 ("not_after", j.not_after)]  # fmt: skip
        if until is not None:
            text += f"; accepted there from {ctx.at(until)}"
            times.append(("accepted_from", until))
        return [Cause("clock_skew", text, workload=m.verifier, spiffe_id=j.spiffe_id,
                      side=m.side, times=tuple(times))]  # fmt: skip
    causes: list[Cause] = []
    # The handshake happens a network latency after the request instant, so a certificate whose
    # notAfter is the request instant is already expired there (Go: valid iff nb <= now <= na).
    if seen >= j.not_after or seen < j.not_before:
        ca = ctx.history.authority_event(j.trust_domain, j.authority_id, "activated")
        capped = ca is not None and ca.not_after == j.not_after
        text = f"{cert}: {'expired' if seen >= j.not_after else 'not yet valid'} at {ctx.at(seen)}"
        if capped:
            text += f", capped at the expiry of the CA {j.authority_id} that signed it"
        holder = m.judged_by
        times = [("not_before", j.not_before), ("not_after", j.not_after)]
        if holder is not None:
            nxt = next((d for d in ctx.history.deliveries if d.workload == holder
                        and d.t > req.t and d.serial != j.serial), None)  # fmt: skip
            text += f"; {holder} still presented it"
            if nxt is not None:
                text += f" until its next SVID arrived at {ctx.at(nxt.t)}"
                times.append(("renewed", nxt.t))
        causes.append(
            Cause(
                "expired",
                text,
                workload=holder,
                spiffe_id=j.spiffe_id,
                authority_id=j.authority_id,
                side=m.side,
                times=tuple(times),
            )
        )
        node = req.server_node if m.side == "client" else req.client_node
        if holder is not None and node is not None:
            causes += _why_not_renewed(ctx, ctx.td_of(holder), node, holder, j.spiffe_id,
                                       j.not_after)  # fmt: skip
        return causes
    ca = ctx.history.authority_event(j.trust_domain, j.authority_id, "activated")
    if ca is not None and ca.not_after is not None and seen >= ca.not_after:
        return [Cause("expired", f"{cert}, but the CA {j.authority_id} that signed it expired at "
                      f"{ctx.at(ca.not_after)}", spiffe_id=j.spiffe_id,
                      authority_id=j.authority_id, side=m.side,
                      times=(("ca_not_after", ca.not_after),))]  # fmt: skip
    return _unexplained(ctx, req, "the SVID and its CA were valid by the verifier's clock")


def _why_not_renewed(ctx: _Context, td: str, node: str, holder: str, spiffe_id: str,
                     expiry: float) -> list[Cause]:  # fmt: skip
    """Why ``holder``'s agent let its SVID expire: it could not sync with its server then
    (lifecycle faults D1, D2), and why: the server was down, or the agent was; or its entry
    was gone (A2: a server restarted without its datastore)."""
    h = ctx.history
    agent = h.outage_at(td, "agent", node, expiry)
    if agent is None or not agent.down:
        return _entry_gone(ctx, td, holder, spiffe_id, expiry)
    back = h.back_after(td, "agent", node, expiry)
    text = (f"{td}'s agent on {node} could not sync with its server from {ctx.at(agent.t)} "
            f"({agent.detail}), so it could not renew {holder}'s SVID before it "
            "expired")  # fmt: skip
    times = [("agent_down", agent.t)]
    if back is not None:
        text += f"; it synced again at {ctx.at(back.t)}"
        times.append(("agent_back", back.t))
    causes = [Cause("agent_cannot_sync", text, trust_domain=td, workload=holder,
                    times=tuple(times))]  # fmt: skip
    server = h.outage_at(td, "server", "", expiry)
    if server is not None and server.down:
        up = h.back_after(td, "server", "", expiry)
        text = f"{td}'s server was stopped at {ctx.at(server.t)}"
        stimes = [("server_down", server.t)]
        if up is not None:
            text += f" and started again at {ctx.at(up.t)} ({up.detail})"
            stimes.append(("server_back", up.t))
        causes.append(Cause("server_down", text, trust_domain=td, times=tuple(stimes)))
    return causes


def _entry_gone(ctx: _Context, td: str, holder: str, spiffe_id: str, t: float) -> list[Cause]:
    """The agent was syncing, but no entry gave ``holder`` its identity any more."""
    if ctx.entry_of(td, spiffe_id, t) is not None:
        return []
    gone = [e for e in ctx.history.entries
            if e.trust_domain == td and e.spiffe_id == spiffe_id and e.op == "deleted"
            and e.t <= t]  # fmt: skip
    if not gone:
        return []
    back = next((e for e in ctx.history.entries if e.trust_domain == td and e.t > t
                 and e.spiffe_id == spiffe_id and e.op == "created"), None)  # fmt: skip
    text = (f"{td}'s server held no entry for {spiffe_id} from {ctx.at(gone[-1].t)}, so "
            f"{holder}'s agent had nothing to renew it with")  # fmt: skip
    times = [("entry_gone", gone[-1].t)]
    if back is not None:
        text += f" until it was created again at {ctx.at(back.t)}"
        times.append(("entry_back", back.t))
    causes = [Cause("no_entry", text, trust_domain=td, workload=holder, spiffe_id=spiffe_id,
                    entry_id=gone[-1].entry_id, times=tuple(times))]  # fmt: skip
    server = ctx.history.outage_at(td, "server", "", gone[-1].t)
    if server is not None and server.t == gone[-1].t and "datastore lost" in server.detail:
        causes.append(Cause(
            "datastore_lost",
            f"{td}'s server restarted at {ctx.at(server.t)} without its datastore: its entries, "
            "attested agents and federated bundles were gone",
            trust_domain=td, times=(("restarted", server.t),),
        ))  # fmt: skip
    return causes


def _unauthorized(ctx: _Context, req: RequestRecord, m: _Meeting) -> list[Cause]:
    sidecar = ctx.workloads[m.verifier].sidecar
    acl: tuple[str, ...] = ()
    if sidecar is not None:
        uris = sidecar.allow_uris if sidecar.mode == "server" else sidecar.verify_uris
        acl = tuple(str(u) for u in uris)
    flag = "--allow-uri" if m.side == "server" else "--verify-uri"
    return [
        Cause(
            "not_authorized",
            f"{m.verifier}'s ghostunnel ({flag}) accepts only {_ids(list(acl))}; the peer "
            f"presented {m.judged.spiffe_id}",
            workload=m.verifier,
            spiffe_id=m.judged.spiffe_id,
            side=m.side,
        )
    ]


_HANDSHAKE: dict[str, Callable[[_Context, RequestRecord, _Meeting], list[Cause]]] = {
    "no_bundle": _no_bundle,
    "unknown_authority": _unknown_authority,
    "expired": _expired,
    "unauthorized": _unauthorized,
}


def _forged(ctx: _Context, req: RequestRecord) -> list[Cause]:
    """The refused side presented a certificate no SPIRE server of the run issued: story E4's
    intruder, whose sidecar forges an identity with its own domain's (stolen) CA key."""
    judged = req.workload if req.rejected_by == "server" else _server_workload(ctx, req)
    serial = req.client_serial if req.rejected_by == "server" else req.server_serial
    spec = None if judged is None else ctx.workloads[judged].sidecar
    if spec is None or spec.forged_spiffe_id is None or serial in ctx.issued:
        return []
    claimed = spec.forged_spiffe_id
    own = ctx.td_of(judged)
    return [
        Cause(
            "forged_identity",
            f"{judged} presented a certificate claiming {claimed} that no SPIRE server issued: "
            f"its sidecar signs it with {own}'s CA key (forged_spiffe_id in the scenario), and "
            f"the verifier checks it only against {claimed.trust_domain.name}'s roots, as "
            "go-spiffe does, so the impersonation fails",
            trust_domain=own,
            workload=judged,
            spiffe_id=str(claimed),
            side=req.rejected_by,
        )
    ]


def _handshake(ctx: _Context, req: RequestRecord) -> list[Cause]:
    m = _meeting(ctx, req)
    diagnose = _HANDSHAKE.get(req.reason)
    if m is None and req.reason == "unknown_authority":
        forged = _forged(ctx, req)
        if forged:
            return forged
    if m is None or diagnose is None:
        return _unexplained(ctx, req)
    return diagnose(ctx, req, m) or _unexplained(ctx, req)


def _jwt_unknown_key(ctx: _Context, req: RequestRecord) -> list[Cause]:
    """The validator's copy of the peer's bundle lacks the JWT key that signed the client's
    token (R3): the token is the client's newest JWT-SVID, the copy its server's."""
    h = ctx.history
    held = h.delivery_at(req.workload, req.t)
    validator = _target_workload(ctx, req.workload)
    if held is None or held.spiffe_id is None or validator is None:
        return []
    token = h.jwt_at(held.spiffe_id, req.t)
    if token is None:
        return []
    peer, kid, holder = token.trust_domain, token.key_id, ctx.td_of(validator)
    signed = Cause(
        "peer_authority",
        f"{req.workload}'s JWT-SVID ({held.spiffe_id}, minted at {ctx.at(token.t)}) is signed "
        f"with {peer}'s JWT key {kid}",
        trust_domain=peer,
        workload=req.workload,
        spiffe_id=held.spiffe_id,
        authority_id=kid,
        times=(("minted", token.t),),
    )
    copy = ctx.copy_at(holder, peer, req.t)
    if copy is None:
        return [signed, *_why_no_copy(ctx, holder, peer, req.t)]
    if kid in copy.jwt_ids:
        # The server stored it; the validator's agent pushes it at its next 5 s sync.
        return [signed, Cause(
            "not_yet_delivered",
            f"{holder}'s server has held {peer}'s JWT key {kid} since {ctx.at(copy.t)}, but "
            f"{validator} had not received that copy from its agent yet; the agent's next sync "
            "delivers it",
            trust_domain=peer, workload=validator, authority_id=kid,
            times=(("server_has", copy.t),),
        )]  # fmt: skip
    published = next((c.t for c in h.bundle_changes(peer, peer) if kid in c.jwt_ids), None)
    activated = h.authority_event(peer, kid, "activated")
    ok = [f for f in ctx.fetches(holder, peer) if f.ok and f.t <= req.t]
    fetched = ok[-1].t if ok else copy.t
    text = (f"{validator} validates with {holder}'s copy of {peer}'s bundle, last fetched at "
            f"{ctx.at(fetched)}, which lacks JWT key {kid}")  # fmt: skip
    times = [("fetched", fetched)]
    text += _news(ctx, times, f"{peer} published it", published, "signs with it since",
                  activated)  # fmt: skip
    causes = [signed, Cause("stale_jwt_bundle", text, trust_domain=peer, workload=validator,
                            authority_id=kid, times=tuple(times))]  # fmt: skip
    causes += _polls_since(ctx, holder, peer, fetched, req.t)
    fixed = next((c for c in h.bundle_changes(holder, peer) if c.t > req.t and kid in c.jwt_ids),
                 None)  # fmt: skip
    if fixed is None:
        causes.append(Cause("not_fixed", f"{holder} still lacked it at the end of the run "
                            f"({ctx.at(ctx.result.until)})", trust_domain=peer,
                            authority_id=kid))  # fmt: skip
    else:
        causes.append(Cause("fixed", f"fixed when {holder} stored a copy with it at "
                            f"{ctx.at(fixed.t)}, {_how(fixed.cause)}", trust_domain=peer,
                            authority_id=kid, times=(("fixed", fixed.t),)))  # fmt: skip
    return causes


def _diagnose(ctx: _Context, req: RequestRecord) -> list[Cause]:
    if req.reason == "client_sidecar_not_ready":
        return _no_identity(ctx, req)
    if req.reason == "jwt_unknown_authority":
        return _jwt_unknown_key(ctx, req) or _unexplained(ctx, req)
    if req.reason.startswith("dial_"):
        return _dial(ctx, req)
    return _handshake(ctx, req)


# A cause names the root kind of its chain unless it is only context.
_CONTEXT_KINDS = frozenset({"peer_authority", "next_refresh", "fixed", "not_fixed", "one_sided",
                            "fetch_failing", "no_bundle", "no_identity", "dial_failed",
                            "peer_not_listening", "no_svid_delivered"})  # fmt: skip


def _root_kind(causes: list[Cause]) -> str:
    """The deepest cause that is not context (chains go from symptom to root)."""
    for c in reversed(causes):
        if c.kind not in _CONTEXT_KINDS:
            return c.kind
    return causes[-1].kind if causes else "unexplained"


def _signature(req: RequestRecord, causes: list[Cause]) -> tuple:
    return (req.reason, req.rejected_by,
            tuple((c.kind, c.trust_domain, c.workload, c.entry_id, c.authority_id, c.side)
                  for c in causes if c.kind != "peer_authority"))  # fmt: skip


# -- the public surface ----------------------------------------------------------------------------


def explain(result: Result, *, since: float | None = None,
            until: float | None = None) -> list[Explanation]:  # fmt: skip
    """Every failed request of ``result`` (optionally only those in [since, until]), grouped
    into runs of identical failures per workload, each with its chain of causes."""
    ctx = _Context.of(result)
    out: list[Explanation] = []
    open_runs: dict[str, tuple[tuple, list[RequestRecord], list[Cause]]] = {}

    def close(workload: str) -> None:
        run = open_runs.pop(workload, None)
        if run is None:
            return
        _, reqs, causes = run
        first, last = reqs[0], reqs[-1]
        server = _server_workload(ctx, first)
        names = {
            "client": f"{workload}'s ghostunnel (client side)",
            "server": f"{server or 'the server'}'s ghostunnel (server side)",
            "curl": f"curl in {workload}",
        }
        out.append(
            Explanation(
                workload=workload,
                reason=first.reason,
                kind=_root_kind(causes),
                first=first.t,
                last=last.t,
                count=len(reqs),
                errors=first.errors,
                last_errors=last.errors,
                causes=tuple(causes),
                rejected_by=first.rejected_by,
                said_by=tuple(names.get(who, who) for who in first.said_by),
            )
        )

    for req in result.requests:
        if (since is not None and req.t < since) or (until is not None and req.t > until):
            continue
        if req.ok:
            close(req.workload)
            continue
        causes = _diagnose(ctx, req)
        sig = _signature(req, causes)
        run = open_runs.get(req.workload)
        if run is not None and run[0] == sig:
            run[1].append(req)
            continue
        close(req.workload)
        open_runs[req.workload] = (sig, [req], causes)
    for workload in sorted(open_runs):
        close(workload)
    out.sort(key=lambda e: (e.first, e.workload))
    return out


def render(explanations: list[Explanation], clock: Clock) -> str:
    """The explanations for humans, times in UTC RFC 3339."""
    if not explanations:
        return "no failed requests\n"
    lines: list[str] = []
    for e in explanations:
        when = (
            f"at {clock.rfc3339(e.first)}"
            if e.count == 1
            else f"from {clock.rfc3339(e.first)} to {clock.rfc3339(e.last)}"
        )
        n = "1 failed request" if e.count == 1 else f"{e.count} failed requests"
        lines.append(f"{e.workload}: {n} {when} [{e.kind}]")
        lines.append("  the products said:")
        for who, line in zip(e.said_by or ("",) * len(e.errors), e.errors, strict=False):
            lines.append(f"    {who}: {line}" if who else f"    {line}")
        lines.append("  because:")
        for i, c in enumerate(e.causes, 1):
            lines.append(f"    {i}. {c.text}")
        lines.append("")
    return "\n".join(lines)
