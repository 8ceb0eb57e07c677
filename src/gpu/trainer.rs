//! The GPU backend. Buffers, uniforms and bind groups are built once; an
//! epoch is a fixed list of dispatches recorded into one compute pass, and
//! many epochs go into one submit. Each epoch's loss is copied into a
//! device-side history that is read back once per batch.
//!
//! [`Plan`] cuts the batch into chunks and row groups and holds the
//! [`KernelFamily`] that runs it; `gpu::epoch` records the passes;
//! `gpu::profile` times them per kernel.

use std::sync::Arc;

use crate::batches::MiniBatches;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::batched::{Batched, Shared};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
use crate::gpu::epoch::{self, Rows, Step, Targets};
use crate::gpu::held_out::{self, HeldOut};
use crate::gpu::kernels::{self, Kernels, Params, FACTORS};
use crate::gpu::plan::{KernelChoice, KernelFamily, Plan, MAX_BATCH};
use crate::model::{Layout, Model};
use crate::optim::lbfgs::Objective;
use crate::optim::{self, LrSchedule, Optimizer, Rates, Saved};
use crate::train::{Backend, SNAPSHOT_SLOTS};

/// Where the trainer's rows come from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// Uploaded from the host.
    Host(&'a Dataset),
    /// Generated on the device from `seed`: the synthetic task of
    /// docs/spec.md, the same X, bit for bit, as [`Dataset::synthetic`], so
    /// the batch never crosses the bus.
    /// `first` is the row the first generated row is in the whole task
    /// (a process's or a shard's part of it; 0 for all of it).
    Synthetic {
        rows: usize,
        seed: u64,
        first: usize,
    },
}

impl Source<'_> {
    pub fn rows(&self) -> usize {
        match self {
            Source::Host(d) => d.rows,
            Source::Synthetic { rows, .. } => *rows,
        }
    }

    /// Whether `model` can train on these rows: the CPU backends' checks
    /// ([`crate::cpu::reference::check_fit`]).
    fn check(&self, model: &Model) -> Result<()> {
        match self {
            Source::Host(d) => crate::cpu::reference::check_fit(model, d),
            Source::Synthetic { rows: 0, .. } => {
                Err(Error::Config("the data set needs at least one row".into()))
            }
            Source::Synthetic { .. } => model.check(),
        }
    }
}

/// Floats the staging buffer holds: the optimizer's state (for a
/// checkpoint), the gradient and loss of L-BFGS's pass (p + 1), or
/// `histories` × MAX_BATCH losses (the training rows', then the held-out
/// rows').
fn staging_len(opt: &Optimizer, p: usize, histories: usize) -> usize {
    (opt.state_per_param() * p)
        .max(p + 1)
        .max(histories * MAX_BATCH)
}

/// Which of its recorded passes [`GpuTrainer::submit`] repeats.
#[derive(Clone, Copy)]
enum Pass {
    Epoch,
    Evaluate,
}

/// How a trainer's updates are made: the optimizer, the learning rate by
/// epoch, and mini-batches (`None`: one full-batch update per epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Updates {
    pub opt: Optimizer,
    pub schedule: LrSchedule,
    pub batches: Option<MiniBatches>,
}

impl Updates {
    /// `opt` at a constant rate, full-batch.
    pub fn of(opt: Optimizer) -> Updates {
        Updates {
            opt,
            ..Updates::default()
        }
    }
}

pub struct GpuTrainer {
    /// The device, owned or shared with other trainers (the tests share
    /// one per process).
    pub(super) ctx: Arc<Context>,
    pub(super) kernels: Kernels,
    params_len: usize,
    plan: Plan,
    opt: Optimizer,
    /// The learning rate by epoch (`--lr-schedule`, and the plateau's cuts).
    rates: Rates,
    theta: wgpu::Buffer,
    saved: [wgpu::Buffer; SNAPSHOT_SLOTS],
    /// The first-order optimizer's state (v, or m then v), and its
    /// snapshots; `None` for gd and L-BFGS.
    state: Option<[wgpu::Buffer; 1 + SNAPSHOT_SLOTS]>,
    /// Updates applied so far (Adam's t before the next batch), and at
    /// each snapshot.
    steps: u64,
    saved_steps: [u64; SNAPSHOT_SLOTS],
    /// The per-epoch factors of the batch in flight: Adam's, or a
    /// scheduled rule's learning rates (unused otherwise).
    corrections: wgpu::Buffer,
    /// The summed gradient and loss of the last `gradient` pass (p + 1).
    grad: wgpu::Buffer,
    /// Losses of the batch in flight, one per epoch.
    history: wgpu::Buffer,
    /// Epochs recorded into `history`; zeroed before each batch.
    pub(super) counter: wgpu::Buffer,
    staging: Staging,
    /// Forward, backward, reductions and the update: one epoch.
    pub(super) epoch: Vec<Step>,
    /// Forward and the loss only.
    evaluate: Vec<Step>,
    /// Forward, backward and the sums into `grad`, without an update.
    gradient: Vec<Step>,
    /// Mini-batches: the batch passes, after `evaluate`, make an epoch.
    batched: Option<Batched>,
    /// `--validation-split`: the held-out rows' loss, measured before each
    /// epoch's update ([`GpuTrainer::hold_out`]).
    held_out: Option<HeldOut>,
    /// Held so the bind groups' buffers outlive every submit.
    _buffers: Vec<wgpu::Buffer>,
}

/// Refuses rows the mixed path cannot hold: its first layer reads the
/// features in f16, whose largest finite value is 65504 (a feature past
/// it would be ±∞ there, and every gradient or held-out loss NaN); `what`
/// rows they are, for the error.
fn check_f16_features(rows: &Dataset, what: &str) -> Result<()> {
    let at = rows.x.iter().position(|v| v.abs() > 65504.0);
    let Some(at) = at else {
        return Ok(());
    };
    let f = rows.features.max(1);
    Err(Error::Config(format!(
        "--precision mixed reads the features in f16, whose largest value is 65504, and feature '{}' holds {} ({what} row {}): {}",
        rows.feature_names.get(at % f).map_or("?", String::as_str),
        crate::optim::short(f64::from(rows.x[at])),
        at / f + 1,
        match what {
            // Standardised by the training rows' statistics, an outlier
            // held out stays one.
            "training" => "give --standardize, or --precision f32",
            _ => "use --precision f32",
        }
    )))
}

impl GpuTrainer {
    /// Uploads `data` and `model`'s parameters and builds every pipeline,
    /// buffer and bind group the epochs need, with the kernels
    /// [`KernelChoice::Auto`] picks. `ctx` is a [`Context`] of its own or
    /// an `Arc<Context>` shared with others.
    pub fn new(
        ctx: impl Into<Arc<Context>>,
        model: &Model,
        data: &Dataset,
        opt: Optimizer,
    ) -> Result<GpuTrainer> {
        GpuTrainer::with(ctx, model, Source::Host(data), opt, KernelChoice::Auto)
    }

    /// As [`GpuTrainer::new`], with the rows of `data` and the kernels of
    /// `choice`.
    pub fn with(
        ctx: impl Into<Arc<Context>>,
        model: &Model,
        data: Source<'_>,
        opt: Optimizer,
        choice: KernelChoice,
    ) -> Result<GpuTrainer> {
        GpuTrainer::with_updates(ctx, model, data, Updates::of(opt), choice)
    }

    /// As [`GpuTrainer::with`], the updates made as `updates` says.
    /// Mini-batches need the rows on the host, in f32 (not
    /// `--precision mixed`).
    pub fn with_updates(
        ctx: impl Into<Arc<Context>>,
        model: &Model,
        data: Source<'_>,
        updates: Updates,
        choice: KernelChoice,
    ) -> Result<GpuTrainer> {
        let ctx = ctx.into();
        data.check(model)?;
        updates.opt.check()?;
        let layout = &model.layout;
        let batched = updates.batches.is_some();
        let plan = GpuTrainer::plan_with(&ctx, layout, data.rows(), choice, batched)?;
        if let (true, Source::Host(rows)) = (plan.mixed, data) {
            check_f16_features(rows, "training")?;
        }
        let mut need = plan.device_bytes(layout, data.rows(), updates.opt.state_per_param());
        if let Some(batches) = updates.batches {
            need += GpuTrainer::batches_bytes(&ctx, layout, data.rows(), &plan, batches)?;
        }
        GpuTrainer::build(ctx, model, data, updates, plan).map_err(|e| match e {
            Error::OutOfMemory { label, .. } => Error::OutOfMemory {
                label,
                need: Some(need),
            },
            e => e,
        })
    }

    /// How [`GpuTrainer::with`] would cut `rows` rows of `layout` with the
    /// kernels of `choice`, or the buffer that exceeds the adapter's
    /// limits; nothing is allocated. [`Plan::device_bytes`] is what the
    /// buffers then take.
    pub fn plan_for(
        ctx: &Context,
        layout: &Layout,
        rows: usize,
        choice: KernelChoice,
    ) -> Result<Plan> {
        GpuTrainer::plan_with(ctx, layout, rows, choice, false)
    }

    /// [`GpuTrainer::plan_for`] a trainer that updates in mini-batches
    /// where `batched` is set: its passes over every row only measure the
    /// loss ([`Plan::loss_on`]), and each batch has a plan of its own.
    pub fn plan_with(
        ctx: &Context,
        layout: &Layout,
        rows: usize,
        choice: KernelChoice,
        batched: bool,
    ) -> Result<Plan> {
        let hardware = ctx.info.device_type != wgpu::DeviceType::Cpu;
        let mixed = ctx.mixed.is_some();
        let family = KernelFamily::choose(choice, layout, hardware, mixed)?;
        match batched {
            true => Plan::loss_on(ctx, layout, rows, family, mixed),
            false => Plan::cut_on(ctx, layout, rows, family, mixed),
        }
    }

    /// Bytes of device memory that mini-batches of `batches` add to a
    /// trainer of `rows` rows cut by `plan` (beside [`Plan::device_bytes`]).
    pub fn batches_bytes(
        ctx: &Context,
        layout: &Layout,
        rows: usize,
        plan: &Plan,
        batches: MiniBatches,
    ) -> Result<u64> {
        super::batched::device_bytes(ctx, layout, plan.family, rows, batches)
    }

    /// Bytes of device memory that [`GpuTrainer::hold_out`] of `rows` rows
    /// adds to a trainer cut by `plan` (beside [`Plan::device_bytes`]).
    pub fn held_out_bytes(ctx: &Context, layout: &Layout, rows: usize, plan: &Plan) -> Result<u64> {
        Ok(held_out::plan_for(ctx, layout, rows, plan)?.row_bytes(layout, rows))
    }

    /// Allocates the buffers and records the passes that `plan` calls for.
    fn build(
        ctx: Arc<Context>,
        model: &Model,
        data: Source<'_>,
        updates: Updates,
        plan: Plan,
    ) -> Result<GpuTrainer> {
        let Updates {
            opt,
            schedule,
            batches,
        } = updates;
        let kernels = Kernels::new(&ctx)?;
        let p = model.layout.len();
        let theta = buffers::storage_with(&ctx, "theta", &model.params)?;
        let saved = [
            buffers::storage(&ctx, "theta_saved[0]", p)?,
            buffers::storage(&ctx, "theta_saved[1]", p)?,
            buffers::storage(&ctx, "theta_saved[2]", p)?,
        ];
        // One row per row group: its gradient, then its loss term (the loss
        // term alone beside mini-batches).
        let partials = buffers::storage(&ctx, "d_theta_partials", plan.partials_len(p))?;
        let history = buffers::storage(&ctx, "loss_history", MAX_BATCH)?;
        let counter = buffers::storage(&ctx, "epoch_counter", 1)?;
        let per_param = opt.state_per_param();
        let staging = Staging::new(&ctx, "staging", staging_len(&opt, p, 1))?;
        let state = if per_param > 0 {
            let state = |label: &str| buffers::storage(&ctx, label, per_param * p);
            Some([
                state("optim_state")?,
                state("optim_state_saved[0]")?,
                state("optim_state_saved[1]")?,
                state("optim_state_saved[2]")?,
            ])
        } else {
            None
        };
        let corrections = buffers::storage(&ctx, "per_epoch_factors", FACTORS * MAX_BATCH)?;
        let grad = buffers::storage(&ctx, "d_theta", kernels::grad_len(p))?;
        let targets = Targets {
            theta: &theta,
            partials: &partials,
            history: &history,
            counter: &counter,
            state: state.as_ref().map(|s| &s[0]),
            corrections: &corrections,
            scheduled: !schedule.is_constant(),
            grad: &grad,
        };
        let passes = epoch::record(
            &ctx,
            &kernels,
            model,
            Rows::Source(data),
            &plan,
            &opt,
            &targets,
        )?;
        let batched = match (batches, data) {
            (None, _) => None,
            (Some(_), _) if plan.mixed => {
                return Err(Error::Config(
                    "mini-batches on the GPU run in f32; leave out --precision".into(),
                ))
            }
            (Some(batches), Source::Host(rows)) => {
                let shared = Shared {
                    theta: &theta,
                    state: state.as_ref().map(|s| &s[0]),
                    opt: &opt,
                    schedule: &schedule,
                    family: plan.family,
                };
                Some(Batched::new(&ctx, &kernels, model, rows, batches, shared)?)
            }
            (Some(_), Source::Synthetic { .. }) => {
                return Err(Error::Config(
                    "mini-batches on the GPU gather from rows uploaded from the host, not generated on the device".into(),
                ))
            }
        };
        let mut keep = passes.keep;
        keep.push(partials);
        Ok(GpuTrainer {
            ctx,
            kernels,
            params_len: p,
            plan,
            opt,
            rates: Rates {
                schedule,
                cuts: Vec::new(),
            },
            theta,
            saved,
            state,
            steps: 0,
            saved_steps: [0; SNAPSHOT_SLOTS],
            corrections,
            grad,
            history,
            counter,
            staging,
            epoch: passes.epoch,
            evaluate: passes.evaluate,
            gradient: passes.gradient,
            batched,
            held_out: None,
            _buffers: keep,
        })
    }

    /// Measures the loss of `rows` (held out from training) on the device
    /// from now on: at every epoch's start, in the epoch's own submit, and
    /// with every [`Backend::loss`]; [`Backend::held_out`] returns them.
    pub fn hold_out(&mut self, model: &Model, rows: &Dataset) -> Result<()> {
        if self.plan.mixed {
            check_f16_features(rows, "held-out")?;
        }
        let trainer = held_out::Shared {
            ctx: &self.ctx,
            kernels: &self.kernels,
            plan: &self.plan,
            opt: &self.opt,
            theta: &self.theta,
            state: self.state.as_ref().map(|s| &s[0]),
            corrections: &self.corrections,
            grad: &self.grad,
        };
        let layout = &model.layout;
        let need = held_out::plan_for(&self.ctx, layout, rows.rows, &self.plan)
            .map(|held| held.row_bytes(layout, rows.rows))
            .map(|more| {
                let state = self.opt.state_per_param();
                more + self.plan.device_bytes(layout, self.plan.rows(), state)
            });
        let held = HeldOut::new(trainer, model, rows).map_err(|e| match e {
            Error::OutOfMemory { label, .. } => Error::OutOfMemory {
                label,
                need: need.ok(),
            },
            e => e,
        })?;
        // The training losses, then the held-out ones, in one readback.
        let len = staging_len(&self.opt, self.params_len, 2);
        self.staging = Staging::new(&self.ctx, "staging", len)?;
        self.held_out = Some(held);
        Ok(())
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The kernels that run the epoch.
    pub fn family(&self) -> KernelFamily {
        self.plan.family
    }

    pub(super) fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Records `epochs` repetitions of `steps` in one compute pass, their
    /// losses into history slots 0..epochs, and the copy of those slots to
    /// the staging buffer; then submits and reads them back.
    /// With held-out rows, each repetition first measures their loss.
    fn submit(&mut self, label: &str, which: Pass, epochs: usize) -> Result<Vec<f32>> {
        let steps = match which {
            Pass::Epoch => &self.epoch,
            Pass::Evaluate => &self.evaluate,
        };
        let encoder = self.encode(label, steps, epochs);
        self.read_losses(encoder, epochs)
    }

    /// `epochs` repetitions of `steps` in one compute pass, for [`submit`].
    fn encode(&self, label: &str, steps: &[Step], epochs: usize) -> wgpu::CommandEncoder {
        // The last kernel of each epoch appends its loss at this counter.
        self.ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
        if let Some(h) = &self.held_out {
            h.start(&self.ctx);
        }
        let mut encoder = self.encoder(label);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            for _ in 0..epochs {
                if let Some(h) = &self.held_out {
                    h.record(&self.kernels, &mut pass);
                }
                for s in steps {
                    s.record(&self.kernels, &mut pass);
                }
            }
        }
        encoder
    }

    /// Copies the submit's `epochs` losses (and held-out losses) to the
    /// host, submitting `encoder`; returns the training losses.
    fn read_losses(
        &mut self,
        mut encoder: wgpu::CommandEncoder,
        epochs: usize,
    ) -> Result<Vec<f32>> {
        self.staging.copy_from(&mut encoder, &self.history, epochs);
        let Some(h) = &mut self.held_out else {
            return self.staging.finish(&self.ctx, encoder, epochs);
        };
        h.copy(&self.staging, &mut encoder, epochs);
        let mut read = self
            .staging
            .finish(&self.ctx, encoder, MAX_BATCH + epochs)?;
        h.read(&read, epochs);
        read.truncate(epochs);
        Ok(read)
    }

    fn state_len(&self) -> usize {
        self.opt.state_per_param() * self.params_len
    }

    /// Copies the first `len` floats of `from` into `to`.
    fn copy_buffer(&self, from: &wgpu::Buffer, to: &wgpu::Buffer, len: usize) -> Result<()> {
        let mut encoder = self.encoder("params copy");
        encoder.copy_buffer_to_buffer(from, 0, to, 0, (len * 4) as u64);
        self.ctx.queue.submit([encoder.finish()]);
        self.ctx.check()
    }

    /// Destroys the device, as a lost device would be; for tests of the
    /// error path. Every holder of a shared context loses it too.
    pub fn destroy_device(&self) {
        self.ctx.device.destroy();
    }
}

impl GpuTrainer {
    /// `epochs` mini-batch epochs (at most MAX_BATCH per history), one
    /// submit each: the loss of every row into the history, then the
    /// batches; the losses are read back once, after the last.
    fn run_batched(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        let Some(mut batched) = self.batched.take() else {
            return Ok(());
        };
        let ran = self.run_batches(&mut batched, epochs, losses);
        self.batched = Some(batched);
        ran
    }

    fn run_batches(
        &mut self,
        batched: &mut Batched,
        epochs: usize,
        losses: &mut Vec<f64>,
    ) -> Result<()> {
        for first in (0..epochs).step_by(MAX_BATCH) {
            let m = (epochs - first).min(MAX_BATCH);
            // The evaluate pass appends each epoch's loss at this counter.
            self.ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
            if let Some(h) = &self.held_out {
                h.start(&self.ctx);
            }
            for k in 0..m {
                batched.write_epoch(&self.ctx, &self.opt, &self.rates, self.steps);
                let mut encoder =
                    self.ctx
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("mini-batch epoch"),
                        });
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("mini-batch epoch"),
                        timestamp_writes: None,
                    });
                    if let Some(h) = &self.held_out {
                        h.record(&self.kernels, &mut pass);
                    }
                    for s in &self.evaluate {
                        s.record(&self.kernels, &mut pass);
                    }
                    batched.record(&self.kernels, &mut pass);
                }
                self.steps += batched.per_epoch() as u64;
                if k + 1 < m {
                    self.ctx.queue.submit([encoder.finish()]);
                } else {
                    let batch = self.read_losses(encoder, m)?;
                    losses.extend(batch.iter().map(|&l| l as f64));
                }
            }
        }
        Ok(())
    }

    /// The factors of the next `epochs` epochs, into `corrections`: Adam's
    /// (from the epoch's scheduled rate), or a scheduled rule's rate.
    fn write_corrections(&self, epochs: usize) {
        let adam = matches!(self.opt, Optimizer::Adam { .. });
        if !adam && self.rates.schedule.is_constant() {
            return;
        }
        let factors: Vec<f32> = (0..epochs as u64)
            .flat_map(|k| {
                let epoch = self.steps + k;
                Params::factors(&self.rates.at(&self.opt, epoch), epoch + 1)
            })
            .collect();
        self.ctx
            .queue
            .write_buffer(&self.corrections, 0, bytemuck::cast_slice(&factors));
    }
}

impl Objective for GpuTrainer {
    fn describe(&self) -> String {
        let precision = match self.ctx.mixed_name() {
            Some(mixed) if self.plan.mixed => format!(", {mixed}"),
            _ => String::new(),
        };
        let batches = match &self.batched {
            Some(b) => format!(", mini-batches of {}", b.batches.size),
            None => String::new(),
        };
        format!(
            "gpu: {}, {} kernels{precision}{batches}",
            crate::gpu::context::describe(&self.ctx.info),
            self.family().name()
        )
    }

    fn params_len(&self) -> usize {
        self.params_len
    }

    /// The loss is summed in f32 over row groups and read back in f32:
    /// about 2^-20 of it, a few roundings of 2^-24 each.
    fn loss_rounding(&self) -> f64 {
        f64::powi(2.0, -20)
    }

    /// Uploads `params`, runs the forward and backward passes and the sums,
    /// and reads back the p gradients and the loss (one submit, one
    /// readback of p + 1 floats).
    fn evaluate(&mut self, params: &[f32], grad: &mut [f64]) -> Result<f64> {
        if self.gradient.is_empty() {
            return Err(Error::Config(
                "a GPU trainer in mini-batches has no full-batch gradient pass (L-BFGS needs full batches)".into(),
            ));
        }
        self.ctx
            .queue
            .write_buffer(&self.theta, 0, bytemuck::cast_slice(params));
        let mut encoder = self.encoder("gradient");
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("gradient"),
                timestamp_writes: None,
            });
            for s in &self.gradient {
                s.record(&self.kernels, &mut pass);
            }
        }
        let p = self.params_len;
        self.staging.copy_from(&mut encoder, &self.grad, p + 1);
        let sums = self.staging.finish(&self.ctx, encoder, p + 1)?;
        for (d, &g) in grad.iter_mut().zip(&sums[..p]) {
            *d = g as f64;
        }
        Ok(sums[p] as f64)
    }
}

impl Backend for GpuTrainer {
    fn describe(&self) -> String {
        Objective::describe(self)
    }

    fn optimizer(&self) -> Optimizer {
        self.opt
    }

    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        self.optimizer().stepped()?;
        if let Some(h) = &mut self.held_out {
            h.last.clear();
        }
        if self.batched.is_some() {
            return self.run_batched(epochs, losses);
        }
        let mut done = 0;
        while done < epochs {
            let m = (epochs - done).min(MAX_BATCH);
            self.write_corrections(m);
            let batch = self.submit("epochs", Pass::Epoch, m)?;
            losses.extend(batch.iter().map(|&l| l as f64));
            self.steps += m as u64;
            done += m;
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        if let Some(h) = &mut self.held_out {
            h.last.clear();
        }
        Ok(self.submit("evaluate", Pass::Evaluate, 1)?[0] as f64)
    }

    fn held_out(&self) -> Option<&[f64]> {
        self.held_out.as_ref().map(|h| h.last.as_slice())
    }

    fn snapshot(&mut self, slot: usize) -> Result<()> {
        self.saved_steps[slot] = self.steps;
        if let Some([now, saved @ ..]) = &self.state {
            self.copy_buffer(now, &saved[slot], self.state_len())?;
        }
        self.copy_buffer(&self.theta, &self.saved[slot], self.params_len)
    }

    fn restore(&mut self, slot: usize) -> Result<()> {
        self.steps = self.saved_steps[slot];
        if let Some([now, saved @ ..]) = &self.state {
            self.copy_buffer(&saved[slot], now, self.state_len())?;
        }
        self.copy_buffer(&self.saved[slot], &self.theta, self.params_len)
    }

    fn params(&mut self) -> Result<Vec<f32>> {
        self.staging.read(&self.ctx, &self.theta, self.params_len)
    }

    fn set_rate_cuts(&mut self, cuts: &[u64]) -> Result<()> {
        self.rates.cuts = cuts.to_vec();
        Ok(())
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn optimizer_state(&mut self) -> Result<Saved> {
        let mut state = optim::State::<f32>::new(&self.opt, self.params_len);
        if let Some([now, ..]) = &self.state {
            state.buf = self.staging.read(&self.ctx, now, self.state_len())?;
        }
        state.steps = self.steps;
        Ok(state.export(&self.opt))
    }

    fn set_optimizer_state(&mut self, saved: &Saved) -> Result<()> {
        let mut state = optim::State::<f32>::new(&self.opt, self.params_len);
        state.import(&self.opt, saved)?;
        if let Some([now, ..]) = &self.state {
            self.ctx
                .queue
                .write_buffer(now, 0, bytemuck::cast_slice(&state.buf));
            self.ctx.check()?;
        }
        self.steps = state.steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The staging buffer holds the largest of what is read back through
    /// it: Adam's state (2p), L-BFGS's gradient and loss (p + 1), or the
    /// loss histories (MAX_BATCH = 256 each).
    #[test]
    fn staging_holds_the_largest_read_back() {
        assert_eq!(staging_len(&Optimizer::lbfgs(), 1000, 1), 1001);
        assert_eq!(staging_len(&Optimizer::gd(0.1), 1000, 2), 1001);
        assert_eq!(staging_len(&Optimizer::adam(0.1), 1000, 1), 2000);
        assert_eq!(staging_len(&Optimizer::lbfgs(), 10, 1), 256);
        assert_eq!(staging_len(&Optimizer::lbfgs(), 10, 2), 512);
    }

    /// f16's largest finite value, 65504, is held, either sign; the next
    /// f32 past it is refused, naming the feature and the row.
    #[test]
    fn features_up_to_f16s_largest_value_are_held() {
        let mut data = Dataset::synthetic(2, 3, 1).unwrap();
        data.x[4] = 65504.0;
        data.x[5] = -65504.0;
        assert!(check_f16_features(&data, "training").is_ok());
        data.x[4] = f32::from_bits(65504f32.to_bits() + 1);
        let e = check_f16_features(&data, "training").unwrap_err();
        assert!(
            e.to_string().contains("feature 'x1' holds")
                && e.to_string().contains("training row 2"),
            "{e}"
        );
    }
}
