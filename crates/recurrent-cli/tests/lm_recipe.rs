//! `train lm`'s defaults depend on the time budget (the long-run recipe of
//! `LmTrainConfig::for_budget`): a long budget turns the regularisers and the annealed
//! schedule on, any flag given overrides the recipe, and `--help` shows both values.

mod common;
use common::ok;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recurrent-recipe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The stored training config of a two-step run with `extra` flags.
fn stored_config(dir: &std::path::Path, name: &str, extra: &[&str]) -> serde_json::Value {
    let data = dir.join("corpus.txt");
    std::fs::write(
        &data,
        "to be or not to be, that is the question.\n".repeat(40),
    )
    .unwrap();
    let out = dir.join(name);
    let mut args = vec![
        "train",
        "lm",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "8",
        "--layers",
        "1",
        "--embed",
        "4",
        "--seq-len",
        "8",
        "--batch",
        "2",
        "--threads",
        "1",
        "--steps",
        "2",
    ];
    args.extend(extra);
    ok(&args);
    let text = std::fs::read_to_string(out.join("config.json")).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
    stored["train"].clone()
}

#[test]
fn a_long_budget_gets_the_long_recipe_and_flags_still_win() {
    let dir = tmp("long");
    // Steps bound the run; the budget only chooses the recipe.
    let short = stored_config(&dir, "short", &[]);
    assert!(short.get("reg").is_none(), "{short}");
    assert!(short.get("lr_schedule").is_none(), "{short}");
    assert_eq!(short["cell"], "lstm", "{short}");

    let long = stored_config(&dir, "long", &["--time-budget", "3600"]);
    assert_eq!(long["lr_schedule"], "cosine", "{long}");
    assert_eq!(long["cell"], "lstm_ln", "{long}");
    assert_eq!(long["reg"]["variational"], true, "{long}");
    assert!(long["reg"]["weight_drop"].as_f64().unwrap() > 0.0, "{long}");

    let mine = stored_config(
        &dir,
        "mine",
        &[
            "--time-budget",
            "3600",
            "--variational",
            "false",
            "--weight-drop",
            "0",
            "--dropout-input",
            "0",
            "--lr-schedule",
            "constant",
            "--dropout",
            "0.3",
            "--cell",
            "gru",
        ],
    );
    assert!(mine.get("lr_schedule").is_none(), "{mine}");
    assert_eq!(mine["cell"], "gru", "{mine}");
    assert_eq!(mine["dropout"], 0.3, "{mine}");
    let reg = mine.get("reg").cloned().unwrap_or_default();
    assert!(reg.get("variational").is_none_or(|v| v == false), "{mine}");
    assert!(reg.get("weight_drop").is_none_or(|v| v == 0.0), "{mine}");
    // A bare --variational still switches the masks on.
    let on = stored_config(&dir, "on", &["--variational"]);
    assert_eq!(on["reg"]["variational"], true, "{on}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The long recipe stops a small corpus at its epoch cap, whatever the budget; `--epochs`
/// overrides the cap.
#[test]
fn the_long_recipe_stops_a_small_corpus_at_its_epoch_cap() {
    let dir = tmp("cap");
    let data = dir.join("corpus.txt");
    std::fs::write(
        &data,
        "to be or not to be, that is the question.\n".repeat(40),
    )
    .unwrap();
    let summary = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.join(name);
        let mut args = vec![
            "train",
            "lm",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--hidden",
            "8",
            "--layers",
            "1",
            "--embed",
            "4",
            "--seq-len",
            "8",
            "--batch",
            "2",
            "--threads",
            "1",
            "--time-budget",
            "3600",
            "--json",
        ];
        args.extend(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let one = summary("one", &["--epochs", "1"]);
    let capped = summary("capped", &[]);
    let per_epoch = one["steps"].as_u64().unwrap();
    assert!(per_epoch > 10, "{one}");
    assert_eq!(capped["finished"], true, "{capped}");
    assert_eq!(
        capped["steps"].as_u64().unwrap(),
        24 * per_epoch,
        "{capped}"
    );
    assert!(capped["train_s"].as_f64().unwrap() < 3600.0, "{capped}");
    let stored = std::fs::read_to_string(dir.join("capped").join("config.json")).unwrap();
    assert!(stored.contains("\"epoch_cap\": 24"), "{stored}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_shows_the_short_and_the_long_recipe() {
    let help = ok(&["train", "lm", "--help"]);
    assert!(help.contains("from --time-budget 1200"), "{help}");
    assert!(
        help.contains("from --time-budget 1200 without --steps or --epochs, 24"),
        "{help}"
    );
    assert!(help.contains("--ema"), "{help}");
}

/// The recurrent layer's regularisers and the averaged weights are flags of every `train`
/// subcommand (the cells issue: "a flag of every train subcommand that uses a recurrent
/// layer").
#[test]
fn every_train_subcommand_takes_the_layer_regularisers_and_the_average() {
    for task in [
        "lm",
        "forecast",
        "classify",
        "tag",
        "translate",
        "speech",
        "music",
    ] {
        let help = ok(&["train", task, "--help"]);
        for flag in ["--weight-drop", "--variational", "--ema"] {
            assert!(help.contains(flag), "train {task} lacks {flag}");
        }
    }
}
