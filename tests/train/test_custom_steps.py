"""Gradients on demand in the three styles Keras users write (TensorFlow's GradientTape,
PyTorch's backward, JAX's grad), ``compute_loss``, ``optimizer.apply``/``apply_gradients``,
subclassed models, and a train_step of two models that ``fit`` feeds x alone (a GAN)."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host, step_gradients
from xdl import ops

RNG = np.random.default_rng(0)
X = RNG.standard_normal((32, 4))
Y = X @ np.array([[1.0], [-1.0], [0.5], [2.0]])


def functional(cls=xdl.Model, dtype="float64"):
    xdl.seed(1)
    inputs = xdl.Input(shape=(4,))
    hidden = xdl.Dense(units=6, activation="tanh", dtype=dtype)(inputs)
    model = cls(inputs, xdl.Dense(units=1, dtype=dtype)(hidden))
    model.compile(loss="mse", optimizer=xdl.SGD(0.05))
    return model


def test_three_styles_give_the_built_in_steps_gradients(be):
    with xdl.use_floatx("float64"):
        model = functional()
    x, y = be.asarray(X), be.asarray(Y)
    step_gradients(model, [x], [y])
    expected = [host(p.grad) for p in model.trainable_weights]
    with xdl.GradientTape() as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    taped = tape.gradient(loss, model.trainable_weights)
    model.zero_grad()
    model.compute_loss(y=y, y_pred=model(x, training=True)).backward()
    backward = [p.grad for p in model.trainable_weights]

    def loss_of(weights):
        for p, w in zip(model.trainable_weights, weights):
            p.assign(w)
        return model.compute_loss(y=y, y_pred=model(x, training=True))

    jaxed = xdl.grad(lambda ws: loss_of(ws))([p.value for p in model.trainable_weights])
    for want, a, b, c in zip(expected, taped, backward, jaxed):
        assert_close(a, want, rtol=1e-10, atol=1e-12)
        assert_close(b, want, rtol=1e-10, atol=1e-12)


def test_tape_gradient_leaves_grad_alone_and_backward_accumulates(be):
    w = xdl.Variable(np.array([1.0, 2.0]), dtype="float64")
    w.grad = None
    with xdl.GradientTape(persistent=True) as tape:
        loss = ops.sum(w * w)
    assert_close(tape.gradient(loss, w), [2.0, 4.0], rtol=0, atol=0)
    assert_close(tape.gradient(loss, [w])[0], [2.0, 4.0], rtol=0, atol=0)
    assert w.grad is None
    loss.backward()
    loss.backward()
    assert_close(w.grad, [4.0, 8.0], rtol=0, atol=0)
    with xdl.GradientTape() as once:
        again = ops.sum(w * 3.0)
    once.gradient(again, w)
    with pytest.raises(xdl.ArgumentError, match="persistent"):
        once.gradient(again, w)


def test_watch_and_unrelated_sources(be):
    x = be.asarray(np.array([0.5, -1.0]))
    other = xdl.Variable(np.ones(2), dtype="float64")
    with xdl.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.sin(x))
    dx, dother = tape.gradient(y, [x, other])
    assert_close(dx, np.cos([0.5, -1.0]), rtol=1e-12, atol=0)
    assert dother is None


@pytest.mark.parametrize("style", ["apply", "apply_gradients"])
def test_a_tape_step_trains_through_fit(be, style):
    class Taped(xdl.Model):
        def train_step(self, data):
            x, y = data
            with xdl.GradientTape() as tape:
                loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            grads = tape.gradient(loss, self.trainable_variables)
            if style == "apply":
                self.optimizer.apply(grads, self.trainable_variables)
            else:
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    model = functional(Taped, dtype=None)
    model.compile(loss="mse", optimizer=xdl.Adam(0.02))
    losses = model.fit(X.astype(np.float32), Y.astype(np.float32), epochs=15, verbose=0).history["loss"]
    assert losses[-1] < 0.3 * losses[0]


def test_a_backward_step_trains_through_fit(be):
    class Torchy(xdl.Model):
        def train_step(self, data):
            x, y = data
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            self.zero_grad()
            loss.backward()
            self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
            return {"loss": loss}

    model = functional(Torchy, dtype=None)
    model.compile(loss="mse", optimizer=xdl.Adam(0.02))
    losses = model.fit(X.astype(np.float32), Y.astype(np.float32), epochs=15, verbose=0).history["loss"]
    assert losses[-1] < 0.3 * losses[0]


class TwoLayer(xdl.Model):
    """Keras's subclassed model: layers in __init__, call, a weight of its own."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = xdl.Dense(units=8, activation="tanh")
        self.out = xdl.Dense(units=1)
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x, training=False):
        return self.out(self.hidden(x)) * self.scale


def test_subclassed_model_fits_predicts_and_lists_its_layers(be):
    xdl.seed(2)
    model = TwoLayer()
    model.compile(loss="mse", optimizer=xdl.Adam(0.02))
    losses = model.fit(X.astype(np.float32), Y.astype(np.float32), epochs=20, verbose=0).history["loss"]
    assert losses[-1] < 0.3 * losses[0]
    assert [layer.name for layer in model.layers] == [model.hidden.name, model.out.name]
    assert [v.name for v in model.trainable_weights] == ["scale", "weights", "bias", "weights", "bias"]
    assert tuple(model.predict(X[:3]).shape) == (3, 1)


def test_a_two_model_step_fed_x_alone(be):
    """A GAN's shape: fit(x) with no targets hands x to the step, which trains two models
    with their own optimizers; the logs are what it returns."""
    xdl.seed(3)
    generator = xdl.Sequential([xdl.Dense(8, input_size=2), xdl.ReLU(), xdl.Dense(4, input_size=8)])
    critic = xdl.Sequential([xdl.Dense(8, input_size=4), xdl.ReLU(), xdl.Dense(1, input_size=8)])

    class Pair(xdl.Model):
        def __init__(self):
            super().__init__()
            self.generator, self.critic = generator, critic
            self.g_opt, self.c_opt = xdl.Adam(0.01), xdl.Adam(0.01)
            self.draw = xdl.get_backend().random_uniform(0)

        def train_step(self, real):
            z = self.draw((real.shape[0], 2), real.dtype)
            with xdl.GradientTape() as tape:
                c_loss = ops.mean(ops.square(self.critic(real) - 1.0)) + ops.mean(ops.square(
                    self.critic(self.generator(z))))
            self.c_opt.apply(tape.gradient(c_loss, self.critic.trainable_weights), self.critic.trainable_weights)
            with xdl.GradientTape() as tape:
                g_loss = ops.mean(ops.square(self.critic(self.generator(z)) - 1.0))
            self.g_opt.apply(tape.gradient(g_loss, self.generator.trainable_weights),
                             self.generator.trainable_weights)
            return {"c_loss": c_loss, "g_loss": g_loss}

    pair = Pair()
    pair.compile()
    before = [host(p.value).copy() for p in generator.trainable_weights + critic.trainable_weights]
    history = pair.fit(RNG.standard_normal((64, 4)).astype(np.float32), epochs=2, batch_size=16, verbose=0)
    assert set(history.history) == {"c_loss", "g_loss"}
    after = [host(p.value) for p in generator.trainable_weights + critic.trainable_weights]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    assert len(pair.trainable_weights) == 8


def test_optimizer_apply_errors():
    opt = xdl.SGD(0.1)
    with pytest.raises(xdl.ArgumentTypeError, match="pass the variables"):
        opt.apply([np.ones(2)])
    with pytest.raises(xdl.ArgumentError, match="1 gradients for 2 variables"):
        opt.apply([np.ones(2)], [xdl.Variable(np.ones(2)), xdl.Variable(np.ones(2))])


def test_a_model_of_several_outputs_records_as_one_step(be):
    xdl.seed(4)
    inputs = xdl.Input(shape=(4,))
    hidden = xdl.Dense(units=3, activation="tanh")(inputs)
    two = xdl.Model(inputs, [xdl.Dense(units=2)(hidden), xdl.Dense(units=1)(hidden)])
    x = X.astype(np.float32)
    with xdl.GradientTape() as tape:
        a, b = two(x, training=True)
        loss = ops.sum(a * a) + ops.mean(b)
    grads = tape.gradient(loss, two.trainable_weights)
    assert all(g is not None for g in grads)
    b_only = tape_gradients(two, x, lambda a, b: ops.mean(b))
    assert np.all(host(b_only[2]) == 0)  # the first output's Dense gets nothing from the second's loss


def tape_gradients(model, x, loss_of):
    with xdl.GradientTape() as tape:
        loss = loss_of(*model(x, training=True))
    return [g if g is not None else np.zeros(p.shape) for g, p in zip(tape.gradient(loss, model.trainable_weights),
                                                                        model.trainable_weights)]


def test_a_user_layer_of_two_inputs_and_two_outputs(be):
    class Sampling(xdl.Layer):
        def call(self, inputs):
            mean, log_var = inputs
            return [mean + ops.exp(0.5 * log_var), ops.sum(log_var, axis=-1, keepdims=True)]

    inputs = xdl.Input(shape=(4,))
    z, kl = Sampling()([xdl.Dense(units=2)(inputs), xdl.Dense(units=2)(inputs)])
    assert z.shape == (None, 2) and kl.shape == (None, 1)
    model = xdl.Model(inputs, xdl.Dense(units=1)(z))
    model.compile(loss="mse", optimizer=xdl.Adam(0.01))
    losses = model.fit(X.astype(np.float32), Y.astype(np.float32), epochs=10, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
