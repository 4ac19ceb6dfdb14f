"""xdl: deep learning written once against the Python array API; runs on NumPy, CuPy,
PyTorch and array-api-strict.

The package is built in floors, each importing only those below it (tests/test_architecture.py
holds the order): ``core`` (the backend seam, parameters, symbolic tensors), ``layers``,
``losses``/``optimizers``, ``metrics``, ``io`` (model files), ``train`` (the step, the loop,
callbacks, data parallelism) and ``models`` (graphs, ``Model``, ``Sequential``).
"""

__version__ = "0.1.0"

import sys as _sys

from . import layers, losses, metrics, optimizers
from .core import activations, initializers, ops, regularizers
from .core import random as random
from .core.backend import (available_backends, floatx, get_backend, set_backend, set_floatx, to_numpy, use_backend,
                           use_floatx)
from .core.parameter import Parameter
from .core.variable import Variable
from .core.random import seed
from .core.tape import GradientTape, Tensor, grad, value_and_grad
from .core.symbolic import Input, SymbolicTensor
from .errors import (ArgumentError, ArgumentTypeError, BackendError, DependencyError, ExportError, IndexRangeError, InputError,
                     MissingMethodError, ModelFileError, NotBuiltError, NotFoundError, ShapeError, XdlError)
from .io.files import ModelLoadError, ModelSaveError
from .io.weights import export_weights, import_weights
from .layers import (ELU, GELU, GRU, LSTM, Activation, Add, Average, AveragePooling1D, AveragePooling2D, AvgPool1D,
                     AvgPool2D, BatchNorm, Bidirectional, Concatenate, Conv1D, Conv2D, Conv2DTranspose, Cropping2D,
                     Dense, DepthwiseConv2D, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                     GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, GRUCell, Layer, LayerNorm,
                     LeakyReLU, LSTMCell, Masking, Maximum, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D, Minimum,
                     Mish, MultiHeadAttention, Multiply, PositionEmbedding, ReLU, Reshape, SeparableConv2D, Sigmoid,
                     SiLU, SimpleRNN, SimpleRNNCell, Softmax, Softplus, Softsign, Subtract, Swish, Tanh,
                     TransformerBlock, UpSampling2D, ZeroPadding2D, register_layer)
from .layers import BatchNormalization, LayerNormalization
from .losses import (MAE, MSE, BinaryCrossEntropy, CategoricalCrossEntropy, CrossEntropy, Huber, Loss,
                     MeanAbsoluteError, MeanSquaredError, SparseCategoricalCrossEntropy)
from .metrics import AUC, Accuracy, F1Score, Mean, Precision, Recall, RootMeanSquaredError, Sum, TopKAccuracy
from .models.generation import generate
from .io import config, utils
from .models import saving
from .models.model import Model
from .models.sequential import NeuralNetwork, Sequential
from .optimizers import SGD, Adagrad, Adam, AdamW, Lion, Nadam, Optimizer, RMSprop, schedules
from .optimizers.schedules import CosineDecay, ExponentialDecay, Schedule, StepDecay
from .train import callbacks, data, distributed
from .train.callbacks import (Callback, CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
                              ModelCheckpoint, ReduceLROnPlateau, TensorBoard, TerminateOnNaN)
from .train.distributed import DataParallel
from .train.history import History

# The namespaces users import by module path (``from xdl.callbacks import EarlyStopping``) live
# inside the floors; each is also reachable under its short name.
for _name, _module in {"callbacks": callbacks, "data": data, "distributed": distributed, "schedules": schedules,
                       "regularizers": regularizers, "initializers": initializers, "ops": ops, "random": random,
                       "activations": activations, "utils": utils, "saving": saving, "config": config,
                       "backend": config}.items():
    _sys.modules[f"{__name__}.{_name}"] = _module

__all__ = [
    "__version__", "available_backends", "floatx", "get_backend", "set_backend", "set_floatx", "to_numpy",
    "use_backend", "use_floatx", "seed", "activations", "utils", "saving", "random", "models",
    "XdlError", "ArgumentError", "ArgumentTypeError", "BackendError", "ShapeError", "NotBuiltError", "ModelFileError",
    "ModelSaveError", "ModelLoadError", "IndexRangeError", "InputError", "NotFoundError", "MissingMethodError",
    "DependencyError", "ExportError",
    "Parameter", "Variable", "Tensor", "GradientTape", "grad", "value_and_grad", "ops", "Layer", "register_layer",
    "Input", "SymbolicTensor",
    "Dense", "Activation", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "ELU", "GELU", "Mish", "SiLU", "Swish",
    "Softplus", "Softsign", "Dropout", "BatchNorm", "LayerNorm", "Flatten", "Reshape", "Masking",
    "BatchNormalization", "LayerNormalization",
    "Conv2D", "Conv1D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "MaxPool2D", "MaxPooling2D",
    "AvgPool2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPool1D", "MaxPooling1D",
    "AvgPool1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "UpSampling2D",
    "ZeroPadding2D", "Cropping2D",
    "Embedding", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", "Bidirectional",
    "MultiHeadAttention", "PositionEmbedding", "TransformerBlock",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "Loss", "MSE", "MeanSquaredError", "MAE", "MeanAbsoluteError", "Huber", "CrossEntropy",
    "CategoricalCrossEntropy", "SparseCategoricalCrossEntropy", "BinaryCrossEntropy",
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Lion",
    "Schedule", "StepDecay", "ExponentialDecay", "CosineDecay",
    "Model", "NeuralNetwork", "Sequential", "History", "generate",
    "Callback", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "TerminateOnNaN", "CSVLogger",
    "LambdaCallback", "ReduceLROnPlateau", "TensorBoard",
    "Accuracy", "TopKAccuracy", "AUC", "F1Score", "Precision", "Recall", "RootMeanSquaredError", "Mean", "Sum",
    "DataParallel", "export_weights", "import_weights",
    "layers", "losses", "metrics", "optimizers", "schedules", "callbacks", "data", "distributed", "regularizers",
    "initializers", "config",
]
backend = config  # keras.backend: the same settings
utils.PyDataset, utils.Sequence = data.PyDataset, data.Sequence  # keras.utils' names (the class lives in train/)
utils.__all__ = [*utils.__all__, "PyDataset", "Sequence"]
