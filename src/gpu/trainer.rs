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

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
use crate::gpu::kernels::{Kernel, Kernels, Params};
use crate::model::{Layout, Model};
use crate::train::Backend;

/// Epochs whose losses fit in the device-side history: the largest batch.
pub const MAX_BATCH: usize = 256;
/// Fewest rows summed into one gradient partial.
const MIN_GROUP_ROWS: usize = 64;
/// Most row groups: bounds the partials buffer to this many copies of the
/// parameter block.
const MAX_GROUPS: usize = 4096;

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
}

impl Plan {
    /// Cuts `rows` rows of a network with `layout` so every buffer fits in
    /// `max_binding` bytes, or says what does not fit.
    pub fn new(layout: &Layout, rows: usize, max_binding: u64) -> Result<Plan> {
        let params = layout.len();
        let widest = *layout
            .sizes()
            .iter()
            .max()
            .expect("layouts are never empty");
        let per_param = 4 * params as u64;
        if per_param > max_binding {
            return Err(Error::TooLarge {
                what: format!("storage binding for the {params} parameters"),
                need: per_param,
                have: max_binding,
            });
        }
        if rows > u32::MAX as usize / 2 {
            return Err(Error::Config(format!(
                "{rows} rows is more than the GPU backend indexes (2^31)"
            )));
        }
        let max_groups = ((max_binding / per_param) as usize).clamp(1, MAX_GROUPS);
        let group_rows = rows
            .div_ceil(max_groups)
            .max(MIN_GROUP_ROWS)
            .next_multiple_of(MIN_GROUP_ROWS);
        let rows_per_binding = (max_binding / (4 * widest as u64)) as usize;
        let chunk_rows = (rows_per_binding / group_rows) * group_rows;
        if chunk_rows == 0 {
            return Err(Error::TooLarge {
                what: format!("storage binding for {group_rows} rows of width {widest}"),
                need: 4 * (group_rows * widest) as u64,
                have: max_binding,
            });
        }
        let chunk_rows = chunk_rows.min(rows.next_multiple_of(group_rows));
        let chunks = (0..rows)
            .step_by(chunk_rows)
            .map(|start| (start, chunk_rows.min(rows - start)))
            .collect();
        Ok(Plan {
            group_rows,
            chunk_rows,
            chunks,
            groups: rows.div_ceil(group_rows),
        })
    }
}

impl Plan {
    /// Bytes of device memory the trainer allocates for `rows` rows.
    pub fn device_bytes(&self, layout: &Layout, rows: usize) -> u64 {
        let p = layout.len();
        let per_row: usize = 2 * layout.hidden().iter().sum::<usize>() + 1;
        let floats = rows * (layout.features() + 1)
            + 4 * p
            + self.groups * (p + 1)
            + 1
            + 2 * MAX_BATCH.max(p)
            + self.chunk_rows * per_row;
        4 * floats as u64
    }
}

/// Where the trainer's rows come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Uploaded from the host.
    Host(&'a Dataset),
    /// Generated on the device: MATH.md's synthetic task.
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
    bind_group: wgpu::BindGroup,
    workgroups: u32,
}

pub struct GpuTrainer {
    ctx: Context,
    kernels: Kernels,
    params_len: usize,
    plan: Plan,
    theta: wgpu::Buffer,
    saved: [wgpu::Buffer; 2],
    loss: wgpu::Buffer,
    history: wgpu::Buffer,
    staging: Staging,
    /// Forward, backward, reductions and the update: one epoch.
    epoch: Vec<Step>,
    /// Forward and the loss only.
    evaluate: Vec<Step>,
    /// Held so the bind groups' buffers outlive every submit.
    _buffers: Vec<wgpu::Buffer>,
}

impl GpuTrainer {
    /// Uploads `data` and `model`'s parameters and builds every pipeline,
    /// buffer and bind group the epochs need.
    pub fn new(ctx: Context, model: &Model, data: &Dataset, lr: f64) -> Result<GpuTrainer> {
        if data.features != model.layout.features() {
            return Err(Error::Config(format!(
                "the data has {} features but the model takes {}",
                data.features,
                model.layout.features()
            )));
        }
        GpuTrainer::with_source(ctx, model, Source::Host(data), lr)
    }

    /// Trains on `rows` rows of MATH.md's synthetic task generated on the
    /// device from `seed` (the same X, bit for bit, as
    /// [`Dataset::synthetic`]), so the batch never crosses the bus.
    pub fn synthetic(
        ctx: Context,
        model: &Model,
        rows: usize,
        seed: u64,
        lr: f64,
    ) -> Result<GpuTrainer> {
        if rows == 0 {
            return Err(Error::Config("the data set needs at least one row".into()));
        }
        GpuTrainer::with_source(ctx, model, Source::Synthetic { rows, seed }, lr)
    }

    fn with_source(ctx: Context, model: &Model, data: Source<'_>, lr: f64) -> Result<GpuTrainer> {
        let layout = &model.layout;
        let plan = Plan::new(layout, data.rows(), ctx.max_binding())?;
        let need = plan.device_bytes(layout, data.rows());
        GpuTrainer::build(ctx, model, data, lr, plan).map_err(|e| match e {
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
        lr: f64,
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
        let grads = buffers::storage(&ctx, "d_theta", p)?;
        let partials = buffers::storage(&ctx, "d_theta_partials", plan.groups * p)?;
        let loss_partials = buffers::storage(&ctx, "loss_partials", plan.groups)?;
        let loss = buffers::storage(&ctx, "loss", 1)?;
        let history = buffers::storage(&ctx, "loss_history", MAX_BATCH)?;
        let staging = Staging::new(&ctx, "staging", p.max(MAX_BATCH))?;

        let layers = layout.layers();
        let last = layers.len() - 1;
        let cr = plan.chunk_rows;
        // Per-row buffers of one chunk, reused by every chunk.
        let acts = (0..last)
            .map(|l| buffers::storage(&ctx, &format!("a{}", l + 1), cr * layers[l].outputs))
            .collect::<Result<Vec<_>>>()?;
        let deltas = (0..last)
            .map(|l| buffers::storage(&ctx, &format!("d_z{}", l + 1), cr * layers[l].outputs))
            .collect::<Result<Vec<_>>>()?;
        let residual = buffers::storage(&ctx, "r", cr)?;

        let mut keep = Vec::new();
        let mut epoch = Vec::new();
        let mut evaluate = Vec::new();
        let mut forward_steps = Vec::new();
        let mut backward_steps = Vec::new();
        let act = model.activation;
        let scale = (2.0 / total_rows as f64) as f32;
        let step = |kernel: Kernel,
                    label: String,
                    params: Params,
                    resources: &[&wgpu::Buffer],
                    keep: &mut Vec<wgpu::Buffer>|
         -> Result<Step> {
            let workgroups = kernel.workgroups(&params);
            let uniform = buffers::uniform(&ctx, &format!("{label}.params"), &params)?;
            let mut bindings = vec![uniform.as_entire_binding()];
            bindings.extend(resources.iter().map(|b| b.as_entire_binding()));
            let bind_group = kernels.bind_group(&ctx, kernel, &label, &bindings)?;
            keep.push(uniform);
            Ok(Step {
                kernel,
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
                stride: p as u32,
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
            let input = |l: usize| if l == 0 { &x } else { &acts[l - 1] };
            for (l, out) in acts.iter().enumerate() {
                forward_steps.push(step(
                    Kernel::forward(act),
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
                &[input(last), &theta, &y, &residual, &loss_partials],
                &mut keep,
            )?);
            for l in (0..=last).rev() {
                let d = if l == last { &residual } else { &deltas[l] };
                backward_steps.push(step(
                    Kernel::WeightGrad,
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
        let reduce_loss = step(
            Kernel::Reduce,
            "reduce.loss".into(),
            Params {
                len: 1,
                count: plan.groups as u32,
                stride: 1,
                scale: (1.0 / total_rows as f64) as f32,
                ..Params::default()
            },
            &[&loss_partials, &loss],
            &mut keep,
        )?;
        epoch.push(step(
            Kernel::Reduce,
            "reduce.d_theta".into(),
            Params {
                len: p as u32,
                count: plan.groups as u32,
                stride: p as u32,
                scale: 1.0,
                ..Params::default()
            },
            &[&partials, &grads],
            &mut keep,
        )?);
        epoch.push(reduce_loss.clone());
        evaluate.push(reduce_loss);
        epoch.push(step(
            Kernel::Sgd,
            "sgd".into(),
            Params {
                len: p as u32,
                lr: lr as f32,
                ..Params::default()
            },
            &[&grads, &theta],
            &mut keep,
        )?);
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
                    kernels.dispatch(&mut pass, s.kernel, &s.bind_group, s.workgroups);
                }
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.check()?;
        }
        keep.extend(acts);
        keep.extend(deltas);
        keep.extend([residual, grads, partials, loss_partials]);
        Ok(GpuTrainer {
            ctx,
            kernels,
            params_len: p,
            plan,
            theta,
            saved,
            loss,
            history,
            staging,
            epoch,
            evaluate,
            _buffers: keep,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Records `steps` in one compute pass, then copies the loss into
    /// history slot `slot`.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, steps: &[Step], slot: usize) {
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("epoch"),
                timestamp_writes: None,
            });
            for s in steps {
                self.kernels
                    .dispatch(&mut pass, s.kernel, &s.bind_group, s.workgroups);
            }
        }
        encoder.copy_buffer_to_buffer(&self.loss, 0, &self.history, (slot * 4) as u64, 4);
    }

    fn copy_params(&self, from: &wgpu::Buffer, to: &wgpu::Buffer) -> Result<()> {
        let mut encoder = self.encoder("params copy");
        encoder.copy_buffer_to_buffer(from, 0, to, 0, (self.params_len * 4) as u64);
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
                .dispatch(&mut pass, s.kernel, &s.bind_group, s.workgroups);
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

impl Backend for GpuTrainer {
    fn describe(&self) -> String {
        format!("gpu: {}", crate::gpu::context::describe(&self.ctx.info))
    }

    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        let mut done = 0;
        while done < epochs {
            let m = (epochs - done).min(MAX_BATCH);
            let mut encoder = self.encoder("epochs");
            for slot in 0..m {
                self.record(&mut encoder, &self.epoch, slot);
            }
            self.staging.copy_from(&mut encoder, &self.history, m);
            let batch = self.staging.finish(&self.ctx, encoder, m)?;
            losses.extend(batch.iter().map(|&l| l as f64));
            done += m;
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        let mut encoder = self.encoder("evaluate");
        self.record(&mut encoder, &self.evaluate, 0);
        self.staging.copy_from(&mut encoder, &self.history, 1);
        Ok(self.staging.finish(&self.ctx, encoder, 1)?[0] as f64)
    }

    fn snapshot(&mut self, slot: usize) -> Result<()> {
        self.copy_params(&self.theta, &self.saved[slot])
    }

    fn restore(&mut self, slot: usize) -> Result<()> {
        self.copy_params(&self.saved[slot], &self.theta)
    }

    fn params(&mut self) -> Result<Vec<f32>> {
        self.staging.read(&self.ctx, &self.theta, self.params_len)
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_fits_every_buffer_in_the_binding() {
        let layout = Layout::new(16, &[64]).unwrap();
        let plan = Plan::new(&layout, 16_777_216, 128 << 20).unwrap();
        assert_eq!(plan.chunk_rows % plan.group_rows, 0);
        assert!(plan.chunk_rows * 64 * 4 <= 128 << 20);
        assert!(plan.groups * layout.len() * 4 <= 128 << 20);
        assert_eq!(plan.chunks.iter().map(|c| c.1).sum::<usize>(), 16_777_216);
        assert!(plan.chunks.len() > 1);
        let small = Plan::new(&layout, 100, 128 << 20).unwrap();
        assert_eq!(small.chunks, vec![(0, 100)]);
        assert_eq!(small.group_rows, 64);
        assert_eq!(small.groups, 2);
    }

    #[test]
    fn plan_refuses_what_cannot_fit() {
        let layout = Layout::new(1024, &[1024]).unwrap();
        assert!(matches!(
            Plan::new(&layout, 10, 1 << 20),
            Err(Error::TooLarge { .. })
        ));
    }
}
