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
//! [`MAX_BYTES`] bytes, and hands out the smallest buffer that fits.

use crate::float::Float;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many idle buffers are kept.
pub const MAX_BUFFERS: usize = 256;
/// At most this many idle bytes are kept (larger leftovers are freed).
pub const MAX_BYTES: usize = 1 << 31;

struct Pool {
    /// Per float type: its idle buffers (`Vec<F>` inside the box).
    idle: HashMap<TypeId, Vec<Box<dyn Any + Send>>>,
    bytes: usize,
    count: usize,
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
    let found = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_mut().and_then(|pool| {
            let list = pool.idle.get_mut(&TypeId::of::<F>())?;
            // The smallest buffer that fits.
            let best = list
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let cap = b.downcast_ref::<Vec<F>>()?.capacity();
                    (cap >= len).then_some((cap, i))
                })
                .min()?;
            let b = list.swap_remove(best.1);
            pool.count -= 1;
            pool.bytes -= best.0 * F::BYTES;
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

/// Returns a buffer to the pool (or frees it when the pool is full).
pub fn give<F: Float>(v: Vec<F>) {
    let bytes = v.capacity() * F::BYTES;
    if bytes == 0 {
        return;
    }
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = guard.get_or_insert_with(|| Pool {
        idle: HashMap::new(),
        bytes: 0,
        count: 0,
    });
    if pool.count >= MAX_BUFFERS || pool.bytes + bytes > MAX_BYTES {
        return; // dropped outside the pool: freed
    }
    pool.count += 1;
    pool.bytes += bytes;
    pool.idle
        .entry(TypeId::of::<F>())
        .or_default()
        .push(Box::new(v));
}

/// Frees every idle buffer (for long-running programs that are done with a large model).
pub fn clear() {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    *guard = None;
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
}
