"""The gradient check: what a backward pass gives against central differences, in float64.

``check_gradients(subject, x, be, ...)`` serves every test that checks gradients:

- a layer (``y=None``): ``x`` one input or a list of them (``multiple_inputs`` layers, attention's
  query, value, key and mask); the objective is ``sum_k sum(output_k * R_k)`` over every output (a
  tuple for ``return_state`` or ``return_attention_scores``) for fixed random ``R_k``; the analytic
  gradients come from the layer's ``apply`` and its ``backprop`` (what a model runs), the numeric
  ones from ``call``. ``initial_state`` (a list of arrays) makes a recurrent layer's initial states
  inputs too. One array passed at several places (self-attention's ``[x, x, x]``) is one input:
  perturbed at every place at once, its gradients summed.
- a compiled model (``y`` given): the total loss as compiled (weighted losses and penalties
  included); the analytic gradients of the parameters are those one ``model.train_step`` forms
  (without its update), the inputs' those of the compiled loss; ``x``, ``y`` and ``sample_weight``
  one array or a list per input and output.
- a loss (``y`` the targets): the loss value, its gradient ``loss.backward()`` w.r.t. ``x``.

Every float input is checked (integer and boolean ones, such as token ids and masks, are data),
and the trainable parameters named by ``params``: True for all of them, by path as
``named_parameters()`` gives them ("dense/weights", "forward_gru/kernel"), a list of paths for some,
False for none. Errors name the subject and the parameter's path or the input.
"""

from __future__ import annotations

import numpy as np

import xdl
from tests.helpers import host, loss_input_gradients, model_loss, step_gradients

CONSTANT_KINDS = "iub"  # integer and boolean inputs: indices and masks, never perturbed


def numeric_gradient(objective, value, install, eps=1e-6):
    """d objective / d value by central differences; ``install(array)`` puts a perturbed copy in place."""
    value = np.array(value, dtype=np.float64, order="C")  # reshape(-1) below must be a view
    grad = np.zeros_like(value)
    flat, gflat = value.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        install(value)
        plus = objective()
        flat[i] = original - eps
        install(value)
        minus = objective()
        flat[i] = original
        gflat[i] = (plus - minus) / (2 * eps)
    install(value)
    return grad


def check_gradients(subject, x, be, *, y=None, sample_weight=None, initial_state=None, params=True,
                    training=True, rtol=1e-5, atol=1e-7, seed=0, eps=1e-6, **flags):
    """Check ``subject``'s gradients (a layer, a compiled model or a loss; see the module doc)
    against central differences; ``flags``: a layer's call arguments (``use_causal_mask=True``).
    Returns what the analytic pass computed: the layer's output, the model's batch loss (a 0-d
    array, penalties included), the loss's value."""
    several = isinstance(x, (list, tuple))
    inputs = _Inputs(be, list(x) if several else [x])
    name = subject.describe() if hasattr(subject, "describe") else repr(subject)
    if isinstance(subject, xdl.losses.Loss):
        objective, chosen, analytic, result = _loss_pass(subject, be, inputs, y, sample_weight)
    elif y is not None:
        objective, chosen, analytic, result = _model_pass(subject, be, inputs, y, sample_weight, params, name)
    else:
        objective, chosen, analytic, result = _layer_pass(subject, be, inputs, several, initial_state, training,
                                                          seed, flags, params, name)
    for path, (p, grad) in chosen.items():
        assert p.dtype == be.xp.float64, f"{name}: {path} is {p.dtype}; check gradients in float64"
        _compare(name, f"parameter {path!r}", grad, objective, host(p.value),
                 lambda v, p=p: setattr(p, "value", be.asarray(v, dtype=be.xp.float64)), rtol, atol, eps)
    for label, group, grad in analytic:
        _compare(name, label, grad, objective, host(inputs.arrays[group[0]]),
                 lambda v, group=group: inputs.install(group, v), rtol, atol, eps)
    return result


class _Inputs:
    """The inputs on the backend, in float64 (integers and booleans as they are); one host array
    given at several places is one backend array at each of them, and one input to check."""

    def __init__(self, be, values):
        self.be, self.arrays, self.groups, self.states, first = be, [], [], 0, {}
        for k, value in enumerate(values):
            if id(value) in first:
                self.arrays.append(self.arrays[first[id(value)]])
                next(g for g in self.groups if g[0] == first[id(value)]).append(k)
                continue
            first[id(value)] = k
            array = be.asarray(value)
            if host(array).dtype.kind in CONSTANT_KINDS:
                self.arrays.append(array)
            else:
                self.arrays.append(be.asarray(value, dtype=be.xp.float64))
                self.groups.append([k])

    def add_states(self, states):
        for s in states:
            self.arrays.append(self.be.asarray(s, dtype=self.be.xp.float64))
            self.groups.append([len(self.arrays) - 1])
        self.states = len(states)

    def install(self, group, value):
        array = self.be.asarray(value, dtype=self.be.xp.float64)
        for k in group:
            self.arrays[k] = array

    def label(self, group):
        n = len(self.arrays) - self.states
        if group[0] >= n:
            return f"initial_state[{group[0] - n}]"
        if len(group) > 1:
            return f"inputs {', '.join(map(str, group))} (one array)"
        return f"input {group[0]}" if n > 1 else "input"

    def analytic(self, grads):
        """(label, group, host gradient) per input to check; ``grads`` one per place (None: zeros)."""
        return [(self.label(g), g, _summed([grads[k] for k in g], self.arrays[g[0]])) for g in self.groups]


def _layer_pass(layer, be, inputs, several, initial_state, training, seed, flags, params, name):
    inputs.add_states(list(initial_state or ()))
    n = len(inputs.arrays) - inputs.states

    def arguments():
        x = inputs.arrays[:n] if several else inputs.arrays[0]
        return x, {**flags, **({"initial_state": inputs.arrays[n:]} if inputs.states else {})}

    accepted = layer.accept(arguments()[0])  # built on first use, as forward would
    accepted = list(accepted) if several else [accepted]
    checked = {k for g in inputs.groups for k in g}
    for k in range(n):  # data (indices, masks) as the layer takes it: cast as forward would
        if k not in checked:
            inputs.arrays[k] = accepted[k]
    x, kwargs = arguments()
    layer.zero_grad()
    out, backprop = layer.apply(x, training, **kwargs)
    outs = out if isinstance(out, tuple) else (out,)
    assert all(o.dtype == be.xp.float64 for o in outs), f"{name} computed in {outs[0].dtype}, not float64"
    rng = np.random.default_rng(seed)
    R = [rng.standard_normal(tuple(o.shape)) for o in outs]
    dys = tuple(be.asarray(r, dtype=be.xp.float64) for r in R)
    grads = backprop(dys if len(dys) > 1 else dys[0])
    if inputs.states:  # the backprop gives [dx, *d_states]: the states given are inputs too
        grads = (list(grads[0]) if several else [grads[0]]) + list(grads[1:])
    elif not several:
        grads = [grads]

    def objective():
        x, kwargs = arguments()
        o = layer.infer(x, training, **kwargs)
        return sum(float(np.sum(host(a) * r)) for a, r in zip(o if isinstance(o, tuple) else (o,), R))

    return objective, _chosen(layer, params, name), inputs.analytic(grads), out


def _targets(be, values):
    return [None if t is None else be.asarray(t) if host(be.asarray(t)).dtype.kind in CONSTANT_KINDS
            else be.asarray(t, dtype=be.xp.float64) for t in values]


def _listed(value):
    return None if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _model_pass(model, be, inputs, y, sample_weight, params, name):
    ys, weights = _targets(be, _listed(y)), _listed(sample_weight)
    loss = step_gradients(model, inputs.arrays, ys, weights)
    chosen = _chosen(model, params, name)  # before the inputs' backward below adds to the grads
    assert chosen or params is False, f"{name}: no trainable parameter to check"

    def objective():
        return float(host(model_loss(model, inputs.arrays, ys, weights)))

    grads = loss_input_gradients(model, inputs.arrays, ys, weights) if inputs.groups else []
    return objective, chosen, inputs.analytic(grads), loss


def _loss_pass(loss, be, inputs, y, sample_weight):
    (t,) = _targets(be, [y])
    value = loss.forward(t, inputs.arrays[0], sample_weight=sample_weight)
    analytic = [("y_pred", g, host(loss.backward())) for g in inputs.groups]

    def objective():
        return float(host(loss.forward(t, inputs.arrays[0], sample_weight=sample_weight)))

    return objective, {}, analytic, value


def _summed(grads, like):
    """The gradient of one input used at several places: the sum of its uses' (None: zeros)."""
    total = np.zeros(tuple(like.shape))
    for g in grads:
        if g is not None:
            total = total + host(g)
    return total


def _chosen(subject, params, name):
    """{path: (Parameter, host copy of its gradient now)} for the trainable parameters ``params``
    names (see the module doc)."""
    if params is False:
        return {}
    named = {path: p for path, p in subject.named_parameters().items() if p.trainable}
    covered = {id(p) for p in named.values()}
    for k, p in enumerate(subject.parameters()):  # one no path names is checked by position
        if p.trainable and id(p) not in covered:
            named[f"{p.name}#{k}"] = p
            covered.add(id(p))
    if params is not True:
        unknown = [path for path in params if path not in named]
        assert not unknown, f"{name}: no trainable parameter {unknown}; paths: {sorted(named)}"
        named = {path: named[path] for path in params}
    return {path: (p, np.zeros(p.shape) if p.grad is None else host(p.grad)) for path, p in named.items()}


def _compare(name, label, analytic, objective, value, install, rtol, atol, eps):
    expected = numeric_gradient(objective, value, install, eps)
    np.testing.assert_allclose(analytic, expected, rtol=rtol, atol=atol, err_msg=f"{name}: gradient of {label}")
