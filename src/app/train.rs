//! `train`, as a pipeline: resolve the options (and the checkpoint
//! resumed), load the data, build the starting model, open the backend,
//! fit, write the outputs, and end as the run did.

use std::cell::RefCell;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use anyhow::{anyhow, bail, Context as _, Result};

use super::config::{Resumed, RunOptions, TrainConfig};
use super::progress;
use super::report::{self, Finished, Milestones};
use super::validation::Validation;
use crate::bench::BackendKind;
use crate::cli::{BackendChoice, TrainArgs};
use crate::cpu::{Fast, Reference};
use crate::data::{Columns, Dataset, Standardization, Table};
use crate::dist::sharded::Interrupts;
use crate::dist::{self, Comm, Sharded, Shards, Single};
use crate::gpu::{self, AdapterRequest, GpuTrainer};
use crate::io;
use crate::model::{Layout, Model};
use crate::optim::lbfgs::{Lbfgs, Objective};
use crate::optim::{Optimizer, Saved};
use crate::train::{self, Backend, Hooks, Outcome, StopReason};

/// Raised by SIGINT (Ctrl-C), SIGTERM or SIGHUP; the training loop checks
/// it between batches.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);
/// The number of the signal that raised [`INTERRUPTED`] last; 0 for none.
static SIGNAL: LazyLock<Arc<AtomicUsize>> = LazyLock::new(Arc::default);
/// A sharded run's interrupt, agreed by every process at the same pass:
/// the flag its training loop checks, and the signal's number.
static AGREED: AtomicBool = AtomicBool::new(false);
static AGREED_SIGNAL: AtomicUsize = AtomicUsize::new(0);
/// A sharded run's processes agreed that `--max-time` had passed.
static TIMED_OUT: AtomicBool = AtomicBool::new(false);
/// The signals that end a run cleanly, each with the name it is reported by.
const STOPPING: [(i32, &str); 3] = [
    (signal_hook::consts::SIGINT, "SIGINT"),
    (signal_hook::consts::SIGTERM, "SIGTERM"),
    (signal_hook::consts::SIGHUP, "SIGHUP"),
];

/// Lowers the interrupt flag and, the first time, installs the handlers
/// that raise it on each of [`STOPPING`], recording which signal came.
fn watch_signals() -> Result<()> {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    SIGNAL.store(0, Ordering::SeqCst);
    INTERRUPTED.store(false, Ordering::SeqCst);
    AGREED.store(false, Ordering::SeqCst);
    AGREED_SIGNAL.store(0, Ordering::SeqCst);
    TIMED_OUT.store(false, Ordering::SeqCst);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    for (signal, name) in STOPPING {
        // The signal's number first, so it is there once the flag is seen.
        signal_hook::flag::register_usize(signal, Arc::clone(&SIGNAL), signal as usize)
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED)))
            .with_context(|| format!("installing the {name} handler"))?;
    }
    Ok(())
}

/// The signal that interrupted the run, as its name and the exit status
/// a shell reports for it (128 + its number): SIGINT 130, SIGTERM 143,
/// SIGHUP 129. A sharded run reports the signal its processes agreed on.
fn interrupting_signal(sharded: bool) -> (&'static str, u8) {
    let signal = if sharded {
        AGREED_SIGNAL.load(Ordering::SeqCst)
    } else {
        SIGNAL.load(Ordering::SeqCst)
    };
    STOPPING
        .iter()
        .find(|&&(s, _)| s as usize == signal)
        .map_or(("SIGINT", 130), |&(s, name)| (name, 128 + s as u8))
}

/// An error every process of a distributed run has, agreed on; process 0
/// prints it, the others end quietly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Agreed(String);

pub(super) fn train_command(args: &TrainArgs) -> Result<ExitCode> {
    if !args.distributed {
        return train_with(args, &Single);
    }
    let comm = dist::world()?;
    let (rank, size) = (comm.rank(), comm.size());
    match train_with(args, comm.as_ref()) {
        Ok(code) => Ok(code),
        Err(e) => match e.downcast::<Agreed>() {
            Ok(agreed) if rank == 0 => Err(anyhow!(agreed.0)),
            Ok(_) => Err(super::Reported.into()),
            // This process alone failed, perhaps while the others wait for
            // it in a collective: say why, and end them all.
            Err(e) => {
                eprintln!("error: process {rank} of {size}: {e:#}");
                comm.abort(1)
            }
        },
    }
}

/// `result` on one process, made every process's: the same `Ok`, or on
/// every process the first failing process's error, as [`Agreed`]. One
/// process needs no agreement and keeps its error as it is.
fn agree<T>(
    comm: &dyn Comm,
    what: &str,
    result: Result<T>,
    fingerprint: impl FnOnce(&T) -> String,
) -> Result<T> {
    if comm.size() == 1 {
        return result;
    }
    let local = match &result {
        Ok(v) => Ok(fingerprint(v)),
        Err(e) => Err(format!("{e:#}")),
    };
    dist::agree(comm, what, local).map_err(Agreed)?;
    result
}

/// `train` as one of `comm`'s processes (the only one without `--distributed`).
fn train_with(args: &TrainArgs, comm: &dyn Comm) -> Result<ExitCode> {
    let (rank, size) = (comm.rank(), comm.size());
    let setup = (|| {
        // Only process 0 writes files and prints, so only it checks where
        // they go (another machine may not have the folders).
        let mut args = args.clone();
        if rank > 0 {
            (args.save, args.history, args.json, args.plot) = (None, None, None, None);
            args.checkpoint = None;
            args.quiet = true;
        }
        let (mut config, resumed) = TrainConfig::resolve(&args)?;
        config.leader = rank == 0;
        config.adapter.nth = comm.local_rank();
        let mut data = TrainingData::load(&config.run, rank, size)?;
        let start = starting_point(&config, resumed, &mut data)?;
        let shards = match config.run.shards {
            Some(k) => {
                let shards = Shards::new(data.rows().0, k)?;
                shards.check_processes(size)?;
                Some(shards)
            }
            None => None,
        };
        Ok((config, data, start, shards))
    })();
    // Every process checks its options and data before any epoch; one
    // failure or mismatch stops them all with one message.
    let (config, mut data, start, shards) =
        agree(comm, "the run's options and data", setup, |(c, d, s, _)| {
            fingerprint(c, d, s)
        })?;
    let Start {
        model,
        history,
        val_history,
        optimizer,
    } = start;
    let sets = shards.map_or_else(Vec::new, |s| data.take_shards(&s, rank, size));
    let opened = (|| {
        let backend = match shards {
            Some(s) => open_sharded(&config, &model, &sets, comm, s, optimizer.as_ref())?,
            None => open_backend(&config, &model, &data, optimizer.as_ref())?,
        };
        let validation = open_validation(
            &config,
            &model,
            data.val.as_ref(),
            val_history,
            history.len(),
        )?;
        Ok((backend, validation))
    })();
    let (mut backend, validation) = agree(comm, "the backend", opened, |_| String::new())?;
    let checkpointer = Checkpointer::new(&config, &model);
    let fitted = fit(
        &config,
        backend.as_mut(),
        &checkpointer,
        history,
        validation,
    )?;
    let done = write_outputs(
        &config,
        backend.as_mut(),
        &checkpointer,
        &model,
        &data,
        fitted,
    );
    // Process 0 wrote the files: the others end as it did.
    let done = agree(comm, "the outputs", done, |_| String::new())?;
    conclude(&config, &done).map_err(|e| {
        if size > 1 {
            Agreed(format!("{e:#}")).into()
        } else {
            e
        }
    })
}

/// What the processes of a run must agree on: its options, the data's
/// shape and the starting parameters.
fn fingerprint(config: &TrainConfig, data: &TrainingData, start: &Start) -> String {
    let options = serde_json::to_string(&config.run).expect("options serialise");
    // FNV-1a over the parameters' bits: the same --init, --resume and seed.
    let params = start
        .model
        .params
        .iter()
        .fold(0xcbf29ce484222325u64, |h, v| {
            (h ^ v.to_bits() as u64).wrapping_mul(0x100000001b3)
        });
    format!(
        "options {options}, {} rows × {} features, {} updates done, parameters {params:016x}",
        data.columns.rows,
        data.columns.features,
        start.history.len()
    )
}

/// The rows a run trains and validates on, and a line saying what they are.
struct TrainingData {
    /// The training rows; `None` when the GPU generates them.
    train: Option<Dataset>,
    /// The rows `--validation-split` holds out.
    val: Option<Dataset>,
    /// The shape and names of the data, before any split.
    columns: Columns,
    /// The data line of the printed summary.
    what: String,
    /// Rows trained on, those of other processes included.
    train_rows: usize,
    /// The row of the whole training set that `train`'s first is.
    offset: usize,
}

impl TrainingData {
    /// The run's data, split when it asks for a validation split; of a
    /// sharded run's synthetic rows only those of process `rank` of `size`,
    /// unless every row is needed (to split or standardise).
    fn load(run: &RunOptions, rank: usize, size: usize) -> Result<TrainingData> {
        if let (Some(k), Some(n), Some(f), None, false, false) = (
            run.shards,
            run.synthetic,
            run.features,
            &run.data,
            run.on_device,
            run.standardize || run.validation_split.is_some(),
        ) {
            let shards = Shards::new(n, k)?;
            shards.check_processes(size)?;
            let range = shards.rows_owned(rank, size);
            let mut what = format!("synthetic {n} rows × {f} features (seed {})", run.seed);
            if size > 1 {
                what.push_str(&format!(
                    ", rows {}..{} generated here",
                    range.start, range.end
                ));
            }
            return Ok(TrainingData {
                train: Some(Dataset::synthetic_rows(n, f, run.seed, range.clone())?),
                val: None,
                columns: Columns::synthetic(n, f)?,
                what,
                train_rows: n,
                offset: range.start,
            });
        }
        let (all, columns, mut what) = match run.on_device_shape() {
            Some((n, f)) => (
                None,
                Columns::synthetic(n, f)?,
                format!(
                    "synthetic {n} rows × {f} features (seed {}), generated on the GPU",
                    run.seed
                ),
            ),
            None => {
                let (data, what) = read_data(run)?;
                let columns = data.columns();
                (Some(data), columns, what)
            }
        };
        // The held-out rows leave the training set before anything is fitted.
        let (train, val) = match (all, run.validation_split) {
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
        let train_rows = train.as_ref().map_or(columns.rows, |d| d.rows);
        Ok(TrainingData {
            train,
            val,
            columns,
            what,
            train_rows,
            offset: 0,
        })
    }

    /// The training rows of the shards process `rank` of `size` owns, each
    /// a data set of its own, in shard order; `train` is dropped. None when
    /// the GPU generates the rows.
    fn take_shards(&mut self, shards: &Shards, rank: usize, size: usize) -> Vec<Dataset> {
        let Some(train) = self.train.take() else {
            return Vec::new();
        };
        shards
            .owned(rank, size)
            .map(|s| {
                let rows = shards.rows_of(s);
                train.slice(rows.start - self.offset..rows.end - self.offset)
            })
            .collect()
    }

    /// Standardises the training and the held-out rows with `s`.
    fn standardize(&mut self, s: &Standardization) {
        for d in self.train.iter_mut().chain(self.val.iter_mut()) {
            s.apply(d);
        }
        self.what.push_str("; standardized");
    }

    /// Rows trained on and rows held out.
    fn rows(&self) -> (usize, usize) {
        (self.train_rows, self.val.as_ref().map_or(0, |v| v.rows))
    }
}

/// The rows of `--data` or `--synthetic` on the host, and what they are.
fn read_data(run: &RunOptions) -> Result<(Dataset, String)> {
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

/// Where a run starts: the model, the losses before each update so far,
/// the validation losses so far and a resumed optimizer's state.
struct Start {
    model: Model,
    history: Vec<f64>,
    val_history: Vec<(usize, f64)>,
    optimizer: Option<Saved>,
}

/// The resumed checkpoint's state, or a new run's starting model; the data
/// are standardised as the model is.
fn starting_point(
    config: &TrainConfig,
    resumed: Option<Resumed>,
    data: &mut TrainingData,
) -> Result<Start> {
    let run = &config.run;
    let start = match resumed {
        Some(resumed) => resume(run, resumed, &data.columns)?,
        None => {
            let mut model = initial_model(run, &data.columns)?;
            model.standardization =
                standardization(run, &model, run.init.as_deref(), data.train.as_ref())?;
            Start {
                model,
                history: Vec::new(),
                val_history: Vec::new(),
                optimizer: None,
            }
        }
    };
    if let Some(s) = &start.model.standardization {
        data.standardize(s);
    }
    Ok(start)
}

/// A checkpoint's state, checked against the data and the epochs to run.
fn resume(run: &RunOptions, resumed: Resumed, columns: &Columns) -> Result<Start> {
    let Resumed {
        path,
        mut model,
        checkpoint,
    } = resumed;
    check_model(&model, &path, run, columns)?;
    if checkpoint.epoch > run.epochs {
        bail!(
            "{} is at epoch {}, past --epochs {}; give a larger --epochs to continue",
            path.display(),
            checkpoint.epoch,
            run.epochs
        );
    }
    model.standardization = standardization(run, &model, Some(&path), None)?;
    Ok(Start {
        model,
        history: checkpoint.history,
        val_history: checkpoint.val_history,
        optimizer: Some(checkpoint.optimizer),
    })
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
    if let Some(a) = run.activation {
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
        let layout = Layout::new(data.features, &run.fresh_hidden())?;
        return Ok(Model::init(
            layout,
            run.fresh_activation(),
            run.seed,
            data.feature_names.clone(),
            data.target_name.clone(),
        ));
    };
    let model = io::load_model(path)?;
    check_model(&model, path, run, data).with_context(|| format!("--init {}", path.display()))?;
    Ok(model)
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

/// Where a run trains, `auto` resolved.
enum Device {
    Cpu,
    Reference,
    Gpu(Box<gpu::Context>),
}

impl Device {
    fn open(config: &TrainConfig) -> Result<Device> {
        Ok(match config.backend {
            BackendChoice::Auto => Device::auto(&config.adapter)?,
            BackendChoice::Kind(BackendKind::Cpu) => Device::Cpu,
            BackendChoice::Kind(BackendKind::Reference) => Device::Reference,
            BackendChoice::Kind(BackendKind::Gpu) => {
                Device::Gpu(Box::new(gpu::Context::new(&config.adapter)?))
            }
        })
    }

    /// `auto`: a hardware GPU when there is one, otherwise the CPU, with a
    /// notice saying why.
    fn auto(request: &AdapterRequest) -> Result<Device> {
        match gpu::Context::new(request) {
            Ok(ctx) => Ok(Device::Gpu(Box::new(ctx))),
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
                Ok(Device::Cpu)
            }
            Err(e) => Err(e.into()),
        }
    }
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

/// The trainer of `model` on the data, holding a resumed optimizer `state`.
fn open_backend<'a>(
    config: &TrainConfig,
    model: &Model,
    data: &'a TrainingData,
    state: Option<&Saved>,
) -> Result<Box<dyn Backend + 'a>> {
    let (opt, kernels) = (config.run.optimizer, config.kernels);
    let mut backend = match &data.train {
        // The synthetic rows, generated on the GPU.
        None => {
            let ctx = gpu::Context::new(&config.adapter)?;
            let (rows, seed) = (data.columns.rows, config.run.seed);
            let source = gpu::Source::Synthetic {
                rows,
                seed,
                first: 0,
            };
            let g = GpuTrainer::with(ctx, model, source, opt, kernels)?;
            with_optimizer(g, model, opt)
        }
        Some(rows) => match Device::open(config)? {
            Device::Cpu => with_optimizer(Fast::new(model, rows, opt, config.threads)?, model, opt),
            Device::Reference => with_optimizer(Reference::new(model, rows, opt), model, opt),
            Device::Gpu(ctx) => {
                let g = GpuTrainer::with(*ctx, model, gpu::Source::Host(rows), opt, kernels)?;
                with_optimizer(g, model, opt)
            }
        },
    };
    if let Some(state) = state {
        let resumed = config.resume.as_ref().expect("resumed");
        backend
            .set_optimizer_state(state)
            .with_context(|| format!("--resume {}", resumed.display()))?;
    }
    Ok(backend)
}

/// The sharded trainer of `model`: a pass per shard of `sets` (the shards
/// this process owns; none when the GPU generates them) on the run's
/// backend, summed over every process's shards by `comm`.
fn open_sharded<'a>(
    config: &TrainConfig,
    model: &Model,
    sets: &'a [Dataset],
    comm: &'a dyn Comm,
    shards: Shards,
    state: Option<&Saved>,
) -> Result<Box<dyn Backend + 'a>> {
    let opt = config.run.optimizer;
    // The shard passes only evaluate; the optimizer runs on the host.
    let pass_opt = Optimizer::gd(opt.lr());
    let kernels = config.kernels;
    let owned = shards.owned(comm.rank(), comm.size());
    let mut parts: Vec<dist::sharded::Part<'a>> = Vec::with_capacity(owned.len());
    let mut threads = 1;
    if sets.is_empty() {
        // The synthetic rows, each shard's generated on the GPU.
        for s in owned {
            let rows = shards.rows_of(s);
            let source = gpu::Source::Synthetic {
                rows: rows.len(),
                seed: config.run.seed,
                first: rows.start,
            };
            let ctx = gpu::Context::new(&config.adapter)?;
            parts.push(Box::new(GpuTrainer::with(
                ctx, model, source, pass_opt, kernels,
            )?));
        }
    } else {
        let (kind, first_ctx) = match Device::open(config)? {
            Device::Gpu(ctx) => (BackendKind::Gpu, Some(*ctx)),
            Device::Cpu => (BackendKind::Cpu, None),
            Device::Reference => (BackendKind::Reference, None),
        };
        let how = PassConfig {
            kind,
            first_ctx,
            adapter: &config.adapter,
            kernels,
            threads: config.threads,
        };
        (parts, threads) = shard_passes(how, model, sets, pass_opt)?;
    }
    let mut sharded = Sharded::new(parts, threads, comm, shards, &model.params, opt)?;
    sharded.watch(Interrupts {
        local: &SIGNAL,
        agreed: &AGREED,
        agreed_signal: &AGREED_SIGNAL,
        deadline: config.max_time.map(|t| std::time::Instant::now() + t),
        timed_out: &TIMED_OUT,
    });
    let mut backend = with_optimizer(sharded, model, opt);
    if let Some(state) = state {
        let resumed = config.resume.as_ref().expect("resumed");
        backend
            .set_optimizer_state(state)
            .with_context(|| format!("--resume {}", resumed.display()))?;
    }
    Ok(backend)
}

/// How to build the passes of a process's shards.
pub(super) struct PassConfig<'r> {
    pub kind: BackendKind,
    /// A device already opened, for the first GPU shard.
    pub first_ctx: Option<gpu::Context>,
    pub adapter: &'r AdapterRequest,
    pub kernels: gpu::KernelChoice,
    /// Threads of a CPU process (0: every core).
    pub threads: usize,
}

/// One pass per shard of `sets` on `how.kind`, and the threads to run them
/// on: GPU shards one after the other, CPU shards side by side, each on
/// one thread, so that a shard's sums never depend on the thread count.
pub(super) fn shard_passes<'a>(
    how: PassConfig<'_>,
    model: &Model,
    sets: &'a [Dataset],
    opt: Optimizer,
) -> Result<(Vec<dist::sharded::Part<'a>>, usize)> {
    let mut first_ctx = how.first_ctx;
    let mut parts: Vec<dist::sharded::Part<'a>> = Vec::with_capacity(sets.len());
    for set in sets {
        parts.push(match how.kind {
            BackendKind::Cpu => Box::new(Fast::new(model, set, opt, 1)?),
            BackendKind::Reference => Box::new(Reference::new(model, set, opt)),
            BackendKind::Gpu => {
                // The first shard takes the device opened; the others their own.
                let ctx = match first_ctx.take() {
                    Some(ctx) => ctx,
                    None => gpu::Context::new(how.adapter)?,
                };
                let source = gpu::Source::Host(set);
                Box::new(GpuTrainer::with(ctx, model, source, opt, how.kernels)?)
            }
        });
    }
    let threads = match (how.kind, how.threads) {
        (BackendKind::Gpu, _) => 1,
        (_, 0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        (_, n) => n,
    };
    Ok((parts, threads))
}

/// The scorer of the held-out rows, if any, having scored the starting
/// parameters (after `resumed_at` updates).
fn open_validation<'a>(
    config: &TrainConfig,
    model: &Model,
    rows: Option<&'a Dataset>,
    history: Vec<(usize, f64)>,
    resumed_at: usize,
) -> Result<Option<Validation<'a>>> {
    let Some(rows) = rows else {
        return Ok(None);
    };
    // A sharded run scores on one thread: the sums of a multi-threaded pass
    // depend on the thread count, which mpirun's binding of each process to
    // a core changes with the process count.
    let threads = if config.run.shards.is_some() {
        1
    } else {
        config.threads
    };
    let scorer = Fast::new(model, rows, config.run.optimizer, threads)?;
    let mut validation = Validation::new(scorer, history);
    validation.record(resumed_at, &model.params);
    Ok(Some(validation))
}

/// Writes `--checkpoint`: the model with given parameters, the losses
/// before them, the run's options, the validation losses so far and the
/// optimizer's state.
struct Checkpointer<'a> {
    path: Option<&'a Path>,
    /// The run's options, as checkpoints record them.
    options: serde_json::Value,
    /// The starting model, for everything but its parameters.
    model: &'a Model,
}

impl<'a> Checkpointer<'a> {
    fn new(config: &'a TrainConfig, model: &'a Model) -> Checkpointer<'a> {
        Checkpointer {
            path: config.checkpoint.as_ref().map(|c| c.path.as_path()),
            options: serde_json::to_value(&config.run).expect("options serialise"),
            model,
        }
    }

    fn write(
        &self,
        epoch: usize,
        losses: &[f64],
        params: Vec<f32>,
        optimizer: Saved,
        validation: Option<&Validation>,
    ) -> crate::Result<()> {
        let Some(path) = self.path else {
            return Ok(());
        };
        let model = Model {
            params,
            ..self.model.clone()
        };
        let ck = io::Checkpoint {
            epoch,
            history: losses[..epoch].to_vec(),
            options: self.options.clone(),
            val_history: validation.map_or_else(Vec::new, |v| v.up_to(epoch)),
            optimizer,
        };
        io::save_checkpoint(&model, &ck, path)
    }
}

/// What fitting leaves: the outcome, the validation losses, when the loss
/// reached each power of ten, and the updates done before this run.
struct Fitted<'a> {
    outcome: Outcome,
    validation: Option<Validation<'a>>,
    milestones: Milestones,
    resumed_at: usize,
}

/// Trains from `history` until the schedule or a hook stops it, with
/// Ctrl-C (and SIGTERM, SIGHUP), periodic checkpoints, validation scoring,
/// the progress bar and the milestones hooked in.
fn fit<'a>(
    config: &TrainConfig,
    backend: &mut dyn Backend,
    checkpointer: &Checkpointer,
    history: Vec<f64>,
    validation: Option<Validation<'a>>,
) -> Result<Fitted<'a>> {
    // Ctrl-C, SIGTERM and SIGHUP: finish the batch in flight, checkpoint,
    // exit with the signal's status.
    watch_signals()?;
    let sharded = config.run.shards.is_some();
    let resumed_at = history.len();
    let validation = validation.map(RefCell::new);
    let mut periodic = |epoch: usize, losses: &[f64], b: &mut dyn Backend| -> crate::Result<()> {
        let params = b.params()?;
        let state = b.optimizer_state()?;
        let scored = validation.as_ref().map(RefCell::borrow);
        checkpointer.write(epoch, losses, params, state, scored.as_deref())
    };
    let mut score = |epoch: usize, _: &[f64], b: &mut dyn Backend| -> crate::Result<()> {
        if let Some(v) = &validation {
            let params = b.params()?;
            v.borrow_mut().record(epoch, &params);
        }
        Ok(())
    };
    // Epochs, epochs/s, the latest loss (and validation loss) and the ETA.
    let bar = progress::bar(
        config.quiet,
        config.run.epochs - resumed_at,
        "{wide_bar} {pos}/{len} epochs  {per_sec}  {msg}  ETA {eta}",
    );
    let mut milestones = Milestones::start();
    let mut report = |updates: usize, loss: f64| {
        milestones.observe(loss);
        bar.set_position((updates - resumed_at) as u64);
        let val = validation.as_ref().and_then(|v| v.borrow().latest());
        bar.set_message(match val {
            Some(v) => format!("loss {loss:.3e}  val {v:.3e}"),
            None => format!("loss {loss:.4e}"),
        });
    };
    let hooks = Hooks {
        checkpoint_every: config.checkpoint_every(),
        checkpoint: Some(&mut periodic),
        // A sharded run stops where its processes agreed to.
        interrupt: Some(if sharded {
            &AGREED
        } else {
            INTERRUPTED.as_ref()
        }),
        patience: config.run.patience,
        // A sharded run's processes agree on the time limit through their
        // passes, as on a signal.
        max_time: if sharded { None } else { config.max_time },
        on_batch: Some(&mut report),
        after_batch: validation.is_some().then_some(&mut score),
        target_loss: config.target_loss,
    };
    let outcome = train::train_from(backend, &config.schedule, history, hooks).map(|mut o| {
        if sharded && o.reason == StopReason::Interrupted && TIMED_OUT.load(Ordering::SeqCst) {
            o.reason = StopReason::TimeLimit;
        }
        o
    });
    bar.finish_and_clear();
    Ok(Fitted {
        outcome: outcome?,
        validation: validation.map(RefCell::into_inner),
        milestones,
        resumed_at,
    })
}

/// Scores the final parameters and writes the run's files, in this order:
/// model, history, plot, checkpoint, summary; an error names each one
/// that failed and says whether the model was saved.
fn write_outputs<'a>(
    config: &TrainConfig,
    backend: &mut dyn Backend,
    checkpointer: &Checkpointer,
    model: &Model,
    data: &TrainingData,
    fitted: Fitted<'a>,
) -> Result<Finished<'a>> {
    let Fitted {
        outcome,
        mut validation,
        milestones,
        resumed_at,
    } = fitted;
    let params = backend.params()?;
    if let Some(v) = &mut validation {
        v.record(outcome.updates, &params);
    }
    let done = Finished {
        milestones: milestones.reached(&outcome.losses, resumed_at),
        outcome,
        model: Model {
            params,
            ..model.clone()
        },
        backend: backend.describe(),
        data: data.what.clone(),
        rows: data.rows(),
        validation,
    };
    // The model first, then the other files: a failure of one of them
    // loses none of the others. The summary, which names the model and
    // the failures, comes last.
    let mut failed: Vec<String> = Vec::new();
    fn note(failed: &mut Vec<String>, flag: &str, r: Result<()>) {
        if let Err(e) = r {
            failed.push(format!("{flag}: {e:#}"));
        }
    }
    let model_written = match report::write_model(config, &done) {
        Ok(written) => written,
        Err(e) => {
            note(&mut failed, "--save", Err(e));
            false
        }
    };
    note(
        &mut failed,
        "--history",
        report::write_history(config, &done),
    );
    note(&mut failed, "--plot", report::write_plot(config, &done));
    // Without one finite loss there is nothing good to checkpoint.
    let bad_start = matches!(
        done.outcome.reason,
        StopReason::Diverged {
            rolled_back: false,
            ..
        }
    );
    if !bad_start {
        let written = (|| {
            let state = backend.optimizer_state()?;
            let (updates, losses) = (done.outcome.updates, &done.outcome.losses);
            let params = done.model.params.clone();
            checkpointer.write(updates, losses, params, state, done.validation.as_ref())?;
            Ok(())
        })();
        note(&mut failed, "--checkpoint", written);
    }
    let summary = report::write_summary(config, &done, model_written, &failed);
    note(&mut failed, "--json", summary);
    if !failed.is_empty() {
        let model = match (&config.outputs.save, model_written) {
            (Some(path), true) => format!("the model was saved to {}", path.display()),
            (Some(_), false) => "the model was not saved".to_string(),
            (None, _) => "no --save was given".to_string(),
        };
        bail!(
            "could not write {}; {model}",
            failed.join("; could not write ")
        );
    }
    Ok(done)
}

/// Ends as the run did: an error after a divergence, exit code 130 after
/// Ctrl-C (SIGINT), 143 after SIGTERM and 129 after SIGHUP, otherwise the
/// printed summary.
fn conclude(config: &TrainConfig, done: &Finished) -> Result<ExitCode> {
    let updates = done.outcome.updates;
    let checkpoint = config.checkpoint.as_ref().map(|c| c.path.display());
    match done.outcome.reason {
        StopReason::Diverged {
            epoch,
            loss,
            rolled_back,
        } => {
            let lr = config.run.optimizer.lr();
            let diverged = crate::Error::Diverged { epoch, loss, lr };
            match checkpoint {
                Some(p) if rolled_back => {
                    bail!("{diverged}; the last good parameters (epoch {updates}) are in {p}")
                }
                _ => bail!("{diverged}"),
            }
        }
        StopReason::Interrupted => {
            let (signal, status) = interrupting_signal(config.run.shards.is_some());
            if !config.leader {
                return Ok(ExitCode::from(status));
            }
            match checkpoint {
                Some(p) => eprintln!(
                    "interrupted at epoch {updates} ({signal}); checkpoint written to {p} (continue with --resume)"
                ),
                None => eprintln!(
                    "interrupted at epoch {updates} ({signal}); nothing saved (no --checkpoint given)"
                ),
            }
            return Ok(ExitCode::from(status));
        }
        _ => {}
    }
    if !config.quiet {
        report::print_summary(config, done)?;
        if done.outcome.ended_above_start() {
            eprintln!("{}", above_start_warning(config, &done.outcome));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The warning after a run whose final loss is above its first.
fn above_start_warning(config: &TrainConfig, outcome: &Outcome) -> String {
    let first = outcome.losses[0];
    let last = *outcome.losses.last().expect("at least one loss");
    let lr = config.run.optimizer.lr();
    let remedy = if config.run.standardize {
        format!("try a smaller --lr (this run used {lr})")
    } else {
        format!("try a smaller --lr (this run used {lr}) or --standardize")
    };
    format!("warning: the loss ended above where it started ({first:.6e} → {last:.6e}); {remedy}")
}
