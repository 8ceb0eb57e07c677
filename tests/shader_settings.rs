//! The cheap wgpu settings: kernels built without wgpu's runtime checks
//! (`Kernel::checks`) train bit for bit as the checked build does, and a
//! dispatch outside an unchecked kernel's proven bounds is refused on the
//! host before it is recorded. And the subgroup variant of the output
//! kernel (rows' dot products and the loss summed by subgroups): its
//! residuals and loss partials, and the workgroup tree's, against the CPU
//! twin, bit-identical on reruns; training with and without subgroups.

mod common;

use common::{
    assert_close, assert_within, bits32, bits64, f64s, gpu, gpu_for, model, sum_bound, uniform,
};
use shadertrain::cpu::{ops, Reference};
use shadertrain::data::Dataset;
use shadertrain::gpu::kernels::{Checks, Kernel, Kernels, Params};
use shadertrain::gpu::mixed::Precision;
use shadertrain::gpu::ops::{run, run_exact, Slot};
use shadertrain::gpu::trips;
use shadertrain::gpu::{AdapterRequest, Context, GpuTrainer, KernelChoice, KernelFamily, Source};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::optim::Optimizer;
use shadertrain::train::{train, Backend, Schedule};
use shadertrain::Error;

fn device(checked_shaders: bool, max_binding: Option<u64>) -> Option<Context> {
    gpu_for(AdapterRequest {
        checked_shaders,
        max_binding,
        ..AdapterRequest::default()
    })
}

#[test]
fn unchecked_modules_train_bit_for_bit_as_checked_ones() {
    let Some(ctx) = device(false, None) else {
        return;
    };
    let kernels = Kernels::new(&ctx).unwrap();
    for k in [
        Kernel::WeightGrad,
        Kernel::WeightGradOutput,
        Kernel::BackpropOutputSigmoid,
        Kernel::BackpropOutputTanh,
        Kernel::OutputResidualSubgroup,
        Kernel::ForwardWideSigmoid,
        Kernel::ForwardWideTanh,
        Kernel::OutputWide,
        Kernel::WeightGradWideSigmoid,
        Kernel::WeightGradWideTanh,
    ] {
        assert_eq!(kernels.checks(k), Checks::Unchecked, "{k:?}");
    }
    let forced = Kernels::new(&device(true, None).unwrap()).unwrap();
    assert!(Kernel::ALL
        .iter()
        .all(|&k| forced.checks(k) == Checks::Checked));
    // 3,000 rows: 47 row groups, so the reduce chain has a `reduce` stage;
    // with a bounded binding the rows also come in several chunks. The
    // wide kernels over 150 units of 7 inputs: a full and a partial
    // 128-tile of units, a partial one of inputs, and a partial 128-row
    // tile in the last (or only) chunk: 3,000 rows, or 312 after 7 chunks
    // of 384 with a 256 KiB binding.
    let data = Dataset::synthetic(3000, 7, 5).unwrap();
    let cases = [
        (&[9, 5][..], KernelChoice::Layered, None),
        (&[9, 5][..], KernelChoice::Tiled, None),
        (&[13][..], KernelChoice::Layered, Some(64 << 10)),
        (&[13][..], KernelChoice::Fused, None),
        (&[150][..], KernelChoice::Wide, None),
        (&[150][..], KernelChoice::Wide, Some(256 << 10)),
    ];
    for act in Activation::ALL {
        for (hidden, choice, max_binding) in cases {
            let m = model(&data, hidden, act, 3);
            let name = format!("{act} {hidden:?} {choice:?} {max_binding:?}");
            let open = |checked| device(checked, max_binding).unwrap();
            let inspect = |g: &GpuTrainer| {
                if choice == KernelChoice::Wide {
                    assert_eq!(g.family(), KernelFamily::Wide);
                }
            };
            let case = (&m, &data, choice, max_binding.is_some());
            checked_and_unchecked_agree(&name, open, case, 30, inspect);
        }
    }
}

/// Trains `m` on `data` with `choice` for `epochs` momentum epochs on the
/// device `open(checked)` gives, with checked modules and without: the
/// losses and the parameters must agree bit for bit. `inspect` sees each
/// trainer first, and the rows come in several chunks exactly where
/// `chunked` says.
fn checked_and_unchecked_agree(
    name: &str,
    open: impl Fn(bool) -> Context,
    (m, data, choice, chunked): (&Model, &Dataset, KernelChoice, bool),
    epochs: usize,
    inspect: impl Fn(&GpuTrainer),
) {
    let run = |checked| {
        let ctx = open(checked);
        let opt = Optimizer::Momentum {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        };
        let mut g = GpuTrainer::with(ctx, m, Source::Host(data), opt, choice).unwrap();
        inspect(&g);
        let chunks = g.plan().chunks.len();
        assert_eq!(chunks > 1, chunked, "{name}: {chunks} chunks");
        let sched = Schedule {
            max_epochs: epochs,
            tol: 0.0,
        };
        let out = train(&mut g, &sched).unwrap();
        (out.losses, g.params().unwrap())
    };
    let (l_checked, p_checked) = run(true);
    let (l_unchecked, p_unchecked) = run(false);
    assert_eq!(bits64(&l_checked), bits64(&l_unchecked), "{name} losses");
    assert_eq!(bits32(&p_checked), bits32(&p_unchecked), "{name} params");
}

#[test]
fn dispatches_outside_the_proven_bounds_are_refused() {
    for checked in [false, true] {
        let Some(ctx) = device(checked, None) else {
            return;
        };
        let kernels = Kernels::new(&ctx).unwrap();
        // 40 rows of 3 columns summed into 2 rows: dest needs 6 values.
        let source = vec![1.0; 120];
        let p = Params::reduce(3, 40, 3, 1.0, 0.0);
        let ok = run(
            &ctx,
            &kernels,
            Kernel::Reduce,
            &p,
            &[Slot::Input(&source), Slot::Output(6)],
        );
        assert_eq!(ok.unwrap()[0], vec![32.0, 32.0, 32.0, 8.0, 8.0, 8.0]);
        let short = run_exact(
            &ctx,
            &kernels,
            Kernel::Reduce,
            &p,
            &[Slot::Input(&source), Slot::Output(5)],
        );
        let message = format!("{short:?}");
        assert!(message.contains("binding 2 holds 5 values"), "{message}");
        assert_refused("a short dest", short);
        // A zero divisor is refused too.
        let p = Params {
            rows: 4,
            inputs: 2,
            outputs: 0,
            ..Params::default()
        };
        let zero = run_exact(
            &ctx,
            &kernels,
            Kernel::ForwardSigmoid,
            &p,
            &[
                Slot::Input(&[0.0; 8]),
                Slot::Input(&[0.0; 4]),
                Slot::Output(4),
            ],
        );
        assert!(matches!(zero, Err(Error::Validation { .. })), "{zero:?}");
        // backprop_output takes a layer of one output only.
        let two = Params {
            rows: 4,
            inputs: 3,
            outputs: 2,
            b_off: 6,
            ..Params::default()
        };
        let lens = [8, 8, 12, 12];
        let two_outputs = run_on(
            run_exact,
            &ctx,
            &kernels,
            Kernel::BackpropOutputSigmoid,
            &two,
            &lens,
        );
        let message = format!("{two_outputs:?}");
        assert!(message.contains("outputs is 2, not 1"), "{message}");
        assert_refused("two outputs", two_outputs);
        refuses_dense_dispatches_outside_their_bounds(&ctx, &kernels);
        refuses_wide_dispatches_outside_their_bounds(&ctx, &kernels);
    }
}

/// `ops::run`'s canaries catch a kernel that writes or reads past a
/// buffer, where the module's own checks cannot, since the canaries lie
/// within the binding: `reduce_sgd` (a checked kernel, whose bounds
/// `Step::new` does not check) told θ has one value more than its buffer
/// holds updates the first canary (θ − α·g: of the NaN, the same bits; of
/// the finite canary, others), an error naming the binding; told its
/// partials have one row more, it reads the canaries into θ, which then
/// differs between the two dispatches. Bound exactly (`ops::run_exact`),
/// both go unseen: the checks drop the write and clamp the read.
#[test]
fn canaries_catch_what_a_kernel_does_past_its_buffers() {
    let Some(ctx) = device(true, None) else {
        return;
    };
    let kernels = Kernels::new(&ctx).unwrap();
    // 4 parameters and the loss, in 2 partials rows.
    let (width, rows) = (5, 2);
    let parts = vec![0.5; rows * width];
    let theta = vec![1.0; width - 1];
    let slots = |parts: &[f32], theta: &[f32]| -> Vec<Vec<f32>> {
        vec![
            parts.to_vec(),
            theta.to_vec(),
            vec![9.0; 4],
            vec![f32::from_bits(2)],
            vec![0.0; 8],
        ]
    };
    let dispatch = |runner: Runner, params: &Params, parts: &[f32], theta: &[f32]| {
        let data = slots(parts, theta);
        let bound = [
            Slot::Input(&data[0]),
            Slot::InOut(&data[1]),
            Slot::InOut(&data[2]),
            Slot::InOut(&data[3]),
            Slot::Input(&data[4]),
        ];
        runner(&ctx, &kernels, Kernel::ReduceSgd, params, &bound)
    };
    let fits = Params::reduce(width, rows, width, 1.0, 0.1);
    let got = dispatch(run, &fits, &parts, &theta).unwrap();
    assert!(got[0].iter().all(|v| v.is_finite()), "{:?}", got[0]);
    // θ one value short: the write past it. θ is binding 2, after the
    // partials at 1.
    let wider = Params::reduce(width + 1, rows, width + 1, 1.0, 0.1);
    let parts_wide = vec![0.5; rows * (width + 1)];
    let e = dispatch(run, &wider, &parts_wide, &theta)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("reduce_sgd wrote past the 4 values of binding 2: value 4 is"),
        "{e}"
    );
    assert!(dispatch(run_exact, &wider, &parts_wide, &theta).is_ok());
    // The partials one row short: the read past them.
    let more_rows = Params::reduce(width, rows + 1, width, 1.0, 0.1);
    let e = dispatch(run, &more_rows, &parts, &theta)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("reduce_sgd read past a buffer: value 0 of binding 2 is"),
        "{e}"
    );
    let got = dispatch(run_exact, &more_rows, &parts, &theta).unwrap();
    assert!(got[0].iter().all(|v| v.is_finite()), "{:?}", got[0]);
}

type Runner =
    fn(&Context, &Kernels, Kernel, &Params, &[Slot<'_>]) -> shadertrain::Result<Vec<Vec<f32>>>;

/// Runs `kernel` under `p` by `runner` on buffers of `lens` values, every
/// one bound read-write and filled with 0.25: `ops::run`, whose canaries
/// after each the kernel must leave as they are, or `ops::run_exact`, on
/// bindings exactly `lens` long, what `Step::new` must refuse where one
/// is shorter than the proof needs.
fn run_on(
    runner: Runner,
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    p: &Params,
    lens: &[usize],
) -> shadertrain::Result<Vec<Vec<f32>>> {
    let data: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.25; n]).collect();
    let slots: Vec<Slot> = data.iter().map(|d| Slot::InOut(d)).collect();
    runner(ctx, kernels, kernel, p, &slots)
}

fn assert_refused(what: &str, got: shadertrain::Result<Vec<Vec<f32>>>) {
    match got {
        Err(Error::Validation { message, .. }) => {
            assert!(message.contains("proven bounds"), "{what}: {message}")
        }
        Err(e) => panic!("{what}: not a validation error: {e}"),
        Ok(_) => panic!("{what} was accepted"),
    }
}

/// `kernel` runs on buffers of exactly `lens` values, and is refused with
/// any one of them a value short.
fn assert_exact_bounds(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    p: &Params,
    lens: &[usize],
) {
    let ok = run_on(run, ctx, kernels, kernel, p, lens);
    assert!(ok.is_ok(), "{kernel:?} on {lens:?}: {ok:?}");
    for b in 0..lens.len() {
        let mut short = lens.to_vec();
        short[b] -= 1;
        assert_refused(
            &format!("{kernel:?} on {short:?}"),
            run_on(run_exact, ctx, kernels, kernel, p, &short),
        );
    }
}

/// The layer-by-layer kernels over 130 rows of a network of 3 inputs, 5
/// hidden units and one output (θ: W1 at 0, b1 at 15, w2 at 20, b2 at 25;
/// a partials row of 27, the last of 3 groups of 64 from 54): each runs on
/// buffers exactly as long as its proof needs, and is refused with any one
/// of them a value short, or with a zero divisor.
fn refuses_dense_dispatches_outside_their_bounds(ctx: &Context, kernels: &Kernels) {
    let (rows, inputs, units) = (130, 3, 5);
    let (b1, w2, b2) = (15, 20, 25);
    let (len, stride) = (b2 + 1, b2 + 2);
    let last = 2 * stride;
    let base = Params {
        rows: rows as u32,
        group_rows: 64,
        stride: stride as u32,
        len: len as u32,
        scale: 0.01,
        ..Params::default()
    };
    let hidden = Params {
        inputs: inputs as u32,
        outputs: units as u32,
        w_off: 0,
        b_off: b1 as u32,
        ..base
    };
    let output = Params {
        inputs: units as u32,
        outputs: 1,
        w_off: w2 as u32,
        b_off: b2 as u32,
        ..base
    };
    let cases = [
        // x, theta (to b1's end, past W1's), a1
        (
            Kernel::ForwardSigmoid,
            hidden,
            vec![rows * inputs, w2, rows * units],
        ),
        (
            Kernel::ForwardTiledTanh,
            hidden,
            vec![rows * inputs, w2, rows * units],
        ),
        // Δ (rows, outputs), theta (to W's end), A below, its Δ
        (
            Kernel::BackpropSigmoid,
            hidden,
            vec![rows * units, b1, rows * inputs, rows * inputs],
        ),
        // r, theta (to w2's end), A1, Δ1
        (
            Kernel::BackpropOutputTanh,
            output,
            vec![rows, b2, rows * units, rows * units],
        ),
        // A1, theta (b2 too), y, r, partials (to the loss)
        (
            Kernel::OutputResidual,
            output,
            vec![rows * units, len, rows, rows, last + len + 1],
        ),
        // Δ, A below, partials (to ∂W's end)
        (
            Kernel::WeightGrad,
            hidden,
            vec![rows * units, rows * inputs, last + b1],
        ),
        (
            Kernel::WeightGradTiled,
            hidden,
            vec![rows * units, rows * inputs, last + b1],
        ),
        (
            Kernel::WeightGradOutput,
            output,
            vec![rows, rows * units, last + b2],
        ),
        // Δ, partials (to ∂b's end)
        (Kernel::BiasGrad, hidden, vec![rows * units, last + w2]),
        (Kernel::BiasGrad, output, vec![rows, last + len]),
    ];
    for (k, p, lens) in cases {
        assert_exact_bounds(ctx, kernels, k, &p, &lens);
    }
    // Zero divisors: the backprop's input blocks, the gradients' row
    // groups and input blocks, the bias gradient's outputs.
    let zeroes = [
        (
            Kernel::BackpropTanh,
            Params {
                inputs: 0,
                ..hidden
            },
        ),
        (
            Kernel::WeightGrad,
            Params {
                inputs: 0,
                ..hidden
            },
        ),
        (
            Kernel::WeightGradOutput,
            Params {
                group_rows: 0,
                ..output
            },
        ),
        (
            Kernel::BiasGrad,
            Params {
                outputs: 0,
                ..hidden
            },
        ),
    ];
    for (k, zero) in zeroes {
        let lens: Vec<usize> = k.bindings()[1..].iter().map(|_| 100_000).collect();
        assert_refused(
            &format!("{k:?} under {zero:?}"),
            run_on(run_exact, ctx, kernels, k, &zero, &lens),
        );
    }
}

/// The wide kernels over 130 rows of 3 inputs and 129 units (a full and a
/// partial 128-tile of rows and of units, three ŷ shares per row) in row
/// groups of 64: each runs on buffers exactly as long as its proof needs,
/// and is refused with any one of them a value short, or with a zero
/// divisor.
fn refuses_wide_dispatches_outside_their_bounds(ctx: &Context, kernels: &Kernels) {
    let (rows, inputs, units): (usize, usize, usize) = (130, 3, 129);
    // θ: W1, b1, w2, b2; a partials row is θ's gradient, then the loss.
    let (b_off, w2_off) = (units * inputs, units * inputs + units);
    let b2_off = w2_off + units;
    let len = b2_off + 1;
    let (groups, stride) = (rows.div_ceil(64), len + 1);
    let p = Params {
        rows: rows as u32,
        inputs: inputs as u32,
        outputs: units as u32,
        w_off: 0,
        b_off: b_off as u32,
        dst_off: w2_off as u32,
        group_rows: 64,
        stride: stride as u32,
        len: len as u32,
        scale: 0.01,
        ..Params::default()
    };
    let shares = units.div_ceil(64) * rows;
    let cases = [
        // x, theta (to w2's end), a1, yparts
        (
            Kernel::ForwardWideSigmoid,
            vec![rows * inputs, b2_off, rows * units, shares],
        ),
        // theta (b2 too), labels, yparts, residual, partials (to the loss)
        (
            Kernel::OutputWide,
            vec![len, rows, shares, rows, groups * stride],
        ),
        // x, theta (to w2's end), a1, residual, partials (to ∂w2's end)
        (
            Kernel::WeightGradWideTanh,
            vec![
                rows * inputs,
                b2_off,
                rows * units,
                rows,
                (groups - 1) * stride + b2_off,
            ],
        ),
    ];
    for (k, lens) in cases {
        assert_exact_bounds(ctx, kernels, k, &p, &lens);
    }
    // Zero divisors: the forward's unit tiles, the output's row groups, the
    // gradient's input tiles.
    let zeroes = [
        (Kernel::ForwardWideTanh, Params { outputs: 0, ..p }),
        (Kernel::OutputWide, Params { group_rows: 0, ..p }),
        (Kernel::WeightGradWideSigmoid, Params { inputs: 0, ..p }),
    ];
    for (k, zero) in zeroes {
        let lens: Vec<usize> = k.bindings()[1..].iter().map(|_| 100_000).collect();
        assert_refused(
            &format!("{k:?} under {zero:?}"),
            run_on(run_exact, ctx, kernels, k, &zero, &lens),
        );
    }
}

/// A device for the mixed path's scalar form (lavapipe has f16), or `None`
/// after a visible skip where the adapter lacks it; CI=true requires it, as
/// tests/mixed.rs does.
fn mixed_device(checked_shaders: bool, max_binding: Option<u64>) -> Option<Context> {
    gpu_for(AdapterRequest {
        checked_shaders,
        max_binding,
        precision: Precision::MixedScalar,
        ..AdapterRequest::default()
    })
}

#[test]
fn unchecked_mixed_modules_train_bit_for_bit_as_checked_ones() {
    let Some(ctx) = mixed_device(false, None) else {
        return;
    };
    let kernels = Kernels::new(&ctx).unwrap();
    for k in [
        Kernel::ToHalf,
        Kernel::DeltaHalfSigmoid,
        Kernel::DeltaHalfTanh,
    ] {
        assert_eq!(kernels.checks(k), Checks::Unchecked, "{k:?}");
    }
    for k in [
        Kernel::ForwardCoopSigmoid,
        Kernel::ForwardCoopTanh,
        Kernel::ForwardCoopSharesSigmoid,
        Kernel::ForwardCoopSharesTanh,
        Kernel::WeightGradCoop,
    ] {
        assert_eq!(kernels.checks(k), Checks::Checked, "{k:?}");
    }
    drop(kernels);
    drop(ctx);
    // 600 rows of 24 features and 70 units: partial 64-tiles of rows,
    // inputs and units, two 64-unit shares (the second partial); with a
    // 64 KiB binding, 5 chunks of up to 128 rows share the f16 copies.
    let data = Dataset::synthetic(600, 24, 3).unwrap();
    let cases = [
        (KernelChoice::Tiled, None),
        (KernelChoice::Wide, None),
        (KernelChoice::Wide, Some(64 << 10)),
    ];
    for act in Activation::ALL {
        for (choice, max_binding) in cases {
            let m = model(&data, &[70], act, 3);
            let name = format!("mixed {act} {choice:?} {max_binding:?}");
            let open = |checked| mixed_device(checked, max_binding).unwrap();
            let inspect = |g: &GpuTrainer| assert!(g.plan().mixed);
            let case = (&m, &data, choice, max_binding.is_some());
            checked_and_unchecked_agree(&name, open, case, 20, inspect);
        }
    }
}

#[test]
fn mixed_dispatches_outside_the_proven_bounds_are_refused() {
    for checked in [false, true] {
        let Some(ctx) = mixed_device(checked, None) else {
            return;
        };
        let kernels = Kernels::new(&ctx).unwrap();
        // to_half: 5 × 3 values from offset 2 into a 32 × 32 copy of 512
        // f32 slots.
        let p = Params {
            rows: 5,
            inputs: 3,
            w_off: 2,
            len: 32,
            count: 32,
            scale: 1.0,
            ..Params::default()
        };
        let k = Kernel::ToHalf;
        assert!(run_on(run, &ctx, &kernels, k, &p, &[17, 512]).is_ok());
        assert_refused(
            "to_half src",
            run_on(run_exact, &ctx, &kernels, k, &p, &[16, 512]),
        );
        assert_refused(
            "to_half dst",
            run_on(run_exact, &ctx, &kernels, k, &p, &[17, 511]),
        );
        // 100 rows of 70 units in row groups of 64, w2 at 10, b1 at 500,
        // units padded to 96.
        let p = Params {
            rows: 100,
            outputs: 70,
            dst_off: 10,
            b_off: 500,
            group_rows: 64,
            stride: 1000,
            count: 96,
            scale: 1.0,
            ..Params::default()
        };
        // the f16 Δ1 (128 × 96), theta, partials (to ∂b1's end), A1, r
        let lens = [6144, 80, 1570, 7000, 100];
        for k in [Kernel::DeltaHalfSigmoid, Kernel::DeltaHalfTanh] {
            assert_exact_bounds(&ctx, &kernels, k, &p, &lens);
        }
        // Zero divisors: delta_half's unit blocks and row groups.
        let big = [100_000; 5];
        for zero in [Params { count: 0, ..p }, Params { group_rows: 0, ..p }] {
            let got = run_on(
                run_exact,
                &ctx,
                &kernels,
                Kernel::DeltaHalfTanh,
                &zero,
                &big,
            );
            assert_refused(&format!("delta_half under {zero:?}"), got);
        }
    }
}

fn device_subgroups(subgroups: bool) -> Option<Context> {
    gpu_for(AdapterRequest {
        subgroups,
        ..AdapterRequest::default()
    })
}

/// Runs `kernel` (an output kernel) over `rows` rows of `inputs` in row
/// groups of `group_rows`: the residual and the loss column of each group.
fn output_run(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    (rows, inputs, group_rows): (usize, usize, usize),
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let a = uniform(seed, rows * inputs, -1.0, 1.0);
    let y = uniform(seed + 1, rows, -2.0, 2.0);
    let t = uniform(seed + 2, inputs + 1, -1.0, 1.0);
    let groups = rows.div_ceil(group_rows);
    let p = Params {
        rows: rows as u32,
        inputs: inputs as u32,
        outputs: 1,
        w_off: 0,
        b_off: inputs as u32,
        group_rows: group_rows as u32,
        stride: 2,
        len: 1,
        scale: (2.0 / rows as f64) as f32,
        ..Params::default()
    };
    let slots = [
        Slot::Input(&a),
        Slot::Input(&t),
        Slot::Input(&y),
        Slot::Output(rows),
        Slot::Output(groups * 2),
    ];
    let got = run(ctx, kernels, kernel, &p, &slots).unwrap();
    let loss = got[1].iter().skip(1).step_by(2).copied().collect();
    (got[0].clone(), loss)
}

#[test]
fn subgroup_and_tree_output_match_twin() {
    let Some(ctx) = device_subgroups(true) else {
        return;
    };
    if !ctx.subgroups() {
        // Mesa's lavapipe, CI's adapter, has them.
        assert!(
            !common::in_ci(),
            "CI=true and {} has no subgroups",
            ctx.info.name
        );
        common::say_skipped(format_args!("SKIPPED: {} has no subgroups", ctx.info.name));
        return;
    }
    eprintln!(
        "subgroup sizes {}..={}",
        ctx.info.subgroup_min_size, ctx.info.subgroup_max_size
    );
    let kernels = Kernels::new(&ctx).unwrap();
    // Row groups that are, are not, and are smaller than a multiple of the
    // workgroup; a single row; primes; rows narrower than a subgroup, and
    // rows of several subgroup widths, whole and not.
    let shapes = [
        (1, 1, 64),
        (63, 7, 64),
        (64, 3, 64),
        (65, 1, 64),
        (300, 5, 64),
        (1000, 13, 192),
        (997, 2, 100),
        (130, 64, 64),
        (77, 257, 10),
        (3, 1000, 2),
    ];
    for (s, &shape) in shapes.iter().enumerate() {
        let (rows, inputs, group_rows) = shape;
        let seed = 40 + s as u64;
        let name = format!("{rows}x{inputs} in groups of {group_rows}");
        let (r_tree, l_tree) = output_run(&ctx, &kernels, Kernel::OutputResidual, shape, seed);
        let (r_sub, l_sub) =
            output_run(&ctx, &kernels, Kernel::OutputResidualSubgroup, shape, seed);
        let (r_again, l_again) =
            output_run(&ctx, &kernels, Kernel::OutputResidualSubgroup, shape, seed);
        assert_eq!(bits32(&r_sub), bits32(&r_again), "{name}: a rerun differs");
        assert_eq!(bits32(&l_sub), bits32(&l_again), "{name}: a rerun differs");
        check_output(&format!("{name} tree"), (&r_tree, &l_tree), shape, seed);
        check_output(&format!("{name} subgroups"), (&r_sub, &l_sub), shape, seed);
    }
}

/// One invocation of output_residual takes 14 rows of 5,000 units here,
/// 70,000 steps of its dot products: more than Debian 12's lavapipe (Mesa
/// 22.3) lets one invocation loop in all, which stopped the loop early and
/// gave a wrong residual and loss until the dot product went 16 units a
/// step.
#[test]
fn output_residual_takes_a_long_group_of_wide_rows() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let shape = (896, 5000, 896);
    let (r, l) = output_run(&ctx, &kernels, Kernel::OutputResidual, shape, 7);
    check_output("896x5000 in one group", (&r, &l), shape, 7);
}

/// Debian 12's lavapipe (Mesa 22.3), CI's adapter, ends an invocation's
/// loops after 65,535 trips in all: the probe finds the limit there, and
/// plans then refuse inputs too many to loop over and take a lone hidden
/// layer as wide, which trains as the reference does.
#[test]
fn a_driver_that_ends_loops_early_is_found_and_planned_around() {
    let Some(ctx) = gpu() else { return };
    let limit = ctx.loop_limit().unwrap();
    let driver = shadertrain::gpu::context::driver(&ctx.info);
    assert!(
        limit.is_some() || !(common::in_ci() && driver.contains("Mesa 22.")),
        "CI=true and {driver} shows no loop limit"
    );
    let Some(limit) = limit else {
        common::say_skipped(format_args!(
            "SKIPPED: {driver} shows no loop limit (software adapters are probed, hardware ones \
             are not)"
        ));
        return;
    };
    assert!(
        (60_000..=70_000).contains(&limit),
        "{driver}: {limit} trips"
    );
    let wide_inputs = Layout::new(70_000, &[2]).unwrap();
    let err = GpuTrainer::plan_for(&ctx, &wide_inputs, 64, KernelChoice::Auto)
        .unwrap_err()
        .to_string();
    for part in [
        "ends a shader invocation's loops after",
        "inputs correctly, not 70000:",
        "--backend cpu",
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
    let two = Layout::new(4, &[3, 70_000]).unwrap();
    let err = GpuTrainer::plan_for(&ctx, &two, 64, KernelChoice::Auto)
        .unwrap_err()
        .to_string();
    assert!(err.contains("units a layer correctly, not 70000:"), "{err}");
    // Training on `data` with `hidden` by `choice`'s kernels, against the
    // reference.
    let tracks = |data: &Dataset, hidden: &[usize], choice, name: &str| {
        let m = model(data, hidden, Activation::Tanh, 5);
        let opt = Optimizer::gd(0.05);
        let sched = Schedule {
            max_epochs: 3,
            tol: 0.0,
        };
        let want = train(&mut Reference::new(&m, data, opt).unwrap(), &sched).unwrap();
        let source = Source::Host(data);
        let mut g = GpuTrainer::with(ctx.clone(), &m, source, opt, choice).unwrap();
        let got = train(&mut g, &sched).unwrap();
        assert_close(name, &got.losses, &want.losses, 0.0, 1e-4);
    };
    // One hidden layer of 70,000 units: only the output kernel sums over
    // them, 16 a trip.
    let data = Dataset::synthetic(64, 4, 3).unwrap();
    tracks(
        &data,
        &[70_000],
        KernelChoice::Layered,
        "70000 units losses",
    );
    // The wide kernels at the most inputs the planner takes for them,
    // where only the last input is not 0: a trip lost loses it.
    let wide =
        |f| GpuTrainer::plan_for(&ctx, &Layout::new(f, &[2]).unwrap(), 64, KernelChoice::Wide);
    let (mut fits, mut refused) = (1, 70_000);
    while refused - fits > 1 {
        let mid = (fits + refused) / 2;
        match wide(mid) {
            Ok(_) => fits = mid,
            Err(_) => refused = mid,
        }
    }
    assert!((50_000..60_000).contains(&fits), "wide takes {fits} inputs");
    let mut data = Dataset::synthetic(64, fits, 3).unwrap();
    for n in 0..64 {
        let last = data.x[n * fits + fits - 1];
        data.x[n * fits..(n + 1) * fits].fill(0.0);
        data.x[n * fits + fits - 1] = last;
        data.y[n] = (3.0 * last).sin();
    }
    let name = format!("wide over {fits} inputs");
    tracks(&data, &[2], KernelChoice::Wide, &name);
}

/// At the bounds the planner keeps to under the driver's loop limit, each
/// kernel still finishes its loops: the forward kernels over as many
/// inputs as a network may have, the gradient kernels over as many rows
/// as a group may hold. The last input (the last row) carries the whole
/// sum, so one trip lost changes the result.
#[test]
fn kernels_finish_their_loops_at_the_planned_bounds() {
    let Some(ctx) = gpu() else { return };
    let Some(limit) = ctx.loop_limit().unwrap() else {
        common::say_skipped(format_args!(
            "SKIPPED: {} shows no loop limit",
            ctx.info.name
        ));
        return;
    };
    let kernels = Kernels::new(&ctx).unwrap();
    // The most inputs the planner takes for the layered kernels.
    let plan = |f| {
        GpuTrainer::plan_for(
            &ctx,
            &Layout::new(f, &[4]).unwrap(),
            8,
            KernelChoice::Layered,
        )
    };
    let inputs = (limit - trips::SPARE - 1) as usize;
    plan(inputs).unwrap();
    plan(inputs + 1).unwrap_err();
    // 8 rows of `inputs` zeros but the last, 1.0; W₁ zero but its last
    // column, 0.5: z = 0.5 in every output.
    let (rows, outputs) = (8, 4);
    let mut a = vec![0.0f32; rows * inputs];
    for r in 0..rows {
        a[r * inputs + inputs - 1] = 1.0;
    }
    let mut t = vec![0.0f32; outputs * inputs + outputs];
    for o in 0..outputs {
        t[o * inputs + inputs - 1] = 0.5;
    }
    let p = common::kernels::layer_params((rows, inputs, outputs), 0, (outputs * inputs) as u32);
    let want = 1.0 / (1.0 + (-0.5f64).exp());
    for k in [Kernel::ForwardSigmoid, Kernel::ForwardTiledSigmoid] {
        let got = run(
            &ctx,
            &kernels,
            k,
            &p,
            &[
                Slot::Input(&a),
                Slot::Input(&t),
                Slot::Output(rows * outputs),
            ],
        )
        .unwrap();
        for v in &got[0] {
            assert!(
                (f64::from(*v) - want).abs() < 1e-6,
                "{k:?} over {inputs} inputs: {v}"
            );
        }
    }
    // One group of the most rows a group may hold: Δ and A zero but the
    // last row's, 1.0 and 2.0, so every ∂W is 2 and every ∂b 1.
    let layout = Layout::new(4, &[4]).unwrap();
    let loops = trips::Loops {
        limit,
        driver: "d",
        wide_step: ctx.wide_step,
    };
    let group = trips::most_group_rows(&layout, KernelFamily::Layered, false, &loops).unwrap();
    let (inputs, outputs) = (4, 4);
    let mut d = vec![0.0f32; group * outputs];
    d[(group - 1) * outputs..].fill(1.0);
    let mut a = vec![0.0f32; group * inputs];
    a[(group - 1) * inputs..].fill(2.0);
    let stride = outputs * inputs + outputs;
    let p = Params {
        group_rows: group as u32,
        stride: stride as u32,
        ..common::kernels::layer_params((group, inputs, outputs), 0, (outputs * inputs) as u32)
    };
    for k in [Kernel::WeightGrad, Kernel::WeightGradTiled] {
        let slots = [Slot::Input(&d), Slot::Input(&a), Slot::Output(stride)];
        let got = run(&ctx, &kernels, k, &p, &slots).unwrap();
        assert_eq!(
            &got[0][..outputs * inputs],
            &[2.0; 16],
            "{k:?} over {group} rows"
        );
    }
    let slots = [Slot::Input(&d), Slot::Output(stride)];
    let got = run(&ctx, &kernels, Kernel::BiasGrad, &p, &slots).unwrap();
    assert_eq!(
        &got[0][outputs * inputs..],
        &[1.0; 4],
        "bias_grad over {group} rows"
    );
    let one = Params {
        outputs: 1,
        stride: inputs as u32 + 1,
        b_off: inputs as u32,
        ..p
    };
    let mut r = vec![0.0f32; group];
    r[group - 1] = 1.0;
    let slots = [Slot::Input(&r), Slot::Input(&a), Slot::Output(inputs + 1)];
    let got = run(&ctx, &kernels, Kernel::WeightGradOutput, &one, &slots).unwrap();
    assert_eq!(
        &got[0][..inputs],
        &[2.0; 4],
        "weight_grad_output over {group} rows"
    );
}

/// Checks `output_run`'s residual and loss column for `shape` and `seed`
/// against the f64 twin, to the error of their sums in any order.
fn check_output(
    name: &str,
    (r_got, l_got): (&[f32], &[f32]),
    (rows, inputs, group_rows): (usize, usize, usize),
    seed: u64,
) {
    let a = f64s(&uniform(seed, rows * inputs, -1.0, 1.0));
    let y = f64s(&uniform(seed + 1, rows, -2.0, 2.0));
    let t = f64s(&uniform(seed + 2, inputs + 1, -1.0, 1.0));
    // Each row's r against the f64 twin, to the error of a sum of
    // inputs + 2 terms in any order.
    let (r_want, _) = ops::output_residual(&a, &t[..inputs], t[inputs], &y, rows);
    let scale = 2.0 / rows as f64;
    let r_abs: Vec<f64> = (0..rows)
        .map(|n| {
            let dot: f64 = (0..inputs).map(|u| (a[n * inputs + u] * t[u]).abs()).sum();
            scale * (dot + t[inputs].abs() + y[n].abs())
        })
        .collect();
    let r_bound = sum_bound(&r_want, &r_abs, inputs + 2);
    assert_within(&format!("{name} r"), &f64s(r_got), &r_want, &r_bound);
    // Each group's Σe²/N.
    let want: Vec<f64> = (0..rows.div_ceil(group_rows))
        .map(|g| {
            let rng = g * group_rows..((g + 1) * group_rows).min(rows);
            let (_, sq) = ops::output_residual(
                &a[rng.start * inputs..rng.end * inputs],
                &t[..inputs],
                t[inputs],
                &y[rng],
                rows,
            );
            sq * (1.0 / rows as f64)
        })
        .collect();
    let bound = sum_bound(&want, &want, group_rows);
    assert_within(&format!("{name} loss"), &f64s(l_got), &want, &bound);
}

#[test]
fn training_with_and_without_subgroups_tracks_the_reference() {
    let Some(ctx) = device_subgroups(true) else {
        return;
    };
    let has = ctx.subgroups();
    // Mesa's lavapipe, CI's adapter, has them: both halves run there.
    assert!(
        has || !common::in_ci(),
        "CI=true and {} has no subgroups",
        ctx.info.name
    );
    drop(ctx);
    let data = Dataset::synthetic(1000, 5, 9).unwrap();
    let sched = Schedule {
        max_epochs: 60,
        tol: 0.0,
    };
    for hidden in [&[12][..], &[10, 6][..]] {
        let m = model(&data, hidden, Activation::Tanh, 2);
        let mut cpu = Reference::new(&m, &data, Optimizer::gd(0.1)).unwrap();
        let want = train(&mut cpu, &sched).unwrap();
        let want_params = f64s(&cpu.params().unwrap());
        let run = |subgroups| {
            let ctx = device_subgroups(subgroups).unwrap();
            assert_eq!(ctx.subgroups(), subgroups && has);
            let source = Source::Host(&data);
            let mut g =
                GpuTrainer::with(ctx, &m, source, Optimizer::gd(0.1), KernelChoice::Layered)
                    .unwrap();
            let out = train(&mut g, &sched).unwrap();
            (out.losses, g.params().unwrap())
        };
        for subgroups in [true, false] {
            let name = format!("{hidden:?} subgroups {subgroups}");
            let (losses, params) = run(subgroups);
            assert_close(&format!("{name} losses"), &losses, &want.losses, 0.0, 1e-3);
            assert_close(
                &format!("{name} params"),
                &f64s(&params),
                &want_params,
                1e-4,
                1e-3,
            );
            let (again, params_again) = run(subgroups);
            assert_eq!(bits64(&losses), bits64(&again), "{name}: a rerun differs");
            assert_eq!(
                bits32(&params),
                bits32(&params_again),
                "{name}: a rerun differs"
            );
        }
    }
}

/// `info --pipelines` (gpu::stats) builds every kernel the device has
/// through Vulkan calls of its own, from SPIR-V it writes as wgpu does:
/// the driver accepts each, in Kernel::ALL's order, checked as wgpu
/// builds it; where the driver reports statistics, each pipeline has
/// executables with some, and where not, none. A kernel asked for that
/// the device has no module for is an error.
#[test]
fn every_kernel_builds_for_the_pipeline_statistics() {
    use shadertrain::gpu::stats::pipeline_statistics;
    let Some(ctx) = device(false, None) else {
        return;
    };
    if ctx.info.backend != wgpu::Backend::Vulkan {
        eprintln!(
            "SKIPPED: pipeline statistics are Vulkan's; {:?}",
            ctx.info.backend
        );
        return;
    }
    let kernels = Kernels::new(&ctx).unwrap();
    let report = pipeline_statistics(&ctx, &kernels, &[]).unwrap();
    let expected: Vec<Kernel> = Kernel::ALL
        .iter()
        .copied()
        .filter(|&k| kernels.program(&ctx, k).is_ok())
        .collect();
    let got: Vec<Kernel> = report.pipelines.iter().map(|p| p.kernel).collect();
    assert_eq!(got, expected);
    assert!(got.contains(&Kernel::ForwardWideSigmoid) && got.contains(&Kernel::Reduce));
    assert_eq!(report.device, ctx.info.name);
    for p in &report.pipelines {
        assert_eq!(p.checks, kernels.checks(p.kernel), "{:?}", p.kernel);
        // The layout wgpu derives: the entry point's own bindings.
        assert_eq!(p.bindings, p.kernel.bindings(), "{:?}", p.kernel);
        match report.offered {
            true => assert!(
                !p.executables.is_empty() && p.executables.iter().all(|e| !e.statistics.is_empty()),
                "{:?}: {:?}",
                p.kernel,
                p.executables
            ),
            false => assert!(p.executables.is_empty()),
        }
    }
    let text = report.text();
    assert!(
        text.contains("\nforward_wide_sigmoid (wide.wgsl, bounds unchecked)\n"),
        "{text}"
    );
    let mixed = pipeline_statistics(&ctx, &kernels, &[Kernel::ForwardCoopSigmoid]);
    assert!(matches!(mixed, Err(Error::NoMixed(_))), "{mixed:?}");
}
