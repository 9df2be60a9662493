"""recurrent: recurrent neural networks on a Rust engine, with NumPy in and out.

    import numpy as np, recurrent
    lstm = recurrent.nn.LSTM(8, 32, num_layers=2)
    out, (h, c) = lstm(np.random.randn(20, 4, 8).astype(np.float32))

`recurrent.nn` holds PyTorch-shaped RNN, LSTM and GRU layers (forward, backward,
state_dict, the names PyTorch uses), `recurrent.optim` the optimizers that train them.
"""

from . import nn, optim
from ._recurrent import __version__, set_threads
from .optim import clip_grad_norm_

__all__ = ["nn", "optim", "clip_grad_norm_", "set_threads", "__version__"]
