//! The WGSL kernels: named by [`Kernel`], taken from `shaders/` at build
//! time, compiled into shader modules once per device by [`Kernels::new`],
//! and built into pipelines on first use.

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::gpu::context::Context;
use crate::gpu::mixed::{self, Products, MIXED_WORKGROUP, TILE};
use crate::model::Activation;
use crate::optim::Optimizer;

/// Rows of the register block each matrix-product invocation owns; the WGSL `ROWS`.
pub const BLOCK_ROWS: u32 = 8;
/// Columns of that block; the WGSL `COLS`.
pub const BLOCK_COLS: u32 = 4;
/// Invocations per workgroup, every kernel but the fused ones; the WGSL `LINEAR`.
pub const LINEAR_WORKGROUP: u32 = 64;
/// Invocations per workgroup of the fused kernels; the WGSL `FUSED`. Also
/// the most hidden units they take.
pub const FUSED_WORKGROUP: u32 = 256;
/// Most inputs the fused kernels take; 4 × the WGSL `MAX_F4`.
pub const FUSED_MAX_INPUTS: u32 = 32;
/// The fused kernels' workgroup arrays: vec4s of the x tile, products a·w2
/// of the tile, and rows per tile; the WGSL `X_CAP`, `PROD_CAP`, `MAX_TILE`.
pub const FUSED_X_CAP: u32 = 256;
pub const FUSED_PROD_CAP: u32 = 2048;
pub const FUSED_MAX_TILE: u32 = 64;
/// The tiled forward's output tile (rows × outputs) and its step along
/// the inputs; the WGSL `TM`, `TN`, `TK`. 256 invocations, 4 × 4 outputs each.
pub const TILED_M: u32 = 64;
pub const TILED_N: u32 = 64;
pub const TILED_K: u32 = 16;
pub const TILED_WORKGROUP: u32 = 256;
/// Partials rows one reduce invocation adds; the WGSL `FAN`.
pub const REDUCE_FAN: u32 = 32;

const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// The WGSL files, one per kernel family; the variants are their entry
/// points. Indexes [`SOURCES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Dense,
    Output,
    Grad,
    Update,
    Synth,
    Fused,
    /// The mixed-precision kernels (shaders/mixed.wgsl): compiled only on a
    /// device opened for `--precision mixed`, from [`mixed::source`].
    Mixed,
}

impl Family {
    /// The families every device compiles, in declaration order, the
    /// order of [`SOURCES`]; not [`Family::Mixed`].
    pub const ALL: [Family; 6] = [
        Family::Dense,
        Family::Output,
        Family::Grad,
        Family::Update,
        Family::Synth,
        Family::Fused,
    ];

    /// The file's name and its source, the shared prelude prepended; for
    /// the families of [`Family::ALL`] (the mixed kernels' source depends
    /// on the adapter: [`mixed::source`]).
    pub fn source(self) -> (&'static str, &'static str) {
        *SOURCES
            .get(self as usize)
            .expect("Family::Mixed's source comes from mixed::source")
    }
}

/// Each kernel family's source, with the shared prelude prepended, in the
/// order of [`Family`].
pub const SOURCES: [(&str, &str); 6] = [
    (
        "dense.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/dense.wgsl")
        ),
    ),
    (
        "output.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/output.wgsl")
        ),
    ),
    (
        "grad.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/grad.wgsl")
        ),
    ),
    (
        "update.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/update.wgsl")
        ),
    ),
    (
        "synth.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/synth.wgsl")
        ),
    ),
    (
        "fused.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/fused.wgsl")
        ),
    ),
];

/// Every compute kernel, by what it does. Each is held to its CPU twin in
/// `cpu::ops`, named after its entry point (less the activation and
/// `_tiled`), by the tests named with it: in tests/gpu_vs_cpu.rs on fixed
/// shapes, in tests/kernel_props.rs on drawn ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// A_out = σ(A_in·Wᵀ + b). Twin: `ops::forward` with sigmoid; tested by
    /// `gpu_vs_cpu::forward_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    ForwardSigmoid,
    /// A_out = tanh(A_in·Wᵀ + b). Twin: `ops::forward` with tanh; tested by
    /// `gpu_vs_cpu::forward_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    ForwardTanh,
    /// Δ = (D·W) ⊙ σ′. Twin: `ops::backprop` with sigmoid; tested by
    /// `gpu_vs_cpu::backprop_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    BackpropSigmoid,
    /// Δ = (D·W) ⊙ tanh′. Twin: `ops::backprop` with tanh; tested by
    /// `gpu_vs_cpu::backprop_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    BackpropTanh,
    /// ŷ, r = (2/N)(ŷ − y), and Σe² per row group. Twin: `ops::output_residual`; tested by
    /// `gpu_vs_cpu::output_residual_and_loss_partials_match_twin`.
    OutputResidual,
    /// Dᵀ·A_prev per row group. Twin: `ops::weight_grad`; tested by
    /// `gpu_vs_cpu::weight_and_bias_gradient_partials_match_twin` and
    /// `kernel_props::gradient_partials_match_their_twins`.
    WeightGrad,
    /// Σₙ D per row group. Twin: `ops::bias_grad`; tested by
    /// `gpu_vs_cpu::weight_and_bias_gradient_partials_match_twin` and
    /// `kernel_props::gradient_partials_match_their_twins`.
    BiasGrad,
    /// Pairwise sums of FAN partials rows at a time. Twin: `ops::reduce`; tested by
    /// `gpu_vs_cpu::reduce_matches_twin` (and, exactly, by
    /// `gpu_vs_cpu::dispatch_past_65535_workgroups_uses_a_2d_grid`).
    Reduce,
    /// The last sums, θ ← θ − α·g, and the loss into the history. Twin: `ops::reduce_update` with
    /// gd; tested by `gpu_vs_cpu::reduce_sgd_and_eval_match_twin`.
    ReduceSgd,
    /// The last sums, the momentum step (v ← μv + g; θ ← θ − αv), the loss. Twin:
    /// `ops::reduce_update` with momentum; tested by `gpu_vs_cpu::reduce_updates_match_twin`.
    ReduceMomentum,
    /// The last sums, the Nesterov step, the loss. Twin: `ops::reduce_update` with nesterov; tested
    /// by `gpu_vs_cpu::reduce_updates_match_twin`.
    ReduceNesterov,
    /// The last sums, the Adam step with the epoch's corrections, the loss (the counter is left to
    /// `CountEpoch`). Twin: `ops::reduce_update` with adam; tested by
    /// `gpu_vs_cpu::reduce_updates_match_twin`.
    ReduceAdam,
    /// Advances the batch's epoch counter after `ReduceAdam`. Twin: `ops::count_epoch`; tested by
    /// `gpu_vs_cpu::reduce_updates_match_twin`.
    CountEpoch,
    /// The last sums' loss into the history, without an update. Twin: `ops::reduce_eval`; tested by
    /// `gpu_vs_cpu::reduce_sgd_and_eval_match_twin`.
    ReduceEval,
    /// The synthetic X and y (docs/spec.md) for a chunk of rows, from the seed. Twin:
    /// `ops::synthesize`; tested by `gpu_vs_cpu::synthesized_data_matches_the_cpu_generator`.
    Synthesize,
    /// One hidden layer of σ: the whole gradient and loss per row group. Twin: `ops::fused` with
    /// sigmoid; tested by `gpu_vs_cpu::fused_gradients_match_twins` and
    /// `kernel_props::fused_gradients_match_their_twins`.
    FusedSigmoid,
    /// One hidden layer of tanh: the whole gradient and loss per row group. Twin: `ops::fused` with
    /// tanh; tested by `gpu_vs_cpu::fused_gradients_match_twins` and
    /// `kernel_props::fused_gradients_match_their_twins`.
    FusedTanh,
    /// A_out = σ(A_in·Wᵀ + b), workgroup-tiled. Twin: `ops::forward` with sigmoid; tested by
    /// `gpu_vs_cpu::forward_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    ForwardTiledSigmoid,
    /// A_out = tanh(A_in·Wᵀ + b), workgroup-tiled. Twin: `ops::forward` with tanh; tested by
    /// `gpu_vs_cpu::forward_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    ForwardTiledTanh,
    /// Dᵀ·A_prev per row group, workgroup-tiled. Twin: `ops::weight_grad`; tested by
    /// `gpu_vs_cpu::weight_and_bias_gradient_partials_match_twin` and
    /// `kernel_props::gradient_partials_match_their_twins`.
    WeightGradTiled,
    /// f16 copy of an f32 matrix, scaled and zero-padded (`--precision
    /// mixed`). Twin: `mixed::round_f16`; tested by `mixed::to_half_matches_twin`.
    ToHalf,
    /// A₁ = σ(X·W₁ᵀ + b₁) on f16 operands with f32 sums (`--precision
    /// mixed`). Twin: `ops::forward` on f16-rounded operands; tested by
    /// `mixed::products_match_their_f64_twins`.
    ForwardCoopSigmoid,
    /// A₁ = tanh(X·W₁ᵀ + b₁), the same.
    ForwardCoopTanh,
    /// Δ₁ᵀ·X per row group on f16 operands with f32 sums (`--precision
    /// mixed`). Twin: `ops::weight_grad` on f16-rounded operands; tested by
    /// `mixed::products_match_their_f64_twins`.
    WeightGradCoop,
}

impl Kernel {
    pub const ALL: [Kernel; 24] = [
        Kernel::ForwardSigmoid,
        Kernel::ForwardTanh,
        Kernel::BackpropSigmoid,
        Kernel::BackpropTanh,
        Kernel::OutputResidual,
        Kernel::WeightGrad,
        Kernel::BiasGrad,
        Kernel::Reduce,
        Kernel::ReduceSgd,
        Kernel::ReduceMomentum,
        Kernel::ReduceNesterov,
        Kernel::ReduceAdam,
        Kernel::CountEpoch,
        Kernel::ReduceEval,
        Kernel::Synthesize,
        Kernel::FusedSigmoid,
        Kernel::FusedTanh,
        Kernel::ForwardTiledSigmoid,
        Kernel::ForwardTiledTanh,
        Kernel::WeightGradTiled,
        Kernel::ToHalf,
        Kernel::ForwardCoopSigmoid,
        Kernel::ForwardCoopTanh,
        Kernel::WeightGradCoop,
    ];

    pub fn forward(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::ForwardSigmoid,
            Activation::Tanh => Kernel::ForwardTanh,
        }
    }

    pub fn backprop(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::BackpropSigmoid,
            Activation::Tanh => Kernel::BackpropTanh,
        }
    }

    pub fn forward_tiled(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::ForwardTiledSigmoid,
            Activation::Tanh => Kernel::ForwardTiledTanh,
        }
    }

    pub fn forward_coop(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::ForwardCoopSigmoid,
            Activation::Tanh => Kernel::ForwardCoopTanh,
        }
    }

    pub fn fused(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::FusedSigmoid,
            Activation::Tanh => Kernel::FusedTanh,
        }
    }

    /// The file that holds this kernel.
    pub fn family(self) -> Family {
        match self {
            Kernel::ForwardSigmoid
            | Kernel::ForwardTanh
            | Kernel::ForwardTiledSigmoid
            | Kernel::ForwardTiledTanh
            | Kernel::BackpropSigmoid
            | Kernel::BackpropTanh => Family::Dense,
            Kernel::OutputResidual => Family::Output,
            Kernel::WeightGrad | Kernel::WeightGradTiled | Kernel::BiasGrad => Family::Grad,
            Kernel::Reduce
            | Kernel::ReduceSgd
            | Kernel::ReduceMomentum
            | Kernel::ReduceNesterov
            | Kernel::ReduceAdam
            | Kernel::CountEpoch
            | Kernel::ReduceEval => Family::Update,
            Kernel::Synthesize => Family::Synth,
            Kernel::FusedSigmoid | Kernel::FusedTanh => Family::Fused,
            Kernel::ToHalf
            | Kernel::ForwardCoopSigmoid
            | Kernel::ForwardCoopTanh
            | Kernel::WeightGradCoop => Family::Mixed,
        }
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::ForwardSigmoid => "forward_sigmoid",
            Kernel::ForwardTanh => "forward_tanh",
            Kernel::BackpropSigmoid => "backprop_sigmoid",
            Kernel::BackpropTanh => "backprop_tanh",
            Kernel::OutputResidual => "output_residual",
            Kernel::WeightGrad => "weight_grad",
            Kernel::BiasGrad => "bias_grad",
            Kernel::Reduce => "reduce",
            Kernel::ReduceSgd => "reduce_sgd",
            Kernel::ReduceMomentum => "reduce_momentum",
            Kernel::ReduceNesterov => "reduce_nesterov",
            Kernel::ReduceAdam => "reduce_adam",
            Kernel::CountEpoch => "count_epoch",
            Kernel::ReduceEval => "reduce_eval",
            Kernel::Synthesize => "synthesize",
            Kernel::FusedSigmoid => "fused_sigmoid",
            Kernel::FusedTanh => "fused_tanh",
            Kernel::ForwardTiledSigmoid => "forward_tiled_sigmoid",
            Kernel::ForwardTiledTanh => "forward_tiled_tanh",
            Kernel::WeightGradTiled => "weight_grad_tiled",
            Kernel::ToHalf => "to_half",
            // One entry point; the pipeline's ACT constant picks the activation.
            Kernel::ForwardCoopSigmoid | Kernel::ForwardCoopTanh => "forward_coop",
            Kernel::WeightGradCoop => "weight_grad_coop",
        }
    }

    /// The bindings of group 0 the kernel uses, in the order
    /// [`Kernels::bind_group`] takes its buffers. Binding 0 is the uniform
    /// [`Params`]; the output comes last.
    pub fn bindings(self) -> &'static [u32] {
        match self {
            Kernel::ForwardSigmoid
            | Kernel::ForwardTanh
            | Kernel::ForwardTiledSigmoid
            | Kernel::ForwardTiledTanh => &[0, 1, 2, 4],
            Kernel::BackpropSigmoid | Kernel::BackpropTanh => &[0, 1, 2, 3, 4],
            Kernel::OutputResidual => &[0, 1, 2, 3, 4, 5],
            Kernel::WeightGrad | Kernel::WeightGradTiled => &[0, 1, 2, 3],
            Kernel::BiasGrad => &[0, 1, 3],
            Kernel::Reduce => &[0, 1, 2],
            Kernel::ReduceSgd => &[0, 1, 2, 3, 4],
            Kernel::ReduceMomentum | Kernel::ReduceNesterov => &[0, 1, 2, 3, 4, 5],
            Kernel::ReduceAdam => &[0, 1, 2, 3, 4, 5, 6],
            Kernel::CountEpoch => &[4],
            Kernel::ReduceEval => &[0, 1, 3, 4],
            Kernel::Synthesize => &[0, 1, 2],
            Kernel::FusedSigmoid | Kernel::FusedTanh => &[0, 1, 2, 3, 4],
            Kernel::ToHalf => &[0, 1, 2],
            Kernel::ForwardCoopSigmoid | Kernel::ForwardCoopTanh => &[0, 3, 4, 5, 6],
            Kernel::WeightGradCoop => &[0, 3, 4, 6],
        }
    }

    /// Invocations per workgroup.
    pub fn workgroup_size(self) -> u32 {
        match self {
            Kernel::FusedSigmoid | Kernel::FusedTanh => FUSED_WORKGROUP,
            Kernel::CountEpoch => 1,
            Kernel::ForwardTiledSigmoid | Kernel::ForwardTiledTanh | Kernel::WeightGradTiled => {
                TILED_WORKGROUP
            }
            Kernel::ToHalf
            | Kernel::ForwardCoopSigmoid
            | Kernel::ForwardCoopTanh
            | Kernel::WeightGradCoop => MIXED_WORKGROUP,
            _ => LINEAR_WORKGROUP,
        }
    }

    /// Workgroups one dispatch of this kernel needs for `p`.
    pub fn workgroups(self, p: &Params) -> u64 {
        let up = |a: u32, b: u32| u64::from(a.div_ceil(b.max(1)));
        let groups = up(p.rows, p.group_rows);
        match self {
            Kernel::ForwardSigmoid | Kernel::ForwardTanh => {
                up(p.outputs, BLOCK_COLS) * up(p.rows, BLOCK_ROWS * LINEAR_WORKGROUP)
            }
            Kernel::BackpropSigmoid | Kernel::BackpropTanh => {
                up(p.inputs, BLOCK_COLS) * up(p.rows, BLOCK_ROWS * LINEAR_WORKGROUP)
            }
            Kernel::OutputResidual => groups,
            Kernel::WeightGrad => (groups * up(p.outputs, BLOCK_COLS) * up(p.inputs, BLOCK_ROWS))
                .div_ceil(LINEAR_WORKGROUP.into()),
            Kernel::BiasGrad => (groups * u64::from(p.outputs)).div_ceil(LINEAR_WORKGROUP.into()),
            Kernel::Reduce => {
                (u64::from(p.len) * up(p.count, REDUCE_FAN)).div_ceil(LINEAR_WORKGROUP.into())
            }
            Kernel::ReduceSgd
            | Kernel::ReduceMomentum
            | Kernel::ReduceNesterov
            | Kernel::ReduceAdam => up(p.len, LINEAR_WORKGROUP),
            Kernel::CountEpoch => 1,
            Kernel::ReduceEval => 1,
            Kernel::Synthesize => up(p.rows, LINEAR_WORKGROUP),
            Kernel::FusedSigmoid | Kernel::FusedTanh => groups,
            Kernel::ForwardTiledSigmoid | Kernel::ForwardTiledTanh => {
                up(p.rows, TILED_M) * up(p.outputs, TILED_N)
            }
            Kernel::WeightGradTiled => groups * up(p.outputs, TILED_M) * up(p.inputs, TILED_N),
            // The mixed kernels' len and count are the padded widths.
            Kernel::ToHalf => {
                (u64::from(p.count) * u64::from(p.len)).div_ceil(MIXED_WORKGROUP.into())
            }
            Kernel::ForwardCoopSigmoid | Kernel::ForwardCoopTanh => {
                up(p.rows, TILE) * up(p.count, TILE)
            }
            Kernel::WeightGradCoop => groups * up(p.count, TILE) * up(p.len, TILE),
        }
    }
}

/// The uniform block every kernel reads at binding 0; the WGSL `Params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    pub rows: u32,
    pub inputs: u32,
    pub outputs: u32,
    pub w_off: u32,
    pub b_off: u32,
    pub group_rows: u32,
    pub group_base: u32,
    pub stride: u32,
    pub len: u32,
    pub count: u32,
    pub dst_off: u32,
    pub _pad0: u32,
    pub scale: f32,
    pub lr: f32,
    pub momentum: f32,
    pub beta2: f32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub first_lo: u32,
    pub first_hi: u32,
    pub eps: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub _pad1: f32,
}

impl Params {
    /// The reduce kernels' block: `len` columns of `count` rows `stride`
    /// apart, each sum times `scale`; reduce_sgd steps by `lr`.
    pub fn reduce(len: usize, count: usize, stride: usize, scale: f32, lr: f32) -> Params {
        Params {
            len: len as u32,
            count: count as u32,
            stride: stride as u32,
            scale,
            lr,
            ..Params::default()
        }
    }

    /// The last reduce's block for `opt`: as [`Params::reduce`], with the
    /// optimizer's settings in f32 (1 − β rounded once from f64).
    pub fn update(len: usize, count: usize, stride: usize, opt: &Optimizer) -> Params {
        let mut p = Params::reduce(len, count, stride, 1.0, opt.lr() as f32);
        match *opt {
            Optimizer::Momentum { momentum, .. } | Optimizer::Nesterov { momentum, .. } => {
                p.momentum = momentum as f32;
            }
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => {
                p.momentum = beta1 as f32;
                p.beta2 = beta2 as f32;
                p.eps = eps as f32;
                p.one_minus_beta1 = (1.0 - beta1) as f32;
                p.one_minus_beta2 = (1.0 - beta2) as f32;
            }
            Optimizer::Gd { .. } | Optimizer::Lbfgs { .. } => {}
        }
        p
    }

    /// The synthesize kernel's block: `rows` rows of `features` values, the
    /// first of them value number `first` of the whole data set.
    pub fn synthesize(rows: usize, features: usize, seed: u64, first: u64) -> Params {
        Params {
            rows: rows as u32,
            inputs: features as u32,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
            first_lo: first as u32,
            first_hi: (first >> 32) as u32,
            ..Params::default()
        }
    }
}

/// The override constants of a fused pipeline: the network's widths and
/// the tile they allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedShape {
    pub inputs: u32,
    pub hidden: u32,
    /// `hidden` rounded up to a power of two: invocations per lane.
    pub hb: u32,
    /// Rows per tile: a power of two within the workgroup arrays.
    pub tile: u32,
}

impl FusedShape {
    /// The shape for one hidden layer of `hidden` units over `inputs`
    /// inputs; `None` where the fused kernels do not take it.
    pub fn new(inputs: usize, hidden: usize) -> Option<FusedShape> {
        let ok = |v: usize, max: u32| (1..=max as usize).contains(&v);
        if !ok(inputs, FUSED_MAX_INPUTS) || !ok(hidden, FUSED_WORKGROUP) {
            return None;
        }
        let (inputs, hidden) = (inputs as u32, hidden as u32);
        let hb = hidden.next_power_of_two();
        let fit = (FUSED_PROD_CAP / hb)
            .min(FUSED_X_CAP / inputs.div_ceil(4))
            .min(FUSED_MAX_TILE);
        // The largest power of two that fits.
        let tile = 1 << fit.ilog2();
        Some(FusedShape {
            inputs,
            hidden,
            hb,
            tile,
        })
    }

    fn constants(&self) -> [(&'static str, f64); 5] {
        [
            ("F", f64::from(self.inputs)),
            ("F4", f64::from(self.inputs.div_ceil(4))),
            ("H", f64::from(self.hidden)),
            ("HB", f64::from(self.hb)),
            ("TILE", f64::from(self.tile)),
        ]
    }
}

/// The grid for `workgroups` workgroups: one row while it fits in
/// `max_per_dim`, else rows of `max_per_dim`. Kernels recover the linear
/// index as x + y·(workgroups in x) and skip the overhang.
pub fn grid(workgroups: u32, max_per_dim: u32) -> (u32, u32) {
    if workgroups <= max_per_dim {
        (workgroups.max(1), 1)
    } else {
        (max_per_dim, workgroups.div_ceil(max_per_dim))
    }
}

/// Every shader module, compiled when the device opens, and every pipeline,
/// built on first use and kept: a trainer builds the few its epoch needs,
/// since building all of them up front is a large share of a short run's
/// start-up on lavapipe (figures in BENCHMARKS.md).
pub struct Kernels {
    modules: Vec<wgpu::ShaderModule>,
    pipelines: Vec<OnceLock<wgpu::ComputePipeline>>,
    max_per_dim: u32,
}

impl Kernels {
    /// Compiles every family's module, and the mixed kernels' where `ctx`
    /// was opened for `--precision mixed`.
    pub fn new(ctx: &Context) -> Result<Kernels> {
        let compile = |name: &str, source: std::borrow::Cow<'_, str>| {
            ctx.scoped(name, || {
                ctx.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(source),
                    })
            })
        };
        let mut modules = Family::ALL
            .iter()
            .map(|f| {
                let (name, source) = f.source();
                compile(name, source.into())
            })
            .collect::<Result<Vec<_>>>()?;
        // Family::Mixed is last: its module, where there is one, follows.
        if let Some(products) = ctx.mixed {
            modules.push(compile("mixed.wgsl", mixed::source(products).into())?);
        }
        Ok(Kernels {
            modules,
            pipelines: Kernel::ALL.iter().map(|_| OnceLock::new()).collect(),
            max_per_dim: ctx.limits.max_compute_workgroups_per_dimension,
        })
    }

    /// The fused kernel for `act`, specialised to `shape`.
    pub fn fused(
        &self,
        ctx: &Context,
        act: Activation,
        shape: &FusedShape,
    ) -> Result<wgpu::ComputePipeline> {
        build(ctx, &self.modules, Kernel::fused(act), &shape.constants())
    }

    /// `k`'s pipeline (the fused kernels with their default constants),
    /// built on the first call.
    pub fn pipeline(&self, ctx: &Context, k: Kernel) -> Result<&wgpu::ComputePipeline> {
        // ALL lists the variants in declaration order (tested below).
        let cell = &self.pipelines[k as usize];
        if let Some(p) = cell.get() {
            return Ok(p);
        }
        let built = build(ctx, &self.modules, k, &[])?;
        Ok(cell.get_or_init(|| built))
    }

    /// A bind group for `k`'s pipeline over `buffers`, in the order of
    /// [`Kernel::bindings`].
    pub fn bind_group(
        &self,
        ctx: &Context,
        k: Kernel,
        label: &str,
        buffers: &[wgpu::BindingResource<'_>],
    ) -> Result<wgpu::BindGroup> {
        bind_group(ctx, self.pipeline(ctx, k)?, k, label, buffers)
    }

    /// Records `pipeline` over `workgroups` workgroups (a 2D grid past the
    /// per-dimension limit); see [`Kernel::workgroups`].
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        pipeline: &wgpu::ComputePipeline,
        bind_group: &wgpu::BindGroup,
        workgroups: u32,
    ) {
        let (x, y) = grid(workgroups, self.max_per_dim);
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }
}

/// A bind group for `pipeline`, which runs kernel `k`, over `buffers` in
/// the order of [`Kernel::bindings`]. Pipelines with derived layouts each
/// need their own.
pub fn bind_group(
    ctx: &Context,
    pipeline: &wgpu::ComputePipeline,
    k: Kernel,
    label: &str,
    buffers: &[wgpu::BindingResource<'_>],
) -> Result<wgpu::BindGroup> {
    assert_eq!(
        buffers.len(),
        k.bindings().len(),
        "{k:?} takes {} bindings",
        k.bindings().len()
    );
    let entries: Vec<wgpu::BindGroupEntry> = k
        .bindings()
        .iter()
        .zip(buffers)
        .map(|(&binding, resource)| wgpu::BindGroupEntry {
            binding,
            resource: resource.clone(),
        })
        .collect();
    ctx.scoped(label, || {
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    })
}

fn build(
    ctx: &Context,
    modules: &[wgpu::ShaderModule],
    k: Kernel,
    constants: &[(&str, f64)],
) -> Result<wgpu::ComputePipeline> {
    let module = modules.get(k.family() as usize).ok_or_else(|| {
        Error::NoMixed(format!(
            "{} runs only on a device opened for mixed precision",
            k.entry_point()
        ))
    })?;
    let mut constants = constants.to_vec();
    if let Some(products) = ctx.mixed.filter(|_| k.family() == Family::Mixed) {
        constants.extend(mixed_constants(products, k, ctx.info.subgroup_max_size));
    }
    let constants = &constants[..];
    ctx.scoped(k.entry_point(), || {
        ctx.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.entry_point()),
                layout: None,
                module,
                entry_point: Some(k.entry_point()),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    // Every kernel writes its workgroup memory before reading it.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
    })
}

/// The mixed kernels' pipeline constants: the block loop's trips, and the
/// forward's activation.
fn mixed_constants(products: Products, k: Kernel, subgroup_max: u32) -> [(&'static str, f64); 2] {
    let act = match k {
        Kernel::ForwardCoopTanh => ACT_TANH,
        _ => ACT_SIGMOID,
    };
    [
        ("TRIPS", f64::from(mixed::trips(products, subgroup_max))),
        ("ACT", f64::from(act)),
    ]
}

/// The WGSL `ACT_SIGMOID` and `ACT_TANH`.
const ACT_SIGMOID: u32 = 0;
const ACT_TANH: u32 = 1;

/// The shared WGSL prelude, for tests that check its constants.
pub fn common_source() -> &'static str {
    COMMON
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_is_a_multiple_of_16_bytes() {
        assert_eq!(std::mem::size_of::<Params>() % 16, 0);
        assert_eq!(std::mem::size_of::<Params>(), 96);
    }

    #[test]
    fn all_is_in_declaration_order() {
        for (i, k) in Kernel::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        for (i, f) in Family::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }

    #[test]
    fn grid_covers_every_workgroup() {
        assert_eq!(grid(0, 65_535), (1, 1));
        assert_eq!(grid(65_535, 65_535), (65_535, 1));
        assert_eq!(grid(65_536, 65_535), (65_535, 2));
        let (x, y) = grid(1_000_000, 65_535);
        assert!(x * y >= 1_000_000 && x * (y - 1) < 1_000_000);
    }
}
