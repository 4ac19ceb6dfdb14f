"""A graph model's architecture as plain JSON-able data, and back: its inputs (name, shape,
dtype), each distinct layer once (class and config; a nested model's config nests), the nodes
in topological order (which layer, applied to which tensors, giving how many outputs) and the
outputs. A tensor is named by an input's name or by ``[node index, output index]`` of an
earlier node, so a config read back cannot hold a cycle (io/spec.py checks one before anything
is built)."""

from __future__ import annotations

from ..core.symbolic import Input, connect
from ..errors import ArgumentError
from ..io.spec import build_spec, layer_spec


def graph_config(model) -> dict:
    graph = model.graph
    index = {id(node): k for k, node in enumerate(graph.nodes)}

    def ref(t):
        return t.name if t.node.layer is None else [index[id(t.node)], t.index]

    return {"name": model.name,
            "inputs": [{"name": t.name, "shape": list(t.sample_shape), "dtype": t.dtype} for t in graph.inputs],
            "layers": [layer_spec(layer) for layer in graph.layers],
            "nodes": [{"layer": node.layer.name, "inputs": [ref(t) for t in node.inputs], "listed": node.listed,
                       "num_outputs": len(node.outputs), **({"kwargs": dict(node.kwargs)} if node.kwargs else {}),
                       **({"tensor_kwargs": [list(entry) for entry in node.tensor_kwargs]} if node.tensor_kwargs else {})}
                      for node in graph.nodes],
            "outputs": [ref(t) for t in graph.outputs],
            "single_output": model._single_output}


def graph_from_config(cls, config, build_layer=None):
    """Rebuild a functional model by replaying its nodes on fresh symbolic inputs. A config
    that ``check_spec`` passed replays cleanly; others raise ValueError saying where."""

    inputs = [Input(tuple(d["shape"]), name=d["name"], dtype=d.get("dtype")) for d in config["inputs"]]
    by_name = {t.name: t for t in inputs}
    layers = {}
    for spec in config["layers"]:
        layer = build_spec(spec, build_layer)
        if layer.name in layers:
            raise ArgumentError(f"two layers are named {layer.name!r}")
        layers[layer.name] = layer
    produced = []

    def resolve(ref, where):
        if isinstance(ref, str) and ref in by_name:
            return by_name[ref]
        if isinstance(ref, (list, tuple)) and len(ref) == 2 and 0 <= ref[0] < len(produced) \
                and 0 <= ref[1] < len(produced[ref[0]]):
            return produced[ref[0]][ref[1]]
        raise ArgumentError(f"{where}: {ref!r} names no input and no output of an earlier node")

    for k, node in enumerate(config["nodes"]):
        layer = layers.get(node["layer"])
        if layer is None:
            raise ArgumentError(f"node {k} applies an unknown layer {node['layer']!r}")
        tensors = [resolve(r, f"node {k}") for r in node["inputs"]]
        keywords = dict(node.get("kwargs") or {})
        at = len(tensors) - sum(count for _, count, _ in node.get("tensor_kwargs", ()))
        main, at = tensors[:at], at
        for name, count, listed in node.get("tensor_kwargs", ()):  # checked by io/spec.py
            keywords[name], at = (tensors[at:at + count] if listed else tensors[at]), at + count
        out = connect(layer, main if node["listed"] else main[0], keywords)
        out = out if isinstance(out, list) else [out]
        if len(out) != node.get("num_outputs", 1):
            raise ArgumentError(f"node {k} ({layer.describe()}) gives {len(out)} outputs, the config says "
                                f"{node.get('num_outputs', 1)}")
        produced.append(out)
    outputs = [resolve(r, "outputs") for r in config["outputs"]]
    single = config.get("single_output", len(outputs) == 1)
    return cls(inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs[0] if single else outputs,
               name=config.get("name"))
