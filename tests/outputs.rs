//! Outputs never lose work: devices, FIFOs and symlinks are written, not
//! replaced; one file is never two of a run's paths; a failing extra output
//! keeps the model and says so, in the error and in the JSON; standard
//! output that cannot be written is a clean error or, for a closed pipe, a
//! quiet end.
//!
//! Device nodes and mounts need root: where they cannot be made the test
//! prints SKIPPED, and under CI=true it fails instead.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::BENCH_S0;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shadertrain"))
}

/// (success, stdout, stderr) of one run.
fn run(args: &[&str]) -> (bool, String, String) {
    let out = bin().args(args).output().expect("the binary runs");
    text(out)
}

fn text(out: Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `script` run by `sh -c`, with the binary as `$0` and `file` as `$1`.
fn in_shell(script: &str, file: &Path) -> (bool, String, String) {
    let out = Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_shadertrain")])
        .arg(file)
        .output()
        .unwrap();
    text(out)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Says a test cannot run here; under CI=true that is a failure.
fn skip(why: &str) {
    // CI set, and not empty, 0 or false (tests/common's in_ci).
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
        panic!("cannot run under CI=true: {why}");
    }
    common::say_skipped(format_args!("SKIPPED: {why}"));
}

/// A small CSV data set and a model trained on it, in `dir`.
fn data_and_model(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("d.csv");
    let model = dir.join("m.st");
    let (ok, _, err) = run(&["gen", "--rows", "200", "--features", "3", "--out", s(&data)]);
    assert!(ok, "{err}");
    let (ok, _, err) = train(&data, &["--save", s(&model)]);
    assert!(ok, "{err}");
    (data, model)
}

/// Two epochs on `data` on the cpu backend, through 2 hidden units.
fn two_epochs(data: &Path) -> [&str; 9] {
    let data = s(data);
    [
        "train",
        "--data",
        data,
        "--backend",
        "cpu",
        "--hidden",
        "2",
        "--epochs",
        "2",
    ]
}

/// `predict` of `data` by `model` into `out`, with more options.
fn predict<'a>(model: &'a Path, data: &'a Path, out: &'a Path, more: &[&'a str]) -> Vec<&'a str> {
    let args = [
        "predict",
        "--model",
        s(model),
        "--data",
        s(data),
        "--out",
        s(out),
    ];
    [&args, more].concat()
}

/// A short CPU run on `data` with more options.
fn train(data: &Path, more: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "train",
        "--data",
        s(data),
        "--backend",
        "cpu",
        "--hidden",
        "4",
        "--epochs",
        "5",
        "--quiet",
    ];
    args.extend(more);
    run(&args)
}

/// `mknod path c 1 3` (a null device); false where it cannot be made.
fn null_device(path: &Path) -> bool {
    Command::new("mknod")
        .args([s(path), "c", "1", "3"])
        .status()
        .is_ok_and(|st| st.success())
}

fn is_char_device(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

#[test]
fn a_device_node_is_written_through_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let dev = dir.path().join("null");
    if !null_device(&dev) {
        return skip("mknod failed (not root?)");
    }
    let (ok, _, err) = train(&data, &["--history", s(&dev), "--json", s(&dev)]);
    assert!(ok, "{err}");
    assert!(is_char_device(&dev), "--history replaced the device");
    let (ok, _, err) = run(&predict(&model, &data, &dev, &[]));
    assert!(ok, "{err}");
    assert!(is_char_device(&dev), "--out replaced the device");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A FIFO made in `dir`.
fn made_fifo(dir: &Path) -> PathBuf {
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    fifo
}

#[test]
fn a_fifo_is_written_through_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let fifo = made_fifo(dir.path());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let (ok, _, err) = run(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--out",
        s(&fifo),
    ]);
    assert!(ok, "{err}");
    let got = reader.join().unwrap();
    assert!(got.starts_with("y_pred\n"), "{got:.80}");
    assert_eq!(got.lines().count(), 201);
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "--out replaced the FIFO");
}

/// A FIFO whose reader stops early ends the predictions only, as a
/// closed standard output does: the scores and `--json` still come, and
/// the command succeeds.
#[test]
fn a_fifo_closed_early_still_gets_the_scores_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = data_and_model(dir.path());
    // More predictions than a pipe's buffer holds (64 KiB on Linux).
    let data = dir.path().join("big.csv");
    let (ok, _, err) = run(&[
        "gen",
        "--rows",
        "20000",
        "--features",
        "3",
        "--out",
        s(&data),
    ]);
    assert!(ok, "{err}");
    let (fifo, json) = (made_fifo(dir.path()), dir.path().join("s.json"));
    // Reads one byte and closes.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut byte = [0u8; 1];
            std::fs::File::open(fifo)
                .unwrap()
                .read_exact(&mut byte)
                .unwrap();
        })
    };
    let (ok, out, err) = run(&predict(&model, &data, &fifo, &["--json", s(&json)]));
    reader.join().unwrap();
    assert!(ok, "{err}");
    assert!(out.starts_with("mse ") && out.contains(" r² "), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["mse"].as_f64().is_some(), "{v}");
}

/// What `/dev/stdout` is (a link into /proc), made in a temp folder: the
/// output goes to the process's standard output and the link stays.
#[test]
fn a_link_to_standard_output_writes_there() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let (ok, out, err) = run(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--out",
        s(&link),
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("y_pred\n"), "{out:.80}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// An output that is standard output holds only what was asked for: the
/// command's report (train's summary, predict's scores, gen's line) goes
/// to standard error instead, also where standard output is the null
/// device. A file behind standard output is written on from where the
/// shell left it, so `>>` appends.
#[test]
fn an_output_on_standard_output_gets_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let preds = dir.path().join("p.csv");
    let json = |args: &[&str]| {
        let (ok, out, err) = run(args);
        assert!(ok, "{err}");
        let parsed: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?}: standard output is not JSON ({e}): {out:.200}"));
        (parsed, err)
    };
    let (scores, err) = json(&predict(&model, &data, &preds, &["--json", "/dev/stdout"]));
    assert_eq!(scores["rows"], 200);
    assert!(err.starts_with("mse "), "{err}");
    // Three epochs' summary as JSON to `json`.
    let train = |json: &'static str| -> Vec<&str> {
        let args = ["--backend", "cpu", "--epochs", "3", "--json", json];
        [&["train", "--data", s(&data)][..], &args].concat()
    };
    let (summary, err) = json(&train("/dev/stdout"));
    assert_eq!(summary["epochs"], 3);
    assert!(err.contains("epochs    3 (reached --epochs)"), "{err}");
    // Two outputs on standard output would mix: refused, whatever their
    // names for it.
    for (args, says) in [
        (
            predict(&model, &data, Path::new("/dev/stdout"), &["--json", "-"]),
            "--out and --json both write to standard output",
        ),
        (
            vec!["predict", "--model", s(&model), "--data", s(&data), "--json", "-"],
            "--json and the predictions (no --out) both write to standard output",
        ),
        (
            vec!["train", "--data", s(&data), "--json", "-", "--history", "/dev/stdout"],
            "--history and --json both write to standard output, where they would mix; give one of them a file",
        ),
        (
            vec!["train", "--data", s(&data), "--folds", "2", "--save", "-", "--json", "-", "--fold-predictions", "/dev/stdout"],
            "--save and --json and --fold-predictions all write to standard output, where they would mix; give all but one of them a file",
        ),
    ] {
        let (ok, out, err) = run(&args);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    // Without such an output the report stays on standard output.
    let (ok, out, _) = run(&predict(&model, &data, &preds, &[]));
    assert!(ok && out.starts_with("mse "), "{out}");
    // Standard output sent to the null device is still standard output
    // where an output names it: the report is not thrown away with it.
    let to_null = |args: &[&str]| {
        let done = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(done.status.success(), "{args:?}");
        String::from_utf8_lossy(&done.stderr).into_owned()
    };
    let err = to_null(&["gen", "--rows", "3", "--features", "2", "--out", "-"]);
    assert!(
        err.contains("wrote 3 rows × 2 features to standard output"),
        "{err}"
    );
    let err = to_null(&train("-"));
    assert!(err.contains("epochs    3 (reached --epochs)"), "{err}");

    // gen into a file the shell opened for appending, by each name of
    // standard output (/dev/fd/1 and /proc/self/fd/1 link straight to the
    // file): what was there stays.
    let file = dir.path().join("appended.csv");
    for name in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
        std::fs::write(&file, "kept\n").unwrap();
        let append = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        let out = bin()
            .args(["gen", "--rows", "2", "--features", "2", "--out", name])
            .stdout(append)
            .output()
            .unwrap();
        let (ok, _, err) = text(out);
        assert!(ok, "{name}: {err}");
        assert_eq!(
            err, "wrote 2 rows × 2 features to standard output\n",
            "{name}"
        );
        let written = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 4, "{name}: {written}");
        assert_eq!(lines[..2], ["kept", "x0,x1,y"], "{name}: {written}");
    }
}

#[test]
fn a_symlink_is_followed_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let sub = dir.path().join("models");
    std::fs::create_dir(&sub).unwrap();
    let real = sub.join("real.st");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.st");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // A dangling link names the file to create.
    let dangling = dir.path().join("h.csv");
    std::os::unix::fs::symlink("models/h-real.csv", &dangling).unwrap();
    let (ok, _, err) = train(&data, &["--save", s(&link), "--history", s(&dangling)]);
    assert!(ok, "{err}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    shadertrain::io::load_model(&real).expect("the link's target holds the model");
    assert!(std::fs::read_to_string(sub.join("h-real.csv"))
        .unwrap()
        .starts_with("epoch,loss"));
}

#[test]
fn one_file_is_never_two_of_a_runs_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let before = std::fs::read(&data).unwrap();
    let out = |n: &str| dir.path().join(n);
    let alias = out("alias.csv");
    std::os::unix::fs::symlink(&data, &alias).unwrap();
    let st = out("x.st");
    let (ck, ck_history, ck_first) = (
        out("k.ckpt"),
        out("k.ckpt.history.1"),
        out("k.ckpt.history"),
    );
    let cases: Vec<Vec<&str>> = vec![
        // A checkpoint's history file beside it.
        vec!["--checkpoint", s(&ck), "--history", s(&ck_history)],
        vec!["--checkpoint", s(&ck), "--save", s(&ck_first)],
        vec!["--save", s(&data)],
        vec!["--history", s(&data)],
        vec!["--history", s(&alias)],
        vec!["--save", s(&st), "--history", s(&st)],
        vec!["--save", s(&st), "--json", s(&st)],
        vec!["--save", s(&st), "--checkpoint", s(&st)],
        vec!["--history", "h.csv", "--json", "./h.csv"],
    ];
    for case in &cases {
        let (ok, _, err) = train(&data, case);
        assert!(!ok, "{case:?} was accepted");
        assert!(err.contains("the same file"), "{case:?}: {err}");
        assert!(!st.exists(), "{case:?} wrote before refusing");
    }
    assert_eq!(std::fs::read(&data).unwrap(), before);
    let m = std::fs::read(&model).unwrap();
    for out in [&model, &data] {
        let (ok, _, err) = run(&[
            "predict",
            "--model",
            s(&model),
            "--data",
            s(&data),
            "--out",
            s(out),
        ]);
        assert!(!ok && err.contains("the same file"), "{err}");
    }
    assert_eq!(std::fs::read(&model).unwrap(), m);
    assert_eq!(std::fs::read(&data).unwrap(), before);
    // Continuing a model or a checkpoint in place stays allowed.
    let (ok, _, err) = train(&data, &["--init", s(&model), "--save", s(&model)]);
    assert!(ok, "{err}");
    let (ok, _, err) = train(&data, &["--checkpoint", s(&ck)]);
    assert!(ok, "{err}");
    let resume = [
        "train",
        "--resume",
        s(&ck),
        "--epochs",
        "6",
        "--checkpoint",
        s(&ck),
    ];
    let (ok, _, err) = run(&resume);
    assert!(ok, "{err}");
    // The history a resume reads is not an output either.
    let (ok, _, err) = run(&[&resume[..3], &["--history", s(&ck_history)]].concat());
    assert!(!ok, "a resume overwrote its history");
    assert!(err.contains("--resume's history file"), "{err}");
}

/// A mount (a folder's, or a file's bind mount) that is unmounted when
/// dropped; [`Mount::new`] mounts a new folder, or gives None (not root).
struct Mount(PathBuf);

impl Mount {
    fn new(dir: &Path, how: &[&str]) -> Option<Mount> {
        std::fs::create_dir(dir).unwrap();
        let ok = Command::new("mount")
            .args(how)
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn unwritable_outputs_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let good = dir.path().join("good.st");
    // A trailing slash names a folder.
    let slash = format!("{}/", s(&dir.path().join("m.st")));
    let (ok, _, err) = train(&data, &["--save", &slash]);
    assert!(
        !ok && err.contains("m.st/ ends in '/', as a directory's name does"),
        "{err}"
    );
    let folder = format!("{}/", s(dir.path()));
    let (ok, _, err) = train(&data, &["--save", &folder]);
    assert!(!ok && err.contains("/ is a directory"), "{err}");
    let ro = dir.path().join("ro");
    let src = s(&ro).to_string();
    let Some(_mount) = Mount::new(&ro, &["--bind", "-o", "ro", &src]) else {
        return skip("cannot make a read-only bind mount (not root?)");
    };
    let history = ro.join("h.csv");
    let (ok, _, err) = train(&data, &["--save", s(&good), "--history", s(&history)]);
    assert!(!ok, "a read-only --history was accepted");
    assert!(err.contains(s(&history)), "{err}");
    assert!(!good.exists());
}

/// A name as long as the folder takes is written (its temp file's name
/// is cut short); a longer one, or a checkpoint whose history file's name
/// would be, is refused before training.
#[test]
fn long_output_names_are_written_or_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let longest = dir.path().join(format!("{}.st", "a".repeat(252)));
    let (ok, _, err) = train(&data, &["--save", s(&longest)]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["predict", "--model", s(&longest), "--data", s(&data)]);
    assert!(ok, "the model with a 255-byte name: {err}");
    let checkpoint = dir.path().join(format!("{}.ck", "c".repeat(242)));
    let (ok, _, err) = train(
        &data,
        &["--checkpoint", s(&checkpoint), "--checkpoint-every", "2"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["train", "--resume", s(&checkpoint), "--epochs", "7", "-q"]);
    assert!(ok, "resumed from a 245-byte name: {err}");
    let too_long = dir.path().join("e".repeat(256));
    let (ok, _, err) = train(&data, &["--save", s(&too_long)]);
    assert!(
        !ok && err
            .contains("its name is 256 bytes long, and its folder takes names of at most 255"),
        "{err}"
    );
    let history = dir.path().join(format!("{}.ck", "d".repeat(247)));
    let (ok, _, err) = train(&data, &["--checkpoint", s(&history)]);
    assert!(
        !ok,
        "a checkpoint whose history's name is too long was accepted"
    );
    assert!(
        err.contains(".ck.history, a name 258 bytes long")
            && err.contains("give --checkpoint a shorter name"),
        "{err}"
    );
}

/// A full filesystem: the plot fails after training (a model file is
/// refused before it).
fn full_tmpfs(dir: &Path) -> Option<Mount> {
    let mount = Mount::new(dir, &["-t", "tmpfs", "-o", "size=16k", "tmpfs"])?;
    // Fill it, leaving room for new (empty) files only.
    let _ = std::fs::write(dir.join("filler"), vec![1u8; 64 * 1024]);
    Some(mount)
}

#[test]
fn a_failing_extra_output_keeps_the_model_and_the_json_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let full = dir.path().join("full");
    let Some(_mount) = full_tmpfs(&full) else {
        return skip("cannot mount a tmpfs (not root?)");
    };
    let good = dir.path().join("good.st");
    let json = dir.path().join("run.json");
    let plot = full.join("p.png");
    let (ok, _, err) = train(
        &data,
        &["--save", s(&good), "--plot", s(&plot), "--json", s(&json)],
    );
    assert!(!ok, "a failed --plot exited 0");
    assert!(err.contains("--plot"), "{err}");
    assert!(err.contains("the model was saved to"), "{err}");
    shadertrain::io::load_model(&good).expect("the model was written");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["model"], s(&good));
    let failed = summary["failed_outputs"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].as_str().unwrap().starts_with("--plot"));

    // A model that could not be written (/dev/full fails every write) is
    // not named in the JSON.
    let (ok, _, err) = train(&data, &["--save", "/dev/full", "--json", s(&json)]);
    assert!(!ok);
    assert!(err.contains("the model was not saved"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(summary["model"].is_null(), "{summary}");
    assert!(summary["failed_outputs"][0]
        .as_str()
        .unwrap()
        .starts_with("--save"));
    // A model file its file system has no room for is refused before the
    // run trains.
    let bad = full.join("m.st");
    let (ok, out, err) = run(&[&two_epochs(&data)[..], &["--save", s(&bad)]].concat());
    assert!(!ok);
    let says = format!("--save {} needs about", bad.display());
    assert!(
        err.contains(&says) && err.contains("free to be written"),
        "{err}"
    );
    assert!(!out.contains("epochs"), "it trained: {out}");
    assert!(!bad.exists());
}

/// A checkpoint that cannot be written (here `/dev/full`, whose writes
/// fail with ENOSPC) is warned of once, not at every epoch it is tried; the
/// run goes on to its end, saves the model and names the checkpoint's
/// failure, as it does for any output.
#[test]
fn a_failing_checkpoint_is_warned_of_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let good = dir.path().join("good.st");
    let json = dir.path().join("run.json");
    let (ok, _, err) = train(
        &data,
        &[
            "--save",
            s(&good),
            "--json",
            s(&json),
            "--checkpoint",
            "/dev/full",
            "--checkpoint-every",
            "1",
        ],
    );
    assert!(!ok, "a failed --checkpoint exited 0");
    let warned =
        "warning: could not write --checkpoint at epoch 1: /dev/full: No space left on device";
    assert!(err.contains(warned), "{err}");
    assert!(
        err.contains("tried again every epoch and at the end"),
        "{err}"
    );
    assert_eq!(
        err.matches("could not write --checkpoint at").count(),
        1,
        "{err}"
    );
    assert!(err.contains("the model was saved to"), "{err}");
    shadertrain::io::load_model(&good).expect("the model was written");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["epochs"], 5);
    assert!(summary["failed_outputs"][0]
        .as_str()
        .unwrap()
        .starts_with("--checkpoint"));
}

/// Which of a command's output streams [`one_stream_closed`] closes.
enum Closed {
    Stdout,
    Stderr,
}

/// A run of `args` whose `closed` stream is a pipe with no reader from the
/// start (as `| true`): its exit code and the other stream's text.
fn one_stream_closed(args: &[&str], closed: Closed) -> (Option<i32>, String) {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut kept: Box<dyn Read> = match closed {
        Closed::Stdout => {
            drop(child.stdout.take());
            Box::new(child.stderr.take().unwrap())
        }
        Closed::Stderr => {
            drop(child.stderr.take());
            Box::new(child.stdout.take().unwrap())
        }
    };
    let mut text = String::new();
    kept.read_to_string(&mut text).unwrap();
    (child.wait().unwrap().code(), text)
}

/// Standard output on `/dev/full` (which fails every write with ENOSPC).
fn to_dev_full(args: &[&str]) -> (Option<i32>, String) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = bin().args(args).stdout(full).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_full_standard_output_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let train_args = [
        "train",
        "--data",
        s(&data),
        "--backend",
        "cpu",
        "--hidden",
        "4",
        "--epochs",
        "3",
    ];
    let help: [&[&str]; 3] = [&["--version"], &["bench", "--help"], &["help", "train"]];
    for args in [&train_args[..], &["info"], &["completions", "bash"]]
        .into_iter()
        .chain(help)
    {
        let (code, err) = to_dev_full(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains("standard output"), "{args:?}: {err}");
    }
    // predict's predictions not written: the error alone, neither the
    // scores nor --json, which would read as a success.
    let json = dir.path().join("scores.json");
    let model = dir.path().join("m.st");
    let save = [&train_args[..], &["--save", s(&model)]].concat();
    let (ok, _, err) = run(&save);
    assert!(ok, "{err}");
    let predict = ["predict", "--model", s(&model), "--data", s(&data)];
    let (code, err) = to_dev_full(&[&predict[..], &["--json", s(&json)]].concat());
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err.trim_end().lines().collect::<Vec<_>>(),
        ["error: writing to standard output: No space left on device (os error 28)"]
    );
    assert!(!json.exists());
    // With --out, the predictions and --json are written, and the scores
    // line that could not be is the error; importance's --json is written
    // where its table could not be.
    let out = dir.path().join("p.csv");
    let with_out = [&predict[..], &["--out", s(&out), "--json", s(&json)]].concat();
    let (code, err) = to_dev_full(&with_out);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("standard output"), "{err}");
    assert!(out.exists() && json.exists(), "{err}");
    std::fs::remove_file(&json).unwrap();
    let importance = ["importance", "--model", s(&model), "--data", s(&data)];
    let (code, err) = to_dev_full(&[&importance[..], &["--json", s(&json)]].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("standard output"), "{err}");
    assert!(json.exists(), "{err}");
}

/// An output that cannot be written is named by its option, and the
/// others are still written: bench's --json and --plot, gen's and
/// predict's --out.
#[test]
fn a_failed_output_names_its_option_and_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("b.png");
    let args = [
        &BENCH_S0[..],
        &[
            "--warmup",
            "1",
            "--quiet",
            "--json",
            "/dev/full",
            "--plot",
            s(&plot),
        ],
    ]
    .concat();
    let (ok, out, err) = run(&args);
    assert!(!ok);
    assert!(out.contains("S0"), "the table: {out}");
    assert!(
        err.contains("could not write --json: /dev/full: No space left on device (os error 28); the table was printed"),
        "{err}"
    );
    assert!(std::fs::metadata(&plot).unwrap().len() > 0);
    let (ok, _, err) = run(&[
        "gen",
        "--rows",
        "3",
        "--features",
        "1",
        "--out",
        "/dev/full",
    ]);
    assert!(!ok);
    assert!(
        err.contains("could not write --out: /dev/full: No space left on device"),
        "{err}"
    );
    // predict's --out.
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let predict = ["predict", "--model", s(&model), "--data", s(&data)];
    let (ok, _, err) = run(&[&predict[..], &["--out", "/dev/full"]].concat());
    assert!(!ok);
    assert!(
        err.contains("error: could not write --out: /dev/full: No space left on device"),
        "{err}"
    );
}

/// What goes to standard error (notices, warnings, predict's scores) is
/// dropped where it cannot be written, and the command goes on: a full
/// disk and a closed pipe are no panic, and the results on standard
/// output are whole. A usage error keeps its exit code, 2.
#[test]
fn a_full_or_closed_standard_error_is_no_panic() {
    for args in [&["--bogus"][..], &[], &["train", "--epochs", "x"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = bin().args(args).stderr(full).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let predict = ["predict", "--model", s(&model), "--data", s(&data)];
    let (ok, whole, err) = run(&predict);
    assert!(ok, "{err}");
    let train = two_epochs(&data);
    let bench = BENCH_S0;
    for args in [&predict[..], &train, &bench] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = bin().args(args).stderr(full).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        if args[0] == "predict" {
            assert_eq!(String::from_utf8_lossy(&out.stdout), whole);
        }
        // Standard error a pipe whose reader is gone.
        let (code, text) = one_stream_closed(args, Closed::Stderr);
        assert_eq!(code, Some(0), "{args:?}");
        if args[0] == "predict" {
            assert_eq!(text, whole);
        }
    }
}

/// A reader that closed standard output before a command's report (`|
/// true`) ends the report, not the files asked for after it.
#[test]
fn a_closed_standard_output_still_gets_the_files_written() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let json = dir.path().join("out.json");
    let pred = dir.path().join("p.csv");
    let importance = ["importance", "--model", s(&model), "--data", s(&data)];
    let folds = [&two_epochs(&data)[..], &["--folds", "2"]].concat();
    let grid = [&folds[..], &["--grid", "lr=0.1,0.2"]].concat();
    let commands: [&[&str]; 5] = [
        &importance,
        &predict(&model, &data, &pred, &[]),
        &folds,
        &grid,
        &BENCH_S0,
    ];
    for args in commands {
        let _ = std::fs::remove_file(&json);
        let args = [args, &["--json", s(&json)]].concat();
        let (code, err) = one_stream_closed(&args, Closed::Stdout);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let text = std::fs::read_to_string(&json).unwrap_or_default();
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{args:?}: --json not written: {err}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("big.csv");
    // 50,000 rows of gen to `out`: more than a pipe holds.
    let gen = |out| ["gen", "--rows", "50000", "--features", "2", "--out", out];
    let (ok, _, err) = run(&gen(s(&data)));
    assert!(ok, "{err}");
    let model = dir.path().join("m.st");
    let (ok, _, err) = train(&data, &["--save", s(&model)]);
    assert!(ok, "{err}");
    let head = |args: &[&str], first_line: &str| {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone (like `| head -1`).
        assert_eq!(first, first_line, "{args:?}");
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{args:?}: {status:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    };
    let predict = ["predict", "--model", s(&model), "--data", s(&data)];
    head(&predict, "y_pred\n");
    // Written through standard output's descriptor, the same.
    head(
        &[&predict[..], &["--out", "/dev/stdout"]].concat(),
        "y_pred\n",
    );
    head(&gen("/dev/stdout"), "x0,x1,y\n");
    // --json on a pipe whose reader left before predict wrote it.
    let pred = dir.path().join("p.csv");
    let args = [&predict[..], &["--out", s(&pred), "--json", "-"]].concat();
    let (code, err) = one_stream_closed(&args, Closed::Stdout);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    // bench's the same.
    let bench = [&BENCH_S0[..], &["--warmup", "1", "--json", "-"]].concat();
    let (code, err) = one_stream_closed(&bench, Closed::Stdout);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
}

/// An output that fails after training (`/dev/full` passes every check
/// before it) still leaves the summary of what was trained, with what
/// `--save` did, before the error.
#[test]
fn a_failed_output_still_shows_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let model = dir.path().join("again.st");
    let train = |more: &[&str]| run(&[&two_epochs(&data)[..], more].concat());
    let (ok, out, err) = train(&["--save", s(&model), "--json", "/dev/full"]);
    assert!(!ok);
    assert!(out.contains("\nloss ") && out.contains("\nr² "), "{out}");
    assert!(out.contains(&format!("saved     {}\n", s(&model))), "{out}");
    assert!(err.contains("could not write --json: /dev/full"), "{err}");
    let (ok, out, err) = train(&["--save", "/dev/full"]);
    assert!(!ok);
    assert!(out.contains("saved     nothing (below)\n"), "{out}");
    assert!(err.contains("the model was not saved"), "{err}");
    // The model on standard output: the summary, on standard error, says so.
    let (ok, _, err) = train(&["--save", "-"]);
    assert!(
        ok && err.contains("saved     to standard output\n"),
        "{err}"
    );
}

/// An output named by a descriptor the shell opened on a pipe (bash's
/// `>(…)` is `/dev/fd/N`) is written through it, as a FIFO is.
#[test]
fn an_output_on_a_descriptor_of_a_pipe_is_written_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let (file, piped, status) = (
        dir.path().join("f.csv"),
        dir.path().join("p.csv"),
        dir.path().join("status"),
    );
    let gen = ["gen", "--rows", "5", "--features", "2", "--seed", "3"];
    let (ok, _, err) = run(&[&gen[..], &["--out", s(&file)]].concat());
    assert!(ok, "{err}");
    let script = r#"{ "$0" gen --rows 5 --features 2 --seed 3 --out /dev/fd/3 3>&1 >/dev/null; echo $? > "$2"; } | cat > "$1""#;
    let out = Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_shadertrain")])
        .args([&piped, &status])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "0\n", "{err}");
    assert_eq!(
        std::fs::read(&piped).unwrap(),
        std::fs::read(&file).unwrap(),
        "{err}"
    );
    // A descriptor open on a regular file (for appending, here) names the
    // file, which is replaced whole, as it was: never written over in
    // place with its old bytes left after the new.
    let opened = dir.path().join("o.csv");
    std::fs::write(&opened, "x".repeat(1000)).unwrap();
    let script = r#""$0" gen --rows 5 --features 2 --seed 3 --out /dev/fd/3 3>>"$1""#;
    let (ok, _, err) = in_shell(script, &opened);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&opened).unwrap(),
        std::fs::read(&file).unwrap(),
        "{err}"
    );
    // A descriptor on a file since removed names no path: written through
    // it, with no file made under the name its link gives ("x (deleted)").
    let gone = dir.path().join("gone.csv");
    let script = r#"exec 3>"$1"; rm "$1"; "$0" gen --rows 5 --features 2 --out /dev/fd/3"#;
    let (ok, _, err) = in_shell(script, &gone);
    assert!(ok, "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().contains("deleted")),
        "{left:?}"
    );
}

/// bench's records name the build of the block code the cpu backend ran
/// (`--cpu-isa`), and the JSON ends its last line; a setting of the cpu
/// backend in a bench that does not time it is refused.
#[test]
fn bench_records_name_the_build_timed() {
    let bench = common::BENCH_TINY;
    let timed = ["--backends", "cpu", "--cpu-isa", "baseline", "--json", "-"];
    let (ok, out, err) = run(&[&bench[..], &timed[..]].concat());
    assert!(ok, "{err}");
    assert!(out.ends_with("]\n"), "{out}");
    let json = &out[out.find("[\n").expect("the JSON follows the table")..];
    let records: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(records[0]["cpu"]["build"], "baseline", "{out}");
    assert!(
        records[0]["adapter"]
            .as_str()
            .unwrap()
            .ends_with("baseline)"),
        "{out}"
    );
    for (flag, value) in [("--cpu-isa", "baseline"), ("--threads", "2")] {
        let args = ["--backends", "reference", flag, value];
        let (ok, out, err) = run(&[&bench[..], &args[..]].concat());
        assert!(!ok && out.is_empty(), "{out}");
        assert!(err.contains(&format!("error: {flag} ")), "{err}");
        assert!(err.contains("add cpu to --backends"), "{err}");
    }
    // A sharded bench's reference shards take --threads, not --cpu-isa.
    let isa = [
        "--backends",
        "reference",
        "--shards",
        "2",
        "--cpu-isa",
        "baseline",
    ];
    let (ok, _, err) = run(&[&bench[..], &isa[..]].concat());
    assert!(!ok && err.contains("error: --cpu-isa "), "{err}");
    let sharded = ["--backends", "reference", "--shards", "2", "--threads", "1"];
    let (ok, out, err) = run(&[&bench[..], &sharded[..]].concat());
    assert!(ok && out.contains("| reference | 1 | 2 |"), "{err}");
    assert!(out.contains("(1 thread) |"), "{out}");
}

/// bench records how busy its cores were while each case warmed up and
/// was timed (Linux): its own share and other processes'. A busy loop on
/// every core beside it leaves none idle, which the case's line and a
/// notice name; a record that is not so is named by neither.
#[test]
fn bench_names_cases_other_processes_crowded() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let bench = [
        "bench",
        "--backends",
        "cpu",
        "--shapes",
        "20000x8x64",
        "--samples",
        "200",
        "--threads",
        "1",
        "--json",
        "-",
    ];
    let timed = || {
        let (ok, out, err) = run(&bench);
        assert!(ok, "{err}");
        let json = &out[out.find("[\n").expect("the JSON follows the table")..];
        let records: serde_json::Value = serde_json::from_str(json).unwrap();
        (records[0]["contention"].clone(), err)
    };
    let said = |err: &str| {
        let line = err.contains("20000x8x64 cpu: median ")
            && err.contains("; other processes kept the cores busy (")
            && err.contains(", this case ");
        let notice = err.contains(
            "notice: other processes (or, on a virtual machine, the hypervisor) took up to ",
        );
        assert_eq!(line, notice, "{err}");
        line
    };
    let [idle, crowded] = common::idle_then_crowded(timed);
    // Whatever else ran beside the tests (a reading under 0.1 s has
    // none).
    let (contention, err) = idle;
    assert_eq!(
        said(&err),
        contention["notable"] == true,
        "{contention}: {err}"
    );
    let (contention, err) = crowded;
    assert_eq!(contention["notable"], true, "{contention}: {err}");
    assert!(
        contention["own_cores"].as_f64().unwrap() > 0.05,
        "{contention}"
    );
    assert!(said(&err), "{err}");
    assert!(err.contains("leaving none idle, while it warmed up and timed 20000x8x64 cpu; those times may be slower than an idle machine's"), "{err}");
}

/// train's summary says how busy the cores were while its epochs ran
/// (Linux), in its JSON, and on its time line where other processes left
/// none idle.
#[test]
fn train_says_when_other_processes_crowded_its_epochs() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = common::path(&dir, "r.json");
    let train = [
        "train",
        "--synthetic",
        "20000",
        "--features",
        "8",
        "--hidden",
        "64",
        "--epochs",
        "200",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--json",
        &json,
    ];
    let trained = || {
        let (ok, out, err) = run(&train);
        assert!(ok, "{err}");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let time = out
            .lines()
            .find(|l| l.starts_with("time "))
            .unwrap_or_default()
            .to_string();
        (summary["contention"].clone(), time)
    };
    let crowded = "; other processes kept the cores busy (";
    let [idle, busy] = common::idle_then_crowded(trained);
    // Whatever else ran beside the tests (a run under 0.1 s has none).
    let (contention, time) = idle;
    assert_eq!(
        time.contains(crowded),
        contention["notable"] == true,
        "{contention}: {time}"
    );
    let (contention, time) = busy;
    assert_eq!(contention["notable"], true, "{contention}");
    assert!(
        time.contains(crowded) && time.contains(", this run "),
        "{time}"
    );
    assert!(
        time.ends_with("), so this time may be longer than on an idle machine"),
        "{time}"
    );
}

/// An output that can never be written is refused before any work, with
/// its flag named: an empty path, or one inside a file.
#[test]
fn outputs_refused_before_work_name_their_flag() {
    let dir = tempfile::tempdir().unwrap();
    let train = [
        "train",
        "--synthetic",
        "100",
        "--features",
        "2",
        "--epochs",
        "1",
    ];
    let (ok, out, err) = run(&[&train[..], &["--backend", "cpu", "--json", ""]].concat());
    assert!(!ok);
    assert!(err.contains("error: --json: the path is empty"), "{err}");
    assert!(out.is_empty(), "nothing was trained: {out}");
    let bench = BENCH_S0;
    let (ok, out, err) = run(&[&bench[..], &["--json", ""]].concat());
    assert!(!ok && err.contains("--json: the path is empty"), "{err}");
    assert!(out.is_empty(), "nothing was timed: {out}");
    let file = dir.path().join("a.csv");
    std::fs::write(&file, "x\n").unwrap();
    let inside = file.join("x.csv");
    let (ok, _, err) = run(&["gen", "--rows", "2", "--features", "1", "--out", s(&inside)]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "--out: cannot write {}: {} is not a directory",
            s(&inside),
            s(&file)
        )),
        "{err}"
    );
}

/// `predict` reads its model and its rows from two files: both from
/// standard input is refused; and a --json that fails after the
/// predictions were written says where they are.
#[test]
fn predict_names_what_it_wrote_and_reads_standard_input_once() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let out = bin()
        .args(["predict", "--model", "/dev/stdin", "--data", "-"])
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap();
    let (ok, _, err) = text(out);
    assert!(!ok);
    assert!(
        err.contains("--model and --data both read standard input"),
        "{err}"
    );
    // A file named on the command line that is also standard input is
    // read by name: no stream is shared.
    let out = bin()
        .args(["predict", "--model", s(&model), "--data", s(&data)])
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap();
    let (ok, _, err) = text(out);
    assert!(ok, "{err}");
    let pred = dir.path().join("p.csv");
    let args = [
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--out",
        s(&pred),
    ];
    let (ok, _, err) = run(&[&args[..], &["--json", "/dev/full"]].concat());
    assert!(!ok);
    assert!(
        err.contains(&format!("could not write --json; the predictions were written to {}: /dev/full: No space left on device (os error 28)", s(&pred))),
        "{err}"
    );
    assert!(std::fs::read_to_string(&pred)
        .unwrap()
        .starts_with("y_pred\n"));
}

/// A file mounted on its own (as `docker run -v host.st:/work/m.st`
/// mounts one) cannot be renamed over: it is written in place, and where
/// its mount is read-only the run is refused before it trains. Mounting
/// needs root (CI runs as root); elsewhere it is skipped, which fails under CI=true.
#[test]
fn a_bind_mounted_output_is_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_model(dir.path());
    let (host, target) = (dir.path().join("host.st"), dir.path().join("m.st"));
    std::fs::write(&host, b"an older model").unwrap();
    std::fs::write(&target, b"").unwrap();
    let mount = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !mount(&["--bind", s(&host), s(&target)]) {
        return skip("cannot bind-mount a file (not root?)");
    }
    // Unmounted at the test's end, failed or not.
    let _mounted = Mount(target.clone());
    let train = || run(&[&two_epochs(&data)[..], &["--save", s(&target)]].concat());
    let (ok, _, err) = train();
    assert!(ok, "{err}");
    // Not atomic, and said so, once.
    let warning = format!("warning: {} is a mount point (a file mounted there on its own), so it is written in place, not replaced by a whole new file: a crash or a kill during the write leaves it cut short", target.display());
    assert_eq!(err.matches(&warning).count(), 1, "{err}");
    let model = shadertrain::io::load_model(&host).unwrap();
    assert_eq!(model.layout.features(), 3);
    assert!(mount(&["-o", "remount,ro,bind", s(&target)]));
    let (ok, out, err) = train();
    assert!(!ok);
    assert!(
        err.contains("it is a mount point (a file mounted there on its own), so it is written in place, not replaced, and it cannot be opened for writing (Read-only file system"),
        "{err}"
    );
    assert!(!out.contains("epochs"), "it trained: {out}");
    assert_eq!(shadertrain::io::load_model(&host).unwrap(), model);
}

/// Another user's file in a sticky folder (as /tmp is) cannot be renamed
/// over by this user: it is written in place where it is writable, and
/// refused before the run trains where it is not. Run as root, the test
/// trains as the user `nobody` (UID 65534); elsewhere it is skipped, which fails under CI=true.
#[test]
fn another_users_file_in_a_sticky_folder_is_written_in_place() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !root {
        return skip("cannot train as another user (not root)");
    }
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(dir.path(), 0o1777).unwrap();
    let (data, _) = data_and_model(dir.path());
    mode(&data, 0o644).unwrap();
    let target = dir.path().join("shared.st");
    std::fs::write(&target, b"an older model").unwrap();
    mode(&target, 0o666).unwrap();
    let as_nobody = || {
        let out = bin()
            .args(two_epochs(&data))
            .args(["--save", s(&target)])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        text(out)
    };
    let (ok, _, err) = as_nobody();
    assert!(ok, "{err}");
    shadertrain::io::load_model(&target).expect("written in place");
    mode(&target, 0o644).unwrap();
    let before = std::fs::read(&target).unwrap();
    let (ok, out, err) = as_nobody();
    assert!(!ok);
    assert!(
        err.contains("it is another user's file in a sticky folder (only its owner may replace it), so it is written in place, not replaced, and it cannot be opened for writing (Permission denied"),
        "{err}"
    );
    assert!(!out.contains("epochs"), "it trained: {out}");
    assert_eq!(std::fs::read(&target).unwrap(), before);
}

/// An output named with another format's extension is refused before any
/// work, naming the format it writes and, where the name asks for another
/// option's file, that option; names with no extension, or another one,
/// are taken as given.
#[test]
fn an_output_named_as_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = data_and_model(dir.path());
    let out = |n: &str| dir.path().join(n);
    let cases: [(&[&str], &str); 5] = [
        (&["--save", "m.csv"], "--save: it writes a model (safetensors), but the extension of m.csv names CSV; give it .safetensors (predictions as CSV come from predict --out, the loss per epoch from train --history)"),
        (&["--checkpoint", "k.JSON"], "--checkpoint: it writes a model (safetensors), but the extension of k.JSON names JSON; give it .safetensors\n"),
        (&["--history", "loss.png"], "--history: it writes CSV, but the extension of loss.png names a PNG image; give it .csv (train --plot draws the loss curve as PNG or SVG, and bench --plot its chart)"),
        (&["--json", "r.svg"], "--json: it writes JSON, but the extension of r.svg names an SVG image; give it .json (train --plot"),
        (&["--fold-predictions", "p.safetensors", "--folds", "2"], "--fold-predictions: it writes CSV, but the extension of p.safetensors names a model (safetensors); give it .csv (train --save writes the model)"),
    ];
    for (args, want) in cases {
        let named: Vec<String> = args
            .iter()
            .map(|a| match a.contains('.') {
                true => s(&out(a)).to_string(),
                false => a.to_string(),
            })
            .collect();
        let named: Vec<&str> = named.iter().map(String::as_str).collect();
        let (ok, _, err) = train(&data, &named);
        let want = want.replace(args[1], s(&out(args[1])));
        assert!(!ok && err.contains(&want), "{args:?}: {err}");
        assert!(!out(args[1]).exists(), "{args:?} wrote");
    }
    let p = out("p.json");
    let (ok, _, err) = run(&predict(&model, &data, &p, &[]));
    assert!(
        !ok && err.contains("--out: it writes CSV, but the extension of"),
        "{err}"
    );
    // No extension, or one of no format listed: written as given.
    for name in ["model", "model.bin", "model.SAFETENSORS"] {
        let (ok, _, err) = train(&data, &["--save", s(&out(name))]);
        assert!(ok, "{name}: {err}");
        shadertrain::io::load_model(&out(name)).expect("a model");
    }
    // A model under a name of no format is one only --save replaces:
    // predict's, gen's and train's other outputs leave it as it was.
    let kept = out("model.bin");
    let before = std::fs::read(&kept).unwrap();
    let gen = ["gen", "--rows", "3", "--features", "2", "--out", s(&kept)];
    for (flag, (ok, _, err)) in [
        ("--out", run(&predict(&model, &data, &kept, &[]))),
        ("--out", run(&gen)),
        ("--history", train(&data, &["--history", s(&kept)])),
    ] {
        let says = format!("{flag}: {} is a model or checkpoint (safetensors), which {flag} would replace with another kind of file", s(&kept));
        assert!(!ok && err.contains(&says), "{flag}: {err}");
        assert_eq!(std::fs::read(&kept).unwrap(), before, "{flag}");
    }
    let (ok, _, err) = train(&data, &["--save", s(&kept)]);
    assert!(ok, "{err}");
}
