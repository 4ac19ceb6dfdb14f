"""Flat parameter buffers: a model's trainable parameters as views of one array per dtype.

An optimizer step over a flat buffer is a fixed handful of operations whatever the number
of layers (on a GPU, a handful of kernel launches), and data parallelism all-reduces the
gradient buffer itself. The layout is made once, when a model first trains or its set of
trainable parameters changes; files still name every tensor (this is an in-memory layout).

Gradients: the buffer's ``clock`` advances once per step instead of zeroing anything; a
parameter's gradient view counts as written this step once a use has claimed it (``claim``,
which ``Parameter._write`` calls), and views no use wrote are zeroed only when the step needs
them (``complete``). The buffer alone keeps the views and the clock.

Where the library cannot promise views (``Backend.views`` gives None, as for
array_api_strict), parameters keep arrays of their own and optimizers step them one by one:
the same update, more operations.
"""

from __future__ import annotations

from . import parameter

#: bumped whenever parameters move into or out of a flat buffer: models re-check their layout
LAYOUT = 0


class FlatBuffer:
    """The trainable parameters of one dtype: ``values`` and ``grads``, two 1-D arrays of
    which every parameter's ``value`` and ``grad`` are views."""

    def __init__(self, backend, params):
        global LAYOUT
        xp = backend.xp
        self.backend, self.params = backend, list(params)
        self.dtype = self.params[0].dtype
        shapes = [p.shape for p in self.params]
        size = sum(p.size for p in self.params)
        self.values = xp.empty((size,), dtype=self.dtype, device=backend.device)
        self.grads = xp.zeros((size,), dtype=self.dtype, device=backend.device)
        values, grads = backend.views(self.values, shapes), backend.views(self.grads, shapes)
        self.clock, self.written = 0, 0
        for p, v, g in zip(self.params, values, grads):
            release(p)
            v[...] = p.value
            # the parameter's slots hold the buffer's bookkeeping: its views, and the clock when
            # this step's gradient was first written (read and written here alone)
            p._value, p._grad, p._seen, p.flat = v, g, -1, self
        LAYOUT += 1

    def claim(self, p):
        """``(view, add)``: ``p``'s gradient view, to be written this step; ``add`` True where an
        earlier use of this step wrote it (else it holds stale numbers, to overwrite). ``(None,
        False)`` for a frozen parameter: it takes no gradient."""
        if not p._trainable:
            return None, False
        if p._seen == self.clock:
            return p._grad, True
        p._seen = self.clock
        self.written += 1
        return p._grad, False

    def grad_of(self, p):
        """``p``'s gradient this step, None before its first use."""
        return p._grad if p._seen == self.clock else None

    def forget(self, p):
        """Drop ``p``'s gradient of this step."""
        if p._seen == self.clock:
            self.written -= 1
        p._seen = -1

    def clear(self):
        """Forget this step's gradients: none is written until a use claims it."""
        self.clock += 1
        self.written = 0

    def complete(self, always=False) -> bool:
        """Make ``grads`` whole for an update: zeros where no use wrote this step. False (and
        nothing done) when none was written, unless ``always`` (data parallelism: a process
        without rows joins the sum with zeros)."""
        if self.written == len(self.params):
            return True
        if self.written == 0 and not always:
            return False
        for p in self.params:
            out, add = self.claim(p)
            if out is not None and not add:
                out[...] = 0
        return True

    def remove(self, p):
        """Take ``p`` out: its value and this step's gradient as arrays of its own."""
        global LAYOUT
        xp, grad = self.backend.xp, self.grad_of(p)
        self.forget(p)
        p.flat = None
        p._value = xp.asarray(p._value, copy=True)
        p._grad = None if grad is None else xp.asarray(grad, copy=True)
        self.params = [q for q in self.params if q is not p]
        LAYOUT += 1

    def __len__(self):
        return len(self.params)


def release(p):
    """Take ``p`` out of its flat buffer (if any) into arrays of its own, keeping its values
    and this step's gradient."""
    if p.flat is not None:
        p.flat.remove(p)


def lay_out(backend, params) -> list:
    """Flat buffers for ``params`` (trainable, on ``backend``), one per dtype; [] where the
    backend hands out no views. Parameters already laid out together stay where they are."""
    if not params or backend.views(backend.xp.zeros((1,), device=backend.device), [(1,)]) is None:
        return []
    by_dtype = {}
    for p in params:
        by_dtype.setdefault(p.dtype, []).append(p)
    flats = []
    for group in by_dtype.values():
        current = group[0].flat
        if current is not None and current.params == group:
            flats.append(current)
        else:
            flats.append(FlatBuffer(backend, group))
    return flats


def partition(parameters):
    """``(flats, loose)``: the flat buffers whose parameters all lie in ``parameters``, and the
    other parameters, one by one (in ``parameters``' order)."""
    members = {id(p) for p in parameters}
    flats, loose, seen = [], [], set()
    for p in parameters:
        f = p.flat
        if f is not None and all(id(q) in members for q in f.params):
            if id(f) not in seen:
                seen.add(id(f))
                flats.append(f)
        else:
            loose.append(p)
    return flats, loose


def layout_key():
    """Changes whenever any model's layout or any parameter's trainable flag may have."""
    return parameter.GENERATION, LAYOUT
