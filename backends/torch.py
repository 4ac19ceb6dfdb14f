"""PyTorch through array-api-compat: on CUDA when a device is present, else on the CPU."""

from __future__ import annotations

import importlib.util
import sys

from ..errors import BackendError
from ._base import Backend, Status, consecutive_views, window_strides
from ._host_memory import keep_freed_memory

PRIORITY_CUDA = 30
PRIORITY_CPU = 5  # eager torch on the CPU pays more per call than NumPy


def probe() -> Status:
    if importlib.util.find_spec("torch") is None:
        return Status("torch", False, 'torch is not installed (pip install "xdl[torch]")')
    import array_api_compat
    import torch

    versions = {"torch": torch.__version__, "array-api-compat": array_api_compat.__version__}
    if torch.cuda.is_available():
        return Status("torch", True, versions=versions, device="cuda", priority=PRIORITY_CUDA)
    return Status("torch", True, "no CUDA device: runs on the CPU", versions, "cpu", PRIORITY_CPU)


class TorchBackend(Backend):
    """Fast paths: one ATen operator (one CUDA launch) where the portable form takes several."""

    def __init__(self, *args):
        super().__init__(*args)
        self._constants = {}  # ones vectors and 0-d scalars, by shape and dtype: made once

    def same_device(self, x) -> bool:
        return x.device == self.device

    def views(self, flat, shapes):
        return consecutive_views(flat, shapes, lambda part, shape: part.view(shape))

    def linear(self, x, w, b=None):
        import torch

        return x @ w if b is None else torch.addmm(b, x, w)

    def matmul_into(self, a, b, out, add=False):
        if add:
            out.addmm_(a, b)
        else:
            import torch

            torch.mm(a, b, out=out)

    def sum_rows_into(self, x, out, add=False):
        if add:  # a product with a ones vector accumulates in one kernel
            out.addmv_(x.T, self._ones_like_rows(x))
        else:
            import torch

            torch.sum(x, 0, out=out)

    def _ones_like_rows(self, dy):
        key = (dy.shape[0], dy.dtype)
        ones = self._constants.get(key)
        if ones is None:
            import torch

            ones = self._constants[key] = torch.ones(dy.shape[0], dtype=dy.dtype, device=dy.device)
        return ones

    def relu(self, x):
        import torch

        y = torch.relu(x)
        return y, y

    def relu_backward(self, dy, saved):
        import torch

        return torch.ops.aten.threshold_backward(dy, saved, 0)

    def gelu(self, x, approximate):
        import torch

        return torch.nn.functional.gelu(x, approximate=approximate), x

    def gelu_backward(self, dy, saved, approximate):
        import torch

        return torch.ops.aten.gelu_backward(dy, saved, approximate=approximate)

    def layer_norm(self, x, gamma, beta, epsilon):
        import torch

        y, mean, rstd = torch.ops.aten.native_layer_norm(x, [x.shape[-1]], gamma, beta, epsilon)
        return y, (x, mean, rstd, beta)  # beta: its gradient is made only where one is given

    def layer_norm_backward(self, dy, saved, gamma, need_dx=True):
        import torch

        x, mean, rstd, beta = saved
        return torch.ops.aten.native_layer_norm_backward(dy, x, [x.shape[-1]], mean, rstd, gamma, beta,
                                                         [need_dx, True, True])

    def masked_softmax(self, s, keep, empty_rows):
        import torch

        if keep is None:
            return torch.softmax(s, dim=-1)
        masked = keep == 0
        p = torch.softmax(s.masked_fill_(masked, float("-inf")), dim=-1)
        return p.masked_fill_(masked, 0.0) if empty_rows else p  # a row keeping no key: NaN -> 0

    def attention(self, q, k, v, mask, causal, scale, offset=0):
        """On the CPU, ATen's blocked attention (its CPU "flash" kernel): one operator each way,
        the per-row log-sum-exp kept, no score matrix. The mask goes in as an additive one,
        ``log(keep)`` (0 or -inf); a row that keeps no key gives zeros. ATen's ``is_causal`` puts
        query i against keys j <= i, so a causal call with an ``offset`` (decoding with cached
        keys) passes its causal part as an additive mask too, unless it leaves every key to every
        query (one new token). On other devices (GPUs) without a mask, PyTorch's
        ``scaled_dot_product_attention`` under its own autograd, which picks the device's fused
        kernels; with a mask there (whose rows left no key those kernels may not give as zeros),
        and where the kernels do not apply (value heads of another size than the keys', other
        dtypes), the portable form."""
        import torch

        cpu = q.device.type == "cpu"
        if not (q.dtype == k.dtype == v.dtype) or q.dtype not in (torch.float32, torch.float64) or (
                cpu and q.shape[-1] != v.shape[-1]) or (not cpu and mask is not None):  # CPU: one head size
            return self._portable_attention(q, k, v, mask, causal, scale, offset)
        if causal and offset >= k.shape[2] - 1:
            causal = False  # every key at or before every query's position
        bias = None
        if causal and offset:
            bias = torch.full((q.shape[2], k.shape[2]), float("-inf"), dtype=q.dtype, device=q.device).triu_(
                offset + 1)
            causal = False
        if not cpu:
            return self._autograd_attention(q, k, v, bias, causal, scale)
        if mask is not None:
            bias = mask[:, None].log() if bias is None else mask[:, None].log() + bias
        o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, attn_mask=bias,
                                                                           scale=scale)
        return o, ("cpu", (q, k, v, o, lse, causal, bias, scale))

    def _autograd_attention(self, q, k, v, bias, causal, scale):
        """``scaled_dot_product_attention`` on leaves of its own, its backward by autograd."""
        import torch

        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in (q, k, v)]
            o = torch.nn.functional.scaled_dot_product_attention(*leaves, attn_mask=bias, is_causal=causal, scale=scale)
        return o.detach(), ("autograd", (o, leaves))

    def _portable_attention(self, q, k, v, mask, causal, scale, offset):
        o, saved = super().attention(q, k, v, mask, causal, scale, offset)
        return o, (None, saved)

    def attention_backward(self, do, saved):
        import torch

        kind, saved = saved
        if kind is None:
            return super().attention_backward(do, saved)
        if kind == "autograd":
            o, leaves = saved
            return torch.autograd.grad(o, leaves, do)
        q, k, v, o, lse, causal, bias, scale = saved
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            do, q, k, v, o, lse, 0.0, causal, attn_mask=bias, scale=scale)

    def softmax_backward(self, p, dp):
        import torch

        return torch.ops.aten._softmax_backward_data(dp, p, -1, p.dtype)

    def log_softmax(self, z):
        import torch

        log_prob = torch.log_softmax(z, dim=-1)
        return log_prob, log_prob.exp()

    def label_nll_sum(self, log_prob, labels):
        import torch

        classes = log_prob.shape[-1]
        return torch.nn.functional.nll_loss(log_prob.reshape(-1, classes), _long(labels).reshape(-1), reduction="sum")

    def label_softmax_grad(self, prob, labels, scale):
        import torch

        classes = prob.shape[-1]
        # nll_loss's backward is -scale at each label (one kernel); the softmax part adds to it
        grad = torch.ops.aten.nll_loss_backward(self._scalar(scale, prob), prob.reshape(-1, classes),
                                                _long(labels).reshape(-1), None, 2, -100, self._scalar(1.0, prob))
        return grad.add_(prob.reshape(-1, classes), alpha=scale).reshape(prob.shape)

    def _scalar(self, value, like):
        key = ("scalar", value, like.dtype)
        t = self._constants.get(key)
        if t is None:
            import torch

            if len(self._constants) > 256:  # one per batch size seen: bounded all the same
                self._constants.clear()
            t = self._constants[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
        return t

    def sgd_step(self, w, g, lr):
        return w.add_(g, alpha=-lr)

    def momentum_step(self, w, g, b, lr, momentum, nesterov):
        b.mul_(momentum).add_(g)
        if nesterov:
            w.add_(g, alpha=-lr).add_(b, alpha=-lr * momentum)
        else:
            w.add_(b, alpha=-lr)
        return w, b

    def adam_step(self, w, g, m, v, lr_t, eps_t, beta_1, beta_2):
        m.lerp_(g, 1.0 - beta_1)
        v.mul_(beta_2).addcmul_(g, g, value=1.0 - beta_2)
        w.addcdiv_(m, v.sqrt().add_(eps_t), value=-lr_t)
        return w, m, v

    def rmsprop_step(self, w, g, v, lr, rho, eps):
        v.mul_(rho).addcmul_(g, g, value=1.0 - rho)
        w.addcdiv_(g, v.sqrt().add_(eps), value=-lr)
        return w, v

    def scale_by_norm(self, grads, clipnorm, in_place):
        import torch

        norms = [torch.linalg.vector_norm(g) for g in grads]
        norm = norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))
        denom = torch.clamp(norm, min=clipnorm)
        if in_place:
            return [g.mul_(clipnorm).div_(denom) for g in grads]
        return [g * clipnorm / denom for g in grads]

    def index_add(self, indices, values, size):
        import torch

        out = torch.zeros((size,) + tuple(values.shape[1:]), dtype=values.dtype, device=values.device)
        return out.index_add_(0, indices, values)

    def im2col(self, x, out, kernel, stride, dilation):
        # one copy whatever the run length: on a GPU each slice copied is a launch
        strides = window_strides(x.shape, out.shape, kernel, stride, dilation, min_run=1)
        if strides is None or not out.is_contiguous():
            return super().im2col(x, out, kernel, stride, dilation)
        shape = tuple(out.shape[:3]) + (kernel[0], kernel[1] * x.shape[3])
        out.as_strided(shape, strides[1]).copy_(x.contiguous().as_strided(shape, strides[0]))
        return out

    def lstm_scan(self, xw, h, c, u, scale2):
        # 7 kernels a step: each step's results are written straight into (N, T, .) buffers
        # (out=), and what the backward needs beyond them is formed once for all steps
        import torch

        n, steps, width = xw.shape
        H = width // 4
        S = torch.empty_like(xw)
        cs = torch.empty((n, steps + 1, H), dtype=xw.dtype, device=xw.device)
        tcs, hs = torch.empty_like(cs[:, 1:]), torch.empty_like(cs[:, 1:])
        cs[:, 0] = c
        half = self._half(xw)
        for t in range(steps):
            s = torch.tanh(torch.addmm(xw[:, t], h, u), out=S[:, t])
            ifo = torch.addcmul(half, s[:, :3 * H], half)  # the sigmoids, 0.5 * s + 0.5
            c = torch.addcmul(ifo[:, H:2 * H] * c, ifo[:, :H], s[:, 3 * H:], out=cs[:, t + 1])
            tc = torch.tanh(c, out=tcs[:, t])
            h = torch.mul(ifo[:, 2 * H:], tc, out=hs[:, t])
        return hs, (h, c), (S, cs, tcs, scale2)

    def lstm_scan_back(self, saved, dhs, dh, dc, u_t):
        import torch

        S, cs, tcs, scale2 = saved
        H = tcs.shape[-1]
        gates = S[..., :3 * H] * 0.5 + 0.5  # i, f, o for every step at once
        factor = torch.cat([S[..., 3 * H:], cs[:, :-1], tcs, gates[..., :H]], dim=-1)
        factor *= torch.addcmul(scale2, S * S, scale2, value=-1.0)  # (1 - s^2) scale^2
        dc_dh = gates[..., 2 * H:] * (1.0 - tcs * tcs)
        forget = gates[..., H:2 * H]
        dz = torch.empty_like(S)
        for t in reversed(range(S.shape[1])):
            if dhs is not None:
                dh = dh + dhs[:, t] if t == S.shape[1] - 1 else torch.addmm(dhs[:, t], dz[:, t + 1], u_t)
            elif t < S.shape[1] - 1:
                dh = dz[:, t + 1] @ u_t
            dc = torch.addcmul(dc, dh, dc_dh[:, t])
            torch.mul(torch.cat([dc, dc, dh, dc], dim=1), factor[:, t], out=dz[:, t])
            dc = dc * forget[:, t]
        return dz, dz[:, 0] @ u_t, dc

    def _half(self, like):
        key = ("half", like.dtype)
        half = self._constants.get(key)
        if half is None:
            import torch

            half = self._constants[key] = torch.tensor(0.5, dtype=like.dtype, device=like.device)
        return half

    def col2im(self, dcols, kernel, stride, dilation, padded_hw):
        import torch

        n, oh, ow, width = dcols.shape
        kk = kernel[0] * kernel[1]
        c = width // kk
        # fold wants columns in (C, kh, kw) order, ours are (kh, kw, C): one transposing copy
        cols = dcols.reshape(n, oh * ow, kk, c).permute(0, 3, 2, 1).reshape(n, c * kk, oh * ow)
        dx = torch.nn.functional.fold(cols, tuple(padded_hw), tuple(kernel), dilation=tuple(dilation),
                                      stride=tuple(stride))
        return dx.permute(0, 2, 3, 1)

    def pooled_outputs(self, out_hw, read_hw):
        # fold (col2im) takes every window of its output size: padding the input gradient after
        # it would cost one more kernel than the unread outputs' arithmetic saves at these sizes
        return tuple(out_hw)

    def max_pool(self, x, kernel, stride, out_hw):
        import torch

        xt = x.permute(0, 3, 1, 2)  # NCHW view of NHWC memory: torch's channels-last kernels
        y, indices = torch.ops.aten.max_pool2d_with_indices(xt, list(kernel), list(stride))
        return y.permute(0, 2, 3, 1), (xt, indices, None)

    def max_pool_backward(self, dy, saved, kernel, stride, padded_hw, disjoint, covers):
        import torch

        xt, indices, after_relu = saved
        if after_relu is not None:
            dy = self.relu_backward(dy, after_relu)
        dx = torch.ops.aten.max_pool2d_with_indices_backward(dy.permute(0, 3, 1, 2), xt, list(kernel),
                                                             list(stride), [0, 0], [1, 1], False, indices)
        return dx.permute(0, 2, 3, 1)

    def random_uniform(self, seed):
        import torch

        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        return lambda shape, dtype: torch.rand(shape, generator=gen, device=self.device, dtype=dtype)

    def synchronize(self):
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)


def _long(labels):
    import torch

    return labels if labels.dtype == torch.int64 else labels.long()


def create(device=None) -> Backend:
    import array_api_compat.torch as xp
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise BackendError(f"{e}; available here: {', '.join(available_devices())}") from None
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise BackendError("MPS (Apple GPU) is not available here (torch.backends.mps.is_available() is False); "
                           f"available: {', '.join(available_devices())}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(f"torch has no CUDA device here; available: {', '.join(available_devices())}")
        device = torch.device("cuda", device.index or 0)
    elif device.type == "meta":
        raise BackendError("the meta device holds no data; available: " + ", ".join(available_devices()))
    try:  # fail here, naming the device, not inside fit with torch's own message
        torch.zeros(1, device=device)
    except Exception as e:
        detail = (str(e).strip().splitlines() or [""])[0].partition(". ")[0]
        raise BackendError(f"torch cannot allocate on {str(device)!r} here ({type(e).__name__}: {detail}); "
                           f"available: {', '.join(available_devices())}") from None
    if device.type == "cpu":
        keep_freed_memory()
    return TorchBackend("torch", xp, device, sys.modules[__name__])


def available_devices() -> list:
    """The torch devices that can hold tensors here: "cpu", then "cuda:N" and "mps" where present."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def is_array(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x, copy=False):
    host = x.detach().cpu()
    if copy and host.data_ptr() == x.data_ptr():
        host = host.clone()
    return host.numpy()
