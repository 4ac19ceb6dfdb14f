"""``model.summary()``: the model's graph as a table, in Keras's style.

One row per node of the graph, in topological order: "Layer (type)", "Output shape" (the
batch axis shown as N; a node with several outputs lists each on its own line) and
"Params". A functional ``Model`` also gets a row per ``Input`` and a "Connected to" column
naming each node's input tensors; a ``NeuralNetwork`` (a chain) keeps the plain three
columns. A nested model is one row with its total count. Every parameter is counted once:
a layer called twice (or shared with a nested model) has its count on its first row, and
later rows say "0 (shared)". Read from the graph's symbolic shapes: no data is needed.
"""

from __future__ import annotations

from itertools import zip_longest

from ..errors import NotBuiltError, shape_str

CONNECTED_WIDTH = 40  # "Connected to" cells wrap after this many characters


def _count(params):
    return sum(p.size for p in params)


def _require_graph(model):
    """Build a ``NeuralNetwork`` whose first layer knows its input size; else say what to do."""
    if model.graph is not None:
        return model.graph
    layers = model._require_layers() if hasattr(model, "_require_layers") else []
    if not layers or not layers[0].built:
        raise NotBuiltError(f"{model.name}: summary needs the input shape; call model.build(input_shape), "
                            "fit or predict first, or give the first layer its input size")
    model.build((None, *layers[0].sample_input_shape))
    return model.graph


def _tensor_names(graph):
    """``{id(tensor): name}`` for "Connected to": the layer's name, or Keras's
    ``name[call][output]`` where the layer is called more than once or has several outputs."""
    calls = {}
    for node in graph.nodes:
        calls.setdefault(id(node.layer), []).append(node)
    names = {id(t): t.name for t in graph.inputs}
    for node in graph.nodes:
        uses = calls[id(node.layer)]
        plain = len(uses) == 1 and len(node.outputs) == 1
        call = next(k for k, n in enumerate(uses) if n is node)
        for k, t in enumerate(node.outputs):
            names[id(t)] = node.layer.name if plain else f"{node.layer.name}[{call}][{k}]"
    return names


def _wrap(names, width=CONNECTED_WIDTH):
    """``["a, b,", "c"]``: the names joined by commas, in lines of about ``width`` characters."""
    lines, current = [], ""
    for k, name in enumerate(names):
        piece = name + ("," if k < len(names) - 1 else "")
        if current and len(current) + 1 + len(piece) > width:
            lines.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    return lines + [current] if current else lines or ["-"]


def _params_cell(layer, seen):
    """The layer's parameters not counted on an earlier row (they are then marked seen)."""
    params = layer.parameters()
    fresh = [p for p in params if id(p) not in seen]
    seen.update(id(p) for p in fresh)
    count, shared = _count(fresh), _count(params) - _count(fresh)
    if not shared:
        return f"{count:,}"
    return "0 (shared)" if count == 0 else f"{count:,} (+{shared:,} shared)"


def summary_rows(model):
    """``(header, rows)``: each row a tuple of cells, each cell a list of lines."""
    graph = _require_graph(model)
    functional = not model.is_chain
    header = ("Layer (type)", "Output shape", "Params") + (("Connected to",) if functional else ())
    names = _tensor_names(graph) if functional else {}
    rows, seen = [], set()
    if functional:
        for t in graph.inputs:
            rows.append(([f"{t.name} (Input)"], [shape_str(t.sample_shape)], ["0"], ["-"]))
    for node in graph.nodes:
        row = ([node.layer.describe()], [shape_str(t.sample_shape) for t in node.outputs], [_params_cell(node.layer, seen)])
        if functional:
            row += (_wrap([names[id(t)] for t in node.inputs]),)
        rows.append(row)
    return header, rows


def summary_lines(model) -> list:
    header, rows = summary_rows(model)
    columns = len(header)
    widths = [max(len(line) for cells in rows + [tuple([h] for h in header)] for line in cells[i])
              for i in range(columns)]
    right = {2}  # Params: numbers, right-aligned

    def line(cells):
        text = "  ".join(f"{c:>{w}}" if i in right else f"{c:<{w}}"
                         for i, (c, w) in enumerate(zip(cells, widths)))
        return text.rstrip()

    def render(cells):
        return [line([c or "" for c in parts]) for parts in zip_longest(*cells)]

    rule = "-" * (sum(widths) + 2 * (columns - 1))
    body = [text for cells in rows for text in render(cells)]
    params = model.parameters()
    total = _count(params)
    trainable = _count(p for p in params if p.trainable)
    return ([f'Model "{model.name}" on {model.backend.name}', rule, line(header), rule.replace("-", "=")] + body
            + [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
               f"Non-trainable params: {total - trainable:,}"])
