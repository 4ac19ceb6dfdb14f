"""Attention: MultiHeadAttention forward+backward (causal self-attention, N=32, T=128, D=128,
4 heads) and one TransformerBlock training step (MSE, SGD), against PyTorch's
``nn.MultiheadAttention`` and a PyTorch pre-norm block of the same shape; then the MHA at
T = 64, 128, 256, 512, 1024, 2048 to show how time and memory grow with the length.

Memory: the peak of one MHA call (forward and backward) beyond what existed before it, per T,
printed after the table: NumPy's allocations through tracemalloc (the harness's "peak MB"),
PyTorch's CPU allocations through its profiler's memory timeline (``torch_peak_memory``).

Run: ``python -m benchmarks --only attention`` (with the other workloads' harness), or
``python -m benchmarks.attention [--quick]``. ``python -m benchmarks.attention --generate 500``
measures text generation instead: characters per second for 500 characters with and without
the key/value cache (a 4-block, 128-wide character model; the weights do not matter).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time

from . import THREADS, harness

N, T, D, HEADS, MLP = 32, 128, 128, 4, 512
LENGTHS = (64, 128, 256, 512, 1024, 2048)
LEARNING_RATE = 0.01


def sizes(quick):
    """(batch, length, lengths for the growth rows): small in quick (smoke) runs."""
    return (4, 32, (16, 32)) if quick else (N, T, LENGTHS)


def _data(n, t, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, t, D)).astype(np.float32), rng.standard_normal((n, t, D)).astype(np.float32)


def xdl_mha(backend, n, t):
    import xdl

    xdl.set_backend(backend)
    xdl.seed(0)
    be = xdl.get_backend()
    mha = xdl.MultiHeadAttention(num_heads=HEADS, key_dim=D // HEADS)
    x, dy = (be.asarray(a) for a in _data(n, t))
    mha.forward([x, x, x], use_causal_mask=True)  # builds it

    def step():
        mha.zero_grad()
        _, back = mha.apply([x, x, x], True, use_causal_mask=True)
        back(dy)
        be.synchronize()

    return step


def torch_mha(device, n, t):
    import torch

    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(D, HEADS, batch_first=True).to(device)
    x, dy = (torch.as_tensor(a, device=device) for a in _data(n, t))
    x.requires_grad_(True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(t, device=device)

    def step():
        mha.zero_grad(set_to_none=True)
        x.grad = None
        y = mha(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]
        y.backward(dy)
        _sync(torch, device)

    return step


def xdl_block(backend, n, t):
    import xdl

    xdl.set_backend(backend)
    xdl.seed(0)
    be = xdl.get_backend()
    tokens = xdl.Input(shape=(t, D))
    model = xdl.Model(tokens, xdl.TransformerBlock(D, HEADS, MLP)(tokens))
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=LEARNING_RATE))
    x, y = (be.asarray(a) for a in _data(n, t))

    def step():
        model.train_step((x, y))
        be.synchronize()

    return step


def torch_block(device, n, t):
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm_1, self.norm_2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
            self.attention = torch.nn.MultiheadAttention(D, HEADS, batch_first=True)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(D, MLP), torch.nn.GELU(), torch.nn.Linear(MLP, D))

        def forward(self, x, mask):
            h = self.norm_1(x)
            x = x + self.attention(h, h, h, attn_mask=mask, is_causal=True, need_weights=False)[0]
            return x + self.mlp(self.norm_2(x))

    torch.manual_seed(0)
    block = Block().to(device)
    optimizer = torch.optim.SGD(block.parameters(), lr=LEARNING_RATE)
    x, y = (torch.as_tensor(a, device=device) for a in _data(n, t))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(t, device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(block(x, mask), y).backward()
        optimizer.step()
        _sync(torch, device)

    return step


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: (workload, candidate) -> peak bytes of one call, for candidates tracemalloc does not see
#: (PyTorch's), measured as ``workloads`` makes them
PEAKS = {}


def torch_peak_memory(fn):
    """Peak bytes PyTorch's CPU allocator holds during one call of ``fn`` beyond what it held
    before, from the profiler's memory timeline (tensors made and freed, in order); None where
    this PyTorch's profiler lacks it (a private API)."""
    try:
        from torch.profiler import ProfilerActivity, profile
        from torch.profiler._memory_profiler import Action

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                     with_stack=True) as prof:
            fn()
        live = peak = 0
        for _, action, _, size in prof._memory_profile().timeline:
            if action == Action.CREATE:
                live += size
            elif action == Action.DESTROY:
                live -= size
            peak = max(peak, live)
        return peak
    except Exception:  # noqa: BLE001  the profiler's internals change between releases
        return None


def _measure_torch_memory(name, label, step):
    """Record ``step``'s peak in ``PEAKS`` (two calls first: what the first allocates for good)."""
    for _ in range(2):
        step()
    PEAKS[(name, label)] = torch_peak_memory(step)


def workloads(backend="numpy", quick=False):
    n, t, lengths = sizes(quick)
    have_torch = importlib.util.find_spec("torch") is not None
    device = None
    if have_torch:
        import torch

        device = torch.device("cuda" if backend in ("cupy", "torch") and torch.cuda.is_available() else "cpu")
    traced = ("xdl",) if backend == "numpy" else ()
    out = []
    specs = [(f"mha fwd+bwd causal n{n} t{t} d{D} h{HEADS}", xdl_mha, torch_mha, t),
             (f"transformer block train step n{n} t{t} d{D}", xdl_block, torch_block, t)]
    specs += [(f"mha fwd+bwd causal n{n} t{length} (growth)", xdl_mha, torch_mha, length)
              for length in lengths if length != t]
    for name, ours, theirs, length in specs:
        candidates = {"xdl": ours(backend, n, length)}
        notes = {}
        if have_torch:
            candidates["torch"] = theirs(device, n, length)
        else:
            candidates["torch"], notes["torch"] = None, "torch not installed"
        if name.startswith("mha") and not quick and device is not None and device.type == "cpu":
            for label in ("xdl", "torch"):  # what tracemalloc cannot see: PyTorch's allocations
                if label not in traced and candidates[label] is not None:
                    _measure_torch_memory(name, label, candidates[label])
        out.append(harness.Workload(name, items=n, unit="seqs/s", candidates=candidates, notes=notes, traced=traced))
    return out


def summaries(rows):
    """How the MHA's time per sequence and the peak memory of one call grow with T (xdl and
    torch), from the rows measured."""
    lines = []
    for label in ("xdl", "torch"):
        by_t, peaks = {}, {}
        for r in rows:
            if r["candidate"] == label and r.get("median") and r["workload"].startswith("mha fwd+bwd"):
                length = int(r["workload"].split(" t")[1].split()[0])
                by_t[length] = 1e3 / r["median"]  # ms per sequence
                peak = r.get("peak_bytes")
                peak = PEAKS.get((r["workload"], label)) if peak is None else peak
                if peak is not None:
                    peaks[length] = peak / 2**20
        if len(by_t) > 1:
            first = min(by_t)
            growth = ", ".join(f"T={k}: {v:.2f} ms ({v / by_t[first]:.1f}x)" for k, v in sorted(by_t.items()))
            lines.append(f"attention {label}, ms per sequence: {growth}")
        if len(peaks) > 1:
            first = min(peaks)
            growth = ", ".join(f"T={k}: {v:.1f} MB ({v / peaks[first]:.1f}x)" for k, v in sorted(peaks.items()))
            lines.append(f"attention {label}, peak memory of one call: {growth}")
    return lines


def generation_speed(backend, chars=500, prompt=12, layers=4, reps=3, out=print):
    """Characters per second of ``xdl.generate`` with and without the cache (best of ``reps``)."""
    import numpy as np

    import xdl

    xdl.set_backend(backend)
    xdl.seed(0)
    vocab, context = 96, prompt + chars
    tokens = xdl.Input(shape=(None,), dtype="int64")
    x = xdl.Embedding(vocab, D)(tokens)
    x = xdl.Add()([x, xdl.PositionEmbedding(context, D)(x)])
    for _ in range(layers):
        x = xdl.TransformerBlock(D, HEADS, MLP)(x)
    model = xdl.Model(tokens, xdl.Dense(units=vocab)(xdl.LayerNorm()(x)))
    ids = np.random.default_rng(0).integers(0, vocab, size=prompt)
    result = {}
    for cache in (True, False):
        xdl.generate(model, ids, 4, cache=cache, seed=0)  # warm-up
        best = float("inf")
        for _ in range(reps):
            start = time.perf_counter()
            xdl.generate(model, ids, chars, cache=cache, seed=0)
            best = min(best, time.perf_counter() - start)
        result["cache" if cache else "no_cache"] = chars / best
        out(f"generate {chars} chars, {layers} blocks x {D} wide, {'with' if cache else 'without'} the cache: "
            f"{chars / best:,.0f} chars/s")
    out(f"cache speed-up: {result['cache'] / result['no_cache']:.1f}x")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--quick", action="store_true", help="small sizes, fewer repetitions (a smoke run)")
    p.add_argument("--generate", type=int, default=None, metavar="CHARS",
                   help="measure generation speed for CHARS characters instead")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, {harness.threads_line()} (BENCH_THREADS={THREADS})")
    if args.generate:
        return generation_speed(args.backend, args.generate, layers=1 if args.quick else 4,
                                reps=1 if args.quick else 3)
    reps = 3 if args.quick else 7
    rows = harness.run(workloads(args.backend, args.quick), reps=reps, warmup=1 if args.quick else 2,
                       target_s=0.02 if args.quick else 0.2, memory=not args.quick)
    harness.report(rows)
    for line in summaries(rows):
        print(line)
    if args.json:
        harness.write_json(args.json, rows, {"backend": args.backend, "threads": THREADS})
    return rows


if __name__ == "__main__":
    main()
