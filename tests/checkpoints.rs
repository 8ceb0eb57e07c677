//! Checkpoints of long runs stay small and cost the same at any epoch;
//! a kill at any moment leaves a checkpoint that loads; a resume finds its
//! data from any folder and refuses data that are not the run's.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{gen_csv, path, paths, run_ok, run_ok_out_err, shadertrain, train_synthetic};
use shadertrain::io::{
    checkpoint_as_model, cut_short_checkpoint, holds_saved_model, load_checkpoint, load_model,
    model_to_bytes_with_state, AsModel, CheckpointView, CheckpointWriter,
};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::optim::Saved;
use shadertrain::train::Kept;

/// A checkpoint's view of a cpu run at `epoch` with `history`, `options`
/// and `optimizer`'s state, and nothing else recorded (no held-out
/// losses, data digest, kept parameters, threads, kernels, precision or
/// `--lr auto`).
fn cpu_view<'a>(
    epoch: usize,
    history: &'a [f64],
    options: &'a serde_json::Value,
    optimizer: &'a Saved,
) -> CheckpointView<'a> {
    CheckpointView {
        epoch,
        history,
        options,
        val_history: &[],
        optimizer,
        data: None,
        kept: None,
        backend: Some("cpu"),
        threads: None,
        kernels: None,
        precision: None,
        lr_auto: None,
        ended: false,
    }
}

/// Whether a checkpoint's run ended there, as a new run at its path reads
/// it: from `checkpoint_ended`, or, in a checkpoint written before that
/// entry, from its epoch against its options' --epochs.
#[test]
fn a_checkpoint_says_whether_its_run_ended_there() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model();
    let state = Saved::default();
    let ck = dir.path().join("ck.st");
    let write = |epoch: usize, options: &serde_json::Value, ended: bool| {
        let history = vec![0.5; epoch];
        let view = CheckpointView {
            ended,
            ..cpu_view(epoch, &history, options, &state)
        };
        CheckpointWriter::new(&ck, None)
            .write(&model, &view)
            .unwrap();
    };
    let options = serde_json::json!({"epochs": 3});
    write(1, &options, false);
    assert_eq!(cut_short_checkpoint(&ck), Some(1));
    assert!(!load_checkpoint(&ck).unwrap().1.ended);
    let as_model = |cut_short| AsModel {
        epoch: 1,
        cut_short,
        kept_epoch: None,
    };
    assert_eq!(checkpoint_as_model(&ck), Some(as_model(true)));
    write(1, &options, true);
    assert_eq!(cut_short_checkpoint(&ck), None);
    assert!(load_checkpoint(&ck).unwrap().1.ended);
    assert_eq!(checkpoint_as_model(&ck), Some(as_model(false)));
    // Written before the entry: ended where it reached its --epochs.
    let before = |epoch: usize, options: &serde_json::Value| {
        write(epoch, options, false);
        let bytes = std::fs::read(&ck).unwrap();
        let key = b"\"checkpoint_ended\"";
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
        let mut bytes = common::unsealed(&bytes);
        bytes[at + key.len() - 2] = b'x';
        std::fs::write(&ck, bytes).unwrap();
        cut_short_checkpoint(&ck)
    };
    assert_eq!(before(2, &options), Some(2));
    assert_eq!(before(3, &options), None);
    assert_eq!(before(2, &serde_json::json!({})), None);
    assert!(!holds_saved_model(&ck));
    // No checkpoint: a model, another file, none.
    std::fs::write(&ck, shadertrain::io::model_to_bytes(&model).unwrap()).unwrap();
    assert_eq!(cut_short_checkpoint(&ck), None);
    assert_eq!(checkpoint_as_model(&ck), None);
    assert!(holds_saved_model(&ck));
    std::fs::write(&ck, "x,y\n1,2\n").unwrap();
    assert_eq!(cut_short_checkpoint(&ck), None);
    assert_eq!(checkpoint_as_model(&ck), None);
    assert!(!holds_saved_model(&ck));
    assert!(!holds_saved_model(&dir.path().join("none.st")));
    assert_eq!(cut_short_checkpoint(&dir.path().join("none.st")), None);
    assert_eq!(checkpoint_as_model(&dir.path().join("none.st")), None);
}

/// The backend that wrote a checkpoint, its threads and its precision
/// round-trip; a name that is not a backend is refused, naming it, and so
/// is 0 threads.
#[test]
fn the_backend_a_checkpoint_names_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model();
    let (options, state) = (serde_json::json!({}), Saved::default());
    let cases = [
        (Some("gpu"), None),
        (Some("reference"), None),
        (None, None),
        (Some("tpu"), None),
    ];
    let cases = cases
        .into_iter()
        .chain([(Some("cpu"), Some(7)), (Some("cpu"), Some(0))])
        .chain([(Some("cpu"), Some(1025))]);
    for (i, (backend, threads)) in cases.enumerate() {
        // A GPU checkpoint also names its precision where it was mixed.
        let precision = (backend == Some("gpu")).then_some("mixed");
        let ck = dir.path().join(format!("ck{i}.st"));
        let view = CheckpointView {
            backend,
            threads,
            precision,
            ..cpu_view(1, &[0.5], &options, &state)
        };
        CheckpointWriter::new(&ck, None)
            .write(&model, &view)
            .unwrap();
        match (backend, load_checkpoint(&ck)) {
            (Some("tpu"), Err(e)) => {
                let e = e.to_string();
                assert!(
                    e.contains("metadata 'backend' (tpu) is not cpu, reference or gpu"),
                    "{e}"
                );
            }
            // None, or more than --threads takes.
            (_, Err(e)) if matches!(threads, Some(0 | 1025)) => {
                let e = e.to_string();
                let says = format!(
                    "metadata 'threads' ({}) is not a thread count from 1 to 1024",
                    threads.unwrap()
                );
                assert!(e.contains(&says), "{e}");
            }
            (_, Ok((_, read))) if !matches!(threads, Some(0 | 1025)) => {
                assert_eq!(read.backend.as_deref(), backend);
                assert_eq!(read.threads, threads);
                assert_eq!(read.precision.as_deref(), precision);
            }
            (_, read) => panic!("{backend:?} {threads:?}: {:?}", read.map(|r| r.1.threads)),
        }
    }
}

/// A 2 → 3 → 1 tanh network, for checkpoints written here.
fn small_model() -> Model {
    let layout = Layout::new(2, &[3]).unwrap();
    Model::init(
        layout,
        Activation::Tanh,
        1,
        vec!["a".into(), "b".into()],
        "y".into(),
    )
}

/// Runs the binary in the folder `cwd`; returns (success, stderr).
fn shadertrain_in(cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn size(p: impl AsRef<Path>) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Two million epochs of a 1 → 1 → 1 network on one row: the checkpoint
/// stays under a kilobyte (it held the history as JSON, tens of MB, and
/// past 4.5 million epochs could not be read), the history file holds 8
/// bytes an epoch, and the run resumes from it with the whole history.
#[test]
fn a_run_of_millions_of_epochs_keeps_a_small_checkpoint_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let [ck, json] = paths(&dir, ["ck.st", "r.json"]);
    // gd: L-BFGS converges on one row within a few epochs.
    let more = [
        "--hidden",
        "1",
        "--optimizer",
        "gd",
        "--threads",
        "1",
        "--quiet",
        "--epochs",
        "2000000",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "250000",
    ];
    let (ok, _, err) = shadertrain(&train_synthetic("1", "1", "cpu", &more));
    assert!(ok, "{err}");
    assert!(size(&ck) < 4096, "checkpoint of {} bytes", size(&ck));
    assert_eq!(size(format!("{ck}.history")), 16 + 8 * 2_000_000);
    let (_, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert_eq!((c.epoch, c.history.len()), (2_000_000, 2_000_000));
    // predict reads it as a model.
    load_model(Path::new(&ck)).unwrap();

    let (ok, _, err) = shadertrain(&[
        "train",
        "--resume",
        &ck,
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--quiet",
        "--epochs",
        "2000100",
        "--json",
        &json,
    ]);
    assert!(ok, "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["epochs"], 2_000_100);
    // No --checkpoint this time: the checkpoint is as it was.
    assert_eq!(load_checkpoint(Path::new(&ck)).unwrap().1, c);

    // The history file cut short, in its records or its header: said so.
    let history = format!("{ck}.history");
    let full = std::fs::read(&history).unwrap();
    for (len, says) in [
        (
            16 + 8 * 1000 + 3,
            "it holds 1000 records and the checkpoint needs 2000000",
        ),
        (
            9,
            "it is shorter than the 16 bytes of a history file's header",
        ),
    ] {
        std::fs::write(&history, &full[..len]).unwrap();
        let err = load_checkpoint(Path::new(&ck)).unwrap_err().to_string();
        assert!(err.contains("the file is cut short: "), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// The bytes this thread has passed to write(2) so far: the process's
/// count (`/proc/self/io`) takes in the other tests' writes, which run
/// beside it on threads of their own.
fn bytes_written() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// A checkpoint 1,000 epochs after the last costs the same bytes at epoch
/// 2,000 as at epoch 1,001,000: only the new records are appended, and the
/// checkpoint file has the same size but for the epoch's digits (the
/// history was rewritten whole, 20 MB at a million epochs).
#[test]
fn a_checkpoint_writes_as_many_bytes_late_in_a_run_as_early() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.st");
    let model = small_model();
    let history: Vec<f64> = (0..1_001_001).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let options = serde_json::json!({});
    let state = Saved::default();
    let view = |epoch| cpu_view(epoch, &history, &options, &state);
    let mut writer = CheckpointWriter::new(&ck, None);
    let mut cost = |epoch| {
        let before = bytes_written();
        writer.write(&model, &view(epoch)).unwrap();
        (bytes_written() - before, size(&ck))
    };
    cost(1_000);
    let early = cost(2_000);
    cost(1_000_000);
    let late = cost(1_001_000);
    // The same size but for the epoch counts' three more digits in the
    // header (twice), padded to 8 bytes.
    let sizes = format!("checkpoint file sizes {} and {}", early.1, late.1);
    assert!(late.1.abs_diff(early.1) <= 8, "{sizes}");
    // This thread's writes alone: other tests write on their own threads
    // or in child processes. They include the checkpoint file's. The
    // margin is a page.
    assert!(early.0 >= early.1, "{} bytes written, {sizes}", early.0);
    assert!(
        late.0 <= early.0 + 4096,
        "{} bytes written at epoch 1,001,000 against {} at 2,000",
        late.0,
        early.0
    );
    let (_, c) = load_checkpoint(&ck).unwrap();
    assert_eq!(c.history, history[..1_001_000]);
}

/// A checkpoint at an epoch before the last one written (a divergence
/// rolled back past a periodic checkpoint) loads with the history up to
/// its epoch, and the next one, after new losses, with those: the records
/// past the rollback are written over and counted again.
#[test]
fn a_checkpoint_after_a_rollback_loads_its_own_history() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.st");
    let model = small_model();
    let first: Vec<f64> = (0..5).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let mut again = first[..3].to_vec();
    again.extend([0.3, 0.2, 0.1]);
    let options = serde_json::json!({});
    let state = Saved::default();
    let view = |epoch, history| cpu_view(epoch, history, &options, &state);
    let mut writer = CheckpointWriter::new(&ck, None);
    writer.write(&model, &view(5, &first)).unwrap();
    writer.write(&model, &view(3, &first)).unwrap();
    let (_, c) = load_checkpoint(&ck).expect("the rolled-back checkpoint loads");
    assert_eq!((c.epoch, c.history), (3, first[..3].to_vec()));
    writer.write(&model, &view(6, &again)).unwrap();
    let (_, c) = load_checkpoint(&ck).expect("the checkpoint after it loads");
    assert_eq!((c.epoch, c.history), (6, again));
}

/// Checkpoints written to the same path by a run, by a new run over it and
/// by resumes in place, killed at several moments: what is left always
/// loads, with a history as long as its epoch, and one history file.
#[test]
fn a_kill_at_any_moment_leaves_a_checkpoint_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    let mut epochs_seen = Vec::new();
    for round in 0..6u64 {
        let mut args = vec!["train"];
        // Even rounds start a new run over the checkpoint, odd ones resume it.
        if round % 2 == 0 || !Path::new(&ck).exists() {
            args.extend(["--synthetic", "8", "--features", "2", "--hidden", "2"]);
        } else {
            args.extend(["--resume", &ck]);
        }
        args.extend([
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--quiet",
            "--epochs",
            "100000000",
            "--checkpoint",
            &ck,
            "--checkpoint-every",
            "1",
        ]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + 97 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        if !Path::new(&ck).exists() {
            continue;
        }
        let (_, c) =
            load_checkpoint(Path::new(&ck)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(c.history.len(), c.epoch);
        epochs_seen.push(c.epoch);
    }
    assert!(epochs_seen.iter().any(|&e| e > 0), "{epochs_seen:?}");
    let histories = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("ck.st.history")
        })
        .count();
    assert!(histories <= 2, "{histories} history files");
}

/// A checkpoint written before history files (the history as JSON in the
/// header, the data path relative) resumes from the folder it was made in,
/// and the next checkpoint moves its history to a file.
#[test]
fn a_checkpoint_with_its_history_in_the_header_still_resumes() {
    let dir = tempfile::tempdir().unwrap();
    gen_csv(&path(&dir, "d.csv"), "20", "2", "1");
    let first = ["--hidden", "3", "--epochs", "5", "--checkpoint", "new.st"];
    let mut args = vec!["train", "--data", "d.csv", "--backend", "cpu", "--quiet"];
    args.extend(first);
    let (ok, err) = shadertrain_in(dir.path(), &args);
    assert!(ok, "{err}");
    let (model, c) = load_checkpoint(&dir.path().join("new.st")).unwrap();
    let mut options = c.options.clone();
    options["data"] = "d.csv".into();
    let extra = [
        ("checkpoint_epoch", c.epoch.to_string()),
        ("history", serde_json::to_string(&c.history).unwrap()),
        ("options", options.to_string()),
    ];
    let old = dir.path().join("old.st");
    std::fs::write(
        &old,
        model_to_bytes_with_state(&model, &extra, &c.optimizer, None, None).unwrap(),
    )
    .unwrap();
    let (_, back) = load_checkpoint(&old).unwrap();
    assert_eq!((back.history.clone(), back.history_file), (c.history, None));
    let args = [
        "train",
        "--resume",
        "old.st",
        "--backend",
        "cpu",
        "--quiet",
        "--epochs",
        "8",
        "--checkpoint",
        "old.st",
    ];
    let (ok, err) = shadertrain_in(dir.path(), &args);
    assert!(ok, "{err}");
    let (_, after) = load_checkpoint(&old).unwrap();
    assert_eq!(after.epoch, 8);
    assert_eq!(after.history[..5], back.history[..]);
    assert!(after.history_file.is_some());
}

/// A run on `d.csv` in `dir/a`, checkpointed to `dir/r.ck` as `../r.ck`.
fn checkpointed_run(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let a = dir.path().join("a");
    std::fs::create_dir(&a).unwrap();
    gen_csv(&a.join("d.csv").to_string_lossy(), "30", "2", "1");
    let args = [
        "train",
        "--data",
        "d.csv",
        "--backend",
        "cpu",
        "--quiet",
        "--hidden",
        "3",
        "--epochs",
        "4",
        "--checkpoint",
        "../r.ck",
    ];
    let (ok, err) = shadertrain_in(&a, &args);
    assert!(ok, "{err}");
    a
}

/// `--resume ../r.ck` from another folder finds `d.csv`, which the run was
/// started on by a relative path.
#[test]
fn resume_from_another_folder_finds_the_data() {
    let dir = tempfile::tempdir().unwrap();
    checkpointed_run(&dir);
    let b = dir.path().join("b");
    std::fs::create_dir(&b).unwrap();
    let args = [
        "train",
        "--resume",
        "../r.ck",
        "--backend",
        "cpu",
        "--quiet",
        "--epochs",
        "6",
        "--save",
        "m.st",
    ];
    let (ok, err) = shadertrain_in(&b, &args);
    assert!(ok, "{err}");
    assert!(b.join("m.st").exists());
}

/// The data file moved elsewhere is accepted with `--data`; a file of
/// other values (another seed), moved or regenerated in place, is refused
/// with what differs, and no model is written.
#[test]
fn moved_data_resumes_and_other_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = checkpointed_run(&dir);
    let ck = path(&dir, "r.ck");
    let [moved, other, fewer, model] = paths(&dir, ["moved.csv", "other.csv", "fewer.csv", "m.st"]);
    std::fs::rename(a.join("d.csv"), &moved).unwrap();
    let resume = |data: Option<&str>| {
        let mut args = vec!["train", "--resume", &ck, "--backend", "cpu", "--quiet"];
        args.extend(["--epochs", "6", "--save", &model]);
        if let Some(d) = data {
            args.extend(["--data", d]);
        }
        shadertrain(&args)
    };
    // The recorded path no longer holds the data: the error says so and
    // what to give.
    let (ok, _, err) = resume(None);
    assert!(!ok, "resumed without its data");
    assert!(
        err.contains(
            "d.csv, which is not there now; if the file moved, give --data with its new path"
        ),
        "{err}"
    );
    let (ok, _, err) = resume(Some(&moved));
    assert!(ok, "{err}");
    std::fs::remove_file(&model).unwrap();

    // The same cells with the target column first: the digest, over the
    // cells in the file's order, differs, and the error says it may be
    // the order.
    common::reorder_columns(&moved, &other, &[2, 0, 1]);
    let (ok, _, err) = resume(Some(&other));
    assert!(
        !ok && err.contains("it has other values, or its columns in another order (FNV-1a digest"),
        "{err}"
    );
    gen_csv(&other, "30", "2", "2");
    let (ok, _, err) = resume(Some(&other));
    assert!(!ok, "resumed on another seed's data");
    assert!(
        err.contains("other.csv") && err.contains("other values"),
        "{err}"
    );
    gen_csv(&fewer, "29", "2", "1");
    let (ok, _, err) = resume(Some(&fewer));
    assert!(!ok && err.contains("29 rows, not 30"), "{err}");
    // Regenerated in place, under the recorded path.
    std::fs::copy(&other, a.join("d.csv")).unwrap();
    let (ok, _, err) = resume(None);
    assert!(!ok, "resumed on regenerated data");
    assert!(
        err.contains("d.csv") && err.contains("other values"),
        "{err}"
    );
    assert!(!Path::new(&model).exists(), "a model was written");
}

/// `--data` with `--resume` names the run's file, moved, which the
/// checkpoint's digest checks: a checkpoint that records no digest (one
/// written before digests were) cannot take it, even a file of the same
/// shape, nor can a run on synthetic rows, and neither writes a model.
#[test]
fn resume_data_needs_a_digest_to_check_and_a_file_to_replace() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, other, ck, old, model] = paths(&dir, ["d.csv", "o.csv", "ck.st", "old.st", "m.st"]);
    gen_csv(&csv, "20", "2", "1");
    gen_csv(&other, "20", "2", "2");
    let more = ["--hidden", "3", "--epochs", "3", "-q", "--checkpoint", &ck];
    run_ok(&common::train_data(&csv, "cpu", &more));
    // The same checkpoint without its metadata 'data', as older ones were.
    let (m, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert!(c.data.is_some(), "the run recorded no digest of its data");
    let extra = [
        ("checkpoint_epoch", c.epoch.to_string()),
        ("history", serde_json::to_string(&c.history).unwrap()),
        ("options", c.options.to_string()),
    ];
    let bytes = model_to_bytes_with_state(&m, &extra, &c.optimizer, None, None).unwrap();
    std::fs::write(&old, bytes).unwrap();
    let (ok, _, err) = resume_to(&old, "5", &["--data", &other, "--save", &model]);
    assert!(!ok, "--data was taken without a digest to check it by");
    let says = format!("{old} records no digest of its data (an older checkpoint), so --data cannot be checked against it");
    assert!(err.contains(&says), "{err}");
    // Synthetic rows: no file to replace.
    let synthetic = path(&dir, "s.st");
    let (ok, _, err) = new_run_at(&synthetic, "3", &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = resume_to(&synthetic, "5", &["--data", &csv, "--save", &model]);
    assert!(!ok, "--data replaced a run's synthetic rows");
    let says = format!("{synthetic} trains on synthetic data; --data cannot replace them");
    assert!(err.contains(&says), "{err}");
    assert!(
        !Path::new(&model).exists(),
        "a refused resume saved a model"
    );
}

/// `--keep best`'s parameters round-trip through a checkpoint, and a
/// checkpoint whose kept parameters do not fit its model or its epoch is
/// refused with what is wrong, naming the file.
#[test]
fn kept_parameters_round_trip_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::init(
        Layout::new(2, &[3]).unwrap(),
        Activation::Tanh,
        1,
        vec!["a".into(), "b".into()],
        "y".into(),
    );
    let kept = Kept {
        epoch: 2,
        loss: 0.25,
        params: (0..model.params.len()).map(|i| i as f32 / 8.0).collect(),
    };
    let write = |name: &str, epoch: usize, kept: &Kept| {
        let extra = [
            ("checkpoint_epoch", epoch.to_string()),
            ("history", serde_json::to_string(&vec![1.0; epoch]).unwrap()),
            ("options", "{}".to_string()),
        ];
        let path = dir.path().join(name);
        let bytes = model_to_bytes_with_state(&model, &extra, &Saved::default(), Some(kept), None);
        std::fs::write(&path, bytes.unwrap()).unwrap();
        path
    };
    let good = write("good.st", 3, &kept);
    let (back, c) = load_checkpoint(&good).unwrap();
    assert_eq!(c.kept.as_ref(), Some(&kept));
    let as_model = AsModel {
        epoch: 3,
        cut_short: false,
        kept_epoch: Some(2),
    };
    assert_eq!(checkpoint_as_model(&good), Some(as_model));
    // Kept at its own epoch: none other.
    let own = write("own.st", 2, &kept);
    assert_eq!(checkpoint_as_model(&own).unwrap().kept_epoch, None);
    assert_eq!(
        back.params, model.params,
        "the model is the last parameters"
    );
    let short = Kept {
        params: kept.params[1..].to_vec(),
        ..kept.clone()
    };
    let bad = write("short.st", 3, &short);
    let err = load_checkpoint(&bad).unwrap_err().to_string();
    assert!(
        err.contains("short.st") && err.contains("kept.params"),
        "{err}"
    );
    let late = write("late.st", 1, &kept);
    let err = load_checkpoint(&late).unwrap_err().to_string();
    assert!(
        err.contains("late.st") && err.contains("kept_epoch"),
        "{err}"
    );
}

/// predict and importance read a checkpoint as the model of its last
/// epoch and say so, naming the epoch `--keep` kept where it is another
/// (the model `--save` wrote holds those, and predicts otherwise); the
/// model file gets no such notice.
#[test]
fn a_checkpoint_read_as_a_model_says_whose_parameters_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, ck, model, json] = paths(&dir, ["d.csv", "c.ckpt", "m.st", "r.json"]);
    gen_csv(&csv, "200", "3", "1");
    // A rate high enough that the loss rises first: the best is early.
    let more = [
        "--optimizer",
        "gd",
        "--lr",
        "0.5",
        "--epochs",
        "60",
        "--keep",
        "best",
        "--checkpoint",
        &ck,
        "--save",
        &model,
        "--json",
        &json,
    ];
    run_ok(&common::train_data(&csv, "cpu", &more));
    let kept = common::read_json(&json)["kept"]["epoch"].as_u64().unwrap();
    assert!(kept < 60, "kept epoch {kept}");
    let notice = |says: &str| {
        format!("notice: {ck} is a checkpoint; {says} of its parameters after epoch 60; it also holds epoch {kept}'s, which --keep kept: those are what its run's --save writes, where it writes one\n")
    };
    for (command, says) in [
        ("predict", "these predictions are"),
        ("importance", "this ranking is"),
    ] {
        let read = |m: &str| run_ok_out_err(&[command, "--model", m, "--data", &csv]).1;
        assert_eq!(read(&ck).matches(&notice(says)).count(), 1, "{command}");
        assert!(!read(&model).contains("is a checkpoint"), "{command}");
        // --quiet leaves it unsaid; importance's table still prints.
        let quiet = [command, "--model", &ck, "--data", &csv, "--quiet"];
        let (out, err) = run_ok_out_err(&quiet);
        assert!(!err.contains("notice:"), "{command}: {err}");
        assert_eq!(
            out.contains("permutation importance"),
            command == "importance"
        );
    }
}

/// A run whose rate `--lr auto` chose, stopped while training at a rate
/// that later diverges, resumes as it would have gone on: it diverges,
/// is retried from the run's initial parameters at a third of the rate,
/// and ends bit for bit as the uninterrupted run, with the same report.
#[test]
fn an_lr_auto_run_resumed_retries_as_the_run_would_have() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, full, hf, jf, ck, res, hr, jr] = paths(
        &dir,
        [
            "sc.csv", "full.st", "hf.csv", "jf.json", "ck.st", "res.st", "hr.csv", "jr.json",
        ],
    );
    // A target of a large scale: the rate the test chooses blows up.
    let mut data = shadertrain::data::Dataset::synthetic(256, 4, 1).unwrap();
    for n in 0..data.rows {
        let x = data.row(n).to_vec();
        data.y[n] = 20.0 * x[0] * x[1] + 5.0 * (3.0 * x[2]).sin() + 2.0 * x[3] * x[3];
    }
    shadertrain::io::write_csv(Path::new(&csv), &data).unwrap();
    let run = |more: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            &csv,
            "--activation",
            "tanh",
            "--lr",
            "auto",
            "--lr-schedule",
            "one-cycle",
            "--lr-epochs",
            "300",
            "--backend",
            "cpu",
            "--threads",
            "2",
            "-q",
        ];
        args.extend_from_slice(more);
        let (ok, _, err) = shadertrain(&args);
        assert!(ok, "{err}");
    };
    run(&[
        "--epochs",
        "300",
        "--save",
        &full,
        "--history",
        &hf,
        "--json",
        &jf,
    ]);
    let report = |file: &str| {
        let mut v = common::read_json(file)["lr_range_test"].clone();
        v["wall_s"] = serde_json::Value::Null;
        for r in v["retries"].as_array_mut().unwrap() {
            r["wall_s"] = serde_json::Value::Null;
        }
        v
    };
    let found = report(&jf);
    let first = found["retries"][0]["epoch"].as_u64();
    assert!(
        first.is_some_and(|e| e > 50),
        "no retry after epoch 50: {found}"
    );
    // Stopped before the first divergence, and after it, in the retry
    // (a checkpoint that records the retry, whose loss JSON holds as null).
    let after = (first.unwrap() + 5).to_string();
    for stop in ["50", after.as_str()] {
        run(&["--epochs", stop, "--checkpoint", &ck]);
        let (ok, _, err) = shadertrain(&[
            "train",
            "--resume",
            &ck,
            "--epochs",
            "300",
            "--save",
            &res,
            "--history",
            &hr,
            "--json",
            &jr,
            "-q",
        ]);
        assert!(ok, "stopped at {stop}: {err}");
        let same = |a: &str, b: &str| std::fs::read(a).unwrap() == std::fs::read(b).unwrap();
        assert!(same(&full, &res), "stopped at {stop}: the models differ");
        assert!(same(&hf, &hr), "stopped at {stop}: the histories differ");
        assert_eq!(report(&jr), found, "stopped at {stop}");
    }
}

/// A resumed run whose checkpoint's run had stopped by one of its rules
/// trains no epoch, however large --epochs; a warning says so and names
/// what goes on: a lower --target-loss, which --resume takes, or a new
/// run with --init and a looser rule. A run that trains says nothing.
#[test]
fn a_resumed_run_that_had_stopped_by_its_rule_says_why_none_ran() {
    let dir = tempfile::tempdir().unwrap();
    let [tol, target] = paths(&dir, ["tol.ckpt", "target.ckpt"]);
    let rules = [
        (&tol, ["--tol", "1e-2"]),
        (&target, ["--target-loss", "0.2"]),
    ];
    for (checkpoint, rule) in rules {
        let first = train_synthetic(
            "200",
            "2",
            "cpu",
            &[
                &rule[..],
                &[
                    "--optimizer",
                    "adam",
                    "--lr",
                    "0.01",
                    "--epochs",
                    "3000",
                    "-q",
                    "--checkpoint",
                    checkpoint,
                ],
            ]
            .concat(),
        );
        let (ok, _, err) = shadertrain(&first);
        assert!(ok, "{err}");
        let stopped = load_checkpoint(Path::new(checkpoint)).unwrap().1.epoch;
        assert!(stopped < 3000, "{rule:?} did not stop the run");
        let (ok, _, err) = resume_to(checkpoint, "5000", &[]);
        assert!(ok, "{err}");
        let (says, remedy) = match rule[0] {
            "--tol" => (
                format!("warning: no epoch ran: the run in {checkpoint} had stopped at epoch {stopped}"),
                format!("start a new run from its parameters with --init {checkpoint}, the run's options and a smaller --tol or a larger --patience"),
            ),
            _ => (
                format!("warning: no epoch ran: the loss at epoch {stopped} of {checkpoint}, "),
                "was already at or below --target-loss 0.2, so the model is the checkpoint's; a lower --target-loss goes on (--resume takes one)".to_string(),
            ),
        };
        assert!(err.contains(&says) && err.contains(&remedy), "{err}");
        if rule[0] == "--target-loss" {
            assert_eq!(err.matches("warning:").count(), 1, "{err}");
        }
    }
    // A run stopped by --epochs, resumed with a --target-loss its loss
    // meets already: the same warning, and no other (it had said to train
    // longer, and that the checkpoint's run stopped by the target).
    let (ok, _, err) = new_run_at(&tol, "3", &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = resume_to(&tol, "10", &["--target-loss", "1e6"]);
    assert!(ok, "{err}");
    let says = format!("warning: no epoch ran: the loss at epoch 3 of {tol}, ");
    assert!(err.contains(&says), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    // Where --epochs, at the checkpoint's epoch, stopped it too, a lower
    // target would train nothing: not said.
    let (ok, _, err) = resume_to(&tol, "3", &["--target-loss", "1e6"]);
    assert!(
        ok && !err.contains(&says) && !err.contains("a lower --target-loss goes on"),
        "{err}"
    );
    let was = load_checkpoint(Path::new(&target)).unwrap().1.epoch;
    let lower = ["--target-loss", "0.1", "--checkpoint", &target];
    let (ok, _, err) = resume_to(&target, "5000", &lower);
    assert!(ok, "{err}");
    assert!(!err.contains("no epoch ran"), "{err}");
    assert!(load_checkpoint(Path::new(&target)).unwrap().1.epoch > was);
}

/// A resumed L-BFGS run's summary counts its epochs from the run's start
/// and its loss-and-gradient evaluations in this invocation, and says so.
#[test]
fn a_resumed_lbfgs_summary_says_whose_evaluations_it_counts() {
    let dir = tempfile::tempdir().unwrap();
    let [ck] = paths(&dir, ["lbfgs.ckpt"]);
    let first = train_synthetic("200", "2", "cpu", &["--epochs", "6", "--checkpoint", &ck]);
    let (ok, out, err) = shadertrain(&first);
    assert!(ok, "{err}");
    assert!(
        out.contains("epochs    6 (reached --epochs), ") && !out.contains("in this run's"),
        "{out}"
    );
    let (ok, out, err) = shadertrain(&["train", "--resume", &ck, "--epochs", "8"]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("epochs "))
        .unwrap_or_default();
    assert!(
        line.starts_with("epochs    8 (reached --epochs), ")
            && line.ends_with(" loss-and-gradient evaluations in this run's 2 epochs"),
        "{out}"
    );
}

/// A resumed first-order run's `--json` counts its epochs from the run's
/// start and its evaluations, one an update, in this invocation.
#[test]
fn a_resumed_adam_summary_counts_this_runs_evaluations() {
    let dir = tempfile::tempdir().unwrap();
    let [ck, json] = paths(&dir, ["adam.ckpt", "s.json"]);
    let (ok, _, err) = new_run_at(&ck, "5", &["--optimizer", "adam"]);
    assert!(ok, "{err}");
    let (ok, _, err) = resume_to(&ck, "8", &["--json", &json]);
    assert!(ok, "{err}");
    let v = common::read_json(&json);
    let counts = (v["epochs"].as_u64(), v["evaluations"].as_u64());
    assert_eq!(counts, (Some(8), Some(3)), "{v}");
}

/// A new run of `epochs` epochs on 100 synthetic rows of 2 features that
/// checkpoints to `checkpoint`, then `more`.
fn new_run_at(checkpoint: &str, epochs: &str, more: &[&str]) -> (bool, String, String) {
    let args = ["--epochs", epochs, "-q", "--checkpoint", checkpoint];
    shadertrain(&train_synthetic(
        "100",
        "2",
        "cpu",
        &[&args[..], more].concat(),
    ))
}

/// A 5-epoch run's checkpoint in `dir` and a copy of it under another
/// name: (the original, the copy, the original's history file).
fn checkpoint_and_copy(dir: &tempfile::TempDir) -> [String; 3] {
    let [original, copy, history] = paths(dir, ["sc.ckpt", "sc.bak", "sc.ckpt.history"]);
    let (ok, _, err) = new_run_at(&original, "5", &[]);
    assert!(ok, "{err}");
    std::fs::copy(&original, &copy).unwrap();
    [original, copy, history]
}

/// `train --resume CHECKPOINT --epochs EPOCHS -q`, then `more`.
fn resume_to(checkpoint: &str, epochs: &str, more: &[&str]) -> (bool, String, String) {
    let args = ["train", "--resume", checkpoint, "--epochs", epochs, "-q"];
    shadertrain(&[&args[..], more].concat())
}

/// A checkpoint past the --epochs of its resume is refused before any
/// work, naming its epoch and the remedy; at exactly its epoch the run
/// resumes and trains nothing.
#[test]
fn a_resume_with_fewer_epochs_than_its_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let [ck, saved] = paths(&dir, ["ck.ckpt", "m.st"]);
    let (ok, _, err) = new_run_at(&ck, "6", &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = resume_to(&ck, "4", &["--save", &saved]);
    assert!(!ok, "a resume to epoch 4 of a checkpoint at 6 was accepted");
    let says =
        format!("error: {ck} is at epoch 6, past --epochs 4; give a larger --epochs to continue");
    assert!(err.contains(&says), "{err}");
    assert!(!Path::new(&saved).exists(), "a refused run saved a model");
    let (ok, _, err) = resume_to(&ck, "6", &["--save", &saved]);
    assert!(ok, "{err}");
    let (at_checkpoint, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert_eq!(c.epoch, 6);
    assert_eq!(
        load_model(Path::new(&saved)).unwrap().params,
        at_checkpoint.params
    );
}

/// A checkpoint copied under another name reads the original's history
/// file; no output of a run resumed from the copy may overwrite it, so the
/// original still resumes.
#[test]
fn a_copied_checkpoints_history_file_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let [original, copy, history] = checkpoint_and_copy(&dir);
    let (ok, _, err) = resume_to(&copy, "10", &["--history", &history]);
    assert!(
        !ok,
        "--history over the history file the copy reads was accepted"
    );
    assert!(
        err.contains("--history: ") && err.contains("is a checkpoint's history file"),
        "{err}"
    );
    for checkpoint in [&copy, &original] {
        let (ok, _, err) = resume_to(checkpoint, "8", &[]);
        assert!(ok, "{checkpoint}: {err}");
    }
}

/// An error that ends a run after a periodic checkpoint (a device's; here
/// one the test build injects at a sharded run's pass 12) names that
/// checkpoint, its epoch and the --resume that continues from it, which
/// then trains to the end; one before any checkpoint says only the error.
#[test]
fn an_error_after_a_checkpoint_names_it_as_the_way_on() {
    let dir = tempfile::tempdir().unwrap();
    let [ck, early] = paths(&dir, ["e.ckpt", "f.ckpt"]);
    let run = |checkpoint: &str, fault: &str| {
        let args = [
            "--shards",
            "2",
            "--epochs",
            "30",
            "--checkpoint",
            checkpoint,
        ];
        common::shadertrain_env(
            &train_synthetic(
                "200",
                "2",
                "cpu",
                &[&args[..], &["--checkpoint-every", "5"]].concat(),
            ),
            &[("SHADERTRAIN_FAULT", Some(fault))],
        )
    };
    let (ok, _, err) = run(&ck, "error:0:12");
    let says = format!("error: the run stopped on an error after its checkpoint at epoch 10, in {ck}, which train --resume {ck} continues from: injected error at pass 12");
    assert!(!ok && err.contains(&says), "{err}");
    let (_, c) = load_checkpoint(Path::new(&ck)).unwrap();
    assert_eq!(c.epoch, 10);
    let (ok, out, err) = shadertrain(&["train", "--resume", &ck]);
    assert!(ok && out.contains("30 (reached --epochs)"), "{out}{err}");
    let (ok, _, err) = run(&early, "error:0:3");
    assert!(
        !ok && err.contains("error: injected error at pass 3"),
        "{err}"
    );
}

/// A history file with a damaged byte: resuming says the file is damaged
/// or written over, and a new run at the checkpoint's path is refused
/// with the checkpoint named as the one that names it, both files left
/// as they were.
#[test]
fn a_damaged_history_is_named_as_the_checkpoints_own() {
    let dir = tempfile::tempdir().unwrap();
    let [original, _, history] = checkpoint_and_copy(&dir);
    let mut bytes = std::fs::read(&history).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&history, &bytes).unwrap();
    let (ok, _, err) = resume_to(&original, "8", &[]);
    assert!(
        !ok && err.contains("its records do not match the checkpoint (FNV-1a digest ")
            && err.contains("): the file is damaged, or another run wrote over it"),
        "{err}"
    );
    let checkpoint = std::fs::read(&original).unwrap();
    let (ok, _, err) = new_run_at(&original, "5", &[]);
    let says = "sc.ckpt.history is the history the checkpoint at ";
    assert!(!ok && err.contains(says), "{err}");
    assert!(err.contains("its records do not match the checkpoint's (the file is damaged, or another run wrote over it)"), "{err}");
    assert_eq!(std::fs::read(&history).unwrap(), bytes);
    assert_eq!(std::fs::read(&original).unwrap(), checkpoint);
}

/// A checkpoint renamed away from its path still reads the history file
/// of that path's name: a new run checkpointing at the freed path is
/// refused before it trains rather than write over that file, and the
/// renamed checkpoint still resumes. Renamed with its history (as
/// NAME.history), it reads that one, and the path is free again.
#[test]
fn a_new_run_at_a_renamed_checkpoints_path_leaves_its_history_alone() {
    let dir = tempfile::tempdir().unwrap();
    let [original, _, history] = checkpoint_and_copy(&dir);
    let [kept, kept_history] = paths(&dir, ["kept.ckpt", "kept.ckpt.history"]);
    std::fs::rename(&original, &kept).unwrap();
    let before = std::fs::read(&history).unwrap();
    let again = || new_run_at(&original, "5", &[]);
    let (ok, _, err) = again();
    assert!(
        !ok,
        "a new run wrote a history over the renamed checkpoint's"
    );
    assert!(
        err.contains("holds a checkpoint's history that no checkpoint at")
            && err.contains("move it beside the checkpoint that reads it as NAME.history"),
        "{err}"
    );
    assert_eq!(std::fs::read(&history).unwrap(), before);
    assert!(
        !Path::new(&original).exists(),
        "the refused run wrote {original}"
    );
    let (ok, _, err) = resume_to(&kept, "7", &[]);
    assert!(ok, "{err}");
    // The history moved with it: the checkpoint reads it under its own
    // name, and the path takes a new run.
    std::fs::rename(&history, &kept_history).unwrap();
    let (ok, _, err) = resume_to(&kept, "7", &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = again();
    assert!(ok, "{err}");
    let (ok, _, err) = resume_to(&kept, "8", &["--checkpoint", &kept]);
    assert!(ok, "{err}");
    let resumed = load_checkpoint(Path::new(&kept)).unwrap();
    assert_eq!(resumed.1.epoch, 8);
    // A new run at the renamed checkpoint's own path replaces it and the
    // history it reads.
    let (ok, _, err) = new_run_at(&kept, "3", &[]);
    assert!(ok, "{err}");
    assert_eq!(load_checkpoint(Path::new(&kept)).unwrap().1.epoch, 3);
}

/// A checkpoint copied with its history (as NAME.history) reads the copy
/// where the original's is gone: a new run at the original's path, which
/// replaces its checkpoint, removes the old history once its first
/// checkpoint is written.
#[test]
fn a_checkpoint_copied_with_its_history_resumes_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let [original, copy, history] = checkpoint_and_copy(&dir);
    let [copy_history] = paths(&dir, ["sc.bak.history"]);
    std::fs::copy(&history, &copy_history).unwrap();
    let (ok, _, err) = new_run_at(&original, "5", &["--seed", "9"]);
    assert!(ok, "{err}");
    assert!(!Path::new(&history).exists(), "the replaced history stayed");
    let (ok, _, err) = resume_to(&copy, "7", &[]);
    assert!(ok, "{err}");
    // Its records, checked by their digest: another run's are refused.
    std::fs::copy(format!("{original}.history.1"), &copy_history).unwrap();
    let (ok, _, err) = resume_to(&copy, "7", &[]);
    assert!(!ok, "a history of other records was read");
    assert!(
        err.contains("cannot open this checkpoint's history file"),
        "{err}"
    );
}

/// No output writes over a checkpoint's history file, and neither
/// `predict` nor `--init` takes one for a model.
#[test]
fn a_history_file_is_no_output_and_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let [original, _, history] = checkpoint_and_copy(&dir);
    let before = std::fs::read(&history).unwrap();
    for flag in ["--save", "--json", "--history", "--checkpoint"] {
        let args = train_synthetic("100", "2", "cpu", &["--epochs", "2", "-q", flag, &history]);
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok, "{flag} wrote over a history file");
        assert!(
            err.contains(&format!("{flag}: {history} is a checkpoint's history file")),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(&history).unwrap(), before);
    let [rows] = paths(&dir, ["rows.csv"]);
    std::fs::write(&rows, "x0,x1,y\n0.5,0.25,1\n").unwrap();
    let (ok, _, err) = shadertrain(&["predict", "--model", &history, "--data", &rows]);
    assert!(!ok);
    assert!(
        err.contains("not a model file: it starts with STHIST01, as the history file beside a checkpoint does"),
        "{err}"
    );
    let (ok, _, err) = resume_to(&original, "6", &[]);
    assert!(ok, "{err}");
}

/// A run resumed from a copy that checkpoints at the original's path
/// starts a new history there, and leaves the original's old one, which
/// the copy reads: both still resume.
#[test]
fn a_run_resumed_from_a_copy_keeps_the_history_the_copy_reads() {
    let dir = tempfile::tempdir().unwrap();
    let [original, copy, history] = checkpoint_and_copy(&dir);
    let before = std::fs::read(&history).unwrap();
    let (ok, _, err) = resume_to(&copy, "10", &["--checkpoint", &original]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&history).ok(),
        Some(before.clone()),
        "the history file the copy reads was removed or changed"
    );
    // Again: the original's checkpoint now names the other history file,
    // so the new history's name is the copy's: it goes on from the copy's
    // records, which stay as they were.
    let (ok, _, err) = resume_to(&copy, "10", &["--checkpoint", &original]);
    assert!(ok, "{err}");
    let after = std::fs::read(&history).unwrap();
    assert!(
        after.len() > before.len() && after.starts_with(&before),
        "the copy's records changed: {} bytes, then {}",
        before.len(),
        after.len()
    );
    for checkpoint in [&copy, &original] {
        let (ok, _, err) = resume_to(checkpoint, "12", &[]);
        assert!(ok, "{checkpoint}: {err}");
    }
}

/// A file at either of the names a checkpoint keeps its history under
/// that is not such a history is refused, and kept as it was; an empty
/// one is taken.
#[test]
fn a_file_that_is_not_a_history_beside_the_checkpoint_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = path(&dir, "run");
    for side in ["run.history", "run.history.1"] {
        let stranger = path(&dir, side);
        std::fs::write(&stranger, "notes\n").unwrap();
        let args = train_synthetic(
            "50",
            "2",
            "cpu",
            &["--epochs", "2", "--checkpoint", &checkpoint],
        );
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok, "{side} written over");
        let says = format!("{stranger} is not a checkpoint's history");
        assert!(err.contains(&says), "{err}");
        assert_eq!(std::fs::read_to_string(&stranger).unwrap(), "notes\n");
        assert!(!Path::new(&checkpoint).exists());
        std::fs::write(&stranger, "").unwrap();
        let (ok, _, err) = shadertrain(&args);
        assert!(ok, "{side} empty: {err}");
        std::fs::remove_file(&checkpoint).unwrap();
        for name in ["run.history", "run.history.1"] {
            let _ = std::fs::remove_file(path(&dir, name));
        }
    }
}

/// Trains `options` on the cpu backend for `epochs` on `rows` × `features`
/// synthetic rows, with `more`.
fn train_cpu(rows: &str, features: &str, options: &[&str], epochs: &str, more: &[&str]) {
    let options = [options, &["--epochs", epochs], more].concat();
    let (ok, _, err) = shadertrain(&train_synthetic(rows, features, "cpu", &options));
    assert!(ok, "{err}");
}

/// A cpu-backend checkpoint records its threads, which order the sums, and
/// a resume without `--threads` takes them, so it goes on bit for bit as
/// the run not stopped, whatever this machine's cores.
#[test]
fn a_resume_on_the_cpu_keeps_the_threads_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let [checkpoint, whole, resumed] = paths(&dir, ["c.ck", "whole.st", "resumed.st"]);
    let adam = ["--optimizer", "adam", "--lr", "0.01", "--threads", "3"];
    let run = |epochs: &str, more: &[&str]| train_cpu("1000", "3", &adam, epochs, more);
    run("6", &["--checkpoint", &checkpoint]);
    run("12", &["--save", &whole]);
    let (_, c) = load_checkpoint(Path::new(&checkpoint)).unwrap();
    assert_eq!(c.threads, Some(3));
    let (ok, _, err) = resume_to(&checkpoint, "12", &["--save", &resumed]);
    assert!(ok, "{err}");
    common::assert_same_file(&whole, &resumed, "resumed against the run not stopped");
    // Without --threads, on the machine that wrote it: no notice, and the
    // held-out rows (more blocks than the training rows have) are scored
    // on the threads they were, so their losses go on bit for bit too.
    let [whole, resumed] = paths(&dir, ["whole.csv", "resumed.csv"]);
    let split = ["--validation-split", "0.75", "--lr", "0.05"];
    let run = |epochs: &str, more: &[&str]| train_cpu("200", "2", &split, epochs, more);
    run("3", &["--checkpoint", &checkpoint]);
    run("6", &["--history", &whole]);
    let rest = [
        "train",
        "--resume",
        &checkpoint,
        "--epochs",
        "6",
        "--history",
        &resumed,
    ];
    let (ok, _, err) = shadertrain(&rest);
    assert!(ok, "{err}");
    assert!(err.contains("notice: training on the cpu backend"), "{err}");
    assert!(!err.contains("as the run that wrote"), "{err}");
    assert!(!err.contains("lowered"), "{err}");
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&whole), read(&resumed), "held-out losses");
}

/// The reference backend's held-out rows are scored on the host, on
/// `--threads`' threads: its checkpoint records them too, and a resume on
/// it without `--threads` takes them, so the validation losses go on bit
/// for bit (they went on in the machine's cores' order). A resume on
/// another backend does not take them.
#[test]
fn a_resume_keeps_the_threads_that_scored_the_held_out_rows() {
    let dir = tempfile::tempdir().unwrap();
    let [checkpoint, whole, resumed] = paths(&dir, ["c.ck", "whole.csv", "resumed.csv"]);
    let options = [
        "--optimizer",
        "adam",
        "--hidden",
        "8",
        "--validation-split",
        "0.3",
        "--threads",
        "1",
    ];
    let run = |epochs: &str, more: &[&str]| {
        let all = [&options[..], &["--epochs", epochs], more].concat();
        run_ok(&train_synthetic("1500", "6", "reference", &all));
    };
    run("10", &["--history", &whole]);
    run("5", &["--checkpoint", &checkpoint]);
    let (_, c) = load_checkpoint(Path::new(&checkpoint)).unwrap();
    assert_eq!(c.threads, Some(1));
    let resume = |more: &[&str]| {
        let args = ["train", "--resume", &checkpoint, "--epochs", "10"];
        run_ok_out_err(&[&args[..], more].concat()).1
    };
    let err = resume(&["--history", &resumed]);
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&whole), read(&resumed), "held-out losses");
    // Said where this machine has more cores than the one thread.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taken = "notice: --threads 1, as the run that wrote";
    assert_eq!(err.contains(taken), cores > 1, "{err}");
    // On the cpu backend, whose own sums the threads order, it is another
    // run: the machine's threads, as asked.
    let err = resume(&["--backend", "cpu"]);
    assert!(!err.contains(taken), "{err}");
}

/// A checkpoint whose optimizer state has no step count, or whose kept
/// parameters have no epoch, is refused (Adam's count restarted, the kept
/// parameters were dropped); with both it loads.
#[test]
fn state_without_its_count_or_epoch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.st");
    let model = small_model();
    let options = serde_json::json!({});
    let state = Saved {
        steps: 3,
        tensors: vec![("m".into(), vec![0.5; model.params.len()])],
    };
    let kept = Kept {
        epoch: 1,
        loss: 0.25,
        params: model.params.clone(),
    };
    let view = CheckpointView {
        kept: Some(&kept),
        ..cpu_view(2, &[0.5, 0.4], &options, &state)
    };
    CheckpointWriter::new(&ck, None)
        .write(&model, &view)
        .unwrap();
    let (_, read) = load_checkpoint(&ck).unwrap();
    assert_eq!((read.optimizer.steps, read.kept.unwrap().epoch), (3, 1));
    let good = std::fs::read(&ck).unwrap();
    for (key, says) in [
        ("\"optimizer_steps\"", "no metadata 'optimizer_steps'"),
        ("\"kept_epoch\"", "no metadata 'kept_epoch'"),
    ] {
        let at = good
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .unwrap();
        let mut edited = common::unsealed(&good);
        edited[at + key.len() - 2] = b'x';
        std::fs::write(&ck, &edited).unwrap();
        let e = load_checkpoint(&ck).unwrap_err().to_string();
        assert!(e.contains(says), "{key}: {e}");
    }
    // Whether the run ended is true or false, nothing else.
    let (was, bad) = match read.ended {
        true => (
            "\"checkpoint_ended\":\"true\"",
            "\"checkpoint_ended\":\"yes!\"",
        ),
        false => (
            "\"checkpoint_ended\":\"false\"",
            "\"checkpoint_ended\":\"maybe\"",
        ),
    };
    std::fs::write(&ck, common::unsealed_with(&good, was, bad)).unwrap();
    let e = load_checkpoint(&ck).unwrap_err().to_string();
    assert!(e.contains("metadata 'checkpoint_ended' ("), "{e}");
    assert!(e.contains(") is not true or false"), "{e}");
}

/// A first-order optimizer's update count, which the checkpoint's metadata
/// holds apart from its tensors' digest, must be the checkpoint's epoch
/// times the updates an epoch makes: one (Adam's bias correction went on
/// from the count edited), or one per mini-batch (whose shuffle follows
/// it). Edited, the resume is refused, naming it. A gd checkpoint without
/// the entry, as written before it was recorded, resumes (read as 0).
#[test]
fn an_update_count_other_than_the_epochs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (batches, steps, edited) in [(None, "5", "9"), (Some("50"), "20", "21")] {
        let [ck] = paths(&dir, ["ck.st"]);
        let mut more = vec!["--optimizer", "adam", "--hidden", "4", "--checkpoint", &ck];
        if let Some(size) = batches {
            more.extend(["--batch-size", size]);
        }
        train_cpu("200", "3", &more, "5", &["--quiet"]);
        let good = std::fs::read(&ck).unwrap();
        let key = format!("\"optimizer_steps\":\"{steps}\"");
        let at = (good.windows(key.len()))
            .position(|w| w == key.as_bytes())
            .unwrap_or_else(|| panic!("{key}"));
        let mut bytes = common::unsealed(&good);
        let count = at + key.len() - 1 - steps.len();
        bytes[count..count + steps.len()].copy_from_slice(edited.as_bytes());
        std::fs::write(&ck, &bytes).unwrap();
        let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--epochs", "8"]);
        let says =
            format!("metadata 'optimizer_steps' is {edited}, where a checkpoint at epoch 5 of");
        assert!(!ok && err.contains(&says), "{err}");
        std::fs::write(&ck, &good).unwrap();
        let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--epochs", "8", "--quiet"]);
        assert!(ok, "{err}");
    }
    let [ck] = paths(&dir, ["gd.st"]);
    let more = ["--optimizer", "gd", "--hidden", "4", "--checkpoint", &ck];
    train_cpu("200", "3", &more, "5", &["--quiet"]);
    let mut bytes = std::fs::read(&ck).unwrap();
    let entry = b"\"optimizer_steps\":\"5\",";
    let at = (bytes.windows(entry.len()))
        .position(|w| w == entry)
        .expect("the count, followed by another entry");
    bytes[at..at + entry.len()].fill(b' ');
    std::fs::write(&ck, common::unsealed(&bytes)).unwrap();
    let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--epochs", "8", "--quiet"]);
    assert!(ok, "{err}");
}

/// A checkpoint whose recorded options are refused (a cosine schedule of
/// 0 epochs, edited in) says so and nothing else: no notice of the
/// schedule's end at a rate of NaN before it.
#[test]
fn a_resume_with_refused_options_says_only_why() {
    let dir = tempfile::tempdir().unwrap();
    let [ck] = paths(&dir, ["ck.st"]);
    let cosine = [
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--lr-schedule",
        "cosine",
    ];
    train_cpu(
        "200",
        "3",
        &cosine,
        "5",
        &["--hidden", "4", "--checkpoint", &ck, "--quiet"],
    );
    let good = std::fs::read(&ck).unwrap();
    let (was, edited) = ("\\\"epochs\\\":5,\\\"min_lr", "\\\"epochs\\\":0,\\\"min_lr");
    std::fs::write(&ck, common::unsealed_with(&good, was, edited)).unwrap();
    let (ok, _, err) = shadertrain(&["train", "--resume", &ck, "--epochs", "8"]);
    assert!(!ok, "{err}");
    assert_eq!(
        err.trim(),
        "error: --lr-epochs (by default --epochs) must be at least 1"
    );
}

/// A run on rows piped in resumes from the same rows piped in again, to
/// the bytes of the model a run that did not stop saves; with nothing
/// piped in, the resume is refused, saying to pipe them in again.
#[test]
fn a_run_on_standard_input_resumes_from_its_rows_piped_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, ck, whole, resumed] = paths(&dir, ["d.csv", "ck.st", "whole.st", "resumed.st"]);
    gen_csv(&csv, "60", "2", "3");
    let rows = std::fs::read(&csv).unwrap();
    let run = |more: &[&str], input: &[u8]| {
        let (ok, _, err) = common::shadertrain_stdin(more, input);
        (ok, err)
    };
    fn new<'a>(more: &[&'a str]) -> Vec<&'a str> {
        let base = ["train", "--data", "-", "--backend", "cpu"];
        [
            &base[..],
            &["--optimizer", "adam", "--lr", "0.01", "-q"],
            more,
        ]
        .concat()
    }
    let (ok, err) = run(&new(&["--epochs", "10", "--save", &whole]), &rows);
    assert!(ok, "{err}");
    let (ok, err) = run(&new(&["--epochs", "4", "--checkpoint", &ck]), &rows);
    assert!(ok, "{err}");
    let again = ["train", "--resume", &ck, "--epochs", "10", "-q"];
    let (ok, err) = run(&again, b"");
    assert!(
        !ok && err.contains("standard input is empty; --resume reads the run's rows from it, as the run did: pipe the same rows in again, or give --data FILE with them"),
        "{err}"
    );
    let (ok, err) = run(&[&again[..], &["--save", &resumed]].concat(), &rows);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&resumed).unwrap()
    );
}

/// A GPU run's `--kernels` other than auto is recorded in its checkpoint,
/// and a resume without `--kernels` takes them, with a notice, so that it
/// goes on bit for bit; a resume on the cpu backend does not.
#[test]
fn a_resume_keeps_the_kernels_the_run_asked_for() {
    if !common::have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [csv, ck, full, resumed] = paths(&dir, ["d.csv", "ck.st", "full.st", "res.st"]);
    gen_csv(&csv, "200", "3", "5");
    let run = |more: &[&str]| {
        let mut args = common::train_data(&csv, "gpu", &["--hidden", "8", "--optimizer", "adam"]);
        args.extend_from_slice(more);
        common::run_ok(&args);
    };
    run(&["--kernels", "wide", "--epochs", "6", "--save", &full, "-q"]);
    run(&[
        "--kernels",
        "wide",
        "--epochs",
        "3",
        "--checkpoint",
        &ck,
        "-q",
    ]);
    assert_eq!(
        load_checkpoint(Path::new(&ck))
            .unwrap()
            .1
            .kernels
            .as_deref(),
        Some("wide")
    );
    let (ok, out, err) = shadertrain(&[
        "train", "--resume", &ck, "--epochs", "6", "--save", &resumed,
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("notice: --kernels wide, as the run that wrote ")
            && out.contains("wide kernels"),
        "{out}{err}"
    );
    assert_eq!(
        std::fs::read(&full).unwrap(),
        std::fs::read(&resumed).unwrap()
    );
    let (ok, _, err) = shadertrain(&common::train_resume(&ck, "cpu", &["--epochs", "6"]));
    assert!(ok && !err.contains("--kernels"), "{err}");
    // A run of the default kernels records none.
    run(&["--epochs", "3", "--checkpoint", &ck, "-q"]);
    assert_eq!(load_checkpoint(Path::new(&ck)).unwrap().1.kernels, None);
}

/// A checkpoint's kept parameters, their loss and its optimizer's state
/// are read as finite numbers: a NaN or an infinity in any of them (which
/// would resume a run from parameters or moments gone bad) is refused,
/// naming the file and the tensor or entry; the same checkpoint with
/// finite values loads.
#[test]
fn non_finite_kept_parameters_or_optimizer_state_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model();
    let p = model.params.len();
    let extra = [
        ("checkpoint_epoch", "3".to_string()),
        ("history", "[1.0,0.5,0.25]".to_string()),
        ("options", "{}".to_string()),
    ];
    let kept = Kept {
        epoch: 2,
        loss: 0.5,
        params: vec![0.25; p],
    };
    let state = Saved {
        steps: 3,
        tensors: vec![("m".into(), vec![0.5; p])],
    };
    let load = |name: &str, state: &Saved, kept: &Kept| {
        let path = dir.path().join(name);
        let bytes = model_to_bytes_with_state(&model, &extra, state, Some(kept), None);
        std::fs::write(&path, bytes.unwrap()).unwrap();
        load_checkpoint(&path).map_err(|e| e.to_string())
    };
    let (_, c) = load("good.st", &state, &kept).unwrap();
    assert_eq!((c.kept.as_ref(), &c.optimizer), (Some(&kept), &state));
    for v in [f32::NAN, f32::INFINITY] {
        let mut bad = kept.clone();
        bad.params[p - 1] = v;
        let err = load("kept.st", &state, &bad).unwrap_err();
        assert!(
            err.contains("kept.st")
                && err.contains("tensor 'kept.params' holds a non-finite value"),
            "{v}: {err}"
        );
    }
    for loss in [f64::NAN, f64::INFINITY] {
        let bad = Kept {
            loss,
            ..kept.clone()
        };
        let err = load("loss.st", &state, &bad).unwrap_err();
        assert!(
            err.contains("loss.st")
                && err.contains("metadata 'kept_loss' is missing or not a finite number"),
            "{loss}: {err}"
        );
    }
    for v in [f64::NAN, f64::NEG_INFINITY] {
        let mut bad = state.clone();
        bad.tensors[0].1[0] = v;
        let err = load("state.st", &bad, &kept).unwrap_err();
        assert!(
            err.contains("state.st")
                && err.contains("tensor 'optimizer.m' holds a non-finite value"),
            "{v}: {err}"
        );
    }
}

/// A history file whose losses are not all finite (damaged: no run
/// checkpoints a loss that is not) is refused, naming the file and how
/// many of its losses are finite.
#[test]
fn a_history_with_a_loss_that_is_not_finite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model();
    let options = serde_json::json!({});
    let state = Saved::default();
    for (name, bad) in [("nan.st", f64::NAN), ("inf.st", f64::INFINITY)] {
        let ck = dir.path().join(name);
        let history = [1.0, bad, 0.25];
        let view = cpu_view(3, &history, &options, &state);
        CheckpointWriter::new(&ck, None)
            .write(&model, &view)
            .unwrap();
        let err = load_checkpoint(&ck).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("the history holds 2 finite losses; expected 3"),
            "{bad}: {err}"
        );
    }
}
