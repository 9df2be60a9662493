//! Recycled buffers for the forward and backward passes.
//!
//! A training step allocates the same large buffers every iteration (the gate activations,
//! the hidden states, the gate gradients: megabytes each). Fresh large allocations come from
//! the kernel as untouched pages, and first touching them cost 15-30% of a small LSTM's or
//! GRU's training step in page faults and zeroing (measured with perf; see
//! docs/performance.md). Caches and temporaries therefore take their buffers from here and
//! give them back when dropped, so after the first iteration nothing is allocated.
//!
//! The pool is global (shared by threads), keeps at most [`MAX_BUFFERS`] buffers and
//! [`MAX_BYTES`] bytes, and hands out the smallest buffer that fits. When a returned buffer
//! would pass either bound, the oldest idle buffers are freed first: buffers that come back
//! but are never asked for again (the layer inputs a cache holds, allocated outside the
//! pool; an evaluation's batches growing in length) once piled up to the bound, 1.5 GB while
//! tagging one long line, where a training step reuses what it gave back a moment ago.

use crate::float::Float;
use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::sync::Mutex;

/// At most this many idle buffers are kept.
pub const MAX_BUFFERS: usize = 256;
/// At most this many idle bytes are kept. A step of the largest models here returns a few
/// hundred megabytes; past this, its buffers are allocated afresh (page faults cost most on
/// small models, whose buffers fit).
pub const MAX_BYTES: usize = 1 << 29;

/// An idle buffer: its float type, its size in bytes and the `Vec<F>`.
type Idle = (TypeId, usize, Box<dyn Any + Send>);

struct Pool {
    /// Oldest first.
    idle: VecDeque<Idle>,
    bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// A buffer of `len` zeros.
pub fn zeros<F: Float>(len: usize) -> Vec<F> {
    let mut v = take::<F>(len);
    v.iter_mut().for_each(|x| *x = F::zero());
    v
}

/// A buffer of `len` elements with unspecified (finite or not) contents, for buffers the
/// caller overwrites completely before reading.
pub fn scratch<F: Float>(len: usize) -> Vec<F> {
    take(len)
}

/// A copy of `src` in a recycled buffer.
pub fn copy_of<F: Float>(src: &[F]) -> Vec<F> {
    let mut v = take::<F>(src.len());
    v.copy_from_slice(src);
    v
}

fn take<F: Float>(len: usize) -> Vec<F> {
    if len == 0 {
        return Vec::new();
    }
    let want = TypeId::of::<F>();
    let found = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_mut().and_then(|pool| {
            // The smallest buffer that fits.
            let best = pool
                .idle
                .iter()
                .enumerate()
                .filter(|(_, (ty, bytes, _))| *ty == want && *bytes >= len * F::BYTES)
                .min_by_key(|(_, (_, bytes, _))| *bytes)?
                .0;
            let (_, bytes, b) = pool.idle.remove(best)?;
            pool.bytes -= bytes;
            b.downcast::<Vec<F>>().ok().map(|b| *b)
        })
    };
    match found {
        Some(mut v) => {
            // Keep the old contents where they fit (no zeroing: `zeros` does that).
            if v.len() >= len {
                v.truncate(len);
            } else {
                v.resize(len, F::zero());
            }
            v
        }
        None => vec![F::zero(); len],
    }
}

/// Returns a buffer to the pool, freeing the oldest idle ones if it would pass a bound (a
/// buffer larger than the whole bound is freed at once).
pub fn give<F: Float>(v: Vec<F>) {
    let bytes = v.capacity() * F::BYTES;
    if bytes == 0 || bytes > MAX_BYTES {
        return;
    }
    let evicted: Vec<Idle> = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pool = guard.get_or_insert_with(|| Pool {
            idle: VecDeque::new(),
            bytes: 0,
        });
        let mut out = Vec::new();
        while pool.idle.len() >= MAX_BUFFERS || pool.bytes + bytes > MAX_BYTES {
            let Some(old) = pool.idle.pop_front() else {
                break;
            };
            pool.bytes -= old.1;
            out.push(old);
        }
        pool.bytes += bytes;
        pool.idle.push_back((TypeId::of::<F>(), bytes, Box::new(v)));
        out
    };
    // Freed outside the lock.
    drop(evicted);
}

/// Idle bytes held by the pool.
pub fn idle_bytes() -> usize {
    let guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().map_or(0, |p| p.bytes)
}

/// Frees every idle buffer (for long-running programs that are done with a large model).
pub fn clear() {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    *guard = None;
}

/// Elements of padding that let [`aligned`] find a 64-byte boundary in any `Vec<F>`.
pub fn align_pad<F>() -> usize {
    64 / std::mem::size_of::<F>().max(1)
}

/// The part of `v` from its first 64-byte boundary on (`v` grown by [`align_pad`] beyond
/// what is needed). Buffers that threads write side by side, each its own columns, start
/// there so that a boundary between two members' columns (a multiple of 16 floats) is also
/// a cache line's: a heap buffer is only 16-byte aligned, and the lines the two members
/// shared made the same binary 1.7x slower from one process to the next.
pub fn aligned<F>(v: &mut [F]) -> &mut [F] {
    let off = v.as_ptr().align_offset(64).min(v.len());
    &mut v[off..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_or_sized() {
        let mut a = zeros::<f64>(1000);
        a.iter_mut().for_each(|v| *v = 7.0);
        give(a);
        // A recycled buffer (this one, or another test's) comes back zeroed and sized.
        let b = zeros::<f64>(900);
        assert_eq!(b.len(), 900);
        assert!(b.iter().all(|&v| v == 0.0));
        give(b);
        let c = scratch::<f64>(1000);
        assert_eq!(c.len(), 1000);
        give(c);
        let d = copy_of(&[1.0f32, 2.0]);
        assert_eq!(d, [1.0, 2.0]);
    }

    #[test]
    fn buffers_never_asked_for_again_do_not_pile_up() {
        // 64 MB buffers returned without being taken (as a cache gives back the inputs it
        // was handed): the pool stays within its bound, the oldest freed first.
        let len = (64 << 20) / 4;
        for _ in 0..20 {
            give(vec![0f32; len]);
            assert!(idle_bytes() <= MAX_BYTES);
        }
        let v = scratch::<f32>(len);
        assert_eq!(v.len(), len);
        give(v);
        assert!(idle_bytes() <= MAX_BYTES);
    }
}
