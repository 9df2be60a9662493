//! Is there speech in this audio at all? A digit model answers with some digit for any
//! input, and softmax makes that answer confident: digital silence and a 440 Hz tone were
//! "7" at 0.99997. Three measures tell such inputs from speech before the model is trusted:
//!
//! - **loudness**: the loudest 25 ms frame. Below -70 dBFS the file is silence (every
//!   recording of FSDD peaks above -40 dBFS).
//! - **a single spectral line**: in the louder half of the frames, the share of a frame's
//!   power within two FFT bins of its strongest bin. A sine puts 0.9999 there; a voice,
//!   whose harmonics spread the power, at most 0.955 over all 2,500 FSDD recordings (the
//!   median is 0.45). Above 0.985 the sound is a tone.
//! - **no change**: the spread of frame loudness (95th minus 10th percentile, in dB). A word
//!   rises and falls (FSDD: at least 5.4 dB, median 25); a steady hum or noise stays within
//!   1 dB. Below 3 dB the sound is steady, not a word.

use realfft::RealFftPlanner;

/// Below this peak frame level (dBFS) a file is silence.
pub const SILENCE_DBFS: f64 = -70.0;
/// Above this median share of one spectral line, a tone.
pub const TONE_SHARE: f64 = 0.985;
/// Below this spread of frame levels (dB), a steady sound.
pub const STEADY_DB: f64 = 3.0;

/// Why `x` (mono at `rate` Hz) is not speech, or `None` when it may be.
pub fn non_speech(x: &[f32], rate: u32) -> Option<&'static str> {
    let frame = ((rate as usize) / 40).max(16); // 25 ms
    if x.len() < frame {
        return Some("shorter than one 25 ms frame");
    }
    let hop = frame / 2;
    let frames: Vec<&[f32]> = (0..=(x.len() - frame) / hop)
        .map(|i| &x[i * hop..i * hop + frame])
        .collect();
    let db: Vec<f64> = frames
        .iter()
        .map(|f| {
            let ms = f.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / f.len() as f64;
            10.0 * (ms + 1e-20).log10()
        })
        .collect();
    let mut sorted = db.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    if at(1.0) < SILENCE_DBFS {
        return Some("digital silence");
    }
    if at(0.95) - at(0.10) < STEADY_DB {
        return Some("a steady sound, not a word");
    }
    if tone_share(&frames, &db, at(0.5)) > TONE_SHARE {
        return Some("a pure tone");
    }
    None
}

/// A model's `confidence` in what it heard in `x` (at `rate`), with why `x` is not speech:
/// 0 then, whatever the model says.
pub fn heard(confidence: f64, x: &[f32], rate: u32) -> (f64, Option<&'static str>) {
    match non_speech(x, rate) {
        Some(why) => (0.0, Some(why)),
        None => (confidence, None),
    }
}

/// The median, over frames at least as loud as `median_db`, of the power share within two
/// bins of the strongest one (Hann window).
fn tone_share(frames: &[&[f32]], db: &[f64], median_db: f64) -> f64 {
    let n = frames[0].len();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let hann: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect();
    let (mut input, mut spectrum) = (fft.make_input_vec(), fft.make_output_vec());
    let mut shares = Vec::new();
    for (f, &d) in frames.iter().zip(db) {
        if d < median_db {
            continue;
        }
        for ((o, &v), w) in input.iter_mut().zip(f.iter()).zip(&hann) {
            *o = v as f64 * w;
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            continue;
        }
        let total: f64 = spectrum.iter().map(|c| c.norm_sqr()).sum();
        let peak = (0..spectrum.len())
            .max_by(|&a, &b| spectrum[a].norm_sqr().total_cmp(&spectrum[b].norm_sqr()))
            .unwrap_or(0);
        let near: f64 = spectrum[peak.saturating_sub(2)..(peak + 3).min(spectrum.len())]
            .iter()
            .map(|c| c.norm_sqr())
            .sum();
        shares.push(near / total.max(1e-30));
    }
    if shares.is_empty() {
        return 0.0;
    }
    shares.sort_by(f64::total_cmp);
    shares[shares.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, secs: f64, amp: f32) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize)
            .map(|i| amp * (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    #[test]
    fn silence_tones_and_steady_noise_are_not_speech() {
        assert_eq!(non_speech(&[], 8000), Some("shorter than one 25 ms frame"));
        assert_eq!(non_speech(&vec![0.0; 8000], 8000), Some("digital silence"));
        assert_eq!(non_speech(&vec![1e-5; 8000], 8000), Some("digital silence"));
        // A tone that fades in and out still has one spectral line.
        let mut t = tone(8000, 440.0, 1.0, 0.5);
        let n = t.len();
        for (i, v) in t.iter_mut().enumerate() {
            *v *= ((i.min(n - i) as f32) / 800.0).min(1.0);
        }
        assert_eq!(non_speech(&t, 8000), Some("a pure tone"));
        assert_eq!(
            non_speech(&tone(16000, 1000.0, 0.5, 0.3), 16000),
            Some("a steady sound, not a word")
        );
        let mut r = recurrent::Rng::new(1);
        let noise: Vec<f32> = (0..8000).map(|_| 0.1 * r.normal() as f32).collect();
        assert_eq!(non_speech(&noise, 8000), Some("a steady sound, not a word"));
    }

    #[test]
    fn a_word_like_sound_passes() {
        // Harmonics of 120 Hz under a rising and falling envelope, as a voiced syllable.
        let rate = 8000;
        let x: Vec<f32> = (0..rate / 2)
            .map(|i| {
                let t = i as f64 / rate as f64;
                let env = (std::f64::consts::PI * t / 0.5).sin().powi(2);
                let v: f64 = (1..12)
                    .map(|h| (2.0 * std::f64::consts::PI * 120.0 * h as f64 * t).sin() / h as f64)
                    .sum();
                (0.2 * env * v) as f32
            })
            .collect();
        assert_eq!(non_speech(&x, rate), None);
    }
}
