//! The weight decay a run on few rows chooses for itself: the folds of
//! its own run at each of a few values, the lowest mean held-out MSE
//! chosen (docs/optimizers.md, "Few rows").

use std::process::ExitCode;

use anyhow::Result;

use super::config::{
    DecaySearch, DecayTried, TrainConfig, DECAY_FOLDS, DECAY_ROWS_PER_PARAMETER, DECAY_VALUES,
};
use super::folds::{self, Folded, Spread};
use super::train::{Device, Shared};
use crate::cli::{Keep, TrainArgs};
use crate::data::{Category, Dataset};
use crate::optim::Optimizer;
use crate::units;

/// A signal stopped a fold of [`search_decay`]: the run ends with this
/// status, having trained nothing.
#[derive(Debug, thiserror::Error)]
#[error("interrupted during the weight decay's search")]
pub(super) struct SearchInterrupted(pub(super) ExitCode);

/// The weight decay of a run whose training `rows` (as read, in file
/// order, with their one-hot `categories`) are fewer than twice its
/// network's parameters ([`TrainConfig::decay_search`]): the folds of `args`'s run
/// on those rows, as `--folds` [`DECAY_FOLDS`] trains them, at each of
/// [`DECAY_VALUES`], on `device`; the value whose folds' mean held-out
/// MSE is lowest (the first of equals, so none where none does better)
/// is chosen. Each fold fills and standardises its own training rows, as
/// any fold does. [`SearchInterrupted`] where a signal stopped a fold.
fn search_decay(
    args: &TrainArgs,
    rows: Dataset,
    categories: &[Category],
    device: &Device,
) -> Result<DecaySearch> {
    let started = std::time::Instant::now();
    let count = rows.rows;
    let mut shared = Shared::with_rows(rows, categories, device);
    let mut tried = Vec::with_capacity(DECAY_VALUES.len());
    for weight_decay in DECAY_VALUES {
        // Quiet: the run's own notices and outputs are said and written
        // once, by the run the search is for.
        let fold_args = TrainArgs {
            weight_decay: Some(weight_decay),
            folds: Some(DECAY_FOLDS),
            quiet: true,
            validation_split: None,
            fold_predictions: None,
            save: None,
            history: None,
            json: None,
            plot: None,
            lr_plot: None,
            checkpoint: None,
            // --folds refuses best (each fold is scored on its held-out
            // rows); L-BFGS's loss never rises, so its last parameters are
            // its best too. (Refused, the search fell back to no decay:
            // diabetes' held-out R² 0.51 → −0.20.)
            keep: match args.keep {
                Keep::Best => Keep::Last,
                keep => keep,
            },
            ..args.clone()
        };
        let folded = folds::run_folds(&fold_args, DECAY_FOLDS, &mut shared, false, None)?;
        if let Folded::Interrupted { status, .. } = folded {
            return Err(SearchInterrupted(status).into());
        }
        // As --folds reports it.
        let scores = shared.scores.iter().map(|s| Some(s.val_mse));
        tried.push(DecayTried {
            weight_decay,
            val_mse: Spread::of(scores).map(|s| s.mean),
        });
    }
    let chosen = lowest(&tried);
    Ok(DecaySearch {
        folds: DECAY_FOLDS,
        rows: count,
        chosen,
        tried,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The value of `tried` whose score is lowest, the first of equals; those
/// with no score are passed over, and where none has one, 0.
fn lowest(tried: &[DecayTried]) -> f64 {
    (tried.iter())
        .filter_map(|t| Some((t.val_mse?, t.weight_decay)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(0.0, |(_, weight_decay)| weight_decay)
}

/// Gives `config` the weight decay [`search_decay`] chooses on `rows`,
/// the run's training rows as read (with their `categories`, on
/// `device`), for a network of `params` parameters, saying so first
/// (once across `--folds`' runs: `said`). A search whose folds cannot
/// train (`--missing mean` on a column with no number in a fold's
/// training rows) leaves the decay at 0, saying why; a signal ends the
/// run ([`SearchInterrupted`]).
pub(super) fn choose_decay(
    args: &TrainArgs,
    config: &mut TrainConfig,
    rows: Dataset,
    (categories, device): (&[Category], &Device),
    params: usize,
    said: Option<&mut bool>,
) -> Result<()> {
    super::notice_once(config, said, || decay_notice(config, rows.rows, params));
    let found = match search_decay(args, rows, categories, device) {
        Ok(found) => found,
        Err(e) if e.is::<SearchInterrupted>() => return Err(e),
        Err(e) => {
            if config.leader {
                super::notice(
                    config.quiet,
                    &format!("the search for --weight-decay could not train its folds, so this run trains without one: {e:#}"),
                );
            }
            return Ok(());
        }
    };
    if let Optimizer::Lbfgs { weight_decay, .. } = &mut config.run.optimizer {
        *weight_decay = found.chosen;
    }
    config.decay_found = Some(found);
    Ok(())
}

/// The notice before [`search_decay`] runs for `config`, whose network's
/// `params` are more than half its training `rows`.
fn decay_notice(config: &TrainConfig, rows: usize, params: usize) -> String {
    let each = match config.run.fold {
        Some(_) => "; each run of --folds chooses its own, from its training rows",
        None => "",
    };
    // The folds stop as the run does: at --tol where it has one.
    let tol = match config.run.tol {
        tol if tol > 0.0 => ", each stopped by --tol as this run is",
        _ => "",
    };
    format!(
        "the network has {} for the {} it trains on (fewer than {DECAY_ROWS_PER_PARAMETER} a parameter), so it could fit their noise: --weight-decay, an L2 penalty that restrains it, is chosen first by {DECAY_FOLDS}-fold cross-validation of those rows among {} ({} runs of up to {} on 4/5 of them{tol}; the summary's decay line gives each value's score); --weight-decay names one instead, 0 for none{each} (docs/optimizers.md, \"Few rows\")",
        units::count(params, "parameter"),
        units::count(rows, "row"),
        decay_list(),
        DECAY_VALUES.len() * DECAY_FOLDS,
        units::count(config.run.epochs, "epoch"),
    )
}

/// [`DECAY_VALUES`], as the notices write them.
fn decay_list() -> String {
    let values: Vec<String> = DECAY_VALUES
        .iter()
        .map(|&v| crate::optim::short(v))
        .collect();
    values.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search's choice: the lowest score, the first of equals (so 0,
    /// first, where a decay does no better), passing over values with no
    /// score; 0 where none has one.
    #[test]
    fn the_decay_chosen_is_the_first_lowest_score() {
        let tried = |scores: [Option<f64>; 4]| -> Vec<DecayTried> {
            (DECAY_VALUES.iter().zip(scores))
                .map(|(&weight_decay, val_mse)| DecayTried {
                    weight_decay,
                    val_mse,
                })
                .collect()
        };
        assert_eq!(
            lowest(&tried([Some(2.0), Some(1.0), Some(3.0), Some(1.5)])),
            1e-3
        );
        assert_eq!(
            lowest(&tried([Some(1.0), Some(1.0), Some(1.0), Some(1.0)])),
            0.0
        );
        assert_eq!(
            lowest(&tried([Some(2.0), Some(1.0), Some(1.0), Some(3.0)])),
            1e-3
        );
        assert_eq!(lowest(&tried([None, Some(2.0), None, Some(1.0)])), 1e-1);
        assert_eq!(lowest(&tried([None, None, None, None])), 0.0);
    }

    /// The notice says the folds stop at --tol where the run has one (the
    /// search trains them as the run trains), and not otherwise.
    #[test]
    fn the_notice_says_the_folds_stop_at_tol() {
        use crate::app::config::tests::config;
        let stopped = ", each stopped by --tol as this run is;";
        let with = decay_notice(&config(&["--tol", "1e-4"]), 120, 321);
        assert!(with.contains(stopped), "{with}");
        assert!(with.contains("20 runs of up to"), "{with}");
        let without = decay_notice(&config(&[]), 120, 321);
        assert!(!without.contains("--tol"), "{without}");
    }
}
