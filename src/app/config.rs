//! `train`'s options: the defaults and the checks that turn its command
//! line, or the options a checkpoint recorded, into a [`TrainConfig`]; and
//! `bench`'s checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::batches::MiniBatches;
use crate::bench::BackendKind;
use crate::cli::{
    BackendChoice, BenchArgs, DeviceArgs, HoldOut, Keep, LrChoice, Missing, TrainArgs,
};
use crate::data::{self, Delimiter, TargetTransform};
use crate::gpu::mixed::Precision;
use crate::gpu::{AdapterRequest, KernelChoice};
use crate::io;
use crate::model::{Activation, Model};
use crate::optim::range::{Found, RangeTest, DEFAULT_RANGE_TEST};
use crate::optim::{LrSchedule, Optimizer, OptimizerKind};
use crate::plot;
use crate::train::Schedule;

/// The hidden widths of a fresh model without `--hidden`.
const DEFAULT_HIDDEN: [usize; 1] = [64];
/// The activation of a fresh model without `--activation`.
const DEFAULT_ACTIVATION: Activation = Activation::Sigmoid;
/// Updates of a new run without `--epochs`.
const DEFAULT_EPOCHS: usize = 200;
/// Training rows from which a new run on the cpu backend that names no
/// optimizer trains adam in mini-batches ([`many_rows`]).
pub const MANY_ROWS: usize = 50_000;
/// Training rows a parameter of the network, at least, for that run:
/// with fewer, mini-batches fit their noise more than L-BFGS does
/// ([`TrainConfig::mini_batches_by_default`]).
pub const ROWS_PER_PARAMETER: usize = 30;
/// That run's rows a batch.
const MANY_ROWS_BATCH: usize = 200;
/// That run's epochs without `--epochs`.
const MANY_ROWS_EPOCHS: usize = 20;

/// The weight decays a run with fewer training rows than twice its
/// network's parameters chooses among ([`TrainConfig::decay_search`]), in the order a tie
/// keeps the first of.
pub const DECAY_VALUES: [f64; 4] = [0.0, 1e-3, 1e-2, 1e-1];
/// The folds of the training rows that search scores each value on.
pub const DECAY_FOLDS: usize = 5;
/// Training rows, at least, for that search: on fewer, a fold's held-out
/// rows are too few to tell the values apart.
const DECAY_MIN_ROWS: usize = 50;
/// Training rows a parameter below which the search runs: on 1 and 2 a
/// parameter it still raised held-out R² (by up to 0.017 on Friedman #1
/// at 1), on 4 and 8 by 0.002 at most, at 5 to 13 times the run's time.
pub const DECAY_ROWS_PER_PARAMETER: usize = 2;

/// What the search for a weight decay found: each value's mean held-out
/// MSE over the folds of the training rows, and the one chosen.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DecaySearch {
    pub folds: usize,
    /// The training rows the folds divide.
    pub rows: usize,
    pub chosen: f64,
    pub tried: Vec<DecayTried>,
    /// Seconds the folds took.
    pub wall_s: f64,
}

/// One value of [`DecaySearch`], and its folds' mean held-out MSE (in the
/// target's units, squared, as `--folds` reports it; null where a fold's
/// was not finite).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DecayTried {
    pub weight_decay: f64,
    pub val_mse: Option<f64>,
}

/// Whether `rows` training rows are many for a network of `params`
/// parameters: 50,000 or more, and 30 a parameter
/// ([`TrainConfig::mini_batches_by_default`]).
pub fn many_rows(rows: usize, params: usize) -> bool {
    rows >= MANY_ROWS.max(ROWS_PER_PARAMETER * params)
}

/// The flags that name that run but for its rate (`--lr auto`): those a
/// remedy's `--lr` goes with, since `--lr` alone makes gd the default.
pub fn many_rows_flags() -> String {
    format!("--optimizer adam --batch-size {MANY_ROWS_BATCH} --lr-schedule cosine")
}

/// What defines a training run: recorded in checkpoints so `--resume`
/// continues it with the same data and options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunOptions {
    pub data: Option<PathBuf>,
    /// What separates the cells of `data` (`--delimiter`); recorded only
    /// where it is not a comma, so other runs' checkpoints read as before.
    #[serde(default, skip_serializing_if = "Delimiter::is_comma")]
    pub delimiter: Delimiter,
    /// `data`'s numbers mark their decimals with a comma
    /// (`--decimal-comma`); recorded only where they do.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decimal_comma: bool,
    pub target: Option<String>,
    /// Columns of `data` not read (`--ignore`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Columns of `data` one-hot encoded (`--categorical`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<String>,
    /// Columns of `data` read as dates (`--date`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub date: Vec<String>,
    /// See `--missing`; recorded only where cells may be missing (drop,
    /// mean), so other runs' checkpoints read as before.
    #[serde(default, skip_serializing_if = "is_error")]
    pub missing: Missing,
    pub synthetic: Option<usize>,
    pub features: Option<usize>,
    /// `None`: 64, or the `--init` model's.
    pub hidden: Option<Vec<usize>>,
    /// `None`: sigmoid, or the `--init` model's.
    pub activation: Option<Activation>,
    /// The optimizer and all its settings, the learning rate included.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// The learning rate of a checkpoint written before `optimizer` was
    /// recorded (plain gradient descent); read, never written.
    #[serde(default, rename = "lr", skip_serializing)]
    pub legacy_lr: Option<f64>,
    pub tol: f64,
    pub epochs: usize,
    pub seed: u64,
    pub init: Option<PathBuf>,
    /// See `--patience`.
    #[serde(default)]
    pub patience: usize,
    /// The synthetic data were generated on the GPU (y in f32 there, so a
    /// resumed run must generate them the same way).
    #[serde(default)]
    pub on_device: bool,
    /// See `--standardize`.
    #[serde(default)]
    pub standardize: bool,
    /// Neither `--standardize` nor `--no-standardize` was given and the
    /// `--init` model's header could not be read beforehand (a pipe, read
    /// once): `standardize` is the model's, set once it is loaded.
    #[serde(skip)]
    pub standardize_as_init: bool,
    /// See `--target-transform`; `None` where it is not given: the
    /// starting model's (`--init`'s, or the checkpoint's), or none.
    /// Recorded only where given, so other runs' checkpoints read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_transform: Option<TargetTransform>,
    /// See `--validation-split`.
    #[serde(default)]
    pub validation_split: Option<f64>,
    /// See `--hold-out`; recorded only where not random, so other runs'
    /// checkpoints read as before.
    #[serde(default, skip_serializing_if = "HoldOut::is_random")]
    pub hold_out: HoldOut,
    /// The fold this run holds out, of `--folds`' K; never recorded
    /// (`--folds` writes no checkpoint).
    #[serde(default, skip)]
    pub fold: Option<Fold>,
    /// K of `--shards` (16 for a `--distributed` run without it); `None`:
    /// one full-batch pass. It fixes the order of the sums, so a resumed
    /// run keeps it, whatever its process count.
    #[serde(default)]
    pub shards: Option<usize>,
    /// See `--batch-size`; `None`: full-batch epochs.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// See `--lr-schedule`, resolved: a cosine's length is fixed when the
    /// run starts, so a resumed run keeps it whatever its `--epochs`.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// See `--keep`.
    #[serde(default)]
    pub keep: Keep,
    /// See `--val-patience`.
    #[serde(default)]
    pub val_patience: Option<usize>,
    /// See `--target-loss`: a resumed run keeps it, unless given another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_loss: Option<f64>,
}

/// One run of `--folds`: it holds out fold `index` (from 0) of `count`
/// ([`data::Dataset::fold`]) as its validation rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold {
    pub index: usize,
    pub count: usize,
    /// Where this fold's run is in `--grid`'s search.
    pub combination: Option<GridPlace>,
}

/// Where a fold's run is in `--grid`'s search, for its progress bar: of
/// the combinations its round trains, (the one it has, from 0, how
/// many); with `--halving`, of the rounds, (its own, from 0, how many).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridPlace {
    pub combination: (usize, usize),
    pub round: Option<(usize, usize)>,
}

/// Whether `--missing` is its default (serde's `skip_serializing_if`).
fn is_error(missing: &Missing) -> bool {
    *missing == Missing::Error
}

impl RunOptions {
    fn from_args(args: &TrainArgs) -> Result<RunOptions> {
        let optimizer = args.optimizer_settings().resolve()?;
        let epochs = args.epochs.unwrap_or(DEFAULT_EPOCHS);
        // Without --standardize or --no-standardize, a run from --init
        // standardizes as its model was trained (read from its header
        // where that can be read twice, else once the model is loaded),
        // and otherwise rows read from a file are standardized, while
        // synthetic ones, generated near ±1 (a target of spread about
        // 0.6), are not.
        let given = match (args.standardize, args.no_standardize) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let from_init = match (given, &args.init) {
            (None, Some(path)) => Some(io::model_standardizes(path)),
            _ => None,
        };
        let standardize = match (given, from_init) {
            (Some(given), _) => given,
            (None, Some(from_header)) => from_header.unwrap_or(false),
            (None, None) => args.data.is_some(),
        };
        Ok(RunOptions {
            data: args.data.clone(),
            delimiter: args.delimiter.unwrap_or_default(),
            decimal_comma: args.decimal_comma,
            target: args.target.clone(),
            ignore: args.ignore.clone(),
            categorical: args.categorical.clone(),
            date: args.date.clone(),
            missing: args.missing,
            synthetic: args.synthetic,
            features: args.features,
            hidden: args.hidden.as_ref().map(|h| h.0.clone()),
            activation: args.activation,
            optimizer,
            legacy_lr: None,
            tol: args.tol,
            epochs,
            seed: args.seed,
            init: args.init.clone(),
            patience: args.patience,
            // The split, the statistics, the target's transform, the
            // mini-batches' gather and --lr auto's sample of the rows need
            // the rows on the host.
            on_device: args.backend == BackendChoice::Kind(BackendKind::Gpu)
                && args.synthetic.is_some()
                && args.data.is_none()
                && !standardize
                && args.target_transform.is_none_or(|t| t.is_none())
                && args.validation_split.is_none()
                && args.folds.is_none()
                && args.batch_size.is_none()
                && !(args.lr == Some(LrChoice::Auto)
                    && args.synthetic > Some(crate::optim::range::FULL_BATCH_ROWS)),
            standardize,
            standardize_as_init: from_init == Some(None),
            target_transform: args.target_transform,
            validation_split: args.validation_split,
            hold_out: args.hold_out.unwrap_or_default(),
            fold: args.folds.map(|count| Fold {
                index: 0,
                count,
                combination: None,
            }),
            shards: args
                .shards
                .or(args.distributed.then_some(crate::dist::DEFAULT_SHARDS)),
            batch_size: args.batch_size,
            // With --lr auto the rate is not known yet: the schedule's
            // bounds are checked against it once the range test found it.
            lr_schedule: match args.lr {
                Some(LrChoice::Auto) => args
                    .schedule_settings()
                    .resolve(&optimizer.with_lr(f64::MAX), epochs)?,
                _ => args.schedule_settings().resolve(&optimizer, epochs)?,
            },
            keep: args.keep,
            val_patience: args.val_patience,
            target_loss: args.target_loss,
        })
    }

    /// The options a checkpoint at `path` recorded; `--epochs` may raise
    /// the total, and `--target-loss` set another target.
    fn recorded(path: &Path, options: &serde_json::Value, args: &TrainArgs) -> Result<Self> {
        let mut run: RunOptions = serde_json::from_value(options.clone()).with_context(|| {
            format!(
                "{}: metadata 'options' is not a run's options",
                path.display()
            )
        })?;
        if let Some(e) = args.epochs {
            run.epochs = e;
        }
        if args.target_loss.is_some() {
            run.target_loss = args.target_loss;
        }
        // They say how the file is written, not how the run trains: a
        // data file moved and written otherwise (the same values) reads.
        // Another --delimiter says the decimal mark too: a point, unless
        // --decimal-comma is given with it; the checkpoint's own, given
        // again (as a hint may ask), changes nothing. A comma with
        // --decimal-comma is refused, as in a new run.
        match args.delimiter {
            Some(delimiter) if delimiter != run.delimiter => {
                run.delimiter = delimiter;
                run.decimal_comma = args.decimal_comma;
            }
            _ => run.decimal_comma |= args.decimal_comma,
        }
        if let Some(lr) = run.legacy_lr.take() {
            run.optimizer = Optimizer::gd(lr);
        }
        Ok(run)
    }

    /// Checks the options no data are needed for; the stopping rule.
    /// With `lr_auto` the rate is still to be found: the schedule's bounds
    /// on it are checked once it is.
    fn check(&self, lr_auto: bool) -> Result<Schedule> {
        self.optimizer.check()?;
        if lr_auto {
            if matches!(self.optimizer, Optimizer::Lbfgs { .. }) {
                bail!("--lr auto needs a first-order optimizer (gd, momentum, nesterov, adam or adamw): L-BFGS's line search chooses each step's length");
            }
            self.lr_schedule.check(&self.optimizer.with_lr(f64::MAX))?;
        } else {
            self.lr_schedule.check(&self.optimizer)?;
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            bail!(
                "--tol must be 0 or more, not {}",
                crate::optim::short(self.tol)
            );
        }
        if self.tol >= 1.0 {
            // Every epoch's fall is below it: the first epoch that does
            // not rise would stop the run.
            bail!(
                "--tol must be below 1, not {}: it is a fraction of the loss (1e-4 stops where an epoch lowers the loss by less than 0.01%)",
                crate::optim::short(self.tol)
            );
        }
        if self.epochs == 0 {
            bail!("--epochs must be at least 1");
        }
        self.format()?;
        if self.synthetic == Some(0) {
            bail!("--synthetic must be at least 1: it is the synthetic task's row count");
        }
        if self.features == Some(0) {
            bail!("--features must be at least 1: it is the synthetic task's feature count");
        }
        if self.shards == Some(0) {
            bail!("--shards must be at least 1");
        }
        if let Some(b) = self.batch_size {
            if b == 0 {
                bail!("--batch-size must be at least 1");
            }
            if matches!(self.optimizer, Optimizer::Lbfgs { .. }) {
                bail!("--batch-size needs a first-order optimizer (gd, momentum, nesterov, adam or adamw): L-BFGS's line search and curvature pairs need the full-batch loss and gradient");
            }
            if self.shards.is_some() {
                bail!("--batch-size and --shards/--distributed cannot be combined: sharded runs sum full-batch gradients over the shards");
            }
        }
        if let Some(fraction) = self.validation_split {
            data::check_split_fraction(fraction)?;
        }
        match (self.missing, &self.data) {
            (Missing::Drop, None) => bail!("--missing drop needs --data: it leaves out a file's rows with a missing cell (synthetic rows have none)"),
            (Missing::Mean | Missing::Median, None) => bail!(
                "--missing {} needs --data: it fills a file's missing cells (synthetic rows have none)",
                if self.missing == Missing::Mean { "mean" } else { "median" }
            ),
            _ => {}
        }
        if self.keep == Keep::BestVal && !self.holds_out() {
            bail!("--keep best-val needs --validation-split, or --folds without --save: it keeps the parameters with the lowest validation loss");
        }
        match self.val_patience {
            Some(0) => bail!("--val-patience must be at least 1"),
            Some(_) if !self.holds_out() => {
                bail!("--val-patience needs --validation-split or --folds: it watches the validation loss")
            }
            _ => {}
        }
        if let Some(fold) = self.fold {
            data::check_fold_count(fold.count)?;
            if self.keep == Keep::Best {
                bail!("--keep best cannot be combined with --folds: each fold is scored on its held-out rows, by the last parameters or, with --keep best-val, by those with the lowest validation loss");
            }
        }
        Ok(Schedule {
            max_epochs: self.epochs,
            tol: self.tol,
        })
    }

    /// How `data` writes its cells, or why `--delimiter` and
    /// `--decimal-comma` do not go together.
    pub fn format(&self) -> crate::error::Result<data::CsvFormat> {
        data::CsvFormat::new(self.delimiter, self.decimal_comma)
    }

    /// Whether the run holds rows out to validate on: `--validation-split`
    /// or a fold of `--folds`.
    pub(super) fn holds_out(&self) -> bool {
        self.validation_split.is_some() || self.fold.is_some()
    }

    /// The optimizer, its settings and the learning-rate schedule, in one
    /// line for summaries.
    pub fn describe_optimizer(&self) -> String {
        match self.lr_schedule.describe(self.optimizer.lr()) {
            Some(schedule) => format!("{}, {schedule}", self.optimizer.describe()),
            None => self.optimizer.describe(),
        }
    }

    /// `--batch-size`'s mini-batches, shuffled by `--seed`.
    pub(super) fn batches(&self) -> Option<MiniBatches> {
        self.batch_size.map(|size| MiniBatches {
            size,
            seed: self.seed,
        })
    }

    /// The hidden widths of a fresh model.
    pub(super) fn fresh_hidden(&self) -> Vec<usize> {
        self.hidden
            .clone()
            .unwrap_or_else(|| DEFAULT_HIDDEN.to_vec())
    }

    /// The activation of a fresh model.
    pub(super) fn fresh_activation(&self) -> Activation {
        self.activation.unwrap_or(DEFAULT_ACTIVATION)
    }

    /// Rows and features of synthetic data generated on the GPU.
    pub(super) fn on_device_shape(&self) -> Option<(usize, usize)> {
        match (self.on_device, self.synthetic, self.features) {
            (true, Some(n), Some(f)) => Some((n, f)),
            _ => None,
        }
    }
}

/// The files a run writes at its end, each where it was asked for.
#[derive(Clone)]
pub struct Outputs {
    pub save: Option<PathBuf>,
    pub history: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    /// `--lr-plot`: the range test's curve.
    pub lr_plot: Option<PathBuf>,
    /// The command's outputs that this run does not write (`--folds`'
    /// `--json` and `--fold-predictions`, for its run on every row),
    /// which its summary keeps off where they are standard output.
    pub others: Vec<PathBuf>,
    /// This is `--folds`' run on every row, for `--save`, with the
    /// options `--grid` chose (empty without one): `--folds` refuses
    /// `--checkpoint`, and has written its own outputs (`others`) before
    /// it.
    pub after_folds: Option<String>,
}

/// `--checkpoint`: where, and every how many epochs.
#[derive(Clone)]
pub struct Checkpointing {
    pub path: PathBuf,
    pub every: usize,
}

/// A `train` invocation, checked: the run (new or resumed) and how this
/// invocation runs it.
#[derive(Clone)]
pub struct TrainConfig {
    /// What the run is; checkpoints record it.
    pub run: RunOptions,
    pub schedule: Schedule,
    pub target_loss: Option<f64>,
    pub max_time: Option<Duration>,
    pub backend: BackendChoice,
    /// The GPU adapter to ask for.
    pub adapter: AdapterRequest,
    /// Threads of the CPU backend and of the validation scorer (0: all).
    pub threads: usize,
    /// `threads` is the resumed checkpoint's run's, not `--threads`.
    pub threads_resumed: bool,
    /// The threads `threads`' workers run on where fewer (0: one each):
    /// [`crate::cli::DeviceArgs::run_on`].
    pub run_on: usize,
    /// The CPU backend's build (`--cpu-isa`); `None`: the best there is.
    pub cpu_isa: Option<crate::cpu::Isa>,
    pub kernels: KernelChoice,
    /// The GPU backend's settings given, `--kernels` and `--gpu-timeout`,
    /// which a run `--backend auto` puts on the CPU leaves unused.
    pub gpu_settings: Vec<&'static str>,
    pub checkpoint: Option<Checkpointing>,
    /// The checkpoint resumed from.
    pub resume: Option<PathBuf>,
    pub outputs: Outputs,
    pub quiet: bool,
    /// This process writes the files and prints the summary: process 0,
    /// or the only one.
    pub leader: bool,
    /// `--distributed`: a process of an MPI job, where `--folds` is
    /// refused.
    pub distributed: bool,
    /// The adapter's precision is mixed because the resumed checkpoint's
    /// run trained so, not because `--precision` asked: without the
    /// cooperative matrices it trains in f32, with a notice.
    pub precision_resumed: bool,
    /// `--lr auto`: the range test to choose the rate by, before the run.
    pub lr_auto: Option<RangeTest>,
    /// What that test found; `run.optimizer` then has its rate.
    pub lr_found: Option<Found>,
    /// The backend that wrote the `--resume` checkpoint, where it says:
    /// `--backend auto` goes on there.
    pub resumed_on: Option<BackendKind>,
    /// Where gd runs because no --optimizer was given (and no --resume;
    /// [`TrainArgs::default_optimizer`]): the optimizer to name if it ends
    /// still falling, lbfgs on full batches and momentum on mini-batches,
    /// where the run's other flags accept it; and the flag that made gd
    /// the default.
    pub gd_alternative: Option<(OptimizerKind, &'static str)>,
    /// L-BFGS runs because no --optimizer was given (and no --resume,
    /// nor a flag of L-BFGS's own, `--gtol` or `--history-size`).
    pub lbfgs_by_default: bool,
    /// The run trains L-BFGS on 50,000 rows or more where it would train
    /// adam in mini-batches ([`TrainConfig::adam_if_many`]) but for
    /// having fewer than [`ROWS_PER_PARAMETER`] rows a parameter.
    pub few_a_parameter: bool,
    /// The run trains L-BFGS where adam in mini-batches would train its
    /// rows read, had those held out (`--validation-split`) not left
    /// fewer than 50,000 to train on.
    pub split_below_many: bool,
    /// Adam in mini-batches runs in place of that L-BFGS for the run's
    /// many rows ([`TrainConfig::mini_batches_by_default`]).
    pub rows_chose_adam: bool,
    /// The search that chose `run.optimizer`'s weight decay for the run's
    /// few rows ([`TrainConfig::decay_search`]).
    pub decay_found: Option<DecaySearch>,
}

/// `--lr-plot` without a range test to draw.
pub const LR_PLOT_NEEDS: &str = "--lr-plot needs --lr auto: it draws the learning-rate range test";

/// The run `--resume` continues from the checkpoint at `path`, with
/// `--data` where it names the data moved, and the checkpoint as loaded
/// ([`resumed_notices`] says what it will not write).
fn resumed_run(args: &TrainArgs, path: &Path) -> Result<(RunOptions, Resumed)> {
    let (model, checkpoint) = io::load_checkpoint(path)?;
    let mut run = RunOptions::recorded(path, &checkpoint.options, args)?;
    run.data = resumed_data(args, path, &checkpoint, &run)?;
    let resumed = Resumed {
        path: path.to_path_buf(),
        model,
        checkpoint,
    };
    Ok((run, resumed))
}

/// The notices of a resumed run, once its options are checked (a schedule
/// refused is not first described): where its schedule ends before its
/// epochs do, and where it writes no file, or no checkpoint.
fn resumed_notices(args: &TrainArgs, run: &RunOptions, resumed: &Resumed) {
    let (path, checkpoint) = (resumed.path.as_path(), &resumed.checkpoint);
    if args.epochs.is_some() {
        note_schedule_end(run, path, checkpoint.epoch, args.quiet);
    }
    let writes = [
        &args.save,
        &args.checkpoint,
        &args.history,
        &args.json,
        &args.plot,
    ];
    if writes.iter().all(|w| w.is_none()) {
        super::notice(
            args.quiet,
            "this resumed run writes no file: --resume keeps the run's options, not its outputs; give --save, --checkpoint or --history again for those",
        );
    } else if args.checkpoint.is_none() && run.epochs > checkpoint.epoch {
        // Said before the run, not only when a signal has stopped it; not
        // where it trains no epoch (a resume to save the model now).
        super::notice(
            args.quiet,
            &format!(
                "this resumed run writes no checkpoint (--resume keeps the run's options, not its outputs): stopped, it loses its epochs past epoch {}; --checkpoint {} goes on writing the file it resumes from",
                checkpoint.epoch,
                crate::units::shell_word(&path.display().to_string())
            ),
        );
    }
}

/// Where `run` trains, checked: `--folds --save`'s run on every row holds
/// no rows out, and `--distributed` reads its rows from a file and sums
/// over shards (a one-pass checkpoint continued over processes is
/// sharded from here on, with a notice).
///
/// Returns the notice of a one-pass checkpoint sharded, for the caller to
/// say once every check has passed.
fn check_placement(args: &TrainArgs, run: &mut RunOptions) -> Result<Option<String>> {
    if run.fold.is_some() && args.save.is_some() {
        // The model --save writes is trained on every row.
        if run.keep == Keep::BestVal {
            bail!("--keep best-val cannot be combined with --folds --save: the model saved is trained once more on every row, with no rows held out to keep the best of; leave out --keep (each fold's epochs tell how many to train with --epochs)");
        }
        if run.val_patience.is_some() {
            bail!("--val-patience cannot be combined with --folds --save: the model saved is trained once more on every row, with no rows held out to watch; leave out --val-patience (each fold's epochs tell how many to train with --epochs)");
        }
    }
    if args.distributed && run.data.as_deref() == Some(Path::new(STDIN)) {
        bail!("--distributed cannot read its rows from standard input: mpirun gives it to process 0 only, and every process reads the rows; give --data a file every process can read");
    }
    // A FIFO (or `<(…)`'s pipe, or /dev/stdin) gives its rows to the one
    // process that reads them first, or to none; every process reads the
    // rows, so only a regular file will do (one that does not exist is
    // the reader's error).
    if let Some(path) = run.data.as_deref().filter(|_| args.distributed) {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            bail!(
                "--distributed cannot read its rows from {}, which is not a regular file (a pipe, a device or a folder): every process reads the rows, and a pipe gives them to one; give --data a file every process can read",
                path.display()
            );
        }
    }
    if args.distributed && run.shards.is_none() {
        if let (Some(path), Some(b)) = (&args.resume, run.batch_size) {
            bail!(
                "{} was written by a run in mini-batches of {b} (--batch-size, which --resume keeps), and a --distributed run sums full-batch gradients over shards: resume it without --distributed",
                path.display()
            );
        }
        // A one-pass run continued over processes: sharded from here on.
        run.shards = Some(crate::dist::DEFAULT_SHARDS);
        if let Some(path) = &args.resume {
            return Ok(Some(format!(
                "{} was written by a run in one pass; from here on the gradient is summed over {} shards, so the continuation is not the bits a one-pass --resume gives",
                path.display(),
                crate::dist::DEFAULT_SHARDS
            )));
        }
    }
    Ok(None)
}

/// The flags given that only the GPU backend uses: `--adapter`,
/// `--kernels` other than auto and `--gpu-timeout`.
fn gpu_only_flags(args: &TrainArgs) -> Vec<&'static str> {
    let timeout = args.gpu_timeout.is_some().then_some("--gpu-timeout");
    (gpu_flags(&args.device).into_iter())
        .chain(timeout)
        .filter(|f| *f != "--precision")
        .collect()
}

/// Refuses a GPU backend's setting beside `--backend cpu` or `reference`
/// (`--precision` has its own message, in `Device::open`).
fn check_gpu_settings(args: &TrainArgs) -> Result<()> {
    if let BackendChoice::Kind(kind @ (BackendKind::Cpu | BackendKind::Reference)) = args.backend {
        if let Some(flag) = gpu_only_flags(args).first() {
            bail!("{flag} is a setting of the GPU backend, and the {kind} backend uses no GPU; leave out {flag}, or use --backend gpu");
        }
    }
    Ok(())
}

/// [`TrainConfig::gd_alternative`]: the other optimizer, tried with the
/// same checks as if `--optimizer` had named it: L-BFGS in full batches,
/// else (in mini-batches, or where the run's flags would make L-BFGS
/// refuse it: clipping, a schedule) momentum, which takes them.
fn gd_alternative(args: &TrainArgs) -> Option<(OptimizerKind, &'static str)> {
    if args.optimizer.is_some() || args.resume.is_some() {
        return None;
    }
    let flag = args.first_order_flag()?;
    let lr_auto = args.lr == Some(LrChoice::Auto);
    let accepts = |kind| {
        let other = TrainArgs {
            optimizer: Some(kind),
            ..args.clone()
        };
        RunOptions::from_args(&other)
            .and_then(|run| run.check(lr_auto))
            .is_ok()
    };
    if args.batch_size.is_none() {
        let without = TrainArgs {
            lr: None,
            ..args.clone()
        };
        // L-BFGS finds no rate, so where --lr auto alone made gd the
        // default, the other is the default without it (on gen's
        // Friedman-like data, gd at --lr auto's rate reached a held-out
        // r² of 0.73, the default 0.96).
        if lr_auto && without.first_order_flag().is_none() {
            return Some((OptimizerKind::Lbfgs, "--lr auto"));
        }
        if !lr_auto && accepts(OptimizerKind::Lbfgs) {
            return Some((OptimizerKind::Lbfgs, flag));
        }
    }
    // Named as given: `--lr auto`, not `--lr`, beside a flag L-BFGS refuses.
    let flag = match (flag, lr_auto) {
        ("--lr", true) => "--lr auto",
        _ => flag,
    };
    accepts(OptimizerKind::Momentum).then_some((OptimizerKind::Momentum, flag))
}

/// The checkpoint `--resume` names, as loaded.
pub struct Resumed {
    pub path: PathBuf,
    pub model: Model,
    pub checkpoint: io::Checkpoint,
}

/// The threads of the cpu backend and of held-out rows scored on the
/// host: `--threads`, or where it is left out (or 0) and `resumed`'s
/// checkpoint recorded the run's (a run in one pass on the cpu backend,
/// or one whose held-out rows the host scored), those, so that it goes on
/// bit for bit (the threads fix the order of the sums); with a notice
/// where they are not this machine's cores. Not on another backend than
/// the checkpoint's.
fn resumed_threads(args: &TrainArgs, resumed: Option<&Resumed>) -> usize {
    if args.distributed {
        // Sharded, the sums follow the shards, whatever the threads.
        return args.device.threads;
    }
    let other = |r: &Resumed| match (args.backend, r.checkpoint.backend.as_deref()) {
        (BackendChoice::Kind(kind), Some(wrote)) => kind.name() != wrote,
        // Before the backend was recorded, only the cpu backend's
        // threads were.
        (BackendChoice::Kind(kind), None) => kind != BackendKind::Cpu,
        (BackendChoice::Auto, _) => false,
    };
    let recorded = resumed
        .filter(|r| !other(r))
        .and_then(|r| Some((r, r.checkpoint.threads?)));
    let (Some((r, n)), 0) = (recorded, args.device.threads) else {
        return args.device.threads;
    };
    if n != crate::cpu::Fast::thread_count(0, usize::MAX) {
        super::notice(
            args.quiet,
            &format!(
                "--threads {n}, as the run that wrote {} asked for, so that it goes on bit for bit (another --threads sums in another order)",
                r.path.display()
            ),
        );
    }
    n
}

/// The GPU backend's kernels: `--kernels`, or where it is left out (auto)
/// and `resumed`'s checkpoint was written on the GPU with other kernels
/// given, those, so that it goes on bit for bit (the kernels fix the order
/// of the sums); with a notice. Not on a backend that is not the GPU.
fn resumed_kernels(args: &TrainArgs, resumed: Option<&Resumed>) -> Result<KernelChoice> {
    let cpu = matches!(
        args.backend,
        BackendChoice::Kind(BackendKind::Cpu | BackendKind::Reference)
    );
    let recorded = resumed.and_then(|r| Some((r, r.checkpoint.kernels.as_deref()?)));
    let (Some((r, name)), KernelChoice::Auto, false) = (recorded, args.device.kernels, cpu) else {
        return Ok(args.device.kernels);
    };
    let kernels = <KernelChoice as clap::ValueEnum>::from_str(name, false)
        .map_err(|_| anyhow::anyhow!("{}: no kernels are named {name}", r.path.display()))?;
    super::notice(
        args.quiet,
        &format!(
            "--kernels {name}, as the run that wrote {} asked for, so that it goes on bit for bit (other kernels sum in another order)",
            r.path.display()
        ),
    );
    Ok(kernels)
}

/// The GPU's precision: `--precision`, or where it is not given and
/// `resumed`'s checkpoint trained in mixed precision, mixed, so that it
/// goes on bit for bit (f32 products round otherwise); with a notice. A
/// checkpoint the GPU wrote in f32, resumed with `--precision mixed`, goes
/// on in other bits, which a notice says. Not on a backend that is not the
/// GPU.
fn resumed_precision(args: &TrainArgs, resumed: Option<&Resumed>) -> Precision {
    let asked = args.device.precision;
    let cpu = matches!(
        args.backend,
        BackendChoice::Kind(BackendKind::Cpu | BackendKind::Reference)
    );
    let Some(r) = resumed.filter(|_| !cpu) else {
        return asked;
    };
    // Only a GPU run trains in mixed precision.
    let on_gpu = r.checkpoint.backend.as_deref() == Some("gpu");
    let mixed = on_gpu && r.checkpoint.precision.as_deref() == Some("mixed");
    let given = args.given.iter().any(|g| g == "precision");
    // The fused kernel, asked for, has no mixed form.
    let fused = args.device.kernels == KernelChoice::Fused;
    let path = r.path.display();
    match (mixed, asked) {
        (true, Precision::F32) if !given && !fused => {
            super::notice(
                args.quiet,
                &format!("--precision mixed, as the run that wrote {path} trained, so that it goes on bit for bit (--precision f32 goes on in f32, in other bits)"),
            );
            Precision::Mixed
        }
        (false, Precision::Mixed) if on_gpu => {
            super::notice(
                args.quiet,
                &format!("{path} records no mixed precision (its run trained in f32, or it was written before checkpoints recorded it), so --precision mixed goes on from it in other bits"),
            );
            asked
        }
        _ => asked,
    }
}

impl TrainConfig {
    /// Where `--backend auto` trains on the CPU: the clause that says
    /// which of the GPU backend's settings given go unused, or nothing.
    pub fn unused_on_cpu(&self) -> String {
        let flags: Vec<String> = self.gpu_settings.iter().map(|f| f.to_string()).collect();
        match flags.len() {
            0 => String::new(),
            1 => format!(
                "; {} is a setting of the GPU backend, unused on the CPU",
                flags[0]
            ),
            _ => format!(
                "; {} are settings of the GPU backend, unused on the CPU",
                crate::units::joined(&flags, "and")
            ),
        }
    }

    /// Checks `args` and resolves the run they name: a new one, or the one
    /// the `--resume` checkpoint recorded (which is loaded here and
    /// returned).
    pub fn resolve(args: &TrainArgs) -> Result<(TrainConfig, Option<Resumed>)> {
        check_train_outputs(args)?;
        check_patience(args)?;
        let (mut run, resumed) = match &args.resume {
            None => (RunOptions::from_args(args)?, None),
            Some(path) => {
                let (run, resumed) = resumed_run(args, path)?;
                (run, Some(resumed))
            }
        };
        let lr_auto = (args.lr == Some(LrChoice::Auto)).then_some(DEFAULT_RANGE_TEST);
        let lbfgs_by_default = args.optimizer.is_none()
            && args.resume.is_none()
            && args.default_optimizer() == OptimizerKind::Lbfgs
            && args.gtol.is_none()
            && args.history_size.is_none();
        // A run of the default L-BFGS may turn out to test the rate
        // (mini_batches_by_default), once its rows are counted.
        if args.lr_plot.is_some() && lr_auto.is_none() && !lbfgs_by_default {
            match args.resume {
                Some(_) => bail!("--lr-plot draws --lr auto's range test, which runs before a run starts, not when it is resumed"),
                None => bail!("{LR_PLOT_NEEDS}"),
            }
        }
        let schedule = run.check(lr_auto.is_some())?;
        let sharded = check_placement(args, &mut run)?;
        let read_history = (resumed.as_ref())
            .and_then(|r| r.checkpoint.history_file.as_ref())
            .map(|h| h.path.as_path());
        check_distinct_files(args, &run, read_history)?;
        check_train_formats(args)?;
        let target_loss = run.target_loss.map(check_target_loss).transpose()?;
        let max_time = match args.max_time {
            Some(t) => seconds(t, "--max-time")?,
            None => None,
        };
        // With --backend gpu the synthetic task is generated on the device,
        // so a large batch is never built on the host nor copied over the
        // bus. A resumed run keeps the data source it started with.
        let resumed_on = (resumed.as_ref())
            .and_then(|r| r.checkpoint.backend.as_deref())
            .and_then(|b| clap::ValueEnum::from_str(b, false).ok());
        let on_gpu = match args.backend {
            BackendChoice::Kind(kind) => kind == BackendKind::Gpu,
            BackendChoice::Auto => resumed_on == Some(BackendKind::Gpu),
        };
        if run.on_device && !on_gpu {
            bail!(
                "this run's synthetic data were generated on the GPU; resume it with --backend gpu"
            );
        }
        check_gpu_settings(args)?;
        let timeout = seconds(args.gpu_timeout.unwrap_or(GPU_TIMEOUT_S), "--gpu-timeout")?;
        // The last check that can fail (a checkpoint's kernels); then what
        // the resumed run takes from its checkpoint (with notices) and
        // what it will not write.
        let kernels = resumed_kernels(args, resumed.as_ref())?;
        if let Some(text) = sharded {
            super::notice(args.quiet, &text);
        }
        let threads = resumed_threads(args, resumed.as_ref());
        let threads_resumed = threads != args.device.threads;
        let precision = resumed_precision(args, resumed.as_ref());
        let precision_resumed = precision != args.device.precision;
        if let Some(resumed) = &resumed {
            resumed_notices(args, &run, resumed);
        }
        let config = TrainConfig {
            run,
            schedule,
            target_loss,
            max_time,
            backend: args.backend,
            adapter: AdapterRequest {
                allow_software: args.backend == BackendChoice::Kind(BackendKind::Gpu),
                name: args.device.adapter.clone(),
                timeout: timeout.unwrap_or(LONGEST),
                precision,
                ..AdapterRequest::default()
            },
            threads,
            threads_resumed,
            run_on: args.device.run_on,
            cpu_isa: args.device.cpu_isa,
            kernels,
            // --adapter chooses among the adapters auto looks at.
            gpu_settings: (gpu_only_flags(args).into_iter())
                .filter(|f| *f != "--adapter")
                .collect(),
            checkpoint: args.checkpoint.clone().map(|path| Checkpointing {
                path,
                every: args.checkpoint_every,
            }),
            resume: args.resume.clone(),
            outputs: Outputs {
                save: args.save.clone(),
                history: args.history.clone(),
                json: args.json.clone(),
                plot: args.plot.clone(),
                lr_plot: args.lr_plot.clone(),
                others: Vec::new(),
                after_folds: None,
            },
            quiet: args.quiet,
            leader: true,
            distributed: args.distributed,
            precision_resumed,
            lr_auto,
            lr_found: None,
            resumed_on,
            gd_alternative: gd_alternative(args),
            lbfgs_by_default,
            few_a_parameter: false,
            split_below_many: false,
            rows_chose_adam: false,
            decay_found: None,
        };
        Ok((config, resumed))
    }

    /// The run that trains `rows` training rows (a fold of `--folds`: all
    /// those read, so that every fold and the run on every row decide
    /// alike) with a network of `params` parameters on the `kind` backend,
    /// where they are [`many_rows`], on the cpu backend, and the run is
    /// the default L-BFGS of a new run: adam in mini-batches of 200, at
    /// `--lr auto`'s rate, on a cosine schedule over `--epochs` (20 where
    /// not given), where its other options accept that; `None` otherwise.
    /// L-BFGS passes over every row for each step. On `gen`'s task and
    /// Friedman's #1 to #3 (60,000 and 200,000 training rows; AMD EPYC
    /// Zen 4, two threads) this reached held-out R² within 0.003 of 200
    /// L-BFGS iterations' or above (0.9966 against 0.9831 on 200,000 rows
    /// of `gen`'s task) in a quarter to a third of the time; on 400,000 ×
    /// 16 rows, 0.9999 in 1.8 s against 0.982 in 6.7 s
    /// (benches/many_rows.sh). On 80,000 training rows of 25, 50, 75 and
    /// 100 features (10 of them in the target), 46, 24, 16 and 12 rows a
    /// parameter, it scored +0.005, +0.001, −0.006 and −0.024 against
    /// L-BFGS: with fewer rows a parameter mini-batches fit more of the
    /// noise. Not with `--halving` (its rounds' epochs
    /// are L-BFGS's), sharded or distributed runs (whose steps are full
    /// passes), or where a flag of L-BFGS's (`--gtol`, `--history-size`)
    /// asks for it; mini-batches on a GPU are not measured on hardware.
    /// Whether this run would train adam in mini-batches were its rows
    /// [`many_rows`] ([`TrainConfig::mini_batches_by_default`]).
    pub fn adam_if_many(&self, args: &TrainArgs, kind: BackendKind) -> bool {
        // Sharded and distributed runs refuse --batch-size (run.check); an
        // --lr-schedule given (constant: L-BFGS ignores it) is kept.
        let asked = self.lbfgs_by_default && args.halving.is_none() && args.lr_schedule.is_none();
        asked && kind == BackendKind::Cpu
    }

    /// Sets [`TrainConfig::few_a_parameter`] and
    /// [`TrainConfig::split_below_many`] of a run of `rows` rows as
    /// [`TrainConfig::mini_batches_by_default`] counts them (a fold's
    /// every row read), `read` (trained, held out) and `params` parameters
    /// on a backend of `kind`.
    pub fn note_kept_lbfgs(
        &mut self,
        args: &TrainArgs,
        (rows, read, params): (usize, (usize, usize), usize),
        kind: BackendKind,
    ) {
        let adam = self.adam_if_many(args, kind);
        self.few_a_parameter = adam && rows >= MANY_ROWS && !many_rows(rows, params);
        let all = read.0.saturating_add(read.1);
        let split = self.run.fold.is_none() && read.0 < MANY_ROWS && many_rows(all, params);
        self.split_below_many = adam && split;
    }

    pub fn mini_batches_by_default(
        &self,
        args: &TrainArgs,
        (rows, params): (usize, usize),
        kind: BackendKind,
    ) -> Option<TrainConfig> {
        if !self.adam_if_many(args, kind) || !many_rows(rows, params) {
            return None;
        }
        let epochs = args.epochs.unwrap_or(MANY_ROWS_EPOCHS);
        let adam = TrainArgs {
            optimizer: Some(OptimizerKind::Adam),
            lr: Some(LrChoice::Auto),
            batch_size: Some(MANY_ROWS_BATCH),
            lr_schedule: Some(crate::optim::ScheduleKind::Cosine),
            epochs: Some(epochs),
            ..args.clone()
        };
        let optimizer = adam.optimizer_settings().resolve().ok()?;
        let lr_schedule = (adam.schedule_settings())
            .resolve(&optimizer.with_lr(f64::MAX), epochs)
            .ok()?;
        let run = RunOptions {
            optimizer,
            epochs,
            batch_size: adam.batch_size,
            lr_schedule,
            ..self.run.clone()
        };
        let schedule = run.check(true).ok()?;
        Some(TrainConfig {
            run,
            schedule,
            lr_auto: Some(DEFAULT_RANGE_TEST),
            gd_alternative: None,
            lbfgs_by_default: false,
            rows_chose_adam: true,
            ..self.clone()
        })
    }

    /// Whether the run chooses its weight decay by [`DECAY_FOLDS`]-fold
    /// cross-validation of its `rows` training rows (a fold of `--folds`:
    /// all those read, as [`TrainConfig::mini_batches_by_default`] counts
    /// them) among [`DECAY_VALUES`], for a fresh network of `params`
    /// parameters, where the rows are fewer than
    /// [`DECAY_ROWS_PER_PARAMETER`] a parameter: the default L-BFGS then
    /// fits the rows' noise (on scikit-learn's diabetes rows, 353 trained
    /// on, R² of −0.18 to −0.43 on the 89 held out over four splits;
    /// 0.35 to 0.44 with the 1e-2 the search chose on each, as Ridge's
    /// 0.34 to 0.44), and where they are not, chooses 0, the same model.
    /// Only where the run is the default L-BFGS of a new network
    /// (no `--init`), on rows of a file (synthetic rows have no noise),
    /// with no `--weight-decay`, `--halving`, `--shards` or `--max-time`
    /// (a run bounded in time trains once), on at least
    /// [`DECAY_MIN_ROWS`] rows.
    pub fn decay_search(&self, args: &TrainArgs, (rows, params): (usize, usize)) -> bool {
        let asked = self.lbfgs_by_default && args.weight_decay.is_none();
        let plain = args.halving.is_none() && args.max_time.is_none();
        asked && plain && self.decay_rows((rows, params))
    }

    /// The part of [`TrainConfig::decay_search`] that its flags do not
    /// decide: a new network on a file's rows, unsharded, of `rows` rows
    /// (at least [`DECAY_MIN_ROWS`]) and `params` parameters, fewer than
    /// [`DECAY_ROWS_PER_PARAMETER`] a parameter.
    fn decay_rows(&self, (rows, params): (usize, usize)) -> bool {
        let run = &self.run;
        let fresh = run.init.is_none() && run.data.is_some() && run.shards.is_none();
        let few = rows < params.saturating_mul(DECAY_ROWS_PER_PARAMETER);
        fresh && few && rows >= DECAY_MIN_ROWS
    }

    /// The flag that kept a new L-BFGS run of `rows` rows and `params`
    /// parameters, undecayed, from the search
    /// [`TrainConfig::decay_search`] makes on so few: `--max-time`, or
    /// naming L-BFGS or its settings; `None` where none did.
    pub fn decay_left_out(&self, (rows, params): (usize, usize)) -> Option<&'static str> {
        let lbfgs = self.run.optimizer.kind() == OptimizerKind::Lbfgs;
        let new = self.resume.is_none() && self.decay_found.is_none();
        if !(lbfgs && new && self.decay_rows((rows, params))) {
            return None;
        }
        match (self.max_time.is_some(), self.lbfgs_by_default) {
            (true, _) => Some("--max-time (a run bounded in time trains once)"),
            (false, false) => {
                Some("naming L-BFGS or its settings (--optimizer, --gtol, --history-size)")
            }
            (false, true) => None,
        }
    }

    /// Epochs between checkpoints; 0 without `--checkpoint`.
    pub fn checkpoint_every(&self) -> usize {
        self.checkpoint.as_ref().map_or(0, |c| c.every)
    }
}

/// The rows a resumed run reads: `--data` where given (the run's file,
/// moved), else the file the run recorded, which must still be there, or
/// standard input piped in again.
fn resumed_data(
    args: &TrainArgs,
    path: &Path,
    checkpoint: &io::Checkpoint,
    run: &RunOptions,
) -> Result<Option<PathBuf>> {
    if let Some(data) = &args.data {
        return Ok(Some(moved_data(path, checkpoint, run, data)?));
    }
    if run.data.as_deref() == Some(Path::new(STDIN)) {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            bail!(
                "{} was trained on rows from standard input: pipe the same rows in again, or give --data FILE with them",
                path.display()
            );
        }
        super::notice(
            args.quiet,
            "reading the run's rows from standard input, as it did; they are checked against the checkpoint's",
        );
    } else if let Some(file) = run.data.as_deref().filter(|f| !f.exists()) {
        bail!(
            "{} was trained on {}, which is not there now; if the file moved, give --data with its new path",
            path.display(),
            file.display()
        );
    }
    Ok(run.data.clone())
}

/// `--data` with `--resume`: the run's data file, moved. It is checked
/// against the digest the checkpoint recorded once it is read; a
/// checkpoint without one (or a run on synthetic data) cannot take it.
fn moved_data(
    checkpoint_path: &Path,
    checkpoint: &io::Checkpoint,
    run: &RunOptions,
    data: &Path,
) -> Result<PathBuf> {
    if run.data.is_none() {
        bail!(
            "{} trains on synthetic data; --data cannot replace them",
            checkpoint_path.display()
        );
    }
    if checkpoint.data.is_none() {
        bail!(
            "{} records no digest of its data (an older checkpoint), so --data cannot be checked against it; resume without --data, from the folder the run started in",
            checkpoint_path.display()
        );
    }
    Ok(data.to_path_buf())
}

/// `train`'s outputs, as (flag, path) where given.
fn train_outputs(args: &TrainArgs) -> Vec<(&'static str, &Path)> {
    let outputs = [
        ("--save", &args.save),
        ("--history", &args.history),
        ("--checkpoint", &args.checkpoint),
        ("--json", &args.json),
        ("--plot", &args.plot),
        ("--lr-plot", &args.lr_plot),
        ("--fold-predictions", &args.fold_predictions),
    ];
    (outputs.into_iter())
        .filter_map(|(flag, path)| path.as_deref().map(|p| (flag, p)))
        .collect()
}

/// No file `train` writes is named with another format's extension
/// ([`io::check_format`]; the plots' extensions choose their format).
fn check_train_formats(args: &TrainArgs) -> Result<()> {
    for (flag, path) in train_outputs(args) {
        io::check_format(flag, path)?;
    }
    Ok(())
}

/// Every file `train` may write can be written, checked before anything runs.
fn check_train_outputs(args: &TrainArgs) -> Result<()> {
    let named = train_outputs(args);
    // The plots are checked below, by their own rules.
    for (flag, path) in named.iter().filter(|(flag, _)| !flag.ends_with("plot")) {
        io::check_output(flag, path)?;
    }
    if let Some(checkpoint) = &args.checkpoint {
        io::check_checkpoint_history(checkpoint)
            .map_err(|e| anyhow::anyhow!("--checkpoint: {e}"))?;
        // Standard output has its own refusal, below.
        if io::is_fifo(checkpoint) && !io::is_standard_output(checkpoint) {
            bail!(
                "--checkpoint {}: a checkpoint is rewritten every --checkpoint-every epochs and read back by --resume, so it cannot be a FIFO; give a file's path",
                checkpoint.display()
            );
        }
        if io::holds_saved_model(checkpoint) {
            bail!(
                "--checkpoint {} holds a saved model, not a checkpoint, which this run's checkpoints would replace; give --checkpoint another path (--init {0} trains on from the model), or delete it if no longer needed",
                crate::units::shell_word(&checkpoint.display().to_string())
            );
        }
    }
    // A model saved over the checkpoint of a run that did not end there
    // leaves --resume nothing to continue (unless this run continues it).
    if let Some(save) = &args.save {
        let resumed = (args.resume.as_ref()).is_some_and(|r| io::same_file(r, save));
        if let (false, Some(epoch)) = (resumed, io::cut_short_checkpoint(save)) {
            let (ck, files) = super::train::checkpoint_files(save);
            bail!(
                "--save {ck} holds the checkpoint, at epoch {epoch}, of a run that did not end there (interrupted, stopped by --max-time, killed, or its last checkpoint not written), which the model saved would replace: --resume {ck} continues that run; give --save another path, or delete {files} if that run is not needed"
            );
        }
    }
    super::one_on_standard_output(&named)?;
    let to_stdout = args.save.as_deref().is_some_and(io::is_standard_output);
    if to_stdout && args.distributed {
        // Open MPI hands each process a terminal of its own for standard
        // output, which would take the model for text (and a line feed
        // byte for a line end).
        bail!("--save is standard output, which mpirun relays through a terminal of its own whatever the command's output is redirected to, and so cannot carry a binary model (safetensors); give --save a file with --distributed (process 0 writes it)");
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if terminal && to_stdout {
        bail!("--save is standard output, which is a terminal: the model is binary (safetensors); redirect standard output to a file or a pipe, or give --save a file");
    }
    if args
        .checkpoint
        .as_deref()
        .is_some_and(io::is_standard_output)
    {
        bail!("--checkpoint is standard output, but a checkpoint is rewritten every --checkpoint-every epochs; give a file");
    }
    for (flag, path) in [("--plot", &args.plot), ("--lr-plot", &args.lr_plot)] {
        if let Some(path) = path {
            plot::check_path(flag, path)?;
        }
    }
    if args.checkpoint.is_some() && args.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    Ok(())
}

/// A resumed run whose `--epochs` go past the end of its recorded cosine
/// or one cycle (T epochs) trains the epochs after T it has still to run
/// at the schedule's last rate: a notice says so, and how to choose
/// another. `done`: the checkpoint's epochs.
fn note_schedule_end(run: &RunOptions, path: &Path, done: usize, quiet: bool) {
    let (name, end) = match run.lr_schedule {
        LrSchedule::Cosine { epochs, .. } => ("cosine", epochs),
        LrSchedule::OneCycle { epochs, .. } => ("one-cycle", epochs),
        _ => return,
    };
    let from = end.max(done) + 1;
    if run.epochs < from {
        return;
    }
    let lr = run.optimizer.lr();
    let last = crate::optim::short(run.lr_schedule.rate(lr, end as u64, &[]));
    super::notice(
        quiet,
        &format!(
            "{}'s {} schedule ends at epoch {end}: epochs {from} to {} train at its last rate, {last} (to schedule them, start a new run from its parameters with --init)",
            path.display(),
            name,
            run.epochs
        ),
    );
}

/// How the errors of [`check_distinct_files`] name a checkpoint's history
/// files.
const CHECKPOINT_HISTORY: &str = "--checkpoint's history file";
const RESUME_HISTORY: &str = "--resume's history file";

/// No two outputs, and no output and input, are the same file; except
/// that `--init` may be replaced by `--save` and `--resume` by
/// `--checkpoint` (continuing a model or a checkpoint in place).
/// `read_history`: the history file the `--resume` checkpoint was read
/// with, which is another checkpoint's where it was copied under another
/// name.
fn check_distinct_files(
    args: &TrainArgs,
    run: &RunOptions,
    read_history: Option<&Path>,
) -> Result<()> {
    fn named<'a>(pairs: &[(&'static str, Option<&'a PathBuf>)]) -> Vec<(&'static str, &'a Path)> {
        pairs
            .iter()
            .filter_map(|&(flag, p)| p.map(|p| (flag, p.as_path())))
            .collect()
    }
    let mut outputs = named(&[
        ("--save", args.save.as_ref()),
        ("--history", args.history.as_ref()),
        ("--json", args.json.as_ref()),
        ("--plot", args.plot.as_ref()),
        ("--lr-plot", args.lr_plot.as_ref()),
        ("--checkpoint", args.checkpoint.as_ref()),
        ("--fold-predictions", args.fold_predictions.as_ref()),
    ]);
    let mut inputs = named(&[
        ("--data", run.data.as_ref()),
        ("--init", run.init.as_ref()),
        ("--resume", args.resume.as_ref()),
    ]);
    // A checkpoint's history files beside it, which no other output may
    // overwrite.
    let (written, read) = (CHECKPOINT_HISTORY, RESUME_HISTORY);
    let sides =
        |path: Option<&PathBuf>| path.map_or_else(Vec::new, |p| io::checkpoint_history_files(p));
    let (ours, theirs) = (sides(args.checkpoint.as_ref()), sides(args.resume.as_ref()));
    outputs.extend(ours.iter().map(|p| (written, p.as_path())));
    inputs.extend(theirs.iter().map(|p| (read, p.as_path())));
    // A copy's history file is another checkpoint's; its own is in theirs.
    inputs.extend((read_history.filter(|p| !theirs.iter().any(|t| t == p))).map(|p| (read, p)));
    let allowed = [
        ("--save", "--init"),
        ("--checkpoint", "--resume"),
        (written, read),
    ];
    // --quiet prints no summary (--folds' table is printed even so).
    let outputs = match args.quiet && args.folds.is_none() {
        true => outputs,
        false => super::and_the_report(&outputs),
    };
    Ok(io::check_distinct(&outputs, &inputs, &allowed)?)
}

/// `--patience` counts epochs that do not improve the best loss by the
/// fraction `--tol`: without a tolerance it would stop on any epoch that
/// does not set a new best, a rising loss included, so it is refused.
fn check_patience(args: &TrainArgs) -> Result<()> {
    if args.patience > 0 && args.tol == 0.0 && args.resume.is_none() {
        bail!(
            "--patience needs a --tol above 0: it stops after P epochs in a row that do not improve the best loss by the fraction --tol (e.g. --tol 1e-4 --patience {})",
            args.patience
        );
    }
    Ok(())
}

fn check_target_loss(t: f64) -> Result<f64> {
    if t.is_finite() && t >= 0.0 {
        Ok(t)
    } else {
        bail!(
            "--target-loss must be 0 or more, not {}",
            crate::optim::short(t)
        )
    }
}

/// The most `bench --warmup`, `--samples` and `--gpu-batch` take.
const MOST_SAMPLES: usize = 1_000_000;

/// The longest time limit kept as given, 2^32 s (136 years): a longer
/// one, `inf` included, is no limit at all.
const LONGEST: Duration = Duration::from_secs(1 << 32);

/// `flag`'s value as a positive duration; `None`, no limit, beyond
/// [`LONGEST`].
fn seconds(t: f64, flag: &str) -> Result<Option<Duration>> {
    if t.is_nan() || t <= 0.0 {
        bail!(
            "{flag} must be a positive number of seconds, not {}",
            crate::optim::short(t)
        );
    }
    if t >= LONGEST.as_secs_f64() {
        return Ok(None);
    }
    let d = Duration::from_secs_f64(t);
    if d.is_zero() {
        let t = crate::optim::short(t);
        bail!("{flag} {t} is shorter than a nanosecond; give a positive number of seconds");
    }
    Ok(Some(d))
}

/// Standard input by name: `--data -` reads it.
pub(crate) const STDIN: &str = "/dev/stdin";

/// `--gpu-timeout`'s default, in seconds.
const GPU_TIMEOUT_S: f64 = 600.0;

/// The flags of `device` given that only the GPU backend uses: `--adapter`,
/// `--kernels` other than auto and `--precision` other than f32.
fn gpu_flags(device: &DeviceArgs) -> Vec<&'static str> {
    let given = [
        ("--adapter", device.adapter.is_some()),
        ("--kernels", device.kernels != KernelChoice::Auto),
        ("--precision", device.precision != Precision::F32),
    ];
    given.into_iter().filter(|g| g.1).map(|g| g.0).collect()
}

/// The first of `bench`'s flags given that only the GPU backend uses.
pub(super) fn bench_gpu_flag(args: &BenchArgs) -> Option<&'static str> {
    let batch = (args.gpu_batch != crate::cli::GPU_BATCH).then_some("--gpu-batch");
    gpu_flags(&args.device).into_iter().chain(batch).next()
}

/// Refuses a list that names something twice, which would be timed twice.
fn once_each<T: PartialEq + std::fmt::Display>(flag: &str, items: &[T]) -> Result<()> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            bail!("{flag} names {item} twice; name each once");
        }
    }
    Ok(())
}

/// `--peer-timeout` as a duration; `None` for no limit.
pub fn peer_timeout(args: &BenchArgs) -> Result<Option<Duration>> {
    match args.peer_timeout {
        Some(t) => seconds(t, "--peer-timeout"),
        None => Ok(None),
    }
}

/// Checks `bench`'s options; the adapter it asks for (software ones too).
/// `writes`: whether this process writes the outputs (`--json`,
/// `--plot`) and so checks where they go; under `--distributed` only
/// process 0 does, as another machine may not have its folders.
pub fn check_bench(args: &BenchArgs, writes: bool) -> Result<AdapterRequest> {
    let names: Vec<String> = args.shapes.0.iter().map(|s| s.label()).collect();
    once_each("--shapes", &names)?;
    // A named shape given again by its sizes: the same case twice.
    let shapes = &args.shapes.0;
    for (i, b) in shapes.iter().enumerate() {
        let dims = |s: &crate::bench::Shape| (s.n, s.f, s.h);
        if let Some(a) = shapes[..i].iter().find(|a| dims(a) == dims(b)) {
            bail!(
                "--shapes names {} and {}, the same shape ({} rows × {} features, {} hidden units); name it once",
                a.label(),
                b.label(),
                b.n,
                b.f,
                b.h
            );
        }
    }
    peer_timeout(args)?;
    once_each("--backends", &args.backends)?;
    // Without --backends a bench times the GPU where one is found, a
    // sharded one (--shards, --distributed) the CPU only.
    let sharded = args.distributed || args.shards.is_some();
    let times_gpu = match args.backends.is_empty() {
        true => !sharded,
        false => args.backends.contains(&BackendKind::Gpu),
    };
    if !times_gpu {
        if let Some(flag) = bench_gpu_flag(args) {
            bail!("{flag} is a setting of the GPU backend, and this bench times no GPU; add gpu to --backends, or leave out {flag}");
        }
    }
    // Settings of the cpu backend are not silently dropped either:
    // --threads reaches the CPU peers, and a sharded bench's reference
    // shards, too.
    let times_cpu = args.backends.is_empty() || args.backends.contains(&BackendKind::Cpu);
    let threaded =
        times_cpu || args.peers || (sharded && args.backends.contains(&BackendKind::Reference));
    if !times_cpu && args.device.cpu_isa.is_some() {
        bail!("--cpu-isa is a setting of the cpu backend, and this bench does not time it; add cpu to --backends, or leave out --cpu-isa");
    }
    if !threaded && args.device.threads != 0 {
        bail!("--threads sets the cpu backend's threads (and the CPU peers'), and this bench times neither; add cpu to --backends, or leave out --threads");
    }
    if args.shards == Some(0) {
        bail!("--shards must be at least 1");
    }
    if sharded {
        let unused = [
            (
                args.plot.is_some(),
                "--plot",
                "draws no chart (its table and --json give the times)",
            ),
            (
                args.peers,
                "--peers",
                "has no peers (they time one process's epochs)",
            ),
            (
                args.device.precision != Precision::F32,
                "--precision",
                "times f32 epochs",
            ),
            (
                args.gpu_batch != crate::cli::GPU_BATCH,
                "--gpu-batch",
                "times single epochs",
            ),
        ];
        if let Some((_, flag, why)) = unused.into_iter().find(|u| u.0) {
            bail!("a sharded bench (--distributed or --shards) {why}; leave out {flag}");
        }
    }
    if let Some(path) = args.json.as_ref().filter(|_| writes) {
        io::check_output("--json", path)?;
        io::check_format("--json", path)?;
    }
    if let Some(path) = args.plot.as_ref().filter(|_| writes) {
        plot::check_path("--plot", path)?;
    }
    if let (Some(json), Some(plot), true) = (&args.json, &args.plot, writes) {
        io::check_distinct(&[("--json", json), ("--plot", plot)], &[], &[])?;
    }
    for (flag, n) in [("--samples", args.samples), ("--gpu-batch", args.gpu_batch)] {
        if n == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    for (flag, n) in [
        ("--warmup", args.warmup),
        ("--samples", args.samples),
        ("--gpu-batch", args.gpu_batch),
    ] {
        if n > MOST_SAMPLES {
            bail!("{flag} must be at most {MOST_SAMPLES}, not {n}");
        }
    }
    Ok(AdapterRequest {
        allow_software: true,
        name: args.device.adapter.clone(),
        precision: args.device.precision,
        ..AdapterRequest::default()
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    /// `train` with `flags` after `--synthetic 100 --features 2`, parsed.
    fn train_args(flags: &[&str]) -> TrainArgs {
        let line = [
            "shadertrain",
            "train",
            "--synthetic",
            "100",
            "--features",
            "2",
        ];
        let cli = Cli::try_parse_noting_given(line.iter().chain(flags)).expect("the flags parse");
        let Command::Train(args) = cli.command else {
            unreachable!("a train command")
        };
        args
    }

    /// `train` with `flags` after `--synthetic 100 --features 2`, checked.
    pub(in crate::app) fn config(flags: &[&str]) -> TrainConfig {
        TrainConfig::resolve(&train_args(flags))
            .expect("the flags resolve")
            .0
    }

    /// `bench` with `flags`, checked.
    fn bench(flags: &[&str]) -> Result<AdapterRequest> {
        let line = ["shadertrain", "bench"];
        let cli = Cli::try_parse_noting_given(line.iter().chain(flags)).expect("the flags parse");
        let Command::Bench(args) = cli.command else {
            unreachable!("a bench command")
        };
        check_bench(&args, true)
    }

    #[test]
    fn a_target_loss_of_0_is_accepted_and_a_negative_one_refused() {
        assert_eq!(check_target_loss(0.0).ok(), Some(0.0));
        assert!(check_target_loss(-1.0).is_err());
        assert!(check_target_loss(f64::NAN).is_err());
    }

    /// `--adapter` chooses among the adapters `--backend auto` looks at,
    /// so it is no setting left unused on the CPU; `--kernels` is.
    #[test]
    fn the_settings_unused_on_the_cpu_leave_out_adapter() {
        assert!(config(&["--adapter", "any"]).gpu_settings.is_empty());
        let kernels = config(&["--kernels", "tiled"]);
        assert_eq!(kernels.gpu_settings, vec!["--kernels"]);
    }

    /// A flag of L-BFGS's own asks for it: the run is not the default
    /// L-BFGS that many rows turn into adam in mini-batches.
    #[test]
    fn lbfgs_flags_make_the_run_not_the_default_lbfgs() {
        assert!(config(&[]).lbfgs_by_default);
        assert!(!config(&["--history-size", "5"]).lbfgs_by_default);
        assert!(!config(&["--gtol", "1e-6"]).lbfgs_by_default);
    }

    /// Synthetic rows are generated on the GPU only where nothing needs
    /// them on the host: --standardize's statistics and
    /// --target-transform do.
    #[test]
    fn standardized_synthetic_rows_are_not_generated_on_the_gpu() {
        let on_device = |flags: &[&str]| {
            let args = train_args(&[&["--backend", "gpu"], flags].concat());
            RunOptions::from_args(&args).expect("the options").on_device
        };
        assert!(on_device(&[]));
        assert!(!on_device(&["--standardize"]));
        // A transform of the target is made on the host; none is none.
        assert!(!on_device(&["--target-transform", "asinh"]));
        assert!(on_device(&["--target-transform", "none"]));
    }

    /// The weight decay is searched for on fewer training rows than twice
    /// the parameters, not on exactly twice.
    #[test]
    fn the_decay_search_needs_fewer_rows_than_twice_the_parameters() {
        let args = train_args(&[]);
        let mut run = config(&[]);
        run.run.data = Some(PathBuf::from("rows.csv"));
        assert!(run.decay_search(&args, (99, 50)));
        assert!(!run.decay_search(&args, (100, 50)));
    }

    /// Where --lr auto alone made gd the default, the gd notice names the
    /// default without it; where a flag L-BFGS refuses (clipping, a
    /// schedule) made it, momentum, which takes that flag.
    #[test]
    fn the_default_without_lr_auto_is_named_where_lr_auto_alone_chose_gd() {
        let alone = gd_alternative(&train_args(&["--lr", "auto"]));
        assert_eq!(alone, Some((OptimizerKind::Lbfgs, "--lr auto")));
        let clipped = gd_alternative(&train_args(&["--lr", "auto", "--clip-grad-norm", "1"]));
        assert_eq!(clipped, Some((OptimizerKind::Momentum, "--lr auto")));
        let momentum = Some((OptimizerKind::Momentum, "--lr"));
        for flags in [
            &["--lr", "0.1", "--clip-grad-norm", "1"][..],
            &["--lr", "0.1", "--lr-schedule", "cosine"],
        ] {
            assert_eq!(gd_alternative(&train_args(flags)), momentum, "{flags:?}");
        }
        let named = train_args(&["--lr", "0.1"]);
        assert_eq!(gd_alternative(&named), Some((OptimizerKind::Lbfgs, "--lr")));
    }

    #[test]
    fn checkpoint_every_0_is_refused() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("run.ckpt");
        let path = path.to_str().expect("a UTF-8 path");
        let refused = |every: &str| {
            check_train_outputs(&train_args(&[
                "--checkpoint",
                path,
                "--checkpoint-every",
                every,
            ]))
            .err()
            .map(|e| e.to_string())
        };
        let said = refused("0");
        assert_eq!(
            said.as_deref(),
            Some("--checkpoint-every must be at least 1")
        );
        assert_eq!(refused("1"), None);
    }

    /// bench's counts go up to 1,000,000, that one included.
    #[test]
    fn bench_takes_up_to_a_million_samples() {
        assert!(bench(&["--samples", "1000000"]).is_ok());
        let said = bench(&["--samples", "1000001"]).unwrap_err().to_string();
        assert_eq!(said, "--samples must be at most 1000000, not 1000001");
    }

    #[test]
    fn bench_refuses_0_shards() {
        let said = bench(&["--shards", "0"]).unwrap_err().to_string();
        assert_eq!(said, "--shards must be at least 1");
    }

    /// Under mpirun standard output is a terminal's, whatever it is
    /// redirected to: --save - is refused with --distributed.
    #[test]
    fn a_distributed_run_refuses_save_to_standard_output() {
        let said = check_train_outputs(&train_args(&["--save", "-", "--distributed"]))
            .unwrap_err()
            .to_string();
        assert!(
            said.starts_with("--save is standard output, which mpirun relays"),
            "{said}"
        );
    }

    /// A bench that times no cpu backend refuses that backend's settings.
    #[test]
    fn a_bench_without_the_cpu_refuses_its_settings() {
        let said = bench(&["--backends", "gpu", "--cpu-isa", "baseline"]).unwrap_err();
        assert!(
            said.to_string()
                .starts_with("--cpu-isa is a setting of the cpu backend"),
            "{said}"
        );
        let said = bench(&["--backends", "gpu", "--threads", "2"]).unwrap_err();
        assert!(
            said.to_string()
                .starts_with("--threads sets the cpu backend's threads"),
            "{said}"
        );
        assert!(bench(&[
            "--backends",
            "cpu",
            "--cpu-isa",
            "baseline",
            "--threads",
            "2"
        ])
        .is_ok());
    }
}
