//! Checkpoints: safetensors round trips, hostile files, atomic writes, loading into models,
//! the weights hash, PyTorch char-LM import/export and the run-directory lock.
//!
//! Hostile files are built byte by byte here (see `hostile_cases`), and the committed corpus
//! `tests/fixtures/hostile/` (these cases plus whatever fuzzing adds) is fed to `read`. A
//! counting allocator checks that no hostile file makes the reader allocate more than a small
//! multiple of the file's own size. Tests that need another process (file-size limit, lock
//! held by a live or killed process) re-run this test binary on one of the `#[ignore]`d
//! `child_*` functions.

use recurrent::checkpoint::{
    self, export_pytorch_lm, import_pytorch_lm, load_into, load_into_with, model_sha256, read,
    read_bytes, remove_stale_temp_files, save_model, to_bytes, weights_sha256, Checkpoint, Dtype,
    LoadOptions, RunLock, StoredTensor,
};
use recurrent::init::Init;
use recurrent::{CellKind, Module, Param, Rng, Rnn, RnnConfig, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

// ---------------------------------------------------------------------------------------
// Allocation tracking: the largest single allocation made by the current thread.

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new);
        System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|m| m.set(0));
    let out = f();
    (out, LARGEST.with(|m| m.get()))
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("checkpoint-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file from a header string and a data section.
fn st(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

/// A valid two-tensor file: `a` F32 [2] = (1, 2), `b` F64 [1] = (3).
fn valid_file() -> Vec<u8> {
    let mut data = Vec::new();
    data.extend_from_slice(&1f32.to_le_bytes());
    data.extend_from_slice(&2f32.to_le_bytes());
    data.extend_from_slice(&3f64.to_le_bytes());
    st(
        r#"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#,
        &data,
    )
}

fn tensor<F: recurrent::Float>(shape: &[usize], seed: u64) -> Tensor<F> {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| F::of(rng.normal())).collect()).unwrap()
}

/// A model with arbitrary parameter names, for prefixed (whole-model) names.
struct Named<F>(Vec<Param<F>>);

impl<F: recurrent::Float> Module<F> for Named<F> {
    fn visit(&self, f: &mut dyn FnMut(&Param<F>)) {
        self.0.iter().for_each(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param<F>)) {
        self.0.iter_mut().for_each(f)
    }
}

fn named<F: recurrent::Float>(params: &[(&str, &[usize])], seed: u64) -> Named<F> {
    Named(
        params
            .iter()
            .enumerate()
            .map(|(i, (n, s))| Param::new(*n, tensor(s, seed + i as u64)))
            .collect(),
    )
}

fn lstm<F: recurrent::Float>(seed: u64) -> Rnn<F> {
    let cfg = RnnConfig::new(CellKind::Lstm, 4, 8).layers(2);
    Rnn::new(cfg, &Init::pytorch(), &mut Rng::new(seed)).unwrap()
}

fn values<F: recurrent::Float, M: Module<F>>(m: &M) -> Vec<(String, Tensor<F>)> {
    let mut v = Vec::new();
    m.visit(&mut |p| v.push((p.name.clone(), p.value.clone())));
    v
}

fn err_text<T: std::fmt::Debug>(r: recurrent::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

// ---------------------------------------------------------------------------------------
// Round trips.

#[test]
fn round_trip_f32_f64_i64_with_metadata() {
    let dir = scratch("round-trip");
    let path = dir.join("c.safetensors");
    let mut ckpt = Checkpoint::new();
    let a32 = tensor::<f32>(&[3, 5], 1);
    let b64 = tensor::<f64>(&[2, 2, 2], 2);
    ckpt.insert("z.last", &a32);
    ckpt.insert("a.first", &b64);
    ckpt.insert("scalar", &Tensor::<f64>::from_vec(&[], vec![7.5]).unwrap());
    ckpt.insert("empty", &Tensor::<f32>::zeros(&[0, 4]));
    ckpt.tensors.insert(
        "train_state.step".into(),
        StoredTensor::from_i64(&[2], &[i64::MIN, 42]).unwrap(),
    );
    ckpt.metadata
        .insert("vocab".into(), "[\"é\", \"\\n\"]".into());
    ckpt.metadata.insert("note".into(), String::new());
    ckpt.write(&path).unwrap();

    let back = read(&path).unwrap();
    assert_eq!(back.tensors, ckpt.tensors);
    assert_eq!(back.metadata, ckpt.metadata);
    assert_eq!(back.source, path);
    assert_eq!(back.tensor::<f32>("z.last").unwrap(), a32);
    assert_eq!(back.tensor::<f64>("a.first").unwrap(), b64);
    // Widening is exact, narrowing rounds like `as`.
    assert_eq!(back.tensor::<f64>("z.last").unwrap(), a32.cast::<f64>());
    assert_eq!(back.tensor::<f32>("a.first").unwrap(), b64.cast::<f32>());
    assert_eq!(back.get("scalar").unwrap().shape(), &[] as &[usize]);
    assert_eq!(
        back.get("train_state.step").unwrap().to_i64().unwrap(),
        vec![i64::MIN, 42]
    );
    assert!(back
        .get("train_state.step")
        .unwrap()
        .to_tensor::<f32>()
        .is_err());
    assert!(back.get("a.first").unwrap().to_i64().is_err());
    assert!(err_text(back.get("nope")).contains("no tensor `nope`"));

    // Writing what was read gives the same bytes: the encoding is canonical.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(to_bytes(&back).unwrap(), bytes);
    // The data section starts 8-aligned, names are sorted, and the reference parser agrees.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + n) % 8, 0);
    let reference = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = reference.names().into_iter().map(String::from).collect();
    names.sort();
    assert_eq!(names, back.tensors.keys().cloned().collect::<Vec<_>>());
    let z = reference.tensor("z.last").unwrap();
    assert_eq!(z.dtype(), safetensors::Dtype::F32);
    assert_eq!(z.data(), back.get("z.last").unwrap().bytes());
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let pos = |s: &str| header.find(s).unwrap();
    assert!(pos("\"a.first\"") < pos("\"empty\"") && pos("\"scalar\"") < pos("\"z.last\""));
}

#[test]
fn write_typed_tensors_and_refuse_bad_names() {
    let dir = scratch("typed");
    let path = dir.join("t.safetensors");
    let (x, y) = (tensor::<f32>(&[2, 3], 3), tensor::<f32>(&[4], 4));
    checkpoint::write(
        &path,
        &[("y".to_string(), &y), ("x".to_string(), &x)],
        &BTreeMap::new(),
    )
    .unwrap();
    let back = read(&path).unwrap();
    assert_eq!(back.tensor::<f32>("x").unwrap(), x);
    assert_eq!(back.get("y").unwrap().dtype(), Dtype::F32);
    assert!(back.metadata.is_empty());

    let before = std::fs::read(&path).unwrap();
    let twice = checkpoint::write(
        &path,
        &[("x".to_string(), &x), ("x".to_string(), &y)],
        &BTreeMap::new(),
    );
    assert!(err_text(twice).contains("given twice"));
    let reserved = checkpoint::write(&path, &[("__metadata__".to_string(), &x)], &BTreeMap::new());
    assert!(err_text(reserved).contains("reserved"));
    // Refused before anything was written.
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn valid_edge_cases_are_accepted() {
    // No tensors at all.
    let c = read_bytes(&st("{}", &[]), "empty.safetensors").unwrap();
    assert!(c.tensors.is_empty() && c.metadata.is_empty());
    // Header padded with spaces, no metadata, zero-size tensors sharing an offset.
    let c = read_bytes(
        &st(
            r#"{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"f":{"dtype":"F64","shape":[0],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}    "#,
            &(-5i64).to_le_bytes(),
        ),
        "edge.safetensors",
    )
    .unwrap();
    assert_eq!(c.get("e").unwrap().shape(), &[0, 3]);
    assert!(c.get("f").unwrap().is_empty());
    assert_eq!(c.get("s").unwrap().to_i64().unwrap(), vec![-5]);
    // The reference file and what it says.
    let c = read_bytes(&valid_file(), "valid.safetensors").unwrap();
    assert_eq!(c.tensor::<f32>("a").unwrap().data(), &[1.0, 2.0]);
    assert_eq!(c.tensor::<f64>("b").unwrap().data(), &[3.0]);
    assert_eq!(c.metadata["k"], "v");
}

// ---------------------------------------------------------------------------------------
// Hostile files.

/// Bad files: (corpus file name, bytes, what the error must say).
fn hostile_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let f32x2 = [0u8; 8];
    let entry = |name: &str, dtype: &str, shape: &str, b: u64, e: u64| {
        format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{b},{e}]}}"#)
    };
    let one = |dtype: &str, shape: &str, b: u64, e: u64| {
        format!("{{{}}}", entry("t", dtype, shape, b, e))
    };
    let len_then = |n: u64, rest: &[u8]| {
        let mut v = n.to_le_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    };
    let valid = valid_file();
    let mut trailing = valid.clone();
    trailing.extend_from_slice(&[0, 0, 0, 0]);
    vec![
        ("empty.safetensors", vec![], "shorter than the 8-byte"),
        (
            "seven_bytes.safetensors",
            vec![2, 0, 0, 0, 0, 0, 0],
            "shorter than the 8-byte",
        ),
        (
            "header_len_u64_max.safetensors",
            len_then(u64::MAX, b"{}"),
            "more than the",
        ),
        (
            "header_len_over_cap.safetensors",
            len_then(100_000_001, b"{}"),
            "more than the",
        ),
        (
            "header_len_past_end.safetensors",
            len_then(50, b"{}        "),
            "only 10 follow",
        ),
        (
            "header_not_utf8.safetensors",
            len_then(3, &[0xff, 0xfe, b'{']),
            "not UTF-8",
        ),
        (
            "header_not_json.safetensors",
            st("hello", &[]),
            "not a valid safetensors JSON",
        ),
        (
            "header_json_array.safetensors",
            st("[1,2]", &[]),
            "not a valid safetensors JSON",
        ),
        (
            "header_json_string.safetensors",
            st("\"x\"", &[]),
            "not a valid safetensors JSON",
        ),
        (
            "header_nul.safetensors",
            st("{\0}", &[]),
            "not a valid safetensors JSON",
        ),
        (
            "header_empty.safetensors",
            st("", &[]),
            "not a valid safetensors JSON",
        ),
        (
            "header_unterminated.safetensors",
            st(r#"{"t":{"dtype":"F32""#, &[]),
            "not a valid",
        ),
        (
            "deep_nesting_entry.safetensors",
            st(&format!("{{\"t\":{}", "[".repeat(1000)), &[]),
            "not a valid",
        ),
        (
            "deep_nesting_metadata.safetensors",
            st(
                &format!("{{\"__metadata__\":{{\"k\":{}", "{\"a\":".repeat(300)),
                &[],
            ),
            "not a valid",
        ),
        (
            "deep_nesting_shape.safetensors",
            st(&format!("{{\"t\":{{\"shape\":{}", "[".repeat(1000)), &[]),
            "not a valid",
        ),
        (
            "duplicate_tensor_name.safetensors",
            st(
                &format!(
                    "{{{},{}}}",
                    entry("a", "F32", "[1]", 0, 4),
                    entry("a", "F32", "[1]", 4, 8)
                ),
                &f32x2,
            ),
            "`a` appears twice",
        ),
        (
            "duplicate_metadata_block.safetensors",
            st(
                r#"{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}}"#,
                &[],
            ),
            "`__metadata__` appears twice",
        ),
        (
            "duplicate_metadata_key.safetensors",
            st(r#"{"__metadata__":{"a":"1","a":"2"}}"#, &[]),
            "key `a` appears twice",
        ),
        (
            "duplicate_entry_field.safetensors",
            st(
                r#"{"t":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "duplicate field",
        ),
        (
            "unknown_dtype.safetensors",
            st(&one("Q7", "[1]", 0, 4), &[0; 4]),
            "dtype `Q7` is not supported",
        ),
        (
            "dtype_f16.safetensors",
            st(&one("F16", "[2]", 0, 4), &[0; 4]),
            "dtype `F16` is not supported",
        ),
        (
            "int8_without_scales.safetensors",
            st(&one("I8", "[2]", 0, 2), &[0; 2]),
            "an I8 tensor needs its scales `t.scale`",
        ),
        (
            "dtype_lowercase.safetensors",
            st(&one("f32", "[1]", 0, 4), &[0; 4]),
            "is not supported",
        ),
        (
            "unknown_entry_field.safetensors",
            st(
                r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":[[[[1]]]]}}"#,
                &[0; 4],
            ),
            "unknown field",
        ),
        (
            "missing_entry_field.safetensors",
            st(r#"{"t":{"dtype":"F32","shape":[1]}}"#, &[]),
            "missing field",
        ),
        (
            "entry_not_object.safetensors",
            st(r#"{"t":5}"#, &[]),
            "tensor `t`",
        ),
        (
            "metadata_not_string.safetensors",
            st(r#"{"__metadata__":{"k":1}}"#, &[]),
            "key `k`",
        ),
        (
            "metadata_not_object.safetensors",
            st(r#"{"__metadata__":[]}"#, &[]),
            "not a valid",
        ),
        (
            "shape_elements_overflow.safetensors",
            st(
                &one("F32", "[4294967296,4294967296,4294967296]", 0, 4),
                &[0; 4],
            ),
            "more elements than fit",
        ),
        (
            "shape_zero_dim_overflow.safetensors",
            st(&one("F32", "[0,4294967296,4294967296]", 0, 0), &[]),
            "more elements than fit",
        ),
        (
            "shape_bytes_overflow.safetensors",
            st(&one("F64", "[2305843009213693952]", 0, 8), &[0; 8]),
            "more bytes than fit",
        ),
        (
            "shape_negative.safetensors",
            st(&one("F32", "[-1]", 0, 4), &[0; 4]),
            "invalid value",
        ),
        (
            "shape_float.safetensors",
            st(&one("F32", "[1.5]", 0, 4), &[0; 4]),
            "invalid type",
        ),
        (
            "shape_beyond_u64.safetensors",
            st(&one("F32", "[18446744073709551616]", 0, 4), &[0; 4]),
            "tensor `t`",
        ),
        (
            "offsets_reversed.safetensors",
            st(&one("F32", "[2]", 8, 0), &f32x2),
            "end before they begin",
        ),
        (
            "offsets_past_end.safetensors",
            st(&one("F32", "[2]", 0, 8), &[0; 4]),
            "run past the end",
        ),
        (
            "offsets_size_mismatch.safetensors",
            st(&one("F32", "[3]", 0, 8), &f32x2),
            "needs 12 bytes",
        ),
        (
            "offsets_three_values.safetensors",
            st(
                r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
                &f32x2,
            ),
            "tensor `t`",
        ),
        (
            "offsets_overlap.safetensors",
            st(
                &format!(
                    "{{{},{}}}",
                    entry("a", "F32", "[2]", 0, 8),
                    entry("b", "F32", "[2]", 4, 12)
                ),
                &[0; 12],
            ),
            "overlap",
        ),
        (
            "offsets_same_range.safetensors",
            st(
                &format!(
                    "{{{},{}}}",
                    entry("a", "F32", "[2]", 0, 8),
                    entry("b", "F32", "[2]", 0, 8)
                ),
                &f32x2,
            ),
            "overlap",
        ),
        (
            "offsets_gap.safetensors",
            st(
                &format!(
                    "{{{},{}}}",
                    entry("a", "F32", "[2]", 0, 8),
                    entry("b", "F32", "[2]", 12, 20)
                ),
                &[0; 20],
            ),
            "belong to no tensor",
        ),
        ("trailing_bytes.safetensors", trailing, "cover only"),
        (
            "huge_tensor_small_file.safetensors",
            st(
                &one("F32", "[1000000,1000000]", 0, 4_000_000_000_000),
                &f32x2,
            ),
            "run past the end",
        ),
        (
            "truncated_in_length.safetensors",
            valid[..5].to_vec(),
            "shorter than the 8-byte",
        ),
        (
            "truncated_in_header.safetensors",
            valid[..40].to_vec(),
            "follow the length",
        ),
        (
            "truncated_in_data.safetensors",
            valid[..valid.len() - 4].to_vec(),
            "run past the end",
        ),
    ]
}

#[test]
fn hostile_bytes_give_errors_naming_the_fault_without_large_allocations() {
    for (name, bytes, want) in hostile_cases() {
        let (result, largest) = largest_alloc(|| read_bytes(&bytes, name));
        let msg = match result {
            Ok(c) => panic!("{name}: accepted, {} tensors", c.tensors.len()),
            Err(e) => e.to_string(),
        };
        assert!(
            msg.starts_with(name),
            "{name}: error does not name the file: {msg}"
        );
        assert!(msg.contains(want), "{name}: expected `{want}` in: {msg}");
        assert!(
            largest <= 4096 + 8 * bytes.len(),
            "{name}: allocated {largest} bytes for a {}-byte file",
            bytes.len()
        );
    }
}

#[test]
fn hostile_files_on_disk_give_errors_too() {
    let dir = scratch("hostile-files");
    for (name, bytes, want) in hostile_cases() {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (result, largest) = largest_alloc(|| read(&path));
        let msg = err_text(result);
        assert!(msg.contains(want), "{name}: expected `{want}` in: {msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            largest <= 4096 + 8 * bytes.len(),
            "{name}: allocated {largest}"
        );
    }
    // A directory and a missing file are errors, not panics.
    assert!(err_text(read(&dir)).contains("not a regular file"));
    assert!(read(dir.join("missing.safetensors")).is_err());
    // A FIFO is refused before it is opened (opening it would wait for a writer forever).
    let fifo = dir.join("fifo.safetensors");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        assert!(err_text(read(&fifo)).contains("not a regular file"));
    }
}

#[test]
fn deep_nesting_is_refused_without_deep_recursion() {
    // A million open brackets in every place the grammar could recurse, parsed on a thread
    // with a 256 KiB stack: a parser that recursed per bracket would overflow it.
    let depth = 1_000_000;
    let cases = [
        format!("{{\"t\":{}", "[".repeat(depth)),
        format!("{{\"t\":{{\"shape\":{}", "[".repeat(depth)),
        format!(
            "{{\"t\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":{}",
            "[".repeat(depth)
        ),
        format!("{{\"__metadata__\":{{\"k\":{}", "{\"a\":".repeat(depth)),
        format!("{{\"__metadata__\":{}", "[".repeat(depth)),
        "[".repeat(depth),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            cases
                .iter()
                .map(|h| read_bytes(&st(h, &[]), "deep.safetensors").is_err())
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), vec![true; 6]);
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let mut ckpt = Checkpoint::new();
    ckpt.insert("w", &tensor::<f32>(&[3, 2], 5));
    ckpt.insert("v", &tensor::<f64>(&[2], 6));
    ckpt.metadata
        .insert("config".into(), "{\"hidden\": 2}".into());
    let bytes = to_bytes(&ckpt).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert!(read_bytes(&bytes, "whole").is_ok());
    for cut in 0..bytes.len() {
        let r = read_bytes(&bytes[..cut], "cut.safetensors");
        assert!(r.is_err(), "cut at {cut} of {} accepted", bytes.len());
    }
    // On disk too: inside the length, inside the header, at the data's start, inside it.
    let dir = scratch("truncated");
    for cut in [3, 8, 8 + n / 2, 8 + n, bytes.len() - 1] {
        let path = dir.join(format!("cut{cut}.safetensors"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert!(read(&path).is_err(), "cut at {cut}");
    }
}

/// The committed corpus (these cases plus fuzzing's crash reproducers): every file is an
/// error, never a panic. `RECURRENT_WRITE_HOSTILE=1` rewrites the cases into it.
#[test]
fn hostile_corpus_files_are_all_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    if std::env::var_os("RECURRENT_WRITE_HOSTILE").is_some() {
        for (name, bytes, _) in hostile_cases() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    // Every case of hostile_cases() is in the corpus, byte for byte.
    for (name, bytes, _) in hostile_cases() {
        let stored = std::fs::read(dir.join(name)).unwrap_or_else(|_| {
            panic!("{name} missing from the corpus: RECURRENT_WRITE_HOSTILE=1")
        });
        assert_eq!(stored, bytes, "{name} differs from hostile_cases()");
    }
    for path in &files {
        let len = std::fs::metadata(path).unwrap().len() as usize;
        let (result, largest) = largest_alloc(|| std::panic::catch_unwind(|| read(path)));
        match result {
            Err(_) => panic!("{}: read panicked", path.display()),
            Ok(Ok(_)) => panic!("{}: accepted", path.display()),
            Ok(Err(_)) => {}
        }
        assert!(
            largest <= 4096 + 8 * len,
            "{}: allocated {largest}",
            path.display()
        );
    }
    assert!(files.len() >= hostile_cases().len());
}

// ---------------------------------------------------------------------------------------
// Models: save, load, hash.

#[test]
fn save_then_load_into_another_model_f32_and_f64() {
    let dir = scratch("save-load");
    let path = dir.join("m.safetensors");
    let a = lstm::<f32>(1);
    let mut b = lstm::<f32>(2);
    assert_ne!(values(&a), values(&b));
    let meta = BTreeMap::from([("config".to_string(), "{}".to_string())]);
    save_model(&path, &a, &meta).unwrap();
    let ckpt = read(&path).unwrap();
    assert_eq!(ckpt.metadata, meta);
    assert!(ckpt.tensors.values().all(|t| t.dtype() == Dtype::F32));
    load_into(&mut b, &ckpt).unwrap();
    assert_eq!(values(&a), values(&b));
    assert_eq!(model_sha256(&a), weights_sha256(&ckpt));
    assert_eq!(model_sha256(&b), model_sha256(&a));

    // f64 model, loaded into f64 (exact) and into f32 (rounded, as PyTorch's copy_ does).
    let a64 = lstm::<f64>(3);
    save_model(&path, &a64, &BTreeMap::new()).unwrap();
    let ckpt = read(&path).unwrap();
    let mut b64 = lstm::<f64>(4);
    load_into(&mut b64, &ckpt).unwrap();
    assert_eq!(values(&a64), values(&b64));
    let mut b32 = lstm::<f32>(4);
    load_into(&mut b32, &ckpt).unwrap();
    let want: Vec<_> = values(&a64)
        .into_iter()
        .map(|(n, t)| (n, t.cast::<f32>()))
        .collect();
    assert_eq!(values(&b32), want);
    // Unless the dtype must match exactly.
    let strict = LoadOptions {
        exact_dtype: true,
        ..LoadOptions::default()
    };
    let msg = err_text(load_into_with(&mut lstm::<f32>(4), &ckpt, &strict));
    assert!(
        msg.contains("stored as F64, the model computes in F32"),
        "{msg}"
    );
    assert_ne!(
        model_sha256(&a64),
        model_sha256(&b32),
        "the hash covers the stored dtype"
    );
}

#[test]
fn weights_hash_is_sha256_of_parameter_bytes_in_name_order() {
    // Expected values from Python: hashlib.sha256(struct.pack('<f', 1.0)).hexdigest(), and
    // hashlib.sha256(struct.pack('<ff', 1.0, 2.0) + struct.pack('<d', 3.0)).hexdigest().
    let mut c = Checkpoint::new();
    c.insert("w", &Tensor::<f32>::from_vec(&[1], vec![1.0]).unwrap());
    assert_eq!(
        weights_sha256(&c),
        "e00e5eb9444182f352323374ef4e08ebcb784725fdd4fd612d7730540b3e0c8c"
    );
    let c = read_bytes(&valid_file(), "valid").unwrap();
    let want = "389de66ca049ba4d34a093b385f487e2d4e5e23be1cd89852d8fec9eeb4f683c";
    assert_eq!(weights_sha256(&c), want);
    // Names, metadata and training state do not count; order does (bytewise: "B" < "a").
    let mut d = c.clone();
    d.metadata.clear();
    d.tensors.insert(
        "train_state.adam.m.a".into(),
        StoredTensor::from_i64(&[1], &[9]).unwrap(),
    );
    assert_eq!(weights_sha256(&d), want);
    let mut e = Checkpoint::new();
    e.tensors.insert("a".into(), c.get("b").unwrap().clone());
    e.tensors.insert("B".into(), c.get("a").unwrap().clone());
    assert_eq!(weights_sha256(&e), want);
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(weights_sha256(&Checkpoint::new()), empty);
    // A model hashes like its saved file, names sorted bytewise whatever the visiting order.
    let m = Named(vec![
        Param::new("b", Tensor::<f64>::from_vec(&[1], vec![3.0]).unwrap()),
        Param::new("B", Tensor::<f64>::from_vec(&[1], vec![3.0]).unwrap()),
        Param::new("a", Tensor::<f64>::from_vec(&[1], vec![1.0]).unwrap()),
    ]);
    let saved = Checkpoint::from_model(&m).unwrap();
    assert_eq!(model_sha256(&m), weights_sha256(&saved));
    let mut want = Checkpoint::new();
    for (i, v) in [3.0, 1.0, 3.0].iter().enumerate() {
        want.insert(
            format!("{i}"),
            &Tensor::<f64>::from_vec(&[1], vec![*v]).unwrap(),
        );
    }
    assert_eq!(model_sha256(&m), weights_sha256(&want));
}

#[test]
fn load_errors_name_the_tensor_and_both_shapes_and_leave_the_model_untouched() {
    let spec: &[(&str, &[usize])] = &[
        ("embed.weight", &[5, 3]),
        ("rnn.weight_ih_l0", &[8, 3]),
        ("head.bias", &[5]),
    ];
    let saved = Checkpoint::from_model(&named::<f32>(spec, 10)).unwrap();
    let mut model = named::<f32>(spec, 20);
    let before = values(&model);

    // Wrong shape.
    let mut c = saved.clone();
    c.insert("rnn.weight_ih_l0", &tensor::<f32>(&[8, 4], 1));
    let msg = err_text(load_into(&mut model, &c));
    assert!(
        msg.contains("`rnn.weight_ih_l0`") && msg.contains("[8, 3]") && msg.contains("[8, 4]"),
        "{msg}"
    );
    // Missing.
    let mut c = saved.clone();
    c.tensors.remove("head.bias");
    let msg = err_text(load_into(&mut model, &c));
    assert!(
        msg.contains("missing") && msg.contains("`head.bias` [5]"),
        "{msg}"
    );
    // Unexpected, refused by default, skipped when allowed; training state never counts.
    let mut c = saved.clone();
    c.insert("head.weight", &tensor::<f32>(&[5, 8], 2));
    c.tensors.insert(
        "train_state.step".into(),
        StoredTensor::from_i64(&[], &[3]).unwrap(),
    );
    let msg = err_text(load_into(&mut model, &c));
    assert!(
        msg.contains("not in the model") && msg.contains("`head.weight` [5, 8]"),
        "{msg}"
    );
    assert!(!msg.contains("train_state"), "{msg}");
    // Integer data where a parameter belongs.
    let mut c = saved.clone();
    c.tensors.insert(
        "head.bias".into(),
        StoredTensor::from_i64(&[5], &[1; 5]).unwrap(),
    );
    assert!(err_text(load_into(&mut model, &c)).contains("`head.bias`: stored as I64"));
    // NaN.
    let mut c = saved.clone();
    let mut t = tensor::<f32>(&[5], 3);
    t.data_mut()[2] = f32::NAN;
    c.insert("head.bias", &t);
    assert!(err_text(load_into(&mut model, &c)).contains("element 2 is NaN"));
    assert_eq!(values(&model), before, "a failed load changed the model");

    let allow = LoadOptions {
        allow_unexpected: true,
        ..LoadOptions::default()
    };
    let mut c = saved.clone();
    c.insert("head.weight", &tensor::<f32>(&[5, 8], 2));
    load_into_with(&mut model, &c, &allow).unwrap();
    assert_eq!(values(&model), values(&named::<f32>(spec, 10)));
}

#[test]
fn a_checkpoint_of_another_model_kind_is_refused_clearly() {
    let dir = scratch("other-kind");
    let path = dir.join("gru.safetensors");
    let gru = Rnn::<f32>::new(
        RnnConfig::new(CellKind::Gru, 4, 8).layers(1),
        &Init::pytorch(),
        &mut Rng::new(0),
    )
    .unwrap();
    save_model(&path, &gru, &BTreeMap::new()).unwrap();
    let mut model = lstm::<f32>(0);
    let msg = err_text(load_into(&mut model, &read(&path).unwrap()));
    // Layer 0 has the wrong gate count, layer 1 is missing; the file and the remedy named.
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("`weight_ih_l0`: the model expects shape [32, 4], the checkpoint has [24, 4]"),
        "{msg}"
    );
    assert!(msg.contains("missing: `weight_ih_l1` [32, 8]"), "{msg}");
    assert!(msg.contains("another cell"), "{msg}");
}

#[test]
fn prefix_map_loads_a_bare_layer_into_a_whole_model() {
    let rnn = lstm::<f64>(7);
    let bare = Checkpoint::from_model(&rnn).unwrap();
    let spec: Vec<(String, Vec<usize>)> = rnn
        .param_shapes()
        .into_iter()
        .map(|(n, s)| (format!("rnn.{n}"), s))
        .collect();
    let spec: Vec<(&str, &[usize])> = spec
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    let mut whole = named::<f64>(&spec, 0);
    assert!(load_into(&mut whole, &bare).is_err());
    let opts = LoadOptions {
        prefix_map: vec![("".into(), "rnn.".into())],
        ..LoadOptions::default()
    };
    load_into_with(&mut whole, &bare, &opts).unwrap();
    let got: Vec<_> = values(&whole)
        .into_iter()
        .map(|(n, t)| (n[4..].to_string(), t))
        .collect();
    assert_eq!(got, values(&rnn));
}

#[test]
fn models_with_reserved_or_repeated_names_are_not_saved() {
    let dir = scratch("bad-names");
    let two = named::<f32>(&[("w", &[1]), ("w", &[2])], 0);
    assert!(err_text(save_model(dir.join("a"), &two, &BTreeMap::new())).contains("share this name"));
    let reserved = named::<f32>(&[("train_state.x", &[1])], 0);
    assert!(save_model(dir.join("b"), &reserved, &BTreeMap::new()).is_err());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------------------
// Atomic writes.

/// Child of `a_failed_write_leaves_the_previous_checkpoint_intact`, run under a small file-size
/// limit: writing a big checkpoint over `RECURRENT_CKPT_PATH` must fail cleanly.
#[test]
#[ignore = "helper: runs in a child process"]
fn child_write_beyond_file_size_limit() {
    let path = PathBuf::from(std::env::var("RECURRENT_CKPT_PATH").unwrap());
    let big = named::<f64>(&[("w", &[256, 256])], 1);
    match save_model(&path, &big, &BTreeMap::new()) {
        Ok(()) => panic!("a 512 KiB write succeeded under the limit"),
        Err(e) => println!("WRITE-ERROR: {e}"),
    }
}

#[test]
fn a_failed_write_leaves_the_previous_checkpoint_intact() {
    let dir = scratch("failed-write");
    let path = dir.join("latest.safetensors");
    let small = named::<f32>(&[("w", &[4, 4])], 1);
    save_model(&path, &small, &BTreeMap::new()).unwrap();
    let before = std::fs::read(&path).unwrap();

    // File-size limit of 64 blocks (32 or 64 KiB, by the shell's unit) with SIGXFSZ ignored,
    // so an oversized write fails with EFBIG the way a full disk fails with ENOSPC.
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64 && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_write_beyond_file_size_limit",
            "--ignored",
            "--nocapture",
        ])
        .env("RECURRENT_CKPT_PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("WRITE-ERROR"))
        .unwrap();
    assert!(
        line.contains("latest.safetensors") && line.contains("unchanged"),
        "{line}"
    );
    // The previous file is intact and loadable, and no temporary file is left.
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut m = named::<f32>(&[("w", &[4, 4])], 2);
    load_into(&mut m, &read(&path).unwrap()).unwrap();
    assert_eq!(values(&m), values(&small));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["latest.safetensors"]);

    // A directory that does not exist: an error naming the target.
    let msg = err_text(save_model(
        dir.join("no/such/dir/x.safetensors"),
        &small,
        &BTreeMap::new(),
    ));
    assert!(msg.contains("x.safetensors"), "{msg}");
    // A target that is a directory: the rename fails, the temporary file goes.
    std::fs::create_dir(dir.join("d.safetensors")).unwrap();
    assert!(save_model(dir.join("d.safetensors"), &small, &BTreeMap::new()).is_err());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[test]
fn stale_temp_files_of_other_processes_are_removed() {
    let dir = scratch("stale");
    let own = format!(".latest.safetensors.tmp-{}-0", std::process::id());
    for name in [
        ".latest.safetensors.tmp-4000000-3",
        ".best.safetensors.tmp-1-0",
        &own,
        "keep.txt",
        ".tmp-1-2",
    ] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    let mut removed = remove_stale_temp_files(&dir).unwrap();
    removed.sort();
    assert_eq!(
        removed,
        vec![
            dir.join(".best.safetensors.tmp-1-0"),
            dir.join(".latest.safetensors.tmp-4000000-3")
        ]
    );
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut want = vec![".tmp-1-2".to_string(), own, "keep.txt".to_string()];
    want.sort();
    assert_eq!(left, want);
}

// ---------------------------------------------------------------------------------------
// The run lock.

/// Child of `the_lock_keeps_a_second_run_out_until_its_holder_dies`: holds the lock on
/// `RECURRENT_LOCK_DIR`, says so, and waits to be killed.
#[test]
#[ignore = "helper: runs in a child process"]
fn child_hold_lock() {
    let dir = PathBuf::from(std::env::var("RECURRENT_LOCK_DIR").unwrap());
    let _lock = RunLock::acquire(&dir).unwrap();
    println!("LOCKED");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn the_lock_keeps_a_second_run_out_until_its_holder_dies() {
    let dir = scratch("lock").join("run");

    // Within one process: a second open file is a second holder.
    let lock = RunLock::acquire(&dir).unwrap();
    assert_eq!(lock.dir(), dir);
    let msg = err_text(RunLock::acquire(&dir));
    assert!(
        msg.contains(&format!("another run (process {})", std::process::id())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("is using {}", dir.display())),
        "{msg}"
    );
    drop(lock);
    drop(RunLock::acquire(&dir).unwrap());

    // Another process holds it: refused. Killed: the lock file stays, and no longer blocks.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_hold_lock", "--ignored", "--nocapture"])
        .env("RECURRENT_LOCK_DIR", &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let locked = BufReader::new(stdout)
        .lines()
        .any(|l| l.is_ok_and(|l| l.contains("LOCKED")));
    assert!(locked, "the child never took the lock");
    let msg = err_text(RunLock::acquire(&dir));
    assert!(
        msg.contains(&format!("another run (process {})", child.id())),
        "{msg}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.join(".lock").exists());
    let lock = RunLock::acquire(&dir).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join(".lock")).unwrap().trim(),
        std::process::id().to_string()
    );
    drop(lock);
}

// ---------------------------------------------------------------------------------------
// PyTorch char-LM files (tests/fixtures/pytorch_lm, made by scripts/make_pytorch_lm_fixture.py
// with ../shared/bench/pytorch_charlm.py --save: LSTM, 2 layers, hidden 8, embed 4).

fn pytorch_lm_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch_lm/charlm_lstm_l2_h8.safetensors")
}

#[test]
fn import_a_pytorch_char_lm() {
    let lm = import_pytorch_lm(pytorch_lm_path()).unwrap();
    assert_eq!(
        lm.vocab.iter().collect::<String>(),
        "\n \".acdehmnosté",
        "the vocabulary is the sorted characters of the text"
    );
    assert_eq!(
        (lm.cell, lm.embed, lm.hidden, lm.layers),
        (CellKind::Lstm, 4, 8, 2)
    );
    assert_eq!(lm.config["cell"], "lstm");
    assert_eq!(lm.config["seq_len"], 4);
    let shapes: Vec<(&str, &[usize])> = lm
        .checkpoint
        .tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("embed.weight", &[15, 4][..]),
            ("head.bias", &[15][..]),
            ("head.weight", &[15, 8][..]),
            ("rnn.bias_hh_l0", &[32][..]),
            ("rnn.bias_hh_l1", &[32][..]),
            ("rnn.bias_ih_l0", &[32][..]),
            ("rnn.bias_ih_l1", &[32][..]),
            ("rnn.weight_hh_l0", &[32, 8][..]),
            ("rnn.weight_hh_l1", &[32, 8][..]),
            ("rnn.weight_ih_l0", &[32, 4][..]),
            ("rnn.weight_ih_l1", &[32, 8][..]),
        ]
    );
    assert!(lm
        .checkpoint
        .tensors
        .values()
        .all(|t| t.dtype() == Dtype::F32));

    // Its recurrent part loads into our LSTM layer, under the layer's own names.
    let mut rnn = lstm::<f32>(99);
    let opts = LoadOptions {
        prefix_map: vec![("rnn.".into(), "".into())],
        allow_unexpected: true,
        ..LoadOptions::default()
    };
    load_into_with(&mut rnn, &lm.checkpoint, &opts).unwrap();
    for (name, value) in values(&rnn) {
        assert_eq!(
            value,
            lm.checkpoint.tensor::<f32>(&format!("rnn.{name}")).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn pytorch_lm_round_trips_bit_for_bit() {
    let original = std::fs::read(pytorch_lm_path()).unwrap();
    let lm = import_pytorch_lm(pytorch_lm_path()).unwrap();
    let dir = scratch("pytorch-lm");

    // Re-writing the imported checkpoint reproduces PyTorch's file exactly.
    let copy = dir.join("copy.safetensors");
    lm.checkpoint.write(&copy).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), original);

    // Exporting (tensors, vocab, config) and importing again gives the same tensor bytes,
    // vocabulary (its metadata string exactly as Python's json.dumps wrote it) and config.
    let out = dir.join("export.safetensors");
    export_pytorch_lm(&out, &lm.checkpoint, &lm.vocab, &lm.config).unwrap();
    let again = import_pytorch_lm(&out).unwrap();
    assert_eq!(again.checkpoint.tensors, lm.checkpoint.tensors);
    assert_eq!(again.vocab, lm.vocab);
    assert_eq!(again.config, lm.config);
    assert_eq!(
        again.checkpoint.metadata["vocab"],
        lm.checkpoint.metadata["vocab"]
    );
    assert_eq!(
        weights_sha256(&again.checkpoint),
        weights_sha256(&lm.checkpoint)
    );
}

#[test]
fn inconsistent_pytorch_lm_files_are_refused() {
    let lm = import_pytorch_lm(pytorch_lm_path()).unwrap();
    let dir = scratch("pytorch-lm-bad");
    let path = dir.join("bad.safetensors");
    let try_with = |edit: &dyn Fn(&mut Checkpoint)| {
        let mut c = lm.checkpoint.clone();
        edit(&mut c);
        c.write(&path).unwrap();
        err_text(import_pytorch_lm(&path))
    };
    let msg = try_with(&|c| {
        c.metadata.insert("vocab".into(), "[\"a\", \"b\"]".into());
    });
    assert!(msg.contains("15 rows but the vocabulary has 2"), "{msg}");
    let msg = try_with(&|c| {
        c.metadata.remove("vocab");
    });
    assert!(msg.contains("no `vocab`"), "{msg}");
    let msg = try_with(&|c| {
        c.metadata
            .insert("config".into(), "{\"cell\": \"gru\"}".into());
    });
    assert!(msg.contains("config says cell `gru`"), "{msg}");
    let msg = try_with(&|c| {
        c.metadata
            .insert("config".into(), "{\"hidden\": 16}".into());
    });
    assert!(msg.contains("hidden = 16 but the weights have 8"), "{msg}");
    let msg = try_with(&|c| {
        c.tensors.remove("rnn.bias_hh_l1");
    });
    assert!(msg.contains("no tensor `rnn.bias_hh_l1`"), "{msg}");
    let msg = try_with(&|c| {
        c.insert("rnn.weight_ih_l0_reverse", &tensor::<f32>(&[32, 4], 0));
    });
    assert!(msg.contains("rnn.weight_ih_l0_reverse"), "{msg}");
    let msg = try_with(&|c| {
        c.insert("head.weight", &tensor::<f32>(&[15, 9], 0));
    });
    assert!(
        msg.contains("`head.weight` has shape [15, 9], expected [15, 8]"),
        "{msg}"
    );
    // Export checks the same things before writing anything.
    let out = dir.join("never.safetensors");
    assert!(export_pytorch_lm(&out, &lm.checkpoint, &lm.vocab[1..], &lm.config).is_err());
    assert!(!out.exists());
}
