//! What may come next in a tune: a state machine over the musical tokens that knows the
//! meter, the time left in the bar, the open tuplet, tie and repeat, and the endings, so that
//! sampling from a language model through it gives tunes that are valid by construction:
//!
//! - a note or rest is allowed only if it fits in what is left of the bar *and* the rest of
//!   the bar can still be filled exactly (including the notes an open tuplet still owes);
//! - a bar line is allowed only when the bar is full, and then nothing else is;
//! - `:|` needs an open `|:`, `|:` needs none open, `[1` follows a bar inside a repeat, `[2`
//!   must follow the `:|` that ends the first ending, `||` closes the second;
//! - a tie is followed by the same pitch; a chord symbol by a note;
//! - the tune may end only after a bar line with nothing left open, and after `soft_max`
//!   bars the sampler closes what is open and ends.
//!
//! Bars are all full, the first included: a pickup is complemented by a short last bar in
//! ABC, which abc2midi counts as a wrong-length bar when repeats are expanded.

use crate::music::parse::{parse_note, BarKind, Frac};
use recurrent::text::abc::{tokenize, Kind};
use recurrent::text::Vocab;

/// What a vocabulary token is, for the grammar.
#[derive(Clone, Debug, PartialEq)]
enum Class {
    /// Never generated in the music (specials, headers, comments, decorations, slurs).
    Forbidden,
    Eos,
    Newline,
    Space,
    Continuation,
    ChordSymbol,
    /// A note (pitch spelled without duration, e.g. `^f'`; None for a chord in brackets)
    /// or a rest (`rest`), with its duration as a multiple of the unit.
    Timed {
        pitch: Option<String>,
        rest: bool,
        mul: (u32, u32),
    },
    Tuplet {
        p: u32,
        q: u32,
        r: u32,
    },
    Tie,
    Bar(BarKind),
    Ending(u32),
}

fn classify(tok: &str, eos: bool, compound: bool) -> Class {
    if eos {
        return Class::Eos;
    }
    let toks = tokenize(tok);
    if toks.len() != 1 {
        return Class::Forbidden;
    }
    match toks[0].kind {
        Kind::Newline if tok == "\n" => Class::Newline,
        Kind::Space if tok == " " => Class::Space,
        Kind::Continuation => Class::Continuation,
        Kind::ChordSymbol
            if tok.len() >= 2 && tok.ends_with('"') && chord_name_ok(&tok[1..tok.len() - 1]) =>
        {
            Class::ChordSymbol
        }
        Kind::Tie => Class::Tie,
        // The corpus also writes runs like `|:|||:`, which abc2midi reads as two repeat starts.
        Kind::Bar if ["|", "||", "|]", "|:", ":|", "::", ":||:", ":|:"].contains(&tok) => {
            Class::Bar(BarKind::of(tok))
        }
        Kind::Ending => match tok.trim_start_matches('[').parse::<u32>() {
            Ok(n) if tok.starts_with('[') && (n == 1 || n == 2) => Class::Ending(n),
            _ => Class::Forbidden,
        },
        Kind::Tuplet => {
            let nums: Vec<Option<u32>> = tok[1..].split(':').map(|x| x.parse().ok()).collect();
            let p = nums.first().copied().flatten().unwrap_or(3);
            let dq = match p {
                2 | 4 | 8 => 3,
                3 | 6 => 2,
                _ if compound => 3,
                _ => 2,
            };
            let q = nums.get(1).copied().flatten().unwrap_or(dq);
            let r = nums.get(2).copied().flatten().unwrap_or(p);
            if (2..=9).contains(&p) && q > 0 && (1..=9).contains(&r) {
                Class::Tuplet { p, q, r }
            } else {
                Class::Forbidden
            }
        }
        Kind::Rest => match parse_note(&format!("C{}", &tok[1..])) {
            Some((_, _, _, mul)) if tok.starts_with('z') => Class::Timed {
                pitch: None,
                rest: true,
                mul,
            },
            _ => Class::Forbidden,
        },
        Kind::Note if tok.starts_with('[') => {
            // A chord: its duration is its first note's times the outer one.
            let Some(close) = tok.find(']') else {
                return Class::Forbidden;
            };
            let inner = &tok[1..close];
            let first = tokenize(inner)
                .into_iter()
                .find(|k| k.kind == Kind::Note)
                .and_then(|k| parse_note(k.text(inner)));
            let outer = parse_note(&format!("C{}", &tok[close + 1..]));
            match (first, outer) {
                (Some(f), Some(o)) if !inner.contains('+') && !inner.contains('-') => {
                    Class::Timed {
                        pitch: None,
                        rest: false,
                        mul: (f.3 .0 * o.3 .0, f.3 .1 * o.3 .1),
                    }
                }
                _ => Class::Forbidden,
            }
        }
        Kind::Note => match parse_note(tok) {
            Some((_, _, _, mul)) => {
                let cut = tok
                    .find(|c: char| c.is_ascii_digit() || c == '/')
                    .unwrap_or(tok.len());
                Class::Timed {
                    pitch: Some(tok[..cut].to_string()),
                    rest: false,
                    mul,
                }
            }
            None => Class::Forbidden,
        },
        _ => Class::Forbidden,
    }
}

/// A chord name abc2midi knows: a root, a common quality, an optional bass note. The corpus
/// also writes names it rejects (`"Gd"`, `"(A7)"`, `" B7"`), which the model learns too.
pub fn chord_name_ok(name: &str) -> bool {
    let (chord, bass) = match name.split_once('/') {
        Some((c, b)) => (c, Some(b)),
        None => (name, None),
    };
    let root_len = |s: &str| -> Option<usize> {
        let b = s.as_bytes();
        if !matches!(b.first()?, b'A'..=b'G') {
            return None;
        }
        Some(1 + matches!(b.get(1), Some(b'#' | b'b')) as usize)
    };
    let Some(r) = root_len(chord) else {
        return false;
    };
    const QUALITIES: [&str; 13] = [
        "", "m", "7", "m7", "maj7", "6", "m6", "dim", "dim7", "aug", "9", "sus4", "sus",
    ];
    if !QUALITIES.contains(&&chord[r..]) {
        return false;
    }
    match bass {
        None => true,
        Some(b) => {
            let b = b.trim_end_matches(['+', '-']);
            let up = b.to_ascii_uppercase();
            root_len(&up).is_some_and(|n| n == b.len())
        }
    }
}

/// The previous significant token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prev {
    Start,
    Newline,
    Space,
    Continuation,
    ChordSymbol,
    Note,
    Chord,
    Rest,
    Tuplet,
    Tie,
    Bar,
    Ending,
}

/// The grammar of one tune's music at a given meter and unit.
#[derive(Clone, Debug)]
pub struct Grammar {
    classes: Vec<Class>,
    /// Each token's duration in ticks (0 for untimed).
    ticks: Vec<u32>,
    bar: u32,
    /// Durations (ticks) of notes and rests available.
    durations: Vec<u32>,
    /// `fill[r]`: a bar with `r` ticks left can be filled exactly.
    fill: Vec<bool>,
    /// Fewest bars before the tune may end; after `soft_max` it closes and ends.
    pub min_bars: usize,
    pub soft_max: usize,
    /// Tokens after which a tune is abandoned (the caller retries).
    pub max_tokens: usize,
}

/// Where a tune being generated stands.
#[derive(Clone, Debug)]
pub struct State {
    used: u32,
    bars: usize,
    /// (notes left, q, p).
    tuplet: Option<(u32, u32, u32)>,
    tie: Option<String>,
    last_pitch: Option<String>,
    repeat_open: bool,
    /// 0: none, 1 or 2: inside that ending.
    ending: u32,
    expect_second: bool,
    line_has_music: bool,
    prev: Prev,
    tokens: usize,
    pub done: bool,
}

impl Grammar {
    /// The grammar over `vocab` for music in `meter` with unit `unit`; `eos` is the id that
    /// ends a tune. None when the meter has no bar length.
    pub fn new(vocab: &Vocab, eos: u32, meter: Frac, unit: Frac) -> Option<Grammar> {
        let bar = meter.ticks()?;
        let unit_t = unit.ticks()?;
        let compound = meter.den == 8 && meter.num.is_multiple_of(3) && meter.num > 3;
        let classes: Vec<Class> = (0..vocab.len() as u32)
            .map(|i| classify(vocab.token(i), i == eos, compound))
            .collect();
        let ticks: Vec<u32> = classes
            .iter()
            .map(|c| match c {
                Class::Timed { mul, .. } => {
                    let t = unit_t as u64 * mul.0 as u64;
                    if t.is_multiple_of(mul.1 as u64) && t / (mul.1 as u64) <= bar as u64 {
                        (t / mul.1 as u64) as u32
                    } else {
                        0
                    }
                }
                _ => 0,
            })
            .collect();
        let mut durations: Vec<u32> = ticks.iter().copied().filter(|&t| t > 0).collect();
        durations.sort_unstable();
        durations.dedup();
        let mut fill = vec![false; bar as usize + 1];
        fill[0] = true;
        for r in 1..=bar as usize {
            fill[r] = durations
                .iter()
                .any(|&d| d as usize <= r && fill[r - d as usize]);
        }
        Some(Grammar {
            classes,
            ticks,
            bar,
            durations,
            fill,
            min_bars: 8,
            soft_max: 32,
            max_tokens: 2000,
        })
    }

    /// The state at the start of the music (after the `K:` line's text).
    pub fn start(&self) -> State {
        State {
            used: 0,
            bars: 0,
            tuplet: None,
            tie: None,
            last_pitch: None,
            repeat_open: false,
            ending: 0,
            expect_second: false,
            line_has_music: false,
            prev: Prev::Start,
            tokens: 0,
            done: false,
        }
    }

    /// `r` ticks can be filled by `left` tuplet notes (scaled by q/p) and then plain notes.
    fn can_fill(&self, r: u32, left: u32, q: u32, p: u32) -> bool {
        if left == 0 {
            return self.fill[r as usize];
        }
        self.durations.iter().any(|&d| {
            let s = d as u64 * q as u64;
            s.is_multiple_of(p as u64) && {
                let s = (s / p as u64) as u32;
                s <= r && self.can_fill(r - s, left - 1, q, p)
            }
        })
    }

    /// The duration of token `id` in the current state (tuplet applied), if exact.
    fn effective(&self, st: &State, id: usize) -> Option<u32> {
        let d = self.ticks[id];
        if d == 0 {
            return None;
        }
        match st.tuplet {
            None => Some(d),
            Some((_, q, p)) => {
                let s = d as u64 * q as u64;
                (s.is_multiple_of(p as u64)).then(|| (s / p as u64) as u32)
            }
        }
    }

    /// Whether token `id` may come next.
    pub fn allowed(&self, st: &State, id: u32) -> bool {
        let id = id as usize;
        let Some(class) = self.classes.get(id) else {
            return false;
        };
        if st.done {
            return false;
        }
        // The body opens with the newline that ends the `K:` line.
        if st.prev == Prev::Start {
            return *class == Class::Newline;
        }
        if st.prev == Prev::Continuation {
            return *class == Class::Newline;
        }
        let full = st.used == self.bar;
        let closing = st.bars >= self.soft_max;
        if st.expect_second {
            return matches!(class, Class::Ending(2))
                || (*class == Class::Space && st.prev != Prev::Space);
        }
        match class {
            Class::Forbidden => false,
            Class::Eos => {
                st.prev == Prev::Bar
                    && st.used == 0
                    && st.tie.is_none()
                    && !st.repeat_open
                    && st.ending == 0
                    && st.bars >= self.min_bars
            }
            Class::Newline => {
                st.line_has_music
                    && st.tuplet.is_none()
                    && !matches!(st.prev, Prev::ChordSymbol | Prev::Tuplet | Prev::Newline)
                    && !(full && st.prev != Prev::Bar)
            }
            Class::Space => {
                !matches!(st.prev, Prev::Space | Prev::Newline | Prev::ChordSymbol) && !full
            }
            Class::Continuation => st.line_has_music && st.tuplet.is_none() && st.prev == Prev::Bar,
            Class::ChordSymbol => {
                !full
                    && st.tie.is_none()
                    && st.tuplet.is_none()
                    && !matches!(st.prev, Prev::ChordSymbol | Prev::Tuplet)
            }
            Class::Timed { pitch, rest, .. } => {
                if full {
                    return false;
                }
                if let Some(tp) = &st.tie {
                    if *rest || pitch.as_ref() != Some(tp) {
                        return false;
                    }
                }
                if *rest && st.prev == Prev::ChordSymbol {
                    return false;
                }
                let Some(e) = self.effective(st, id) else {
                    return false;
                };
                if st.used + e > self.bar {
                    return false;
                }
                let r = self.bar - st.used - e;
                match st.tuplet {
                    Some((left, q, p)) => self.can_fill(r, left - 1, q, p),
                    None => self.fill[r as usize],
                }
            }
            Class::Tuplet { p, q, r } => {
                !full
                    && st.tuplet.is_none()
                    && st.tie.is_none()
                    && self.can_fill(self.bar - st.used, *r, *q, *p)
            }
            Class::Tie => st.prev == Prev::Note && st.tuplet.is_none() && st.last_pitch.is_some(),
            Class::Bar(k) => {
                // `|:` opening a section at the start of a bar (`:|` newline `|:`).
                if st.used == 0 && k.start_repeat && !k.end_repeat && st.tie.is_none() {
                    return !st.repeat_open
                        && st.ending != 1
                        && !closing
                        && st.prev != Prev::ChordSymbol;
                }
                if !full || st.tuplet.is_some() || st.prev == Prev::ChordSymbol {
                    return false;
                }
                let is_plain = !k.end_repeat && !k.start_repeat && !k.double;
                if k.end_repeat && k.start_repeat {
                    return st.repeat_open && st.ending == 0 && !closing;
                }
                if k.end_repeat {
                    return st.repeat_open && st.ending != 2;
                }
                if k.start_repeat {
                    return !st.repeat_open && st.ending != 1 && !closing;
                }
                if k.double {
                    return !st.repeat_open;
                }
                // A plain bar line: after soft_max, only where nothing needs closing.
                is_plain && !(closing && (st.repeat_open || st.ending == 2))
            }
            Class::Ending(n) => {
                *n == 1
                    && matches!(st.prev, Prev::Bar | Prev::Space)
                    && st.used == 0
                    && st.repeat_open
                    && st.ending == 0
                    && !closing
            }
        }
    }

    /// Moves the state past token `id` (which must be allowed).
    pub fn advance(&self, st: &mut State, id: u32) {
        let idx = id as usize;
        st.tokens += 1;
        let class = &self.classes[idx];
        match class {
            Class::Forbidden => {}
            Class::Eos => st.done = true,
            Class::Newline => {
                st.prev = Prev::Newline;
                st.line_has_music = false;
            }
            Class::Space => st.prev = Prev::Space,
            Class::Continuation => st.prev = Prev::Continuation,
            Class::ChordSymbol => {
                st.prev = Prev::ChordSymbol;
                st.line_has_music = true;
            }
            Class::Timed { pitch, rest, .. } => {
                st.used += self.effective(st, idx).unwrap_or(0);
                st.tuplet = match st.tuplet {
                    Some((left, q, p)) if left > 1 => Some((left - 1, q, p)),
                    _ => None,
                };
                st.tie = None;
                st.last_pitch = pitch.clone();
                st.prev = if *rest {
                    Prev::Rest
                } else if pitch.is_some() {
                    Prev::Note
                } else {
                    Prev::Chord
                };
                st.line_has_music = true;
            }
            Class::Tuplet { q, p, r } => {
                st.tuplet = Some((*r, *q, *p));
                st.prev = Prev::Tuplet;
                st.line_has_music = true;
            }
            Class::Tie => {
                st.tie = st.last_pitch.clone();
                st.prev = Prev::Tie;
            }
            Class::Bar(k) => {
                if st.used > 0 {
                    st.bars += 1;
                }
                st.used = 0;
                st.prev = Prev::Bar;
                st.line_has_music = true;
                if k.end_repeat {
                    if st.ending == 1 {
                        st.expect_second = true;
                    }
                    st.repeat_open = false;
                    st.ending = 0;
                }
                if k.double {
                    st.ending = 0;
                }
                if k.start_repeat {
                    st.repeat_open = true;
                    st.ending = 0;
                }
            }
            Class::Ending(n) => {
                st.prev = Prev::Ending;
                st.ending = *n;
                if *n == 2 {
                    st.expect_second = false;
                    st.repeat_open = false;
                }
                st.line_has_music = true;
            }
        }
    }

    /// Whether the tune must end now (it may, and it has reached its length).
    pub fn must_end(&self, st: &State, eos: u32) -> bool {
        st.bars >= self.soft_max && self.allowed(st, eos)
    }

    /// Tokens generated so far.
    pub fn tokens(&self, st: &State) -> usize {
        st.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recurrent::text::Tokenizer;

    fn vocab() -> Vocab {
        let toks = [
            "<eos>", "\n", " ", "|", "|:", ":|", "||", "[1", "[2", "A", "B2", "c3", "d/2", "(3",
            "-", "\"G\"", "z", "%c", "A4",
        ];
        Vocab::from_tokens(Tokenizer::Abc, toks.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn chord_names_abc2midi_knows() {
        for ok in ["G", "Am", "D7", "F#m", "Bb", "A7/c+", "G/b", "Edim"] {
            assert!(chord_name_ok(ok), "{ok}");
        }
        for bad in ["Gd", "(A7)", " B7", "d", "", "A/x"] {
            assert!(!chord_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn bars_fill_exactly_and_repeats_close() {
        let v = vocab();
        let g = Grammar::new(&v, 0, Frac { num: 3, den: 4 }, Frac { num: 1, den: 8 }).unwrap();
        let mut st = g.start();
        let id = |s: &str| v.id(s).unwrap();
        assert!(!g.allowed(&st, id("A")));
        g.advance(&mut st, id("\n"));
        assert!(g.allowed(&st, id("|:")) && !g.allowed(&st, id(":|")));
        g.advance(&mut st, id("|:"));
        // 6 eighths in a bar: A4 then only 2 left, so c3 does not fit but B2 does.
        g.advance(&mut st, id("A4"));
        assert!(!g.allowed(&st, id("c3")) && g.allowed(&st, id("B2")));
        assert!(!g.allowed(&st, id("|")), "bar not full");
        // A triplet needs three notes in the time of two: (3 d/2 d/2 d/2 is half an eighth.
        assert!(g.allowed(&st, id("(3")));
        g.advance(&mut st, id("B2"));
        assert!(!g.allowed(&st, id("A")) && !g.allowed(&st, id("\"G\"")));
        assert!(g.allowed(&st, id(":|")) && !g.allowed(&st, id("|:")));
        assert!(!g.allowed(&st, id("<eos>")), "too short and repeat open");
        assert!(!g.allowed(&st, id("%c")));
        g.advance(&mut st, id("|"));
        assert!(g.allowed(&st, id("[1")));
        g.advance(&mut st, id("[1"));
        for _ in 0..3 {
            g.advance(&mut st, id("B2"));
        }
        assert!(!g.allowed(&st, id("||")) && g.allowed(&st, id(":|")));
        g.advance(&mut st, id(":|"));
        assert!(g.allowed(&st, id("[2")) && !g.allowed(&st, id("A")));
        // A tie is followed by the same pitch.
        g.advance(&mut st, id("[2"));
        g.advance(&mut st, id("A"));
        g.advance(&mut st, id("-"));
        assert!(!g.allowed(&st, id("B2")) && g.allowed(&st, id("A4")));
    }
}
