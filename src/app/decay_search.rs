//! The weight decay a run on few rows chooses for itself: the folds of
//! its own run at each of a few values, the lowest mean held-out MSE
//! chosen (docs/optimizers.md, "Few rows").

use std::process::ExitCode;

use anyhow::Result;

use super::budget;
use super::config::{
    DecaySearch, DecayTried, Fold, TrainConfig, DECAY_FOLDS, DECAY_ROWS_PER_PARAMETER, DECAY_VALUES,
};
use super::folds::Spread;
use super::train::{self, Device, Shared};
use crate::cli::{Keep, TrainArgs};
use crate::data::{Category, Dataset};
use crate::model::Layout;
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
/// any fold does. On the host the folds run side by side
/// ([`side_by_side`]), each scored as it would be alone.
/// [`SearchInterrupted`] where a signal stopped a fold.
fn search_decay(
    (args, config): (&TrainArgs, &TrainConfig),
    rows: Dataset,
    categories: &[Category],
    device: &Device,
) -> Result<DecaySearch> {
    let started = std::time::Instant::now();
    let count = rows.rows;
    let (threads, each) = side_by_side(config, device, &rows)?;
    let runs: Vec<TrainArgs> = (DECAY_VALUES.iter())
        .map(|&weight_decay| fold_args(args, weight_decay, each))
        .collect();
    let scores = run_folds(&runs, (rows, categories, device), threads)?;
    let tried = (DECAY_VALUES.iter().zip(scores.chunks(DECAY_FOLDS)))
        .map(|(&weight_decay, scores)| DecayTried {
            weight_decay,
            // As --folds reports it: the mean in fold order.
            val_mse: Spread::of(scores.iter().map(|&s| Some(s))).map(|s| s.mean),
        })
        .collect::<Vec<_>>();
    let chosen = lowest(&tried);
    Ok(DecaySearch {
        folds: DECAY_FOLDS,
        rows: count,
        chosen,
        tried,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The run of `args` that the search's folds train at `weight_decay`,
/// each on `each` threads (0: one a worker).
fn fold_args(args: &TrainArgs, weight_decay: f64, each: usize) -> TrainArgs {
    TrainArgs {
        weight_decay: Some(weight_decay),
        folds: Some(DECAY_FOLDS),
        // Quiet: the run's own notices and outputs are said and written
        // once, by the run the search is for.
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
        device: crate::cli::DeviceArgs {
            // Side by side, each fold's workers on fewer threads: the
            // sums of --threads' workers, as one after another.
            run_on: each,
            ..args.device.clone()
        },
        ..args.clone()
    }
}

/// How the search's folds share the threads: how many run at once, and
/// the threads each runs its workers on (0: one a worker). On the host
/// (the cpu backend, the reference), as many as the run's threads
/// (`--threads`, every core for 0), no more than the folds, nor than fit
/// in half the memory available, each fold counted as a run ([`budget`])
/// beside two copies of the rows (its thread's and its fold's); each on
/// its share of the threads. On the GPU, one at a time. A fold on few
/// rows keeps a second thread half idle: two side by side, each on one
/// thread, took the whole command on 2,000 rows of 100 features from
/// 3.18 s to 2.18 s (docs/optimizers.md, "Few rows"), with the same
/// model, byte for byte.
fn side_by_side(config: &TrainConfig, device: &Device, rows: &Dataset) -> Result<(usize, usize)> {
    if matches!(device, Device::Gpu(_)) {
        return Ok((1, 0));
    }
    let threads = match config.threads {
        0 => crate::cpu::cores(),
        n => n,
    };
    let held = rows.rows / DECAY_FOLDS;
    let layout = Layout::new(rows.features, &config.run.fresh_hidden())?;
    let run = budget::run_bytes(config, device, &layout, (rows.rows - held, held))?;
    let copies = 2 * 4 * (rows.x.len() + rows.y.len()) as u64;
    let fold = run.map_or(u64::MAX, |run| run.saturating_add(copies));
    let at_once = at_once(threads, fold, crate::memory::available());
    let each = match at_once {
        1 => 0,
        n => (threads / n).max(1),
    };
    Ok((at_once, each))
}

/// [`side_by_side`]'s count of folds at once on the host, for `threads`
/// threads, folds of `bytes` each and `free` bytes of memory available
/// (`None`: unknown).
fn at_once(threads: usize, bytes: u64, free: Option<u64>) -> usize {
    let room = free.map_or(u64::MAX, |free| free / 2 / bytes.max(1));
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    threads
        .min(DECAY_VALUES.len() * DECAY_FOLDS)
        .min(room)
        .max(1)
}

/// How one of the search's folds ended.
enum Ran {
    /// Its held-out MSE, as `--folds` scores it.
    Scored(f64),
    /// A signal stopped it: the status to exit with.
    Interrupted(ExitCode),
}

/// The folds of `runs` (each of [`DECAY_VALUES`]'s), on `rows` with their
/// `categories`, on `device`: their held-out MSEs, value by value and fold
/// by fold, `threads` at once (on this thread and `threads − 1` more),
/// each thread with its own copy of the rows (this one with `rows`).
/// The first fold, in that order, that failed or was stopped by a signal
/// ends the search with its error or [`SearchInterrupted`]; no fold is
/// started after it, nor after a panic, which comes out once the folds
/// under way end.
fn run_folds(
    runs: &[TrainArgs],
    (rows, categories, device): (Dataset, &[Category], &Device),
    threads: usize,
) -> Result<Vec<f64>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    use std::sync::{Mutex, PoisonError};
    let jobs = runs.len() * DECAY_FOLDS;
    // Before any fold: a signal while another thread sets its fold up is
    // that fold's to see.
    train::watch_signals()?;
    let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    let ended: Vec<Mutex<Option<Result<Ran>>>> = (0..jobs).map(|_| Mutex::new(None)).collect();
    let work = |rows: Dataset| {
        // A panic stops the other threads at their next fold.
        struct StopOnPanic<'a>(&'a AtomicBool);
        impl Drop for StopOnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.store(true, Relaxed);
                }
            }
        }
        let _stop = StopOnPanic(&stop);
        let mut shared = Shared::with_rows(rows, categories, device);
        while !stop.load(Relaxed) {
            let job = next.fetch_add(1, Relaxed);
            let Some(run) = runs.get(job / DECAY_FOLDS) else {
                return;
            };
            let fold = Fold {
                index: job % DECAY_FOLDS,
                count: DECAY_FOLDS,
                combination: None,
            };
            // A fold stopped by a signal has no score.
            let ran =
                train::train_fold(run, fold, &mut shared).map(|status| match shared.scores.pop() {
                    Some(score) => Ran::Scored(score.val_mse),
                    None => Ran::Interrupted(status),
                });
            if !matches!(ran, Ok(Ran::Scored(_))) {
                stop.store(true, Relaxed);
            }
            *ended[job].lock().unwrap_or_else(PoisonError::into_inner) = Some(ran);
        }
    };
    std::thread::scope(|scope| {
        for t in 1..threads {
            let copy = rows.clone();
            let helper = std::thread::Builder::new()
                .name(format!("shadertrain-search-{t}"))
                .stack_size(MAIN_STACK)
                .spawn_scoped(scope, || work(copy));
            // One that cannot start leaves its folds to the others.
            if helper.is_err() {
                break;
            }
        }
        work(rows);
    });
    let mut scores = Vec::with_capacity(jobs);
    for slot in ended {
        // Folds are taken in order, and every fold taken ends: one not
        // run comes after the first that failed, which returned.
        let ran = slot.into_inner().unwrap_or_else(PoisonError::into_inner);
        match ran.expect("every fold before a failed one ran")? {
            Ran::Scored(mse) => scores.push(mse),
            Ran::Interrupted(status) => return Err(SearchInterrupted(status).into()),
        }
    }
    Ok(scores)
}

/// The stack of the threads the search runs folds on: the main thread's
/// on Linux, whose code they run.
const MAIN_STACK: usize = 8 << 20;

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
    let y: Vec<f32> = rows.y.iter().copied().filter(|v| v.is_finite()).collect();
    let variance = crate::data::target_variance(&y);
    let found = match search_decay((args, config), rows, categories, device) {
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
    // Once, by the run, not by each of --folds'.
    if let (true, None, Some(note)) = (
        config.leader,
        config.run.fold,
        no_better_than_the_mean(&found, variance),
    ) {
        super::notice(config.quiet, &note);
    }
    config.decay_found = Some(found);
    Ok(())
}

/// Where the value `found` chose predicted its folds' held-out rows no
/// better than their mean (a mean held-out MSE at or above the rows'
/// `variance`, the target's as trained): what to try instead. On 50
/// noisy rows a helper saw 0.1 chosen at 1.113 against a variance of
/// 1.105 (test R² 0.074), where `--grid weight-decay=0.1,0.3,1,3` chose
/// 0.3.
fn no_better_than_the_mean(found: &DecaySearch, variance: f64) -> Option<String> {
    let chosen = found
        .tried
        .iter()
        .find(|t| t.weight_decay == found.chosen)?;
    let mse = chosen
        .val_mse
        .filter(|&m| variance > 0.0 && m >= variance)?;
    Some(format!(
        "the weight decay chosen, {}, predicted its folds' held-out rows no better than their mean does (mean held-out mse {mse:.4e}, the target's variance {variance:.4e}): a larger decay (--folds 5 --grid weight-decay=0.3,1,3 tries some), a smaller --hidden, or other features may do better",
        crate::optim::short(found.chosen)
    ))
}

/// The notice before [`search_decay`] runs for `config`, whose network's
/// `params` are more than half its training `rows`.
fn decay_notice(config: &TrainConfig, rows: usize, params: usize) -> String {
    let (scores, each) = match config.run.fold {
        Some(_) => (
            "each fold's line and --json give its choice",
            "; each run of --folds chooses its own, from its training rows",
        ),
        None => ("the summary's decay line gives each value's score", ""),
    };
    // The folds stop as the run does: at --tol where it has one.
    let tol = match config.run.tol {
        tol if tol > 0.0 => ", each stopped by --tol as this run is",
        _ => "",
    };
    format!(
        "the network has {} for the {} it trains on (fewer than {DECAY_ROWS_PER_PARAMETER} a parameter), so it could fit their noise: --weight-decay, an L2 penalty that restrains it, is chosen first by {DECAY_FOLDS}-fold cross-validation of those rows among {} ({} runs of up to {} on 4/5 of them{tol}; {scores}); --weight-decay names one instead, 0 for none{each} (docs/optimizers.md, \"Few rows\")",
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

    /// The folds side by side: the run's threads, at most one a fold, and
    /// at most as many folds as half the memory holds; always one at
    /// least.
    #[test]
    fn the_folds_side_by_side_fit_the_threads_and_the_memory() {
        let (mb, gb) = (1u64 << 20, 1u64 << 30);
        assert_eq!(at_once(2, mb, Some(gb)), 2);
        assert_eq!(at_once(1, mb, Some(gb)), 1);
        assert_eq!(at_once(64, mb, Some(64 * gb)), 20);
        assert_eq!(at_once(8, 100 * mb, Some(8 * gb)), 8);
        assert_eq!(at_once(8, gb, Some(8 * gb)), 4);
        assert_eq!(at_once(8, 3 * gb, Some(8 * gb)), 1);
        assert_eq!(at_once(8, gb, Some(0)), 1);
        assert_eq!(at_once(8, u64::MAX, Some(gb)), 1);
        assert_eq!(at_once(8, 0, Some(gb)), 8);
        assert_eq!(at_once(8, gb, None), 8);
    }

    /// On the host the folds go as many at once as the run's threads (at
    /// most 20), each on its share of them; one at a time on one thread,
    /// with every worker on a thread of its own.
    #[test]
    fn the_folds_go_side_by_side_on_the_host() {
        use crate::app::config::tests::config;
        let rows = Dataset::synthetic(100, 2, 1).expect("rows");
        let at = |threads: &str, device: &Device| {
            side_by_side(&config(&["--threads", threads]), device, &rows).expect("sized")
        };
        assert_eq!(at("3", &Device::Cpu), (3, 1));
        assert_eq!(at("3", &Device::Reference), (3, 1));
        assert_eq!(at("1", &Device::Cpu), (1, 0));
        assert_eq!(at("40", &Device::Cpu), (20, 2));
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
