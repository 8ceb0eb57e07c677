//! The GPU backend. Buffers, uniforms and bind groups are built once; an
//! epoch is a fixed list of dispatches recorded into one compute pass, and
//! many epochs go into one submit. Each epoch's loss is copied into a
//! device-side history that is read back once per batch.
//!
//! Rows are processed in chunks small enough for one storage binding: X, y
//! and the per-row buffers of a chunk each fit the device's binding limit,
//! so a batch larger than any one binding still trains. Gradients are summed
//! per row group of `group_rows` rows into a partials buffer (row groups ×
//! parameters), then reduced pairwise in a fixed order.
//!
//! [`Plan`] cuts the batch and holds the [`KernelFamily`] that runs it.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
use crate::gpu::kernels::{self, Kernel, Kernels, Params, REDUCE_FAN};
use crate::gpu::plan::{KernelChoice, KernelFamily, Plan, MAX_BATCH};
use crate::model::Model;
use crate::optim::lbfgs::Objective;
use crate::optim::{self, Optimizer, Saved};
use crate::train::Backend;

/// Where the trainer's rows come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Uploaded from the host.
    Host(&'a Dataset),
    /// Generated on the device: the synthetic task of docs/spec.md.
    Synthetic { rows: usize, seed: u64 },
}

impl Source<'_> {
    fn rows(&self) -> usize {
        match self {
            Source::Host(d) => d.rows,
            Source::Synthetic { rows, .. } => *rows,
        }
    }
}

/// One recorded dispatch.
#[derive(Clone)]
struct Step {
    kernel: Kernel,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: u32,
}

pub struct GpuTrainer {
    ctx: Context,
    kernels: Kernels,
    params_len: usize,
    plan: Plan,
    opt: Optimizer,
    theta: wgpu::Buffer,
    saved: [wgpu::Buffer; 2],
    /// The first-order optimizer's state (v, or m then v), and its
    /// snapshots; `None` for gd and L-BFGS.
    state: Option<[wgpu::Buffer; 3]>,
    /// Updates applied so far (Adam's t before the next batch), and at
    /// each snapshot.
    steps: u64,
    saved_steps: [u64; 2],
    /// Adam: the per-epoch factors of the batch in flight.
    corrections: Option<wgpu::Buffer>,
    /// The summed gradient and loss of the last `gradient` pass (p + 1).
    grad: wgpu::Buffer,
    /// Losses of the batch in flight, one per epoch.
    history: wgpu::Buffer,
    /// Epochs recorded into `history`; zeroed before each batch.
    counter: wgpu::Buffer,
    staging: Staging,
    /// Forward, backward, reductions and the update: one epoch.
    epoch: Vec<Step>,
    /// Forward and the loss only.
    evaluate: Vec<Step>,
    /// Forward, backward and the sums into `grad`, without an update.
    gradient: Vec<Step>,
    /// Held so the bind groups' buffers outlive every submit.
    _buffers: Vec<wgpu::Buffer>,
}

impl GpuTrainer {
    /// Uploads `data` and `model`'s parameters and builds every pipeline,
    /// buffer and bind group the epochs need.
    pub fn new(ctx: Context, model: &Model, data: &Dataset, opt: Optimizer) -> Result<GpuTrainer> {
        GpuTrainer::new_with(ctx, model, data, opt, KernelChoice::Auto)
    }

    /// As [`GpuTrainer::new`], with the kernels of `choice`.
    pub fn new_with(
        ctx: Context,
        model: &Model,
        data: &Dataset,
        opt: Optimizer,
        choice: KernelChoice,
    ) -> Result<GpuTrainer> {
        if data.features != model.layout.features() {
            return Err(Error::Config(format!(
                "the data has {} features but the model takes {}",
                data.features,
                model.layout.features()
            )));
        }
        GpuTrainer::with_source(ctx, model, Source::Host(data), opt, choice)
    }

    /// Trains on `rows` rows of the synthetic task (docs/spec.md) generated
    /// on the device from `seed` (the same X, bit for bit, as
    /// [`Dataset::synthetic`]), so the batch never crosses the bus, with the
    /// kernels of `choice`.
    pub fn synthetic_with(
        ctx: Context,
        model: &Model,
        rows: usize,
        seed: u64,
        opt: Optimizer,
        choice: KernelChoice,
    ) -> Result<GpuTrainer> {
        if rows == 0 {
            return Err(Error::Config("the data set needs at least one row".into()));
        }
        GpuTrainer::with_source(ctx, model, Source::Synthetic { rows, seed }, opt, choice)
    }

    fn with_source(
        ctx: Context,
        model: &Model,
        data: Source<'_>,
        opt: Optimizer,
        choice: KernelChoice,
    ) -> Result<GpuTrainer> {
        let layout = &model.layout;
        let hardware = ctx.info.device_type != wgpu::DeviceType::Cpu;
        let family = KernelFamily::choose(choice, layout, hardware)?;
        let plan = Plan::new(layout, data.rows(), ctx.max_binding(), family)?;
        let need = plan.device_bytes(layout, data.rows());
        GpuTrainer::build(ctx, model, data, opt, plan).map_err(|e| match e {
            Error::OutOfMemory { label, .. } => Error::OutOfMemory {
                label,
                need: Some(need),
            },
            e => e,
        })
    }

    fn build(
        ctx: Context,
        model: &Model,
        data: Source<'_>,
        opt: Optimizer,
        plan: Plan,
    ) -> Result<GpuTrainer> {
        let (total_rows, features) = (data.rows(), model.layout.features());
        let mut setup = Vec::new();
        let layout = &model.layout;
        let kernels = Kernels::new(&ctx)?;
        let p = layout.len();
        let theta = buffers::storage_with(&ctx, "theta", &model.params)?;
        let saved = [
            buffers::storage(&ctx, "theta_saved[0]", p)?,
            buffers::storage(&ctx, "theta_saved[1]", p)?,
        ];
        // One row per row group: its gradient, then its loss term.
        let partials = buffers::storage(&ctx, "d_theta_partials", plan.groups * (p + 1))?;
        let history = buffers::storage(&ctx, "loss_history", MAX_BATCH)?;
        let counter = buffers::storage(&ctx, "epoch_counter", 1)?;
        let per_param = opt.state_per_param();
        let staging = Staging::new(&ctx, "staging", (per_param * p).max(p + 1).max(MAX_BATCH))?;
        let state = if per_param > 0 {
            let state = |label: &str| buffers::storage(&ctx, label, per_param * p);
            Some([
                state("optim_state")?,
                state("optim_state_saved[0]")?,
                state("optim_state_saved[1]")?,
            ])
        } else {
            None
        };
        let corrections = match opt {
            Optimizer::Adam { .. } => {
                Some(buffers::storage(&ctx, "adam_corrections", 2 * MAX_BATCH)?)
            }
            _ => None,
        };
        let grad = buffers::storage(&ctx, "d_theta", p + 1)?;

        let layers = layout.layers();
        let last = layers.len() - 1;
        let cr = plan.chunk_rows;
        let layered = !matches!(plan.family, KernelFamily::Fused(_));
        // Per-row buffers of one chunk, reused by every chunk; the fused
        // kernel keeps its rows in registers.
        let per_row = |name: &str, l: usize| {
            buffers::storage(&ctx, &format!("{name}{}", l + 1), cr * layers[l].outputs)
        };
        let (acts, deltas, residual) = if layered {
            (
                (0..last)
                    .map(|l| per_row("a", l))
                    .collect::<Result<Vec<_>>>()?,
                (0..last)
                    .map(|l| per_row("d_z", l))
                    .collect::<Result<Vec<_>>>()?,
                Some(buffers::storage(&ctx, "r", cr)?),
            )
        } else {
            (Vec::new(), Vec::new(), None)
        };

        let mut keep = Vec::new();
        let mut epoch = Vec::new();
        let mut evaluate = Vec::new();
        let mut forward_steps = Vec::new();
        let mut backward_steps = Vec::new();
        let act = model.activation;
        let fused = match plan.family {
            KernelFamily::Fused(shape) => Some(kernels.fused(&ctx, act, &shape)?),
            KernelFamily::Tiled | KernelFamily::Layered => None,
        };
        let scale = (2.0 / total_rows as f64) as f32;
        let step = |kernel: Kernel,
                    label: String,
                    params: Params,
                    resources: &[&wgpu::Buffer],
                    keep: &mut Vec<wgpu::Buffer>|
         -> Result<Step> {
            let pipeline = match (&fused, kernel) {
                (Some(f), Kernel::FusedSigmoid | Kernel::FusedTanh) => f.clone(),
                _ => kernels.pipeline(&ctx, kernel)?.clone(),
            };
            let workgroups = kernel.workgroups(&params);
            // Binding 0 is the uniform block, for every kernel that reads it.
            let mut bindings = Vec::new();
            if kernel.bindings().first() == Some(&0) {
                let uniform = buffers::uniform(&ctx, &format!("{label}.params"), &params)?;
                keep.push(uniform);
                bindings.push(keep.last().expect("just pushed").as_entire_binding());
            }
            bindings.extend(resources.iter().map(|b| b.as_entire_binding()));
            let bind_group = kernels::bind_group(&ctx, &pipeline, kernel, &label, &bindings)?;
            Ok(Step {
                kernel,
                pipeline,
                bind_group,
                workgroups: u32::try_from(workgroups)
                    .map_err(|_| Error::Config(format!("{label} needs {workgroups} workgroups")))?,
            })
        };
        for (c, &(start, rows)) in plan.chunks.iter().enumerate() {
            let (xl, yl) = (format!("x[{c}]"), format!("y[{c}]"));
            let (x, y) = match data {
                Source::Host(d) => (
                    buffers::storage_with(
                        &ctx,
                        &xl,
                        &d.x[start * features..(start + rows) * features],
                    )?,
                    buffers::storage_with(&ctx, &yl, &d.y[start..start + rows])?,
                ),
                Source::Synthetic { seed, .. } => {
                    let x = buffers::storage(&ctx, &xl, rows * features)?;
                    let y = buffers::storage(&ctx, &yl, rows)?;
                    let params =
                        Params::synthesize(rows, features, seed, (start * features) as u64);
                    setup.push(step(
                        Kernel::Synthesize,
                        format!("synthesize[{c}]"),
                        params,
                        &[&x, &y],
                        &mut keep,
                    )?);
                    (x, y)
                }
            };
            let base = Params {
                rows: rows as u32,
                group_rows: plan.group_rows as u32,
                group_base: (start / plan.group_rows) as u32,
                stride: p as u32 + 1,
                len: p as u32,
                scale,
                ..Params::default()
            };
            let with_layer = |l: usize| Params {
                inputs: layers[l].inputs as u32,
                outputs: layers[l].outputs as u32,
                w_off: layers[l].weight.start as u32,
                b_off: layers[l].bias.start as u32,
                ..base
            };
            if !layered {
                let params = Params {
                    dst_off: layers[1].weight.start as u32,
                    ..with_layer(0)
                };
                let s = step(
                    Kernel::fused(act),
                    format!("fused[{c}]"),
                    params,
                    &[&x, &y, &theta, &partials],
                    &mut keep,
                )?;
                evaluate.push(s.clone());
                epoch.push(s);
                keep.push(x);
                keep.push(y);
                continue;
            }
            let residual = residual.as_ref().expect("the layered epoch has r");
            let input = |l: usize| if l == 0 { &x } else { &acts[l - 1] };
            let (forward, weight_grad) = if plan.family == KernelFamily::Tiled {
                (Kernel::forward_tiled(act), Kernel::WeightGradTiled)
            } else {
                (Kernel::forward(act), Kernel::WeightGrad)
            };
            for (l, out) in acts.iter().enumerate() {
                forward_steps.push(step(
                    forward,
                    format!("forward[{c}].{l}"),
                    with_layer(l),
                    &[input(l), &theta, out],
                    &mut keep,
                )?);
            }
            forward_steps.push(step(
                Kernel::OutputResidual,
                format!("output[{c}]"),
                with_layer(last),
                &[input(last), &theta, &y, residual, &partials],
                &mut keep,
            )?);
            for l in (0..=last).rev() {
                let d = if l == last { residual } else { &deltas[l] };
                backward_steps.push(step(
                    weight_grad,
                    format!("weight_grad[{c}].{l}"),
                    with_layer(l),
                    &[d, input(l), &partials],
                    &mut keep,
                )?);
                backward_steps.push(step(
                    Kernel::BiasGrad,
                    format!("bias_grad[{c}].{l}"),
                    with_layer(l),
                    &[d, &partials],
                    &mut keep,
                )?);
                if l > 0 {
                    backward_steps.push(step(
                        Kernel::backprop(act),
                        format!("backprop[{c}].{l}"),
                        with_layer(l),
                        &[d, &theta, &acts[l - 1], &deltas[l - 1]],
                        &mut keep,
                    )?);
                }
            }
            // The chunk's forward and backward run before the next chunk
            // overwrites the shared per-row buffers.
            evaluate.extend(forward_steps.iter().cloned());
            epoch.append(&mut forward_steps);
            epoch.append(&mut backward_steps);
            keep.push(x);
            keep.push(y);
        }
        // The partials rows, REDUCE_FAN at a time, until at most REDUCE_FAN
        // are left; then the last sums, the update and the loss.
        let width = p + 1;
        let mut rows = plan.groups;
        let mut source = partials.clone();
        let mut stage = 0;
        while rows > REDUCE_FAN as usize {
            let out = rows.div_ceil(REDUCE_FAN as usize);
            let dest = buffers::storage(&ctx, &format!("d_theta_sums[{stage}]"), out * width)?;
            let s = step(
                Kernel::Reduce,
                format!("reduce[{stage}]"),
                Params::reduce(width, rows, width, 1.0, 0.0),
                &[&source, &dest],
                &mut keep,
            )?;
            evaluate.push(s.clone());
            epoch.push(s);
            keep.push(source);
            source = dest;
            rows = out;
            stage += 1;
        }
        // L-BFGS's pass: the same sums into `grad`, with no update.
        let mut gradient = epoch.clone();
        gradient.push(step(
            Kernel::Reduce,
            "reduce_gradient".into(),
            Params::reduce(width, rows, width, 1.0, 0.0),
            &[&source, &grad],
            &mut keep,
        )?);
        let last = Params::update(width, rows, width, &opt);
        let update = match opt {
            Optimizer::Gd { .. } | Optimizer::Lbfgs { .. } => Kernel::ReduceSgd,
            Optimizer::Momentum { .. } => Kernel::ReduceMomentum,
            Optimizer::Nesterov { .. } => Kernel::ReduceNesterov,
            Optimizer::Adam { .. } => Kernel::ReduceAdam,
        };
        let mut resources = vec![&source, &theta, &history, &counter];
        resources.extend(state.as_ref().map(|s| &s[0]));
        resources.extend(corrections.as_ref());
        epoch.push(step(
            update,
            update.entry_point().into(),
            last,
            &resources,
            &mut keep,
        )?);
        if update == Kernel::ReduceAdam {
            epoch.push(step(
                Kernel::CountEpoch,
                "count_epoch".into(),
                last,
                &[&counter],
                &mut keep,
            )?);
        }
        evaluate.push(step(
            Kernel::ReduceEval,
            "reduce_eval".into(),
            last,
            &[&source, &history, &counter],
            &mut keep,
        )?);
        keep.push(source);
        if !setup.is_empty() {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("synthesize"),
                });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("synthesize"),
                    timestamp_writes: None,
                });
                for s in &setup {
                    kernels.dispatch(&mut pass, &s.pipeline, &s.bind_group, s.workgroups);
                }
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.check()?;
        }
        keep.extend(acts);
        keep.extend(deltas);
        keep.extend(residual);
        keep.push(partials);
        Ok(GpuTrainer {
            ctx,
            kernels,
            params_len: p,
            plan,
            opt,
            theta,
            saved,
            state,
            steps: 0,
            saved_steps: [0, 0],
            corrections,
            grad,
            history,
            counter,
            staging,
            epoch,
            evaluate,
            gradient,
            _buffers: keep,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The kernels that run the epoch.
    pub fn family(&self) -> KernelFamily {
        self.plan.family
    }

    fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Records `epochs` repetitions of `steps` in one compute pass, their
    /// losses into history slots 0..epochs, and the copy of those slots to
    /// the staging buffer; then submits and reads them back.
    fn submit(&self, label: &str, steps: &[Step], epochs: usize) -> Result<Vec<f32>> {
        // The last kernel of each epoch appends its loss at this counter.
        self.ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
        let mut encoder = self.encoder(label);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            for _ in 0..epochs {
                for s in steps {
                    self.kernels
                        .dispatch(&mut pass, &s.pipeline, &s.bind_group, s.workgroups);
                }
            }
        }
        self.staging.copy_from(&mut encoder, &self.history, epochs);
        self.staging.finish(&self.ctx, encoder, epochs)
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

    /// GPU seconds per kernel over one epoch, summed per kernel, from
    /// timestamp queries around every dispatch (each in its own pass, so
    /// per-pass overhead is counted); `None` where the adapter has no
    /// timestamp queries or the epoch has more than 2,048 dispatches. Runs
    /// (and applies) one epoch.
    pub fn profile(&mut self) -> Result<Option<Vec<(Kernel, f64)>>> {
        let count = 2 * self.epoch.len() as u32;
        // One query set holds at most QUERY_SET_MAX_QUERIES timestamps.
        if !self.ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY)
            || count > wgpu::QUERY_SET_MAX_QUERIES
        {
            return Ok(None);
        }
        let queries = self.ctx.scoped("profile queries", || {
            self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile queries"),
                ty: wgpu::QueryType::Timestamp,
                count,
            })
        })?;
        let resolved = self.ctx.scoped("profile timestamps", || {
            self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile timestamps"),
                size: u64::from(count) * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        })?;
        // Each timestamp is a u64, read as two f32-sized words.
        let words = 2 * count as usize;
        let staging = Staging::new(&self.ctx, "profile staging", words)?;
        self.ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
        let mut encoder = self.encoder("profile");
        for (i, s) in self.epoch.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(s.kernel.entry_point()),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            self.kernels
                .dispatch(&mut pass, &s.pipeline, &s.bind_group, s.workgroups);
        }
        encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
        staging.copy_from(&mut encoder, &resolved, words);
        let raw = staging.finish(&self.ctx, encoder, words)?;
        let ticks: Vec<u64> = raw
            .chunks_exact(2)
            .map(|w| u64::from(w[0].to_bits()) | (u64::from(w[1].to_bits()) << 32))
            .collect();
        let period = f64::from(self.ctx.queue.get_timestamp_period()) * 1e-9;
        let mut per_kernel: Vec<(Kernel, f64)> = Vec::new();
        for (s, t) in self.epoch.iter().zip(ticks.chunks_exact(2)) {
            let secs = t[1].saturating_sub(t[0]) as f64 * period;
            match per_kernel.iter_mut().find(|(k, _)| *k == s.kernel) {
                Some((_, total)) => *total += secs,
                None => per_kernel.push((s.kernel, secs)),
            }
        }
        Ok(Some(per_kernel))
    }

    /// Destroys the device, as a lost device would be; for tests of the
    /// error path.
    pub fn destroy_device(&self) {
        self.ctx.device.destroy();
    }
}

impl GpuTrainer {
    /// Adam's factors for the next `epochs` steps, into `corrections`.
    fn write_corrections(&self, epochs: usize) {
        if let Some(buf) = &self.corrections {
            let factors: Vec<f32> = (1..=epochs as u64)
                .flat_map(|k| {
                    let (step, root) = self.opt.corrections(self.steps + k);
                    [step as f32, root as f32]
                })
                .collect();
            self.ctx
                .queue
                .write_buffer(buf, 0, bytemuck::cast_slice(&factors));
        }
    }
}

impl Objective for GpuTrainer {
    fn describe(&self) -> String {
        format!(
            "gpu: {}, {} kernels",
            crate::gpu::context::describe(&self.ctx.info),
            self.family().name()
        )
    }

    /// Uploads `params`, runs the forward and backward passes and the sums,
    /// and reads back the p gradients and the loss (one submit, one
    /// readback of p + 1 floats).
    fn evaluate(&mut self, params: &[f32], grad: &mut [f64]) -> Result<f64> {
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
                self.kernels
                    .dispatch(&mut pass, &s.pipeline, &s.bind_group, s.workgroups);
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
        let mut done = 0;
        while done < epochs {
            let m = (epochs - done).min(MAX_BATCH);
            self.write_corrections(m);
            let batch = self.submit("epochs", &self.epoch, m)?;
            losses.extend(batch.iter().map(|&l| l as f64));
            self.steps += m as u64;
            done += m;
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        Ok(self.submit("evaluate", &self.evaluate, 1)?[0] as f64)
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
