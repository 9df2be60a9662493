"""Against a live PyTorch module (skipped where torch is not installed; CI has none, the
committed fixtures stand in there): torch.nn.RNN/LSTM/GRU with random weights, several
shapes, bidirectional, projections and variable lengths, its state_dict() passed as it is.
Outputs, final states and every gradient agree within 1e-10 in float64 and 1e-5 in float32."""

import numpy as np
import pytest

from recurrent import nn

torch = pytest.importorskip("torch")

CASES = [
    # cell, input, hidden, layers, bidirectional, proj, batch_first, variable lengths
    ("lstm", 5, 7, 1, False, 0, False, False),
    ("lstm", 4, 6, 2, True, 0, True, True),
    ("lstm", 3, 8, 2, True, 5, False, True),
    ("gru", 6, 5, 3, False, 0, True, False),
    ("gru", 4, 9, 2, True, 0, False, True),
    ("rnn_tanh", 5, 6, 2, True, 0, False, False),
    ("rnn_relu", 3, 4, 1, False, 0, True, True),
]


def torch_layer(cell, i, h, layers, bi, proj, bf):
    if cell == "lstm":
        return torch.nn.LSTM(i, h, layers, bidirectional=bi, proj_size=proj, batch_first=bf)
    if cell == "gru":
        return torch.nn.GRU(i, h, layers, bidirectional=bi, batch_first=bf)
    return torch.nn.RNN(i, h, layers, nonlinearity=cell[4:], bidirectional=bi, batch_first=bf)


def ours_layer(cell, i, h, layers, bi, proj, bf, dtype):
    kw = dict(bidirectional=bi, batch_first=bf, dtype=dtype)
    if cell == "lstm":
        return nn.LSTM(i, h, layers, proj_size=proj, **kw)
    if cell == "gru":
        return nn.GRU(i, h, layers, **kw)
    return nn.RNN(i, h, layers, nonlinearity=cell[4:], **kw)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-l{c[3]}{'-bi' if c[4] else ''}{'-proj' if c[5] else ''}{'-len' if c[7] else ''}" for c in CASES])
def test_matches_a_live_torch_module(case, dtype, tol):
    cell, i, h, layers, bi, proj, bf, var = case
    torch.manual_seed(0)
    theirs = torch_layer(cell, i, h, layers, bi, proj, bf).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = ours_layer(cell, i, h, layers, bi, proj, bf, dtype)
    ours.load_state_dict(theirs.state_dict())
    t, b, d = 6, 4, 2 if bi else 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((b, t, i) if bf else (t, b, i)).astype(dtype)
    hout = proj or h
    h0 = rng.standard_normal((d * layers, b, hout)).astype(dtype)
    c0 = rng.standard_normal((d * layers, b, h)).astype(dtype)
    lengths = [6, 3, 5, 1] if var else None

    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    hx_t = (h0t, c0t) if cell == "lstm" else h0t
    if var:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=bf,
                                                         enforce_sorted=False)
        out_p, hn_t = theirs(packed, hx_t)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=bf, total_length=t)
    else:
        out_t, hn_t = theirs(xt, hx_t)
    r1 = rng.standard_normal(out_t.shape).astype(dtype)
    r2 = rng.standard_normal((d * layers, b, hout)).astype(dtype)
    r3 = rng.standard_normal((d * layers, b, h)).astype(dtype)
    loss = (out_t * torch.tensor(r1)).sum()
    if cell == "lstm":
        loss = loss + (hn_t[0] * torch.tensor(r2)).sum() + (hn_t[1] * torch.tensor(r3)).sum()
    else:
        loss = loss + (hn_t * torch.tensor(r2)).sum()
    loss.backward()

    hx = (h0, c0) if cell == "lstm" else h0
    out, hn = ours(x, hx, lengths=lengths)
    d_x, d_h = ours.backward(r1, (r2, r3) if cell == "lstm" else r2)

    def close(name, a, b):
        b = b.detach().numpy()
        assert a.dtype == dtype and a.shape == b.shape, name
        err = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))
        assert err <= tol, f"{name}: {err:.2e}"

    close("output", out, out_t)
    close("grad input", d_x, xt.grad)
    if cell == "lstm":
        close("h_n", hn[0], hn_t[0])
        close("c_n", hn[1], hn_t[1])
        close("grad h0", d_h[0], h0t.grad)
        close("grad c0", d_h[1], c0t.grad)
    else:
        close("h_n", hn, hn_t)
        close("grad h0", d_h, h0t.grad)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(f"grad {name}", p.grad, grads[name].grad)
