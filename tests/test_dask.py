"""The Dask backend: same seed → bit-identical results on threads, a 2-worker LocalCluster and a
multi-process cluster; a worker killed mid-run changes nothing; ``--scheduler`` on the CLI.

Clusters run on loopback (``distributed.LocalCluster``) and are shut down after the module.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the Dask backend tests need the [dask] extra")

import emac_sim  # noqa: E402
from emac_sim.engine import dask_backend as db  # noqa: E402
from emac_sim.engine import plan_blocks, simulate  # noqa: E402
from emac_sim.errors import SpecError  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CHECKOUT = CONFIGS / "checkout.yaml"
LOGIN = CONFIGS / "login.yaml"


def _cluster(processes: bool):
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        host="127.0.0.1",
        protocol="tcp://",  # loopback sockets, not the in-process transport, even for thread workers
        dashboard_address=":0",  # a free port: never collide with a cluster already on :8787
        silence_logs=logging.ERROR,
    )


@pytest.fixture(scope="module")
def proc_client():
    """Two single-threaded worker processes (the multi-process cluster)."""
    with _cluster(processes=True) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def thread_client():
    """A LocalCluster with 2 workers inside this process."""
    with _cluster(processes=False) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def checkout():
    return emac_sim.load_spec(CHECKOUT)


def _same(a, b) -> None:
    assert a.counts.equals(b.counts)
    assert a.counts.n_blocks == b.counts.n_blocks
    assert a.to_dict() == b.to_dict()


def _address(client) -> str:
    address = client.scheduler_info()["address"]
    assert address.startswith("tcp://127.0.0.1:")
    return address


def _keys(stream, prefix: str) -> list[str]:
    return [str(t["key"]) for t in stream.data if str(t["key"]).startswith(prefix)]


# --------------------------------------------------------------------------- bit-identical results


def test_two_worker_local_cluster_matches_threads(checkout, thread_client):
    kw = dict(samples=150_000, seed=11, block_size=8192)
    with distributed.get_task_stream(thread_client) as ts:
        on_dask = simulate(checkout, client=thread_client, **kw)
    assert _keys(ts, "emac-blocks-"), "the blocks did not run as Dask tasks"
    _same(simulate(checkout, workers=2, **kw), on_dask)


@pytest.mark.parametrize("spec, correlation", [(CHECKOUT, "declared"), (CHECKOUT, "shared"), (LOGIN, "declared")])
def test_multi_process_cluster_matches_threads(proc_client, spec, correlation):
    j = emac_sim.load_spec(spec)
    kw = dict(samples=60_000, seed=5, correlation=correlation, block_size=4096)
    threads = simulate(j, workers=1, **kw)
    with distributed.get_task_stream(proc_client) as ts:
        on_dask = simulate(j, client=proc_client, **kw)
    assert len(_keys(ts, "emac-blocks-")) > 1
    _same(threads, on_dask)
    # a different seed gives different samples on the cluster too
    assert not simulate(j, client=proc_client, **{**kw, "seed": 6}).counts.equals(on_dask.counts)


@pytest.mark.parametrize("blocks_per_task", [1, 3, 7])
def test_task_batching_never_changes_the_counts(checkout, proc_client, blocks_per_task):
    from emac_sim.engine import BlockResult, compile_journey, run_block
    from emac_sim.model.scenario import named_scenario

    compiled = compile_journey(checkout, named_scenario(checkout, "declared", None))
    sizes = plan_blocks(20 * 2048 + 100, 2048)
    expected = BlockResult.empty(compiled)
    for b, size in enumerate(sizes):
        expected = expected.merge(run_block(compiled, 9, b, size))
    got = BlockResult.empty(compiled)
    firsts = []
    for res in db.iter_blocks(proc_client, compiled, 9, sizes, blocks_per_task=blocks_per_task, window=2):
        firsts.append(res.first_block)
        got = got.merge(res)  # raises if a range arrives out of block order
    assert firsts == list(range(0, len(sizes), blocks_per_task))
    assert got.equals(expected) and got.n_blocks == len(sizes)


def test_target_ci_stops_at_the_same_block_inside_a_task(checkout, proc_client):
    # 196 blocks; the target is met after block 43 (0-based 42), which the assertion below puts inside a task
    kw = dict(samples=400_000, seed=3, block_size=2048, target_ci=3.5e-4)
    threads = simulate(checkout, **kw)
    stopped = threads.counts.n_blocks
    n_blocks = len(plan_blocks(kw["samples"], kw["block_size"]))
    per_task = db.plan_tasks(n_blocks, kw["block_size"], db.worker_slots(proc_client))[0][1]
    assert 1 < stopped < n_blocks and stopped % per_task != 0, "the stop should fall inside a task for this test to bite"
    on_dask = simulate(checkout, client=proc_client, **kw)
    _same(threads, on_dask)
    assert any("reached after" in n for n in on_dask.to_dict()["notes"])


def test_active_client_is_used_and_reset(checkout, thread_client):
    kw = dict(samples=40_000, seed=2, block_size=4096)
    with distributed.get_task_stream(thread_client) as ts, db.use_client(thread_client):
        assert db.active_client() is thread_client
        inside = emac_sim.simulate(checkout, **kw)
    assert db.active_client() is None
    assert _keys(ts, "emac-blocks-")
    _same(simulate(checkout, **kw), inside)


# --------------------------------------------------------------------------- a worker dies


def test_worker_killed_mid_run_gives_the_threads_result(checkout, proc_client):
    kw = dict(samples=800_000, seed=21, block_size=8192)  # 98 blocks in about 14 tasks on 2 workers
    threads = simulate(checkout, **kw)
    pids = proc_client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    out: dict = {}

    def drive() -> None:
        try:
            out["result"] = simulate(checkout, client=proc_client, **kw)
        except BaseException as err:  # re-raised in the test thread
            out["error"] = err

    runner = threading.Thread(target=drive, daemon=True)
    runner.start()
    victim, victim_keys = None, ()
    deadline = time.monotonic() + 120
    while victim is None and runner.is_alive() and time.monotonic() < deadline:
        for addr, keys in proc_client.processing().items():
            keys = [str(k) for k in keys if str(k).startswith("emac-blocks-")]
            if keys and addr in pids:
                victim, victim_keys = addr, keys
                break
        else:
            time.sleep(0.02)
    assert victim is not None and runner.is_alive(), "no block task was seen running before the run ended"
    os.kill(pids[victim], signal.SIGKILL)
    runner.join(timeout=300)
    assert not runner.is_alive(), "the run did not finish after a worker died"
    if "error" in out:
        raise out["error"]
    _same(threads, out["result"])
    # the victim really died (its nanny starts a fresh worker at a new address)
    assert victim not in proc_client.scheduler_info()["workers"]
    assert victim_keys
    proc_client.wait_for_workers(2, timeout=120)


# --------------------------------------------------------------------------- sweeps and commands


def test_whatif_points_run_as_tasks_and_match_threads(cli, proc_client, tmp_path):
    args = ["whatif", CHECKOUT, "--vary", "components.paya.availability=0.99,0.9999", "--samples", "4000", "--seed", "4", "--format", "json"]
    args += ["--out", tmp_path / "whatif"]
    threads = cli(*args)
    assert threads.exit_code == 0, threads
    with distributed.get_task_stream(proc_client) as ts:
        on_dask = cli(*args, "--scheduler", _address(proc_client))
    assert on_dask.exit_code == 0, on_dask
    assert len(_keys(ts, "emac-point-")) == 2
    assert json.loads(on_dask.stdout) == json.loads(threads.stdout)


def test_simulate_cli_on_an_existing_cluster(cli, proc_client):
    args = ["simulate", CHECKOUT, "--samples", "1e5", "--seed", "8", "--format", "json"]
    threads = cli(*args)
    on_dask = cli(*args, "--scheduler", _address(proc_client))
    assert threads.exit_code == 0 and on_dask.exit_code == 0, on_dask
    assert on_dask.stdout == threads.stdout


def test_validate_cli_on_an_existing_cluster(cli, proc_client):
    args = ["validate", CHECKOUT, "--samples", "60000", "--seed", "1", "--correlation", "independent", "--format", "json"]
    threads = cli(*args)
    with distributed.get_task_stream(proc_client) as ts:
        on_dask = cli(*args, "--scheduler", _address(proc_client))
    assert _keys(ts, "emac-blocks-")
    assert on_dask.exit_code == threads.exit_code and on_dask.stdout == threads.stdout


@pytest.mark.slow
def test_compile_cli_on_an_existing_cluster_writes_the_same_bytes(cli, proc_client, tmp_path):
    args = ["compile", CHECKOUT, "--samples", "50000", "--seed", "2", "--format", "json"]
    threads = cli(*args, "--out", tmp_path / "threads")
    if threads.exit_code == 2 and "No such command" in threads.stderr:
        pytest.skip("emac compile is not available in this checkout")
    on_dask = cli(*args, "--out", tmp_path / "dask", "--scheduler", _address(proc_client))
    assert on_dask.exit_code == threads.exit_code, on_dask
    files = sorted(p.relative_to(tmp_path / "threads") for p in (tmp_path / "threads").rglob("*") if p.is_file())
    assert files
    for f in files:
        assert (tmp_path / "dask" / f).read_bytes() == (tmp_path / "threads" / f).read_bytes(), f


def test_dask_local_starts_and_stops_its_own_cluster(cli):
    args = ["simulate", CHECKOUT, "--samples", "6e4", "--seed", "13", "--format", "json"]
    threads = cli(*args)
    on_dask = cli(*args, "--scheduler", "dask-local", "--workers", "1")
    assert on_dask.exit_code == 0, on_dask
    assert on_dask.stdout == threads.stdout
    assert db.active_client() is None


# --------------------------------------------------------------------------- bad input and the optional extra


@pytest.mark.parametrize("value", ["dask", "Threads", "tcp://", "tcp://host", "tcp://host:0", "tcp://host:70000", "http://host:8786", "dask-local "])
def test_bad_scheduler_values_are_one_line_errors(cli, value):
    r = cli("simulate", CHECKOUT, "--samples", "1000", "--scheduler", value)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"emac simulate: --scheduler: must be threads, dask-local or tcp://HOST:PORT, got {value!r}"


@pytest.mark.parametrize("command", ["simulate", "validate", "whatif", "compile"])
@pytest.mark.parametrize("scheduler", ["dask-local", "tcp://127.0.0.1:8786"])
def test_missing_dask_says_how_to_install_it(cli, monkeypatch, tmp_path, command, scheduler):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    extra = {
        "simulate": ["--samples", "1000"],
        "validate": ["--samples", "1000"],
        "whatif": ["--vary", "components.paya.availability=0.99,0.999", "--samples", "100"],
        "compile": ["--out", tmp_path / "out", "--samples", "1000"],
    }[command]
    r = cli(command, CHECKOUT, *extra, "--scheduler", scheduler)
    if r.exit_code == 2 and "No such command" in r.stderr:
        pytest.skip(f"emac {command} is not available in this checkout")
    assert r.exit_code == 2, r
    assert r.stderr == f"emac {command}: --scheduler: {scheduler} needs Dask, which is not installed: pip install 'emac-sim[dask]'\n"


def test_threads_need_no_dask(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    a = cli("simulate", CHECKOUT, "--samples", "2000", "--seed", "1", "--format", "json")
    b = cli("simulate", CHECKOUT, "--samples", "2000", "--seed", "1", "--format", "json", "--scheduler", "threads")
    assert a.exit_code == 0 and b.exit_code == 0 and a.stdout == b.stdout


def test_unreachable_scheduler_is_a_one_line_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SpecError, match=rf"^<command line>: --scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: "):
        with db.scheduler_session(f"tcp://127.0.0.1:{port}", connect_timeout=1):
            pass
    assert db.active_client() is None


def test_dask_local_rejects_zero_workers(cli):
    r = cli("whatif", CHECKOUT, "--vary", "components.paya.availability=0.99", "--scheduler", "dask-local", "--workers", "0")
    assert r.exit_code == 2 and r.stderr.strip() == "emac whatif: --workers: must be at least 1, got 0"


# --------------------------------------------------------------------------- planning and keys


def test_plan_tasks_covers_every_block_once_in_order():
    for n_blocks in (1, 2, 7, 100, 1531):
        for block_size in (256, 65536):
            for slots in (1, 2, 16):
                ranges = db.plan_tasks(n_blocks, block_size, slots)
                assert [f for f, _ in ranges] == list(range(0, n_blocks, ranges[0][1]))
                assert sum(c for _, c in ranges) == n_blocks
                assert ranges[0][1] * block_size <= max(db.TASK_SAMPLES, block_size)
                if n_blocks >= db.TASKS_PER_SLOT * slots * (db.TASK_SAMPLES // block_size):
                    assert ranges[0][1] == db.TASK_SAMPLES // block_size
    assert db.plan_tasks(10, 4096, 2, blocks_per_task=4) == [(0, 4), (4, 4), (8, 2)]
    with pytest.raises(ValueError):
        db.plan_tasks(10, 4096, 2, blocks_per_task=0)


def test_task_keys_are_deterministic_and_follow_the_inputs(checkout):
    from emac_sim.engine import compile_journey
    from emac_sim.model.scenario import named_scenario

    a = compile_journey(checkout, named_scenario(checkout, "declared", None))
    b = compile_journey(emac_sim.load_spec(CHECKOUT), named_scenario(checkout, "declared", None))
    c = compile_journey(checkout, named_scenario(checkout, "independent", None))
    sizes = plan_blocks(100_000, 4096)
    assert db.compiled_token(a, 1, sizes) == db.compiled_token(b, 1, sizes)
    assert db.compiled_token(a, 2, sizes) != db.compiled_token(a, 1, sizes)
    assert db.compiled_token(a, 1, plan_blocks(100_000, 8192)) != db.compiled_token(a, 1, sizes)
    assert db.compiled_token(c, 1, sizes) != db.compiled_token(a, 1, sizes)


def test_task_results_travel_sparsely_and_come_back_exact(checkout):
    import pickle

    from emac_sim.engine import compile_journey
    from emac_sim.model.scenario import named_scenario

    compiled = compile_journey(checkout, named_scenario(checkout, "declared", None))
    packed, prefix = db.run_range(compiled, 4, 3, (5000, 7000))
    merged = db.unpack_result(packed)
    expected = db.run_block(compiled, 4, 3, 5000).merge(db.run_block(compiled, 4, 4, 7000))
    assert merged.equals(expected) and (merged.first_block, merged.n_blocks) == (3, 2)
    assert merged.joint.shape == expected.joint.shape and merged.joint.dtype == expected.joint.dtype
    assert prefix.tolist() == [[5000, db.run_block(compiled, 4, 3, 5000).ok], [12000, expected.ok]]
    assert len(pickle.dumps(packed)) < len(pickle.dumps(expected)) / 10
