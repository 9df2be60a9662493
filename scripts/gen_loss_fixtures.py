#!/usr/bin/env python3
"""Reference values for recurrent's losses (crates/recurrent/src/nn/loss.rs), from PyTorch in
float64: the loss and its gradient with respect to the input (autograd), for cross-entropy
(with ignore index, mask, sum), MSE, MAE, Huber and BCE-with-logits.

A mask is applied the way padding is: the loss is computed on the selected rows only, so masked
rows get a zero gradient. Run with ~/torch/bin/python; writes
crates/recurrent/tests/fixtures/losses/losses.json.
"""
import json
import pathlib

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/recurrent/tests/fixtures/losses/losses.json"


def away_from(x, points, gap=1e-3):
    """Nudges entries of x that lie within `gap` of a kink so finite differences stay valid."""
    for p in points:
        close = (x - p).abs() < gap
        x = torch.where(close, x + 2 * gap, x)
    return x


def case(name, kind, x, target, fn, reduction="mean", mask=None, **extra):
    x = x.clone().double().requires_grad_(True)
    if mask is not None:
        m = torch.tensor(mask)
        loss = fn(x[m], target[m], reduction)
    else:
        loss = fn(x, target, reduction)
    loss.backward()
    out = {
        "name": name,
        "kind": kind,
        "reduction": reduction,
        "input": x.detach().flatten().tolist(),
        "target": target.flatten().tolist(),
        "mask": mask,
        "loss": loss.item(),
        "grad": x.grad.flatten().tolist(),
    }
    out.update(extra)
    return out


cases = []

# Cross-entropy over [N, C] logits.
N, C = 7, 5
logits = torch.randn(N, C, dtype=torch.float64) * 2
tgt = torch.tensor([0, 3, 1, 0, 4, 2, 0])


def ce(ignore=-100):
    return lambda x, t, r: F.cross_entropy(x, t, reduction=r, ignore_index=ignore)


for red in ["mean", "sum"]:
    cases.append(case(f"ce_{red}", "cross_entropy", logits, tgt, ce(), red, classes=C, ignore_index=None))
    cases.append(case(f"ce_ignore0_{red}", "cross_entropy", logits, tgt, ce(0), red, classes=C, ignore_index=0))
mask = [True, True, False, True, False, True, True]
cases.append(case("ce_mask_mean", "cross_entropy", logits, tgt, ce(), "mean", mask, classes=C, ignore_index=None))
cases.append(case("ce_mask_ignore0_mean", "cross_entropy", logits, tgt, ce(0), "mean", mask, classes=C, ignore_index=0))
big = torch.randn(3, 4, dtype=torch.float64) * 300
cases.append(case("ce_large_logits", "cross_entropy", big, torch.tensor([1, 3, 0]), ce(), "mean", classes=4, ignore_index=None))

# Element-wise regression losses.
p = torch.randn(12, dtype=torch.float64) * 2
y = torch.randn(12, dtype=torch.float64)
p[3] = y[3]  # an exact zero difference: MAE's sign(0) = 0
rmask = [i % 4 != 1 for i in range(12)]
for red in ["mean", "sum"]:
    cases.append(case(f"mse_{red}", "mse", p, y, lambda a, b, r: F.mse_loss(a, b, reduction=r), red))
    cases.append(case(f"mae_{red}", "mae", p, y, lambda a, b, r: F.l1_loss(a, b, reduction=r), red))
cases.append(case("mse_mask", "mse", p, y, lambda a, b, r: F.mse_loss(a, b, reduction=r), "mean", rmask))
cases.append(case("mae_mask", "mae", p, y, lambda a, b, r: F.l1_loss(a, b, reduction=r), "mean", rmask))
for delta in [1.0, 0.5, 3.0]:
    ph = y + away_from(p - y, [delta, -delta])
    for red, m in [("mean", None), ("sum", None), ("mean", rmask)]:
        tag = "mask" if m else red
        cases.append(case(f"huber_{delta}_{tag}", "huber", ph, y,
                          lambda a, b, r, d=delta: F.huber_loss(a, b, reduction=r, delta=d), red, m, delta=delta))

# Binary cross-entropy with logits, hard and soft targets, and large |x|.
x = torch.randn(10, dtype=torch.float64) * 3
x[0], x[1] = 40.0, -35.0
hard = (torch.rand(10, dtype=torch.float64) > 0.5).double()
soft = torch.rand(10, dtype=torch.float64)
bce = lambda a, b, r: F.binary_cross_entropy_with_logits(a, b, reduction=r)
for red in ["mean", "sum"]:
    cases.append(case(f"bce_hard_{red}", "bce_with_logits", x, hard, bce, red))
cases.append(case("bce_soft_mean", "bce_with_logits", x, soft, bce, "mean"))
cases.append(case("bce_soft_mask", "bce_with_logits", x, soft, bce, "mean", [i % 3 != 0 for i in range(10)]))

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps(cases, indent=1) + "\n")
print(f"{len(cases)} cases -> {OUT} (torch {torch.__version__})")
