//! One check per matrix kernel against its CPU twin, shared by the fixed
//! shapes of gpu_vs_cpu.rs and the drawn shapes of kernel_props.rs.

use shadertrain::cpu::ops;
use shadertrain::gpu::kernels::{FusedShape, Kernel, Kernels, Params};
use shadertrain::gpu::ops::{run, run_pipeline, Slot};
use shadertrain::gpu::Context;
use shadertrain::model::{Activation, LayerView};

use super::{assert_close, assert_within, bits32, f64s, sum_bound, uniform};

/// A layer's shape: (rows, inputs, outputs).
pub type Shape = (usize, usize, usize);

/// A parameter block with 3 values before W (outputs × inputs) and b, so the
/// kernels' offsets are exercised; weights and biases in ±scale.
pub fn theta(seed: u64, inputs: usize, outputs: usize, scale: f32) -> (Vec<f32>, u32, u32) {
    let pad = 3;
    let mut t = uniform(seed, pad, -9.0, 9.0);
    t.extend(uniform(
        seed.wrapping_add(1),
        inputs * outputs,
        -scale,
        scale,
    ));
    t.extend(uniform(seed.wrapping_add(2), outputs, -scale, scale));
    let w_off = pad as u32;
    (t, w_off, w_off + (inputs * outputs) as u32)
}

pub fn layer_params((rows, inputs, outputs): Shape, w_off: u32, b_off: u32) -> Params {
    Params {
        rows: rows as u32,
        inputs: inputs as u32,
        outputs: outputs as u32,
        w_off,
        b_off,
        group_rows: 64,
        ..Params::default()
    }
}

/// `kernel`, a forward kernel for `act` (register-blocked or tiled),
/// against ops::forward; `scale` 1000 drives pre-activations to ±1000.
pub fn check_forward(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    act: Activation,
    shape: Shape,
    seed: u64,
    scale: f32,
) {
    let (rows, inputs, outputs) = shape;
    let a = uniform(seed, rows * inputs, -1.0, 1.0);
    let (t, w_off, b_off) = theta(seed, inputs, outputs, scale);
    let p = layer_params(shape, w_off, b_off);
    let got = run(
        ctx,
        kernels,
        kernel,
        &p,
        &[
            Slot::Input(&a),
            Slot::Input(&t),
            Slot::Output(rows * outputs),
        ],
    )
    .unwrap();
    let t64 = f64s(&t);
    let (w, b) = (&t64[w_off as usize..b_off as usize], &t64[b_off as usize..]);
    let want = ops::forward(&f64s(&a), w, b, inputs, outputs, Some(act));
    let name = format!("{kernel:?} {rows}x{inputs}x{outputs} scale {scale}");
    assert_close(&name, &f64s(&got[0]), &want, 1e-5, 1e-4);
}

/// backprop_* against ops::backprop, with activations in the
/// activation's range.
pub fn check_backprop(ctx: &Context, kernels: &Kernels, act: Activation, shape: Shape, seed: u64) {
    let (rows, inputs, outputs) = shape;
    let d = uniform(seed, rows * outputs, -1.0, 1.0);
    let lo = if act == Activation::Sigmoid {
        0.0
    } else {
        -1.0
    };
    let a = uniform(seed.wrapping_add(7), rows * inputs, lo, 1.0);
    let (t, w_off, b_off) = theta(seed, inputs, outputs, 1.0);
    let p = layer_params(shape, w_off, b_off);
    let backprop = |kernel| {
        let slots = [
            Slot::Input(&d),
            Slot::Input(&t),
            Slot::Input(&a),
            Slot::Output(rows * inputs),
        ];
        run(ctx, kernels, kernel, &p, &slots).unwrap()
    };
    let got = backprop(Kernel::backprop(act));
    let w = &f64s(&t)[w_off as usize..b_off as usize];
    let want = ops::backprop(&f64s(&d), w, &f64s(&a), outputs, inputs, act);
    let name = format!("backprop {act} {rows}x{inputs}x{outputs}");
    assert_close(&name, &f64s(&got[0]), &want, 1e-5, 1e-4);
    if outputs == 1 {
        // The output layer's own kernel: backprop's bits.
        let by_columns = backprop(Kernel::backprop_output(act));
        assert_eq!(
            bits32(&by_columns[0]),
            bits32(&got[0]),
            "{name}: backprop_output differs from backprop"
        );
    }
}

/// `weight` (weight_grad or weight_grad_tiled) and bias_grad, per row
/// group of `group_rows`, against ops::weight_grad and ops::bias_grad within
/// the sum tolerance. The partials are laid out as the trainer lays them:
/// groups × (W then b).
pub fn check_gradient_partials(
    ctx: &Context,
    kernels: &Kernels,
    weight: Kernel,
    shape: Shape,
    group_rows: usize,
    seed: u64,
) {
    let (rows, inputs, outputs) = shape;
    let d = uniform(seed, rows * outputs, -1.0, 1.0);
    let a = uniform(seed.wrapping_add(1), rows * inputs, -1.0, 1.0);
    let groups = rows.div_ceil(group_rows);
    let stride = outputs * inputs + outputs;
    let p = Params {
        group_rows: group_rows as u32,
        stride: stride as u32,
        ..layer_params(shape, 0, (outputs * inputs) as u32)
    };
    let weight_partials = |kernel| {
        let slots = [
            Slot::Input(&d),
            Slot::Input(&a),
            Slot::Output(groups * stride),
        ];
        run(ctx, kernels, kernel, &p, &slots).unwrap()
    };
    let w_parts = weight_partials(weight);
    if outputs == 1 {
        // The output layer's kernel: the same sums, the same bits.
        let one = weight_partials(Kernel::WeightGradOutput);
        assert_eq!(
            bits32(&one[0]),
            bits32(&w_parts[0]),
            "{weight:?} {rows}x{inputs}x1 R={group_rows}: weight_grad_output differs"
        );
    }
    let b_parts = run(
        ctx,
        kernels,
        Kernel::BiasGrad,
        &p,
        &[Slot::Input(&d), Slot::Output(groups * stride)],
    )
    .unwrap();
    let (d64, a64) = (f64s(&d), f64s(&a));
    let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    for g in 0..groups {
        let r = g * group_rows..((g + 1) * group_rows).min(rows);
        let n = r.len();
        let dg = &d64[r.start * outputs..r.end * outputs];
        let ag = &a64[r.start * inputs..r.end * inputs];
        let mut dw = vec![0.0; outputs * inputs];
        ops::weight_grad(dg, ag, outputs, inputs, &mut dw);
        let mut dw_abs = vec![0.0; outputs * inputs];
        ops::weight_grad(&abs(dg), &abs(ag), outputs, inputs, &mut dw_abs);
        let mut db = vec![0.0; outputs];
        ops::bias_grad(dg, outputs, &mut db);
        let mut db_abs = vec![0.0; outputs];
        ops::bias_grad(&abs(dg), outputs, &mut db_abs);
        let base = g * stride;
        let name = format!("{weight:?} {rows}x{inputs}x{outputs} R={group_rows} group {g}");
        assert_within(
            &format!("weight grad {name}"),
            &f64s(&w_parts[0][base..base + outputs * inputs]),
            &dw,
            &sum_bound(&dw, &dw_abs, n),
        );
        assert_within(
            &format!("bias grad {name}"),
            &f64s(&b_parts[0][base + outputs * inputs..base + stride]),
            &db,
            &sum_bound(&db, &db_abs, n),
        );
    }
}

/// fused_* against their twin, ops::fused, per row group: each group's
/// partials row is held to the group's ∂W1, ∂b1, ∂w2, ∂b2 and Σe²/N within
/// the sum tolerance. `total` rows set 2/N, as
/// when the rows are one chunk of a larger batch.
pub fn check_fused(
    ctx: &Context,
    kernels: &Kernels,
    act: Activation,
    (rows, f, h): Shape,
    group_rows: usize,
    seed: u64,
) {
    let shape = FusedShape::new(f, h).expect("a shape the fused kernel takes");
    let pipeline = kernels.fused(ctx, act, &shape).unwrap();
    let x = uniform(seed, rows * f, -1.0, 1.0);
    let y = uniform(seed.wrapping_add(1), rows, -1.0, 1.0);
    // 3 values before W1, so every offset is exercised: W1, b1, w2, b2.
    let (mut t, w_off, b_off) = theta(seed.wrapping_add(2), f, h, 1.0);
    let w2_off = t.len();
    t.extend(uniform(seed.wrapping_add(3), h + 1, -1.0, 1.0));
    let p = t.len();
    let total = rows + 17;
    let scale = (2.0 / total as f64) as f32;
    let params = Params {
        rows: rows as u32,
        inputs: f as u32,
        outputs: h as u32,
        w_off,
        b_off,
        dst_off: w2_off as u32,
        group_rows: group_rows as u32,
        stride: p as u32 + 1,
        len: p as u32,
        scale,
        ..Params::default()
    };
    let groups = rows.div_ceil(group_rows);
    let got = run_pipeline(
        ctx,
        kernels,
        Kernel::fused(act),
        &pipeline,
        &params,
        &[
            Slot::Input(&x),
            Slot::Input(&y),
            Slot::Input(&t),
            Slot::Output(groups * (p + 1)),
        ],
    )
    .unwrap();
    let t64 = f64s(&t);
    let layers = [
        LayerView {
            inputs: f,
            outputs: h,
            weight: w_off as usize..b_off as usize,
            bias: b_off as usize..w2_off,
        },
        LayerView {
            inputs: h,
            outputs: 1,
            weight: w2_off..w2_off + h,
            bias: w2_off + h..p,
        },
    ];
    for g in 0..groups {
        let r = g * group_rows..((g + 1) * group_rows).min(rows);
        let n = r.len();
        let xg = f64s(&x[r.start * f..r.end * f]);
        let yg = f64s(&y[r.clone()]);
        let want = ops::fused(act, &layers, &xg, &yg, &t64, total, |v| v);
        // Σ|terms| of each entry, for the bound.
        let bound_terms = ops::fused(act, &layers, &xg, &yg, &t64, total, f64::abs);
        let sum = f64s(&got[0][g * (p + 1)..(g + 1) * (p + 1)]);
        // Entries before W1 belong to no parameter: the kernel leaves them 0.
        assert_eq!(&sum[..w_off as usize], &[0.0; 3], "fused wrote the padding");
        let name = format!("fused {act} {rows}x{f}x{h} R={group_rows} group {g}");
        let mut bound = sum_bound(&want, &bound_terms, n * h);
        bound[p] = 1e-5
            + 1e-4 * want[p]
            + 8.0 * 2f64.powi(-24) * (n as f64).log2().ceil().max(1.0) * want[p];
        assert_within(&name, &sum, &want, &bound);
    }
}
