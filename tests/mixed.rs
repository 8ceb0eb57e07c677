//! `--precision mixed` on an adapter with f16 cooperative matrices: the
//! epoch's loss and gradient against an f64 twin that rounds where the
//! kernels round, and training against the f32 run.
//!
//! Each test runs the mixed path twice where it can: with its products as
//! scalar sums (`Precision::MixedScalar`, on any adapter with f16, lavapipe
//! included), and through cooperative matrices (`Precision::Mixed`).
//! Bookworm's lavapipe (Mesa 22.3) offers no VK_KHR_cooperative_matrix, so
//! there that half prints why and skips. With SHADERTRAIN_REQUIRE_MIXED=1 a
//! missing configuration fails instead.
//!
//! Mesa 26.1's lavapipe offers 8x8x8 f16 -> f32 matrices. `.ci/coop-lavapipe`
//! installs it into a folder of its own, and
//! [`cooperative_kernels_run_on_a_cooperative_lavapipe`] runs this binary's
//! tests again under it with SHADERTRAIN_REQUIRE_MIXED=1; CI does both, so
//! the cooperative kernels run in CI. tests/shaders.rs also validates them
//! and compiles them to SPIR-V everywhere.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use common::{model, run_ok_out_err, run_refused, shadertrain};
use shadertrain::batches::MiniBatches;
use shadertrain::cpu::Fast;
use shadertrain::data::Dataset;
use shadertrain::gpu::kernels::{Family, Kernel, Kernels, Params};
use shadertrain::gpu::mixed::{
    self, pack_f16, round_f16, unpack_f16, Blocks, CoopBlocks, InputPad, Precision, Products,
    Shares, TILE, X_TAIL,
};
use shadertrain::gpu::ops::{self, Slot};
use shadertrain::gpu::{AdapterRequest, Context, GpuTrainer, KernelChoice, Source, Updates};
use shadertrain::model::{Activation, Model};
use shadertrain::optim::lbfgs::Objective;
use shadertrain::optim::{LrSchedule, Optimizer};
use shadertrain::train::{train, Backend, Schedule};

/// The device every test of this process shares for `precision`, or
/// `None` (with the reason on stderr) where the adapter cannot: for Mixed,
/// unless SHADERTRAIN_REQUIRE_MIXED=1; for MixedScalar and F32, unless
/// CI=true (lavapipe has f16).
fn mixed_gpu(precision: Precision) -> Option<Arc<Context>> {
    shared(request(precision))
}

/// The request for a device of `precision` on any adapter, lavapipe
/// included, with the settings of the environment unless a test sets them.
fn request(precision: Precision) -> AdapterRequest {
    AdapterRequest {
        allow_software: true,
        precision,
        ..AdapterRequest::default()
    }
}

/// [`mixed_gpu`] with the storage binding capped at `max_binding` bytes,
/// the f16 copies padding the inputs by `input_pad`, and ŷ's shares summed
/// by `shares`.
fn mixed_gpu_with(
    precision: Precision,
    max_binding: Option<u64>,
    input_pad: InputPad,
    shares: Shares,
) -> Option<Arc<Context>> {
    // The defaults as None, so those cases share mixed_gpu's device.
    shared(AdapterRequest {
        max_binding,
        input_pad: (input_pad != InputPad::Tile).then_some(input_pad),
        shares: (shares != Shares::Pass).then_some(shares),
        ..request(precision)
    })
}

/// [`mixed_gpu`] with each subgroup of the cooperative kernels holding
/// `blocks`, and ŷ's shares summed by `shares`.
fn mixed_gpu_blocks(
    precision: Precision,
    blocks: CoopBlocks,
    shares: Shares,
) -> Option<Arc<Context>> {
    shared(AdapterRequest {
        coop_blocks: Some(blocks),
        shares: (shares != Shares::Pass).then_some(shares),
        ..request(precision)
    })
}

/// One device per distinct request, opened on first use and shared by
/// every test of the process after: on an H200, a process that opened a
/// device per test (about thirty) found no adapter at all for its last
/// tests. Devices open one at a time: concurrent opening crashes some
/// drivers (wgpu #10234, NVIDIA on Vulkan). `None` (with the reason on
/// stderr) where the adapter cannot: for Mixed, unless
/// SHADERTRAIN_REQUIRE_MIXED=1; for MixedScalar and F32, unless CI=true
/// (lavapipe has f16).
fn shared(request: AdapterRequest) -> Option<Arc<Context>> {
    type Opened = HashMap<AdapterRequest, Result<Arc<Context>, String>>;
    static SHARED: LazyLock<Mutex<Opened>> = LazyLock::new(Default::default);
    let precision = request.precision;
    let opened = SHARED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(request.clone())
        .or_insert_with(|| {
            Context::new(&request)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone();
    let required = match precision {
        Precision::Mixed => std::env::var("SHADERTRAIN_REQUIRE_MIXED").is_ok_and(|v| v == "1"),
        _ => common::in_ci(),
    };
    match opened {
        Ok(ctx) => Some(ctx),
        Err(e) if required => panic!("no {precision:?} device: {e}"),
        Err(e) => {
            let also = match precision {
                Precision::Mixed => "; cooperative_kernels_run_on_a_cooperative_lavapipe runs it",
                _ => "",
            };
            common::say_skipped(format_args!("SKIPPED ({precision:?}): {e}{also}"));
            None
        }
    }
}

const BOTH: [Precision; 2] = [Precision::MixedScalar, Precision::Mixed];

/// Deterministic values in [-1, 1) that f16 holds exactly (multiples of
/// 2^-10): the kernels' products of them are exact in f32, so only the f32
/// sums differ from the f64 twin.
fn f16_exact(seed: u64, len: usize) -> Vec<f32> {
    common::uniform(seed, len, -1.0, 1.0)
        .iter()
        .map(|v| (v * 1024.0).round() / 1024.0)
        .collect()
}

fn pad(n: usize) -> usize {
    n.next_multiple_of(TILE as usize)
}

/// |got − want| within an f32 sum's error over `terms` terms of total
/// magnitude `magnitude`: terms·2^-24·magnitude, doubled, plus 1e-6 for
/// the activation.
fn assert_sum_close(what: &str, got: f32, want: f64, terms: usize, magnitude: f64) {
    let tol = 2.0 * terms as f64 * 2f64.powi(-24) * magnitude + 1e-6;
    assert!(
        (got as f64 - want).abs() <= tol,
        "{what}: {got} vs {want} (tolerance {tol})"
    );
}

#[test]
fn to_half_matches_twin() {
    for precision in BOTH {
        let Some(ctx) = mixed_gpu(precision) else {
            continue;
        };
        let kernels = Kernels::new(&ctx).unwrap();
        // A 5 × 3 matrix at offset 2 of its buffer, scaled by 8, into a
        // TILE × TILE zero-padded copy; values that round, and one past f16.
        // The copy starts as ones, as a buffer a longer chunk wrote before
        // would: the padding is written too, every row of it.
        let (rows, width, offset) = (5, 3, 2);
        let mut src = common::uniform(7, offset + rows * width, -3.0, 3.0);
        src[offset + 4] = 1e5;
        let ones = pack_f16(&vec![1.0; (TILE * TILE) as usize]);
        let params = Params {
            rows: rows as u32,
            inputs: width as u32,
            w_off: offset as u32,
            len: TILE,
            count: TILE,
            scale: 8.0,
            ..Params::default()
        };
        let out = ops::run(
            &ctx,
            &kernels,
            Kernel::ToHalf,
            &params,
            &[Slot::Input(&src), Slot::InOut(&ones)],
        )
        .unwrap();
        let half = unpack_f16(&out[0]);
        for r in 0..TILE as usize {
            for c in 0..TILE as usize {
                let want = if r < rows && c < width {
                    round_f16(8.0 * src[offset + r * width + c])
                } else {
                    0.0
                };
                assert_eq!(
                    half[r * TILE as usize + c],
                    want,
                    "{precision:?} ({r}, {c})"
                );
            }
        }
    }
}

#[test]
fn products_match_their_f64_twins() {
    // The scalar sums once; the cooperative ones with each shape of
    // blocks in the forward and, another, in the weight gradient (modules
    // of their own), and once with the same blocks in both (one module).
    let pairs = (0..Blocks::ALL.len())
        .map(|i| CoopBlocks {
            forward: Blocks::ALL[i],
            weight_grad: Blocks::ALL[(i + 1) % Blocks::ALL.len()],
        })
        .chain([CoopBlocks::both(Blocks { rows: 4, cols: 4 })]);
    // And ŷ's shares by subgroup shuffles at the default blocks and at
    // 4 × 4 (one subgroup per tile): the same A₁, shares that meet the
    // twin, and some of their bits not those of the pass (so the
    // shuffles ran).
    let shuffled = [
        CoopBlocks::DEFAULT,
        CoopBlocks::both(Blocks { rows: 4, cols: 4 }),
    ];
    let forms = std::iter::once((Precision::MixedScalar, CoopBlocks::DEFAULT, Shares::Pass))
        .chain(pairs.map(|b| (Precision::Mixed, b, Shares::Pass)))
        .chain(shuffled.map(|b| (Precision::Mixed, b, Shares::Shuffle)));
    let mut passed = HashMap::new();
    let can_shuffle = can_shuffle();
    for (precision, blocks, shares) in forms {
        if shares == Shares::Shuffle && !can_shuffle {
            continue;
        }
        let Some(ctx) = mixed_gpu_blocks(precision, blocks, shares) else {
            continue;
        };
        if let Some(Products::Coop { blocks: opened, .. }) = ctx.mixed {
            assert_eq!(opened, blocks, "the device's kernels hold what was asked");
            assert_eq!(ctx.shares, shares);
        }
        let kernels = Kernels::new(&ctx).unwrap();
        // 60 inputs padded to the tile, and 36 padded to 48
        // (InputPad::Block): the weight gradient's 64-wide tile then reads
        // past each row into the next, and past the last into the tail,
        // here NaNs, which no stored output may take up.
        for (inputs, input_pad) in [(60, InputPad::Tile), (36, InputPad::Block)] {
            let name = format!("{precision:?} {blocks} {input_pad:?} {shares:?}");
            let got = products_match(&ctx, &kernels, &name, inputs, input_pad);
            let key = (precision, blocks.forward, input_pad);
            match shares {
                Shares::Pass => drop(passed.insert(key, got)),
                Shares::Shuffle => assert!(
                    passed.get(&key).is_some_and(|p| *p != got),
                    "{name}: the shares are the pass's bits"
                ),
            }
        }
    }
}

/// Whether the cooperative adapter, if there is one, sums ŷ's shares by
/// subgroup shuffles (`Shares::usable`); where not, a visible message.
fn can_shuffle() -> bool {
    let Some(ctx) = mixed_gpu(Precision::Mixed) else {
        return false;
    };
    let (min, max) = (ctx.info.subgroup_min_size, ctx.info.subgroup_max_size);
    match Shares::Shuffle.usable(ctx.mixed.unwrap(), min, max) {
        Ok(_) => true,
        Err(e) => {
            common::say_skipped(format_args!("SKIPPED (Mixed, shuffle): {e}"));
            false
        }
    }
}

/// [`products_match_their_f64_twins`] for `inputs` padded by `input_pad`;
/// the bits of ŷ's shares, both activations'.
fn products_match(
    ctx: &Context,
    kernels: &Kernels,
    precision: &str,
    inputs: usize,
    input_pad: InputPad,
) -> Vec<u32> {
    let mut shares = Vec::new();
    // The forward: 70 rows, 70 outputs, padded to 128: two tiles each
    // way, the second partial. The weight gradient's 60 inputs reach
    // into the last patch across its 64-wide tile at every block shape
    // (columns 48 ..= 63 at 8 × 8 blocks, 2 across); 36 padded to 48
    // read past each row there.
    let (rows, outputs) = (70usize, 70usize);
    let (rp, ip, op) = (pad(rows), input_pad.pad(inputs), pad(outputs));
    let x = f16_exact(1, rows * inputs);
    let w = f16_exact(2, outputs * inputs);
    let b = common::uniform(3, outputs, -0.5, 0.5);
    let mut x_p = vec![0.0f32; rp * ip + X_TAIL];
    x_p[rp * ip..].fill(f32::NAN);
    let mut w_p = vec![0.0f32; op * ip];
    for r in 0..rows {
        x_p[r * ip..r * ip + inputs].copy_from_slice(&x[r * inputs..(r + 1) * inputs]);
    }
    for o in 0..outputs {
        w_p[o * ip..o * ip + inputs].copy_from_slice(&w[o * inputs..(o + 1) * inputs]);
    }
    for (kernel, act) in [
        (Kernel::ForwardCoopSigmoid, Activation::Sigmoid),
        (Kernel::ForwardCoopTanh, Activation::Tanh),
    ] {
        let params = Params {
            rows: rows as u32,
            inputs: inputs as u32,
            outputs: outputs as u32,
            b_off: 0,
            len: ip as u32,
            count: op as u32,
            ..Params::default()
        };
        let out = ops::run(
            ctx,
            kernels,
            kernel,
            &params,
            &[
                Slot::Input(&pack_f16(&x_p)),
                Slot::Input(&pack_f16(&w_p)),
                Slot::Input(&b),
                Slot::Output(rows * outputs),
            ],
        )
        .unwrap();
        for r in 0..rows {
            for o in 0..outputs {
                let terms =
                    (0..inputs).map(|i| x[r * inputs + i] as f64 * w[o * inputs + i] as f64);
                let z: f64 = terms.clone().sum::<f64>() + b[o] as f64;
                let magnitude: f64 = terms.map(f64::abs).sum();
                let want = match act {
                    Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
                    Activation::Tanh => z.tanh(),
                };
                let what = format!("{precision} {act:?} a[{r}, {o}]");
                assert_sum_close(&what, out[0][r * outputs + o], want, inputs, magnitude);
            }
        }
        // With ŷ's shares: the same A₁, bit for bit, and each row's
        // share of each 64 units, Σ a·w₂ (w₂ after b₁), against the f64
        // sum of that A₁'s terms.
        let w2 = common::uniform(5, outputs, -1.0, 1.0);
        let theta: Vec<f32> = b.iter().chain(&w2).copied().collect();
        let run_shares = || {
            ops::run(
                ctx,
                kernels,
                Kernel::forward_coop_shares(act),
                &Params {
                    dst_off: outputs as u32,
                    ..params
                },
                &[
                    Slot::Input(&pack_f16(&x_p)),
                    Slot::Input(&pack_f16(&w_p)),
                    Slot::Input(&theta),
                    Slot::Output(rows * outputs),
                    Slot::Output(2 * rows),
                ],
            )
            .unwrap()
        };
        let with_shares = run_shares();
        // A rerun's shares are the same bits.
        assert_eq!(
            common::bits32(&run_shares()[1]),
            common::bits32(&with_shares[1]),
            "{precision} {act:?} shares rerun"
        );
        let a1 = &with_shares[0];
        assert_eq!(
            common::bits32(a1),
            common::bits32(&out[0]),
            "{precision} {act:?} A₁ with shares"
        );
        for tile in 0..2 {
            for n in 0..rows {
                let cols = tile * 64..outputs.min((tile + 1) * 64);
                let terms = cols.map(|o| a1[n * outputs + o] as f64 * w2[o] as f64);
                let want: f64 = terms.clone().sum();
                let magnitude: f64 = terms.map(f64::abs).sum();
                let what = format!("{precision} {act:?} share {tile} of row {n}");
                let got = with_shares[1][tile * rows + n];
                assert_sum_close(&what, got, want, 64, magnitude);
            }
        }
        shares.extend(common::bits32(&with_shares[1]));
    }
    // The weight gradient: the same 70 rows in row groups of 64 (two
    // groups, the second partial), scaled back by 1/4, into partials
    // rows of stride 5000 at offset 7 (70 × 60 = 4200 values at most).
    let d = f16_exact(4, rows * outputs);
    let mut d_p = vec![0.0f32; rp * op];
    for r in 0..rows {
        d_p[r * op..r * op + outputs].copy_from_slice(&d[r * outputs..(r + 1) * outputs]);
    }
    let (stride, w_off, group_rows) = (5000usize, 7usize, 64usize);
    let params = Params {
        rows: rows as u32,
        inputs: inputs as u32,
        outputs: outputs as u32,
        w_off: w_off as u32,
        group_rows: group_rows as u32,
        group_base: 0,
        stride: stride as u32,
        len: ip as u32,
        count: op as u32,
        scale: 0.25,
        ..Params::default()
    };
    let out = ops::run(
        ctx,
        kernels,
        Kernel::WeightGradCoop,
        &params,
        &[
            Slot::Input(&pack_f16(&d_p)),
            Slot::Input(&pack_f16(&x_p)),
            Slot::Output(2 * stride),
        ],
    )
    .unwrap();
    for group in 0..2 {
        let range = group * group_rows..rows.min((group + 1) * group_rows);
        for o in 0..outputs {
            for i in 0..inputs {
                let terms = range
                    .clone()
                    .map(|n| d[n * outputs + o] as f64 * x[n * inputs + i] as f64);
                let want = 0.25 * terms.clone().sum::<f64>();
                let magnitude = 0.25 * terms.map(f64::abs).sum::<f64>();
                let got = out[0][group * stride + w_off + o * inputs + i];
                let what = format!("{precision} group {group} dW[{o}, {i}]");
                assert_sum_close(&what, got, want, range.len(), magnitude);
            }
        }
    }
    shares
}

/// Blocks the environment variable could not name, asked for through the
/// library's `AdapterRequest`, are refused where the adapter has
/// cooperative matrices (before a device opens), rather than leaving part
/// of each tile unwritten.
#[test]
fn blocks_outside_the_offered_shapes_are_refused() {
    if mixed_gpu(Precision::Mixed).is_none() {
        return;
    }
    for (rows, cols) in [(3, 2), (1, 1), (8, 2), (0, 4)] {
        let blocks = Blocks { rows, cols };
        let request = AdapterRequest {
            allow_software: true,
            precision: Precision::Mixed,
            coop_blocks: Some(CoopBlocks {
                forward: Blocks::ALL[0],
                weight_grad: blocks,
            }),
            ..AdapterRequest::default()
        };
        let err = Context::new(&request).err().map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("{blocks} was taken"));
        assert!(
            err.contains(&format!("2x2,{blocks}")) && err.contains("2 or 4"),
            "{blocks}: {err}"
        );
    }
}

/// The loss and gradient of the mixed epoch, in f64, rounding where the
/// kernels round: X and W₁ to f16 for the forward product, and
/// Δ₁·scale to f16 (then ÷ scale) for ∂W₁. Everything else is exact.
/// One hidden layer.
fn twin(m: &Model, data: &Dataset) -> (f64, Vec<f64>) {
    let layers = m.layout.layers();
    let (l1, l2) = (&layers[0], &layers[1]);
    let (f, h, n) = (l1.inputs, l1.outputs, data.rows);
    let p = &m.params;
    let scale = mixed::delta_scale(n) as f64;
    let h16 = |v: f32| round_f16(v) as f64;
    let mut grad = vec![0.0f64; p.len()];
    let mut loss = 0.0;
    for row in 0..n {
        let x = &data.x[row * f..(row + 1) * f];
        let a: Vec<f64> = (0..h)
            .map(|o| {
                let w = &p[l1.weight.start + o * f..][..f];
                let z: f64 = x.iter().zip(w).map(|(&x, &w)| h16(x) * h16(w)).sum::<f64>()
                    + p[l1.bias.start + o] as f64;
                match m.activation {
                    Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
                    Activation::Tanh => z.tanh(),
                }
            })
            .collect();
        let yhat: f64 = a
            .iter()
            .enumerate()
            .map(|(o, &a)| a * p[l2.weight.start + o] as f64)
            .sum::<f64>()
            + p[l2.bias.start] as f64;
        let e = yhat - data.y[row] as f64;
        loss += e * e / n as f64;
        let r = 2.0 * e / n as f64;
        grad[l2.bias.start] += r;
        for o in 0..h {
            grad[l2.weight.start + o] += r * a[o];
            let slope = match m.activation {
                Activation::Sigmoid => a[o] * (1.0 - a[o]),
                Activation::Tanh => 1.0 - a[o] * a[o],
            };
            let d = r * p[l2.weight.start + o] as f64 * slope;
            grad[l1.bias.start + o] += d;
            let d16 = round_f16((d * scale) as f32) as f64 / scale;
            for (i, &x) in x.iter().enumerate() {
                grad[l1.weight.start + o * f + i] += d16 * h16(x);
            }
        }
    }
    (loss, grad)
}

/// Σₙ |Δ₁[n, o]·X[n, i]| for each first-layer weight: the scale of the
/// one-f16-step differences the tolerance allows.
fn first_layer_magnitudes(m: &Model, data: &Dataset) -> Vec<f64> {
    let (_, g) = twin(
        &Model {
            params: m.params.iter().map(|w| w.abs()).collect(),
            ..m.clone()
        },
        &Dataset {
            x: data.x.iter().map(|x| x.abs()).collect(),
            y: data.y.iter().map(|y| -y.abs() - 10.0).collect(),
            ..data.clone()
        },
    );
    g
}

#[test]
fn mixed_gradient_matches_its_f64_twin() {
    for precision in BOTH {
        if mixed_gpu(precision).is_some() {
            gradient_matches_twin(precision);
        }
    }
}

fn gradient_matches_twin(precision: Precision) {
    // Widths and rows that are not multiples of the 64-wide tile or of a
    // row group, so the padding and the partial tiles are exercised.
    // A 32 KiB binding cuts the 200 rows into two chunks that share the f16
    // copies.
    let data = Dataset::synthetic(200, 24, 3).unwrap();
    // The 24 inputs pad to 64 by the tile and to 32 by InputPad::Block.
    let (tile, block) = (InputPad::Tile, InputPad::Block);
    let (pass, shuffle) = (Shares::Pass, Shares::Shuffle);
    let (sigmoid, tanh) = (Activation::Sigmoid, Activation::Tanh);
    let (auto, tiled, wide) = (KernelChoice::Auto, KernelChoice::Tiled, KernelChoice::Wide);
    let cut = Some(32 << 10);
    let cases = [
        (sigmoid, None, auto, tile, pass),
        (tanh, None, auto, tile, pass),
        (tanh, cut, auto, tile, pass),
        // Auto is wide on hardware GPUs (one hidden layer) and layered on
        // CPU adapters: the tiled mixed path asked for by name.
        (sigmoid, cut, tiled, tile, pass),
        (sigmoid, None, wide, tile, pass),
        (tanh, cut, wide, tile, pass),
        (sigmoid, cut, tiled, block, pass),
        (tanh, cut, wide, block, pass),
        // ŷ's shares by subgroup shuffles (the cooperative products only).
        (sigmoid, None, wide, tile, shuffle),
        (tanh, cut, wide, block, shuffle),
    ];
    let can_shuffle = precision != Precision::Mixed || can_shuffle();
    for (act, max_binding, kernels, input_pad, shares) in cases {
        if shares == Shares::Shuffle && !can_shuffle {
            continue;
        }
        let m = model(&data, &[40], act, 5);
        let opt = Optimizer::gd(0.1);
        let ctx = mixed_gpu_with(precision, max_binding, input_pad, shares).unwrap();
        assert_eq!(ctx.input_pad, input_pad);
        let shuffled = precision == Precision::Mixed && shares == Shares::Shuffle;
        assert_eq!(ctx.shares == Shares::Shuffle, shuffled);
        let mut g = GpuTrainer::with(ctx, &m, Source::Host(&data), opt, kernels).unwrap();
        if max_binding.is_some() {
            assert!(g.plan().chunks.len() > 1, "{:?}", g.plan());
        }
        let described = Objective::describe(&g);
        assert!(described.contains(", mixed "), "{described}");
        let padded = described.contains(", inputs padded to 16");
        assert_eq!(padded, input_pad == InputPad::Block, "{described}");
        let named = described.contains(", ŷ's shares by subgroup shuffles");
        assert_eq!(named, shuffled, "{described}");
        let mut grad = vec![0.0; m.params.len()];
        let loss = g.evaluate(&m.params, &mut grad).unwrap();
        let (want_loss, want) = twin(&m, &data);
        // The f32 arithmetic around the products: relative 1e-5, far above
        // its rounding (2^-24 per operation over at most 200 terms).
        assert!(
            (loss - want_loss).abs() <= 1e-5 * want_loss,
            "{precision:?} {act:?} {kernels:?} {input_pad:?} {shares:?}: loss {loss} vs {want_loss}"
        );
        // The loss pass copies each chunk's X to f16 itself, as the
        // gradient's does: after the gradient pass left the last chunk's
        // copy in place, it measures the same loss.
        let measured = g.loss().unwrap();
        assert!(
            (measured - loss).abs() <= 1e-6 * loss,
            "{precision:?} {act:?} {kernels:?} {input_pad:?} {shares:?}: loss pass {measured} vs {loss}"
        );
        // ∂W₁: an f32 Δ₁ a few ulps from the twin's may round to the
        // neighbouring f16, one f16 step (2^-11 relative) off for that row:
        // at most 2^-11·Σₙ|Δ₁·X| in all. The bound below is that plus the
        // f32 terms' 1e-5 relative.
        let bound = first_layer_magnitudes(&m, &data);
        let layers = m.layout.layers();
        for k in 0..m.params.len() {
            let tol = if layers[0].weight.contains(&k) {
                2f64.powi(-11) * bound[k] * 2.0 + 1e-5 * want[k].abs() + 1e-9
            } else {
                1e-5 * want[k].abs() + 1e-7
            };
            assert!(
                (grad[k] - want[k]).abs() <= tol,
                "{precision:?} {act:?} {kernels:?} {input_pad:?} {shares:?}: parameter {k}: {} vs {} (tolerance {tol})",
                grad[k],
                want[k]
            );
        }
    }
}

#[test]
fn mixed_training_follows_the_f32_run() {
    for precision in BOTH {
        if let Some(ctx) = mixed_gpu(precision) {
            training_follows_f32(ctx, precision);
        }
    }
}

fn training_follows_f32(mixed_ctx: Arc<Context>, precision: Precision) {
    let data = Dataset::synthetic(2048, 16, 4).unwrap();
    let m = model(&data, &[64], Activation::Tanh, 2);
    let opt = Optimizer::gd(0.1);
    let schedule = Schedule {
        max_epochs: 100,
        tol: 0.0,
    };
    let f32_ctx = mixed_gpu(Precision::F32).unwrap();
    assert_eq!(f32_ctx.info.name, mixed_ctx.info.name, "the same adapter");
    // Held-out rows, measured on the device in the same precision.
    let held = Dataset::synthetic(300, 16, 5).unwrap();
    let run = |ctx| {
        let mut g =
            GpuTrainer::with(ctx, &m, Source::Host(&data), opt, KernelChoice::Tiled).unwrap();
        g.hold_out(&m, &held).unwrap();
        let out = train(&mut g, &schedule).unwrap();
        let val = g.held_out().unwrap().to_vec();
        (out.losses, g.params().unwrap(), val)
    };
    let (mixed_losses, mixed_params, mixed_val) = run(mixed_ctx);
    let (f32_losses, _, f32_val) = run(f32_ctx);
    // The final held-out loss, as the host scores the mixed run's
    // parameters in f32 and as the f32 run measured its own.
    let host = Fast::new(&m, &held, opt, 1).unwrap().loss_at(&mixed_params);
    assert_eq!(mixed_val.len(), 1);
    for (what, want) in [("the host's", host), ("the f32 run's", f32_val[0])] {
        assert!(
            (mixed_val[0] - want).abs() <= 0.01 * want,
            "{precision:?}: held-out loss {} vs {what} {want}",
            mixed_val[0]
        );
    }
    // f16 keeps 11 significant bits: the products' inputs are off by at
    // most 2^-11 relative, so each epoch's loss moves by about 1e-3 of
    // itself; over 100 contracting gd epochs the runs stay within 1%.
    for (e, (a, b)) in mixed_losses.iter().zip(&f32_losses).enumerate() {
        assert!(
            (a - b).abs() <= 0.01 * b,
            "{precision:?} epoch {e}: mixed {a} vs f32 {b}"
        );
    }
    assert!(
        mixed_losses.last() < mixed_losses.first(),
        "mixed training lowers the loss"
    );
    assert!(mixed_params.iter().all(|w| w.is_finite()));
    // Reruns are bit-identical: fixed block order, fixed reductions.
    let again = run(mixed_gpu(precision).unwrap());
    assert_eq!(again.2, mixed_val);
    assert_eq!(again.0, mixed_losses);
}

/// `SHADERTRAIN_NO_SUBGROUPS` (the request's `subgroups: false`) reaches
/// the output layer's kernel under mixed precision too, though the
/// cooperative kernels open the device with subgroups (the scalar
/// products do not): the run's profile names output_residual, where the
/// default's names its subgroup form.
#[test]
fn mixed_without_subgroups_takes_the_output_kernel_without_them() {
    let data = Dataset::synthetic(256, 8, 3).unwrap();
    let m = model(&data, &[16], Activation::Tanh, 4);
    let outputs = |ctx: Arc<Context>| -> Option<Vec<&'static str>> {
        let source = Source::Host(&data);
        let mut g =
            GpuTrainer::with(ctx, &m, source, Optimizer::gd(0.1), KernelChoice::Tiled).unwrap();
        let times = g.profile().unwrap()?;
        let names = times.iter().map(|(k, _)| k.entry_point());
        Some(names.filter(|n| n.starts_with("output_")).collect())
    };
    for precision in BOTH {
        let Some(off) = shared(AdapterRequest {
            subgroups: false,
            ..request(precision)
        }) else {
            continue;
        };
        let on = mixed_gpu(precision).unwrap();
        assert!(!off.subgroups(), "{precision:?}");
        // Opened with subgroups where the cooperative kernels need them,
        // and only there.
        assert_eq!(
            off.has_subgroups(),
            matches!(off.mixed, Some(Products::Coop { .. })),
            "{precision:?}"
        );
        let Some(without) = outputs(off) else {
            assert!(!common::in_ci(), "CI=true and no timestamp queries");
            common::say_skipped(format_args!(
                "SKIPPED: the adapter has no timestamp queries to name the kernels by"
            ));
            return;
        };
        assert_eq!(without, ["output_residual"], "{precision:?}");
        if on.subgroups() {
            let with = outputs(on).unwrap();
            assert_eq!(with, ["output_residual_subgroup"], "{precision:?}");
        }
    }
}

/// Set for the run [`cooperative_kernels_run_on_a_cooperative_lavapipe`]
/// starts, so that run does not start another.
const UNDER_COOP_LAVAPIPE: &str = "SHADERTRAIN_UNDER_COOP_LAVAPIPE";

/// `info --pipelines` (gpu::stats) builds the mixed kernels through Vulkan
/// calls of its own, on a device with the features wgpu opens for them
/// (f16, and cooperative matrices for Mixed), with the pipeline
/// constants they run with: the driver accepts each.
#[test]
fn mixed_kernels_build_for_the_pipeline_statistics() {
    use shadertrain::gpu::stats::pipeline_statistics;
    for precision in BOTH {
        let Some(ctx) = mixed_gpu(precision) else {
            continue;
        };
        let kernels = Kernels::new(&ctx).unwrap();
        let mixed: Vec<Kernel> = Kernel::ALL
            .iter()
            .copied()
            .filter(|k| k.family() == Family::Mixed)
            .collect();
        let report = pipeline_statistics(&ctx, &kernels, &mixed).unwrap();
        let got: Vec<Kernel> = report.pipelines.iter().map(|p| p.kernel).collect();
        assert_eq!(got, mixed, "{precision:?}");
        for p in &report.pipelines {
            // The constants a device of the default settings builds with,
            // and the entry point's own bindings.
            let value = |name| p.constants.iter().find(|c| c.0 == name).map(|c| c.1);
            assert_eq!(value("DELTA"), Some(128.0), "{:?}", p.kernel);
            assert_eq!(value("SHARES"), Some(0.0), "{:?}", p.kernel);
            assert!(value("COOP").is_some_and(|n| n >= 32.0), "{:?}", p.kernel);
            assert_eq!(p.bindings, p.kernel.bindings(), "{:?}", p.kernel);
        }
        // The weight gradient's own module where its blocks differ.
        let weight_grad = &report.pipelines[got
            .iter()
            .position(|&k| k == Kernel::WeightGradCoop)
            .unwrap()];
        if let Products::Coop { blocks, .. } = ctx.mixed.unwrap() {
            assert_eq!(
                weight_grad.module != "mixed.wgsl",
                blocks.forward != blocks.weight_grad,
                "{}",
                weight_grad.module
            );
        }
    }
}

/// This binary's tests again, under the lavapipe `.ci/coop-lavapipe`
/// installs (Mesa 26.1, 8x8x8 f16 -> f32) and with
/// SHADERTRAIN_REQUIRE_MIXED=1, so each test's `Precision::Mixed` half runs
/// the cooperative kernels against its f64 twin instead of skipping. Where
/// that lavapipe is not installed the test prints why and skips, except
/// under CI=true, where it fails.
#[test]
fn cooperative_kernels_run_on_a_cooperative_lavapipe() {
    if std::env::var_os(UNDER_COOP_LAVAPIPE).is_some() {
        return;
    }
    let dir = common::coop_lavapipe();
    let run = dir.join("run");
    if !run.is_file() {
        let why = format!(
            "no lavapipe with cooperative matrices in {}; install one with .ci/coop-lavapipe",
            dir.display()
        );
        assert!(!common::in_ci(), "CI=true: {why}");
        common::say_skipped(format_args!("SKIPPED (cooperative lavapipe): {why}"));
        return;
    }
    // argv[0] rather than current_exe(), which is the loader where this
    // binary itself runs under one (`run mixed-…` names ld-linux).
    let this = std::env::args_os()
        .next()
        .map_or_else(|| std::env::current_exe().unwrap(), Into::into);
    let out = std::process::Command::new(&run)
        .arg(&this)
        .args(["--test-threads", "2"])
        // Its own run's CLI children would not find that driver.
        .args(["--skip", "precision_mixed_is_an_error"])
        .env("SHADERTRAIN_REQUIRE_MIXED", "1")
        .env(UNDER_COOP_LAVAPIPE, "1")
        .output()
        .unwrap_or_else(|e| panic!("{} {}: {e}", run.display(), this.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = format!("{stdout}\n{stderr}");
    assert!(out.status.success(), "under {}:\n{log}", run.display());
    assert!(!log.contains("SKIPPED"), "a test skipped:\n{log}");
    for name in [
        "to_half_matches_twin",
        "products_match_their_f64_twins",
        "blocks_outside_the_offered_shapes_are_refused",
        "mixed_gradient_matches_its_f64_twin",
        "mixed_training_follows_the_f32_run",
        "wide_kernels_match_their_twins",
        "mixed_kernels_build_for_the_pipeline_statistics",
        "mixed_without_subgroups_takes_the_output_kernel_without_them",
    ] {
        assert!(
            stdout.contains(&format!("test {name} ... ok")),
            "{name}:\n{log}"
        );
    }
}

/// A checkpoint of a mixed run records its precision, and a resume on the
/// GPU without `--precision` takes it, with a notice, and goes on bit for
/// bit; with `--precision f32` it goes on in other bits, and an f32
/// checkpoint resumed with `--precision mixed` says it will. The program
/// runs under `.ci/coop-lavapipe`'s lavapipe (skipped, visibly, where it is
/// not installed; a failure under CI=true).
#[test]
fn a_resume_keeps_the_precision_of_the_run() {
    if std::env::var_os(UNDER_COOP_LAVAPIPE).is_some() {
        return;
    }
    let run = common::coop_lavapipe().join("run");
    if !run.is_file() {
        let why = format!("no lavapipe with cooperative matrices at {}", run.display());
        assert!(!common::in_ci(), "CI=true: {why}");
        common::say_skipped(format_args!("SKIPPED (cooperative lavapipe): {why}"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (whole, ck, resumed, in_f32, ck32) = (
        at("whole.st"),
        at("ck.st"),
        at("r.st"),
        at("f.st"),
        at("ck32.st"),
    );
    // Runs the program under the cooperative lavapipe: its stderr.
    let program = |args: &[&str]| {
        let out = std::process::Command::new(&run)
            .arg(env!("CARGO_BIN_EXE_shadertrain"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {err}");
        err
    };
    let train = |more: &[&str]| {
        let new = [
            "train",
            "--synthetic",
            "300",
            "--features",
            "5",
            "--hidden",
            "12",
            "--backend",
            "gpu",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
        ];
        program(&[&new[..], more].concat())
    };
    let resume = |from: &str, more: &[&str]| {
        program(&[&["train", "--resume", from, "--epochs", "6"][..], more].concat())
    };
    let mixed = ["--precision", "mixed"];
    train(&[&mixed[..], &["--epochs", "6", "--save", &whole]].concat());
    train(&[&mixed[..], &["--epochs", "3", "--checkpoint", &ck]].concat());
    let err = resume(&ck, &["--save", &resumed]);
    assert!(
        err.contains("notice: --precision mixed, as the run that wrote"),
        "{err}"
    );
    common::assert_same_file(&whole, &resumed, "resumed against the run not stopped");
    let err = resume(&ck, &["--precision", "f32", "--save", &in_f32]);
    assert!(!err.contains("--precision mixed, as the run"), "{err}");
    // On the system's adapter, without cooperative matrices (Debian 12's
    // lavapipe), the checkpoint's precision, not asked for, falls back to
    // f32 with a notice rather than failing, which says it is not bit for
    // bit (the notice before it said the run would be).
    if common::have_gpu() {
        let args = [
            "train",
            "--resume",
            &ck,
            "--epochs",
            "6",
            "--backend",
            "gpu",
        ];
        let (ok, out, err) = shadertrain(&args);
        assert!(ok, "{err}");
        // (An adapter that has them goes on mixed.)
        if !out.contains(", mixed ") {
            let says = "notice: training in f32, not in the checkpoint's mixed precision, so not bit for bit: ";
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("use --precision f32"), "{err}");
        }
    }
    assert_ne!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&in_f32).unwrap()
    );
    // An f32 checkpoint resumed in mixed precision.
    train(&["--epochs", "3", "--checkpoint", &ck32]);
    let err = resume(&ck32, &mixed);
    let says = "records no mixed precision (its run trained in f32, or it was written before checkpoints recorded it), so --precision mixed goes on from it in other bits";
    assert!(err.contains(says), "{err}");
}

/// `train --synthetic 64 --features 3 --hidden 4 --epochs 2 --precision
/// mixed`, with `--backend BACKEND` where one is given (else the default,
/// auto).
fn train_mixed(backend: Option<&str>) -> Vec<&str> {
    let mut args = vec![
        "train",
        "--synthetic",
        "64",
        "--features",
        "3",
        "--hidden",
        "4",
        "--epochs",
        "2",
    ];
    if let Some(backend) = backend {
        args.extend(["--backend", backend]);
    }
    args.extend(["--precision", "mixed"]);
    args
}

/// Runs everywhere: the command line's answers where the adapter has no
/// f16 cooperative matrices.
#[test]
fn precision_mixed_is_an_error_on_gpu_and_falls_back_under_auto() {
    let (_, err) = run_refused(&train_mixed(Some("cpu")));
    assert!(
        err.contains("--precision mixed runs on the GPU backend"),
        "{err}"
    );
    // Without any adapter this half skips (under CI=true it fails).
    if mixed_gpu(Precision::Mixed).is_some() || !common::have_gpu() {
        return;
    }
    let (ok, _, err) = shadertrain(&train_mixed(Some("gpu")));
    assert!(!ok);
    assert!(
        err.contains("--precision mixed: ") && err.contains("use --precision f32"),
        "{err}"
    );
    let (out, err) = run_ok_out_err(&train_mixed(None));
    // It goes on in f32 without being asked to: no advice to ask.
    assert!(err.contains("in f32"), "{err}");
    assert!(!err.contains("use --precision f32"), "{err}");
    assert!(out.contains("f32"), "{out}");
}

#[test]
fn wide_kernels_match_their_twins() {
    // delta_half in each of its slicings: the same f16 Δ₁ bit for bit, and
    // sums that meet the twin, added otherwise than in one slice (some of
    // their bits differ, so the slices ran).
    let (mut first_copy, mut one_slice) = (HashMap::new(), HashMap::new());
    for (precision, slices) in BOTH
        .iter()
        .flat_map(|&p| mixed::DELTA_SLICES.map(|n| (p, n)))
    {
        // One slice as None, the default, so it shares mixed_gpu's device.
        let Some(ctx) = shared(AdapterRequest {
            delta_slices: (slices != 1).then_some(slices),
            ..request(precision)
        }) else {
            continue;
        };
        assert_eq!(ctx.delta_slices, slices);
        // Named where they are not one slice.
        let name = ctx.mixed_name().unwrap();
        let sliced = format!(", delta_half in {slices} slices");
        assert_eq!(name.contains(&sliced), slices != 1, "{name}");
        let precision = format!("{precision:?}, {slices} slices");
        let kernels = Kernels::new(&ctx).unwrap();
        // 100 rows of 70 units: two blocks of units and two row groups of 64
        // (the second partial).
        let (rows, units, group_rows) = (100usize, 70usize, 64usize);
        let (w2_off, b1_off, stride) = (10usize, 500usize, 1000usize);
        let a1 = common::uniform(11, rows * units, -1.0, 1.0);
        let r = common::uniform(12, rows, -0.01, 0.01);
        let mut theta = common::uniform(13, w2_off + units, -1.0, 1.0);
        theta[..w2_off].fill(0.0);
        let w2 = &theta[w2_off..];
        let base = Params {
            rows: rows as u32,
            outputs: units as u32,
            dst_off: w2_off as u32,
            b_off: b1_off as u32,
            group_rows: group_rows as u32,
            stride: stride as u32,
            count: pad(units) as u32,
            scale: 64.0,
            ..Params::default()
        };
        // The copy starts full of another chunk's values (ones): the kernel
        // must zero its padding.
        let stale = vec![f32::from_bits(0x3c00_3c00); pad(rows) * pad(units) / 2];
        for act in [Activation::Sigmoid, Activation::Tanh] {
            let kernel = Kernel::delta_half(act);
            let out = ops::run(
                &ctx,
                &kernels,
                kernel,
                &base,
                &[
                    Slot::InOut(&stale),
                    Slot::Input(&theta),
                    Slot::Output(2 * stride),
                    Slot::Input(&a1),
                    Slot::Input(&r),
                ],
            )
            .unwrap();
            let (half, partials) = (unpack_f16(&out[0]), &out[1]);
            let copy = (ctx.mixed.map(|p| p.name()), act);
            let bits = common::bits32(&half);
            assert_eq!(
                first_copy
                    .entry(copy.clone())
                    .or_insert_with(|| bits.clone()),
                &bits,
                "{precision} {act:?}: the f16 Δ₁ differs between slicings"
            );
            let sums = common::bits32(partials);
            match slices {
                1 => drop(one_slice.insert(copy, sums)),
                _ => assert!(
                    one_slice.get(&copy) != Some(&sums),
                    "{precision} {act:?}: the sums are one slice's bits"
                ),
            }
            let slope = |a: f64| match act {
                Activation::Sigmoid => a * (1.0 - a),
                Activation::Tanh => 1.0 - a * a,
            };
            let delta =
                |n: usize, o: usize| r[n] as f64 * w2[o] as f64 * slope(a1[n * units + o] as f64);
            for n in 0..pad(rows) {
                for o in 0..pad(units) {
                    let got = half[n * pad(units) + o] as f64;
                    if n >= rows || o >= units {
                        assert_eq!(got, 0.0, "{precision} {act:?} padding ({n}, {o})");
                        continue;
                    }
                    // The f32 Δ₁ may round to the f16 next to the f64 one's.
                    let want = 64.0 * delta(n, o);
                    let tol = 2f64.powi(-10) * want.abs() + 1e-7;
                    assert!(
                        (got - want).abs() <= tol,
                        "{precision} {act:?} f16 Δ₁ ({n}, {o}): {got} vs {want}"
                    );
                }
            }
            for group in 0..2 {
                let range = group * group_rows..rows.min((group + 1) * group_rows);
                for o in 0..units {
                    let db = range.clone().map(|n| delta(n, o));
                    let dw = range
                        .clone()
                        .map(|n| r[n] as f64 * a1[n * units + o] as f64);
                    let row = &partials[group * stride..];
                    let what = format!("{precision} {act:?} group {group} ∂b1[{o}]");
                    let (want, mag) = (db.clone().sum(), db.map(f64::abs).sum());
                    assert_sum_close(&what, row[b1_off + o], want, range.len(), mag);
                    let what = format!("{precision} {act:?} group {group} ∂w2[{o}]");
                    let (want, mag) = (dw.clone().sum(), dw.map(f64::abs).sum());
                    assert_sum_close(&what, row[w2_off + o], want, range.len(), mag);
                }
            }
        }
    }
}

/// Values f16 cannot hold: a feature past 65504 is refused before any
/// epoch, naming it; a target so far from 0 that the scaled error terms
/// overflow f16 makes the first update's parameters NaN, which the loss
/// shows, so the run diverges at once (it trained on with NaN weights
/// and a finite loss).
#[test]
fn values_past_f16_are_refused_or_diverge() {
    for precision in BOTH {
        let Some(ctx) = mixed_gpu(precision) else {
            continue;
        };
        let mut data = Dataset::synthetic(200, 3, 1).unwrap();
        let m = model(&data, &[8], Activation::Tanh, 2);
        let opt = Optimizer::gd(1e-9);
        let mut wide = data.clone();
        wide.x[4] = -1e5;
        let source = Source::Host(&wide);
        let refused = GpuTrainer::with(ctx.clone(), &m, source, opt, KernelChoice::Auto);
        let e = refused.err().unwrap().to_string();
        assert!(
            e.contains("feature 'x1' holds -100000 (training row 2)"),
            "{precision:?}: {e}"
        );
        // Held-out rows measured on the device are f16 there too.
        let source = Source::Host(&data);
        let mut g = GpuTrainer::with(ctx.clone(), &m, source, opt, KernelChoice::Auto).unwrap();
        let e = g.hold_out(&m, &wide).err().unwrap().to_string();
        assert!(
            e.contains("feature 'x1' holds -100000 (held-out row 2)"),
            "{precision:?}: {e}"
        );
        for y in &mut data.y {
            *y = *y * 1e5 + 5e5;
        }
        let source = Source::Host(&data);
        let mut g = GpuTrainer::with(ctx, &m, source, opt, KernelChoice::Auto).unwrap();
        let schedule = Schedule {
            max_epochs: 3,
            tol: 0.0,
        };
        let e = train(&mut g, &schedule).unwrap_err();
        let diverged = matches!(e, shadertrain::Error::Diverged { epoch: 1, .. });
        assert!(diverged, "{precision:?}: {e:?}");
    }
}

/// Mini-batches on the GPU run in f32: on a device opened for mixed
/// precision they are refused, saying so, rather than run in f32 under
/// the mixed device's name.
#[test]
fn mini_batches_on_a_mixed_device_are_refused() {
    let Some(ctx) = mixed_gpu(Precision::MixedScalar) else {
        return;
    };
    let data = Dataset::synthetic(100, 3, 1).unwrap();
    let m = model(&data, &[8], Activation::Tanh, 2);
    let updates = Updates {
        opt: Optimizer::gd(0.1),
        schedule: LrSchedule::Constant,
        batches: Some(MiniBatches { size: 32, seed: 5 }),
    };
    let source = Source::Host(&data);
    let err = GpuTrainer::with_updates(ctx, &m, source, updates, KernelChoice::Auto)
        .err()
        .expect("mini-batches on a mixed device");
    assert!(
        err.to_string()
            .contains("mini-batches on the GPU run in f32; leave out --precision"),
        "{err}"
    );
}
