//! The ABC tokenizer: a tune's text cut into musical tokens, as folk-rnn did: header fields,
//! notes with their accidentals, octave marks and duration, rests, bar lines and repeats,
//! endings, chord symbols, tuplets, ties, chords in brackets, spaces and line breaks.
//!
//! Every token is a slice of the text, and the slices cover it end to end, so joining the
//! tokens gives back the exact text (tested over the whole corpus). Tokenizing never fails:
//! a character that is not ABC becomes an [`Kind::Other`] token, and the parser
//! ([`recurrent_tasks::music::parse`]) reports it with its line.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A whole field line without its newline: `M:6/8`, `K:G`, `T:title`, `P:A`.
    Field,
    /// `\n`.
    Newline,
    /// A run of spaces or tabs (or `\r`).
    Space,
    /// `%` to the end of the line (without the newline).
    Comment,
    /// `\` (a line continued on the next).
    Continuation,
    /// `"Am"`, with its quotes (an unclosed one runs to the end of the line).
    ChordSymbol,
    /// `!trill!`, `+slide+`, `~`, `.`.
    Decoration,
    /// A run of `|` and `:` (`|`, `||`, `|:`, `:|`, `::`, `|]`).
    Bar,
    /// `[1`, `[2`, or the digits right after a bar line (`:|2`).
    Ending,
    /// `[K:D]`, a field inside the music.
    InlineField,
    /// A note with accidentals, octave marks and duration (`^f'3/2`), or a chord of notes in
    /// brackets with its duration (`[ce]2`).
    Note,
    /// `z` or `x` with its duration.
    Rest,
    /// `(3` or `(p:q:r`.
    Tuplet,
    /// `(` not followed by a digit (a slur).
    SlurOpen,
    /// `)`.
    SlurClose,
    /// `-`.
    Tie,
    /// Anything else (one character).
    Other,
}

/// A token: its kind, its byte range in the text and its 1-based line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub line: usize,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }
}

/// Letters that open a field line inside the music: not A-G (those are notes, and `A:` would
/// read the note A followed by a repeat mark).
fn body_field_letter(b: u8) -> bool {
    (b.is_ascii_uppercase() && !(b'A'..=b'G').contains(&b)) || b == b'w'
}

fn is_note_letter(b: u8) -> bool {
    matches!(b, b'A'..=b'G' | b'a'..=b'g')
}

/// The end of a duration (`2`, `/2`, `3/2`, `//`) starting at `i`.
fn duration_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    while i < s.len() && s[i] == b'/' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// The end of a note (accidentals, letter, octave marks, duration) at `i`, if one is there.
fn note_end(s: &[u8], mut i: usize) -> Option<usize> {
    while i < s.len() && matches!(s[i], b'^' | b'_' | b'=') {
        i += 1;
    }
    if i >= s.len() || !is_note_letter(s[i]) {
        return None;
    }
    i += 1;
    while i < s.len() && matches!(s[i], b',' | b'\'') {
        i += 1;
    }
    Some(duration_end(s, i))
}

/// The end of the line holding `i` (the index of its `\n`, or the text's end).
fn line_end(s: &[u8], i: usize) -> usize {
    s[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(s.len(), |p| i + p)
}

/// The length in bytes of the UTF-8 character starting at `i`.
fn char_len(s: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < s.len() && (s[j] & 0xC0) == 0x80 {
        j += 1;
    }
    j - i
}

/// Cuts a tune (or any ABC text) into tokens covering it exactly. Before the first `K:` line
/// every `letter:` line is a header field; after it, the music.
pub fn tokenize(text: &str) -> Vec<Token> {
    let s = text.as_bytes();
    let mut out: Vec<Token> = Vec::with_capacity(s.len() / 2 + 1);
    let (mut i, mut line) = (0usize, 1usize);
    let mut in_header = true;
    let mut line_start = true;
    while i < s.len() {
        let c = s[i];
        if line_start && s.get(i + 1) == Some(&b':') {
            let field = if in_header {
                c.is_ascii_alphabetic()
            } else {
                body_field_letter(c)
            };
            if field {
                let end = line_end(s, i);
                if c == b'K' {
                    in_header = false;
                }
                out.push(Token {
                    kind: Kind::Field,
                    start: i,
                    end,
                    line,
                });
                i = end;
                line_start = false;
                continue;
            }
        }
        let after_bar = out
            .last()
            .is_some_and(|t| t.kind == Kind::Bar && t.end == i);
        let (kind, end) = symbol(s, i, after_bar);
        out.push(Token {
            kind,
            start: i,
            end,
            line,
        });
        line_start = kind == Kind::Newline;
        if line_start {
            line += 1;
        }
        i = end;
    }
    out
}

/// The token starting at byte `i` of a line that is not a field: its kind and end.
/// `after_bar`: it directly follows a bar line (where a digit starts an ending).
fn symbol(s: &[u8], i: usize, after_bar: bool) -> (Kind, usize) {
    let c = s[i];
    match c {
        b'\n' => (Kind::Newline, i + 1),
        b' ' | b'\t' | b'\r' => {
            let mut j = i + 1;
            while j < s.len() && matches!(s[j], b' ' | b'\t' | b'\r') {
                j += 1;
            }
            (Kind::Space, j)
        }
        b'%' => (Kind::Comment, line_end(s, i)),
        b'\\' => (Kind::Continuation, i + 1),
        b'"' => {
            let e = line_end(s, i);
            match s[i + 1..e].iter().position(|&b| b == b'"') {
                Some(p) => (Kind::ChordSymbol, i + 1 + p + 1),
                None => (Kind::ChordSymbol, e),
            }
        }
        b'!' | b'+' => {
            let e = line_end(s, i);
            match s[i + 1..e].iter().position(|&b| b == c) {
                Some(p) => (Kind::Decoration, i + 1 + p + 1),
                None => (Kind::Other, i + 1),
            }
        }
        b'~' | b'.' => (Kind::Decoration, i + 1),
        b'|' | b':' => {
            let mut j = i;
            while j < s.len() && matches!(s[j], b'|' | b':') {
                j += 1;
            }
            if j < s.len() && s[j] == b']' && s[j - 1] == b'|' {
                j += 1;
            }
            (Kind::Bar, j)
        }
        b'[' => bracket(s, i),
        b'(' => match s.get(i + 1) {
            Some(d) if d.is_ascii_digit() => (Kind::Tuplet, tuplet_end(s, i)),
            _ => (Kind::SlurOpen, i + 1),
        },
        b')' => (Kind::SlurClose, i + 1),
        b'-' => (Kind::Tie, i + 1),
        b'z' | b'x' => (Kind::Rest, duration_end(s, i + 1)),
        b'^' | b'_' | b'=' | b'A'..=b'G' | b'a'..=b'g' => match note_end(s, i) {
            Some(e) => (Kind::Note, e),
            None => (Kind::Other, i + 1),
        },
        b'0'..=b'9' if after_bar => (Kind::Ending, digits_end(s, i)),
        _ => (Kind::Other, i + char_len(s, i)),
    }
}

/// The end of the run of ASCII digits from `j`.
fn digits_end(s: &[u8], mut j: usize) -> usize {
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
    }
    j
}

/// A token opening with `[` at `i`: an ending (`[2`), an inline field (`[K:D]`) or a
/// chord (`[CEG]2`).
fn bracket(s: &[u8], i: usize) -> (Kind, usize) {
    match s.get(i + 1) {
        Some(d) if d.is_ascii_digit() => (Kind::Ending, digits_end(s, i + 1)),
        Some(l) if l.is_ascii_alphabetic() && s.get(i + 2) == Some(&b':') => {
            let e = line_end(s, i);
            match s[i..e].iter().position(|&b| b == b']') {
                Some(p) => (Kind::InlineField, i + p + 1),
                None => (Kind::Other, i + 1),
            }
        }
        _ => {
            // A chord: notes (and spaces, `+`) up to `]`, then its duration.
            let e = line_end(s, i);
            let mut j = i + 1;
            let mut ok = false;
            while j < e {
                match s[j] {
                    b']' => {
                        ok = true;
                        break;
                    }
                    b' ' | b'+' | b'-' => j += 1,
                    _ => match note_end(s, j) {
                        Some(k) => j = k,
                        None => break,
                    },
                }
            }
            if ok && j > i + 1 {
                (Kind::Note, duration_end(s, j + 1))
            } else if j > i + 1 && s[i + 1] != b' ' {
                // An unclosed chord (`[e2c2(3A/2...`, once in the corpus): the notes read
                // so far, as abc2midi reads them.
                (Kind::Note, j)
            } else {
                (Kind::Other, i + 1)
            }
        }
    }
}

/// The end of a tuplet `(p`, `(p:q` or `(p:q:r` at `i` (q and r may be empty).
fn tuplet_end(s: &[u8], i: usize) -> usize {
    let mut j = digits_end(s, i + 1);
    for _ in 0..2 {
        if j < s.len()
            && s[j] == b':'
            && s.get(j + 1)
                .is_some_and(|b| b.is_ascii_digit() || *b == b':')
        {
            j = digits_end(s, j + 1);
        }
    }
    j
}

/// The token texts of `text`.
pub fn token_texts(text: &str) -> Vec<&str> {
    tokenize(text).iter().map(|t| t.text(text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn musical_tokens_and_exact_join() {
        let t = "X: 1\nT:t\nM:6/8\nK:D\n|:\"D\"^f'3/2z/2 (3abc [ce]2-c|[1 d3:|2 e||\\\nP:B\n";
        let toks = token_texts(t);
        assert_eq!(toks.concat(), t);
        for want in [
            "M:6/8", "K:D", "|:", "\"D\"", "^f'3/2", "z/2", "(3", "[ce]2", "-", "[1", ":|", "2",
            "||", "\\", "P:B",
        ] {
            assert!(toks.contains(&want), "{want} not in {toks:?}");
        }
        let kinds: Vec<Kind> = tokenize(t).iter().map(|k| k.kind).collect();
        assert!(!kinds.contains(&Kind::Other));
    }

    #[test]
    fn odd_input_never_panics_and_round_trips() {
        for t in [
            "",
            "\"",
            "[",
            "(",
            "é|",
            "X:\n\"unclosed\n[1",
            "K:C\n^^",
            "|]]",
        ] {
            assert_eq!(token_texts(t).concat(), t);
        }
    }
}
