"""The adapter contract: what every backend provides beyond its array namespace.

An adapter module in this package defines:

    probe()         -> Status: usable or not, why, library versions, and a priority
                       (how fast it is here; "auto" picks the highest usable)
    create(device)  -> Backend for that device (None: the backend's default device)
    is_array(x)     -> bool: is x an array of this library (without importing it)
    to_numpy(x, copy) -> numpy.ndarray on the host (shares memory with x only if not copy)

Adding a backend means adding one such module; nothing else branches on backend names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy

from ..errors import ArgumentTypeError, XdlError
from . import _flash


@dataclass(frozen=True)
class Status:
    """Whether a backend can run here, and if not, why."""

    name: str
    usable: bool
    reason: str = ""
    versions: dict = field(default_factory=dict)
    device: str = ""
    priority: int = 0


class DeviceError(XdlError, ValueError):
    """An array of the backend's own library sits on another device than the backend's."""


class Backend:
    """An array namespace bound to one device, plus what the standard lacks.

    Attributes: ``name`` (e.g. "cupy"), ``xp`` (the array API namespace), ``device``.
    """

    #: the fast-path hooks: a portable form here, overridden by adapters that do better
    HOOKS = ("views", "sum_rows", "linear", "matmul_into", "sum_rows_into", "matmul_t", "buffers", "relu",
             "relu_backward",
             "gelu", "gelu_backward", "log_softmax", "batched_matmul", "masked_softmax", "softmax_backward", "attention",
             "attention_backward", "layer_norm", "layer_norm_backward", "label_nll_sum", "label_softmax_grad",
             "sgd_step", "momentum_step", "adam_step", "rmsprop_step", "adagrad_step", "nadam_step", "lion_step",
             "scale_by_norm", "lstm_scan", "lstm_scan_back", "gru_scan",
             "gru_scan_back", "im2col", "col2im", "max_pool", "relu_max_pool", "max_pool_backward",
             "pooled_outputs", "pooled_conv_backward", "index_add", "random_uniform")

    def __init__(self, name, xp, device, adapter):
        self.name = name
        self.xp = xp
        self.device = device
        self._adapter = adapter

    def __repr__(self):
        return f"Backend({self.name!r}, device={self.device!r})"

    def owns(self, x) -> bool:
        """True when ``x`` is already an array of this backend."""
        return self._adapter.is_array(x)

    def asarray(self, x, dtype=None):
        """``x`` (list, scalar, NumPy or any library's array) as an array of this backend.

        Arrays of this library must already be on this backend's device (``DeviceError``
        otherwise: moving them is the caller's decision). Other DLPack-capable arrays are
        taken without a copy where the libraries can share memory on this device; the rest
        pass through the host.
        """
        xp = self.xp
        if isinstance(x, numpy.ndarray) and any(st < 0 for st in x.strides):
            x = numpy.ascontiguousarray(x)  # a reversed view (x[:, ::-1]): DLPack cannot carry it to every library
        if not self.owns(x) and hasattr(x, "__dlpack__"):
            x = self._from_dlpack(x)
        if self.owns(x):
            if not xp.isdtype(x.dtype, ("bool", "integral", "real floating")):
                raise ArgumentTypeError(f"expected numeric data, got dtype {x.dtype}")
            if not self.same_device(x):
                raise DeviceError(f"array on device {x.device}, expected {self.device}")
            if dtype is not None and x.dtype != dtype:
                x = xp.astype(x, dtype)
            return x
        host = _host_array(x)
        if host.dtype.kind not in "biuf":
            raise ArgumentTypeError(f"expected numeric data, got dtype {host.dtype}")
        return xp.asarray(host, dtype=dtype, device=self.device)

    def same_device(self, x) -> bool:
        return True

    def _from_dlpack(self, x):
        """``x`` shared as this library's array on this device, or ``x`` itself if it cannot be."""
        try:
            shared = self.xp.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError, AttributeError, NotImplementedError):
            return x
        return shared if self.same_device(shared) else x

    def to_numpy(self, x, copy=False):
        """A host (NumPy) array of ``x``; ``copy=True`` never shares memory with ``x``."""
        return self._adapter.to_numpy(x, copy)

    def synchronize(self):
        """Wait until queued device work is done (for timing); a no-op on the CPU."""

    # -- fast paths -------------------------------------------------------------------------
    # Every hook has its portable form here, in array API calls; an adapter overrides the ones
    # its library does in fewer passes or launches, and layers call the hook without asking
    # which form runs. tests/backends/test_fast_paths.py checks each override against this form.

    def views(self, flat, shapes):
        """Arrays of ``shapes`` that share memory with consecutive parts of the 1-D ``flat``
        (writes through them change ``flat``), or None where the library cannot promise views
        (the standard does not): then parameters keep arrays of their own (see xdl/core/flat.py)."""
        return None

    def sum_rows(self, x):
        """Sum of a 2-D array over its first axis (N, M) -> (M,): bias gradients."""
        return self.xp.sum(x, axis=0)

    def linear(self, x, w, b=None):
        """``x @ w + b`` for 2-D ``x`` (``b`` None: no bias)."""
        y = x @ w
        if b is not None:
            y += b
        return y

    def matmul_into(self, a, b, out, add=False):
        """``out[...] = a @ b`` for 2-D ``a``, ``b`` (``add``: ``out += a @ b``): a gradient written
        into its parameter's view of a flat buffer (``Parameter.add_product``). Adapters form
        the product in ``out`` itself, without a temporary."""
        if add:
            out += a @ b
        else:
            out[...] = a @ b

    def matmul_t(self, a, b):
        """``a.T @ b`` for 2-D ``a`` (M, K) and ``b`` (M, N), M large: a weight gradient summed over
        many rows (a convolution's columns). The portable form puts the narrower factor on the
        left, computing ``(b.T @ a).T`` where K >= N: OpenBLAS packs the other one faster
        untransposed (benchmarks/README.md)."""
        if a.shape[1] >= b.shape[1]:
            return self.xp.permute_dims(b.T @ a, (1, 0))
        return a.T @ b

    def buffers(self):
        """A pool of arrays a layer reuses from call to call (``Buffers``): its im2col columns,
        for instance, which for a big batch would otherwise be fresh memory each step (page
        faults on the CPU). An adapter whose library pools memory itself may hand out a pool
        that keeps nothing."""
        return Buffers(self.xp)

    def sum_rows_into(self, x, out, add=False):
        """``out[...] = sum_rows(x)`` (``add``: ``+=``), as ``matmul_into`` (a bias gradient)."""
        if add:
            out += self.sum_rows(x)
        else:
            out[...] = self.sum_rows(x)

    def relu(self, x):
        """``max(x, 0)`` and what ``relu_backward`` needs: ``(y, saved)``. A NaN passes
        through, as in NumPy and PyTorch; the portable form is ``x * (x > 0)``, a 0/1 mask
        multiplied (NumPy's ``where`` branches per element, slow on random signs;
        ``maximum(x, 0.0)`` makes array-api-compat copy the scalar to the device, which
        on torch-CUDA waits for the GPU)."""
        mask = self.xp.astype(x > 0, x.dtype)
        return x * mask, mask

    def relu_backward(self, dy, saved):
        """The input gradient of ``relu`` from its ``saved``."""
        return dy * saved

    def gelu(self, x, approximate):
        """``x * Phi(x)`` (``approximate="none"``) or GPT-2's ``0.5 x (1 + tanh(sqrt(2/pi) (x +
        0.044715 x^3)))`` (``"tanh"``), and what ``gelu_backward`` needs: ``(y, saved)``. The
        exact form's erf, which the array API lacks, is Abramowitz and Stegun 7.1.26 (absolute
        error below 1.5e-7: float32's precision)."""
        xp = self.xp
        if approximate == "tanh":
            t = xp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1.0 + t), (x, t)
        erf, slope = erf_and_slope(xp, x * (1.0 / math.sqrt(2.0)))
        cdf = 0.5 + 0.5 * erf
        return x * cdf, (x, cdf, slope)

    def gelu_backward(self, dy, saved, approximate):
        if approximate == "tanh":
            x, t = saved
            return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x))
        x, cdf, slope = saved
        return dy * (cdf + x * slope * (0.5 / math.sqrt(2.0)))

    # -- softmax cross-entropy ---------------------------------------------------------------
    def log_softmax(self, z):
        """``(log_softmax(z), softmax(z))`` over the last axis, stable for any magnitude."""
        xp = self.xp
        # in-place steps on arrays made here: no temporaries beyond them
        log_prob = z - xp.max(z, axis=-1, keepdims=True)
        prob = xp.exp(log_prob)
        total = xp.sum(prob, axis=-1, keepdims=True)
        prob /= total
        log_prob -= xp.log(total)
        return log_prob, prob

    def layer_norm(self, x, gamma, beta, epsilon):
        """``(y, (xhat, inv))``: ``xhat = (x - mean) * inv``, ``inv = 1 / sqrt(var + epsilon)``
        over the last axis (``inv`` keeps it, as size 1), and ``y = xhat * gamma + beta``."""
        xp = self.xp
        centered = x - xp.mean(x, axis=-1, keepdims=True)
        var = xp.mean(centered * centered, axis=-1, keepdims=True)
        inv = 1.0 / xp.sqrt(var + epsilon)
        xhat = centered * inv
        return xhat * gamma + beta, (xhat, inv)

    def layer_norm_backward(self, dy, saved, gamma, need_dx=True):
        """The gradients of ``layer_norm`` from its ``saved``: ``(dx or None, dgamma, dbeta)``."""
        xp = self.xp
        xhat, inv = saved
        rows = (-1, xhat.shape[-1])
        dgamma, dbeta = self.sum_rows(xp.reshape(dy * xhat, rows)), self.sum_rows(xp.reshape(dy, rows))
        if not need_dx:
            return None, dgamma, dbeta
        dxhat = dy * gamma
        mean_d = xp.mean(dxhat, axis=-1, keepdims=True)
        mean_dx = xp.mean(dxhat * xhat, axis=-1, keepdims=True)
        return (dxhat - mean_d - xhat * mean_dx) * inv, dgamma, dbeta

    def batched_matmul(self, a, b):
        """``a @ b`` for stacks of small matrices, (B..., M, K) @ (B..., K, N), as in attention's
        heads; adapters may split the stack across threads."""
        return a @ b

    def masked_softmax(self, s, keep, empty_rows):
        """Softmax over the last axis of the scores ``s`` (N, H, Tq, Tk), which the caller made
        and lets this overwrite. ``keep``: None, or 0/1 in ``s``'s dtype broadcasting to it
        (N or 1, 1, Tq, Tk): a key with 0 gets weight 0. ``empty_rows``: some row may keep no
        key, and then gives zeros (never 0/0); without it every row keeps one."""
        xp = self.xp
        if keep is not None:  # a large negative offset: finite, so no inf - inf
            s += (keep - 1.0) * 1e30
        s -= xp.max(s, axis=-1, keepdims=True)
        e = xp.exp(s)
        del s
        if not empty_rows:  # masked scores' exponentials underflow to exact zeros
            e /= xp.sum(e, axis=-1, keepdims=True)
            return e
        e *= keep
        total = xp.sum(e, axis=-1, keepdims=True)
        e /= total + xp.astype(total == 0, total.dtype)  # a fully masked row: 0 / 1
        return e

    def softmax_backward(self, p, dp):
        """The gradient of the scores from ``p = softmax(scores)`` (last axis) and ``dp``, the
        gradient of ``p``: ``p * (dp - sum(dp * p))``. ``dp`` is the caller's to overwrite."""
        dp -= self.xp.sum(dp * p, axis=-1, keepdims=True)
        dp *= p
        return dp

    def attention(self, q, k, v, mask, causal, scale, offset=0):
        """Scaled dot-product attention over heads without the score matrix: ``(o, saved)``,
        ``o = softmax(scale * q k^T, masked) v`` (N, H, Tq, Dv) and what ``attention_backward``
        needs, memory linear in the lengths. ``q`` (N, H, Tq, Dk), ``k`` (N, H, Tk, Dk), ``v``
        (N, H, Tk, Dv), any strides; ``mask`` None or (N, Tq, Tk), 0/1 in ``q``'s dtype (1: the
        query may attend the key); ``causal``: query i attends keys j <= i + ``offset`` (its
        position, when earlier keys are cached). A query left no key gives zeros, never NaN.
        The portable form is blocked, in array API calls (``_flash``): per block of queries an
        online softmax over blocks of keys, causal blocks above the diagonal skipped."""
        o, lse = _flash.forward(self.xp, q, k, v, mask, causal, scale, offset)
        return o, (q, k, v, o, lse, mask, causal, scale, offset)

    def attention_backward(self, do, saved):
        """``(dq, dk, dv)`` of ``attention`` for the output gradient ``do`` (N, H, Tq, Dv), each
        block's probabilities recomputed from the saved per-row log-sum-exp (FlashAttention-2)."""
        q, k, v, o, lse, mask, causal, scale, offset = saved
        return _flash.backward(self.xp, do, q, k, v, o, lse, mask, causal, scale, offset)

    def label_nll_sum(self, log_prob, labels):
        """``-sum(log_prob[..., labels])``: the cross-entropy summed over rows (0-d), for class
        indices ``labels`` of shape ``log_prob.shape[:-1]``."""
        xp = self.xp
        classes = xp.arange(log_prob.shape[-1], dtype=labels.dtype, device=labels.device)
        return -xp.sum(xp.astype(labels[..., None] == classes, log_prob.dtype) * log_prob)

    def label_softmax_grad(self, prob, labels, scale):
        """``(prob - one_hot(labels)) * scale``: the logits' gradient of the mean cross-entropy."""
        xp = self.xp
        classes = xp.arange(prob.shape[-1], dtype=labels.dtype, device=labels.device)
        grad = prob - xp.astype(labels[..., None] == classes, prob.dtype)
        grad *= scale
        return grad

    # -- optimizer updates: each returns the updated arrays, changed in place where the
    # library's arrays are mutable (a flat buffer's updates must land in the buffer) ----------
    def sgd_step(self, w, g, lr):
        w -= lr * g
        return w

    def momentum_step(self, w, g, b, lr, momentum, nesterov):
        """PyTorch's convention: ``b = momentum * b + g``; ``w -= lr * b`` (Nesterov:
        ``w -= lr * (g + momentum * b)``). Returns ``(w, b)``."""
        b *= momentum
        b += g
        w -= lr * (g + momentum * b) if nesterov else lr * b
        return w, b

    def adam_step(self, w, g, m, v, lr_t, eps_t, beta_1, beta_2):
        """``m``, ``v`` moving averages of ``g`` and ``g * g``; ``w -= lr_t * m / (sqrt(v) +
        eps_t)`` with the bias corrections folded into the host scalars ``lr_t``, ``eps_t``.
        Returns ``(w, m, v)``."""
        m *= beta_1
        m += (1.0 - beta_1) * g
        v *= beta_2
        v += (1.0 - beta_2) * (g * g)
        w -= lr_t * m / (self.xp.sqrt(v) + eps_t)
        return w, m, v

    def rmsprop_step(self, w, g, v, lr, rho, eps):
        """``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / (sqrt(v) + eps)``. Returns ``(w, v)``."""
        v *= rho
        v += (1.0 - rho) * (g * g)
        w -= lr * g / (self.xp.sqrt(v) + eps)
        return w, v

    def adagrad_step(self, w, g, a, lr, eps):
        """Keras's Adagrad: ``a += g^2``; ``w -= lr * g / sqrt(a + eps)``. Returns ``(w, a)``."""
        a += g * g
        w -= lr * g / self.xp.sqrt(a + eps)
        return w, a

    def nadam_step(self, w, g, m, v, lr, c_m, c_g, root, eps, beta_1, beta_2):
        """Keras's Nadam with its host factors: ``w -= lr * (c_m m + c_g g) / (sqrt(v) / root
        + eps)`` after the moment updates. Returns ``(w, m, v)``."""
        m *= beta_1
        m += (1.0 - beta_1) * g
        v *= beta_2
        v += (1.0 - beta_2) * (g * g)
        w -= lr * (c_m * m + c_g * g) / (self.xp.sqrt(v) * (1.0 / root) + eps)
        return w, m, v

    def lion_step(self, w, g, m, lr, beta_1, beta_2):
        """``w -= lr * sign(beta_1 m + (1 - beta_1) g)``; ``m = beta_2 m + (1 - beta_2) g``.
        Returns ``(w, m)``."""
        w -= lr * self.xp.sign(beta_1 * m + (1.0 - beta_1) * g)
        m *= beta_2
        m += (1.0 - beta_2) * g
        return w, m

    def scale_by_norm(self, grads, clipnorm, in_place):
        """``grads`` rescaled together so that their global L2 norm is at most ``clipnorm``,
        without reading the norm back: ``g * clipnorm / max(norm, clipnorm)``. ``in_place``:
        the arrays are the optimizer's own (a flat buffer) and may be overwritten."""
        xp = self.xp
        total = None
        for g in grads:
            s = xp.sum(g * g)
            total = s if total is None else total + s
        norm = xp.sqrt(total)
        denom = xp.where(norm > clipnorm, norm, xp.astype(xp.full_like(norm, clipnorm), norm.dtype))
        factor = clipnorm / denom
        return [_scaled(xp, g, factor, in_place) for g in grads]

    # -- recurrent layers: the loop over time steps -------------------------------------------
    def lstm_scan(self, xw, h, c, u, scale2):
        """An LSTM over time. ``xw`` (N, T, 4H): each step's input part of the gate
        pre-activations, gates in the order i, f, o, g, the three sigmoid gates' halved (so that
        one tanh gives all four: ``sigmoid(z) = (tanh(z / 2) + 1) / 2``); ``u`` (H, 4H) the
        recurrent kernel halved the same way; ``scale2`` (4H,) each gate's squared scale.
        Returns ``(hs (N, T, H), (h, c), saved)``."""
        xp, H = self.xp, h.shape[-1]
        hs, cache = [], []
        for t in range(xw.shape[1]):
            s = xp.tanh(xw[:, t, :] + h @ u)
            ifo = 0.5 * s[:, :3 * H] + 0.5
            c_prev, c = c, ifo[:, H:2 * H] * c + ifo[:, :H] * s[:, 3 * H:]
            tc = xp.tanh(c)
            h = ifo[:, 2 * H:] * tc
            hs.append(h)
            # for backward, per step while the arrays are small and in cache: the gates'
            # pre-activation gradient is [dc, dc, dh, dc] * factor, where (1 - s*s) * scale**2
            # is each gate's derivative: 0.25 (1 - s^2) for the sigmoids, 1 - g^2 for g
            factor = xp.concat([s[:, 3 * H:], c_prev, tc, ifo[:, :H]], axis=1) * ((1.0 - s * s) * scale2)
            cache.append((factor, ifo[:, 2 * H:] * (1.0 - tc * tc), ifo[:, H:2 * H]))
        return xp.stack(hs, axis=1), (h, c), cache

    def lstm_scan_back(self, saved, dhs, dh, dc, u_t):
        """Backpropagation through ``lstm_scan``: ``dhs`` (N, T, H) or None, the gradients of
        the last states ``dh``, ``dc``; ``u_t`` the recurrent kernel transposed, not halved.
        Returns ``(dz (N, T, 4H), dh, dc)``: the gradient of the (unhalved) pre-activations and
        of the first states."""
        xp, dzs = self.xp, [None] * len(saved)
        for t in reversed(range(len(saved))):
            factor, dc_dh, f = saved[t]
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dc = dc + dh * dc_dh
            dzs[t] = xp.concat([dc, dc, dh, dc], axis=1) * factor
            dh = dzs[t] @ u_t
            dc = dc * f
        return xp.stack(dzs, axis=1), dh, dc

    def gru_scan(self, xw, h, u, bh):
        """A GRU over time (reset gate after the product, as PyTorch and cuDNN): ``xw`` (N, T,
        3H) each step's input part of the pre-activations, gates r, z, n; ``u`` (H, 3H) the
        recurrent kernel, ``bh`` (3H,) its bias. Returns ``(hs (N, T, H), (h,), saved)``."""
        xp, H = self.xp, h.shape[-1]
        hs, cache = [], []
        for t in range(xw.shape[1]):
            x_t, hw = xw[:, t, :], h @ u + bh
            rz = 0.5 * xp.tanh(0.5 * (x_t[:, :2 * H] + hw[:, :2 * H])) + 0.5
            r, z, hw_n = rz[:, :H], rz[:, H:], hw[:, 2 * H:]
            n = xp.tanh(x_t[:, 2 * H:] + r * hw_n)
            h_prev, h = h, n + z * (h - n)
            hs.append(h)
            # for backward, per step while the arrays are small: the gradients of the input
            # and recurrent pre-activations are dh (three times) times these factors
            dn = (1.0 - z) * (1.0 - n * n)
            dr, dz = dn * hw_n * r * (1.0 - r), (h_prev - n) * z * (1.0 - z)
            cache.append((xp.concat([dr, dz, dn], axis=1), xp.concat([dr, dz, dn * r], axis=1), z))
        return xp.stack(hs, axis=1), (h,), cache

    def gru_scan_back(self, saved, dhs, dh, u_t):
        """Backpropagation through ``gru_scan``: ``(dxw, dhw, dh)``, the gradients of the input
        and recurrent pre-activations (N, T, 3H) and of the first state."""
        xp, dxws, dhws = self.xp, [None] * len(saved), [None] * len(saved)
        for t in reversed(range(len(saved))):
            to_xw, to_hw, z = saved[t]
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dh3 = xp.concat([dh, dh, dh], axis=1)
            dxws[t], dhws[t] = dh3 * to_xw, dh3 * to_hw
            dh = dh * z + dhws[t] @ u_t
        return xp.stack(dxws, axis=1), xp.stack(dhws, axis=1), dh

    # -- windows of (N, H, W, C) images, padding already in place ----------------------------
    def im2col(self, x, out, kernel, stride, dilation):
        """Copy the windows of ``x`` (N, Hp, Wp, C) into ``out[..., :kh * kw * C]`` of ``out``
        (N, OH, OW, >= kh * kw * C), in (kh, kw, C) order; returns ``out``. Portable form:
        one strided slice copied per kernel offset; adapters with ``as_strided`` make it one copy."""
        c = x.shape[-1]
        for k, (rows, cols) in enumerate(offsets(kernel, stride, dilation, out.shape[1:3])):
            out[:, :, :, k * c:(k + 1) * c] = x[:, rows, cols, :]
        return out

    def col2im(self, dcols, kernel, stride, dilation, padded_hw):
        """The adjoint of ``im2col``: ``dcols`` (N, OH, OW, kh * kw * C) summed into a new
        (N, Hp, Wp, C) array, each window's columns onto the pixels they came from."""
        xp = self.xp
        n, oh, ow, width = dcols.shape
        c = width // (kernel[0] * kernel[1])
        dx = xp.zeros((n,) + tuple(padded_hw) + (c,), dtype=dcols.dtype, device=dcols.device)
        for k, (rows, cols) in enumerate(offsets(kernel, stride, dilation, (oh, ow))):
            dx[:, rows, cols, :] += dcols[:, :, :, k * c:(k + 1) * c]
        return dx

    def max_pool(self, x, kernel, stride, out_hw):
        """Max pooling of ``x`` (N, Hp, Wp, C): ``(y, saved)``, the window maxima (N, OH, OW, C)
        and what ``max_pool_backward`` needs. The gradient goes to each window's first maximum
        in row-major order, as in PyTorch and TensorFlow. Portable form: the window slices
        stacked (kh * kw, N, OH, OW, C), so the reduction and the comparisons of the backward run
        over contiguous memory."""
        windows = self.xp.stack([x[:, rows, cols, :] for rows, cols in offsets(kernel, stride, (1, 1), out_hw)])
        y = self.xp.max(windows, axis=0)
        return y, (windows, y, None)

    def relu_max_pool(self, x, kernel, stride, out_hw):
        """``relu`` of ``max_pool``'s maxima (its values exactly), and the backward through ReLU's
        gradient too: one pass each way where the adapter can. A graph runs a ReLU that feeds a
        max pooling this way (models/fusion.py); ``max_pool_backward`` takes its ``saved``."""
        y, (windows, maxima, _) = self.max_pool(x, kernel, stride, out_hw)
        out, after = self.relu(y)
        return out, (windows, maxima, after)

    def max_pool_backward(self, dy, saved, kernel, stride, padded_hw, disjoint, covers):
        """The gradient for the (N, Hp, Wp, C) input of ``max_pool`` (or ``relu_max_pool``). ``disjoint``: no two
        windows share an element (each part is written, not added); ``covers``: they also
        hold every element (written onto uninitialised memory)."""
        xp = self.xp
        windows, y, after_relu = saved
        if after_relu is not None:
            dy = self.relu_backward(dy, after_relu)
        hits, taken = windows == y[None, ...], None  # every maximum of every window
        shape = (dy.shape[0],) + tuple(padded_hw) + (dy.shape[-1],)
        dx = (xp.empty if covers else xp.zeros)(shape, dtype=dy.dtype, device=dy.device)
        for k, (rows, cols) in enumerate(offsets(kernel, stride, (1, 1), dy.shape[1:3])):
            hit = hits[k, ...]
            if taken is None:
                first = taken = hit
            else:  # a maximum no earlier offset of the window held
                first, taken = xp.logical_and(hit, xp.logical_not(taken)), xp.logical_or(taken, hit)
            part = xp.astype(first, dy.dtype) * dy
            if disjoint:
                dx[:, rows, cols, :] = part
            else:
                dx[:, rows, cols, :] += part
        return dx

    def pooled_outputs(self, out_hw, read_hw):
        """How many (rows, columns) of its output a convolution that only a max pooling reads
        computes: ``read_hw``, those some window reads (10 of 11 rows under a 2 x 2 pooling), of
        its ``out_hw``. Adapters whose ``col2im`` needs every window return ``out_hw``."""
        return tuple(read_hw)

    def pooled_conv_backward(self, dy, saved, pool, conv, x, weights, use_bias, need_dx, dense):
        """The gradients of a convolution whose output only a max pooling reads (a graph runs
        the two as one step: models/fusion.py), from the pooling's ``dy`` and ``saved``
        (``max_pool``'s or ``relu_max_pool``'s): ``(dweights, dbias or None, dx or None)``,
        ``dx`` for the padded input ``x`` and only where ``need_dx``. ``pool`` and ``conv`` are
        the window geometries (``in_hw``, ``out_hw``, ``kernel``, ``stride``, ``dilation``,
        ``pads``, ``padded_hw``, ``disjoint``, ``covers``: xdl/layers/conv/windows.Geometry);
        ``weights`` is the (kh, kw, C_in, C_out) kernel. Portable form: the pooling's backward,
        then ``dense(gradient of the convolution's output, need_dx)``, the convolution's own
        backward. Adapters may send each pooled value's gradient to its one output instead, and
        compute from those outputs alone."""
        dconv = self.max_pool_backward(dy, saved, pool.kernel, pool.stride, pool.padded_hw, pool.disjoint, pool.covers)
        if pool.padded:
            (top, _), (left, _) = pool.pads
            dconv = dconv[:, top:top + pool.in_hw[0], left:left + pool.in_hw[1], :]
        return dense(dconv, need_dx)

    def random_uniform(self, seed: int):
        """A generator of uniform [0, 1) arrays on this device: ``draw(shape, dtype)``.

        This default draws on the host and copies over; adapters with a device generator
        override it, so that e.g. dropout masks cost no host-to-device transfer.
        """
        rng = numpy.random.default_rng(seed)
        return lambda shape, dtype: self.xp.asarray(rng.random(shape), dtype=dtype, device=self.device)

    def communicator(self, comm):
        """Collectives on this backend's arrays across the processes of ``comm`` (an mpi4py
        communicator): ``allreduce_sum(flat)`` and ``broadcast(flat, root)``.

        This default stages through host memory over MPI, so it works for every backend;
        an adapter with a device transport (NCCL between GPUs) overrides it.
        """
        from ._mpi import HostStagedMPI

        return HostStagedMPI(self, comm)

    def dtype(self, name: str):
        """The namespace's dtype object for a name such as "float32"."""
        return getattr(self.xp, name)

    def index_add(self, indices, values, size):
        """Rows of ``values`` summed by index: ``out[indices[k]] += values[k]``, repeats accumulating.

        ``indices`` (M,) integers in [0, size), ``values`` (M, D) -> (size, D). The portable
        route is a one-hot product (M x size memory); adapters override it with a scatter-add.
        """
        xp = self.xp
        classes = xp.arange(size, dtype=indices.dtype, device=self.device)
        one_hot = xp.astype(xp.reshape(indices, (-1, 1)) == classes, values.dtype)
        return one_hot.T @ values


class Buffers:
    """Arrays of one use kept between calls: ``take(shape, dtype, device, prepare)`` hands out a
    kept array of that shape and dtype, else a new one passed once through ``prepare``;
    ``give(a)`` keeps ``a`` for a later call, once the call that took it is done with it (its
    backward has read it). A layer applied twice in a step holds two."""

    def __init__(self, xp):
        self.xp, self.kept = xp, []

    def take(self, shape, dtype, device, prepare=None):
        while self.kept:
            a = self.kept.pop()
            if tuple(a.shape) == tuple(shape) and a.dtype == dtype and a.device == device:
                return a
        a = self.xp.empty(shape, dtype=dtype, device=device)
        if prepare is not None:
            prepare(a)
        return a

    def give(self, a):
        self.kept.append(a)


def erf_and_slope(xp, x):
    """erf by Abramowitz and Stegun 7.1.26 (odd-extended from |x|) and its derivative, the
    formula's own (not 2/sqrt(pi) exp(-x^2)): gradients then match the values exactly."""
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    c = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
    poly = t * (c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * c[4]))))
    dpoly = c[0] + t * (2 * c[1] + t * (3 * c[2] + t * (4 * c[3] + t * 5 * c[4])))  # d poly / dt
    g = xp.exp(-a * a)
    return xp.sign(x) * (1.0 - poly * g), g * (dpoly * 0.3275911 * t * t + 2.0 * a * poly)


_GELU_C = math.sqrt(2.0 / math.pi)


def consecutive_views(flat, shapes, reshape):
    """``Backend.views`` for libraries whose slices and ``reshape`` are views (NumPy, PyTorch)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(reshape(flat[start:start + size], shape))
        start += size
    return out


def offsets(kernel, stride, dilation, out_hw):
    """Per kernel offset (row-major), the (rows, cols) slices of a padded (N, Hp, Wp, C) input
    that the offset reads for each output pixel."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    return [(slice(i * dh, i * dh + (oh - 1) * sh + 1, sh), slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))
            for i in range(kh) for j in range(kw)]


def _scaled(xp, g, factor, in_place):
    """``g * factor`` for a 0-d ``factor``, in place when allowed."""
    if factor.dtype != g.dtype:
        factor = xp.astype(factor, g.dtype)
    if in_place:
        g *= factor
        return g
    return g * factor


def _host_array(x):
    """Any array-like as a NumPy array, converting other backends' arrays on the host."""
    if isinstance(x, numpy.ndarray):
        return x
    from . import to_numpy

    try:
        return to_numpy(x)
    except (TypeError, ValueError) as e:
        raise ArgumentTypeError(f"cannot convert {type(x).__name__} to an array: {e}") from None


#: the strided copy reads runs of kw * C contiguous elements; below 6 the per-offset slices
#: copy faster on NumPy, above it they are slower (NumPy copies an innermost axis of a few
#: channels element by element; benchmarks/README.md)
MIN_WINDOW_RUN = 6


def window_strides(x_shape, out_shape, kernel, stride, dilation, min_run=MIN_WINDOW_RUN):
    """Element strides of two (N, OH, OW, kh, kw * C) views, for ``im2col`` as one copy: the
    windows of a C-contiguous (N, Hp, Wp, C) input (row i of window (oh, ow) is the kw * C
    contiguous elements from (oh * sh + i * dh, ow * sw)), and the first kh * kw * C columns
    of a C-contiguous (N, OH, OW, K) output. None where the windows are no strided view
    (dilated columns) or their runs are too short to pay."""
    (_, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    _, hp, wp, c = x_shape
    _, oh, ow, k = out_shape
    if (dw != 1 and kw > 1) or kw * c < min_run:
        return None
    return ((hp * wp * c, sh * wp * c, sw * c, dh * wp * c, 1),
            (oh * ow * k, ow * k, k, kw * c, 1))


def numpy_like_im2col(lib, x, out, kernel, stride, dilation):
    """``Backend.im2col`` as one copy for libraries with NumPy's ``as_strided`` and ``copyto``
    (NumPy, CuPy); False where the windows are no such view (the caller copies per offset)."""
    strides = window_strides(x.shape, out.shape, kernel, stride, dilation)
    if strides is None or not out.flags.c_contiguous:
        return False
    x = lib.ascontiguousarray(x)
    shape = tuple(out.shape[:3]) + (kernel[0], kernel[1] * x.shape[3])
    view = lib.lib.stride_tricks.as_strided
    lib.copyto(view(out, shape, tuple(s * out.itemsize for s in strides[1])),
               view(x, shape, tuple(s * x.itemsize for s in strides[0])))
    return True
