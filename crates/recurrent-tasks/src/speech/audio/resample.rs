//! Sample-rate conversion with rubato's synchronous FFT resampler (band-limited: the
//! spectrum is cut at the lower Nyquist frequency, so 44.1 kHz speech comes down to 8 kHz
//! without aliasing). Also the primitive behind speed perturbation.

use rubato::{FftFixedInOut, Resampler};

/// The largest sample magnitude read and resampled (float WAVs; integer formats are below 1
/// by construction). A float WAV beyond it is refused: its FFT would overflow to NaN.
pub const MAX_SAMPLE: f32 = 1e10;

/// Resamples mono `x` from `from` Hz to `to` Hz. The output has `round(len * to / from)`
/// samples and is aligned with the input (the resampler's delay is removed).
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == 0 || to == 0 {
        return Err(format!("cannot resample from {from} Hz to {to} Hz"));
    }
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    // rubato's FFTs unwrap their results: a NaN, or a value whose square overflows, makes
    // them panic instead of failing, so such input is refused before it gets there.
    if let Some(i) = x
        .iter()
        .position(|v| !v.is_finite() || v.abs() > MAX_SAMPLE)
    {
        return Err(format!(
            "sample {i} is {:e}: only finite samples of magnitude at most {:e} can be resampled",
            x[i], MAX_SAMPLE
        ));
    }
    let want = ((x.len() as u128 * to as u128 + from as u128 / 2) / from as u128) as usize;
    // Chunks of about 128 output samples (measured: more leaves 3% ripple on a tone), whatever the ratio (a 1 Hz file must not ask
    // for a million-point FFT).
    let chunk_in = (128 * from as u64 / to as u64).max(1) as usize;
    let mut r = FftFixedInOut::<f32>::new(from as usize, to as usize, chunk_in, 1)
        .map_err(|e| e.to_string())?;
    let delay = r.output_delay();
    let n_in = r.input_frames_next();
    let mut out: Vec<f32> = Vec::with_capacity(want + delay + r.output_frames_max());
    let mut pos = 0;
    let mut buf = vec![0.0f32; n_in];
    // Feed whole chunks, then zeros until the delayed tail has come out.
    while out.len() < want + delay {
        buf.iter_mut().for_each(|v| *v = 0.0);
        if pos < x.len() {
            let n = (x.len() - pos).min(n_in);
            buf[..n].copy_from_slice(&x[pos..pos + n]);
        }
        pos += n_in;
        let o = r.process(&[&buf[..]], None).map_err(|e| e.to_string())?;
        out.extend_from_slice(&o[0]);
    }
    Ok(out[delay..delay + want].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_keeps_its_frequency_and_length() {
        let (from, to) = (44_100u32, 8_000u32);
        let n = 44_100;
        let x: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * 440.0 * i as f64 / from as f64).sin() as f32)
            .collect();
        let y = resample(&x, from, to).unwrap();
        assert_eq!(y.len(), 8_000);
        // Away from the edges, y is the same tone sampled at 8 kHz.
        let mut err = 0.0f64;
        for (i, &v) in y.iter().enumerate().skip(500).take(7000) {
            let want = (2.0 * std::f64::consts::PI * 440.0 * i as f64 / to as f64).sin();
            err = err.max((v as f64 - want).abs());
        }
        assert!(err < 0.01, "max error {err}");
    }

    #[test]
    fn rejects_zero_rates() {
        assert!(resample(&[0.0; 10], 0, 8000).is_err());
    }
}
