"""xdl's model as Keras 3 writes one in ``config.json``: a Sequential's layers, or a functional
model's layers with their ``inbound_nodes``, and where each layer's weights go in the HDF5 file.

Keras names a layer's weight group by its class in the model's layer order, and a functional
model's order is Keras's own (``Function``'s: by depth from the outputs, then by first visit),
which ``keras_order`` repeats so that Keras finds each weight where it looks for it.
"""

from __future__ import annotations

from .keras_config import custom_spec, keras_form, keras_object, snake
from .keras_graph import _join, _unique
from .spec import is_model_class, is_sequential_class


def _registered_name(cls):
    from ..core.registry import get_registered_name
    return get_registered_name(cls)


class Writer:
    """xdl's model -> Keras's config; ``groups``: (HDF5 group, layer, Keras's form?), ``foreign``:
    the xdl layers Keras has no form of (written as xdl's classes)."""

    def __init__(self, fail):
        self.fail, self.groups, self.foreign = fail, [], []

    def model(self, model, h5):
        sequential = is_sequential_class(type(model))
        config = self.sequential(model, h5) if sequential else self.functional(model, h5)
        kind = "Sequential" if sequential else "Functional"
        spec = {"module": "keras" if sequential else "keras.src.models.functional", "class_name": kind,
                "config": {"name": model.name, "trainable": model.trainable, **config},
                "registered_name": None if sequential else "Functional"}  # as Keras writes them
        if type(model).__name__ not in ("NeuralNetwork", "Model"):  # a registered subclass: Keras's custom object
            spec.update(module=type(model).__module__, class_name=type(model).__name__,
                        registered_name=_registered_name(type(model)))
        if sequential:
            spec["build_config"] = {"input_shape": config["build_input_shape"]}
        return spec

    def kind(self, layer):
        """Keras's class name for ``layer`` (what names its group in the weights file)."""
        if is_model_class(type(layer)):
            return self.model_kind(layer)
        form = keras_form(layer)
        return form[0] if form is not None else type(layer).__name__

    @staticmethod
    def model_kind(model):
        if type(model).__name__ not in ("NeuralNetwork", "Model"):
            return type(model).__name__
        return "Sequential" if is_sequential_class(type(model)) else "Functional"

    def layer(self, layer, h5):
        if is_model_class(type(layer)):
            return self.model(layer, h5)
        form = keras_form(layer)
        if form is None:
            spec = custom_spec(layer, _registered_name(type(layer)))
            if spec["registered_name"].startswith("xdl>"):
                self.foreign.append(layer.describe())
        else:
            spec = keras_object("keras.layers", *form)
        if layer.parameters():
            self.groups.append((h5, layer, form is not None))
        return spec

    @staticmethod
    def input_spec(name, shape, dtype):
        return keras_object("keras.layers", "InputLayer", {"batch_shape": [None, *shape], "dtype": dtype or "float32",
                                                           "sparse": False, "name": name})

    def sequential(self, model, h5):
        used = {}
        layers = [self.layer(layer, _join(h5, _unique(snake(self.kind(layer)), used))) for layer in model.layers]
        taken, name = {layer.name for layer in model.layers}, "input_layer"
        while name in taken:
            name += "_"
        tensor, shape = model._input_tensor, list(model.sample_input_shape)
        return {"layers": [self.input_spec(name, shape, tensor.dtype if tensor is not None else None), *layers],
                "build_input_shape": [None, *shape]}

    def functional(self, model, h5):
        graph = model.graph
        clash = {t.name for t in graph.inputs} & {layer.name for layer in graph.layers}
        if clash:
            self.fail(f"{model.name}: inputs and layers share the names {sorted(clash)}; Keras needs them distinct")
        where, counts = {}, {}
        for node in graph.nodes:
            where[id(node)] = counts.get(id(node.layer), 0)
            counts[id(node.layer)] = where[id(node)] + 1
            if type(node.layer).__name__ == "MultiHeadAttention" and any(t.masked for t in node.inputs[:2]):
                self.fail(f"{node.layer.describe()}: its inputs carry a mask (Embedding(mask_zero=True)), which "
                          "Keras would apply in attention and xdl's MultiHeadAttention does not; save it as .xdl")
        calls = {id(node): _call(node) for node in graph.nodes}

        def tensor(t):
            history = [t.name, 0, 0] if t.node.layer is None else [t.node.layer.name, where[id(t.node)], t.index]
            return {"class_name": "__keras_tensor__", "config": {"shape": [None, *t.sample_shape],
                                                                  "dtype": t.dtype or "float32",
                                                                  "keras_history": history}}

        def nest(value):
            if isinstance(value, (bool, int, float, str)):
                return value
            return [nest(v) for v in value] if isinstance(value, list) else tensor(value)

        entries, used = [], {}
        for op in keras_order(graph, calls):
            if isinstance(op, str):
                t = next(t for t in graph.inputs if t.name == op)
                _unique("input_layer", used)
                entries.append({**self.input_spec(op, list(t.sample_shape), t.dtype), "name": op, "inbound_nodes": []})
                continue
            spec = self.layer(op, _join(h5, _unique(snake(self.kind(op)), used)))
            nodes = [n for n in graph.nodes if n.layer is op]
            entries.append({**spec, "name": op.name, "inbound_nodes": [_node(calls[id(n)], n, nest) for n in nodes]})
        ins = [[t.name, 0, 0] for t in graph.inputs]
        outs = [tensor(t)["config"]["keras_history"] for t in graph.outputs]
        return {"layers": entries, "input_layers": ins[0] if len(ins) == 1 else ins,
                "output_layers": outs[0] if model._single_output else outs}


def _node(call, node, nest):
    """One entry of a layer's ``inbound_nodes``; "num_outputs" (which Keras ignores) where it gives
    several, so that xdl reads back a class of one's own whose outputs are not all used."""
    args, kwargs = call
    out = {"args": nest(args), "kwargs": {k: nest(v) for k, v in kwargs.items()}}
    if len(node.outputs) > 1:
        out["num_outputs"] = len(node.outputs)
    return out


def _call(node):
    """``(args, kwargs)`` of an xdl node as Keras records the call (tensors as they are)."""
    ins, kwargs = node.inputs, {}
    at = len(ins) - sum(count for _, count, _ in node.tensor_kwargs)
    main = ins[:at]
    for name, count, listed in node.tensor_kwargs:
        kwargs[name], at = (list(ins[at:at + count]) if listed else ins[at]), at + count
    if type(node.layer).__name__ == "MultiHeadAttention":
        args = [main[0], main[1]]
        if main[2] is not main[1]:
            kwargs["key"] = main[2]
        if len(main) == 4:
            kwargs["attention_mask"] = main[3]
    else:
        args = [list(main)] if node.listed else [main[0]]
    kwargs.update(node.kwargs)
    return args, kwargs


def _flat(value):
    return [t for v in value for t in _flat(v)] if isinstance(value, list) else [value]


def keras_order(graph, calls):
    """The graph's layers (and inputs, by name) in Keras's order: ``keras.src.ops.function.
    map_graph``, by depth from the outputs, ties by the order a depth-first walk from the outputs
    first meets them; a node's inputs are its args, then its kwargs by name (``tree.flatten``)."""
    def node_of(t):
        return ("input", t.name) if t.node.layer is None else t.node

    def op_of(node):
        return node[1] if isinstance(node, tuple) else node.layer

    def inputs_of(node):
        if isinstance(node, tuple):
            return []
        args, kwargs = calls[id(node)]
        return _flat(args) + [t for k in sorted(kwargs) if not isinstance(kwargs[k], (bool, int, float, str))
                              for t in _flat(kwargs[k])]

    key = lambda node: node if isinstance(node, tuple) else id(node)
    finished, progress, order, first = set(), set(), [], {}
    for out in graph.outputs:
        stack = [(out, False)]
        while stack:
            t, done = stack.pop()
            node = node_of(t)
            if done:
                finished.add(key(node))
                progress.discard(key(node))
                order.append(node)
                continue
            if key(node) in finished or key(node) in progress:
                continue
            first.setdefault(op_of(node) if isinstance(node, tuple) else id(op_of(node)), len(first))
            progress.add(key(node))
            stack.append((t, True))
            stack.extend((x, False) for x in reversed(inputs_of(node)))
    node_depth, op_depth, ops = {}, {}, {}
    for node in reversed(order):
        op = op_of(node)
        op_key = op if isinstance(op, str) else id(op)
        ops[op_key] = op
        depth = max(node_depth.setdefault(key(node), 0), op_depth.get(op_key, 0))
        op_depth[op_key] = node_depth[key(node)] = depth
        for x in inputs_of(node):
            parent = key(node_of(x))
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    return [ops[k] for k in sorted(op_depth, key=lambda k: (-op_depth[k], first[k]))]


