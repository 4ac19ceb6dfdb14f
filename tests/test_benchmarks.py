"""The benchmark suite runs end to end (tiny repetitions, no pauses); no timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from benchmarks import __main__ as bench
from benchmarks import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def fast_harness(monkeypatch):
    """No pauses, no collections: the suite's logic, not its timing."""
    monkeypatch.setattr(harness, "PAUSE_S", 0.0)
    monkeypatch.setattr(harness.gc, "collect", lambda: 0)


def test_suite_runs_every_workload_without_pytorch(fast_harness, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    lines, path = [], tmp_path / "out.json"
    rows = bench.main(["--quick", "--reps", "2", "--only", "mlp", "--json", str(path)], out=lines.append)
    by_name = {}
    for r in rows:
        by_name.setdefault(r["workload"], {})[r["candidate"]] = r
    assert len(by_name) == 4
    for name, candidates in by_name.items():  # training steps also run as a functional Model
        assert set(candidates) == {"xdl", "torch", "numpy"} | ({"xdl graph"} if " train " in name else set()), name
    for r in rows:
        if r["candidate"] == "torch":
            assert r["median"] is None and r["note"] == "PyTorch is not installed"
        else:
            assert r["median"] > 0 and r["min"] <= r["median"] <= r["max"] and len(r["seconds"]) == 2
    text = "\n".join(lines)
    assert "PyTorch is not installed" in text and "threads: OMP_NUM_THREADS=" in text
    assert "xdl: " in text and "of the mlp train step is its GEMMs" in text
    assert "the same layers as a functional Model run at" in text
    data = json.loads(path.read_text())
    assert data["meta"]["versions"]["torch"] is None and len(data["rows"]) == len(rows)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_suite_runs_pytorch_beside_xdl(fast_harness):
    rows = bench.main(["--quick", "--reps", "1", "--only", "probe", "infer"], out=lambda line: None)
    assert {r["candidate"] for r in rows} == {"xdl", "xdl graph", "torch", "numpy"}
    assert all(r["median"] > 0 for r in rows)
    assert all(r["ratio"] for r in rows)  # every row compares with PyTorch


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
