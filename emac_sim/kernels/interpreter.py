"""The journey interpreter: one ``@njit`` loop that evaluates a block of journey samples.

The journey is compiled (``emac_sim.engine.compile``) into flat arrays:

* **program** — nodes in pre-order (node 0 is the root): ``op`` (opcode), ``ia`` (integer
  parameter: component of a ``REF``, successes needed by ``PARALLEL``, attempts of ``RETRY``,
  count of ``REPEAT``, slot of a ``RACE``), children ``kids[kid0[n] : kid0[n] + nkid[n]]``,
  float parameters from ``fpar[fpo[n]]`` (hedge delay; per-try timeout then backoff waits;
  deadline; cumulative choice probabilities; optional probability) and a scratch offset ``sco``
  (quorum success times);
* **components** — calibrated own availability ``own_a`` (a′ᵢ), the failure threshold in latent
  space ``zthr = Φ⁻¹(a′ᵢ)``, fate group (−1: none), failure and latency factor loadings with own
  standard deviations, shock memberships (CSR ``shock_ptr``/``shock_idx``) and probabilities;
* **samplers** — rows of ``emac_sim.kernels.samplers`` for success and error latency.

The tree is walked with an explicit stack (no recursion, no objects); every node keeps its
running state in per-node arrays, which is sound because a node is never its own ancestor.

Random stream (the contract ``emac_sim.reference`` reproduces draw for draw): per request,
``Kf`` failure-factor normals, ``Kl`` latency-factor normals, one uniform per fate group, one
per shock domain; then, walking the tree in order, two uniforms per call (failure, latency)
and one per ``CHOICE`` / executed ``OPTIONAL`` node. Normals are ``Φ⁻¹`` of uniforms.

Birnbaum importance uses common random numbers: on every ``birn_stride``-th request the
journey is re-evaluated from the same post-domain-state stream position with one component
forced up (every call succeeds) or down (every call fails); the run equal to the base run (the
component's calls all had the forced outcome, or it was not called) is not repeated. The
stream then continues where the base run left it, so the estimate never perturbs the samples.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .histogram import bucket_index
from .rng import next_uniform
from .samplers import sample_u, sample_z
from .special import ndtri_pq

REF = 0
SERIES = 1
PARALLEL = 2
RACE = 3
FALLBACK = 4
RETRY = 5
TIMEOUT = 6
CHOICE = 7
OPTIONAL = 8
REPEAT = 9

OPCODES = {
    "ref": REF,
    "series": SERIES,
    "parallel": PARALLEL,
    "race": RACE,
    "fallback": FALLBACK,
    "retry": RETRY,
    "timeout": TIMEOUT,
    "choice": CHOICE,
    "optional": OPTIONAL,
    "repeat": REPEAT,
}

# totals[...] slots
T_SAMPLES = 0
T_OK = 1
T_HEDGED = 2
T_BIRNBAUM = 3
N_TOTALS = 4


@njit(cache=True, nogil=True)
def sample_journey_block(
    n,
    st,
    op,
    ia,
    kid0,
    nkid,
    kids,
    fpo,
    fpar,
    sco,
    n_scratch,
    own_a,
    zthr,
    group,
    n_groups,
    has_f,
    load_f,
    sd_f,
    has_l,
    load_l,
    sd_l,
    shock_ptr,
    shock_idx,
    shock_q,
    lat_smp,
    err_smp,
    smp_kind,
    smp_par,
    smp_tab,
    latency_on,
    n_races,
    birn_stride,
    totals,
    hist_ok,
    hist_all,
    joint,
    calls,
    race_issued,
    birn_sum,
    out_ok,
    out_t,
    out_dom,
):
    """Evaluate ``n`` journey samples and add their statistics to the output arrays.

    Parameters
    ----------
    n
        Number of samples (requests) in the block.
    st
        xoshiro256** state, ``uint64[4]``, advanced in place.
    op, ia, kid0, nkid, kids, fpo, fpar, sco, n_scratch
        The compiled program (see the module docstring).
    own_a, zthr, group, n_groups, has_f, load_f, sd_f, has_l, load_l, sd_l
        Per component (``C``): a′ᵢ, Φ⁻¹(a′ᵢ), fate group, failure factor loadings ``(C, Kf)``
        with own sd, latency factor loadings ``(C, Kl)`` with own sd.
    shock_ptr, shock_idx, shock_q
        Shock domains of each component (CSR) and their outage probabilities ``(S,)``.
    lat_smp, err_smp, smp_kind, smp_par, smp_tab
        Sampler row of each component's successful / failed calls and the sampler table.
    latency_on
        False when the journey has no latency model: every call then takes 0 s.
    n_races, birn_stride
        Number of race nodes; Birnbaum sub-sampling stride (0: off).
    totals, hist_ok, hist_all, joint, calls, race_issued, birn_sum
        Outputs, added to: ``totals[N_TOTALS]`` (samples, ok, hedged, Birnbaum samples),
        histograms ``(N_BUCKETS,)`` of successful / all journeys, ``joint (C + 1, N_BUCKETS)``
        successful journeys by dominant component (row 0: no call), calls per component,
        requests issuing branch 1 per race node, Σ(ok_up − ok_down) per component.
    out_ok, out_t, out_dom
        Per-sample outputs of length ``n`` (or 0 to skip): ok, seconds, dominant component.
    """
    n_nodes = op.shape[0]
    n_comp = own_a.shape[0]
    kf = load_f.shape[1]
    kl = load_l.shape[1]
    n_shock = shock_q.shape[0]
    record = out_ok.shape[0] > 0

    s_i = np.zeros(n_nodes, np.int64)
    s_n = np.zeros(n_nodes, np.int64)
    s_t = np.zeros(n_nodes)
    s_x = np.zeros(n_nodes)
    s_dom = np.zeros(n_nodes, np.int64)
    s_domt = np.zeros(n_nodes)
    s_xdom = np.zeros(n_nodes, np.int64)
    s_xdomt = np.zeros(n_nodes)
    sc_t = np.zeros(max(n_scratch, 1))
    sc_d = np.zeros(max(n_scratch, 1), np.int64)
    sc_dt = np.zeros(max(n_scratch, 1))
    stack = np.zeros(n_nodes + 1, np.int64)

    w_f = np.zeros(kf)
    w_l = np.zeros(kl)
    g_u = np.zeros(n_groups)
    outage = np.zeros(n_shock, np.bool_)
    z_f = np.zeros(n_comp)
    z_l = np.zeros(n_comp)

    f_comps = np.flatnonzero(has_f)
    l_comps = np.flatnonzero(has_l)
    stamp_call = np.full(n_comp, -1, np.int64)
    stamp_ok = np.full(n_comp, -1, np.int64)
    stamp_fail = np.full(n_comp, -1, np.int64)
    race_stamp = np.full(max(n_races, 1), -1, np.int64)
    up_ok = np.zeros(n_comp, np.bool_)
    down_ok = np.zeros(n_comp, np.bool_)
    pass_c = np.zeros(2 * n_comp + 1, np.int64)
    pass_d = np.zeros(2 * n_comp + 1, np.int64)
    st_mid = np.zeros(4, np.uint64)
    st_after = np.zeros(4, np.uint64)

    for r in range(n):
        # ---- the request's failure-domain state
        for k in range(kf):
            u = next_uniform(st)
            w_f[k] = ndtri_pq(u, 1.0 - u)
        for k in range(kl):
            u = next_uniform(st)
            w_l[k] = ndtri_pq(u, 1.0 - u)
        for g in range(n_groups):
            g_u[g] = next_uniform(st)
        for d in range(n_shock):
            outage[d] = next_uniform(st) < shock_q[d]
        for i in range(f_comps.shape[0]):
            c = f_comps[i]
            acc = 0.0
            for k in range(kf):
                acc += load_f[c, k] * w_f[k]
            z_f[c] = acc
        for i in range(l_comps.shape[0]):
            c = l_comps[i]
            acc = 0.0
            for k in range(kl):
                acc += load_l[c, k] * w_l[k]
            z_l[c] = acc
        for k in range(4):
            st_mid[k] = st[k]

        npass = 1
        pass_c[0] = -1
        pass_d[0] = -1
        p = 0
        birn_req = birn_stride > 0 and r % birn_stride == 0
        while p < npass:
            fc = pass_c[p]
            fd = pass_d[p]
            base = p == 0
            if not base:
                for k in range(4):
                    st[k] = st_mid[k]
            # ---- walk the tree
            sp = 1
            stack[0] = 0
            entering = True
            r_ok = True
            r_t = 0.0
            r_dom = -1
            r_domt = -1.0
            while sp > 0:
                nd = stack[sp - 1]
                o = op[nd]
                if entering:
                    if o == REF:
                        pass  # a REF root: evaluated below like every pushed leaf
                    elif o == CHOICE:
                        u = next_uniform(st)
                        j = 0
                        last = nkid[nd] - 1
                        while j < last and u >= fpar[fpo[nd] + j]:
                            j += 1
                        stack[sp] = kids[kid0[nd] + j]
                        sp += 1
                    elif o == OPTIONAL:
                        u = next_uniform(st)
                        if u < fpar[fpo[nd]]:
                            stack[sp] = kids[kid0[nd]]
                            sp += 1
                        else:
                            r_ok = True
                            r_t = 0.0
                            r_dom = -1
                            r_domt = -1.0
                            sp -= 1
                            entering = False
                    else:
                        s_i[nd] = 0
                        s_n[nd] = 0
                        s_dom[nd] = -1
                        s_domt[nd] = -1.0
                        s_xdom[nd] = -1
                        s_xdomt[nd] = -1.0
                        if o == PARALLEL or o == RACE:
                            s_t[nd] = math.inf
                            s_x[nd] = -1.0
                        else:
                            s_t[nd] = 0.0
                        stack[sp] = kids[kid0[nd]]
                        sp += 1
                else:
                    # a child of nd returned (r_ok, r_t, r_dom, r_domt)
                    if o == SERIES or o == REPEAT or o == FALLBACK:
                        s_t[nd] += r_t
                        if r_domt > s_domt[nd]:
                            s_dom[nd] = r_dom
                            s_domt[nd] = r_domt
                        i = s_i[nd] + 1
                        count = ia[nd] if o == REPEAT else nkid[nd]
                        stop = r_ok if o == FALLBACK else not r_ok
                        if stop or i >= count:
                            r_t = s_t[nd]
                            r_dom = s_dom[nd]
                            r_domt = s_domt[nd]
                            sp -= 1
                        else:
                            s_i[nd] = i
                            stack[sp] = kids[kid0[nd]] if o == REPEAT else kids[kid0[nd] + i]
                            sp += 1
                            entering = True
                    elif o == PARALLEL:
                        k_need = ia[nd]
                        nb = nkid[nd]
                        if r_t > s_x[nd]:
                            s_x[nd] = r_t
                            s_xdom[nd] = r_dom
                            s_xdomt[nd] = r_domt
                        if r_ok:
                            if k_need == 1:
                                if r_t < s_t[nd]:
                                    s_t[nd] = r_t
                                    s_dom[nd] = r_dom
                                    s_domt[nd] = r_domt
                            elif k_need < nb:
                                # keep success times sorted (stable: after equal times)
                                b0 = sco[nd]
                                q = b0 + s_n[nd]
                                while q > b0 and sc_t[q - 1] > r_t:
                                    sc_t[q] = sc_t[q - 1]
                                    sc_d[q] = sc_d[q - 1]
                                    sc_dt[q] = sc_dt[q - 1]
                                    q -= 1
                                sc_t[q] = r_t
                                sc_d[q] = r_dom
                                sc_dt[q] = r_domt
                            s_n[nd] += 1
                        i = s_i[nd] + 1
                        if i < nb:
                            s_i[nd] = i
                            stack[sp] = kids[kid0[nd] + i]
                            sp += 1
                            entering = True
                        else:
                            if s_n[nd] < k_need:
                                r_ok = False
                                r_t = s_x[nd]
                                r_dom = s_xdom[nd]
                                r_domt = s_xdomt[nd]
                            elif k_need == 1:
                                r_ok = True
                                r_t = s_t[nd]
                                r_dom = s_dom[nd]
                                r_domt = s_domt[nd]
                            elif k_need == nb:
                                r_ok = True
                                r_t = s_x[nd]
                                r_dom = s_xdom[nd]
                                r_domt = s_xdomt[nd]
                            else:
                                q = sco[nd] + k_need - 1
                                r_ok = True
                                r_t = sc_t[q]
                                r_dom = sc_d[q]
                                r_domt = sc_dt[q]
                            sp -= 1
                    elif o == RACE:
                        h = fpar[fpo[nd]]
                        j = s_i[nd]
                        f = j * h + r_t
                        if r_ok and f < s_t[nd]:
                            s_t[nd] = f
                            s_dom[nd] = r_dom
                            s_domt[nd] = r_domt
                        if f > s_x[nd]:
                            s_x[nd] = f
                            s_xdom[nd] = r_dom
                            s_xdomt[nd] = r_domt
                        j1 = j + 1
                        if j1 < nkid[nd] and (h == 0.0 or s_t[nd] > j1 * h):
                            if j1 == 1 and base:
                                race_stamp[ia[nd]] = r
                            s_i[nd] = j1
                            stack[sp] = kids[kid0[nd] + j1]
                            sp += 1
                            entering = True
                        else:
                            if s_t[nd] < math.inf:
                                r_ok = True
                                r_t = s_t[nd]
                                r_dom = s_dom[nd]
                                r_domt = s_domt[nd]
                            else:
                                r_ok = False
                                r_t = s_x[nd]
                                r_dom = s_xdom[nd]
                                r_domt = s_xdomt[nd]
                            sp -= 1
                    elif o == RETRY:
                        tau = fpar[fpo[nd]]
                        a = s_i[nd] + 1
                        ok_a = r_ok
                        t_a = r_t
                        if t_a > tau:
                            ok_a = False
                            t_a = tau
                        s_t[nd] += t_a
                        dt = r_domt if r_domt < t_a else t_a
                        if r_dom >= 0 and dt > s_domt[nd]:
                            s_dom[nd] = r_dom
                            s_domt[nd] = dt
                        if ok_a or a >= ia[nd]:
                            r_ok = ok_a
                            r_t = s_t[nd]
                            r_dom = s_dom[nd]
                            r_domt = s_domt[nd]
                            sp -= 1
                        else:
                            s_t[nd] += fpar[fpo[nd] + a]
                            s_i[nd] = a
                            stack[sp] = kids[kid0[nd]]
                            sp += 1
                            entering = True
                    elif o == TIMEOUT:
                        dl = fpar[fpo[nd]]
                        if r_t > dl:
                            r_ok = False
                            r_t = dl
                            if r_domt > dl:
                                r_domt = dl
                        sp -= 1
                    else:  # CHOICE, OPTIONAL: pass the child's outcome through
                        sp -= 1
                # a leaf just pushed (or a leaf root) is evaluated now, without a dispatch of its own
                if entering:
                    ch = stack[sp - 1]
                    if op[ch] == REF:
                        c = ia[ch]
                        u1 = next_uniform(st)
                        u2 = next_uniform(st)
                        if fc == c:
                            ok = fd == 1
                        else:
                            gi = group[c]
                            if gi >= 0:
                                ok = g_u[gi] <= own_a[c]
                            elif has_f[c]:
                                ok = z_f[c] + sd_f[c] * ndtri_pq(u1, 1.0 - u1) <= zthr[c]
                            else:
                                ok = u1 <= own_a[c]
                            if ok:
                                for j in range(shock_ptr[c], shock_ptr[c + 1]):
                                    if outage[shock_idx[j]]:
                                        ok = False
                                        break
                        t = 0.0
                        if latency_on:
                            m = lat_smp[c] if ok else err_smp[c]
                            if has_l[c]:
                                t = sample_z(smp_kind, smp_par, m, smp_tab, z_l[c] + sd_l[c] * ndtri_pq(u2, 1.0 - u2))
                            else:
                                t = sample_u(smp_kind, smp_par, m, smp_tab, u2, 1.0 - u2)
                        if base:
                            calls[c] += 1
                            if birn_req:
                                stamp_call[c] = r
                                if ok:
                                    stamp_ok[c] = r
                                else:
                                    stamp_fail[c] = r
                        r_ok = ok
                        r_t = t
                        r_dom = c
                        r_domt = t
                        sp -= 1
                        entering = False

            if base:
                ok_j = r_ok
                b = bucket_index(r_t)
                totals[0] += 1
                hist_all[b] += 1
                if ok_j:
                    totals[1] += 1
                    hist_ok[b] += 1
                    joint[r_dom + 1, b] += 1
                hedged = False
                for k in range(n_races):
                    if race_stamp[k] == r:
                        race_issued[k] += 1
                        hedged = True
                if hedged:
                    totals[2] += 1
                if record:
                    out_ok[r] = ok_j
                    out_t[r] = r_t
                    out_dom[r] = r_dom
                if birn_req:
                    totals[3] += 1
                    for k in range(4):
                        st_after[k] = st[k]
                    for c in range(n_comp):
                        if stamp_call[c] != r:
                            continue
                        up_ok[c] = ok_j
                        down_ok[c] = ok_j
                        if stamp_fail[c] == r:  # some call failed: forced-up differs
                            pass_c[npass] = c
                            pass_d[npass] = 1
                            npass += 1
                        if stamp_ok[c] == r:  # some call succeeded: forced-down differs
                            pass_c[npass] = c
                            pass_d[npass] = 0
                            npass += 1
            elif fd == 1:
                up_ok[fc] = r_ok
            else:
                down_ok[fc] = r_ok
            p += 1

        if birn_req:
            for c in range(n_comp):
                if stamp_call[c] == r:
                    birn_sum[c] += np.int64(up_ok[c]) - np.int64(down_ok[c])
            for k in range(4):
                st[k] = st_after[k]
