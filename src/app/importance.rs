//! `importance`: each column a saved model reads, ranked by how much the
//! MSE rises when its cells are shuffled among the rows
//! ([`crate::importance`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::predict::{fill_missing, missing_mode, read_rows};
use crate::cli::{Gaps, ImportanceArgs};
use crate::data::{self, r_squared, target_variance, Dataset, TargetColumn};
use crate::importance::{self, Column};
use crate::model::Model;
use crate::{cpu, io, memory, units};

/// The `importance --json` record; its schema is in the README.
#[derive(Debug, serde::Serialize)]
struct Record {
    model: PathBuf,
    data: PathBuf,
    target: String,
    /// The rows scored: those of the file with every cell, or with
    /// `--rows` a sample of them.
    rows: usize,
    repeats: u32,
    seed: u64,
    /// The unshuffled rows' MSE, in the target's units squared, and R²
    /// (null for a constant target).
    mse: f64,
    r2: Option<f64>,
    /// Rows left out for a missing cell (`--missing drop`, or a missing
    /// target with `fill`).
    dropped_rows: usize,
    /// Missing feature cells given the model's training means or medians.
    filled_cells: usize,
    /// Every column the model reads, by its mean MSE rise, the greatest
    /// first.
    columns: Vec<ColumnRecord>,
}

#[derive(Debug, serde::Serialize)]
struct ColumnRecord {
    column: String,
    /// The model's features it makes: itself, or a one-hot encoded
    /// column's levels' (`city=Paris`).
    features: Vec<String>,
    /// The mean rise of the MSE over the shuffles, and its standard
    /// deviation (of the rises themselves, as scikit-learn's).
    mse_rise: f64,
    mse_rise_sd: f64,
    /// The mean fall of R², mse_rise over the target's variance; null for
    /// a constant target.
    r2_fall: Option<f64>,
    /// The rise in each shuffle, in order.
    mse_rises: Vec<f64>,
    /// Whether the column is one-hot encoded: the table counts its levels.
    #[serde(skip)]
    categorical: bool,
}

pub(super) fn importance_command(args: &ImportanceArgs) -> Result<()> {
    let outputs: Vec<(&str, &Path)> = args.json.iter().map(|p| ("--json", p.as_path())).collect();
    for (flag, path) in &outputs {
        io::check_output(flag, path)?;
    }
    let inputs = [
        ("--model", args.model.as_path()),
        ("--data", args.data.as_path()),
    ];
    io::check_distinct(&outputs, &inputs, &[])?;
    let model = io::load_model(&args.model)?;
    let drop_it = "--missing drop leaves the row out";
    let missing = missing_mode(
        args.missing,
        [Gaps::Error, Gaps::Fill],
        (&model, &args.model),
        drop_it,
    )?;
    let gaps = missing != Gaps::Error;
    let (mut data, target, _) = read_rows(&args.data, &[], &model, gaps, drop_it)?;
    check_target(&model, &args.data, target, missing)?;
    let filled = match missing {
        Gaps::Fill => fill_missing(&model, &mut data),
        _ => Vec::new(),
    };
    let (mut data, dropped) = complete_rows(data);
    if let Some(n) = args.rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX)) {
        if n < data.rows {
            data = data.sample(n, args.seed);
        }
    }
    check_memory(&model, &data)?;
    let columns = importance::columns(&model);
    let bar = super::progress::bar(
        false,
        args.repeats as usize * columns.len(),
        "{elapsed_precise} [{bar:30}] {pos}/{len} shuffled columns ({rate}, {eta} left)",
    );
    let measured = importance::permutation_importance(
        &model,
        &mut data,
        &columns,
        (args.repeats as usize, args.seed),
        &mut || bar.inc(1),
    );
    bar.finish_and_clear();
    let measured = measured?;
    let variance = target_variance(&data.y);
    let mut records: Vec<ColumnRecord> = (columns.into_iter().zip(measured.rises))
        .map(|(column, rises)| column_record(&model, column, rises, variance))
        .collect();
    records.sort_by(|a, b| b.mse_rise.total_cmp(&a.mse_rise));
    let record = Record {
        model: args.model.clone(),
        data: args.data.clone(),
        target: model.target_name.clone(),
        rows: data.rows,
        repeats: args.repeats,
        seed: args.seed,
        mse: measured.mse,
        r2: r_squared(measured.mse, variance),
        dropped_rows: dropped,
        filled_cells: filled.iter().map(|(_, n)| n).sum(),
        columns: records,
    };
    super::report(&table(&record), outputs.iter().map(|(_, p)| *p))?;
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&record).expect("the record serialises");
        text.push('\n');
        io::write_atomically(path, |w| w.write_all(text.as_bytes()))
            .context("could not write --json; the table was printed")?;
    }
    Ok(())
}

/// That the file has the model's target, with a number in every row
/// where `missing` is error.
fn check_target(model: &Model, path: &Path, target: TargetColumn, missing: Gaps) -> Result<()> {
    let name = data::escaped(&model.target_name);
    match target {
        TargetColumn::Absent => anyhow::bail!(
            "{} has no column '{name}', the model's target: importance scores the predictions against it",
            path.display()
        ),
        TargetColumn::Incomplete { first_row } if missing == Gaps::Error => anyhow::bail!(
            "{}: the target column '{name}' is not a number in data row {}, and importance scores every row against it (--missing drop leaves out the rows with no target value)",
            path.display(),
            first_row + 1
        ),
        _ => Ok(()),
    }
}

/// The rows of `data` with a number in every cell, and how many were
/// left out; a notice counts them.
fn complete_rows(data: Dataset) -> (Dataset, usize) {
    let complete = |n: usize| !data.y[n].is_nan() && !data.row(n).iter().any(|v| v.is_nan());
    let kept: Vec<usize> = (0..data.rows).filter(|&n| complete(n)).collect();
    let dropped = data.rows - kept.len();
    if dropped == 0 {
        return (data, 0);
    }
    let untargeted = (0..data.rows).filter(|&n| data.y[n].is_nan()).count();
    let rows = units::count(data.rows, "row");
    let why = match (untargeted, dropped - untargeted) {
        (0, _) => "a missing feature".to_string(),
        (_, 0) => "no target value".to_string(),
        (t, f) => format!("no target value ({t}) or a missing feature ({f})"),
    };
    super::notice(false, &format!("left out {dropped} of {rows} with {why}"));
    let mut out = data.empty_like();
    data.gather_into(&kept, &mut out, cpu::cores());
    (out, dropped)
}

/// That the memory a shuffle's predictions take is there.
fn check_memory(model: &Model, data: &Dataset) -> Result<()> {
    let layout = &model.layout;
    // The reference's own, the copy of the rows the threads share out, and
    // the cells of the column shuffled.
    let rows_copy = memory::product(&[data.rows, layout.features() + 1, 4]);
    let column = memory::product(&[data.rows, layout.features(), 4]);
    memory::check(
        memory::sum(&[
            cpu::reference::predict_bytes(model, data.rows),
            rows_copy,
            column,
        ]),
        || {
            format!(
                "shuffling and predicting {} with a {} → {} → 1 network",
                units::count(data.rows, "row"),
                layout.features(),
                layout.hidden_spec(),
            )
        },
        "give --rows a sample of the file's rows",
    )?;
    Ok(())
}

fn column_record(model: &Model, column: Column, rises: Vec<f64>, variance: f64) -> ColumnRecord {
    let (mean, sd) = importance::mean_and_sd(&rises);
    let features = (column.features.iter())
        .map(|&j| model.feature_names[j].clone())
        .collect();
    ColumnRecord {
        column: column.name,
        features,
        mse_rise: mean,
        mse_rise_sd: sd,
        r2_fall: (variance > 0.0).then(|| mean / variance),
        mse_rises: rises,
        categorical: column.categorical,
    }
}

/// The table `importance` prints: a line on the scores, then a column a
/// line, the greatest rise first.
fn table(record: &Record) -> String {
    let levels = |c: &ColumnRecord| match c.categorical {
        true => format!(" ({})", units::count(c.features.len(), "level")),
        false => String::new(),
    };
    let names: Vec<String> = (record.columns.iter())
        .map(|c| format!("{}{}", data::escaped(&c.column), levels(c)))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let r2 = match record.r2 {
        Some(r2) => format!("r² {}", units::r2(r2)),
        None => "r² undefined (the target is constant)".into(),
    };
    let mut text = String::new();
    outln!(
        text,
        "permutation importance over {}, {} of each column (--seed {}): mse {:.4e} unshuffled, {r2}",
        units::count(record.rows, "row"),
        units::count(record.repeats as usize, "shuffle"),
        record.seed,
        record.mse
    );
    outln!(
        text,
        "{:width$}  {:>11}  {:>9}  r² fall",
        "column",
        "mse rise",
        "± sd"
    );
    for (c, name) in record.columns.iter().zip(&names) {
        let fall = c.r2_fall.map_or("-".into(), |f| format!("{f:.4}"));
        let pad = width + name.len() - name.chars().count();
        outln!(
            text,
            "{name:pad$}  {:>11.4e}  {:>9.2e}  {fall}",
            c.mse_rise,
            c.mse_rise_sd
        );
    }
    text
}
