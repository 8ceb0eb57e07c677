//! The wgpu backend: [`context`] owns the device, [`kernels`] the WGSL
//! pipelines, [`buffers`] the device memory and its one readback path,
//! [`plan`] the kernel family and the cut of the batch, `epoch` the
//! recorded passes, [`trainer`] the backend that runs them, `held_out` the
//! validation rows' loss beside them, `profile` their time per kernel,
//! and [`ops`] runs single kernels for the tests and the kernel
//! benchmark; `runtime_dir` quiets the Vulkan stack before the first
//! instance; [`stats`] reads what the Vulkan driver makes of each kernel.

mod batched;
pub mod buffers;
pub mod context;
pub(crate) mod epoch;
mod held_out;
pub mod kernels;
pub mod mixed;
pub mod ops;
pub mod plan;
mod profile;
#[cfg(all(unix, not(target_vendor = "apple")))]
pub mod runtime_dir;
pub mod stats;
pub mod trainer;
pub mod trips;

pub use context::{AdapterRequest, Context};
pub use plan::{KernelChoice, KernelFamily, Plan};
pub use trainer::{GpuTrainer, Source, Updates};
