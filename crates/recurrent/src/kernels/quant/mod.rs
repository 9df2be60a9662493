//! Reduced-precision weights for inference: int8 and bf16 matrix-row products.
//!
//! A weight matrix W [N, K] (row-major, as PyTorch stores it) is stored once, at load:
//! - **int8**, per-output-channel symmetric: s_r = max_k |W[r,k]| / 127,
//!   q[r,k] = round(W[r,k] / s_r) in [-127, 127];
//! - **bf16**: each weight rounded to the nearest bfloat16 (ties to even).
//!
//! Activations are quantized dynamically at every product, per batch row (as ONNX Runtime's
//! and PyTorch's dynamic quantization do, but per row instead of per tensor):
//! - int8: s_b = max_k |x[b,k]| / 127, p[b,k] = round(x[b,k] / s_b), stored as the unsigned
//!   byte p + 128 because the VNNI instruction multiplies unsigned by signed bytes;
//! - bf16: each x rounded to bfloat16.
//!
//! The products:
//! - int8: out[b, r] = s_b s_r (sum_k (p[b,k] + 128) q[r,k] - 128 sum_k q[r,k]),
//!   the sum exact in i32 (|sum| <= K 255 127 < 2^31 for K < 66,000), so every path
//!   (AVX512-VNNI, AVX-VNNI, portable) gives the same bits;
//! - bf16: out[b, r] = sum_k x~[b,k] w~[r,k] accumulated in f32 (AVX512_BF16's `vdpbf16ps`,
//!   or the bf16 values widened to f32 and multiplied): equal across paths to f32 rounding.
//!
//! Layout (the one `vpdpbusd` and `vdpbf16ps` want, so that no sum crosses lanes): the
//! rows go in panels of 16, and the columns in groups of 4 int8 or 2 bf16 values (4
//! bytes). Panel p, group g is one 64-byte vector holding the group of each of its 16 rows:
//!
//!   byte (p * G + g) * 64 + 4 i + j  =  element j of group g of row 16 p + i
//!
//! A kernel broadcasts one activation group (4 bytes) and multiplies it into a whole panel
//! vector, accumulating 16 rows' sums in 16 lanes; a tile keeps up to 4 panels x 4 batch
//! rows of such sums in registers. Rows are padded with zeros to a multiple of 16 and
//! columns to a whole group; padded activations are zero (byte 128 in int8).
//! The recurrent state and every element-wise gate stay in f32: only the products change.

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::simd::{self, Level};
use crate::float::Float;
use std::cell::RefCell;
use std::fmt;
use std::ops::Range;

/// The number format of the inference products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// The weights as trained (f32 or f64).
    #[default]
    F32,
    /// bfloat16 weights and activations, f32 accumulation.
    Bf16,
    /// int8 weights per output channel, int8 activations per row, i32 accumulation.
    Int8,
}

impl Precision {
    /// The name the flags and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }
    /// Parses `f32`, `bf16` or `int8`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "int8" => Ok(Precision::Int8),
            o => Err(format!("precision '{o}': use f32, bf16 or int8")),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Rows per panel.
const PANEL: usize = 16;
/// Bytes per group of columns.
const GROUP_BYTES: usize = 4;

/// Columns per group for `p`.
fn per_group(p: Precision) -> usize {
    if p == Precision::Int8 {
        4
    } else {
        2
    }
}

/// `w` [n, k] row-major in int8 per row (see the module doc): the values [n, k] and the
/// scales s_r [n]. Weights stored this way (`recurrent quantize`) quantize back to the
/// same values.
pub fn int8_rows<F: Float>(w: &[F], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    assert_eq!(
        w.len(),
        n * k,
        "int8_rows: {} values for [{n}, {k}]",
        w.len()
    );
    let mut q = Vec::with_capacity(n * k);
    let mut scale = Vec::with_capacity(n);
    for r in 0..n {
        let row = || w[r * k..(r + 1) * k].iter().map(|v| v.to64() as f32);
        let s = scale_of(row());
        let inv = 1.0 / s;
        q.extend(row().map(|v| q8(v, inv)));
        scale.push(s);
    }
    (q, scale)
}

/// One 64-byte vector of a panel, aligned as the vector loads want: a load that straddles
/// two cache lines costs two, and a heap buffer of bytes is only 16-byte aligned, so
/// without this the same binary ran the int8 products at 45 or at 80 ms per M-infer
/// forward depending on where the allocator put the weights.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A weight matrix [N, K] in int8 or bf16, in panels (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct QMatrix {
    precision: Precision,
    n: usize,
    k: usize,
    /// Groups of columns G.
    groups: usize,
    /// Vectors from one panel to the next: G, plus one when G is a multiple of 16, so that
    /// the panels a tile streams together (1 KiB apart or a multiple of it, 8 KiB for
    /// K = 512) do not all fall in the same sets of the L1 cache.
    pstride: usize,
    /// The panels: ceil(N/16) x G vectors of 64 bytes.
    data: Vec<Line>,
    /// int8: s_r per row, padded to whole panels with 0.
    scale: Vec<f32>,
    /// int8: sum_k q[r,k] per row (the correction of the +128 offset), padded likewise.
    sums: Vec<i32>,
}

/// f32 -> bfloat16 bits, rounding to nearest, ties to even (NaN stays NaN).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// bfloat16 bits -> f32 (exact).
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Symmetric int8 of `x` given 1 / scale: round(x / s) in [-127, 127], NaN to the clamp's
/// end (max and min drop a NaN operand).
///
/// Rounds half away from zero by adding +-0.5 and truncating, not by `f32::round` (a call
/// per value on the baseline target), and converts without `as`'s saturation checks (which
/// keep the loop scalar): the value is already inside i32's range.
#[inline(always)]
#[allow(clippy::manual_clamp)] // clamp keeps a NaN, which the conversion must not see
fn q8(x: f32, inv: f32) -> i8 {
    let t = (x * inv).max(-127.0).min(127.0);
    // SAFETY: t + 0.5 sign(t) is finite and within [-127.5, 127.5].
    unsafe { (t + 0.5f32.copysign(t)).to_int_unchecked::<i32>() as i8 }
}

/// The scale max|x| / 127 of a row (1 for an all-zero row, so nothing divides by 0).
fn scale_of(row: impl Iterator<Item = f32>) -> f32 {
    let m = row.fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 && m.is_finite() {
        m / 127.0
    } else {
        1.0
    }
}

impl QMatrix {
    /// Quantizes `w` [n, k] row-major to `p` (Bf16 or Int8; F32 is taken as Bf16, the
    /// nearest quantized format).
    pub fn new<F: Float>(w: &[F], n: usize, k: usize, p: Precision) -> Self {
        assert_eq!(
            w.len(),
            n * k,
            "QMatrix::new: {} values for [{n}, {k}]",
            w.len()
        );
        let precision = if p == Precision::Int8 {
            p
        } else {
            Precision::Bf16
        };
        let per = per_group(precision);
        let groups = k.div_ceil(per).max(1);
        let pstride = groups + usize::from(groups.is_multiple_of(16));
        let panels = n.div_ceil(PANEL);
        let mut m = QMatrix {
            precision,
            n,
            k,
            groups,
            pstride,
            data: vec![Line([0; 64]); panels * pstride],
            scale: vec![0.0; panels * PANEL],
            sums: vec![0; panels * PANEL],
        };
        if precision == Precision::Int8 {
            let (q, scale) = int8_rows(w, n, k);
            for r in 0..n {
                let row = &q[r * k..(r + 1) * k];
                for (kk, &v) in row.iter().enumerate() {
                    let at = m.at(r, kk);
                    m.raw_mut()[at] = v as u8;
                }
                m.scale[r] = scale[r];
                m.sums[r] = row.iter().map(|&v| v as i32).sum();
            }
        } else {
            for r in 0..n {
                for (kk, v) in w[r * k..(r + 1) * k].iter().enumerate() {
                    let at = m.at(r, kk);
                    let b = to_bf16(v.to64() as f32).to_le_bytes();
                    m.raw_mut()[at..at + 2].copy_from_slice(&b);
                }
            }
        }
        m
    }
    /// The panels as bytes.
    fn raw(&self) -> &[u8] {
        // SAFETY: Line is 64 plain bytes (repr(C), no padding); the slice covers the Vec.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr() as *const u8, 64 * self.data.len()) }
    }
    fn raw_mut(&mut self) -> &mut [u8] {
        // SAFETY: as raw(), borrowed mutably.
        unsafe {
            std::slice::from_raw_parts_mut(self.data.as_mut_ptr() as *mut u8, 64 * self.data.len())
        }
    }
    /// The byte offset of element (r, k).
    fn at(&self, r: usize, k: usize) -> usize {
        let per = per_group(self.precision);
        let (p, i, g, j) = (r / PANEL, r % PANEL, k / per, k % per);
        (p * self.pstride + g) * 64 + GROUP_BYTES * i + j * (4 / per)
    }
    /// Rows N.
    pub fn rows(&self) -> usize {
        self.n
    }
    /// Columns K (unpadded).
    pub fn cols(&self) -> usize {
        self.k
    }
    /// The precision it holds.
    pub fn precision(&self) -> Precision {
        self.precision
    }
    /// Bytes of weights a product streams (what a weight-bound step reads).
    pub fn bytes(&self) -> usize {
        let ints = if self.precision == Precision::Int8 {
            4 * (self.scale.len() + self.sums.len())
        } else {
            0
        };
        64 * self.data.len() + ints
    }
    /// Element (r, k) as stored: the int8 value, or the bf16 bits.
    pub fn stored(&self, r: usize, k: usize) -> i32 {
        let at = self.at(r, k);
        if self.precision == Precision::Int8 {
            self.raw()[at] as i8 as i32
        } else {
            u16::from_le_bytes([self.raw()[at], self.raw()[at + 1]]) as i32
        }
    }
    /// The scale s_r of row r (int8; 1 for bf16).
    pub fn row_scale(&self, r: usize) -> f32 {
        if self.precision == Precision::Int8 {
            self.scale[r]
        } else {
            1.0
        }
    }
    /// The weights as the products see them, back in f32 ([N, K]): for tests and for
    /// writing what a quantized model computes with.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n * self.k);
        for r in 0..self.n {
            for kk in 0..self.k {
                let v = self.stored(r, kk);
                out.push(if self.precision == Precision::Int8 {
                    v as f32 * self.scale[r]
                } else {
                    from_bf16(v as u16)
                });
            }
        }
        out
    }
}

/// A batch of activations quantized for one product (see the module doc); reused.
#[derive(Clone, Debug, Default)]
pub struct Acts {
    precision: Precision,
    nb: usize,
    k: usize,
    /// Bytes per row: whole groups.
    stride: usize,
    /// int8: [nb, stride] bytes p + 128.
    i8s: Vec<u8>,
    /// bf16: [nb, stride / 2] bits.
    bf: Vec<u16>,
    /// int8: s_b per row.
    scale: Vec<f32>,
}

impl Acts {
    /// Quantizes `x` [nb, k] for products with weights in precision `p`.
    pub fn quantize<F: Float>(&mut self, x: &[F], nb: usize, k: usize, p: Precision) {
        assert!(
            x.len() >= nb * k,
            "Acts::quantize: {} values for [{nb}, {k}]",
            x.len()
        );
        let p = if p == Precision::Int8 {
            p
        } else {
            Precision::Bf16
        };
        let stride = k.div_ceil(per_group(p)).max(1) * GROUP_BYTES;
        (self.precision, self.nb, self.k, self.stride) = (p, nb, k, stride);
        if p == Precision::Int8 {
            self.i8s.clear();
            self.i8s.resize(nb * stride, 128);
            self.scale.clear();
            self.scale.resize(nb, 1.0);
            quantize_i8_rows(x, k, stride, &mut self.i8s, &mut self.scale);
        } else {
            self.bf.clear();
            self.bf.resize(nb * stride / 2, 0);
            quantize_bf16_rows(x, k, stride / 2, &mut self.bf);
        }
    }
    /// Batch row b's group 0.
    fn row(&self, b: usize) -> *const u8 {
        if self.precision == Precision::Int8 {
            self.i8s[b * self.stride..(b + 1) * self.stride].as_ptr()
        } else {
            let h = self.stride / 2;
            self.bf[b * h..(b + 1) * h].as_ptr() as *const u8
        }
    }
}

crate::multiversion! {
    /// Each row b of `x` [nb, k] (nb = `scale.len()`) to int8 with its own scale, as bytes
    /// p + 128 at `out[b * stride..]`. Written in 16 lanes so that it vectorises: a step
    /// quantizes its inputs at every product.
    fn quantize_i8_rows<F: Float>(x: &[F], k: usize, stride: usize, out: &mut [u8], scale: &mut [f32]) {
        const L: usize = 16;
        for (b, s) in scale.iter_mut().enumerate() {
            let row = &x[b * k..(b + 1) * k];
            let mut m = [0.0f32; L];
            let mut chunks = row.chunks_exact(L);
            for c in &mut chunks {
                for l in 0..L {
                    let a = (c[l].to64() as f32).abs();
                    m[l] = if a > m[l] { a } else { m[l] };
                }
            }
            let mut amax = m.iter().fold(0.0f32, |a, &v| a.max(v));
            for v in chunks.remainder() {
                amax = amax.max((v.to64() as f32).abs());
            }
            *s = scale_of(std::iter::once(amax));
            let inv = 1.0 / *s;
            for (d, v) in out[b * stride..b * stride + k].iter_mut().zip(row) {
                *d = (q8(v.to64() as f32, inv) as i32 + 128) as u8;
            }
        }
    }
}

crate::multiversion! {
    /// Each row b of `x` [nb, k] to bf16 bits at `out[b * stride..]` (nb = out.len() / stride).
    fn quantize_bf16_rows<F: Float>(x: &[F], k: usize, stride: usize, out: &mut [u16]) {
        if k == 0 {
            return;
        }
        for (row, dst) in x.chunks_exact(k).zip(out.chunks_exact_mut(stride)) {
            for (d, v) in dst.iter_mut().zip(row) {
                *d = to_bf16(v.to64() as f32);
            }
        }
    }
}

thread_local! {
    /// Each thread's activation buffers: the step quantizes its two inputs (x and h) into
    /// them, so nothing is allocated after the first step.
    static ACTS: RefCell<[Acts; 2]> = RefCell::new([Acts::default(), Acts::default()]);
}

/// Runs `f` with this thread's two activation buffers.
pub fn with_acts<R>(f: impl FnOnce(&mut [Acts; 2]) -> R) -> R {
    ACTS.with(|a| f(&mut a.borrow_mut()))
}

/// An implementation of the products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Plain code (the compiler vectorises what it can).
    Portable,
    /// AVX2 without VNNI: int8 through `vpmaddwd` (Zen 2 and 3, Intel before Alder Lake).
    Avx2,
    /// AVX-VNNI (256-bit `vpdpbusd`): int8 only.
    AvxVnni,
    /// AVX512-VNNI: int8 only.
    Vnni512,
    /// AVX512_BF16 (`vdpbf16ps`): bf16 only.
    Bf16x512,
}

impl Path {
    /// The name the benchmark prints.
    pub fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            Path::Avx2 => "avx2",
            Path::AvxVnni => "avx-vnni",
            Path::Vnni512 => "avx512-vnni",
            Path::Bf16x512 => "avx512-bf16",
        }
    }
}

/// Every path this CPU can run for `p`, the portable one first.
pub fn paths(p: Precision) -> Vec<Path> {
    let mut v = vec![Path::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        let d = simd::detected();
        match p {
            Precision::Int8 => {
                if d >= Level::Avx2 {
                    v.push(Path::Avx2);
                }
                if d >= Level::Avx2 && is_x86_feature_detected!("avxvnni") {
                    v.push(Path::AvxVnni);
                }
                if d >= Level::Avx512 && is_x86_feature_detected!("avx512vnni") {
                    v.push(Path::Vnni512);
                }
            }
            Precision::Bf16 => {
                if d >= Level::Avx512 && is_x86_feature_detected!("avx512bf16") {
                    v.push(Path::Bf16x512);
                }
            }
            Precision::F32 => {}
        }
    }
    v
}

/// The path the products take for `p`: the widest this CPU has within the instruction-set
/// cap of [`simd::level`] (so `RECURRENT_ISA=avx2` measures AVX-VNNI, `portable` the plain
/// code).
pub fn path(p: Precision) -> Path {
    let cap = simd::level();
    paths(p)
        .into_iter()
        .rfind(|q| match q {
            Path::Portable => true,
            Path::Avx2 | Path::AvxVnni => cap >= Level::Avx2,
            Path::Vnni512 | Path::Bf16x512 => cap >= Level::Avx512,
        })
        .unwrap_or(Path::Portable)
}

/// `out[b * ldo + i] (+)= W[r] . x[b]` for the rows `r = rows.start + i` of `w`, batch rows
/// `b < nb` of `a` (quantized for `w`'s precision); `accumulate` adds to `out`.
#[allow(clippy::too_many_arguments)]
pub fn qdot_rows<F: Float>(
    w: &QMatrix,
    a: &Acts,
    rows: Range<usize>,
    nb: usize,
    out: &mut [F],
    ldo: usize,
    accumulate: bool,
) {
    qdot_rows_on(path(w.precision()), w, a, rows, nb, out, ldo, accumulate)
}

/// [`qdot_rows`] on a given path (tests compare them); a path that does not fit the
/// precision or the CPU falls back to the portable one.
#[allow(clippy::too_many_arguments)]
pub fn qdot_rows_on<F: Float>(
    path: Path,
    w: &QMatrix,
    a: &Acts,
    rows: Range<usize>,
    nb: usize,
    out: &mut [F],
    ldo: usize,
    accumulate: bool,
) {
    assert!(
        rows.end <= w.rows() && a.k == w.cols() && a.precision == w.precision && nb <= a.nb,
        "qdot_rows: rows {rows:?} of [{}, {}] {} with activations [{}, {}] {}",
        w.rows(),
        w.cols(),
        w.precision,
        a.nb,
        a.k,
        a.precision
    );
    if rows.is_empty() || nb == 0 {
        return;
    }
    assert!(
        out.len() > (nb - 1) * ldo + rows.len() - 1,
        "qdot_rows: out too short"
    );
    let path = if paths(w.precision).contains(&path) {
        path
    } else {
        Path::Portable
    };
    let tile: TileFn = match path {
        #[cfg(target_arch = "x86_64")]
        Path::Vnni512 => x86::i8_512,
        #[cfg(target_arch = "x86_64")]
        Path::AvxVnni => x86::i8_256,
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => x86::i8_avx2,
        #[cfg(target_arch = "x86_64")]
        Path::Bf16x512 => x86::bf16_512,
        _ if w.precision == Precision::Int8 => portable::i8_tile,
        _ => portable::bf16_tile,
    };
    let panels = rows.start / PANEL..rows.end.div_ceil(PANEL);
    let pstride = w.pstride * 64;
    let mut t = TileOut::new();
    // Panels outside, batch rows inside: a tile's panels (np x G x 64 bytes, 32 KiB for
    // K = 512) stay in L1 while every batch row passes over them.
    let mut p0 = panels.start;
    while p0 < panels.end {
        let np = (panels.end - p0).min(TP);
        let r0 = p0 * PANEL;
        let mut b0 = 0;
        while b0 < nb {
            let nn = (nb - b0).min(TB);
            let mut xscale = [0.0; TB];
            let x = std::array::from_fn(|j| {
                let b = b0 + j.min(nn - 1);
                xscale[j] = a.scale.get(b).copied().unwrap_or(1.0);
                a.row(b)
            });
            let job = Job {
                w: w.raw()[p0 * pstride..(p0 + np) * pstride].as_ptr(),
                pstride,
                groups: w.groups,
                np,
                x,
                nn,
                sums: w.sums[r0..].as_ptr(),
                wscale: w.scale[r0..].as_ptr(),
                xscale,
            };
            // SAFETY: the path is in paths() (the CPU has its instructions); the job's
            // pointers cover np panels of G groups, nn rows of G groups and np * 16 row
            // scales and sums (all padded to whole panels and groups).
            unsafe { tile(&job, &mut t) };
            for (j, tj) in t.0.iter().enumerate().take(nn) {
                let o = &mut out[(b0 + j) * ldo..];
                for (pi, tp) in tj.iter().enumerate().take(np) {
                    let base = r0 + pi * PANEL;
                    let (lo, hi) = (base.max(rows.start), (base + PANEL).min(rows.end));
                    if lo >= hi {
                        continue;
                    }
                    let dst = &mut o[lo - rows.start..hi - rows.start];
                    let src = &tp[lo - base..hi - base];
                    if accumulate {
                        dst.iter_mut()
                            .zip(src)
                            .for_each(|(d, &v)| *d += F::of(v as f64));
                    } else {
                        dst.iter_mut()
                            .zip(src)
                            .for_each(|(d, &v)| *d = F::of(v as f64));
                    }
                }
            }
            b0 += nn;
        }
        p0 += np;
    }
}

/// The most panels and batch rows one tile takes.
const TP: usize = 4;
const TB: usize = 4;

/// One tile: panels `w`, `w + pstride`, ... (np <= TP) against batch rows `x` (nn <= TB).
struct Job {
    /// The first panel's group 0.
    w: *const u8,
    pstride: usize,
    groups: usize,
    np: usize,
    /// Each batch row's group 0 (the last repeated past nn).
    x: [*const u8; TB],
    nn: usize,
    /// int8: the first panel's row sums and scales; the batch rows' scales.
    sums: *const i32,
    wscale: *const f32,
    xscale: [f32; TB],
}

/// A tile's values, [batch row][panel][lane], 64-byte aligned: the kernels store whole
/// vectors here, and a store that straddles two cache lines, read back at once, stalls
/// (misaligned, the same binary ran the int8 products 1.7x slower or not depending on
/// where its stack began).
#[repr(C, align(64))]
pub(super) struct Tile<T>(pub [[[T; PANEL]; TP]; TB]);

impl<T: Copy + Default> Tile<T> {
    fn new() -> Self {
        Tile([[[T::default(); PANEL]; TP]; TB])
    }
}

/// Finished values (int8: corrected and scaled).
type TileOut = Tile<f32>;

/// A kernel for one tile: writes `out`'s first nn x np vectors.
///
/// # Safety
/// The CPU has its instructions; the job's pointers cover what it describes.
type TileFn = unsafe fn(&Job, &mut TileOut);

/// int8 results from integer sums: s_b s_r (sum - 128 sum_r), in that order of operations
/// (the AVX-512 tile computes the same in vectors).
///
/// # Safety
/// `job.sums` and `job.wscale` cover `job.np` panels.
#[inline(always)]
unsafe fn finish_i8(job: &Job, sums: &Tile<i32>, out: &mut TileOut) {
    for j in 0..job.nn {
        for p in 0..job.np {
            for i in 0..PANEL {
                let r = p * PANEL + i;
                let corr = sums.0[j][p][i] - 128 * *job.sums.add(r);
                out.0[j][p][i] = corr as f32 * (job.xscale[j] * *job.wscale.add(r));
            }
        }
    }
}

#[cfg(test)]
mod tests;
