"""pandas objects taken apart for `Forecaster.forecast`, so the Rust side sees only arrays
and date strings written as the CSV reader reads them. pandas is never imported: an
object is recognised by what it has."""

import numpy as np


def split(data):
    """`(values, dates, names)`: values as float64 [rows] or [rows, columns] (NaN where
    missing), the index's dates as strings (None without a date index), and the column
    names (None for an array or an unnamed Series)."""
    if hasattr(data, "index") and hasattr(data, "to_numpy"):
        values = np.asarray(data.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
        if hasattr(data, "columns"):
            names = [str(c) for c in data.columns]
        else:
            names = None if data.name is None else [str(data.name)]
        return np.ascontiguousarray(values), _dates(data.index), names
    values = np.asarray(data, dtype=np.float64)
    return np.ascontiguousarray(values), None, None


def _dates(index):
    # A PeriodIndex: months (1949-01), quarters (1959Q1) and years print as the reader
    # takes them; a week prints as a range, so it goes by its first day.
    if hasattr(index, "to_timestamp") and hasattr(index, "freqstr"):
        if str(index.freqstr).startswith("W"):
            index = index.to_timestamp(how="start")
        else:
            return [str(p) for p in index]
    # A DatetimeIndex: days, or times of day when any row has one.
    if hasattr(index, "strftime") and hasattr(index, "normalize"):
        timed = bool((index != index.normalize()).any())
        return [str(s) for s in index.strftime("%Y-%m-%d %H:%M:%S" if timed else "%Y-%m-%d")]
    # Dates as a CSV holds them (`pandas.read_csv(..., index_col=0)`): read as the CLI
    # reads the file's date column.
    labels = list(index)
    if labels and all(isinstance(v, str) for v in labels):
        return labels
    return None
