//! How a run of `train` ends: the error after a divergence, the note
//! after a signal, the summary, and then the notices (what might do
//! better) and the warnings (the model may be bad), each of which names
//! the measurement it rests on.

use std::process::ExitCode;

use anyhow::Result;

use super::config::{
    many_rows, many_rows_flags, TrainConfig, DECAY_FOLDS, DECAY_VALUES, ROWS_PER_PARAMETER,
};
use super::report::{self, ConstantColumn, Finished};
use super::train::interrupting_signal;
use crate::cli::{HoldOut, Keep};
use crate::data;
use crate::gpu::mixed::Precision;
use crate::model::Model;
use crate::optim::{range, LrSchedule};
use crate::train::StopReason;
use crate::units;

/// Ends as the run did: an error after a divergence, exit code 130 after
/// Ctrl-C (SIGINT), 143 after SIGTERM and 129 after SIGHUP, otherwise the
/// printed summary.
pub(super) fn conclude(config: &TrainConfig, done: &Finished) -> Result<ExitCode> {
    match done.outcome.reason {
        StopReason::Diverged {
            epoch,
            loss,
            rolled_back,
        } => return Err(diverged(config, done, (epoch, loss), rolled_back)),
        StopReason::Interrupted => {
            let (signal, status) = interrupting_signal(config.run.shards.is_some());
            if !config.leader {
                return Ok(ExitCode::from(status));
            }
            crate::say!("{}", interrupted_note(config, done, signal));
            return Ok(ExitCode::from(status));
        }
        _ => {}
    }
    if !config.quiet {
        report::print_summary(config, done)?;
        type Notice = fn(&TrainConfig, &Finished) -> Option<String>;
        let remedies: [Notice; 7] = [
            optimizer_notice,
            overfitting_notice,
            scale_notice,
            many_rows_notice,
            few_rows_notice,
            few_held_out_notice,
            cut_schedule_notice,
        ];
        let mut notices: Vec<String> = (remedies.iter())
            .filter_map(|notice| notice(config, done))
            .collect();
        // More epochs only where no other remedy is named: unscaled
        // features are the thing to mend first (Friedman's #2: 0.258 held
        // out at 200 iterations, 0.9997 standardized), many rows take
        // mini-batches, and few rows or a rising held-out loss are better
        // measured than fitted further.
        if notices.is_empty() {
            notices.extend(lbfgs_epochs_notice(config, done));
        }
        notices.extend(constant_notices(config, done));
        for notice in notices {
            crate::say!("{notice}");
        }
    }
    // A warning, unlike a notice, is shown under --quiet too.
    let outcome = &done.outcome;
    // Not where --epochs, reached too, stopped the run: a resumed run at
    // the checkpoint's epoch trains on with a larger --epochs alone.
    let room = config.schedule.max_epochs > outcome.updates;
    if let (true, StopReason::TargetReached, 0, Some(target)) = (
        config.leader && room,
        outcome.reason,
        outcome.run_updates,
        config.target_loss,
    ) {
        let units = match (config.run.standardize, done.model.target_transform) {
            (true, _) => "standardized units (the rows were standardized; --no-standardize trains on raw ones), where predicting the mean scores 1".to_string(),
            (false, data::TargetTransform::None) => "the target's units, squared".to_string(),
            (false, t) => format!("the units of {}, squared", t.of(&done.model.target_name)),
        };
        // This run's first loss: the checkpoint's where resumed, whether
        // its run had stopped by this target or the target is new.
        let (updates, target) = (outcome.updates, crate::optim::short(target));
        let first = outcome.losses.get(updates).copied().unwrap_or(f64::NAN);
        match &config.resume {
            Some(path) => crate::say!(
                "warning: no epoch ran: the loss at epoch {updates} of {}, {first:.6e}, was already at or below --target-loss {target}, so the model is the checkpoint's; a lower --target-loss goes on (--resume takes one); --target-loss is in {units}",
                path.display()
            ),
            None => crate::say!(
                "warning: the loss before any update, {first:.6e}, was already at or below --target-loss {target}, so no epoch ran and the model is the untrained one; --target-loss is in {units}"
            ),
        }
    } else if let (true, StopReason::TimeLimit, 0) =
        (config.leader, outcome.reason, outcome.run_updates)
    {
        let model = match config.resume {
            Some(_) => "the checkpoint's",
            None => "the untrained one",
        };
        crate::say!(
            "warning: --max-time ended the run before its first epoch, so the model is {model}; give a longer --max-time"
        );
    } else if config.leader && done.outcome.ended_above_start() {
        crate::say!("{}", above_start_warning(config, done));
    } else if let Some(warning) = mean_warning(config, done) {
        crate::say!("{warning}");
    } else if let Some(notice) = tol_stop_notice(config, done) {
        super::notice(config.quiet, &notice);
    }
    if let Some(warning) = stopped_before_resume(config, done) {
        crate::say!("{warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The error of a run that diverged at `epoch` (its loss `loss`), whose
/// last finite parameters a checkpoint holds where `rolled_back`: what
/// led there, and the remedies.
fn diverged(
    config: &TrainConfig,
    done: &Finished,
    (epoch, loss): (usize, f64),
    rolled_back: bool,
) -> anyhow::Error {
    let updates = done.outcome.updates;
    let checkpoint = config.checkpoint.as_ref().map(|c| c.path.display());
    if epoch == 0 {
        return first_loss_not_finite(config, done, loss);
    }
    // The loss of the parameters the divergence checkpoint holds
    // (the last finite ones), where it is above the start's: the
    // run had blown up before the loss overflowed, and a new run
    // from them diverges too.
    let losses = &done.outcome.losses;
    let written = rolled_back && config.checkpoint.is_some();
    let worse = (losses.get(updates).copied())
        .filter(|&kept| written && kept > losses[0])
        .map(|kept| (kept, losses[0]));
    // The rate of the update that led to the loss at `epoch`.
    let base = config.run.optimizer.lr();
    let (schedule, cuts) = (config.run.lr_schedule, &done.outcome.rate_cuts);
    let mut lr = schedule.rate(base, epoch.saturating_sub(1) as u64, cuts);
    if lr != base {
        // A schedule's rate to four digits (332.5, not 332.5256730079651).
        lr = format!("{lr:.3e}").parse().unwrap_or(lr);
    }
    let diverged = crate::Error::Diverged { epoch, loss, lr };
    // The error says "try a smaller --lr"; the other remedies follow.
    let smaller = "a smaller --lr";
    let remedies = [vec![smaller.to_string()], other_remedies(config)].concat();
    let mut clip = units::or_list(&remedies)[smaller.len()..].to_string();
    clip += &standardize_first(config, done.outcome.losses[0]);
    let standardize = other_remedies(config).iter().any(|r| r == "--standardize");
    if done.backend.contains(", mixed ") && standardize {
        clip += "; --precision mixed holds the first layer's error terms in f16 (at most 65504 once scaled), which a target far from 0 overflows: --standardize or --precision f32 avoids that";
    }
    if lr != base {
        let (lr, base) = (crate::optim::short(lr), crate::optim::short(base));
        clip += &format!("; {lr} was the schedule's rate at that epoch, from {base}");
    }
    if let Some(path) = &config.resume {
        // The newest good parameters: those this run wrote, if any.
        let from = match (&config.checkpoint, rolled_back) {
            (Some(c), true) => &c.path,
            _ => path,
        };
        clip += &match worse {
            Some(_) => "; --resume keeps the run's options: to change them, start a new run".into(),
            None => format!(
                "; --resume keeps the run's options: to change them, start a new run from its parameters with --init {}",
                from.display()
            ),
        };
    }
    if let Some(f) = config.lr_found.as_ref().filter(|f| !f.retries.is_empty()) {
        let rates: Vec<String> = f
            .retries
            .iter()
            .map(|r| crate::optim::short(r.lr))
            .collect();
        clip += &format!(
            " (--lr auto's runs at {} diverged before it)",
            rates.join(", ")
        );
    }
    if let Some(f) = config.lr_found.as_ref() {
        // Why --lr auto trained no lower: its retries' floor.
        let next = range::retry_rate(base);
        let lower = config
            .run
            .lr_schedule
            .check(&config.run.optimizer.with_lr(next));
        if let (true, Err(e)) = (f.retries.len() < range::MAX_RETRIES, lower) {
            let next = crate::optim::short(next);
            clip += &format!("; --lr auto did not train again at {next}: {e}");
        }
    }
    match (checkpoint, worse) {
        (Some(p), Some((kept, start))) => anyhow::anyhow!(
            "{diverged}{clip}; the last finite parameters (epoch {updates}) are in {p}, but their loss, {kept:.4e}, is above the start's {start:.4e}: a new run at a smaller rate does better than one from them"
        ),
        (Some(p), None) if rolled_back => {
            anyhow::anyhow!("{diverged}{clip}; the last good parameters (epoch {updates}) are in {p}")
        }
        _ => anyhow::anyhow!("{diverged}{clip}"),
    }
}

/// The error of a run whose loss before any update, `loss`, was not
/// finite: no rate led there, so it names what did. The GPU sums the
/// squared errors in f32: a target near 3e18 on 500 raw rows overflowed
/// it, and the error told the user to try a smaller --lr, where the cpu
/// backend's f64 sum trained.
fn first_loss_not_finite(config: &TrainConfig, done: &Finished, loss: f64) -> anyhow::Error {
    let cause = start_not_finite(config, done.backend.starts_with("gpu"));
    anyhow::anyhow!(
        "the loss before any update is {loss}, so no epoch trained (no --lr led there): {cause}"
    )
}

/// What makes the loss of a run's starting parameters not finite, on the
/// GPU (`gpu`) or a CPU backend: its f32 sum of squared errors, or f32's
/// products, and --standardize where it would help.
pub(super) fn start_not_finite(config: &TrainConfig, gpu: bool) -> &'static str {
    let standardize = other_remedies(config).iter().any(|r| r == "--standardize");
    match (gpu, standardize) {
        (true, true) => "the GPU sums the squared errors in f32, at most 3.4e38, which a target this far from the output's start overflows: --standardize scales it (the cpu backend sums in f64)",
        (true, false) => "the GPU sums the squared errors in f32, at most 3.4e38, which these rows overflow (the cpu backend sums in f64), or the rows or the starting parameters hold values too large for f32's products",
        (false, true) => "the rows hold values too large for f32's products: --standardize scales them",
        (false, false) => "the rows or the starting parameters hold values too large for f32's products",
    }
}

/// The warning after a resumed run in which no epoch ran because the
/// checkpoint's run had stopped by one of its rules, which `--resume`
/// keeps (a larger `--epochs` alone trained nothing, and said only "no
/// epochs run"): what would train on. Not for L-BFGS's stall, which no
/// option set, and whose cause the other warnings name, nor for a
/// `--target-loss` met already, which may be this invocation's.
fn stopped_before_resume(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let path = config.resume.as_ref()?.display();
    if !config.leader || outcome.run_updates > 0 {
        return None;
    }
    let afresh = |change: &str| {
        format!("to train on, start a new run from its parameters with --init {path}, the run's options and {change} (the optimizer's state starts afresh)")
    };
    // A target already met has its own warning, in conclude.
    let remedy = match outcome.reason {
        StopReason::Converged => afresh("a smaller --tol or a larger --patience"),
        StopReason::GradientSmall => afresh("a smaller --gtol"),
        StopReason::ValidationStalled => afresh("a larger --val-patience"),
        _ => return None,
    };
    Some(format!(
        "warning: no epoch ran: the run in {path} had stopped at epoch {} ({}), and --resume keeps its options, so a larger --epochs does not train on; {remedy}",
        outcome.updates,
        outcome.reason.describe()
    ))
}

/// What a run interrupted after `updates` updates by `signal` left: the
/// checkpoint, or none; `--save`, which only a run that ends writes; and
/// the reports, which hold the run so far.
fn interrupted_note(config: &TrainConfig, done: &Finished, signal: &str) -> String {
    let updates = done.outcome.updates;
    let mut note = format!("interrupted at epoch {updates} ({signal})");
    let checkpoint = config.checkpoint.as_ref().map(|c| c.path.display());
    match (&checkpoint, &config.resume, &config.outputs.save) {
        (Some(p), ..) if done.checkpoint_failed => {
            note += &format!("; the checkpoint could not be written to {p}, so this run cannot be resumed from here")
        }
        (Some(p), ..) => note += &format!("; checkpoint written to {p} (continue with --resume)"),
        (None, Some(r), _) => {
            note += &format!(
                "; no --checkpoint given: {} still resumes from where it was written, and the epochs since are lost",
                r.display()
            )
        }
        (None, None, None) => note += "; no --checkpoint given, so it cannot be resumed",
        (None, None, Some(_)) => {}
    }
    if let Some(m) = &config.outputs.save {
        note += &format!(
            "; {} was not written: --save is written when a run ends",
            m.display()
        );
        match (&checkpoint, &config.outputs.after_folds) {
            // The model now, without waiting for the run's end: a resume
            // to the checkpoint's own epoch runs none, and saves.
            (Some(_), _) => {
                let kept = match config.run.keep {
                    Keep::Last => "",
                    Keep::Best => " (the --keep best parameters)",
                    Keep::BestVal => " (the --keep best-val parameters)",
                };
                let word = |p: &std::path::Path| units::shell_word(&p.display().to_string());
                // A checkpoint a resume can read again, after an update.
                let file = |c: &&super::config::Checkpointing| {
                    std::fs::metadata(&c.path).is_ok_and(|m| m.is_file())
                };
                let written = (config.checkpoint.as_ref())
                    .filter(|_| !done.checkpoint_failed && updates > 0)
                    .filter(file);
                if let Some(c) = written {
                    note += &format!(
                        "; train --resume {} --epochs {updates} --save {} writes the model it holds{kept} without training on",
                        word(&c.path),
                        word(m)
                    );
                }
            }
            (None, None) => note += ", and --checkpoint FILE keeps an interrupted run to --resume",
            // --folds refuses --checkpoint.
            (None, Some(flags)) => {
                let others = &config.outputs.others;
                if !others.is_empty() {
                    let paths: Vec<String> =
                        others.iter().map(|p| p.display().to_string()).collect();
                    let verb = if others.len() == 1 { "was" } else { "were" };
                    note += &format!(
                        "; {} {verb} written before this run on every row",
                        units::joined(&paths, "and")
                    );
                }
                let with = match flags.is_empty() {
                    true => String::new(),
                    false => format!(" with {flags}"),
                };
                note += &format!("; to keep an interrupted run to --resume, train{with} without --folds, and with --checkpoint FILE");
            }
        }
    }
    let o = &config.outputs;
    let reports: Vec<String> = [
        ("--history", o.history.is_some()),
        ("--json", o.json.is_some()),
        ("--plot", o.plot.is_some()),
        ("--lr-plot", o.lr_plot.is_some()),
    ]
    .into_iter()
    .filter(|r| r.1)
    .map(|r| r.0.to_string())
    .collect();
    if !reports.is_empty() {
        let verb = if reports.len() == 1 { "holds" } else { "hold" };
        let reports = units::joined(&reports, "and");
        note += &format!("; {reports} {verb} the run up to epoch {updates}");
    }
    note
}

/// The notice after a run of gd that no --optimizer chose, stopped by
/// --epochs while its loss was still falling: where another optimizer
/// reaches a lower loss sooner. On 65,536 rows of `gen`'s data (16
/// features, 64 sigmoid units), 200 epochs of gd reached an MSE of 0.271
/// in 1.4 s and L-BFGS reached 0.267 in 6 epochs, 0.06 s; in batches of
/// 200, 20 epochs of gd reached 0.251 and momentum 0.0144 in the same
/// time (Intel Xeon model 207, two threads).
///
/// Not where the held-out loss (`--validation-split`) stopped falling.
/// Where the run's own flags would make L-BFGS refuse it (a schedule,
/// clipping), momentum is named ([`TrainConfig::gd_alternative`]).
fn optimizer_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let overfitting = held_out_stalled(done);
    // Or stalled far from a fit: a price-like target at a low rate ends
    // at the target's mean, flat, with nothing else said.
    // (Below MEAN_R2 the mean's warning says it, lbfgs among its remedies.)
    let weak = done
        .r2
        .0
        .filter(|&r| (MEAN_R2..WEAK_R2).contains(&r) && outcome.losses.len() >= 11);
    // In mini-batches an epoch is many updates: a run of a few epochs
    // (5 of batches of 4,096 on 1,000,000 rows: gd's r² 0.905, the
    // defaults' adam 0.994) is measured from its start.
    let batches = config.run.batch_size.is_some() && outcome.losses.len() >= 2;
    let other = config.gd_alternative.filter(|_| {
        config.leader
            && (falling(&outcome.losses)
                || (batches && still_falling(&outcome.losses))
                || weak.is_some())
            && !overfitting
            && outcome.reason == crate::train::StopReason::MaxEpochs
    })?;
    let (other, flag) = other;
    // Many rows: adam in mini-batches, as a run that gives no --lr trains
    // them on the cpu backend.
    let many = many_rows(done.rows.0, done.model.params.len());
    let (other, section) = match other {
        crate::optim::OptimizerKind::Lbfgs if many && ["--lr", "--lr auto"].contains(&flag) => (
            format!(
                "on this many rows {} usually reaches a lower loss in far less time",
                many_rows_flags()
            ),
            "Many rows",
        ),
        crate::optim::OptimizerKind::Lbfgs if flag == "--lr auto" => (
            "without --lr auto the default optimizer, L-BFGS, usually reaches a lower loss in far less time"
                .to_string(),
            "Which one to pick",
        ),
        crate::optim::OptimizerKind::Lbfgs => (
            "--optimizer lbfgs usually reaches a lower loss in far less time".to_string(),
            "Which one to pick",
        ),
        // Adam at its own default rate, 0.001, ended above gd at 0.1 on
        // three of seven sets in batches of 100 (gen 10,000 × 8: gd
        // 7.0e-3, adam 2.3e-2, adam at --lr auto 2.5e-3, momentum 1.6e-3).
        _ => (
            "--optimizer momentum, or adam with --lr auto, usually reaches a lower loss in the same epochs"
                .to_string(),
            "Which one to pick",
        ),
    };
    let ended = match weak {
        Some(r2) if !falling(&outcome.losses) => {
            format!("ended at r² {} on its training rows", units::r2(r2))
        }
        _ => "was still lowering the loss when the run ended".to_string(),
    };
    Some(format!(
        "notice: gd, the default optimizer with {flag}, {ended}; {other} (docs/optimizers.md, \"{section}\")"
    ))
}

/// The notice after a run whose held-out loss ended well above its
/// lowest (by more than [`overfit_rise`]) while its training loss fell
/// below where it was then, and the run saves its last parameters: they
/// fit the training rows more closely than new ones.
/// L-BFGS, the default, fits that closely within its 200 iterations: 56
/// noisy rows of 3 features reached a training R² of 0.91 and a held-out
/// one of −0.55, its held-out loss lowest at epoch 69 and 59% above that
/// at the end.
fn overfitting_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    if !config.leader || config.run.keep == Keep::BestVal {
        return None;
    }
    let losses = done.val_losses()?;
    let ((best_epoch, best), (last_epoch, last)) = held_out_ends(done)?;
    // Risen while the training loss fell: a held-out loss that bounces
    // with the training loss (a constant rate in mini-batches) is no fit
    // to the training rows alone.
    let train = &done.outcome.losses;
    let (at_best, train) = (*train.get(best_epoch)?, *train.last()?);
    let rose = last > best * overfit_rise(config) && train < at_best;
    if losses.len() < 11 || !rose || best_epoch >= last_epoch {
        return None;
    }
    let patience = match config.run.val_patience {
        Some(_) => "",
        None => " (--val-patience N also stops N epochs after it)",
    };
    let decay = match (config.run.optimizer.weight_decay(), &config.decay_found) {
        (_, Some(_)) => "a larger --weight-decay than the search chose".into(),
        (0.0, None) => match decay_grid(config) {
            Some(grid) => {
                format!("--weight-decay (an L2 penalty on the parameters; {grid} chooses it)")
            }
            None => "--weight-decay (an L2 penalty on the parameters)".into(),
        },
        _ => "a larger --weight-decay".into(),
    };
    Some(format!(
        "notice: the held-out loss ended at {last:.4e}, {:.2}× its lowest ({best:.4e} at epoch {best_epoch}), while the training loss fell from {at_best:.4e} to {train:.4e}: the last parameters fit the training rows more closely than new ones; --keep best-val saves those of the lowest{patience}, and {decay}, a smaller --hidden or more rows may do better on new ones",
        last / best
    ))
}

/// The rise of the held-out loss over its lowest, as a factor, above
/// which [`overfitting_notice`] speaks: in full batches, whose held-out
/// loss moves smoothly, [`OVERFIT_RISE`] (L-BFGS's ended 1.16 times its
/// lowest on 8,000 noisy rows of 30 features, 20% held out, and nothing
/// was said at 1.2, where `--weight-decay 1e-3` took the test R² from
/// 0.684 to 0.756; AMD EPYC Zen 4, two threads); in
/// mini-batches, whose held-out loss bounces from batch to batch,
/// [`OVERFIT_RISE_BATCHES`].
fn overfit_rise(config: &TrainConfig) -> f64 {
    match config.run.batch_size {
        Some(_) => OVERFIT_RISE_BATCHES,
        None => OVERFIT_RISE,
    }
}

const OVERFIT_RISE: f64 = 1.05;
const OVERFIT_RISE_BATCHES: f64 = 1.2;

/// The search the notices name for a weight decay, the one a run on few
/// rows makes itself ([`search_decay`]): `--folds 5 --grid
/// weight-decay=0,1e-3,1e-2,1e-1`. On scikit-learn's diabetes rows it
/// chose 1e-2 (test R² 0.50, against −0.25 without).
/// `None` under `--distributed`, which refuses `--folds`.
fn decay_grid(config: &TrainConfig) -> Option<String> {
    let values: Vec<String> = (DECAY_VALUES.iter())
        .map(|&v| match v {
            0.0 => "0".to_string(),
            v => format!("{v:e}"),
        })
        .collect();
    (!config.distributed).then(|| {
        format!(
            "--folds {DECAY_FOLDS} --grid weight-decay={}",
            values.join(",")
        )
    })
}

/// " (`decay_grid` chooses one)", or nothing under `--distributed`.
fn grid_chooses_one(config: &TrainConfig) -> String {
    decay_grid(config).map_or(String::new(), |grid| format!(" ({grid} chooses one)"))
}

/// The held-out loss's lowest finite (epoch, loss) and its last, where
/// rows were held out.
fn held_out_ends(done: &Finished) -> Option<((usize, f64), (usize, f64))> {
    let losses = done.val_losses()?;
    let lowest = (losses.iter())
        .filter(|(_, l)| l.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((*lowest, *losses.last()?))
}

/// `columns` far from ±1 in words: those past it, then those within a
/// small part of it, each side up to four names (or three, and how many
/// more) with the largest magnitude among them.
fn far_text(columns: &[(String, f32)]) -> String {
    // Those past ±1, then those within a small part of it.
    let (large, small): (Vec<_>, Vec<_>) = columns.iter().partition(|(_, m)| *m > 1.0);
    let names = |columns: &[&(String, f32)]| {
        let shown = if columns.len() > 4 { 3 } else { 4 };
        let mut names: Vec<String> = (columns.iter().take(shown))
            .map(|(n, _)| n.clone())
            .collect();
        if columns.len() > shown {
            names.push(format!("{} more", columns.len() - shown));
        }
        units::joined(&names, "and")
    };
    let parts: Vec<String> = [(large, "magnitudes up to"), (small, "at most")]
        .into_iter()
        .filter(|(columns, _)| !columns.is_empty())
        .map(|(columns, what)| {
            let reach = if columns.len() == 1 {
                "reaches"
            } else {
                "reach"
            };
            let largest = columns.iter().fold(0f32, |m, (_, v)| m.max(*v));
            format!("{} {reach} {what} {largest:.3e}", names(&columns))
        })
        .collect();
    format!(
        "{}, far from the ±1 the network starts on",
        parts.join(", and ")
    )
}

/// The notices after a new run whose training rows hold one value in a
/// feature column: the network learns nothing from it. Where that value
/// was 0 as trained on (standardised, every constant column), the
/// weights from it are 0 and the model ignores the column; otherwise (a
/// raw constant other than 0) a row with another value there moves the
/// prediction by weights no row measured (a study's constant column at
/// 5, given 6 in its test file, took the test R² from 0.970 to 0.921).
fn constant_notices(config: &TrainConfig, done: &Finished) -> Vec<String> {
    let fresh = config.run.init.is_none() && config.resume.is_none();
    if !(config.leader && fresh) {
        return Vec::new();
    }
    let unseen: Vec<&ConstantColumn> = (done.constant_columns.iter())
        .filter(|c| c.unseen_level)
        .collect();
    let levels = match unseen.len() {
        0 => None,
        n => {
            let names: Vec<String> = unseen
                .iter()
                .map(|c| format!("'{}'", data::escaped(&c.name)))
                .collect();
            let (levels, its, one) = match n {
                1 => ("level", "its weights are", "a row of it"),
                _ => ("levels", "their weights are", "a row of one of them"),
            };
            let effect = match unseen.iter().all(|c| c.ignored) {
                true => format!("{its} 0, so predict gives {one} the prediction of a row with none of its column's levels"),
                false => format!("predict moves the prediction of {one} by weights no row measured"),
            };
            Some(format!(
                "notice: no training row has the {levels} {} (rows held out, or left out for a missing cell, do), so the network learns nothing of {}: {effect}",
                units::joined(&names, "and"),
                if n == 1 { "it" } else { "them" },
            ))
        }
    };
    let columns = [true, false]
        .into_iter()
        .filter_map(|ignored| {
            let columns: Vec<String> = (done.constant_columns.iter())
                .filter(|c| c.ignored == ignored && !c.unseen_level)
                .map(|c| units::shell_word(&data::escaped(&c.name)))
                .collect();
            let (holds, them, its) = match columns.len() {
                0 => return None,
                1 => ("holds", "it", "its"),
                _ => ("each hold", "them", "their"),
            };
            let effect = match ignored {
                true => format!(": {its} weights are 0, so predict ignores the value a row holds there (as though it held the training one); --ignore {} leaves {them} out of the model", columns.join(",")),
                false => format!(", and a row with another value there moves its prediction by weights no row measured; --ignore {} leaves {them} out", columns.join(",")),
            };
            Some(format!(
                "notice: {} {holds} one value in every training row, so the network learns nothing from {them}{effect}",
                units::joined(&columns, "and"),
            ))
        });
    columns.chain(levels).collect()
}

/// The notice after a run on columns far from ±1 that it did not
/// standardise, whose fit is weak (a training R² from [`MEAN_R2`], below
/// which the mean's warning speaks, to [`SCALED_R2`]): --standardize. On
/// Friedman's #2 (features up to 1,760), the defaults reached a held-out
/// R² of 0.258, standardized 0.9997 (benches/defaults.sh).
fn scale_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let r2 = done.r2.0?;
    let standardize = other_remedies(config).iter().any(|r| r == "--standardize");
    if !(config.leader && standardize && (MEAN_R2..SCALED_R2).contains(&r2)) {
        return None;
    }
    (!done.far_columns.is_empty()).then(|| format!(
        "notice: {}, and the fit is weak (r² {} on the training rows); --standardize scales each feature (and the target) to mean 0 and variance 1 (the model keeps the statistics, and predict applies them)",
        far_text(&done.far_columns),
        units::r2(r2)
    ))
}

/// The notice after a run of L-BFGS that no --optimizer chose, on
/// [`many_rows`], that did not reach
/// --gtol or its target, where --batch-size would be accepted:
/// mini-batches make many updates a pass. A new run on the cpu backend
/// trains them ([`TrainConfig::mini_batches_by_default`]); this is the
/// GPU's and the reference backend's, and a run with a flag of L-BFGS's.
/// On the cpu backend, a run on 50,000 rows or more that kept L-BFGS for
/// having fewer than 30 a parameter is told so, and how to compare
/// ([`fewer_a_parameter_notice`]).
fn many_rows_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let rows = done.rows.0;
    let converged = matches!(
        outcome.reason,
        crate::train::StopReason::GradientSmall | crate::train::StopReason::TargetReached
    );
    // Where --batch-size is accepted: not sharded, and in f32.
    let batches = config.run.shards.is_none() && config.adapter.precision == Precision::F32;
    let asked = config.leader && config.lbfgs_by_default && batches;
    let params = done.model.params.len();
    if !asked || converged {
        return None;
    }
    if config.few_a_parameter {
        return Some(fewer_a_parameter_notice(rows, params));
    }
    if config.split_below_many {
        return Some(format!(
            "notice: L-BFGS trained these {}, not adam in mini-batches: a new run on the cpu backend takes adam from 50,000 training rows, and --validation-split left fewer. The run on every row would take adam; to compare the two on these, name it: {} --lr auto --epochs 20 (docs/optimizers.md, \"Many rows\")",
            units::count(rows, "row"),
            many_rows_flags(),
        ));
    }
    many_rows(rows, params).then(|| format!(
        "notice: L-BFGS passes over all {} for every step; on this many, adam in mini-batches usually reaches a lower loss sooner: {} --lr auto --epochs 20 (docs/optimizers.md, \"Many rows\")",
        units::count(rows, "row"),
        many_rows_flags(),
    ))
}

/// [`many_rows_notice`]'s for a run on the cpu backend of `rows` (50,000
/// or more) and `params` parameters that kept L-BFGS for having fewer
/// than [`ROWS_PER_PARAMETER`] rows a parameter. Near that line adam in
/// mini-batches may still do better, in less time: on 100,000 rows of
/// three one-hot columns, a date and five numbers (52 features, 28.9
/// rows a parameter), a helper's test R² was 0.942 for the default L-BFGS
/// (3.1 s) and 0.949 for 20 epochs of adam (2.0 s; Intel Xeon, two
/// threads, busy). Where the network was widened past that line
/// (`--hidden 128,64` on 100,000 rows), the optimizer changed with no word.
fn fewer_a_parameter_notice(rows: usize, params: usize) -> String {
    format!(
        "notice: L-BFGS passes over all {} for every step; it trained them, not adam in mini-batches, because they are {:.1} a parameter of this network, fewer than the {ROWS_PER_PARAMETER} from which a new run on the cpu backend takes adam (which fits more of the rows' noise where they are fewer). Adam may still predict new rows as well in less time: {} --lr auto --epochs 20 trains so, and --validation-split 0.2 on both runs shows which does better (docs/optimizers.md, \"Many rows\")",
        units::count(rows, "row"),
        // Down, so that it never reads 30.0.
        (10.0 * rows as f64 / params as f64).floor() / 10.0,
        many_rows_flags(),
    )
}

/// The notice after a new run that `--max-time` stopped part way through
/// a schedule that lowers the rate over its epochs (cosine, one-cycle),
/// whose last epochs, at low rates, settle the fit: a run scheduled to
/// end in the time does better. On 500,000 rows of 20 features (a
/// helper's set), the defaults' cosine over 20 epochs stopped at epoch 5
/// by `--max-time 1` scored a test R² of 0.943, and `--epochs 5` 0.959
/// (all 20: 0.961; Intel Xeon, two threads).
fn cut_schedule_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let (schedule, name) = match config.run.lr_schedule {
        LrSchedule::Cosine { epochs, .. } => (epochs, "cosine"),
        LrSchedule::OneCycle { epochs, .. } => (epochs, "one-cycle"),
        _ => return None,
    };
    let stopped = outcome.reason == StopReason::TimeLimit && outcome.updates < schedule;
    if !(config.leader && stopped && config.resume.is_none() && outcome.run_updates > 0) {
        return None;
    }
    let lr = config.run.optimizer.lr();
    let left = config.run.lr_schedule.rate(lr, outcome.updates as u64, &[]) / lr;
    // --lr-epochs, where given at --epochs' value, is not known from it.
    let k = outcome.updates;
    let flags = match schedule == config.run.epochs {
        true => format!("--epochs {k} (with --lr-epochs {k}, where given)"),
        false => format!("--lr-epochs {k}"),
    };
    Some(format!(
        "notice: --max-time stopped the run at epoch {k}, where its {name} schedule over {} still had the rate at {} of its peak; a schedule's last epochs, at low rates, settle the fit, so {flags} schedules the whole of it in about this time, and usually ends at a lower loss (docs/optimizers.md, \"Learning-rate schedules\")",
        units::count(schedule, "epoch"),
        units::decimals(left, 2),
    ))
}

/// The notice after a fresh run on one standardised training row, which
/// predicts its target whatever the features; or after one that held no
/// rows out, whose network has
/// more parameters than it has training rows: it can fit their noise, which
/// only held-out rows show: the defaults' 321 parameters on 56 noisy rows
/// of `gen`'s task (3 features) reached a training R² of 0.91, and −0.55
/// on 24 held out.
fn few_rows_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let (rows, params) = (done.rows.0, done.model.params.len());
    // Not the run on every row after --folds, which measured it.
    // Nor one whose weight decay a cross-validation chose, which said so.
    let unmeasured = done.val_losses().is_none()
        && config.run.fold.is_none()
        && config.outputs.after_folds.is_none()
        && config.decay_found.is_none();
    // On 80 rows of gen's task with noise, L-BFGS's held-out R² went
    // from −0.31 to 0.81 with a decay of 3e-3; on scikit-learn's diabetes
    // rows (353 train, 89 test), from −0.25 to 0.50 with the 1e-2 this
    // grid chose.
    // --distributed refuses --folds, and with it the grid.
    let folds = match config.distributed {
        true => "",
        false => " or --folds 5",
    };
    let decay = match config.run.optimizer.weight_decay() {
        0.0 => format!(
            ", and --weight-decay, an L2 penalty, restrains it{}{}",
            grid_chooses_one(config),
            search_left_out(config, rows, params)
        ),
        _ => String::new(),
    };
    // A fresh run on standardised rows zeroes the weights from every
    // feature of one row (each holds one value, 0 as trained on); on raw
    // rows or from --init they stay, and the general notice speaks.
    let fresh = config.run.init.is_none() && config.resume.is_none();
    if rows == 1 && config.leader && fresh && config.run.standardize {
        return Some("notice: the network trained on one row, in which each feature holds one value, so it learns nothing from them: it predicts that row's target for every row; train on more rows".to_string());
    }
    // Not beside the warning of a model no better than the mean, whose
    // rows are not what held it back.
    let fits = done.r2.0.is_none_or(|r| r >= MEAN_R2);
    (config.leader && unmeasured && fits && rows < params).then(|| format!(
        "notice: the network's {} outnumber the {} it trained on, so it can fit their noise as well as their signal; --validation-split 0.2{folds} measures it on rows it does not train on{decay}",
        units::count(params, "parameter"),
        units::count(rows, "row")
    ))
}

/// Where a flag left out the weight decay's search that a new run of the
/// defaults on a file's `rows` (50 or more, fewer than twice its
/// `params`) makes ([`TrainConfig::decay_left_out`]), which it names: on
/// 500 noisy rows `--max-time 100`, which never bound, left test R² at
/// 0.731 where the search gave 0.877 (a helper's pass). Empty otherwise.
fn search_left_out(config: &TrainConfig, rows: usize, params: usize) -> String {
    config.decay_left_out((rows, params)).map_or(String::new(), |why| {
        format!("; {why} left out the search for one that a run of the defaults makes on so few rows")
    })
}

/// Held-out rows fewer than this: [`few_held_out_notice`].
const FEW_HELD_OUT: usize = 30;

/// The notice after a run whose `--validation-split` held out fewer than
/// [`FEW_HELD_OUT`] rows: their loss moves with the few rows chosen as
/// much as with the parameters, the more where it chose the parameters
/// saved (`--keep best-val`) or stopped the run (`--val-patience`).
/// `--validation-split 0.002` of 300 rows held out one.
fn few_held_out_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let held = done.rows.1;
    let split = config.run.validation_split.filter(|_| config.leader)?;
    if held == 0 || held >= FEW_HELD_OUT {
        return None;
    }
    let chose = match (config.run.keep == Keep::BestVal, config.run.val_patience.is_some()) {
        (true, true) => ", yet it chose the parameters saved (--keep best-val) and when to stop (--val-patience)",
        (true, false) => ", yet it chose the parameters saved (--keep best-val)",
        (false, true) => ", yet it chose when to stop (--val-patience)",
        (false, false) => "",
    };
    // --distributed refuses --folds; --hold-out last asked for the time
    // order, which random folds break.
    let folds = match config.distributed || config.run.hold_out == HoldOut::Last {
        true => "",
        false => ", or --folds 5 (each row held out once),",
    };
    let drawn = match config.run.hold_out {
        HoldOut::Random => "the rows drawn",
        HoldOut::Last => "which rows came last",
    };
    Some(format!(
        "notice: --validation-split {split} held out {}, too few for their loss to measure the model rather than {drawn}{chose}; a larger --validation-split{folds} measures it on more",
        units::count(held, "row")
    ))
}

/// A training R² below this, on columns far from ±1: [`scale_notice`].
const SCALED_R2: f64 = 0.98;

/// Ten epochs or more, and [`still_falling`]: a shorter run is compared
/// with its start, which says little.
fn falling(losses: &[f64]) -> bool {
    losses.len() >= 11 && still_falling(losses)
}

/// Whether the run's held-out loss (scored on the host, or measured on
/// the device and followed), over ten epochs or more, stopped falling.
fn held_out_stalled(done: &Finished) -> bool {
    let held_out: Option<Vec<f64>> = (done.val_losses()).map(|v| {
        v.iter()
            .map(|&(_, l)| l)
            .filter(|l| l.is_finite())
            .collect()
    });
    held_out.is_some_and(|h| h.len() >= 11 && !still_falling(&h))
}

/// The notice after an L-BFGS run that `--epochs` ended while its loss
/// still fell ([`falling`]). With held-out rows whose loss fell too, and
/// ended within [`overfit_rise`] of its lowest, more iterations fit
/// further: on `gen`'s 10,000 × 8 rows, 20% held out, 200 iterations (the
/// default) reached a held-out R² of 0.980, 500 0.992 and 1,000 0.999
/// (AMD EPYC Zen 4, two threads). With none held out that is unmeasured,
/// and often false: on 1,600 rows of Friedman's #1 (noise σ 1), 200
/// iterations scored 0.948 on 400 others, 1,000 0.921 and 3,000 0.883, so
/// the notice names the measurement instead. Not after `--folds`, which
/// measured this many epochs (and `--grid epochs=…` others), and said
/// only where no other notice names a better remedy (the caller's list:
/// [`overfitting_notice`], [`scale_notice`], [`many_rows_notice`],
/// [`few_rows_notice`]).
fn lbfgs_epochs_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let losses = &outcome.losses;
    let lbfgs = config.run.optimizer.kind() == crate::optim::OptimizerKind::Lbfgs;
    let ended = outcome.reason == crate::train::StopReason::MaxEpochs;
    let measured = config.outputs.after_folds.is_some();
    if !(config.leader && lbfgs && ended && falling(losses)) || measured {
        return None;
    }
    let n = losses.len();
    let fell = 100.0 * (1.0 - losses[n - 1] / losses[n - 11]);
    let still = format!(
        "notice: L-BFGS was still lowering the loss when --epochs ended the run ({fell:.1}% over its last 10 iterations)"
    );
    // Fewer than DECAY_RATIO rows a parameter, undecayed: a weight decay
    // often does better on new rows than more epochs. L-BFGS at 1e-3
    // against none, test R²: +0.020 at 3.9 rows a parameter (Friedman's
    // #1, noise σ 3), +0.021 at 6.0 (50 linear features), +0.072 at 3.9,
    // +0.049 at 5.9 and +0.025 at 7.3 (30 mixed features); at 10.4 it
    // lost 0.06, and the grid chose 0 there (docs/optimizers.md).
    let rows_per_parameter = done.rows.0 as f64 / done.model.params.len() as f64;
    let undecayed = config.run.optimizer.weight_decay() == 0.0 && config.decay_found.is_none();
    let decay = match undecayed && rows_per_parameter < DECAY_RATIO {
        true => format!(
            "; on {rows_per_parameter:.1} rows a parameter, --weight-decay often does better on new rows than more epochs{}",
            grid_chooses_one(config)
        ),
        false => String::new(),
    };
    match done.val_losses() {
        None => Some(format!(
            "{still}; more epochs fit the training rows further, which helps new rows only until it fits their noise: --validation-split 0.2 --keep best-val --val-patience 20 with a larger --epochs measures that, keeps the best, and stops 20 epochs past it{decay}"
        )),
        Some(_) if held_out_stalled(done) || held_out_risen(done, overfit_rise(config)) => None,
        Some(_) => Some(format!(
            "{still}, and the held-out loss with it: a larger --epochs fits further"
        )),
    }
}

/// Whether the held-out loss ended more than `rise` times its lowest.
fn held_out_risen(done: &Finished, rise: f64) -> bool {
    held_out_ends(done).is_some_and(|((_, lowest), (_, last))| last > lowest * rise)
}

/// Below this many training rows a parameter, [`lbfgs_epochs_notice`]
/// names a weight decay's search too.
const DECAY_RATIO: f64 = 10.0;

/// A training R² below this after a run of the default gd: far from a
/// fit, whether or not the loss still fell.
const WEAK_R2: f64 = 0.1;

/// Whether a loss by epoch (the first entry is the start's) fell by more
/// than 0.1% over its last ten epochs, or since the start in a shorter
/// run.
fn still_falling(losses: &[f64]) -> bool {
    let last = losses[losses.len() - 1];
    let before = losses[losses.len().saturating_sub(11)];
    last < before * (1.0 - 1e-3)
}

/// Where a run's loss rose to at least [`FELL_BACK_RISE`] times its first
/// loss and then fell back below that: the epoch of its highest loss,
/// and that loss. A rate too high throws the parameters far off; the
/// run's last epochs may then fall again, and are no sign of too few.
fn rose_and_fell_back(losses: &[f64]) -> Option<(usize, f64)> {
    let (epoch, peak) = (losses.iter().copied().enumerate())
        .filter(|(_, l)| l.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    let rose = first > 0.0 && peak >= FELL_BACK_RISE * first;
    (rose && last < peak / FELL_BACK_RISE).then_some((epoch, peak))
}

/// How far above its first loss [`rose_and_fell_back`] takes a run's
/// highest to be a sign of too high a rate, not of noise (adam's first
/// epochs rise by a few percent).
const FELL_BACK_RISE: f64 = 2.0;

/// Where the run's schedule raised the rate above `--lr` (exponential,
/// with a `--lr-gamma` above 1, as a range test does): the remedy that
/// names it and the rate its last epoch reached.
fn growing_schedule(config: &TrainConfig, done: &Finished) -> Option<String> {
    use crate::optim::schedule::LrSchedule;
    let LrSchedule::Exponential { gamma } = config.run.lr_schedule else {
        return None;
    };
    let base = config.run.optimizer.lr();
    let last = done.outcome.updates.saturating_sub(1) as u64;
    let rate = config
        .run
        .lr_schedule
        .rate(base, last, &done.outcome.rate_cuts);
    let short = crate::optim::short;
    (gamma > 1.0 && rate > base).then(|| {
        format!(
            "a --lr-gamma of 1 or less: the exponential schedule's --lr-gamma {} raised the rate from --lr {} to {} by the last epoch",
            short(gamma),
            short(base),
            short(rate)
        )
    })
}

/// The notice after a run that `--tol` stopped (no warning given) where
/// the final parameters explain less than half the training rows'
/// variance, or the loss had fallen faster than `--tol` an epoch (the
/// median) over the ten epochs before: a stop on a pause (adam's first
/// epochs, an L-BFGS step that fell short) rather than on the end of the
/// fall. Not where the loss reached 0, which also stops the run.
fn tol_stop_notice(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let tol = config.run.tol;
    let stop = tol_stop(config, done).filter(|_| config.leader)?;
    // The median of the last ten epochs' falls, relative: a first
    // epoch's large fall is not a pace the run kept.
    let losses = &outcome.losses;
    let last = losses.len() - 1;
    if losses[last] == 0.0 {
        return None;
    }
    let back = last.min(10);
    let mut falls: Vec<f64> = (last - back..last)
        .map(|e| 1.0 - losses[e + 1] / losses[e])
        .collect();
    falls.sort_by(f64::total_cmp);
    let fall = match back {
        0 => 0.0,
        _ => (falls[(back - 1) / 2] + falls[back / 2]) / 2.0,
    };
    let falling = fall > tol;
    // The final parameters', where the run stopped (not --keep's).
    let r2 = done.r2.0;
    let weak = r2.is_some_and(|r| r < 0.5);
    if !(falling || weak) {
        return None;
    }
    let r2 = r2.map_or(String::new(), |r| {
        format!(", with r² {} on the training rows", units::r2(r))
    });
    let pace = match falling {
        true => format!(
            " (over the {back} epochs before, the loss fell by a median {}% an epoch)",
            units::decimals(100.0 * fall, 1)
        ),
        false => String::new(),
    };
    Some(format!(
        "{stop}{r2}{pace}; where the data allow a closer fit, a smaller --tol or a larger --patience trains on"
    ))
}

/// Where `--tol` stopped the run: "--tol T stopped the run at epoch N",
/// with `--patience` where given.
fn tol_stop(config: &TrainConfig, done: &Finished) -> Option<String> {
    let (tol, patience) = (config.run.tol, config.run.patience);
    if done.outcome.reason != StopReason::Converged || tol <= 0.0 {
        return None;
    }
    let patience = match patience {
        0 => String::new(),
        p => format!(" (--patience {p})"),
    };
    Some(format!(
        "--tol {}{patience} stopped the run at epoch {}",
        crate::optim::short(tol),
        done.outcome.updates
    ))
}

/// Whether the last loss is above the one before: not a run to train
/// longer or at a larger rate (8.35, 2.33, 3.87, 5.74 was told both).
fn rose_at_the_end(losses: &[f64]) -> bool {
    losses.len() >= 2 && losses[losses.len() - 1] > losses[losses.len() - 2]
}

/// Whether a loss by epoch that fell overall fell over its last ten
/// epochs at least half as fast as on average: a rate too low, where one
/// too high that saturated the hidden units falls early and then stays.
fn slow_throughout(losses: &[f64]) -> bool {
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    let back = (losses.len() - 1).min(10);
    let recent = losses[losses.len() - 1 - back] - last;
    back > 0
        && last < first
        && !rose_at_the_end(losses)
        && recent / back as f64 >= 0.5 * (first - last) / (losses.len() - 1) as f64
}

/// Where the loss stopped moving (no epoch after changed it by more than
/// a millionth) at an epoch whose scheduled rate was below a thousandth
/// of `--lr`: that epoch, and the rate. A schedule that fell to nothing
/// froze the run, not a rate too high.
fn schedule_froze(config: &TrainConfig, done: &Finished) -> Option<(usize, f64)> {
    let losses = &done.outcome.losses;
    let moved = |e: &usize| (losses[*e] - losses[e - 1]).abs() > 1e-6 * losses[e - 1].abs();
    let epoch = (1..losses.len()).rev().find(moved).unwrap_or(0);
    let base = config.run.optimizer.lr();
    let cuts = &done.outcome.rate_cuts;
    let rate = config.run.lr_schedule.rate(base, epoch as u64, cuts);
    (epoch + 1 < losses.len() && rate < 1e-3 * base).then_some((epoch, rate))
}

/// The advice where [`schedule_froze`]: the schedule's settings that make
/// it fall more slowly.
fn froze_advice(config: &TrainConfig, epoch: usize, rate: f64) -> String {
    use crate::optim::schedule::LrSchedule;
    let lr = crate::optim::short(config.run.optimizer.lr());
    let rate = crate::optim::short(rate);
    let slower = match config.run.lr_schedule {
        LrSchedule::Step { .. } | LrSchedule::Exponential { .. } => "a --lr-gamma nearer 1",
        LrSchedule::Plateau { .. } => "a --lr-gamma nearer 1, a larger --lr-patience or --lr-min",
        _ => "a larger --lr-min, or a larger --lr-epochs",
    };
    format!("the loss stopped moving at epoch {epoch}, where the schedule's rate had fallen to {rate} from --lr {lr}: try a schedule that falls more slowly ({slower})")
}

/// What else may have shrunk a first-order run's steps, besides its rate:
/// any clipping norm (the run's gradient norms are not kept to tell how
/// far below them it was), or an Adam ε above 1e-3, far above √v on
/// standardised rows. ", a larger --clip-grad-norm (this run used 1e-30)"
/// as they apply.
fn small_step_causes(config: &TrainConfig) -> String {
    let opt = config.run.optimizer;
    let mut causes = String::new();
    let clip = opt.max_grad_norm();
    if clip > 0.0 {
        let clip = crate::optim::short(clip);
        causes += &format!(", a larger --clip-grad-norm (this run used {clip})");
    }
    if let crate::optim::Optimizer::Adam { eps, .. } = opt {
        // Adam's step is about --lr · m/(√v + ε): an ε above the
        // gradient's size divides it away.
        if eps > 1e-3 {
            let eps = crate::optim::short(eps);
            causes += &format!(", a smaller --eps (this run used {eps})");
        }
    }
    causes
}

/// A training R² below this: the model is no better than the target's
/// mean.
pub(super) const MEAN_R2: f64 = 1e-3;

/// The warning after a run whose parameters saved (the final ones, or
/// those `--keep` kept) predict the training rows no better than their
/// mean, with advice by how it went: a schedule that raised the rate, a
/// loss that rose far above its start and fell back (too high a rate),
/// still falling (too few epochs or too low a rate), or flat (a rate that
/// saturated the hidden units).
fn mean_warning(config: &TrainConfig, done: &Finished) -> Option<String> {
    let outcome = &done.outcome;
    let kept = (done.kept.as_ref()).filter(|k| k.epoch != outcome.updates);
    let (r2, model) = match kept {
        Some(k) => (
            k.r2,
            format!("the model saved (--keep's, epoch {}'s parameters)", k.epoch),
        ),
        None => (done.r2.0, "the model".to_string()),
    };
    let r2 = r2.filter(|&r| config.leader && r < MEAN_R2)?;
    let head = format!(
        "warning: {model} predicts the training rows no better than their mean does (r² {})",
        units::r2(r2)
    );
    let losses = &outcome.losses;
    let last = losses[losses.len() - 1];
    // A one-hot column named whole stands for each of its levels.
    let levels = |name: &String| {
        let category = done.model.categories.iter().find(|c| c.column == *name);
        category.map_or(1, |c| c.levels.len())
    };
    let constant: usize = (done.constant_columns.iter())
        .map(|c| if c.unseen_level { 1 } else { levels(&c.name) })
        .sum();
    if constant == done.model.layout.features() {
        // Nothing to learn from: no optimizer or network does better.
        return Some(format!(
            "{head}; every feature holds one value in every training row, so no model can tell the rows apart: give columns that vary"
        ));
    }
    // A search's choice on raw columns far from ±1 (x0 × 1e6) is not
    // what held the fit back: the columns are, which the advice below names.
    let searched_on_far = config.decay_found.is_some() && !done.far_columns.is_empty();
    if let Some(advice) = decay_advice(config, &done.model).filter(|_| !searched_on_far) {
        return Some(format!("{head}; {advice}"));
    }
    let standardize = other_remedies(config).iter().any(|r| r == "--standardize");
    let mut advice = if standardize && r2 < -1.0 {
        // Far worse than the mean: a target on a scale the output, which
        // starts near 0, reaches slowly at any rate (a price near 1e6).
        return Some(format!(
            "warning: {model} predicts the training rows far worse than their mean does (r² {}): its predictions are still far from the target's values, which an output starting near 0 reaches slowly at any rate; try --standardize",
            units::r2(r2)
        ));
    } else if config.run.optimizer.kind() == crate::optim::OptimizerKind::Lbfgs {
        let advice = lbfgs_advice(config, done, standardize);
        return Some(format!("{head}; {advice}"));
    } else if let Some(growing) = growing_schedule(config, done) {
        format!("try {growing}")
    } else if let Some((epoch, rate)) = schedule_froze(config, done) {
        // --lr-gamma 1e-30: the loss stopped where the rate fell to
        // nothing, not where a large rate saturated the units; and a
        // cosine's 5 epochs of 10 did not leave it still falling, though
        // it fell over the last ten.
        froze_advice(config, epoch, rate)
    } else if let Some((epoch, peak)) = rose_and_fell_back(losses) {
        // momentum at 0.3 on gen's data: 1.1 rose to 875 and fell back to
        // 1.0 by the last epoch, which fell, and was told to train longer.
        let lr = crate::optim::short(config.run.optimizer.lr());
        format!(
            "the loss rose to {peak:.3e} at epoch {epoch}, {}× where it started, before it fell back: a rate too high; try a smaller --lr (this run used {lr})",
            units::decimals(peak / losses[0], 0)
        )
    } else if let Some(stop) = tol_stop(config, done) {
        // adam at --tol 0.9 stopped at epoch 1, still falling, and was
        // told to train longer.
        format!("{stop}: a smaller --tol or a larger --patience trains on")
    } else if let (StopReason::ValidationStalled, Some(p)) =
        (outcome.reason, config.run.val_patience)
    {
        // adam at 0.01 on 6 held-out rows stopped at epoch 7 and was told
        // its rate was too high; let run, it fit to r² 0.9985.
        format!(
            "--val-patience {p} stopped the run at epoch {}, where the validation loss had not fallen for {p} epochs: a larger --val-patience trains on",
            outcome.updates,
        )
    } else if still_falling(losses) && !rose_at_the_end(losses) {
        "the loss was still falling when the run ended: train longer (--epochs) or at a larger --lr"
            .to_string()
    } else if (last - losses[0]).abs() <= losses[0] * 1e-3 {
        // Flat from the start: the updates were too small to move it.
        let lr = crate::optim::short(config.run.optimizer.lr());
        format!(
            "the loss hardly moved over the whole run: try a larger --lr (this run used {lr}){}, or --lr auto",
            small_step_causes(config)
        )
    } else if slow_throughout(losses) {
        // adam at 2e-6 on gen's 2,000 × 8 fell 1% over 200 epochs, every
        // epoch, and was told its rate was too high.
        let lr = crate::optim::short(config.run.optimizer.lr());
        format!("the loss fell slowly throughout, as fast at the end as on average: try a larger --lr (this run used {lr}), or --lr auto")
    } else {
        let lr = crate::optim::short(config.run.optimizer.lr());
        format!("a rate too high can saturate the hidden units: try a smaller --lr (this run used {lr})")
    };
    if standardize {
        advice += ", or --standardize";
    }
    // The default gd's other remedy (a price-like target: gd 0.00, lbfgs
    // 0.998 held out).
    // (On many rows the default without --lr auto is adam in batches.)
    let many = many_rows(done.rows.0, done.model.params.len());
    match config.gd_alternative {
        Some((crate::optim::OptimizerKind::Lbfgs, "--lr auto")) if many => {}
        Some((crate::optim::OptimizerKind::Lbfgs, "--lr auto")) => {
            advice += ", or leave out --lr auto (L-BFGS, the default, finds its own steps)"
        }
        Some((crate::optim::OptimizerKind::Lbfgs, _)) => advice += ", or --optimizer lbfgs",
        _ => {}
    }
    advice += &with_run_flags(config);
    Some(format!("{head}; {advice}"))
}

/// [`mean_warning`]'s advice for an L-BFGS run, which has no rate to
/// blame: L-BFGS's line search takes each step's length from the loss.
fn lbfgs_advice(config: &TrainConfig, done: &Finished, standardize: bool) -> String {
    let outcome = &done.outcome;
    let losses = &outcome.losses;
    // A column far from ±1 stalls it (one feature ×1e6: r² 0.000;
    // standardized, 0.974).
    let far = standardize && !done.far_columns.is_empty();
    // Longer only where --epochs ended it: a line search that found no
    // lower loss is not helped by more epochs.
    let ended = outcome.reason == crate::train::StopReason::MaxEpochs;
    let gtol = match config.run.optimizer {
        crate::optim::Optimizer::Lbfgs { gtol, .. } => gtol,
        _ => 0.0,
    };
    let loose = gtol > crate::optim::DEFAULT_GTOL
        && outcome.reason == crate::train::StopReason::GradientSmall;
    // --tol 0.5: nearly every fall is below it, so the first epoch stopped the
    // run; not an ordinary plateau at a small --tol: a stop at the first
    // update, or at a tolerance of a percent or more.
    let tol_stop = outcome.reason == crate::train::StopReason::Converged
        && config.run.tol > 0.0
        && (outcome.updates <= 1 || config.run.tol >= 1e-2);
    match (far, ended && still_falling(losses), loose || tol_stop) {
        (true, _, _) => format!(
            "{}, which stalls L-BFGS; try --standardize",
            far_text(&done.far_columns)
        ),
        (false, true, _) => {
            "the loss was still falling when the run ended: train longer (--epochs)".into()
        }
        // Not a stall: a tolerance above the default was met (--gtol
        // 10 at epoch 0).
        (false, false, true) if tol_stop => format!(
            "it stopped at epoch {} where the loss fell by less than --tol {} of itself: give a smaller --tol",
            outcome.updates,
            crate::optim::short(config.run.tol)
        ),
        (false, false, true) => format!(
            "it stopped at epoch {} where the gradient's largest entry was at most --gtol {}: give a smaller --gtol",
            outcome.updates,
            crate::optim::short(gtol)
        ),
        (false, false, _) => {
            let or = if standardize {
                ", or --standardize"
            } else {
                ""
            };
            let lr = config.run.optimizer.lr();
            let default = crate::optim::OptimizerKind::Lbfgs.default_lr();
            match outcome.reason == crate::train::StopReason::NoDescent
                && outcome.updates == 0
                && lr > default
            {
                // --lr 1e25: the line search's first trial step was so
                // long that its 25 tries never came back to a lower loss.
                true => format!(
                    "L-BFGS's line search found no lower loss in its first iteration, whose first trial step --lr {} sets: try a smaller --lr (L-BFGS's default is {default}){or}",
                    crate::optim::short(lr)
                ),
                false => format!("L-BFGS stalled: try another --hidden or --activation, or a first-order optimizer (--optimizer adam --lr auto){or}"),
            }
        }
    }
}

/// Below this fraction of their starting size ([`weight_size`]), weights
/// a run with weight decay ended at were shrunk by it.
const DECAYED: f64 = 0.1;

/// Where a run's weight decay (`--weight-decay`, or the search's choice)
/// shrank `model`'s weights below [`DECAYED`] of their starting size,
/// that it did and what to try: the advice of a run no better than the mean, or
/// whose loss ended above its start. The penalty outweighed the loss: at
/// `--weight-decay 100` an L-BFGS run (r² 0.9996 at 0) ended at r²
/// 0.0000 with its loss above the start, and the warning told it to try
/// a smaller --lr; adam at 1000 was told its rate was too high.
fn decay_advice(config: &TrainConfig, model: &Model) -> Option<String> {
    let decay = config.run.optimizer.weight_decay();
    let size = weight_size(model);
    if decay == 0.0 || size >= DECAYED {
        return None;
    }
    let size = match size {
        s if s < 1e-3 => "less than 0.1%".to_string(),
        s => format!("{:.1}%", 100.0 * s),
    };
    if config.decay_found.is_some() {
        // The search chose it: the held-out rows fitted best so, and the
        // optimizer did not stall (500 rows of noise: "L-BFGS stalled").
        return Some(format!(
            "the weight decay the search chose, {}, shrank the weights to {size} of their starting size, where the network's output barely depends on its inputs: its folds' held-out rows were predicted best so, which says these features carry little this network finds (--weight-decay 0 trains without it)",
            crate::optim::short(decay)
        ));
    }
    Some(in_a_new_run(config, format!(
        "--weight-decay {} shrank the weights to {size} of their starting size, where the network's output barely depends on its inputs: try a smaller one, or 0",
        crate::optim::short(decay),
    )))
}

/// `remedy`, of another option's value, as a resumed run (whose options
/// are the checkpoint's) can take it: in a new run.
fn in_a_new_run(config: &TrainConfig, remedy: String) -> String {
    match config.resume {
        Some(_) => format!("{remedy} in a new run (--resume keeps the run's options)"),
        None => remedy,
    }
}

/// How large `model`'s weights are against a fresh network's: of each
/// layer, the root mean square of its weights (not its biases) over that
/// of U(−1/√fan_in, 1/√fan_in), 1/√(3·fan_in); the smallest layer's.
/// One layer near 0 makes the output near constant. The inputs whose
/// weights are all exactly 0 are left out (those a fresh run zeroes, of
/// features 0 in every training row: 400 of 403 constant would otherwise
/// put a healthy first layer at 9% of its size); a layer of none else is 0.
fn weight_size(model: &Model) -> f64 {
    (model.layout.layers().iter())
        .map(|layer| {
            let w = &model.params;
            let n = layer.inputs;
            let live: Vec<usize> = (0..n)
                .filter(|&j| layer.from_input(j).any(|i| w[i] != 0.0))
                .collect();
            let squares: f64 = (live.iter().flat_map(|&j| layer.from_input(j)))
                .map(|i| (w[i] as f64).powi(2))
                .sum();
            match live.len() {
                0 => 0.0,
                k => (squares / (k * layer.outputs) as f64 * 3.0 * n as f64).sqrt(),
            }
        })
        .fold(f64::INFINITY, f64::min)
}

/// Whether `--clip-grad-norm` is a remedy the run has not tried: a
/// first-order optimizer, unclipped.
fn can_clip(config: &TrainConfig) -> bool {
    let opt = config.run.optimizer;
    opt.kind() != crate::optim::OptimizerKind::Lbfgs && opt.max_grad_norm() == 0.0
}

/// Remedies for a run whose loss grew, besides a smaller rate: clipping
/// where it was not tried ([`can_clip`]), and standardising where the run
/// did not and a new one from scratch could.
pub(super) fn other_remedies(config: &TrainConfig) -> Vec<String> {
    let mut remedies = Vec::new();
    let opt = config.run.optimizer;
    let decay = opt.weight_decay();
    // Where 1 − lr·λ < −1, the decay alone makes θ grow (in gd's g + λθ,
    // or AdamW's shrink), and clipping, which comes before it, cannot help.
    let decay_alone = decay > 0.0
        && opt.lr() * decay > 2.0
        && (opt.kind() == crate::optim::OptimizerKind::Gd || opt.shrink().is_some());
    if can_clip(config) && !decay_alone {
        remedies.push("--clip-grad-norm C".to_string());
    }
    if decay > 0.0 {
        remedies.push("a smaller --weight-decay".to_string());
    }
    // A resumed run keeps its options, and --init's model its statistics.
    if !config.run.standardize && config.resume.is_none() && config.run.init.is_none() {
        remedies.push("--standardize".to_string());
    }
    remedies
}

/// A loss before any update above this: a target far from the output's
/// start near 0 (|y| of 10 or more), which a smaller rate or clipping
/// only slows; standardising puts it near 0.
const FAR_TARGET_LOSS: f64 = 100.0;

/// Where `--standardize` is a remedy and the loss before any update,
/// `first`, says the target is far from 0: a sentence that puts it first.
fn standardize_first(config: &TrainConfig, first: f64) -> String {
    let remedy = other_remedies(config).iter().any(|r| r == "--standardize");
    match remedy && first > FAR_TARGET_LOSS {
        true => format!("; the loss before any update, {first:.6e}, says the target is far from the output's start near 0, which --standardize fixes first"),
        false => String::new(),
    }
}

/// What to try where the loss ended above its start or diverged: "try a
/// smaller --lr (`who` used 0.1), --clip-grad-norm C or --standardize", as
/// they apply; under `--lr auto`, of a config whose rate is not the one
/// trained at (`--folds`' own), the rate is not named.
pub(super) fn rising_remedy(config: &TrainConfig, who: &str) -> String {
    let lr = crate::optim::short(config.run.optimizer.lr());
    let smaller = match (config.lr_auto, config.lr_found.as_ref()) {
        (Some(_), None) => format!("a smaller --lr than --lr auto chose for {who}"),
        _ => format!("a smaller --lr ({who} used {lr})"),
    };
    let remedies = [vec![smaller], other_remedies(config)];
    format!(
        "try {}{}",
        units::or_list(&remedies.concat()),
        with_run_flags(config)
    )
}

/// For a run whose many rows chose adam in mini-batches: the flags that
/// name it, which a remedy's `--lr` or `--clip-grad-norm` goes with
/// (either alone makes gd the default); empty otherwise.
pub(super) fn with_run_flags(config: &TrainConfig) -> String {
    match config.rows_chose_adam {
        true => format!(
            " (with {}, this run's: --lr or --clip-grad-norm alone trains gd)",
            many_rows_flags()
        ),
        false => String::new(),
    }
}

/// The warning after a run whose final loss is above its first; with
/// `--keep`, it says which parameters were kept instead of the last.
fn above_start_warning(config: &TrainConfig, done: &Finished) -> String {
    let outcome = &done.outcome;
    let first = outcome.losses[0];
    let last = *outcome.losses.last().expect("at least one loss");
    let (remedy, far) = match (
        decay_advice(config, &done.model),
        growing_schedule(config, done),
    ) {
        (Some(advice), _) => (advice, String::new()),
        // --lr-gamma 2: a rate of 1e7 by the 30th epoch, not --lr's 0.01.
        (None, Some(growing)) => (
            in_a_new_run(config, format!("try {growing}")),
            String::new(),
        ),
        (None, None) => (
            in_a_new_run(config, rising_remedy(config, "this run")),
            standardize_first(config, first),
        ),
    };
    let kept = match &done.kept {
        Some(k) if k.epoch != outcome.updates => format!(
            "; --keep kept epoch {}'s parameters (loss {:.6e})",
            k.epoch, k.loss
        ),
        _ => String::new(),
    };
    format!(
        "warning: the loss ended above where it started ({first:.6e} → {last:.6e}){kept}; {remedy}{far}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::tests::config;
    use crate::app::config::{Checkpointing, DecaySearch};
    use crate::app::report::{KeptBy, KeptSummary};
    use crate::app::validation::Validation;
    use crate::model::{Activation, Layout};
    use crate::train::Outcome;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A run of a 2-3-1 network (13 parameters) on 100 rows whose losses
    /// by epoch were `losses`, stopped by `reason`.
    fn finished(losses: &[f64], reason: StopReason) -> Finished<'static> {
        let layout = Layout::new(2, &[3]).expect("a layout");
        let names = vec!["a".to_string(), "b".to_string()];
        let model = Model::init(layout, Activation::Tanh, 1, names, "y".into());
        let updates = losses.len() - 1;
        Finished {
            outcome: Outcome {
                losses: losses.to_vec(),
                updates,
                reason,
                elapsed: Duration::ZERO,
                run_updates: updates,
                evaluations: None,
                kept: None,
                rate_cuts: Vec::new(),
                held_out: None,
            },
            model,
            kept: None,
            backend: "cpu".into(),
            data: String::new(),
            rows: (100, 0),
            dropped_rows: 0,
            filled_cells: 0,
            validation: None,
            milestones: Vec::new(),
            r2: (None, None),
            untransformed_r2: (None, None),
            checkpoint_failed: false,
            save_failed: false,
            far_columns: Vec::new(),
            constant_columns: Vec::new(),
            contention: None,
        }
    }

    /// `done` with the held-out losses `losses`, by epoch from 0 (its
    /// scorer's rows, which it borrows, are leaked: a test's few bytes).
    fn held_out(mut done: Finished<'static>, losses: &[f64]) -> Finished<'static> {
        let rows = Box::leak(Box::new(data::Dataset::synthetic(16, 2, 1).expect("rows")));
        let gd = crate::optim::Optimizer::gd(0.1);
        let scorer = crate::cpu::Fast::new(&done.model, rows, gd, 1).expect("a scorer");
        let losses = losses.iter().copied().enumerate().collect();
        done.validation = Some(Validation::new(scorer, losses, false, None));
        done
    }

    /// Twelve losses, each 1% below the one before.
    fn falling_losses() -> Vec<f64> {
        (0..12).map(|e| 0.99f64.powi(e)).collect()
    }

    /// A run --max-time stopped part way through a cosine or one-cycle
    /// schedule is told to fit the schedule to the epochs it reached
    /// (--lr-epochs where the schedule is not --epochs'); not where the
    /// schedule had ended, nor for one that lowers no rate over a span,
    /// nor where --epochs stopped it, nor a resumed run, nor one stopped
    /// before its first epoch.
    #[test]
    fn a_schedule_cut_short_by_max_time_is_said() {
        let adam = |more: &[&str]| {
            config(
                &[
                    &["--optimizer", "adam", "--lr", "0.01", "--epochs"][..],
                    more,
                ]
                .concat(),
            )
        };
        let run = |more: &[&str]| adam(&[&["20", "--lr-schedule", "cosine"][..], more].concat());
        let stopped = || finished(&falling_losses(), StopReason::TimeLimit);
        let notice = cut_schedule_notice(&run(&[]), &stopped()).expect("a notice");
        let says = "notice: --max-time stopped the run at epoch 11, where its cosine schedule over 20 epochs still had the rate at 0.42 of its peak; a schedule's last epochs, at low rates, settle the fit, so --epochs 11 (with --lr-epochs 11, where given) schedules the whole of it in about this time";
        assert!(notice.starts_with(says), "{notice}");
        let notice = cut_schedule_notice(&run(&["--lr-epochs", "15"]), &stopped()).unwrap();
        assert!(notice.contains("over 15 epochs") && notice.contains(" so --lr-epochs 11 "));
        let one_cycle = adam(&["20", "--lr-schedule", "one-cycle"]);
        let notice = cut_schedule_notice(&one_cycle, &stopped()).unwrap();
        assert!(
            notice.contains("its one-cycle schedule over 20 epochs"),
            "{notice}"
        );
        let mut before = stopped();
        before.outcome.run_updates = 0;
        let mut resumed = run(&[]);
        resumed.resume = Some(PathBuf::from("ck.st"));
        let step = ["20", "--lr-schedule", "step", "--lr-every", "5"];
        for (config, done) in [
            (run(&[]), finished(&falling_losses(), StopReason::MaxEpochs)),
            (adam(&["11", "--lr-schedule", "cosine"]), stopped()),
            (adam(&["20"]), stopped()),
            (adam(&step), stopped()),
            (run(&[]), before),
            (resumed, stopped()),
        ] {
            let schedule = config.run.lr_schedule;
            assert_eq!(cut_schedule_notice(&config, &done), None, "{schedule:?}");
        }
    }

    /// The gd notice needs a run --epochs ended, and, where the loss is
    /// flat, a training r² below 0.1.
    #[test]
    fn the_gd_notice_waits_for_epochs_to_end_the_run_and_a_weak_fit() {
        let gd = config(&["--lr", "0.1"]);
        assert_eq!(
            gd.gd_alternative,
            Some((crate::optim::OptimizerKind::Lbfgs, "--lr"))
        );
        let ended = finished(&falling_losses(), StopReason::MaxEpochs);
        let notice = optimizer_notice(&gd, &ended).expect("a notice");
        assert!(notice.contains("--optimizer lbfgs"), "{notice}");
        let stopped = finished(&falling_losses(), StopReason::TimeLimit);
        assert_eq!(optimizer_notice(&gd, &stopped), None);
        let mut flat = finished(&[0.5; 12], StopReason::MaxEpochs);
        flat.r2.0 = Some(0.05);
        let notice = optimizer_notice(&gd, &flat).expect("a notice");
        assert!(notice.contains("ended at r² 0.0500"), "{notice}");
        flat.r2.0 = Some(0.3);
        assert_eq!(optimizer_notice(&gd, &flat), None);
    }

    /// The gd notice is not for a run whose held-out loss stopped falling
    /// over ten epochs or more; over fewer it says too little to hold it.
    #[test]
    fn the_gd_notice_is_not_for_a_stalled_held_out_loss() {
        let gd = config(&["--lr", "0.1"]);
        let ended = || finished(&falling_losses(), StopReason::MaxEpochs);
        let stalled = held_out(ended(), &[0.5; 12]);
        assert_eq!(optimizer_notice(&gd, &stalled), None);
        let short = held_out(ended(), &[0.5; 5]);
        assert!(optimizer_notice(&gd, &short).is_some());
    }

    /// The overfitting notice waits for a held-out loss 5% above its
    /// lowest in full batches (20% in mini-batches), over ten epochs or
    /// more, while the training loss fell.
    #[test]
    fn the_overfitting_notice_waits_for_a_rise_while_the_training_loss_fell() {
        // Lowest at epoch 5, then 8% above it at the end.
        let rose = [
            1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.51, 0.52, 0.53, 0.54, 0.54, 0.54,
        ];
        let full = config(&["--optimizer", "adam"]);
        let done = || held_out(finished(&falling_losses(), StopReason::MaxEpochs), &rose);
        let notice = overfitting_notice(&full, &done()).expect("a notice");
        assert!(
            notice.contains("1.08× its lowest (5.0000e-1 at epoch 5)"),
            "{notice}"
        );
        let batches = config(&["--optimizer", "adam", "--batch-size", "10"]);
        assert_eq!(overfitting_notice(&batches, &done()), None);
        // The training loss rose with it: not a closer fit.
        let mut both = done();
        *both.outcome.losses.last_mut().expect("losses") = 2.0;
        assert_eq!(overfitting_notice(&full, &both), None);
        // Five epochs of it.
        let short = held_out(
            finished(&falling_losses()[..6], StopReason::MaxEpochs),
            &[1.0, 0.5, 0.6, 0.6, 0.6, 0.6],
        );
        assert_eq!(overfitting_notice(&full, &short), None);
    }

    /// L-BFGS's many-rows notice is for a run that neither met its --gtol
    /// or target nor trained in mixed precision (which refuses
    /// --batch-size).
    #[test]
    fn the_many_rows_notice_is_for_an_unconverged_f32_run() {
        let lbfgs = config(&[]);
        assert!(lbfgs.lbfgs_by_default);
        let mut done = finished(&falling_losses(), StopReason::MaxEpochs);
        done.rows.0 = 60_000;
        let notice = many_rows_notice(&lbfgs, &done).expect("a notice");
        assert!(notice.contains("all 60000 rows"), "{notice}");
        for reason in [StopReason::GradientSmall, StopReason::TargetReached] {
            done.outcome.reason = reason;
            assert_eq!(many_rows_notice(&lbfgs, &done), None, "{reason:?}");
        }
        done.outcome.reason = StopReason::MaxEpochs;
        let mixed = config(&["--precision", "mixed"]);
        assert_eq!(many_rows_notice(&mixed, &done), None);
    }

    /// The few-rows notice needs fewer rows than parameters: 13 rows for
    /// 13 parameters are not told.
    #[test]
    fn the_few_rows_notice_needs_fewer_rows_than_parameters() {
        let run = config(&[]);
        let mut done = finished(&falling_losses(), StopReason::MaxEpochs);
        done.rows.0 = 12;
        let notice = few_rows_notice(&run, &done).expect("a notice");
        assert!(
            notice.contains("13 parameters outnumber the 12 rows"),
            "{notice}"
        );
        done.rows.0 = 13;
        assert_eq!(few_rows_notice(&run, &done), None);
        // A model no better than the mean is warned of instead.
        done.rows.0 = 12;
        done.r2.0 = Some(0.0);
        assert_eq!(few_rows_notice(&run, &done), None);
        done.r2.0 = Some(0.1);
        assert!(few_rows_notice(&run, &done).is_some());
    }

    /// Fewer than 30 rows held out by --validation-split are noticed,
    /// with what their loss chose; 30, or rows a fold held out, are not.
    #[test]
    fn few_held_out_rows_are_noticed() {
        let run = config(&["--validation-split", "0.002", "--keep", "best-val"]);
        let mut done = finished(&falling_losses(), StopReason::MaxEpochs);
        done.rows = (299, 1);
        let notice = few_held_out_notice(&run, &done).expect("a notice");
        let says = "notice: --validation-split 0.002 held out 1 row, too few for their loss to measure the model rather than the rows drawn, yet it chose the parameters saved (--keep best-val); a larger --validation-split, or --folds 5 (each row held out once), measures it on more";
        assert_eq!(notice, says);
        done.rows = (270, 30);
        assert_eq!(few_held_out_notice(&run, &done), None);
        done.rows = (290, 10);
        let folds = config(&["--folds", "5"]);
        assert_eq!(few_held_out_notice(&folds, &done), None);
    }

    /// --standardize is suggested for far columns where the training r²
    /// is below 0.98, not from 0.98, and where the run did not standardize.
    #[test]
    fn the_scale_notice_speaks_below_an_r2_of_0_98() {
        let raw = config(&["--no-standardize"]);
        let mut done = finished(&falling_losses(), StopReason::MaxEpochs);
        done.far_columns = vec![("a".into(), 1e4)];
        done.r2.0 = Some(0.95);
        let notice = scale_notice(&raw, &done).expect("a notice");
        assert!(notice.contains("r² 0.9500"), "{notice}");
        done.r2.0 = Some(0.98);
        assert_eq!(scale_notice(&raw, &done), None);
        // Nor where the run standardized already.
        done.r2.0 = Some(0.95);
        assert_eq!(scale_notice(&config(&["--standardize"]), &done), None);
    }

    /// Far columns are named by side: those past ±1 with their largest
    /// magnitude, those within a small part of it with theirs.
    #[test]
    fn far_columns_are_named_by_side() {
        let cols = |c: &[(&str, f32)]| -> Vec<(String, f32)> {
            c.iter().map(|&(n, m)| (n.to_string(), m)).collect()
        };
        let says = ", far from the ±1 the network starts on";
        assert_eq!(
            far_text(&cols(&[("a", 1e4)])),
            format!("a reaches magnitudes up to 1.000e4{says}")
        );
        assert_eq!(
            far_text(&cols(&[("a", 2e-3), ("b", 1e-3)])),
            format!("a and b reach at most 2.000e-3{says}")
        );
        assert_eq!(
            far_text(&cols(&[("s", 1e-3), ("a", 20.0), ("b", 1e4)])),
            format!("a and b reach magnitudes up to 1.000e4, and s reaches at most 1.000e-3{says}")
        );
    }

    /// A constant column is noticed after a new run only: a resumed run or
    /// one from --init did not choose its columns now.
    #[test]
    fn constant_columns_are_noticed_after_a_new_run_only() {
        let mut done = finished(&falling_losses(), StopReason::MaxEpochs);
        done.constant_columns = vec![ConstantColumn {
            name: "a".into(),
            unseen_level: false,
            ignored: true,
        }];
        let fresh = config(&[]);
        assert_eq!(constant_notices(&fresh, &done).len(), 1);
        let mut resumed = fresh.clone();
        resumed.resume = Some(PathBuf::from("run.ckpt"));
        assert!(constant_notices(&resumed, &done).is_empty());
        let mut from_init = fresh.clone();
        from_init.run.init = Some(PathBuf::from("model.safetensors"));
        assert!(constant_notices(&from_init, &done).is_empty());
    }

    /// --keep's other parameters are what the model holds, so the final
    /// ones' r² warns of nothing; kept final parameters still do. Far
    /// worse than the mean is told to standardize where the run did not.
    #[test]
    fn the_mean_warning_is_of_the_parameters_saved() {
        let run = config(&["--optimizer", "gd"]);
        let mut done = finished(&[1.0, 0.9, 0.95], StopReason::MaxEpochs);
        done.r2.0 = Some(-0.5);
        let kept = |epoch| KeptSummary {
            epoch,
            loss: 0.9,
            val_loss: None,
            r2: Some(0.1),
            val_r2: None,
            untransformed_r2: None,
            untransformed_val_r2: None,
            by: KeptBy::Training,
        };
        done.kept = Some(kept(1));
        assert_eq!(mean_warning(&run, &done), None);
        // Kept others no better than the mean: they are warned of.
        done.kept = Some(KeptSummary {
            r2: Some(-0.02),
            ..kept(1)
        });
        let warning = mean_warning(&run, &done).expect("a warning");
        let says = "the model saved (--keep's, epoch 1's parameters) predicts the training rows no better than their mean does (r² -0.0200)";
        assert!(warning.contains(says), "{warning}");
        done.kept = Some(kept(2));
        let warning = mean_warning(&run, &done).expect("a warning");
        assert!(warning.contains("no better than their mean"), "{warning}");
        // Far worse than the mean: --standardize, where the run did not.
        done.r2.0 = Some(-5.0);
        let warning = mean_warning(&run, &done).expect("a warning");
        assert!(warning.contains("far worse than their mean"), "{warning}");
        let standardized = config(&["--optimizer", "gd", "--standardize"]);
        let warning = mean_warning(&standardized, &done).expect("a warning");
        assert!(warning.contains("no better than their mean"), "{warning}");
    }

    /// A loss that rose to twice its start or more and fell back is too
    /// high a rate, however its last epochs went; adam's first epochs'
    /// few percent, or a rise it never fell back from, are not that.
    #[test]
    fn a_loss_that_rose_far_and_fell_back_is_too_high_a_rate() {
        assert_eq!(
            rose_and_fell_back(&[1.1, 875.0, 6.77, 3.9, 1.0]),
            Some((1, 875.0))
        );
        assert_eq!(rose_and_fell_back(&[1.0, 2.0, 0.99]), Some((1, 2.0)));
        assert_eq!(rose_and_fell_back(&[1.0, 1.9, 0.5]), None);
        assert_eq!(rose_and_fell_back(&[1.0, 1.03, 0.99, 0.98]), None);
        assert_eq!(rose_and_fell_back(&[1.0, 3.0, 2.5]), None);
        let run = config(&["--optimizer", "momentum", "--lr", "0.3"]);
        let mut done = finished(&[1.1, 875.0, 6.77, 3.9, 1.0], StopReason::MaxEpochs);
        done.r2.0 = Some(-0.0035);
        let warning = mean_warning(&run, &done).expect("a warning");
        let says = "the loss rose to 8.750e2 at epoch 1, 795× where it started, before it fell back: a rate too high; try a smaller --lr (this run used 0.3)";
        assert!(warning.contains(says), "{warning}");
        assert!(!warning.contains("train longer"), "{warning}");
    }

    /// An exponential schedule that raised the rate is named, with the
    /// rate it reached, where the loss ended above its start or no better
    /// than the mean; one that lowered it is not.
    #[test]
    fn a_schedule_that_raised_the_rate_is_named() {
        let growing = [
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--lr-schedule",
            "exponential",
        ];
        let run = config(&[&growing[..], &["--lr-gamma", "2"]].concat());
        let done = finished(&[1.0, 0.9, 5.0, 1e14], StopReason::MaxEpochs);
        let warning = above_start_warning(&run, &done);
        let says = "try a --lr-gamma of 1 or less: the exponential schedule's --lr-gamma 2 raised the rate from --lr 0.01 to 0.04 by the last epoch";
        assert!(warning.contains(says), "{warning}");
        let mut done = finished(&[1.0, 0.9, 1.0], StopReason::MaxEpochs);
        done.r2.0 = Some(0.0);
        let warning = mean_warning(&run, &done).expect("a warning");
        assert!(
            warning.contains("raised the rate from --lr 0.01 to 0.02"),
            "{warning}"
        );
        let falling = config(&[&growing[..], &["--lr-gamma", "0.5"]].concat());
        let done = finished(&[1.0, 0.9, 5.0, 1e14], StopReason::MaxEpochs);
        let warning = above_start_warning(&falling, &done);
        assert!(!warning.contains("--lr-gamma"), "{warning}");
        assert!(
            warning.contains("try a smaller --lr (this run used 0.01)"),
            "{warning}"
        );
    }

    /// A --tol stop is noticed where the model explains less than half
    /// the variance, or the loss was falling faster than --tol before it;
    /// not after a fit that ended its fall, nor after another stop.
    #[test]
    fn a_tol_stop_on_a_pause_or_a_weak_fit_is_noticed() {
        let run = config(&["--optimizer", "adam", "--tol", "1e-2", "--patience", "3"]);
        let mut done = finished(&[1.149, 0.990, 1.014, 1.033, 0.995], StopReason::Converged);
        done.r2.0 = Some(0.0049);
        let notice = tol_stop_notice(&run, &done).expect("a notice");
        let says = "--tol 0.01 (--patience 3) stopped the run at epoch 4, with r² 0.0049 on the training rows; where the data allow a closer fit, a smaller --tol or a larger --patience trains on";
        assert_eq!(notice, says);
        // A fit that ended its fall: nothing to say.
        let mut done = finished(&[1.0, 0.1, 0.0999, 0.0999], StopReason::Converged);
        done.r2.0 = Some(0.9);
        assert_eq!(tol_stop_notice(&run, &done), None);
        // A weak fit whose loss stopped falling: r² alone.
        done.r2.0 = Some(0.3);
        let notice = tol_stop_notice(&run, &done).expect("a notice");
        assert!(
            notice.contains("with r² 0.3000 on the training rows;"),
            "{notice}"
        );
        // Still falling fast, r² high: the pace alone.
        let lbfgs = config(&["--tol", "1e-4"]);
        let losses: Vec<f64> = (0..15).map(|e| 0.98f64.powi(e)).collect();
        let mut done = finished(&losses, StopReason::Converged);
        done.r2.0 = Some(0.8);
        let notice = tol_stop_notice(&lbfgs, &done).expect("a notice");
        let says = "--tol 1e-4 stopped the run at epoch 14, with r² 0.8000 on the training rows (over the 10 epochs before, the loss fell by a median 2.0% an epoch)";
        assert!(notice.starts_with(says), "{notice}");
        // No better than the mean: the warning names --tol, not --epochs.
        let adam = config(&["--optimizer", "adam", "--tol", "0.9"]);
        let mut done = finished(&[1.0, 0.5], StopReason::Converged);
        done.r2.0 = Some(-0.13);
        let warning = mean_warning(&adam, &done).expect("a warning");
        let says = "; --tol 0.9 stopped the run at epoch 1: a smaller --tol or a larger --patience trains on";
        assert!(
            warning.contains(says) && !warning.contains("--epochs"),
            "{warning}"
        );
        // Nor is a --val-patience stop blamed on the rate.
        let val = config(&[
            "--optimizer",
            "adam",
            "--validation-split",
            "0.02",
            "--val-patience",
            "5",
        ]);
        let mut done = finished(
            &[1.0, 0.9, 0.95, 0.97, 0.99, 1.0, 1.0],
            StopReason::ValidationStalled,
        );
        done.rows = (294, 6);
        done.r2.0 = Some(-0.02);
        let warning = mean_warning(&val, &done).expect("a warning");
        let says = "; --val-patience 5 stopped the run at epoch 6, where the validation loss had not fallen for 5 epochs: a larger --val-patience trains on";
        assert!(
            warning.contains(says) && !warning.contains("--lr"),
            "{warning}"
        );
        // Another stop, or no --tol: none.
        let done = finished(&losses, StopReason::MaxEpochs);
        assert_eq!(tol_stop_notice(&lbfgs, &done), None);
        // A loss of 0, which stops the run too: none.
        let mut done = finished(&[1.0, 0.5, 0.0], StopReason::Converged);
        done.r2.0 = Some(1.0);
        assert_eq!(tol_stop_notice(&lbfgs, &done), None);
    }

    /// The warning of a loss above its start names --keep's parameters
    /// only where they are not the final ones.
    #[test]
    fn the_above_start_warning_names_kept_parameters_other_than_the_last() {
        let run = config(&["--optimizer", "gd"]);
        let mut done = finished(&[1.0, 0.5, 2.0], StopReason::MaxEpochs);
        let kept = |epoch, loss| KeptSummary {
            epoch,
            loss,
            val_loss: None,
            r2: None,
            val_r2: None,
            untransformed_r2: None,
            untransformed_val_r2: None,
            by: KeptBy::Training,
        };
        done.kept = Some(kept(1, 0.5));
        let warning = above_start_warning(&run, &done);
        assert!(
            warning.contains("; --keep kept epoch 1's parameters (loss 5.000000e-1)"),
            "{warning}"
        );
        done.kept = Some(kept(2, 2.0));
        let warning = above_start_warning(&run, &done);
        assert!(!warning.contains("--keep kept"), "{warning}");
    }

    /// Weights shrunk below a tenth of their starting size are blamed on
    /// --weight-decay, or the search's choice, which is said to be its.
    #[test]
    fn weight_decay_is_blamed_below_a_tenth_of_the_starting_size() {
        let run = config(&["--optimizer", "gd", "--weight-decay", "0.1"]);
        let done = finished(&[1.0, 0.9], StopReason::MaxEpochs);
        let scaled = |factor: f32| {
            let mut model = done.model.clone();
            model.params.iter_mut().for_each(|p| *p *= factor);
            model
        };
        let advice = decay_advice(&run, &scaled(0.05)).expect("advice");
        assert!(
            advice.contains("to 5.0% of their starting size"),
            "{advice}"
        );
        assert_eq!(decay_advice(&run, &scaled(0.5)), None);
        let mut searched = run.clone();
        searched.decay_found = Some(DecaySearch {
            folds: 5,
            rows: 100,
            chosen: 0.1,
            tried: Vec::new(),
            wall_s: 0.0,
        });
        let advice = decay_advice(&searched, &scaled(0.05)).expect("advice");
        assert!(
            advice.starts_with("the weight decay the search chose, 0.1, shrank the weights to 5.0% of their starting size"),
            "{advice}"
        );
    }

    /// Clipping is a remedy until lr·λ passes 2, where the decay alone
    /// makes the parameters grow.
    #[test]
    fn clipping_is_named_until_the_decay_alone_diverges() {
        let clip = |decay: &str| {
            let run = config(&["--optimizer", "gd", "--lr", "0.1", "--weight-decay", decay]);
            other_remedies(&run).contains(&"--clip-grad-norm C".to_string())
        };
        assert!(clip("15"));
        assert!(!clip("25"));
    }

    /// --standardize goes first where the loss before any update is above
    /// 100.
    #[test]
    fn a_first_loss_above_100_puts_standardize_first() {
        let raw = config(&["--optimizer", "gd"]);
        assert!(standardize_first(&raw, 500.0).contains("the loss before any update, 5.000000e2"));
        assert_eq!(standardize_first(&raw, 50.0), "");
    }

    /// L-BFGS stopped by --tol is told to lower it where it stopped at its
    /// first update or at a tolerance of 1e-2 or more; otherwise it
    /// stalled, as where it met the default --gtol. Far columns are blamed
    /// where --standardize is a remedy. A run stopped before its first
    /// update at a rate no larger than L-BFGS's default has no rate to
    /// blame.
    #[test]
    fn lbfgs_advice_tells_a_tolerance_stop_from_a_stall() {
        let advice = |tol: &str, losses: &[f64], reason| {
            let run = config(&["--optimizer", "lbfgs", "--tol", tol]);
            lbfgs_advice(&run, &finished(losses, reason), false)
        };
        let converged = StopReason::Converged;
        let said = advice("1e-6", &[1.0, 1.0], converged);
        assert!(said.contains("give a smaller --tol"), "{said}");
        let long: Vec<f64> = (0..51).map(|e| 1.0 / (1.0 + e as f64)).collect();
        let said = advice("0.05", &long, converged);
        assert!(said.contains("give a smaller --tol"), "{said}");
        let said = advice("1e-6", &long, converged);
        assert!(said.starts_with("L-BFGS stalled"), "{said}");
        // --gtol at its default met: a stall, not a tolerance to lower.
        let said = advice("1e-6", &long, StopReason::GradientSmall);
        assert!(said.starts_with("L-BFGS stalled"), "{said}");
        // Far columns stall it where --standardize is a remedy.
        let run = config(&["--optimizer", "lbfgs"]);
        let mut far = finished(&long, StopReason::NoDescent);
        far.far_columns = vec![("a".into(), 1e4)];
        assert!(lbfgs_advice(&run, &far, true).ends_with("which stalls L-BFGS; try --standardize"));
        assert!(lbfgs_advice(&run, &far, false).starts_with("L-BFGS stalled"));
        let run = config(&["--optimizer", "lbfgs", "--lr", "0.5"]);
        let said = lbfgs_advice(&run, &finished(&[1.0], StopReason::NoDescent), false);
        assert!(said.starts_with("L-BFGS stalled"), "{said}");
    }

    /// A schedule froze the run where its rate fell below a thousandth of
    /// --lr, not at a hundredth.
    #[test]
    fn a_schedule_froze_a_run_below_a_thousandth_of_its_rate() {
        let froze = |gamma: &str| {
            let run = config(&[
                "--optimizer",
                "gd",
                "--lr-schedule",
                "exponential",
                "--lr-gamma",
                gamma,
            ]);
            schedule_froze(
                &run,
                &finished(&[1.0, 0.5, 0.5, 0.5], StopReason::MaxEpochs),
            )
        };
        assert_eq!(froze("0.01"), None);
        assert!(froze("1e-4").is_some());
    }

    /// Adam's ε is a cause of small steps above 1e-3 only.
    #[test]
    fn adams_eps_shrinks_steps_above_a_thousandth() {
        let causes = |eps: &str| small_step_causes(&config(&["--optimizer", "adam", "--eps", eps]));
        assert_eq!(causes("1e-4"), "");
        assert!(causes("1e-2").contains("a smaller --eps (this run used 0.01)"));
    }

    /// Under --lr auto, before the rate is found, the remedy names no rate.
    #[test]
    fn the_rising_remedy_of_an_lr_auto_run_names_no_rate() {
        let auto = config(&["--optimizer", "adam", "--lr", "auto"]);
        let remedy = rising_remedy(&auto, "this run");
        assert!(
            remedy.starts_with("try a smaller --lr than --lr auto chose for this run"),
            "{remedy}"
        );
    }

    /// A resumed run in which no epoch ran, stopped by a rule --resume
    /// keeps, is told the option that would train on; one that ran an
    /// epoch is not.
    #[test]
    fn a_resumed_run_stopped_by_its_rule_names_the_option_to_change() {
        let mut run = config(&[]);
        run.resume = Some(PathBuf::from("run.ckpt"));
        let warned = |reason, run_updates| {
            let mut done = finished(&[1.0, 0.5, 0.4], reason);
            done.outcome.run_updates = run_updates;
            stopped_before_resume(&run, &done)
        };
        for (reason, option) in [
            (
                StopReason::Converged,
                "a smaller --tol or a larger --patience",
            ),
            (StopReason::GradientSmall, "a smaller --gtol"),
            (StopReason::ValidationStalled, "a larger --val-patience"),
        ] {
            let warning = warned(reason, 0).expect("a warning");
            assert!(warning.contains("had stopped at epoch 2"), "{warning}");
            assert!(warning.contains(option), "{warning}");
            assert_eq!(warned(reason, 1), None, "{reason:?}");
        }
        assert_eq!(warned(StopReason::MaxEpochs, 0), None);
    }

    /// A resumed run's divergence points --init at the newest good
    /// parameters: this run's checkpoint where it rolled back to them,
    /// else the one it resumed from.
    #[test]
    fn a_resumed_divergence_points_init_at_the_newest_good_parameters() {
        let mut run = config(&["--optimizer", "gd"]);
        run.resume = Some(PathBuf::from("old.ckpt"));
        run.checkpoint = Some(Checkpointing {
            path: PathBuf::from("new.ckpt"),
            every: 1,
        });
        let error = |rolled_back| {
            let done = finished(&[1.0, 0.5, 0.6], StopReason::MaxEpochs);
            diverged(&run, &done, (3, f64::INFINITY), rolled_back).to_string()
        };
        assert!(error(true).contains("start a new run from its parameters with --init new.ckpt"));
        assert!(error(false).contains("start a new run from its parameters with --init old.ckpt"));
    }

    /// Under --distributed, which refuses --folds, no notice names the
    /// decay search.
    #[test]
    fn a_distributed_run_is_not_told_of_the_decay_search() {
        let mut run = config(&[]);
        assert!(decay_grid(&run).is_some());
        run.distributed = true;
        assert_eq!(decay_grid(&run), None);
        let mut done = finished(&falling_losses(), StopReason::MaxEpochs);
        done.rows.0 = 12;
        let notice = few_rows_notice(&run, &done).expect("a notice");
        assert!(!notice.contains("--folds"), "{notice}");
    }

    /// L-BFGS's epochs notice is for a run --epochs ended.
    #[test]
    fn the_lbfgs_epochs_notice_is_for_a_run_epochs_ended() {
        let run = config(&["--optimizer", "lbfgs"]);
        let ended = finished(&falling_losses(), StopReason::MaxEpochs);
        assert!(lbfgs_epochs_notice(&run, &ended).is_some());
        let converged = finished(&falling_losses(), StopReason::Converged);
        assert_eq!(lbfgs_epochs_notice(&run, &converged), None);
    }

    /// An interrupted run that can be resumed from nothing says so, unless
    /// --save's line says what it lost.
    #[test]
    fn an_interrupted_run_without_a_checkpoint_says_it_cannot_be_resumed() {
        let mut run = config(&[]);
        let done = finished(&[1.0, 0.9], StopReason::Interrupted);
        let note = interrupted_note(&run, &done, "SIGINT");
        assert!(
            note.contains("; no --checkpoint given, so it cannot be resumed"),
            "{note}"
        );
        run.outputs.save = Some(PathBuf::from("model.safetensors"));
        let note = interrupted_note(&run, &done, "SIGINT");
        assert!(!note.contains("so it cannot be resumed"), "{note}");
        assert!(note.contains("--save is written when a run ends"), "{note}");
    }

    /// A divergence names the checkpoint's last finite parameters only
    /// where they were written (rolled back), and says they are worse than
    /// the start only where their loss is above it.
    #[test]
    fn a_divergence_names_the_checkpoint_only_where_it_was_written() {
        let mut run = config(&["--optimizer", "gd"]);
        run.checkpoint = Some(Checkpointing {
            path: PathBuf::from("run.ckpt"),
            every: 1,
        });
        let error = |losses: &[f64], rolled_back| {
            let done = finished(losses, StopReason::MaxEpochs);
            diverged(&run, &done, (losses.len(), f64::INFINITY), rolled_back).to_string()
        };
        let worse = error(&[1.0, 2.0, 3.0], true);
        assert!(
            worse.contains("but their loss, 3.0000e0, is above the start's 1.0000e0"),
            "{worse}"
        );
        let unwritten = error(&[1.0, 2.0, 3.0], false);
        assert!(!unwritten.contains("run.ckpt"), "{unwritten}");
        let level = error(&[1.0, 0.5, 1.0], true);
        assert!(
            level.contains("; the last good parameters (epoch 2) are in run.ckpt"),
            "{level}"
        );
    }

    /// A divergence under --lr auto says why it trained at no lower rate
    /// where the schedule's floor refused the next, not where its
    /// retries had run out.
    #[test]
    fn a_divergence_names_the_floor_only_before_the_retries_ran_out() {
        let flags = [
            "--optimizer",
            "gd",
            "--lr",
            "0.1",
            "--lr-schedule",
            "cosine",
        ];
        let mut run = config(&[&flags[..], &["--lr-min", "0.05"]].concat());
        let error = |run: &TrainConfig, retries: usize| {
            let retry = range::Retry {
                lr: 0.3,
                epoch: 2,
                loss: f64::INFINITY,
                wall_s: 0.0,
            };
            let mut run = run.clone();
            run.lr_found = Some(range::Found {
                epochs: 10,
                retries: vec![retry; retries],
                ..range::Found::sketch(0.1, (1.0, 0.5), Vec::new())
            });
            let done = finished(&[1.0, 0.5], StopReason::MaxEpochs);
            diverged(&run, &done, (2, f64::INFINITY), false).to_string()
        };
        let floor = "; --lr auto did not train again at 0.033: ";
        let said = error(&run, range::MAX_RETRIES - 1);
        assert!(said.contains(floor), "{said}");
        let said = error(&run, range::MAX_RETRIES);
        assert!(!said.contains("did not train again"), "{said}");
        // Without a floor in the way, nothing is said of one.
        run = config(&flags);
        let said = error(&run, 1);
        assert!(!said.contains("did not train again"), "{said}");
    }

    /// A loss that fell and then rose over its last epochs (a 5,64,1,7,2,9
    /// tanh network at gd's 0.1) is not told it was still falling, nor
    /// that it fell slowly throughout: it was told to train longer, then
    /// at a larger --lr. (The notices' "still falling" measures ten
    /// epochs, and a held-out loss's rise has its own tolerance.)
    #[test]
    fn a_loss_that_rose_at_its_end_is_not_still_falling() {
        let rose = [8.35, 2.33, 3.87, 5.74];
        assert!(rose_at_the_end(&rose) && !slow_throughout(&rose));
        assert!(!rose_at_the_end(&[8.35, 2.33, 1.0]));
        assert!(slow_throughout(&[8.35, 6.0, 4.0, 2.0]));
    }

    #[test]
    fn a_slow_fall_throughout_is_told_from_an_early_fall_that_stopped() {
        // 1% over 200 epochs, the same each epoch: too low a rate.
        let steady: Vec<f64> = (0..=200).map(|e| 1.0 - 5e-5 * e as f64).collect();
        assert!(slow_throughout(&steady));
        // Fell in its first five epochs, then flat: saturated.
        let early: Vec<f64> = (0..=200)
            .map(|e| 1.0 - 0.1 * (e.min(5) as f64) / 5.0)
            .collect();
        assert!(!slow_throughout(&early));
        // Fell at a third of its average pace at the end: not throughout.
        let slowing: Vec<f64> = (0..=200)
            .map(|e| match e {
                0..=190 => 1.0 - 1e-4 * e as f64,
                _ => 1.0 - 1e-4 * 190.0 - 3.3e-5 * (e - 190) as f64,
            })
            .collect();
        assert!(!slow_throughout(&slowing));
        // Rose overall, or ten losses or fewer.
        assert!(!slow_throughout(&[1.0, 1.1, 1.05]));
        assert!(slow_throughout(&[1.0, 0.99, 0.98]));
        assert!(!slow_throughout(&[1.0]));
    }
}
