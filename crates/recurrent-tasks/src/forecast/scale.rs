//! The scaler fitted on the training rows: standard or log, per column.

use super::config::*;
use recurrent::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A per-column affine map, fitted on the training rows: z = (t(y) - mean) / std, with t the
/// identity or ln.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub kind: Scale,
    /// Per column.
    pub mean: Vec<f64>,
    /// Per column (1 where the column is constant).
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fits on the first `rows` rows of `values` ([rows, width] row-major): mean and
    /// population standard deviation of t(y).
    pub fn fit(
        kind: Scale,
        values: &[f64],
        width: usize,
        rows: usize,
        columns: &[String],
    ) -> Result<Scaler> {
        check_positive(kind, values, width, columns)?;
        let mut mean = vec![0.0; width];
        let mut std = vec![0.0; width];
        if rows == 0 {
            return Err(Error::Input("no training rows to fit the scaler on".into()));
        }
        for j in 0..width {
            let col = || (0..rows).map(|r| t(kind, values[r * width + j]));
            let m = col().sum::<f64>() / rows as f64;
            let v = col().map(|x| (x - m) * (x - m)).sum::<f64>() / rows as f64;
            if !(m.is_finite() && v.is_finite()) {
                return Err(Error::Input(format!(
                    "column `{}`: its mean or spread over the training rows is not a finite number \
                     (values too large to scale): rescale the column",
                    columns.get(j).map_or("?", |c| c.as_str())
                )));
            }
            mean[j] = m;
            std[j] = if v > 0.0 { v.sqrt() } else { 1.0 };
        }
        Ok(Scaler { kind, mean, std })
    }
    /// z for value `y` of column `j`.
    pub fn scale(&self, y: f64, j: usize) -> f64 {
        (t(self.kind, y) - self.mean[j]) / self.std[j]
    }
    /// y for scaled `z` of column `j`.
    pub fn unscale(&self, z: f64, j: usize) -> f64 {
        let v = z * self.std[j] + self.mean[j];
        match self.kind {
            Scale::Standard | Scale::Auto => v,
            Scale::Log => v.exp(),
        }
    }
    /// Scales every row ([rows, width] row-major) to f32 model inputs.
    pub fn scale_all(&self, values: &[f64], columns: &[String]) -> Result<Vec<f32>> {
        let w = self.mean.len();
        check_positive(self.kind, values, w, columns)?;
        Ok(values
            .iter()
            .enumerate()
            .map(|(i, &y)| self.scale(y, i % w) as f32)
            .collect())
    }
}

fn t(kind: Scale, y: f64) -> f64 {
    match kind {
        Scale::Standard | Scale::Auto => y,
        Scale::Log => y.ln(),
    }
}

fn check_positive(kind: Scale, values: &[f64], width: usize, columns: &[String]) -> Result<()> {
    if kind == Scale::Log {
        if let Some(i) = values.iter().position(|&v| v <= 0.0) {
            return Err(Error::Input(format!(
                "data row {} (line {} of a CSV with a header), column `{}`: {} is not positive, but --scale log \
                 takes logarithms: use --scale standard",
                i / width + 1,
                i / width + 2,
                columns.get(i % width).map_or("?", |s| s.as_str()),
                values[i]
            )));
        }
    }
    Ok(())
}
