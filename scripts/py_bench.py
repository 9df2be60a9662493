#!/usr/bin/env python3
"""recurrent from Python against PyTorch from Python, in one process, interleaved.

    python3 scripts/py_bench.py [--rounds 5] [--iters 10] [--threads 2] [--cells lstm gru rnn_tanh]

For the bench's S and M shapes (scripts/bench-vs-pytorch.sh), each round times both sides
one after the other (the order alternating), `--iters` iterations each after one warm-up:
- infer: the layer's forward over a time-major float32 input [T, B, I] from a zero state
  (PyTorch under inference_mode, recurrent in eval mode);
- train: forward, loss = sum(output * R), backward, SGD step and zero_grad (what
  pytorch_rnn_bench.py's train mode times).
It prints one Markdown row per shape, cell and mode: the medians over rounds of tokens/s of
each side and their ratio. Compare the ratio with `recurrent bench`'s (the CLI): the binding
should cost nothing measurable. Needs torch and the recurrent package in one environment.
"""

import argparse
import statistics
import time

import numpy as np
import torch

import recurrent

SHAPES = {
    "S": dict(input=64, hidden=128, layers=1, batch=32, seq=64),
    "M": dict(input=256, hidden=512, layers=2, batch=64, seq=100),
}


def make(cell, s, seed=0):
    torch.manual_seed(seed)
    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell)
    if kind is None:
        theirs = torch.nn.RNN(s["input"], s["hidden"], s["layers"], nonlinearity=cell[4:])
        ours = recurrent.nn.RNN(s["input"], s["hidden"], s["layers"], nonlinearity=cell[4:])
    else:
        theirs = kind(s["input"], s["hidden"], s["layers"])
        ours = getattr(recurrent.nn, cell.upper())(s["input"], s["hidden"], s["layers"])
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def timed(fn, iters, settle):
    # PyTorch's OpenMP workers spin for a while after a parallel region; on 2 cores they
    # would take the next side's cores for its first milliseconds. Let them sleep first.
    time.sleep(settle)
    fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def steps(cell, s, mode):
    ours, theirs = make(cell, s)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((s["seq"], s["batch"], s["input"])).astype(np.float32)
    r = rng.standard_normal((s["seq"], s["batch"], s["hidden"])).astype(np.float32)
    xt, rt = torch.from_numpy(x), torch.from_numpy(r)
    if mode == "infer":
        ours.eval()
        theirs.eval()

        def ours_step():
            ours(x)

        def theirs_step():
            with torch.inference_mode():
                theirs(xt)
        return ours_step, theirs_step
    opt_ours = recurrent.optim.SGD(ours.parameters(), lr=1e-4)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=1e-4)

    def ours_step():
        out, _ = ours(x)
        ours.backward(r)  # d(sum(output * R))/d(output) = R
        opt_ours.step()
        opt_ours.zero_grad()

    def theirs_step():
        out, _ = theirs(xt)
        (out * rt).sum().backward()
        opt_theirs.step()
        opt_theirs.zero_grad()
    return ours_step, theirs_step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn_tanh"])
    ap.add_argument("--shapes", nargs="+", default=["S", "M"])
    ap.add_argument("--modes", nargs="+", default=["train", "infer"])
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds of sleep before each timed block (0: none)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    recurrent.set_threads(a.threads)
    print(f"torch {torch.__version__}, recurrent {recurrent.__version__}, {a.threads} threads, "
          f"{a.rounds} rounds x {a.iters} iterations, medians, {a.settle} s settle")
    print("| config | cell | recurrent tok/s | PyTorch tok/s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for shape in a.shapes:
        s = SHAPES[shape]
        tokens = s["seq"] * s["batch"]
        for mode in a.modes:
            for cell in a.cells:
                ours_step, theirs_step = steps(cell, s, mode)
                o, t = [], []
                for k in range(a.rounds):
                    pair = [(o, ours_step), (t, theirs_step)]
                    for acc, fn in (pair if k % 2 == 0 else pair[::-1]):
                        acc.append(tokens / timed(fn, a.iters, a.settle))
                mo, mt = statistics.median(o), statistics.median(t)
                print(f"| {shape}-{mode} | {cell} | {mo:,.0f} | {mt:,.0f} | {mo / mt:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
