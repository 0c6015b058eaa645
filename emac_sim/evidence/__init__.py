"""Live evidence from Prometheus (DESIGN §9 ``evidence``): what the monitoring system saw, held
against the spec, and optionally put into the model.

- :mod:`.client` — the HTTP API client (requests): timeouts, concurrent queries, bearer or basic
  auth from the environment, TLS verification always on, credentials never printed;
- :mod:`.queries` — the PromQL built from the spec's telemetry selectors and SLI queries;
- :mod:`.estimates` — Wilson intervals on counts, ``histogram_quantile`` with its resolution;
- :mod:`.collect` — one spec's evidence (:func:`collect_evidence`) and its statuses;
- :mod:`.report` — the typed results and their JSON form;
- :mod:`.overlay` — observed values into the journey or the YAML document (``--evidence observed``);
- :mod:`.commands` — command-line glue (``emac evidence``, ``--prometheus`` on other commands);
- :mod:`.localprom` — a loopback Prometheus with backfilled OpenMetrics data (tests and the demo).

Layering: reads spec/model, uses the analytic layer for the model's range and the engine's
interval functions; compile, validate, studies and the CLI call into it, never the reverse.
"""

from .client import PrometheusClient, QueryFailed
from .collect import collect_evidence
from .commands import EvidenceRequest, evidence_request
from .overlay import observed_document, observed_journey
from .report import ComponentEvidence, EvidenceReport, JourneyEvidence

__all__ = [
    "ComponentEvidence",
    "EvidenceReport",
    "EvidenceRequest",
    "JourneyEvidence",
    "PrometheusClient",
    "QueryFailed",
    "collect_evidence",
    "evidence_request",
    "observed_document",
    "observed_journey",
]
