#!/usr/bin/env python3
"""A synthetic panel for the global forecaster: N monthly series of 100-300 rows, each a
level, a trend (some damped), a yearly season (additive or multiplicative, its own shape),
and noise (some of it autocorrelated), in long format `id,date,value`.

    python3 scripts/make_panel.py --series 1000 --seed 0 > panel.csv

Standard library only, deterministic for a seed.
"""
import argparse
import math
import random
import sys


def series(rng, n):
    level = math.exp(rng.uniform(2.0, 8.0))
    trend = rng.gauss(0.0, 0.004)          # per month, relative to the level
    damp = rng.choice([1.0, 1.0, 0.98])
    amp = rng.uniform(0.0, 0.35)            # seasonal amplitude, relative
    phase = rng.uniform(0, 2 * math.pi)
    harm2 = rng.uniform(-0.5, 0.5)          # a second harmonic: each season its own shape
    mult = rng.random() < 0.5
    noise = rng.uniform(0.01, 0.10)
    ar = rng.uniform(0.0, 0.7)
    e, t_eff, out = 0.0, 0.0, []
    for t in range(n):
        t_eff = t_eff * damp + 1.0
        base = level * math.exp(trend * t_eff)
        s = math.sin(2 * math.pi * t / 12 + phase) + harm2 * math.sin(4 * math.pi * t / 12 + 2 * phase)
        e = ar * e + rng.gauss(0.0, noise)
        if mult:
            v = base * (1.0 + amp * s) * (1.0 + e)
        else:
            v = base + level * (amp * s + e)
        out.append(max(v, 0.05 * base))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--min-rows", type=int, default=100)
    ap.add_argument("--max-rows", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    w = sys.stdout
    w.write("id,date,value\n")
    for i in range(a.series):
        n = rng.randint(a.min_rows, a.max_rows)
        end_year, end_month = 2024, rng.randint(1, 12)
        start = end_year * 12 + end_month - 1 - (n - 1)
        for t, v in enumerate(series(rng, n)):
            y, m = divmod(start + t, 12)
            w.write(f"s{i:04d},{y:04d}-{m + 1:02d}-01,{v:.4f}\n")


if __name__ == "__main__":
    main()
