//! Streaming: one time step of every layer, with buffers reused from step to step.

use super::{check_shape, Rnn, RnnState};
use crate::cell::sequence::Spec;
use crate::cell::stream::{self, StepBuffers};
use crate::error::{Error, Result};
use crate::float::Float;

impl<F: Float> Rnn<F> {
    /// One time step of every layer, for streaming (generation, online inference): `x` is
    /// the step's input [B, I]; `state` (h [L, B, H_out], c [L, B, H] for an LSTM, batch B
    /// taken from it) is read and updated in place. Returns the top layer's new hidden state
    /// [B, H_out], the step's output (a view into `state.h`).
    ///
    /// Stepping T times from a state gives what [`Rnn::forward`] gives over the T steps
    /// (the same arithmetic, up to the summation order of the matrix products), without
    /// inter-layer dropout. `scratch` holds the step's buffers: create it once
    /// (`StepScratch::default()`); after the first step nothing is allocated.
    ///
    /// Errors: a bidirectional layer (its reverse direction needs the whole sequence), or
    /// shapes that do not match the configuration.
    pub fn step<'s>(
        &self,
        x: &[F],
        state: &'s mut RnnState<F>,
        scratch: &mut StepScratch<F>,
    ) -> Result<&'s [F]> {
        let c = &self.config;
        if c.bidirectional {
            return Err(Error::Config(
                "a bidirectional layer cannot stream one step at a time (its reverse direction \
                 starts at the sequence's end): use forward over the whole sequence"
                    .into(),
            ));
        }
        let (l, ho, h) = (c.num_layers, c.hout(), c.hidden_size);
        let hs = state.h.shape();
        if hs.len() != 3 || hs[0] != l || hs[2] != ho {
            return Err(Error::tensor(
                "state.h",
                format!("expected shape [{l}, B, {ho}], got {hs:?}"),
            ));
        }
        let b = hs[1];
        if x.len() != b * c.input_size {
            return Err(Error::tensor(
                "x",
                format!(
                    "{} values for one step of [B={b}, I={}]",
                    x.len(),
                    c.input_size
                ),
            ));
        }
        let is_lstm = c.cell.has_cell_state();
        match (&state.c, is_lstm) {
            (Some(c0), true) => check_shape("state.c", c0.shape(), &[l, b, h])?,
            (None, true) => return Err(Error::tensor("state.c", "an LSTM needs c with h")),
            (Some(_), false) => {
                return Err(Error::tensor(
                    "state.c",
                    format!("a {} has no cell state", c.cell),
                ))
            }
            (None, false) => {}
        }
        scratch.specs.clear();
        scratch.specs.extend((0..l).map(|k| c.spec(k)));
        let mut no_c: [F; 0] = [];
        let cd: &mut [F] = match &mut state.c {
            Some(t) => t.data_mut(),
            None => &mut no_c,
        };
        stream::step(
            &scratch.specs,
            &self.dirs,
            self.quantized(),
            x,
            b,
            state.h.data_mut(),
            cd,
            &mut scratch.buf,
        );
        let nh = b * ho;
        Ok(&state.h.data()[(l - 1) * nh..l * nh])
    }
}

/// The reusable buffers of [`Rnn::step`]. Make one with `StepScratch::default()` and pass it
/// to every step; it grows to fit on the first step and never again for the same model and
/// batch.
#[derive(Clone, Debug, Default)]
pub struct StepScratch<F> {
    buf: StepBuffers<F>,
    /// Each layer's shape (rebuilt in place each step: no allocation).
    specs: Vec<Spec>,
}
