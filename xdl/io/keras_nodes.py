"""A Keras 3 functional model's nodes (each layer's ``inbound_nodes``: ``args`` and ``kwargs``
holding ``__keras_tensor__`` references ``[layer, node, tensor]``) as xdl's graph nodes, in
topological order (Kahn's: a cycle or a dangling reference is refused, never followed).

Masks: Keras writes the mask that ``Embedding(mask_zero=True)`` makes as operations on tensors
(``NotEqual``, and ``LogicalOr``... where masks merge) passed as ``mask=`` to the layers that
read it. xdl derives the same masks as its graph is built, so those operations are dropped and
each layer's ``mask=`` is noted: after the build, ``check_masks`` holds xdl's masks to Keras's
(a layer reading one in either library must read one in the other).
"""

from __future__ import annotations

import heapq

from ..layers.base import LAYERS
from .keras_config import RECURRENT, XDL_CLASS
from .spec import MAX_LAYERS, MAX_OUTPUTS, is_model_class, short

_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}
#: Keras's operations that only compute masks (from Embedding(mask_zero=True), Masking, merges)
MASK_OPS = frozenset({"NotEqual", "LogicalOr", "LogicalAnd", "Any", "All"})
MASK = "mask"  # the kind of a mask operation among a model's layers
#: layers whose output depends on the mask they get (the others pass it on or drop it)
READS_MASK = frozenset({*RECURRENT, "Bidirectional", "GlobalAveragePooling1D", "MultiHeadAttention"})


class Graph:
    """Keras's nodes in xdl's form and topological order."""

    def __init__(self, reader, where, kinds, nodes, outputs):
        self.reader, self.where, self.kinds, self.fail = reader, where, kinds, reader.fail
        self.index, self.nodes, self.used = {}, [], {}  # used: each node's highest output referred to
        self.given = {}  # layer name -> whether Keras passes it a mask
        nodes = [(name, k, _legacy(call)) for name, k, call in nodes]
        deps = {(name, k): set() for name, k, _ in nodes}
        for name, k, call in nodes:
            if not isinstance(call, dict):
                self.fail(f"{where}: layer {name!r}: node {k} must be a dict of args and kwargs (Keras 3's form), "
                          f"got {short(call)}")
            for ref in self.tensors(call):
                history = ref["config"]["keras_history"]
                if kinds.get(history[0]) not in (None, MASK):
                    if (history[0], history[1]) not in deps:
                        self.fail(f"{where}: layer {name!r} node {k} uses {short(history)}, which no node makes")
                    deps[name, k].add((history[0], history[1]))
                    self.note(history)
            if k:
                deps[name, k].add((name, k - 1))  # a layer's nodes in their order
        for ref in outputs:
            if isinstance(ref, list) and len(ref) == 3 and type(ref[2]) is int:
                self.note(ref)
        calls = {(name, k): call for name, k, call in nodes}
        order = {key: i for i, key in enumerate(deps)}
        users, waiting = {}, {key: len(d) for key, d in deps.items()}
        for key, d in deps.items():
            for dep in d:
                users.setdefault(dep, []).append(key)
        ready = [(order[key], key) for key, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        while ready:
            _, key = heapq.heappop(ready)
            self.index[key] = len(self.nodes)
            self.nodes.append(self.node(key, calls[key]))
            for user in users.get(key, ()):
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (order[user], user))
        if len(self.nodes) != len(deps):
            self.fail(f"{where}: the nodes form a cycle")

    def note(self, history):
        key = (history[0], history[1])
        self.used[key] = max(self.used.get(key, 0), history[2])

    def tensors(self, value, found=None):
        """The ``__keras_tensor__`` references in a node's args and kwargs, checked."""
        found = [] if found is None else found
        stack = [value]
        while stack:
            item = stack.pop()
            if _is_tensor(item):
                history = item.get("config", {}).get("keras_history") if isinstance(item.get("config"), dict) else None
                if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
                        and all(type(v) is int and 0 <= v < MAX_LAYERS for v in history[1:])):
                    self.fail(f"{self.where}: a tensor reference must hold keras_history [layer, node, tensor], "
                              f"got {short(item)}")
                found.append(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            if len(found) > MAX_LAYERS:
                self.fail(f"{self.where}: more than {MAX_LAYERS} tensor references in one node")
        return found

    def ref(self, value, where):
        if isinstance(value, list) and len(value) == 3:  # output_layers' form
            value = {"class_name": "__keras_tensor__", "config": {"keras_history": value}}
        if not _is_tensor(value) or self.tensors(value) != [value]:
            self.fail(f"{self.where}: {where}: expected one tensor, got {short(value)}")
        name, node, index = value["config"]["keras_history"]
        if name not in self.kinds:
            self.fail(f"{self.where}: {where}: {short(name)} is no layer of the model")
        if self.kinds[name] == MASK:
            self.fail(f"{self.where}: {where}: the mask operation {name!r} is used as data; xdl reads such "
                      "operations only as a layer's mask=")
        if self.kinds[name] is None:
            if (node, index) != (0, 0):
                self.fail(f"{self.where}: {where}: input {name!r} has one tensor, [{name!r}, 0, 0]")
            return name
        if (name, node) not in self.index:
            self.fail(f"{self.where}: {where}: layer {name!r} node {node} does not come before its use")
        return [self.index[name, node], index]

    def node(self, key, call):
        name, k = key
        where, spec = f"layer {name!r} node {k}", self.kinds[name]
        args, kwargs = call.get("args", []), call.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            self.fail(f"{self.where}: {where}: args must be a list and kwargs a dict, got {short(call)}")
        kwargs = dict(kwargs)
        kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
        made = _is_tensor(mask) and self.tensors(mask) == [mask] and self.kinds.get(
            mask["config"]["keras_history"][0]) == MASK
        if mask is not None and not made:
            self.fail(f"{self.where}: {where}: a mask= tensor that no mask operation makes; xdl takes masks from "
                      "Embedding(mask_zero=True) or Masking")
        self.given[name] = self.given.get(name, False) or bool(made)
        for key_ in ("query_mask", "value_mask", "key_mask"):
            if kwargs.pop(key_, None) is not None:
                self.fail(f"{self.where}: {where}: an explicit {key_} tensor; xdl's MultiHeadAttention takes "
                          "attention_mask")
        cls, out = spec["class"], {"layer": name, "listed": False}
        if cls == "MultiHeadAttention":
            if not 2 <= len(args) <= 3:
                self.fail(f"{self.where}: {where}: MultiHeadAttention takes (query, value, key), got {len(args)} args")
            q, v = args[0], args[1]
            key_t = args[2] if len(args) == 3 else kwargs.pop("key", None)
            mask = kwargs.pop("attention_mask", None)
            ins = [q, v, v if key_t is None else key_t] + ([] if mask is None else [mask])
            out.update(listed=True, inputs=[self.ref(t, where) for t in ins])
            flags = {f: kwargs.pop(f) for f in ("use_causal_mask", "return_attention_scores") if f in kwargs}
            if any(type(v_) is not bool for v_ in flags.values()):
                self.fail(f"{self.where}: {where}: {short(flags)} must be booleans")
            if any(flags.values()):
                out["kwargs"] = {f: True for f, v_ in flags.items() if v_}
        else:
            if len(args) != 1:
                self.fail(f"{self.where}: {where}: {len(args)} positional arguments; xdl's layers take one (a list "
                          "for merges)")
            listed = isinstance(args[0], list)
            out.update(listed=listed, inputs=[self.ref(t, where) for t in (args[0] if listed else args)])
            state = kwargs.pop("initial_state", None) if cls in (*RECURRENT, "Bidirectional") else None
            if state is not None:
                several = isinstance(state, list)
                states = [self.ref(t, where) for t in (state if several else [state])]
                out["inputs"] += states
                out["tensor_kwargs"] = [["initial_state", len(states), several]]
        if kwargs:
            self.fail(f"{self.where}: {where}: call arguments {sorted(kwargs)} are not supported by xdl")
        n = _outputs(spec, out.get("kwargs", {}))
        if n is None:  # a class of one's own: as xdl wrote it, else as many as the model uses
            hint = call.get("num_outputs")
            n = hint if type(hint) is int and 1 <= hint <= MAX_OUTPUTS else self.used.get(key, 0) + 1
        out["num_outputs"] = n
        return out


def _is_tensor(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _legacy(call):
    """Keras 2's node, ``[[layer, node, tensor, kwargs], ...]``, in Keras 3's form."""
    if not isinstance(call, list) or not call or not all(isinstance(e, list) and len(e) in (3, 4) for e in call):
        return call
    tensors = [{"class_name": "__keras_tensor__", "config": {"keras_history": e[:3]}} for e in call]
    kwargs = call[-1][3] if len(call[-1]) == 4 else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def _outputs(spec, kwargs):
    """How many tensors an application of the layer ``spec`` gives."""
    cls, config = spec["class"], spec["config"]
    if cls in RECURRENT and config.get("return_state"):
        return 1 + _STATES[cls]
    if cls == "Bidirectional" and isinstance(config.get("layer"), dict):
        inner = config["layer"]
        if inner.get("config", {}).get("return_state") and inner.get("class") in _STATES:
            return 1 + 2 * _STATES[inner["class"]]
    if cls == "MultiHeadAttention" and kwargs.get("return_attention_scores"):
        return 2
    if is_model_class(LAYERS.get(cls)):
        several = not config.get("single_output", True) and isinstance(config.get("outputs"), list)
        return len(config["outputs"]) if several else 1
    return 1 if cls in _MAPPED else None


_MAPPED = frozenset(XDL_CLASS.values())


def check_masks(model, notes, layer_at, fail):
    """xdl's masks against Keras's, once the model is built: a layer whose output depends on a
    mask (recurrent layers, ``GlobalAveragePooling1D``) gets one in xdl exactly where Keras passes
    one; attention must get none (Keras applies it, xdl's takes ``attention_mask`` only)."""
    for names, given in notes:
        host = layer_at(model, names, fail)
        for node in host.graph.nodes:
            kind, layer = type(node.layer).__name__, node.layer
            if kind not in READS_MASK:
                continue
            masked = any(getattr(t, "masked", False) for t in node.inputs[:2 if kind == "MultiHeadAttention" else 1])
            if kind == "MultiHeadAttention" and masked:
                fail(f"{layer.describe()}: its inputs carry a mask (Embedding(mask_zero=True)), which Keras applies "
                     "in attention and xdl's MultiHeadAttention does not (it takes attention_mask)")
            if kind != "MultiHeadAttention" and masked != given.get(layer.name, False):
                fail(f"{layer.describe()}: Keras passes it {'a' if given.get(layer.name) else 'no'} mask, xdl's "
                     f"graph {'a' if masked else 'none'}; the model would compute otherwise")
