"""The data ``fit``, ``evaluate`` and ``predict`` are given, made ready for the steps: moved to the
model's device once per call, in its dtypes, with shapes, class labels and (on request) finite
values checked before any step; held-out validation rows cut off; streams' batches converted as
they come.
"""

from __future__ import annotations

from ..core.backend import _create, convert, floatx, get_backend
from ..errors import ArgumentError, ShapeError
from ..text.strings import STRING, is_host_strings, is_text
from .data import Stream, batches, is_stream, unpack
from .epochs import StreamFeed, rows
from .sample_weights import sample_weights


def check_finite_values(be, a, what):
    """One device read per call: refuse NaN or infinite values in ``a``."""
    xp = be.xp
    if xp.isdtype(a.dtype, "real floating"):
        bad = int(xp.sum(xp.astype(~xp.isfinite(a), xp.int64)))
        if bad:
            rows = xp.any(~xp.isfinite(xp.reshape(a, (a.shape[0], -1))), axis=1)
            first = int(xp.argmax(xp.astype(rows, xp.int8)))
            raise ArgumentError(f"{what} holds {bad} NaN or infinite value(s), the first in sample {first}")


def on_device(model, X, y, where, check_finite=False, host_labels=False):
    """Inputs and targets on the model's backend, as lists (one array per input, one per
    output; None for an output without a loss), with shapes checked against each other.
    ``host_labels``: check label values on the host before the move where the targets come
    from the host (a stream's batches: no device read per batch)."""
    xs, out_shapes = model.accept_inputs(X)
    be, objectives, n = model.backend, model.objectives, xs[0].shape[0]
    if n == 0:
        raise ShapeError(f"{where}: X has no samples")
    ys = objectives.split(y, where)
    for k in objectives.scored:
        loss, name = objectives.losses[k], objectives.output_names[k]
        label = where if not objectives.several else f"{where}: output {name!r}"
        on_host = host_labels and not be.owns(ys[k])
        if on_host:
            host = _host_backend()
            t = loss.targets(host, ys[k], host.xp.float64)
            if t.ndim > 0 and t.shape[0] == n:
                ys[k] = loss.check_labels(host, t, (n,) + tuple(out_shapes[k]), label)
        t = loss.targets(be, ys[k], model.output_dtype(k))
        if t.ndim == 0 or t.shape[0] != n:
            got = "a scalar" if t.ndim == 0 else f"{t.shape[0]} samples"
            raise ShapeError(f"{label}: X has {n} samples but y has {got}")
        loss.check_shapes(tuple(t.shape), (n,) + tuple(out_shapes[k]))
        if check_finite:
            check_finite_values(be, t, f"{label}: y")
        ys[k] = t if on_host else loss.check_labels(be, t, (n,) + tuple(out_shapes[k]), label)  # before any step
    if check_finite:
        for x in xs:
            check_finite_values(be, x, f"{where}: X")
    return xs, ys


def _host_backend():
    return _create("numpy", None, False)


def weighed(model, X, y, sample_weight, class_weight, where, check_finite, host_labels=False):
    """``(xs, ys, weights)`` on the device: ``on_device`` and the sample weights (None without)."""
    xs, ys = on_device(model, X, y, where, check_finite, host_labels)
    ws = sample_weights(model, sample_weight, class_weight, ys, xs[0].shape[0], where)
    if check_finite and ws is not None:
        for w in ws:
            if w is not None:
                check_finite_values(model.backend, w, f"{where}: sample_weight")
    return xs, ys, ws


def unlabelled(model, X, check_finite):
    """Inputs without targets, on the model's backend, for a train_step of the user's: a list
    of arrays (floats in the model's dtype), X's rows each a sample."""
    be = model.backend or get_backend()
    dtype = model.dtype or be.dtype(model.dtype_name or floatx())
    xs = []
    for part in X if isinstance(X, (list, tuple)) and not is_text(X) else [X]:
        x = convert(be, part, STRING if is_text(part) else None, f"{model.name}: x")  # text stays on the host
        if is_host_strings(x):
            xs.append(x)
            continue
        xs.append(be.xp.astype(x, dtype) if be.xp.isdtype(x.dtype, "real floating") and x.dtype != dtype else x)
    if any(x.ndim < 1 for x in xs) or len({x.shape[0] for x in xs}) > 1:
        raise ShapeError(f"{model.name}: x must be arrays with the same number of samples, got shapes "
                         f"{[tuple(x.shape) for x in xs]}")
    if check_finite:
        for x in xs:
            if not is_host_strings(x):
                check_finite_values(be, x, "fit: x")
    return xs


def stream_converter(model, where, check_finite, class_weight):
    """A stream batch ``(x, y[, sample_weight])`` -> ``(xs, ys, weights)`` on the device."""
    def convert(raw):
        x, y, w = unpack(raw)
        if y is None:
            raise ArgumentError(f"{where}: each batch must be (x, y) or (x, y, sample_weight); got one without targets")
        return weighed(model, x, y, w, class_weight, where, check_finite, host_labels=True)
    return convert


def validation_feed(model, validation_data, validation_steps, check_finite, prefetch):
    """A feed of the validation data: a stream, or ``(X, y)`` / ``(X, y, sample_weight)``."""
    where = "fit: validation_data"
    if is_stream(validation_data):
        return StreamFeed(Stream(validation_data, validation_steps, where),
                          stream_converter(model, where, check_finite, None), prefetch)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ArgumentError("fit: validation_data must be a pair (X_val, y_val), a triple (X_val, y_val, "
                            "sample_weight_val) or a stream of batches")
    X, y, w = (tuple(validation_data) + (None,))[:3]
    return weighed(model, X, y, w, None, where, check_finite)


def split(model, X, y, validation_data, validation_split, check_finite, sample_weight=None, class_weight=None,
          validation_steps=None, prefetch=2):
    """Training data and validation data (or None): triples ``(xs, ys, weights)`` on the
    model's backend (validation: a ``StreamFeed`` when given as a stream)."""
    if validation_data is not None:
        train = weighed(model, X, y, sample_weight, class_weight, "fit", check_finite)
        return train, validation_feed(model, validation_data, validation_steps, check_finite, prefetch)
    xs, ys, ws = weighed(model, X, y, sample_weight, class_weight, "fit", check_finite)
    if not validation_split:
        return (xs, ys, ws), None
    n = xs[0].shape[0]
    if not 0.0 < validation_split < 1.0:
        raise ArgumentError(f"fit: validation_split must be in (0, 1), got {validation_split!r}")
    n_val = int(n * validation_split)
    if n_val < 1 or n_val >= n:
        raise ArgumentError(f"fit: validation_split={validation_split} of {n} samples leaves "
                            f"{n_val} for validation; both parts need at least one sample")
    cut = n - n_val  # the last samples, before any shuffling (as Keras does)
    return ((rows(xs, 0, cut), rows(ys, 0, cut), rows(ws, 0, cut)),
            (rows(xs, cut, n), rows(ys, cut, n), rows(ws, cut, n)))


def stream_fit(model, X, y, validation_data, validation_split, check_finite, sample_weight, class_weight,
               steps_per_epoch, validation_steps, prefetch):
    """``(feed, first batch, validation)`` for ``fit`` on a stream of batches."""
    if y is not None or sample_weight is not None:
        raise ArgumentError("fit: x is a stream of batches, so y and sample_weight come in its batches "
                            "((x, y) or (x, y, sample_weight)); pass y=None")
    if validation_split:
        raise ArgumentError("fit: validation_split needs arrays; with a stream of batches pass validation_data")
    feed = StreamFeed(Stream(X, steps_per_epoch, "fit"), stream_converter(model, "fit", check_finite, class_weight),
                      prefetch)
    first = feed.first()  # builds an unbuilt model before the weights are shared or trained
    validation = None
    if validation_data is not None:
        validation = validation_feed(model, validation_data, validation_steps, check_finite, prefetch)
    return feed, first, validation


def facts(xs, ys, validation, batch_size, epochs, initial_epoch, shuffle):
    """What the processes of a data-parallel fit must agree on (plain values, for an all-gather)."""
    n = xs[0].shape[0]
    return {"samples": n, "batch_size": batch_size, "epochs": epochs, "initial_epoch": initial_epoch,
            "shuffle": bool(shuffle), "steps per epoch": len(batches(n, batch_size)),
            "input shapes": [tuple(x.shape[1:]) for x in xs],
            "target shapes": None if ys is None else [None if y is None else tuple(y.shape[1:]) for y in ys],
            "validation samples": None if validation is None else validation[0][0].shape[0]}
