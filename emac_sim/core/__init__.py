"""Shared foundations every layer may import (and that import no other part of emac-sim).

- :mod:`.version` — the tool's version;
- :mod:`.seeds` — the seed policy: ``seed: int | None``, ``None`` draws one (recorded), the
  command line's default 0;
- :mod:`.quantiles` — the latency quantiles every layer reports (p50, p90, p99, p999);
- :mod:`.histogram` — the log-bucketed latency histogram layout the kernels fill and every
  reader of their counts (engine, reference simulator, reports) interprets;
- :mod:`.intervals` — Wilson and order-statistic confidence intervals;
- :mod:`.jsonio` — JSON encoding of results (non-finite floats as null, numpy values as
  Python) for the command line and written files;
- :mod:`.provenance` — where a result came from (version, seed, parameters, input sha256s,
  library versions).

Nothing here imports numba or a layer above (``tools/import_cycles.py --rules`` checks it).
"""
