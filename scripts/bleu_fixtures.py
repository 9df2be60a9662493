#!/usr/bin/env python3
"""Expected BLEU values from sacreBLEU for crates/recurrent/tests/bleu_sacrebleu.rs.

Writes crates/recurrent/tests/fixtures/bleu/expected.json: 13a tokenisations of tricky
strings, and corpus BLEU (default settings: 13a, case-sensitive, exp smoothing; and with
lowercase=True) of small generated corpora with a varying number of references per
sentence (missing references passed as None, as sacreBLEU allows). All text is generated
here; nothing comes from a licensed corpus.

Usage: ~/torch/bin/pip install sacrebleu; ~/torch/bin/python scripts/bleu_fixtures.py
"""
import json
import os
import random

import sacrebleu
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "recurrent", "tests",
                   "fixtures", "bleu", "expected.json")

TOKENIZE = [
    "Hello, world!",
    "It costs $3.50, or 3,000 yen.",
    "Qu'est-ce que c'est\u202f? Allez\u00a0!",
    "1995-2000 &amp; &quot;quoted&quot; &lt;tag&gt;",
    "a..b ,, c.,d 5. .5 x-y 7-up",
    "Tom's (big) [list] {of} ~things~ @home #1 100% a/b a_b a^b a`b a|b",
    "  leading and trailing   spaces  ",
    "C'était l’été — «\u00a0déjà\u00a0» vu…",
    "<skipped> kept -\nsplit line\nnext",
    "",
]

WORDS = ["le", "chat", "est", "sur", "la", "table", "Tom", "ne", "pas", "mange", "il",
         "elle", "a", "un", "chien", ".", "?", "!", ",", "Je", "je", "suis", "là", "l'homme",
         "qu'il", "3.5", "10,000", "peut-être", "vite"]


def sentence(rng, lo=1, hi=9):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def corpus(rng, n, max_refs):
    hyps, refs = [], []
    for _ in range(n):
        r = [sentence(rng) for _ in range(rng.randint(1, max_refs))]
        # Hypotheses near a reference (so n-grams match) or unrelated.
        if rng.random() < 0.7:
            base = rng.choice(r).split()
            edit = [w for w in base if rng.random() > 0.2]
            if rng.random() < 0.5:
                edit.append(rng.choice(WORDS))
            h = " ".join(edit)
        else:
            h = sentence(rng, 0, 6)
        hyps.append(h)
        refs.append(r)
    return hyps, refs


def score(hyps, refs, lowercase):
    k = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(k)]
    b = BLEU(lowercase=lowercase).corpus_score(hyps, streams)
    return {"score": b.score, "counts": b.counts, "totals": b.totals,
            "sys_len": b.sys_len, "ref_len": b.ref_len, "bp": b.bp}


def main():
    tok = Tokenizer13a()
    rng = random.Random(0)
    cases = []
    for i, (n, max_refs) in enumerate([(1, 1), (3, 2), (10, 3), (40, 4), (100, 5), (5, 1)]):
        hyps, refs = corpus(rng, n, max_refs)
        cases.append({"name": f"generated-{i}", "hyps": hyps, "refs": refs,
                      "cased": score(hyps, refs, False), "lowercase": score(hyps, refs, True)})
    # Fixed cases: no match at all, an empty hypothesis, identical, too short.
    fixed = [
        ("no-match", ["x y z w"], [["a b c d"]]),
        ("identical", ["Le chat est là ."], [["Le chat est là ."]]),
        ("short-brevity", ["le chat", "il est"], [["le chat est sur la table"], ["il est là"]]),
        ("brevity-penalty", ["le chat est sur", "il est là ce"],
         [["le chat est sur la table", "le chat est sur la grande table"], ["il est là ce soir"]]),
        ("empty-hypothesis", ["", "le chat est sur la table"], [["a b"], ["le chat est sur la table"]]),
    ]
    for name, hyps, refs in fixed:
        cases.append({"name": name, "hyps": hyps, "refs": refs,
                      "cased": score(hyps, refs, False), "lowercase": score(hyps, refs, True)})
    data = {
        "sacrebleu_version": sacrebleu.__version__,
        "tokenize_13a": [{"text": t, "tokens": tok(t.rstrip()).split()} for t in TOKENIZE],
        "corpus": cases,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} corpora, sacrebleu {sacrebleu.__version__}")


if __name__ == "__main__":
    main()
