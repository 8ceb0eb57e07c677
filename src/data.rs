//! Training data: the seeded synthetic task (docs/spec.md) and CSV files
//! with a header.
//!
//! Both give a [`Dataset`]: features row-major (N × f) and one target per row,
//! in f32, the precision every backend trains in.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rng::{self, Stream};

mod category;
pub mod date;
mod transform;
pub use category::{
    by_column, column_of_level, Category, Unseen, UnseenLevels, MAX_LEVELS, UNSEEN_LEVEL,
};
pub use transform::{OutsideDomain, TargetTransform};

/// A data set's shape and names, without its values: all a model needs to
/// be built or checked against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    pub rows: usize,
    pub features: usize,
    pub feature_names: Vec<String>,
    pub target_name: String,
}

impl Columns {
    /// The columns of [`Dataset::synthetic`]: x0..x{f−1}, then y.
    pub fn synthetic(rows: usize, features: usize) -> Result<Columns> {
        check_shape(rows, features)?;
        Ok(Columns {
            rows,
            features,
            feature_names: (0..features).map(|j| format!("x{j}")).collect(),
            target_name: "y".to_string(),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// (N × f) row-major.
    pub x: Vec<f32>,
    /// (N)
    pub y: Vec<f32>,
    pub rows: usize,
    pub features: usize,
    pub feature_names: Vec<String>,
    pub target_name: String,
}

impl Dataset {
    /// X ~ U(−1, 1) and y = sin(π·x0)·cos(π·x1) + 0.5·x2, terms for missing
    /// features dropped. Row `n` depends only on (seed, n), so any row range
    /// can be generated on its own.
    pub fn synthetic(rows: usize, features: usize, seed: u64) -> Result<Dataset> {
        Dataset::synthetic_rows(rows, features, seed, 0..rows)
    }

    /// The rows `range` of [`Dataset::synthetic`]`(rows, features, seed)`,
    /// generated on their own: a process's share of a distributed run.
    pub fn synthetic_rows(
        rows: usize,
        features: usize,
        seed: u64,
        range: std::ops::Range<usize>,
    ) -> Result<Dataset> {
        check_shape(rows, features)?;
        if range.end > rows || range.is_empty() {
            return Err(Error::Config(format!(
                "rows {range:?} are not a part of {rows} rows"
            )));
        }
        let first = range.start * features;
        let rows = range.len();
        // The values, and the features' names ("x123", about 40 bytes each
        // with the String).
        let names = crate::memory::product(&[features, 40]);
        crate::memory::check(
            crate::memory::sum(&[
                crate::memory::product(&[rows, features.saturating_add(1), 4]),
                names,
            ]),
            || {
                let count = crate::units::count;
                format!(
                    "generating {} × {}",
                    count(rows, "row"),
                    count(features, "feature")
                )
            },
            "use fewer rows or features",
        )?;
        let len = rows
            .checked_mul(features)
            .ok_or_else(|| Error::Config(format!("{rows} rows × {features} features overflows")))?;
        let mut x = Vec::new();
        x.try_reserve_exact(len).map_err(|_| {
            Error::Config(format!(
                "{rows} rows × {features} features ({len} values) do not fit in memory"
            ))
        })?;
        x.resize(len, 0.0f32);
        for (i, v) in x.iter_mut().enumerate() {
            *v = rng::symmetric(seed, Stream::Features, (first + i) as u64);
        }
        let y = x.chunks_exact(features).map(synthetic_target).collect();
        let columns = Columns::synthetic(rows, features)?;
        Ok(Dataset {
            x,
            y,
            rows,
            features,
            feature_names: columns.feature_names,
            target_name: columns.target_name,
        })
    }

    pub fn columns(&self) -> Columns {
        Columns {
            rows: self.rows,
            features: self.features,
            feature_names: self.feature_names.clone(),
            target_name: self.target_name.clone(),
        }
    }

    /// The same rows with feature `j` taken from column `order[j]`: the
    /// columns put in a saved model's order. `order` must name each
    /// feature once.
    ///
    /// # Panics
    ///
    /// If `order` is not as long as the rows have features, or names a
    /// feature they do not have.
    pub fn reorder_features(&mut self, order: &[usize]) {
        assert_eq!(order.len(), self.features, "one index per feature");
        let mut x = Vec::with_capacity(self.x.len());
        for row in self.x.chunks_exact(self.features) {
            x.extend(order.iter().map(|&j| row[j]));
        }
        self.x = x;
        self.feature_names = order
            .iter()
            .map(|&j| self.feature_names[j].clone())
            .collect();
    }

    /// The features named `names`, in that order (the others left out):
    /// the rows as a model whose `feature_names` they are takes them. An
    /// error names the first one the data lacks.
    pub fn select_features(&self, names: &[String]) -> Result<Dataset> {
        if names == self.feature_names {
            return Ok(self.clone());
        }
        let at = positions(&self.feature_names);
        let mut order = Vec::with_capacity(names.len());
        for name in names {
            match at.get(name.as_str()).copied() {
                Some(j) => order.push(j),
                None => {
                    return Err(Error::Config(format!(
                        "the data has no feature '{}'; it has {}",
                        shown_name(name),
                        listed(&self.feature_names)
                    )))
                }
            }
        }
        let mut x = Vec::with_capacity(self.rows * names.len());
        for row in self.x.chunks_exact(self.features.max(1)) {
            x.extend(order.iter().map(|&j| row[j]));
        }
        Ok(Dataset {
            x,
            y: self.y.clone(),
            rows: self.rows,
            features: names.len(),
            feature_names: names.to_vec(),
            target_name: self.target_name.clone(),
        })
    }

    /// The features (those not named in `skip`) that read as a row's id: a
    /// different whole number in each of at least [`ID_ROWS`] rows, each
    /// one more than the row before's (a row number) or under a name of an
    /// id's (`id`, `index`, `… id`, `…_id`, `…Id`, or `…ID` after a small
    /// letter: `PatientID`, not `PAID`). Not merely rising: rows sorted by
    /// a measurement (a house's square feet) rise too. Trained on, an id
    /// lets the network tell the rows apart by a number that means nothing
    /// for new ones.
    pub fn id_like(&self, skip: &[String]) -> Vec<String> {
        if self.rows < ID_ROWS {
            return Vec::new();
        }
        let named = |name: &str| {
            let lower = name.to_lowercase();
            ["id", "index"].contains(&lower.as_str())
                || [" id", "_id", "-id"].iter().any(|end| lower.ends_with(end))
                || name.ends_with("Id")
                || name
                    .strip_suffix("ID")
                    .and_then(|head| head.chars().last())
                    .is_some_and(char::is_lowercase)
        };
        let mut ids = Vec::new();
        for (j, name) in self.feature_names.iter().enumerate().take(self.features) {
            if skip.contains(name) {
                continue;
            }
            let column: Vec<f32> = self
                .x
                .iter()
                .skip(j)
                .step_by(self.features)
                .copied()
                .collect();
            if !column.iter().all(|v| v.is_finite() && v.fract() == 0.0) {
                continue;
            }
            let numbered = column.windows(2).all(|w| w[1] - w[0] == 1.0);
            let distinct = || {
                let mut sorted = column.clone();
                sorted.sort_unstable_by(f32::total_cmp);
                sorted.windows(2).all(|w| w[0] < w[1])
            };
            if numbered || (named(name) && distinct()) {
                ids.push(name.clone());
            }
        }
        ids
    }

    /// The features (those not named in `skip`) whose standard deviation
    /// (`stats`', fitted on these rows) is more than [`HEAVY_TAILS`] times
    /// the spread of their middle half (the interquartile range over
    /// 1.349, which is the std for a normal column), each with that ratio:
    /// a few far values set such a column's scale, and standardized, most
    /// of its rows sit near 0. The quartiles are of at most
    /// [`TAIL_SAMPLE`] rows spread evenly. Left out: a column whose middle
    /// half is one value (a flag, a count mostly 0), one `stats` has no
    /// entry for, and one whose std `stats` replaced by 1 (a spread
    /// within f32's rounding of its mean), whose 1 says nothing of tails.
    pub fn heavy_tailed(&self, stats: &Standardization, skip: &[String]) -> Vec<(String, f64)> {
        let step = self.rows.div_ceil(TAIL_SAMPLE).max(1);
        let mut heavy = Vec::new();
        for (j, name) in self.feature_names.iter().enumerate().take(self.features) {
            let (Some(&std), Some(&mean)) = (stats.feature_std.get(j), stats.feature_mean.get(j))
            else {
                continue;
            };
            if skip.contains(name) {
                continue;
            }
            let sample = (0..self.rows)
                .step_by(step)
                .map(|n| self.x[n * self.features + j]);
            if let Some(ratio) = tail_ratio(sample, std, mean) {
                heavy.push((name.clone(), ratio));
            }
        }
        heavy
    }

    /// Whether the target has heavy tails as [`Dataset::heavy_tailed`]
    /// reads a feature's, by `stats`' target std: its ratio where it
    /// does. The MSE is then ruled by a few far rows: a target of skew 11
    /// (ratio 6) scored a test R² of 0.65 trained as it was and 0.93
    /// trained as its log, predicted back through exp.
    pub fn heavy_tailed_target(&self, stats: &Standardization) -> Option<f64> {
        let step = self.rows.div_ceil(TAIL_SAMPLE).max(1);
        let sample = self.y.iter().step_by(step).copied();
        tail_ratio(sample, stats.target_std, stats.target_mean)
    }

    /// The rows `range` as a data set of their own: a shard.
    ///
    /// # Panics
    ///
    /// If `range` reaches past the last row, as a slice's would.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        Dataset {
            x: self.x[range.start * self.features..range.end * self.features].to_vec(),
            y: self.y[range.clone()].to_vec(),
            rows: range.len(),
            features: self.features,
            feature_names: self.feature_names.clone(),
            target_name: self.target_name.clone(),
        }
    }

    /// Row `n`'s features.
    ///
    /// # Panics
    ///
    /// If there is no row `n`.
    pub fn row(&self, n: usize) -> &[f32] {
        &self.x[n * self.features..(n + 1) * self.features]
    }

    /// Warnings for the columns whose values f32 tells apart poorly: those
    /// spanning fewer than [`FEW_STEPS`] f32 steps at their size, whose
    /// values closer than a step were read as one (1e8 + 0..15 reads as
    /// 1e8, 1e8 + 8 and 1e8 + 16), and constant columns of whole numbers
    /// past 2^24, where neighbours merge (a minute of Unix times reads as
    /// one or two values), and columns that are 0 in every row (where
    /// the file's numbers are all below f32's least normal magnitude, they
    /// read as 0; `derived` names the features not read as numbers, such
    /// as one-hot levels and dates, whose zeros say nothing of that).
    /// Cells are stored as f32 as they are read, so what the file held
    /// beyond that is gone by now.
    pub fn resolution_warnings(&self, derived: &[String]) -> Vec<String> {
        // Each column's least and greatest value (NaN cells left out), the
        // features' in one pass over the rows: a pass per column, strided,
        // read the whole of x once per feature.
        let f = self.features;
        let (mut lo, mut hi) = (vec![f32::INFINITY; f], vec![f32::NEG_INFINITY; f]);
        for row in self.x.chunks_exact(f.max(1)) {
            for ((lo, hi), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        let mut out = Vec::new();
        for (j, name) in self.feature_names.iter().enumerate().take(f) {
            let column = Column::Feature;
            out.extend(resolution_warning(name, (lo[j], hi[j]), column, derived));
        }
        out.extend(self.target_resolution_warning(Column::Target));
        out
    }

    /// [`Dataset::resolution_warnings`]' warning of the target column, if
    /// it has one, as `column` (the target a model trains on, or the one
    /// `predict` scores against).
    pub fn target_resolution_warning(&self, column: Column) -> Option<String> {
        resolution_warning(&self.target_name, self.target_range(), column, &[])
    }

    /// The target's least and greatest value, NaN cells left out.
    fn target_range(&self) -> (f32, f32) {
        let values = self.y.iter().filter(|v| !v.is_nan());
        values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
    }

    /// How many of f32's steps the target spans at its size, and the step
    /// ([`f32_steps`]).
    pub fn target_steps(&self) -> Option<(f32, f32)> {
        f32_steps(self.target_range())
    }
}

/// The column a resolution warning is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Feature,
    /// The target a model trains on.
    Target,
    /// The target `predict` scores against.
    Scored,
}

/// The warning of [`Dataset::resolution_warnings`] for the column `name`
/// whose values range over `lo..=hi`, if any.
/// How many of f32's steps lie between `lo` and `hi` at their size (the
/// larger magnitude), and the step there; `None` where that is 0 or not
/// finite.
pub fn f32_steps((lo, hi): (f32, f32)) -> Option<(f32, f32)> {
    let size = lo.abs().max(hi.abs());
    if size == 0.0 || !size.is_finite() {
        return None;
    }
    // The gap from `size` to the next f32 up: the step there.
    let step = f32::from_bits(size.to_bits() + 1) - size;
    step.is_finite().then(|| ((hi - lo) / step, step))
}

fn resolution_warning(
    name: &str,
    (lo, hi): (f32, f32),
    column: Column,
    derived: &[String],
) -> Option<String> {
    let size = lo.abs().max(hi.abs());
    if size == 0.0 {
        let what = match column {
            Column::Target => "the model learns to predict 0",
            Column::Scored => "the predictions are scored against 0",
            Column::Feature => "it tells the model nothing",
        };
        let why = match derived.iter().any(|d| d == name) {
            true => "",
            false => ": where the file holds values other than 0 there, all of them are below f32's least normal magnitude (1.1754944e-38), which read as 0; scale the column in the file",
        };
        return Some(format!(
            "column '{name}' is 0 in every row as read, so {what}{why}"
        ));
    }
    let (steps, step) = f32_steps((lo, hi))?;
    let merged = match steps {
        0.0 => size >= (1u32 << 24) as f32,
        s => s < FEW_STEPS,
    };
    if steps == 0.0 && !merged && column == Column::Target {
        // A target of one value, well told apart from its neighbours: a
        // model of it predicts that value, and R² is undefined.
        let value = f64::from(lo);
        return Some(format!(
            "column '{name}' is {value} in every row, so the model learns to predict {value} and nothing else (R² is undefined): is it the column to predict (--target)?"
        ));
    }
    if !merged {
        return None;
    }
    // In f64: f32's shortest form of 100000016 is 100000020.
    let (lo, hi, step) = (f64::from(lo), f64::from(hi), f64::from(step));
    // `derived` holds one-hot levels too, but a level's 0s and 1s are
    // never too few steps apart: a derived column here is a date.
    let date = derived.iter().any(|d| d == name);
    let (scored, offset) = match column {
        // A --date column is days since 1970-01-01; no offset can be
        // written in its cells.
        Column::Feature if date => (
            "",
            format!("a --date column is read as days since 1970-01-01, a step of {} s there: write the times in the file as a number column of seconds (or hours) since the first, and read it without --date", step * 86_400.0),
        ),
        Column::Feature => ("", OFFSET.to_string()),
        Column::Target => (
            "; the loss and R² are measured against these values",
            OFFSET.to_string(),
        ),
        // predict's and importance's scores: the predictions are in f64,
        // and no offset in the file brings the scores closer.
        Column::Scored => (
            "; the MSE and R² printed are measured against these values",
            "the file's own differ from them by up to half a step".to_string(),
        ),
    };
    Some(match steps {
        // Perhaps constant in the file too: a date column, say.
        0.0 => format!(
            "column '{name}' holds one value, {lo}, in every row as read: if the file's values differ, they do by less than f32's step of {step} at that size, and were read as one{scored}; {offset}"
        ),
        s => format!(
            "column '{name}' spans only {s} steps of f32 ({lo} to {hi}, a step of {step} at that size) as read: cells are stored as f32, and values closer than a step were read as one{scored}; {offset}"
        ),
    })
}

/// A resolution warning's advice for a column that trains.
const OFFSET: &str =
    "subtract an offset from the column in the file (its first value, say) to keep them apart";

/// A column's standard deviation over the spread of its middle half past
/// which [`Dataset::heavy_tailed`] names it: the ratio is 1 for a normal
/// column, 0.78 for a uniform one, 1.23 for an exponential one, 2.0 and
/// about 5 for log-normal ones of σ 1 and 1.5; t(1.5), log-normal (σ 2) and
/// Cauchy columns of 20,000 rows measured 20, 14 and 46.
pub const HEAVY_TAILS: f64 = 3.0;

/// The fewest rows in which [`Dataset::id_like`] takes a column for an id:
/// fewer distinct rising whole numbers are as likely a count or a year.
pub const ID_ROWS: usize = 20;

/// The most rows [`Dataset::heavy_tailed`] takes a column's quartiles from.
pub const TAIL_SAMPLE: usize = 4096;

/// A column's std (`std`, about `mean`) over the spread of the middle
/// half of `sample` (its values, NaN left out; 8 or more), where it is
/// past [`HEAVY_TAILS`]; `None` otherwise, or where the std was replaced
/// by 1 for a column of one value.
fn tail_ratio(sample: impl Iterator<Item = f32>, std: f64, mean: f64) -> Option<f64> {
    let mut sample: Vec<f32> = sample.filter(|v| !v.is_nan()).collect();
    if sample.len() < 8 {
        return None;
    }
    sample.sort_unstable_by(f32::total_cmp);
    let n = sample.len();
    let middle = f64::from(sample[3 * n / 4]) - f64::from(sample[n / 4]);
    let replaced = std == 1.0 && middle / 1.349 <= 1e-5 * mean.abs();
    let ratio = std / (middle / 1.349);
    (middle > 0.0 && !replaced && ratio > HEAVY_TAILS).then_some(ratio)
}

/// Fewer f32 steps than this across a column's values: most of what told
/// them apart was lost in reading them as f32.
pub const FEW_STEPS: f32 = 256.0;

impl Dataset {
    /// The features with a value of magnitude above `bound`, or none
    /// above 1/`bound` (and one not 0), each with its largest magnitude:
    /// those far from the ±1 that a network's first layer starts on,
    /// where its units start saturated, or barely see them (three
    /// features within ±0.1 of 0, unstandardized: L-BFGS's training R²
    /// 0.50, within ±1e-2 or ±1e-3 0.23; standardized 0.98).
    pub fn far_features(&self, bound: f32) -> Vec<(String, f32)> {
        let mut largest = vec![0f32; self.features];
        for row in self.x.chunks_exact(self.features.max(1)) {
            for (m, v) in largest.iter_mut().zip(row) {
                *m = m.max(v.abs());
            }
        }
        (self.feature_names.iter().zip(largest))
            .filter(|&(_, m)| m > bound || (m > 0.0 && m < 1.0 / bound))
            .map(|(name, m)| (name.clone(), m))
            .collect()
    }

    /// The features that hold one value in every row (of two or more).
    pub fn constant_features(&self) -> Vec<String> {
        let f = self.features;
        let Some((first, rest)) = self.x.split_at_checked(f) else {
            return Vec::new();
        };
        let mut same = vec![!rest.is_empty(); f];
        for row in rest.chunks_exact(f.max(1)) {
            for ((s, a), b) in same.iter_mut().zip(first).zip(row) {
                *s &= a == b;
            }
        }
        (self.feature_names.iter().zip(same))
            .filter(|&(_, s)| s)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The features that are 0 in every row: the first-layer weights from
    /// them get no gradient from these rows, however the network trains.
    pub fn zero_features(&self) -> Vec<usize> {
        let f = self.features;
        let mut zero = vec![self.rows > 0; f];
        for row in self.x.chunks_exact(f.max(1)) {
            for (z, v) in zero.iter_mut().zip(row) {
                *z &= *v == 0.0;
            }
        }
        (0..f).filter(|&j| zero[j]).collect()
    }

    /// The population variance of the target (sums in f64): the MSE of
    /// predicting its mean, against which R² = 1 − MSE / variance.
    pub fn target_variance(&self) -> f64 {
        target_variance(&self.y)
    }

    /// The rows `rows` (ascending) as a data set of their own.
    ///
    /// # Panics
    ///
    /// If a row of `rows` is not one of the set's.
    pub fn take_rows(&self, rows: &[usize]) -> Dataset {
        let mut out = self.empty_like();
        self.gather_into(rows, &mut out, 1);
        out
    }

    /// Holds out round(`fraction` · N) rows chosen by `seed`: the rows with
    /// the smallest keys `rng::bits(seed, Stream::Split, n)` (a seeded
    /// shuffle that needs no state), ties by row. Returns (training rows,
    /// held-out rows), each in file order. A split that leaves either side
    /// empty is an error.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let held = self.held_out(fraction)?;
        Ok(self.hold_out(0..held, seed))
    }

    /// [`Dataset::split`]'s count of rows, the last ones held out
    /// (`--hold-out last`): rows in time order train on the past and are
    /// scored on what comes after it.
    pub fn split_last(&self, fraction: f64) -> Result<(Dataset, Dataset)> {
        let held = self.held_out(fraction)?;
        let rows: Vec<usize> = (0..self.rows).collect();
        let (train, val) = rows.split_at(self.rows - held);
        Ok((self.take_rows(train), self.take_rows(val)))
    }

    /// How many rows a split of `fraction` holds out: round(`fraction` ·
    /// N), an error where that leaves either side empty.
    fn held_out(&self, fraction: f64) -> Result<usize> {
        check_split_fraction(fraction)?;
        let held = (fraction * self.rows as f64).round() as usize;
        if self.rows < 2 {
            return Err(Error::Config(format!(
                "--validation-split needs at least 2 rows, one to train on and one to hold out; the data have {}",
                crate::units::count(self.rows, "row")
            )));
        }
        if held == 0 || held >= self.rows {
            let (side, what) = if held == 0 {
                ("validation", "a larger fraction")
            } else {
                ("training", "a smaller fraction")
            };
            return Err(Error::Config(format!(
                "--validation-split {fraction} of {} leaves no {side} rows; give {what} or more rows",
                crate::units::count(self.rows, "row")
            )));
        }
        Ok(held)
    }

    /// Fold `index` of `count` (`--folds`): with the rows in the order of
    /// their keys `rng::bits(seed, Stream::Split, n)` (as [`Dataset::split`]
    /// orders them), the fold holds out those at positions
    /// round(index · N / count) up to round((index + 1) · N / count), halves
    /// rounded up. The folds partition the rows, and fold 0 holds out what
    /// `split(1 / count, seed)` does, but where (1 / count) · N rounds in
    /// f64 to just below a half that N / count is. Returns (training rows, held-out
    /// rows), each in file order. Needs 2 ≤ `count` ≤ N and `index` <
    /// `count`, so that neither side is empty.
    pub fn fold(&self, index: usize, count: usize, seed: u64) -> Result<(Dataset, Dataset)> {
        check_folds(count, self.rows)?;
        if index >= count {
            return Err(Error::Config(format!(
                "there is no fold {index} of {count}: folds are numbered from 0 to {}",
                count - 1
            )));
        }
        Ok(self.hold_out(fold_positions(index, count, self.rows), seed))
    }

    /// The first fold of `count` (cut by `seed` as [`Dataset::fold`]
    /// cuts them) whose training rows hold no number (every cell NaN, a
    /// missing cell) in some feature: the fold that [`Imputation::fit`]
    /// would refuse, found by counting the numbers of each fold's held-out
    /// rows, with no copy of the rows.
    pub fn fold_without_number(&self, count: usize, seed: u64) -> Option<usize> {
        let f = self.features;
        let numbers = |rows: &mut dyn Iterator<Item = usize>| {
            let mut n = vec![0usize; self.features];
            for r in rows {
                for (n, v) in n.iter_mut().zip(&self.x[r * f..(r + 1) * f]) {
                    *n += usize::from(!v.is_nan());
                }
            }
            n
        };
        let all = numbers(&mut (0..self.rows));
        let order = key_order(self.rows, seed);
        (0..count).find(|&k| {
            let held = numbers(&mut order[fold_positions(k, count, self.rows)].iter().copied());
            held.iter().zip(&all).any(|(held, all)| held == all)
        })
    }

    /// (training rows, held-out rows): those at `positions` of the key
    /// order held out, each side in file order.
    fn hold_out(&self, positions: std::ops::Range<usize>, seed: u64) -> (Dataset, Dataset) {
        let order = key_order(self.rows, seed);
        let mut val = order[positions.clone()].to_vec();
        let mut train = [&order[..positions.start], &order[positions.end..]].concat();
        val.sort_unstable();
        train.sort_unstable();
        (self.take_rows(&train), self.take_rows(&val))
    }
}

/// The rows 0..`rows` in ascending order of their keys `rng::bits(seed,
/// Stream::Split, n)`, ties by row: the order the validation split and
/// the folds cut.
fn key_order(rows: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_by_key(|&n| (rng::bits(seed, Stream::Split, n as u64), n));
    order
}

/// The positions in the key order of fold `index` of `count` over `rows`.
fn fold_positions(index: usize, count: usize, rows: usize) -> std::ops::Range<usize> {
    fold_bound(index, count, rows)..fold_bound(index + 1, count, rows)
}

/// The rows, ascending, that fold `index` of `count` holds out of `rows`
/// ([`Dataset::fold`]'s held-out rows, by number).
///
/// # Panics
///
/// If `index` is not below `count` ([`check_fold_count`] checks `count`).
pub fn fold_rows(index: usize, count: usize, rows: usize, seed: u64) -> Vec<usize> {
    assert!(index < count, "fold {index} of {count}");
    let mut held = key_order(rows, seed)[fold_positions(index, count, rows)].to_vec();
    held.sort_unstable();
    held
}

/// round(`i` · `rows` / `count`), a half rounded up, in integers: where
/// fold `i` of `count` starts in the key order.
fn fold_bound(i: usize, count: usize, rows: usize) -> usize {
    let (i, count, rows) = (i as u128, count as u128, rows as u128);
    ((2 * i * rows + count) / (2 * count)) as usize
}

/// `--folds K` needs 2 ≤ K.
pub fn check_fold_count(count: usize) -> Result<()> {
    if count < 2 {
        return Err(Error::Config(format!(
            "--folds must be at least 2, not {count}: each fold is held out once while the others train"
        )));
    }
    Ok(())
}

/// `--folds K` needs 2 ≤ K, and a row to hold out in each fold.
pub fn check_folds(count: usize, rows: usize) -> Result<()> {
    check_fold_count(count)?;
    if count > rows {
        return Err(Error::Config(format!(
            "--folds {count} needs at least {count} rows, one held out in each fold; the data have {}",
            crate::units::count(rows, "row")
        )));
    }
    Ok(())
}

/// `--validation-split` must lie strictly between 0 and 1.
pub fn check_split_fraction(fraction: f64) -> Result<()> {
    if fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--validation-split must be a fraction between 0 and 1 (exclusive), not {}; e.g. 0.1 holds out 10% of the rows",
            crate::optim::short(fraction)
        )))
    }
}

/// Per-column standardisation, x' = (x − mean) / std, fitted on training
/// rows and stored with the model so `predict` applies the same one.
/// Standard deviations are the population ones (divide by N, as sklearn's
/// `StandardScaler`); a feature whose deviation is zero or below f32's
/// resolution of its mean gets std 1, so constant columns stay finite, and
/// so does a target whose deviation is zero (or below f32's least normal
/// magnitude).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardization {
    /// (f)
    pub feature_mean: Vec<f64>,
    /// (f), every entry > 0
    pub feature_std: Vec<f64>,
    pub target_mean: f64,
    /// > 0
    pub target_std: f64,
}

/// Mean and population std of `values`, in f64 (two passes).
pub fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for v in values.clone() {
        n += 1;
        sum += v as f64;
    }
    let mean = sum / n.max(1) as f64;
    let sq: f64 = values.map(|v| (v as f64 - mean).powi(2)).sum();
    (mean, (sq / n.max(1) as f64).sqrt())
}

/// The std a feature is standardised with: its own, or 1 where that is 0
/// or below f32's resolution of the values (10⁻⁶ of the mean), where the
/// spread is rounding noise an input should not be made of.
fn feature_std((mean, std): (f64, f64)) -> (f64, f64) {
    let usable = std > 1e-6 * mean.abs() && std >= f32::MIN_POSITIVE as f64;
    (mean, if usable { std } else { 1.0 })
}

/// The std the target is standardised with: its own wherever it is not 0
/// (a normal f32 or more). A target spanning a few of f32's steps at its
/// size (which reading warns of) has no other spread for the loss and R²
/// to measure: at std 1 its standardised values stayed within 1e-6 of 0
/// and L-BFGS stopped at its gradient tolerance with the outputs 250
/// steps off (training R² −1.3e4); at its own std, R² 0.98.
fn target_std(std: f64) -> f64 {
    if std >= f32::MIN_POSITIVE as f64 {
        std
    } else {
        1.0
    }
}

impl Standardization {
    /// The statistics of every feature and of the target over `data`.
    pub fn fit(data: &Dataset) -> Standardization {
        let f = data.features;
        let (feature_mean, feature_std) = (0..f)
            .map(|j| feature_std(mean_std(data.x.iter().skip(j).step_by(f).copied())))
            .unzip();
        let (target_mean, std) = mean_std(data.y.iter().copied());
        Standardization {
            feature_mean,
            feature_std,
            target_mean,
            target_std: target_std(std),
        }
    }

    /// Standardises the features of `data` in place; an error, with
    /// nothing changed, where the statistics are of another number of
    /// features.
    pub fn apply_features(&self, data: &mut Dataset) -> Result<()> {
        if self.feature_mean.len() != data.features || self.feature_std.len() != data.features {
            return Err(Error::Config(format!(
                "the statistics are of {}; the data has {}",
                crate::units::count(self.feature_mean.len(), "feature"),
                data.features
            )));
        }
        for row in data.x.chunks_exact_mut(data.features) {
            for ((v, m), s) in row
                .iter_mut()
                .zip(&self.feature_mean)
                .zip(&self.feature_std)
            {
                *v = ((*v as f64 - m) / s) as f32;
            }
        }
        Ok(())
    }

    /// Rows of raw features, standardised in f64 and rounded to f32 as
    /// [`Standardization::apply_features`] rounds them, except a value
    /// beyond f32's range (a feature near f32's largest, many deviations
    /// from the mean), which stays as it is in f64 rather than becoming
    /// infinite: the network's output then stays finite.
    pub fn features_f64(&self, rows: &[f32]) -> Vec<f64> {
        let stats = self.feature_mean.iter().zip(&self.feature_std).cycle();
        (rows.iter().zip(stats))
            .map(|(&v, (m, s))| {
                let z = (v as f64 - m) / s;
                match z as f32 {
                    r if r.is_finite() => r as f64,
                    _ => z,
                }
            })
            .collect()
    }

    /// Standardises the features and the target of `data` in place; an
    /// error, with nothing changed, where the statistics are of another
    /// number of features.
    pub fn apply(&self, data: &mut Dataset) -> Result<()> {
        self.apply_features(data)?;
        for v in &mut data.y {
            *v = ((*v as f64 - self.target_mean) / self.target_std) as f32;
        }
        Ok(())
    }

    /// Network outputs (standardised) back in the target's units.
    pub fn unstandardize_target(&self, yhat: &mut [f64]) {
        for v in yhat {
            *v = *v * self.target_std + self.target_mean;
        }
    }

    /// Checks statistics read from a file: one per feature, finite, std > 0.
    pub fn check(&self, features: usize) -> std::result::Result<(), String> {
        if self.feature_mean.len() != features || self.feature_std.len() != features {
            return Err(format!(
                "holds {} means and {} standard deviations for {}",
                self.feature_mean.len(),
                self.feature_std.len(),
                crate::units::count(features, "feature")
            ));
        }
        let means = self.feature_mean.iter().chain([&self.target_mean]);
        let stds = self.feature_std.iter().chain([&self.target_std]);
        if means.clone().any(|m| !m.is_finite())
            || stds.clone().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(
                "holds a non-finite mean or a standard deviation that is not positive".into(),
            );
        }
        Ok(())
    }
}

/// How far past its training range, in widths of that range, a feature's
/// value must lie for [`FeatureRanges::far`] to count it: a quarter. On
/// 10,000 training rows of a normal feature that is past about 5.8
/// standard deviations (odds of 10⁻⁸ a row); a date a year past three
/// years of training dates is past it.
pub const FAR_PAST_RANGE: f64 = 0.25;

/// Each feature's smallest and largest value over the rows a model was
/// trained on, in the file's units (a date's in days since 1970-01-01),
/// kept with the model so that `predict` can say which of its rows lie
/// far outside what training measured ([`FeatureRanges::far`]): there a
/// network extrapolates, and a sigmoid or tanh unit saturates, whatever
/// the true relation does.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureRanges {
    /// (f)
    pub min: Vec<f64>,
    /// (f), each at least its feature's min
    pub max: Vec<f64>,
}

/// Where [`FeatureRanges::far`] found a feature far outside its range.
#[derive(Clone, Debug, PartialEq)]
pub struct FarFeature {
    /// The feature, from 0, in the model's order.
    pub feature: usize,
    /// The rows with such a value.
    pub rows: usize,
    /// The first of them, from 0.
    pub first_row: usize,
    /// The value furthest from the range.
    pub furthest: f64,
}

impl FeatureRanges {
    /// Each feature's range over the numbers of `data`; none where a
    /// feature has no finite number (no range to compare with).
    pub fn fit(data: &Dataset) -> Option<FeatureRanges> {
        let f = data.features;
        let mut min = vec![f64::INFINITY; f];
        let mut max = vec![f64::NEG_INFINITY; f];
        for row in data.x.chunks_exact(f.max(1)) {
            for ((lo, hi), &v) in min.iter_mut().zip(max.iter_mut()).zip(row) {
                if v.is_finite() {
                    *lo = lo.min(f64::from(v));
                    *hi = hi.max(f64::from(v));
                }
            }
        }
        let ranges = FeatureRanges { min, max };
        ranges.check(f).is_ok().then_some(ranges)
    }

    /// The ranges that hold both `self`'s and `other`'s (of as many
    /// features).
    pub fn union(&self, other: &FeatureRanges) -> FeatureRanges {
        let pairs = |a: &[f64], b: &[f64], pick: fn(f64, f64) -> f64| -> Vec<f64> {
            a.iter().zip(b).map(|(&a, &b)| pick(a, b)).collect()
        };
        FeatureRanges {
            min: pairs(&self.min, &other.min, f64::min),
            max: pairs(&self.max, &other.max, f64::max),
        }
    }

    /// The features of `data` (in the same order) with values past their
    /// range by more than [`FAR_PAST_RANGE`] of its width, in feature
    /// order, with how many rows have any such value. A feature whose
    /// training rows all held one value (a constant column, a one-hot
    /// level never seen) has no width to measure by and is left out, as
    /// are rows with a missing cell (NaN), which `predict` leaves
    /// unpredicted.
    pub fn far(&self, data: &Dataset) -> (usize, Vec<FarFeature>) {
        let f = data.features;
        let mut found: Vec<Option<FarFeature>> = vec![None; f];
        let mut rows = 0;
        for (n, row) in data.x.chunks_exact(f.max(1)).enumerate() {
            if row.iter().any(|v| v.is_nan()) {
                continue;
            }
            let mut any = false;
            for (j, &v) in row.iter().enumerate() {
                let (lo, hi) = (self.min[j], self.max[j]);
                let margin = FAR_PAST_RANGE * (hi - lo);
                let v = f64::from(v);
                let past = (lo - v).max(v - hi);
                if !(margin > 0.0 && past > margin) {
                    continue;
                }
                any = true;
                let far = found[j].get_or_insert(FarFeature {
                    feature: j,
                    rows: 0,
                    first_row: n,
                    furthest: v,
                });
                far.rows += 1;
                if past > (lo - far.furthest).max(far.furthest - hi) {
                    far.furthest = v;
                }
            }
            rows += usize::from(any);
        }
        (rows, found.into_iter().flatten().collect())
    }

    /// Checks ranges read from a file: one per feature, finite, each min
    /// at most its max.
    pub fn check(&self, features: usize) -> std::result::Result<(), String> {
        if self.min.len() != features || self.max.len() != features {
            return Err(format!(
                "holds {} minimums and {} maximums for {}",
                self.min.len(),
                self.max.len(),
                crate::units::count(features, "feature")
            ));
        }
        let bad = |(lo, hi): (&f64, &f64)| !(lo.is_finite() && hi.is_finite() && lo <= hi);
        if self.min.iter().zip(&self.max).any(bad) {
            return Err(
                "holds a range that is not finite or whose minimum is above its maximum".into(),
            );
        }
        Ok(())
    }
}

/// How [`Imputation`] chooses a feature's value for its missing cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// The mean of the training rows' numbers (`--missing mean`).
    Mean,
    /// Their median (`--missing median`): the middle number, or the mean
    /// of the two middle ones, which an outlier does not move.
    Median,
}

impl Fill {
    /// "mean" or "median", as the option and the messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Fill::Mean => "mean",
            Fill::Median => "median",
        }
    }
}

/// Values for missing feature cells (`train --missing mean` or `median`):
/// each feature's mean, or median, over the training rows that have a
/// number there, in f64, stored with the model so `predict` fills its
/// missing cells with the same values (sklearn's
/// `SimpleImputer(strategy="mean")` and `"median"`). A cell is filled with
/// its value rounded to f32, as the data are held. The values are of the
/// raw numbers: a run that also standardises fills the cells first and
/// fits its statistics on the filled rows. Exactly one of the two lists
/// is given.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imputation {
    /// (f) with `--missing mean`; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_mean: Vec<f64>,
    /// (f) with `--missing median`; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_median: Vec<f64>,
}

impl Imputation {
    /// Each feature's mean or median (`fill`) over the cells of `data`
    /// that are not NaN (a missing cell, as [`ColumnUse::NumberOrMissing`]
    /// reads it): a mean summed in f64 in row order, a median from the
    /// numbers sorted. A feature with no number is an error that names it.
    /// The level features of a one-hot encoded column (`categories`) take
    /// the mean of their 0s and 1s, the level's share, either way; with
    /// `median`, the column's most common level instead (1 for it, 0 for
    /// the others; the first in byte order of those as common), as the
    /// median of a category is not defined.
    pub fn fit(data: &Dataset, fill: Fill, categories: &[Category]) -> Result<Imputation> {
        let f = data.features;
        // Means in one pass over the rows; each median from its column.
        let (mut sum, mut count) = (vec![0.0f64; f], vec![0usize; f]);
        for row in data.x.chunks_exact(f.max(1)) {
            for ((s, n), &v) in sum.iter_mut().zip(count.iter_mut()).zip(row) {
                if !v.is_nan() {
                    *s += v as f64;
                    *n += 1;
                }
            }
        }
        if let Some(j) = count.iter().position(|&n| n == 0) {
            // A one-hot level's feature is missing with its column's cell:
            // the column is what --ignore can leave out.
            let feature = &data.feature_names[j];
            let (what, name, none) = match column_of_level(categories).get(feature) {
                Some(column) => ("the one-hot column", escaped(column), "level"),
                None => ("the feature", escaped(feature), "number"),
            };
            return Err(Error::Config(format!(
                "{what} '{name}' has no {none} in the {} trained on, so --missing {} has no {} to fill it with; --ignore {} leaves it unread",
                crate::units::count(data.rows, "row"),
                fill.name(),
                fill.name(),
                crate::units::shell_word(&name)
            )));
        }
        // The middle number (n odd), or the mean of the two middle ones:
        // the (n/2)th in order, and the largest of those before it.
        let median = |j: usize| {
            let column = data.x.iter().skip(j).step_by(f.max(1));
            let mut numbers: Vec<f32> = column.filter(|v| !v.is_nan()).copied().collect();
            let n = numbers.len();
            let (before, &mut upper, _) = numbers.select_nth_unstable_by(n / 2, f32::total_cmp);
            let lower = match n % 2 {
                1 => upper,
                _ => before
                    .iter()
                    .copied()
                    .max_by(f32::total_cmp)
                    .unwrap_or(upper),
            };
            (lower as f64 + upper as f64) / 2.0
        };
        // Level features take their column's most common level instead.
        let levels = column_of_level(categories);
        let mut values: Vec<f64> = match fill {
            Fill::Mean => sum.iter().zip(&count).map(|(s, &n)| s / n as f64).collect(),
            Fill::Median => (0..f)
                .map(|j| match levels.contains_key(&data.feature_names[j]) {
                    true => 0.0,
                    false => median(j),
                })
                .collect(),
        };
        if fill == Fill::Median {
            // A level feature's sum is its count of 1s.
            most_common_levels(&mut values, &sum, &data.feature_names, categories);
        }
        Ok(match fill {
            Fill::Mean => Imputation {
                feature_mean: values,
                feature_median: Vec::new(),
            },
            Fill::Median => Imputation {
                feature_mean: Vec::new(),
                feature_median: values,
            },
        })
    }

    /// Whether the values are means or medians.
    pub fn fill(&self) -> Fill {
        match self.feature_mean.is_empty() {
            true => Fill::Median,
            false => Fill::Mean,
        }
    }

    /// The value of each feature.
    pub fn values(&self) -> &[f64] {
        match self.fill() {
            Fill::Mean => &self.feature_mean,
            Fill::Median => &self.feature_median,
        }
    }

    /// Fills every NaN feature cell of `data` with its feature's value,
    /// rounded to f32; returns how many cells of each feature were filled.
    pub fn apply(&self, data: &mut Dataset) -> Vec<usize> {
        let fill: Vec<f32> = self.values().iter().map(|&m| m as f32).collect();
        let mut filled = vec![0usize; fill.len()];
        for row in data.x.chunks_exact_mut(data.features.max(1)) {
            for ((v, &m), n) in row.iter_mut().zip(&fill).zip(filled.iter_mut()) {
                if v.is_nan() {
                    *v = m;
                    *n += 1;
                }
            }
        }
        filled
    }

    /// Checks values read from a file: means or medians, not both, one per
    /// feature, each finite in f32.
    pub fn check(&self, features: usize) -> std::result::Result<(), String> {
        match (self.feature_mean.is_empty(), self.feature_median.is_empty()) {
            (false, false) => {
                return Err("holds both means and medians; expected one of them".into())
            }
            (true, true) => return Err("holds neither means nor medians".into()),
            _ => {}
        }
        let word = self.fill().name();
        let values = self.values();
        if values.len() != features {
            return Err(format!(
                "holds {} for {}",
                crate::units::count(values.len(), word),
                crate::units::count(features, "feature")
            ));
        }
        if values.iter().any(|&m| !(m as f32).is_finite()) {
            return Err(format!("holds a {word} that is not a finite f32"));
        }
        Ok(())
    }
}

/// Sets the values of each one-hot encoded column's level features (of
/// the features `names`) to 1 for its most common level, the one with the
/// most 1s (`ones`, by feature; the first in byte order of those as
/// common), and 0 for the others.
fn most_common_levels(values: &mut [f64], ones: &[f64], names: &[String], categories: &[Category]) {
    let index = positions(names);
    for c in categories {
        let at: Vec<usize> = (c.feature_names().iter())
            .filter_map(|n| index.get(n.as_str()).copied())
            .collect();
        let most = at
            .iter()
            .map(|&j| ones[j])
            .fold(f64::NEG_INFINITY, f64::max);
        let first = at.iter().position(|&j| ones[j] == most);
        for (k, &j) in at.iter().enumerate() {
            values[j] = (Some(k) == first) as u8 as f64;
        }
    }
}

/// The cells [`Imputation::apply`] filled with `fill`'s values, by column
/// (`columns`, as [`by_column`] gives them), as "12 missing cells with the
/// training means (b: 10, c: 2)"; `None` where none was.
pub fn filled_cells(columns: &[(String, usize)], fill: Fill) -> Option<String> {
    let total: usize = columns.iter().map(|(_, n)| n).sum();
    let columns: Vec<String> = (columns.iter())
        .filter(|&(_, n)| *n > 0)
        .map(|(name, n)| format!("{}: {n}", shown_name(name)))
        .collect();
    (total > 0).then(|| {
        format!(
            "{} with the training {}s ({})",
            crate::units::count(total, "missing cell"),
            fill.name(),
            columns.join(", ")
        )
    })
}

/// y = sin(π·x0)·cos(π·x1) + 0.5·x2 for one row of features (terms for
/// missing features dropped), computed in f64.
pub fn synthetic_target(row: &[f32]) -> f32 {
    let x = |j: usize| row.get(j).map(|&v| v as f64);
    let mut y = (PI * x(0).unwrap_or(0.0)).sin();
    if let Some(x1) = x(1) {
        y *= (PI * x1).cos();
    }
    if let Some(x2) = x(2) {
        y += 0.5 * x2;
    }
    y as f32
}

pub(crate) fn check_shape(rows: usize, features: usize) -> Result<()> {
    if rows == 0 {
        return Err(Error::Config("the data set needs at least one row".into()));
    }
    if features == 0 {
        return Err(Error::Config(
            "the data set needs at least one feature".into(),
        ));
    }
    Ok(())
}

/// What identifies a data file's contents, recorded in checkpoints so a
/// resumed run can tell its data from a regenerated or edited file: the
/// rows and columns, and FNV-1a 64 over the column names (each as UTF-8
/// and a 0 byte) and then every cell's f32 bits (little-endian), row by
/// row. Formatting (`1` or `1.0`, spaces, CRLF) does not change it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataDigest {
    pub rows: usize,
    pub columns: usize,
    /// 16 hex digits.
    pub fnv1a64: String,
}

impl DataDigest {
    /// What differs between `self` (a file's) and `want` (a checkpoint's),
    /// in words; empty when nothing does.
    pub fn differences(&self, want: &DataDigest) -> Vec<String> {
        let mut out = Vec::new();
        if self.rows != want.rows {
            out.push(format!("{} rows, not {}", self.rows, want.rows));
        }
        if self.columns != want.columns {
            out.push(format!("{} columns, not {}", self.columns, want.columns));
        }
        if out.is_empty() && self.fnv1a64 != want.fnv1a64 {
            out.push(format!(
                "other values, or its columns in another order (FNV-1a digest {}, not {}, of the cells in the file's order)",
                self.fnv1a64, want.fnv1a64
            ));
        }
        out
    }
}

/// The least a piece of a CSV file's rows parsed on a thread of its own
/// takes ([`Table::parse_in`]): below it a thread costs more than it saves.
pub const PIECE_BYTES: usize = 1 << 20;

/// About how much of a CSV file [`Table::read`] holds at a time: the
/// chunk's bytes, beside the cells parsed so far.
pub const CHUNK_BYTES: usize = 64 << 20;

/// The UTF-8 byte-order mark, skipped at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `file` onto the end of `buf` until it holds at least `len` bytes
/// or the file ends; whether it ended. Where the memory cannot hold
/// `len` bytes (a line of gigabytes, which the reader holds whole), an
/// error that says so, where the allocator would abort.
fn fill(path: &Path, file: &mut impl std::io::Read, buf: &mut Vec<u8>, len: usize) -> Result<bool> {
    let mut have = buf.len();
    if have >= len {
        return Ok(false);
    }
    if buf.try_reserve_exact(len - have).is_err() {
        return Err(out_of_memory(
            path,
            format!(
                "out of memory with {} of its text held: the reader holds a chunk of it at a time, but a whole line where a line is longer (and a file whose lines end in a lone carriage return whole), beside the cells read",
                crate::units::bytes(have as u64)
            ),
        ));
    }
    // Zeroed once: a pipe gives 64 KiB a read, and zeroing the rest of the
    // chunk again before each read made reading a pipe mostly memset.
    buf.resize(len, 0);
    let ended = loop {
        if have == len {
            break Ok(false);
        }
        match file.read(&mut buf[have..]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) => break Ok(true),
            Ok(n) => have += n,
            Err(e) => break Err(Error::io(path, e)),
        }
    };
    buf.truncate(have);
    ended
}

/// Whether `bytes` (a file's first) hold a line end after their first
/// byte that is neither whitespace nor in the byte-order mark: a header's
/// line, whole.
fn has_a_whole_line(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|i| bytes[i..].contains(&b'\n'))
}

/// The first chunk of `file` (`chunk_bytes`, or more until it holds the
/// header's line whole), and whether the file ended in it. A zero byte
/// before the header's line ends is a binary file's (or UTF-16 text's):
/// no more is read, and [`Head::parse`] says which (`/dev/zero` has no
/// end, nor a line).
fn read_head(
    path: &Path,
    file: &mut impl std::io::Read,
    chunk_bytes: usize,
    delimiter: Delimiter,
) -> Result<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    let mut eof = fill(path, file, &mut buf, chunk_bytes.max(1))?;
    loop {
        if eof || has_a_whole_line(&buf) {
            return Ok((buf, eof));
        }
        if buf.contains(&0) {
            // Refused there; where it is not, read on.
            Head::parse(path, &buf, delimiter)?;
        }
        let len = 2 * buf.len();
        eof = fill(path, file, &mut buf, len)?;
    }
}

/// A file read whole, once (it may be a pipe), where its first line is
/// text ([`read_head`]).
fn read_whole(path: &Path, delimiter: Delimiter) -> Result<Vec<u8>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let (mut bytes, _) = read_head(path, &mut file, CHUNK_BYTES, delimiter)?;
    read_rest(path, &mut file, &mut bytes)?;
    Ok(bytes)
}

/// The rest of `file` (`path`) read on into `buf`; where the memory
/// cannot hold it, an error that says how much was read, rather than
/// std's bare "out of memory".
fn read_rest(path: &Path, file: &mut std::fs::File, buf: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    file.read_to_end(buf).map(drop).map_err(|e| match e.kind() {
        std::io::ErrorKind::OutOfMemory => out_of_memory(
            path,
            format!(
                "out of memory with {} of it read: this file is read whole, its text held beside its cells, and {CELLS_IN_MEMORY}",
                crate::units::bytes(buf.len() as u64)
            ),
        ),
        _ => Error::io(path, e),
    })
}

/// The error of a read of `path` that the memory cannot hold, saying
/// `what` of it.
fn out_of_memory(path: &Path, what: String) -> Error {
    Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::OutOfMemory, what),
    )
}

/// The length of `bytes` up to and with their last `\n` (0 without one).
fn whole_lines(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// The byte between a CSV file's cells (`--delimiter`): a comma, a
/// semicolon, a tab or a bar. Every reader of a file's cells takes it;
/// quotes, blank lines and line ends read the same under each (a line of
/// whitespace alone is blank, but one that holds the delimiter is a row
/// of empty cells: under tab, a line of tabs), and a number's decimal
/// mark is a point under each unless [`CsvFormat::decimal_comma`]. A
/// checkpoint records it as `,`, `;`, `tab` or `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Delimiter {
    #[default]
    #[serde(rename = ",")]
    Comma,
    #[serde(rename = ";")]
    Semicolon,
    #[serde(rename = "tab")]
    Tab,
    #[serde(rename = "|")]
    Bar,
}

impl Delimiter {
    pub const ALL: [Delimiter; 4] = [
        Delimiter::Comma,
        Delimiter::Semicolon,
        Delimiter::Tab,
        Delimiter::Bar,
    ];

    /// The byte itself.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
            Delimiter::Bar => b'|',
        }
    }

    /// What `--delimiter` takes for it, as a shell word: `,`, `';'`, `tab`,
    /// `'|'`.
    pub fn flag(self) -> &'static str {
        match self {
            Delimiter::Comma => ",",
            Delimiter::Semicolon => "';'",
            Delimiter::Tab => "tab",
            Delimiter::Bar => "'|'",
        }
    }

    /// Its name in the plural, as a message says a file is separated by it.
    pub fn plural(self) -> &'static str {
        match self {
            Delimiter::Comma => "commas",
            Delimiter::Semicolon => "semicolons",
            Delimiter::Tab => "tabs",
            Delimiter::Bar => "bars",
        }
    }

    /// `--delimiter`'s value: the character (a tab as itself or `\t`) or
    /// its name (comma, semicolon, tab, bar), any case.
    pub fn parse(text: &str) -> std::result::Result<Delimiter, String> {
        let found = match text.to_ascii_lowercase().as_str() {
            "," | "comma" => Delimiter::Comma,
            ";" | "semicolon" => Delimiter::Semicolon,
            "\t" | "\\t" | "tab" => Delimiter::Tab,
            "|" | "bar" | "pipe" => Delimiter::Bar,
            _ => {
                return Err(format!(
                    "'{}' is not a delimiter shadertrain reads; expected , (comma), ';' (semicolon), tab or '|' (bar)",
                    escaped(text)
                ))
            }
        };
        Ok(found)
    }

    /// Whether it is the comma, the default.
    pub fn is_comma(&self) -> bool {
        *self == Delimiter::Comma
    }
}

/// How a CSV file writes its cells: what separates them (`--delimiter`),
/// and whether a number's decimal mark is a comma (`--decimal-comma`:
/// `1,5` is 1.5, and a number with a point is an error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvFormat {
    pub delimiter: Delimiter,
    pub decimal_comma: bool,
}

/// Cells separated by the delimiter, numbers with a decimal point.
impl From<Delimiter> for CsvFormat {
    fn from(delimiter: Delimiter) -> CsvFormat {
        CsvFormat {
            delimiter,
            decimal_comma: false,
        }
    }
}

impl CsvFormat {
    /// The format, or why a comma cannot be both marks.
    pub fn new(delimiter: Delimiter, decimal_comma: bool) -> Result<CsvFormat> {
        if decimal_comma && delimiter.is_comma() {
            return Err(Error::Config(
                "--decimal-comma needs --delimiter ';', tab or '|': a comma cannot both separate the cells and mark their decimals".into(),
            ));
        }
        Ok(CsvFormat {
            delimiter,
            decimal_comma,
        })
    }
}

/// The error of `path` at a line and column; one at bytes that are not
/// UTF-8 says what the file perhaps is, and how to convert it.
fn csv_error(path: &Path) -> impl Fn(u64, usize, String) -> Error + Sync + '_ {
    move |line, column, message| Error::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message: match message.contains(NOT_UTF8) {
            true => message + &encoding_hint(path),
            false => message,
        },
    }
}

/// What every error at bytes that are not UTF-8 says.
const NOT_UTF8: &str = "is not valid UTF-8";

/// What follows an error at bytes of `path` that are not UTF-8: the
/// encoding a spreadsheet outside UTF-8 writes (Excel's "CSV"), and the
/// command that converts the file.
fn encoding_hint(path: &Path) -> String {
    let file = path.display().to_string();
    let convert = match file.as_str() {
        "-" | "/dev/stdin" => "iconv -f cp1252 -t utf-8 before the pipe".to_string(),
        _ => {
            let stem = path
                .file_stem()
                .map_or("data".into(), |s| s.to_string_lossy());
            let new = path.with_file_name(format!("{stem}-utf8.csv"));
            format!(
                "iconv -f cp1252 -t utf-8 {} > {}",
                crate::units::shell_word(&file),
                crate::units::shell_word(&new.display().to_string())
            )
        }
    };
    format!("; the file is perhaps Windows-1252 or Latin-1 (a spreadsheet's \"CSV\" outside UTF-8): save it as \"CSV UTF-8\", or convert it ({convert})")
}

/// [`csv_error`] for the rows under `head`: where its header looks read
/// at the wrong delimiter ([`Head::hint`]), every message says the file
/// looks separated by another, which is what the rows' errors then come
/// from.
fn rows_error<'a>(path: &'a Path, head: &Head) -> impl Fn(u64, usize, String) -> Error + Sync + 'a {
    let hint = head.hint.clone();
    let err = csv_error(path);
    move |line, column, message| match &hint {
        Some(hint) => err(line, column, message + hint),
        None => err(line, column, message),
    }
}

/// What every [`separator_hint`] says.
const LOOKS_SEPARATED: &str = "the file looks separated by";

/// Where `header`, read at `delimiter`, looks read at the wrong one: the
/// other delimiter (a comma, a semicolon, a tab or a bar) its names hold
/// most is held by its only name, or, where it has several (a name with a
/// comma cut `id;Preis (EUR, netto);y` in two), as many times as there are
/// names and as many times in `first_row`, the line after it. Then: that
/// the file looks separated by it, and the `--delimiter` that reads it,
/// with `--decimal-comma` where a cell of `first_row` is a number only a
/// decimal comma reads. Names that hold one now and then (`a;b,c;d` over
/// `1,2`) are no sign.
fn separator_hint(
    header: &[String],
    delimiter: Delimiter,
    first_row: Option<&[u8]>,
) -> Option<String> {
    let held = |d: Delimiter| {
        (header.iter())
            .map(|n| n.matches(d.byte() as char).count())
            .sum::<usize>()
    };
    let (other, count) = (Delimiter::ALL.into_iter())
        .filter(|d| *d != delimiter)
        .map(|d| (d, held(d)))
        .max_by_key(|&(_, n)| n)?;
    let in_row = |row: &[u8]| row.iter().filter(|&&b| b == other.byte()).count() == count;
    let names = match header {
        [name] if count > 0 => format!("the header is one column, '{}'", escaped(name)),
        [_, _, ..] if count >= header.len() && first_row.is_some_and(in_row) => format!(
            "the header's {} names hold {count} {}",
            header.len(),
            other.plural()
        ),
        _ => return None,
    };
    // A file separated otherwise may mark decimals with a comma (as
    // spreadsheets in much of Europe write both): a cell of the row, cut
    // at `other`, that only a decimal comma reads.
    let comma_decimal = |cell: &[u8]| {
        let text = std::str::from_utf8(cell).unwrap_or_default().trim_ascii();
        text.contains(',') && read_number(text, true).is_some()
    };
    let decimal_comma = match (other.is_comma(), first_row) {
        (false, Some(row)) if row.split(|&b| b == other.byte()).any(comma_decimal) => {
            " --decimal-comma (its numbers mark their decimals with a comma)"
        }
        _ => "",
    };
    Some(format!(
        "; {names}: {LOOKS_SEPARATED} {}, and this command reads cells separated by {}: pass --delimiter {}{decimal_comma}",
        other.plural(),
        delimiter.plural(),
        other.flag()
    ))
}

/// A [`separator_hint`] as it reads under `format`: one that asks for
/// commas tells a run with `--decimal-comma` to leave that out too, since
/// commas cannot both separate cells and mark decimals.
fn hint_under(hint: String, format: CsvFormat) -> String {
    match format.decimal_comma && hint.ends_with(" --delimiter ,") {
        true => hint + " and leave out --decimal-comma",
        false => hint,
    }
}

/// A file with a header on `header_line` and no rows after it.
fn no_rows(path: &Path, header_line: u64) -> Error {
    csv_error(path)(header_line + 1, 0, NO_ROWS.into())
}

/// [`no_rows`]' message.
const NO_ROWS: &str =
    "the file has a header but no data rows; expected at least one row of numbers";

/// Whether `e` is the error of a file with a header and no rows after
/// it, whose columns were read and found as asked.
pub fn has_no_rows(e: &Error) -> bool {
    matches!(e, Error::Csv { message, .. } if message == NO_ROWS)
}

/// A CSV file's header: its first record that is not a blank line.
struct Head {
    header: Vec<String>,
    /// The header's line.
    line: u64,
    /// Where the rows start: the byte after the header's record, and its line.
    at: usize,
    body_line: u64,
    /// What separates the cells, the header's and the rows'.
    delimiter: Delimiter,
    /// Where the header looks read at the wrong delimiter, the hint that
    /// says so ([`separator_hint`], of the header and the row after it).
    hint: Option<String>,
}

impl Head {
    /// The header at the start of `bytes` (a file's, its byte-order mark
    /// skipped), its names separated by `delimiter`, or why there is none.
    fn parse(path: &Path, bytes: &[u8], delimiter: Delimiter) -> Result<Head> {
        let err = csv_error(path);
        let empty = || {
            err(
                1,
                0,
                "the file is empty; expected a header row naming the columns".into(),
            )
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(empty());
        }
        if looks_utf16(bytes) {
            return Err(err(
                1,
                0,
                "the file looks like UTF-16 text (a UTF-16 byte-order mark, or a zero byte beside each character); expected UTF-8: save it as UTF-8 (in Excel, \"CSV UTF-8\")".into(),
            ));
        }
        if let Some((format, tool)) = compressed(bytes) {
            let file = path.display().to_string();
            let stdin = matches!(file.as_str(), "/dev/stdin" | "-");
            let file = crate::units::shell_word(&file);
            let message = match (format, stdin) {
                // A spreadsheet (.xlsx, .ods) is a zip archive too, and
                // unzip reads no archive from a pipe.
                ("zip", true) => "the input is a zip archive (a spreadsheet's .xlsx or .ods is one); expected CSV text: save the sheet as CSV (in Excel, \"CSV UTF-8\"), or unpack a zipped CSV to a file first".to_string(),
                ("zip", false) => format!("the file is a zip archive (a spreadsheet's .xlsx or .ods is one); expected CSV text: save the sheet as CSV (in Excel, \"CSV UTF-8\"), or unpack a zipped CSV (`unzip -p {file} | shadertrain … --data -`)"),
                (_, true) => format!("the input is {format}-compressed; expected CSV text: unpack it before the pipe (`… | {tool} | shadertrain … --data -`)"),
                (_, false) => format!("the file is {format}-compressed; expected CSV text: shadertrain reads no compressed file, but its standard input takes one unpacked (`{tool} {file} | shadertrain … --data -`)"),
            };
            return Err(err(1, 0, message));
        }
        if let Some(message) = other_file(bytes) {
            return Err(err(1, 0, message.into()));
        }
        let mut reader = csv_reader(bytes, delimiter);
        let mut record = csv::ByteRecord::new();
        let line = loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) if is_blank(&record) => continue,
                Ok(true) => break Lines::new(bytes, 1).of(record.position()),
                Ok(false) => return Err(empty()),
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Err(err(line, 0, format!("unreadable CSV: {e}")));
                }
            }
        };
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let span = &bytes[start..reader.position().byte() as usize];
        if let Some(cell) = open_quote(span, delimiter) {
            return Err(err(line, cell + 1, QUOTE_NEVER_CLOSED.into()));
        }
        let mut header: Vec<String> = Vec::with_capacity(record.len());
        // Each name's first column, so that a wide header is checked in
        // one pass (100,000 columns: milliseconds, not seconds).
        let mut seen = HashMap::with_capacity(record.len());
        for (j, raw) in record.iter().enumerate() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| err(line, j + 1, "the column name is not valid UTF-8".into()))?;
            // A column with no name (a row index, first) may be one a
            // caller leaves unread ([`unnamed_columns`] checks), as may
            // several.
            if name.is_empty() {
                header.push(String::new());
                continue;
            }
            if let Some(first) = seen.insert(name, j) {
                return Err(err(
                    line,
                    j + 1,
                    format!(
                        "duplicate column name '{name}' (also column {}); names must be unique",
                        first + 1
                    ),
                ));
            }
            header.push(name.to_string());
        }
        let at = reader.position().byte() as usize;
        let first_row = (bytes[at..].split(|&b| b == b'\n' || b == b'\r'))
            .find(|row| !row.trim_ascii().is_empty());
        Ok(Head {
            hint: separator_hint(&header, delimiter, first_row),
            header,
            line,
            at,
            body_line: 1 + line_ends(bytes, 0..at),
            delimiter,
        })
    }

    /// The header of a file read as `format` says: its hint
    /// ([`hint_under`]) made to fit.
    fn under(mut self, format: CsvFormat) -> Head {
        self.hint = self.hint.map(|h| hint_under(h, format));
        self
    }

    /// An error about this header's names (a `Choose`'s, at line 1) at
    /// its line; where the header is one name that holds another
    /// delimiter, with the hint that names it ([`separator_hint`]), as the
    /// rows' errors have.
    fn error(&self, e: Error) -> Error {
        match on_line(self.line)(e) {
            Error::Csv {
                path,
                line,
                column,
                message,
            } if !message.contains(LOOKS_SEPARATED) => {
                let hint = self.hint.clone().unwrap_or_default();
                Error::Csv {
                    path,
                    line,
                    column,
                    message: message + &hint,
                }
            }
            e => e,
        }
    }
}

/// The format of a compressed file (`bytes` its start, by the format's
/// magic number) and the tool that writes it unpacked to standard output;
/// `None` for any other file.
fn compressed(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    const MAGIC: [(&[u8], &str, &str); 4] = [
        (&[0x1F, 0x8B], "gzip", "zcat"),
        (&[0x28, 0xB5, 0x2F, 0xFD], "zstd", "zstdcat"),
        (&[0xFD, b'7', b'z', b'X', b'Z', 0x00], "xz", "xzcat"),
        (b"PK\x03\x04", "zip", "unzip -p"),
    ];
    // bzip2's "BZh" could start a column's name: its block size (a digit)
    // and its first block's magic number follow.
    let bzip2 = bytes.len() >= 10
        && bytes.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&bytes[3])
        && bytes[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
    if bzip2 {
        return Some(("bzip2", "bzcat"));
    }
    (MAGIC.iter())
        .find(|(magic, _, _)| bytes.starts_with(magic))
        .map(|&(_, format, tool)| (format, tool))
}

/// What a file that `bytes` start is, where it is a kind given for rows
/// by mistake: a model (safetensors: a header's length in 8 bytes, then
/// that much JSON), Apache Parquet (`PAR1`, then binary bytes), or any
/// other binary file (a zero byte in the first line). `None` for any
/// other.
fn other_file(bytes: &[u8]) -> Option<&'static str> {
    if crate::io::starts_as_safetensors(bytes, bytes.len() as u64) {
        return Some("the file is a model (safetensors), not rows; expected CSV text: a model is read by predict --model or train --init, a checkpoint by train --resume");
    }
    if bytes.starts_with(crate::io::HISTORY_MAGIC) {
        return Some("the file is a checkpoint's history (it starts with STHIST01), which the checkpoint beside it reads, not rows; expected CSV text");
    }
    // A header could begin "PAR1,": Parquet's magic number is followed by
    // its first page's binary header.
    let binary = |b: &u8| *b < 0x09 || (0x0e..0x20).contains(b);
    if bytes.starts_with(b"PAR1") && bytes[4..].iter().take(12).any(binary) {
        return Some("the file is Apache Parquet; expected CSV text: write it as CSV first (with pandas, pd.read_parquet(FILE).to_csv(OUT, index=False))");
    }
    // No text holds a zero byte (UTF-16's, beside each character, are
    // found before this); a header line with one is of a binary file.
    let text = bytes.strip_prefix(BOM).unwrap_or(bytes).trim_ascii_start();
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    if first_line.contains(&0) {
        return Some("the file's first line holds zero bytes (NUL), which no UTF-8 text does: it is not a text file (an image, a program, a disk's raw bytes?), or it is UTF-16 text without a byte-order mark; expected CSV text in UTF-8");
    }
    None
}

/// Whether `bytes` start as UTF-16 text does (Excel's "Unicode Text",
/// PowerShell's files): with its byte-order mark, or as ASCII in UTF-16,
/// each character's byte beside a zero byte, in at least 3 of 4 of the
/// first 32 pairs (a binary file's zero bytes are not so regular).
fn looks_utf16(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let pairs: Vec<&[u8]> = bytes.chunks_exact(2).take(32).collect();
    let most = |zero_at: usize| {
        let ascii = |p: &&&[u8]| {
            let c = p[1 - zero_at];
            p[zero_at] == 0 && c != 0 && c.is_ascii()
        };
        pairs.len() >= 2 && 4 * pairs.iter().filter(ascii).count() >= 3 * pairs.len()
    };
    most(0) || most(1)
}

/// The reader every piece of a CSV file is parsed with: cells separated
/// by `delimiter`, no header (the header is read first, as a record), rows
/// of any length (checked against the header with their line), whitespace
/// around cells trimmed.
fn csv_reader(bytes: &[u8], delimiter: Delimiter) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter.byte())
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

/// A blank line, which csv yields as one empty field.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].is_empty()
}

/// Whether every cell of `record` is empty or ASCII whitespace ([`BLANK_ROW`]).
fn is_blank_row(record: &csv::ByteRecord) -> bool {
    record.iter().all(|cell| cell.trim_ascii().is_empty())
}

/// `bytes` cut into at most `pieces` pieces, each ending after a `\n` (or
/// at the end).
fn cut_at_line_ends(bytes: &[u8], pieces: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(pieces);
    let mut start = 0;
    for k in 1..=pieces {
        let aim = (bytes.len() * k / pieces).max(start);
        let end = match bytes[aim..].iter().position(|&b| b == b'\n') {
            Some(i) if k < pieces => aim + i + 1,
            _ => bytes.len(),
        };
        if end > start {
            out.push(&bytes[start..end]);
        }
        start = end;
    }
    out
}

/// The line ends in `range` of `bytes`: `\r\n`, `\n`, or a `\r` alone
/// (not followed by `\n` in `bytes`), as the csv reader takes them.
fn line_ends(bytes: &[u8], range: std::ops::Range<usize>) -> u64 {
    let start = range.start;
    let part = &bytes[range];
    // Both bytes counted in one pass, in u8 sums of 255 bytes at most:
    // byte-wide sums vectorise 16 bytes to an instruction on baseline
    // x86-64, where a u64 count widened each byte and took 4 a step (it
    // was a sixth of the CPU time of reading a 1e6-row file). The pairs
    // are looked for only where there are carriage returns.
    let (mut lf, mut cr) = (0u64, 0u64);
    for chunk in part.chunks(255) {
        let (mut l, mut c) = (0u8, 0u8);
        for &b in chunk {
            l += u8::from(b == b'\n');
            c += u8::from(b == b'\r');
        }
        lf += u64::from(l);
        cr += u64::from(c);
    }
    if cr == 0 {
        return lf;
    }
    let crlf = part
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\r' && bytes.get(start + i + 1) == Some(&b'\n'))
        .count() as u64;
    lf + cr - crlf
}

/// The line of each record of a piece, counted from the piece's first
/// line. The csv reader's own count lags by one line after a `\r\n`:
/// it takes a record's position before it reads the `\n` of the line end
/// before it.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Bytes counted so far, and the line they end on.
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], first_line: u64) -> Lines<'a> {
        Lines {
            bytes,
            at: 0,
            line: first_line,
        }
    }

    /// The line of the record the reader placed at `position` (records in
    /// order): that of its first byte after any line ends.
    fn of(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(p) = position else { return 0 };
        let mut start = (p.byte() as usize).clamp(self.at, self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.line += line_ends(self.bytes, self.at..start);
        self.at = start;
        self.line
    }
}

/// A piece of a CSV file's rows, parsed: its cells (row-major) and row
/// count, or its first error.
type Parsed = Result<(Vec<f32>, usize)>;

/// How a piece of a CSV file's rows is read: each row has `columns`
/// cells, every one a number.
struct Rows<'a, E: Fn(u64, usize, String) -> Error> {
    columns: usize,
    /// The header's names, to say which column a bad cell is in (none in
    /// some tests).
    names: &'a [String],
    /// How each column is read; columns past its end are numbers.
    uses: &'a [ColumnUse],
    header_line: u64,
    delimiter: Delimiter,
    /// A number's decimal mark is a comma ([`CsvFormat::decimal_comma`]).
    decimal_comma: bool,
    err: &'a E,
}

impl<E: Fn(u64, usize, String) -> Error + Sync> Rows<'_, E> {
    /// The rows `body` holds, `before` lines into the file: their cells in
    /// pieces (row-major, in order), their count and `body`'s line ends;
    /// or the first error, at its line in the file. The rows are cut into at most `pieces`
    /// pieces of at least `min_bytes` at line ends and parsed on threads of
    /// their own; `body` with a quote is one piece.
    fn parse_body(
        &self,
        body: &[u8],
        before: u64,
        pieces: usize,
        min_bytes: usize,
    ) -> Result<(Vec<Vec<f32>>, usize, u64)> {
        let pieces = match body.contains(&b'"') {
            true => 1,
            false => pieces.min(body.len() / min_bytes.max(1)).max(1),
        };
        // Each piece counts its lines from 1 and its line ends; its errors'
        // lines then move down by the lines of the pieces before it.
        let parsed: Vec<(Parsed, u64)> = match pieces {
            1 => vec![(self.parse(body), line_ends(body, 0..body.len()))],
            _ => std::thread::scope(|scope| {
                let parse = |piece: &[u8]| (self.parse(piece), line_ends(piece, 0..piece.len()));
                // A piece no thread could be started for (memory short, a
                // limit on threads) is parsed on this one, after the others.
                let threads: Vec<_> = cut_at_line_ends(body, pieces)
                    .into_iter()
                    .map(|piece| {
                        let thread = std::thread::Builder::new();
                        thread
                            .spawn_scoped(scope, move || parse(piece))
                            .map_err(|_| piece)
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| match t {
                        Ok(t) => t.join().expect("a CSV piece's thread panicked"),
                        Err(piece) => parse(piece),
                    })
                    .collect()
            }),
        };
        // The first error, or the pieces' cells in order.
        let (at_start, mut before) = (before, before);
        let mut count = 0;
        let mut cells = Vec::with_capacity(parsed.len());
        for (piece, lines) in parsed {
            let at = before;
            before += lines;
            let (piece, rows) = piece.map_err(|e| match e {
                Error::Csv {
                    path,
                    line,
                    column,
                    message,
                } if line > 0 => Error::Csv {
                    path,
                    line: line + at,
                    column,
                    message,
                },
                e => e,
            })?;
            cells.push(piece);
            count += rows;
        }
        Ok((cells, count, before - at_start))
    }

    /// The cells (row-major) and the row count of `bytes`; or the first
    /// error in it, its line counted from the first line of `bytes`.
    /// [`Rows::plain`] reads the usual piece; the csv reader reads the
    /// others, and finds the error of a piece with one.
    fn parse(&self, bytes: &[u8]) -> Parsed {
        match self.plain(bytes) {
            Some(parsed) => Ok(parsed),
            None => self.parse_csv(bytes),
        }
    }

    /// `bytes` read without the csv reader, where that gives what it
    /// gives: `None` as soon as a row is not `columns` cells, each a
    /// number [`parse_cell`] takes, that [`read_number`] reads once the
    /// ASCII whitespace around it is trimmed (or in a date column a date
    /// [`parse_date`] takes, of the same trimmed text).
    ///
    /// Why it agrees with [`Rows::parse_csv`] when it returns cells: no
    /// cell it takes holds a quote (a number has none), so the reader cuts
    /// the piece as it does, rows at `\n` and `\r` (a `\r\n` leaves an
    /// empty line between, and empty lines are skipped by both) and cells
    /// at the delimiter, before any trimming (a tab delimiter is a cut,
    /// not whitespace, to both); it trims the bytes the reader trims
    /// (`is_ascii_whitespace`); a line that is whitespace alone is blank
    /// to both; and each cell's number is `parse_cell`'s, the same
    /// `read_number` of the same text.
    fn plain(&self, bytes: &[u8]) -> Option<(Vec<f32>, usize)> {
        // One UTF-8 check for the piece, not one per cell. Cells are cut at
        // ASCII bytes, so every cut is at a character boundary.
        let text = std::str::from_utf8(bytes).ok()?;
        let number = |cell: &str| stored(read_number(cell.trim_ascii(), self.decimal_comma)?);
        // A cell of a column not read as a number may be anything but a
        // quote, which the csv reader would take away (and with it perhaps
        // a comma or a line end).
        let take = |cells: &mut Vec<f32>, n: usize, cell: &str| -> Option<()> {
            match self.uses.get(n).copied().unwrap_or(ColumnUse::Number) {
                ColumnUse::Number => cells.push(number(cell)?),
                _ if cell.contains('"') => return None,
                ColumnUse::Skip => {}
                ColumnUse::NumberOrNan => {
                    cells.push(number(cell).unwrap_or_else(|| nan_of(cell.as_bytes())))
                }
                ColumnUse::NumberOrMissing => match number(cell) {
                    Some(v) => cells.push(v),
                    None if is_missing(cell.as_bytes()) => cells.push(f32::NAN),
                    // The csv reader finds the error.
                    None => return None,
                },
                ColumnUse::Date => cells.push(parse_date(cell.as_bytes()).ok()?),
                ColumnUse::DateOrMissing => match parse_date(cell.as_bytes()) {
                    Ok(v) => cells.push(v),
                    Err(_) if is_missing(cell.as_bytes()) => cells.push(f32::NAN),
                    Err(_) => return None,
                },
            }
            Some(())
        };
        let mut cells = Vec::new();
        let (mut rows, mut n, mut start) = (0usize, 0usize, 0usize);
        let delimiter = self.delimiter.byte();
        for (i, &b) in bytes.iter().chain([&b'\n']).enumerate() {
            match b {
                _ if b == delimiter => {
                    take(&mut cells, n, &text[start..i])?;
                    n += 1;
                }
                b'\n' | b'\r' => {
                    let last = &text[start..i.min(bytes.len())];
                    if n == 0 && last.trim_ascii().is_empty() {
                        // A blank line, or the empty one inside a \r\n.
                    } else {
                        take(&mut cells, n, last)?;
                        if n + 1 != self.columns {
                            return None;
                        }
                        rows += 1;
                        // Room for the next row's cells, so that no push
                        // allocates; where there is none, parse_csv says so.
                        cells.try_reserve(self.columns).ok()?;
                    }
                    n = 0;
                }
                _ => continue,
            }
            start = i + 1;
        }
        Some((cells, rows))
    }

    /// Why `record` (whose bytes are `span`) may hold other than the
    /// header's count of cells, after its count: every cell empty (a
    /// spreadsheet's row below its data), a delimiter after its last cell
    /// that the header lacks, or (one cell, not quoted) cells separated
    /// by spaces where an editor wrote spaces for tabs; empty otherwise.
    fn miscounted(&self, record: &csv::ByteRecord, span: &[u8]) -> String {
        if is_blank_row(record) {
            return "; every cell of it is empty (a spreadsheet may write such rows below its data): delete those rows".into();
        }
        let last_empty = record
            .iter()
            .next_back()
            .is_some_and(|c| c.trim_ascii().is_empty());
        if record.len() == self.columns + 1 && last_empty {
            return "; its last cell is empty: the row ends with a delimiter that the header does not (delete it from the rows)".into();
        }
        let spaced = match (record.len(), record.iter().next()) {
            (1, Some(cell)) if !span.contains(&b'"') => cell
                .split(u8::is_ascii_whitespace)
                .filter(|p| !p.is_empty())
                .count(),
            _ => 0,
        };
        match spaced == self.columns && self.columns > 1 {
            true => format!(
                "; it holds no {0} but {1} parts between spaces: were its {0} written as spaces?",
                self.delimiter.plural(),
                self.columns
            ),
            false => String::new(),
        }
    }

    /// [`Rows::parse`] through the csv reader.
    fn parse_csv(&self, bytes: &[u8]) -> Parsed {
        let err = self.err;
        let mut lines = Lines::new(bytes, 1);
        let mut reader = csv_reader(bytes, self.delimiter);
        let parse = |raw: &[u8]| parse_cell(raw, self.decimal_comma);
        let mut record = csv::ByteRecord::new();
        let mut cells = Vec::new();
        let mut rows = 0usize;
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = lines.of(e.position());
                    return Err(err(line, 0, format!("unreadable CSV: {e}")));
                }
            }
            if is_blank(&record) {
                continue;
            }
            let line = lines.of(record.position());
            let start = record.position().map_or(0, |p| p.byte() as usize);
            let span = &bytes[start..reader.position().byte() as usize];
            if let Some(cell) = open_quote(span, self.delimiter) {
                return Err(err(line, cell + 1, QUOTE_NEVER_CLOSED.into()));
            }
            if record.len() != self.columns {
                return Err(err(
                    line,
                    record.len().min(self.columns) + 1,
                    format!(
                        "this row has {}; expected {} as in the header (line {}){}",
                        crate::units::count(record.len(), "cell"),
                        self.columns,
                        self.header_line,
                        self.miscounted(&record, span)
                    ),
                ));
            }
            if cells.try_reserve(self.columns).is_err() {
                return Err(err(line, 0, no_room(None, "more cells at this line")));
            }
            for (j, raw) in record.iter().enumerate() {
                let named = |m: String| {
                    let m = match m.strip_prefix(EMPTY) {
                        Some(rest) if is_blank_row(&record) => format!("{BLANK_ROW}{rest}"),
                        _ => m,
                    };
                    match self.names.get(j) {
                        Some(name) => format!("{m} (column '{}')", escaped(name)),
                        None => m,
                    }
                };
                match self.uses.get(j).copied().unwrap_or(ColumnUse::Number) {
                    ColumnUse::Number => {
                        cells.push(parse(raw).map_err(|m| err(line, j + 1, named(m)))?)
                    }
                    ColumnUse::Skip => {}
                    ColumnUse::NumberOrNan => {
                        cells.push(parse(raw).unwrap_or_else(|_| nan_of(raw)))
                    }
                    ColumnUse::NumberOrMissing => cells.push(match parse(raw) {
                        Ok(v) => v,
                        Err(_) if is_missing(raw) => f32::NAN,
                        Err(m) => return Err(err(line, j + 1, named(m))),
                    }),
                    ColumnUse::Date => {
                        cells.push(parse_date(raw).map_err(|m| err(line, j + 1, named(m)))?)
                    }
                    ColumnUse::DateOrMissing => cells.push(match parse_date(raw) {
                        Ok(v) => v,
                        Err(_) if is_missing(raw) => f32::NAN,
                        Err(m) => return Err(err(line, j + 1, named(m))),
                    }),
                }
            }
            rows += 1;
        }
        Ok((cells, rows))
    }
}

/// What an error says of a file whose cells the memory cannot hold.
const CELLS_IN_MEMORY: &str =
    "every cell read is held in memory as an f32, so read fewer rows (or columns)";

/// The message where the memory holds no `what` ("more cells"): reading
/// a file larger than the memory ends in this error rather than an abort.
/// `held`: the cells and rows of the file read, where the reader counted
/// them (not a piece of the file parsed apart, which counts its own).
fn no_room(held: Option<(usize, usize)>, what: &str) -> String {
    let have = crate::memory::available().map_or_else(String::new, |h| {
        format!(" ({} more available)", crate::units::bytes(h))
    });
    let held = held.map_or_else(String::new, |(cells, rows)| {
        let bytes = crate::memory::product(&[cells, 4]).unwrap_or(u64::MAX);
        format!(
            ": the {} read hold {} as f32",
            crate::units::count(rows, "row"),
            crate::units::bytes(bytes)
        )
    });
    format!("no memory for {what}{held}{have}; {CELLS_IN_MEMORY}")
}

/// The error at a cell whose quote [`open_quote`] finds never closed.
const QUOTE_NEVER_CLOSED: &str =
    "the quote that opens this cell is never closed, so the cell runs to the end of the file";

/// The cell of a record's bytes whose quote is never closed, counted from
/// 0 (only a file's last record can have one). A quote opens a cell
/// where it is the cell's first byte, as the csv reader reads it, and
/// `""` inside is a quote. Read on, such a cell holds the rest of the file,
/// and without this check it ends up as a row of too few cells, or, where
/// it opened the last cell, as that cell's number.
fn open_quote(record: &[u8], delimiter: Delimiter) -> Option<usize> {
    if !record.contains(&b'"') {
        return None;
    }
    let (mut cell, mut quoted, mut first) = (0, false, true);
    let mut bytes = record.iter().peekable();
    while let Some(&b) = bytes.next() {
        match (quoted, b) {
            (true, b'"') if bytes.peek() == Some(&&b'"') => {
                bytes.next();
            }
            (true, b'"') => quoted = false,
            (false, b'"') if first => quoted = true,
            (false, b) if b == delimiter.byte() => {
                cell += 1;
                first = true;
                continue;
            }
            (false, b'\n' | b'\r') => {
                cell = 0;
                first = true;
                continue;
            }
            _ => {}
        }
        first = false;
    }
    quoted.then_some(cell)
}

/// How a column of a CSV file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnUse {
    /// Every cell a finite number within f32's range (one below its least
    /// normal magnitude reads as 0 of its sign); any other is an error at
    /// its line and column.
    Number,
    /// Not read: its cells may hold anything (text, dates, nothing).
    Skip,
    /// A number where the cell holds one, NaN where it does not: f32::NAN
    /// where it is missing (empty, "NA": [`is_missing`]), [`TEXT_NAN`]
    /// where it holds anything else (text, a number past f32's range). A
    /// column that is used only if it is whole (`predict`'s target).
    NumberOrNan,
    /// A number, or NaN where the cell is missing ([`is_missing`]: empty,
    /// or a marker such as NA): `train --missing drop`'s columns, whose
    /// rows with a NaN are then dropped ([`Table::drop_missing`]). Any
    /// other cell is an error, as for `Number`: text in a column of
    /// numbers is more likely a wrong column than a gap.
    NumberOrMissing,
    /// A date, or a date and time, as the days since 1970-01-01 UTC
    /// ([`date::days`]); any other cell is an error (`train --date`).
    Date,
    /// A date, or NaN where the cell is missing, as `NumberOrMissing` is
    /// to `Number`.
    DateOrMissing,
}

/// The cells, besides the empty one, that mark a value as missing: those
/// pandas and R write or read as one (`NA`, `NaN`, `NULL`, `None`,
/// `#N/A`, …), and `?`, which some well-known data sets use. (Not the
/// `\N` of database exports, which a saved model may hold as a level.)
pub const MISSING_MARKERS: [&str; 14] = [
    "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>", "#N/A",
    "#NA", "?",
];

/// The NaN a [`ColumnUse::NumberOrNan`] cell reads as where it holds
/// neither a number nor a missing marker ("1,234.5", "$12", "pending"): a
/// quiet NaN of its own payload, told from f32::NAN (a missing cell) by
/// its bits, which copies of the value keep.
pub const TEXT_NAN: f32 = f32::from_bits(0x7fc0_0001);

/// Whether `v` is [`TEXT_NAN`].
pub fn is_text_nan(v: f32) -> bool {
    v.to_bits() == TEXT_NAN.to_bits()
}

/// The first cell of `column` in the CSV file `path` (cells separated by
/// `delimiter`) that `holds` picks, as an error shows it, and its line:
/// where a notice about a column read whole names the cell it means.
/// `None` where there is none, the column is not the file's, or `path` is
/// no regular file (standard input was read once; a pipe is gone).
pub fn first_cell(
    path: &Path,
    delimiter: Delimiter,
    column: &str,
    holds: impl Fn(&[u8]) -> bool,
) -> Option<(u64, String)> {
    let found = find_in_column(path, delimiter, column, |_, cell| {
        cell.filter(|c| holds(c)).map(shown_bytes)
    });
    found.map(|(line, _, shown)| (line, shown))
}

/// The line of data row `row` (from 0: the records after the header,
/// blank lines not counted) of the CSV file `path` (cells separated by
/// `delimiter`), and the column (from 1) of its cell of `column`, as an
/// error names them; `None` where there is no such row or column, or
/// `path` is no regular file (standard input was read once).
pub fn cell_of_row(
    path: &Path,
    delimiter: Delimiter,
    column: &str,
    row: usize,
) -> Option<(u64, usize)> {
    let found = find_in_column(path, delimiter, column, |n, _| (n == row).then_some(()));
    found.map(|(line, j, ())| (line, j))
}

/// The first data record of the CSV file `path` (a regular file, read
/// again) for which `pick`, given its place (from 0, blank lines not
/// counted) and its cell of `column` (`None` in a record too short),
/// gives a value: that record's line, the column's place (from 1) and the
/// value.
fn find_in_column<T>(
    path: &Path,
    delimiter: Delimiter,
    column: &str,
    mut pick: impl FnMut(usize, Option<&[u8]>) -> Option<T>,
) -> Option<(u64, usize, T)> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let bytes = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    let head = Head::parse(path, bytes, delimiter).ok()?;
    let j = head.header.iter().position(|h| h == column)?;
    let body = &bytes[head.at..];
    let mut reader = csv_reader(body, delimiter);
    let mut lines = Lines::new(body, head.body_line);
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record).ok()? {
        if is_blank(&record) {
            continue;
        }
        if let Some(value) = pick(n, record.get(j)) {
            return Some((lines.of(record.position()), j + 1, value));
        }
        n += 1;
    }
    None
}

/// Whether a cell of a column read as [`ColumnUse::NumberOrNan`] reads
/// as [`TEXT_NAN`]: it is neither a number nor a missing marker.
pub fn is_text_cell(cell: &[u8], decimal_comma: bool) -> bool {
    !is_missing(cell) && parse_cell(cell, decimal_comma).is_err()
}

/// The NaN a [`ColumnUse::NumberOrNan`] cell that holds no number reads as.
fn nan_of(cell: &[u8]) -> f32 {
    match is_missing(cell) {
        true => f32::NAN,
        false => TEXT_NAN,
    }
}

/// Whether a cell, once the ASCII whitespace around it is trimmed, is
/// empty or one of [`MISSING_MARKERS`].
pub fn is_missing(cell: &[u8]) -> bool {
    let cell = cell.trim_ascii();
    cell.is_empty() || MISSING_MARKERS.iter().any(|m| m.as_bytes() == cell)
}

/// Says how each column of a header is read (a list as long as the
/// header, or shorter: the columns past its end are numbers), or why
/// the header will not do.
pub type Choose<'a> = dyn Fn(&[String]) -> Result<Vec<ColumnUse>> + Sync + 'a;

/// Every column a number.
fn every_column(_: &[String]) -> Result<Vec<ColumnUse>> {
    Ok(Vec::new())
}

/// The error of a header with an empty name in a column `uses` reads (a
/// list as long as the header, or shorter: the columns past its end are
/// read). A first such column is most likely a row index: pandas'
/// `to_csv()` writes its index so, and R's `write.csv` its row names.
fn unnamed_columns(path: &Path, head: &Head, uses: &[ColumnUse]) -> Result<()> {
    let read = |j: usize| uses.get(j) != Some(&ColumnUse::Skip);
    let Some(j) = (0..head.header.len()).find(|&j| head.header[j].is_empty() && read(j)) else {
        return Ok(());
    };
    let message = match j {
        0 => "the column name is empty; a file written with its row index (pandas' to_csv(), R's write.csv) starts with such a column: write it without (index=False, row.names=FALSE), name the column, or leave it unread with --ignore ''",
        _ => "the column name is empty; name the column, or leave it unread with --ignore ''",
    };
    Err(csv_error(path)(head.line, j + 1, message.into()))
}

/// Each of `names` and its position among them (the last, for a name
/// given twice).
fn positions(names: &[String]) -> HashMap<&str, usize> {
    (names.iter().enumerate())
        .map(|(j, n)| (n.as_str(), j))
        .collect()
}

/// The names of the columns `uses` reads.
fn chosen(header: &[String], uses: &[ColumnUse]) -> Vec<String> {
    let read = |j: usize| uses.get(j) != Some(&ColumnUse::Skip);
    (header.iter().enumerate())
        .filter(|(j, _)| read(*j))
        .map(|(_, name)| name.clone())
        .collect()
}

/// A parsed CSV file whose cells are still in the pieces of rows they
/// were parsed in, in order.
struct Pieces {
    path: PathBuf,
    header: Vec<String>,
    header_line: u64,
    pieces: Vec<Vec<f32>>,
    rows: usize,
}

impl Pieces {
    /// The table: the pieces' cells in one buffer, or the error where the
    /// memory cannot hold it.
    fn join(self) -> Result<Table> {
        let mut pieces = self.pieces.into_iter();
        let mut cells = pieces.next().unwrap_or_default();
        let all = self.rows * self.header.len();
        if cells.try_reserve_exact(all - cells.len()).is_err() {
            let what = "its cells in one buffer";
            return Err(Error::Config(format!(
                "{}: {}",
                self.path.display(),
                no_room(Some((all, self.rows)), what)
            )));
        }
        for piece in pieces {
            cells.extend_from_slice(&piece);
        }
        Ok(Table {
            path: self.path,
            header: self.header,
            header_line: self.header_line,
            cells,
            rows: self.rows,
        })
    }
}

/// A column's name as a message lists it: quoted as CSV quotes it where it
/// is empty or holds a comma, a colon, a quote or a space, so that a list
/// of names ("\"\", id, \"price, USD\", y") reads as the columns it names.
pub fn shown_name(name: &str) -> std::borrow::Cow<'_, str> {
    let name = escaped(name);
    match name.is_empty() || name.contains([',', ':', ' ', '"']) {
        true => format!("\"{}\"", name.replace('"', "\"\"")).into(),
        false => name,
    }
}

/// `text` with its control characters (a NUL, an escape) escaped
/// (`\u{0}`, `\u{1b}`: [`crate::units::escaped_char`]), so that a message
/// never sends them to a terminal; as it is where it has none. (A text
/// without them is shown as it is, a no-break space too: the hints read
/// the text as shown, and a no-break space between thousands is one they
/// know.) Text longer than `SHOWN_NAME`
/// (1,000) characters is cut there, with its length: a name a message
/// shows (a file without line ends read as a header of one name of
/// megabytes) is not printed whole.
pub fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() > SHOWN_NAME {
        let chars = text.chars().count();
        if chars > SHOWN_NAME {
            let head: String = text.chars().take(SHOWN_NAME).collect();
            return format!("{}… ({chars} characters)", escaped(&head)).into();
        }
    }
    match text.chars().any(char::is_control) {
        true => escape_controls(text).into(),
        false => text.into(),
    }
}

/// `text` escaped a character at a time as [`crate::units::escaped_char`]
/// escapes each.
fn escape_controls(text: &str) -> String {
    text.chars().map(crate::units::escaped_char).collect()
}

/// The most characters of a name (or other text) [`escaped`] shows: more
/// than any column name a person writes (a survey's question), so that
/// the names messages suggest for flags are whole.
const SHOWN_NAME: usize = 1000;

/// The most characters of a cell an error shows.
const SHOWN_CELL: usize = 60;

/// A cell's text as an error shows it: [`escaped`], cut to its first 60
/// characters where longer, with its length (a column of free text read
/// as numbers printed a cell of a million characters whole).
pub fn shown_cell(text: &str) -> String {
    cut_cell(text, |t| escaped(t).into_owned())
}

/// A cell that is not UTF-8 as an error shows it: its lossy text, cut as
/// [`shown_cell`] cuts, and escaped as Rust escapes a string.
pub fn shown_bytes(raw: &[u8]) -> String {
    cut_cell(&String::from_utf8_lossy(raw), escape_controls)
}

/// `text`'s first [`SHOWN_CELL`] characters, `escape`d, with its length
/// where it is longer.
fn cut_cell(text: &str, escape: impl Fn(&str) -> String) -> String {
    let chars = text.chars().count();
    if chars <= SHOWN_CELL {
        return escape(text);
    }
    let head: String = text.chars().take(SHOWN_CELL).collect();
    format!("{}… ({chars} characters)", escape(&head))
}

/// "; did you mean 'Price'?" where a column of `header` is `name` but for
/// case, surrounding whitespace, and spaces, `_` and `-` between words
/// (`disease_progression` for `disease progression`); where `name` is a
/// column's number instead ("4"), the columns that number would be,
/// counting from 0 and from 1.
fn did_you_mean(name: &str, header: &[String]) -> String {
    let words = |s: &str| -> Vec<String> {
        (s.split([' ', '_', '-']))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let near = |h: &&String| h.as_str() != name && words(h) == words(name);
    if let Some(h) = header.iter().find(near) {
        return format!("; did you mean '{}'?", escaped(h));
    }
    match name.trim().parse::<usize>() {
        Ok(number) => numbered(number, header),
        Err(_) => String::new(),
    }
}

/// "; columns are named, not numbered: column 4 is 'y' counting from 0,
/// 'x3' counting from 1", for the columns of `header` that `number` would
/// be; empty where it is neither.
fn numbered(number: usize, header: &[String]) -> String {
    let from = |base: usize| {
        let name = header.get(number.checked_sub(base)?)?;
        Some(format!("'{}' counting from {base}", escaped(name)))
    };
    let counts: Vec<String> = [from(0), from(1)].into_iter().flatten().collect();
    match counts.is_empty() {
        true => String::new(),
        false => format!(
            "; columns are named, not numbered: column {number} is {}",
            counts.join(", ")
        ),
    }
}

/// The error at a `--target` that `header` does not name.
fn no_target(name: &str, header: &[String]) -> String {
    format!(
        "no target column '{name}'; the header has: {}{}",
        listed(header),
        did_you_mean(name, header)
    )
}

/// The most names a message or the summary lists: past it, the first
/// [`SHOWN_NAMES`] and how many in all, so that a file of 500 columns
/// does not make an error a line of thousands of characters.
pub const SHOWN_NAMES: usize = 12;

/// Names as a message lists them ([`shown_name`]): every one, or where
/// there are more than [`SHOWN_NAMES`], the first of them and then how
/// many in all ("a, b, …, l, … (500 in all)").
pub fn listed(names: &[String]) -> String {
    capped(
        names.iter().map(|n| shown_name(n).into_owned()),
        SHOWN_NAMES,
    )
}

/// `items` joined by commas: every one, or where there are more than
/// `most`, the first `most` and then how many in all.
fn capped(items: impl ExactSizeIterator<Item = String>, most: usize) -> String {
    let all = items.len();
    let mut shown: Vec<String> = items.take(most).collect();
    if all > most {
        shown.push(format!("… ({all} in all)"));
    }
    shown.join(", ")
}

/// The most of a model's feature columns that the error at a file without
/// them names, where the columns to add are listed rather than sampled:
/// a file without more is likely not one of the model's.
const MISSING_SHOWN: usize = 100;

/// The rows [`Table::drop_missing`] left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The rows dropped, by their place among the rows read (0 is the
    /// first row after the header), in order.
    pub left_out: Vec<usize>,
    /// Rows read, dropped ones included.
    pub of: usize,
    /// The columns with a missing cell, in file order, and how many each
    /// had (a row may count in several).
    pub columns: Vec<(String, usize)>,
}

impl Dropped {
    /// How many rows were dropped.
    pub fn rows(&self) -> usize {
        self.left_out.len()
    }

    /// The missing cells by column: "b: 10, y: 2" ([`shown_name`]).
    pub fn by_column(&self) -> String {
        let columns: Vec<String> = (self.columns.iter())
            .map(|(name, n)| format!("{}: {n}", shown_name(name)))
            .collect();
        columns.join(", ")
    }
}

impl std::fmt::Display for Dropped {
    /// "12 of 1000 rows with a missing cell (b: 10, y: 2)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} with a missing cell ({})",
            self.rows(),
            crate::units::count(self.of, "row"),
            self.by_column()
        )
    }
}

/// A numeric CSV file: its header and its cells, row-major.
#[derive(Clone, Debug)]
pub struct Table {
    pub path: PathBuf,
    pub header: Vec<String>,
    /// The header's line in the file (blank lines may come before it),
    /// which errors about the columns name.
    pub header_line: u64,
    /// (rows × header.len()) row-major.
    pub cells: Vec<f32>,
    pub rows: usize,
}

impl Table {
    /// Reads a CSV file with a header row. Every cell must be a finite number
    /// that fits in f32 (one below f32's least normal magnitude reads as 0
    /// of its sign). Whitespace around cells, a UTF-8 byte-order mark,
    /// CRLF line ends and a missing final newline are accepted. The file is
    /// read [`CHUNK_BYTES`] at a time ([`Table::read_in`]).
    pub fn read(path: &Path) -> Result<Table> {
        Table::read_in(path, CHUNK_BYTES, crate::cpu::cores(), PIECE_BYTES)
    }

    /// [`Table::read`] of a file written as `format` says, and of the
    /// columns `choose` picks from its header: it says how each column is
    /// read ([`ColumnUse`]), or why the header will not do. The table
    /// holds the columns read, in file order.
    pub fn read_columns(path: &Path, format: CsvFormat, choose: &Choose<'_>) -> Result<Table> {
        let cores = crate::cpu::cores();
        Table::read_chosen(path, CHUNK_BYTES, cores, PIECE_BYTES, format, choose)
    }

    /// [`Table::read`], the file read about `chunk_bytes` at a time: each
    /// chunk's whole lines are parsed (cut into pieces as
    /// [`Table::parse_in`] cuts them) before the next chunk is read, so
    /// the memory holds one chunk of the file's bytes beside the cells,
    /// not the whole file. From the first chunk with a quote on, the rest
    /// of the file is read at once and parsed in one piece, as `parse_in`
    /// parses a file with quotes, since a quoted cell may hold a line end;
    /// a file whose lines end in `\r` alone is read whole too, as chunks
    /// end only after a `\n`. The file is read once, front to back, so it
    /// may be a pipe. The table, or the error (the
    /// first in the file) with its line and column, are `parse_in`'s.
    pub fn read_in(
        path: &Path,
        chunk_bytes: usize,
        pieces: usize,
        min_bytes: usize,
    ) -> Result<Table> {
        let comma = CsvFormat::default();
        Table::read_chosen(path, chunk_bytes, pieces, min_bytes, comma, &every_column)
    }

    /// [`Table::read_in`] of a file written as `format` says, and of the
    /// columns `choose` picks.
    fn read_chosen(
        path: &Path,
        chunk_bytes: usize,
        pieces: usize,
        min_bytes: usize,
        format: CsvFormat,
        choose: &Choose<'_>,
    ) -> Result<Table> {
        let delimiter = format.delimiter;
        let chunk_bytes = chunk_bytes.max(1);
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let (mut buf, mut eof) = read_head(path, &mut file, chunk_bytes, delimiter)?;
        let whole = |mut buf: Vec<u8>, file: &mut std::fs::File| {
            // The rest is read on (the file may be a pipe, read once), and
            // the whole parsed.
            read_rest(path, file, &mut buf)?;
            let parsed = Table::parse_pieces(path, &buf, pieces, min_bytes, format, choose)?;
            parsed.join()
        };
        if eof {
            return whole(buf, &mut file);
        }
        let bom = if buf.starts_with(BOM) { BOM.len() } else { 0 };
        let cut = whole_lines(&buf);
        let head = Head::parse(path, &buf[bom..cut], delimiter)?.under(format);
        if buf[bom + head.at..].contains(&b'"') {
            // A quoted cell may hold a line end, so rows cannot be cut at
            // line ends. Quoted names in the header alone do not matter.
            return whole(buf, &mut file);
        }
        let err = rows_error(path, &head);
        let uses = choose(&head.header).map_err(|e| head.error(e))?;
        unnamed_columns(path, &head, &uses)?;
        let rows = Rows {
            columns: head.header.len(),
            names: &head.header,
            uses: &uses,
            header_line: head.line,
            delimiter,
            decimal_comma: format.decimal_comma,
            err: &err,
        };
        let header = chosen(&head.header, &uses);
        let width = header.len();
        let mut cells: Vec<f32> = Vec::new();
        let mut count = 0usize;
        // The lines before the chunk's, and where its rows start in `buf`.
        let mut before = head.body_line - 1;
        let mut from = bom + head.at;
        let size = file.metadata().map_or(0, |m| m.len()) as usize;
        loop {
            let cut = if eof { buf.len() } else { whole_lines(&buf) };
            let body = &buf[from..cut];
            let (parsed, n, lines) = rows.parse_body(body, before, pieces, min_bytes)?;
            if cells.is_empty() && n > 0 && !eof {
                // Room for the rows of a file of chunks like the first:
                // capacity never written takes no memory.
                // Only a hint: where it does not fit, the cells grow as read.
                let per_row = (cut - from).div_ceil(n).max(1);
                let _ = cells.try_reserve(size / per_row * 5 / 4 * width);
            }
            let more = parsed.iter().map(Vec::len).sum();
            if cells.try_reserve(more).is_err() {
                let message = no_room(Some((cells.len() + more, count + n)), "more cells");
                // The chunk's last line: the file's last has no line end.
                let unended = eof && !body.is_empty() && !body.ends_with(b"\n");
                let line = before + lines + u64::from(unended);
                return Err(csv_error(path)(line, 0, message));
            }
            for piece in parsed {
                cells.extend_from_slice(&piece);
            }
            count += n;
            before += lines;
            if eof {
                break;
            }
            buf.drain(..cut);
            from = 0;
            eof = fill(path, &mut file, &mut buf, chunk_bytes)?;
            while !eof && !buf.contains(&b'\n') {
                let len = 2 * buf.len();
                eof = fill(path, &mut file, &mut buf, len)?;
            }
            if buf.contains(&b'"') {
                // A quoted cell may hold a line end: the rest of the file is
                // the last chunk, parsed in one piece. The chunks before had
                // no quote, so they were cut where the csv reader cuts rows.
                read_rest(path, &mut file, &mut buf)?;
                eof = true;
            }
        }
        if count == 0 {
            return Err(no_rows(path, head.line));
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            header_line: head.line,
            cells,
            rows: count,
        })
    }

    /// Parses CSV bytes; `path` only names the source in errors. The rows
    /// are parsed on every core, in pieces cut at line ends
    /// ([`Table::parse_in`]).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Table> {
        Table::parse_in(path, bytes, crate::cpu::cores(), PIECE_BYTES)
    }

    /// [`Table::parse`] with the rows cut into at most `pieces` pieces of
    /// at least `min_bytes` each, at line ends, parsed on threads of their
    /// own. A file with a quote anywhere after its header is parsed in one
    /// piece, since a quoted cell may hold a line end. The result, and the
    /// error (the first in the file) with its line and column, do not
    /// depend on the pieces.
    pub fn parse_in(path: &Path, bytes: &[u8], pieces: usize, min_bytes: usize) -> Result<Table> {
        let comma = CsvFormat::default();
        Table::parse_pieces(path, bytes, pieces, min_bytes, comma, &every_column)?.join()
    }

    /// [`Table::parse_in`] of bytes written as `format` says, and of the
    /// columns `choose` picks, the cells left in their pieces.
    fn parse_pieces(
        path: &Path,
        bytes: &[u8],
        pieces: usize,
        min_bytes: usize,
        format: CsvFormat,
        choose: &Choose<'_>,
    ) -> Result<Pieces> {
        let delimiter = format.delimiter;
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let head = Head::parse(path, bytes, delimiter)?.under(format);
        let err = rows_error(path, &head);
        let uses = choose(&head.header).map_err(|e| head.error(e))?;
        unnamed_columns(path, &head, &uses)?;
        let rows = Rows {
            columns: head.header.len(),
            names: &head.header,
            uses: &uses,
            header_line: head.line,
            delimiter,
            decimal_comma: format.decimal_comma,
            err: &err,
        };
        let body = &bytes[head.at..];
        let (pieces, count, _) = rows.parse_body(body, head.body_line - 1, pieces, min_bytes)?;
        if count == 0 {
            return Err(no_rows(path, head.line));
        }
        Ok(Pieces {
            path: path.to_path_buf(),
            header: chosen(&head.header, &uses),
            header_line: head.line,
            pieces,
            rows: count,
        })
    }

    /// Where every column name is a number, a line such as "1.5,-2,0.25":
    /// most likely a file without a header line, whose first row was read
    /// as the names. `None` otherwise.
    /// `format`: how the file was read.
    pub fn numeric_header(&self, format: CsvFormat) -> Option<String> {
        numeric_header(&self.path, &self.header, format)
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The file's [`DataDigest`].
    pub fn digest(&self) -> DataDigest {
        let mut h = crate::io::Fnv1a::new();
        for name in &self.header {
            h.update(name.as_bytes());
            h.update(&[0]);
        }
        for v in &self.cells {
            h.update(&v.to_bits().to_le_bytes());
        }
        DataDigest {
            rows: self.rows,
            columns: self.header.len(),
            fnv1a64: h.hex(),
        }
    }

    /// Leaves out every row with a NaN cell, as [`ColumnUse::NumberOrMissing`]
    /// reads a missing one; the rows kept stay in file order. Says how
    /// many rows were dropped, and how many cells were missing in each
    /// column.
    pub fn drop_missing(&mut self) -> Dropped {
        self.drop_missing_in(|_| true)
    }

    /// Leaves out every row whose target cell (`target`, else the last
    /// column, as [`Table::into_dataset`] chooses it) is missing, for
    /// `train --missing mean` or `median`: a missing target cannot be filled.
    pub fn drop_missing_target(&mut self, target: Option<&str>) -> Dropped {
        let t = match target {
            Some(name) => self.column(name),
            None => self.header.len().checked_sub(1),
        };
        self.drop_missing_in(|j| Some(j) == t)
    }

    /// [`Table::drop_missing`] for the columns `j` where `counts(j)`: a NaN
    /// elsewhere keeps its row, and is not counted.
    pub fn drop_missing_in(&mut self, counts: impl Fn(usize) -> bool) -> Dropped {
        let width = self.header.len();
        let mut missing = vec![0usize; width];
        let mut kept = 0;
        let mut left_out = Vec::new();
        for i in 0..self.rows {
            let row = i * width..(i + 1) * width;
            let mut whole = true;
            for (j, v) in self.cells[row.clone()].iter().enumerate() {
                if v.is_nan() && counts(j) {
                    missing[j] += 1;
                    whole = false;
                }
            }
            if whole {
                self.cells.copy_within(row, kept * width);
                kept += 1;
            } else {
                left_out.push(i);
            }
        }
        let dropped = Dropped {
            left_out,
            of: self.rows,
            columns: (self.header.iter().cloned().zip(missing))
                .filter(|&(_, n)| n > 0)
                .collect(),
        };
        self.rows = kept;
        self.cells.truncate(kept * width);
        dropped
    }

    /// Target `target` (default: the last column), every other column a feature.
    pub fn into_dataset(self, target: Option<&str>) -> Result<Dataset> {
        let t = match target {
            Some(name) => self.column(name).ok_or_else(|| Error::Csv {
                path: self.path.clone(),
                line: self.header_line,
                column: 0,
                message: no_target(name, &self.header),
            })?,
            None => self.header.len().checked_sub(1).ok_or_else(|| Error::Csv {
                path: self.path.clone(),
                line: self.header_line,
                column: 0,
                message: "no column was read; expected a target and at least one feature".into(),
            })?,
        };
        let features: Vec<usize> = (0..self.header.len()).filter(|&j| j != t).collect();
        if features.is_empty() {
            return Err(Error::Csv {
                path: self.path.clone(),
                line: self.header_line,
                column: 0,
                message: format!(
                    "the only column is the target '{}'; expected at least one feature column",
                    self.header[t]
                ),
            });
        }
        let names = features.iter().map(|&j| self.header[j].clone()).collect();
        let target_name = self.header[t].clone();
        Ok(self.select(&features, Some(t), names, target_name))
    }

    /// The columns named `feature_names`, in that order, and the target if the
    /// file has it (`None` when it does not). For prediction with a saved model.
    pub fn select_named(
        self,
        feature_names: &[String],
        target_name: &str,
    ) -> Result<(Dataset, bool)> {
        let columns = positions(&self.header);
        let mut features = Vec::with_capacity(feature_names.len());
        for name in feature_names {
            match columns.get(name.as_str()).copied() {
                Some(j) => features.push(j),
                None => {
                    // Table::read reads comma-separated files alone.
                    let comma = CsvFormat::default();
                    let e = missing_features(&self.path, feature_names, &self.header, comma);
                    return Err(on_line(self.header_line)(e));
                }
            }
        }
        let t = self.column(target_name);
        let data = self.select(
            &features,
            t,
            feature_names.to_vec(),
            target_name.to_string(),
        );
        Ok((data, t.is_some()))
    }

    fn select(
        self,
        features: &[usize],
        target: Option<usize>,
        feature_names: Vec<String>,
        target_name: String,
    ) -> Dataset {
        // The features go where the cells were, row by row: row i's
        // features end at (i + 1)·f ≤ (i + 1)·width, before the next row's
        // cells, so the table's memory becomes x with no second copy.
        let width = self.header.len();
        let f = features.len();
        let mut x = self.cells;
        let mut y = Vec::with_capacity(self.rows);
        let mut row = vec![0.0f32; width];
        for i in 0..self.rows {
            row.copy_from_slice(&x[i * width..(i + 1) * width]);
            for (k, &j) in features.iter().enumerate() {
                x[i * f + k] = row[j];
            }
            y.push(target.map_or(0.0, |t| row[t]));
        }
        x.truncate(self.rows * f);
        // Gives back the cells past x (the target's, and any room reserved).
        x.shrink_to_fit();
        Dataset {
            x,
            y,
            rows: self.rows,
            features: features.len(),
            feature_names,
            target_name,
        }
    }
}

/// The column names a list option (`--ignore`, `--keep`) gives, each
/// value as the command line had it: the value is cut at its commas, and
/// runs of pieces that, joined by commas, are a column of `header` ("price,
/// USD") are that column, the longest run first; any other piece is a name
/// alone (which the option's check may then refuse). Each name is
/// trimmed of ASCII whitespace, as the reader trims the header's.
pub fn named_columns(values: &[String], header: &[String]) -> Vec<String> {
    let columns: std::collections::HashSet<&str> = header.iter().map(String::as_str).collect();
    // No run longer than the most commas a column's name holds, plus one.
    let longest = header
        .iter()
        .map(|h| h.matches(',').count() + 1)
        .max()
        .unwrap_or(1);
    let mut names = Vec::with_capacity(values.len());
    for value in values {
        let pieces: Vec<&str> = value.split(',').collect();
        let mut i = 0;
        while i < pieces.len() {
            let end = (i + 1..=pieces.len().min(i + longest))
                .rev()
                .find(|&j| j == i + 1 || columns.contains(pieces[i..j].join(",").trim_ascii()))
                .unwrap_or(i + 1);
            // Trimmed, as the header's names are: `--ignore 'a, b'`.
            names.push(pieces[i..end].join(",").trim_ascii().to_string());
            i = end;
        }
    }
    names
}

/// How `--ignore` reads the CSV file `path` with `header`: the columns
/// named in `ignore` skipped, the others numbers. Each name must be a
/// column, once, and not `target` (`--target`; without it the target is
/// the last column read), which must be a column too.
pub fn ignoring(
    path: &Path,
    header: &[String],
    ignore: &[String],
    target: Option<&str>,
) -> Result<Vec<ColumnUse>> {
    let err = |message: String| Error::Csv {
        path: path.to_path_buf(),
        line: 1,
        column: 0,
        message,
    };
    named_once(path, "--ignore", ignore, header)?;
    // Before any cell is read, so that a misspelt --target is said as
    // such, not as a text cell of the column it would have left out.
    if let Some(name) = target.filter(|t| !header.iter().any(|n| n == t)) {
        return Err(err(no_target(name, header)));
    }
    for name in ignore {
        if Some(name.as_str()) == target {
            return Err(err(format!(
                "--ignore names the target column '{name}' (--target); leave it out of --ignore, or choose another --target"
            )));
        }
    }
    if header.iter().all(|name| ignore.contains(name)) {
        return Err(err(format!(
            "--ignore names every column ({}); leave out the target and at least one feature",
            listed(header)
        )));
    }
    let usage = |name: &String| match ignore.contains(name) {
        true => ColumnUse::Skip,
        false => ColumnUse::Number,
    };
    Ok(header.iter().map(usage).collect())
}

/// Checks that each of `names` (a list option's, `flag`) is a column of
/// `header`, named once.
fn named_once(path: &Path, flag: &str, names: &[String], header: &[String]) -> Result<()> {
    let err = |message: String| csv_error(path)(1, 0, message);
    for (i, name) in names.iter().enumerate() {
        let shown = escaped(name);
        if !header.contains(name) {
            return Err(err(format!(
                "{flag} names '{shown}', which is not a column; the header has: {}{}",
                listed(header),
                did_you_mean(name, header)
            )));
        }
        if names[..i].contains(name) {
            return Err(err(format!("{flag} names '{shown}' twice; name each once")));
        }
    }
    Ok(())
}

/// `uses` with every column read as a number read as a number or a gap
/// ([`ColumnUse::NumberOrMissing`]), for `train --missing drop`.
pub fn with_gaps(uses: Vec<ColumnUse>) -> Vec<ColumnUse> {
    let gap = |u| match u {
        ColumnUse::Number => ColumnUse::NumberOrMissing,
        ColumnUse::Date => ColumnUse::DateOrMissing,
        u => u,
    };
    uses.into_iter().map(gap).collect()
}

/// [`Table::read_columns`] with the columns `categorical` (as
/// [`named_columns`] reads the values) one-hot encoded ([`Category`]): `choose`'s uses, those columns read as text and each
/// level made a column of 0s and 1s where the column is. The levels are
/// `known`'s (a saved model's, with what a cell with another does), or
/// the file's own, in byte order. Without `gaps`, a missing categorical
/// cell is an error; with them, NaN in every column of its levels. Unlike
/// `read_columns`, the file is held whole while it is read (it may still
/// be a pipe, read once), as its rows are read twice: for the numbers,
/// then for the text. Also returns the cells read with a level `known`
/// lacks, by column.
pub fn read_categorical(
    path: &Path,
    format: CsvFormat,
    choose: &Choose<'_>,
    categorical: &[String],
    known: Option<(&[Category], Unseen)>,
    gaps: bool,
) -> Result<(Table, Vec<Category>, Vec<UnseenLevels>)> {
    let bytes = read_whole(path, format.delimiter)?;
    let choose = as_text(choose, categorical);
    let cores = crate::cpu::cores();
    let pieces = Table::parse_pieces(path, &bytes, cores, PIECE_BYTES, format, &choose)?;
    let table = pieces.join()?;
    let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    let delimiter = format.delimiter;
    let encoding = category::encode(path, body, delimiter, &table, categorical, known, gaps)?;
    drop(bytes);
    let unseen = encoding.unseen();
    let (table, categories) = encoding.spread(table)?;
    Ok((table, categories, unseen))
}

/// `choose` with the columns `categorical` left unread by the numbers.
fn as_text<'a>(
    choose: &'a Choose<'a>,
    categorical: &'a [String],
) -> impl Fn(&[String]) -> Result<Vec<ColumnUse>> + Sync + 'a {
    move |header: &[String]| {
        let mut uses = choose(header)?;
        uses.resize(header.len(), ColumnUse::Number);
        let categorical = named_columns(categorical, header);
        for (j, name) in header.iter().enumerate() {
            if categorical.contains(name) {
                uses[j] = ColumnUse::Skip;
            }
        }
        Ok(uses)
    }
}

/// Checks `--categorical`'s names against `header`: each a column, once,
/// neither ignored nor `target` (`--target`); and says which column is the
/// target: `target`, else the last column that is neither ignored nor
/// categorical.
pub fn check_categorical(
    path: &Path,
    header: &[String],
    categorical: &[String],
    ignore: &[String],
    target: Option<&str>,
) -> Result<Option<String>> {
    let err = |message: String| csv_error(path)(1, 0, message);
    // A header's column with no name cannot be one (a model names each).
    if categorical.iter().any(String::is_empty) && header.iter().any(String::is_empty) {
        return Err(err(
            "--categorical names '', a column with no name; name the column in the file".into(),
        ));
    }
    named_once(path, "--categorical", categorical, header)?;
    for name in categorical {
        let shown = escaped(name);
        if ignore.contains(name) {
            return Err(err(format!(
                "--categorical and --ignore both name '{shown}'; a column is either read as categories or not read"
            )));
        }
        if Some(name.as_str()) == target {
            return Err(err(format!(
                "--categorical names the target column '{shown}' (--target); the target must be a number, as the network predicts one"
            )));
        }
    }
    if let Some(t) = target {
        return Ok(Some(t.to_string()));
    }
    match default_target(header, ignore, &[categorical]) {
        Some(t) => Ok(Some(t.clone())),
        None => Err(err(format!(
            "every column read is --categorical ({}), so none is left for the target, which must be a number",
            listed(categorical)
        ))),
    }
}

/// Checks `--date`'s names against `header`: each a column, once, neither
/// ignored, categorical nor `target` (`--target`); and says which column
/// is the target: `target`, else the last column that is none of those.
pub fn check_dates(
    path: &Path,
    header: &[String],
    dates: &[String],
    (ignore, categorical): (&[String], &[String]),
    target: Option<&str>,
) -> Result<Option<String>> {
    let err = |message: String| csv_error(path)(1, 0, message);
    named_once(path, "--date", dates, header)?;
    for name in dates {
        let shown = escaped(name);
        let other = match () {
            _ if ignore.contains(name) => "--ignore",
            _ if categorical.contains(name) => "--categorical",
            _ => "",
        };
        if !other.is_empty() {
            return Err(err(format!(
                "--date and {other} both name '{shown}'; a column is read one way"
            )));
        }
        if Some(name.as_str()) == target {
            return Err(err(format!(
                "--date names the target column '{shown}' (--target); the network predicts a number, not a date"
            )));
        }
    }
    if let Some(t) = target {
        return Ok(Some(t.to_string()));
    }
    let flags = match categorical.is_empty() {
        true => "--date",
        false => "--date or --categorical",
    };
    match default_target(header, ignore, &[categorical, dates]) {
        Some(t) => Ok(Some(t.clone())),
        None => Err(err(format!(
            "every column read is {flags}, so none is left for the target, which must be a number"
        ))),
    }
}

/// The target of a file with `header` where no option names one: its
/// last column that is neither ignored nor read `otherwise` (one-hot
/// encoded, or dates).
pub fn default_target<'a>(
    header: &'a [String],
    ignore: &[String],
    otherwise: &[&[String]],
) -> Option<&'a String> {
    let numeric = |n: &&String| !ignore.contains(n) && !otherwise.iter().any(|o| o.contains(n));
    header.iter().rev().find(numeric)
}

/// `uses` with the columns `dates` read as dates ([`ColumnUse::Date`]).
pub fn dated(mut uses: Vec<ColumnUse>, header: &[String], dates: &[String]) -> Vec<ColumnUse> {
    for (u, name) in uses.iter_mut().zip(header) {
        if dates.contains(name) && *u == ColumnUse::Number {
            *u = ColumnUse::Date;
        }
    }
    uses
}

/// A model's target column in a file of rows to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetColumn {
    Absent,
    /// A number in every row.
    Whole,
    /// Not a number in some rows (empty, say, in rows yet to be
    /// measured), the first of them this row of the data (from 0).
    Incomplete {
        first_row: usize,
    },
}

/// How [`read_for_model`] reads a model's cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading<'a> {
    /// The features whose cells are dates (a model's `dates`).
    pub dates: &'a [String],
    /// A missing cell ([`is_missing`]) of a feature, and with `scored` of
    /// the target, reads as NaN rather than an error.
    pub gaps: bool,
    /// The target's cells are numbers (or with `gaps` missing), and any
    /// other is an error at its line and column: `importance` scores every
    /// row. Otherwise a target cell that is not a number reads as NaN, a
    /// row `predict` leaves unscored.
    pub scored: bool,
    /// What a categorical cell with a level the model lacks does.
    pub unseen: Unseen,
    /// How the file writes its cells (`--delimiter`, `--decimal-comma`).
    pub format: CsvFormat,
}

/// The rows of a file that [`read_for_model`] reads.
#[derive(Debug)]
pub struct ModelRows {
    pub data: Dataset,
    pub target: TargetColumn,
    /// The categorical cells with a level the model lacks, read as
    /// [`Reading::unseen`] says, by column.
    pub unseen: Vec<UnseenLevels>,
    /// Where the file has no column of the target's name: its column
    /// whose name differs from it only in case or surrounding spaces (and
    /// is no name the model reads), which names must match exactly.
    pub target_near: Option<String>,
}

/// The columns a model reads from the CSV file `path`, matched by name
/// in any order: its features, each a number in every row, and its
/// target where the file has it (its values where [`TargetColumn::Whole`]).
/// The other columns are not read, so they may hold anything (an id, a
/// date). Missing cells and the target's cells are read as `reading`
/// says. A model's one-hot encoded features (`categories`) are read from
/// their column's text, with the model's levels.
pub fn read_for_model(
    path: &Path,
    feature_names: &[String],
    target_name: &str,
    reading: Reading<'_>,
    categories: &[Category],
) -> Result<ModelRows> {
    let near = std::sync::OnceLock::new();
    let choose = for_model(
        path,
        (feature_names, target_name),
        reading,
        categories,
        &near,
    );
    let (table, unseen) = match categories.is_empty() {
        true => (
            Table::read_columns(path, reading.format, &choose)?,
            Vec::new(),
        ),
        false => {
            let columns = category_columns(categories);
            let known = Some((categories, reading.unseen));
            let (table, _, unseen) =
                read_categorical(path, reading.format, &choose, &columns, known, reading.gaps)?;
            (table, unseen)
        }
    };
    let (data, target) = select_for_model(table, feature_names, target_name)?;
    Ok(ModelRows {
        data,
        target,
        unseen,
        target_near: near.get().cloned(),
    })
}

/// The file's columns that `categories` encode.
fn category_columns(categories: &[Category]) -> Vec<String> {
    categories.iter().map(|c| c.column.clone()).collect()
}

/// The rows of a CSV file that [`read_for_model`] reads, and the cells of
/// its columns `keep` (an id, a date) in each, as text: a line's start
/// for each row, its kept cells in `keep`'s order, each quoted where
/// [`crate::io::csv_line`] quotes and followed by a comma. The cells are
/// as the csv reader reads them: quotes undone, the whitespace around the
/// text trimmed (inside quotes too); a kept cell that is not UTF-8 is an
/// error at its line and column. The file is read whole, once (it may be a pipe), and its rows
/// are those of the numbers, blank lines skipped. The kept columns' names
/// come last ([`named_columns`]).
pub fn read_for_model_keeping(
    path: &Path,
    feature_names: &[String],
    target_name: &str,
    reading: Reading<'_>,
    categories: &[Category],
    keep: &[String],
) -> Result<(ModelRows, Vec<String>, Vec<String>)> {
    let bytes = read_whole(path, reading.format.delimiter)?;
    let near = std::sync::OnceLock::new();
    let for_model = for_model(
        path,
        (feature_names, target_name),
        reading,
        categories,
        &near,
    );
    // The names are checked before the rows are read.
    let choose = |header: &[String]| {
        kept_columns(path, header, keep, target_name)?;
        for_model(header)
    };
    let (cores, delimiter) = (crate::cpu::cores(), reading.format.delimiter);
    let pieces = Table::parse_pieces(path, &bytes, cores, PIECE_BYTES, reading.format, &choose)?;
    let mut table = pieces.join()?;
    let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    let mut unseen = Vec::new();
    if !categories.is_empty() {
        let columns = category_columns(categories);
        let known = Some((categories, reading.unseen));
        let encoding =
            category::encode(path, body, delimiter, &table, &columns, known, reading.gaps)?;
        unseen = encoding.unseen();
        table = encoding.spread(table)?.0;
    }
    let rows = table.rows;
    let (data, target) = select_for_model(table, feature_names, target_name)?;
    let head = Head::parse(path, body, delimiter)?;
    let columns = kept_columns(path, &head.header, keep, target_name)?;
    let names = columns.iter().map(|&j| head.header[j].clone()).collect();
    let err = csv_error(path);
    let mut reader = csv_reader(&body[head.at..], delimiter);
    let mut record = csv::ByteRecord::new();
    let mut starts = Vec::with_capacity(rows);
    let mut lines = Lines::new(&body[head.at..], head.body_line);
    // The numbers were read from the same bytes, so every record reads
    // and has the header's cells.
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| err(head.body_line, 0, format!("unreadable CSV: {e}")))?
    {
        if is_blank(&record) {
            continue;
        }
        // Copied as text, so each must be UTF-8: a lossy copy would make
        // distinct keys (Z\xfcrich, Z\xe4rich) one.
        let line = lines.of(record.position());
        let cells = (columns.iter())
            .map(|&j| {
                std::str::from_utf8(&record[j]).map_err(|_| {
                    err(line, j + 1, format!(
                        "the cell is not valid UTF-8 ({}) (column '{}'); --keep copies its cells as text, so the file must be UTF-8",
                        shown_bytes(&record[j]),
                        escaped(&head.header[j])
                    ))
                })
            })
            .collect::<Result<Vec<&str>>>()?;
        let mut start = crate::io::csv_line(cells.iter().copied());
        start.pop();
        start.push(',');
        starts.push(start);
    }
    if starts.len() != rows {
        return Err(err(
            head.body_line,
            0,
            format!(
                "--keep read {} where the numbers read {rows}",
                crate::units::count(starts.len(), "row")
            ),
        ));
    }
    let rows = ModelRows {
        data,
        target,
        unseen,
        target_near: near.get().cloned(),
    };
    Ok((rows, starts, names))
}

/// Where the columns `keep` are in `header`, or why they cannot be kept.
fn kept_columns(
    path: &Path,
    header: &[String],
    keep: &[String],
    target_name: &str,
) -> Result<Vec<usize>> {
    let err = |message| csv_error(path)(1, 0, message);
    let keep = &named_columns(keep, header)[..];
    let mut columns = Vec::with_capacity(keep.len());
    for (i, name) in keep.iter().enumerate() {
        let Some(j) = header.iter().position(|h| h == name) else {
            return Err(err(format!(
                "--keep names '{name}', which is not a column; the header has: {}",
                listed(header)
            )));
        };
        if keep[..i].contains(name) {
            return Err(err(format!("--keep names '{name}' twice; name each once")));
        }
        if header.iter().filter(|h| *h == name).count() > 1 {
            // Only names that are empty can repeat in a header.
            return Err(err(
                "--keep '' names more than one column with no name; name the column to keep in the file".into(),
            ));
        }
        if *name == format!("{target_name}_pred") {
            return Err(err(format!(
                "--keep names '{name}', the name of the predictions' own column; rename that column in the file"
            )));
        }
        columns.push(j);
    }
    Ok(columns)
}

/// How [`read_for_model`] reads each column of a header: a feature's
/// cells as numbers (or with `reading.gaps` gaps), the target's as
/// `reading` says. The columns `categories` encode are left to be read as
/// text. A header without the target's name sets `near` to
/// [`ModelRows::target_near`] where it has one.
fn for_model<'a>(
    path: &'a Path,
    (feature_names, target_name): (&'a [String], &'a str),
    reading: Reading<'a>,
    categories: &'a [Category],
    near: &'a std::sync::OnceLock<String>,
) -> impl Fn(&[String]) -> Result<Vec<ColumnUse>> + Sync + 'a {
    let column_of = column_of_level(categories);
    // The file's columns the model reads, in the order of its features:
    // a one-hot encoded column where its first level is.
    let mut columns: Vec<String> = Vec::with_capacity(feature_names.len());
    let mut numbers = std::collections::HashSet::new();
    for name in feature_names {
        match column_of.get(name) {
            Some(&c) if columns.iter().any(|n| n == c) => {}
            Some(&c) => columns.push(c.to_string()),
            None => {
                numbers.insert(name.clone());
                columns.push(name.clone());
            }
        }
    }
    move |header: &[String]| -> Result<Vec<ColumnUse>> {
        let found: std::collections::HashSet<&str> = header.iter().map(String::as_str).collect();
        if !columns.iter().all(|n| found.contains(n.as_str())) {
            return Err(missing_features(path, &columns, header, reading.format));
        }
        if !found.contains(target_name) {
            let fold = |n: &str| n.trim().to_lowercase();
            let alike =
                (header.iter()).find(|h| fold(h) == fold(target_name) && !columns.contains(h));
            if let Some(h) = alike {
                let _ = near.set(h.clone());
            }
        }
        let usage = |name: &String| match name.as_str() {
            _ if reading.dates.contains(name) => ColumnUse::Date,
            _ if numbers.contains(name) => ColumnUse::Number,
            n if n == target_name && reading.scored => ColumnUse::Number,
            n if n == target_name => ColumnUse::NumberOrNan,
            _ => ColumnUse::Skip,
        };
        let uses = header.iter().map(usage).collect();
        Ok(if reading.gaps { with_gaps(uses) } else { uses })
    }
}

/// The model's columns of a table [`for_model`] chose.
fn select_for_model(
    table: Table,
    feature_names: &[String],
    target_name: &str,
) -> Result<(Dataset, TargetColumn)> {
    let (data, has_target) = table.select_named(feature_names, target_name)?;
    let target = match (has_target, data.y.iter().position(|v| v.is_nan())) {
        (false, _) => TargetColumn::Absent,
        (true, None) => TargetColumn::Whole,
        (true, Some(first_row)) => TargetColumn::Incomplete { first_row },
    };
    Ok((data, target))
}

/// `e` where it is an error about a header made without its line (line 1),
/// at the header's `line`: blank lines may come before it.
fn on_line(line: u64) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Csv {
            path,
            line: 1,
            column,
            message,
        } => Error::Csv {
            path,
            line,
            column,
            message,
        },
        e => e,
    }
}

/// The error of a file without some of a model's feature columns.
fn missing_features(
    path: &Path,
    feature_names: &[String],
    header: &[String],
    format: CsvFormat,
) -> Error {
    let missing: Vec<String> = (feature_names.iter())
        .filter(|n| !header.contains(n))
        .cloned()
        .collect();
    // The file's names that differ from a missing one only in case or
    // surrounding spaces, and are not a name the model reads themselves.
    let fold = |n: &str| n.trim().to_lowercase();
    let near: Vec<String> = (missing.iter())
        .filter_map(|m| {
            let h = (header.iter())
                .filter(|h| !feature_names.contains(h))
                .find(|h| fold(h) == fold(m))?;
            Some(format!("'{}' for '{}'", escaped(h), escaped(m)))
        })
        .collect();
    let hint = separator_hint(header, format.delimiter, None);
    let hint = hint.map(|h| hint_under(h, format)).unwrap_or_else(|| {
        match (numeric_header(path, header, format), near.is_empty()) {
            (Some(_), _) => " (every one a number: has the file no header line?)".to_string(),
            (None, false) => format!(
                "; names must match exactly, and the file has {} (rename those columns)",
                capped(near.into_iter(), SHOWN_NAMES)
            ),
            (None, true) => String::new(),
        }
    });
    Error::Csv {
        path: path.to_path_buf(),
        line: 1,
        column: 0,
        message: format!(
            "missing feature column(s) {}; the model was trained on {} and the file has {}{hint}",
            capped(
                missing.iter().map(|n| shown_name(n).into_owned()),
                MISSING_SHOWN
            ),
            listed(feature_names),
            listed(header)
        ),
    }
}

/// Where every column name in `path`'s header is a number, a line such
/// as "1.5,-2,0.25": most likely a file without a header line, whose
/// first row was read as the names. `None` otherwise.
fn numeric_header(path: &Path, header: &[String], format: CsvFormat) -> Option<String> {
    let number = |name: &String| read_number(name.trim(), format.decimal_comma).is_some();
    if header.is_empty() || !header.iter().all(number) {
        return None;
    }
    let shown: Vec<&str> = header.iter().take(3).map(String::as_str).collect();
    let more = if header.len() > 3 { ", …" } else { "" };
    let example = match format.delimiter {
        Delimiter::Tab => "x0, x1 and y, separated by tabs".to_string(),
        d => ["x0", "x1", "y"].join(&(d.byte() as char).to_string()),
    };
    Some(format!(
        "every column name in {}'s header is a number ({}{more}): if the file has no header line, its first row was read as the names; add a header line (such as {example})",
        path.display(),
        shown.join(", ")
    ))
}

/// How [`parse_cell`]'s error at an empty cell begins (and a date's).
const EMPTY: &str = "the cell is empty;";
/// [`parse_cell`]'s error at an empty cell.
const EMPTY_CELL: &str = "the cell is empty; expected a number";
/// How the error at an empty cell begins where every cell of its row is
/// empty, in place of `EMPTY`: spreadsheets write rows of delimiters
/// alone (`;;;`) below their data. [`says_missing`] knows it.
pub const BLANK_ROW: &str =
    "the cell is empty, as is every cell of the row (a spreadsheet may write such rows below its data);";
/// [`parse_cell`]'s error at a marker of a missing value, after the cell.
const MARKS_MISSING: &str = " marks a missing value; expected a number";

/// Whether a CSV error's message is `parse_cell`'s at a missing cell
/// ([`is_missing`]), which `train --missing drop` would leave out.
/// A categorical column's missing cell ([`Category`]) says so in the same
/// words, but expects a level.
pub fn says_missing(message: &str) -> bool {
    message.starts_with(EMPTY)
        || message.starts_with(BLANK_ROW)
        || message.contains(" marks a missing value;")
}

/// A date cell of `train --date`'s columns as the days since 1970-01-01
/// UTC ([`date::days`]), in f32, or why it is not one; a missing cell's
/// error is as [`parse_cell`]'s, which [`says_missing`] knows.
fn parse_date(raw: &[u8]) -> std::result::Result<f32, String> {
    let text = raw.trim_ascii();
    if text.is_empty() {
        return Err("the cell is empty; expected a date".into());
    }
    if is_missing(text) {
        let shown = String::from_utf8_lossy(text);
        return Err(format!(
            "'{}' marks a missing value; expected a date",
            escaped(&shown)
        ));
    }
    date::days(text).map(|days| days as f32)
}

/// A cell's number (its decimal mark a comma with `decimal_comma`), or
/// why it is none.
fn parse_cell(raw: &[u8], decimal_comma: bool) -> std::result::Result<f32, String> {
    let text = std::str::from_utf8(raw).map_err(|_| {
        format!(
            "the cell is not valid UTF-8 ({}); expected a number",
            shown_bytes(raw)
        )
    })?;
    if text.is_empty() {
        return Err(EMPTY_CELL.into());
    }
    let shown = shown_cell(text);
    if is_missing(raw) {
        return Err(format!("'{shown}'{MARKS_MISSING}"));
    }
    let v = read_number(text, decimal_comma).ok_or_else(|| format!("'{shown}' is not a number"))?;
    stored(v).ok_or_else(|| {
        let word = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
        match word.as_str() {
            "inf" | "infinity" | "nan" => format!("'{shown}' is not a finite number"),
            _ => format!("'{shown}' is out of range for f32 (|v| ≤ 3.4028235e38)"),
        }
    })
}

/// `text` as the f32 it writes, parsed straight to f32; with
/// `decimal_comma`, its decimal mark a comma (`1,5`), and a point in it
/// makes it no number (a point between thousands, `1.234,5`, as a comma
/// between them is without).
fn read_number(text: &str, decimal_comma: bool) -> Option<f32> {
    if !decimal_comma {
        return text.parse().ok();
    }
    if text.contains('.') {
        return None;
    }
    // The comma made a point, in place where the cell is short (a number
    // is), so that no cell allocates.
    let mut buf = [0u8; 64];
    let bytes = text.as_bytes();
    match buf.get_mut(..bytes.len()) {
        Some(copy) => {
            copy.copy_from_slice(bytes);
            copy.iter_mut()
                .filter(|b| **b == b',')
                .for_each(|b| *b = b'.');
            std::str::from_utf8(copy).ok()?.parse().ok()
        }
        None => text.replace(',', ".").parse().ok(),
    }
}

/// A cell's number as the f32 stored: `v`, the text parsed straight to
/// f32 and so rounded once, to nearest (through f64 first, a number within
/// f64's rounding of halfway between two f32s could land one f32 off); one
/// below f32's least normal magnitude (1.1754944e-38) as 0 of its sign, as
/// the backends flush subnormals; `None` for an infinity, which is a number
/// past f32's largest value (f32::MAX written in full, or as 3.4028235e38,
/// is in) as well as `inf`, and for NaN. Both CSV readers store cells
/// through it.
fn stored(v: f32) -> Option<f32> {
    match v.is_normal() {
        true => Some(v),
        false => v.is_finite().then(|| 0f32.copysign(v)),
    }
}

/// The population variance of `y`, in f64.
pub fn target_variance(y: &[f32]) -> f64 {
    let n = y.len().max(1) as f64;
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n
}

/// The variance of [`Dataset::synthetic`]`(rows, features, seed)`'s
/// targets, as [`target_variance`] gives it, without holding the rows:
/// of those the GPU generates itself, or a sharded run's processes each
/// generate in part. Row n's target reads its first three features
/// alone; the machine's threads share the rows, each summing its block
/// (Welford's update in f64), and the blocks are combined in order (so
/// the machine's thread count moves only the last bits). S4's
/// 16,777,216 rows take 0.57 s on two AMD EPYC Zen 4 cores.
pub fn synthetic_target_variance(rows: usize, features: usize, seed: u64) -> f64 {
    let used = features.min(3);
    let block = |range: std::ops::Range<usize>| {
        let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
        let mut x = [0f32; 3];
        for row in range {
            for (j, v) in x[..used].iter_mut().enumerate() {
                *v = rng::symmetric(seed, Stream::Features, (row * features + j) as u64);
            }
            let y = synthetic_target(&x[..used]) as f64;
            n += 1.0;
            let d = y - mean;
            mean += d / n;
            m2 += d * (y - mean);
        }
        (n, mean, m2)
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let size = rows.div_ceil(threads.max(1)).max(1);
    let blocks: Vec<(f64, f64, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..rows)
            .step_by(size)
            .map(|start| s.spawn(move || block(start..(start + size).min(rows))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a block sums"))
            .collect()
    });
    // Chan et al.'s combination of the blocks' means and sums of squares.
    let (n, _, m2) = blocks
        .into_iter()
        .fold((0f64, 0f64, 0f64), |(n, mean, m2), (nb, mb, m2b)| {
            let total = n + nb;
            if total == 0.0 {
                return (n, mean, m2);
            }
            let d = mb - mean;
            (
                total,
                mean + d * nb / total,
                m2 + m2b + d * d * n * nb / total,
            )
        });
    m2 / n.max(1.0)
}

/// R² = 1 − `mse` / `variance`: the share of the target's variance a model
/// explains (1 is a perfect fit, 0 no better than the mean, below 0
/// worse); `None` where the target is constant.
pub fn r_squared(mse: f64, variance: f64) -> Option<f64> {
    (variance > 0.0).then(|| 1.0 - mse / variance)
}

/// R² of `predicted` against `truth` (the same rows, in order); `None`
/// where there are none, or `truth` holds one value in every row, where
/// the variance would be its mean's rounding alone.
pub fn r2_between(truth: &[f64], predicted: &[f64]) -> Option<f64> {
    if truth.iter().all(|&v| v == truth[0]) {
        return None;
    }
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let variance = truth.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let mse = (truth.iter().zip(predicted))
        .map(|(t, p)| (t - p).powi(2))
        .sum::<f64>()
        / n;
    r_squared(mse, variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name offered for one that differs in case, surrounding whitespace
    /// or the spaces, `_` and `-` between its words; not for another word.
    #[test]
    fn a_near_column_name_is_offered() {
        let header = [
            "id".to_string(),
            "disease progression".into(),
            "Price".into(),
        ];
        for name in [
            "disease_progression",
            "Disease-Progression",
            " disease  progression",
        ] {
            assert_eq!(
                did_you_mean(name, &header),
                "; did you mean 'disease progression'?",
                "{name}"
            );
        }
        assert_eq!(did_you_mean("price", &header), "; did you mean 'Price'?");
        for name in ["disease progressio", "progression", "Price"] {
            assert_eq!(did_you_mean(name, &header), "", "{name}");
        }
    }

    /// A column's number where its name belongs is read both ways, and
    /// only the ways the header has.
    #[test]
    fn a_column_number_is_answered_with_its_names() {
        let header = ["id".to_string(), "x".into(), "y".into()];
        let cases = [
            ("0", "; columns are named, not numbered: column 0 is 'id' counting from 0"),
            ("2", "; columns are named, not numbered: column 2 is 'y' counting from 0, 'x' counting from 1"),
            ("3", "; columns are named, not numbered: column 3 is 'y' counting from 1"),
            ("4", ""),
            ("-1", ""),
        ];
        for (name, said) in cases {
            assert_eq!(did_you_mean(name, &header), said, "{name}");
        }
    }

    #[test]
    fn far_features_are_those_past_the_bound() {
        let data = Dataset {
            x: vec![1.0, -30.0, 0.5, 2.0, 5.0, 0.5],
            y: vec![-12.0, 3.0],
            rows: 2,
            features: 3,
            feature_names: ["a", "b", "c"].map(String::from).to_vec(),
            target_name: "y".into(),
        };
        // The target, y, is not a feature.
        assert_eq!(data.far_features(10.0), [("b".to_string(), 30.0)]);
        // Under 1, c's 0.5 is nowhere past the bound's inverse.
        assert_eq!(data.far_features(1.0).len(), 3);
        assert!(data.far_features(100.0).is_empty());
        assert_eq!(
            data.far_features(1.5),
            [
                ("a".to_string(), 2.0),
                ("b".to_string(), 30.0),
                ("c".to_string(), 0.5)
            ]
        );
        // A column of zeros is not far (it is constant), one within ±0.05 is.
        let mut small = data.clone();
        small.x = vec![0.0, 0.05, 1.0, 0.0, -0.01, 1.0];
        assert_eq!(small.far_features(10.0), [("b".to_string(), 0.05)]);
    }

    #[test]
    fn the_largest_f32_is_a_cell_and_past_it_is_not() {
        let max = f32::MAX;
        for (text, want) in [
            (format!("{max:e}"), max),
            (format!("{max}"), max),
            (format!("-{max:e}"), -max),
            ("3.40282356e38".to_string(), max),
        ] {
            assert_eq!(parse_cell(text.as_bytes(), false), Ok(want), "{text}");
        }
        for text in ["3.4028236e38", "-3.5e38", "1e39", "1e400"] {
            let err = parse_cell(text.as_bytes(), false).unwrap_err();
            assert!(
                err.contains("is out of range for f32 (|v| ≤ 3.4028235e38)"),
                "{text}: {err}"
            );
        }
        for text in ["inf", "-Infinity", "+NaN"] {
            let err = parse_cell(text.as_bytes(), false).unwrap_err();
            assert!(err.ends_with("is not a finite number"), "{text}: {err}");
        }
    }

    /// A cell is rounded to f32 once: each of these is a hair past the
    /// midpoint between two f32s, which rounding to f64 first would put on
    /// the midpoint, and then to the even f32 below.
    #[test]
    fn a_cell_is_rounded_to_f32_once() {
        for (text, want) in [
            ("1.00000005960464477539062501", 1.0 + f32::EPSILON),
            ("16777217.000000001", 16_777_218.0),
            ("-16777217.000000001", -16_777_218.0),
        ] {
            assert_eq!(parse_cell(text.as_bytes(), false), Ok(want), "{text}");
            let (csv, plain) = both_readers(&format!("{text},1\n"), 2);
            let want = vec![want.to_bits(), 1f32.to_bits()];
            assert_eq!(csv.unwrap().1, want, "{text}: the csv reader");
            assert_eq!(plain, Some((want, 1)), "{text}: the plain reader");
        }
    }

    fn parse(s: &str) -> Result<Table> {
        Table::parse(Path::new("t.csv"), s.as_bytes())
    }

    /// `line_ends` against a count written out byte by byte, over ranges
    /// that cut runs of 255 bytes and `\r\n` pairs anywhere, in bytes
    /// that are mostly line ends (so a byte-wide sum would overflow if a
    /// run were longer) and mostly not.
    /// A median is the middle number, or the mean of the two middle ones,
    /// of the rows' numbers (NaN left out); a one-hot encoded column's
    /// levels take its most common level with median, and their shares
    /// with mean.
    #[test]
    fn medians_and_most_common_levels() {
        let nan = f32::NAN;
        #[rustfmt::skip]
        let x = vec![
            1.0, 3.0, 0.0, 1.0,
            10.0, 7.0, 1.0, 0.0,
            2.0, 5.0, 0.0, 1.0,
            nan, 9.0, nan, nan,
            -4.0, 100.0, 0.0, 1.0,
        ];
        let data = Dataset {
            x,
            y: vec![0.0; 5],
            rows: 5,
            features: 4,
            feature_names: ["a", "b", "c=p", "c=q"].map(String::from).to_vec(),
            target_name: "y".into(),
        };
        let c = [Category {
            column: "c".into(),
            levels: vec!["p".into(), "q".into()],
        }];
        let m = Imputation::fit(&data, Fill::Median, &c).unwrap();
        assert_eq!(m.feature_median, [1.5, 7.0, 0.0, 1.0]);
        assert!(m.feature_mean.is_empty());
        let m = Imputation::fit(&data, Fill::Mean, &c).unwrap();
        assert_eq!(m.feature_mean, [9.0 / 4.0, 124.0 / 5.0, 0.25, 0.75]);
        // Against the sorted numbers, for 1 to 40 of them, ties included.
        for n in 1..=40u64 {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7919 + n) % 13) as f32 - 6.0).collect();
            let mut sorted = x.clone();
            sorted.sort_by(f32::total_cmp);
            let want = (sorted[(n as usize - 1) / 2] as f64 + sorted[n as usize / 2] as f64) / 2.0;
            let data = Dataset {
                y: vec![0.0; x.len()],
                rows: x.len(),
                x,
                features: 1,
                feature_names: vec!["a".into()],
                target_name: "y".into(),
            };
            let m = Imputation::fit(&data, Fill::Median, &[]).unwrap();
            assert_eq!(m.feature_median, [want], "{n}");
        }
    }

    /// With median, a one-hot encoded column whose most common levels tie
    /// fills with the first of them in byte order (the levels' order): of
    /// p once, q twice, r twice (a missing cell not counted), q.
    #[test]
    fn a_tie_of_most_common_levels_fills_with_the_first_in_byte_order() {
        let nan = f32::NAN;
        #[rustfmt::skip]
        let x = vec![
            0.0, 0.0, 1.0,
            1.0, 0.0, 0.0,
            0.0, 1.0, 0.0,
            nan, nan, nan,
            0.0, 1.0, 0.0,
            0.0, 0.0, 1.0,
        ];
        let data = Dataset {
            x,
            y: vec![0.0; 6],
            rows: 6,
            features: 3,
            feature_names: ["c=p", "c=q", "c=r"].map(String::from).to_vec(),
            target_name: "y".into(),
        };
        let c = [Category {
            column: "c".into(),
            levels: vec!["p".into(), "q".into(), "r".into()],
        }];
        let m = Imputation::fit(&data, Fill::Median, &c).unwrap();
        assert_eq!(m.feature_median, [0.0, 1.0, 0.0]);
    }

    #[test]
    fn line_ends_counts_as_the_csv_reader_cuts_lines() {
        let naive = |bytes: &[u8], range: std::ops::Range<usize>| {
            let mut n = 0;
            for i in range {
                n += match bytes[i] {
                    b'\n' => 1,
                    b'\r' if bytes.get(i + 1) != Some(&b'\n') => 1,
                    _ => 0,
                };
            }
            n
        };
        for (seed, alphabet) in [
            (1, &b"\n\r"[..]),
            (2, &b"\n\r,1"[..]),
            (3, &b"ab,\n\r23456789"[..]),
        ] {
            let bytes: Vec<u8> = (0..3000)
                .map(|i| alphabet[rng::bits(seed, Stream::Features, i) as usize % alphabet.len()])
                .collect();
            for (start, end) in [
                (0, 3000),
                (0, 255),
                (1, 256),
                (254, 511),
                (700, 2999),
                (17, 17),
            ] {
                assert_eq!(
                    line_ends(&bytes, start..end),
                    naive(&bytes, start..end),
                    "seed {seed}, {start}..{end}"
                );
            }
        }
    }

    /// Without the rows, the same variance as of the rows generated.
    #[test]
    fn the_synthetic_targets_variance_needs_no_rows() {
        for (rows, features, seed) in [(1, 1, 0), (2, 2, 3), (1000, 5, 7), (4097, 3, 1)] {
            let held = Dataset::synthetic(rows, features, seed)
                .unwrap()
                .target_variance();
            let streamed = synthetic_target_variance(rows, features, seed);
            assert!(
                (held - streamed).abs() <= 1e-12 * held.max(1e-300),
                "{rows} × {features}: {held} vs {streamed}"
            );
        }
    }

    #[test]
    fn synthetic_matches_the_formula() {
        let d = Dataset::synthetic(50, 4, 3).unwrap();
        for n in 0..d.rows {
            let r = d.row(n);
            let want = (PI * r[0] as f64).sin() * (PI * r[1] as f64).cos() + 0.5 * r[2] as f64;
            assert!((d.y[n] as f64 - want).abs() < 1e-6);
            assert!(r.iter().all(|v| (-1.0..1.0).contains(v)));
        }
        let one = Dataset::synthetic(5, 1, 3).unwrap();
        for n in 0..5 {
            let want = (PI * one.row(n)[0] as f64).sin();
            assert!((one.y[n] as f64 - want).abs() < 1e-6);
        }
    }

    #[test]
    fn synthetic_rows_do_not_depend_on_n() {
        let small = Dataset::synthetic(10, 3, 9).unwrap();
        let big = Dataset::synthetic(100, 3, 9).unwrap();
        assert_eq!(small.x[..], big.x[..30]);
        assert_ne!(small.x, Dataset::synthetic(10, 3, 10).unwrap().x);
    }

    #[test]
    fn accepts_bom_crlf_whitespace_and_no_final_newline() {
        let t = parse("\u{feff}a, b ,y\r\n 1,2, 3\r\n4 ,5,6").unwrap();
        assert_eq!(t.header, ["a", "b", "y"]);
        assert_eq!(t.cells, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let d = t.into_dataset(Some("a")).unwrap();
        assert_eq!(d.feature_names, ["b", "y"]);
        assert_eq!(d.x, [2.0, 3.0, 5.0, 6.0]);
        assert_eq!(d.y, [1.0, 4.0]);
    }

    fn csv_error(s: &str) -> (u64, usize, String) {
        match parse(s).and_then(|t| t.into_dataset(None)) {
            Err(e) => place(e),
            Ok(_) => panic!("expected a CSV error: {s:?}"),
        }
    }

    /// A CSV error's line, column and message.
    fn place(e: Error) -> (u64, usize, String) {
        match e {
            Error::Csv {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            e => panic!("expected a CSV error, got {e}"),
        }
    }

    /// Under each delimiter a file reads as its comma-separated twin, in
    /// one piece and in many, with the csv reader and without: quoted
    /// cells that hold every delimiter and a line end, blank and CRLF
    /// lines, whitespace around cells, no final line end.
    #[test]
    fn every_delimiter_reads_as_the_comma_does() {
        let rows = [
            vec!["id", "a", "y"],
            vec!["\"p,q;r|s\tt\"", " 1.5 ", "2\r"],
            vec![""],
            vec!["\"two\nlines\"", "-3e2", "4"],
            vec!["plain", "7", "8"],
        ];
        let text = |d: Delimiter| {
            let rows: Vec<String> = rows
                .iter()
                .map(|r| r.join(&(d.byte() as char).to_string()))
                .collect();
            rows.join("\n")
        };
        let skip_id = |_: &[String]| Ok(vec![ColumnUse::Skip]);
        let read = |bytes: &[u8], d: Delimiter, pieces: usize| {
            Table::parse_pieces(Path::new("t.csv"), bytes, pieces, 1, d.into(), &skip_id)
                .and_then(Pieces::join)
                .unwrap_or_else(|e| panic!("{d:?}: {e}"))
        };
        let want = read(text(Delimiter::Comma).as_bytes(), Delimiter::Comma, 1);
        assert_eq!(want.header, ["a", "y"]);
        assert_eq!(want.cells, [1.5, 2.0, -300.0, 4.0, 7.0, 8.0]);
        for d in Delimiter::ALL {
            let text = text(d);
            let tail = text.rfind("plain").unwrap();
            for pieces in [1, 3] {
                assert_eq!(read(text.as_bytes(), d, pieces).cells, want.cells, "{d:?}");
                // The rows with no quote, read by the plain reader too.
                let plain = format!("a{0}y\n{1}", d.byte() as char, &text[tail + 6..]);
                let got = Table::parse_pieces(
                    Path::new("t.csv"),
                    plain.as_bytes(),
                    pieces,
                    1,
                    d.into(),
                    &every_column,
                );
                assert_eq!(got.unwrap().join().unwrap().cells, [7.0, 8.0], "{d:?}");
            }
            let row = format!("7{0}8\n", d.byte() as char);
            let (_, plain) = separated_readers(&row, 2, &[], d.into());
            let bits = [7f32, 8.0].map(f32::to_bits).to_vec();
            assert_eq!(plain, Some((bits, 1)), "{d:?}: the plain reader reads it");
        }
    }

    /// With --decimal-comma a number's comma is its decimal mark, in the
    /// plain reader and the csv one alike, and a point makes a cell no
    /// number; without it, a decimal comma is no number.
    #[test]
    fn a_decimal_comma_is_read_as_a_point() {
        let format = CsvFormat::new(Delimiter::Semicolon, true).unwrap();
        let read = |text: &str, format: CsvFormat| {
            Table::parse_pieces(
                Path::new("t.csv"),
                text.as_bytes(),
                1,
                1,
                format,
                &every_column,
            )
            .and_then(Pieces::join)
        };
        let want = [1.5f32, 2.0, -32.5, 0.25];
        for text in ["a;y\n1,5;2\n-3,25e1;,25\n", "a;y\n\"1,5\";2\n-3,25e1;,25\n"] {
            assert_eq!(read(text, format).unwrap().cells, want, "{text:?}");
        }
        let (_, plain) = separated_readers("1,5;2\n", 2, &[], format);
        assert_eq!(plain, Some(([1.5f32, 2.0].map(f32::to_bits).to_vec(), 1)));
        for (text, cell) in [("a;y\n1.5;2\n", "1.5"), ("a;y\n1,234,5;2\n", "1,234,5")] {
            let (_, _, m) = place(read(text, format).err().unwrap());
            assert!(m.starts_with(&format!("'{cell}' is not a number")), "{m}");
        }
        let (_, _, m) = place(
            read("a;y\n1,5;2\n", Delimiter::Semicolon.into())
                .err()
                .unwrap(),
        );
        assert!(m.starts_with("'1,5' is not a number"), "{m}");
        assert_eq!(read_number("1,5", false), None);
        // A cell longer than the reader's buffer: 70 zeros first.
        let long = format!("{}1,5", "0".repeat(70));
        assert_eq!(read_number(&long, true), Some(1.5));
    }

    /// A file separated by semicolons, tabs or bars reads as one column:
    /// its rows' errors say so, and name the --delimiter that reads it. A
    /// header of several columns, one of which holds a semicolon, gets no
    /// such hint.
    #[test]
    fn another_separator_is_named() {
        for (text, what, flag) in [
            ("a;b;y\n1;2;3\n", "semicolons", "';'"),
            ("a;b;y\n1,5;2;3\n", "semicolons", "';'"),
            ("a\tb\ty\n1\t2\t3\n", "tabs", "tab"),
            ("a|b|y\n1|2|3\n", "bars", "'|'"),
        ] {
            let (l, _, m) = csv_error(text);
            assert_eq!(l, 2, "{text:?}");
            let comma = match text.contains("1,5") {
                true => " --decimal-comma (its numbers mark their decimals with a comma)",
                false => "",
            };
            let says = format!("the file looks separated by {what}, and this command reads cells separated by commas: pass --delimiter {flag}{comma}");
            assert!(m.ends_with(&says), "{m}");
            // Read as the hint says, the file is the comma-separated one
            // (a decimal comma is still not a number).
            let delimiter = Delimiter::parse(flag.trim_matches('\'')).unwrap();
            let bytes = text.as_bytes();
            let read = Table::parse_pieces(
                Path::new("t.csv"),
                bytes,
                1,
                1,
                delimiter.into(),
                &every_column,
            );
            match text.contains("1,5") {
                true => assert!(place(read.err().unwrap())
                    .2
                    .contains("'1,5' is not a number")),
                false => {
                    let comma = parse(&text.replace(delimiter.byte() as char, ",")).unwrap();
                    assert_eq!(read.unwrap().join().unwrap().cells, comma.cells, "{text:?}");
                }
            }
        }
        // A comma-separated file read with another delimiter: the hint
        // says to leave it out.
        let read = Table::parse_pieces(
            Path::new("t.csv"),
            b"a,y\n1,2\n",
            1,
            1,
            Delimiter::Tab.into(),
            &every_column,
        );
        let (_, _, m) = place(read.map(|_| ()).unwrap_err());
        let says = "the file looks separated by commas, and this command reads cells separated by tabs: pass --delimiter ,";
        assert!(m.ends_with(says), "{m}");
        // And with --decimal-comma, which commas between cells rule out,
        // to leave that out too.
        let format = CsvFormat {
            delimiter: Delimiter::Tab,
            decimal_comma: true,
        };
        // ("1,2" alone would read as 1.2.)
        let text = b"a,b,y\n1,2,3\n";
        let read = Table::parse_pieces(Path::new("t.csv"), text, 1, 1, format, &every_column);
        let (_, _, m) = place(read.map(|_| ()).unwrap_err());
        assert!(
            m.ends_with(&format!("{says} and leave out --decimal-comma")),
            "{m}"
        );
        let (_, _, m) = csv_error("a;b,y\n1,x\n");
        assert!(!m.contains("separated"), "{m}");
        // A name with a comma cuts the header in two, each holding a
        // semicolon or more: the hint still speaks.
        // Names that hold a semicolon now and then, over rows that hold
        // none: no hint.
        let (_, _, m) = csv_error("a;b,c;d\n1,2\n3,x\n");
        assert!(!m.contains("separated"), "{m}");
        // The delimiter held most is the one named.
        let (_, _, m) = csv_error("a\tb;c\td;e\ty\n1\t2\t3\t4\n");
        assert!(m.contains("the file looks separated by tabs"), "{m}");
        let (_, _, m) = csv_error("id;Preis (EUR, netto);y\n1;2;3\n");
        let says = "; the header's 2 names hold 2 semicolons: the file looks separated by semicolons, and this command reads cells separated by commas: pass --delimiter ';'";
        assert!(m.ends_with(says), "{m}");
        // A model's columns looked for in such a file (predict,
        // importance): the same hint.
        let names = ["a".to_string(), "b".to_string()];
        let header = ["a;b;y".into()];
        let m =
            missing_features(Path::new("d.csv"), &names, &header, CsvFormat::default()).to_string();
        assert!(m.contains("missing feature column(s) a, b"), "{m}");
        assert!(m.contains("the file looks separated by semicolons"), "{m}");
        // A name with a comma is quoted, so that the list reads as names.
        let names = ["a".to_string(), "c,d".to_string()];
        let header = ["a".into(), "b".into()];
        let m = missing_features(Path::new("d.csv"), &names, &header, CsvFormat::default());
        let says = "missing feature column(s) \"c,d\"; the model was trained on a, \"c,d\" and";
        assert!(m.to_string().contains(says), "{m}");
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        assert_eq!(csv_error("a,y\n1,2\n3,x\n").0, 3);
        assert_eq!(csv_error("a,y\n1,2\n3,x\n").1, 2);
        let (l, c, m) = csv_error("a,y\n1,\n");
        assert_eq!((l, c), (2, 2));
        assert!(m.contains("empty"), "{m}");
        for bad in ["nan", "inf", "-inf", "NaN", "1e39"] {
            let (l, c, _) = csv_error(&format!("a,y\n{bad},1\n"));
            assert_eq!((l, c), (2, 1), "{bad}");
        }
        let (l, _, m) = csv_error("a,b,y\n1,2,3\n1,2\n");
        assert_eq!(l, 3);
        assert!(m.contains("2 cells"), "{m}");
        let (l, c, m) = csv_error("a,a,y\n1,2,3\n");
        assert_eq!((l, c), (1, 2));
        assert!(m.contains("duplicate"), "{m}");
    }

    #[test]
    fn empty_and_header_only_files_are_refused() {
        assert!(csv_error("").2.contains("empty"));
        assert!(csv_error("\n\n").2.contains("empty"));
        let (l, _, m) = csv_error("a,y\n");
        assert_eq!(l, 2);
        assert!(m.contains("no data rows"), "{m}");
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let d = Dataset::synthetic(101, 2, 5).unwrap();
        let (train, val) = d.split(0.2, 7).unwrap();
        assert_eq!((train.rows, val.rows), (81, 20));
        // Every row lands on exactly one side, each side in file order:
        // the rows found again by their (distinct) targets.
        let index = |y: f32| d.y.iter().position(|&v| v == y).unwrap();
        let (t, v): (Vec<usize>, Vec<usize>) = (
            train.y.iter().map(|&y| index(y)).collect(),
            val.y.iter().map(|&y| index(y)).collect(),
        );
        let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..101).collect::<Vec<_>>());
        assert!(t.is_sorted() && v.is_sorted(), "{t:?} {v:?}");
        for (side, rows) in [(&train, &t), (&val, &v)] {
            for (k, &n) in rows.iter().enumerate() {
                assert_eq!(side.row(k), d.row(n), "row {n}'s features");
            }
        }
        // docs/spec.md: the held-out rows are those with the smallest keys.
        let key = |n: usize| rng::bits(7, Stream::Split, n as u64);
        let threshold = v.iter().map(|&n| key(n)).max().unwrap();
        assert!(t.iter().all(|&n| key(n) > threshold));
        let again = d.split(0.2, 7).unwrap();
        assert_eq!(again.1, val);
        assert_ne!(d.split(0.2, 8).unwrap().1.y, val.y);
        // Not simply the first or last rows.
        assert_ne!(val.y[..], d.y[..20]);
        assert_ne!(val.y[..], d.y[81..]);
    }

    #[test]
    fn folds_partition_the_rows_in_key_order() {
        let d = Dataset::synthetic(103, 2, 5).unwrap();
        let index = |y: f32| d.y.iter().position(|&v| v == y).unwrap();
        // docs/spec.md: the rows in ascending key order, cut at
        // round(i · N / K), a half rounded up.
        let key = |n: usize| rng::bits(7, Stream::Split, n as u64);
        let mut order: Vec<usize> = (0..103).collect();
        order.sort_by_key(|&n| key(n));
        let cuts = [0, 26, 52, 77, 103]; // 25.75, 51.5, 77.25 rounded
        let mut seen = vec![0; 103];
        for i in 0..4 {
            let (train, val) = d.fold(i, 4, 7).unwrap();
            let v: Vec<usize> = val.y.iter().map(|&y| index(y)).collect();
            let t: Vec<usize> = train.y.iter().map(|&y| index(y)).collect();
            assert!(t.is_sorted() && v.is_sorted(), "{t:?} {v:?}");
            let mut expected = order[cuts[i]..cuts[i + 1]].to_vec();
            expected.sort_unstable();
            assert_eq!(v, expected, "fold {i}");
            assert_eq!(t.len() + v.len(), 103);
            assert!(t.iter().all(|n| !v.contains(n)));
            for (k, &n) in v.iter().enumerate() {
                assert_eq!(val.row(k), d.row(n), "row {n}'s features");
            }
            for n in v {
                seen[n] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
        // Fold 0 is --validation-split 1/K's hold-out.
        assert_eq!(d.fold(0, 4, 7).unwrap(), d.split(0.25, 7).unwrap());
        assert_ne!(d.fold(0, 4, 8).unwrap().1.y, d.fold(0, 4, 7).unwrap().1.y);
        assert_eq!(fold_rows(2, 4, 103, 7), {
            let mut v = order[cuts[2]..cuts[3]].to_vec();
            v.sort_unstable();
            v
        });
        // docs/spec.md: where (1/K)·N in f64 falls just below a half.
        let d = Dataset::synthetic(147, 1, 0).unwrap();
        assert_eq!(d.fold(0, 98, 0).unwrap().1.rows, 2);
        assert_eq!(d.split(1.0 / 98.0, 0).unwrap().1.rows, 1);
        assert_eq!(fold_bound(1, 2, 5), 3);
        assert_eq!(fold_bound(1, 4, 2), 1);
        assert_eq!(fold_bound(3, 3, usize::MAX), usize::MAX);
    }

    /// fold_without_number finds the first fold whose training rows (as
    /// Dataset::fold cuts them) hold no number of some feature, as
    /// Imputation::fit on those rows finds it; a feature with a number in
    /// every fold's training rows is no such fold.
    #[test]
    fn the_first_fold_without_a_number_is_the_one_fit_refuses() {
        let fits = |d: &Dataset, k: usize| {
            let (train, _) = d.fold(k, 5, 3).unwrap();
            Imputation::fit(&train, Fill::Mean, &[]).is_ok()
        };
        for keep in 0..12 {
            // Feature 1 holds numbers in `keep` rows of 40 only.
            let mut d = Dataset::synthetic(40, 3, 1).unwrap();
            for r in keep..40 {
                d.x[r * 3 + 1] = f32::NAN;
            }
            let want = (0..5).find(|&k| !fits(&d, k));
            assert_eq!(d.fold_without_number(5, 3), want, "{keep} numbers");
            if keep == 0 {
                assert_eq!(want, Some(0));
            }
            if keep >= 9 {
                // More numbers than a fold holds out: every fold has one.
                assert_eq!(want, None);
            }
        }
    }

    #[test]
    fn folds_need_two_and_a_row_each() {
        let d = Dataset::synthetic(3, 1, 0).unwrap();
        let (train, val) = d.fold(2, 3, 0).unwrap();
        assert_eq!((train.rows, val.rows), (2, 1));
        let e = d.fold(0, 4, 0).unwrap_err().to_string();
        assert!(
            e.contains("--folds 4 needs at least 4 rows") && e.contains("3 rows"),
            "{e}"
        );
        for k in [0, 1] {
            let e = d.fold(0, k, 0).unwrap_err().to_string();
            assert!(e.contains("--folds must be at least 2"), "{e}");
        }
    }

    #[test]
    fn splits_that_leave_a_side_empty_are_refused() {
        let d = Dataset::synthetic(3, 1, 0).unwrap();
        let e = d.split(0.1, 0).unwrap_err().to_string();
        assert!(e.contains("no validation rows"), "{e}");
        let e = d.split(0.9, 0).unwrap_err().to_string();
        assert!(e.contains("no training rows"), "{e}");
        for bad in [0.0, 1.0, -0.5, 2.0, f64::NAN] {
            let e = d.split(bad, 0).unwrap_err().to_string();
            assert!(e.contains("between 0 and 1"), "{bad}: {e}");
        }
    }

    /// Ranges by hand: a value past its range by more than a quarter of
    /// the width is far, one at the margin or a missing cell is not, and
    /// a constant column has no width to be far from.
    #[test]
    fn feature_ranges_by_hand() {
        let rows = |x: Vec<f32>| Dataset {
            y: vec![0.0; x.len() / 2],
            rows: x.len() / 2,
            x,
            features: 2,
            feature_names: vec!["a".into(), "c".into()],
            target_name: "y".into(),
        };
        // a from 0 to 4 (a margin of 1), c constant at 7; a NaN is
        // passed over.
        let trained = rows(vec![0.0, 7.0, 4.0, 7.0, f32::NAN, 7.0, 2.0, 7.0]);
        let r = FeatureRanges::fit(&trained).unwrap();
        assert_eq!(
            (r.min.as_slice(), r.max.as_slice()),
            (&[0.0, 7.0][..], &[4.0, 7.0][..])
        );
        r.check(2).unwrap();
        assert!(r.check(3).is_err());
        let asked = rows(vec![
            5.0,
            7.0, // at the margin: not far
            5.5,
            7.0, // far
            -1.0,
            1e30, // at the margin; c constant: not far
            f32::NAN,
            7.0, // missing: not far
            -9.0,
            7.0, // far, and further than 5.5
            6.0,
            7.0, // far, not so far as −9
            99.0,
            f32::NAN, // a row with a missing cell: not counted
        ]);
        let (count, far) = r.far(&asked);
        assert_eq!(count, 3);
        assert_eq!(
            far,
            [FarFeature {
                feature: 0,
                rows: 3,
                first_row: 1,
                furthest: -9.0
            }]
        );
        assert_eq!(r.far(&trained), (0, Vec::new()));
        // Joined: each end the wider.
        let other = FeatureRanges {
            min: vec![1.0, -2.0],
            max: vec![9.0, 3.0],
        };
        let both = r.union(&other);
        assert_eq!((both.min, both.max), (vec![0.0, -2.0], vec![9.0, 7.0]));
        // A column with no number has no range.
        assert_eq!(FeatureRanges::fit(&rows(vec![1.0, f32::NAN])), None);
    }

    #[test]
    fn standardization_by_hand_and_constant_columns() {
        // a = 1, 2, 3, 4: mean 2.5, population std √1.25; c constant.
        let d = Dataset {
            x: vec![1.0, 7.0, 2.0, 7.0, 3.0, 7.0, 4.0, 7.0],
            y: vec![10.0, 10.0, 10.0, 10.0],
            rows: 4,
            features: 2,
            feature_names: vec!["a".into(), "c".into()],
            target_name: "y".into(),
        };
        let s = Standardization::fit(&d);
        assert_eq!(s.feature_mean, [2.5, 7.0]);
        assert!((s.feature_std[0] - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(s.feature_std[1], 1.0);
        assert_eq!((s.target_mean, s.target_std), (10.0, 1.0));
        s.check(2).unwrap();
        let mut z = d.clone();
        s.apply(&mut z).unwrap();
        assert!(z.x.iter().chain(&z.y).all(|v| v.is_finite()));
        assert_eq!(z.x[1], 0.0);
        assert!((z.x[0] as f64 + 1.5 / 1.25f64.sqrt()).abs() < 1e-6);
        let mut back = vec![0.0, 1.0];
        s.unstandardize_target(&mut back);
        assert_eq!(back, [10.0, 11.0]);
        assert!(s.check(3).is_err());
    }

    /// The cells and rows, or the error's line, column and message.
    type Parsed = std::result::Result<(Vec<String>, Vec<u32>, usize), (u64, usize, String)>;

    fn parsed(table: Result<Table>) -> Parsed {
        match table {
            Ok(t) => Ok((
                t.header,
                t.cells.iter().map(|v| v.to_bits()).collect(),
                t.rows,
            )),
            Err(e) => Err(place(e)),
        }
    }

    fn parsed_in(text: &str, pieces: usize) -> Parsed {
        parsed(Table::parse_in(
            Path::new("t.csv"),
            text.as_bytes(),
            pieces,
            1,
        ))
    }

    /// `n` rows after a byte-order mark, a blank line and the header, with
    /// blank lines, CRLF ends and spaces among them.
    fn rows_with_blanks(n: usize) -> String {
        let mut rows = String::from("\u{FEFF}\n a , b ,y\r\n");
        for i in 0..n {
            rows.push_str(&format!("{i}, {}.5 ,{}\r\n", i * 2, i % 7));
            if i % 17 == 0 {
                rows.push_str("\n  \n");
            }
        }
        rows
    }

    /// A row of the wrong count says why where it can: a delimiter after
    /// its last cell that the header lacks, or cells between spaces (an
    /// editor's spaces for tabs); other counts say only the count.
    #[test]
    fn a_miscounted_row_says_why() {
        let message = |text: &str| parsed_in(text, 1).unwrap_err().2;
        let trailing = message("a,b,y\n1,2,3,\n");
        assert!(trailing.ends_with("expected 3 as in the header (line 1); its last cell is empty: the row ends with a delimiter that the header does not (delete it from the rows)"), "{trailing}");
        let spaced = message("a,b,y\n1,2,3\n4  5 6\n");
        assert!(spaced.ends_with("(line 1); it holds no commas but 3 parts between spaces: were its commas written as spaces?"), "{spaced}");
        let blank = message("a,b,y\n1,2,3\n,,,\n");
        assert!(blank.ends_with("(line 1); every cell of it is empty (a spreadsheet may write such rows below its data): delete those rows"), "{blank}");
        for plain in [
            "a,b,y\n1,2,3,4\n",
            "a,b,y\n1,2\n",
            "a,b,y\n4 5\n",
            "a,b,y\n1,2,3,,\n",
            "a,b,y\n\"1 2 3\"\n",
        ] {
            assert!(
                message(plain).ends_with("(line 1)"),
                "{plain:?}: {}",
                message(plain)
            );
        }
    }

    #[test]
    fn pieces_parse_as_the_whole_file_does() {
        let rows = rows_with_blanks(120);
        let bad_cell = rows.replace("50, 100.5 ,1", "50, x ,1");
        let short_row = rows.replace("99, 198.5 ,1\r\n", "99, 198.5\r\n");
        let no_end = rows.trim_end().to_string();
        let header_only = "a,b,y\n\n\n".to_string();
        for text in [&rows, &bad_cell, &short_row, &no_end, &header_only] {
            let whole = parsed_in(text, 1);
            for pieces in [2, 3, 7, 50, 1000] {
                assert_eq!(parsed_in(text, pieces), whole, "{pieces} pieces");
            }
        }
        let Ok((header, cells, n)) = parsed_in(&rows, 1) else {
            panic!("refused")
        };
        assert_eq!((header.len(), n, cells.len()), (3, 120, 360));
        assert_eq!(f32::from_bits(cells[3 * 119 + 1]), 238.5);
        // The errors' lines are the file's: 2 lines before the first row,
        // and two blank lines after rows 0, 17, 34.
        let line_of = |row: u64| 3 + row + 2 * (row.div_ceil(17));
        assert_eq!(parsed_in(&bad_cell, 7).unwrap_err().0, line_of(50));
        let (line, column, message) = parsed_in(&short_row, 7).unwrap_err();
        assert_eq!((line, column), (line_of(99), 3));
        assert!(
            message.contains("expected 3 as in the header (line 2)"),
            "{message}"
        );
        assert_eq!(parsed_in(&header_only, 5).unwrap_err().0, 2);
        // CRLF and lone CR line ends count one line each (the csv reader's
        // own count put a CRLF file's errors a line early).
        for text in [
            "a,y\r\n1,2\r\nx,4\r\n",
            "a,y\r1,2\rx,4\r",
            "a,y\n1,2\r\n\rx,4",
        ] {
            let want = if text.contains("\r\n\r") { 4 } else { 3 };
            assert_eq!(parsed_in(text, 1).unwrap_err().0, want, "{text:?}");
        }
        // Quotes: one piece, whatever is asked, and a quoted line end.
        let quoted = "a,y\n\"1\n\",2\n3,4\n";
        assert_eq!(parsed_in(quoted, 4), parsed_in(quoted, 1));
    }

    /// Columns not read may hold anything, quotes with commas and line
    /// ends in them too; a column read as a number or NaN is NaN where a
    /// cell is not a number. The same whatever the chunks and pieces, and
    /// the numbers are those of the file with the other columns removed.
    #[test]
    fn columns_not_read_may_hold_anything() {
        let mut text = String::from("id,a,note,b,y\n");
        let mut clean = String::from("a,b,y\n");
        for i in 0..40 {
            let note = match i % 4 {
                0 => "plain text".to_string(),
                1 => "\"a, quoted\nnote\"".to_string(),
                2 => String::new(),
                _ => "2024-01-01".to_string(),
            };
            let y = match i % 5 {
                3 => "".to_string(),
                4 => "NA".to_string(),
                _ => format!("{}", i % 7),
            };
            text.push_str(&format!("P{i},{i},{note},{}.5,{y}\n", i * 2));
            clean.push_str(&format!("{i},{}.5,{}\n", i * 2, i % 7));
        }
        let uses = |header: &[String]| -> Result<Vec<ColumnUse>> {
            Ok(header
                .iter()
                .map(|h| match h.as_str() {
                    "id" | "note" => ColumnUse::Skip,
                    "y" => ColumnUse::NumberOrNan,
                    _ => ColumnUse::Number,
                })
                .collect())
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, &text).unwrap();
        let want = Table::parse(Path::new("c.csv"), clean.as_bytes()).unwrap();
        for chunk in [1, 7, 64, 300, 100_000] {
            for pieces in [1, 3] {
                let t = Table::read_chosen(&path, chunk, pieces, 8, CsvFormat::default(), &uses)
                    .unwrap();
                assert_eq!(t.header, ["a", "b", "y"]);
                assert_eq!(t.rows, 40);
                for (n, (got, want)) in t.cells.chunks(3).zip(want.cells.chunks(3)).enumerate() {
                    assert_eq!(got[..2], want[..2], "chunk {chunk}, row {n}");
                    match n % 5 {
                        3 | 4 => assert!(got[2].is_nan(), "row {n}: {got:?}"),
                        _ => assert_eq!(got[2], want[2], "row {n}"),
                    }
                }
            }
        }
        // A column read as a number still is one in every row, and its
        // errors name their column in the file.
        let strict = |header: &[String]| -> Result<Vec<ColumnUse>> {
            Ok((header.iter())
                .map(|h| match h.as_str() {
                    "note" => ColumnUse::Skip,
                    _ => ColumnUse::Number,
                })
                .collect())
        };
        let err = Table::read_chosen(&path, 64, 1, 8, CsvFormat::default(), &strict).unwrap_err();
        assert_eq!(
            place(err),
            (2, 1, "'P0' is not a number (column 'id')".to_string())
        );
    }

    /// Columns f32 tells apart poorly are named, the target with what it
    /// means for the loss; ordinary columns, and small constant ones, are not.
    #[test]
    fn columns_that_f32_merges_are_warned_of() {
        let rows = 50;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for n in 0..rows {
            let t = n as f64 / rows as f64;
            // Unix times over a minute, a plain column, a constant 1.
            x.extend([(1.7e9 + 60.0 * t) as f32, t as f32, 1.0]);
            y.push((1e8 + 15.0 * t) as f32);
        }
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let data = Dataset {
            x,
            y,
            rows,
            features: 3,
            feature_names: names(&["ts", "t", "one"]),
            target_name: "price".into(),
        };
        let warnings = data.resolution_warnings(&[]);
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].starts_with("column 'ts' "), "{}", warnings[0]);
        assert!(
            warnings[1].starts_with("column 'price' spans only 2 steps of f32 (100000000 to 100000016, a step of 8 at that size)"),
            "{}",
            warnings[1]
        );
        assert!(warnings[1].contains("the loss and R² are measured against these values"));
        assert!(warnings[0].ends_with(OFFSET), "{}", warnings[0]);
        // Read with --date (days since 1970), no offset can be written in
        // its cells: the advice is a number column instead.
        let t = data.feature_names[..1].to_vec();
        let warnings = data.resolution_warnings(&t);
        assert!(
            warnings[0].ends_with("a --date column is read as days since 1970-01-01, a step of 11059200 s there: write the times in the file as a number column of seconds (or hours) since the first, and read it without --date"),
            "{}",
            warnings[0]
        );
        let mut plain = Dataset::synthetic(100, 3, 1).unwrap();
        assert!(plain.resolution_warnings(&[]).is_empty());
        // A constant target, as the model trains on it (predict's R² line
        // says it is undefined itself).
        plain.y.fill(5.0);
        let said = plain.resolution_warnings(&[]);
        assert_eq!(said.len(), 1, "{said:#?}");
        assert!(
            said[0].starts_with(
                "column 'y' is 5 in every row, so the model learns to predict 5 and nothing else"
            ),
            "{said:?}"
        );
        assert_eq!(plain.target_resolution_warning(Column::Scored), None);
    }

    /// A reader that gives at most 3 bytes a read, as a pipe gives less
    /// than asked, and is interrupted before every other read.
    struct Trickle<'a> {
        bytes: &'a [u8],
        interrupt: bool,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let n = out.len().min(3).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// `fill` reads on through short and interrupted reads to the length
    /// asked for, keeps what `buf` held, and says where the input ended.
    #[test]
    fn fill_reads_short_reads_up_to_the_length_asked() {
        let path = Path::new("p");
        let mut input = Trickle {
            bytes: b"0123456789abcdef",
            interrupt: false,
        };
        let mut buf = b"xy".to_vec();
        assert!(!fill(path, &mut input, &mut buf, 12).unwrap());
        assert_eq!(buf, b"xy0123456789");
        assert!(!fill(path, &mut input, &mut buf, 5).unwrap());
        assert_eq!(buf.len(), 12, "a buffer already long enough is left");
        assert!(fill(path, &mut input, &mut buf, 40).unwrap());
        assert_eq!(buf, b"xy0123456789abcdef");
    }

    /// [`Table::read_in`] of `text` written to a file, `chunk` bytes at a
    /// time, in up to 3 pieces of at least 8 bytes.
    fn read_in(text: &str, chunk: usize) -> Parsed {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        let table = Table::read_in(&path, chunk, 3, 8);
        if let Ok(t) = &table {
            assert_eq!(t.path, path);
        }
        parsed(table)
    }

    /// [`read_in`] through a FIFO that a thread writes `text` into.
    fn read_fifo(text: &str, chunk: usize) -> Parsed {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo.csv");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.unwrap().success());
        let writer = {
            let (path, text) = (path.clone(), text.to_string());
            // A reader that stops at an error closes the pipe early.
            std::thread::spawn(move || drop(std::fs::write(path, text)))
        };
        let table = Table::read_in(&path, chunk, 3, 8);
        writer.join().unwrap();
        parsed(table)
    }

    /// A file read in chunks reads as its bytes parse whole: cells, rows,
    /// and the first error at its line, wherever the chunks end (inside the
    /// header, a CRLF, a blank line, the row with the error, or a quote
    /// after the first chunk, which reads the file whole).
    #[test]
    fn chunks_read_as_the_whole_file_parses() {
        let rows = rows_with_blanks(60);
        let bad_cell = rows.replace("50, 100.5 ,1", "50, x ,1");
        let bad_early = rows.replace("3, 6.5 ,3", "3, 6.5 ,nan");
        let short_row = rows.replace("39, 78.5 ,4\r\n", "39, 78.5\r\n");
        let quote_late = rows.replace("45, 90.5 ,3", "45,\"90.5\",3");
        let quote_bad = rows.replace("45, 90.5 ,3", "45,\"x\",3");
        // A quoted line end, which no chunk may end inside.
        let quote_lines = rows.replace("45, 90.5 ,3", "45,\"90.5\n\",3");
        let quote_open = rows.replace("45, 90.5 ,3", "45,\"90.5,3");
        // The last row's last cell: the csv reader alone reads it as 9.
        let quote_last = format!("{}\r\n7,8,\"9\r\n", rows.trim_end());
        let no_end = rows.trim_end().to_string();
        let lone_cr = rows.replace("\r\n", "\r");
        // Quoted names, and a quote in the header never closed.
        let names_quoted = rows.replace(" a , b ,y", "\"a\",\" b\",y");
        let quote_head = rows.replace(" b ,y", "\"b ,y");
        let texts = [
            &names_quoted,
            &quote_head,
            &rows,
            &bad_cell,
            &bad_early,
            &short_row,
            &quote_late,
            &quote_bad,
            &quote_lines,
            &quote_open,
            &quote_last,
            &no_end,
            &lone_cr,
            &"a,b,y\n\n\n".to_string(),
            &" \n\n".to_string(),
            &"a,y".to_string(),
        ];
        for text in texts {
            let whole = parsed_in(text, 1);
            let ends = (550..=text.len()).step_by(25);
            // A first chunk that ends inside the first quoted cell.
            let quoted = text.find('"').map_or(0..0, |q| q..q + 8);
            let sizes = [1, 2, 5, 13, 64, 200, 100_000].into_iter();
            for chunk in sizes.chain(ends).chain(quoted) {
                assert_eq!(read_in(text, chunk), whole, "chunk {chunk}: {text:?}");
            }
        }
        assert_eq!(read_in(&rows, 7).unwrap().2, 60);
        assert!(read_in(&quote_late, 7).is_ok());
        assert_eq!(read_in(&quote_lines, 7).unwrap().2, 60);
        assert_eq!(read_in(&names_quoted, 7).unwrap().0, ["a", "b", "y"]);
        // A quote never closed is an error at the cell it opens.
        let line_of = |text: &str, row: &str| 1 + text[..text.find(row).unwrap()].lines().count();
        for (text, row, cell) in [
            (&quote_open, "45,", 2),
            (&quote_last, "7,8,", 3),
            (&quote_head, " a ,", 2),
        ] {
            let (line, column, message) = parsed_in(text, 1).unwrap_err();
            assert_eq!((line as usize, column), (line_of(text, row), cell));
            assert!(
                message.contains("quote that opens this cell is never closed"),
                "{message}"
            );
        }
        // A pipe is read once, quotes or not.
        for text in [&rows, &quote_late, &quote_lines, &bad_cell] {
            for chunk in [13, 200, 100_000] {
                assert_eq!(read_fifo(text, chunk), parsed_in(text, 1), "chunk {chunk}");
            }
        }
        let missing = Table::read_in(Path::new("/no/such/file.csv"), 64, 1, 1);
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("/no/such/file.csv"));
    }

    #[test]
    fn invalid_utf8_is_refused_with_position() {
        let (l, c, _) = match Table::parse(Path::new("t"), b"a,y\n1,\xff\xfe\n") {
            Err(Error::Csv {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("{other:?}"),
        };
        assert_eq!((l, c), (2, 2));
    }

    /// A piece read by the csv reader and by the plain one: the cells'
    /// bits and the rows, or for the csv reader its error's line, column
    /// and message; `None` where the plain one leaves the piece to it.
    fn both_readers(body: &str, columns: usize) -> (Parsed, Option<(Vec<u32>, usize)>) {
        readers_with(body, columns, &[])
    }

    /// [`both_readers`] with the columns read as `uses` says.
    fn readers_with(
        body: &str,
        columns: usize,
        uses: &[ColumnUse],
    ) -> (Parsed, Option<(Vec<u32>, usize)>) {
        separated_readers(body, columns, uses, CsvFormat::default())
    }

    /// [`readers_with`] of cells written as `format` says.
    fn separated_readers(
        body: &str,
        columns: usize,
        uses: &[ColumnUse],
        format: CsvFormat,
    ) -> (Parsed, Option<(Vec<u32>, usize)>) {
        let err = |line, column, message| Error::Csv {
            path: "t.csv".into(),
            line,
            column,
            message,
        };
        let rows = Rows {
            columns,
            names: &[],
            uses,
            header_line: 1,
            delimiter: format.delimiter,
            decimal_comma: format.decimal_comma,
            err: &err,
        };
        let bits = |cells: Vec<f32>| cells.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let csv = rows
            .parse_csv(body.as_bytes())
            .map(|(cells, n)| (Vec::new(), bits(cells), n))
            .map_err(place);
        let plain = rows.plain(body.as_bytes()).map(|(c, n)| (bits(c), n));
        (csv, plain)
    }

    #[test]
    fn the_plain_reader_reads_the_usual_piece_and_leaves_the_rest() {
        // It reads: spaces and tabs around cells, CRLF, a lone CR, blank
        // and whitespace-only lines, no final newline, exponents, signs.
        let usual = "1,2\r\n 3.5 ,\t-4e-2\r\n\r\n  \n+5,.25\r6,7.";
        let (csv, plain) = both_readers(usual, 2);
        let (_, want, rows) = csv.unwrap();
        assert_eq!(rows, 4);
        assert_eq!(plain, Some((want, 4)));
        // It leaves to the csv reader whatever is not a row of numbers,
        // which then gives the error, or reads the quoted cell.
        for (body, columns) in [
            ("1,2\n3\n", 2),
            ("1,2,3\n", 2),
            ("1,x\n", 2),
            ("1,\n", 2),
            (",\n", 2),
            ("1,nan\n", 2),
            ("1,inf\n", 2),
            ("1,1e39\n", 2),
            ("\"1\",2\n", 2),
            ("1,\u{a0}2\n", 2),
            ("1,2\x0b\n", 2),
        ] {
            let (_, plain) = both_readers(body, columns);
            assert_eq!(plain, None, "{body:?}");
        }
        let (csv, _) = both_readers("\"1\",2\n", 2);
        assert_eq!(csv.unwrap().2, 1);
    }

    #[test]
    fn names_with_commas_are_read_whole() {
        let header: Vec<String> = ["id", "price, USD", "a,b", "a", "b", ""]
            .map(String::from)
            .to_vec();
        let named = |values: &[&str]| {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            named_columns(&values, &header)
        };
        assert_eq!(named(&["id,price, USD"]), ["id", "price, USD"]);
        assert_eq!(named(&["price, USD", "id"]), ["price, USD", "id"]);
        // The longest name that fits comes first.
        assert_eq!(named(&["a,b,a"]), ["a,b", "a"]);
        assert_eq!(named(&["b,a,b"]), ["b", "a,b"]);
        // Pieces that are no column stay pieces, for the check to refuse.
        assert_eq!(named(&["id,nope,x"]), ["id", "nope", "x"]);
        assert_eq!(named(&[""]), [""]);
        // Spaces after the commas are not part of the names.
        assert_eq!(named(&["a, b"]), ["a", "b"]);
        assert_eq!(named(&["id, price, USD "]), ["id", "price, USD"]);
    }

    #[test]
    fn gaps_read_as_nan_and_their_rows_drop() {
        let gaps = [
            ColumnUse::NumberOrMissing,
            ColumnUse::Skip,
            ColumnUse::NumberOrMissing,
        ];
        // Both readers: the plain one, and the csv one (a quote).
        for quote in ["", "\""] {
            let body = format!("1,a,2\n,b,3\n4,c, NA \n5,{quote}d{quote},6\n?,e,#N/A\n7,,nan\n");
            let (csv, plain) = readers_with(&body, 3, &gaps);
            let (_, cells, rows) = csv.unwrap();
            assert_eq!(rows, 6);
            let nan = f32::NAN.to_bits();
            let want = [1f32, 2., 0., 3., 4., 0., 5., 6., 0., 0., 7., 0.].map(f32::to_bits);
            let nans = [2, 5, 8, 9, 11];
            for (j, (&got, &want)) in cells.iter().zip(&want).enumerate() {
                assert_eq!(
                    got,
                    if nans.contains(&j) { nan } else { want },
                    "{body:?}: {j}"
                );
            }
            assert_eq!(plain.is_some(), quote.is_empty(), "{body:?}");
            if let Some(plain) = plain {
                assert_eq!(plain, (cells.clone(), rows));
            }
            let mut table = Table {
                path: "t.csv".into(),
                header: vec!["x".into(), "y".into()],
                header_line: 1,
                cells: cells.iter().map(|&b| f32::from_bits(b)).collect(),
                rows,
            };
            let dropped = table.drop_missing();
            assert_eq!((table.rows, &table.cells[..]), (2, &[1f32, 2., 5., 6.][..]));
            assert_eq!(
                dropped.to_string(),
                "4 of 6 rows with a missing cell (x: 2, y: 3)"
            );
            assert_eq!(dropped.left_out, [1, 2, 4, 5]);
        }
        // Text is an error still, at its cell; so is a number out of range.
        for (body, says) in [
            ("1,a,x\n", "'x' is not a number"),
            ("1,a,inf\n", "'inf' is not a finite number"),
            ("1,\"a\",x\n", "'x' is not a number"),
        ] {
            let (csv, plain) = readers_with(body, 3, &gaps);
            assert_eq!(plain, None);
            let (line, column, message) = csv.unwrap_err();
            assert_eq!((line, column), (1, 3), "{body:?}");
            assert!(message.contains(says), "{body:?}: {message}");
        }
        // Read as numbers, a gap is an error that says it is one.
        let (csv, _) = readers_with(" NA ,a,1\n", 3, &[]);
        let message = csv.unwrap_err().2;
        assert!(says_missing(&message), "{message}");
        assert!(!says_missing("'x' is not a number"));
    }

    /// Heavy tails are named by their std over their middle half's
    /// spread: a Cauchy column is, a uniform one and a flag that is mostly
    /// 0 are not, nor a column `skip` names.
    #[test]
    fn heavy_tails_are_named() {
        let rows = 10_000;
        let mut x = Vec::with_capacity(rows * 3);
        for n in 0..rows {
            let u = (n as f64 + 0.5) / rows as f64;
            let cauchy = (std::f64::consts::PI * (u - 0.5)).tan();
            x.extend([u as f32, cauchy as f32, (n % 20 == 0) as u8 as f32]);
        }
        let data = Dataset {
            x,
            y: vec![0.0; rows],
            rows,
            features: 3,
            feature_names: ["u", "c", "flag"].map(String::from).to_vec(),
            target_name: "y".into(),
        };
        let stats = Standardization::fit(&data);
        let heavy = data.heavy_tailed(&stats, &[]);
        assert_eq!(heavy.len(), 1, "{heavy:?}");
        assert_eq!(heavy[0].0, "c");
        assert!(heavy[0].1 > 10.0 * HEAVY_TAILS, "{heavy:?}");
        assert!(data.heavy_tailed(&stats, &["c".into()]).is_empty());
        // A column whose spread is within f32's rounding of its mean is
        // standardized with a std of 1, which says nothing of its tails.
        let mut near = data.clone();
        for (n, row) in near.x.chunks_exact_mut(3).enumerate() {
            row[0] = 1e6 + 0.0625 * (n % 7) as f32;
        }
        let stats = Standardization::fit(&near);
        assert_eq!(stats.feature_std[0], 1.0);
        let heavy = near.heavy_tailed(&stats, &[]);
        assert_eq!(heavy.len(), 1, "{heavy:?}");
        assert_eq!(heavy[0].0, "c");
    }

    /// The target's tails are measured as a feature's: a log-normal
    /// target of σ 2 is named, a uniform one is not, nor one of a single
    /// value.
    #[test]
    fn a_heavy_tailed_target_is_named() {
        let rows = 2000;
        let mut data = Dataset::synthetic(rows, 2, 0).unwrap();
        // Uniform on (0, 1), from the draws on (−1, 1).
        let unit = |n: usize| {
            let u = crate::rng::symmetric(0, crate::rng::Stream::Other(3), n as u64);
            (f64::from(u) + 1.0) / 2.0
        };
        let normal = |n: usize| {
            // Box–Muller from two uniforms.
            let (u, v) = (unit(2 * n).max(1e-12), unit(2 * n + 1));
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        data.y = (0..rows).map(|n| (2.0 * normal(n)).exp() as f32).collect();
        let ratio = data.heavy_tailed_target(&Standardization::fit(&data));
        assert!(ratio.is_some_and(|r| r > HEAVY_TAILS), "{ratio:?}");
        data.y = (0..rows).map(|n| unit(n) as f32).collect();
        assert_eq!(data.heavy_tailed_target(&Standardization::fit(&data)), None);
        data.y = vec![5.0; rows];
        assert_eq!(data.heavy_tailed_target(&Standardization::fit(&data)), None);
    }

    /// A long cell is shown cut, with its length, in any error that shows
    /// it: a free-text column read as numbers printed it whole.
    #[test]
    fn a_long_cell_is_shown_cut() {
        let long = "é".repeat(1000);
        let message = parse_cell(long.as_bytes(), false).unwrap_err();
        let shown = format!("'{}… (1000 characters)' is not a number", "é".repeat(60));
        assert_eq!(message, shown);
        let date = date::days(format!("2024-01-01T{long}").as_bytes()).unwrap_err();
        assert!(
            date.len() < 300 && date.contains("(1011 characters)"),
            "{date}"
        );
        let bytes = [&[0xff][..], long.as_bytes()].concat();
        let message = parse_cell(&bytes, false).unwrap_err();
        assert!(
            message.contains("\u{fffd}") && message.contains("… (1001 characters)"),
            "{message}"
        );
        assert_eq!(shown_cell("a\tb"), "a\\tb");
    }

    /// Whitespace around a cell: mostly what both readers trim.
    fn pad() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::prop_oneof![
            100 => proptest::sample::select(vec!["", "", " ", "\t", "\x0c"]),
            1 => proptest::sample::select(vec!["\x0b", "\u{a0}"]),
        ]
    }

    /// A cell: mostly numbers either reader takes, sometimes not.
    fn value() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::prop_oneof![
            100 => proptest::sample::select(vec![
                "1", "-2.5", "3e2", "0.25", "7", "+4", ".5", "1.", "-0", "3.4028235e38", "3.40282356e38", "1e-50", "-1e-40",
                "0.1000000000000000055511151231257827", "1E+05", "1,5", "-0,25e1",
            ]),
            1 => proptest::sample::select(vec![
                "", "nan", "inf", "-infinity", "\"1\"", "\"", "x", "é", "1 2", "3.4028236e38",
                "1e39", "0x10", "1_0", "1e", "e5", "NA", "?", "\"NA\"", "N/A", "na",
            ]),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Wherever the plain reader reads a piece, the csv reader reads
        /// it too, to the same cells, bit for bit, and rows: rows of mostly
        /// two cells, numbers in many spellings, whitespace of every kind
        /// (a tab, under the tab delimiter, separates cells), every line
        /// end, quotes and junk, under each delimiter, with a decimal point
        /// and with a decimal comma.
        #[test]
        fn the_plain_reader_agrees_with_the_csv_reader(
            lines in proptest::collection::vec(
                (
                    proptest::collection::vec((pad(), value(), pad()), 3),
                    proptest::prop_oneof![50 => proptest::strategy::Just(2usize), 1 => 0usize..4],
                    proptest::sample::select(vec!["\n", "\r\n", "\r", "\n\n", " \n", ""]),
                ),
                0..12,
            ),
            format in proptest::sample::select(vec![
                CsvFormat::default(),
                Delimiter::Semicolon.into(),
                Delimiter::Tab.into(),
                Delimiter::Bar.into(),
                CsvFormat::new(Delimiter::Semicolon, true).unwrap(),
                CsvFormat::new(Delimiter::Tab, true).unwrap(),
            ]),
        ) {
            let body: String = lines
                .iter()
                .map(|(cells, len, end)| {
                    let cells: Vec<String> = cells
                        .iter()
                        .take(*len)
                        .map(|(a, v, b)| format!("{a}{v}{b}"))
                        .collect();
                    cells.join(&(format.delimiter.byte() as char).to_string()) + end
                })
                .collect();
            // Every cell a number, and every cell a number or a gap.
            for uses in [&[][..], &[ColumnUse::NumberOrMissing; 2]] {
                let (csv, plain) = separated_readers(&body, 2, uses, format);
                if let Some((cells, rows)) = plain {
                    let (_, want, n) =
                        csv.expect("the csv reader refused a piece the plain one read");
                    proptest::prop_assert_eq!((cells, rows), (want, n));
                }
            }
        }
    }
}
