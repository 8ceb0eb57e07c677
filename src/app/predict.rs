//! `predict`: a saved model's predictions for a CSV file's rows.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::cells::{self, Said};
use crate::cli::{Blanks, PredictArgs};
use crate::cpu;
use crate::data::{
    self, r_squared, target_variance, Dataset, ModelRows, Reading, TargetColumn, TargetTransform,
    Unseen, UnseenLevels,
};
use crate::model::Model;
use crate::{io, memory, units};

/// The `predict --json` record; its schema is in the README.
#[derive(Debug, serde::Serialize)]
struct Scores {
    /// shadertrain's version.
    version: &'static str,
    model: PathBuf,
    data: PathBuf,
    /// How `data` writes its cells, to find a cell a notice names.
    #[serde(skip)]
    format: data::CsvFormat,
    rows: usize,
    target: String,
    /// The errors of the predictions against the target column, in the
    /// target's units; null where the file has no target column.
    mse: Option<f64>,
    rmse: Option<f64>,
    mae: Option<f64>,
    /// 1 − MSE / the target's variance over these rows; null without a
    /// target column or for a constant target.
    r2: Option<f64>,
    /// Rows with a missing feature (`--missing blank`): their predictions
    /// are empty, and the scores leave them out.
    blank_rows: usize,
    /// Missing feature cells given the model's training means or medians
    /// (`--missing fill`).
    filled_cells: usize,
    /// Categorical cells with a level the model was not trained on, read
    /// as `--unseen` said (zeros, or missing ones, which `blank_rows` or
    /// `filled_cells` then count too).
    unseen_cells: usize,
    /// Rows the scores are over: those with a target value and, with
    /// `--missing blank`, every feature; 0 where nothing was scored.
    scored_rows: usize,
    /// Rows with a feature far outside the range of the model's training
    /// rows (past it by more than a quarter of its width), where its
    /// predictions extrapolate; null for a model that keeps no ranges
    /// ([`Model::ranges`]).
    far_rows: Option<usize>,
}

/// The kept columns' cells (a line's start for each row) and names, with
/// `--keep`.
pub(super) type KeptCells = Option<(Vec<String>, Vec<String>)>;

/// The `--missing` of a command that reads `model` (from `path`): as
/// `given`, else `fill` where the model keeps training means or medians
/// and `error` where it keeps none. `fill` for a model without them is an
/// error that offers `instead`, the command's other way past a missing
/// cell.
pub(super) fn missing_mode<M: Copy + PartialEq>(
    given: Option<M>,
    [error, fill]: [M; 2],
    (model, path): (&Model, &Path),
    instead: &str,
) -> Result<M> {
    match (given, &model.imputation) {
        (Some(m), None) if m == fill => anyhow::bail!(
            "--missing fill needs a model trained with train --missing mean or median, which keeps each feature's training mean or median; {} keeps none ({instead})",
            path.display()
        ),
        (Some(m), _) => Ok(m),
        (None, Some(_)) => Ok(fill),
        (None, None) => Ok(error),
    }
}

/// The `--unseen` of a command that reads `model` (from `path`), whose
/// `--missing` takes a missing cell where `gaps`: as `given`, else
/// `error`. `missing` without gaps is an error that offers `instead`, the
/// command's way past a missing cell; given for a model that one-hot
/// encodes no column, a notice says it is unused.
pub(super) fn unseen_mode(
    given: Option<Unseen>,
    (model, path): (&Model, &Path),
    gaps: bool,
    instead: &str,
) -> Result<Unseen> {
    let Some(unseen) = given else {
        return Ok(Unseen::Error);
    };
    if model.categories.is_empty() {
        super::notice(
            false,
            &format!(
                "--unseen is unused: {} one-hot encodes no column (train --categorical)",
                path.display()
            ),
        );
    } else if unseen == Unseen::Missing && !gaps {
        anyhow::bail!(
            "--unseen missing reads a level the model was not trained on as a missing cell, which --missing error stops at: {instead}"
        );
    }
    Ok(unseen)
}

/// A notice for each column of `unseen` (cells with a level the model
/// lacks, among `rows`), saying how `how` read them; their count.
pub(super) fn unseen_notice(unseen: &[UnseenLevels], rows: usize, how: Unseen) -> usize {
    let read_as = match how {
        Unseen::Zeros => "read as none of its levels (--unseen zeros)",
        _ => "read as missing cells (--unseen missing)",
    };
    for u in unseen {
        super::notice(
            false,
            &format!(
                "'{}' holds a level the model was not trained on in {} of {} (the first '{}', line {}): {read_as}",
                data::escaped(&u.column),
                u.cells,
                units::count(rows, "row"),
                data::shown_cell(&u.first),
                u.line
            ),
        );
    }
    unseen.iter().map(|u| u.cells).sum()
}

/// The rows of the CSV file `path` that `model` reads, their target column
/// and the cells of its columns `keep` (none where `keep` is empty), read
/// as `reading` says; an error at a missing cell offers `instead` (the
/// command's way past it), and `--missing fill` where the model keeps
/// means.
pub(super) fn read_rows(
    path: &Path,
    keep: &[String],
    model: &Model,
    reading: Reading<'_>,
    instead: &str,
) -> Result<(ModelRows, KeptCells)> {
    let (features, target_name) = (&model.feature_names, &model.target_name);
    let categories = &model.categories;
    let read = match keep.is_empty() {
        true => data::read_for_model(path, features, target_name, reading, categories)
            .map(|rows| (rows, None)),
        false => {
            data::read_for_model_keeping(path, features, target_name, reading, categories, keep)
                .map(|(rows, kept, names)| (rows, Some((kept, names))))
        }
    };
    Ok(read.map_err(|e| match e {
        crate::Error::Csv {
            path,
            line,
            column,
            message,
        } => {
            let hint = read_hint(&message, line, model, &reading, instead);
            crate::Error::Csv {
                path,
                line,
                column,
                message: message + &hint,
            }
        }
        e => e,
    })?)
}

/// predict's way past a missing cell.
const BLANK_EMPTY: &str = "--missing blank leaves the row's prediction empty";
/// What it adds for a model that keeps no means or medians.
const FILLS_TOO: &str = ", and a model trained with --missing mean or median fills the cell";

/// The way out of a CSV error `message` at a cell of a column `model`
/// reads: at a missing cell, `instead` (and `--missing fill` where the
/// model keeps means or medians; at a row of empty cells, deleting them); at a level the model lacks, `--unseen`;
/// at text in a feature's column, that the model was trained on that
/// column, with what the cell says of itself (on `line`, in a file read
/// as `reading` says: [`cells::said`]). Empty for other errors.
fn read_hint(message: &str, line: u64, model: &Model, reading: &Reading, instead: &str) -> String {
    if message.contains(data::UNSEEN_LEVEL) {
        return "; --unseen zeros reads such a cell as none of the model's levels, --unseen missing as a missing cell".into();
    }
    // A row of empty cells is not data: nothing to fill.
    if message.starts_with(data::BLANK_ROW) {
        let instead = instead.strip_suffix(FILLS_TOO).unwrap_or(instead);
        return format!("; delete those rows from the file, or {instead}");
    }
    if data::says_missing(message) {
        return match &model.imputation {
            Some(m) => format!(
                "; --missing fill gives it the training {} the model keeps, and {instead}",
                m.fill().name()
            ),
            None => format!("; {instead}"),
        };
    }
    // A column the model reads as dates (train --date).
    let date = (model.dates.iter())
        .find(|name| message.ends_with(&format!(" (column '{}')", data::escaped(name))));
    if let Some(name) = date {
        let word = units::shell_word(&data::escaped(name));
        return format!(
            "; the model was trained with train --date {word}, so its cells must be dates"
        );
    }
    // Text in a column the model takes: a column trained on by mistake.
    let feature = (model.feature_names.iter())
        .filter(|_| message.contains(" is not a number (column '"))
        .find(|name| message.ends_with(&format!(" (column '{}')", data::escaped(name))));
    let said = (cells::quoted(message).zip(feature))
        .and_then(|(cell, name)| cells::said(cell, name, line, reading.format));
    match (feature, said) {
        (Some(_), Some(Said::Header(h))) => format!("; {h}"),
        (Some(name), Some(Said::Value(v))) => {
            let name = data::escaped(name);
            format!("; the model takes '{name}' as a feature, so its cells must be numbers: {v}")
        }
        (Some(name), None) => {
            let (name, word) = (data::escaped(name), units::shell_word(&data::escaped(name)));
            format!("; the model takes '{name}' as a feature, so its cells must be numbers (a model trained with --ignore {word} does not read it)")
        }
        (None, _) => String::new(),
    }
}

/// Fills the missing feature cells of `data` with the training means or
/// medians `model` keeps, where it keeps them, with a notice that counts
/// them by the file's column; those counts.
pub(super) fn fill_missing(model: &Model, data: &mut Dataset) -> Vec<(String, usize)> {
    let Some(imputation) = &model.imputation else {
        return Vec::new();
    };
    let filled = imputation.apply(data);
    let names = model.feature_names.iter().cloned();
    let filled = data::by_column(names.zip(filled), &model.categories);
    if let Some(text) = data::filled_cells(&filled, imputation.fill()) {
        super::notice(false, &format!("filled {text}"));
    }
    filled
}

/// Which rows have a missing feature (read as NaN with `--missing
/// blank`); a notice counts them.
fn blank_rows(data: &Dataset) -> Vec<bool> {
    let blank: Vec<bool> = (0..data.rows)
        .map(|n| data.row(n).iter().any(|v| v.is_nan()))
        .collect();
    let count = blank.iter().filter(|&&b| b).count();
    if count > 0 {
        let says = match count {
            1 => "has a missing feature: its prediction is empty, and not scored",
            _ => "have a missing feature: their predictions are empty, and not scored",
        };
        let rows = units::count(data.rows, "row");
        super::notice(false, &format!("{count} of {rows} {says}"));
    }
    blank
}

/// The predictions as CSV: the kept cells, then `<target>_pred` (empty
/// where the row is `blank`, `""` where it is the line's only cell).
fn predictions_csv(model: &Model, yhat: &[f64], blank: &[bool], kept: KeptCells) -> String {
    let (kept, kept_names) = kept.unzip();
    // About 20 bytes a prediction in f64's shortest form, and the cells kept.
    let kept_bytes: usize = kept.iter().flatten().map(String::len).sum();
    let mut text = String::with_capacity(yhat.len() * 20 + kept_bytes);
    let pred = format!("{}_pred", model.target_name);
    let names = kept_names.iter().flatten().map(String::as_str);
    text.push_str(&io::csv_line(names.chain([pred.as_str()])));
    // In f64, as computed: a prediction of 1e8 + 3 keeps its 3, and one
    // past f32's range stays finite.
    for (n, &v) in yhat.iter().enumerate() {
        if let Some(kept) = &kept {
            text.push_str(&kept[n]);
        }
        match (blank[n], &kept) {
            (false, _) => text.push_str(&io::csv_number(v)),
            // A line of one empty cell is blank, which CSV readers skip:
            // quoted, it is a row, and the rows stay in line with the file's.
            (true, None) => text.push_str("\"\""),
            (true, Some(_)) => {}
        }
        text.push('\n');
    }
    text
}

/// Sets `scores`' errors of `yhat` against `y` over the rows not `blank`,
/// where the target column has a number in each of them (else a notice
/// says why there are none); with `gaps` (`--missing blank` or `fill`),
/// over the rows that have one, a notice counting the others. The line to print,
/// if any.
fn score(
    scores: &mut Scores,
    (yhat, y): (Vec<f64>, Vec<f32>),
    blank: &[bool],
    target: TargetColumn,
    gaps: bool,
) -> Option<String> {
    // Text where a number should be is more likely a column written
    // another way (a thousands separator, a unit) than a row yet to be
    // measured: scores of the other rows alone would mislead.
    let text = y.iter().filter(|&&t| data::is_text_nan(t)).count();
    if let Some(first) = y.iter().position(|&t| data::is_text_nan(t)) {
        let decimal_comma = scores.format.decimal_comma;
        let is_text = |cell: &[u8]| data::is_text_cell(cell, decimal_comma);
        let delimiter = scores.format.delimiter;
        let at = match data::first_cell(&scores.data, delimiter, &scores.target, is_text) {
            Some((line, cell)) => format!("'{cell}' on line {line}"),
            None => format!("data row {}", first + 1),
        };
        super::notice(
            false,
            &format!(
                "the target column '{}' holds neither a number nor a missing marker in {} (the first is {at}), so the predictions are not scored: \"1,234.5\", \"$12\" or a number past f32's range is not a number to this reader (write 1234.5, 12); a row not yet measured may leave the cell empty, or NA",
                data::escaped(&scores.target),
                units::count(text, "row"),
            ),
        );
        return None;
    }
    let (yhat, y): (Vec<f64>, Vec<f32>) = match scores.blank_rows {
        0 => (yhat, y),
        _ => (yhat.into_iter().zip(y).zip(blank))
            .filter(|(_, &b)| !b)
            .map(|(pair, _)| pair)
            .unzip(),
    };
    if target == TargetColumn::Absent || y.is_empty() {
        return None;
    }
    let unmeasured = y.iter().filter(|t| t.is_nan()).count();
    let (yhat, y): (Vec<f64>, Vec<f32>) = match (unmeasured, gaps) {
        (0, _) => (yhat, y),
        (_, false) => {
            // Rows yet to be measured. Without --missing blank no row is
            // blank, so the row's place in `y` is its place in the file.
            let first = y.iter().position(|t| t.is_nan()).unwrap_or(0);
            let delimiter = scores.format.delimiter;
            let at =
                match data::first_cell(&scores.data, delimiter, &scores.target, data::is_missing) {
                    Some((line, _)) => format!("on line {line}"),
                    None => format!("data row {}", first + 1),
                };
            super::notice(
                false,
                &format!(
                    "the target column '{}' is not a number in every row (the first such is {at}), so the predictions are not scored; --missing blank scores the rows that have one and counts the others",
                    data::escaped(&scores.target),
                ),
            );
            return None;
        }
        (_, true) => {
            let says = match unmeasured {
                1 => "has no target value: it is not scored",
                _ => "have no target value: they are not scored",
            };
            super::notice(false, &format!("{unmeasured} of the rows predicted {says}"));
            let scored = yhat.into_iter().zip(y).filter(|(_, t)| !t.is_nan());
            scored.unzip()
        }
    };
    if y.is_empty() {
        return None;
    }
    let mse = cpu::reference::mse(&yhat, &y);
    let mae = (yhat.iter().zip(&y))
        .map(|(p, &t)| (p - t as f64).abs())
        .sum::<f64>()
        / y.len() as f64;
    scores.r2 = r_squared(mse, target_variance(&y));
    scores.scored_rows = y.len();
    (scores.mse, scores.rmse, scores.mae) = (Some(mse), Some(mse.sqrt()), Some(mae));
    let r2 = match scores.r2 {
        Some(r2) => format!("r² {}", units::r2(r2)),
        None => "r² undefined (the target is constant)".into(),
    };
    Some(format!(
        "mse {mse:.6e} over {}, {r2}\n",
        units::count(y.len(), "row")
    ))
}

/// Warns of the predictions `yhat` of `model` that are not finite
/// ([`not_finite`]).
fn warn_not_finite(model: &Model, yhat: &[f64], blank: &[bool]) {
    if let Some((count, first, why)) = not_finite(model, yhat, blank) {
        let are = match count {
            1 => "1 prediction is".to_string(),
            n => format!("{n} predictions are"),
        };
        let row = first + 1;
        crate::say!("warning: {are} past f64's range (the first at data row {row}): {why}");
    }
}

/// Warns of the rows of `data` with a feature far outside the range of
/// the rows `model` was trained on ([`data::FeatureRanges::far`]): how many,
/// and for each such feature (the first three), its rows, the first
/// (where `numbered`: the rows are the file's, in order), and the value
/// furthest out against the range. How many; none for a model that keeps
/// no ranges.
pub(super) fn warn_far(model: &Model, data: &Dataset, numbered: bool) -> Option<usize> {
    const NAMED: usize = 3;
    let ranges = model.ranges.as_ref()?;
    let (rows, far) = ranges.far(data);
    if rows == 0 {
        return Some(0);
    }
    // As the file writes it: a date as a date, a number in the fewest
    // digits that read back as its f32 (0.9998339, not 0.999833881855011).
    let value = |name: &str, v: f64| {
        let date = (model.dates.iter().any(|d| d == name))
            .then(|| data::date::text(v))
            .flatten();
        date.unwrap_or_else(|| crate::optim::short32(v as f32))
    };
    let mut each: Vec<String> = (far.iter().take(NAMED))
        .map(|f| {
            let name = &model.feature_names[f.feature];
            let (lo, hi) = (ranges.min[f.feature], ranges.max[f.feature]);
            let at = match (f.rows, numbered) {
                (1, true) => format!("1 row, data row {}", f.first_row + 1),
                (n, true) => format!("{n} rows, the first data row {}", f.first_row + 1),
                (n, false) => units::count(n, "row"),
            };
            format!(
                "'{}' ({at}): as far as {}, where training ran from {} to {}",
                data::escaped(name),
                value(name, f.furthest),
                value(name, lo),
                value(name, hi)
            )
        })
        .collect();
    if far.len() > NAMED {
        let more = far.len() - NAMED;
        let noun = if more == 1 { "feature" } else { "features" };
        each.push(format!("and {more} more {noun}"));
    }
    let have = match rows {
        1 => "has a feature",
        _ => "have a feature",
    };
    crate::say!(
        "warning: {rows} of {} {have} far outside the range of the rows the model was trained on (past it by more than a quarter of its width), where its predictions extrapolate from what no training row measured: {}",
        units::count(data.rows, "row"),
        each.join("; ")
    );
    Some(rows)
}

/// The predictions `yhat` of `model` past f64's range, the rows `blank`
/// leaves unpredicted aside: not finite, or for a model trained on log y,
/// 0 (exp of an output below about −745). How many, the first's row (from
/// 0), and why: a model trained on a transform of its target reaches them
/// for rows far outside its training rows.
pub(super) fn not_finite(
    model: &Model,
    yhat: &[f64],
    blank: &[bool],
) -> Option<(usize, usize, String)> {
    let t = model.target_transform;
    let past = |p: f64| !p.is_finite() || (t == TargetTransform::Log && p == 0.0);
    let mut rows = (yhat.iter().zip(blank).enumerate())
        .filter(|(_, (&p, &b))| !b && past(p))
        .map(|(n, _)| n);
    let first = rows.next()?;
    let count = 1 + rows.count();
    let why = match t {
        TargetTransform::None => "the network's output is not finite there".to_string(),
        t => format!(
            "the model was trained on {}, and its output there is beyond what {} takes into f64's range ({}): those rows lie far from its training rows",
            t.of(&model.target_name),
            t.inverse_name(),
            match t {
                TargetTransform::Log => "above about 709.8 it gives inf, below about −745 it gives 0",
                _ => "past about ±710.5 it gives ±inf",
            }
        ),
    };
    Some((count, first, why))
}

/// What predict and importance say of a file's column `near`, whose name
/// differs from the model's `target` only in case or surrounding spaces.
pub(super) fn alike_target(near: &str, target: &str) -> String {
    format!(
        "the file's column '{}' differs from it only in case or spaces, and names must match exactly: rename that column '{}' to score against it",
        data::escaped(near),
        data::escaped(target)
    )
}

/// [`read_rows`] of predict's `--data` for `model`, as `reading` says
/// (`instead`: the way past a missing cell): a header with no rows after
/// it gives none ([`no_rows`]), with a notice, and a target column named
/// in another case is named.
fn rows_to_predict(
    args: &PredictArgs,
    model: &Model,
    reading: Reading<'_>,
    instead: &str,
) -> Result<(ModelRows, KeptCells)> {
    let (rows, kept) = match read_rows(&args.data, &args.keep, model, reading, instead) {
        // A night with no new rows: none predicted, the header alone.
        Err(e) if e.downcast_ref().is_some_and(data::has_no_rows) => {
            super::notice(false, &format!("{} has a header but no data rows, so there is nothing to predict: the predictions hold their header alone", args.data.display()));
            no_rows(model, &args.keep)
        }
        read => read?,
    };
    if let (TargetColumn::Absent, Some(near)) = (rows.target, &rows.target_near) {
        super::notice(
            false,
            &format!(
                "the file has no column '{}', the model's target, so the predictions are not scored; {}",
                data::escaped(&model.target_name),
                alike_target(near, &model.target_name)
            ),
        );
    }
    Ok((rows, kept))
}

/// What [`read_rows`] reads of a file whose header has `model`'s
/// columns, and `keep`'s, and no rows after it.
fn no_rows(model: &Model, keep: &[String]) -> (ModelRows, KeptCells) {
    let data = Dataset {
        x: Vec::new(),
        y: Vec::new(),
        rows: 0,
        features: model.feature_names.len(),
        feature_names: model.feature_names.clone(),
        target_name: model.target_name.clone(),
    };
    let rows = ModelRows {
        data,
        target: TargetColumn::Absent,
        unseen: Vec::new(),
        target_near: None,
    };
    let kept = (!keep.is_empty()).then(|| (Vec::new(), keep.to_vec()));
    (rows, kept)
}

/// Refuses to predict `rows` rows with `model` where the machine lacks
/// the memory: the reference's own, and the copy of the rows the threads
/// share out.
fn check_memory(model: &Model, rows: usize) -> Result<()> {
    let layout = &model.layout;
    let rows_copy = memory::product(&[rows, layout.features() + 1, 4]);
    memory::check(
        memory::sum(&[cpu::reference::predict_bytes(model, rows), rows_copy]),
        || {
            format!(
                "predicting {} with a {} → {} → 1 network ({})",
                units::count(rows, "row"),
                layout.features(),
                layout.hidden_spec(),
                units::count(layout.len(), "parameter")
            )
        },
        "predict fewer rows at a time, or on a machine with more memory",
    )?;
    Ok(())
}

pub(super) fn predict_command(args: &PredictArgs) -> Result<()> {
    super::quiet_notices(args.quiet);
    let outputs: Vec<(&str, &Path)> = [("--out", &args.out), ("--json", &args.json)]
        .into_iter()
        .filter_map(|(flag, path)| path.as_deref().map(|p| (flag, p)))
        .collect();
    for (flag, path) in &outputs {
        io::check_output(flag, path)?;
    }
    // Without --out the predictions go to standard output.
    let stdout = [("the predictions (no --out)", Path::new("/dev/stdout"))];
    let written = [&outputs[..], if args.out.is_none() { &stdout } else { &[] }].concat();
    super::one_on_standard_output(&written)?;
    let inputs = [
        ("--model", args.model.as_path()),
        ("--data", args.data.as_path()),
    ];
    io::check_distinct(&super::and_the_report(&written), &inputs, &[])?;
    for (flag, path) in &outputs {
        io::check_format(flag, path)?;
    }
    let format = data::CsvFormat::new(args.delimiter, args.decimal_comma)?;
    let model = io::load_model(&args.model)?;
    super::checkpoint_notice(&args.model, "these predictions are");
    let blank_empty = match model.imputation {
        Some(_) => BLANK_EMPTY.to_string(),
        None => format!("{BLANK_EMPTY}{FILLS_TOO}"),
    };
    let blank_empty = blank_empty.as_str();
    let missing = missing_mode(
        args.missing,
        [Blanks::Error, Blanks::Fill],
        (&model, &args.model),
        blank_empty,
    )?;
    let gaps = missing != Blanks::Error;
    let unseen = unseen_mode(args.unseen, (&model, &args.model), gaps, blank_empty)?;
    let reading = Reading {
        dates: &model.dates,
        gaps,
        scored: false,
        unseen,
        format,
    };
    let (rows, kept) = rows_to_predict(args, &model, reading, blank_empty)?;
    let (mut data, target) = (rows.data, rows.target);
    let unseen_cells = unseen_notice(&rows.unseen, data.rows, unseen);
    if let Some(warning) = (target != TargetColumn::Absent)
        .then(|| data.target_resolution_warning(data::Column::Scored))
        .flatten()
    {
        crate::say!("warning: {warning}");
    }
    let filled = match missing {
        Blanks::Fill => fill_missing(&model, &mut data),
        _ => Vec::new(),
    };
    let blank = blank_rows(&data);
    let far_rows = warn_far(&model, &data, true);
    check_memory(&model, data.rows)?;
    // In the target's units: a standardised model's statistics are applied.
    let yhat = match data.rows {
        0 => Vec::new(),
        _ => cpu::reference::predict_on_cores(&model, &data)?,
    };
    warn_not_finite(&model, &yhat, &blank);
    let text = predictions_csv(&model, &yhat, &blank, kept);
    let mut emitted = Ok(());
    // Standard output by name (`-`, /dev/stdout) is written as without
    // --out: a reader that closes it early ends the predictions only.
    let out = (args.out.as_deref()).filter(|path| !io::is_standard_output(path));
    match out {
        Some(path) => {
            io::stop_writes_on_signals()?;
            let written = io::write_atomically(path, |w| {
                // In pieces, so a signal stops a long write between them.
                text.as_bytes()
                    .chunks(1 << 20)
                    .try_for_each(|piece| w.write_all(piece))
            });
            match written.map_err(anyhow::Error::from) {
                // A pipe (a FIFO, `>(…)`) whose reader stopped early, as
                // standard output's below.
                Err(e) if super::closed_pipe(&e) => emitted = Err(e),
                // As context, as --json's below.
                other => other.context("could not write --out")?,
            }
        }
        // A reader that closed standard output early (`| head`) ends the
        // predictions, not the scores and --json asked for; any other
        // failed write (a full disk) ends the command before them.
        None => {
            emitted = super::emit(&text);
            if (emitted.as_ref()).is_err_and(|e| !e.is::<super::ClosedPipe>()) {
                return emitted;
            }
        }
    }
    let mut scores = Scores {
        version: env!("CARGO_PKG_VERSION"),
        model: args.model.clone(),
        data: args.data.clone(),
        format,
        rows: data.rows,
        target: model.target_name.clone(),
        mse: None,
        rmse: None,
        mae: None,
        r2: None,
        blank_rows: blank.iter().filter(|&&b| b).count(),
        filled_cells: filled.iter().map(|(_, n)| n).sum(),
        unseen_cells,
        scored_rows: 0,
        far_rows,
    };
    // A scores line that cannot be written (standard output on a full
    // disk) fails the command after --json is written, as --out was.
    let mut reported = Ok(());
    let line = score(&mut scores, (yhat, data.y), &blank, target, gaps);
    if let Some(line) = line.filter(|_| !args.quiet) {
        // Keep standard output clean CSV when the predictions go there.
        if args.out.is_some() {
            reported = super::report(&line, outputs.iter().map(|(_, path)| *path));
        } else {
            crate::say!("{}", line.trim_end_matches('\n'));
        }
    }
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&scores).expect("the scores serialise");
        text.push('\n');
        // As context, so that a closed pipe or a stopped write is still
        // recognised as one (app::run).
        io::write_atomically(path, |w| w.write_all(text.as_bytes())).with_context(|| {
            let went = match out {
                Some(out) => format!("were written to {}", out.display()),
                None => "went to standard output".into(),
            };
            format!("could not write --json; the predictions {went}")
        })?;
    }
    reported?;
    emitted
}
