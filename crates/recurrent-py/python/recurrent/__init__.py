"""recurrent: recurrent neural networks on a Rust engine, with NumPy in and out.

    import numpy as np, recurrent
    lstm = recurrent.nn.LSTM(8, 32, num_layers=2)
    out, (h, c) = lstm(np.random.randn(20, 4, 8).astype(np.float32))

`recurrent.nn` holds PyTorch-shaped RNN, LSTM and GRU layers (forward, backward,
state_dict, the names PyTorch uses), `recurrent.optim` the optimizers that train them.
"""

import json
from pathlib import Path

from . import _recurrent, nn, optim
from ._recurrent import LanguageModel, __version__, set_threads
from .optim import clip_grad_norm_

__all__ = ["nn", "optim", "clip_grad_norm_", "set_threads", "train", "load", "Run",
           "LanguageModel", "__version__"]


class Run:
    """A training run: its directory, its summary (`results`) and its metrics lines."""

    def __init__(self, dir, results):
        self.dir = Path(dir)
        self.results = results

    @property
    def metrics(self):
        """The run's `metrics.jsonl`, one dict per line (train and eval events)."""
        path = self.dir / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def load(self):
        """The trained model (see `recurrent.load`)."""
        return load(self.dir)

    def __repr__(self):
        return f"Run({str(self.dir)!r}, steps={self.results.get('steps')})"


def train(task, data, out, steps=None, time_budget=None, epochs=None, resume=False, **settings):
    """Runs `recurrent train TASK` and returns its `Run`. `settings` are the task's flags
    with `_` for `-` (`hidden=256, seq_len=64, lr=2e-3`), over the documented defaults;
    without a limit a run trains for 60 s. Progress goes to stderr; Ctrl-C stops the run
    cleanly with a checkpoint (`resume=True` continues it).

    Built so far: `task="lm"` (`data` is a text file)."""
    if task != "lm":
        raise NotImplementedError(
            f"recurrent.train({task!r}): only 'lm' is built in the Python package so far; "
            f"run `recurrent train {task}` from the command line")
    text = Path(data).read_text(encoding="utf-8")
    summary = _recurrent.train_lm(text, str(out), json.dumps(settings), steps, time_budget, epochs, resume)
    return Run(out, json.loads(summary))


def load(path):
    """The trained model of a run directory (its best checkpoint) or checkpoint file. Built
    so far: language models (`train lm`, or pytorch_charlm.py's checkpoints), returned as a
    `LanguageModel` with `.sample(prime, n, temperature, seed)` and `.loss(text)`."""
    return _recurrent.load_language_model(str(path))
