//! The configuration of a recurrent layer: PyTorch's arguments, their defaults and checks,
//! and the shape of each layer it implies.

use crate::cell::sequence::Spec;
use crate::cell::zoneout::Zoneout;
use crate::cell::{CellKind, GruForm};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// The configuration of a recurrent layer, with PyTorch's argument names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    pub cell: CellKind,
    pub input_size: usize,
    pub hidden_size: usize,
    /// Stacked layers L (default 1).
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Two directions (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// `bias_ih` / `bias_hh` present (default true).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Input and output as [B, T, ...] (default false). States stay [D*L, B, H].
    #[serde(default)]
    pub batch_first: bool,
    /// LSTM projection size P (0: none).
    #[serde(default)]
    pub proj_size: usize,
    /// Dropout on the outputs of every layer but the last, in training (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Which GRU form (default PyTorch's).
    #[serde(default)]
    pub gru_form: GruForm,
    /// Inter-layer dropout with one mask per sequence for every step (locked, variational;
    /// Gal & Ghahramani 2016) instead of a fresh mask per step (default false).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub variational: bool,
    /// DropConnect on `weight_hh` in training (AWD-LSTM's weight drop; [`super::weight_drop`]):
    /// each recurrent weight zeroed with this probability, one mask per forward pass
    /// (default 0).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub weight_drop: f64,
    /// Zoneout of the hidden and cell states in training, their expectation in evaluation
    /// ([`crate::cell::zoneout`]; default none).
    #[serde(default, skip_serializing_if = "crate::omit::is_default")]
    pub zoneout: Zoneout,
}

impl RnnConfig {
    /// A one-layer, unidirectional, time-first layer with biases.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            cell,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            bias: true,
            batch_first: false,
            proj_size: 0,
            dropout: 0.0,
            gru_form: GruForm::Pytorch,
            variational: false,
            weight_drop: 0.0,
            zoneout: Zoneout::default(),
        }
    }
    pub fn layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    pub fn bidirectional(mut self, yes: bool) -> Self {
        self.bidirectional = yes;
        self
    }
    pub fn bias(mut self, yes: bool) -> Self {
        self.bias = yes;
        self
    }
    pub fn batch_first(mut self, yes: bool) -> Self {
        self.batch_first = yes;
        self
    }
    pub fn proj_size(mut self, p: usize) -> Self {
        self.proj_size = p;
        self
    }
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn gru_form(mut self, f: GruForm) -> Self {
        self.gru_form = f;
        self
    }
    pub fn variational(mut self, yes: bool) -> Self {
        self.variational = yes;
        self
    }
    pub fn weight_drop(mut self, p: f64) -> Self {
        self.weight_drop = p;
        self
    }
    pub fn zoneout(mut self, z: Zoneout) -> Self {
        self.zoneout = z;
        self
    }
    /// The regularisers of [`RecurrentReg`].
    pub fn reg(self, r: RecurrentReg) -> Self {
        self.weight_drop(r.weight_drop)
            .variational(r.variational)
            .zoneout(r.zoneout)
    }
    /// D.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
    /// H_out.
    pub fn hout(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }
    /// Width of the output features, D * H_out.
    pub fn output_size(&self) -> usize {
        self.directions() * self.hout()
    }
    /// Checks sizes and options; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.input_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return bad(format!(
                "input_size ({}), hidden_size ({}) and num_layers ({}) must be at least 1",
                self.input_size, self.hidden_size, self.num_layers
            ));
        }
        if self.proj_size > 0 && self.cell != CellKind::Lstm {
            return bad(format!(
                "proj_size = {} is only for LSTM, not {}",
                self.proj_size, self.cell
            ));
        }
        if self.cell == CellKind::GruLn && self.gru_form == crate::cell::GruForm::Seeds {
            return bad(
                "gru_ln normalises PyTorch's form of the GRU; the seeds' form is for gru".into(),
            );
        }
        if self.proj_size >= self.hidden_size && self.proj_size > 0 {
            return bad(format!(
                "proj_size ({}) must be smaller than hidden_size ({})",
                self.proj_size, self.hidden_size
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(0.0..1.0).contains(&self.weight_drop) {
            return bad(format!(
                "weight_drop must be in [0, 1), got {}",
                self.weight_drop
            ));
        }
        if self.weight_drop > 0.0 && self.cell.is_minimal() {
            return bad(format!(
                "weight_drop drops recurrent weights, which a {} has none of",
                self.cell
            ));
        }
        self.zoneout.validate("zoneout")?;
        if self.zoneout.is_on() && (self.cell.is_minimal() || self.proj_size > 0) {
            return bad(format!(
                "zoneout is for the cells that loop over time without a projection, not {}{}",
                self.cell,
                if self.proj_size > 0 {
                    " with proj_size"
                } else {
                    " (its layer is a scan)"
                }
            ));
        }
        let max = 1 << 24;
        if self.input_size > max || self.hidden_size > max || self.num_layers > 1024 {
            return bad("sizes beyond 2^24 (or more than 1024 layers) are refused".into());
        }
        Ok(())
    }
    pub(crate) fn spec(&self, layer: usize) -> Spec {
        Spec {
            kind: self.cell,
            gru_form: self.gru_form,
            input: if layer == 0 {
                self.input_size
            } else {
                self.output_size()
            },
            hidden: self.hidden_size,
            proj: self.proj_size,
            zoneout: self.zoneout,
        }
    }
}

/// The recurrent layer's own regularisers as a task's config carries them, flattened (the
/// keys `weight_drop`, `variational` and `zoneout`, each left out while off, so a run without them
/// stores the config it stored before they existed). The flags `--weight-drop` and
/// `--variational` and `--zoneout` of every `train` subcommand land here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecurrentReg {
    /// DropConnect on `weight_hh` in training, one mask per batch ([`super::weight_drop`]).
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub weight_drop: f64,
    /// One dropout mask per sequence for every step between stacked layers (locked).
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub variational: bool,
    /// Zoneout of the hidden and cell states ([`crate::cell::zoneout`]).
    #[serde(skip_serializing_if = "crate::omit::is_default")]
    pub zoneout: Zoneout,
}

impl RecurrentReg {
    /// Checks the range; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.weight_drop) {
            return Err(Error::Config(format!(
                "--weight-drop must be in [0, 1), got {}",
                self.weight_drop
            )));
        }
        self.zoneout.validate("--zoneout")
    }
}
