"""The rewrites a graph makes of its steps, results those of the layers as declared.

``pool_before_relu``: a ReLU after max pooling. Where a ReLU (a ``ReLU`` layer, ``Activation("relu")``,
or a layer's own ``activation="relu"``) feeds a max pooling alone and is not an output, the
pooling runs first and the ReLU on the pooled values: ``relu(max(x)) = max(relu(x))``, and
where ReLU makes a tie its gradient is 0, so the gradients agree too. The ReLU then runs on a
quarter of the values (2 x 2 windows), or inside the pooling's own pass where the table names a
fused hook (``Backend.relu_max_pool``: one pass each way). The one difference is -inf, which
ReLU's portable ``x * (x > 0)`` turns into NaN: after the move a window's other values win over
it, as with PyTorch's relu. Models are still listed, saved and summarized as declared; only
``Graph.steps`` changes. Graphs that carry masks are left as they are.

``conv_into_pool``: a ``Conv2D`` or ``Conv1D`` (without its activation, or with its ReLU moved
into the pooling by the first rewrite) whose output only a ``MaxPool2D`` (``MaxPool1D``) reads
runs with it as one step, ``apply_pooled``. The convolution computes only the outputs some
window reads (where the backend's ``pooled_outputs`` says so), and its backward is
``Backend.pooled_conv_backward``. On backends without a kernel for it, that is the layers' own
backward passes. numba's kernel sends each pooled gradient to its one output and adds the
gradients from those alone, and a NaN gradient then reaches the one output its pooled value
came from, as in PyTorch, not the whole window. Outputs are bit for bit those of the declared
order; gradients are the same sums, in another order where outputs are skipped or the kernel
runs (bit for bit on PyTorch, which computes every output).

Both rewrites match layer classes exactly (a subclass may change what its layer computes).
"""

from __future__ import annotations

import functools
from collections import Counter

from ..layers import Activation, Conv1D, Conv2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D, ReLU
from ..layers.activations import Activated

#: the max poolings, and whether the ReLU fuses into their pass (``apply(..., relu=True)``, that
#: is ``Backend.relu_max_pool``) or runs as a step of its own after them
MAX_POOLS = {MaxPool2D: "fused", MaxPool1D: "fused", GlobalMaxPooling1D: "after", GlobalMaxPooling2D: "after"}


def ending_in_relu(layer):
    """``(apply without the ReLU, the ReLU layer)`` for a layer that ends with one (the first
    None where the layer is the ReLU itself), else None."""
    if type(layer) is ReLU or (type(layer) is Activation and layer.activation == "relu"):
        return None, layer
    if isinstance(layer, Activated) and type(layer).apply is Activated.apply and type(layer._activation) is ReLU:
        return layer.apply_linear, layer._activation
    return None


def pool_before_relu(steps, kept, size, make_step):
    """``(steps, size)``: ``steps`` with each ReLU that feeds a max pooling alone moved after it
    (see the module doc); ``size`` counts the slots, one more for each layer split from its
    ReLU where the pooling runs the ReLU apart. A slot in ``kept`` (outputs, values read
    elsewhere) is never rewritten. ``make_step(layer, ins, outs, apply)`` makes a plain step."""
    readers = Counter(s for step in steps for s in step.ins)
    made_by = {step.out: k for k, step in enumerate(steps) if step.out is not None}
    out, dropped = list(steps), set()
    for k, pool in enumerate(steps):
        how = MAX_POOLS.get(type(pool.layer))
        a = made_by.get(pool.arg) if how and pool.arg is not None else None
        if a is None:
            continue
        act = steps[a]
        split = ending_in_relu(act.layer)
        if split is None or readers[act.out] != 1 or act.out in kept:
            continue
        before, relu = split
        if before is None:  # the ReLU is the whole layer: the pooling reads its input
            dropped.add(a)
            source = act.arg
        else:  # the layer runs without its ReLU
            out[a] = make_step(act.layer, [act.arg], [act.out], before)
            source = act.out
        layer = pool.layer
        if how == "fused":
            out[k] = (make_step(layer, [source], [pool.out], functools.partial(layer.apply, relu=True)),)
            continue
        pooled = act.out if before is None else size  # a free slot: the dropped step's, or a new one
        size += before is not None
        out[k] = (make_step(layer, [source], [pooled], layer.apply), make_step(relu, [pooled], [pool.out], relu.apply))
    flat = []
    for k, step in enumerate(out):
        if k not in dropped:
            flat.extend(step if isinstance(step, tuple) else (step,))
    return flat, size


#: the convolutions a graph runs with the max pooling that alone reads their output
CONV_POOLS = {Conv2D: MaxPool2D, Conv1D: MaxPool1D}


def conv_into_pool(steps, kept, make_step):
    """``steps`` with each convolution whose output only a max pooling reads (and is not in
    ``kept``; ``CONV_POOLS`` pairs the classes) run with the pooling as one step (see the
    module doc)."""
    readers = Counter(s for step in steps for s in step.ins)
    made_by = {step.out: k for k, step in enumerate(steps) if step.out is not None}
    out, dropped = list(steps), set()
    for k, pool in enumerate(steps):
        relu = _max_pool(pool)
        a = made_by.get(pool.arg) if relu is not None else None
        if a is None or not _linear_conv(steps[a], type(pool.layer)) or readers[pool.arg] != 1 or pool.arg in kept:
            continue
        conv = steps[a].layer
        out[k] = make_step(conv, list(steps[a].ins), [pool.out],
                           functools.partial(conv.apply_pooled, pool=pool.layer, relu=relu))
        dropped.add(a)
    return [step for k, step in enumerate(out) if k not in dropped]


def _max_pool(step):
    """For a plain step of a max pooling in ``CONV_POOLS``, whether it runs a ReLU in its pass;
    else None."""
    layer = step.layer
    if type(layer) not in CONV_POOLS.values() or step.arg is None:
        return None
    if step.apply == layer.apply:
        return False
    apply = step.apply
    if isinstance(apply, functools.partial) and apply.func == layer.apply and apply.keywords == {"relu": True}:
        return True
    return None


def _linear_conv(step, pool_type):
    """A plain step of the convolution ``pool_type`` pairs with, running it alone (no activation after it)."""
    layer = step.layer
    return (CONV_POOLS.get(type(layer)) is pool_type and step.arg is not None
            and (step.apply == layer.apply_linear or (step.apply == layer.apply and layer._activation is None)))
