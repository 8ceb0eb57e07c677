//! `bench --peers`: the peers' scripts run from the binary with the bench's
//! cases, their records join the table and the JSON with shadertrain's
//! speedup over them, and a peer that cannot run is a notice, not a
//! failure, unless none ran. An interpreter that cannot run numpy is an
//! error before anything is timed. The scripts' port of src/rng.rs draws
//! shadertrain's bits.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use common::path;
use shadertrain::data::Dataset;
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::rng::{self, Stream};

/// Writes `script` to `path` as an executable stand-in interpreter.
fn stand_in(path: &str, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `bench --shapes S0 --backends cpu --samples 3 --peers …` with `more`;
/// returns (success, stdout, stderr).
fn bench_peers(more: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    bench_peers_in(".", more, env)
}

/// [`bench_peers`], run in the folder `dir`; a bench still running after
/// two minutes is killed and fails the test.
fn bench_peers_in(dir: &str, more: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Read as _;
    use std::time::{Duration, Instant};
    let mut bench = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .current_dir(dir)
        .args([
            "bench",
            "--shapes",
            "S0",
            "--backends",
            "cpu",
            "--samples",
            "3",
        ])
        .args(["--threads", "2", "--peers"])
        .args(more)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = read(Box::new(bench.stdout.take().unwrap()));
    let err = read(Box::new(bench.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = bench.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = bench.kill();
            let _ = bench.wait();
            panic!("bench {more:?} was still running after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.success(), out.join().unwrap(), err.join().unwrap())
}

#[test]
fn without_an_interpreter_the_bench_stops_before_timing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = path(&dir, "no-python");
    let (ok, out, err) = bench_peers(&["--python", &missing], &[]);
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!("error: --python {missing}: cannot run it")),
        "{err}"
    );
    assert!(!out.contains(" S0 "), "nothing is timed: {out}");
    assert!(!err.contains("looked up on PATH"), "{err}");
    // A bare name is looked up on PATH, and the error says so.
    let (ok, _, err) = bench_peers(&["--python", "no-such-python-anywhere"], &[]);
    assert!(!ok);
    assert!(
        err.contains("error: --python no-such-python-anywhere: cannot run it (a name without a folder is looked up on PATH)"),
        "{err}"
    );
    // One that runs but cannot import numpy (a shell, say) is refused too.
    let (ok, _, err) = bench_peers(&["--python", "/bin/false"], &[]);
    assert!(!ok && err.contains("cannot import numpy"), "{err}");
}

/// A stand-in interpreter with numpy whose numpy script logs where it ran
/// (the folder and its mode) and prints `$PEER_LINE` twice; the others
/// print nothing.
const LOGGING_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  [ "$2" = "import numpy" ]; exit $?
fi
if [ "$1" = numpy_epoch.py ]; then
  echo "$PWD $(stat -c %a .)" >> "$PEER_LOG"
  if [ -n "$PEER_SPIN" ]; then
    timeout "$PEER_SPIN" sh -c 'while :; do :; done'
  fi
  echo "$PEER_LINE"
  echo "$PEER_LINE"
fi
"#;

/// A numpy line for [`LOGGING_PYTHON`] to print, with `median` for its
/// median.
fn peer_line(median: &str) -> String {
    format!(
        r#"{{"adapter": "cpu", "shape": "S0", "activation": "sigmoid", "epochs": 3, "median_s": {median}, "min_s": 0.25, "max_s": 0.75, "numpy": "9.9"}}"#
    )
}

#[test]
fn a_relative_interpreter_runs_in_a_private_folder_and_each_shape_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("venv")).unwrap();
    let python = path(&dir, "venv/python");
    stand_in(&python, LOGGING_PYTHON);
    let (log, json) = (path(&dir, "log"), path(&dir, "b.json"));
    let line = peer_line("0.5");
    let env = [("PEER_LOG", log.as_str()), ("PEER_LINE", line.as_str())];
    let here = dir.path().to_str().unwrap();
    let (ok, out, err) = bench_peers_in(here, &["--python", "venv/python", "--json", &json], &env);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("numpy ")).collect();
    assert_eq!(rows.len(), 1, "the line printed twice is one record: {out}");
    // A bare name is found on PATH, a relative folder of it included;
    // a folder named python and a file that may not be executed, earlier
    // on PATH, are passed over.
    std::fs::create_dir_all(dir.path().join("folder/python")).unwrap();
    std::fs::create_dir(dir.path().join("plain")).unwrap();
    std::fs::write(dir.path().join("plain/python"), LOGGING_PYTHON).unwrap();
    let path = format!(
        "folder:plain:venv:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PEER_LOG", log.as_str()),
        ("PEER_LINE", line.as_str()),
        ("PATH", &path),
    ];
    let (ok, out, err) = bench_peers_in(here, &["--python", "python"], &env);
    assert!(ok && out.lines().any(|l| l.starts_with("numpy ")), "{err}");
    // The scripts ran in a folder of this user's alone, gone afterwards.
    let log = std::fs::read_to_string(&log).unwrap();
    let (folder, mode) = log.lines().next().unwrap().split_once(' ').unwrap();
    assert_eq!(mode, "700", "{log}");
    assert!(folder.contains("shadertrain-peers-"), "{log}");
    assert!(!std::path::Path::new(folder).exists(), "{folder} is left");
}

/// A peer that reports a first loss other than shadertrain's on its
/// shape trained another problem: a warning says its time is not like for
/// like. One within `FIRST_LOSS_RTOL` gets none; the JSON has both.
#[test]
fn a_peer_that_began_at_another_loss_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, LOGGING_PYTHON);
    let (log, json) = (path(&dir, "log"), path(&dir, "b.json"));
    let bench = |first: f64| {
        let reported = format!("\"first_loss\": {first:e}, \"numpy\"");
        let line = peer_line("0.5").replace("\"numpy\"", &reported);
        let env = [("PEER_LOG", log.as_str()), ("PEER_LINE", line.as_str())];
        let (ok, _, err) = bench_peers(&["--python", &python, "--json", &json], &env);
        assert!(ok, "{err}");
        let text = std::fs::read_to_string(&json).unwrap();
        let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(records[1]["first_loss"].as_f64(), Some(first), "{text}");
        (err, records[0]["first_loss"].as_f64().unwrap())
    };
    let (err, ours) = bench(1e9);
    let said = "warning: numpy (cpu) began S0 at loss 1.000000e9, and shadertrain at";
    assert!(
        err.contains(said) && err.contains("not like for like"),
        "{err}"
    );
    assert!((0.01..10.0).contains(&ours), "{ours}");
    let (err, again) = bench(ours * (1.0 + 1e-5));
    assert_eq!(again, ours, "the cpu backend begins each run alike");
    assert!(!err.contains("warning"), "{err}");
}

/// A peer's record says how busy the cores were while its script ran
/// (Linux), the script's own processes, waited for, counting as its own:
/// a script that spins for half a second reads as busy itself.
#[test]
fn a_peers_own_processes_are_its_own_time() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, LOGGING_PYTHON);
    let (log, json) = (path(&dir, "log"), path(&dir, "b.json"));
    let line = peer_line("0.5");
    let env = [
        ("PEER_LOG", log.as_str()),
        ("PEER_LINE", line.as_str()),
        ("PEER_SPIN", "0.5"),
    ];
    let (ok, _, err) = bench_peers(&["--python", &python, "--json", &json], &env);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&json).unwrap();
    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(records[1]["backend"], "numpy", "{text}");
    let share = |key: &str| records[1]["contention"][key].as_f64().expect(key);
    assert!(share("own_cores") > 0.2, "{text}");
    assert!(records[1]["contention"]["notable"].is_boolean(), "{text}");
}

/// A stand-in interpreter with numpy whose numpy script logs its
/// arguments and times each shape given (0.5 s).
const ARGS_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  [ "$2" = "import numpy" ]; exit $?
fi
if [ "$1" = numpy_epoch.py ]; then
  echo "$*" >> "$PEER_LOG"
  for shape; do
    case $shape in
      S[0-9]|*x*x*)
        echo "{\"adapter\": \"cpu\", \"shape\": \"$shape\", \"activation\": \"sigmoid\", \"epochs\": 3, \"median_s\": 0.5, \"min_s\": 0.25, \"max_s\": 0.75, \"numpy\": \"9.9\"}" ;;
    esac
  done
fi
"#;

/// Each shape's peers get the cpu backend's thread count on it, which is
/// lower on a small shape: the script runs once per count, and the
/// records follow the shapes' order, not the runs'.
#[test]
fn each_shape_is_timed_on_the_cpu_backends_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, ARGS_PYTHON);
    let log = path(&dir, "log");
    let out = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(["bench", "--shapes", "64x2x2,S0,64x2x3", "--backends", "cpu"])
        .args([
            "--samples",
            "3",
            "--threads",
            "2",
            "--peers",
            "--python",
            &python,
        ])
        .env("PEER_LOG", &log)
        .output()
        .unwrap();
    let (stdout, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{err}");
    let log = std::fs::read_to_string(&log).unwrap();
    let runs: Vec<&str> = log.lines().collect();
    assert_eq!(runs.len(), 2, "{log}");
    assert!(runs[0].ends_with("--threads 1 64x2x2 64x2x3"), "{log}");
    // bench's warm-up, and samples of single epochs, as the cpu backend's.
    assert!(
        runs[0].contains(" --samples 3 --warmup 2 --batch 1 "),
        "{log}"
    );
    assert!(runs[1].ends_with("--threads 2 S0"), "{log}");
    assert!(err.contains("peer numpy: timing 3 shapes"), "{err}");
    // The table names the cpu backend's threads alike, in the shapes' order.
    let rows: Vec<&str> = stdout.lines().collect();
    let at = |what: &str| rows.iter().position(|l| l.contains(what));
    assert!(
        at("(1 thread,").is_some() && at("(2 threads,").is_some(),
        "{stdout}"
    );
    let numpy: Vec<&&str> = rows.iter().filter(|l| l.starts_with("numpy ")).collect();
    assert_eq!(numpy.len(), 3, "{stdout}");
    assert!(
        numpy[0].contains(" 64x2x2 ") && numpy[1].contains(" S0 ") && numpy[2].contains(" 64x2x3 "),
        "{stdout}"
    );
}

/// A stand-in interpreter with numpy, torch and a CUDA device, whose
/// scripts log their arguments; on the device, each reports S0 as the
/// scripts do with `--samples 2 --batch 3`: 6 epochs timed.
const CUDA_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then exit 0; fi
echo "$*" >> "$PEER_LOG"
case "$*" in
  *"--device cuda"*)
    echo '{"adapter": "NVIDIA stand-in", "shape": "S0", "activation": "sigmoid", "epochs": 6, "median_s": 0.5, "min_s": 0.25, "max_s": 0.75, "torch": "9.9"}'
    ;;
esac
"#;

/// The CUDA peers, timed beside the gpu backend, take its `--gpu-batch`
/// epochs per synchronised sample, run once over every shape, and their
/// records count each sample's epochs, as the gpu backend's do; the CPU
/// peers single epochs, as the cpu backend's samples are, once per
/// thread count.
#[test]
fn cuda_peers_time_the_gpu_backends_batch_of_epochs() {
    if !common::have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, CUDA_PYTHON);
    let (log, json) = (path(&dir, "log"), path(&dir, "b.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args([
            "bench",
            "--shapes",
            "64x2x2,S0",
            "--backends",
            "gpu",
            "--samples",
            "2",
        ])
        .args(["--gpu-batch", "3", "--threads", "2"])
        .args(["--peers", "--python", &python, "--json", &json])
        .env("PEER_LOG", &log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("left out"), "{err}");
    let records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let epochs = |backend: &str| {
        let of = |r: &&serde_json::Value| r["backend"] == backend && r["shape"] == "S0";
        records.iter().find(of).map(|r| r["epochs"].clone())
    };
    for backend in ["gpu", "torch-eager (cuda)", "torch-compile (cuda)"] {
        assert_eq!(epochs(backend), Some(6.into()), "{backend}: {records:?}");
    }
    let runs: Vec<&str> = log.lines().collect();
    let cuda: Vec<&&str> = runs
        .iter()
        .filter(|r| r.contains("--device cuda"))
        .collect();
    assert_eq!(cuda.len(), 2, "eager and compile: {log}{err}");
    assert!(cuda.iter().all(|r| r.contains(" --batch 3 ")), "{log}");
    assert!(cuda.iter().all(|r| r.ends_with(" 64x2x2 S0")), "{log}");
    let cpu: Vec<&&str> = runs
        .iter()
        .filter(|r| !r.contains("--device cuda"))
        .collect();
    assert_eq!(
        cpu.len(),
        8,
        "numpy, torch twice, jax; 1 and 2 threads: {log}"
    );
    assert!(cpu.iter().all(|r| r.contains(" --batch 1 ")), "{log}");
}

/// Without the gpu backend no CUDA peer runs, though PyTorch has a CUDA
/// device; each CPU peer runs its script with its own options.
#[test]
fn without_the_gpu_backend_the_cuda_peers_do_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, CUDA_PYTHON);
    let log = path(&dir, "log");
    let (ok, _, err) = bench_peers(&["--python", &python], &[("PEER_LOG", &log)]);
    // The CPU peers print no timing: none timed.
    assert!(!ok && err.contains("--peers timed no peer"), "{err}");
    let log = std::fs::read_to_string(&log).unwrap();
    let args = "--activation sigmoid --samples 3 --warmup 2 --batch 1 --threads 2 S0";
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            format!("numpy_epoch.py {args}"),
            format!("torch_epoch.py --device cpu {args}"),
            format!("torch_epoch.py --device cpu --compile {args}"),
            format!("jax_epoch.py {args}"),
        ],
        "{log}"
    );
}

#[test]
fn a_peer_line_that_is_no_timing_is_left_out_and_no_peer_timed_fails() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, LOGGING_PYTHON);
    let (log, json) = (path(&dir, "log"), path(&dir, "b.json"));
    let line = peer_line("0");
    let env = [("PEER_LOG", log.as_str()), ("PEER_LINE", line.as_str())];
    let (ok, out, err) = bench_peers(&["--python", &python, "--json", &json], &env);
    assert!(!ok, "{err}");
    assert!(
        err.contains(
            "notice: peer numpy's line for S0 left out: its times are not positive and finite"
        ),
        "{err}"
    );
    assert!(err.contains("error: --peers timed no peer"), "{err}");
    // A script that exits 0 having timed fewer shapes than it was given
    // is said to.
    assert!(
        err.contains("notice: peer numpy timed 0 of 1 shapes, not S0 (exit status: 0)"),
        "{err}"
    );
    // shadertrain's own timing is still reported and written.
    assert!(out.lines().any(|l| l.starts_with("cpu ")), "{out}");
    let records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["backend"], "cpu");
    // A line that does not parse (Python's json writes NaN) says so too.
    let line = peer_line("NaN");
    let env = [("PEER_LOG", log.as_str()), ("PEER_LINE", line.as_str())];
    let (ok, _, err) = bench_peers(&["--python", &python], &env);
    assert!(!ok);
    assert!(
        err.contains("notice: peer numpy's line left out: "),
        "{err}"
    );
    // Where the scripts' folder cannot be made, nothing is timed.
    let env = [("PEER_LOG", log.as_str()), ("TMPDIR", "/nonexistent")];
    let (ok, out, err) = bench_peers(&["--python", &python], &env);
    assert!(
        !ok && err.contains("--peers: could not make a folder"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
}

/// A stand-in interpreter with numpy whose numpy script prints
/// `$PEER_LINE`, then starts a `sleep` that holds its output open and
/// writes that process's pid to `$SLEEP_PID`. `$HANG` says what the script
/// does then: `wait` for the sleep; `close` its own output first and then
/// wait; `exit` at once with status 0, leaving the sleep running; or
/// `escape`: start `yes` in a session of its own, its pid in
/// `$SLEEP_PID.escaped`, and exit 0 a moment later. Each probe with `-c`
/// touches `$SLEEP_PID.probed`.
const HANGING_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  [ -z "$SLEEP_PID" ] || : > "$SLEEP_PID.probed"
  [ "$2" = "import numpy" ]; exit $?
fi
if [ "$1" = numpy_epoch.py ]; then
  echo "$PEER_LINE"
  sleep 60 &
  echo $! > "$SLEEP_PID"
  case "$HANG" in
    close) exec >&- 2>&-; wait ;;
    exit) exit 0 ;;
    escape)
      setsid sh -c 'echo $$ > "$SLEEP_PID.escaped"; exec yes' &
      sleep 0.2; exit 0 ;;
    *) wait ;;
  esac
fi
"#;

/// Runs `bench --peers --peer-timeout 1` with [`HANGING_PYTHON`] doing
/// `hang`; checks that it returned soon after the limit, that the line
/// printed before then counts, and that the `sleep` the script started is
/// no longer running. Returns (success, stdout, stderr).
fn bench_a_hanging_peer(hang: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, HANGING_PYTHON);
    let pid_file = path(&dir, "sleep.pid");
    let line = peer_line("0.5");
    let env = [
        ("PEER_LINE", line.as_str()),
        ("HANG", hang),
        ("SLEEP_PID", pid_file.as_str()),
    ];
    let start = std::time::Instant::now();
    let (ok, out, err) = bench_peers(&["--python", &python, "--peer-timeout", "1"], &env);
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(30),
        "{hang}: the bench waited for the hung peer: {took:?}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("numpy ")),
        "{hang}: the line printed before the timeout counts: {out}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    // A process that left the group is bench's to leave running; it ends
    // at its next write to the closed pipe, or here.
    if let Ok(escaped) = std::fs::read_to_string(format!("{pid_file}.escaped")) {
        let _ = Command::new("kill").arg(escaped.trim()).status();
    }
    assert!(
        ended(pid.trim()),
        "{hang}: the sleep {} started by the peer is still running",
        pid.trim()
    );
    (ok, out, err)
}

/// Whether the process `pid` has ended (gone, or a zombie not yet reaped),
/// waiting up to 5 s for it.
fn ended(pid: &str) -> bool {
    let stat = format!("/proc/{pid}/stat");
    for _ in 0..100 {
        match std::fs::read_to_string(&stat) {
            Err(_) => return true,
            // The state follows the command's name in parentheses.
            Ok(s) if s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')) => return true,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    false
}

/// A stand-in interpreter whose `-c "import MODULE"` hangs for the module
/// `$HANG_IMPORT` names and fails for any other but numpy; its numpy
/// script prints `$PEER_LINE`.
const SLOW_IMPORT_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  [ "$2" = "import $HANG_IMPORT" ] && exec sleep 60
  [ "$2" = "import numpy" ]; exit $?
fi
[ "$1" = numpy_epoch.py ] && echo "$PEER_LINE"
"#;

/// `--peer-timeout` bounds the interpreter's probes too: one that does not
/// finish `import numpy` is an error naming the limit, and a peer whose
/// import hangs is skipped with a notice saying so, where bench waited on
/// either without end.
#[test]
fn a_probe_past_the_peer_timeout_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, SLOW_IMPORT_PYTHON);
    let line = peer_line("0.5");
    for (module, ok_expected, says) in [
        (
            "numpy",
            false,
            "did not finish `import numpy` within --peer-timeout 1 s",
        ),
        ("jax", true, "notice: peer jax-jit skipped: "),
    ] {
        let env = [("HANG_IMPORT", module), ("PEER_LINE", line.as_str())];
        let start = std::time::Instant::now();
        let (ok, _, err) = bench_peers(&["--python", &python, "--peer-timeout", "1"], &env);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{module}"
        );
        assert_eq!(ok, ok_expected, "{module}: {err}");
        assert!(err.contains(says), "{module}: {err}");
        if ok {
            assert!(
                err.contains("did not finish `import jax` within --peer-timeout 1 s"),
                "{err}"
            );
        }
    }
}

const STOPPED: &str =
    "notice: peer numpy timed 1 of 1 shapes (stopped after 1 s, its --peer-timeout)";

#[test]
fn a_peer_past_its_timeout_is_stopped_and_keeps_what_it_timed() {
    for hang in ["wait", "close"] {
        let (ok, _, err) = bench_a_hanging_peer(hang);
        assert!(ok, "{hang}: {err}");
        assert!(err.contains(STOPPED), "{hang}: {err}");
    }
    // A script that exited 0 is not reported as stopped, though a process
    // it left running held its output open until the limit.
    let (ok, _, err) = bench_a_hanging_peer("exit");
    assert!(ok, "{err}");
    assert!(!err.contains("notice: peer numpy"), "{err}");
    // Nor does one that left the group and writes without end hold bench
    // past a moment's reading after the script exited.
    let (ok, _, err) = bench_a_hanging_peer("escape");
    assert!(ok, "{err}");
    assert!(!err.contains("timed 1 of 1"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, HANGING_PYTHON);
    let line = peer_line("0.5");
    let env = [("PEER_LINE", line.as_str())];
    // The limit is checked before anything is timed.
    for bad in ["0", "-1", "NaN"] {
        let flag = format!("--peer-timeout={bad}");
        let (ok, out, err) = bench_peers(&["--python", &python, &flag], &env);
        assert!(!ok, "{bad}: {err}");
        assert!(
            err.contains("--peer-timeout must be a positive number of seconds"),
            "{bad}: {err}"
        );
        assert!(out.is_empty(), "{bad}: {out}");
    }
}

/// `bench CASES --peers` with [`HANGING_PYTHON`] waiting, started through
/// [`shell`] as `sh -c "PREFIX exec bench …"` with TMPDIR in `dir`: the
/// bench, the file `$SLEEP_PID` names and the TMPDIR.
///
/// The shell starts with the signals the tests send at their default
/// action: a test binary started in the background of a shell without
/// job control inherits SIGINT and SIGQUIT ignored, and a shell cannot
/// undo that with `trap`.
fn start_a_bench(
    dir: &tempfile::TempDir,
    prefix: &str,
    cases: &str,
) -> (std::process::Child, String, String) {
    let python = path(dir, "python");
    stand_in(&python, HANGING_PYTHON);
    let pid_file = path(dir, "sleep.pid");
    let tmp = path(dir, "tmp");
    std::fs::create_dir(&tmp).unwrap();
    let bench = shell()
        .arg("-c")
        .arg(format!(
            "{prefix} exec \"$0\" bench {cases} --peers --python \"$1\""
        ))
        .args([env!("CARGO_BIN_EXE_shadertrain"), &python])
        .env("PEER_LINE", peer_line("0.5"))
        .env("SLEEP_PID", &pid_file)
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (bench, pid_file, tmp)
}

/// [`start_a_bench`] of S0, once its peer's `sleep` runs: the bench, the
/// sleep's pid and the TMPDIR.
fn a_bench_in_a_peer(
    dir: &tempfile::TempDir,
    prefix: &str,
) -> (std::process::Child, String, String) {
    let cases = "--shapes S0 --backends cpu --samples 3";
    let (bench, pid_file, tmp) = start_a_bench(dir, prefix, cases);
    let start = std::time::Instant::now();
    let sleep = loop {
        match std::fs::read_to_string(&pid_file) {
            Ok(pid) if !pid.trim().is_empty() => break pid.trim().to_string(),
            _ => {}
        }
        assert!(start.elapsed().as_secs() < 60, "the peer never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(peer_folders(&tmp), 1, "the scripts' folder");
    (bench, sleep, tmp)
}

/// `sh`, started with the signals the tests send at their default action,
/// in a process group of its own: one that a shell of this session could
/// continue, whatever group the tests run in, so that a stop is not
/// discarded as in an orphaned group.
fn shell() -> Command {
    use std::os::unix::process::CommandExt as _;
    let mut sh = Command::new("sh");
    sh.process_group(0);
    common::default_signals(&mut sh);
    sh
}

/// Ctrl-C while shadertrain times its own cases, before any peer runs:
/// bench ends by it at once and leaves no scripts' folder, which is made
/// only for a peer's run.
#[test]
fn a_signal_before_the_peers_run_leaves_no_folder() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cases = "--shapes S3 --backends cpu --samples 50 --threads 1";
    let (mut bench, pid_file, tmp) = start_a_bench(&dir, "", cases);
    // Once --python was probed, bench times S3 for seconds.
    let start = std::time::Instant::now();
    while !std::path::Path::new(&format!("{pid_file}.probed")).exists() {
        assert!(start.elapsed().as_secs() < 60, "--python was never probed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(bench.try_wait().unwrap().is_none(), "bench ended early");
    send("INT", bench.id());
    let status = bench.wait().unwrap();
    assert_eq!(status.signal(), Some(2), "{status}");
    assert!(!std::path::Path::new(&pid_file).exists(), "a peer ran");
    assert_eq!(peer_folders(&tmp), 0, "the scripts' folder is left");
}

/// The scripts' folders in `tmp`.
fn peer_folders(tmp: &str) -> usize {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("shadertrain-peers-")
        })
        .count()
}

/// `kill -SIGNAL pid`.
fn send(signal: &str, pid: impl std::fmt::Display) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// The state letter of process `pid` (R, S, T, Z, ...), waiting up to 5 s
/// for it to be `want`.
fn state(pid: impl std::fmt::Display, want: char) -> char {
    let mut now = '?';
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        now = stat
            .rsplit(") ")
            .next()
            .and_then(|r| r.chars().next())
            .unwrap_or('?');
        if now == want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    now
}

/// Ctrl-C (SIGINT), Ctrl-\ (SIGQUIT) or SIGTERM while a peer's script
/// runs: bench ends by that signal, as without its handlers, and leaves
/// neither the script's processes nor the scripts' folder behind.
#[test]
fn a_signal_while_a_peer_runs_stops_it_and_removes_the_scripts() {
    use std::os::unix::process::ExitStatusExt as _;
    for (signal, number) in [("INT", 2), ("TERM", 15), ("QUIT", 3)] {
        let dir = tempfile::tempdir().unwrap();
        let (mut bench, sleep, tmp) = a_bench_in_a_peer(&dir, "ulimit -c 0;");
        send(signal, bench.id());
        let status = bench.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "{signal}: {status}");
        assert!(ended(&sleep), "{signal}: the peer's sleep is still running");
        assert_eq!(
            peer_folders(&tmp),
            0,
            "{signal}: the scripts' folder is left"
        );
    }
}

/// A signal that bench was started ignoring (`nohup`) stays ignored while
/// a peer runs; Ctrl-Z (SIGTSTP) stops the peer with bench, and SIGCONT
/// continues both.
#[test]
fn an_ignored_signal_stays_ignored_and_a_stop_stops_the_peer_too() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (mut bench, sleep, _tmp) = a_bench_in_a_peer(&dir, "trap '' HUP;");
    send("HUP", bench.id());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        bench.try_wait().unwrap().is_none(),
        "an ignored SIGHUP ended bench"
    );
    send("TSTP", bench.id());
    assert_eq!(state(bench.id(), 'T'), 'T', "bench did not stop");
    assert_eq!(state(&sleep, 'T'), 'T', "the peer did not stop with bench");
    send("CONT", bench.id());
    assert_eq!(state(&sleep, 'S'), 'S', "the peer was not continued");
    assert_ne!(state(bench.id(), 'S'), 'T', "bench was not continued");
    send("INT", bench.id());
    let status = bench.wait().unwrap();
    assert_eq!(status.signal(), Some(2), "{status}");
    assert!(ended(&sleep), "the peer's sleep is still running");
}

/// A stand-in interpreter with numpy whose numpy script writes bytes that
/// are not UTF-8 to both its outputs, then `$PEER_LINE`.
const UNTIDY_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  [ "$2" = "import numpy" ]; exit $?
fi
if [ "$1" = numpy_epoch.py ]; then
  printf 'warming up \377\376\r\n'
  printf 'warning: \377\n' >&2
  echo "$PEER_LINE"
  echo 'done' >&2
fi
"#;

/// A stand-in interpreter with numpy whose numpy script prints
/// `$PEER_LINE`, then 17,000 lines of 1,000 bytes.
const CHATTY_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  [ "$2" = "import numpy" ]; exit $?
fi
if [ "$1" = numpy_epoch.py ]; then
  echo "$PEER_LINE"
  yes "$(printf '%1000s' | tr ' ' x)" | head -n 17000
fi
"#;

/// What a script writes past 16 MiB is counted, not kept, and a notice
/// says how many lines were left out: the line before them counts.
#[test]
fn output_past_its_cap_is_counted_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, CHATTY_PYTHON);
    let line = peer_line("0.5");
    let (ok, out, err) = bench_peers(&["--python", &python], &[("PEER_LINE", &line)]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.starts_with("numpy ")), "{out}");
    // 16 MiB hold the peer's line and 16,383 of the others, each line
    // counted with its 24 bytes of bookkeeping.
    assert!(
        err.contains(
            "notice: peer numpy wrote more than 16 MiB to its output; 617 later lines left out"
        ),
        "{err}"
    );
}

#[test]
fn a_line_that_is_not_utf8_does_not_stop_the_reading() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, UNTIDY_PYTHON);
    let line = peer_line("0.5");
    let (ok, out, err) = bench_peers(&["--python", &python], &[("PEER_LINE", &line)]);
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("numpy ")),
        "the line after the bytes counts: {out}"
    );
    assert!(!err.contains("notice: peer numpy"), "{err}");
}

/// A stand-in interpreter: imports numpy and jax but not torch; its numpy
/// script reports one record, its jax script fails. It logs each script's
/// arguments, the scripts it finds beside it, and OPENBLAS_CORETYPE.
const FAKE_PYTHON: &str = r#"#!/bin/sh
if [ "$1" = "-c" ]; then
  case "$2" in
    "import numpy"|"import jax") exit 0 ;;
    *) exit 1 ;;
  esac
fi
script=$1
shift
echo "$script $* | $(ls *.py | tr '\n' ' ')| ${OPENBLAS_CORETYPE:-unset} ${OPENBLAS_L2_SIZE:-unset}" >> "$PEER_LOG"
case $script in
  numpy_epoch.py)
    echo 'some chatter'
    echo '{"backend": "numpy", "adapter": "cpu", "shape": "S0", "activation": "tanh", "epochs": 3, "median_s": 0.5, "min_s": 0.25, "max_s": 0.75, "numpy": "9.9"}'
    ;;
  jax_epoch.py)
    echo 'jax failed on purpose' >&2
    exit 3
    ;;
esac
"#;

#[test]
fn each_importable_peer_runs_the_same_cases_and_gets_a_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let python = path(&dir, "python");
    stand_in(&python, FAKE_PYTHON);
    let (log, json) = (path(&dir, "log"), path(&dir, "b.json"));
    let env = [
        ("PEER_LOG", log.as_str()),
        ("OPENBLAS_CORETYPE", "Haswell"),
        ("OPENBLAS_L2_SIZE", "1048576"),
    ];
    let more = ["--python", &python, "--activation", "tanh", "--json", &json];
    let (ok, out, err) = bench_peers(&more, &env);
    assert!(ok, "{err}");
    assert!(err.contains("S0 numpy: median 5.000e-1 s/epoch ("), "{err}");

    // Only numpy and jax ran, each once, with the bench's cases, beside
    // all four scripts, without the OpenBLAS tuning variables.
    let log = std::fs::read_to_string(&log).unwrap();
    let scripts = "epoch_common.py jax_epoch.py numpy_epoch.py torch_epoch.py";
    let args = "--activation tanh --samples 3 --warmup 2 --batch 1 --threads 2 S0";
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            format!("numpy_epoch.py {args} | {scripts} | unset unset"),
            format!("jax_epoch.py {args} | {scripts} | unset unset"),
        ],
        "{log}"
    );
    for peer in ["torch-eager", "torch-compile"] {
        assert!(
            err.contains(&format!(
                "notice: peer {peer} skipped: {python} cannot import torch (pip install torch)"
            )),
            "{err}"
        );
    }
    assert!(
        err.contains(
            "notice: peer jax-jit timed 0 of 1 shapes, not S0 (exit status: 3): jax failed on purpose"
        ),
        "{err}"
    );

    let records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    let (cpu, numpy) = (&records[0], &records[1]);
    assert_eq!(cpu["backend"], "cpu");
    assert_eq!(numpy["backend"], "numpy");
    assert_eq!(numpy["version"], "numpy 9.9");
    assert_eq!(numpy["on_cpu"], true);
    let ours = cpu["median_s"].as_f64().unwrap();
    let ratio = numpy["shadertrain_speedup"].as_f64().unwrap();
    assert!(
        (ratio - 0.5 / ours).abs() <= 1e-9 * ratio,
        "{ratio} vs {ours}"
    );
    for r in &records {
        assert!(!r["cpu"]["model"].as_str().unwrap().is_empty());
        assert!(r["cpu"]["isa"].is_array());
    }

    let row = out
        .lines()
        .find(|l| l.starts_with("numpy "))
        .expect("a numpy row");
    assert!(row.ends_with(&format!("{:.2}x", 0.5 / ours)), "{row}");
    assert!(
        out.contains("peer rows, the peer's median over shadertrain's"),
        "{out}"
    );

    // Under --quiet the notices still show, and the per-peer lines not.
    let quiet = [&more[..], &["--quiet"]].concat();
    let (ok, _, err) = bench_peers(&quiet, &env);
    assert!(ok, "{err}");
    assert!(
        err.contains("notice: peer torch-eager skipped")
            && err.contains("notice: peer jax-jit timed 0 of 1 shapes"),
        "{err}"
    );
    assert!(!err.contains("peer numpy: timing"), "{err}");
    assert!(!err.contains("S0 numpy: median"), "{err}");
}

/// benches/epoch_common.py's `bits` and `symmetric` against src/rng.rs, and,
/// where the interpreter has numpy, its `problem("S0")` against the
/// data and starting weights `bench` times.
#[test]
fn the_peers_draw_shadertrains_data_and_weights() {
    let benches = concat!(env!("CARGO_MANIFEST_DIR"), "/benches");
    let cases: [(u64, Stream, u64); 5] = [
        (0, Stream::Features, 0),
        (0, Stream::Features, 123_456_789),
        (7, Stream::Layer(0), 5),
        (1 << 40 | 3, Stream::Layer(1), 1 << 33 | 9),
        (u64::MAX, Stream::Split, u64::MAX),
    ];
    let calls: Vec<String> = cases
        .iter()
        .map(|(seed, stream, i)| {
            let id = stream.id();
            format!("print(c.bits({seed}, {id}, {i}), repr(c.symmetric({seed}, {id}, {i})))")
        })
        .collect();
    let program = format!(
        "import sys; sys.path.insert(0, {benches:?}); import epoch_common as c\n{}",
        calls.join("\n")
    );
    let out = match Command::new("python3").args(["-c", &program]).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(!common::in_ci(), "CI has no python3: {e}");
            common::say_skipped(format_args!(
                "SKIPPED: no python3 to run benches/epoch_common.py ({e})"
            ));
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{text}");
    for ((seed, stream, i), line) in cases.iter().zip(lines) {
        let (bits, value) = line.split_once(' ').unwrap();
        assert_eq!(
            bits.parse::<u32>().unwrap(),
            rng::bits(*seed, *stream, *i),
            "{line}"
        );
        let want = rng::symmetric(*seed, *stream, *i);
        assert_eq!(value.parse::<f64>().unwrap(), f64::from(want), "{line}");
    }

    // The whole S0 problem, and a sized one with two features (the
    // target's third term dropped), where numpy is there (CI has it).
    let numpy = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .unwrap();
    if !numpy.status.success() {
        assert!(!common::in_ci(), "CI has no numpy for python3");
        common::say_skipped(format_args!(
            "SKIPPED (part): python3 has no numpy, so problem() was not compared"
        ));
        return;
    }
    for (label, n, f, h) in [("S0", 1024, 4, 16), ("300x2x5", 300, 2, 5)] {
        let program = format!(
            "import sys; sys.path.insert(0, {benches:?}); import numpy as np; import epoch_common as c\n\
             c.np = np\n\
             for a in c.problem('{label}'): print(' '.join(repr(float(v)) for v in a.ravel()))"
        );
        let out = Command::new("python3")
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "problem('{label}'): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let arrays: Vec<Vec<f32>> = text
            .lines()
            .map(|l| {
                l.split(' ')
                    .map(|v| v.parse::<f64>().unwrap() as f32)
                    .collect()
            })
            .collect();
        let data = Dataset::synthetic(n, f, 0).unwrap();
        let model = Model::init(
            Layout::new(f, &[h]).unwrap(),
            Activation::Sigmoid,
            0,
            data.feature_names.clone(),
            "y".into(),
        );
        assert_eq!(arrays[0], data.x, "{label}: x");
        // y goes through numpy's and Rust's sin and cos: equal to a few ulp.
        for (got, want) in arrays[1].iter().zip(&data.y) {
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON,
                "{label}: y: {got} vs {want}"
            );
        }
        assert_eq!(arrays[2], model.weight(0), "{label}: w1");
        assert_eq!(arrays[3], model.weight(1), "{label}: w2");
    }
}
