//! `train --folds K --grid KEY=V1,V2,...`: each combination against its
//! own `--folds` run, the ranking, `--fold-predictions` of the best,
//! `--save` (with and without a grid) against a plain run on every row,
//! diverged combinations, a signal, the GPU, and the refusals.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    assert_refused, assert_same_file, gen_csv, have_gpu, path, paths, read_json, run_ok,
    run_ok_out_err, run_refused, shadertrain, signalled_in_fold, train_data,
};

/// The options every run of these tests trains with.
const RUN: &[&str] = &["--seed", "5", "--epochs", "30", "-q"];

/// Adam, whose rates the grids vary.
const ADAM: &[&str] = &["--optimizer", "adam"];

/// `train --data csv --backend backend`, [`RUN`], then `more`.
fn args<'a>(csv: &'a str, backend: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    train_data(csv, backend, &[RUN, more].concat())
}

/// A record's per-fold scores without their times.
fn untimed(folds: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut folds = folds.as_array().unwrap().clone();
    for f in &mut folds {
        f.as_object_mut().unwrap().remove("wall_s");
    }
    folds
}

/// Asserts that the results `got` and `want` hold the same per-fold
/// scores, their times aside; `what` names the combination.
fn assert_same_folds(got: &serde_json::Value, want: &serde_json::Value, what: &str) {
    assert_eq!(
        untimed(&got["per_fold"]),
        untimed(&want["per_fold"]),
        "{what}"
    );
}

#[test]
fn each_combination_is_its_own_folds_run_and_the_best_ranks_first() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, grid, oof] = paths(&dir, ["d.csv", "grid.json", "oof.csv"]);
    gen_csv(&csv, "240", "3", "2");
    let more = [
        "--folds",
        "3",
        "--grid",
        "lr=0.003,0.03",
        "--grid",
        "hidden=4,[6,3]",
        "--json",
        &grid,
        "--fold-predictions",
        &oof,
    ];
    let out = run_ok(&args(&csv, "cpu", &[ADAM, &more].concat()));
    let record = read_json(&grid);
    assert_eq!(record["folds"], 3);
    assert_eq!(record["grid"][1]["option"], "hidden");
    assert_eq!(record["grid"][1]["values"][1], "6,3");
    let results = record["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let mut means = Vec::new();
    for (place, r) in results.iter().enumerate() {
        assert_eq!(r["rank"], place + 1);
        assert_eq!(r["diverged"], false);
        // The combination's folds are those of --folds alone with its
        // values given as options, bit for bit.
        let (lr, hidden) = (
            r["values"]["lr"].as_str().unwrap(),
            r["values"]["hidden"].as_str().unwrap(),
        );
        let alone = path(&dir, &format!("{place}.json"));
        let own = [
            "--folds", "3", "--lr", lr, "--hidden", hidden, "--json", &alone,
        ];
        run_ok(&args(&csv, "cpu", &[ADAM, &own].concat()));
        let plain = read_json(&alone);
        assert_same_folds(r, &plain, &format!("{lr} {hidden}"));
        assert_eq!(r["val_mse"], plain["val_mse"]);
        assert_eq!(r["val_r2"], plain["val_r2"]);
        assert_eq!(r["out_of_fold"], plain["out_of_fold"]);
        assert!(r["out_of_fold"]["r2"].is_f64());
        assert_eq!(
            r["options"]["optimizer"]["lr"].as_f64().unwrap(),
            lr.parse::<f64>().unwrap()
        );
        means.push(r["val_mse"]["mean"].as_f64().unwrap());
        if place == 0 {
            // --fold-predictions holds the best combination's.
            let oof_alone = path(&dir, "oof_alone.csv");
            let own = [&own[..6], &["--fold-predictions", &oof_alone]].concat();
            run_ok(&args(&csv, "cpu", &[ADAM, &own].concat()));
            assert_same_file(&oof, &oof_alone, "the best combination's predictions");
            assert!(
                out.contains(&format!("best: --lr {lr} --hidden {hidden}\n")),
                "{out}"
            );
            assert_eq!(record["best"], r["values"]);
        }
    }
    assert!(
        means.windows(2).all(|w| w[0] <= w[1]),
        "ranked by the mean: {means:?}"
    );
    assert!(means[0] < means[3], "the grid's values matter: {means:?}");
    // The table: one line per combination, best first, values as given.
    let ranks: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(ranks.windows(4).any(|w| w == ["1", "2", "3", "4"]), "{out}");
    assert!(out.contains("[6,3]"), "{out}");
}

/// `--save` after the folds is a plain run on every row, bit for bit:
/// with `--grid`, of the best combination's options, and from standard
/// input, which the folds read once.
#[test]
fn save_trains_the_options_once_more_on_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, grid, searched, plain, alone, folded] =
        paths(&dir, ["d.csv", "g.json", "s.st", "p.st", "a.st", "f.st"]);
    gen_csv(&csv, "150", "3", "3");
    let more = ["--folds", "3", "--grid", "lr=0.0003,0.05", "--hidden", "5"];
    let said = run_ok(&args(
        &csv,
        "cpu",
        &[ADAM, &more, &["--json", &grid, "--save", &searched]].concat(),
    ));
    // --quiet keeps the table, not the last run's summary.
    assert!(
        said.contains("best: --lr 0.05\n") && !said.contains("saved"),
        "{said}"
    );
    let best = read_json(&grid)["best"]["lr"].as_str().unwrap().to_string();
    assert_eq!(
        best, "0.05",
        "the second combination, which fits better in 30 epochs"
    );
    run_ok(&args(
        &csv,
        "cpu",
        &[ADAM, &["--lr", &best, "--hidden", "5", "--save", &plain]].concat(),
    ));
    assert_same_file(&searched, &plain, "the best combination on every row");
    // Without a grid, from standard input; the summary follows the table.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(train_data(
            "-",
            "cpu",
            &[
                "--seed", "5", "--epochs", "30", "--folds", "3", "--save", &folded,
            ],
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&csv).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("training on every row for --save"),
        "{stderr}"
    );
    let (table, summary) = (
        stdout.find("3-fold cross-validation"),
        stdout.find("saved "),
    );
    assert!(table.is_some() && summary > table, "{stdout}");
    run_ok(&train_data(
        &csv,
        "cpu",
        &["--seed", "5", "--epochs", "30", "--save", &alone],
    ));
    assert_same_file(&folded, &alone, "the run on every row");
}

#[test]
fn a_diverged_combination_ranks_last_and_every_one_diverged_fails() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, grid, oof, model] = paths(&dir, ["d.csv", "g.json", "oof.csv", "m.st"]);
    gen_csv(&csv, "90", "2", "7");
    // On raw rows, where lr 300 and above diverge.
    let gd = [
        "--folds",
        "3",
        "--optimizer",
        "gd",
        "--no-standardize",
        "--json",
        &grid,
        "--fold-predictions",
        &oof,
    ];
    let out = run_ok(&args(
        &csv,
        "cpu",
        &[&gd[..], &["--grid", "lr=300,0.3"]].concat(),
    ));
    let record = read_json(&grid);
    let results = record["results"].as_array().unwrap();
    assert_eq!(results[0]["values"]["lr"], "0.3");
    assert_eq!(results[0]["rank"], 1);
    assert_eq!(results[1]["values"]["lr"], "300");
    assert_eq!(results[1]["rank"], serde_json::Value::Null);
    assert_eq!(results[1]["diverged"], true);
    assert_eq!(record["best"]["lr"], "0.3");
    assert!(out.contains("diverged: fold 1 at epoch"), "{out}");
    assert!(Path::new(&oof).exists());
    std::fs::remove_file(&oof).unwrap();
    // Every combination diverged: the record, then an error, and no
    // predictions or model.
    let more = [&gd[..], &["--grid", "lr=300,3000", "--save", &model]].concat();
    let (out, err) = run_refused(&args(&csv, "cpu", &more));
    assert!(err.contains("every combination diverged"), "{err}");
    assert!(out.contains("best: none"), "{out}");
    assert_eq!(read_json(&grid)["best"], serde_json::Value::Null);
    assert!(!Path::new(&oof).exists() && !Path::new(&model).exists());
    // With --halving a diverged combination never goes on: round 2 of 2
    // could take 2 of the 3, and trains the one that did not diverge.
    let halving = [&gd[..], &["--grid", "lr=300,1000,0.3", "--halving", "2"]].concat();
    run_ok(&args(&csv, "cpu", &halving));
    let record = read_json(&grid);
    assert_eq!(
        record["halving"]["rounds"],
        serde_json::json!([{"epochs": 15, "combinations": 3}, {"epochs": 30, "combinations": 1}])
    );
    let results = record["results"].as_array().unwrap();
    assert_eq!(
        (
            results[0]["values"]["lr"].as_str(),
            results[0]["round"].as_u64()
        ),
        (Some("0.3"), Some(2))
    );
    assert!(results[1..]
        .iter()
        .all(|r| r["round"] == 1 && r["rank"].is_null()));
    // None that did not: no round 2.
    let halving = [&gd[..], &["--grid", "lr=300,1000,3000", "--halving", "2"]].concat();
    let (ok, _, err) = shadertrain(&args(&csv, "cpu", &halving));
    assert!(!ok && err.contains("every combination diverged"), "{err}");
    assert_eq!(
        read_json(&grid)["halving"]["rounds"],
        serde_json::json!([{"epochs": 15, "combinations": 3}])
    );
}

/// A signal in a combination's fold (raised as fold 2 is set up, through
/// the debug builds' SHADERTRAIN_SIGNAL_IN_FOLD) stops the search: nothing
/// is written or saved. One in the run on every row after it loses only
/// the model.
#[test]
fn a_signal_stops_the_search_and_writes_nothing() {
    if !cfg!(debug_assertions) {
        common::say_skipped(format_args!(
            "SKIPPED: SHADERTRAIN_SIGNAL_IN_FOLD is read by debug builds only"
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [csv, grid, oof, model] = paths(&dir, ["d.csv", "g.json", "oof.csv", "m.st"]);
    gen_csv(&csv, "90", "2", "13");
    let more = [
        "--folds",
        "3",
        "--grid",
        "lr=0.01,0.1",
        "--json",
        &grid,
        "--fold-predictions",
        &oof,
        "--save",
        &model,
    ];
    let (code, said) = signalled_in_fold(&args(&csv, "cpu", &more), "2");
    assert_eq!(code, Some(143), "{said}");
    assert!(
        said.contains(
            "interrupted during fold 2 of 3 of combination 1 of 2 (lr=0.01); nothing was written"
        ),
        "{said}"
    );
    for file in [&grid, &oof, &model] {
        assert!(!Path::new(file).exists(), "{file}");
    }
    let halving = [&more[..], &["--grid", "hidden=4,5", "--halving", "2"]].concat();
    let (code, said) = signalled_in_fold(&args(&csv, "cpu", &halving), "2");
    assert_eq!(code, Some(143), "{said}");
    assert!(
        said.contains("interrupted during fold 2 of 3 of round 1 of 2 (15 epochs), combination 1 of 4 (lr=0.01 hidden=4); nothing was written"),
        "{said}"
    );
    // In the run on every row: the folds' outputs are written, the model
    // is not, and the note does not offer --checkpoint as if it could be
    // added to this command.
    let (code, said) = signalled_in_fold(&args(&csv, "cpu", &more), "every-row");
    assert_eq!(code, Some(143), "{said}");
    assert!(
        said.contains("interrupted at epoch 0 (SIGTERM)")
            && said.contains(&format!("; {grid} and {oof} were written before this run on every row; to keep an interrupted run to --resume, train with --lr 0.01 without --folds, and with --checkpoint FILE"))
            && !said.contains(", and --checkpoint FILE"),
        "{said}"
    );
    assert!(Path::new(&grid).exists() && Path::new(&oof).exists());
    assert!(!Path::new(&model).exists());
}

/// On the GPU the search reuses one device for every combination; each
/// combination's folds are still its own `--folds` run's.
#[test]
fn a_grid_on_the_gpu_is_its_combinations_folds() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [csv, grid, alone] = paths(&dir, ["d.csv", "g.json", "a.json"]);
    gen_csv(&csv, "120", "3", "8");
    let gpu = ["--adapter", "llvmpipe", "--folds", "2", "--hidden", "6"];
    run_ok(&args(
        &csv,
        "gpu",
        &[&gpu[..], &["--grid", "lr=0.01,0.04", "--json", &grid]].concat(),
    ));
    let results = read_json(&grid)["results"].as_array().unwrap().clone();
    for r in &results {
        let lr = r["values"]["lr"].as_str().unwrap();
        run_ok(&args(
            &csv,
            "gpu",
            &[&gpu[..], &["--lr", lr, "--json", &alone]].concat(),
        ));
        assert_same_folds(r, &read_json(&alone), &format!("lr {lr}"));
    }
}

/// `--kernels` that cannot take a combination's hidden layers refuses
/// a grid on `--backend gpu` before its first combination trains (no GPU
/// is opened, so none is needed), naming that combination; the cpu
/// backend, which has no such kernels, trains them all.
#[test]
fn kernels_that_cannot_take_a_combinations_network_refuse_the_grid_first() {
    let dir = tempfile::tempdir().unwrap();
    let model = path(&dir, "m.st");
    let run = [
        "train",
        "--synthetic",
        "60",
        "--features",
        "2",
        "--folds",
        "2",
        "--epochs",
        "3",
    ];
    let cases = [
        ("wide", "hidden=8,16,[16,8]", "--grid's combination hidden=[16,8]: the wide kernels take exactly one hidden layer, not hidden layers 16,8"),
        ("fused", "hidden=8,300", "--grid's combination hidden=300: the fused kernel takes one hidden layer of at most 256 units, not hidden layers 300"),
    ];
    for (kernels, grid, says) in cases {
        let more = ["--grid", grid, "--kernels", kernels, "--save", &model];
        let (ok, _, err) = shadertrain(&[&run[..], &more, &["--backend", "gpu"]].concat());
        assert!(!ok, "{kernels} {grid} ran");
        assert!(err.contains(says), "{err}");
        assert!(!err.contains("combination 1 of"), "{err}");
        assert!(!Path::new(&model).exists());
    }
    let out = run_ok(&[&run[..], &["--grid", "hidden=8,[16,8]", "--backend", "cpu"]].concat());
    assert!(out.contains("[16,8]"), "{out}");
}

#[test]
fn grids_are_refused_where_they_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = path(&dir, "m.st");
    let folds = ["--folds", "2", "--epochs", "3"];
    let with = |more: &[&'static str]| -> Vec<&'static str> { [&folds[..], more].concat() };
    let saving = |more: &[&'static str]| -> Vec<String> {
        [&folds[..], &["--save"], more]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let big = with(&[
        "--grid",
        "lr=1,2,3,4,5,6,7,8,9,10",
        "--grid",
        "hidden=1,2,3,4,5,6,7,8,9,10",
        "--grid",
        "momentum=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95",
    ]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--grid", "lr=0.1,0.2"],
            "required arguments were not provided:\n  --folds <K>",
        ),
        (
            with(&["--lr", "0.1", "--grid", "lr=0.01,0.1"]),
            "--lr is given and --grid varies it",
        ),
        (
            with(&["--halving", "2"]),
            "required arguments were not provided:\n  --grid",
        ),
        (
            with(&["--grid", "lr=0.1,0.2", "--halving", "1"]),
            "invalid value '1' for '--halving <FACTOR>'",
        ),
        (
            vec!["--folds", "2", "--grid", "epochs=2,4", "--halving", "2"],
            "--halving trains its rounds with fewer --epochs than the last, so --grid cannot vary epochs",
        ),
        (
            with(&["--grid", "lr=0.1,0.2", "--halving", "2", "--halving-min-epochs", "4"]),
            "--halving-min-epochs 4 is more than --epochs 3, which the last round trains",
        ),
        (
            with(&["--grid", "lr=0.1,0.2", "--halving-min-epochs", "2"]),
            "required arguments were not provided:\n  --halving <FACTOR>",
        ),
        (
            // At its default, given all the same.
            with(&["--keep", "last", "--grid", "keep=last,best-val"]),
            "--keep is given and --grid varies it",
        ),
        (
            with(&["--grid", "seed=1,2"]),
            "--grid cannot vary 'seed'; it varies hidden, activation",
        ),
        (
            with(&["--grid", "lr=fast"]),
            "lr=fast: invalid value 'fast' for '--lr <ALPHA|auto>'",
        ),
        (
            with(&["--grid", "activation=tanh,relu"]),
            "[possible values: sigmoid, tanh]",
        ),
        (
            with(&["--grid", "lr=0.1,0.1"]),
            "lr's value 0.1 is given twice",
        ),
        (with(&["--grid", "lr=0.1,,0.2"]), "lr has an empty value"),
        (
            with(&["--grid", "hidden=[4,2"]),
            "a '[' in hidden's values is never closed",
        ),
        (
            with(&["--grid", "hidden=4]"]),
            "a ']' in hidden's values opens no '['",
        ),
        (
            with(&["--grid", "lr"]),
            "expected KEY=V1,V2,..., such as lr=0.001,0.01",
        ),
        (
            with(&["--grid", "lr=0.1", "--grid", "lr=0.2"]),
            "--grid varies lr twice",
        ),
        (big, "--grid has 10 × 10 × 11 combinations, more than 1000"),
        (
            with(&["--grid", "lr=log:1e-3..0.1"]),
            "--grid lr=log:1e-3..0.1 is a range, which only --random N draws from",
        ),
        (
            with(&["--grid", "lr=0.1,0.2", "--grid", "hidden=4,8,16", "--random", "7"]),
            "--random 7 is more than --grid's 6 combinations",
        ),
        (
            with(&["--grid", "lr=0.01..0.1", "--random", "0"]),
            "invalid value '0' for '--random <N>'",
        ),
        (
            with(&["--random", "3"]),
            "required arguments were not provided:\n  --grid",
        ),
        (
            with(&["--grid", "hidden=4..16", "--random", "3"]),
            "hidden takes one of a list of values, not a range",
        ),
        (
            with(&["--grid", "batch-size=8..16.5", "--random", "3"]),
            "'16.5' is not a whole number",
        ),
        (
            with(&["--grid", "lr-pct-start=0.5..1.5", "--lr-schedule", "one-cycle", "--random", "20"]),
            "--grid lr-pct-start=0.5..1.5: its high end 1.5 is not a value lr-pct-start takes: --lr-pct-start must be",
        ),
        (
            with(&["--grid", "beta2=0.999..1", "--optimizer", "adam", "--random", "3"]),
            "--grid beta2=0.999..1: its high end 1 is not a value beta2 takes: --beta2 must be in [0, 1), not 1",
        ),
        (
            // Each end beside adam, with which beta2 is an option.
            with(&["--grid", "optimizer=momentum,adam", "--grid", "beta2=log:0.9..1", "--random", "4"]),
            "its high end 1 is not a value beta2 takes",
        ),
        (
            with(&["--grid", "batch-size=0..8", "--random", "3"]),
            "--grid batch-size=0..8: its low end 0 is not a value batch-size takes: --batch-size must be at least 1",
        ),
        (
            // An end that does not suit another range's draw beside it.
            with(&["--lr-schedule", "cosine", "--grid", "lr=log:1e-3..0.1", "--grid", "lr-min=0..0.005", "--random", "3"]),
            "--grid lr=log:1e-3..0.1: its low end 1e-3 is not a value lr takes beside lr-min=",
        ),
        (
            // No combination is valid: each says why, not its range.
            with(&["--grid", "lr-pct-start=0.2..0.8", "--random", "3"]),
            "--grid's combination lr-pct-start=0.3532: --lr-schedule constant does not use --lr-pct-start",
        ),
        (
            with(&["--grid", "lr=-0.1..0.1", "--random", "4"]),
            "--grid lr=-0.1..0.1: its low end -0.1 is not a value lr takes: --lr must be a positive number",
        ),
        (
            with(&["--init", "m.st", "--grid", "activation=sigmoid,tanh"]),
            "--grid cannot vary activation with --init: m.st's network is fixed",
        ),
        (
            with(&["--batch-size", "10", "--grid", "optimizer=adam,lbfgs"]),
            "--grid's combination optimizer=lbfgs: --batch-size needs a first-order optimizer",
        ),
    ];
    let cases: Vec<(&[&str], &str)> = cases.iter().map(|(a, s)| (a.as_slice(), *s)).collect();
    assert_refused(&cases);
    // --save trains on every row, which leaves none to watch.
    let mut best_val = saving(&["--grid", "keep=last,best-val"]);
    let mut patience = saving(&["--val-patience", "3"]);
    for more in [&mut best_val, &mut patience] {
        more.insert(5, model.clone());
    }
    let best_val: Vec<&str> = best_val.iter().map(String::as_str).collect();
    let patience: Vec<&str> = patience.iter().map(String::as_str).collect();
    assert_refused(&[
        (
            &best_val,
            "--grid's combination keep=best-val: --keep best-val cannot be combined with --folds --save",
        ),
        (&patience, "--val-patience cannot be combined with --folds --save"),
    ]);
    assert!(!Path::new(&model).exists());
    // An error of the options not varied is not blamed on a combination.
    let once = ["--folds", "1", "--grid", "lr=0.1,0.2"];
    let (ok, _, err) = shadertrain(&common::train_synthetic("50", "2", "cpu", &once));
    assert!(
        !ok && err.starts_with("error: --folds must be at least 2"),
        "{err}"
    );
}

/// `--halving 3` over 6 combinations is 2 rounds: 6 with 10 epochs, then
/// 2 with `--epochs` 30. Round 1 is the plain grid at 10 epochs; round 2
/// trains its two best, each as its own `--folds` run at 30; the best is
/// round 2's, and `--fold-predictions` and `--save` are its.
#[test]
fn halving_trains_each_rounds_best_for_more_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, halved, first, oof, oof_alone, model, model_alone] = paths(
        &dir,
        [
            "d.csv", "h.json", "1.json", "o.csv", "oa.csv", "m.st", "ma.st",
        ],
    );
    gen_csv(&csv, "150", "3", "6");
    let grid = [
        "--folds",
        "2",
        "--grid",
        "lr=0.001,0.01,0.05",
        "--grid",
        "hidden=3,[5,3]",
    ];
    let train = |epochs: &str, more: &[&str]| -> String {
        let run = ["--seed", "5", "-q", "--epochs", epochs];
        run_ok(&train_data(&csv, "cpu", &[ADAM, &run, more].concat()))
    };
    let outputs = [
        "--json",
        &halved,
        "--fold-predictions",
        &oof,
        "--save",
        &model,
    ];
    // Not under -q: the line of each combination as it ends.
    let run = ["--seed", "5", "--epochs", "30", "--halving", "3"];
    let halving = [ADAM, &run, &grid, &outputs].concat();
    let (out, said) = run_ok_out_err(&train_data(&csv, "cpu", &halving));
    let record = read_json(&halved);
    assert_eq!(
        record["halving"],
        serde_json::json!({"factor": 3, "min_epochs": 3, "rounds": [
            {"epochs": 10, "combinations": 6}, {"epochs": 30, "combinations": 2}
        ]})
    );
    train("10", &[&grid[..], &["--json", &first]].concat());
    let first = read_json(&first)["results"].as_array().unwrap().clone();
    let results = record["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    // Each round trains its combinations in the grid's order.
    let grid_order: Vec<String> = ["0.001", "0.01", "0.05"]
        .iter()
        .flat_map(|lr| ["3", "[5,3]"].map(|h| format!("(lr={lr} hidden={h})")))
        .collect();
    for round in ["round 1 of 2 (10 epochs)", "round 2 of 2 (30 epochs)"] {
        let places: Vec<usize> = (said.lines())
            .filter(|l| l.starts_with(round))
            .map(|l| {
                grid_order
                    .iter()
                    .position(|c| l.contains(c.as_str()))
                    .unwrap()
            })
            .collect();
        assert!(places.windows(2).all(|w| w[0] < w[1]), "{round}: {said}");
        assert_eq!(places.len(), if round.contains("round 1") { 6 } else { 2 });
    }
    let round = |r: &serde_json::Value| r["round"].as_u64().unwrap();
    assert_eq!(
        results.iter().map(round).collect::<Vec<_>>(),
        [2, 2, 1, 1, 1, 1]
    );
    // The two that went on are round 1's two best.
    let mut went_on: Vec<String> = results[..2]
        .iter()
        .map(|r| r["values"].to_string())
        .collect();
    let mut best_two: Vec<String> = first[..2].iter().map(|r| r["values"].to_string()).collect();
    went_on.sort();
    best_two.sort();
    assert_eq!(went_on, best_two);
    for (place, r) in results.iter().enumerate() {
        assert_eq!(r["rank"], place + 1);
        let values = &r["values"];
        if round(r) == 1 {
            // As the plain grid at 10 epochs scored it.
            let plain = first.iter().find(|f| &f["values"] == values).unwrap();
            assert_same_folds(r, plain, &values.to_string());
            assert_eq!(r["options"]["epochs"], 10);
            assert_eq!(r["options"], plain["options"]);
            continue;
        }
        let (lr, hidden) = (
            values["lr"].as_str().unwrap(),
            values["hidden"].as_str().unwrap(),
        );
        let alone = path(&dir, &format!("{place}.json"));
        let own = ["--folds", "2", "--lr", lr, "--hidden", hidden];
        train("30", &[&own[..], &["--json", &alone]].concat());
        let plain = read_json(&alone);
        assert_same_folds(r, &plain, &values.to_string());
        assert_eq!(r["options"]["epochs"], 30);
        if place == 0 {
            assert!(
                out.contains(&format!("best: --lr {lr} --hidden {hidden}\n")),
                "{out}"
            );
            assert_eq!(record["best"], *values);
            train(
                "30",
                &[&own[..], &["--fold-predictions", &oof_alone]].concat(),
            );
            assert_same_file(&oof, &oof_alone, "the best combination's predictions");
            train(
                "30",
                &["--lr", lr, "--hidden", hidden, "--save", &model_alone],
            );
            assert_same_file(&model, &model_alone, "the best combination on every row");
        }
    }
    assert!(
        results[1]["val_mse"]["mean"].as_f64() >= results[0]["val_mse"]["mean"].as_f64(),
        "round 2 ranked by its mean"
    );
    let table = out.lines().find(|l| l.starts_with("rank ")).unwrap();
    assert!(
        table.contains(" round ") && table.contains(" epochs "),
        "{out}"
    );
    assert!(
        out.starts_with("successive halving by 3 of 6 combinations ("),
        "{out}"
    );
    // A first round of at least 30 epochs: one round, the plain grid, and
    // a notice that says so.
    let one = path(&dir, "one.json");
    let limited = [
        "--halving",
        "3",
        "--halving-min-epochs",
        "30",
        "--json",
        &one,
    ];
    let run = ["--seed", "5", "--epochs", "30"];
    let (_, said) = run_ok_out_err(&train_data(
        &csv,
        "cpu",
        &[ADAM, &run, &grid, &limited].concat(),
    ));
    assert!(
        said.contains("notice: --halving 3 trains 1 round, not the 2 that would leave at most 3 combinations for the last: the first would train fewer than --halving-min-epochs 30 epochs; the last keeps 6"),
        "{said}"
    );
    let plain = path(&dir, "plain.json");
    train("30", &[&grid[..], &["--json", &plain]].concat());
    let (one, plain) = (read_json(&one), read_json(&plain));
    assert_eq!(
        one["halving"]["rounds"],
        serde_json::json!([{"epochs": 30, "combinations": 6}])
    );
    let values = |r: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        let results = r["results"].as_array().unwrap().iter();
        results
            .map(|c| (c["values"].clone(), c["val_mse"].clone()))
            .collect()
    };
    assert_eq!(values(&one), values(&plain));
    // The first round's least epochs by default: a tenth of --epochs,
    // rounded up.
    let min = path(&dir, "min.json");
    train(
        "35",
        &[&grid[..], &["--halving", "3", "--json", &min]].concat(),
    );
    assert_eq!(read_json(&min)["halving"]["min_epochs"], 4);
}

/// A rate that grows 10% an epoch (from 0.01 to 0.03) trains 30 epochs
/// and diverges before 90: with `--halving 3` over 12 combinations
/// (30, 90 and 270 epochs), round 2's four all diverge, so there is no
/// round 3, and the best is the first of those round 1 kept back. Its
/// predictions, which the search did not keep, and the model saved are
/// those of its own runs at 30 epochs.
#[test]
fn a_round_that_all_diverged_leaves_the_best_of_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, halved, oof, oof_alone, model, model_alone] = paths(
        &dir,
        ["x.csv", "h.json", "o.csv", "oa.csv", "m.st", "ma.st"],
    );
    gen_csv(&csv, "300", "3", "7");
    let growing = [
        "--seed",
        "1",
        "--lr-schedule",
        "exponential",
        "--lr-gamma",
        "1.1",
    ];
    let train = |more: &[&str]| -> (bool, String, String) {
        shadertrain(&train_data(&csv, "cpu", &[&growing[..], more].concat()))
    };
    let grid = [
        "--folds",
        "2",
        "--grid",
        "lr=0.01,0.02,0.03",
        "--grid",
        "hidden=8,16,[8,8],[16,8]",
        "--halving",
        "3",
        "--epochs",
        "270",
    ];
    let outputs = [
        "--json",
        &halved,
        "--fold-predictions",
        &oof,
        "--save",
        &model,
    ];
    let (ok, out, err) = train(&[&grid[..], &outputs].concat());
    assert!(ok, "{err}");
    let record = read_json(&halved);
    assert_eq!(
        record["halving"]["rounds"],
        serde_json::json!([{"epochs": 30, "combinations": 12}, {"epochs": 90, "combinations": 4}])
    );
    assert!(
        out.starts_with("successive halving by 3 of 12 combinations (rounds of 12 × 30 epochs, then 4 × 90 epochs)"),
        "the rounds trained: {out}"
    );
    let results = record["results"].as_array().unwrap();
    let round = |r: &serde_json::Value| r["round"].as_u64().unwrap();
    assert!(results[..8]
        .iter()
        .all(|r| round(r) == 1 && r["diverged"] == false));
    assert!(results[8..]
        .iter()
        .all(|r| round(r) == 2 && r["rank"].is_null()));
    let best = &results[0]["values"];
    assert_eq!(record["best"], *best);
    let (lr, hidden) = (
        best["lr"].as_str().unwrap(),
        best["hidden"].as_str().unwrap(),
    );
    assert!(
        out.contains(&format!("best: --lr {lr} --hidden {hidden} --epochs 30\n")),
        "{out}"
    );
    assert!(
        err.contains("the best combination's folds again, for --fold-predictions"),
        "{err}"
    );
    let own = ["--lr", lr, "--hidden", hidden, "--epochs", "30", "-q"];
    let (ok, _, err) = train(
        &[
            &own[..],
            &["--folds", "2", "--fold-predictions", &oof_alone],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    assert_same_file(&oof, &oof_alone, "the best combination's predictions");
    let (ok, _, err) = train(&[&own[..], &["--save", &model_alone]].concat());
    assert!(ok, "{err}");
    assert_same_file(&model, &model_alone, "the best combination on every row");
}

/// A combination that went on to a longer round and blew up there to a
/// large but finite loss (its training loss ended above its start) is not
/// the best, though later rounds rank first: it ranks after every one that
/// did not rise, with a note. With `--keep best-val` the parameters scored
/// are the kept ones, which did not rise, and the same combination is
/// the best.
#[test]
fn a_combination_that_blew_up_in_a_longer_round_is_not_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, json, model] = paths(&dir, ["x.csv", "g.json", "m.st"]);
    gen_csv(&csv, "500", "3", "0");
    // Rates that grow each epoch: on raw rows, 1.12 and above blow up by
    // epoch 40.
    let growing = [
        "--no-standardize",
        "--folds",
        "3",
        "--epochs",
        "40",
        "--hidden",
        "4",
        "--lr-schedule",
        "exponential",
    ];
    let grid = ["--grid", "lr-gamma=0.9,1.0,1.12,1.15", "--halving", "2"];
    let more = [&growing[..], &grid, &["--json", &json, "--save", &model]].concat();
    let out = run_ok(&train_data(&csv, "cpu", &more));
    let record = read_json(&json);
    let results = record["results"].as_array().unwrap();
    let blew_up: Vec<&serde_json::Value> = (results.iter()).filter(|r| r["round"] == 2).collect();
    assert_eq!(blew_up.len(), 2, "{record}");
    for (r, rank) in blew_up.into_iter().zip([3, 4]) {
        assert!(r["val_mse"]["mean"].as_f64().unwrap() > 1e10, "{r}");
        assert!(
            r["rank"] == rank && r["rose"] == serde_json::json!([1, 2, 3]),
            "{r}"
        );
    }
    assert_eq!(results[0]["round"], 1, "{record}");
    assert!(results[0]["val_mse"]["mean"].as_f64().unwrap() < 1.0);
    assert_eq!(record["best"], results[0]["values"]);
    assert!(
        out.contains("training loss ended above its start: fold 1, fold 2, fold 3"),
        "{out}"
    );
    assert!(out.contains("best: --lr-gamma 1.0 --epochs 20\n"), "{out}");
    let kept = ["--grid", "lr-gamma=1.0,1.12", "--keep", "best-val", "-q"];
    let out = run_ok(&train_data(&csv, "cpu", &[&growing[..], &kept].concat()));
    assert!(out.contains("best: --lr-gamma 1.12\n"), "{out}");
    assert!(!out.contains("ended above its start"), "{out}");
    // Where every finite one rose, the best is the last round's, and
    // --fold-predictions its predictions there, not those its first
    // round kept.
    let [oof, alone] = paths(&dir, ["o.csv", "a.csv"]);
    let grid = ["--grid", "lr-gamma=1.12,1.25,2.5", "--halving", "2"];
    let more = [&growing[..], &grid, &["--fold-predictions", &oof, "-q"]].concat();
    let out = run_ok(&train_data(&csv, "cpu", &more));
    assert!(out.contains("best: --lr-gamma 1.12\n"), "{out}");
    let more = [
        &growing[..],
        &["--lr-gamma", "1.12", "--fold-predictions", &alone, "-q"],
    ];
    run_ok(&train_data(&csv, "cpu", &more.concat()));
    assert_same_file(&oof, &alone, "the best's predictions in its last round");
}

/// A combination whose training loss rose in a round does not go on to the
/// next, even where fewer than the round's share did not rise: of four
/// (growing rates at 20 epochs of 40), 1.3, 1.4 and 1.5 rise, so the last
/// round trains 1.0 alone, not 1.0 and 1.3 (the two best of the first),
/// and 1.3 keeps its first round's scores, ranked second.
#[test]
fn a_combination_that_rose_does_not_go_on_to_the_next_round() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, json] = paths(&dir, ["x.csv", "g.json"]);
    gen_csv(&csv, "500", "3", "0");
    let more = [
        "--no-standardize",
        "--folds",
        "3",
        "--epochs",
        "40",
        "--hidden",
        "4",
        "--lr-schedule",
        "exponential",
        "--grid",
        "lr-gamma=1.0,1.3,1.4,1.5",
        "--halving",
        "2",
        "--json",
        &json,
        "-q",
    ];
    run_ok(&train_data(&csv, "cpu", &more));
    let record = read_json(&json);
    let rounds = serde_json::json!([
        {"epochs": 20, "combinations": 4},
        {"epochs": 40, "combinations": 1}
    ]);
    assert_eq!(record["halving"]["rounds"], rounds, "{record}");
    let results = record["results"].as_array().unwrap();
    let got: Vec<(&str, u64, u64)> = (results.iter())
        .map(|r| {
            let gamma = r["values"]["lr-gamma"].as_str().unwrap();
            (
                gamma,
                r["round"].as_u64().unwrap(),
                r["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [("1.0", 2, 1), ("1.3", 1, 2), ("1.4", 1, 3), ("1.5", 1, 4)];
    assert_eq!(got, want, "{record}");
    assert_eq!(results[1]["rose"], serde_json::json!([1, 2, 3]), "{record}");
}

/// `--save -` and `--json -` with `--folds`: the table, and the summary of
/// the run on every row, stay off the stream that a file is written to.
#[test]
fn outputs_on_standard_output_hold_only_their_own_text() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "60", "2", "4");
    let grid = [
        "--folds",
        "2",
        "--grid",
        "lr=0.01,0.1",
        "--optimizer",
        "adam",
    ];
    let saved = run_ok(&args(&csv, "cpu", &[&grid[..], &["--save", "-"]].concat()));
    let plain = run_ok(&args(
        &csv,
        "cpu",
        &["--lr", "0.01", "--optimizer", "adam", "--save", "-"],
    ));
    assert!(saved.len() > 100 && saved == plain, "the model alone");
    let without_q: Vec<&str> = args(
        &csv,
        "cpu",
        &[&grid[..], &["--json", "-", "--save", &model]].concat(),
    )
    .into_iter()
    .filter(|a| *a != "-q")
    .collect();
    let (out, err) = run_ok_out_err(&without_q);
    let record: serde_json::Value = serde_json::from_str(&out).expect("only the record");
    assert_eq!(record["best"]["lr"], "0.01");
    assert!(
        err.contains("best: --lr 0.01\n") && err.contains("saved "),
        "{err}"
    );
}

/// `--random 5` over two ranges and a list: the draws lie in their
/// ranges (whole numbers for batch-size), are distinct, and each is its
/// own `--folds` run with its values given as options; the same `--seed`
/// draws the same, `--random 7` the same five and two more, and another
/// seed others.
#[test]
fn random_draws_from_ranges_and_each_draw_is_its_own_folds_run() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, drawn, again, more, other] = paths(
        &dir,
        ["d.csv", "r.json", "again.json", "more.json", "other.json"],
    );
    gen_csv(&csv, "240", "3", "2");
    let search = |json: &str, count: &str, seed: &str| {
        let more = [
            "--folds",
            "3",
            "--grid",
            "lr=log:0.003..0.1",
            "--grid",
            "batch-size=16..64",
            "--grid",
            "hidden=4,[6,3]",
            "--random",
            count,
            "--json",
            json,
        ];
        let line = args(&csv, "cpu", &[ADAM, &more].concat());
        let mut line: Vec<String> = line.iter().map(|s| s.to_string()).collect();
        let at = line.iter().position(|a| a == "--seed").unwrap();
        line[at + 1] = seed.to_string();
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        run_ok(&line);
        read_json(json)
    };
    let values = |record: &serde_json::Value| -> Vec<(String, String, String)> {
        let results = record["results"].as_array().unwrap();
        let each = results.iter().map(|r| {
            let v = &r["values"];
            let text = |k: &str| v[k].as_str().unwrap().to_string();
            (text("lr"), text("batch-size"), text("hidden"))
        });
        each.collect()
    };
    let record = search(&drawn, "5", "5");
    assert_eq!(record["random"], 5);
    assert_eq!(record["grid"][0]["range"]["log"], true);
    assert_eq!(record["grid"][1]["range"]["whole"], true);
    assert_eq!(record["grid"][2]["values"][1], "6,3");
    let five = values(&record);
    assert_eq!(five.len(), 5);
    for (lr, batch, hidden) in &five {
        let lr: f64 = lr.parse().unwrap();
        let batch: usize = batch.parse().unwrap();
        assert!((0.003..=0.1).contains(&lr), "{lr}");
        assert!((16..=64).contains(&batch), "{batch}");
        assert!(hidden == "4" || hidden == "6,3", "{hidden}");
    }
    let distinct: std::collections::HashSet<_> = five.iter().collect();
    assert_eq!(distinct.len(), 5, "{five:?}");
    let results = record["results"].as_array().unwrap();
    for (place, r) in results.iter().enumerate().step_by(4) {
        assert_eq!(r["rank"], place + 1);
        let (lr, batch, hidden) = &five[place];
        let alone = path(&dir, &format!("{place}.json"));
        let own = [
            "--folds",
            "3",
            "--lr",
            lr,
            "--batch-size",
            batch,
            "--hidden",
            hidden,
            "--json",
            &alone,
        ];
        run_ok(&args(&csv, "cpu", &[ADAM, &own].concat()));
        assert_same_folds(r, &read_json(&alone), &format!("{lr} {batch} {hidden}"));
    }
    let mut sorted = five.clone();
    sorted.sort();
    let mut same = values(&search(&again, "5", "5"));
    same.sort();
    assert_eq!(same, sorted);
    let seven = values(&search(&more, "7", "5"));
    assert_eq!(seven.len(), 7);
    assert!(five.iter().all(|v| seven.contains(v)), "{five:?} {seven:?}");
    let others = values(&search(&other, "5", "6"));
    assert!(others.iter().all(|v| !five.contains(v)), "{others:?}");
}

/// `--random 5 --halving 2`: the first round tries the five drawn, and the
/// table says they were drawn.
#[test]
fn random_draws_go_through_halvings_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, halved] = paths(&dir, ["d.csv", "h.json"]);
    gen_csv(&csv, "240", "3", "2");
    let more = [
        "--no-standardize",
        "--folds",
        "2",
        "--grid",
        "lr=log:0.001..0.1",
        "--random",
        "5",
        "--halving",
        "2",
        "--json",
        &halved,
    ];
    let line = args(&csv, "cpu", &[ADAM, &more].concat());
    let line: Vec<&str> = line.into_iter().filter(|a| *a != "-q").collect();
    let out = run_ok(&line);
    assert!(
        out.contains("successive halving by 2 of 5 combinations drawn at random (rounds of 5 × 7 epochs, then 3 × 15 epochs, then 2 × 30 epochs)"),
        "{out}"
    );
    let record = read_json(&halved);
    assert_eq!(record["random"], 5);
    let rounds: Vec<u64> = record["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["round"].as_u64().unwrap())
        .collect();
    // Round 2's third (lr 0.04556) ended above its start in both folds
    // (held-out r² -0.76): after round 1's.
    assert_eq!(rounds, [3, 3, 1, 1, 2]);
    let last = &record["results"][4];
    assert!(
        last["rank"] == 5 && last["rose"] == serde_json::json!([1, 2]),
        "{last}"
    );
}

/// Without --optimizer, a search trains every combination with the same
/// default optimizer: L-BFGS where none of its flags ask for gd, gd where
/// all do, with a notice where the grid's values chose gd; where they
/// would differ (a constant rate beside a cosine schedule: lbfgs and gd)
/// it is refused, before any fold.
#[test]
fn a_search_without_optimizer_uses_one_for_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, json] = paths(&dir, ["d.csv", "g.json"]);
    gen_csv(&csv, "60", "2", "3");
    let optimizers = |grid: &str| -> (Vec<String>, String) {
        let more = [
            "--folds", "2", "--grid", grid, "--json", &json, "--epochs", "30",
        ];
        let (_, err) = run_ok_out_err(&train_data(&csv, "cpu", &more));
        let record = read_json(&json);
        let results = record["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{record}");
        let names = (results.iter())
            .map(|r| r["options"]["optimizer"]["name"].as_str().unwrap().into())
            .collect();
        (names, err)
    };
    // gd chosen by the grid's values is said, as the table does not say it.
    let gd = "notice: without --optimizer, each combination trained gd, the default optimizer where --lr is given, as --grid gives it";
    let (names, err) = optimizers("hidden=3,4");
    assert!(
        names == ["lbfgs", "lbfgs"] && !err.contains(gd),
        "{names:?} {err}"
    );
    let (names, err) = optimizers("lr=0.1,0.2");
    assert!(names == ["gd", "gd"] && err.contains(gd), "{names:?} {err}");
    // Nor where the grid names the optimizers.
    let named = [
        "--folds",
        "2",
        "--grid",
        "optimizer=adam,momentum",
        "--grid",
        "lr=0.1,0.01",
        "--epochs",
        "30",
    ];
    let (_, err) = run_ok_out_err(&train_data(&csv, "cpu", &named));
    assert!(!err.contains("each combination trained gd"), "{err}");
    let more = [
        "--folds",
        "2",
        "--grid",
        "lr-schedule=constant,cosine",
        "--json",
        &json,
    ];
    let (_, err) = run_refused(&args(&csv, "cpu", &more));
    let says = "without --optimizer, --grid's combinations would train with different optimizers: lr-schedule=constant with lbfgs, lr-schedule=cosine with gd (a flag only the first-order optimizers take makes gd the default); name one with --optimizer";
    assert!(err.contains(says), "{err}");
    let more = [
        "--folds",
        "2",
        "--optimizer",
        "adam",
        "--grid",
        "lr-schedule=constant,cosine",
    ];
    run_ok(&args(&csv, "cpu", &more));
}

/// A best value at the end of a number option's three or more values is
/// noted (the best may lie past it); not an inner one, nor 0 at the low
/// end, nor a random search's draw, nor one that scored as another value
/// did.
#[test]
fn a_best_value_at_the_grids_end_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    gen_csv(&csv, "120", "2", "3");
    let search = |grid: &str, more: &[&str]| {
        let line = [&["--folds", "2", "--seed", "5", "--grid", grid][..], more].concat();
        run_ok(&train_data(&csv, "cpu", &line))
    };
    // L-BFGS's loss falls with every iteration at first.
    let out = search("epochs=1,2,4", &["--optimizer", "lbfgs"]);
    let note =
        "note: the best epochs, 4, is the largest the grid tried: one past it may score better";
    assert!(
        out.contains("best: --epochs 4\n") && out.contains(note),
        "{out}"
    );
    // Clean rows: the smallest decay tried is best.
    let out = search("weight-decay=1e-3,1e-2,1e-1", &["--optimizer", "lbfgs"]);
    assert!(
        out.contains("note: the best weight-decay, 1e-3, is the smallest the grid tried"),
        "{out}"
    );
    // Two values, 0 at the low end, or a random search's draws: nothing
    // noted.
    for (grid, more) in [
        ("epochs=1,2", &["--optimizer", "lbfgs"][..]),
        ("weight-decay=0,1e-2,1e-1", &["--optimizer", "lbfgs"]),
        (
            "weight-decay=log:1e-3..1e-1",
            &["--optimizer", "lbfgs", "--random", "3"],
        ),
    ] {
        let out = search(grid, more);
        assert!(
            out.contains("best: ") && !out.contains("note: the best"),
            "{grid}: {out}"
        );
    }
    // Rates that move nothing score alike: no end is noted, and the best
    // is said to be no better than the mean.
    let out = search("lr=1e-30,1e-20,1e-10", &["--optimizer", "adam"]);
    let note = "note: no combination learned the target: the best predicts the held-out rows no better than the training rows' mean does (r² -";
    assert!(
        out.contains(note) && !out.contains("is the smallest the grid tried"),
        "{out}"
    );
}
