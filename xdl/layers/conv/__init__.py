"""Windows over images (N, H, W, C) and sequences (N, L, C): convolutions as im2col plus one
product (``windows.py``), pooling, and resizing (upsampling, padding, cropping)."""

from .conv1d import Conv1D
from .conv2d import Conv2D
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .pooling import AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, MaxPool2D, MaxPooling2D
from .pooling1d import (AveragePooling1D, AvgPool1D, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                        MaxPool1D, MaxPooling1D)
from .resize import Cropping2D, UpSampling2D, ZeroPadding2D
from .transpose import Conv1DTranspose, Conv2DTranspose

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose", "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D", "MaxPool2D",
           "MaxPooling2D",
           "AvgPool2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPool1D",
           "MaxPooling1D", "AvgPool1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
           "UpSampling2D", "ZeroPadding2D", "Cropping2D"]
