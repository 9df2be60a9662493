#!/usr/bin/env python3
"""Reference fixtures for the minimal cells (minGRU, minLSTM; Feng et al. 2024, "Were RNNs
All We Needed?"), written in PyTorch float64 from the paper's equations, in the schema of
../shared/fixtures/pytorch (README there): one safetensors file per case, with the weights
under the names the engine uses, the input, h0, output, h_n and the gradients of
loss = sum(output * R1) + sum(h_n * R2).

No framework ships these cells, so the reference is this file. Each direction is computed
twice, as the paper's sequential loop and as its parallel form in closed form
(h_t = A_t (h_0 + sum_{k<=t} b_k / A_k), A_t the running product of the a_k), and the two
must agree before a case is written; the gradients are autograd's through the loop.

  minGRU  (rows z, h~):    z = sigmoid(W_z x + b_z), h~ = W_h x + b_h
                           h_t = (1 - z) h_{t-1} + z h~
  minLSTM (rows f, i, h~): f = sigmoid(W_f x + b_f), i = sigmoid(W_i x + b_i),
                           h~ = W_h x + b_h,  h_t = (f h_{t-1} + i h~) / (f + i)

Stacking, directions and variable lengths follow nn.GRU's packed-sequence semantics: the
reverse direction starts at each sequence's own last step; output is zero past it.

Run: ~/torch/bin/python scripts/gen_minimal_fixtures.py crates/recurrent/tests/fixtures/pytorch
"""
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

torch.set_default_dtype(torch.float64)


def coefficients(cell, pre, hidden):
    """(a_t, b_t) of h_t = a_t h_{t-1} + b_t from the pre-activations [..., G*H]."""
    if cell == "mingru":
        z = torch.sigmoid(pre[..., :hidden])
        cand = pre[..., hidden:]
        return 1 - z, z * cand
    f = torch.sigmoid(pre[..., :hidden])
    i = torch.sigmoid(pre[..., hidden : 2 * hidden])
    cand = pre[..., 2 * hidden :]
    s = f + i
    return f / s, i / s * cand


def walk(a, b, h0):
    """The sequential form: [n, H] coefficients, h0 [H] -> states [n, H]."""
    h, out = h0, []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out)


def closed_form(a, b, h0):
    """The parallel form: h_t = A_t (h0 + sum_{k<=t} b_k / A_k)."""
    big_a = torch.cumprod(a, 0)
    return big_a * (h0 + torch.cumsum(b / big_a, 0))


def direction(cell, x, w, bias, h0, lengths, reverse, hidden):
    """One layer-direction over x [T, B, I]: (output [T, B, H], h_n [B, H])."""
    t_len, batch = x.shape[0], x.shape[1]
    pre = x @ w.T + (bias if bias is not None else 0)
    a, b = coefficients(cell, pre, hidden)
    out = torch.zeros(t_len, batch, hidden)
    finals = []
    for bi in range(batch):
        n = lengths[bi]
        idx = torch.arange(n - 1, -1, -1) if reverse else torch.arange(n)
        hs = walk(a[idx, bi], b[idx, bi], h0[bi])
        check = closed_form(a[idx, bi].detach(), b[idx, bi].detach(), h0[bi].detach())
        err = (hs.detach() - check).abs().max().item()
        assert err < 1e-10, f"sequential and parallel forms differ by {err}"
        rows = torch.zeros(t_len, hidden)
        rows = rows.index_put((idx,), hs)
        out = out.index_put((torch.arange(t_len), torch.full((t_len,), bi)), rows)
        finals.append(hs[-1])
    return out, torch.stack(finals)


def make_case(name, cell, i_sz, hidden, layers, bidirectional, bias, t_len, batch, packed,
              batch_first, seed):
    g = torch.Generator().manual_seed(seed)
    gates = 2 if cell == "mingru" else 3
    dn = 2 if bidirectional else 1
    bound = hidden ** -0.5
    params = {}
    for k in range(layers):
        i_k = i_sz if k == 0 else dn * hidden
        for d in range(dn):
            sfx = f"l{k}" + ("_reverse" if d == 1 else "")
            params[f"weight_ih_{sfx}"] = (torch.rand(gates * hidden, i_k, generator=g) * 2 - 1) * bound
            if bias:
                params[f"bias_ih_{sfx}"] = (torch.rand(gates * hidden, generator=g) * 2 - 1) * bound
    for p in params.values():
        p.requires_grad_(True)
    lengths = (torch.randint(1, t_len + 1, (batch,), generator=g) if packed
               else torch.full((batch,), t_len))
    if packed:
        lengths[0] = t_len
    x = torch.randn(t_len, batch, i_sz, generator=g)
    for bi in range(batch):
        x[lengths[bi]:, bi] = 0
    x.requires_grad_(True)
    h0 = (torch.randn(layers * dn, batch, hidden, generator=g) * 0.5).requires_grad_(True)

    inp, h_n = x, []
    for k in range(layers):
        outs = []
        for d in range(dn):
            sfx = f"l{k}" + ("_reverse" if d == 1 else "")
            o, hn = direction(cell, inp, params[f"weight_ih_{sfx}"], params.get(f"bias_ih_{sfx}"),
                              h0[k * dn + d], lengths.tolist(), d == 1, hidden)
            outs.append(o)
            h_n.append(hn)
        inp = torch.cat(outs, -1)
    output, h_n = inp, torch.stack(h_n)
    r1 = torch.randn(output.shape, generator=g)
    r2 = torch.randn(h_n.shape, generator=g)
    loss = (output * r1).sum() + (h_n * r2).sum()
    loss.backward()

    tm = lambda v: v.transpose(0, 1).contiguous() if batch_first else v
    tensors = {n: p.detach().clone() for n, p in params.items()}
    tensors.update({
        "input": tm(x.detach()), "h0": h0.detach(), "output": tm(output.detach()),
        "h_n": h_n.detach(), "R1": tm(r1), "R2": r2,
        "grad.input": tm(x.grad), "grad.h0": h0.grad,
    })
    tensors.update({f"grad.{n}": p.grad for n, p in params.items()})
    if packed:
        tensors["lengths"] = lengths.to(torch.int64)
    config = {
        "cell": cell, "input_size": i_sz, "hidden_size": hidden, "num_layers": layers,
        "bidirectional": bidirectional, "batch_first": batch_first, "bias": bias,
        "proj_size": 0, "seq_len": t_len, "batch": batch, "torch_version": torch.__version__,
        "loss": "sum(output*R1)+sum(h_n*R2)", "packed": packed, "r1_last_step_only": False,
        "seed": seed, "dtype": "float64", "loss_value": loss.item(),
        "reference": "scripts/gen_minimal_fixtures.py (the paper's equations)",
    }
    tensors = {n: v.contiguous() for n, v in tensors.items()}
    return name, tensors, {"config": json.dumps(config)}


CASES = [
    ("mingru_l1", "mingru", 3, 5, 1, False, True, 7, 2, False, False, 1),
    ("mingru_l2_bi_packed", "mingru", 4, 6, 2, True, True, 8, 3, True, False, 2),
    ("mingru_l1_nobias_bf", "mingru", 3, 4, 1, False, False, 5, 2, False, True, 3),
    ("minlstm_l1", "minlstm", 3, 5, 1, False, True, 7, 2, False, False, 4),
    ("minlstm_l2_bi_packed", "minlstm", 4, 6, 2, True, True, 8, 3, True, False, 5),
    ("minlstm_l3_bf", "minlstm", 5, 8, 3, False, True, 6, 2, False, True, 6),
    ("mingru_long_t200", "mingru", 3, 16, 1, False, True, 200, 2, False, False, 7),
]

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/recurrent/tests/fixtures/pytorch")
    for case in CASES:
        name, tensors, meta = make_case(*case)
        save_file(tensors, str(out / f"{name}.safetensors"), metadata=meta)
        print(name, json.loads(meta["config"])["loss_value"])
