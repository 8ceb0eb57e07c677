//! shadertrain trains regression MLPs (the network of docs/spec.md, any
//! number of hidden layers) with exact gradients, full-batch (or in
//! mini-batches on the CPU), on the CPU or as WGSL compute shaders through
//! wgpu.
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
//! - [`plot`]: loss curves and benchmark charts (PNG, SVG).
//! - [`memory`]: what a job needs in memory, checked before allocating.
//! - [`units`]: counts, sizes and durations as messages write them.
//! - [`app`]: what each CLI subcommand does.

pub mod app;
pub mod batches;
pub mod bench;
pub mod cli;
pub mod cpu;
pub mod data;
pub mod dist;
pub mod error;
pub mod gpu;
pub mod io;
pub mod memory;
pub mod model;
pub mod optim;
pub mod plot;
pub mod rng;
pub mod train;
pub mod units;

pub use error::{Error, Result};
