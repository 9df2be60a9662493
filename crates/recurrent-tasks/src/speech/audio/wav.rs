//! WAV files in: RIFF chunks walked one by one (never a fixed 44-byte header), integer PCM of
//! 8, 16, 24 and 32 bits or 32-bit float, any number of channels (mixed down to mono by the
//! mean), any sample rate.
//!
//! The chunk walk here checks what a decoder would otherwise trip on (not RIFF/WAVE, a file
//! cut short, a chunk whose size runs past the end, a `fmt ` chunk too small, zero channels,
//! a zero rate, a block alignment that does not fit the sample width, an unknown format
//! tag), so that every such file gets one clear error naming it and the byte where it goes
//! wrong. The samples are then decoded here from the checked `data` chunk: hound (used for
//! writing) loses its place after an odd-sized chunk's pad byte, which real files have.

use super::resample::{resample, MAX_SAMPLE};
use recurrent::error::{Error, Result};
use std::path::Path;

/// Mono audio: samples in [-1, 1] (float files as stored), and their rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// What the `fmt ` chunk says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavFormat {
    /// 1 integer PCM, 3 IEEE float (WAVE_FORMAT_EXTENSIBLE resolved to its sub-format).
    pub format_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits_per_sample: u16,
    pub block_align: u16,
    /// Byte offset and length of the `data` chunk's samples.
    pub data_offset: usize,
    pub data_len: usize,
}

/// The highest sample rate read (studio audio goes to 384 kHz; more is a broken header).
pub const MAX_RATE: u32 = 384_000;

/// The lowest sample rate read: below it a header is broken (telephone speech is 8 kHz),
/// and resampling from it would multiply the samples by up to the rate ratio (a 1 Hz
/// header once made an 8.6 KB file 4 GB of audio).
pub const MIN_RATE: u32 = 1_000;

const PCM: u16 = 1;
const FLOAT: u16 = 3;
const EXTENSIBLE: u16 = 0xFFFE;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Walks the RIFF chunks of `bytes` (named `name` in errors) and checks the format.
pub fn parse_header(bytes: &[u8], name: &Path) -> Result<WavFormat> {
    let err = |m: String| Error::format(name, m);
    if bytes.len() < 12 {
        if bytes.starts_with(b"RIFF") || b"RIFF".starts_with(bytes) && !bytes.is_empty() {
            return Err(err(format!(
                "cut short: {} bytes, a WAV header needs at least 12",
                bytes.len()
            )));
        }
        return Err(err(format!(
            "not a WAV file ({} bytes, no RIFF header)",
            bytes.len()
        )));
    }
    if &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        let what = if &bytes[0..4] == b"RIFX" {
            "a big-endian RIFX file, which is not supported"
        } else if &bytes[0..4] == b"RF64" {
            "an RF64 file, which is not supported"
        } else {
            "not a WAV file (no RIFF/WAVE header)"
        };
        return Err(err(what.to_string()));
    }
    let riff_end = 8usize.saturating_add(le32(bytes, 4) as usize);
    if riff_end > bytes.len() {
        return Err(err(format!(
            "cut short: the RIFF header promises {} bytes, the file has {}",
            riff_end,
            bytes.len()
        )));
    }
    let mut fmt: Option<(u16, u16, u32, u16, u16)> = None;
    let mut pos = 12usize;
    while pos + 8 <= riff_end {
        let id = &bytes[pos..pos + 4];
        let size = le32(bytes, pos + 4) as usize;
        let body = pos + 8;
        let end = body.saturating_add(size);
        let shown = String::from_utf8_lossy(id).into_owned();
        if end > riff_end {
            return Err(err(format!(
                "chunk `{shown}` at byte {pos} claims {size} bytes, but only {} remain{}",
                riff_end - body,
                if id == b"data" {
                    " (the file is cut short)"
                } else {
                    ""
                }
            )));
        }
        match id {
            b"fmt " => {
                if size < 16 {
                    return Err(err(format!(
                        "chunk `fmt ` at byte {pos} has {size} bytes; it needs at least 16"
                    )));
                }
                let mut tag = le16(bytes, body);
                let channels = le16(bytes, body + 2);
                let rate = le32(bytes, body + 4);
                let align = le16(bytes, body + 12);
                let bits = le16(bytes, body + 14);
                if tag == EXTENSIBLE {
                    if size < 40 {
                        return Err(err(format!(
                            "chunk `fmt ` at byte {pos}: WAVE_FORMAT_EXTENSIBLE needs 40 bytes, it has {size}"
                        )));
                    }
                    // The sub-format GUID starts with the format tag.
                    tag = le16(bytes, body + 24);
                }
                fmt = Some((tag, channels, rate, align, bits));
            }
            b"data" => {
                let Some((tag, channels, rate, align, bits)) = fmt else {
                    return Err(err(format!(
                        "chunk `data` at byte {pos} comes before any `fmt ` chunk"
                    )));
                };
                return check_format(name, tag, channels, rate, align, bits, body, size);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = end + (size & 1);
    }
    Err(err(match fmt {
        None => "no `fmt ` chunk: cut short, or not audio".to_string(),
        Some(_) => "no `data` chunk: cut short, or a WAV without samples".to_string(),
    }))
}

#[allow(clippy::too_many_arguments)]
fn check_format(
    name: &Path,
    tag: u16,
    channels: u16,
    rate: u32,
    align: u16,
    bits: u16,
    data_offset: usize,
    data_len: usize,
) -> Result<WavFormat> {
    let err = |m: String| Err(Error::format(name, m));
    if channels == 0 {
        return err("the `fmt ` chunk says 0 channels".into());
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return err(format!(
            "the `fmt ` chunk says a sample rate of {rate} Hz ({MIN_RATE} to {MAX_RATE} Hz are read): \
             the header is damaged, or the audio needs converting first"
        ));
    }
    match (tag, bits) {
        (PCM, 8 | 16 | 24 | 32) | (FLOAT, 32) => {}
        (PCM, b) => {
            return err(format!(
                "{b}-bit integer PCM is not supported (8, 16, 24 or 32 bits)"
            ))
        }
        (FLOAT, b) => {
            return err(format!(
                "{b}-bit float is not supported (32-bit float only)"
            ))
        }
        (t, _) => {
            return err(format!(
            "unknown sample format tag {t:#06x}: only integer PCM (1) and IEEE float (3) are read"
        ))
        }
    }
    let bytes_per = (bits as usize).div_ceil(8);
    if align as usize != bytes_per * channels as usize {
        return err(format!(
            "block alignment {align} does not fit {channels} channel(s) of {bits}-bit samples ({} expected)",
            bytes_per * channels as usize
        ));
    }
    Ok(WavFormat {
        format_tag: tag,
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        block_align: align,
        data_offset,
        data_len,
    })
}

/// Reads a WAV file into mono samples at its own rate.
pub fn read_wav(path: &Path) -> Result<Audio> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_wav_bytes(&bytes, path)
}

/// Decodes the bytes of a WAV file (`name` is used in errors). A trailing partial frame
/// (a data chunk whose size is not a whole number of frames) is dropped.
pub fn read_wav_bytes(bytes: &[u8], name: &Path) -> Result<Audio> {
    let f = parse_header(bytes, name)?;
    let data = &bytes[f.data_offset..f.data_offset + f.data_len];
    let ch = f.channels as usize;
    let width = f.bits_per_sample as usize / 8;
    let inv_ch = 1.0 / ch as f64;
    let scale = 1.0 / (1u64 << (f.bits_per_sample - 1)) as f64;
    let sample = |b: &[u8]| -> f64 {
        match (f.format_tag, width) {
            (FLOAT, _) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            // 8-bit WAV is unsigned, offset by 128.
            (_, 1) => (b[0] as f64 - 128.0) * scale,
            (_, 2) => i16::from_le_bytes([b[0], b[1]]) as f64 * scale,
            (_, 3) => (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f64 * scale,
            _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64 * scale,
        }
    };
    let mono: Vec<f32> = data
        .chunks_exact(f.block_align as usize)
        .map(|frame| {
            let sum: f64 = frame.chunks_exact(width).map(sample).sum();
            (sum * inv_ch) as f32
        })
        .collect();
    if let Some(i) = mono.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(
            name,
            format!("sample frame {i} is NaN or infinite"),
        ));
    }
    // Float samples live in [-1, 1] (some tools write them at integer scale, up to 2^31);
    // far beyond that the FFTs of resampling and features overflow to inf and NaN (a fuzzed
    // file with -1.7e38 made the resampler panic), so such a file is refused here.
    if let Some(i) = mono.iter().position(|v| v.abs() > MAX_SAMPLE) {
        return Err(Error::format(
            name,
            format!(
                "sample frame {i} is {:e}: float samples should lie in [-1, 1] (at most {MAX_SAMPLE:e} is read)",
                mono[i]
            ),
        ));
    }
    Ok(Audio {
        samples: mono,
        sample_rate: f.sample_rate,
    })
}

/// Reads a WAV file and resamples it to `rate` (no work when it is already at `rate`).
pub fn read_wav_at(path: &Path, rate: u32) -> Result<Vec<f32>> {
    let a = read_wav(path)?;
    if a.samples.is_empty() {
        return Err(Error::format(
            path,
            "the file holds no samples: there is nothing to hear; record it again",
        ));
    }
    resample(&a.samples, a.sample_rate, rate)
        .map_err(|e| Error::format(path, format!("resampling: {e}")))
}

/// Writes mono 16-bit PCM (tests, the connected-digit utterances, examples).
pub fn write_wav16(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let e = |x: hound::Error| Error::format(path, x.to_string());
    let mut w = hound::WavWriter::create(path, spec).map_err(e)?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(e)?;
    }
    w.finalize().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A float WAV (format 3, mono, 8 kHz) holding `samples`.
    fn float_wav(samples: &[f32]) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&32000u32.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&32u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&data);
        b
    }

    /// Found by fuzzing: a float sample of -1.7e38 overflowed the resampler's FFT to NaN and
    /// rubato panicked on it. Such a file is refused, naming the frame; the resampler also
    /// refuses such input on its own.
    #[test]
    fn huge_float_samples_are_refused() {
        let p = Path::new("loud.wav");
        let e = read_wav_bytes(&float_wav(&[0.1, 0.5, -1.7e38, 0.0]), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("loud.wav") && e.contains("frame 2"), "{e}");
        assert!(read_wav_bytes(&float_wav(&[0.1, -0.5, 3.0e4]), p).is_ok());
        let e = super::super::resample::resample(&[0.0, 1e30, 0.0], 8000, 16000).unwrap_err();
        assert!(e.contains("sample 1"), "{e}");
        let e = super::super::resample::resample(&[f32::NAN; 4], 8000, 16000).unwrap_err();
        assert!(e.contains("sample 0"), "{e}");
    }

    #[test]
    fn header_checks_name_the_problem() {
        let p = Path::new("x.wav");
        let e = parse_header(b"hello world, not audio", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.wav") && e.contains("not a WAV"), "{e}");
        let e = parse_header(b"RIFF", p).unwrap_err().to_string();
        assert!(e.contains("cut short"), "{e}");
    }
}
