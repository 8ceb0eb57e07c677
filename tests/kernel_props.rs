//! Property tests: every matrix kernel on shapes drawn from 1..=130 rows,
//! inputs and outputs, against its CPU twin within the tolerance policy.

mod common;

use common::{assert_close, assert_within, f64s, gpu, sum_bound, uniform};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shadertrain::cpu::ops;
use shadertrain::gpu::kernels::{Kernel, Kernels, Params};
use shadertrain::gpu::ops::{run, Slot};
use shadertrain::model::Activation;

fn shapes() -> impl Strategy<Value = (usize, usize, usize, u64, bool)> {
    (
        1usize..=130,
        1usize..=130,
        1usize..=130,
        any::<u64>(),
        any::<bool>(),
    )
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    })
}

#[test]
fn forward_and_backprop_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    runner()
        .run(&shapes(), |(rows, inputs, outputs, seed, tanh)| {
            let act = if tanh {
                Activation::Tanh
            } else {
                Activation::Sigmoid
            };
            let a = uniform(seed, rows * inputs, -1.0, 1.0);
            let w = uniform(seed ^ 1, outputs * inputs, -1.0, 1.0);
            let b = uniform(seed ^ 2, outputs, -1.0, 1.0);
            let theta: Vec<f32> = w.iter().chain(&b).copied().collect();
            let p = Params {
                rows: rows as u32,
                inputs: inputs as u32,
                outputs: outputs as u32,
                w_off: 0,
                b_off: (outputs * inputs) as u32,
                ..Params::default()
            };
            let got = run(
                &ctx,
                &kernels,
                Kernel::forward(act),
                &p,
                &[
                    Slot::Input(&a),
                    Slot::Input(&theta),
                    Slot::Output(rows * outputs),
                ],
            )
            .unwrap();
            let want =
                ops::dense_forward(&f64s(&a), &f64s(&w), &f64s(&b), inputs, outputs, Some(act));
            assert_close("forward", &f64s(&got[0]), &want, 1e-5, 1e-4);

            let d = uniform(seed ^ 3, rows * outputs, -1.0, 1.0);
            let got = run(
                &ctx,
                &kernels,
                Kernel::backprop(act),
                &p,
                &[
                    Slot::Input(&d),
                    Slot::Input(&theta),
                    Slot::Input(&a),
                    Slot::Output(rows * inputs),
                ],
            )
            .unwrap();
            let want = ops::backprop_delta(&f64s(&d), &f64s(&w), &f64s(&a), outputs, inputs, act);
            assert_close("backprop", &f64s(&got[0]), &want, 1e-5, 1e-4);
            Ok(())
        })
        .unwrap();
}

#[test]
fn gradient_partials_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    runner()
        .run(&shapes(), |(rows, inputs, outputs, seed, _)| {
            let d = uniform(seed, rows * outputs, -1.0, 1.0);
            let a = uniform(seed ^ 1, rows * inputs, -1.0, 1.0);
            let stride = outputs * inputs + outputs;
            // One row group over all rows: the kernels' sums are the whole sums.
            let p = Params {
                rows: rows as u32,
                inputs: inputs as u32,
                outputs: outputs as u32,
                w_off: 0,
                b_off: (outputs * inputs) as u32,
                group_rows: 192,
                stride: stride as u32,
                ..Params::default()
            };
            let w = run(
                &ctx,
                &kernels,
                Kernel::WeightGrad,
                &p,
                &[Slot::Input(&d), Slot::Input(&a), Slot::Output(stride)],
            )
            .unwrap();
            let b = run(
                &ctx,
                &kernels,
                Kernel::BiasGrad,
                &p,
                &[Slot::Input(&d), Slot::Output(stride)],
            )
            .unwrap();
            let (d64, a64) = (f64s(&d), f64s(&a));
            let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
            let mut dw = vec![0.0; outputs * inputs];
            ops::weight_grad(&d64, &a64, outputs, inputs, &mut dw);
            let mut dw_abs = vec![0.0; outputs * inputs];
            ops::weight_grad(&abs(&d64), &abs(&a64), outputs, inputs, &mut dw_abs);
            let mut db = vec![0.0; outputs];
            ops::bias_grad(&d64, outputs, &mut db);
            let mut db_abs = vec![0.0; outputs];
            ops::bias_grad(&abs(&d64), outputs, &mut db_abs);
            let split = outputs * inputs;
            assert_within(
                "weight grad",
                &f64s(&w[0][..split]),
                &dw,
                &sum_bound(&dw, &dw_abs, rows),
            );
            assert_within(
                "bias grad",
                &f64s(&b[0][split..]),
                &db,
                &sum_bound(&db, &db_abs, rows),
            );
            Ok(())
        })
        .unwrap();
}
