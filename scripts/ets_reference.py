#!/usr/bin/env python3
"""Reference ETS forecasts from statsmodels for the classical-method tests.

Writes crates/recurrent-tasks/tests/fixtures/ets_reference.json: three generated series (a
level with noise, a trend with noise, a damped trend), each with statsmodels' ETSModel
fit by maximum likelihood (ANN, AAN, AAdN) and its 12-step point forecast. The Rust test
fits augurs' ETS of the same form and compares. Needs numpy and statsmodels.

usage: scripts/ets_reference.py [OUT]
"""
import json, sys
import numpy as np
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

rng = np.random.default_rng(7)
n, h = 80, 12
t = np.arange(n)
series = {
    "level": 50 + np.cumsum(rng.normal(0, 1, n)) * 0.5 + rng.normal(0, 1, n),
    "trend": 20 + 0.8 * t + rng.normal(0, 2, n),
    "damped": 30 + 25 * (1 - 0.95 ** t) + rng.normal(0, 0.5, n),
}
forms = {"level": ("ANN", None, False), "trend": ("AAN", "add", False), "damped": ("AAdN", "add", True)}
out = []
for name, y in series.items():
    spec, trend, damped = forms[name]
    r = ETSModel(y, error="add", trend=trend, damped_trend=damped).fit(disp=False)
    out.append({"name": name, "spec": spec, "y": [round(v, 6) for v in y.tolist()],
                "forecast": r.forecast(h).tolist(), "aicc": r.aicc})
path = sys.argv[1] if len(sys.argv) > 1 else "crates/recurrent-tasks/tests/fixtures/ets_reference.json"
with open(path, "w") as fh:
    json.dump(out, fh, indent=1)
print(path)
