//! Config fields that a stored config leaves out while they hold their default: a model or
//! run trained without a later option (a learning-rate schedule, a regulariser) keeps the
//! JSON keys it had before the option existed, so old runs resume and compare equal, and a
//! plain language model keeps `pytorch_charlm.py`'s keys (CONVENTIONS.md, Names).
//!
//! A tool that lists or sets a config's fields by name (the Python package's settings) needs
//! every field written: [`all_fields`] switches the omission off for the serialisations
//! inside it, on this thread.

use std::cell::Cell;

thread_local! {
    static WRITE_ALL: Cell<bool> = const { Cell::new(false) };
}

/// `skip_serializing_if` for a field left out while it holds its type's default.
pub fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    !WRITE_ALL.with(Cell::get) && *v == T::default()
}

/// `skip_serializing_if` for a field whose default is not its type's: left out while it
/// equals `default` (write a one-line wrapper that names the default).
pub fn equals<T: PartialEq>(v: &T, default: &T) -> bool {
    !WRITE_ALL.with(Cell::get) && v == default
}

/// Runs `f` with every field written, defaults included.
pub fn all_fields<R>(f: impl FnOnce() -> R) -> R {
    let before = WRITE_ALL.with(|w| w.replace(true));
    let r = f();
    WRITE_ALL.with(|w| w.set(before));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, Default)]
    struct C {
        kept: u32,
        #[serde(skip_serializing_if = "is_default")]
        rate: f64,
    }

    #[test]
    fn defaults_are_left_out_except_when_all_fields_are_asked_for() {
        let c = C::default();
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"kept":0}"#);
        let all = all_fields(|| serde_json::to_string(&c).unwrap());
        assert_eq!(all, r#"{"kept":0,"rate":0.0}"#);
        let set = C { kept: 0, rate: 0.5 };
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"{"kept":0,"rate":0.5}"#
        );
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"kept":0}"#);
        // A default that is not the type's.
        assert!(equals(&8000, &8000) && !equals(&4000, &8000));
        assert!(!all_fields(|| equals(&8000, &8000)));
    }
}
