//! The music corpus (../shared/data/music/nottingham): every tune round-trips through the
//! tokenizer, parses, and renders to MIDI whose notes and length match the parse.

#[path = "../../recurrent/tests/common/mod.rs"]
mod common;

use recurrent::text::corpus::Part;
use recurrent_tasks::music;
use std::path::Path;

fn corpus() -> Option<Vec<music::TuneRecord>> {
    let dir = common::shared_dir()?.join("data/music/nottingham");
    Some(music::read_tunes(&dir).expect("corpus"))
}

#[test]
fn every_tune_round_trips_through_the_tokenizer() {
    let Some(tunes) = corpus() else { return };
    assert_eq!(tunes.len(), 1034);
    for t in &tunes {
        let toks = music::tokenize(&t.text);
        let joined: String = toks.iter().map(|k| k.text(&t.text)).collect();
        assert_eq!(joined, t.text, "{}", t.name());
        if let Some(o) = toks.iter().find(|k| k.kind == music::Kind::Other) {
            panic!("{}: line {}: `{}`", t.name(), o.line, o.text(&t.text));
        }
    }
}

#[test]
fn every_tune_parses_with_bars_matching_the_meter() {
    let Some(tunes) = corpus() else { return };
    let (mut bars, mut fit) = (0, 0);
    for t in &tunes {
        let p = music::parse_tune(&t.text, Path::new(&t.file), t.line)
            .unwrap_or_else(|e| panic!("{}: {e}", t.name()));
        assert!(!p.bars.is_empty(), "{}", t.name());
        bars += p.bars.len();
        fit += p.bars.iter().filter(|b| b.fits()).count();
    }
    let share = fit as f64 / bars as f64;
    println!("bars {bars}, fitting the meter {share:.4}");
    assert!(share > 0.98, "{share}");
}

#[test]
fn split_is_five_and_five_percent_by_tune() {
    let Some(tunes) = corpus() else { return };
    let (tr, va, te) = music::split_tunes(&tunes, music::corpus::SPLIT_SEED);
    println!("train {} valid {} test {}", tr.len(), va.len(), te.len());
    assert_eq!(tr.len() + va.len() + te.len(), tunes.len());
    for (part, want) in [(&va, Part::Valid), (&te, Part::Test)] {
        assert!((30..75).contains(&part.len()), "{}", part.len());
        assert!(part.iter().all(|t| music::corpus::split_of(
            &t.file,
            &t.x,
            music::corpus::SPLIT_SEED
        ) == want));
    }
}

/// Notes (tied continuations not counted) and length of the parse, repeats expanded.
fn expected(p: &music::ParsedTune) -> (usize, u64) {
    use music::parse::Item;
    let (mut notes, mut total) = (0usize, 0u64);
    let mut tied: Vec<u8> = Vec::new();
    for i in music::midi::play_order(&p.items) {
        match &p.items[i] {
            Item::Note {
                pitches,
                ticks,
                tie,
                ..
            } => {
                notes += pitches.iter().filter(|q| !tied.contains(q)).count();
                tied = if *tie { pitches.clone() } else { Vec::new() };
                total += *ticks as u64;
            }
            Item::Rest { ticks } => {
                tied.clear();
                total += *ticks as u64;
            }
            _ => {}
        }
    }
    (notes, total)
}

#[test]
fn every_tune_renders_to_midi_matching_the_parse() {
    use midly::{MidiMessage, Smf, TrackEventKind};
    let Some(tunes) = corpus() else { return };
    for t in &tunes {
        let p = music::parse_tune(&t.text, Path::new(&t.file), t.line).unwrap();
        let bytes = music::midi::render(&p).unwrap();
        let smf = Smf::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", t.name()));
        let melody = &smf.tracks[1];
        let (mut ons, mut time) = (0usize, 0u64);
        for ev in melody {
            time += ev.delta.as_int() as u64;
            if let TrackEventKind::Midi {
                message: MidiMessage::NoteOn { vel, .. },
                ..
            } = ev.kind
            {
                ons += (vel.as_int() > 0) as usize;
            }
        }
        assert_eq!((ons, time), expected(&p), "{}", t.name());
    }
}
