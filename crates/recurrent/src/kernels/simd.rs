//! Run-time choice of the instruction set for the hot loops.
//!
//! The build targets plain x86-64 (SSE2) so that one binary runs on every machine; the
//! kernels that matter are compiled a second and third time with AVX2+FMA and AVX-512
//! enabled ([`multiversion!`](crate::multiversion)) and the best one the CPU offers is
//! picked when called. Never `target-cpu=native`: what users and CI build must run on any
//! x86-64.
//!
//! The element-wise kernels use only IEEE add, multiply, divide, compare and select, which
//! every vector width computes identically: their results are bit-identical whichever level
//! runs them. [`set_level`] forces a lower level (tests and benchmarks compare the paths).

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set level, from the portable baseline up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The build's baseline (SSE2 on x86-64; whatever the target has elsewhere).
    Base = 1,
    /// AVX2 with FMA (Intel Haswell, AMD Zen and later).
    Avx2 = 2,
    /// AVX-512 F/VL/BW/DQ with AVX2 and FMA (Intel Skylake-SP, AMD Zen 4 and later).
    Avx512 = 3,
}

impl Level {
    /// The name `RECURRENT_ISA` and the benchmarks use.
    pub fn name(self) -> &'static str {
        match self {
            Level::Base => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }
}

/// Reads `RECURRENT_ISA` (avx512, avx2, portable) once at start and caps every kernel at it,
/// so one machine can measure each dispatch path. Returns the level the kernels will use;
/// an unknown name, or a level this CPU lacks, is an error that says what exists.
pub fn apply_env() -> Result<Level, String> {
    let want = match std::env::var("RECURRENT_ISA") {
        Ok(w) if !w.is_empty() => w,
        _ => return Ok(level()),
    };
    let l = match want.as_str() {
        "avx512" => Level::Avx512,
        "avx2" => Level::Avx2,
        "portable" => Level::Base,
        o => return Err(format!("RECURRENT_ISA={o}: use avx512, avx2 or portable")),
    };
    if l > detected() {
        return Err(format!(
            "RECURRENT_ISA={want}: this CPU does not have it (its widest is {})",
            detected().name()
        ));
    }
    set_level(Some(l));
    Ok(level())
}

/// 0: not detected yet; else the detected level's value.
static DETECTED: AtomicU8 = AtomicU8::new(0);
/// The highest level allowed (set_level), as its value; 0 = no cap.
static CAP: AtomicU8 = AtomicU8::new(0);

fn from_u8(v: u8) -> Level {
    match v {
        3 => Level::Avx512,
        2 => Level::Avx2,
        _ => Level::Base,
    }
}

/// The best level this CPU supports.
pub fn detected() -> Level {
    let v = DETECTED.load(Ordering::Relaxed);
    if v != 0 {
        return from_u8(v);
    }
    let l = detect();
    DETECTED.store(l as u8, Ordering::Relaxed);
    l
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::env::var_os("RECURRENT_NO_SIMD").is_some() {
        return Level::Base;
    }
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512dq");
    if avx512 {
        Level::Avx512
    } else if avx2 {
        Level::Avx2
    } else {
        Level::Base
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Base
}

/// The level the kernels use now: the detected one, capped by [`set_level`].
#[inline]
pub fn level() -> Level {
    let d = detected();
    match CAP.load(Ordering::Relaxed) {
        0 => d,
        c => d.min(from_u8(c)),
    }
}

/// Caps the level the kernels use (`None`: the best the CPU has). For tests and
/// benchmarks that compare the paths; a level the CPU lacks is never used.
pub fn set_level(cap: Option<Level>) {
    CAP.store(cap.map_or(0, |l| l as u8), Ordering::Relaxed);
}

/// Every level this CPU can run, lowest first.
pub fn available() -> Vec<Level> {
    [Level::Base, Level::Avx2, Level::Avx512]
        .into_iter()
        .filter(|&l| l <= detected())
        .collect()
}

/// Defines a function generic over `F: Float` whose body is compiled for the baseline, for
/// AVX2+FMA and for AVX-512, and dispatched at run time by [`level`]. The body must be
/// plain code over slices (no intrinsics): the compiler vectorises it at each width.
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident<F: Float>($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name<F: Float>($($arg: $ty),*) {
            #[inline(always)]
            fn inner<F: Float>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                unsafe fn v512<F: Float>($($arg: $ty),*) {
                    inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v256<F: Float>($($arg: $ty),*) {
                    inner($($arg),*)
                }
                match $crate::kernels::simd::level() {
                    // SAFETY: level() only reports what is_x86_feature_detected! found.
                    $crate::kernels::simd::Level::Avx512 => return unsafe { v512($($arg),*) },
                    $crate::kernels::simd::Level::Avx2 => return unsafe { v256($($arg),*) },
                    $crate::kernels::simd::Level::Base => {}
                }
            }
            inner($($arg),*)
        }
    };
}
