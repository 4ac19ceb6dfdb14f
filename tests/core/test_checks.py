"""Bad input across the public API: each error names the layer or argument, what was expected
and what came (masked arrays and PyTorch's meta tensors too). Good input from other libraries
arrives without a host copy where possible."""

from __future__ import annotations

import numpy as np
import pytest

import xdl

X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
LABELS = np.arange(8) % 2


def model():
    m = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=4), xdl.ReLU(), xdl.Dense(output_size=2)],
                          name="net")
    m.compile(loss="cross_entropy", optimizer="adam")
    return m


BAD = {  # what goes wrong: (call, error type, message)
    "rank": (lambda m: m.predict(np.zeros(3)), xdl.ShapeError,
             r"net: X must have shape \(N, features...\), got \(3,\)"),
    "features": (lambda m: m.predict(np.zeros((2, 5))), xdl.ShapeError,
                 r"dense(_\d+)? \(Dense\): expected input shape \(N, ..., 3\), got \(N, 5\)"),
    "batch-sizes": (lambda m: m.fit(X, LABELS[:7], verbose=0), xdl.ShapeError,
                    "fit: X has 8 samples but y has 7 samples"),
    "target-shape": (lambda m: m.fit(X, np.zeros((8, 3)), verbose=0), xdl.ShapeError,
                     r"CrossEntropy: y_pred has shape \(8, 2\), so y_true must be labels of shape \(8,\)"),
    "strings": (lambda m: m.predict(np.array([["a", "b", "c"]])), TypeError,
                "net: X: expected numeric data, got dtype <U1"),
    "complex": (lambda m: m.predict(np.ones((2, 3), dtype=complex)), TypeError,
                "net: X: expected numeric data, got dtype .*complex128"),
    "objects": (lambda m: m.fit(X, [object()] * 8, verbose=0), TypeError, "CrossEntropy: y_true: "),
    "labels-range": (lambda m: m.fit(X, LABELS + 1, verbose=0), ValueError,
                     r"fit: class labels must lie in \[0, 1\] .* got labels from 1 to 2"),
    "nan-X": (lambda m: m.fit(np.where(np.arange(24).reshape(8, 3) == 7, np.nan, X), LABELS, verbose=0,
                              check_finite=True), ValueError, "fit: X holds 1 NaN or infinite value.*sample 2"),
    "inf-predict": (lambda m: m.predict(np.full((2, 3), np.inf), check_finite=True), ValueError,
                    "predict: X holds 6 NaN or infinite"),
    "epochs": (lambda m: m.fit(X, LABELS, epochs=-1), ValueError, "fit: epochs must be an int >= 0, got -1"),
    "batch-size": (lambda m: m.fit(X, LABELS, batch_size=0), ValueError, "fit: batch_size must be a positive int, got 0"),
    "validation-split": (lambda m: m.fit(X, LABELS, validation_split=1.5, verbose=0), ValueError,
                         r"validation_split must be a number in \[0, 1\), got 1.5"),
    "validation-data": (lambda m: m.fit(X, LABELS, validation_data=X, verbose=0), ValueError,
                        r"validation_data must be a pair \(X_val, y_val\)"),
    "callback": (lambda m: m.fit(X, LABELS, callbacks=[print], verbose=0), TypeError,
                 "fit: callbacks must be xdl.callbacks.Callback instances, got builtin_function_or_method"),
    "not-compiled": (lambda m: xdl.NeuralNetwork([xdl.Dense(output_size=1)]).fit(X, X[:, :1]),
                     xdl.NotBuiltError, r"call compile\(loss=..., optimizer=...\) before fit"),
    # what used to be accepted, or refused in another library's words
    "steps-zero": (lambda m: m.fit(X, LABELS, steps_per_epoch=0, verbose=0), ValueError,
                   "fit: steps_per_epoch must be a positive int or None, got 0"),
    "steps-negative": (lambda m: m.fit(X, LABELS, steps_per_epoch=-3, verbose=0), ValueError,
                       "fit: steps_per_epoch must be a positive int or None, got -3"),
    "steps-fraction": (lambda m: m.fit(X, LABELS, steps_per_epoch=1.5, verbose=0), TypeError,
                       "fit: steps_per_epoch must be a positive int or None, got 1.5"),
    "verbose-word": (lambda m: m.fit(X, LABELS, verbose="loud"), ValueError,
                     "fit: verbose must be one of 0, 1, 2, 'auto', got 'loud'"),
    "verbose-7": (lambda m: m.fit(X, LABELS, verbose=7), ValueError, "fit: verbose must be one of .*got 7"),
    "verbose-negative": (lambda m: m.evaluate(X, LABELS, verbose=-1), ValueError,
                         "evaluate: verbose must be one of .*got -1"),
    "seed-negative": (lambda m: m.fit(X, LABELS, seed=-1, verbose=0), ValueError,
                      "fit: seed must be an int >= 0 or None, got -1"),
    "split-string": (lambda m: m.fit(X, LABELS, validation_split="0.2", verbose=0), TypeError,
                     r"fit: validation_split must be a number in \[0, 1\), got '0.2'"),
    "callbacks-object": (lambda m: m.fit(X, LABELS, callbacks=object(), verbose=0), TypeError,
                         "fit: callbacks must be a list of xdl.callbacks.Callback, got <object object"),
    "callbacks-single": (lambda m: m.fit(X, LABELS, callbacks=xdl.callbacks.TerminateOnNaN(), verbose=0), TypeError,
                         r"put it in a list: callbacks=\[...\]"),
    "units-huge": (lambda m: xdl.Dense(units=2**70), ValueError,
                   "Dense: units must be a positive int <= 2147483647, got 1180591620717411303424"),
    "epsilon-zero": (lambda m: xdl.BatchNorm(epsilon=0), ValueError, r"BatchNorm: epsilon must be a number in \(0, 1\)"),
    "binary-targets": (lambda m: binary().fit(X, np.full((8, 1), 3.0), verbose=0), ValueError,
                       r"fit: binary cross-entropy takes targets in \[0, 1\].*from 3 to 3"),
    "binary-nan": (lambda m: binary().evaluate(X, np.full((8, 1), np.nan)), ValueError,
                   r"evaluate: binary cross-entropy takes targets in \[0, 1\]"),
    "summary-print-fn": (lambda m: m.summary(print_fn="loud"), TypeError, "print_fn must be callable"),
}


def binary():
    m = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=1), xdl.Sigmoid()])
    m.compile(loss="binary_crossentropy", optimizer="sgd")
    return m


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_named(be, case):
    call, kind, match = BAD[case]
    with pytest.raises(kind, match=match) as caught:
        call(model())
    assert isinstance(caught.value, xdl.XdlError)


def test_an_array_on_another_device_is_refused(be):
    if be.name == "array_api_strict":
        import array_api_strict

        elsewhere = array_api_strict.asarray(X, device=array_api_strict.Device("device1"))
    elif be.name == "torch":
        import torch

        elsewhere = torch.empty((8, 3), device="meta")
    else:
        pytest.skip(f"{be.name}: one device here; the check is exercised on torch and array_api_strict")
    with pytest.raises(xdl.BackendError, match=r"net: X: array on device .*, expected .*; move the data"):
        model().predict(elsewhere)
    layer = xdl.Dense(input_size=3, output_size=2)
    with pytest.raises(xdl.BackendError, match=r"dense(_\d+)? \(Dense\): array on device"):
        layer.forward(elsewhere)


def test_dlpack_arrays_arrive_without_a_copy(be):
    torch = pytest.importorskip("torch", reason="the DLPack producer here is PyTorch")
    if be.name == "numpy":
        t = torch.arange(12, dtype=torch.float32).reshape(4, 3)
        shared = be.asarray(t, dtype=be.xp.float32)
        assert shared.__array_interface__["data"][0] == t.data_ptr()
    elif be.name == "torch":
        host = np.arange(12, dtype=np.float32).reshape(4, 3)
        shared = be.asarray(host, dtype=be.xp.float32)
        assert shared.device.type != "cpu" or shared.data_ptr() == host.__array_interface__["data"][0]
    else:
        pytest.skip(f"{be.name}: no shared memory with PyTorch")
    out = model().predict(torch.ones((2, 3)))
    assert be.owns(out) and tuple(out.shape) == (2, 2)


# issue 17, item 19
def test_masked_arrays_and_meta_tensors_get_named_errors():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=2)])
    model.compile(loss="mse", optimizer="sgd")
    model.predict(np.ones((1, 3)))  # built
    masked = np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(xdl.InputError, match=r"neural_network.*: X: got a masked array .*x\.filled\(value\)"):
        model.predict(masked)
    with pytest.raises(xdl.InputError, match="masked array"):
        model.fit(np.ones((2, 3)), np.ma.masked_array(np.ones((2, 2))), epochs=1, verbose=0)
    torch = pytest.importorskip("torch")
    if model.backend.name != "torch":
        with pytest.raises(xdl.BackendError, match="cannot read the data of a Tensor on device meta"):
            model.predict(torch.ones((2, 3), device="meta"))
