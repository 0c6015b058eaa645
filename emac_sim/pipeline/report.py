"""``emac report``: the tail-amplification report of one spec, written as a whole into ``--out``.

The computations and the rendering are :func:`emac_sim.studies.report.report`; here the options
are checked, the command line recorded for provenance, and where the report went printed (or its
summary as one JSON object).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..core.jsonio import print_json
from ..errors import SpecError
from ..model.scenario import SCENARIO_NAMES


def report_command(
    spec: Path,
    out: Path,
    samples: int,
    sweep_samples: int,
    seed: int | None,
    correlation: str,
    confidence: float,
    slo_paths: list[Path],
    as_json: bool,
) -> int:
    """Run ``emac report``; print where the report went (or its summary as JSON)."""
    from ..studies.report import report

    if correlation not in SCENARIO_NAMES:
        raise SpecError("--correlation", "", f"must be one of {', '.join(SCENARIO_NAMES)}, got {correlation!r}")
    if samples < 1:
        raise SpecError("--samples", "", f"must be >= 1, got {samples}")
    if sweep_samples < 0:
        raise SpecError("--sweep-samples", "", f"must be >= 0, got {sweep_samples}")
    if not 0.0 < confidence < 1.0:
        raise SpecError("--confidence", "", f"must be in (0, 1), got {confidence}")
    argv = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name in ("emac", "emac.exe") else ["report", str(spec), "--out", str(out)]
    command = "emac " + " ".join(shlex.quote(a) for a in argv)
    res = report(spec, out, samples=samples, sweep_samples=sweep_samples, seed=seed, correlation=correlation, confidence=confidence,
                 slo_paths=slo_paths, command=command)
    if as_json:
        d = res.to_dict()
        print_json({k: v for k, v in d.items() if k != "summary"} | {"seed": res.summary["seed"]})
    else:
        print(f"wrote {res.markdown}")
        print(f"wrote {res.html}")
        for f in res.figures:
            print(f"wrote figure: {f}")
    return 0
