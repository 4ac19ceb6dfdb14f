"""Rules of the codebase that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
import pathlib
import re

import backends

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARRAY_LIBRARIES = {"numpy", "cupy", "torch", "array_api_strict", "jax"}
HOST_BOUNDARY = {"xdl/io.py"}  # files read and written through NumPy


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


def test_xdl_imports_no_array_library_outside_the_host_boundary():
    offenders = []
    for path in sorted((ROOT / "xdl").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        found = ARRAY_LIBRARIES.intersection(imported_modules(path))
        if found and rel not in HOST_BOUNDARY:
            offenders.append(f"{rel}: {sorted(found)}")
    assert not offenders, "xdl/ must get arrays through the backend shim:\n" + "\n".join(offenders)


def test_every_adapter_fills_the_same_contract():
    for name in backends.names():
        mod = backends.adapter(name)
        for attr in ("probe", "create", "is_array", "to_numpy"):
            assert callable(getattr(mod, attr, None)), f"backends/{name}.py lacks {attr}()"
        status = backends.probe(name)
        assert status.name == name


def test_ci_runs_the_test_command_the_readme_gives():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"<!-- test-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S)
    assert block, "README.md must mark its test command with <!-- test-command -->"
    command = block.group(1).strip().splitlines()[-1]
    assert command in ci, f"{command!r} from README.md is not what .ci/run runs"
