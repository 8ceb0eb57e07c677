//! The WGSL kernels: named by [`Kernel`], taken from `shaders/` at build
//! time, compiled into shader modules once per device by [`Kernels::new`],
//! and built into pipelines on first use.

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::gpu::context::Context;
use crate::gpu::mixed::{self, CoopBlocks, Products, MIXED_WORKGROUP, TILE};
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
/// The fused kernels' workgroup arrays: vec4s of the x tile, the tile's
/// activations (TILE × HB), and rows per tile; the WGSL `X_CAP`, `PROD_CAP`, `MAX_TILE`.
pub const FUSED_X_CAP: u32 = 256;
pub const FUSED_PROD_CAP: u32 = 2048;
pub const FUSED_MAX_TILE: u32 = 64;
/// The tiled forward's output tile (rows × outputs) and its step along
/// the inputs; the WGSL `TM`, `TN`, `TK`. 256 invocations, 4 × 4 outputs each.
pub const TILED_M: u32 = 64;
pub const TILED_N: u32 = 64;
pub const TILED_K: u32 = 16;
pub const TILED_WORKGROUP: u32 = 256;
/// The wide products' output tile (rows × columns: A₁'s rows × units, or
/// ∂W₁'s units × inputs) and their step along the sum; the WGSL `WM`,
/// `WN`, `WK` of wide.wgsl. [`TILED_WORKGROUP`] invocations, 8 × 8 outputs
/// each, two stages of both operands in workgroup memory:
/// [`WIDE_WORKGROUP_BYTES`].
pub const WIDE_M: u32 = 128;
pub const WIDE_N: u32 = 128;
pub const WIDE_K: u32 = 8;
/// Workgroup memory the wide products declare at the default step: 2
/// stages × (WM + WN) × WK f32s, which their epilogues reuse. WebGPU's
/// default `max_compute_workgroup_storage_size`, what [`Context::open`]
/// asks for unless `SHADERTRAIN_WIDE_STEP` is 16.
pub const WIDE_WORKGROUP_BYTES: u32 = wide_workgroup_bytes(WIDE_K);

/// The wide products' workgroup memory at a step of `step` along the sum.
pub const fn wide_workgroup_bytes(step: u32) -> u32 {
    2 * (WIDE_M + WIDE_N) * step * 4
}

/// The steps along the sum the wide products may take ([`WIDE_K`], the
/// default, or 16: half the barriers, and twice the workgroup memory).
pub const WIDE_STEPS: [u32; 2] = [8, 16];

/// The variable that sets the wide products' step for a run, so a session
/// on a GPU can measure both without a rebuild.
pub const WIDE_STEP_VARIABLE: &str = "SHADERTRAIN_WIDE_STEP";

/// The step [`WIDE_STEP_VARIABLE`] names, else [`WIDE_K`].
pub fn wide_step_from_env() -> Result<u32> {
    parse_wide_step(crate::gpu::context::env_setting(WIDE_STEP_VARIABLE)?.as_deref())
}

/// [`wide_step_from_env`] from the variable's value: unset or empty is
/// the default.
pub fn parse_wide_step(value: Option<&str>) -> Result<u32> {
    const _: () = assert!(WIDE_STEPS[0] == WIDE_K);
    crate::gpu::context::one_of(
        WIDE_STEP_VARIABLE,
        value,
        &WIDE_STEPS,
        "the wide products' step along the sum",
    )
}

/// wide.wgsl with its step along the sum `step` (one of [`WIDE_STEPS`]):
/// the source [`SOURCES`] holds at [`WIDE_K`], its `WK` line rewritten
/// otherwise. The staging and every stage size follow from `WK`.
pub fn wide_source(step: u32) -> Result<String> {
    let (_, source) = Family::Wide.source();
    let line = |k: u32| format!("\nconst WK: u32 = {k}u;\n");
    if !WIDE_STEPS.contains(&step) || source.matches(&line(WIDE_K)).count() != 1 {
        return Err(Error::Config(format!(
            "wide.wgsl: no step of {step} (steps: {WIDE_STEPS:?})"
        )));
    }
    Ok(source.replacen(&line(WIDE_K), &line(step), 1))
}
/// Partials rows one reduce invocation adds; the WGSL `FAN`.
pub const REDUCE_FAN: u32 = 32;

/// Gradient values whose squares one `clip_squares` workgroup adds.
/// Mirrors CLIP_SPAN in shaders/update.wgsl.
pub const CLIP_SPAN: usize = 1024;

/// `clip_squares`' spans for a summed row of `width` values (the
/// gradient, then its loss): the sums that follow the clip factor.
pub fn clip_spans(width: usize) -> usize {
    width.saturating_sub(1).div_ceil(CLIP_SPAN)
}

/// The length of a trainer's summed-gradient buffer for `p` parameters:
/// the row (the gradient, then its loss), the clip factor after it, and
/// `clip_squares`' sums after that.
pub fn grad_len(p: usize) -> usize {
    p + 2 + clip_spans(p + 1)
}
/// Per-epoch (per-update, in mini-batches) factors the update kernels read
/// from `corrections` ([`Params::factors`]). Mirrored by FACTORS in
/// shaders/update.wgsl.
pub const FACTORS: usize = 3;

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
    /// output.wgsl's kernels and their subgroup variant
    /// (output_subgroup.wgsl, which uses subgroup built-ins).
    OutputSubgroup,
    /// The wide epoch of one hidden layer (wide.wgsl).
    Wide,
    /// The mixed-precision kernels (shaders/mixed.wgsl): compiled only on a
    /// device opened for `--precision mixed`, from [`mixed::source`].
    Mixed,
}

impl Family {
    /// The families with a fixed source, in declaration order, the order
    /// of [`SOURCES`]; not [`Family::Mixed`].
    pub const ALL: [Family; 8] = [
        Family::Dense,
        Family::Output,
        Family::Grad,
        Family::Update,
        Family::Synth,
        Family::Fused,
        Family::OutputSubgroup,
        Family::Wide,
    ];

    /// Whether the family's module needs subgroups: a device opened with
    /// `wgpu::Features::SUBGROUP`, and them not turned off
    /// ([`Context::subgroups`](crate::gpu::Context::subgroups)).
    pub fn needs_subgroups(self) -> bool {
        self == Family::OutputSubgroup
    }

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
pub const SOURCES: [(&str, &str); 8] = [
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
    (
        "output_subgroup.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/output.wgsl"),
            include_str!("../../shaders/output_subgroup.wgsl")
        ),
    ),
    (
        "wide.wgsl",
        concat!(
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/wide.wgsl")
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
    /// Δ = (r·wᵀ) ⊙ σ′ for a layer of one output, an invocation per column
    /// of 8 rows; the same bits as `BackpropSigmoid`. Twin: `ops::backprop` with sigmoid; tested
    /// by `gpu_vs_cpu::backprop_matches_twin` and
    /// `kernel_props::forward_and_backprop_match_their_twins`.
    BackpropOutputSigmoid,
    /// Δ = (r·wᵀ) ⊙ tanh′ for a layer of one output, an invocation per
    /// column of 8 rows; the same bits as `BackpropTanh`. Twin and tests as `BackpropOutputSigmoid`.
    BackpropOutputTanh,
    /// ŷ, r = (2/N)(ŷ − y), and Σe²/N per row group. Twin: `ops::output_residual`; tested by
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
    /// The last sums, θ ← θ − α·g, and the loss into the history (α from the per-epoch factors
    /// when scheduled). Twin: `ops::reduce_update` with gd; tested by
    /// `gpu_vs_cpu::reduce_sgd_and_eval_match_twin` and `gpu_vs_cpu::reduce_updates_match_twin`.
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
    /// Advances the batch's epoch counter after `ReduceAdam` or a scheduled update. Twin:
    /// `ops::count_epoch`; tested by `gpu_vs_cpu::reduce_updates_match_twin`.
    CountEpoch,
    /// The last sums' loss into the history, without an update. Twin: `ops::reduce_eval`; tested by
    /// `gpu_vs_cpu::reduce_sgd_and_eval_match_twin`.
    ReduceEval,
    /// `--clip-grad-norm`: the squares of the summed gradient, added per span of CLIP_SPAN values,
    /// for `ClipNorm`. Tested with it by `gpu_vs_cpu::clip_norm_matches_twin`.
    ClipSquares,
    /// `--clip-grad-norm`: clip_grad_norm_'s factor min(1, c/(‖g‖ + 10⁻⁶)) from the spans' sums of
    /// squares, stored after the gradient's loss for the update kernels. Twin: `ops::clip_norm`;
    /// tested by `gpu_vs_cpu::clip_norm_matches_twin`.
    ClipNorm,
    /// The synthetic X and y (docs/spec.md) for a chunk of rows, from the seed. Twin:
    /// `ops::synthesize`; tested by `gpu_vs_cpu::synthesized_data_matches_the_cpu_generator`.
    Synthesize,
    /// A mini-batch's rows of X and y, in the epoch's order, from the whole set. Twin:
    /// `ops::gather_rows`; tested by `gpu_vs_cpu::gathered_rows_match_twin`.
    GatherRows,
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
    /// rᵀ·A_prev per row group for a layer of one output, one invocation
    /// per input; the same bits as `WeightGrad` and `WeightGradTiled`. Twin:
    /// `ops::weight_grad`; tested by
    /// `gpu_vs_cpu::weight_and_bias_gradient_partials_match_twin` and
    /// `kernel_props::gradient_partials_match_their_twins`.
    WeightGradOutput,
    /// ŷ, r and Σe²/N per row group as `OutputResidual`, each row's dot
    /// product split over a subgroup's lanes and Σe² added by subgroups
    /// (the order in shaders/output_subgroup.wgsl); on devices with
    /// subgroups, for output layers of at most
    /// [`SUBGROUP_OUTPUT_MAX_INPUTS`] inputs. Twin: `ops::output_residual`; tested by
    /// `shader_settings::subgroup_and_tree_output_match_twin`.
    OutputResidualSubgroup,
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
    /// [`Kernel::ForwardCoopSigmoid`], and each row's share of ŷ = A₁·w₂
    /// from each tile's 64 units, for `--kernels wide --precision mixed`.
    /// Twin: f64 in the test; tested by
    /// `mixed::products_match_their_f64_twins`.
    ForwardCoopSharesSigmoid,
    /// The same with tanh.
    ForwardCoopSharesTanh,
    /// f16(s·Δ₁) with Δ₁ = (r·w₂) ⊙ σ′(A₁), and ∂b₁, ∂w₂ per row group, for
    /// `--kernels wide --precision mixed`. Twin: f64 in the test; tested by
    /// `mixed::wide_kernels_match_their_twins`.
    DeltaHalfSigmoid,
    /// The same with tanh′.
    DeltaHalfTanh,
    /// The wide epoch (one hidden layer of σ): A₁ = σ(X·W₁ᵀ + b₁),
    /// workgroup-tiled, and each column tile's share of A₁·w₂ᵀ. Twin:
    /// `ops::forward_wide` with sigmoid; tested by
    /// `wide::wide_kernels_match_their_twins` (and the whole epoch by
    /// `wide::wide_gradients_match_the_reference`).
    ForwardWideSigmoid,
    /// The same with tanh. Twin: `ops::forward_wide` with tanh; tested by
    /// `wide::wide_kernels_match_their_twins`.
    ForwardWideTanh,
    /// The wide epoch's output: ŷ from the tiles' shares and b₂, r = (2/N)(ŷ
    /// − y), and per row group Σe²/N and ∂b₂ = Σₙ r (the loss alone where
    /// a partials row is one value). Twin: `ops::output_wide`; tested by
    /// `wide::wide_kernels_match_their_twins`.
    OutputWide,
    /// The wide epoch's gradient (σ): Δ₁ᵀ·X per row group with Δ₁ = (r·w₂) ⊙
    /// σ′(A₁) formed as it is staged, and ∂b₁ = Σₙ Δ₁, ∂w₂ = rᵀ·A₁ by the
    /// input tile 0 workgroups. Twin: `ops::weight_grad_wide` with sigmoid;
    /// tested by `wide::wide_kernels_match_their_twins`.
    WeightGradWideSigmoid,
    /// The same with tanh. Twin: `ops::weight_grad_wide` with tanh; tested
    /// by `wide::wide_kernels_match_their_twins`.
    WeightGradWideTanh,
}

impl Kernel {
    pub const ALL: [Kernel; 40] = [
        Kernel::ForwardSigmoid,
        Kernel::ForwardTanh,
        Kernel::BackpropSigmoid,
        Kernel::BackpropTanh,
        Kernel::BackpropOutputSigmoid,
        Kernel::BackpropOutputTanh,
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
        Kernel::ClipSquares,
        Kernel::ClipNorm,
        Kernel::Synthesize,
        Kernel::GatherRows,
        Kernel::FusedSigmoid,
        Kernel::FusedTanh,
        Kernel::ForwardTiledSigmoid,
        Kernel::ForwardTiledTanh,
        Kernel::WeightGradTiled,
        Kernel::WeightGradOutput,
        Kernel::OutputResidualSubgroup,
        Kernel::ToHalf,
        Kernel::ForwardCoopSigmoid,
        Kernel::ForwardCoopTanh,
        Kernel::WeightGradCoop,
        Kernel::ForwardCoopSharesSigmoid,
        Kernel::ForwardCoopSharesTanh,
        Kernel::DeltaHalfSigmoid,
        Kernel::DeltaHalfTanh,
        Kernel::ForwardWideSigmoid,
        Kernel::ForwardWideTanh,
        Kernel::OutputWide,
        Kernel::WeightGradWideSigmoid,
        Kernel::WeightGradWideTanh,
    ];

    /// The output kernel for an output layer of `inputs` inputs: its
    /// subgroup variant on a device with subgroups where the layer has at
    /// most [`SUBGROUP_OUTPUT_MAX_INPUTS`].
    pub fn output(subgroups: bool, inputs: usize) -> Kernel {
        if subgroups && inputs <= SUBGROUP_OUTPUT_MAX_INPUTS {
            Kernel::OutputResidualSubgroup
        } else {
            Kernel::OutputResidual
        }
    }

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

    /// Backprop through a layer of one output: [`Kernel::backprop`]'s
    /// result, column by column.
    pub fn backprop_output(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::BackpropOutputSigmoid,
            Activation::Tanh => Kernel::BackpropOutputTanh,
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

    pub fn forward_coop_shares(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::ForwardCoopSharesSigmoid,
            Activation::Tanh => Kernel::ForwardCoopSharesTanh,
        }
    }

    pub fn delta_half(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::DeltaHalfSigmoid,
            Activation::Tanh => Kernel::DeltaHalfTanh,
        }
    }

    pub fn fused(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::FusedSigmoid,
            Activation::Tanh => Kernel::FusedTanh,
        }
    }

    pub fn forward_wide(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::ForwardWideSigmoid,
            Activation::Tanh => Kernel::ForwardWideTanh,
        }
    }

    pub fn weight_grad_wide(act: Activation) -> Kernel {
        match act {
            Activation::Sigmoid => Kernel::WeightGradWideSigmoid,
            Activation::Tanh => Kernel::WeightGradWideTanh,
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
            | Kernel::BackpropTanh
            | Kernel::BackpropOutputSigmoid
            | Kernel::BackpropOutputTanh => Family::Dense,
            Kernel::OutputResidual => Family::Output,
            Kernel::WeightGrad
            | Kernel::WeightGradTiled
            | Kernel::WeightGradOutput
            | Kernel::BiasGrad => Family::Grad,
            Kernel::Reduce
            | Kernel::ReduceSgd
            | Kernel::ReduceMomentum
            | Kernel::ReduceNesterov
            | Kernel::ReduceAdam
            | Kernel::CountEpoch
            | Kernel::ReduceEval
            | Kernel::ClipSquares
            | Kernel::ClipNorm => Family::Update,
            Kernel::Synthesize | Kernel::GatherRows => Family::Synth,
            Kernel::FusedSigmoid | Kernel::FusedTanh => Family::Fused,
            Kernel::OutputResidualSubgroup => Family::OutputSubgroup,
            Kernel::ToHalf
            | Kernel::ForwardCoopSigmoid
            | Kernel::ForwardCoopTanh
            | Kernel::WeightGradCoop
            | Kernel::ForwardCoopSharesSigmoid
            | Kernel::ForwardCoopSharesTanh
            | Kernel::DeltaHalfSigmoid
            | Kernel::DeltaHalfTanh => Family::Mixed,
            Kernel::ForwardWideSigmoid
            | Kernel::ForwardWideTanh
            | Kernel::OutputWide
            | Kernel::WeightGradWideSigmoid
            | Kernel::WeightGradWideTanh => Family::Wide,
        }
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::ForwardSigmoid => "forward_sigmoid",
            Kernel::ForwardTanh => "forward_tanh",
            Kernel::BackpropSigmoid => "backprop_sigmoid",
            Kernel::BackpropTanh => "backprop_tanh",
            Kernel::BackpropOutputSigmoid => "backprop_output_sigmoid",
            Kernel::BackpropOutputTanh => "backprop_output_tanh",
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
            Kernel::ClipSquares => "clip_squares",
            Kernel::ClipNorm => "clip_norm",
            Kernel::Synthesize => "synthesize",
            Kernel::GatherRows => "gather_rows",
            Kernel::FusedSigmoid => "fused_sigmoid",
            Kernel::FusedTanh => "fused_tanh",
            Kernel::ForwardTiledSigmoid => "forward_tiled_sigmoid",
            Kernel::ForwardTiledTanh => "forward_tiled_tanh",
            Kernel::WeightGradTiled => "weight_grad_tiled",
            Kernel::WeightGradOutput => "weight_grad_output",
            Kernel::OutputResidualSubgroup => "output_residual_subgroup",
            Kernel::ToHalf => "to_half",
            // One entry point; the pipeline's ACT constant picks the activation.
            Kernel::ForwardCoopSigmoid | Kernel::ForwardCoopTanh => "forward_coop",
            Kernel::WeightGradCoop => "weight_grad_coop",
            Kernel::ForwardCoopSharesSigmoid | Kernel::ForwardCoopSharesTanh => {
                "forward_coop_shares"
            }
            // One entry point; the pipeline's ACT constant picks g′.
            Kernel::DeltaHalfSigmoid | Kernel::DeltaHalfTanh => "delta_half",
            Kernel::ForwardWideSigmoid => "forward_wide_sigmoid",
            Kernel::ForwardWideTanh => "forward_wide_tanh",
            Kernel::OutputWide => "output_wide",
            Kernel::WeightGradWideSigmoid => "weight_grad_wide_sigmoid",
            Kernel::WeightGradWideTanh => "weight_grad_wide_tanh",
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
            Kernel::BackpropSigmoid
            | Kernel::BackpropTanh
            | Kernel::BackpropOutputSigmoid
            | Kernel::BackpropOutputTanh => &[0, 1, 2, 3, 4],
            Kernel::OutputResidual | Kernel::OutputResidualSubgroup => &[0, 1, 2, 3, 4, 5],
            Kernel::WeightGrad | Kernel::WeightGradTiled | Kernel::WeightGradOutput => {
                &[0, 1, 2, 3]
            }
            Kernel::BiasGrad => &[0, 1, 3],
            Kernel::Reduce => &[0, 1, 2],
            Kernel::ReduceSgd => &[0, 1, 2, 3, 4, 6],
            Kernel::ReduceMomentum | Kernel::ReduceNesterov => &[0, 1, 2, 3, 4, 5, 6],
            Kernel::ReduceAdam => &[0, 1, 2, 3, 4, 5, 6],
            Kernel::CountEpoch => &[4],
            Kernel::ReduceEval => &[0, 1, 3, 4],
            Kernel::ClipSquares | Kernel::ClipNorm => &[0, 2],
            Kernel::Synthesize => &[0, 1, 2],
            // the batch's X and y, then the whole set's, the order, the batch counter
            Kernel::GatherRows => &[0, 1, 2, 3, 4, 5, 6],
            Kernel::FusedSigmoid | Kernel::FusedTanh => &[0, 1, 2, 3, 4],
            Kernel::ToHalf => &[0, 1, 2],
            Kernel::ForwardCoopSigmoid | Kernel::ForwardCoopTanh => &[0, 3, 4, 5, 6],
            Kernel::WeightGradCoop => &[0, 3, 4, 6],
            Kernel::ForwardCoopSharesSigmoid | Kernel::ForwardCoopSharesTanh => &[0, 3, 4, 5, 6, 9],
            Kernel::DeltaHalfSigmoid | Kernel::DeltaHalfTanh => &[0, 2, 5, 6, 7, 8],
            // x, theta, a1, yparts
            Kernel::ForwardWideSigmoid | Kernel::ForwardWideTanh => &[0, 1, 2, 4, 5],
            // theta, labels, yparts, residual, partials
            Kernel::OutputWide => &[0, 2, 3, 5, 6, 7],
            // x, theta, a1, residual, partials
            Kernel::WeightGradWideSigmoid | Kernel::WeightGradWideTanh => &[0, 1, 2, 4, 6, 7],
        }
    }

    /// Invocations per workgroup; for the cooperative form of
    /// `forward_coop_*` and `weight_grad_coop`, the default of their
    /// override, which a device replaces with [`mixed::coop_workgroup`],
    /// and for `delta_half` the default of its (`DELTA`: MIXED × the
    /// device's [`Context::delta_slices`]).
    pub fn workgroup_size(self) -> u32 {
        match self {
            Kernel::FusedSigmoid | Kernel::FusedTanh => FUSED_WORKGROUP,
            Kernel::CountEpoch => 1,
            Kernel::ForwardTiledSigmoid
            | Kernel::ForwardTiledTanh
            | Kernel::WeightGradTiled
            | Kernel::ForwardWideSigmoid
            | Kernel::ForwardWideTanh
            | Kernel::WeightGradWideSigmoid
            | Kernel::WeightGradWideTanh => TILED_WORKGROUP,
            Kernel::ToHalf
            | Kernel::ForwardCoopSigmoid
            | Kernel::ForwardCoopTanh
            | Kernel::WeightGradCoop
            | Kernel::ForwardCoopSharesSigmoid
            | Kernel::ForwardCoopSharesTanh
            | Kernel::DeltaHalfSigmoid
            | Kernel::DeltaHalfTanh => MIXED_WORKGROUP,
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
            Kernel::BackpropOutputSigmoid | Kernel::BackpropOutputTanh => {
                (up(p.rows, BLOCK_ROWS) * u64::from(p.inputs)).div_ceil(LINEAR_WORKGROUP.into())
            }
            Kernel::OutputResidual | Kernel::OutputResidualSubgroup => groups,
            Kernel::WeightGrad => (groups * up(p.outputs, BLOCK_COLS) * up(p.inputs, BLOCK_ROWS))
                .div_ceil(LINEAR_WORKGROUP.into()),
            Kernel::BiasGrad => (groups * u64::from(p.outputs)).div_ceil(LINEAR_WORKGROUP.into()),
            Kernel::WeightGradOutput => {
                (groups * u64::from(p.inputs)).div_ceil(LINEAR_WORKGROUP.into())
            }
            Kernel::Reduce => {
                (u64::from(p.len) * up(p.count, REDUCE_FAN)).div_ceil(LINEAR_WORKGROUP.into())
            }
            Kernel::ReduceSgd
            | Kernel::ReduceMomentum
            | Kernel::ReduceNesterov
            | Kernel::ReduceAdam => up(p.len, LINEAR_WORKGROUP),
            Kernel::CountEpoch => 1,
            Kernel::ReduceEval | Kernel::ClipNorm => 1,
            Kernel::ClipSquares => clip_spans(p.len as usize) as u64,
            Kernel::Synthesize | Kernel::GatherRows => up(p.rows, LINEAR_WORKGROUP),
            Kernel::FusedSigmoid | Kernel::FusedTanh => groups,
            Kernel::ForwardTiledSigmoid | Kernel::ForwardTiledTanh => {
                up(p.rows, TILED_M) * up(p.outputs, TILED_N)
            }
            Kernel::WeightGradTiled => groups * up(p.outputs, TILED_M) * up(p.inputs, TILED_N),
            // The mixed kernels' len and count are the padded widths.
            Kernel::ToHalf => {
                (u64::from(p.count) * u64::from(p.len)).div_ceil(MIXED_WORKGROUP.into())
            }
            Kernel::ForwardCoopSigmoid
            | Kernel::ForwardCoopTanh
            | Kernel::ForwardCoopSharesSigmoid
            | Kernel::ForwardCoopSharesTanh => up(p.rows, TILE) * up(p.count, TILE),
            Kernel::WeightGradCoop => groups * up(p.count, TILE) * up(p.len, TILE),
            // count: the padded units, whose padding it zeroes.
            Kernel::DeltaHalfSigmoid | Kernel::DeltaHalfTanh => {
                groups * up(p.count, MIXED_WORKGROUP)
            }
            Kernel::ForwardWideSigmoid | Kernel::ForwardWideTanh => {
                up(p.rows, WIDE_M) * up(p.outputs, WIDE_N)
            }
            Kernel::OutputWide => groups,
            Kernel::WeightGradWideSigmoid | Kernel::WeightGradWideTanh => {
                groups * up(p.outputs, WIDE_M) * up(p.inputs, WIDE_N)
            }
        }
    }
}

/// Whether a kernel's shader module keeps wgpu's runtime checks: bounds
/// checks on every buffer, workgroup-array and vector index, loop bounding,
/// and guards on integer division by zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Checks {
    /// `Device::create_shader_module`: every check on.
    Checked,
    /// `Device::create_shader_module_trusted` with
    /// `ShaderRuntimeChecks::unchecked()`: no checks. Only for kernels whose
    /// every index is proven in range below ([`Kernel::checks`]), given the
    /// lengths [`Kernel::bounds`] asks of their buffers, which
    /// `Step::new` checks on the host before any dispatch is recorded.
    Unchecked,
}

impl Kernel {
    /// Whether `k`'s shader module keeps wgpu's runtime checks: the one
    /// place that decides it. A kernel is [`Checks::Unchecked`] only where
    /// every index it forms is in range for every workgroup id, given the
    /// preconditions and buffer lengths of [`Kernel::bounds`], which
    /// `Step::new` checks on the host for every dispatch it records (the
    /// trainer's, from [`Plan`](crate::gpu::Plan), and the tests' through
    /// `gpu::ops`). `AdapterRequest::checked_shaders`
    /// (`SHADERTRAIN_CHECKED_SHADERS`) forces every module checked.
    ///
    /// The proofs, kernel by kernel. Common to all: no index depends on the
    /// number of workgroups dispatched (2D grids overhang), since each is
    /// clamped or guarded by the uniform block's sizes; WGSL u32 arithmetic
    /// wraps, never traps, and every index expression is at most the
    /// largest index of its buffer (< 2^30 f32s, since a binding is at most
    /// 2^32 bytes), so none wraps; every divisor is one of the sizes
    /// `bounds` requires to be ≥ 1, or a constant; every loop counts up by
    /// a constant ≥ 1 to a bound ≤ a buffer's length (rows ≤ the length of
    /// a (rows, ≥1) buffer), so it ends. r, i, o: rows, inputs, outputs; G
    /// = ⌈r / group_rows⌉ row groups; P(c) = (group_base + G − 1)·stride +
    /// c, the end of the last group's partials row up to column c.
    ///
    /// - `forward_*` (dense.wgsl): block_origin divides by ⌈o/4⌉ ≥ 1.
    ///   Invocations with row0 ≥ r return before `r − 1` is formed. Rows
    ///   are clamped to r − 1 and outputs to o − 1 before they index, so
    ///   lhs[min(row, r−1)·i + k], k < i, is < r·i; theta[w_off + min(o′,
    ///   o−1)·i + k] < w_off + o·i; store_forward writes result[row·o + o′]
    ///   and reads theta[b_off + o′] only for row < r, o′ < o.
    /// - `backprop_*`: the same with i and o swapped in the blocking:
    ///   divides by ⌈i/4⌉ ≥ 1; lhs (D) [min(row, r−1)·o + o′] < r·o;
    ///   theta[w_off + min(i′, i−1) + o′·i] < w_off + o·i; act_in and
    ///   result [row·i + i′] only for row < r, i′ < i.
    /// - `backprop_output_*`: requires o = 1, i ≥ 1 and r·i to fit in u32.
    ///   B = ⌈r/ROWS⌉ row blocks (r + 7 does not wrap: r < 2^30 as the
    ///   length of lhs); id = linear workgroup·64 + lid < (⌈B·i/64⌉ +
    ///   65,535)·64 < 2^31 (a 2D grid overhangs by less than a row of 65,535
    ///   workgroups, and B·i ≤ r·i + i < 2^31), so it does not wrap;
    ///   invocations with id ≥ B·i return, then it divides by i: i′ = id % i
    ///   < i, first = (id / i)·8 < r, rows n < end ≤ r: lhs\[n\] < r,
    ///   theta[w_off + i′] < w_off + i, act_in and result [n·i + i′] < r·i.
    ///   The loop ends at end.
    /// - `forward_tiled_*`: divides by ⌈o/TN⌉ ≥ 1; workgroups with m0 ≥ r
    ///   return (uniformly). a_at and w_at read only inside (r, i) and
    ///   (o, i): lhs < r·i, theta < w_off + o·i. The tiles (256 vec4s):
    ///   invocation t < 256 writes slot + 16q = (lk + q)·16 + lr/4 ≤
    ///   15·16 + 15 = 255 (lk ≤ 12, q ≤ 3, lr = t/4 ≤ 63), component lr % 4 < 4;
    ///   reads k·16 + ty ≤ 255 (k < TK = 16, ty = t/16 ≤ 15).
    /// - `output_residual` (output.wgsl): divides by group_rows ≥ 1;
    ///   workgroups with group ≥ G return, so rows n < end ≤ r; units
    ///   i′ < i, read four at a time by add_products only while i′ + 16 ≤ i
    ///   (so its last, i′ + 15, < i; i′ + 16 cannot wrap, i < 2^30), then
    ///   one at a time while i′ < i:
    ///   act_in[n·i + i′] < r·i, theta[w_off + i′] < w_off + i, theta\[b_off\], labels\[n\]
    ///   and residual\[n\] < r; partials[(group_base + group)·stride + len] <
    ///   P(len + 1). sums\[lid\], sums[lid + half] with lid < half ≤ 32 < 64.
    /// - `output_residual_subgroup` (output_subgroup.wgsl): divides by
    ///   group_rows ≥ 1 and returns for group ≥ G, so first < r and rows n
    ///   < end ≤ r; units u = base + lane are read only where u < i:
    ///   act_in[n·i + u] < r·i, theta[w_off + u] <
    ///   w_off + i, theta\[b_off\], labels\[n\] and residual\[n\] < r; the store
    ///   is store_loss's, as above. Both loops end: n steps by
    ///   num_subgroups ≥ 1 and base by the subgroup's active lanes ≥ 1 (the
    ///   invocation itself), and neither wraps (before a step n < r and
    ///   base < i, both < 2^30 as the lengths of labels and theta, and a step is
    ///   ≤ 128; u = base + lane < i + 128). sums\[lid\] and sums\[t\], lid, t < LINEAR = 64.
    /// - `weight_grad`: divides by ⌈o/4⌉·⌈i/8⌉ ≥ 1 and group_rows ≥ 1;
    ///   returns for group ≥ G, so n < end ≤ r; o′ and i′ are clamped to o −
    ///   1 and i − 1: delta < r·o, act_prev < r·i; stores only o′ < o, i′ <
    ///   i: partials < P(w_off + o·i).
    /// - `weight_grad_tiled`: divides by ⌈o/TM⌉·⌈i/TN⌉ ≥ 1; returns for
    ///   group ≥ G; delta_quad and act_quad read only n < end ≤ r and
    ///   columns < o, < i; the tiles are indexed by t < 256 and k·16 + tx,
    ///   k·16 + ty ≤ 255; stores only o′ < o, i′ < i: partials < P(w_off +
    ///   o·i).
    /// - `weight_grad_output`: requires o = 1, i ≥ 1 and G·i to fit in
    ///   u32; divides by group_rows ≥ 1 and i. id = linear workgroup·64 +
    ///   lid < (⌈G·i/64⌉ + 65,535)·64 < 2^31, since G·i ≤ the partials'
    ///   length < 2^30 (each group's row holds W), so it does not wrap.
    ///   Invocations with id ≥ G·i return, so group < G and i′ < i: rows n
    ///   < end ≤ r, delta\[n\] < r, act_prev[n·i + i′] < r·i; partials[(group_base
    ///   + group)·stride + w_off + i′] < P(w_off + i). The loop ends at end.
    /// - `bias_grad`: returns for id ≥ G·o (which `bounds` requires to fit
    ///   in u32, so it does not wrap); so group < G and o′ < o: delta[n·o +
    ///   o′] < r·o, partials < P(b_off + o).
    /// - `reduce` (update.wgsl): returns for id ≥ len·⌈count/FAN⌉ (required
    ///   to fit in u32), so s < ⌈count/FAN⌉ and i < len:
    ///   source[row·stride + i] only for row < count, so < (count − 1)·stride + len;
    ///   dest[dst_off + s·len + i] < dst_off + ⌈count/FAN⌉·len. The private
    ///   v\[k\], v[2k + 1]: k < FAN, 2k + 1 < 2·width ≤ FAN.
    /// - `forward_wide_*` (wide.wgsl): divides by tiles_n = ⌈o/WN⌉ ≥ 1 (o ≥
    ///   1, and o + WN − 1 fits in u32); workgroups with m0 ≥ r return
    ///   (uniformly). Every global index is guarded by a test of the very
    ///   values it is formed from, so a wrapped m0 + lr or k is still in
    ///   range: x_at reads x[row·i + k] only for row < r, k < i: < r·i;
    ///   w_at theta[w_off + row·i + k] only for row < o, k < i: < w_off +
    ///   o·i; w2_quad theta[dst_off + c] only for c < o; store_a1 reads
    ///   theta[b_off + o′] and writes a1[row·o + o′] only for row < r, o′ <
    ///   o: < b_off + o, < r·o. yparts[share·r + m0 + m] only for m0 + m <
    ///   r and share·TN < o, so share < ⌈o/TN⌉: < ⌈o/TN⌉·r (share ≤ n0/TN +
    ///   1 with n0 ≤ (tiles_n − 1)·WN < o, so share·TN does not wrap). The
    ///   stages (2S vec4s each, S = WIDE_STAGE = WK·32 = PARTS·256, WK 8
    ///   or 16): stage_rows writes base + h·256 + (lk + q)·32 + lr/4 ≤ S +
    ///   (PARTS − 1)·256 + 7·32 + 31 = 2S − 1 (base ≤ S, h < PARTS, lk ≤
    ///   4, q ≤ 3, lr = t/2 ≤ 127), component lr % 4; multiply_step reads
    ///   base + k·32 + 16 + ty (or tx) ≤ S + (WK − 1)·32 + 31 = 2S − 1 (k <
    ///   WK; ty, tx ≤ 15); the epilogue writes m·4 + tx/4 ≤ 127·4 + 3 = 511
    ///   < 2S (m = block_row ≤ 64 + 4·15 + 3 = 127), component tx % 4, and
    ///   reads 4m + j ≤ 511 (m = t % WM, j < 4); the private next\[h\], h <
    ///   PARTS, and q\[j\], j < 4. Loops: s < ⌈i/WK⌉ (a wrapped i + WK − 1
    ///   only shortens it), h < PARTS, j, q < 4, k < WK.
    /// - `output_wide`: divides by group_rows ≥ 1; workgroups with group ≥ G
    ///   return (uniformly), so first = group·group_rows < r and rows n <
    ///   end ≤ r: labels\[n\] and residual\[n\] < r; yparts[tn·r + n] for tn <
    ///   tiles_n ≤ ⌈o/TN⌉ (a wrapped o + TN − 1 only gives fewer): <
    ///   ⌈o/TN⌉·r; theta[dst_off + o] (b2) < dst_off + o + 1;
    ///   partials[(group_base + group)·stride + len] and [… + dst_off + o]
    ///   < P(max(len, dst_off + o) + 1). sums\[lid\], sums[lid + half] with
    ///   lid < half ≤ 32 < 64.
    /// - `weight_grad_wide_*`: divides by tiles_o = ⌈o/WM⌉, tiles_i =
    ///   ⌈i/WN⌉ and tiles_o·tiles_i, all ≥ 1 (o, i ≥ 1; o + WM − 1, i + WN −
    ///   1 and the product fit in u32), and by group_rows ≥ 1; returns for
    ///   group ≥ G (uniformly), so first < r and end ≤ r; o0 = (id %
    ///   tiles_o)·WM ≤ (tiles_o − 1)·WM < o and i0 < i likewise, so o0 +
    ///   127 and i0 + 127 do not wrap. grad_row
    ///   reads only rows n < end: residual\[n\] < r; a1_quad a1[n·o + c] for c
    ///   < o: < r·o; x_quad x[n·i + c] for c < i: < r·i. w2_quad
    ///   theta[dst_off + c] for c < o: < dst_off + o. With row =
    ///   (group_base + group)·stride, store_w1_row writes partials[row +
    ///   w_off + o′·i + i′] only for o′ < o, i′ < i: < P(w_off + o·i);
    ///   store_quad [row + b_off + o′] and [row + dst_off + o′] only for o′
    ///   < o: < P(b_off + o), P(dst_off + o). The stages: [h·256 + t] and
    ///   [base + h·256 + t] ≤ S + (PARTS − 1)·256 + 255 = 2S − 1 (t < 256,
    ///   h < PARTS), multiply_step as in `forward_wide_*`, and [k·32 + t] ≤
    ///   7·32 + 31 = 255 (k < TILED/32 = 8, t < 32); the private next\[h\],
    ///   h < PARTS. Loops: s < ⌈(end − first)/WK⌉ (end − first ≤ group_rows
    ///   ≤ 2^31, so it does not wrap), h < PARTS, k < WK, j < 4.
    /// - `to_half` (mixed.wgsl; count, len: the copy's rows and row
    ///   length): invocations with idx ≥ count·len return before idx / len
    ///   and idx % len are formed, so len ≥ 1 there and row = idx / len <
    ///   count, c < len. src_f32[w_off + row·i + c] only for row < r, c < i:
    ///   < w_off + r·i. dst_f16\[idx\], idx < count·len: ⌈count·len/2⌉ f32
    ///   slots (count·len ≤ 2 × that < 2^31, so the product does not wrap).
    /// - `delta_half_*` (count: the padded units): divides by blocks =
    ///   ⌈count/MIXED⌉ ≥ 1 (count ≥ 1, and count + MIXED − 1 fits in u32)
    ///   and by group_rows ≥ 1 and slices = DELTA/MIXED ∈ {1, 2, 4}; the
    ///   unit u = (id % blocks)·MIXED + li % MIXED < count + MIXED does not
    ///   wrap; workgroups with group ≥ G return (uniformly), so first =
    ///   group·group_rows < r, and a slice's rows run from lo to hi − 1
    ///   with first ≤ lo ≤ hi ≤ end ≤ rows_p = ⌈r/T⌉·T (T = 64), only for
    ///   u < count: dst_f16[n·count + u] < rows_p·count, ⌈rows_p·count/2⌉
    ///   f32 slots. theta[dst_off + u], acts[n·o + u] and resid\[n\] only
    ///   for u < o (and n < r): < dst_off + o, < r·o, < r;
    ///   out_f32[(group_base + group)·stride + b_off + u] and [… + dst_off +
    ///   u] only for u < o: < P(max(b_off, dst_off) + o). slice_sums\[li\]
    ///   and [s·MIXED + li % MIXED] (s < slices) < DELTA ≤ 512. Loops: n <
    ///   hi, s < slices.
    ///
    /// Left checked, and why:
    /// - `reduce_sgd`, `reduce_momentum`, `reduce_nesterov`, `reduce_adam`,
    ///   `reduce_eval`, `count_epoch`: history[counter\[0\]] and the
    ///   per-epoch factors corrections[FACTORS·counter\[0\]] are indexed by a value
    ///   in device memory, kept below MAX_BATCH by the trainer's protocol
    ///   (zeroed before each submit of at most MAX_BATCH epochs) and not by
    ///   anything the host can check per dispatch. They run once per epoch over p + 1 values.
    /// - `clip_squares`, `clip_norm`: index past the row by the spans'
    ///   count, once per update.
    /// - `synthesize`: runs once per run, before training.
    /// - `gather_rows`: reads the row numbers the host wrote into the
    ///   order, at an offset from the batch counter in device memory.
    /// - `fused_*`: its indices depend on the pipeline's override constants
    ///   (F, H, HB, TILE) as well as the uniform block, and a `Step` does not
    ///   see the constants its pipeline was built with.
    /// - The mixed products (`forward_coop_*`, `weight_grad_coop`): no
    ///   proof is written for them. Their checks clamp one index per
    ///   cooperative load, next to R·C block multiply-adds per R + C
    ///   loads.
    pub fn checks(self) -> Checks {
        match self {
            Kernel::ForwardSigmoid
            | Kernel::ForwardTanh
            | Kernel::ForwardTiledSigmoid
            | Kernel::ForwardTiledTanh
            | Kernel::BackpropSigmoid
            | Kernel::BackpropTanh
            | Kernel::BackpropOutputSigmoid
            | Kernel::BackpropOutputTanh
            | Kernel::OutputResidual
            | Kernel::OutputResidualSubgroup
            | Kernel::WeightGrad
            | Kernel::WeightGradTiled
            | Kernel::WeightGradOutput
            | Kernel::BiasGrad
            | Kernel::Reduce
            | Kernel::ForwardWideSigmoid
            | Kernel::ForwardWideTanh
            | Kernel::OutputWide
            | Kernel::WeightGradWideSigmoid
            | Kernel::WeightGradWideTanh
            | Kernel::ToHalf
            | Kernel::DeltaHalfSigmoid
            | Kernel::DeltaHalfTanh => Checks::Unchecked,
            Kernel::ReduceSgd
            | Kernel::ReduceMomentum
            | Kernel::ReduceNesterov
            | Kernel::ReduceAdam
            | Kernel::CountEpoch
            | Kernel::ReduceEval
            | Kernel::ClipSquares
            | Kernel::ClipNorm
            | Kernel::Synthesize
            | Kernel::GatherRows
            | Kernel::FusedSigmoid
            | Kernel::FusedTanh
            | Kernel::ForwardCoopSigmoid
            | Kernel::ForwardCoopTanh
            | Kernel::ForwardCoopSharesSigmoid
            | Kernel::ForwardCoopSharesTanh
            | Kernel::WeightGradCoop => Checks::Checked,
        }
    }

    /// Whether `k`'s pipeline asks wgpu to zero its workgroup memory before
    /// the first invocation runs. No kernel needs it: each writes every
    /// workgroup element it reads before a `workgroupBarrier` that precedes
    /// the read, reached by the whole workgroup (the early returns before
    /// the first write depend only on the workgroup id and the uniform
    /// block, so they are uniform across the workgroup):
    /// - no workgroup memory: `forward_*`, `backprop_*`,
    ///   `backprop_output_*`, `weight_grad`, `weight_grad_output`,
    ///   `bias_grad`, `reduce` and the other update.wgsl kernels,
    ///   `synthesize`, `gather_rows`.
    /// - `forward_tiled_*`: each step, invocation t < 256 writes
    ///   a_tile[(lk + q)·16 + lr/4][lr % 4] and the same of w_tile for q <
    ///   4 (lk = 4·(t % 4), lr = t / 4), which is every component of all
    ///   256 vec4s; a barrier; the reads; a barrier before the next step's
    ///   writes.
    /// - `weight_grad_tiled`: each step, invocation t writes d_tile\[t\] and
    ///   p_tile\[t\] (zero for rows past the group), all 256; then a barrier.
    /// - `output_residual`: invocation lid writes sums\[lid\], all 64, before
    ///   the barrier ahead of the tree; the tree reads only what it wrote.
    ///   `clip_squares` and `clip_norm` the same, with squares\[lid\] in
    ///   `workgroup_sum`, which every invocation of a workgroup calls
    ///   (`clip_squares` returns before it only for whole workgroups, by
    ///   the workgroup id).
    ///   `output_residual_subgroup`: invocation lid writes sums\[lid\], all
    ///   64, before the barrier; then invocation 0 reads all 64.
    /// - `fused_*`: w2s\[j\] for every j < HB by lane 0 (zero past H) before
    ///   the first tile's barrier, read only as w2s\[q\], q < HB. Per tile: xt\[t\]
    ///   for t < TILE·F4 and yt\[t\] for t < TILE, then a barrier, read as
    ///   xt[r·F4 + q] (r < TILE, q < F4) and yt\[r\] (r < TILE); acts[r·HB + j]
    ///   for r = lane + k·lanes, which covers every r < TILE (TILE and lanes
    ///   = FUSED / HB are powers of two) and every j < HB, then a barrier
    ///   before any read; sums\[t\] by all, a barrier, then sums[t + q] within
    ///   the row's own segments; rt\[srow\] for every srow < TILE by its first
    ///   segment, a barrier, then rt\[r\], r < TILE. lane_total and the final
    ///   (Σe², Σr) tree write all 256 entries of xt or sums between two
    ///   barriers before reading. The first tile runs for every workgroup
    ///   that passes the early return, since first < end.
    /// - `forward_wide_*`: invocation t < 256 writes stage 0's
    ///   a_stage[h·256 + (lk + q)·32 + lr/4][lr % 4] and the same of
    ///   b_stage for h < PARTS, q < 4 (lk = 4·(t % 2), lr = t / 2), which is
    ///   every component of its WIDE_STAGE = PARTS·256 vec4s, then a
    ///   barrier; step s reads stage s % 2 and writes all of
    ///   stage (s + 1) % 2 the same way (read last in step s − 1, before
    ///   the barrier that ended it), then a barrier. After the last step's
    ///   barrier, invocation (ty, tx) writes a_stage and b_stage[m·4 +
    ///   tx/4][tx % 4] for its 8 block rows m, which is every component of
    ///   the first 512 vec4s of each (m < 128, tx < 16), then a barrier,
    ///   then reads [4m .. 4m + 3], m < 128.
    /// - `output_wide`: invocation lid writes sums\[lid\], all 64, before the
    ///   barrier ahead of the tree, as `output_residual`.
    /// - `weight_grad_wide_*`: invocation t writes a_stage[base + h·256 +
    ///   t] and b_stage[base + h·256 + t] for h < PARTS (zero for rows past
    ///   the group), all WIDE_STAGE of the stage, before each barrier, in the double-buffered order of
    ///   `forward_wide_*`; in input tile 0 (uniform), every invocation
    ///   writes \[t\] of both again after the loop's last barrier, then a
    ///   barrier, then invocations t < 32 read [k·32 + t], k < 8.
    /// - `forward_coop_*`, `weight_grad_coop` (cooperative form): every
    ///   invocation zeroes zeros\[e\], e < CS², then a barrier, before the
    ///   first cooperative load of it (the products' operands come from
    ///   storage, not workgroup memory); each block position, every
    ///   patch's subgroup stores its whole CS × CS block to the patch's
    ///   slot of outbox after a barrier, and only after the next barrier
    ///   is outbox read (the forward's emit_forward reads element e and
    ///   writes its activation back to e, one invocation per e).
    ///   forward_coop_shares: each block position, after emit_forward and
    ///   a barrier, invocations e < PATCHES·CS write
    ///   row_parts[r·T/CS + block] for that position's (row, block) pairs,
    ///   which over the R·C positions is every one of the T·T/CS, then a
    ///   barrier before they are read. With SHARES = 1 (an override, so
    ///   the branch is uniform) emit_forward_shuffled writes the same
    ///   row_parts entries (a row's first lane, after its shuffles) and
    ///   reads only outbox, and the same barrier precedes the reads. The scalar
    ///   form of forward_coop_shares writes terms\[e\] for every e < T·T,
    ///   then a barrier, then reads them; its other kernels use no
    ///   workgroup memory.
    /// - `delta_half_*` in slices (DELTA > MIXED, an override, so the
    ///   branch is uniform): every invocation writes slice_sums\[li\], all
    ///   DELTA of those read, then a barrier, then the first slice reads
    ///   [s·MIXED + li]. With one slice it reads none.
    pub fn zeroes_workgroup_memory(self) -> bool {
        false
    }

    /// For a [`Checks::Unchecked`] kernel: the least length, in f32s, of
    /// each buffer after the uniform block (in the order of
    /// [`Kernel::bindings`]) for which the proof in [`Kernel::checks`]
    /// holds under `p`, or the precondition `p` breaks. `None` for checked
    /// kernels, whose modules bound every index themselves.
    pub fn bounds(self, p: &Params) -> Option<std::result::Result<Vec<u64>, String>> {
        if self.checks() == Checks::Checked {
            return None;
        }
        let (r, i, o) = (u64::from(p.rows), u64::from(p.inputs), u64::from(p.outputs));
        let (w_off, b_off) = (u64::from(p.w_off), u64::from(p.b_off));
        let dst_off = u64::from(p.dst_off);
        // The wide kernels' ŷ shares per row: one per TN = 64 units.
        let shares = o.div_ceil(u64::from(TILED_N));
        let positive = |names: &[(&str, u32)]| match names.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("{name} is 0")),
            None => Ok(()),
        };
        let groups = r.div_ceil(u64::from(p.group_rows.max(1)));
        // The end of the last row group's partials row, up to column c.
        let partials = |c: u64| match groups {
            0 => 0,
            g => (u64::from(p.group_base) + g - 1) * u64::from(p.stride) + c,
        };
        let grouped = || {
            positive(&[("group_rows", p.group_rows)])?;
            if p.group_rows > 1 << 31 {
                return Err(format!("group_rows {} is past 2^31", p.group_rows));
            }
            Ok(())
        };
        // The output layer's kernels take a layer of one output.
        let one_output = || match p.outputs {
            1 => Ok(()),
            n => Err(format!("outputs is {n}, not 1")),
        };
        let fits = |what: &str, v: u64| {
            if v > u64::from(u32::MAX) {
                Err(format!("{what} = {v} does not fit in u32"))
            } else {
                Ok(())
            }
        };
        let lens = (|| -> std::result::Result<Vec<u64>, String> {
            Ok(match self {
                Kernel::ForwardSigmoid
                | Kernel::ForwardTanh
                | Kernel::ForwardTiledSigmoid
                | Kernel::ForwardTiledTanh => {
                    positive(&[("outputs", p.outputs)])?;
                    vec![r * i, (w_off + o * i).max(b_off + o), r * o]
                }
                Kernel::BackpropSigmoid | Kernel::BackpropTanh => {
                    positive(&[("inputs", p.inputs)])?;
                    vec![r * o, w_off + o * i, r * i, r * i]
                }
                Kernel::BackpropOutputSigmoid | Kernel::BackpropOutputTanh => {
                    positive(&[("inputs", p.inputs)])?;
                    one_output()?;
                    fits("rows × inputs", r * i)?;
                    vec![r, w_off + i, r * i, r * i]
                }
                Kernel::OutputResidual | Kernel::OutputResidualSubgroup => {
                    grouped()?;
                    let len = u64::from(p.len);
                    vec![r * i, (w_off + i).max(b_off + 1), r, r, partials(len + 1)]
                }
                Kernel::WeightGrad | Kernel::WeightGradTiled => {
                    grouped()?;
                    positive(&[("inputs", p.inputs), ("outputs", p.outputs)])?;
                    vec![r * o, r * i, partials(w_off + o * i)]
                }
                Kernel::WeightGradOutput => {
                    grouped()?;
                    positive(&[("inputs", p.inputs)])?;
                    one_output()?;
                    fits("row groups × inputs", groups * i)?;
                    vec![r, r * i, partials(w_off + i)]
                }
                Kernel::BiasGrad => {
                    grouped()?;
                    positive(&[("outputs", p.outputs)])?;
                    fits("row groups × outputs", groups * o)?;
                    vec![r * o, partials(b_off + o)]
                }
                Kernel::Reduce => {
                    let out_rows = u64::from(p.count.div_ceil(REDUCE_FAN));
                    let len = u64::from(p.len);
                    fits("len × output rows", len * out_rows)?;
                    if p.count > 1 << 31 {
                        return Err(format!("count {} is past 2^31", p.count));
                    }
                    let source = match p.count {
                        0 => 0,
                        c => u64::from(c - 1) * u64::from(p.stride) + len,
                    };
                    vec![source, u64::from(p.dst_off) + out_rows * len]
                }
                Kernel::ForwardWideSigmoid | Kernel::ForwardWideTanh => {
                    positive(&[("outputs", p.outputs)])?;
                    fits("outputs + WN − 1", o + u64::from(WIDE_N) - 1)?;
                    vec![
                        r * i,
                        (w_off + o * i).max(b_off + o).max(dst_off + o),
                        r * o,
                        shares * r,
                    ]
                }
                Kernel::OutputWide => {
                    grouped()?;
                    let len = u64::from(p.len);
                    // ∂b₂ is stored only beside the gradient (stride > 1).
                    let last = match p.stride {
                        1 => len,
                        _ => len.max(dst_off + o),
                    };
                    vec![dst_off + o + 1, r, shares * r, r, partials(last + 1)]
                }
                Kernel::WeightGradWideSigmoid | Kernel::WeightGradWideTanh => {
                    grouped()?;
                    positive(&[("inputs", p.inputs), ("outputs", p.outputs)])?;
                    fits("outputs + WM − 1", o + u64::from(WIDE_M) - 1)?;
                    fits("inputs + WN − 1", i + u64::from(WIDE_N) - 1)?;
                    let tiles = o.div_ceil(WIDE_M.into()) * i.div_ceil(WIDE_N.into());
                    fits("output tiles × input tiles", tiles)?;
                    let params = (w_off + o * i).max(b_off + o).max(dst_off + o);
                    vec![r * i, dst_off + o, r * o, r, partials(params)]
                }
                // The f16 copies hold two values to an f32 slot.
                Kernel::ToHalf => {
                    let copy = u64::from(p.count) * u64::from(p.len);
                    vec![w_off + r * i, copy.div_ceil(2)]
                }
                Kernel::DeltaHalfSigmoid | Kernel::DeltaHalfTanh => {
                    grouped()?;
                    positive(&[("count", p.count)])?;
                    let count = u64::from(p.count);
                    fits("count + MIXED − 1", count + u64::from(MIXED_WORKGROUP) - 1)?;
                    let rows_p = r.next_multiple_of(TILE.into());
                    vec![
                        (rows_p * count).div_ceil(2),
                        dst_off + o,
                        partials(b_off.max(dst_off) + o),
                        r * o,
                        r,
                    ]
                }
                _ => unreachable!("checked kernels return above"),
            })
        })();
        Some(lens)
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
    /// The update kernels: 1 reads each epoch's learning rate from the
    /// per-epoch factors instead of `lr` (a learning-rate schedule).
    pub scheduled: u32,
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
    /// reduce_sgd, reduce_momentum, reduce_nesterov, reduce_adam: weight decay λ.
    pub weight_decay: f32,
    /// clip_norm: clip_grad_norm_'s max_norm c; the update kernels: above
    /// 0, the gradient is one row whose clip factor follows it.
    pub max_grad_norm: f32,
    /// To a multiple of 16 bytes.
    pub pad0: u32,
    pub pad1: u32,
    pub pad2: u32,
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
        p.weight_decay = opt.coupled_decay() as f32;
        p.max_grad_norm = opt.max_grad_norm() as f32;
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

    /// The FACTORS per-epoch factors the update kernels read for update
    /// `t` (counted from 1) of `opt`, already at its epoch's scheduled
    /// rate: Adam's (α/(1 − β1ᵗ), √(1 − β2ᵗ), and AdamW's 1 − α·λ or 1),
    /// or the other rules' α and two unused 0s.
    pub fn factors(opt: &Optimizer, t: u64) -> [f32; FACTORS] {
        match opt {
            Optimizer::Adam { .. } => {
                let (step, root) = opt.corrections(t);
                let shrink = opt.shrink().unwrap_or(1.0);
                [step as f32, root as f32, shrink as f32]
            }
            _ => [opt.lr() as f32, 0.0, 0.0],
        }
    }

    /// The gather_rows kernel's block: a batch of `rows` rows of
    /// `features` values, from batches of `size` rows.
    pub fn gather(rows: usize, features: usize, size: usize) -> Params {
        Params {
            rows: rows as u32,
            inputs: features as u32,
            stride: size as u32,
            ..Params::default()
        }
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

/// Where [`Kernels`] keeps the mixed module `weight_grad_coop` is built
/// from: after Family::Mixed's.
const MIXED_WEIGHT_GRAD: usize = Family::Mixed as usize + 1;

/// Every shader module, compiled when the device opens, and every pipeline,
/// built on first use and kept: a trainer builds the few its epoch needs,
/// since building all of them up front is a large share of a short run's
/// start-up on lavapipe (figures in BENCHMARKS.md).
pub struct Kernels {
    /// Per family, in the order of [`Family::ALL`]: its module with wgpu's
    /// runtime checks and its module without them, each where a kernel of
    /// the family runs with it ([`Kernel::checks`]); then, on a mixed
    /// device, Family::Mixed's of the forward's blocks and, at
    /// [`MIXED_WEIGHT_GRAD`], of the weight gradient's.
    modules: Vec<[Option<wgpu::ShaderModule>; 2]>,
    /// Each entry of `modules`' name and WGSL ([`Kernels::program`]).
    sources: Vec<(String, String)>,
    pipelines: Vec<OnceLock<wgpu::ComputePipeline>>,
    max_per_dim: u32,
    /// Every module checked ([`Context::checked_shaders`]).
    all_checked: bool,
    /// The step along the sum wide.wgsl's module was built with
    /// ([`Context::wide_step`]).
    wide_step: u32,
}

impl Kernels {
    /// The step along the sum of the wide products' module.
    pub fn wide_step(&self) -> u32 {
        self.wide_step
    }

    /// Compiles every family's module, and the mixed kernels' where `ctx`
    /// was opened for `--precision mixed`.
    pub fn new(ctx: &Context) -> Result<Kernels> {
        let all_checked = ctx.checked_shaders;
        let subgroups = ctx.subgroups();
        // Per family, its checked and unchecked modules where a kernel of
        // it runs with them ([`effective`]).
        let both = |f: Family, name: &str, source: &str| -> Result<[Option<_>; 2]> {
            let needs = |c: Checks| {
                Kernel::ALL
                    .iter()
                    .any(|&k| k.family() == f && effective(k, all_checked) == c)
            };
            let module = |c| needs(c).then(|| compile(ctx, name, source, c)).transpose();
            Ok([module(Checks::Checked)?, module(Checks::Unchecked)?])
        };
        let mut sources = Vec::new();
        let mut modules = Vec::new();
        for &f in &Family::ALL {
            let (name, source) = f.source();
            let source = match f {
                Family::Wide if ctx.wide_step != WIDE_K => wide_source(ctx.wide_step)?,
                _ => source.to_string(),
            };
            // A family that needs subgroups has no module without them.
            modules.push(match f.needs_subgroups() && !subgroups {
                true => [None, None],
                false => both(f, name, &source)?,
            });
            sources.push((name.to_string(), source));
        }
        // Family::Mixed is last: its modules, where the device was opened
        // for mixed precision, follow: those of the forward's blocks, then
        // (at MIXED_WEIGHT_GRAD) the weight gradient's, the same modules
        // where the blocks are the same.
        if let Some(products) = ctx.mixed {
            let [forward, weight_grad] = match products {
                Products::Coop { blocks, .. } => [blocks.forward, blocks.weight_grad],
                Products::Scalar => [CoopBlocks::DEFAULT.forward; 2],
            };
            let first = ("mixed.wgsl", mixed::source(products, forward)?);
            let first_modules = both(Family::Mixed, first.0, &first.1)?;
            let (second, second_modules) = match weight_grad == forward {
                true => (first.clone(), first_modules.clone()),
                false => {
                    let name = "mixed.wgsl (weight gradient)";
                    let source = mixed::source(products, weight_grad)?;
                    let modules = both(Family::Mixed, name, &source)?;
                    ((name, source), modules)
                }
            };
            modules.extend([first_modules, second_modules]);
            sources.extend([first, second].map(|(name, source)| (name.to_string(), source)));
        }
        Ok(Kernels {
            wide_step: ctx.wide_step,
            modules,
            sources,
            pipelines: Kernel::ALL.iter().map(|_| OnceLock::new()).collect(),
            max_per_dim: ctx.limits.max_compute_workgroups_per_dimension,
            all_checked,
        })
    }

    /// Whether `k`'s pipelines keep wgpu's runtime checks on this device.
    pub fn checks(&self, k: Kernel) -> Checks {
        effective(k, self.all_checked)
    }

    /// What `k`'s pipeline is built from on `ctx`, for a report of what
    /// the driver makes of it: the same error as [`Kernels::pipeline`]
    /// where the device has no module for it.
    pub fn program(&self, ctx: &Context, k: Kernel) -> Result<Program> {
        self.module(k)?;
        let (module, source) = &self.sources[module_slot(k)];
        Ok(Program {
            module: module.clone(),
            source: source.clone(),
            checks: self.checks(k),
            constants: pipeline_constants(ctx, k, &[]),
        })
    }

    /// The module `k`'s pipelines are built from; an error for a kernel
    /// that needs subgroups where the device lacks them or
    /// `SHADERTRAIN_NO_SUBGROUPS` turned them off.
    fn module(&self, k: Kernel) -> Result<&wgpu::ShaderModule> {
        let slot = match self.checks(k) {
            Checks::Checked => 0,
            Checks::Unchecked => 1,
        };
        let missing = || {
            match k.family() {
            Family::Mixed => Error::NoMixed(format!(
                "{} runs only on a device opened for mixed precision",
                k.entry_point()
            )),
            _ => Error::Config(format!(
                "{} needs subgroups, which this device lacks or SHADERTRAIN_NO_SUBGROUPS turned off",
                k.entry_point()
            )),
        }
        };
        self.modules
            .get(module_slot(k))
            .and_then(|m| m[slot].as_ref())
            .ok_or_else(missing)
    }

    /// The fused kernel for `act`, specialised to `shape`.
    pub fn fused(
        &self,
        ctx: &Context,
        act: Activation,
        shape: &FusedShape,
    ) -> Result<wgpu::ComputePipeline> {
        let k = Kernel::fused(act);
        build(ctx, self.module(k)?, k, &shape.constants())
    }

    /// `k`'s pipeline (the fused kernels with their default constants),
    /// built on the first call.
    pub fn pipeline(&self, ctx: &Context, k: Kernel) -> Result<&wgpu::ComputePipeline> {
        // ALL lists the variants in declaration order (tested below).
        let cell = &self.pipelines[k as usize];
        if let Some(p) = cell.get() {
            return Ok(p);
        }
        let built = build(ctx, self.module(k)?, k, &[])?;
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

/// What a kernel's pipeline is built from on a device
/// ([`Kernels::program`]).
#[derive(Clone, Debug)]
pub struct Program {
    /// The module's name: its file, and which of the mixed modules.
    pub module: String,
    /// Its WGSL, the prelude and any settings written in.
    pub source: String,
    /// Whether it keeps wgpu's runtime checks.
    pub checks: Checks,
    /// The pipeline constants the kernel is built with.
    pub constants: Vec<(&'static str, f64)>,
}

/// Where `k`'s module sits in [`Kernels`]' modules and sources.
fn module_slot(k: Kernel) -> usize {
    match k {
        Kernel::WeightGradCoop => MIXED_WEIGHT_GRAD,
        _ => k.family() as usize,
    }
}

/// `k`'s checks on a device whose modules are all checked or (false) as
/// [`Kernel::checks`] says.
fn effective(k: Kernel, all_checked: bool) -> Checks {
    if all_checked {
        Checks::Checked
    } else {
        k.checks()
    }
}

/// `source`'s module, with wgpu's runtime checks or without them.
fn compile(ctx: &Context, name: &str, source: &str, checks: Checks) -> Result<wgpu::ShaderModule> {
    let descriptor = wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    };
    ctx.scoped(name, || match checks {
        Checks::Checked => ctx.device.create_shader_module(descriptor),
        // SAFETY: only the family's Checks::Unchecked kernels are built
        // from this module (`build` picks the module by `effective`), each
        // proven in range in Kernel::checks under the buffer lengths that
        // Step::new checks against Kernel::bounds before it records a
        // dispatch.
        Checks::Unchecked => unsafe {
            ctx.device
                .create_shader_module_trusted(descriptor, wgpu::ShaderRuntimeChecks::unchecked())
        },
    })
}

fn build(
    ctx: &Context,
    module: &wgpu::ShaderModule,
    k: Kernel,
    constants: &[(&'static str, f64)],
) -> Result<wgpu::ComputePipeline> {
    let constants = &pipeline_constants(ctx, k, constants)[..];
    ctx.scoped(k.entry_point(), || {
        ctx.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.entry_point()),
                layout: None,
                module,
                entry_point: Some(k.entry_point()),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: k.zeroes_workgroup_memory(),
                },
                cache: None,
            })
    })
}

/// `k`'s pipeline constants on `ctx`: `given` (the fused kernels'
/// shape), and the mixed kernels' own.
fn pipeline_constants(
    ctx: &Context,
    k: Kernel,
    given: &[(&'static str, f64)],
) -> Vec<(&'static str, f64)> {
    let mut constants = given.to_vec();
    if let Some(products) = ctx.mixed.filter(|_| k.family() == Family::Mixed) {
        constants.extend(mixed_constants(products, k, ctx));
    }
    constants
}

/// The mixed kernels' pipeline constants: the cooperative kernels'
/// workgroup size, the forward's activation, `delta_half`'s workgroup
/// size (its slices, [`Context::delta_slices`]), and how the cooperative
/// forward sums ŷ's shares ([`Context::shares`]).
fn mixed_constants(products: Products, k: Kernel, ctx: &Context) -> [(&'static str, f64); 4] {
    let act = match k {
        Kernel::ForwardCoopTanh | Kernel::ForwardCoopSharesTanh | Kernel::DeltaHalfTanh => ACT_TANH,
        _ => ACT_SIGMOID,
    };
    let coop = match products {
        Products::Coop { size, blocks } => {
            let b = match k {
                Kernel::WeightGradCoop => blocks.weight_grad,
                _ => blocks.forward,
            };
            mixed::coop_workgroup(size, b, ctx.info.subgroup_max_size)
        }
        Products::Scalar => MIXED_WORKGROUP,
    };
    let delta = MIXED_WORKGROUP * ctx.delta_slices;
    let shares = match ctx.shares {
        mixed::Shares::Pass => 0.0,
        mixed::Shares::Shuffle => 1.0,
    };
    [
        ("COOP", f64::from(coop)),
        ("ACT", f64::from(act)),
        ("DELTA", f64::from(delta)),
        ("SHARES", shares),
    ]
}

/// The widest output layer (in inputs) that takes `output_residual_subgroup`
/// rather than `output_residual`. On an H200, the subgroup form against
/// the plain one, ms (`cargo bench --bench kernels`, one dispatch, unless
/// said): 65,536 rows of 64 inputs 0.121 against 0.146, 262,144 of 64
/// 0.279 against 0.459, 1,048,576 of 128 (S2's tiled epoch) 0.268 against
/// 0.564, 65,536 of 256 0.398 against 0.461; but 16,384 of 512 0.410
/// against 0.251 and 16,384 of 1,024 1.214 against 0.596 (S3's tiled
/// epoch: 0.770 against 0.192). One shape went the other way: 65,536 of
/// 128, 0.173 against 0.066, where the plain form ran more than twice as
/// fast as at 64 inputs on the same rows.
pub const SUBGROUP_OUTPUT_MAX_INPUTS: usize = 256;

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
    fn the_subgroup_output_kernel_takes_narrow_output_layers_only() {
        let m = SUBGROUP_OUTPUT_MAX_INPUTS;
        assert_eq!(Kernel::output(true, 1), Kernel::OutputResidualSubgroup);
        assert_eq!(Kernel::output(true, m), Kernel::OutputResidualSubgroup);
        assert_eq!(Kernel::output(true, m + 1), Kernel::OutputResidual);
        assert_eq!(Kernel::output(true, 1024), Kernel::OutputResidual);
        assert_eq!(Kernel::output(false, 1), Kernel::OutputResidual);
    }

    #[test]
    fn params_is_a_multiple_of_16_bytes() {
        assert_eq!(std::mem::size_of::<Params>() % 16, 0);
        assert_eq!(std::mem::size_of::<Params>(), 112);
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

    /// Workgroups per dispatch, for 130 rows (a full and a partial tile of
    /// 128, two and a part groups of 64) of 3 inputs to 129 units, counted
    /// by hand from each kernel's tiling.
    #[test]
    fn workgroups_cover_each_kernels_tiles_and_no_more() {
        let p = Params {
            rows: 130,
            inputs: 3,
            outputs: 129,
            group_rows: 64,
            ..Params::default()
        };
        // ⌈130/128⌉ row tiles × ⌈129/128⌉ unit tiles.
        assert_eq!(Kernel::ForwardWideSigmoid.workgroups(&p), 2 * 2);
        // 3 row groups × ⌈129/128⌉ × ⌈3/128⌉ output tiles of ∂W1.
        assert_eq!(Kernel::WeightGradWideTanh.workgroups(&p), 3 * 2);
        assert_eq!(Kernel::OutputWide.workgroups(&p), 3);
        // ⌈130/64⌉ × ⌈129/64⌉ tiles of 64 × 64.
        assert_eq!(Kernel::ForwardTiledSigmoid.workgroups(&p), 3 * 3);
        // 3 groups × ⌈129/64⌉ × ⌈3/64⌉.
        assert_eq!(Kernel::WeightGradTiled.workgroups(&p), 3 * 3);
        // ⌈129/4⌉ column blocks × ⌈130/(8 × 64)⌉ row blocks; with 300
        // outputs ⌈300/4⌉ = 75 (rows and outputs swapped would give 33).
        assert_eq!(Kernel::ForwardSigmoid.workgroups(&p), 33);
        let wider = Params { outputs: 300, ..p };
        assert_eq!(Kernel::ForwardSigmoid.workgroups(&wider), 75);
        // Backprop blocks the inputs: ⌈3/4⌉ × 1 row block (the outputs
        // in their place would give 33).
        assert_eq!(Kernel::BackpropTanh.workgroups(&p), 1);
        // 3 groups × ⌈129/4⌉ output blocks × ⌈3/8⌉ input blocks: 99
        // invocations, 2 workgroups (blocked the other way, 3 × 17 × 1 =
        // 51 would take one, and leave half the weights unsummed).
        assert_eq!(Kernel::WeightGrad.workgroups(&p), 2);
        // 3 groups × 129 outputs: 387 invocations, 7 workgroups.
        assert_eq!(Kernel::BiasGrad.workgroups(&p), 7);
        // One output: ⌈200/8⌉ = 25 row blocks × 5 inputs = 125
        // invocations, 2 workgroups of 64.
        let one = Params {
            rows: 200,
            inputs: 5,
            outputs: 1,
            group_rows: 64,
            ..Params::default()
        };
        assert_eq!(Kernel::BackpropOutputTanh.workgroups(&one), 2);
        // ⌈200/64⌉ = 4 groups × 5 inputs: 20 invocations, 1 workgroup.
        assert_eq!(Kernel::WeightGradOutput.workgroups(&one), 1);
        // 33 rows of 100 sum into ⌈33/32⌉ = 2 rows: 200 invocations, 4
        // workgroups of 64.
        let reduce = Params::reduce(100, 33, 100, 1.0, 0.0);
        assert_eq!(Kernel::Reduce.workgroups(&reduce), 4);
        assert_eq!(Kernel::ReduceSgd.workgroups(&reduce), 2);
    }

    /// The least buffer lengths the unchecked kernels' proofs need, worked
    /// out from the proofs in [`Kernel::checks`] for 130 rows of 3 inputs
    /// to 129 units, one output (θ: W1 at 0, b1 at 387, w2 at 516, b2 at
    /// 645; p = 646, a partials row of 647) in groups of 64 from group 2:
    /// the last group's partials row starts at (2 + 3 − 1) × 647 = 2,588.
    #[test]
    fn bounds_are_the_lengths_the_proofs_need() {
        let p = Params {
            rows: 130,
            inputs: 3,
            outputs: 129,
            w_off: 0,
            b_off: 387,
            dst_off: 516,
            group_rows: 64,
            group_base: 2,
            stride: 647,
            len: 646,
            ..Params::default()
        };
        let bounds = |k: Kernel, p: &Params| k.bounds(p).unwrap().unwrap();
        // x, θ up to w2's end (645), A1, and ⌈129/64⌉ = 3 ŷ shares a row.
        assert_eq!(
            bounds(Kernel::ForwardWideSigmoid, &p),
            vec![390, 645, 130 * 129, 3 * 130]
        );
        // θ through b2 (646), y, the shares, r, and the partials through
        // the loss column: 2,588 + 647.
        assert_eq!(
            bounds(Kernel::OutputWide, &p),
            vec![646, 130, 390, 130, 2_588 + 647]
        );
        // x, θ through w2, A1, r, the partials through w2's gradient.
        assert_eq!(
            bounds(Kernel::WeightGradWideTanh, &p),
            vec![390, 645, 130 * 129, 130, 2_588 + 645]
        );
        // Δ1's f16 copy: 130 rows padded to 192, × 192 padded units, two
        // to a slot; θ through w2; the partials through w2's gradient.
        let half = Params { count: 192, ..p };
        assert_eq!(
            bounds(Kernel::DeltaHalfSigmoid, &half),
            vec![192 * 192 / 2, 645, 2_588 + 645, 130 * 129, 130]
        );
        // 3 × 5 halves take 8 slots.
        let copy = Params {
            rows: 5,
            inputs: 3,
            count: 3,
            len: 5,
            ..Params::default()
        };
        assert_eq!(bounds(Kernel::ToHalf, &copy), vec![15, 8]);
        // The output layer: 3 inputs, b at 3, a partials row of 5 (4
        // parameters and the loss); the last of 3 groups from 0 starts at
        // 10 and ends after its loss at 15.
        let out = Params {
            rows: 130,
            inputs: 3,
            outputs: 1,
            b_off: 3,
            group_rows: 64,
            stride: 5,
            len: 4,
            ..Params::default()
        };
        assert_eq!(
            bounds(Kernel::OutputResidual, &out),
            vec![390, 4, 130, 130, 15]
        );
        // 33 rows of 10 at a stride of 12 end at 32 × 12 + 10; they sum
        // into 2 rows of 10.
        let reduce = Params::reduce(10, 33, 12, 1.0, 0.0);
        assert_eq!(bounds(Kernel::Reduce, &reduce), vec![394, 20]);
    }

    /// Each precondition of a proof is refused where `p` breaks it, by
    /// name: the u32 index products that must not wrap, and group_rows
    /// past 2^31.
    #[test]
    fn bounds_refuse_what_the_proofs_do_not_cover() {
        let refusal = |k: Kernel, p: Params| match k.bounds(&p) {
            Some(Err(why)) => why,
            other => panic!("{k:?} under {p:?}: {other:?}"),
        };
        // 2^31 rows in groups of 1 × 4 inputs: 2^33 invocations.
        let why = refusal(
            Kernel::WeightGradOutput,
            Params {
                rows: 1 << 31,
                inputs: 4,
                outputs: 1,
                group_rows: 1,
                ..Params::default()
            },
        );
        assert!(why.contains("row groups × inputs"), "{why}");
        let why = refusal(
            Kernel::OutputWide,
            Params {
                rows: 64,
                group_rows: (1 << 31) + 1,
                ..Params::default()
            },
        );
        assert!(why.contains("past 2^31"), "{why}");
        // 2^24 × 2^24 weights: 2^17 × 2^17 output tiles.
        let why = refusal(
            Kernel::WeightGradWideSigmoid,
            Params {
                rows: 64,
                inputs: 1 << 24,
                outputs: 1 << 24,
                group_rows: 64,
                ..Params::default()
            },
        );
        assert!(why.contains("output tiles × input tiles"), "{why}");
        let why = refusal(
            Kernel::ForwardWideTanh,
            Params {
                rows: 64,
                inputs: 1,
                outputs: u32::MAX,
                ..Params::default()
            },
        );
        assert!(why.contains("outputs + WN − 1"), "{why}");
    }

    /// A fused tile fits each workgroup array for every shape the fused
    /// kernels take: TILE rows of F4 vec4s in the x tile, TILE × HB
    /// activations, at most FUSED_MAX_TILE rows; HB is `hidden` rounded
    /// up to a power of two, and the tile the largest power of two that
    /// fits (twice it would overflow one of them).
    #[test]
    fn fused_tiles_fit_their_workgroup_arrays() {
        assert_eq!(FusedShape::new(0, 8), None);
        assert_eq!(FusedShape::new(FUSED_MAX_INPUTS as usize + 1, 8), None);
        assert_eq!(FusedShape::new(4, FUSED_WORKGROUP as usize + 1), None);
        let fits = |tile: u32, f4: u32, hb: u32| {
            tile * f4 <= FUSED_X_CAP && tile * hb <= FUSED_PROD_CAP && tile <= FUSED_MAX_TILE
        };
        for inputs in 1..=FUSED_MAX_INPUTS {
            for hidden in 1..=FUSED_WORKGROUP {
                let s = FusedShape::new(inputs as usize, hidden as usize).unwrap();
                let f4 = inputs.div_ceil(4);
                assert_eq!((s.inputs, s.hidden), (inputs, hidden));
                assert!(s.hb.is_power_of_two() && s.hb >= hidden && s.hb / 2 < hidden);
                assert!(s.tile.is_power_of_two(), "{s:?}");
                assert!(fits(s.tile, f4, s.hb), "{s:?}");
                assert!(!fits(2 * s.tile, f4, s.hb), "{s:?}");
            }
        }
        // 32 inputs to 8 units: the x tile (8 vec4s a row) holds 32 rows,
        // fewer than the activations' 256 or the cap of 64.
        assert_eq!(FusedShape::new(32, 8).unwrap().tile, 32);
    }

    /// `clip_squares` sums the gradient, not its loss: a row of p + 1
    /// values has ⌈p / 1,024⌉ spans.
    #[test]
    fn clip_spans_cover_the_gradient_without_its_loss() {
        assert_eq!(clip_spans(1), 0);
        assert_eq!(clip_spans(2), 1);
        assert_eq!(clip_spans(CLIP_SPAN + 1), 1);
        assert_eq!(clip_spans(CLIP_SPAN + 2), 2);
        assert_eq!(grad_len(CLIP_SPAN), CLIP_SPAN + 2 + 1);
    }
}
