"""How xdl installs: the adapters in the repository's backends/ folder are the package
``xdl.backends``, so a user's own top-level ``backends`` cannot shadow them."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

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
