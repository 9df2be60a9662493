#!/usr/bin/env python3
"""Reference values for recurrent's CTC loss (crates/recurrent/src/nn/ctc.rs), from PyTorch in
float64: F.ctc_loss(log_softmax(logits)) with reductions none, sum and mean, and the gradient
of each with respect to the unnormalised logits (autograd through log_softmax).

One safetensors file per case in crates/recurrent/tests/fixtures/ctc/, read by
crates/recurrent/tests/ctc_pytorch.rs. Tensors:
  logits [T, B, C] f64; input_lengths [B], target_lengths [B], targets [sum of lengths]
  (concatenated) as i64;
  loss_none [B], grad_none [T, B, C]   (gradient of loss_none.sum());
  loss_sum [1],  grad_sum;  loss_mean [1], grad_mean.
Metadata "config": {"blank": k, "zero_infinity": bool}.

Run with ~/torch/bin/python scripts/gen_ctc_fixtures.py.
"""
import json
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/recurrent/tests/fixtures/ctc"


def random_target(gen, length, classes, blank, repeats):
    """A target of `length` labels (never the blank); with `repeats`, runs of equal labels."""
    labels = [k for k in range(classes) if k != blank]
    out = []
    for _ in range(length):
        if repeats and out and torch.rand(1, generator=gen).item() < 0.5:
            out.append(out[-1])
        else:
            out.append(labels[torch.randint(len(labels), (1,), generator=gen).item()])
    return out


def case(name, t, classes, input_lengths, target_lengths, blank=0, zero_infinity=False,
         repeats=True, scale=2.0, seed=0, targets=None):
    gen = torch.Generator().manual_seed(seed)
    b = len(input_lengths)
    logits = (scale * torch.randn(t, b, classes, generator=gen, dtype=torch.float64))
    if targets is None:
        targets = [random_target(gen, n, classes, blank, repeats) for n in target_lengths]
    flat = torch.tensor([k for tg in targets for k in tg], dtype=torch.int64)
    il = torch.tensor(input_lengths, dtype=torch.int64)
    tl = torch.tensor([len(tg) for tg in targets], dtype=torch.int64)
    tensors = {
        "logits": logits,
        "input_lengths": il,
        "target_lengths": tl,
        "targets": flat,
    }
    for red in ["none", "sum", "mean"]:
        x = logits.clone().requires_grad_(True)
        loss = F.ctc_loss(x.log_softmax(2), flat, il, tl, blank=blank, reduction=red,
                          zero_infinity=zero_infinity)
        loss.sum().backward()
        tensors[f"loss_{red}"] = loss.detach().reshape(-1).clone()
        tensors[f"grad_{red}"] = x.grad.detach().clone()
    cfg = {"blank": blank, "zero_infinity": zero_infinity}
    save_file(tensors, OUT / f"{name}.safetensors", metadata={"config": json.dumps(cfg)})
    print(name, tensors["loss_none"].tolist())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    case("single_item", 12, 5, [12], [4], seed=1)
    # Repeated labels need a blank between them; "exact" fits in exactly min_frames frames.
    case("repeats", 10, 4, [10, 9], [3, 4], seed=2, targets=[[1, 1, 1], [2, 2, 3, 3]])
    case("exact_fit", 7, 4, [7, 5], [4, 3], seed=3, targets=[[1, 2, 2, 3], [3, 3, 3]])
    case("varied_lengths", 20, 11, [20, 13, 1, 7, 16], [6, 3, 1, 0, 0], seed=4)
    case("empty_targets", 6, 3, [6, 1], [0, 0], seed=5)
    case("blank_last", 15, 6, [15, 11, 8], [5, 2, 3], blank=5, seed=6)
    case("blank_middle", 9, 5, [9, 6], [3, 2], blank=2, seed=7)
    case("zero_infinity", 5, 4, [5, 3], [2, 3], zero_infinity=True, seed=8,
         targets=[[1, 2], [1, 1, 2]])
    case("long_t200", 200, 6, [200, 141], [9, 7], scale=3.0, seed=9)
    case("peaked_logits", 16, 5, [16, 12], [4, 3], scale=12.0, seed=10)


if __name__ == "__main__":
    main()
