//! The cheap wgpu settings: kernels built without wgpu's runtime checks
//! (`Kernel::checks`) train bit for bit as the checked build does, and a
//! dispatch outside an unchecked kernel's proven bounds is refused on the
//! host before it is recorded.

mod common;

use common::{gpu_for, model};
use shadertrain::data::Dataset;
use shadertrain::gpu::kernels::{Checks, Kernel, Kernels, Params};
use shadertrain::gpu::ops::{run, Slot};
use shadertrain::gpu::{AdapterRequest, Context, GpuTrainer, KernelChoice, Source};
use shadertrain::model::Activation;
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

fn bits32(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn bits64(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn unchecked_modules_train_bit_for_bit_as_checked_ones() {
    let Some(ctx) = device(false, None) else {
        return;
    };
    let kernels = Kernels::new(&ctx).unwrap();
    assert_eq!(kernels.checks(Kernel::WeightGrad), Checks::Unchecked);
    let forced = Kernels::new(&device(true, None).unwrap()).unwrap();
    assert!(Kernel::ALL
        .iter()
        .all(|&k| forced.checks(k) == Checks::Checked));
    // 3,000 rows: 47 row groups, so the reduce chain has a `reduce` stage;
    // with a 64 KiB binding the rows also come in several chunks.
    let data = Dataset::synthetic(3000, 7, 5).unwrap();
    let cases = [
        (&[9, 5][..], KernelChoice::Layered, None),
        (&[9, 5][..], KernelChoice::Tiled, None),
        (&[13][..], KernelChoice::Layered, Some(64 << 10)),
        (&[13][..], KernelChoice::Fused, None),
    ];
    for act in Activation::ALL {
        for (hidden, choice, max_binding) in cases {
            let m = model(&data, hidden, act, 3);
            let run = |checked| {
                let ctx = device(checked, max_binding).unwrap();
                let opt = Optimizer::Momentum {
                    lr: 0.05,
                    momentum: 0.9,
                };
                let source = Source::Host(&data);
                let mut g = GpuTrainer::with(ctx, &m, source, opt, choice).unwrap();
                let sched = Schedule {
                    max_epochs: 30,
                    tol: 0.0,
                };
                let out = train(&mut g, &sched).unwrap();
                (out.losses, g.params().unwrap())
            };
            let (l_checked, p_checked) = run(true);
            let (l_unchecked, p_unchecked) = run(false);
            let name = format!("{act} {hidden:?} {choice:?} {max_binding:?}");
            assert_eq!(bits64(&l_checked), bits64(&l_unchecked), "{name} losses");
            assert_eq!(bits32(&p_checked), bits32(&p_unchecked), "{name} params");
        }
    }
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
        let short = run(
            &ctx,
            &kernels,
            Kernel::Reduce,
            &p,
            &[Slot::Input(&source), Slot::Output(5)],
        );
        match short {
            Err(Error::Validation { message, .. }) => {
                assert!(message.contains("proven bounds"), "{message}")
            }
            other => panic!("a short dest was accepted: {other:?}"),
        }
        // A zero divisor is refused too.
        let p = Params {
            rows: 4,
            inputs: 2,
            outputs: 0,
            ..Params::default()
        };
        let zero = run(
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
    }
}
