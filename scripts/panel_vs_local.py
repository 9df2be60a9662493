#!/usr/bin/env python3
"""The global forecaster against one local forecaster per series, on the same series.

Trains `recurrent train forecast` with defaults on each of the first K series of a
long-format panel (`id,date,value`), as a user with one series would, and compares its test
MASE with the global run's (`train forecast --id-column`) on the same series and rows:

    python3 scripts/panel_vs_local.py --panel panel.csv --run runs/panel --series 20 --horizon 18

Standard library only. The local runs go to a temporary directory.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import tempfile
import time
from collections import OrderedDict


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", required=True)
    ap.add_argument("--run", required=True, help="the --id-column run directory")
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--horizon", type=int, required=True)
    ap.add_argument("--bin", default="target/release/recurrent")
    a = ap.parse_args()
    rows = OrderedDict()
    with open(a.panel) as f:
        r = csv.reader(f)
        header = next(r)
        for line in r:
            rows.setdefault(line[0], []).append(line[1:])
    ids = list(rows)[: a.series]
    # The global run's test MASE per series, from its test forecasts.
    glob = {}
    with open(os.path.join(a.run, "test_forecasts.csv")) as f:
        for p in csv.DictReader(f):
            glob.setdefault(p[header[0]], []).append((float(p["actual"]), float(p["model"]), float(p["rnn"])))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for sid in ids:
            path = os.path.join(tmp, f"{sid}.csv")
            with open(path, "w") as f:
                f.write(",".join(header[1:]) + "\n")
                for line in rows[sid]:
                    f.write(",".join(line) + "\n")
            t0 = time.time()
            res = subprocess.run(
                [a.bin, "train", "forecast", "--data", path, "--horizon", str(a.horizon),
                 "--out", os.path.join(tmp, sid), "--json"],
                capture_output=True, text=True, check=True)
            secs = time.time() - t0
            s = json.loads(res.stdout)
            table = {r["name"]: r["metrics"] for r in s["test"]["table"]}
            scale = s["test"]["mase_scale"]
            g = glob[sid]
            gm = sum(abs(x - m) for x, m, _ in g) / len(g) / scale
            gr = sum(abs(x - n) for x, _, n in g) / len(g) / scale
            if "seasonal_naive" not in table:
                print(f"{sid}: left out (the local run found no season, so its MASE scale differs)")
                continue
            out.append((sid, table["model"]["mase"], table["rnn"]["mase"], gm, gr,
                        table["seasonal_naive"]["mase"], secs))
            print(f"{sid}: local {out[-1][1]:.3f} (rnn {out[-1][2]:.3f}), global {gm:.3f} (rnn {gr:.3f}), "
                  f"seasonal naive {out[-1][5]:.3f}, {secs:.1f} s", flush=True)
    geo = lambda v: math.exp(sum(math.log(x) for x in v) / len(v))
    mean = lambda v: sum(v) / len(v)
    names = ["local default", "local rnn", "global model", "global rnn", "seasonal naive"]
    print(f"\n{len(out)} series; MASE mean / geometric mean")
    for k, n in enumerate(names, start=1):
        v = [o[k] for o in out]
        print(f"{n:<16} {mean(v):.3f} / {geo(v):.3f}")
    print(f"local training: {sum(o[6] for o in out):.0f} s for {len(out)} series")


if __name__ == "__main__":
    main()
