//! Whole runs: GPU trajectories against the reference, bit-identical reruns,
//! chunked data, and device errors that come back as errors.

mod common;

use common::{assert_close, gpu, gpu_with, model, own_gpu};
use shadertrain::batches::MiniBatches;
use shadertrain::cpu::{Fast, Isa, Reference};
use shadertrain::data::Dataset;
use shadertrain::gpu::plan::Partials;
use shadertrain::gpu::Updates;
use shadertrain::gpu::{buffers, AdapterRequest, GpuTrainer, KernelChoice, KernelFamily, Source};
use shadertrain::model::{Activation, Model};
use shadertrain::optim::lbfgs::Objective;
use shadertrain::optim::LrSchedule;
use shadertrain::optim::Optimizer;
use shadertrain::train::{train, train_from, Backend, Hooks, Outcome, Schedule};
use shadertrain::Error;

fn schedule(epochs: usize) -> Schedule {
    Schedule {
        max_epochs: epochs,
        tol: 0.0,
    }
}

/// The reference's 100-epoch run: its losses and final parameters.
fn reference_run(m: &Model, data: &Dataset) -> (Outcome, Vec<f32>) {
    let mut cpu = Reference::new(m, data, Optimizer::gd(0.1)).unwrap();
    let out = train(&mut cpu, &schedule(100)).unwrap();
    (out, cpu.params().unwrap())
}

/// Trains `backend` for 100 epochs and holds its losses (rtol 1e-3) and
/// final parameters (atol 1e-4, rtol 1e-3) to the reference's.
fn assert_tracks(name: &str, backend: &mut dyn Backend, want: &(Outcome, Vec<f32>)) -> Outcome {
    let got = train(backend, &schedule(100)).unwrap();
    assert_close(
        &format!("{name} losses"),
        &got.losses,
        &want.0.losses,
        0.0,
        1e-3,
    );
    let f = |v: Vec<f32>| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let params = f(backend.params().unwrap());
    assert_close(
        &format!("{name} params"),
        &params,
        &f(want.1.clone()),
        1e-4,
        1e-3,
    );
    got
}

#[test]
fn gpu_trajectories_match_the_reference() {
    let Some(_) = gpu() else { return };
    // 300 rows: several row groups of 64, the last one partial.
    let data = Dataset::synthetic(300, 5, 3).unwrap();
    // One hidden layer through the fused and the layered kernels, two
    // through the layered ones.
    let cases = [
        (&[12][..], KernelChoice::Fused),
        (&[12][..], KernelChoice::Layered),
        (&[10, 6][..], KernelChoice::Layered),
        (&[10, 6][..], KernelChoice::Tiled),
    ];
    for act in Activation::ALL {
        for (hidden, choice) in cases {
            let m = model(&data, hidden, act, 4);
            let want = reference_run(&m, &data);
            let source = Source::Host(&data);
            let mut g =
                GpuTrainer::with(gpu().unwrap(), &m, source, Optimizer::gd(0.1), choice).unwrap();
            let family = g.family();
            let chosen = match choice {
                KernelChoice::Fused => matches!(family, KernelFamily::Fused(_)),
                KernelChoice::Tiled => family == KernelFamily::Tiled,
                _ => family == KernelFamily::Layered,
            };
            assert!(chosen, "{choice:?} ran {family:?}");
            let name = format!("{act} {hidden:?} {choice:?}");
            let got = assert_tracks(&name, &mut g, &want);
            assert_eq!(got.losses.len(), 101, "{name}");
            assert!(got.losses[100] < got.losses[0], "{name}: loss did not fall");
        }
    }
}

#[test]
fn gpu_reruns_are_bit_identical() {
    let Some(_) = gpu() else { return };
    let data = Dataset::synthetic(333, 4, 8).unwrap();
    for (hidden, choice) in [
        (&[9][..], KernelChoice::Fused),
        (&[9, 5][..], KernelChoice::Auto),
    ] {
        let m = model(&data, hidden, Activation::Sigmoid, 8);
        let run = || {
            let source = Source::Host(&data);
            let mut g =
                GpuTrainer::with(gpu().unwrap(), &m, source, Optimizer::gd(0.1), choice).unwrap();
            let out = train(&mut g, &schedule(40)).unwrap();
            (out.losses, g.params().unwrap())
        };
        let (l1, p1) = run();
        let (l2, p2) = run();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&l1), bits(&l2), "{hidden:?}");
        assert_eq!(
            p1.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            p2.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "{hidden:?}"
        );
    }
}

#[test]
fn convergence_stop_is_exact_on_the_gpu() {
    let Some(_) = gpu() else { return };
    let data = Dataset::synthetic(200, 3, 2).unwrap();
    let m = model(&data, &[8], Activation::Tanh, 2);
    let s = Schedule {
        max_epochs: 500,
        tol: 1e-3,
    };
    let mut g = GpuTrainer::new(gpu().unwrap(), &m, &data, Optimizer::gd(0.1)).unwrap();
    let out = train(&mut g, &s).unwrap();
    assert!(out.updates < 500, "never converged");
    // Running exactly that many epochs from scratch lands on the same parameters.
    let mut again = GpuTrainer::new(gpu().unwrap(), &m, &data, Optimizer::gd(0.1)).unwrap();
    let fixed = train(&mut again, &schedule(out.updates)).unwrap();
    assert_eq!(fixed.losses, out.losses);
    assert_eq!(again.params().unwrap(), g.params().unwrap());
}

#[test]
fn chunked_data_trains_like_one_binding() {
    // A 64 KiB binding limit cuts 3,000 rows of X into several chunks.
    let binding = Some(64 << 10);
    let Some(_) = gpu_with(binding) else { return };
    let data = Dataset::synthetic(3000, 7, 6).unwrap();
    // The fused kernel, then the layer-by-layer kernels.
    for (hidden, choice) in [
        (&[9][..], KernelChoice::Fused),
        (&[9, 5][..], KernelChoice::Auto),
    ] {
        let m = model(&data, hidden, Activation::Sigmoid, 6);
        let ctx = gpu_with(binding).unwrap();
        let source = Source::Host(&data);
        let mut g = GpuTrainer::with(ctx, &m, source, Optimizer::gd(0.1), choice).unwrap();
        assert!(g.plan().chunks.len() > 1, "{:?}", g.plan());
        let fused = matches!(g.family(), KernelFamily::Fused(_));
        assert_eq!(fused, hidden.len() == 1);
        // Held-out rows in several chunks of their own.
        let held = Dataset::synthetic(2500, 7, 9).unwrap();
        g.hold_out(&m, &held).unwrap();
        let mut scorer = Fast::new(&m, &held, Optimizer::gd(0.1), 1).unwrap();
        let want = scorer.loss_at(&g.params().unwrap());
        g.loss().unwrap();
        let name = format!("chunked held-out loss {hidden:?}");
        assert_close(&name, g.held_out().unwrap(), &[want], 0.0, 1e-5);
        let got = train(&mut g, &schedule(20)).unwrap();
        let mut cpu = Reference::new(&m, &data, Optimizer::gd(0.1)).unwrap();
        let want = train(&mut cpu, &schedule(20)).unwrap();
        let name = format!("chunked losses {hidden:?}");
        assert_close(&name, &got.losses, &want.losses, 0.0, 1e-3);
    }
}

/// Rows that are only measured (the whole set beside mini-batches, and
/// held-out rows) sum a loss partial per row group, not p + 1. Under a
/// 64 KiB binding, a row group of 1 input → 256 units (769 parameters)
/// holds at most 64 rows (65,536 / (4 · 256)), so 3,200 rows make 50
/// groups, whose gradient partials (154,000 bytes) a full-batch trainer
/// cannot hold; in batches of 64 (a chunk's rows) they train as the
/// reference does, with every family, and 3,200 held-out rows are
/// measured beside 640 training rows.
#[test]
fn measured_rows_need_no_gradient_partials() {
    let binding = 64 << 10;
    let Some(ctx) = gpu_with(Some(binding)) else {
        return;
    };
    let data = Dataset::synthetic(3200, 1, 6).unwrap();
    let m = model(&data, &[256], Activation::Tanh, 3);
    assert_eq!(m.layout.len(), 769);
    let opt = Optimizer::gd(0.01);
    let full = GpuTrainer::with(
        ctx.clone(),
        &m,
        Source::Host(&data),
        opt,
        KernelChoice::Layered,
    );
    match full.err() {
        Some(e @ Error::TooLarge { need: 154_000, .. }) => {
            assert!(e.to_string().ends_with("(train's --batch-size)"), "{e}");
        }
        e => panic!("expected the gradient partials refused, got {e:?}"),
    }
    let each = MiniBatches { size: 64, seed: 5 };
    let batches = Some(each);
    let updates = Updates {
        opt,
        schedule: LrSchedule::Constant,
        batches,
    };
    let mut reference = Reference::new(&m, &data, opt)
        .unwrap()
        .with_batches(batches);
    let want = train(&mut reference, &schedule(3)).unwrap();
    for choice in [
        KernelChoice::Layered,
        KernelChoice::Tiled,
        KernelChoice::Wide,
    ] {
        let source = Source::Host(&data);
        let mut g = GpuTrainer::with_updates(ctx.clone(), &m, source, updates, choice).unwrap();
        assert_eq!(g.plan().partials, Partials::Loss, "{choice:?}");
        assert_eq!(g.plan().groups, 50, "{choice:?}");
        // The batches' own buffers are counted: X, y and the order again,
        // and a batch's gradient partials (one group of 770 floats).
        let extra = GpuTrainer::batches_bytes(&ctx, &m.layout, 3200, g.plan(), each);
        assert!(extra.unwrap() >= 4 * (3 * 3200 + 770) as u64, "{choice:?}");
        let got = train(&mut g, &schedule(3)).unwrap();
        let name = format!("mini-batch losses {choice:?}");
        assert_close(&name, &got.losses, &want.losses, 0.0, 1e-4);
        // Nothing here computes a full-batch gradient.
        let e = g.evaluate(&m.params, &mut vec![0.0; 769]).unwrap_err();
        assert!(e.to_string().contains("no full-batch gradient"), "{e}");
    }
    let few = Dataset::synthetic(640, 1, 7).unwrap();
    let source = Source::Host(&few);
    let mut g = GpuTrainer::with(ctx, &m, source, opt, KernelChoice::Tiled).unwrap();
    g.hold_out(&m, &data).unwrap();
    g.loss().unwrap();
    let mut scorer = Fast::new(&m, &data, opt, 1).unwrap();
    let want = scorer.loss_at(&g.params().unwrap());
    assert_close("held-out loss", g.held_out().unwrap(), &[want], 0.0, 1e-5);
}

/// A binding cap above the adapter's is the adapter's own; a buffer of
/// the cap exactly is made, and one a value larger refused before the
/// device is asked.
#[test]
fn a_binding_cap_holds_a_buffer_of_its_size() {
    let Some(ctx) = gpu() else { return };
    let above = common::gpu_for(AdapterRequest {
        max_binding: Some(u64::MAX),
        ..AdapterRequest::default()
    })
    .expect("a cap above the adapter's opens at the adapter's");
    assert_eq!(above.max_binding(), ctx.max_binding());
    let cap = 64 << 10;
    let Some(capped) = gpu_with(Some(cap)) else {
        return;
    };
    assert_eq!(capped.max_binding(), cap);
    let fill = vec![1.0; cap as usize / 4];
    buffers::storage(&capped, "at_the_cap", fill.len()).unwrap();
    buffers::storage_with(&capped, "at_the_cap", &fill).unwrap();
    let past = [
        buffers::storage(&capped, "past_the_cap", fill.len() + 1).err(),
        buffers::storage_with(&capped, "past_the_cap", &[&fill[..], &[1.0]].concat()).err(),
    ];
    for e in past {
        match e {
            Some(Error::TooLarge { need, have, .. }) => assert_eq!((need, have), (cap + 4, cap)),
            e => panic!("expected TooLarge, got {e:?}"),
        }
    }
}

#[test]
fn what_cannot_fit_is_refused_before_any_work() {
    let Some(ctx) = gpu_with(Some(64 << 10)) else {
        return;
    };
    let data = Dataset::synthetic(10, 200, 1).unwrap();
    let m = model(&data, &[200], Activation::Sigmoid, 1);
    match GpuTrainer::new(ctx, &m, &data, Optimizer::gd(0.1)) {
        Err(Error::TooLarge { need, have, .. }) => assert!(need > have),
        Err(e) => panic!("expected TooLarge, got {e}"),
        Ok(_) => panic!("expected TooLarge, got a trainer"),
    }
}

#[test]
fn a_lost_device_is_an_error_not_a_panic() {
    // Its own device: the shared one must outlive this test's destroy.
    let Some(ctx) = own_gpu() else { return };
    let data = Dataset::synthetic(100, 3, 1).unwrap();
    let m = model(&data, &[4], Activation::Sigmoid, 1);
    let mut g = GpuTrainer::new(ctx, &m, &data, Optimizer::gd(0.1)).unwrap();
    let mut losses = Vec::new();
    g.run(2, &mut losses).unwrap();
    g.destroy_device();
    let err = g
        .run(2, &mut losses)
        .expect_err("a destroyed device still trained");
    assert!(
        matches!(
            err,
            Error::DeviceLost(_) | Error::Device(_) | Error::Validation { .. }
        ),
        "{err:?}"
    );
}

/// Errors outside any scope are kept in order: `check` reports the first
/// of them, and clears the rest with it.
#[test]
fn check_reports_the_first_error_outside_a_scope() {
    // Its own device: the errors are the device's, not this thread's.
    let Some(ctx) = own_gpu() else { return };
    for label in ["first_bad", "second_bad"] {
        // A mapped buffer for reading may only be copied into.
        let _invalid = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
    }
    match ctx.check() {
        Err(Error::Validation { label, message }) => {
            assert_eq!(label, "a submitted command");
            assert!(
                message.contains("first_bad") && !message.contains("second_bad"),
                "{message}"
            );
        }
        other => panic!("expected the first buffer's error, got {other:?}"),
    }
    assert!(ctx.check().is_ok(), "the second error was kept");
}

#[test]
fn a_validation_error_names_its_bind_group() {
    // Its own device: were the error to escape its scope, it would reach
    // the device's uncaptured errors, which another test could report.
    let Some(ctx) = own_gpu() else { return };
    let kernels = shadertrain::gpu::kernels::Kernels::new(&ctx).unwrap();
    // A storage buffer where the uniform block belongs.
    let wrong = shadertrain::gpu::buffers::storage(&ctx, "not_uniform", 16).unwrap();
    let other = shadertrain::gpu::buffers::storage(&ctx, "other", 16).unwrap();
    let err = kernels
        .bind_group(
            &ctx,
            shadertrain::gpu::kernels::Kernel::Reduce,
            "bad_group",
            &[
                wrong.as_entire_binding(),
                other.as_entire_binding(),
                other.as_entire_binding(),
            ],
        )
        .expect_err("a storage buffer was accepted as a uniform");
    match err {
        Error::Validation { label, .. } => assert_eq!(label, "bad_group"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn fast_cpu_trajectories_match_the_reference() {
    // 4,100 rows: a block holds at most 1,024 rows (`block_rows`), so each
    // thread sums its gradient over several blocks (5 on 1 thread, 2 of
    // them on 3), and the split is uneven for 3 threads.
    let data = Dataset::synthetic(4100, 5, 3).unwrap();
    for act in Activation::ALL {
        for hidden in [&[12][..], &[10, 6][..]] {
            let m = model(&data, hidden, act, 4);
            let want = reference_run(&m, &data);
            for threads in [1, 3] {
                let mut fast = Fast::new(&m, &data, Optimizer::gd(0.1), threads).unwrap();
                assert_tracks(
                    &format!("{act} {hidden:?} {threads} threads"),
                    &mut fast,
                    &want,
                );
            }
        }
    }
}

#[test]
fn fast_cpu_reruns_are_bit_identical() {
    let data = Dataset::synthetic(777, 4, 8).unwrap();
    let m = model(&data, &[9, 5], Activation::Sigmoid, 8);
    let run = || {
        let mut b = Fast::new(&m, &data, Optimizer::gd(0.1), 2).unwrap();
        let out = train(&mut b, &schedule(30)).unwrap();
        (out.losses, b.params().unwrap())
    };
    let (l1, p1) = run();
    let (l2, p2) = run();
    assert_eq!(l1, l2);
    assert_eq!(p1, p2);
}

/// The builds of the block code (`--cpu-isa`) are one computation compiled
/// for different instruction sets, so each gives the same bits; the test
/// covers every build this CPU runs (all three on an AVX-512 machine).
#[test]
fn every_cpu_build_gives_the_same_bits() {
    let data = Dataset::synthetic(700, 6, 2).unwrap();
    for act in Activation::ALL {
        let m = model(&data, &[33, 9], act, 5);
        let run = |isa: Isa| {
            let mut b = Fast::new(&m, &data, Optimizer::gd(0.5), 2)
                .unwrap()
                .with_isa(Some(isa))
                .unwrap();
            assert_eq!(b.isa(), isa);
            let out = train(&mut b, &schedule(25)).unwrap();
            (out.losses, b.params().unwrap())
        };
        let builds: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
        assert!(builds.contains(&Isa::Baseline) && builds.contains(&Isa::detect()));
        let want = run(Isa::Baseline);
        for isa in builds {
            assert_eq!(run(isa), want, "{act}: the {} build differs", isa.name());
        }
    }
}

#[test]
fn on_device_synthetic_data_trains_like_uploaded_data() {
    // A 64 KiB binding forces several chunks, so chunk offsets are exercised.
    let Some(ctx) = gpu_with(Some(64 << 10)) else {
        return;
    };
    // 16 features: X is the widest per-row buffer of the fused kernel.
    let data = Dataset::synthetic(3000, 16, 21).unwrap();
    let m = model(&data, &[8], Activation::Tanh, 21);
    let source = Source::Synthetic {
        rows: 3000,
        seed: 21,
        first: 0,
    };
    let mut on_device =
        GpuTrainer::with(ctx, &m, source, Optimizer::gd(0.1), KernelChoice::Fused).unwrap();
    assert!(on_device.plan().chunks.len() > 1);
    let got = train(&mut on_device, &schedule(30)).unwrap();
    let mut cpu = Reference::new(&m, &data, Optimizer::gd(0.1)).unwrap();
    let want = train(&mut cpu, &schedule(30)).unwrap();
    assert_close(
        "on-device synthetic losses",
        &got.losses,
        &want.losses,
        0.0,
        1e-3,
    );
}

/// Rows generated on the device are refused where there are none, as
/// rows uploaded are, with a configuration error.
#[test]
fn no_rows_to_generate_is_refused() {
    let Some(ctx) = gpu() else { return };
    let data = Dataset::synthetic(1, 3, 0).unwrap();
    let m = model(&data, &[4], Activation::Tanh, 1);
    let source = Source::Synthetic {
        rows: 0,
        seed: 1,
        first: 0,
    };
    let err = GpuTrainer::with(ctx, &m, source, Optimizer::gd(0.1), KernelChoice::Auto)
        .err()
        .expect("a trainer over no rows");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("the data set needs at least one row"),
        "{err}"
    );
}

#[test]
fn kernel_choice_is_honoured_or_refused() {
    let Some(ctx) = gpu() else { return };
    let hardware = ctx.info.device_type != wgpu::DeviceType::Cpu;
    let data = Dataset::synthetic(100, 40, 3).unwrap();
    // 40 inputs is more than the fused kernel takes: auto goes wide on
    // hardware GPUs (one hidden layer) and layered on CPU adapters, and
    // asking for fused says why not.
    let wide = model(&data, &[8], Activation::Sigmoid, 3);
    let g = GpuTrainer::new(ctx, &wide, &data, Optimizer::gd(0.1)).unwrap();
    let one_layer = if hardware {
        KernelFamily::Wide
    } else {
        KernelFamily::Layered
    };
    assert_eq!(g.family(), one_layer);
    let err = GpuTrainer::with(
        gpu().unwrap(),
        &wide,
        Source::Host(&data),
        Optimizer::gd(0.1),
        KernelChoice::Fused,
    )
    .err()
    .expect("40 inputs do not fit the fused kernel");
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("at most 32"), "{err}");
    let deep = model(&data, &[8, 4], Activation::Sigmoid, 3);
    assert!(GpuTrainer::with(
        gpu().unwrap(),
        &deep,
        Source::Host(&data),
        Optimizer::gd(0.1),
        KernelChoice::Fused
    )
    .is_err());
    // Two hidden layers: tiled on hardware GPUs, layered on CPU adapters.
    let g = GpuTrainer::new(gpu().unwrap(), &deep, &data, Optimizer::gd(0.1)).unwrap();
    let layer_by_layer = if hardware {
        KernelFamily::Tiled
    } else {
        KernelFamily::Layered
    };
    assert_eq!(g.family(), layer_by_layer);
    // A network that fits: fused on hardware GPUs, layered on CPU adapters.
    let narrow = Dataset::synthetic(100, 8, 3).unwrap();
    let m = model(&narrow, &[8], Activation::Sigmoid, 3);
    let g = GpuTrainer::new(gpu().unwrap(), &m, &narrow, Optimizer::gd(0.1)).unwrap();
    assert_eq!(matches!(g.family(), KernelFamily::Fused(_)), hardware);
}

/// The tiled family takes the output layer's weight gradient and backprop
/// with their own kernels (the same bits as the general ones, so no
/// trajectory test can tell); the layered family keeps the general ones.
#[test]
fn only_the_tiled_family_takes_the_output_layers_own_kernels() {
    let Some(_) = gpu() else { return };
    let data = Dataset::synthetic(300, 5, 3).unwrap();
    let m = model(&data, &[10, 6], Activation::Tanh, 4);
    let names = |choice| {
        let source = Source::Host(&data);
        let mut g =
            GpuTrainer::with(gpu().unwrap(), &m, source, Optimizer::gd(0.1), choice).unwrap();
        let times = g.profile().unwrap()?;
        Some(
            times
                .iter()
                .map(|(k, _)| k.entry_point())
                .collect::<Vec<_>>(),
        )
    };
    let (Some(tiled), Some(layered)) = (names(KernelChoice::Tiled), names(KernelChoice::Layered))
    else {
        // Mesa's lavapipe, CI's adapter, has them.
        assert!(!common::in_ci(), "CI=true and no timestamp queries");
        common::say_skipped(format_args!(
            "SKIPPED: the adapter has no timestamp queries to name the kernels by"
        ));
        return;
    };
    for want in [
        "weight_grad_output",
        "backprop_output_tanh",
        "weight_grad_tiled",
    ] {
        assert!(tiled.contains(&want), "tiled: {want} not in {tiled:?}");
        assert!(!layered.contains(&want), "layered: {want} in {layered:?}");
    }
    // The hidden layers' backprop and weight gradient stay general.
    assert!(tiled.contains(&"backprop_tanh"), "{tiled:?}");
    assert!(layered.contains(&"weight_grad"), "{layered:?}");
}

/// The epoch's output kernel is the subgroup form for an output layer of at
/// most `SUBGROUP_OUTPUT_MAX_INPUTS` inputs (the last hidden width), on a
/// device with subgroups, and the plain form for a wider one.
#[test]
fn the_output_kernel_follows_the_last_hidden_width() {
    let Some(ctx) = gpu() else { return };
    let most = shadertrain::gpu::kernels::SUBGROUP_OUTPUT_MAX_INPUTS;
    let data = Dataset::synthetic(64, 3, 3).unwrap();
    for last in [most, most + 1] {
        let m = model(&data, &[4, last], Activation::Tanh, 4);
        let source = Source::Host(&data);
        let mut g = GpuTrainer::with(
            ctx.clone(),
            &m,
            source,
            Optimizer::gd(0.1),
            KernelChoice::Layered,
        )
        .unwrap();
        let Some(times) = g.profile().unwrap() else {
            assert!(!common::in_ci(), "CI=true and no timestamp queries");
            common::say_skipped(format_args!(
                "SKIPPED: the adapter has no timestamp queries to name the kernels by"
            ));
            return;
        };
        let names: Vec<&str> = times.iter().map(|(k, _)| k.entry_point()).collect();
        let want = match ctx.subgroups() && last <= most {
            true => "output_residual_subgroup",
            false => "output_residual",
        };
        assert!(
            names.contains(&want),
            "last width {last}: {want} not in {names:?}"
        );
    }
    // Mesa's lavapipe, CI's adapter, has subgroups.
    assert!(
        ctx.subgroups() || !common::in_ci(),
        "CI=true and no subgroups"
    );
}

/// `--keep best` on a real backend: trains `epochs` epochs keeping the
/// best, then checks the kept parameters bit for bit against a fresh
/// backend (`fresh`) trained for just the kept epoch's updates, and that
/// the trained backend still holds its final parameters. The run must
/// bounce, so that the best is neither the first nor the last epoch's.
fn assert_keeps_best<'d>(
    name: &str,
    epochs: usize,
    fresh: &mut dyn FnMut() -> Box<dyn Backend + 'd>,
) {
    let mut b = fresh();
    let hooks = Hooks {
        keep_best: true,
        ..Hooks::default()
    };
    let out = train_from(b.as_mut(), &schedule(epochs), Vec::new(), hooks).unwrap();
    let kept = out.kept.clone().expect("kept parameters");
    let lowest = out.losses.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(kept.loss, lowest, "{name}: the kept loss is the lowest");
    assert_eq!(kept.loss, out.losses[kept.epoch], "{name}");
    assert!(
        0 < kept.epoch && kept.epoch < epochs,
        "{name}: the best is at epoch {} of {epochs}; the test needs a run that bounces: {:?}",
        kept.epoch,
        out.losses
    );
    let mut short = fresh();
    train(short.as_mut(), &schedule(kept.epoch)).unwrap();
    assert_eq!(
        bits(&kept.params),
        bits(&short.params().unwrap()),
        "{name}: the kept parameters are epoch {}'s",
        kept.epoch
    );
    let mut long = fresh();
    train(long.as_mut(), &schedule(epochs)).unwrap();
    assert_eq!(
        bits(&b.params().unwrap()),
        bits(&long.params().unwrap()),
        "{name}: final"
    );
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Rates high enough for the loss to bounce without diverging: Adam's
/// over full batches, momentum's over batches of 32.
const BOUNCY: Optimizer = Optimizer::Adam {
    lr: 0.5,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.0,
    decoupled: false,
    max_grad_norm: 0.0,
};
const BOUNCY_BATCHES: Optimizer = Optimizer::Momentum {
    lr: 0.2,
    momentum: 0.9,
    weight_decay: 0.0,
    max_grad_norm: 0.0,
};

#[test]
fn kept_parameters_are_those_of_their_epoch_on_the_cpu() {
    let data = Dataset::synthetic(200, 3, 4).unwrap();
    let m = model(&data, &[8], Activation::Tanh, 2);
    let batches = Some(MiniBatches { size: 32, seed: 5 });
    assert_keeps_best("reference", 39, &mut || {
        Box::new(Reference::new(&m, &data, BOUNCY).unwrap())
    });
    assert_keeps_best("reference in mini-batches", 40, &mut || {
        Box::new(
            Reference::new(&m, &data, BOUNCY_BATCHES)
                .unwrap()
                .with_batches(batches),
        )
    });
    assert_keeps_best("cpu in mini-batches", 40, &mut || {
        let cpu = Fast::new(&m, &data, BOUNCY_BATCHES, 2).unwrap();
        Box::new(cpu.with_batches(batches))
    });
}

/// On the GPU a batch of the loop runs many epochs, so the best is
/// usually inside one and read back by a rerun from its snapshot.
#[test]
fn kept_parameters_are_those_of_their_epoch_on_the_gpu() {
    let Some(_) = gpu() else { return };
    let data = Dataset::synthetic(200, 3, 4).unwrap();
    let m = model(&data, &[8], Activation::Tanh, 2);
    for (choice, opt, batches) in [
        (KernelChoice::Fused, BOUNCY, None),
        (KernelChoice::Layered, BOUNCY, None),
        (
            KernelChoice::Layered,
            BOUNCY_BATCHES,
            Some(MiniBatches { size: 32, seed: 5 }),
        ),
    ] {
        let updates = Updates {
            opt,
            schedule: LrSchedule::Constant,
            batches,
        };
        let name = format!("gpu {choice:?}, batches {batches:?}");
        assert_keeps_best(&name, 39, &mut || {
            let source = Source::Host(&data);
            Box::new(GpuTrainer::with_updates(gpu().unwrap(), &m, source, updates, choice).unwrap())
        });
    }
}

/// Held-out rows of another width than the model's are refused.
#[test]
fn held_out_rows_of_another_width_are_refused() {
    let Some(ctx) = gpu() else { return };
    let data = Dataset::synthetic(50, 5, 3).unwrap();
    let m = model(&data, &[6], Activation::Tanh, 4);
    let mut g = GpuTrainer::new(ctx, &m, &data, Optimizer::gd(0.1)).unwrap();
    let narrow = Dataset::synthetic(20, 4, 9).unwrap();
    let err = g.hold_out(&m, &narrow).unwrap_err().to_string();
    assert!(
        err.contains("the held-out rows have 4 features but the model takes 5"),
        "{err}"
    );
}

/// `--validation-split` on the GPU: the held-out rows' loss is measured on
/// the device before every epoch's update, and after [`Backend::loss`].
/// Each value is the held-out loss of the parameters at that epoch's start
/// (as the fast CPU pass scores them, to f32 rounding of a sum over 77
/// rows), and the series does not depend on how the epochs are batched.
#[test]
fn held_out_loss_is_measured_on_the_device_every_epoch() {
    let Some(_) = gpu() else { return };
    let data = Dataset::synthetic(300, 5, 3).unwrap();
    let held = Dataset::synthetic(77, 5, 9).unwrap();
    let batches = Some(MiniBatches { size: 64, seed: 5 });
    for (hidden, choice, batches) in [
        (&[12][..], KernelChoice::Fused, None),
        (&[12][..], KernelChoice::Wide, None),
        (&[10, 6][..], KernelChoice::Layered, None),
        (&[10, 6][..], KernelChoice::Tiled, None),
        (&[12][..], KernelChoice::Layered, batches),
    ] {
        let name = format!("{hidden:?} {choice:?} {batches:?}");
        let m = model(&data, hidden, Activation::Tanh, 4);
        let updates = Updates {
            opt: Optimizer::Adam {
                lr: 0.05,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                decoupled: false,
                max_grad_norm: 0.0,
            },
            schedule: LrSchedule::Constant,
            batches,
        };
        let fresh = || {
            let source = Source::Host(&data);
            let mut g =
                GpuTrainer::with_updates(gpu().unwrap(), &m, source, updates, choice).unwrap();
            g.hold_out(&m, &held).unwrap();
            g
        };
        let mut scorer = Fast::new(&m, &held, updates.opt, 1).unwrap();
        // One epoch per call: each measurement against the host's score of
        // the parameters it measured.
        let mut g = fresh();
        let (mut one_by_one, mut want) = (Vec::new(), Vec::new());
        for _ in 0..6 {
            want.push(scorer.loss_at(&g.params().unwrap()));
            g.run(1, &mut Vec::new()).unwrap();
            assert_eq!(g.held_out().map(<[f64]>::len), Some(1), "{name}");
            one_by_one.extend_from_slice(g.held_out().unwrap());
        }
        want.push(scorer.loss_at(&g.params().unwrap()));
        g.loss().unwrap();
        one_by_one.extend_from_slice(g.held_out().unwrap());
        assert_close(&name, &one_by_one, &want, 0.0, 1e-5);
        assert!(want[6] < want[0], "{name}: the held-out loss did not fall");
        // Six epochs in one call, then the final loss: the same bits.
        let mut g = fresh();
        let mut losses = Vec::new();
        g.run(6, &mut losses).unwrap();
        let mut together = g.held_out().unwrap().to_vec();
        g.loss().unwrap();
        together.extend_from_slice(g.held_out().unwrap());
        assert_eq!(
            common::bits64(&together),
            common::bits64(&one_by_one),
            "{name}"
        );
        assert_eq!(losses.len(), 6);
    }
}

/// The GPU backend refuses data and a model that disagree as the CPU
/// entry points do (below), with their messages.
#[test]
fn a_model_and_data_that_disagree_are_refused_on_the_gpu() {
    let Some(ctx) = gpu() else { return };
    let m = model(
        &Dataset::synthetic(1, 3, 0).unwrap(),
        &[8],
        Activation::Sigmoid,
        1,
    );
    let refused = |model: &Model, data: &Dataset, want: &str| {
        let e = GpuTrainer::new(ctx.clone(), model, data, Optimizer::gd(0.1))
            .err()
            .expect("accepted")
            .to_string();
        assert!(e.contains(want), "{e}");
    };
    for features in [2, 4] {
        let data = Dataset::synthetic(10, features, 0).unwrap();
        let want = format!("the data has {features} features but the model takes 3");
        refused(&m, &data, &want);
    }
    let mut short = m.clone();
    short.params.pop();
    let data = Dataset::synthetic(10, 3, 0).unwrap();
    refused(&short, &data, "holds 40 parameters but its layout needs 41");
}

/// Data whose features are not the model's in number, and a model whose
/// parameter block is not its layout's length, are errors for every CPU
/// entry point and for saving, not misaligned rows.
#[test]
fn a_model_and_data_that_disagree_are_refused() {
    let m = model(
        &Dataset::synthetic(1, 3, 0).unwrap(),
        &[8],
        Activation::Sigmoid,
        1,
    );
    // Every CPU entry point's error for `model` on `data`, which must say `want`.
    let assert_refused = |model: &Model, data: &Dataset, want: &str| {
        let errors = [
            Reference::new(model, data, Optimizer::gd(0.1)).err(),
            Fast::new(model, data, Optimizer::gd(0.1), 1).err(),
            shadertrain::cpu::reference::predict(model, data).err(),
        ];
        for e in errors {
            let e = e.expect("accepted").to_string();
            assert!(e.contains(want), "{e}");
        }
    };
    for features in [2, 4] {
        let data = Dataset::synthetic(10, features, 0).unwrap();
        let want = format!("the data has {features} features but the model takes 3");
        assert_refused(&m, &data, &want);
    }
    let empty = Dataset::synthetic(10, 3, 0).unwrap().slice(0..0);
    assert_refused(&m, &empty, "the data has no rows");
    let mut short = m.clone();
    short.params.pop();
    let data = Dataset::synthetic(10, 3, 0).unwrap();
    let want = "holds 40 parameters but its layout needs 41";
    assert_refused(&short, &data, want);
    let e = shadertrain::io::model_to_bytes(&short).expect_err("saved");
    assert!(e.to_string().contains(want), "{e}");
}
