//! Synthetic string tasks (reverse, copy, sort, ...) that check an encoder-decoder learns
//! without a corpus.

use crate::translate::parallel::Pair;
use recurrent::error::{Error, Result};
use recurrent::rng::Rng;

/// How many pairs `--synthetic` generates unless told.
pub const SYNTHETIC_COUNT: usize = 20_000;

/// Pairs of a synthetic string-to-string task, generated from `seed`: `count` sequences of
/// 3 to `max_len` digits (space-separated, so each digit is a token), and their target:
/// `reverse` (the digits backwards) or `sort` (ascending).
pub fn synthetic_pairs(task: &str, count: usize, max_len: usize, seed: u64) -> Result<Vec<Pair>> {
    let f: fn(&mut Vec<u32>) = match task {
        "reverse" => |v| v.reverse(),
        "sort" => |v| v.sort_unstable(),
        o => {
            return Err(Error::Config(format!(
                "--synthetic must be reverse or sort, got `{o}`"
            )))
        }
    };
    if max_len < 3 {
        return Err(Error::Config(
            "synthetic sequences need --max-len >= 3".into(),
        ));
    }
    let mut rng = Rng::new(seed).fork(&format!("synthetic-{task}"));
    let show = |v: &[u32]| {
        v.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok((0..count)
        .map(|i| {
            let n = 3 + rng.below(max_len - 2);
            let src: Vec<u32> = (0..n).map(|_| rng.below(10) as u32).collect();
            let mut tgt = src.clone();
            f(&mut tgt);
            Pair {
                src: show(&src),
                tgt: show(&tgt),
                line: i + 1,
            }
        })
        .collect())
}
