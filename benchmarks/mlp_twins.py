"""The MLP written three ways, xdl, PyTorch and plain NumPy, each as closures that run one step.

Each ``<library>_<kind>(problem, ...)`` returns a zero-argument callable: ``train`` runs one
SGD step on the batch, ``infer`` one forward pass, ``gemms`` only the matrix products a
training step needs (forward, weight gradients, and input gradients of every layer but the
first), on arrays of the same shapes and layouts.
"""

from __future__ import annotations

import numpy as np

LR = 0.01


# -- xdl ---------------------------------------------------------------------------------------
def _xdl_model(problem, be, functional=False):
    """The network as a ``Sequential``, or with ``functional`` as a ``Model`` of the same layers."""
    import xdl

    layers = []
    for i, (w, b) in enumerate(zip(problem.weights, problem.biases)):
        dense = xdl.Dense(w.shape[1], input_size=w.shape[0])
        dense.weights, dense.bias = w, b
        layers += [dense] if i == len(problem.weights) - 1 else [dense, xdl.ReLU()]
    if functional:
        t = inputs = xdl.Input(shape=(problem.sizes[0],))
        for layer in layers:
            t = layer(t)
        model = xdl.Model(inputs, t)
    else:
        model = xdl.NeuralNetwork(layers)
    loss = xdl.CrossEntropy(from_logits=True) if problem.loss == "cross_entropy" else xdl.MSE()
    model.compile(loss=loss, optimizer=xdl.SGD(LR))
    return model


def xdl_custom_train(problem, be):
    """``xdl_train`` with the layers written as a user writes them (``add_weight`` in
    ``build``, ``call`` with xdl.ops): what the tape costs against the hand-written backward."""
    import xdl
    from xdl import ops

    class UserDense(xdl.Layer):
        def __init__(self, w, b, relu):
            super().__init__()
            self.w0, self.b0, self.relu = w, b, relu

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=self.w0.shape, initializer=self.w0, name="kernel")
            self.bias = self.add_weight(shape=self.b0.shape, initializer=self.b0, name="bias")

        def call(self, x):
            y = ops.matmul(x, self.kernel) + self.bias
            return ops.relu(y) if self.relu else y

    with xdl.use_backend(be):
        last = len(problem.weights) - 1
        model = xdl.NeuralNetwork([UserDense(w, b, i < last)
                                   for i, (w, b) in enumerate(zip(problem.weights, problem.biases))])
        loss = xdl.CrossEntropy(from_logits=True) if problem.loss == "cross_entropy" else xdl.MSE()
        model.compile(loss=loss, optimizer=xdl.SGD(LR))
        x, y = be.asarray(problem.x), be.asarray(problem.target())
        model.forward(x)

    def step():
        model.train_step((x, y))
        be.synchronize()
    return step


def xdl_graph_train(problem, be):
    """``xdl_train`` with a functional ``Model`` of the same layers: what graph bookkeeping costs."""
    return xdl_train(problem, be, functional=True)


def xdl_train(problem, be, functional=False):
    import xdl

    with xdl.use_backend(be):
        model = _xdl_model(problem, be, functional)
        x, y = be.asarray(problem.x), be.asarray(problem.target())
        model.forward(x)  # builds the model and checks shapes once, as fit() does

    def step():
        model.train_step((x, y))
        be.synchronize()
    return step


def xdl_infer(problem, be):
    import xdl

    with xdl.use_backend(be):
        model = _xdl_model(problem, be)
        x = be.asarray(problem.x)
        model.forward(x)

    def step():
        model.call(x, False)
        be.synchronize()
    return step


def xdl_gemms(problem, be):
    return _gemms(problem, be.asarray, be.synchronize)


def _gemms(problem, put, sync):
    """The GEMMs of one training step alone, on arrays ``put`` makes from host arrays."""
    xs = [put(np.ones((problem.batch, w.shape[0]), np.float32)) for w in problem.weights]
    dys = [put(np.ones((problem.batch, w.shape[1]), np.float32)) for w in problem.weights]
    ws = [put(w) for w in problem.weights]

    def step():
        for x, w in zip(xs, ws):
            x @ w
        for i, (x, dy, w) in enumerate(zip(xs, dys, ws)):
            x.T @ dy
            if i:
                dy @ w.T
        sync()
    return step


# -- PyTorch -----------------------------------------------------------------------------------
def _torch_device(torch, be):
    cuda = be.name == "cupy" or str(be.device).startswith("cuda")
    return torch.device("cuda" if cuda else "cpu")


def _torch_model(problem, torch, be):
    device = _torch_device(torch, be)
    layers = []
    for i, (w, b) in enumerate(zip(problem.weights, problem.biases)):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin] if i == len(problem.weights) - 1 else [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers).to(device)
    x = torch.from_numpy(problem.x).to(device)
    y = torch.from_numpy(problem.target()).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return model, x, y, sync


def torch_train(problem, torch, be):
    model, x, y, sync = _torch_model(problem, torch, be)
    loss_fn = torch.nn.CrossEntropyLoss() if problem.loss == "cross_entropy" else torch.nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        sync()
    return step


def torch_infer(problem, torch, be):
    model, x, _, sync = _torch_model(problem, torch, be)

    def step():
        with torch.inference_mode():
            model(x)
        sync()
    return step


def torch_gemms(problem, torch, be):
    device = _torch_device(torch, be)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return _gemms(problem, lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device), sync)


# -- plain NumPy -------------------------------------------------------------------------------
def numpy_train(problem):
    ws = [w.copy() for w in problem.weights]
    bs = [b.copy() for b in problem.biases]
    x, target, n = problem.x, problem.target(), problem.batch
    ce = problem.loss == "cross_entropy"

    def step():
        acts = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = acts[-1] @ w + b
            acts.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
        out = acts[-1]
        if ce:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            -np.log(p[np.arange(n), target]).mean()
            p[np.arange(n), target] -= 1
            dy = p / n
        else:
            diff = out - target
            (diff * diff).mean()
            dy = diff * (2 / diff.size)
        for i in range(len(ws) - 1, -1, -1):
            dw, db = acts[i].T @ dy, dy.sum(axis=0)
            if i:
                dy = (dy @ ws[i].T) * (acts[i] > 0)
            ws[i] -= LR * dw
            bs[i] -= LR * db
    return step


def numpy_infer(problem):
    ws, bs, x = problem.weights, problem.biases, problem.x

    def step():
        h = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w + b
            if i < len(ws) - 1:
                h = np.maximum(h, 0)
        return h
    return step


def numpy_gemms(problem):
    return _gemms(problem, lambda a: a, lambda: None)
