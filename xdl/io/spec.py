"""The checks of a model's architecture as a file holds it (``{"class", "config"}`` from JSON),
made before anything is built: registered classes only, unique names, bounded sizes, and
references from each node to an input or an earlier node's output only, so a config cannot
describe a cycle (models/config.py writes and replays those configs). io/model_files.py runs
``check_spec`` on every file it loads and every model it saves.
"""

from __future__ import annotations

from ..layers.base import LAYERS
from ..core.checks import MAX_SIZE
from ..core.symbolic import valid_name

MAX_LAYERS = 10_000  # layers, inputs and nodes in one architecture, nested models' included
MAX_DEPTH = 32  # models nested in models
MAX_OUTPUTS = 64  # outputs of one node, and axes of one shape
# Shape checks that building a model costs: each application of a nested model checks
# shapes through its nodes (Graph.propagate remembers the result per input shape, so a
# model applied again is cheap, but a file can still nest and reuse models to unroll into a
# huge graph). Counted per node, a nested model's node as twice its own work, a bound.
MAX_WORK = 2**18
# Elements per sample of any one tensor a model makes (free sizes counted as 1): the largest
# size xdl takes anywhere, what 32-bit indices reach. Parameters are bounded by the file's own
# tensors, but a layer without any (UpSampling2D's size, ZeroPadding2D's padding, a transposed
# convolution's stride) could otherwise describe terabytes of activations in a few bytes of JSON.
MAX_ELEMENTS = MAX_SIZE
INPUT_DTYPES = (None, "float32", "float64", "int32", "int64", "string")


def short(value, limit=100) -> str:
    """``repr(value)`` cut to ``limit`` characters: a hostile file's value may be megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def layer_spec(layer) -> dict:
    return {"class": type(layer).__name__, "config": layer.get_config()}


def build_spec(spec, build_layer=None):
    """The layer a spec describes: through ``build_layer(spec)`` (the file loader's, which
    checks and names errors), else straight from the registry."""
    if build_layer is not None:
        return build_layer(spec)
    cls = LAYERS[spec["class"]]
    config = spec["config"]
    return cls.from_config(config, build_layer) if is_model_class(cls) else cls.from_config(config)


# Model and NeuralNetwork are found in the registry (models/model.py and models/sequential.py
# enter them there) rather than imported: they stand on a floor above io.
def is_model_class(cls):
    return _subclass(cls, "Model")


def is_sequential_class(cls):
    return _subclass(cls, "NeuralNetwork")


def _subclass(cls, name):
    base = LAYERS.get(name)
    return isinstance(cls, type) and base is not None and issubclass(cls, base)


def check_spec(spec, fail):
    """Check a model's ``{"class", "config"}`` (as read from JSON) without building anything;
    ``fail(message)`` is called (and must raise) at the first fault."""
    _Checker(fail).model(spec)


def check_sizes(model, fail):
    """Check a built model's tensors (its graph's, nested models' too): each at most
    ``MAX_ELEMENTS`` elements per sample, free sizes counted as 1. Shapes only: no data."""
    graphs, seen = [model.graph], set()
    while graphs:
        graph = graphs.pop()
        if graph is None or id(graph) in seen:
            continue
        seen.add(id(graph))
        tensors = [(None, t) for t in graph.inputs] + [(node.layer, t) for node in graph.nodes for t in node.outputs]
        for layer, t in tensors:
            n = 1
            for d in t.sample_shape:
                n *= 1 if d is None else d
            if n > MAX_ELEMENTS:
                what = f"input {short(t.name)}" if layer is None else f"{layer.describe()}: its output"
                count = f"{n:,}" if n < 10**15 else f"about 10**{len(str(n)) - 1}"
                fail(f"{what} has shape {short(t.sample_shape)}, {count} elements per sample, more than "
                     f"{MAX_ELEMENTS:,} (a size, factor, stride or padding too large)")
        graphs.extend(node.layer.graph for node in graph.nodes if is_model_class(type(node.layer)))


class _Checker:
    """The structural checks of a model spec, nested models included: registered classes,
    unique names, shapes, and references from each node to an input or an earlier node's
    output only (so a config cannot describe a cycle). Sizes are bounded (layers, inputs and
    nodes, depth, outputs, axes), so that the check itself is cheap, and so is the work of
    building what it passes (``model`` returns that work, see MAX_WORK)."""

    def __init__(self, fail):
        self.fail, self.budget = fail, MAX_LAYERS

    def model(self, spec, where="", depth=0):
        cls = self.registered(spec, where)
        if not is_model_class(cls):
            self.fail(f"{where}{spec['class']} is a layer, not a model")
        if depth > MAX_DEPTH:
            self.fail(f"{where}models nested more than {MAX_DEPTH} deep")
        config = spec["config"]
        if config.get("name") is not None and not valid_name(config["name"]):
            self.fail(f"{where}the model's name must be a non-empty string without '/', got {short(config['name'])}")
        layers = self.nonempty_list(config.get("layers"), f"{where}layers")
        self.spend(len(layers))
        sequential = is_sequential_class(cls)
        names, work = set(), {}
        for i, layer_spec in enumerate(layers):
            layer_cls = self.registered(layer_spec, f"{where}layer {i}: ")
            name = layer_spec["config"].get("name")
            if not (valid_name(name) or (name is None and sequential)):
                self.fail(f"{where}layer {i} ({layer_spec['class']}): name must be a non-empty string "
                          f"without '/', got {short(name)}")
            if name is not None and name in names:
                self.fail(f"{where}two layers are named {name!r}; names must be unique within a model")
            names.add(name)
            nested = is_model_class(layer_cls) and self.model(layer_spec, f"{where}in model {name!r}: ", depth + 1)
            work[name if name is not None else i] = 2 * nested if nested else 1
        if sequential:
            graph_keys = sorted({"inputs", "nodes", "outputs"} & set(config))
            if graph_keys:  # a graph's config under a Sequential's class: it would not build the graph
                self.fail(f"{where}a {spec['class']} is a list of layers; {graph_keys} belong to an xdl.Model")
            if config.get("input_shape") is not None:
                self.shape(config["input_shape"], f"{where}input_shape")
            total = sum(work.values())
        else:
            self.graph(config, where, names)
            total = sum(work[node["layer"]] for node in config["nodes"])
        if total > MAX_WORK:
            self.fail(f"{where}the graph unrolls to {total:,} shape checks, more than {MAX_WORK:,} (nested models "
                      "applied too often or nested too deep)")
        return total

    def graph(self, config, where, names):
        inputs = self.nonempty_list(config.get("inputs"), f"{where}inputs")
        self.spend(len(inputs))
        input_names = {}  # a dict: ordered, and found in constant time
        for k, entry in enumerate(inputs):
            if not isinstance(entry, dict):
                self.fail(f"{where}input {k} must be a dict of name, shape and dtype, got {short(entry)}")
            name = entry.get("name")
            if not valid_name(name) or name in input_names:
                self.fail(f"{where}input {k}: names must be distinct non-empty strings without '/', "
                          f"got {short(name)}")
            input_names[name] = k
            self.shape(entry.get("shape"), f"{where}input {name!r}")
            if entry.get("dtype") not in INPUT_DTYPES:
                self.fail(f"{where}input {name!r}: dtype {short(entry.get('dtype'))} is not one of {INPUT_DTYPES}")
        nodes = self.nonempty_list(config.get("nodes"), f"{where}nodes")
        self.spend(len(nodes))
        counts = []
        for k, node in enumerate(nodes):
            if not isinstance(node, dict):
                self.fail(f"{where}node {k} must be a dict of layer, inputs and listed, got {short(node)}")
            if not isinstance(node.get("layer"), str) or node["layer"] not in names:
                self.fail(f"{where}node {k} applies an unknown layer {short(node.get('layer'))}")
            refs = self.nonempty_list(node.get("inputs"), f"{where}node {k}: inputs")
            extra = self.tensor_kwargs(node.get("tensor_kwargs", []), len(refs), f"{where}node {k}")
            if not isinstance(node.get("listed"), bool) or (not node["listed"] and len(refs) - extra != 1) \
                    or (node["listed"] and extra):
                self.fail(f"{where}node {k}: 'listed' must be true (a list of inputs) or false (exactly one)"
                          + (", then its keyword tensors" if extra else ""))
            n = node.get("num_outputs", 1)
            if type(n) is not int or not 1 <= n <= MAX_OUTPUTS:
                self.fail(f"{where}node {k}: num_outputs must be an int in 1..{MAX_OUTPUTS}, got {short(n)}")
            for ref in refs:
                self.ref(ref, input_names, counts, f"{where}node {k}")
            self.kwargs(node.get("kwargs", {}), f"{where}node {k}")
            counts.append(n)
        outputs = self.nonempty_list(config.get("outputs"), f"{where}outputs")
        for ref in outputs:
            self.ref(ref, input_names, counts, f"{where}outputs")
        single = config.get("single_output", len(outputs) == 1)
        if not isinstance(single, bool) or (single and len(outputs) != 1):
            self.fail(f"{where}single_output must be a bool, true only for one output")
        self.reached(nodes, outputs, input_names, names, where)

    def reached(self, nodes, outputs, input_names, names, where):
        """Every input, layer and node must lead to an output: the graph drops what does not,
        so a file holding more is not the model it claims to be."""
        reached = {r[0] for r in outputs if isinstance(r, list)}
        used = {r for r in outputs if isinstance(r, str)}
        for k in reversed(range(len(nodes))):  # references point backwards: one reverse pass
            if k in reached:
                used.update(r for r in nodes[k]["inputs"] if isinstance(r, str))
                reached.update(r[0] for r in nodes[k]["inputs"] if isinstance(r, list))
        idle = [f"input {n!r}" for n in input_names if n not in used]
        idle += [f"layer {n!r}" for n in sorted(names - {nodes[k]["layer"] for k in reached})]
        idle += [f"node {k}" for k in range(len(nodes)) if k not in reached]
        if idle:
            listed = ", ".join(idle[:10]) + (f" and {len(idle) - 10} more" if len(idle) > 10 else "")
            self.fail(f"{where}{listed} lead(s) to no output")

    def ref(self, ref, input_names, counts, where):
        """Check a tensor reference: an input's name, or [node, output] of an earlier node
        (``counts``: the outputs of each node so far); returns what it uses."""
        if isinstance(ref, str):
            if ref not in input_names:
                self.fail(f"{where}: a reference to an unknown input {short(ref)} (dangling)")
            return ref
        if not (isinstance(ref, list) and len(ref) == 2 and all(type(v) is int and v >= 0 for v in ref)):
            self.fail(f"{where}: a tensor reference must be an input name or [node, output], got {short(ref)}")
        node, index = ref
        if node >= len(counts):
            self.fail(f"{where}: a reference to node {node}, which does not come before its use "
                      "(a cycle, or a dangling reference)")
        if index >= counts[node]:
            self.fail(f"{where}: a reference to output {index} of node {node}, which has {counts[node]}")
        return node

    def tensor_kwargs(self, entries, refs, where):
        """A node's keyword tensors, ``[[name, count, listed], ...]``: names, counts within its
        inputs. Returns how many of the inputs they take."""
        ok = isinstance(entries, list) and len(entries) <= MAX_OUTPUTS and all(
            isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and type(e[1]) is int and e[1] >= 1
            and isinstance(e[2], bool) and (e[2] or e[1] == 1) for e in entries)
        total = sum(e[1] for e in entries) if ok else 0
        if not ok or total >= refs or len({e[0] for e in entries}) != len(entries):
            self.fail(f"{where}: tensor_kwargs must list [name, count, listed] entries, distinct names, fewer "
                      f"tensors than the node's inputs, got {short(entries)}")
        return total

    def kwargs(self, kwargs, where):
        """A node's call flags: a small dict of names to JSON scalars (the layer checks names)."""
        if not isinstance(kwargs, dict) or len(kwargs) > MAX_OUTPUTS or not all(
                isinstance(k, str) and (v is None or type(v) in (bool, int, float, str)) for k, v in kwargs.items()):
            self.fail(f"{where}: kwargs must be a dict of at most {MAX_OUTPUTS} names to JSON scalars, "
                      f"got {short(kwargs)}")

    def shape(self, shape, where):
        if not isinstance(shape, list) or len(shape) > MAX_OUTPUTS:
            self.fail(f"{where}: a shape must be a list of at most {MAX_OUTPUTS} sizes, got {short(shape)}")
        if not all(d is None or (type(d) is int and 1 <= d <= 2**31) for d in shape):
            self.fail(f"{where}: shape {short(shape)} must hold sizes in 1..2**31 or null (free)")

    def registered(self, spec, where):
        if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
            self.fail(f"{where}malformed layer entry {short(spec)}")
        cls = spec.get("class")
        if not isinstance(cls, str) or cls not in LAYERS:
            self.fail(f"{where}unknown layer type {short(cls)}; register custom layers with "
                      "xdl.register_layer before loading")
        return LAYERS[cls]

    def nonempty_list(self, value, where):
        if not isinstance(value, list) or not value:
            self.fail(f"{where} must be a non-empty list, got {short(value)}")
        return value

    def spend(self, n):
        self.budget -= n
        if self.budget < 0:
            self.fail(f"more than {MAX_LAYERS} layers, inputs and nodes")


