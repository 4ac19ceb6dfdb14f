"""Rules of the codebase that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
import re

from tests.helpers import ROOT
from xdl import backends

ARRAY_LIBRARIES = {"numpy", "cupy", "torch", "array_api_strict", "jax"}
HOST_BOUNDARY = ("xdl/io/", "xdl/text/")  # files, and strings, handled through NumPy


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
        if found and not rel.startswith(HOST_BOUNDARY):
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


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _xdl_imports(path, module):
    """xdl modules ``module`` imports, at its top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("xdl"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("xdl"):
                yield target
                yield from (f"{target}.{a.name}" for a in node.names)


def test_xdl_modules_import_no_circle():
    """network -> distributed -> training -> callbacks -> io -> network was a circle (closed by an
    import inside a function); none may return, hidden in a function or not."""
    paths = {_module_name(p): p for p in (ROOT / "xdl").rglob("*.py")}
    graph = {m: {t for t in _xdl_imports(p, m) if t in paths and t != m} for m, p in paths.items()}
    for package in [m for m in paths if paths[m].name == "__init__.py"]:
        graph[package] = set()  # a package's __init__ gathers names; its modules import what they need

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, route = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return route + [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, route + [nxt]))
        return None

    circles = [c for c in map(cycle_from, sorted(graph)) if c]
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


#: xdl's floors, lowest first: a module imports from its own floor and those below, never above
#: (a package's __init__ only gathers names, and ``xdl/__init__.py`` stands above them all)
FLOORS = [("core", ("xdl.errors", "xdl.tutorial", "xdl.core", "xdl.text")),
          ("layers", ("xdl.layers",)),
          ("losses and optimizers", ("xdl.losses", "xdl.optimizers")),
          ("metrics", ("xdl.metrics",)),
          ("io", ("xdl.io",)),
          ("train", ("xdl.train",)),
          ("models", ("xdl.models",))]


def _floor(module):
    for level, (_, prefixes) in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def test_every_module_sits_on_a_floor():
    paths = {_module_name(p) for p in (ROOT / "xdl").rglob("*.py")}
    homeless = sorted(m for m in paths if _floor(m) is None and m not in ("xdl", "xdl.__main__"))
    assert not homeless, f"modules on no floor (add them to FLOORS): {homeless}"


def test_no_floor_imports_from_a_floor_above():
    """core < layers < losses, optimizers < metrics < io < train < models: a layer never reaches
    for the training loop, the loop never for Model (it calls the model it is given)."""
    paths = {_module_name(p): p for p in (ROOT / "xdl").rglob("*.py")}
    upward = []
    for module, path in sorted(paths.items()):
        level = _floor(module)
        if level is None or path.name == "__init__.py":
            continue
        for target in set(_xdl_imports(path, module)):
            if target in paths and target != "xdl" and (_floor(target) or 0) > level:
                upward.append(f"{module} ({FLOORS[level][0]}) imports {target} ({FLOORS[_floor(target)][0]})")
    assert not upward, "imports from a floor above:\n" + "\n".join(sorted(upward))
