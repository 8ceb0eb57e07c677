//! --standardize and --validation-split through the built binary: the
//! statistics stored in the model, predict undoing them, the held-out rows
//! and their loss in the history, the summary and the text output.

mod common;

use std::path::Path;

use common::{
    assert_close, assert_same_file, gen_csv, have_gpu, path, paths, read_json, read_predictions,
    run_ok, run_ok_out_err, run_refused, shadertrain, train_data, train_resume, train_synthetic,
};
use shadertrain::data::{Dataset, Standardization, Table};
use shadertrain::io::{load_model, read_history, read_history_with_val, write_csv};

fn run_err(args: &[&str]) -> String {
    let (ok, out, err) = shadertrain(args);
    assert!(!ok, "shadertrain {args:?} should fail: {out}");
    // Errors are one or two lines (clap adds a blank line and a --help hint).
    let lines = err
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("For more"));
    assert!(lines.count() <= 2, "{err}");
    err
}

/// A small CSV with features of very different scales and a target far from 0.
fn scaled_csv(path: &str, rows: usize) {
    let d = Dataset::synthetic(rows, 3, 2).unwrap();
    let mut text = String::from("a,b,c,y\n");
    for n in 0..rows {
        let r = d.row(n);
        text.push_str(&format!(
            "{},{},{},{}\n",
            r[0] * 1000.0 + 50.0,
            r[1] * 0.01,
            r[2],
            d.y[n] * 20.0 + 300.0
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Runs `predict --model MODEL --data DATA --out OUT`, asserting it
/// succeeded; returns its standard output.
fn predict_ok(model: &str, data: &str, out: &str) -> String {
    run_ok(&["predict", "--model", model, "--data", data, "--out", out])
}

/// Trains on `csv` with `fit` for the first of `epochs`, checkpointing to
/// `ck`, then resumes from `ck` to the second with `more`; asserts that
/// both runs succeeded.
fn stop_and_resume(csv: &str, fit: &[&str], ck: &str, epochs: [&str; 2], more: &[&str]) {
    let mut first = train_data(csv, "cpu", fit);
    first.extend(["--epochs", epochs[0], "--checkpoint", ck]);
    run_ok(&first);
    run_ok(&train_resume(
        ck,
        "cpu",
        &[&["--epochs", epochs[1]], more].concat(),
    ));
}

/// The standard output of a run that succeeds with `input` on its
/// standard input.
fn run_piped(args: &[&str], input: &[u8]) -> Vec<u8> {
    let (ok, out, err) = common::shadertrain_stdin(args, input);
    assert!(ok, "{args:?}: {err}");
    out
}

/// The metadata of the model file `model`.
fn metadata(model: &str) -> std::collections::HashMap<String, String> {
    let bytes = std::fs::read(model).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().clone().unwrap()
}

/// Asserts that the model files `a` and `b` store the same
/// standardization statistics.
fn assert_same_statistics(a: &str, b: &str) {
    assert_eq!(
        metadata(a)["standardization"],
        metadata(b)["standardization"]
    );
}

/// Rows read from a file are standardized unless --no-standardize (the
/// later of the two flags wins); synthetic rows, generated near ±1, only
/// with --standardize.
#[test]
fn rows_from_a_file_are_standardized_by_default_and_synthetic_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, json] = paths(&dir, ["d.csv", "m.st", "s.json"]);
    scaled_csv(&csv, 60);
    let trained = |args: Vec<&str>, more: &[&str]| {
        let mut args = args;
        args.extend([
            "--hidden", "2", "--epochs", "2", "--save", &model, "--json", &json,
        ]);
        args.extend(more);
        run_ok(&args);
        let units = read_json(&json)["loss_units"].clone();
        (metadata(&model).contains_key("standardization"), units)
    };
    let synthetic = || train_synthetic("60", "2", "cpu", &[]);
    let (std, raw) = ("standardized", "target");
    for (args, more, want) in [
        (train_data(&csv, "cpu", &[]), &[][..], (true, std)),
        (
            train_data(&csv, "cpu", &[]),
            &["--no-standardize"],
            (false, raw),
        ),
        (
            train_data(&csv, "cpu", &[]),
            &["--no-standardize", "--standardize"],
            (true, std),
        ),
        (
            train_data(&csv, "cpu", &[]),
            &["--standardize", "--no-standardize"],
            (false, raw),
        ),
        (synthetic(), &[], (false, raw)),
        (synthetic(), &["--standardize"], (true, std)),
    ] {
        let (stored, units) = trained(args, more);
        assert_eq!((stored, units.as_str().unwrap()), want, "{more:?}");
    }
}

#[test]
fn standardize_stores_the_statistics_and_predict_undoes_them() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, preds] = paths(&dir, ["d.csv", "m.st", "p.csv"]);
    scaled_csv(&csv, 300);
    let more = [
        "--hidden",
        "6",
        "--epochs",
        "40",
        "--standardize",
        "--save",
        &model,
    ];
    let out = run_ok(&train_data(&csv, "cpu", &more));
    assert!(out.contains("standardized units"), "{out}");
    let in_target_units: f64 = (out.split("standardized units; ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // And as an RMSE, to the five digits printed.
    let rmse: f64 = (out.split("in target units, rmse ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((rmse / in_target_units.sqrt() - 1.0).abs() < 1e-4, "{out}");

    // The statistics, by hand, in f64 over the file's f32 values.
    let data = Table::read(Path::new(&csv))
        .unwrap()
        .into_dataset(None)
        .unwrap();
    let stored: Standardization =
        serde_json::from_str(&metadata(&model)["standardization"]).unwrap();
    for j in 0..3 {
        let col: Vec<f64> = (0..data.rows).map(|n| data.row(n)[j] as f64).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
        assert_close("mean", &[stored.feature_mean[j]], &[mean], 1e-12, 1e-12);
        assert_close("std", &[stored.feature_std[j]], &[var.sqrt()], 1e-12, 1e-9);
    }
    let ymean = data.y.iter().map(|&v| v as f64).sum::<f64>() / data.rows as f64;
    assert_close("target mean", &[stored.target_mean], &[ymean], 1e-12, 1e-12);
    let yvar = (data.y.iter())
        .map(|&v| (v as f64 - ymean).powi(2))
        .sum::<f64>()
        / data.rows as f64;
    assert_close(
        "target std",
        &[stored.target_std],
        &[yvar.sqrt()],
        1e-12,
        1e-9,
    );
    assert!(stored.target_std > 1.0, "{stored:?}");
    assert!(stored.feature_std[0] > 100.0 && stored.feature_std[1] < 0.1);

    // predict = un-standardised forward pass of the standardised inputs.
    let out = predict_ok(&model, &csv, &preds);
    let got: Vec<f64> = read_predictions(&preds);
    let loaded = load_model(Path::new(&model)).unwrap();
    assert_eq!(loaded.standardization.as_ref(), Some(&stored));
    let raw = shadertrain::model::Model {
        standardization: None,
        imputation: None,
        categories: Vec::new(),
        ..loaded
    };
    let mut z = data.clone();
    for n in 0..z.rows {
        for j in 0..3 {
            let v = &mut z.x[n * 3 + j];
            *v = ((*v as f64 - stored.feature_mean[j]) / stored.feature_std[j]) as f32;
        }
    }
    let want: Vec<f64> = shadertrain::cpu::reference::predict(&raw, &z)
        .unwrap()
        .iter()
        .map(|v| v * stored.target_std + stored.target_mean)
        .collect();
    // The CSV holds f32 values.
    assert_close("predictions", &got, &want, 1e-4, 1e-6);
    assert!(
        got.iter().all(|v| (250.0..350.0).contains(v)),
        "not in target units"
    );
    // The MSE is in target units too.
    let mse: f64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let by_hand = want
        .iter()
        .zip(&data.y)
        .map(|(p, &y)| (p - y as f64).powi(2))
        .sum::<f64>()
        / data.rows as f64;
    assert_close("mse", &[mse], &[by_hand], 1e-9, 1e-5);
    // train's final loss in target units is that MSE: the final
    // parameters are the ones saved (an f32 sum against predict's f64).
    assert_close("target units", &[in_target_units], &[by_hand], 0.0, 1e-5);
}

#[test]
fn standardize_trains_exactly_as_on_prestandardized_data() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, pre, h1, h2, h3] = paths(&dir, ["d.csv", "pre.csv", "h1.csv", "h2.csv", "h3.csv"]);
    scaled_csv(&csv, 200);
    let data = Table::read(Path::new(&csv))
        .unwrap()
        .into_dataset(None)
        .unwrap();
    let stats = Standardization::fit(&data);
    let mut z = data.clone();
    stats.apply(&mut z).unwrap();
    write_csv(Path::new(&pre), &z).unwrap();
    let common = ["--hidden", "5", "--epochs", "25"];
    let mut a = train_data(&csv, "cpu", &["--standardize", "--history", &h1]);
    a.extend(common);
    run_ok(&a);
    let mut b = train_data(&pre, "cpu", &["--no-standardize", "--history", &h2]);
    b.extend(common);
    run_ok(&b);
    // The default with rows from a file.
    let mut c = train_data(&csv, "cpu", &["--history", &h3]);
    c.extend(common);
    run_ok(&c);
    // The same f32 inputs, so the same trajectory bit for bit.
    let h1 = read_history(Path::new(&h1)).unwrap();
    assert_eq!(h1, read_history(Path::new(&h2)).unwrap());
    assert_eq!(h1, read_history(Path::new(&h3)).unwrap());
}

#[test]
fn a_constant_column_gives_finite_statistics_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, preds] = paths(&dir, ["d.csv", "m.st", "p.csv"]);
    // k is constant; so is the target t (a degenerate but legal file).
    let mut text = String::from("a,k,t\n");
    for n in 0..40 {
        text.push_str(&format!("{},0.1,5\n", n as f32 * 0.25));
    }
    std::fs::write(&csv, text).unwrap();
    let more = [
        "--hidden",
        "3",
        "--epochs",
        "10",
        "--standardize",
        "--save",
        &model,
    ];
    run_ok(&train_data(&csv, "cpu", &more));
    let s = load_model(Path::new(&model))
        .unwrap()
        .standardization
        .unwrap();
    assert_eq!(s.feature_std[1], 1.0);
    assert!((s.feature_mean[1] - 0.1).abs() < 1e-7);
    assert_eq!((s.target_mean, s.target_std), (5.0, 1.0));
    predict_ok(&model, &csv, &preds);
    let p: Vec<f64> = read_predictions(&preds);
    assert_eq!(p.len(), 40);
    assert!(p.iter().all(|v| v.is_finite()), "{p:?}");
}

/// Features near f32's largest are thousands of deviations beyond f32's
/// range once standardised (both columns' are below 0.12): the
/// predictions stay finite, and a row in range is predicted as before.
#[test]
fn features_far_beyond_the_training_range_give_finite_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, preds, far] = paths(&dir, ["d.csv", "m.st", "p.csv", "far.csv"]);
    let mut text = String::from("a,b,t\n");
    for n in 0..40 {
        let (a, b) = (n as f32 * 0.01, (n % 7) as f32 * 0.05);
        text.push_str(&format!("{a},{b},{}\n", a - b));
    }
    std::fs::write(&csv, text).unwrap();
    let more = [
        "--hidden",
        "8",
        "--epochs",
        "10",
        "--standardize",
        "--save",
        &model,
    ];
    run_ok(&train_data(&csv, "cpu", &more));
    predict_ok(&model, &csv, &preds);
    let near: Vec<f64> = read_predictions(&preds);
    let rows = "a,b,t\n3e38,-3e38,1\n-3e38,3e38,1\n3e38,3e38,1\n-3e38,-3e38,1\n0.01,0.05,1\n";
    std::fs::write(&far, rows).unwrap();
    let out = predict_ok(&model, &far, &preds);
    let p: Vec<f64> = read_predictions(&preds);
    assert!(p.iter().all(|v| v.is_finite()), "{p:?}");
    assert_eq!(p[4], near[1]);
    assert!(!out.contains("NaN"), "{out}");
}

/// `--init` keeps the model's statistics; rows whose target or features
/// lie far from them (a mean 3 of its stds away, or a spread 10 times
/// its) are named with where they lie in the model's units, and the
/// loss's units are said to have moved only where the target did. Rows
/// like the model's own say nothing.
#[test]
fn init_names_rows_far_from_the_models_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, like, far, wide, m] =
        paths(&dir, ["d.csv", "like.csv", "far.csv", "wide.csv", "m.st"]);
    gen_csv(&csv, "400", "3", "1");
    gen_csv(&like, "300", "3", "2");
    let table = std::fs::read_to_string(&like).unwrap();
    // y·1000 + 500 and x0·50; then x0·50 alone.
    let scaled = |target: bool| -> String {
        let mut lines = table.lines();
        let mut out = format!("{}\n", lines.next().unwrap());
        for line in lines {
            let v: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
            let y = if target { v[3] * 1000.0 + 500.0 } else { v[3] };
            out += &format!("{},{},{},{y}\n", v[0] * 50.0, v[1], v[2]);
        }
        out
    };
    std::fs::write(&far, scaled(true)).unwrap();
    std::fs::write(&wide, scaled(false)).unwrap();
    run_ok(&train_data(&csv, "cpu", &["--epochs", "5", "--save", &m]));
    let init =
        |data: &str| run_ok_out_err(&train_data(data, "cpu", &["--epochs", "2", "--init", &m])).1;
    let says = format!("in the standardized units of {m}, which --init keeps, these rows' ");
    let err = init(&far);
    assert!(err.contains(&format!("{says}y is ")), "{err}");
    assert!(
        err.contains(" and x0 is ")
            && err.contains(", where the network was fit to 0 ± 1; the loss starts far from a fit"),
        "{err}"
    );
    assert!(
        err.contains("(predicting these rows' mean no longer scores 1)"),
        "{err}"
    );
    let err = init(&wide);
    assert!(err.contains(&format!("{says}x0 is ")), "{err}");
    assert!(!err.contains("predicting these rows' mean"), "{err}");
    assert!(!init(&like).contains(&says));
}

#[test]
fn init_reuses_the_statistics_and_refuses_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, other, m1, m2, raw, h1, h2, hf] = paths(
        &dir,
        [
            "d.csv",
            "other.csv",
            "m1.st",
            "m2.st",
            "raw.st",
            "h1.csv",
            "h2.csv",
            "hf.csv",
        ],
    );
    scaled_csv(&csv, 120);
    // Continuing on different rows must still use the first run's statistics.
    scaled_csv(&other, 80);
    // gd: --init carries the parameters, not L-BFGS's curvature pairs.
    let train = |data: &str, extra: &[&str]| {
        let more = ["--hidden", "4", "--standardize", "--optimizer", "gd"];
        let mut a = train_data(data, "cpu", &more);
        a.extend(extra);
        run_ok(&a);
    };
    train(&csv, &["--epochs", "6", "--save", &m1, "--history", &h1]);
    train(&csv, &["--epochs", "12", "--history", &hf]);
    train(
        &csv,
        &[
            "--epochs",
            "6",
            "--init",
            &m1,
            "--save",
            &m2,
            "--history",
            &h2,
        ],
    );
    let (first, second, full) = (
        read_history(Path::new(&h1)).unwrap(),
        read_history(Path::new(&h2)).unwrap(),
        read_history(Path::new(&hf)).unwrap(),
    );
    // 6 + 6 epochs are the 12-epoch run: same statistics, same parameters.
    let mut joined = first[..6].to_vec();
    joined.extend(&second);
    assert_eq!(joined, full);
    train(&other, &["--epochs", "1", "--init", &m1, "--save", &m2]);
    assert_same_statistics(&m1, &m2);

    // Without either flag, a run from --init standardizes as its model
    // was trained; the flag against the model is refused.
    let more = ["--init", &m1, "--epochs", "1", "--save", &m2];
    run_ok(&train_data(&other, "cpu", &more));
    assert_same_statistics(&m1, &m2);
    // From a pipe, read once: the model's statistics decide once it is
    // loaded.
    let piped = ["--init", "/dev/stdin", "--epochs", "1", "--save", &m2];
    run_piped(
        &train_data(&other, "cpu", &piped),
        &std::fs::read(&m1).unwrap(),
    );
    assert_same_statistics(&m1, &m2);
    let more = ["--init", &m1, "--epochs", "1", "--no-standardize"];
    let err = run_err(&train_data(&csv, "cpu", &more));
    let says = "was trained on standardized rows, so its weights expect standardized inputs; drop --no-standardize";
    assert!(err.contains(says), "{err}");
    let more = [
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--no-standardize",
        "--save",
        &raw,
    ];
    run_ok(&train_data(&csv, "cpu", &more));
    assert!(!metadata(&raw).contains_key("standardization"));
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--init", &raw, "--epochs", "1", "--save", &m2],
    ));
    assert!(!metadata(&m2).contains_key("standardization"));
    let more = ["--init", &raw, "--standardize", "--epochs", "1"];
    let err = run_err(&train_data(&csv, "cpu", &more));
    assert!(
        err.contains("was trained on raw rows (--no-standardize)"),
        "{err}"
    );
}

#[test]
fn resume_keeps_the_split_and_the_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, ck, hf, hr] = paths(&dir, ["d.csv", "run.ck", "full.csv", "resumed.csv"]);
    scaled_csv(&csv, 150);
    let opts = [
        "--hidden",
        "4",
        "--standardize",
        "--validation-split",
        "0.2",
        "--seed",
        "3",
    ];
    let mut full = train_data(&csv, "cpu", &["--epochs", "10", "--history", &hf]);
    full.extend(opts);
    run_ok(&full);
    let mut part = train_data(&csv, "cpu", &["--epochs", "4", "--checkpoint", &ck]);
    part.extend(opts);
    run_ok(&part);
    assert!(metadata(&ck).contains_key("standardization"));
    // The validation losses ride in the history file, a second column.
    assert_eq!(metadata(&ck)["history_columns"], "2");
    run_ok(&train_resume(
        &ck,
        "cpu",
        &["--epochs", "10", "--history", &hr],
    ));
    let (a, b) = (
        read_history_with_val(Path::new(&hf)).unwrap(),
        read_history_with_val(Path::new(&hr)).unwrap(),
    );
    assert_eq!(a.loss, b.loss);
    // The validation losses of the first part come from the checkpoint.
    assert_eq!(a.val_loss, b.val_loss);
    // --resume takes the data options from the checkpoint.
    let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--standardize"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

#[test]
fn validation_split_holds_out_seeded_rows_and_reports_their_loss() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, hist, json, model, held, preds] = paths(
        &dir,
        ["d.csv", "h.csv", "s.json", "m.st", "held.csv", "p.csv"],
    );
    gen_csv(&csv, "200", "3", "9");
    let train = |seed: &str, hist: &str, json: &str| {
        let mut args = train_data(&csv, "cpu", &["--hidden", "5", "--epochs", "30"]);
        args.extend(["--validation-split", "0.25", "--seed", seed]);
        args.extend(["--history", hist, "--json", json, "--save", &model]);
        run_ok(&args)
    };
    let out = train("4", &hist, &json);
    assert!(
        out.contains("150 rows train, 50 held out") && out.contains("val loss"),
        "{out}"
    );
    let h = read_history_with_val(Path::new(&hist)).unwrap();
    let val = h.val_loss.expect("a val_loss column");
    assert_eq!(val.len(), 31);
    // The CPU backend measures every epoch.
    assert!(val.iter().all(Option::is_some), "{val:?}");
    let s = read_json(&json);
    assert_eq!(
        (s["train_rows"].as_u64(), s["val_rows"].as_u64()),
        (Some(150), Some(50))
    );
    assert_eq!(s["options"]["validation_split"], 0.25);
    let final_val = s["final_val_loss"].as_f64().unwrap();
    assert_eq!(Some(final_val), val[30]);
    let best = s["best_val_loss"].as_f64().unwrap();
    let best_epoch = s["best_val_epoch"].as_u64().unwrap() as usize;
    assert_eq!(Some(best), val[best_epoch]);
    assert!(val.iter().all(|v| v.unwrap() >= best));

    // The validation loss is the MSE of the held-out rows under the model,
    // in standardized units (rows from a file are standardized by default).
    let target_std = load_model(Path::new(&model))
        .unwrap()
        .standardization
        .expect("the default standardizes rows read from a file")
        .target_std;
    let data = Table::read(Path::new(&csv))
        .unwrap()
        .into_dataset(None)
        .unwrap();
    let (_, held_rows) = data.split(0.25, 4).unwrap();
    write_csv(Path::new(&held), &held_rows).unwrap();
    let out = predict_ok(&model, &held, &preds);
    let mse: f64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let in_target_units = final_val * target_std * target_std;
    assert_close("held-out mse", &[in_target_units], &[mse], 1e-7, 1e-5);
    // The training loss is over the other 150 rows, so it differs.
    assert_ne!(h.loss[30], final_val);

    // Another seed holds out other rows.
    let (h2, j2) = (path(&dir, "h2.csv"), path(&dir, "s2.json"));
    train("5", &h2, &j2);
    let other = read_history_with_val(Path::new(&h2)).unwrap();
    assert_ne!(other.val_loss.unwrap()[0], val[0]);
    // The same seed holds out the same rows: the same run.
    let (h3, j3) = (path(&dir, "h3.csv"), path(&dir, "s3.json"));
    train("4", &h3, &j3);
    assert_same_file(&hist, &h3, "");
}

/// `--hold-out last` holds out the file's last rows: the run's validation
/// loss is the model's MSE on them, the data line and --json say so, a
/// checkpoint records it and the resumed run holds out the same rows; it
/// needs --validation-split.
#[test]
fn hold_out_last_holds_out_the_files_last_rows() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, json, held, preds, ck, json2] = paths(
        &dir,
        [
            "d.csv", "m.st", "s.json", "h.csv", "p.csv", "ck.st", "s2.json",
        ],
    );
    scaled_csv(&csv, 200);
    let split = ["--validation-split", "0.25", "--hold-out", "last"];
    let mut args = train_data(&csv, "reference", &["--hidden", "5", "--epochs", "20"]);
    args.extend(split);
    args.extend(["--json", &json, "--save", &model, "--checkpoint", &ck]);
    let out = run_ok(&args);
    assert!(
        out.contains("150 rows train, 50 held out (--validation-split 0.25, the last rows)"),
        "{out}"
    );
    let s = read_json(&json);
    assert_eq!(s["options"]["hold_out"], "last");
    // The model's MSE on the file's last 50 rows, in standardized units.
    let data = Table::read(Path::new(&csv))
        .unwrap()
        .into_dataset(None)
        .unwrap();
    let last: Vec<usize> = (150..200).collect();
    write_csv(Path::new(&held), &data.take_rows(&last)).unwrap();
    let mse: f64 = predict_ok(&model, &held, &preds)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let target_std = load_model(Path::new(&model))
        .unwrap()
        .standardization
        .unwrap()
        .target_std;
    let final_val = s["final_val_loss"].as_f64().unwrap();
    assert_close(
        "held-out mse",
        &[final_val * target_std.powi(2)],
        &[mse],
        1e-7,
        1e-6,
    );
    // The model's ranges are its training rows', the first 150: not the
    // held-out rows'.
    let first: Vec<usize> = (0..150).collect();
    let trained = data.take_rows(&first);
    let ranges = load_model(Path::new(&model)).unwrap().ranges.unwrap();
    for j in 0..3 {
        let column = (0..150).map(|n| f64::from(trained.row(n)[j]));
        let (lo, hi) = (
            column.clone().fold(f64::INFINITY, f64::min),
            column.fold(f64::NEG_INFINITY, f64::max),
        );
        assert_eq!((ranges.min[j], ranges.max[j]), (lo, hi), "feature {j}");
    }
    let all = shadertrain::data::FeatureRanges::fit(&data).unwrap();
    assert_ne!(all, ranges, "the held-out rows widen some range");
    // Random rows by default: another loss.
    let (_, random) = data.split(0.25, 0).unwrap();
    assert_ne!(random.x, data.take_rows(&last).x);
    // Resumed: the same rows held out.
    let more = ["--epochs", "25", "--json", &json2];
    let out = run_ok(&train_resume(&ck, "reference", &more));
    assert!(
        out.contains("(--validation-split 0.25, the last rows)"),
        "{out}"
    );
    assert_eq!(read_json(&json2)["options"]["hold_out"], "last");
    // Without a split it means nothing: refused.
    let (_, err) = run_refused(&train_data(&csv, "cpu", &["--hold-out", "last"]));
    assert!(
        err.contains("required arguments were not provided:\n  --validation-split"),
        "{err}"
    );
}

#[test]
fn validation_split_errors_come_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    std::fs::write(&csv, "a,y\n1,2\n3,4\n5,6\n").unwrap();
    let train = |frac: &str| {
        let more = [
            "--validation-split",
            frac,
            "--epochs",
            "100000000",
            "--save",
            &model,
        ];
        run_err(&train_data(&csv, "cpu", &more))
    };
    for bad in ["0", "1", "1.5", "-0.1", "nan"] {
        let err = train(bad);
        assert!(err.contains("between 0 and 1"), "{bad}: {err}");
    }
    let err = train("0.1");
    assert!(
        err.contains("no validation rows") && err.contains("larger fraction"),
        "{err}"
    );
    let err = train("0.9");
    assert!(err.contains("no training rows"), "{err}");
    assert!(!Path::new(&model).exists());
    let err = run_err(&["train", "--data", &csv, "--validation-split", "x"]);
    assert!(err.contains("invalid value 'x'"), "{err}");
}

/// On the GPU the validation loss is measured on the device at every
/// epoch, as the cpu backend scores it on the host (to f32 rounding).
#[test]
fn gpu_validation_is_measured_at_every_epoch() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [hist, json, cpu_hist] = paths(&dir, ["h.csv", "s.json", "c.csv"]);
    let history = |backend: &str, hist: &str, more: &[&str]| {
        // gd: the first-order optimizers measure the held-out rows on the
        // device (L-BFGS, on the host).
        let gd = ["--hidden", "8", "--epochs", "40", "--optimizer", "gd"];
        let mut args = train_synthetic("600", "3", backend, &gd);
        args.extend([
            "--validation-split",
            "0.1",
            "--standardize",
            "--history",
            hist,
        ]);
        args.extend_from_slice(more);
        run_ok(&args);
        let h = read_history_with_val(Path::new(hist)).unwrap();
        let val: Vec<f64> = h.val_loss.unwrap().into_iter().flatten().collect();
        assert_eq!(val.len(), 41, "{backend}: every epoch and the end: {val:?}");
        val
    };
    let val = history("gpu", &hist, &["--json", &json]);
    let cpu = history("cpu", &cpu_hist, &[]);
    assert_close("validation losses", &val, &cpu, 0.0, 1e-3);
    assert!(val[40] < val[0], "{val:?}");
    let s = read_json(&json);
    assert_eq!(s["val_rows"], 60);
    assert_eq!(s["loss_units"], "standardized");
    // Split and statistics need the rows on the host, so not generated on the device.
    assert_eq!(s["options"]["on_device"], false);
}

/// In `dir`: `gen`'s 60 rows × 3 features (seed 4), a model trained on
/// them for 5 epochs, and its predictions of them: the three paths.
fn trained_and_predicted(dir: &tempfile::TempDir) -> [String; 3] {
    let [csv, model, p1] = paths(dir, ["d.csv", "m.st", "p1.csv"]);
    gen_csv(&csv, "60", "3", "4");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "5", "--save", &model],
    ));
    predict_ok(&model, &csv, &p1);
    [csv, model, p1]
}

/// A file of rows to predict that has the model's columns and no rows (a
/// night with nothing new) predicts nothing and succeeds: the predictions
/// hold their header alone (the kept columns' too), the scores none, and
/// a notice says so. Its columns are still checked; train and importance
/// still refuse it.
#[test]
fn a_header_with_no_rows_predicts_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let [_, model, _] = trained_and_predicted(&dir);
    let [empty, lacking, out, json] = paths(&dir, ["e.csv", "l.csv", "o.csv", "s.json"]);
    std::fs::write(&empty, "id,x0,x1,x2,y\n\n").unwrap();
    std::fs::write(&lacking, "id,x0,x1\n").unwrap();
    let more = ["--out", &out, "--json", &json, "--keep", "id"];
    let (_, err) =
        run_ok_out_err(&[&["predict", "--model", &model, "--data", &empty][..], &more].concat());
    let said = format!("notice: {empty} has a header but no data rows, so there is nothing to predict: the predictions hold their header alone\n");
    assert_eq!(err, said);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "id,y_pred\n");
    let scores = read_json(&json);
    assert_eq!(scores["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (&scores["rows"], &scores["scored_rows"]),
        (&0.into(), &0.into()),
        "{scores}"
    );
    assert!(scores["mse"].is_null(), "{scores}");
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &lacking]);
    assert!(!ok && err.contains("missing feature column(s) x2"), "{err}");
    for args in [
        vec!["importance", "--model", &model, "--data", &empty],
        train_data(&empty, "cpu", &[]),
    ] {
        let (ok, _, err) = shadertrain(&args);
        assert!(
            !ok && err.contains("the file has a header but no data rows"),
            "{args:?}: {err}"
        );
    }
}

/// A file of rows to predict may hold columns the model does not read
/// (an id, text with quoted commas and line ends) and an empty target:
/// the predictions are those of the model's columns alone, unscored,
/// with a notice saying why.
#[test]
fn predict_reads_only_the_model_s_columns() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, p1] = trained_and_predicted(&dir);
    let [new, p2, json] = paths(&dir, ["new.csv", "p2.csv", "s.json"]);
    // The same rows, columns in another order, among others.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = String::from("id,x2,note,x0,y,x1\n");
    for (n, line) in text.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        let note = ["plain", "\"a, b\nc\"", "", "2024-01-01"][n % 4];
        rows.push_str(&format!("P{n},{},{note},{},,{}\n", c[2], c[0], c[1]));
    }
    std::fs::write(&new, rows).unwrap();
    let (_, err) = run_ok_out_err(&[
        "predict", "--model", &model, "--data", &new, "--out", &p2, "--json", &json,
    ]);
    assert_same_file(&p1, &p2, "");
    assert!(
        err.contains("the target column 'y' is not a number in every row (the first such is on line 2), so the predictions are not scored; --missing blank scores the rows that have one and counts the others"),
        "{err}"
    );
    assert!(!err.contains("mse"), "{err}");
    assert!(read_json(&json)["mse"].is_null());
    // A feature column with text is still an error at its cell.
    std::fs::write(&new, "x0,x1,x2\n1,2,3\n4,five,6\n").unwrap();
    let (_, err) = run_refused(&["predict", "--model", &model, "--data", &new]);
    assert!(
        err.contains(":3:2: 'five' is not a number (column 'x1')"),
        "{err}"
    );
}

/// Text in predict's target column (a thousands separator, a currency
/// sign, a word) is not a row yet to be measured: the predictions are
/// written and not scored, with a notice counting those rows and naming
/// the first cell and its line, with or without --missing blank; missing markers (NA) in
/// the same rows leave those rows out and score the others. A target
/// whose values span a few of f32's steps is warned of by predict and
/// importance, whose scores are measured against those values.
#[test]
fn text_in_predict_s_target_is_not_taken_for_a_missing_value() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, p1] = trained_and_predicted(&dir);
    let [edited, json, p2] = paths(&dir, ["e.csv", "s.json", "p2.csv"]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let with_targets = |cells: [&str; 3]| {
        let mut out = String::new();
        for (n, line) in text.lines().enumerate() {
            let at = [3, 5, 7].iter().position(|&r| r == n);
            match at {
                Some(i) => {
                    let kept = &line[..line.rfind(',').unwrap()];
                    out += &format!("{kept},{}\n", cells[i]);
                }
                None => out += &format!("{line}\n"),
            }
        }
        std::fs::write(&edited, out).unwrap();
    };
    let predict = |more: &[&str]| {
        let args = [
            "predict", "--model", &model, "--data", &edited, "--out", &p2, "--json", &json,
        ];
        let (_, err) = run_ok_out_err(&[&args[..], more].concat());
        assert_same_file(&p1, &p2, "");
        (err, read_json(&json))
    };
    with_targets(["\"1,234.5\"", "$12", "1e40"]);
    for more in [&[][..], &["--missing", "blank"]] {
        let (err, scores) = predict(more);
        assert!(
            err.contains("notice: the target column 'y' holds neither a number nor a missing marker in 3 rows (the first is '1,234.5' on line 4), so the predictions are not scored")
                && !err.contains("no target value")
                && !err.contains("mse "),
            "{more:?}: {err}"
        );
        assert!(
            scores["mse"].is_null() && scores["scored_rows"] == 0,
            "{scores}"
        );
    }
    // A target column named in another case is not the target: said,
    // and not scored (nor where no column is alike).
    let upper = text.replacen(",y\n", ",Y\n", 1);
    assert_ne!(upper, text);
    for (header, near) in [(&upper, true), (&text.replacen(",y\n", ",z\n", 1), false)] {
        std::fs::write(&edited, header).unwrap();
        let (err, scores) = predict(&[]);
        let said = "notice: the file has no column 'y', the model's target, so the predictions are not scored; the file's column 'Y' differs from it only in case or spaces, and names must match exactly: rename that column 'y' to score against it\n";
        assert_eq!(err.contains(said), near, "{err}");
        assert_eq!(scores["scored_rows"], 0, "{scores}");
    }
    with_targets(["NA", "", "?"]);
    let (err, scores) = predict(&["--missing", "blank"]);
    assert!(
        err.contains("notice: 3 of the rows predicted have no target value: they are not scored"),
        "{err}"
    );
    assert_eq!(scores["scored_rows"], 57);
    assert!(scores["mse"].as_f64().is_some());
    // A target of 1e8 + [0, 1000): f32 steps of 8 there, 124 of them.
    let mut big = String::from("a,price\n");
    for n in 0..200 {
        big += &format!("{},{}\n", n as f64 / 200.0, 100_000_000 + 5 * n);
    }
    std::fs::write(&edited, big).unwrap();
    let (ok, _, err) = shadertrain(&train_data(
        &edited,
        "cpu",
        &["--epochs", "5", "--save", &model],
    ));
    assert!(
        ok && err.contains("the loss and R² are measured against these values"),
        "{err}"
    );
    let warning = "warning: column 'price' spans only 124 steps of f32 (100000000 to 100000992, a step of 8 at that size) as read: cells are stored as f32, and values closer than a step were read as one; the MSE and R² printed are measured against these values; the file's own differ from them by up to half a step";
    for command in ["predict", "importance"] {
        let (ok, _, err) = shadertrain(&[command, "--model", &model, "--data", &edited]);
        assert!(ok && err.contains(warning), "{command}: {err}");
    }
    // A target of 0 in every row: scored against 0, as said.
    std::fs::write(&edited, "a,price\n0.1,0\n0.2,0\n").unwrap();
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &edited]);
    assert!(ok && err.contains("warning: column 'price' is 0 in every row as read, so the predictions are scored against 0"), "{err}");
    assert!(
        err.contains(" over 2 rows, r² undefined (the target is constant)"),
        "{err}"
    );
}

/// `predict --keep` copies columns of the file into the predictions, cell
/// for cell (quoted commas and line ends, an empty cell, a feature
/// itself), the rows matched past blank lines and from standard input
/// too; the predictions are those without it. Names that are not
/// columns, or named twice, are refused before any row is read.
#[test]
fn predict_keeps_the_columns_named() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, new, plain, kept, json] = paths(
        &dir,
        ["d.csv", "m.st", "new.csv", "p.csv", "k.csv", "s.json"],
    );
    gen_csv(&csv, "40", "2", "4");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "5", "--hidden", "4", "--save", &model],
    ));
    let text = std::fs::read_to_string(&csv).unwrap();
    let notes = ["\"a, b\nc\"", "", "\"say \"\"hi\"\"\"", "  padded  "];
    let mut rows = String::from("id,x1,note,x0,y,y_pred\n");
    let mut want_notes = Vec::new();
    for (n, line) in text.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        rows.push_str(&format!(
            "P{n},{},{},{},{},0\n",
            c[1],
            notes[n % 4],
            c[0],
            c[2]
        ));
        if n == 5 {
            rows.push('\n');
        }
        want_notes.push(["a, b\nc", "", "say \"hi\"", "padded"][n % 4]);
    }
    std::fs::write(&new, &rows).unwrap();
    predict_ok(&model, &new, &plain);
    run_ok(&[
        "predict", "--model", &model, "--data", &new, "--out", &kept, "--keep", "note,id",
        "--keep", "x0", "--json", &json,
    ]);
    assert_eq!(read_json(&json)["rows"], 40);
    let plain = Table::read(Path::new(&plain)).unwrap();
    // The kept file holds text, so it is read with a CSV reader.
    let mut reader = csv::Reader::from_path(&kept).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["note", "id", "x0", "y_pred"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 40);
    for (n, (r, line)) in records.iter().zip(text.lines().skip(1)).enumerate() {
        assert_eq!(&r[0], want_notes[n], "row {n}");
        assert_eq!(r[1], format!("P{n}"));
        assert_eq!(&r[2], line.split(',').next().unwrap(), "row {n}");
        assert_eq!(r[3].parse::<f32>().unwrap(), plain.cells[n], "row {n}");
    }
    // Standard input is read once, with the same result.
    let out = run_piped(
        &[
            "predict",
            "--model",
            &model,
            "--data",
            "-",
            "--keep",
            "note,id,x0",
        ],
        rows.as_bytes(),
    );
    assert_eq!(out, std::fs::read(&kept).unwrap());
    for (keep, says) in [
        (
            "nope",
            "--keep names 'nope', which is not a column; the header has: id, x1, note, x0, y, y_pred",
        ),
        ("id,id", "--keep names 'id' twice; name each once"),
        ("y_pred", "--keep names 'y_pred', the name of the predictions' own column"),
    ] {
        let err = run_err(&["predict", "--model", &model, "--data", &new, "--keep", keep]);
        assert!(err.contains(&format!("new.csv:1: {says}")), "{err}");
    }
    // A kept cell that is not UTF-8 (Latin-1's ü and ä, which a lossy copy
    // would make one key) is refused at its line, past a quoted line end.
    let latin = [
        &b"id,x0,note,x1,y\n"[..],
        b"Oslo,0.1,\"a\nb\",0.2,1\nZ\xfcrich,0.1,,0.2,1\nZ\xe4rich,0.1,,0.2,1\n",
    ]
    .concat();
    std::fs::write(&new, latin).unwrap();
    let err = run_err(&[
        "predict", "--model", &model, "--data", &new, "--keep", "note,id",
    ]);
    assert!(
        err.contains("new.csv:4:1: the cell is not valid UTF-8 (Z\u{fffd}rich) (column 'id'); --keep copies its cells as text, so the file must be UTF-8"),
        "{err}"
    );
    run_ok(&[
        "predict", "--model", &model, "--data", &new, "--keep", "note",
    ]);
    // The same at CRLF line ends, which the csv reader's own count lags.
    let crlf = [
        &b"id,x0,note,x1,y\r\n"[..],
        b"Oslo,0.1,\"a\r\nb\",0.2,1\r\nZ\xfcrich,0.1,,0.2,1\r\n",
    ]
    .concat();
    std::fs::write(&new, crlf).unwrap();
    let err = run_err(&["predict", "--model", &model, "--data", &new, "--keep", "id"]);
    assert!(
        err.contains("new.csv:4:1: the cell is not valid UTF-8"),
        "{err}"
    );
}

/// A reader that closes standard output early ends the predictions, not
/// the --json file asked for.
#[test]
fn predict_writes_its_json_when_standard_output_closes_early() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, json] = paths(&dir, ["d.csv", "m.st", "s.json"]);
    // About 20 bytes a prediction: far more than a pipe's buffer.
    gen_csv(&csv, "30000", "3", "4");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "2", "--save", &model],
    ));
    // Standard output by default, and by name.
    for out in [&[][..], &["--out", "-"]] {
        let _ = std::fs::remove_file(&json);
        let mut child = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args([
                "predict", "--model", &model, "--data", &csv, "--json", &json,
            ])
            .args(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(first, "y_pred\n");
        let done = child.wait_with_output().unwrap();
        assert!(done.status.success(), "{out:?}: {done:?}");
        let scores = read_json(&json);
        assert_eq!(scores["rows"], 30000, "{out:?}: {scores}");
        assert!(scores["mse"].is_number(), "{out:?}: {scores}");
    }
}

/// `--ignore` leaves columns unread, so they may hold text: the run is
/// the run on the file without them, resumes with them still unread, and
/// names that are not columns, twice, or the target are refused.
#[test]
fn ignored_columns_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let [clean, mixed, m1, m2, ck, m3] =
        paths(&dir, ["c.csv", "x.csv", "m1.st", "m2.st", "ck.st", "m3.st"]);
    gen_csv(&clean, "50", "2", "6");
    let text = std::fs::read_to_string(&clean).unwrap();
    let mut rows = String::from("id,x0,note,x1,y,when\n");
    for (n, line) in text.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        let note = ["\"a, b\"", "text", ""][n % 3];
        rows.push_str(&format!(
            "P{n},{},{note},{},{},2024-01-0{}\n",
            c[0],
            c[1],
            c[2],
            n % 9 + 1
        ));
    }
    std::fs::write(&mixed, rows).unwrap();
    let run = |csv: &str, more: &[&str], model: &str| {
        let mut args = train_data(csv, "cpu", &["--hidden", "4", "--save", model]);
        args.extend_from_slice(more);
        run_ok(&args)
    };
    run(&clean, &["--epochs", "6"], &m1);
    let out = run(
        &mixed,
        &["--epochs", "6", "--ignore", "id,note", "--ignore", "when"],
        &m2,
    );
    assert!(out.contains("50 rows × 2 features, target y"), "{out}");
    assert!(out.contains("\nfeatures  x0, x1\n"), "{out}");
    assert_same_file(&m1, &m2, "");
    // Recorded in the checkpoint: the resumed run reads the same columns.
    run(
        &mixed,
        &[
            "--ignore",
            "id,note,when",
            "--epochs",
            "3",
            "--checkpoint",
            &ck,
        ],
        &m3,
    );
    run_ok(&train_resume(&ck, "cpu", &["--epochs", "6", "--save", &m3]));
    assert_same_file(&m1, &m3, "");
    for (ignore, says) in [
        ("id,nope", "--ignore names 'nope', which is not a column; the header has: id, x0, note, x1, y, when"),
        ("id,note,id", "--ignore names 'id' twice"),
        ("id,note,when,y", "--ignore names the target column 'y' (--target)"),
    ] {
        let mut args = train_data(&mixed, "cpu", &["--epochs", "2", "--ignore", ignore]);
        args.extend(["--target", "y"]);
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok && err.contains(says), "{ignore}: {err}");
    }
    // The hint names the ways out for a feature's cell, empty ones too,
    // and for the target's not --ignore, which would change the target,
    // but --target where the target was the default.
    let odd = path(&dir, "odd.csv");
    std::fs::write(&odd, "a,b,y\n1,,3\n1,2,x\n").unwrap();
    let (_, _, err) = shadertrain(&train_data(&odd, "cpu", &[]));
    assert!(err.contains("the cell is empty; expected a number (column 'b'); if it is not a feature, --ignore b leaves it unread; if it is, --missing drop leaves out the rows with a missing cell, and --missing mean fills each with its column's mean"), "{err}");
    // From a model trained with --missing mean, only that option will do.
    let [full, filled] = paths(&dir, ["full.csv", "filled.st"]);
    std::fs::write(&full, "a,b,y\n1,2,3\n2,3,5\n3,1,4\n").unwrap();
    run_ok(&train_data(
        &full,
        "cpu",
        &["--missing", "mean", "--epochs", "2", "--save", &filled],
    ));
    let (_, _, err) = shadertrain(&train_data(
        &odd,
        "cpu",
        &["--init", &filled, "--epochs", "2"],
    ));
    assert!(err.contains("the cell is empty; expected a number (column 'b'); if it is not a feature, --ignore b leaves it unread; if it is, --missing mean fills each with the training mean --init's model keeps (it was trained with --missing mean)") && !err.contains("--missing drop"), "{err}");
    std::fs::write(&odd, "a,b,y\n1,2,3\n1,2,NA\n").unwrap();
    let (_, _, err) = shadertrain(&train_data(
        &odd,
        "cpu",
        &["--init", &filled, "--epochs", "2"],
    ));
    assert!(err.contains("(column 'y'); --missing mean leaves out the rows with a missing target (the option --init's model was trained with)"), "{err}");
    let (_, _, err) = shadertrain(&train_data(&odd, "cpu", &[]));
    assert!(err.contains("(column 'y'); --missing drop leaves out the rows with a missing cell, as --missing mean does for a missing target"), "{err}");
    std::fs::write(&odd, "a,b,y\n1,2,x\n").unwrap();
    let (_, _, err) = shadertrain(&train_data(&odd, "cpu", &[]));
    assert!(
        err.contains("'x' is not a number (column 'y'); it is the target (the last column read, as no --target names one), whose cells must be numbers: --target NAME names the column to predict, and otherwise edit the cell in the file") && !err.contains("--ignore"),
        "{err}"
    );
    let (_, _, err) = shadertrain(&train_data(&odd, "cpu", &["--target", "y"]));
    assert!(err.ends_with("'x' is not a number (column 'y')\n"), "{err}");
    let every = "id,x0,note,x1,y,when";
    let (ok, _, err) = shadertrain(&train_data(&mixed, "cpu", &["--ignore", every]));
    assert!(!ok && err.contains("--ignore names every column"), "{err}");
    // A column left in is read, and its text is an error at its cell.
    let named = ["--ignore", "id,note", "--target", "y"];
    let (ok, _, err) = shadertrain(&train_data(&mixed, "cpu", &named));
    let says = ":2:6: '2024-01-01' is not a number (column 'when'); if it is not a feature, --ignore when leaves it unread";
    assert!(!ok && err.contains(says), "{err}");
}

/// Rows whose cells are all empty (`;;;`, as spreadsheets write below
/// their data) are named as such, with the ways out: deleting them, or
/// `--missing drop`, which trains as the file without them does.
#[test]
fn rows_of_empty_cells_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let [blank, clean, m1, m2, p1, p2] = paths(
        &dir,
        ["b.csv", "c.csv", "m1.st", "m2.st", "p1.csv", "p2.csv"],
    );
    std::fs::write(&clean, "x0;x1;y\n1;2;3\n2;3;5\n3;1;4\n").unwrap();
    std::fs::write(&blank, "x0;x1;y\n1;2;3\n2;3;5\n3;1;4\n;;\n ; ;\n").unwrap();
    let semicolon = ["--delimiter", ";", "--epochs", "3"];
    let (ok, _, err) = shadertrain(&train_data(&blank, "cpu", &semicolon));
    let says = ":5:1: the cell is empty, as is every cell of the row (a spreadsheet may write such rows below its data); expected a number (column 'x0'); delete those rows from the file, or --missing drop leaves them out";
    assert!(
        !ok && err.contains(says) && !err.contains("--ignore"),
        "{err}"
    );
    // From a model trained with --missing mean, that option is named.
    let mean = [&semicolon[..], &["--missing", "mean", "--save", &m1]].concat();
    run_ok(&train_data(&clean, "cpu", &mean));
    let init = [&semicolon[..], &["--init", &m1]].concat();
    let (_, _, err) = shadertrain(&train_data(&blank, "cpu", &init));
    assert!(err.contains("(column 'x0'); delete those rows from the file, or --missing mean (the option --init's model was trained with) leaves them out"), "{err}");
    // A row with one empty cell among numbers keeps the cell's own hint.
    std::fs::write(&blank, "x0;x1;y\n1;2;3\n;3;5\n").unwrap();
    let (_, _, err) = shadertrain(&train_data(&blank, "cpu", &semicolon));
    assert!(err.contains(":3:1: the cell is empty; expected a number (column 'x0'); if it is not a feature, --ignore x0"), "{err}");
    std::fs::write(&blank, "x0;x1;y\n1;2;3\n2;3;5\n3;1;4\n;;\n").unwrap();
    let drop = [&semicolon[..], &["--missing", "drop", "--save", &m1]].concat();
    run_ok(&train_data(&blank, "cpu", &drop));
    run_ok(&train_data(
        &clean,
        "cpu",
        &[&semicolon[..], &["--save", &m2]].concat(),
    ));
    let predict = |model: &str, out: &str| {
        run_ok(&[
            "predict",
            "--model",
            model,
            "--data",
            &clean,
            "--delimiter",
            ";",
            "--out",
            out,
        ]);
        std::fs::read_to_string(out).unwrap()
    };
    assert_eq!(predict(&m1, &p1), predict(&m2, &p2));
    // predict and importance name them too, with deleting them first (a
    // model without means has nothing to fill them with).
    for command in ["predict", "importance"] {
        let args = [
            command,
            "--model",
            &m2,
            "--data",
            &blank,
            "--delimiter",
            ";",
        ];
        let (ok, _, err) = shadertrain(&args);
        let way = match command {
            "predict" => "--missing blank leaves the row's prediction empty\n",
            _ => "--missing drop leaves the row out\n",
        };
        let says = format!(":5:1: the cell is empty, as is every cell of the row (a spreadsheet may write such rows below its data); expected a number (column 'x0'); delete those rows from the file, or {way}");
        assert!(!ok && err.ends_with(&says), "{command}: {err}");
    }
}

/// `-` is standard input for `--data` and standard output for `--out`.
#[test]
fn a_dash_is_standard_input_or_output() {
    let dir = tempfile::tempdir().unwrap();
    let [m1, m2] = paths(&dir, ["m1.st", "m2.st"]);
    let piped = run_piped;
    let csv = piped(
        &["gen", "--rows", "40", "--features", "2", "--out", "-"],
        b"",
    );
    assert!(
        csv.starts_with(b"x0,x1,y\n") && csv.len() > 40 * 6,
        "{csv:?}"
    );
    assert!(!Path::new("-").exists());
    let file = path(&dir, "d.csv");
    std::fs::write(&file, &csv).unwrap();
    run_ok(&train_data(&file, "cpu", &["--epochs", "3", "--save", &m1]));
    piped(
        &train_data("-", "cpu", &["--epochs", "3", "--save", &m2]),
        &csv,
    );
    assert_same_file(&m1, &m2, "");
    // The model on standard output: the same bytes; the summary goes to
    // standard error.
    let saved = piped(
        &train_data(&file, "cpu", &["--epochs", "3", "--save", "-"]),
        b"",
    );
    assert_eq!(saved, std::fs::read(&m1).unwrap());
    // Not on a terminal (`script` gives the run one), where a binary model
    // would be garbage on the screen.
    let bin = env!("CARGO_BIN_EXE_shadertrain");
    let on_tty = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{bin} train --data {file} --epochs 1 --save - -q"),
        ])
        .arg("/dev/null")
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&on_tty.stdout);
    assert!(!on_tty.status.success(), "{shown}");
    assert!(
        shown.contains("--save is standard output, which is a terminal"),
        "{shown}"
    );
    // A checkpoint, rewritten again and again, cannot be, by any name.
    let (ok, _, err) = shadertrain(&train_data(&file, "cpu", &["--checkpoint", "/dev/stdout"]));
    assert!(
        !ok && err.contains("--checkpoint is standard output"),
        "{err}"
    );
    let (ok, _, err) = shadertrain(&train_data(&file, "cpu", &["--checkpoint", "-"]));
    assert!(
        !ok && err.contains("so it cannot be standard output"),
        "{err}"
    );
    assert!(!Path::new("-").exists());
    let preds = piped(
        &["predict", "--model", &m1, "--data", "-", "--out", "-"],
        &csv,
    );
    assert!(preds.starts_with(b"y_pred\n"), "{preds:?}");
    assert_eq!(preds.iter().filter(|&&b| b == b'\n').count(), 41);
}

/// pandas' `to_csv()` writes its index as a first column with no name:
/// `train` refuses it with the way out, `--ignore ''` leaves it unread,
/// and `predict`, which reads only the model's columns, skips it.
#[test]
fn an_unnamed_index_column_can_be_left_unread() {
    let dir = tempfile::tempdir().unwrap();
    let [clean, indexed, m1, m2, p1, p2] = paths(
        &dir,
        ["c.csv", "i.csv", "m1.st", "m2.st", "p1.csv", "p2.csv"],
    );
    gen_csv(&clean, "40", "2", "3");
    let text = std::fs::read_to_string(&clean).unwrap();
    let mut rows = String::from(",x0,x1,y\n");
    for (n, line) in text.lines().skip(1).enumerate() {
        rows.push_str(&format!("{n},{line}\n"));
    }
    std::fs::write(&indexed, rows).unwrap();
    let (ok, _, err) = shadertrain(&train_data(&indexed, "cpu", &[]));
    assert!(
        !ok && err.contains(":1:1: the column name is empty; a file written with its row index"),
        "{err}"
    );
    assert!(err.contains("--ignore ''"), "{err}");
    run_ok(&train_data(
        &clean,
        "cpu",
        &["--epochs", "4", "--save", &m1],
    ));
    run_ok(&train_data(
        &indexed,
        "cpu",
        &["--epochs", "4", "--ignore", "", "--save", &m2],
    ));
    assert_same_file(&m1, &m2, "");
    predict_ok(&m1, &clean, &p1);
    predict_ok(&m1, &indexed, &p2);
    assert_same_file(&p1, &p2, "");

    // Columns with no name elsewhere, two of them holding text, the same.
    let gaps = path(&dir, "g.csv");
    let mut rows = String::from("x0,,x1,,y\n");
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        rows.push_str(&format!("{},note,{},x,{}\n", c[0], c[1], c[2]));
    }
    std::fs::write(&gaps, rows).unwrap();
    let (ok, _, err) = shadertrain(&train_data(&gaps, "cpu", &[]));
    assert!(
        !ok && err.contains(
            ":1:2: the column name is empty; name the column, or leave it unread with --ignore ''"
        ),
        "{err}"
    );
    run_ok(&train_data(
        &gaps,
        "cpu",
        &["--epochs", "4", "--ignore", "", "--save", &m2],
    ));
    assert_same_file(&m1, &m2, "");
    predict_ok(&m1, &gaps, &p2);
    assert_same_file(&p1, &p2, "");
    let (ok, _, err) = shadertrain(&["predict", "--model", &m1, "--data", &gaps, "--keep", ""]);
    assert!(
        !ok && err.contains("--keep '' names more than one column with no name"),
        "{err}"
    );
}

/// `--init` without `--target` on a file whose last column is not the
/// model's target trains that target: the run is the one with `--target`
/// named, and it resumes without the --init file. A `--target` given
/// otherwise is kept, and the error then lists the features and the
/// target apart and says --target.
#[test]
fn init_trains_the_model_s_target_wherever_its_column_is() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, rev, model, m1, m2, m3, ck] = paths(
        &dir,
        ["d.csv", "r.csv", "m.st", "1.st", "2.st", "3.st", "ck.st"],
    );
    gen_csv(&csv, "30", "2", "1");
    let text = std::fs::read_to_string(&csv).unwrap();
    let reversed: String = (text.lines())
        .map(|l| l.split(',').rev().collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(&rev, reversed).unwrap();
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "2", "--save", &model],
    ));
    let more = ["--init", &model, "--epochs", "4"];
    let out = run_ok(&train_data(
        &rev,
        "cpu",
        &[&more[..], &["--save", &m1]].concat(),
    ));
    assert!(out.contains("target y"), "{out}");
    let named = [&more[..], &["--target", "y", "--save", &m2]].concat();
    run_ok(&train_data(&rev, "cpu", &named));
    assert_same_file(&m1, &m2, "");
    // Stopped at epoch 2 and resumed with the --init file gone.
    let init = ["--init", &model, "--epochs", "2", "--checkpoint", &ck];
    run_ok(&train_data(&rev, "cpu", &init));
    std::fs::remove_file(&model).unwrap();
    run_ok(&train_resume(&ck, "cpu", &["--epochs", "4", "--save", &m3]));
    assert_same_file(&m1, &m3, "");
    std::fs::copy(&m1, &model).unwrap();
    let other = ["--init", &model, "--target", "x0"];
    let (_, err) = run_refused(&train_data(&rev, "cpu", &other));
    let says = "the model takes 2 features (x0, x1) but the data has 2 features (y, x1; target 'x0'): missing x0; not in the model: y; the model's target 'y' is a feature here: leave it unread with --ignore y, or train it with --target y";
    assert!(err.contains(says), "{err}");
    // Columns the model was trained without: left unread with --ignore,
    // as the error says.
    let wider: String = (text.lines())
        .enumerate()
        .map(|(n, l)| format!("{},{l}\n", if n == 0 { "w a" } else { "1" }))
        .collect();
    std::fs::write(&rev, wider).unwrap();
    let (_, err) = run_refused(&train_data(&rev, "cpu", &["--init", &model]));
    let says = "not in the model: w a; leave the columns the model does not take unread with --ignore 'w a', or train a new model without --init";
    assert!(err.contains(says), "{err}");
    run_ok(&train_data(
        &rev,
        "cpu",
        &["--init", &model, "--ignore", "w a", "--epochs", "1"],
    ));
    // Synthetic rows: the --features that gives them the model's columns
    // (x0, x1 and y), which then trains; none for a file's names.
    let init = ["--init", &model, "--epochs", "1"];
    let (_, err) = run_refused(&train_synthetic("50", "3", "cpu", &init));
    let says = "not in the model: x2; synthetic rows have the model's columns with --features 2";
    assert!(err.contains(says) && !err.contains("--ignore"), "{err}");
    run_ok(&train_synthetic("50", "2", "cpu", &init));
    std::fs::write(&rev, "a,b,y\n1,2,3\n2,3,4\n").unwrap();
    run_ok(&train_data(&rev, "cpu", &["--epochs", "1", "--save", &m2]));
    let (_, err) = run_refused(&train_synthetic("50", "3", "cpu", &["--init", &m2]));
    assert!(err.contains("the model was trained on a file's columns: give --data a file with them and its target"), "{err}");
    // Columns matched by name, in any order: x1, x0 are synthetic rows'.
    std::fs::write(&rev, "x1,x0,y\n1,2,3\n2,3,4\n").unwrap();
    run_ok(&train_data(&rev, "cpu", &["--epochs", "1", "--save", &m2]));
    let (_, err) = run_refused(&train_synthetic("50", "3", "cpu", &["--init", &m2]));
    assert!(
        err.contains("synthetic rows have the model's columns with --features 2"),
        "{err}"
    );
    // A file without the model's target column: its last column is
    // trained, and the model saved names it.
    std::fs::write(&rev, text.replacen(",y\n", ",z\n", 1)).unwrap();
    let (_, err) = run_ok_out_err(&train_data(
        &rev,
        "cpu",
        &["--init", &model, "--epochs", "1", "--save", &m2],
    ));
    assert!(
        err.contains("was trained on the target 'y'; this run trains it on 'z', and the model it saves names 'z'"),
        "{err}"
    );
    assert_eq!(load_model(Path::new(&m2)).unwrap().target_name, "z");
}

/// `--missing drop` leaves out the rows with a missing cell (empty or a
/// marker, in a feature or the target) and trains as on the file without
/// them; text is still an error; a resumed run drops them again.
#[test]
fn missing_drop_trains_as_the_file_without_those_rows() {
    let dir = tempfile::tempdir().unwrap();
    let [whole, gaps, quoted, hist_a, hist_b, json, ckpt, json2] = paths(
        &dir,
        [
            "whole.csv",
            "gaps.csv",
            "quoted.csv",
            "a.csv",
            "b.csv",
            "s.json",
            "c.ckpt",
            "r.json",
        ],
    );
    let d = Dataset::synthetic(60, 2, 4).unwrap();
    let (mut kept, mut holed) = (String::from("id,a,b,y\n"), String::from("id,a,b,y\n"));
    let markers = ["", " NA ", "?", "nan", "NULL", "#N/A"];
    let mut dropped = 0;
    for n in 0..d.rows {
        let cells = [d.row(n)[0], d.row(n)[1], d.y[n]].map(|v| v.to_string());
        if n % 7 == 3 {
            // A gap in one column of three, in turn, with each marker.
            let mut cells = cells.clone();
            cells[n % 3] = markers[n % markers.len()].to_string();
            holed.push_str(&format!("r{n},{}\n", cells.join(",")));
            dropped += 1;
            continue;
        }
        let line = format!("r{n},{}\n", cells.join(","));
        kept.push_str(&line);
        holed.push_str(&line);
    }
    std::fs::write(&whole, &kept).unwrap();
    std::fs::write(&gaps, &holed).unwrap();
    // A quote sends the whole file through the csv reader.
    std::fs::write(&quoted, holed.replace("r0,", "\"r0\",")).unwrap();
    let fit = ["--ignore", "id", "--optimizer", "adam", "--lr", "0.01"];
    let run = |csv: &str, history: &str, more: &[&str]| {
        let mut args = train_data(csv, "cpu", &fit);
        args.extend(["--epochs", "6"]);
        args.extend(["--history", history]);
        args.extend_from_slice(more);
        run_ok(&args)
    };
    run(&whole, &hist_a, &[]);
    for file in [&gaps, &quoted] {
        let out = run(file, &hist_b, &["--missing", "drop", "--json", &json]);
        assert_same_file(&hist_a, &hist_b, file);
        let says = format!("dropped {dropped} of 60 rows with a missing cell (a: 3, b: 3, y: 3)");
        assert!(out.contains(&says), "{out}");
        let summary = read_json(&json);
        assert_eq!(summary["dropped_rows"], dropped);
        assert_eq!(summary["train_rows"], 60 - dropped);
    }
    assert_eq!(read_json(&json)["options"]["missing"], "drop");
    // Without it, the first gap is an error that offers it.
    let (ok, _, err) = shadertrain(&train_data(&gaps, "cpu", &fit));
    assert!(!ok && err.contains(":5:2: 'nan' marks a missing value; expected a number (column 'a'); if it is not a feature, --ignore a leaves it unread; if it is, --missing drop leaves out"), "{err}");
    // Text is not a gap.
    let text = holed.replace("r1,", "r1,x");
    std::fs::write(&gaps, &text).unwrap();
    let mut args = train_data(&gaps, "cpu", &fit);
    args.extend(["--missing", "drop"]);
    let (ok, _, err) = shadertrain(&args);
    assert!(!ok && err.contains(":3:2: 'x"), "{err}");
    assert!(err.contains("is not a number (column 'a')"), "{err}");
    // A run resumed drops the same rows.
    std::fs::write(&gaps, &holed).unwrap();
    let dropping = [&fit[..], &["--missing", "drop"]].concat();
    stop_and_resume(
        &gaps,
        &dropping,
        &ckpt,
        ["3", "6"],
        &["--json", &json2, "-q"],
    );
    let resumed = read_json(&json2);
    assert_eq!(resumed["dropped_rows"], dropped);
    assert_eq!(resumed["final_loss"], read_json(&json)["final_loss"]);
    // Every row with a gap, or synthetic rows: refused.
    std::fs::write(&gaps, "a,y\n1,\nNA,2\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(&gaps, "cpu", &["--missing", "drop"]));
    assert!(
        !ok && err
            .contains("every row has a missing cell (a: 1, y: 1), so --missing drop leaves none to train on; --missing mean fills missing feature cells instead"),
        "{err}"
    );
    // A feature missing in every row: no --missing fills it, so the
    // advice is --ignore (--missing mean is refused for that column).
    std::fs::write(&gaps, "a,b,c,y\n1,,,3\n2,NA,,5\n").unwrap();
    for (more, says) in [
        ("drop", "every row has a missing cell (b: 2, c: 2), so --missing drop leaves none to train on; b and c are missing in every row, so no --missing fills them: --ignore b,c leaves them unread"),
        ("mean", "the feature 'b' has no number"),
    ] {
        let (ok, _, err) = shadertrain(&train_data(&gaps, "cpu", &["--missing", more]));
        assert!(!ok && err.contains(says) && !err.contains("--missing mean fills"), "{more}: {err}");
    }
    let (ok, _, err) = shadertrain(&train_synthetic("10", "2", "cpu", &["--missing", "drop"]));
    assert!(!ok && err.contains("--missing drop needs --data"), "{err}");
}

/// `predict --missing blank`: a row with a missing feature gets an empty
/// prediction in its place and is left out of the scores, which are those
/// of the file without it; without the option the first is an error that
/// offers it.
#[test]
fn predict_leaves_rows_with_a_missing_feature_blank() {
    let dir = tempfile::tempdir().unwrap();
    let [train_csv, model, holed, whole, out, json, json_whole] = paths(
        &dir,
        [
            "t.csv", "m.st", "h.csv", "w.csv", "p.csv", "h.json", "w.json",
        ],
    );
    gen_csv(&train_csv, "50", "2", "3");
    run_ok(&train_data(
        &train_csv,
        "cpu",
        &["--epochs", "20", "--save", &model],
    ));
    // Row b has no target either: it is not scored anyway.
    let rows = [
        "id,x0,x1,y",
        "a,0.1,0.2,0.3",
        "b,,0.5,",
        "c,0.3, NA ,0.2",
        "d,0.5,0.5,0.9",
    ];
    std::fs::write(&holed, rows.join("\n")).unwrap();
    std::fs::write(&whole, [rows[0], rows[1], rows[4]].join("\n")).unwrap();
    let predict = |data: &str, json: &str, more: &[&str]| {
        let mut args = vec!["predict", "--model", &model, "--data", data, "--json", json];
        args.extend_from_slice(more);
        shadertrain(&args)
    };
    let (ok, said, err) = predict(
        &holed,
        &json,
        &["--keep", "id", "--missing", "blank", "--out", &out],
    );
    assert!(ok, "{err}");
    assert!(err.contains("notice: 2 of 4 rows have a missing feature: their predictions are empty, and not scored"), "{err}");
    // The scores' line counts the rows scored, not the rows predicted.
    assert!(said.contains(" over 2 rows, r² "), "{said}");
    let written = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "id,y_pred");
    assert_eq!(lines[2..4], ["b,", "c,"]);
    assert!(
        lines[1].starts_with("a,") && lines[4].starts_with("d,") && lines[4].len() > 2,
        "{written}"
    );
    let (ok, out_whole, err) = predict(&whole, &json_whole, &[]);
    assert!(ok, "{err}");
    let preds: Vec<&str> = out_whole.lines().skip(1).collect();
    assert_eq!(preds, [&lines[1][2..], &lines[4][2..]]);
    let holed_path = holed;
    let (holed, whole) = (read_json(&json), read_json(&json_whole));
    assert_eq!(
        (holed["rows"].as_u64(), holed["blank_rows"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(whole["blank_rows"], 0);
    // Row b has no target, and c a missing feature: two of four scored.
    assert_eq!(
        (holed["scored_rows"].as_u64(), whole["scored_rows"].as_u64()),
        (Some(2), Some(2))
    );
    for score in ["mse", "rmse", "mae", "r2"] {
        assert_eq!(holed[score], whole[score], "{score}");
    }
    // Alone on its line, a blank prediction is quoted, so that CSV
    // readers, which skip blank lines, read it as a row.
    let (ok, alone, err) = predict(&holed_path, &json, &["--missing", "blank"]);
    assert!(ok, "{err}");
    assert_eq!(alone.lines().collect::<Vec<_>>()[2..4], ["\"\"", "\"\""]);
    // A row with its features but no target is predicted, and not scored;
    // so is one row with a missing feature.
    let unmeasured = [rows[0], rows[1], rows[3], rows[4], "e,0.2,0.2,"].join("\n");
    std::fs::write(&holed_path, unmeasured).unwrap();
    let (ok, _, err) = predict(&holed_path, &json, &["--missing", "blank", "--out", &out]);
    assert!(
        ok && err.contains("1 of the rows predicted has no target value")
            && err.contains("notice: 1 of 4 rows has a missing feature: its prediction is empty, and not scored"),
        "{err}"
    );
    assert_eq!(read_json(&json)["mse"], whole["mse"]);
    // --quiet: neither notice nor the line of scores; --json has them.
    std::fs::remove_file(&json).unwrap();
    let quiet = ["--missing", "blank", "--out", &out, "--quiet"];
    let (ok, said, err) = predict(&holed_path, &json, &quiet);
    assert!(ok && said.is_empty() && err.is_empty(), "{said}{err}");
    assert_eq!(read_json(&json)["mse"], whole["mse"]);
    std::fs::write(&holed_path, rows.join("\n")).unwrap();
    // Without it: an error at the first gap, offering the option.
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &path(&dir, "h.csv")]);
    assert!(
        !ok && err.contains(
            ":3:2: the cell is empty; expected a number (column 'x0'); --missing blank leaves the row's prediction empty, and a model trained with --missing mean or median fills the cell"
        ),
        "{err}"
    );
    // Text in a column the model takes names it as the model's feature.
    std::fs::write(&holed_path, "id,x0,x1\na,0.5,N1\n").unwrap();
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &holed_path]);
    assert!(
        !ok && err.contains(":2:3: 'N1' is not a number (column 'x1'); the model takes 'x1' as a feature, so its cells must be numbers (a model trained with --ignore x1 does not read it)"),
        "{err}"
    );
}

/// A column whose name holds a comma is named whole in `--ignore` and
/// `--keep`, in a list or alone; a resumed run reads the same columns.
#[test]
fn names_with_commas_can_be_ignored_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, ckpt] = paths(&dir, ["c.csv", "c.st", "c.ck"]);
    std::fs::write(
        &csv,
        "id,\"price, USD\",x0,y\na,1,0.1,0.2\nb,2,0.3,0.4\nc,3,0.5,0.1\n",
    )
    .unwrap();
    for ignore in [&["id,price, USD"][..], &["price, USD", "id"]] {
        let mut args = train_data(&csv, "cpu", &["--epochs", "2", "-q", "--save", &model]);
        for value in ignore {
            args.extend(["--ignore", value]);
        }
        run_ok(&args);
        let m = load_model(Path::new(&model)).unwrap();
        assert_eq!(m.feature_names, ["x0"], "{ignore:?}");
    }
    let out = run_ok(&[
        "predict",
        "--model",
        &model,
        "--data",
        &csv,
        "--keep",
        "id,price, USD",
    ]);
    assert!(out.starts_with("id,\"price, USD\",y_pred\na,1,"), "{out}");
    let fit = ["--ignore", "id,price, USD", "-q"];
    stop_and_resume(&csv, &fit, &ckpt, ["2", "4"], &["-q"]);
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &["--ignore", "id,price"]));
    assert!(
        !ok && err.contains("--ignore names 'price', which is not a column"),
        "{err}"
    );
    assert!(
        err.contains("the header has: id, \"price, USD\", x0, y"),
        "{err}"
    );
    // The hint at a bad cell quotes such a name, to be pasted.
    std::fs::write(&csv, "id,\"price, USD\",x0,y\na,x,0.1,0.2\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &["--ignore", "id"]));
    assert!(
        !ok && err.contains("--ignore 'price, USD' leaves it unread"),
        "{err}"
    );
}

/// The rows of `--missing mean`'s tests: 60 of `gen`'s task with a gap
/// (each marker in turn) in feature a or b of every 7th row and no target
/// in every 11th. Returns the CSV text and the rows as read: NaN where a
/// cell is missing.
fn rows_with_gaps() -> (String, Vec<[f32; 3]>) {
    let d = Dataset::synthetic(60, 2, 9).unwrap();
    let markers = ["", " NA ", "?", "nan", "NULL", "#N/A"];
    let mut text = String::from("a,b,y\n");
    let mut rows = Vec::new();
    for n in 0..d.rows {
        let mut row = [d.row(n)[0], d.row(n)[1], d.y[n]];
        let mut cells = row.map(|v| v.to_string());
        if n % 7 == 3 {
            cells[n % 2] = markers[n % markers.len()].to_string();
            row[n % 2] = f32::NAN;
        }
        if n % 11 == 5 {
            cells[2] = markers[n % markers.len()].to_string();
            row[2] = f32::NAN;
        }
        text.push_str(&format!("{}\n", cells.join(",")));
        rows.push(row);
    }
    (text, rows)
}

/// Each feature's mean in f64 over `rows`' numbers, summed in row order.
fn feature_means(rows: &[[f32; 3]]) -> Vec<f64> {
    (0..2)
        .map(|j| {
            let present: Vec<f64> = (rows.iter())
                .filter(|r| !r[j].is_nan())
                .map(|r| r[j] as f64)
                .collect();
            present.iter().sum::<f64>() / present.len() as f64
        })
        .collect()
}

/// Each feature's median over `rows`' numbers: the middle one, or the
/// mean of the two middle ones, in f64.
fn feature_medians(rows: &[[f32; 3]]) -> Vec<f64> {
    (0..2)
        .map(|j| {
            let mut v: Vec<f64> = (rows.iter())
                .filter(|r| !r[j].is_nan())
                .map(|r| r[j] as f64)
                .collect();
            v.sort_by(f64::total_cmp);
            (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
        })
        .collect()
}

/// `rows` as an `a,b,y` file with each feature's missing cells holding
/// `values` (rounded to f32, as a fill is), and how many each had.
fn written_in(rows: &[[f32; 3]], values: &[f64]) -> (String, [usize; 2]) {
    let mut written = String::from("a,b,y\n");
    let mut filled = [0usize; 2];
    for row in rows {
        let mut row = *row;
        for j in 0..2 {
            if row[j].is_nan() {
                row[j] = values[j] as f32;
                filled[j] += 1;
            }
        }
        written.push_str(&format!("{},{},{}\n", row[0], row[1], row[2]));
    }
    (written, filled)
}

/// `--missing mean` fills each missing feature cell with its column's
/// mean over the rows trained on and leaves out the rows with no target:
/// the run is, bit for bit, the run on a file with those means written in
/// and those rows gone. The model keeps the means, and predict fills with
/// them by default, as if the file had them written in.
#[test]
fn missing_mean_trains_and_predicts_as_the_file_with_the_means_written_in() {
    let dir = tempfile::tempdir().unwrap();
    let [holed, filled, hist_a, hist_b, json, model, plain, pred_a, pred_b, pjson] = paths(
        &dir,
        [
            "holed.csv",
            "filled.csv",
            "a.csv",
            "b.csv",
            "s.json",
            "m.st",
            "p.st",
            "pa.csv",
            "pb.csv",
            "p.json",
        ],
    );
    let (text, rows) = rows_with_gaps();
    std::fs::write(&holed, &text).unwrap();
    let kept: Vec<[f32; 3]> = rows.iter().filter(|r| !r[2].is_nan()).copied().collect();
    let means = feature_means(&kept);
    let (written, cells_filled) = written_in(&kept, &means);
    std::fs::write(&filled, &written).unwrap();
    assert!(cells_filled[0] > 0 && cells_filled[1] > 0 && kept.len() < 60);
    let fit = ["--optimizer", "adam", "--lr", "0.01", "--epochs", "6"];
    let mut args = train_data(&holed, "cpu", &fit);
    args.extend(["--missing", "mean", "--history", &hist_a, "--json", &json]);
    args.extend(["--save", &model]);
    let out = run_ok(&args);
    let mut args = train_data(&filled, "cpu", &fit);
    args.extend(["--history", &hist_b, "--save", &plain]);
    run_ok(&args);
    assert_same_file(&hist_a, &hist_b, "");
    let dropped = 60 - kept.len();
    let total = cells_filled[0] + cells_filled[1];
    let says = format!(
        "dropped {dropped} of 60 rows with a missing target; filled {total} missing cells with the training means (a: {}, b: {})",
        cells_filled[0], cells_filled[1]
    );
    assert!(out.contains(&says), "{out}");
    let summary = read_json(&json);
    assert_eq!(summary["options"]["missing"], "mean");
    assert_eq!(summary["dropped_rows"], dropped);
    assert_eq!(summary["filled_cells"], total);
    let saved = load_model(Path::new(&model)).unwrap();
    assert_eq!(saved.imputation.unwrap().feature_mean, means);
    assert_eq!(load_model(Path::new(&plain)).unwrap().imputation, None);

    // predict fills a file's gaps with the model's means unless told not to.
    let to_predict = |with: &str| format!("a,b\n{with},0.25\n-0.5,{with}\n0.125,-0.75\n");
    std::fs::write(&holed, to_predict("")).unwrap();
    let explicit = format!(
        "a,b\n{},0.25\n-0.5,{}\n0.125,-0.75\n",
        means[0] as f32, means[1] as f32
    );
    std::fs::write(&filled, explicit).unwrap();
    let predict = |model: &str, data: &str, out: &str, more: &[&str]| {
        let mut args = vec!["predict", "--model", model, "--data", data, "--out", out];
        args.extend_from_slice(more);
        shadertrain(&args)
    };
    let (ok, _, err) = predict(&model, &holed, &pred_a, &["--json", &pjson]);
    assert!(ok, "{err}");
    assert!(
        err.contains("notice: filled 2 missing cells with the training means (a: 1, b: 1)"),
        "{err}"
    );
    assert_eq!(read_json(&pjson)["filled_cells"], 2);
    // filled_cells counts cells, not columns: two in a, one in b.
    let three = path(&dir, "three.csv");
    std::fs::write(&three, "a,b\n,0.25\n,-0.5\n0.125,\n").unwrap();
    let (ok, _, err) = predict(&model, &three, "/dev/null", &["--json", &pjson]);
    assert!(
        ok && err.contains("filled 3 missing cells with the training means (a: 2, b: 1)"),
        "{err}"
    );
    assert_eq!(read_json(&pjson)["filled_cells"], 3);
    let (ok, _, err) = predict(&model, &filled, &pred_b, &[]);
    assert!(ok && !err.contains("filled"), "{err}");
    assert_same_file(&pred_a, &pred_b, "");
    let (ok, _, err) = predict(&model, &holed, &pred_a, &["--missing", "blank"]);
    assert!(
        ok && err.contains("2 of 3 rows have a missing feature"),
        "{err}"
    );
    let (ok, _, err) = predict(&model, &holed, &pred_a, &["--missing", "error"]);
    assert!(
        !ok && err.contains(":2:1: the cell is empty; expected a number (column 'a'); --missing fill gives it the training mean the model keeps"),
        "{err}"
    );
    let (ok, _, err) = predict(&plain, &holed, &pred_a, &["--missing", "fill"]);
    assert!(
        !ok && err.contains("--missing fill needs a model trained with train --missing mean"),
        "{err}"
    );
}

/// `--missing mean`'s means come from the training rows alone, before
/// `--standardize` fits its statistics on the filled rows; a resumed run
/// fills as the first did; `--init` reuses its model's means and needs the
/// option; a column with no number, or no target anywhere, is an error.
#[test]
fn missing_mean_fits_on_the_training_rows_and_travels_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let [holed, half, model, again, ckpt, json_a, json_b] = paths(
        &dir,
        [
            "holed.csv",
            "half.csv",
            "m.st",
            "n.st",
            "c.ckpt",
            "a.json",
            "b.json",
        ],
    );
    let (text, rows) = rows_with_gaps();
    std::fs::write(&holed, &text).unwrap();
    let fit = [
        "--missing",
        "mean",
        "--validation-split",
        "0.25",
        "--seed",
        "7",
    ];
    let mut args = train_data(&holed, "cpu", &fit);
    args.extend([
        "--standardize",
        "--epochs",
        "6",
        "--json",
        &json_a,
        "--save",
        &model,
    ]);
    run_ok(&args);
    // The split of the rows with a target, as the run made it.
    let kept: Vec<[f32; 3]> = rows.iter().filter(|r| !r[2].is_nan()).copied().collect();
    let all = Dataset {
        x: kept.iter().flat_map(|r| [r[0], r[1]]).collect(),
        y: kept.iter().map(|r| r[2]).collect(),
        rows: kept.len(),
        features: 2,
        feature_names: vec!["a".into(), "b".into()],
        target_name: "y".into(),
    };
    let (mut train, _) = all.split(0.25, 7).unwrap();
    let train_rows: Vec<[f32; 3]> = (0..train.rows)
        .map(|n| [train.row(n)[0], train.row(n)[1], train.y[n]])
        .collect();
    let means = feature_means(&train_rows);
    assert_ne!(
        means,
        feature_means(&kept),
        "the split leaves the means as they were"
    );
    let saved = load_model(Path::new(&model)).unwrap();
    let imputation = saved.imputation.clone().unwrap();
    assert_eq!(imputation.feature_mean, means);
    imputation.apply(&mut train);
    assert_eq!(saved.standardization, Some(Standardization::fit(&train)));

    // Resumed at epoch 3, the run ends where one of 6 epochs does.
    let standardized = [&fit[..], &["--standardize"]].concat();
    stop_and_resume(
        &holed,
        &standardized,
        &ckpt,
        ["3", "6"],
        &["--json", &json_b],
    );
    let (a, b) = (read_json(&json_a), read_json(&json_b));
    assert_eq!(a["final_loss"], b["final_loss"]);
    assert_eq!(a["filled_cells"], b["filled_cells"]);

    // --init: the model's means, on other rows too; the option is needed.
    let whole: Vec<&str> = (text.lines())
        .filter(|l| {
            !l.split(',')
                .any(|c| c.trim().parse::<f32>().map_or(true, f32::is_nan))
        })
        .collect();
    std::fs::write(
        &half,
        ["a,b,y"]
            .iter()
            .chain(&whole)
            .copied()
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let (ok, _, err) = shadertrain(&train_data(
        &half,
        "cpu",
        &["--init", &model, "--standardize"],
    ));
    assert!(!ok && err.contains("was trained with --missing mean, and predict fills missing cells with its training means; add --missing mean to continue from it"), "{err}");
    let first_half: Vec<&str> = text.lines().take(31).collect();
    std::fs::write(&half, first_half.join("\n")).unwrap();
    let mut args = train_data(&half, "cpu", &["--init", &model, "--standardize"]);
    args.extend(["--missing", "mean", "--epochs", "2", "--save", &again]);
    run_ok(&args);
    let reused = load_model(Path::new(&again)).unwrap().imputation.unwrap();
    assert_eq!(reused, imputation);

    // The target where --target puts it, not the last column: its row
    // is left out, and its features count in no mean.
    std::fs::write(&holed, "a,y,b,id\n1,10,2,p\n3,,400,q\n,30,6,r\n5,50,,s\n").unwrap();
    let mut args = train_data(&holed, "cpu", &["--missing", "mean", "--target", "y"]);
    args.extend([
        "--ignore", "id", "--epochs", "2", "--save", &again, "--json", &json_b,
    ]);
    run_ok(&args);
    let summary = read_json(&json_b);
    assert_eq!(
        (
            summary["dropped_rows"].as_u64(),
            summary["filled_cells"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let means = load_model(Path::new(&again)).unwrap().imputation.unwrap();
    assert_eq!(means.feature_mean, [3.0, 4.0]);

    // Nothing to fill with, nothing to train on, or no file at all.
    std::fs::write(&holed, "a,b,y\nNA,1,2\n,2,3\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(&holed, "cpu", &["--missing", "mean"]));
    assert!(
        !ok && err.contains(&format!("{holed}: the feature 'a' has no number in the 2 rows trained on, so --missing mean has no mean to fill it with; --ignore a leaves it unread")),
        "{err}"
    );
    // A one-hot column with no level in the training rows (its one level
    // is in the row --seed 3 holds out) is named as the column, which
    // --ignore leaves out, not as its level.
    std::fs::write(&holed, "a,c,y\n1,,1\n2,,2\n3,,3\n4,r,4\n5,,5\n").unwrap();
    let more = ["--missing", "mean", "--categorical", "c"];
    let mut args = train_data(&holed, "cpu", &more);
    args.extend(["--validation-split", "0.2", "--seed", "3"]);
    let (ok, _, err) = shadertrain(&args);
    assert!(
        !ok && err.contains(&format!("{holed}: the one-hot column 'c' has no level in the 4 rows trained on, so --missing mean has no mean to fill it with; --ignore c leaves it unread")),
        "{err}"
    );
    std::fs::write(&holed, "a,b,y\n1,1,\n,2,NA\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(&holed, "cpu", &["--missing", "mean"]));
    assert!(
        !ok && err.contains(
            "every row has its target missing (y: 2), so --missing mean leaves none to train on"
        ),
        "{err}"
    );
    let (ok, _, err) = shadertrain(&train_synthetic("10", "2", "cpu", &["--missing", "mean"]));
    assert!(!ok && err.contains("--missing mean needs --data"), "{err}");
}

/// A fresh standardized run names the features with heavy tails, once
/// across a search's runs; not on raw rows, nor from --init's statistics.
#[test]
fn heavy_tailed_features_are_named_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["h.csv", "m.st"]);
    let mut text = String::from("u,c,y\n");
    for n in 0..2000 {
        let u = (n as f64 + 0.5) / 2000.0;
        let c =
            (std::f64::consts::PI * (((n * 7919) % 2000) as f64 / 2000.0 + 0.00025 - 0.5)).tan();
        text.push_str(&format!("{u},{c},{}\n", u + c.atan()));
    }
    std::fs::write(&csv, text).unwrap();
    let says = "notice: 'c' has heavy tails: its standard deviation is ";
    let fit = ["--epochs", "5", "--save", &model];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &fit));
    assert!(ok && err.contains(says), "{err}");
    assert!(
        err.contains("a transform in the file (log for positive values, asinh for any)"),
        "{err}"
    );
    assert!(!err.contains("'u'"), "{err}");
    let grid = ["--epochs", "3", "--folds", "2", "--grid", "hidden=4,8"];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &grid));
    assert!(ok && err.matches(says).count() == 1, "{err}");
    for more in [&["--no-standardize"][..], &["--init", &model]] {
        let (ok, _, err) = shadertrain(&train_data(
            &csv,
            "cpu",
            &[more, &["--epochs", "2"]].concat(),
        ));
        assert!(ok && !err.contains("heavy tails"), "{more:?}: {err}");
    }
    // The same column as the target: named as the target, with the
    // transform and its way back.
    let target = ["--epochs", "2", "--target", "c"];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &target));
    let says = "notice: the target 'c' has heavy tails: its standard deviation is ";
    assert!(
        ok && err.contains(says) && !err.contains("notice: 'c'"),
        "{err}"
    );
    assert!(
        err.contains(
            "--target-transform asinh (log takes values above 0 only; asinh bends values past ±1"
        ),
        "{err}"
    );
    // Trained on its transform, it is not named.
    let target = [
        "--epochs",
        "2",
        "--target",
        "c",
        "--target-transform",
        "asinh",
    ];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &target));
    assert!(ok && !err.contains("heavy tails"), "{err}");
}

/// A resumed run reads the options its checkpoint recorded: where the file
/// given lacks a column they name, the error says so, and asks whether
/// the file is the run's. An empty column name is listed as `""`.
#[test]
fn a_resumed_run_on_another_file_says_where_its_options_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let [first, other, renamed, ckpt] = paths(&dir, ["a.csv", "b.csv", "c.csv", "r.ckpt"]);
    std::fs::write(&first, ",a,price\n1,2,3\n2,3,4\n3,1,2\n").unwrap();
    std::fs::write(&other, "a,price\n2,3\n3,4\n").unwrap();
    std::fs::write(&renamed, ",a,cost\n1,2,3\n2,3,4\n").unwrap();
    let mut args = train_data(&first, "cpu", &["--ignore", "", "--target", "price"]);
    args.extend(["--epochs", "2", "--checkpoint", &ckpt]);
    run_ok(&args);
    let asks = "; --resume reads the options the run started with, --ignore and --target among them: is --data the file it started with?";
    for (file, says) in [
        (
            &other,
            "--ignore names '', which is not a column; the header has: a, price",
        ),
        (
            &renamed,
            "no target column 'price'; the header has: \"\", a, cost",
        ),
    ] {
        let mut args = train_resume(&ckpt, "cpu", &["--epochs", "4"]);
        args.extend(["--data", file]);
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok && err.contains(&format!("{says}{asks}")), "{err}");
    }
    // Text where the run's file had numbers.
    let texts = path(&dir, "t.csv");
    std::fs::write(&texts, ",a,price\n1,paris,3\n2,3,4\n").unwrap();
    let mut args = train_resume(&ckpt, "cpu", &["--epochs", "4"]);
    args.extend(["--data", &texts]);
    let (ok, _, err) = shadertrain(&args);
    let says = "'paris' is not a number (column 'a'); --resume reads the file as the run started with it (its --ignore, --categorical, --date and --missing, and its cells as its --delimiter and --decimal-comma say, which a file written otherwise may give again): is --data the file it started with?";
    assert!(!ok && err.contains(says), "{err}");
    // Not resumed: the header lists the empty name.
    let (ok, _, err) = shadertrain(&train_data(&first, "cpu", &["--ignore", "nope"]));
    assert!(
        !ok && err.contains("the header has: \"\", a, price"),
        "{err}"
    );
    // A name that differs in case only is offered.
    for (flag, name) in [("--target", "Price"), ("--ignore", " A")] {
        let (ok, _, err) = shadertrain(&train_data(&other, "cpu", &[flag, name]));
        let near = name.trim().to_lowercase();
        assert!(
            !ok && err.contains(&format!("; did you mean '{near}'?")),
            "{err}"
        );
    }
}

/// The levels of [`colored_rows`]' text column, in the order the rows
/// cycle through them; in byte order they are "dark, blue", "green", "red".
const COLORS: [&str; 3] = ["red", "dark, blue", "green"];

/// `id,a,color,b,y` rows: a text column between two numbers, one of its
/// levels quoted for its comma and one with spaces around it (trimmed),
/// and `y` a function of all three. Also the same rows with the color
/// written as three columns of 0s and 1s, in byte order, where it was.
fn colored_rows(rows: usize) -> (String, String) {
    let mut text = String::from("id,a,color,b,y\n");
    let mut one_hot = String::from("id,a,\"color=dark, blue\",color=green,color=red,b,y\n");
    for i in 0..rows {
        let a = ((i * 7) % 13) as f32 / 4.0 - 1.5;
        let b = ((i * 5) % 11) as f32 / 8.0;
        let k = i % 3;
        let y = 0.5 * a + [0.75, -0.5, 0.25][k] + 0.25 * b;
        let cell = ["red", "\"dark, blue\"", " green "][k];
        text.push_str(&format!("P{i},{a},{cell},{b},{y}\n"));
        let hot = ["0,0,1", "1,0,0", "0,1,0"][k];
        one_hot.push_str(&format!("P{i},{a},{hot},{b},{y}\n"));
    }
    (text, one_hot)
}

/// [`colored_rows`] with a second text column, `size`, last: its rows
/// cycle through S, M, L, M (in byte order L, M, S), and its one-hot
/// columns come last in the second file.
fn sized((text, one_hot): (String, String)) -> (String, String) {
    let (mut t, mut h) = (String::new(), String::new());
    for (i, (lt, lh)) in text.lines().zip(one_hot.lines()).enumerate() {
        let (cell, hot) = match i {
            0 => ("size", "size=L,size=M,size=S"),
            i => {
                let k = (i - 1) % 4;
                (
                    ["S", "M", "L", "M"][k],
                    ["0,0,1", "0,1,0", "1,0,0", "0,1,0"][k],
                )
            }
        };
        t.push_str(&format!("{lt},{cell}\n"));
        h.push_str(&format!("{lh},{hot}\n"));
    }
    (t, h)
}

/// `--categorical` makes each level of a text column a feature of 0s and
/// 1s where the column is: the run is, bit for bit, the run on the file
/// with those columns written in; the model keeps the levels, and predict
/// encodes a file of text with them as if the columns were written in.
#[test]
fn categorical_trains_and_predicts_as_the_file_with_the_one_hot_columns_written_in() {
    let dir = tempfile::tempdir().unwrap();
    let [text, hot, hist_a, hist_b, model, plain, pred_a, pred_b] = paths(
        &dir,
        [
            "text.csv", "hot.csv", "a.csv", "b.csv", "m.st", "p.st", "pa.csv", "pb.csv",
        ],
    );
    let (rows, one_hot) = sized(colored_rows(30));
    std::fs::write(&text, &rows).unwrap();
    std::fs::write(&hot, &one_hot).unwrap();
    let fit = ["--ignore", "id", "--optimizer", "adam", "--lr", "0.01"];
    let mut args = train_data(&text, "cpu", &fit);
    // The target is y, the last column that is not categorical.
    args.extend(["--epochs", "6", "--categorical", "color,size"]);
    args.extend(["--history", &hist_a, "--save", &model]);
    let out = run_ok(&args);
    assert!(
        out.contains("one-hot color (3 levels); one-hot size (3 levels)"),
        "{out}"
    );
    let mut args = train_data(&hot, "cpu", &fit);
    args.extend(["--epochs", "6", "--target", "y"]);
    args.extend(["--history", &hist_b, "--save", &plain]);
    run_ok(&args);
    assert_same_file(&hist_a, &hist_b, "");
    let saved = load_model(Path::new(&model)).unwrap();
    assert_eq!(
        saved.feature_names,
        load_model(Path::new(&plain)).unwrap().feature_names
    );
    let mut colors = COLORS.map(String::from).to_vec();
    colors.sort();
    let sizes = ["L", "M", "S"].map(String::from).to_vec();
    let kept: Vec<(&str, &Vec<String>)> = (saved.categories.iter())
        .map(|c| (c.column.as_str(), &c.levels))
        .collect();
    assert_eq!(kept, [("color", &colors), ("size", &sizes)]);

    // predict reads the text with the model's levels (seven rows hold
    // every level of each), whatever other columns the file has: one named
    // like a level is not read.
    let (rows, one_hot) = sized(colored_rows(7));
    let rows: String = (rows.lines().enumerate())
        .map(|(i, l)| match i {
            0 => format!("{l},color=red\n"),
            _ => format!("{l},junk\n"),
        })
        .collect();
    std::fs::write(&text, rows).unwrap();
    std::fs::write(&hot, one_hot).unwrap();
    for more in [&[][..], &["--keep", "id"][..]] {
        for (m, data, out) in [(&model, &text, &pred_a), (&plain, &hot, &pred_b)] {
            let mut args = vec!["predict", "--model", m, "--data", data, "--out", out];
            args.extend_from_slice(more);
            run_ok(&args);
        }
        assert_same_file(&pred_a, &pred_b, &format!("{more:?}"));
    }
    std::fs::write(&text, "id,a,color,b,size\nP0,1,red,0,S\nP1,1,purple,0,S\n").unwrap();
    let err = run_err(&["predict", "--model", &model, "--data", &text]);
    assert!(
        err.contains(":3:3: 'purple' is not a level the model was trained on; it knows 'dark, blue', 'green', 'red' (column 'color')"),
        "{err}"
    );
    std::fs::write(&text, "id,a,b\nP0,1,0\n").unwrap();
    let err = run_err(&["predict", "--model", &model, "--data", &text]);
    assert!(
        err.contains("missing feature column(s) color, size; the model was trained on a, color, b, size and the file has id, a, b"),
        "{err}"
    );
}

/// A level the model was not trained on is an error that names
/// `--unseen`; `--unseen zeros` predicts as the file with none of the
/// column's levels written in (its one-hot features 0), `--unseen missing`
/// as a missing cell, which `--missing blank` leaves empty; each counted in
/// a notice and `--json`, in `importance` too.
#[test]
fn an_unseen_level_reads_as_unseen_says() {
    let dir = tempfile::tempdir().unwrap();
    let [text, hot, model, plain, new_text, new_hot, pred_a, pred_b, json] = paths(
        &dir,
        [
            "t.csv", "h.csv", "m.st", "p.st", "nt.csv", "nh.csv", "a.csv", "b.csv", "s.json",
        ],
    );
    let (rows, one_hot) = colored_rows(30);
    std::fs::write(&text, &rows).unwrap();
    std::fs::write(&hot, &one_hot).unwrap();
    let fit = ["--ignore", "id", "--optimizer", "adam", "--lr", "0.01"];
    for (data, m, more) in [(&text, &model, "--categorical"), (&hot, &plain, "--target")] {
        let mut args = train_data(data, "cpu", &fit);
        let value = if more == "--target" { "y" } else { "color" };
        args.extend(["--epochs", "6", more, value, "--save", m]);
        run_ok(&args);
    }
    std::fs::write(
        &new_text,
        "id,a,color,b,y\nP0,1,red,0.5,1\nP1,0.5,purple,0.25,2\nP2,-1,green,0,0\nP3,0,orange,1,1\n",
    )
    .unwrap();
    std::fs::write(
        &new_hot,
        "id,a,\"color=dark, blue\",color=green,color=red,b,y\nP0,1,0,0,1,0.5,1\nP1,0.5,0,0,0,0.25,2\nP2,-1,0,1,0,0,0\nP3,0,0,0,0,1,1\n",
    )
    .unwrap();
    let err = run_err(&["predict", "--model", &model, "--data", &new_text]);
    assert!(
        err.contains(":3:3: 'purple' is not a level the model was trained on")
            && err.contains("--unseen zeros reads such a cell as none of the model's levels"),
        "{err}"
    );
    let predict = |data: &str, m: &str, out: &str, more: &[&str]| {
        let mut args = vec!["predict", "--model", m, "--data", data, "--out", out];
        args.extend_from_slice(more);
        args.extend(["--json", &json]);
        let (ok, _, err) = shadertrain(&args);
        assert!(ok, "{args:?}: {err}");
        (err, read_json(&json))
    };
    let (said, scores) = predict(&new_text, &model, &pred_a, &["--unseen", "zeros"]);
    assert!(
        said.contains("'color' holds a level the model was not trained on in 2 of 4 rows (the first 'purple', line 3): read as none of its levels (--unseen zeros)"),
        "{said}"
    );
    assert_eq!(scores["unseen_cells"], 2, "{scores}");
    predict(&new_hot, &plain, &pred_b, &[]);
    assert_same_file(&pred_a, &pred_b, "--unseen zeros");
    let zeros: Vec<f64> = read_predictions(&pred_a);
    let err = run_err(&[
        "predict", "--model", &model, "--data", &new_text, "--unseen", "missing",
    ]);
    assert!(
        err.contains("--unseen missing reads a level the model was not trained on as a missing cell, which --missing error stops at: --missing blank"),
        "{err}"
    );
    let blank = ["--unseen", "missing", "--missing", "blank"];
    let (said, scores) = predict(&new_text, &model, &pred_a, &blank);
    assert!(
        said.contains("read as missing cells (--unseen missing)"),
        "{said}"
    );
    assert_eq!(scores["unseen_cells"], 2, "{scores}");
    assert_eq!(scores["blank_rows"], 2, "{scores}");
    let lines: Vec<String> = std::fs::read_to_string(&pred_a)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines[2], "\"\"", "{lines:?}");
    assert_eq!(lines[4], "\"\"", "{lines:?}");
    for row in [0, 2] {
        assert_eq!(
            lines[row + 1].parse::<f64>().unwrap(),
            zeros[row],
            "{lines:?}"
        );
    }
    let args = ["importance", "--model", &model, "--data", &new_text];
    let importance = [&args[..], &["--unseen", "zeros", "--json", &json]].concat();
    run_ok(&importance);
    assert_eq!(read_json(&json)["unseen_cells"], 2);
    // A cell that is not UTF-8 (Latin-1) is none of the model's levels.
    let mut latin = b"id,a,color,b,y\nP0,1,Z".to_vec();
    latin.extend([0xfc]);
    latin.extend(b"rich,0.5,1\nP1,1,red,0.5,1\n");
    std::fs::write(&new_text, latin).unwrap();
    let (said, scores) = predict(&new_text, &model, &pred_a, &["--unseen", "zeros"]);
    assert_eq!(scores["unseen_cells"], 1, "{said}");
    assert!(
        said.contains("(the first 'Z\u{fffd}rich', line 2)"),
        "{said}"
    );
    // A model without categories says the flag is unused.
    let (ok, _, err) = shadertrain(&[
        "predict", "--model", &plain, "--data", &new_hot, "--unseen", "zeros", "--out", &pred_b,
    ]);
    assert!(ok && err.contains("--unseen is unused"), "{err}");
}

/// `--categorical`'s refusals, its missing cells under each `--missing`,
/// and a run that starts from a model with levels: `--init` reuses them on
/// a file without one of them, and `--resume` goes on as if never stopped.
#[test]
fn categorical_gaps_refusals_and_runs_from_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let [text, other, model, straight, ckpt, resumed, json] = paths(
        &dir,
        [
            "text.csv", "o.csv", "m.st", "s.st", "c.ckpt", "r.st", "s.json",
        ],
    );
    let (rows, _) = colored_rows(30);
    std::fs::write(&text, &rows).unwrap();
    let refused = |file: &str, more: &[&str], says: &str| {
        let err = run_err(&train_data(file, "cpu", more));
        assert!(err.contains(says), "{more:?}: {err}");
    };
    let cases: [(&[&str], &str); 6] = [
        (&["--ignore", "id"], "(column 'color'); if it is not a feature, --ignore color leaves it unread; if it is, --categorical color one-hot encodes it"),
        (&["--ignore", "id", "--categorical", "Color"], "--categorical names 'Color', which is not a column; the header has: id, a, color, b, y; did you mean 'color'?"),
        (&["--ignore", "id", "--categorical", "color,color"], "--categorical names 'color' twice"),
        (&["--ignore", "id,color", "--categorical", "color"], "--categorical and --ignore both name 'color'"),
        (&["--categorical", "id,color", "--target", "id"], "--categorical names the target column 'id' (--target)"),
        (&["--ignore", "a,b,y", "--categorical", "id,color"], "every column read is --categorical (id, color)"),
    ];
    for (more, says) in cases {
        refused(&text, more, says);
    }
    let ids: String = (0..1001).map(|i| format!("P{i},{i}\n")).collect();
    std::fs::write(&other, format!("id,y\n{ids}")).unwrap();
    refused(&other, &["--categorical", "id"], ":1002:1: 'P1000' is the column's level number 1001, and --categorical takes at most 1000 (one feature each); an id or free text is better left unread with --ignore (column 'id')\n");
    std::fs::write(&other, "c,c=x,y\nx,1,2\n").unwrap();
    refused(
        &other,
        &["--categorical", "c"],
        ":1:2: the column 'c=x' has the name of a one-hot encoded level of 'c'",
    );
    run_ok(&train_data(
        &other,
        "cpu",
        &["--categorical", "c", "--ignore", "c=x", "--epochs", "1"],
    ));
    std::fs::write(&other, "a,a=b,y\nb=c,c,1\n").unwrap();
    refused(
        &other,
        &["--categorical", "a,a=b"],
        ":1: the one-hot encoded levels of 'a' and of 'a=b' both make the feature 'a=b=c'",
    );
    std::fs::write(&other, ",x,y\na,1,2\n").unwrap();
    refused(
        &other,
        &["--categorical", ""],
        "--categorical names '', a column with no name",
    );
    // Where no column has an empty name, '' is no column, as for --ignore.
    std::fs::write(&other, "x,y\n1,2\n").unwrap();
    refused(
        &other,
        &["--categorical", ""],
        "--categorical names '', which is not a column; the header has: x, y",
    );
    // Text in the target, before a categorical column: the target's hint.
    std::fs::write(&other, "x,y,c\n1,2,a\n1,z,b\n").unwrap();
    refused(
        &other,
        &["--categorical", "c"],
        ":3:2: 'z' is not a number (column 'y'); it is the target (the last column read that is not --categorical, as no --target names one)",
    );

    // Missing cells: an error, or a row dropped, or a level's share.
    let gap = |l: &str, with: &str| {
        let cells = [",red,", ",\"dark, blue\",", ", green ,"];
        (cells.iter()).fold(l.to_string(), |l, c| l.replace(c, &format!(",{with},")))
    };
    let holed: String = (rows.lines().enumerate())
        .map(|(i, l)| match i % 8 {
            1 => gap(l, "NA"),
            5 => gap(l, ""),
            _ => l.to_string(),
        } + "\n")
        .collect();
    assert_ne!(holed, rows);
    std::fs::write(&other, &holed).unwrap();
    let base = ["--ignore", "id", "--categorical", "color", "--epochs", "2"];
    refused(&other, &base, ":2:3: 'NA' marks a missing value; expected a level (column 'color'); if it is not a feature, --ignore color leaves it unread; if it is, --missing drop leaves out the rows");
    let mut args = train_data(&other, "cpu", &base);
    args.extend(["--missing", "drop"]);
    let out = run_ok(&args);
    assert!(
        out.contains("dropped 8 of 30 rows with a missing cell (color: 8)"),
        "{out}"
    );
    let mut args = train_data(&other, "cpu", &base);
    args.extend(["--missing", "mean", "--save", &model, "--json", &json]);
    let out = run_ok(&args);
    assert!(
        out.contains("filled 8 missing cells with the training means (color: 8)"),
        "{out}"
    );
    assert_eq!(read_json(&json)["filled_cells"], 8);
    // Of the 22 rows with a color: 7 dark blue, 8 green and 7 red.
    let means = load_model(Path::new(&model))
        .unwrap()
        .imputation
        .unwrap()
        .feature_mean;
    assert_eq!(means[1..4], [7.0 / 22.0, 8.0 / 22.0, 7.0 / 22.0]);
    // With median, the most common level: green.
    let mut args = train_data(&other, "cpu", &base);
    args.extend(["--missing", "median", "--save", &model]);
    run_ok(&args);
    let fills = load_model(Path::new(&model)).unwrap().imputation.unwrap();
    assert_eq!(fills.feature_median[1..4], [0.0, 1.0, 0.0]);

    // A run from a model reuses its levels: a file without green still
    // makes three features. --categorical must name the model's columns.
    let fit = [
        "--ignore",
        "id",
        "--categorical",
        "color",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
    ];
    let mut args = train_data(&text, "cpu", &fit);
    args.extend(["--epochs", "8", "--save", &straight]);
    run_ok(&args);
    let no_green: String = rows
        .lines()
        .filter(|l| !l.contains("green"))
        .map(|l| l.to_string() + "\n")
        .collect();
    std::fs::write(&other, no_green).unwrap();
    let mut args = train_data(&other, "cpu", &fit);
    args.extend(["--init", &straight, "--epochs", "2", "--save", &model]);
    run_ok(&args);
    let (a, b) = (
        load_model(Path::new(&straight)).unwrap(),
        load_model(Path::new(&model)).unwrap(),
    );
    assert_eq!(
        (a.categories, a.feature_names),
        (b.categories, b.feature_names)
    );
    refused(&other, &["--ignore", "id", "--init", &straight], "the model this run starts from one-hot encodes color (its levels are reused); give --categorical color");
    stop_and_resume(&text, &fit, &ckpt, ["4", "8"], &["--save", &resumed]);
    assert_same_file(&straight, &resumed, "");
}

/// `--missing median` is `--missing mean` with each column's median: the
/// run is, bit for bit, the run on the file with the medians written in;
/// the model keeps them, predict fills with them, and a run from the
/// model needs the same option.
#[test]
fn missing_median_trains_and_predicts_as_the_file_with_the_medians_written_in() {
    let dir = tempfile::tempdir().unwrap();
    let [holed, filled, hist_a, hist_b, model, pred_a, pred_b] = paths(
        &dir,
        [
            "holed.csv",
            "filled.csv",
            "a.csv",
            "b.csv",
            "m.st",
            "pa.csv",
            "pb.csv",
        ],
    );
    let (text, rows) = rows_with_gaps();
    std::fs::write(&holed, &text).unwrap();
    let kept: Vec<[f32; 3]> = rows.iter().filter(|r| !r[2].is_nan()).copied().collect();
    let medians = feature_medians(&kept);
    let means = feature_means(&kept);
    assert!(medians
        .iter()
        .zip(&means)
        .all(|(m, a)| (m - a).abs() > 1e-3));
    let (written, filled_cells) = written_in(&kept, &medians);
    let cells = filled_cells[0] + filled_cells[1];
    std::fs::write(&filled, &written).unwrap();
    let fit = ["--optimizer", "adam", "--lr", "0.01", "--epochs", "6"];
    let mut args = train_data(&holed, "cpu", &fit);
    args.extend([
        "--missing",
        "median",
        "--history",
        &hist_a,
        "--save",
        &model,
    ]);
    let out = run_ok(&args);
    assert!(
        out.contains(&format!(
            "filled {cells} missing cells with the training medians"
        )),
        "{out}"
    );
    let mut args = train_data(&filled, "cpu", &fit);
    args.extend(["--history", &hist_b]);
    run_ok(&args);
    assert_same_file(&hist_a, &hist_b, "");
    let kept_values = load_model(Path::new(&model)).unwrap().imputation.unwrap();
    assert_eq!(kept_values.feature_median, medians);
    assert!(kept_values.feature_mean.is_empty());

    // predict fills with the medians, as if they were written in.
    std::fs::write(&holed, "a,b\n,0.25\n-0.5,NA\n").unwrap();
    let explicit = format!(
        "a,b\n{},0.25\n-0.5,{}\n",
        medians[0] as f32, medians[1] as f32
    );
    std::fs::write(&filled, explicit).unwrap();
    let (ok, _, err) = shadertrain(&[
        "predict", "--model", &model, "--data", &holed, "--out", &pred_a,
    ]);
    assert!(
        ok && err.contains("filled 2 missing cells with the training medians (a: 1, b: 1)"),
        "{err}"
    );
    predict_ok(&model, &filled, &pred_b);
    let (ok, _, err) = shadertrain(&[
        "predict",
        "--model",
        &model,
        "--data",
        &holed,
        "--missing",
        "error",
    ]);
    assert!(
        !ok && err.contains("; --missing fill gives it the training median the model keeps"),
        "{err}"
    );
    assert_same_file(&pred_a, &pred_b, "");

    // A run from the model reuses its medians, and only with median.
    let (text, _) = rows_with_gaps();
    std::fs::write(&holed, &text).unwrap();
    let mut args = train_data(&holed, "cpu", &["--init", &model, "--epochs", "1"]);
    args.extend(["--missing", "mean"]);
    let err = run_err(&args);
    assert!(err.contains("was trained with --missing median, and predict fills missing cells with its training medians; add --missing median"), "{err}");
    args.pop();
    args.push("median");
    run_ok(&args);
}

/// `n` rows of an id, a date (with and without a time and a zone), x and
/// y = 0.01·(days − 19,723) + x, written twice: with the dates as the file
/// holds them, and with the days since 1970-01-01 written in, as the
/// day's number plus the seconds since its midnight UTC over 86,400
/// (2023-12-31 is day 19,722, 2024-02-29 day 19,782).
fn dated_rows(n: usize) -> (String, String) {
    let mut dated = String::from("id,when,x,y\n");
    let mut days = dated.clone();
    for i in 0..n {
        let day = 1 + i % 28;
        let jan = 19_722.0 + day as f64;
        let (when, d) = match i % 6 {
            0 => (format!("2024-01-{day:02}"), jan),
            1 => (format!("2024-01-{day:02}T06:00"), jan + 21_600.0 / 86_400.0),
            2 => (
                format!("2024-01-{day:02} 18:00:00Z"),
                jan + 64_800.0 / 86_400.0,
            ),
            3 => (
                format!("2024-01-{day:02}T12:00:00+06:00"),
                jan + 21_600.0 / 86_400.0,
            ),
            // A leap day, with a fraction of a second.
            4 => (
                "2024-02-29T06:00:00.5".into(),
                19_782.0 + 21_600.5 / 86_400.0,
            ),
            // An hour behind UTC: 2024-01-01 00:59:59 UTC, the day before's
            // 86,399 seconds and the offset's 3,600.
            _ => (
                "2023-12-31T23:59:59-01:00".into(),
                19_722.0 + 89_999.0 / 86_400.0,
            ),
        };
        let x = ((i * 7) % 11) as f64 / 10.0;
        let y = 0.01 * (d - 19_723.0) + x;
        dated.push_str(&format!("r{i},{when},{x},{y}\n"));
        days.push_str(&format!("r{i},{d},{x},{y}\n"));
    }
    (dated, days)
}

/// A run with `--date when` is bit for bit the run on the file with the
/// days written in (the same history bytes), and predict and importance
/// read the model's dates as the days.
#[test]
fn dates_train_and_predict_as_the_file_with_the_days_written_in() {
    let dir = tempfile::tempdir().unwrap();
    let [dated, days, hist_a, hist_b, model, plain, out_a, out_b] = paths(
        &dir,
        [
            "dated.csv",
            "days.csv",
            "a.csv",
            "b.csv",
            "m.st",
            "p.st",
            "pa.csv",
            "pb.csv",
        ],
    );
    let (text, written) = dated_rows(40);
    std::fs::write(&dated, &text).unwrap();
    std::fs::write(&days, &written).unwrap();
    let fit = [
        "--ignore",
        "id",
        "--standardize",
        "--optimizer",
        "lbfgs",
        "--epochs",
        "8",
    ];
    let mut args = train_data(&dated, "cpu", &fit);
    args.extend(["--date", "when", "--history", &hist_a, "--save", &model]);
    let out = run_ok(&args);
    assert!(
        out.contains("target y); when as days since 1970-01-01"),
        "{out}"
    );
    let mut args = train_data(&days, "cpu", &fit);
    args.extend(["--history", &hist_b, "--save", &plain]);
    run_ok(&args);
    assert_same_file(&hist_a, &hist_b, "");
    assert_eq!(load_model(Path::new(&model)).unwrap().dates, ["when"]);
    assert!(load_model(Path::new(&plain)).unwrap().dates.is_empty());
    for (m, data, out) in [(&model, &dated, &out_a), (&plain, &days, &out_b)] {
        predict_ok(m, data, out);
    }
    assert_same_file(&out_a, &out_b, "");
    let importance = |m: &str, data: &str| {
        let json = format!("{out_a}.json");
        run_ok(&["importance", "--model", m, "--data", data, "--json", &json]);
        read_json(&json)["columns"].clone()
    };
    assert_eq!(importance(&model, &dated), importance(&plain, &days));
    // predict and importance read dates where the model has them: a day
    // number is not one.
    for command in ["predict", "importance"] {
        let err = run_err(&[command, "--model", &model, "--data", &days]);
        let says = ":2:2: '19723' is not a date; expected YYYY-MM-DD";
        assert!(
            err.contains(says)
                && err.contains("(column 'when'); the model was trained with train --date when, so its cells must be dates"),
            "{err}"
        );
    }
}

/// A missing date follows --missing; a date in a column read as numbers
/// offers --date, and one in another form than ISO 8601's (01/18/2020)
/// to write it so, not --categorical; --date's names are checked; a run from a model with
/// dates needs the same --date; a resumed run keeps it.
#[test]
fn dates_gaps_refusals_and_runs_from_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let [dated, days, hist_a, hist_b, model, ck] = paths(
        &dir,
        [
            "dated.csv",
            "days.csv",
            "a.csv",
            "b.csv",
            "m.st",
            "run.ckpt",
        ],
    );
    let (full, full_days) = dated_rows(30);
    // Row 3's date is missing: the mean of the others fills it.
    let text = full.replacen("r3,2024-01-04T12:00:00+06:00,", "r3,,", 1);
    let written = full_days.replacen("r3,19726.25,", "r3,,", 1);
    assert!(text != full && written != full_days);
    std::fs::write(&dated, &text).unwrap();
    std::fs::write(&days, &written).unwrap();
    let err = run_err(&train_data(
        &dated,
        "cpu",
        &["--ignore", "id", "--date", "when"],
    ));
    assert!(
        err.contains(":5:2: the cell is empty; expected a date (column 'when')")
            && err.contains("--missing drop leaves out the rows with a missing cell"),
        "{err}"
    );
    let fit = [
        "--ignore",
        "id",
        "--missing",
        "mean",
        "--epochs",
        "5",
        "--standardize",
    ];
    let mut args = train_data(&dated, "cpu", &fit);
    args.extend(["--date", "when", "--history", &hist_a, "--save", &model]);
    let out = run_ok(&args);
    assert!(out.contains("filled 1 missing cell"), "{out}");
    let mut args = train_data(&days, "cpu", &fit);
    args.extend(["--history", &hist_b]);
    run_ok(&args);
    assert_same_file(&hist_a, &hist_b, "");

    // Dates read as numbers: the error offers --date.
    let err = run_err(&train_data(&dated, "cpu", &["--ignore", "id"]));
    assert!(
        err.contains(":2:2: '2024-01-01' is not a number (column 'when'); if it is not a feature, --ignore when leaves it unread; if it is, --date when reads each date as the days since 1970-01-01"),
        "{err}"
    );
    // Dates in other forms: write them as ISO 8601's. Not text of four
    // dotted parts, nor of a part too long.
    for (when, date) in [
        ("01/18/2020", true),
        ("18.01.20", true),
        ("2020/1/18", true),
        ("1.2.3.4", false),
        ("1.2.3", false),
        ("40/40/2020", false),
        ("1.2.345", false),
    ] {
        std::fs::write(&days, format!("x,when,y\n1,{when},2\n")).unwrap();
        let err = run_err(&train_data(&days, "cpu", &[]));
        let says = "write its dates as YYYY-MM-DD (ISO 8601), which --date when reads as the days since 1970-01-01 (--categorical would make each date a feature of its own)";
        assert_eq!(err.contains(says), date, "{when}: {err}");
        assert_eq!(
            err.contains("--categorical when one-hot encodes"),
            !date,
            "{when}: {err}"
        );
    }
    // The same where the dates are the last column, the target by default.
    std::fs::write(&days, "x,when\n1,2024-01-01\n").unwrap();
    let err = run_err(&train_data(&days, "cpu", &[]));
    assert!(
        err.contains("it is the target (the last column read, as no --target names one), whose cells must be numbers: --target NAME names the column to predict, and --date when reads its dates as days since 1970-01-01, and otherwise edit the cell in the file"),
        "{err}"
    );
    for (more, says) in [
        (
            &["--date", "nowhen"][..],
            "--date names 'nowhen', which is not a column",
        ),
        (&["--date", "when,when"][..], "--date names 'when' twice"),
        (&["--date", "id"][..], "--date and --ignore both name 'id'"),
        (
            &["--date", "y", "--target", "y"][..],
            "--date names the target column 'y'",
        ),
        (
            &["--date", "when", "--categorical", "when"][..],
            "--date and --categorical both name 'when'",
        ),
        (
            &["--date", "when", "--init", &model, "--standardize"][..],
            "",
        ),
        (
            &["--init", &model, "--standardize"][..],
            "the model this run starts from reads when as dates, and --date names none",
        ),
    ] {
        let mut args = train_data(
            &dated,
            "cpu",
            &["--ignore", "id", "--missing", "mean", "--epochs", "2"],
        );
        args.extend_from_slice(more);
        let (ok, _, err) = shadertrain(&args);
        assert_eq!(ok, says.is_empty(), "{more:?}: {err}");
        assert!(err.contains(says), "{more:?}: {err}");
    }

    // A resumed run reads the dates as the checkpoint recorded, bit for bit.
    let fit = [
        "--ignore",
        "id",
        "--missing",
        "mean",
        "--date",
        "when",
        "--standardize",
    ];
    stop_and_resume(&dated, &fit, &ck, ["3", "5"], &["--history", &hist_b]);
    assert_same_file(&hist_a, &hist_b, "");
}

/// One training row: its features hold one value each, so the model
/// predicts its target for any row, and the notice says that rather than
/// asking for rows held out of the one.
#[test]
fn one_training_row_is_told_that_it_predicts_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let [one, other, m] = paths(&dir, ["one.csv", "other.csv", "m.st"]);
    std::fs::write(&one, "a,b,y\n0.5,0.2,3\n").unwrap();
    std::fs::write(&other, "a,b,y\n-0.9,4,1\n0.1,0.1,2\n").unwrap();
    let (_, err) = run_ok_out_err(&train_data(&one, "cpu", &["--save", &m]));
    assert!(
        err.contains("notice: the network trained on one row, in which each feature holds one value, so it learns nothing from them: it predicts that row's target for every row"),
        "{err}"
    );
    assert!(!err.contains("outnumber"), "{err}");
    let out = run_ok(&["predict", "--model", &m, "--data", &other]);
    for line in out.lines().skip(1) {
        let p: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
        assert!((p - 3.0).abs() < 1e-3, "{out}");
    }
    // On raw rows the weights stay where they started: not said.
    let (_, err) = run_ok_out_err(&train_data(&one, "cpu", &["--no-standardize"]));
    assert!(!err.contains("it predicts that row's target"), "{err}");
}

/// A text cell far down a column of numbers is a slip to edit, and the
/// hint says so, with the lines above it; near the top, the column may be
/// one of categories, and the hint leads with --categorical.
#[test]
fn a_text_cell_deep_in_numbers_is_called_a_slip() {
    let dir = tempfile::tempdir().unwrap();
    let [csv] = paths(&dir, ["d.csv"]);
    let rows = |bad: usize| -> String {
        let cells = (0..150).map(|i| match i == bad {
            true => "1O.5,1\n".to_string(),
            false => format!("{i}.5,{i}\n"),
        });
        format!("x,y\n{}", cells.collect::<String>())
    };
    std::fs::write(&csv, rows(140)).unwrap();
    let err = run_err(&train_data(&csv, "cpu", &[]));
    assert!(
        err.contains(":142:1: '1O.5' is not a number (column 'x'); if it is not a feature, --ignore x leaves it unread; if it is, edit the cell in the file: every cell above it in x, over 100 lines, is a number, so this one is likely a slip"),
        "{err}"
    );
    let err = run_err(&train_data(&csv, "cpu", &["--missing", "drop"]));
    assert!(
        err.contains("over 100 lines, is a number or missing,"),
        "{err}"
    );
    std::fs::write(&csv, rows(3)).unwrap();
    let err = run_err(&train_data(&csv, "cpu", &[]));
    assert!(
        err.contains(":5:1: '1O.5' is not a number (column 'x'); if it is not a feature, --ignore x leaves it unread; if it is, --categorical x one-hot encodes it")
            && !err.contains("slip"),
        "{err}"
    );
}

/// A feature that holds a different whole number in every training row,
/// one more than the row before's (a row number) or under an id's name,
/// gets a notice that names `--ignore` (a patient id trained on as a
/// feature, silently), standardized or not: not with `--ignore`, not for
/// whole numbers that repeat, nor for distinct ones merely rising (rows
/// sorted by a measurement) or under another name (`PAID`, a count), nor
/// on fewer than 20 rows.
#[test]
fn a_column_of_ids_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "ids.csv");
    // Row n: a shuffled id (n·7 mod 40, distinct), a row number, a
    // repeating whole number, a measurement, distinct numbers rising by
    // uneven steps, the shuffled ones under two other names, the target.
    let write = |rows: usize| {
        let mut text = String::from("patient id,row,ward,x,sqft,count,PAID,y\n");
        for n in 0..rows {
            let x = (n as f64 * 0.37).sin();
            let id = (n * 7) % 40;
            let sqft = 500 + n * n;
            text += &format!(
                "{id},{},{},{x},{sqft},{id},{id},{}\n",
                1000 + n,
                n % 4,
                2.0 * x
            );
        }
        std::fs::write(&csv, text).unwrap();
    };
    write(40);
    let notice = |name: &str, word: &str| {
        format!("notice: '{name}' holds a different whole number in every training row, as an id does, and is trained on as a feature; if it is an id, --ignore {word} leaves it unread")
    };
    let fit = ["--target", "y", "--epochs", "3"];
    for raw in [false, true] {
        let more = [&fit[..], if raw { &["--no-standardize"] } else { &[] }].concat();
        let (_, err) = run_ok_out_err(&train_data(&csv, "cpu", &more));
        assert!(err.contains(&notice("patient id", "'patient id'")), "{err}");
        assert!(err.contains(&notice("row", "row")), "{err}");
        for other in ["ward", "sqft", "count", "PAID"] {
            assert!(!err.contains(&format!("'{other}' holds")), "{other}: {err}");
        }
    }
    let ignored = [&fit[..], &["--ignore", "patient id,row"]].concat();
    let (_, err) = run_ok_out_err(&train_data(&csv, "cpu", &ignored));
    assert!(!err.contains("as an id does"), "{err}");
    write(19);
    let (_, err) = run_ok_out_err(&train_data(&csv, "cpu", &fit));
    assert!(!err.contains("as an id does"), "{err}");
}

/// docs/spec.md: `predict` standardizes each feature in f64 and rounds it
/// to f32, as the training rows were, and returns ŷ·σ_y + μ_y. So a
/// row's prediction is, to the bit, the raw network's on the rows that
/// `Standardization::apply_features` makes, taken back to the target's
/// units with the target's own statistics (σ_y far from 1, μ_y far
/// from 0, and neither the features').
#[test]
fn predict_standardizes_features_as_training_rounded_them() {
    use shadertrain::cpu::reference::predict;
    use shadertrain::model::{Activation, Layout, Model};
    let mut data = Dataset::synthetic(40, 3, 6).unwrap();
    for (k, v) in data.x.iter_mut().enumerate() {
        *v = *v * [1000.0, 0.01, 3.0][k % 3] + [-7.0, 123.0, 0.5][k % 3];
    }
    for y in &mut data.y {
        *y = *y * 40.0 + 300.0;
    }
    let stats = Standardization::fit(&data);
    assert!(
        stats.target_std > 10.0 && stats.target_mean > 250.0,
        "{stats:?}"
    );
    let layout = Layout::new(3, &[4]).unwrap();
    let raw = Model::init(
        layout,
        Activation::Tanh,
        5,
        data.feature_names.clone(),
        "y".into(),
    );
    let standardized = Model {
        standardization: Some(stats.clone()),
        ..raw.clone()
    };
    let got = predict(&standardized, &data).unwrap();
    let mut z = data.clone();
    stats.apply_features(&mut z).unwrap();
    let want: Vec<f64> = (predict(&raw, &z).unwrap().iter())
        .map(|v| v * stats.target_std + stats.target_mean)
        .collect();
    assert_eq!(got, want);
}

/// docs/spec.md: a feature whose spread is below 10⁻⁶ of its mean (f32's
/// rounding of the values, all the spread there is) gets σ = 1, but the
/// target keeps its own σ wherever it is not 0, since its spread is what
/// the loss and R² measure: the same values, 5 ± a few of f32's steps,
/// as a feature and as the target.
#[test]
fn a_target_of_a_few_f32_steps_keeps_its_own_std_where_a_feature_would_not() {
    let step = 5.0f32.next_up() - 5.0;
    let values: Vec<f32> = [0.0, 2.0, -2.0, 1.0, 0.0, -1.0]
        .iter()
        .map(|k| 5.0 + k * step)
        .collect();
    let data = Dataset {
        x: values.clone(),
        y: values.clone(),
        rows: values.len(),
        features: 1,
        feature_names: vec!["x".into()],
        target_name: "y".into(),
    };
    let s = Standardization::fit(&data);
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    assert!(std > 0.0 && std < 1e-6 * mean, "{std}");
    assert_eq!(s.feature_std, [1.0]);
    assert_close("target mean", &[s.target_mean], &[mean], 0.0, 1e-15);
    assert_close("target std", &[s.target_std], &[std], 0.0, 1e-9);
}

/// A cell that is not a number but says what it is gets the hint it
/// calls for, in train and predict, after its column's own: a number
/// written with a currency sign or separators, a missing value spelled
/// another way, a second header line; a header of many columns is listed
/// by its first names and count, and the columns a model misses in full.
#[test]
fn cells_that_say_what_they_are_get_their_own_hint() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, wide] = paths(&dir, ["d.csv", "m.safetensors", "wide.csv"]);
    let rows = |third: &str| format!("x0,x1,y\n1,2,3\n4,5,6\n{third}\n7,8,9\n");
    let feature = |cell: &str, at: &str, name: &str, hint: &str| {
        format!("{at}: '{cell}' is not a number (column '{name}'); if it is not a feature, --ignore {name} leaves it unread; if it is, {hint}")
    };
    let chosen = "it is the target (the last column read, as no --target names one), whose cells must be numbers: --target NAME names the column to predict; if it is the target, ";
    let reads = "; this reader takes a number's digits, a sign, a decimal point and an exponent, and no currency or percent signs or separators between thousands";
    let na = |cell: &str| {
        format!("where '{cell}' marks a missing value, leave the cell empty or write NA (which --missing takes)")
    };
    let header = ":4:1: 'x0' is not a number (column 'x0'); the cell is the column's own name: is line 4 a second header line (where files were joined)? delete it";
    // (the row, the error without --target, with --target y)
    let cases = [
        ("$0.25,1,2", feature("$0.25", ":4:1", "x0", &format!("write the cell as 0.25{reads}")), None),
        ("1,\"1,234.5\",2", feature("1,234.5", ":4:2", "x1", "write the cell as 1234.5; this reader"), None),
        ("na,1,2", feature("na", ":4:1", "x0", &na("na")), None),
        (
            "1,2,12%",
            format!(":4:3: '12%' is not a number (column 'y'); {chosen}write the cell as 12 (or 0.12, a fraction){reads}"),
            Some(format!(":4:3: '12%' is not a number (column 'y'); write the cell as 12 (or 0.12, a fraction){reads}")),
        ),
        (
            "1,2,.",
            format!(":4:3: '.' is not a number (column 'y'); {chosen}{}", na(".")),
            Some(format!(":4:3: '.' is not a number (column 'y'); {}", na("."))),
        ),
        ("x0,x1,y", header.to_string(), None),
    ];
    for (third, want, named) in cases {
        std::fs::write(&csv, rows(third)).unwrap();
        let err = run_err(&train_data(&csv, "cpu", &["--epochs", "1"]));
        assert!(
            err.contains(&want) && !err.contains("--categorical"),
            "{third}: {err}"
        );
        // The target named: its hint alone; a feature's, as before.
        let err = run_err(&train_data(
            &csv,
            "cpu",
            &["--epochs", "1", "--target", "y"],
        ));
        assert!(
            err.contains(named.as_ref().unwrap_or(&want)),
            "{third}: {err}"
        );
    }
    // Text that says nothing of itself keeps the column's hints.
    std::fs::write(&csv, rows("pending,1,2")).unwrap();
    let err = run_err(&train_data(&csv, "cpu", &["--epochs", "1"]));
    assert!(err.contains("--categorical x0 one-hot encodes it"), "{err}");

    std::fs::write(&csv, rows("1,2,3")).unwrap();
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "1", "--save", &model],
    ));
    std::fs::write(&csv, rows("$12,2,3")).unwrap();
    let (_, err) = run_refused(&["predict", "--model", &model, "--data", &csv]);
    assert!(
        err.contains(":4:1: '$12' is not a number (column 'x0'); the model takes 'x0' as a feature, so its cells must be numbers: write the cell as 12; this reader takes"),
        "{err}"
    );

    // 500 columns: the error names the first twelve and the count.
    let names: Vec<String> = (0..500).map(|i| format!("feature_{i}")).collect();
    let values = vec!["1"; 501].join(",");
    std::fs::write(
        &wide,
        format!("{},y\n{values}\n{values}\n", names.join(",")),
    )
    .unwrap();
    let err = run_err(&train_data(&wide, "cpu", &["--target", "Y"]));
    assert!(
        err.contains("no target column 'Y'; the header has: feature_0, feature_1, feature_2, feature_3, feature_4, feature_5, feature_6, feature_7, feature_8, feature_9, feature_10, feature_11, … (501 in all); did you mean 'y'?"),
        "{err}"
    );
    assert!(err.len() < 400, "{err}");
    // A model of 20 features and a file with 15 of them renamed: each of
    // the 15 is named.
    let f = |n: usize| -> Vec<String> { (0..n).map(|i| format!("f{i}")).collect() };
    let renamed: Vec<String> = (0..20)
        .map(|i| match i >= 5 {
            true => format!("g{i}"),
            false => format!("f{i}"),
        })
        .collect();
    let err = predicted_without(&wide, &model, &f(20), &renamed);
    let missing = f(20)[5..].join(", ");
    assert!(
        err.contains(&format!("missing feature column(s) {missing}; ")),
        "{err}"
    );
    // 120 features, every one named in another case: the first 100
    // missing, and twelve of the near names, each with the count.
    let upper: Vec<String> = (0..120).map(|i| format!("F{i}")).collect();
    let err = predicted_without(&wide, &model, &f(120), &upper);
    let first = f(100).join(", ");
    assert!(
        err.contains(&format!(
            "missing feature column(s) {first}, … (120 in all); "
        )),
        "{err}"
    );
    let near: Vec<String> = (0..12).map(|i| format!("'F{i}' for 'f{i}'")).collect();
    assert!(
        err.contains(&format!(
            "the file has {}, … (120 in all) (rename those columns)",
            near.join(", ")
        )),
        "{err}"
    );
}

/// predict's error for a file whose features are named `given`, with a
/// model trained at `model` on one whose features are named `trained`
/// (and a target y; rows of 1s, written to `csv`).
fn predicted_without(csv: &str, model: &str, trained: &[String], given: &[String]) -> String {
    let write = |names: &[String]| {
        let values = vec!["1"; names.len() + 1].join(",");
        let head = names.join(",") + ",y";
        std::fs::write(csv, format!("{head}\n{values}\n{values}\n")).unwrap();
    };
    write(trained);
    run_ok(&train_data(csv, "cpu", &["--epochs", "1", "--save", model]));
    write(given);
    run_refused(&["predict", "--model", model, "--data", csv]).1
}

/// A file whose cells a semicolon, a tab or a bar separates trains,
/// predicts, scores and resumes with `--delimiter` as its comma-separated
/// twin does, bit for bit: quoted cells that hold every delimiter included.
/// Without the flag it is refused with the flag that reads it; a
/// checkpoint keeps the delimiter for `--resume`.
#[test]
fn a_delimiter_reads_a_file_as_its_comma_separated_twin() {
    let dir = tempfile::tempdir().unwrap();
    let [plain, comma] = paths(&dir, ["plain.csv", "comma.csv"]);
    gen_csv(&plain, "120", "3", "5");
    let text = std::fs::read_to_string(&plain).unwrap();
    // An id column of quoted text that holds each delimiter.
    let with_id = |d: char| -> String {
        let lines = text.lines().enumerate().map(|(i, line)| {
            let id = match i {
                0 => "id".to_string(),
                _ => format!("\"r,{i};|\t\""),
            };
            format!("{id}{d}{}\n", line.replace(',', &d.to_string()))
        });
        lines.collect()
    };
    std::fs::write(&comma, with_id(',')).unwrap();
    let fit = ["--ignore", "id", "--hidden", "4", "--epochs", "30"];
    let [model, preds, scores] = paths(&dir, ["m.st", "p.csv", "s.json"]);
    run_ok(&[&train_data(&comma, "cpu", &fit)[..], &["--save", &model]].concat());
    run_ok(&[
        "predict", "--model", &model, "--data", &comma, "--out", &preds, "--keep", "id",
    ]);
    let importance = ["importance", "--model", &model, "--repeats", "2", "--json"];
    run_ok(&[&importance[..], &[&scores, "--data", &comma]].concat());
    let want_scores = read_json(&scores)["columns"].clone();
    assert!(
        want_scores.as_array().is_some_and(|c| c.len() == 3),
        "{want_scores}"
    );
    for (d, flag, name) in [
        (';', ";", "semicolons"),
        ('\t', "tab", "tabs"),
        ('|', "|", "bars"),
    ] {
        let [data, m, ck, resumed, p, s] =
            paths(&dir, ["d.txt", "m2.st", "ck", "r.st", "p2.csv", "s2.json"]);
        std::fs::write(&data, with_id(d)).unwrap();
        // Without --delimiter: refused, with the flag that reads it.
        let (_, err) = run_refused(&train_data(&data, "cpu", &fit));
        assert!(
            err.contains(&format!("the file looks separated by {name}")),
            "{err}"
        );
        assert!(err.contains("pass --delimiter "), "{err}");
        let (_, err) = run_refused(&["predict", "--model", &model, "--data", &data]);
        assert!(err.contains("pass --delimiter "), "{err}");
        // With it: the same model, predictions and scores.
        let fit_d = [&fit[..], &["--delimiter", flag]].concat();
        run_ok(&[&train_data(&data, "cpu", &fit_d)[..], &["--save", &m]].concat());
        let out = ["--out", &p, "--keep", "id", "--delimiter", flag];
        run_ok(&[&["predict", "--model", &m, "--data", &data][..], &out].concat());
        assert_same_file(&p, &preds, name);
        let more = [&s, "--data", &data, "--delimiter", flag];
        run_ok(&[&importance[..], &more].concat());
        assert_eq!(read_json(&s)["columns"], want_scores, "{name}");
        // A checkpoint keeps the delimiter: resumed without the flag, the
        // run ends as the one that trained straight through.
        let first = [&fit[..4], &["--epochs", "12", "--delimiter", flag]].concat();
        run_ok(
            &[
                &train_data(&data, "cpu", &first)[..],
                &["--checkpoint", &ck],
            ]
            .concat(),
        );
        run_ok(&train_resume(
            &ck,
            "cpu",
            &["--epochs", "30", "--save", &resumed],
        ));
        let out = ["--out", &p, "--keep", "id"];
        run_ok(
            &[
                &["predict", "--model", &resumed, "--data", &comma][..],
                &out,
            ]
            .concat(),
        );
        assert_same_file(&p, &preds, name);
    }
    // A delimiter shadertrain does not read is refused by name.
    let (_, err) = run_refused(&train_data(&comma, "cpu", &["--delimiter", ":"]));
    assert!(err.contains("':' is not a delimiter shadertrain reads; expected , (comma), ';' (semicolon), tab or '|' (bar)"), "{err}");
}

/// A semicolon-separated file whose numbers mark their decimals with a
/// comma trains, predicts, scores and resumes with `--decimal-comma` as
/// its twin with points does, bit for bit. Without the flag its first
/// number is refused with the flag offered; with a comma as the delimiter
/// the flag is refused.
#[test]
fn a_decimal_comma_file_reads_as_its_twin_with_points() {
    let dir = tempfile::tempdir().unwrap();
    let [plain, comma, data] = paths(&dir, ["plain.csv", "comma.csv", "d.txt"]);
    gen_csv(&plain, "120", "3", "6");
    let text = std::fs::read_to_string(&plain).unwrap();
    std::fs::write(&comma, &text).unwrap();
    std::fs::write(&data, text.replace(',', ";").replace('.', ",")).unwrap();
    let fit = ["--hidden", "4", "--epochs", "25"];
    let dc = ["--delimiter", ";", "--decimal-comma"];
    let [want, model, preds, got, ck, resumed] =
        paths(&dir, ["w.st", "m.st", "p.csv", "g.csv", "ck", "r.st"]);
    run_ok(&[&train_data(&comma, "cpu", &fit)[..], &["--save", &want]].concat());
    run_ok(&[
        "predict", "--model", &want, "--data", &comma, "--out", &preds,
    ]);
    // Without the flag: refused at the first number, the flag offered.
    let (_, err) = run_refused(&train_data(&data, "cpu", &["--delimiter", ";"]));
    assert!(
        err.contains(":2:1: '") && err.contains("' is not a number"),
        "{err}"
    );
    assert!(err.contains("--decimal-comma reads them so"), "{err}");
    // With it: the same model and predictions.
    run_ok(
        &[
            &train_data(&data, "cpu", &fit)[..],
            &dc,
            &["--save", &model],
        ]
        .concat(),
    );
    let predict = ["predict", "--model", &model, "--data", &data, "--out", &got];
    run_ok(&[&predict[..], &dc].concat());
    assert_same_file(&got, &preds, "predictions");
    let importance = |data: &str, more: &[&str]| {
        let json = path(&dir, "i.json");
        let args = [
            "importance",
            "--model",
            &want,
            "--data",
            data,
            "--json",
            &json,
        ];
        run_ok(&[&args[..], more].concat());
        read_json(&json)["columns"].clone()
    };
    assert_eq!(importance(&data, &dc), importance(&comma, &[]));
    // A checkpoint keeps it: each resume below, from epoch 10 to 25,
    // predicts as the run that trained straight through.
    let first = [&fit[..2], &["--epochs", "10", "--checkpoint", &ck]].concat();
    run_ok(&[&train_data(&data, "cpu", &first)[..], &dc].concat());
    let resumes_as_before = |more: &[&str], what: &str| {
        let args = [more, &["--epochs", "25", "--save", &resumed]].concat();
        run_ok(&train_resume(&ck, "cpu", &args));
        run_ok(&[
            "predict", "--model", &resumed, "--data", &comma, "--out", &got,
        ]);
        assert_same_file(&got, &preds, what);
    };
    resumes_as_before(&[], "resumed predictions");
    // Its file moved and written with commas and points: --delimiter ,
    // says both, and the run goes on as before.
    let (_, err) = run_refused(&train_resume(&ck, "cpu", &["--data", &comma]));
    assert!(err.contains("pass --delimiter ,"), "{err}");
    // The checkpoint's own --delimiter given again keeps its decimal mark.
    let again = ["--data", &data, "--delimiter", ";"];
    resumes_as_before(&again, "predictions resumed with --delimiter ';'");
    let moved = ["--data", &comma, "--delimiter", ","];
    resumes_as_before(&moved, "predictions resumed from the moved file");
    // Another delimiter says a point too, unless --decimal-comma comes
    // with it; a comma with it is refused, as in a new run.
    let tabs = path(&dir, "t.tsv");
    std::fs::write(&tabs, text.replace(',', "\t")).unwrap();
    let moved = ["--data", &tabs, "--delimiter", "tab"];
    resumes_as_before(&moved, "predictions resumed from a tab-separated file");
    let both = ["--data", &comma, "--delimiter", ",", "--decimal-comma"];
    let (_, err) = run_refused(&train_resume(&ck, "cpu", &both));
    assert!(err.contains("--decimal-comma needs --delimiter"), "{err}");
    // A comma cannot mark both.
    let (_, err) = run_refused(&train_data(&comma, "cpu", &["--decimal-comma"]));
    assert!(
        err.contains("--decimal-comma needs --delimiter ';', tab or '|'"),
        "{err}"
    );
    let (_, err) = run_refused(&[
        "predict",
        "--model",
        &want,
        "--data",
        &comma,
        "--decimal-comma",
    ]);
    assert!(err.contains("--decimal-comma needs --delimiter"), "{err}");
}

/// `--target-transform log`: the network fits ln y, the model keeps the
/// transform and predict gives e^ŷ in the target's own units; the summary
/// names it and scores the saved model in y's units as predict does.
/// `--init` and `--resume` keep it (another is refused), and a target at
/// or below 0 is refused at its row, with asinh named for it.
#[test]
fn a_target_transform_is_trained_kept_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, zeros, model, again, ck, preds, json] = paths(
        &dir,
        [
            "e.csv", "z.csv", "m.st", "n.st", "r.ckpt", "p.csv", "s.json",
        ],
    );
    // y = 100·e^(2a + b): a plane in ln y, from 5 to 2,000.
    let mut text = String::from("a,b,y\n");
    let mut y = Vec::new();
    for n in 0..400 {
        let a = ((n * 37) % 400) as f64 / 200.0 - 1.0;
        let b = ((n * 91) % 400) as f64 / 200.0 - 1.0;
        let v = (100.0 * (2.0 * a + b).exp()) as f32;
        text += &format!("{a},{b},{v}\n");
        y.push(f64::from(v));
    }
    std::fs::write(&csv, &text).unwrap();
    let fit = ["--hidden", "8", "--target-transform", "log"];
    let mut args = train_data(&csv, "cpu", &fit);
    args.extend(["--save", &model, "--json", &json, "--checkpoint", &ck]);
    let (out, _) = run_ok_out_err(&args);
    assert!(
        out.contains("target y), trained as log(y); standardized"),
        "{out}"
    );
    assert!(out.contains(" in units of log(y), rmse "), "{out}");
    assert!(out.contains(" training (of log(y))\n"), "{out}");
    assert!(out.contains(" training in y's own units (the predictions transformed back, as predict gives them)\n"), "{out}");
    assert_eq!(
        load_model(Path::new(&model)).unwrap().target_transform,
        shadertrain::data::TargetTransform::Log
    );
    let summary = read_json(&json);
    assert_eq!(summary["network"]["target_transform"], "log", "{summary}");
    assert_eq!(summary["options"]["target_transform"], "log", "{summary}");
    // The predictions are y's, each within a few percent (2.7% at worst
    // when written): the same network fit to y itself missed a small one
    // by 76%, and ln y not transformed back is off by orders of magnitude.
    let said = predict_ok(&model, &csv, &preds);
    let got: Vec<f64> = read_predictions(&preds);
    let worst = (got.iter().zip(&y))
        .map(|(p, t)| (p / t - 1.0).abs())
        .fold(0.0, f64::max);
    assert!(worst < 0.1, "the worst relative error is {worst}");
    // predict's R² over the same rows is the summary's own-units one.
    let r2_of = |said: &str| -> f64 {
        (said.split("r² ").nth(1))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{said}"))
    };
    let r2 = r2_of(&said);
    let own = summary["untransformed_r2"].as_f64().unwrap();
    assert!((own - r2).abs() <= 1e-4, "{own} against predict's {r2}");
    assert!(summary["untransformed_val_r2"].is_null(), "{summary}");
    // Held-out rows, and the kept parameters, are scored so too; and a
    // sharded run's rows, all in this process.
    let fit = [
        "--hidden",
        "8",
        "--target-transform",
        "log",
        "--epochs",
        "40",
    ];
    let mut args = train_data(&csv, "cpu", &fit);
    args.extend([
        "--validation-split",
        "0.25",
        "--keep",
        "best-val",
        "--json",
        &json,
    ]);
    let (out, _) = run_ok_out_err(&args);
    let v = read_json(&json);
    for r2 in [
        &v["untransformed_r2"],
        &v["untransformed_val_r2"],
        &v["kept"]["untransformed_r2"],
        &v["kept"]["untransformed_val_r2"],
    ] {
        assert!(r2.as_f64().is_some_and(|r| r > 0.5), "{v}");
    }
    assert!(out.contains(" held out in y's own units ("), "{out}");
    assert!(
        out.contains(" held out; in the target's own units "),
        "{out}"
    );
    // --keep best's parameters, those saved, on every row: as predict
    // scores the model saved.
    let mut args = train_data(&csv, "cpu", &fit);
    args.extend(["--keep", "best", "--json", &json, "--save", &again]);
    run_ok(&args);
    let kept = read_json(&json)["kept"]["untransformed_r2"]
        .as_f64()
        .unwrap();
    let r2 = r2_of(&predict_ok(&again, &csv, &preds));
    assert!((kept - r2).abs() <= 1e-4, "{kept} against predict's {r2}");
    let sharded = train_data(&csv, "cpu", &[&fit[..], &["--shards", "2"]].concat());
    let (out, _) = run_ok_out_err(&sharded);
    assert!(out.contains(" training in y's own units ("), "{out}");
    // --init goes on from it on the same scale, and refuses another.
    let (out, _) = run_ok_out_err(&train_data(
        &csv,
        "cpu",
        &["--init", &model, "--epochs", "2", "--save", &again],
    ));
    assert!(out.contains("trained as log(y)"), "{out}");
    assert_eq!(
        load_model(Path::new(&again)).unwrap().target_transform,
        shadertrain::data::TargetTransform::Log
    );
    let (_, err) = run_refused(&train_data(
        &csv,
        "cpu",
        &["--init", &model, "--target-transform", "asinh"],
    ));
    assert!(err.contains("m.st was trained on log(y) (--target-transform log), and --target-transform asinh would go on from it on another scale; leave out --target-transform, or start without --init"), "{err}");
    // A resumed run keeps it, and takes no other.
    let (out, _) = run_ok_out_err(&train_resume(&ck, "cpu", &["--epochs", "210"]));
    assert!(
        out.contains("trained as log(y)") && out.contains("(of log(y))"),
        "{out}"
    );
    let (_, err) = run_refused(&train_resume(&ck, "cpu", &["--target-transform", "log"]));
    assert!(err.contains("cannot be used with"), "{err}");
    // The folds score in ln y's units, and their predictions are y's.
    let fit = ["--hidden", "8", "--target-transform", "log", "--folds", "2"];
    let mut args = train_data(&csv, "cpu", &fit);
    args.extend(["--fold-predictions", &preds]);
    let (out, _) = run_ok_out_err(&args);
    assert!(
        out.contains("the held-out mse in log(y)'s units and r² of it\n"),
        "{out}"
    );
    assert!(out.contains("in the target's own units (the predictions transformed back, as --fold-predictions writes them), all rows score r² 0.9"), "{out}");
    let held: Vec<f64> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let worst = (held.iter().zip(&y))
        .map(|(p, t)| (p / t - 1.0).abs())
        .fold(0.0, f64::max);
    assert!(worst < 0.2, "the worst relative error held out is {worst}");
    // A 0 and a −1 in the target: log is refused at the first, at its
    // line and column (past a blank line and the row --missing drop
    // leaves out); asinh takes them.
    std::fs::write(&zeros, "x,y\n1,2\n\n2,NA\n3,0\n4,-1\n5,3\n").unwrap();
    let fit = ["--missing", "drop", "--target-transform", "log"];
    let (_, err) = run_refused(&train_data(&zeros, "cpu", &fit));
    assert!(err.contains("z.csv:5:2: the target 'y' is 0 (a cell of 0, or of a magnitude below 1.1754944e-38, f32's least normal, which reads as 0), and --target-transform log needs every value above 0 (2 rows are not, the least -1); --target-transform asinh takes zeros"), "{err}");
    let fit = [
        "--missing",
        "drop",
        "--target-transform",
        "asinh",
        "--epochs",
        "2",
    ];
    let (out, _) = run_ok_out_err(&train_data(&zeros, "cpu", &fit));
    assert!(out.contains("trained as asinh(y)"), "{out}");
    // A constant target is warned of as the file holds it, and has no
    // R² in its own units, as none in log's.
    std::fs::write(&zeros, "x,y\n1,5\n2,5\n3,5\n").unwrap();
    let fit = ["--target-transform", "log", "--epochs", "3"];
    let (out, err) = run_ok_out_err(&train_data(&zeros, "cpu", &fit));
    assert!(err.contains("column 'y' is 5 in every row"), "{err}");
    assert!(!out.contains("r²") && !out.contains("own units"), "{out}");
    let folds = [&fit[..], &["--folds", "3"]].concat();
    let (out, _) = run_ok_out_err(&train_data(&zeros, "cpu", &folds));
    assert!(
        out.contains("all rows") && !out.contains("own units"),
        "{out}"
    );
    // Outputs past what exp takes into f64 are warned of.
    let mut far = load_model(Path::new(&model)).unwrap();
    let last = far.params.len() - 1;
    far.params[last] = 1e4;
    shadertrain::io::save_model(&far, Path::new(&again)).unwrap();
    let (ok, _, err) = shadertrain(&[
        "predict", "--model", &again, "--data", &csv, "--out", &preds,
    ]);
    assert!(ok && err.contains("warning: 400 predictions are past f64's range (the first at data row 1): the model was trained on log(y), and its output there is beyond what exp takes into f64's range (above about 709.8 it gives inf"), "{err}");
    far.params[last] = -1e4;
    shadertrain::io::save_model(&far, Path::new(&again)).unwrap();
    let (ok, _, err) = shadertrain(&[
        "predict", "--model", &again, "--data", &csv, "--out", &preds,
    ]);
    assert!(
        ok && err.contains("warning: 400 predictions are past f64's range"),
        "{err}"
    );
    assert!(read_predictions::<f64>(&preds).iter().all(|&p| p == 0.0));
    let (_, err) = run_ok_out_err(&["importance", "--model", &again, "--data", &csv]);
    assert!(err.contains("warning: the predictions of 400 rows are past f64's range (inf, or 0 for a model of log y), and the scores measure them so: the model was trained on log(y)"), "{err}");
    // A target of a small spread for its size keeps its steps as y (about 1,600
    // of f32's) and loses most as ln y (about 100): warned of.
    let mut narrow = String::from("x,y\n");
    for n in 0..300 {
        narrow += &format!("{},{}\n", n as f64 / 300.0, 1e6 + n as f64 / 3.0);
    }
    std::fs::write(&zeros, narrow).unwrap();
    let fit = ["--target-transform", "log", "--epochs", "2"];
    let (_, err) = run_ok_out_err(&train_data(&zeros, "cpu", &fit));
    assert!(err.contains("warning: log(y) spans only 104 steps of f32 (a step of 0.0000009536743 at its size), where 'y' spans 1595: "), "{err}");
}

/// A model keeps its training rows' feature ranges (a date's in days
/// since 1970); predict warns of the rows far outside them (past by more
/// than a quarter of the width), naming each feature with its rows, the
/// value furthest out (a date as a date) and the range, and counts them
/// in --json; rows within them say nothing. A run from --init keeps both
/// files' ranges; a model saved without ranges predicts as before, its
/// `far_rows` null.
#[test]
fn predict_warns_of_rows_far_outside_the_training_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, wider, model, grown, old, asked, json] = paths(
        &dir,
        [
            "d.csv", "w.csv", "m.st", "g.st", "old.st", "a.csv", "p.json",
        ],
    );
    // a from 0 to 9, 'when' from 2024-01-01 (day 19,723) to 2024-01-10.
    let mut text = String::from("a,when,y\n");
    for n in 0..10 {
        text += &format!("{n},2024-01-{:02},{}\n", n + 1, n * 2);
    }
    std::fs::write(&csv, &text).unwrap();
    let train = |more: &[&str], save: &str| {
        let args = ["train", "--date", "when", "--epochs", "3", "--save", save];
        run_ok(&[&args[..], more].concat());
    };
    train(&["--data", &csv], &model);
    let ranges = |model: &str| -> serde_json::Value {
        serde_json::from_str(&metadata(model)["feature_ranges"]).unwrap()
    };
    let want = serde_json::json!({"min": [0.0, 19_723.0], "max": [9.0, 19_732.0]});
    assert_eq!(ranges(&model), want);
    // Margins of 2.25 and 2.25 days: −3 and 12 are far, as are 2024-01-20
    // and 2024-03-01; 11 is not.
    let rows = "a,when,y\n5,2024-01-05,0\n12,2024-01-05,0\n-3,2024-01-20,0\n11,2024-03-01,0\n";
    std::fs::write(&asked, rows).unwrap();
    let predict = |model: &str, data: &str| {
        let args = ["predict", "--model", model, "--data", data, "--json", &json];
        let (_, err) = run_ok_out_err(&args);
        (err, read_json(&json)["far_rows"].clone())
    };
    let (err, far) = predict(&model, &asked);
    assert_eq!(far, 3, "{err}");
    for says in [
        "warning: 3 of 4 rows have a feature far outside the range of the rows the model was trained on (past it by more than a quarter of its width)",
        "'a' (2 rows, the first data row 2): as far as 12, where training ran from 0 to 9",
        "'when' (2 rows, the first data row 3): as far as 2024-03-01, where training ran from 2024-01-01 to 2024-01-10",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    let (err, far) = predict(&model, &csv);
    assert_eq!(far, 0, "{err}");
    assert!(!err.contains("far outside"), "{err}");
    // importance warns too, of the rows it scores; with --missing drop
    // (the rows no longer the file's, in order) without row numbers.
    let scored = rows.replace(",0\n", ",1\n").replacen(",1\n", ",2\n", 2);
    std::fs::write(&asked, &scored).unwrap();
    let importance = |more: &[&str]| {
        let args = ["importance", "--model", &model, "--data", &asked];
        run_ok_out_err(&[&args[..], more].concat()).1
    };
    let err = importance(&[]);
    assert!(
        err.contains("warning: 3 of 4 rows have a feature far outside"),
        "{err}"
    );
    assert!(err.contains("'a' (2 rows, the first data row 2)"), "{err}");
    std::fs::write(&asked, scored + "3,,4\n").unwrap();
    let err = importance(&["--missing", "drop"]);
    assert!(
        err.contains("warning: 3 of 4 rows have a feature far outside"),
        "{err}"
    );
    assert!(err.contains("'a' (2 rows): as far as 12"), "{err}");
    std::fs::write(&asked, rows).unwrap();
    // From --init on a wider file: both files' ranges.
    std::fs::write(&wider, text.replace("\n9,", "\n19,")).unwrap();
    train(&["--data", &wider, "--init", &model], &grown);
    let want = serde_json::json!({"min": [0.0, 19_723.0], "max": [19.0, 19_732.0]});
    assert_eq!(ranges(&grown), want);
    // A model without ranges, as earlier versions saved them.
    let bytes = std::fs::read(&model).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    for key in ["feature_ranges", "metadata_fnv1a64"] {
        meta.remove(key).expect(key);
    }
    std::fs::write(
        &old,
        safetensors::serialize(file.tensors(), Some(meta)).unwrap(),
    )
    .unwrap();
    let (err, far) = predict(&old, &asked);
    assert_eq!(far, serde_json::Value::Null, "{err}");
    assert!(!err.contains("far outside"), "{err}");
}

/// `--ignore` of a file's last column, with no `--target`, makes the
/// column before it the target: a warning says so, naming both; a target
/// named, or another column ignored, says nothing of it.
#[test]
fn ignoring_the_last_column_warns_that_another_is_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    scaled_csv(&csv, 60);
    let says = "warning: --ignore leaves out the file's last column, 'y', so the target is 'c', the last column read; --target names the column to predict";
    let train = |more: &[&str]| {
        let args = [
            "train",
            "--data",
            &csv,
            "--epochs",
            "2",
            "--optimizer",
            "adam",
        ];
        run_ok_out_err(&[&args[..], more].concat()).1
    };
    let err = train(&["--ignore", "y"]);
    assert!(err.contains(says), "{err}");
    for more in [&["--ignore", "y", "--target", "c"][..], &["--ignore", "a"]] {
        let err = train(more);
        assert!(!err.contains("last column"), "{more:?}: {err}");
    }
}
