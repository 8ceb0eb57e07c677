//! Permutation importance: how much a model's mean squared error rises
//! when one of the file's columns is shuffled among the rows, which breaks
//! the column's link to the target and keeps its values (scikit-learn's
//! `permutation_importance`, scored by the MSE). A column the model does
//! not use rises by 0; one it leans on rises by much.
//!
//! Repeat r shuffles the rows by one permutation, the same for every
//! column ([`shuffle`]), as scikit-learn draws every column's shuffles
//! from one random state: the columns are compared on the same shuffles,
//! and adding a column changes none of the others' figures. The level
//! features of a one-hot encoded column (`train --categorical`) move
//! together, as the one column they came from.

use crate::batches::shuffle_into;
use crate::cpu::reference;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::rng::Stream;

/// One of the file's columns a model reads, as the features it makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The file's column: a feature's name, or the name of a one-hot
    /// encoded column.
    pub name: String,
    /// The model's features it makes, by index: one, or for a one-hot
    /// encoded column one per level, in the model's order.
    pub features: Vec<usize>,
    /// Whether it is one-hot encoded (its features are its levels).
    pub categorical: bool,
}

/// The file's columns `model` reads, in the order of their first feature.
pub fn columns(model: &Model) -> Vec<Column> {
    let column_of = crate::data::column_of_level(&model.categories);
    let mut columns: Vec<Column> = Vec::new();
    for (j, name) in model.feature_names.iter().enumerate() {
        match column_of.get(name) {
            Some(&column) => match columns
                .iter_mut()
                .find(|c| c.categorical && c.name == column)
            {
                Some(c) => c.features.push(j),
                None => columns.push(Column {
                    name: column.to_string(),
                    features: vec![j],
                    categorical: true,
                }),
            },
            None => columns.push(Column {
                name: name.clone(),
                features: vec![j],
                categorical: false,
            }),
        }
    }
    columns
}

/// The order of `rows` rows in repeat `repeat` by `seed`: row `n` of the
/// shuffled column takes the value of row `order[n]`. A Fisher–Yates
/// shuffle from [`Stream::Importance`] (docs/spec.md, "Permutation
/// importance").
pub fn shuffle(rows: usize, seed: u64, repeat: u64) -> Vec<usize> {
    let mut order = Vec::new();
    shuffle_into(seed, Stream::Importance, repeat, rows, &mut order, 1);
    order
}

/// What [`permutation_importance`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Importance {
    /// The MSE of the rows as they are.
    pub mse: f64,
    /// For each column, in the order given, its MSE rise in each repeat:
    /// the shuffled rows' MSE minus [`Importance::mse`], summed row by row
    /// ([`rise`]). By chance a shuffle may lower the MSE, so a rise may be
    /// below 0.
    pub rises: Vec<Vec<f64>>,
}

/// The mean and the standard deviation (of the values themselves, as
/// NumPy's `std` and scikit-learn's `importances_std`) of `values`.
pub fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The MSE rise of each of `columns` of `data` when its rows are shuffled,
/// in each of `repeats` repeats (the shuffles of `seed`), for `model`'s
/// predictions ([`reference::predict_on_cores`], in the target's units).
/// `data` is left as it was: each column is shuffled in place and put back.
/// `progress` is called after each shuffled column's predictions. An
/// error when `data` does not fit `model`, has fewer than 2 rows, a
/// missing cell, or a column names a feature `data` lacks.
pub fn permutation_importance(
    model: &Model,
    data: &mut Dataset,
    columns: &[Column],
    (repeats, seed): (usize, u64),
    progress: &mut dyn FnMut(),
) -> Result<Importance> {
    reference::check_prediction(model, data)?;
    if data.rows < 2 {
        return Err(Error::Config(format!(
            "importance shuffles the rows, so it needs at least 2; the data has {}",
            data.rows
        )));
    }
    if data.x.iter().chain(&data.y).any(|v| v.is_nan()) {
        return Err(Error::Config(
            "importance needs a number in every cell; the data has a missing one".into(),
        ));
    }
    let f = data.features;
    if let Some(c) = columns.iter().find(|c| c.features.iter().any(|&j| j >= f)) {
        return Err(Error::Config(format!(
            "the column '{}' names a feature past the data's {f}",
            crate::data::escaped(&c.name)
        )));
    }
    let yhat = reference::predict_on_cores(model, data)?;
    let mse = reference::mse(&yhat, &data.y);
    let mut rises = vec![Vec::with_capacity(repeats); columns.len()];
    // The cells of the column being shuffled, as read: (rows, its features).
    let mut kept: Vec<f32> = Vec::new();
    for repeat in 0..repeats {
        let order = shuffle(data.rows, seed, repeat as u64);
        for (column, rises) in columns.iter().zip(&mut rises) {
            kept.clear();
            for n in 0..data.rows {
                kept.extend(column.features.iter().map(|&j| data.x[n * f + j]));
            }
            put(&mut data.x, f, &column.features, &kept, |n| order[n]);
            let shuffled = reference::predict_on_cores(model, data);
            // Put back before anything else, an error included.
            put(&mut data.x, f, &column.features, &kept, |n| n);
            rises.push(rise(&shuffled?, &yhat, &data.y));
            progress();
        }
    }
    Ok(Importance { mse, rises })
}

/// The rise of the MSE from predictions `yhat` to `shuffled` of targets
/// `y`: (1/N)·Σ((ŷ′ − y)² − (ŷ − y)²), each row's term as its factors
/// (ŷ′ − ŷ)·(ŷ′ + ŷ − 2y). A row whose prediction the shuffle left as it
/// was adds exactly 0, and a row far from its target (a target of 1e30)
/// does not round the others' differences away, as the difference of two
/// MSEs near 1e59 would. A shuffle that moved no prediction rises by 0,
/// never −0 (each row's 0·(negative) is −0 where every prediction is
/// below its target).
pub fn rise(shuffled: &[f64], yhat: &[f64], y: &[f32]) -> f64 {
    let sum: f64 = (shuffled.iter().zip(yhat).zip(y))
        .map(|((&s, &p), &t)| (s - p) * (s + p - 2.0 * t as f64))
        .sum();
    sum / y.len() as f64 + 0.0
}

/// Writes `kept`, cells of `features` of rows of `f` features (rows,
/// features.len()), into those features of `x`: row n takes `kept`'s row
/// `from(n)`.
fn put(x: &mut [f32], f: usize, features: &[usize], kept: &[f32], from: impl Fn(usize) -> usize) {
    let width = features.len();
    for (n, row) in x.chunks_exact_mut(f).enumerate() {
        let cells = &kept[from(n) * width..][..width];
        for (&j, &v) in features.iter().zip(cells) {
            row[j] = v;
        }
    }
}
