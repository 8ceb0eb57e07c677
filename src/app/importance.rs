//! `importance`: each column a saved model reads, ranked by how much the
//! MSE rises when its cells are shuffled among the rows
//! ([`crate::importance`]).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::predict::{
    alike_target, fill_missing, missing_mode, read_rows, unseen_mode, unseen_notice,
};
use crate::cli::{Gaps, ImportanceArgs};
use crate::data::{self, r_squared, target_variance, Dataset, Reading, TargetColumn};
use crate::importance::{self, Column};
use crate::model::Model;
use crate::{cpu, io, memory, units};

/// The `importance --json` record; its schema is in the README.
#[derive(Debug, serde::Serialize)]
struct Record {
    /// shadertrain's version.
    version: &'static str,
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
    /// Categorical cells with a level the model was not trained on, read
    /// as `--unseen` said (zeros, or missing ones, which `dropped_rows` or
    /// `filled_cells` then count too).
    unseen_cells: usize,
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
    super::quiet_notices(args.quiet);
    let outputs: Vec<(&str, &Path)> = args.json.iter().map(|p| ("--json", p.as_path())).collect();
    for (flag, path) in &outputs {
        io::check_output(flag, path)?;
    }
    let inputs = [
        ("--model", args.model.as_path()),
        ("--data", args.data.as_path()),
    ];
    io::check_distinct(&super::and_the_report(&outputs), &inputs, &[])?;
    for (flag, path) in &outputs {
        io::check_format(flag, path)?;
    }
    let model = io::load_model(&args.model)?;
    super::checkpoint_notice(&args.model, "this ranking is");
    let drop_it = "--missing drop leaves the row out";
    let missing = missing_mode(
        args.missing,
        [Gaps::Error, Gaps::Fill],
        (&model, &args.model),
        drop_it,
    )?;
    let Scored {
        mut data,
        dropped,
        filled,
        unseen,
    } = scored_rows(args, &model, missing, drop_it)?;
    // Of every row scored, before --rows samples them; numbered where
    // they are the file's rows, in order.
    super::predict::warn_far(&model, &data, dropped == 0);
    if let Some(n) = args.rows {
        if n < data.rows {
            data = data.sample(n, args.seed);
        }
    }
    check_memory(&model, &data)?;
    let yhat = cpu::reference::predict_on_cores(&model, &data)?;
    if let Some((count, _, why)) =
        super::predict::not_finite(&model, &yhat, &vec![false; data.rows])
    {
        crate::say!("warning: the predictions of {} are past f64's range (inf, or 0 for a model of log y), and the scores measure them so: {why}", units::count(count, "row"));
    }
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
        version: env!("CARGO_PKG_VERSION"),
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
        unseen_cells: unseen,
        columns: records,
    };
    // A table that cannot be printed (standard output on a full disk, or
    // closed) fails the command after --json is written.
    let reported = super::report(&table(&record), outputs.iter().map(|(_, p)| *p));
    if let Some(path) = &args.json {
        let printed = if reported.is_ok() {
            "; the table was printed"
        } else {
            ""
        };
        super::write_json(path, &record)
            .with_context(|| format!("could not write --json{printed}"))?;
    }
    reported
}

/// The rows of `--data` to score, and what was done to make them whole.
struct Scored {
    data: Dataset,
    /// Rows left out for a missing cell.
    dropped: usize,
    /// Cells filled, by the file's column.
    filled: Vec<(String, usize)>,
    /// Categorical cells with a level the model lacks.
    unseen: usize,
}

/// The rows of `--data` to score: those with a target value and, after
/// `fill`, every feature. A notice counts the cells filled and the rows
/// left out.
fn scored_rows(
    args: &ImportanceArgs,
    model: &Model,
    missing: Gaps,
    instead: &str,
) -> Result<Scored> {
    let gaps = missing != Gaps::Error;
    let unseen = unseen_mode(args.unseen, (model, &args.model), gaps, instead)?;
    let reading = Reading {
        dates: &model.dates,
        gaps,
        scored: true,
        unseen,
        format: crate::data::CsvFormat::new(args.delimiter, args.decimal_comma)?,
    };
    let (rows, _) = read_rows(&args.data, &[], model, reading, instead)?;
    let (data, target) = (rows.data, rows.target);
    let unseen = unseen_notice(&rows.unseen, data.rows, unseen);
    if target == TargetColumn::Absent {
        let near = (rows.target_near.as_deref()).map_or(String::new(), |n| {
            format!("; {}", alike_target(n, &model.target_name))
        });
        anyhow::bail!(
            "{} has no column '{}', the model's target: importance scores the predictions against it{near}",
            args.data.display(),
            data::escaped(&model.target_name)
        );
    }
    if let Some(warning) = data.target_resolution_warning(data::Column::Scored) {
        crate::say!("warning: {warning}");
    }
    let read = data.rows;
    // Rows with no target value go first, so that the cells filled are
    // those of rows scored.
    let (mut data, untargeted) = rows_where(data, |d, n| !d.y[n].is_nan());
    let filled = match missing {
        Gaps::Fill => fill_missing(model, &mut data),
        _ => Vec::new(),
    };
    let (data, gapped) = rows_where(data, |d, n| !d.row(n).iter().any(|v| v.is_nan()));
    let dropped = untargeted + gapped;
    let rows = units::count(read, "row");
    if dropped > 0 {
        let why = match (untargeted, gapped) {
            (_, 0) => "no target value".to_string(),
            (0, _) => "a missing feature".to_string(),
            (t, f) => format!("no target value ({t}) or a missing feature ({f})"),
        };
        super::notice(false, &format!("left out {dropped} of {rows} with {why}"));
    }
    if data.rows < 2 {
        let has = match (dropped, data.rows) {
            (0, _) => format!("the file has {}", data.rows),
            (_, 1) => format!("1 of its {rows} has every cell"),
            (_, n) => format!("{n} of its {rows} have every cell"),
        };
        anyhow::bail!(
            "{}: importance shuffles the rows, so it needs at least 2; {has}",
            args.data.display()
        );
    }
    Ok(Scored {
        data,
        dropped,
        filled,
        unseen,
    })
}

/// The rows `n` of `data` for which `keep(data, n)`, and how many were
/// not.
fn rows_where(data: Dataset, keep: impl Fn(&Dataset, usize) -> bool) -> (Dataset, usize) {
    let kept: Vec<usize> = (0..data.rows).filter(|&n| keep(&data, n)).collect();
    if kept.len() == data.rows {
        return (data, 0);
    }
    let mut out = data.empty_like();
    data.gather_into(&kept, &mut out, cpu::cores());
    (out, data.rows - kept.len())
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
        // A diverged model's falls are huge: with an exponent there.
        let fall = c.r2_fall.map_or("-".into(), super::folds::r2_text);
        // One shuffle has no spread to show.
        let sd = match record.repeats {
            1 => "-".into(),
            _ => format!("{:.2e}", c.mse_rise_sd),
        };
        // `width$` pads to a count of chars, as `width` counts them.
        outln!(
            text,
            "{name:width$}  {:>11.4e}  {sd:>9}  {fall}",
            c.mse_rise
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Layout};

    /// A column's record: its features by name, the rises' mean and
    /// NumPy's sd, and R²'s fall, the mean rise over the target's variance
    /// (none for a constant target).
    #[test]
    fn a_column_s_record_is_its_rises_mean_sd_and_r2_fall() {
        let layout = Layout::new(2, &[3]).unwrap();
        let names = vec!["a".to_string(), "b".to_string()];
        let model = Model::init(layout, Activation::Tanh, 1, names, "y".into());
        let b = Column {
            name: "b".into(),
            features: vec![1],
            categorical: false,
        };
        let c = column_record(&model, b.clone(), vec![1.0, 3.0], 4.0);
        assert_eq!(
            (c.column.as_str(), &c.features[..]),
            ("b", &["b".to_string()][..])
        );
        assert_eq!(
            (c.mse_rise, c.mse_rise_sd, c.r2_fall),
            (2.0, 1.0, Some(0.5))
        );
        assert_eq!(c.mse_rises, [1.0, 3.0]);
        let constant = column_record(&model, b, vec![1.0, 3.0], 0.0);
        assert_eq!(constant.r2_fall, None);
    }

    /// The table's first line counts the rows and the shuffles; a column's
    /// line gives its rise, the sd (`-` for one shuffle, which has no
    /// spread) and R²'s fall (`-` for a constant target), the names padded
    /// to the widest in chars ('naïve_x1', 8 chars in 9 bytes).
    #[test]
    fn the_table_counts_the_shuffles_and_shows_no_spread_for_one() {
        let column = |name: &str, rises: Vec<f64>, sd: f64| ColumnRecord {
            column: name.into(),
            features: vec![name.into()],
            mse_rise: rises.iter().sum::<f64>() / rises.len() as f64,
            mse_rise_sd: sd,
            r2_fall: None,
            mse_rises: rises,
            categorical: false,
        };
        let mut record = Record {
            version: env!("CARGO_PKG_VERSION"),
            model: "m.st".into(),
            data: "d.csv".into(),
            target: "y".into(),
            rows: 3,
            repeats: 1,
            seed: 4,
            mse: 0.5,
            r2: None,
            dropped_rows: 0,
            filled_cells: 0,
            unseen_cells: 0,
            columns: vec![
                column("naïve_x1", vec![0.25], 0.0),
                column("b", vec![0.125], 0.0),
            ],
        };
        let cells = |text: &str| -> Vec<Vec<String>> {
            let lines = text.lines().skip(2);
            lines
                .map(|l| l.split_whitespace().map(String::from).collect())
                .collect()
        };
        let text = table(&record);
        assert!(
            text.starts_with("permutation importance over 3 rows, 1 shuffle of each column (--seed 4): mse 5.0000e-1 unshuffled, r² undefined (the target is constant)\n"),
            "{text}"
        );
        assert_eq!(
            cells(&text),
            [
                ["naïve_x1", "2.5000e-1", "-", "-"],
                ["b", "1.2500e-1", "-", "-"]
            ],
            "{text}"
        );
        for line in text.lines().skip(1) {
            // The name's 8 chars, 2 spaces, then the rise's 11, right-aligned.
            let chars: Vec<char> = line.chars().collect();
            assert!(
                chars[8..10] == [' ', ' '] && chars[20] != ' ' && chars[21] == ' ',
                "{text}"
            );
        }
        record.repeats = 2;
        record.columns = vec![column("a", vec![0.25, 0.75], 0.25)];
        record.columns[0].r2_fall = Some(0.125);
        let text = table(&record);
        assert!(text.contains(" 2 shuffles of each column "), "{text}");
        assert_eq!(
            cells(&text),
            [["a", "5.0000e-1", "2.50e-1", "0.1250"]],
            "{text}"
        );
        record.columns[0].r2_fall = Some(6.446993737e39);
        let text = table(&record);
        assert_eq!(cells(&text)[0][3], "6.4470e39", "{text}");
    }
}
