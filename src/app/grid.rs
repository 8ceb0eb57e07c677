//! `train --folds K --grid KEY=V1,V2,...`: a grid search. Every
//! combination of the values given is cross-validated as `--folds` alone
//! would (the same folds, from the same start), and the combinations are
//! ranked by their folds' mean held-out MSE.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::config::{RunOptions, TrainConfig};
use super::folds::{self, FoldScore, Folded, Spread};
use super::train::Shared;
use crate::cli::{GridAxis, TrainArgs};

/// The most combinations a grid may have: each is K runs.
pub const MOST_COMBINATIONS: usize = 1000;

/// One combination of `--grid`'s values, and the options it trains with.
pub(super) struct Combination {
    /// Each option varied and its value here, as given, in `--grid`'s
    /// order.
    pub values: Vec<(String, String)>,
    pub args: TrainArgs,
}

impl Combination {
    /// `lr=0.01 hidden=[64,32]`.
    fn label(&self) -> String {
        let values = self.values.iter();
        let each: Vec<String> = values
            .map(|(k, v)| format!("{k}={}", bracketed(v)))
            .collect();
        each.join(" ")
    }

    /// `--lr 0.01 --hidden 64,32`: the options to train with.
    fn flags(&self) -> String {
        let values = self.values.iter();
        let each: Vec<String> = values.map(|(k, v)| format!("--{k} {v}")).collect();
        each.join(" ")
    }
}

/// A value as `--grid` takes it: in brackets where it holds a comma.
fn bracketed(value: &str) -> String {
    match value.contains(',') {
        true => format!("[{value}]"),
        false => value.to_string(),
    }
}

/// Every combination of `args.grid`'s values, the last option's varying
/// fastest; refused where an option is varied twice, is also given on its
/// own, or where there are more than [`MOST_COMBINATIONS`].
pub(super) fn combinations(args: &TrainArgs) -> Result<Vec<Combination>> {
    let grid = &args.grid;
    for (i, axis) in grid.iter().enumerate() {
        if grid[..i].iter().any(|a| a.key == axis.key) {
            bail!(
                "--grid varies {0} twice; give all its values in one: --grid {0}=V1,V2,...",
                axis.key
            );
        }
    }
    let given = args.given_options(grid.iter().map(|a| a.key.as_str()));
    if let Some(key) = given.first() {
        bail!("--{key} is given and --grid varies it; give its values in --grid only");
    }
    let count = grid
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MOST_COMBINATIONS);
    if count.is_none() {
        let sizes: Vec<String> = grid.iter().map(|a| a.values.len().to_string()).collect();
        bail!(
            "--grid has {} combinations, more than {MOST_COMBINATIONS}, each cross-validated by --folds: vary fewer options or values",
            sizes.join(" × ")
        );
    }
    let mut base = args.clone();
    base.grid.clear();
    let mut all = vec![Combination {
        values: Vec::new(),
        args: base,
    }];
    for GridAxis { key, values } in grid {
        let mut next = Vec::with_capacity(all.len() * values.len());
        for c in &all {
            for value in values {
                let mut pairs = c.values.clone();
                pairs.push((key.clone(), value.clone()));
                let args = (c.args.with_option(key, value)).map_err(anyhow::Error::msg)?;
                next.push(Combination {
                    values: pairs,
                    args,
                });
            }
        }
        all = next;
    }
    Ok(all)
}

/// One combination's cross-validation.
struct Tried {
    scores: Vec<FoldScore>,
    val_mse: Option<Spread>,
    val_r2: Option<Spread>,
    wall_s: f64,
}

impl Tried {
    fn of(scores: Vec<FoldScore>) -> Tried {
        Tried {
            val_mse: Spread::of(scores.iter().map(|s| Some(s.val_mse))),
            val_r2: Spread::of(scores.iter().map(|s| s.val_r2)),
            wall_s: scores.iter().map(|s| s.wall_s).sum(),
            scores,
        }
    }

    fn diverged(&self) -> bool {
        self.scores.iter().any(|s| s.diverged_at.is_some())
    }

    /// The mean held-out MSE it ranks by: none where a fold diverged or
    /// the mean is not finite, which ranks after every other.
    fn rank_key(&self) -> Option<f64> {
        self.val_mse.map(|s| s.mean).filter(|_| !self.diverged())
    }

    /// Whether it ranks before `other`: a lower mean, or a mean where
    /// `other` has none; on a tie the earlier combination (`other`) stays
    /// first.
    fn before(&self, other: &Tried) -> bool {
        match (self.rank_key(), other.rank_key()) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// The order of `tried` from best to worst ([`Tried::before`]; a stable
/// sort, so ties keep the grid's order).
fn ranking(tried: &[Tried]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tried.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&tried[a], &tried[b]);
        match (x.before(y), y.before(x)) {
            (true, _) => std::cmp::Ordering::Less,
            (_, true) => std::cmp::Ordering::Greater,
            _ => std::cmp::Ordering::Equal,
        }
    });
    order
}

/// The table of the combinations tried, best first.
fn table(
    run: &RunOptions,
    data: &str,
    combos: &[Combination],
    tried: &[Tried],
    total: usize,
) -> String {
    let count = run.fold.map_or(0, |f| f.count);
    let mut text = format!(
        "grid search of {}, each by {count}-fold cross-validation (--seed {}): {data}\neach fold trained from the same start on the other folds' rows and scored on its own; ranked by the folds' mean held-out mse, in the target's units\n",
        crate::units::count(total, "combination"),
        run.seed,
    );
    let keys = combos[0].values.iter().map(|(k, _)| k.clone());
    let mut rows: Vec<Vec<String>> = vec![["rank".to_string()]
        .into_iter()
        .chain(keys)
        .chain(["held-out mse", "sd", "r²", "sd", "seconds", ""].map(String::from))
        .collect()];
    let order = ranking(tried);
    let mse =
        |s: Option<Spread>, f: fn(Spread) -> f64| s.map_or("-".into(), |s| format!("{:.4e}", f(s)));
    let r2 =
        |s: Option<Spread>, f: fn(Spread) -> f64| s.map_or("-".into(), |s| folds::r2_text(f(s)));
    for (place, &i) in order.iter().enumerate() {
        let t = &tried[i];
        let diverged: Vec<String> = (t.scores.iter())
            .filter_map(|s| Some(format!("{} at epoch {}", s.fold, s.diverged_at?)))
            .collect();
        let rank = match t.rank_key() {
            Some(_) => (place + 1).to_string(),
            None => "-".into(),
        };
        let note = match diverged.is_empty() {
            true => String::new(),
            false => format!("diverged: fold {}", diverged.join(", fold ")),
        };
        let values = combos[i].values.iter().map(|(_, v)| bracketed(v));
        rows.push(
            [rank]
                .into_iter()
                .chain(values)
                .chain([
                    mse(t.val_mse, |s| s.mean),
                    mse(t.val_mse, |s| s.sd),
                    r2(t.val_r2, |s| s.mean),
                    r2(t.val_r2, |s| s.sd),
                    format!("{:.2}", t.wall_s),
                    note,
                ])
                .collect(),
        );
    }
    text += &folds::aligned(&rows);
    let so_far = match tried.len() < total {
        true => " so far",
        false => "",
    };
    match order.first().filter(|&&i| tried[i].rank_key().is_some()) {
        Some(&i) => text += &format!("best{so_far}: {}\n", combos[i].flags()),
        None => text += &format!("best{so_far}: none (every combination tried diverged)\n"),
    }
    text
}

/// The line said as a combination's folds end.
fn combination_line(c: &Combination, t: &Tried, (index, total): (usize, usize)) -> String {
    let score = match (t.val_mse, t.val_r2) {
        (Some(m), r2) => format!(
            "held-out mse {:.4e} (sd {:.2e}){}",
            m.mean,
            m.sd,
            r2.map_or(String::new(), |r| format!(
                ", r² {}",
                folds::r2_text(r.mean)
            ))
        ),
        (None, _) => "no held-out mse".into(),
    };
    let diverged = match t.diverged() {
        true => ", a fold diverged",
        false => "",
    };
    format!(
        "combination {} of {total} ({}): {score}{diverged} ({:.2} s)",
        index + 1,
        c.label(),
        t.wall_s
    )
}

/// The `train --folds --grid --json` record; its schema is in the README.
#[derive(serde::Serialize)]
struct Record<'a> {
    version: &'static str,
    folds: usize,
    /// The data line of the rows read, before the folds held rows out.
    data: &'a str,
    grid: &'a [GridAxis],
    /// Best first.
    results: Vec<Ranked<'a>>,
    /// The best combination's values, by option; null where every
    /// combination diverged.
    best: Option<BTreeMap<&'a str, &'a str>>,
}

/// One combination in [`Record`].
#[derive(serde::Serialize)]
struct Ranked<'a> {
    /// From 1; null for a combination with a diverged fold.
    rank: Option<usize>,
    values: BTreeMap<&'a str, &'a str>,
    /// Every option it trained with, as train's `--json` gives them.
    options: RunOptions,
    val_mse: Option<Spread>,
    val_r2: Option<Spread>,
    diverged: bool,
    per_fold: &'a [FoldScore],
}

/// `train --folds K --grid ...`: each combination's folds in turn, then
/// the ranking, `--json` and `--fold-predictions` (the best
/// combination's); an error where every combination diverged.
pub(super) fn search(args: &TrainArgs, count: usize) -> Result<ExitCode> {
    let combos = combinations(args)?;
    let total = combos.len();
    // Every combination's options (and the outputs' paths), checked
    // before any fold.
    let mut configs = Vec::with_capacity(total);
    for c in &combos {
        match TrainConfig::resolve(&c.args) {
            Ok((config, _)) => configs.push(config),
            // An error of the options not varied is not the combination's.
            Err(e) => {
                let mut base = args.clone();
                base.grid.clear();
                let said = format!("{e:#}");
                return Err(match TrainConfig::resolve(&base) {
                    Err(b) if format!("{b:#}") == said => e,
                    _ => e.context(format!("--grid's combination {}", c.label())),
                });
            }
        }
    }
    let mut shared = Shared::default();
    let mut tried: Vec<Tried> = Vec::with_capacity(total);
    // The predictions of the best combination so far: the first of those
    // that no later one ranks before, as in `ranking`'s stable sort.
    let mut best: Option<(usize, Vec<Vec<f64>>)> = None;
    for (index, c) in combos.iter().enumerate() {
        let folded = folds::run_folds(&c.args, count, &mut shared, false, Some((index, total)))?;
        if let Folded::Interrupted {
            index: fold,
            status,
        } = folded
        {
            let data = shared.described().unwrap_or("");
            let done = match tried.is_empty() {
                true => String::new(),
                false => {
                    let text = table(&configs[0].run, data, &combos, &tried, total);
                    format!(". The combinations done:\n{}", text.trim_end())
                }
            };
            crate::say!(
                "interrupted during fold {} of {count} of combination {} of {total} ({}); nothing was written{done}",
                fold + 1,
                index + 1,
                c.label()
            );
            return Ok(status);
        }
        let t = Tried::of(std::mem::take(&mut shared.scores));
        if !args.quiet {
            crate::say!("{}", combination_line(c, &t, (index, total)));
        }
        if best.as_ref().is_none_or(|(b, _)| t.before(&tried[*b])) {
            best = Some((index, std::mem::take(&mut shared.predictions)));
        }
        tried.push(t);
    }
    let data = shared.described().unwrap_or("");
    let text = table(&configs[0].run, data, &combos, &tried, total);
    super::report(&text, folds::outputs(args))?;
    let order = ranking(&tried);
    let values = |i: usize| -> BTreeMap<&str, &str> {
        (combos[i].values.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    };
    let best = best.filter(|(i, _)| tried[*i].rank_key().is_some());
    debug_assert!(best.as_ref().is_none_or(|(i, _)| *i == order[0]));
    let record = Record {
        version: env!("CARGO_PKG_VERSION"),
        folds: count,
        data,
        grid: &args.grid,
        results: order
            .iter()
            .enumerate()
            .map(|(place, &i)| Ranked {
                rank: tried[i].rank_key().map(|_| place + 1),
                values: values(i),
                options: configs[i].run.clone(),
                val_mse: tried[i].val_mse,
                val_r2: tried[i].val_r2,
                diverged: tried[i].diverged(),
                per_fold: &tried[i].scores,
            })
            .collect(),
        best: best.as_ref().map(|(i, _)| values(*i)),
    };
    let Some((i, predictions)) = &best else {
        // No combination to predict by or to save: only the record.
        let mut json_only = args.clone();
        json_only.fold_predictions = None;
        folds::write_files(&json_only, &record, &shared, &[])?;
        bail!(
            "every combination diverged in some fold; try smaller --lr values, or --clip-grad-norm"
        );
    };
    folds::write_files(args, &record, &shared, predictions)?;
    let best = &combos[*i];
    match args.save {
        Some(_) => folds::train_on_every_row(&best.args, &mut shared, Some(&best.flags())),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A combination tried whose folds scored `mses`, the first diverged
    /// where `diverged` says.
    fn tried(mses: &[f64], diverged: bool) -> Tried {
        let scores = mses.iter().enumerate().map(|(i, &val_mse)| FoldScore {
            fold: i + 1,
            train_rows: 2,
            held_out_rows: 1,
            epochs: 3,
            stop: "max_epochs",
            loss: 1.0,
            val_mse,
            val_r2: None,
            kept_epoch: None,
            diverged_at: (diverged && i == 0).then_some(2),
            lr: None,
            wall_s: 0.5,
        });
        Tried::of(scores.collect())
    }

    #[test]
    fn combinations_rank_by_mean_ties_in_grid_order_diverged_last() {
        let all = [
            tried(&[2.0, 2.0], false),
            tried(&[0.5, 1.5], false),
            tried(&[0.1, 0.1], true),
            tried(&[1.5, 0.5], false),
            tried(&[f64::NAN, 1.0], false),
            tried(&[3.0, 3.0], false),
        ];
        assert_eq!(ranking(&all), [1, 3, 0, 5, 2, 4]);
        assert_eq!(all[1].val_mse.map(|s| (s.mean, s.sd)), Some((1.0, 0.5)));
        assert_eq!(all[1].wall_s, 1.0);
        assert!(all[2].rank_key().is_none() && all[4].rank_key().is_none());
    }
}
