#!/usr/bin/env python3
"""How often the classical methods' own prediction intervals hold the held-out rows.

The forecasting protocol's 20 shared series (scripts/forecast_series.py), each
cut before its last H rows. On the cut rows: statsmodels' ETSModel (the best AICc over
error add/mul x trend none/add/add damped x season none/add/mul, simulated intervals)
and SARIMAX (the best AIC over forecast_baselines.py's grid, analytic intervals). Prints
each one's share of test points inside its 80% and 95% intervals, per series and on
average, as a yardstick for the 80% / 95% coverage our forecaster reports.

usage: ~/sm/bin/python scripts/baseline_coverage.py [--data ../shared/data/timeseries] [--json OUT]
"""
import argparse, itertools, json, os, sys, warnings

import numpy as np
import pandas as pd
from forecast_series import SERIES
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.statespace.sarimax import SARIMAX

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))


def ets_intervals(tr, h, m):
    # get_prediction builds its frame from the index of a pandas input.
    tr = pd.Series(tr)
    best = None
    seasons = [None, "add", "mul"] if m > 1 and len(tr) >= 2 * m + 2 else [None]
    for err, trend, damped, seas in itertools.product(["add", "mul"], [None, "add"], [False, True], seasons):
        if (damped and trend is None) or ((seas == "mul" or err == "mul") and tr.min() <= 0):
            continue
        try:
            r = ETSModel(tr, error=err, trend=trend, damped_trend=damped, seasonal=seas,
                         seasonal_periods=m if seas else None).fit(disp=False)
            if np.isfinite(r.aicc) and (best is None or r.aicc < best[0]):
                best = (r.aicc, r)
        except Exception:
            pass
    if best is None:
        return None
    # The intervals are simulated: a fixed seed makes the figures repeatable.
    p = best[1].get_prediction(start=len(tr), end=len(tr) + h - 1, rng=0)
    out = {}
    for level in (80, 95):
        f = p.summary_frame(alpha=1 - level / 100)
        out[level] = (f["pi_lower"].to_numpy(), f["pi_upper"].to_numpy())
    return out


def arima_intervals(tr, h, m):
    best = None
    for order in [(0, 1, 1), (1, 1, 0), (1, 1, 1), (2, 1, 1), (1, 0, 1), (2, 1, 2)]:
        for so in [(0, 0, 0, 0)] + ([(0, 1, 1, m), (1, 1, 0, m)] if 1 < m <= 12 else []):
            try:
                r = SARIMAX(tr, order=order, seasonal_order=so, trend="c" if order[1] == 0 else None).fit(disp=False)
                if best is None or r.aic < best[0]:
                    best = (r.aic, r)
            except Exception:
                pass
    if best is None:
        return None
    fc = best[1].get_forecast(h)
    return {level: tuple(np.asarray(fc.conf_int(alpha=1 - level / 100)).T) for level in (80, 95)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data", "timeseries"))
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    for name, col, h, m in SERIES:
        df = pd.read_csv(os.path.join(a.data, name))
        c = col or df.columns[-1]
        y = pd.to_numeric(df[c], errors="coerce").interpolate().values.astype(float)
        tr, te = y[:-h], y[-h:]
        row = {"series": name, "column": c, "horizon": h}
        for method, fit in (("ets", ets_intervals), ("arima", arima_intervals)):
            iv = fit(tr, h, m)
            for level in (80, 95):
                if iv is None:
                    row[f"{method}_{level}"] = None
                    continue
                lo, hi = iv[level]
                row[f"{method}_{level}"] = float(np.mean((te >= lo) & (te <= hi)))
        rows.append(row)
        cells = " ".join(f"{k} {v:.0%}" if v is not None else f"{k} -" for k, v in row.items() if "_" in k)
        print(f"{name:28s} {c:9s} {cells}", flush=True)
    keys = [k for k in rows[0] if k.startswith(("ets_", "arima_"))]
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in keys}
    print("mean over the series: " + " ".join(f"{k} {v:.0%}" for k, v in mean.items()))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"series": rows, "mean": mean}, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
