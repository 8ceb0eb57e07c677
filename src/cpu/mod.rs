//! The CPU path. [`reference`](mod@reference) is the plain, obviously right trainer every
//! other backend is checked against; [`ops`] are its building blocks and
//! the GPU kernels' twins, one named after each kernel, to which the tests
//! hold the kernel. [`fast`] is the backend `--backend cpu` runs.

pub mod fast;
mod flush;
pub mod ops;
mod pad;
pub mod reference;

pub use fast::{Fast, Isa};
pub use reference::Reference;

use crate::optim::{Optimizer, Real, State};
use crate::train::SNAPSHOT_SLOTS;

/// The cores this process may run on (1 where that cannot be told): the
/// threads of `--threads 0`, of a CSV file's pieces and of `predict`.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The [`crate::train::Backend`] methods of a backend that keeps its
/// parameters and optimizer state on the host, in a [`ParamSlots`] field
/// `theta`, with its optimizer in `opt`, and describes itself as its
/// [`crate::optim::lbfgs::Objective`] does: the description, the
/// optimizer, snapshots, restores, the parameters and the optimizer state,
/// the same for every such backend; and the plateau schedule's cuts, in
/// its [`crate::optim::Rates`] field `rates`.
macro_rules! host_param_methods {
    () => {
        fn describe(&self) -> String {
            $crate::optim::lbfgs::Objective::describe(self)
        }

        fn optimizer(&self) -> $crate::optim::Optimizer {
            self.opt
        }

        fn snapshot(&mut self, slot: usize) -> $crate::error::Result<()> {
            self.theta.snapshot(slot);
            Ok(())
        }

        fn restore(&mut self, slot: usize) -> $crate::error::Result<()> {
            self.theta.restore(slot);
            Ok(())
        }

        fn params(&mut self) -> $crate::error::Result<Vec<f32>> {
            Ok(self.theta.params.clone())
        }

        fn set_rate_cuts(&mut self, cuts: &[u64]) -> $crate::error::Result<()> {
            self.rates.cuts = cuts.to_vec();
            Ok(())
        }

        fn optimizer_state(&mut self) -> $crate::error::Result<$crate::optim::Saved> {
            Ok(self.theta.state.export(&self.opt))
        }

        fn set_optimizer_state(
            &mut self,
            saved: &$crate::optim::Saved,
        ) -> $crate::error::Result<()> {
            self.theta.state.import(&self.opt, saved)
        }
    };
}
pub(crate) use host_param_methods;

/// A CPU backend's parameter block and first-order optimizer state (in
/// `T`), with [`SNAPSHOT_SLOTS`] snapshots of both.
pub(crate) struct ParamSlots<T> {
    pub params: Vec<f32>,
    pub state: State<T>,
    saved: [(Vec<f32>, State<T>); SNAPSHOT_SLOTS],
}

impl<T: Real> ParamSlots<T> {
    pub fn new(params: &[f32], opt: &Optimizer) -> ParamSlots<T> {
        let state = State::new(opt, params.len());
        ParamSlots {
            params: params.to_vec(),
            saved: std::array::from_fn(|_| (params.to_vec(), state.clone())),
            state,
        }
    }

    pub fn snapshot(&mut self, slot: usize) {
        let (params, state) = &mut self.saved[slot];
        params.clone_from(&self.params);
        state.clone_from(&self.state);
    }

    pub fn restore(&mut self, slot: usize) {
        let (params, state) = &self.saved[slot];
        self.params.clone_from(params);
        self.state.clone_from(state);
    }
}

/// The host's CPU as benchmarks report it: its model name, the vector
/// instruction sets it has that matter here, and the build of the cpu
/// backend's block code it runs by default.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    pub model: String,
    /// Of `avx2`, `fma`, `avx512f`, `avx512_fp16`, `avx512_bf16`,
    /// `amx_tile`: those the CPU has.
    pub isa: Vec<String>,
    /// [`Isa::detect`]'s name.
    pub build: String,
}

impl Host {
    /// Read once, from /proc/cpuinfo where there is one.
    pub fn get() -> &'static Host {
        static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
        HOST.get_or_init(|| {
            let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
            let field = |name: &str| {
                info.lines()
                    .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            };
            let flags = field("flags").unwrap_or_default();
            let flags: Vec<&str> = flags.split_whitespace().collect();
            let isa = [
                "avx2",
                "fma",
                "avx512f",
                "avx512_fp16",
                "avx512_bf16",
                "amx_tile",
            ]
            .into_iter()
            .filter(|f| flags.contains(f))
            .map(String::from)
            .collect();
            Host {
                model: field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string()),
                isa,
                build: Isa::detect().name().to_string(),
            }
        })
    }
}
