"""Fixtures the file tests share."""

from __future__ import annotations

import numpy as np
import pytest

import xdl


@pytest.fixture
def model():
    """A small built model on numpy: something to save."""
    with xdl.use_backend("numpy"):
        m = xdl.NeuralNetwork([xdl.Dense(input_size=2, output_size=3)])
        m.predict(np.ones((1, 2)))
        yield m
