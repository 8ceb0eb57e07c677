//! Property tests: every matrix kernel on shapes drawn from 1..=130 rows,
//! inputs and outputs (the fused kernel: up to 300 rows, 32 inputs, 256
//! hidden units), against its CPU twin within the tolerance policy.

mod common;

use common::gpu;
use common::kernels::{check_backprop, check_forward, check_fused, check_gradient_partials};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use shadertrain::gpu::kernels::{Kernel, Kernels};
use shadertrain::model::Activation;

/// A size from 1..=130, a quarter of the time one at an edge: 1 (the
/// output layer's width, which its kernels treat apart) or beside a
/// multiple of 64 (the tiles).
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1usize..=130,
        1 => prop::sample::select(vec![1usize, 2, 63, 64, 65, 127, 128, 129]),
    ]
}

fn shapes() -> impl Strategy<Value = (usize, usize, usize, u64, bool)> {
    (size(), size(), size(), any::<u64>(), any::<bool>())
}

fn runner() -> TestRunner {
    TestRunner::new(common::proptest_config(24))
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
            let shape = (rows, inputs, outputs);
            check_forward(&ctx, &kernels, Kernel::forward(act), act, shape, seed, 1.0);
            check_forward(
                &ctx,
                &kernels,
                Kernel::forward_tiled(act),
                act,
                shape,
                seed,
                1.0,
            );
            check_backprop(&ctx, &kernels, act, (rows, inputs, outputs), seed ^ 3);
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
            // One row group of 192 over every row: the whole sums.
            for weight in [Kernel::WeightGrad, Kernel::WeightGradTiled] {
                check_gradient_partials(&ctx, &kernels, weight, (rows, inputs, outputs), 192, seed);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn fused_gradients_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    let kernels = Kernels::new(&ctx).unwrap();
    let drawn = (
        1usize..=300,
        1usize..=32,
        1usize..=256,
        prop::sample::select(vec![64usize, 128, 192]),
        any::<u64>(),
        any::<bool>(),
    );
    runner()
        .run(&drawn, |(rows, inputs, hidden, group_rows, seed, tanh)| {
            let act = if tanh {
                Activation::Tanh
            } else {
                Activation::Sigmoid
            };
            check_fused(
                &ctx,
                &kernels,
                act,
                (rows, inputs, hidden),
                group_rows,
                seed,
            );
            Ok(())
        })
        .unwrap();
}
