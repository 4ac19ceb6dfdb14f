"""xdl's tests, a package whose folders mirror xdl's (core, layers, losses, optimizers, metrics, io,
train, models, backends); test modules import ``tests.helpers`` and ``tests.gradcheck``."""
