//! The trainer's passes, recorded once: every dispatch of an epoch, of a
//! loss evaluation and of L-BFGS's gradient, each with its pipeline, bind
//! group and uniform block, in the order they run.
//!
//! Rows are processed in chunks small enough for one storage binding (see
//! [`Plan`]); each chunk's forward and backward pass writes one gradient
//! partial per row group into the partials buffer (row groups ×
//! (parameters + 1), the loss term last), which the reduce chain then adds
//! pairwise, REDUCE_FAN rows at a time, in a fixed order. Rows whose loss
//! alone is measured ([`Partials::Loss`]) have the forward pass only, and
//! a partials row of one value, the loss term.

use crate::error::{Error, Result};
use crate::gpu::buffers;
use crate::gpu::context::Context;
use crate::gpu::kernels::{self, Kernel, Kernels, Params, REDUCE_FAN};
use crate::gpu::mixed;
use crate::gpu::plan::{KernelFamily, Partials, Plan};
use crate::gpu::trainer::Source;
use crate::gpu::trips;
use crate::model::{Activation, LayerView, Model};
use crate::optim::Optimizer;

/// One recorded dispatch.
#[derive(Clone)]
pub(crate) struct Step {
    pub kernel: Kernel,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub workgroups: u32,
}

impl Step {
    /// `kernel`, run by `pipeline`, over the workgroups `params` calls for,
    /// with `params` at binding 0 where the kernel reads it and `resources`
    /// after it, in the order of [`Kernel::bindings`]. Returns the step and
    /// the uniform block's buffer, which must outlive it.
    pub fn new(
        ctx: &Context,
        pipeline: wgpu::ComputePipeline,
        kernel: Kernel,
        label: &str,
        params: &Params,
        resources: &[&wgpu::Buffer],
    ) -> Result<(Step, Option<wgpu::Buffer>)> {
        let workgroups = kernel.workgroups(params);
        check_bounds(kernel, label, params, resources)?;
        // Binding 0 is the uniform block, for every kernel that reads it.
        let uniform = match kernel.bindings().first() {
            Some(0) => Some(buffers::uniform(ctx, &format!("{label}.params"), params)?),
            _ => None,
        };
        let mut bindings: Vec<_> = uniform.iter().map(|u| u.as_entire_binding()).collect();
        bindings.extend(resources.iter().map(|b| b.as_entire_binding()));
        let bind_group = kernels::bind_group(ctx, &pipeline, kernel, label, &bindings)?;
        let workgroups = u32::try_from(workgroups)
            .map_err(|_| Error::Config(format!("{label} needs {workgroups} workgroups")))?;
        let step = Step {
            kernel,
            pipeline,
            bind_group,
            workgroups,
        };
        Ok((step, uniform))
    }

    /// Records the dispatch into `pass`.
    pub fn record(&self, kernels: &Kernels, pass: &mut wgpu::ComputePass<'_>) {
        kernels.dispatch(pass, &self.pipeline, &self.bind_group, self.workgroups);
    }
}

/// For a kernel whose module may be built without runtime checks
/// ([`kernels::Checks::Unchecked`]): that `params` meets the kernel's
/// preconditions and every buffer is at least as long as
/// [`Kernel::bounds`] asks, the premises of the proof that the kernel
/// indexes nothing out of range. Checked whether or not this device's
/// modules are, so a dispatch that passes with checks passes without them.
fn check_bounds(
    kernel: Kernel,
    label: &str,
    params: &Params,
    resources: &[&wgpu::Buffer],
) -> Result<()> {
    let Some(bounds) = kernel.bounds(params) else {
        return Ok(());
    };
    let fail = |message: String| {
        Err(Error::Validation {
            label: label.to_string(),
            message: format!(
                "{} out of its proven bounds: {message}",
                kernel.entry_point()
            ),
        })
    };
    let need = match bounds {
        Ok(need) => need,
        Err(why) => return fail(why),
    };
    let bindings = kernel.bindings().iter().filter(|&&b| b != 0);
    for ((binding, buffer), need) in bindings.zip(resources).zip(need) {
        let have = buffer.size() / 4;
        if have < need {
            return fail(format!(
                "binding {binding} holds {have} values, and {params:?} needs {need}"
            ));
        }
    }
    Ok(())
}

/// The trainer's buffers that the passes bind.
pub(crate) struct Targets<'a> {
    pub theta: &'a wgpu::Buffer,
    /// One row per row group: its gradient, then its loss term (the loss
    /// term alone under [`Partials::Loss`]).
    pub partials: &'a wgpu::Buffer,
    pub history: &'a wgpu::Buffer,
    pub counter: &'a wgpu::Buffer,
    /// The first-order optimizer's state, where it has one.
    pub state: Option<&'a wgpu::Buffer>,
    /// The per-epoch factors: Adam's, or a scheduled rule's rates.
    pub corrections: &'a wgpu::Buffer,
    /// The update reads each epoch's learning rate from `corrections`.
    pub scheduled: bool,
    /// The summed gradient and loss of the `gradient` pass, and with
    /// `--clip-grad-norm` of the update, then the clip factor and the
    /// spans' sums of squares (`kernels::grad_len(p)`).
    pub grad: &'a wgpu::Buffer,
}

/// The rows a recording reads: a trainer's source, or a mini-batch's
/// buffers on the device, which `gather_rows` refills before each batch
/// (one chunk; the caller's plan must have one).
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    Source(Source<'a>),
    Batch {
        x: &'a wgpu::Buffer,
        y: &'a wgpu::Buffer,
        rows: usize,
    },
}

impl Rows<'_> {
    fn rows(&self) -> usize {
        match self {
            Rows::Source(s) => s.rows(),
            Rows::Batch { rows, .. } => *rows,
        }
    }
}

/// A trainer's passes.
pub(crate) struct Passes {
    /// Forward, backward, reductions and the update: one epoch.
    pub epoch: Vec<Step>,
    /// Forward and the loss only.
    pub evaluate: Vec<Step>,
    /// Forward, backward and the sums into `grad`, without an update.
    pub gradient: Vec<Step>,
    /// What the steps' bind groups read: uniform blocks, X and y, the
    /// per-row buffers and the sums.
    pub keep: Vec<wgpu::Buffer>,
}

/// Records the passes of `model` over `data` as `plan` cuts it, with
/// `opt`'s update; generates synthetic data on the device, and for
/// `--precision mixed` with one chunk makes X's f16 copy, once, before
/// returning.
pub(crate) fn record(
    ctx: &Context,
    kernels: &Kernels,
    model: &Model,
    data: Rows<'_>,
    plan: &Plan,
    opt: &Optimizer,
    targets: &Targets<'_>,
) -> Result<Passes> {
    let layers = model.layout.layers();
    let act = model.activation;
    let (p, features) = (model.layout.len(), model.layout.features());
    // Per-row buffers of one chunk, reused by every chunk; the fused kernel
    // keeps its rows in registers.
    // Where the loss alone is measured: the forward steps only.
    let loss_only = plan.partials == Partials::Loss;
    let per_row = match plan.family {
        KernelFamily::Fused(_) | KernelFamily::Wide => None,
        KernelFamily::Tiled | KernelFamily::Layered => {
            Some(PerRow::new(ctx, layers, plan.chunk_rows, !loss_only)?)
        }
    };
    let wide = match plan.family {
        KernelFamily::Wide => Some(WideRows::new(ctx, &layers[0], plan.chunk_rows)?),
        _ => None,
    };
    // --precision mixed: the first hidden layer's f16 copies.
    let half = if plan.mixed {
        Some(Half::new(ctx, &layers[0], plan.chunk_rows)?)
    } else {
        None
    };
    let fused = match plan.family {
        KernelFamily::Fused(shape) => Some(kernels.fused(ctx, act, &shape)?),
        KernelFamily::Tiled | KernelFamily::Layered | KernelFamily::Wide => None,
    };
    let mut rec = Recorder {
        ctx,
        kernels,
        fused,
        keep: Vec::new(),
    };
    let (mut epoch, mut evaluate, mut setup) = (Vec::new(), Vec::new(), Vec::new());
    let scale = (2.0 / data.rows() as f64) as f32;
    for (c, &(start, rows)) in plan.chunks.iter().enumerate() {
        let (x, y) = chunk_data(&mut rec, data, c, (start, rows), features, &mut setup)?;
        let chunk = Chunk {
            index: c,
            x: &x,
            y: &y,
            base: Params {
                rows: rows as u32,
                group_rows: plan.group_rows as u32,
                group_base: (start / plan.group_rows) as u32,
                // The loss column: after the gradient, or alone.
                stride: plan.stride(p) as u32,
                len: plan.stride(p) as u32 - 1,
                scale,
                ..Params::default()
            },
        };
        // Mixed: X's f16 copy, made once where one chunk holds every row
        // (X does not change), else every pass before the chunk's steps.
        if let Some(h) = &half {
            let copy = h.x_copy(&mut rec, &layers[0], &chunk)?;
            if plan.chunks.len() == 1 {
                setup.push(copy);
            } else {
                evaluate.push(copy.clone());
                epoch.push(copy);
            }
        }
        let how = How {
            act,
            tiled: plan.family == KernelFamily::Tiled,
            loss_only,
            half: half.as_ref(),
            rows: data.rows(),
        };
        let (forward, backward) = match (&per_row, &wide) {
            (None, None) => (
                vec![fused_chunk(&mut rec, act, layers, &chunk, targets)?],
                vec![],
            ),
            (None, Some(wide)) => wide_chunk(&mut rec, &how, layers, &chunk, wide, targets)?,
            (Some(per_row), _) => layered_chunk(&mut rec, &how, layers, &chunk, per_row, targets)?,
        };
        // A chunk's forward and backward run before the next chunk's forward
        // overwrites the shared per-row buffers.
        evaluate.extend(forward.iter().cloned());
        if !loss_only {
            epoch.extend(forward);
            epoch.extend(backward);
        }
        rec.keep.push(x);
        rec.keep.push(y);
    }
    let sums = reduce_chain(&mut rec, targets.partials, plan.groups, plan.stride(p))?;
    evaluate.extend(sums.stages.iter().cloned());
    // Measuring alone records no epoch and no gradient.
    let gradient = match loss_only {
        true => Vec::new(),
        false => {
            epoch.extend(sums.stages.iter().cloned());
            let gradient = gradient(&mut rec, &epoch, &sums, targets.grad)?;
            epoch.extend(update(&mut rec, &sums, opt, targets)?);
            gradient
        }
    };
    evaluate.push(rec.step(
        Kernel::ReduceEval,
        "reduce_eval".into(),
        Params::update(sums.width, sums.rows, sums.width, opt),
        &[&sums.last, targets.history, targets.counter],
    )?);
    rec.keep.push(sums.last);
    if !setup.is_empty() {
        run_once(ctx, kernels, "setup", &setup)?;
    }
    let mut keep = rec.keep;
    if let Some(per_row) = per_row {
        keep.extend(per_row.acts);
        keep.extend(per_row.deltas);
        keep.push(per_row.residual);
    }
    if let Some(half) = half {
        keep.extend([half.x, half.w, half.d]);
    }
    if let Some(wide) = wide {
        keep.extend([wide.a1, wide.yparts, wide.residual]);
    }
    Ok(Passes {
        epoch,
        evaluate,
        gradient,
        keep,
    })
}

/// Builds steps, keeping the buffers their bind groups read.
struct Recorder<'a> {
    ctx: &'a Context,
    kernels: &'a Kernels,
    /// The fused pipeline, specialised to the network's shape, where the
    /// fused kernel runs the epoch.
    fused: Option<wgpu::ComputePipeline>,
    keep: Vec<wgpu::Buffer>,
}

impl Recorder<'_> {
    fn step(
        &mut self,
        kernel: Kernel,
        label: String,
        params: Params,
        resources: &[&wgpu::Buffer],
    ) -> Result<Step> {
        let pipeline = match (&self.fused, kernel) {
            (Some(f), Kernel::FusedSigmoid | Kernel::FusedTanh) => f.clone(),
            _ => self.kernels.pipeline(self.ctx, kernel)?.clone(),
        };
        let (step, uniform) = Step::new(self.ctx, pipeline, kernel, &label, &params, resources)?;
        self.keep.extend(uniform);
        Ok(step)
    }
}

/// The layer-by-layer epoch's per-row buffers of one chunk.
struct PerRow {
    /// A of each hidden layer.   (chunk rows, outputs of the layer)
    acts: Vec<wgpu::Buffer>,
    /// ∂L/∂Z of each hidden layer, the same shapes (none where the loss
    /// alone is measured).
    deltas: Vec<wgpu::Buffer>,
    /// r = ∂L/∂ŷ.   (chunk rows)
    residual: wgpu::Buffer,
}

impl PerRow {
    /// The buffers of `chunk_rows` rows; Δ's where `backward` runs.
    fn new(
        ctx: &Context,
        layers: &[LayerView],
        chunk_rows: usize,
        backward: bool,
    ) -> Result<PerRow> {
        let hidden = &layers[..layers.len() - 1];
        let per_row = |name: &str| {
            (hidden.iter().enumerate())
                .map(|(l, view)| {
                    buffers::storage(ctx, &format!("{name}{}", l + 1), chunk_rows * view.outputs)
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(PerRow {
            acts: per_row("a")?,
            deltas: match backward {
                true => per_row("d_z")?,
                false => Vec::new(),
            },
            residual: buffers::storage(ctx, "r", chunk_rows)?,
        })
    }
}

/// The wide epoch's per-row buffers of one chunk.
struct WideRows {
    /// A1.   (chunk rows, hidden)
    a1: wgpu::Buffer,
    /// Each column tile's share of A1·w2ᵀ.   (⌈hidden/TILED_N⌉, chunk rows)
    yparts: wgpu::Buffer,
    /// r = ∂L/∂ŷ.   (chunk rows)
    residual: wgpu::Buffer,
}

impl WideRows {
    fn new(ctx: &Context, hidden: &LayerView, chunk_rows: usize) -> Result<WideRows> {
        let tiles = hidden.outputs.div_ceil(kernels::TILED_N as usize);
        Ok(WideRows {
            a1: buffers::storage(ctx, "a1", chunk_rows * hidden.outputs)?,
            yparts: buffers::storage(ctx, "yhat_parts", tiles * chunk_rows)?,
            residual: buffers::storage(ctx, "r", chunk_rows)?,
        })
    }
}

/// `--precision mixed`: the f16 copies of the first hidden layer's
/// operands, zero-padded to multiples of [`mixed::TILE`] (the features to
/// the context's [`mixed::InputPad`]), reused by every chunk.
struct Half {
    /// X.   (chunk rows, features), padded, then [`mixed::X_TAIL`] zeros
    /// where the padded features are not a whole number of tiles
    x: wgpu::Buffer,
    /// W₁.   (outputs, features), padded
    w: wgpu::Buffer,
    /// Δ₁ · [`mixed::delta_scale`].   (chunk rows, outputs), padded
    d: wgpu::Buffer,
    /// The padded widths: features, outputs.
    inputs: u32,
    outputs: u32,
}

impl Half {
    fn new(ctx: &Context, first: &LayerView, chunk_rows: usize) -> Result<Half> {
        let pad = |n: usize| n.next_multiple_of(mixed::TILE as usize);
        let (rows, outputs) = (pad(chunk_rows), pad(first.outputs));
        let inputs = ctx.input_pad.pad(first.inputs);
        // The weight gradient's input tiles reach past rows shorter than a
        // whole number of tiles: the tail (not needed at the tile's
        // padding, so that copy fits where it did).
        let tail = match inputs % mixed::TILE as usize {
            0 => 0,
            _ => mixed::X_TAIL,
        };
        // Two f16s to an f32 slot; every padded size is even.
        let f16s = |label: &str, n: usize| buffers::storage(ctx, label, n / 2);
        Ok(Half {
            x: f16s("x_f16", rows * inputs + tail)?,
            w: f16s("w1_f16", outputs * inputs)?,
            d: f16s("d_z1_f16", rows * outputs)?,
            inputs: inputs as u32,
            outputs: outputs as u32,
        })
    }

    /// `chunk`'s rows of X into the f16 copy of X.
    fn x_copy(&self, rec: &mut Recorder<'_>, first: &LayerView, chunk: &Chunk<'_>) -> Result<Step> {
        let rows = chunk.base.rows as usize;
        let padded_rows = rows.next_multiple_of(mixed::TILE as usize) as u32;
        rec.step(
            Kernel::ToHalf,
            format!("x_to_f16[{}]", chunk.index),
            Half::to_half(rows, first.inputs, 0, (padded_rows, self.inputs), 1.0),
            &[chunk.x, &self.x],
        )
    }

    /// The mixed forward product of the first layer over `chunk` into
    /// `out`, from the f16 copy of X ([`Half::x_copy`]): W₁'s copy (once
    /// per pass, in the first chunk's steps: W₁ does not change between
    /// chunks and the copy is shared), and `forward_coop`; or, with
    /// `shares` (the buffer and w₂'s first index), `forward_coop_shares`,
    /// which also writes ŷ's shares there.
    fn forward(
        &self,
        rec: &mut Recorder<'_>,
        act: Activation,
        first: &LayerView,
        chunk: &Chunk<'_>,
        (theta, out): (&wgpu::Buffer, &wgpu::Buffer),
        shares: Option<(&wgpu::Buffer, u32)>,
    ) -> Result<Vec<Step>> {
        let c = chunk.index;
        let mut steps = Vec::new();
        if c == 0 {
            steps.push(rec.step(
                Kernel::ToHalf,
                "w1_to_f16".into(),
                Half::to_half(
                    first.outputs,
                    first.inputs,
                    first.weight.start,
                    (self.outputs, self.inputs),
                    1.0,
                ),
                &[theta, &self.w],
            )?);
        }
        let params = self.padded(chunk.layer(first));
        steps.push(match shares {
            None => rec.step(
                Kernel::forward_coop(act),
                format!("forward_coop[{c}]"),
                params,
                &[&self.x, &self.w, theta, out],
            )?,
            Some((shares, dst_off)) => rec.step(
                Kernel::forward_coop_shares(act),
                format!("forward_coop_shares[{c}]"),
                Params { dst_off, ..params },
                &[&self.x, &self.w, theta, out, shares],
            )?,
        });
        Ok(steps)
    }

    /// `weight_grad_coop` over chunk `c` (`params` its first layer's), from
    /// the f16 copies of s·Δ₁ and X, divided by `scale` (s) into the
    /// partials.
    fn weight_grad(
        &self,
        rec: &mut Recorder<'_>,
        c: usize,
        (params, scale): (Params, f32),
        partials: &wgpu::Buffer,
    ) -> Result<Step> {
        rec.step(
            Kernel::WeightGradCoop,
            format!("weight_grad_coop[{c}]"),
            Params {
                scale: 1.0 / scale,
                ..self.padded(params)
            },
            &[&self.d, &self.x, partials],
        )
    }

    /// `params` with the padded widths the mixed kernels read: `len` the
    /// inputs, `count` the outputs.
    fn padded(&self, params: Params) -> Params {
        Params {
            len: self.inputs,
            count: self.outputs,
            ..params
        }
    }

    /// The uniform block of `to_half` from `rows` × `width` f32s at `offset`
    /// into a copy `pad_rows` × `pad_width`, each value times `scale`.
    fn to_half(
        rows: usize,
        width: usize,
        offset: usize,
        (pad_rows, pad_width): (u32, u32),
        scale: f32,
    ) -> Params {
        Params {
            rows: rows as u32,
            inputs: width as u32,
            w_off: offset as u32,
            len: pad_width,
            count: pad_rows,
            scale,
            ..Params::default()
        }
    }
}

/// How a chunk's layer-by-layer steps run: the activation, tiled or
/// register-blocked, and the first layer's products in mixed precision
/// where `half` is there, for a batch of `rows` rows.
struct How<'a> {
    act: Activation,
    tiled: bool,
    /// The loss alone: the forward steps, and no backward ones.
    loss_only: bool,
    half: Option<&'a Half>,
    rows: usize,
}

/// One chunk of rows: its X and y, and the uniform block every step over
/// it starts from.
struct Chunk<'a> {
    index: usize,
    x: &'a wgpu::Buffer,
    y: &'a wgpu::Buffer,
    base: Params,
}

impl Chunk<'_> {
    /// The uniform block of a step over layer `view`.
    fn layer(&self, view: &LayerView) -> Params {
        Params {
            inputs: view.inputs as u32,
            outputs: view.outputs as u32,
            w_off: view.weight.start as u32,
            b_off: view.bias.start as u32,
            ..self.base
        }
    }
}

/// X and y of the chunk of `rows` rows from row `start`: uploaded from the
/// host, or generated on the device by a step added to `setup`.
fn chunk_data(
    rec: &mut Recorder<'_>,
    data: Rows<'_>,
    c: usize,
    (start, rows): (usize, usize),
    features: usize,
    setup: &mut Vec<Step>,
) -> Result<(wgpu::Buffer, wgpu::Buffer)> {
    let data = match data {
        Rows::Batch { x, y, rows: all } if (start, rows) == (0, all) => {
            return Ok((x.clone(), y.clone()));
        }
        Rows::Batch { rows, .. } => {
            return Err(Error::Config(format!(
                "a batch of {rows} rows needs more than one chunk on this adapter; use a smaller --batch-size"
            )))
        }
        Rows::Source(s) => s,
    };
    match data {
        Source::Host(d) => Ok((
            buffers::storage_with(
                rec.ctx,
                &format!("x[{c}]"),
                &d.x[start * features..(start + rows) * features],
            )?,
            buffers::storage_with(rec.ctx, &format!("y[{c}]"), &d.y[start..start + rows])?,
        )),
        Source::Synthetic { seed, first, .. } => {
            let (x, y, step) = synthesize(rec, c, (first + start, rows), features, seed)?;
            setup.push(step);
            Ok((x, y))
        }
    }
}

/// The synthetic task's X and y for chunk `c` (`rows` rows from row
/// `start` of the whole task), generated on the device: their buffers and the step that
/// fills them.
fn synthesize(
    rec: &mut Recorder<'_>,
    c: usize,
    (start, rows): (usize, usize),
    features: usize,
    seed: u64,
) -> Result<(wgpu::Buffer, wgpu::Buffer, Step)> {
    let x = buffers::storage(rec.ctx, &format!("x[{c}]"), rows * features)?;
    let y = buffers::storage(rec.ctx, &format!("y[{c}]"), rows)?;
    let params = Params::synthesize(rows, features, seed, (start * features) as u64);
    let step = rec.step(
        Kernel::Synthesize,
        format!("synthesize[{c}]"),
        params,
        &[&x, &y],
    )?;
    Ok((x, y, step))
}

/// The fused kernel over one chunk: its row groups' partials rows.
fn fused_chunk(
    rec: &mut Recorder<'_>,
    act: Activation,
    layers: &[LayerView],
    chunk: &Chunk<'_>,
    t: &Targets<'_>,
) -> Result<Step> {
    let params = Params {
        dst_off: layers[1].weight.start as u32,
        ..chunk.layer(&layers[0])
    };
    rec.step(
        Kernel::fused(act),
        format!("fused[{}]", chunk.index),
        params,
        &[chunk.x, chunk.y, t.theta, t.partials],
    )
}

/// The layer-by-layer kernels over one chunk, tiled or register-blocked:
/// the forward steps (the output's loss partials included), then the
/// backward ones (gradient partials and backprop, last layer first). The
/// tiled family (hardware GPUs) takes the output layer's weight gradient
/// and backprop with `weight_grad_output` and `backprop_output_*`, whose
/// neighbouring invocations read neighbouring words of A. The layered
/// family (CPU adapters) keeps the register-blocked ones: on lavapipe
/// `weight_grad_output` measures slower on narrow layers (S1's output
/// layer, 65536 × 64: 5.8 against 4.3 ms) and no faster on S3's, and
/// `backprop_output_*` gains only on wide ones.
fn layered_chunk(
    rec: &mut Recorder<'_>,
    how: &How<'_>,
    layers: &[LayerView],
    chunk: &Chunk<'_>,
    rows: &PerRow,
    t: &Targets<'_>,
) -> Result<(Vec<Step>, Vec<Step>)> {
    let (c, last, act) = (chunk.index, layers.len() - 1, how.act);
    let input = |l: usize| if l == 0 { chunk.x } else { &rows.acts[l - 1] };
    let (forward, weight_grad) = if how.tiled {
        (Kernel::forward_tiled(act), Kernel::WeightGradTiled)
    } else {
        (Kernel::forward(act), Kernel::WeightGrad)
    };
    let chunk_rows = chunk.base.rows as usize;
    let mut forward_steps = Vec::new();
    for (l, out) in rows.acts.iter().enumerate() {
        let view = &layers[l];
        match how.half.filter(|_| l == 0) {
            Some(h) => {
                forward_steps.extend(h.forward(rec, act, view, chunk, (t.theta, out), None)?)
            }
            None => forward_steps.push(rec.step(
                forward,
                format!("forward[{c}].{l}"),
                chunk.layer(view),
                &[input(l), t.theta, out],
            )?),
        }
    }
    // The subgroup kernel where its loops fit the driver's limit, if any.
    let inputs = layers[last].inputs;
    let group_rows = chunk.base.group_rows as usize;
    let subgroups = rec.ctx.subgroups()
        && trips::subgroup_output_fits(rec.ctx.loop_limit()?, group_rows, inputs);
    forward_steps.push(rec.step(
        Kernel::output(subgroups, inputs),
        format!("output[{c}]"),
        chunk.layer(&layers[last]),
        &[input(last), t.theta, chunk.y, &rows.residual, t.partials],
    )?);
    let mut backward_steps = Vec::new();
    if how.loss_only {
        return Ok((forward_steps, backward_steps));
    }
    for l in (0..=last).rev() {
        let d = if l == last {
            &rows.residual
        } else {
            &rows.deltas[l]
        };
        let params = chunk.layer(&layers[l]);
        // A layer of one output (the output layer, or a hidden layer of
        // one unit): its weight gradient one sum per input, its backprop
        // column by column (the same bits as the general kernels).
        let own_output_kernels = how.tiled && layers[l].outputs == 1;
        match how.half.filter(|_| l == 0) {
            Some(h) => {
                let scale = mixed::delta_scale(how.rows);
                let padded = (
                    chunk_rows.next_multiple_of(mixed::TILE as usize) as u32,
                    h.outputs,
                );
                backward_steps.push(rec.step(
                    Kernel::ToHalf,
                    format!("d_z1_to_f16[{c}]"),
                    Half::to_half(chunk_rows, layers[0].outputs, 0, padded, scale),
                    &[d, &h.d],
                )?);
                backward_steps.push(h.weight_grad(rec, c, (params, scale), t.partials)?);
            }
            None => backward_steps.push(rec.step(
                if own_output_kernels {
                    Kernel::WeightGradOutput
                } else {
                    weight_grad
                },
                format!("weight_grad[{c}].{l}"),
                params,
                &[d, input(l), t.partials],
            )?),
        }
        backward_steps.push(rec.step(
            Kernel::BiasGrad,
            format!("bias_grad[{c}].{l}"),
            params,
            &[d, t.partials],
        )?);
        if l > 0 {
            let backprop = if own_output_kernels {
                Kernel::backprop_output(act)
            } else {
                Kernel::backprop(act)
            };
            backward_steps.push(rec.step(
                backprop,
                format!("backprop[{c}].{l}"),
                params,
                &[d, t.theta, &rows.acts[l - 1], &rows.deltas[l - 1]],
            )?);
        }
    }
    Ok((forward_steps, backward_steps))
}

/// The wide kernels over one chunk of a network with one hidden layer:
/// the forward steps (forward_wide, then output_wide with the loss and ∂b2
/// partials), then the backward one (weight_grad_wide: ∂W1, ∂b1, ∂w2); in
/// mixed precision where `how.half` is there ([`wide_mixed_chunk`]).
fn wide_chunk(
    rec: &mut Recorder<'_>,
    how: &How<'_>,
    layers: &[LayerView],
    chunk: &Chunk<'_>,
    rows: &WideRows,
    t: &Targets<'_>,
) -> Result<(Vec<Step>, Vec<Step>)> {
    if let Some(h) = how.half {
        return wide_mixed_chunk(rec, how, h, layers, chunk, rows, t);
    }
    let (c, act) = (chunk.index, how.act);
    // Layer 0's sizes and offsets; dst_off is w2's first index (b2 follows).
    let params = Params {
        dst_off: layers[1].weight.start as u32,
        ..chunk.layer(&layers[0])
    };
    let forward = vec![
        rec.step(
            Kernel::forward_wide(act),
            format!("forward_wide[{c}]"),
            params,
            &[chunk.x, t.theta, &rows.a1, &rows.yparts],
        )?,
        rec.step(
            Kernel::OutputWide,
            format!("output_wide[{c}]"),
            params,
            &[t.theta, chunk.y, &rows.yparts, &rows.residual, t.partials],
        )?,
    ];
    if how.loss_only {
        return Ok((forward, Vec::new()));
    }
    let backward = vec![rec.step(
        Kernel::weight_grad_wide(act),
        format!("weight_grad_wide[{c}]"),
        params,
        &[chunk.x, t.theta, &rows.a1, &rows.residual, t.partials],
    )?];
    Ok((forward, backward))
}

/// [`wide_chunk`] with the two products in mixed precision: the f16 copies
/// of X and W₁, the forward product with ŷ's shares, and the output; then
/// f16(s·Δ₁) with ∂b₁ and ∂w₂, and the weight gradient from the copies.
fn wide_mixed_chunk(
    rec: &mut Recorder<'_>,
    how: &How<'_>,
    h: &Half,
    layers: &[LayerView],
    chunk: &Chunk<'_>,
    rows: &WideRows,
    t: &Targets<'_>,
) -> Result<(Vec<Step>, Vec<Step>)> {
    let (c, act, first) = (chunk.index, how.act, &layers[0]);
    let params = Params {
        dst_off: layers[1].weight.start as u32,
        ..chunk.layer(first)
    };
    let shares = Some((&rows.yparts, params.dst_off));
    let mut forward = h.forward(rec, act, first, chunk, (t.theta, &rows.a1), shares)?;
    forward.push(rec.step(
        Kernel::OutputWide,
        format!("output_wide[{c}]"),
        params,
        &[t.theta, chunk.y, &rows.yparts, &rows.residual, t.partials],
    )?);
    let scale = mixed::delta_scale(how.rows);
    let backward = vec![
        rec.step(
            Kernel::delta_half(act),
            format!("delta_half[{c}]"),
            Params {
                scale,
                ..h.padded(params)
            },
            &[&h.d, t.theta, t.partials, &rows.a1, &rows.residual],
        )?,
        h.weight_grad(rec, c, (params, scale), t.partials)?,
    ];
    Ok((forward, backward))
}

/// The partials rows after the reduce chain: what the last kernel of each
/// pass adds.
struct Sums {
    /// The reduce dispatches, REDUCE_FAN rows at a time.
    stages: Vec<Step>,
    /// The rows left: at most REDUCE_FAN.   (rows, width)
    last: wgpu::Buffer,
    rows: usize,
    /// Parameters + 1, the loss column last; 1 under [`Partials::Loss`].
    width: usize,
}

/// The reduce chain over `groups` partials rows of `width`: REDUCE_FAN rows
/// at a time, until at most REDUCE_FAN are left.
fn reduce_chain(
    rec: &mut Recorder<'_>,
    partials: &wgpu::Buffer,
    groups: usize,
    width: usize,
) -> Result<Sums> {
    let mut rows = groups;
    let mut source = partials.clone();
    let mut stages = Vec::new();
    while rows > REDUCE_FAN as usize {
        let stage = stages.len();
        let out = rows.div_ceil(REDUCE_FAN as usize);
        let dest = buffers::storage(rec.ctx, &format!("d_theta_sums[{stage}]"), out * width)?;
        stages.push(rec.step(
            Kernel::Reduce,
            format!("reduce[{stage}]"),
            Params::reduce(width, rows, width, 1.0, 0.0),
            &[&source, &dest],
        )?);
        rec.keep.push(source);
        source = dest;
        rows = out;
    }
    Ok(Sums {
        stages,
        last: source,
        rows,
        width,
    })
}

/// L-BFGS's pass: `epoch`'s steps so far (forward, backward and the reduce
/// chain), then the last sums into `grad`, with no update.
fn gradient(
    rec: &mut Recorder<'_>,
    epoch: &[Step],
    sums: &Sums,
    grad: &wgpu::Buffer,
) -> Result<Vec<Step>> {
    let mut steps = epoch.to_vec();
    steps.push(rec.step(
        Kernel::Reduce,
        "reduce_gradient".into(),
        Params::reduce(sums.width, sums.rows, sums.width, 1.0, 0.0),
        &[&sums.last, grad],
    )?);
    Ok(steps)
}

/// The epoch's last steps: the last sums and `opt`'s update, which records
/// the loss in the history; for adam, or a scheduled rate, count_epoch
/// after it. With `--clip-grad-norm` the last sums go into `grad` first
/// (one row, the loss last), clip_squares and clip_norm store the clip
/// factor after them, and the update reads that row and factor.
fn update(
    rec: &mut Recorder<'_>,
    sums: &Sums,
    opt: &Optimizer,
    t: &Targets<'_>,
) -> Result<Vec<Step>> {
    let width = sums.width;
    let mut steps = Vec::new();
    let (source, rows) = match opt.max_grad_norm() {
        0.0 => (&sums.last, sums.rows),
        _ => {
            steps.push(rec.step(
                Kernel::Reduce,
                "reduce_to_clip".into(),
                Params::reduce(width, sums.rows, width, 1.0, 0.0),
                &[&sums.last, t.grad],
            )?);
            for kernel in [Kernel::ClipSquares, Kernel::ClipNorm] {
                let params = Params::update(width, 1, width, opt);
                steps.push(rec.step(kernel, kernel.entry_point().into(), params, &[t.grad])?);
            }
            (t.grad, 1)
        }
    };
    let params = Params {
        scheduled: t.scheduled.into(),
        ..Params::update(width, rows, width, opt)
    };
    let kernel = match opt {
        Optimizer::Gd { .. } | Optimizer::Lbfgs { .. } => Kernel::ReduceSgd,
        Optimizer::Momentum { .. } => Kernel::ReduceMomentum,
        Optimizer::Nesterov { .. } => Kernel::ReduceNesterov,
        Optimizer::Adam { .. } => Kernel::ReduceAdam,
    };
    let mut resources = vec![source, t.theta, t.history, t.counter];
    resources.extend(t.state);
    resources.push(t.corrections);
    steps.push(rec.step(kernel, kernel.entry_point().into(), params, &resources)?);
    if kernel == Kernel::ReduceAdam || t.scheduled {
        steps.push(rec.step(
            Kernel::CountEpoch,
            "count_epoch".into(),
            params,
            &[t.counter],
        )?);
    }
    Ok(steps)
}

/// Runs `steps` once, in one compute pass, and waits for no result.
fn run_once(ctx: &Context, kernels: &Kernels, label: &str, steps: &[Step]) -> Result<()> {
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        });
        for s in steps {
            s.record(kernels, &mut pass);
        }
    }
    ctx.queue.submit([encoder.finish()]);
    ctx.check()
}
