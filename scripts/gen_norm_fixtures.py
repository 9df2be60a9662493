#!/usr/bin/env python3
"""Reference fixtures for the layer-normalised cells (`lstm_ln`, `gru_ln`; Ba, Kiros and
Hinton 2016, "Layer Normalization", section 6 and its supplementary equations), written in
PyTorch float64 from the paper's equations, in the schema of ../shared/fixtures/pytorch
(README there): one safetensors file per case, the weights under the names the engine uses,
the input, states, output, final states and the gradients of
loss = sum(output * R1) + sum(h_n * R2) [+ sum(c_n * R3)].

PyTorch ships neither cell (issues 6760, 7032, 12167), so the reference is this file, a
step-by-step loop with torch.nn.functional.layer_norm (eps 1e-5) and autograd for the
gradients:

  lstm_ln:  x^ = LN(W_ih x_t), h^ = LN(W_hh h_{t-1})
            a = g_x x^ + b_ih + g_h h^ + b_hh            (rows i, f, g, o)
            c_t = sigmoid(a_f) c_{t-1} + sigmoid(a_i) tanh(a_g)
            h_t = sigmoid(a_o) tanh(g_c LN(c_t) + b_c)
  gru_ln:   xa = g_x LN(W_ih x_t) + b_ih, ha = g_h LN(W_hh h_{t-1}) + b_hh   (rows r, z, n)
            r = sigmoid(xa_r + ha_r), z = sigmoid(xa_z + ha_z), n = tanh(xa_n + r ha_n)
            h_t = (1 - z) n + z h_{t-1}

The gains and the cell state's shift are drawn at random (not at their initial 1 and 0) so
that a wrong gradient of any of them shows. Stacking, directions and variable lengths follow
nn.LSTM's packed-sequence semantics: the reverse direction starts at each sequence's own last
step; output is zero past it, and the final state is the one at the sequence's own end.

Run: ~/torch/bin/python scripts/gen_norm_fixtures.py crates/recurrent/tests/fixtures/pytorch
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as fn
from safetensors.torch import save_file

torch.set_default_dtype(torch.float64)
EPS = 1e-5


def ln(v):
    return fn.layer_norm(v, (v.shape[-1],), eps=EPS)


def step(cell, p, x, h, c, hidden):
    zero = torch.zeros(p["w_ih"].shape[0])
    b_ih, b_hh = p.get("b_ih", zero), p.get("b_hh", zero)
    xa = p["g_x"] * ln(x @ p["w_ih"].T) + b_ih
    ha = p["g_h"] * ln(h @ p["w_hh"].T) + b_hh
    if cell == "lstm_ln":
        a = xa + ha
        i, f, g, o = (a[..., k * hidden:(k + 1) * hidden] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(p["g_c"] * ln(c) + p["b_c"])
        return h, c
    blk = lambda v, k: v[..., k * hidden:(k + 1) * hidden]
    r = torch.sigmoid(blk(xa, 0) + blk(ha, 0))
    z = torch.sigmoid(blk(xa, 1) + blk(ha, 1))
    n = torch.tanh(blk(xa, 2) + r * blk(ha, 2))
    return (1 - z) * n + z * h, c


def direction(cell, x, p, h0, c0, lengths, reverse, hidden):
    """One layer-direction over x [T, B, I]: (output [T, B, H], h_n, c_n [B, H])."""
    t_len, batch = x.shape[0], x.shape[1]
    out = torch.zeros(t_len, batch, hidden)
    hs, cs = [], []
    for bi in range(batch):
        n = lengths[bi]
        h, c = h0[bi], (c0[bi] if c0 is not None else None)
        rows = torch.zeros(t_len, hidden)
        for t in (range(n - 1, -1, -1) if reverse else range(n)):
            h, c = step(cell, p, x[t, bi], h, c, hidden)
            rows = rows.index_put((torch.tensor([t]),), h.unsqueeze(0))
        out = out.index_put((torch.arange(t_len), torch.full((t_len,), bi)), rows)
        hs.append(h)
        cs.append(c)
    return out, torch.stack(hs), (torch.stack(cs) if c0 is not None else None)


def make_case(name, cell, i_sz, hidden, layers, bidirectional, bias, t_len, batch, packed,
              batch_first, seed):
    g = torch.Generator().manual_seed(seed)
    gates = 4 if cell == "lstm_ln" else 3
    dn = 2 if bidirectional else 1
    bound = hidden ** -0.5
    u = lambda *shape: (torch.rand(*shape, generator=g) * 2 - 1) * bound
    params, named = [], {}
    for k in range(layers):
        i_k = i_sz if k == 0 else dn * hidden
        for d in range(dn):
            sfx = f"l{k}" + ("_reverse" if d == 1 else "")
            p = {"w_ih": u(gates * hidden, i_k), "w_hh": u(gates * hidden, hidden)}
            if bias:
                p["b_ih"], p["b_hh"] = u(gates * hidden), u(gates * hidden)
            p["g_x"] = 1 + 0.5 * u(gates * hidden) / bound
            p["g_h"] = 1 + 0.5 * u(gates * hidden) / bound
            if cell == "lstm_ln":
                p["g_c"] = 1 + 0.5 * u(hidden) / bound
                p["b_c"] = 0.3 * u(hidden) / bound
            names = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih",
                     "b_hh": "bias_hh", "g_x": "ln_weight_ih", "g_h": "ln_weight_hh",
                     "g_c": "ln_weight_c", "b_c": "ln_bias_c"}
            for key, v in p.items():
                v.requires_grad_(True)
                named[f"{names[key]}_{sfx}"] = v
            params.append(p)
    lengths = (torch.randint(1, t_len + 1, (batch,), generator=g) if packed
               else torch.full((batch,), t_len))
    if packed:
        lengths[0] = t_len
    x = torch.randn(t_len, batch, i_sz, generator=g)
    for bi in range(batch):
        x[lengths[bi]:, bi] = 0
    x.requires_grad_(True)
    h0 = (torch.randn(layers * dn, batch, hidden, generator=g) * 0.5).requires_grad_(True)
    lstm = cell == "lstm_ln"
    c0 = (torch.randn(layers * dn, batch, hidden, generator=g) * 0.5).requires_grad_(True) \
        if lstm else None

    inp, h_n, c_n = x, [], []
    for k in range(layers):
        outs = []
        for d in range(dn):
            i = k * dn + d
            o, hn, cn = direction(cell, inp, params[i], h0[i], c0[i] if lstm else None,
                                  lengths.tolist(), d == 1, hidden)
            outs.append(o)
            h_n.append(hn)
            c_n.append(cn)
        inp = torch.cat(outs, -1)
    output, h_n = inp, torch.stack(h_n)
    r1 = torch.randn(output.shape, generator=g)
    r2 = torch.randn(h_n.shape, generator=g)
    loss = (output * r1).sum() + (h_n * r2).sum()
    if lstm:
        c_n = torch.stack(c_n)
        r3 = torch.randn(c_n.shape, generator=g)
        loss = loss + (c_n * r3).sum()
    loss.backward()

    tm = lambda v: v.transpose(0, 1).contiguous() if batch_first else v
    tensors = {n: v.detach().clone() for n, v in named.items()}
    tensors.update({
        "input": tm(x.detach()), "h0": h0.detach(), "output": tm(output.detach()),
        "h_n": h_n.detach(), "R1": tm(r1), "R2": r2,
        "grad.input": tm(x.grad), "grad.h0": h0.grad,
    })
    if lstm:
        tensors.update({"c0": c0.detach(), "c_n": c_n.detach(), "R3": r3,
                        "grad.c0": c0.grad})
    tensors.update({f"grad.{n}": v.grad for n, v in named.items()})
    if packed:
        tensors["lengths"] = lengths.to(torch.int64)
    loss_s = "sum(output*R1)+sum(h_n*R2)" + ("+sum(c_n*R3)" if lstm else "")
    config = {
        "cell": cell, "input_size": i_sz, "hidden_size": hidden, "num_layers": layers,
        "bidirectional": bidirectional, "batch_first": batch_first, "bias": bias,
        "proj_size": 0, "seq_len": t_len, "batch": batch, "torch_version": torch.__version__,
        "loss": loss_s, "packed": packed, "r1_last_step_only": False,
        "seed": seed, "dtype": "float64", "loss_value": loss.item(),
        "reference": "scripts/gen_norm_fixtures.py (the paper's equations)",
    }
    tensors = {n: v.contiguous() for n, v in tensors.items()}
    return name, tensors, {"config": json.dumps(config)}


CASES = [
    ("lstm_ln_l1", "lstm_ln", 3, 5, 1, False, True, 7, 2, False, False, 11),
    ("lstm_ln_l2_bi_packed", "lstm_ln", 4, 6, 2, True, True, 8, 3, True, False, 12),
    ("lstm_ln_l1_nobias_bf", "lstm_ln", 3, 4, 1, False, False, 5, 2, False, True, 13),
    ("gru_ln_l1", "gru_ln", 3, 5, 1, False, True, 7, 2, False, False, 14),
    ("gru_ln_l2_bi_packed", "gru_ln", 4, 6, 2, True, True, 8, 3, True, False, 15),
    ("gru_ln_l3_bf", "gru_ln", 5, 8, 3, False, True, 6, 2, False, True, 16),
    # Big enough that the engine's time loop splits the batch rows over a team.
    ("lstm_ln_team_b17", "lstm_ln", 4, 16, 1, True, True, 5, 17, True, False, 17),
    ("gru_ln_team_b17", "gru_ln", 4, 16, 1, False, True, 5, 17, True, False, 18),
]

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/recurrent/tests/fixtures/pytorch")
    for case in CASES:
        name, tensors, meta = make_case(*case)
        save_file(tensors, str(out / f"{name}.safetensors"), metadata=meta)
        print(name, json.loads(meta["config"])["loss_value"])
