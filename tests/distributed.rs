//! Sharded and distributed training: `--shards K` in one process, and
//! `mpirun -np P shadertrain train … --distributed` (the `mpi` feature),
//! which must give the same bits for every P; agreement, signals, and
//! failures of one process.

mod common;

use common::{assert_same_file, paths, run_ok, shadertrain, train_synthetic};
use shadertrain::io::read_history;

/// Small and fast: 600 rows, 3 features, 8 hidden units.
fn small<'a>(backend: &'a str, epochs: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    small_on("600", backend, epochs, more)
}

/// [`small`] on `rows` rows.
fn small_on<'a>(
    rows: &'a str,
    backend: &'a str,
    epochs: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = train_synthetic(rows, "3", backend, &["--hidden", "8", "--epochs", epochs]);
    args.extend_from_slice(more);
    args.push("-q");
    args
}

fn history(file: &str) -> Vec<f64> {
    read_history(std::path::Path::new(file)).unwrap()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Plain gd, momentum with the rate halved every 5 epochs (the sharded
/// trainer's own update, scheduled), and momentum with --clip-grad-norm
/// (the norm of the shards' summed gradient).
#[test]
fn one_process_shards_match_the_one_pass_reference_to_1e_12() {
    let step = [
        "--optimizer",
        "momentum",
        "--lr-schedule",
        "step",
        "--lr-every",
        "5",
        "--lr-gamma",
        "0.5",
    ];
    let clipped = [
        "--optimizer",
        "momentum",
        "--lr",
        "0.5",
        "--clip-grad-norm",
        "0.05",
    ];
    let mut runs = Vec::new();
    for optimizer in [&[][..], &step, &clipped] {
        let dir = tempfile::tempdir().unwrap();
        let [plain, sharded] = paths(&dir, ["plain.csv", "sharded.csv"]);
        let with = |more: &[&'static str], file: &str| {
            let mut args: Vec<String> = optimizer
                .iter()
                .chain(more)
                .map(|s| s.to_string())
                .collect();
            args.extend(["--history".to_string(), file.to_string()]);
            run_ok(&small("reference", "30", &strs(&args)));
        };
        with(&[], &plain);
        with(&["--shards", "5"], &sharded);
        let (a, b) = (history(&plain), history(&sharded));
        assert_eq!(a.len(), 31);
        common::assert_close("sharded reference losses", &b, &a, 0.0, 1e-12);
        // Not the same path by accident: the sums are bracketed differently.
        assert!(
            a != b || a.is_empty(),
            "the sharded losses equal the one-pass ones bit for bit"
        );
        runs.push(a);
    }
    assert_ne!(runs[0], runs[1], "the optimizers made the same run");
    assert_ne!(runs[1], runs[2], "the optimizers made the same run");
}

#[test]
fn cpu_shards_do_not_depend_on_threads_and_reruns_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let [one, three, again] = paths(&dir, ["1.st", "3.st", "again.st"]);
    let args = |t: &'static str, save: &str| -> Vec<String> {
        small(
            "cpu",
            "15",
            &["--optimizer", "adam", "--lr", "0.01", "--shards", "4"],
        )
        .into_iter()
        .map(String::from)
        .chain(["--threads".into(), t.into(), "--save".into(), save.into()])
        .collect()
    };
    for (t, save) in [("1", &one), ("3", &three), ("3", &again)] {
        run_ok(&strs(&args(t, save)));
    }
    assert_same_file(&one, &three, "--threads 1 against --threads 3");
    assert_same_file(&three, &again, "a rerun");
}

#[test]
fn a_shard_of_synthetic_rows_is_those_rows_of_the_whole_task() {
    let all = shadertrain::data::Dataset::synthetic(97, 5, 13).unwrap();
    for range in [0..1, 0..97, 13..14, 40..97, 1..96] {
        let part = shadertrain::data::Dataset::synthetic_rows(97, 5, 13, range.clone()).unwrap();
        assert_eq!(part, all.slice(range.clone()), "rows {range:?}");
    }
}

/// GPU shards generate their rows of the synthetic task on the device;
/// trained together they are the whole task, as the cpu backend generates
/// it on the host in one piece. A shard that generated another shard's
/// rows (or the first N/K rows each) would start from another loss.
#[test]
fn gpu_shards_of_device_rows_train_as_the_cpu_on_the_whole_task() {
    if !common::have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [cpu, gpu] = paths(&dir, ["cpu.csv", "gpu.csv"]);
    let momentum = ["--optimizer", "momentum"];
    let mut whole = small("cpu", "20", &momentum);
    whole.extend(["--history", &cpu]);
    run_ok(&whole);
    let mut sharded = small("gpu", "20", &momentum);
    sharded.extend(["--shards", "4", "--history", &gpu]);
    run_ok(&sharded);
    let (a, b) = (history(&cpu), history(&gpu));
    assert_eq!(a.len(), 21);
    // f32 sums in other orders: the trajectory tests' tolerance.
    common::assert_close("gpu shards against the cpu", &b, &a, 0.0, 1e-4);
}

/// A sharded GPU checkpoint resumes where it was written with no
/// `--backend`, on a software adapter too (every shard's device, not
/// only the first, may be one), bit for bit as the run not stopped.
#[test]
fn a_sharded_gpu_checkpoint_resumes_on_the_gpu_without_backend() {
    if !common::have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [checkpoint, whole, resumed] = paths(&dir, ["c.ck", "whole.st", "resumed.st"]);
    let sharded = ["--optimizer", "momentum", "--shards", "2"];
    let mut first = small_on("120", "gpu", "5", &sharded);
    first.extend(["--checkpoint", &checkpoint]);
    run_ok(&first);
    let mut all = small_on("120", "gpu", "12", &sharded);
    all.extend(["--save", &whole]);
    run_ok(&all);
    let rest = [
        "train",
        "--resume",
        &checkpoint,
        "--epochs",
        "12",
        "--save",
        &resumed,
    ];
    let (ok, _, err) = shadertrain(&rest);
    assert!(ok, "{err}");
    assert!(
        err.contains("training on the gpu backend, which wrote"),
        "{err}"
    );
    assert_same_file(&whole, &resumed, "resumed against the run not stopped");
}

#[test]
fn sharded_loss_and_gradient_are_the_reference_s_to_1e_12() {
    use shadertrain::cpu::{reference, Reference};
    use shadertrain::dist::{Sharded, Shards, Single};
    use shadertrain::model::Activation;
    use shadertrain::optim::lbfgs::Objective;
    use shadertrain::optim::Optimizer;

    let data = shadertrain::data::Dataset::synthetic(101, 3, 5).unwrap();
    let model = common::model(&data, &[7, 4], Activation::Tanh, 5);
    let (want_loss, want_grad) =
        reference::loss_and_grads(&model.layout, model.activation, &model.params, &data);
    for k in [1, 2, 7, 101] {
        let shards = Shards::new(data.rows, k).unwrap();
        let sets: Vec<_> = (0..k).map(|s| data.slice(shards.rows_of(s))).collect();
        let opt = Optimizer::gd(0.1);
        let parts = sets
            .iter()
            .map(|d| {
                Box::new(Reference::new(&model, d, opt).unwrap())
                    as shadertrain::dist::sharded::Part
            })
            .collect();
        let mut sharded = Sharded::new(parts, 2, &Single, shards, &model.params, opt).unwrap();
        let mut grad = vec![0.0; model.params.len()];
        let loss = sharded.evaluate(&model.params, &mut grad).unwrap();
        common::assert_close(&format!("loss, K = {k}"), &[loss], &[want_loss], 0.0, 1e-12);
        common::assert_close(
            &format!("gradient, K = {k}"),
            &grad,
            &want_grad,
            1e-15,
            1e-12,
        );
    }
}

#[test]
fn more_shards_than_rows_is_refused() {
    let (ok, _, err) = shadertrain(&small("cpu", "2", &["--shards", "601"]));
    assert!(!ok);
    assert!(
        err.contains("--shards 601 is more than the 600 training rows"),
        "{err}"
    );
    // A sharded bench names the shape with too few rows, before timing any.
    let bench = [
        "bench",
        "--backends",
        "cpu",
        "--shapes",
        "S0,3x3x7",
        "--shards",
        "4",
    ];
    let (ok, _, err) = shadertrain(&bench);
    assert!(!ok);
    assert!(
        err.contains("error: shape 3x3x7: --shards 4 is more than the 3 training rows"),
        "{err}"
    );
    assert!(!err.contains("S0"), "{err}");
}

/// A run with a launcher's variables but without --distributed: the
/// first of several processes (by Open MPI's numbering or PMI's) warns
/// that each trains alone; the others, and a launch of one, do not.
#[test]
fn a_launcher_s_variables_warn_on_the_first_of_several_only() {
    let args = small("cpu", "1", &[]);
    let vars = [
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "PMI_SIZE",
        "PMI_RANK",
    ];
    let warned = |set: &[(&str, &str)]| {
        let env: Vec<(&str, Option<&str>)> = (vars.iter())
            .map(|&v| (v, set.iter().find(|(k, _)| *k == v).map(|(_, x)| *x)))
            .collect();
        let (ok, _, err) = common::shadertrain_env(&args, &env);
        assert!(ok, "{set:?}: {err}");
        err.contains("warning: mpirun started")
    };
    assert!(warned(&[("OMPI_COMM_WORLD_SIZE", "2")]));
    assert!(!warned(&[("OMPI_COMM_WORLD_SIZE", "1")]));
    assert!(!warned(&[
        ("OMPI_COMM_WORLD_SIZE", "2"),
        ("OMPI_COMM_WORLD_RANK", "1")
    ]));
    assert!(warned(&[("PMI_SIZE", "3"), ("PMI_RANK", "0")]));
    assert!(!warned(&[("PMI_SIZE", "3"), ("PMI_RANK", "2")]));
}

/// `bench --shards 2` in one process: nothing moves between processes,
/// the reduce (a copy and a sum over 2 shards' partials) is a small
/// share of an epoch whose shard passes do the work, and the adapter
/// names the build the passes ran.
#[test]
fn a_one_process_sharded_bench_moves_no_bytes_and_mostly_computes() {
    let args = [
        "bench",
        "--backends",
        "cpu",
        "--shapes",
        "4096x16x64",
        "--shards",
        "2",
        "--threads",
        "1",
        "--cpu-isa",
        "baseline",
        "--samples",
        "3",
        "--warmup",
        "1",
        "--json",
        "-",
        "-q",
    ];
    let out = run_ok(&args);
    let records: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &records[0];
    let adapter = r["adapter"].as_str().unwrap();
    assert!(adapter.ends_with(" (1 thread, baseline)"), "{r}");
    // Without --cpu-isa: the widest build this CPU runs.
    let plain: Vec<&str> = (args.iter().copied())
        .filter(|&a| a != "--cpu-isa" && a != "baseline")
        .collect();
    let records: serde_json::Value = serde_json::from_str(&run_ok(&plain)).unwrap();
    let widest = format!(" (1 thread, {})", shadertrain::cpu::Isa::detect().name());
    let adapter = records[0]["adapter"].as_str().unwrap();
    assert!(adapter.ends_with(&widest), "{adapter}");
    assert_eq!(
        (r["processes"].as_u64(), r["shards"].as_u64()),
        (Some(1), Some(2)),
        "{r}"
    );
    assert_eq!(
        (r["bytes_in"].as_u64(), r["bytes_out"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    let (epoch, reduce) = (
        r["epoch_s"].as_f64().unwrap(),
        r["reduce_s"].as_f64().unwrap(),
    );
    assert!(epoch > 0.0 && (0.0..0.5 * epoch).contains(&reduce), "{r}");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn distributed_needs_the_mpi_build() {
    let (ok, _, err) = shadertrain(&small("cpu", "2", &["--distributed"]));
    assert!(!ok);
    assert!(err.contains("--features mpi"), "{err}");
}

/// Standard input reaches process 0 only, and every process reads the
/// rows: --distributed refuses `--data -` before anything runs.
#[cfg(feature = "mpi")]
#[test]
fn distributed_refuses_rows_from_standard_input() {
    let args = ["train", "--data", "-", "--distributed", "--epochs", "2"];
    let (ok, _, err) = shadertrain(&args);
    assert!(!ok);
    assert!(
        err.contains("--distributed cannot read its rows from standard input"),
        "{err}"
    );
    // Nor from a FIFO, which one process would empty: refused unopened.
    let dir = tempfile::tempdir().unwrap();
    let [fifo] = paths(&dir, ["rows.csv"]);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {fifo}");
    let args = ["train", "--data", &fifo, "--distributed", "--epochs", "2"];
    let (ok, _, err) = shadertrain(&args);
    assert!(!ok);
    let says =
        format!("--distributed cannot read its rows from {fifo}, which is not a regular file");
    assert!(err.contains(&says), "{err}");
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use common::{have_gpu, have_mpirun, mpirun, mpirun_command, mpirun_ok, path, PLATEAU};

    /// One process with --shards 4, then `--distributed --shards 4` on
    /// each of `nps` processes: the same history and model, byte for byte.
    fn same_bits_for_every_process_count(
        backend: &str,
        epochs: &str,
        more: &[&str],
        nps: &[usize],
    ) {
        same_bits_on_rows("600", backend, epochs, more, nps);
    }

    /// [`same_bits_for_every_process_count`] on `rows` rows.
    fn same_bits_on_rows(rows: &str, backend: &str, epochs: &str, more: &[&str], nps: &[usize]) {
        let dir = tempfile::tempdir().unwrap();
        let [h1, m1, j1] = paths(&dir, ["h1.csv", "m1.st", "j1.json"]);
        let mut one = small_on(rows, backend, epochs, more);
        one.extend([
            "--shards",
            "4",
            "--history",
            &h1,
            "--save",
            &m1,
            "--json",
            &j1,
        ]);
        run_ok(&one);
        let r2 = |j: &str| common::read_json(j)["final_r2"].as_f64();
        for &np in nps {
            let (h, m, j) = (
                path(&dir, &format!("h{np}.csv")),
                path(&dir, &format!("m{np}.st")),
                path(&dir, &format!("j{np}.json")),
            );
            let mut args = small_on(rows, backend, epochs, more);
            args.extend([
                "--distributed",
                "--shards",
                "4",
                "--history",
                &h,
                "--save",
                &m,
                "--json",
                &j,
            ]);
            mpirun_ok(np, &args);
            let what = format!("{backend} {more:?} on {np} processes");
            assert_same_file(&h1, &h, &format!("history, {what}"));
            assert_same_file(&m1, &m, &format!("model, {what}"));
            // No process holds every row: the variance is made from the
            // seed, as one process's of its rows.
            let (whole, parts) = (r2(&j1).expect("an r²"), r2(&j).expect("an r²"));
            assert!(
                (whole - parts).abs() < 1e-12,
                "r² {whole} against {parts}, {what}"
            );
        }
    }

    #[test]
    fn reference_gd_on_2_and_3_processes_is_one_process_bit_for_bit() {
        if !have_mpirun() {
            return;
        }
        same_bits_for_every_process_count("reference", "8", &[], &[2, 3]);
    }

    #[test]
    fn cpu_adam_and_lbfgs_on_1_2_and_4_processes_are_one_process_bit_for_bit() {
        if !have_mpirun() {
            return;
        }
        let adam = ["--optimizer", "adam", "--lr", "0.01"];
        same_bits_for_every_process_count("cpu", "10", &adam, &[1, 2, 4]);
        let lbfgs = ["--optimizer", "lbfgs"];
        same_bits_for_every_process_count("cpu", "5", &lbfgs, &[2]);
        // Every process finds the same plateau cuts and keeps the same
        // parameters.
        let plateau = [PLATEAU, &["--keep", "best"]].concat();
        same_bits_for_every_process_count("cpu", "10", &plateau, &[2]);
        // Every process runs the same --lr auto range test over the shards
        // and trains at the rate it chose.
        let auto = ["--optimizer", "adam", "--lr", "auto"];
        same_bits_for_every_process_count("cpu", "10", &auto, &[2]);
        // On 20,000 rows it tests on a sample of each shard, the same
        // however the shards are shared out.
        same_bits_on_rows("20000", "cpu", "3", &auto, &[2, 3]);
    }

    /// A run at `--lr auto`'s rate that diverges is trained again lower by
    /// every process alike.
    #[test]
    fn lr_auto_retries_on_2_processes_are_one_process_bit_for_bit() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let j = path(&dir, "s.json");
        let retry = [
            "--activation",
            "tanh",
            "--lr",
            "auto",
            "--lr-schedule",
            "one-cycle",
        ];
        let mut one = small("cpu", "300", &retry);
        one.extend(["--shards", "4", "--json", &j]);
        run_ok(&one);
        let v = common::read_json(&j);
        let retries = v["lr_range_test"]["retries"].as_array().unwrap();
        assert!(!retries.is_empty(), "{v}");
        same_bits_for_every_process_count("cpu", "300", &retry, &[2]);
    }

    #[test]
    fn gpu_rows_generated_on_device_on_2_processes_are_one_process_bit_for_bit() {
        if !have_mpirun() || !have_gpu() {
            return;
        }
        let momentum = ["--optimizer", "momentum"];
        same_bits_for_every_process_count("gpu", "6", &momentum, &[2]);
    }

    #[test]
    fn distributed_reference_gd_matches_the_one_pass_reference_to_1e_12() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let [plain, dist] = paths(&dir, ["plain.csv", "dist.csv"]);
        run_ok(&small("reference", "20", &["--history", &plain]));
        mpirun_ok(
            2,
            &small("reference", "20", &["--distributed", "--history", &dist]),
        );
        common::assert_close(
            "distributed losses",
            &history(&dist),
            &history(&plain),
            0.0,
            1e-12,
        );
    }

    #[test]
    fn csv_rows_with_a_split_and_standardisation_match_one_process() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let [csv, h1, h2, j2] = paths(&dir, ["d.csv", "h1.csv", "h2.csv", "s.json"]);
        common::gen_csv(&csv, "500", "4", "3");
        let args = |h: &str| {
            let mut a = common::train_data(&csv, "cpu", &["--hidden", "6", "--epochs", "6"]);
            a.extend([
                "--standardize",
                "--validation-split",
                "0.2",
                "--shards",
                "3",
            ]);
            a.extend(["--history", h, "-q"]);
            a.into_iter().map(String::from).collect::<Vec<_>>()
        };
        run_ok(&strs(&args(&h1)));
        let mut dist = args(&h2);
        dist.extend(["--distributed".into(), "--json".into(), j2.clone()]);
        mpirun_ok(2, &strs(&dist));
        // Losses and validation losses alike.
        assert_same_file(&h1, &h2, "history with val_loss");
        let json = std::fs::read_to_string(&j2).unwrap();
        assert!(json.contains("\"train_rows\": 400"), "{json}");
    }

    /// Processes whose runs differ in anything that changes what is
    /// trained or when it stops end before the first epoch, with one
    /// message that names what differs, rather than training a mix or
    /// waiting for each other forever.
    #[test]
    fn processes_that_disagree_stop_with_one_message() {
        if !have_mpirun() {
            return;
        }
        let bin = env!("CARGO_BIN_EXE_shadertrain");
        let assert_one_error = |code: i32, err: &str, says: &str| {
            // Every process ends with status 1, none aborted by MPI.
            assert_eq!(code, 1, "{err}");
            assert!(!err.contains("MPI_ERR"), "{err}");
            assert_eq!(err.matches("error:").count(), 1, "{err}");
            let want = format!("the processes disagree on the run's options and data: {says}");
            assert!(err.contains(&want), "{err}");
        };
        let cases: [(&str, &[&str], &[&str], &str); 4] = [
            (
                "cpu",
                &["--lr", "0.1"],
                &["--lr", "0.2"],
                "options.optimizer.lr: process 0 has 0.1, process 1 has 0.2",
            ),
            (
                "cpu",
                &[],
                &["--target-loss", "0.3"],
                "--target-loss: process 0 has null, process 1 has 0.3",
            ),
            (
                "cpu",
                &["--lr", "auto"],
                &["--lr", "0.1"],
                "--lr auto: process 0 has \"0.000001 to 10 over 100 epochs\", process 1 has null",
            ),
            (
                "reference",
                &[],
                &[],
                "backend: process 0 has \"reference\", process 1 has \"cpu\"",
            ),
        ];
        for (backend, first, second, says) in cases {
            // MPMD: two programs whose options differ.
            let mut args: Vec<&str> = small(backend, "3", &["--distributed"]);
            args.extend(first);
            args.extend([":", "-np", "1", bin]);
            args.extend(small("cpu", "3", &["--distributed"]));
            args.extend(second);
            let (code, _, err) = mpirun(1, &args);
            assert_one_error(code, &err, says);
            assert!(!err.contains("options.target_loss"), "said twice: {err}");
        }
        // The same --data path names other files on the two processes:
        // other values, or the same columns in another order.
        let [a, b, c] = ["a", "b", "c"].map(|d| {
            let dir = tempfile::tempdir().unwrap();
            let csv = dir.path().join("d.csv");
            common::gen_csv(
                csv.to_str().unwrap(),
                "40",
                "2",
                if d == "b" { "2" } else { "1" },
            );
            dir
        });
        let text = std::fs::read_to_string(c.path().join("d.csv")).unwrap();
        let swapped: String = text
            .lines()
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                format!("{},{},{}\n", cells[1], cells[0], cells[2])
            })
            .collect();
        std::fs::write(c.path().join("d.csv"), swapped).unwrap();
        for other in [&b, &c] {
            let run = common::train_data("d.csv", "cpu", &["--distributed", "--epochs", "2", "-q"]);
            let wdir = other.path().to_str().unwrap();
            let mut args = run.clone();
            args.extend([":", "-np", "1", "-wdir", wdir, bin]);
            args.extend(&run);
            let out = common::mpirun_command(1, 120, &args)
                .current_dir(a.path())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let says = "the data file's names and values: process 0 has \"40 rows × 3 columns, FNV-1a digest";
            assert_one_error(out.status.code().unwrap_or(-1), &err, says);
        }
        // The same file by two paths is the same data.
        let run = common::train_data("d.csv", "cpu", &["--distributed", "--epochs", "2", "-q"]);
        let whole = a.path().join("d.csv");
        let mut args = run.clone();
        args.extend([":", "-np", "1", bin]);
        args.extend(common::train_data(
            whole.to_str().unwrap(),
            "cpu",
            &run[5..],
        ));
        let out = common::mpirun_command(1, 120, &args)
            .current_dir(a.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
    }

    /// A one-pass run's checkpoint resumed over processes goes on sharded,
    /// and process 0 says so once.
    #[test]
    fn a_one_pass_checkpoint_resumed_over_processes_says_it_is_sharded() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ck = path(&dir, "k.ckpt");
        // Three threads, which a resume in one pass would take, with a
        // notice wherever the process sees another count of cores (under
        // mpirun, bound to one core, it sees one).
        common::run_ok(&small("cpu", "3", &["--threads", "3", "--checkpoint", &ck]));
        // `checkpoint` resumed with --distributed over `np` processes.
        let resumed_over = |np: usize, checkpoint: &str| {
            let args = ["train", "--resume", checkpoint, "--distributed"];
            mpirun(np, &[&args[..], &["--epochs", "5"]].concat())
        };
        let (code, _, err) = resumed_over(2, &ck);
        assert_eq!(code, 0, "{err}");
        let says =
            "was written by a run in one pass; from here on the gradient is summed over 16 shards";
        assert_eq!(err.matches(says).count(), 1, "{err}");
        // Its threads, which order no sharded sum, are not taken: no
        // notice of them, whatever this machine's cores.
        assert!(!err.contains("as the run that wrote"), "{err}");
        // A run in mini-batches cannot go on sharded: said as such, not as
        // a --batch-size the command did not give.
        let batches = path(&dir, "b.ckpt");
        common::run_ok(&small(
            "cpu",
            "3",
            &[
                "--optimizer",
                "adam",
                "--batch-size",
                "64",
                "--checkpoint",
                &batches,
            ],
        ));
        let (code, _, err) = resumed_over(2, &batches);
        assert_ne!(code, 0);
        let says = "was written by a run in mini-batches of 64 (--batch-size, which --resume keeps), and a --distributed run sums full-batch gradients over shards: resume it without --distributed";
        assert!(err.contains(says), "{err}");
        // The refusal alone: no notice of what the run would not write.
        assert!(!err.contains("notice:"), "{err}");
        // A sharded checkpoint resumed on more processes than its shards:
        // --shards cannot change them.
        let sharded = path(&dir, "s.ckpt");
        common::run_ok(&small(
            "cpu",
            "3",
            &["--shards", "2", "--checkpoint", &sharded],
        ));
        let (code, _, err) = resumed_over(3, &sharded);
        assert_ne!(code, 0);
        let says = "3 processes but 2 shards, and every process needs one: run at most 2: --resume takes no --shards";
        assert!(err.contains(says), "{err}");
    }

    /// Only process 0 checks and writes the outputs, which name its
    /// machine's folders: here the processes run in two folders (mpirun's
    /// MPMD form, each its own --wdir), and `out/` is only in process 0's.
    /// The run succeeds, and process 0's folder holds the checkpoint (at
    /// the last epoch), the model and the history.
    #[test]
    fn only_process_0_needs_the_folders_of_the_outputs() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        std::fs::create_dir_all(first.join("out")).unwrap();
        std::fs::create_dir(&second).unwrap();
        let outputs = [
            "--distributed",
            "--shards",
            "2",
            "--checkpoint",
            "out/ck.st",
            "--save",
            "out/m.st",
            "--history",
            "out/h.csv",
        ];
        let args = small("cpu", "3", &outputs);
        let bin = env!("CARGO_BIN_EXE_shadertrain");
        let mut cmd = std::process::Command::new("timeout");
        common::default_signals(&mut cmd);
        cmd.args(["-k", "10", "120", "mpirun", "--oversubscribe"]);
        for (i, wdir) in [&first, &second].into_iter().enumerate() {
            if i > 0 {
                cmd.arg(":");
            }
            cmd.args(["-np", "1", "--wdir", wdir.to_str().unwrap(), bin]);
            cmd.args(&args);
        }
        let out = cmd
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let ck = first.join("out/ck.st");
        assert_eq!(shadertrain::io::load_checkpoint(&ck).unwrap().1.epoch, 3);
        shadertrain::io::load_model(&first.join("out/m.st")).unwrap();
        assert_eq!(history(first.join("out/h.csv").to_str().unwrap()).len(), 4);
        assert!(!second.join("out").exists());
    }

    /// `--save -` under mpirun is refused before any work: each process's
    /// standard output is a terminal of mpirun's, whatever the command's
    /// is redirected to, and would take the binary model for text.
    #[test]
    fn a_distributed_model_is_not_written_to_standard_output() {
        if !have_mpirun() {
            return;
        }
        let (code, out, err) = mpirun(2, &small("cpu", "3", &["--distributed", "--save", "-"]));
        assert_ne!(code, 0);
        assert!(out.is_empty(), "{out}");
        let says = "--save is standard output, which mpirun relays through a terminal of its own";
        assert!(err.contains(says), "{err}");
        // One process, named as one.
        let (code, out, err) = mpirun(1, &small("cpu", "2", &["--distributed", "--json", "-"]));
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("on each of 16 shards, 1 MPI process\""),
            "{out}"
        );
    }

    /// Every process parses the same command line: a usage error is said
    /// once, by the first, with clap's exit code.
    #[test]
    fn a_usage_error_under_mpirun_is_said_once() {
        if !have_mpirun() {
            return;
        }
        let (code, _, err) = mpirun(
            3,
            &["train", "--synthetic", "100", "--bogus", "--distributed"],
        );
        assert_eq!(code, 2, "{err}");
        assert_eq!(
            err.matches("unexpected argument '--bogus' found").count(),
            1,
            "{err}"
        );
    }

    /// Processes mpirun started without --distributed each train (or
    /// bench) alone: the first says so.
    #[test]
    fn mpirun_without_distributed_is_warned_of_once() {
        if !have_mpirun() {
            return;
        }
        let (code, _, err) = mpirun(2, &small("cpu", "2", &[]));
        assert_eq!(code, 0, "{err}");
        let says = "warning: mpirun started 2 processes, and without --distributed each trains the whole run alone";
        assert_eq!(err.matches(says).count(), 1, "{err}");
        let (code, _, err) = mpirun(2, &small("cpu", "2", &["--distributed"]));
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("mpirun started"), "{err}");
        // A bench too, whose copies time each other's load.
        let bench = common::BENCH_S0;
        let (code, _, err) = mpirun(2, &[&bench[..], &["--warmup", "0", "-q"]].concat());
        assert_eq!(code, 0, "{err}");
        let says = "warning: mpirun started 2 processes, and without --distributed each times the whole bench alone";
        assert_eq!(err.matches(says).count(), 1, "{err}");
        // Sharded in each process (--shards), still alone.
        let shards = [&bench[..], &["--warmup", "0", "-q", "--shards", "2"]].concat();
        let (code, _, err) = mpirun(2, &shards);
        assert_eq!(code, 0, "{err}");
        assert_eq!(err.matches(says).count(), 1, "{err}");
    }

    /// Only process 0 prints: a warning too, such as the loss ending
    /// above where it started.
    #[test]
    fn a_warning_is_printed_once() {
        if !have_mpirun() {
            return;
        }
        let args = train_synthetic(
            "100",
            "2",
            "cpu",
            &[
                "--distributed",
                "--shards",
                "4",
                "--epochs",
                "2",
                "--optimizer",
                "gd",
                "-q",
            ],
        );
        let (code, _, err) = mpirun(3, &args);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("the loss ended above where it started"),
            "{err}"
        );
        assert_eq!(err.matches("warning:").count(), 1, "{err}");
    }

    /// The notice of a --cpu-isa no run took is said once, by process
    /// 0, as the command ends; the reference's shards take --threads.
    #[test]
    fn an_unused_cpu_option_is_named_once() {
        if !have_mpirun() {
            return;
        }
        let more = ["--distributed", "--epochs", "2", "--threads", "1"];
        let args = train_synthetic(
            "100",
            "2",
            "reference",
            &[&more[..], &["--cpu-isa", "baseline"]].concat(),
        );
        let (code, _, err) = mpirun(2, &args);
        assert_eq!(code, 0, "{err}");
        let says = "notice: --cpu-isa baseline changed nothing: ";
        assert_eq!(err.matches(says).count(), 1, "{err}");
        assert!(!err.contains("--threads 1 changed nothing"), "{err}");
    }

    #[test]
    fn max_time_stops_every_process_at_the_same_epoch() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let [json, hist] = paths(&dir, ["s.json", "h.csv"]);
        // gd: L-BFGS converges on these rows first.
        let more = [
            "--distributed",
            "--optimizer",
            "gd",
            "--max-time",
            "0.5",
            "--json",
            &json,
            "--history",
            &hist,
        ];
        mpirun_ok(2, &small("cpu", "1000000", &more));
        let summary = std::fs::read_to_string(&json).unwrap();
        assert!(summary.contains("\"stop\": \"time_limit\""), "{summary}");
        assert!(history(&hist).len() > 2);
    }

    /// `bench --distributed` times the sharded trainer on every process,
    /// records what process 0 gathered (and only process 0 checks where
    /// its outputs go), and stops with one message where the processes'
    /// settings differ, an option is refused, or there are too few shards.
    #[test]
    fn a_distributed_bench_times_agreed_cases_only() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let json = path(&dir, "b.json");
        let bench = [
            "bench",
            "--distributed",
            "--shapes",
            "S0",
            "--warmup",
            "0",
            "-q",
        ];
        let mut args = bench.to_vec();
        args.extend(["--samples", "2", "--json", &json]);
        // Process 0 alone reports: one table.
        let out = mpirun_ok(2, &args);
        assert_eq!(out.matches("| shape |").count(), 1, "{out}");
        let records: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let r = &records[0];
        assert_eq!(
            (r["processes"].as_u64(), r["shards"].as_u64()),
            (Some(2), Some(16)),
            "{r}"
        );
        // S0 (4 features, 16 hidden units: 97 parameters): 8·(2 + 97)
        // bytes per shard of the other process's 8.
        assert_eq!(r["bytes_in"].as_u64(), Some(8 * 99 * 8), "{r}");
        // And sends its 8 shards' to the other.
        assert_eq!(r["bytes_out"].as_u64(), Some(8 * 99 * 8), "{r}");
        assert!(r["epoch_s"].as_f64().unwrap() > 0.0, "{r}");
        let bin = env!("CARGO_BIN_EXE_shadertrain");
        let mut args = bench.to_vec();
        args.extend(["--samples", "2", ":", "-np", "1", bin]);
        // The second process warms up once: also a setting that is timed.
        args.extend(bench.map(|a| if a == "0" { "1" } else { a }));
        args.extend(["--samples", "3"]);
        let (code, _, err) = mpirun(1, &args);
        assert_eq!(code, 1, "{err}");
        assert!(!err.contains("MPI_ERR"), "{err}");
        assert_eq!(err.matches("error:").count(), 1, "{err}");
        let says = "the processes disagree on the bench's settings: --samples: process 0 has 2, process 1 has 3; --warmup: process 0 has 0, process 1 has 1";
        assert!(err.contains(says), "{err}");
        // Only process 0 writes, so only it checks where: another
        // machine's folders may differ (here process 1's has no `out`).
        let other = path(&dir, "out/b.json");
        std::fs::remove_file(&json).unwrap();
        let mut args = bench.to_vec();
        args.extend(["--samples", "1", "--json", &json, ":", "-np", "1", bin]);
        args.extend(bench);
        args.extend(["--samples", "1", "--json", &other]);
        mpirun_ok(1, &args);
        assert!(Path::new(&json).exists() && !Path::new(&other).exists());
        // A mistake in the options, made on every process, is said once.
        let mut args = bench.to_vec();
        args.extend(["--plot", "b.png"]);
        let (code, _, err) = mpirun(2, &args);
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.matches("error:").count(), 1, "{err}");
        let says =
            "error: all 2 processes: a sharded bench (--distributed or --shards) draws no chart";
        assert!(err.contains(says), "{err}");
        let mut args = bench.to_vec();
        args.extend(["--shards", "2"]);
        let (code, _, err) = mpirun(3, &args);
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.matches("error:").count(), 1, "{err}");
        assert!(
            err.contains("3 processes but 2 shards, and every process needs one: run at most 2"),
            "{err}"
        );
    }

    #[test]
    fn more_processes_than_shards_stop_every_process() {
        if !have_mpirun() {
            return;
        }
        // The run fails; what it said.
        let refused = |np, args: &[&str]| {
            let (code, _, err) = mpirun(np, args);
            assert_ne!(code, 0, "{err}");
            err
        };
        let err = refused(3, &small("cpu", "3", &["--distributed", "--shards", "2"]));
        // Every process hits it: named as all of them, not as process 0.
        assert!(
            err.contains("error: all 3 processes: 3 processes but 2 shards"),
            "{err}"
        );
        assert!(
            err.contains("3 processes but 2 shards, and every process needs one: run at most 2"),
            "{err}"
        );
        assert_eq!(err.matches("error:").count(), 1, "{err}");
        // CSV rows are counted after reading: the same one message.
        let dir = tempfile::tempdir().unwrap();
        let csv = path(&dir, "d.csv");
        common::gen_csv(&csv, "40", "2", "1");
        let args = common::train_data(&csv, "cpu", &["--distributed", "--shards", "41", "-q"]);
        let err = refused(2, &args);
        assert!(
            err.contains("--shards 41 is more than the 40 training rows"),
            "{err}"
        );
        assert_eq!(err.matches("error:").count(), 1, "{err}");
        // --distributed's own 16 shards, where --shards was not given:
        // the error says where they came from (and --shards 16, given,
        // is named as given).
        common::gen_csv(&csv, "10", "2", "1");
        let args = common::train_data(&csv, "cpu", &["--distributed", "-q"]);
        let err = refused(2, &args);
        let says = "--distributed cuts the rows into 16 shards unless --shards is given, and 16 is more than the 10 training rows; give at most 10 (or train without --distributed)";
        assert!(err.contains(says), "{err}");
        // Synthetic rows, sharded as they are generated: the same.
        let err = refused(
            2,
            &train_synthetic("10", "2", "cpu", &["--distributed", "-q"]),
        );
        assert!(err.contains(says), "{err}");
        let args = common::train_data(&csv, "cpu", &["--distributed", "--shards", "16", "-q"]);
        let err = refused(2, &args);
        assert!(
            err.contains("--shards 16 is more than the 10 training rows"),
            "{err}"
        );
    }

    /// A process that fails (an error, a panic) or is killed ends every
    /// process within seconds, with its message, and --save is untouched.
    #[test]
    fn one_failing_process_ends_them_all_promptly() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let save = path(&dir, "keep.st");
        for (fault, says) in [
            (
                "error:1:4",
                "error: process 1 of 2: injected error at pass 4",
            ),
            (
                "panic:1:4",
                "error: process 1 of 2 panicked; ending every process",
            ),
            (
                "error:0:2",
                "error: process 0 of 2: injected error at pass 2",
            ),
        ] {
            std::fs::write(&save, b"precious").unwrap();
            let args = small("cpu", "100000", &["--distributed", "--save", &save]);
            let start = Instant::now();
            let out = mpirun_command(2, 60, &args)
                .env("SHADERTRAIN_FAULT", fault)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{fault}: {err}");
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{fault} took {:?}",
                start.elapsed()
            );
            assert!(err.contains(says), "{fault}: {err}");
            assert_eq!(std::fs::read(&save).unwrap(), b"precious", "{fault}");
        }
    }

    /// The processes mpirun started.
    fn children(parent: u32) -> Vec<u32> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid …: the comm may hold spaces.
            let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            if ppid == Some(parent) {
                found.extend(
                    entry
                        .file_name()
                        .to_str()
                        .and_then(|p| p.parse::<u32>().ok()),
                );
            }
        }
        found
    }

    fn signal(pid: u32, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} {pid}");
    }

    /// Starts a long run, waits until its checkpoint exists, and returns it.
    fn start_long_run(np: usize, checkpoint: &str, extra: &[&str]) -> std::process::Child {
        // gd: L-BFGS converges on these rows long before.
        let more = ["--distributed", "--shards", "4", "--optimizer", "gd"];
        let mut args = small("cpu", "100000", &more);
        args.extend(["--checkpoint", checkpoint, "--checkpoint-every", "20"]);
        let mut cmd = mpirun_command(np, 120, &args);
        for e in extra {
            cmd.arg(e);
        }
        let child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
        let start = Instant::now();
        while !std::path::Path::new(checkpoint).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no first checkpoint"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    #[test]
    fn ctrl_c_checkpoints_once_exits_130_and_resumes_on_any_process_count() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let [ck, m3, m1] = paths(&dir, ["ck.st", "m3.st", "m1.st"]);
        let child = start_long_run(2, &ck, &[]);
        // A terminal's Ctrl-C reaches every process of the job (a launcher
        // that forwards SIGINT does the same).
        // The child is `timeout`; mpirun is its child, the ranks mpirun's.
        let ranks = children(children(child.id())[0]);
        assert_eq!(ranks.len(), 2, "the two processes of the job");
        for pid in ranks {
            signal(pid, "INT");
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{err}");
        assert_eq!(err.matches("checkpoint written to").count(), 1, "{err}");
        assert!(err.contains("(SIGINT)"), "{err}");
        let ck_epoch = shadertrain::io::load_checkpoint(std::path::Path::new(&ck))
            .unwrap()
            .1
            .epoch;
        assert_eq!(ck_epoch, common::interrupted_epoch(&err), "{err}");
        // Continued on 3 processes and in one: the same model.
        let total = (ck_epoch + 5).to_string();
        let resume = |save: &str| {
            let mut a =
                common::train_resume(&ck, "cpu", &["--epochs", &total, "--save", save, "-q"]);
            a.push("--distributed");
            a.into_iter().map(String::from).collect::<Vec<_>>()
        };
        mpirun_ok(3, &strs(&resume(&m3)));
        let mut single = resume(&m1);
        single.pop();
        run_ok(&strs(&single));
        assert_same_file(&m3, &m1, "resumed on 3 processes and on one");
    }

    /// The rank mpirun gave the process `pid` (its OMPI_COMM_WORLD_RANK).
    fn rank_of(pid: u32) -> usize {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        (env.split(|&b| b == 0))
            .find_map(|v| v.strip_prefix(b"OMPI_COMM_WORLD_RANK="))
            .and_then(|r| std::str::from_utf8(r).ok()?.parse().ok())
            .expect("mpirun names the rank")
    }

    /// A signal to one process alone (a scheduler's SIGTERM to one node),
    /// the first or the last: every process stops at the same pass, the
    /// checkpoint is written once, at the epoch the interrupt names, and
    /// the job exits with the signal's status.
    #[test]
    fn sigterm_to_one_process_stops_them_all() {
        if !have_mpirun() {
            return;
        }
        for rank in [0, 1] {
            let dir = tempfile::tempdir().unwrap();
            let ck = path(&dir, "ck.st");
            let child = start_long_run(2, &ck, &[]);
            let ranks = children(children(child.id())[0]);
            assert_eq!(ranks.len(), 2, "the two processes of the job");
            let pid = ranks.into_iter().find(|&p| rank_of(p) == rank).unwrap();
            signal(pid, "TERM");
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(143), "rank {rank}: {err}");
            assert!(err.contains("(SIGTERM)"), "rank {rank}: {err}");
            assert_eq!(err.matches("checkpoint written to").count(), 1, "{err}");
            let (_, c) = shadertrain::io::load_checkpoint(std::path::Path::new(&ck)).unwrap();
            assert_eq!(c.epoch, common::interrupted_epoch(&err), "{err}");
        }
    }

    #[test]
    fn sigint_to_mpirun_checkpoints_and_ends_every_process() {
        if !have_mpirun() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ck = path(&dir, "ck.st");
        // mpirun passes Ctrl-C on as SIGTERM, and kills what still runs a
        // moment later (odls_base_sigkill_timeout, 1 s by default).
        let child = start_long_run(2, &ck, &[]);
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        // The child is `timeout`; mpirun is its child.
        signal(children(child.id())[0], "INT");
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
        assert!(err.contains("checkpoint written to"), "{err}");
        // The file holds the epoch the interrupt names (written at the
        // signal; when that epoch is a multiple of 20 the periodic write
        // holds it too).
        let (_, c) = shadertrain::io::load_checkpoint(std::path::Path::new(&ck)).unwrap();
        assert_eq!(c.epoch, common::interrupted_epoch(&err), "{err}");
    }
}
