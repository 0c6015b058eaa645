"""What-if studies, capacity (queueing), tail amplification and reports (DESIGN §1, issue 7).

- :func:`whatif`: evaluate a spec over a grid of changed values (``--vary PATH=VALUES``) with
  analytic bounds and common-random-number Monte Carlo estimates at every point;
- :func:`find_max`: the largest value of a path (``load.rate``) that keeps constraints such as
  ``p99<=0.4``;
- :func:`derive_capacity`: queueing latency for components with ``capacity`` at ``load.rate``,
  with retry/hedge amplification fed back to a fixed point;
- :func:`fanout_study`: share of slow requests and p99 amplification against fan-out width;
- :func:`report`: the tail-amplification report (Markdown + self-contained HTML).
"""

from .capacity import CapacityResult, derive_capacity
from .fanout import FanOutResult, fanout_study
from .grid import Vary, parse_values, parse_vary
from .report import ReportResult, report
from .specpath import SpecPath, parse_path, set_value
from .studyfile import load_study
from .whatif import FindMaxResult, WhatIfResult, find_max, whatif

__all__ = [
    "CapacityResult",
    "FanOutResult",
    "FindMaxResult",
    "ReportResult",
    "SpecPath",
    "Vary",
    "WhatIfResult",
    "derive_capacity",
    "fanout_study",
    "find_max",
    "load_study",
    "parse_path",
    "parse_values",
    "parse_vary",
    "report",
    "set_value",
    "whatif",
]
