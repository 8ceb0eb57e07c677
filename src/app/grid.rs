//! `train --folds K --grid KEY=V1,V2,...`: a grid search. Every
//! combination of the values given is cross-validated as `--folds` alone
//! would (the same folds, from the same start), and the combinations are
//! ranked by their folds' mean held-out MSE. With `--halving F`, by
//! successive halving: the combinations are tried in rounds, and only the
//! best 1/F of a round go on to the next, with F times the epochs. With
//! `--random N`, a random search: N combinations drawn from the lists and
//! ranges given ([`super::random`]).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};

use super::config::{GridPlace, RunOptions, TrainConfig};
use super::folds::{self, FoldScore, Folded, OutOfFold, Spread};
use super::random::{self, Values};
use super::train::Shared;
use crate::bench::BackendKind;
use crate::cli::{BackendChoice, GridAxis, GridRange, GridValues, TrainArgs, MOST_COMBINATIONS};
use crate::gpu::KernelFamily;
use crate::optim::OptimizerKind;

/// `--halving`'s first round trains at least 1/this of `--epochs`
/// ([`halving_rounds`]'s `min_epochs`) unless `--halving-min-epochs` says
/// otherwise. On 3,000 rows and 36 combinations (BENCHMARKS.md, "Successive
/// halving"), a first round of 3 epochs of 81 could not tell them apart and
/// dropped the best; one of 9 kept it.
pub const MIN_EPOCHS_SHARE: usize = 10;

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
        self.label_without(None)
    }

    /// As [`Combination::label`], without option `leave` where given.
    fn label_without(&self, leave: Option<&str>) -> String {
        let values = self
            .values
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != leave);
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
/// fastest, or `--random`'s draws; refused where an option is varied
/// twice, is also given on its own, where there are more than
/// [`MOST_COMBINATIONS`], or where a range is given without `--random`.
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
    let all = match args.random {
        Some(count) => random::draw(grid, count, args.seed)?,
        None => every_combination(grid)?,
    };
    let mut base = args.clone();
    base.grid.clear();
    let combination = |values: Values| -> Result<Combination> {
        let mut args = base.clone();
        for (key, value) in &values {
            args = args.with_option(key, value).map_err(anyhow::Error::msg)?;
        }
        Ok(Combination { values, args })
    };
    let combos: Vec<Combination> = all.into_iter().map(combination).collect::<Result<_>>()?;
    // One default optimizer for the whole search, or the comparison is of
    // optimizers nobody named (lr-schedule=constant,cosine: lbfgs, gd).
    let defaulted = |kind: OptimizerKind| {
        (combos.iter()).find(|c| c.args.optimizer.is_none() && c.args.default_optimizer() == kind)
    };
    if let (Some(l), Some(g)) = (
        defaulted(OptimizerKind::Lbfgs),
        defaulted(OptimizerKind::Gd),
    ) {
        bail!(
            "without --optimizer, --grid's combinations would train with different optimizers: {} with lbfgs, {} with gd (a flag only the first-order optimizers take makes gd the default); name one with --optimizer",
            l.label(),
            g.label()
        );
    }
    check_range_ends(grid, &combos)?;
    Ok(combos)
}

/// Refused where a range reaches past its option's values (beta2's 1,
/// momentum's 1.01, lr-gamma's 1.5 beside a plateau schedule), as a
/// range, before any fold, and not only where a draw fell there. Each
/// end is tried in place of the range's value in each combination drawn
/// whose options are valid, so that the options beside it are ones it is
/// drawn with (beta2 beside adam, lr-gamma beside a schedule); the
/// combinations that are not valid are left to their own check. An
/// option whose values have a gap (weight-decay: 0, or a normal f32) can
/// still draw into it; that combination's check says so, before any fold.
fn check_range_ends(grid: &[GridAxis], combos: &[Combination]) -> Result<()> {
    let ranges: Vec<(&str, &GridRange)> = (grid.iter())
        .filter_map(|a| match &a.values {
            GridValues::Range(r) => Some((a.key.as_str(), r)),
            GridValues::Values(_) => None,
        })
        .collect();
    if ranges.is_empty() {
        return Ok(());
    }
    for c in combos {
        if TrainConfig::resolve(&c.args).is_err() {
            continue;
        }
        for &(key, range) in &ranges {
            for (which, end) in ["low", "high"].into_iter().zip(range.ends()) {
                let args = (c.args.with_option(key, end))
                    .map_err(|e| anyhow!("--grid {key}={}: {e}", range.text))?;
                let Err(e) = TrainConfig::resolve(&args) else {
                    continue;
                };
                let beside = match c.label_without(Some(key)) {
                    others if others.is_empty() => others,
                    others => format!(" beside {others}"),
                };
                bail!(
                    "--grid {key}={}: its {which} end {end} is not a value {key} takes{beside}: {e:#}",
                    range.text
                );
            }
        }
    }
    Ok(())
}

/// Every combination of `grid`'s lists, the last option's varying
/// fastest; refused where a range is given (only `--random` draws from
/// one) or where there are more than [`MOST_COMBINATIONS`].
fn every_combination(grid: &[GridAxis]) -> Result<Vec<Values>> {
    let mut lists = Vec::with_capacity(grid.len());
    for axis in grid {
        match &axis.values {
            GridValues::Values(list) => lists.push((axis.key.as_str(), list)),
            GridValues::Range(range) => bail!(
                "--grid {}={} is a range, which only --random N draws from: give --random N, or list its values",
                axis.key,
                range.text
            ),
        }
    }
    let count = (lists.iter())
        .try_fold(1usize, |n, (_, list)| n.checked_mul(list.len()))
        .filter(|&n| n <= MOST_COMBINATIONS);
    if count.is_none() {
        let sizes: Vec<String> = lists.iter().map(|(_, l)| l.len().to_string()).collect();
        bail!(
            "--grid has {} combinations, more than {MOST_COMBINATIONS}, each cross-validated by --folds: vary fewer options or values, or draw some with --random N",
            sizes.join(" × ")
        );
    }
    let mut all: Vec<Values> = vec![Vec::new()];
    for (key, list) in lists {
        let mut next = Vec::with_capacity(all.len() * list.len());
        for values in &all {
            for value in list {
                let mut pairs = values.clone();
                pairs.push((key.to_string(), value.clone()));
                next.push(pairs);
            }
        }
        all = next;
    }
    Ok(all)
}

/// A round of `--halving`: the epochs each of its combinations trains
/// for, and how many it trains (at most). A grid without `--halving` is
/// one round of `--epochs`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub(super) struct Round {
    pub epochs: usize,
    pub combinations: usize,
}

/// Successive halving by `factor` of `total` combinations, the last
/// round with `epochs`: each round keeps the best 1/`factor` (rounded
/// up) for the next, which trains `factor` times as many epochs, until
/// at most `factor` are left for the last; or fewer rounds, the first
/// rounds of those, where the first would train fewer than `min_epochs`
/// (the last round then keeps more). Refused where `epochs` is fewer
/// than `min_epochs`.
pub(super) fn halving_rounds(
    total: usize,
    factor: usize,
    epochs: usize,
    min_epochs: usize,
) -> Result<Vec<Round>> {
    if factor < 2 {
        bail!("--halving must be at least 2: the share of a round that goes on is 1/--halving");
    }
    if epochs < min_epochs.max(1) {
        bail!("--halving-min-epochs {min_epochs} is more than --epochs {epochs}, which the last round trains");
    }
    let mut counts = vec![total];
    while let Some(&last) = counts.last().filter(|&&n| n > factor) {
        counts.push(last.div_ceil(factor));
    }
    // The first round's epochs are --epochs over this.
    let mut divisor = 1usize;
    let mut rounds = 1;
    while rounds < counts.len() {
        match divisor.checked_mul(factor) {
            Some(d) if epochs / d >= min_epochs.max(1) => (divisor, rounds) = (d, rounds + 1),
            _ => break,
        }
    }
    counts.truncate(rounds);
    Ok(counts
        .into_iter()
        .map(|combinations| {
            let round = Round {
                epochs: epochs / divisor,
                combinations,
            };
            divisor /= factor;
            round
        })
        .collect())
}

/// One combination's cross-validation, in one round.
struct Tried {
    /// Of the rounds, from 0 (the only one without `--halving`).
    round: usize,
    scores: Vec<FoldScore>,
    val_mse: Option<Spread>,
    val_r2: Option<Spread>,
    out_of_fold: Option<OutOfFold>,
    wall_s: f64,
    /// The options its folds trained with, where they ran ([`Shared::ran`]:
    /// adam in mini-batches where many rows chose it).
    options: Option<RunOptions>,
}

impl Tried {
    fn of(round: usize, scores: Vec<FoldScore>, out_of_fold: Option<OutOfFold>) -> Tried {
        Tried {
            round,
            out_of_fold,
            val_mse: Spread::of(scores.iter().map(|s| Some(s.val_mse))),
            val_r2: Spread::of(scores.iter().map(|s| s.val_r2)),
            wall_s: scores.iter().map(|s| s.wall_s).sum(),
            scores,
            options: None,
        }
    }

    fn diverged(&self) -> bool {
        self.scores.iter().any(|s| s.diverged_at.is_some())
    }

    /// The folds, not diverged, whose parameters scored have a training
    /// loss above the first: a rate that blew up to a large but finite
    /// loss (a growing schedule's, say), or a run that learned nothing.
    fn rose(&self) -> Vec<usize> {
        (self.scores.iter())
            .filter(|s| Tried::rising(s))
            .map(|s| s.fold)
            .collect()
    }

    /// Whether a fold [`Tried::rose`].
    fn rising(s: &FoldScore) -> bool {
        s.scored_above_start && s.diverged_at.is_none()
    }

    /// Whether every fold ended below its start (none [`Tried::rose`]).
    fn fell(&self) -> bool {
        !self.scores.iter().any(Tried::rising)
    }

    /// The mean held-out MSE it ranks by: none where a fold diverged or
    /// the mean is not finite, which ranks after every other.
    fn rank_key(&self) -> Option<f64> {
        self.val_mse.map(|s| s.mean).filter(|_| !self.diverged())
    }

    /// Whether it ranks before `other`: one with a mean before one
    /// without; one whose folds all ended below their start before one
    /// that rose ([`Tried::rose`]; else `--halving`, which ranks a later
    /// round first, would make best one that blew up in its longer round);
    /// then a later round (`--halving`'s, which the best of the earlier
    /// reached), or in the same round a lower mean. On a tie the earlier
    /// combination (`other`) stays first.
    fn before(&self, other: &Tried) -> bool {
        match (self.rank_key(), other.rank_key()) {
            (Some(a), Some(b)) => {
                let (fell, other_fell) = (self.fell(), other.fell());
                if fell != other_fell {
                    return fell;
                }
                self.round > other.round || (self.round == other.round && a < b)
            }
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// The combinations tried (by index, their last round's), from best to
/// worst ([`Tried::before`]; a stable sort, so ties keep the grid's
/// order).
fn ranking(tried: &[Option<Tried>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tried.len()).filter(|&i| tried[i].is_some()).collect();
    let at = |i: usize| tried[i].as_ref().expect("tried");
    order.sort_by(|&a, &b| {
        let (x, y) = (at(a), at(b));
        match (x.before(y), y.before(x)) {
            (true, _) => std::cmp::Ordering::Less,
            (_, true) => std::cmp::Ordering::Greater,
            _ => std::cmp::Ordering::Equal,
        }
    });
    order
}

/// What the search is: its combinations, its rounds (one without
/// `--halving`), the folds' count and the data line.
struct Search<'a> {
    combos: &'a [Combination],
    rounds: &'a [Round],
    halving: Option<usize>,
    /// The combinations were drawn by `--random`.
    random: bool,
    run: &'a RunOptions,
    data: &'a str,
    /// What the held-out scores are of, with a transform of the target
    /// ([`Shared::transformed`]).
    transformed: Option<String>,
}

impl Search<'_> {
    /// The table of the combinations tried, best first; `complete`: the
    /// search ended (its best is not only the best so far).
    fn table(&self, tried: &[Option<Tried>], complete: bool) -> String {
        let count = self.run.fold.map_or(0, |f| f.count);
        let combinations = crate::units::count(self.combos.len(), "combination");
        let drawn = if self.random { " drawn at random" } else { "" };
        let mut text = match self.halving {
            None if self.random => format!("random search of {combinations}"),
            None => format!("grid search of {combinations}"),
            Some(factor) => {
                let each: Vec<String> = (self.rounds.iter())
                    .map(|round| {
                        let epochs = crate::units::count(round.epochs, "epoch");
                        format!("{} × {epochs}", round.combinations)
                    })
                    .collect();
                format!(
                    "successive halving by {factor} of {combinations}{drawn} (rounds of {})",
                    each.join(", then ")
                )
            }
        };
        let ranked = match self.halving {
            None => "ranked by the folds' mean held-out mse",
            Some(_) => "each round's best 1/--halving go on to the next; ranked by the last round reached, then by the folds' mean held-out mse",
        };
        let rose = tried.iter().flatten().any(|t| !t.fell());
        let ranked = match rose {
            true => format!(
                "{ranked} (those whose training loss ended above its start after the others)"
            ),
            false => ranked.to_string(),
        };
        text += &format!(
            ", each by {count}-fold cross-validation (--seed {}): {}\neach fold trained from the same start on the other folds' rows and scored on its own; {ranked}, in {} units{}\n",
            self.run.seed,
            crate::units::one_line(self.data),
            match &self.transformed {
                Some(t) => format!("{t}'s"),
                None => "the target's".to_string(),
            },
            match self.transformed {
                Some(_) => ", and r² of it",
                None => "",
            },
        );
        let keys = self.combos[0].values.iter().map(|(k, _)| k.clone());
        let rounds: &[&str] = match self.halving {
            Some(_) => &["round", "epochs"],
            None => &[],
        };
        let mut rows: Vec<Vec<String>> = vec![["rank".to_string()]
            .into_iter()
            .chain(keys)
            .chain(rounds.iter().map(|r| r.to_string()))
            .chain(["held-out mse", "sd", "r²", "sd", "seconds", ""].map(String::from))
            .collect()];
        let order = ranking(tried);
        let mse = |s: Option<Spread>, f: fn(Spread) -> f64| {
            s.map_or("-".into(), |s| format!("{:.4e}", f(s)))
        };
        let r2 = |s: Option<Spread>, f: fn(Spread) -> f64| {
            s.map_or("-".into(), |s| folds::r2_text(f(s)))
        };
        for (place, &i) in order.iter().enumerate() {
            let t = tried[i].as_ref().expect("ranked");
            let diverged: Vec<String> = (t.scores.iter())
                .filter_map(|s| Some(format!("{} at epoch {}", s.fold, s.diverged_at?)))
                .collect();
            let rank = match t.rank_key() {
                Some(_) => (place + 1).to_string(),
                None => "-".into(),
            };
            let rose: Vec<String> = t.rose().iter().map(usize::to_string).collect();
            let notes = [
                (diverged, "diverged: fold "),
                (rose, "training loss ended above its start: fold "),
            ];
            let note = (notes.into_iter())
                .filter(|(folds, _)| !folds.is_empty())
                .map(|(folds, what)| format!("{what}{}", folds.join(", fold ")))
                .collect::<Vec<_>>()
                .join("; ");
            let values = self.combos[i].values.iter().map(|(_, v)| bracketed(v));
            let round = match self.halving {
                Some(_) => vec![
                    (t.round + 1).to_string(),
                    self.rounds[t.round].epochs.to_string(),
                ],
                None => Vec::new(),
            };
            rows.push(
                [rank]
                    .into_iter()
                    .chain(values)
                    .chain(round)
                    .chain([
                        mse(t.val_mse, |s| s.mean),
                        mse(t.val_mse, |s| s.sd),
                        r2(t.val_r2, |s| s.mean),
                        r2(t.val_r2, |s| s.sd),
                        crate::units::decimals(t.wall_s, 2),
                        note,
                    ])
                    .collect(),
            );
        }
        text += &folds::aligned(&rows);
        let so_far = if complete { "" } else { " so far" };
        let best = order
            .first()
            .filter(|&&i| tried[i].as_ref().is_some_and(|t| t.rank_key().is_some()));
        match best {
            Some(&i) => {
                let t = tried[i].as_ref().expect("ranked");
                text += &format!("best{so_far}: {}\n", self.flags(i, t));
                if complete && !self.random {
                    (self.edges(i, tried).iter()).for_each(|e| text += &format!("{e}\n"));
                }
                // Held out, the training rows' mean scores about 0 (a
                // little below).
                let learned_nothing = |r: &f64| *r < super::ending::MEAN_R2;
                if let Some(r) = t.val_r2.map(|r| r.mean).filter(learned_nothing) {
                    text += &format!(
                        "note: no combination learned the target: the best predicts the held-out rows no better than the training rows' mean does (r² {}); a run of its options alone says in its warning why\n",
                        folds::r2_text(r)
                    );
                }
            }
            None => text += &format!("best{so_far}: none (every combination tried diverged)\n"),
        }
        text
    }

    /// A note for each numeric option whose value in combination `best`
    /// is the largest, or the smallest other than 0, of three or more the
    /// grid tried: the best may lie past the grid's end. Not where a
    /// combination with another value of it scored the best's mean
    /// held-out MSE to a millionth: the grid could not tell those values
    /// apart (rates of 1e-30 and 1e-20 that move nothing).
    fn edges(&self, best: usize, tried: &[Option<Tried>]) -> Vec<String> {
        let number = |v: &str| v.parse::<f64>().ok().filter(|v| v.is_finite());
        let score = |i: usize| tried[i].as_ref().and_then(|t| t.val_mse).map(|m| m.mean);
        let best_score = score(best);
        let mut notes = Vec::new();
        for (k, (key, value)) in self.combos[best].values.iter().enumerate() {
            let Some(v) = number(value) else {
                continue;
            };
            let tied = (0..self.combos.len()).any(|i| {
                self.combos[i].values[k].1 != *value
                    && score(i)
                        .zip(best_score)
                        .is_some_and(|(s, b)| (s - b).abs() <= 1e-6 * b.abs())
            });
            if tied {
                continue;
            }
            let mut tried: Vec<f64> = (self.combos.iter())
                .filter_map(|c| number(&c.values[k].1))
                .collect();
            tried.sort_by(f64::total_cmp);
            tried.dedup();
            let (Some(&low), Some(&high)) = (tried.first(), tried.last()) else {
                continue;
            };
            let end = match v {
                _ if tried.len() < 3 => continue,
                v if v == high => "largest",
                v if v == low && v != 0.0 => "smallest",
                _ => continue,
            };
            notes.push(format!(
                "note: the best {key}, {value}, is the {end} the grid tried: one past it may score better"
            ));
        }
        notes
    }

    /// The options to train combination `i` with as it was tried in `t`:
    /// its values, and the epochs of a round before the last.
    fn flags(&self, i: usize, t: &Tried) -> String {
        let flags = self.combos[i].flags();
        match t.round + 1 < self.rounds.len() {
            true => format!("{flags} --epochs {}", self.rounds[t.round].epochs),
            false => flags,
        }
    }

    /// The line said as a combination's folds end: the `place`th of the
    /// `of` its round trains.
    fn line(&self, i: usize, t: &Tried, (place, of): (usize, usize)) -> String {
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
        let diverged = match (t.diverged(), t.fell()) {
            (true, _) => ", a fold diverged",
            (false, false) => ", a fold's training loss ended above its start",
            (false, true) => "",
        };
        format!(
            "{}combination {} of {of} ({}): {score}{diverged} ({} s)",
            self.round_text(t.round),
            place + 1,
            self.combos[i].label(),
            crate::units::decimals(t.wall_s, 2)
        )
    }

    /// `round 2 of 3 (20 epochs), ` with `--halving`; nothing without.
    fn round_text(&self, round: usize) -> String {
        match self.halving {
            Some(_) => format!(
                "round {} of {} ({}), ",
                round + 1,
                self.rounds.len(),
                crate::units::count(self.rounds[round].epochs, "epoch")
            ),
            None => String::new(),
        }
    }
}

/// The `train --folds --grid --json` record; its schema is in the README.
#[derive(serde::Serialize)]
struct Record<'a> {
    version: &'static str,
    folds: usize,
    /// The data line of the rows read, before the folds held rows out.
    data: &'a str,
    grid: &'a [GridAxis],
    /// `--random`'s count: the combinations drawn from `grid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    random: Option<usize>,
    /// `--halving`'s factor and rounds, as trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    halving: Option<Halving>,
    /// Best first.
    results: Vec<Ranked<'a>>,
    /// The best combination's values, by option; null where every
    /// combination diverged.
    best: Option<BTreeMap<&'a str, &'a str>>,
}

/// `--halving` in [`Record`].
#[derive(serde::Serialize)]
struct Halving {
    factor: usize,
    min_epochs: usize,
    rounds: Vec<Round>,
}

/// One combination in [`Record`], as its last round scored it.
#[derive(serde::Serialize)]
struct Ranked<'a> {
    /// From 1; null for a combination with a diverged fold.
    rank: Option<usize>,
    values: BTreeMap<&'a str, &'a str>,
    /// With `--halving`: the last round it trained in, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    round: Option<usize>,
    /// Every option it trained with, as train's `--json` gives them.
    options: &'a RunOptions,
    val_mse: Option<Spread>,
    val_r2: Option<Spread>,
    out_of_fold: Option<OutOfFold>,
    diverged: bool,
    /// The folds, not diverged, whose scored parameters' training loss
    /// ended above its start.
    rose: Vec<usize>,
    per_fold: &'a [FoldScore],
}

/// Combination `c`'s options for a round of `epochs` (those given, where
/// there is one round).
fn round_args(c: &Combination, epochs: usize, halving: bool) -> TrainArgs {
    let mut args = c.args.clone();
    if halving {
        args.epochs = Some(epochs);
    }
    args
}

/// Every combination's options (and the outputs' paths) for a round of
/// `epochs` (those given: `None`), checked before any fold. An error of
/// the options not varied is not blamed on a combination.
fn checked(
    args: &TrainArgs,
    combos: &[Combination],
    epochs: Option<usize>,
) -> Result<Vec<RunOptions>> {
    let mut round = Vec::with_capacity(combos.len());
    for c in combos {
        let here = round_args(c, epochs.unwrap_or(0), epochs.is_some());
        match TrainConfig::resolve(&here) {
            Ok((config, _)) => {
                // The kernels' hidden layers, which only a combination of
                // --grid's varies, are checked only once a backend opens;
                // under --backend auto that may be the CPU, which has no
                // such kernels.
                let gpu = config.backend == BackendChoice::Kind(BackendKind::Gpu);
                let hidden = config.run.hidden.as_deref().filter(|_| gpu);
                if let Some(why) =
                    hidden.and_then(|h| KernelFamily::hidden_refusal(config.kernels, h))
                {
                    bail!(
                        "--grid's combination {}: {why}; --kernels auto picks kernels that take each combination's network",
                        c.label()
                    );
                }
                round.push(config.run)
            }
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
    Ok(round)
}

/// A search's plan: its combinations, its rounds (one without
/// `--halving`) and each round's options, `[round][combination]`.
struct Plan<'a> {
    args: &'a TrainArgs,
    count: usize,
    combos: Vec<Combination>,
    rounds: Vec<Round>,
    configs: Vec<Vec<RunOptions>>,
    halving: Option<usize>,
}

impl Plan<'_> {
    /// The table's and the lines' view of it, with the rows' data line
    /// and the rounds to show.
    fn view<'a>(
        &'a self,
        (data, transformed): (&'a str, Option<String>),
        rounds: &'a [Round],
    ) -> Search<'a> {
        Search {
            combos: &self.combos,
            rounds,
            halving: self.halving,
            random: self.args.random.is_some(),
            run: &self.configs[0][0],
            data,
            transformed,
        }
    }

    /// Combination `i`'s folds at round `r`'s epochs; `place`: its place
    /// in the round, for the progress bar.
    fn folds(
        &self,
        i: usize,
        r: usize,
        place: (usize, usize),
        shared: &mut Shared,
    ) -> Result<Folded> {
        let here = round_args(
            &self.combos[i],
            self.rounds[r].epochs,
            self.halving.is_some(),
        );
        let round = self.halving.map(|_| (r, self.rounds.len()));
        let at = GridPlace {
            combination: place,
            round,
        };
        folds::run_folds(&here, self.count, shared, false, Some(at))
    }
}

/// How the rounds of a search ended.
enum Searched {
    /// Each combination's last round (none for those no round reached),
    /// the best's predictions where they were kept (combination, round,
    /// predictions), and the rounds as trained.
    Done {
        tried: Vec<Option<Tried>>,
        best: Option<(usize, usize, Vec<Vec<f64>>)>,
        trained: Vec<Round>,
    },
    /// A signal stopped it: the status to exit with.
    Interrupted(ExitCode),
}

/// Each round in turn, each combination of it in the grid's order; a
/// round after the first trains the best of the one before.
fn run_rounds(plan: &Plan, shared: &mut Shared) -> Result<Searched> {
    let (args, count, total) = (plan.args, plan.count, plan.combos.len());
    let mut tried: Vec<Option<Tried>> = (0..total).map(|_| None).collect();
    // The predictions of the best combination so far: the first of those
    // that no later one ranks before, as in `ranking`'s stable sort (each
    // round trains its combinations in the grid's order).
    let mut best: Option<(usize, usize, Vec<Vec<f64>>)> = None;
    let mut entrants: Vec<usize> = (0..total).collect();
    let mut trained = Vec::with_capacity(plan.rounds.len());
    for (r, round) in plan.rounds.iter().enumerate() {
        if r > 0 {
            // The best of the round before, in the grid's order; never
            // one with a diverged fold or one that rose.
            let previous = ranking(&tried).into_iter().filter(|&i| {
                tried[i]
                    .as_ref()
                    .is_some_and(|t| t.round == r - 1 && t.rank_key().is_some() && t.fell())
            });
            entrants = previous.take(round.combinations).collect();
            entrants.sort_unstable();
            if entrants.is_empty() {
                break;
            }
        }
        trained.push(Round {
            epochs: round.epochs,
            combinations: entrants.len(),
        });
        for (place, &i) in entrants.iter().enumerate() {
            let folded = plan.folds(i, r, (place, entrants.len()), shared)?;
            let data = shared.described().unwrap_or("").to_string();
            let search = plan.view((&data, shared.transformed()), &plan.rounds);
            if let Folded::Interrupted { index, status } = folded {
                let done = match tried.iter().all(Option::is_none) {
                    true => String::new(),
                    false => {
                        let text = search.table(&tried, false);
                        format!(". The combinations done:\n{}", text.trim_end())
                    }
                };
                crate::say_lines!(
                    "interrupted during fold {} of {count} of {}combination {} of {} ({}); nothing was written{done}",
                    index + 1,
                    search.round_text(r),
                    place + 1,
                    entrants.len(),
                    plan.combos[i].label()
                );
                return Ok(Searched::Interrupted(status));
            }
            let pooled = OutOfFold::of(shared, &shared.scores, count);
            let mut t = Tried::of(r, std::mem::take(&mut shared.scores), pooled);
            t.options = shared.ran.take().map(|c| c.run);
            if !args.quiet {
                crate::say!("{}", search.line(i, &t, (place, entrants.len())));
            }
            let beats =
                |(b, _, _): &(usize, usize, _)| t.before(tried[*b].as_ref().expect("tried"));
            if best.as_ref().is_none_or(beats) {
                best = Some((i, r, std::mem::take(&mut shared.predictions)));
            }
            tried[i] = Some(t);
        }
    }
    Ok(Searched::Done {
        tried,
        best,
        trained,
    })
}

/// The plan of `args`' search: its combinations, checked at every round's
/// epochs, and its rounds; with a notice where `--halving` trains fewer
/// rounds than it needs.
fn plan(args: &TrainArgs, count: usize) -> Result<(Plan<'_>, usize)> {
    let combos = combinations(args)?;
    let total = combos.len();
    if args.halving.is_some() && args.grid.iter().any(|a| a.key == "epochs") {
        bail!("--halving trains its rounds with fewer --epochs than the last, so --grid cannot vary epochs");
    }
    // The model --init starts from fixes them: every combination but one
    // would fail, after those before it had trained.
    if let (Some(init), Some(grid)) = (
        &args.init,
        (args.grid.iter()).find(|a| ["hidden", "activation"].contains(&a.key.as_str())),
    ) {
        bail!(
            "--grid cannot vary {} with --init: {}'s network is fixed; leave {} out of --grid",
            grid.key,
            init.display(),
            grid.key
        );
    }
    let full = checked(args, &combos, None)?;
    let epochs = full[0].epochs;
    let halving = args.halving.map(|f| f as usize);
    let min_epochs = (args.halving_min_epochs).unwrap_or(epochs.div_ceil(MIN_EPOCHS_SHARE));
    let rounds = match halving {
        Some(factor) => halving_rounds(total, factor, epochs, min_epochs)?,
        None => vec![Round {
            epochs,
            combinations: total,
        }],
    };
    if let (Some(factor), false) = (halving, args.quiet) {
        let needed = halving_rounds(total, factor, epochs, 1)?.len();
        let last = rounds.last().expect("a round").combinations;
        if rounds.len() < needed {
            crate::say!(
                "notice: --halving {factor} trains {}, not the {needed} that would leave at most {factor} combinations for the last: the first would train fewer than --halving-min-epochs {min_epochs} epochs; the last keeps {last}",
                crate::units::count(rounds.len(), "round"),
            );
        }
    }
    // Each round's; the last trains --epochs, as given.
    let before_last = &rounds[..rounds.len() - 1];
    let mut configs = (before_last.iter())
        .map(|r| checked(args, &combos, Some(r.epochs)))
        .collect::<Result<Vec<_>>>()?;
    configs.push(full);
    let plan = Plan {
        args,
        count,
        combos,
        rounds,
        configs,
        halving,
    };
    Ok((plan, min_epochs))
}

/// `train --folds K --grid ...`: each combination's folds in turn (with
/// `--halving`, round by round, each round the best of the one before),
/// then the ranking, `--json` and `--fold-predictions` (the best
/// combination's); an error where every combination diverged.
pub(super) fn search(args: &TrainArgs, count: usize) -> Result<ExitCode> {
    let (plan, min_epochs) = plan(args, count)?;
    let mut shared = Shared::default();
    let (tried, best, trained) = match run_rounds(&plan, &mut shared)? {
        Searched::Done {
            tried,
            best,
            trained,
        } => (tried, best, trained),
        Searched::Interrupted(status) => return Ok(status),
    };
    let data = shared.described().unwrap_or("").to_string();
    let search = plan.view((&data, shared.transformed()), &trained);
    super::report(&search.table(&tried, true), folds::outputs(args))?;
    // gd chosen by the grid's own values (lr=...), which the table,
    // listing those values alone, does not show.
    // Every combination's (an optimizer axis names others'), where no
    // flag given outside the grid chose it.
    let chose_gd = args.first_order_flag().is_none()
        && (plan.combos.iter())
            .all(|c| c.args.optimizer.is_none() && c.args.default_optimizer() == OptimizerKind::Gd);
    let by = (plan.combos.iter().filter(|_| chose_gd)).find_map(|c| c.args.first_order_flag());
    if let (Some(flag), false) = (by, args.quiet) {
        crate::say!("notice: without --optimizer, each combination trained gd, the default optimizer where {flag} is given, as --grid gives it; name --optimizer (adam, momentum, ...) to search another's");
    }
    let order = ranking(&tried);
    let values = |i: usize| -> BTreeMap<&str, &str> {
        (plan.combos[i].values.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    };
    let at = |i: usize| tried[i].as_ref().expect("ranked");
    let first = order
        .first()
        .copied()
        .filter(|&i| at(i).rank_key().is_some());
    let record = Record {
        version: env!("CARGO_PKG_VERSION"),
        folds: count,
        data: &data,
        grid: &args.grid,
        random: args.random,
        halving: plan.halving.map(|factor| Halving {
            factor,
            min_epochs,
            rounds: trained.clone(),
        }),
        results: order
            .iter()
            .enumerate()
            .map(|(place, &i)| Ranked {
                rank: at(i).rank_key().map(|_| place + 1),
                values: values(i),
                round: plan.halving.map(|_| at(i).round + 1),
                options: (at(i).options.as_ref()).unwrap_or(&plan.configs[at(i).round][i]),
                val_mse: at(i).val_mse,
                val_r2: at(i).val_r2,
                out_of_fold: at(i).out_of_fold,
                diverged: at(i).diverged(),
                rose: at(i).rose(),
                per_fold: &at(i).scores,
            })
            .collect(),
        best: first.map(values),
    };
    let Some(i) = first else {
        // No combination to predict by or to save: only the record.
        let mut json_only = args.clone();
        json_only.fold_predictions = None;
        folds::write_files(&json_only, &record, &shared, &[])?;
        bail!(
            "every combination diverged in some fold; try smaller --lr values, or --clip-grad-norm"
        );
    };
    let t = at(i);
    let predictions = match best {
        Some((b, round, predictions)) if b == i && round == t.round => predictions,
        // A later round dropped them: the combination that was best went
        // on, and diverged or rose there (its last round's scores, which
        // rank it, are then not those kept). Its folds once more give
        // them, the same.
        _ if args.fold_predictions.is_some() => {
            if !args.quiet {
                crate::say!("the best combination's folds again, for --fold-predictions (those kept were of the one ranked first in its round, which went on to the next and diverged or rose there)");
            }
            let place = (0, 1);
            match plan.folds(i, t.round, place, &mut shared)? {
                Folded::Done => std::mem::take(&mut shared.predictions),
                Folded::Interrupted { status, .. } => {
                    crate::say!("interrupted while the best combination's folds ran again for --fold-predictions; nothing was written");
                    return Ok(status);
                }
            }
        }
        _ => Vec::new(),
    };
    folds::write_files(args, &record, &shared, &predictions)?;
    // The best as it was scored: with --halving, in its last round.
    let epochs = plan.rounds[t.round].epochs;
    let every_row = round_args(&plan.combos[i], epochs, plan.halving.is_some());
    match args.save {
        Some(_) => folds::train_on_every_row(&every_row, &mut shared, Some(&search.flags(i, t))),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A combination tried whose folds scored `mses`, the first diverged
    /// where `diverged` says.
    fn tried(mses: &[f64], diverged: bool) -> Tried {
        tried_in(0, mses, diverged)
    }

    /// [`tried`] in round `round` of `--halving`.
    fn tried_in(round: usize, mses: &[f64], diverged: bool) -> Tried {
        tried_rising(round, mses, diverged, false)
    }

    /// [`tried_in`], the last fold's training loss ending above its start
    /// where `rose` says.
    fn tried_rising(round: usize, mses: &[f64], diverged: bool, rose: bool) -> Tried {
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
            weight_decay: None,
            wall_s: 0.5,
            ended_above_start: rose && i + 1 == mses.len(),
            scored_above_start: rose && i + 1 == mses.len(),
        });
        Tried::of(round, scores.collect(), None)
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
        assert_eq!(all[1].val_mse.map(|s| (s.mean, s.sd)), Some((1.0, 0.5)));
        assert_eq!(all[1].wall_s, 1.0);
        assert!(all[2].rank_key().is_none() && all[4].rank_key().is_none());
        let all: Vec<Option<Tried>> = all.into_iter().map(Some).collect();
        assert_eq!(ranking(&all), [1, 3, 0, 5, 2, 4]);
    }

    #[test]
    fn a_later_round_ranks_first_and_untried_combinations_not_at_all() {
        let all = [
            Some(tried_in(0, &[0.1, 0.1], false)),
            None,
            Some(tried_in(1, &[0.9, 0.9], false)),
            Some(tried_in(1, &[0.5, 0.5], false)),
            Some(tried_in(2, &[0.1, 0.1], true)),
            Some(tried_in(0, &[0.3, 0.3], false)),
        ];
        // Round 2's diverged last of all, after round 0's.
        assert_eq!(ranking(&all), [3, 2, 0, 5, 4]);
        // A later round's that blew up to a finite loss (its training loss
        // ended above its start) ranks after every one that did not.
        let all = [
            Some(tried_in(0, &[0.3, 0.3], false)),
            Some(tried_rising(1, &[1e20, 1e21], false, true)),
            Some(tried_in(0, &[0.5, 0.5], false)),
        ];
        assert_eq!(all[1].as_ref().unwrap().rose(), [2]);
        assert_eq!(ranking(&all), [0, 2, 1]);
        // Where every one rose, the ranking is as without the rule.
        let all = [
            Some(tried_rising(0, &[0.3, 0.3], false, true)),
            Some(tried_rising(1, &[0.4, 0.4], false, true)),
            Some(tried_rising(0, &[0.2, 0.2], false, true)),
        ];
        assert_eq!(ranking(&all), [1, 2, 0]);
    }

    #[test]
    fn halving_keeps_a_share_of_each_round_for_more_epochs() {
        let limited = |total, factor, epochs, min| -> Vec<(usize, usize)> {
            let rounds = halving_rounds(total, factor, epochs, min).unwrap();
            rounds.iter().map(|r| (r.combinations, r.epochs)).collect()
        };
        let rounds = |total, factor, epochs| limited(total, factor, epochs, 1);
        assert_eq!(rounds(16, 3, 60), [(16, 6), (6, 20), (2, 60)]);
        assert_eq!(rounds(9, 3, 10), [(9, 3), (3, 10)]);
        assert_eq!(rounds(4, 3, 10), [(4, 3), (2, 10)]);
        assert_eq!(rounds(3, 3, 10), [(3, 10)]);
        assert_eq!(rounds(1, 2, 7), [(1, 7)]);
        assert_eq!(rounds(5, 2, 8), [(5, 2), (3, 4), (2, 8)]);
        assert_eq!(rounds(1000, 2, 512).len(), 10);
        // Fewer rounds where the first would train too few epochs: the
        // last then keeps more than the factor.
        assert_eq!(rounds(16, 3, 8), [(16, 2), (6, 8)]);
        assert_eq!(rounds(16, 3, 2), [(16, 2)]);
        assert_eq!(limited(36, 3, 81, 9), [(36, 9), (12, 27), (4, 81)]);
        assert_eq!(limited(36, 3, 81, 10), [(36, 27), (12, 81)]);
        assert_eq!(limited(36, 3, 81, 81), [(36, 81)]);
        assert_eq!(limited(36, 3, 81, 0), rounds(36, 3, 81));
        let over = halving_rounds(16, 3, 8, 9).unwrap_err().to_string();
        assert!(
            over.contains("--halving-min-epochs 9 is more than --epochs 8"),
            "{over}"
        );
        assert!(halving_rounds(16, 1, 8, 1).is_err());
    }
}
