#!/usr/bin/env python3
"""Reference trajectories for recurrent's optimizers and schedules (crates/recurrent/src/train/),
from PyTorch in float64 on the single-tensor path (foreach=False).

Each optimizer case: two parameters (`a.weight` [3, 4], `a.bias` [5]) start from fixed values;
for 6 steps we set given gradients (some entries exactly zero), set the learning rate of the
step (changed half-way, to exercise set_lr) and call step(). We record the parameters after
every step and the optimizer's state buffers at the end under our names
(`{param}.{state key}`). Schedules: StepLR and CosineAnnealingLR rates per step, and
ReduceLROnPlateau rates after each metric.

Run with ~/torch/bin/python; writes crates/recurrent/tests/fixtures/optim/{optim,schedules}.json.
"""
import json
import pathlib

import torch

torch.manual_seed(0)
DIR = pathlib.Path(__file__).resolve().parent.parent / "crates/recurrent/tests/fixtures/optim"
STEPS = 6
NAMES = ["a.weight", "a.bias"]
SHAPES = [(3, 4), (5,)]

init = [torch.randn(*s, dtype=torch.float64) for s in SHAPES]
grads = []
for t in range(STEPS):
    gs = [torch.randn(*s, dtype=torch.float64) * (0.1 + t) for s in SHAPES]
    gs[0][0, 0] = 0.0  # a zero gradient entry: eps handling
    grads.append(gs)

OPTIMS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}

CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.001}),
    ("adam", {"lr": 1e-3}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adamw", {"lr": 1e-3}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True, "betas": (0.5, 0.9)}),
    ("rmsprop", {"lr": 1e-2}),
    ("rmsprop", {"lr": 1e-2, "momentum": 0.9, "centered": True}),
    ("rmsprop", {"lr": 5e-3, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 5e-3, "centered": True, "weight_decay": 0.01}),
    ("adagrad", {"lr": 1e-2}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.1,
                 "weight_decay": 0.01, "eps": 1e-8}),
]


def run(name, opts):
    params = [p.clone().requires_grad_(True) for p in init]
    opt = OPTIMS[name](params, foreach=False, **opts)
    lr0 = opts["lr"]
    lrs, after = [], []
    for t in range(STEPS):
        lr = lr0 if t < STEPS // 2 else lr0 * 0.5
        for g in opt.param_groups:
            g["lr"] = lr
        for p, g in zip(params, grads[t]):
            p.grad = g.clone()
        opt.step()
        lrs.append(lr)
        after.append([p.detach().flatten().tolist() for p in params])
    state = {}
    for pname, p in zip(NAMES, params):
        for key, val in opt.state[p].items():
            if key == "step":
                continue
            if isinstance(val, torch.Tensor):
                state[f"{pname}.{key}"] = val.flatten().tolist()
    cfg = {k: v for k, v in opts.items() if k != "betas"}
    if "betas" in opts:
        cfg["beta1"], cfg["beta2"] = opts["betas"]
    return {
        "optimizer": name,
        "config": cfg,
        "lrs": lrs,
        "after": after,
        "state": state,
    }


cases = [run(n, o) for n, o in CASES]
doc = {
    "torch": torch.__version__,
    "names": NAMES,
    "shapes": SHAPES,
    "init": [p.flatten().tolist() for p in init],
    "grads": [[g.flatten().tolist() for g in gs] for gs in grads],
    "cases": cases,
}
DIR.mkdir(parents=True, exist_ok=True)
(DIR / "optim.json").write_text(json.dumps(doc, indent=1) + "\n")


# Schedules ------------------------------------------------------------------------------------
def sched_lrs(make, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    s = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return out


step_lr = sched_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 12)
cosine = sched_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 11)

metrics = [1.0, 0.9, 0.95, 0.9, 0.91, 0.92, 0.85, 0.8501, 0.86, 0.87, 0.88, 0.70, 0.71, 0.72, 0.73,
           0.74, 0.75, 0.76, float("nan"), 0.77, 0.78]
PLATEAU = [
    ("default_patience2", {"patience": 2}),
    ("min_abs_cooldown", {"patience": 1, "threshold": 0.01, "threshold_mode": "abs", "cooldown": 2,
                          "factor": 0.5}),
    ("min_rel_floor", {"patience": 0, "threshold": 0.05, "factor": 0.3, "min_lr": 0.05}),
    ("max_rel", {"mode": "max", "patience": 1, "factor": 0.5}),
    ("max_abs_eps", {"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 0.0,
                     "factor": 0.9, "eps": 0.05}),
]
plateau = []
for name, cfg in PLATEAU:
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **cfg)
    lrs = []
    for m in metrics:
        s.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    plateau.append({"name": name, "config": cfg, "metrics": metrics, "lrs": lrs})

# NaN is not JSON: write it as null and read it back as NaN.
sdoc = {"torch": torch.__version__, "step_lr": step_lr, "cosine": cosine, "plateau": plateau}
text = json.dumps(sdoc, indent=1).replace("NaN", "null")
(DIR / "schedules.json").write_text(text + "\n")
print(f"{len(cases)} optimizer cases, {len(plateau)} plateau cases -> {DIR} (torch {torch.__version__})")
