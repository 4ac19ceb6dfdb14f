"""Emitters of the per-position layers: Dense, the activations, normalization, the identities
of inference (Dropout and the other random layers), shapes (Flatten, Reshape, Permute,
RepeatVector), Embedding, merges, Masking, TimeDistributed, and the numeric preprocessing
layers (Rescaling, Normalization, CenterCrop). Data is batch-first as xdl holds it."""

from __future__ import annotations

import math

import numpy as np

from ... import layers as L
from ...layers.activations import Linear, _LeakyReLUActivation
from ...layers.preprocessing import EPSILON
from .builder import emits, one


def activate(b, layer, y, shape):
    """``y`` through ``layer``'s own ``activation=`` (Dense, the convolutions), if any."""
    act = layer._activation
    return y if act is None else b.emit(act, one(y, shape))[0]


@emits(L.Dense)
def dense(b, layer, call):
    y = b.op("MatMul", [call.x, b.weight(layer.W, "kernel")])  # (N, ..., F) @ (F, units)
    if layer.use_bias:
        y = b.op("Add", [y, b.weight(layer.b, "bias")])
    return [activate(b, layer, y, layer.output_shape(call.shape))]


# -- activations (each as xdl defines it: the same function, ONNX's op where there is one) ------
def _unary(kind, **attributes):
    return lambda b, layer, call: [b.op(kind, [call.x], **attributes)]


emits(L.ReLU)(_unary("Relu"))
emits(L.Sigmoid)(_unary("Sigmoid"))
emits(L.Tanh)(_unary("Tanh"))
emits(L.Softplus)(_unary("Softplus"))
emits(L.Softsign)(_unary("Softsign"))
emits(Linear, L.Identity, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.GaussianNoise, L.RandomFlip,
      L.RandomContrast, L.RandomTranslation, L.RandomZoom, L.RandomRotation)(_unary("Identity"))  # inference


@emits(L.LeakyReLU, _LeakyReLUActivation)
def leaky_relu(b, layer, call):
    return [b.op("LeakyRelu", [call.x], alpha=float(layer.alpha))]


@emits(L.ELU)
def elu(b, layer, call):
    return [b.op("Elu", [call.x], alpha=float(layer.alpha))]


@emits(L.Softmax)
def softmax(b, layer, call):
    return [b.op("Softmax", [call.x], axis=layer.axis)]  # the axis counts the batch axis in both


@emits(L.SiLU)
def silu(b, layer, call):
    return [b.op("Mul", [call.x, b.op("Sigmoid", [call.x])])]


@emits(L.Mish)
def mish(b, layer, call):
    return [b.op("Mul", [call.x, b.op("Tanh", [b.op("Softplus", [call.x])])])]


@emits(L.GELU)
def gelu(b, layer, call):
    return [gelu_of(b, call.x, layer.approximate == "tanh")]


def gelu_of(b, x, tanh_form):
    """``x * Phi(x)``: the erf form (xdl's approximation of erf is within float32's precision
    of ONNX's Erf), or the tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if tanh_form:
        cube = b.op("Mul", [b.op("Mul", [x, x]), x])
        inner = b.op("Mul", [b.op("Add", [x, b.op("Mul", [cube, b.const(0.044715)])]),
                             b.const(math.sqrt(2.0 / math.pi))])
        phi = b.op("Add", [b.op("Tanh", [inner]), b.const(1.0)])
    else:
        phi = b.op("Add", [b.op("Erf", [b.op("Mul", [x, b.const(1.0 / math.sqrt(2.0))])]), b.const(1.0)])
    return b.op("Mul", [b.op("Mul", [x, phi]), b.const(0.5)])


@emits(L.Activation)
def activation(b, layer, call):
    return b.emit(layer._layer, call)


# -- normalization (inference: BatchNorm's moving statistics) ----------------------------------
@emits(L.BatchNorm, L.BatchNormalization)
def batch_norm(b, layer, call):
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` on the last axis, as one scale and one
    shift per feature (ONNX's BatchNormalization wants the features on axis 1)."""
    inv = 1.0 / np.sqrt(b.array(layer.moving_var).astype(np.float64) + layer.epsilon)
    gamma = b.array(layer._gamma()).astype(np.float64)
    scale = gamma * inv
    shift = b.array(layer._beta()).astype(np.float64) - b.array(layer.moving_mean).astype(np.float64) * scale
    return [b.op("Add", [b.op("Mul", [call.x, b.const(scale, "scale")]), b.const(shift, "shift")])]


@emits(L.LayerNorm, L.LayerNormalization)
def layer_norm(b, layer, call):
    gamma = b.weight(layer.gamma, "gamma") if layer.gamma is not None else b.const(b.array(layer._ones), "gamma")
    beta = b.weight(layer.beta, "beta") if layer.beta is not None else b.const(b.array(layer._zeros), "beta")
    return [b.op("LayerNormalization", [call.x, gamma, beta], axis=-1, epsilon=float(layer.epsilon))]


# -- shapes --------------------------------------------------------------------------------------
@emits(L.Flatten)
def flatten(b, layer, call):
    return [b.reshape(call.x, [0, -1])]  # 0: the batch axis as it comes


@emits(L.Reshape)
def reshape(b, layer, call):
    return [b.reshape(call.x, [0, *layer.output_shape(call.shape)])]


@emits(L.Permute)
def permute(b, layer, call):
    return [b.transpose(call.x, (0, *layer.dims))]


@emits(L.RepeatVector)
def repeat_vector(b, layer, call):
    return [b.op("Expand", [b.unsqueeze(call.x, [1]), b.ints([1, layer.n, 1], "repeats")])]


@emits(L.Embedding)
def embedding(b, layer, call):
    ids = b.op("Cast", [call.x], to=7)  # int64; whole floats are taken, as xdl's forward takes them
    return [b.op("Gather", [b.weight(layer.table, "embeddings"), ids], axis=0)]


@emits(L.Masking, masks=True)
def masking(b, layer, call):
    """Steps whose features all equal ``mask_value`` (or that an input mask leaves out) become
    zeros; graph.py makes the mask that goes on (``masking_keep``)."""
    keep = masking_keep(b, layer, call.x)
    if call.mask is not None:
        keep = b.op("And", [keep, call.mask])
    return [b.op("Mul", [call.x, b.op("CastLike", [b.unsqueeze(keep, [-1]), call.x])])]


def masking_keep(b, layer, x):
    """(N, T) booleans: some feature of the step differs from ``mask_value``."""
    differs = b.op("Not", [b.op("Equal", [x, b.scalar(layer.mask_value, x)])])
    return b.op("Cast", [b.reduce("ReduceMax", b.op("Cast", [differs], to=6), [-1])], to=9)  # any, via int32


# -- merges ---------------------------------------------------------------------------------------
def _one_op(name):
    """An emitter writing a merge as the one ONNX operator ``name`` over all its inputs."""
    return lambda b, layer, call: [b.op(name, call.inputs)]


for _merge, _name in ((L.Add, "Sum"), (L.Subtract, "Sub"), (L.Maximum, "Max"), (L.Minimum, "Min")):
    emits(_merge)(_one_op(_name))


@emits(L.Multiply)
def multiply(b, layer, call):
    y = call.inputs[0]
    for x in call.inputs[1:]:
        y = b.op("Mul", [y, x])
    return [y]


@emits(L.Average)
def average(b, layer, call):
    return [b.op("Mul", [b.op("Sum", call.inputs), b.const(1.0 / len(call.inputs))])]


@emits(L.Concatenate)
def concatenate(b, layer, call):
    axis = layer._sample_axis(len(call.shape)) + 1
    return [b.op("Concat", call.inputs, axis=axis)]


# -- wrappers and preprocessing -------------------------------------------------------------------
@emits(L.TimeDistributed)
def time_distributed(b, layer, call):
    """The steps folded into the batch, (N * T, ...), for one application of the inner layer,
    then unfolded: the sizes are read at run time, so N and T stay free."""
    x = call.x
    folded = b.op("Reshape", [x, b.op("Concat", [b.ints([-1]), b.shape_of(x, 2)], axis=0)])
    y = b.emit(layer.layer, one(folded, call.shape[1:]))[0]
    return [b.op("Reshape", [y, b.op("Concat", [b.shape_of(x, 0, 2), b.shape_of(y, 1)], axis=0)])]


@emits(L.Rescaling)
def rescaling(b, layer, call):
    return [b.op("Add", [b.op("Mul", [call.x, b.floats(layer.scale, "scale")]), b.floats(layer.offset, "offset")])]


@emits(L.Normalization)
def normalization(b, layer, call):
    """``(x - mean) / max(sqrt(variance), 1e-7)``, or ``mean + x * ...`` inverted, with the
    statistics shaped to broadcast over the axes they keep."""
    shape = [1] * (len(call.shape) + 1)
    for k in layer._kept(call.shape):
        shape[k + 1] = call.shape[k]
    mean = b.array(layer.mean).astype(np.float64).reshape(shape)
    scale = np.maximum(np.sqrt(b.array(layer.variance).astype(np.float64)), EPSILON).reshape(shape)
    if layer.invert:
        return [b.op("Add", [b.op("Mul", [call.x, b.const(scale, "scale")]), b.const(mean, "mean")])]
    return [b.op("Div", [b.op("Sub", [call.x, b.const(mean, "mean")]), b.const(scale, "scale")])]


@emits(L.CenterCrop)
def center_crop(b, layer, call):
    """The window starts at ``(H - height) // 2``, ``(W - width) // 2``, read at run time."""
    size = b.ints([layer.height, layer.width], "size")
    start = b.op("Div", [b.op("Sub", [b.shape_of(call.x, 1, 3), size]), b.ints([2, 2], "two")])
    return [b.op("Slice", [call.x, start, b.op("Add", [start, size]), b.ints([1, 2], "axes")])]

