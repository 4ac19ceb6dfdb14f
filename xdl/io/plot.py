"""``plot_model``: a picture of a model's graph, without Graphviz.

An ``.svg`` is drawn here (one box per layer call, rows in topological order, arrows along the
tensors) and a ``.dot`` is Graphviz's text; other formats (Keras's default ``model.png``)
are Graphviz's to draw: ``dot`` must be on the PATH, else the error names the format and
the two xdl writes itself.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess

from ..errors import ArgumentError, DependencyError, XdlError
from .files import atomic_write

GRAPHVIZ_FORMATS = ("png", "pdf", "jpg", "jpeg", "gif", "ps", "bmp", "tif", "tiff")


def _shape(shape):
    return "(" + ", ".join(["None"] + [str(d) for d in shape]) + (",)" if not shape else ")")


def _label(layer, shapes, options):
    name, cls = getattr(layer, "name", "?"), type(layer).__name__
    lines = [f"{name} ({cls})" if options["show_layer_names"] else cls]
    activation = getattr(layer, "activation", None)
    if options["show_layer_activations"] and isinstance(activation, str):
        lines.append(f"activation: {activation}")
    if options["show_trainable"]:
        lines.append(f"trainable: {getattr(layer, 'trainable', True)}")
    if options["show_shapes"] and shapes is not None:
        lines.append("output: " + ", ".join(_shape(s) for s in shapes))
    return lines


def _boxes(model, options):
    """``(boxes, edges)``: each box ``[id, lines]`` in topological order, each edge ``(from, to)``."""
    graph = getattr(model, "graph", None)
    if graph is not None:
        boxes, edges, source = [], [], {}
        for k, t in enumerate(graph.inputs):
            lines = [f"{t.name} (InputLayer)" if options["show_layer_names"] else "InputLayer"]
            if options["show_shapes"]:
                lines.append("output: " + _shape(t.sample_shape))
            if options["show_dtype"] and t.dtype:
                lines.append(f"dtype: {t.dtype}")
            boxes.append([f"input_{k}", lines])
            source[id(t)] = f"input_{k}"
        for k, node in enumerate(graph.nodes):
            boxes.append([f"node_{k}", _label(node.layer, [t.sample_shape for t in node.outputs], options)])
            for t in node.outputs:
                source[id(t)] = f"node_{k}"
            edges += [(source[id(t)], f"node_{k}") for t in node.inputs if id(t) in source]
        return boxes, edges
    layers = list(getattr(model, "layers", []))
    shape = getattr(model, "sample_input_shape", None) if getattr(model, "built", False) else None
    shape = tuple(shape) if shape is not None else None
    boxes = []
    if shape is not None:
        boxes.append(["input_0", ["input (InputLayer)", *(["output: " + _shape(shape)] if options["show_shapes"]
                                                          else [])]])
    for k, layer in enumerate(layers):
        try:
            shape = tuple(layer.output_shape(shape)) if shape is not None else None
        except XdlError:
            shape = None
        boxes.append([f"node_{k}", _label(layer, None if shape is None else [shape], options)])
    return boxes, [(boxes[k][0], boxes[k + 1][0]) for k in range(len(boxes) - 1)]


def to_dot(model, rankdir="TB", **options) -> str:
    boxes, edges = _boxes(model, options)
    lines = [f"digraph {_quote(getattr(model, 'name', 'model'))} {{", f"  rankdir={rankdir};",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];']
    lines += [f"  {ident} [label={_quote(chr(10).join(text))}];" for ident, text in boxes]
    lines += [f"  {a} -> {b};" for a, b in edges]
    return "\n".join(lines + ["}"]) + "\n"


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_svg(model, rankdir="TB", **options) -> str:
    """Boxes by depth (longest path from an input): rows top to bottom ("TB") or columns left
    to right ("LR"), arrows from each box to those that read its outputs."""
    boxes, edges = _boxes(model, options)
    depth = {}
    for ident, _ in boxes:  # topological order: every edge into a box comes from one placed before
        depth[ident] = max([depth[a] + 1 for a, b in edges if b == ident and a in depth], default=0)
    char, line_h, pad, gap = 7.2, 16, 10, 40
    size = {ident: (max(len(t) for t in text) * char + 2 * pad, len(text) * line_h + 2 * pad) for ident, text in boxes}
    levels = {}
    for ident, _ in boxes:
        levels.setdefault(depth[ident], []).append(ident)
    across = "x" if rankdir == "TB" else "y"
    position, extent, along = {}, 0.0, gap / 2
    for level in sorted(levels):
        members = levels[level]
        thick = max(size[i][1] if across == "x" else size[i][0] for i in members)
        offset = gap / 2
        for ident in members:
            w, h = size[ident]
            position[ident] = (offset, along) if across == "x" else (along, offset)
            offset += (w if across == "x" else h) + gap / 2
        extent = max(extent, offset)
        along += thick + gap
    width, height = (extent, along - gap / 2) if across == "x" else (along - gap / 2, extent)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f"<title>{html.escape(str(getattr(model, 'name', 'model')))}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for a, b in edges:
        (xa, ya), (wa, ha) = position[a], size[a]
        (xb, yb), (wb, hb) = position[b], size[b]
        if across == "x":
            start, end = (xa + wa / 2, ya + ha), (xb + wb / 2, yb)
        else:
            start, end = (xa + wa, ya + ha / 2), (xb, yb + hb / 2)
        out.append(f'<line x1="{start[0]:.1f}" y1="{start[1]:.1f}" x2="{end[0]:.1f}" y2="{end[1]:.1f}" '
                   'stroke="#555" marker-end="url(#arrow)"/>')
    for ident, text in boxes:
        (x, y), (w, h) = position[ident], size[ident]
        out.append(f'<g id="{ident}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                   'fill="#eef3fb" stroke="#4a6fa5"/>')
        out += [f'<text x="{x + pad:.1f}" y="{y + pad + (k + 0.8) * line_h:.1f}">{html.escape(t)}</text>'
                for k, t in enumerate(text)]
        out.append("</g>")
    return "\n".join(out + ["</svg>"]) + "\n"


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               **kwargs):
    """Keras's: write a picture of ``model``'s graph to ``to_file``. ``.svg`` and ``.dot`` are
    written by xdl; other formats (``.png``, ``.pdf``...) need Graphviz's ``dot`` program.
    ``expand_nested`` is accepted; a nested model is drawn as one box."""
    if not hasattr(model, "layers"):
        raise ArgumentError(f"plot_model: expected a model, got {type(model).__name__}")
    if rankdir not in ("TB", "LR"):
        raise ArgumentError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r:.40}")
    name = os.fsdecode(os.fspath(to_file))
    fmt = os.path.splitext(name)[1].lower().lstrip(".")
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    if fmt == "svg":
        atomic_write(name, to_svg(model, rankdir, **options).encode())
        return None
    dot = to_dot(model, rankdir, **options)
    if fmt in ("dot", "gv"):
        atomic_write(name, dot.encode())
        return None
    if fmt not in GRAPHVIZ_FORMATS:
        raise ArgumentError(f"plot_model: cannot write {name!r}: xdl knows no picture format "
                            f"{fmt or '(no suffix)'!r}; it writes .svg and .dot itself, and with Graphviz's dot "
                            f"program {', '.join('.' + f for f in GRAPHVIZ_FORMATS)}")
    program = shutil.which("dot")
    if program is None:
        raise DependencyError(f"plot_model: cannot write {name!r} as {fmt}: that needs Graphviz's dot program, "
                              "which is not on the PATH; xdl writes .svg and .dot itself: "
                              "plot_model(model, to_file='model.svg')")
    done = subprocess.run([program, f"-T{fmt}", f"-Gdpi={int(dpi)}", "-o", name], input=dot.encode(),
                          capture_output=True, check=False)
    if done.returncode:
        raise DependencyError(f"plot_model: Graphviz's dot failed to write {name!r}: "
                              f"{done.stderr.decode(errors='replace')[:300]}")
    return None
