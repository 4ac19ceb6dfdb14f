"""``xdl.ops``: the array API's functions and the Keras ops users reach for, differentiable.

Each op is a forward on its arguments' own array namespace with its backward rule beside it,
written against the array API; core/tape.py records the pair only when a Variable, a Tensor
or a watched array takes part, so on plain arrays an op is the bare call. Gradients are
summed over broadcast axes back to each argument's shape. Comparisons, logical ops,
rounding, ``argmax`` and the creation functions are not differentiated.
"""

from . import elementwise, operators
from .elementwise import (CONSTANT, abs, acos, acosh, add, asin, asinh, atan, atan2, atanh, cos, cosh, divide, elu,
                          erf, exp, expm1, gelu, hypot, leaky_relu, log, log1p, log2, log10, logaddexp, maximum,
                          minimum, multiply, negative, positive, pow, relu, relu6, sigmoid, silu, sin, sinh, softplus,
                          softsign, sqrt, square, subtract, swish, tan, tanh, unbroadcast)
from .composed import convert_to_numpy, dot, isclose, mod, moments, pad, repeat, rsqrt, size, split, tile
from .linalg import (matmul, matrix_transpose, tensordot, vecdot)
from .nn import (log_softmax, logsumexp, norm, one_hot, softmax)
from .reduce import (cumsum, cumulative_sum, max, mean, min, prod, std, sum, var)
from .shape import (shape, arange, astype, broadcast_to, cast, clip, concat, concatenate, convert_to_tensor, empty,
                    empty_like, expand_dims, eye, flip, full, full_like, getitem, linspace, moveaxis, ones, ones_like,
                    permute_dims, reshape, roll, squeeze, stack, stop_gradient, take, transpose, tril, triu, where,
                    zeros, zeros_like)

globals().update({name: getattr(elementwise, name) for name in CONSTANT})  # comparisons, logical ops, rounding...
true_divide, power, absolute = divide, pow, abs

__all__ = ['shape', 'convert_to_numpy', 'dot', 'isclose', 'mod', 'moments', 'pad', 'repeat', 'rsqrt', 'size', 'split',
           'tile',
           'abs', 'absolute', 'acos', 'acosh', 'add', 'all', 'any', 'arange', 'argmax', 'argmin', 'argsort', 'asin',
           'asinh', 'astype', 'atan', 'atan2', 'atanh', 'bitwise_and', 'bitwise_invert', 'bitwise_left_shift',
           'bitwise_or', 'bitwise_right_shift', 'bitwise_xor', 'broadcast_to', 'cast', 'ceil', 'clip', 'concat',
           'concatenate', 'convert_to_tensor', 'cos', 'cosh', 'count_nonzero', 'cumsum', 'cumulative_sum', 'divide',
           'elu', 'empty', 'empty_like', 'equal', 'erf', 'exp', 'expand_dims', 'expm1', 'eye', 'flip', 'floor',
           'floor_divide', 'full', 'full_like', 'gelu', 'getitem', 'greater', 'greater_equal', 'hypot', 'isfinite',
           'isinf', 'isnan', 'leaky_relu', 'less', 'less_equal', 'linspace', 'log', 'log10', 'log1p', 'log2',
           'log_softmax', 'logaddexp', 'logical_and', 'logical_not', 'logical_or', 'logical_xor', 'logsumexp',
           'matmul', 'matrix_transpose', 'max', 'maximum', 'mean', 'min', 'minimum', 'moveaxis', 'multiply',
           'negative', 'nonzero', 'norm', 'not_equal', 'one_hot', 'ones', 'ones_like', 'permute_dims', 'positive',
           'pow', 'power', 'prod', 'relu', 'relu6', 'remainder', 'reshape', 'roll', 'round', 'searchsorted',
           'sigmoid', 'sign', 'signbit', 'silu', 'sin', 'sinh', 'softmax', 'softplus', 'softsign', 'sqrt', 'square',
           'squeeze', 'stack', 'std', 'stop_gradient', 'subtract', 'sum', 'swish', 'take', 'tan', 'tanh', 'tensordot',
           'transpose', 'tril', 'triu', 'true_divide', 'trunc', 'unbroadcast', 'unique_all', 'unique_counts',
           'unique_inverse', 'unique_values', 'var', 'vecdot', 'where', 'zeros', 'zeros_like', 'operators']


def _symbolic_aware(name, op):
    """``op``, recording a graph node instead when a symbolic tensor (``xdl.Input``, a layer's
    output) takes part: Keras's ops between layers (layers/operation.py)."""
    def call(*args, **kwargs):
        if _symbolic_in(args) or (kwargs and _symbolic_in(kwargs.values())):
            return _symbolic.record_op(name, args, kwargs)
        return op(*args, **kwargs)

    call.__name__ = call.__qualname__ = op.__name__
    call.__doc__, call.__wrapped__ = op.__doc__, op
    return call


from .. import symbolic as _symbolic  # noqa: E402
from ..symbolic import symbolic_in as _symbolic_in  # noqa: E402

for _name in __all__:
    if _name not in ("operators", "shape", "unbroadcast", "convert_to_numpy", "size") and callable(globals()[_name]):
        globals()[_name] = _symbolic_aware(_name, globals()[_name])
