"""Every application from Python: a tiny run of each `train` task made here with
`recurrent.train`, loaded back with `recurrent.load` as the object for its task, and one
prediction that shows it learned or at least answers in the task's terms. The speech tests
read the Free Spoken Digit Dataset from ../shared and are skipped without it."""

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import recurrent

SHARED = Path(os.environ.get("RECURRENT_SHARED", Path(__file__).resolve().parents[3] / ".." / "shared"))
FSDD = SHARED / "data" / "speech" / "fsdd"


def small(**kw):
    """Settings that keep each run to a few seconds."""
    return {"hidden": 16, "layers": 1, "threads": 2, **kw}


def test_classifier(tmp_path):
    pos = ["a good film", "great acting and a good story", "good fun", "truly great"]
    neg = ["a bad film", "awful acting and a bad story", "bad and dull", "truly awful"]
    lines = [f"pos\t{t}" for t in pos * 25] + [f"neg\t{t}" for t in neg * 25]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    run = recurrent.train("classify", data=tmp_path / "train.txt", out=tmp_path / "run", steps=60,
                          **small(embed=16, batch=16, lr=1e-2, min_count=1, val_frac=0.2))
    assert run.results["valid"]["n"] > 0
    clf = recurrent.load(run.dir)
    assert isinstance(clf, recurrent.Classifier) and sorted(clf.labels) == ["neg", "pos"]
    labels, probs = clf.predict(["a good story", "an awful film"])
    assert labels == ["pos", "neg"], (labels, probs)
    assert np.allclose(np.sum(probs, axis=1), 1.0)
    assert "Classifier(lstm 1x16" in repr(clf)


def conllu(n, seed):
    stems = ["walk", "talk", "sing", "read", "jump"]
    out = []
    for i in range(n):
        out.append(f"# sent_id = {i}")
        for j in range(2 + (i + seed) % 4):
            stem = stems[(i * 7 + j * 3 + seed) % 5]
            w, t = [(f"{stem}ly", "ADV"), (f"{stem}ing", "VERB"), ("Anna", "PROPN")][(i + j + seed) % 3]
            out.append(f"{j + 1}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_")
        out.append("")
    return "\n".join(out) + "\n"


def test_tagger(tmp_path):
    (tmp_path / "train.conllu").write_text(conllu(150, 0))
    (tmp_path / "dev.conllu").write_text(conllu(30, 1))
    run = recurrent.train("tag", data=tmp_path / "train.conllu", valid=tmp_path / "dev.conllu",
                          out=tmp_path / "run", steps=80, column="upos",
                          **small(embed=16, batch=16, lr=1e-2))
    tagger = recurrent.load(run.dir)
    assert isinstance(tagger, recurrent.Tagger) and set(tagger.tags) >= {"ADV", "VERB", "PROPN"}
    # Suffixes decide the tag, so an unseen stem is tagged by its ending.
    got = tagger.tag(["Anna swimming quickly", ["Anna", "reading"]])
    assert got == [[("Anna", "PROPN"), ("swimming", "VERB"), ("quickly", "ADV")],
                   [("Anna", "PROPN"), ("reading", "VERB")]], got


def monthly_csv(path, rows=96):
    lines = ["month,passengers"]
    for i in range(rows):
        y, m = 2010 + i // 12, i % 12 + 1
        v = 100 + 0.5 * i + 20 * math.sin(2 * math.pi * i / 12)
        lines.append(f"{y}-{m:02d},{v:.3f}")
    path.write_text("\n".join(lines) + "\n")
    return [float(l.split(",")[1]) for l in lines[1:]]


def test_forecaster(tmp_path):
    values = monthly_csv(tmp_path / "m.csv")
    run = recurrent.train("forecast", data=tmp_path / "m.csv", out=tmp_path / "run", horizon=6,
                          lookback=24, steps=40, **small())
    assert run.results["test"]["table"], run.results
    f = recurrent.load(run.dir)
    assert isinstance(f, recurrent.Forecaster) and f.columns == ["passengers"] and f.horizon == 6
    # An array without dates: steps; the forecast continues the seasonal line.
    out = f.forecast(np.array(values))
    assert out["step"] == [1, 2, 3, 4, 5, 6]
    truth = [100 + 0.5 * i + 20 * math.sin(2 * math.pi * i / 12) for i in range(96, 102)]
    assert np.mean(np.abs(np.array(out["forecast"]) - truth)) < 8.0, (out["forecast"], truth)
    assert all(lo <= v <= hi for lo, v, hi in zip(out["lower_95"], out["forecast"], out["upper_95"]))
    # Dates given beside the values are continued.
    dates = [f"{2010 + i // 12}-{i % 12 + 1:02d}" for i in range(96)]
    out = f.forecast(values, horizon=3, dates=dates)
    assert out["date"] == ["2018-01", "2018-02", "2018-03"]
    with pytest.raises(ValueError, match="2 dates for 96 rows"):
        f.forecast(values, dates=dates[:2])


def test_forecaster_reads_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    values = monthly_csv(tmp_path / "m.csv")
    run = recurrent.train("forecast", data=tmp_path / "m.csv", out=tmp_path / "run", horizon=4,
                          lookback=24, steps=20, **small())
    f = run.load()
    months = pd.Series(values, index=pd.period_range("2010-01", periods=96, freq="M"))
    assert f.forecast(months)["date"] == ["2018-01", "2018-02", "2018-03", "2018-04"]
    read = pd.read_csv(tmp_path / "m.csv", index_col=0).squeeze("columns")
    assert f.forecast(read, horizon=1)["date"] == ["2018-01"]
    days = pd.Series(values, index=pd.date_range("2020-01-01", periods=96, freq="D"), name="x")
    frame = pd.DataFrame(f.forecast(days, horizon=2))
    assert list(frame["date"]) == ["2020-04-06", "2020-04-07"] and frame.shape[0] == 2


def test_translator(tmp_path):
    run = recurrent.train("translate", synthetic="reverse", synthetic_count=400, out=tmp_path / "run",
                          steps=30, **small(embed=16, batch=32))
    t = recurrent.load(run.dir)
    assert isinstance(t, recurrent.Translator)
    greedy = t.translate(["1 2 3 4", "5 6 7"], beam=1)
    beam = t.translate(["1 2 3 4", "5 6 7"], beam=3)
    assert len(greedy) == len(beam) == 2
    assert all(set(s.split()) <= set("0123456789") for s in greedy + beam), (greedy, beam)
    with pytest.raises(ValueError, match="beam must be 1 to 64"):
        t.translate(["1 2"], beam=0)


def abc_corpus():
    phrases = ["GABc d2B2", "c2A2 F2D2", "G2B2 d4", "e2dc B2A2", "dcBA G4", "FGAB c2e2"]
    tunes = []
    for i in range(40):
        p = [phrases[(i + k) % len(phrases)] for k in range(5)]
        tunes.append(f"X: {i + 1}\nT:Test {i}\nM:4/4\nL:1/8\nK:{'GD'[i % 2]}\n"
                     f'|:"G"{p[0]}|"D"{p[1]}|"G"{p[2]}|[1 "C"{p[3]}:|[2 "D"{p[4]}||\n')
    return "\n".join(tunes)


def test_composer(tmp_path):
    (tmp_path / "tunes.abc").write_text(abc_corpus())
    run = recurrent.train("music", data=tmp_path / "tunes.abc", out=tmp_path / "run", steps=40,
                          hidden=32, layers=1, embed=16, batch=8, lr=1e-2, threads=2)
    c = recurrent.load(run.dir)
    assert isinstance(c, recurrent.Composer)
    tunes = c.compose(meter="4/4", key="G", n=2, seed=1)
    assert len(tunes) == 2
    assert all("M:4/4" in t and "K:G" in t for t in tunes), tunes
    assert c.compose(n=1, seed=5) == c.compose(n=1, seed=5)


@pytest.fixture(scope="module")
def fsdd_subset(tmp_path_factory):
    if not FSDD.is_dir():
        pytest.skip(f"no Free Spoken Digit Dataset at {FSDD}")
    d = tmp_path_factory.mktemp("fsdd")
    for sp in ["jackson", "nicolas"]:
        for digit in range(10):
            for i in range(20):
                shutil.copy(FSDD / f"{digit}_{sp}_{i}.wav", d / f"{digit}_{sp}_{i}.wav")
    return d


def read_wav(path):
    import wave
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return x, w.getframerate()


def test_transcriber_isolated(fsdd_subset, tmp_path):
    run = recurrent.train("speech", data=fsdd_subset, out=tmp_path / "run", epochs=8,
                          **small(hidden=32, lr=5e-3))
    assert run.results["test"]["accuracy"] > 0.3, run.results["test"]  # chance: 0.1
    t = recurrent.load(run.dir)
    assert isinstance(t, recurrent.Transcriber) and t.task == "isolated"
    wav = fsdd_subset / "3_jackson_0.wav"
    by_path = t.transcribe(wav)
    assert by_path["digits"] in "0123456789" and len(by_path["probabilities"]) == 10
    # The same samples as an array at another rate: resampled to the model's, same answer.
    x, rate = read_wav(wav)
    assert rate == 8000
    up = np.interp(np.arange(0, len(x), 0.5), np.arange(len(x)), x).astype(np.float32)
    by_array = t.transcribe([up], sample_rate=16000)[0]
    assert np.allclose(by_array["probabilities"], by_path["probabilities"], atol=0.05), (by_array, by_path)
    with pytest.raises(ValueError, match="sample_rate is required"):
        t.transcribe([x])


def test_transcriber_connected(fsdd_subset, tmp_path):
    run = recurrent.train("speech", task="connected", data=fsdd_subset, out=tmp_path / "run",
                          epochs=1, train_per_speaker=20, valid_per_speaker=4, test_per_speaker=4,
                          **small())
    t = recurrent.load(run.dir)
    assert t.task == "connected"
    out = t.transcribe([fsdd_subset / "3_jackson_0.wav"], beam=2)[0]
    assert set(out["digits"]) <= set("0123456789") and "probabilities" not in out


def test_settings_stored_only_when_set_can_be_named(tmp_path):
    """A schedule and the regularisers are written into a config only when they differ from
    their defaults; they are settings all the same."""
    (tmp_path / "t.txt").write_text("a small corpus for a quick language model test.\n" * 40)
    run = recurrent.train("lm", data=tmp_path / "t.txt", out=tmp_path / "run", steps=2,
                          **small(embed=8, batch=2, seq_len=8, lr_schedule="cosine", warmup=1,
                                  weight_drop=0.2, variational=True))
    import json
    stored = json.loads((run.dir / "config.json").read_text())["model"]
    assert stored["reg"]["weight_drop"] == 0.2 and stored["reg"]["variational"] is True
    plain = recurrent.train("lm", data=tmp_path / "t.txt", out=tmp_path / "plain", steps=1,
                            **small(embed=8, batch=2, seq_len=8))
    assert "reg" not in json.loads((plain.dir / "config.json").read_text())["model"]


def test_a_long_budget_takes_the_long_recipe_and_settings_still_win(tmp_path):
    """As on the command line: `time_budget` of 20 minutes or more chooses the regularised,
    annealed recipe; a setting given replaces the recipe's value; `ema` is a setting too."""
    import json
    (tmp_path / "t.txt").write_text("a small corpus for a quick language model test.\n" * 40)
    kw = small(embed=8, batch=2, seq_len=8)
    run = recurrent.train("lm", data=tmp_path / "t.txt", out=tmp_path / "long", steps=1,
                          time_budget=3600, ema=0.9, **kw)
    train = json.loads((run.dir / "config.json").read_text())["train"]
    assert train["lr_schedule"] == "cosine" and train["reg"]["variational"] is True
    assert train["ema"] == 0.9
    mine = recurrent.train("lm", data=tmp_path / "t.txt", out=tmp_path / "mine", steps=1,
                           time_budget=3600, lr_schedule="constant", variational=False, **kw)
    train = json.loads((mine.dir / "config.json").read_text())["train"]
    assert "lr_schedule" not in train and train["reg"]["variational"] is False


def test_bad_task_inputs_raise(tmp_path):
    with pytest.raises(ValueError, match="unknown task `sentiment`"):
        recurrent.train("sentiment", data=tmp_path / "x")
    with pytest.raises(ValueError, match="`data` is required"):
        recurrent.train("classify", out=tmp_path / "r")
    with pytest.raises(FileNotFoundError):
        recurrent.train("tag", data=tmp_path / "missing.conllu", out=tmp_path / "r", steps=1)
    with pytest.raises(ValueError, match="unknown setting `horizn`.*horizon"):
        recurrent.train("forecast", data=tmp_path / "m.csv", out=tmp_path / "r", horizn=3)
    with pytest.raises(ValueError, match="give `data`"):
        recurrent.train("translate", out=tmp_path / "r", steps=1)
    with pytest.raises(ValueError, match="expected isolated or connected"):
        recurrent.train("speech", task="streaming", data=tmp_path, out=tmp_path / "r")
