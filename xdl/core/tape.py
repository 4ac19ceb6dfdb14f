"""Reverse-mode automatic differentiation over the array API: what users' own layers, losses,
metrics and training steps run on (built-in layers keep their hand-written backward passes).

An op (core/ops/) on a ``Tensor`` or a trainable ``Parameter`` (a Variable) computes its
value with the backend's arrays and returns a ``Tensor`` that remembers its parents and a
closure giving their gradients (its rule); on anything else it is the bare array call and
nothing is recorded. ``backpropagate`` sweeps the recorded graph once in reverse topological
order: each Parameter reached adds its part to ``.grad`` (as built-in layers do), and the
gradients of the Tensors asked for are returned. ``GradientTape`` (TensorFlow's), ``backward``
(PyTorch's) and ``grad``/``value_and_grad`` (JAX's) are three faces of that one sweep.
"""

from __future__ import annotations

import contextlib
import functools
import threading

from ..errors import ArgumentError, ArgumentTypeError, NotFoundError
from . import parameter
from .backend import get_backend, namespace_of, to_numpy
from .parameter import Parameter


class _State(threading.local):
    def __init__(self):
        self.tapes = []  # the GradientTapes open in this thread, innermost last
        self.watched = {}  # id(array) -> its leaf Tensor, for arrays a tape watches
        self.paused = False  # inference of a user's layer: nothing recorded


_state = _State()


class Tensor:
    """A value computed from watched inputs: ``value`` (the backend's array), and how to pass a
    gradient back to its ``parents``: ``rule(g, need)`` gives one gradient per parent, computed
    where ``need`` (a bool per parent) says one is wanted, None elsewhere. ``keeps``: the rule
    also feeds parameters of its own (a built-in layer's step), so it runs whatever ``need``
    says. Has the array's ``shape``, ``dtype``, ``ndim``, its operators, ``numpy()``, and
    ``backward()``, which adds ``d self / d p`` to each Parameter's ``.grad``."""

    __slots__ = ("value", "parents", "rule", "keeps", "__weakref__")
    __array_priority__ = 100  # NumPy defers to our operators: ``np_array * tensor`` is recorded

    def __init__(self, value, parents=(), rule=None, keeps=False):
        self.value, self.parents, self.rule, self.keeps = value, parents, rule, keeps

    shape = property(lambda self: tuple(self.value.shape))
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    device = property(lambda self: self.value.device)

    def numpy(self):
        """The value as a NumPy array (a host read)."""
        return to_numpy(self.value)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        return float(self.numpy())

    def __int__(self):
        return int(self.numpy())

    def __bool__(self):
        return bool(self.numpy())

    def __len__(self):
        return self.value.shape[0]

    def __repr__(self):
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, value={self.value!r})"

    def backward(self, gradient=None):
        """Add this value's gradient to every Parameter it was computed from (PyTorch's
        ``loss.backward()``); ``gradient`` seeds a non-scalar value (default: ones for a scalar)."""
        if gradient is None:
            if self.value.ndim and self.value.size != 1:
                raise ArgumentError(f"backward: the value has shape {self.shape}; give gradient= (an array of that "
                                    "shape) or reduce it to a number first (ops.sum, ops.mean)")
            xp = namespace_of(self.value)
            gradient = xp.ones_like(self.value)
        backpropagate(self, unwrap(gradient))


def unwrap(x):
    """The array behind a Tensor or Parameter; anything else as it is."""
    t = type(x)
    return x.value if t is Tensor or t is Parameter else x


def node_of(x):
    """What a gradient for ``x`` flows to: the Tensor itself, a trainable Parameter, a watched
    array's leaf; None for a constant."""
    t = type(x)
    if t is Tensor:
        return x
    if t is Parameter:
        return x if x.trainable or _state.watched.get(id(x)) is not None else None
    if _state.watched:
        return _state.watched.get(id(x))
    return None


def primitive(forward, rule, *args, **kwargs):
    """``forward(xp, *values, **kwargs)``, recorded when an argument is watched: the result
    is then a Tensor whose rule is ``rule(xp, g, out, need, *values, **kwargs)`` -> one
    gradient per argument, computed only where ``need`` (a bool per argument) says a gradient
    flows. Otherwise the bare value, at the bare call's cost."""
    for a in args:
        t = type(a)
        if t is Tensor or t is Parameter:
            break
    else:  # plain arrays and numbers: the bare call, unless a tape watches one of them
        if not _state.watched:
            xp = _by_type.get(type(args[0])) if args else None
            return forward(xp or namespace_of_values(args), *args, **kwargs)
    values = [unwrap(a) for a in args]
    xp = namespace_of_values(values)
    out = forward(xp, *values, **kwargs)
    if _state.paused:  # inference: a bare Tensor keeps Python's operators ours (``array + weight``)
        return Tensor(out) if any(type(a) is Tensor or type(a) is Parameter for a in args) else out
    nodes = tuple(node_of(a) for a in args)
    if all(n is None for n in nodes):
        return out
    return Tensor(out, nodes, lambda g, need: rule(xp, g, out, need, *values, **kwargs))


_NUMBERS = (int, float, bool, complex)


_by_type = {}  # array type -> its namespace, for the untraced path's one lookup


def namespace_of_values(values):
    """The namespace of the first array among ``values``; the active backend's for numbers alone."""
    for v in values:
        if type(v) not in _NUMBERS and hasattr(v, "shape"):
            xp = _by_type[type(v)] = namespace_of(v)
            return xp
    return get_backend().xp


class _Parts(dict):
    """The gradients reaching some outputs of a step with several, by output index: what the
    sweep adds up for the step (``+`` merges, adding where an index comes twice)."""

    def __add__(self, other):
        out = _Parts(self)
        for k, g in other.items():
            out[k] = out[k] + g if k in out else g
        return out


def layer_step(value, parents, backprop, several_inputs=False):
    """A built-in layer's call recorded as one step: its own ``backprop(dy, need_dx)``
    adds its parameters' gradients and gives the input's (a list for several inputs). A
    layer with several outputs (``value`` a tuple or list) gives a Tensor for each, tied to
    one step that runs ``backprop`` once with all their gradients (None for one without)."""
    if several_inputs:
        def rule(g, need):
            dxs = backprop(g, any(need))
            return tuple(dxs) if dxs is not None else (None,) * len(need)
    else:
        def rule(g, need):
            return (backprop(g, need[0]),)
    if not isinstance(value, (tuple, list)):
        return Tensor(value, tuple(parents), rule, keeps=True)
    n = len(value)
    joint = Tensor(None, tuple(parents), lambda parts, need: rule(tuple(parts.get(i) for i in range(n)), need),
                   keeps=True)
    outs = [Tensor(v, (joint,), lambda g, need, i=i: (_Parts({i: g}),)) for i, v in enumerate(value)]
    return type(value)(outs)


@contextlib.contextmanager
def paused():
    """Run a block in which nothing is recorded (the inference of a user's layer)."""
    previous, _state.paused = _state.paused, True
    try:
        yield
    finally:
        _state.paused = previous


def recording() -> bool:
    """True inside a GradientTape: layers called on plain arrays record themselves."""
    return bool(_state.tapes)


# -- the sweep ----------------------------------------------------------------------------------
def _topological(roots):
    """Tensors reachable from ``roots`` that have a rule, parents before children (a depth-first
    post-order: a node is placed once all its parents are, whichever path reached it first)."""
    order, seen, stack = [], set(), [(r, False) for r in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in node.parents:
            if type(p) is Tensor and p.rule is not None and id(p) not in seen:
                stack.append((p, False))
    return order


def backpropagate(roots, seeds, wanted=()):
    """Send ``seeds`` (d out / d root, one per root; a single root and seed may be given
    bare) back through the graph under ``roots``. Parameters add their gradients
    (``Parameter.add_grad``); returns ``{id(t): gradient}`` for the Tensors in ``wanted``
    that the roots depend on."""
    if not isinstance(roots, list):
        roots, seeds = [roots], [seeds]
    wanted_ids = {id(t) for t in wanted}
    grads, found, inner = {}, {}, []
    for root, seed in zip(roots, seeds):
        if type(root) is Tensor and root.rule is not None:
            inner.append(root)
            grads[id(root)] = grads[id(root)] + seed if id(root) in grads else seed
        elif id(root) in wanted_ids:  # a leaf asked about itself
            found[id(root)] = found[id(root)] + seed if id(root) in found else seed
        elif type(root) is Parameter:
            root.add_grad(seed)
    order = _topological(inner)
    useful = set()  # the nodes whose rule leads somewhere: a parameter, a wanted Tensor

    def needed(p):
        if p is None:
            return False
        if type(p) is Parameter:
            return True
        return id(p) in (wanted_ids if p.rule is None else useful)

    for node in order:  # parents first
        if node.keeps or any(needed(p) for p in node.parents):
            useful.add(id(node))
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if id(node) in wanted_ids:
            found[id(node)] = g
        if id(node) not in useful:
            continue
        for parent, pg in zip(node.parents, node.rule(g, tuple(needed(p) for p in node.parents))):
            if parent is None or pg is None:
                continue
            if type(parent) is Parameter:
                parent.add_grad(pg)
            elif parent.rule is None:  # a leaf Tensor (an input, a watched array)
                if id(parent) in wanted_ids:
                    found[id(parent)] = found[id(parent)] + pg if id(parent) in found else pg
            else:
                key = id(parent)
                grads[key] = grads[key] + pg if key in grads else pg
    return found


def leaf(x):
    """A Tensor that ops record from: an input whose gradient is wanted."""
    return Tensor(unwrap(x))


def collecting_gradients(root, seed, targets):
    """The gradients of ``root`` for each of ``targets`` (Parameters, Tensors, watched
    arrays) as new arrays, leaving every Parameter's ``.grad`` as it was; None for a target
    the root does not depend on."""
    tensors = [t if type(t) is Tensor else _state.watched.get(id(t)) for t in targets]
    with parameter.gradient_sink() as sink:
        found = backpropagate(root, seed, [t for t in tensors if t is not None])
    out = []
    for target, t in zip(targets, tensors):
        if type(target) is Parameter:
            out.append(sink.get(target))
        else:
            out.append(None if t is None else found.get(id(t)))
    return out


# -- the three styles ---------------------------------------------------------------------------
class GradientTape:
    """TensorFlow's tape: ``with xdl.GradientTape() as tape: loss = ...`` then
    ``tape.gradient(loss, variables)``. Trainable Variables (Parameters) are watched always;
    ``tape.watch(x)`` watches an array. Layers called on plain arrays inside the block record
    themselves. ``persistent=True`` allows more than one ``gradient`` call."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self._used = False
        self._watched = {}  # id(watched array or Variable) -> its leaf Tensor (a Variable: itself)

    def __enter__(self):
        _state.tapes.append(self)
        return self

    def __exit__(self, *exc):
        _state.tapes.remove(self)
        for key in self._watched:
            _state.watched.pop(key, None)
        return False

    def watch(self, x):
        """Record what is computed from ``x`` (an array or a list of them) from now on."""
        for item in x if isinstance(x, (list, tuple)) else [x]:
            if type(item) is Tensor or id(item) in self._watched:
                continue
            _state.watched[id(item)] = self._watched[id(item)] = item if type(item) is Parameter else leaf(item)

    def gradient(self, target, sources, output_gradients=None):
        """d target / d each source (a Variable, a watched array or a Tensor; a list or a
        single one), None where the target does not depend on it. ``target`` may be a list
        (their sum is differentiated)."""
        if self._used and not self.persistent:
            raise ArgumentError("GradientTape.gradient: a non-persistent tape gives gradients once; make it "
                                "with GradientTape(persistent=True) to ask again")
        self._used = True
        single = not isinstance(sources, (list, tuple))
        sources = [self._watched.get(id(s), s) for s in ([sources] if single else sources)]  # after the block too
        target = _sum(target) if isinstance(target, (list, tuple)) else target
        if type(target) is not Tensor:
            return None if single else [None] * len(sources)
        xp = namespace_of(target.value)
        seed = xp.ones_like(target.value) if output_gradients is None else unwrap(output_gradients)
        grads = collecting_gradients(target, seed, sources)
        return grads[0] if single else grads


def _sum(values):
    from . import ops
    total = values[0]
    for v in values[1:]:
        total = ops.add(total, v)
    return ops.sum(total) if type(total) is Tensor and total.ndim else total


def value_and_grad(fn, argnums=0, has_aux=False):
    """JAX's ``value_and_grad``: a function returning ``(fn(*args), gradients)`` for the
    arguments at ``argnums`` (an int or a tuple); ``fn`` returns a number (a 0-d array),
    or ``(number, aux)`` with ``has_aux``. An argument may be a Variable, an array, or a
    list/dict of them (gradients come in the same structure)."""
    several = isinstance(argnums, (tuple, list))
    numbers = tuple(argnums) if several else (argnums,)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        for k in numbers:
            if not isinstance(k, int) or not -len(args) <= k < len(args):
                raise ArgumentError(f"value_and_grad: argnums {argnums!r} does not name one of the "
                                    f"{len(args)} arguments")
        args = list(args)
        leaves = {}
        for k in numbers:
            args[k] = _leaves(args[k], leaves)
        result = fn(*args, **kwargs)
        if has_aux and not (isinstance(result, tuple) and len(result) == 2):
            raise ArgumentTypeError("value_and_grad(has_aux=True): the function must return (value, aux)")
        value, aux = result if has_aux else (result, None)
        flat = list(leaves.values())
        if type(value) is Tensor:
            if value.ndim and value.size != 1:
                raise ArgumentError(f"grad: the function must return a number, got shape {value.shape}")
            xp = namespace_of(value.value)
            grads = collecting_gradients(value, xp.ones_like(value.value), flat)
        else:
            grads = [None] * len(flat)
        by_id = {id(t): g for t, g in zip(flat, grads)}
        for t, g in zip(flat, grads):  # a constant function: zeros, as JAX gives
            if g is None:
                xp = namespace_of(unwrap(t))
                by_id[id(t)] = xp.zeros_like(unwrap(t))
        out = [_rebuild(args[k], by_id) for k in numbers]
        value = unwrap(value)
        return ((value, aux) if has_aux else value), (tuple(out) if several else out[0])

    return wrapped


def grad(fn, argnums=0, has_aux=False):
    """JAX's ``grad``: a function returning the gradients of ``fn`` (see ``value_and_grad``)."""
    vg = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        value, grads = vg(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapped


def _leaves(arg, leaves):
    """``arg`` with each array or Variable in it replaced by a leaf Tensor (Variables stay:
    their gradients are collected by identity)."""
    if isinstance(arg, (list, tuple)):
        return type(arg)(_leaves(a, leaves) for a in arg)
    if isinstance(arg, dict):
        return {k: _leaves(v, leaves) for k, v in arg.items()}
    if type(arg) is Parameter:
        leaves[id(arg)] = arg
        return arg
    t = arg if type(arg) is Tensor else leaf(arg)
    leaves[id(t)] = t
    return t


def _rebuild(arg, by_id):
    if isinstance(arg, (list, tuple)):
        return type(arg)(_rebuild(a, by_id) for a in arg)
    if isinstance(arg, dict):
        return {k: _rebuild(v, by_id) for k, v in arg.items()}
    try:
        return by_id[id(arg)]
    except KeyError:
        raise NotFoundError("value_and_grad: an argument was not traced") from None
