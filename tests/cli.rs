//! The CLI through the built binary: gen → train → save → predict, model
//! file contents, exact continuation with --init, GPU runs, divergence.

mod common;

use common::{
    assert_close, assert_refused, assert_same_file, bits64, gen_csv, have_gpu, path, paths,
    read_json, read_predictions, run_ok, run_ok_out_err, run_refused, shadertrain, shadertrain_env,
    signalled_in_fold, train_data, train_resume, train_synthetic, BLOW_UP, BOUNCE, PLATEAU,
};
use safetensors::SafeTensors;
use shadertrain::io::read_history;

#[test]
fn gen_train_save_predict() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, hist, preds] = paths(&dir, ["d.csv", "m.safetensors", "h.csv", "p.csv"]);
    gen_csv(&csv, "200", "3", "4");
    let more = [
        "--hidden",
        "8",
        "--epochs",
        "60",
        "--save",
        &model,
        "--history",
        &hist,
    ];
    let out = run_ok(&train_data(&csv, "cpu", &more));
    assert!(out.contains("epochs    60 (reached --epochs)"), "{out}");
    let losses = read_history(std::path::Path::new(&hist)).unwrap();
    assert_eq!(losses.len(), 61);
    assert!(losses[60] < losses[0], "{losses:?}");

    // The saved file: PyTorch nn.Linear names and shapes, and the metadata.
    let bytes = std::fs::read(&model).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight"
        ]
    );
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), &[8, 3]);
    assert_eq!(st.tensor("layers.0.bias").unwrap().shape(), &[8]);
    assert_eq!(st.tensor("layers.1.weight").unwrap().shape(), &[1, 8]);
    assert_eq!(st.tensor("layers.1.bias").unwrap().shape(), &[1]);
    assert_eq!(
        st.tensor("layers.1.bias").unwrap().dtype(),
        safetensors::Dtype::F32
    );
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["activation"], "sigmoid");
    assert_eq!(meta["feature_names"], r#"["x0","x1","x2"]"#);
    assert_eq!(meta["target_name"], "y");
    // Rows read from a file are standardized by default: the statistics
    // are in the model, and the loss is in standardized units.
    let stats: serde_json::Value = serde_json::from_str(&meta["standardization"]).unwrap();
    let target_std = stats["target_std"].as_f64().unwrap();
    assert!(0.1 < target_std && target_std < 1.0, "{stats}");

    let out = run_ok(&[
        "predict", "--model", &model, "--data", &csv, "--out", &preds,
    ]);
    let mse: f64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    // The MSE of the saved model is the history's final loss, in the
    // target's units.
    let last = losses[60] * target_std * target_std;
    assert_close("mse", &[mse], &[last], 1e-7, 1e-5);
    let text = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(text.lines().next(), Some("y_pred"));
    assert_eq!(text.lines().count(), 201);
}

#[test]
fn predict_matches_columns_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b, model] = paths(&dir, ["a.csv", "b.csv", "m.st"]);
    std::fs::write(&a, "p,q,t\n1,2,3\n4,5,6\n-1,0.5,2\n").unwrap();
    // Same data with the columns shuffled, an extra column, and no target.
    std::fs::write(&b, "extra,q,p\n9,2,1\n9,5,4\n9,0.5,-1\n").unwrap();
    run_ok(&train_data(
        &a,
        "cpu",
        &["--epochs", "3", "--hidden", "2", "--save", &model],
    ));
    let (with_target, err) = run_ok_out_err(&["predict", "--model", &model, "--data", &a]);
    assert!(err.contains("mse"), "{err}");
    let j = path(&dir, "p.json");
    let (without, err) =
        run_ok_out_err(&["predict", "--model", &model, "--data", &b, "--json", &j]);
    assert!(!err.contains("mse"), "{err}");
    assert_eq!(with_target, without);
    // Without the target column the scores are null.
    let scores = read_json(&j);
    assert_eq!(scores["rows"], 3, "{scores}");
    for k in ["mse", "rmse", "mae", "r2"] {
        assert!(scores[k].is_null(), "{k}: {scores}");
    }
    // --json and --out must differ.
    let (_, err) = run_refused(&[
        "predict", "--model", &model, "--data", &a, "--json", &j, "--out", &j,
    ]);
    assert!(err.contains("are the same file"), "{err}");
    let missing = path(&dir, "missing.csv");
    let (_, err) = run_refused(&["predict", "--model", &model, "--data", &missing]);
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn init_continues_exactly_where_the_saved_run_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let [full, half, cont, hf, hc] =
        paths(&dir, ["full.st", "half.st", "cont.st", "hf.csv", "hc.csv"]);
    // gd: a model file holds the parameters, not L-BFGS's curvature pairs.
    let run = |extra: &[&str]| {
        let more = ["--hidden", "6,3", "--optimizer", "gd"];
        let mut args = train_synthetic("150", "4", "cpu", &more);
        args.extend(["--activation", "tanh"].iter().chain(extra));
        run_ok(&args);
    };
    run(&["--epochs", "10", "--save", &full, "--history", &hf]);
    run(&["--epochs", "5", "--save", &half]);
    run(&[
        "--epochs",
        "5",
        "--init",
        &half,
        "--save",
        &cont,
        "--history",
        &hc,
    ]);
    assert_eq!(std::fs::read(&full).unwrap(), std::fs::read(&cont).unwrap());
    let (f, c) = (
        read_history(hf.as_ref()).unwrap(),
        read_history(hc.as_ref()).unwrap(),
    );
    assert_eq!(&f[5..], &c[..]);

    // A mismatching --hidden or --activation is a clear error.
    let (_, err) = run_refused(&train_synthetic(
        "150",
        "4",
        "cpu",
        &["--hidden", "6", "--init", &half],
    ));
    assert!(err.contains("hidden layers 6,3"), "{err}");
    let (_, err) = run_refused(&train_synthetic("150", "5", "cpu", &["--init", &half]));
    assert!(err.contains("takes 4 features"), "{err}");
}

#[test]
fn divergence_exits_non_zero_and_writes_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let [model, json] = paths(&dir, ["m.st", "s.json"]);
    let more = [
        "--lr", "1e6", "--epochs", "50", "--save", &model, "--json", &json,
    ];
    let (_, err) = run_refused(&train_synthetic("100", "3", "cpu", &more));
    assert!(err.contains("diverged at epoch"), "{err}");
    // The summary names no model.
    let v = read_json(&json);
    assert_eq!(
        (&v["stop"], &v["model"]),
        (&"diverged".into(), &serde_json::Value::Null),
        "{v}"
    );
    assert!(
        err.contains("lr = 1e6); try a smaller --lr, --clip-grad-norm C or --standardize"),
        "{err}"
    );
    assert!(!std::path::Path::new(&model).exists());
    // Only the remedies not tried.
    let tried = [
        "--lr",
        "1e20",
        "--epochs",
        "50",
        "--standardize",
        "--clip-grad-norm",
        "1e30",
    ];
    let (ok, _, err) = shadertrain(&train_synthetic("100", "3", "cpu", &tried));
    assert!(
        !ok && err.contains("lr = 1e20); try a smaller --lr\n"),
        "{err}"
    );
    // With a schedule, the rate of the update that blew up, 0.1·1.5^(k−1).
    let more = [
        "--lr-schedule",
        "exponential",
        "--lr-gamma",
        "1.5",
        "--epochs",
        "200",
    ];
    let (_, err) = run_refused(&train_synthetic("100", "3", "cpu", &more));
    let k = common::diverged_epoch(&err) as i32;
    let rate: f64 = format!("{:.3e}", 0.1 * 1.5f64.powi(k - 1)).parse().unwrap();
    let says = format!("lr = {rate}); try a smaller --lr, --clip-grad-norm C or --standardize; {rate} was the schedule's rate at that epoch, from 0.1");
    assert!(err.contains(&says), "{err}");
    // A resumed run cannot change its rate: the error says how to go on.
    let ck = path(&dir, "ck.st");
    let more = ["--lr", "5", "--epochs", "300", "--checkpoint", &ck];
    run_refused(&train_synthetic("100", "3", "cpu", &more));
    let (_, err) = run_refused(&common::train_resume(&ck, "cpu", &["--epochs", "400"]));
    let says = format!("--resume keeps the run's options: to change them, start a new run from its parameters with --init {ck}");
    assert!(err.contains(&says), "{err}");
}

#[test]
fn gpu_cli_matches_cpu_history_and_reruns_byte_identically() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for act in ["sigmoid", "tanh"] {
        for hidden in ["10", "8,5"] {
            let mut histories = Vec::new();
            for (i, backend) in ["reference", "gpu", "gpu"].iter().enumerate() {
                let (h, m) = (
                    path(&dir, &format!("h{i}.csv")),
                    path(&dir, &format!("m{i}.st")),
                );
                let out = run_ok(&train_synthetic(
                    "250",
                    "4",
                    backend,
                    &[
                        "--hidden",
                        hidden,
                        "--activation",
                        act,
                        "--epochs",
                        "100",
                        "--history",
                        &h,
                        "--save",
                        &m,
                        // gd: L-BFGS's steps magnify f32's rounding, and
                        // its f32 and f64 losses here part by more than
                        // 1e-3 after about 20 iterations.
                        "--optimizer",
                        "gd",
                    ],
                ));
                assert!(out.contains(&format!("backend   {backend}")), "{out}");
                histories.push((h, m));
            }
            let cpu = read_history(histories[0].0.as_ref()).unwrap();
            let gpu = read_history(histories[1].0.as_ref()).unwrap();
            assert_eq!(gpu.len(), 101);
            assert_close(&format!("{act} {hidden}"), &gpu, &cpu, 0.0, 1e-3);
            for k in [0, 1] {
                let f = |i: usize| {
                    if k == 0 {
                        &histories[i].0
                    } else {
                        &histories[i].1
                    }
                };
                assert_eq!(
                    std::fs::read(f(1)).unwrap(),
                    std::fs::read(f(2)).unwrap(),
                    "{act} {hidden}"
                );
            }
        }
    }
}

#[test]
fn json_summary_has_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let [j, m] = paths(&dir, ["s.json", "m.st"]);
    let more = ["--epochs", "7", "--json", &j, "--save", &m];
    let out = run_ok(&train_synthetic("100", "3", "cpu", &more));
    let v = read_json(&j);
    // The time line says the JSON's times, an epoch's in milliseconds.
    let decimals =
        |key: &str, scale: f64| shadertrain::units::decimals(v[key].as_f64().unwrap() * scale, 3);
    let time = format!(
        "time      {} s, {} ms/epoch",
        decimals("wall_s", 1.0),
        decimals("time_per_epoch_s", 1e3)
    );
    assert!(out.contains(&time), "{time} in {out}");
    for key in [
        "version",
        "options",
        "backend",
        "epochs",
        "first_loss",
        "final_loss",
        "best_loss",
        "stop",
        "stop_reason",
        "max_time_s",
        "wall_s",
        "time_per_epoch_s",
        "model",
        "loss_units",
        "train_rows",
        "val_rows",
        "final_val_loss",
        "best_val_loss",
        "best_val_epoch",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    // Without --validation-split or --standardize.
    assert_eq!(v["loss_units"], "target");
    assert_eq!(
        (v["train_rows"].as_u64(), v["val_rows"].as_u64()),
        (Some(100), Some(0))
    );
    assert!(v["final_val_loss"].is_null() && v["best_val_epoch"].is_null());
    assert_eq!(v["options"]["standardize"], false);
    assert!(v["options"]["validation_split"].is_null());
    assert!(v["options"]["batch_size"].is_null());
    assert_eq!(v["options"]["lr_schedule"]["name"], "constant");
    assert_eq!(v["epochs"], 7);
    assert_eq!(v["stop"], "max_epochs");
    assert!(v["max_time_s"].is_null(), "{v}");
    // The default optimizer, where no flag of gd's is given.
    assert_eq!(v["options"]["optimizer"]["name"], "lbfgs");
    assert_eq!(v["options"]["optimizer"]["lr"], 1.0);
    assert_eq!(v["optimizer"], "lbfgs, lr 1, history size 10, gtol 1e-7");
    assert!(v["evaluations"].as_u64().unwrap() >= 7, "{v}");
    assert_eq!(v["options"]["synthetic"], 100);
    assert_eq!(v["model"], m.as_str());
    assert!(v["best_loss"].as_f64().unwrap() <= v["first_loss"].as_f64().unwrap());
    assert!(v["backend"].as_str().unwrap().starts_with("cpu"));
    // The network, defaults resolved where the options hold null.
    assert!(v["options"]["hidden"].is_null() && v["options"]["activation"].is_null());
    let network = serde_json::json!({
        "features": 3, "hidden": [64], "activation": "sigmoid", "parameters": 321,
        "target": "y", "feature_names": ["x0", "x1", "x2"], "target_transform": "none",
    });
    assert_eq!(v["network"], network);
    assert!(v["untransformed_r2"].is_null() && v["untransformed_val_r2"].is_null());
}

/// A schedule is resolved when the run starts (a cosine's length from
/// --epochs), recorded in the options and named with the optimizer.
#[test]
fn the_summary_and_json_name_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let [j] = paths(&dir, ["s.json"]);
    let more = [
        "--epochs",
        "7",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--lr-schedule",
        "cosine",
        "--json",
        &j,
    ];
    let out = run_ok(&train_synthetic("100", "3", "cpu", &more));
    let line = "adam, lr 0.01, beta1 0.9, beta2 0.999, eps 1e-8, cosine to 0 over 7 epochs";
    assert!(out.contains(&format!("optimizer {line}")), "{out}");
    let v = read_json(&j);
    assert_eq!(v["optimizer"], line);
    assert_eq!(
        v["options"]["lr_schedule"],
        serde_json::json!({"name": "cosine", "epochs": 7, "min_lr": 0.0})
    );
    // One cycle: its last rate is left to the peak's unless --lr-min says.
    let mut cycle = more;
    cycle[7] = "one-cycle";
    let out = run_ok(&train_synthetic("100", "3", "cpu", &cycle));
    let line = "eps 1e-8, one cycle over 7 epochs, rising for 0.3 of them, down to 4.000e-8";
    assert!(out.contains(line), "{out}");
    assert_eq!(
        read_json(&j)["options"]["lr_schedule"],
        serde_json::json!({"name": "one-cycle", "epochs": 7, "pct_start": 0.3, "min_lr": null})
    );
}

/// `--keep best` saves the parameters of the epoch with the lowest loss:
/// the same model, bit for bit, as a run stopped at that epoch; the
/// summary and the JSON say which they are, and the checkpoint that holds
/// them besides the last ones still loads as a model.
#[test]
fn keep_best_saves_the_parameters_of_the_lowest_loss() {
    let dir = tempfile::tempdir().unwrap();
    let [kept, j, ck, short, last, csv, preds] = paths(
        &dir,
        [
            "kept.st", "s.json", "ck.st", "short.st", "last.st", "d.csv", "p.csv",
        ],
    );
    let run = |extra: &[&str]| {
        let mut args = train_synthetic("300", "3", "cpu", &["--hidden", "7,4"]);
        args.extend_from_slice(BOUNCE);
        args.extend_from_slice(extra);
        run_ok(&args)
    };
    let more = [
        "--epochs", "10", "--keep", "best", "--save", &kept, "--json", &j,
    ];
    let out = run(&[&more[..], &["--checkpoint", &ck]].concat());
    let v = read_json(&j);
    let epoch = v["kept"]["epoch"].as_u64().unwrap();
    let loss = v["kept"]["loss"].as_f64().unwrap();
    assert_eq!(epoch, 8, "{v}");
    assert!(loss < v["final_loss"].as_f64().unwrap(), "{v}");
    // The lowest loss of the run is the kept parameters'.
    assert_eq!(v["best_loss"], v["kept"]["loss"], "{v}");
    assert_eq!(v["kept"]["val_loss"], serde_json::Value::Null);
    assert_eq!(v["options"]["keep"], "best");
    let line = format!("kept      epoch 8's parameters: the lowest loss, {loss:.6e}");
    assert!(out.contains(&line), "{out}");
    // Nesterov at lr 1 blows up after epoch 0 and ends far above its
    // start: the warning says that epoch 0's parameters were kept.
    let more = ["--hidden", "7,4", "--epochs", "10", "--keep", "best", "-q"];
    let (_, err) = run_ok_out_err(&train_synthetic(
        "300",
        "3",
        "cpu",
        &[&more[..], BLOW_UP].concat(),
    ));
    assert!(
        err.contains("warning: the loss ended above where it started"),
        "{err}"
    );
    assert!(
        err.contains("); --keep kept epoch 0's parameters (loss "),
        "{err}"
    );
    run(&["--epochs", "8", "--save", &short]);
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(&short).unwrap()
    );
    // --keep last (the default) saves the last epoch's.
    run(&["--epochs", "10", "--save", &last]);
    assert_ne!(std::fs::read(&kept).unwrap(), std::fs::read(&last).unwrap());
    gen_csv(&csv, "5", "3", "1");
    let (ok, _, err) = shadertrain(&["predict", "--model", &ck, "--data", &csv, "--out", &preds]);
    assert!(ok, "a checkpoint with kept parameters is a model: {err}");
    // With a split, the kept parameters' validation loss is reported too.
    let out = run(&[
        "--epochs",
        "10",
        "--keep",
        "best",
        "--validation-split",
        "0.2",
        "--json",
        &j,
    ]);
    let v = read_json(&j);
    assert!(v["kept"]["val_loss"].as_f64().unwrap() > 0.0, "{v}");
    assert!(out.contains("kept      "), "{out}");
}

/// `--keep best-val` saves the parameters with the lowest validation loss
/// (every epoch is measured on the cpu backend): the epoch and loss the
/// summary's best validation loss names, and the same model as a run
/// stopped there. Without a split it is refused before any work.
#[test]
fn keep_best_val_saves_the_parameters_of_the_lowest_validation_loss() {
    let dir = tempfile::tempdir().unwrap();
    let [kept, j, short] = paths(&dir, ["kept.st", "s.json", "short.st"]);
    let run = |extra: &[&str]| {
        let more = ["--hidden", "7,4", "--validation-split", "0.2"];
        let mut args = train_synthetic("300", "3", "cpu", &more);
        args.extend_from_slice(BOUNCE);
        args.extend_from_slice(extra);
        run_ok(&args)
    };
    let more = [
        "--epochs", "10", "--keep", "best-val", "--save", &kept, "--json", &j,
    ];
    let out = run(&more);
    let v = read_json(&j);
    assert_eq!(v["kept"]["by"], "validation", "{v}");
    assert_eq!(v["kept"]["epoch"], v["best_val_epoch"], "{v}");
    assert_eq!(v["kept"]["val_loss"], v["best_val_loss"], "{v}");
    let epoch = v["kept"]["epoch"].as_u64().unwrap();
    assert!(
        0 < epoch && epoch < 10,
        "the test needs a best inside the run: {v}"
    );
    assert!(
        out.contains(&format!(
            "kept      epoch {epoch}'s parameters: the lowest validation loss"
        )),
        "{out}"
    );
    run(&["--epochs", &epoch.to_string(), "--save", &short]);
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(&short).unwrap()
    );
    assert_refused(&[(
        &["--keep", "best-val", "--save", &short],
        "--keep best-val needs --validation-split",
    )]);
}

/// `--val-patience P` stops the run P epochs after its lowest validation
/// loss (every epoch is measured on the cpu backend), and says so; it
/// needs a split and a P of at least 1.
#[test]
fn val_patience_stops_p_epochs_after_the_lowest_validation_loss() {
    let dir = tempfile::tempdir().unwrap();
    let [j] = paths(&dir, ["s.json"]);
    let more = [
        "--hidden",
        "7,4",
        "--validation-split",
        "0.2",
        "--epochs",
        "40",
    ];
    let mut args = train_synthetic("300", "3", "cpu", &more);
    args.extend_from_slice(BOUNCE);
    args.extend_from_slice(&["--val-patience", "5", "--json", &j]);
    let out = run_ok(&args);
    let v = read_json(&j);
    assert_eq!(v["stop"], "val_stalled", "{v}");
    let best = v["best_val_epoch"].as_u64().unwrap();
    assert_eq!(v["epochs"].as_u64().unwrap(), best + 5, "{v}");
    assert!(best > 0, "the test needs a best after the start: {v}");
    assert!(
        out.contains("no lower validation loss for --val-patience epochs"),
        "{out}"
    );
    assert_eq!(v["options"]["val_patience"], 5);
    assert_refused(&[
        (
            &["--val-patience", "3"][..],
            "--val-patience needs --validation-split",
        ),
        (
            &["--val-patience", "0", "--validation-split", "0.2"][..],
            "--val-patience must be at least 1",
        ),
    ]);
}

/// On the GPU the held-out loss is measured on the device at every epoch,
/// so `--val-patience` stops and `--keep best-val` keeps at their exact
/// epochs, whatever the batching: a run read back every epoch
/// (`--checkpoint-every 1`) and one whose batches grow to 256 epochs
/// stop at the same epoch, keep the same one, save the same model and
/// write the same history, with a validation loss on every row. Full
/// batches and mini-batches.
#[test]
fn gpu_validation_rules_hold_at_their_epoch_whatever_the_batching() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [ck, short] = paths(&dir, ["ck", "short.st"]);
    let adam = ["--optimizer", "adam", "--lr", "0.1"];
    for (case, recipe) in [("full batch", &adam[..]), ("mini-batches", BOUNCE)] {
        let run = |tag: &str, extra: &[&str]| {
            let [save, json, history] = paths(
                &dir,
                ["m.st", "s.json", "h.csv"].map(|f| {
                    // One set of files per run.
                    Box::leak(format!("{tag}-{f}").into_boxed_str()) as &str
                }),
            );
            let more = [
                "--hidden",
                "7,4",
                "--validation-split",
                "0.2",
                "--epochs",
                "60",
            ];
            let mut args = train_synthetic("300", "3", "gpu", &more);
            args.extend_from_slice(recipe);
            args.extend_from_slice(&["--val-patience", "6", "--keep", "best-val"]);
            args.extend_from_slice(&["--save", &save, "--json", &json, "--history", &history]);
            args.extend_from_slice(extra);
            run_ok(&args);
            let v = read_json(&json);
            let read = |f: &str| std::fs::read(f).unwrap();
            (v, read(&save), String::from_utf8(read(&history)).unwrap())
        };
        let (v, model, history) = run("grown", &[]);
        let (v1, model1, history1) =
            run("every", &["--checkpoint-every", "1", "--checkpoint", &ck]);
        assert_eq!(v["stop"], "val_stalled", "{case}: {v}");
        let best = v["best_val_epoch"].as_u64().unwrap();
        assert!(
            best > 0,
            "{case}: the test needs a best after the start: {v}"
        );
        assert_eq!(v["epochs"].as_u64().unwrap(), best + 6, "{case}: {v}");
        assert_eq!(v["kept"]["epoch"].as_u64(), Some(best), "{case}: {v}");
        for key in [
            "epochs",
            "best_val_epoch",
            "best_val_loss",
            "kept",
            "final_loss",
        ] {
            assert_eq!(v[key], v1[key], "{case}: {key}");
        }
        assert!(model == model1, "{case}: the saved models differ");
        assert_eq!(history, history1, "{case}");
        // A validation loss on every epoch's row.
        let rows: Vec<&str> = history.lines().skip(1).collect();
        assert_eq!(rows.len() as u64, best + 7, "{case}: {history}");
        assert!(
            rows.iter()
                .all(|r| r.split(',').nth(2).is_some_and(|l| !l.is_empty())),
            "{case}: {history}"
        );
        // The kept model is the one a run of `best` epochs ends with.
        let mut args = train_synthetic("300", "3", "gpu", &["--hidden", "7,4"]);
        args.extend_from_slice(recipe);
        let epochs = best.to_string();
        args.extend_from_slice(&[
            "--validation-split",
            "0.2",
            "--epochs",
            &epochs,
            "--save",
            &short,
        ]);
        run_ok(&args);
        assert!(
            model == std::fs::read(&short).unwrap(),
            "{case}: kept ≠ epoch {best}'s"
        );
    }
}

/// `--weight-decay λ`: recorded with the optimizer (summary, JSON,
/// checkpoint), it keeps the saved parameters smaller than a run without
/// it, L-BFGS's too; a negative λ and a changed λ on resume are refused.
#[test]
fn weight_decay_shrinks_the_parameters_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let [plain, decayed, j, ck] = paths(&dir, ["p.st", "d.st", "s.json", "ck"]);
    // `optimizer` at 0.05 for `epochs` epochs, then `extra`.
    let run = |optimizer: &str, epochs: &str, extra: &[&str]| {
        let more = ["--hidden", "8", "--optimizer", optimizer, "--lr", "0.05"];
        let mut args = train_synthetic("300", "3", "cpu", &more);
        args.extend_from_slice(&["--epochs", epochs]);
        args.extend_from_slice(extra);
        run_ok(&args)
    };
    let summary = || read_json(&j);
    let norm = |f: &str| {
        let m = shadertrain::io::load_model(std::path::Path::new(f)).unwrap();
        let squares = m.params.iter().map(|&x| (x as f64).powi(2));
        squares.sum::<f64>().sqrt()
    };
    run("adam", "80", &["--save", &plain]);
    let out = run(
        "adam",
        "80",
        &["--weight-decay", "0.01", "--save", &decayed, "--json", &j],
    );
    assert!(out.contains("weight decay 0.01"), "{out}");
    let v = summary();
    assert_eq!(v["options"]["optimizer"]["weight_decay"], 0.01, "{v}");
    let (with, without) = (norm(&decayed), norm(&plain));
    assert!(
        with < 0.95 * without,
        "‖θ‖ {with} with decay, {without} without"
    );
    // A resumed run keeps the checkpoint's λ: 80 epochs, then 40 more,
    // save what 120 straight do. It takes no other λ.
    run(
        "adam",
        "80",
        &["--weight-decay", "0.01", "--checkpoint", &ck],
    );
    let [resumed, straight] = paths(&dir, ["r.st", "s.st"]);
    run_ok(&[
        "train", "--resume", &ck, "--epochs", "120", "--save", &resumed,
    ]);
    run(
        "adam",
        "120",
        &["--weight-decay", "0.01", "--save", &straight],
    );
    assert!(std::fs::read(&resumed).unwrap() == std::fs::read(&straight).unwrap());
    let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--weight-decay", "0.1"]);
    assert!(!ok && err.contains("--weight-decay"), "{err}");
    // adamw: decoupled, λ 0.01 unless given; the saved parameters smaller
    // than adam's without decay.
    let out = run(
        "adamw",
        "80",
        &["--weight-decay", "0.5", "--save", &decayed, "--json", &j],
    );
    assert!(
        out.contains("adamw, lr 0.05") && out.contains("weight decay 0.5"),
        "{out}"
    );
    let v = summary();
    let opt = &v["options"]["optimizer"];
    assert_eq!(
        (&opt["decoupled"], &opt["weight_decay"]),
        (&true.into(), &0.5.into()),
        "{v}"
    );
    assert!(norm(&decayed) < 0.95 * without);
    let out = run("adamw", "2", &[]);
    assert!(out.contains("weight decay 0.01"), "{out}");
    // L-BFGS minimises the loss plus the penalty.
    let lbfgs = |extra: &[&str]| {
        let more = ["--hidden", "8", "--optimizer", "lbfgs", "--epochs", "60"];
        let mut args = train_synthetic("300", "3", "cpu", &more);
        args.extend_from_slice(extra);
        run_ok(&args)
    };
    lbfgs(&["--save", &plain]);
    let out = lbfgs(&["--weight-decay", "0.01", "--save", &decayed, "--json", &j]);
    assert!(out.contains("gtol 1e-7, weight decay 0.01"), "{out}");
    assert_eq!(summary()["options"]["optimizer"]["weight_decay"], 0.01);
    let (with, without) = (norm(&decayed), norm(&plain));
    assert!(
        with < 0.8 * without,
        "‖θ‖ {with} with decay, {without} without"
    );
    assert_refused(&[(
        &["--weight-decay", "-1"][..],
        "--weight-decay must be 0 or a positive number",
    )]);
}

/// `--clip-grad-norm C`: recorded with the optimizer (summary, JSON,
/// checkpoint); momentum at a rate too high for it ends far below the
/// unclipped run's loss; a resumed run keeps C and takes no other.
#[test]
fn clip_grad_norm_tames_a_high_rate_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let [j, ck, resumed, straight] = paths(&dir, ["s.json", "ck", "r.st", "s.st"]);
    // Momentum at `lr` for `epochs` epochs, then `extra`: (stdout, stderr).
    let go = |lr: &str, epochs: &str, extra: &[&str]| {
        let more = ["--optimizer", "momentum", "--lr", lr, "--epochs", epochs];
        let args = [&train_synthetic("2000", "4", "cpu", &more)[..], extra].concat();
        run_ok_out_err(&args)
    };
    let run = |epochs: &str, extra: &[&str]| {
        let (out, _) = go("0.3", epochs, &[extra, &["--json", &j]].concat());
        (out, read_json(&j))
    };
    let (_, free) = run("50", &[]);
    // Unclipped, it ends above its start, and the warning names clipping;
    // clipped, the warning leaves it out (a smaller rate is still one).
    let warned = |lr, epochs, extra| go(lr, epochs, extra).1;
    let err = warned("0.3", "50", &[]);
    assert!(
        err.contains("), --clip-grad-norm C or --standardize"),
        "{err}"
    );
    let err = warned("10", "3", &["--clip-grad-norm", "5"]);
    assert!(err.contains("warning: the loss ended above"), "{err}");
    assert!(!err.contains("--clip-grad-norm C"), "{err}");
    let (out, clipped) = run("50", &["--clip-grad-norm", "0.5"]);
    assert!(out.contains("gradient norm clipped at 0.5"), "{out}");
    assert_eq!(clipped["options"]["optimizer"]["max_grad_norm"], 0.5);
    assert_eq!(free["options"]["optimizer"]["max_grad_norm"], 0.0);
    let loss = |v: &serde_json::Value| v["final_loss"].as_f64().unwrap();
    assert!(
        loss(&clipped) < 0.25 * loss(&free),
        "clipped {} against {}",
        loss(&clipped),
        loss(&free)
    );
    run("30", &["--clip-grad-norm", "0.5", "--checkpoint", &ck]);
    run_ok(&[
        "train", "--resume", &ck, "--epochs", "50", "--save", &resumed,
    ]);
    run("50", &["--clip-grad-norm", "0.5", "--save", &straight]);
    assert!(std::fs::read(&resumed).unwrap() == std::fs::read(&straight).unwrap());
    let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--clip-grad-norm", "1"]);
    assert!(!ok && err.contains("--clip-grad-norm"), "{err}");
}

/// `--lr-schedule plateau`: the summary and the JSON name the rule and the
/// epochs it cut the rate from; flags of other schedules are refused.
#[test]
fn the_plateau_schedule_reports_its_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let [j] = paths(&dir, ["s.json"]);
    let more = ["--hidden", "7,4", "--epochs", "10", "--json", &j];
    let out = run_ok(&train_synthetic(
        "300",
        "3",
        "cpu",
        &[PLATEAU, &more].concat(),
    ));
    let v = read_json(&j);
    let line =
        "momentum 0.9, lr 0.1, plateau ×0.5 after 0 epochs without a fall of 0.05, down to 0";
    assert_eq!(v["optimizer"], line);
    assert!(out.contains(&format!("optimizer {line}")), "{out}");
    assert_eq!(
        v["lr_cuts"],
        serde_json::json!([3, 4, 5, 6, 7, 8, 9]),
        "{v}"
    );
    // Seven halvings of 0.1.
    assert!(
        out.contains("lr        cut from epochs 3, 4, 5, 6, 7, 8, 9: 7.813e-4 at the end"),
        "{out}"
    );
    // The same run stopped after 4 epochs has cut once.
    let more = ["--hidden", "7,4", "--epochs", "4"];
    let out = run_ok(&train_synthetic(
        "300",
        "3",
        "cpu",
        &[PLATEAU, &more].concat(),
    ));
    assert!(
        out.contains("lr        cut from epoch 3: 5.000e-2 at the end"),
        "{out}"
    );
    assert_eq!(v["options"]["lr_schedule"]["name"], "plateau");
    assert_refused(&[(
        &["--lr-schedule", "cosine", "--lr-patience", "3"],
        "--lr-schedule cosine does not use --lr-patience",
    )]);
}

#[test]
fn patience_and_max_time_stop_the_run_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let [j, m] = paths(&dir, ["s.json", "m.st"]);
    // A tolerance of 50% per epoch: at --lr 0.01 the loss falls, but no
    // epoch improves that much, so 2 stale epochs stop it.
    let more = [
        "--lr",
        "0.01",
        "--epochs",
        "500",
        "--tol",
        "0.5",
        "--patience",
        "2",
        "--json",
        &j,
    ];
    let out = run_ok(&train_synthetic("100", "3", "cpu", &more));
    assert!(out.contains("epochs    2 (converged"), "{out}");
    let v = read_json(&j);
    assert_eq!(v["stop"], "converged");
    assert_eq!(v["ended_above_start"], false);
    // gd: L-BFGS converges on these rows long before.
    let more = [
        "--epochs",
        "100000000",
        "--max-time",
        "0.2",
        "--save",
        &m,
        "--optimizer",
        "gd",
        "--json",
        &j,
    ];
    let out = run_ok(&train_synthetic("100", "3", "cpu", &more));
    assert!(out.contains("reached --max-time"), "{out}");
    assert!(std::path::Path::new(&m).exists());
    let v = read_json(&j);
    assert_eq!(
        (v["stop"].as_str(), v["max_time_s"].as_f64()),
        (Some("time_limit"), Some(0.2))
    );
}

#[test]
fn a_rising_loss_is_never_converged_and_ending_above_the_start_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, j, h, m] = paths(&dir, ["d.csv", "s.json", "h.csv", "m.st"]);
    // At gd's default --lr 0.1 the loss on these rows explodes from 0.47
    // to about 600 within 5 epochs, then falls back.
    gen_csv(&csv, "2000", "4", "1");
    // gd on the raw rows: the explosion is its.
    fn gd<'a>(csv: &'a str, more: &[&'a str]) -> Vec<&'a str> {
        let raw = ["--optimizer", "gd", "--no-standardize"];
        [&train_data(csv, "cpu", more)[..], &raw].concat()
    }
    // --patience without --tol is refused before any work.
    let more = ["--epochs", "20", "--patience", "5", "--save", &m];
    let (_, err) = run_refused(&gd(&csv, &more));
    assert!(err.contains("--patience needs a --tol above 0"), "{err}");
    assert!(!std::path::Path::new(&m).exists());
    // --tol 0.99: nearly every epoch's change is below 0.99·L, but the
    // rising ones do not count, nor the falls above the start (the spike
    // coming down): the run stops at the first epoch back at or below its
    // start.
    let more = [
        "--epochs",
        "20",
        "--tol",
        "0.99",
        "--json",
        &j,
        "--history",
        &h,
    ];
    let out = run_ok(&gd(&csv, &more));
    assert!(out.contains("(converged"), "{out}");
    let losses = read_history(std::path::Path::new(&h)).unwrap();
    let n = losses.len();
    assert!(n > 6, "{losses:?}");
    assert!(losses[n - 1] <= losses[0], "{losses:?}");
    let falls_above = (1..n - 1).filter(|&k| losses[k] <= losses[k - 1] && losses[k] > losses[0]);
    assert!(falls_above.count() >= 2, "{losses:?}");
    assert!(losses.iter().any(|&l| l > 100.0 * losses[0]), "{losses:?}");
    assert_eq!(read_json(&j)["ended_above_start"], false);
    // Stopped inside the spike, the run ended above its start, and says so.
    let more = ["--epochs", "5", "--json", &j];
    let (_, err) = run_ok_out_err(&gd(&csv, &more));
    assert!(
        err.contains("warning: the loss ended above where it started")
            && err.contains("try a smaller --lr (this run used ")
            && err.contains("), --clip-grad-norm C or --standardize"),
        "{err}"
    );
    let v = read_json(&j);
    assert_eq!(v["ended_above_start"], true);
    // With --patience, the explosion is not a plateau: the run goes on
    // until the loss is back within tol of its best.
    let more = [
        "--epochs",
        "20",
        "--tol",
        "0.01",
        "--patience",
        "2",
        "--json",
        &j,
    ];
    run_ok(&gd(&csv, &more));
    let v = read_json(&j);
    let (first, last) = (
        v["first_loss"].as_f64().unwrap(),
        v["final_loss"].as_f64().unwrap(),
    );
    assert!(last <= first * 1.01, "{v}");
    assert!(v["epochs"].as_u64().unwrap() > 5, "{v}");
}

#[test]
fn version_and_completions() {
    let (ok, out, _) = shadertrain(&["--version"]);
    assert!(ok);
    assert!(out.starts_with("shadertrain "), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        let out = run_ok(&["completions", shell]);
        assert!(
            out.contains("shadertrain") && out.contains("--checkpoint"),
            "{shell}"
        );
    }
}

#[test]
fn piped_output_has_no_progress_bar_and_quiet_is_silent() {
    let (out, err) = run_ok_out_err(&train_synthetic("2000", "3", "cpu", &["--epochs", "300"]));
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "terminal control codes in piped stderr: {err:?}"
    );
    assert!(!out.contains('\r') && !out.contains('\u{1b}'), "{out:?}");
    assert!(out.lines().all(|l| !l.is_empty()), "{out:?}");
    let more = ["--epochs", "30", "--quiet"];
    let (out, err) = run_ok_out_err(&train_synthetic("2000", "3", "cpu", &more));
    assert!(out.is_empty() && err.is_empty(), "{out:?} {err:?}");
}

#[test]
fn kernels_flag_reaches_the_gpu_trainer() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let train = |hidden: &str, kernels: &str, json: &str| {
        let more = [
            "--hidden",
            hidden,
            "--epochs",
            "3",
            "--kernels",
            kernels,
            "--quiet",
            "--json",
            json,
        ];
        shadertrain(&train_synthetic("200", "3", "gpu", &more))
    };
    // Each family named on the command line is the one that ran.
    let families = [
        ("5", "fused"),
        ("5,3", "tiled"),
        ("5", "layered"),
        ("5", "wide"),
    ];
    for (hidden, kernels) in families {
        let j = path(&dir, &format!("{kernels}.json"));
        let (ok, _, err) = train(hidden, kernels, &j);
        assert!(ok, "--kernels {kernels}: {err}");
        let v = read_json(&j);
        let backend = v["backend"].as_str().unwrap();
        assert!(
            backend.ends_with(&format!("{kernels} kernels")),
            "{backend}"
        );
    }
    // Two hidden layers do not fit the fused kernel: refused, saying why.
    let (ok, _, err) = train("5,3", "fused", &path(&dir, "no.json"));
    assert!(!ok);
    assert!(
        err.contains("the fused kernel takes one hidden layer")
            && err.contains("use the tiled or layered kernels, or auto"),
        "{err}"
    );
}

/// SHADERTRAIN_WIDE_WORKGROUPS sets the wide weight gradient's split of
/// the sum over rows: 1 puts all 1,000 rows in one row group where the
/// default makes 16, so the losses are summed in another order (other bits,
/// within float tolerance); a value that is not a positive whole number is
/// an error that names the variable, and writes no model.
#[test]
fn wide_workgroups_variable_sets_the_split_and_bad_values_are_refused() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |value: Option<&str>, name: &str| {
        let [hist, model] = paths(&dir, [&format!("{name}.csv"), &format!("{name}.st")]);
        let more = [
            "--hidden",
            "5",
            "--epochs",
            "5",
            "--optimizer",
            "gd",
            "--kernels",
            "wide",
            "--quiet",
            "--history",
            &hist,
            "--save",
            &model,
        ];
        let args = train_synthetic("1000", "3", "gpu", &more);
        let (ok, _, err) = shadertrain_env(&args, &[("SHADERTRAIN_WIDE_WORKGROUPS", value)]);
        let losses = ok.then(|| read_history(std::path::Path::new(&hist)).unwrap());
        (losses, err, std::path::Path::new(&model).exists())
    };
    let (default, err, _) = run(None, "default");
    let default = default.unwrap_or_else(|| panic!("{err}"));
    let (one, err, _) = run(Some("1"), "one");
    let one = one.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(one.len(), default.len());
    assert_ne!(
        bits64(&one),
        bits64(&default),
        "one row group sums as 16 do, bit for bit: the variable did nothing"
    );
    for (a, b) in one.iter().zip(&default) {
        assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} against {b}");
    }
    for bad in ["0", "many"] {
        let (losses, err, saved) = run(Some(bad), "bad");
        assert!(losses.is_none(), "{bad} was taken");
        assert!(
            err.contains(&format!("SHADERTRAIN_WIDE_WORKGROUPS={bad}")),
            "{err}"
        );
        assert!(!saved, "{bad}: a model was written");
    }
}

/// A row group lies in one chunk, so where the wide split's count of
/// groups would make them longer than a binding holds, the planner cuts
/// more, shorter ones: with SHADERTRAIN_WIDE_WORKGROUPS=1 the split asks
/// for one group of 8,300 rows, past the 8,192 rows of 4,096 units that a
/// 128 MiB binding (lavapipe's) holds, and the run trains, in two groups,
/// to the cpu backend's losses, where it was refused.
#[test]
fn wide_row_groups_shorten_to_fit_a_binding() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |backend: &str, name: &str| {
        let [hist] = paths(&dir, [&format!("{name}.csv")]);
        let more = [
            "--hidden",
            "4096",
            "--epochs",
            "2",
            "--optimizer",
            "gd",
            "--lr",
            "0.01",
            "--quiet",
            "--history",
            &hist,
        ];
        let mut args = train_synthetic("8300", "8", backend, &more);
        if backend == "gpu" {
            args.extend(["--kernels", "wide"]);
        }
        let (ok, _, err) = shadertrain_env(&args, &[("SHADERTRAIN_WIDE_WORKGROUPS", Some("1"))]);
        assert!(ok, "{backend}: {err}");
        read_history(std::path::Path::new(&hist)).unwrap()
    };
    let (gpu, cpu) = (run("gpu", "gpu"), run("cpu", "cpu"));
    assert_eq!(gpu.len(), cpu.len());
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!((g - c).abs() <= 1e-5 * c.abs(), "{g} against {c}");
    }
}

/// SHADERTRAIN_COOP_BLOCKS that is not RxC or RxC,RxC with sides 2 or 4,
/// SHADERTRAIN_MIXED_INPUT_PAD that is not 16 or 64, and
/// SHADERTRAIN_DELTA_SLICES that is not 1, 2 or 4, are errors where
/// --precision mixed opens a device, before the adapter is asked for
/// cooperative matrices (Debian 12's lavapipe has none): each names its
/// variable, and no model is written. f32 training reads neither.
#[test]
fn mixed_variables_refuse_bad_values_under_mixed() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = path(&dir, "m.st");
    let with = |precision| ["--hidden", "5", "--precision", precision];
    let blocks = "SHADERTRAIN_COOP_BLOCKS";
    let pad = "SHADERTRAIN_MIXED_INPUT_PAD";
    let slices = "SHADERTRAIN_DELTA_SLICES";
    let shares = "SHADERTRAIN_MIXED_SHARES";
    for (variable, bad, expected) in [
        (blocks, "3x3", "RxC"),
        (blocks, "4x4,", "RxC"),
        (blocks, "8x2,2x2", "RxC"),
        (pad, "32", "64 (the default) or 16"),
        (pad, "tile", "64 (the default) or 16"),
        (slices, "3", "1 (the default), 2 or 4"),
        (shares, "subgroup", "pass (the default) or shuffle"),
    ] {
        assert_setting_refused(&model, &with("mixed"), (variable, bad), expected);
    }
    for (variable, bad) in [(blocks, "3x3"), (pad, "32"), (slices, "3"), (shares, "x")] {
        let (ok, _, err) = train_with_setting(&model, &with("f32"), (variable, bad));
        assert!(ok, "f32 read {variable}: {err}");
        assert!(std::path::Path::new(&model).exists());
        std::fs::remove_file(&model).unwrap();
    }
}

/// SHADERTRAIN_WIDE_STEP other than 8 or 16 is an error naming the
/// variable wherever a device opens, and no model is written; so is a
/// value that is not UTF-8 (it was taken as unset); 16 trains the wide
/// kernels at that step and says so nowhere but in the speed.
#[test]
fn wide_step_variable_refuses_bad_values() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = path(&dir, "m.st");
    let wide = ["--hidden", "5", "--kernels", "wide"];
    for bad in ["12", "32", "wide"] {
        let setting = ("SHADERTRAIN_WIDE_STEP", bad);
        assert_setting_refused(&model, &wide, setting, "8 (the default) or 16");
    }
    let args = train_synthetic("200", "3", "gpu", &wide);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args([&args[..], &["--epochs", "2", "--save", &model]].concat())
        .env(
            "SHADERTRAIN_WIDE_STEP",
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"1\xff"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("SHADERTRAIN_WIDE_STEP=1\u{fffd} is not UTF-8 text"),
        "{err}"
    );
    assert!(!std::path::Path::new(&model).exists());
    let (ok, _, err) = train_with_setting(&model, &wide, ("SHADERTRAIN_WIDE_STEP", "16"));
    assert!(ok, "{err}");
    assert!(std::path::Path::new(&model).exists());
}

/// Two epochs on 200 synthetic rows of 3 features on the GPU with `more`
/// and the environment's `variable` set to `value`, saved to `model`.
fn train_with_setting(
    model: &str,
    more: &[&str],
    (variable, value): (&str, &str),
) -> (bool, String, String) {
    let mut more = more.to_vec();
    more.extend(["--epochs", "2", "--quiet", "--save", model]);
    let args = train_synthetic("200", "3", "gpu", &more);
    shadertrain_env(&args, &[(variable, Some(value))])
}

/// [`train_with_setting`] with a bad value fails with an error that names
/// the setting and says what it takes (`expected`), and writes no model.
fn assert_setting_refused(
    model: &str,
    more: &[&str],
    (variable, bad): (&str, &str),
    expected: &str,
) {
    let (ok, _, err) = train_with_setting(model, more, (variable, bad));
    assert!(!ok, "{variable}={bad} was taken");
    assert!(
        err.contains(&format!("{variable}={bad}")) && err.contains(expected),
        "{variable}={bad}: {err}"
    );
    assert!(
        !std::path::Path::new(model).exists(),
        "{variable}={bad}: a model was written"
    );
}

/// A --target-loss the loss met before any update is a warning that says
/// no epoch ran and in which units the target is, instead of advice on the
/// rate.
#[test]
fn a_target_loss_met_before_training_says_so() {
    for (more, units) in [
        (
            &["--standardize", "--target-loss", "5"][..],
            "in standardized units (the rows were standardized; --no-standardize trains on raw ones), where predicting the mean scores 1",
        ),
        (&["--target-loss", "1e9"], "in the target's units, squared"),
    ] {
        let (_, err) = run_ok_out_err(&train_synthetic("64", "2", "cpu", more));
        assert!(
            err.contains("was already at or below --target-loss")
                && err.contains(&format!(
                    "so no epoch ran and the model is the untrained one; --target-loss is {units}"
                )),
            "{err}"
        );
        assert!(!err.contains("--lr"), "{err}");
    }
}

/// A run on raw rows (--no-standardize) that diverges on a target far from
/// 0 (a price near 1e5) says --standardize is the fix to try first; one on
/// a target near 0 does not.
#[test]
fn a_far_target_puts_standardize_first() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "house.csv");
    let mut text = String::from("a,b,price\n");
    for i in 0..200 {
        let (a, b) = ((i % 17) as f64 * 10.0, (i % 5) as f64 + 1.0);
        text += &format!("{a},{b},{}\n", 1000.0 * a + 20000.0 * b + 50000.0);
    }
    std::fs::write(&csv, text).unwrap();
    let says =
        "says the target is far from the output's start near 0, which --standardize fixes first";
    let raw = ["--optimizer", "gd", "--no-standardize"];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &raw));
    assert!(
        !ok && err.contains("diverged at epoch") && err.contains(says),
        "{err}"
    );
    // Near 0, --standardize stays one remedy among others.
    let (_, _, err) = shadertrain(&train_synthetic("300", "3", "cpu", BLOW_UP));
    assert!(
        err.contains("or --standardize") && !err.contains(says),
        "{err}"
    );
}

/// A run stopped by --target-loss at epoch k writes the history and the
/// final loss of a run of --epochs k, to the bit, on both CPU backends:
/// the reference's loss after the last update is summed in its gradient
/// pass's order (it was one ulp off on 1,500 rows, two blocks).
#[test]
fn a_target_loss_stop_ends_as_a_run_of_that_many_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let [h, j] = paths(&dir, ["h.csv", "s.json"]);
    for backend in ["reference", "cpu"] {
        let run = |more: &[&str]| {
            let all = [
                &[
                    "--hidden",
                    "8",
                    "--optimizer",
                    "gd",
                    "--history",
                    &h,
                    "--json",
                    &j,
                ][..],
                more,
            ]
            .concat();
            run_ok(&train_synthetic("1500", "6", backend, &all));
            (
                std::fs::read_to_string(&h).unwrap(),
                read_json(&j)["final_loss"].clone(),
            )
        };
        let (history, _) = run(&["--epochs", "6"]);
        let losses = read_history(std::path::Path::new(&h)).unwrap();
        assert!(losses[5] < losses[4], "{backend}: {history}");
        let target = format!("{:e}", losses[5]);
        let stopped = run(&["--epochs", "100", "--target-loss", &target]);
        let fixed = run(&["--epochs", "5"]);
        assert_eq!(stopped, fixed, "{backend}");
    }
}

/// --target-loss stops at the first epoch at or below it, and the JSON's
/// milestones name, for each power of ten reached (the target's too), the
/// first such epoch of the history, with times that never go backwards.
#[test]
fn target_loss_stops_the_run_and_milestones_match_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let [j, h] = paths(&dir, ["s.json", "h.csv"]);
    let args = train_synthetic(
        "400",
        "2",
        "cpu",
        &[
            "--hidden",
            "8",
            "--activation",
            "tanh",
            "--optimizer",
            "lbfgs",
            "--epochs",
            "2000",
            "--target-loss",
            "0.01",
            "--json",
            &j,
            "--history",
            &h,
        ],
    );
    run_ok(&args);
    let v = read_json(&j);
    let losses = read_history(std::path::Path::new(&h)).unwrap();
    assert_eq!(v["stop"], "target_reached", "{v}");
    let epochs = v["epochs"].as_u64().unwrap() as usize;
    assert!(epochs < 2000);
    // The run ends at the first epoch whose loss is at most the target.
    assert!(losses[epochs] <= 0.01, "{losses:?}");
    assert!(losses[..epochs].iter().all(|&l| l > 0.01));
    // With --epochs at that epoch, the last loss meets the target: reached,
    // not stopped by the budget; a target just below it is not.
    let budget = epochs.to_string();
    let at_budget = |target: f64| {
        let target = format!("{target:e}");
        let mut again = args.clone();
        let at = again.iter().position(|&a| a == "2000").unwrap();
        again[at] = &budget;
        let at = again.iter().position(|&a| a == "0.01").unwrap();
        again[at] = &target;
        let out = run_ok(&again);
        let w = read_json(&j);
        (
            w["stop"].clone(),
            w["epochs"].as_u64().unwrap() as usize,
            out,
        )
    };
    let (stop, ran, out) = at_budget(0.01);
    assert_eq!((stop.as_str(), ran), (Some("target_reached"), epochs));
    assert!(out.contains("reached --target-loss"), "{out}");
    assert!(!out.contains("not reached"), "{out}");
    let missed = losses[epochs] * (1.0 - 1e-9);
    let (stop, ran, out) = at_budget(missed);
    assert_eq!((stop.as_str(), ran), (Some("max_epochs"), epochs));
    // The summary says the target was missed, and where the loss ended.
    let says = format!(
        " loss-and-gradient evaluations; --target-loss {} not reached, the loss ended at {:.4e}\n",
        shadertrain::optim::short(missed),
        losses[epochs]
    );
    assert!(
        out.contains("(reached --epochs), ") && out.contains(&says),
        "{out}"
    );
    run_ok(&args);
    let v = read_json(&j);
    let marks = v["milestones"].as_array().unwrap();
    // Every power of ten the history reached, the target's (reached in the
    // batch the stop rule ended) among them.
    let lowest = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let reached = (0..13).filter(|&k| 10f64.powi(-k) >= lowest).count();
    assert!(lowest <= 0.01 && reached >= 3, "{losses:?}");
    assert_eq!(marks.len(), reached, "{v}");
    let mut last_time = 0.0;
    for (k, m) in marks.iter().enumerate() {
        let loss = m["loss"].as_f64().unwrap();
        assert!((loss / 10f64.powi(-(k as i32)) - 1.0).abs() < 1e-12, "{m}");
        let epoch = m["epoch"].as_u64().unwrap() as usize;
        let first = losses.iter().position(|&l| l <= loss).unwrap();
        assert_eq!(epoch, first, "{m}");
        let t = m["wall_s"].as_f64().unwrap();
        assert!(
            t >= last_time && t <= v["wall_s"].as_f64().unwrap() + 1e-9,
            "{m}"
        );
        last_time = t;
    }
}

/// R² = 1 − MSE / variance of the target: `train` reports it for the final
/// parameters on the training rows (and the held-out ones with a split),
/// `predict` for its predictions; null where the process does not hold the
/// rows (the GPU's own synthetic rows).
/// Adam on a small tanh network, the CSV tests' usual run.
const SMALL_ADAM: &[&str] = &[
    "--hidden",
    "8",
    "--activation",
    "tanh",
    "--optimizer",
    "adam",
];

#[test]
fn r_squared_is_reported_by_train_and_predict() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, j, model] = paths(&dir, ["d.csv", "s.json", "m.st"]);
    gen_csv(&csv, "300", "3", "4");
    let y: Vec<f64> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<f32>().unwrap() as f64)
        .collect();
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let variance = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64;
    let json = || read_json(&j);
    // On the raw rows, so that the loss is in the target's units.
    let more = [SMALL_ADAM, &["--lr", "0.05", "--no-standardize"]].concat();
    let mut args = train_data(&csv, "cpu", &more);
    args.extend_from_slice(&["--epochs", "100", "--json", &j, "--save", &model]);
    let out = run_ok(&args);
    let v = json();
    let r2 = v["final_r2"].as_f64().unwrap();
    let want = 1.0 - v["final_loss"].as_f64().unwrap() / variance;
    assert!((r2 - want).abs() < 1e-9, "{r2} against {want}");
    assert!(0.5 < r2 && r2 < 1.0, "{v}");
    assert!(
        out.contains(&format!("r²        {r2:.4} training\n")),
        "{out}"
    );
    let rmse = v["final_loss"].as_f64().unwrap().sqrt();
    assert!(out.contains(&format!(" (rmse {rmse:.4e})\n")), "{out}");
    assert!(v["final_val_r2"].is_null(), "{v}");
    // predict, on the same rows: the same MSE and R² as the training loss.
    let (_, err) = run_ok_out_err(&["predict", "--model", &model, "--data", &csv]);
    assert!(
        err.contains(&format!(" over 300 rows, r² {r2:.4}\n")),
        "{err}"
    );
    // --json: the same scores, and the MAE, against the predictions read
    // back (f32 in the CSV, hence the tolerance).
    let [preds, pj] = paths(&dir, ["p.csv", "p.json"]);
    let predict = [
        "predict", "--model", &model, "--data", &csv, "--out", &preds,
    ];
    run_ok(&[&predict[..], &["--json", &pj]].concat());
    let scores = read_json(&pj);
    let yhat: Vec<f64> = read_predictions(&preds);
    let n = y.len() as f64;
    let mse = yhat
        .iter()
        .zip(&y)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / n;
    let mae = yhat.iter().zip(&y).map(|(p, t)| (p - t).abs()).sum::<f64>() / n;
    let score = |k: &str| scores[k].as_f64().unwrap();
    for (k, want) in [("mse", mse), ("rmse", mse.sqrt()), ("mae", mae), ("r2", r2)] {
        assert!(
            (score(k) - want).abs() < 1e-6 * want.abs().max(1.0),
            "{k}: {scores}"
        );
    }
    assert_eq!(
        (scores["rows"].as_u64(), scores["target"].as_str()),
        (Some(300), Some("y"))
    );
    // A split: R² of the held-out rows too.
    args.extend_from_slice(&["--validation-split", "0.2"]);
    let out = run_ok(&args);
    let v = json();
    let val = v["final_val_r2"].as_f64().unwrap();
    assert!(val < 1.0 && val > 0.0, "{v}");
    assert!(out.contains(" held out\n"), "{out}");
    // By hand: the held-out rows (the split of docs/spec.md, by --seed),
    // the saved model's MSE on them, against their own variance.
    let seed = v["options"]["seed"].as_u64().unwrap();
    let table = shadertrain::data::Table::read(std::path::Path::new(&csv)).unwrap();
    let (_, held) = table.into_dataset(None).unwrap().split(0.2, seed).unwrap();
    let m = shadertrain::io::load_model(std::path::Path::new(&model)).unwrap();
    let p = shadertrain::cpu::reference::predict(&m, &held).unwrap();
    let t: Vec<f64> = held.y.iter().map(|&v| v as f64).collect();
    let mse = p.iter().zip(&t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / t.len() as f64;
    let by_hand = 1.0 - mse / shadertrain::data::target_variance(&held.y);
    assert!((val - by_hand).abs() < 1e-5, "{val} against {by_hand}");
    // --keep: the kept parameters' R², by the same variances as the final
    // ones' (each derived here from the final R² and loss).
    let at = args.iter().position(|a| *a == "100").unwrap();
    args[at] = "400";
    args.extend_from_slice(&["--keep", "best-val"]);
    let out = run_ok(&args);
    let v = json();
    let variance_of =
        |r2: &str, loss: &str| v[loss].as_f64().unwrap() / (1.0 - v[r2].as_f64().unwrap());
    let (train_var, val_var) = (
        variance_of("final_r2", "final_loss"),
        variance_of("final_val_r2", "final_val_loss"),
    );
    let kept = &v["kept"];
    assert!(kept["epoch"].as_u64().unwrap() < 400, "{v}");
    for (r2, loss, var) in [("r2", "loss", train_var), ("val_r2", "val_loss", val_var)] {
        let want = 1.0 - kept[loss].as_f64().unwrap() / var;
        let got = kept[r2].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{r2}: {got} against {want}: {v}");
    }
    let line = format!(
        ", r² {:.4} training, {:.4} held out\n",
        kept["r2"].as_f64().unwrap(),
        kept["val_r2"].as_f64().unwrap()
    );
    assert!(out.contains(&line), "{line} in {out}");
    assert!(kept["val_r2"].as_f64().unwrap() > v["final_val_r2"].as_f64().unwrap());
    // The GPU's own synthetic rows never reach the host: their variance
    // is the rows' made on the host, from the seed.
    if have_gpu() {
        let mut args = train_synthetic("300", "3", "gpu", &["--epochs", "3", "--json", &j]);
        args.extend_from_slice(&["--hidden", "4"]);
        let out = run_ok(&args);
        let v = json();
        assert_eq!(v["options"]["on_device"], true, "{v}");
        let seed = v["options"]["seed"].as_u64().unwrap();
        let rows = shadertrain::data::Dataset::synthetic(300, 3, seed).unwrap();
        let want = 1.0 - v["final_loss"].as_f64().unwrap() / rows.target_variance();
        let got = v["final_r2"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{got} against {want}: {v}");
        assert!(
            out.contains(&format!("r²        {want:.4} training\n")),
            "{out}"
        );
    }
}

/// The parameters of the model file `path`.
fn saved_params(path: &str) -> Vec<f32> {
    shadertrain::io::load_model(std::path::Path::new(path))
        .unwrap()
        .params
}

/// A CSV of `rows` rows whose target spans about ±25 (y = 20·x0·x1 +
/// 5·sin(3·x2) + 2·x3², x ~ U(−1, 1)): full-batch gd at the rates
/// `--lr auto` tries blows up on it.
fn scaled_csv(path: &str, rows: usize) {
    let x = common::uniform(1, rows * 4, -1.0, 1.0);
    let mut text = String::from("x0,x1,x2,x3,y\n");
    for r in x.chunks_exact(4) {
        let y = 20.0 * r[0] * r[1] + 5.0 * (3.0 * r[2]).sin() + 2.0 * r[3] * r[3];
        text.push_str(&format!("{},{},{},{},{y}\n", r[0], r[1], r[2], r[3]));
    }
    std::fs::write(path, text).unwrap();
}

/// A run at the rate `--lr auto` chose that diverges is trained again from
/// the start at a third of its rate: the run that ends is the one `--lr`
/// with that rate gives, the diverged runs are in the summary, the JSON
/// and the notices; a floor (`--lr-min`) above the next rate stops the
/// retries, and the error names the rates that diverged.
#[test]
fn lr_auto_trains_again_lower_after_a_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, j, auto_model, hand_model] = paths(&dir, ["d.csv", "s.json", "a.st", "b.st"]);
    scaled_csv(&csv, 256);
    let train = |backend: &str, lr: &str, extra: &[&str]| {
        let mut args = train_data(
            &csv,
            backend,
            &[
                "--activation",
                "tanh",
                "--lr-schedule",
                "one-cycle",
                "--epochs",
                "300",
            ],
        );
        args.extend_from_slice(&["--lr", lr, "--json", &j]);
        args.extend_from_slice(extra);
        shadertrain(&args)
    };
    // Each retry's rate is a third of the one before, to two digits.
    let third = |lr: f64| -> f64 { format!("{:.1e}", lr / 3.0).parse().unwrap() };
    let check = |v: &serde_json::Value| -> Vec<(f64, u64)> {
        let found = &v["lr_range_test"];
        let retries: Vec<(f64, u64)> = (found["retries"].as_array().unwrap().iter())
            .map(|r| {
                assert!(r["loss"].is_null(), "{r}");
                assert!(r["wall_s"].as_f64().unwrap() >= 0.0, "{r}");
                (r["lr"].as_f64().unwrap(), r["epoch"].as_u64().unwrap())
            })
            .collect();
        assert!((1..=3).contains(&retries.len()), "{found}");
        assert_eq!(found["lr"].as_f64(), Some(retries[0].0), "{found}");
        for pair in retries.windows(2) {
            assert_eq!(pair[1].0, third(pair[0].0), "{found}");
        }
        let trained = v["options"]["optimizer"]["lr"].as_f64().unwrap();
        assert_eq!(trained, third(retries[retries.len() - 1].0), "{v}");
        assert_ne!(v["stop"], "diverged", "{v}");
        retries
    };
    let lr_plot = path(&dir, "lr.svg");
    let (ok, out, err) = train(
        "cpu",
        "auto",
        &["--save", &auto_model, "--lr-plot", &lr_plot],
    );
    assert!(ok, "{err}");
    let v = read_json(&j);
    let retries = check(&v);
    // The range test's picture marks the rate trained at, besides the one
    // chosen, which diverged.
    let svg = std::fs::read_to_string(&lr_plot).unwrap();
    let trained = v["options"]["optimizer"]["lr"].as_f64().unwrap();
    for mark in [
        format!("rate chosen, {:.2e} (diverged)", retries[0].0),
        format!(
            "rate trained at, {trained:.2e}, after {} diverged",
            match retries.len() {
                1 => "1 run".to_string(),
                n => format!("{n} runs"),
            }
        ),
    ] {
        assert!(svg.contains(&mark), "{mark} in {svg}");
    }
    let runs: Vec<String> = (retries.iter())
        .map(|(lr, epoch)| format!("at {lr:.3e} at epoch {epoch}"))
        .collect();
    let trained = v["options"]["optimizer"]["lr"].as_f64().unwrap();
    let line = format!(
        "          diverged {}; trained again from the start at {trained:.3e} (",
        runs.join(", then ")
    );
    assert!(out.contains(&line), "{line} in {out}");
    for (k, (lr, epoch)) in retries.iter().enumerate() {
        let notice = format!(
            "the run diverged at epoch {epoch} (loss = NaN) at lr {lr}; training again from the start at {} (retry {} of 3)",
            third(*lr),
            k + 1
        );
        assert!(err.contains(&notice), "{notice} in {err}");
    }
    // The run that ended is the one --lr gives at its rate.
    let (ok, _, err) = train("cpu", &format!("{trained:?}"), &["--save", &hand_model]);
    assert!(ok, "{err}");
    let hand = read_json(&j);
    assert!(hand["lr_range_test"].is_null());
    assert_eq!(v["final_loss"], hand["final_loss"]);
    assert_eq!(saved_params(&auto_model), saved_params(&hand_model));
    // A floor above the second retry's rate: one retry, then the error,
    // which names the rate that diverged before; no model.
    assert!(retries.len() >= 2, "{retries:?}");
    let floor = format!("{:?}", (retries[1].0 + third(retries[1].0)) / 2.0);
    let none = path(&dir, "none.st");
    let (ok, _, err) = train("cpu", "auto", &["--lr-min", &floor, "--save", &none]);
    assert!(!ok);
    let named = format!("(--lr auto's runs at {} diverged before it)", retries[0].0);
    assert!(
        err.contains("diverged at epoch") && err.contains(&named),
        "{err}"
    );
    // And why no lower rate was tried: the floor.
    let why = format!(
        "; --lr auto did not train again at {}: --lr-min must be at least 0 and below --lr",
        third(retries[1].0)
    );
    assert!(err.contains(&why), "{err}");
    assert!(!std::path::Path::new(&none).exists());
    // The GPU trains again as the CPU does.
    if have_gpu() {
        let (ok, _, err) = train("gpu", "auto", &[]);
        assert!(ok, "{err}");
        check(&read_json(&j));
    }
}

/// A run that ends predicting the mean (nesterov at 0.1 saturates the
/// sigmoid units on standardised synthetic rows) is warned of, with r²
/// printed as 0.0000, not -0.0000; momentum at that rate is not.
#[test]
fn a_model_no_better_than_the_mean_is_warned_of() {
    let run = |opt: &str| {
        let more = ["--optimizer", opt, "--standardize", "--epochs", "300"];
        run_ok_out_err(&train_synthetic("300", "3", "cpu", &more))
    };
    let (out, err) = run("nesterov");
    assert!(out.contains("r²        0.0000 training\n"), "{out}");
    let says =
        "warning: the model predicts the training rows no better than their mean does (r² 0.0000)";
    assert!(
        err.contains(says) && err.contains("try a smaller --lr (this run used 0.1)"),
        "{err}"
    );
    let (_, err) = run("momentum");
    assert!(!err.contains("warning"), "{err}");
    // Too low a rate for too few epochs: the advice is the other way.
    let more = ["--lr", "1e-4", "--epochs", "10"];
    let (ok, _, err) = shadertrain(&train_synthetic("500", "3", "cpu", &more));
    let says = "the loss was still falling when the run ended: train longer (--epochs) or at a larger --lr, or --standardize";
    assert!(ok && err.contains(says), "{err}");
    // A rate so low that the loss did not move at all: a larger one.
    let more = ["--lr", "1e-9", "--epochs", "10"];
    let (ok, _, err) = shadertrain(&train_synthetic("500", "3", "cpu", &more));
    let says = "the loss hardly moved over the whole run: try a larger --lr (this run used 1e-9), or --lr auto, or --standardize";
    assert!(ok && err.contains(says), "{err}");
    // The default gd's other remedy, lbfgs; not for an optimizer asked for.
    assert!(
        err.contains(", or --standardize, or --optimizer lbfgs\n"),
        "{err}"
    );
    // A rate so low that the loss fell a little every epoch, as fast at
    // the end as on average: a larger one, not the saturation's smaller.
    let more = ["--optimizer", "adam", "--lr", "2e-6", "--standardize"];
    let (ok, _, err) = shadertrain(&train_synthetic("500", "3", "cpu", &more));
    let says = "no better than their mean does (r² -0.1395); the loss fell slowly throughout, as fast at the end as on average: try a larger --lr (this run used 2e-6), or --lr auto\n";
    assert!(ok && err.contains(says), "{err}");
    let (_, err) = run("nesterov");
    assert!(!err.contains("--optimizer lbfgs"), "{err}");
}

/// Where something other than the rate held the steps back or blew them
/// up, the warning or error names it: L-BFGS's first trial step (--lr
/// 1e25 stalled it at once, and was told to change the network), a
/// schedule that fell to nothing (told its rate was too high, or that the
/// loss was still falling), a clipping norm or Adam's ε that shrank every
/// step, and a weight decay that alone makes θ grow (told to clip, which
/// comes before the decay).
#[test]
fn what_held_a_run_back_is_named() {
    let run = |more: &[&str]| {
        let more = [&["--hidden", "8", "--epochs", "30"], more].concat();
        shadertrain(&train_synthetic("200", "3", "cpu", &more))
    };
    let warned = |more: &[&str], says: &str| {
        let (ok, _, err) = run(more);
        assert!(ok && err.contains(says), "{more:?}: {err}");
    };
    warned(
        &["--optimizer", "lbfgs", "--lr", "1e25"],
        "L-BFGS's line search found no lower loss in its first iteration, whose first trial step --lr 1e25 sets: try a smaller --lr (L-BFGS's default is 1)",
    );
    warned(
        &["--optimizer", "gd", "--lr-schedule", "exponential", "--lr-gamma", "1e-30"],
        "the loss stopped moving at epoch 1, where the schedule's rate had fallen to 1e-31 from --lr 0.1: try a schedule that falls more slowly",
    );
    // A cosine at 0 from epoch 2 of 10: the loss fell over the last ten
    // epochs, but it was not still falling (it was told so).
    let more = [
        "--hidden",
        "8",
        "--epochs",
        "10",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
    ];
    let cosine = ["--lr-schedule", "cosine", "--lr-epochs", "2"];
    let (ok, _, err) = shadertrain(&train_synthetic(
        "200",
        "3",
        "cpu",
        &[&more[..], &cosine].concat(),
    ));
    let says = "the loss stopped moving at epoch 2, where the schedule's rate had fallen to 0";
    assert!(ok && err.contains(says), "{err}");
    warned(
        &["--optimizer", "gd", "--clip-grad-norm", "1e-30"],
        "the loss hardly moved over the whole run: try a larger --lr (this run used 0.1), a larger --clip-grad-norm (this run used 1e-30), or --lr auto",
    );
    warned(
        &["--optimizer", "adam", "--eps", "1e30"],
        "try a larger --lr (this run used 0.001), a smaller --eps (this run used 1e30), or --lr auto",
    );
    // lr·λ = 1e5: the decay alone diverges, and clipping cannot help.
    let (ok, _, err) = run(&["--optimizer", "gd", "--weight-decay", "1e6"]);
    let says = "try a smaller --lr, a smaller --weight-decay or --standardize\n";
    assert!(!ok && err.contains(says), "{err}");
    // lr·λ = 0.01: the decay may add to the blow-up; clipping may help too.
    let (ok, _, err) = run(&["--optimizer", "gd", "--lr", "100", "--weight-decay", "1e-4"]);
    let says = "try a smaller --lr, --clip-grad-norm C, a smaller --weight-decay or --standardize";
    assert!(!ok && err.contains(says), "{err}");
}

/// `gen`'s task of `rows` rows × 8 features (seed 1) with the target a
/// price, 100·y + 500: far from the output's start near 0.
fn price_csv(path: &str, rows: &str) {
    gen_csv(path, rows, "8", "1");
    let text = std::fs::read_to_string(path).unwrap();
    let rows = text.lines().skip(1).map(|l| {
        let (x, y) = l.rsplit_once(',').unwrap();
        format!("{x},{}\n", 100.0 * y.parse::<f64>().unwrap() + 500.0)
    });
    let header = text.lines().next().unwrap().to_string() + "\n";
    std::fs::write(
        path,
        std::iter::once(header).chain(rows).collect::<String>(),
    )
    .unwrap();
}

/// Without --optimizer a run trains with L-BFGS, unless a flag that only
/// the first-order optimizers take is given; then with gd, as before
/// L-BFGS was the default, so that such a command gives the same model.
/// L-BFGS's defaults fit a price-like target that gd's fitted not at all
/// (held-out r² 0.00).
#[test]
fn the_default_optimizer_is_lbfgs_unless_a_flag_of_gd_s_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, prices, j] = paths(&dir, ["d.csv", "prices.csv", "s.json"]);
    gen_csv(&csv, "200", "3", "2");
    let trained = |data: &str, more: &[&str]| {
        let all = [more, &["--json", &j, "-q"]].concat();
        run_ok(&train_data(data, "cpu", &all));
        read_json(&j)
    };
    let name = |more: &[&str]| {
        let v = trained(&csv, &[&["--epochs", "3"], more].concat());
        v["options"]["optimizer"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(name(&[]), "lbfgs");
    assert_eq!(
        name(&["--history-size", "3", "--validation-split", "0.2"]),
        "lbfgs"
    );
    assert_eq!(name(&["--lr-schedule", "constant"]), "lbfgs");
    // L-BFGS takes a weight decay too, as an L2 penalty.
    assert_eq!(name(&["--weight-decay", "1e-4"]), "lbfgs");
    for flag in [
        &["--lr", "0.01"][..],
        &["--lr", "auto"],
        &["--batch-size", "50"],
        &["--clip-grad-norm", "1"],
        &["--lr-schedule", "cosine"],
    ] {
        assert_eq!(name(flag), "gd", "{flag:?}");
    }
    // What a new user gets: a fit of a target far from 0, unscaled.
    price_csv(&prices, "1000");
    let v = trained(&prices, &["--validation-split", "0.2"]);
    let r2 = v["final_val_r2"].as_f64().unwrap();
    assert!(r2 > 0.9, "held-out r² {r2}: {v}");
}

/// The stderr of `train --data csv --backend cpu` and `more`, which must
/// succeed.
fn trained_err(csv: &str, more: &[&str]) -> String {
    run_ok_out_err(&train_data(csv, "cpu", more)).1
}

/// `clean`'s rows with a noise of amplitude 0.85 added to the target
/// (deterministic: 0.85·sin(12.9898·n) for row n), written to `noisy`.
fn noisy_csv(clean: &str, noisy: &str) {
    let text = std::fs::read_to_string(clean).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for (n, line) in lines.enumerate() {
        let (x, y) = line.rsplit_once(',').unwrap();
        let y: f64 = y.parse().unwrap();
        let noise = 0.85 * (12.9898 * (n + 1) as f64).sin();
        out += &format!("{x},{:?}\n", y + noise);
    }
    std::fs::write(noisy, out).unwrap();
}

/// A run whose held-out loss ended well above its lowest while its
/// training loss fell says the last parameters are overfitted and names
/// --keep best-val and --weight-decay (a larger one where it had one); not where --keep best-val saved the lowest's, where
/// the held-out loss kept falling, nor where it rose with the training
/// loss (adam's constant rate in mini-batches bouncing: held out 0.261 at
/// epoch 13, 0.388 at 15, the training loss 0.267 and 0.343).
#[test]
fn an_overfitted_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let [clean, noisy, bouncing] = paths(&dir, ["clean.csv", "noisy.csv", "b.csv"]);
    gen_csv(&clean, "80", "3", "1");
    noisy_csv(&clean, &noisy);
    gen_csv(&bouncing, "300", "3", "2");
    let bounce = [
        "--optimizer",
        "adam",
        "--lr",
        "0.03",
        "--batch-size",
        "100",
        "--epochs",
        "15",
    ];
    let notice = "the last parameters fit the training rows more closely than new ones; --keep best-val saves those of the lowest";
    let run = |csv: &str, more: &[&str]| {
        trained_err(csv, &[&["--validation-split", "0.3"][..], more].concat())
    };
    // L-BFGS named: the default chooses a decay for these few rows.
    let err = run(&noisy, &["--optimizer", "lbfgs"]);
    let decay =
        "and --weight-decay (an L2 penalty on the parameters; --folds 5 --grid weight-decay=0,1e-3,1e-2,1e-1 chooses it), a smaller --hidden";
    assert!(
        err.contains("notice: the held-out loss ended at ")
            && err.contains(notice)
            && err.contains(decay),
        "{err}"
    );
    // With a decay too small to stop it, a larger one.
    let err = run(&noisy, &["--weight-decay", "1e-6"]);
    let larger = "and a larger --weight-decay, a smaller --hidden";
    assert!(err.contains(notice) && err.contains(larger), "{err}");
    // Not also that more epochs would fit further.
    assert!(!err.contains("L-BFGS was still lowering"), "{err}");
    for (csv, more) in [
        (&noisy, &["--keep", "best-val"][..]),
        (&clean, &[]),
        (&bouncing, &bounce),
    ] {
        let err = run(csv, more);
        assert!(!err.contains(notice), "{csv} {more:?}: {err}");
    }
}

/// The still-falling notice of an L-BFGS run with nothing held out names
/// a weight decay's search too, where the run had fewer than 10 rows a
/// parameter and no decay: not with one, nor on more rows.
#[test]
fn lbfgs_still_falling_on_few_rows_a_parameter_names_a_decay() {
    let dir = tempfile::tempdir().unwrap();
    let [some, many] = paths(&dir, ["some.csv", "many.csv"]);
    // 321 parameters: 6.2 and 12.5 rows a parameter.
    gen_csv(&some, "2000", "3", "3");
    gen_csv(&many, "4000", "3", "3");
    let decay = "rows a parameter, --weight-decay often does better on new rows than more epochs (--folds 5 --grid weight-decay=0,1e-3,1e-2,1e-1 chooses one)";
    let err = trained_err(&some, &["--epochs", "20"]);
    assert!(err.contains(&format!("; on 6.2 {decay}")), "{err}");
    for (csv, more) in [(&some, &["--weight-decay", "1e-3"][..]), (&many, &[])] {
        let err = trained_err(csv, &[&["--epochs", "20"][..], more].concat());
        assert!(err.contains("L-BFGS was still lowering"), "{err}");
        assert!(!err.contains(decay), "{csv} {more:?}: {err}");
    }
}

/// An L-BFGS run that --epochs ended while its loss still fell says a
/// larger --epochs fits further where its held-out loss fell too, and
/// names the measurement where none was held out; not one that
/// converged, one whose held-out loss had stopped falling or ended well
/// above its lowest, another optimizer's, nor under --quiet.
#[test]
fn lbfgs_ended_by_epochs_while_falling_says_more_would_fit() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, tiny] = paths(&dir, ["d.csv", "tiny.csv"]);
    gen_csv(&csv, "400", "3", "2");
    std::fs::write(&tiny, "x,y\n1,2\n2,4\n3,5\n").unwrap();
    let notice = "notice: L-BFGS was still lowering the loss when --epochs ended the run (";
    let run = trained_err;
    // Nothing held out: more epochs are unmeasured, so the notice names
    // the measurement.
    let err = run(&csv, &["--epochs", "20"]);
    let says = "% over its last 10 iterations); more epochs fit the training rows further, which helps new rows only until it fits their noise: --validation-split 0.2 --keep best-val --val-patience 20 with a larger --epochs measures that, keeps the best, and stops 20 epochs past it";
    assert!(err.contains(notice) && err.contains(says), "{err}");
    // The held-out loss falling too: more epochs fit further.
    let err = run(&csv, &["--epochs", "20", "--validation-split", "0.2"]);
    let says = "% over its last 10 iterations), and the held-out loss with it: a larger --epochs fits further";
    assert!(err.contains(notice) && err.contains(says), "{err}");
    // Held-out rows whose loss ended well above its lowest (1.88 times;
    // kept by --keep best-val, so no overfitting notice either), though
    // still falling over the last iterations.
    let [clean, noisy] = paths(&dir, ["clean.csv", "noisy.csv"]);
    gen_csv(&clean, "120", "3", "2");
    noisy_csv(&clean, &noisy);
    let risen = ["--validation-split", "0.3", "--keep", "best-val"];
    // After --folds, which measured those epochs: the run on every row.
    let model = path(&dir, "m.st");
    let folded = ["--epochs", "20", "--folds", "3", "--save", &model];
    for (csv, more) in [
        (&noisy, &risen[..]),
        (&csv, &folded),
        (&tiny, &[]),
        // On the raw rows the held-out loss has stopped falling by then.
        (
            &csv,
            &[
                "--epochs",
                "20",
                "--validation-split",
                "0.2",
                "--no-standardize",
            ],
        ),
        (&csv, &["--epochs", "20", "--optimizer", "adam"]),
        (&csv, &["--epochs", "20", "--quiet"]),
        // More parameters than rows (a time limit leaves out the decay
        // search): the few-rows notice names the better remedy.
        (
            &csv,
            &["--epochs", "20", "--hidden", "200", "--max-time", "600"],
        ),
    ] {
        let err = run(csv, more);
        assert!(!err.contains(notice), "{csv} {more:?}: {err}");
        if more.contains(&"200") {
            let few = "1001 parameters outnumber the 400 rows";
            assert!(err.contains(few), "{more:?}: {err}");
        }
    }
}

/// A run on features far from ±1 that it did not standardise
/// (--no-standardize), whose fit is weak, names them and --standardize: a
/// notice, or within the mean's warning where the fit is no better than
/// the mean (where L-BFGS was told a rate too high had saturated it). Not
/// standardized (the default), nor on features near ±1, nor for a target
/// far from 0 alone.
#[test]
fn columns_far_from_one_are_named_with_standardize() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, wide, huge, target, tiny, flat] = paths(
        &dir,
        [
            "d.csv", "wide.csv", "huge.csv", "y.csv", "tiny.csv", "flat.csv",
        ],
    );
    gen_csv(&csv, "300", "3", "2");
    // x1 ×1000 (r² 0.34; standardized 0.99), x0 ×1e6 (r² 0.0006).
    let text = std::fs::read_to_string(&csv).unwrap();
    let scaled = |column: usize, factor: f64| {
        let mut lines = text.lines();
        let mut out = format!("{}\n", lines.next().unwrap());
        for line in lines {
            let mut cells: Vec<String> = line.split(',').map(String::from).collect();
            cells[column] = format!("{:?}", cells[column].parse::<f64>().unwrap() * factor);
            out += &(cells.join(",") + "\n");
        }
        out
    };
    std::fs::write(&wide, scaled(1, 1000.0)).unwrap();
    std::fs::write(&huge, scaled(0, 1e6)).unwrap();
    // x0 ×1e-3: within ±1e-3 (r² 0.26; standardized 0.99).
    std::fs::write(&tiny, scaled(0, 1e-3)).unwrap();
    // x0 0.05 in every row: constant, named as such, not as far.
    std::fs::write(
        &flat,
        scaled(0, 0.0)
            .replace("\n-0.0,", "\n0.0,")
            .replace("\n0.0,", "\n0.05,"),
    )
    .unwrap();
    // The target ×30 alone: no feature to name (r² 0.12 after 5 epochs).
    std::fs::write(&target, scaled(3, 30.0)).unwrap();
    let run = trained_err;
    let far = "far from the ±1 the network starts on";
    let raw = ["--no-standardize"];
    let err = run(&wide, &raw);
    let notice = "notice: x1 reaches magnitudes up to 9.99";
    let advice = "and the fit is weak (r² 0.";
    assert!(
        err.contains(notice) && err.contains(far) && err.contains(advice),
        "{err}"
    );
    assert!(!err.contains("L-BFGS was still lowering"), "{err}");
    let (out, err) = run_ok_out_err(&train_data(&huge, "cpu", &raw));
    let stop = "(stopped: the line search found no lower loss (a minimum, or a stall))";
    assert!(out.contains(stop), "{out}");
    let warning = "; x0 reaches magnitudes up to 9.99";
    assert!(
        err.contains(warning) && err.contains("which stalls L-BFGS; try --standardize"),
        "{err}"
    );
    assert!(!err.contains("--lr"), "{err}");
    let err = run(&tiny, &raw);
    let notice = "notice: x0 reaches at most 9.9";
    assert!(err.contains(notice) && err.contains(far), "{err}");
    let err = run(&flat, &raw);
    assert!(err.contains("x0") && !err.contains(far), "{err}");
    for (csv, more) in [
        (&wide, &[][..]),
        (&huge, &["--standardize"]),
        (&tiny, &[]),
        (&csv, &raw),
        (&target, &["--epochs", "5", "--no-standardize"]),
    ] {
        let err = run(csv, more);
        assert!(!err.contains(far), "{csv} {more:?}: {err}");
    }
}

/// --threads (other than 0) and --cpu-isa set the cpu backend, the
/// host's scoring of held-out rows (one thread where sharded) and the
/// reference's shards (--threads): a train command that ran none of
/// these, in any of its runs (the folds', the grid's, the weight decay
/// search's, --save's on every row), says once, as it ends, which changed
/// nothing; a command that ran one says nothing of it.
#[test]
fn cpu_options_no_run_took_are_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let [model, csv] = paths(&dir, ["m.st", "few.csv"]);
    run_ok(&["gen", "--rows", "200", "--features", "3", "--out", &csv]);
    let threads = "notice: --threads 2 changed nothing: it sets the threads of the cpu backend, of held-out rows scored on the host beside another backend (one, where the run is sharded) and of the reference's shards, and no run of this command had any of these";
    let isa = "notice: --cpu-isa baseline changed nothing: it sets the build of the cpu backend and of held-out rows scored on the host beside another backend, and no run of this command had either";
    let both = ["--threads", "2", "--cpu-isa", "baseline"];
    // No weight decay search, which scores held-out folds, unless named.
    let run = |backend: &str, more: &[&str]| {
        let more = [
            &["--hidden", "3", "--epochs", "2", "--weight-decay", "0"][..],
            more,
        ]
        .concat();
        run_ok_out_err(&train_synthetic("120", "2", backend, &more)).1
    };
    let said = |err: &str, threads_said: bool, isa_said: bool| {
        let what = format!("{err}\n(--threads {threads_said}, --cpu-isa {isa_said})");
        assert_eq!(
            err.matches(threads).count(),
            usize::from(threads_said),
            "{what}"
        );
        assert_eq!(err.matches(isa).count(), usize::from(isa_said), "{what}");
        assert_eq!(
            err.matches("changed nothing").count(),
            usize::from(threads_said) + usize::from(isa_said),
            "{what}"
        );
    };
    said(&run("reference", &both), true, true);
    said(&run("reference", &both[..2]), true, false);
    said(
        &run("reference", &["--threads", "0", "--cpu-isa", "baseline"]),
        false,
        true,
    );
    said(
        &run("reference", &[&both[..], &["--quiet"]].concat()),
        false,
        false,
    );
    said(&run("cpu", &both), false, false);
    // Held-out rows scored on the host: the reference's folds, and theirs
    // alone with --save's run on every row after them.
    said(
        &run(
            "reference",
            &[&both[..], &["--validation-split", "0.25"]].concat(),
        ),
        false,
        false,
    );
    let save = ["--folds", "3", "--save", &model];
    said(
        &run("reference", &[&both[..], &save].concat()),
        false,
        false,
    );
    // Sharded: the reference's shards side by side; held-out rows on one
    // thread.
    said(
        &run("reference", &[&both[..], &["--shards", "2"]].concat()),
        false,
        true,
    );
    let sharded_held_out = ["--shards", "2", "--validation-split", "0.25"];
    said(
        &run("reference", &[&both[..], &sharded_held_out].concat()),
        false,
        false,
    );
    // The weight decay search chosen for few rows scores its folds on the
    // host.
    let few = [
        "train",
        "--data",
        &csv,
        "--backend",
        "reference",
        "--hidden",
        "32",
        "--epochs",
        "2",
    ];
    let (_, err) = run_ok_out_err(&[&few[..], &both].concat());
    assert!(err.contains("notice: the network has "), "{err}");
    said(&err, false, false);
    if !have_gpu() {
        return;
    }
    said(&run("gpu", &both), true, true);
    // Adam's held-out rows are scored on the device, but the host scores
    // the starting parameters; L-BFGS's, on the host.
    let adam = ["--optimizer", "adam", "--lr", "0.01"];
    said(&run("gpu", &[&both[..], &adam].concat()), true, true);
    said(
        &run(
            "gpu",
            &[&both[..], &adam, &["--validation-split", "0.25"]].concat(),
        ),
        false,
        false,
    );
    said(
        &run("gpu", &[&both[..], &sharded_held_out].concat()),
        true,
        false,
    );
    said(
        &run("gpu", &[&both[..], &["--shards", "2"]].concat()),
        true,
        true,
    );
    let grid = [
        "--folds",
        "2",
        "--grid",
        "optimizer=adam,lbfgs",
        "--lr",
        "0.01",
    ];
    said(&run("gpu", &[&both[..], &grid].concat()), false, false);
}

/// A run of L-BFGS that no --optimizer chose, on 50,000 rows or more, on
/// a backend that keeps it (the reference; the GPU), names adam in
/// mini-batches; not on fewer rows, nor where --optimizer named L-BFGS.
#[test]
fn the_default_lbfgs_on_many_rows_names_mini_batches() {
    let notice = "notice: L-BFGS passes over all 50000 rows for every step; on this many, adam in mini-batches usually reaches a lower loss sooner: --optimizer adam --batch-size 200 --lr-schedule cosine --lr auto --epochs 20";
    let run = |rows: &str, more: &[&str]| {
        let more = [&["--hidden", "4", "--epochs", "12"][..], more].concat();
        run_ok_out_err(&train_synthetic(rows, "2", "reference", &more)).1
    };
    let err = run("50000", &[]);
    assert!(err.contains(notice), "{err}");
    assert!(!err.contains("L-BFGS was still lowering"), "{err}");
    // Nor where --batch-size would be refused.
    for (rows, more) in [
        ("49999", &[][..]),
        ("50000", &["--optimizer", "lbfgs"]),
        ("50000", &["--shards", "2"]),
    ] {
        let err = run(rows, more);
        assert!(
            !err.contains("adam in mini-batches"),
            "{rows} {more:?}: {err}"
        );
    }
}

/// A new run of 50,000 training rows or more (for a fold of --folds, the
/// rows read), 30 a parameter, on the cpu backend that names no optimizer
/// trains adam in mini-batches of 200 at --lr auto's rate on a cosine
/// schedule (over 20 epochs without --epochs), bit for bit the run those
/// flags name, and says so once; not on fewer rows (nor fewer than 30 a
/// parameter), nor where --optimizer, --lr-schedule, a flag of L-BFGS's,
/// --shards, --halving or the reference backend keeps L-BFGS. Its
/// checkpoint resumes it as adam.
#[test]
fn many_rows_train_adam_in_mini_batches_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let [json, ck] = paths(&dir, ["r.json", "ck.st"]);
    let notice = "notice: 50000 rows, so adam in mini-batches of 200 trains them (at --lr auto's rate, on a cosine schedule over 3 epochs)";
    let run = |rows: &str, backend: &str, more: &[&str]| {
        let hidden = ["--hidden", "4"];
        let hidden = if more.contains(&"--hidden") {
            &[][..]
        } else {
            &hidden
        };
        let more = [hidden, &["--json", &json], more].concat();
        let (_, err) = run_ok_out_err(&train_synthetic(rows, "2", backend, &more));
        (read_json(&json), err)
    };
    // 49,999 and 50,000 training rows, 12,500 held out.
    let (chosen, err) = run(
        "62499",
        "cpu",
        &["--epochs", "3", "--validation-split", "0.2"],
    );
    assert!(!err.contains("so adam in mini-batches"), "{err}");
    assert!(
        chosen["optimizer"].as_str().unwrap().starts_with("lbfgs"),
        "{chosen}"
    );
    // Said at its end: the split left fewer than 50,000 to train on.
    let split = "notice: L-BFGS trained these 49999 rows, not adam in mini-batches: a new run on the cpu backend takes adam from 50,000 training rows, and --validation-split left fewer. The run on every row would take adam; to compare the two on these, name it: --optimizer adam --batch-size 200 --lr-schedule cosine --lr auto --epochs 20";
    assert!(err.contains(split), "{err}");
    let (chosen, err) = run(
        "62500",
        "cpu",
        &["--epochs", "3", "--validation-split", "0.2"],
    );
    assert_eq!(err.matches(notice).count(), 1, "{err}");
    assert!(!err.contains("L-BFGS passes over all"), "{err}");
    // The flags it names are this run's, its epochs included.
    let names = "--optimizer adam --batch-size 200 --lr-schedule cosine --lr auto --epochs 3 names this run";
    assert!(err.contains(names), "{err}");
    let flags = [
        "--optimizer",
        "adam",
        "--lr",
        "auto",
        "--batch-size",
        "200",
        "--lr-schedule",
        "cosine",
    ];
    let more = [&flags[..], &["--epochs", "3", "--validation-split", "0.2"]].concat();
    let (named, err) = run("62500", "cpu", &more);
    assert!(!err.contains("so adam in mini-batches"), "{err}");
    for key in ["optimizer", "final_loss", "final_val_loss", "epochs"] {
        assert_eq!(chosen[key], named[key], "{key}");
    }
    let optimizer = chosen["optimizer"].as_str().unwrap();
    assert!(
        optimizer.starts_with("adam") && optimizer.ends_with("cosine to 0 over 3 epochs"),
        "{optimizer}"
    );
    assert!(chosen["lr_range_test"].is_object(), "{chosen}");
    // 20 epochs without --epochs.
    let (chosen, _) = run("50000", "cpu", &[]);
    assert_eq!(chosen["epochs"], 20, "{chosen}");
    for (backend, more) in [
        ("cpu", &["--optimizer", "lbfgs"][..]),
        ("cpu", &["--hidden", "512"]),
        ("cpu", &["--lr-schedule", "constant"]),
        // Kept by its schedule: no notice of its rows a parameter.
        ("cpu", &["--hidden", "512", "--lr-schedule", "constant"]),
        ("cpu", &["--gtol", "1e-9"]),
        ("cpu", &["--history-size", "5"]),
        ("cpu", &["--shards", "2"]),
        ("reference", &[]),
    ] {
        let (kept, err) = run("50000", backend, &[&["--epochs", "2"][..], more].concat());
        assert!(!err.contains("so adam in mini-batches"), "{more:?}: {err}");
        let optimizer = kept["optimizer"].as_str().unwrap();
        assert!(optimizer.starts_with("lbfgs"), "{more:?}: {optimizer}");
        // Kept for its 24.4 rows a parameter (2,049 parameters): said at
        // its end, with the run to compare.
        let fewer = "notice: L-BFGS passes over all 50000 rows for every step; it trained them, not adam in mini-batches, because they are 24.4 a parameter of this network, fewer than the 30 from which a new run on the cpu backend takes adam";
        let compare = "--optimizer adam --batch-size 200 --lr-schedule cosine --lr auto --epochs 20 trains so, and --validation-split 0.2 on both runs shows which does better";
        let wider = more == ["--hidden", "512"];
        assert_eq!(
            err.contains(fewer) && err.contains(compare),
            wider,
            "{more:?}: {err}"
        );
    }
    // Said once over --folds' runs, each of which trains adam.
    // The range test's notice too, though each run tests.
    let model = path(&dir, "m.st");
    let (_, err) = run(
        "50000",
        "cpu",
        &["--epochs", "2", "--folds", "2", "--save", &model],
    );
    let notice = notice.replace("3 epochs", "2 epochs");
    assert_eq!(err.matches(&notice).count(), 1, "{err}");
    assert_eq!(err.matches("epochs at lr").count(), 2, "{err}");
    assert_eq!(err.matches("a range test of up to").count(), 1, "{err}");
    // --halving's rounds train fewer epochs than the last: L-BFGS's.
    let grid = [
        "--epochs",
        "4",
        "--folds",
        "2",
        "--grid",
        "weight-decay=0,1e-3",
    ];
    let (_, err) = run("50000", "cpu", &grid);
    assert!(err.contains("so adam in mini-batches"), "{err}");
    let (_, err) = run("50000", "cpu", &[&grid[..], &["--halving", "2"]].concat());
    assert!(!err.contains("so adam in mini-batches"), "{err}");
    let (_, err) = run("50000", "cpu", &["--epochs", "2", "--checkpoint", &ck]);
    assert!(err.contains(&notice), "{err}");
    let (out, err) = run_ok_out_err(&train_resume(&ck, "cpu", &["--epochs", "3"]));
    assert!(
        out.contains("optimizer adam") && out.contains("mini-batches of 200"),
        "{out}"
    );
    assert!(!err.contains("so adam in mini-batches"), "{err}");
}

/// A run whose many rows chose adam in mini-batches is recorded as it
/// trained by --folds' and --grid's --json (L-BFGS for a combination
/// whose wider network has fewer than 30 rows a parameter), has its range
/// test drawn by --lr-plot (refused on fewer rows), and is told to give
/// adam's flags beside a remedy's --lr, which alone would train gd.
#[test]
fn many_rows_adam_is_recorded_and_advised_as_trained() {
    let dir = tempfile::tempdir().unwrap();
    let [json, plot, good] = paths(&dir, ["r.json", "lr.png", "good.st"]);
    let run = |rows: &str, more: &[&str]| {
        let epochs = ["--epochs", "2"];
        let epochs = if more.contains(&"--epochs") {
            &[][..]
        } else {
            &epochs
        };
        shadertrain(&train_synthetic(rows, "2", "cpu", &[epochs, more].concat()))
    };
    let optimizer = |options: &serde_json::Value, name: &str, batch: Option<u64>| {
        assert_eq!(options["optimizer"]["name"], name, "{options}");
        assert_eq!(options["batch_size"].as_u64(), batch, "{options}");
    };
    let (ok, _, err) = run("50000", &["--hidden", "2", "--folds", "2", "--json", &json]);
    assert!(ok, "{err}");
    optimizer(&read_json(&json)["options"], "adam", Some(200));
    // 2,049 parameters at 512 units: 30 rows each would be 61,470.
    let grid = ["--folds", "2", "--grid", "hidden=4,512", "--json", &json];
    let (ok, _, err) = run("50000", &grid);
    assert!(ok, "{err}");
    let record = read_json(&json);
    let results = record["results"].as_array().unwrap();
    let options = |hidden: &str| {
        let r = results.iter().find(|r| r["values"]["hidden"] == hidden);
        r.expect("a combination")["options"].clone()
    };
    optimizer(&options("4"), "adam", Some(200));
    optimizer(&options("512"), "lbfgs", None);
    let (ok, _, err) = run("50000", &["--hidden", "2", "--lr-plot", &plot]);
    assert!(ok, "{err}");
    assert_eq!(common::png_size(&plot), shadertrain::plot::SIZE);
    let (ok, _, err) = run("49999", &["--hidden", "2", "--lr-plot", &plot]);
    assert!(!ok && err.contains("--lr-plot needs --lr auto"), "{err}");
    // From a minimum L-BFGS found, mini-batches' noise raises the loss.
    let lbfgs = ["--optimizer", "lbfgs", "--epochs", "2000", "--save", &good];
    let (ok, out, err) = run("50000", &[&["--hidden", "2"][..], &lbfgs].concat());
    assert!(
        ok && out.contains("the line search found no lower loss"),
        "{out}{err}"
    );
    let flags = "(with --optimizer adam --batch-size 200 --lr-schedule cosine, this run's: --lr or --clip-grad-norm alone trains gd)";
    let (ok, _, err) = run("50000", &["--init", &good]);
    assert!(ok, "{err}");
    assert!(
        err.contains("warning: the loss ended above where it started") && err.contains(flags),
        "{err}"
    );
    let named = ["--optimizer", "adam", "--lr", "auto", "--batch-size", "200"];
    let more = [&named[..], &["--lr-schedule", "cosine", "--init", &good]].concat();
    let (ok, _, err) = run("50000", &more);
    assert!(
        ok && err.contains("ended above") && !err.contains(flags),
        "{err}"
    );
    // The mean's warning names them too: a target of noise alone.
    let noise = path(&dir, "noise.csv");
    let mut state = 7u64;
    let mut draw = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("x0,x1,y\n");
    for _ in 0..50_000 {
        text += &format!("{},{},{}\n", draw(), draw(), draw());
    }
    std::fs::write(&noise, text).unwrap();
    let train = [
        "train",
        "--data",
        &noise,
        "--backend",
        "cpu",
        "--hidden",
        "2",
    ];
    let (ok, _, err) = shadertrain(&[&train[..], &["--epochs", "3"]].concat());
    assert!(
        ok && err.contains("no better than their mean does") && err.contains(flags),
        "{err}"
    );
    // gd, which --lr alone trains, is told of the same on many rows.
    let gd = "notice: gd, the default optimizer with --lr, was still lowering the loss when the run ended; on this many rows --optimizer adam --batch-size 200 --lr-schedule cosine usually reaches a lower loss in far less time";
    let (ok, _, err) = run(
        "50000",
        &["--hidden", "2", "--lr", "0.01", "--epochs", "20"],
    );
    assert!(ok && err.contains(gd), "{err}");
    let (ok, _, err) = run(
        "49999",
        &["--hidden", "2", "--lr", "0.01", "--epochs", "20"],
    );
    assert!(
        ok && err.contains("; --optimizer lbfgs usually reaches"),
        "{err}"
    );
}

/// A new run on fewer training rows (50 or more) than twice its
/// network's parameters chooses --weight-decay by 5-fold cross-validation
/// of them: each value's score is the mean held-out MSE --folds 5 gives
/// at it, the lowest is chosen, and the run then trains as --weight-decay
/// with it does. The notice says so once across --folds, whose folds each
/// choose their own. Not below 50 rows, nor with --weight-decay, --optimizer,
/// --init, --max-time, synthetic rows or fewer parameters; a signal
/// during the search trains and saves nothing.
#[test]
fn few_rows_choose_their_weight_decay_by_cross_validation() {
    let dir = tempfile::tempdir().unwrap();
    let [clean, csv, small, fifty, json, model, named, folds] = paths(
        &dir,
        [
            "c.csv", "d.csv", "s.csv", "50.csv", "r.json", "m.st", "n.st", "f.json",
        ],
    );
    gen_csv(&clean, "120", "3", "4");
    noisy_csv(&clean, &csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&small, lines[..50].join("\n") + "\n").unwrap();
    std::fs::write(&fifty, lines[..51].join("\n") + "\n").unwrap();
    let notice = "notice: the network has 321 parameters for the 120 rows it trains on (fewer than 2 a parameter), so it could fit their noise: --weight-decay, an L2 penalty that restrains it, is chosen first by 5-fold cross-validation of those rows among 0, 0.001, 0.01, 0.1 (20 runs of up to 200 epochs on 4/5 of them; the summary's decay line gives each value's score); --weight-decay names one instead, 0 for none (docs/optimizers.md, \"Few rows\")\n";
    let more = ["--json", &json, "--save", &model];
    let (out, err) = run_ok_out_err(&train_data(&csv, "cpu", &more));
    assert_eq!(err.matches(notice).count(), 1, "{err}");
    assert!(
        out.contains(" s before it, choosing the weight decay)\n"),
        "{out}"
    );
    assert!(!err.contains("can fit their noise as well"), "{err}");
    assert!(!err.contains("no better than their mean does"), "{err}");
    let r = read_json(&json);
    let search = &r["weight_decay_search"];
    assert_eq!(
        (&search["rows"], &search["folds"]),
        (&120.into(), &5.into())
    );
    let tried = search["tried"].as_array().unwrap();
    let values: Vec<f64> = (tried.iter())
        .map(|t| t["weight_decay"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [0.0, 1e-3, 1e-2, 1e-1]);
    let mses: Vec<f64> = tried
        .iter()
        .map(|t| t["val_mse"].as_f64().unwrap())
        .collect();
    let best = (0..4).min_by(|&a, &b| mses[a].total_cmp(&mses[b])).unwrap();
    let chosen = search["chosen"].as_f64().unwrap();
    // On these noisy rows a decay does better than none.
    assert!(chosen == values[best] && chosen > 0.0, "{search}");
    assert_eq!(r["options"]["optimizer"]["weight_decay"], chosen, "{r}");
    // Each score is --folds 5's at that value (the same folds of the rows).
    let chosen_text = chosen.to_string();
    for (i, value) in [(best, chosen_text.as_str()), (0, "0")] {
        let more = ["--folds", "5", "--weight-decay", value, "--json", &folds];
        trained_err(&csv, &more);
        let mean = read_json(&folds)["val_mse"]["mean"].as_f64().unwrap();
        assert_eq!(
            mean.to_bits(),
            mses[i].to_bits(),
            "{value}: {mean} {mses:?}"
        );
    }
    // Three folds at once on any machine (each on one thread, its two
    // workers in turn): the same scores, bit for bit.
    let three = ["--threads", "3", "--json", &json];
    trained_err(&csv, &three);
    let tried = read_json(&json)["weight_decay_search"]["tried"].clone();
    for (i, value) in [(0, "0"), (2, "0.01")] {
        let more = [
            "--folds",
            "5",
            "--weight-decay",
            value,
            "--threads",
            "3",
            "--json",
            &folds,
        ];
        trained_err(&csv, &more);
        let mean = read_json(&folds)["val_mse"]["mean"].as_f64().unwrap();
        let searched = tried[i]["val_mse"].as_f64().unwrap();
        assert_eq!(mean.to_bits(), searched.to_bits(), "{value}");
    }
    // The run trains as the value named does.
    let err = trained_err(&csv, &["--weight-decay", &chosen_text, "--save", &named]);
    assert!(!err.contains("cross-validation"), "{err}");
    assert_same_file(
        &model,
        &named,
        "the chosen decay's model and the named one's",
    );
    // --keep best (which --folds refuses) searches too, its folds scoring
    // their last parameters, L-BFGS's best: the same choice and model.
    let err = trained_err(&csv, &["--keep", "best", "--save", &named, "--json", &json]);
    assert!(!err.contains("could not train its folds"), "{err}");
    assert_eq!(read_json(&json)["weight_decay_search"]["chosen"], chosen);
    assert_same_file(&model, &named, "--keep best's model and the plain run's");
    // Fewer rows than twice the parameters (61 with 12 units), and 50.
    for (data, more) in [(&csv, &["--hidden", "12"][..]), (&fifty, &[])] {
        let err = trained_err(data, &[more, &["--json", &json]].concat());
        assert!(err.contains("is chosen first by 5-fold"), "{more:?}: {err}");
        assert!(read_json(&json)["weight_decay_search"].is_object());
    }
    let init = ["--init", model.as_str()];
    for (data, more) in [
        (&csv, &["--weight-decay", "0"][..]),
        (&csv, &["--optimizer", "lbfgs"]),
        (&csv, &["--hidden", "11"]),
        (&csv, &["--max-time", "60"]),
        (&csv, &["--gtol", "1e-7"]),
        (&csv, &["--shards", "2"]),
        (&csv, &init),
        (&small, &[]),
    ] {
        let err = trained_err(data, &[more, &["--json", &json]].concat());
        assert!(!err.contains("cross-validation"), "{more:?}: {err}");
        assert!(
            read_json(&json)["weight_decay_search"].is_null(),
            "{more:?}"
        );
        // The flag that left the search out is named at the end.
        let why = match more.first().copied() {
            Some("--max-time") => Some("--max-time (a run bounded in time trains once)"),
            Some("--optimizer" | "--gtol") => {
                Some("naming L-BFGS or its settings (--optimizer, --gtol, --history-size)")
            }
            _ => None,
        };
        let left_out =
            " left out the search for one that a run of the defaults makes on so few rows";
        match why {
            Some(why) => assert!(
                err.contains(&format!("; {why}{left_out}")),
                "{more:?}: {err}"
            ),
            None => assert!(!err.contains(left_out), "{more:?}: {err}"),
        }
    }
    let err = trained_err(&small, &[]);
    assert!(err.contains("outnumber the 49 rows it trained on"), "{err}");
    let (ok, _, err) = shadertrain(&train_synthetic("120", "3", "cpu", &["--json", &json]));
    assert!(ok && !err.contains("cross-validation"), "{err}");
    let halving = ["--folds", "2", "--grid", "hidden=12,13", "--halving", "2"];
    let err = trained_err(&csv, &halving);
    assert!(!err.contains("cross-validation"), "{err}");
    // Refused before any search.
    let png = path(&dir, "lr.png");
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &["--lr-plot", &png]));
    let refused = !ok && err.contains("--lr-plot needs --lr auto");
    assert!(refused && !err.contains("is chosen"), "{err}");
    // A search whose folds cannot train leaves the decay at 0: a column
    // with one number, which a fold's training rows may lack.
    let rare = path(&dir, "rare.csv");
    let mut text = String::from("a,rare,y\n");
    for n in 0..100 {
        let a = (n as f64 * 0.37).sin();
        let one = if n == 3 { "5" } else { "" };
        text += &format!("{a},{one},{:?}\n", a + 0.3 * (n as f64 * 1.7).cos());
    }
    std::fs::write(&rare, text).unwrap();
    let more = ["--missing", "mean", "--json", &json];
    let err = trained_err(&rare, &more);
    assert!(err.contains("notice: the search for --weight-decay could not train its folds, so this run trains without one: "), "{err}");
    assert!(read_json(&json)["weight_decay_search"].is_null());
    // Held-out rows are not searched on.
    let more = ["--validation-split", "0.5", "--json", &json];
    trained_err(&csv, &more);
    assert_eq!(read_json(&json)["weight_decay_search"]["rows"], 60);
    // Where the held-out loss rose even so, a larger decay is named.
    let [clean, noisy] = paths(&dir, ["c160.csv", "n160.csv"]);
    gen_csv(&clean, "160", "3", "3");
    noisy_csv(&clean, &noisy);
    let err = trained_err(&noisy, &["--validation-split", "0.3"]);
    assert!(
        err.contains("is chosen first by 5-fold")
            && err
                .contains("and a larger --weight-decay than the search chose, a smaller --hidden"),
        "{err}"
    );
    // --folds: said once; each fold's choice in its line and --json.
    let more = ["--folds", "3", "--json", &folds, "--save", &model];
    let (out, err) = run_ok_out_err(&train_data(&csv, "cpu", &more));
    // Each fold's search on its own 80 training rows.
    let fold_notice = "for the 80 rows it trains on (fewer than 2 a parameter)";
    assert!(err.contains(fold_notice), "{err}");
    assert_eq!(err.matches("is chosen first by 5-fold").count(), 1, "{err}");
    assert!(err.contains("; each run of --folds chooses its own, from its training rows ("));
    assert!(
        err.contains("on 4/5 of them; each fold's line and --json give its choice); ")
            && !err.contains("the summary's decay line"),
        "{err}"
    );
    assert_eq!(err.matches(" with weight decay ").count(), 3, "{err}");
    let per_fold = read_json(&folds)["per_fold"].as_array().unwrap().clone();
    assert!(
        per_fold.iter().all(|f| f["weight_decay"].is_f64()),
        "{per_fold:?}"
    );
    assert!(
        out.contains("\ndecay     ")
            && out.contains("chosen by 5-fold cross-validation of the 120 training rows"),
        "{out}"
    );
    // On the GPU, the search's folds run on the run's device.
    if have_gpu() {
        let more = ["--save", &model, "--json", &json];
        let (ok, _, err) = shadertrain(&train_data(&csv, "gpu", &more));
        assert!(ok && err.contains(notice), "{err}");
        let chosen = read_json(&json)["weight_decay_search"]["chosen"].to_string();
        let more = ["--weight-decay", &chosen, "--save", &named];
        let (ok, _, err) = shadertrain(&train_data(&csv, "gpu", &more));
        assert!(ok && !err.contains("is chosen first"), "{err}");
        assert_same_file(
            &model,
            &named,
            "the GPU's chosen decay's model and the named one's",
        );
    }
    if cfg!(debug_assertions) {
        std::fs::remove_file(&model).unwrap();
        let args = train_data(&csv, "cpu", &["--save", &model]);
        let (code, said) = signalled_in_fold(&args, "2");
        assert_eq!(code, Some(143), "{said}");
        assert!(
            said.contains(
                "interrupted during the search for --weight-decay; nothing was trained or saved"
            ),
            "{said}"
        );
        assert!(!std::path::Path::new(&model).exists());
    }
}

/// Where the decay the search chose predicts its folds' held-out rows no
/// better than their mean (a target of noise), a notice says so, with the
/// scores, and names larger decays.
#[test]
fn a_search_no_better_than_the_mean_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let [noise, json] = paths(&dir, ["n.csv", "r.json"]);
    let mut state = 12345u64;
    let mut next = || {
        state = (state.wrapping_mul(6364136223846793005)).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut text = String::from("a,b,c,y\n");
    let mut y = Vec::new();
    for _ in 0..80 {
        let row: Vec<f64> = (0..4).map(|_| next()).collect();
        let cells: Vec<String> = row.iter().map(|v| format!("{v:.5}")).collect();
        y.push(cells[3].parse::<f32>().unwrap());
        text += &(cells.join(",") + "\n");
    }
    std::fs::write(&noise, text).unwrap();
    let err = trained_err(&noise, &["--json", &json]);
    let search = read_json(&json)["weight_decay_search"].clone();
    let chosen = search["chosen"].as_f64().unwrap();
    let tried = search["tried"].as_array().unwrap();
    let at = tried.iter().find(|t| t["weight_decay"] == chosen).unwrap();
    let mse = at["val_mse"].as_f64().unwrap();
    let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / 80.0;
    let variance = y
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / 80.0;
    assert!(mse >= variance, "{mse} {variance}");
    let says = format!(
        "notice: the weight decay chosen, {}, predicted its folds' held-out rows no better than their mean does (mean held-out mse {mse:.4e}, the target's variance {variance:.4e}): a larger decay (--folds 5 --grid weight-decay=0.3,1,3 tries some), a smaller --hidden, or other features may do better\n",
        shadertrain::optim::short(chosen)
    );
    assert_eq!(err.matches(&says).count(), 1, "{err}");
}

/// Where the decay the search chose flattened the network (a target of
/// noise, 500 rows of two features: fewer than twice its 257
/// parameters), the closing warning names the decay and what its choice
/// says of the features, not an optimizer that stalled.
#[test]
fn a_network_the_chosen_decay_flattened_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let noise = path(&dir, "n.csv");
    let mut state = 777u64;
    let mut next = || {
        state = (state.wrapping_mul(6364136223846793005)).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut text = String::from("a,b,y\n");
    for _ in 0..500 {
        let cells: Vec<String> = (0..3).map(|_| format!("{:.5}", next())).collect();
        text += &(cells.join(",") + "\n");
    }
    std::fs::write(&noise, text).unwrap();
    let err = trained_err(&noise, &[]);
    let says = "; the weight decay the search chose, 0.1, shrank the weights to less than 0.1% of their starting size, where the network's output barely depends on its inputs: its folds' held-out rows were predicted best so, which says these features carry little this network finds (--weight-decay 0 trains without it)";
    assert!(
        err.contains(
            "warning: the model predicts the training rows no better than their mean does"
        ) && err.contains(says),
        "{err}"
    );
    assert!(!err.contains("L-BFGS stalled"), "{err}");
}

/// A run of L-BFGS named on fewer training rows than its network has
/// parameters, with none held out, says it can fit their noise and names
/// --validation-split; not with rows held out, nor with fewer parameters.
/// (The default chooses a decay instead: the test above.)
#[test]
fn more_parameters_than_rows_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    gen_csv(&csv, "300", "3", "2");
    let notice = "notice: the network's 321 parameters outnumber the 300 rows it trained on, so it can fit their noise";
    // L-BFGS named: the default would choose a decay by cross-validation.
    let lbfgs = ["--optimizer", "lbfgs"];
    let run = |more: &[&str]| trained_err(&csv, &[&["--epochs", "3"][..], &lbfgs, more].concat());
    // Not also that more epochs would fit further (20: still falling).
    let err = trained_err(&csv, &[&["--epochs", "20"][..], &lbfgs].concat());
    assert!(
        err.contains(notice) && !err.contains("L-BFGS was still lowering"),
        "{err}"
    );
    let err = run(&[]);
    let decay = "rows it does not train on, and --weight-decay, an L2 penalty, restrains it (--folds 5 --grid weight-decay=0,1e-3,1e-2,1e-1 chooses one)";
    assert!(
        err.contains(notice)
            && err.contains("--validation-split 0.2 or --folds 5")
            && err.contains(decay),
        "{err}"
    );
    // A run with a decay is not told of it again.
    let err = run(&["--weight-decay", "1e-3"]);
    assert!(err.contains(notice) && !err.contains("restrains"), "{err}");
    let model = path(&dir, "m.st");
    let folds = ["--folds", "3", "--save", &model];
    for more in [
        &["--validation-split", "0.2"][..],
        &["--hidden", "4"],
        &folds,
    ] {
        let err = run(more);
        assert!(!err.contains("outnumber"), "{more:?}: {err}");
        assert!(
            !err.contains("L-BFGS was still lowering"),
            "{more:?}: {err}"
        );
    }
}

/// A target whose spread (1e-6 around 5) is a few of f32's steps at its
/// size, which the file's warning names, is standardised with its own
/// std and fitted (at std 1, L-BFGS stopped far from it: r² −1.3e4). An
/// L-BFGS run no better than the mean is not told to train longer where
/// --epochs did not end it: where every feature is constant it is told
/// that, and where a --gtol above the default stopped it, that.
#[test]
fn a_near_constant_target_is_fitted_and_stopped_lbfgs_runs_are_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, flat, j] = paths(&dir, ["d.csv", "flat.csv", "r.json"]);
    let (mut text, mut flat_text) = (String::from("a,b,y\n"), String::from("a,b,y\n"));
    for n in 0..200 {
        let (a, b) = ((n as f64 * 0.37).sin(), (n as f64 * 0.11).cos());
        text += &format!("{a},{b},{:?}\n", 5.0 + 1e-6 * (a + b));
        flat_text += &format!("1,2,{a}\n");
    }
    std::fs::write(&csv, text).unwrap();
    std::fs::write(&flat, &flat_text).unwrap();
    let err = trained_err(&csv, &["--hidden", "4", "--json", &j]);
    let r2 = read_json(&j)["final_r2"].as_f64().unwrap();
    assert!(
        err.contains("steps of f32") && !err.contains("no better than their mean") && r2 > 0.9,
        "r² {r2}: {err}"
    );
    let mean = "warning: the model predicts the training rows no better than their mean does (r² ";
    let err = trained_err(&flat, &["--hidden", "4"]);
    assert!(
        err.contains(mean)
            && err.contains("); every feature holds one value in every training row, so no model can tell the rows apart: give columns that vary")
            && !err.contains("train longer")
            && !err.contains("stalled"),
        "{err}"
    );
    // The same where a one-hot column has one level in every training row
    // (Rome's row is left out for its missing cell).
    let cities: String = (flat_text.lines().skip(1))
        .map(|l| format!("{}\n", l.replacen(",2,", ",Paris,", 1)))
        .collect();
    std::fs::write(&flat, format!("a,city,y\n{cities},Rome,3\n")).unwrap();
    let more = [
        "--hidden",
        "4",
        "--categorical",
        "city",
        "--missing",
        "drop",
    ];
    let err = trained_err(&flat, &more);
    assert!(
        err.contains("); every feature holds one value in every training row")
            && !err.contains("stalled"),
        "{err}"
    );
    let err = trained_err(&csv, &["--hidden", "4", "--gtol", "10"]);
    assert!(
        err.contains(mean)
            && err.contains("); it stopped at epoch 0 where the gradient's largest entry was at most --gtol 10: give a smaller --gtol")
            && !err.contains("train longer")
            && !err.contains("stalled"),
        "{err}"
    );
}

/// A run whose weight decay shrank the weights to near 0, no better than
/// the mean or with its loss above the start (L-BFGS lowers the loss plus
/// the penalty), is told so (before, L-BFGS's "stalled" or "a smaller
/// --lr", Adam's "rate too high"), also on --resume; not at a decay that
/// leaves a fit, nor with the weights of their usual size.
#[test]
fn a_weight_decay_that_left_the_mean_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // Starting above the mean's loss (seed 1) and below it (seed 4).
    let [csv, low, ck] = paths(&dir, ["d.csv", "low.csv", "ck"]);
    gen_csv(&csv, "300", "3", "1");
    gen_csv(&low, "300", "3", "4");
    let shrank = |decay: &str| {
        format!("; --weight-decay {decay} shrank the weights to less than 0.1% of their starting size, where the network's output barely depends on its inputs: try a smaller one, or 0")
    };
    let above = "warning: the loss ended above where it started";
    let mean =
        "warning: the model predicts the training rows no better than their mean does (r² 0.0000)";
    for (file, decay, optimizer, head) in [
        (&low, "100", &["--optimizer", "lbfgs"][..], above),
        (&csv, "1e30", &["--optimizer", "lbfgs"], mean),
        (&csv, "1000", &["--optimizer", "adam", "--lr", "0.01"], mean),
    ] {
        let more = [&["--hidden", "8", "--weight-decay", decay], optimizer].concat();
        let err = trained_err(file, &more);
        assert!(
            err.contains(head)
                && err.contains(&shrank(decay))
                && !err.contains("stalled")
                && !err.contains("rate too high")
                && !err.contains("--lr"),
            "{decay} {optimizer:?}: {err}"
        );
    }
    let more = [
        "--hidden",
        "8",
        "--optimizer",
        "lbfgs",
        "--weight-decay",
        "100",
    ];
    trained_err(
        &csv,
        &[&more[..], &["--epochs", "5", "--checkpoint", &ck]].concat(),
    );
    let (ok, _, err) = shadertrain(&train_resume(&ck, "cpu", &["--epochs", "10"]));
    let told = format!(
        "{} in a new run (--resume keeps the run's options)",
        shrank("100")
    );
    assert!(ok && err.contains(&told), "{err}");
    let more = [
        "--hidden",
        "8",
        "--weight-decay",
        "0.01",
        "--optimizer",
        "lbfgs",
    ];
    let err = trained_err(&csv, &more);
    assert!(!err.contains("no better than their mean"), "{err}");
    // A rate too low to move weights or loss at all, at a decay of 1:
    // the weights keep their size, so the advice is the rate's.
    let more = [
        "--hidden",
        "8",
        "--weight-decay",
        "1",
        "--optimizer",
        "adam",
        "--lr",
        "1e-7",
        "--epochs",
        "5",
    ];
    // The same beside 400 constant columns, whose weights start at 0.
    let wide = path(&dir, "wide.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let mut out = format!(
        "{}{}\n",
        (0..400).map(|j| format!("k{j},")).collect::<String>(),
        lines.next().unwrap()
    );
    for line in lines {
        out += &format!("{}{line}\n", "1,".repeat(400));
    }
    std::fs::write(&wide, out).unwrap();
    for file in [&csv, &wide] {
        let err = trained_err(file, &more);
        assert!(
            err.contains("no better than their mean")
                && err.contains("try a larger --lr")
                && !err.contains("shrank"),
            "{err}"
        );
    }
}

/// A new run on a feature that holds one value in every training row
/// names it and --ignore; not once it is ignored, nor for columns that
/// vary.
#[test]
fn a_constant_feature_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, two] = paths(&dir, ["d.csv", "two.csv"]);
    let (mut one_text, mut two_text) = ("a,k,b,y\n".to_string(), "a,k,j,y\n".to_string());
    for n in 0..40 {
        let a = (n as f64 * 0.37).sin();
        one_text += &format!("{a},5,{},{}\n", n % 7, 2.0 * a);
        two_text += &format!("{a},5,-1,{}\n", 2.0 * a);
    }
    std::fs::write(&csv, one_text).unwrap();
    std::fs::write(&two, two_text).unwrap();
    let more = ["--epochs", "3", "--hidden", "2"];
    let err = trained_err(&csv, &more);
    let notice = "notice: k holds one value in every training row, so the network learns nothing from it: its weights are 0, so predict ignores the value a row holds there (as though it held the training one); --ignore k leaves it out of the model";
    assert!(err.contains(notice), "{err}");
    let err = trained_err(&two, &more);
    assert!(
        err.contains("notice: k and j each hold one value")
            && err.contains("their weights are 0")
            && err.contains("--ignore k,j leaves them out of the model"),
        "{err}"
    );
    // Raw, 5 trains its weights as a second bias would; -1 too.
    let err = trained_err(&two, &[&more[..], &["--no-standardize"]].concat());
    assert!(
        err.contains("notice: k and j each hold one value in every training row, so the network learns nothing from them, and a row with another value there moves its prediction by weights no row measured; --ignore k,j leaves them out\n"),
        "{err}"
    );
    let err = trained_err(&csv, &[&more[..], &["--ignore", "k"]].concat());
    assert!(!err.contains("one value in every"), "{err}");
    // A one-hot encoded column with one level in every row is named by
    // the column's name, which --ignore takes, not the level's feature.
    let city = path(&dir, "city.csv");
    let text = std::fs::read_to_string(&csv)
        .unwrap()
        .replace(",5,", ",Paris,");
    std::fs::write(&city, text.replace("a,k,b,y", "a,city,b,y")).unwrap();
    let err = trained_err(&city, &[&more[..], &["--categorical", "city"]].concat());
    assert!(
        err.contains("notice: city holds one value in every training row, so the network learns nothing from it: its weights are 0")
            && !err.contains("city=Paris holds"),
        "{err}"
    );
    // A level only a row left out has (here for its missing cell): named
    // by its feature, whose weights are 0 on standardised and raw rows.
    let mut text = String::from("a,city,y\n");
    for n in 0..40 {
        let a = (n as f64 * 0.37).sin();
        let level = ["Oslo", "Rome"][n % 2];
        text += &format!("{a},{level},{}\n", a + (n % 2) as f64);
    }
    text += ",Lima,3\n";
    std::fs::write(&city, text).unwrap();
    let levels = ["--categorical", "city", "--missing", "drop"];
    for raw in [&[][..], &["--no-standardize"]] {
        let err = trained_err(&city, &[&more[..], &levels, raw].concat());
        assert!(
            err.contains("notice: no training row has the level 'city=Lima' (rows held out, or left out for a missing cell, do), so the network learns nothing of it: its weights are 0, so predict gives a row of it the prediction of a row with none of its column's levels")
                && !err.contains("city holds")
                && !err.contains("Oslo'")
                && !err.contains("Rome'"),
            "{raw:?}: {err}"
        );
    }
}

/// A fresh run's weights from a feature that is 0 in every training row
/// as trained on are 0: each constant column when standardised (the
/// default), a raw column of zeros; so predict ignores what a row holds
/// there, on the cpu and the gpu backend. A raw constant other than 0
/// trains its weights as a second bias would, and its notice says a row
/// with another value moves the prediction.
#[test]
fn weights_from_a_feature_no_training_row_moves_are_zero() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, same, other, model] = paths(&dir, ["d.csv", "same.csv", "other.csv", "m.st"]);
    let (mut text, mut same_text, mut other_text) = (String::new(), String::new(), String::new());
    for (n, t) in [&mut text, &mut same_text, &mut other_text]
        .into_iter()
        .enumerate()
    {
        *t += "a,k,z,y\n";
        for r in 0..60 {
            let a = (r as f64 * 0.37).sin();
            let (k, z) = match n {
                2 => (r as f64 / 7.0 - 3.0, (r % 5) as f64 - 2.0),
                _ => (5.0, 0.0),
            };
            *t += &format!("{a},{k},{z},{}\n", a * a);
        }
    }
    for (f, t) in [(&csv, text), (&same, same_text), (&other, other_text)] {
        std::fs::write(f, t).unwrap();
    }
    // The first layer's weights from feature `name`.
    let from = |name: &str| -> Vec<f32> {
        let m = shadertrain::io::load_model(std::path::Path::new(&model)).unwrap();
        let j = m.feature_names.iter().position(|f| f == name).unwrap();
        let w = m.weight(0);
        (0..w.len() / 3).map(|o| w[o * 3 + j]).collect()
    };
    let predictions = |data: &str| {
        let out = path(&dir, "p.csv");
        run_ok(&["predict", "--model", &model, "--data", data, "--out", &out]);
        read_predictions::<String>(&out)
    };
    let mut backends = vec!["cpu"];
    if have_gpu() {
        backends.push("gpu");
    }
    for backend in backends {
        let more = ["--epochs", "20", "--hidden", "4", "--save", &model];
        let (ok, _, err) = shadertrain(&train_data(&csv, backend, &more));
        assert!(ok && err.contains("k and z each hold one value"), "{err}");
        assert_eq!(from("k"), [0.0; 4], "{backend}");
        assert_eq!(from("z"), [0.0; 4], "{backend}");
        assert!(from("a").iter().all(|w| *w != 0.0), "{backend}");
        let (at_training, elsewhere) = (predictions(&same), predictions(&other));
        assert_eq!(at_training, elsewhere, "{backend}");
        assert_eq!(at_training.len(), 60);
    }
    let more = [
        "--epochs",
        "20",
        "--hidden",
        "4",
        "--save",
        &model,
        "--no-standardize",
    ];
    let err = trained_err(&csv, &more);
    assert!(
        err.contains("notice: z holds one value in every training row, so the network learns nothing from it: its weights are 0")
            && err.contains("notice: k holds one value in every training row, so the network learns nothing from it, and a row with another value there moves"),
        "{err}"
    );
    assert_eq!(from("z"), [0.0; 4]);
    assert!(from("k").iter().all(|w| *w != 0.0));
    assert_ne!(predictions(&same), predictions(&other));
}

/// A run of gd that no --optimizer chose (--lr or --batch-size made it
/// the default), ended by --epochs with its loss still falling, names the
/// optimizer that would have gone further: lbfgs on full batches (where
/// --lr auto alone made gd the default, lbfgs without it), momentum or adam
/// on mini-batches or beside a flag lbfgs refuses. gd asked for, a run that reached its target, --quiet,
/// and the default lbfgs say nothing of it.
#[test]
fn the_default_gd_still_falling_points_to_another_optimizer() {
    let notice = "was still lowering the loss when the run ended; ";
    let with = |flag: &str| format!("notice: gd, the default optimizer with {flag}, {notice}");
    let run = |more: &[&str]| run_ok_out_err(&train_synthetic("400", "3", "cpu", more)).1;
    let err = run(&["--epochs", "20", "--lr", "0.1"]);
    assert!(
        err.contains(&format!(
            "{}--optimizer lbfgs usually reaches",
            with("--lr")
        )),
        "{err}"
    );
    let err = run(&["--epochs", "20", "--lr", "auto"]);
    assert!(
        err.contains(&format!(
            "{}without --lr auto the default optimizer, L-BFGS, usually reaches",
            with("--lr auto")
        )),
        "{err}"
    );
    // Clipped, which L-BFGS refuses: momentum, which takes it.
    let err = run(&["--epochs", "20", "--lr", "0.1", "--clip-grad-norm", "1"]);
    assert!(
        err.contains(&format!(
            "{}--optimizer momentum, or adam with --lr auto, usually reaches a lower loss in the same epochs",
            with("--lr")
        )),
        "{err}"
    );
    // In mini-batches, after fewer than eleven epochs too: each is many
    // updates.
    for epochs in ["10", "5"] {
        let err = run(&["--epochs", epochs, "--batch-size", "100"]);
        assert!(
            err.contains(&format!(
                "{}--optimizer momentum, or adam with --lr auto, usually reaches a lower loss in the same epochs",
                with("--batch-size")
            )),
            "{epochs}: {err}"
        );
    }
    // Stalled at the target's mean, flat (a raw price at a low rate): the
    // notice says so, as no warning does (r² above 0).
    let dir = tempfile::tempdir().unwrap();
    let prices = path(&dir, "prices.csv");
    price_csv(&prices, "1000");
    let raw = ["--lr", "0.01", "--no-standardize"];
    let (ok, out, err) = shadertrain(&train_data(&prices, "cpu", &raw));
    assert!(ok && !err.contains("warning"), "{err}");
    let stalled = "notice: gd, the default optimizer with --lr, ended at r² 0.0";
    assert!(err.contains(stalled), "{out}{err}");
    assert!(
        err.contains("on its training rows; --optimizer lbfgs usually"),
        "{err}"
    );
    // Not for gd asked for, under --quiet, once a target was reached,
    // after fewer than eleven full-batch epochs, or for the default lbfgs.
    for more in [
        &["--epochs", "20", "--optimizer", "gd"][..],
        &["--epochs", "20", "--lr", "0.1", "--quiet"],
        &["--epochs", "2000", "--lr", "0.1", "--target-loss", "1e9"],
        &["--epochs", "9", "--lr", "0.1"],
        &["--epochs", "20"],
    ] {
        let err = run(more);
        assert!(!err.contains(notice), "{more:?}: {err}");
    }
    // Nor where the held-out loss rose over the last ten epochs while the
    // training loss fell (noisy targets, overfitted), on every backend:
    // the host's scoring of the held-out rows is read as the device's.
    let dir = tempfile::tempdir().unwrap();
    let [clean, base, noisy] = paths(&dir, ["clean.csv", "base.csv", "noisy.csv"]);
    gen_csv(&clean, "200", "3", "1");
    gen_csv(&base, "60", "3", "1");
    noisy_csv(&base, &noisy);
    let split = [
        "--hidden",
        "8",
        "--lr",
        "0.2",
        "--epochs",
        "200",
        "--seed",
        "1",
        "--validation-split",
        "0.3",
    ];
    let backends: &[&str] = match have_gpu() {
        true => &["cpu", "reference", "gpu"],
        false => &["cpu", "reference"],
    };
    for backend in backends {
        // The held-out loss still falling: the notice.
        let (ok, _, err) = shadertrain(&train_data(&clean, backend, &split));
        assert!(ok && err.contains(notice), "{backend}, clean: {err}");
        let (ok, _, err) = shadertrain(&train_data(&noisy, backend, &split));
        assert!(ok && !err.contains(notice), "{backend}, noisy: {err}");
    }
}

/// A range test on raw rows whose loss still falls at its highest rate (a
/// target on the scale of 1e6, adam) says its choice may be far too low;
/// one that found a minimum says nothing of the kind.
#[test]
fn lr_auto_says_when_the_loss_still_falls_at_its_highest_rate() {
    let dir = tempfile::tempdir().unwrap();
    let [big, small] = paths(&dir, ["big.csv", "small.csv"]);
    let mut text = String::from("a,b,y\n");
    for i in 0..200 {
        let (a, b) = ((i % 17) as f64 / 8.0 - 1.0, (i % 7) as f64 / 3.0 - 1.0);
        text += &format!("{a},{b},{}\n", 1.4e6 * (a + 0.5 * b) + 1e6);
    }
    std::fs::write(&big, text).unwrap();
    gen_csv(&small, "300", "3", "4");
    let says = "--lr auto: the range test's loss was lowest at or near its highest rate (10) and never blew up, so the rate chosen may be far too low; try --standardize";
    let auto = [
        "--optimizer",
        "adam",
        "--lr",
        "auto",
        "--epochs",
        "2",
        "--no-standardize",
    ];
    let (ok, _, err) = shadertrain(&train_data(&big, "cpu", &auto));
    assert!(ok && err.contains(says), "{err}");
    // And the run's own warning agrees: a target's scale, not the rate.
    let far = "far worse than their mean does (r² ";
    let standardize = "its predictions are still far from the target's values, which an output starting near 0 reaches slowly at any rate; try --standardize";
    assert!(err.contains(far) && err.contains(standardize), "{err}");
    assert!(!err.contains("try a smaller --lr"), "{err}");
    // From a raw model, where --standardize would be refused: a rate alone.
    let raw = path(&dir, "raw.st");
    run_ok(&train_data(
        &big,
        "cpu",
        &[&auto[..], &["--save", &raw]].concat(),
    ));
    let from_raw = [&auto[..], &["--init", &raw]].concat();
    let (ok, _, err) = shadertrain(&train_data(&big, "cpu", &from_raw));
    let rate_alone = "so the rate chosen may be far too low; try a --lr of your own";
    assert!(ok && err.contains(rate_alone), "{err}");
    let (ok, _, err) = shadertrain(&train_data(&small, "cpu", &auto));
    assert!(ok && !err.contains("at or near its highest rate"), "{err}");
    // A price-like target, 100·y + 500, in mini-batches: the lowest loss
    // a few rates before the last (6.1 of 10), the last barely above it.
    let prices = path(&dir, "prices.csv");
    price_csv(&prices, "2000");
    let json = path(&dir, "run.json");
    let cycle = [
        "--batch-size",
        "200",
        "--lr-schedule",
        "one-cycle",
        "--json",
        &json,
    ];
    let (ok, _, err) = shadertrain(&train_data(&prices, "cpu", &[&auto[..], &cycle].concat()));
    assert!(
        ok && err.contains("at or near its highest rate (10)"),
        "{err}"
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let test = &run["lr_range_test"];
    let last = test["curve"].as_array().unwrap().last().unwrap()["loss"]
        .as_f64()
        .unwrap();
    let lowest = test["lowest_loss"].as_f64().unwrap();
    assert!(
        test["lowest_lr"].as_f64().unwrap() < 10.0 && last > lowest,
        "{test}"
    );
}

/// `--lr auto`: the range test's choice is checked against a plain run of
/// the same growing rates (`--lr-schedule exponential`, read back from its
/// history), and the run after it against one given that rate by hand.
#[test]
fn lr_auto_trains_at_a_tenth_of_the_range_tests_lowest() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, j, auto_model, hand_model, h] =
        paths(&dir, ["d.csv", "s.json", "a.st", "b.st", "h.csv"]);
    gen_csv(&csv, "300", "3", "4");
    let train = |backend: &str, lr: &str, extra: &[&str]| {
        let mut args = train_data(&csv, backend, SMALL_ADAM);
        args.extend_from_slice(&["--lr", lr, "--json", &j]);
        args.extend_from_slice(extra);
        let out = run_ok(&args);
        (out, read_json(&j))
    };
    let (out, v) = train("cpu", "auto", &["--epochs", "40", "--save", &auto_model]);
    let found = &v["lr_range_test"];
    let get = |k: &str| found[k].as_f64().unwrap();
    let (lr, lowest_lr) = (get("lr"), get("lowest_lr"));
    assert_eq!(v["options"]["optimizer"]["lr"].as_f64(), Some(lr), "{v}");
    let tenth: f64 = format!("{:.1e}", lowest_lr / 10.0).parse().unwrap();
    assert_eq!((lr, get("back_off")), (tenth, 10.0), "{found}");
    assert!(
        out.contains(&format!("lr auto   {lr:.3e}: a tenth of")),
        "{out}"
    );
    // The same growing rates, by hand, for the epochs the test ran: the
    // lowest loss before the blow-up (a loss over 4 times the lowest before
    // it, or not finite), and its update's rate. An epoch's loss is
    // measured by the next epoch's pass, so the test stops one epoch after
    // the update that blew up.
    let epochs = found["epochs"].as_u64().unwrap() as usize;
    assert!((10..100).contains(&epochs), "{found}");
    let gamma = (10.0f64 / 1e-6).powf(1.0 / 99.0);
    let gamma_arg = format!("{gamma:?}");
    let epochs_arg = epochs.to_string();
    let exponential = [
        "--lr-schedule",
        "exponential",
        "--lr-gamma",
        &gamma_arg,
        "--epochs",
        &epochs_arg,
        "--history",
        &h,
    ];
    train("cpu", "1e-6", &exponential);
    let losses = read_history(std::path::Path::new(&h)).unwrap();
    assert_eq!(losses.len(), epochs + 1);
    let mut lowest = (0, losses[0]);
    for (i, &l) in losses.iter().enumerate().skip(1) {
        if !l.is_finite() || l > 4.0 * losses[..i].iter().copied().fold(f64::MAX, f64::min) {
            assert_eq!(i + 1, epochs, "the test ran on past its blow-up at {i}");
            break;
        }
        if l < lowest.1 {
            lowest = (i, l);
        }
    }
    assert_eq!(get("start_loss"), losses[0]);
    // The curve: each epoch's rate and the loss after its update.
    let curve = found["curve"].as_array().unwrap();
    assert_eq!(curve.len(), epochs);
    for (e, point) in curve.iter().enumerate() {
        assert_eq!(point["loss"].as_f64(), Some(losses[e + 1]), "epoch {e}");
        let rate = 1e-6 * gamma.powf(e as f64);
        assert!((point["lr"].as_f64().unwrap() / rate - 1.0).abs() < 1e-12);
    }
    assert_eq!(get("lowest_loss"), lowest.1, "{found}");
    let rate = 1e-6 * gamma.powf((lowest.0 - 1) as f64);
    assert!(
        (lowest_lr / rate - 1.0).abs() < 1e-12,
        "{lowest_lr} against {rate}"
    );
    // The run itself: from the same initial parameters as one given --lr.
    let lr_arg = format!("{lr:?}");
    let (_, hand) = train("cpu", &lr_arg, &["--epochs", "40", "--save", &hand_model]);
    assert!(hand["lr_range_test"].is_null());
    assert_eq!(v["final_loss"], hand["final_loss"]);
    assert_eq!(saved_params(&auto_model), saved_params(&hand_model));
    assert!(v["final_loss"].as_f64().unwrap() < 0.5 * v["first_loss"].as_f64().unwrap());
    assert_eq!(found["rows"], 300, "{found}");
    // With mini-batches of 16 the test trains on the rows of the first 8
    // batches (128 of the 300), and the run is again the one --lr gives.
    let batches = ["--batch-size", "16", "--epochs", "5"];
    let (out, b) = train("cpu", "auto", &batches);
    assert_eq!(b["lr_range_test"]["rows"], 128, "{b}");
    assert!(out.contains(" on 128 rows ("), "{out}");
    let b_lr = format!("{:?}", b["lr_range_test"]["lr"].as_f64().unwrap());
    let (_, hand) = train("cpu", &b_lr, &batches);
    assert_eq!(b["final_loss"], hand["final_loss"]);
    // One cycle: the same test, and its lowest loss's rate itself as the
    // peak.
    let cycle = ["--epochs", "40", "--lr-schedule", "one-cycle"];
    let (out, c) = train("cpu", "auto", &cycle);
    let peak: f64 = format!("{lowest_lr:.1e}").parse().unwrap();
    let c_found = &c["lr_range_test"];
    assert_eq!(c_found["lowest_lr"].as_f64(), Some(lowest_lr), "{c_found}");
    assert_eq!(c_found["lr"].as_f64(), Some(peak), "{c_found}");
    assert_eq!(c_found["back_off"].as_f64(), Some(1.0), "{c_found}");
    assert_eq!(c["options"]["optimizer"]["lr"].as_f64(), Some(peak), "{c}");
    assert!(
        out.contains(&format!("lr auto   {peak:.3e}: one cycle's peak at")),
        "{out}"
    );
    // The GPU runs the same test on the device: its choice is within an
    // epoch's step of the CPU's, and its run is the one --lr gives it.
    if have_gpu() {
        let (_, g) = train("gpu", "auto", &["--epochs", "40"]);
        // It ends one epoch after its blow-up, as the CPU's does, though
        // the device runs its epochs in batches and the check follows each
        // batch.
        let g_found = &g["lr_range_test"];
        let mut losses = vec![g_found["start_loss"].as_f64().unwrap()];
        let g_curve = g_found["curve"].as_array().unwrap();
        losses.extend(
            g_curve
                .iter()
                .map(|p| p["loss"].as_f64().unwrap_or(f64::NAN)),
        );
        assert_eq!(g_found["epochs"].as_u64(), Some(g_curve.len() as u64));
        let blown = (1..losses.len()).find(|&i| {
            let lowest = losses[..i].iter().copied().fold(f64::MAX, f64::min);
            !losses[i].is_finite() || losses[i] > 4.0 * lowest
        });
        assert_eq!(blown, Some(losses.len() - 2), "{g_found}");
        let g_lowest = g_found["lowest_lr"].as_f64().unwrap();
        let steps = (g_lowest / lowest_lr).ln() / gamma.ln();
        assert!(
            steps.abs() < 1.01,
            "{g_lowest} against the cpu's {lowest_lr}"
        );
        let g_lr = format!("{:?}", g["lr_range_test"]["lr"].as_f64().unwrap());
        let (_, hand) = train("gpu", &g_lr, &["--epochs", "40"]);
        assert_eq!(g["final_loss"], hand["final_loss"]);
    }
    assert_refused(&[
        (
            &["--optimizer", "lbfgs", "--lr", "auto"],
            "--lr auto needs a first-order optimizer",
        ),
        (
            &["--lr", "fast"],
            "expected a learning rate (a number such as 0.01) or auto",
        ),
    ]);
}

/// A floor (`--lr-min`) not below the rate `--lr auto` chose is refused
/// after the range test, naming the rate chosen; nothing is trained or
/// saved.
#[test]
fn lr_auto_refuses_a_floor_above_the_rate_it_chose() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "300", "3", "4");
    let mut args = train_data(&csv, "cpu", SMALL_ADAM);
    let floor = ["--lr", "auto", "--lr-schedule", "cosine", "--lr-min", "5"];
    args.extend_from_slice(&floor);
    args.extend_from_slice(&["--epochs", "20", "--save", &model]);
    let (ok, _, err) = shadertrain(&args);
    assert!(!ok, "{err}");
    assert!(
        err.contains("--lr auto chose ")
            && err.contains("--lr-min must be at least 0 and below --lr ("),
        "{err}"
    );
    assert!(!std::path::Path::new(&model).exists());
}

/// With full batches on more than 16,384 rows, the range test trains on a
/// sample of 16,384 of them, the first of epoch 0's shuffle by --seed: its
/// result is the test's on a file of just those rows, in that order. The
/// run itself trains on every row. Sharded runs sample each shard.
#[test]
fn lr_auto_samples_the_rows_of_a_large_full_batch() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, sample, j] = paths(&dir, ["all.csv", "sample.csv", "s.json"]);
    gen_csv(&csv, "20000", "3", "4");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Epoch 0's shuffle of n rows by --seed 7.
    let shuffle = |n| shadertrain::batches::MiniBatches { size: 1, seed: 7 }.order(n, 0);
    // The sample file: the header, then these data rows (0-based).
    let write_sample = |rows: Vec<usize>| {
        let mut text = vec![lines[0]];
        text.extend(rows.iter().map(|&i| lines[1 + i]));
        std::fs::write(&sample, text.join("\n") + "\n").unwrap();
    };
    // Raw rows: standardized, a sample file would have statistics of its own.
    let test = |data: &str, more: &[&str]| {
        let mut args = train_data(data, "cpu", SMALL_ADAM);
        args.extend_from_slice(&["--lr", "auto", "--epochs", "1", "--seed", "7", "--json", &j]);
        args.push("--no-standardize");
        args.extend_from_slice(more);
        let out = run_ok(&args);
        (out, read_json(&j))
    };
    let without_time = |v: &serde_json::Value| {
        let mut t = v["lr_range_test"].clone();
        t["wall_s"] = serde_json::Value::Null;
        t
    };
    write_sample(shuffle(20_000)[..16_384].to_vec());
    let (out, all) = test(&csv, &[]);
    let (_, few) = test(&sample, &[]);
    assert_eq!(all["lr_range_test"]["rows"], 16_384, "{all}");
    assert!(out.contains(" on 16384 rows ("), "{out}");
    assert!(out.contains("20000 rows × 3 features"), "{out}");
    assert_eq!(without_time(&all), without_time(&few));
    assert_ne!(
        all["first_loss"], few["first_loss"],
        "the run is on every row"
    );
    // Sharded: each of the 3 shards sampled to its share of a 16,384-row
    // run cut into 3, the same shuffle within each shard. Its result is
    // that of --shards 3 on a file of those samples, one after another.
    let cut = |n: usize, s: usize| s * n / 3..(s + 1) * n / 3;
    let shards = (0..3).flat_map(|s| {
        let shard = cut(20_000, s);
        let take = cut(16_384, s).len();
        shuffle(shard.len())[..take]
            .iter()
            .map(|&i| shard.start + i)
            .collect::<Vec<_>>()
    });
    write_sample(shards.collect());
    let three = ["--shards", "3"];
    let (_, all) = test(&csv, &three);
    assert_eq!(all["lr_range_test"]["rows"], 16_384, "{all}");
    assert_eq!(without_time(&all), without_time(&test(&sample, &three).1));
}

/// On the GPU, synthetic rows past 16,384 with --lr auto are generated on
/// the host (not on the device), so that the range test samples the same
/// 16,384 rows as on the CPU and finds the cpu backend's rate; it had
/// tested on every row there, and chosen another rate for the same seed.
#[test]
fn lr_auto_samples_gpu_synthetic_rows_as_the_cpu_does() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let j = path(&dir, "s.json");
    let found = |backend: &str| {
        let more = ["--hidden", "8", "--epochs", "1", "--optimizer", "adam"];
        let mut args = train_synthetic("20000", "4", backend, &more);
        args.extend(["--lr", "auto", "--seed", "3", "--json", &j]);
        run_ok(&args);
        read_json(&j)
    };
    let (cpu, gpu) = (found("cpu"), found("gpu"));
    assert_eq!(gpu["options"]["on_device"], false, "{gpu}");
    for v in [&cpu, &gpu] {
        assert_eq!(v["lr_range_test"]["rows"], 16_384, "{v}");
    }
    assert_eq!(cpu["lr_range_test"]["lr"], gpu["lr_range_test"]["lr"]);
    // Without --lr auto they are still made on the device.
    let mut args = train_synthetic("20000", "4", "gpu", &["--epochs", "1", "--json", &j]);
    args.extend(["--optimizer", "adam"]);
    run_ok(&args);
    assert_eq!(read_json(&j)["options"]["on_device"], true);
}

/// `predict` shares the rows of a large file among the cores: its output
/// is the reference's prediction of every row, read in one piece and
/// predicted on one thread, value for value (a standardised model here,
/// so every part applies the statistics).
#[test]
fn predict_on_every_core_is_the_one_thread_reference() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, preds] = paths(&dir, ["d.csv", "m.st", "p.csv"]);
    gen_csv(&csv, "40000", "3", "2");
    let mut train = train_data(&csv, "cpu", &["--epochs", "3", "--hidden", "5"]);
    train.extend_from_slice(&["--standardize", "--save", &model]);
    run_ok(&train);
    run_ok(&[
        "predict", "--model", &model, "--data", &csv, "--out", &preds,
    ]);
    let got: Vec<f64> = read_predictions(&preds);
    let m = shadertrain::io::load_model(std::path::Path::new(&model)).unwrap();
    let bytes = std::fs::read(&csv).unwrap();
    let table =
        shadertrain::data::Table::parse_in(std::path::Path::new(&csv), &bytes, 1, 1).unwrap();
    let (data, _) = table
        .select_named(&m.feature_names, &m.target_name)
        .unwrap();
    let want: Vec<f64> = shadertrain::cpu::reference::predict(&m, &data).unwrap();
    assert_eq!(got.len(), 40_000);
    assert_eq!(bits64(&got), bits64(&want));
}

/// `info` says, for each software adapter, whether its driver ends a
/// shader invocation's loops early: Debian 12's lavapipe, CI's adapter,
/// after 65,535 trips.
#[test]
fn info_says_where_the_driver_ends_loops_early() {
    let (ok, out, err) = shadertrain(&["info"]);
    assert!(ok, "{err}");
    let software = out.contains("type Cpu");
    let loops: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("    loops   "))
        .collect();
    assert_eq!(software, !loops.is_empty(), "{out}");
    if common::in_ci() && out.contains("Mesa 22.") {
        assert!(
            loops
                .iter()
                .any(|l| l.contains("end after 65535 trips in all")),
            "{out}"
        );
    }
    for l in loops {
        assert!(
            l.contains("end after") || l.contains("run every trip"),
            "{l}"
        );
    }
}

/// `info --pipelines` names each kernel asked for with its module and
/// checks (and, where the driver reports them, its statistics), once
/// however often it is asked for; a name that is no kernel's is an error
/// listing the kernels.
#[test]
fn info_pipelines_reports_the_kernels_asked_for() {
    let (_, err) = run_refused(&["info", "--pipelines", "forward_wide_sigmoid,nope"]);
    assert!(
        err.contains("no kernel is named \"nope\"; the kernels are forward_sigmoid, "),
        "{err}"
    );
    assert!(err.contains(" weight_grad_coop,"), "{err}");
    // Each kernel is listed once, and a name is read without the blanks
    // around it.
    let (_, listed) = err.split_once("the kernels are ").unwrap();
    let listed: Vec<&str> = listed.trim().split(", ").collect();
    let mut once = listed.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), listed.len(), "{listed:?}");
    let (_, err) = run_refused(&["info", "--pipelines", "forward_wide_sigmoid, nope "]);
    assert!(err.contains("no kernel is named \"nope\";"), "{err}");
    // An explicit list names kernels: an empty one, or an empty item, is
    // refused rather than read as every kernel (which is `all`).
    for names in ["", " ", ",", "reduce,,reduce_sgd", "reduce,"] {
        let (ok, _, err) = shadertrain(&["info", "--pipelines", names]);
        assert!(!ok, "{names:?}");
        assert!(err.contains("an empty kernel name"), "{names:?}: {err}");
    }
    if !have_gpu() {
        return;
    }
    // A mixed kernel where the adapter has no cooperative matrices says
    // so (Debian's lavapipe); where it has them, it is built.
    let (ok, out, err) = shadertrain(&["info", "--pipelines", "weight_grad_coop"]);
    match ok {
        true => assert!(out.contains("\nweight_grad_coop ["), "{out}"),
        false => assert!(
            err.contains("weight_grad_coop is a kernel of --precision mixed, which this adapter cannot run: ")
                && !err.contains("use --precision f32"),
            "{err}"
        ),
    }
    let names = "forward_wide_sigmoid, reduce,forward_wide_sigmoid";
    let (ok, out, err) = shadertrain(&["info", "--pipelines", names]);
    if !ok && err.contains("come from Vulkan drivers only") {
        assert!(
            !common::in_ci(),
            "CI runs on lavapipe, a Vulkan driver: {err}"
        );
        common::say_skipped(format_args!("SKIPPED: {err}"));
        return;
    }
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("pipelines on "), "{out}");
    let named: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.starts_with(' '))
        .skip(1)
        .collect();
    assert_eq!(
        named,
        [
            &"forward_wide_sigmoid (wide.wgsl, bounds unchecked)",
            &"reduce (update.wgsl, bounds unchecked)"
        ],
        "{out}"
    );
}

/// Standard input or output that the shell opened on a file is that
/// file: predictions written over the data read as `-`, a model over its
/// own rows, or predictions appended to the file read by name (with
/// `--out -`, or with no `--out`), or a report (train's, predict's with
/// `--out`, importance's) appended to it, are refused before any work,
/// and the file is left as it was.
#[test]
fn a_standard_stream_on_a_file_is_that_file() {
    use std::fs::{File, OpenOptions};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    let rows = "a,y\n1,2\n3,4\n5,7\n";
    std::fs::write(&csv, rows).unwrap();
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "1", "--save", &model],
    ));
    let saved = std::fs::read(&model).unwrap();
    let run = |args: &[&str], stdin: Stdio, stdout: Stdio| {
        let out = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let from = |p: &str| Stdio::from(File::open(p).unwrap());
    let append = |p: &str| Stdio::from(OpenOptions::new().append(true).open(p).unwrap());
    let canonical = |p: &str| std::fs::canonicalize(p).unwrap().display().to_string();
    let data_in = format!("--data (standard input: {})", canonical(&csv));
    let appended = canonical(&csv);
    let out = path(&dir, "p.csv");
    let cases = [
        (
            vec!["predict", "--model", &model, "--data", "-", "--out", &csv],
            from(&csv),
            Stdio::null(),
            format!("--out {csv} and {data_in} are the same file"),
        ),
        (
            train_data("-", "cpu", &["--epochs", "1", "--save", &csv]),
            from(&csv),
            Stdio::null(),
            format!("--save {csv} and {data_in} are the same file"),
        ),
        (
            vec![
                "predict",
                "--model",
                "/dev/stdin",
                "--data",
                &csv,
                "--out",
                &model,
            ],
            from(&model),
            Stdio::null(),
            format!(
                "--out {model} and --model (standard input: {}) are the same file",
                canonical(&model)
            ),
        ),
        (
            vec!["predict", "--model", &model, "--data", &csv, "--out", "-"],
            Stdio::null(),
            append(&csv),
            format!(
                "--out (standard output: {}) and --data {csv} are the same file",
                canonical(&csv)
            ),
        ),
        (
            vec!["predict", "--model", &model, "--data", &csv],
            Stdio::null(),
            append(&csv),
            format!("the predictions (no --out) (standard output: {appended}) and --data {csv} are the same file"),
        ),
        (
            vec!["predict", "--model", &model, "--data", &csv, "--out", &out],
            Stdio::null(),
            append(&csv),
            format!("the report (standard output: {appended}) and --data {csv} are the same file"),
        ),
        (
            vec!["importance", "--model", &model, "--data", &csv],
            Stdio::null(),
            append(&csv),
            format!("the report (standard output: {appended}) and --data {csv} are the same file"),
        ),
        (
            train_data(&csv, "cpu", &["--epochs", "1"]),
            Stdio::null(),
            append(&csv),
            format!("the report (standard output: {appended}) and --data {csv} are the same file"),
        ),
    ];
    for (args, stdin, stdout, says) in cases {
        let err = run(&args, stdin, stdout);
        assert!(err.contains(&says), "{args:?}: {err}");
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), rows);
        assert_eq!(std::fs::read(&model).unwrap(), saved);
    }
    assert!(!std::path::Path::new(&out).exists());
    // --quiet prints nothing there: not refused.
    let quiet = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(train_data(&csv, "cpu", &["--epochs", "1", "--quiet"]))
        .stdout(append(&csv))
        .status()
        .unwrap();
    assert!(quiet.success());
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), rows);
    // Standard output on another file takes the report as before.
    let other = path(&dir, "o.txt");
    std::fs::write(&other, "").unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(["predict", "--model", &model, "--data", &csv])
        .stdout(append(&other))
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(std::fs::read_to_string(&other)
        .unwrap()
        .starts_with("y_pred\n"));
}

/// A path that is not UTF-8 (a Latin-1 name) is refused, naming its
/// option and why, for inputs and outputs alike.
#[test]
fn a_path_that_is_not_utf8_is_refused_by_its_option() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let latin1 = OsStr::from_bytes(b"caf\xe9.csv");
    for (option, more) in [
        ("--data", &["train", "--synthetic", "50"][..]),
        ("--save", &["train", "--synthetic", "50"]),
        ("--model", &["predict", "--data", "x.csv"]),
        ("--plot", &["train", "--synthetic", "50"]),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args(more)
            .arg(option)
            .arg(latin1)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("for '{option} <"))
                && err.contains("the name is not UTF-8")
                && err.contains("ln -s"),
            "{option}: {err}"
        );
    }
}
