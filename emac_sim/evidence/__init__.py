"""Live evidence from Prometheus (DESIGN §9 ``evidence``): what the monitoring system saw, held
against the spec, and optionally put into the model.

- :mod:`.client` — the HTTP API client (requests): timeouts, concurrent queries, bearer or basic
  auth from the environment, TLS verification always on, credentials never printed;
- :mod:`.queries` — the PromQL built from the spec's telemetry selectors and SLI queries;
- :mod:`.estimates` — Wilson intervals on counts, ``histogram_quantile`` with its resolution;
- :mod:`.collect` — one spec's evidence (:func:`collect_evidence`) and its statuses;
- :mod:`.report` — the typed results and their JSON form;
- :mod:`.overlay` — observed values into the journey or the YAML document (``--evidence observed``);
- :mod:`.localprom` — a loopback Prometheus with backfilled OpenMetrics data (tests and the demo).

Layering: reads spec/model, uses the analytic layer for the model's range and the core's
interval functions; the pipeline (:mod:`emac_sim.pipeline.evidence`: ``emac evidence`` and the
``--prometheus`` options of the other commands) and the CLI call into it, never the reverse.
"""

from .client import PrometheusClient, QueryFailed
from .collect import collect_evidence
from .overlay import observed_document, observed_journey
from .report import ComponentEvidence, EvidenceReport, JourneyEvidence

__all__ = [
    "ComponentEvidence",
    "EvidenceReport",
    "JourneyEvidence",
    "PrometheusClient",
    "QueryFailed",
    "collect_evidence",
    "observed_document",
    "observed_journey",
]
