"""A classical model for the sunspot split of issue 6, which ../shared/tools/ts_baselines.py
leaves without one: ARIMA(p,0,q) with a constant (statsmodels SARIMAX), fitted once on the
rows before the last 120 months, then a 12-step forecast from an origin every 12 months
through them, each conditioned on the true history up to its origin (fixed parameters).

    ~/torch/bin/python scripts/forecast_classical_sunspots.py ../shared/data/timeseries
"""
import sys, warnings
import numpy as np, pandas as pd
from statsmodels.tsa.statespace.sarimax import SARIMAX

warnings.filterwarnings("ignore")
s = pd.read_csv(f"{sys.argv[1]}/monthly-sunspots.csv").iloc[:, 1].astype(float).values
train = s[:-120]
for order in [(2, 0, 1), (3, 0, 2)]:
    fit = SARIMAX(train, order=order, trend="c").fit(disp=False)
    errs = []
    for o in range(len(s) - 120, len(s), 12):
        res = fit.apply(s[:o])
        f = res.forecast(12)
        errs.append(s[o:o + 12] - f)
    e = np.concatenate(errs)
    print(f"ARIMA{order} + const  RMSE {np.sqrt(np.mean(e**2)):7.2f}  MAE {np.mean(np.abs(e)):7.2f}")
