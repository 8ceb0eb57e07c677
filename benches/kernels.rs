//! `cargo bench --bench kernels`: every GPU kernel beside its CPU twin in
//! `cpu::ops`, on the same inputs, the way llm.c's dev/cuda files time a
//! kernel. The GPU side is one kernel's dispatches on buffers uploaded once
//! (`gpu::ops::Op`): a warm-up dispatch, then SAMPLES submits of REPS
//! dispatches each, timed until the device has drained; the twin is timed
//! over SAMPLES calls after one warm-up call. Medians are printed, with
//! GFLOP/s for the matrix kernels and the adapter they ran on.
//!
//! Shapes (rows × inputs × outputs; the fused kernels take inputs ≤ 32 and
//! outputs ≤ 256 as their hidden units) come from SHADERTRAIN_KERNEL_SHAPES,
//! default `256x8x32,1024x16x64,1024x64x1`; e.g.
//! `65536x16x64,16384x256x1024,16384x1024x1` for shapes S1 and S3 of
//! docs/spec.md (the last, S3's output layer). The kernels for a layer of
//! one output (`backprop_output_*`, `weight_grad_output`) run only on
//! shapes with one output.

use std::time::Instant;

use shadertrain::bench::Timing;
use shadertrain::cpu::ops;
use shadertrain::gpu::context::describe;
use shadertrain::gpu::kernels::{clip_spans, FusedShape, Kernel, Kernels, Params};
use shadertrain::gpu::ops::{Op, Slot};
use shadertrain::gpu::{AdapterRequest, Context};
use shadertrain::model::{Activation, LayerView};
use shadertrain::optim::{Optimizer, State};

const SAMPLES: usize = 5;
const REPS: usize = 4;
/// Dispatches of one kernel in all, the warm-up's included: the history the
/// update kernels append to holds a loss for each.
const DISPATCHES: usize = (1 + SAMPLES) * REPS;
/// Rows per gradient partial, as the trainer's smallest row groups.
const GROUP_ROWS: usize = 64;
/// Partials rows the update kernels add: one reduce's worth.
const LAST_ROWS: usize = 32;

/// A layer's shape: (rows, inputs, outputs).
type Shape = (usize, usize, usize);

/// One kernel's GPU dispatch and its twin, over the same inputs.
struct Case {
    kernel: Kernel,
    op: Op,
    twin: Box<dyn FnMut()>,
    /// Floating-point operations of one dispatch, for the matrix kernels.
    flops: Option<f64>,
}

fn main() {
    let spec = std::env::var("SHADERTRAIN_KERNEL_SHAPES")
        .unwrap_or_else(|_| "256x8x32,1024x16x64,1024x64x1".into());
    let shapes = spec
        .split(',')
        .map(parse_shape)
        .collect::<Option<Vec<_>>>()
        .expect("SHADERTRAIN_KERNEL_SHAPES lists shapes as ROWSxINPUTSxOUTPUTS");
    let ctx = match Context::new(&AdapterRequest::default()) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("no GPU adapter, nothing to time: {e}");
            return;
        }
    };
    let kernels = Kernels::new(&ctx).expect("the shaders compile");
    println!("adapter: {}", describe(&ctx.info));
    println!(
        "{:<24} {:>16} {:>11} {:>11} {:>9} {:>8}",
        "kernel", "shape", "gpu ms", "twin ms", "twin/gpu", "GFLOP/s"
    );
    for &shape in &shapes {
        for kernel in Kernel::ALL {
            let Some(mut case) = case(&ctx, &kernels, kernel, shape) else {
                continue;
            };
            let gpu = median(|| {
                case.op
                    .dispatch(&ctx, &kernels, REPS)
                    .expect("the kernel runs")
            }) / REPS as f64;
            let cpu = median(&mut case.twin);
            let gflops = case
                .flops
                .map_or("-".to_string(), |f| format!("{:.2}", f / gpu * 1e-9));
            let (rows, inputs, outputs) = shape;
            println!(
                "{:<24} {:>16} {:>11.4} {:>11.4} {:>9.1} {:>8}",
                case.kernel.entry_point(),
                format!("{rows}x{inputs}x{outputs}"),
                gpu * 1e3,
                cpu * 1e3,
                cpu / gpu,
                gflops
            );
        }
    }
}

fn parse_shape(s: &str) -> Option<Shape> {
    let v: Vec<usize> = s
        .trim()
        .split('x')
        .map(|d| d.parse().ok().filter(|&d| d > 0))
        .collect::<Option<_>>()?;
    match v[..] {
        [rows, inputs, outputs] => Some((rows, inputs, outputs)),
        _ => None,
    }
}

/// The median seconds of `f` over SAMPLES calls, after one untimed call.
fn median(mut f: impl FnMut()) -> f64 {
    f();
    let per_epoch = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    Timing {
        per_epoch,
        epochs: SAMPLES,
        first_s: 0.0,
        first_loss: f64::NAN,
        contention: None,
    }
    .median()
}

/// Deterministic values in [lo, hi).
fn values(seed: u64, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            lo + (hi - lo)
                * (shadertrain::rng::symmetric(seed, shadertrain::rng::Stream::Other(7), i as u64)
                    + 1.0)
                / 2.0
        })
        .collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A layer's uniform block: W (outputs × inputs) at 0, b after it.
fn layer((rows, inputs, outputs): Shape) -> Params {
    Params {
        rows: rows as u32,
        inputs: inputs as u32,
        outputs: outputs as u32,
        b_off: (inputs * outputs) as u32,
        group_rows: GROUP_ROWS as u32,
        ..Params::default()
    }
}

/// `kernel`'s case on `shape`, or `None` where the kernel does not take it
/// (the fused kernels past their widths).
fn case(ctx: &Context, kernels: &Kernels, kernel: Kernel, shape: Shape) -> Option<Case> {
    let (rows, inputs, outputs) = shape;
    let groups = rows.div_ceil(GROUP_ROWS);
    let a = values(1, rows * inputs, -1.0, 1.0); // (rows, inputs)
    let d = values(2, rows * outputs, -1.0, 1.0); // (rows, outputs)
    let y = values(3, rows, -1.0, 1.0);
    let theta = values(4, inputs * outputs + outputs, -0.5, 0.5); // W, b
    let (w, b) = theta.split_at(inputs * outputs);
    let (a64, d64, w64, b64) = (f64s(&a), f64s(&d), f64s(w), f64s(b));
    let matmul = Some(2.0 * (rows * inputs * outputs) as f64);
    let op = |params: &Params, slots: &[Slot<'_>]| {
        let pipeline = kernels.pipeline(ctx, kernel).expect("the pipeline builds");
        Op::new(ctx, kernel, pipeline, params, slots).expect("the buffers fit")
    };
    let (op, twin, flops): (Op, Box<dyn FnMut()>, _) = match kernel {
        // The mixed kernels (only on a device opened for --precision mixed)
        // and the wide ones: timed as epochs by `shadertrain bench
        // --precision mixed` and `--kernels wide`.
        Kernel::ToHalf
        | Kernel::ForwardCoopSigmoid
        | Kernel::ForwardCoopTanh
        | Kernel::WeightGradCoop
        | Kernel::ForwardCoopSharesSigmoid
        | Kernel::ForwardCoopSharesTanh
        | Kernel::DeltaHalfSigmoid
        | Kernel::DeltaHalfTanh
        | Kernel::ForwardWideSigmoid
        | Kernel::ForwardWideTanh
        | Kernel::OutputWide
        | Kernel::WeightGradWideSigmoid
        | Kernel::WeightGradWideTanh => return None,
        Kernel::ForwardSigmoid
        | Kernel::ForwardTanh
        | Kernel::ForwardTiledSigmoid
        | Kernel::ForwardTiledTanh => {
            let act = activation(kernel);
            let slots = [
                Slot::Input(&a),
                Slot::Input(&theta),
                Slot::Output(rows * outputs),
            ];
            let twin = move || {
                ops::forward(&a64, &w64, &b64, inputs, outputs, Some(act));
            };
            (op(&layer(shape), &slots), Box::new(twin), matmul)
        }
        // A layer of one output only: time both kernels on `Rx1024x1`.
        Kernel::BackpropOutputSigmoid | Kernel::BackpropOutputTanh if outputs != 1 => return None,
        Kernel::BackpropSigmoid
        | Kernel::BackpropTanh
        | Kernel::BackpropOutputSigmoid
        | Kernel::BackpropOutputTanh => {
            let act = activation(kernel);
            // Activations in (0, 1), the range of both activations' outputs.
            let acts = values(5, rows * inputs, 0.0, 1.0);
            let slots = [
                Slot::Input(&d),
                Slot::Input(&theta),
                Slot::Input(&acts),
                Slot::Output(rows * inputs),
            ];
            let acts = f64s(&acts);
            let twin = move || {
                ops::backprop(&d64, &w64, &acts, outputs, inputs, act);
            };
            (op(&layer(shape), &slots), Box::new(twin), matmul)
        }
        Kernel::OutputResidualSubgroup if !ctx.subgroups() => return None,
        Kernel::OutputResidual | Kernel::OutputResidualSubgroup => {
            // The output layer: one output, the loss in column 1 of rows 2 wide.
            let params = Params {
                stride: 2,
                len: 1,
                scale: 2.0 / rows as f32,
                ..layer((rows, inputs, 1))
            };
            let slots = [
                Slot::Input(&a),
                Slot::Input(&theta),
                Slot::Input(&y),
                Slot::Output(rows),
                Slot::Output(groups * 2),
            ];
            let (w, b, y) = (f64s(&theta[..inputs]), theta[inputs] as f64, f64s(&y));
            let twin = move || {
                ops::output_residual(&a64, &w, b, &y, rows);
            };
            (op(&params, &slots), Box::new(twin), None)
        }
        Kernel::WeightGradOutput if outputs != 1 => return None,
        Kernel::WeightGrad
        | Kernel::WeightGradTiled
        | Kernel::WeightGradOutput
        | Kernel::BiasGrad => {
            let stride = inputs * outputs + outputs;
            let params = Params {
                stride: stride as u32,
                ..layer(shape)
            };
            let mut slots = vec![Slot::Input(&d)];
            if kernel != Kernel::BiasGrad {
                slots.push(Slot::Input(&a));
            }
            slots.push(Slot::Output(groups * stride));
            let twin = move || {
                let mut partials = vec![0.0; groups * stride];
                for (g, row) in partials.chunks_exact_mut(stride).enumerate() {
                    let r = g * GROUP_ROWS..((g + 1) * GROUP_ROWS).min(rows);
                    let dg = &d64[r.start * outputs..r.end * outputs];
                    let (dw, db) = row.split_at_mut(inputs * outputs);
                    if kernel == Kernel::BiasGrad {
                        ops::bias_grad(dg, outputs, db);
                    } else {
                        let ag = &a64[r.start * inputs..r.end * inputs];
                        ops::weight_grad(dg, ag, outputs, inputs, dw);
                    }
                }
            };
            let flops = (kernel != Kernel::BiasGrad).then_some(matmul).flatten();
            (op(&params, &slots), Box::new(twin), flops)
        }
        Kernel::Reduce => {
            // A partials row per 16 rows, each as wide as the layer's
            // parameters and a loss.
            let (count, width) = (rows.div_ceil(16), inputs * outputs + outputs + 1);
            let partials = values(6, count * width, -1.0, 1.0);
            let params = Params::reduce(width, count, width, 1.0, 0.0);
            let slots = [
                Slot::Input(&partials),
                Slot::Output(count.div_ceil(32) * width),
            ];
            let op = op(&params, &slots);
            let twin = move || {
                ops::reduce(&partials, count, width, width, 1.0);
            };
            (op, Box::new(twin), None)
        }
        Kernel::ClipSquares | Kernel::ClipNorm => {
            // One summed row: the layer's parameters, a loss, the factor,
            // the spans' sums of squares.
            let width = inputs * outputs + outputs + 1;
            let row = values(12, width + 1 + clip_spans(width), -1.0, 1.0);
            let params = Params {
                len: width as u32,
                max_grad_norm: 1.0,
                ..Params::default()
            };
            let slots = [Slot::InOut(&row)];
            let op = op(&params, &slots);
            let twin = move || {
                ops::clip_norm(&row, width, 1.0);
            };
            (op, Box::new(twin), None)
        }
        Kernel::ReduceSgd
        | Kernel::ReduceMomentum
        | Kernel::ReduceNesterov
        | Kernel::ReduceAdam
        | Kernel::ReduceEval
        | Kernel::CountEpoch => return Some(update_case(ctx, kernels, kernel, shape)),
        Kernel::Synthesize => {
            let params = Params::synthesize(rows, inputs, 9, 0);
            let slots = [Slot::Output(rows * inputs), Slot::Output(rows)];
            let twin = move || {
                ops::synthesize(rows, inputs, 9, 0);
            };
            (op(&params, &slots), Box::new(twin), None)
        }
        Kernel::GatherRows => {
            // The second batch of `rows` rows from a set of 4·rows, in a
            // reversed order.
            let all = 4 * rows;
            let (x_all, y_all) = (
                values(10, all * inputs, -1.0, 1.0),
                values(11, all, -1.0, 1.0),
            );
            let order: Vec<u32> = (0..all as u32).rev().collect();
            let order_bits: Vec<f32> = order.iter().map(|&n| f32::from_bits(n)).collect();
            let counter = [f32::from_bits(1)];
            let params = Params::gather(rows, inputs, rows);
            let slots = [
                Slot::Output(rows * inputs),
                Slot::Output(rows),
                Slot::Input(&x_all),
                Slot::Input(&y_all),
                Slot::Input(&order_bits),
                Slot::Input(&counter),
            ];
            let op = op(&params, &slots);
            let twin = move || {
                ops::gather_rows((&x_all, &y_all), inputs, &order, (1, rows, rows));
            };
            (op, Box::new(twin), None)
        }
        Kernel::FusedSigmoid | Kernel::FusedTanh => {
            return fused_case(ctx, kernels, kernel, shape);
        }
    };
    Some(Case {
        kernel,
        op,
        twin,
        flops,
    })
}

fn activation(kernel: Kernel) -> Activation {
    match kernel {
        Kernel::ForwardSigmoid
        | Kernel::ForwardTiledSigmoid
        | Kernel::BackpropSigmoid
        | Kernel::BackpropOutputSigmoid
        | Kernel::FusedSigmoid => Activation::Sigmoid,
        _ => Activation::Tanh,
    }
}

/// The last reduce kernels: LAST_ROWS partials rows of the layer's
/// parameters and a loss, the optimizer's step, the loss into a history.
fn update_case(ctx: &Context, kernels: &Kernels, kernel: Kernel, shape: Shape) -> Case {
    let (_, inputs, outputs) = shape;
    let params_len = inputs * outputs + outputs;
    let width = params_len + 1;
    let partials = values(7, LAST_ROWS * width, -1.0, 1.0);
    let theta = values(8, params_len, -1.0, 1.0);
    let history = vec![0.0f32; DISPATCHES];
    let counter = [0.0f32];
    let opt = match kernel {
        Kernel::ReduceMomentum => Optimizer::Momentum {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        },
        Kernel::ReduceNesterov => Optimizer::Nesterov {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        },
        Kernel::ReduceAdam => Optimizer::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            max_grad_norm: 0.0,
        },
        _ => Optimizer::gd(0.1),
    };
    let state = vec![0.0f32; opt.state_per_param() * params_len];
    // Adam's factors for every epoch the history holds.
    let corrections: Vec<f32> = (1..=DISPATCHES as u64)
        .flat_map(|t| Params::factors(&opt, t))
        .collect();
    let params = Params::update(width, LAST_ROWS, width, &opt);
    let slots = match kernel {
        Kernel::CountEpoch => vec![Slot::InOut(&counter)],
        Kernel::ReduceEval => vec![
            Slot::Input(&partials),
            Slot::InOut(&history),
            Slot::InOut(&counter),
        ],
        _ => {
            let mut slots = vec![
                Slot::Input(&partials),
                Slot::InOut(&theta),
                Slot::InOut(&history),
                Slot::InOut(&counter),
            ];
            if !state.is_empty() {
                slots.push(Slot::InOut(&state));
            }
            // Every update binds the per-epoch factors; only adam reads
            // them without a schedule.
            slots.push(Slot::Input(&corrections));
            slots
        }
    };
    let pipeline = kernels.pipeline(ctx, kernel).expect("the pipeline builds");
    let op = Op::new(ctx, kernel, pipeline, &params, &slots).expect("the buffers fit");
    let twin: Box<dyn FnMut()> = match kernel {
        Kernel::CountEpoch => {
            let mut counter = 0;
            Box::new(move || ops::count_epoch(&mut counter))
        }
        Kernel::ReduceEval => Box::new(move || {
            ops::reduce_eval(&partials, width, 1.0);
        }),
        _ => {
            let (mut theta, mut state) = (theta, State::<f64>::new(&opt, params_len));
            Box::new(move || {
                ops::reduce_update(&opt, &partials, width, 1.0, &mut theta, &mut state);
            })
        }
    };
    Case {
        kernel,
        op,
        twin,
        flops: None,
    }
}

/// The fused kernel on `rows` rows of `inputs` features and `outputs`
/// hidden units, with its twin per row group; `None` past its widths.
fn fused_case(ctx: &Context, kernels: &Kernels, kernel: Kernel, shape: Shape) -> Option<Case> {
    let (rows, f, h) = shape;
    let fused = FusedShape::new(f, h)?;
    let act = activation(kernel);
    let x = values(1, rows * f, -1.0, 1.0);
    let y = values(3, rows, -1.0, 1.0);
    // W1, b1, w2, b2.
    let p = h * f + 2 * h + 1;
    let theta = values(4, p, -0.5, 0.5);
    let layers = [
        LayerView {
            inputs: f,
            outputs: h,
            weight: 0..h * f,
            bias: h * f..h * f + h,
        },
        LayerView {
            inputs: h,
            outputs: 1,
            weight: h * f + h..p - 1,
            bias: p - 1..p,
        },
    ];
    let params = Params {
        dst_off: layers[1].weight.start as u32,
        stride: p as u32 + 1,
        len: p as u32,
        scale: 2.0 / rows as f32,
        ..layer(shape)
    };
    let groups = rows.div_ceil(GROUP_ROWS);
    let slots = [
        Slot::Input(&x),
        Slot::Input(&y),
        Slot::Input(&theta),
        Slot::Output(groups * (p + 1)),
    ];
    let pipeline = kernels
        .fused(ctx, act, &fused)
        .expect("the pipeline builds");
    let op = Op::new(ctx, kernel, &pipeline, &params, &slots).expect("the buffers fit");
    let (x, y, theta) = (f64s(&x), f64s(&y), f64s(&theta));
    let twin = move || {
        for g in 0..groups {
            let r = g * GROUP_ROWS..((g + 1) * GROUP_ROWS).min(rows);
            let (xg, yg) = (&x[r.start * f..r.end * f], &y[r.clone()]);
            ops::fused(act, &layers, xg, yg, &theta, rows, |v| v);
        }
    };
    Some(Case {
        kernel,
        op,
        twin: Box::new(twin),
        // docs/spec.md's epoch: 4·N·f·h + 6·N·h.
        flops: Some((4 * rows * f * h + 6 * rows * h) as f64),
    })
}
