"""The tutorial's API, in one place (shared/tutorial: the slides xdl grew from).

The tutorial's classes keep state between calls: ``layer.forward(x)`` then ``layer.backward(dy)``,
``loss.forward(y_true, y_pred)`` then ``loss.backward()``, ``optimizer.update(layer)`` after the
gradients were set by hand, ``Dense.weights`` and ``dweights`` as plain attributes. xdl's own
protocol is stateless (a layer's ``apply`` returns the output and a ``backprop`` closure, a
loss's ``value_and_grad`` both results at once); the mixins here give the tutorial's calls on
top of it, and the core classes inherit them. Nothing else in xdl calls these methods.
"""

from __future__ import annotations

from .errors import NotBuiltError


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
