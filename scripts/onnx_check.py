#!/usr/bin/env python3
"""Checks recurrent's ONNX export in onnxruntime.

    pip install onnxruntime safetensors numpy          (torch too, for --charlm)
    python3 scripts/onnx_check.py                      # the export's cases
    python3 scripts/onnx_check.py --charlm RUN_DIR     # a trained LM against PyTorch

Cases: builds and runs `cargo run --release -p recurrent --example onnx_cases DIR` (or reads
DIR given with --cases), which writes every cell (tanh and ReLU RNN, LSTM, GRU in PyTorch's
and the seeds' form), one and two layers, one and two directions, initial states, and
variable lengths (ONNX's sequence_lens), with our outputs beside each model. Each model runs
in onnxruntime on the same inputs; the largest difference must be below 1e-5.

--charlm RUN_DIR: exports the run's best checkpoint with `recurrent export`, runs it in
onnxruntime on random tokens (tokens alone, then with h0/c0 fed), and compares the logits
with PyTorch's CharLM from ../shared/bench/pytorch_charlm.py holding the same checkpoint
(load_state_dict): within 1e-4.

Prints one line per case and a JSON summary with --json; exits non-zero on any failure.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

# A language model feeds h0/c0 as inputs with defaults (initializers of the same name),
# on purpose: onnxruntime warns that it will not constant-fold them.
ort.set_default_logger_severity(3)
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = {"float": np.float32, "int32": np.int32, "int64": np.int64}


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def check_cases(cases_dir):
    if cases_dir is None:
        cases_dir = tempfile.mkdtemp(prefix="onnx-cases-")
        subprocess.run(["cargo", "run", "--release", "-q", "-p", "recurrent", "--example",
                        "onnx_cases", "--", cases_dir], cwd=ROOT, check=True)
    index = json.load(open(os.path.join(cases_dir, "cases.json")))
    results = []
    for case in index:
        name = case["name"]
        t = load_file(os.path.join(cases_dir, name + ".safetensors"))
        feeds = {k: t["in." + k].astype(TYPES[ty]) for k, ty in case["inputs"].items()}
        s = session(os.path.join(cases_dir, name + ".onnx"))
        got = s.run(case["outputs"], feeds)
        err = max(float(np.max(np.abs(g - t["out." + n]))) for g, n in zip(got, case["outputs"]))
        results.append({"case": name, "max_abs_diff": err, "ok": err < 1e-5})
        print(f"{name:32s} max |onnxruntime - ours| = {err:.2e} {'ok' if err < 1e-5 else 'FAIL'}")
    return results


def check_charlm(run_dir, binary):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench"))
    from pytorch_charlm import CharLM

    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    m = cfg["model"]
    out = os.path.join(tempfile.mkdtemp(prefix="onnx-lm-"), "lm.onnx")
    subprocess.run([binary, "export", "--checkpoint", run_dir, "--out", out], check=True)
    args = argparse.Namespace(cell=m["cell"].replace("rnn_tanh", "rnn"), embed=m["embed"],
                              hidden=m["hidden"], layers=m["layers"], dropout=m["dropout"])
    torch.manual_seed(0)
    net = CharLM(m["vocab"], args).double()
    state = load_file(os.path.join(run_dir, "best.safetensors"))
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in state.items()})
    net.eval()
    s = session(out)
    rng = np.random.default_rng(0)
    results = []
    for (t, b) in [(50, 1), (17, 4)]:
        tokens = rng.integers(0, m["vocab"], size=(t, b), dtype=np.int64)
        with torch.no_grad():
            want, st = net(torch.from_numpy(tokens), None)
            want2, _ = net(torch.from_numpy(tokens), st)
        names = [o.name for o in s.get_outputs()]
        got = s.run(names, {"tokens": tokens})
        feeds = {"tokens": tokens}
        if isinstance(st, tuple):
            feeds["h0"], feeds["c0"] = st[0].float().numpy(), st[1].float().numpy()
        else:
            feeds["h0"] = st.float().numpy()
        got2 = s.run(names, feeds)
        for what, g, w in [("tokens alone", got[0], want), ("state fed", got2[0], want2)]:
            err = float(np.max(np.abs(g - w.numpy())))
            ok = err < 1e-4
            results.append({"case": f"charlm T={t} B={b} {what}", "max_abs_diff": err, "ok": ok})
            print(f"CharLM {m['cell']} L{m['layers']} T={t} B={b} {what:13s} max |onnxruntime - "
                  f"pytorch| = {err:.2e} {'ok' if ok else 'FAIL'}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", help="a folder onnx_cases already wrote")
    ap.add_argument("--charlm", action="append", default=[], help="a `train lm` run directory")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "recurrent"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results = []
    if a.charlm:
        for r in a.charlm:
            results += check_charlm(r, a.binary)
    else:
        results += check_cases(a.cases)
    if a.json:
        print(json.dumps({"onnxruntime": ort.__version__, "results": results}))
    bad = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(bad)}/{len(results)} within tolerance (onnxruntime {ort.__version__})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
