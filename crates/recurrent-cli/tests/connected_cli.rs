//! Connected digits end to end on real recordings (../shared/data/speech/fsdd, skipped
//! politely without it): a small `train speech --task connected` (CTC) on a few hundred
//! joined utterances learns well above chance in seconds, and `transcribe` reads a joined
//! WAV written here as a digit string (`--stream` too: the model is unidirectional).

use std::path::Path;

mod common;

use common::{ok, run, shared_dir};

/// A mono 16-bit PCM WAV.
fn write_wav(path: &Path, rate: u32, x: &[f32]) {
    let data: Vec<u8> = x
        .iter()
        .flat_map(|&v| ((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn small_connected_training_learns_and_transcribes_a_joined_wav() {
    let Some(shared) = shared_dir() else { return };
    let fsdd = shared.join("data/speech/fsdd");
    let tmp = std::env::temp_dir().join(format!("recurrent-connected-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // 2 speakers x 10 digits x 15 indices: test 0-4, validation 5-7, training 8-14.
    for sp in ["jackson", "nicolas"] {
        for d in 0..10 {
            for i in 0..15 {
                let name = format!("{d}_{sp}_{i}.wav");
                std::fs::copy(fsdd.join(&name), data.join(&name)).unwrap();
            }
        }
    }
    let out = tmp.join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let json = ok(&[
        "train",
        "speech",
        "--task",
        "connected",
        "--data",
        d,
        "--out",
        o,
        "--train-utterances",
        "200",
        "--valid-utterances",
        "10",
        "--test-utterances",
        "25",
        "--max-digits",
        "3",
        "--unidirectional",
        "--hidden",
        "64",
        "--layers",
        "1",
        "--lr",
        "5e-3",
        "--lr-schedule",
        "constant",
        "--steps",
        STEPS,
        "--beam",
        "4",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let der = v["test"]["greedy"]["digit_error_rate"].as_f64().unwrap();
    let beam = v["test"]["beam"]["digit_error_rate"].as_f64().unwrap();
    println!(
        "test digit error rate {der} (beam {beam}) after {} s",
        v["train_s"]
    );
    // Chance: an empty or random string is wrong on (nearly) every digit.
    assert!(der <= 0.5, "test digit error rate {der}");
    assert!(beam <= 0.5, "beam digit error rate {beam}");
    assert_eq!(v["test"]["greedy"]["utterances"], 50);
    assert!(v["test"]["greedy"]["utterance_accuracy"].is_number());

    // A joined WAV of test recordings (index 0-4): 3 _ 7 _ 1, with 0.2 s of silence.
    let read = |n: &str| recurrent_tasks::speech::audio::read_wav_at(&data.join(n), 8000).unwrap();
    let mut x = read("3_jackson_0.wav");
    for n in ["7_jackson_1.wav", "1_jackson_2.wav"] {
        x.extend(std::iter::repeat_n(0.0, 1600));
        x.extend(read(n));
    }
    let wav = tmp.join("joined.wav");
    write_wav(&wav, 8000, &x);
    let w = wav.to_str().unwrap();
    // Silence is no digit string, whatever the CTC model emits (issue 28, item 11).
    let silence = tmp.join("silence.wav");
    write_wav(&silence, 8000, &vec![0.0; 8000]);
    let line = ok(&[
        "transcribe",
        "--checkpoint",
        o,
        silence.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["confidence"], 0.0, "{line}");
    assert_eq!(v["non_speech"], "digital silence", "{line}");
    let text = ok(&["transcribe", "--checkpoint", o, w]);
    let cols: Vec<&str> = text.trim_end().split('\t').collect();
    assert_eq!(cols.len(), 3, "{text}");
    assert_eq!(cols[0], w);
    assert!(cols[1].chars().all(|c| c.is_ascii_digit()), "{text}");
    assert!(
        recurrent_tasks::speech::score::edit_distance(cols[1].as_bytes(), b"371") <= 1,
        "heard {} for 371",
        cols[1]
    );
    let p: f64 = cols[2].parse().unwrap();
    assert!(p > 0.0 && p <= 1.0);
    // --json: an object per file; --stream reports latency per 100 ms chunk.
    let line = ok(&["transcribe", "--checkpoint", o, w, "--json", "--stream"]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["path"], w);
    assert!(v["digits"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit()));
    assert_eq!(
        v["chunks"].as_u64().unwrap(),
        (x.len() as u64).div_ceil(800),
        "{line}"
    );
    assert!(v["latency_ms_mean"].as_f64().unwrap() >= 0.0);
    // Ensembles are of isolated-digit models: a CTC model in one is refused by name.
    let bad = run(&["transcribe", "--checkpoint", o, "--checkpoint", o, w]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("ensembles"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}

const STEPS: &str = "700";
