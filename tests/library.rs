//! The library used on its own, as a Rust program would: what the
//! backends, `save_model` and `Dataset::fold` refuse instead of training
//! wrongly, panicking, or writing a file `load_model` cannot read.

mod common;

use shadertrain::cpu::{reference, Fast, Reference};
use shadertrain::data::{Dataset, Standardization};
use shadertrain::gpu::GpuTrainer;
use shadertrain::io::{load_model, save_model};
use shadertrain::model::{Activation, Model};
use shadertrain::optim::lbfgs::Lbfgs;
use shadertrain::optim::{Optimizer, OptimizerKind, Settings};
use shadertrain::train::{train, Backend, Schedule};

const LBFGS: Optimizer = Optimizer::Lbfgs {
    lr: 1.0,
    history_size: 10,
    gtol: 1e-7,
    weight_decay: 0.0,
};

fn schedule(max_epochs: usize) -> Schedule {
    Schedule {
        max_epochs,
        tol: 0.0,
    }
}

/// L-BFGS has no per-epoch update: a backend asked to run it refuses
/// (it took gradient steps at L-BFGS's rate, and blew up); wrapped in
/// `Lbfgs`, as the error says, it trains.
#[test]
fn a_backend_refuses_to_step_lbfgs_and_lbfgs_drives_it() {
    let data = Dataset::synthetic(200, 3, 1).unwrap();
    let model = common::model(&data, &[8], Activation::Tanh, 2);
    let refused = |b: &mut dyn Backend| {
        let e = train(b, &schedule(5)).unwrap_err().to_string();
        assert!(e.contains("optim::lbfgs::Lbfgs::new"), "{e}");
    };
    refused(&mut Fast::new(&model, &data, LBFGS, 1).unwrap());
    refused(&mut Reference::new(&model, &data, LBFGS).unwrap());
    if let Some(ctx) = common::gpu() {
        refused(&mut GpuTrainer::new(ctx, &model, &data, LBFGS).unwrap());
    }
    let fast = Fast::new(&model, &data, LBFGS, 1).unwrap();
    let out = train(
        &mut Lbfgs::new(fast, &model.params, LBFGS).unwrap(),
        &schedule(30),
    )
    .unwrap();
    let (first, last) = (out.losses[0], *out.losses.last().unwrap());
    assert!(last < 0.5 * first, "{first} → {last}");
}

/// Settings outside an optimizer's domain are refused by the backends
/// themselves, not only by the command line.
#[test]
fn backends_refuse_settings_outside_the_rules() {
    let data = Dataset::synthetic(50, 2, 1).unwrap();
    let model = common::model(&data, &[4], Activation::Sigmoid, 2);
    let gpu = common::gpu();
    for opt in [Optimizer::gd(-0.1), Optimizer::gd(f64::NAN)] {
        let said = |e: shadertrain::Error| {
            let e = e.to_string();
            assert!(e.contains("--lr must be a positive number"), "{e}");
        };
        said(Fast::new(&model, &data, opt, 1).err().unwrap());
        said(Reference::new(&model, &data, opt).err().unwrap());
        if let Some(ctx) = &gpu {
            said(
                GpuTrainer::new(ctx.clone(), &model, &data, opt)
                    .err()
                    .unwrap(),
            );
        }
    }
}

/// The sharded trainer checks what the backends check, and that it has
/// one pass for each shard this process owns.
#[test]
fn sharded_refuses_bad_settings_and_a_wrong_count_of_passes() {
    use shadertrain::dist::sharded::Part;
    use shadertrain::dist::{Sharded, Shards, Single};
    let data = Dataset::synthetic(40, 2, 1).unwrap();
    let model = common::model(&data, &[4], Activation::Tanh, 2);
    let shards = || Shards::new(data.rows, 2).unwrap();
    let sets: Vec<_> = (0..2).map(|s| data.slice(shards().rows_of(s))).collect();
    let parts = |n: usize| -> Vec<Part> {
        sets[..n]
            .iter()
            .map(|d| Box::new(Reference::new(&model, d, Optimizer::gd(0.1)).unwrap()) as Part)
            .collect()
    };
    let refused = |parts, opt, want: &str| {
        let e = Sharded::new(parts, 1, &Single, shards(), &model.params, opt)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(want), "{e}");
    };
    refused(
        parts(2),
        Optimizer::gd(-0.1),
        "--lr must be a positive number",
    );
    refused(
        parts(1),
        Optimizer::gd(0.1),
        "has 1 shard passes for shards 0..2",
    );
    assert!(Sharded::new(
        parts(2),
        1,
        &Single,
        shards(),
        &model.params,
        Optimizer::gd(0.1)
    )
    .is_ok());
}

/// A `Dataset` built by hand whose values disagree with its sizes is
/// refused (it panicked, trained on some rows, or predicted too few).
#[test]
fn a_dataset_whose_values_disagree_with_its_sizes_is_refused() {
    let good = Dataset::synthetic(64, 2, 1).unwrap();
    let model = common::model(&good, &[4], Activation::Tanh, 2);
    let mut short_x = good.clone();
    short_x.x.pop();
    let mut short_y = good.clone();
    short_y.y.truncate(10);
    for data in [&short_x, &short_y] {
        let said = |e: shadertrain::Error| {
            let e = e.to_string();
            assert!(e.contains("x needs rows × features, y one per row"), "{e}");
        };
        said(
            Fast::new(&model, data, Optimizer::gd(0.1), 1)
                .err()
                .unwrap(),
        );
        said(
            Reference::new(&model, data, Optimizer::gd(0.1))
                .err()
                .unwrap(),
        );
        said(reference::predict(&model, data).unwrap_err());
    }
    assert_eq!(reference::predict(&model, &good).unwrap().len(), 64);
}

/// `save_model` writes nothing that `load_model` would refuse: names
/// missing, empty, repeated or the target's, or a parameter not finite.
#[test]
fn save_model_refuses_what_load_model_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let data = Dataset::synthetic(20, 2, 1).unwrap();
    let good = common::model(&data, &[3], Activation::Tanh, 2);
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let with = |f: &dyn Fn(&mut Model)| {
        let mut m = good.clone();
        f(&mut m);
        m
    };
    let cases = [
        (
            with(&|m| m.feature_names.clear()),
            "names 0 features but takes 2",
        ),
        (
            with(&|m| m.feature_names = names(&["a", ""])),
            "has an empty name",
        ),
        (with(&|m| m.feature_names = names(&["a", "a"])), "'a' twice"),
        (
            with(&|m| m.target_name = "x1".into()),
            "also one of the model's features",
        ),
        (with(&|m| m.target_name.clear()), "the target needs a name"),
        (with(&|m| m.params[3] = f32::NAN), "parameter 3 is NaN"),
    ];
    for (model, says) in cases {
        let e = save_model(&model, &path).unwrap_err().to_string();
        assert!(
            e.contains("the model cannot be saved") && e.contains(says),
            "{e}"
        );
        assert!(!path.exists(), "{says}: a file was written");
    }
    save_model(&good, &path).unwrap();
    assert_eq!(load_model(&path).unwrap(), good);
}

/// A fold past the count is an error, not a panic.
#[test]
fn a_fold_past_the_count_is_an_error() {
    let data = Dataset::synthetic(30, 2, 1).unwrap();
    let e = data.fold(5, 3, 0).unwrap_err().to_string();
    assert!(e.contains("there is no fold 5 of 3"), "{e}");
    assert!(data.fold(2, 3, 0).is_ok());
}

/// Rows whose features are the model's in another order, or lack one,
/// are refused by `predict` (they were predicted from the wrong inputs
/// without a word); `Dataset::select_features` puts them in the model's
/// order, and its predictions are the straight rows'.
#[test]
fn predict_refuses_features_in_another_order_and_select_features_mends_them() {
    let data = Dataset::synthetic(40, 3, 1).unwrap();
    let model = common::model(&data, &[4], Activation::Tanh, 2);
    let straight = reference::predict(&model, &data).unwrap();
    let names = ["x2", "x0", "x1"].map(String::from);
    let swapped = data.select_features(&names).unwrap();
    assert_eq!(
        swapped.row(3),
        [data.row(3)[2], data.row(3)[0], data.row(3)[1]]
    );
    let e = reference::predict(&model, &swapped)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("in another order: feature 1 is 'x2' where the model takes 'x0'")
            && e.contains("Dataset::select_features"),
        "{e}"
    );
    let mut renamed = data.clone();
    renamed.feature_names[1] = "b".into();
    let e = reference::predict_on_cores(&model, &renamed)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the data has no feature 'x1', which the model takes"),
        "{e}"
    );
    let mended = swapped.select_features(&model.feature_names).unwrap();
    assert_eq!(reference::predict(&model, &mended).unwrap(), straight);
    let e = data
        .select_features(&["x9".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the data has no feature 'x9'; it has x0, x1, x2"),
        "{e}"
    );
}

/// Statistics of another width are refused, the rows untouched (they
/// were applied to the columns they reached, the others left raw).
#[test]
fn standardization_of_another_width_is_refused() {
    let data = Dataset::synthetic(30, 3, 1).unwrap();
    let stats = Standardization::fit(&data);
    let mut wider = Dataset::synthetic(30, 4, 1).unwrap();
    let before = wider.clone();
    let e = stats.apply(&mut wider).unwrap_err().to_string();
    assert!(
        e.contains("the statistics are of 3 features; the data has 4"),
        "{e}"
    );
    assert_eq!((wider.x, wider.y), (before.x, before.y));
    let mut same = data.clone();
    stats.apply(&mut same).unwrap();
    assert!(same.x != data.x);
}

/// The shorthand optimizers are the command line's defaults.
#[test]
fn shorthand_optimizers_are_the_defaults() {
    let resolved = |kind, lr| {
        let settings = Settings {
            kind,
            lr,
            ..Default::default()
        };
        settings.resolve().unwrap()
    };
    assert_eq!(
        Optimizer::adam(0.01),
        resolved(OptimizerKind::Adam, Some(0.01))
    );
    assert_eq!(Optimizer::lbfgs(), resolved(OptimizerKind::Lbfgs, None));
    assert_eq!(Optimizer::lbfgs(), LBFGS);
}

/// A row that is not finite makes the loss before any update NaN: the
/// error says so, not that a smaller rate would help.
#[test]
fn a_loss_not_finite_before_any_update_blames_the_rows() {
    let mut data = Dataset::synthetic(40, 2, 1).unwrap();
    data.y[3] = f32::NAN;
    let model = common::model(&data, &[4], Activation::Tanh, 2);
    let mut fast = Fast::new(&model, &data, Optimizer::gd(0.1), 1).unwrap();
    let e = train(&mut fast, &schedule(5)).unwrap_err().to_string();
    assert!(
        e.contains("the loss before any update is NaN, so no epoch trained")
            && !e.contains("smaller --lr"),
        "{e}"
    );
}

/// The library's constructors refuse what they cannot run, rather than
/// panicking later: L-BFGS given a parameter block of another length than
/// its backend's, or settings out of range; a layout whose parameters no
/// process could hold. An outcome of more than 2^32 updates has its time
/// per epoch (the divisor was cut to 32 bits: 2^32 + 4 updates were 4).
#[test]
fn constructors_refuse_what_they_cannot_run() {
    let data = Dataset::synthetic(64, 3, 1).unwrap();
    let model = common::model(&data, &[6], Activation::Tanh, 2);
    let fast = || Fast::new(&model, &data, LBFGS, 1).unwrap();
    let e = Lbfgs::new(fast(), &[0.0; 3], LBFGS).err().unwrap();
    assert!(
        e.to_string()
            .contains("L-BFGS was given 3 parameters for a backend of 31"),
        "{e}"
    );
    let none = Optimizer::Lbfgs {
        lr: 1.0,
        history_size: 0,
        gtol: 1e-7,
        weight_decay: 0.0,
    };
    let e = Lbfgs::new(fast(), &model.params, none).err().unwrap();
    assert!(
        e.to_string().contains("--history-size must be at least 1"),
        "{e}"
    );
    assert!(Lbfgs::new(fast(), &model.params, LBFGS).is_ok());
    let e = shadertrain::model::Layout::new(1 << 62, &[1]).unwrap_err();
    assert!(e.to_string().contains("too many parameters"), "{e}");
    let outcome = shadertrain::train::Outcome {
        losses: vec![1.0],
        updates: 0,
        reason: shadertrain::train::StopReason::MaxEpochs,
        elapsed: std::time::Duration::from_secs((1 << 32) + 4),
        run_updates: (1 << 32) + 4,
        evaluations: None,
        kept: None,
        rate_cuts: Vec::new(),
        held_out: None,
    };
    let per = outcome.time_per_epoch().as_secs_f64();
    assert!((per - 1.0).abs() < 1e-6, "{per}");
}
