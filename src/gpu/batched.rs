//! Mini-batches on the GPU (`--batch-size`). An epoch is the loss of every
//! training row (the trainer's `evaluate` pass, into the epoch's history
//! slot), then ⌈N/B⌉ batches, each `gather_rows` of its rows in the
//! epoch's order into the batch buffers and a pass recorded over those B
//! rows (one chunk) that ends in the update. The last batch, when B does
//! not divide N, has a pass of its own over the rows left.
//!
//! Before each epoch's submit the host writes the epoch's order (the same
//! Fisher–Yates draw as the CPU backends', `MiniBatches::order_into`), the
//! per-update factors of its batches (Adam's, or a schedule's rate) and a
//! zero batch counter, which each batch's update advances: `gather_rows`
//! reads it to find its rows, and the update its factors.

use crate::batches::MiniBatches;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::buffers;
use crate::gpu::context::Context;
use crate::gpu::epoch::{self, Rows, Step, Targets};
use crate::gpu::kernels::{self, Kernel, Kernels, Params, FACTORS};
use crate::gpu::plan::{KernelFamily, Plan};
use crate::model::{Layout, Model};
use crate::optim::{LrSchedule, Optimizer, Rates};

/// The batch passes and the buffers they share with the trainer.
pub(super) struct Batched {
    pub batches: MiniBatches,
    /// Training rows, N.
    rows: usize,
    per_epoch: usize,
    /// The epoch's order of the rows, as u32 (N).
    order: wgpu::Buffer,
    /// Batches done in the epoch in flight.
    counter: wgpu::Buffer,
    /// FACTORS per batch of the epoch (Adam's, or a scheduled rate).
    factors: wgpu::Buffer,
    /// Gather and pass of a batch of B rows, and of the last, shorter one
    /// (empty when B divides N).
    full: Vec<Step>,
    last: Vec<Step>,
    /// Host copies of the order (as drawn, and as uploaded) and of the
    /// factors, kept for their allocations.
    order_host: Vec<usize>,
    order_u32: Vec<u32>,
    factors_host: Vec<f32>,
    /// Held so the bind groups' buffers outlive every submit.
    _buffers: Vec<wgpu::Buffer>,
}

/// What the batch passes update, shared with the trainer's own passes.
pub(super) struct Shared<'a> {
    pub theta: &'a wgpu::Buffer,
    pub state: Option<&'a wgpu::Buffer>,
    pub opt: &'a Optimizer,
    pub schedule: &'a LrSchedule,
    pub family: KernelFamily,
}

/// An epoch's batches over `rows` rows: how many, the first batch's rows
/// and its plan, and the last's where it has fewer (B does not divide N).
struct Cut {
    per_epoch: usize,
    size: usize,
    full: Plan,
    last: Option<(usize, Plan)>,
}

impl Cut {
    fn new(
        ctx: &Context,
        layout: &Layout,
        family: KernelFamily,
        rows: usize,
        batches: MiniBatches,
    ) -> Result<Cut> {
        let (per_epoch, mut ranges) = (batches.per_epoch(rows), batches.ranges(rows));
        let size = ranges.next().map_or(0, |r| r.len());
        let left = ranges.last().map_or(size, |r| r.len());
        let plan = |rows| Plan::cut_on(ctx, layout, rows, family, false);
        Ok(Cut {
            per_epoch,
            size,
            full: plan(size)?,
            last: (left < size).then(|| Ok((left, plan(left)?))).transpose()?,
        })
    }
}

/// Bytes of device memory [`Batched::new`] allocates beside the trainer's
/// own buffers, for `batches` over `rows` rows of `layout` run by
/// `family`: X and y again with the order, the step factors and losses of
/// an epoch, the gradient's sums, and each batch plan's rows, partials
/// and per-row buffers (the partials, shared, counted once a plan: an
/// upper bound).
pub(super) fn device_bytes(
    ctx: &Context,
    layout: &Layout,
    family: KernelFamily,
    rows: usize,
    batches: MiniBatches,
) -> Result<u64> {
    let cut = Cut::new(ctx, layout, family, rows, batches)?;
    let mut bytes = 4
        * (rows * (layout.features() + 2)
            + cut.per_epoch * (FACTORS + 1)
            + kernels::grad_len(layout.len())) as u64;
    bytes += cut.full.row_bytes(layout, cut.size);
    if let Some((left, last)) = &cut.last {
        bytes += last.row_bytes(layout, *left);
    }
    Ok(bytes)
}

impl Batched {
    /// Uploads `data` once more as whole-set buffers for `gather_rows`, and
    /// records a batch's passes with `shared.family`'s kernels.
    pub(super) fn new(
        ctx: &Context,
        kernels: &Kernels,
        model: &Model,
        data: &Dataset,
        batches: MiniBatches,
        shared: Shared<'_>,
    ) -> Result<Batched> {
        let (rows, features) = (data.rows, data.features);
        let x_bytes = (rows as u64).saturating_mul(features as u64 * 4);
        if x_bytes > ctx.max_binding() {
            return Err(Error::Config(format!(
                "mini-batches on the GPU gather from X in one binding: {rows} rows × {features} features take {x_bytes} bytes, past this adapter's {} (use --backend cpu)",
                ctx.max_binding()
            )));
        }
        let per_epoch = batches.per_epoch(rows);
        // An epoch's factors, FACTORS per batch, lie in one binding too.
        let most = (ctx.max_binding() / (4 * FACTORS as u64)) as usize;
        if per_epoch > most {
            return Err(Error::Config(format!(
                "mini-batches on the GPU keep an epoch's {per_epoch} batches' step factors in one binding, past this adapter's {} bytes; give --batch-size {} or more (at most {most} batches an epoch), or use --backend cpu",
                ctx.max_binding(),
                rows.div_ceil(most)
            )));
        }
        let Cut {
            size, full, last, ..
        } = Cut::new(ctx, &model.layout, shared.family, rows, batches)?;
        let p = model.layout.len();
        let x_all = buffers::storage_with(ctx, "x_all", &data.x)?;
        let y_all = buffers::storage_with(ctx, "y_all", &data.y)?;
        let order = buffers::storage(ctx, "batch_order", rows)?;
        let counter = buffers::storage(ctx, "batch_counter", 1)?;
        let factors = buffers::storage(ctx, "batch_factors", FACTORS * per_epoch)?;
        let history = buffers::storage(ctx, "batch_losses", per_epoch)?;
        let x = buffers::storage(ctx, "x_batch", size * features)?;
        let y = buffers::storage(ctx, "y_batch", size)?;
        let grad = buffers::storage(ctx, "d_theta_batch", kernels::grad_len(p))?;
        // The last batch may have more row groups than a full one, though
        // fewer rows: 262,144 rows make 4,096 groups of 64, 262,208 make
        // 2,049 of 128.
        let groups = (last.as_ref()).map_or(full.groups, |(_, l)| l.groups.max(full.groups));
        let partials = buffers::storage(ctx, "batch_partials", groups * (p + 1))?;
        let targets = Targets {
            theta: shared.theta,
            partials: &partials,
            history: &history,
            counter: &counter,
            state: shared.state,
            corrections: &factors,
            scheduled: !shared.schedule.is_constant(),
            grad: &grad,
        };
        let mut keep = Vec::new();
        let mut batch = |rows: usize, plan: &Plan| -> Result<Vec<Step>> {
            let gather = Params::gather(rows, features, size);
            let pipeline = kernels.pipeline(ctx, Kernel::GatherRows)?.clone();
            let (step, uniform) = Step::new(
                ctx,
                pipeline,
                Kernel::GatherRows,
                &format!("gather_rows[{rows}]"),
                &gather,
                &[&x, &y, &x_all, &y_all, &order, &counter],
            )?;
            keep.extend(uniform);
            let passes = epoch::record(
                ctx,
                kernels,
                model,
                Rows::Batch { x: &x, y: &y, rows },
                plan,
                shared.opt,
                &targets,
            )?;
            keep.extend(passes.keep);
            Ok(std::iter::once(step).chain(passes.epoch).collect())
        };
        let full = batch(size, &full)?;
        let last = match &last {
            Some((left, last)) => batch(*left, last)?,
            None => Vec::new(),
        };
        keep.extend([x_all, y_all, history, x, y, grad, partials]);
        Ok(Batched {
            batches,
            rows,
            per_epoch,
            order,
            counter,
            factors,
            full,
            last,
            order_host: Vec::new(),
            order_u32: Vec::new(),
            factors_host: Vec::new(),
            _buffers: keep,
        })
    }

    pub(super) fn per_epoch(&self) -> usize {
        self.per_epoch
    }

    /// Writes, for the next submit, the order of the epoch that follows
    /// `steps` updates, its batches' factors (the rate by `rates`) and a
    /// zero batch counter.
    pub(super) fn write_epoch(
        &mut self,
        ctx: &Context,
        opt: &Optimizer,
        rates: &Rates,
        steps: u64,
    ) {
        let epoch = self.batches.epoch(self.rows, steps);
        self.batches
            .order_into(self.rows, epoch, &mut self.order_host, crate::cpu::cores());
        self.order_u32.clear();
        self.order_u32
            .extend(self.order_host.iter().map(|&n| n as u32));
        ctx.queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(&self.order_u32));
        let stepped = rates.at(opt, epoch);
        self.factors_host.clear();
        self.factors_host
            .extend((1..=self.per_epoch as u64).flat_map(|k| Params::factors(&stepped, steps + k)));
        ctx.queue
            .write_buffer(&self.factors, 0, bytemuck::cast_slice(&self.factors_host));
        ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
    }

    /// Records the epoch's batches into `pass`.
    pub(super) fn record(&self, kernels: &Kernels, pass: &mut wgpu::ComputePass<'_>) {
        let full = self.per_epoch - usize::from(!self.last.is_empty());
        for _ in 0..full {
            for s in &self.full {
                s.record(kernels, pass);
            }
        }
        for s in &self.last {
            s.record(kernels, pass);
        }
    }
}
