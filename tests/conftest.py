"""Backend-parametrized fixtures: every test that takes ``be`` runs once per selected backend.

Select with ``pytest --backend numpy`` (or ``--backend numpy,torch``, or XDL_TEST_BACKEND);
the default is every known backend. One that cannot run here is skipped with the reason.
"""

from __future__ import annotations

import functools
import os
from collections import Counter

import pytest

import xdl
from xdl import backends
import xdl.core.backend as _backend_state


def pytest_addoption(parser):
    parser.addoption("--backend", default=None,
                     help="backends to test: 'all' (default) or comma-separated names "
                          f"from {', '.join(backends.names())}; env XDL_TEST_BACKEND")


def selected_backends(config):
    value = config.getoption("--backend") or os.environ.get("XDL_TEST_BACKEND") or "all"
    if value == "all":
        return list(backends.names())
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in backends.names()]
    if unknown:
        raise pytest.UsageError(f"--backend: unknown {unknown}; valid: {', '.join(backends.names())}")
    return names


@functools.lru_cache(maxsize=None)
def status(name):
    return backends.probe(name)


def pytest_generate_tests(metafunc):
    if "be" in metafunc.fixturenames:
        metafunc.parametrize("be", selected_backends(metafunc.config), indirect=True)


def pytest_report_header(config):
    lines = []
    for name in selected_backends(config):
        s = status(name)
        lines.append(f"  {name}: " + (f"usable on {s.device}" if s.usable else f"skipped ({s.reason})"))
    return ["xdl backends:"] + lines


def pytest_terminal_summary(terminalreporter):
    """Why tests were skipped, one line per reason with its count (pytest's -rs would list
    each test: a backend that cannot run here skips every test that takes ``be``)."""
    reasons = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skip reasons")
        for reason, count in reasons.most_common():
            terminalreporter.line(f"{count:5d}  {reason}")


@pytest.fixture
def be(request):
    """The backend under test, active for the test's duration."""
    s = status(request.param)
    if not s.usable:
        pytest.skip(f"{request.param}: {s.reason}")
    with xdl.use_backend(request.param, fallback=False) as backend:
        yield backend


@pytest.fixture
def f64(be):
    """The backend under test, with float64 as the default float dtype (for gradient checks)."""
    with xdl.use_floatx("float64"):
        yield be


@pytest.fixture(autouse=True)
def _isolated_state():
    """Each test starts seeded, in float32, and leaves the active backend as it found it."""
    active, floatx = _backend_state._active, xdl.floatx()
    xdl.seed(0)
    yield
    _backend_state._active = active
    xdl.set_floatx(floatx)
