"""The JSON Schema (draft 2020-12) of EmaC spec documents — the one declaration of their shape.

``emac schema`` prints it, so editors validate specs (yaml-language-server:
``# yaml-language-server: $schema=emac.schema.json`` on a spec's first line). The loader
(:mod:`emac_sim.spec.loader`) reads from it the keys each mapping accepts, the keys it requires and
the values an enumerated key takes (:func:`allowed`, :func:`required`, :func:`enum`), so a key added
here is a key the loader accepts, with its one-line errors and did-you-mean suggestions unchanged.
What a schema cannot say — ranges that depend on other fields, references to defined components,
matrices that must be positive semidefinite — the loader checks in Python.

The top level (metadata, components and their latency distributions, failure domains, correlation,
objectives, governance, evidence) is declared here; every operator declares its own keys in its
module (:meth:`emac_sim.operators.base.Operator.schema`), so adding an operator does not touch this
file. Properties are listed in the order error messages name them.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from ..model.distributions import DISTRIBUTION_KINDS
from ..operators import OPERATOR_TYPES, REGISTRY
from ..operators.base import NUMBER_TEXT, SHARED_SHAPES, schema_number, schema_ref
from ..units import DURATION_UNITS
from . import limits as L

DIALECT = "https://json-schema.org/draft/2020-12/schema"
API_VERSION = "emac.dev/v1alpha1"
#: ``errorLatency`` values besides a distribution: as the call's latency (the default), or none.
ERROR_LATENCY: tuple[str, ...] = ("same", "fast")

#: A duration as :func:`emac_sim.units.parse_duration` reads it: a number with an optional unit.
DURATION_TEXT = r"^\s*\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*(?:" + "|".join(DURATION_UNITS) + r")?\s*$"

_STRING = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_SCALAR = {"type": ["string", "number", "boolean"]}
_ANY: dict[str, Any] = {}  # free-form: kept as written, not validated
_NUMBER = schema_number()
_PROBABILITY = schema_ref("probability")
_DURATION = schema_ref("duration")
_COMMON = {"name": _STRING, "description": _STRING}  # what every operator node may carry


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    """A closed mapping: only ``properties`` (in message order), ``required`` among them."""
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(more)
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _map_of(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": values}


# --------------------------------------------------------------------------- shared shapes


def _shared() -> dict[str, Any]:
    """The shapes operator fragments refer to (:data:`~emac_sim.operators.base.SHARED_SHAPES`)."""
    return {
        "duration": {
            "description": "A duration: 250ms, 1.5s, 800us, 30d (units ns, us, µs, ms, s, m, h, d, w), or seconds as a number.",
            "type": ["number", "string"],
            "minimum": 0,
            "pattern": DURATION_TEXT,
        },
        "probability": {**schema_number(0.0, 1.0), "description": "A probability in [0, 1]."},
        "number": {**_NUMBER, "description": "A number (or a string holding one)."},
        "componentId": {"type": "string", "minLength": 1, "description": "The id of a component defined under spec.components."},
        "node": {**_dispatch(""), "description": "An operator: {ref: component}, or {type: <operator>, …}."},
        "weightedNode": {**_dispatch("weighted."), "required": ["weight"], "description": "An operator with a weight beside its keys."},
    }


def _dispatch(prefix: str) -> dict[str, Any]:
    """A node: the ``ref`` leaf when it has no ``type``, else the shape of its ``type``."""
    cases: list[dict[str, Any]] = [{"if": {"not": {"required": ["type"]}}, "then": _ref(f"{prefix}ref")}]
    for op in ("ref", *OPERATOR_TYPES):
        cases.append({"if": {"properties": {"type": {"const": op}}, "required": ["type"]}, "then": _ref(f"{prefix}operator.{op}")})
    return {
        "type": "object",
        "properties": {"type": {"enum": [*OPERATOR_TYPES, "ref"], "description": "The operator (docs/semantics.md)."}},
        "allOf": cases,
    }


def _operators() -> dict[str, Any]:
    """The leaf and every registered operator's fragment, with ``type``, ``name`` and ``description``;
    and each of them with a ``weight`` beside (``weighted.<name>``, a choice branch written inline)."""
    defs: dict[str, Any] = {
        "ref": _object({"ref": schema_ref("componentId"), **_COMMON}, ("ref",)),
        "operator.ref": _object({"type": {"const": "ref"}, "component": schema_ref("componentId"), **_COMMON}, ("type", "component")),
    }
    for op, cls in REGISTRY.items():
        fragment = cls.schema()
        rest = {k: v for k, v in fragment.items() if k not in ("properties", "required")}
        defs[f"operator.{op}"] = _object(
            {"type": {"const": op}, **fragment["properties"], **_COMMON},
            ("type", *fragment.get("required", ())),
            description=" ".join((cls.__doc__ or op).split("\n\n")[0].split()),
            **rest,
        )
    weight = {"weight": schema_number(minimum=0.0)}
    for name in list(defs):
        defs[f"weighted.{name}"] = {**defs[name], "properties": {**weight, **defs[name]["properties"]}}
    return defs


# --------------------------------------------------------------------------- distributions


def _distributions() -> dict[str, Any]:
    """``{dist: …}`` mappings (DESIGN §3 table): one closed shape per kind."""
    latency = _DURATION
    params: dict[str, dict[str, Any]] = {
        "lognormal": {"p50": latency, "p99": latency, "mu": schema_number(*L.MU_RANGE), "sigma": schema_number(0.0, L.MAX_SIGMA)},
        "gamma": {"mean": latency, "cv": schema_number(*L.CV_RANGE), "shape": schema_number(*L.GAMMA_SHAPE_RANGE), "scale": latency},
        "weibull": {"shape": schema_number(*L.WEIBULL_SHAPE_RANGE), "scale": latency},
        "exponential": {"mean": latency},
        "pareto": {"scale": latency, "alpha": schema_number(*L.PARETO_ALPHA_RANGE)},
        "constant": {"value": latency},
        "empirical": {
            "quantiles": {
                "type": "object",
                "description": "probability: duration, e.g. {0.5: 20ms, 0.99: 120ms}",
                "minProperties": 1,
                "propertyNames": {"pattern": NUMBER_TEXT},
                "additionalProperties": latency,
            }
        },
        "histogram": {
            "buckets": {
                "type": "array",
                "description": "[[le, cumulative count], …] in Prometheus _bucket style, +Inf last.",
                "minItems": 2,
                "items": {
                    "type": "array",
                    "prefixItems": [{"anyOf": [latency, {"enum": ["+Inf", "Inf", "inf", "+inf"]}]}, schema_number(minimum=0.0)],
                    "minItems": 2,
                    "maxItems": 2,
                },
            }
        },
        "mixture": {"components": {"type": "array", "minItems": 1, "items": _ref("mixtureComponent")}},
    }
    either = {"lognormal": (("p50", "p99"), ("mu", "sigma")), "gamma": (("mean", "cv"), ("shape", "scale"))}
    missing = set(DISTRIBUTION_KINDS) ^ set(params)
    if missing:
        raise RuntimeError(f"distribution kinds without a schema, or a schema without a kind: {sorted(missing)}")
    defs: dict[str, Any] = {}
    for kind in DISTRIBUTION_KINDS:
        more: dict[str, Any] = {}
        if kind in either:
            more["oneOf"] = [{"required": list(a)} for a in either[kind]]
        else:
            more["required"] = ["dist", *params[kind]]
        defs[f"dist.{kind}"] = _object({"dist": {"const": kind}, **params[kind]}, **more)
    defs["distribution"] = {
        "type": "object",
        "description": "A latency distribution {dist: <kind>, …} (DESIGN §3).",
        "properties": {"dist": {"enum": list(DISTRIBUTION_KINDS)}},
        "required": ["dist"],
        "allOf": [{"if": {"properties": {"dist": {"const": k}}, "required": ["dist"]}, "then": _ref(f"dist.{k}")} for k in DISTRIBUTION_KINDS],
    }
    defs["mixtureComponent"] = _object({"weight": schema_number(minimum=0.0), "dist": _ref("distribution")}, ("weight", "dist"))
    return defs


# --------------------------------------------------------------------------- components and domains


def _components() -> dict[str, Any]:
    kinds = ["service", "external_dependency", "database", "datastore", "cache", "queue", "gateway", "function", "library"]
    return {
        "component": _object(
            {
                "kind": {"enum": kinds, "default": "service", "description": "The paper's service and external_dependency, and the usual tiers."},
                "availability": _PROBABILITY,
                "atomicSLORef": {**_TEXT, "description": "openslo:<metadata.name> or sloth:<service>/<slo>"},
                "telemetry": _ANY,
                "failureDomains": {"type": "array", "items": _TEXT, "uniqueItems": True},
                "latency": _ref("distribution"),
                "errorLatency": {"anyOf": [{"enum": list(ERROR_LATENCY)}, _ref("distribution")], "default": ERROR_LATENCY[0]},
                "capacity": _ref("capacity"),
                "description": _ANY,
                "provenance": _ANY,
                "confidence": _ANY,
            },
            oneOf=[{"required": ["availability"]}, {"required": ["atomicSLORef"]}],
        ),
        "capacity": _object(
            {"replicas": schema_number(1, L.MAX_REPLICAS, integer=True), "serviceTime": _ref("distribution")},
            ("replicas", "serviceTime"),
        ),
        "failureDomains": _object({"rules": {"type": "array", "items": _ref("domainRule")}}),
        "domainRule": _object(
            {
                "name": _TEXT,
                "kind": _STRING,
                "source": _ANY,
                "key": _ANY,
                "description": _STRING,
                "correlation": _ref("domainCorrelation"),
                "members": {"type": "array", "items": _TEXT},
                "confidence": _PROBABILITY,
                "provenance": _ANY,
            },
            ("name",),
        ),
        "domainCorrelation": {
            "type": "object",
            "description": "gaussian (the default model): rho and/or latencyRho; shock: probability or beta (DESIGN §4).",
            "properties": {
                "model": {"enum": ["gaussian", "shock"], "default": "gaussian"},
                "rho": schema_number(0.0, 1.0),
                "latencyRho": schema_number(0.0, 1.0),
                "probability": _PROBABILITY,
                "beta": _PROBABILITY,
            },
            "additionalProperties": False,
            "if": {"properties": {"model": {"const": "shock"}}, "required": ["model"]},
            "then": _ref("shockCorrelation"),
            "else": _ref("gaussianCorrelation"),
        },
        "gaussianCorrelation": _object(
            {"model": {"const": "gaussian"}, "rho": schema_number(0.0, 1.0), "latencyRho": schema_number(0.0, 1.0)},
            anyOf=[{"required": ["rho"]}, {"required": ["latencyRho"]}],
        ),
        "shockCorrelation": _object(
            {"model": {"const": "shock"}, "probability": _PROBABILITY, "beta": _PROBABILITY},
            oneOf=[{"required": ["probability"]}, {"required": ["beta"]}],
        ),
        "correlation": _object(
            {
                "components": {"type": "array", "minItems": 1, "items": schema_ref("componentId"), "uniqueItems": True},
                "matrix": _ref("matrix"),
                "latencyMatrix": _ref("matrix"),
            },
            ("components", "matrix"),
        ),
        "matrix": {
            "type": "array",
            "description": "Symmetric, unit diagonal, positive semidefinite; one row per listed component.",
            "items": {"type": "array", "items": schema_number(-1.0, 1.0)},
        },
    }


# --------------------------------------------------------------------------- objectives, governance, evidence


def _policy() -> dict[str, Any]:
    window = {**_DURATION, "description": "A time window of at most 366d, e.g. 30d."}
    return {
        "objectives": _object({"availability": _ref("availabilityObjective"), "latency": _ref("latencyObjective")}),
        "availabilityObjective": _object(
            {
                "window": {**window, "default": "30d"},
                "target": {**schema_number(0.0, 1.0), "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "sli": _object({"goodEventQuery": _STRING, "totalEventQuery": _STRING}),
            },
            ("target",),
        ),
        "latencyObjective": _object(
            {
                "window": {**window, "default": "30d"},
                "objective": _object(
                    {"metric": {"type": "string", "pattern": "^p[0-9]+$", "default": "p99"}, "threshold": _DURATION},
                    ("threshold",),
                ),
                "evidence": _object({"promql": _STRING}),
            },
            ("objective",),
        ),
        "governance": _object(
            {
                "evaluationMode": _STRING,
                "useBoundsForAutomation": _object(
                    {"availability": {**_STRING, "default": "pessimistic"}, "latency": {**_STRING, "default": "upperConfidence"}}
                ),
                "alerts": _ref("alerts"),
                "progressiveDelivery": _object(
                    {
                        "provider": {**_STRING, "default": "argo-rollouts"},
                        "analysisTemplateOutput": _STRING,
                        "gate": _object({"maxCanaryBurnRate": schema_number(minimum=0.0), "maxP99LatencySeconds": _DURATION}),
                    }
                ),
                "actions": {"type": "array", "items": _ref("action")},
                "confidenceThreshold": _PROBABILITY,
                "deltaThreshold": _PROBABILITY,
            }
        ),
        "alerts": _object(
            {
                "promRuleOutput": _STRING,
                "sloBudgetWindow": window,
                "burnRatePolicy": _object(
                    {"page": {"type": "array", "items": _ref("burnRateWindow")}, "ticket": {"type": "array", "items": _ref("burnRateWindow")}}
                ),
                "slothCompatible": {"type": "boolean"},
            }
        ),
        "burnRateWindow": _object(
            {"burnRate": {**schema_number(), "exclusiveMinimum": 0}, "longWindow": window, "shortWindow": window},
            ("burnRate", "longWindow", "shortWindow"),
        ),
        "action": _object(
            {
                "kind": _STRING,
                "guard": {**_TEXT, "description": "A condition such as A_minus >= 0.995 && p99_U <= 0.4."},
                "parameterBounds": _map_of(_NUMBER),
                "rollback": _map_of(_SCALAR),
                "rateLimit": _map_of(_SCALAR),
            },
            ("kind",),
        ),
        "evidence": _object({"modelDiscovery": _ref("modelDiscovery")}),
        "modelDiscovery": _object(
            {
                "enabled": {"type": "boolean", "default": False},
                "evidenceWindow": window,
                "freshness": _ANY,
                "coveragePolicy": _map_of(_SCALAR),
                "discoveredModelRef": _TEXT,
                "inputs": _ANY,
            }
        ),
        "load": _object(
            {"rate": {**schema_number(maximum=L.MAX_LOAD_RATE), "exclusiveMinimum": 0, "description": "Journeys per second."}},
            ("rate",),
        ),
        "confidence": _object({"overall": _PROBABILITY, "notes": _ANY, "formula": _ANY, "fields": _ANY}),
    }


# --------------------------------------------------------------------------- the document


def _build() -> dict[str, Any]:
    defs: dict[str, Any] = {**_shared(), **_operators(), **_distributions(), **_components(), **_policy()}
    defs["metadata"] = _object(
        {"name": _TEXT, "labels": _map_of(_SCALAR), "annotations": _ANY, "namespace": _ANY},
        ("name",),
    )
    defs["spec"] = _object(
        {
            "objectives": _ref("objectives"),
            "operator": schema_ref("node"),
            "components": {"type": "object", "minProperties": 1, "propertyNames": {"minLength": 1}, "additionalProperties": _ref("component")},
            "evidence": _ref("evidence"),
            "failureDomains": _ref("failureDomains"),
            "correlation": _ref("correlation"),
            "governance": _ref("governance"),
            "load": _ref("load"),
            # DiscoveredJourneyModel extras
            "confidence": {"anyOf": [_PROBABILITY, _ref("confidence")]},
            "topology": _ANY,
            "redundancy": _ANY,
            "provenance": _ANY,
            "evidenceFlags": {"type": "array", "items": _STRING},
        },
        ("operator", "components"),
    )
    missing = [s for s in SHARED_SHAPES if s not in defs]
    if missing:
        raise RuntimeError(f"shared schema shapes not defined: {missing}")
    return {
        "$schema": DIALECT,
        "title": "EmaC spec (JourneyIntent, DiscoveredJourneyModel)",
        "description": f"An EmaC journey spec, apiVersion {API_VERSION} (emac schema prints this schema).",
        **_object(
            {
                "apiVersion": {"const": API_VERSION},
                "kind": {"enum": ["JourneyIntent", "DiscoveredJourneyModel"]},
                "metadata": _ref("metadata"),
                "spec": _ref("spec"),
            },
            ("apiVersion", "kind", "metadata", "spec"),
        ),
        "$defs": defs,
    }


@cache
def _schema() -> dict[str, Any]:
    return _build()


def journey_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a JourneyIntent (or DiscoveredJourneyModel) document.

    Returns
    -------
    dict
        A fresh copy (the caller may change it): ``$defs`` holds the shared shapes, one
        ``operator.<type>`` per registered operator and one ``dist.<kind>`` per distribution.
    """
    return copy.deepcopy(_schema())


def schema_text() -> str:
    """:func:`journey_schema` as JSON: sorted keys, 2-space indent, a trailing newline."""
    return json.dumps(_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- what the loader reads


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref``, list ``items`` and the mapping alternative of an ``anyOf``."""
    defs = _schema()["$defs"]
    while True:
        if "$ref" in node and "properties" not in node:
            node = defs[node["$ref"].removeprefix("#/$defs/")]
        elif "items" in node and isinstance(node["items"], dict):
            node = node["items"]
        elif "anyOf" in node and "properties" not in node:
            node = next((a for a in node["anyOf"] if "properties" in _resolve(a)), node["anyOf"][0])
            node = _resolve(node)
        else:
            return node


def _at(definition: str, path: tuple[str, ...]) -> dict[str, Any]:
    root = _schema()
    node = root if definition == "document" else root["$defs"][definition]
    for key in path:
        node = _resolve(node)["properties"][key]
    return _resolve(node)


@cache
def allowed(definition: str, *path: str) -> tuple[str, ...]:
    """The keys the mapping at ``definition`` (a ``$defs`` name, or ``document``) and then
    ``path`` (property names, through lists) accepts, in the order messages list them."""
    return tuple(_at(definition, path)["properties"])


@cache
def required(definition: str, *path: str) -> tuple[str, ...]:
    """The keys that mapping requires (as :func:`allowed` finds it)."""
    return tuple(_at(definition, path).get("required", ()))


@cache
def enum(definition: str, *path: str) -> tuple[Any, ...]:
    """The values the key at ``definition`` / ``path`` takes (its ``enum``, or its ``const``)."""
    node = _at(definition, path)
    return tuple(node["enum"]) if "enum" in node else (node["const"],)
