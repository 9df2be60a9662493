//! Audio in: WAV files written here in every supported format (and broken ones) read back
//! to the right samples or to one clear error; log-mel features against librosa's values
//! (tests/fixtures/audio, scripts/audio_fixtures.py).

use recurrent_tasks::speech::audio::features::{FeatureConfig, MelExtractor};
use recurrent_tasks::speech::audio::{read_wav, read_wav_bytes};
use std::path::Path;

/// A WAV file: RIFF header, the given chunks in order.
fn riff(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    for (id, data) in chunks {
        body.extend_from_slice(*id);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend(body);
    v
}

fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits.div_ceil(8);
    let mut f = Vec::new();
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(&channels.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&(rate * align as u32).to_le_bytes());
    f.extend_from_slice(&align.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

fn extensible(sub_tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let mut f = fmt(0xFFFE, channels, rate, bits);
    f.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    f.extend_from_slice(&bits.to_le_bytes()); // valid bits
    f.extend_from_slice(&0u32.to_le_bytes()); // channel mask
    f.extend_from_slice(&sub_tag.to_le_bytes());
    f.extend_from_slice(&[
        0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
    ]);
    f
}

/// The test signal: 8 values in [-1, 1).
const SIG: [f64; 8] = [0.0, 0.5, -0.5, 0.25, -1.0, 0.999, -0.125, 0.0625];

fn encode(bits: u16, float: bool, v: f64) -> Vec<u8> {
    if float {
        return (v as f32).to_le_bytes().to_vec();
    }
    let q = (v * (1i64 << (bits - 1)) as f64).round() as i64;
    let q = q.clamp(-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    match bits {
        8 => vec![(q + 128) as u8],
        16 => (q as i16).to_le_bytes().to_vec(),
        24 => (q as i32).to_le_bytes()[..3].to_vec(),
        _ => (q as i32).to_le_bytes().to_vec(),
    }
}

fn read(bytes: &[u8]) -> Result<recurrent_tasks::speech::audio::Audio, String> {
    read_wav_bytes(bytes, Path::new("test.wav")).map_err(|e| e.to_string())
}

#[test]
fn every_supported_format_reads_back_the_samples() {
    for (bits, float) in [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        let tag = if float { 3 } else { 1 };
        let data: Vec<u8> = SIG.iter().flat_map(|&v| encode(bits, float, v)).collect();
        for ext in [false, true] {
            let f = if ext {
                extensible(tag, 1, 11025, bits)
            } else {
                fmt(tag, 1, 11025, bits)
            };
            let a = read(&riff(&[(b"fmt ", f), (b"data", data.clone())])).unwrap();
            assert_eq!(a.sample_rate, 11025);
            assert_eq!(a.samples.len(), SIG.len());
            let tol = 1.0 / (1u64 << (bits - 1)) as f64 + 1e-7;
            for (got, want) in a.samples.iter().zip(SIG) {
                assert!(
                    (*got as f64 - want).abs() <= tol,
                    "{bits}-bit float={float} ext={ext}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn channels_are_mixed_down_and_other_chunks_skipped() {
    // Stereo 16-bit: left SIG, right -SIG/2: the mean is SIG/4.
    let data: Vec<u8> = SIG
        .iter()
        .flat_map(|&v| {
            let mut x = encode(16, false, v);
            x.extend(encode(16, false, -v / 2.0));
            x
        })
        .collect();
    let bytes = riff(&[
        (b"LIST", b"INFOISFT\x03\x00\x00\x00ab\x00".to_vec()), // odd-sized, padded
        (b"fmt ", fmt(1, 2, 8000, 16)),
        (b"fact", vec![8, 0, 0, 0]),
        (b"data", data),
        (b"id3 ", vec![1, 2, 3]),
    ]);
    let a = read(&bytes).unwrap();
    assert_eq!(a.samples.len(), 8);
    for (got, want) in a.samples.iter().zip(SIG) {
        assert!(
            (*got as f64 - want / 4.0).abs() < 1e-4,
            "{got} vs {}",
            want / 4.0
        );
    }
    // Six channels.
    let data: Vec<u8> = (0..6 * 4)
        .flat_map(|i| encode(24, false, (i % 6) as f64 / 10.0))
        .collect();
    let a = read(&riff(&[(b"fmt ", fmt(1, 6, 48000, 24)), (b"data", data)])).unwrap();
    assert_eq!(a.samples.len(), 4);
    assert!((a.samples[0] - 0.25).abs() < 1e-5, "{}", a.samples[0]);
}

#[test]
fn broken_files_get_one_clear_error() {
    let good = riff(&[(b"fmt ", fmt(1, 1, 8000, 16)), (b"data", vec![0u8; 200])]);
    assert!(read(&good).is_ok());
    let mut wrong_fmt_size = good.clone();
    wrong_fmt_size[16..20].copy_from_slice(&5000u32.to_le_bytes());
    let mut wrong_data_size = good.clone();
    wrong_data_size[40..44].copy_from_slice(&9999u32.to_le_bytes());
    let mut riff_too_long = good.clone();
    riff_too_long[4..8].copy_from_slice(&100_000u32.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "not a WAV"),
        (
            "text",
            b"label\ttext, surely not audio\n".to_vec(),
            "not a WAV",
        ),
        (
            "RIFX",
            [b"RIFX".as_slice(), &good[4..]].concat(),
            "big-endian",
        ),
        ("cut in the header", good[..6].to_vec(), "cut short"),
        ("cut in the samples", good[..100].to_vec(), "cut short"),
        ("cut before data", good[..36].to_vec(), "cut short"),
        ("fmt size past the end", wrong_fmt_size, "claims 5000 bytes"),
        (
            "data size past the end",
            wrong_data_size,
            "claims 9999 bytes",
        ),
        ("RIFF size past the end", riff_too_long, "cut short"),
        (
            "fmt too small",
            riff(&[
                (b"fmt ", fmt(1, 1, 8000, 16)[..12].to_vec()),
                (b"data", vec![0; 4]),
            ]),
            "at least 16",
        ),
        (
            "zero channels",
            riff(&[(b"fmt ", fmt(1, 0, 8000, 16)), (b"data", vec![0; 4])]),
            "0 channels",
        ),
        (
            "zero rate",
            riff(&[(b"fmt ", fmt(1, 1, 0, 16)), (b"data", vec![0; 4])]),
            "sample rate of 0",
        ),
        (
            // A 1 Hz header once made an 8.6 KB file 4 GB of resampled audio.
            "1 Hz",
            riff(&[(b"fmt ", fmt(1, 1, 1, 16)), (b"data", vec![0; 8600])]),
            "sample rate of 1 Hz (1000 to 384000 Hz are read)",
        ),
        (
            "768 kHz",
            riff(&[(b"fmt ", fmt(1, 1, 768_000, 16)), (b"data", vec![0; 4])]),
            "sample rate of 768000 Hz",
        ),
        (
            "ADPCM",
            riff(&[(b"fmt ", fmt(2, 1, 8000, 4)), (b"data", vec![0; 4])]),
            "unknown sample format",
        ),
        (
            "12-bit",
            riff(&[(b"fmt ", fmt(1, 1, 8000, 12)), (b"data", vec![0; 4])]),
            "12-bit",
        ),
        (
            "64-bit float",
            riff(&[(b"fmt ", fmt(3, 1, 8000, 64)), (b"data", vec![0; 8])]),
            "64-bit float",
        ),
        (
            "data before fmt",
            riff(&[(b"data", vec![0; 4]), (b"fmt ", fmt(1, 1, 8000, 16))]),
            "before any `fmt `",
        ),
        (
            "no data",
            riff(&[(b"fmt ", fmt(1, 1, 8000, 16))]),
            "no `data`",
        ),
    ];
    for (what, bytes, want) in cases {
        match read(&bytes) {
            Ok(a) => panic!(
                "{what}: read {} samples instead of failing",
                a.samples.len()
            ),
            Err(e) => assert!(
                e.contains("test.wav") && e.contains(want),
                "{what}: `{e}` should name the file and say `{want}`"
            ),
        }
    }
    // A missing file names itself.
    let e = read_wav(Path::new("/nonexistent/x.wav"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/x.wav"), "{e}");
}

#[test]
fn other_rates_are_resampled_to_the_models() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
    let p = dir.join("bursts_16k.wav");
    let a = read_wav(&p).unwrap();
    assert_eq!(a.sample_rate, 16000);
    let y = recurrent_tasks::speech::audio::read_wav_at(&p, 8000).unwrap();
    assert_eq!(y.len(), a.samples.len() / 2);
    // Energy is kept (the bursts are mostly below 4 kHz... white noise loses half).
    let e = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64;
    let r = e(&y) / e(&a.samples);
    assert!((0.35..0.65).contains(&r), "energy ratio {r}");
}

#[test]
fn log_mel_matches_librosa() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
    let text = std::fs::read_to_string(dir.join("librosa_logmel.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let a = read_wav(&dir.join(c["file"].as_str().unwrap())).unwrap();
        let cfg = FeatureConfig {
            sample_rate: c["sample_rate"].as_u64().unwrap() as u32,
            win_ms: c["win_ms"].as_f64().unwrap(),
            hop_ms: c["hop_ms"].as_f64().unwrap(),
            n_mels: c["n_mels"].as_u64().unwrap() as usize,
            fmin: c["fmin"].as_f64().unwrap(),
            fmax: c["fmax"].as_f64(),
            normalize: false,
            ..Default::default()
        };
        assert_eq!(cfg.fft_len() as u64, c["n_fft"].as_u64().unwrap());
        let ex = MelExtractor::new(&cfg).unwrap();
        let got = ex.log_mel_raw(&a.samples);
        let want: Vec<f64> = c["logmel"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: {} frames, librosa {}",
            got.len() / cfg.n_mels,
            c["frames"]
        );
        let mut worst = 0.0f64;
        for (g, w) in got.iter().zip(&want) {
            // f32 output, 7 significant digits in the file: 1e-4 leaves room for both.
            let e = (*g as f64 - w).abs();
            assert!(e <= 1e-4 * w.abs().max(1.0), "{name}: {g} vs librosa {w}");
            worst = worst.max(e);
        }
        println!("{name}: max |log-mel - librosa| = {worst:.2e}");
    }
}

#[test]
fn normalised_features_have_zero_mean_and_unit_variance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
    let a = read_wav(&dir.join("vowel_8k.wav")).unwrap();
    let ex = MelExtractor::new(&FeatureConfig::default()).unwrap();
    let f = ex.features(&a.samples);
    let (t, n) = (f.len() / 40, 40);
    for j in 0..n {
        let m: f64 = (0..t).map(|i| f[i * n + j] as f64).sum::<f64>() / t as f64;
        let v: f64 = (0..t)
            .map(|i| (f[i * n + j] as f64 - m).powi(2))
            .sum::<f64>()
            / t as f64;
        assert!(
            m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3 || v < 1e-6,
            "band {j}: {m} {v}"
        );
    }
}
