//! What a training run needs in memory: the model, the backend's buffers,
//! L-BFGS's pairs and the validation scorer, estimated from the shapes and
//! checked against the machine's available memory (and, on a GPU, against
//! the adapter's buffer limits) before the model or any buffer is
//! allocated. The rows themselves are already loaded by then.

use anyhow::Result;

use super::config::TrainConfig;
use super::train::Device;
use crate::cpu::{Fast, Reference};
use crate::gpu::{self, GpuTrainer};
use crate::model::Layout;
use crate::optim::{lbfgs, Optimizer};
use crate::{memory, units};

/// What `--batch-size` adds on `rows` rows of `features` features: each
/// epoch's order of the rows, and the cpu backend's copy of the rows in
/// that order, or the reference's copy of one batch; on the GPU the
/// order's u32 upload and, on a software adapter (whose device memory is
/// the host's), the device's copy of every row and of one batch. `None` on
/// overflow.
fn mini_batch_bytes(
    batch: Option<usize>,
    holder: Holder,
    rows: usize,
    features: usize,
) -> Option<u64> {
    let order = memory::product(&[rows, std::mem::size_of::<usize>()]);
    let (copied, upload) = match (batch, holder) {
        (Some(_), Holder::Cpu) => (rows, 0),
        (Some(b), Holder::Reference) => (b.min(rows), 0),
        (Some(b), Holder::Gpu { software: true }) => (rows.checked_add(b.min(rows))?, rows),
        (Some(_), Holder::Gpu { software: false }) => (0, rows),
        (None, _) => return Some(0),
    };
    memory::sum(&[
        order,
        memory::product(&[upload, 4]),
        memory::product(&[copied, features.checked_add(1)?, 4]),
    ])
}

/// Where a run's mini-batch copies are held: what [`mini_batch_bytes`]
/// needs of a [`Device`].
#[derive(Clone, Copy)]
enum Holder {
    Cpu,
    Reference,
    /// A GPU; a software adapter's device memory is the host's.
    Gpu {
        software: bool,
    },
}

impl Holder {
    fn of(device: &Device) -> Holder {
        match device {
            Device::Cpu => Holder::Cpu,
            Device::Reference => Holder::Reference,
            Device::Gpu(ctx) => Holder::Gpu {
                software: gpu::context::is_software(&ctx.info),
            },
        }
    }
}

/// Refuses a run of a network of `layout` on `rows` (trained, held out)
/// on `device` that the machine cannot hold, naming the size and what to
/// do instead.
pub(super) fn check(
    config: &TrainConfig,
    device: &Device,
    layout: &Layout,
    rows: (usize, usize),
) -> Result<()> {
    let needs = needs(config, device, layout, rows)?;
    let (opt, p) = (&config.run.optimizer, layout.len());
    let advice =
        |have: Option<u64>| advice(opt, p, config.run.epochs, (needs.others, needs.rows), have);
    let what = || {
        format!(
            "training a {} → {} → 1 network ({}) on {} with the {} backend",
            layout.features(),
            layout.hidden_spec(),
            units::count(p, "parameter"),
            units::count(rows.0, "row"),
            needs.name
        )
    };
    memory::check_advising(needs.all, what, advice)?;
    Ok(())
}

/// The bytes [`check`] counts for a run (the rows themselves not
/// counted); `None` where the count overflows.
pub(super) fn run_bytes(
    config: &TrainConfig,
    device: &Device,
    layout: &Layout,
    rows: (usize, usize),
) -> Result<Option<u64>> {
    Ok(needs(config, device, layout, rows)?.all)
}

/// What a run needs, as [`check`] counts it.
struct Needs {
    /// Everything.
    all: Option<u64>,
    /// All but L-BFGS's vectors.
    others: Option<u64>,
    /// The training rows' share of `others`, where the host holds them.
    rows: Option<u64>,
    /// The backend's name.
    name: &'static str,
}

/// [`Needs`] of a run of a network of `layout` on `rows` (trained, held
/// out) on `device`.
fn needs(
    config: &TrainConfig,
    device: &Device,
    layout: &Layout,
    rows: (usize, usize),
) -> Result<Needs> {
    let (train, val) = rows;
    let opt = &config.run.optimizer;
    let p = layout.len();
    // The model, and the copy its final parameters are written from.
    let model = memory::product(&[2, p, 4]);
    let lbfgs = match opt {
        Optimizer::Lbfgs { .. } => lbfgs::bytes_needed(p, opt, config.run.epochs),
        _ => Some(0),
    };
    let (backend, name) = match device {
        Device::Cpu => (
            Fast::bytes_needed(layout, train, opt, config.threads),
            "cpu",
        ),
        Device::Reference => (Reference::bytes_needed(layout, train, opt), "reference"),
        Device::Gpu(ctx) => {
            // Every buffer within the adapter's limits, or the one that is not.
            let batches = config.run.batches();
            let plan =
                GpuTrainer::plan_with(ctx, layout, train, config.kernels, batches.is_some())?;
            // A software adapter's device memory is the host's; held-out
            // rows measured on the device take buffers of their own.
            let held = match (val, opt) {
                (0, _) | (_, Optimizer::Lbfgs { .. }) => 0,
                _ => GpuTrainer::held_out_bytes(ctx, layout, val, &plan)?,
            };
            let batches = match batches {
                Some(b) => GpuTrainer::batches_bytes(ctx, layout, train, &plan, b)?,
                None => 0,
            };
            let on_host = if gpu::context::is_software(&ctx.info) {
                plan.device_bytes(layout, train, opt.state_per_param()) + held + batches
            } else {
                0
            };
            // The parameters and the optimizer's state read back.
            let readback = memory::product(&[2 + opt.state_per_param(), p, 4]);
            (memory::sum(&[Some(on_host), readback]), "gpu")
        }
    };
    let holder = Holder::of(device);
    let shuffled = mini_batch_bytes(config.run.batch_size, holder, train, layout.features());
    let validation = match val {
        0 => Some(0),
        _ => Fast::bytes_needed(layout, val, opt, config.threads),
    };
    let need = memory::sum(&[model, lbfgs, backend, shuffled, validation]);
    let others = memory::sum(&[model, backend, shuffled, validation]);
    // The rows' share, where the host holds them for the run (not in a
    // hardware GPU's memory, which this budget does not count).
    let rows = match holder {
        Holder::Gpu { software: false } => Some(0),
        _ => memory::product(&[train, layout.features() + 1, 4]),
    };
    Ok(Needs {
        all: need,
        others,
        rows,
        name,
    })
}

/// What to shrink where a run of `p` parameters with `opt` does not fit
/// in `have`, its needs besides L-BFGS's vectors being `others`, of which
/// the training rows (their f32 values) are `rows`: L-BFGS's history where
/// one pair would fit; a first-order optimizer where L-BFGS's vectors
/// alone are too many (allowing Adam's two values a parameter, on the host
/// and read back); else the rows, first where they take half of `others`
/// or more, and the network.
fn advice(
    opt: &Optimizer,
    p: usize,
    epochs: usize,
    (others, rows): (Option<u64>, Option<u64>),
    have: Option<u64>,
) -> String {
    let fits = |more: Option<u64>| {
        memory::sum(&[others, more]).is_some_and(|n| have.is_none_or(|have| n <= have))
    };
    let at_one = match *opt {
        Optimizer::Lbfgs {
            lr,
            gtol,
            weight_decay,
            ..
        } => {
            let one = Optimizer::Lbfgs {
                lr,
                gtol,
                weight_decay,
                history_size: 1,
            };
            Some(lbfgs::bytes_needed(p, &one, epochs))
        }
        _ => None,
    };
    let adam = memory::product(&[4, p, 4]);
    if at_one.is_some_and(fits) {
        format!(
            "use a smaller --history-size (each pair it keeps is 2 vectors of {} in f64, {})",
            units::count(p, "value"),
            units::bytes(memory::product(&[2, p, 8]).unwrap_or(u64::MAX))
        )
    } else if let Some(one) = at_one.filter(|_| fits(adam)) {
        format!(
            "use a first-order --optimizer, such as adam: L-BFGS's vectors take {} even with --history-size 1",
            units::bytes(one.unwrap_or(u64::MAX))
        )
    } else if rows
        .zip(others)
        .is_some_and(|(r, o)| r > 0 && r.saturating_mul(2) >= o)
    {
        format!(
            "use fewer rows (their values alone take {}) or a smaller --hidden",
            units::bytes(rows.unwrap_or(u64::MAX))
        )
    } else {
        format!(
            "use a smaller --hidden (the parameters alone take {}) or fewer rows",
            units::bytes(memory::product(&[p, 4]).unwrap_or(u64::MAX))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L-BFGS's history where one pair fits; a first-order optimizer
    /// where L-BFGS's vectors alone do not (the default optimizer on a
    /// network gd trains); else the network, or the rows where they take
    /// most of the memory.
    #[test]
    fn advice_names_what_would_fit() {
        let lbfgs = Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 10,
            gtol: 1e-7,
            weight_decay: 0.0,
        };
        let p = 1_000_000;
        let others = Some(100_000_000);
        // Rows of 10 MB: a tenth of the rest.
        let rows = Some(10_000_000);
        let advice = |opt: &Optimizer, have: u64| advice(opt, p, 200, (others, rows), Some(have));
        // One pair: 14 vectors of 8 MB; ten: 32.
        assert!(advice(&lbfgs, 300_000_000).contains("use a smaller --history-size"));
        let first_order = advice(&lbfgs, 150_000_000);
        assert_eq!(first_order, "use a first-order --optimizer, such as adam: L-BFGS's vectors take 106.8 MiB even with --history-size 1");
        for (opt, have) in [(lbfgs, 110_000_000), (Optimizer::gd(0.1), 150_000_000)] {
            let e = advice(&opt, have);
            assert!(
                e.starts_with("use a smaller --hidden (the parameters alone take 3.8 MiB)"),
                "{e}"
            );
        }
        // Rows of 60 MB, more than half the rest: those first.
        let e = super::advice(
            &Optimizer::gd(0.1),
            p,
            200,
            (others, Some(60_000_000)),
            Some(150_000_000),
        );
        assert_eq!(
            e,
            "use fewer rows (their values alone take 57.2 MiB) or a smaller --hidden"
        );
        // Rows of exactly half the rest are named first too.
        let half = |rows| super::advice(&Optimizer::gd(0.1), p, 200, (others, rows), Some(1));
        assert!(half(Some(50_000_000)).starts_with("use fewer rows"));
        assert!(half(Some(49_999_999)).starts_with("use a smaller --hidden"));
        // A history of one pair that fits exactly is advised.
        let one = Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 1,
            gtol: 1e-7,
            weight_decay: 0.0,
        };
        // With the rest, `others`.
        let one = lbfgs::bytes_needed(p, &one, 200).unwrap() + 100_000_000;
        assert!(advice(&lbfgs, one).starts_with("use a smaller --history-size"));
        assert!(advice(&lbfgs, one - 1).starts_with("use a first-order --optimizer"));
    }

    /// A run refused for memory needs the model twice (the parameters and
    /// the copy its result is written from), the backend's buffers and the
    /// validation scorer's.
    #[test]
    fn a_refusal_counts_the_model_twice_the_backend_and_the_held_out_rows() {
        let config = crate::app::config::tests::config(&["--optimizer", "adam", "--threads", "2"]);
        // A trillion parameters, more than any machine here holds.
        let layout = Layout::new(1_000_000, &[1_000_000]).unwrap();
        let (train, val) = (1000, 100);
        let e = check(&config, &Device::Cpu, &layout, (train, val)).unwrap_err();
        let Some(crate::error::Error::NotEnoughMemory { need, .. }) = e.downcast_ref() else {
            panic!("{e:#}");
        };
        let opt = &config.run.optimizer;
        let fast = |rows| Fast::bytes_needed(&layout, rows, opt, 2).unwrap();
        let want = 2 * 4 * layout.len() as u64 + fast(train) + fast(val);
        assert_eq!(*need, Some(want));
    }

    #[test]
    fn mini_batches_count_the_order_its_upload_and_the_copied_rows() {
        let word = std::mem::size_of::<usize>() as u64;
        // 1,000 rows of 3 features and a target.
        assert_eq!(
            mini_batch_bytes(Some(10), Holder::Cpu, 1000, 3),
            Some(1000 * word + 1000 * 16)
        );
        assert_eq!(
            mini_batch_bytes(Some(10), Holder::Reference, 1000, 3),
            Some(1000 * word + 10 * 16)
        );
        assert_eq!(
            mini_batch_bytes(Some(5000), Holder::Reference, 1000, 3),
            Some(1000 * word + 1000 * 16)
        );
        // The GPU: the order's u32 upload; a software adapter also holds
        // every row and one batch in host memory.
        assert_eq!(
            mini_batch_bytes(Some(10), Holder::Gpu { software: false }, 1000, 3),
            Some(1000 * word + 1000 * 4)
        );
        assert_eq!(
            mini_batch_bytes(Some(10), Holder::Gpu { software: true }, 1000, 3),
            Some(1000 * word + 1000 * 4 + 1010 * 16)
        );
        assert_eq!(mini_batch_bytes(None, Holder::Cpu, 1000, 3), Some(0));
        assert_eq!(mini_batch_bytes(Some(1), Holder::Cpu, usize::MAX, 3), None);
    }
}
