"""recurrent.nn and recurrent.optim from Python: the layers against the committed PyTorch
fixtures (outputs, states and every gradient, float64 and float32; the minimal cells'
fixtures are PyTorch code written from their paper), state_dict round trips,
a training loop that learns, and bad inputs raising the right exceptions."""

import json
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import recurrent
from recurrent import nn, optim

FIXTURES = Path(__file__).resolve().parents[2] / "recurrent" / "tests" / "fixtures" / "pytorch"
CASES = sorted(FIXTURES.glob("*.safetensors"))


def read_safetensors(path):
    """The tensors and the metadata of a safetensors file (8-byte header length, JSON
    header, little-endian data): enough for the fixtures, without another package."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    kinds = {"F64": np.float64, "F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    return tensors, meta


def layer_for(cfg, dtype):
    common = dict(num_layers=cfg["num_layers"], bias=cfg["bias"], batch_first=cfg["batch_first"],
                  bidirectional=cfg["bidirectional"], dtype=dtype)
    if "zoneout" in cfg:
        common["zoneout"] = tuple(cfg["zoneout"])
    if cfg["cell"] == "lstm":
        return nn.LSTM(cfg["input_size"], cfg["hidden_size"], proj_size=cfg["proj_size"], **common)
    if cfg["cell"] == "gru":
        return nn.GRU(cfg["input_size"], cfg["hidden_size"], **common)
    others = {"mingru": nn.MinGRU, "minlstm": nn.MinLSTM, "lstm_ln": nn.LayerNormLSTM,
              "gru_ln": nn.LayerNormGRU}
    if cfg["cell"] in others:
        return others[cfg["cell"]](cfg["input_size"], cfg["hidden_size"], **common)
    return nn.RNN(cfg["input_size"], cfg["hidden_size"], nonlinearity=cfg["cell"][4:], **common)


def run_case(path, dtype):
    """Forward and backward of one fixture in `dtype`: (ours, theirs) for every tensor."""
    t, meta = read_safetensors(path)
    cfg = json.loads(meta["config"])
    m = layer_for(cfg, dtype)
    if "zoneout" in cfg:
        m.eval()  # the reference is evaluation's expectation
    params = [name for name, _ in m.named_parameters()]
    m.load_state_dict({k: t[k] for k in params})
    lstm = cfg["cell"] in ("lstm", "lstm_ln")
    hx = (t["h0"], t["c0"]) if lstm else t["h0"]
    lengths = t.get("lengths")
    out, h = m(t["input"], hx, lengths=lengths)
    pairs = [("output", out, t["output"])]
    if lstm:
        pairs += [("h_n", h[0], t["h_n"]), ("c_n", h[1], t["c_n"])]
        d_x, d_h = m.backward(t["R1"], (t["R2"], t["R3"]))
        pairs += [("grad.input", d_x, t["grad.input"]), ("grad.h0", d_h[0], t["grad.h0"]),
                  ("grad.c0", d_h[1], t["grad.c0"])]
    else:
        pairs += [("h_n", h, t["h_n"])]
        d_x, d_h = m.backward(t["R1"], t["R2"])
        pairs += [("grad.input", d_x, t["grad.input"]), ("grad.h0", d_h, t["grad.h0"])]
    for name, p in m.named_parameters():
        pairs.append((f"grad.{name}", p.grad, t[f"grad.{name}"]))
    return pairs


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_float64_matches_pytorch(path):
    for name, a, b in run_case(path, np.float64):
        assert a.dtype == np.float64 and a.shape == b.shape, name
        err = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))
        assert err <= 1e-10, f"{path.stem} {name}: {err:.3e}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_float32_matches_pytorch(path):
    for name, a, b in run_case(path, np.float32)[:3]:  # outputs and final states
        assert a.dtype == np.float32, name
        scale = np.max(np.abs(b))
        tol = (1e-3 if scale > 1e3 else 1e-4) * scale
        assert np.max(np.abs(a - b)) <= tol, f"{path.stem} {name}"


ZONEOUT = sorted((FIXTURES.parent / "zoneout").glob("zo_*_expect*.safetensors"))


@pytest.mark.parametrize("path", ZONEOUT, ids=[p.stem for p in ZONEOUT])
def test_zoneout_evaluation_matches_its_reference(path):
    for name, a, b in run_case(path, np.float64):
        err = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))
        assert err <= 1e-10, f"{path.stem} {name}: {err:.3e}"


def test_zoneout_trains_with_masks_and_refuses_bad_rates():
    assert len(ZONEOUT) >= 3
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    m = nn.LSTM(3, 5, zoneout=(0.1, 0.5), dtype="float64", seed=3)
    a, _ = m(x)
    b, _ = m(x)
    m.eval()
    e1, _ = m(x)
    e2, _ = m(x)
    np.testing.assert_array_equal(e1, e2)
    assert np.abs(a - b).max() > 0 and np.abs(a - e1).max() > 0
    assert json.loads(m._core.config())["zoneout"] == [0.1, 0.5]
    with pytest.raises(ValueError, match="zoneout"):
        nn.GRU(3, 5, zoneout=1.5)
    with pytest.raises(ValueError, match="zoneout"):
        nn.MinGRU(3, 5, zoneout=0.1)


def test_state_dict_round_trip_and_cast():
    m = nn.LSTM(5, 7, num_layers=2, bidirectional=True, proj_size=3, seed=1)
    sd = m.state_dict()
    assert list(sd)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    other = nn.LSTM(5, 7, num_layers=2, bidirectional=True, proj_size=3, seed=2, dtype="float64")
    other.load_state_dict(sd)
    for k, v in other.state_dict().items():
        assert v.dtype == np.float64
        np.testing.assert_array_equal(v, sd[k].astype(np.float64))

    class TorchLike:  # anything with __array__, as a torch tensor is
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a

    m.load_state_dict({k: TorchLike(v * 2) for k, v in sd.items()})
    np.testing.assert_array_equal(m.state_dict()["weight_hr_l1_reverse"], sd["weight_hr_l1_reverse"] * 2)
    x = np.random.default_rng(0).standard_normal((4, 3, 5))
    a, _ = m.double()(x)
    b, _ = m.float()(x)
    assert a.dtype == np.float64 and b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_training_loop_learns():
    """An LSTM learns to output the mean of its inputs, with Adam and clipping."""
    rng = np.random.default_rng(0)
    m = nn.LSTM(1, 16, seed=0)
    opt = optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        x = rng.uniform(-1, 1, (10, 32, 1)).astype(np.float32)
        y = x.mean(axis=0)[:, 0]
        opt.zero_grad()
        out, _ = m(x)
        err = out[-1, :, 0] - y
        losses.append(float(np.mean(err ** 2)))
        d_out = np.zeros_like(out)
        d_out[-1, :, 0] = 2 * err / len(y)
        m.backward(d_out)
        recurrent.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    assert np.mean(losses[-10:]) < 0.1 * np.mean(losses[:10]), losses[::15]


def test_gradients_accumulate_until_zero_grad():
    m = nn.GRU(3, 4)
    x = np.ones((2, 1, 3), np.float32)
    out, _ = m(x)
    m.backward(np.ones_like(out))
    g1 = m.parameters()[0].grad
    m.backward(np.ones_like(out))
    np.testing.assert_allclose(m.parameters()[0].grad, 2 * g1, rtol=1e-6)
    m.zero_grad()
    assert not m.parameters()[0].grad.any()


def test_bad_inputs_raise_clear_exceptions():
    m = nn.LSTM(3, 4)
    with pytest.raises(TypeError, match="expected a float array"):
        m(np.zeros((2, 1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"expected \[T, B, 3\]"):
        m(np.zeros((2, 1, 5), np.float32))
    with pytest.raises(RuntimeError, match="backward before forward"):
        nn.RNN(3, 4).backward(np.zeros((2, 1, 4), np.float32))
    with pytest.raises(KeyError, match="missing"):
        m.load_state_dict({"weight_ih_l0": np.zeros((16, 3))})
    with pytest.raises(ValueError, match="does not fit"):
        m.load_state_dict({k: np.zeros((1, 1)) for k in m.state_dict()})
    with pytest.raises(ValueError, match="unknown cell|nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError):
        m(np.zeros((2, 1, 3), np.float32), hx=np.zeros((1, 1, 4), np.float32))  # LSTM needs (h0, c0)
    with pytest.raises(ValueError):
        optim.Adam(m.parameters(), lr=-1.0)
    # Not contiguous, or another float dtype: converted.
    x = np.zeros((2, 4, 3), np.float64)[:, ::2]
    out, (h, c) = m(x)
    assert out.shape == (2, 2, 4) and out.dtype == np.float32


def test_threads_run_while_the_engine_computes():
    """The GIL is released in forward: two Python threads both finish, with the results of
    one thread alone."""
    m1, m2 = nn.LSTM(8, 64, seed=3), nn.LSTM(8, 64, seed=3)
    x = np.random.default_rng(1).standard_normal((50, 8, 8)).astype(np.float32)
    alone, _ = m1(x)
    results = {}
    threads = [threading.Thread(target=lambda k=k, m=m: results.__setitem__(k, m(x)[0]))
               for k, m in enumerate([m1, m2])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results[0], alone)
    np.testing.assert_array_equal(results[1], alone)
    assert repr(m1) == "LSTM(8, 64)"


def test_precision_quantizes_eval_and_refuses_training():
    rnn = recurrent.nn.LSTM(6, 16, num_layers=2)
    x = np.random.default_rng(0).standard_normal((5, 3, 6)).astype(np.float32)
    rnn.eval()
    want, _ = rnn.forward(x)
    assert rnn.precision == "f32"
    for p, tol in [("bf16", 0.01), ("int8", 0.03)]:
        rnn.precision = p
        got, _ = rnn.forward(x)
        assert rnn.precision == p
        err = np.abs(got - want).max()
        assert 0 < err < tol, (p, err)
    rnn.double()
    assert rnn.precision == "int8"
    rnn.float()
    rnn.train()
    with pytest.raises(Exception, match="train in f32"):
        rnn.forward(x)
    rnn.precision = "f32"
    rnn.eval()
    back, _ = rnn.forward(x)
    np.testing.assert_array_equal(back, want)
