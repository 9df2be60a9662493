//! The portable tiles: plain loops over the panel layout (16 lanes that any target can
//! vectorise), with the same integer sums as the VNNI tiles (so the same bits) and f32
//! sums of exact bf16 products.

use super::{finish_i8, Job, Tile, TileOut};

/// int8 tile: per lane i, sum over groups of the 4 unsigned x signed byte products.
///
/// # Safety
/// The job's pointers cover its shape.
pub(super) unsafe fn i8_tile(job: &Job, out: &mut TileOut) {
    let mut s = Tile::<i32>::new();
    for (j, sj) in s.0.iter_mut().enumerate().take(job.nn) {
        for (p, sp) in sj.iter_mut().enumerate().take(job.np) {
            for g in 0..job.groups {
                let x = std::slice::from_raw_parts(job.x[j].add(4 * g), 4);
                let w = std::slice::from_raw_parts(job.w.add(p * job.pstride + 64 * g), 64);
                for (i, a) in sp.iter_mut().enumerate() {
                    for e in 0..4 {
                        *a += x[e] as i32 * w[4 * i + e] as i8 as i32;
                    }
                }
            }
        }
    }
    finish_i8(job, &s, out)
}

/// bf16 tile: per lane, the pair products of each group added in order in f32.
///
/// # Safety
/// The job's pointers cover its shape (bf16 values 2-byte aligned).
pub(super) unsafe fn bf16_tile(job: &Job, out: &mut TileOut) {
    let wide = |h: u16| f32::from_bits((h as u32) << 16);
    for (j, sj) in out.0.iter_mut().enumerate().take(job.nn) {
        for (p, sp) in sj.iter_mut().enumerate().take(job.np) {
            sp.fill(0.0);
            for g in 0..job.groups {
                let x = std::slice::from_raw_parts(job.x[j].add(4 * g) as *const u16, 2);
                let at = job.w.add(p * job.pstride + 64 * g) as *const u16;
                let w = std::slice::from_raw_parts(at, 32);
                for (i, a) in sp.iter_mut().enumerate() {
                    *a += wide(x[0]) * wide(w[2 * i]) + wide(x[1]) * wide(w[2 * i + 1]);
                }
            }
        }
    }
}
