//! The wide kernels (`--kernels wide`, one hidden layer of any width):
//! each kernel against its f64 twin in `cpu::ops`; the whole epoch's loss
//! and gradient against the reference backend, in one chunk and in
//! several; 100-epoch trajectories; bit-identical reruns; the error for
//! other than one hidden layer; per-kernel profile names.

mod common;

use common::{assert_close, assert_within, f64s, gpu, gpu_with, model, sum_bound, uniform};
use shadertrain::cpu::{ops, Reference};
use shadertrain::data::Dataset;
use shadertrain::error::Error;
use shadertrain::gpu::kernels::{wide_workgroup_bytes, Kernel, Kernels, Params, TILED_N};
use shadertrain::gpu::ops::{run, Slot};
use shadertrain::gpu::{AdapterRequest, Context, GpuTrainer, KernelChoice, KernelFamily, Source};
use shadertrain::model::{Activation, Model};
use shadertrain::optim::lbfgs::Objective;
use shadertrain::optim::Optimizer;
use shadertrain::train::{train, Backend, Schedule};

/// (rows, inputs, hidden): 1, primes, widths past one 64-wide ŷ share in
/// both directions, and one past a 128 × 128 tile in every direction (a
/// full tile and partial ones of A1 and of ∂W1, both halves of a tile's
/// shares, more than one step of rows in a group of 64).
const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (7, 3, 13),
    (130, 3, 1),
    (97, 17, 129),
    (200, 24, 70),
    (131, 70, 65),
    (300, 200, 150),
];

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// forward_wide, output_wide and weight_grad_wide one after the other,
/// each fed the previous kernel's f32 results and held to its twin on
/// those same inputs.
fn check_kernels(ctx: &Context, kernels: &Kernels, act: Activation, shape: (usize, usize, usize)) {
    let (rows, inputs, hidden) = shape;
    let seed = (rows * 1000 + inputs * 10 + hidden) as u64;
    let name = format!("{act} {rows}x{inputs}x{hidden}");
    let x = uniform(seed, rows * inputs, -1.0, 1.0);
    let y = uniform(seed + 1, rows, -2.0, 2.0);
    // 3 values before W1 so the offsets are exercised; then W1, b1, w2, b2.
    let pad = 3;
    let len = pad + hidden * inputs + 2 * hidden + 1;
    let theta = uniform(seed + 2, len, -0.5, 0.5);
    let (w_off, b_off) = (pad, pad + hidden * inputs);
    let (w2_off, b2_off) = (b_off + hidden, b_off + 2 * hidden);
    let total = rows * 3; // N of the whole batch, for 2/N
    let group_rows = 64;
    let groups = rows.div_ceil(group_rows);
    let stride = len + 1;
    let params = Params {
        rows: rows as u32,
        inputs: inputs as u32,
        outputs: hidden as u32,
        w_off: w_off as u32,
        b_off: b_off as u32,
        dst_off: w2_off as u32,
        group_rows: group_rows as u32,
        stride: stride as u32,
        len: len as u32,
        scale: (2.0 / total as f64) as f32,
        ..Params::default()
    };
    let t64 = f64s(&theta);
    let (x64, y64) = (f64s(&x), f64s(&y));
    let w1 = &t64[w_off..b_off];
    let (b1, w2) = (&t64[b_off..w2_off], &t64[w2_off..b2_off]);
    let tiles = hidden.div_ceil(TILED_N as usize);

    // forward_wide_*: A1 element-wise, each tile's share of ŷ as a sum.
    let got = run(
        ctx,
        kernels,
        Kernel::forward_wide(act),
        &params,
        &[
            Slot::Input(&x),
            Slot::Input(&theta),
            Slot::Output(rows * hidden),
            Slot::Output(tiles * rows),
        ],
    )
    .unwrap();
    let (a1, yparts) = (&got[0], &got[1]);
    let tile = TILED_N as usize;
    let (want_a1, want_parts) = ops::forward_wide(&x64, w1, b1, w2, inputs, hidden, tile, act);
    assert_close(&format!("a1 {name}"), &f64s(a1), &want_a1, 1e-5, 1e-4);
    let (_, parts_abs) = ops::forward_wide(&x64, w1, b1, &abs(w2), inputs, hidden, tile, act);
    let parts_abs = abs(&parts_abs);
    assert_within(
        &format!("yhat parts {name}"),
        &f64s(yparts),
        &want_parts,
        &sum_bound(&want_parts, &parts_abs, tile.min(hidden)),
    );

    // output_wide: r, and per row group Σe²/N and ∂b2 = Σ r.
    let got = run(
        ctx,
        kernels,
        Kernel::OutputWide,
        &params,
        &[
            Slot::Input(&theta),
            Slot::Input(&y),
            Slot::Input(yparts),
            Slot::Output(rows),
            Slot::Output(groups * stride),
        ],
    )
    .unwrap();
    let (r, out_parts) = (&got[0], &got[1]);
    let parts64 = f64s(yparts);
    let b2 = t64[b2_off];
    let (want_r, _, _) = ops::output_wide(&parts64, tiles, b2, &y64, total);
    // r = (2/N)·e: bounded as a sum of the tiles' shares, b2 and y.
    let scale = 2.0 / total as f64;
    let r_abs: Vec<f64> = (0..rows)
        .map(|n| {
            let shares: f64 = (0..tiles).map(|t| parts64[t * rows + n].abs()).sum();
            scale * (shares + b2.abs() + y64[n].abs())
        })
        .collect();
    assert_within(
        &format!("r {name}"),
        &f64s(r),
        &want_r,
        &sum_bound(&want_r, &r_abs, tiles + 2),
    );
    for g in 0..groups {
        let span = g * group_rows..((g + 1) * group_rows).min(rows);
        let n = span.len();
        let parts_g: Vec<f64> = (0..tiles)
            .flat_map(|t| parts64[t * rows + span.start..t * rows + span.end].to_vec())
            .collect();
        let (_, sq, sum_r) = ops::output_wide(&parts_g, tiles, b2, &y64[span.clone()], total);
        let r_g_abs: f64 = r_abs[span.clone()].iter().sum();
        let loss = sq / total as f64;
        let row = &out_parts[g * stride..(g + 1) * stride];
        assert_within(
            &format!("loss and d_b2 partials {name} group {g}"),
            &[f64::from(row[len]), f64::from(row[b2_off])],
            &[loss, sum_r],
            &[
                sum_bound(&[loss], &[loss], n)[0],
                sum_bound(&[sum_r], &[r_g_abs], n)[0],
            ],
        );
    }

    // With a partials row of one value, the loss alone: the same bits and
    // r, and nothing past the groups' values (the buffer holds no more).
    let loss_only = Params {
        stride: 1,
        len: 0,
        ..params
    };
    let alone = run(
        ctx,
        kernels,
        Kernel::OutputWide,
        &loss_only,
        &[
            Slot::Input(&theta),
            Slot::Input(&y),
            Slot::Input(yparts),
            Slot::Output(rows),
            Slot::Output(groups),
        ],
    )
    .unwrap();
    assert_eq!(
        common::bits32(&alone[0]),
        common::bits32(r),
        "r alone {name}"
    );
    let losses: Vec<f32> = (0..groups).map(|g| out_parts[g * stride + len]).collect();
    assert_eq!(
        common::bits32(&alone[1]),
        common::bits32(&losses),
        "losses alone {name}"
    );

    // weight_grad_wide_*: ∂W1, ∂b1 and ∂w2 per row group.
    let got = run(
        ctx,
        kernels,
        Kernel::weight_grad_wide(act),
        &params,
        &[
            Slot::Input(&x),
            Slot::Input(&theta),
            Slot::Input(a1),
            Slot::Input(r),
            Slot::Output(groups * stride),
        ],
    )
    .unwrap();
    let (a64, r64) = (f64s(a1), f64s(r));
    for g in 0..groups {
        let span = g * group_rows..((g + 1) * group_rows).min(rows);
        let n = span.len();
        let sums = |r: &[f64], a: &[f64], x: &[f64], w2: &[f64]| {
            let (mut dw1, mut db1, mut dw2) = (
                vec![0.0; hidden * inputs],
                vec![0.0; hidden],
                vec![0.0; hidden],
            );
            let (a, x) = (
                &a[span.start * hidden..span.end * hidden],
                &x[span.start * inputs..span.end * inputs],
            );
            let r = &r[span.clone()];
            ops::weight_grad_wide(r, a, x, w2, inputs, act, &mut dw1, &mut db1, &mut dw2);
            [dw1, db1, dw2]
        };
        let want = sums(&r64, &a64, &x64, w2);
        // g′ ≥ 0 for both activations, so |terms| come from |r|, |x|, |w2|.
        let bound = sums(&abs(&r64), &a64, &abs(&x64), &abs(w2));
        let row = &got[0][g * stride..(g + 1) * stride];
        let at = [w_off..b_off, b_off..w2_off, w2_off..b2_off];
        for (i, what) in ["d_w1", "d_b1", "d_w2"].iter().enumerate() {
            assert_within(
                &format!("{what} partials {name} group {g}"),
                &f64s(&row[at[i].clone()]),
                &want[i],
                &sum_bound(&want[i], &bound[i], n),
            );
        }
    }
}

#[test]
fn wide_kernels_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for act in Activation::ALL {
        for shape in SHAPES {
            check_kernels(&ctx, &kernels, act, shape);
        }
    }
}

/// Inputs and hidden units that are whole multiples of the 128 × 128 tile
/// (SHAPES has each only one past it), over more than one row tile and
/// row group: the tile counts ⌈n/128⌉ are exact there, and one too many
/// would shift every later workgroup's tile.
#[test]
fn wide_kernels_match_their_twins_at_whole_tiles() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    for act in Activation::ALL {
        for shape in [(200, 128, 128), (130, 256, 256)] {
            check_kernels(&ctx, &kernels, act, shape);
        }
    }
}

/// The wide trainer's loss and gradient at `m`'s parameters against the
/// reference's, to the fused kernel's sum_bound (N = rows × hidden units,
/// since every term carries a row's ŷ, itself a sum over the units).
fn check_gradient(ctx: std::sync::Arc<Context>, m: &Model, data: &Dataset, chunks: Option<usize>) {
    let opt = Optimizer::gd(0.1);
    let mut g = GpuTrainer::with(ctx, m, Source::Host(data), opt, KernelChoice::Wide).unwrap();
    assert_eq!(g.family(), KernelFamily::Wide);
    if let Some(at_least) = chunks {
        let have = g.plan().chunks.len();
        assert!(have >= at_least, "{have} chunks");
    }
    let p = m.layout.len();
    let mut got = vec![0.0; p];
    let got_loss = g.evaluate(&m.params, &mut got).unwrap();
    let mut want = vec![0.0; p];
    let want_loss = Reference::new(m, data, opt)
        .unwrap()
        .evaluate(&m.params, &mut want)
        .unwrap();
    let layers = m.layout.layers();
    let views = [layers[0].clone(), layers[1].clone()];
    let (x, y, t) = (f64s(&data.x), f64s(&data.y), f64s(&m.params));
    let terms = ops::fused(m.activation, &views, &x, &y, &t, data.rows, f64::abs);
    let n = data.rows * m.layout.hidden()[0];
    let name = format!("{} {:?} {} rows", m.activation, m.layout.sizes(), data.rows);
    assert_within(
        &format!("loss {name}"),
        &[got_loss],
        &[want_loss],
        &sum_bound(&[want_loss], &[want_loss], data.rows),
    );
    assert_within(
        &format!("gradient {name}"),
        &got,
        &want,
        &sum_bound(&want, &terms[..p], n),
    );
}

#[test]
fn wide_gradients_match_the_reference() {
    let Some(ctx) = gpu() else { return };
    for act in Activation::ALL {
        for (rows, features, hidden) in [(200, 24, 70), (130, 3, 1), (150, 70, 130)] {
            let data = Dataset::synthetic(rows, features, 7).unwrap();
            let m = model(&data, &[hidden], act, 3);
            check_gradient(ctx.clone(), &m, &data, None);
        }
    }
}

#[test]
fn wide_gradients_match_the_reference_over_several_chunks() {
    // A 64 KiB binding: 600 rows of 70 units come in chunks of one row group.
    let Some(ctx) = gpu_with(Some(64 << 10)) else {
        return;
    };
    for act in Activation::ALL {
        let data = Dataset::synthetic(600, 24, 8).unwrap();
        let m = model(&data, &[70], act, 4);
        check_gradient(ctx.clone(), &m, &data, Some(3));
    }
}

/// SHADERTRAIN_WIDE_STEP=16: the wide products staged 16 rows of the sum
/// at a time (32 KiB of workgroup memory) add the same terms in the same
/// order as at the default step of 8, so each kernel meets its twin, and
/// the whole epoch's loss and gradient, in one chunk and in several, are
/// the default step's bit for bit.
#[test]
fn a_wide_step_of_16_matches_the_default_bit_for_bit() {
    // Each at the adapter's own binding and at 64 KiB, where 600 rows of 70
    // units come in several chunks.
    let step_16 = |max_binding| {
        common::gpu_for(AdapterRequest {
            max_binding,
            wide_step: Some(16),
            ..AdapterRequest::default()
        })
        .map(std::sync::Arc::new)
    };
    let pairs = [None, Some(64 << 10)].map(|cap| gpu_with(cap).zip(step_16(cap)));
    let [Some((default, sixteen)), Some((default_cut, sixteen_cut))] = pairs else {
        return;
    };
    assert_eq!((default.wide_step, sixteen.wide_step), (8, 16));
    // Opened with the workgroup memory the step stages, past WebGPU's
    // default 16 KiB.
    let limit = sixteen.limits.max_compute_workgroup_storage_size;
    assert!(limit >= wide_workgroup_bytes(16), "{limit}");
    let kernels = Kernels::new(&sixteen).unwrap();
    assert_eq!(
        kernels.wide_step(),
        16,
        "the module is built at the device's step"
    );
    // And `info --pipelines` reports the module that runs.
    let program = kernels.program(&sixteen, Kernel::ForwardWideTanh).unwrap();
    assert!(program.source.contains("const WK: u32 = 16u;"));
    for act in Activation::ALL {
        for shape in SHAPES {
            check_kernels(&sixteen, &kernels, act, shape);
        }
    }
    for (act, (rows, features, hidden), (a, b)) in [
        (Activation::Tanh, (200, 24, 70), (&default, &sixteen)),
        (Activation::Tanh, (150, 70, 130), (&default, &sixteen)),
        (
            Activation::Sigmoid,
            (600, 24, 70),
            (&default_cut, &sixteen_cut),
        ),
    ] {
        let data = Dataset::synthetic(rows, features, 9).unwrap();
        let m = model(&data, &[hidden], act, 6);
        let evaluate = |ctx: &std::sync::Arc<Context>| {
            let (source, opt) = (Source::Host(&data), Optimizer::gd(0.1));
            let mut g = GpuTrainer::with(ctx.clone(), &m, source, opt, KernelChoice::Wide).unwrap();
            let mut grad = vec![0.0; m.layout.len()];
            let loss = g.evaluate(&m.params, &mut grad).unwrap();
            let bits: Vec<u64> = grad.iter().map(|v| v.to_bits()).collect();
            (g.plan().chunks.len(), loss.to_bits(), bits)
        };
        let (chunks, loss, grad) = evaluate(b);
        let name = format!("{act} {rows}x{features}x{hidden}");
        assert_eq!((chunks, loss, grad), evaluate(a), "{name}");
        assert_eq!(chunks > 1, rows == 600, "{name}: {chunks} chunks");
    }
}

fn schedule(epochs: usize) -> Schedule {
    Schedule {
        max_epochs: epochs,
        tol: 0.0,
    }
}

/// 100 epochs of `backend` against the reference's, at the trajectory
/// tests' tolerances (losses rtol 1e-3; parameters atol 1e-4, rtol 1e-3),
/// as tests/optimizers.rs holds the other families.
fn assert_tracks_reference(name: &str, backend: &mut dyn Backend, m: &Model, data: &Dataset) {
    let mut r = Reference::new(m, data, backend.optimizer()).unwrap();
    let want = train(&mut r, &schedule(100)).unwrap();
    let got = train(backend, &schedule(100)).unwrap();
    let losses = format!("{name} losses");
    assert_close(&losses, &got.losses, &want.losses, 0.0, 1e-3);
    let params = format!("{name} params");
    let (got, want) = (backend.params().unwrap(), r.params().unwrap());
    assert_close(&params, &f64s(&got), &f64s(&want), 1e-4, 1e-3);
}

#[test]
fn wide_trajectories_match_the_reference() {
    let Some(ctx) = gpu() else { return };
    let data = Dataset::synthetic(300, 4, 2).unwrap();
    let adam = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
        max_grad_norm: 0.0,
    };
    for opt in [Optimizer::gd(0.1), adam] {
        for (hidden, act) in [(9, Activation::Tanh), (70, Activation::Sigmoid)] {
            let m = model(&data, &[hidden], act, 3);
            let source = Source::Host(&data);
            let mut g = GpuTrainer::with(ctx.clone(), &m, source, opt, KernelChoice::Wide).unwrap();
            let name = format!("wide {} [{hidden}] {act}", opt.describe());
            assert_tracks_reference(&name, &mut g, &m, &data);
        }
    }
}

#[test]
fn wide_reruns_are_bit_identical() {
    let Some(ctx) = gpu() else { return };
    let data = Dataset::synthetic(300, 5, 5).unwrap();
    let m = model(&data, &[70], Activation::Tanh, 1);
    let run = || {
        let source = Source::Host(&data);
        let opt = Optimizer::gd(0.1);
        let mut g = GpuTrainer::with(ctx.clone(), &m, source, opt, KernelChoice::Wide).unwrap();
        let out = train(&mut g, &schedule(40)).unwrap();
        (out.losses, g.params().unwrap())
    };
    let (a, b) = (run(), run());
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.0), bits(&b.0));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.1), bits(&b.1));
}

#[test]
fn wide_refuses_other_than_one_hidden_layer() {
    let Some(ctx) = gpu() else { return };
    let data = Dataset::synthetic(100, 3, 1).unwrap();
    let m = model(&data, &[6, 5], Activation::Sigmoid, 1);
    let opt = Optimizer::gd(0.1);
    match GpuTrainer::with(ctx, &m, Source::Host(&data), opt, KernelChoice::Wide) {
        Err(Error::Config(message)) => {
            assert!(message.contains("wide kernels take exactly one hidden layer"));
            assert!(message.contains("6,5"), "{message}");
        }
        Err(e) => panic!("not a Config error: {e}"),
        Ok(_) => panic!("two hidden layers ran with --kernels wide"),
    }
    let args = [
        "train",
        "--synthetic",
        "100",
        "--features",
        "3",
        "--hidden",
        "6,5",
        "--backend",
        "gpu",
        "--kernels",
        "wide",
        "--epochs",
        "2",
    ];
    let (ok, _, err) = common::shadertrain(&args);
    assert!(!ok, "shadertrain {args:?} succeeded");
    assert!(
        err.contains("wide kernels take exactly one hidden layer"),
        "{err}"
    );
}

#[test]
fn wide_profile_names_its_kernels() {
    let Some(ctx) = gpu() else { return };
    let data = Dataset::synthetic(200, 4, 3).unwrap();
    let m = model(&data, &[70], Activation::Sigmoid, 2);
    let opt = Optimizer::gd(0.1);
    let mut g = GpuTrainer::with(ctx, &m, Source::Host(&data), opt, KernelChoice::Wide).unwrap();
    // Without timestamp queries there is nothing to name (lavapipe, CI's
    // adapter, has them).
    let Some(times) = g.profile().unwrap() else {
        assert!(!common::in_ci(), "CI=true and no timestamp queries");
        common::say_skipped(format_args!(
            "SKIPPED: the adapter has no timestamp queries to name the kernels by"
        ));
        return;
    };
    let names: Vec<&str> = times.iter().map(|(k, _)| k.entry_point()).collect();
    for want in [
        "forward_wide_sigmoid",
        "output_wide",
        "weight_grad_wide_sigmoid",
        "reduce_sgd",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    for gone in ["backprop_sigmoid", "bias_grad", "output_residual"] {
        assert!(!names.contains(&gone), "{gone} in {names:?}");
    }
}

/// The kernels against their twins on drawn shapes: rows, inputs and
/// hidden units from 1 up to past two 64-wide tiles.
#[test]
fn wide_kernels_match_their_twins_on_drawn_shapes() {
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let drawn = (1usize..=200, 1usize..=140, 1usize..=140, any::<bool>());
    let mut runner = TestRunner::new(common::proptest_config(16));
    runner
        .run(&drawn, |(rows, inputs, hidden, tanh)| {
            let act = if tanh {
                Activation::Tanh
            } else {
                Activation::Sigmoid
            };
            check_kernels(&ctx, &kernels, act, (rows, inputs, hidden));
            Ok(())
        })
        .unwrap();
}
