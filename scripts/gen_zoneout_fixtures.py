#!/usr/bin/env python3
"""Reference fixtures for zoneout (Krueger et al. 2016, "Zoneout: Regularizing RNNs by
Randomly Preserving Hidden Activations", equations in section 3), in PyTorch float64, in
the schema of ../shared/fixtures/pytorch (README there) plus the masks.

PyTorch has no zoneout, so the reference is this file: PyTorch's own cells
(nn.RNNCell, nn.LSTMCell, nn.GRUCell; the layer-normalised cells from
gen_norm_fixtures.py) give the new states s~_t, and the step zones them:

  training:    s_t = d_t s_{t-1} + (1 - d_t) s~_t     (d_t the stored mask, 1 = keep)
  evaluation:  s_t = p s_{t-1} + (1 - p) s~_t

for the hidden state and, for the LSTMs, the cell state (h~_t = o tanh(c~_t) from the new
cell state before it is zoned, as in the paper). Autograd gives the gradients of
loss = sum(output * R1) + sum(h_n * R2) [+ sum(c_n * R3)].

Two kinds of case:
- "mode": "masks": one layer-direction (`reverse` says which), with the masks `mask_h`
  [T, B, H] (and `mask_c`), which the test hands to the engine's sequence loop;
- "mode": "expect": a whole layer (stacked, bidirectional, packed), evaluation's
  expectation, which the test runs through the layer as `Rnn::forward` without a random
  stream.

Run: ~/torch/bin/python scripts/gen_zoneout_fixtures.py crates/recurrent/tests/fixtures/zoneout
"""
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from gen_norm_fixtures import step as norm_step  # noqa: E402

torch.set_default_dtype(torch.float64)


def new_state(cell, p, x, h, c, hidden):
    """s~_t: the cell's new (h, c) from x [I], h, c [H], before zoneout."""
    if cell in ("lstm_ln", "gru_ln"):
        return norm_step(cell, p, x, h, c, hidden)
    zero = torch.zeros(p["w_ih"].shape[0])
    a_x = x @ p["w_ih"].T + p.get("b_ih", zero)
    a_h = h @ p["w_hh"].T + p.get("b_hh", zero)
    blk = lambda v, k: v[..., k * hidden:(k + 1) * hidden]
    if cell == "lstm":
        a = a_x + a_h
        i, f, g, o = (blk(a, k) for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if cell == "gru":
        r = torch.sigmoid(blk(a_x, 0) + blk(a_h, 0))
        z = torch.sigmoid(blk(a_x, 1) + blk(a_h, 1))
        n = torch.tanh(blk(a_x, 2) + r * blk(a_h, 2))
        return (1 - z) * n + z * h, c
    return torch.tanh(a_x + a_h), c


def direction(cell, x, p, h0, c0, lengths, reverse, hidden, keep_h, keep_c):
    """One layer-direction; keep_h(t, b), keep_c(t, b) give the weight of the old state."""
    t_len, batch = x.shape[0], x.shape[1]
    out = torch.zeros(t_len, batch, hidden)
    hs, cs = [], []
    for bi in range(batch):
        n = lengths[bi]
        h, c = h0[bi], (c0[bi] if c0 is not None else None)
        rows = torch.zeros(t_len, hidden)
        for t in (range(n - 1, -1, -1) if reverse else range(n)):
            h_new, c_new = new_state(cell, p, x[t, bi], h, c, hidden)
            if c is not None:
                w = keep_c(t, bi)
                c_new = w * c + (1 - w) * c_new
            w = keep_h(t, bi)
            h = w * h + (1 - w) * h_new
            c = c_new
            rows = rows.index_put((torch.tensor([t]),), h.unsqueeze(0))
        out = out.index_put((torch.arange(t_len), torch.full((t_len,), bi)), rows)
        hs.append(h)
        cs.append(c)
    return out, torch.stack(hs), (torch.stack(cs) if c0 is not None else None)


GATES = {"rnn_tanh": 1, "lstm": 4, "gru": 3, "lstm_ln": 4, "gru_ln": 3}
NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
         "g_x": "ln_weight_ih", "g_h": "ln_weight_hh", "g_c": "ln_weight_c",
         "b_c": "ln_bias_c"}


def make_case(name, cell, mode, rates, i_sz, hidden, layers, bidirectional, reverse, t_len,
              batch, packed, seed):
    g = torch.Generator().manual_seed(seed)
    gates = GATES[cell]
    lstm = cell in ("lstm", "lstm_ln")
    dn = 2 if bidirectional else 1
    bound = hidden ** -0.5
    u = lambda *shape: (torch.rand(*shape, generator=g) * 2 - 1) * bound
    params, named = [], {}
    for k in range(layers):
        i_k = i_sz if k == 0 else dn * hidden
        for d in range(dn):
            sfx = f"l{k}" + ("_reverse" if d == 1 else "")
            p = {"w_ih": u(gates * hidden, i_k), "w_hh": u(gates * hidden, hidden),
                 "b_ih": u(gates * hidden), "b_hh": u(gates * hidden)}
            if cell.endswith("_ln"):
                p["g_x"] = 1 + 0.5 * u(gates * hidden) / bound
                p["g_h"] = 1 + 0.5 * u(gates * hidden) / bound
                if lstm:
                    p["g_c"] = 1 + 0.5 * u(hidden) / bound
                    p["b_c"] = 0.3 * u(hidden) / bound
            for key, v in p.items():
                v.requires_grad_(True)
                named[f"{NAMES[key]}_{sfx}"] = v
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
    c0 = (torch.randn(layers * dn, batch, hidden, generator=g) * 0.5).requires_grad_(True) \
        if lstm else None

    p_h, p_c = rates
    masks = {}
    if mode == "masks":
        masks["mask_h"] = (torch.rand(t_len, batch, hidden, generator=g) < p_h).double()
        masks["mask_c"] = (torch.rand(t_len, batch, hidden, generator=g) < p_c).double()
        keep_h = lambda t, b: masks["mask_h"][t, b]
        keep_c = lambda t, b: masks["mask_c"][t, b]
    else:
        keep_h = lambda t, b: p_h
        keep_c = lambda t, b: p_c

    inp, h_n, c_n = x, [], []
    for k in range(layers):
        outs = []
        for d in range(dn):
            i = k * dn + d
            o, hn, cn = direction(cell, inp, params[i], h0[i], c0[i] if lstm else None,
                                  lengths.tolist(), d == 1 or reverse, hidden, keep_h, keep_c)
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

    tensors = {n: v.detach().clone() for n, v in named.items()}
    tensors.update({
        "input": x.detach(), "h0": h0.detach(), "output": output.detach(),
        "h_n": h_n.detach(), "R1": r1, "R2": r2, "grad.input": x.grad, "grad.h0": h0.grad,
    })
    if lstm:
        tensors.update({"c0": c0.detach(), "c_n": c_n.detach(), "R3": r3,
                        "grad.c0": c0.grad})
    else:
        masks.pop("mask_c", None)
    tensors.update(masks)
    tensors.update({f"grad.{n}": v.grad for n, v in named.items()})
    if packed:
        tensors["lengths"] = lengths.to(torch.int64)
    config = {
        "cell": cell, "input_size": i_sz, "hidden_size": hidden, "num_layers": layers,
        "bidirectional": bidirectional, "batch_first": False, "bias": True, "proj_size": 0,
        "seq_len": t_len, "batch": batch, "torch_version": torch.__version__,
        "loss": "sum(output*R1)+sum(h_n*R2)" + ("+sum(c_n*R3)" if lstm else ""),
        "packed": packed, "seed": seed, "dtype": "float64", "loss_value": loss.item(),
        "mode": mode, "zoneout": [p_h, p_c], "reverse": reverse,
        "reference": "scripts/gen_zoneout_fixtures.py (the paper's equations)",
    }
    tensors = {n: v.contiguous() for n, v in tensors.items()}
    return name, tensors, {"config": json.dumps(config)}


# name, cell, mode, (p_h, p_c), I, H, L, bidirectional, reverse, T, B, packed, seed
CASES = [
    ("zo_lstm_masks", "lstm", "masks", (0.3, 0.5), 3, 5, 1, False, False, 7, 3, False, 21),
    ("zo_lstm_masks_rev_packed", "lstm", "masks", (0.2, 0.6), 4, 6, 1, False, True, 8, 3,
     True, 22),
    ("zo_lstm_masks_h_only", "lstm", "masks", (0.4, 0.0), 3, 5, 1, False, False, 6, 2,
     False, 23),
    ("zo_gru_masks_packed", "gru", "masks", (0.3, 0.0), 3, 5, 1, False, False, 7, 3, True, 24),
    ("zo_rnn_masks", "rnn_tanh", "masks", (0.35, 0.0), 3, 5, 1, False, True, 6, 2, False,
     25),
    ("zo_lstm_ln_masks_packed", "lstm_ln", "masks", (0.2, 0.5), 3, 6, 1, False, False, 7, 3,
     True, 26),
    ("zo_gru_ln_masks", "gru_ln", "masks", (0.3, 0.0), 3, 5, 1, False, True, 6, 2, False, 27),
    # Big enough that the engine's loops split the work over a team.
    ("zo_lstm_masks_team", "lstm", "masks", (0.1, 0.5), 16, 64, 1, False, False, 5, 17,
     True, 28),
    ("zo_gru_masks_team", "gru", "masks", (0.2, 0.0), 16, 64, 1, False, True, 5, 17, True,
     29),
    ("zo_lstm_ln_masks_team", "lstm_ln", "masks", (0.1, 0.5), 8, 32, 1, False, False, 5,
     17, True, 30),
    ("zo_lstm_expect_l2_bi_packed", "lstm", "expect", (0.1, 0.5), 4, 6, 2, True, False, 8,
     3, True, 31),
    ("zo_gru_expect_l2", "gru", "expect", (0.25, 0.0), 3, 5, 2, False, False, 7, 2, False,
     32),
    ("zo_lstm_ln_expect_l2", "lstm_ln", "expect", (0.05, 0.4), 3, 5, 2, False, False, 6, 2,
     True, 33),
    ("zo_gru_ln_expect_bi", "gru_ln", "expect", (0.2, 0.0), 3, 5, 1, True, False, 6, 2,
     False, 34),
]

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/recurrent/tests/fixtures/zoneout")
    out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        name, tensors, meta = make_case(*case)
        save_file(tensors, str(out / f"{name}.safetensors"), metadata=meta)
        print(name, json.loads(meta["config"])["loss_value"])
