"""Attention: ``MultiHeadAttention``, ``PositionEmbedding`` and the pre-norm ``TransformerBlock``."""

from .multi_head import MultiHeadAttention
from .position import PositionEmbedding
from .transformer import TransformerBlock

__all__ = ["MultiHeadAttention", "PositionEmbedding", "TransformerBlock"]
