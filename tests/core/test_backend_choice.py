"""Choosing a backend: wrong names and devices are refused when they are chosen, with what to use
instead."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

import xdl
from tests.helpers import ROOT
from xdl import backends

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def clean_env(**extra):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XDL_")}
    environ.update(extra)
    return environ


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cuda", "gpu", "cuda:0", "CUDA"])
def test_a_device_for_a_name_suggests_cupy_and_torch_on_cuda(name):
    with pytest.raises(ValueError) as info:
        xdl.set_backend(name)
    message = str(info.value)
    assert f"unknown backend {name.lower()!r}" in message
    assert '"cupy"' in message and '"torch" with device="cuda"' in message


def test_the_valid_names_include_auto():
    with pytest.raises(ValueError, match=r"valid names: numpy, .*torch.*, auto"):
        xdl.set_backend("jax")


def test_mps_and_typos_are_pointed_at_the_right_name():
    with pytest.raises(ValueError, match=r'"torch" with device="mps"'):
        xdl.set_backend("mps")
    with pytest.raises(ValueError, match=r"did you mean 'numpy'\?"):
        xdl.set_backend("numpyy")


def test_xdl_backend_names_the_variable():
    code = "import xdl; xdl.get_backend()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=clean_env(XDL_BACKEND="gpu"))
    assert out.returncode != 0
    assert "XDL_BACKEND='gpu'" in out.stderr and "unknown backend 'gpu'" in out.stderr
    assert '"cupy"' in out.stderr


def test_python_m_xdl_info_reports_a_bad_xdl_backend_and_still_lists_backends():
    out = subprocess.run([sys.executable, "-m", "xdl", "info"], capture_output=True, text=True, cwd=ROOT,
                         env=clean_env(XDL_BACKEND="gpu"))
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 1
    for name in backends.names():
        assert re.search(rf"^{name}\s", out.stdout, re.M), out.stdout
    assert "XDL_BACKEND='gpu'" in out.stdout and "unknown backend 'gpu'" in out.stdout


# -- devices ------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
def test_torch_on_an_absent_mps_is_refused_when_chosen():
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(xdl.BackendError) as info:
        xdl.set_backend("torch", device="mps")
    message = str(info.value)
    assert "'mps'" in message and "MPS" in message and "available: cpu" in message


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
def test_torch_on_a_cuda_device_that_is_not_there_is_refused_when_chosen():
    import torch

    device = f"cuda:{torch.cuda.device_count()}"  # one past the last (cuda:0 without CUDA)
    with pytest.raises(xdl.BackendError, match=rf"cannot use device '{device}'.*available: cpu"):
        xdl.set_backend("torch", device=device)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
def test_torch_on_nonsense_and_meta_devices_is_refused():
    for device in ("foo", "meta"):
        with pytest.raises(xdl.BackendError, match=rf"'{device}'.*available"):
            xdl.set_backend("torch", device=device)
    assert xdl.set_backend("torch", device="cpu").device.type == "cpu"
    xdl.set_backend("numpy")
