//! `train --folds K`: each fold against a plain run on its training rows
//! and `predict` on its held-out rows (the scores and
//! `--fold-predictions`), fold 1 against `--validation-split 1/K`,
//! standard input read once, folds that rose, a diverged fold, a signal,
//! the GPU, and the refusals.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    assert_close, gen_csv, have_gpu, path, paths, read_json, run_ok, shadertrain,
    signalled_in_fold, train_data,
};
use shadertrain::data::Table;
use shadertrain::io::write_csv;

/// The options every fold of these tests trains with.
const RUN: &[&str] = &["--seed", "4", "--hidden", "6", "--epochs", "40", "-q"];

/// Adam at a rate that fits the synthetic task in 40 epochs.
const ADAM: &[&str] = &["--optimizer", "adam", "--lr", "0.02"];

/// `train --data csv --backend backend`, [`RUN`], then `more`.
fn args<'a>(csv: &'a str, backend: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    train_data(csv, backend, &[RUN, more].concat())
}

/// The per-fold records of a `--folds --json` file.
fn folds(json: &str) -> Vec<serde_json::Value> {
    read_json(json)["per_fold"].as_array().unwrap().clone()
}

#[test]
fn each_fold_is_a_run_on_the_other_rows_scored_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv] = paths(&dir, ["d.csv", "cv.json"]);
    gen_csv(&csv, "300", "3", "3");
    let out = run_ok(&args(
        &csv,
        "cpu",
        &[ADAM, &["--folds", "3", "--standardize", "--json", &cv]].concat(),
    ));
    // The table went to standard output, the scores to the file.
    assert!(out.contains("3-fold cross-validation (--seed 4)"), "{out}");
    let record = read_json(&cv);
    let scores = folds(&cv);
    assert_eq!(record["folds"], 3);
    assert_eq!(scores.len(), 3);
    let data = Table::read(Path::new(&csv))
        .unwrap()
        .into_dataset(None)
        .unwrap();
    let mut held_total = 0;
    for (i, score) in scores.iter().enumerate() {
        let name = |n: &str| path(&dir, &format!("{i}{n}"));
        let (train, held, model) = (name("train.csv"), name("held.csv"), name("m.st"));
        let (summary, scored) = (name("s.json"), name("p.json"));
        let (train_rows, held_rows) = data.fold(i, 3, 4).unwrap();
        write_csv(Path::new(&train), &train_rows).unwrap();
        write_csv(Path::new(&held), &held_rows).unwrap();
        assert_eq!(score["fold"], i + 1);
        assert_eq!(score["train_rows"], train_rows.rows);
        assert_eq!(score["held_out_rows"], held_rows.rows);
        held_total += held_rows.rows;
        // The fold's run is a plain run on its training rows, bit for bit.
        run_ok(&args(
            &train,
            "cpu",
            &[
                ADAM,
                &["--standardize", "--save", &model, "--json", &summary],
            ]
            .concat(),
        ));
        let plain = read_json(&summary);
        assert_eq!(score["loss"], plain["final_loss"], "fold {}", i + 1);
        assert_eq!(score["epochs"], plain["epochs"]);
        assert_eq!(score["stop"], plain["stop"]);
        // Its score is that model's MSE and R² on the held-out rows, in
        // the target's units though the run was standardised (the fast
        // CPU scorer against predict's f64 reference).
        run_ok(&[
            "predict",
            "--model",
            &model,
            "--data",
            &held,
            "--json",
            &scored,
            "--out",
            &path(&dir, "pred.csv"),
        ]);
        let predicted = read_json(&scored);
        let (mse, r2) = (
            score["val_mse"].as_f64().unwrap(),
            score["val_r2"].as_f64().unwrap(),
        );
        let want = [
            predicted["mse"].as_f64().unwrap(),
            predicted["r2"].as_f64().unwrap(),
        ];
        assert_close("held-out mse and r²", &[mse, r2], &want, 1e-7, 1e-5);
    }
    assert_eq!(held_total, 300);
    // The mean and the population standard deviation over the folds.
    for key in ["val_mse", "val_r2"] {
        let values: Vec<f64> = scores.iter().map(|s| s[key].as_f64().unwrap()).collect();
        let mean = values.iter().sum::<f64>() / 3.0;
        let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 3.0).sqrt();
        let got = [&record[key]["mean"], &record[key]["sd"]].map(|v| v.as_f64().unwrap());
        assert_close(key, &got, &[mean, sd], 0.0, 1e-12);
        assert!(sd > 0.0, "{key}: the folds differ");
        assert!(out.contains(&format!(
            "{:.4e}",
            record["val_mse"]["mean"].as_f64().unwrap()
        )));
    }
}

/// `--fold-predictions` keeps its lines beside the file's rows: a row
/// `--missing drop` leaves out (the first, two together, the last) has two
/// empty cells, and the other lines are those of the same run on the file
/// without those rows, to the byte.
#[test]
fn fold_predictions_stand_beside_the_files_rows() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, whole, oof, oof_whole] = paths(&dir, ["d.csv", "w.csv", "oof.csv", "oofw.csv"]);
    gen_csv(&whole, "90", "2", "8");
    let text = std::fs::read_to_string(&whole).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let gapped = ["0.5,,0.25", ",0.1,0.2", "0.3,0.4,", ",,"];
    // Rows 0, 41, 42 and 93 of the file (lines 2, 43, 44 and 95).
    for (at, row) in [(1, gapped[0]), (42, gapped[1]), (43, gapped[2])] {
        lines.insert(at, row);
    }
    lines.push(gapped[3]);
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let cv = |data: &str, out: &str| {
        let more = [ADAM, &["--missing", "drop", "--folds", "3"]].concat();
        let more = [&more[..], &["--fold-predictions", out]].concat();
        run_ok(&args(data, "cpu", &more));
        std::fs::read_to_string(out).unwrap()
    };
    let (got, want) = (cv(&csv, &oof), cv(&whole, &oof_whole));
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), 1 + 94, "a line per row of the file");
    let left_out = [0, 41, 42, 93];
    for row in left_out {
        assert_eq!(got[1 + row], ",", "row {row}");
    }
    let kept: Vec<&str> = (got.iter().enumerate())
        .filter(|(i, _)| *i == 0 || !left_out.contains(&(i - 1)))
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(kept, want.lines().collect::<Vec<_>>());
    assert!(kept[1..]
        .iter()
        .all(|l| l.split(',').count() == 2 && !l.starts_with(',')));
}

/// `--fold-predictions` from an `--init` model whose columns the file holds
/// in another order: the rows are put in the model's order for the
/// predictions too, which are those of the file in the model's order.
#[test]
fn fold_predictions_from_init_take_the_models_column_order() {
    let dir = tempfile::tempdir().unwrap();
    let [ab, ba, model, oof_ab, oof_ba] =
        paths(&dir, ["ab.csv", "ba.csv", "m.st", "ab.oof", "ba.oof"]);
    gen_csv(&ab, "60", "2", "3");
    common::reorder_columns(&ab, &ba, &[1, 0, 2]);
    run_ok(&args(&ab, "cpu", &[ADAM, &["--save", &model]].concat()));
    for (data, out) in [(&ab, &oof_ab), (&ba, &oof_ba)] {
        let more = [
            "--init",
            model.as_str(),
            "--folds",
            "2",
            "--fold-predictions",
            out,
        ];
        run_ok(&args(data, "cpu", &[ADAM, &more[..]].concat()));
    }
    // A header and a line per row, alike for both files.
    let predictions = std::fs::read_to_string(&oof_ab).unwrap();
    assert_eq!(predictions.lines().count(), 61, "{predictions}");
    assert_eq!(predictions, std::fs::read_to_string(&oof_ba).unwrap());
}

/// `--fold-predictions`: each row's line is the fold that held it out and
/// that fold's model's prediction, as `predict` makes it from a plain
/// run on the other rows, to the bit; missing cells filled with the
/// fold's own training means.
#[test]
fn fold_predictions_are_each_folds_model_on_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, oof] = paths(&dir, ["d.csv", "oof.csv"]);
    gen_csv(&csv, "240", "3", "11");
    // Every 17th row's x1 missing.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for line in lines.iter_mut().skip(1).step_by(17) {
        let cells: Vec<&str> = line.split(',').collect();
        *line = format!("{},,{},{}", cells[0], cells[2], cells[3]);
    }
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let options = [ADAM, &["--missing", "mean", "--standardize"]].concat();
    let cv = [&options[..], &["--folds", "4", "--fold-predictions", &oof]].concat();
    run_ok(&args(&csv, "cpu", &cv));
    let predicted: Vec<String> = std::fs::read_to_string(&oof)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(predicted[0], "fold,y_pred");
    assert_eq!(predicted.len(), 241);
    for i in 0..4 {
        let held = shadertrain::data::fold_rows(i, 4, 240, 4);
        let name = |n: &str| path(&dir, &format!("{i}{n}"));
        let (train, rows, model, out) = (name("t.csv"), name("h.csv"), name("m.st"), name("p.csv"));
        let pick = |keep: bool| {
            let body = (1..=240).filter(|n| held.contains(&(n - 1)) == keep);
            let picked: Vec<&str> = std::iter::once(0)
                .chain(body)
                .map(|n| lines[n].as_str())
                .collect();
            picked.join("\n") + "\n"
        };
        std::fs::write(&train, pick(false)).unwrap();
        std::fs::write(&rows, pick(true)).unwrap();
        run_ok(&args(
            &train,
            "cpu",
            &[&options[..], &["--save", &model]].concat(),
        ));
        run_ok(&["predict", "--model", &model, "--data", &rows, "--out", &out]);
        let want: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|p| format!("{},{p}", i + 1))
            .collect();
        let got: Vec<&String> = held.iter().map(|&n| &predicted[n + 1]).collect();
        assert_eq!(got, want.iter().collect::<Vec<_>>(), "fold {}", i + 1);
    }
}

#[test]
fn fold_one_is_the_validation_split_and_best_val_keeps_its_lowest() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv, split] = paths(&dir, ["d.csv", "cv.json", "split.json"]);
    gen_csv(&csv, "202", "3", "5");
    // Momentum at a rate where the held-out loss bounces, so that the
    // lowest is not the last; on raw rows, where the split's loss is in
    // the target's units, as a fold's score is.
    let bouncing = [
        "--optimizer",
        "momentum",
        "--lr",
        "2",
        "--keep",
        "best-val",
        "--no-standardize",
    ];
    run_ok(&args(
        &csv,
        "cpu",
        &[&bouncing[..], &["--folds", "4", "--json", &cv]].concat(),
    ));
    let more = [
        &bouncing[..],
        &["--validation-split", "0.25", "--json", &split],
    ]
    .concat();
    run_ok(&args(&csv, "cpu", &more));
    let (fold, plain) = (&folds(&cv)[0], read_json(&split));
    assert_eq!(fold["held_out_rows"], plain["val_rows"]);
    assert_eq!(fold["loss"], plain["final_loss"]);
    assert_eq!(fold["kept_epoch"], plain["kept"]["epoch"]);
    assert_eq!(fold["val_mse"], plain["kept"]["val_loss"]);
    assert_eq!(fold["val_r2"], plain["kept"]["val_r2"]);
    let kept = fold["kept_epoch"].as_u64().unwrap();
    assert!(
        kept < 40,
        "the lowest held-out loss is not the last: {kept}"
    );
    // Without --keep best-val, the last parameters are scored.
    let last = [
        "--folds",
        "4",
        "--optimizer",
        "momentum",
        "--lr",
        "2",
        "--no-standardize",
        "--json",
        &cv,
    ];
    run_ok(&args(&csv, "cpu", &last));
    assert_eq!(folds(&cv)[0]["val_mse"], plain["final_val_loss"]);
    assert!(folds(&cv)[0].get("kept_epoch").is_none());
}

#[test]
fn standard_input_is_read_once_for_every_fold() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, from_file, from_stdin] = paths(&dir, ["d.csv", "f.json", "s.json"]);
    gen_csv(&csv, "120", "2", "6");
    run_ok(&args(&csv, "cpu", &["--folds", "3", "--json", &from_file]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(args("-", "cpu", &["--folds", "3", "--json", &from_stdin]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(&csv).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let strip = |mut v: Vec<serde_json::Value>| {
        v.iter_mut().for_each(|f| {
            f.as_object_mut().unwrap().remove("wall_s");
        });
        v
    };
    assert_eq!(strip(folds(&from_stdin)), strip(folds(&from_file)));
}

/// `out_of_fold` scores every row's prediction in `--fold-predictions`
/// against its target, over all the rows (to the f32 rounding of the
/// backend's held-out losses, which it sums); leave-one-out (a row per
/// fold), whose folds have no R² of their own, has one there. 122 rows
/// make folds of 30 and 31, which the rows weigh.
#[test]
fn out_of_fold_scores_every_rows_prediction_together() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, oof, cv] = paths(&dir, ["d.csv", "oof.csv", "cv.json"]);
    for (rows, folds) in [("122", "4"), ("15", "15")] {
        gen_csv(&csv, rows, "2", "21");
        let more = [
            ADAM,
            &["--folds", folds, "--fold-predictions", &oof, "--json", &cv],
        ]
        .concat();
        let out = run_ok(&args(&csv, "cpu", &more));
        let targets: Vec<f64> = std::fs::read_to_string(&csv)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| f64::from(l.rsplit(',').next().unwrap().parse::<f32>().unwrap()))
            .collect();
        let predicted: Vec<f64> = std::fs::read_to_string(&oof)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        let n = targets.len() as f64;
        let squares: f64 = targets
            .iter()
            .zip(&predicted)
            .map(|(y, p)| (p - y).powi(2))
            .sum();
        let mean = targets.iter().sum::<f64>() / n;
        let total: f64 = targets.iter().map(|y| (y - mean).powi(2)).sum();
        let record = read_json(&cv);
        let pooled = &record["out_of_fold"];
        assert_close(
            &format!("{rows} rows, {folds} folds"),
            &[
                pooled["mse"].as_f64().unwrap(),
                pooled["r2"].as_f64().unwrap(),
            ],
            &[squares / n, 1.0 - squares / total],
            1e-9,
            1e-5,
        );
        assert!(out.contains("\nall rows  "), "{out}");
        if folds == "15" {
            // One held-out row per fold: no R² per fold, nor their mean.
            assert!(record["per_fold"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["val_r2"].is_null()));
            assert!(record["val_r2"].is_null());
        }
    }
}

/// The folds' mean held-out MSE is the plain mean of theirs (as
/// scikit-learn's `cross_val_score(...).mean()`), in `--json` and in the
/// table's `mean` line, not weighted by their rows: 10 rows in 3 folds
/// hold out 3, 4 and 3 (cut at round(10/3) = 3 and round(20/3) = 7),
/// where a mean weighted by the rows differs.
#[test]
fn the_folds_mean_is_unweighted_where_they_hold_out_unequal_rows() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv] = paths(&dir, ["d.csv", "cv.json"]);
    gen_csv(&csv, "10", "2", "5");
    let more = [ADAM, &["--folds", "3", "--json", &cv]].concat();
    let out = run_ok(&args(&csv, "cpu", &more));
    let scores = folds(&cv);
    let rows: Vec<f64> = (scores.iter())
        .map(|s| s["held_out_rows"].as_f64().unwrap())
        .collect();
    assert_eq!(rows, [3.0, 4.0, 3.0]);
    let mses: Vec<f64> = scores
        .iter()
        .map(|s| s["val_mse"].as_f64().unwrap())
        .collect();
    let mean = mses.iter().sum::<f64>() / 3.0;
    let weighted = mses.iter().zip(&rows).map(|(m, r)| m * r).sum::<f64>() / 10.0;
    assert!(
        (mean - weighted).abs() > 1e-3 * mean,
        "the folds' mses are too alike to tell the means apart: {mses:?}"
    );
    let got = read_json(&cv)["val_mse"]["mean"].as_f64().unwrap();
    assert_close("mean held-out mse", &[got], &[mean], 0.0, 1e-12);
    let line = out.lines().find(|l| l.starts_with("mean ")).unwrap();
    assert!(line.contains(&format!("{mean:.4e}")), "{out}");
}

/// Where every target is the same there is no R² (its denominator, the
/// targets' spread, is 0): not a fold's, not their mean, and not the
/// pooled one of every row's prediction, which the table's `all rows`
/// line shows as `-` and `--json` as null (1 − squares/0 would be −inf;
/// JSON writes that as null too, so the table's dash is what tells them
/// apart).
#[test]
fn constant_targets_have_no_out_of_fold_r2() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv] = paths(&dir, ["d.csv", "cv.json"]);
    let rows: String = (0..8).map(|i| format!("{},1\n", i as f64 / 8.0)).collect();
    std::fs::write(&csv, format!("x,y\n{rows}")).unwrap();
    let more = [ADAM, &["--folds", "2", "--json", &cv]].concat();
    let out = run_ok(&args(&csv, "cpu", &more));
    let pooled = out.lines().find(|l| l.starts_with("all rows")).unwrap();
    assert!(pooled.trim_end().ends_with(" -"), "{out}");
    let record = read_json(&cv);
    assert!(record["out_of_fold"]["mse"].as_f64().is_some(), "{record}");
    assert!(record["out_of_fold"]["r2"].is_null(), "{record}");
    assert!(record["val_r2"].is_null(), "{record}");
}

/// A signal that came before a fold's training loop (here raised as fold 2
/// is set up, through the debug builds' SHADERTRAIN_SIGNAL_IN_FOLD) stops
/// that fold at once: no loop lowers it.
#[test]
fn a_signal_before_a_folds_loop_stops_it() {
    if !cfg!(debug_assertions) {
        common::say_skipped(format_args!(
            "SKIPPED: SHADERTRAIN_SIGNAL_IN_FOLD is read by debug builds only"
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv, oof] = paths(&dir, ["d.csv", "cv.json", "oof.csv"]);
    gen_csv(&csv, "90", "2", "13");
    for auto in [&[][..], &["--optimizer", "adam", "--lr", "auto"]] {
        let more = [
            auto,
            &["--folds", "3", "--json", &cv, "--fold-predictions", &oof],
        ]
        .concat();
        let (code, said) = signalled_in_fold(&args(&csv, "cpu", &more), "2");
        assert_eq!(code, Some(143), "{auto:?}: {said}");
        assert!(
            said.contains("interrupted during fold 2 of 3; nothing was written. The folds done:"),
            "{said}"
        );
        assert!(
            said.contains("\n1     ") && !said.contains("\n2     "),
            "{said}"
        );
        assert!(!said.contains("range test"), "the folds report it: {said}");
        assert!(!Path::new(&cv).exists() && !Path::new(&oof).exists());
    }
    // In --save's run on every row, with no other output: no files to
    // speak of, and no options chosen to name.
    let model = path(&dir, "m.st");
    let more = ["--folds", "3", "--save", &model];
    let (code, said) = signalled_in_fold(&args(&csv, "cpu", &more), "every-row");
    assert_eq!(code, Some(143), "{said}");
    assert!(
        said.contains("; to keep an interrupted run to --resume, train without --folds, and with --checkpoint FILE")
            && !said.contains("written before"),
        "{said}"
    );
    assert!(!Path::new(&model).exists());
}

/// `--lr auto` tests each fold's own rows (fold 1 as the split's run
/// does); `--json -` sends the table to standard error; `--quiet` drops
/// the per-fold lines.
#[test]
fn lr_auto_per_fold_json_on_standard_output_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, split] = paths(&dir, ["d.csv", "split.json"]);
    gen_csv(&csv, "160", "2", "12");
    let auto = ["--optimizer", "adam", "--lr", "auto"];
    let (ok, out, err) = shadertrain(&args(
        &csv,
        "cpu",
        &[&auto[..], &["--folds", "2", "--json", "-"]].concat(),
    ));
    assert!(ok, "{err}");
    let record: serde_json::Value =
        serde_json::from_str(&out).expect("only the JSON on standard output");
    assert!(
        err.contains("2-fold cross-validation") && err.contains("\nmean "),
        "{err}"
    );
    assert!(
        !err.contains("fold 1 of 2:"),
        "-q drops the fold lines: {err}"
    );
    let more = [&auto[..], &["--validation-split", "0.5", "--json", &split]].concat();
    run_ok(&args(&csv, "cpu", &more));
    let plain = read_json(&split);
    let fold = &record["per_fold"][0];
    assert_eq!(fold["lr"], plain["lr_range_test"]["lr"]);
    assert_eq!(fold["loss"], plain["final_loss"]);
    assert!(fold["lr"].as_f64().unwrap() > 0.0);
    // Without -q, each fold's line says its rate.
    let loud: Vec<&str> = args(&csv, "cpu", &[&auto[..], &["--folds", "2"]].concat())
        .into_iter()
        .filter(|a| *a != "-q")
        .collect();
    let (ok, _, err) = shadertrain(&loud);
    assert!(ok, "{err}");
    let rate = shadertrain::optim::short(fold["lr"].as_f64().unwrap());
    assert!(
        err.contains(&format!("fold 1 of 2: 40 epochs at lr {rate} (")),
        "{err}"
    );
}

/// Folds whose training loss ended above their first are warned of, as
/// a plain run is; folds that fell are not.
#[test]
fn folds_that_end_above_their_start_are_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    gen_csv(&csv, "30", "3", "0");
    let rising = [
        "--folds",
        "3",
        "--epochs",
        "5",
        "--optimizer",
        "gd",
        "--no-standardize",
        "-q",
    ];
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &rising));
    assert!(ok, "{err}");
    let says = "warning: the training loss of folds 1, 2, 3 ended above where it started; try a smaller --lr (the folds used 0.1), --clip-grad-norm C or --standardize";
    assert!(err.contains(says), "{err}");
    let falling = [&rising[..], &["--standardize", "--lr", "0.01"]].concat();
    let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", &falling));
    assert!(ok, "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_diverged_fold_is_reported_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(&dir, "d.csv");
    gen_csv(&csv, "90", "2", "7");
    let (ok, out, err) = shadertrain(&train_data(
        &csv,
        "cpu",
        &[
            "--folds",
            "3",
            "--optimizer",
            "gd",
            "--lr",
            "1e6",
            "--epochs",
            "20",
        ],
    ));
    assert!(!ok, "{out}");
    assert!(err.contains("fold 1 at epoch"), "{err}");
    assert!(err.contains("try a smaller --lr"), "{err}");
    assert!(out.contains("diverged"), "the table is printed: {out}");
    // Each fold said how it ended as it ended.
    assert!(err.contains("fold 3 of 3:"), "{err}");
}

#[test]
fn a_signal_during_a_fold_reports_the_folds_done_and_writes_nothing() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv, oof] = paths(&dir, ["d.csv", "cv.json", "oof.csv"]);
    gen_csv(&csv, "200", "2", "10");
    // Each fold trains for 3 seconds; the signal comes as fold 1 ends.
    // gd: L-BFGS converges on these rows within the 3 seconds.
    let long = [
        "--epochs",
        "100000000",
        "--optimizer",
        "gd",
        "--max-time",
        "3",
        "--folds",
        "3",
        "--json",
        &cv,
        "--fold-predictions",
        &oof,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(train_data(&csv, "cpu", &long))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("fold 1 of 3:") {
        assert_ne!(stderr.read_line(&mut said).unwrap(), 0, "{said}");
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{said}");
    assert!(said.contains("fold 1 of 3: "), "{said}");
    assert!(said.contains("time_limit"), "{said}");
    // The signal comes as fold 1's line is said: before fold 2's loop or
    // in it, and either way fold 2 trains no further.
    let stopped = "interrupted during fold 2 of 3; nothing was written. The folds done:";
    assert!(said.contains(stopped), "{said}");
    assert!(
        said.contains("\n1     "),
        "fold 1's line of the table: {said}"
    );
    assert!(!said.contains("\n2     "), "{said}");
    assert!(!Path::new(&cv).exists() && !Path::new(&oof).exists());
}

#[test]
fn folds_on_the_gpu_are_its_validation_split_runs() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [csv, cv, split] = paths(&dir, ["d.csv", "cv.json", "split.json"]);
    gen_csv(&csv, "150", "3", "8");
    // Raw rows: the split's loss in the target's units, as a fold's score.
    let gpu = ["--adapter", "llvmpipe", "--no-standardize"];
    run_ok(&args(
        &csv,
        "gpu",
        &[&gpu[..], &["--folds", "2", "--json", &cv]].concat(),
    ));
    let more = [&gpu[..], &["--validation-split", "0.5", "--json", &split]].concat();
    run_ok(&args(&csv, "gpu", &more));
    let (fold, plain) = (&folds(&cv)[0], read_json(&split));
    assert_eq!(fold["loss"], plain["final_loss"]);
    assert_eq!(fold["val_mse"], plain["final_val_loss"]);
    assert_ne!(folds(&cv)[1]["val_mse"], fold["val_mse"]);
}

#[test]
fn folds_are_refused_where_they_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model] = paths(&dir, ["d.csv", "m.st"]);
    gen_csv(&csv, "4", "2", "9");
    let same_file = format!("--fold-predictions {csv} and --data {csv} are the same file");
    for (more, says) in [
        (&["--folds", "1"][..], "--folds must be at least 2, not 1"),
        (
            &["--folds", "5"],
            "--folds 5 needs at least 5 rows, one held out in each fold; the data have 4 rows",
        ),
        (
            &["--fold-predictions", &model],
            "required arguments were not provided:\n  --folds <K>",
        ),
        (
            &["--folds", "2", "--fold-predictions", "-", "--json", "-"],
            "--json and --fold-predictions both write to standard output",
        ),
        (&["--folds", "2", "--fold-predictions", &csv], &same_file),
        (
            &["--folds", "2", "--fold-predictions", "/nonexistent/oof.csv"],
            "--fold-predictions: cannot write /nonexistent/oof.csv",
        ),
        (
            &["--folds", "2", "--keep", "best"],
            "--keep best cannot be combined with --folds",
        ),
        (
            &["--folds", "2", "--save", &model, "--keep", "best-val"],
            "--keep best-val cannot be combined with --folds --save",
        ),
        (
            &["--folds", "2", "--validation-split", "0.5"],
            "cannot be used with '--validation-split",
        ),
        (
            &["--folds", "2", "--checkpoint", &model],
            "cannot be used with '--checkpoint",
        ),
        (
            &["--folds", "2", "--history", &model],
            "cannot be used with '--history",
        ),
        (
            &["--keep", "best-val"],
            "--keep best-val needs --validation-split, or --folds without --save",
        ),
    ] {
        let (ok, _, err) = shadertrain(&train_data(&csv, "cpu", more));
        assert!(!ok, "{more:?} ran");
        assert!(err.contains(says), "{more:?}: {err}");
    }
    assert!(!Path::new(&model).exists());
}

/// The fold (1 to 5, by --seed 0) that holds the first data row of `csv`
/// out, from `--fold-predictions` of a plain run.
fn one_fold(csv: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let oof = path(&dir, "oof.csv");
    let more = ["--folds", "5", "--epochs", "1", "--ignore", "z"];
    let mut args = train_data(csv, "cpu", &more);
    args.extend(["--fold-predictions", &oof]);
    run_ok(&args);
    let text = std::fs::read_to_string(&oof).unwrap();
    let row = text.lines().nth(1).unwrap();
    row.split(',').next().unwrap().to_string()
}

/// A fold whose training rows would hold no number of a feature to fill
/// its missing cells with is refused before any fold trains, naming it,
/// for means and medians, with a grid too; a feature with numbers in
/// every fold's training rows trains.
#[test]
fn a_fold_with_nothing_to_fill_with_is_refused_before_any_fold_trains() {
    let dir = tempfile::tempdir().unwrap();
    let [one, two] = paths(&dir, ["one.csv", "two.csv"]);
    // z holds a number in row 0 only, then in rows 0 to 9 (more than the
    // 4 rows each fold holds out).
    for (csv, numbers) in [(&one, 1), (&two, 10)] {
        let mut text = String::from("x,z,y\n");
        for n in 0..20 {
            let x = n as f64 / 20.0;
            let z = if n < numbers {
                format!("{}", n + 1)
            } else {
                String::new()
            };
            text += &format!("{x},{z},{}\n", 2.0 * x);
        }
        std::fs::write(csv, text).unwrap();
    }
    for (fill, grid) in [("mean", None), ("median", Some("hidden=4,8"))] {
        let mut more = vec!["--missing", fill, "--folds", "5", "--epochs", "3"];
        more.extend(grid.iter().flat_map(|g| ["--grid", *g]));
        let (ok, _, err) = shadertrain(&train_data(&one, "cpu", &more));
        assert!(!ok, "{err}");
        let says = format!(
            "one.csv: fold {} of 5: the feature 'z' has no number in the 16 rows trained on, so --missing {fill} has no {fill} to fill it with",
            one_fold(&one)
        );
        assert!(
            err.contains(&says) && err.contains("found before the first fold trains"),
            "{err}"
        );
        // No fold's line, nor a combination's.
        assert!(!err.contains("held-out mse"), "a fold trained: {err}");
        let (ok, _, err) = shadertrain(&train_data(&two, "cpu", &more));
        let last = match grid {
            Some(_) => "combination 2 of 2 (hidden=8): held-out mse",
            None => "fold 5 of 5:",
        };
        assert!(ok && err.contains(last), "{err}");
    }
}
