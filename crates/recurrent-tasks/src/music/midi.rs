//! ABC to MIDI for the part of ABC the corpus uses: notes, rests, durations, ties, tuplets,
//! chords, repeats with first and second endings, and chord symbols as a simple
//! accompaniment (the triad held until the next symbol). Written with `midly`: format 1,
//! a tempo track, the melody on channel 1 (flute) and the chords on channel 2 (piano).
//! One MIDI tick is one parser tick: 1440 to the quarter note.

use crate::music::parse::{Item, ParsedTune, TICKS_PER_WHOLE};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
use recurrent::error::{Error, Result};

/// A sounding note: start, length (ticks) and MIDI pitch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sounding {
    pub start: u32,
    pub len: u32,
    pub pitch: u8,
}

/// The music as played: repeats expanded, ties merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Playback {
    pub melody: Vec<Sounding>,
    pub chords: Vec<Sounding>,
    /// Length of the whole performance in ticks.
    pub total: u32,
}

/// The order items are played in: a `:|` sends the music back to the last `|:` (or the
/// start) once; on the repeat, a first ending is skipped to the second.
pub fn play_order(items: &[Item]) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut i, mut start, mut second_pass) = (0usize, 0usize, false);
    let limit = items.len() * 4 + 16;
    while i < items.len() && out.len() < limit {
        match &items[i] {
            Item::Bar { kind, .. } => {
                if kind.end_repeat {
                    if !second_pass {
                        second_pass = true;
                        i = start;
                        continue;
                    }
                    second_pass = false;
                    start = i + 1;
                } else if kind.start_repeat {
                    start = i + 1;
                    second_pass = false;
                }
                if kind.start_repeat {
                    start = i + 1;
                }
            }
            Item::Ending(n) if second_pass && *n == 1 => {
                // Skip to the next ending.
                let mut j = i + 1;
                while j < items.len() && !matches!(items[j], Item::Ending(m) if m != 1) {
                    j += 1;
                }
                i = j;
                continue;
            }
            _ => out.push(i),
        }
        i += 1;
    }
    out
}

/// The pitches of a chord symbol's triad (or seventh) around C3, if it names a chord.
pub fn chord_pitches(name: &str) -> Option<Vec<u8>> {
    let b = name.as_bytes();
    let mut root: i32 = match b.first()? {
        b'C' => 0,
        b'D' => 2,
        b'E' => 4,
        b'F' => 5,
        b'G' => 7,
        b'A' => 9,
        b'B' => 11,
        _ => return None,
    };
    let mut rest = &name[1..];
    if let Some(r) = rest.strip_prefix('#') {
        root += 1;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('b') {
        root -= 1;
        rest = r;
    }
    let quality = rest.split('/').next().unwrap_or("");
    let (third, fifth) = if quality.starts_with("dim") {
        (3, 6)
    } else if quality.starts_with('m') && !quality.starts_with("maj") {
        (4 - 1, 7)
    } else {
        (4, 7)
    };
    let base = 48 + root.rem_euclid(12);
    let mut v = vec![base, base + third, base + fifth];
    if quality.contains('7') {
        v.push(base + if quality.contains("maj7") { 11 } else { 10 });
    }
    Some(v.into_iter().map(|p| p as u8).collect())
}

/// Plays the tune: repeats expanded, tied notes merged, chord symbols held.
pub fn playback(t: &ParsedTune) -> Playback {
    let mut pb = Playback::default();
    let mut now = 0u32;
    // Notes whose tie is still open: pitch -> index in melody.
    let mut open_ties: Vec<(u8, usize)> = Vec::new();
    let mut chord: Option<(u32, Vec<u8>)> = None;
    let close = |chord: &mut Option<(u32, Vec<u8>)>, now: u32, out: &mut Vec<Sounding>| {
        if let Some((start, ps)) = chord.take() {
            if now > start {
                out.extend(ps.iter().map(|&pitch| Sounding {
                    start,
                    len: now - start,
                    pitch,
                }));
            }
        }
    };
    for i in play_order(&t.items) {
        match &t.items[i] {
            Item::Note {
                pitches,
                ticks,
                tie,
                ..
            } => {
                let mut still = Vec::new();
                for &p in pitches {
                    match open_ties.iter().position(|(q, _)| *q == p) {
                        Some(k) => {
                            let idx = open_ties[k].1;
                            pb.melody[idx].len += ticks;
                            if *tie {
                                still.push((p, idx));
                            }
                        }
                        None => {
                            pb.melody.push(Sounding {
                                start: now,
                                len: *ticks,
                                pitch: p,
                            });
                            if *tie {
                                still.push((p, pb.melody.len() - 1));
                            }
                        }
                    }
                }
                open_ties = still;
                now += ticks;
            }
            Item::Rest { ticks } => {
                open_ties.clear();
                now += ticks;
            }
            Item::Chord(name) => {
                if let Some(ps) = chord_pitches(name) {
                    close(&mut chord, now, &mut pb.chords);
                    chord = Some((now, ps));
                }
            }
            Item::Bar { .. } | Item::Ending(_) => {}
        }
    }
    close(&mut chord, now, &mut pb.chords);
    pb.total = now;
    pb
}

fn track(
    notes: &[Sounding],
    channel: u8,
    program: u8,
    velocity: u8,
    end: u32,
) -> Vec<TrackEvent<'static>> {
    let ch = u4::new(channel);
    // (time, order: offs before ons, event)
    let mut ev: Vec<(u32, u8, MidiMessage)> = Vec::with_capacity(notes.len() * 2);
    for n in notes {
        ev.push((
            n.start,
            1,
            MidiMessage::NoteOn {
                key: u7::new(n.pitch),
                vel: u7::new(velocity),
            },
        ));
        ev.push((
            n.start + n.len,
            0,
            MidiMessage::NoteOff {
                key: u7::new(n.pitch),
                vel: u7::new(0),
            },
        ));
    }
    ev.sort_by_key(|e| (e.0, e.1));
    let mut out = vec![TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Midi {
            channel: ch,
            message: MidiMessage::ProgramChange {
                program: u7::new(program),
            },
        },
    }];
    let mut last = 0;
    for (t, _, m) in ev {
        out.push(TrackEvent {
            delta: u28::new(t - last),
            kind: TrackEventKind::Midi {
                channel: ch,
                message: m,
            },
        });
        last = t;
    }
    out.push(TrackEvent {
        delta: u28::new(end.saturating_sub(last)),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    out
}

/// The standard MIDI file of a tune.
pub fn render(t: &ParsedTune) -> Result<Vec<u8>> {
    let pb = playback(t);
    let per_quarter = TICKS_PER_WHOLE / 4;
    let (num, den) = t.meter.map_or((4, 4), |m| (m.num, m.den));
    let tempo = u24::new(60_000_000 / t.tempo.max(1));
    let meta = vec![
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(tempo)),
        },
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TimeSignature(
                num.min(255) as u8,
                den.max(1).trailing_zeros() as u8,
                24,
                8,
            )),
        },
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        },
    ];
    let smf = Smf {
        header: Header::new(
            Format::Parallel,
            Timing::Metrical(u15::new(per_quarter as u16)),
        ),
        tracks: vec![
            meta,
            track(&pb.melody, 0, 73, 90, pb.total),
            track(&pb.chords, 1, 0, 55, pb.total),
        ],
    };
    let mut buf = Vec::new();
    smf.write_std(&mut buf)
        .map_err(|e| Error::Input(format!("writing MIDI: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::parse_tune;
    use std::path::Path;

    #[test]
    fn repeats_endings_and_ties() {
        let t = parse_tune(
            "X: 1\nM:2/4\nL:1/8\nK:C\n|:\"C\"CD EF-|[1 FG AB:|[2 \"Am\"c4||\n",
            Path::new("t"),
            1,
        )
        .unwrap();
        let pb = playback(&t);
        // Played: CD EF-|FG AB | CD EF-|c4: the tie joins F with F the first time only.
        let pitches: Vec<u8> = pb.melody.iter().map(|n| n.pitch).collect();
        assert_eq!(
            pitches,
            vec![60, 62, 64, 65, 67, 69, 71, 60, 62, 64, 65, 72]
        );
        assert_eq!(pb.melody[3].len, 2 * 720);
        assert_eq!(pb.total, 4 * 2880);
        assert_eq!(pb.chords.len(), 9); // C, C again on the repeat, Am: three triads
        let bytes = render(&t).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 3);
        assert_eq!(chord_pitches("Am"), Some(vec![57, 60, 64]));
        assert_eq!(chord_pitches("D7/f+"), Some(vec![50, 54, 57, 60]));
    }
}
