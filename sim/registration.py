"""A registration entry tells a SPIRE server which SPIFFE ID to issue to whom: to the workloads
(or nodes) whose attested selectors include the entry's, under the agent named by its parent ID.

>>> import random
>>> store = EntryStore(version="0.9")
>>> entry = RegistrationEntry.build(
...     entry_id=new_entry_id(random.Random(1)),
...     spiffe_id="spiffe://foo.example.com/http-server",
...     parent_id="spiffe://foo.example.com/spire-agent",
...     selectors=["k8s:pod-label:app:http-server"],
...     federates_with=["spiffe://bar.example.com"],
...     x509_svid_ttl=3600,
... )
>>> try:
...     store.create(entry, known_bundles={TrustDomain("foo.example.com")})
... except RegistrationError as exc:
...     print(exc.reason)
unable to find federated bundle "spiffe://bar.example.com"
>>> _ = store.create(entry, known_bundles={TrustDomain("bar.example.com")})
>>> print(render_entry_show(store.list(), version="0.9"), end="")
Found 1 entry
Entry ID      : cd613e30-d8f1-4adf-91b7-584a2265b1f5
SPIFFE ID     : spiffe://foo.example.com/http-server
Parent ID     : spiffe://foo.example.com/spire-agent
TTL           : 3600
Selector      : k8s:pod-label:app:http-server
FederatesWith : spiffe://bar.example.com
<BLANKLINE>
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sim.spiffeid import SpiffeID, TrustDomain

__all__ = [
    "EntryStore",
    "RegistrationEntry",
    "RegistrationError",
    "Selector",
    "entries_for_agent",
    "entries_for_workload",
    "matches",
    "new_entry_id",
    "render_entry",
    "render_entry_show",
]

# The parent of node ("alias") entries: `entry create -node` sets it (v0.9.2
# cmd/spire-server/cli/entry/create.go parseConfig; HEAD idutil.ServerIDPath), and HEAD's
# authorized-entries cache recognises aliases by exactly this path (authorizedentries/cache.go
# isNodeAlias).
SERVER_ID_PATH = "/spire/server"

# HEAD pkg/server/datastore/sqlstore/sqlstore.go validEntryIDChars: - . 0-9 A-Z _ a-z.
_ENTRY_ID_CHARS = frozenset("-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MAX_ENTRY_ID_LEN = 255


def _legacy(version: str) -> bool:
    """True for the v0.9 profile, False for 1.x; the only two layouts and text sets we model."""
    if isinstance(version, str):
        if version.startswith("0."):
            return True
        if version.startswith("1."):
            return False
    # A programming error in the caller (the scenario loader validates the profile), not a
    # SPIRE error, hence ValueError rather than RegistrationError.
    raise ValueError(f'registration: unknown SPIRE version "{version}" (want "0.9" or "1.x")')


class RegistrationError(ValueError):
    """SPIRE refused a registration request.

    ``str(exc)`` is the status message SPIRE's API returns for the store's version, ``code`` its
    gRPC code name, ``reason`` the innermost cause (the datastore's own text where there is one).
    """

    def __init__(self, message: str, *, code: str = "InvalidArgument", reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = message if reason is None else reason

    def grpc_error(self) -> str:
        """The error as a Go gRPC client prints it (``status.Error(...).Error()``); this is the
        last line `spire-server entry create` prints in v0.9 when the server refuses."""
        return _grpc(self.code, self.message)


def _grpc(code: str, desc: str) -> str:
    # google.golang.org/grpc/internal/status Status.Error() formatting.
    return f"rpc error: code = {code} desc = {desc}"


@dataclass(frozen=True, slots=True, order=True)
class Selector:
    """A ``type:value`` pair an attestor produced or an entry requires (``unix:uid:1000``).

    Ordering is SPIRE's (type, then value: pkg/common/util/sort.go compareSelector).
    """

    type: str
    value: str

    def __post_init__(self) -> None:
        # HEAD pkg/server/api/selector.go SelectorsFromProto, verbatim texts. v0.9.2 accepted an
        # empty value from the CLI; we refuse it, as every 1.x server does.
        if not isinstance(self.type, str) or not isinstance(self.value, str):
            raise TypeError("selector type and value must be str")
        if self.type == "":
            raise RegistrationError("missing selector type")
        if ":" in self.type:
            raise RegistrationError("selector type contains ':'")
        if self.value == "":
            raise RegistrationError("missing selector value")

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Parse ``type:value``; everything right of the first colon is the value.

        >>> Selector.parse("k8s:pod-label:app:http-server")
        Selector(type='k8s', value='pod-label:app:http-server')
        """
        if not isinstance(text, str):
            raise TypeError(f"selector must be a str, not {type(text).__name__}")
        kind, sep, value = text.partition(":")
        if not sep:
            # v0.9.2 cmd/spire-server/cli/entry/util.go parseSelector (same text in HEAD
            # cmd/spire-server/util/util.go ParseSelector): Go "%s" inside literal quotes, not %q.
            raise RegistrationError(f'selector "{text}" must be formatted as type:value')
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


def _as_selector(s: Selector | str) -> Selector:
    return s if isinstance(s, Selector) else Selector.parse(s)


def _as_id(value: SpiffeID | str) -> SpiffeID:
    return value if isinstance(value, SpiffeID) else SpiffeID.parse(value)


def _as_td(value: TrustDomain | str) -> TrustDomain:
    return value if isinstance(value, TrustDomain) else TrustDomain.parse(value)


def _server_id(td: TrustDomain) -> SpiffeID:
    return SpiffeID(td, SERVER_ID_PATH)


@dataclass(frozen=True, slots=True)
class RegistrationEntry:
    """One registration entry (HEAD proto/spire/common/common.proto RegistrationEntry).

    Selectors are kept sorted and de-duplicated, and ``federates_with`` sorted by name, so equal
    entries compare equal (SPIRE keeps them in rows whose read-back order is the database's).
    ``x509_svid_ttl`` / ``jwt_svid_ttl`` are seconds, 0 meaning the server's default (v0.9 has
    only ``ttl``, which is ``x509_svid_ttl`` here). Validation texts are HEAD's
    sqlstore.go validateRegistrationEntry.
    """

    entry_id: str
    spiffe_id: SpiffeID
    parent_id: SpiffeID
    selectors: tuple[Selector, ...]
    dns_names: tuple[str, ...] = ()
    federates_with: tuple[TrustDomain, ...] = ()
    x509_svid_ttl: int = 0
    jwt_svid_ttl: int = 0
    revision_number: int = 0
    admin: bool = False
    downstream: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.entry_id, str):
            raise TypeError(f"entry_id must be a str, not {type(self.entry_id).__name__}")
        if self.entry_id == "":
            # Ours: SPIRE's datastore generates a missing ID; here the caller always gives one
            # (new_entry_id), so an empty one is a mistake worth stopping.
            raise RegistrationError("invalid registration entry: missing entry ID")
        if len(self.entry_id) > _MAX_ENTRY_ID_LEN:
            raise RegistrationError("invalid registration entry: entry ID too long")
        if not _ENTRY_ID_CHARS.issuperset(self.entry_id):
            raise RegistrationError(
                "invalid registration entry: entry ID contains invalid characters"
            )
        for name in ("spiffe_id", "parent_id"):
            value = getattr(self, name)
            if not isinstance(value, SpiffeID):
                raise TypeError(f"{name} must be a SpiffeID, not {type(value).__name__}")
        selectors = tuple(self.selectors)
        if not all(isinstance(s, Selector) for s in selectors):
            raise TypeError("selectors must be Selector instances")
        if not selectors:
            raise RegistrationError("invalid registration entry: missing selector list")
        # object.__setattr__: the documented way to normalise a frozen dataclass in __post_init__.
        object.__setattr__(self, "selectors", tuple(sorted(set(selectors))))
        dns_names = tuple(self.dns_names)
        if not all(isinstance(d, str) for d in dns_names):
            raise TypeError("dns_names must be str")
        object.__setattr__(self, "dns_names", dns_names)
        tds = tuple(self.federates_with)
        if not all(isinstance(td, TrustDomain) for td in tds):
            raise TypeError("federates_with must be TrustDomain instances")
        object.__setattr__(self, "federates_with", tuple(sorted(set(tds))))
        for name, text in (
            ("x509_svid_ttl", "invalid registration entry: X509SvidTtl is not set"),
            ("jwt_svid_ttl", "invalid registration entry: JwtSvidTtl is not set"),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int")
            if value < 0:
                raise RegistrationError(text)
        if isinstance(self.revision_number, bool) or not isinstance(self.revision_number, int):
            raise TypeError("revision_number must be an int")

    @property
    def node(self) -> bool:
        """Whether this is a node (alias) entry: its parent is ``spiffe://<td>/spire/server``.

        Derived, not stored: SPIRE stores no flag either; `-node` only sets the parent ID, and
        HEAD tests the parent's path (authorizedentries/cache.go isNodeAlias).
        """
        return self.parent_id.path == SERVER_ID_PATH

    @classmethod
    def build(
        cls,
        *,
        entry_id: str,
        spiffe_id: SpiffeID | str,
        selectors: Iterable[Selector | str],
        parent_id: SpiffeID | str | None = None,
        node: bool = False,
        dns_names: Iterable[str] = (),
        federates_with: Iterable[TrustDomain | str] = (),
        x509_svid_ttl: int = 0,
        jwt_svid_ttl: int = 0,
        admin: bool = False,
        downstream: bool = False,
    ) -> RegistrationEntry:
        """An entry as `spire-server entry create` builds it from its flags.

        The CLI's checks run in its order with its texts (v0.9.2 and HEAD
        cmd/spire-server/cli/entry/create.go Validate); ``node=True`` makes the parent the
        server ID of the SPIFFE ID's trust domain. The CLI's TTL default differs by version
        (v0.9 ``-ttl`` 3600, 1.x ``-x509SVIDTTL`` 0), so the caller passes it.
        """
        selectors = [_as_selector(s) for s in selectors]
        federates_with = [_as_td(td) for td in federates_with]
        if not selectors:
            raise RegistrationError("at least one selector is required")
        if node and federates_with:
            raise RegistrationError("node entries can not federate")
        if parent_id is None and not node:
            raise RegistrationError("a parent ID is required if the node flag is not set")
        sid = _as_id(spiffe_id)
        parent = _server_id(sid.trust_domain) if node else _as_id(parent_id)  # type: ignore[arg-type]
        return cls(
            entry_id=entry_id,
            spiffe_id=sid,
            parent_id=parent,
            selectors=tuple(selectors),
            dns_names=tuple(dns_names),
            federates_with=tuple(federates_with),
            x509_svid_ttl=x509_svid_ttl,
            jwt_svid_ttl=jwt_svid_ttl,
            admin=admin,
            downstream=downstream,
        )


def new_entry_id(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, as SPIRE names new entries.

    v0.9.2 sql.go newRegistrationEntryID uses satori ``uuid.NewV4``, HEAD google ``uuid.New``;
    both are RFC 4122 v4. ``uuid.UUID(version=4)`` sets the version and variant bits.

    >>> new_entry_id(random.Random(1))
    'cd613e30-d8f1-4adf-91b7-584a2265b1f5'
    """
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sort_key(entry: RegistrationEntry, legacy: bool) -> tuple:
    """The order `entry show` prints in, with the entry ID last so the order is total.

    v0.9.2 pkg/common/util/sort.go compareRegistrationEntries: SPIFFE ID string, parent ID
    string, TTL, then selectors (count first, then pairwise). HEAD sort.go compareTypesEntries:
    trust domain and path separately (so "a.b/x" sorts before "a.b.c/x", unlike the strings),
    then X.509 TTL, JWT TTL, selectors. Go's sort.Slice is not stable; ties between distinct
    entries only arise for entries SPIRE would consider duplicates.
    """
    sels = (len(entry.selectors), tuple((s.type, s.value) for s in entry.selectors))
    if legacy:
        return (
            str(entry.spiffe_id),
            str(entry.parent_id),
            entry.x509_svid_ttl,
            sels,
            entry.entry_id,
        )
    return (
        entry.spiffe_id.trust_domain.name,
        entry.spiffe_id.path,
        entry.parent_id.trust_domain.name,
        entry.parent_id.path,
        entry.x509_svid_ttl,
        entry.jwt_svid_ttl,
        sels,
        entry.entry_id,
    )


class EntryStore:
    """A SPIRE server's registration entries, with its datastore's refusals and texts.

    ``revision`` grows by one on every successful change, so a consumer (an agent's sync) can
    tell that something changed without comparing contents.
    """

    def __init__(self, *, version: str = "1.x") -> None:
        self._legacy = _legacy(version)
        self.version = version
        self._entries: dict[str, RegistrationEntry] = {}
        self._revision = 0

    @property
    def revision(self) -> int:
        return self._revision

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def _missing_bundle(
        self, entry: RegistrationEntry, known_bundles: Iterable[TrustDomain]
    ) -> str | None:
        """makeFederatesWith's refusal, or None (v0.9.2 pkg/server/plugin/datastore/sql/sql.go,
        HEAD pkg/server/datastore/sqlstore/sqlstore.go; same text in both).

        Bundles are stored under the trust domain *ID* (``spiffe://bar.example.com``): the
        v0.9.2 CLI normalises -federatesWith to an ID and HEAD's api.ProtoToRegistrationEntry
        converts names with td.IDString(), so the %q shows the ID. The server's own bundle is in
        the same table, so federating with one's own trust domain passes.
        """
        known = set(known_bundles)
        for td in entry.federates_with:
            if td not in known:
                return f'unable to find federated bundle "{td.id_string()}"'
        return None

    def create(
        self, entry: RegistrationEntry, *, known_bundles: Iterable[TrustDomain]
    ) -> RegistrationEntry:
        """Store ``entry`` (at revision 0) and return it.

        Refusals, in SPIRE's order: an entry with the same SPIFFE ID, parent ID and selector set
        (v0.9.2 endpoints/registration/handler.go isEntryUnique, checked before the datastore;
        HEAD sqlstore.go lookupSimilarEntry, before createRegistrationEntry), then a
        federates_with naming a trust domain with no stored bundle.
        """
        if not isinstance(entry, RegistrationEntry):
            raise TypeError(f"entry must be a RegistrationEntry, not {type(entry).__name__}")
        for other in self._entries.values():
            if (
                other.spiffe_id == entry.spiffe_id
                and other.parent_id == entry.parent_id
                and other.selectors == entry.selectors
            ):
                # v0.9.2 handler.go CreateEntry: status.Error(codes.AlreadyExists,
                # "entry already exists"). HEAD api/entry/v1/service.go createEntry:
                # CreateStatus(codes.AlreadyExists, "similar entry already exists").
                text = "entry already exists" if self._legacy else "similar entry already exists"
                raise RegistrationError(text, code="AlreadyExists")
        if entry.entry_id in self._entries:
            # Ours: v0.9 always generates the ID; HEAD would surface the database's unique
            # constraint text, which depends on the SQL dialect.
            raise RegistrationError(
                f'entry ID "{entry.entry_id}" already exists', code="AlreadyExists"
            )
        reason = self._missing_bundle(entry, known_bundles)
        if reason is not None:
            if self._legacy:
                # The datastore's gormToGRPCStatus turns the plain error into code Unknown;
                # handler.go CreateEntry wraps it with %v in an Internal status.
                message = "error trying to create entry: " + _grpc("Unknown", reason)
            else:
                # service.go createEntry: Unknown becomes Internal; MakeStatus concatenates.
                message = "failed to create entry: " + reason
            raise RegistrationError(message, code="Internal", reason=reason)
        stored = replace(entry, revision_number=0)
        self._entries[stored.entry_id] = stored
        self._revision += 1
        return stored

    def update(
        self, entry: RegistrationEntry, *, known_bundles: Iterable[TrustDomain]
    ) -> RegistrationEntry:
        """Replace the entry with ``entry.entry_id`` wholesale; its revision number grows by one.

        The entry must exist (checked first, as both datastores look it up before anything
        else); the federated bundles must exist; no duplicate check (neither version has one on
        update).
        """
        if not isinstance(entry, RegistrationEntry):
            raise TypeError(f"entry must be a RegistrationEntry, not {type(entry).__name__}")
        old = self._entries.get(entry.entry_id)
        if old is None:
            if self._legacy:
                # v0.9.2 handler.go UpdateEntry wraps the datastore's NotFound status
                # (sqlError "datastore-sql: " + gorm's "record not found") in Internal.
                raise RegistrationError(
                    "failed to update registration entry: "
                    + _grpc("NotFound", "datastore-sql: record not found"),
                    code="Internal",
                    reason="datastore-sql: record not found",
                )
            # HEAD service.go updateEntry: MakeStatus with NotFound drops the inner error.
            raise RegistrationError("failed to update entry", code="NotFound")
        reason = self._missing_bundle(entry, known_bundles)
        if reason is not None:
            if self._legacy:
                message = "failed to update registration entry: " + _grpc("Unknown", reason)
            else:
                message = "failed to update entry: " + reason
            raise RegistrationError(message, code="Internal", reason=reason)
        # HEAD sqlstore.go updateRegistrationEntry: "Revision number is increased by 1 on every
        # update call".
        stored = replace(entry, revision_number=old.revision_number + 1)
        self._entries[stored.entry_id] = stored
        self._revision += 1
        return stored

    def delete(self, entry_id: str) -> RegistrationEntry:
        """Remove and return the entry with ``entry_id``."""
        old = self._entries.pop(entry_id, None)
        if old is None:
            if self._legacy:
                # v0.9.2 handler.go DeleteEntry: status.Error(codes.Internal, err.Error()) of
                # the datastore's NotFound status.
                raise RegistrationError(
                    _grpc("NotFound", "datastore-sql: record not found"),
                    code="Internal",
                    reason="datastore-sql: record not found",
                )
            # HEAD service.go deleteEntry.
            raise RegistrationError("entry not found", code="NotFound")
        self._revision += 1
        return old

    def get(self, entry_id: str) -> RegistrationEntry:
        """The entry with ``entry_id``."""
        entry = self._entries.get(entry_id)
        if entry is None:
            # v0.9.2 handler.go FetchEntry; HEAD service.go GetEntry.
            text = "no such registration entry" if self._legacy else "entry not found"
            raise RegistrationError(text, code="NotFound")
        return entry

    def list(self) -> list[RegistrationEntry]:
        """All entries in the order this version's `entry show` prints them."""
        return sorted(self._entries.values(), key=lambda e: _sort_key(e, self._legacy))


def matches(entry_selectors: Iterable[Selector], workload_selectors: Iterable[Selector]) -> bool:
    """Whether every entry selector is among the workload's (SPIRE's subset match).

    An entry with no selectors matches nothing: SPIRE finds candidates through the workload's
    selectors (v0.9.2 pkg/agent/manager/cache/cache.go getRecordsForSelectors, HEAD
    authorizedentries/cache.go getAgentAliases), so an empty set is never reached.

    >>> have = [Selector.parse("k8s:ns:foo"), Selector.parse("k8s:pod-label:app:client")]
    >>> matches([Selector.parse("k8s:pod-label:app:client")], have)
    True
    >>> matches([Selector.parse("k8s:pod-label:app:client"), Selector.parse("k8s:sa:x")], have)
    False
    """
    wanted = set(entry_selectors)
    return bool(wanted) and wanted.issubset(set(workload_selectors))


def entries_for_agent(
    store: EntryStore, agent_id: SpiffeID, agent_selectors: Iterable[Selector]
) -> list[RegistrationEntry]:
    """The entries the server authorizes ``agent_id`` (attested with ``agent_selectors``) for.

    1.x (HEAD pkg/server/authorizedentries/cache.go GetAuthorizedEntries): node entries whose
    selectors are a subset of the agent's give it alias IDs; the result is every entry below
    the agent ID or an alias ID, descending through each entry's SPIFFE ID as a parent. Node
    entries themselves are not returned.

    0.9 (v0.9.2 pkg/server/util/regentryutil/fetch.go, used by endpoints/node/handler.go): the
    entries directly authorized for an ID are its children plus, for the agent, *every* entry
    whose selectors are a subset of its node selectors (so node entries are returned too, and
    an entry matching the node selectors is mapped whatever its parent); then the same descent,
    and DedupRegistrationEntries (sort, drop entries equal in SPIFFE ID, parent, TTL and
    selectors).

    Only entries whose SPIFFE ID and parent ID are in the agent's trust domain take part (HEAD
    Cache.UpdateEntry drops the others; v0.9.2's registration handler refuses to create them).
    The result is in ``store.list()`` order.
    """
    legacy = store._legacy
    td = agent_id.trust_domain
    agent_selectors = frozenset(agent_selectors)
    entries = [e for e in store.list() if e.spiffe_id.member_of(td) and e.parent_id.member_of(td)]
    children: dict[SpiffeID, list[RegistrationEntry]] = {}
    for e in entries:
        if legacy or not e.node:
            # HEAD keeps aliases out of entriesByParentID (cache.go updateEntry).
            children.setdefault(e.parent_id, []).append(e)
    roots = [agent_id]
    mapped: list[RegistrationEntry] = []
    if legacy:
        mapped = [e for e in entries if matches(e.selectors, agent_selectors)]
    else:
        roots += [e.spiffe_id for e in entries if e.node and matches(e.selectors, agent_selectors)]
    # found = the union of the entries directly authorized for every ID reachable from the
    # roots; the walk order does not change that set. An explicit stack, not recursion, since
    # entry chains come from user input; `seen` is SPIRE's visited / parentSeen set.
    found: dict[str, RegistrationEntry] = {}
    seen: set[SpiffeID] = set()
    stack = list(roots)
    while stack:
        parent = stack.pop()
        if parent in seen:
            continue
        seen.add(parent)
        # Only the agent has node selectors stored (GetNodeSelectors), so only it maps entries.
        direct = [*children.get(parent, ()), *(mapped if parent == agent_id else ())]
        for e in direct:
            found[e.entry_id] = e
            stack.append(e.spiffe_id)
    result = [e for e in entries if e.entry_id in found]
    if legacy:
        # util.DedupRegistrationEntries keeps one of entries equal under
        # compareRegistrationEntries; with our total order that is the lowest entry ID.
        deduped: list[RegistrationEntry] = []
        for e in result:
            if deduped and _sort_key(deduped[-1], True)[:-1] == _sort_key(e, True)[:-1]:
                continue
            deduped.append(e)
        result = deduped
    return result


def entries_for_workload(
    agent_entries: Iterable[RegistrationEntry], workload_selectors: Iterable[Selector]
) -> list[RegistrationEntry]:
    """The agent's entries a workload with ``workload_selectors`` gets, by ascending entry ID
    (v0.9.2 pkg/agent/manager/cache/cache.go and HEAD cache/util.go sortIdentities)."""
    have = frozenset(workload_selectors)
    return sorted(
        (e for e in agent_entries if matches(e.selectors, have)), key=lambda e: e.entry_id
    )


def render_entry(entry: RegistrationEntry, *, version: str) -> str:
    """One entry as `spire-server entry show` / `entry create` print it, blank line included.

    0.9: v0.9.2 cmd/spire-server/cli/entry/util.go printEntry (labels padded to 13 columns;
    FederatesWith before DNS names; TTL 0 printed as ``default``; trust domain IDs).
    1.x: HEAD cmd/spire-server/cli/entry/util.go printEntry (24 columns; Revision; X509-SVID
    and JWT-SVID TTLs; FederatesWith as trust domain *names*, from api.RegistrationEntryToProto).
    Fields we do not model (expiry, store_svid, hint, additional attributes) are never printed.
    """
    legacy = _legacy(version)
    lines: list[str] = []

    def put(label: str, value: object) -> None:
        lines.append(f"{label:<{13 if legacy else 23}} : {value}")

    put("Entry ID", entry.entry_id)
    put("SPIFFE ID", entry.spiffe_id)
    put("Parent ID", entry.parent_id)
    if not legacy:
        put("Revision", entry.revision_number)
    if entry.downstream:
        put("Downstream", "true")
    if legacy:
        put("TTL", entry.x509_svid_ttl or "default")
    else:
        put("X509-SVID TTL", entry.x509_svid_ttl or "default")
        put("JWT-SVID TTL", entry.jwt_svid_ttl or "default")
    for s in entry.selectors:
        put("Selector", s)
    for td in entry.federates_with:
        put("FederatesWith", td.id_string() if legacy else td.name)
    for name in entry.dns_names:
        put("DNS name", name)
    if entry.admin:
        put("Admin", "true")
    return "\n".join(lines) + "\n\n"


def render_entry_show(entries: Iterable[RegistrationEntry], *, version: str) -> str:
    """What `spire-server entry show` prints for ``entries``: a count line, then each entry.

    Both versions sort before printing (v0.9.2 show.go SortRegistrationEntries, HEAD show.go
    SortTypesEntries) and pluralise with util.Pluralizer ("Found 1 entry", "Found 0 entries").
    """
    legacy = _legacy(version)
    ordered = sorted(entries, key=lambda e: _sort_key(e, legacy))
    noun = "entry" if len(ordered) == 1 else "entries"
    return f"Found {len(ordered)} {noun}\n" + "".join(
        render_entry(e, version=version) for e in ordered
    )
