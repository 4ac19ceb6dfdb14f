"""Layers users write Keras's way, ``build`` + ``call`` with ``xdl.ops``: the tape (core/tape.py)
gives their backward. A built-in layer called inside such a ``call`` is one step of the tape
with its own hand-written backward. Also: a layer called on data while gradients are being
recorded (inside a ``GradientTape``, on a Tensor, or with ``training=True``) records itself.
"""

from __future__ import annotations

import functools
import inspect

from ..core import symbolic, tape
from ..core.backend import namespace_of
from ..core.tape import Tensor, unwrap
from ..errors import ShapeError


@functools.cache
def accepted(call) -> frozenset:
    """The keyword arguments a user's ``call`` takes (training, mask...)."""
    try:
        params = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return frozenset({"training", "mask", "*"})
    return frozenset(p.name for p in params)


def run_call(layer, x, training, kwargs):
    """The user's ``call`` on ``x`` (arrays or Tensors), given ``training`` if it takes it."""
    takes = accepted(type(layer).call)
    if "training" in takes:
        kwargs = {**kwargs, "training": training}
    layer._call_losses = []  # add_loss collects into this call's list
    return layer.call(x, **kwargs)


def apply(layer, x, training, kwargs):
    """``(y, backprop)`` for a Keras-style layer: ``call`` runs on leaf Tensors of ``x``, and
    ``backprop`` sweeps what it recorded (plus any ``add_loss`` terms) back to ``x``,
    adding the parameters' gradients on the way."""
    several = isinstance(x, (list, tuple))
    leaves = [tape.leaf(v) for v in (x if several else [x])]
    y = run_call(layer, leaves if several else leaves[0], training, kwargs)
    outs = list(y) if isinstance(y, (list, tuple)) else [y]
    extra = collected_losses(layer)
    value = _arrays(y)

    def backprop(dy, need_dx=True):
        dys = list(dy) if isinstance(y, (list, tuple)) else [dy]
        roots = [o for o, d in zip(outs, dys) if d is not None]
        seeds = [d for d in dys if d is not None]
        for loss in extra:
            if type(loss) is Tensor:
                xp = namespace_of(loss.value)
                roots.append(loss)
                seeds.append(xp.ones_like(loss.value))
        found = tape.backpropagate(roots, seeds, leaves if need_dx else ())
        if not need_dx:
            return None
        xp = namespace_of(leaves[0].value)
        dxs = [found[id(t)] if id(t) in found else xp.zeros_like(t.value) for t in leaves]
        return dxs if several else dxs[0]

    return value, backprop


def infer(layer, x, training=False, **kwargs):
    """The user's ``call`` in inference: on arrays, nothing recorded."""
    with tape.paused():
        inputs = [Tensor(v) for v in x] if isinstance(x, (list, tuple)) else Tensor(x)
        return _arrays(run_call(layer, inputs, training, kwargs))


def _arrays(y):
    """A call's output (a Tensor, an array, or a list or tuple of them) as arrays."""
    return type(y)(unwrap(o) for o in y) if isinstance(y, (list, tuple)) else unwrap(y)


def collected_losses(layer) -> list:
    """What ``add_loss`` collected in the latest call of ``layer`` and the layers inside it."""
    out = list(getattr(layer, "_call_losses", ()))
    for sub in layer._sublayers():
        out += collected_losses(sub)
    return out


def output_shape(layer, input_shape):
    """A Keras-style layer's per-sample output shape, for one without ``compute_output_shape``:
    found by running ``call`` on ones, twice where the input has free (None) sizes, so that
    sizes following them come out free too."""
    several = layer.multiple_inputs
    trials = []
    for fill in (2, 3):
        shapes = input_shape if several else [input_shape]
        # ones, not zeros: a trial of x / sum(x) or log(x) must not warn of a division by zero;
        # integer inputs (token ids) as the graph declares them
        declared = symbolic.probe_dtypes.get() or [None] * len(shapes)
        be = layer.backend
        xs = [be.xp.ones((1, *(fill if d is None else d for d in s)), device=be.device,
                         dtype=layer.dtype if kind is None or kind.startswith("float") else be.dtype(kind))
              for s, kind in zip(shapes, declared)]
        try:
            y = infer(layer, xs if several else xs[0], False)
        except Exception as e:
            raise ShapeError(f"{layer.describe()}: its output shape could not be found by running call on ones of "
                             f"shape {[tuple(x.shape) for x in xs]} ({type(e).__name__}: {e}); define "
                             "compute_output_shape(input_shape)") from e
        trials.append([tuple(o.shape[1:]) for o in y] if isinstance(y, (list, tuple)) else tuple(y.shape[1:]))
        if not any(d is None for s in shapes for d in s):
            return trials[0]
    if isinstance(trials[0], list):  # several outputs: a shape each
        return [tuple(a if a == b else None for a, b in zip(s, t)) for s, t in zip(*trials)]
    return tuple(a if a == b else None for a, b in zip(*trials))


def record(layer, x, training, kwargs):
    """``layer(x)`` on data while gradients are recorded: one step of the tape, the layer's
    own ``apply`` forward and its ``backprop`` backward. Returns a Tensor."""
    several = isinstance(x, (list, tuple))
    parts = list(x) if several else [x]
    nodes = [tape.node_of(p) for p in parts]
    values = layer.accept([unwrap(p) for p in parts] if several else unwrap(x))
    y, backprop = layer.apply(values, training, **kwargs)
    return tape.layer_step(y, nodes, backprop, several)
