"""Run CUDA-backend cases under numba's CUDA simulator (used by tests/test_cuda_backend.py).

numba decides between the real CUDA target and its simulator when ``numba.cuda`` is first
imported, from ``NUMBA_ENABLE_CUDASIM``; the test suite's own process has imported it already
(or may, later, for real), so the simulated runs happen here, in a child process started with
``NUMBA_ENABLE_CUDASIM=1``.

``python tests/cudasim_runner.py CASES.json OUT.json``: CASES is a list of
``{"id", "spec", "correlation", "samples", "runs": [seed, ...], "details", "birnbaum_stride",
"geometry": {"MIN_SAMPLES_PER_THREAD": .., "SAMPLES_PER_THREAD": ..}, "target_ci"}``; OUT maps
each id to a list of runs (one per seed, in order), each the run's integer counts plus its JSON.
"""

from __future__ import annotations

import json
import os
import sys


def _sparse(a) -> dict[str, int]:
    return {str(i): int(v) for i, v in enumerate(a) if v}


def main(cases_path: str, out_path: str) -> int:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        print("cudasim_runner: NUMBA_ENABLE_CUDASIM=1 must be set", file=sys.stderr)
        return 2
    import emac_sim
    from emac_sim.engine import cuda as cuda_backend
    from emac_sim.engine import simulate

    assert cuda_backend.simulated()
    defaults = {k: getattr(cuda_backend, k) for k in ("MIN_SAMPLES_PER_THREAD", "SAMPLES_PER_THREAD")}
    with open(cases_path, encoding="utf-8") as fh:
        cases = json.load(fh)
    out: dict[str, list] = {}
    for case in cases:
        for k, v in {**defaults, **case.get("geometry", {})}.items():
            setattr(cuda_backend, k, v)
        j = emac_sim.load_spec(case["spec"])
        runs = []
        for seed in case["runs"]:
            r = simulate(
                j,
                samples=case["samples"],
                seed=seed,
                correlation=case.get("correlation", "declared"),
                details=case.get("details", True),
                birnbaum_stride=case.get("birnbaum_stride"),
                target_ci=case.get("target_ci"),
                backend="cuda",
            )
            c = r.counts
            runs.append(
                {
                    "samples": c.samples,
                    "ok": c.ok,
                    "hedged": c.hedged,
                    "launches": c.n_blocks,
                    "hist_ok": _sparse(c.hist_ok),
                    "hist_all": _sparse(c.hist_all),
                    "joint_total": int(c.joint.sum()),
                    "calls": [int(x) for x in c.calls],
                    "race_issued": [int(x) for x in c.race_issued],
                    "birnbaum_samples": c.birnbaum_samples,
                    "birnbaum_up": [int(x) for x in c.birnbaum_up],
                    "birnbaum_down": [int(x) for x in c.birnbaum_down],
                    "json": r.to_dict(),
                }
            )
        out[case["id"]] = runs
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
