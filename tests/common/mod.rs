//! Shared by the integration tests: one tolerance check, the GPU devices
//! (one per process and binding limit, shared by its tests) that skip (or,
//! under CI=true, fail) when there is no adapter, and the built binary with
//! its argument vectors and temporary paths.
#![allow(dead_code)]

pub mod kernels;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use shadertrain::data::Dataset;
use shadertrain::gpu::{AdapterRequest, Context};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::rng::Stream;

/// One sample of a tiny bench shape (after one to warm up), on the
/// backends found by default.
pub const BENCH_TINY: [&str; 7] = [
    "bench",
    "--shapes",
    "64x2x2",
    "--samples",
    "1",
    "--warmup",
    "1",
];

/// `cmd` started with the signals the tests send at their default action:
/// a process started ignoring one keeps it ignored (`nohup`), and a test
/// run in the background of a script (`cargo test &`) has SIGINT and
/// SIGQUIT ignored, which its children would inherit.
pub fn default_signals(cmd: &mut std::process::Command) -> &mut std::process::Command {
    // SAFETY: between fork and exec the closure only calls signal(2),
    // which is async-signal-safe, and touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            for signal in [
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGHUP,
                libc::SIGTSTP,
            ] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        })
    }
}

/// Fresh weights from `seed` for a network over `data`'s features.
pub fn model(data: &Dataset, hidden: &[usize], act: Activation, seed: u64) -> Model {
    let layout = Layout::new(data.features, hidden).unwrap();
    Model::init(layout, act, seed, data.feature_names.clone(), "y".into())
}

/// Checks |got − want| ≤ bound[i] everywhere; NaN or infinity where the
/// reference is finite always fails. On failure it reports the largest
/// excess, where it is, and the first few failing pairs.
pub fn assert_within(name: &str, got: &[f64], want: &[f64], bound: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: lengths differ");
    let mut failures = Vec::new();
    let mut worst = (0usize, 0.0f64);
    for i in 0..got.len() {
        let diff = (got[i] - want[i]).abs();
        // A NaN difference fails too: `diff <= bound` is false for it.
        let within = diff <= bound[i];
        let bad = !got[i].is_finite() && want[i].is_finite() || !within;
        if bad {
            failures.push(i);
            let excess = if diff.is_finite() {
                diff / bound[i]
            } else {
                f64::INFINITY
            };
            if excess > worst.1 || !excess.is_finite() {
                worst = (i, excess);
            }
        }
    }
    if !failures.is_empty() {
        let first: Vec<String> = failures
            .iter()
            .take(5)
            .map(|&i| {
                format!(
                    "[{i}] got {:e} want {:e} (bound {:e})",
                    got[i], want[i], bound[i]
                )
            })
            .collect();
        panic!(
            "{name}: {} of {} values out of tolerance; worst at [{}] ({:.2}× the bound); first: {}",
            failures.len(),
            got.len(),
            worst.0,
            worst.1,
            first.join(", ")
        );
    }
}

/// |got − want| ≤ atol + rtol·|want|.
pub fn assert_close(name: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    let bound: Vec<f64> = want.iter().map(|w| atol + rtol * w.abs()).collect();
    assert_within(name, got, want, &bound);
}

/// The bound for a sum over `n` terms: 1e-5 + 1e-4·|ref| + 8·2⁻²⁴·⌈log₂n⌉·Σ|terms|.
pub fn sum_bound(want: &[f64], abs_terms: &[f64], n: usize) -> Vec<f64> {
    let depth = (n.max(2) as f64).log2().ceil();
    want.iter()
        .zip(abs_terms)
        .map(|(w, a)| 1e-5 + 1e-4 * w.abs() + 8.0 * 2f64.powi(-24) * depth * a)
        .collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The bits of each value, for bit-for-bit comparisons with readable
/// failures.
pub fn bits32(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

pub fn bits64(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Where `.ci/coop-lavapipe` installs Mesa 26.1's lavapipe (which offers
/// cooperative matrices) and SPIRV-Tools 2025.1's spirv-val:
/// $SHADERTRAIN_COOP_LAVAPIPE, else target/coop-lavapipe.
pub fn coop_lavapipe() -> PathBuf {
    match std::env::var_os("SHADERTRAIN_COOP_LAVAPIPE") {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/coop-lavapipe"),
    }
}

/// Whether this is a CI run (CI set, and not empty, 0 or false): there a
/// missing adapter fails a GPU test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Opens a device for `request` on any adapter, software included, one at
/// a time: opening devices on several threads at once crashes some drivers
/// (wgpu #10234, NVIDIA on Vulkan).
fn open(request: AdapterRequest) -> Result<Context, String> {
    static OPENING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = OPENING.lock().unwrap_or_else(PoisonError::into_inner);
    let request = AdapterRequest {
        allow_software: true,
        ..request
    };
    Context::new(&request).map_err(|e| e.to_string())
}

/// A device of the test's own for `request` (software adapters allowed),
/// for settings the shared devices do not have; skips or fails as
/// [`gpu_with`].
pub fn gpu_for(request: AdapterRequest) -> Option<Context> {
    match open(request) {
        Ok(ctx) => Some(ctx),
        Err(why) => skip(&why),
    }
}

/// The N of an interrupted run's "interrupted at epoch N" in `err`.
pub fn interrupted_epoch(err: &str) -> usize {
    let (_, after) = err
        .split_once("interrupted at epoch ")
        .unwrap_or_else(|| panic!("no \"interrupted at epoch\" in: {err}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no epoch after it in: {err}"))
}

/// Prints a skip's line to the standard error past the test harness's
/// capture, which hides what a passing test writes with `eprintln!`: a
/// skipped test is seen without `--nocapture`.
pub fn say_skipped(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `None` after a visible skip message, or a failure under CI=true.
fn skip<T>(why: &str) -> Option<T> {
    assert!(
        !in_ci(),
        "CI=true and no GPU adapter to run the GPU tests on: {why}"
    );
    say_skipped(format_args!("SKIPPED (no GPU adapter): {why}"));
    None
}

/// The device every test of this process shares for `max_binding`, opened
/// on first use; one per distinct value. Without an adapter the test skips
/// with a visible message, except under CI=true, where it fails.
///
/// Sharing opens each device once, not once per test (see [`open`]), and
/// leaves a few devices, not one per test, to the exit path, where Vulkan
/// on NVIDIA has crashed and deadlocked (wgpu #8365). Error scopes stay
/// per thread, but errors outside a scope and a lost device are per device
/// and would surface in whichever test checks next: a test that provokes
/// those takes [`own_gpu`].
pub fn gpu_with(max_binding: Option<u64>) -> Option<Arc<Context>> {
    type Shared = HashMap<Option<u64>, Result<Arc<Context>, String>>;
    static SHARED: LazyLock<Mutex<Shared>> = LazyLock::new(Default::default);
    let got = SHARED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(max_binding)
        .or_insert_with(|| {
            let request = AdapterRequest {
                max_binding,
                ..AdapterRequest::default()
            };
            open(request).map(Arc::new)
        })
        .clone();
    match got {
        Ok(ctx) => Some(ctx),
        Err(why) => skip(&why),
    }
}

/// [`gpu_with`] at the adapter's own binding limit.
pub fn gpu() -> Option<Arc<Context>> {
    gpu_with(None)
}

/// A device of the test's own, for a test that destroys it or provokes
/// errors outside an error scope, so no other test sees them; skips or
/// fails as [`gpu_with`].
pub fn own_gpu() -> Option<Context> {
    gpu_for(AdapterRequest::default())
}

/// Deterministic uniform values in [lo, hi).
pub fn uniform(seed: u64, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let u = (shadertrain::rng::symmetric(seed, Stream::Other(99), i as u64) + 1.0) / 2.0;
            lo + (hi - lo) * u
        })
        .collect()
}

/// Runs the built binary with `args`; returns (success, stdout, stderr).
pub fn shadertrain(args: &[&str]) -> (bool, String, String) {
    shadertrain_env(args, &[])
}

/// [`shadertrain`] with environment variables set (`Some`) or removed
/// (`None`) for the run.
pub fn shadertrain_env(args: &[&str], vars: &[(&str, Option<&str>)]) -> (bool, String, String) {
    let out = output_env(args, vars);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The built binary's whole output with `args`, and environment variables
/// set (`Some`) or removed (`None`).
fn output_env(args: &[&str], vars: &[(&str, Option<&str>)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"));
    cmd.args(args);
    for (name, value) in vars {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.output().expect("the binary runs")
}

/// Runs the binary (a debug build) with `args` and SIGTERM raised as
/// `--folds`' fold `at` (from 1), or its run on every row (`every-row`),
/// is set up; returns its exit code and standard error.
pub fn signalled_in_fold(args: &[&str], at: &str) -> (Option<i32>, String) {
    let out = output_env(args, &[("SHADERTRAIN_SIGNAL_IN_FOLD", Some(at))]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), said)
}

/// Runs the binary with `args` and `input` on its standard input; whether
/// it succeeded, its standard output and its standard error.
pub fn shadertrain_stdin(args: &[&str], input: &[u8]) -> (bool, Vec<u8>, String) {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that stops before reading all of it closes the pipe early.
    let _ = child.stdin.take().unwrap().write_all(input);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), out.stdout, err)
}

/// Runs the binary with `args`, asserts it succeeded; returns its standard output.
pub fn run_ok(args: &[&str]) -> String {
    let (ok, out, err) = shadertrain(args);
    assert!(ok, "shadertrain {args:?} failed: {err}");
    out
}

/// Runs the binary with `args`, asserts it succeeded; returns its standard
/// output and standard error.
pub fn run_ok_out_err(args: &[&str]) -> (String, String) {
    let (ok, out, err) = shadertrain(args);
    assert!(ok, "shadertrain {args:?} failed: {err}");
    (out, err)
}

/// Runs the binary with `args`, asserts it failed; returns its standard
/// output and standard error.
pub fn run_refused(args: &[&str]) -> (String, String) {
    let (ok, out, err) = shadertrain(args);
    assert!(!ok, "shadertrain {args:?} succeeded: {out}{err}");
    (out, err)
}

/// Writes the comma-separated file `from` to `to` with its columns in
/// `order` (`order[k]` is the column of `from` that goes k-th), header
/// included: the same cells, in another order.
pub fn reorder_columns(from: &str, to: &str, order: &[usize]) {
    let text = std::fs::read_to_string(from).unwrap();
    let moved: String = (text.lines())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let moved: Vec<&str> = order.iter().map(|&k| cells[k]).collect();
            moved.join(",") + "\n"
        })
        .collect();
    std::fs::write(to, moved).unwrap();
}

/// Runs `gen --rows ROWS --features F --seed SEED --out OUT`, asserting it succeeded.
pub fn gen_csv(out: &str, rows: &str, features: &str, seed: &str) {
    run_ok(&[
        "gen",
        "--rows",
        rows,
        "--features",
        features,
        "--seed",
        seed,
        "--out",
        out,
    ]);
}

/// The values of a `predict --out` file (a header, then one per line).
pub fn read_predictions<T: std::str::FromStr>(path: &str) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Asserts that the files `a` and `b` hold the same bytes (histories,
/// models, predictions of two runs meant to agree bit for bit); `what`
/// says which.
pub fn assert_same_file(a: &str, b: &str, what: &str) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(x == y, "{what}: {a} and {b} differ");
}

/// The `--json` summary written at `path`.
pub fn read_json(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// k of the error "diverged at epoch k (…)" in `err`.
pub fn diverged_epoch(err: &str) -> usize {
    let after = err.split("diverged at epoch ").nth(1);
    let k = after.and_then(|t| t.split(' ').next()?.parse().ok());
    k.unwrap_or_else(|| panic!("no divergence in: {err}"))
}

/// Each `(extra, says)`: `train --synthetic 50 --features 2 --backend cpu`
/// then `extra` fails, and its error contains `says`.
pub fn assert_refused(cases: &[(&[&str], &str)]) {
    for &(extra, says) in cases {
        let (ok, _, err) = shadertrain(&train_synthetic("50", "2", "cpu", extra));
        assert!(!ok, "{extra:?} ran");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
}

/// Mini-batch momentum at a rate where the loss bounces: on 300 synthetic
/// rows of 3 features through 7,4 hidden units its lowest loss over 10
/// epochs is epoch 8's, and its lowest validation loss (a 0.2 split)
/// epoch 5's, after none below epoch 0's in epochs 1 to 4.
pub const BOUNCE: &[&str] = &["--optimizer", "momentum", "--lr", "1", "--batch-size", "64"];

/// Nesterov at a rate that blows up after epoch 0 on the same task: its
/// loss never again comes below the initial parameters'.
pub const BLOW_UP: &[&str] = &["--optimizer", "nesterov", "--lr", "1", "--batch-size", "32"];

/// Momentum with a plateau schedule that halves the rate whenever the loss
/// falls by less than 5% in an epoch: on 300 synthetic rows of 3 features
/// through 7,4 hidden units it cuts from epochs 3 to 9 of 10.
pub const PLATEAU: &[&str] = &[
    "--optimizer",
    "momentum",
    "--lr-schedule",
    "plateau",
    "--lr-patience",
    "0",
    "--lr-threshold",
    "0.05",
    "--lr-gamma",
    "0.5",
];

/// `train --synthetic ROWS --features F --backend B`, then `more`: the
/// argument vector most CLI tests start from.
pub fn train_synthetic<'a>(
    rows: &'a str,
    features: &'a str,
    backend: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--synthetic",
        rows,
        "--features",
        features,
        "--backend",
        backend,
    ];
    args.extend_from_slice(more);
    args
}

/// `train --data CSV --backend B`, then `more`.
pub fn train_data<'a>(csv: &'a str, backend: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", csv, "--backend", backend];
    args.extend_from_slice(more);
    args
}

/// `train --resume CHECKPOINT --backend B`, then `more`.
pub fn train_resume<'a>(checkpoint: &'a str, backend: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--resume", checkpoint, "--backend", backend];
    args.extend_from_slice(more);
    args
}

/// `name` in the temporary directory, as the binary's arguments take it.
pub fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

/// [`path`] for several names: `let [csv, model] = paths(&dir, ["d.csv", "m.st"]);`.
pub fn paths<const N: usize>(dir: &tempfile::TempDir, names: [&str; N]) -> [String; N] {
    names.map(|name| path(dir, name))
}

/// Width and height from the PNG's IHDR, after checking the signature, and
/// a full decode to the same size that finds several colours drawn.
pub fn png_size(file: impl AsRef<Path>) -> (u32, u32) {
    let file = file.as_ref();
    let bytes = std::fs::read(file).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        file.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    let (w, h) = (be(16), be(20));
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.clone()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (w, h));
    // Not a blank canvas: several colours were drawn.
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 3, "{} colours", colours.len());
    (w, h)
}

/// Whether the GPU CLI tests can run: as [`gpu`], whose shared device
/// stays open for the process's other tests.
pub fn have_gpu() -> bool {
    gpu().is_some()
}

/// Whether `mpirun` runs. Without it a distributed test skips with a
/// visible message, except under CI=true, where it fails.
pub fn have_mpirun() -> bool {
    let found = std::process::Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "CI=true and no mpirun to run the distributed tests with (install openmpi-bin)"
        );
        say_skipped(format_args!(
            "SKIPPED (no mpirun): install openmpi-bin to run the distributed tests"
        ));
    }
    found
}

/// `mpirun -np NP shadertrain ARGS` as a command, under `timeout -k 10
/// LIMIT` (mpirun ignores SIGTERM), allowed to run as root and to put more
/// processes than cores on this machine.
pub fn mpirun_command(np: usize, limit_s: u64, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("timeout");
    default_signals(&mut cmd);
    cmd.args([
        "-k",
        "10",
        &limit_s.to_string(),
        "mpirun",
        "--oversubscribe",
    ])
    .args(["-np", &np.to_string(), env!("CARGO_BIN_EXE_shadertrain")])
    .args(args)
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .stdin(std::process::Stdio::null());
    cmd
}

/// Runs [`mpirun_command`] with a 120 s limit; returns (exit code,
/// stdout, stderr). A run past the limit fails the test.
pub fn mpirun(np: usize, args: &[&str]) -> (i32, String, String) {
    let out = mpirun_command(np, 120, args)
        .output()
        .expect("timeout and mpirun run");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code != 124 && code != 137,
        "mpirun -np {np} {args:?} hung past its limit"
    );
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`mpirun`], asserting every process succeeded; returns standard output.
pub fn mpirun_ok(np: usize, args: &[&str]) -> String {
    let (code, out, err) = mpirun(np, args);
    assert_eq!(code, 0, "mpirun -np {np} {args:?} failed: {err}");
    out
}

/// Property tests' settings: `cases` cases drawn from a fixed seed, so
/// every run, CI's included, draws the same shapes, and a failure names
/// its case; `PROPTEST_RNG_SEED` chooses another seed.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let from_env = Config::default();
    let rng_seed = match from_env.rng_seed {
        RngSeed::Random => RngSeed::Fixed(0x5eed),
        chosen => chosen,
    };
    Config {
        cases,
        rng_seed,
        ..from_env
    }
}

/// `run`'s `contention` object (of bench's or train's JSON) and its
/// other output, first with whatever else runs beside the tests, then
/// with a busy loop on every core the first counted ([`cores_counted`]),
/// which leaves none idle.
pub fn idle_then_crowded<T>(
    run: impl Fn() -> (serde_json::Value, T),
) -> [(serde_json::Value, T); 2] {
    let idle = run();
    let loops = BusyLoops::on(cores_counted(&idle.0));
    let crowded = run();
    drop(loops);
    [idle, crowded]
}

/// A busy shell loop on each of `cores` cores, ended (killed and
/// reaped) however the test ends: other processes that leave no core
/// idle.
struct BusyLoops(Vec<std::process::Child>);

impl BusyLoops {
    fn on(cores: usize) -> BusyLoops {
        let spin = || {
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("sh runs")
        };
        BusyLoops((0..cores).map(|_| spin()).collect())
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The cores a `contention` object of bench's or train's JSON counted
/// (those of the process's affinity, which a CPU quota does not lower),
/// or where it has none (work under 0.1 s) the cores Rust would use.
fn cores_counted(contention: &serde_json::Value) -> usize {
    match contention["cores"].as_u64() {
        Some(cores) => cores as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// `bytes`, a model file's, with its metadata's digest entry renamed, so
/// that an edit of its metadata is read as made (the check it would fail
/// is tests/files.rs' `a_changed_metadata_entry_is_refused`'s).
pub fn unsealed(bytes: &[u8]) -> Vec<u8> {
    let key = b"\"metadata_fnv1a64\"";
    let mut bytes = bytes.to_vec();
    if let Some(at) = bytes.windows(key.len()).position(|w| w == key) {
        bytes[at + key.len() - 2] = b'x';
    }
    bytes
}

/// [`unsealed`] `bytes` with the text `was` (found once, or the test
/// fails) replaced by `now`, as long: a metadata entry edited in place.
pub fn unsealed_with(bytes: &[u8], was: &str, now: &str) -> Vec<u8> {
    assert_eq!(was.len(), now.len(), "an edit in place keeps the length");
    let at = (bytes.windows(was.len()))
        .position(|w| w == was.as_bytes())
        .unwrap_or_else(|| panic!("{was} is not in the file"));
    let mut edited = unsealed(bytes);
    edited[at..at + now.len()].copy_from_slice(now.as_bytes());
    edited
}

/// `bench` of one sample of S0 on the cpu backend.
pub const BENCH_S0: [&str; 7] = [
    "bench",
    "--shapes",
    "S0",
    "--backends",
    "cpu",
    "--samples",
    "1",
];
