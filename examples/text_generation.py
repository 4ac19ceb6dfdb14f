"""A character-level language model: Embedding -> LSTM (or GRU) -> Dense, softmax cross-entropy;
or, with ``--model transformer``, Embedding + PositionEmbedding -> TransformerBlocks -> Dense.

By default it trains on the docstrings of the Python standard library, gathered at run time
from its source files (offline); ``--text FILE`` trains on a file instead. The text is split
90% / 10%; training reports bits per character on random windows of the 90%, measures the
held-out 10% as it goes, keeps the best weights (early stopping) and then samples text.

    python examples/text_generation.py                       # about 5 minutes on 2 CPU cores
    python examples/text_generation.py --text book.txt --temperature 0.7 --minutes 10
    python examples/text_generation.py --model transformer   # same corpus, split and budget

Both models see the same windows of --seq characters and are measured on the same held-out
windows. The transformer samples with ``xdl.generate`` (keys and values cached).

Training stops at whichever comes first: --minutes, --steps, or --patience evaluations
(every --eval-every steps) without a better held-out figure. Progress is printed after the
first step, then every --report-seconds, and at each evaluation.
"""

from __future__ import annotations

import ast
import math
import os
import pathlib
import sysconfig
import time

import numpy as np
from _common import parser, setup

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # 96 symbols; others are dropped
INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def stdlib_docstrings(limit):
    """Docstrings of modules, classes and functions in the standard library's sources."""
    docs, total = [], 0
    for path in _stdlib_sources():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        for node in ast.walk(tree):
            doc = ast.get_docstring(node) if isinstance(node, kinds) else None
            if doc and len(doc) > 40:
                docs.append(doc)
                total += len(doc) + 2
        if total >= limit:
            break
    return docs


def _stdlib_sources():
    """The standard library's .py files in a fixed order, without tests and installed packages."""
    skip = {"test", "tests", "site-packages", "dist-packages", "idlelib", "lib2to3", "__pycache__"}
    for folder, subfolders, files in os.walk(sysconfig.get_paths()["stdlib"]):
        subfolders[:] = sorted(d for d in subfolders if d not in skip)
        yield from (pathlib.Path(folder, name) for name in sorted(files) if name.endswith(".py"))


def encode(text):
    return np.array([INDEX[ch] for ch in text.replace("\t", "    ") if ch in INDEX], dtype=np.int64)


def load_text(args):
    """(train, held-out) index arrays: the documents shuffled once (seed 0), then split 90/10."""
    if args.text:
        docs = [pathlib.Path(args.text).read_text(encoding="utf-8", errors="replace")]
    else:
        docs = stdlib_docstrings(args.chars)
        np.random.default_rng(0).shuffle(docs)
    codes = encode("\n\n".join(docs))[: args.chars]
    cut = int(0.9 * len(codes))
    return codes[:cut], codes[cut:]


def unigram_bits(train, heldout):
    """Held-out bits/char of character frequencies counted on the training text (add-one)."""
    counts = np.bincount(train, minlength=len(VOCAB)) + 1.0
    return float(-np.mean(np.log2(counts / counts.sum())[heldout]))


def windows(codes, length):
    """Non-overlapping (inputs, next-character targets), each (M, length)."""
    m = (len(codes) - 1) // length
    x = codes[: m * length].reshape(m, length)
    return x, codes[1: m * length + 1].reshape(m, length)


def build_model(xdl, args):
    if args.model == "transformer":
        return build_transformer(xdl, args)
    recurrent = xdl.GRU if args.cell == "gru" else xdl.LSTM
    model = xdl.NeuralNetwork([xdl.Embedding(len(VOCAB), args.embed),
                               recurrent(args.hidden, return_sequences=True),
                               xdl.Dense(output_size=len(VOCAB))])
    model.compile(loss=xdl.CrossEntropy(from_logits=True),
                  optimizer=xdl.Adam(args.learning_rate, clipnorm=args.clipnorm))
    return model


def build_transformer(xdl, args):
    """A GPT-style character model: token + learned position embeddings, ``--layers``
    pre-norm blocks (see xdl.TransformerBlock), a final LayerNorm and the logits."""
    tokens = xdl.Input(shape=(None,), dtype="int64", name="chars")
    x = xdl.Embedding(len(VOCAB), args.dim)(tokens)
    x = xdl.Add()([x, xdl.PositionEmbedding(args.seq, args.dim)(x)])
    for _ in range(args.layers):
        x = xdl.TransformerBlock(args.dim, args.heads, args.mlp or 4 * args.dim, args.dropout)(x)
    model = xdl.Model(tokens, xdl.Dense(output_size=len(VOCAB))(xdl.LayerNorm()(x)))
    model.compile(loss=xdl.CrossEntropy(from_logits=True),
                  optimizer=xdl.Adam(args.learning_rate, clipnorm=args.clipnorm))
    return model


def heldout_bits(model, val, batch):
    return model.evaluate(val[0], val[1], batch_size=batch) / math.log(2)


def train(xdl, model, train_codes, val, args):
    """Random windows of the training text until the time or step budget runs out, or the
    held-out figure (on ``val``) stops improving; returns the history and leaves the best
    weights in place."""
    be, rng = xdl.get_backend(), np.random.default_rng(args.seed)
    model.build((args.seq,))  # per-sample input shape: create the weights before copying them
    offsets = np.arange(args.seq + 1)
    history = {"step": [], "train_bits": [], "heldout_bits": [], "seconds": []}
    best, best_weights, waited = math.inf, None, 0
    start = note = time.perf_counter()
    steps = args.steps
    model.reset_metrics()  # logs["loss"]: the mean since the last evaluation, read only for a report
    for step in range(1, steps + 1):
        rows = rng.integers(0, len(train_codes) - args.seq - 1, size=args.batch)[:, None] + offsets
        chunk = train_codes[rows]
        if args.decay == "cosine":  # warm up over 100 steps, then cosine down to 10% by the time budget
            progress = min(1.0, (time.perf_counter() - start) / (60 * args.minutes))
            model.optimizer.learning_rate = args.learning_rate * min(1.0, step / 100) * (
                0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))
        logs = model.train_step((be.asarray(chunk[:, :-1]), be.asarray(chunk[:, 1:])))
        now = time.perf_counter()
        elapsed = now - start
        if step % args.eval_every and step != steps and elapsed < 60 * args.minutes:
            if args.verbose and (step == 1 or now - note >= args.report_seconds):
                note = now  # a progress line between evaluations: reads the loss, nothing more
                print(f"step {step:5d}  {elapsed:6.1f}s  train {logs['loss'] / math.log(2):.3f} "
                      f"bits/char  ({1000 * elapsed / step:.0f} ms/step; held-out at step "
                      f"{(step // args.eval_every + 1) * args.eval_every})", flush=True)
            continue
        note = now
        train_bits = logs["loss"] / math.log(2)
        score = heldout_bits(model, val, 4 * args.batch)
        model.reset_metrics()  # evaluate's figures out: the next mean starts here
        for key, value in zip(history, (step, train_bits, score, elapsed)):
            history[key].append(value)
        if args.verbose:
            print(f"step {step:5d}  {elapsed:6.1f}s  train {train_bits:.3f} bits/char  "
                  f"held-out (first {len(val[0]) * args.seq:,} chars) {score:.3f}", flush=True)
        if score < best:
            best, waited = score, 0
            best_weights = [be.xp.asarray(p.value, copy=True) for p in model.parameters()]
        else:
            waited += 1
        if waited >= args.patience or elapsed >= 60 * args.minutes:
            break
    for p, value in zip(model.parameters(), best_weights):
        p.value = value
    return history


def sample(xdl, model, prime, length, temperature, seed):
    """Characters drawn one at a time, feeding each back through the LSTM's cell (or, for the
    transformer, ``xdl.generate`` with cached keys and values)."""
    if isinstance(model, xdl.Model) and not isinstance(model, xdl.NeuralNetwork):
        ids = xdl.generate(model, encode(prime) if prime else np.zeros(1, np.int64), length,
                           temperature=temperature, seed=seed)
        return prime + "".join(VOCAB[i] for i in ids[len(encode(prime)) or 1:])
    be, rng = xdl.get_backend(), np.random.default_rng(seed)
    embed, recurrent, head = model.layers
    state, out, codes = None, [], list(encode(prime)) or [0]
    for _ in range(length + len(codes) - 1):
        x = embed.call(be.asarray(np.array([codes.pop(0) if codes else out[-1]])))
        state = recurrent.cell.call(x, False, state=state)
        h = state[0] if isinstance(state, tuple) else state
        if codes:
            continue
        logits = xdl.to_numpy(head.call(h, False))[0].astype(np.float64) / max(temperature, 1e-6)
        p = np.exp(logits - logits.max())
        out.append(int(rng.choice(len(VOCAB), p=p / p.sum())))
    return prime + "".join(VOCAB[i] for i in out)


def main(argv=None):
    # no --epochs: training draws random windows, bounded by --minutes, --steps and --patience
    p = parser(__doc__, epochs=False, batch_size=None, verbose=1,
               verbose_help="0: only the final figures; 1 or 2: progress and evaluation lines")
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=32, help="windows per training step")
    p.add_argument("--text", default=None, help="a UTF-8 text file (default: stdlib docstrings)")
    p.add_argument("--chars", type=int, default=2_000_000, help="use at most this many characters")
    p.add_argument("--model", choices=["lstm", "transformer"], default="lstm", help="the architecture")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm", help="the recurrent layer")
    p.add_argument("--embed", type=int, default=64, help="embedding size")
    p.add_argument("--hidden", type=int, default=256, help="the recurrent layer's units")
    p.add_argument("--layers", type=int, default=2, help="transformer: blocks")
    p.add_argument("--dim", type=int, default=128, help="transformer: width (embedding size)")
    p.add_argument("--heads", type=int, default=4, help="transformer: attention heads")
    p.add_argument("--mlp", type=int, default=None, help="transformer: MLP width (default 4 * dim)")
    p.add_argument("--dropout", type=float, default=0.0, help="transformer: dropout rate")
    p.add_argument("--seq", type=int, default=64, help="characters per training window")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="Adam's learning rate (default 4e-3, the transformer's peak with --decay cosine)")
    p.add_argument("--clipnorm", type=float, default=5.0, help="gradients' global norm limit")
    p.add_argument("--decay", choices=("none", "cosine"), default=None,
                   help="learning-rate schedule over the time budget: cosine = 100 warm-up steps, then "
                        "down to 10%% by --minutes (default: cosine for transformer, none for lstm)")
    p.add_argument("--minutes", type=float, default=4.5, help="training time budget")
    p.add_argument("--steps", type=int, default=100_000, help="training step budget")
    p.add_argument("--eval-every", type=int, default=250, help="steps between held-out evaluations")
    p.add_argument("--report-seconds", type=float, default=15.0,
                   help="seconds between progress lines (the first comes after step 1)")
    p.add_argument("--eval-chars", type=int, default=40_000,
                   help="held-out characters measured during training (all of them at the end)")
    p.add_argument("--patience", type=int, default=3, help="evaluations without improvement before stopping")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (lower: safer)")
    p.add_argument("--sample", type=int, default=400, help="characters to sample")
    p.add_argument("--prime", default="Return the ", help="text the sample starts from")
    args = p.parse_args(argv)
    if args.decay is None:
        args.decay = "cosine" if args.model == "transformer" else "none"
    if args.learning_rate is None:
        args.learning_rate = 4e-3
    xdl = setup(args)
    train_codes, heldout = load_text(args)
    val = windows(heldout, args.seq)
    probe = tuple(v[: max(1, args.eval_chars // args.seq)] for v in val)
    unigram = unigram_bits(train_codes, heldout)
    print(f"{len(train_codes):,} training / {len(heldout):,} held-out characters; "
          f"unigram model: {unigram:.3f} held-out bits/char; uniform: {math.log2(len(VOCAB)):.3f}")
    model = build_model(xdl, args)
    history = train(xdl, model, train_codes, probe, args)
    history["heldout_bits_final"] = final = heldout_bits(model, val, 4 * args.batch)
    print(f"held-out 10% ({len(heldout):,} chars), best weights: {final:.3f} bits/char "
          f"(unigram {unigram:.3f})")
    start = time.perf_counter()
    text = sample(xdl, model, args.prime, args.sample, args.temperature, args.seed)
    seconds = time.perf_counter() - start
    print(f"--- sample at temperature {args.temperature} ({args.sample / seconds:,.0f} chars/s) ---\n{text}")
    return {**history, "unigram_bits": unigram, "sample": text}


if __name__ == "__main__":
    main()
