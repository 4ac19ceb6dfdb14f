"""The benchmark suite runs end to end (tiny repetitions, no pauses), the attention and generation
workloads too; no timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from benchmarks import __main__ as bench
from benchmarks import harness
from tests.helpers import ROOT


@pytest.fixture
def fast_harness(monkeypatch):
    """No pauses, no collections: the suite's logic, not its timing."""
    monkeypatch.setattr(harness, "PAUSE_S", 0.0)
    monkeypatch.setattr(harness.gc, "collect", lambda: 0)


HAS_JAX = importlib.util.find_spec("jax") is not None


def test_suite_runs_every_workload_without_pytorch(fast_harness, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    monkeypatch.setitem(sys.modules, "jax", None)  # and import jax
    lines, path = [], tmp_path / "out.json"
    rows = bench.main(["--quick", "--reps", "2", "--only", "mlp", "--json", str(path)], out=lines.append)
    by_name = {}
    for r in rows:
        by_name.setdefault(r["workload"], {})[r["candidate"]] = r
    assert len(by_name) == 4
    for name, candidates in by_name.items():  # training steps also run as a functional Model and custom layers
        extra = {"xdl graph", "xdl custom"} if " train " in name else set()
        extra |= set() if "GEMMs" in name else {"jax"}  # the jitted JAX twin: train and infer rows
        assert set(candidates) == {"xdl", "torch", "numpy"} | extra, name
    for r in rows:
        if r["candidate"] == "torch":
            assert r["median"] is None and r["note"] == "PyTorch is not installed"
        elif r["candidate"] == "jax":
            assert r["median"] is None and r["note"].startswith("JAX is not installed")
        else:
            assert r["median"] > 0 and r["min"] <= r["median"] <= r["max"] and len(r["seconds"]) == 2
    text = "\n".join(lines)
    assert "PyTorch is not installed" in text and "threads: OMP_NUM_THREADS=" in text
    # the share is a ratio of two timings: on a busy machine it can come out above 100%, and
    # the suite then says so instead of printing it
    assert "xdl: " in text and ("of the mlp train step is its GEMMs" in text
                                or "the mlp train step's share in its GEMMs is unreliable" in text)
    assert "the same layers as a functional Model run at" in text
    assert "the layers written with add_weight/call (the tape's backward) run at" in text
    data = json.loads(path.read_text())
    assert data["meta"]["versions"]["torch"] is None and len(data["rows"]) == len(rows)
    assert data["meta"]["versions"]["jax"] is None and data["meta"]["neighbour"] is None


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_suite_runs_pytorch_beside_xdl(fast_harness):
    rows = bench.main(["--quick", "--reps", "1", "--only", "probe", "infer"], out=lambda line: None)
    assert {r["candidate"] for r in rows} == {"xdl", "xdl graph", "xdl custom", "torch", "numpy"} | (
        {"jax"} if HAS_JAX else set())
    assert all(r["median"] > 0 for r in rows)
    assert all(r["ratio"] for r in rows)  # every row compares with PyTorch


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_jax_candidate_runs_the_jitted_step_beside_xdl(fast_harness, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # only JAX's column is under test
    lines, path = [], tmp_path / "out.json"
    rows = bench.main(["--quick", "--reps", "1", "--only", "mlp", "probe", "--json", str(path)], out=lines.append)
    by = {r["candidate"]: r for r in rows}
    assert by["jax"]["median"] > 0 and by["jax"]["ratio_jax"] == pytest.approx(1.0)
    assert by["xdl"]["ratio_jax"] == pytest.approx(by["xdl"]["median"] / by["jax"]["median"])
    text = "\n".join(lines)
    assert "vs jax" in text and "probe train 10x32: xdl runs at" in text
    assert "the jitted JAX step (goal >= 0.6x)" in text
    assert "jax: XLA's CPU pool has" in text
    assert json.loads(path.read_text())["meta"]["versions"]["jax"]


def test_jax_step_is_the_same_sgd_step_as_the_numpy_twin():
    pytest.importorskip("jax")
    import numpy as np

    import xdl
    from benchmarks import mlp, mlp_twins

    be = xdl.set_backend("numpy", fallback=False)
    jax, why = mlp._jax(be)
    assert why is None
    problem = mlp.Problem((8, 6, 6, 3), 5, "cross_entropy", seed=0)
    step = mlp.jax_train(problem, jax, be)  # one step taken (it compiles)
    step()
    twin = mlp_twins.numpy_train(problem)
    twin(), twin()
    params = dict(zip(step.__code__.co_freevars, (c.cell_contents for c in step.__closure__)))["state"][0]
    ws = dict(zip(twin.__code__.co_freevars, (c.cell_contents for c in twin.__closure__)))["ws"]
    for (w, _), want in zip(params, ws):
        np.testing.assert_allclose(np.asarray(w), want, rtol=1e-5, atol=1e-6)


def test_xla_flags_hold_jax_to_one_thread_only_when_asked():
    assert harness.xla_flags(1, None) == "--xla_cpu_multi_thread_eigen=false"
    assert harness.xla_flags(2, None) == ""
    assert harness.xla_flags(1, "--xla_dump_to=/tmp/x") == "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"
    assert harness.xla_flags(1, "--xla_cpu_multi_thread_eigen=true") == "--xla_cpu_multi_thread_eigen=true"


def test_busy_neighbour_mode_runs_and_is_recorded(fast_harness, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # fast: no PyTorch, no JAX compile
    monkeypatch.setitem(sys.modules, "jax", None)
    lines, path = [], tmp_path / "out.json"
    rows = bench.main(["--quick", "--reps", "1", "--only", "mlp", "probe", "--busy-neighbour", "--json", str(path)],
                      out=lines.append)
    assert next(r for r in rows if r["candidate"] == "xdl")["median"] > 0
    text = "\n".join(lines)
    assert "busy-neighbour mode: a CPU-bound process" in text and "busy-neighbour mode: on" in text
    neighbour = json.loads(path.read_text())["meta"]["neighbour"]
    assert neighbour["on"] is True and neighbour["exited_early_with"] is None
    if hasattr(os, "sched_setaffinity"):
        assert neighbour["core"] == min(os.sched_getaffinity(0))
    with pytest.raises(ProcessLookupError):  # stopped (and reaped) after the rows
        os.kill(neighbour["pid"], 0)
    assert harness.neighbour_load() == 0.0


def test_step_profile_files_every_call_under_a_part_of_the_step():
    from benchmarks import step_profile

    lines = []
    result = step_profile.main(["--steps", "4", "--warmup", "1", "--top", "3"], out=lines.append)
    parts = result["parts"]
    for part in ("layer forward", "layer backward", "loss", "optimizer"):
        assert parts[part]["python_calls_per_step"] > 0, part
    total = sum(p["python_calls_per_step"] + p["builtin_calls_per_step"] for p in parts.values())
    assert total == pytest.approx(result["calls_per_step"])
    text = "\n".join(lines)
    assert "calls per step:" in text and "top 3 by own time" in text and "top 3 by cumulative time" in text
    again = step_profile.main(["--steps", "4", "--warmup", "1", "--top", "1"], out=lambda line: None)
    assert again["calls_per_step"] == result["calls_per_step"]  # deterministic


def test_missing_workload_module_is_skipped_with_a_note(fast_harness, monkeypatch):
    monkeypatch.setattr(bench, "MODULES", ("not_written_yet",))
    lines = []
    assert bench.main(["--quick"], out=lines.append) == []
    assert any("benchmarks/not_written_yet.py is not there yet" in line for line in lines)


def test_runs_on_a_backend_without_the_numpy_twin(fast_harness):
    rows = bench.main(["--quick", "--reps", "1", "--backend", "array_api_strict", "--only", "probe"],
                      out=lambda line: None)
    numpy_row = next(r for r in rows if r["candidate"] == "numpy")
    assert numpy_row["median"] is None and "--backend numpy" in numpy_row["note"]
    assert next(r for r in rows if r["candidate"] == "xdl")["median"] > 0


def test_entry_point_help_from_a_checkout():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], capture_output=True, text=True, check=False,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0 and "--backend" in out.stdout and "--json" in out.stdout


def _fake_run(monkeypatch, seconds, load):
    """harness.run over fake workloads whose repetitions take ``seconds[label]``, at ``load``."""
    monkeypatch.setattr(harness, "measure", lambda w, **kw: {label: harness.Timing(label, list(seconds[label]))
                                                             for label in w.candidates})
    monkeypatch.setattr(harness, "load_average", lambda: load)
    monkeypatch.setattr(harness.os, "cpu_count", lambda: 2)
    work = harness.Workload("fake step", items=100, candidates={label: (lambda: None) for label in seconds})
    rows, lines = harness.run([work], memory=False), []
    harness.report(rows, lines.append)
    return {r["candidate"]: r for r in rows}, lines


def test_rows_with_a_wide_spread_are_marked_and_explained(fast_harness, monkeypatch):
    rows, lines = _fake_run(monkeypatch, {"xdl": [1.0, 1.1, 1.05], "numpy": [1.0, 2.5, 1.2]}, load=0.5)
    assert rows["xdl"]["unreliable"] == [] and rows["numpy"]["unreliable"] == ["spread 2.5x"]
    table = {line.split()[2]: line for line in lines if line.startswith("fake step")}
    assert harness.MARK not in table["xdl"] and table["numpy"].endswith(f"{harness.MARK} spread 2.5x")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{harness.MARK} unreliable: 1 of 2 rows"))
    note = " ".join(lines[start:])
    assert "1.5x" in note and "load average" in note and "OPENBLAS_NUM_THREADS=1" in note


def test_a_loaded_machine_marks_every_row(fast_harness, monkeypatch):
    rows, lines = _fake_run(monkeypatch, {"xdl": [1.0, 1.0], "numpy": [1.0, 1.1]}, load=3.4)
    assert all(r["unreliable"] == ["load 3.4 on 2 cores"] for r in rows.values())
    assert any(line.startswith(f"{harness.MARK} unreliable: 2 of 2 rows") for line in lines)
    _, quiet = _fake_run(monkeypatch, {"xdl": [1.0, 1.0]}, load=1.9)  # this run's own thread, and some
    assert not any("unreliable" in line for line in quiet)


def test_gemm_shares_above_100_percent_read_unreliable():
    from benchmarks import mlp

    def row(name, candidate, median, flags=()):
        return {"workload": name, "candidate": candidate, "median": median, "unreliable": list(flags)}

    train, gemms = f"mlp train 784-256-256-10 b{mlp.BATCH} ce", f"{mlp.GEMMS} b{mlp.BATCH}"
    rows = [row(train, "xdl", 5.08 * mlp.BATCH), row(gemms, "xdl", 1.0, ["spread 3.0x"]),  # 508%
            row(train, "numpy", 0.5 * mlp.BATCH), row(gemms, "numpy", 1.0),
            row("probe train 10x32 b32 ce", "xdl", 593.0, ["load 4.0 on 2 cores"]),
            row("probe train 10x32 b32 ce", "numpy", 1.0)]
    lines = mlp.summaries(rows)
    assert lines[0] == ("xdl: the mlp train step's share in its GEMMs is unreliable (it came out above 100%) "
                        f"{harness.MARK} (unreliable rows)")
    assert lines[1] == "numpy: 50% of the mlp train step is its GEMMs"
    assert lines[-1].startswith("probe train 10x32: xdl runs at 593.00x") and lines[-1].endswith("(unreliable rows)")


def test_benchmark_and_generation_speed_run_tiny():
    from benchmarks import attention

    attention.xdl_mha("numpy", 2, 8)()  # test_benchmarks runs the harness beside PyTorch
    attention.xdl_block("numpy", 2, 8)()
    assert attention.summaries([{"workload": f"mha fwd+bwd causal n2 t{t} (growth)", "candidate": "xdl",
                                 "median": 1000.0 / t} for t in (8, 16)]) == [
        "attention xdl, ms per sequence: T=8: 8.00 ms (1.0x), T=16: 16.00 ms (2.0x)"]
    speed = attention.generation_speed("numpy", chars=6, prompt=3, layers=1, reps=1, out=lambda line: None)
    assert set(speed) == {"cache", "no_cache"} and min(speed.values()) > 0


def test_steal_mode_takes_a_share_in_bursts_and_says_at_which_priority(fast_harness, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "jax", None)
    path = tmp_path / "steal.json"
    lines = []
    bench.main(["--quick", "--reps", "1", "--only", "probe", "--steal", "0.2", "--json", str(path)], out=lines.append)
    neighbour = json.loads(path.read_text())["meta"]["neighbour"]
    assert neighbour["steal"] == 0.2 and "20% of the core in bursts" in neighbour["kind"]
    assert any("priority" in line for line in lines)
    with pytest.raises(SystemExit, match="between 0 and 1"):
        bench.main(["--quick", "--only", "probe", "--steal", "1.5"], out=lines.append)

