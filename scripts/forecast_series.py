"""The shared series the forecasting protocol scores (forecast_protocol.py) and
baseline_coverage.py reads, with the horizon each holds out."""

# (file, column or None for the last, horizon, season used by the scoring)
SERIES = [
    ("airline-passengers.csv", None, 24, 12),
    ("monthly-sunspots.csv", None, 12, 12),
    ("daily-min-temperatures.csv", None, 14, 7),
    ("co2.csv", "value", 24, 12),
    ("shampoo.csv", None, 6, 12),
    ("elnino-monthly.csv", None, 12, 12),
    ("lynx-annual.csv", None, 10, 1),
    ("austres-quarterly.csv", None, 8, 4),
] + [("us-macro-quarterly.csv", c, 8, 4) for c in
     "realgdp realcons realinv realgovt realdpi cpi m1 tbilrate unemp pop infl realint".split()]
