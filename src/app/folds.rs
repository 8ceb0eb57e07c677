//! `train --folds K`: K-fold cross-validation of a run's options. The
//! rows are cut into K folds in the validation split's key order
//! ([`crate::data::Dataset::fold`]); the run is trained K times from the
//! same start, each time with one fold held out as its validation rows,
//! and each fold is scored by the MSE and R² of its held-out rows.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::config::{Fold, GridPlace, RunOptions, TrainConfig};
use super::grid;
use super::report::{self, Finished};
use super::train::{self, Shared};
use super::validation::Validation;
use crate::cli::{Keep, TrainArgs};
use crate::importance::mean_and_sd;
use crate::train::StopReason;
use crate::units;
use crate::{data, io};

/// One fold's run, as the table and `--json` report it.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct FoldScore {
    /// From 1.
    pub fold: usize,
    pub train_rows: usize,
    pub held_out_rows: usize,
    /// Updates run.
    pub epochs: usize,
    /// Why the run stopped, as train's `--json` says it.
    pub stop: &'static str,
    /// The training loss after the last update, in the loss's units
    /// (standardised ones with `--standardize`).
    pub loss: f64,
    /// The held-out rows' MSE, in the target's units squared whether or
    /// not the run was standardised (its transform's, with
    /// `--target-transform`): of the last parameters, or with
    /// `--keep best-val` of those with the lowest validation loss.
    pub val_mse: f64,
    /// 1 − val_mse / the held-out targets' variance (null where they are
    /// all equal).
    pub val_r2: Option<f64>,
    /// `--keep best-val`: the epoch whose parameters were scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_epoch: Option<usize>,
    /// A diverged run: the epoch whose loss was not finite. Its scores
    /// are those of the last good parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged_at: Option<usize>,
    /// `--lr auto`: the rate the fold trained at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// The weight decay the fold chose for its few rows by its own
    /// search (`train`'s `decay_search`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Seconds of training (the range test's and the weight decay's
    /// search included).
    pub wall_s: f64,
    /// Whether the fold's training loss ended above its first.
    #[serde(skip)]
    pub ended_above_start: bool,
    /// Whether the training loss of the parameters scored (`--keep`'s,
    /// where it keeps others than the last) is above the first.
    #[serde(skip)]
    pub scored_above_start: bool,
}

impl FoldScore {
    /// The score of the run `done` of fold `config.run.fold`, which
    /// trained on `rows.0` rows and held out `rows.1`.
    pub(super) fn of(config: &TrainConfig, done: &Finished, rows: (usize, usize)) -> FoldScore {
        let fold = config.run.fold.expect("a fold's run");
        let out = &done.outcome;
        let (val_loss, val_r2, kept_epoch) = match (config.run.keep, &done.kept) {
            (Keep::BestVal, Some(k)) => (k.val_loss, k.val_r2, Some(k.epoch)),
            _ => (
                done.validation.as_ref().and_then(Validation::latest),
                done.r2.1,
                None,
            ),
        };
        // The loss of a standardised run is in units of the target's
        // standard deviation (of the fold's training rows), squared.
        let scale = (done.model.standardization.as_ref()).map_or(1.0, |s| s.target_std.powi(2));
        let range_test = config.lr_found.as_ref().map_or(0.0, |f| f.wall_s);
        let search = config.decay_found.as_ref();
        FoldScore {
            fold: fold.index + 1,
            train_rows: rows.0,
            held_out_rows: rows.1,
            epochs: out.updates,
            stop: report::stop_key(out.reason),
            loss: *out.losses.last().expect("at least one loss"),
            val_mse: val_loss.map_or(f64::NAN, |l| l * scale),
            val_r2,
            kept_epoch,
            diverged_at: match out.reason {
                StopReason::Diverged { epoch, .. } => Some(epoch),
                _ => None,
            },
            lr: config.lr_found.as_ref().map(|_| config.run.optimizer.lr()),
            weight_decay: search.map(|f| f.chosen),
            wall_s: range_test + search.map_or(0.0, |f| f.wall_s) + out.elapsed.as_secs_f64(),
            ended_above_start: out.ended_above_start(),
            scored_above_start: {
                let scored = match (config.run.keep, &done.kept) {
                    (Keep::Last, _) | (_, None) => out.losses.last(),
                    (_, Some(k)) => out.losses.get(k.epoch),
                };
                scored.is_some_and(|&l| l > out.losses[0])
            },
        }
    }
}

/// A mean and a standard deviation over the folds (the population one,
/// as scikit-learn's `cross_val_score(...).std()`).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(super) struct Spread {
    pub mean: f64,
    pub sd: f64,
}

impl Spread {
    /// `None` where a value is missing or not finite.
    pub(super) fn of(values: impl Iterator<Item = Option<f64>>) -> Option<Spread> {
        let values: Option<Vec<f64>> = values.map(|v| v.filter(|v| v.is_finite())).collect();
        let (mean, sd) = mean_and_sd(&values?);
        Some(Spread { mean, sd })
    }
}

/// Every row's prediction by the fold that held it out, scored together
/// over the rows read, in the target's units: what scikit-learn's
/// `cross_val_predict` then scores. Leave-one-out, whose folds have no R²
/// of their own, has one so. Its squared errors are the folds' own:
/// each fold's held-out MSE times its rows.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(super) struct OutOfFold {
    pub mse: f64,
    /// None where the targets are all equal.
    pub r2: Option<f64>,
    /// With `--target-transform`, R² of the folds' predictions
    /// transformed back against the targets in their own units, as
    /// `--fold-predictions` writes them; none otherwise, or where the
    /// targets are all equal.
    pub untransformed_r2: Option<f64>,
}

impl OutOfFold {
    /// Of the `count` folds' `scores`, over the rows read into `shared`;
    /// none until every fold has its score.
    pub(super) fn of(shared: &Shared, scores: &[FoldScore], count: usize) -> Option<OutOfFold> {
        let y = shared.targets()?;
        let rows: usize = scores.iter().map(|s| s.held_out_rows).sum();
        if scores.len() != count || rows == 0 {
            return None;
        }
        debug_assert_eq!(rows, y.len(), "the folds hold out every row once");
        let squares: f64 = (scores.iter())
            .map(|s| s.val_mse * s.held_out_rows as f64)
            .sum();
        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / y.len() as f64;
        let total: f64 = y.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum();
        Some(OutOfFold {
            mse: squares / rows as f64,
            r2: (total > 0.0).then(|| 1.0 - squares / total),
            untransformed_r2: untransformed_r2(shared, count, y),
        })
    }
}

/// [`OutOfFold::untransformed_r2`], of the rows read into `shared`, whose
/// targets (transformed) are `y`, from the predictions of its `count`
/// folds.
fn untransformed_r2(shared: &Shared, count: usize, y: &[f32]) -> Option<f64> {
    let t = shared.transform;
    let seed = shared.ran.as_ref()?.run.seed;
    if t.is_none() || shared.predictions.len() != count {
        return None;
    }
    let mut own: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    t.invert(&mut own);
    // Each row's prediction by the fold that held it out, in row order.
    let mut predicted = vec![f64::NAN; y.len()];
    for (index, fold) in shared.predictions.iter().enumerate() {
        let held = data::fold_rows(index, count, y.len(), seed);
        for (n, &p) in held.into_iter().zip(fold) {
            predicted[n] = p;
        }
    }
    data::r2_between(&own, &predicted)
}

/// The `train --folds --json` record; its schema is in the README.
#[derive(serde::Serialize)]
struct Record<'a> {
    version: &'static str,
    folds: usize,
    /// The data line of the rows read, before the folds held rows out.
    data: &'a str,
    /// The run's options, as train's `--json` gives them.
    options: &'a RunOptions,
    per_fold: &'a [FoldScore],
    /// Over the folds (a diverged one's last good parameters included);
    /// null where a fold has none (`val_r2` of a constant held-out target).
    val_mse: Option<Spread>,
    val_r2: Option<Spread>,
    out_of_fold: Option<OutOfFold>,
}

/// `train --folds K`: each fold in turn, then the table, `--json`, and
/// an error if a fold diverged; with `--grid`, [`grid::search`].
pub(super) fn cross_validate(args: &TrainArgs) -> Result<ExitCode> {
    let count = args.folds.expect("--folds");
    if !args.grid.is_empty() {
        return grid::search(args, count);
    }
    let mut shared = Shared::default();
    // The options and the outputs' paths, checked before any fold.
    let (config, _) = TrainConfig::resolve(args)?;
    let folded = run_folds(args, count, &mut shared, true, None)?;
    // As the folds trained it (adam in mini-batches for many rows).
    let config = shared.ran.clone().unwrap_or(config);
    if let Folded::Interrupted { index, status } = folded {
        let done = table(
            &config.run,
            (shared.described().unwrap_or(""), shared.transformed()),
            &shared.scores,
            None,
        );
        crate::say_lines!(
            "interrupted during fold {} of {count}; nothing was written{}",
            index + 1,
            match shared.scores.is_empty() {
                true => String::new(),
                false => format!(". The folds done:\n{}", done.trim_end()),
            }
        );
        return Ok(status);
    }
    let scores = &shared.scores;
    let data = shared.described().unwrap_or("");
    let pooled = OutOfFold::of(&shared, scores, count);
    let text = table(&config.run, (data, shared.transformed()), scores, pooled);
    super::report(&text, outputs(args))?;
    let record = Record {
        version: env!("CARGO_PKG_VERSION"),
        folds: count,
        data,
        options: &config.run,
        per_fold: scores,
        val_mse: Spread::of(scores.iter().map(|s| Some(s.val_mse))),
        val_r2: Spread::of(scores.iter().map(|s| s.val_r2)),
        out_of_fold: pooled,
    };
    write_files(args, &record, &shared, &shared.predictions)?;
    let rose: Vec<String> = (scores.iter())
        .filter(|s| s.ended_above_start && s.diverged_at.is_none())
        .map(|s| s.fold.to_string())
        .collect();
    if !rose.is_empty() {
        let folds = match rose.len() {
            1 => "fold",
            _ => "folds",
        };
        crate::say!(
            "warning: the training loss of {folds} {} ended above where it started; {}",
            rose.join(", "),
            super::ending::rising_remedy(&config, "the folds")
        );
    }
    let diverged: Vec<String> = scores
        .iter()
        .filter_map(|s| {
            s.diverged_at
                .map(|e| format!("fold {} at epoch {e}", s.fold))
        })
        .collect();
    if !diverged.is_empty() {
        let its = if diverged.len() == 1 { "its" } else { "their" };
        bail!(
            "{} diverged ({its} scores are those of {its} last good parameters, and count in the mean): {}",
            diverged.join(", "),
            super::ending::rising_remedy(&config, "the folds")
        );
    }
    match args.save {
        Some(_) => train_on_every_row(args, &mut shared, None),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `--folds --save`: the run `args` (with `--grid`, its best options,
/// `flags`) trained once more, on every row read into `shared`, and
/// saved; it ends as a plain run does.
pub(super) fn train_on_every_row(
    args: &TrainArgs,
    shared: &mut Shared,
    flags: Option<&str>,
) -> Result<ExitCode> {
    shared.every_row_flags = flags.unwrap_or_default().to_string();
    if !args.quiet {
        let flags = flags.map_or(String::new(), |f| format!(" with {f}"));
        crate::say!("training on every row{flags} for --save");
    }
    train::train_on_every_row(args, shared)
}

/// How the folds of one cross-validation ended.
pub(super) enum Folded {
    /// Every fold has its score in the shared scores.
    Done,
    /// A signal stopped fold `index` (from 0): the status to exit with.
    Interrupted { index: usize, status: ExitCode },
}

/// The `count` folds of the run `args`, each scored into `shared`
/// (whose scores and predictions are cleared first); a line said as
/// each ends where `lines` asks for it (and not under `--quiet`).
/// `combination`: of `--grid`'s, the one these folds score.
pub(super) fn run_folds(
    args: &TrainArgs,
    count: usize,
    shared: &mut Shared,
    lines: bool,
    combination: Option<GridPlace>,
) -> Result<Folded> {
    shared.scores.clear();
    shared.predictions.clear();
    for index in 0..count {
        let fold = Fold {
            index,
            count,
            combination,
        };
        let status = train::train_fold(args, fold, shared)?;
        // A fold stopped by a signal has no score. One that came after a
        // fold's last epoch stops the next fold at its first check.
        match shared.scores.get(index) {
            Some(score) if lines && !args.quiet => crate::say!("{}", fold_line(score, count)),
            Some(_) => {}
            None => return Ok(Folded::Interrupted { index, status }),
        }
    }
    Ok(Folded::Done)
}

/// The command's outputs that may be standard output: its report then
/// goes to standard error.
pub(super) fn outputs(args: &TrainArgs) -> impl Iterator<Item = &Path> {
    [&args.json, &args.fold_predictions, &args.save]
        .into_iter()
        .filter_map(|p| p.as_deref())
}

/// Writes `--json`'s `record` and `--fold-predictions`' `predictions`
/// (each fold's, of the rows read into `shared`), where asked for: each
/// is tried whether or not the other could be written.
pub(super) fn write_files(
    args: &TrainArgs,
    record: &impl serde::Serialize,
    shared: &Shared,
    predictions: &[Vec<f64>],
) -> Result<()> {
    let mut written = super::Outputs::new(false);
    if let Some(path) = &args.json {
        written.note("--json", super::write_json(path, record))?;
    }
    if let Some(path) = &args.fold_predictions {
        let count = args.folds.expect("--folds");
        let text = out_of_fold(shared, predictions, count, args.seed);
        let csv = io::write_atomically(path, |w| w.write_all(text.as_bytes()));
        written.note("--fold-predictions", csv.map_err(Into::into))?;
    }
    written.check("the table was printed")
}

/// `--fold-predictions`' CSV: for each of the file's rows, in file order,
/// the fold that held it out and that fold's prediction of it
/// (`predictions`, each fold's, in its held-out rows' order), or two empty
/// cells for a row `--missing` left out, so that line k + 1 is the file's
/// row k.
fn out_of_fold(shared: &Shared, predictions: &[Vec<f64>], count: usize, seed: u64) -> String {
    let (rows, target) = shared.rows().expect("the rows were read");
    let mut by_row: Vec<Option<(usize, f64)>> = vec![None; rows];
    for (index, predicted) in predictions.iter().enumerate() {
        let held = data::fold_rows(index, count, rows, seed);
        for (n, &v) in held.into_iter().zip(predicted) {
            by_row[n] = Some((index + 1, v));
        }
    }
    let pred = format!("{target}_pred");
    let mut text = io::csv_line(["fold", pred.as_str()]);
    let mut left_out = shared.left_out().iter().copied().peekable();
    let mut file_row = 0;
    for (fold, v) in by_row
        .into_iter()
        .map(|p| p.expect("every row is in a fold"))
    {
        while left_out.next_if_eq(&file_row).is_some() {
            text += ",\n";
            file_row += 1;
        }
        text += &format!("{fold},{}\n", io::csv_number(v));
        file_row += 1;
    }
    for _ in left_out {
        text += ",\n";
    }
    text
}

/// An R² to four places, or with an exponent where it is far from 1 (a
/// diverged fold's).
pub(super) fn r2_text(r: f64) -> String {
    match r.abs() < 1e4 {
        true => format!("{r:.4}"),
        false => format!("{r:.4e}"),
    }
}

/// The line said as fold `score` of `count` ends.
fn fold_line(score: &FoldScore, count: usize) -> String {
    let r2 = score
        .val_r2
        .map_or(String::new(), |r| format!(", r² {}", r2_text(r)));
    let lr = (score.lr).map_or(String::new(), |lr| {
        format!(" at lr {}", crate::optim::short(lr))
    });
    let decay = (score.weight_decay).map_or(String::new(), |d| {
        format!(" with weight decay {}", crate::optim::short(d))
    });
    format!(
        "fold {} of {count}: {}{lr}{decay} ({}), held-out mse {:.4e}{r2} ({} s)",
        score.fold,
        units::count(score.epochs, "epoch"),
        score.stop,
        score.val_mse,
        units::decimals(score.wall_s, 2)
    )
}

/// The folds' table: one line per fold, then the mean and the standard
/// deviation of the held-out scores, and the scores of every row's
/// prediction by the fold that held it out (`pooled`).
/// `transformed`: what the held-out scores are of, with a transform of
/// the target ([`Shared::transformed`]).
fn table(
    run: &RunOptions,
    (data, transformed): (&str, Option<String>),
    scores: &[FoldScore],
    pooled: Option<OutOfFold>,
) -> String {
    let count = run.fold.map_or(scores.len(), |f| f.count);
    let kept = run.keep == Keep::BestVal;
    // One line whatever the file's name holds.
    let data = crate::units::one_line(data);
    let text = format!(
        "{count}-fold cross-validation (--seed {}): {data}\neach fold trained from the same start on the other folds' rows and scored on its own{}{}\n",
        run.seed,
        match kept {
            true => ", by the parameters with its lowest held-out loss (--keep best-val)",
            false => "",
        },
        match (run.standardize, transformed) {
            (true, None) => "; the train loss in standardized units, the held-out mse in the target's units".to_string(),
            (true, Some(t)) => format!("; the train loss in standardized units, the held-out mse in {t}'s units and r² of it"),
            (false, None) => String::new(),
            (false, Some(t)) => format!("; the train loss and the held-out mse in {t}'s units and r² of it"),
        }
    );
    let mut rows = vec![[
        "fold",
        "train",
        "held out",
        "epochs",
        "stop",
        "train loss",
        "held-out mse",
        "r²",
    ]
    .map(String::from)];
    for s in scores {
        let epochs = match s.kept_epoch {
            Some(k) => format!("{k} of {}", s.epochs),
            None => s.epochs.to_string(),
        };
        rows.push([
            s.fold.to_string(),
            s.train_rows.to_string(),
            s.held_out_rows.to_string(),
            epochs,
            s.stop.to_string(),
            format!("{:.4e}", s.loss),
            format!("{:.4e}", s.val_mse),
            s.val_r2.map_or("-".into(), r2_text),
        ]);
    }
    let mse = Spread::of(scores.iter().map(|s| Some(s.val_mse)));
    let r2 = Spread::of(scores.iter().map(|s| s.val_r2));
    if scores.len() > 1 {
        let blank = String::new;
        let mse_text = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4e}"));
        let r2_of = |v: Option<f64>| v.map_or("-".into(), r2_text);
        let mean: fn(Spread) -> f64 = |s| s.mean;
        for (name, of) in [("mean", mean), ("sd", |s| s.sd)] {
            let (m, r) = (mse_text(mse.map(of)), r2_of(r2.map(of)));
            rows.push([
                name.into(),
                blank(),
                blank(),
                blank(),
                blank(),
                blank(),
                m,
                r,
            ]);
        }
    }
    let mut notes = String::new();
    if let Some(p) = pooled {
        let held_out: usize = scores.iter().map(|s| s.held_out_rows).sum();
        let mut row = vec![String::new(); 8];
        row[0] = "all rows".into();
        row[2] = held_out.to_string();
        row[6] = format!("{:.4e}", p.mse);
        row[7] = p.r2.map_or("-".into(), r2_text);
        rows.push(row.try_into().expect("8 cells"));
        notes =
            "all rows: each row predicted by the fold that held it out, scored together\n".into();
        if let Some(r2) = p.untransformed_r2 {
            notes += &format!("in the target's own units (the predictions transformed back, as --fold-predictions writes them), all rows score r² {}\n", r2_text(r2));
        }
    }
    text + &aligned(&rows) + &notes
}

/// `rows` of cells as text, each column as wide as its widest cell, two
/// spaces apart.
pub(super) fn aligned<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = (row.as_ref().iter().zip(&widths))
            .map(|(cell, &w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        text += cells.join("  ").trim_end();
        text.push('\n');
    }
    text
}
