//! Messages say one thing once and say what to do: I/O errors and file
//! names once, adapter choices that point at the flag that works, time
//! limits as given, singular counts, notices that --quiet drops, columns
//! matched by name for --init as for predict, model files whose feature
//! names cannot be matched refused, whole-number options given a negative
//! or malformed value saying what they take, and nothing from the Vulkan
//! stack about XDG_RUNTIME_DIR.

mod common;

use common::{
    assert_refused, gen_csv, have_gpu, path, paths, run_ok, shadertrain, shadertrain_env,
    train_data, train_resume, train_synthetic,
};
use shadertrain::gpu::context::{adapters, is_software};
use shadertrain::io::save_model;
use shadertrain::model::{Activation, Layout, Model};

/// The names of the software adapters wgpu finds (lavapipe's llvmpipe).
fn software_adapters() -> Vec<String> {
    adapters()
        .iter()
        .map(|a| a.get_info())
        .filter(is_software)
        .map(|i| i.name)
        .collect()
}

#[test]
fn io_errors_give_their_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let [missing, csv, model] = paths(&dir, ["missing.csv", "d.csv", "missing.st"]);
    gen_csv(&csv, "20", "2", "1");
    for args in [
        train_data(&missing, "cpu", &[]),
        vec!["predict", "--model", &model, "--data", &csv],
    ] {
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok);
        assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn init_errors_name_the_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, three, model, missing] = paths(&dir, ["d.csv", "d3.csv", "m.st", "nope.st"]);
    gen_csv(&csv, "20", "2", "1");
    gen_csv(&three, "20", "3", "1");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--hidden", "3", "--epochs", "2", "--save", &model],
    ));
    for (init, data) in [(&model, &three), (&missing, &csv)] {
        let (ok, _, err) = shadertrain(&train_data(data, "cpu", &["--init", init]));
        assert!(!ok);
        assert_eq!(err.matches(init.as_str()).count(), 1, "{err}");
    }
}

#[test]
fn init_matches_columns_by_name_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b, c, d, model, ha, hb] = paths(
        &dir,
        [
            "a.csv", "b.csv", "c.csv", "d.csv", "m.st", "ha.csv", "hb.csv",
        ],
    );
    std::fs::write(&a, "p,q,t\n1,2,3\n4,5,6\n-1,0.5,2\n").unwrap();
    // The same rows with the feature columns swapped.
    std::fs::write(&b, "q,p,t\n2,1,3\n5,4,6\n0.5,-1,2\n").unwrap();
    run_ok(&train_data(
        &a,
        "cpu",
        &["--hidden", "2", "--epochs", "3", "--save", &model],
    ));
    for (data, history) in [(&a, &ha), (&b, &hb)] {
        let more = ["--init", &model, "--epochs", "2", "--history", history];
        run_ok(&train_data(data, "cpu", &more));
    }
    assert_eq!(
        std::fs::read_to_string(&ha).unwrap(),
        std::fs::read_to_string(&hb).unwrap(),
        "the swapped columns were not matched by name"
    );

    // A column missing, and one the model does not take.
    std::fs::write(&c, "p,r,t\n1,2,3\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(&c, "cpu", &["--init", &model]));
    assert!(!ok);
    assert!(err.contains("missing q"), "{err}");
    assert!(err.contains("not in the model: r"), "{err}");
    assert!(err.contains("in any order"), "{err}");
    // The model's target first: without --target, the model's is taken.
    std::fs::write(&d, "t,p,q\n3,1,2\n").unwrap();
    let out = run_ok(&train_data(&d, "cpu", &["--init", &model, "--epochs", "1"]));
    assert!(out.contains("target t"), "{out}");
    // Named otherwise, the target is the one named.
    let more = ["--init", &model, "--target", "q", "--epochs", "1"];
    let (ok, _, err) = shadertrain(&train_data(&d, "cpu", &more));
    assert!(!ok);
    assert!(
        err.contains("with --ignore t, or train it with --target t"),
        "{err}"
    );
    // No target column: the last column, one of the model's features, is
    // read as the target, and the message says the model's is missing.
    std::fs::write(&d, "p,q\n1,2\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(&d, "cpu", &["--init", &model]));
    assert!(!ok);
    assert!(
        err.contains("the target read, 'q', is one of the model's features, and the model's target 't' is not in the file"),
        "{err}"
    );
}

#[test]
fn auto_names_backend_gpu_for_a_software_adapter_asked_by_name() {
    let Some(name) = software_adapters().into_iter().next() else {
        assert!(!common::in_ci(), "CI has lavapipe, a software adapter");
        common::say_skipped(format_args!(
            "SKIPPED (no software adapter to ask for by name)"
        ));
        return;
    };
    let part: String = name.chars().take(4).collect();
    let more = ["--adapter", &part, "--epochs", "1"];
    let (ok, _, err) = shadertrain(&common::train_synthetic("20", "2", "auto", &more));
    assert!(ok, "{err}");
    assert!(err.contains("--backend gpu"), "{err}");
    assert!(err.contains(&name), "{err}");
    assert!(!err.contains("none named like"), "{err}");
}

/// By default bench times a hardware GPU and not a software one (which
/// runs on the CPU, far slower than the cpu backend), saying so; a GPU
/// setting asks for it.
#[test]
fn bench_times_a_software_adapter_only_when_asked() {
    let hardware = adapters().iter().any(|a| !is_software(&a.get_info()));
    let software = software_adapters();
    assert!(
        !common::in_ci() || hardware || !software.is_empty(),
        "CI has lavapipe"
    );
    let bench = common::BENCH_TINY;
    let (ok, out, err) = shadertrain(&bench);
    assert!(ok, "{err}");
    let gpu_rows = |out: &str| out.lines().filter(|l| l.starts_with("gpu ")).count();
    assert_eq!(gpu_rows(&out), usize::from(hardware), "{out}");
    if hardware || software.is_empty() {
        common::say_skipped(format_args!(
            "SKIPPED (the software-only half: this machine has a hardware adapter or none)"
        ));
        return;
    }
    let says = format!(
        "notice: no hardware GPU adapter, and {} is a software one",
        software[0]
    );
    assert!(err.contains(&says), "{err}");
    let (ok, out, err) = shadertrain(&[&bench[..], &["--kernels", "layered"]].concat());
    assert!(ok, "{err}");
    assert_eq!(gpu_rows(&out), 1, "{out}");
}

#[test]
fn a_missing_adapter_suggests_installing_one_only_when_none_is_there() {
    let more = ["--adapter", "no-such-gpu-anywhere"];
    let (ok, _, err) = shadertrain(&common::train_synthetic("10", "2", "gpu", &more));
    assert!(!ok);
    assert!(
        err.contains("none named like 'no-such-gpu-anywhere'"),
        "{err}"
    );
    let software = software_adapters();
    if software.is_empty() {
        assert!(err.contains("lavapipe"), "{err}");
    } else {
        assert!(err.contains(&software[0]), "{err}");
        assert!(!err.contains("install"), "{err}");
        assert!(
            err.contains("Give --adapter part of one of these names"),
            "{err}"
        );
    }
}

/// A GPU setting on a backend without one is refused, as a flag its
/// optimizer does not use is; so are bench's lists naming a case twice
/// and a named adapter that is not there, before anything is timed.
#[test]
fn settings_for_a_backend_not_used_are_refused() {
    assert_refused(&[
        (
            &["--adapter", "llvm"],
            "--adapter is a setting of the GPU backend, and the cpu backend uses no GPU",
        ),
        (
            &["--kernels", "fused"],
            "--kernels is a setting of the GPU backend",
        ),
        (
            &["--gpu-timeout", "5"],
            "--gpu-timeout is a setting of the GPU backend, and the cpu backend uses no GPU",
        ),
        (
            &["--target", "nonexistent"],
            "the argument '--synthetic <N>' cannot be used with '--target <NAME>'",
        ),
        (
            &["--threads", "1025"],
            "invalid value '1025' for '--threads <N>': at most 1024",
        ),
    ]);
    let more = ["--kernels", "layered"];
    let (ok, _, err) = shadertrain(&train_synthetic("50", "2", "reference", &more));
    assert!(
        !ok && err.contains("and the reference backend uses no GPU"),
        "{err}"
    );
    let bench = |more: &[&str]| {
        let mut args = vec!["bench", "--samples", "1", "--warmup", "0"];
        if !more.contains(&"--shapes") {
            args.extend(["--shapes", "S0"]);
        }
        args.extend(more);
        let (ok, out, err) = shadertrain(&args);
        assert!(!ok, "{more:?} ran: {out}");
        assert!(!err.contains(" median "), "{more:?} timed a case: {err}");
        err
    };
    let err = bench(&["--shapes", "S0,S1,S0"]);
    assert!(err.contains("--shapes names S0 twice"), "{err}");
    // Kernels that do not take a later shape: refused before the first
    // case is timed, naming the shape.
    if have_gpu() {
        let more = [
            "--shapes",
            "S0,64x40x4",
            "--backends",
            "cpu,gpu",
            "--kernels",
            "fused",
        ];
        let err = bench(&more);
        let says = "64x40x4 (64 rows × 40 features, 4 hidden units) with --kernels fused: the fused kernel takes one hidden layer";
        assert!(err.contains(says), "{err}");
    }
    // Counts whose losses or times would not fit in memory.
    let err = bench(&["--gpu-batch", "18446744073709551615"]);
    assert!(
        err.contains("--gpu-batch must be at most 1000000, not 18446744073709551615"),
        "{err}"
    );
    let err = bench(&["--backends", "cpu,reference,cpu"]);
    assert!(err.contains("--backends names cpu twice"), "{err}");
    let err = bench(&["--backends", "cpu", "--gpu-batch", "4"]);
    assert!(
        err.contains("--gpu-batch is a setting of the GPU backend, and this bench times no GPU"),
        "{err}"
    );
    let err = bench(&["--backends", "cpu", "--precision", "mixed"]);
    assert!(
        err.contains("--precision is a setting of the GPU backend, and this bench times no GPU"),
        "{err}"
    );
    // A sharded bench times the CPU alone unless --backends names the GPU.
    let err = bench(&["--shards", "2", "--kernels", "tiled"]);
    assert!(
        err.contains("--kernels is a setting of the GPU backend"),
        "{err}"
    );
    // What a sharded bench does not do is refused, not ignored.
    for (more, flag, says) in [
        (&["--plot", "p.svg"][..], "--plot", "draws no chart"),
        (&["--peers"], "--peers", "has no peers"),
        (
            &["--backends", "gpu", "--gpu-batch", "4"],
            "--gpu-batch",
            "times single epochs",
        ),
        (
            &["--backends", "gpu", "--precision", "mixed"],
            "--precision",
            "times f32 epochs",
        ),
    ] {
        let err = bench(&[&["--shards", "2"], more].concat());
        assert!(
            err.contains(&format!(
                "a sharded bench (--distributed or --shards) {says}"
            )),
            "{err}"
        );
        assert!(err.contains(&format!("leave out {flag}")), "{err}");
    }
    for more in [
        &["--backends", "cpu,gpu"][..],
        &[],
        &["--shards", "2", "--backends", "cpu,gpu"],
    ] {
        let args = [more, &["--adapter", "no-such-gpu-anywhere"]].concat();
        let err = bench(&args);
        assert!(
            err.contains("none named like 'no-such-gpu-anywhere'"),
            "{err}"
        );
        // The adapter's own error, not one saying that wgpu finds none.
        assert!(!err.contains("finds no GPU adapter"), "{err}");
    }
}

/// A file whose first line is numbers has most likely no header line:
/// train warns (under --quiet too) and predict's error asks.
#[test]
fn a_header_of_numbers_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let [bare, named, model] = paths(&dir, ["bare.csv", "named.csv", "m.st"]);
    let rows = "0.5,1e-3,-2\n0.25,0.5,1\n1,2,3\n";
    std::fs::write(&bare, rows).unwrap();
    std::fs::write(&named, format!("a,1,y\n{rows}")).unwrap();
    let (ok, _, err) = shadertrain(&train_data(&bare, "cpu", &["--epochs", "1", "--quiet"]));
    assert!(ok, "{err}");
    let says = "every column name in";
    assert!(
        err.contains(&format!(
            "warning: {says} {bare}'s header is a number (0.5, 1e-3, -2)"
        )),
        "{err}"
    );
    let more = ["--epochs", "1", "--save", &model];
    let (ok, _, err) = shadertrain(&train_data(&named, "cpu", &more));
    assert!(ok && !err.contains(says), "{err}");
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &bare]);
    assert!(
        !ok && err.contains("(every one a number: has the file no header line?)"),
        "{err}"
    );
}

/// A resume past the end of its recorded cosine (or one cycle) says that
/// those epochs train at the schedule's last rate.
#[test]
fn a_resume_past_its_schedule_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ck = path(&dir, "ck.st");
    for (schedule, last) in [("cosine", "0"), ("one-cycle", "4e-8")] {
        let more = [
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--lr-schedule",
            schedule,
        ];
        let first = [&more[..], &["--epochs", "10", "--checkpoint", &ck]].concat();
        run_ok(&train_synthetic("50", "2", "cpu", &first));
        let says = format!("{ck}'s {schedule} schedule ends at epoch 10: epochs 11 to 25 train at its last rate, {last}");
        let (ok, _, err) = shadertrain(&train_resume(&ck, "cpu", &["--epochs", "25"]));
        assert!(ok && err.contains(&says), "{err}");
        // One epoch past its end is told too.
        let says = format!("{ck}'s {schedule} schedule ends at epoch 10: epochs 11 to 11 train");
        let (ok, _, err) = shadertrain(&train_resume(&ck, "cpu", &["--epochs", "11"]));
        assert!(ok && err.contains(&says), "{err}");
        let (ok, _, err) = shadertrain(&train_resume(&ck, "cpu", &["--epochs", "10"]));
        assert!(ok && !err.contains("schedule ends"), "{err}");
    }
    // A checkpoint already past the end (at 15) names the epochs after its
    // own, not after the schedule's.
    let later = path(&dir, "later.st");
    let more = ["--epochs", "15", "--checkpoint", &later];
    run_ok(&train_resume(&ck, "cpu", &more));
    let (ok, _, err) = shadertrain(&train_resume(&later, "cpu", &["--epochs", "20"]));
    let says = format!(
        "{later}'s one-cycle schedule ends at epoch 10: epochs 16 to 20 train at its last rate"
    );
    assert!(ok && err.contains(&says), "{err}");
    // --lr-plot draws a range test, which a resume does not run.
    let svg = path(&dir, "lr.svg");
    let (ok, _, err) = shadertrain(&train_resume(&ck, "cpu", &["--lr-plot", &svg]));
    let says = "--lr-plot draws --lr auto's range test, which runs before a run starts, not when it is resumed";
    assert!(!ok && err.contains(says), "{err}");
}

#[test]
fn time_limits_take_any_positive_value() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    gen_csv(&csv, "20", "2", "1");
    // Longer than a Duration holds: no limit.
    for more in [
        ["--max-time", "1e300"],
        ["--max-time", "inf"],
        ["--gpu-timeout", "1e300"],
    ] {
        let mut args = vec!["--epochs", "2"];
        args.extend(more);
        // auto: --gpu-timeout is refused where no GPU can be used.
        let out = run_ok(&train_data(&csv, "auto", &args));
        assert!(out.contains("reached --epochs"), "{more:?}: {out}");
    }
    for (more, says) in [
        (
            ["--max-time=0"],
            "--max-time must be a positive number of seconds, not 0",
        ),
        (
            ["--gpu-timeout=-1"],
            "--gpu-timeout must be a positive number of seconds, not -1",
        ),
        (["--gpu-timeout=1e-12"], "shorter than a nanosecond"),
        (
            ["--max-time=1e-300"],
            "--max-time 1e-300 is shorter than a nanosecond",
        ),
    ] {
        let (ok, _, err) = shadertrain(&train_data(&csv, "auto", &more));
        assert!(!ok, "{more:?}");
        assert!(err.contains(says), "{more:?}: {err}");
    }
    // A limit that ends the run before its first epoch: the untrained
    // model is saved, and a warning (shown under --quiet too) says so.
    let model = path(&dir, "m.st");
    let more = ["--max-time", "1e-9", "--quiet", "--save", &model];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &more));
    assert!(ok, "{err}");
    let says = "warning: --max-time ended the run before its first epoch, so the model is the untrained one";
    assert!(err.contains(says), "{err}");
    // The weights --seed 0 draws, untouched.
    let saved = shadertrain::io::load_model(std::path::Path::new(&model)).unwrap();
    let drawn = Model::init(
        saved.layout.clone(),
        saved.activation,
        0,
        saved.feature_names.clone(),
        saved.target_name.clone(),
    );
    assert_eq!(saved.params, drawn.params);
    // A resumed run so ended keeps the checkpoint's model.
    let ck = path(&dir, "ck.st");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "2", "--checkpoint", &ck],
    ));
    let more = ["--epochs", "4", "--max-time", "1e-9", "--save", &model];
    let (ok, _, err) = shadertrain(&train_resume(&ck, "cpu", &more));
    let says = "warning: --max-time ended the run before its first epoch, so the model is the checkpoint's";
    assert!(ok && err.contains(says), "{err}");
    let saved = shadertrain::io::load_model(std::path::Path::new(&model)).unwrap();
    let (at_checkpoint, _) = shadertrain::io::load_checkpoint(std::path::Path::new(&ck)).unwrap();
    assert_eq!(saved.params, at_checkpoint.params);
    assert_ne!(saved.params, drawn.params, "the checkpoint's model trained");
    // One row cannot be split, whatever the fraction.
    std::fs::write(&csv, "a,y\n1,2\n").unwrap();
    for fraction in ["0.1", "0.5", "0.9"] {
        let more = ["--validation-split", fraction];
        let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &more));
        let says = "--validation-split needs at least 2 rows, one to train on and one to hold out; the data have 1 row";
        assert!(!ok && err.contains(says), "{err}");
    }
}

#[test]
fn a_short_gpu_timeout_is_reported_as_given() {
    if !common::have_gpu() {
        return;
    }
    let more = ["--epochs", "5", "--gpu-timeout", "0.0001"];
    let (ok, _, err) = shadertrain(&common::train_synthetic("262144", "16", "gpu", &more));
    assert!(!ok);
    assert!(err.contains("did not finish within 0.0001 s"), "{err}");
    assert!(err.contains("give a longer --gpu-timeout"), "{err}");
}

#[test]
fn quiet_drops_notices_and_a_lowered_thread_count_is_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    gen_csv(&csv, "2000", "2", "1");
    let more = ["--epochs", "2", "--threads", "1000", "--lr", "0.01"];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &more));
    assert!(ok, "{err}");
    assert!(
        err.contains("notice: --threads 1000 lowered to 32: the cpu backend splits the rows into blocks of 64 and gives each thread one or more, and 2000 rows make 32 blocks\n"),
        "{err}"
    );
    // As many threads as blocks are not lowered.
    let as_many = ["--epochs", "2", "--threads", "32", "--lr", "0.01"];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &as_many));
    assert!(ok && !err.contains("lowered"), "{err}");
    // auto on a machine without a hardware GPU says so in a notice too.
    for backend in ["cpu", "auto"] {
        let mut quiet = more.to_vec();
        quiet.push("--quiet");
        let (ok, out, err) = shadertrain(&train_data(&csv, backend, &quiet));
        assert!(ok, "{err}");
        assert!(out.is_empty(), "{backend}: {out:?}");
        assert!(!err.contains("notice"), "{backend}: {err:?}");
    }
}

#[test]
fn whole_number_options_say_what_they_take() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "20", "2", "1");
    let negative = "expected a whole number, not a negative one";
    for (extra, expect) in [
        (&["--epochs", "-1"][..], negative),
        (&["--epochs=-1"], negative),
        (&["--seed", "-3"], negative),
        (&["--threads", "-2"], negative),
        (
            &["--epochs", "1.5"],
            "expected a whole number (digits only)",
        ),
        (&["--epochs", ""], "expected a whole number, not nothing"),
        (&["--tol", "abc"], "expected a number, such as 0.01 or 1e-3"),
        (&["--max-time", ""], "expected a number, not nothing"),
        (
            &["--grid", "momentum=0.5,x"],
            "expected a number, such as 0.01 or 1e-3",
        ),
        (&["--epochs", "99999999999999999999999"], "too large"),
        (&["--grid", "epochs=-1,4"], negative),
    ] {
        let mut args = train_data(&csv, "cpu", &["--save", &model]);
        args.extend(extra);
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok, "{extra:?} accepted");
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{extra:?}: {err}");
        // As clap's own message for a bad value: no usage line.
        assert!(!err.contains("Usage:"), "{extra:?}: {err}");
        assert!(!std::path::Path::new(&model).exists());
    }
    let (ok, _, err) = shadertrain(&["gen", "--rows", "-5", "--features", "1", "--out", &csv]);
    assert!(!ok);
    assert!(err.contains(negative), "{err}");
    for (flag, args) in [
        ("--rows", ["--rows", "0", "--features", "1"]),
        ("--features", ["--rows", "3", "--features", "0"]),
    ] {
        let (ok, _, err) = shadertrain(&[&["gen"][..], &args, &["--out", &csv]].concat());
        assert!(!ok);
        assert!(err.contains(&format!("{flag} must be at least 1")), "{err}");
    }
    // A negative float still reaches its option's own check, in the
    // forms clap does not take for a number too.
    for (extra, expect) in [
        (
            &["--lr", "-0.5"][..],
            "--lr must be a positive number, not -0.5",
        ),
        (
            &["--lr", "-1e-3"],
            "--lr must be a positive number, not -0.001",
        ),
        (&["--lr", "-.5"], "--lr must be a positive number, not -0.5"),
        (&["--tol", "-inf"], "--tol must be 0 or more, not -inf"),
        (
            &["--weight-decay", "-nan"],
            "--weight-decay must be 0 or a positive number, not NaN",
        ),
        (&["--epochs", "-1e-3"], negative),
    ] {
        let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", extra));
        assert!(!ok, "{extra:?} accepted");
        assert!(err.contains(expect), "{extra:?}: {err}");
    }
    // An option's value still cannot be the next option.
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &["--epochs", "2", "--lr"]));
    assert!(!ok);
    assert!(err.contains("a value is required for '--lr"), "{err}");
    let (ok, _, err) = shadertrain(&[
        "importance",
        "--model",
        &model,
        "--data",
        &csv,
        "--rows",
        "-1e-3",
    ]);
    assert!(!ok);
    assert!(err.contains(negative), "{err}");
}

/// A setting far out of range is named as written, not in hundreds of
/// digits.
#[test]
fn settings_out_of_range_read_short() {
    for (extra, expect) in [
        (
            &["--optimizer", "momentum", "--momentum", "1e300"][..],
            "--momentum must be in [0, 1), not 1e300",
        ),
        (
            &["--lr", "-1e300"],
            "--lr must be a positive number, not -1e300",
        ),
        (
            &["--optimizer", "adam", "--eps", "-1e300"],
            "--eps must be a positive number, not -1e300",
        ),
        (
            &["--weight-decay", "-1e300"],
            "0 or a positive number, not -1e300",
        ),
        (
            &["--clip-grad-norm", "-1e300"],
            "--clip-grad-norm must be a positive number, not -1e300",
        ),
        (
            &["--optimizer", "lbfgs", "--gtol", "-1e300"],
            "--gtol must be 0 or more, not -1e300",
        ),
        (&["--tol", "-1e300"], "--tol must be 0 or more, not -1e300"),
        (
            &["--tol", "1"],
            "--tol must be below 1, not 1: it is a fraction of the loss",
        ),
        (
            &["--max-time", "-1e300"],
            "a positive number of seconds, not -1e300",
        ),
        (
            &[
                "--lr-schedule",
                "step",
                "--lr-every",
                "2",
                "--lr-gamma",
                "1.0000000000001",
            ],
            "not 1.0000000000001",
        ),
        (
            &["--optimizer", "adam", "--beta2", "-1e300"],
            "--beta2 must be in [0, 1), not -1e300",
        ),
        (
            &[
                "--lr-schedule",
                "step",
                "--lr-every",
                "2",
                "--lr-gamma",
                "1e300",
            ],
            "--lr-gamma must be in (0, 1], not 1e300",
        ),
        (
            &["--lr-schedule", "cosine", "--lr-min", "1e300"],
            "below --lr (0.1), not 1e300",
        ),
        (&["--validation-split", "1e300"], "(exclusive), not 1e300;"),
        (
            &["--target-loss", "-1e300"],
            "--target-loss must be 0 or more, not -1e300",
        ),
        (
            &["--lr", "1e-40"],
            "it is below f32's least normal value, 1.1754944e-38, and would be 0 (subnormals are flushed) there",
        ),
    ] {
        let (ok, _, err) = shadertrain(&train_synthetic("20", "2", "cpu", extra));
        assert!(!ok, "{extra:?} accepted");
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert!(err.len() < 400, "{extra:?}: {err}");
    }
    // Counts out of range as the other options say it, not in clap's
    // words with the type's limit (0 is not in 2..=4294967295).
    let search = ["--folds", "2", "--grid", "lr=0.1,0.2"];
    for (extra, expect) in [
        (
            &["--halving", "1"][..],
            "'1' for '--halving <FACTOR>': must be at least 2",
        ),
        (&["--halving-min-epochs", "0"], "must be at least 1"),
        (
            &["--random", "1001"],
            "'1001' for '--random <N>': must be at most 1000",
        ),
    ] {
        let (ok, _, err) = shadertrain(&train_synthetic(
            "20",
            "2",
            "cpu",
            &[&search, extra].concat(),
        ));
        assert!(!ok, "{extra:?} accepted");
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert!(!err.contains(" is not in "), "{extra:?}: {err}");
    }
}

#[test]
fn counts_of_one_are_singular() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["one.csv", "m.st"]);
    let out = run_ok(&["gen", "--rows", "1", "--features", "1", "--out", &csv]);
    assert!(out.contains("wrote 1 row × 1 feature to"), "{out}");
    let more = ["--epochs", "1", "--threads", "1", "--save", &model];
    let out = run_ok(&train_data(&csv, "cpu", &more));
    assert!(out.contains("cpu (f32, 1 thread)"), "{out}");
    assert!(out.contains("(1 row × 1 feature, target y)"), "{out}");
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &csv]);
    assert!(ok, "{err}");
    assert!(err.contains("over 1 row"), "{err}");
}

#[test]
fn a_resume_that_runs_no_epochs_has_no_time_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, ck, json] = paths(&dir, ["d.csv", "ck.st", "s.json"]);
    gen_csv(&csv, "50", "2", "1");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--epochs", "3", "--checkpoint", &ck, "--lr", "0.01"],
    ));
    let out = run_ok(&train_resume(&ck, "cpu", &["--json", &json]));
    assert!(out.contains("no epochs run"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["epochs"], 3);
    assert!(summary["time_per_epoch_s"].is_null(), "{summary}");
}

#[test]
fn predict_refuses_feature_names_it_cannot_match() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, twice, target] = paths(&dir, ["d.csv", "twice.st", "target.st"]);
    std::fs::write(&csv, "a,b,y\n1,2,3\n").unwrap();
    // Files save_model refuses to write (tests/library.rs): a good one's
    // second name edited in its header, to a name of the same length.
    let model = |second: &str, file: &str| {
        let layout = Layout::new(2, &[3]).unwrap();
        let names = vec!["a".to_string(), "b".to_string()];
        let m = Model::init(layout, Activation::Tanh, 1, names, "y".into());
        save_model(&m, file.as_ref()).unwrap();
        let bytes = std::fs::read(file).unwrap();
        let from = br#"\"b\""#;
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        let mut bytes = common::unsealed(&bytes);
        bytes[at + 2..at + 3].copy_from_slice(second.as_bytes());
        std::fs::write(file, bytes).unwrap();
    };
    model("a", &twice);
    model("y", &target);
    for (file, says) in [
        (&twice, "names the feature 'a' twice"),
        (
            &target,
            "the target 'y' is also one of the model's features",
        ),
    ] {
        let (ok, out, err) = shadertrain(&["predict", "--model", file, "--data", &csv]);
        assert!(!ok, "{file}: {out}");
        assert!(err.contains(says), "{err}");
        assert!(err.contains(file.as_str()), "{err}");
    }
}

#[test]
fn no_xdg_runtime_dir_messages_without_a_runtime_dir() {
    let gpu = common::have_gpu();
    for xdg in [None, Some("/nonexistent/xdg-runtime")] {
        // A temporary directory of the test's own for the private runtime
        // directory, so the test can see that it was made.
        let tmp = tempfile::tempdir().unwrap();
        let tmpdir = tmp.path().to_str().unwrap();
        let vars = [("XDG_RUNTIME_DIR", xdg), ("TMPDIR", Some(tmpdir))];
        let mut runs = vec![vec!["info"]];
        if gpu {
            let more = ["--hidden", "3", "--epochs", "3"];
            runs.push(common::train_synthetic("200", "3", "gpu", &more));
        }
        for args in runs {
            let (ok, _, err) = shadertrain_env(&args, &vars);
            assert!(ok, "XDG_RUNTIME_DIR {xdg:?}: {args:?} failed: {err}");
            assert!(
                !err.contains("XDG_RUNTIME_DIR"),
                "XDG_RUNTIME_DIR {xdg:?}: {args:?} printed: {err}"
            );
        }
        let made: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            made.len() == 1 && made[0].starts_with("shadertrain-runtime-"),
            "XDG_RUNTIME_DIR {xdg:?}: {made:?}"
        );
    }
    // A TMPDIR that does not exist: the private directory goes in /tmp.
    let vars = [
        ("XDG_RUNTIME_DIR", None),
        ("TMPDIR", Some("/nonexistent/tmp")),
    ];
    let (ok, _, err) = shadertrain_env(&["info"], &vars);
    assert!(ok && !err.contains("XDG_RUNTIME_DIR"), "{err}");
}

/// Where `WGPU_BACKEND` names the backends to try, the error for no
/// adapter says so, not the three shadertrain tries by default.
#[test]
fn no_adapter_names_the_backends_wgpu_backend_chose() {
    let args = common::train_synthetic("20", "2", "gpu", &["--epochs", "1"]);
    // Metal has no adapter off Apple's systems.
    if cfg!(target_vendor = "apple") {
        return;
    }
    let (ok, _, err) = shadertrain_env(&args, &[("WGPU_BACKEND", Some("metal"))]);
    assert!(!ok, "trained on Metal: {err}");
    assert!(
        err.contains("tried the backends WGPU_BACKEND=\"metal\" names and found nothing. Unset WGPU_BACKEND to try Vulkan"),
        "{err}"
    );
    assert!(!err.contains("lavapipe"), "{err}");
    let (ok, out, err) = shadertrain_env(&["info"], &[("WGPU_BACKEND", Some("metal"))]);
    assert!(ok, "{err}");
    assert!(
        out.contains("no GPU adapters found: tried the backends WGPU_BACKEND=\"metal\" names"),
        "{out}"
    );
}
