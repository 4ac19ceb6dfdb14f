"""The tutorial's API, in one place (shared/tutorial: the slides xdl grew from).

The tutorial's classes keep state between calls: ``layer.forward(x)`` then ``layer.backward(dy)``,
``loss.forward(y_true, y_pred)`` then ``loss.backward()``, ``optimizer.update(layer)`` after the
gradients were set by hand, ``Dense.weights`` and ``dweights`` as plain attributes, a recurrent
layer's one step on column vectors. xdl's own protocol is stateless (a layer's ``apply`` returns
the output and a ``backprop`` closure, a loss's ``value_and_grad`` both results at once); the
mixins here give the tutorial's calls on top of it, the core classes inherit them, and nothing
else in xdl calls these methods. They are the public entry points on data too: they convert
what they are given, build the layer and check shapes.
"""

from __future__ import annotations

import math

from .core.backend import convert, get_backend, use_backend
from .errors import ArgumentError, NotBuiltAttributeError, NotBuiltError, ShapeError


class TutorialLoss:
    """``loss.forward(y_true, y_pred)`` returns the mean loss (``loss(y_true, y_pred)``) and
    remembers the pair; ``loss.backward()`` then gives the gradient w.r.t. that ``y_pred``."""

    _last = None

    def forward(self, y_true, y_pred, sample_weight=None):
        self._last = self.accept(y_true, y_pred, sample_weight)
        return self.value(*self._last)

    def backward(self):
        if self._last is None:
            raise NotBuiltError(f"{type(self).__name__}: backward called before forward")
        return self.value_and_grad(*self._last)[1]


class TutorialLayer:
    """``layer.forward(x)`` then ``layer.backward(dy)``: the output for any array-like ``x`` (the
    layer built on first use, shapes checked), then ``dx`` for the gradient ``dy`` of that
    output, the parameters' gradients set (not added to) by that one pass. Every layer has them."""

    _backprop = None  # the latest forward's, for backward()

    def forward(self, x, training=False, **kwargs):
        """Forward pass on any array-like ``x`` of shape (N, ...); ``kwargs``: the layer's
        ``call_arguments``."""
        y, self._backprop = self.apply(self.accept(x), training, **kwargs)
        return y

    def backward(self, dy):
        """Gradient of the loss w.r.t. this layer's input, given ``dy`` w.r.t. the output of the
        latest ``forward``; sets (not adds to) the parameters' gradients."""
        self._before_backward()
        return self._backprop(convert(self.backend, dy, self.dtype, f"{self.describe()}: dy"))

    def _before_backward(self):
        if not self.built or self._backprop is None:
            raise NotBuiltError(f"{self.describe()}: backward called before forward")
        self.zero_grad()


class TutorialWeights:
    """The tutorial's ``weights``, ``bias``, ``dweights`` and ``dbias`` (Dense and the
    convolutions): the kernel ``W`` and bias ``b`` parameters' arrays, readable and writable."""

    weights = property(lambda self: _array(self, "W", "value"), lambda self, v: _set(self, "W", "value", v))
    bias = property(lambda self: _array(self, "b", "value"), lambda self, v: _set(self, "b", "value", v))
    dweights = property(lambda self: _array(self, "W", "grad"), lambda self, v: _set(self, "W", "grad", v))
    dbias = property(lambda self: _array(self, "b", "grad"), lambda self, v: _set(self, "b", "grad", v))
    #: Keras's: the kernel as a Variable (``weights`` and ``bias`` stay the tutorial's arrays)
    kernel = property(lambda self: getattr(self, "W", None))


def _array(layer, attr, field):
    p = getattr(layer, attr, None)
    return None if p is None else getattr(p, field)


def _set(layer, attr, field, value):
    p = getattr(layer, attr, None)
    if p is None:
        raise NotBuiltAttributeError(f"{layer.describe()} has no {attr} yet: it is built on first use")
    value = convert(layer.backend, value, layer.dtype, f"{layer.describe()}: {attr}")
    if value.shape != p.value.shape:
        if math.prod(value.shape) != p.size:  # accept the tutorial's (1, n) bias for an (n,) parameter
            raise ArgumentError(f"{layer.describe()}: {p.name} has shape {p.shape}, got {tuple(value.shape)}")
        value = layer.backend.xp.reshape(value, p.value.shape)
    if field == "value":  # optimizers update weights in place: never the caller's array
        value = layer.backend.xp.asarray(value, copy=True)
    setattr(p, field, value)


class TutorialRecurrent(TutorialLayer):
    """A sequence layer's ``forward(x, initial_state=None, training=False, mask=None)`` and
    ``backward(dy)``; after ``backward`` its ``initial_state_grad`` holds the gradient of the
    initial state ``forward`` was given. ``mask`` (N, T): False marks padded steps.
    ``forward(x, h_prev)`` on a 2-D ``x`` is the tutorial's one step on column vectors:
    x (input_size, B), h_prev (hidden_size, B) -> (hidden_size, B), and ``backward(dh)`` then
    takes and gives column vectors too."""

    initial_state_grad = None
    _columns = False  # the latest forward was the tutorial's step on column vectors
    _with_state = False

    def forward(self, x, initial_state=None, training=False, mask=None):
        if initial_state is not None and _ndim(x) == 2 and hasattr(self, "cell"):
            return self._column_step(x, initial_state, training)
        x = self.accept(x)
        mask = sequence_mask(self, mask, x)
        y, _, self._backprop = self.apply_masked(x, mask, training, initial_state)
        self._columns, self._with_state = False, initial_state is not None
        return y

    def backward(self, dy):
        self._before_backward()
        be, where = self.backend, f"{self.describe()}: dy"
        if self._columns:  # dy is dh (hidden_size, B)
            dh = convert(be, dy, self.dtype, where).T
            if self.return_state:
                dy = (None, dh) + (None,) * (len(self.cell.state_names) - 1)
            else:
                dy = be.xp.expand_dims(dh, axis=1) if self.return_sequences else dh
            return self._unpack_grads(self._backprop(dy))[:, 0, :].T
        if self.return_state:
            if not isinstance(dy, (tuple, list)):
                raise ArgumentError(f"{self.describe()}: with return_state, backward takes a tuple of the output's "
                                    "and each state's gradients (None for none)")
            dy = tuple(None if d is None else convert(be, d, self.dtype, where) for d in dy)
        else:
            dy = convert(be, dy, self.dtype, where)
        return self._unpack_grads(self._backprop(dy))

    def _unpack_grads(self, grads):
        """dx; the initial state's gradients, which the backprop returns after it, kept."""
        if not self._with_state:
            return grads
        dx, *dstates = grads
        self.initial_state_grad = dstates[0] if len(dstates) == 1 else tuple(dstates)
        return dx

    def _column_step(self, x, h_prev, training):
        be = self.backend or get_backend()
        x = convert(be, x, self.input_dtype(be), self.describe())
        if self.input_size is not None and x.shape[0] != self.input_size:
            raise ShapeError(f"{self.describe()}: one step on column vectors takes x of shape "
                             f"({self.input_size}, B), got {tuple(x.shape)}; sequences are (N, T, F)")
        states = h_prev if isinstance(h_prev, (tuple, list)) else (h_prev,)
        states = tuple(convert(be, s, self.input_dtype(be), f"{self.describe()}: state").T for s in states)
        out = self.forward(be.xp.expand_dims(x.T, axis=1), self.cell.pack(states), training)
        self._columns = True
        h = out[1] if self.return_state else out if not self.return_sequences else out[:, 0, :]
        return h.T


def sequence_mask(layer, mask, x):
    """A user's ``mask`` for the sequences ``x`` (N, T, ...) as booleans on ``layer``'s backend,
    checked to be (N, T); None stays None."""
    if mask is None:
        return None
    mask = convert(layer.backend, mask, layer.backend.xp.bool, f"{layer.describe()}: mask")
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ShapeError(f"{layer.describe()}: mask must have shape {tuple(x.shape[:2])} (N, T), "
                         f"got {tuple(mask.shape)}")
    return mask


def _ndim(x):
    shape = getattr(x, "shape", None)
    if shape is None:  # a list: count its nesting
        depth = 0
        while isinstance(x, (list, tuple)) and x:
            depth, x = depth + 1, x[0]
        return depth
    return len(shape)


class TutorialCell:
    """A cell's steps recorded for a hand-written loop: ``state = cell.forward(x, state,
    training=True)`` on (N, F), then ``dx, dstate = cell.backward(dstate)`` takes the latest
    recorded step back. The first backward after forwards sets the parameters' gradients,
    later ones add to them, so a loop of forwards then backwards ends with the gradients of
    the whole sequence."""

    _steps, _fresh = None, False  # the recorded steps' backward closures; none taken back yet

    def forward(self, x, state=None, training=False):
        """New state from x (N, F) and the previous state (None: zeros)."""
        new_state, step_back = self._step(self.accept(x), state)
        if training:
            if self._steps is None:
                self._steps = []
            self._steps.append(step_back)
            self._fresh = True
        return new_state

    def backward(self, dstate):
        """(dx, dstate_prev) for the latest recorded step, given the gradient of its state."""
        steps = self._steps
        if not steps:
            raise NotBuiltError(f"{self.describe()}: backward needs a step recorded by "
                                "forward(x, state, training=True)")
        if self._fresh:  # the first backward after forwards starts the sequence's gradients
            self.zero_grad()
            self._fresh = False
        return steps.pop()(dstate)


class TutorialModel(TutorialLayer):
    """``model.forward(X)`` then ``model.backward(grad)`` through every layer, on any
    array-likes (a list or dict for several inputs; a list of gradients for several outputs)."""

    def forward(self, X, training=False):
        with use_backend(self.backend or get_backend()):  # an unbuilt Sequential has none yet
            xs, _ = self.accept_inputs(X)
            outs, _, self._backprop = self.graph.run(xs, training)
        return outs[0] if self._single_output else outs

    def backward(self, grad):
        if self._backprop is None:
            raise NotBuiltError(f"{self.name}: backward called before forward")
        grads = [grad] if self._single_output else list(grad)
        grads = [None if g is None else convert(self.backend, g, self.output_dtype(k), f"{self.name}: backward")
                 for k, g in enumerate(grads)]
        self.zero_grad()
        dxs = self._backprop(grads, True)
        return dxs if self.multiple_inputs else dxs[0]


class TutorialOptimizer:
    """``optimizer.update(layer)``: a step over one layer's parameters, their gradients set by
    hand or by ``layer.backward``."""

    def update(self, layer) -> None:
        self.step(layer.parameters())
