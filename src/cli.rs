//! The command line: clap derive, doc comments as help.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::bench::BackendKind;
use crate::data::{Delimiter, TargetTransform, Unseen};
use crate::gpu::mixed::Precision;
use crate::gpu::KernelChoice;
use crate::model::Activation;
use crate::optim::{OptimizerKind, ScheduleKind, ScheduleSettings, Settings};

/// Train regression MLPs with WGSL compute shaders through wgpu, checked
/// against an exact CPU reference.
#[derive(Debug, Parser)]
#[command(name = "shadertrain", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process, so the size of the largest variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network on a CSV file or a synthetic batch, and optionally save it.
    Train(TrainArgs),
    /// Predict with a saved model, one value per CSV row.
    Predict(PredictArgs),
    /// Rank the columns a saved model reads by permutation importance: how much the MSE rises when each is shuffled among the rows.
    Importance(ImportanceArgs),
    /// Write the synthetic data set as CSV: y = sin(πx0)·cos(πx1) + 0.5·x2 with x ~ U(−1, 1).
    Gen(GenArgs),
    /// Time epochs on the benchmark shapes S0–S4 or any other, CPU against GPU.
    Bench(BenchArgs),
    /// List the GPU adapters wgpu finds and which one each backend would pick.
    Info(InfoArgs),
    /// Print a shell completion script (e.g. `shadertrain completions bash > /etc/bash_completion.d/shadertrain`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `--activation`'s values: each activation's name, with one line of help.
impl ValueEnum for Activation {
    fn value_variants<'a>() -> &'a [Self] {
        &Activation::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Activation::Sigmoid => "σ(z) = 1 / (1 + e^(−z)), in its two-branch stable form",
            Activation::Tanh => "tanh(z), with z clamped to ±15",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

/// `train --backend`: one trainer, or `auto` to pick the GPU or the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    Auto,
    Kind(BackendKind),
}

impl BackendChoice {
    const ALL: [BackendChoice; 4] = [
        BackendChoice::Auto,
        BackendChoice::Kind(BackendKind::Cpu),
        BackendChoice::Kind(BackendKind::Reference),
        BackendChoice::Kind(BackendKind::Gpu),
    ];
}

/// The values are the kinds' names; the help is `train`'s.
impl ValueEnum for BackendChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let (name, help) = match *self {
            BackendChoice::Auto => (
                "auto",
                "A hardware GPU if there is one, otherwise the CPU (with a notice saying why)",
            ),
            BackendChoice::Kind(kind) => (
                kind.name(),
                match kind {
                    BackendKind::Cpu => "The fast CPU trainer: f32, every core, fused row blocks",
                    BackendKind::Reference => {
                        "The plain f64 reference trainer every other backend is tested against"
                    }
                    BackendKind::Gpu => {
                        "A wgpu adapter, software adapters such as lavapipe included"
                    }
                },
            ),
        };
        Some(PossibleValue::new(name).help(help))
    }
}

/// A number as the float options read it: f64's own reading, refusing
/// text that names a value no f64 holds, which it would read as 0
/// (`1e-400`) or as inf (`1e400`) without a word.
pub fn real(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = (s.parse()).map_err(|_| match s.trim().is_empty() {
        true => "expected a number, not nothing",
        false => "expected a number, such as 0.01 or 1e-3",
    })?;
    let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
    if v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!(
            "{s} is nearer 0 than any number an f64 holds (the least is about 4.9e-324), so it would read as 0"
        ));
    }
    if v.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return Err(format!(
            "{s} is past the largest number an f64 holds (about 1.8e308), so it would read as inf; give inf itself where the option takes it"
        ));
    }
    Ok(v)
}

/// `train --lr`: a rate, or `auto` for a range test's choice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrChoice {
    Rate(f64),
    Auto,
}

impl std::str::FromStr for LrChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(LrChoice::Auto),
            _ => match s.parse::<f64>() {
                Ok(_) => real(s).map(LrChoice::Rate),
                Err(_) => Err(format!(
                    "expected a learning rate (a number such as 0.01) or auto, not '{s}'"
                )),
            },
        }
    }
}

/// `train --keep`: which of the run's parameters it saves.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The last epoch's: the parameters after every update the run made.
    #[default]
    Last,
    /// The lowest training loss's: the parameters at the start of the
    /// epoch with the lowest loss, or the final ones where none is lower.
    Best,
    /// The lowest validation loss's (needs --validation-split, or --folds
    /// without --save): of the parameters whose held-out loss was
    /// measured, those with the lowest.
    #[serde(rename = "best-val")]
    BestVal,
}

/// `train --hold-out`: which rows `--validation-split` holds out.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum HoldOut {
    /// Rows chosen by --seed, from anywhere in the file.
    #[default]
    Random,
    /// The file's last rows: for rows in time order, the held-out rows
    /// come after every training row, as new rows will (Keras's
    /// validation_split takes these).
    Last,
}

impl HoldOut {
    /// Whether it is the default (`random`), which runs record by saying
    /// nothing.
    pub fn is_random(&self) -> bool {
        *self == HoldOut::Random
    }
}

/// `train --missing`: what a missing cell ([`crate::data::is_missing`]) in
/// a column read does.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// The first stops the run, with its line and column.
    #[default]
    Error,
    /// Every row with one is left out; the summary says how many.
    Drop,
    /// A missing feature cell gets its column's mean over the training
    /// rows, which the model keeps for predict; a row with a missing
    /// target is left out.
    Mean,
    /// As mean, with the column's median, which an outlier does not move.
    Median,
}

impl Missing {
    /// The value a missing feature cell gets, where it gets one.
    pub fn fill(self) -> Option<crate::data::Fill> {
        match self {
            Missing::Mean => Some(crate::data::Fill::Mean),
            Missing::Median => Some(crate::data::Fill::Median),
            Missing::Error | Missing::Drop => None,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct TrainArgs {
    /// CSV file with a header row; every column but the target is a feature
    /// (this or --synthetic is required). `-` is standard input.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["synthetic", "features"],
          value_parser = path(input_path))]
    pub data: Option<PathBuf>,

    /// What separates the cells of --data: , (a comma), ';' (a
    /// semicolon), tab, or '|' (a bar); quotes, blank lines and line ends
    /// read as in a comma-separated file, and a number's decimal mark is a
    /// point under each unless --decimal-comma is given [default: a
    /// comma; with --resume, the checkpoint's, and another given there
    /// makes the decimal mark a point unless --decimal-comma is given too].
    #[arg(long, value_name = "CHAR", conflicts_with = "synthetic", value_parser = Delimiter::parse)]
    pub delimiter: Option<Delimiter>,

    /// The numbers of --data mark their decimals with a comma, as
    /// spreadsheets in many languages write them: 1,5 is 1.5, and a number
    /// with a point (1.5, or 1.234,5 with a point between thousands) is an
    /// error. Needs --delimiter ';', tab or '|' [default: a point; with
    /// --resume, the checkpoint's].
    #[arg(long, conflicts_with = "synthetic")]
    pub decimal_comma: bool,

    /// Target column of --data [default: with --init, the model's target
    /// where --data has that column; otherwise the last column not named
    /// in --ignore, --categorical or --date].
    #[arg(long, value_name = "NAME", conflicts_with = "synthetic")]
    pub target: Option<String>,

    /// Columns of --data not to read, comma separated (a name that holds a
    /// comma, given whole, is that column), or given again: an id, a date,
    /// text, anything that is not a feature; their cells may hold anything
    /// [default: every column is read].
    #[arg(long, value_name = "NAME[,NAME...]", conflicts_with = "synthetic")]
    pub ignore: Vec<String>,

    /// Columns of --data to one-hot encode, comma separated or given again
    /// (as --ignore takes them): text such as a city or a colour, each
    /// distinct cell (a level) made a feature of its own, named
    /// column=level, 1 in its rows and 0 in the others. The levels are
    /// those of every row of the file, held-out rows included, in byte
    /// order; at most 1000 per column. The model keeps them, and predict
    /// encodes its file with them (a level it was not trained on is an
    /// error, or as predict --unseen says). A missing cell is handled as
    /// --missing says: drop leaves its row out, mean fills each of its
    /// level features with the level's share of the training rows that
    /// hold a level, median gives it the most common level.
    /// The file is held in memory while it is read [default: every column
    /// read is a number].
    #[arg(long, value_name = "NAME[,NAME...]", conflicts_with = "synthetic")]
    pub categorical: Vec<String>,

    /// Columns of --data that hold dates, comma separated or given again
    /// (as --ignore takes them): each cell, such as 2024-03-01 or
    /// 2024-03-01T14:30:00Z (ISO 8601: a date, optionally a time, a Z or an
    /// offset such as +01:00), read as the days since 1970-01-01 UTC, a
    /// time as the day's fraction, to about 3 minutes (f32). The model
    /// keeps which columns are dates, and predict reads them so. A missing
    /// cell is handled as --missing says [default: none; a date is text,
    /// to --ignore].
    #[arg(long, value_name = "NAME[,NAME...]", conflicts_with = "synthetic")]
    pub date: Vec<String>,

    /// What a missing cell in a column read does: an empty cell, or one of
    /// NA, N/A, n/a, NaN, nan, -NaN, -nan, NULL, null, None, `<NA>`, #N/A, #NA
    /// or ? (the markers pandas and R write, and ?). error stops at the
    /// first, with its line and column; drop leaves out every row with one,
    /// in a feature or the target, and the summary says how many, by column;
    /// mean fills a missing feature cell with its column's mean over the
    /// training rows (held-out rows fill with the same), saves those means
    /// in the model for predict to fill with, and leaves out the rows whose
    /// target is missing; median does the same with each column's median,
    /// which suits skewed columns (prices, incomes). Text that is neither a
    /// number nor a marker is an error either way.
    #[arg(long, value_name = "WHAT", default_value_t = Missing::Error, value_enum)]
    pub missing: Missing,

    /// Train on N rows of the synthetic task, y = sin(πx0)·cos(πx1) + 0.5·x2
    /// with x ~ U(−1, 1), instead of a file (this or --data is required;
    /// needs --features); with --backend gpu they are generated on the device
    /// (on the host with --standardize, --target-transform log or asinh,
    /// --validation-split, --folds, --batch-size, or --lr auto on more
    /// than 16,384 rows).
    #[arg(long, value_name = "N")]
    pub synthetic: Option<usize>,

    /// Feature count of the synthetic task (required with --synthetic).
    #[arg(long, value_name = "F")]
    pub features: Option<usize>,

    /// Hidden layer widths, comma separated: 64 is one hidden layer, 64,32 two
    /// [default: 64, or the --init model's].
    #[arg(long, value_name = "H[,H...]", value_parser = parse_hidden)]
    pub hidden: Option<HiddenSpec>,

    /// Hidden-layer activation [default: sigmoid, or the --init model's].
    #[arg(long, value_enum)]
    pub activation: Option<Activation>,

    /// How each gradient (full-batch, or a mini-batch's with --batch-size)
    /// becomes an update (torch.optim's rules, docs/optimizers.md): gd is
    /// θ ← θ − α·g; momentum and nesterov add a velocity; adam adapts a
    /// step per weight, and adamw adds a decoupled weight decay (0.01 by
    /// default); lbfgs is full-batch L-BFGS with a strong-Wolfe line
    /// search, usually the fastest full-batch optimizer to a low loss (one
    /// epoch per accepted iteration); on many rows, momentum or adam with
    /// --batch-size is faster still [default: lbfgs; for a new run of
    /// 50,000 training rows or more, and 30 or more a parameter, on the cpu
    /// backend, adam in mini-batches of 200 at --lr auto's rate on a
    /// cosine schedule, with a notice (not with --halving, --shards,
    /// --distributed, --lr-schedule, --gtol or --history-size); gd,
    /// the original notes' algorithm, where --lr,
    /// --batch-size, --clip-grad-norm or a --lr-schedule other than
    /// constant is given, so that
    /// such commands give the model they gave before lbfgs was the
    /// default].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,

    /// Learning rate α, the first epoch's with --lr-schedule (with
    /// one-cycle, the peak, which the first epoch's α/25 rises to) [default: 0.1
    /// for gd, momentum and nesterov; 0.001 for adam and adamw; 1 for
    /// lbfgs, where it scales the first trial step of each line search].
    /// `auto` first runs a learning-rate range test from the run's initial
    /// parameters (up to 100 epochs at rates growing from 1e-6 to 10, until
    /// the loss blows up; with --batch-size B, on the rows of the run's
    /// first 8 batches; with full batches on more than 16,384 rows, on
    /// 16,384 of them chosen by --seed) and trains with a tenth of the
    /// rate that left the lowest loss (with --lr-schedule one-cycle, that
    /// rate itself, as the peak); a run at that rate that diverges is
    /// trained again from the start at a third of it, up to 3 times: gd,
    /// momentum, nesterov, adam and adamw, on any backend
    /// (docs/optimizers.md, "Choosing the rate: --lr auto"). Without
    /// --optimizer, --lr makes gd the default.
    #[arg(long, value_name = "ALPHA|auto", allow_negative_numbers = true)]
    pub lr: Option<LrChoice>,

    /// Momentum μ of momentum and nesterov, in [0, 1) [default: 0.9].
    #[arg(long, value_parser = real, value_name = "MU", allow_negative_numbers = true)]
    pub momentum: Option<f64>,

    /// Adam's and AdamW's β1, in [0, 1) [default: 0.9].
    #[arg(long, value_parser = real, value_name = "B1", allow_negative_numbers = true)]
    pub beta1: Option<f64>,

    /// Adam's and AdamW's β2, in [0, 1) [default: 0.999].
    #[arg(long, value_parser = real, value_name = "B2", allow_negative_numbers = true)]
    pub beta2: Option<f64>,

    /// Adam's and AdamW's ε, added to √v̂; positive [default: 1e-8].
    #[arg(long, value_parser = real, value_name = "EPS", allow_negative_numbers = true)]
    pub eps: Option<f64>,

    /// L-BFGS: (s, y) pairs kept for the curvature estimate [default: 10].
    #[arg(long, value_name = "M")]
    pub history_size: Option<usize>,

    /// L-BFGS: stop once the gradient's largest component is at most this
    /// [default: 1e-7].
    #[arg(long, value_parser = real, value_name = "G", allow_negative_numbers = true)]
    pub gtol: Option<f64>,

    /// Weight decay λ, as torch.optim's weight_decay. gd, momentum,
    /// nesterov and adam take g + λ·θ for the gradient g: an L2 penalty of
    /// λ/2·‖θ‖² on every weight and bias that keeps the parameters small
    /// (the loss reported is the MSE alone); lbfgs minimises the MSE plus
    /// that penalty. adamw instead shrinks θ by 1 − α·λ before each step
    /// (decoupled). Try 1e-4 to 1e-1 where the validation loss rises
    /// while the training loss falls, or on few rows; --folds 5 --grid
    /// weight-decay=0,1e-3,1e-2,1e-1 chooses one. Not given, a new run of
    /// the default lbfgs on a file's rows with fewer training rows than
    /// twice the network's parameters (50 or more) chooses it so, among
    /// those values, before it trains (docs/optimizers.md, "Few rows")
    /// [default: 0, or that choice; 0.01 for adamw].
    #[arg(long, value_parser = real, value_name = "LAMBDA", allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,

    /// Clip each update's gradient to this norm first, as
    /// torch.nn.utils.clip_grad_norm_(max_norm=C) before optimizer.step():
    /// a gradient g (of the MSE; the full batch's, or the mini-batch's)
    /// becomes g·C/(‖g‖ + 1e-6) where that factor is below 1 (‖g‖ above
    /// C − 1e-6), one factor for every weight
    /// and bias, before weight decay and the rule. It caps the steps while
    /// the gradient is large (often the first epochs), so a higher rate
    /// can survive them; try 1 or 0.1 and compare (docs/optimizers.md).
    /// gd, momentum, nesterov, adam and adamw [default: no clipping].
    #[arg(long, value_parser = real, value_name = "C", allow_negative_numbers = true)]
    pub clip_grad_norm: Option<f64>,

    /// How the learning rate changes from epoch to epoch (with
    /// --batch-size, every update of an epoch takes that epoch's rate);
    /// gd, momentum, nesterov, adam and adamw, and constant for lbfgs too
    /// (docs/optimizers.md) [default: constant; cosine where many rows
    /// choose adam in
    /// mini-batches (see --optimizer)].
    #[arg(long, value_name = "SCHEDULE", value_enum)]
    pub lr_schedule: Option<ScheduleKind>,

    /// cosine, plateau and one-cycle: the rate it falls to, at least 0 and
    /// below --lr [default: 0; for one-cycle, --lr/250,000, the first rate
    /// over 10⁴, as torch's OneCycleLR].
    #[arg(long, value_parser = real, value_name = "MIN", allow_negative_numbers = true)]
    pub lr_min: Option<f64>,

    /// cosine: epochs it takes to fall from --lr to --lr-min, which epoch
    /// T runs at (with T = --epochs, the run's last epoch, T − 1, is just
    /// above it, as in torch); one-cycle: the cycle's length. Later epochs keep --lr-min. Set --epochs (or
    /// this) to the length you expect the run to have [default: --epochs].
    #[arg(long, value_name = "T")]
    pub lr_epochs: Option<usize>,

    /// step: epochs between cuts of the rate by --lr-gamma (required with
    /// step).
    #[arg(long, value_name = "K")]
    pub lr_every: Option<usize>,

    /// step and plateau: the factor of each cut, in (0, 1] (below 1 for
    /// plateau) [default: 0.1]. exponential: the factor per epoch, any
    /// positive number (above 1 the rate grows) (required with
    /// exponential).
    #[arg(long, value_parser = real, value_name = "G", allow_negative_numbers = true)]
    pub lr_gamma: Option<f64>,

    /// plateau: cut the rate after more than P epochs in a row whose
    /// training loss is not below the best by the fraction --lr-threshold
    /// [default: 10].
    #[arg(long, value_name = "P")]
    pub lr_patience: Option<usize>,

    /// plateau: the relative fall below the best loss that counts as an
    /// improvement, in [0, 1) [default: 1e-4].
    #[arg(long, value_parser = real, value_name = "T", allow_negative_numbers = true)]
    pub lr_threshold: Option<f64>,

    /// one-cycle: the share of the cycle in which the rate rises from
    /// --lr/25 to --lr, in (0, 1) [default: 0.3].
    #[arg(long, value_parser = real, value_name = "P", allow_negative_numbers = true)]
    pub lr_pct_start: Option<f64>,

    /// Train in mini-batches of B rows: every epoch shuffles the rows
    /// (by --seed and the epoch) and makes one update per B of them (⌈N/B⌉
    /// updates), each from the exact gradient of those rows' mean squared
    /// error. The loss reported per epoch is still that of every training
    /// row. With gd, momentum, nesterov, adam or adamw, in f32 or on the
    /// reference;
    /// `--backend auto` then trains on the CPU, and `--backend gpu` gathers
    /// each batch on the device; not with --shards [default: the full
    /// batch, one update per epoch].
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,

    /// Stop at the first epoch whose training loss is at most this: time to
    /// a target loss. In the loss's units: standardized ones, where
    /// predicting the mean scores 1 (rows from --data, unless
    /// --no-standardize), or the target's squared (of its transform, with
    /// --target-transform).
    /// Recorded in checkpoints: a resumed run keeps it unless given another
    /// [default: no target].
    #[arg(long, value_parser = real, value_name = "LOSS", allow_negative_numbers = true)]
    pub target_loss: Option<f64>,

    /// Which parameters --save writes. best: those with the lowest training
    /// loss the run measured (at the start of each epoch, and at the end);
    /// reading them back, at the end and at each checkpoint, costs at most
    /// a rerun of one submit's epochs (up to 256) on the GPU, and nothing
    /// on the CPU. best-val: those with the lowest validation loss, measured
    /// every epoch: early stopping's choice, read back as best's are on the
    /// GPU. The run itself goes on as with last, and a checkpoint holds
    /// both the last and the kept parameters.
    #[arg(long, value_name = "WHICH", default_value_t = Keep::Last, value_enum)]
    pub keep: Keep,

    /// Most epochs to run, in all: updates, or passes over the rows with
    /// --batch-size [default: 200; 20 where many rows choose adam in
    /// mini-batches (see --optimizer); or the --resume checkpoint's].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,

    /// Stop when the loss falls by less than this fraction (relative, below 1) over
    /// one epoch (an epoch where it rose, or whose loss is above the
    /// first, never stops the run); 0 runs every epoch.
    #[arg(
        long,
        value_parser = real,
        default_value_t = 0.0,
        value_name = "T",
        allow_negative_numbers = true
    )]
    pub tol: f64,

    /// With --tol (required): stop after P epochs in a row that do not
    /// improve the best loss by the fraction tol, at an epoch where the loss
    /// did not rise and is within tol of the best (0: stop on one epoch's
    /// change below tol).
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub patience: usize,

    /// Stop cleanly (and save) once this many seconds of training have
    /// passed; 2^32 or more (136 years), or inf, is no limit. A cosine or
    /// one-cycle schedule it stops part way (as a run on many rows trains)
    /// leaves the rate high, and a notice names the --epochs that would
    /// end it in about the time [default: no limit].
    #[arg(long, value_parser = real, value_name = "SECONDS")]
    pub max_time: Option<f64>,

    /// Seed of the synthetic data, the initial weights, the validation split,
    /// the mini-batches' order and --lr auto's sample of the rows.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Standardise every feature and the target to mean 0, std 1 with
    /// statistics of the training rows, stored in the model so `predict`
    /// undoes it; the loss shown while training is then in standardised
    /// units, where predicting the mean scores 1 (the summary gives the
    /// target's too). Columns on scales far from ±1 (a price in the
    /// hundreds of thousands, a feature in the thousands) otherwise stall
    /// or diverge every optimizer; with --no-standardize too, the last
    /// given wins [default: on with --data, or as the --init model was
    /// trained; off for --synthetic rows, which are generated near ±1].
    #[arg(long, overrides_with = "no_standardize")]
    pub standardize: bool,

    /// Train on the raw values of the features and the target: the loss is
    /// in the target's units squared (with --standardize too, the last
    /// given wins).
    #[arg(long, overrides_with = "standardize")]
    pub no_standardize: bool,

    /// Train on a transform of the target: log (every value above 0: a
    /// price, an income, a duration) or asinh (any sign, zeros too: a
    /// count, a balance; about ln 2y for large y). A target with heavy
    /// tails is otherwise fit by a squared error that a few far rows rule.
    /// The model keeps it, and predict transforms its predictions back
    /// (exp, sinh) into the target's own units; the losses and R² shown
    /// while training are of the transformed target [default: none, or
    /// the --init model's].
    #[arg(long, value_name = "HOW", value_enum)]
    pub target_transform: Option<TargetTransform>,

    /// Hold out this fraction of the rows (0 < FRAC < 1, chosen by --seed;
    /// the file's last with --hold-out last) and report their MSE as the
    /// validation loss, measured at every
    /// epoch's start (on the GPU, on the device in the epochs' own submit)
    /// [default: no split].
    #[arg(long, value_parser = real, value_name = "FRAC", allow_negative_numbers = true)]
    pub validation_split: Option<f64>,

    /// Which rows --validation-split holds out: random ones, chosen by
    /// --seed, or the last of the file (after any --missing drop left
    /// rows out), for rows in time order, so that the held-out loss
    /// measures the fit on rows that come after every training row, as
    /// new ones will; recorded in checkpoints [default: random].
    #[arg(long, value_name = "ROWS", value_enum, requires = "validation_split")]
    pub hold_out: Option<HoldOut>,

    /// K-fold cross-validation: the rows are cut into K folds (chosen by
    /// --seed, as --validation-split chooses), and the run is trained K
    /// times from the same start, each time holding out one fold as its
    /// validation rows; prints each fold's held-out MSE and R² and their
    /// mean and standard deviation. With --save, the run is then trained
    /// once more on every row (with --grid's best options), and that
    /// model is saved [default: no folds].
    #[arg(long, value_name = "K", conflicts_with_all = [
        "validation_split", "checkpoint", "history", "plot", "lr_plot", "distributed",
    ])]
    pub folds: Option<usize>,

    /// With --folds: write each row's prediction by the fold that held it
    /// out (out-of-fold predictions, in the target's units) here as CSV,
    /// `fold,TARGET_pred`, a line per row of the file, in file order, so
    /// that the lines stand beside the file's rows (a row --missing leaves
    /// out has two empty cells), also when a fold diverged; `-` is standard
    /// output [default: not written].
    #[arg(long, value_name = "FILE.csv", value_parser = path(output_path))]
    pub fold_predictions: Option<PathBuf>,

    /// With --folds: a grid search. Cross-validate the run once for each
    /// combination of the values given, and rank the combinations by their
    /// mean held-out MSE. KEY is an option of the network, the optimizer,
    /// its schedule or its stops, without its dashes (lr, hidden,
    /// weight-decay, batch-size, ...); its values are separated by commas,
    /// and a value that holds commas goes in brackets (`hidden=16,[64,32]`).
    /// With --random, a number's values may instead be a range that it
    /// draws from, both ends included: LOW..HIGH uniformly, log:LOW..HIGH
    /// log-uniformly (such as lr=log:1e-4..0.1), whole numbers for a count
    /// such as batch-size; both ends must be values the option takes.
    /// Given again for each option varied; an option varied is not also
    /// given on its own; at most 1000 combinations. --fold-predictions then
    /// holds the best combination's, and --save trains it on every row
    /// [default: no grid].
    #[arg(long, value_name = "KEY=V1,V2,...", value_parser = parse_grid_axis)]
    pub grid: Vec<GridAxis>,

    /// With --grid: a random search. Cross-validate N combinations drawn at
    /// random (by --seed) instead of every one: each option's value is
    /// drawn on its own, from its list or its range, and a combination
    /// drawn twice is drawn again. With lists and whole-number ranges
    /// alone, N is at most their combinations. A drawn real keeps 4
    /// significant digits, or more in a range narrower than its value. A
    /// larger N draws the same first combinations, then more; at most
    /// 1000. With --halving, its first round tries the N [default: every
    /// combination, no ranges].
    #[arg(long, value_name = "N",
          value_parser = whole_in::<1, { MOST_COMBINATIONS as u64 }, usize>)]
    pub random: Option<usize>,

    /// With --grid: successive halving by FACTOR, which finds the best
    /// combination for a fraction of the full grid's epochs. The
    /// combinations are cross-validated in rounds, and only the best
    /// 1/FACTOR of a round (rounded up) go on to the next, which trains
    /// FACTOR times as many epochs; the last round trains --epochs, with at
    /// most FACTOR combinations left. 16 combinations by 3 with --epochs 60
    /// are 3 rounds: 16 with 6 epochs, 6 with 20, and 2 with 60. Fewer
    /// rounds where the first would train fewer than --halving-min-epochs
    /// (a notice says so). A combination that starts slowly may be dropped
    /// early [default: every combination trains --epochs].
    #[arg(long, value_name = "FACTOR", value_parser = whole_in::<2, { u32::MAX as u64 }, u32>)]
    pub halving: Option<u32>,

    /// With --halving: the fewest epochs its first round trains. Where the
    /// rounds --halving needs would start with fewer, there are fewer
    /// rounds (the first of them), and the last keeps more than FACTOR
    /// combinations. A first round too short to tell the combinations
    /// apart drops good ones by chance [default: a tenth of --epochs,
    /// rounded up].
    #[arg(long, value_name = "N", value_parser = whole_in::<1, { u64::MAX }, usize>)]
    pub halving_min_epochs: Option<usize>,

    /// The `--grid` options, and `--precision`, given on the command
    /// line, whatever their value (a default given explicitly too), where
    /// the command line was read by [`Cli::try_parse_noting_given`]; not
    /// an option. Parsed otherwise, it is empty, and a resume reads a
    /// `--precision f32` given as not given (it takes a mixed
    /// checkpoint's precision).
    #[arg(skip)]
    pub given: Vec<String>,

    /// Early stopping: stop at the first epoch P epochs after the one with
    /// the lowest validation loss (needs --validation-split, or --folds
    /// without --save; the same epoch
    /// on every backend and however the GPU batches its epochs). With
    /// --keep best-val the model saved is that lowest's [default: no such
    /// stop].
    #[arg(long, value_name = "P")]
    pub val_patience: Option<usize>,

    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,

    #[command(flatten)]
    pub device: DeviceArgs,

    /// Train data-parallel over the processes of an MPI job: `mpirun -np P
    /// shadertrain train … --distributed` (a build with the `mpi` feature).
    /// Each process holds only its shards' rows and trains them on
    /// --backend (with a GPU, the one at its place on its machine among the
    /// suitable adapters); only process 0 writes files. Implies --shards 16.
    #[arg(long)]
    pub distributed: bool,

    /// Cut the rows into K contiguous shards, compute each shard's loss and
    /// gradient apart and sum them in shard order on the host (f64): the
    /// result is the same, bit for bit, for any number of processes, so a
    /// one-process `--shards K` run equals `mpirun -np P … --distributed
    /// --shards K` for every P ≤ K [default: 16 with --distributed;
    /// otherwise no shards, one full-batch pass].
    #[arg(long, value_name = "K")]
    pub shards: Option<usize>,

    /// Start from a saved model instead of fresh weights [default: fresh
    /// weights from --seed].
    #[arg(long, value_name = "MODEL", value_parser = path(plain_path))]
    pub init: Option<PathBuf>,

    /// Save the trained model here (safetensors, written atomically); `-`
    /// is standard output. With --folds, the model of a last run on every
    /// row [default: not saved].
    #[arg(long, value_name = "MODEL", value_parser = path(output_path))]
    pub save: Option<PathBuf>,

    /// Write the loss per epoch here as CSV: epoch,loss (and val_loss with
    /// --validation-split); `-` is standard output [default: not written].
    #[arg(long, value_name = "FILE.csv", value_parser = path(output_path))]
    pub history: Option<PathBuf>,

    /// Save a checkpoint here (atomically) every --checkpoint-every epochs,
    /// on Ctrl-C, SIGTERM or SIGHUP, after a divergence (the last good
    /// parameters) and at the end; --resume FILE continues the run. A new
    /// run refuses a FILE whose run did not end there (interrupted, stopped
    /// by --max-time, or killed): resume it, or delete it to start anew
    /// [default: none].
    #[arg(long, value_name = "FILE", value_parser = path(checkpoint_path))]
    pub checkpoint: Option<PathBuf>,

    /// Epochs between checkpoints.
    #[arg(long, value_name = "K", default_value_t = 100)]
    pub checkpoint_every: usize,

    /// Continue the run a checkpoint recorded, with its data and options;
    /// --epochs may raise the total, --data may name its data file moved
    /// (the same values) [default: a new run].
    #[arg(long, value_name = "FILE", value_parser = path(plain_path), conflicts_with_all = [
        "target", "ignore", "categorical", "date", "missing", "synthetic", "features", "hidden", "activation", "lr", "tol", "seed", "init",
        "patience", "standardize", "no_standardize", "target_transform", "validation_split", "hold_out", "optimizer", "momentum", "beta1", "beta2",
        "eps", "history_size", "gtol", "shards", "batch_size", "lr_schedule", "lr_min",
        "lr_epochs", "lr_every", "lr_gamma", "lr_patience", "lr_threshold", "lr_pct_start", "keep",
        "val_patience", "weight_decay", "clip_grad_norm", "folds",
    ])]
    pub resume: Option<PathBuf>,

    /// No progress bar, no summary and no notices (errors and warnings
    /// still print). The bar is drawn only on a terminal anyway.
    #[arg(long, short)]
    pub quiet: bool,

    /// Write a JSON summary of the run here (schema in the README); `-` is
    /// standard output [default: not written].
    #[arg(long, value_name = "FILE.json", value_parser = path(output_path))]
    pub json: Option<PathBuf>,

    /// Draw the loss curve (log scale; validation loss too, the plateau
    /// schedule's cuts and --keep's epoch) as PNG or SVG, by the extension
    /// [default: not drawn].
    #[arg(long, value_name = "FILE.png|FILE.svg", value_parser = path(plain_path))]
    pub plot: Option<PathBuf>,

    /// With --lr auto: draw its range test, the loss after each epoch's
    /// update against that epoch's rate (log scales), with the lowest
    /// loss and the rate chosen marked (and, after runs at it diverged,
    /// the rate trained at), as PNG or SVG by the extension [default: not
    /// drawn].
    #[arg(long, value_name = "FILE.png|FILE.svg", value_parser = path(plain_path))]
    pub lr_plot: Option<PathBuf>,

    /// Seconds to wait for the GPU before a readback is an error (one
    /// readback may wait on several epochs' work, so give it more than an
    /// epoch takes); 2^32 or more, or inf, waits without limit [default:
    /// 600].
    #[arg(long, value_parser = real, value_name = "SECONDS")]
    pub gpu_timeout: Option<f64>,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model saved by `train --save` (required). Its predictions are in
    /// the target's units: a standardized model's outputs are
    /// unstandardized, and those of a model trained with
    /// --target-transform transformed back (exp, sinh).
    #[arg(long, value_name = "MODEL", value_parser = path(plain_path))]
    pub model: PathBuf,

    /// CSV file with the model's feature columns, matched by name; other
    /// columns (an id, text) are not read (required). A column the model
    /// one-hot encodes (train --categorical) holds its text, each cell one
    /// of the levels the model was trained on. If it also has the target
    /// column, a number in every row, the MSE and R² are printed. `-` is
    /// standard input.
    #[arg(long, value_name = "FILE.csv", value_parser = path(input_path))]
    pub data: PathBuf,

    /// What separates the cells of --data, as train --delimiter takes it:
    /// , ';' tab or '|'. The predictions are written comma-separated.
    #[arg(long, value_name = "CHAR", default_value = ",", value_parser = Delimiter::parse)]
    pub delimiter: Delimiter,

    /// The numbers of --data mark their decimals with a comma (1,5), as
    /// train --decimal-comma reads them; needs --delimiter. The
    /// predictions are written with a decimal point.
    #[arg(long)]
    pub decimal_comma: bool,

    /// Write the predictions here, one column `<target>_pred`; `-` is
    /// standard output [default: standard output].
    #[arg(long, value_name = "FILE.csv", value_parser = path(output_path))]
    pub out: Option<PathBuf>,

    /// Copy these columns of --data, comma separated, into the predictions
    /// before `<target>_pred`, each row's cells as the CSV reader reads
    /// them (quotes undone, whitespace around the text trimmed, quoted
    /// again where needed; a cell that is not UTF-8 is an error at its
    /// line and column): an id or a date to join the predictions back
    /// by (`''` is pandas' unnamed index column). The file is then read
    /// whole into memory. A name that holds a comma, given whole, is that
    /// column; or given again [default: the predictions alone].
    #[arg(long, value_name = "NAME,...")]
    pub keep: Vec<String>,

    /// Write the rows' count and, where the file has the target column,
    /// the MSE, RMSE, MAE and R² here as JSON (schema in the README); `-`
    /// is standard output [default: not written].
    #[arg(long, value_name = "FILE.json", value_parser = path(output_path))]
    pub json: Option<PathBuf>,

    /// What a missing feature cell (empty, or a marker such as NA, as train
    /// --missing reads them) does: error stops at the first, with its line
    /// and column; blank leaves that row's prediction empty, in its place,
    /// and out of the scores, as it leaves out rows with no target value;
    /// fill gives it the training mean (or median) of its column, which a
    /// model trained with train --missing mean (or median) keeps, and
    /// scores the rows that have a target value, as blank does [default:
    /// fill for such a model, else error].
    #[arg(long, value_name = "WHAT", value_enum)]
    pub missing: Option<Blanks>,

    /// What a cell of a one-hot encoded column (train --categorical) does
    /// when its level is not one the model was trained on: error stops at
    /// the first, with its line and column; zeros reads it as none of the
    /// model's levels (each level's feature 0, as scikit-learn's
    /// OneHotEncoder with handle_unknown="ignore"); missing reads it as a
    /// missing cell, which --missing blank or fill then takes. A notice
    /// counts such cells by column [default: error].
    #[arg(long, value_name = "WHAT", value_enum)]
    pub unseen: Option<Unseen>,

    /// No notices and no line of scores (errors and warnings still print;
    /// --json still gets the scores).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `predict --missing`: what a missing feature cell does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Blanks {
    /// The first stops the command, with its line and column.
    Error,
    /// The row's prediction is left empty, and it is not scored.
    Blank,
    /// The cell gets the training mean or median the model keeps (a model
    /// trained with train --missing mean or median).
    Fill,
}

/// `importance`: each column's permutation importance for a saved model.
#[derive(Debug, Args)]
pub struct ImportanceArgs {
    /// A model saved by `train --save` (required).
    #[arg(long, value_name = "MODEL", value_parser = path(plain_path))]
    pub model: PathBuf,

    /// CSV file with the model's feature columns and its target column,
    /// matched by name as predict matches them; other columns are not read
    /// (required). Rows the model was not trained on (a held-out file) say
    /// what it learnt that carries over; its training rows say what it
    /// leans on. `-` is standard input.
    #[arg(long, value_name = "FILE.csv", value_parser = path(input_path))]
    pub data: PathBuf,

    /// What separates the cells of --data, as train --delimiter takes it:
    /// , ';' tab or '|'.
    #[arg(long, value_name = "CHAR", default_value = ",", value_parser = Delimiter::parse)]
    pub delimiter: Delimiter,

    /// The numbers of --data mark their decimals with a comma (1,5), as
    /// train --decimal-comma reads them; needs --delimiter.
    #[arg(long)]
    pub decimal_comma: bool,

    /// Shuffles of each column, from 1 to 1000; the table gives the mean
    /// rise of the MSE over them and its standard deviation [default: 5, as
    /// scikit-learn's n_repeats].
    #[arg(long, value_name = "R", default_value_t = 5, hide_default_value = true,
          value_parser = whole_in::<1, 1000, u32>)]
    pub repeats: u32,

    /// Seed of the shuffles (and of --rows' sample): the same seed gives
    /// the same figures. Every column is shuffled by the same permutations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Score on N of the rows, a sample chosen by --seed, where the file
    /// has more: each shuffle predicts every row scored once per column, so
    /// a sample of 10,000 rows or so ranks the columns of a large file
    /// sooner [default: every row].
    #[arg(long, value_name = "N", value_parser = at_least_two)]
    pub rows: Option<usize>,

    /// What a missing cell (empty, or a marker such as NA, as train
    /// --missing reads them) does: error stops at the first, with its line
    /// and column; drop leaves out every row with one, in a feature or the
    /// target; fill gives a missing feature cell the training mean (or
    /// median) of its column, which a model trained with train --missing
    /// mean (or median) keeps, and leaves out the rows with no target value
    /// [default: fill for such a model, else error].
    #[arg(long, value_name = "WHAT", value_enum)]
    pub missing: Option<Gaps>,

    /// What a cell of a one-hot encoded column (train --categorical) does
    /// when its level is not one the model was trained on: error stops at
    /// the first, with its line and column; zeros reads it as none of the
    /// model's levels (each level's feature 0, as scikit-learn's
    /// OneHotEncoder with handle_unknown="ignore"); missing reads it as a
    /// missing cell, which --missing drop or fill then takes. A notice
    /// counts such cells by column [default: error].
    #[arg(long, value_name = "WHAT", value_enum)]
    pub unseen: Option<Unseen>,

    /// Write the scores and each column's figures, every shuffle's rise
    /// included, here as JSON (schema in the README); `-` is standard
    /// output, and the table then goes to standard error [default: not
    /// written].
    #[arg(long, value_name = "FILE.json", value_parser = path(output_path))]
    pub json: Option<PathBuf>,

    /// No notices (errors, warnings and the table still print).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `importance --missing`: what a missing cell does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Gaps {
    /// The first stops the command, with its line and column.
    Error,
    /// Every row with one, in a feature or the target, is left out.
    Drop,
    /// A missing feature cell gets the training mean or median the model
    /// keeps (a model trained with train --missing mean or median); a row
    /// with no target value is left out.
    Fill,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of rows (required).
    #[arg(long, value_name = "N")]
    pub rows: usize,

    /// Number of feature columns x0, x1, ... (required); the target column is
    /// y. Below 3 the missing features' factors and terms are left out:
    /// F = 1 gives y = sin(πx0), F = 2 gives y = sin(πx0)·cos(πx1).
    #[arg(long, value_name = "F")]
    pub features: usize,

    /// Seed; the same seed gives the same rows as `train --synthetic` on the
    /// CPU (with --backend gpu the rows are generated on the device: the same
    /// X bit for bit, y computed in f32).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Output CSV file; `-` is standard output (required).
    #[arg(long, value_name = "FILE.csv", value_parser = path(output_path))]
    pub out: PathBuf,
}

/// The most combinations `train --grid` may try (each is K runs).
pub const MOST_COMBINATIONS: usize = 1000;

/// One option that `train --grid` varies, and its values as given.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GridAxis {
    /// The option's name without its dashes, such as `lr`.
    #[serde(rename = "option")]
    pub key: String,
    /// Its values: `"values": [...]` or `"range": {...}` in JSON.
    #[serde(flatten)]
    pub values: GridValues,
}

/// What `train --grid` gives an option: values, or a range to draw from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GridValues {
    /// Each value as given (a list such as `[64,32]` without its
    /// brackets), each one a value the option takes.
    Values(Vec<String>),
    /// `LOW..HIGH` or `log:LOW..HIGH`, which only `--random` draws from.
    Range(GridRange),
}

/// A range of `train --grid`'s, both ends included. A whole range's
/// ends are at most [`MOST_WHOLE`], so that they and the one past the
/// high end are exact as `f64`; a real range's width is finite.
#[derive(Clone, Debug, PartialEq)]
pub struct GridRange {
    pub low: f64,
    pub high: f64,
    /// Drawn log-uniformly (`log:`), or else uniformly.
    pub log: bool,
    /// Whole numbers (the option is a count), each as likely (or, with
    /// `log`, each as likely as the width of [ln v, ln(v + 1))).
    pub whole: bool,
    /// As given: `log:1e-4..0.1`.
    pub text: String,
}

/// The largest end of a whole-number range: 2⁵³ − 1, so that the range's
/// top, one past its high end, is an `f64` too.
pub const MOST_WHOLE: u64 = (1 << 53) - 1;

impl GridRange {
    /// The low and the high end as given: `["1e-4", "0.1"]` for
    /// `log:1e-4..0.1`.
    pub fn ends(&self) -> [&str; 2] {
        let ends = self.text.strip_prefix("log:").unwrap_or(&self.text);
        let (low, high) = ends.split_once("..").expect("a range's text holds '..'");
        [low.trim(), high.trim()]
    }
}

/// `{"low": 16, "high": 64, "log": false, "whole": true}` in JSON: a
/// whole range's ends as whole numbers.
impl serde::Serialize for GridRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut range = s.serialize_struct("GridRange", 4)?;
        match self.whole {
            true => {
                range.serialize_field("low", &(self.low as u64))?;
                range.serialize_field("high", &(self.high as u64))?;
            }
            false => {
                range.serialize_field("low", &self.low)?;
                range.serialize_field("high", &self.high)?;
            }
        }
        range.serialize_field("log", &self.log)?;
        range.serialize_field("whole", &self.whole)?;
        range.end()
    }
}

/// What kind of value a `--grid` option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridKind {
    /// One of some names, or a list: values only, no range.
    Choice,
    /// A real number.
    Real,
    /// A whole number.
    Whole,
}

/// `train`'s options alone, to read options as `train` reads them.
#[derive(Parser)]
#[command(name = "train", no_binary_name = true)]
struct TrainOnly {
    #[command(flatten)]
    args: TrainArgs,
}

/// The options `train --grid` varies, each with its field of
/// [`TrainArgs`]: those of the network, the optimizer, its schedule and
/// its stops. Not the data's (the folds read the rows once), nor
/// `--seed` (which cuts the folds), nor the device's.
macro_rules! grid_options {
    ($($key:literal => $field:ident: $kind:ident),* $(,)?) => {
        /// The options `train --grid` can vary, by name.
        pub const GRID_OPTIONS: &[&str] = &[$($key),*];

        /// The kind of value `--grid`'s option `key` takes; `None` for a
        /// name not in [`GRID_OPTIONS`].
        pub fn grid_kind(key: &str) -> Option<GridKind> {
            match key {
                $($key => Some(GridKind::$kind),)*
                _ => None,
            }
        }

        impl TrainArgs {
            /// Option `key` (of [`GRID_OPTIONS`]) set as in `from`.
            fn take_option(&mut self, key: &str, from: &TrainArgs) {
                match key {
                    $($key => self.$field = from.$field.clone(),)*
                    _ => {}
                }
            }

            /// Whether option `key` (of [`GRID_OPTIONS`]) is as in `other`.
            fn same_option(&self, key: &str, other: &TrainArgs) -> bool {
                match key {
                    $($key => format!("{:?}", self.$field) == format!("{:?}", other.$field),)*
                    _ => true,
                }
            }
        }
    };
}

grid_options! {
    "hidden" => hidden: Choice,
    "activation" => activation: Choice,
    "optimizer" => optimizer: Choice,
    "lr" => lr: Real,
    "momentum" => momentum: Real,
    "beta1" => beta1: Real,
    "beta2" => beta2: Real,
    "eps" => eps: Real,
    "history-size" => history_size: Whole,
    "gtol" => gtol: Real,
    "weight-decay" => weight_decay: Real,
    "clip-grad-norm" => clip_grad_norm: Real,
    "lr-schedule" => lr_schedule: Choice,
    "lr-min" => lr_min: Real,
    "lr-epochs" => lr_epochs: Whole,
    "lr-every" => lr_every: Whole,
    "lr-gamma" => lr_gamma: Real,
    "lr-patience" => lr_patience: Whole,
    "lr-threshold" => lr_threshold: Real,
    "lr-pct-start" => lr_pct_start: Real,
    "batch-size" => batch_size: Whole,
    "target-loss" => target_loss: Real,
    "keep" => keep: Choice,
    "epochs" => epochs: Whole,
    "tol" => tol: Real,
    "patience" => patience: Whole,
    "val-patience" => val_patience: Whole,
}

/// The command line's grammar: clap's derive of [`Cli`], every option's
/// value allowed to look like a negative number (`negative_values`), and
/// the requirements of `REQUIRES`.
pub fn command() -> clap::Command {
    with_requirements(negative_values(Cli::command())).mut_subcommand("bench", bench_device_help)
}

/// bench's help for the device options it shares with train, which speak
/// of train's held-out rows and resumed runs.
fn bench_device_help(bench: clap::Command) -> clap::Command {
    let threads = "Threads of the cpu backend's cases, and of the CPU peers' (--peers): 0 is every core, \
                   at most 1024, and each shape runs on at most one per block of 64 of its rows (a sharded \
                   bench's reference shards too); refused where no case and no peer takes it \
                   [default: every core]";
    let isa =
        "The build of the cpu backend's block code to time: the same arithmetic, and the same \
               bits, compiled for x86-64's baseline, for AVX2 with FMA, or for AVX-512; refused \
               where --backends has no cpu [default: the widest this CPU runs]";
    // Train's say what a resume takes; bench resumes nothing.
    let kernels = "GPU kernels of the epoch";
    let precision =
        "Arithmetic of the GPU backend's first hidden layer (docs/spec.md, \"Mixed precision\")";
    bench
        .mut_arg("threads", |a| a.help(threads).long_help(threads))
        .mut_arg("cpu_isa", |a| a.help(isa).long_help(isa))
        .mut_arg("kernels", |a| a.help(kernels).long_help(kernels))
        .mut_arg("precision", |a| a.help(precision).long_help(precision))
}

/// Whether `id` was given in `matches` (on the command line, not by its
/// default).
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    let source = matches.value_source(id);
    source.is_some_and(|s| s != ValueSource::DefaultValue)
}

impl Cli {
    /// The command line as [`command`] reads it, with the requirements
    /// clap lets go checked (`check_requirements`), and for `train`
    /// which of the options `--grid` varies it gave ([`TrainArgs::given`]),
    /// which only clap's matches know.
    pub fn try_parse_noting_given<I, T>(command_line: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = command();
        let command_line = joined_negative_numbers(&command, command_line);
        let matches = (command.try_get_matches_from_mut(command_line.clone()))
            .map_err(|e| extra_word_tip(&command, &command_line, number_error(e)))
            .map_err(|e| delimiter_tip(e, &command_line))
            .map_err(resume_tip)?;
        check_requirements(&command, &matches)?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        if let (Command::Train(args), Some(("train", train))) =
            (&mut cli.command, matches.subcommand())
        {
            args.given = (GRID_OPTIONS.iter().chain(&["precision"]))
                .filter(|key| given(train, &key.replace('-', "_")))
                .map(|k| k.to_string())
                .collect();
        }
        Ok(cli)
    }
}

impl TrainArgs {
    /// These options with `--grid`'s option `key` set to `value` (one of
    /// its values as given), read as `train` reads `--key value`.
    pub fn with_option(&self, key: &str, value: &str) -> Result<TrainArgs, String> {
        let read = read_option(key, value)?;
        let mut args = self.clone();
        args.take_option(key, &read);
        Ok(args)
    }

    /// The `--grid` options (by name) that are given on their own as
    /// well: on the command line ([`TrainArgs::given`]), or set to other
    /// than their default.
    pub fn given_options<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Vec<&'k str> {
        let defaults = TrainOnly::try_parse_from::<[&str; 0], &str>([])
            .expect("train's options have defaults")
            .args;
        let given = |k: &&str| self.given.iter().any(|g| g == k) || !self.same_option(k, &defaults);
        keys.filter(given).collect()
    }
}

/// Which options need which other, per subcommand, by clap's ids (train's
/// `--missing` needs `--data` too, which the run's options check, giving
/// the reason): clap's
/// `requires`, which [`with_requirements`] gives the command, and which
/// [`check_requirements`] checks again, since clap lets a requirement go
/// where the option needed conflicts with one given (`--grid` with
/// `--history`, which the `--folds` that `--grid` needs cannot go with).
const REQUIRES: &[(&str, &[(&str, &str)])] = &[
    (
        "train",
        &[
            ("target", "data"),
            ("ignore", "data"),
            ("categorical", "data"),
            ("date", "data"),
            ("synthetic", "features"),
            ("features", "synthetic"),
            ("fold_predictions", "folds"),
            ("grid", "folds"),
            ("random", "grid"),
            ("halving", "grid"),
            ("halving_min_epochs", "halving"),
            ("checkpoint_every", "checkpoint"),
        ],
    ),
    ("bench", &[("python", "peers"), ("peer_timeout", "peers")]),
];

/// `command` with [`REQUIRES`] as clap's `requires`.
fn with_requirements(mut command: clap::Command) -> clap::Command {
    for &(name, pairs) in REQUIRES {
        command = command.mut_subcommand(name, |mut sub| {
            for &(id, needs) in pairs {
                sub = sub.mut_arg(id, |a| a.requires(needs));
            }
            sub
        });
    }
    command
}

/// The requirement of [`REQUIRES`] the command line breaks, which clap
/// let go because the option needed conflicts with one given: `--grid`
/// with `--history` says that `--grid` needs `--folds`, which cannot be
/// used with `--history`.
fn check_requirements(
    command: &clap::Command,
    matches: &clap::ArgMatches,
) -> Result<(), clap::Error> {
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let (Some(cmd), Some(&(_, pairs))) = (
        command.find_subcommand(name),
        REQUIRES.iter().find(|(n, _)| *n == name),
    ) else {
        return Ok(());
    };
    let is_given = |id: &str| given(sub, id);
    let arg = |id: &str| cmd.get_arguments().find(|a| a.get_id() == id);
    let flag = |a: &clap::Arg| format!("--{}", a.get_long().unwrap_or(a.get_id().as_str()));
    for &(id, needs) in pairs {
        let (Some(option), Some(needed)) = (arg(id), arg(needs)) else {
            continue;
        };
        if !is_given(id) || is_given(needs) {
            continue;
        }
        // Conflicts are declared on either side.
        let conflict = |a: &clap::Arg, b: &clap::Arg| {
            (cmd.get_arg_conflicts_with(a).iter()).any(|c| c.get_id() == b.get_id())
        };
        let against: Vec<String> = (cmd.get_arguments())
            .filter(|a| is_given(a.get_id().as_str()))
            .filter(|a| conflict(needed, a) || conflict(a, needed))
            .map(flag)
            .collect();
        let why = match against.is_empty() {
            true => String::new(),
            false => format!(", which cannot be used with {}", against.join(", ")),
        };
        return Err(clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            format!(
                "{} needs {}{why}\n\nFor more information, try '--help'.\n",
                flag(option),
                flag(needed)
            ),
        ));
    }
    Ok(())
}

/// `command` with every option's value allowed to look like a negative
/// number, in every subcommand: `--epochs -1` then reaches the option's
/// own check, which says what it takes, where clap would call `-1` an
/// unexpected argument.
fn negative_values(command: clap::Command) -> clap::Command {
    (command.mut_args(|a| {
        let takes = !a.is_positional() && a.get_action().takes_values();
        a.allow_negative_numbers(takes)
    }))
    .mut_subcommands(negative_values)
}

/// `command_line` with each `--option value` whose option takes a value
/// and whose value is a negative number clap does not take for one
/// (`-1e-3`, `-.5`, `-inf`, `-nan`) written `--option=value`, so that the
/// option's own check says what it takes, as it does for `-1` and `-5e1`
/// (clap called the `-1` of `-1e-3` an unexpected argument).
fn joined_negative_numbers<I, T>(
    command: &clap::Command,
    command_line: I,
) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut words: Vec<std::ffi::OsString> = command_line.into_iter().map(Into::into).collect();
    let mut current = command;
    let mut i = 1;
    while i + 1 < words.len() {
        let (word, next) = (words[i].to_str(), words[i + 1].to_str());
        if word == Some("--") {
            break;
        }
        if let Some(sub) = word.and_then(|w| current.find_subcommand(w)) {
            current = sub;
        }
        let option = word
            .and_then(|w| w.strip_prefix("--"))
            .filter(|o| !o.contains('='));
        let takes_value = option.is_some_and(|o| {
            let arg = current.get_arguments().find(|a| a.get_long() == Some(o));
            arg.is_some_and(|a| a.get_action().takes_values())
        });
        let negative = next.is_some_and(|n| n.starts_with('-') && n.parse::<f64>().is_ok());
        if takes_value && negative {
            let joined = format!("{}={}", word.unwrap_or_default(), next.unwrap_or_default());
            words.splice(i..i + 2, [joined.into()]);
        }
        i += 1;
    }
    words
}

/// clap's error where `--delimiter` ends `words` with no value, with a
/// tip: an unquoted `;` or `|` after it is the shell's (`--delimiter ;`
/// ends the command, and the shell runs the rest as another). Other
/// errors as they are.
fn delimiter_tip(mut e: clap::Error, words: &[std::ffi::OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let on_delimiter = matches!(e.get(ContextKind::InvalidArg),
        Some(ContextValue::String(arg)) if arg.starts_with("--delimiter"));
    let last = words.last().is_some_and(|w| w == "--delimiter");
    if on_delimiter && last && e.kind() == ErrorKind::InvalidValue {
        let tip = "the shell takes an unquoted ; or | itself: quote it, --delimiter ';' or --delimiter '|' (a tab is --delimiter tab)";
        e.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![tip.into()]),
        );
    }
    e
}

/// clap's error where `--resume` and an option it refuses are given
/// together, with a tip: the checkpoint's run keeps its own options, and
/// `--init` starts a new run from the checkpoint's parameters, which takes
/// others. Other errors as they are.
fn resume_tip(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let names = |kind| match e.get(kind) {
        Some(ContextValue::String(name)) => vec![name.clone()],
        Some(ContextValue::Strings(names)) => names.clone(),
        _ => Vec::new(),
    };
    let mut args = names(ContextKind::InvalidArg);
    args.extend(names(ContextKind::PriorArg));
    let resume = args.iter().any(|a| a.starts_with("--resume"));
    if e.kind() == ErrorKind::ArgumentConflict && resume {
        let tip = "--resume continues the checkpoint's run with its recorded options (--epochs and --target-loss may change); --init FILE starts a new run from the checkpoint's parameters, with the options given";
        e.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![tip.into()]),
        );
    }
    e
}

/// clap's error at a word no option takes, with a tip where the word is
/// likely meant for one: a CSV file given with no `--data` (`train
/// rows.csv`: `--data rows.csv`), or a list option's next item given
/// after a space (`--hidden 64 32`: `--hidden 64,32`; `--grid` takes one
/// option a time, so a second `KEY=...` gets its own `--grid`). Other
/// errors as they are.
fn extra_word_tip(
    command: &clap::Command,
    words: &[std::ffi::OsString],
    mut e: clap::Error,
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let Some(ContextValue::String(extra)) = e.get(ContextKind::InvalidArg) else {
        return e;
    };
    let extra = extra.clone();
    let words: Vec<&str> = words.iter().map(|w| w.to_str().unwrap_or("")).collect();
    let sub = words.get(1).and_then(|name| command.find_subcommand(name));
    let (Some(sub), ErrorKind::UnknownArgument) = (sub, e.kind()) else {
        return e;
    };
    if extra.starts_with('-') {
        return e;
    }
    let takes_data = sub.get_arguments().any(|a| a.get_long() == Some("data"));
    let has_data = (words.iter()).any(|w| *w == "--data" || w.starts_with("--data="));
    let csv = extra.to_ascii_lowercase().ends_with(".csv");
    let tip = match list_tip(sub, &words, &extra) {
        _ if csv && takes_data && !has_data => {
            format!(
                "a file of rows is given with --data: --data {}",
                crate::units::shell_word(&extra)
            )
        }
        Some(tip) if !csv => tip,
        _ => return e,
    };
    e.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![tip.into()]),
    );
    e
}

/// The tip of [`extra_word_tip`] where `extra`, a word of `words` that
/// `sub` (the subcommand) takes in no place, follows a list option and a
/// value of it (`--hidden 64 32`, `--hidden=64 32`).
fn list_tip(sub: &clap::Command, words: &[&str], extra: &str) -> Option<String> {
    let list = |long: &str| {
        let Some(arg) = sub.get_arguments().find(|a| a.get_long() == Some(long)) else {
            return false;
        };
        let names = arg.get_value_names().unwrap_or_default();
        names.iter().any(|n| n.as_str().contains(','))
            || arg.get_value_delimiter() == Some(',')
            || ["shapes", "pipelines"].contains(&long)
    };
    // The word clap stopped at: where `extra` is, after a list option
    // and a value of it (an earlier `extra` was another option's value).
    (2..words.len())
        .filter(|&i| words[i] == extra)
        .find_map(|at| list_tip_at(sub, words, at, &list))
}

/// [`list_tip`] for the word at `at`.
fn list_tip_at(
    sub: &clap::Command,
    words: &[&str],
    at: usize,
    list: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let start = (1..at).rev().find(|&k| words[k].starts_with('-'))?;
    let (long, first) = match words[start].strip_prefix("--")?.split_once('=') {
        Some((long, value)) => (long, Some(value)),
        None => (words[start].strip_prefix("--")?, None),
    };
    if !list(long) || (first.is_none() && start + 2 > at) {
        return None;
    }
    let rest = (words[start + 1..].iter()).take_while(|w| !w.starts_with('-'));
    let items: Vec<&str> = (first.into_iter().chain(rest.copied()))
        .map(|w| w.trim_matches(','))
        .filter(|w| !w.is_empty())
        .collect();
    let flag = format!("--{long}");
    if long == "grid" {
        // Values given after a space, joined to the option before them
        // (in brackets where they are one value of a list option, such as
        // hidden's 64,32); a second option's values, a --grid of its own.
        if items.first().is_none_or(|w| !w.contains('=')) {
            return None;
        }
        let mut axes: Vec<String> = Vec::new();
        for item in &items {
            let key = |axis: &str| axis.split('=').next().unwrap_or("").to_string();
            match axes.last_mut() {
                Some(axis) if !item.contains('=') => {
                    let value = match item.contains(',') && list(&key(axis)) {
                        true => format!("[{item}]"),
                        false => item.to_string(),
                    };
                    *axis = format!("{axis},{value}");
                }
                _ => axes.push(item.to_string()),
            }
        }
        let each: Vec<String> = (axes.iter())
            .map(|w| format!("--grid {}", crate::units::shell_word(w)))
            .collect();
        return Some(match each.len() {
            1 => format!(
                "--grid takes an option's values as one word, separated by commas: {}",
                each[0]
            ),
            _ => format!(
                "--grid takes one option's values at a time: {}",
                each.join(" ")
            ),
        });
    }
    let quoted: Vec<String> = items.iter().map(|w| crate::units::shell_word(w)).collect();
    let joined = format!("{flag} {}", quoted.join(","));
    let names = sub.get_arguments().find(|a| a.get_long() == Some(long));
    let names = names.and_then(|a| a.get_value_names()).unwrap_or_default();
    let one_name = match (
        names.iter().any(|n| n.as_str().starts_with("NAME")),
        &items[..],
    ) {
        (true, [a, b]) => format!(
            ", or {flag} {} where it is one name with a space",
            crate::units::shell_word(&format!("{a} {b}"))
        ),
        _ => String::new(),
    };
    Some(format!(
        "{flag} takes one value, its items separated by commas and no spaces: {joined}{one_name}"
    ))
}

/// clap's error for a number option given something else, which would
/// end in Rust's parse message ("invalid digit found in string", "invalid
/// float literal"), saying instead what the option takes; as clap words
/// and ends it, and without a usage line, as clap's own error for the
/// value has none.
fn number_error(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let source = std::error::Error::source(&e);
    let whole = source.and_then(|s| s.downcast_ref::<std::num::ParseIntError>());
    let real = source.is_some_and(|s| s.is::<std::num::ParseFloatError>());
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
        e.get(ContextKind::InvalidArg),
        e.get(ContextKind::InvalidValue),
    ) else {
        return e;
    };
    let why = match (whole, real) {
        (Some(parse), _) => whole_number_message(value, parse),
        (None, true) if value.trim().is_empty() => "expected a number, not nothing".into(),
        (None, true) => "expected a number, such as 0.01 or 1e-3".into(),
        (None, false) => return e,
    };
    // Column names where a count goes (gen's and train --synthetic's).
    let names = value.chars().any(char::is_alphabetic) && value.parse::<f64>().is_err();
    let why = match arg.starts_with("--features ") && names {
        true => format!("{why}; --features counts the features of a generated task (gen's, or train --synthetic's), and train --data reads every column but the target as a feature: train --ignore NAME[,NAME...] leaves columns out"),
        false => why,
    };
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!(
            "invalid value '{value}' for '{arg}': {why}\n\nFor more information, try '--help'.\n"
        ),
    )
}

/// What a whole-number option given `value` takes, from Rust's reason.
fn whole_number_message(value: &str, e: &std::num::ParseIntError) -> String {
    use std::num::IntErrorKind;
    let negative = (value.strip_prefix('-')).is_some_and(|d| d.parse::<f64>().is_ok());
    match e.kind() {
        IntErrorKind::Empty => "expected a whole number, not nothing".into(),
        IntErrorKind::PosOverflow => "too large a number for this option".into(),
        _ if negative => "expected a whole number, not a negative one".into(),
        _ => "expected a whole number (digits only)".into(),
    }
}

/// `train`'s options with only `--key value` given.
fn read_option(key: &str, value: &str) -> Result<TrainArgs, String> {
    TrainOnly::try_parse_from([format!("--{key}={value}")])
        .map(|t| t.args)
        .map_err(|e| {
            // clap's message up to its usage hint: the error, and the
            // possible values where it lists them.
            let text = number_error(e).to_string();
            let lines = text.lines().take_while(|l| !l.trim().is_empty());
            let said: Vec<&str> = lines.map(str::trim).collect();
            let said = said.join(" ");
            said.strip_prefix("error: ").unwrap_or(&said).to_string()
        })
}

/// `train --grid KEY=V1,V2,...`: the option, and its values split at
/// the commas outside brackets, each checked as the option reads it; or
/// `KEY=LOW..HIGH` ([`parse_grid_range`]).
fn parse_grid_axis(s: &str) -> Result<GridAxis, String> {
    let Some((key, list)) = s.split_once('=') else {
        return Err(format!(
            "expected KEY=V1,V2,..., such as lr=0.001,0.01 or hidden=16,[64,32], or KEY=LOW..HIGH, such as lr=log:1e-4..0.1, not '{s}'"
        ));
    };
    let key = key.trim().trim_start_matches("--");
    let Some(kind) = grid_kind(key) else {
        return Err(format!(
            "--grid cannot vary '{key}'; it varies {}",
            GRID_OPTIONS.join(", ")
        ));
    };
    if list.contains("..") {
        let range = parse_grid_range(key, kind, list.trim())?;
        return Ok(GridAxis {
            key: key.to_string(),
            values: GridValues::Range(range),
        });
    }
    let mut values = Vec::new();
    let (mut depth, mut value) = (0usize, String::new());
    for c in list.chars().chain([',']) {
        match c {
            '[' => {
                depth += 1;
                value.push(c);
            }
            ']' if depth == 0 => return Err(format!("a ']' in {key}'s values opens no '['")),
            ']' => {
                depth -= 1;
                value.push(c);
            }
            ',' if depth == 0 => values.push(std::mem::take(&mut value)),
            _ => value.push(c),
        }
    }
    if depth > 0 {
        return Err(format!("a '[' in {key}'s values is never closed"));
    }
    let mut checked: Vec<String> = Vec::new();
    let mut read: Vec<TrainArgs> = Vec::new();
    for value in values {
        let value = value.trim();
        let value = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Some(inner) => inner.trim(),
            None => value,
        };
        if value.is_empty() {
            return Err(format!("{key} has an empty value (two commas in a row?)"));
        }
        let this = read_option(key, value).map_err(|e| format!("{key}={value}: {e}"))?;
        // The same value however written (0.1 and 1e-1).
        if let Some(i) = read.iter().position(|r| r.same_option(key, &this)) {
            let first = &checked[i];
            return Err(match first == value {
                true => format!("{key}'s value {value} is given twice"),
                false => format!("{key}'s values {first} and {value} are the same"),
            });
        }
        checked.push(value.to_string());
        read.push(this);
    }
    Ok(GridAxis {
        key: key.to_string(),
        values: GridValues::Values(checked),
    })
}

/// `--grid KEY=LOW..HIGH` or `KEY=log:LOW..HIGH` for option `key`, of
/// `kind`: both ends numbers (whole for a count, at most [`MOST_WHOLE`]),
/// LOW below HIGH, HIGH − LOW finite, and above 0 for `log:`. Whether the
/// ends are values the option takes is checked with the combinations
/// drawn (`app::grid`), before any fold.
fn parse_grid_range(key: &str, kind: GridKind, text: &str) -> Result<GridRange, String> {
    let (log, ends) = match text.strip_prefix("log:") {
        Some(ends) => (true, ends),
        None => (false, text),
    };
    let expected = format!(
        "{key}={text}: a range is LOW..HIGH or log:LOW..HIGH alone, such as 0.8..0.99 or log:1e-4..0.1"
    );
    let Some((low, high)) = ends.split_once("..") else {
        return Err(expected);
    };
    let (low, high) = (low.trim(), high.trim());
    if kind == GridKind::Choice {
        return Err(format!(
            "{key}={text}: {key} takes one of a list of values, not a range; list them: {key}=V1,V2,..."
        ));
    }
    let number = |end: &str| -> Result<f64, String> {
        if let (false, Ok(_), Err(e)) = (kind == GridKind::Whole, end.parse::<f64>(), real(end)) {
            return Err(format!("{key}={text}: {e}"));
        }
        let read = match kind {
            GridKind::Whole => (end.parse::<u64>().ok())
                .filter(|&v| v <= MOST_WHOLE)
                .map(|v| v as f64),
            _ => end.parse::<f64>().ok().filter(|v| v.is_finite()),
        };
        let what = match kind {
            GridKind::Whole => "a whole number",
            _ => "a number",
        };
        let read = read.ok_or_else(|| match end.contains(',') {
            true => expected.clone(),
            false if kind == GridKind::Whole && end.bytes().all(|b| b.is_ascii_digit()) => {
                format!(
                    "{key}={text}: '{end}' is above {MOST_WHOLE} (2^53 - 1), a range's largest end"
                )
            }
            false => format!("{key}={text}: '{end}' is not {what}"),
        })?;
        Ok(read)
    };
    let (low, high) = (number(low)?, number(high)?);
    if kind == GridKind::Whole && low == high {
        return Err(format!(
            "{key}={text} holds {} alone: give it as {key}={}, or widen the range",
            high as u64, high as u64
        ));
    }
    if low >= high {
        return Err(format!(
            "{key}={text} is empty: its low end must be below its high end"
        ));
    }
    if !(high - low).is_finite() {
        return Err(format!(
            "{key}={text}: its width, HIGH - LOW, is beyond f64's range; give a narrower one"
        ));
    }
    if log && low <= 0.0 {
        return Err(format!(
            "{key}={text}: a log: range is drawn log-uniformly, so its low end must be above 0"
        ));
    }
    Ok(GridRange {
        low,
        high,
        log,
        whole: kind == GridKind::Whole,
        text: text.to_string(),
    })
}

/// Hidden widths as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HiddenSpec(pub Vec<usize>);

fn parse_hidden(s: &str) -> Result<HiddenSpec, String> {
    crate::model::parse_hidden(s).map(HiddenSpec)
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Instead of the adapter list, build each kernel's pipeline on the adapter `--backend gpu` picks and print what its Vulkan driver reports of it: registers, memory, instructions, whatever it names (drivers without VK_KHR_pipeline_executable_properties, lavapipe among them, report nothing; the pipelines are still built). Registers and workgroup memory decide how many workgroups of a kernel run at once. Each kernel's line names its shader file and whether wgpu adds bounds checks to it (a hot kernel whose indices the planner proves in range is built without: 'bounds unchecked'). KERNELS: entry points, comma-separated, e.g. `--pipelines forward_wide_sigmoid,weight_grad_wide_sigmoid` (the mixed ones need an adapter with cooperative matrices), or `all`; the settings' variables (SHADERTRAIN_WIDE_STEP, SHADERTRAIN_COOP_BLOCKS, ...) apply [default: off; given alone, all: every kernel the device has, the mixed ones where the adapter has cooperative matrices]
    #[arg(long, value_name = "KERNELS", num_args = 0..=1, default_missing_value = "all", value_hint = clap::ValueHint::Other)]
    pub pipelines: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Shapes to run: S0 (1,024×4, h 16), S1 (65,536×16, h 64),
    /// S2 (1,048,576×32, h 128), S3 (16,384×256, h 1,024), S4 (16,777,216×16, h 64),
    /// or any other as ROWSxFEATURESxHIDDEN (65536x16x48: synthetic rows, one
    /// hidden layer).
    #[arg(long, default_value = "S0,S1,S2,S3", value_parser = parse_shapes)]
    pub shapes: ShapeList,

    /// Backends to time, comma separated or given again [default: cpu, and gpu when wgpu
    /// finds a hardware adapter; a software one, such as lavapipe, only
    /// with --adapter or another GPU setting].
    #[arg(long, value_delimiter = ',', value_enum)]
    pub backends: Vec<BackendKind>,

    /// Hidden-layer activation.
    #[arg(long, value_enum, default_value_t = Activation::Sigmoid)]
    pub activation: Activation,

    /// Untimed samples before timing; at least one runs, since the first
    /// (reported as "first sample") includes pipeline warm-up, and after
    /// it more run until 0.2 s have passed (a process's first milliseconds
    /// can run at a fraction of its speed; not under --distributed on
    /// several processes, which must run as many samples each); at most
    /// 1,000,000.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: usize,

    /// Timed samples per case; median, min and max are over these; 1 to
    /// 1,000,000.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub samples: usize,

    /// Epochs per GPU sample, timed together: recorded in one submit, or
    /// one per 256 epochs above that (the CPU always times single epochs);
    /// 1 to 1,000,000.
    #[arg(long, default_value_t = GPU_BATCH, value_name = "K")]
    pub gpu_batch: usize,

    #[command(flatten)]
    pub device: DeviceArgs,

    /// Also time the same epochs in numpy, PyTorch (eager and
    /// torch.compile, and on CUDA when the gpu backend is timed and PyTorch
    /// has a device) and JAX (on the CPU), with benches/*_epoch.py (built
    /// in), on the same data, starting weights, activation, samples,
    /// warm-up and thread count (each shape's the cpu backend's); a CUDA
    /// peer's samples are --gpu-batch epochs, as the gpu backend's. Each peer
    /// the interpreter cannot import is skipped with a notice. The table's
    /// speedup column then gives shadertrain's speedup over each peer.
    #[arg(long)]
    pub peers: bool,

    /// The Python interpreter of --peers.
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub python: PathBuf,

    /// Stop a peer's script, and every process it started, once it has run
    /// this many seconds: the shapes it timed by then are kept, the others
    /// left out with a notice. The interpreter's checks (`import numpy`,
    /// each peer's import) are held to it too. 2^32
    /// or more, or inf, is no limit [default: no limit].
    #[arg(long, value_parser = real, value_name = "SECONDS")]
    pub peer_timeout: Option<f64>,

    /// Time the sharded trainer of `train --distributed` instead, under
    /// `mpirun -np P`: per-epoch time, the share of it spent gathering and
    /// summing the shards' partials, and the bytes process 0 receives per
    /// epoch. Each process generates only its rows.
    #[arg(long)]
    pub distributed: bool,

    /// Shards of the sharded trainer (with --distributed, or alone for a
    /// one-process sharded run) [default: 16 with --distributed].
    #[arg(long, value_name = "K")]
    pub shards: Option<usize>,

    /// Also write the records as a JSON array here; `-` is standard output
    /// [default: not written].
    #[arg(long, value_name = "FILE.json", value_parser = path(output_path))]
    pub json: Option<PathBuf>,

    /// Draw the medians as bars grouped by shape, one per backend (log
    /// scale, s/epoch), as PNG or SVG by the extension [default: not drawn].
    #[arg(long, value_name = "FILE.png|FILE.svg", value_parser = path(plain_path))]
    pub plot: Option<PathBuf>,

    /// No progress bar and no per-case lines; the table still prints. The
    /// bar is drawn only on a terminal anyway.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `bench --gpu-batch`'s default.
pub const GPU_BATCH: usize = 8;

/// Benchmark shapes as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeList(pub Vec<crate::bench::Shape>);

fn parse_shapes(s: &str) -> Result<ShapeList, String> {
    crate::bench::parse_shapes(s).map(ShapeList)
}

/// The parser of a path option: `read` of its text, which must be UTF-8
/// (clap's own refusal of a Latin-1 name named no option), as the JSON
/// records and checkpoints that name the file hold it.
fn path(
    read: fn(&str) -> Result<PathBuf, String>,
) -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::{OsStringValueParser, TypedValueParser as _};
    OsStringValueParser::new().try_map(move |s| match s.to_str() {
        Some(text) => read(text),
        None => Err("the name is not UTF-8, which the JSON records and checkpoints that name a file need; give a UTF-8 name (for a file that exists, rename it or link to it: ln -s)".to_string()),
    })
}

/// A path read as it is.
fn plain_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// A file to read; `-` is standard input, as /dev/stdin.
fn input_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(if s == "-" { "/dev/stdin" } else { s }))
}

/// `importance --rows`: a count of rows that can be shuffled.
fn at_least_two(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        Ok(_) => Err("a shuffle needs at least 2 rows".into()),
        Err(e) => Err(whole_number_message(s, &e)),
    }
}

/// A file to write; `-` is standard output, as /dev/stdout.
fn output_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(if s == "-" { "/dev/stdout" } else { s }))
}

/// A checkpoint's path: a file the run writes again and again, which `-`
/// (standard output elsewhere) cannot be.
fn checkpoint_path(s: &str) -> Result<PathBuf, String> {
    match s {
        "-" => Err("a checkpoint is rewritten every --checkpoint-every epochs, so it cannot be standard output; give a file (./- names a file called -)".into()),
        _ => Ok(PathBuf::from(s)),
    }
}

/// A whole number from `LO` to `HI`, refused as the other options refuse
/// one ("must be at least 2", not clap's "0 is not in 2..=4294967295").
fn whole_in<const LO: u64, const HI: u64, T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let n: u64 = s.parse().map_err(|e| whole_number_message(s, &e))?;
    if n < LO {
        return Err(format!("must be at least {LO}"));
    }
    if n > HI {
        return Err(format!("must be at most {HI}"));
    }
    T::try_from(n).map_err(|_| "too large a number for this option".into())
}

/// The most threads `--threads` takes (a checkpoint's recorded count
/// too): far beyond any machine's cores, yet few enough to start, as tens
/// of thousands of threads fail for memory before the pool's own bound.
pub const MOST_THREADS: usize = 1024;

fn parse_threads(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| whole_number_message(s, &e))?;
    let most = MOST_THREADS;
    if n > most {
        return Err(format!("at most {most} (0 is every core)"));
    }
    Ok(n)
}

/// Which device a command uses, for `train` and `bench` alike.
#[derive(Clone, Debug, Args)]
pub struct DeviceArgs {
    /// Use the GPU adapter whose name contains TEXT, case-insensitive
    /// [default: the first suitable one].
    #[arg(long, value_name = "TEXT")]
    pub adapter: Option<String>,

    /// Threads of the CPU backend, and of held-out rows scored on the host
    /// beside another backend (the reference's, an L-BFGS GPU run's; a
    /// sharded run scores them on one, and runs the reference's shards
    /// side by side; where none of these runs, a notice says it changes
    /// nothing); 0 is every core, at most 1024. Each count sums in its
    /// own order: the same count repeats a run bit for bit, another
    /// differs in the last bits
    /// [default: every core; with --resume, and for 0 there, the
    /// checkpoint's run's].
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true,
          value_parser = parse_threads)]
    pub threads: usize,

    /// The threads the cpu backend's `threads` workers (and the held-out
    /// scorer's) run on, where fewer; 0 is one a worker. Not an option:
    /// the weight decay's search sets it to run its folds side by side,
    /// each on its share of the threads, and the sums stay those of
    /// `threads` workers
    /// ([`crate::cpu::fast::Fast::run_on`]).
    #[arg(skip)]
    pub run_on: usize,

    /// The build of the CPU backend's block code to run (and of held-out
    /// rows scored on the host beside another backend; where neither
    /// runs, a notice says it changes nothing): the same arithmetic, and
    /// the same bits, compiled for x86-64's baseline, for AVX2 with FMA,
    /// or for AVX-512 [default: the widest this CPU runs].
    #[arg(long, value_enum, value_name = "ISA")]
    pub cpu_isa: Option<crate::cpu::Isa>,

    /// GPU kernels of the epoch [with --resume on the GPU: the
    /// checkpoint's run's, where it gave other than auto].
    #[arg(long, value_enum, default_value_t = KernelChoice::Auto)]
    pub kernels: KernelChoice,

    /// Arithmetic of the GPU backend's first hidden layer (docs/spec.md,
    /// "Mixed precision") [with --resume on the GPU, where not given: the
    /// checkpoint's run's].
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
}

impl TrainArgs {
    /// The optimizer flags as given; [`Settings::resolve`] fills the defaults.
    pub fn optimizer_settings(&self) -> Settings {
        Settings {
            kind: self.optimizer.unwrap_or_else(|| self.default_optimizer()),
            defaulted: self.optimizer.is_none(),
            lr: match self.lr {
                Some(LrChoice::Rate(lr)) => Some(lr),
                _ => None,
            },
            momentum: self.momentum,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            history_size: self.history_size,
            gtol: self.gtol,
            weight_decay: self.weight_decay,
            max_grad_norm: self.clip_grad_norm,
        }
    }

    /// The optimizer of a run that names none: gd where a flag of the
    /// first-order optimizers' is given ([`TrainArgs::first_order_flag`]),
    /// as before L-BFGS was the default, so that such commands give the
    /// same model; lbfgs otherwise, which fits in far fewer epochs.
    pub fn default_optimizer(&self) -> OptimizerKind {
        match self.first_order_flag() {
            Some(_) => OptimizerKind::Gd,
            None => OptimizerKind::Lbfgs,
        }
    }

    /// The first of the flags given that make gd the default optimizer:
    /// `--lr`, `--batch-size`, `--clip-grad-norm`, or any of the
    /// schedule's (the first-order optimizers' own flags, and `--lr`, which
    /// before lbfgs was the default was gd's). Not `--weight-decay`, which
    /// lbfgs takes too.
    pub fn first_order_flag(&self) -> Option<&'static str> {
        [
            ("--lr", self.lr.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--clip-grad-norm", self.clip_grad_norm.is_some()),
            (
                "--lr-schedule",
                self.lr_schedule
                    .is_some_and(|k| k != ScheduleKind::Constant),
            ),
            (
                "--lr-schedule's settings",
                self.schedule_settings() != ScheduleSettings::default(),
            ),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }

    /// The learning-rate schedule as the flags give it.
    pub fn schedule_settings(&self) -> ScheduleSettings {
        ScheduleSettings {
            kind: self.lr_schedule.unwrap_or_default(),
            min_lr: self.lr_min,
            epochs: self.lr_epochs,
            every: self.lr_every,
            gamma: self.lr_gamma,
            patience: self.lr_patience,
            threshold: self.lr_threshold,
            pct_start: self.lr_pct_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_values_split_at_commas_outside_brackets() {
        let list =
            |values: &[&str]| GridValues::Values(values.iter().map(|v| v.to_string()).collect());
        let axis = parse_grid_axis("hidden= 16 ,[64,32], [ 8 ]").unwrap();
        assert_eq!(axis.key, "hidden");
        assert_eq!(axis.values, list(&["16", "64,32", "8"]));
        let axis = parse_grid_axis("--lr-gamma=-0.5,2").unwrap();
        assert_eq!(
            (axis.key.as_str(), axis.values),
            ("lr-gamma", list(&["-0.5", "2"]))
        );
        // A bracket within a bracket is one value, which --hidden refuses.
        assert!(parse_grid_axis("hidden=[16],[8,[4]]").is_err());
        assert!(parse_grid_axis("lr=").is_err());
        let same = parse_grid_axis("lr=0.1,1e-1").unwrap_err();
        assert_eq!(same, "lr's values 0.1 and 1e-1 are the same");
        assert!(parse_grid_axis("hidden=4,[04]").is_err());
    }

    #[test]
    fn a_number_options_values_may_be_a_range() {
        let range = |s: &str| match parse_grid_axis(s).map(|a| a.values) {
            Ok(GridValues::Range(r)) => Ok(r),
            Ok(values) => panic!("{s}: {values:?}"),
            Err(e) => Err(e),
        };
        let r = range("lr=log:1e-4..0.1").unwrap();
        assert_eq!((r.low, r.high, r.log, r.whole), (1e-4, 0.1, true, false));
        assert_eq!(r.text, "log:1e-4..0.1");
        assert_eq!(r.ends(), ["1e-4", "0.1"]);
        let r = range("--momentum= 0.8 .. 0.99 ").unwrap();
        assert_eq!((r.low, r.high, r.log, r.whole), (0.8, 0.99, false, false));
        assert_eq!(r.ends(), ["0.8", "0.99"]);
        let r = range("batch-size=log:16..512").unwrap();
        assert_eq!((r.low, r.high, r.log, r.whole), (16.0, 512.0, true, true));
        let refused = |s: &str, said: &str| {
            let e = range(s).unwrap_err();
            assert!(e.contains(said), "{s}: {e}");
        };
        refused("batch-size=16..64.5", "'64.5' is not a whole number");
        refused("lr=auto..0.1", "'auto' is not a number");
        refused(
            "lr=0.1..0.01",
            "is empty: its low end must be below its high end",
        );
        refused("momentum=0.9..0.9", "is empty");
        refused(
            "batch-size=8..8",
            "holds 8 alone: give it as batch-size=8, or widen the range",
        );
        refused("batch-size=9..8", "is empty");
        let most = range("epochs=1..9007199254740991").unwrap();
        assert_eq!(most.ends(), ["1", "9007199254740991"]);
        refused(
            "epochs=1..9007199254740992",
            "'9007199254740992' is above 9007199254740991 (2^53 - 1)",
        );
        refused(
            "epochs=1..99999999999999999999",
            "'99999999999999999999' is above 9007199254740991",
        );
        refused(
            "lr-gamma=-1e308..1e308",
            "its width, HIGH - LOW, is beyond f64's range",
        );
        let json = serde_json::to_string(&range("batch-size=log:16..512").unwrap()).unwrap();
        assert_eq!(json, r#"{"low":16,"high":512,"log":true,"whole":true}"#);
        let json = serde_json::to_string(&range("lr=log:1e-4..0.1").unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"low":0.0001,"high":0.1,"log":true,"whole":false}"#
        );
        refused("weight-decay=log:0..0.1", "its low end must be above 0");
        refused(
            "hidden=16..64",
            "hidden takes one of a list of values, not a range",
        );
        refused("optimizer=sgd..adam", "not a range");
        refused(
            "lr=0.1,0.2..0.3",
            "a range is LOW..HIGH or log:LOW..HIGH alone",
        );
        refused("lr=0.1..0.2..0.3", "is not a number");
        refused("tol=-1..inf", "'inf' is not a number");
    }

    #[test]
    fn each_grid_options_kind_is_the_kind_it_reads() {
        for key in GRID_OPTIONS {
            let (half, three) = (read_option(key, "0.5"), read_option(key, "3"));
            match grid_kind(key).unwrap() {
                GridKind::Whole => assert!(half.is_err() && three.is_ok(), "{key}"),
                GridKind::Real => assert!(half.is_ok() && three.is_ok(), "{key}"),
                GridKind::Choice => assert!(half.is_err(), "{key}"),
            }
        }
        let choices = GRID_OPTIONS
            .iter()
            .filter(|k| grid_kind(k) == Some(GridKind::Choice));
        let choices: Vec<&&str> = choices.collect();
        assert_eq!(
            choices,
            [
                &"hidden",
                &"activation",
                &"optimizer",
                &"lr-schedule",
                &"keep"
            ]
        );
        assert_eq!(grid_kind("seed"), None);
    }

    #[test]
    fn every_grid_option_is_an_option_train_reads() {
        let mut args = TrainOnly::try_parse_from::<[&str; 0], &str>([])
            .unwrap()
            .args;
        for key in GRID_OPTIONS {
            let value = match *key {
                "hidden" => "3,2",
                "activation" => "tanh",
                "optimizer" => "adam",
                "lr-schedule" => "cosine",
                "keep" => "best-val",
                "lr" | "momentum" | "beta1" | "beta2" | "eps" | "gtol" | "weight-decay"
                | "clip-grad-norm" | "lr-min" | "lr-gamma" | "lr-threshold" | "lr-pct-start"
                | "target-loss" | "tol" => "0.25",
                _ => "7",
            };
            let before = args.clone();
            args = args.with_option(key, value).unwrap();
            // The option took the value, and no other option changed.
            assert!(!args.same_option(key, &before), "{key}");
            for other in GRID_OPTIONS.iter().filter(|o| *o != key) {
                assert!(args.same_option(other, &before), "{key} changed {other}");
            }
            assert_eq!(args.given_options([*key].into_iter()), [*key]);
        }
    }

    #[test]
    fn an_option_given_at_its_default_is_noted() {
        let defaults = TrainOnly::try_parse_from::<[&str; 0], &str>([])
            .unwrap()
            .args;
        // Each option with a default, at that value, as a user could type it.
        let with_default: Vec<(&str, String)> = GRID_OPTIONS
            .iter()
            .filter_map(|k| Some((*k, default_text(k)?)))
            .collect();
        let keys: Vec<&str> = with_default.iter().map(|d| d.0).collect();
        // The others have none in clap (unset unless given), so any value
        // given differs from the default.
        assert_eq!(keys, ["keep", "tol", "patience"]);
        for (key, value) in &with_default {
            let line = ["shadertrain", "train", &format!("--{key}={value}")];
            let Command::Train(mut args) = Cli::try_parse_noting_given(line).unwrap().command
            else {
                panic!("train");
            };
            assert_eq!(args.given, [*key]);
            assert!(args.same_option(key, &defaults), "{key}={value}");
            assert_eq!(args.given_options(GRID_OPTIONS.iter().copied()), [*key]);
            args.given.clear();
            assert!(args.given_options(GRID_OPTIONS.iter().copied()).is_empty());
        }
        let line = ["shadertrain", "train", "--epochs", "3"];
        let Command::Train(args) = Cli::try_parse_noting_given(line).unwrap().command else {
            panic!("train");
        };
        assert_eq!(args.given, ["epochs"]);
    }

    /// Option `key`'s default as `--key=VALUE` takes it; none for an
    /// option without one (it is unset unless given).
    fn default_text(key: &str) -> Option<String> {
        let command = Cli::command();
        let train = command.find_subcommand("train").unwrap();
        let id = key.replace('-', "_");
        let arg = train.get_arguments().find(|a| a.get_id() == id.as_str());
        let arg = arg.unwrap_or_else(|| panic!("{key} is not an argument of train"));
        let value = arg.get_default_values().first()?;
        Some(value.to_string_lossy().into_owned())
    }

    #[test]
    fn counts_are_taken_at_their_bounds_and_refused_past_them() {
        assert_eq!(whole_in::<1, 1000, u32>("1"), Ok(1));
        assert_eq!(whole_in::<1, 1000, u32>("1000"), Ok(1000));
        assert_eq!(
            whole_in::<2, 9, u32>("1").unwrap_err(),
            "must be at least 2"
        );
        assert_eq!(whole_in::<2, 9, u32>("2"), Ok(2));
        assert_eq!(
            whole_in::<1, 1000, u32>("1001").unwrap_err(),
            "must be at most 1000"
        );
        assert_eq!(parse_threads("0"), Ok(0));
        assert_eq!(parse_threads("1024"), Ok(1024));
        assert_eq!(
            parse_threads("1025").unwrap_err(),
            "at most 1024 (0 is every core)"
        );
        assert_eq!(at_least_two("2"), Ok(2));
        assert_eq!(
            at_least_two("1").unwrap_err(),
            "a shuffle needs at least 2 rows"
        );
    }

    /// --delimiter with no value (the shell took an unquoted ;) gets a
    /// tip to quote it; other missing values do not.
    #[test]
    fn a_delimiter_without_its_value_is_told_to_quote_it() {
        let tip = |words: &[&str]| {
            let line = [&["shadertrain"], words].concat();
            let e = Cli::try_parse_noting_given(line)
                .expect_err("refused")
                .to_string();
            e.contains("tip: the shell takes an unquoted ; or | itself: quote it, --delimiter ';'")
        };
        assert!(tip(&["train", "--data", "d.csv", "--delimiter"]));
        assert!(tip(&[
            "importance",
            "--model",
            "m",
            "--data",
            "d.csv",
            "--delimiter"
        ]));
        assert!(!tip(&["train", "--data", "d.csv", "--target"]));
        assert!(!tip(&[
            "train",
            "--data",
            "d.csv",
            "--delimiter",
            "--target",
            "y"
        ]));
    }

    /// A list's items given after spaces, or a CSV file without --data,
    /// get a tip with the command line to give.
    #[test]
    fn an_extra_word_gets_the_option_it_was_meant_for() {
        let said = |words: &[&str]| {
            let line = [&["shadertrain"], words].concat();
            match Cli::try_parse_noting_given(line) {
                Ok(_) => panic!("{words:?} parsed"),
                Err(e) => e.to_string(),
            }
        };
        let tip = |words: &[&str]| {
            let e = said(words);
            let tip = e.lines().find_map(|l| l.trim().strip_prefix("tip: "));
            tip.map(str::to_string)
        };
        let list = "takes one value, its items separated by commas and no spaces:";
        let cases: [(&[&str], &str); 12] = [
            (&["train", "--data", "d.csv", "--hidden", "64", "32", "16", "--epochs", "2"], "--hidden takes one value, its items separated by commas and no spaces: --hidden 64,32,16"),
            (&["train", "--data", "d.csv", "--hidden=64", "32"], "--hidden 64,32"),
            (&["train", "--data", "d.csv", "--hidden", "64,", "32"], "--hidden 64,32"),
            (&["train", "--data", "d.csv", "--epochs", "32", "--hidden", "64", "32"], "--hidden 64,32"),
            (&["predict", "--model", "m.st", "--data", "d.csv", "--keep", "id", "name"], "--keep id,name, or --keep 'id name' where it is one name with a space"),
            (&["train", "--data", "d.csv", "--ignore", "first", "name"], "--ignore first,name, or --ignore 'first name' where it is one name with a space"),
            (&["train", "--data", "d.csv", "--folds", "2", "--grid", "lr=0.001,0.01", "batch-size=16,32"], "--grid takes one option's values at a time: --grid lr=0.001,0.01 --grid batch-size=16,32"),
            (&["bench", "--shapes", "S0", "S1"], "--shapes S0,S1"),
            (&["train", "--data", "d.csv", "--folds", "2", "--grid", "lr=0.001", "0.01", "batch-size=16"], "--grid lr=0.001,0.01 --grid batch-size=16"),
            (&["train", "--epochs", "5", "--hidden", "64", "rows.CSV"], "a file of rows is given with --data: --data rows.CSV"),
            (&["train", "--data", "d.csv", "--folds", "2", "--grid", "lr=0.1", "0.01"], "--grid takes an option's values as one word, separated by commas: --grid lr=0.1,0.01"),
            (&["train", "--data", "d.csv", "--folds", "2", "--grid", "hidden=16", "64,32", "8"], "--grid 'hidden=16,[64,32],8'"),
        ];
        for (words, want) in cases {
            let got = tip(words).unwrap_or_else(|| panic!("{words:?}: no tip: {}", said(words)));
            assert!(got.ends_with(want), "{words:?}: {got}");
        }
        assert!(said(&cases[0].0[..7]).contains("unexpected argument '32' found"));
        assert!(tip(&["train", "--data", "d.csv", "--hidden", "64", "32"])
            .unwrap()
            .contains(list));
        // No tip: a word after an option that is no list, a misspelled
        // option after a list, a second file beside --data, gen (no rows
        // read).
        for words in [
            &["train", "--data", "d.csv", "--epochs", "2", "3"][..],
            &["train", "--data", "d.csv", "--ignore", "id", "--epoch", "5"],
            &["train", "--data", "a.csv", "b.csv"],
            &["gen", "x.csv"],
        ] {
            let e = said(words);
            assert!(
                !e.contains(list) && !e.contains("given with --data"),
                "{words:?}: {e}"
            );
        }
    }

    #[test]
    fn a_value_that_is_no_number_is_told_what_the_option_takes() {
        let whole = |s: &str| whole_number_message(s, &s.parse::<u64>().unwrap_err());
        assert_eq!(whole("-3"), "expected a whole number, not a negative one");
        assert_eq!(
            whole("-1e-3"),
            "expected a whole number, not a negative one"
        );
        // A dash before what is no number is not a negative number.
        assert_eq!(whole("-x"), "expected a whole number (digits only)");
        assert_eq!(whole("-"), "expected a whole number (digits only)");
        // Blanks alone are nothing, as an empty value is.
        for nothing in ["", " "] {
            let e = read_option("tol", nothing).unwrap_err();
            assert!(e.ends_with("expected a number, not nothing"), "{e}");
        }
        assert!(read_option("tol", "x")
            .unwrap_err()
            .ends_with("expected a number, such as 0.01 or 1e-3"));
        // Column names for --features: --synthetic's count, and --ignore.
        let e = read_option("features", "x0,x1").unwrap_err();
        assert!(e.ends_with("expected a whole number (digits only); --features counts the features of a generated task (gen's, or train --synthetic's), and train --data reads every column but the target as a feature: train --ignore NAME[,NAME...] leaves columns out"), "{e}");
        for count in ["1.5", "1e3", "inf"] {
            let e = read_option("features", count).unwrap_err();
            assert!(e.ends_with("(digits only)"), "{count}: {e}");
        }
        // Text that names a number no f64 holds is refused, not read as
        // 0 or inf; 0 itself, subnormals and inf are read as written.
        for (key, value) in [("tol", "1e-400"), ("lr", "-0.5e-999"), ("tol", "1.0E-330")] {
            let e = read_option(key, value).unwrap_err();
            assert!(e.ends_with("nearer 0 than any number an f64 holds (the least is about 4.9e-324), so it would read as 0"), "{e}");
        }
        for (key, value) in [("max-time", "1e400"), ("lr", "-2e308")] {
            let e = read_option(key, value).unwrap_err();
            assert!(e.contains("past the largest number an f64 holds"), "{e}");
        }
        let read = |key, value| read_option(key, value).unwrap();
        assert_eq!(read("tol", "0.0e7").tol, 0.0);
        assert_eq!(read("tol", "1e-310").tol, 1e-310);
        assert_eq!(read("max-time", "inf").max_time, Some(f64::INFINITY));
        assert_eq!(read("momentum", "-0e-999").momentum, Some(0.0));
        let e = parse_grid_axis("lr=log:1e-400..0.1").unwrap_err();
        assert!(
            e.starts_with("lr=log:1e-400..0.1: 1e-400 is nearer 0"),
            "{e}"
        );
        assert_eq!("auto".parse(), Ok(LrChoice::Auto));
        assert_eq!("1e-3".parse(), Ok(LrChoice::Rate(1e-3)));
        assert_eq!(
            "Auto".parse::<LrChoice>().unwrap_err(),
            "expected a learning rate (a number such as 0.01) or auto, not 'Auto'"
        );
    }

    #[test]
    fn a_negative_number_is_joined_to_its_option_before_a_double_dash_only() {
        let joined = |line: &[&str]| -> Vec<String> {
            let words = joined_negative_numbers(&command(), line.iter().copied());
            words
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect()
        };
        let line = ["shadertrain", "train", "--lr", "-1e-3", "--tol", "-.5"];
        assert_eq!(
            joined(&line),
            ["shadertrain", "train", "--lr=-1e-3", "--tol=-.5"]
        );
        // A flag takes no value: the number after it is its own word.
        let line = ["shadertrain", "train", "--quiet", "-1"];
        assert_eq!(joined(&line), line);
        let line = ["shadertrain", "train", "--", "--lr", "-1e-3"];
        assert_eq!(joined(&line), line);
    }

    #[test]
    fn missing_cells_fill_with_the_statistic_named() {
        assert_eq!(Missing::Mean.fill(), Some(crate::data::Fill::Mean));
        assert_eq!(Missing::Median.fill(), Some(crate::data::Fill::Median));
        assert_eq!(Missing::Drop.fill(), None);
        assert_eq!(Missing::Error.fill(), None);
    }
}
