#!/usr/bin/env python3
"""Rescore a `recurrent train translate` run's test hypotheses with sacreBLEU.

Reads RUN/test.tsv (every target of a source is a reference), RUN/test.sources.txt and
RUN/test.greedy.txt / RUN/test.beam.txt, and prints sacreBLEU's default corpus BLEU
(13a, case-sensitive) for each. Usage: ~/torch/bin/python scripts/rescore_translate.py RUN...
"""
import sys
from collections import OrderedDict

import sacrebleu


def main():
    for run in sys.argv[1:]:
        groups = OrderedDict()
        with open(f"{run}/test.tsv", encoding="utf-8") as f:
            for line in f:
                src, tgt = line.rstrip("\n").split("\t")[:2]
                groups.setdefault(src, []).append(tgt)
        with open(f"{run}/test.sources.txt", encoding="utf-8") as f:
            sources = [l.rstrip("\n") for l in f]
        assert sources == list(groups), f"{run}: test.sources.txt is not test.tsv's order"
        refs = list(groups.values())
        k = max(map(len, refs))
        streams = [[r[i] if i < len(r) else None for r in refs] for i in range(k)]
        scores = []
        for kind in ["greedy", "beam"]:
            try:
                with open(f"{run}/test.{kind}.txt", encoding="utf-8") as f:
                    hyps = [l.rstrip("\n") for l in f]
            except FileNotFoundError:
                continue
            scores.append(f"{kind} {sacrebleu.corpus_bleu(hyps, streams).score:.2f}")
        print(run, *scores)


if __name__ == "__main__":
    main()
