//! The safetensors byte format, read defensively and written canonically.
//!
//! Layout of a file (all integers little-endian):
//!
//! ```text
//! [0, 8)          N: u64, the header's length in bytes
//! [8, 8 + N)      header: a UTF-8 JSON object
//!                   {"__metadata__": {"key": "value", ...},            (optional)
//!                    "name": {"dtype": "F32", "shape": [d0, d1, ...],
//!                             "data_offsets": [begin, end]}, ...}
//! [8 + N, len)    data section; a tensor's bytes are data[begin..end], row-major
//! ```
//!
//! Reading trusts nothing in the file. Every declared size is checked against the bytes that
//! are really there before anything is allocated from it, so the largest allocation is the
//! file's own length, whatever the header claims. The checks, in order:
//! 1. the file holds the 8-byte length, and `N <= MAX_HEADER_BYTES` and `8 + N <= len`;
//! 2. the header is UTF-8 and one JSON object with no repeated key, at top level, in
//!    `__metadata__` or inside a tensor entry (serde_json keeps the last of two equal keys
//!    silently, so they are caught while parsing); nesting is bounded by serde_json's
//!    recursion limit (128) and by our typed entries, which accept no nested values at all;
//! 3. per tensor: a supported dtype; a shape whose element count, and byte count, fit in
//!    64 bits (`checked_mul`, so no overflow wraps into a small plausible number);
//!    `begin <= end <= data length`; `end - begin == elements * dtype size`;
//! 4. together: the byte ranges tile the data section exactly, with no overlap, no gap and
//!    nothing after the last tensor (the rule of the `safetensors` crate, so what we accept
//!    PyTorch accepts too).

use super::{Checkpoint, Dtype, StoredTensor};
use crate::error::{Error, Result};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest header accepted: the limit the `safetensors` crate sets (100 MB). It bounds
/// the memory parsing can take, whatever the file claims.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The header key that holds the string-to-string metadata.
const METADATA_KEY: &str = "__metadata__";

/// What every format error ends with: the way out for the user.
const WHAT_TO_DO: &str =
    "the file is truncated, corrupt or not a safetensors checkpoint; use another copy \
     (a run directory keeps the latest and the best checkpoint) or re-export it";

/// One tensor entry of the header, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The header, keys in file order, with repeated keys already refused.
struct RawHeader {
    entries: Vec<(String, RawEntry)>,
    metadata: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RawHeader;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawHeader, A::Error> {
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        let mut metadata = None;
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "the key `{key}` appears twice in the header (a JSON parser would keep \
                     only the last silently)"
                )));
            }
            if key == METADATA_KEY {
                let m: UniqueStringMap = map.next_value()?;
                metadata = Some(m.0);
            } else {
                let entry: RawEntry = map
                    .next_value()
                    .map_err(|e| de::Error::custom(format!("tensor `{key}`: {e}")))?;
                entries.push((key, entry));
            }
        }
        Ok(RawHeader {
            entries,
            metadata: metadata.unwrap_or_default(),
        })
    }
}

/// `__metadata__`: string keys to string values, each key once.
struct UniqueStringMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UniqueStringMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueStringMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`__metadata__` as an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<UniqueStringMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value().map_err(|e| {
                        de::Error::custom(format!("`__metadata__` key `{key}`: {e}"))
                    })?;
                    if out.insert(key.clone(), value).is_some() {
                        return Err(de::Error::custom(format!(
                            "`__metadata__` key `{key}` appears twice"
                        )));
                    }
                }
                Ok(UniqueStringMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A header entry that passed every check: where its bytes are and what they mean.
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

/// Reads the 8-byte header length and checks it against the file's length.
/// Returns `N`, the header's length, and the data section's length, both known to fit in
/// the file.
fn header_len(prefix: &[u8], file_len: u64, path: &Path) -> Result<(u64, u64)> {
    let Some(first8) = prefix.get(..8) else {
        return Err(Error::format(
            path,
            format!(
                "the file is {file_len} bytes, shorter than the 8-byte length that starts every \
                 safetensors file; {WHAT_TO_DO}"
            ),
        ));
    };
    let mut b = [0u8; 8];
    b.copy_from_slice(first8);
    let n = u64::from_le_bytes(b);
    if n > MAX_HEADER_BYTES {
        return Err(Error::format(
            path,
            format!(
                "the header claims {n} bytes, more than the {MAX_HEADER_BYTES}-byte limit; \
                 {WHAT_TO_DO}"
            ),
        ));
    }
    let room = file_len.saturating_sub(8);
    if n > room {
        return Err(Error::format(
            path,
            format!("the header claims {n} bytes but only {room} follow the length; {WHAT_TO_DO}"),
        ));
    }
    Ok((n, room - n))
}

/// Parses and validates the header against a data section of `data_len` bytes.
fn parse_header(
    header: &[u8],
    data_len: u64,
    path: &Path,
) -> Result<(Vec<Entry>, BTreeMap<String, String>)> {
    let text = std::str::from_utf8(header)
        .map_err(|e| Error::format(path, format!("the header is not UTF-8 ({e}); {WHAT_TO_DO}")))?;
    let raw: RawHeader = serde_json::from_str(text).map_err(|e| {
        Error::format(
            path,
            format!("the header is not a valid safetensors JSON header: {e}; {WHAT_TO_DO}"),
        )
    })?;
    let mut entries = Vec::with_capacity(raw.entries.len());
    for (name, e) in raw.entries {
        entries.push(check_entry(name, e, data_len, path)?);
    }
    check_tiling(&mut entries, data_len, path)?;
    Ok((entries, raw.metadata))
}

/// Checks one entry on its own: dtype, shape arithmetic, byte range.
fn check_entry(name: String, e: RawEntry, data_len: u64, path: &Path) -> Result<Entry> {
    let bad = |msg: String| Error::format(path, format!("tensor `{name}`: {msg}"));
    let dtype = Dtype::parse(&e.dtype).ok_or_else(|| {
        bad(format!(
            "dtype `{}` is not supported (supported: F32, F64, I64, BF16, I8); convert the tensor to \
             float32 or float64 before saving it (in PyTorch: `.float()`)",
            e.dtype
        ))
    })?;
    // Product of max(d, 1): a zero dimension empties the tensor, but code that multiplies
    // the other dimensions (strides, sub-shapes) must not overflow either.
    let mut elements: u64 = 1;
    let mut any_zero = false;
    for &d in &e.shape {
        any_zero |= d == 0;
        elements = elements.checked_mul(d.max(1)).ok_or_else(|| {
            bad(format!(
                "shape {:?} has more elements than fit in 64 bits; {WHAT_TO_DO}",
                e.shape
            ))
        })?;
    }
    if any_zero {
        elements = 0;
    }
    let bytes = elements.checked_mul(dtype.size() as u64).ok_or_else(|| {
        bad(format!(
            "shape {:?} of {dtype} needs more bytes than fit in 64 bits; {WHAT_TO_DO}",
            e.shape
        ))
    })?;
    let [begin, end] = e.data_offsets;
    if begin > end {
        return Err(bad(format!(
            "data_offsets [{begin}, {end}] end before they begin; {WHAT_TO_DO}"
        )));
    }
    if end > data_len {
        return Err(bad(format!(
            "data_offsets [{begin}, {end}] run past the end of the data section \
             ({data_len} bytes); {WHAT_TO_DO}"
        )));
    }
    if end - begin != bytes {
        return Err(bad(format!(
            "shape {:?} of {dtype} needs {bytes} bytes but data_offsets [{begin}, {end}] hold \
             {}; {WHAT_TO_DO}",
            e.shape,
            end - begin
        )));
    }
    // Everything below is bounded by data_len, itself no larger than the bytes at hand.
    let to_usize = |v: u64| {
        usize::try_from(v).map_err(|_| bad(format!("{v} does not fit this machine's usize")))
    };
    let shape = e
        .shape
        .iter()
        .map(|&d| to_usize(d))
        .collect::<Result<Vec<_>>>()?;
    Ok(Entry {
        begin: to_usize(begin)?,
        end: to_usize(end)?,
        name,
        dtype,
        shape,
    })
}

/// Checks that the byte ranges tile `[0, data_len)`: no overlap, no gap, no trailing bytes.
fn check_tiling(entries: &mut [Entry], data_len: u64, path: &Path) -> Result<()> {
    entries.sort_by_key(|e| (e.begin, e.end));
    let mut pos = 0usize;
    let mut prev: Option<&Entry> = None;
    for e in entries.iter() {
        if e.begin < pos {
            let other = prev.map(|p| p.name.as_str()).unwrap_or("?");
            return Err(Error::format(
                path,
                format!(
                    "tensor `{}`: data_offsets [{}, {}] overlap those of tensor `{other}`, which \
                     end at {pos}; {WHAT_TO_DO}",
                    e.name, e.begin, e.end
                ),
            ));
        }
        if e.begin > pos {
            return Err(Error::format(
                path,
                format!(
                    "tensor `{}`: data_offsets begin at {} but the previous tensor ends at \
                     {pos}, leaving bytes that belong to no tensor; {WHAT_TO_DO}",
                    e.name, e.begin
                ),
            ));
        }
        pos = e.end;
        prev = Some(e);
    }
    if pos as u64 != data_len {
        return Err(Error::format(
            path,
            format!(
                "the data section is {data_len} bytes but the tensors cover only {pos}; \
                 {WHAT_TO_DO}"
            ),
        ));
    }
    Ok(())
}

/// Builds the checkpoint from validated entries and the data section they tile.
fn assemble(
    entries: Vec<Entry>,
    metadata: BTreeMap<String, String>,
    data: &[u8],
    path: &Path,
) -> Result<Checkpoint> {
    let mut tensors = BTreeMap::new();
    for e in entries {
        let bytes = data.get(e.begin..e.end).ok_or_else(|| {
            Error::format(
                path,
                format!("tensor `{}`: byte range outside the data", e.name),
            )
        })?;
        let t = StoredTensor::from_raw(e.dtype, e.shape, bytes.to_vec())
            .map_err(|err| Error::format(path, format!("tensor `{}`: {err}", e.name)))?;
        tensors.insert(e.name, t);
    }
    super::quantized::widen(&mut tensors, path)?;
    Ok(Checkpoint {
        tensors,
        metadata,
        source: path.to_path_buf(),
    })
}

/// Parses a whole safetensors file held in memory. `name` stands for the file in errors.
///
/// Never panics and never allocates more than a small multiple of `bytes.len()`, whatever
/// the bytes say (see the module docs for the checks).
pub fn read_bytes(bytes: &[u8], name: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = name.as_ref();
    let (n, _) = header_len(bytes, bytes.len() as u64, path)?;
    // header_len proved 8 + n <= bytes.len().
    let (header, data) = bytes[8..].split_at(n as usize);
    let (entries, metadata) = parse_header(header, data.len() as u64, path)?;
    assemble(entries, metadata, data, path)
}

/// Reads a safetensors checkpoint file, validating it completely (see [`read_bytes`]).
///
/// The header is read and checked before the data, so a file with an absurd header costs
/// at most its header's length in memory, and a file with a valid header at most its own
/// length.
pub fn read(path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    let (mut file, entries, metadata, data_len) = open_checked(path)?;
    let data_len = usize::try_from(data_len).map_err(|_| {
        Error::format(
            path,
            "the data section is larger than this machine can address",
        )
    })?;
    let mut data = vec![0u8; data_len];
    read_exactly(&mut file, &mut data, path)?;
    assemble(entries, metadata, &data, path)
}

/// The `__metadata__` of a checkpoint, reading and checking only its header.
pub fn read_metadata(path: impl AsRef<Path>) -> Result<BTreeMap<String, String>> {
    Ok(open_checked(path.as_ref())?.2)
}

/// A file positioned at its data, its entries, metadata and data length.
type Opened = (std::fs::File, Vec<Entry>, BTreeMap<String, String>, u64);

/// Opens `path` and reads and checks its header: the file positioned at the data, the
/// entries, the metadata and the data section's length.
fn open_checked(path: &Path) -> Result<Opened> {
    // Asked before opening: opening a FIFO for reading would wait for a writer forever.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::format(
            path,
            "not a regular file; give the path of a .safetensors checkpoint",
        ));
    }
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut prefix = Vec::with_capacity(8);
    (&mut file)
        .take(8)
        .read_to_end(&mut prefix)
        .map_err(|e| Error::io(path, e))?;
    let (n, data_len) = header_len(&prefix, file_len, path)?;
    let mut header = vec![0u8; n as usize];
    read_exactly(&mut file, &mut header, path)?;
    let (entries, metadata) = parse_header(&header, data_len, path)?;
    Ok((file, entries, metadata, data_len))
}

/// `read_exact`, with a file that shrank under us reported as such.
fn read_exactly(file: &mut std::fs::File, buf: &mut [u8], path: &Path) -> Result<()> {
    file.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::format(
                path,
                "the file got shorter while it was read (is another process writing it?)",
            )
        } else {
            Error::io(path, e)
        }
    })
}

/// A tensor about to be written: what the header says about it, and its bytes on demand.
pub(crate) trait TensorSource {
    fn dtype(&self) -> Dtype;
    fn shape(&self) -> &[usize];
    /// The little-endian bytes, `elements * dtype size` of them.
    fn write_bytes(&self, out: &mut dyn Write) -> std::io::Result<()>;
}

impl TensorSource for StoredTensor {
    fn dtype(&self) -> Dtype {
        StoredTensor::dtype(self)
    }
    fn shape(&self) -> &[usize] {
        StoredTensor::shape(self)
    }
    fn write_bytes(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(self.bytes())
    }
}

impl<F: crate::Float> TensorSource for crate::Tensor<F> {
    fn dtype(&self) -> Dtype {
        Dtype::of::<F>()
    }
    fn shape(&self) -> &[usize] {
        crate::Tensor::shape(self)
    }
    fn write_bytes(&self, out: &mut dyn Write) -> std::io::Result<()> {
        // Converted in slices of a fixed buffer: no copy of the whole tensor.
        let mut buf = Vec::with_capacity(8192);
        for chunk in self.data().chunks(1024) {
            buf.clear();
            chunk.iter().for_each(|v| v.put_le(&mut buf));
            out.write_all(&buf)?;
        }
        Ok(())
    }
}

/// The serialized header (length prefix included) for tensors sorted by name, and their
/// order. Refuses repeated or reserved names; `dest` names the file in errors.
pub(crate) fn encode_header(
    tensors: &mut [(&str, &dyn TensorSource)],
    metadata: &BTreeMap<String, String>,
    dest: &Path,
) -> Result<Vec<u8>> {
    // Bytewise order of names: the safetensors convention, and the order of the weights hash.
    tensors.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for pair in tensors.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(Error::tensor(
                pair[0].0,
                format!("given twice for {}", dest.display()),
            ));
        }
    }
    let json = |s: &str| serde_json::to_string(s).map_err(|e| Error::format(dest, e.to_string()));
    let mut h = String::from("{");
    if !metadata.is_empty() {
        h.push_str(&json(METADATA_KEY)?);
        h.push_str(":{");
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                h.push(',');
            }
            h.push_str(&json(k)?);
            h.push(':');
            h.push_str(&json(v)?);
        }
        h.push('}');
    }
    let mut offset: u64 = 0;
    for (i, (name, t)) in tensors.iter().enumerate() {
        if *name == METADATA_KEY {
            return Err(Error::tensor(
                *name,
                "this name is reserved for the metadata in safetensors",
            ));
        }
        let elements: usize = t.shape().iter().product();
        let len = (elements * t.dtype().size()) as u64;
        if i > 0 || !metadata.is_empty() {
            h.push(',');
        }
        h.push_str(&json(name)?);
        let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
        h.push_str(&format!(
            ":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            t.dtype(),
            dims.join(","),
            offset,
            offset + len
        ));
        offset += len;
    }
    h.push('}');
    // Spaces up to a multiple of 8, so the data section starts aligned (as safetensors does).
    while (8 + h.len()) % 8 != 0 {
        h.push(' ');
    }
    let mut out = Vec::with_capacity(8 + h.len());
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    Ok(out)
}

/// The bytes of the file [`super::write_checkpoint`] would write for `ckpt`, in memory (for
/// tests and fuzzing; writing a file streams instead).
pub fn to_bytes(ckpt: &Checkpoint) -> Result<Vec<u8>> {
    let mut list: Vec<(&str, &dyn TensorSource)> = ckpt
        .tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t as &dyn TensorSource))
        .collect();
    let dest = PathBuf::from("<memory>");
    let mut out = encode_header(&mut list, &ckpt.metadata, &dest)?;
    for (_, t) in &list {
        t.write_bytes(&mut out).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(out)
}
