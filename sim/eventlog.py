"""The event log holds one record per observable happening of a run, and renders the records
as JSON Lines or as the lines the real product would have printed (logrus, Go ``log``, curl).

>>> from sim.clock import Clock
>>> log = EventLog()
>>> server = log.logger("foo/spire-server-0", host="spire-federation-worker",
...                     component="spire-server", trust_domain="foo.example.com")
>>> server.info(1772, "Bundle refreshed", subsystem_name="bundle_client",
...             trust_domain="bar.example.com")
>>> print(log.render_native("foo/spire-server-0", Clock.parse("2019-12-17T00:00:00Z")), end="")
time="2019-12-17T00:29:32Z" level=info msg="Bundle refreshed" subsystem_name=bundle_client \
trust_domain=bar.example.com
>>> log.count(component="spire-server", fields={"trust_domain": "bar.example.com"})
1
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.clock import go_quote

if TYPE_CHECKING:
    from sim.clock import Clock

__all__ = [
    "LEVELS",
    "STYLES",
    "EventLog",
    "EventLogError",
    "Instance",
    "Logger",
    "Record",
    "JSONL_KEYS",
    "go_quote",
    "go_sprint",
]

LEVELS = ("debug", "info", "warn", "error")
"""Record levels, least severe first."""

STYLES = ("logrus", "golog", "curl", "plain")
"""How an instance's records render natively: SPIRE's logrus text, Go's ``log`` (ghostunnel),
curl's error line, or the bare message."""

_LEVEL_SET = frozenset(LEVELS)
_STYLE_SET = frozenset(STYLES)

# logrus Level.String() (logrus v1.4.2 logrus.go, the version SPIRE v0.9.2 pins in go.mod)
# spells warn as "warning".
_LOGRUS_LEVEL = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}

# The characters logrus leaves unquoted: TextFormatter.needsQuoting in logrus v1.4.2
# text_formatter.go (unchanged at HEAD). SPIRE v0.9.2 (pkg/common/log/log.go) uses
# logrus.New()'s default TextFormatter, so QuoteEmptyFields is off and "" stays bare.
_LOGRUS_NEEDS_QUOTING = re.compile(r"[^a-zA-Z0-9\-._/@^+]").search

# prefixFieldClashes (logrus v1.4.2 formatter.go) renames user fields that would shadow the
# fixed keys instead of dropping them; "func" and "file" clash only with ReportCaller, which
# SPIRE does not enable.
_LOGRUS_CLASHING = frozenset({"time", "msg", "level", "logrus_error"})

_INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*")

# Fixed key order of a JSON Lines record; part of the file format.
JSONL_KEYS = (
    "t",
    "time",
    "host",
    "component",
    "instance",
    "trust_domain",
    "level",
    "msg",
    "fields",
    "style",
)


class EventLogError(ValueError):
    """A record or instance that cannot be logged or rendered as asked."""


@dataclass(frozen=True, slots=True)
class Record:
    """One observable happening: when, who (host, component, instance), how bad, what.

    ``fields`` keeps the order the product attached them in; renderers that sort (logrus) sort.
    ``style`` says how :meth:`EventLog.render_native` prints it.
    """

    t: float
    host: str
    component: str
    instance: str
    trust_domain: str
    level: str
    msg: str
    fields: tuple[tuple[str, Any], ...] = ()
    style: str = "logrus"

    def field(self, key: str, default: Any = None) -> Any:
        """The value of field ``key`` (the last one, if repeated), or ``default``."""
        found = default
        for k, v in self.fields:
            if k == key:
                found = v
        return found


@dataclass(frozen=True, slots=True)
class Instance:
    """A running component instance (``foo/spire-server-0``) and the facts its lines share.

    ``pid`` is the process id Go's ``log`` prefix shows (ghostunnel sets ``[<pid>] ``); a
    container's entrypoint runs as pid 1, as in the seed's ``[1] 2019/12/17 ...`` lines.
    """

    instance: str
    host: str
    component: str
    trust_domain: str = ""
    style: str = "logrus"
    pid: int = 1

    def __post_init__(self) -> None:
        if not _INSTANCE_NAME.fullmatch(self.instance) or ".." in self.instance:
            raise EventLogError(
                f"invalid instance name {go_quote(self.instance)}: use letters, digits and "
                "._:@/+- (it names a log file)"
            )
        if self.style not in _STYLE_SET:
            raise EventLogError(
                f"invalid style {go_quote(self.style)} for instance {go_quote(self.instance)} "
                f"(expected {', '.join(STYLES)})"
            )
        if not self.host or not self.component:
            raise EventLogError(f"instance {go_quote(self.instance)} needs a host and a component")


class Logger:
    """A handle bound to one instance, like a logrus entry: ``info(t, msg, **fields)``.

    ``with_fields`` returns a child whose fields precede the call's (logrus' ``WithFields``);
    a call's field of the same name replaces the preset one.
    """

    __slots__ = ("_log", "_inst", "_preset")

    def __init__(self, log: EventLog, inst: Instance, preset: dict[str, Any] | None = None) -> None:
        self._log = log
        self._inst = inst
        self._preset = preset

    @property
    def instance(self) -> Instance:
        """The instance this logger writes as."""
        return self._inst

    def with_fields(self, **fields: Any) -> Logger:
        """A logger that adds ``fields`` to every record."""
        merged = {**self._preset, **fields} if self._preset else fields
        return Logger(self._log, self._inst, merged)

    # The four level methods go straight to _add: this is the hot path of every run.
    def debug(self, t: float, msg: str, /, **fields: Any) -> None:
        """Log ``msg`` at debug level at sim time ``t``."""
        if self._preset:
            fields = {**self._preset, **fields}
        self._log._add(t, self._inst, "debug", msg, fields)

    def info(self, t: float, msg: str, /, **fields: Any) -> None:
        """Log ``msg`` at info level at sim time ``t``."""
        if self._preset:
            fields = {**self._preset, **fields}
        self._log._add(t, self._inst, "info", msg, fields)

    def warn(self, t: float, msg: str, /, **fields: Any) -> None:
        """Log ``msg`` at warn level (logrus prints ``warning``) at sim time ``t``."""
        if self._preset:
            fields = {**self._preset, **fields}
        self._log._add(t, self._inst, "warn", msg, fields)

    def error(self, t: float, msg: str, /, **fields: Any) -> None:
        """Log ``msg`` at error level at sim time ``t``."""
        if self._preset:
            fields = {**self._preset, **fields}
        self._log._add(t, self._inst, "error", msg, fields)


# A stored row: (t, instance, level, msg, fields dict). Rows, not Records, are kept because
# building a frozen dataclass costs ~3 us and a tuple ~0.1 us; Records are made on demand.
_Row = tuple[float, Instance, str, str, dict[str, Any]]


class EventLog:
    """An append-only sequence of records in time order, with queries and renderings.

    Records with equal ``t`` keep the order they were logged in. A record may be logged with a
    ``t`` earlier than the last one (a process reporting a past instant); it then sorts into
    place before any query or rendering.
    """

    __slots__ = ("_rows", "_instances", "_last_t", "_in_order")

    def __init__(self) -> None:
        self._rows: list[_Row] = []
        self._instances: dict[str, Instance] = {}
        self._last_t = -math.inf
        self._in_order = True

    # --- writing -------------------------------------------------------------------------

    def register(
        self,
        instance: str,
        *,
        host: str,
        component: str,
        trust_domain: str = "",
        style: str = "logrus",
        pid: int = 1,
    ) -> Instance:
        """Declare ``instance``; registering it again with the same facts is a no-op."""
        inst = Instance(instance, host, component, trust_domain, style, pid)
        return self._register(inst)

    def _register(self, inst: Instance) -> Instance:
        known = self._instances.get(inst.instance)
        if known is None:
            self._instances[inst.instance] = inst
            return inst
        if known != inst:
            raise EventLogError(
                f"instance {go_quote(inst.instance)} is already registered as {known!r}, "
                f"not {inst!r}"
            )
        return known

    def logger(
        self,
        instance: str,
        *,
        host: str,
        component: str,
        trust_domain: str = "",
        style: str = "logrus",
        pid: int = 1,
    ) -> Logger:
        """Register ``instance`` and return a :class:`Logger` writing as it."""
        inst = self.register(
            instance,
            host=host,
            component=component,
            trust_domain=trust_domain,
            style=style,
            pid=pid,
        )
        return Logger(self, inst)

    def log(self, t: float, instance: str, level: str, msg: str, /, **fields: Any) -> None:
        """Append a record for the registered ``instance``; fields keep their keyword order."""
        inst = self._instances.get(instance)
        if inst is None:
            raise EventLogError(f"unknown instance {go_quote(instance)}: register it first")
        if level not in _LEVEL_SET:
            raise EventLogError(f"invalid level {go_quote(level)} (expected {', '.join(LEVELS)})")
        self._add(t, inst, level, msg, fields)

    def append(self, record: Record) -> None:
        """Append ``record``; its instance is registered from it if new, and must agree if not."""
        if record.level not in _LEVEL_SET:
            raise EventLogError(
                f"invalid level {go_quote(record.level)} (expected {', '.join(LEVELS)})"
            )
        inst = self._instances.get(record.instance)
        if inst is None or (inst.host, inst.component, inst.trust_domain, inst.style) != (
            record.host,
            record.component,
            record.trust_domain,
            record.style,
        ):
            inst = self._register(
                Instance(
                    record.instance,
                    record.host,
                    record.component,
                    record.trust_domain,
                    record.style,
                    inst.pid if inst is not None else 1,
                )
            )
        self._add(record.t, inst, record.level, record.msg, dict(record.fields))

    def _add(self, t: float, inst: Instance, level: str, msg: str, fields: dict[str, Any]) -> None:
        # No formatting and no validation beyond the time order: the Logger methods and log()
        # already know the level is valid, and strings are built only when rendered.
        if t < self._last_t:
            self._in_order = False
        else:
            self._last_t = t
        self._rows.append((t, inst, level, msg, fields))

    # --- reading -------------------------------------------------------------------------

    def _ordered(self) -> list[_Row]:
        if not self._in_order:
            # list.sort is stable, so equal times keep their logging order.
            self._rows.sort(key=itemgetter(0))
            self._in_order = True
            self._last_t = self._rows[-1][0]
        return self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Record]:
        return (_record(row) for row in self._ordered())

    def __getitem__(self, index: int) -> Record:
        return _record(self._ordered()[index])

    def instances(self) -> list[str]:
        """Names of the registered instances, sorted."""
        return sorted(self._instances)

    def instance(self, name: str) -> Instance:
        """The registered instance ``name``."""
        try:
            return self._instances[name]
        except KeyError:
            raise EventLogError(f"unknown instance {go_quote(name)}") from None

    def _select(
        self,
        component: str | None,
        instance: str | None,
        host: str | None,
        trust_domain: str | None,
        level: str | None,
        msg: str | None,
        contains: str | None,
        since: float | None,
        until: float | None,
        fields: Mapping[str, Any] | None,
    ) -> Iterator[_Row]:
        missing = object()
        for row in self._ordered():
            t, inst, lvl, m, f = row
            if since is not None and t < since:
                continue
            if until is not None and t >= until:
                continue
            if component is not None and inst.component != component:
                continue
            if instance is not None and inst.instance != instance:
                continue
            if host is not None and inst.host != host:
                continue
            if trust_domain is not None and inst.trust_domain != trust_domain:
                continue
            if level is not None and lvl != level:
                continue
            if msg is not None and m != msg:
                continue
            if contains is not None and contains not in m:
                continue
            if fields and any(f.get(k, missing) != v for k, v in fields.items()):
                continue
            yield row

    def find(
        self,
        *,
        component: str | None = None,
        instance: str | None = None,
        host: str | None = None,
        trust_domain: str | None = None,
        level: str | None = None,
        msg: str | None = None,
        contains: str | None = None,
        since: float | None = None,
        until: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> list[Record]:
        """Records matching every given criterion, in time order.

        ``msg`` matches exactly, ``contains`` as a substring of the message; the window is
        ``since <= t < until``; ``fields`` must all be present with equal values.
        ``trust_domain`` is the instance's own trust domain, not a field of that name.
        """
        return [
            _record(row)
            for row in self._select(
                component,
                instance,
                host,
                trust_domain,
                level,
                msg,
                contains,
                since,
                until,
                fields,
            )
        ]

    def first(
        self,
        *,
        component: str | None = None,
        instance: str | None = None,
        host: str | None = None,
        trust_domain: str | None = None,
        level: str | None = None,
        msg: str | None = None,
        contains: str | None = None,
        since: float | None = None,
        until: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Record | None:
        """The earliest record matching (see :meth:`find`), or None."""
        for row in self._select(
            component, instance, host, trust_domain, level, msg, contains, since, until, fields
        ):
            return _record(row)
        return None

    def count(
        self,
        *,
        component: str | None = None,
        instance: str | None = None,
        host: str | None = None,
        trust_domain: str | None = None,
        level: str | None = None,
        msg: str | None = None,
        contains: str | None = None,
        since: float | None = None,
        until: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> int:
        """How many records match (see :meth:`find`)."""
        return sum(
            1
            for _ in self._select(
                component,
                instance,
                host,
                trust_domain,
                level,
                msg,
                contains,
                since,
                until,
                fields,
            )
        )

    # --- renderings ----------------------------------------------------------------------

    def to_jsonl(self, clock: Clock) -> str:
        """One JSON object per record and line, keys in :data:`JSONL_KEYS` order.

        The bytes depend only on the records: fixed key order, compact separators, UTF-8
        characters kept as they are (``ensure_ascii=False``; files are written as UTF-8), and
        field values that JSON lacks rendered by :func:`_json_default`. ``time`` is the UTC
        instant with microseconds.
        """
        encode = _JSON.encode
        # The instance's keys are the same on each of its lines: encode them once. The result is
        # byte for byte what encoding the whole dict would give (tested), only ~3x faster.
        parts: dict[str, tuple[str, str]] = {}
        for name, inst in self._instances.items():
            head = (
                f'"host":{encode(inst.host)},"component":{encode(inst.component)},'
                f'"instance":{encode(inst.instance)},"trust_domain":{encode(inst.trust_domain)}'
            )
            parts[name] = (head, f'"style":{encode(inst.style)}')
        lines = []
        for t, inst, level, msg, fields in self._ordered():
            head, tail = parts[inst.instance]
            lines.append(
                f'{{"t":{float(t)!r},"time":"{clock.timestamp(t)}",{head},"level":"{level}",'
                f'"msg":{encode(msg)},"fields":{encode(fields)},{tail}}}\n'
            )
        return "".join(lines)

    def write_jsonl(self, path: str | Path, clock: Clock) -> Path:
        """Write :meth:`to_jsonl` to ``path`` (UTF-8, ``\\n`` line ends) and return the path."""
        target = Path(path)
        with target.open("w", encoding="utf-8", newline="\n") as out:
            out.write(self.to_jsonl(clock))
        return target

    def render_line(self, record: Record, clock: Clock) -> str:
        """``record`` as its product prints it (no trailing newline)."""
        inst = self._instances.get(record.instance)
        pid = inst.pid if inst is not None else 1
        return _render(
            record.style, pid, record.t, record.level, record.msg, dict(record.fields), clock
        )

    def render_native(self, instance: str, clock: Clock) -> str:
        """All lines of ``instance`` in its native style, each ending in a newline."""
        inst = self.instance(instance)
        return "".join(
            _render(inst.style, inst.pid, t, level, msg, fields, clock) + "\n"
            for t, row_inst, level, msg, fields in self._ordered()
            if row_inst is inst
        )

    def write_native(self, directory: str | Path, clock: Clock) -> list[Path]:
        """One ``<instance with / as _>.log`` per instance in ``directory``; returns the paths.

        Every registered instance gets a file, empty if it logged nothing, so that a missing
        file never stands for silence.
        """
        base = Path(directory)
        base.mkdir(parents=True, exist_ok=True)
        lines: dict[str, list[str]] = {name: [] for name in self._instances}
        for t, inst, level, msg, fields in self._ordered():
            lines[inst.instance].append(
                _render(inst.style, inst.pid, t, level, msg, fields, clock) + "\n"
            )
        paths = []
        for name in sorted(lines):
            path = base / (name.replace("/", "_") + ".log")
            with path.open("w", encoding="utf-8", newline="\n") as out:
                out.write("".join(lines[name]))
            paths.append(path)
        return paths


def _record(row: _Row) -> Record:
    t, inst, level, msg, fields = row
    return Record(
        t,
        inst.host,
        inst.component,
        inst.instance,
        inst.trust_domain,
        level,
        msg,
        tuple(fields.items()),
        inst.style,
    )


def _render(
    style: str, pid: int, t: float, level: str, msg: str, fields: dict[str, Any], clock: Clock
) -> str:
    if style == "logrus":
        return _render_logrus(t, level, msg, fields, clock)
    if style == "golog":
        # Go's log (log.go formatHeader, Ldate|Ltime|Lmicroseconds): prefix, date, time, then
        # the message; it supplies the newline only when the message lacks one.
        return f"[{pid}] {clock.golog(t)} {msg.removesuffix(chr(10))}"
    if style == "curl":
        # curl's tool prints "curl: (<CURLcode>) <error buffer>" (src/tool_operate.c); other
        # output (a response body) is the message itself.
        code = fields.get("exit_code")
        if code:
            return f"curl: ({code}) {msg}"
        return msg
    return msg


def _render_logrus(t: float, level: str, msg: str, fields: dict[str, Any], clock: Clock) -> str:
    """logrus v1.4.2 TextFormatter without colors (not a TTY), as SPIRE v0.9.2 configures it.

    Order from text_formatter.go Format: time (RFC 3339), level, msg (omitted when empty), then
    the fields sorted by key (sort.Strings: byte order, which for str is code point order).
    """
    parts = [f'time="{clock.rfc3339(t)}"', f"level={_LOGRUS_LEVEL[level]}"]
    if msg:
        parts.append("msg=" + _logrus_value(msg))
    if fields:
        if not _LOGRUS_CLASHING.isdisjoint(fields):
            fields = {(f"fields.{k}" if k in _LOGRUS_CLASHING else k): v for k, v in fields.items()}
        for key in sorted(fields):
            parts.append(f"{key}={_logrus_value(fields[key])}")
    return " ".join(parts)


def _logrus_value(value: Any) -> str:
    text = value if isinstance(value, str) else go_sprint(value)
    if _LOGRUS_NEEDS_QUOTING(text):
        return go_quote(text)
    return text


def go_sprint(value: Any) -> str:
    """``fmt.Sprint(value)`` for the Python values records carry.

    bool -> ``true``/``false``; None -> ``<nil>``; float -> ``%v`` (shortest digits, exponent
    form below 1e-4 or from 1e6 on); datetime -> ``time.Time.String`` in UTC; list/tuple ->
    ``[a b]``; anything else -> ``str``.

    >>> [go_sprint(v) for v in (True, None, 3600.0, 1e6, 0.25, [1, "a"])]
    ['true', '<nil>', '3600', '1e+06', '0.25', '[1 a]']
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if value is None:
        return "<nil>"
    if isinstance(value, datetime):
        return _go_time_string(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: strconv's ``'g'`` with the shortest digits, switching to the
    exponent form when the decimal exponent is < -4 or >= 6 (strconv ftoa.go formatDigits:
    "if precision was the shortest possible, use precision 6 for this decision")."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr gives the shortest digits that round-trip, the digits Go's shortest mode finds too.
    _, digit_tuple, exp = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exp, int)  # finite, checked above
    padded = "".join(map(str, digit_tuple)).lstrip("0")
    digits = padded.rstrip("0")
    point = len(padded) + exp  # the decimal point sits after this many digits
    sign = "-" if value < 0 else ""
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_time_string(value: datetime) -> str:
    # time.Time.String: "2006-01-02 15:04:05.999999999 -0700 MST"; processes in the simulated
    # containers run in UTC, so the zone is always "+0000 UTC".
    if value.tzinfo is None:
        raise EventLogError(f"naive datetime {value.isoformat()} in a log field: give it a zone")
    utc = value.astimezone(UTC)
    frac = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return utc.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC"


def _json_default(value: Any) -> Any:
    """JSON for field values JSON lacks: datetimes as RFC 3339 UTC, other objects as ``str``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EventLogError(f"naive datetime {value.isoformat()} in a log field")
        utc = value.astimezone(UTC)
        frac = f".{utc.microsecond:06d}" if utc.microsecond else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    if isinstance(value, set | frozenset):
        # Sorted so that the bytes never depend on set iteration order.
        return sorted(value, key=repr)
    return str(value)


_JSON = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=False, default=_json_default
)
