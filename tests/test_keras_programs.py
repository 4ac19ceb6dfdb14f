"""Keras 3 programs with only the import changed (``import xdl as keras``), each a standalone
script in tests/keras_programs/ that asserts its own results: convnets, recurrent text models,
a Transformer, autoencoders, the Sequential and functional APIs, built-in and custom
callbacks, subclassed layers, models and metrics, custom training steps, and saving. Each runs
in-process, on the numpy backend (they are programs, not backend tests: the backends'
equivalence is tested elsewhere)."""

from __future__ import annotations

import runpy

import pytest

from tests.helpers import ROOT

PROGRAMS = sorted((ROOT / "tests" / "keras_programs").glob("*.py"))


def test_the_programs_are_there():
    assert len(PROGRAMS) >= 10, PROGRAMS


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_keras_program_runs(be, program, capsys):
    if be.name != "numpy":
        pytest.skip(f"{be.name}: the Keras programs run on numpy")
    runpy.run_path(str(program), run_name="__main__")
