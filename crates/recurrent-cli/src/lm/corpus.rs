//! The embedded corpus of the main job: this project's own source code and docs, compiled
//! into the binary (a char-RNN on source code is a classic), so the first command needs no
//! download and no data folder.

/// The corpus text.
pub const EMBEDDED: &str = concat!(
    include_str!("../../../../README.md"),
    include_str!("../../../recurrent/src/lib.rs"),
    include_str!("../../../recurrent/src/cell/mod.rs"),
    include_str!("../../../recurrent/src/cell/rnn.rs"),
    include_str!("../../../recurrent/src/cell/lstm.rs"),
    include_str!("../../../recurrent/src/cell/gru.rs"),
    include_str!("../../../recurrent/src/cell/sequence/time_loop.rs"),
    include_str!("../../../recurrent/src/layer/mod.rs"),
    include_str!("../../../recurrent/src/init.rs"),
    include_str!("../../../recurrent/src/kernels/matmul.rs"),
    include_str!("../../../recurrent/src/kernels/act.rs"),
    include_str!("../../../recurrent/src/model/lm.rs"),
    include_str!("../../../recurrent-tasks/src/lm/train.rs"),
    include_str!("../../../recurrent/src/train/run.rs"),
    include_str!("../../../recurrent/src/text/corpus.rs"),
    include_str!("../../../recurrent/src/text/vocab.rs"),
    include_str!("../../../recurrent/src/nn/sample.rs"),
    include_str!("../../../recurrent/src/gradcheck.rs"),
    include_str!("train.rs"),
    include_str!("../common.rs"),
);
