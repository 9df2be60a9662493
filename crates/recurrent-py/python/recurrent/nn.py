"""PyTorch-shaped recurrent layers: `RNN`, `LSTM`, `GRU`.

They take PyTorch's arguments and layouts and return what `torch.nn.LSTM` returns. There is
no autograd: `backward(grad_output, grad_h_n)` runs backpropagation through time for the last
`forward` and fills `.grad` of every parameter (adding to it, as PyTorch does), and returns
the gradients of the input and of the initial states.
"""

from collections import OrderedDict

import numpy as np

from . import _recurrent

__all__ = ["Parameter", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "LayerNormLSTM", "LayerNormGRU"]

_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


class Parameter:
    """A named parameter of a layer. `.data` and `.grad` are copies of the layer's arrays;
    assign `.data` to change the weights."""

    def __init__(self, module, name):
        self._module = module
        self.name = name

    @property
    def data(self):
        return self._module._core.parameter(self.name)

    @data.setter
    def data(self, value):
        self._module._core.set_parameter(self.name, self._module._array(value, self.name))

    @property
    def grad(self):
        return self._module._core.parameter(self.name, grad=True)

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Parameter({self.name}, shape={self.shape}, dtype={self._module.dtype})"


class _RNNBase:
    _cell = None
    # Whether the state is a tuple (h, c).
    _has_c = False

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype="float32", seed=0,
                 *, cell=None, zoneout=0.0):
        dtype = _DTYPES.get(np.dtype(dtype))
        if dtype is None:
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
        # Zoneout (Krueger et al. 2016), not in PyTorch: a rate for both states or a pair
        # (hidden, cell). In training each unit keeps its previous value with that
        # probability; in evaluation the states are mixed by the rate.
        z_h, z_c = (zoneout, zoneout) if np.isscalar(zoneout) else zoneout
        self._core = _recurrent.Rnn(cell or self._cell, int(input_size), int(hidden_size),
                                    int(num_layers), bool(bias), bool(batch_first), float(dropout),
                                    bool(bidirectional), int(proj_size), dtype, int(seed),
                                    (float(z_h), float(z_c)))
        self.zoneout = zoneout
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.proj_size = bidirectional, proj_size

    # -- dtype and mode -------------------------------------------------------------------
    @property
    def dtype(self):
        """np.float32 or np.float64: what forward computes in."""
        return np.dtype(self._core.dtype)

    def double(self):
        """Casts the weights to float64 (in place); returns self."""
        self._core.to("float64")
        return self

    def float(self):
        """Casts the weights to float32 (in place); returns self."""
        self._core.to("float32")
        return self

    @property
    def precision(self):
        """The number format of forward's products in eval mode: "f32" (as the weights
        are), "bf16" or "int8" (weights per output channel, activations per step; the
        state and the gates stay in float). Setting it quantizes the weights as they are;
        changing a weight quantizes again. Training needs "f32"."""
        return self._core.precision

    @precision.setter
    def precision(self, p):
        self._core.precision = p

    @property
    def training(self):
        return self._core.training

    def train(self, mode=True):
        """Training mode: dropout between layers is applied. Returns self."""
        self._core.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # -- forward and backward -------------------------------------------------------------
    def _array(self, a, what):
        """`a` as a C-contiguous array of the layer's dtype: another float dtype is converted,
        anything else refused."""
        a = np.asarray(a)
        if a.dtype.kind != "f":
            raise TypeError(f"{what}: expected a float array, got dtype {a.dtype}")
        return np.ascontiguousarray(a, dtype=self.dtype)

    def forward(self, input, hx=None, lengths=None):
        """`input` [T, B, I] ([B, T, I] with batch_first); `hx` the initial state
        ([D*L, B, H_out], and for LSTM a tuple (h0, c0)); `lengths` one length per sequence.
        Returns (output, h_n), or (output, (h_n, c_n)) for LSTM."""
        x = self._array(input, "input")
        h0 = c0 = None
        if hx is not None:
            if self._has_c:
                if not isinstance(hx, tuple) or len(hx) != 2:
                    raise TypeError("LSTM: hx must be a tuple (h0, c0)")
                h0, c0 = self._array(hx[0], "h0"), self._array(hx[1], "c0")
            else:
                h0 = self._array(hx, "h0")
        if lengths is not None:
            lengths = [int(n) for n in np.asarray(lengths).reshape(-1)]
        out, h, c = self._core.forward(x, h0, c0, lengths)
        return (out, (h, c)) if self._has_c else (out, h)

    __call__ = forward

    def backward(self, grad_output, grad_h_n=None):
        """Backpropagation through time for the last forward, from dL/d(output) and
        optionally dL/dh_n (for LSTM a tuple (dL/dh_n, dL/dc_n), either may be None). Adds
        into every parameter's `.grad`; returns (grad_input, grad_hx) shaped like
        (input, hx)."""
        g_h = g_c = None
        if grad_h_n is not None:
            if self._has_c:
                g_h, g_c = grad_h_n
                g_h = None if g_h is None else self._array(g_h, "grad_h_n")
                g_c = None if g_c is None else self._array(g_c, "grad_c_n")
            else:
                g_h = self._array(grad_h_n, "grad_h_n")
        d_x, d_h, d_c = self._core.backward(self._array(grad_output, "grad_output"), g_h, g_c)
        return (d_x, (d_h, d_c)) if self._has_c else (d_x, d_h)

    # -- parameters -----------------------------------------------------------------------
    def named_parameters(self):
        return [(name, Parameter(self, name)) for name in self._core.names()]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        self._core.zero_grad()

    def state_dict(self):
        """An OrderedDict of PyTorch's names to copies of the weights."""
        return OrderedDict(self._core.parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Loads weights by PyTorch's names, cast to this layer's dtype. The values may be
        ndarrays or anything with `__array__` (a torch `state_dict()` as it is). With
        `strict`, missing or unexpected names are an error, as in PyTorch."""
        own = self._core.names()
        given = list(state_dict.keys())
        missing = [n for n in own if n not in state_dict]
        unexpected = [n for n in given if n not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        for name in own:
            if name in state_dict:
                value = state_dict[name]
                if hasattr(value, "detach"):
                    value = value.detach().cpu().numpy()
                self._core.set_parameter(name, self._array(value, name))
        return missing, unexpected

    def __repr__(self):
        extra = []
        if self.num_layers != 1:
            extra.append(f"num_layers={self.num_layers}")
        if not self.bias:
            extra.append("bias=False")
        if self.batch_first:
            extra.append("batch_first=True")
        if self.dropout:
            extra.append(f"dropout={self.dropout}")
        if self.bidirectional:
            extra.append("bidirectional=True")
        if self.proj_size:
            extra.append(f"proj_size={self.proj_size}")
        if self.dtype != np.float32:
            extra.append("dtype=float64")
        args = ", ".join([str(self.input_size), str(self.hidden_size)] + extra)
        return f"{type(self).__name__}({args})"


class RNN(_RNNBase):
    """Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (`nonlinearity="relu"`
    for ReLU), as `torch.nn.RNN`."""

    _cell = "rnn_tanh"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype="float32", seed=0,
                 *, zoneout=0.0):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, dtype, seed, cell="rnn_" + nonlinearity,
                         zoneout=zoneout)


class LSTM(_RNNBase):
    """LSTM with gate rows [i, f, g, o] and optional projections (`proj_size`), as
    `torch.nn.LSTM`."""

    _cell = "lstm"
    _has_c = True


class GRU(_RNNBase):
    """GRU with gate rows [r, z, n], n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), as
    `torch.nn.GRU`."""

    _cell = "gru"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype="float32", seed=0, *, zoneout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, dtype, seed, zoneout=zoneout)


class MinGRU(GRU):
    """minGRU (Feng et al. 2024): gate rows [z, h~] of x_t alone, z = sigmoid(W_z x + b_z),
    h~ = W_h x + b_h, h_t = (1 - z) h_{t-1} + z h~. No recurrent weights: only
    `weight_ih_l{k}` and `bias_ih_l{k}`. Not in PyTorch; the layer's arguments are GRU's."""

    _cell = "mingru"


class MinLSTM(GRU):
    """minLSTM (Feng et al. 2024): gate rows [f, i, h~] of x_t alone, h_t = (f h_{t-1} +
    i h~) / (f + i) with f, i sigmoids and h~ linear. No recurrent weights and no cell
    state. Not in PyTorch; the layer's arguments are GRU's."""

    _cell = "minlstm"


class LayerNormLSTM(_RNNBase):
    """Layer-normalised LSTM (Ba et al. 2016): the x-terms W_ih x and the h-terms W_hh h
    normalised apart over their 4H values, each with its gain (`ln_weight_ih_l{k}`,
    `ln_weight_hh_l{k}`), and the cell state normalised before its tanh
    (`ln_weight_c_l{k}`, `ln_bias_c_l{k}`): h_t = o tanh(g_c LN(c_t) + b_c). The state is
    (h, c) as for `LSTM`. Not in PyTorch; no projections."""

    _cell = "lstm_ln"
    _has_c = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype="float32", seed=0, *, zoneout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, dtype, seed, zoneout=zoneout)


class LayerNormGRU(GRU):
    """Layer-normalised GRU: PyTorch's GRU on g_x LN(W_ih x) + b_ih and g_h LN(W_hh h) +
    b_hh, the gains `ln_weight_ih_l{k}` and `ln_weight_hh_l{k}`. Not in PyTorch."""

    _cell = "gru_ln"
