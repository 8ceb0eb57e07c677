//! Each kernel against its CPU twin in `cpu::ops`, on seeded shapes that
//! include 1, primes and sizes that are not multiples of the tile (16) or
//! workgroup (64) sizes; then the 2D grid past 65,535 workgroups.

mod common;

use common::kernels::{
    check_backprop, check_forward, check_fused, check_gradient_partials, layer_params, theta,
};
use common::{assert_close, assert_within, f64s, gpu, sum_bound, uniform};
use shadertrain::batches::MiniBatches;
use shadertrain::cpu::ops;
use shadertrain::gpu::kernels::{clip_spans, Family, Kernel, Kernels, Params, FACTORS, REDUCE_FAN};
use shadertrain::gpu::ops::{run, Slot};
use shadertrain::model::Activation;
use shadertrain::optim::{Optimizer, State};

/// (rows, inputs, outputs)
const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (1, 17, 3),
    (7, 1, 13),
    (31, 5, 16),
    (64, 16, 1),
    (97, 33, 31),
    (130, 2, 65),
];

#[test]
fn every_pipeline_builds_once() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for k in Kernel::ALL {
        // The mixed kernels build only on a mixed device: tests/mixed.rs.
        if k.family() == Family::Mixed || (k.family().needs_subgroups() && !ctx.subgroups()) {
            continue;
        }
        let first = kernels.pipeline(&ctx, k).unwrap() as *const _;
        let again = kernels.pipeline(&ctx, k).unwrap() as *const _;
        assert_eq!(first, again, "{k:?} was built twice");
    }
}

#[test]
fn forward_matches_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for act in Activation::ALL {
        for (s, &shape) in SHAPES.iter().enumerate() {
            // The last scale drives pre-activations to ±1000.
            for scale in [1.0f32, 1000.0] {
                for kernel in [Kernel::forward(act), Kernel::forward_tiled(act)] {
                    check_forward(&ctx, &kernels, kernel, act, shape, 100 + s as u64, scale);
                }
            }
        }
    }
}

#[test]
fn backprop_matches_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for act in Activation::ALL {
        for (s, &shape) in SHAPES.iter().enumerate() {
            check_backprop(&ctx, &kernels, act, shape, 200 + s as u64);
        }
        // Layers of one output, where backprop_output must give backprop's
        // bits: partial workgroups and a partial block of 8 rows.
        for (s, shape) in [(300, 70, 1), (1_003, 300, 1)].into_iter().enumerate() {
            check_backprop(&ctx, &kernels, act, shape, 300 + s as u64);
        }
    }
}

#[test]
fn output_residual_and_loss_partials_match_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for (s, &(rows, inputs, _)) in SHAPES.iter().enumerate() {
        let seed = 300 + s as u64;
        let a = uniform(seed, rows * inputs, -1.0, 1.0);
        let y = uniform(seed + 3, rows, -2.0, 2.0);
        let (t, w_off, b_off) = theta(seed, inputs, 1, 1.0);
        let total = rows * 3; // N of the whole batch, for 2/N
        let groups = rows.div_ceil(64);
        // Partials rows 3 wide with the loss in column 1.
        let scale = (2.0 / total as f64) as f32;
        let p = Params {
            scale,
            stride: 3,
            len: 1,
            ..layer_params((rows, inputs, 1), w_off, b_off)
        };
        let got = run(
            &ctx,
            &kernels,
            Kernel::OutputResidual,
            &p,
            &[
                Slot::Input(&a),
                Slot::Input(&t),
                Slot::Input(&y),
                Slot::Output(rows),
                Slot::Output(groups * 3),
            ],
        )
        .unwrap();
        let t64 = f64s(&t);
        let (a64, y64) = (f64s(&a), f64s(&y));
        let (want_r, _) = ops::output_residual(
            &a64,
            &t64[w_off as usize..b_off as usize],
            t64[b_off as usize],
            &y64,
            total,
        );
        let name = format!("output {rows}x{inputs}");
        assert_close(
            &format!("{name} residual"),
            &f64s(&got[0]),
            &want_r,
            1e-5,
            1e-4,
        );
        // Σ e²/N per row group of 64, and nothing else written.
        let mut want_sq = Vec::new();
        for g in 0..groups {
            let rng = g * 64..((g + 1) * 64).min(rows);
            let (_, sq) = ops::output_residual(
                &a64[rng.start * inputs..rng.end * inputs],
                &t64[w_off as usize..b_off as usize],
                t64[b_off as usize],
                &y64[rng],
                total,
            );
            want_sq.push(sq * scale as f64 / 2.0);
        }
        let bound = sum_bound(&want_sq, &want_sq, 64.min(rows));
        let loss: Vec<f32> = got[1].iter().skip(1).step_by(3).copied().collect();
        assert_within(
            &format!("{name} loss partials"),
            &f64s(&loss),
            &want_sq,
            &bound,
        );
        assert!(
            got[1]
                .iter()
                .enumerate()
                .all(|(i, v)| i % 3 == 1 || *v == 0.0),
            "{name}: the output kernel wrote outside the loss column"
        );
    }
}

#[test]
fn weight_and_bias_gradient_partials_match_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for (s, &shape) in SHAPES.iter().enumerate() {
        for group_rows in [64usize, 128] {
            for weight in [Kernel::WeightGrad, Kernel::WeightGradTiled] {
                check_gradient_partials(&ctx, &kernels, weight, shape, group_rows, 400 + s as u64);
            }
        }
    }
    // Layers of one output, where weight_grad_output must give the others'
    // bits: partial row groups, and past 65,535 workgroups (a 2D grid).
    // (4,200 one-row groups × 1,000 inputs: 65,625 workgroups.)
    let cases = [((300, 70, 1), 64), ((4_200, 1_000, 1), 1)];
    for (s, (shape, group_rows)) in cases.into_iter().enumerate() {
        for weight in [Kernel::WeightGrad, Kernel::WeightGradTiled] {
            check_gradient_partials(&ctx, &kernels, weight, shape, group_rows, 500 + s as u64);
        }
    }
}

#[test]
fn fused_gradients_match_twins() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    // (rows, inputs, hidden): one row, widths that are not multiples of 4
    // or powers of two, the widest the kernel takes, and groups of several
    // tiles with a partial last tile.
    let shapes = [
        (1, 1, 1),
        (300, 5, 12),
        (257, 3, 1),
        (130, 17, 100),
        (1000, 32, 256),
        (700, 16, 64),
        (64, 4, 16),
        // The x tile (5 vec4s a row), not the activations, bounds the
        // tile: 32 rows.
        (130, 17, 8),
    ];
    for (s, &shape) in shapes.iter().enumerate() {
        for act in Activation::ALL {
            for group_rows in [64, 448] {
                check_fused(&ctx, &kernels, act, shape, group_rows, 700 + s as u64);
            }
        }
    }
}

/// reduce over `count` rows of `len` values, `stride` apart, against its
/// twin: one output row per 32 rows, written `len` apart after `dst_off`,
/// each the sum of its rows.
fn reduce_case(
    ctx: &shadertrain::gpu::Context,
    kernels: &Kernels,
    count: usize,
    len: usize,
    stride: usize,
) {
    let fan = REDUCE_FAN as usize;
    let parts = uniform(500 + count as u64, count * stride, -1.0, 1.0);
    let out_rows = count.div_ceil(fan);
    let p = Params {
        dst_off: 2,
        ..Params::reduce(len, count, stride, 0.5, 0.0)
    };
    let got = run(
        ctx,
        kernels,
        Kernel::Reduce,
        &p,
        &[Slot::Input(&parts), Slot::Output(2 + out_rows * len)],
    )
    .unwrap();
    assert_eq!(&got[0][..2], &[0.0, 0.0], "reduce wrote before dst_off");
    let want = ops::reduce(&parts, count, len, stride, 0.5);
    let abs = ops::reduce(&magnitudes(&parts), count, len, stride, 0.5);
    for s in 0..out_rows {
        let rows = s * fan..((s + 1) * fan).min(count);
        let (out, sums) = (2 + s * len, s * len..(s + 1) * len);
        assert_within(
            &format!("reduce {count}x{len}, output row {s}"),
            &f64s(&got[0][out..out + len]),
            &want[sums.clone()],
            &sum_bound(&want[sums.clone()], &abs[sums], rows.len()),
        );
    }
}

/// |v| of every value, for the bound on a sum of them.
fn magnitudes(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

#[test]
fn reduce_matches_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for (count, len) in [
        (1, 1),
        (2, 63),
        (3, 65),
        (7, 1),
        (32, 13),
        (33, 13),
        (64, 13),
        (97, 5),
        (1000, 3),
    ] {
        reduce_case(&ctx, &kernels, count, len, len);
    }
}

/// reduce on partials rows wider than the sums (`stride` > `len`, the extra
/// columns not summed), its output rows packed `len` apart, as update.wgsl
/// and the twin say (the trainer passes stride = len, which cannot tell
/// the two apart).
#[test]
fn reduce_reads_rows_stride_apart_and_writes_them_packed() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for (count, len, stride) in [(2, 5, 8), (33, 13, 16), (97, 3, 7)] {
        reduce_case(&ctx, &kernels, count, len, stride);
    }
}

/// reduce_sgd and reduce_eval over `count` ≤ 32 rows of `params` gradient
/// columns and a loss column: θ steps by the sums (eval: untouched), and
/// the loss lands in the history at the counter, which moves on by one.
#[test]
fn reduce_sgd_and_eval_match_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for (count, params) in [(1usize, 1usize), (2, 63), (5, 64), (32, 65), (17, 1000)] {
        let width = params + 1;
        let parts = uniform(600 + count as u64, count * width, -5.0, 5.0);
        let t = uniform(601, params, -1.0, 1.0);
        let history = vec![9.0f32; 4];
        let counter = [f32::from_bits(2)];
        let p = Params::reduce(width, count, width, 1.0, 0.1);
        // At most 32 rows: the twin's sums are one row.
        let sums = ops::reduce(&parts, count, width, width, 1.0);
        let abs = ops::reduce(&magnitudes(&parts), count, width, width, 1.0);
        let name = format!("reduce_sgd {count}x{width}");
        let got = run(
            &ctx,
            &kernels,
            Kernel::ReduceSgd,
            &p,
            &[
                Slot::Input(&parts),
                Slot::InOut(&t),
                Slot::InOut(&history),
                Slot::InOut(&counter),
                Slot::Input(&[0.0; 8]),
            ],
        )
        .unwrap();
        let mut want = t.clone();
        let gd = Optimizer::gd(0.1);
        let mut state = State::new(&gd, params);
        let loss = ops::reduce_update(&gd, &parts, width, 1.0, &mut want, &mut state);
        // θ − 0.1·g: the sum's error, scaled by the step, plus θ's rounding.
        let bound: Vec<f64> = sum_bound(&sums, &abs, count)
            .iter()
            .zip(&want)
            .map(|(b, w)| 0.1 * b + 1e-6 * (1.0 + f64::from(*w).abs()))
            .collect();
        assert_within(&name, &f64s(&got[0]), &f64s(&want), &bound[..params]);
        let loss_bound = sum_bound(&sums[params..], &abs[params..], count);
        assert_within(
            &format!("{name} loss"),
            &f64s(&got[1][2..3]),
            &[loss],
            &loss_bound,
        );
        assert_eq!(got[1][..2], [9.0, 9.0], "{name}: earlier slots kept");
        assert_eq!(got[1][3], 9.0, "{name}: later slots kept");
        assert_eq!(
            got[2][0].to_bits(),
            3,
            "{name}: the counter moves on by one"
        );
        let sgd_loss = got[1][2];

        let got = reduce_eval(&ctx, &kernels, &p, &parts, &history, &counter);
        // The same sums, bit for bit, and no θ binding at all.
        assert_eq!(got[0][2], sgd_loss, "reduce_eval {count}: loss");
        assert_within(
            &format!("reduce_eval {count}x{width} loss"),
            &f64s(&got[0][2..3]),
            &[ops::reduce_eval(&parts, width, 1.0)],
            &loss_bound,
        );
        assert_eq!(
            got[0][..2],
            [9.0, 9.0],
            "reduce_eval {count}: earlier slots kept"
        );
        assert_eq!(got[1][0].to_bits(), 3, "reduce_eval {count}: counter");
    }
}

#[test]
fn dispatch_past_65535_workgroups_uses_a_2d_grid() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    // 65,537 workgroups of 64: the last ones sit in the grid's second row.
    let len = 65_536 * 64 + 37;
    let p = Params::reduce(len, 2, len, 1.0, 0.0);
    assert!(Kernel::Reduce.workgroups(&p) > 65_535);
    let parts: Vec<f32> = (0..2 * len).map(|i| (i % 1000) as f32).collect();
    let got = run(
        &ctx,
        &kernels,
        Kernel::Reduce,
        &p,
        &[Slot::Input(&parts), Slot::Output(len)],
    )
    .unwrap();
    // Two small integers (and zeros for the missing rows) add exactly.
    for (i, v) in got[0].iter().enumerate() {
        let want = parts[i] + parts[len + i];
        assert_eq!(*v, want, "element {i}");
    }
}

#[test]
fn extreme_pre_activations_stay_finite_and_correct() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    // One input of 1 and weights that make z = ±100 and ±1000 exactly.
    let a = [1.0f32];
    let theta = [100.0f32, -100.0, 1000.0, -1000.0, 0.0, 0.0, 0.0, 0.0];
    let p = layer_params((1, 1, 4), 0, 4);
    let forwards = Activation::ALL.into_iter().flat_map(|act| {
        [
            (act, Kernel::forward(act)),
            (act, Kernel::forward_tiled(act)),
        ]
    });
    for (act, kernel) in forwards {
        let got = run(
            &ctx,
            &kernels,
            kernel,
            &p,
            &[Slot::Input(&a), Slot::Input(&theta), Slot::Output(4)],
        )
        .unwrap();
        let want: Vec<f64> = [100.0, -100.0, 1000.0, -1000.0]
            .iter()
            .map(|&z| act.apply(z))
            .collect();
        assert!(got[0].iter().all(|v| v.is_finite()), "{act}: {:?}", got[0]);
        assert_close(
            &format!("{kernel:?} at ±100, ±1000"),
            &f64s(&got[0]),
            &want,
            1e-6,
            0.0,
        );
    }
}

/// An infinite pre-activation is a bound, not a NaN: tanh clamps ±∞ to ±1
/// as its twin does (only a NaN passes through as it is), and sigmoid
/// gives 1 and 0. WGSL lets a driver assume no infinities; lavapipe keeps
/// IEEE behaviour, and a hardware driver that does not fails here, which
/// says so.
#[test]
fn infinite_pre_activations_saturate_as_the_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    // One input of 1 and weights that make z = +∞ and −∞.
    let a = [1.0f32];
    let theta = [f32::INFINITY, f32::NEG_INFINITY, 0.0, 0.0];
    let p = layer_params((1, 1, 2), 0, 2);
    for act in Activation::ALL {
        for kernel in [Kernel::forward(act), Kernel::forward_tiled(act)] {
            let got = run(
                &ctx,
                &kernels,
                kernel,
                &p,
                &[Slot::Input(&a), Slot::Input(&theta), Slot::Output(2)],
            )
            .unwrap();
            let want: Vec<f32> = [f64::INFINITY, f64::NEG_INFINITY]
                .iter()
                .map(|&z| act.apply(z) as f32)
                .collect();
            assert_eq!(got[0], want, "{kernel:?} at ±∞");
        }
    }
}

/// gather_rows against its twin, bit for bit: the first, a middle and the
/// last, shorter batch of 37 rows in batches of 8, in a shuffled order.
#[test]
fn gathered_rows_match_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let (n, features, size) = (37, 3, 8);
    let x = uniform(801, n * features, -1.0, 1.0);
    let y = uniform(802, n, -1.0, 1.0);
    let order: Vec<u32> = (MiniBatches { size, seed: 4 }.order(n, 1))
        .iter()
        .map(|&i| i as u32)
        .collect();
    let order_bits: Vec<f32> = order.iter().map(|&i| f32::from_bits(i)).collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (batch, rows) in [(0, 8), (2, 8), (4, 5)] {
        let counter = [f32::from_bits(batch as u32)];
        let got = run(
            &ctx,
            &kernels,
            Kernel::GatherRows,
            &Params::gather(rows, features, size),
            &[
                Slot::Output(rows * features),
                Slot::Output(rows),
                Slot::Input(&x),
                Slot::Input(&y),
                Slot::Input(&order_bits),
                Slot::Input(&counter),
            ],
        )
        .unwrap();
        let (want_x, want_y) = ops::gather_rows((&x, &y), features, &order, (batch, size, rows));
        assert_eq!(bits(&got[0]), bits(&want_x), "X of batch {batch}");
        assert_eq!(bits(&got[1]), bits(&want_y), "y of batch {batch}");
        // Not the identity by accident.
        assert_ne!(
            want_y,
            y[batch * size..batch * size + rows],
            "batch {batch}"
        );
    }
}

#[test]
fn synthesized_data_matches_the_cpu_generator() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let seed = 0x1234_5678_9abc_def0u64;
    // Chunks starting at row 0, mid-way, and where the 64-bit value index
    // carries out of its low word inside the chunk.
    for (first, rows, features) in [
        (0u64, 130usize, 5usize),
        (1_000 * 5, 77, 5),
        ((1u64 << 32) - 7, 9, 1),
        (0, 3, 2),
    ] {
        let p = Params::synthesize(rows, features, seed, first);
        let got = run(
            &ctx,
            &kernels,
            Kernel::Synthesize,
            &p,
            &[Slot::Output(rows * features), Slot::Output(rows)],
        )
        .unwrap();
        let (want_x, want_y) = ops::synthesize(rows, features, seed, first);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got[0]), bits(&want_x), "X at first {first}");
        assert_close(
            &format!("y at first {first}"),
            &f64s(&got[1]),
            &f64s(&want_y),
            1e-5,
            1e-4,
        );
    }
}

/// reduce_eval over `parts` into the loss `history` (at the slot the
/// `counter` names), which it moves on by one: the history, then the
/// counter.
fn reduce_eval(
    ctx: &shadertrain::gpu::Context,
    kernels: &Kernels,
    p: &Params,
    parts: &[f32],
    history: &[f32],
    counter: &[f32],
) -> Vec<Vec<f32>> {
    let slots = [
        Slot::Input(parts),
        Slot::InOut(history),
        Slot::InOut(counter),
    ];
    run(ctx, kernels, Kernel::ReduceEval, p, &slots).unwrap()
}

/// reduce_eval scales its sum by `scale`, as reduce and its twin do (the
/// trainer passes 1, which leaves the factor unseen there).
#[test]
fn reduce_eval_applies_its_scale() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let (count, width) = (5usize, 4usize);
    let parts = uniform(610, count * width, -5.0, 5.0);
    let history = vec![9.0f32; 2];
    let counter = [f32::from_bits(1)];
    let p = Params::reduce(width, count, width, 0.25, 0.0);
    let got = reduce_eval(&ctx, &kernels, &p, &parts, &history, &counter);
    let sums = ops::reduce(&parts, count, width, width, 0.25);
    let abs = ops::reduce(&magnitudes(&parts), count, width, width, 0.25);
    assert_within(
        "reduce_eval 5x4 at scale 1/4",
        &f64s(&got[0][1..2]),
        &[ops::reduce_eval(&parts, width, 0.25)],
        &sum_bound(&sums[width - 1..], &abs[width - 1..], count),
    );
    assert_eq!(got[0][0], 9.0, "reduce_eval: earlier slot kept");
    assert_eq!(got[1][0].to_bits(), 2, "reduce_eval: counter");
}

/// reduce_momentum, reduce_nesterov and reduce_adam against their twin,
/// `ops::reduce_update`, from a non-zero state: θ, the state and the loss
/// slot; then count_epoch, which alone advances the counter after adam.
/// Scheduled, reduce_sgd, reduce_momentum and reduce_nesterov step by the
/// rate in the counter's slot of the per-epoch factors and leave the
/// counter to count_epoch. With --clip-grad-norm each reads one row and the
/// clip factor after it (clipping most of these rows' gradients).
#[test]
fn reduce_updates_match_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let optimizers = [
        (Kernel::ReduceSgd, Optimizer::gd(0.1)),
        (
            Kernel::ReduceMomentum,
            Optimizer::Momentum {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.0,
                max_grad_norm: 0.0,
            },
        ),
        (
            Kernel::ReduceNesterov,
            Optimizer::Nesterov {
                lr: 0.1,
                momentum: 0.8,
                weight_decay: 0.0,
                max_grad_norm: 0.0,
            },
        ),
        (
            Kernel::ReduceAdam,
            Optimizer::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                decoupled: false,
                max_grad_norm: 0.0,
            },
        ),
        // Weight decay: coupled (g + λ·θ), and AdamW's decoupled factor.
        (
            Kernel::ReduceMomentum,
            Optimizer::Momentum {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.3,
                max_grad_norm: 0.0,
            },
        ),
        (
            Kernel::ReduceAdam,
            Optimizer::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.3,
                decoupled: false,
                max_grad_norm: 0.0,
            },
        ),
        (
            Kernel::ReduceAdam,
            Optimizer::Adam {
                lr: 0.5,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.3,
                decoupled: true,
                max_grad_norm: 0.0,
            },
        ),
        // --clip-grad-norm 1: the update reads one row and the factor
        // after it (below).
        (
            Kernel::ReduceSgd,
            Optimizer::gd(0.1).with_max_grad_norm(1.0),
        ),
    ];
    let clipped = [
        (
            Kernel::ReduceMomentum,
            optimizers[4].1.with_max_grad_norm(1.0),
        ),
        (
            Kernel::ReduceNesterov,
            optimizers[2].1.with_max_grad_norm(1.0),
        ),
        (Kernel::ReduceAdam, optimizers[5].1.with_max_grad_norm(1.0)),
        (Kernel::ReduceAdam, optimizers[6].1.with_max_grad_norm(1.0)),
    ];
    let cases = optimizers
        .into_iter()
        .chain(clipped)
        .flat_map(|(kernel, opt)| {
            let schedules: &[bool] = match kernel {
                Kernel::ReduceAdam => &[false],
                Kernel::ReduceSgd => &[true],
                _ => &[false, true],
            };
            schedules
                .iter()
                .map(move |&scheduled| (kernel, opt, scheduled))
        });
    for (kernel, opt, scheduled) in cases {
        // Clipping's update reads one row of sums, the clip factor after it.
        let clip = opt.max_grad_norm() > 0.0;
        let shapes: &[(usize, usize)] = match clip {
            true => &[(1, 1), (1, 64), (1, 300)],
            false => &[(1, 1), (3, 64), (32, 65), (17, 300)],
        };
        for &(count, params) in shapes {
            let name = format!(
                "{kernel:?} {} {count}x{params} scheduled {scheduled}",
                opt.describe()
            );
            let width = params + 1;
            let mut parts = uniform(700 + count as u64, count * width, -5.0, 5.0);
            if clip {
                parts.push(ops::clip_norm(&parts, width, 1.0) as f32);
            }
            let t = uniform(701, params, -1.0, 1.0);
            // Adam's v must be non-negative; m and momentum's v take any sign.
            let mut state: Vec<f32> = Vec::new();
            if opt.state_per_param() > 0 {
                state.extend(uniform(702, params, -1.0, 1.0));
            }
            if opt.state_per_param() == 2 {
                state.extend(uniform(703, params, 0.0, 1.0));
            }
            let history = vec![9.0f32; 4];
            let counter = [f32::from_bits(2)];
            // The epoch's factors in the counter's slot, others around it:
            // adam's for step 4 (3 done), or a scheduled rate of 0.037.
            let stepped = if scheduled { opt.with_lr(0.037) } else { opt };
            let mut corrections = [0.5f32; 4 * FACTORS];
            corrections[2 * FACTORS..3 * FACTORS].copy_from_slice(&Params::factors(&stepped, 4));
            let p = Params {
                scheduled: scheduled.into(),
                ..Params::update(width, count, width, &opt)
            };
            let mut slots = vec![
                Slot::Input(&parts),
                Slot::InOut(&t),
                Slot::InOut(&history),
                Slot::InOut(&counter),
            ];
            if !state.is_empty() {
                slots.push(Slot::InOut(&state));
            }
            slots.push(Slot::Input(&corrections));
            let got = run(&ctx, &kernels, kernel, &p, &slots).unwrap();

            let mut want = t.clone();
            let mut want_state = State {
                steps: 3,
                buf: state.iter().map(|&v| v as f64).collect(),
            };
            let rows = &parts[..count * width];
            let loss = ops::reduce_update(&stepped, rows, width, 1.0, &mut want, &mut want_state);
            let sums = ops::reduce(rows, count, width, width, 1.0);
            let abs = ops::reduce(&magnitudes(rows), count, width, width, 1.0);
            let sb = sum_bound(&sums, &abs, count);
            // θ moves by at most lr·(1 + μ) per unit of gradient error (adam
            // by less); the state by at most (1 + 2|g|) per unit; plus f32
            // rounding of what is stored.
            let theta_bound: Vec<f64> = (0..params)
                .map(|i| 0.2 * sb[i] + 1e-6 * (1.0 + f64::from(want[i]).abs()))
                .collect();
            assert_within(&name, &f64s(&got[0]), &f64s(&want), &theta_bound);
            let state_bound: Vec<f64> = want_state
                .buf
                .iter()
                .enumerate()
                .map(|(j, w)| {
                    let i = j % params;
                    (1.0 + 2.0 * sums[i].abs()) * sb[i] + 1e-5 * (1.0 + w.abs())
                })
                .collect();
            if !state.is_empty() {
                assert_within(
                    &format!("{name} state"),
                    &f64s(&got[3]),
                    &want_state.buf,
                    &state_bound,
                );
            }
            assert_within(
                &format!("{name} loss"),
                &f64s(&got[1][2..3]),
                &[loss],
                &sb[params..],
            );
            assert_eq!(got[1][..2], [9.0, 9.0], "{name}: earlier slots kept");
            let moved = if kernel == Kernel::ReduceAdam || scheduled {
                2
            } else {
                3
            };
            assert_eq!(got[2][0].to_bits(), moved, "{name}: the counter");
        }
    }
    let counter = [f32::from_bits(5)];
    let got = run(
        &ctx,
        &kernels,
        Kernel::CountEpoch,
        &Params::default(),
        &[Slot::InOut(&counter)],
    )
    .unwrap();
    let mut want = 5;
    ops::count_epoch(&mut want);
    assert_eq!(
        got[0][0].to_bits(),
        want,
        "count_epoch advances the counter"
    );
}

/// clip_squares, then clip_norm: the clip factor after one row of sums
/// (its loss last, left out of the norm), for max_norms below and above the
/// gradient's norm, on rows shorter and longer than the 64 lanes of a
/// workgroup, than a span of 1,024 values, and than 64 spans; the row is
/// left as it was.
#[test]
fn clip_norm_matches_twin() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for params in [1usize, 2, 63, 64, 65, 300, 1024, 1025, 5000, 70_000] {
        let width = params + 1;
        let spans = clip_spans(width);
        let mut row = uniform(720 + params as u64, width, -2.0, 2.0);
        // A loss far larger than the gradient: counted, it would show.
        row[params] = 1e3;
        // The factor's slot and the spans' sums, overwritten.
        row.extend(vec![7.0; 1 + spans]);
        let norm = row[..params]
            .iter()
            .map(|&g| (g as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        for c in [0.3 * norm, 2.0 * norm, 1e-3] {
            let c = c as f32;
            let p = Params {
                len: width as u32,
                max_grad_norm: c,
                ..Params::default()
            };
            let squared = run(
                &ctx,
                &kernels,
                Kernel::ClipSquares,
                &p,
                &[Slot::InOut(&row)],
            );
            let squared = squared.unwrap().remove(0);
            let got = run(
                &ctx,
                &kernels,
                Kernel::ClipNorm,
                &p,
                &[Slot::InOut(&squared)],
            )
            .unwrap();
            let want = ops::clip_norm(&row, width, c as f64);
            let name = format!("clip_norm {params} params, c {c}");
            assert_eq!(got[0][..width], row[..width], "{name}: the row");
            // Each lane of a span adds at most 16 rounded squares in order,
            // then 6 levels of a tree; clip_norm's lanes add ⌈spans/64⌉ of
            // those in order, then 6 levels: Σg² is within (k + 13)·u, k =
            // 16 + ⌈spans/64⌉, u = 2⁻²⁴. The square root halves that and
            // adds u; the division adds 2.5 ulp (WGSL's bound), and c/(‖g‖
            // + 1e-6) is otherwise exact in the twin's f64. So within ((k +
            // 13)/2 + 7)·u.
            let k = (16 + spans.div_ceil(64)) as f64;
            let bound = ((k + 13.0) / 2.0 + 7.0) * 2f64.powi(-24) * want;
            let got = got[0][width] as f64;
            assert!(
                (got - want).abs() <= bound,
                "{name}: {got} against {want} (bound {bound})"
            );
            if c as f64 >= norm {
                assert_eq!(got, 1.0, "{name}: unclipped");
            } else {
                assert!(got < 0.5, "{name}: {got}");
            }
        }
    }
}
