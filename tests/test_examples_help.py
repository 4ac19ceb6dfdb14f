"""The examples' command lines: ``--help`` keeps the docstring's layout and explains every
option; the examples say what they do; numba's compiled kernels are cached across runs."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from test_examples import EXAMPLES, load

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))
SHARED = ["--backend", "--seed", "--batch-size", "--verbose"]


def help_text(name, capsys):
    with pytest.raises(SystemExit) as exit:
        load(name).main(["--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def options(text):
    """{option: its help text} from argparse's options section."""
    found, current = {}, None
    for line in text.split("options:", 1)[1].splitlines():
        m = re.match(r"  (-\S+(?: \S+)?(?:, -\S+(?: \S+)?)*)(?:\s{2,}(.*))?$", line)
        if m:
            current = [o.split()[0] for o in m.group(1).split(", ")]
            for o in current:
                found[o] = (m.group(2) or "").strip()
        elif current and line.startswith(" " * 10):
            for o in current:
                found[o] = (found[o] + " " + line.strip()).strip()
    return found


def test_every_example_is_covered():
    assert {"digits", "digits_cnn", "digits_resnet", "regression", "text_generation"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_help_explains_every_option_and_keeps_the_docstring_layout(name, capsys):
    text = help_text(name, capsys)
    helps = options(text)
    expected = SHARED + ([] if name == "text_generation" else ["--epochs"])
    for option in expected:
        assert option in helps, (option, text)
    for option, words in helps.items():
        assert words, f"{name}: {option} has no help text:\n{text}"
    doc = load(name).__doc__
    for line in doc.strip().splitlines():  # every docstring line, as written
        assert line.rstrip() in text, (line, text)


def test_help_from_the_command_line_keeps_bullets_apart():
    out = subprocess.run([sys.executable, str(EXAMPLES / "digits.py"), "--help"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "\n- ``--recipe modern`` (default)" in out.stdout and "\n- ``--recipe tutorial``" in out.stdout


def test_text_generation_has_no_epochs_beside_its_time_budget(capsys):
    helps = options(help_text("text_generation", capsys))
    assert "--epochs" not in helps and "--minutes" in helps and "--steps" in helps
    assert "--batch" in helps  # the old spelling of --batch-size still works


def test_digits_says_what_it_does_by_default(capsys):
    load("digits").main(["--backend", "numpy", "--epochs", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("modern recipe: training on 1,437 digits, at most 2 epochs"), lines
    assert lines[-2].startswith("modern recipe: 2 epochs in ") and lines[-1].startswith("Test accuracy: ")


def test_text_generation_reports_after_its_first_step(capsys):
    load("text_generation").main(["--backend", "numpy", "--chars", "20000", "--steps", "3", "--eval-every", "100",
                                  "--embed", "8", "--hidden", "8", "--batch-size", "4", "--seq", "8",
                                  "--sample", "5"])
    out = capsys.readouterr().out
    assert re.search(r"^step +1 .* bits/char .*ms/step", out, re.M), out
    assert re.search(r"^step +3 .* held-out", out, re.M), out


# -- numba's disk cache: a second process loads the kernels instead of compiling them ---------------

def _double(x):
    return 2 * x


@pytest.fixture
def numba_jit():
    pytest.importorskip("numba", reason="the fused kernels need numba (the fast extra)")
    from xdl.backends._numba import loader

    return loader.jit


def test_kernels_are_cached_where_numba_finds_a_writable_folder(numba_jit, monkeypatch, tmp_path):
    from numba.core import caching, config

    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))  # as NUMBA_CACHE_DIR=tmp_path does
    kernel = numba_jit(_double)
    assert kernel(np.float32(2)) == 4
    assert any(tmp_path.rglob("*_double*.nbi")), list(tmp_path.rglob("*"))
    assert isinstance(kernel._cache, caching.FunctionCache)


def test_without_a_writable_cache_folder_a_temporary_one_is_used(numba_jit, monkeypatch, tmp_path):
    from numba.core import caching, config

    # no locator but NUMBA_CACHE_DIR's: as in a read-only install with an unwritable home
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [caching.UserProvidedCacheLocator])
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    kernel = numba_jit(_double)
    assert kernel(np.float32(3)) == 6
    assert config.CACHE_DIR.startswith(str(tmp_path)) and any(tmp_path.rglob("*_double*.nbi"))


def test_without_any_cache_folder_kernels_compile_silently(numba_jit, monkeypatch, tmp_path, recwarn):
    from numba.core import caching, config

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "missing" / "deeper"))
    (tmp_path / "missing").write_text("a file, not a folder")  # so the temporary folder cannot exist
    kernel = numba_jit(_double)
    assert kernel(np.float32(4)) == 8 and not recwarn.list
