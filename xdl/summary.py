"""``model.summary()``: the layers, their output shapes and parameter counts, as a table."""

from __future__ import annotations

from .errors import NotBuiltError, shape_str


def _count(params):
    return sum(p.size for p in params)


def summary_lines(model) -> list:
    if not model.built:
        first = model._require_layers()[0]
        if not first.built:
            raise NotBuiltError(f"{model.name}: summary needs the input shape; call model.build(input_shape), "
                                "fit or predict first, or give the first layer its input size")
        model.build(first.input_shape)
    rows, shape = [], model.input_shape
    for layer in model.layers:
        shape = tuple(layer.output_shape(shape))
        rows.append((layer.describe(), shape_str(shape), f"{_count(layer.parameters()):,}"))
    header = ("Layer (type)", "Output shape", "Params")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    rule = "-" * (sum(widths) + 4)

    def line(cells):
        return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}"

    params = model.parameters()
    trainable = _count(p for p in params if p.trainable)
    return [f'Model "{model.name}" on {model.backend.name}', rule, line(header), rule.replace("-", "=")] + [
        line(r) for r in rows] + [rule, f"Total params: {_count(params):,}",
                                  f"Trainable params: {trainable:,}",
                                  f"Non-trainable params: {_count(params) - trainable:,}"]
