"""The spec's JSON Schema (``emac schema``) and the loader that reads its key sets from it.

The schema must accept every shipped config and the paper's spec, reject what the loader rejects
as a structural mistake (a misspelt operator, an unknown key), and stay in step with the loader:
for every mapping of a real spec, the two agree on whether one more key is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import config_files
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from emac_sim.errors import SpecError
from emac_sim.operators import OPERATOR_TYPES, REGISTRY
from emac_sim.operators.base import SHARED_SHAPES
from emac_sim.spec import dump_spec, load_spec, load_spec_text
from emac_sim.spec import schema as S


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(S.journey_schema())


def _errors(validator: Draft202012Validator, doc: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = S.journey_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_reference_resolves() -> None:
    schema = S.journey_schema()

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = set(refs(schema))
    assert found, "the schema refers to no shared shape"
    for ref in found:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"], ref
    for shape in SHARED_SHAPES:  # what operator fragments may refer to
        assert shape in schema["$defs"], shape


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
def test_accepts_every_shipped_config_and_its_dump(validator: Draft202012Validator, path: Path) -> None:
    assert _errors(validator, yaml.safe_load(path.read_text(encoding="utf-8"))) == []
    # what the dumper writes is a spec too
    assert _errors(validator, yaml.safe_load(dump_spec(load_spec(path)))) == []


DATA_SPECS = sorted((Path(__file__).resolve().parent / "data" / "compile").glob("*.yaml"))


@pytest.mark.parametrize("path", DATA_SPECS, ids=lambda p: p.name)
def test_accepts_the_test_data_specs_of_both_kinds(validator: Draft202012Validator, path: Path) -> None:
    """JourneyIntent and DiscoveredJourneyModel documents the loader reads."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["kind"] in S.enum("document", "kind")
    load_spec(path)
    assert _errors(validator, doc) == []


def test_accepts_the_paper_spec(validator: Draft202012Validator, paper_spec: Path) -> None:
    assert _errors(validator, yaml.safe_load(paper_spec.read_text(encoding="utf-8"))) == []
    load_spec(paper_spec)  # and the loader agrees


SEARCH = Path(__file__).resolve().parents[1] / "configs" / "search.yaml"


def _search() -> dict:
    return yaml.safe_load(SEARCH.read_text(encoding="utf-8"))


def _load_error(doc: dict) -> str:
    with pytest.raises(SpecError) as info:
        load_spec_text(yaml.safe_dump(doc, sort_keys=False), source="t.yaml")
    return info.value.line()


def test_rejects_a_misspelt_operator_type(validator: Draft202012Validator) -> None:
    doc = _search()
    doc["spec"]["operator"]["steps"][1]["type"] = "retyr"
    err = best_match(validator.iter_errors(doc))
    assert err is not None and list(err.absolute_path) == ["spec", "operator", "steps", 1, "type"]
    assert err.message.startswith("'retyr' is not one of ['series', 'parallel', 'race'")
    assert _load_error(doc) == "t.yaml: spec.operator.steps[1].type: unknown operator type 'retyr' (did you mean 'retry'?)"

    doc = _search()
    doc["spec"]["operator"]["type"] = "seris"
    err = best_match(validator.iter_errors(doc))
    assert err is not None and list(err.absolute_path) == ["spec", "operator", "type"]
    assert _load_error(doc) == "t.yaml: spec.operator.type: unknown operator type 'seris' (did you mean 'series'?)"


def test_rejects_a_misspelt_top_level_key(validator: Draft202012Validator) -> None:
    doc = _search()
    doc["metdata"] = doc.pop("metadata")
    assert "Additional properties are not allowed ('metdata' was unexpected)" in " ".join(_errors(validator, doc))
    assert _load_error(doc) == "t.yaml: metdata: unknown key 'metdata' (did you mean 'metadata'?)"

    doc = _search()
    doc["spec"]["operatr"] = doc["spec"].pop("operator")
    assert "spec: Additional properties are not allowed ('operatr' was unexpected)" in _errors(validator, doc)
    assert _load_error(doc) == "t.yaml: spec.operatr: unknown key 'operatr' (did you mean 'operator'?)"


def _mappings(node: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        yield path
        for k, v in node.items():
            yield from _mappings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _mappings(v, (*path, i))


@pytest.mark.parametrize("name", ["search.yaml", "checkout.yaml", "capacity.yaml"])
def test_schema_and_loader_agree_on_an_extra_key_in_every_mapping(validator: Draft202012Validator, configs_dir: Path, name: str) -> None:
    """The loader's key sets are the schema's: wherever a real spec has a mapping, one more key is
    refused by both (with the loader's ``unknown key`` line) or accepted by both (free-form parts)."""
    original = yaml.safe_load((configs_dir / name).read_text(encoding="utf-8"))
    checked = refused = 0
    for where in _mappings(original):
        doc = copy.deepcopy(original)
        target = doc
        for k in where:
            target = target[k]
        target["zzextra"] = 1
        schema_refuses = bool(_errors(validator, doc))
        try:
            load_spec_text(yaml.safe_dump(doc, sort_keys=False), source="t.yaml", base_dir=configs_dir)
            loader_error = None
        except SpecError as err:
            loader_error = err.line()
        shown = ".".join(map(str, where)) or "<top>"
        assert schema_refuses == (loader_error is not None), f"{name} {shown}: schema refuses {schema_refuses}, loader {loader_error}"
        if loader_error is not None:
            assert "zzextra" in loader_error, (shown, loader_error)
            refused += 1
        checked += 1
    assert refused > 10 and checked > refused


def test_every_registered_operator_contributes_its_fragment() -> None:
    schema = S.journey_schema()
    defs = schema["$defs"]
    assert list(REGISTRY) == list(OPERATOR_TYPES)
    assert set(defs["node"]["properties"]["type"]["enum"]) == {*REGISTRY, "ref"}
    for op, cls in REGISTRY.items():
        assert "schema" in vars(cls), f"{cls.__name__} does not declare its schema fragment"
        fragment = cls.schema()
        d = defs[f"operator.{op}"]
        assert d["properties"]["type"] == {"const": op}
        assert tuple(d["properties"]) == ("type", *fragment["properties"], "name", "description")
        assert d["required"] == ["type", *fragment.get("required", [])]
        assert d["additionalProperties"] is False
        assert cls.keys == tuple(fragment["properties"]) and cls.keys, op
        assert S.allowed(f"operator.{op}") == ("type", *cls.keys, "name", "description")
        # dispatched from the node shape, with and without a choice weight beside it
        cases = [c["then"]["$ref"] for c in defs["node"]["allOf"]]
        assert f"#/$defs/operator.{op}" in cases
        assert f"weighted.operator.{op}" in defs


def test_emac_schema_prints_the_schema(cli, tmp_path: Path) -> None:
    r = cli("schema")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout) == S.journey_schema()
    assert r.stdout == json.dumps(S.journey_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert r.stdout == S.schema_text()

    out = tmp_path / "sub" / "emac.schema.json"
    r = cli("schema", "--out", out)
    assert r.exit_code == 0 and r.stdout == "", r
    assert out.read_text(encoding="utf-8") == S.schema_text()
    assert [p.name for p in out.parent.iterdir()] == ["emac.schema.json"]  # no temporary file left behind

    r = cli("schema", "--out", tmp_path)
    assert r.exit_code == 2
    assert r.stderr == f"emac schema: --out {tmp_path}: is a directory or a special file; give a file name\n"


def test_journey_schema_returns_a_copy() -> None:
    s = S.journey_schema()
    s["$defs"].clear()
    assert S.journey_schema()["$defs"]


def test_a_spec_carrying_the_yaml_language_server_comment_loads(tmp_path: Path, validator: Draft202012Validator) -> None:
    text = "# yaml-language-server: $schema=./emac.schema.json\n" + SEARCH.read_text(encoding="utf-8")
    (tmp_path / "emac.schema.json").write_text(S.schema_text(), encoding="utf-8")
    spec = tmp_path / "search.yaml"
    spec.write_text(text, encoding="utf-8")
    with_comment, plain = load_spec(spec), load_spec(SEARCH)
    assert replace(with_comment, source="", inputs=()) == replace(plain, source="", inputs=())
    assert load_spec_text(text, source="t.yaml").name == "search"
    assert _errors(validator, yaml.safe_load(text)) == []
