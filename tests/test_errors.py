"""Every error xdl raises on purpose is an ``XdlError`` and a built-in kind (``ValueError``,
``TypeError``, ``KeyError``, ``OSError``...), so that ``except xdl.XdlError`` and a Keras user's
``except ValueError`` both catch it. Two proofs: no ``raise`` of a bare built-in exception in
the source, and a walk over the public API's arguments with hostile values, where every refusal
must be an ``XdlError`` (a value may also be accepted: a walk cannot know every valid one)."""

from __future__ import annotations

import ast
import builtins
import inspect
import pathlib

import numpy as np
import pytest

import xdl

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILTIN_ERRORS = {name for name, obj in vars(builtins).items()
                  if isinstance(obj, type) and issubclass(obj, BaseException)}
#: raises of a built-in kind that a protocol requires as it is: (file, exception)
PROTOCOL = {("backends/_numba/__init__.py", "AttributeError"),  # a module's __getattr__
            ("xdl/io/files.py", "FileExistsError")}  # caught by atomic_write, raised as a ModelSaveError


def raised_builtins(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in BUILTIN_ERRORS:
                yield node.lineno, exc.id


def test_no_bare_builtin_error_is_raised():
    found = [f"{path.relative_to(ROOT)}:{line}: raise {name}"
             for folder in ("xdl", "backends") for path in sorted((ROOT / folder).rglob("*.py"))
             for line, name in raised_builtins(path)
             if (str(path.relative_to(ROOT)), name) not in PROTOCOL]
    assert not found, "raise an xdl error (xdl/errors.py) instead:\n" + "\n".join(found)


def test_each_error_class_is_also_a_builtin_kind():
    import xdl.errors as errors
    classes = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, errors.XdlError)]
    assert len(classes) > 10
    for cls in classes:
        if cls is not errors.XdlError:
            assert any(base.__module__ == "builtins" and base is not Exception for base in cls.__mro__[1:]), cls


HOSTILE = ["loud", -1, 0, 2**70, 1.5, float("nan"), object(), [], (1, 2, 3), True, np.int64(-2), b"x",
           np.zeros((2, 2))]
#: valid values for the arguments a class cannot be made without
REQUIRED = {"units": 2, "filters": 2, "kernel_size": 3, "hidden_size": 2, "vocab_size": 5, "dim": 4,
            "num_heads": 2, "key_dim": 2, "mlp_dim": 4, "max_length": 5, "target_shape": (2,),
            "filename": "log.csv", "filepath": "ck.xdl", "schedule": lambda epoch, lr: lr, "rate": 0.5,
            "learning_rate": 0.1, "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "step_size": 3,
            "num_classes": 3, "activation": "relu", "layer": None, "n": 2, "dims": (2, 1), "stddev": 0.1,
            "scale": 0.5, "height": 2, "width": 2, "num_tokens": 3, "bin_boundaries": [0.0],
            "factor": 0.2, "height_factor": 0.1, "width_factor": 0.1, "num_bins": 3}
INTERNAL = {"callbacks.BatchLogs", "callbacks.Callbacks"}  # made by fit, not by users


def public_classes():
    for space in ("layers", "losses", "metrics", "optimizers", "callbacks", "schedules", "regularizers",
                  "initializers"):
        module = getattr(xdl, space)
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if (inspect.isclass(obj) and obj.__module__.startswith("xdl.") and not name.startswith("_")
                    and not issubclass(obj, BaseException)
                    and f"{space}.{name}" not in INTERNAL):
                yield f"{space}.{name}", obj


def _refused_only_by_xdl(call, what):
    try:
        call()
    except xdl.XdlError:
        pass
    except Exception as e:  # noqa: BLE001 (the point: anything else is a finding)
        pytest.fail(f"{what}: {type(e).__name__}: {e}")


@pytest.mark.parametrize(("name", "cls"), list(public_classes()), ids=lambda v: v if isinstance(v, str) else "")
def test_constructor_arguments_are_refused_as_xdl_errors(tmp_path, monkeypatch, name, cls):
    monkeypatch.chdir(tmp_path)  # callbacks that write name files in the working folder
    parameters = [p for p in inspect.signature(cls).parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    base = {p.name: REQUIRED[p.name] for p in parameters if p.name in REQUIRED and p.default in (p.empty, None)}
    if "layer" in base:
        base["layer"] = xdl.LSTM(2)
    _refused_only_by_xdl(lambda: cls(**base), f"{name}(**{base})")
    for p in parameters:
        for value in HOSTILE:
            _refused_only_by_xdl(lambda p=p, value=value: cls(**{**base, p.name: value}), f"{name}({p.name}={value!r})")


X = np.random.default_rng(0).random((12, 4)).astype(np.float32)
Y = X[:, :1] * 2


def compiled():
    m = xdl.Sequential([xdl.Dense(3, input_size=4), xdl.ReLU(), xdl.Dense(1, input_size=3)])
    m.compile(loss="mse", optimizer="sgd", metrics=["mae"])
    return m


CALLS = {  # name: (the call with a keyword replaced, the function whose arguments are walked)
    "fit": (lambda **k: compiled().fit(**{"x": X, "y": Y, "verbose": 0, **k}), xdl.Model.fit),
    "evaluate": (lambda **k: compiled().evaluate(**{"x": X, "y": Y, **k}), xdl.Model.evaluate),
    "predict": (lambda **k: compiled().predict(**{"x": X, **k}), xdl.Model.predict),
    "compile": (lambda **k: xdl.Sequential([xdl.Dense(1, input_size=4)]).compile(**{"loss": "mse", "optimizer": "sgd", **k}),
                xdl.Model.compile),
    "save": (lambda **k: compiled().save(**{"path": "m.xdl", **k}), xdl.Model.save),
    "load": (lambda **k: xdl.Model.load(**{"path": "saved.xdl", **k}), xdl.Model.load),
    "train_step": (lambda **k: compiled().train_step(**k), xdl.Model.train_step),
    "predict_step": (lambda **k: compiled().predict_step(**k), xdl.Model.predict_step),
    "get_layer": (lambda **k: compiled().get_layer(**k), xdl.Model.get_layer),
    "set_weights": (lambda **k: compiled().set_weights(**k), xdl.Model.set_weights),
    "summary": (lambda **k: compiled().summary(**k), xdl.Model.summary),
    "Input": (lambda **k: xdl.Input(**{"shape": (4,), **k}), xdl.Input),
    "seed": (lambda **k: xdl.seed(**k), xdl.seed),
    "set_floatx": (lambda **k: xdl.set_floatx(**k), xdl.set_floatx),
    "export_weights": (lambda **k: xdl.export_weights(**{"model": compiled(), **k}), xdl.export_weights),
    "import_weights": (lambda **k: xdl.import_weights(**{"model": compiled(), "weights": {}, **k}), xdl.import_weights),
}
SLOW = {("fit", "epochs"), ("fit", "initial_epoch")}  # a huge count of epochs is a long run, not an error


@pytest.mark.parametrize("name", list(CALLS))
def test_method_arguments_are_refused_as_xdl_errors(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    compiled().save("saved.xdl")
    call, function = CALLS[name]
    try:
        for p in inspect.signature(function).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or (name, p.name) in SLOW:
                continue
            for value in [*HOSTILE, None, ""]:
                _refused_only_by_xdl(lambda p=p, value=value: call(**{p.name: value}), f"{name}({p.name}={value!r})")
    finally:
        xdl.set_floatx("float32")
