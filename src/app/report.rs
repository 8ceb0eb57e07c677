//! What a finished `train` run leaves behind: the loss history, the plot,
//! the saved model, the `--json` summary and the printed summary.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use super::config::{DecaySearch, RunOptions, TrainConfig};
use super::validation::Validation;
use crate::io;
use crate::model::Model;
use crate::optim::range::Found;
use crate::plot::{self, Picture};
use crate::train::{Outcome, StopReason};
use crate::units;

/// The network a run trained, as the printed summary's `model` line says
/// it: `options` holds only what was given.
#[derive(Debug, serde::Serialize)]
pub struct Network {
    pub features: usize,
    pub hidden: Vec<usize>,
    pub activation: crate::model::Activation,
    pub parameters: usize,
    pub target: String,
    /// The feature columns, in the order the network takes them.
    pub feature_names: Vec<String>,
    /// The transform of the target it was trained on.
    pub target_transform: crate::data::TargetTransform,
}

impl Network {
    fn of(model: &Model) -> Network {
        Network {
            features: model.layout.features(),
            hidden: model.layout.hidden().to_vec(),
            activation: model.activation,
            parameters: model.layout.len(),
            target: model.target_name.clone(),
            feature_names: model.feature_names.clone(),
            target_transform: model.target_transform,
        }
    }
}

/// The `train --json` record; its schema is in the README.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub version: &'static str,
    pub options: RunOptions,
    /// The network trained, defaults resolved.
    pub network: Network,
    pub backend: String,
    /// The optimizer and its settings, in one line.
    pub optimizer: String,
    /// Updates in all, a resumed run's earlier ones included.
    pub epochs: usize,
    /// Full-batch loss-and-gradient passes this run made: the updates, or
    /// for lbfgs its iterations' line-search passes (with mini-batches, the
    /// epochs, each a gradient over every row in batches).
    pub evaluations: usize,
    pub first_loss: f64,
    pub final_loss: f64,
    pub best_loss: f64,
    /// The final loss is above the first: the run made the fit worse.
    pub ended_above_start: bool,
    /// "target", "standardized" with --standardize, or "transformed" with
    /// --target-transform alone (the transformed target's units).
    pub loss_units: &'static str,
    /// Rows trained on and rows held out (0 without a split).
    pub train_rows: usize,
    pub val_rows: usize,
    /// Rows of the file left out for a missing cell (`--missing drop`),
    /// or for a missing target (`--missing mean` or `median`).
    pub dropped_rows: usize,
    /// Missing feature cells filled with the training means (`--missing
    /// mean`), held-out rows' included.
    pub filled_cells: usize,
    /// Validation loss of the final parameters; null without a split.
    pub final_val_loss: Option<f64>,
    /// Lowest validation loss measured, and its epoch; null without a split.
    pub best_val_loss: Option<f64>,
    pub best_val_epoch: Option<usize>,
    /// R² = 1 − loss / variance of the target, of the final parameters, on
    /// the training rows and on the held-out ones; null where the target
    /// is constant, without a split (the second), or where this process
    /// did not hold every training row (the GPU's own synthetic rows, a
    /// sharded run's synthetic rows, generated in part by each process).
    pub final_r2: Option<f64>,
    pub final_val_r2: Option<f64>,
    /// With `--target-transform`: R² of the final parameters in the
    /// target's own units, their predictions and the targets transformed
    /// back, on the training and on the held-out rows; null without a
    /// transform, without a split (the second), for a constant target,
    /// or in a distributed run of several processes (the first).
    pub untransformed_r2: Option<f64>,
    pub untransformed_val_r2: Option<f64>,
    /// With `--lr-schedule plateau`: the epochs from which the rate was
    /// cut (a resumed run's earlier ones included); empty otherwise.
    pub lr_cuts: Vec<u64>,
    /// With `--lr auto`: what its range test found (the rate trained
    /// with, `lr`, is `lowest_lr / back_off`: a tenth of it, or for one
    /// cycle's peak the rate itself); null otherwise.
    pub lr_range_test: Option<Found>,
    /// Where a new run of the default L-BFGS had fewer training rows than
    /// twice its network's parameters and no `--weight-decay`: the
    /// cross-validation that chose the weight decay
    /// (`options.optimizer`'s); null otherwise.
    pub weight_decay_search: Option<DecaySearch>,
    /// With `--keep best` or `best-val`: the parameters saved, those with
    /// the lowest training or validation loss; null with `--keep last`.
    pub kept: Option<KeptSummary>,
    /// max_epochs, converged, target_reached, val_stalled, interrupted,
    /// time_limit or diverged.
    pub stop: &'static str,
    pub stop_reason: String,
    /// `--max-time`, in seconds; null where not given (it limits this
    /// invocation, and is not among the run's `options`).
    pub max_time_s: Option<f64>,
    pub wall_s: f64,
    /// `wall_s` over the epochs this run made; null when it made none (a
    /// resumed run already at its --epochs).
    pub time_per_epoch_s: Option<f64>,
    /// How busy the cores this process may run on were while the epochs
    /// ran, where Linux's `/proc` says and the run is not `--distributed`;
    /// where [`notable`], `wall_s` may be longer than on an idle machine.
    ///
    /// [`notable`]: crate::contention::Contention::notable
    pub contention: Option<crate::contention::Contention>,
    /// The model file, when one was written.
    pub model: Option<PathBuf>,
    /// Outputs that could not be written, each as "flag: error"; empty
    /// when every file asked for was written. The run then exits 1.
    pub failed_outputs: Vec<String>,
    /// For each power of ten from 1 down to 1e-12 that the training loss
    /// reached: the first epoch at or below it and the wall seconds into the
    /// run when that epoch's batch had ended (time to accuracy).
    pub milestones: Vec<Milestone>,
}

/// `--keep best`'s or `best-val`'s parameters in the `--json` summary.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KeptSummary {
    /// Updates before them: `epochs` when they are the final ones.
    pub epoch: usize,
    /// Their training loss.
    pub loss: f64,
    /// Their validation loss; null without a split.
    pub val_loss: Option<f64>,
    /// Their R² on the training rows, 1 − loss / the target's variance
    /// (null where the final R² is).
    pub r2: Option<f64>,
    /// Their R² on the held-out rows (null without a split).
    pub val_r2: Option<f64>,
    /// With `--target-transform`, their R² in the target's own units, as
    /// [`Summary::untransformed_r2`] and `untransformed_val_r2` are the
    /// final parameters'.
    pub untransformed_r2: Option<f64>,
    pub untransformed_val_r2: Option<f64>,
    /// The loss they are the lowest of.
    pub by: KeptBy,
}

/// Which loss `--keep` kept the parameters for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeptBy {
    /// `--keep best`.
    Training,
    /// `--keep best-val`.
    Validation,
}

impl KeptSummary {
    /// The loss they were kept for.
    fn kept_for(&self) -> f64 {
        match (self.by, self.val_loss) {
            (KeptBy::Validation, Some(v)) => v,
            _ => self.loss,
        }
    }
}

/// The powers of ten a run's milestones mark, falling, each the f64
/// nearest its decimal (dividing by 10 again and again would drift from
/// them: 1.0000000000000002e-6).
const MILESTONES: [f64; 13] = [
    1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12,
];

#[derive(Clone, Debug, serde::Serialize)]
pub struct Milestone {
    pub loss: f64,
    pub epoch: usize,
    pub wall_s: f64,
}

/// A finished run, as its outputs and its printed summary report it.
pub(super) struct Finished<'a> {
    pub outcome: Outcome,
    /// The model with the final parameters, or with `--keep best` or
    /// `best-val` the kept ones.
    pub model: Model,
    /// The kept parameters (`--keep best` or `best-val`), as the summary
    /// reports them.
    pub kept: Option<KeptSummary>,
    /// The backend, in one line.
    pub backend: String,
    /// The data: source, split and standardisation, in one line.
    pub data: String,
    /// Rows trained on and rows held out.
    pub rows: (usize, usize),
    /// Rows left out for a missing cell (`--missing drop`), or for a
    /// missing target (`--missing mean` or `median`).
    pub dropped_rows: usize,
    /// Missing feature cells filled (`--missing mean` or `median`).
    pub filled_cells: usize,
    pub validation: Option<Validation<'a>>,
    /// The milestones this run reached (not those of a resumed history).
    pub milestones: Vec<Milestone>,
    /// R² of the final parameters on the training and the held-out rows
    /// ([`Summary::final_r2`]).
    pub r2: (Option<f64>, Option<f64>),
    /// With `--target-transform`, R² of the final parameters on the
    /// training and the held-out rows in the target's own units, their
    /// predictions transformed back ([`Summary::untransformed_r2`]).
    pub untransformed_r2: (Option<f64>, Option<f64>),
    /// The last checkpoint could not be written.
    pub checkpoint_failed: bool,
    /// `--save` could not be written.
    pub save_failed: bool,
    /// The training rows' features far from ±1 ([`FAR_SCALE`]: past it,
    /// or nowhere past its inverse and not constant) with their largest
    /// magnitudes, where the run did not standardise them.
    pub far_columns: Vec<(String, f32)>,
    /// The training rows' features that hold one value in every row.
    pub constant_columns: Vec<ConstantColumn>,
    /// How busy the cores were while the epochs ran ([`Summary::contention`]).
    pub contention: Option<crate::contention::Contention>,
}

/// A feature that holds one value in every training row: a column (a
/// one-hot encoded one, where every training row has one level), or a
/// one-hot level no training row has.
pub struct ConstantColumn {
    pub name: String,
    /// A one-hot level (city=Rare) no training row has.
    pub unseen_level: bool,
    /// Whether the network's first-layer weights from it are 0: a fresh
    /// run's, where that value is 0 as trained on (standardised, or a raw
    /// 0), so the model ignores the feature.
    pub ignored: bool,
}

/// A feature with a value of magnitude above this, or none above its
/// inverse, is far from the ±1 a network's first layer starts on. (A target far from 0 is no obstacle
/// to L-BFGS, and the warnings of the first-order runs say it.)
pub(super) const FAR_SCALE: f32 = 10.0;

impl Finished<'_> {
    /// The held-out losses by epoch: scored on the host, or measured on
    /// the device and followed ([`Validation::follow`]).
    pub(super) fn val_losses(&self) -> Option<&[(usize, f64)]> {
        self.validation.as_ref().map(Validation::losses)
    }
}

/// Records when the training loss first fell to each power of ten, at the
/// batches' ends.
pub(super) struct Milestones {
    /// (power of ten, wall seconds) in falling powers.
    marks: Vec<(f64, f64)>,
    /// The index in [`MILESTONES`] of the next mark.
    next: usize,
    started: Instant,
}

impl Milestones {
    /// Starts the clock.
    pub fn start() -> Milestones {
        Milestones {
            marks: Vec::new(),
            next: 0,
            started: Instant::now(),
        }
    }

    /// A batch ended with this loss.
    pub fn observe(&mut self, loss: f64) {
        while let Some(&mark) = MILESTONES.get(self.next).filter(|&&m| loss <= m) {
            self.marks
                .push((mark, self.started.elapsed().as_secs_f64()));
            self.next += 1;
        }
    }

    /// The run ended with these losses after `elapsed`, its training time:
    /// the marks its batches' ends did not see (those of the last batch,
    /// the one a stop rule ended, and dips inside a batch of several
    /// epochs) are reached at its end. No mark is later than the end (this
    /// clock starts a little before the run's).
    pub fn finish(&mut self, losses: &[f64], elapsed: std::time::Duration) {
        let end = elapsed.as_secs_f64();
        for mark in &mut self.marks {
            mark.1 = mark.1.min(end);
        }
        let lowest = losses
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .reduce(f64::min);
        while let Some(&mark) =
            (MILESTONES.get(self.next)).filter(|&&m| lowest.is_some_and(|l| l <= m))
        {
            self.marks.push((mark, end));
            self.next += 1;
        }
    }

    /// The first epoch at or below each mark, leaving out those reached
    /// before `resumed_at` (not this run's time).
    pub fn reached(&self, losses: &[f64], resumed_at: usize) -> Vec<Milestone> {
        self.marks
            .iter()
            .filter_map(|&(loss, wall_s)| {
                let epoch = losses.iter().position(|&l| l <= loss)?;
                if epoch < resumed_at {
                    return None;
                }
                Some(Milestone {
                    loss,
                    epoch,
                    wall_s,
                })
            })
            .collect()
    }
}

/// Why a run stopped, as `--json`'s `stop` says it.
pub(super) fn stop_key(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxEpochs => "max_epochs",
        StopReason::Converged | StopReason::GradientSmall | StopReason::NoDescent => "converged",
        StopReason::TargetReached => "target_reached",
        StopReason::ValidationStalled => "val_stalled",
        StopReason::Interrupted => "interrupted",
        StopReason::TimeLimit => "time_limit",
        StopReason::Diverged { .. } => "diverged",
    }
}

impl Summary {
    fn new(config: &TrainConfig, done: &Finished, model: Option<&Path>) -> Summary {
        let run = &config.run;
        let out = &done.outcome;
        let stop = stop_key(out.reason);
        let saved = succeeded(out.reason);
        let val = done.validation.as_ref();
        let best_val = val.and_then(Validation::best);
        Summary {
            version: env!("CARGO_PKG_VERSION"),
            options: run.clone(),
            network: Network::of(&done.model),
            backend: done.backend.clone(),
            optimizer: run.describe_optimizer(),
            epochs: out.updates,
            evaluations: out.evaluations.unwrap_or(out.run_updates),
            first_loss: out.losses[0],
            final_loss: *out.losses.last().expect("at least one loss"),
            best_loss: out.losses.iter().copied().fold(f64::INFINITY, f64::min),
            ended_above_start: out.ended_above_start(),
            loss_units: match (run.standardize, done.model.target_transform.is_none()) {
                (true, _) => "standardized",
                (false, true) => "target",
                (false, false) => "transformed",
            },
            train_rows: done.rows.0,
            val_rows: done.rows.1,
            dropped_rows: done.dropped_rows,
            filled_cells: done.filled_cells,
            final_val_loss: val.and_then(Validation::latest),
            best_val_loss: best_val.map(|b| b.1),
            best_val_epoch: best_val.map(|b| b.0),
            final_r2: done.r2.0,
            final_val_r2: done.r2.1,
            untransformed_r2: done.untransformed_r2.0,
            untransformed_val_r2: done.untransformed_r2.1,
            kept: done.kept.clone(),
            lr_cuts: out.rate_cuts.clone(),
            lr_range_test: config.lr_found.clone(),
            weight_decay_search: config.decay_found.clone(),
            stop,
            stop_reason: out.reason.describe(),
            max_time_s: config.max_time.map(|t| t.as_secs_f64()),
            wall_s: out.elapsed.as_secs_f64(),
            time_per_epoch_s: (out.run_updates > 0).then(|| out.time_per_epoch().as_secs_f64()),
            contention: done.contention,
            model: model.filter(|_| saved).map(Path::to_path_buf),
            milestones: done.milestones.clone(),
            failed_outputs: Vec::new(),
        }
    }
}

/// The epochs line's note of a `--target-loss` that the run ended
/// without reaching (at `--epochs`, `--max-time` or another stop): the
/// loss it ended at, as `--target-loss` measures it; empty otherwise.
fn target_missed(config: &TrainConfig, outcome: &Outcome) -> String {
    let (Some(target), Some(&last)) = (config.target_loss, outcome.losses.last()) else {
        return String::new();
    };
    let ended = !matches!(
        outcome.reason,
        StopReason::TargetReached | StopReason::Diverged { .. } | StopReason::Interrupted
    );
    match ended && last > target {
        true => format!(
            "; --target-loss {} not reached, the loss ended at {last:.4e}",
            crate::optim::short(target)
        ),
        false => String::new(),
    }
}

/// The summary's `time` line: the training time, per epoch, the weight
/// decay search's before it, and whether other processes crowded the
/// cores meanwhile.
fn time_line(config: &TrainConfig, done: &Finished) -> String {
    let outcome = &done.outcome;
    let seconds = units::decimals(outcome.elapsed.as_secs_f64(), 3);
    if outcome.run_updates == 0 {
        return format!("time      {seconds} s, no epochs run");
    }
    format!(
        "time      {seconds} s, {} ms/epoch{}{}",
        units::decimals(outcome.time_per_epoch().as_secs_f64() * 1e3, 3),
        (config.decay_found.as_ref()).map_or(String::new(), |f| format!(
            " (and {} s before it, choosing the weight decay)",
            units::decimals(f.wall_s, 3)
        )),
        (done.contention.and_then(|c| c.clause("this run"))).map_or(String::new(), |c| format!(
            "; {c}, so this time may be longer than on an idle machine"
        ))
    )
}

/// Whether a run that stopped for `reason` ends with its model saved.
pub(super) fn succeeded(reason: StopReason) -> bool {
    !matches!(
        reason,
        StopReason::Interrupted | StopReason::Diverged { .. }
    )
}

/// `--history`.
pub(super) fn write_history(config: &TrainConfig, done: &Finished) -> Result<()> {
    if let Some(path) = &config.outputs.history {
        io::write_history_with_val(path, &done.outcome.losses, done.val_losses())?;
    }
    Ok(())
}

/// `--plot`.
pub(super) fn write_plot(config: &TrainConfig, done: &Finished) -> Result<()> {
    let Some(path) = &config.outputs.plot else {
        return Ok(());
    };
    let model = &done.model;
    let of = match model.target_transform {
        crate::data::TargetTransform::None => String::new(),
        t => format!(" of {}", t.of(&model.target_name)),
    };
    let units = if config.run.standardize {
        format!("MSE{of} in standardized units (log scale)")
    } else {
        format!("MSE{of} (log scale)")
    };
    // A log axis cannot show a loss of 0 (an exact fit) or one that is
    // not finite (a divergence): the curve leaves them out, and says so.
    let losses = &done.outcome.losses;
    let val = done.val_losses().unwrap_or_default();
    let shown = |l: f64| l.is_finite() && l > 0.0;
    let counts = [
        (
            losses.iter().filter(|&&l| !shown(l)).count(),
            losses.len(),
            "training loss",
        ),
        (
            val.iter().filter(|v| !shown(v.1)).count(),
            val.len(),
            "validation loss",
        ),
    ];
    for (left_out, of, what) in counts.into_iter().filter(|c| c.0 > 0) {
        super::notice(
            config.quiet,
            &format!(
                "--plot leaves out {left_out} of {} that are 0 or not finite, which its log scale cannot show",
                units::count(of, what)
            ),
        );
    }
    plot::LossCurve {
        losses,
        val,
        title: format!(
            "loss per epoch: {} → {} → 1, {}, {}",
            model.layout.features(),
            model.layout.hidden_spec(),
            model.activation,
            config.run.describe_optimizer()
        ),
        loss_label: units,
        kept: done.kept.as_ref().map(|k| (k.epoch, k.kept_for())),
        cuts: &done.outcome.rate_cuts,
    }
    .write(path)?;
    Ok(())
}

/// `--lr-plot`: the range test `--lr auto` ran.
pub(super) fn write_lr_plot(config: &TrainConfig) -> Result<()> {
    let (Some(path), Some(found)) = (&config.outputs.lr_plot, &config.lr_found) else {
        return Ok(());
    };
    let units = if config.run.standardize {
        "MSE after the epoch's update, standardized units (log scale)"
    } else {
        "MSE after the epoch's update (log scale)"
    };
    plot::RangeCurve {
        found,
        title: format!(
            "--lr auto's range test: {}, {} epochs on {}",
            config.run.optimizer.kind().name(),
            found.epochs,
            crate::units::count(found.rows, "row")
        ),
        loss_label: units.to_string(),
    }
    .write(path)?;
    Ok(())
}

/// `--save`, after a run that succeeded; whether a model was written.
pub(super) fn write_model(config: &TrainConfig, done: &Finished) -> Result<bool> {
    match &config.outputs.save {
        Some(path) if succeeded(done.outcome.reason) => {
            let opt = config.run.optimizer;
            let trained_by = serde_json::to_string(&opt).expect("the optimizer serialises");
            io::save_model_with(&done.model, path, &[("optimizer", trained_by)])?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// `--json`, written last: it names the model only if it was written, and
/// lists the outputs that failed (`failed`, each as "flag: error").
pub(super) fn write_summary(
    config: &TrainConfig,
    done: &Finished,
    model_written: bool,
    failed: &[String],
) -> Result<()> {
    if let Some(path) = &config.outputs.json {
        let save = config.outputs.save.as_deref().filter(|_| model_written);
        let mut summary = Summary::new(config, done, save);
        summary.failed_outputs = failed.to_vec();
        super::write_json(path, &summary)?;
    }
    Ok(())
}

/// The summary's `lr auto` lines: what the range test found `f`, and the
/// runs that diverged before the one at `trained` (its rate).
fn lr_auto_lines(text: &mut String, f: &Found, trained: f64) {
    outln!(
        text,
        "lr auto   {:.3e}: {} {:.3e}, whose update left the lowest loss ({:.6e}, from {:.6e}) in a range test of {} on {} ({:.3} s)",
        f.lr,
        match f.back_off {
            1.0 => "one cycle's peak at".to_string(),
            10.0 => "a tenth of".to_string(),
            b => format!("1/{b} of"),
        },
        f.lowest_lr,
        f.lowest_loss,
        f.start_loss,
        units::count(f.epochs, "epoch"),
        units::count(f.rows, "row"),
        f.wall_s
    );
    if !f.retries.is_empty() {
        let runs: Vec<String> = (f.retries.iter())
            .map(|r| format!("at {:.3e} at epoch {}", r.lr, r.epoch))
            .collect();
        let lost: f64 = f.retries.iter().map(|r| r.wall_s).sum();
        outln!(
            text,
            "          diverged {}; trained again from the start at {:.3e} ({:.3} s of runs lost)",
            runs.join(", then "),
            trained,
            lost
        );
    }
}

/// The summary's `decay` line: the weight decay a run's few rows chose,
/// and each value's mean held-out MSE over the search's folds.
fn decay_line(text: &mut String, found: &DecaySearch) {
    let tried: Vec<String> = (found.tried.iter())
        .map(|t| {
            let mse = t
                .val_mse
                .map_or("not finite".into(), |m| format!("{m:.4e}"));
            format!("{} {mse}", crate::optim::short(t.weight_decay))
        })
        .collect();
    outln!(
        text,
        "decay     {} chosen by {}-fold cross-validation of the {} (held-out mse: {}; {:.3} s)",
        crate::optim::short(found.chosen),
        found.folds,
        units::count(found.rows, "training row"),
        tried.join(", "),
        found.wall_s
    );
}

/// The summary on standard output.
pub(super) fn print_summary(config: &TrainConfig, done: &Finished) -> Result<()> {
    let mut text = String::new();
    let (model, outcome) = (&done.model, &done.outcome);
    let first = outcome.losses[0];
    let last = *outcome.losses.last().expect("at least one loss");
    outln!(text, "backend   {}", done.backend);
    outln!(text, "data      {}", done.data);
    if config.run.data.is_some() {
        // The columns trained on, so that one read by mistake shows.
        outln!(
            text,
            "features  {}",
            crate::data::listed(&model.feature_names)
        );
    }
    outln!(
        text,
        "model     {} → {} → 1, {}, {}",
        model.layout.features(),
        model.layout.hidden_spec(),
        model.activation,
        units::count(model.layout.len(), "parameter")
    );
    outln!(text, "optimizer {}", config.run.describe_optimizer());
    if let Some(f) = &config.lr_found {
        lr_auto_lines(&mut text, f, config.run.optimizer.lr());
    }
    if let Some(found) = &config.decay_found {
        decay_line(&mut text, found);
    }
    let missed = target_missed(config, outcome);
    match outcome.evaluations {
        // The evaluations are this invocation's; a resumed run's epochs
        // count from the start of the run.
        Some(n) => outln!(
            text,
            "epochs    {} ({}), {}{}{missed}",
            outcome.updates,
            outcome.reason.describe(),
            units::count(n, "loss-and-gradient evaluation"),
            match outcome.updates - outcome.run_updates {
                0 => String::new(),
                _ => format!(
                    " in this run's {}",
                    units::count(outcome.run_updates, "epoch")
                ),
            }
        ),
        None => outln!(
            text,
            "epochs    {} ({}){missed}",
            outcome.updates,
            outcome.reason.describe()
        ),
    }
    if !outcome.rate_cuts.is_empty() {
        let cuts: Vec<String> = outcome.rate_cuts.iter().map(u64::to_string).collect();
        let lr = config.run.optimizer.lr();
        let last = config
            .run
            .lr_schedule
            .rate(lr, outcome.updates as u64, &outcome.rate_cuts);
        let epochs = if cuts.len() == 1 { "epoch" } else { "epochs" };
        outln!(
            text,
            "lr        cut from {epochs} {}: {last:.3e} at the end",
            cuts.join(", ")
        );
    }
    if let Some(batches) = config.run.batches() {
        let per_epoch = batches.per_epoch(done.rows.0);
        outln!(
            text,
            "batches   {per_epoch} per epoch, of up to {} each: {} this run",
            units::count(batches.size.min(done.rows.0), "row"),
            units::count(per_epoch.saturating_mul(outcome.run_updates), "update")
        );
    }
    // The final loss as an RMSE too, in the target's own units (of its
    // transform, where it was trained on one).
    let transform = model.target_transform;
    let of = transform.of(&model.target_name);
    match &model.standardization {
        // MSE scales with the square of the target's std.
        Some(st) => {
            let mse = last * st.target_std * st.target_std;
            let unit = match transform.is_none() {
                true => "target units".to_string(),
                false => format!("units of {of}"),
            };
            outln!(
                text,
                "loss      {first:.6e} → {last:.6e} (standardized units; {mse:.6e} in {unit}, rmse {:.4e})",
                mse.sqrt()
            )
        }
        None => outln!(
            text,
            "loss      {first:.6e} → {last:.6e} ({}rmse {:.4e})",
            match transform.is_none() {
                true => String::new(),
                false => format!("of {of}; "),
            },
            last.sqrt()
        ),
    }
    if let Some(v) = &done.validation {
        let (best_epoch, best) = v.best().unwrap_or((0, f64::NAN));
        outln!(
            text,
            "val loss  {:.6e} → {:.6e}, best {best:.6e} at epoch {best_epoch} ({}, measured at {})",
            v.losses()[0].1,
            v.latest().unwrap_or(f64::NAN),
            units::count(done.rows.1, "row"),
            units::count(v.losses().len(), "epoch")
        );
    }
    text.push_str(&r2_lines(done));
    if let Some(k) = &done.kept {
        outln!(text, "{}", kept_line(k, outcome.updates));
    }
    outln!(text, "{}", time_line(config, done));
    match &config.outputs.save {
        Some(_) if done.save_failed => outln!(text, "saved     nothing (below)"),
        Some(path) if crate::io::is_standard_output(path) => {
            outln!(text, "saved     to standard output")
        }
        Some(path) => outln!(text, "saved     {}", path.display()),
        None => {}
    }
    let o = &config.outputs;
    let checkpoint = config.checkpoint.as_ref().map(|c| &c.path);
    let outputs = [&o.save, &o.history, &o.json, &o.plot, &o.lr_plot];
    let outputs = outputs.into_iter().flatten().chain(checkpoint);
    let outputs = outputs.chain(&o.others);
    super::report(&text, outputs.map(PathBuf::as_path))
}

/// The summary's `kept` line: which parameters `--keep` kept, of a run of
/// `updates` updates, and their losses.
/// The summary's lines of R² of the final parameters on the training and
/// the held-out rows: of the target the network fit (a transform's, where
/// it was trained on one), then in the target's own units; empty where
/// there is none.
fn r2_lines(done: &Finished) -> String {
    let model = &done.model;
    let mut text = String::new();
    if let Some(r2) = r2_list(done.r2) {
        let of = match model.target_transform.is_none() {
            true => String::new(),
            false => format!(" (of {})", model.target_transform.of(&model.target_name)),
        };
        outln!(text, "r²        {r2}{of}");
    }
    if let Some(own) = r2_list(done.untransformed_r2) {
        outln!(
            text,
            "          {own} in {}'s own units (the predictions transformed back, as predict gives them)",
            crate::data::escaped(&model.target_name)
        );
    }
    text
}

/// R² on the training rows and on the held-out ones, those there are:
/// "0.9500 training, 0.9100 held out".
fn r2_list((train, val): (Option<f64>, Option<f64>)) -> Option<String> {
    let parts: Vec<String> = [(train, "training"), (val, "held out")]
        .into_iter()
        .filter_map(|(r, rows)| Some(format!("{} {rows}", units::r2(r?))))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn kept_line(k: &KeptSummary, updates: usize) -> String {
    let which = match k.epoch == updates {
        true => "the final parameters".to_string(),
        false => format!("epoch {}'s parameters", k.epoch),
    };
    let losses = match (k.by, k.val_loss) {
        (KeptBy::Validation, _) => format!(
            "the lowest validation loss, {:.6e} (loss {:.6e})",
            k.kept_for(),
            k.loss
        ),
        (KeptBy::Training, Some(v)) => {
            format!("the lowest loss, {:.6e} (val {v:.6e})", k.loss)
        }
        (KeptBy::Training, None) => format!("the lowest loss, {:.6e}", k.loss),
    };
    let r2 = r2_list((k.r2, k.val_r2)).map_or(String::new(), |r| format!(", r² {r}"));
    let own = (r2_list((k.untransformed_r2, k.untransformed_val_r2))).map_or(String::new(), |r| {
        format!("; in the target's own units {r}")
    });
    format!("kept      {which}: {losses}{r2}{own}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_are_the_decimal_powers_of_ten_down_to_the_floor() {
        let mut m = Milestones::start();
        m.observe(2.0);
        assert!(m.marks.is_empty());
        m.observe(3e-7);
        let marks: Vec<f64> = m.marks.iter().map(|&(loss, _)| loss).collect();
        assert_eq!(marks, [1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]);
        // The end's lowest loss reaches the rest, down to 1e-12 and no
        // further, at the end's time.
        m.finish(&[0.5, 1e-20, f64::NAN], std::time::Duration::from_secs(7));
        let marks: Vec<f64> = m.marks.iter().map(|&(loss, _)| loss).collect();
        assert_eq!(marks, MILESTONES);
        assert_eq!(MILESTONES[12], 1e-12);
        assert!(m.marks[7..].iter().all(|&(_, wall_s)| wall_s == 7.0));
        assert!(m.marks[..7].iter().all(|&(_, wall_s)| wall_s <= 7.0));
    }

    /// A loss at a power of ten reaches it; no mark is later than the
    /// run's end; a resumed run reports the marks its own epochs reached.
    #[test]
    fn milestones_are_reached_at_or_below_and_after_the_resume() {
        let mut m = Milestones::start();
        std::thread::sleep(std::time::Duration::from_millis(1));
        m.observe(0.1);
        let marks: Vec<f64> = m.marks.iter().map(|&(loss, _)| loss).collect();
        assert_eq!(marks, [1.0, 0.1]);
        m.finish(&[], std::time::Duration::ZERO);
        assert!(
            m.marks.iter().all(|&(_, wall_s)| wall_s == 0.0),
            "{:?}",
            m.marks
        );
        let losses = [2.0, 1.0, 0.05];
        let reached = |resumed_at| -> Vec<(f64, usize)> {
            let reached = m.reached(&losses, resumed_at);
            reached.iter().map(|r| (r.loss, r.epoch)).collect()
        };
        assert_eq!(reached(0), [(1.0, 1), (0.1, 2)]);
        assert_eq!(reached(1), [(1.0, 1), (0.1, 2)]);
        assert_eq!(reached(2), [(0.1, 2)]);
    }

    /// The kept line names the final parameters as such and others by
    /// their epoch, with the loss they were kept for first.
    #[test]
    fn the_kept_line_names_the_parameters_and_their_losses() {
        let kept = KeptSummary {
            epoch: 8,
            loss: 0.25,
            val_loss: Some(0.5),
            r2: Some(0.75),
            val_r2: None,
            untransformed_r2: None,
            untransformed_val_r2: None,
            by: KeptBy::Training,
        };
        assert_eq!(
            kept_line(&kept, 8),
            "kept      the final parameters: the lowest loss, 2.500000e-1 (val 5.000000e-1), r² 0.7500 training"
        );
        let by_val = KeptSummary {
            by: KeptBy::Validation,
            ..kept.clone()
        };
        assert_eq!(
            kept_line(&by_val, 9),
            "kept      epoch 8's parameters: the lowest validation loss, 5.000000e-1 (loss 2.500000e-1), r² 0.7500 training"
        );
        // The plot marks them at that loss.
        assert_eq!((kept.kept_for(), by_val.kept_for()), (0.25, 0.5));
        // With --target-transform, their R² in the target's own units too.
        let own = KeptSummary {
            untransformed_r2: Some(0.5),
            untransformed_val_r2: Some(0.25),
            ..kept.clone()
        };
        assert!(
            kept_line(&own, 8).ends_with(
                ", r² 0.7500 training; in the target's own units 0.5000 training, 0.2500 held out"
            ),
            "{}",
            kept_line(&own, 8)
        );
    }

    /// The features line names twelve, then how many in all.
    #[test]
    fn the_feature_list_names_twelve() {
        let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("x{i}")).collect() };
        let twelve = "x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11";
        assert_eq!(crate::data::listed(&names(12)), twelve);
        assert_eq!(
            crate::data::listed(&names(13)),
            format!("{twelve}, … (13 in all)")
        );
    }

    /// `lr auto`'s second line lists the runs that diverged and the time
    /// they took together.
    #[test]
    fn lr_auto_lines_sum_the_runs_lost() {
        use crate::optim::range::Retry;
        let retry = |lr, epoch, wall_s| Retry {
            lr,
            epoch,
            loss: f64::NAN,
            wall_s,
        };
        let found = Found {
            epochs: 30,
            wall_s: 0.5,
            retries: vec![retry(1e-3, 4, 1.0), retry(1e-4, 7, 2.0)],
            ..Found::sketch(1e-3, (1e-2, 0.2), Vec::new())
        };
        let mut text = String::new();
        lr_auto_lines(&mut text, &found, 1e-5);
        let second = "          diverged at 1.000e-3 at epoch 4, then at 1.000e-4 at epoch 7; trained again from the start at 1.000e-5 (3.000 s of runs lost)\n";
        assert!(text.ends_with(second), "{text}");
    }
}
