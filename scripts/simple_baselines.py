#!/usr/bin/env python3
"""Simple baselines measured on the same splits as `recurrent train classify` / `train tag`
(docs/results.md): no learning beyond counting, no pretrained anything, standard library only.

- SST-2 (../shared/data/sentiment/sst/stsa.binary.*): multinomial naive Bayes on unigrams, and on
  unigrams + bigrams (add-one smoothing), trained on the 6,920 training sentences only.
- UD English-LinES UPOS (../shared/data/pos/*.conllu): each word's most frequent training tag;
  words never seen in training get the most frequent tag overall (NOUN).

Usage: python3 scripts/simple_baselines.py [SHARED_DIR]   (default: ../shared)
"""
import collections
import math
import sys
from pathlib import Path

shared = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared")


def read_sst(name):
    rows = []
    for line in (shared / "data/sentiment/sst" / name).read_text(encoding="utf-8").splitlines():
        label, text = line.split(" ", 1)
        rows.append((text.split(), label))
    return rows


def ngrams(words, n):
    feats = list(words)
    if n >= 2:
        feats += [a + " " + b for a, b in zip(words, words[1:])]
    return feats


def naive_bayes(train, test, n):
    counts = collections.defaultdict(collections.Counter)
    prior = collections.Counter()
    for words, y in train:
        prior[y] += 1
        counts[y].update(ngrams(words, n))
    vocab = set().union(*[set(c) for c in counts.values()])
    total = {y: sum(c.values()) for y, c in counts.items()}
    right = 0
    for words, y in test:
        def score(c):
            return math.log(prior[c]) + sum(
                math.log((counts[c][f] + 1) / (total[c] + len(vocab)))
                for f in ngrams(words, n) if f in vocab)
        right += max(prior, key=score) == y
    return right / len(test)


def read_conllu(name):
    sents, cur = [], []
    for line in (shared / "data/pos" / name).read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            if cur:
                sents.append(cur)
            cur = []
        elif not line.startswith("#"):
            f = line.split("\t")
            if "-" in f[0] or "." in f[0]:
                continue
            cur.append((f[1], f[3]))
    if cur:
        sents.append(cur)
    return sents


def most_frequent_tag(train, test):
    per_word = collections.defaultdict(collections.Counter)
    overall = collections.Counter()
    for s in train:
        for w, t in s:
            per_word[w][t] += 1
            overall[t] += 1
    default = overall.most_common(1)[0][0]
    right = n = unseen = unseen_right = 0
    for s in test:
        for w, t in s:
            guess = per_word[w].most_common(1)[0][0] if w in per_word else default
            n += 1
            right += guess == t
            if w not in per_word:
                unseen += 1
                unseen_right += guess == t
    return right / n, unseen_right / unseen, unseen, n


train, dev, test = (read_sst(f"stsa.binary.{s}") for s in ("train", "dev", "test"))
for n, name in ((1, "unigrams"), (2, "unigrams + bigrams")):
    print(f"SST-2 naive Bayes ({name}): dev {naive_bayes(train, dev, n):.4f} "
          f"test {naive_bayes(train, test, n):.4f}")
tr = read_conllu("en_lines-ud-train.conllu")
for split in ("dev", "test"):
    acc, unseen_acc, unseen, n = most_frequent_tag(tr, read_conllu(f"en_lines-ud-{split}.conllu"))
    print(f"LinES UPOS most frequent tag, {split}: accuracy {acc:.4f}, "
          f"unseen words {unseen} of {n} ({unseen / n:.1%}), accuracy on them {unseen_acc:.4f}")
