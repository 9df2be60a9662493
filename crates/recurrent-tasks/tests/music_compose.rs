//! End to end in seconds: a small music model trained on tunes made here composes tunes that
//! parse, fill their bars and render to MIDI.

use recurrent::train::{Quiet, TrainRequest};
use recurrent_tasks::music::compose::{compose, ComposeOptions};
use recurrent_tasks::music::train::{load_music, train_music, MusicTrainConfig};
use recurrent_tasks::music::{corpus::tunes_of, midi, parse_tune};
use std::path::Path;

fn little_corpus() -> String {
    let phrases = [
        "GABc d2B2",
        "c2A2 F2D2",
        "G2B2 d4",
        "e2dc B2A2",
        "dcBA G4",
        "FGAB c2e2",
    ];
    let mut s = String::new();
    for i in 0..40 {
        let key = ["G", "D"][i % 2];
        let p = |k: usize| phrases[(i + k) % phrases.len()];
        s.push_str(&format!(
            "X: {}\nT:Test {i}\nM:4/4\nL:1/8\nK:{key}\n|:\"G\"{}|\"D\"{}|\"G\"{}|[1 \"C\"{}:|[2 \"D\"{}||\n\n",
            i + 1,
            p(0),
            p(1),
            p(2),
            p(3),
            p(4)
        ));
    }
    s
}

#[test]
fn a_small_model_composes_tunes_that_parse() {
    let tunes = tunes_of(&little_corpus(), "test.abc");
    let dir = std::env::temp_dir().join(format!("recurrent-music-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = MusicTrainConfig {
        hidden: 32,
        layers: 1,
        embed: 16,
        batch: 8,
        lr: 1e-2,
        ..Default::default()
    };
    let s = train_music(&cfg, &tunes, &TrainRequest::new(&dir).steps(40), &mut Quiet).unwrap();
    assert!(s.train_loss.unwrap() < 3.0, "{:?}", s.train_loss);
    let (model, meta) = load_music(&dir.join("best.safetensors")).unwrap();
    let opts = ComposeOptions {
        meter: Some("4/4".into()),
        key: Some("D".into()),
        attempts: 20,
        ..Default::default()
    };
    let out = compose(&model, &meta, &opts, 3, 7).unwrap();
    assert_eq!(out.len(), 3);
    for t in &out {
        assert!(
            t.starts_with("X: ") && t.contains("\nM:4/4\n") && t.contains("\nK:D"),
            "{t}"
        );
        let p = parse_tune(t, Path::new("composed"), 1).unwrap_or_else(|e| panic!("{e}\n{t}"));
        assert!(p.bars.len() >= 8, "{t}");
        assert!(
            p.bars.iter().all(|b| b.ticks == 5760),
            "every bar full:\n{t}"
        );
        assert!(!midi::render(&p).unwrap().is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
