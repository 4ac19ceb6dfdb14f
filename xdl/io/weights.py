"""A model's weights as a dict of arrays, named by path ("dense/weights",
"block1/conv2d/bias"): for early stopping, interop and tests. Not file I/O (see model_files.py)."""

from __future__ import annotations

from ..core.backend import convert
from ..core.checks import short
from ..errors import ArgumentError, ArgumentTypeError, NotBuiltError, NotFoundError


def named_parameters(model) -> dict:
    if not model.built:
        raise NotBuiltError(f"{model.name}: no weights yet; fit or build the model first")
    return model.named_parameters()


def model_of(where, model):
    if not hasattr(model, "named_parameters"):
        raise ArgumentTypeError(f"{where}: model must be an xdl model or layer, got {short(model)}")
    return model


def export_weights(model, to_numpy=True) -> dict:
    """The model's weights (and non-trainable state) as a dict ``{"dense/weights": array}``:
    NumPy copies by default, or the backend's own arrays (copies too) with ``to_numpy=False``."""
    be = model_of("export_weights", model).backend
    return {key: be.to_numpy(p.value, copy=True) if to_numpy else be.xp.asarray(p.value, copy=True)
            for key, p in named_parameters(model).items()}


def import_weights(model, weights: dict) -> None:
    """Set the model's weights from a dict as ``export_weights`` gives (any array-likes,
    any backend's arrays, DLPack-capable tensors); every name and shape is checked first."""
    params = named_parameters(model_of("import_weights", model))
    if not isinstance(weights, dict):
        raise ArgumentTypeError(f"import_weights: expected a dict of arrays, got {type(weights).__name__}")
    missing, extra = sorted(set(params) - set(weights)), sorted(set(weights) - set(params))
    if missing or extra:
        raise NotFoundError(f"import_weights: names differ from the model's: missing {missing}, unexpected {extra}")
    be = model.backend
    values = {key: convert(be, weights[key], params[key].dtype, f"import_weights: {key!r}") for key in params}
    for key, value in values.items():
        if tuple(value.shape) != params[key].shape:
            raise ArgumentError(f"import_weights: {key!r} has shape {tuple(value.shape)}, "
                                f"the model expects {params[key].shape}")
    for key, value in values.items():
        params[key].value = be.xp.asarray(value, copy=True)  # updated in place later: never the caller's
