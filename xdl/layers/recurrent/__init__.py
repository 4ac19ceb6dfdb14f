"""Sequence layers over batch-first (N, T, F): the cells' per-step math (``cells.py``,
``lstm.py``, ``gru.py``), the layers that loop them over time (``rnn.py``) and ``Bidirectional``."""

from .bidirectional import Bidirectional
from .cells import RecurrentCell, SimpleRNNCell
from .gru import GRUCell
from .lstm import LSTMCell
from .rnn import GRU, LSTM, Recurrent, SimpleRNN

__all__ = ["Recurrent", "SimpleRNN", "LSTM", "GRU", "RecurrentCell", "SimpleRNNCell", "LSTMCell", "GRUCell",
           "Bidirectional"]
