"""The clock maps simulated seconds to UTC instants, and durations to and from the texts that
scenarios, SPIRE and Go print (``12h``, ``1h30m``, ``1h0m0s``).

>>> clock = Clock(parse_datetime("2019-12-17T00:00:00Z"))
>>> clock.rfc3339(parse_duration("29m32s"))
'2019-12-17T00:29:32Z'
>>> clock.golog(parse_duration("5h26m41s") + 0.381518)
'2019/12/17 05:26:41.381518'
>>> format_duration(3600), human_duration(parse_duration("45d15h"))
('1h0m0s', '45d15h')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

__all__ = [
    "Clock",
    "ClockError",
    "format_duration",
    "go_quote",
    "human_duration",
    "parse_datetime",
    "parse_duration",
]


class ClockError(ValueError):
    """An invalid duration, datetime or clock anchor; ``str(exc)`` says which text and why."""


_UNIT_SECONDS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}
# One number followed by letters; the letters are checked against _UNIT_SECONDS afterwards so
# that an unknown unit gets its own message instead of a generic "does not parse".
_COMPONENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zA-Z\u00b5]*)")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_EXPECTED_UNITS = "expected ms, s, m, h or d"

_NS_PER_SECOND = 1_000_000_000


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``: ``90s``, ``1h30m``, ``1d12h``, ``500ms``, ``1.5h`` or a plain number.

    Units are ms, s, m, h and d (a day is 86400 s); components may repeat in any order, as Go's
    ``time.ParseDuration`` allows. Negative durations are refused: nothing in a scenario runs
    backwards.

    >>> parse_duration("1h30m"), parse_duration("500ms"), parse_duration(90)
    (5400.0, 0.5, 90.0)
    >>> parse_duration("12x")
    Traceback (most recent call last):
    sim.clock.ClockError: invalid duration "12x": unknown unit "x" (expected ms, s, m, h or d)
    """
    # bool is an int subclass; True seconds is surely a YAML mistake, not a duration.
    if isinstance(text, bool):
        raise ClockError(f"invalid duration {go_quote(str(text))}: not a number or a duration")
    if isinstance(text, int | float):
        if text != text or text in (float("inf"), float("-inf")):
            raise ClockError(f"invalid duration {go_quote(str(text))}: not finite")
        if text < 0:
            raise ClockError(f"invalid duration {go_quote(str(text))}: must not be negative")
        return float(text)
    if not isinstance(text, str):
        raise ClockError(f"invalid duration {go_quote(str(text))}: not a number or a duration")
    source = text.strip()
    if not source:
        raise ClockError(f"invalid duration {go_quote(text)}: empty")
    if source[0] in "+-":
        raise ClockError(f"invalid duration {go_quote(text)}: must not be signed")
    if _PLAIN_NUMBER.fullmatch(source):
        return float(Decimal(source))
    total = Decimal(0)
    pos = 0
    while pos < len(source):
        match = _COMPONENT.match(source, pos)
        if match is None:
            rest = go_quote(source[pos:])
            raise ClockError(f"invalid duration {go_quote(text)}: expected a number at {rest}")
        number, unit = match.group(1), match.group(2)
        if not unit:
            raise ClockError(
                f"invalid duration {go_quote(text)}: missing unit after {go_quote(number)} "
                f"({_EXPECTED_UNITS})"
            )
        scale = _UNIT_SECONDS.get(unit)
        if scale is None:
            raise ClockError(
                f"invalid duration {go_quote(text)}: unknown unit {go_quote(unit)} "
                f"({_EXPECTED_UNITS})"
            )
        try:
            total += Decimal(number) * scale
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
            raise ClockError(f"invalid duration {go_quote(text)}: bad number") from exc
        pos = match.end()
    return float(total)


def _to_ns(seconds: float) -> int:
    # Go keeps durations and instants as integer nanoseconds; rounding to the nearest one first
    # keeps 0.381518 from printing as 381517 microseconds.
    return round(seconds * _NS_PER_SECOND)


def _frac_digits(value: int, width: int) -> str:
    """``.ddd`` for ``value`` of ``width`` decimal places with trailing zeros trimmed, or ""."""
    if value == 0:
        return ""
    return "." + f"{value:0{width}d}".rstrip("0")


def format_duration(seconds: float) -> str:
    """``seconds`` the way Go's ``time.Duration.String`` prints it (SPIRE logs durations so).

    The rules follow go/src/time/time.go ``Duration.String``: ``0s``; below one second the
    largest of ms, µs and ns that keeps a non-zero integer part; otherwise ``[Nh][Nm]N[.f]s``
    where a present hour forces ``0m``.

    >>> [format_duration(s) for s in (0, 1.5, 2700, 3600, 86400, 0.0015, -90)]
    ['0s', '1.5s', '45m0s', '1h0m0s', '24h0m0s', '1.5ms', '-1m30s']
    """
    ns = _to_ns(seconds)
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < _NS_PER_SECOND:
        if u == 0:
            return "0s"
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return f"{sign}{u // 1_000}{_frac_digits(u % 1_000, 3)}\u00b5s"
        return f"{sign}{u // 1_000_000}{_frac_digits(u % 1_000_000, 6)}ms"
    whole, frac = divmod(u, _NS_PER_SECOND)
    text = f"{whole % 60}{_frac_digits(frac, 9)}s"
    minutes = whole // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def human_duration(seconds: float) -> str:
    """A compact reading such as ``45d15h`` or ``1m30s``: zero parts dropped, days kept.

    The result parses back with :func:`parse_duration` to the same value (to the millisecond).

    >>> [human_duration(s) for s in (0, 90, 3600, 3944.5, 15768000)]
    ['0s', '1m30s', '1h', '1h5m44.5s', '182d12h']
    """
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    whole, rest_ms = divmod(ms, 1000)
    days, rem = divmod(whole, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if secs or rest_ms:
        if secs == 0 and not parts:
            parts.append(f"{rest_ms}ms")
        else:
            parts.append(f"{secs}{_frac_digits(rest_ms, 3)}s")
    return sign + "".join(parts)


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def parse_datetime(text: str | datetime) -> datetime:
    """The UTC instant in an RFC 3339 text (``2019-12-17T00:00:00Z``, offsets converted).

    A ``datetime`` is accepted if it is time-zone aware (YAML loaders may hand one over); a
    naive one is refused because its zone would be a guess. Fractions beyond microseconds are
    truncated, as Python's datetime cannot hold them.

    >>> parse_datetime("2019-12-17T09:00:00+09:00").isoformat()
    '2019-12-17T00:00:00+00:00'
    """
    if isinstance(text, datetime):
        if text.tzinfo is None or text.utcoffset() is None:
            raise ClockError(
                f"invalid datetime {go_quote(text.isoformat())}: missing time zone "
                '(write it like "2019-12-17T00:00:00Z")'
            )
        return text.astimezone(UTC)
    if not isinstance(text, str) or not _RFC3339.fullmatch(text.strip()):
        raise ClockError(
            f'invalid datetime {go_quote(str(text))}: expected RFC 3339 like "2019-12-17T00:00:00Z"'
        )
    source = text.strip()
    source = f"{source[:10]}T{source[11:]}".replace("z", "Z")
    # fromisoformat takes at most 6 fraction digits; truncating mirrors the precision we keep.
    source = re.sub(r"(\.\d{6})\d+", r"\1", source)
    try:
        parsed = datetime.fromisoformat(source)
    except ValueError as exc:
        raise ClockError(f"invalid datetime {go_quote(text)}: {exc}") from exc
    return parsed.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class Clock:
    """Simulated time zero is ``start`` (a UTC instant); sim seconds count from there.

    Instants are resolved to whole microseconds (rounded: a sim time of ``0.381518`` means that
    microsecond, whatever its binary float spelling), the finest any rendering shows. Formatting
    then truncates as the products do: whole seconds for RFC 3339 (Go's ``time.RFC3339`` layout)
    and microseconds for Go's ``log``.
    """

    start: datetime
    # Derived from start once, because every rendered log line needs it.
    _start_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.start, datetime):
            raise ClockError(f"invalid clock start {go_quote(str(self.start))}: not a datetime")
        # parse_datetime validates awareness and normalises to UTC in one place.
        start = parse_datetime(self.start)
        object.__setattr__(self, "start", start)
        delta = start - _EPOCH
        start_us = (delta.days * 86400 + delta.seconds) * _US_PER_SECOND + delta.microseconds
        object.__setattr__(self, "_start_us", start_us)

    @classmethod
    def parse(cls, text: str | datetime) -> Clock:
        """A clock anchored at ``text`` (RFC 3339)."""
        return cls(parse_datetime(text))

    def epoch_us(self, sim_seconds: float) -> int:
        """Unix time in whole microseconds at ``sim_seconds``."""
        return self._start_us + round(sim_seconds * _US_PER_SECOND)

    def to_datetime(self, sim_seconds: float) -> datetime:
        """The UTC instant (aware, microsecond resolution) at ``sim_seconds``."""
        return _EPOCH + timedelta(microseconds=self.epoch_us(sim_seconds))

    def to_sim(self, dt: datetime | str) -> float:
        """Sim seconds at instant ``dt`` (aware datetime or RFC 3339 text); negative if before."""
        delta = parse_datetime(dt) - self.start
        return delta.days * 86400 + delta.seconds + delta.microseconds / _US_PER_SECOND

    def rfc3339(self, sim_seconds: float) -> str:
        """``2019-12-17T00:29:32Z``: whole seconds, as logrus' ``time=`` and SPIRE's ``at=``."""
        return _format_whole_seconds(self.epoch_us(sim_seconds) // _US_PER_SECOND, "rfc3339")

    def timestamp(self, sim_seconds: float) -> str:
        """``2019-12-17T05:26:41.381518Z``: RFC 3339 with a fixed 6-digit fraction (sortable)."""
        secs, us = divmod(self.epoch_us(sim_seconds), _US_PER_SECOND)
        return f"{_format_whole_seconds(secs, 'rfc3339')[:-1]}.{us:06d}Z"

    def golog(self, sim_seconds: float) -> str:
        """``2019/12/17 05:26:41.381518``: Go ``log`` with LstdFlags|Lmicroseconds, in UTC."""
        secs, us = divmod(self.epoch_us(sim_seconds), _US_PER_SECOND)
        return f"{_format_whole_seconds(secs, 'golog')}.{us:06d}"


_last_formatted: dict[str, tuple[int, str]] = {}


def _format_whole_seconds(unix_seconds: int, layout: str) -> str:
    # Logs are written in time order, so consecutive lines usually share a second: remembering
    # the last one skips the datetime arithmetic for most of them.
    cached = _last_formatted.get(layout)
    if cached is not None and cached[0] == unix_seconds:
        return cached[1]
    dt = _EPOCH + timedelta(seconds=unix_seconds)
    if layout == "rfc3339":
        text = (
            f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
        )
    else:
        text = (
            f"{dt.year:04d}/{dt.month:02d}/{dt.day:02d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        )
    _last_formatted[layout] = (unix_seconds, text)
    return text


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}
_NEEDS_GO_ESCAPE = re.compile(r'["\\]|[^\S ]|[\x00-\x1f\x7f]').search


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``): double quotes, Go escapes.

    Printable characters, non-ASCII included, stay as they are (Go's ``unicode.IsPrint`` and
    Python's ``str.isprintable`` agree: letters, marks, numbers, punctuation, symbols, and the
    ASCII space).

    >>> print(go_quote('say "hi"\\tnow\\\\'))
    "say \\"hi\\"\\tnow\\\\"
    """
    if not _NEEDS_GO_ESCAPE(text) and text.isprintable():
        return f'"{text}"'
    out = ['"']
    for ch in text:
        escaped = _GO_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
