//! Nothing loses a user's work: checkpoints and resume, Ctrl-C, SIGTERM and
//! SIGHUP, divergence, device faults, and inputs refused before any work
//! starts.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_same_file, have_gpu, own_gpu, path, paths, run_ok, run_ok_out_err, run_refused,
    shadertrain, train_data, train_resume, train_synthetic, BLOW_UP, BOUNCE, PLATEAU,
};
use shadertrain::data::Dataset;
use shadertrain::gpu::GpuTrainer;
use shadertrain::io::{load_checkpoint, save_checkpoint, Checkpoint};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::optim::Optimizer;
use shadertrain::train::{train_from, Backend, Hooks, Kept, Schedule};

/// The optimizers' flags each resume test runs with.
const OPTIMIZERS: [&[&str]; 5] = [
    &[],
    &["--optimizer", "momentum", "--lr", "0.05"],
    &["--optimizer", "nesterov", "--momentum", "0.8"],
    &["--optimizer", "adam", "--lr", "0.01"],
    &["--optimizer", "lbfgs"],
];

/// 10 epochs against 5, a checkpoint, and 5 more from it, for every
/// optimizer: the models and histories are the same bytes.
fn resume_is_bit_exact(backend: &str) {
    for optimizer in OPTIMIZERS {
        resume_is_bit_exact_with(backend, optimizer);
    }
}

fn resume_is_bit_exact_with(backend: &str, optimizer: &[&str]) {
    let backend_name = format!("{backend} {optimizer:?}");
    let backend_name = backend_name.as_str();
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = train_synthetic("300", "3", backend, &["--hidden", "7,4"]);
        args.extend_from_slice(optimizer);
        args.extend_from_slice(extra);
        run_ok(&args);
    };
    let [full, fh, ck, res, rh] = paths(&dir, ["full.st", "f.csv", "ck.st", "res.st", "r.csv"]);
    run(&["--epochs", "10", "--save", &full, "--history", &fh]);
    run(&[
        "--epochs",
        "5",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "5",
    ]);
    let more = ["--epochs", "10", "--save", &res, "--history", &rh];
    run_ok(&train_resume(&ck, backend, &more));
    assert_same_file(&full, &res, &format!("{backend_name} model"));
    assert_same_file(&fh, &rh, &format!("{backend_name} history"));
    // --backend auto goes on on the backend that wrote the checkpoint.
    let [auto, ah] = paths(&dir, ["auto.st", "a.csv"]);
    let more = ["--epochs", "10", "--save", &auto, "--history", &ah];
    let (_, err) = run_ok_out_err(&train_resume(&ck, "auto", &more));
    let says = format!("notice: training on the {backend} backend, which wrote {ck}");
    assert!(err.contains(&says), "{backend_name}: {err}");
    assert_same_file(
        &full,
        &auto,
        &format!("{backend_name} model, --backend auto"),
    );
    assert_same_file(&fh, &ah, &format!("{backend_name} history, --backend auto"));
}

#[test]
fn five_epochs_then_resume_five_equals_ten_on_the_cpu() {
    resume_is_bit_exact("cpu");
    resume_is_bit_exact("reference");
}

/// Mini-batch epochs replay the same shuffles after a resume: each epoch's
/// order follows from the seed and the optimizer's step count, which the
/// checkpoint holds. 300 rows in batches of 64 leave a last batch of 44.
#[test]
fn five_epochs_then_resume_five_equals_ten_in_mini_batches() {
    let gd = ["--batch-size", "64", "--lr", "0.05"];
    let adam = ["--batch-size", "64", "--optimizer", "adam", "--lr", "0.01"];
    for backend in ["cpu", "reference"] {
        resume_is_bit_exact_with(backend, &gd);
        resume_is_bit_exact_with(backend, &adam);
    }
}

#[test]
fn five_epochs_then_resume_five_equals_ten_on_the_gpu() {
    if have_gpu() {
        resume_is_bit_exact("gpu");
        resume_is_bit_exact_with("gpu", COSINE);
        let adam = ["--batch-size", "64", "--optimizer", "adam", "--lr", "0.01"];
        resume_is_bit_exact_with("gpu", &adam);
        resume_is_bit_exact_with("gpu", PLATEAU);
        resume_is_bit_exact_with("gpu", &[PLATEAU, &["--batch-size", "64"]].concat());
        // Where the GPU is not found now, --backend auto goes on on the CPU.
        let dir = tempfile::tempdir().unwrap();
        let [csv, ck] = paths(&dir, ["d.csv", "ck.st"]);
        common::gen_csv(&csv, "100", "3", "0");
        let more = ["--epochs", "3", "--checkpoint", &ck];
        run_ok(&common::train_data(&csv, "gpu", &more));
        let more = ["--epochs", "5", "--adapter", "no-such-gpu-anywhere"];
        let (out, err) = run_ok_out_err(&train_resume(&ck, "auto", &more));
        let says = format!("training on the CPU: {ck} was written on the gpu backend, but none named like 'no-such-gpu-anywhere'");
        assert!(err.contains(&says), "{err}");
        assert!(out.contains("backend   cpu"), "{out}");
        // --precision mixed where the adapter has no cooperative matrices:
        // f32 on the GPU, as for a new run with --backend auto.
        let more = ["--epochs", "5", "--precision", "mixed"];
        let (out, err) = run_ok_out_err(&train_resume(&ck, "auto", &more));
        assert!(out.contains("backend   gpu"), "{out}");
        assert!(
            err.contains("training in f32") || out.contains("mixed"),
            "{err}"
        );
        // Data generated on the GPU cannot go on without one.
        let more = ["--epochs", "3", "--checkpoint", &ck];
        run_ok(&train_synthetic("100", "3", "gpu", &more));
        let more = ["--epochs", "5", "--adapter", "no-such-gpu-anywhere"];
        let (ok, _, err) = shadertrain(&train_resume(&ck, "auto", &more));
        let says = format!("{ck}'s synthetic data were generated on the GPU, but none named like");
        assert!(!ok && err.contains(&says), "{err}");
    }
}

/// `--keep best`'s parameters ride in the checkpoint: a resumed run saves
/// the same model as one that ran straight through, whether the best came
/// before the checkpoint (Nesterov at lr 1 blows up after epoch 0, so it
/// keeps the initial parameters) or after it (a bouncing loss, lowest at 8);
/// on the GPU, with full batches too.
#[test]
fn five_epochs_then_resume_five_equals_ten_keeping_the_best() {
    // With a split, by the validation loss too: measured every epoch on
    // these backends, so both runs measure the same epochs.
    let by_val = ["--validation-split", "0.2", "--keep", "best-val"];
    // Early stopping: the bouncing run's validation loss does not fall
    // below epoch 0's in epochs 1 to 4, so --val-patience 4 stops it at 4,
    // before the checkpoint at 5, and the resumed run runs no epoch; its
    // lowest is at 5, so --val-patience 5 stops it at 10, after the resume.
    let stalls = ["--validation-split", "0.2", "--val-patience", "4"];
    let later = ["--validation-split", "0.2", "--val-patience", "5"];
    for backend in ["cpu", "reference"] {
        for opt in [BLOW_UP, BOUNCE] {
            resume_is_bit_exact_with(backend, &[opt, &["--keep", "best"]].concat());
            resume_is_bit_exact_with(backend, &[opt, &by_val[..]].concat());
        }
        resume_is_bit_exact_with(backend, &[BOUNCE, &stalls].concat());
        resume_is_bit_exact_with(backend, &[BOUNCE, &later].concat());
        let keep = ["--keep", "best-val"];
        resume_is_bit_exact_with(backend, &[BOUNCE, &stalls, &keep].concat());
    }
    if have_gpu() {
        // Full batches: Adam at lr 2 never comes back below its start;
        // Nesterov at lr 0.5 is lowest at epoch 7.
        let adam = ["--optimizer", "adam", "--lr", "2"];
        let nesterov = ["--optimizer", "nesterov", "--lr", "0.5"];
        for opt in [BOUNCE, &adam[..], &nesterov[..]] {
            resume_is_bit_exact_with("gpu", &[opt, &["--keep", "best"]].concat());
        }
    }
}

/// A resume counts `--val-patience` from the held-out loss's lowest epoch
/// before its checkpoint: the bouncing run's validation loss is lowest at
/// epoch 0 until epoch 5, so a checkpoint at epoch 4 is one epoch short of
/// stalling under --val-patience 5, and the resumed run trains on (to a
/// new lowest at 5), while one at epoch 3 under --val-patience 4 stops at
/// 4 (not 4 epochs after the resume); each saves what the run straight
/// through saves.
#[test]
fn a_resume_one_epoch_short_of_val_patience_trains_on() {
    let dir = tempfile::tempdir().unwrap();
    let [full, fh, ck, res, rh] = paths(&dir, ["full.st", "f.csv", "ck.st", "res.st", "r.csv"]);
    for (patience, at) in [("5", "4"), ("4", "3")] {
        let run = |extra: &[&str]| {
            let patience = ["--validation-split", "0.2", "--val-patience", patience];
            let more = [&["--hidden", "7,4", "-q"], BOUNCE, &patience, extra].concat();
            run_ok(&train_synthetic("300", "3", "cpu", &more));
        };
        run(&["--epochs", "10", "--save", &full, "--history", &fh]);
        run(&["--epochs", at, "--checkpoint", &ck]);
        let more = ["--epochs", "10", "--save", &res, "--history", &rh];
        let (_, err) = run_ok_out_err(&train_resume(&ck, "cpu", &more));
        assert!(!err.contains("no epoch ran"), "{err}");
        let what = format!("--val-patience {patience} resumed at {at}");
        assert_same_file(&full, &res, &format!("model, {what}"));
        assert_same_file(&fh, &rh, &format!("history, {what}"));
    }
}

/// A periodic checkpoint holds `--keep best-val`'s parameters so far, as
/// the one at the end does: a run killed (SIGKILL, no chance to write at
/// the end) after a few checkpoints leaves one whose kept parameters are
/// those of its lowest validation loss.
#[test]
fn a_killed_run_s_checkpoint_holds_the_best_val_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let keep = ["--validation-split", "0.2", "--keep", "best-val"];
    let every = [
        "--epochs",
        "100000000",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "1",
    ];
    let adam = ["--optimizer", "adam", "--lr", "0.01", "--batch-size", "64"];
    let more = [&["--hidden", "7,4", "-q"][..], &adam, &keep, &every].concat();
    let mut child = spawn_run(&train_synthetic("300", "3", "cpu", &more));
    wait_for(&ck);
    let start = Instant::now();
    while load_checkpoint(Path::new(&ck)).is_ok_and(|(_, c)| c.epoch < 3) {
        assert!(start.elapsed() < Duration::from_secs(60), "no third epoch");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, c) = load_checkpoint(Path::new(&ck)).unwrap();
    let kept = c
        .kept
        .expect("the periodic checkpoint holds the kept parameters");
    let lowest = (c.val_history.iter())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert_eq!((kept.epoch, kept.loss), *lowest, "{:?}", c.val_history);
}

/// A cosine over the whole ten epochs (given, since the five-epoch run's
/// own --epochs would end it at five), full-batch momentum.
const COSINE: &[&str] = &[
    "--optimizer",
    "momentum",
    "--lr-schedule",
    "cosine",
    "--lr-epochs",
    "10",
    "--lr-min",
    "0.01",
];

/// Scheduled runs resume at the epoch's rate: the rate follows from the
/// epoch, which the checkpoint's step count gives, and the schedule is
/// recorded with the run.
#[test]
fn five_epochs_then_resume_five_equals_ten_with_a_schedule() {
    let step = [
        "--batch-size",
        "64",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--lr-schedule",
        "step",
        "--lr-every",
        "3",
        "--lr-gamma",
        "0.5",
    ];
    for backend in ["cpu", "reference"] {
        resume_is_bit_exact_with(backend, COSINE);
        resume_is_bit_exact_with(backend, &step);
        // One cycle over the ten epochs: it peaks at epoch 2 and falls
        // across the resumption.
        let cycle = [
            "--optimizer",
            "adam",
            "--lr",
            "0.05",
            "--lr-schedule",
            "one-cycle",
            "--lr-epochs",
            "10",
        ];
        resume_is_bit_exact_with(backend, &cycle);
        // PLATEAU cuts before and after epoch 5: the resumed run finds the
        // history's cuts by replaying the rule over it.
        resume_is_bit_exact_with(backend, PLATEAU);
        resume_is_bit_exact_with(backend, &[PLATEAU, &["--batch-size", "64"]].concat());
        // The checkpoint keeps --clip-grad-norm (here it clips every step).
        let clipped = [
            "--optimizer",
            "momentum",
            "--lr",
            "0.5",
            "--clip-grad-norm",
            "0.01",
        ];
        resume_is_bit_exact_with(backend, &clipped);
    }
}

#[test]
fn resume_refuses_options_that_would_change_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let more = ["--epochs", "2", "--checkpoint", &ck];
    run_ok(&train_synthetic("50", "2", "cpu", &more));
    for (flag, value) in [
        ("--lr", "0.5"),
        ("--batch-size", "8"),
        ("--keep", "best"),
        ("--lr-schedule", "cosine"),
    ] {
        let (_, err) = run_refused(&["train", "--resume", &ck, flag, value]);
        assert!(err.contains(flag), "{flag}: {err}");
    }
    // A model file that is not a checkpoint.
    let m = path(&dir, "m.st");
    run_ok(&train_synthetic(
        "50",
        "2",
        "cpu",
        &["--epochs", "1", "--save", &m],
    ));
    let (_, err) = run_refused(&train_resume(&m, "cpu", &[]));
    assert!(err.contains("not a checkpoint"), "{err}");
}

/// A run of the cpu backend with no end in sight, checkpointing to `ck`
/// every `every` epochs.
fn checkpointing_every<'a>(ck: &'a str, every: &'a str) -> Vec<&'a str> {
    let more = [
        "--epochs",
        "100000000",
        "--threads",
        "1",
        "--checkpoint",
        ck,
        "--checkpoint-every",
        every,
    ];
    train_synthetic("20000", "8", "cpu", &more)
}

/// [`checkpointing_every`] 2 epochs.
fn checkpointing_run(ck: &str) -> Vec<&str> {
    checkpointing_every(ck, "2")
}

/// The binary with `args`, started with the default signal dispositions,
/// its output piped.
fn spawn_run(args: &[&str]) -> std::process::Child {
    common::default_signals(&mut Command::new(env!("CARGO_BIN_EXE_shadertrain")))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// [`checkpointing_run`], started by [`spawn_run`].
fn spawn_checkpointing_run(ck: &str) -> std::process::Child {
    spawn_run(&checkpointing_run(ck))
}

/// The names of the files in `dir`, sorted.
fn names_in(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits, up to a minute, until the file `path` exists.
fn wait_for(path: &str) {
    let start = Instant::now();
    while !Path::new(path).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A signal the run was started ignoring (`nohup`'s SIGHUP) stays
/// ignored: the run goes on through it (a handler of ours undid the
/// ignoring, so closing the terminal stopped a `nohup` run), and another
/// signal still stops it with a checkpoint.
#[test]
fn a_signal_ignored_at_the_start_stays_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let args = checkpointing_run(&ck);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("trap '' HUP; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_shadertrain"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&ck);
    kill("HUP", child.id());
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "an ignored SIGHUP stopped the run"
    );
    let err = terminated(child);
    assert!(
        err.contains("(SIGTERM)") && !err.contains("SIGHUP"),
        "{err}"
    );
}

/// A checkpoint a running process writes is refused to a second run
/// (which would mix its history file with the first's) and to a
/// `--resume`, each naming that process; once it ends, its lock file is
/// gone and the checkpoint resumes.
#[test]
fn a_checkpoint_in_use_is_refused_to_another_run() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let child = spawn_checkpointing_run(&ck);
    wait_for(&ck);
    let who = format!("another shadertrain run (PID {})", child.id());
    let second = train_synthetic("100", "2", "cpu", &["--checkpoint", &ck]);
    let resumed = train_resume(&ck, "cpu", &["--epochs", "100000001"]);
    let refused = [
        (
            second,
            format!("--checkpoint {ck}: {who} is writing this checkpoint"),
        ),
        (
            resumed,
            format!("--resume {ck}: {who} is still writing this checkpoint"),
        ),
    ];
    for (args, says) in refused {
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok && err.contains(&says), "{args:?}: {err}");
    }
    terminated(child);
    assert_eq!(names_in(&dir), ["ck.st", "ck.st.history"]);
    let epoch = load_checkpoint(Path::new(&ck)).unwrap().1.epoch;
    let more = (epoch + 1).to_string();
    run_ok(&train_resume(&ck, "cpu", &["--epochs", &more]));
    // Runs that only read it (resuming into other checkpoints) share it;
    // a run that would write it is refused while they run.
    let [a, b] = paths(&dir, ["a.st", "b.st"]);
    let reader = spawn_run(&train_resume(
        &ck,
        "cpu",
        &["--checkpoint", &a, "--epochs", "100000000"],
    ));
    wait_for(&a);
    let more = (epoch + 2).to_string();
    run_ok(&train_resume(
        &ck,
        "cpu",
        &["--checkpoint", &b, "--epochs", &more],
    ));
    let (ok, _, err) = shadertrain(&train_synthetic("100", "2", "cpu", &["--checkpoint", &ck]));
    let says =
        format!("--checkpoint {ck}: other shadertrain runs are resuming from this checkpoint");
    assert!(!ok && err.contains(&says), "{err}");
    terminated(reader);
    let left = names_in(&dir);
    assert!(left.iter().all(|n| !n.ends_with(".lock")), "{left:?}");
}

/// Ctrl-C writes a checkpoint the run goes on from, which a new run at
/// its path refuses to replace until a resume there has ended.
#[test]
fn ctrl_c_writes_a_checkpoint_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let child = spawn_checkpointing_run(&ck);
    wait_for(&ck);
    let err = stopped_by(child, "INT", 130);
    assert!(err.contains("interrupted at epoch"), "{err}");
    assert!(err.contains("checkpoint written"), "{err}");
    let (model, c) = load_checkpoint(Path::new(&ck)).unwrap();
    // The file holds the epoch the interrupt names (written at the
    // signal; on an even epoch the periodic write holds it too).
    assert_eq!(c.epoch, common::interrupted_epoch(&err), "{err}");
    assert!(c.epoch >= 2);
    assert_eq!(c.history.len(), c.epoch);
    assert!(model.params.iter().all(|v| v.is_finite()));
    // A new run there (the interrupted command again) would replace it:
    // refused, the checkpoint as it was.
    let written = std::fs::read(&ck).unwrap();
    let fresh = train_synthetic("200", "8", "cpu", &["--epochs", "3", "--checkpoint", &ck]);
    let (_, err) = run_refused(&fresh);
    let says = format!(
        "--checkpoint {ck} holds the checkpoint, at epoch {}, of a run that did not end there (interrupted, stopped by --max-time, killed, or its last checkpoint not written)",
        c.epoch
    );
    assert!(err.contains(&says) && err.contains(&format!("--resume {ck} continues it; to start a new run, delete {ck} and {ck}.history, or give --checkpoint another path")), "{err}");
    assert_eq!(std::fs::read(&ck).unwrap(), written);
    // So would a model saved there, which --resume could not continue.
    let save = train_synthetic("200", "8", "cpu", &["--epochs", "3", "--save", &ck]);
    let (_, err) = run_refused(&save);
    assert!(err.contains(&format!("--save {ck} holds the checkpoint, at epoch {}", c.epoch)) && err.contains(&format!("--resume {ck} continues that run; give --save another path, or delete {ck} and {ck}.history if that run is not needed")), "{err}");
    assert_eq!(std::fs::read(&ck).unwrap(), written);
    // And a checkpoint is not written over a saved model.
    let model = path(&dir, "saved.st");
    run_ok_out_err(&train_synthetic(
        "200",
        "8",
        "cpu",
        &["--epochs", "3", "--save", &model],
    ));
    let saved = std::fs::read(&model).unwrap();
    let over = train_synthetic(
        "200",
        "8",
        "cpu",
        &["--epochs", "3", "--checkpoint", &model],
    );
    let (_, err) = run_refused(&over);
    assert!(
        err.contains(&format!(
            "--checkpoint {model} holds a saved model, not a checkpoint"
        )),
        "{err}"
    );
    assert_eq!(std::fs::read(&model).unwrap(), saved);
    // And the run goes on from it.
    let more = (c.epoch + 2).to_string();
    let (out, err) = run_ok_out_err(&train_resume(&ck, "cpu", &["--epochs", &more]));
    assert!(out.contains(&format!("epochs    {more}")), "{out}");
    assert!(err.contains("this resumed run writes no file"), "{err}");
    // Resumed there to its end, it is one a new run may replace.
    run_ok_out_err(&train_resume(
        &ck,
        "cpu",
        &["--epochs", &more, "--checkpoint", &ck],
    ));
    assert_eq!(
        load_checkpoint(Path::new(&ck)).unwrap().1.epoch,
        c.epoch + 2
    );
    run_ok_out_err(&fresh);
    assert_eq!(load_checkpoint(Path::new(&ck)).unwrap().1.epoch, 3);
    // A resumed run that writes other files but no checkpoint says so
    // before it trains.
    let saved = path(&dir, "m.st");
    let (_, err) = run_ok_out_err(&train_resume(
        &ck,
        "cpu",
        &["--epochs", "4", "--save", &saved],
    ));
    let says = format!("notice: this resumed run writes no checkpoint (--resume keeps the run's options, not its outputs): stopped, it loses its epochs past epoch 3; --checkpoint {ck} goes on writing the file it resumes from");
    assert!(err.contains(&says), "{err}");
    // Not where it trains no epoch: a resume to save the model now.
    let (_, err) = run_ok_out_err(&train_resume(
        &ck,
        "cpu",
        &["--epochs", "3", "--save", &saved],
    ));
    assert!(!err.contains("writes no checkpoint"), "{err}");
    // A resumed run stopped without --checkpoint loses its own epochs only.
    let resumed = train_resume(&ck, "cpu", &["--epochs", "100000000"]);
    let err = interrupted(&resumed);
    let says = format!("no --checkpoint given: {ck} still resumes from where it was written");
    assert!(err.contains(&says), "{err}");
}

/// Ctrl-C of a run with --save and --checkpoint names the resume that
/// saves the model the checkpoint holds, --keep's parameters, which
/// writes it without training on.
#[test]
fn ctrl_c_names_the_resume_that_saves_the_model_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let [ck, model] = paths(&dir, ["ck.st", "m.st"]);
    let more = [
        "--epochs",
        "100000000",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "1000000",
        "--save",
        &model,
        "--keep",
        "best",
    ];
    let err = interrupted(&train_synthetic("20000", "8", "cpu", &more));
    let epoch = common::interrupted_epoch(&err).to_string();
    let says = format!("; train --resume {ck} --epochs {epoch} --save {model} writes the model it holds (the --keep best parameters) without training on");
    assert!(err.contains(&says), "{err}");
    assert!(!Path::new(&model).exists());
    let (out, _) = run_ok_out_err(&[
        "train", "--resume", &ck, "--epochs", &epoch, "--save", &model,
    ]);
    assert!(out.contains(&format!("epochs    {epoch}")), "{out}");
    let (last, c) = load_checkpoint(Path::new(&ck)).unwrap();
    let kept = c.kept.map_or(last.params, |k| k.params);
    let saved = shadertrain::io::load_model(Path::new(&model)).unwrap();
    assert_eq!(saved.params, kept);
}

/// Without --checkpoint, Ctrl-C says what it left: the reports, written
/// up to the epoch it stopped at, and no model, which only a run that
/// ends saves.
#[test]
fn ctrl_c_without_a_checkpoint_says_the_model_was_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let [model, history] = paths(&dir, ["m.st", "h.csv"]);
    let more = [
        "--epochs",
        "100000000",
        "--save",
        &model,
        "--history",
        &history,
    ];
    let err = interrupted(&train_synthetic("20000", "8", "cpu", &more));
    assert!(
        err.contains(&format!("{model} was not written: --save is written when a run ends, and --checkpoint FILE keeps an interrupted run to --resume")),
        "{err}"
    );
    let epoch = err
        .split("holds the run up to epoch ")
        .nth(1)
        .and_then(|rest| rest.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(!Path::new(&model).exists());
    let losses = shadertrain::io::read_history(Path::new(&history)).unwrap();
    assert_eq!(losses.len(), epoch + 1, "{err}");
}

/// Ctrl-C when the checkpoint cannot be written: the run still exits
/// 130, names the failure, and does not claim a checkpoint to resume.
#[test]
fn ctrl_c_with_a_failing_checkpoint_keeps_its_status_and_says_so() {
    let more = [
        "--epochs",
        "100000000",
        "--checkpoint",
        "/dev/full",
        "--checkpoint-every",
        "1000000",
    ];
    let err = interrupted(&train_synthetic("20000", "8", "cpu", &more));
    assert!(
        err.contains("error: could not write --checkpoint: /dev/full"),
        "{err}"
    );
    assert!(
        err.contains("the checkpoint could not be written to /dev/full, so this run cannot be resumed from here"),
        "{err}"
    );
    assert!(!err.contains("checkpoint written"), "{err}");
}

/// Whether process `pid` catches signal `signal` (its `SigCgt` mask in
/// /proc): the training loop's handlers are installed.
fn catches(pid: u32, signal: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

/// Sends SIG`name` to process `pid`.
fn kill(name: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

/// Runs shadertrain with `args` and sends SIGINT as soon as it is
/// handled; asserts the run exited with 130 and returns its standard error.
fn interrupted(args: &[&str]) -> String {
    let done = signal_once_handled(args, "INT", 2, &|| true);
    let err = String::from_utf8_lossy(&done.stderr).into_owned();
    assert_eq!(done.status.code(), Some(130), "{err}");
    err
}

/// Sends SIGTERM to `child` and waits for it; asserts it exited with 143
/// and returns its standard error.
fn terminated(child: std::process::Child) -> String {
    stopped_by(child, "TERM", 143)
}

/// Sends SIG`name` to `child` and waits for it; asserts it exited with
/// `code` and returns its standard error.
fn stopped_by(child: std::process::Child, name: &str, code: i32) -> String {
    kill(name, child.id());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// Runs shadertrain with `args`, sends SIG`name` (number `number`) once
/// the process has a handler for it and `ready` says so, and returns what
/// it printed and its status.
fn signal_once_handled(
    args: &[&str],
    name: &str,
    number: u32,
    ready: &dyn Fn() -> bool,
) -> std::process::Output {
    let child = spawn_run(args);
    let start = Instant::now();
    while !catches(child.id(), number) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "SIG{name} never handled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(60), "never ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(name, child.id());
    child.wait_with_output().unwrap()
}

/// A signal while `gen` writes its file stops the write: the file keeps
/// what it held, no temp file is left, and the exit status is the
/// signal's.
#[test]
fn a_signal_stops_a_write_and_leaves_the_file_as_it_was() {
    for (name, number, status) in [("INT", 2, 130), ("TERM", 15, 143)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("big.csv");
        std::fs::write(&out, "kept\n").unwrap();
        let out_arg = out.to_str().unwrap();
        let gen = [
            "gen",
            "--rows",
            "20000000",
            "--features",
            "1",
            "--out",
            out_arg,
        ];
        // Mid-write: the temp file has bytes.
        let writing = || {
            std::fs::read_dir(dir.path()).unwrap().flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".big.csv.tmp-") && e.metadata().is_ok_and(|m| m.len() > 0)
            })
        };
        let done = signal_once_handled(&gen, name, number, &writing);
        let err = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(status), "SIG{name}: {err}");
        assert!(
            err.contains(&format!("interrupted (SIG{name}) while writing")),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}

/// A FIFO is written straight through, so the signals end `gen` as by
/// default, even while it waits for a reader that never comes.
#[test]
fn a_signal_ends_a_write_to_a_fifo_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = common::default_signals(&mut Command::new(env!("CARGO_BIN_EXE_shadertrain")))
        .args(["gen", "--rows", "1000", "--features", "3", "--out"])
        .arg(&fifo)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    kill("TERM", child.id());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gen outlived SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(child.wait().unwrap().signal(), Some(15));
}

/// train's handlers only raise a flag, so a blocking open of a FIFO that
/// no process reads would wait through every signal: it waits without
/// blocking, says so after a second, and a signal ends it. A FIFO is
/// never a checkpoint.
#[test]
fn a_signal_ends_trains_wait_for_a_fifos_reader() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = path(&dir, "f");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let args = train_synthetic("200", "3", "cpu", &["--epochs", "3", "--save", &fifo]);
    let mut child = spawn_run(&args);
    // Its standard error, line by line, as it comes.
    let stderr = child.stderr.take().unwrap();
    let (lines, said) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = lines.send(line);
        }
    });
    let waiting = format!("waiting for a process to open the FIFO {fifo} for reading");
    let mut err = String::new();
    while !err.contains(&waiting) {
        let line = said.recv_timeout(Duration::from_secs(60));
        err += &(line.expect("no word of the wait within a minute") + "\n");
    }
    kill("TERM", child.id());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            kill("KILL", child.id());
            panic!("train outlived SIGTERM while waiting for the FIFO's reader");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().unwrap();
    err.extend(said.try_iter().map(|l| l + "\n"));
    assert_eq!(child.wait().unwrap().code(), Some(1), "{err}");
    assert!(err.contains(&format!("could not write --save: {fifo}: stopped by SIGTERM while waiting for a process to open the FIFO for reading; the model was not saved")), "{err}");
    let ck = train_synthetic("200", "3", "cpu", &["--epochs", "3", "--checkpoint", &fifo]);
    let (_, err) = run_refused(&ck);
    assert!(
        err.contains("so it cannot be a FIFO; give a file's path"),
        "{err}"
    );
}

/// SIGTERM (from `timeout`, a job scheduler, `docker stop`) and SIGHUP end
/// the batch, write the checkpoint and exit with 128 + the signal's number,
/// with no periodic checkpoint due; a temp file that an earlier, killed run
/// left beside the checkpoint is removed.
#[test]
fn sigterm_and_sighup_write_a_checkpoint_and_exit_with_their_status() {
    let dead = Command::new("true")
        .spawn()
        .and_then(|mut c| c.wait().map(|_| c.id()))
        .unwrap();
    for (name, number, status) in [("TERM", 15, 143), ("HUP", 1, 129)] {
        let dir = tempfile::tempdir().unwrap();
        let ck = path(&dir, "ck.st");
        let stale = dir.path().join(format!(".ck.st.tmp-{dead}"));
        std::fs::write(&stale, b"left by a run killed mid-write").unwrap();
        // Some epochs, none of them checkpointed yet.
        let args = checkpointing_every(&ck, "100000000");
        let handled = Instant::now();
        let settled = || handled.elapsed() > Duration::from_millis(500);
        let out = signal_once_handled(&args, name, number, &settled);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "SIG{name}: {err}");
        assert!(err.contains(&format!("(SIG{name})")), "{err}");
        assert!(err.contains("checkpoint written"), "{err}");
        let (model, c) = load_checkpoint(Path::new(&ck)).unwrap();
        assert!(c.epoch >= 1, "SIG{name}: epoch {}", c.epoch);
        assert_eq!(c.history.len(), c.epoch);
        assert!(model.params.iter().all(|v| v.is_finite()));
        assert!(!stale.exists(), "the stale temp file is still there");
        assert_eq!(names_in(&dir), ["ck.st", "ck.st.history"], "SIG{name}");
        // And the run goes on from it.
        let more = (c.epoch + 2).to_string();
        let out = run_ok(&train_resume(&ck, "cpu", &["--epochs", &more]));
        assert!(out.contains(&format!("epochs    {more}")), "{out}");
    }
}

/// A divergence writes the last finite parameters, and leaves the older
/// model alone; where their loss is above the start's (the run blew up
/// for epochs before it overflowed), the error says so, and that a new run
/// does better than one from them.
#[test]
fn divergence_keeps_the_last_finite_parameters_and_the_old_model() {
    let dir = tempfile::tempdir().unwrap();
    let [m, ck] = paths(&dir, ["m.st", "ck.st"]);
    std::fs::write(&m, b"an older model").unwrap();
    let more = [
        "--lr",
        "1e5",
        "--epochs",
        "50",
        "--save",
        &m,
        "--checkpoint",
        &ck,
    ];
    // Checkpointed at the end only, and at every epoch: the one whose
    // parameters are not finite is not tried (and warned of), the
    // divergence writes the last good ones.
    for every in [&[][..], &["--checkpoint-every", "1"]] {
        let (_, err) = run_refused(&train_synthetic(
            "100",
            "3",
            "cpu",
            &[&more, every].concat(),
        ));
        assert!(err.contains("diverged at epoch"), "{err}");
        assert!(err.contains("lr = 100000"), "{err}");
        assert!(
            err.contains("the last finite parameters (epoch")
                && err.contains("is above the start's")
                && !err.contains("last good"),
            "{err}"
        );
        assert!(!err.contains("could not write"), "{err}");
        assert_eq!(std::fs::read(&m).unwrap(), b"an older model");
        let (model, c) = load_checkpoint(Path::new(&ck)).unwrap();
        assert!(model.params.iter().all(|v| v.is_finite()));
        assert!(c.history.iter().all(|v| v.is_finite()));
        let epoch = common::diverged_epoch(&err);
        assert_eq!(c.epoch, epoch - 1, "{err}");
    }
}

/// A run whose loss falls and then overflows in one update (a rate
/// grown 1e60-fold in an epoch) keeps parameters better than the
/// start's, and the error calls them the last good ones: a run from them
/// is worth it.
#[test]
fn a_sudden_divergence_keeps_the_last_good_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let [m, ck] = paths(&dir, ["m.st", "ck.st"]);
    let (_, err) = run_refused(&train_synthetic(
        "100",
        "3",
        "cpu",
        &[
            "--lr",
            "0.05",
            "--lr-schedule",
            "exponential",
            "--lr-gamma",
            "1e60",
            "--epochs",
            "20",
            "--save",
            &m,
            "--checkpoint",
            &ck,
        ],
    ));
    assert!(err.contains("diverged at epoch 2"), "{err}");
    assert!(
        err.contains(&format!("the last good parameters (epoch 1) are in {ck}"))
            && !err.contains("last finite"),
        "{err}"
    );
    assert!(!Path::new(&m).exists(), "{err}");
    let (model, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert_eq!(c.epoch, 1, "{err}");
    assert!(model.params.iter().all(|v| v.is_finite()));
    assert_eq!(c.history.len(), 1, "{:?}", c.history);
}

#[test]
fn a_lost_device_leaves_the_last_checkpoint_intact() {
    // Its own device: the shared one must outlive this test's destroy.
    let Some(ctx) = own_gpu() else { return };
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
    let mut g = GpuTrainer::new(ctx, &model, &data, Optimizer::gd(0.1)).unwrap();
    let mut save = |epoch: usize, losses: &[f64], b: &mut dyn Backend, _: Option<&Kept>| {
        let m = Model {
            params: b.params()?,
            ..model.clone()
        };
        let c = Checkpoint {
            epoch,
            history: losses[..epoch].to_vec(),
            options: serde_json::json!({}),
            val_history: Vec::new(),
            optimizer: b.optimizer_state()?,
            data: None,
            history_file: None,
            kept: None,
            backend: Some("gpu".into()),
            threads: None,
            kernels: None,
            precision: None,
            lr_auto: None,
            ended: false,
        };
        save_checkpoint(&m, &c, &ck)
    };
    let s = |epochs| Schedule {
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
    let mut save_again = |_: usize, _: &[f64], _: &mut dyn Backend, _: Option<&Kept>| {
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
    let more = ["--epochs", "5", "--gpu-timeout", "0.000001"];
    let (_, err) = run_refused(&train_synthetic("262144", "16", "gpu", &more));
    assert!(err.contains("did not finish within"), "{err}");
}

#[test]
fn no_matching_adapter_says_what_was_tried_and_how_to_get_one() {
    let more = ["--adapter", "no-such-gpu-anywhere"];
    let (_, err) = run_refused(&train_synthetic("10", "2", "gpu", &more));
    assert!(
        err.contains("none named like 'no-such-gpu-anywhere'"),
        "{err}"
    );
    // Every adapter there is named as tried.
    for a in shadertrain::gpu::context::adapters() {
        let name = a.get_info().name;
        assert!(err.contains(&format!("{name} (")), "{name}: {err}");
    }
    assert!(err.contains("tried "), "{err}");
    // Installing lavapipe is suggested only where no software adapter is
    // there already (tests/messages.rs holds the other case).
    let software = shadertrain::gpu::context::adapters()
        .iter()
        .any(|a| shadertrain::gpu::context::is_software(&a.get_info()));
    assert!(software || err.contains("lavapipe"), "{err}");
}

/// Where the only adapter is a software one, `auto` trains on the CPU
/// and its notice says the software adapter is there, and runs on the CPU
/// too; lavapipe is installed in CI, so the case runs there.
#[test]
fn auto_names_a_software_adapter_as_running_on_the_cpu() {
    let infos: Vec<_> = (shadertrain::gpu::context::adapters().iter())
        .map(|a| a.get_info())
        .collect();
    let software = infos.iter().any(shadertrain::gpu::context::is_software);
    assert!(
        software || !common::in_ci(),
        "CI installs lavapipe: {infos:?}"
    );
    if !software
        || infos
            .iter()
            .any(|i| !shadertrain::gpu::context::is_software(i))
    {
        common::say_skipped(format_args!(
            "SKIPPED (needs a software adapter and no hardware one)"
        ));
        return;
    }
    let (_, err) = run_ok_out_err(&train_synthetic("10", "2", "auto", &["--epochs", "1"]));
    assert!(
        err.contains("training on the CPU: ") && err.contains("(a software adapter, which runs on the CPU itself and is usually slower than the cpu backend, is present; --backend gpu uses it)"),
        "{err}"
    );
    assert!(!err.contains("unused on the CPU"), "{err}");
    // The GPU's settings given go unused, and the notice says which.
    let gpu = [
        "--epochs",
        "1",
        "--kernels",
        "layered",
        "--gpu-timeout",
        "5",
    ];
    let (_, err) = run_ok_out_err(&train_synthetic("10", "2", "auto", &gpu));
    assert!(
        err.contains("is present; --backend gpu uses it); --kernels and --gpu-timeout are settings of the GPU backend, unused on the CPU"),
        "{err}"
    );
}

#[test]
fn impossible_runs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let [only_target, m] = paths(&dir, ["t.csv", "m.st"]);
    std::fs::write(&only_target, "y\n1\n2\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--data", &only_target],
            "expected at least one feature column",
        ),
        (
            vec!["--synthetic", "0", "--features", "3"],
            "--synthetic must be at least 1: it is the synthetic task's row count",
        ),
        (
            vec!["--synthetic", "5", "--features", "0"],
            "--features must be at least 1: it is the synthetic task's feature count",
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
        let (_, err) = run_refused(&train_synthetic("5", "2", "cpu", &[flag, &d]));
        assert!(
            err.contains(&format!("{flag}: {d} is a directory")),
            "{err}"
        );
    }
    // A checkpoint's history files beside it: either name taken by a
    // directory is refused before the run, and nothing is written.
    for side in ["ck.st.history", "ck.st.history.1"] {
        let [ck, side] = paths(&dir, ["ck.st", side]);
        std::fs::create_dir(&side).unwrap();
        let more = ["--checkpoint", &ck, "--checkpoint-every", "1", "--save", &m];
        let (_, err) = run_refused(&train_synthetic("5", "2", "cpu", &more));
        let says = format!(
            "--checkpoint: {side} is a directory, and a checkpoint at {ck} keeps its history"
        );
        assert!(err.contains(&says), "{err}");
        assert!(!Path::new(&ck).exists() && !Path::new(&m).exists());
        std::fs::remove_dir(&side).unwrap();
    }
}

#[test]
fn feature_mismatch_names_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b, m] = paths(&dir, ["a.csv", "b.csv", "m.st"]);
    std::fs::write(&a, "u,v,y\n1,2,3\n4,5,6\n").unwrap();
    std::fs::write(&b, "u,w,y\n1,2,3\n4,5,6\n").unwrap();
    run_ok(&train_data(&a, "cpu", &["--epochs", "1", "--save", &m]));
    let (_, err) = run_refused(&train_data(&b, "cpu", &["--init", &m, "--epochs", "1"]));
    assert!(err.contains("u, v") && err.contains("u, w"), "{err}");
    let (_, err) = run_refused(&["predict", "--model", &m, "--data", &b]);
    assert!(err.contains("missing feature column(s) v"), "{err}");
}

#[test]
fn a_run_on_gpu_generated_data_resumes_only_on_the_gpu() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let more = ["--epochs", "2", "--checkpoint", &ck];
    run_ok(&train_synthetic("200", "3", "gpu", &more));
    let (_, err) = run_refused(&train_resume(&ck, "cpu", &["--epochs", "4"]));
    assert!(err.contains("resume it with --backend gpu"), "{err}");
    let out = run_ok(&train_resume(&ck, "gpu", &["--epochs", "4"]));
    assert!(out.contains("generated on the GPU"), "{out}");
}

#[test]
fn bad_optimizer_settings_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let m = path(&dir, "m.st");
    for (args, says) in [
        (
            &["--optimizer", "momentum", "--momentum", "1"][..],
            "--momentum must be in [0, 1)",
        ),
        (
            &["--optimizer", "nesterov", "--momentum", "-0.1"],
            "--momentum must be in [0, 1)",
        ),
        (
            &["--optimizer", "adam", "--beta1", "1.5"],
            "--beta1 must be in [0, 1)",
        ),
        (
            &["--optimizer", "adam", "--beta2", "1"],
            "--beta2 must be in [0, 1)",
        ),
        (
            &["--optimizer", "adam", "--eps", "0"],
            "--eps must be a positive number",
        ),
        (
            &["--optimizer", "adam", "--eps=-1e-8"],
            "--eps must be a positive number",
        ),
        // Settings f32 holds as 0 or inf, which only the reference's f64
        // would run as asked.
        (
            &["--optimizer", "adam", "--eps", "1e-46"],
            "--eps 1e-46 is out of f32's range, in which the cpu and gpu backends hold it: it is below f32's least normal value, 1.1754944e-38, and would be 0 (subnormals are flushed) there; give a value from 1.1754944e-38 to 3.4028235e38",
        ),
        (&["--lr", "1e-50"], "--lr 1e-50 is out of f32's range"),
        (
            &["--optimizer", "adam", "--weight-decay", "1e300"],
            "--weight-decay 1e300 is out of f32's range, in which the cpu and gpu backends hold it: it is above f32's largest value, 3.4028235e38, and would be inf there",
        ),
        (&["--clip-grad-norm", "1e39"], "--clip-grad-norm 1e39 is out of f32's range"),
        (
            &["--optimizer", "lbfgs", "--history-size", "0"],
            "--history-size must be at least 1",
        ),
        (
            &["--optimizer", "lbfgs", "--gtol", "-1"],
            "--gtol must be 0 or more",
        ),
        (
            &["--optimizer", "adam", "--lr", "0"],
            "--lr must be a positive number",
        ),
        (
            &["--optimizer", "lbfgs", "--lr", "inf"],
            "--lr must be a finite positive number, not inf",
        ),
        (
            &["--optimizer", "adam", "--momentum", "0.5"],
            "--optimizer adam does not use --momentum",
        ),
        (&["--optimizer", "gd", "--beta1", "0.5"], "--optimizer gd does not use --beta1"),
        // Without --optimizer: the ones to name.
        (
            &["--beta1", "0.5"],
            "--beta1 needs --optimizer adam or adamw (without --optimizer, this run trains with lbfgs, which does not use it; where many rows choose adam in mini-batches, --optimizer adam --batch-size 200 --lr-schedule cosine --lr auto names that run)",
        ),
        (
            &["--lr", "0.1", "--momentum", "0.5"],
            "--momentum needs --optimizer momentum or nesterov (without --optimizer, this run trains with gd, which does not use it)",
        ),
        (
            &["--optimizer", "momentum", "--history-size", "3"],
            "does not use --history-size",
        ),
        (
            &["--optimizer", "adam", "--gtol", "1e-5"],
            "does not use --gtol",
        ),
        (
            &["--clip-grad-norm", "0"],
            "--clip-grad-norm must be a positive number",
        ),
        (
            &["--optimizer", "lbfgs", "--clip-grad-norm", "1"],
            "--optimizer lbfgs does not use --clip-grad-norm",
        ),
        (&["--target-loss", "-1"], "--target-loss must be 0 or more"),
        (&["--batch-size", "0"], "--batch-size must be at least 1"),
        (
            &["--optimizer", "lbfgs", "--batch-size", "10"],
            "--batch-size needs a first-order optimizer",
        ),
        (
            &["--shards", "2", "--batch-size", "10"],
            "--batch-size and --shards/--distributed cannot be combined",
        ),
        (
            &["--optimizer", "lbfgs", "--lr-schedule", "cosine"],
            "--lr-schedule needs a first-order optimizer",
        ),
        (
            &["--lr-every", "3"],
            "--lr-schedule constant does not use --lr-every",
        ),
        (
            &["--lr-schedule", "step"],
            "--lr-schedule step needs --lr-every",
        ),
        (
            &["--lr-schedule", "cosine", "--lr-min", "0.1"],
            "--lr-min must be at least 0 and below --lr (0.1)",
        ),
        (
            &[
                "--lr-schedule",
                "step",
                "--lr-every",
                "2",
                "--lr-gamma",
                "0",
            ],
            "--lr-gamma must be in (0, 1]",
        ),
        (
            &["--lr-schedule", "exponential"],
            "--lr-schedule exponential needs --lr-gamma",
        ),
        (
            &["--lr-schedule", "one-cycle", "--lr-pct-start", "0"],
            "--lr-pct-start must be in (0, 1), not 0",
        ),
        (
            &["--lr-schedule", "one-cycle", "--lr-min", "0.2"],
            "--lr-min must be at least 0 and below --lr (0.1)",
        ),
        (
            &[
                "--lr-schedule",
                "step",
                "--lr-every",
                "2",
                "--lr-pct-start",
                "0.5",
            ],
            "--lr-schedule step does not use --lr-pct-start",
        ),
    ] {
        let mut all = train_synthetic("50", "2", "cpu", &["--epochs", "3", "--save", &m]);
        all.extend_from_slice(args);
        let (ok, _, err) = shadertrain(&all);
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!Path::new(&m).exists(), "{args:?} wrote a model");
    }
}

/// Mini-batches run on the CPU backends: `--backend gpu` refuses them
/// before opening a device, and `auto` trains on the cpu backend and says
/// so.
#[test]
fn mini_batches_pick_the_cpu_unless_the_gpu_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let m = path(&dir, "m.st");
    let more = ["--epochs", "3", "--batch-size", "16", "--save", &m];
    let mut mixed = train_synthetic("50", "2", "gpu", &more);
    mixed.extend(["--precision", "mixed"]);
    let (_, err) = run_refused(&mixed);
    assert!(err.contains("--batch-size trains in f32"), "{err}");
    assert!(!Path::new(&m).exists());
    // On the cpu backend the precision itself is what is refused.
    let mut on_cpu = train_synthetic("50", "2", "cpu", &more);
    on_cpu.extend(["--precision", "mixed"]);
    let (_, err) = run_refused(&on_cpu);
    assert!(
        err.contains("--precision mixed runs on the GPU backend"),
        "{err}"
    );
    if have_gpu() {
        // The synthetic rows are made on the host, for the gather.
        let out = run_ok(&train_synthetic("50", "2", "gpu", &more));
        assert!(out.contains("kernels, mini-batches of 16"), "{out}");
        assert!(
            out.contains("batches   4 per epoch, of up to 16 rows each: 12 updates this run"),
            "{out}"
        );
        assert!(Path::new(&m).exists());
        std::fs::remove_file(&m).unwrap();
    }
    let (out, err) = run_ok_out_err(&train_synthetic("50", "2", "auto", &more));
    assert!(
        err.contains("training on the CPU: mini-batches (--batch-size 16)"),
        "{err}"
    );
    let kernels = [&more[..], &["--kernels", "tiled"]].concat();
    let (_, err) = run_ok_out_err(&train_synthetic("50", "2", "auto", &kernels));
    assert!(
        err.contains(
            "asks for the GPU; --kernels is a setting of the GPU backend, unused on the CPU"
        ),
        "{err}"
    );
    // A search's combinations have sizes of their own: the notice, said
    // once, names none.
    let search = ["--folds", "2", "--epochs", "2", "--grid", "batch-size=8,16"];
    let (_, err) = run_ok_out_err(&train_synthetic("50", "2", "auto", &search));
    let said = "training on the CPU: mini-batches (--batch-size) run on the cpu backend";
    assert_eq!(err.matches(said).count(), 1, "{err}");
    assert!(
        out.contains("cpu (f32, 1 thread, mini-batches of 16)"),
        "{out}"
    );
    // 50 rows: batches of 16, 16, 16 and 2, three epochs.
    assert!(
        out.contains("batches   4 per epoch, of up to 16 rows each: 12 updates this run"),
        "{out}"
    );
    assert!(Path::new(&m).exists());
    // A batch larger than the training rows is all of them.
    let whole = ["--epochs", "3", "--batch-size", "64"];
    let out = run_ok(&train_synthetic("50", "2", "cpu", &whole));
    assert!(
        out.contains("batches   1 per epoch, of up to 50 rows each: 3 updates this run"),
        "{out}"
    );
}

#[test]
fn resume_refuses_new_optimizer_settings_and_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let first = train_synthetic(
        "60",
        "2",
        "cpu",
        &[
            "--optimizer",
            "adam",
            "--lr",
            "0.02",
            "--epochs",
            "4",
            "--checkpoint",
            &ck,
        ],
    );
    run_ok(&first);
    for change in [
        &["--optimizer", "momentum"][..],
        &["--lr", "0.5"],
        &["--beta2", "0.9"],
    ] {
        let mut again = train_resume(&ck, "cpu", &["--epochs", "8"]);
        again.extend_from_slice(change);
        let (ok, _, err) = shadertrain(&again);
        assert!(!ok, "{change:?} was accepted with --resume");
        assert!(err.contains("cannot be used with"), "{change:?}: {err}");
        assert!(err.contains(change[0]), "{change:?}: {err}");
    }
    // The checkpoint names its optimizer, and a resume continues with it.
    let (_, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert_eq!(c.options["optimizer"]["name"], "adam");
    assert_eq!(c.optimizer.steps, 4);
    let names: Vec<&str> = c.optimizer.tensors.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["m", "v"]);
    let json = path(&dir, "s.json");
    run_ok(&train_resume(
        &ck,
        "cpu",
        &["--epochs", "8", "--json", &json],
    ));
    let v = common::read_json(&json);
    assert_eq!(
        v["optimizer"],
        "adam, lr 0.02, beta1 0.9, beta2 0.999, eps 1e-8"
    );
}

/// `--target-loss` is recorded: a run checkpointed before it met its
/// target and resumed stops where the whole run stopped, and a resume that
/// gives another target stops at that one.
#[test]
fn a_resumed_run_keeps_its_target_loss() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let fit = [
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
        "--hidden",
        "8",
        "--target-loss",
        "0.01",
        "-q",
        "--json",
        "-",
    ];
    let stop = |args: &[&str]| {
        let (ok, out, err) = shadertrain(args);
        assert!(ok, "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            v["epochs"].as_u64().unwrap(),
            v["stop"].as_str().unwrap().to_string(),
        )
    };
    let mut whole = train_synthetic("2000", "3", "cpu", &fit);
    whole.extend(["--epochs", "3000"]);
    let (epochs, reason) = stop(&whole);
    assert_eq!(reason, "target_reached");
    assert!((100..3000).contains(&epochs), "{epochs}");
    let mut first = train_synthetic("2000", "3", "cpu", &fit);
    first.extend(["--epochs", "100", "--checkpoint", &ck]);
    assert_eq!(stop(&first), (100, "max_epochs".to_string()));
    let resumed = train_resume(&ck, "cpu", &["--epochs", "3000", "-q", "--json", "-"]);
    assert_eq!(stop(&resumed), (epochs, reason));
    let mut looser = resumed.clone();
    looser.extend(["--target-loss", "0.5"]);
    // Met already by the checkpoint's loss: no epoch is run.
    assert_eq!(stop(&looser), (100, "target_reached".to_string()));
}

#[test]
fn adam_divergence_keeps_the_old_model() {
    let dir = tempfile::tempdir().unwrap();
    let m = path(&dir, "m.st");
    std::fs::write(&m, b"an older model").unwrap();
    let more = [
        "--optimizer",
        "adam",
        "--lr",
        "1e30",
        "--epochs",
        "20",
        "--save",
        &m,
    ];
    let (_, err) = run_refused(&train_synthetic("100", "3", "cpu", &more));
    assert!(err.contains("diverged at epoch"), "{err}");
    assert_eq!(std::fs::read(&m).unwrap(), b"an older model");
}

/// A loss not finite before any update: no rate led there, so the error
/// does not ask for a smaller one. Raw targets near 2e19 overflow the
/// GPU's f32 sum of squared errors (the cpu backend's f64 sum trains).
#[test]
fn a_loss_not_finite_before_any_update_names_its_cause() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "big.csv");
    let x = common::uniform(4, 1000, -1.0, 1.0);
    let mut text = String::from("a,b,y\n");
    for r in x.chunks_exact(2) {
        text += &format!("{},{},{:e}\n", r[0], r[1], (r[0] + r[1]) as f64 * 1e19);
    }
    std::fs::write(&csv, text).unwrap();
    let raw = ["--no-standardize", "--optimizer", "adam", "--epochs", "3"];
    let (ok, _, err) = shadertrain(&train_data(&csv, "gpu", &raw));
    assert!(!ok, "trained: {err}");
    assert!(
        err.contains("the loss before any update is inf, so no epoch trained (no --lr led there): the GPU sums the squared errors in f32")
            && err.contains("--standardize scales it"),
        "{err}"
    );
    assert!(!err.contains("smaller --lr"), "{err}");
    run_ok(&train_data(&csv, "cpu", &raw));
    // --lr auto's range test finds the same start, and names the same cause.
    let auto = [&raw[..], &["--lr", "auto"]].concat();
    let (_, err) = run_refused(&train_data(&csv, "gpu", &auto));
    assert!(
        err.contains("--lr auto: the starting parameters' loss is not finite, so no rate can be judged: the GPU sums the squared errors in f32")
            && err.contains("--standardize scales it"),
        "{err}"
    );
}
