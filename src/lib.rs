//! shadertrain trains regression MLPs (the network of docs/spec.md, any
//! number of hidden layers) with exact gradients, full-batch or in
//! mini-batches, on the CPU or as WGSL compute shaders through wgpu.
//!
//! - [`model`]: layer sizes, activations, the flat parameter block.
//! - [`data`]: the seeded synthetic task and CSV loading.
//! - [`io`]: safetensors model files, loss histories, data sets as CSV,
//!   atomic writes.
//! - [`cpu`]: the f64 reference every GPU kernel is held to.
//! - [`gpu`]: the wgpu trainer.
//! - [`optim`]: the optimizers (gd, momentum, nesterov, adam, L-BFGS).
//! - [`dist`]: data-parallel training over shards and processes (MPI).
//! - [`train`]: the [`train::Backend`] trait and the stopping loop.
//! - [`batches`]: mini-batches, and the seeded order of each epoch's rows.
//! - [`bench`](mod@bench): the CPU-against-GPU benchmark.
//! - [`importance`]: permutation importance, how much each column a
//!   model reads matters to its predictions.
//! - [`plot`]: loss curves and benchmark charts (PNG, SVG).
//! - [`memory`]: what a job needs in memory, checked before allocating.
//! - [`contention`]: the CPU time other processes take on this one's
//!   cores, which `bench` reports.
//! - [`units`]: counts, sizes and durations as messages write them.
//! - [`app`]: what each CLI subcommand does.
//!
//! As a library: a data set, a network, a backend, the training loop, and
//! predictions in the target's units from the trained parameters.
//!
//! ```
//! use shadertrain::cpu::{reference, Fast};
//! use shadertrain::data::{Dataset, Standardization};
//! use shadertrain::model::{Activation, Layout, Model};
//! use shadertrain::optim::Optimizer;
//! use shadertrain::train::{train, Backend, Schedule};
//!
//! # fn main() -> shadertrain::Result<()> {
//! let raw = Dataset::synthetic(1000, 3, 0)?; // or Table::read(path)?.into_dataset(None)?
//! let stats = Standardization::fit(&raw);
//! let mut data = raw.clone();
//! stats.apply(&mut data)?;
//! let layout = Layout::new(data.features, &[16])?;
//! let names = data.feature_names.clone();
//! let mut model = Model::init(layout, Activation::Tanh, 0, names, "y".into());
//! // The fast CPU backend on every core (0); GpuTrainer is the wgpu one.
//! let mut backend = Fast::new(&model, &data, Optimizer::gd(0.1), 0)?;
//! let outcome = train(&mut backend, &Schedule { max_epochs: 200, tol: 0.0 })?;
//! assert!(outcome.losses[outcome.updates] < outcome.losses[0]);
//! model.params = backend.params()?;
//! model.standardization = Some(stats);
//! let yhat = reference::predict(&model, &raw)?; // raw features in, target units out
//! assert_eq!(yhat.len(), raw.rows);
//! # Ok(())
//! # }
//! ```
//!
//! Beyond it:
//! - other optimizers: [`optim::Optimizer::adam`], and
//!   [`optim::Optimizer::lbfgs`], whose backend is wrapped in
//!   [`optim::lbfgs::Lbfgs::new`] (`Lbfgs::new(backend, &model.params,
//!   opt)?`); [`optim::Settings::resolve`] sets any of their settings;
//! - mini-batches: [`cpu::Fast::with_batches`];
//! - model files the CLI reads and writes: [`io::save_model`],
//!   [`io::load_model`];
//! - a saved model's columns from a CSV file, by name:
//!   `Table::read(path)?.select_named(&model.feature_names,
//!   &model.target_name)`; from rows in memory,
//!   [`data::Dataset::select_features`]. [`cpu::reference::predict`]
//!   refuses rows whose named features are not the model's, in its order.
//!
//! The command line's choices (standardizing by default, `--lr auto`'s
//! range test, the few-rows weight decay search, validation rules) are in
//! [`app`], which the library does not need.

/// As `eprintln!`, but a closed or full standard error is no panic: the
/// line is dropped, as there is nowhere left to say it, and the command
/// goes on (`2>&1 | head -1`, `2>/dev/full`). The line and its end go in
/// one write, so that what another process writes to the same stream
/// (mpirun's banner) cannot land inside it. What is said is one line
/// whatever a path in it holds: control characters but tabs are escaped
/// ([`units::one_line`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::said(&format!($($arg)*), false)
    };
}

/// As [`say!`], for text of several lines (a table after a sentence): each
/// of its lines is kept, and escaped as [`say!`] escapes its one.
#[macro_export]
macro_rules! say_lines {
    ($($arg:tt)*) => {
        $crate::said(&format!($($arg)*), true)
    };
}

/// [`say!`]'s and [`say_lines!`]' write: `text` escaped as one line, or
/// with `keep_lines` line by line, each line ended, in one write.
#[doc(hidden)]
pub fn said(text: &str, keep_lines: bool) {
    use std::io::Write as _;
    let mut out = String::with_capacity(text.len() + 1);
    let lines = match keep_lines {
        true => text.lines().collect(),
        false => vec![text],
    };
    for line in lines {
        out.push_str(&units::one_line(line));
        out.push('\n');
    }
    let _ = std::io::stderr().write_all(out.as_bytes());
}

pub mod app;
pub mod batches;
pub mod bench;
pub mod cli;
pub mod contention;
pub mod cpu;
pub mod data;
pub mod dist;
pub mod error;
pub mod gpu;
pub mod importance;
pub mod io;
pub mod memory;
pub mod model;
pub mod optim;
pub mod plot;
pub mod rng;
pub mod train;
pub mod units;

pub use error::{Error, Result};
