"""Emitters of the window layers: convolutions (plain, 1-D, transposed, depthwise, separable),
pooling (max, average, global) and resizing (upsampling, zero padding, cropping).

xdl holds images channels last, (N, H, W, C); ONNX's Conv and pooling read channels first,
so each window op runs between two transposes (runtimes fold them). A 1-D layer is its 2-D
twin on an (N, 1, L, C) view, as xdl computes it. Kernels are rearranged from xdl's layouts
(``(kh, kw, C_in, C_out)``; transposed ``(kh, kw, C_out, C_in)``; depthwise
``(kh, kw, C, M)``) to ONNX's (``(C_out, C_in / groups, kh, kw)``; transposed
``(C_in, C_out, kh, kw)``).
"""

from __future__ import annotations

import math

from ... import layers as L
from ...layers.conv import windows
from .basic import activate
from .builder import emits

ONE_D = (L.Conv1D, L.Conv1DTranspose, L.MaxPool1D, L.AvgPool1D)


def _to_nchw(b, layer, call):
    """The input as (N, C, H, W), and the (H, W) sizes of the 2-D view (None where free)."""
    x, shape = call.x, call.shape
    if type(layer) in ONE_D:
        return b.transpose(b.unsqueeze(x, [1]), (0, 3, 1, 2)), (1, shape[0])
    return b.transpose(x, (0, 3, 1, 2)), tuple(shape[:2])


def _from_nchw(b, layer, y):
    y = b.transpose(y, (0, 2, 3, 1))
    return b.squeeze(y, [1]) if type(layer) in ONE_D else y


def window_pads(b, x, padding, in_hw, kernel, stride, dilation, left=0, fill=0.0):
    """``(x, pads)``: ONNX's ``pads`` (top, left, bottom, right) for xdl's ``padding`` ("valid",
    "same", or an (h, w) pair on each side) on (N, C, H, W) ``x`` of spatial size ``in_hw``.
    "same" on a free size is padded at run time (``x`` comes back padded with ``fill``).
    ``left``: a causal convolution's zeros before the sequence."""
    if padding == "same" and None in in_hw:
        return _same_at_run_time(b, x, kernel, stride, dilation, fill), [0, 0, 0, 0]
    if padding == "valid":
        pads = [0, 0, 0, 0]
    elif padding == "same":
        sides = [windows._axis(in_hw[a], kernel[a], stride[a], dilation[a], "same")[1:] for a in (0, 1)]
        pads = [sides[0][0], sides[1][0], sides[0][1], sides[1][1]]
    else:
        pads = [padding[0], padding[1], padding[0], padding[1]]
    pads[1] += left
    return x, pads


def _same_at_run_time(b, x, kernel, stride, dilation, fill):
    """``x`` padded as xdl's "same": ``max((ceil(H / s) - 1) * s + span - H, 0)`` in all, the odd
    one at the end, from H and W read at run time (onnxruntime's ``SAME_UPPER`` takes no
    dilation, nor a stride wider than the window)."""
    size, s = b.shape_of(x, 2, 4), b.ints(stride, "stride")
    span = b.ints([(k - 1) * d + 1 for k, d in zip(kernel, dilation)], "span")
    steps = b.op("Div", [b.op("Add", [size, b.ints([v - 1 for v in stride], "stride_less_one")]), s])  # ceil(H / s)
    total = b.op("Add", [b.op("Mul", [b.op("Sub", [steps, b.ints([1, 1], "one")]), s]), b.op("Sub", [span, size])])
    total = b.op("Max", [total, b.ints([0, 0], "zero")])
    before = b.op("Div", [total, b.ints([2, 2], "two")])
    pads = b.op("Concat", [b.ints([0, 0], "zero"), before, b.ints([0, 0], "zero"), b.op("Sub", [total, before])],
                axis=0)  # (N, C, H, W) before, then after
    return b.op("Pad", [x, pads, b.scalar(fill, x)])


def _window(b, layer, x, in_hw, left=0):
    """The padded input and a convolution's attributes."""
    x, pads = window_pads(b, x, layer.padding, in_hw, layer.kernel_size, layer.stride, layer.dilation, left)
    return x, {"kernel_shape": list(layer.kernel_size), "strides": list(layer.stride),
               "dilations": list(layer.dilation), "pads": pads}


def _oihw(kernel):
    """xdl's (kh, kw, C_in, C_out) kernel ((k, C_in, C_out) in 1-D) as ONNX's (C_out, C_in, kh, kw)."""
    return (kernel if kernel.ndim == 4 else kernel[None]).transpose(3, 2, 0, 1)


@emits(L.Conv2D, L.Conv1D)
def conv(b, layer, call):
    x, in_hw = _to_nchw(b, layer, call)
    left = layer._left_pad() if type(layer) is L.Conv1D else 0  # "causal": zeros before the sequence
    x, attributes = _window(b, layer, x, in_hw, left)
    inputs = [x, b.derived(layer.W, "kernel", _oihw)] + ([b.weight(layer.b, "bias")] if layer.use_bias else [])
    y = _from_nchw(b, layer, b.op("Conv", inputs, **attributes))
    return [activate(b, layer, y, layer.output_shape(call.shape))]


@emits(L.Conv2DTranspose, L.Conv1DTranspose)
def conv_transpose(b, layer, call):
    """ONNX's ConvTranspose gives the full output ``(H - 1) * stride + span``; xdl's (Keras's)
    crops it, or extends it with zeros past its end, by amounts that do not depend on the
    input's size: the crop is the op's pads, the extension a Pad; the bias comes after both."""
    x, in_hw = _to_nchw(b, layer, call)
    axes = layer._axes(in_hw)  # per axis (output size, crop at the start, full size)
    begin = [before for _, before, _ in axes]
    end = [full - out - before for out, before, full in axes]
    kernel = b.derived(layer.W, "kernel", lambda w: (w if w.ndim == 4 else w[None]).transpose(3, 2, 0, 1))
    y = b.op("ConvTranspose", [x, kernel], kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
             dilations=list(layer.dilation), pads=begin + [max(e, 0) for e in end])
    if any(e < 0 for e in end):
        y = b.op("Pad", [y, b.ints([0, 0, 0, 0, 0, 0] + [max(-e, 0) for e in end], "pads")])
    y = _from_nchw(b, layer, y)
    if layer.use_bias:
        y = b.op("Add", [y, b.weight(layer.b, "bias")])
    return [activate(b, layer, y, layer.output_shape(call.shape))]


def _depthwise_kernel(kernel):
    """(kh, kw, C, M) -> (C * M, 1, kh, kw): output channel c * M + m reads input channel c,
    which is ONNX's order for ``group = C``."""
    kh, kw, c, m = kernel.shape
    return kernel.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]


@emits(L.DepthwiseConv2D, L.SeparableConv2D)
def depthwise(b, layer, call):
    x, in_hw = _to_nchw(b, layer, call)
    separable = type(layer) is L.SeparableConv2D
    x, attributes = _window(b, layer, x, in_hw)
    inputs = [x, b.derived(layer.depthwise_kernel, "depthwise_kernel", _depthwise_kernel)]
    if layer.use_bias and not separable:
        inputs.append(b.weight(layer.b, "bias"))
    y = b.op("Conv", inputs, group=int(call.shape[-1]), **attributes)
    if separable:  # then a 1x1 convolution to ``filters`` channels, with the bias
        inputs = [y, b.derived(layer.pointwise_kernel, "pointwise_kernel", _oihw)]
        y = b.op("Conv", inputs + ([b.weight(layer.b, "bias")] if layer.use_bias else []), kernel_shape=[1, 1])
    y = _from_nchw(b, layer, y)
    return [activate(b, layer, y, layer.output_shape(call.shape))]


@emits(L.MaxPool2D, L.MaxPool1D, L.AvgPool2D, L.AvgPool1D)
def pool(b, layer, call):
    """Max pooling ignores padding (xdl pads with -inf); average pooling leaves padding out of
    each window's count (``count_include_pad=0``), as xdl's does. Padding made at run time
    (free sizes) is counted by ONNX's op, so there the average is a sum over a count: the
    same pooling of ones, padded alike."""
    x, in_hw = _to_nchw(b, layer, call)
    maximum = isinstance(layer, L.MaxPool2D)
    geometry = (layer.pool_size, layer.stride, (1, 1))
    padded, pads = window_pads(b, x, layer.padding, in_hw, *geometry, fill=-math.inf if maximum else 0.0)
    kind = "MaxPool" if maximum else "AveragePool"
    attributes = {"kernel_shape": list(layer.pool_size), "strides": list(layer.stride), "pads": pads}
    if maximum:
        return [_from_nchw(b, layer, b.op(kind, [padded], **attributes))]
    y = b.op(kind, [padded], count_include_pad=0, **attributes)
    if padded is not x:
        ones = b.op("ConstantOfShape", [b.op("Concat", [b.ints([1, 1], "one"), b.shape_of(x, 2, 4)], axis=0)],
                    value=b.helper.make_tensor("one", 1, [1], [1.0]))
        ones, _ = window_pads(b, b.op("CastLike", [ones, x]), layer.padding, in_hw, *geometry)
        y = b.op("Div", [y, b.op(kind, [ones], **attributes)])
    return [_from_nchw(b, layer, y)]


@emits(L.GlobalAveragePooling2D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D)
def global_pool(b, layer, call):
    kind = "ReduceMean" if "Average" in type(layer).__name__ else "ReduceMax"
    return [b.reduce(kind, call.x, list(range(1, len(call.shape))), keepdims=layer.keepdims)]


@emits(L.GlobalAveragePooling1D, masks=True)
def global_average_1d(b, layer, call):
    """The mean over time; with a mask, over the steps it counts (zeros where it counts none)."""
    if call.mask is None:
        return [b.reduce("ReduceMean", call.x, [1], keepdims=layer.keepdims)]
    keep = b.op("CastLike", [b.unsqueeze(call.mask, [-1]), call.x])  # (N, T, 1)
    count = b.reduce("ReduceSum", keep, [1], keepdims=True)
    none = b.op("CastLike", [b.op("Equal", [count, b.scalar(0.0, count)]), count])
    scale = b.op("Div", [keep, b.op("Add", [count, none])])
    return [b.reduce("ReduceSum", b.op("Mul", [call.x, scale]), [1], keepdims=layer.keepdims)]


@emits(L.UpSampling2D)
def upsampling(b, layer, call):
    """ONNX's Resize: "nearest" repeats each pixel (source ``floor(o / s)``); "bilinear" samples
    at half-pixel centres, clamped at the edges, as xdl's."""
    x, _ = _to_nchw(b, layer, call)
    mode = ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
            if layer.interpolation == "nearest" else {"mode": "linear", "coordinate_transformation_mode": "half_pixel"})
    scales = b.floats([1.0, 1.0, *layer.size], "scales")
    y = b.op("Resize", [x, "", b.op("Cast", [scales], to=1)], **mode)  # scales are float32 in ONNX
    return [_from_nchw(b, layer, y)]


@emits(L.ZeroPadding2D)
def zero_padding(b, layer, call):
    (top, bottom), (left, right) = layer.padding
    return [b.op("Pad", [call.x, b.ints([0, top, left, 0, 0, bottom, right, 0], "pads")])]


@emits(L.Cropping2D)
def cropping(b, layer, call):
    (top, bottom), (left, right) = layer.cropping
    ends = [-bottom if bottom else 2**63 - 1, -right if right else 2**63 - 1]  # from the end: any size
    return [b.slice(call.x, [top, left], ends, [1, 2])]
