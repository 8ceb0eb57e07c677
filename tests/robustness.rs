//! Nothing loses a user's work: checkpoints and resume, Ctrl-C, divergence,
//! device faults, and inputs refused before any work starts.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{gpu, have_gpu, shadertrain};
use shadertrain::data::Dataset;
use shadertrain::gpu::GpuTrainer;
use shadertrain::io::{load_checkpoint, save_checkpoint, Checkpoint};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::train::{train_from, Backend, Hooks, Schedule};

fn p(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

fn resume_is_bit_exact(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--synthetic",
            "300",
            "--features",
            "3",
            "--hidden",
            "7,4",
            "--backend",
            backend,
        ];
        args.extend_from_slice(extra);
        let (ok, _, err) = shadertrain(&args);
        assert!(ok, "{backend}: {err}");
    };
    let (full, fh, ck, res, rh) = (
        p(&dir, "full.st"),
        p(&dir, "f.csv"),
        p(&dir, "ck.st"),
        p(&dir, "res.st"),
        p(&dir, "r.csv"),
    );
    run(&["--epochs", "10", "--save", &full, "--history", &fh]);
    run(&[
        "--epochs",
        "5",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "5",
    ]);
    let (ok, _, err) = shadertrain(&[
        "train",
        "--resume",
        &ck,
        "--epochs",
        "10",
        "--backend",
        backend,
        "--save",
        &res,
        "--history",
        &rh,
    ]);
    assert!(ok, "{backend}: {err}");
    assert_eq!(
        std::fs::read(&full).unwrap(),
        std::fs::read(&res).unwrap(),
        "{backend} model"
    );
    assert_eq!(
        std::fs::read(&fh).unwrap(),
        std::fs::read(&rh).unwrap(),
        "{backend} history"
    );
}

#[test]
fn five_epochs_then_resume_five_equals_ten_on_the_cpu() {
    resume_is_bit_exact("cpu");
    resume_is_bit_exact("reference");
}

#[test]
fn five_epochs_then_resume_five_equals_ten_on_the_gpu() {
    if have_gpu() {
        resume_is_bit_exact("gpu");
    }
}

#[test]
fn resume_refuses_options_that_would_change_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let ck = p(&dir, "ck.st");
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "50",
        "--features",
        "2",
        "--epochs",
        "2",
        "--backend",
        "cpu",
        "--checkpoint",
        &ck,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--lr", "0.5"]);
    assert!(!ok);
    assert!(err.contains("--lr"), "{err}");
    // A model file that is not a checkpoint.
    let m = p(&dir, "m.st");
    let (ok, _, _) = shadertrain(&[
        "train",
        "--synthetic",
        "50",
        "--features",
        "2",
        "--epochs",
        "1",
        "--backend",
        "cpu",
        "--save",
        &m,
    ]);
    assert!(ok);
    let (ok, _, err) = shadertrain(&["train", "--resume", &m, "--backend", "cpu"]);
    assert!(!ok);
    assert!(err.contains("not a checkpoint"), "{err}");
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let ck = p(&dir, "ck.st");
    let child = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args([
            "train",
            "--synthetic",
            "20000",
            "--features",
            "8",
            "--epochs",
            "100000000",
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--checkpoint",
            &ck,
            "--checkpoint-every",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !Path::new(&ck).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted at epoch"), "{err}");
    assert!(err.contains("checkpoint written"), "{err}");
    let (model, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert!(c.epoch >= 2);
    assert_eq!(c.history.len(), c.epoch);
    assert!(model.params.iter().all(|v| v.is_finite()));
    // And the run goes on from it.
    let more = (c.epoch + 2).to_string();
    let (ok, out, err) = shadertrain(&[
        "train",
        "--resume",
        &ck,
        "--epochs",
        &more,
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("epochs    {more}")), "{out}");
}

#[test]
fn divergence_keeps_the_last_good_parameters_and_the_old_model() {
    let dir = tempfile::tempdir().unwrap();
    let (m, ck) = (p(&dir, "m.st"), p(&dir, "ck.st"));
    std::fs::write(&m, b"an older model").unwrap();
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "100",
        "--features",
        "3",
        "--lr",
        "1e5",
        "--epochs",
        "50",
        "--backend",
        "cpu",
        "--save",
        &m,
        "--checkpoint",
        &ck,
    ]);
    assert!(!ok);
    assert!(err.contains("diverged at epoch"), "{err}");
    assert!(err.contains("lr = 100000"), "{err}");
    assert!(err.contains("last good parameters"), "{err}");
    assert_eq!(std::fs::read(&m).unwrap(), b"an older model");
    let (model, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert!(model.params.iter().all(|v| v.is_finite()));
    assert!(c.history.iter().all(|v| v.is_finite()));
    let epoch: usize = err
        .split("diverged at epoch ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(c.epoch, epoch - 1, "{err}");
}

#[test]
fn a_lost_device_leaves_the_last_checkpoint_intact() {
    let Some(ctx) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.st");
    let data = Dataset::synthetic(200, 3, 1).unwrap();
    let layout = Layout::new(3, &[5]).unwrap();
    let model = Model::init(
        layout,
        Activation::Tanh,
        1,
        data.feature_names.clone(),
        "y".into(),
    );
    let mut g = GpuTrainer::new(ctx, &model, &data, 0.1).unwrap();
    let mut save = |epoch: usize, losses: &[f64], b: &mut dyn Backend| -> shadertrain::Result<()> {
        let m = Model {
            params: b.params()?,
            ..model.clone()
        };
        let c = Checkpoint {
            epoch,
            history: losses[..epoch].to_vec(),
            options: serde_json::json!({}),
            val_history: Vec::new(),
        };
        save_checkpoint(&m, &c, &ck)
    };
    let s = |epochs| Schedule {
        lr: 0.1,
        max_epochs: epochs,
        tol: 0.0,
    };
    let hooks = Hooks {
        checkpoint_every: 2,
        checkpoint: Some(&mut save),
        ..Hooks::default()
    };
    let first = train_from(&mut g, &s(4), Vec::new(), hooks).unwrap();
    let before = std::fs::read(&ck).unwrap();
    g.destroy_device();
    let mut save_again = |_: usize, _: &[f64], _: &mut dyn Backend| -> shadertrain::Result<()> {
        panic!("no checkpoint may be written from a lost device")
    };
    let hooks = Hooks {
        checkpoint_every: 2,
        checkpoint: Some(&mut save_again),
        ..Hooks::default()
    };
    let history = first.losses[..4].to_vec();
    assert!(train_from(&mut g, &s(10), history, hooks).is_err());
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    assert_eq!(load_checkpoint(&ck).unwrap().1.epoch, 4);
}

#[test]
fn a_readback_past_the_timeout_is_an_error() {
    if !have_gpu() {
        return;
    }
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "262144",
        "--features",
        "16",
        "--epochs",
        "5",
        "--backend",
        "gpu",
        "--gpu-timeout",
        "0.000001",
    ]);
    assert!(!ok);
    assert!(err.contains("did not finish within"), "{err}");
}

#[test]
fn no_matching_adapter_says_what_was_tried_and_how_to_get_one() {
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "10",
        "--features",
        "2",
        "--backend",
        "gpu",
        "--adapter",
        "no-such-gpu-anywhere",
    ]);
    assert!(!ok);
    assert!(
        err.contains("none named like 'no-such-gpu-anywhere'"),
        "{err}"
    );
    assert!(err.contains("tried"), "{err}");
    assert!(err.contains("lavapipe"), "{err}");
}

#[test]
fn impossible_runs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let only_target = p(&dir, "t.csv");
    std::fs::write(&only_target, "y\n1\n2\n").unwrap();
    let m = p(&dir, "m.st");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--data", &only_target],
            "expected at least one feature column",
        ),
        (
            vec!["--synthetic", "0", "--features", "3"],
            "at least one row",
        ),
        (
            vec!["--synthetic", "5", "--features", "0"],
            "at least one feature",
        ),
        (
            vec!["--synthetic", "5", "--features", "2", "--hidden", "0"],
            "at least one unit",
        ),
        (
            vec!["--synthetic", "5", "--features", "2", "--hidden", "4,0"],
            "at least one unit",
        ),
        (
            vec!["--synthetic", "5", "--features", "2", "--epochs", "0"],
            "--epochs must be at least 1",
        ),
        (
            vec!["--synthetic", "5", "--features", "2", "--lr", "-1"],
            "--lr must be a positive number",
        ),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["train", "--backend", "cpu", "--save", &m];
        args.extend(extra.iter().copied());
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok, "{extra:?} accepted");
        assert!(
            err.contains(expect),
            "{extra:?}: expected '{expect}' in {err}"
        );
        assert!(!Path::new(&m).exists());
    }
    let d = dir.path().to_string_lossy().into_owned();
    for flag in ["--save", "--history", "--checkpoint"] {
        let (ok, _, err) = shadertrain(&[
            "train",
            "--synthetic",
            "5",
            "--features",
            "2",
            "--backend",
            "cpu",
            flag,
            &d,
        ]);
        assert!(!ok);
        assert!(err.contains("is a directory"), "{flag}: {err}");
    }
}

#[test]
fn feature_mismatch_names_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m) = (p(&dir, "a.csv"), p(&dir, "b.csv"), p(&dir, "m.st"));
    std::fs::write(&a, "u,v,y\n1,2,3\n4,5,6\n").unwrap();
    std::fs::write(&b, "u,w,y\n1,2,3\n4,5,6\n").unwrap();
    let (ok, _, err) = shadertrain(&[
        "train",
        "--data",
        &a,
        "--epochs",
        "1",
        "--backend",
        "cpu",
        "--save",
        &m,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = shadertrain(&[
        "train",
        "--data",
        &b,
        "--init",
        &m,
        "--epochs",
        "1",
        "--backend",
        "cpu",
    ]);
    assert!(!ok);
    assert!(err.contains("u, v") && err.contains("u, w"), "{err}");
    let (ok, _, err) = shadertrain(&["predict", "--model", &m, "--data", &b]);
    assert!(!ok);
    assert!(err.contains("missing feature column(s) v"), "{err}");
}

#[test]
fn a_run_on_gpu_generated_data_resumes_only_on_the_gpu() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ck = p(&dir, "ck.st");
    let (ok, _, err) = shadertrain(&[
        "train",
        "--synthetic",
        "200",
        "--features",
        "3",
        "--epochs",
        "2",
        "--backend",
        "gpu",
        "--checkpoint",
        &ck,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = shadertrain(&[
        "train",
        "--resume",
        &ck,
        "--epochs",
        "4",
        "--backend",
        "cpu",
    ]);
    assert!(!ok);
    assert!(err.contains("resume it with --backend gpu"), "{err}");
    let (ok, out, err) = shadertrain(&[
        "train",
        "--resume",
        &ck,
        "--epochs",
        "4",
        "--backend",
        "gpu",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("generated on the GPU"), "{out}");
}
