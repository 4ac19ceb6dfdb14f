"""xdl: deep learning written once against the Python array API; runs on NumPy, CuPy,
PyTorch and array-api-strict."""

__version__ = "0.1.0"

from ._backend import (available_backends, floatx, get_backend, set_backend, set_floatx, to_numpy,
                       use_backend, use_floatx)
from . import callbacks, data, metrics, schedules
from .callbacks import Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, TerminateOnNaN
from .callbacks import CSVLogger, LambdaCallback, ReduceLROnPlateau
from .errors import BackendError, IndexRangeError, InputError, ModelFileError, NotBuiltError, ShapeError, XdlError
from .layers import (Activation, BatchNorm, Dense, Dropout, Layer, LayerNorm, LeakyReLU, ReLU, Sigmoid, Softmax,
                     Tanh, register_layer)
from .layers.conv import Conv2D
from .layers.pooling import AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, MaxPool2D, MaxPooling2D
from .layers.reshape import Flatten, Reshape
from .layers import GRU, LSTM, Embedding, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from .layers import Bidirectional, Masking
from . import regularizers
from .losses import (MAE, MSE, BinaryCrossEntropy, CategoricalCrossEntropy, CrossEntropy, Huber, Loss,
                     MeanAbsoluteError, MeanSquaredError, SparseCategoricalCrossEntropy)
from .layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .model import Model
from .network import NeuralNetwork, Sequential
from .symbolic import Input, SymbolicTensor
from .optimizers import SGD, Adagrad, Adam, AdamW, Lion, Nadam, Optimizer, RMSprop
from .parameter import Parameter
from .random import seed
from .schedules import CosineDecay, ExponentialDecay, Schedule, StepDecay
from .history import History
from .weights import export_weights, import_weights
from .io import ModelSaveError
from . import distributed
from .distributed import DataParallel
from .metrics import Accuracy, TopKAccuracy
from .metrics import AUC, F1Score, Precision, Recall, RootMeanSquaredError  # the MSE metric: xdl.metrics.MeanSquaredError

__all__ = [
    "__version__", "available_backends", "floatx", "get_backend", "set_backend", "set_floatx",
    "to_numpy", "use_backend", "use_floatx", "seed",
    "XdlError", "BackendError", "ShapeError", "NotBuiltError", "ModelFileError", "ModelSaveError",
    "IndexRangeError", "InputError",
    "Parameter", "Layer", "register_layer", "Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "Dropout", "BatchNorm", "LayerNorm",
    "Embedding", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell",
    "Loss", "MSE", "MeanSquaredError", "MAE", "MeanAbsoluteError", "Huber", "CrossEntropy",
    "CategoricalCrossEntropy", "SparseCategoricalCrossEntropy", "BinaryCrossEntropy",
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Lion",
    "Schedule", "StepDecay", "ExponentialDecay", "CosineDecay",
    "NeuralNetwork", "Sequential", "History", "callbacks", "metrics", "schedules", "Callback", "EarlyStopping",
    "ModelCheckpoint", "LearningRateScheduler", "TerminateOnNaN", "Accuracy", "TopKAccuracy",
    "distributed", "DataParallel",
    "export_weights", "import_weights",
]
__all__ += ["Model", "Input", "SymbolicTensor", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
            "Concatenate"]
__all__ += ["AvgPool2D", "Conv2D", "Flatten", "GlobalAveragePooling2D", "MaxPool2D", "Reshape"]
__all__ += ["Activation", "AveragePooling2D", "MaxPooling2D"]

from .layers import (ELU, AveragePooling1D, AvgPool1D, Conv1D, Conv2DTranspose, Cropping2D,  # noqa: E402
                     DepthwiseConv2D, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D,
                     MaxPooling1D, Mish, SeparableConv2D, SiLU, Softplus, Softsign, Swish, UpSampling2D,
                     ZeroPadding2D)
__all__ += ["ELU", "Mish", "SiLU", "Softplus", "Softsign", "Swish"]
__all__ += ["Conv1D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "AveragePooling1D", "AvgPool1D",
            "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPool1D", "MaxPooling1D",
            "Cropping2D", "UpSampling2D", "ZeroPadding2D"]
__all__ += ["Bidirectional", "Masking", "regularizers"]

from .layers import GELU, MultiHeadAttention, PositionEmbedding, TransformerBlock  # noqa: E402
from .generation import generate  # noqa: E402
__all__ += ["GELU", "MultiHeadAttention", "PositionEmbedding", "TransformerBlock", "generate"]
__all__ += ["data", "CSVLogger", "LambdaCallback", "ReduceLROnPlateau", "AUC", "F1Score", "Precision", "Recall",
            "RootMeanSquaredError"]
