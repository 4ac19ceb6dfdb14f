"""A model's graph as a program: nodes in topological order, run forward, then backward.

Built once from the symbolic inputs and outputs (see core/symbolic.py). Every tensor gets a slot
in a list, so running the graph is a loop over ``(layer, input slots, output slots)`` with
no lookups by name. The backward walks the nodes in reverse and adds gradients where a
tensor fans out; it runs only the nodes that lead to a trainable parameter or to an input
whose gradient is asked for, and tells each node whether its inputs need a gradient at all
(the first Dense of a model then skips its ``dx`` product). The steps are the nodes after the
rewrites of fusion.py.
"""

from __future__ import annotations

from ..core import parameter
from ..core.symbolic import SymbolicTensor
from ..errors import BackendError, ShapeError, XdlError, shape_str
from .fusion import conv_into_pool, pool_before_relu

MAX_NODES = 100_000


class Step:
    """One node as the program runs it: its layer, what it runs (``apply``, ``call``: the
    layer's own, unless a rewrite of fusion.py made the step), and the slots it reads and
    writes. ``arg`` and ``out`` are the one input and output slot of a plain node (None for
    merges and for layers with several outputs), so the common case is one index each way."""

    __slots__ = ("layer", "apply", "call", "ins", "outs", "listed", "several", "arg", "out", "reads_mask", "kwargs",
                 "tensor_kwargs")

    def __init__(self, layer, ins, outs, listed, several, reads_mask=False, kwargs=None, apply=None, tensor_kwargs=()):
        self.layer, self.ins, self.outs, self.listed, self.several = layer, ins, outs, listed, several
        self.apply = apply or layer.apply
        self.call = layer.infer if apply is None else (lambda x, training=False: apply(x, training)[0])
        self.kwargs = kwargs or {}  # the call's flags (Node.kwargs): such a node is never plain
        #: keyword tensors (Node.tensor_kwargs): their slots follow the input's in ``ins``, and the
        #: layer's backprop returns a gradient for each slot, the input's first
        self.tensor_kwargs = tensor_kwargs
        plain = not listed and not several and not self.kwargs and not tensor_kwargs
        self.arg, self.out = (ins[0], outs[0]) if plain else (None, None)
        #: some input carries a mask and the layer supports masking: it gets the mask
        self.reads_mask = reads_mask

    def arguments(self, values):
        """``(x, keywords)`` for the layer: its input(s) and flags, and its keyword tensors."""
        ins = self.ins
        if not self.tensor_kwargs:
            return ([values[i] for i in ins] if self.listed else values[ins[0]]), self.kwargs
        keywords, at = dict(self.kwargs), 1
        for name, count, listed in self.tensor_kwargs:
            part = [values[i] for i in ins[at:at + count]]
            keywords[name], at = (part if listed else part[0]), at + count
        return values[ins[0]], keywords


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (lists of symbolic tensors); ``owner``
    names the model in errors."""

    def __init__(self, inputs, outputs, owner):
        self.owner = owner
        self.inputs, self.outputs = _tensors(owner, inputs, "inputs"), _tensors(owner, outputs, "outputs")
        for t in self.inputs:
            if t.node.layer is not None:
                raise XdlError(f"{owner}: inputs must come from xdl.Input(...); {t.name!r} is the output of "
                               f"{t.node.layer.describe()}")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise XdlError(f"{owner}: an input is listed twice in inputs")
        names = [t.name for t in self.inputs]
        if len(set(names)) != len(names):
            raise XdlError(f"{owner}: inputs share names {names}; give each Input(name=...) its own")
        self.output_names = _distinct([t.name for t in self.outputs])
        self.nodes = _topological(owner, self.outputs, {id(t) for t in self.inputs})
        slot = {id(t): k for k, t in enumerate(self.inputs)}
        for node in self.nodes:
            for t in node.outputs:
                slot[id(t)] = len(slot)
        self.size = len(slot)
        used = {id(t) for node in self.nodes for t in node.inputs} | {id(t) for t in self.outputs}
        unused = [t.name for t in self.inputs if id(t) not in used]
        if unused:
            raise XdlError(f"{owner}: input(s) {unused} are not used by any output; remove them from inputs "
                           "or connect them")
        steps = [Step(n.layer, [slot[id(t)] for t in n.inputs], [slot[id(t)] for t in n.outputs], n.listed,
                      n.several, n.layer.supports_masking and any(t.masked for t in n.inputs), n.kwargs,
                      tensor_kwargs=n.tensor_kwargs)
                 for n in self.nodes]
        #: some layer makes a mask: the graph runs through ``_run_masked`` (others never pay for masks)
        self.masked = any(t.masked for n in self.nodes for t in n.outputs)
        self.output_slots = [slot[id(t)] for t in self.outputs]
        self._declared = steps  # the layers as declared: their shapes
        if not self.masked:  # masks reach layers through apply_masked: no rewrite there
            kept = set(self.output_slots)
            self.steps, self.size = pool_before_relu(steps, kept, self.size, _plain_step)
            self.steps = conv_into_pool(self.steps, kept, _plain_step)
        else:
            self.steps = steps
        self.layers = _unique_layers(owner, self.nodes)
        backends = {layer.backend for layer in self.layers if layer.backend is not None}
        if len(backends) > 1:
            raise BackendError(f"{owner}: layers live on different backends: {sorted(b.name for b in backends)}")
        self.backend = backends.pop() if backends else None
        self._plans, self._generation = {}, None
        self._shapes = {}  # propagate's results

    # -- running ---------------------------------------------------------------------------
    def run(self, xs, training, slots=None):
        """``(values, masks, backprop)``: the outputs for input arrays ``xs`` (or the values at
        ``slots``, default the output slots), their masks (None for a graph that makes none, else
        None where a value has none; see Layer.apply_masked), and ``backprop(douts,
        need_input_grads)`` taking the gradients of those values."""
        if self.masked:
            return self._run_masked(xs, training, slots)
        values = [None] * self.size
        values[:len(xs)] = xs
        tapes = []
        keep = tapes.append
        for step in self.steps:
            arg = step.arg
            if arg is not None:  # one input, one output
                values[step.out], back = step.apply(values[arg], training)
            else:
                x, keywords = step.arguments(values)
                y, back = step.apply(x, training, **keywords)
                _store(values, step, y)
            keep(back)
        slots = self.output_slots if slots is None else slots
        outputs = [values[s] for s in slots]
        return outputs, None, lambda douts, need_input_grads=False: self._backprop(tapes, slots, douts, need_input_grads)

    def infer(self, xs, slots=None):
        """Outputs (or values at ``slots``) for input arrays ``xs`` in inference mode: nothing
        kept for a backward."""
        if self.masked:
            return self._run_masked(xs, False, slots, keep=False)[0]
        values = [None] * self.size
        values[:len(xs)] = xs
        for step in self.steps:
            arg = step.arg
            if arg is not None:
                values[step.out] = step.call(values[arg], False)
            else:
                x, keywords = step.arguments(values)
                _store(values, step, step.call(x, False, **keywords))
        return [values[s] for s in (self.output_slots if slots is None else slots)]

    def _run_masked(self, xs, training, slots=None, keep=True):
        """``run`` that carries masks along; ``keep=False``: inference, no backprop (None)."""
        values, masks, tapes = [None] * self.size, [None] * self.size, []
        values[:len(xs)] = xs
        for step in self.steps:
            x, keywords = step.arguments(values)
            mask = None
            if step.reads_mask:
                mask = [masks[i] for i in step.ins] if step.listed else masks[step.ins[0]]
            y, out_mask, back = step.layer.apply_masked(x, mask, training, **keywords)
            _store(values, step, y)
            if out_mask is not None:
                _store(masks, step, out_mask)
            if keep:
                tapes.append(back)
        slots = self.output_slots if slots is None else slots
        backprop = None
        if keep:
            def backprop(douts, need_input_grads=False):
                return self._backprop(tapes, slots, douts, need_input_grads)
        return [values[s] for s in slots], [masks[s] for s in slots], backprop

    def infer_masked(self, xs, slots=None):
        """``(values at slots, their masks)`` in inference mode; masks None for a graph without."""
        if not self.masked:
            return self.infer(xs, slots), None
        values, masks, _ = self._run_masked(xs, False, slots, keep=False)
        return values, masks

    def producer(self, k):
        """The step that makes output ``k`` when it is a plain node (one input, one output), else None."""
        slot = self.output_slots[k]
        return next((step for step in self.steps if step.out == slot), None)

    def _backprop(self, tapes, slots, douts, need_input_grads):
        grads = [None] * self.size
        for s, d in zip(slots, douts):
            if d is not None:
                grads[s] = d if grads[s] is None else grads[s] + d
        for k, step, need_dx, keep in self._plan(need_input_grads):
            if step.out is not None:  # one input, one output
                dy = grads[step.out]
                if dy is None:
                    continue
                grads[step.out] = None  # read for the last time: free it
                dx = tapes[k](dy, need_dx)
                if keep:  # fan-out: every use adds
                    g = grads[step.arg]
                    grads[step.arg] = dx if g is None else g + dx
                continue
            dy = tuple(grads[s] for s in step.outs) if step.several else grads[step.outs[0]]
            if dy is None or (step.several and all(d is None for d in dy)):
                continue
            for s in step.outs:
                grads[s] = None
            dx = tapes[k](dy, need_dx)
            if need_dx:
                for s, d in (zip(step.ins, dx) if step.listed or step.tensor_kwargs else ((step.ins[0], dx),)):
                    if d is not None and keep[s]:
                        grads[s] = d if grads[s] is None else grads[s] + d
        return grads[:len(self.inputs)] if need_input_grads else None

    def _plan(self, need_input_grads):
        """The nodes to backpropagate, last first: ``(index, step, need_dx, keep)``, where
        ``keep`` says which input gradients are stored (a bool for a plain node, else a list
        per slot). A node runs when it has trainable parameters or its inputs need a
        gradient. Cached until some parameter's ``trainable`` changes."""
        if self._generation != parameter.GENERATION:
            self._plans, self._generation = {}, parameter.GENERATION
        plan = self._plans.get(need_input_grads)
        if plan is None:
            needs = [need_input_grads] * len(self.inputs) + [False] * (self.size - len(self.inputs))
            order = []
            for k, step in enumerate(self.steps):
                need_dx = any(needs[s] for s in step.ins)
                if need_dx or any(p.trainable for p in step.layer.parameters()):
                    order.append((k, step, need_dx))
                    for s in step.outs:
                        needs[s] = True
            plan = self._plans[need_input_grads] = [
                (k, step, need_dx, needs[step.arg] if step.out is not None else needs) for k, step, need_dx in order[::-1]]
        return plan

    # -- shapes ----------------------------------------------------------------------------------
    def propagate(self, input_shapes, check_declared=True):
        """Per-sample output shapes for per-sample ``input_shapes``, checking every layer.
        Remembered per input shapes: the layers are fixed once built, and a model nested in
        a model would otherwise be checked again at every level, twice (check, then shape)."""
        key = (tuple(tuple(s) for s in input_shapes), check_declared)
        found = self._shapes.get(key)
        if found is None:
            if len(self._shapes) > 256:  # e.g. sequences of ever new lengths: keep it bounded
                self._shapes.clear()
            found = self._shapes[key] = self._propagate(input_shapes, check_declared)
        return list(found)

    def _propagate(self, input_shapes, check_declared):
        shapes = [None] * self.size
        for k, (t, shape) in enumerate(zip(self.inputs, input_shapes)):
            if check_declared and not _fits(t.sample_shape, shape):
                raise ShapeError(f"{self.owner}: input {t.name!r} expects shape {shape_str(t.sample_shape)}, "
                                 f"got {shape_str(shape)}")
            shapes[k] = tuple(shape)
        for step in self._declared:
            shape = [shapes[s] for s in step.ins] if step.listed else shapes[step.ins[0]]
            step.layer.check_input_shape(shape)
            out = step.layer.output_shape(shape, **step.kwargs)
            for s, o in zip(step.outs, out if step.several else [out]):
                shapes[s] = tuple(o)
        return [shapes[s] for s in self.output_slots]

    def consumers(self, k):
        """The layers that read input ``k``."""
        return [step.layer for step in self.steps if k in step.ins]


def _plain_step(layer, ins, outs, apply):
    return Step(layer, ins, outs, False, False, apply=apply)


def _store(values, step, y):
    if step.several:
        for s, v in zip(step.outs, y):
            values[s] = v
    else:
        values[step.outs[0]] = y


def _distinct(names):
    """``names`` with repeats made distinct: a layer used for two outputs gives "tower", "tower_2"."""
    out, seen = [], set()
    for name in names:
        candidate, k = name, 1
        while candidate in seen:
            k += 1
            candidate = f"{name}_{k}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _fits(declared, shape):
    return len(declared) == len(shape) and all(d is None or d == s for d, s in zip(declared, shape))


def _tensors(owner, value, what):
    tensors = list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, dict):
        tensors = list(value.values())
    if not tensors:
        raise XdlError(f"{owner}: {what} is empty")
    for t in tensors:
        if not isinstance(t, SymbolicTensor):
            raise XdlError(f"{owner}: {what} must be symbolic tensors from xdl.Input(...) and layer calls, "
                           f"got {type(t).__name__}")
    return tensors


def _topological(owner, outputs, given):
    """Every node the outputs depend on, each after the nodes it reads (depth-first)."""
    order, state = [], {}  # id(node) -> "open" while its inputs are visited, "done" after
    for out in outputs:
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if node.layer is None:  # an Input
                if id(node.outputs[0]) not in given:
                    raise XdlError(f"{owner}: the outputs depend on input {node.outputs[0].name!r}, which is not "
                                   "among the Model's inputs; add it to inputs=[...]")
                continue
            if expanded:
                state[id(node)] = "done"
                order.append(node)
                if len(order) > MAX_NODES:
                    raise XdlError(f"{owner}: more than {MAX_NODES} nodes")
                continue
            if id(node) in state:
                continue
            state[id(node)] = "open"
            stack.append((node, True))
            stack.extend((t.node, False) for t in reversed(node.inputs) if id(t.node) not in state)
    return order


def _unique_layers(owner, nodes):
    """Each layer once, in the order of its first use; names must be unique."""
    layers, names = [], {}
    for node in nodes:
        layer = node.layer
        other = names.get(layer.name)
        if other is None:
            names[layer.name] = layer
            layers.append(layer)
        elif other is not layer:
            raise XdlError(f"{owner}: two layers are named {layer.name!r} ({other.describe()} and "
                           f"{layer.describe()}); layer names must be unique within a model")
    return layers
