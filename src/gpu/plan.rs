//! What runs an epoch: the kernels the user asks for ([`KernelChoice`]),
//! the family that runs it ([`KernelFamily`]), and how the batch is cut
//! into chunks and row groups ([`Plan`]) so every buffer fits in one
//! storage binding.

use crate::error::{Error, Result};
use crate::gpu::context::Context;
use crate::gpu::kernels::{FusedShape, FUSED_MAX_INPUTS, FUSED_WORKGROUP};
use crate::gpu::trips;
use crate::model::Layout;

/// Epochs whose losses fit in the device-side history: the largest batch.
pub const MAX_BATCH: usize = 256;
/// Fewest rows summed into one gradient partial.
const MIN_GROUP_ROWS: usize = 64;
/// Most row groups: bounds the partials buffer to this many copies of the
/// parameter block.
const MAX_GROUPS: usize = 4096;
/// Bytes the gradient partials may take: wide layers get fewer, longer row
/// groups rather than hundreds of megabytes of partials to write and add.
const PARTIALS_BUDGET: u64 = 256 << 20;
/// Most row groups (workgroups) of the fused kernel: enough to fill a large
/// GPU a few times over, few enough that the partials stay small.
const FUSED_GROUPS: usize = 512;

/// The wide weight gradient's workgroups over all row groups: its split
/// of the sum over rows is chosen so that (row groups × output tiles) is
/// about this many, a few per SM on a large GPU (132 on an H200), rather
/// than one row group per 64 rows, whose partials (a whole gradient each)
/// the reduce then reads back. tiny-cuda-nn splits by batch/4096. On an
/// H200's S3, 256 measured about 2% faster and 128, 1024 and 2048 slower
/// (BENCHMARKS.md, "NVIDIA H200, 2026-12-04"); over five other one-layer
/// shapes 256 was 1–9% faster on two and 2–4% slower on three
/// ("afternoon"), so 512 stays.
pub const WIDE_WORKGROUPS: usize = 512;

/// The wide weight gradient's target workgroups: `WIDE_WORKGROUPS`, or
/// `SHADERTRAIN_WIDE_WORKGROUPS` where it is set, so one session on a GPU
/// can measure several without a rebuild.
pub fn wide_workgroups() -> Result<usize> {
    parse_wide_workgroups(
        crate::gpu::context::env_setting("SHADERTRAIN_WIDE_WORKGROUPS")?.as_deref(),
    )
}

/// [`wide_workgroups`] from the variable's value: unset or empty is the
/// default; otherwise a whole number from 1 to 2^20.
fn parse_wide_workgroups(value: Option<&str>) -> Result<usize> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(WIDE_WORKGROUPS);
    };
    match v.parse::<usize>() {
        Ok(n) if (1..=1 << 20).contains(&n) => Ok(n),
        _ => Err(Error::Config(format!(
            "SHADERTRAIN_WIDE_WORKGROUPS={v}: expected a whole number from 1 to 1048576 \
             (the wide weight gradient's workgroups; unset for {WIDE_WORKGROUPS})"
        ))),
    }
}

/// The wide weight gradient's 128 × 128 output tiles over W₁ (units ×
/// inputs).
fn wide_tiles(layout: &Layout) -> usize {
    use crate::gpu::kernels::{WIDE_M, WIDE_N};
    let hidden = layout.hidden().first().copied().unwrap_or(1);
    hidden.div_ceil(WIDE_M as usize) * layout.features().div_ceil(WIDE_N as usize)
}

/// Which kernels run an epoch, as the user asks (`--kernels`); the doc
/// comments' first paragraphs are the command line's help.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelChoice {
    /// Hardware GPUs: fused where the network fits it, else wide for one hidden layer, else tiled. CPU adapters such as lavapipe: layered.
    ///
    /// On CPU adapters workgroup memory and barriers cost more than they save.
    /// On an H200, wide took S3 (256 inputs, 1,024 units) in 0.84 ms per
    /// epoch against tiled's 1.22 ms; fused is faster where it fits (S2:
    /// 1.51 ms against wide's 2.07 ms).
    #[default]
    Auto,
    /// The whole epoch in one pass over the rows (one hidden layer, at most 32 inputs and 256 units).
    ///
    /// An error where the network does not fit it.
    Fused,
    /// One kernel per layer step, the forward product and the weight gradient tiled in workgroup memory.
    ///
    /// Auto's choice on hardware GPUs for networks of more than one hidden layer.
    Tiled,
    /// One kernel per layer step, every product register-blocked.
    ///
    /// Auto's choice on CPU adapters.
    Layered,
    /// One hidden layer of any width: the two tiled products, the output and the small sums riding along.
    ///
    /// Three kernels per chunk of rows: the forward product with each tile's
    /// share of ŷ in its epilogue, the output and residual, and the weight
    /// gradient, which forms Δ1 as it stages it and adds ∂b1 and ∂w2 beside
    /// it. An error where the network has other than one hidden layer.
    /// Auto's choice on hardware GPUs for one hidden layer the fused kernel
    /// does not take, and for one hidden layer under --precision mixed.
    Wide,
}

/// The kernels that run an epoch:
/// - fused: a network with one hidden layer the fused kernel takes (at most
///   32 inputs and 256 hidden units) runs its whole forward and backward
///   pass in that one kernel, one workgroup per row group (auto's choice on
///   hardware GPUs where it fits);
/// - tiled: layer by layer (forward, output, gradient partials and
///   backprop), the forward product and the weight gradient tiled in
///   workgroup memory; for hardware GPUs, any depth and width;
/// - layered: the same steps with every product register-blocked; for CPU
///   adapters such as lavapipe, where workgroup memory is emulated;
/// - wide: one hidden layer of any width in three kernels per chunk
///   (shaders/wide.wgsl); auto's choice on hardware GPUs for one hidden
///   layer the fused kernel does not take (and under --precision mixed,
///   which rules fused out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFamily {
    /// The fused kernel, specialised to the network's shape.
    Fused(FusedShape),
    Tiled,
    Layered,
    /// One hidden layer: forward_wide, output_wide, weight_grad_wide.
    Wide,
}

impl KernelFamily {
    /// The family `choice` picks for a network of `layout` on a hardware
    /// GPU or (`hardware` false) a CPU adapter; an error where the fused
    /// kernel is asked for and does not take the network.
    ///
    /// `mixed` (`--precision mixed`) rules the fused kernel out: the mixed
    /// products run in the layer-by-layer epoch.
    pub fn choose(
        choice: KernelChoice,
        layout: &Layout,
        hardware: bool,
        mixed: bool,
    ) -> Result<KernelFamily> {
        let shape =
            KernelFamily::fused_shape(layout).filter(|_| !mixed || choice == KernelChoice::Fused);
        if mixed && choice == KernelChoice::Fused {
            // wide takes one hidden layer only.
            let others = match layout.hidden() {
                [_] => "auto, wide, tiled or layered",
                _ => "auto, tiled or layered",
            };
            return Err(Error::Config(format!(
                "the fused kernel has no mixed-precision form; use --kernels {others} with --precision mixed"
            )));
        }
        Ok(match choice {
            KernelChoice::Auto => match (shape, layout.hidden()) {
                _ if !hardware => KernelFamily::Layered,
                (Some(shape), _) => KernelFamily::Fused(shape),
                (None, [_]) => KernelFamily::Wide,
                (None, _) => KernelFamily::Tiled,
            },
            KernelChoice::Tiled => KernelFamily::Tiled,
            KernelChoice::Layered => KernelFamily::Layered,
            KernelChoice::Wide => match Self::hidden_refusal(choice, layout.hidden()) {
                None => KernelFamily::Wide,
                Some(why) => {
                    return Err(Error::Config(format!(
                        "{why}; use the tiled or layered kernels"
                    )))
                }
            },
            KernelChoice::Fused => KernelFamily::Fused(shape.ok_or_else(|| {
                let others = match layout.hidden() {
                    [_] => "wide, tiled or layered",
                    _ => "tiled or layered",
                };
                // What is past the kernel's bounds, and only that.
                let mut past = Vec::new();
                if layout.features() > FUSED_MAX_INPUTS as usize {
                    past.push(format!("{} inputs", layout.features()));
                }
                match layout.hidden() {
                    [h] if *h <= FUSED_WORKGROUP as usize => {}
                    [h] => past.push(format!("a hidden layer of {h} units")),
                    _ => past.push(format!("hidden layers {}", layout.hidden_spec())),
                }
                Error::Config(format!(
                    "the fused kernel takes one hidden layer of at most {FUSED_WORKGROUP} units \
                     over at most {FUSED_MAX_INPUTS} inputs, not {}; use the {others} kernels, \
                     or auto, which picks one that takes the network",
                    past.join(" and ")
                ))
            })?),
        })
    }

    /// Why `--kernels choice` cannot take hidden layers `hidden`, whatever
    /// the inputs: the part of [`KernelFamily::choose`]'s refusal that
    /// `--grid` checks of every combination before the first trains (the
    /// inputs, the same in each, are checked when the data are read).
    pub fn hidden_refusal(choice: KernelChoice, hidden: &[usize]) -> Option<String> {
        let spec = || {
            let layers: Vec<String> = hidden.iter().map(usize::to_string).collect();
            layers.join(",")
        };
        match (choice, hidden) {
            (KernelChoice::Wide, [_]) => None,
            (KernelChoice::Wide, _) => Some(format!(
                "the wide kernels take exactly one hidden layer, not hidden layers {}",
                spec()
            )),
            (KernelChoice::Fused, [h]) if (1..=FUSED_WORKGROUP as usize).contains(h) => None,
            (KernelChoice::Fused, _) => Some(format!(
                "the fused kernel takes one hidden layer of at most {FUSED_WORKGROUP} units, not hidden layers {}",
                spec()
            )),
            _ => None,
        }
    }

    /// The fused kernel's shape for `layout`, where it takes the network.
    pub fn fused_shape(layout: &Layout) -> Option<FusedShape> {
        match layout.hidden() {
            [h] => FusedShape::new(layout.features(), *h),
            _ => None,
        }
    }

    /// The family's name, as `describe` prints it.
    pub fn name(self) -> &'static str {
        match self {
            KernelFamily::Fused(_) => "fused",
            KernelFamily::Tiled => "tiled",
            KernelFamily::Layered => "layered",
            KernelFamily::Wide => "wide",
        }
    }
}

/// The wide weight gradient's target workgroups for `family`'s plans
/// ([`wide_workgroups`] for the wide family; unused by the others).
fn split_for(family: KernelFamily) -> Result<usize> {
    match family {
        KernelFamily::Wide => wide_workgroups(),
        _ => Ok(WIDE_WORKGROUPS),
    }
}

/// What the passes of a plan sum into their partials, a row per row
/// group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partials {
    /// The gradient, then the loss: p + 1 values a group, for training.
    Gradient,
    /// The loss alone, one value a group: rows that are only measured
    /// (held out, or the whole set beside mini-batches), by the forward
    /// and output kernels of the family that trains (the layered, tiled
    /// or wide one), which store nothing else where a partials row is one
    /// value.
    Loss,
}

impl Partials {
    /// Floats in each row group's partials row, for `params` parameters.
    pub fn stride(self, params: usize) -> usize {
        match self {
            Partials::Gradient => params + 1,
            Partials::Loss => 1,
        }
    }
}

/// The kernels a plan is cut for: their family, whether the first layer
/// runs in mixed precision, and what the partials hold.
type How = (KernelFamily, bool, Partials);

/// How the batch is cut into chunks and row groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Rows summed into one gradient partial; a multiple of 64.
    pub group_rows: usize,
    /// Rows per chunk; a multiple of `group_rows`.
    pub chunk_rows: usize,
    /// (first row, rows) of each chunk.
    pub chunks: Vec<(usize, usize)>,
    /// Row groups over the whole batch.
    pub groups: usize,
    /// The kernels that run the epoch (its forward and output kernels
    /// alone under [`Partials::Loss`]).
    pub family: KernelFamily,
    /// The first hidden layer's products run in mixed precision, on f16
    /// copies of its operands (set by the trainer for a mixed device).
    pub mixed: bool,
    /// What each row group's partials row holds.
    pub partials: Partials,
}

impl Plan {
    /// Cuts `rows` rows of a network with `layout`, run by `family` in
    /// f32, so every buffer fits in `max_binding` bytes, or says what does
    /// not fit.
    pub fn new(
        layout: &Layout,
        rows: usize,
        max_binding: u64,
        family: KernelFamily,
    ) -> Result<Plan> {
        Plan::cut(layout, rows, max_binding, family, false)
    }

    /// [`Plan::new`], with the first hidden layer's products in mixed
    /// precision where `mixed` is set: its f16 copies of a chunk's X and
    /// Δ₁, padded to the mixed tile, fit a binding too (they are the
    /// widest per row where the layers are narrower than half a tile).
    /// Neither knows of a driver that ends loops early: the trainer cuts
    /// with [`Plan::cut_on`], which does.
    pub fn cut(
        layout: &Layout,
        rows: usize,
        max_binding: u64,
        family: KernelFamily,
        mixed: bool,
    ) -> Result<Plan> {
        Plan::unbounded(
            layout,
            rows,
            max_binding,
            (family, mixed, Partials::Gradient),
        )
    }

    /// The plan for `how` on a device that runs every loop's trips.
    fn unbounded(layout: &Layout, rows: usize, max_binding: u64, how: How) -> Result<Plan> {
        let split = split_for(how.0)?;
        Plan::cut_for(layout, rows, max_binding, how, split, usize::MAX)
    }

    /// [`Plan::cut`] for `ctx`'s device: within its largest binding, and
    /// where its driver ends a shader invocation's loops early
    /// ([`Context::loop_limit`]), with layers narrow and row groups short
    /// enough for every kernel to finish its loops ([`trips`]).
    pub fn cut_on(
        ctx: &Context,
        layout: &Layout,
        rows: usize,
        family: KernelFamily,
        mixed: bool,
    ) -> Result<Plan> {
        Plan::on(ctx, layout, rows, (family, mixed, Partials::Gradient))
    }

    /// [`Plan::cut_on`] for rows whose loss alone is measured, beside a
    /// trainer of `family` and `mixed`: with [`Partials::Loss`], one
    /// float a row group instead of p + 1. The fused family and mixed
    /// precision measure with their own kernels, and so with their
    /// gradient partials, as they train.
    pub fn loss_on(
        ctx: &Context,
        layout: &Layout,
        rows: usize,
        family: KernelFamily,
        mixed: bool,
    ) -> Result<Plan> {
        let partials = match (family, mixed) {
            (KernelFamily::Fused(_), _) | (_, true) => Partials::Gradient,
            _ => Partials::Loss,
        };
        Plan::on(ctx, layout, rows, (family, mixed, partials))
    }

    fn on(ctx: &Context, layout: &Layout, rows: usize, how: How) -> Result<Plan> {
        let Some(limit) = ctx.loop_limit()? else {
            return Plan::unbounded(layout, rows, ctx.max_binding(), how);
        };
        let driver = format!("the driver {}", crate::gpu::context::driver(&ctx.info));
        let loops = trips::Loops {
            limit,
            driver: &driver,
            wide_step: ctx.wide_step,
        };
        Plan::bounded(layout, rows, ctx.max_binding(), how, &loops)
    }

    /// [`Plan::cut`] on a device whose driver ends an invocation's loops
    /// early, as `loops` describes it.
    pub fn bounded(
        layout: &Layout,
        rows: usize,
        max_binding: u64,
        how: How,
        loops: &trips::Loops<'_>,
    ) -> Result<Plan> {
        let (family, mixed, _) = how;
        let split = split_for(family)?;
        let cut = |most| Plan::cut_for(layout, rows, max_binding, how, split, most);
        // The plan as any device cuts it (what does not fit a binding is
        // refused for that first), where the network is narrow enough and
        // its groups short enough; else shorter groups, which may need
        // more partials than a binding holds.
        let plan = cut(usize::MAX)?;
        trips::check_widths(layout, family, mixed, loops)?;
        let most_rows = trips::most_group_rows(layout, family, mixed, loops)?;
        if plan.group_rows <= most_rows {
            return Ok(plan);
        }
        cut(most_rows).map_err(|e| match e {
            Error::TooLarge { need, have, .. } => Error::Config(format!(
                "{}, so a row group here holds at most {most_rows} rows; {rows} rows then make {} \
                 groups, whose gradient partials ({}) outgrow one storage binding ({}): give \
                 --batch-size (a pass over fewer rows makes fewer groups), or {}",
                loops.ends(),
                rows.div_ceil(most_rows),
                crate::units::bytes(need),
                crate::units::bytes(have),
                trips::INSTEAD
            )),
            other => other,
        })
    }

    /// [`Plan::cut`] with the wide weight gradient's target workgroups
    /// given, where `cut` reads them from [`wide_workgroups`], and row
    /// groups of at most `most_rows` rows.
    fn cut_for(
        layout: &Layout,
        rows: usize,
        max_binding: u64,
        how: How,
        wide_workgroups: usize,
        most_rows: usize,
    ) -> Result<Plan> {
        let (family, mixed, partials) = how;
        let params = layout.len();
        let per_param = 4 * params as u64;
        if per_param > max_binding {
            return Err(Error::TooLarge {
                what: format!("storage binding for the {params} parameters"),
                need: per_param,
                have: max_binding,
                fewer_rows: false,
            });
        }
        // The widest per-row buffer and the most row groups. Each group
        // has a partials row: its gradient, then its loss term (or the loss
        // term alone).
        let (widest, most_groups) = match family {
            KernelFamily::Fused(_) => (layout.features(), FUSED_GROUPS),
            // Wide: X, then A1 (rows, hidden); the ŷ shares, ⌈hidden/64⌉ per
            // row, are never wider than A1. Its row groups are the weight
            // gradient's split of the sum: as many as keep about
            // WIDE_WORKGROUPS of its workgroups busy over the output tiles.
            KernelFamily::Wide => (
                *layout
                    .sizes()
                    .iter()
                    .max()
                    .expect("layouts are never empty"),
                (wide_workgroups / wide_tiles(layout)).max(1),
            ),
            KernelFamily::Tiled | KernelFamily::Layered => (
                *layout
                    .sizes()
                    .iter()
                    .max()
                    .expect("layouts are never empty"),
                MAX_GROUPS,
            ),
        };
        let per_group = 4 * partials.stride(params) as u64;
        if per_group > max_binding {
            return Err(Error::TooLarge {
                what: format!(
                    "storage binding for one row group's gradient partials ({params} parameters)"
                ),
                need: per_group,
                have: max_binding,
                fewer_rows: false,
            });
        }
        if rows > u32::MAX as usize / 2 {
            return Err(Error::Config(format!(
                "{rows} rows is more than the GPU backend indexes (at most 2^31 − 1)"
            )));
        }
        let max_groups =
            ((max_binding.min(PARTIALS_BUDGET) / per_group) as usize).clamp(1, most_groups);
        // A row group lies in one chunk, so it takes at most the rows of
        // one binding: where fewer groups would be longer, there are more
        // (past the budget and the wide split's count), as many as one
        // binding of partials holds.
        // The per-row buffers that bound a chunk's rows, each as (bytes per
        // row, fixed bytes beside the rows, name): the widest f32 one, and
        // under mixed precision the f16 copies of X (with its tail) and Δ₁.
        let mut buffers = vec![(4 * widest as u64, 0, String::new())];
        if let (true, Some(&h)) = (mixed, layout.hidden().first()) {
            let pad = |n: usize| 2 * n.next_multiple_of(crate::gpu::mixed::TILE as usize) as u64;
            let tail = 2 * crate::gpu::mixed::X_TAIL as u64;
            buffers.push((pad(layout.features()), tail, " (x_f16)".into()));
            buffers.push((pad(h), 0, " (d_z1_f16)".into()));
        }
        let fit = |&(row, fixed, _): &(u64, u64, String)| max_binding.saturating_sub(fixed) / row;
        let tightest = buffers
            .iter()
            .min_by_key(|b| fit(b))
            .expect("the f32 buffer");
        let rows_per_binding = fit(tightest) as usize;
        let longest = rows_per_binding / MIN_GROUP_ROWS * MIN_GROUP_ROWS;
        if longest == 0 {
            let (row, fixed, name) = tightest;
            return Err(Error::TooLarge {
                what: format!(
                    "storage binding{name} for {MIN_GROUP_ROWS} rows (the fewest a row group holds) of width {widest}"
                ),
                need: MIN_GROUP_ROWS as u64 * row + fixed,
                have: max_binding,
                fewer_rows: false,
            });
        }
        let group_rows = rows
            .div_ceil(max_groups)
            .max(MIN_GROUP_ROWS)
            .next_multiple_of(MIN_GROUP_ROWS)
            .min(longest)
            .min(most_rows);
        let groups = rows.div_ceil(group_rows);
        if groups as u64 * per_group > max_binding {
            let held = match partials {
                Partials::Gradient => {
                    format!("gradient partials of {groups} row groups of {params} parameters")
                }
                Partials::Loss => format!("loss partials of {groups} row groups"),
            };
            return Err(Error::TooLarge {
                what: format!(
                    "storage binding for the {held} (each group's {group_rows} rows fill a binding of their own)"
                ),
                need: groups as u64 * per_group,
                have: max_binding,
                // Mini-batches measure every row for its loss alone.
                fewer_rows: partials == Partials::Gradient,
            });
        }
        let chunk_rows = (rows_per_binding / group_rows) * group_rows;
        let chunk_rows = chunk_rows.min(rows.next_multiple_of(group_rows));
        let chunks = (0..rows)
            .step_by(chunk_rows)
            .map(|start| (start, chunk_rows.min(rows - start)))
            .collect();
        Ok(Plan {
            group_rows,
            chunk_rows,
            chunks,
            groups,
            family,
            mixed,
            partials,
        })
    }

    /// Floats in each row group's partials row ([`Partials::stride`]).
    pub fn stride(&self, params: usize) -> usize {
        self.partials.stride(params)
    }

    /// Floats of the partials buffer: a row per row group.
    pub fn partials_len(&self, params: usize) -> usize {
        self.groups * self.stride(params)
    }

    /// The rows the plan cuts: the sum of its chunks.
    pub fn rows(&self) -> usize {
        self.chunks.iter().map(|&(_, n)| n).sum()
    }

    /// Bytes of device memory the trainer allocates for `rows` rows, with
    /// an optimizer of `state_per_param` floats of state a parameter
    /// ([`Optimizer::state_per_param`](crate::optim::Optimizer::state_per_param)).
    pub fn device_bytes(&self, layout: &Layout, rows: usize, state_per_param: usize) -> u64 {
        let p = layout.len();
        let slots = crate::train::SNAPSHOT_SLOTS;
        // θ, its snapshots and the gradient; the optimizer's state and its
        // snapshots; the loss history and the staging buffer (about: each
        // MAX_BATCH or p floats), and the per-epoch factors.
        let fixed = (2 + slots) * (p + 1)
            + (1 + slots) * state_per_param * p
            + 2 * MAX_BATCH.max(p)
            + crate::gpu::kernels::FACTORS * MAX_BATCH;
        4 * fixed as u64 + self.row_bytes(layout, rows)
    }

    /// Bytes of the buffers that grow with the rows: the rows themselves,
    /// a chunk's per-row values, the partials, and under mixed precision
    /// their f16 copies. Held-out rows measured on the device take these
    /// again, under a plan of their own ([`crate::gpu::GpuTrainer::hold_out`]).
    pub fn row_bytes(&self, layout: &Layout, rows: usize) -> u64 {
        let p = layout.len();
        let per_row = match self.family {
            KernelFamily::Fused(_) => 0,
            // A and Δ of each hidden layer (A alone where the loss alone
            // is measured), and r.
            KernelFamily::Tiled | KernelFamily::Layered => {
                let deltas = match self.partials {
                    Partials::Gradient => 2,
                    Partials::Loss => 1,
                };
                deltas * layout.hidden().iter().sum::<usize>() + 1
            }
            // A1, the ŷ shares of its column tiles, and r.
            KernelFamily::Wide => {
                layout
                    .hidden()
                    .iter()
                    .map(|&h| h + h.div_ceil(crate::gpu::kernels::TILED_N as usize))
                    .sum::<usize>()
                    + 1
            }
        };
        // The partials, and the reduce chain's sums: ⌈G/32⌉, ⌈G/32²⌉, …
        // rows while more than REDUCE_FAN remain (gpu::epoch's
        // reduce_chain).
        let fan = crate::gpu::kernels::REDUCE_FAN as usize;
        let (mut left, mut sums) = (self.groups, 0);
        while left > fan {
            left = left.div_ceil(fan);
            sums += left;
        }
        let partials = (self.groups + sums) * self.stride(p);
        let floats = rows * (layout.features() + 1) + partials + self.chunk_rows * per_row;
        // Mixed: f16 copies of X (with its tail), W₁ and Δ₁, padded to the
        // mixed tile (the inputs perhaps to less: InputPad::Tile bounds it).
        let halves = match (self.mixed, layout.hidden().first()) {
            (true, Some(&h)) => {
                let pad = |n: usize| n.next_multiple_of(crate::gpu::mixed::TILE as usize);
                let (r, i, o) = (pad(self.chunk_rows), pad(layout.features()), pad(h));
                r * i + crate::gpu::mixed::X_TAIL + o * i + r * o
            }
            _ => 0,
        };
        4 * floats as u64 + 2 * halves as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Plan::cut`] at the default split, whatever
    /// `SHADERTRAIN_WIDE_WORKGROUPS` a measuring session exported.
    fn cut(
        layout: &Layout,
        rows: usize,
        max_binding: u64,
        family: KernelFamily,
        mixed: bool,
    ) -> Result<Plan> {
        let how = (family, mixed, Partials::Gradient);
        Plan::cut_for(layout, rows, max_binding, how, WIDE_WORKGROUPS, usize::MAX)
    }

    /// [`Plan::new`] as [`cut`] makes it.
    fn new(layout: &Layout, rows: usize, max_binding: u64, family: KernelFamily) -> Result<Plan> {
        cut(layout, rows, max_binding, family, false)
    }

    /// Under a driver's loop limit, row groups past it are cut shorter
    /// where their partials still fit a binding, and the run is refused
    /// where they do not; with groups within it, the plan is the one any
    /// device gets.
    #[test]
    fn a_loop_limit_shortens_row_groups_or_refuses() {
        let layered = KernelFamily::Layered;
        let binding = 128 << 20;
        let loops = trips::Loops {
            limit: 65_535,
            driver: "the driver d",
            wide_step: 8,
        };
        let how = (layered, false, Partials::Gradient);
        let bounded = |layout: &Layout, rows| Plan::bounded(layout, rows, binding, how, &loops);
        let small = Layout::new(4, &[64]).unwrap();
        let rows = 300_000_000;
        let free = new(&small, rows, binding, layered).unwrap();
        assert!(free.group_rows > 65_535, "{free:?}");
        let cut = bounded(&small, rows).unwrap();
        let most = trips::most_group_rows(&small, layered, false, &loops).unwrap();
        assert_eq!(cut.group_rows, most);
        assert!(most as u64 + trips::SPARE <= 65_535);
        assert_eq!(cut.groups, rows.div_ceil(most));
        assert_eq!(cut.rows(), rows);
        let within = new(&small, 1_000_000, binding, layered).unwrap();
        assert_eq!(bounded(&small, 1_000_000).unwrap(), within);
        // 504 groups of 131,008 rows fill the binding with partials; the
        // 1,017 groups of 64,960 that the limit allows would not fit.
        let deep = Layout::new(1, &[256, 256]).unwrap();
        assert_eq!(
            new(&deep, 66_000_000, binding, layered).unwrap().groups,
            504
        );
        let err = bounded(&deep, 66_000_000).unwrap_err().to_string();
        for part in [
            "the driver d ends a shader invocation's loops after 65535 trips",
            "holds at most 64960 rows; 66000000 rows then make 1017 groups",
            "--backend cpu",
        ] {
            assert!(err.contains(part), "{part:?} not in: {err}");
        }
        // Their loss alone fits: a float a group.
        let loss = (layered, false, Partials::Loss);
        let measured = Plan::bounded(&deep, 66_000_000, binding, loss, &loops).unwrap();
        assert!(measured.group_rows <= 64_960, "{measured:?}");
        assert_eq!(measured.partials_len(deep.len()), measured.groups);
        // Widths: the inputs and hidden layers the kernels loop over.
        let err = bounded(&Layout::new(70_000, &[2]).unwrap(), 64).unwrap_err();
        assert!(
            err.to_string()
                .contains("65022 inputs correctly, not 70000"),
            "{err}"
        );
        let lone = Layout::new(4, &[70_000]).unwrap();
        assert_eq!(
            bounded(&lone, 64).unwrap(),
            new(&lone, 64, binding, layered).unwrap()
        );
    }

    /// A plan for the loss alone has a partials row of one float, and the
    /// per-row buffers of its family's forward pass alone.
    #[test]
    fn a_loss_alone_takes_a_float_a_row_group() {
        // 1 → 256 under 64 KiB: 64 rows a chunk, so 3,200 rows are 50
        // groups, 50 floats of partials against 50 × 770.
        let layout = Layout::new(1, &[256]).unwrap();
        for family in [
            KernelFamily::Wide,
            KernelFamily::Tiled,
            KernelFamily::Layered,
        ] {
            let how = (family, false, Partials::Loss);
            let plan = Plan::cut_for(&layout, 3200, 64 << 10, how, WIDE_WORKGROUPS, usize::MAX);
            let plan = plan.unwrap();
            assert_eq!(
                (plan.groups, plan.stride(769), plan.partials_len(769)),
                (50, 1, 50),
                "{family:?}"
            );
            assert!(new(&layout, 3200, 64 << 10, family).is_err());
            // The gradient's partials would add 769 floats to each of the
            // 50 rows and to the 2 rows the reduce chain leaves; beside
            // the tiled and layered kernels, Δ₁ a row of each chunk's 64.
            let gradient = Plan {
                partials: Partials::Gradient,
                ..plan.clone()
            };
            let deltas = match family {
                KernelFamily::Wide => 0,
                _ => 4 * 64 * 256,
            };
            assert_eq!(
                gradient.row_bytes(&layout, 3200) - plan.row_bytes(&layout, 3200),
                4 * (50 + 2) * 769 + deltas,
                "{family:?}"
            );
        }
    }

    /// --kernels fused refuses a network it does not take, naming the
    /// kernels that do: wide too for one hidden layer.
    #[test]
    fn fused_refusals_name_the_kernels_that_take_the_network() {
        let refusal = |features, hidden: &[usize]| {
            let layout = Layout::new(features, hidden).unwrap();
            let e = KernelFamily::choose(KernelChoice::Fused, &layout, true, false).unwrap_err();
            e.to_string()
        };
        let one = refusal(40, &[64]);
        assert!(
            one.contains("use the wide, tiled or layered kernels, or auto"),
            "{one}"
        );
        let two = refusal(4, &[8, 8]);
        assert!(
            two.contains("use the tiled or layered kernels, or auto"),
            "{two}"
        );
        let fits = Layout::new(4, &[16]).unwrap();
        assert!(KernelFamily::choose(KernelChoice::Fused, &fits, true, false).is_ok());
        // Only what is past its bounds is named.
        for (features, hidden, named) in [
            (40, &[64][..], "over at most 32 inputs, not 40 inputs; use"),
            (4, &[8, 8], ", not hidden layers 8,8; use"),
            (32, &[257], ", not a hidden layer of 257 units; use"),
            (
                33,
                &[300, 2],
                ", not 33 inputs and hidden layers 300,2; use",
            ),
        ] {
            let e = refusal(features, hidden);
            assert!(e.contains(named), "{e}");
        }
    }

    #[test]
    fn wide_workgroups_default_and_override() {
        for unset in [None, Some(""), Some("  ")] {
            assert_eq!(parse_wide_workgroups(unset).unwrap(), WIDE_WORKGROUPS);
        }
        assert_eq!(parse_wide_workgroups(Some("1")).unwrap(), 1);
        assert_eq!(parse_wide_workgroups(Some(" 2048 ")).unwrap(), 2048);
        assert_eq!(parse_wide_workgroups(Some("1048576")).unwrap(), 1 << 20);
        for bad in ["0", "-4", "1e3", "lots", "1048577"] {
            let err = parse_wide_workgroups(Some(bad)).unwrap_err().to_string();
            assert!(
                err.contains(&format!("SHADERTRAIN_WIDE_WORKGROUPS={bad}"))
                    && err.contains("expected a whole number"),
                "{err}"
            );
        }
    }

    #[test]
    fn plan_fits_every_buffer_in_the_binding() {
        let layout = Layout::new(16, &[64]).unwrap();
        let p = layout.len();
        let layered = KernelFamily::Layered;
        let plan = new(&layout, 16_777_216, 128 << 20, layered).unwrap();
        assert_eq!(plan.chunk_rows % plan.group_rows, 0);
        assert!(plan.chunk_rows * 64 * 4 <= 128 << 20);
        assert!(plan.groups * (p + 1) * 4 <= 128 << 20);
        assert_eq!(plan.chunks.iter().map(|c| c.1).sum::<usize>(), 16_777_216);
        assert!(plan.chunks.len() > 1);
        let small = new(&layout, 100, 128 << 20, layered).unwrap();
        assert_eq!(small.chunks, vec![(0, 100)]);
        assert_eq!(small.group_rows, 64);
        assert_eq!(small.groups, 2);
        // The fused kernel: X (16 wide) is the widest per-row buffer, and
        // its partials have a row per lane and a loss column.
        let shape = KernelFamily::fused_shape(&layout).unwrap();
        let fused = new(&layout, 16_777_216, 128 << 20, KernelFamily::Fused(shape)).unwrap();
        assert_eq!(fused.family, KernelFamily::Fused(shape));
        assert_eq!(fused.chunk_rows % fused.group_rows, 0);
        assert!(fused.chunk_rows * 16 * 4 <= 128 << 20);
        assert!(fused.groups * (p + 1) * 4 <= 128 << 20);
        assert!(fused.groups <= FUSED_GROUPS);
        assert_eq!(fused.chunks.iter().map(|c| c.1).sum::<usize>(), 16_777_216);
    }

    #[test]
    fn wide_layers_keep_their_partials_within_the_budget() {
        // S3 with a 2 GiB binding: 1 MiB of partials per row group.
        let layout = Layout::new(256, &[1024]).unwrap();
        let plan = new(&layout, 16_384, 2 << 30, KernelFamily::Layered).unwrap();
        let bytes = (plan.groups * (layout.len() + 1) * 4) as u64;
        assert!(bytes <= PARTIALS_BUDGET, "{bytes} bytes of partials");
        assert!(plan.groups > 64, "{} groups", plan.groups);
    }

    #[test]
    fn wide_splits_the_weight_gradient_by_workgroups_not_by_64_rows() {
        // S3: 8 × 2 output tiles of W1, so 32 row groups of 512 rows, where
        // the layer-by-layer kernels take 128 of 128 (the partials budget).
        let s3 = Layout::new(256, &[1024]).unwrap();
        let wide = new(&s3, 16_384, 2 << 30, KernelFamily::Wide).unwrap();
        assert_eq!(wide.groups, WIDE_WORKGROUPS / 16);
        assert_eq!(wide.group_rows, 512);
        let tiled = new(&s3, 16_384, 2 << 30, KernelFamily::Tiled).unwrap();
        assert!(tiled.groups >= 4 * wide.groups, "{}", tiled.groups);
        // S1: one tile, so 512 row groups of 128 rows; 1,000 rows keep the
        // 64-row minimum.
        let s1 = Layout::new(16, &[64]).unwrap();
        let small = new(&s1, 65_536, 2 << 30, KernelFamily::Wide).unwrap();
        assert_eq!((small.groups, small.group_rows), (WIDE_WORKGROUPS, 128));
        let few = new(&s1, 1000, 2 << 30, KernelFamily::Wide).unwrap();
        assert_eq!(few.group_rows, 64);
        // Never fewer than one group, whatever the width.
        let huge = Layout::new(4096, &[4096]).unwrap();
        let one = new(&huge, 1000, 2 << 30, KernelFamily::Wide).unwrap();
        assert_eq!(one.groups, 1);
    }

    /// Rows that the split's count of row groups would put more than one
    /// binding's worth of in a group are cut into more, shorter groups,
    /// as many as one binding of partials holds; past that the partials
    /// are what is named.
    #[test]
    fn row_groups_shorten_to_fit_a_binding() {
        let check = |layout: &Layout, rows, binding: u64, family| {
            let plan = new(layout, rows, binding, family).unwrap();
            let widest = *layout.sizes().iter().max().unwrap() as u64;
            assert!(4 * widest * plan.chunk_rows as u64 <= binding, "{plan:?}");
            assert!(4 * plan.groups as u64 * (layout.len() as u64 + 1) <= binding);
            assert_eq!(plan.groups, rows.div_ceil(plan.group_rows));
            assert_eq!(plan.rows(), rows);
            assert!(plan.chunks.len() > 1, "{plan:?}");
            plan
        };
        // 2,097,153 rows of 256 inputs to 4,096 units under a 4 GiB
        // binding: the split's 8 groups would be 262,208 rows, past a
        // binding's 262,143 of A1.
        let wide = Layout::new(256, &[4096]).unwrap();
        let plan = check(&wide, 2_097_153, u32::MAX as u64, KernelFamily::Wide);
        assert!(plan.groups > 8, "{plan:?}");
        let square = Layout::new(1024, &[1024]).unwrap();
        check(&square, 262_145, 128 << 20, KernelFamily::Wide);
        // 8,193 rows of 4,096 to 4,096 under 128 MiB: two groups' 64 MiB
        // of partials each pass the binding.
        let huge = Layout::new(4096, &[4096]).unwrap();
        let e = new(&huge, 8_193, 128 << 20, KernelFamily::Tiled).unwrap_err();
        assert!(
            e.to_string()
                .contains("the gradient partials of 2 row groups of 16785409 parameters"),
            "{e}"
        );
        assert!(new(&huge, 8_192, 128 << 20, KernelFamily::Tiled).is_ok());
    }

    /// Under mixed precision the f16 copies of X and Δ₁, padded to the
    /// 64-wide tile, are the widest per row where the layers are narrower
    /// than 32: the chunks are cut so that they fit a binding too.
    #[test]
    fn mixed_chunks_fit_the_padded_f16_copies() {
        use crate::gpu::mixed::{TILE, X_TAIL};
        let binding = 32 << 10;
        for (features, hidden) in [(24, 16), (16, 16), (3, 40), (24, 40)] {
            let layout = Layout::new(features, &[hidden]).unwrap();
            for family in [KernelFamily::Layered, KernelFamily::Wide] {
                let plan = cut(&layout, 1000, binding, family, true).unwrap();
                assert!(plan.mixed);
                let pad = |n: usize| n.next_multiple_of(TILE as usize);
                let rows = pad(plan.chunk_rows);
                assert!(
                    2 * (rows * pad(features) + X_TAIL) as u64 <= binding,
                    "{plan:?}"
                );
                assert!(2 * (rows * pad(hidden)) as u64 <= binding, "{plan:?}");
                assert_eq!(plan.rows(), 1000);
                let f32 = new(&layout, 1000, binding, family).unwrap();
                assert!(!f32.mixed);
                if features.max(hidden) < 32 {
                    assert!(plan.chunk_rows < f32.chunk_rows, "{plan:?} {f32:?}");
                }
            }
        }
    }

    #[test]
    fn device_bytes_are_fixed_buffers_and_the_rows_buffers() {
        let layout = Layout::new(16, &[64]).unwrap();
        for family in [KernelFamily::Layered, KernelFamily::Wide] {
            let plan = |rows| new(&layout, rows, 128 << 20, family).unwrap();
            let (small, large) = (plan(1_000), plan(100_000));
            assert_eq!((small.rows(), large.rows()), (1_000, 100_000));
            let fixed =
                |p: &Plan| p.device_bytes(&layout, p.rows(), 0) - p.row_bytes(&layout, p.rows());
            assert_eq!(fixed(&small), fixed(&large), "{family:?}");
            // θ, three snapshots and the gradient at least.
            assert!(fixed(&small) >= 5 * 4 * layout.len() as u64);
            // Exactly, for p = 1,153: 5 × (p + 1) for θ, its three
            // snapshots and the gradient, 2 × p for the loss history and
            // the staging buffer, and 3 × 256 factors: 4 × 8,844 bytes.
            let p = layout.len() as u64;
            assert_eq!(p, 1_153);
            assert_eq!(fixed(&small), 35_376, "{family:?}");
            // Adam's two moments and their three snapshots: 8 floats a
            // parameter more.
            let adam = small.device_bytes(&layout, small.rows(), 2);
            assert_eq!(
                adam - small.device_bytes(&layout, small.rows(), 0),
                4 * 8 * p
            );
            for p in [&small, &large] {
                let data = 4 * p.rows() as u64 * 17;
                assert!(p.row_bytes(&layout, p.rows()) > data, "{family:?}");
            }
        }
    }

    #[test]
    fn plan_refuses_what_cannot_fit() {
        let layout = Layout::new(1024, &[1024]).unwrap();
        assert!(matches!(
            new(&layout, 10, 1 << 20, KernelFamily::Layered),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn choice_picks_the_family() {
        let narrow = Layout::new(8, &[16]).unwrap();
        let deep = Layout::new(8, &[16, 4]).unwrap();
        let shape = KernelFamily::fused_shape(&narrow).unwrap();
        let choose = |c, l, hw| KernelFamily::choose(c, l, hw, false).unwrap();
        assert_eq!(
            choose(KernelChoice::Auto, &narrow, true),
            KernelFamily::Fused(shape)
        );
        assert_eq!(choose(KernelChoice::Auto, &deep, true), KernelFamily::Tiled);
        assert_eq!(
            choose(KernelChoice::Auto, &narrow, false),
            KernelFamily::Layered
        );
        assert_eq!(
            choose(KernelChoice::Fused, &narrow, false),
            KernelFamily::Fused(shape)
        );
        assert_eq!(
            choose(KernelChoice::Tiled, &narrow, false),
            KernelFamily::Tiled
        );
        assert_eq!(
            choose(KernelChoice::Layered, &narrow, true),
            KernelFamily::Layered
        );
        assert!(matches!(
            KernelFamily::choose(KernelChoice::Fused, &deep, true, false),
            Err(Error::Config(_))
        ));
        // Mixed precision has no fused form: one hidden layer runs wide,
        // deeper networks tiled; CPU adapters stay layered.
        assert_eq!(
            KernelFamily::choose(KernelChoice::Auto, &narrow, true, true).unwrap(),
            KernelFamily::Wide
        );
        assert_eq!(
            KernelFamily::choose(KernelChoice::Auto, &deep, true, true).unwrap(),
            KernelFamily::Tiled
        );
        assert_eq!(
            KernelFamily::choose(KernelChoice::Auto, &narrow, false, true).unwrap(),
            KernelFamily::Layered
        );
        assert!(matches!(
            KernelFamily::choose(KernelChoice::Fused, &narrow, true, true),
            Err(Error::Config(_))
        ));
        // Wide for one hidden layer fused does not take, on hardware GPUs;
        // asked for, for any one hidden layer.
        let wide = Layout::new(256, &[1024]).unwrap();
        assert_eq!(choose(KernelChoice::Auto, &wide, true), KernelFamily::Wide);
        assert_eq!(
            choose(KernelChoice::Auto, &wide, false),
            KernelFamily::Layered
        );
        assert_eq!(choose(KernelChoice::Wide, &wide, false), KernelFamily::Wide);
        assert_eq!(
            choose(KernelChoice::Wide, &narrow, true),
            KernelFamily::Wide
        );
        assert!(matches!(
            KernelFamily::choose(KernelChoice::Wide, &deep, true, false),
            Err(Error::Config(_))
        ));
        // The wide kernels have a mixed-precision form.
        assert_eq!(
            KernelFamily::choose(KernelChoice::Wide, &wide, true, true).unwrap(),
            KernelFamily::Wide
        );
    }

    /// A row group shortened to fit a binding stays a multiple of 64 rows:
    /// 256 inputs to 4,096 units under a 4 GiB binding hold ⌊(2^32 − 1) /
    /// (4 × 4,096)⌋ = 262,143 rows of A1, so groups (and chunks) of
    /// 262,080 = 4,095 × 64, and 2,097,153 rows take ⌈2,097,153 /
    /// 262,080⌉ = 9 of them.
    #[test]
    fn shortened_row_groups_stay_a_multiple_of_64_rows() {
        let wide = Layout::new(256, &[4096]).unwrap();
        let plan = new(&wide, 2_097_153, u32::MAX as u64, KernelFamily::Wide).unwrap();
        assert_eq!(
            (plan.group_rows, plan.groups, plan.chunk_rows),
            (262_080, 9, 262_080)
        );
        assert_eq!(plan.chunks.len(), 9);
        assert_eq!(plan.chunks[8], (8 * 262_080, 2_097_153 - 8 * 262_080));
    }

    /// The partials' refusal is "past the binding", not "at it": 11 inputs
    /// to 11 units (144 parameters, a 580-byte partials row with the loss)
    /// under a 2,900-byte binding hold 65 rows of 11, so row groups of 64;
    /// 320 rows are 5 groups, whose partials fill the binding exactly, and
    /// 321 rows are 6 groups (3,480 bytes), refused.
    #[test]
    fn partials_that_exactly_fill_the_binding_are_accepted() {
        let layout = Layout::new(11, &[11]).unwrap();
        assert_eq!(layout.len(), 144);
        let plan = new(&layout, 320, 2_900, KernelFamily::Layered).unwrap();
        assert_eq!((plan.group_rows, plan.groups, plan.chunk_rows), (64, 5, 64));
        assert_eq!(plan.chunks.len(), 5);
        match new(&layout, 321, 2_900, KernelFamily::Layered) {
            Err(e @ Error::TooLarge { need, have, .. }) => {
                assert_eq!((need, have), (3_480, 2_900));
                // Fewer rows at a time fit, and the message says so.
                let e = e.to_string();
                assert!(
                    e.ends_with("or fewer rows at a time (train's --batch-size)"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// A binding of exactly θ's 4p bytes holds the parameters but not a
    /// row group's partials, which carry the loss after the gradient:
    /// 4(p + 1) bytes. One byte less, θ itself is what is refused.
    #[test]
    fn a_partials_row_is_the_parameters_and_the_loss() {
        let layout = Layout::new(16, &[64]).unwrap();
        let p = layout.len() as u64;
        assert_eq!(p, 1153);
        match new(&layout, 100, 4 * p, KernelFamily::Layered) {
            Err(Error::TooLarge {
                what,
                need,
                have,
                fewer_rows,
            }) => {
                assert!(what.contains("one row group's gradient partials"), "{what}");
                assert_eq!((need, have), (4 * (p + 1), 4 * p));
                // No count of rows makes one group's partials smaller.
                assert!(!fewer_rows);
            }
            other => panic!("{other:?}"),
        }
        match new(&layout, 100, 4 * p - 1, KernelFamily::Layered) {
            Err(Error::TooLarge { what, need, .. }) => {
                assert!(what.contains("for the 1153 parameters"), "{what}");
                assert_eq!(need, 4 * p);
            }
            other => panic!("{other:?}"),
        }
    }

    /// The wide split's row groups: W1 of 300 units × 200 inputs is ⌈300 /
    /// 128⌉ × ⌈200 / 128⌉ = 3 × 2 = 6 output tiles, so ⌊512 / 6⌋ = 85 row
    /// groups at most. 5,504 rows (64 × 86) over 85 groups are ⌈5,504 /
    /// 85⌉ = 65 rows each, rounded up to 128: 43 groups. (86 groups, or a
    /// tile count rounded down, would give groups of 64.)
    #[test]
    fn wide_row_groups_follow_the_output_tiles_rounded_up() {
        let layout = Layout::new(200, &[300]).unwrap();
        assert_eq!(wide_tiles(&layout), 6);
        assert_eq!(wide_tiles(&Layout::new(128, &[128]).unwrap()), 1);
        assert_eq!(wide_tiles(&Layout::new(129, &[257]).unwrap()), 3 * 2);
        let plan = new(&layout, 5_504, 2 << 30, KernelFamily::Wide).unwrap();
        assert_eq!((plan.group_rows, plan.groups), (128, 43));
    }

    /// A batch smaller than a binding's rows takes one chunk of its rows
    /// rounded up to whole row groups, not a binding's worth: 100 rows in
    /// groups of 64 are a chunk of 128 rows.
    #[test]
    fn a_small_batch_takes_a_chunk_of_its_own_rows() {
        let layout = Layout::new(16, &[64]).unwrap();
        for family in [KernelFamily::Layered, KernelFamily::Wide] {
            let plan = new(&layout, 100, 128 << 20, family).unwrap();
            assert_eq!((plan.group_rows, plan.chunk_rows), (64, 128), "{family:?}");
            assert_eq!(plan.chunks, vec![(0, 100)]);
        }
    }

    /// The GPU backend indexes rows in u32 with a bit to spare: 2^31 − 1
    /// rows are cut, 2^31 refused.
    #[test]
    fn rows_past_2_pow_31_minus_1_are_refused() {
        let layout = Layout::new(1, &[1]).unwrap();
        let limit = (1usize << 31) - 1;
        let plan = new(&layout, limit, u32::MAX as u64, KernelFamily::Layered).unwrap();
        assert_eq!(plan.rows(), limit);
        let e = new(&layout, limit + 1, u32::MAX as u64, KernelFamily::Layered).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        assert!(e.to_string().contains("at most 2^31 − 1"), "{e}");
    }

    /// The fused kernel takes up to FUSED_WORKGROUP = 256 hidden units:
    /// `--grid`'s check refuses 257, not 256.
    #[test]
    fn fused_hidden_refusal_is_past_256_units() {
        assert_eq!(
            KernelFamily::hidden_refusal(KernelChoice::Fused, &[256]),
            None
        );
        assert_eq!(
            KernelFamily::hidden_refusal(KernelChoice::Fused, &[1]),
            None
        );
        for hidden in [&[257][..], &[0], &[8, 8]] {
            let why = KernelFamily::hidden_refusal(KernelChoice::Fused, hidden).unwrap();
            assert!(why.contains("at most 256 units"), "{why}");
        }
    }

    /// `row_bytes` term by term, 1,000 rows of 16 inputs in groups of 64
    /// (16 groups, a chunk of 1,024 rows): X and y are 1,000 × 17 floats;
    /// the partials 16 × (p + 1), and no sums (the chain starts at 32
    /// rows or fewer); and per chunk row, layer by layer 2 × 130 + 1 (A
    /// and Δ, then r), wide 130 + ⌈130 / 64⌉ + 1 = 134 (A1, its ŷ shares,
    /// r). With p = 16 × 130 + 130 + 130 + 1 = 2,341:
    /// - layered: 4 × (17,000 + 37,472 + 1,024 × 261) = 1,286,944;
    /// - wide: 4 × (17,000 + 37,472 + 1,024 × 134) = 766,752;
    /// - wide, mixed: that and 2 × the f16 halves, padded to 64: X 1,024 ×
    ///   64 and its 64-value tail, W1 192 × 64, Δ1 1,024 × 192:
    ///   766,752 + 2 × 274,496 = 1,315,744.
    ///
    /// On 3,000 rows layered, 47 groups (a chunk of 3,008 rows) sum into
    /// ⌈47 / 32⌉ = 2 rows: 4 × (51,000 + 49 × 2,342 + 3,008 × 261) =
    /// 3,803,384.
    #[test]
    fn row_bytes_add_the_rows_the_partials_and_a_chunk() {
        let layout = Layout::new(16, &[130]).unwrap();
        assert_eq!(layout.len(), 2_341);
        let bytes = |family, mixed| {
            let plan = cut(&layout, 1_000, 128 << 20, family, mixed).unwrap();
            assert_eq!((plan.groups, plan.chunk_rows), (16, 1_024), "{plan:?}");
            plan.row_bytes(&layout, 1_000)
        };
        assert_eq!(bytes(KernelFamily::Layered, false), 1_286_944);
        assert_eq!(bytes(KernelFamily::Wide, false), 766_752);
        assert_eq!(bytes(KernelFamily::Wide, true), 1_315_744);
        let plan = cut(&layout, 3_000, 128 << 20, KernelFamily::Layered, false).unwrap();
        assert_eq!((plan.groups, plan.chunk_rows), (47, 3_008), "{plan:?}");
        assert_eq!(plan.row_bytes(&layout, 3_000), 3_803_384);
    }
}
