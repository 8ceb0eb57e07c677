//! What each subcommand does, from parsed options to files and a summary.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context as _, Result};

use crate::bench::{self, Record};
use crate::cli::{
    BackendChoice, BenchArgs, BenchBackend, Cli, Command, GenArgs, PredictArgs, TrainArgs,
};
use crate::cpu::{self, Fast, Reference};
use crate::data::{self, Columns, Dataset, Standardization, Table};
use crate::gpu::{self, AdapterRequest, GpuTrainer};
use crate::io;
use crate::model::{Activation, Layout, Model};
use crate::optim::lbfgs::{Lbfgs, Objective};
use crate::optim::Optimizer;
use crate::plot;
use crate::train::{self, Backend, Hooks, Schedule, StopReason};

/// Runs one subcommand; the exit code is 0, or 130 after Ctrl-C.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Train(args) => train_command(&args),
        Command::Predict(args) => done(predict_command(&args)),
        Command::Gen(args) => done(gen_command(&args)),
        Command::Bench(args) => done(bench_command(&args)),
        Command::Info => done(info_command()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "shadertrain", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What defines a training run: recorded in checkpoints so `--resume`
/// continues it with the same data and options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunOptions {
    pub data: Option<PathBuf>,
    pub target: Option<String>,
    pub synthetic: Option<usize>,
    pub features: Option<usize>,
    /// `None`: 64, or the `--init` model's.
    pub hidden: Option<Vec<usize>>,
    /// `None`: sigmoid, or the `--init` model's.
    pub activation: Option<String>,
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
    /// See `--validation-split`.
    #[serde(default)]
    pub validation_split: Option<f64>,
}

impl RunOptions {
    fn from_args(args: &TrainArgs) -> Result<RunOptions> {
        Ok(RunOptions {
            data: args.data.clone(),
            target: args.target.clone(),
            synthetic: args.synthetic,
            features: args.features,
            hidden: args.hidden.as_ref().map(|h| h.0.clone()),
            activation: args.activation.map(|a| a.name().to_string()),
            optimizer: args.optimizer_settings().resolve()?,
            legacy_lr: None,
            tol: args.tol,
            epochs: args.epochs.unwrap_or(200),
            seed: args.seed,
            init: args.init.clone(),
            patience: args.patience,
            // The split and the statistics need the rows on the host.
            on_device: args.backend == BackendChoice::Gpu
                && args.synthetic.is_some()
                && args.data.is_none()
                && !args.standardize
                && args.validation_split.is_none(),
            standardize: args.standardize,
            validation_split: args.validation_split,
        })
    }

    fn activation(&self) -> Result<Option<Activation>> {
        self.activation
            .as_deref()
            .map(|a| Activation::parse(a).with_context(|| format!("unknown activation '{a}'")))
            .transpose()
    }
}

fn load_data(run: &RunOptions) -> Result<(Dataset, String)> {
    match (&run.data, run.synthetic, run.features) {
        (Some(path), _, _) => {
            let table = Table::read(path)?;
            let data = table.into_dataset(run.target.as_deref())?;
            let what = format!(
                "{} ({} rows × {} features, target {})",
                path.display(),
                data.rows,
                data.features,
                data.target_name
            );
            Ok((data, what))
        }
        (None, Some(n), Some(f)) => {
            let data = Dataset::synthetic(n, f, run.seed)?;
            Ok((
                data,
                format!("synthetic {n} rows × {f} features (seed {})", run.seed),
            ))
        }
        _ => bail!("no training data: give --data FILE.csv, or --synthetic N --features F"),
    }
}

/// Checks a saved model against the data and the options that name a shape.
fn check_model(model: &Model, source: &Path, run: &RunOptions, data: &Columns) -> Result<()> {
    if model.layout.features() != data.features || model.feature_names != data.feature_names {
        bail!(
            "{}: the model takes {} features ({}) but the data has {} ({})",
            source.display(),
            model.layout.features(),
            model.feature_names.join(", "),
            data.features,
            data.feature_names.join(", ")
        );
    }
    if let Some(h) = &run.hidden {
        if model.layout.hidden() != h.as_slice() {
            bail!(
                "{} has hidden layers {}, not --hidden {}",
                source.display(),
                model.layout.hidden_spec(),
                h.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
    }
    if let Some(a) = run.activation()? {
        if a != model.activation {
            bail!(
                "{} uses {}, not --activation {a}",
                source.display(),
                model.activation
            );
        }
    }
    Ok(())
}

/// The starting model: `--init`'s, checked against the data and the other
/// options, or fresh weights from `--seed`.
fn initial_model(run: &RunOptions, data: &Columns) -> Result<Model> {
    let Some(path) = &run.init else {
        let hidden = run.hidden.clone().unwrap_or_else(|| vec![64]);
        let layout = Layout::new(data.features, &hidden)?;
        let act = run.activation()?.unwrap_or(Activation::Sigmoid);
        return Ok(Model::init(
            layout,
            act,
            run.seed,
            data.feature_names.clone(),
            data.target_name.clone(),
        ));
    };
    let model = io::load_model(path)?;
    check_model(&model, path, run, data).with_context(|| format!("--init {}", path.display()))?;
    Ok(model)
}

fn check_schedule(run: &RunOptions) -> Result<Schedule> {
    run.optimizer.check()?;
    if !(run.tol.is_finite() && run.tol >= 0.0) {
        bail!("--tol must be 0 or more, not {}", run.tol);
    }
    if run.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    Ok(Schedule {
        max_epochs: run.epochs,
        tol: run.tol,
    })
}

/// Opens the backend `choice` names. `auto` takes a hardware GPU when there
/// is one and otherwise says why it falls back to the CPU.
fn adapter_request(args: &TrainArgs) -> Result<AdapterRequest> {
    let timeout = std::time::Duration::try_from_secs_f64(args.gpu_timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--gpu-timeout must be a positive number of seconds")?;
    Ok(AdapterRequest {
        allow_software: args.backend == BackendChoice::Gpu,
        name: args.device.adapter.clone(),
        timeout,
        ..AdapterRequest::default()
    })
}

/// `objective` as a training backend: itself for the first-order
/// optimizers, driven by host-side L-BFGS for lbfgs.
fn with_optimizer<'a, B>(objective: B, model: &Model, opt: Optimizer) -> Box<dyn Backend + 'a>
where
    B: Backend + Objective + 'a,
{
    match opt {
        Optimizer::Lbfgs { .. } => Box::new(Lbfgs::new(objective, &model.params, opt)),
        _ => Box::new(objective),
    }
}

fn open_backend<'a>(
    args: &TrainArgs,
    model: &Model,
    data: &'a Dataset,
    opt: Optimizer,
) -> Result<Box<dyn Backend + 'a>> {
    let request = adapter_request(args)?;
    let cpu = || -> Result<Box<dyn Backend + 'a>> {
        let fast = Fast::new(model, data, opt, args.device.threads)?;
        Ok(with_optimizer(fast, model, opt))
    };
    let gpu = |ctx| -> Result<Box<dyn Backend + 'a>> {
        let g = GpuTrainer::with(
            ctx,
            model,
            gpu::Source::Host(data),
            opt,
            args.device.kernels,
        )?;
        Ok(with_optimizer(g, model, opt))
    };
    match args.backend {
        BackendChoice::Cpu => cpu(),
        BackendChoice::Reference => {
            Ok(with_optimizer(Reference::new(model, data, opt), model, opt))
        }
        BackendChoice::Gpu => gpu(gpu::Context::new(&request)?),
        BackendChoice::Auto => match gpu::Context::new(&request) {
            Ok(ctx) => gpu(ctx),
            Err(crate::Error::NoAdapter(why)) => {
                let software = gpu::context::adapters()
                    .iter()
                    .any(|a| gpu::context::is_software(&a.get_info()));
                let hint = if software {
                    " (a software adapter is present; --backend gpu uses it)"
                } else {
                    ""
                };
                eprintln!(
                    "notice: training on the CPU: {}{hint}",
                    why.split(';').next().unwrap_or(&why)
                );
                cpu()
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// The `train --json` record; its schema is in the README.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub version: &'static str,
    pub options: RunOptions,
    pub backend: String,
    /// The optimizer and its settings, in one line.
    pub optimizer: String,
    /// Updates in all, a resumed run's earlier ones included.
    pub epochs: usize,
    /// Full-batch loss-and-gradient passes this run made: the updates, or
    /// for lbfgs its iterations' line-search passes.
    pub evaluations: usize,
    pub first_loss: f64,
    pub final_loss: f64,
    pub best_loss: f64,
    /// "target", or "standardized" with --standardize.
    pub loss_units: &'static str,
    /// Rows trained on and rows held out (0 without a split).
    pub train_rows: usize,
    pub val_rows: usize,
    /// Validation loss of the final parameters; null without a split.
    pub final_val_loss: Option<f64>,
    /// Lowest validation loss measured, and its epoch; null without a split.
    pub best_val_loss: Option<f64>,
    pub best_val_epoch: Option<usize>,
    /// max_epochs, converged, target_reached, interrupted, time_limit or diverged.
    pub stop: &'static str,
    pub stop_reason: String,
    pub wall_s: f64,
    pub time_per_epoch_s: f64,
    pub model: Option<PathBuf>,
    /// For each power of ten from 1 down to 1e-12 that the training loss
    /// reached: the first epoch at or below it and the wall seconds into the
    /// run when that epoch's batch had ended (time to accuracy).
    pub milestones: Vec<Milestone>,
}

/// The lowest power of ten a run's milestones go down to.
const MILESTONE_FLOOR: f64 = 1e-12;

#[derive(Debug, serde::Serialize)]
pub struct Milestone {
    pub loss: f64,
    pub epoch: usize,
    pub wall_s: f64,
}

impl Summary {
    fn new(
        run: &RunOptions,
        backend: String,
        out: &train::Outcome,
        rows: (usize, usize),
        val: Option<&Validation>,
        model: Option<&Path>,
    ) -> Summary {
        let stop = match out.reason {
            StopReason::MaxEpochs => "max_epochs",
            StopReason::Converged | StopReason::GradientSmall | StopReason::NoDescent => {
                "converged"
            }
            StopReason::TargetReached => "target_reached",
            StopReason::Interrupted => "interrupted",
            StopReason::TimeLimit => "time_limit",
            StopReason::Diverged { .. } => "diverged",
        };
        let saved = succeeded(out.reason);
        let best_val = val.and_then(Validation::best);
        Summary {
            version: env!("CARGO_PKG_VERSION"),
            options: run.clone(),
            backend,
            optimizer: run.optimizer.describe(),
            epochs: out.updates,
            evaluations: out.evaluations.unwrap_or(out.run_updates),
            first_loss: out.losses[0],
            final_loss: *out.losses.last().expect("at least one loss"),
            best_loss: out.losses.iter().copied().fold(f64::INFINITY, f64::min),
            loss_units: if run.standardize {
                "standardized"
            } else {
                "target"
            },
            train_rows: rows.0,
            val_rows: rows.1,
            final_val_loss: val.and_then(Validation::latest),
            best_val_loss: best_val.map(|b| b.1),
            best_val_epoch: best_val.map(|b| b.0),
            stop,
            stop_reason: out.reason.describe(),
            wall_s: out.elapsed.as_secs_f64(),
            time_per_epoch_s: out.time_per_epoch().as_secs_f64(),
            model: model.filter(|_| saved).map(Path::to_path_buf),
            milestones: Vec::new(),
        }
    }
}

/// Whether a run that stopped for `reason` ends with its model saved.
fn succeeded(reason: StopReason) -> bool {
    !matches!(
        reason,
        StopReason::Interrupted | StopReason::Diverged { .. }
    )
}

/// The held-out rows and the CPU pass that scores parameters on them.
///
/// The validation loss is measured where the host already waits for the
/// trainer: at the end of every batch the training loop reads back (every
/// epoch on the CPU backends; on the GPU, batches grow to 256 epochs), for
/// the starting parameters and for the final ones. It is the MSE of the
/// held-out rows under the fast CPU forward pass (f32, sums in f64).
pub struct Validation<'a> {
    scorer: Fast<'a>,
    /// (epoch, loss) in ascending epochs; the loss of the parameters at the
    /// start of that epoch, as the history's rows.
    losses: Vec<(usize, f64)>,
}

impl Validation<'_> {
    /// Scores the parameters after `epoch` updates. A rerun or rollback
    /// replaces what was measured past it.
    fn record(&mut self, epoch: usize, params: &[f32]) -> f64 {
        self.losses.retain(|&(k, _)| k < epoch);
        let loss = self.scorer.loss_at(params);
        self.losses.push((epoch, loss));
        loss
    }

    fn latest(&self) -> Option<f64> {
        self.losses.last().map(|&(_, l)| l)
    }

    fn best(&self) -> Option<(usize, f64)> {
        self.losses
            .iter()
            .copied()
            .filter(|(_, l)| l.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The statistics a run standardises with: a saved model's (from `--init`
/// or a checkpoint), which its weights were trained for, or fitted on the
/// training rows. A model and the option must agree.
fn standardization(
    run: &RunOptions,
    model: &Model,
    source: Option<&Path>,
    train_rows: Option<&Dataset>,
) -> Result<Option<Standardization>> {
    match (&model.standardization, source, run.standardize) {
        (Some(s), _, true) => Ok(Some(s.clone())),
        (Some(_), Some(path), false) => bail!(
            "{} was trained with --standardize; add --standardize to continue from it (its statistics are reused)",
            path.display()
        ),
        (None, Some(path), true) => bail!(
            "{} was trained without --standardize, so its weights expect raw inputs; drop --standardize, or train a new model without --init",
            path.display()
        ),
        (None, None, true) => match train_rows {
            Some(d) => Ok(Some(Standardization::fit(d))),
            None => bail!("--standardize needs the rows on the host"),
        },
        (_, _, false) => Ok(None),
    }
}

/// Raised by Ctrl-C; the training loop checks it between batches.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn train_command(args: &TrainArgs) -> Result<ExitCode> {
    for path in [&args.save, &args.history, &args.checkpoint, &args.json]
        .into_iter()
        .flatten()
    {
        io::check_output_path(path)?;
    }
    if let Some(path) = &args.plot {
        plot::check_path(path)?;
    }
    if args.checkpoint.is_some() && args.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    // The run: from the command line, or from the checkpoint being resumed.
    let (run, resumed) = match &args.resume {
        None => (RunOptions::from_args(args)?, None),
        Some(path) => {
            let (model, ck) = io::load_checkpoint(path)?;
            let mut run: RunOptions =
                serde_json::from_value(ck.options.clone()).with_context(|| {
                    format!(
                        "{}: metadata 'options' is not a run's options",
                        path.display()
                    )
                })?;
            if let Some(e) = args.epochs {
                run.epochs = e;
            }
            if let Some(lr) = run.legacy_lr.take() {
                run.optimizer = Optimizer::gd(lr);
            }
            (run, Some((path.clone(), model, ck)))
        }
    };
    let schedule = check_schedule(&run)?;
    if let Some(fraction) = run.validation_split {
        data::check_split_fraction(fraction)?;
    }
    let target_loss = args
        .target_loss
        .map(|t| {
            if t.is_finite() && t >= 0.0 {
                Ok(t)
            } else {
                Err(anyhow::anyhow!("--target-loss must be 0 or more, not {t}"))
            }
        })
        .transpose()?;
    let max_time = args
        .max_time
        .map(|t| {
            std::time::Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--max-time must be a positive number of seconds")
        })
        .transpose()?;
    // With --backend gpu the synthetic task is generated on the device, so
    // a large batch is never built on the host nor copied over the bus.
    // A resumed run keeps the data source it started with.
    if run.on_device && args.backend != BackendChoice::Gpu {
        bail!("this run's synthetic data were generated on the GPU; resume it with --backend gpu");
    }
    let on_device = match (run.on_device, run.synthetic, run.features) {
        (true, Some(n), Some(f)) => Some((n, f)),
        _ => None,
    };
    let (data, columns, mut what) = match on_device {
        Some((n, f)) => (
            None,
            Columns::synthetic(n, f)?,
            format!(
                "synthetic {n} rows × {f} features (seed {}), generated on the GPU",
                run.seed
            ),
        ),
        None => {
            let (data, what) = load_data(&run)?;
            let columns = data.columns();
            (Some(data), columns, what)
        }
    };
    // The held-out rows leave the training set before anything is fitted.
    let (mut data, mut val) = match (data, run.validation_split) {
        (Some(all), Some(fraction)) => {
            let (train_rows, val_rows) = all.split(fraction, run.seed)?;
            what.push_str(&format!(
                "; {} rows train, {} held out (--validation-split {fraction})",
                train_rows.rows, val_rows.rows
            ));
            (Some(train_rows), Some(val_rows))
        }
        (data, _) => (data, None),
    };
    let (mut model, history, val_history, opt_state) = match resumed {
        Some((path, mut model, ck)) => {
            check_model(&model, &path, &run, &columns)?;
            if ck.epoch > run.epochs {
                bail!(
                    "{} is at epoch {}, past --epochs {}; give a larger --epochs to continue",
                    path.display(),
                    ck.epoch,
                    run.epochs
                );
            }
            model.standardization = standardization(&run, &model, Some(&path), None)?;
            (model, ck.history, ck.val_history, Some(ck.optimizer))
        }
        None => {
            let model = initial_model(&run, &columns)?;
            (model, Vec::new(), Vec::new(), None)
        }
    };
    if args.resume.is_none() {
        model.standardization = standardization(&run, &model, run.init.as_deref(), data.as_ref())?;
    }
    if let Some(s) = &model.standardization {
        for d in data.iter_mut().chain(val.iter_mut()) {
            s.apply(d);
        }
        what.push_str("; standardized");
    }
    let rows = (
        data.as_ref().map_or(columns.rows, |d| d.rows),
        val.as_ref().map_or(0, |v| v.rows),
    );
    let opt = run.optimizer;
    let mut backend: Box<dyn Backend> = match &data {
        Some(data) => open_backend(args, &model, data, opt)?,
        None => {
            let ctx = gpu::Context::new(&adapter_request(args)?)?;
            let source = gpu::Source::Synthetic {
                rows: columns.rows,
                seed: run.seed,
            };
            let g = GpuTrainer::with(ctx, &model, source, opt, args.device.kernels)?;
            with_optimizer(g, &model, opt)
        }
    };
    if let Some(state) = &opt_state {
        backend.set_optimizer_state(state).with_context(|| {
            format!(
                "--resume {}",
                args.resume.as_ref().expect("resumed").display()
            )
        })?;
    }
    let validation = match &val {
        Some(v) => Some(RefCell::new(Validation {
            scorer: Fast::new(&model, v, opt, args.device.threads)?,
            losses: val_history,
        })),
        None => None,
    };
    let resumed_at = history.len();
    if let Some(v) = &validation {
        v.borrow_mut().record(resumed_at, &model.params);
    }

    // Ctrl-C: finish the batch in flight, checkpoint, exit. Installing can
    // fail only if a handler exists already (a second run in one process).
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    INTERRUPTED.store(false, Ordering::Relaxed);
    let options = serde_json::to_value(&run).expect("options serialise");
    let write_checkpoint = |epoch: usize,
                            losses: &[f64],
                            params: Vec<f32>,
                            optimizer: crate::optim::Saved|
     -> crate::Result<()> {
        if let Some(path) = &args.checkpoint {
            let m = Model {
                params,
                ..model.clone()
            };
            let val_history = validation.as_ref().map_or_else(Vec::new, |v| {
                let v = v.borrow();
                v.losses
                    .iter()
                    .copied()
                    .filter(|&(k, _)| k <= epoch)
                    .collect()
            });
            let ck = io::Checkpoint {
                epoch,
                history: losses[..epoch].to_vec(),
                options: options.clone(),
                val_history,
                optimizer,
            };
            io::save_checkpoint(&m, &ck, path)?;
        }
        Ok(())
    };
    let mut periodic = |epoch: usize, losses: &[f64], b: &mut dyn Backend| -> crate::Result<()> {
        let params = b.params()?;
        write_checkpoint(epoch, losses, params, b.optimizer_state()?)
    };
    let mut score = |epoch: usize, _: &[f64], b: &mut dyn Backend| -> crate::Result<()> {
        if let Some(v) = &validation {
            let params = b.params()?;
            v.borrow_mut().record(epoch, &params);
        }
        Ok(())
    };
    // Epochs, epochs/s, the latest loss (and validation loss) and the ETA,
    // on a terminal only.
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::with_draw_target(
            Some((run.epochs - resumed_at) as u64),
            indicatif::ProgressDrawTarget::stderr(),
        )
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{wide_bar} {pos}/{len} epochs  {per_sec}  {msg}  ETA {eta}",
        )
        .expect("the template is valid"),
    );
    // When the loss first fell to each power of ten, at the batches' ends.
    let mut marks: Vec<(f64, f64)> = Vec::new();
    let mut next_mark = 1.0f64;
    let started = std::time::Instant::now();
    let mut report = |updates: usize, loss: f64| {
        while loss <= next_mark && next_mark >= MILESTONE_FLOOR {
            marks.push((next_mark, started.elapsed().as_secs_f64()));
            next_mark /= 10.0;
        }
        bar.set_position((updates - resumed_at) as u64);
        let val = validation.as_ref().and_then(|v| v.borrow().latest());
        bar.set_message(match val {
            Some(v) => format!("loss {loss:.3e}  val {v:.3e}"),
            None => format!("loss {loss:.4e}"),
        });
    };
    let hooks = Hooks {
        checkpoint_every: if args.checkpoint.is_some() {
            args.checkpoint_every
        } else {
            0
        },
        checkpoint: Some(&mut periodic),
        interrupt: Some(&INTERRUPTED),
        patience: run.patience,
        max_time,
        on_batch: Some(&mut report),
        after_batch: validation.is_some().then_some(&mut score),
        target_loss,
    };
    let outcome = train::train_from(backend.as_mut(), &schedule, history, hooks);
    bar.finish_and_clear();
    let outcome = outcome?;
    let params = backend.params()?;
    if let Some(v) = &validation {
        v.borrow_mut().record(outcome.updates, &params);
    }
    let scored = validation.as_ref().map(RefCell::borrow);
    let val_losses = scored.as_ref().map(|v| v.losses.as_slice());
    if let Some(path) = &args.history {
        io::write_history_with_val(path, &outcome.losses, val_losses)?;
    }
    if let Some(path) = &args.plot {
        let units = if run.standardize {
            "MSE in standardized units (log scale)"
        } else {
            "MSE (log scale)"
        };
        plot::LossCurve {
            losses: &outcome.losses,
            val: val_losses.unwrap_or_default(),
            title: format!(
                "loss per epoch: {} → {} → 1, {}, {}",
                model.layout.features(),
                model.layout.hidden_spec(),
                model.activation,
                opt.describe()
            ),
            loss_label: units.to_string(),
        }
        .write(path)?;
    }
    let bad_start = matches!(
        outcome.reason,
        StopReason::Diverged {
            rolled_back: false,
            ..
        }
    );
    if !bad_start {
        let state = backend.optimizer_state()?;
        write_checkpoint(outcome.updates, &outcome.losses, params.clone(), state)?;
    }
    let model = Model { params, ..model };
    // The model first: the summary names it, so it is written after.
    if succeeded(outcome.reason) {
        if let Some(path) = &args.save {
            let trained_by = serde_json::to_string(&opt).expect("the optimizer serialises");
            io::save_model_with(&model, path, &[("optimizer", trained_by)])?;
        }
    }
    if let Some(path) = &args.json {
        let mut summary = Summary::new(
            &run,
            backend.describe(),
            &outcome,
            rows,
            scored.as_deref(),
            args.save.as_deref(),
        );
        summary.milestones = marks
            .iter()
            .filter_map(|&(loss, wall_s)| {
                let epoch = outcome.losses.iter().position(|&l| l <= loss)?;
                // Reached before a resume: not this run's time.
                if epoch < resumed_at {
                    return None;
                }
                Some(Milestone {
                    loss,
                    epoch,
                    wall_s,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&summary).expect("the summary serialises");
        io::write_atomically(path, |w| w.write_all(text.as_bytes()))?;
    }
    match outcome.reason {
        StopReason::Diverged {
            epoch,
            loss,
            rolled_back,
        } => {
            let diverged = crate::Error::Diverged {
                epoch,
                loss,
                lr: opt.lr(),
            };
            match &args.checkpoint {
                Some(p) if rolled_back => bail!(
                    "{diverged}; the last good parameters (epoch {}) are in {}",
                    outcome.updates,
                    p.display()
                ),
                _ => bail!("{diverged}"),
            }
        }
        StopReason::Interrupted => {
            match &args.checkpoint {
                Some(p) => eprintln!(
                    "interrupted at epoch {}; checkpoint written to {} (continue with --resume)",
                    outcome.updates,
                    p.display()
                ),
                None => eprintln!(
                    "interrupted at epoch {}; nothing saved (no --checkpoint given)",
                    outcome.updates
                ),
            }
            return Ok(ExitCode::from(130));
        }
        _ => {}
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let first = outcome.losses[0];
    let last = *outcome.losses.last().expect("at least one loss");
    println!("backend   {}", backend.describe());
    println!("data      {what}");
    println!(
        "model     {} → {} → 1, {}, {} parameters",
        model.layout.features(),
        model.layout.hidden_spec(),
        model.activation,
        model.layout.len()
    );
    println!("optimizer {}", opt.describe());
    match outcome.evaluations {
        Some(n) => println!(
            "epochs    {} ({}), {n} loss-and-gradient evaluations",
            outcome.updates,
            outcome.reason.describe()
        ),
        None => println!(
            "epochs    {} ({})",
            outcome.updates,
            outcome.reason.describe()
        ),
    }
    match &model.standardization {
        // MSE scales with the square of the target's std.
        Some(s) => println!(
            "loss      {first:.6e} → {last:.6e} (standardized units; {:.6e} in target units)",
            last * s.target_std * s.target_std
        ),
        None => println!("loss      {first:.6e} → {last:.6e}"),
    }
    if let Some(v) = &scored {
        let (best_epoch, best) = v.best().unwrap_or((0, f64::NAN));
        println!(
            "val loss  {:.6e} → {:.6e}, best {best:.6e} at epoch {best_epoch} ({} rows, measured at {} epochs)",
            v.losses[0].1,
            v.latest().unwrap_or(f64::NAN),
            rows.1,
            v.losses.len()
        );
    }
    println!(
        "time      {:.3} s, {:.3} ms/epoch",
        outcome.elapsed.as_secs_f64(),
        outcome.time_per_epoch().as_secs_f64() * 1e3
    );
    if let Some(path) = &args.save {
        println!("saved     {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn predict_command(args: &PredictArgs) -> Result<()> {
    if let Some(out) = &args.out {
        io::check_output_path(out)?;
    }
    let model = io::load_model(&args.model)?;
    let table = Table::read(&args.data)?;
    let (data, has_target) = table.select_named(&model.feature_names, &model.target_name)?;
    // In the target's units: a standardised model's statistics are applied.
    let yhat = model.predict(&data);
    let mut text = String::with_capacity(yhat.len() * 12);
    text.push_str(&format!("{}_pred\n", model.target_name));
    for v in &yhat {
        text.push_str(&format!("{}\n", *v as f32));
    }
    match &args.out {
        Some(path) => io::write_atomically(path, |w| w.write_all(text.as_bytes()))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing predictions to standard output")?,
    }
    if has_target {
        let mse = cpu::reference::mse(&yhat, &data.y);
        // Keep standard output clean CSV when the predictions go there.
        let line = format!("mse {mse:.6e} over {} rows", data.rows);
        if args.out.is_some() {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    Ok(())
}

fn gen_command(args: &GenArgs) -> Result<()> {
    io::check_output_path(&args.out)?;
    let data = Dataset::synthetic(args.rows, args.features, args.seed)?;
    data.write_csv(&args.out)?;
    println!(
        "wrote {} rows × {} features to {}",
        data.rows,
        data.features,
        args.out.display()
    );
    Ok(())
}

fn bench_command(args: &BenchArgs) -> Result<()> {
    if let Some(path) = &args.json {
        io::check_output_path(path)?;
    }
    if let Some(path) = &args.plot {
        plot::check_path(path)?;
    }
    if args.samples == 0 || args.gpu_batch == 0 {
        bail!("--samples and --gpu-batch must be at least 1");
    }
    let request = AdapterRequest {
        allow_software: true,
        name: args.device.adapter.clone(),
        ..AdapterRequest::default()
    };
    let backends = if args.backends.is_empty() {
        let mut all = vec![BenchBackend::Cpu];
        if gpu::context::pick(gpu::context::adapters(), &request).is_ok() {
            all.push(BenchBackend::Gpu);
        } else {
            eprintln!("notice: no GPU adapter; timing the CPU only");
        }
        all
    } else {
        args.backends.clone()
    };
    let lr = bench::LR;
    let cases = args.shapes.0.len() * backends.len();
    let per_case = bench::samples_per_case(args.warmup, args.samples);
    // Samples done of all cases, the case in hand and the ETA, on a terminal only.
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::with_draw_target(
            Some((cases * per_case) as u64),
            indicatif::ProgressDrawTarget::stderr(),
        )
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{wide_bar} {pos}/{len} samples  case {msg}  ETA {eta}",
        )
        .expect("the template is valid"),
    );
    // Per-case lines go above the bar (or straight to a pipe), one per line.
    let say = |line: String| {
        if !args.quiet {
            bar.suspend(|| eprintln!("{line}"));
        }
    };
    let mut records = Vec::new();
    let mut case = 0;
    for shape in &args.shapes.0 {
        let data = Dataset::synthetic(shape.n, shape.f, 0)?;
        let layout = Layout::new(shape.f, &[shape.h])?;
        let model = Model::init(
            layout,
            args.activation,
            0,
            data.feature_names.clone(),
            "y".into(),
        );
        for &which in &backends {
            case += 1;
            let backend_name = match which {
                BenchBackend::Cpu => "cpu",
                BenchBackend::Reference => "reference",
                BenchBackend::Gpu => "gpu",
            };
            bar.set_message(format!(
                "{case}/{cases}: {} ({}×{}, h {}) on {backend_name}",
                shape.name, shape.n, shape.f, shape.h
            ));
            let start = std::time::Instant::now();
            let time = |b: &mut dyn Backend, per_sample: usize| {
                bench::time_epochs_with(b, args.warmup, args.samples, per_sample, &mut || {
                    bar.inc(1)
                })
                .with_context(|| format!("benchmarking {} on {backend_name}", shape.name))
            };
            let (adapter, setup_s, timing, kernels) = match which {
                BenchBackend::Cpu => {
                    let mut b = Fast::new(&model, &data, Optimizer::gd(lr), args.device.threads)?;
                    let setup = start.elapsed().as_secs_f64();
                    let adapter = format!("{} ({} threads)", cpu_name(), b.threads());
                    (adapter, setup, time(&mut b, 1)?, None)
                }
                BenchBackend::Reference => {
                    let mut b = Reference::new(&model, &data, Optimizer::gd(lr));
                    let setup = start.elapsed().as_secs_f64();
                    let adapter = format!("{} (1 thread)", cpu_name());
                    (adapter, setup, time(&mut b, 1)?, None)
                }
                BenchBackend::Gpu => {
                    let ctx = gpu::Context::new(&request)?;
                    let adapter = ctx.info.name.clone();
                    let mut g = GpuTrainer::with(
                        ctx,
                        &model,
                        gpu::Source::Host(&data),
                        Optimizer::gd(lr),
                        args.device.kernels,
                    )?;
                    let setup = start.elapsed().as_secs_f64();
                    let timing = time(&mut g, args.gpu_batch)?;
                    let kernels: Option<std::collections::BTreeMap<String, f64>> =
                        g.profile()?.map(|k| {
                            k.into_iter()
                                .map(|(k, s)| (k.entry_point().to_string(), s))
                                .collect()
                        });
                    (adapter, setup, timing, kernels)
                }
            };
            let mut record = Record::new(
                backend_name,
                &adapter,
                shape,
                args.activation.name(),
                &timing,
                setup_s,
            );
            say(format!(
                "{} {backend_name}: median {:.3e} s/epoch ({:.2} GFLOP/s), setup {:.2} s, first sample {:.3} s",
                shape.name, record.median_s, record.gflops, setup_s, record.first_sample_s
            ));
            if let Some(k) = &kernels {
                let parts: Vec<String> = k
                    .iter()
                    .map(|(name, s): (&String, &f64)| format!("{name} {:.3} ms", s * 1e3))
                    .collect();
                say(format!(
                    "  GPU time per kernel, one epoch: {}",
                    parts.join(", ")
                ));
            }
            record.kernel_s = kernels;
            records.push(record);
        }
    }
    bar.finish_and_clear();
    bench::fill_speedups(&mut records);
    print!("{}", bench::table(&records));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&records).context("serialising the records")?;
        io::write_atomically(path, |w| w.write_all(text.as_bytes()))?;
    }
    if let Some(path) = &args.plot {
        plot::BenchBars { records: &records }.write(path)?;
    }
    Ok(())
}

/// The CPU's model name, from /proc/cpuinfo where there is one.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn info_command() -> Result<()> {
    let adapters = gpu::context::adapters();
    if adapters.is_empty() {
        println!("no GPU adapters found (Vulkan, Metal, DX12)");
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        println!("[{i}] {}", info.name);
        println!(
            "    backend {:?}, type {:?}",
            info.backend, info.device_type
        );
        println!("    driver  {} {}", info.driver, info.driver_info);
        println!(
            "    limits  storage binding {} MiB, buffer {} MiB, workgroups/dim {}, workgroup storage {} KiB, invocations {}",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_invocations_per_workgroup
        );
        println!(
            "    timestamps {}",
            a.features().contains(wgpu::Features::TIMESTAMP_QUERY)
        );
    }
    for (name, allow_software) in [("auto", false), ("gpu", true)] {
        let request = AdapterRequest {
            allow_software,
            ..AdapterRequest::default()
        };
        match gpu::context::pick(gpu::context::adapters(), &request) {
            Ok(a) => println!("--backend {name} would use: {}", a.get_info().name),
            Err(_) if name == "auto" => {
                println!("--backend auto would use: the CPU (no hardware GPU)")
            }
            Err(e) => println!("--backend {name}: {e}"),
        }
    }
    Ok(())
}
