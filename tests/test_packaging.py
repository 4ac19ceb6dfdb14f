"""How xdl installs: the adapters in the repository's backends/ folder are the package
``xdl.backends``, so a user's own top-level ``backends`` cannot shadow them; README's first
install line brings what README's two commands need, and CI installs what README says."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

SHADOWED = """
import sys
import xdl
xdl.set_backend("numpy")
assert xdl.get_backend().name == "numpy"
assert xdl.backends.__name__ == "xdl.backends", xdl.backends.__name__
assert "numpy" in xdl.backends.names() and callable(xdl.backends.probe)
assert "backends" not in sys.modules, "xdl imported a top-level 'backends'"
import backends
assert backends.MINE == "the user's own package", backends.__file__
print("ok")
"""


def test_a_users_own_backends_package_does_not_shadow_xdls(tmp_path):
    (tmp_path / "backends").mkdir()
    (tmp_path / "backends" / "__init__.py").write_text('MINE = "the user\'s own package"\n')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XDL_")}
    out = subprocess.run([sys.executable, "-c", SHADOWED], capture_output=True, text=True, env=environ,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"]


def test_nothing_imports_the_adapters_as_a_top_level_backends():
    offenders = []
    for folder in ("xdl", "backends", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                if any(name == "backends" or name.startswith("backends.") for name in names):
                    offenders.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert not offenders, ("import the adapters as xdl.backends (relatively inside backends/):\n"
                           + "\n".join(offenders))


def test_every_package_folder_is_installed():
    """A wheel holds only the packages pyproject.toml lists: each folder with an __init__.py."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "xdl").rglob("__init__.py")}
    found |= {".".join(("xdl",) + p.parent.relative_to(ROOT).parts) for p in (ROOT / "backends").rglob("__init__.py")}
    assert found == listed, f"missing from pyproject.toml: {sorted(found - listed)}; listed, not there: {sorted(listed - found)}"


def install_section():
    readme = (ROOT / "README.md").read_text()
    return re.search(r"^## Install\n(.+?)^## ", readme, re.S | re.M).group(1)


def shell_blocks(text):
    return [block.strip().splitlines() for block in re.findall(r"```(?:sh|bash)\n(.+?)```", text, re.S)]


def extras():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def requirements(line):
    """The distributions one `pip install -e ".[a,b]"` line brings beyond the core."""
    found = re.search(r'pip install -e "?\.\[([\w,-]+)\]"?', line)
    assert found, line
    table = extras()
    names = set()
    for extra in found.group(1).split(","):
        names |= {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() for r in table[extra]}
    return names


def test_the_first_install_line_brings_what_the_two_commands_need():
    first_block = shell_blocks(install_section())[0]
    pip_lines = [line for line in first_block if "pip install" in line]
    needs = requirements(pip_lines[0])
    assert "scikit-learn" in needs  # python examples/digits.py
    assert {"pytest", "array-api-strict", "hypothesis"} <= needs  # the test command
    digits = (ROOT / "examples" / "digits.py").read_text()
    assert "from sklearn" in digits  # what the line above is for


def test_no_heavy_optional_install_shares_the_first_pasteable_block():
    blocks = shell_blocks(install_section())
    heavy = re.compile(r"cupy|torch|\[[^\]]*\bmpi\b")
    assert not [line for line in blocks[0] if heavy.search(line)], blocks[0]
    for block in blocks[1:]:
        installs = [line for line in block if "pip install" in line]
        assert len(installs) <= 1, f"one optional install per block: {block}"
        assert all("#" in line for line in installs), f"say what each optional line is for: {block}"


def test_the_cpu_only_pytorch_route_is_given():
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in install_section()


def test_what_the_readme_says_ci_installs_is_what_ci_installs():
    ci = (ROOT / ".ci" / "run").read_text()
    ci_extras = re.search(r'pip install (?:-q )?-e "\.\[([\w,-]+)\]"', ci).group(1)
    said = [line for line in install_section().splitlines() if "CI" in line or f".[{ci_extras}]" in line]
    assert any(f'".[{ci_extras}]"' in line for line in said), said
    assert set(ci_extras.split(",")) <= set(extras())
