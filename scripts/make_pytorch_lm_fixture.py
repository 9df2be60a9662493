#!/usr/bin/env python3
"""Makes the tiny PyTorch char-LM file the checkpoint import tests read, or checks that PyTorch
loads a file our side exported.

    ~/torch/bin/python scripts/make_pytorch_lm_fixture.py
        writes crates/recurrent/tests/fixtures/pytorch_lm/charlm_lstm_l2_h8.safetensors
    ~/torch/bin/python scripts/make_pytorch_lm_fixture.py --check FILE
        loads FILE (e.g. one written by export_pytorch_lm) into pytorch_charlm.py's CharLM with
        load_state_dict(strict=True) and compares every tensor and the metadata with the fixture

The file is made by ../shared/bench/pytorch_charlm.py itself (its --save), so it is exactly the
format that script writes: a 2-layer LSTM, hidden 8, embedding 4, on a 15-character vocabulary
that includes a newline, a space, a double quote and a non-ASCII letter (escaped in the vocab
JSON). --time-budget 0 saves the seeded initial weights without training: deterministic bytes.
The run happens in a temporary directory with relative paths, so the "config" metadata holds no
machine-specific path.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("RECURRENT_SHARED", os.path.join(ROOT, "..", "shared"))
CHARLM = os.path.join(SHARED, "bench", "pytorch_charlm.py")
OUT = os.path.join(ROOT, "crates", "recurrent", "tests", "fixtures", "pytorch_lm",
                   "charlm_lstm_l2_h8.safetensors")
TEXT = 'the "cat" sat on the mat.\nthé end\n' * 4
FLAGS = ["--cell", "lstm", "--hidden", "8", "--layers", "2", "--embed", "4", "--dropout", "0",
         "--seq-len", "4", "--batch", "1", "--time-budget", "0", "--threads", "1", "--seed", "0"]


def make():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "tiny.txt"), "w", encoding="utf-8") as f:
            f.write(TEXT)
        subprocess.run([sys.executable, CHARLM, "--data", "tiny.txt", "--save", "lm.safetensors"]
                       + FLAGS, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        shutil.copyfile(os.path.join(tmp, "lm.safetensors"), OUT)
    print(OUT)


def check(path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    sys.path.insert(0, os.path.dirname(CHARLM))
    from pytorch_charlm import CharLM

    with safe_open(path, "pt") as f:
        meta = f.metadata()
    with safe_open(OUT, "pt") as f:
        want_meta = f.metadata()
    vocab = json.loads(meta["vocab"])
    cfg = argparse.Namespace(**json.loads(meta["config"]))
    model = CharLM(len(vocab), cfg)
    model.load_state_dict(load_file(path), strict=True)
    want = load_file(OUT)
    for name, t in model.state_dict().items():
        assert torch.equal(t, want[name]), name
    assert meta["vocab"] == want_meta["vocab"], "vocab metadata differs"
    assert json.loads(meta["config"]) == json.loads(want_meta["config"]), "config differs"
    print(f"{path}: PyTorch loads it (strict), {len(want)} tensors and metadata equal the fixture")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", metavar="FILE")
    a = ap.parse_args()
    check(a.check) if a.check else make()
