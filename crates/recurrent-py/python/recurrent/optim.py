"""Optimizers with PyTorch's update rules and defaults, run by the engine.

    opt = recurrent.optim.Adam(model.parameters(), lr=1e-3)
    model.zero_grad(); out, h = model(x); model.backward(dout); opt.step()
"""

import json

from . import _recurrent

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "clip_grad_norm_"]


def _layers(parameters):
    """The distinct layers the parameters belong to, in first-seen order."""
    layers, seen = [], set()
    for p in parameters:
        module = getattr(p, "_module", None)
        if module is None:
            raise TypeError(f"expected parameters of recurrent.nn layers, got {type(p).__name__}")
        if id(module) not in seen:
            seen.add(id(module))
            layers.append(module)
    if not layers:
        raise ValueError("optimizer got an empty parameter list")
    return layers


class Optimizer:
    """Updates every parameter of the layers whose parameters it was given. (A layer is
    updated whole: pass all of its parameters, as `model.parameters()` does.)"""

    def __init__(self, params, settings):
        self._layers = _layers(list(params))
        self._core = _recurrent.Optimizer(json.dumps(settings), len(self._layers))

    @property
    def lr(self):
        return self._core.lr

    @lr.setter
    def lr(self, value):
        self._core.lr = float(value)

    def step(self):
        self._core.step([m._core for m in self._layers])

    def zero_grad(self):
        for m in self._layers:
            m.zero_grad()

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, {"name": "sgd", "lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, {"name": "adam", "lr": lr, "beta1": betas[0], "beta2": betas[1],
                                  "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad})


class AdamW(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, {"name": "adamw", "lr": lr, "beta1": betas[0], "beta2": betas[1],
                                  "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad})


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, {"name": "rmsprop", "lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum, "centered": centered})


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, {"name": "adagrad", "lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps})


def clip_grad_norm_(parameters, max_norm):
    """Scales the gradients so that their joint L2 norm is at most `max_norm`, as
    `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping."""
    return _recurrent.clip_grad_norm([m._core for m in _layers(list(parameters))], float(max_norm))
