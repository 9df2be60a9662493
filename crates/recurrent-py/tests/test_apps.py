"""Applications from Python: a language model trained with `recurrent.train` in the test,
loaded with `recurrent.load`, sampled and scored; wrong settings and paths raising the
right exceptions."""

import pytest

import recurrent

TEXT = "the cat sat on the mat. the dog sat on the log. " * 200


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    (d / "corpus.txt").write_text(TEXT)
    return recurrent.train("lm", data=d / "corpus.txt", out=d / "run", steps=150, hidden=32,
                           layers=1, embed=16, seq_len=32, batch=8, lr=1e-2, dropout=0.0)


def test_train_returns_a_run_that_learned(run):
    assert run.results["steps"] == 150
    evals = [m for m in run.metrics if m["event"] == "eval"]
    assert evals and evals[-1]["val_loss"] < 1.0, evals[-1]  # ln(15 symbols) = 2.7 at chance
    assert (run.dir / "best.safetensors").exists()


def test_load_samples_and_scores(run):
    lm = recurrent.load(run.dir)
    assert isinstance(lm, recurrent.LanguageModel)
    assert set(lm.vocab) == set(TEXT)
    text = lm.sample("the ", 60, temperature=0.0)
    assert len(text) == 60 and set(text) <= set(TEXT)
    assert lm.sample("the ", 40, temperature=1.0, seed=3) == lm.sample("the ", 40, temperature=1.0, seed=3)
    # The text it learned costs far less than the same letters shuffled.
    seen = lm.loss(TEXT[:400])
    shuffled = lm.loss("".join(sorted(TEXT[:400])))
    assert seen < 0.5 * shuffled, (seen, shuffled)
    assert "LanguageModel(lstm 1x32" in repr(lm)


def test_reduced_precision_scores_close_to_f32(run):
    text = TEXT[:400]
    f32 = recurrent.load(run.dir).loss(text)
    for p in ["bf16", "int8"]:
        q = recurrent.load(run.dir, precision=p).loss(text)
        assert q != f32 and abs(q - f32) < 0.02 * f32, (p, q, f32)
    with pytest.raises(ValueError, match="f32, bf16 or int8"):
        recurrent.load(run.dir, precision="fp8")


def test_resume_of_a_finished_run_changes_nothing(run):
    again = recurrent.train("lm", data=run.dir.parent / "corpus.txt", out=run.dir, steps=150, resume=True,
                            hidden=32, layers=1, embed=16, seq_len=32, batch=8, lr=1e-2, dropout=0.0)
    assert again.results["already_complete"]


def test_bad_settings_and_paths_raise(tmp_path):
    (tmp_path / "c.txt").write_text(TEXT)
    with pytest.raises(ValueError, match="unknown setting `hiden`"):
        recurrent.train("lm", data=tmp_path / "c.txt", out=tmp_path / "r", steps=1, hiden=3)
    with pytest.raises(ValueError, match="--seq-len, --batch"):
        recurrent.train("lm", data=tmp_path / "c.txt", out=tmp_path / "r2", steps=1, batch=0)
    with pytest.raises(FileNotFoundError):
        recurrent.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="this checkpoint|unknown setting `horizon`"):
        recurrent.train("lm", data=tmp_path / "c.txt", out=tmp_path / "r3", horizon=3)
    tiny = recurrent.train("lm", data=tmp_path / "c.txt", out=tmp_path / "tiny", steps=2, hidden=8,
                           layers=1, embed=4, seq_len=8, batch=2)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        tiny.load().loss("t")
    with pytest.raises(ValueError, match="is not in the model's vocabulary"):
        tiny.load().loss("xyz \u00e9\u00e9")
