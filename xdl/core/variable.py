"""``xdl.Variable``: Keras 3's ``keras.Variable`` over xdl's one parameter type. A Variable *is*
a ``Parameter`` (``isinstance(p, xdl.Variable)`` holds for every layer weight): the constructor
takes Keras's arguments and gives a Parameter; the methods Keras users call live on Parameter."""

from __future__ import annotations

from ..errors import ArgumentTypeError, ShapeError
from . import initializers
from .backend import convert, floatx, get_backend
from .checks import boolean, short
from .parameter import Parameter
from .symbolic import unique_name


def initial_value(be, initializer, shape, dtype, where):
    """The first value of a weight: ``initializer`` is a name ("glorot_uniform"), xdl's
    ``f(be, shape, dtype)``, or the value itself (an array-like of ``shape``)."""
    if isinstance(initializer, str) or callable(initializer):
        if shape is None:
            raise ArgumentTypeError(f"{where}: an initializer needs shape=")
        return initializers.get(initializer)(be, tuple(shape), dtype)
    value = convert(be, initializer, dtype, where)
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ShapeError(f"{where}: the initial value has shape {tuple(value.shape)}, but shape={tuple(shape)}")
    return be.xp.asarray(value, copy=True)


class _VariableType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Parameter)


class Variable(metaclass=_VariableType):
    """``xdl.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)``: a
    Parameter on the active backend. ``initializer``: the value (array-like) or an initializer
    name with ``shape``. ``value``, ``trainable``, ``assign``/``assign_add``/``assign_sub``,
    ``numpy()`` and arithmetic (recorded for gradients) are Keras's."""

    def __new__(cls, initializer, shape=None, dtype=None, trainable=True, name=None):
        be = get_backend()
        name = name or unique_name("variable")
        if not isinstance(name, str):
            raise ArgumentTypeError(f"Variable: name must be a str, got {short(name)}")
        dtype = be.dtype(dtype or floatx()) if dtype is None or isinstance(dtype, str) else dtype
        value = initial_value(be, initializer, shape, dtype, f"Variable {name!r}")
        return Parameter(value, name, boolean("Variable", "trainable", trainable))

