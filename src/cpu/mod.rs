//! The CPU path. [`reference`](mod@reference) is the plain, obviously right trainer every
//! other backend is checked against; [`ops`] are its building blocks and
//! the GPU kernels' twins, one named after each kernel, to which the tests
//! hold the kernel. [`fast`] is the backend `--backend cpu` runs.

pub mod fast;
mod flush;
pub mod ops;
mod pad;
pub mod reference;
pub mod side;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A restored slot gives back the parameters and the optimizer state
    /// of its snapshot, each slot its own: momentum rerun from a snapshot
    /// retraces the run bit for bit.
    #[test]
    fn a_restored_snapshot_retraces_the_run() {
        use crate::data::Dataset;
        use crate::model::{Activation, Layout, Model};
        use crate::train::Backend;
        let data = Dataset::synthetic(200, 3, 2).unwrap();
        let layout = Layout::new(3, &[6]).unwrap();
        let model = Model::init(layout, Activation::Tanh, 3, vec![], "y".into());
        let opt = Optimizer::Momentum {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        };
        let mut fast = Fast::new(&model, &data, opt, 1).unwrap();
        let mut losses = Vec::new();
        fast.run(3, &mut losses).unwrap();
        fast.snapshot(1).unwrap();
        fast.run(2, &mut losses).unwrap();
        fast.snapshot(2).unwrap();
        fast.run(4, &mut losses).unwrap();
        let after_9 = fast.params().unwrap();
        for (slot, from) in [(1, 3), (2, 5)] {
            fast.restore(slot).unwrap();
            let mut again = Vec::new();
            fast.run(9 - from, &mut again).unwrap();
            assert_eq!(again, losses[from..], "slot {slot}");
            assert_eq!(fast.params().unwrap(), after_9, "slot {slot}");
        }
    }

    /// The host's model name is /proc/cpuinfo's, without the blanks
    /// around it, its instruction sets those the CPU reports, and its
    /// build the one a pass runs by default.
    #[test]
    fn the_host_is_read_from_cpuinfo() {
        let host = Host::get();
        assert_eq!(host.build, Isa::detect().name());
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        if let Some((_, name)) = (info.lines())
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
        {
            assert_eq!(host.model, name.trim());
        }
        #[cfg(target_arch = "x86_64")]
        for flag in ["avx2", "fma", "avx512f"] {
            let detected = match flag {
                "avx2" => std::is_x86_feature_detected!("avx2"),
                "fma" => std::is_x86_feature_detected!("fma"),
                _ => std::is_x86_feature_detected!("avx512f"),
            };
            assert_eq!(host.isa.iter().any(|i| i == flag), detected, "{flag}");
        }
    }
}
