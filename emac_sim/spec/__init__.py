"""EmaC spec documents: their JSON Schema, loading, validation, atomic SLO resolution, dumping."""

from .dump import dump_spec, dump_yaml, journey_to_spec
from .loader import API_VERSION, load_spec, load_spec_text, parse_distribution
from .schema import journey_schema

__all__ = ["API_VERSION", "dump_spec", "dump_yaml", "journey_schema", "journey_to_spec", "load_spec", "load_spec_text", "parse_distribution"]
