"""fit/evaluate/predict on streams of batches (generators, iterables, Sequences), prefetched by a
background thread; predict and evaluate on arrays in bounded batches."""

from __future__ import annotations

import itertools
import threading
import traceback

import numpy as np
import pytest

import xdl
import xdl.data
from tests.helpers import assert_close

N, F, C, BATCH = 96, 6, 3, 16


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, F))
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64)


def model(seed=0):
    xdl.seed(seed)
    net = xdl.NeuralNetwork([xdl.Dense(input_size=F, output_size=8), xdl.ReLU(), xdl.Dense(output_size=C)])
    net.compile(loss="cross_entropy", optimizer=xdl.Adam(0.01), metrics=["accuracy"])
    return net


def weights(net):
    return [xdl.to_numpy(p.value) for p in net.parameters()]


def generator(X, y, batch=BATCH, w=None):
    for i in range(0, len(X), batch):
        yield (X[i:i + batch], y[i:i + batch]) if w is None else (X[i:i + batch], y[i:i + batch], w[i:i + batch])


class Batches(xdl.data.Sequence):
    def __init__(self, X, y, batch=BATCH):
        self.X, self.y, self.batch, self.epochs_ended, self.read = X, y, batch, 0, []

    def __len__(self):
        return -(-len(self.X) // self.batch)

    def __getitem__(self, i):
        self.read.append(i)
        return self.X[i * self.batch:(i + 1) * self.batch], self.y[i * self.batch:(i + 1) * self.batch]

    def on_epoch_end(self):
        self.epochs_ended += 1


class Again:
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        return generator(self.X, self.y)


@pytest.mark.parametrize("kind", ["generator", "sequence", "iterable"])
def test_a_stream_trains_exactly_as_the_same_arrays_in_order(be, kind):
    X, y = data()
    reference = model()
    want = reference.fit(X, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    net = model()
    if kind == "generator":  # an endless generator, cut into epochs by steps_per_epoch
        stream = itertools.cycle(list(generator(X, y)))
        got = net.fit(stream, epochs=2, steps_per_epoch=N // BATCH, verbose=0)
    elif kind == "sequence":
        stream = Batches(X, y)
        got = net.fit(stream, epochs=2, verbose=0)
        assert stream.epochs_ended == 2
    else:  # an iterable (not an iterator): iterated anew each epoch
        got = net.fit(Again(X, y), epochs=2, verbose=0)
    for a, b in zip(weights(net), weights(reference)):
        assert_close(a, b, rtol=1e-6, atol=1e-7)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6)


def test_evaluate_and_predict_on_streams_match_arrays(be):
    X, y = data()
    net = model()
    net.fit(X, y, epochs=1, verbose=0)
    want = net.evaluate(X, y, return_dict=True)
    got = net.evaluate(generator(X, y, batch=10), return_dict=True)
    assert got == pytest.approx(want, rel=1e-6)
    assert_close(net.predict(generator(X, y)), net.predict(X), rtol=1e-6)
    assert_close(net.predict((x for x, _ in generator(X, y))), net.predict(X), rtol=1e-6)  # x alone
    assert_close(net.predict(Batches(X, y)), net.predict(X), rtol=1e-6)


def test_validation_stream_and_steps():
    X, y = data()
    net = model()
    val = Batches(X[:40], y[:40], batch=8)
    history = net.fit(generator(X, y), epochs=1, validation_data=val, validation_steps=3, verbose=0)
    assert val.read == [0, 1, 2] and val.epochs_ended == 1  # a validation Sequence hears of each pass
    expected = net.evaluate(X[:24], y[:24], return_dict=True)
    assert history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-6)


def test_an_error_in_the_generator_comes_out_of_fit_with_its_traceback():
    X, y = data()

    def broken():
        yield X[:BATCH], y[:BATCH]
        yield X[BATCH:2 * BATCH], y[BATCH:2 * BATCH]
        raise KeyError("row 7 is missing")

    before = threading.active_count()
    with pytest.raises(KeyError, match="row 7 is missing") as info:
        model().fit(broken(), epochs=1, verbose=0)
    frames = [frame.f_code.co_name for frame, _ in traceback.walk_tb(info.value.__traceback__)]
    assert "broken" in frames  # where it was raised, in the user's code
    assert threading.active_count() == before  # the prefetch thread has ended


def test_prefetching_holds_a_few_batches_only():
    X, y = data()
    made, trained = [], []

    def counted():
        for k, batch in enumerate(itertools.cycle(list(generator(X, y, batch=4)))):
            made.append(k)
            yield batch

    class Count(xdl.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            trained.append(len(made) - batch)  # batches drawn but not yet trained

    model().fit(counted(), epochs=1, steps_per_epoch=20, prefetch=2, verbose=0, callbacks=[Count()])
    assert len(trained) == 20 and max(trained) <= 2 + 2  # the queue, the one being moved, the one training
    assert len(made) <= 20 + 2


def test_a_spent_generator_stops_training_with_a_warning():
    X, y = data()
    with pytest.warns(RuntimeWarning, match="ran out of batches"):
        history = model().fit(generator(X, y), epochs=3, verbose=0)
    assert len(history["loss"]) == 1
    with pytest.warns(RuntimeWarning, match="before steps_per_epoch=10"):
        history = model().fit(generator(X, y), epochs=3, steps_per_epoch=10, verbose=0)
    assert len(history["loss"]) == 1


def test_stream_mistakes_are_named():
    X, y = data()
    with pytest.raises(ValueError, match="pass y=None"):
        model().fit(generator(X, y), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model().fit(generator(X, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="without targets"):
        model().fit((x for x, _ in generator(X, y)), verbose=0)
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 2\]"):
        model().fit(generator(X, y + 5), verbose=0)
    with pytest.raises(ValueError, match="yielded no batch"):
        model().fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match="prefetch must be"):
        model().fit(generator(X, y), prefetch=-1, verbose=0)


def test_sample_weights_come_in_the_batches(be):
    X, y = data()
    w = np.random.default_rng(3).uniform(0.0, 2.0, N)
    a = model()  # built on first use: one model at a time, from the same seed
    a.fit(X, y, sample_weight=w, shuffle=False, batch_size=BATCH, epochs=1, verbose=0)
    b = model()
    b.fit(generator(X, y, w=w), epochs=1, verbose=0)
    for p, q in zip(weights(a), weights(b)):
        assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_predict_and_evaluate_run_bounded_batches_by_default(monkeypatch):
    X, y = data()
    net = model()
    net.fit(X, y, epochs=1, verbose=0)
    whole = xdl.to_numpy(net.predict(X, batch_size=N))
    whole_scores = net.evaluate(X, y, batch_size=N, return_dict=True)
    monkeypatch.setattr(xdl.data, "DEFAULT_BATCH_SIZE", 10)
    monkeypatch.setattr("xdl.train.loop.DEFAULT_BATCH_SIZE", 10)
    sizes, infer = [], net.graph.infer

    def recording(xs, *args):
        sizes.append(xs[0].shape[0])
        return infer(xs, *args)

    monkeypatch.setattr(net.graph, "infer", recording)
    assert_close(net.predict(X), whole, rtol=1e-6, atol=1e-7)
    assert max(sizes) == 10 and sum(sizes) == N
    assert net.evaluate(X, y, return_dict=True) == pytest.approx(whole_scores, rel=1e-6)


def test_stream_is_told_from_data():
    assert not xdl.data.is_stream(np.zeros((3, 2)))
    assert not xdl.data.is_stream([[1.0, 2.0]])
    assert not xdl.data.is_stream({"a": np.zeros((3, 2))})
    assert xdl.data.is_stream(iter([]))
    assert xdl.data.is_stream(x for x in [])
    assert xdl.data.is_stream(Batches(np.zeros((3, 2)), np.zeros(3)))


def test_stream_memory_benchmark_runs_on_a_few_rows():
    from benchmarks import stream_memory

    args = stream_memory.parse(["--rows", "300", "--width", "8", "--batch-size", "64", "--time-rows", "128",
                                "--repeats", "1"])
    mem = stream_memory.memory(args)
    assert mem["rows"] == 300 and mem["peak_rss_mb"] >= mem["peak_rss_before_fit_mb"] > 0
    assert stream_memory.overhead(args)["stream_over_array"] > 0  # a figure, not a claim: no timing asserted
