"""The backend shim: selection, fallback, reports, data movement, seeding, the float dtype."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
import warnings

import numpy as np
import pytest

import xdl
from tests.helpers import ROOT, assert_close, host
from xdl import backends
from xdl.backends import Status


def run_python(code, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XDL_")}
    environ.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def cupy_unusable(monkeypatch):
    """Pretend this machine has CuPy without a GPU, whatever it really has."""
    real = backends.probe

    def probe(name):
        return Status("cupy", False, "no CUDA device (test)") if name == "cupy" else real(name)

    monkeypatch.setattr(backends, "probe", probe)
    xdl.core.backend._warned.clear()


def test_backend_tells_name_namespace_and_device(be):
    assert xdl.get_backend() is be
    assert be.name in backends.names() and be.device is not None
    x = be.xp.ones((2, 3), dtype=be.xp.float32, device=be.device)
    assert be.owns(x) and tuple(x.shape) == (2, 3)


def test_default_is_numpy_and_xdl_backend_env_selects():
    assert run_python("import xdl; print(xdl.get_backend().name)") == "numpy"
    code = "import xdl; print(xdl.get_backend().name)"
    assert run_python(code, XDL_BACKEND="array_api_strict") == "array_api_strict"


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown backend 'jax'; valid names: numpy, .*array_api_strict"):
        xdl.set_backend("jax")


def test_use_backend_restores_previous():
    xdl.set_backend("numpy")
    with xdl.use_backend("array_api_strict") as be:
        assert xdl.get_backend() is be and be.name == "array_api_strict"
    assert xdl.get_backend().name == "numpy"


def test_fallback_warns_once_naming_reason_and_runs_on_numpy(cupy_unusable):
    with pytest.warns(RuntimeWarning, match=r"backend 'cupy' cannot run here \(no CUDA device \(test\)\); using numpy"):
        be = xdl.set_backend("cupy")
    assert be.name == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert xdl.set_backend("cupy").name == "numpy"  # once is enough


def test_no_fallback_raises_short_runtime_error(cupy_unusable, monkeypatch):
    with pytest.raises(RuntimeError, match="backend 'cupy' cannot run here: no CUDA device") as info:
        xdl.set_backend("cupy", fallback=False)
    assert isinstance(info.value, xdl.BackendError)
    assert len(traceback.extract_tb(info.value.__traceback__)) <= 2  # no deep library traceback
    monkeypatch.setenv("XDL_STRICT_BACKEND", "1")
    with pytest.raises(xdl.BackendError):
        xdl.set_backend("cupy")


def test_auto_picks_the_fastest_usable_backend():
    usable = [s for s in xdl.available_backends() if s.usable]
    assert xdl.set_backend("auto").name == max(usable, key=lambda s: s.priority).name


def test_available_backends_reports_every_backend_with_reason():
    report = {s.name: s for s in xdl.available_backends()}
    assert set(report) == {"numpy", "cupy", "torch", "array_api_strict"}
    assert report["numpy"].usable and "numpy" in report["numpy"].versions
    for s in report.values():
        assert s.usable or s.reason, f"{s.name} is unusable without a reason"


def test_python_m_xdl_info_lists_backends():
    out = subprocess.run([sys.executable, "-m", "xdl", "info"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for name in backends.names():
        assert name in out.stdout
    assert "active: numpy" in out.stdout


def test_bad_device_is_a_clear_error():
    with pytest.raises(xdl.BackendError, match="numpy.*cannot use device 'cuda:3'"):
        xdl.set_backend("numpy", device="cuda:3")


@pytest.mark.parametrize("source", ["list", "numpy", "array_api_strict", "torch"])
def test_inputs_from_anywhere_are_moved_once(be, source):
    data = [[1.0, -2.0], [3.0, -4.0]]
    if source == "list":
        x = data
    elif source == "numpy":
        x = np.array(data)
    else:
        if not backends.probe(source).usable:
            pytest.skip(f"{source}: {backends.probe(source).reason}")
        x = backends.create(source).asarray(np.array(data))
    y = xdl.ReLU().forward(x)
    assert be.owns(y)
    assert_close(y, [[1.0, 0.0], [3.0, 0.0]])


def test_non_numeric_input_is_rejected(be):
    with pytest.raises(TypeError, match=r"re_lu.*\(ReLU\): expected numeric data, got dtype <U1"):
        xdl.ReLU().forward([["a", "b"]])
    with pytest.raises(TypeError, match="X: expected numeric data, got dtype object"):
        xdl.NeuralNetwork([xdl.Dense(output_size=1)]).predict(np.array([[None]]))


def test_to_numpy_returns_a_host_copy(be):
    x = be.xp.ones((3,), dtype=be.xp.float32, device=be.device)
    copy = xdl.to_numpy(x)
    assert isinstance(copy, np.ndarray)
    copy[0] = 5.0
    assert host(x)[0] == 1.0


def test_same_seed_same_initial_model_on_every_backend(be):
    xdl.seed(7)
    weights = host(xdl.Dense(input_size=4, output_size=3).weights)
    with xdl.use_backend("numpy"):
        xdl.seed(7)
        reference = host(xdl.Dense(input_size=4, output_size=3).weights)
    np.testing.assert_array_equal(weights, reference)


def test_parameters_live_on_the_backend_device(be):
    layer = xdl.Dense(input_size=2, output_size=2)
    for p in layer.parameters():
        assert be.owns(p.value) and be.same_device(p.value)


def test_float64_selectable(be):
    with xdl.use_floatx("float64"):
        layer = xdl.Dense(input_size=2, output_size=2)
    assert layer.weights.dtype == be.xp.float64
    assert layer.forward(np.ones((1, 2), dtype=np.float32)).dtype == be.xp.float64
    with pytest.raises(ValueError, match=r"set_floatx: the float dtype \(floatx\) must be one of .float32., .float64., got .float16."):
        xdl.set_floatx("float16")
