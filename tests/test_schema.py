"""sim.schema against the loader it describes.

The keys are compared with what ``sim/scenario.py`` reads (found with ``ast``, so a new key in
the loader fails here until the schema has it), every shipped scenario validates, documents the
loader refuses are refused by the schema too, value patterns agree with the parsers, and
``docs/scenario-reference.md`` is exactly what :func:`sim.schema.render_reference` renders.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from sim import scenario as loader
from sim.clock import ClockError, parse_duration
from sim.network import EFFECTS, NetworkError, Taint, Toleration
from sim.profiles import SPIRE_VERSIONS
from sim.registration import Selector
from sim.schema import SCHEMA_ID, render_reference, scenario_schema
from sim.spiffeid import SpiffeID, SpiffeIDError, TrustDomain

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_PY = ROOT / "sim" / "scenario.py"
DOCS = ROOT / "docs" / "scenario-reference.md"
REGENERATE = "python -m sim schema --markdown > docs/scenario-reference.md"
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml")) + sorted(
    (ROOT / "sim" / "data" / "scenarios").glob("*.yaml")
)

SCHEMA = scenario_schema()
VALIDATOR = Draft202012Validator(SCHEMA)


def _format_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]})


# --- what the loader reads, from its source ----------------------------------------------------


@dataclass(frozen=True)
class MappingCall:
    """One ``self.mapping(node, keys, required)`` call of the loader."""

    line: int
    function: str
    keys: tuple[str, ...] | None  # None: not a literal the test can resolve
    required: tuple[str, ...] | None
    strings: tuple[str, ...]  # every key name visible in the call, resolved or not

    @property
    def where(self) -> str:
        return f"sim/scenario.py:{self.line} ({self.function})"


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _assigned(body: list[ast.stmt]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        if isinstance(target, ast.Name):
            found = _literal(value)
            if found is not None:
                out[target.id] = found
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):  # name -> keys: the names are not keys
        for item in value.values():
            yield from _strings(item)


@dataclass
class Loader:
    constants: dict[str, Any]
    calls: list[MappingCall]

    def keys(self) -> dict[str, list[str]]:
        """Every key name the loader knows -> where it is named."""
        out: dict[str, list[str]] = {}
        for call in self.calls:
            for key in call.strings:
                out.setdefault(key, []).append(call.where)
        for name, value in self.constants.items():
            if name.endswith(("_KEYS", "_REQUIRED")):
                for key in _strings(value):
                    out.setdefault(key, []).append(f"sim/scenario.py {name}")
        return out


def _read_loader(source: str) -> Loader:
    tree = ast.parse(source, filename=str(SCENARIO_PY))
    constants = _assigned(tree.body)
    calls: list[MappingCall] = []

    def resolve(node: ast.AST | None, local: dict[str, Any]) -> tuple[tuple[str, ...] | None, list]:
        if node is None:
            return (), []
        if isinstance(node, ast.Name):
            value = local.get(node.id, constants.get(node.id))
            if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
                return tuple(value), list(value)
            return None, []
        if isinstance(node, ast.Tuple | ast.List):
            out: list[str] = []
            complete = True
            for elt in node.elts:
                if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                    out.append(elt.value)
                    continue
                inner = elt.value if isinstance(elt, ast.Starred) else elt
                found, seen = resolve(inner, local)
                out += seen
                if found is None:
                    complete = False
            return (tuple(out) if complete else None), out
        return None, []

    class Visitor(ast.NodeVisitor):
        def __init__(self) -> None:
            self.stack: list[tuple[str, dict[str, Any]]] = []

        def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
            body = [n for n in ast.walk(node) if isinstance(n, ast.stmt)]
            self.stack.append((node.name, _assigned(body)))
            self.generic_visit(node)
            self.stack.pop()

        def visit_Call(self, node: ast.Call) -> None:
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "mapping"
                and isinstance(func.value, ast.Name)
                and func.value.id == "self"
                and self.stack
            ):
                name, local = self.stack[-1]
                kwargs = {k.arg: k.value for k in node.keywords}
                args = [*node.args[1:3]]
                keys_node = args[0] if args else kwargs.get("keys")
                required_node = args[1] if len(args) > 1 else kwargs.get("required")
                keys, seen_keys = resolve(keys_node, local)
                required, seen_required = resolve(required_node, local)
                calls.append(
                    MappingCall(node.lineno, name, keys, required, tuple(seen_keys + seen_required))
                )
            self.generic_visit(node)

    Visitor().visit(tree)
    return Loader(constants, calls)


LOADER = _read_loader(SCENARIO_PY.read_text(encoding="utf-8"))


def _schema_objects() -> list[tuple[str, dict[str, Any]]]:
    """(where, object schema) for every object with fixed keys."""
    out = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            kinds = kind if isinstance(kind, list) else [kind]
            if "object" in kinds and "properties" in node:
                out.append((where, node))
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}/{i}")

    walk(SCHEMA, "#")
    return out


SCHEMA_OBJECTS = _schema_objects()


def _schema_keys() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for where, obj in SCHEMA_OBJECTS:
        for key in obj["properties"]:
            out.setdefault(key, []).append(where)
    return out


# Loader functions whose mapping() keys are built at run time, and the test that covers them.
DYNAMIC = {"event": "test_event_kinds_match_the_loader"}


def test_the_loader_reads_mappings() -> None:
    assert len(LOADER.calls) >= 20
    assert "_TOP_KEYS" in LOADER.constants and "_EVENT_KEYS" in LOADER.constants


def _missing_from_schema(ld: Loader) -> dict[str, list[str]]:
    schema_keys = _schema_keys()
    return {k: sorted(set(v)) for k, v in sorted(ld.keys().items()) if k not in schema_keys}


def _missing_message(missing: dict[str, list[str]]) -> str:
    return (
        "keys the loader accepts but the schema lacks (describe them in sim/schema.py, then "
        f"`{REGENERATE}`):\n"
        + "\n".join(f"  {k!r}: read at {', '.join(v)}" for k, v in missing.items())
    )


def test_every_key_the_loader_reads_is_in_the_schema() -> None:
    missing = _missing_from_schema(LOADER)
    assert not missing, _missing_message(missing)


def test_every_schema_key_is_read_by_the_loader() -> None:
    loader_keys = LOADER.keys()
    extra = {k: v for k, v in _schema_keys().items() if k not in loader_keys}
    assert not extra, "keys in the schema that sim/scenario.py does not read:\n" + "\n".join(
        f"  {k!r} at {', '.join(v)}" for k, v in sorted(extra.items())
    )


def _props(obj: dict[str, Any]) -> set[str]:
    return set(obj["properties"])


@pytest.mark.parametrize(
    "call",
    [c for c in LOADER.calls if c.keys is not None],
    ids=lambda c: f"{c.function}:{c.keys[0] if c.keys else ''}",
)
def test_each_mapping_the_loader_reads_is_a_schema_object(call: MappingCall) -> None:
    assert call.keys is not None and call.required is not None
    keys, required = set(call.keys), set(call.required)
    same = [(w, o) for w, o in SCHEMA_OBJECTS if _props(o) == keys]
    if not same:
        best = max(SCHEMA_OBJECTS, key=lambda wo: len(_props(wo[1]) & keys))
        closest = (
            f"closest is {best[0]}: missing {sorted(keys - _props(best[1]))}, "
            f"extra {sorted(_props(best[1]) - keys)}"
            if _props(best[1]) & keys
            else "no schema object shares any of them"
        )
        pytest.fail(
            f"{call.where} reads a mapping with keys {sorted(keys)}, which no schema object has "
            f"({closest}); describe it in sim/schema.py"
        )
    for where, obj in same:
        assert set(obj.get("required", [])) == required, (
            f"{call.where} requires {sorted(required)}; the schema object at {where} requires "
            f"{sorted(obj.get('required', []))}"
        )


def test_mapping_calls_with_run_time_keys_are_covered() -> None:
    unknown = [c.where for c in LOADER.calls if c.keys is None and c.function not in DYNAMIC]
    assert not unknown, (
        f"cannot read the keys of mapping() at {unknown}: use literal tuples or named *_KEYS "
        "constants there, or teach tests/test_schema.py how that function builds its keys"
    )


def test_event_kinds_match_the_loader() -> None:
    event_keys: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = LOADER.constants["_EVENT_KEYS"]
    by_kind = {}
    for ref in SCHEMA["properties"]["events"]["items"]["oneOf"]:
        obj = SCHEMA["$defs"][ref["$ref"].removeprefix("#/$defs/")]
        by_kind[obj["properties"]["do"]["const"]] = obj
    assert sorted(by_kind) == sorted(event_keys)
    for kind, (keys, required) in event_keys.items():
        obj = by_kind[kind]
        assert set(obj["properties"]) == {"at", "do", *keys}, kind
        assert set(obj["required"]) == {"at", "do", *required}, kind


def test_top_level_keys_match() -> None:
    top = set(SCHEMA["properties"])
    assert top == set(LOADER.constants["_TOP_KEYS"])
    assert SCHEMA["required"] == list(LOADER.constants["_TOP_REQUIRED"])


def test_the_drift_check_names_new_loader_keys() -> None:
    """Keys added to the loader are reported by name and place (the check is not vacuous)."""
    source = SCENARIO_PY.read_text(encoding="utf-8")
    patched = source.replace(
        '("start", "availability_target")', '("start", "availability_target", "probe_drain")'
    ).replace(
        "    def events(self, node: YamlNode)",
        "    def probe(self, node: YamlNode) -> None:\n"
        '        self.mapping(node, ("probe_window", "probe_result"), ("probe_result",))\n\n'
        "    def events(self, node: YamlNode)",
    )
    assert patched.count("probe_drain") == 1 and patched.count("probe_window") == 1
    before = _missing_from_schema(LOADER)
    after = _missing_from_schema(_read_loader(patched))
    new = {k: v for k, v in after.items() if k not in before}
    assert sorted(new) == ["probe_drain", "probe_result", "probe_window"]
    message = _missing_message(new)
    assert "'probe_window': read at sim/scenario.py:" in message and "(probe)" in message


# --- choices and defaults equal the loader's --------------------------------------------------


def _defs(name: str) -> dict[str, Any]:
    return SCHEMA["$defs"][name]["properties"]


def test_choices_are_the_loaders() -> None:
    spire = _defs("profile")["spire"]["enum"]
    assert [v for v in spire if isinstance(v, str)] == list(SPIRE_VERSIONS)
    assert _defs("profile")["ghostunnel"]["enum"] == list(loader.GHOSTUNNEL_PROFILES)
    for name in ("bundle_endpoint", "relationship"):
        assert _defs(name)["profile"]["enum"] == list(loader._ENDPOINT_PROFILES)
    modes = re.findall(r"[\w.]+", str(loader.Sidecar.__dataclass_fields__["mode"].type))
    assert modes[1:] == _defs("sidecar")["ghostunnel"]["enum"]
    for effect in EFFECTS:
        assert effect in SCHEMA["$defs"]["taint"]["pattern"]


def _field_defaults(cls: type) -> dict[str, Any]:
    return {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }


# schema object -> the loader's dataclass holding its defaults
DATACLASSES = {
    "top": loader.Scenario,
    "profile": loader.Profile,
    "node": loader.Node,
    "trust_domain_spec": loader.TrustDomainSpec,
    "server": loader.Server,
    "generated_root": loader.GeneratedRoot,
    "bundle_endpoint": loader.BundleEndpoint,
    "serving_cert": loader.ServingCert,
    "relationship": loader.FederationRelationship,
    "agent": loader.Agent,
    "entry": loader.Entry,
    "workload": loader.Workload,
    "sidecar": loader.Sidecar,
}
# Defaults the loader resolves from elsewhere (the schema says so in x-default or the text).
RESOLVED = {("entry", "ttl")}  # 0: the server's svid_ttl
# Keys whose dataclass field has another name.
FIELD = {("sidecar", "allow_uri"): "allow_uris", ("sidecar", "verify_uri"): "verify_uris"}


def _properties(name: str) -> dict[str, Any]:
    return SCHEMA["properties"] if name == "top" else _defs(name)


def _default_cases() -> list[tuple[str, str, Any]]:
    return [
        (name, key, prop["default"])
        for name in DATACLASSES
        for key, prop in _properties(name).items()
        if "default" in prop and (name, key) not in RESOLVED
    ]


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):  # a mapping of names reads as a tuple of items
        return list(value.items())
    return list(value) if isinstance(value, tuple | list) else value


@pytest.mark.parametrize("name,key,default", _default_cases(), ids=str)
def test_defaults_are_the_loaders(name: str, key: str, default: Any) -> None:
    expected = _field_defaults(DATACLASSES[name])[FIELD.get((name, key), key)]
    if isinstance(default, str) and isinstance(expected, float):
        default = parse_duration(default)
    assert _comparable(default) == _comparable(expected), (
        f"{name}.{key}: schema {default!r}, loader {expected!r}"
    )


def test_every_dataclass_default_is_in_the_schema() -> None:
    loose = []
    for name, cls in DATACLASSES.items():
        props = _properties(name)
        for field_name in _field_defaults(cls):
            prop = props.get(field_name)
            if prop is not None and "default" not in prop and "x-default" not in prop:
                loose.append(f"{name}.{field_name}")
    assert not loose, f"keys with a loader default but no default in the schema: {loose}"


# --- shipped scenarios, and documents both sides refuse ----------------------------------------


def _plain(value: Any) -> Any:
    """YAML data as JSON Schema sees it: timestamps become RFC 3339 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _document(path: Path) -> Any:
    return _plain(yaml.safe_load(path.read_text(encoding="utf-8")))


def _errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<top>'}: {e.message}"
        for e in sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SCHEMA_ID and SCHEMA["title"] and SCHEMA["description"]


def test_scenario_schema_returns_a_fresh_copy() -> None:
    mine = scenario_schema()
    mine["$defs"]["server"]["properties"].clear()
    assert scenario_schema() == SCHEMA


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_scenario_validates(path: Path) -> None:
    assert _errors(_document(path)) == []


def test_there_are_shipped_scenarios() -> None:
    names = {str(p.relative_to(ROOT)) for p in SHIPPED}
    assert {"scenarios/seed.yaml", "sim/data/scenarios/seed.yaml"} <= names
    assert any(n.startswith("scenarios/rotation/") for n in names)


SEED = _document(ROOT / "scenarios" / "seed.yaml")


def _seed() -> dict[str, Any]:
    return copy.deepcopy(SEED)


def _foo(d: dict[str, Any]) -> dict[str, Any]:
    return d["trust_domains"]["foo.example.com"]


def _event(d: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e for e in d["events"] if e["do"] == kind)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting (or, with value _DELETE, deleting) the key at a dotted path."""

    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = d
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()
FOO = "trust_domains/foo.example.com"
CLIENT = "workloads/client"


def _web_profile(d: dict[str, Any]) -> None:
    d["profile"]["spire"] = "1.x"
    _foo(d)["server"]["bundle_endpoint"]["profile"] = "https_web"


def _both_disk_sources(d: dict[str, Any]) -> None:
    _foo(d)["server"]["upstream_authority"]["disk"]["cert_file"] = str(SCENARIO_PY)
    _foo(d)["server"]["upstream_authority"]["disk"]["key_file"] = str(SCENARIO_PY)


def _web_relationship_with_id(d: dict[str, Any]) -> None:
    d["profile"]["spire"] = "1.x"
    _foo(d)["server"]["federates_with"]["bar.example.com"]["profile"] = "https_web"


INVALID: dict[str, Callable[[dict[str, Any]], None]] = {
    "unknown top-level key": _set("duraton", "1h"),
    "unknown server key": _set(f"{FOO}/server/svid_tll", "1h"),
    "unknown entry key": _set(f"{FOO}/entries/0/parentID", "spiffe://foo.example.com/x"),
    "unknown event key": lambda d: _event(d, "bundle_set").update(peers="bar.example.com"),
    "unknown ghostunnel version": _set("profile/ghostunnel", "1.7.0"),
    "unknown sidecar mode": _set(f"{CLIENT}/sidecar/ghostunnel", "proxy"),
    "unknown endpoint profile": _set(f"{FOO}/server/bundle_endpoint/profile", "https"),
    "unknown event kind": lambda d: _event(d, "workload_restart").update(do="pod_restart"),
    "bad duration unit": _set("duration", "5h30x"),
    "duration with a blank inside": _set("duration", "5h 30m"),
    "negative duration": _set(f"{FOO}/server/start", "-5s"),
    "zero positive duration": _set(f"{CLIENT}/traffic/every", "0s"),
    "zero as a number": _set(f"{FOO}/server/svid_ttl", 0),
    "boolean duration": _set(f"{FOO}/agent/start", True),
    "bad SPIFFE ID": _set(f"{CLIENT}/sidecar/verify_uri", ["spiffe://Foo.example.com/x"]),
    "SPIFFE ID with a dot segment": _set(
        f"{FOO}/entries/0/spiffe_id", "spiffe://foo.example.com/."
    ),
    "bad taint": _set("cluster/nodes/spire-federation-worker/taints", ["app=foo"]),
    "bad taint effect": _set("cluster/nodes/spire-federation-worker/taints", ["app=foo:Never"]),
    "bad toleration effect": _set(f"{FOO}/tolerations", ["app=foo:Never"]),
    "host without a port": _set(f"{CLIENT}/sidecar/listen", "0.0.0.0"),
    "port out of range": _set("workloads/http-server/service/port", 70000),
    "port as text": _set("workloads/http-server/service/port", "18443"),
    "bad selector": _set(f"{FOO}/entries/0/selectors", ["k8s_psat"]),
    "no selectors": _set(f"{FOO}/entries/0/selectors", []),
    "bad URL": _set(f"{CLIENT}/traffic/curl", "localhost:8080"),
    "bad start": _set("start", "2019-12-17"),
    "bad workload name": lambda d: d["workloads"].update(Client=d["workloads"].pop("client")),
    "bad namespace": _set(f"{FOO}/namespace", "Foo"),
    "bad label value": _set(f"{CLIENT}/labels", {"app": "-client"}),
    "negative seed": _set("seed", -1),
    "empty name": _set("name", ""),
    "missing duration": _set("duration", _DELETE),
    "missing namespace": _set(f"{FOO}/namespace", _DELETE),
    "missing peer": lambda d: _event(d, "bundle_set").pop("peer"),
    "missing sidecar target": _set(f"{CLIENT}/sidecar/target", _DELETE),
    "missing parent_id": lambda d: _event(d, "entry_create")["entry"].pop("parent_id"),
    "parent_id on a node entry": _set(f"{FOO}/entries/0/parent_id", "spiffe://foo.example.com/x"),
    "no trust domains": _set("trust_domains", {}),
    "no nodes": _set("cluster/nodes", {}),
    "https_web without serving_cert": _web_profile,
    "endpoint_spiffe_id with https_web": _web_relationship_with_id,
    "both generate and files": _both_disk_sources,
    "allow_uri on a client": _set(f"{CLIENT}/sidecar/allow_uri", ["spiffe://foo.example.com/x"]),
    "verify_uri on a server": _set("workloads/http-server/sidecar/verify_uri", []),
    "list instead of a mapping": _set(f"{FOO}/server", []),
}


def _loader_accepts(document: Any) -> bool:
    text = yaml.safe_dump(document, sort_keys=False)
    try:
        loader.parse_scenario(text, "mutated.yaml")
    except loader.ScenarioError:
        return False
    return True


# The loader must refuse these with a ScenarioError (an unknown version once escaped as a bare
# ValueError: the loader kept Profile(spire=_BAD) and passed it on).
INVALID["unknown spire version"] = _set("profile/spire", "2.0")


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_document_is_rejected_by_schema_and_loader(case: str) -> None:
    document = _seed()
    INVALID[case](document)
    assert _errors(document), f"the schema accepts it ({case})"
    assert not _loader_accepts(document), f"the loader accepts it: the case is wrong ({case})"


VALID: dict[str, Callable[[dict[str, Any]], None]] = {
    "durations as numbers": lambda d: d.update(duration=19800, seed=7),
    "unquoted SPIRE version": _set("profile/spire", 0.9),
    "duration components in any order": _set("duration", "30m5h"),
    "fractional durations": _set(f"{FOO}/server/start", "0.5m"),
    "empty lists": lambda d: _foo(d).update(tolerations=None, entries=None),
    "a node with no value": _set("cluster/nodes/spire-federation-worker", None),
    "trust domain by SPIFFE ID": lambda d: _event(d, "bundle_set").update(
        trust_domain="spiffe://foo.example.com"
    ),
    "federates_with by name": _set(f"{FOO}/server/federates_with/bar.example.com/port", 443),
    "toleration operator Exists": _set(f"{FOO}/tolerations", ["app"]),
    "bracketed IPv6 listen": _set(f"{CLIENT}/sidecar/listen", "[::]:8080"),
    "instant with an offset": _set("start", "2019-12-17T09:00:00+09:00"),
    "bundle_set with ca_of": lambda d: _event(d, "bundle_set").update(ca_of="foo.example.com"),
}


@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_variant_is_accepted_by_schema_and_loader(case: str) -> None:
    document = _seed()
    VALID[case](document)
    assert _errors(document) == []
    assert _loader_accepts(document), case


def test_expect_items_are_free_form_for_now() -> None:
    document = _seed()
    document["expect"] = [{"during": ["10m", "1h30m"], "requests": {"from": "client"}}]
    assert _errors(document) == []
    document["expect"] = ["not a mapping"]
    assert _errors(document)


# --- value formats agree with the parsers ------------------------------------------------------


def _accepts(parse: Callable[[str], Any]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parse(text)
        except (ValueError, ClockError, SpiffeIDError, NetworkError):
            return False
        return True

    return check


def _positive(text: str) -> bool:
    try:
        seconds = parse_duration(text)
    except ClockError:
        return False
    return math.isfinite(seconds) and seconds > 0


FORMATS: dict[str, tuple[Callable[[str], bool], list[str]]] = {
    "duration": (
        _accepts(parse_duration),
        [
            "90s",
            "1h30m",
            "30m1h",
            "1.5h",
            ".5s",
            "1.s",
            "500ms",
            "3d",
            "0",
            "0s",
            "12",
            " 1h ",
            "",
            "12x",
            "1h 30m",
            "-5s",
            "+5s",
            "1us",
            "h",
            "1h30",
            "1e3",
            "1:30",
            "1hm",
        ],
    ),  # fmt: skip
    "positive_duration": (_positive, ["10s", "0.001ms", "0s", "0", "0.0h", "00m", "1"]),
    "spiffe_id": (
        _accepts(SpiffeID.parse),
        [
            "spiffe://foo.example.com/http-server",
            "spiffe://foo.example.com",
            "spiffe://a_b-c.d/A.b",
            "spiffe://Foo.example.com",
            "spiffe://foo.example.com/",
            "spiffe://foo//x",
            "spiffe://foo/./x",
            "spiffe://foo/..",
            "spiffe:///x",
            "http://foo/x",
            "SPIFFE://foo",
            "spiffe://foo:8443/x",
            "spiffe://foo/x%20",
            "spiffe://" + "a" * 256,
            "spiffe://foo/" + "a" * 2100,
            "spiffe://foo/.hidden/..x",
        ],
    ),  # fmt: skip
    "trust_domain": (
        _accepts(TrustDomain.parse),
        [
            "foo.example.com",
            "spiffe://foo.example.com",
            "spiffe://foo.example.com/x",
            "Foo",
            "",
            "foo/bar",
            "spiffe:/foo",
            "a" * 256,
        ],
    ),  # fmt: skip
    "trust_domain_name": (_accepts(TrustDomain), ["foo.example.com", "spiffe://foo", "Foo", ""]),
    "taint": (
        _accepts(Taint.parse),
        [
            "app=foo:NoSchedule",
            "app:NoExecute",
            "node-role.kubernetes.io/master:NoSchedule",
            "app=:NoSchedule",
            "app=a:b:NoSchedule",
            "app=foo",
            "app=foo:Sometimes",
            ":NoSchedule",
            "=foo:NoSchedule",
            "-app=foo:NoSchedule",
            "app=foo:NoSchedule:",
            "a/b/c:NoSchedule",
        ],
    ),  # fmt: skip
    "toleration": (
        _accepts(Toleration.parse),
        [
            "app",
            "app=foo",
            "app:NoSchedule",
            "app=foo:NoSchedule",
            "app=foo:",
            "app:",
            "app=foo:bar",
            "",
            "=foo",
            ":NoSchedule",
            "app=a:b:NoSchedule",
            "app=a:b",
        ],
    ),  # fmt: skip
    "host_port": (
        _accepts(loader._parse_host_port),
        [
            "0.0.0.0:8443",
            "127.0.0.1:8080",
            "[::]:8443",
            "[::1]:80",
            "::1:80",
            "localhost:0",
            "localhost:65536",
            "localhost:065535",
            "localhost",
            ":80",
            "host_name:80",
            "-bad:80",
            "a..b:80",
            "example.com.:80",
            "[example.com]:80",
            "a:b:80",
        ],
    ),  # fmt: skip
    "selector": (
        _accepts(Selector.parse),
        ["k8s:pod-label:app:x", "a:b", "k8s", ":x", "k8s:", "a::"],
    ),
    "url": (
        _accepts(loader._url),
        [
            "http://localhost:8080/",
            "https://x",
            "HTTP://x/",
            "http://x:0/",
            "http://x:65535",
            "http://x:65536",
            "ftp://x",
            "http:///path",
            "localhost:8080",
            "http://user@x/",
            "http://[::1]:8080/",
            "http://x:abc/",
            "http://x?q",
        ],
    ),  # fmt: skip
    "dns_name": (
        _accepts(lambda t: loader._DNS_NAME.fullmatch(t) or _raise()),
        ["http-server", "*.example.com", "a.*.b", "-a", "a_b.c", ""],
    ),
}


def _raise() -> None:
    raise ValueError("no match")


# Where the schema is looser than the loader (Python's ipaddress decides what an IPv6 is).
KNOWN_LOOSER = {("host_port", "a:b:80")}


def _format_cases() -> list[tuple[str, str]]:
    return [(name, text) for name, (_, texts) in FORMATS.items() for text in texts]


@pytest.mark.parametrize("name,text", _format_cases())
def test_format_agrees_with_the_parser(name: str, text: str) -> None:
    parser_ok = FORMATS[name][0](text)
    schema_ok = _format_validator(name).is_valid(text)
    if (name, text) in KNOWN_LOOSER:
        assert schema_ok
        return
    assert schema_ok == parser_ok, f"{name} {text!r}: parser {parser_ok}, schema {schema_ok}"


# --- the reference ------------------------------------------------------------------------------


def test_docs_are_the_rendered_schema() -> None:
    expected = render_reference(scenario_schema())
    actual = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    if actual != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/scenario-reference.md",
                    "render_reference(scenario_schema())",
                )
            )[:40]
        )
        pytest.fail(f"docs/scenario-reference.md is out of date; run `{REGENERATE}`\n{diff}")


def test_rendering_is_deterministic() -> None:
    assert render_reference(scenario_schema()) == render_reference(scenario_schema())


def _example() -> str:
    text = render_reference(SCHEMA)
    start = text.index("```yaml\n") + len("```yaml\n")
    return text[start : text.index("```\n", start)]


def test_the_example_is_the_seed() -> None:
    example = loader.parse_scenario(_example(), "example.yaml")
    assert example == loader.load_scenario(ROOT / "scenarios" / "seed.yaml")
    assert _errors(_plain(yaml.safe_load(_example()))) == []


def test_the_reference_has_a_section_per_object() -> None:
    text = render_reference(SCHEMA)
    for name, definition in SCHEMA["$defs"].items():
        if "properties" in definition or name == "expectation":
            assert f"\n## {definition['title']}\n" in text, name
    for key in ("svid_ttl", "default_x509_svid_ttl", "endpoint_spiffe_id", "allow_uri"):
        assert f"`{key}`" in text
    assert "\n## Value formats\n" in text
