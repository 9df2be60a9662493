//! The ABC parser for the part of ABC the corpus uses: headers, notes with accidentals (the
//! key signature and accidentals carried through the bar), durations against the unit `L:`,
//! rests, chords in brackets, ties, tuplets, bar lines, repeats and endings, chord symbols,
//! changes of key, meter and unit inside the music. Durations are integer ticks,
//! [`TICKS_PER_WHOLE`] to a whole note, so every duration the corpus writes (down to 1/64
//! triplets) is exact.
//!
//! Errors name the tune and the line in its file: an unknown header, an unclosed chord
//! symbol, an unterminated tuplet, a character that is not ABC.

use recurrent::error::{Error, Result};
use recurrent::text::abc::{tokenize, Kind, Token};
use std::path::Path;

/// Ticks in a whole note (divisible by 2^7, 3^2 and 5).
pub const TICKS_PER_WHOLE: u32 = 5760;

/// A fraction of a whole note (meter `6/8`, unit `1/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frac {
    pub num: u32,
    pub den: u32,
}

impl Frac {
    /// Its length in ticks (None when not exact).
    pub fn ticks(&self) -> Option<u32> {
        let t = TICKS_PER_WHOLE as u64 * self.num as u64;
        (self.den > 0 && t.is_multiple_of(self.den as u64))
            .then(|| (t / self.den as u64).try_into().ok())
            .flatten()
    }
}

/// A bar line's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BarKind {
    /// `:|` (and the first half of `::`).
    pub end_repeat: bool,
    /// `|:` (and the second half of `::`).
    pub start_repeat: bool,
    /// `||`, `|]`: the end of a section.
    pub double: bool,
}

impl BarKind {
    /// The meaning of a run of `|` and `:`.
    pub fn of(text: &str) -> BarKind {
        let bars = text.matches('|').count();
        BarKind {
            end_repeat: text.starts_with(':'),
            start_repeat: text.ends_with(':'),
            double: bars >= 2 || text.ends_with(']'),
        }
    }
}

/// One thing in the music, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A note or a chord of notes (MIDI pitches), `ticks` long; `tie`: tied to the next.
    Note {
        pitches: Vec<u8>,
        ticks: u32,
        tie: bool,
        line: usize,
    },
    Rest {
        ticks: u32,
    },
    Bar {
        kind: BarKind,
        line: usize,
    },
    /// The start of the n-th ending.
    Ending(u32),
    /// A chord symbol (the text between the quotes).
    Chord(String),
}

/// A bar of the music as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// What its notes add up to.
    pub ticks: u32,
    /// The meter's bar length (None: `M:none`).
    pub expected: Option<u32>,
    /// 1-based line in the file where it ends.
    pub line: usize,
    /// The first bar of the tune or of a section (a pickup may be short).
    pub first: bool,
    /// It ends a section (repeat, double bar, end of tune) or an ending starts after it: a
    /// bar that completes a pickup may be short there.
    pub section_end: bool,
}

impl Bar {
    /// Its length matches the meter (pickups and section ends may be short).
    pub fn fits(&self) -> bool {
        match self.expected {
            None => true,
            Some(e) => self.ticks == e || ((self.first || self.section_end) && self.ticks < e),
        }
    }
}

/// A parsed tune.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedTune {
    pub title: Option<String>,
    /// The first meter (None: `M:none` or no `M:`).
    pub meter: Option<Frac>,
    /// The meter as written (`6/8`, `C`).
    pub meter_text: String,
    /// The first unit note length (`L:` or the standard's default).
    pub unit: Frac,
    /// The first key as written (`D`, `Am`, `Ador`).
    pub key: String,
    /// The tonic's pitch class (0 = C) of the first key.
    pub tonic: u8,
    /// Tempo, quarter notes per minute.
    pub tempo: u32,
    /// Byte offset of the music (after the `K:` line).
    pub body_start: usize,
    pub items: Vec<Item>,
    pub bars: Vec<Bar>,
}

/// Header letters this parser knows (the ABC standard's, plus `Y:`, the corpus's part order).
const KNOWN_FIELDS: &str = "ABCDFGHIKLMNOPQRSTUVWXYZmrsw";

/// Parses a meter value: `6/8`, `C` (4/4), `C|` (2/2), `none` (None).
pub fn parse_meter(v: &str) -> std::result::Result<Option<Frac>, String> {
    let v = v.trim();
    match v {
        "C" => return Ok(Some(Frac { num: 4, den: 4 })),
        "C|" => return Ok(Some(Frac { num: 2, den: 2 })),
        "none" | "" => return Ok(None),
        _ => {}
    }
    parse_frac(v)
        .map(Some)
        .ok_or_else(|| format!("bad meter `{v}`"))
}

fn parse_frac(v: &str) -> Option<Frac> {
    let (a, b) = v.trim().split_once('/')?;
    let (num, den): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (num > 0 && num <= 64 && den > 0 && den <= 256).then_some(Frac { num, den })
}

/// The standard's default unit: 1/16 for meters below 3/4, else 1/8.
pub fn default_unit(meter: Option<Frac>) -> Frac {
    match meter {
        Some(m) if (m.num as f64 / m.den as f64) < 0.75 => Frac { num: 1, den: 16 },
        _ => Frac { num: 1, den: 8 },
    }
}

/// A key: its tonic pitch class and its signature (sharps > 0, flats < 0).
pub fn parse_key(v: &str) -> std::result::Result<(u8, i32), String> {
    let v = v.trim();
    let first = v.split_whitespace().next().unwrap_or("");
    if first.is_empty() || first.eq_ignore_ascii_case("none") {
        return Ok((0, 0));
    }
    let b = first.as_bytes();
    let (pc, fifths) = match b[0] {
        b'C' => (0, 0),
        b'D' => (2, 2),
        b'E' => (4, 4),
        b'F' => (5, -1),
        b'G' => (7, 1),
        b'A' => (9, 3),
        b'B' => (11, 5),
        _ => return Err(format!("unknown key `{v}`")),
    };
    let mut rest = &first[1..];
    let (mut pc, mut fifths): (i32, i32) = (pc, fifths);
    if let Some(r) = rest.strip_prefix('#') {
        pc += 1;
        fifths += 7;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('b') {
        pc -= 1;
        fifths -= 7;
        rest = r;
    }
    let mode = rest.to_ascii_lowercase();
    let shift = match mode.get(..3.min(mode.len())).unwrap_or("") {
        "" | "maj" | "ion" => 0,
        "m" | "min" | "aeo" => -3,
        "mix" => -1,
        "dor" => -2,
        "phr" => -4,
        "lyd" => 1,
        "loc" => -5,
        _ if mode == "m" => -3,
        _ => return Err(format!("unknown key mode `{v}`")),
    };
    Ok((pc.rem_euclid(12) as u8, fifths + shift))
}

/// The signature's alteration of each letter (C D E F G A B).
fn signature(fifths: i32) -> [i32; 7] {
    let mut alt = [0; 7];
    // Sharps are added in the order F C G D A E B, flats in the reverse order.
    let order = [3usize, 0, 4, 1, 5, 2, 6];
    for k in 0..fifths.clamp(0, 7) as usize {
        alt[order[k]] = 1;
    }
    for k in 0..(-fifths).clamp(0, 7) as usize {
        alt[order[6 - k]] = -1;
    }
    alt
}

/// A note's duration multiplier (`3/2` -> (3, 2), `/` -> (1, 2), `//` -> (1, 4)).
fn duration(s: &str) -> Option<(u32, u32)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let num: u32 = if i == 0 { 1 } else { s[..i].parse().ok()? };
    let mut den: u32 = 1;
    while i < b.len() && b[i] == b'/' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let d: u32 = if st == i { 2 } else { s[st..i].parse().ok()? };
        den = den.checked_mul(d)?;
    }
    (i == b.len() && num > 0 && den > 0 && num <= 64 && den <= 1024).then_some((num, den))
}

/// A note's letter index (0..7 for C..B), octave offset, explicit accidental and duration
/// multiplier.
pub type NoteParts = (usize, i32, Option<i32>, (u32, u32));

/// A note `^f'3/2`: (letter index 0..7 for C..B, octave offset, explicit accidental, the
/// duration multiplier). None when malformed.
pub fn parse_note(s: &str) -> Option<NoteParts> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut acc: Option<i32> = None;
    while i < b.len() && matches!(b[i], b'^' | b'_' | b'=') {
        let a = match b[i] {
            b'^' => 1,
            b'_' => -1,
            _ => 0,
        };
        acc = Some(if b[i] == b'=' {
            0
        } else {
            acc.unwrap_or(0) + a
        });
        i += 1;
    }
    let letter = *b.get(i)?;
    let (idx, mut oct) = match letter {
        b'C'..=b'G' => ((letter - b'C') as usize, 0),
        b'A' | b'B' => ((letter - b'A') as usize + 5, 0),
        b'c'..=b'g' => ((letter - b'c') as usize, 1),
        b'a' | b'b' => ((letter - b'a') as usize + 5, 1),
        _ => return None,
    };
    i += 1;
    while i < b.len() && matches!(b[i], b',' | b'\'') {
        oct += if b[i] == b'\'' { 1 } else { -1 };
        i += 1;
    }
    Some((idx, oct, acc, duration(&s[i..])?))
}

const LETTER_PC: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// The parser's running state through the music.
struct State {
    unit: u32,
    meter: Option<u32>,
    sig: [i32; 7],
    /// Accidentals written earlier in this bar, by (letter, octave).
    bar_acc: Vec<((usize, i32), i32)>,
    /// (notes left, q, p, line it opened).
    tuplet: Option<(u32, u32, u32, usize)>,
}

/// Parses one tune. `origin` names it in errors (e.g. the file) and `first_line` is the
/// file line of its first line, so errors give the line in the file.
pub fn parse_tune(text: &str, origin: &Path, first_line: usize) -> Result<ParsedTune> {
    let toks = tokenize(text);
    let at = Place { origin, first_line };
    let (mut tune, fifths, body) = parse_header(&toks, text, &at)?;
    let mut st = State {
        unit: tune
            .unit
            .ticks()
            .ok_or_else(|| at.err(1, "unit length not representable".into()))?,
        meter: tune.meter.and_then(|m| m.ticks()),
        sig: signature(fifths),
        bar_acc: Vec::new(),
        tuplet: None,
    };
    let mut cur = 0u32;
    let mut last_line = 1;
    for t in &toks[body..] {
        last_line = t.line;
        cur = music_token(t, t.text(text), cur, &mut st, &mut tune, &at)?;
    }
    if let Some((_, _, p, l)) = st.tuplet {
        return Err(at.err(
            l,
            format!("unterminated tuplet `({p}`: the tune ends before its notes"),
        ));
    }
    if cur > 0 {
        tune.bars.push(Bar {
            ticks: cur,
            expected: st.meter,
            line: at.line(last_line),
            first: tune.bars.is_empty(),
            section_end: true,
        });
    }
    Ok(tune)
}

/// Where a tune sits, for errors that give the line in its file.
struct Place<'a> {
    origin: &'a Path,
    first_line: usize,
}

impl Place<'_> {
    /// The file line of the tune's line `line`.
    fn line(&self, line: usize) -> usize {
        line + self.first_line - 1
    }
    fn err(&self, line: usize, msg: String) -> Error {
        Error::format(self.origin, format!("line {}: {msg}", self.line(line)))
    }
}

/// The header: fields up to and including `K:`. Returns the tune with its header filled
/// in (no music yet), the key's fifths and the index of the first token after `K:`.
fn parse_header(toks: &[Token], text: &str, at: &Place) -> Result<(ParsedTune, i32, usize)> {
    let mut title = None;
    let mut meter: Option<Frac> = None;
    let mut meter_text = String::from("none");
    let mut unit: Option<Frac> = None;
    let mut tempo = 120;
    for (k, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Field => {
                let s = t.text(text);
                let letter = s.as_bytes()[0] as char;
                let v = s[2..].trim();
                if !KNOWN_FIELDS.contains(letter) {
                    return Err(at.err(t.line, format!("unknown header `{letter}:`")));
                }
                match letter {
                    'T' if title.is_none() => title = Some(v.to_string()),
                    'M' => {
                        meter = parse_meter(v).map_err(|m| at.err(t.line, m))?;
                        meter_text = v.to_string();
                    }
                    'L' => {
                        unit = Some(
                            parse_frac(v)
                                .ok_or_else(|| at.err(t.line, format!("bad unit length `{v}`")))?,
                        )
                    }
                    'Q' => tempo = parse_tempo(v).unwrap_or(120),
                    'K' => {
                        let (tonic, fifths) = parse_key(v).map_err(|m| at.err(t.line, m))?;
                        let tune = ParsedTune {
                            title,
                            meter,
                            meter_text,
                            unit: unit.unwrap_or_else(|| default_unit(meter)),
                            key: v.to_string(),
                            tonic,
                            tempo,
                            body_start: t.end,
                            items: Vec::new(),
                            bars: Vec::new(),
                        };
                        return Ok((tune, fifths, k + 1));
                    }
                    _ => {}
                }
            }
            Kind::Newline | Kind::Space | Kind::Comment => {}
            _ => {
                return Err(at.err(
                    t.line,
                    format!("music before the `K:` line (`{}`)", t.text(text)),
                ))
            }
        }
    }
    Err(at.err(1, "no `K:` line (the key ends the header)".into()))
}

/// One token of the music (its text `s`), added to the tune's items and bars; `cur` is
/// the ticks so far in the open bar, returned updated.
fn music_token(
    t: &Token,
    s: &str,
    cur: u32,
    st: &mut State,
    tune: &mut ParsedTune,
    at: &Place,
) -> Result<u32> {
    let (items, bars) = (&mut tune.items, &mut tune.bars);
    match t.kind {
        Kind::Newline
        | Kind::Space
        | Kind::Comment
        | Kind::Continuation
        | Kind::Decoration
        | Kind::SlurOpen
        | Kind::SlurClose => {}
        Kind::Field | Kind::InlineField => {
            let (inner, open) = if t.kind == Kind::Field {
                (s, "")
            } else {
                (&s[1..s.len() - 1], "[")
            };
            let letter = inner.as_bytes()[0] as char;
            if !KNOWN_FIELDS.contains(letter) {
                return Err(at.err(t.line, format!("unknown field `{open}{letter}:`")));
            }
            field_in_body(letter, inner[2..].trim(), st).map_err(|m| at.err(t.line, m))?;
        }
        Kind::ChordSymbol => {
            if s.len() < 2 || !s.ends_with('"') {
                return Err(at.err(t.line, format!("unclosed chord symbol `{s}`")));
            }
            items.push(Item::Chord(s[1..s.len() - 1].to_string()));
        }
        Kind::Ending => {
            let n: u32 = s.trim_start_matches('[').parse().unwrap_or(1);
            if let Some(b) = bars.last_mut() {
                if cur == 0 {
                    b.section_end = true;
                }
            }
            items.push(Item::Ending(n));
        }
        Kind::Tuplet => {
            if let Some((_, _, _, l)) = st.tuplet {
                let msg = format!("a tuplet starts inside the tuplet of line {}", at.line(l));
                return Err(at.err(t.line, msg));
            }
            let compound = tune
                .meter
                .is_some_and(|f| f.den == 8 && f.num.is_multiple_of(3) && f.num > 3)
                && st.meter.is_some_and(|m| m > 0);
            let (r, q, p) = tuplet(s, compound).map_err(|m| at.err(t.line, m))?;
            st.tuplet = Some((r, q, p, t.line));
        }
        Kind::Note | Kind::Rest => {
            let (ticks, item) = sounding(t, s, st).map_err(|m| at.err(t.line, m))?;
            if let Some((left, q, p, l)) = st.tuplet {
                st.tuplet = (left > 1).then_some((left - 1, q, p, l));
            }
            items.push(item);
            return Ok(cur.saturating_add(ticks));
        }
        Kind::Tie => match items.last_mut() {
            Some(Item::Note { tie, .. }) => *tie = true,
            _ => return Err(at.err(t.line, "a tie `-` that follows no note".into())),
        },
        Kind::Bar => {
            if let Some((_, _, p, l)) = st.tuplet {
                return Err(at.err(
                    l,
                    format!("unterminated tuplet `({p}`: the bar ends before its notes"),
                ));
            }
            let kind = BarKind::of(s);
            let ends_section = kind.end_repeat || kind.double || kind.start_repeat;
            if cur > 0 {
                bars.push(Bar {
                    ticks: cur,
                    expected: st.meter,
                    line: at.line(t.line),
                    first: bars.last().is_none_or(|b| b.section_end),
                    section_end: ends_section,
                });
            } else if let Some(b) = bars.last_mut() {
                // `||` followed by `|:` and the like: the previous bar ends a section.
                if ends_section {
                    b.section_end = true;
                }
            }
            st.bar_acc.clear();
            items.push(Item::Bar { kind, line: t.line });
            return Ok(0);
        }
        Kind::Other => {
            return Err(at.err(t.line, format!("unexpected `{s}` in the music")));
        }
    }
    Ok(cur)
}

/// A tuplet `(p:q:r`: (notes r, time of q, in place of p), the defaults as the ABC
/// standard gives them (q from p and whether the meter is compound).
fn tuplet(s: &str, compound: bool) -> std::result::Result<(u32, u32, u32), String> {
    let nums: Vec<Option<u32>> = s[1..].split(':').map(|x| x.parse().ok()).collect();
    let p = nums.first().copied().flatten().unwrap_or(3);
    if !(2..=9).contains(&p) {
        return Err(format!("tuplet `{s}`: only (2 to (9"));
    }
    let q = nums.get(1).copied().flatten().unwrap_or(match p {
        2 | 4 | 8 => 3,
        3 | 6 => 2,
        _ if compound => 3,
        _ => 2,
    });
    let r = nums.get(2).copied().flatten().unwrap_or(p);
    if q == 0 || r == 0 || r > 16 {
        return Err(format!("bad tuplet `{s}`"));
    }
    Ok((r, q, p))
}

/// A note, chord or rest `s`: its ticks (against the unit and any open tuplet) and item.
fn sounding(t: &Token, s: &str, st: &mut State) -> std::result::Result<(u32, Item), String> {
    let ticks_of = |mul: (u32, u32), st: &State| -> std::result::Result<u32, String> {
        let unrepresentable = || format!("duration of `{s}` not representable");
        let mut t = st.unit as u64 * mul.0 as u64;
        if !t.is_multiple_of(mul.1 as u64) {
            return Err(unrepresentable());
        }
        t /= mul.1 as u64;
        if let Some((_, q, p, _)) = st.tuplet {
            t *= q as u64;
            if !t.is_multiple_of(p as u64) {
                return Err(unrepresentable());
            }
            t /= p as u64;
        }
        u32::try_from(t).map_err(|_| unrepresentable())
    };
    let bad_duration = || format!("bad duration in `{s}`");
    if t.kind == Kind::Rest {
        let ticks = ticks_of(duration(&s[1..]).ok_or_else(bad_duration)?, st)?;
        return Ok((ticks, Item::Rest { ticks }));
    }
    let (pitches, mul) = if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']').unwrap_or(inner.len());
        let outer = duration(inner.get(close + 1..).unwrap_or("")).ok_or_else(bad_duration)?;
        let mut pitches = Vec::new();
        let mut first: Option<(u32, u32)> = None;
        for n in note_slices(&inner[..close]) {
            let (p, d) = pitch_of(n, st).ok_or_else(|| format!("bad note `{n}` in `{s}`"))?;
            pitches.push(p);
            first.get_or_insert(d);
        }
        let d = first.ok_or_else(|| format!("empty chord `{s}`"))?;
        (pitches, (d.0 * outer.0, d.1 * outer.1))
    } else {
        let (p, d) = pitch_of(s, st).ok_or_else(|| format!("bad note `{s}`"))?;
        (vec![p], d)
    };
    let ticks = ticks_of(mul, st)?;
    let item = Item::Note {
        pitches,
        ticks,
        tie: false,
        line: t.line,
    };
    Ok((ticks, item))
}

/// The notes inside a chord bracket (`^F2A2`, `+GB` -> `^F2`, `A2`, `G`, `B`).
fn note_slices(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b' ' | b'+' | b'-') {
            i += 1;
            continue;
        }
        let st = i;
        while i < b.len() && matches!(b[i], b'^' | b'_' | b'=') {
            i += 1;
        }
        i += 1;
        while i < b.len() && matches!(b[i], b',' | b'\'' | b'/' | b'0'..=b'9') {
            i += 1;
        }
        out.push(&s[st..i.min(b.len())]);
    }
    out
}

/// A note's MIDI pitch (key signature and the bar's accidentals applied) and duration.
fn pitch_of(s: &str, st: &mut State) -> Option<(u8, (u32, u32))> {
    let (idx, oct, acc, d) = parse_note(s)?;
    let alt = match acc {
        Some(a) => {
            st.bar_acc.retain(|(k, _)| *k != (idx, oct));
            st.bar_acc.push(((idx, oct), a));
            a
        }
        None => st
            .bar_acc
            .iter()
            .find(|(k, _)| *k == (idx, oct))
            .map_or(st.sig[idx], |x| x.1),
    };
    let p = 60 + 12 * oct + LETTER_PC[idx] + alt;
    u8::try_from(p).ok().filter(|p| *p < 128).map(|p| (p, d))
}

fn field_in_body(letter: char, v: &str, st: &mut State) -> std::result::Result<(), String> {
    match letter {
        'K' => st.sig = signature(parse_key(v)?.1),
        'M' => st.meter = parse_meter(v)?.and_then(|m| m.ticks()),
        'L' => {
            st.unit = parse_frac(v)
                .and_then(|f| f.ticks())
                .ok_or_else(|| format!("bad unit length `{v}`"))?
        }
        _ => {}
    }
    Ok(())
}

/// `Q:1/4=120` or `Q:120`: quarter notes per minute.
fn parse_tempo(v: &str) -> Option<u32> {
    let (beat, bpm) = match v.split_once('=') {
        Some((b, n)) => (parse_frac(b)?, n.trim().parse::<u32>().ok()?),
        None => (Frac { num: 1, den: 4 }, v.trim().parse::<u32>().ok()?),
    };
    let q = bpm as u64 * beat.num as u64 * 4 / beat.den as u64;
    u32::try_from(q).ok().filter(|q| (10..=1000).contains(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Result<ParsedTune> {
        parse_tune(t, Path::new("t.abc"), 10)
    }

    #[test]
    fn bars_durations_and_pitches() {
        let t = p("X: 1\nT:x\nM:6/8\nL:1/8\nK:D\n|:\"D\"f2e d3|(3ABc A z3:|\n").unwrap();
        assert_eq!(t.bars.len(), 2);
        assert!(t.bars.iter().all(|b| b.ticks == 5760 * 6 / 8 && b.fits()));
        // F is sharp in D major; f is an octave above middle C's F#.
        match &t.items[2] {
            Item::Note { pitches, ticks, .. } => {
                assert_eq!(pitches, &vec![78]);
                assert_eq!(*ticks, 720 * 2);
            }
            o => panic!("{o:?}"),
        }
        let t = p("X: 1\nM:4/4\nK:C\n^F F =F F|C4 C4-C|\n").unwrap();
        let ps: Vec<u8> = t
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Note { pitches, .. } => Some(pitches[0]),
                _ => None,
            })
            .collect();
        assert_eq!(&ps[..4], &[66, 66, 65, 65]);
        // No L: and 4/4: the unit is 1/8, so `C4 C4` fills the bar; the tie is kept.
        assert!(t.bars[0].fits() && t.bars[1].ticks == 5760 * 9 / 8);
        assert!(!t.bars[1].fits() || t.bars[1].section_end);
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("G").unwrap(), (7, 1));
        assert_eq!(parse_key("Am").unwrap(), (9, 0));
        assert_eq!(parse_key("Bb").unwrap(), (10, -2));
        assert_eq!(parse_key("Ador").unwrap(), (9, 1));
        assert_eq!(signature(2), [1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(signature(-2), [0, 0, -1, 0, 0, 0, -1]);
        assert!(parse_key("Hx").is_err());
    }

    #[test]
    fn clear_errors_with_file_lines() {
        let e = p("X: 1\nJ:what\nK:C\nabc|\n").unwrap_err().to_string();
        assert!(
            e.contains("line 11") && e.contains("unknown header `J:`"),
            "{e}"
        );
        let e = p("X: 1\nK:C\nab \"Am c|\n").unwrap_err().to_string();
        assert!(
            e.contains("line 12") && e.contains("unclosed chord symbol"),
            "{e}"
        );
        let e = p("X: 1\nK:C\nab\n(3ab|c\n").unwrap_err().to_string();
        assert!(
            e.contains("line 13") && e.contains("unterminated tuplet"),
            "{e}"
        );
        let e = p("X: 1\nK:C\nab (3a").unwrap_err().to_string();
        assert!(e.contains("unterminated tuplet"), "{e}");
        let e = p("X: 1\nT:x\nabc\n").unwrap_err().to_string();
        assert!(e.contains("before the `K:`"), "{e}");
        let e = p("X: 1\nK:C\na>b|\n").unwrap_err().to_string();
        assert!(e.contains("line 12") && e.contains("unexpected `>`"), "{e}");
    }
}
