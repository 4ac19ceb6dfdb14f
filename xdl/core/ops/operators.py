"""Python's operators on Tensors and Variables (Parameters), as recorded ops: ``a + b``,
``x @ w``, ``-x``, ``x[i]``, ``x ** 2``... Comparisons give plain boolean arrays."""

from __future__ import annotations

from ..parameter import Parameter
from .. import symbolic
from ..symbolic import SymbolicTensor
from ..tape import Tensor
from . import elementwise as ew
from . import linalg, shape


def _flip(op):
    return lambda self, other: op(other, self)


ARITHMETIC = {
    "__add__": ew.add, "__radd__": _flip(ew.add), "__sub__": ew.subtract, "__rsub__": _flip(ew.subtract),
    "__mul__": ew.multiply, "__rmul__": _flip(ew.multiply), "__truediv__": ew.divide,
    "__rtruediv__": _flip(ew.divide), "__matmul__": linalg.matmul, "__rmatmul__": _flip(linalg.matmul),
    "__pow__": ew.pow, "__rpow__": _flip(ew.pow), "__neg__": ew.negative, "__pos__": ew.positive,
    "__abs__": ew.abs, "__getitem__": shape.getitem,
}
COMPARISONS = {"__lt__": ew.less, "__le__": ew.less_equal, "__gt__": ew.greater, "__ge__": ew.greater_equal,
               "__eq__": ew.equal, "__ne__": ew.not_equal}

#: the operators that leave a symbolic operand to the symbolic tensor's reflected operator, which
#: records the op: ``self.w * x`` in a layer's ``call`` traced on symbolic tensors (the ONNX
#: export, xdl/io/export/trace.py) records as ``x * self.w`` does
DEFERRING = ("__add__", "__sub__", "__mul__", "__truediv__", "__matmul__", "__pow__", "__lt__", "__le__", "__gt__",
             "__ge__")


def _deferring(op):
    def operator(self, other):
        if type(other) is SymbolicTensor:
            return NotImplemented
        return op(self, other)

    operator.__name__ = operator.__qualname__ = op.__name__
    return operator


def _install(cls, name, op):
    setattr(cls, name, _deferring(op) if name in DEFERRING else op)


for _cls in (Tensor, Parameter):
    for _name, _op in ARITHMETIC.items():
        _install(_cls, _name, _op)
for _name, _op in COMPARISONS.items():  # a Parameter keeps identity equality: it is a dict key everywhere
    _install(Tensor, _name, _op)
    if _name not in ("__eq__", "__ne__"):
        _install(Parameter, _name, _op)
Tensor.__hash__ = object.__hash__
Tensor.T = property(lambda self: shape.permute_dims(self, tuple(range(self.ndim))[::-1]))
Tensor.mT = property(linalg.matrix_transpose)
for _cls in (Tensor, Parameter):  # NumPy hands ``array * tensor`` to the reflected operator
    _cls.__array_ufunc__ = None


def _recorded(name, flipped=False):
    """A symbolic tensor's operator: a graph node of op ``name`` (layers/operation.py)."""
    def operator(self, *other):
        return symbolic.record_op(name, (other[0], self) if flipped else (self, *other), {})
    return operator


# Symbolic tensors (xdl.Input, layers' outputs) keep identity equality: graphs key on them
SYMBOLIC = {dunder: (op.__name__, False) for dunder, op in ARITHMETIC.items() if not dunder.startswith("__r")}
SYMBOLIC.update({f"__r{dunder[2:]}": (name, True) for dunder, (name, _) in list(SYMBOLIC.items())
                 if f"__r{dunder[2:]}" in ARITHMETIC})
SYMBOLIC.update({dunder: (op.__name__, False) for dunder, op in COMPARISONS.items() if dunder not in ("__eq__", "__ne__")})
for _name, (_op, _flipped) in SYMBOLIC.items():
    setattr(SymbolicTensor, _name, _recorded(_op, _flipped))
SymbolicTensor.__array_ufunc__ = None
SymbolicTensor.__array_priority__ = 100
