//! The CLI through the built binary: gen → train → save → predict, model
//! file contents, exact continuation with --init, GPU runs, divergence.

mod common;

use common::{assert_close, have_gpu, shadertrain};
use safetensors::SafeTensors;
use shadertrain::io::read_history;

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

#[test]
fn gen_train_save_predict() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, model, hist, preds) = (
        path(&dir, "d.csv"),
        path(&dir, "m.safetensors"),
        path(&dir, "h.csv"),
        path(&dir, "p.csv"),
    );
    let (ok, _, err) = shadertrain(&[
        "gen",
        "--rows",
        "200",
        "--features",
        "3",
        "--seed",
        "4",
        "--out",
        &csv,
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = shadertrain(&[
        "train",
        "--data",
        &csv,
        "--hidden",
        "8",
        "--epochs",
        "60",
        "--backend",
        "cpu",
        "--save",
        &model,
        "--history",
        &hist,
    ]);
    assert!(ok, "{err}");
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

    let (ok, out, err) = shadertrain(&[
        "predict", "--model", &model, "--data", &csv, "--out", &preds,
    ]);
    assert!(ok, "{err}");
    let mse: f64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    // The MSE of the saved model is the history's final loss.
    assert_close("mse", &[mse], &[losses[60]], 1e-7, 1e-5);
    let text = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(text.lines().next(), Some("y_pred"));
    assert_eq!(text.lines().count(), 201);
}

#[test]
fn predict_matches_columns_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, model) = (path(&dir, "a.csv"), path(&dir, "b.csv"), path(&dir, "m.st"));
    std::fs::write(&a, "p,q,t\n1,2,3\n4,5,6\n-1,0.5,2\n").unwrap();
    // Same data with the columns shuffled, an extra column, and no target.
    std::fs::write(&b, "extra,q,p\n9,2,1\n9,5,4\n9,0.5,-1\n").unwrap();
    let (ok, _, err) = shadertrain(&[
        "train",
        "--data",
        &a,
        "--epochs",
        "3",
        "--backend",
        "cpu",
        "--hidden",
        "2",
        "--save",
        &model,
    ]);
    assert!(ok, "{err}");
    let (ok, with_target, err) = shadertrain(&["predict", "--model", &model, "--data", &a]);
    assert!(ok, "{err}");
    assert!(err.contains("mse"), "{err}");
    let (ok, without, err) = shadertrain(&["predict", "--model", &model, "--data", &b]);
    assert!(ok, "{err}");
    assert!(!err.contains("mse"), "{err}");
    assert_eq!(with_target, without);
    let (ok, _, err) = shadertrain(&[
        "predict",
        "--model",
        &model,
        "--data",
        &path(&dir, "missing.csv"),
    ]);
    assert!(!ok);
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn init_continues_exactly_where_the_saved_run_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (full, half, cont) = (
        path(&dir, "full.st"),
        path(&dir, "half.st"),
        path(&dir, "cont.st"),
    );
    let (hf, hc) = (path(&dir, "hf.csv"), path(&dir, "hc.csv"));
    let base = [
        "train",
        "--synthetic",
        "150",
        "--features",
        "4",
        "--hidden",
        "6,3",
        "--activation",
        "tanh",
        "--backend",
        "cpu",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (ok, _, err) = shadertrain(&args);
        assert!(ok, "{err}");
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
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "150",
        "--features",
        "4",
        "--hidden",
        "6",
        "--init",
        &half,
        "--backend",
        "cpu",
    ]);
    assert!(!ok);
    assert!(err.contains("hidden layers 6,3"), "{err}");
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "150",
        "--features",
        "5",
        "--init",
        &half,
        "--backend",
        "cpu",
    ]);
    assert!(!ok);
    assert!(err.contains("takes 4 features"), "{err}");
}

#[test]
fn divergence_exits_non_zero_and_writes_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = path(&dir, "m.st");
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "100",
        "--features",
        "3",
        "--lr",
        "1e6",
        "--epochs",
        "50",
        "--backend",
        "cpu",
        "--save",
        &model,
    ]);
    assert!(!ok);
    assert!(err.contains("diverged at epoch"), "{err}");
    assert!(err.contains("lr = 1000000"), "{err}");
    assert!(!std::path::Path::new(&model).exists());
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
                let (ok, out, err) = shadertrain(&[
                    "train",
                    "--synthetic",
                    "250",
                    "--features",
                    "4",
                    "--hidden",
                    hidden,
                    "--activation",
                    act,
                    "--epochs",
                    "100",
                    "--backend",
                    backend,
                    "--history",
                    &h,
                    "--save",
                    &m,
                ]);
                assert!(ok, "{err}");
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
    let (j, m) = (path(&dir, "s.json"), path(&dir, "m.st"));
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "100",
        "--features",
        "3",
        "--epochs",
        "7",
        "--backend",
        "cpu",
        "--json",
        &j,
        "--save",
        &m,
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
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
    assert_eq!(v["epochs"], 7);
    assert_eq!(v["stop"], "max_epochs");
    assert_eq!(v["options"]["optimizer"]["name"], "gd");
    assert_eq!(v["options"]["optimizer"]["lr"], 0.1);
    assert_eq!(v["optimizer"], "gd, lr 0.1");
    assert_eq!(v["evaluations"], 7);
    assert_eq!(v["options"]["synthetic"], 100);
    assert_eq!(v["model"], m.as_str());
    assert!(v["best_loss"].as_f64().unwrap() <= v["first_loss"].as_f64().unwrap());
    assert!(v["backend"].as_str().unwrap().starts_with("cpu"));
}

#[test]
fn patience_and_max_time_stop_the_run_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let (j, m) = (path(&dir, "s.json"), path(&dir, "m.st"));
    // A tolerance of 50% per epoch: no epoch improves that much, so 2 stale epochs stop it.
    let (ok, out, err) = shadertrain(&[
        "train",
        "--synthetic",
        "100",
        "--features",
        "3",
        "--epochs",
        "500",
        "--backend",
        "cpu",
        "--tol",
        "0.5",
        "--patience",
        "2",
        "--json",
        &j,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("epochs    2 (converged"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    assert_eq!(v["stop"], "converged");
    let (ok, out, err) = shadertrain(&[
        "train",
        "--synthetic",
        "100",
        "--features",
        "3",
        "--epochs",
        "100000000",
        "--backend",
        "cpu",
        "--max-time",
        "0.2",
        "--save",
        &m,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("reached --max-time"), "{out}");
    assert!(std::path::Path::new(&m).exists());
}

#[test]
fn version_and_completions() {
    let (ok, out, _) = shadertrain(&["--version"]);
    assert!(ok);
    assert!(out.starts_with("shadertrain "), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        let (ok, out, err) = shadertrain(&["completions", shell]);
        assert!(ok, "{err}");
        assert!(
            out.contains("shadertrain") && out.contains("--checkpoint"),
            "{shell}"
        );
    }
}

#[test]
fn piped_output_has_no_progress_bar_and_quiet_is_silent() {
    let (ok, out, err) = shadertrain(&[
        "train",
        "--synthetic",
        "2000",
        "--features",
        "3",
        "--epochs",
        "300",
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "terminal control codes in piped stderr: {err:?}"
    );
    assert!(!out.contains('\r') && !out.contains('\u{1b}'), "{out:?}");
    assert!(out.lines().all(|l| !l.is_empty()), "{out:?}");
    let (ok, out, err) = shadertrain(&[
        "train",
        "--synthetic",
        "2000",
        "--features",
        "3",
        "--epochs",
        "30",
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    assert!(out.is_empty() && err.is_empty(), "{out:?} {err:?}");
}

#[test]
fn kernels_flag_reaches_the_gpu_trainer() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let train = |hidden: &str, kernels: &str, json: &str| {
        shadertrain(&[
            "train",
            "--synthetic",
            "200",
            "--features",
            "3",
            "--hidden",
            hidden,
            "--epochs",
            "3",
            "--backend",
            "gpu",
            "--kernels",
            kernels,
            "--quiet",
            "--json",
            json,
        ])
    };
    // Each family named on the command line is the one that ran.
    for (hidden, kernels) in [("5", "fused"), ("5,3", "tiled"), ("5", "layered")] {
        let j = path(&dir, &format!("{kernels}.json"));
        let (ok, _, err) = train(hidden, kernels, &j);
        assert!(ok, "--kernels {kernels}: {err}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
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
        err.contains("the fused kernel takes one hidden layer"),
        "{err}"
    );
}
