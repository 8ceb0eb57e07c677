//! Jobs larger than the machine are refused before anything large is
//! allocated: a huge --hidden on every backend, huge synthetic data, and
//! model files too large to load or whose header declares shapes its data
//! do not hold. Each refusal is quick, exits 1, names the size in binary
//! units and writes no model.

mod common;

use std::time::{Duration, Instant};

use common::{gen_csv, have_gpu, path, paths, train_data};
use shadertrain::cpu::Fast;
use shadertrain::memory;
use shadertrain::model::Layout;
use shadertrain::optim::Optimizer;

/// Runs the binary, asserting it fails with exit status 1 within a few
/// seconds and says `says`; returns its standard error.
fn refused(args: &[&str], says: &[&str]) -> String {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(args)
        .output()
        .expect("the binary runs");
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    // Refused from the shapes, not after allocating and filling memory.
    assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
    for s in says {
        assert!(err.contains(s), "{args:?}: expected '{s}' in: {err}");
    }
    err
}

#[test]
fn a_huge_hidden_layer_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "2000", "4", "1");
    for backend in ["auto", "cpu", "reference"] {
        let more = ["--hidden", "4294967296", "--save", &model];
        let err = refused(
            &train_data(&csv, backend, &more),
            &["of memory", "use a smaller --hidden"],
        );
        assert!(err.contains("TiB") || err.contains("PiB"), "{err}");
        assert!(err.contains("the parameters alone take 96.0 GiB"), "{err}");
    }
    // L-BFGS's pairs the most of it: its history is what to shorten.
    let more = ["--optimizer", "lbfgs", "--history-size", "1000000000"];
    let more = [&more[..], &["--epochs", "1000000000000", "--hidden", "8"]].concat();
    let err = refused(
        &train_data(&csv, "cpu", &more),
        &[
            "of memory",
            "use a smaller --history-size (each pair it keeps",
        ],
    );
    assert!(!err.contains("--hidden"), "{err}");
    // Where one pair would not fit either, the network is what to shrink.
    let more = [
        "--optimizer",
        "lbfgs",
        "--history-size",
        "1",
        "--hidden",
        "4294967296",
    ];
    refused(
        &train_data(&csv, "cpu", &more),
        &["of memory", "use a smaller --hidden"],
    );
    // Too many parameters to count at all.
    let more = ["--hidden", "2305843009213693952,8", "--save", &model];
    refused(&train_data(&csv, "cpu", &more), &["too many parameters"]);
    if have_gpu() {
        let more = ["--hidden", "4294967296", "--save", &model];
        refused(
            &train_data(&csv, "gpu", &more),
            &[
                "96.0 GiB of storage binding",
                "the adapter allows",
                "--hidden",
            ],
        );
    }
    assert!(!std::path::Path::new(&model).exists());
}

#[test]
fn a_hidden_layer_of_a_hundred_million_is_refused_where_it_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "2000", "4", "1");
    // gd: what the cpu case measures below is gd's need.
    let more = [
        "--hidden",
        "100000000",
        "--optimizer",
        "gd",
        "--save",
        &model,
    ];
    // f64 activations of 1,024 rows × 10^8 units: no machine holds them.
    refused(
        &train_data(&csv, "reference", &more),
        &["TiB of memory", "use a smaller --hidden"],
    );
    // The cpu backend needs a few tens of GiB, which some machines have.
    let layout = Layout::new(4, &[100_000_000]).unwrap();
    let need = Fast::bytes_needed(&layout, 2000, &Optimizer::gd(0.1), 0).unwrap();
    match memory::available() {
        Some(have) if have < need => {
            refused(&train_data(&csv, "cpu", &more), &["GiB of memory"]);
        }
        have => eprintln!(
            "SKIPPED the cpu case: it needs {need} bytes and this machine has {have:?} available"
        ),
    }
    assert!(!std::path::Path::new(&model).exists());
}

/// A sized bench shape whose network no machine holds is refused before
/// anything is allocated; before, the allocation aborted the process.
#[test]
fn a_bench_shape_too_large_for_memory_is_refused() {
    refused(
        &["bench", "--backends", "cpu", "--shapes", "S0,1x1x20000000000"],
        &[
            // The figure grows with the cores (a gradient per thread).
            "benchmarking 1x1x20000000000 (1 → 20000000000 → 1, 60000000001 parameters) needs about ",
            "TiB of memory",
            "use fewer hidden units, features or rows",
        ],
    );
    // On the GPU, a shape past the adapter's limits, before S0 is timed
    // and with no --json written.
    if have_gpu() {
        let dir = tempfile::tempdir().unwrap();
        let json = path(&dir, "b.json");
        let args = [
            "bench",
            "--backends",
            "gpu",
            "--shapes",
            "S0,1000x1x150000000",
        ];
        let err = refused(
            &[&args[..], &["--samples", "1", "--json", &json]].concat(),
            &[
                "1000x1x150000000 (1000 rows × 1 features, 150000000 hidden units) on ",
                "the adapter allows",
            ],
        );
        assert!(!err.contains("S0 gpu: median"), "{err}");
        assert!(!std::path::Path::new(&json).exists());
    }
}

#[test]
fn huge_synthetic_data_are_refused_before_allocating() {
    let more = ["--epochs", "1"];
    refused(
        &common::train_synthetic("100000000000", "3", "cpu", &more),
        &["generating 100000000000 rows × 3 features needs about 1.5 TiB"],
    );
    // gen holds a part of its rows at a time, but even one row of this
    // many features (and their names) is more than any machine here has:
    // refused before the file is created, not aborted by the allocator.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wide.csv");
    let gen = ["gen", "--rows", "2", "--features", "30000000000", "--out"];
    refused(
        &[&gen[..], &[out.to_str().unwrap()]].concat(),
        &[
            "generating 2 rows × 30000000000 features (1 row at a time) needs about ",
            "use fewer features",
        ],
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A file larger than its file system's free space (20 TiB of rows):
    // refused before hours of writing (killed after 20 s if it writes).
    let out = dir.path().join("long.csv");
    let gen = ["gen", "--rows", "1000000000000", "--features", "1", "--out"];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args([&gen[..], &[out.to_str().unwrap()]].concat())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr).into_owned();
    assert_eq!(done.status.code(), Some(1), "{err}");
    for says in [
        "1000000000000 rows × 1 feature take about 20.",
        "TiB as CSV, and ",
        " free; write it elsewhere, or fewer rows",
    ] {
        assert!(err.contains(says), "{err}");
    }
    assert!(err.contains(dir.path().to_str().unwrap()), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A limit on the process's address space (`ulimit -v`) binds before the
/// machine's memory does: a job past it is refused as one past the
/// machine's, where the allocator had aborted the process.
#[test]
fn a_limit_on_the_address_space_is_memory_the_check_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wide.csv");
    // About 4 GiB for its one row, under a limit of 1 GiB.
    let done = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_shadertrain"))
        .args(["gen", "--rows", "1", "--features", "100000000", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&done.stderr).into_owned();
    assert_eq!(done.status.code(), Some(1), "{err}");
    let says = "generating 1 row × 100000000 features (1 row at a time) needs about ";
    assert!(
        err.contains(says) && err.contains("use fewer features"),
        "{err}"
    );
    // The room it names is under the limit, whatever the machine has.
    let have = (err.split("but only ").nth(1))
        .and_then(|rest| rest.split(" is available").next())
        .unwrap_or_else(|| panic!("{err}"));
    let room = match have.split_once(' ') {
        Some((n, "MiB")) => n.parse::<f64>().unwrap() / 1024.0,
        Some((n, "GiB")) => n.parse::<f64>().unwrap(),
        _ => panic!("{err}"),
    };
    assert!(room <= 1.0, "{err}");
    assert!(!out.exists());
}

/// Rows past the memory (endless ones on standard input, under a limit
/// on the address space) end in an error, where the allocator aborted the
/// process: read in chunks, at the line the memory ran out; read whole
/// (a quote after the header), with what was read.
#[test]
fn rows_past_the_memory_end_in_an_error_not_an_abort() {
    for (first, says) in [
        ("1,2,3", "no memory for more cells: the "),
        ("\"1\",2,3", "/dev/stdin: out of memory with "),
    ] {
        let script = format!(
            "ulimit -v 1048576 && (echo a,b,y; echo '{first}'; yes 1,2,3) | exec \"$0\" \"$@\""
        );
        let done = std::process::Command::new("sh")
            .args(["-c", &script])
            .arg(env!("CARGO_BIN_EXE_shadertrain"))
            .args(["train", "--data", "-", "--backend", "cpu", "--epochs", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&done.stderr).into_owned();
        assert_eq!(done.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(err.contains("every cell read is held in memory"), "{err}");
    }
}

#[test]
fn a_model_file_larger_than_memory_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, big] = paths(&dir, ["d.csv", "big.st"]);
    gen_csv(&csv, "20", "2", "1");
    // A sparse file of 8 TiB, no blocks written but its first: a header
    // length a model file could have (zeros there are refused as no
    // model at once, whatever the file's size).
    std::fs::write(&big, 64u64.to_le_bytes()).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    if let Err(e) = file.set_len(8 << 40) {
        common::say_skipped(format_args!(
            "SKIPPED (this file system holds no 8 TiB sparse file: {e})"
        ));
        return;
    }
    let says = ["big.st (8.0 TiB) needs about 16.0 TiB of memory"];
    refused(&["predict", "--model", &big, "--data", &csv], &says);
    refused(&train_data(&csv, "cpu", &["--init", &big]), &says);
    refused(&["train", "--resume", &big], &says);
}

#[test]
fn a_header_declaring_shapes_its_data_do_not_hold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "20", "4", "1");
    // layers.0.weight declared (2^32, 4) over 16 bytes of data.
    let h = 1u64 << 32;
    let header = serde_json::json!({
        "__metadata__": {
            "activation": "sigmoid",
            "feature_names": "[\"x0\",\"x1\",\"x2\",\"x3\"]",
            "target_name": "y",
            "format": "shadertrain-mlp",
        },
        "layers.0.weight": {"dtype": "F32", "shape": [h, 4], "data_offsets": [0, 16]},
        "layers.0.bias": {"dtype": "F32", "shape": [h], "data_offsets": [16, 20]},
        "layers.1.weight": {"dtype": "F32", "shape": [1, h], "data_offsets": [20, 24]},
        "layers.1.bias": {"dtype": "F32", "shape": [1], "data_offsets": [24, 28]},
    })
    .to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 28]);
    std::fs::write(&model, bytes).unwrap();
    let says = ["m.st: not a valid safetensors file"];
    refused(&["predict", "--model", &model, "--data", &csv], &says);
    refused(&train_data(&csv, "cpu", &["--init", &model]), &says);
    refused(&["train", "--resume", &model], &says);
}
