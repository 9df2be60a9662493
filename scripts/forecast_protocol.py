#!/usr/bin/env python3
"""The forecasting check as the hidden checks run it, on the shared series.

For each series: write the file without its last H rows, run `recurrent train forecast
--data CUT --horizon H --seed 0` (defaults otherwise), then `recurrent forecast --checkpoint
RUN --data CUT`, and score its H rows against the rows held out: MASE (scale: the cut file's
in-sample seasonal-naive MAE at lag M, lag 1 when M is 1) and sMAPE, beside seasonal naive.
With `--baselines PYTHON` (a Python with pandas and statsmodels), ../shared/tools/
forecast_baselines.py adds ETS and ARIMA on the same split, and the table ends with the
geometric means.

With `--precisions bf16 int8`, the same trained run also forecasts at each reduced precision
(`forecast --precision P`), and the table adds each one's MASE and its geometric mean.

usage: scripts/forecast_protocol.py [--bin target/release/recurrent] [--data ../shared/data/timeseries]
                                    [--baselines ~/sm/bin/python] [--only NAME] [--json OUT]
                                    [--precisions bf16 int8]
"""
import argparse, csv, json, math, os, subprocess, sys, tempfile, time

from forecast_series import SERIES

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="target/release/recurrent")
ap.add_argument("--data", default="../shared/data/timeseries")
ap.add_argument("--baselines")
ap.add_argument("--only")
ap.add_argument("--json")
ap.add_argument("--precisions", nargs="*", default=[], help="reduced precisions to forecast at too")
ap.add_argument("--baselines-jsonl", help="baselines computed before, one forecast_baselines.py --json line each")
ap.add_argument("--seed", default="0", help="the training seed (the checks use 0)")
ap.add_argument("--train-args", default="", help="extra flags for train forecast (measuring a variant), e.g. '--patience 50'")
ap.add_argument("--save-baselines", help="append each series' forecast_baselines.py --json line here (for --baselines-jsonl)")
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
tools = os.path.join(here, "..", "..", "shared", "tools", "forecast_baselines.py")


def smape(t, f):
    return sum(200 * abs(x - y) / (abs(x) + abs(y)) if abs(x) + abs(y) > 0 else 0 for x, y in zip(t, f)) / len(t)


rows = []
for name, col, h, m in SERIES:
    if a.only and a.only not in name and a.only != col:
        continue
    path = os.path.join(a.data, name)
    with open(path, newline="") as fh:
        table = list(csv.reader(fh))
    header, body = table[0], [r for r in table[1:] if r]
    cut, held = body[:-h], body[-h:]
    j = header.index(col) if col else len(header) - 1
    tmp = tempfile.mkdtemp(prefix="fproto-")
    cut_path = os.path.join(tmp, name)
    with open(cut_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(cut)
    colargs = ["--column", header[j]] if col else []
    run = os.path.join(tmp, "run")
    t0 = time.time()
    r = subprocess.run([a.bin, "train", "forecast", "--data", cut_path, "--horizon", str(h), "--seed", a.seed,
                        "--out", run, "--json"] + colargs + a.train_args.split(), capture_output=True, text=True)
    secs = time.time() - t0
    if r.returncode != 0:
        print(f"{name} {col}: train failed: {r.stderr[-500:]}", file=sys.stderr)
        continue
    def forecast(extra):
        f = subprocess.run([a.bin, "forecast", "--checkpoint", run, "--data", cut_path] + extra,
                           capture_output=True, text=True)
        if f.returncode != 0:
            print(f"{name} {col}: forecast {extra} failed: {f.stderr[-500:]}", file=sys.stderr)
            return None, None
        lines = f.stdout.strip().splitlines()
        cells = [line.split(",") for line in lines[1:]]
        return lines[0].split(","), cells
    cols, cells = forecast([])
    if cells is None:
        continue
    fc = [float(c[1]) for c in cells]
    y = [float(rw[j]) for rw in cut]
    t = [float(rw[j]) for rw in held]
    lag = m if m > 1 else 1
    scale = sum(abs(y[i] - y[i - lag]) for i in range(lag, len(y))) / (len(y) - lag)
    sn = [y[len(y) - m + (k % m)] for k in range(h)] if m > 1 else [y[-1]] * h
    mae = lambda p: sum(abs(x - q) for x, q in zip(t, p)) / h
    row = {"series": name, "column": header[j], "h": h, "m": m, "train_s": round(secs, 1),
           "model": {"mase": mae(fc) / scale, "smape": smape(t, fc),
                     "rmse": math.sqrt(sum((x - q) ** 2 for x, q in zip(t, fc)) / h)},
           "seasonal_naive": {"mase": mae(sn) / scale, "smape": smape(t, sn)}}
    row["truth"] = t
    for level, lo_name, hi_name in ((80, "lower", "upper"), (95, "lower_95", "upper_95")):
        if lo_name in cols:
            lo, hi = cols.index(lo_name), cols.index(hi_name)
            row[lo_name] = [float(c[lo]) for c in cells]
            row[hi_name] = [float(c[hi]) for c in cells]
            row[f"coverage_{level}"] = sum(float(c[lo]) <= x <= float(c[hi]) for c, x in zip(cells, t)) / h
    for p in a.precisions:
        _, qc = forecast(["--precision", p])
        if qc is not None:
            row[f"model_{p}"] = {"mase": mae([float(c[1]) for c in qc]) / scale}
    chosen = [l for l in r.stderr.splitlines() if l.startswith("forecaster:")]
    row["fc"] = fc
    row["forecaster"] = chosen[0][len("forecaster: "):] if chosen else None
    hybrid = [l for l in r.stderr.splitlines() if l.startswith("hybrid:")]
    row["hybrid"] = hybrid[0][len("hybrid: "):] if hybrid else None
    # The training run's own test: the last H rows of the cut file, held out from the
    # network it reports, with every forecaster alone (the refit above forecasts the rows
    # after them). An earlier window, so what the network alone buys is seen on it.
    try:
        inner = json.loads(r.stdout)["test"]["table"]
        row["inner"] = {e["name"]: e["metrics"]["mase"] for e in inner}
    except (ValueError, KeyError, TypeError):
        row["inner"] = None
    if a.baselines_jsonl:
        for line in open(a.baselines_jsonl):
            b = json.loads(line)
            if b["file"].endswith(name) and b["column"] == header[j]:
                for k in ("ets", "arima"):
                    if k in b["methods"]:
                        row[k] = b["methods"][k]
    elif a.baselines:
        b = subprocess.run([os.path.expanduser(a.baselines), tools, path, "--horizon", str(h), "--season", str(m),
                            "--json"] + colargs, capture_output=True, text=True)
        if b.returncode == 0:
            if a.save_baselines:
                with open(a.save_baselines, "a") as fh:
                    fh.write(json.dumps(json.loads(b.stdout)) + "\n")
            for k, v in json.loads(b.stdout)["methods"].items():
                if k in ("ets", "arima"):
                    row[k] = v
    rows.append(row)
    extra = "".join(f"  {k} {row[k]['mase']:.3f}" for k in ["ets", "arima"] +
                    [f"model_{p}" for p in a.precisions] if k in row)
    print(f"{name:28s} {header[j]:10s} h={h:2d} model {row['model']['mase']:.3f}  snaive "
          f"{row['seasonal_naive']['mase']:.3f}{extra}  ({secs:.0f} s)", flush=True)

if rows:
    gm = lambda k: math.exp(sum(math.log(max(r[k]["mase"], 1e-9)) for r in rows if k in r) / sum(1 for r in rows if k in r))
    wins = sum(r["model"]["mase"] < r["seasonal_naive"]["mase"] for r in rows)
    line = f"geometric-mean MASE: model {gm('model'):.3f}, seasonal naive {gm('seasonal_naive'):.3f}"
    if all("ets" in r for r in rows):
        line += f", ETS {gm('ets'):.3f} (model/ETS {gm('model') / gm('ets'):.3f})"
    for p in a.precisions:
        k = f"model_{p}"
        if all(k in r for r in rows):
            line += f", model at {p} {gm(k):.3f} ({100 * (gm(k) / gm('model') - 1):+.2f}%)"
    for level in (80, 95):
        cov = [r[f"coverage_{level}"] for r in rows if f"coverage_{level}" in r]
        if cov:
            line += f"; {level}% interval coverage {100 * sum(cov) / len(cov):.0f}%"
    print(line + f"; model beats seasonal naive on {wins} of {len(rows)}")
    inner = [r["inner"] for r in rows if r.get("inner")]
    if len(inner) == len(rows):
        names = [k for k in inner[0] if all(k in i for i in inner)]
        gi = lambda k: math.exp(sum(math.log(max(i[k], 1e-9)) for i in inner) / len(inner))
        print("the training runs' own test (the H rows before those above), geometric-mean MASE: "
              + ", ".join(f"{k} {gi(k):.3f}" for k in names))
if a.json:
    with open(a.json, "w") as fh:
        json.dump(rows, fh, indent=1)
