"""Compile settings and optimizer state in Keras 3's files.

Keras keeps ``compile_config`` in ``config.json`` (keras_compile.py maps it) and the optimizer's
variables in ``model.weights.h5`` under "optimizer/vars": the step count, the learning rate
(unless a schedule gives it), then each trainable variable's slots in the model's variable
order (Adam's momentum and velocity side by side; Nadam's product of momentum factors last),
in the layouts of keras_weights.py (LSTM gates reordered alike...).

xdl writes both, and its own training record (model_files.py's, read back with the same checks)
in ``metadata.json`` as "xdl_training", which Keras ignores: a file xdl wrote resumes in xdl
exactly as its own format does (epochs done, data order, settings Keras lacks), and Keras
compiles it where it can. A file Keras wrote is compiled from its ``compile_config``;
``compile=False`` loads either without.
"""

from __future__ import annotations

import warnings

import numpy

from ..errors import ModelFileError
from ..optimizers import schedules
from . import keras_weights
from .keras_compile import Compile, drop_skipped, keras_compile
from .spec import short

#: xdl's optimizer -> its slots in Keras's order (SGD's only with momentum)
SLOTS = {"SGD": ("momentum",), "Adam": ("m", "v"), "AdamW": ("m", "v"), "Nadam": ("m", "v"), "Lion": ("m",),
         "RMSprop": ("v",), "Adagrad": ("accumulator",)}


# -- writing --------------------------------------------------------------------------------------


def trainable_vars(model, places):
    """Keras's trainable variables: ``[(Var, {key: Parameter})]`` in its order, from
    ``places``: ``[(layer, Keras's form?)]`` in the model's layer order."""
    out = []
    for layer, mapped in places:
        params = layer.named_parameters()
        for var in keras_weights.layout(layer, mapped):
            if all(params[k].trainable for k in var.keys):
                out.append((var, [params[k] for k in var.keys]))
    return out


def keras_state(model, places):
    """The optimizer's variables as Keras lays them out, or None when some trainable
    parameter has no state yet (the optimizer has not stepped it)."""
    opt = model.optimizer
    kind, slots = type(opt).__name__, tuple(getattr(opt, "slots", ()))
    if kind not in SLOTS:
        return None
    variables = trainable_vars(model, places)
    if slots and any(set(opt.state.get(p, {})) != set(slots) for _, params in variables for p in params):
        return None
    be, lr = model.backend, float(opt._rate())
    arrays = [numpy.asarray(opt.iterations, dtype=numpy.int64)]
    if not isinstance(opt._learning_rate, schedules.Schedule) and not callable(opt._learning_rate):
        arrays.append(numpy.asarray(lr, dtype=numpy.float32))
    for var, params in variables:
        for slot in slots:
            value = var.to_keras([be.to_numpy(opt.state[p][slot]) for p in params])
            if kind == "SGD":  # PyTorch's buffer b (xdl's) is Keras's -lr * b: float64 keeps it exact both ways
                value = -lr * value.astype(numpy.float64)
            arrays.append(numpy.ascontiguousarray(value))
    if kind == "Nadam":  # Keras keeps the product of its momentum factors u_1 ... u_t; xdl works it out
        arrays.append(numpy.asarray(numpy.prod([opt._u(k) for k in range(1, opt.iterations + 1)]), numpy.float32))
    return arrays


def write(model, places, config, metadata, groups, names, include_optimizer):
    """Compile settings and (``include_optimizer``) the optimizer's state into the file's parts."""
    from .model_files import _spec
    if model.optimizer is None or model.objectives is None:
        config["compile_config"] = None
        return
    training = {**model.objectives.get_config(), "optimizer": _spec(model.optimizer)}
    if include_optimizer:
        training.update(iterations=model.optimizer.iterations, epoch=model.epoch, data_seed=model.data_seed)
        state = keras_state(model, places)
        if state is not None:
            groups["optimizer"], names["optimizer"] = state, snake_name(model.optimizer)
    metadata["xdl_training"] = training
    config["compile_config"] = keras_compile(model)


def snake_name(opt):
    from .keras_config import snake
    return snake(type(opt).__name__)


# -- reading ----------------------------------------------------------------------------------------


def read_state(model, optimizer, places, reader):
    """The optimizer's variables in the file (or None when it holds none), checked now:
    ``(iterations, learning rate or None, {Parameter: {slot: array}})``."""
    if not reader.has("optimizer/vars"):
        return None
    kind, slots = type(optimizer).__name__, tuple(optimizer.slots)
    schedule = callable(optimizer._learning_rate)
    variables = trainable_vars(model, places)
    first = reader.array("optimizer/vars/0", (), "the optimizer's step count", integer=True)
    steps = int(first)
    if not 0 <= steps < 2**62:
        reader.fail(f"the optimizer's step count {steps} is out of range")
    at, lr = 1, None
    if not schedule:
        lr, at = float(reader.array("optimizer/vars/1", (), "the optimizer's learning rate")), 2
        if not (numpy.isfinite(lr) and lr > 0):
            reader.fail(f"the optimizer's learning rate {lr} is not a positive number")
    rate = lr if lr is not None else float(optimizer._learning_rate(steps))
    state = {}
    if slots and reader.count("optimizer/vars") == at:  # Keras saved it before its first step: no slots yet
        return steps, lr, state
    for var, params in variables:
        for slot in slots:
            value = reader.array(f"optimizer/vars/{at}", var.keras_shape, f"{kind}'s {slot} for {params[0].name}")
            at += 1
            if kind == "SGD":
                value = -value.astype(numpy.float64) / rate
            for p, part in zip(params, var.from_keras(value)):
                state.setdefault(p, {})[slot] = part
    if kind == "Nadam":  # its product of momentum factors: xdl works it out from the step count
        reader.array(f"optimizer/vars/{at}", (), "Nadam's momentum product")
        at += 1
    if reader.count("optimizer/vars") != at:
        reader.fail(f"the optimizer's {reader.count('optimizer/vars')} variables do not fit {kind} on this model "
                    f"({at})")
    return steps, lr, state


def read(model, config, metadata, reader, source, custom, places):
    """What compiles the model as its file says (a function to call once the weights are set),
    or None where the file holds no compile settings."""
    try:
        return _read(model, config, metadata, reader, source, custom, places)
    except ModelFileError as e:
        raise ModelFileError(f"{e}; load_model(path, compile=False) loads the model without its compile "
                             "settings") from None


def _read(model, config, metadata, reader, source, custom, places):
    from .model_files import OPTIMIZERS, _build, _restore_training
    training = metadata.get("xdl_training")
    compile_config = config.get("compile_config")
    if training is not None:
        if not isinstance(training, dict) or not isinstance(training.get("optimizer"), dict):
            source.fail(f"metadata.json: malformed xdl_training {short(training)}")
        spec = training["optimizer"]
        if isinstance(spec.get("config"), dict) and isinstance(spec["config"].get("learning_rate"), dict):
            lr = _build(source, spec["config"]["learning_rate"], schedules.SCHEDULES, "learning-rate schedule")
            spec = {**spec, "config": {**spec["config"], "learning_rate": lr}}
        probe = _build(source, spec, OPTIMIZERS, "optimizer")
        found = read_state(model, probe, places, reader)

        def apply():
            _restore_training(source, model, training, {}, "2", custom)
            _set_state(model, found, counters=False)
        return apply
    if not compile_config:
        return None
    settings = Compile(compile_config, source, custom)
    if settings.skipped:  # a metric is not worth refusing the file for (the model and its loss are whole)
        warnings.warn(f"{source.path}: metrics xdl lacks are left out: {'; '.join(settings.skipped)}", UserWarning,
                      stacklevel=6)
    found = read_state(model, settings.optimizer, places, reader)

    def apply():
        with source.refusing("compile_config does not fit the model (load_model(path, compile=False) loads "
                             "it without)"):
            model.compile(optimizer=settings.optimizer, loss=settings.loss, loss_weights=settings.loss_weights,
                          metrics=drop_skipped(settings.metrics))
        _set_state(model, found, counters=True)
    return apply


def _set_state(model, found, counters):
    if found is None:
        return
    steps, lr, state = found
    opt, be = model.optimizer, model.backend
    if counters:
        opt.iterations = steps
        if lr is not None:
            opt.learning_rate = lr
    for p, slots in state.items():
        opt.state[p] = {slot: be.asarray(value, dtype=p.dtype) for slot, value in slots.items()}
