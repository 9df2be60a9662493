#!/usr/bin/env python3
"""Writes the test data of `recurrent import --onnx`: language models exported by PyTorch's
own `torch.onnx.export` (the TorchScript exporter, opset 17), with the logits PyTorch
computes for fixed tokens.

    python3 scripts/onnx_torch_fixtures.py     # torch and onnx from PyPI

Models: CharLM of ../shared/bench/pytorch_charlm.py (embedding -> nn.LSTM/GRU/RNN -> linear),
vocabulary 11, embedding 8, hidden 16, in crates/recurrent/tests/fixtures/onnx/: NAME.onnx,
and expected.json holding each model's tokens [T, B] and PyTorch's logits [T, B, V].
"""

import argparse
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench"))
from pytorch_charlm import CharLM  # noqa: E402

OUT = os.path.join(ROOT, "crates", "recurrent", "tests", "fixtures", "onnx")
VOCAB = 11


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, cell, layers in [("lstm2", "lstm", 2), ("gru1", "gru", 1), ("rnn2", "rnn", 2)]:
        torch.manual_seed(len(name) * 7 + layers)
        a = argparse.Namespace(cell=cell, embed=8, hidden=16, layers=layers, dropout=0.0)
        m = CharLM(VOCAB, a).eval()
        tokens = torch.randint(0, VOCAB, (5, 2))
        torch.onnx.export(m, (tokens, None), os.path.join(OUT, name + ".onnx"), dynamo=False,
                          input_names=["tokens"], opset_version=17,
                          dynamic_axes={"tokens": {0: "time", 1: "batch"}})
        with torch.no_grad():
            logits, _ = m(tokens, None)
        expected[name] = {"cell": cell, "layers": layers, "tokens": tokens.tolist(),
                          "logits": [round(v, 7) for v in logits.flatten().tolist()],
                          "shape": list(logits.shape), "torch": torch.__version__}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
