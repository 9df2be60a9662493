"""recurrent: recurrent neural networks on a Rust engine, with NumPy in and out.

    import numpy as np, recurrent
    lstm = recurrent.nn.LSTM(8, 32, num_layers=2)
    out, (h, c) = lstm(np.random.randn(20, 4, 8).astype(np.float32))

`recurrent.nn` holds PyTorch-shaped RNN, LSTM and GRU layers (forward, backward,
state_dict, the names PyTorch uses), `recurrent.optim` the optimizers that train them.
`recurrent.train(task, data=..., **settings)` runs any `recurrent train` command and
`recurrent.load(run)` returns its trained model.
"""

import json
import os
from pathlib import Path

from . import _recurrent, nn, optim
from ._recurrent import (Classifier, Composer, Forecaster, LanguageModel, Tagger, Transcriber,
                         Translator, __version__, set_threads)
from .optim import clip_grad_norm_

__all__ = ["nn", "optim", "clip_grad_norm_", "set_threads", "train", "load", "Run",
           "LanguageModel", "Classifier", "Tagger", "Forecaster", "Transcriber", "Translator",
           "Composer", "__version__"]


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


def _plain(v):
    """Settings as JSON takes them: paths as strings, tuples as lists."""
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def train(task, /, data=None, out=None, steps=None, time_budget=None, epochs=None, resume=False,
          **settings):
    """Runs `recurrent train TASK` and returns its `Run`.

    `task` is lm, classify, tag, forecast, translate, speech or music; `data` what that
    command's `--data` takes (a text file, labelled files, a CoNLL-U file, a CSV, sentence
    pairs, a folder of WAVs, ABC tunes). `settings` are the fields of the task's config,
    named as the command's flags with `_` for `-` (`hidden=256, seq_len=64, lr=2e-3`), laid
    over the documented defaults, and the task's other inputs (`valid=`, `test=`,
    `horizon=`, `columns=`, `task="connected"` for speech, ...). Without `steps`,
    `time_budget` or `epochs` a run takes the command's default limits; without `out` it
    goes to `runs/<task>-<timestamp>`. Also: `threads`, `save_every`, `keep`, `on_nan`,
    `tensorboard`. Progress goes to stderr; Ctrl-C stops the run cleanly with a
    checkpoint (`resume=True` continues it)."""
    if data is not None:
        settings["data"] = data
    settings = {k: _plain(v) for k, v in settings.items()}
    out = None if out is None else os.fspath(out)
    out_dir, summary = _recurrent.train(task, json.dumps(settings), out, steps, time_budget,
                                        epochs, resume)
    return Run(out_dir, json.loads(summary))


def load(path, precision=None):
    """The trained model of a run directory (its best checkpoint) or checkpoint file, as
    the object for the task that made it, its recurrent layers computing in `precision`
    ("f32", "bf16" or "int8"; default: the checkpoint's, f32 unless `recurrent quantize`
    wrote it):

    - `LanguageModel` (`train lm`, or pytorch_charlm.py's checkpoints): `.sample()`, `.loss()`
    - `Classifier` (`train classify`): `.predict(texts) -> (labels, probabilities)`
    - `Tagger` (`train tag`): `.tag(sentences)`
    - `Forecaster` (`train forecast`; a run's refit on every row): `.forecast(series, horizon)`
    - `Transcriber` (`train speech`): `.transcribe(paths_or_arrays, sample_rate=)`
    - `Translator` (`train translate`): `.translate(texts, beam=)`
    - `Composer` (`train music`): `.compose(meter=, key=, n=)`"""
    return _recurrent.load(os.fspath(path), precision)
