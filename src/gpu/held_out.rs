//! `--validation-split` on the device: the held-out rows' loss, measured in
//! the same submit as the epochs, before each epoch's update.
//!
//! The held-out rows get an `evaluate` pass of their own, reading the
//! trainer's θ: forward, the loss partials and their sums, appended to a
//! history and a counter of their own. So every epoch has its validation
//! loss, whatever the batching, and the host scores nothing while the run
//! lasts. The pass sums the loss alone ([`Plan::loss_on`]): the forward
//! and output kernels of the family that trains, one float a row group;
//! under the fused family or mixed precision it runs the epoch's own
//! kernels, and sums their gradient partials too.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
use crate::gpu::epoch::{self, Rows, Step, Targets};
use crate::gpu::kernels::Kernels;
use crate::gpu::plan::{Plan, MAX_BATCH};
use crate::gpu::trainer::Source;
use crate::model::{Layout, Model};
use crate::optim::Optimizer;

/// The held-out rows' evaluate pass and where it writes.
pub(super) struct HeldOut {
    evaluate: Vec<Step>,
    /// One loss per epoch of the submit in flight.
    history: wgpu::Buffer,
    /// Losses written into `history`; zeroed before each submit.
    counter: wgpu::Buffer,
    /// The losses of the last `run` (one per epoch, of the parameters at
    /// its start) or `loss` call.
    pub last: Vec<f64>,
    /// Held so the bind groups' buffers outlive every submit.
    _buffers: Vec<wgpu::Buffer>,
}

/// What the held-out passes share with the trainer.
pub(super) struct Shared<'a> {
    pub ctx: &'a Context,
    pub kernels: &'a Kernels,
    /// The training rows' plan: its kernel family and precision.
    pub plan: &'a Plan,
    pub opt: &'a Optimizer,
    pub theta: &'a wgpu::Buffer,
    pub state: Option<&'a wgpu::Buffer>,
    pub corrections: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
}

impl HeldOut {
    /// Uploads `rows` and records their evaluate pass over `trainer`'s θ.
    pub fn new(trainer: Shared<'_>, model: &Model, rows: &Dataset) -> Result<HeldOut> {
        if rows.features != model.layout.features() {
            return Err(Error::Config(format!(
                "the held-out rows have {} features but the model takes {}",
                rows.features,
                model.layout.features()
            )));
        }
        let Shared { ctx, plan, .. } = trainer;
        let p = model.layout.len();
        let held = plan_for(ctx, &model.layout, rows.rows, plan)?;
        let partials = buffers::storage(ctx, "held_out_partials", held.partials_len(p))?;
        let history = buffers::storage(ctx, "held_out_history", MAX_BATCH)?;
        let counter = buffers::storage(ctx, "held_out_counter", 1)?;
        // Where the passes sum gradient partials (fused, mixed), the epoch
        // and gradient passes recorded beside `evaluate` never run: they
        // bind the trainer's buffers only to be complete.
        let targets = Targets {
            theta: trainer.theta,
            partials: &partials,
            history: &history,
            counter: &counter,
            state: trainer.state,
            corrections: trainer.corrections,
            scheduled: false,
            grad: trainer.grad,
        };
        let passes = epoch::record(
            ctx,
            trainer.kernels,
            model,
            Rows::Source(Source::Host(rows)),
            &held,
            trainer.opt,
            &targets,
        )?;
        let mut keep = passes.keep;
        keep.push(partials);
        Ok(HeldOut {
            evaluate: passes.evaluate,
            history,
            counter,
            last: Vec::new(),
            _buffers: keep,
        })
    }

    /// Zeroes the counter, for a submit of up to MAX_BATCH epochs.
    pub fn start(&self, ctx: &Context) {
        ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
    }

    /// Records one measurement, of the parameters θ holds at that point.
    pub fn record(&self, kernels: &Kernels, pass: &mut wgpu::ComputePass<'_>) {
        for s in &self.evaluate {
            s.record(kernels, pass);
        }
    }

    /// Records the copy of the submit's `epochs` losses into `staging`,
    /// after the training losses' MAX_BATCH slots.
    pub fn copy(&self, staging: &Staging, encoder: &mut wgpu::CommandEncoder, epochs: usize) {
        staging.copy_from_at(encoder, &self.history, epochs, MAX_BATCH);
    }

    /// Appends the losses of a readback that `copy` filled to `last`.
    pub fn read(&mut self, read: &[f32], epochs: usize) {
        self.last.extend(
            read[MAX_BATCH..MAX_BATCH + epochs]
                .iter()
                .map(|&l| l as f64),
        );
    }
}

/// How `rows` held-out rows of `layout` are cut, beside a trainer cut by
/// `plan`: for their loss alone ([`Plan::loss_on`]), in chunks of their
/// own. [`Plan::row_bytes`] is what their buffers take.
pub fn plan_for(ctx: &Context, layout: &Layout, rows: usize, plan: &Plan) -> Result<Plan> {
    Plan::loss_on(ctx, layout, rows, plan.family, plan.mixed)
}
