//! `train`, as a pipeline: resolve the options (and the checkpoint
//! resumed), load the data, build the starting model, open the backend,
//! fit, write the outputs, and end as the run did.

use std::cell::RefCell;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use anyhow::{bail, Context as _, Result};

use super::budget;
use super::cells::{self, Said};
use super::config::{many_rows_flags, Fold, Resumed, RunOptions, TrainConfig, LR_PLOT_NEEDS};
use super::decay_search::{choose_decay, SearchInterrupted};
use super::ending::{conclude, other_remedies, start_not_finite, with_run_flags};
use super::folds::FoldScore;
use super::progress;
use super::report::{self, ConstantColumn, Finished, Milestones};
use super::validation::Validation;
use crate::bench::BackendKind;
use crate::cli::{BackendChoice, HoldOut, Keep, Missing, TrainArgs};
use crate::cpu::{Fast, Reference};
use crate::data::{
    self, r_squared, Category, Columns, DataDigest, Dataset, FeatureRanges, Imputation,
    Standardization, Table, TargetTransform,
};
use crate::dist::sharded::Interrupts;
use crate::dist::{self, Comm, Sharded, Shards, Single};
use crate::gpu::mixed::Precision;
use crate::gpu::{self, AdapterRequest, GpuTrainer, KernelChoice};
use crate::io;
use crate::model::{Layout, Model};
use crate::optim::lbfgs::{Lbfgs, Objective};
use crate::optim::range::{self, Found, RangeTest};
use crate::optim::{Optimizer, Saved};
use crate::train::{self, Backend, HeldOutRules, Hooks, Kept, Outcome, StopReason};
use crate::units;

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

/// Lowers a sharded run's agreed stop and, the first time, installs the
/// handlers that raise the interrupt flag on each of [`STOPPING`],
/// recording which signal came.
pub(super) fn watch_signals() -> Result<()> {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    // A signal is never lowered: one that came since the last loop (after
    // --lr auto's range test, between two folds of --folds) stops the
    // next at its first check. A sharded run's agreement is its own.
    AGREED.store(false, Ordering::SeqCst);
    AGREED_SIGNAL.store(0, Ordering::SeqCst);
    TIMED_OUT.store(false, Ordering::SeqCst);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    for (signal, name) in STOPPING {
        if crate::io::ignored_at_start(signal) {
            continue;
        }
        // The signal's number first, so it is there once the flag is seen.
        signal_hook::flag::register_usize(signal, Arc::clone(&SIGNAL), signal as usize)
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED)))
            .and_then(|_| io::watch_waits(signal))
            .with_context(|| format!("installing the {name} handler"))?;
    }
    Ok(())
}

/// The signal that interrupted the run, as its name and the exit status
/// a shell reports for it (128 + its number): SIGINT 130, SIGTERM 143,
/// SIGHUP 129. A sharded run reports the signal its processes agreed on.
pub(super) fn interrupting_signal(sharded: bool) -> (&'static str, u8) {
    let signal = if sharded {
        AGREED_SIGNAL.load(Ordering::SeqCst)
    } else {
        SIGNAL.load(Ordering::SeqCst)
    };
    signal_name(signal as i32).map_or(("SIGINT", 130), |name| (name, 128 + signal as u8))
}

/// Tests only (debug builds): `SHADERTRAIN_SIGNAL_IN_FOLD=N` sends this
/// process SIGTERM as fold N (from 1) of `--folds` is set up, before its
/// training loop, so that a test can check that no loop lowers a signal
/// that came before it; `every-row`, as `--folds --save`'s run on every
/// row (`fold` none) is.
#[cfg(debug_assertions)]
fn signal_in_fold(fold: Option<Fold>) -> Result<()> {
    let asked = std::env::var("SHADERTRAIN_SIGNAL_IN_FOLD").ok();
    let this = fold.map_or("every-row".to_string(), |f| (f.index + 1).to_string());
    if asked.as_deref() == Some(this.as_str()) {
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM)
            .context("raising SIGTERM for SHADERTRAIN_SIGNAL_IN_FOLD")?;
    }
    Ok(())
}

/// The name of one of [`STOPPING`]'s signals by its number.
pub(super) fn signal_name(signal: i32) -> Option<&'static str> {
    STOPPING
        .iter()
        .find(|&&(s, _)| s == signal)
        .map(|&(_, name)| name)
}

/// The flag a training loop checks between batches: a sharded run stops
/// where its processes agreed to, any other at its own signal.
fn interrupt_flag(sharded: bool) -> &'static AtomicBool {
    match sharded {
        true => &AGREED,
        false => INTERRUPTED.as_ref(),
    }
}

/// An error every process of a distributed run has, agreed on; process 0
/// prints it, the others end quietly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Agreed(String);

pub(super) fn train_command(args: &TrainArgs) -> Result<ExitCode> {
    CpuOptions::start();
    let (status, leader) = train_runs(args)?;
    // Said by the process that prints, of every run the command trained
    // (the folds', a grid's, the weight decay search's, a retry's).
    if status == ExitCode::SUCCESS && leader {
        for text in CpuOptions::unused(args) {
            super::notice(args.quiet, &text);
        }
    }
    Ok(status)
}

/// Whether anything the train command ran took `--threads` or
/// `--cpu-isa`: marked where a pass is built with them, so that a
/// command that gave them and built none says so as it ends
/// ([`CpuOptions::unused`]).
struct CpuOptions;

static THREADS_TAKEN: AtomicBool = AtomicBool::new(false);
static ISA_TAKEN: AtomicBool = AtomicBool::new(false);

impl CpuOptions {
    fn start() {
        THREADS_TAKEN.store(false, Ordering::Relaxed);
        ISA_TAKEN.store(false, Ordering::Relaxed);
    }

    /// A pass built with `--threads` (`threads`), `--cpu-isa` (`isa`).
    fn taken(threads: bool, isa: bool) {
        if threads {
            THREADS_TAKEN.store(true, Ordering::Relaxed);
        }
        if isa {
            ISA_TAKEN.store(true, Ordering::Relaxed);
        }
    }

    /// The notices of `--threads` (other than 0) and `--cpu-isa`, where
    /// given and nothing took them.
    fn unused(args: &TrainArgs) -> Vec<String> {
        let mut notices = Vec::new();
        let threads = args.device.threads;
        if threads != 0 && !THREADS_TAKEN.load(Ordering::Relaxed) {
            notices.push(format!("--threads {threads} changed nothing: it sets the threads of the cpu backend, of held-out rows scored on the host beside another backend (one, where the run is sharded) and of the reference's shards, and no run of this command had any of these"));
        }
        if let (Some(isa), false) = (args.device.cpu_isa, ISA_TAKEN.load(Ordering::Relaxed)) {
            notices.push(format!("--cpu-isa {} changed nothing: it sets the build of the cpu backend and of held-out rows scored on the host beside another backend, and no run of this command had either", isa.name()));
        }
        notices
    }
}

/// The runs of the train command: `--folds`' (with `--grid`'s), or one
/// on this process or over `--distributed`'s; with whether this process
/// prints the run's summary (the only one, or `--distributed`'s 0).
fn train_runs(args: &TrainArgs) -> Result<(ExitCode, bool)> {
    if let Some(size) = dist::first_of_launched().filter(|_| !args.distributed) {
        crate::say!("warning: mpirun started {size} processes, and without --distributed each trains the whole run alone and writes the same outputs; add --distributed to train one run over them");
    }
    if args.folds.is_some() {
        return Ok((super::folds::cross_validate(args)?, true));
    }
    if !args.distributed {
        // Held for the run, and released (its files removed) as it ends.
        let _locks = lock_checkpoints(args)?;
        return Ok((train_with(args, &Single, None)?, true));
    }
    let comm = dist::world()?;
    let run = || {
        // The first process's alone, which alone writes the checkpoint.
        let mine = match comm.rank() {
            0 => lock_checkpoints(args),
            _ => Ok(Vec::new()),
        };
        let _locks = agree(comm.as_ref(), "the checkpoint's lock", mine, |_| {
            String::new()
        })?;
        train_with(args, comm.as_ref(), None)
    };
    Ok((settle(comm.as_ref(), run())?, comm.rank() == 0))
}

/// One run of `--folds`: the fold it holds out (none for the last run on
/// every row, for `--save`), and what the folds share.
pub(super) struct FoldRun<'s> {
    pub fold: Option<Fold>,
    pub shared: &'s mut Shared,
}

/// What the runs of `--folds` share: the rows, read once (standard input
/// can be read only once), the device, opened once, and the scores of
/// the folds done, with their held-out rows' predictions where
/// `--fold-predictions` asks for them.
#[derive(Default)]
pub(super) struct Shared {
    read: Option<ReadData>,
    device: Option<Device>,
    pub scores: Vec<FoldScore>,
    /// Each fold's predictions of its held-out rows, in file order, in
    /// the target's units.
    pub predictions: Vec<Vec<f64>>,
    /// The options `--grid` chose, for the run on every row's notes
    /// (empty without a grid).
    pub every_row_flags: String,
    /// The runs train adam in mini-batches for their many rows, and a
    /// notice said so ([`TrainConfig::mini_batches_by_default`]).
    mini_batches_said: bool,
    /// The runs choose their weight decay for their few rows, and a
    /// notice said so ([`TrainConfig::decay_search`]).
    decay_said: bool,
    /// The runs start from an `--init` model whose statistics lie far
    /// from the rows', and a notice said so ([`far_from_the_model`]).
    init_far_said: bool,
    /// The last run's options as it trained them (with adam in
    /// mini-batches where its many rows chose them), for the folds'
    /// report and `--grid`'s.
    pub ran: Option<TrainConfig>,
    /// The transform of the target the runs train on.
    pub transform: TargetTransform,
    /// The folds of the weight decay's search, whose held-out MSE alone
    /// is read: none predicts its held-out rows for a pooled score in the
    /// target's own units.
    scores_only: bool,
}

impl Shared {
    /// For runs on `rows`, as read (with their one-hot `categories`), on
    /// `device`: the decay search's folds, which read and open nothing.
    pub fn with_rows(rows: Dataset, categories: &[Category], device: &Device) -> Self {
        Shared {
            read: Some(ReadData {
                data: rows,
                what: String::new(),
                digest: None,
                left_out: Vec::new(),
                categories: categories.to_vec(),
            }),
            device: Some(device.clone()),
            scores_only: true,
            ..Shared::default()
        }
    }

    /// The data line of the rows read, before any fold held rows out.
    pub fn described(&self) -> Option<&str> {
        self.read.as_ref().map(|r| r.what.as_str())
    }

    /// With a transform of the target, what the held-out scores are of,
    /// as the folds' tables say it: "log(price)"; `None` without one.
    pub fn transformed(&self) -> Option<String> {
        match (self.transform, self.rows()) {
            (TargetTransform::None, _) | (_, None) => None,
            (t, Some((_, target))) => Some(t.of(target)),
        }
    }

    /// The rows read and the target's name.
    pub fn rows(&self) -> Option<(usize, &str)> {
        (self.read.as_ref()).map(|r| (r.data.rows, r.data.target_name.as_str()))
    }

    /// The targets of the rows read, in file order.
    pub fn targets(&self) -> Option<&[f32]> {
        self.read.as_ref().map(|r| r.data.y.as_slice())
    }

    /// The rows of the file `--missing` left out, by their place among
    /// the rows read, in order.
    pub fn left_out(&self) -> &[usize] {
        self.read.as_ref().map_or(&[], |r| r.left_out.as_slice())
    }
}

/// Runs fold `fold` of `--folds` in one process: its score is added to
/// `shared`'s, or, where a signal stopped it, the status to exit with.
pub(super) fn train_fold(args: &TrainArgs, fold: Fold, shared: &mut Shared) -> Result<ExitCode> {
    let fold = Some(fold);
    train_with(args, &Single, Some(FoldRun { fold, shared }))
}

/// `--folds --save`: the run `args` on every row read into `shared`
/// (with its device), which ends as a plain run does: its summary, the
/// model saved, its exit status.
pub(super) fn train_on_every_row(args: &TrainArgs, shared: &mut Shared) -> Result<ExitCode> {
    let fold = None;
    train_with(args, &Single, Some(FoldRun { fold, shared }))
}

/// The predictions of `model` (the fold's, as scored) for a fold's
/// held-out rows as read (`held`), its columns put in the model's order
/// (an `--init` model's may differ from the file's): filled with the
/// model's means or medians, if it keeps them, and in the target's units,
/// as `predict --missing fill` makes them.
fn held_out_predictions(model: &Model, held: &Dataset) -> Result<Vec<f64>> {
    let mut rows = held.select_features(&model.feature_names)?;
    if let Some(m) = &model.imputation {
        m.apply(&mut rows);
    }
    Ok(crate::cpu::reference::predict_on_cores(model, &rows)?)
}

/// How a process of a distributed command ends on its `result`: an error
/// all agreed on ([`Agreed`]) is printed once, by process 0, and every
/// process exits with it; an error of this process alone is printed with
/// its rank and ends every process (the others may be waiting for it in
/// a collective). One process keeps its error as it is.
pub(super) fn settle<T>(comm: &dyn Comm, result: Result<T>) -> Result<T> {
    let (rank, size) = (comm.rank(), comm.size());
    if size == 1 {
        return result;
    }
    match result {
        Ok(v) => Ok(v),
        Err(e) => match e.downcast::<Agreed>() {
            // Process 0 says it; the others wait until it has, since mpirun
            // ends the whole job as soon as one process exits non-zero.
            Ok(agreed) => {
                if rank == 0 {
                    crate::say!("error: {}", crate::units::one_line(&agreed.0));
                }
                comm.all_gather_bytes(&[]);
                Err(super::Reported.into())
            }
            // This process alone failed, perhaps while the others wait for
            // it in a collective: say why, and end them all.
            Err(e) => {
                let text = format!("{e:#}");
                let text = crate::units::one_line(&text);
                dist::say(&format!("error: process {rank} of {size}: {text}"));
                comm.abort(1)
            }
        },
    }
}

/// `result` on one process, made every process's: the same `Ok`, or on
/// every process the first failing process's error, as [`Agreed`]. One
/// process needs no agreement and keeps its error as it is.
pub(super) fn agree<T>(
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

/// [`Shards::new`] of `rows` training rows into `k`; where `chosen` (the
/// count is `--distributed`'s default, not given) and they are too few,
/// an error that says where the count came from.
fn shards_of(rows: usize, k: usize, chosen: bool) -> Result<Shards> {
    if chosen && k > rows {
        bail!("--distributed cuts the rows into {k} shards unless --shards is given, and {k} is more than the {rows} training rows; give at most {rows} (or train without --distributed)");
    }
    Ok(Shards::new(rows, k)?)
}

/// What a process sets up before any epoch: the run's options, its data,
/// where it starts, its shards, the device and the checkpoint writer.
type SetUp = (
    TrainConfig,
    TrainingData,
    Start,
    Option<Shards>,
    Device,
    Option<io::CheckpointWriter>,
);

/// [`SetUp`] for process `rank` of `size`.
/// `fold`: the fold of `--folds` this run holds out.
fn set_up(
    args: &TrainArgs,
    (rank, size, local_rank): (usize, usize, usize),
    mut fold: Option<&mut FoldRun>,
) -> Result<SetUp> {
    let args = as_process(args, rank);
    let (mut config, resumed) = TrainConfig::resolve(&args)?;
    config.leader = rank == 0;
    if let Some(f) = &fold {
        // Each fold's score goes into the folds' report, not a summary;
        // --json is the folds' record, and --save the model of the run on
        // every row.
        config.run.fold = f.fold;
        let json = config.outputs.json.take();
        match f.fold {
            Some(_) => config.outputs.save = None,
            None => {
                config.outputs.others = [json, args.fold_predictions.clone()]
                    .into_iter()
                    .flatten()
                    .collect();
                config.outputs.after_folds = Some(f.shared.every_row_flags.clone());
            }
        }
    }
    config.adapter.nth = local_rank;
    let is_resumed = resumed.is_some();
    // --init's model, read once: a new run starts from it.
    let init = match (&config.run.init, &resumed) {
        (Some(path), None) => Some(io::load_model(path)?),
        _ => None,
    };
    if let (true, Some(model)) = (config.run.standardize_as_init, &init) {
        config.run.standardize = model.standardization.is_some();
        config.run.on_device &= !config.run.standardize;
    }
    let transform = target_transform(&config.run, (resumed.as_ref(), init.as_ref()))?;
    config.run.on_device &= transform.is_none();
    // A run from --init without --target trains the model's target where
    // the file has that column; a resumed one, its checkpoint's (the same,
    // and the --init file may be gone).
    let init_target = match (&config.run.init, &config.run.target, &resumed, &init) {
        (Some(_), None, Some(r), _) => Some(r.model.target_name.as_str()),
        (Some(_), None, None, Some(model)) => Some(model.target_name.as_str()),
        _ => None,
    };
    // The levels of the model a run starts from, which its one-hot
    // encoded columns keep.
    let levels = match (&resumed, &init) {
        (Some(r), _) => Some(&r.model.categories),
        (None, Some(model)) => Some(&model.categories),
        _ => None,
    };
    let levels = levels.filter(|c| !c.is_empty()).map(Vec::as_slice);
    let dates = match (&resumed, &init) {
        (Some(r), _) => Some(r.model.dates.as_slice()),
        (None, Some(model)) => Some(model.dates.as_slice()),
        _ => None,
    };
    let fill = (init.as_ref()).and_then(|m| m.imputation.as_ref().map(Imputation::fill));
    let from = Origin {
        target: init_target,
        levels,
        dates,
        fill,
        transform,
    };
    let read = fold.as_mut().map(|f| &mut f.shared.read);
    let chosen = shards_default(&args, &config.run);
    // Synthetic rows none held out are sharded as they are generated:
    // their count checked here, as below for any other rows.
    let run = &config.run;
    if let (Some(n), Some(k), false) = (run.synthetic, run.shards, run.holds_out()) {
        shards_of(n, k, chosen)?;
    }
    let mut data = TrainingData::load(&config.run, (rank, size), is_resumed, from, read)?;
    // A resume in place goes on appending to the checkpoint's history
    // file (process 0's; the others have no --checkpoint).
    let writer = config.checkpoint.as_ref().map(|c| {
        let from = resumed.as_ref().map(|r| (r.path.as_path(), &r.checkpoint));
        let writer = io::CheckpointWriter::new(&c.path, from);
        writer.check().map(|()| writer).context("--checkpoint")
    });
    let writer = writer.transpose()?;
    // One device for every run: --grid cannot vary what Device::open
    // reads (a --batch-size it varies is given in every combination).
    let device = match fold.as_mut().map(|f| &mut f.shared.device) {
        Some(Some(device)) => device.clone(),
        Some(cached) => cached.insert(Device::open(&config)?).clone(),
        None => Device::open(&config)?,
    };
    // A fold's held-out rows too: every fold and the run on every row
    // decide alike.
    let (train_rows, held_out) = data.rows();
    let rows = match config.run.fold {
        Some(_) => train_rows + held_out,
        None => train_rows,
    };
    // The training rows as read, where they choose the weight decay: each
    // of the search's folds fills and standardises its own.
    let fresh = Layout::new(data.columns.features, &config.run.fresh_hidden());
    let few = fresh.is_ok_and(|l| config.decay_search(&args, (rows, l.len())));
    let as_read = few.then(|| data.train.clone()).flatten();
    let said = fold.as_mut().map(|f| &mut f.shared.init_far_said);
    let start = starting_point(&config, (resumed, init), &mut data, &device, said)?;
    let params = start.model.params.len();
    config.note_kept_lbfgs(&args, (rows, data.rows(), params), device.kind());
    if let Some(adam) = config.mini_batches_by_default(&args, (rows, params), device.kind()) {
        // Its batches' copy of the rows.
        budget::check(&adam, &device, &start.model.layout, data.rows())?;
        let said = fold.as_mut().map(|f| &mut f.shared.mini_batches_said);
        super::notice_once(&config, said, || mini_batches_notice(&adam, rows));
        config = adam;
    }
    if config.outputs.lr_plot.is_some() && config.lr_auto.is_none() {
        bail!("{LR_PLOT_NEEDS} (a run that names no optimizer tests the rate only where its many rows choose adam in mini-batches: docs/optimizers.md, \"Many rows\")");
    }
    // Before the decay search, which trains.
    if config.leader {
        check_room(&config, &start.model)?;
    }
    if let Some(rows) = as_read {
        let said = fold.as_mut().map(|f| &mut f.shared.decay_said);
        choose_decay(
            &args,
            &mut config,
            rows,
            (&data.categories, &device),
            params,
            said,
        )?;
    }
    if let Some(f) = fold.as_mut() {
        f.shared.ran = Some(config.clone());
        f.shared.transform = transform;
        #[cfg(debug_assertions)]
        signal_in_fold(f.fold)?;
    }
    let shards = (config.run.shards)
        .map(|k| {
            let shards = shards_of(data.rows().0, k, chosen)?;
            shards.check_processes(size, config.resume.is_some())?;
            anyhow::Ok(shards)
        })
        .transpose()?;
    Ok((config, data, start, shards, device, writer))
}

/// `args` as process `rank` takes them: only process 0 writes files and
/// prints, so only it checks where they go (another machine may not
/// have the folders); the others have no outputs and are quiet.
fn as_process(args: &TrainArgs, rank: usize) -> TrainArgs {
    let mut args = args.clone();
    if rank > 0 {
        (args.save, args.history, args.json, args.plot) = (None, None, None, None);
        args.lr_plot = None;
        args.checkpoint = None;
        args.quiet = true;
    }
    args
}

/// Whether `run`'s shards are `--distributed`'s own 16, `--shards` not
/// given: an error that they outnumber the rows says where they came
/// from ([`shards_of`]).
fn shards_default(args: &TrainArgs, run: &RunOptions) -> bool {
    args.distributed && args.shards.is_none() && run.shards == Some(crate::dist::DEFAULT_SHARDS)
}

/// Locks the checkpoints of `--checkpoint` (alone: this run writes it)
/// and `--resume` (shared, where it only reads it) for this run
/// ([`io::lock_checkpoint`]); one that another running process holds
/// so is refused before anything is read, and so is a new run's (no
/// `--resume`) `--checkpoint` that holds a run cut short
/// ([`io::cut_short_checkpoint`]): rerunning the command that was
/// interrupted would have replaced its epochs with a new run's.
fn lock_checkpoints(args: &TrainArgs) -> Result<Vec<io::CheckpointLock>> {
    let mut locks = Vec::new();
    let resumed = (args.resume.as_ref())
        .filter(|r| !(args.checkpoint.as_ref()).is_some_and(|c| io::same_file(c, r)));
    for (flag, path, writes) in [
        ("--checkpoint", args.checkpoint.as_ref(), true),
        ("--resume", resumed, false),
    ] {
        let Some(path) = path else {
            continue;
        };
        let held = match io::lock_checkpoint(path, writes) {
            Ok(lock) => {
                locks.extend(lock);
                continue;
            }
            Err(held) => held,
        };
        let path = path.display();
        bail!(match held {
            io::LockHeld::Readers => format!("{flag} {path}: other shadertrain runs are resuming from this checkpoint; give this run another path, or wait for them to end"),
            io::LockHeld::Writer(pid) => {
                let who = match pid {
                    Some(pid) => format!("another shadertrain run (PID {pid})"),
                    None => "another shadertrain run".to_string(),
                };
                match writes {
                    true => format!("{flag} {path}: {who} is writing this checkpoint, and two runs at one checkpoint would mix its history; give this run another path, or wait for that one to end"),
                    false => format!("{flag} {path}: {who} is still writing this checkpoint; resume it once that run has ended (stopped by Ctrl-C or SIGTERM, it writes the checkpoint first)"),
                }
            }
        });
    }
    // A resume, from the checkpoint or a copy of it (a snapshot taken
    // back to), says which run goes on at the path.
    let replaced = args.checkpoint.as_ref().filter(|_| args.resume.is_none());
    if let Some(path) = replaced {
        if let Some(epoch) = io::cut_short_checkpoint(path) {
            let (ck, files) = checkpoint_files(path);
            bail!(
                "--checkpoint {ck} holds the checkpoint, at epoch {epoch}, of a run that did not end there (interrupted, stopped by --max-time, killed, or its last checkpoint not written), which a new run there would replace: --resume {ck} continues it; to start a new run, delete {files}, or give --checkpoint another path"
            );
        }
    }
    Ok(locks)
}

/// The checkpoint at `path` as a shell word, and it and its history
/// files there, as shell words joined by "and", for an error that says
/// what to delete.
pub(super) fn checkpoint_files(path: &Path) -> (String, String) {
    let word = |p: &Path| units::shell_word(&p.display().to_string());
    let files: Vec<String> = std::iter::once(path.to_path_buf())
        .chain(io::checkpoint_history_files(path))
        .filter(|p| p.exists())
        .map(|p| word(&p))
        .collect();
    (word(path), files.join(" and "))
}

/// Refuses a run whose model file (`--save`) or checkpoint would not fit
/// its file system, before it trains: a full disk had let a run train to
/// its end and then save nothing. The checkpoint holds the model, the
/// optimizer's state (f64s: first-order vectors, or L-BFGS's pairs) and
/// `--keep`'s parameters (f32s).
fn check_room(config: &TrainConfig, model: &Model) -> Result<()> {
    let save = config.outputs.save.as_deref();
    let checkpoint = config.checkpoint.as_ref().map(|c| c.path.as_path());
    if save.is_none() && checkpoint.is_none() {
        return Ok(());
    }
    // A model that cannot be saved is the save's to refuse.
    let Ok(bytes) = io::model_to_bytes(model).map(|b| b.len() as u64) else {
        return Ok(());
    };
    // L-BFGS keeps a pair per iteration, up to its history size.
    let vectors = match config.run.optimizer {
        Optimizer::Lbfgs { history_size, .. } => (history_size.min(config.run.epochs) as u64)
            .saturating_mul(2)
            .saturating_add(1),
        other => other.state_per_param() as u64,
    };
    let kept = u64::from(config.run.keep != Keep::Last);
    let per_param = vectors.checked_mul(8).and_then(|b| b.checked_add(4 * kept));
    let state = per_param.and_then(|b| b.checked_mul(model.params.len() as u64));
    // Past u64, no file system holds it; the run's own memory check says so.
    let Some(checkpoint_bytes) = state.and_then(|s| s.checked_add(bytes)) else {
        return Ok(());
    };
    let outputs: Vec<(&str, &Path, u64)> = [
        save.map(|p| ("--save", p, bytes)),
        checkpoint.map(|p| ("--checkpoint", p, checkpoint_bytes)),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(io::check_room_for(&outputs)?)
}

/// `train` as one of `comm`'s processes (the only one without
/// `--distributed`); with `fold`, one fold of `--folds`, which ends by
/// adding its score to the folds' ([`FoldRun`]), or `--folds --save`'s
/// run on every row, which ends as a plain run does.
fn train_with(args: &TrainArgs, comm: &dyn Comm, mut fold: Option<FoldRun>) -> Result<ExitCode> {
    let (rank, size) = (comm.rank(), comm.size());
    let setup = set_up(args, (rank, size, comm.local_rank()), fold.as_mut());
    // Interrupted before anything trained; a fold's end is the folds' to
    // report. (A search runs only in one process.)
    if let Some(SearchInterrupted(status)) = setup.as_ref().err().and_then(|e| e.downcast_ref()) {
        search_interrupted(fold.as_ref());
        return Ok(*status);
    }
    // Every process checks its options and data before any epoch; one
    // failure or mismatch stops them all with one message.
    let (config, mut data, start, shards, device, writer) = agree(
        comm,
        "the run's options and data",
        setup,
        |(c, d, s, _, device, _)| fingerprint(c, d, s, device),
    )?;
    let model = &start.model;
    data.note_variances(&config.run, model.target_transform);
    let sets = shards.map_or_else(Vec::new, |s| data.take_shards(&s, rank, size));
    let mut config = config;
    if let Some(a) = &start.lr_auto {
        // A resumed --lr auto run: retried as it would have been.
        config.lr_found = Some(a.found.clone());
    }
    if let Some(test) = config.lr_auto {
        // On a backend of its own, from the run's initial parameters; with
        // mini-batches, on the rows of a few of them; with full batches, on
        // a sample of the rows where there are many.
        // (Mini-batches are never sharded.)
        let seed = config.run.seed;
        let (few, sampled) = match (config.run.batches(), shards) {
            (Some(b), _) => (data.first_batches(b.size, range::MINI_BATCHES, seed), None),
            (None, None) => (data.first_batches(range::FULL_BATCH_ROWS, 1, seed), None),
            (None, Some(s)) => (None, sampled_shards(&sets, s, rank, size, seed)),
        };
        let rows = few.as_ref().unwrap_or(&data);
        let (test_sets, test_shards) = match &sampled {
            Some((sets, s)) => (sets, Some(*s)),
            None => (&sets, shards),
        };
        let open = |probe: &TrainConfig| match test_shards {
            Some(s) => open_sharded(probe, model, test_sets, comm, s, device.clone(), None),
            None => open_backend(probe, model, rows, device.clone(), None, false),
        };
        let Some(found) = auto_rate(&config, test, comm, open)? else {
            let (signal, status) = interrupting_signal(shards.is_some());
            // A fold's end is the folds' to report.
            if config.leader && config.run.fold.is_none() {
                crate::say!("interrupted ({signal}) during the --lr auto range test; nothing was trained or saved");
            }
            return Ok(ExitCode::from(status));
        };
        config.run.optimizer = config.run.optimizer.with_lr(found.lr);
        config.lr_found = Some(Found {
            rows: test_shards.map_or(rows.train_rows, |s| s.rows),
            ..found
        });
    }
    // A run at the rate --lr auto chose that diverges is trained again,
    // from the same start, at a lower rate (range::retry_rate): a resumed
    // run from the initial parameters its checkpoint kept.
    let lr_start = config.lr_found.as_ref().map(|_| match &start.lr_auto {
        Some(a) => a.start.clone(),
        None => model.params.clone(),
    });
    let mut retry_start: Option<Start> = None;
    let mut writer = writer;
    loop {
        let from = retry_start.as_ref().unwrap_or(&start);
        let opened = open_run(&config, from, &data, &sets, shards, comm, device.clone());
        let (mut backend, validation, kept) =
            agree(comm, "the backend", opened, |_| String::new())?;
        // Held-out rows scored on the host, with --threads' threads.
        let host_scored = validation.is_some() && backend.held_out().is_none();
        let checkpointer = Checkpointer::new(
            &config,
            model,
            writer.take(),
            data.digest.clone(),
            &device,
            host_scored,
            lr_start.as_deref(),
        );
        let fitted = fit(
            &config,
            backend.as_mut(),
            &checkpointer,
            from.history.clone(),
            validation,
            kept,
        )?;
        // Every process gets here alike (the same losses): only then is
        // the time gathered.
        let again = match (fitted.outcome.reason, &config.lr_found) {
            (reason @ StopReason::Diverged { .. }, Some(_)) => {
                retry(&config, reason, slowest(comm, fitted.outcome.elapsed))
            }
            _ => None,
        };
        if let Some(again) = again {
            drop((fitted, checkpointer, backend));
            if let (Some(params), None) = (&lr_start, &retry_start) {
                retry_start = Some(Start::fresh(Model {
                    params: params.clone(),
                    ..model.clone()
                }));
            }
            config = again;
            writer = config
                .checkpoint
                .as_ref()
                .map(|c| io::CheckpointWriter::new(&c.path, None));
            continue;
        }
        let held = data.held(&sets, size);
        let done = write_outputs(
            &config,
            backend.as_mut(),
            &checkpointer,
            model,
            (&data, &held),
            fitted,
        );
        // Process 0 wrote the files: the others end as it did.
        let done = agree(comm, "the outputs", done, |_| String::new())?;
        if let Some(FoldRun {
            fold: Some(_),
            shared,
        }) = fold
        {
            return score_fold(args, &config, &done, data.rows(), shared);
        }
        return conclude(&config, &done).map_err(|e| {
            if size > 1 {
                Agreed(format!("{e:#}")).into()
            } else {
                e
            }
        });
    }
}

/// Says that a signal stopped the weight decay's search of a run (with
/// `fold`, of one of `--folds`', whose end is the folds' to report, or
/// of the run on every row after them).
fn search_interrupted(fold: Option<&FoldRun>) {
    match fold.map(|f| f.fold.is_none()) {
        None => crate::say!(
            "interrupted during the search for --weight-decay; nothing was trained or saved"
        ),
        // --folds --save's run on every row, after the folds' outputs.
        Some(true) => crate::say!(
            "interrupted during the search for --weight-decay of the run on every row; its model was not trained or saved (the folds' outputs, written before it, stand)"
        ),
        Some(false) => {}
    }
}

/// How fold `config.run.fold` of `--folds` ends, `done` on `rows`
/// (trained, held out): its score (and its held-out rows' predictions,
/// for `--fold-predictions`) added to `shared`'s; where a signal stopped
/// it, none, and the status to exit with.
fn score_fold(
    args: &TrainArgs,
    config: &TrainConfig,
    done: &Finished,
    rows: (usize, usize),
    shared: &mut Shared,
) -> Result<ExitCode> {
    if done.outcome.reason == StopReason::Interrupted {
        let sharded = config.run.shards.is_some();
        return Ok(ExitCode::from(interrupting_signal(sharded).1));
    }
    // With a transform, for the table's score in the target's own units.
    if args.fold_predictions.is_some() || !(shared.transform.is_none() || shared.scores_only) {
        let f = config.run.fold.expect("a fold's run");
        let read = shared.read.as_ref().expect("the rows read");
        let held = data::fold_rows(f.index, f.count, read.data.rows, config.run.seed);
        let held = read.data.take_rows(&held);
        let predicted = held_out_predictions(&done.model, &held)?;
        shared.predictions.push(predicted);
    }
    shared.scores.push(FoldScore::of(config, done, rows));
    Ok(ExitCode::SUCCESS)
}

/// The backend a run trains on from `start`, its validation scorer, and
/// the kept parameters it goes on from (a resumed run's).
fn open_run<'a>(
    config: &TrainConfig,
    start: &Start,
    data: &'a TrainingData,
    sets: &'a [Dataset],
    shards: Option<Shards>,
    comm: &'a dyn Comm,
    device: Device,
) -> Result<RunParts<'a>> {
    let (model, state) = (&start.model, start.optimizer.as_ref());
    let backend = match shards {
        Some(s) => open_sharded(config, model, sets, comm, s, device, state)?,
        None => open_backend(config, model, data, device, state, true)?,
    };
    // `--keep best` keeps in the training loop, and so does `best-val`
    // where the backend measures the held-out loss every epoch (the
    // GPU); otherwise the scorer keeps for `best-val`.
    let on_device = backend.held_out().is_some();
    let (kept, val_kept) = match config.run.keep {
        Keep::BestVal if !on_device => (None, start.kept.clone()),
        _ => (start.kept.clone(), None),
    };
    let validation = open_validation(
        config,
        model,
        data.val.as_ref(),
        start.val_history.clone(),
        start.history.len(),
        val_kept,
        !on_device,
    )?;
    Ok((backend, validation, kept))
}

/// What [`open_run`] opens.
type RunParts<'a> = (Box<dyn Backend + 'a>, Option<Validation<'a>>, Option<Kept>);

/// The run to train after one that stopped for `reason`, where `--lr
/// auto` chose the rate and the run diverged: the same at
/// [`range::retry_rate`] of its rate, the
/// diverged run recorded among the range test's retries; `None` after
/// [`range::MAX_RETRIES`] of them, or where the schedule's floor
/// (`--lr-min`) would not be below the lower rate. `--max-time` bounds
/// the runs together: the next has what the diverged one left (it took
/// `elapsed`, the same in every process).
fn retry(
    config: &TrainConfig,
    reason: StopReason,
    elapsed: std::time::Duration,
) -> Option<TrainConfig> {
    let StopReason::Diverged { epoch, loss, .. } = reason else {
        return None;
    };
    let found = config.lr_found.as_ref()?;
    let lr = config.run.optimizer.lr();
    let next = range::retry_rate(lr);
    let optimizer = config.run.optimizer.with_lr(next);
    let max_time = match config.max_time {
        Some(t) => Some(t.checked_sub(elapsed).filter(|left| !left.is_zero())?),
        None => None,
    };
    if found.retries.len() >= range::MAX_RETRIES
        || config.run.lr_schedule.check(&optimizer).is_err()
    {
        return None;
    }
    let mut again = config.clone();
    again.run.optimizer = optimizer;
    again.max_time = max_time;
    let mut found = found.clone();
    found.retries.push(range::Retry {
        lr,
        epoch,
        loss,
        wall_s: elapsed.as_secs_f64(),
    });
    super::notice(
        config.quiet,
        &format!(
            "--lr auto: the run diverged at epoch {epoch} (loss = {loss:e}) at lr {}; training again from the start at {} (retry {} of {})",
            crate::optim::short(lr),
            crate::optim::short(next),
            found.retries.len(),
            range::MAX_RETRIES
        ),
    );
    again.lr_found = Some(found);
    Some(again)
}

/// The longest of the processes' `elapsed`: a time every process of a
/// distributed run decides alike by.
fn slowest(comm: &dyn Comm, elapsed: std::time::Duration) -> std::time::Duration {
    if comm.size() == 1 {
        return elapsed;
    }
    let mut all = vec![0.0; comm.size()];
    comm.all_gather(&[elapsed.as_secs_f64()], &vec![1; comm.size()], &mut all);
    std::time::Duration::from_secs_f64(all.into_iter().fold(0.0, f64::max))
}

/// What the processes of a run must agree on, as a JSON object whose
/// fields [`dist::agree`] names where they differ: its options and the
/// settings outside them that change what is trained or when it stops,
/// the backend, the data (a file's digest: its names and values) and the
/// starting parameters.
fn fingerprint(
    config: &TrainConfig,
    data: &TrainingData,
    start: &Start,
    device: &Device,
) -> String {
    // FNV-1a over the parameters' bits: the same --init, --resume and seed.
    let params = start
        .model
        .params
        .iter()
        .fold(0xcbf29ce484222325u64, |h, v| {
            (h ^ v.to_bits() as u64).wrapping_mul(0x100000001b3)
        });
    let lr_auto = config
        .lr_auto
        .map(|t| format!("{} to {} over {} epochs", t.start, t.end, t.epochs));
    // The data and --init as their contents (the digest, the initial
    // parameters), not their paths, which may differ and name the same.
    let mut options = serde_json::to_value(&config.run).expect("options serialise");
    if let Some(o) = options.as_object_mut() {
        o.remove("data");
        o.remove("init");
        // Named once, as the flag, below.
        o.remove("target_loss");
    }
    serde_json::json!({
        "options": options,
        "--target-loss": config.target_loss,
        "--lr auto": lr_auto,
        "backend": device.kind().name(),
        "--kernels": format!("{:?}", config.kernels).to_lowercase(),
        // The precision in effect, after any fall back to f32.
        "precision": format!("{:?}", device.precision()).to_lowercase(),
        "rows": data.columns.rows,
        "features": data.columns.features,
        "the data file's names and values": data.digest.as_ref().map(|d| format!(
            "{} rows × {} columns, FNV-1a digest {}",
            d.rows, d.columns, d.fnv1a64
        )),
        "updates done": start.history.len(),
        "initial parameters": format!("{params:016x}"),
    })
    .to_string()
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
    /// The `--data` file's rows, columns and digest, as checkpoints record
    /// them; `None` for synthetic data.
    digest: Option<DataDigest>,
    /// Rows trained on, those of other processes included.
    train_rows: usize,
    /// Rows of the file left out for a missing cell (`--missing drop`).
    dropped_rows: usize,
    /// Missing feature cells filled with the training means (`--missing
    /// mean`), held-out rows' included.
    filled_cells: usize,
    /// The row of the whole training set that `train`'s first is.
    offset: usize,
    /// The one-hot encoded columns (`--categorical`), which the model keeps.
    categories: Vec<Category>,
    /// The target's variance over the training rows and over the held-out
    /// rows, in the loss's units, for R²; `None` where this process does
    /// not hold them all (the GPU's own synthetic rows, a sharded run's
    /// synthetic rows).
    variances: (Option<f64>, Option<f64>),
}

impl TrainingData {
    /// The run's data, split when it asks for a validation split; of a
    /// sharded run's synthetic rows only those of process `rank` of `size`,
    /// unless every row is needed (to split or standardise).
    /// `cache`: where a run of `--folds` keeps the rows read, for the
    /// next fold.
    fn load(
        run: &RunOptions,
        (rank, size): (usize, usize),
        resumed: bool,
        from: Origin<'_>,
        cache: Option<&mut Option<ReadData>>,
    ) -> Result<TrainingData> {
        if let (Some(k), Some(n), Some(f), None, false, false) = (
            run.shards,
            run.synthetic,
            run.features,
            &run.data,
            run.on_device,
            run.standardize || run.holds_out(),
        ) {
            let shards = Shards::new(n, k)?;
            shards.check_processes(size, resumed)?;
            let range = shards.rows_owned(rank, size);
            let mut what = format!(
                "synthetic {} × {} (seed {})",
                units::count(n, "row"),
                units::count(f, "feature"),
                run.seed
            );
            if size > 1 {
                what.push_str(&format!(
                    ", rows {}..{} generated here",
                    range.start, range.end
                ));
            }
            let mut rows = Dataset::synthetic_rows(n, f, run.seed, range.clone())?;
            let row = |n: usize| format!("synthetic row {}", range.start + n + 1);
            let out = way_out(run, resumed, WayOut::Synthetic);
            transform_target(from.transform, &mut rows, row, out)?;
            return Ok(TrainingData {
                train: Some(rows),
                val: None,
                columns: Columns::synthetic(n, f)?,
                what,
                digest: None,
                train_rows: n,
                dropped_rows: 0,
                filled_cells: 0,
                offset: range.start,
                categories: Vec::new(),
                variances: (None, None),
            });
        }
        let (all, columns, mut what, digest, dropped_rows, categories) = match run.on_device_shape()
        {
            Some((n, f)) => (
                None,
                Columns::synthetic(n, f)?,
                format!(
                    "synthetic {} × {} (seed {}), generated on the GPU",
                    units::count(n, "row"),
                    units::count(f, "feature"),
                    run.seed
                ),
                None,
                0,
                Vec::new(),
            ),
            None => {
                let read = match cache {
                    Some(Some(read)) => read.clone(),
                    Some(cache) => cache.insert(read_data(run, rank, resumed, from)?).clone(),
                    None => read_data(run, rank, resumed, from)?,
                };
                let columns = read.data.columns();
                (
                    Some(read.data),
                    columns,
                    read.what,
                    read.digest,
                    read.left_out.len(),
                    read.categories,
                )
            }
        };
        // The held-out rows leave the training set before anything is fitted.
        let (train, val) = match (all, run.validation_split, run.fold) {
            (Some(all), Some(fraction), _) => {
                let ((train_rows, val_rows), which) = match run.hold_out {
                    HoldOut::Random => (all.split(fraction, run.seed)?, ""),
                    HoldOut::Last => (all.split_last(fraction)?, ", the last rows"),
                };
                what.push_str(&format!(
                    "; {} train, {} held out (--validation-split {fraction}{which})",
                    units::count(train_rows.rows, "row"),
                    val_rows.rows
                ));
                (Some(train_rows), Some(val_rows))
            }
            (Some(all), None, Some(fold)) => {
                // Once, as the first fold starts: the folds are cut alike
                // for each. A model's kept values (--init) fill every fold.
                if let (0, Some(fill), None) = (fold.index, run.missing.fill(), from.fill) {
                    check_fold_fills(run, &all, fold.count, fill, &categories)?;
                }
                let (train_rows, val_rows) = all.fold(fold.index, fold.count, run.seed)?;
                what.push_str(&format!(
                    "; {} train, {} held out (fold {} of --folds {})",
                    units::count(train_rows.rows, "row"),
                    val_rows.rows,
                    fold.index + 1,
                    fold.count
                ));
                (Some(train_rows), Some(val_rows))
            }
            (data, ..) => (data, None),
        };
        let train_rows = train.as_ref().map_or(columns.rows, |d| d.rows);
        Ok(TrainingData {
            train,
            val,
            columns,
            what,
            digest,
            train_rows,
            dropped_rows,
            filled_cells: 0,
            offset: 0,
            categories,
            variances: (None, None),
        })
    }

    /// `--lr auto` with mini-batches of `size` rows: the training rows of
    /// the run's first `batches` batches (epoch 0's shuffle), so that each
    /// epoch of the range test makes `batches` updates, as a few batches
    /// of the run would, instead of a pass over every row; `None` where
    /// those are all the rows. With full batches, one batch of `size`: a
    /// sample of the rows, in the shuffle's order.
    fn first_batches(&self, size: usize, batches: usize, seed: u64) -> Option<TrainingData> {
        let rows = self.train.as_ref()?;
        let take = size.saturating_mul(batches);
        if rows.rows <= take {
            return None;
        }
        Some(TrainingData {
            train: Some(rows.sample(take, seed)),
            val: None,
            columns: self.columns.clone(),
            what: String::new(),
            digest: None,
            train_rows: take,
            dropped_rows: 0,
            filled_cells: 0,
            offset: 0,
            categories: Vec::new(),
            variances: (None, None),
        })
    }

    /// The training rows, where this process holds them all: `train`, or
    /// in a run of one process its shards (`sets`); none otherwise.
    fn held<'a>(&'a self, sets: &'a [Dataset], size: usize) -> Vec<&'a Dataset> {
        match (&self.train, size) {
            (Some(rows), _) => vec![rows],
            (None, 1) => sets.iter().collect(),
            (None, _) => Vec::new(),
        }
    }

    /// Notes the targets' variances (`variances`), before the rows are
    /// shared out and after any standardisation; of `run`'s raw synthetic
    /// rows that no process holds whole (the GPU's own, or a sharded
    /// run's), from the seed, where the target is not transformed (that
    /// variance is y's, not t(y)'s).
    fn note_variances(&mut self, run: &RunOptions, transform: TargetTransform) {
        let all = |d: &&Dataset| d.rows == self.train_rows;
        let generated = match (run.synthetic, run.features, run.standardize) {
            (Some(rows), Some(features), false) if !run.holds_out() && transform.is_none() => {
                Some((rows, features))
            }
            _ => None,
        };
        self.variances = (
            (self
                .train
                .as_ref()
                .filter(all)
                .map(Dataset::target_variance))
            .or_else(|| {
                generated.map(|(rows, f)| data::synthetic_target_variance(rows, f, run.seed))
            }),
            self.val.as_ref().map(Dataset::target_variance),
        );
    }

    /// Whether the feature `name` is a level of a one-hot encoded column
    /// (`city=Oslo`), which no --ignore leaves out alone.
    fn is_level(&self, name: &str) -> bool {
        (self.categories.iter()).any(|c| c.feature_names().iter().any(|f| f == name))
    }

    /// Puts the feature columns in the order of `model`'s features,
    /// matched by name as `predict` matches them; an error names the
    /// columns missing or extra and says what to do (for `synthetic`
    /// rows, the --features that makes their columns the model's, where
    /// one does).
    fn match_features(&mut self, model: &Model, source: &Path, synthetic: bool) -> Result<()> {
        let have = &self.columns.feature_names;
        let want = &model.feature_names;
        let order: Vec<Option<usize>> = want
            .iter()
            .map(|name| have.iter().position(|h| h == name))
            .collect();
        if order.iter().all(Option::is_some) && have.len() == want.len() {
            let order: Vec<usize> = order.into_iter().flatten().collect();
            if order.iter().enumerate().any(|(i, &j)| i != j) {
                for d in self.train.iter_mut().chain(self.val.iter_mut()) {
                    d.reorder_features(&order);
                }
                self.columns.feature_names = want.clone();
            }
            return Ok(());
        }
        let missing: Vec<&str> = want
            .iter()
            .filter(|n| !have.contains(n))
            .map(String::as_str)
            .collect();
        let extra: Vec<&str> = have
            .iter()
            .filter(|n| !want.contains(n))
            .map(String::as_str)
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            problems.push(format!("not in the model: {}", extra.join(", ")));
        }
        let target = &model.target_name;
        let hint = if synthetic {
            // Matched by name, in any order, as below (names are unique).
            let same = |names: &[String]| want.iter().all(|n| names.contains(n));
            match data::Columns::synthetic(1, want.len()) {
                Ok(c) if same(&c.feature_names) && c.target_name == *target => {
                    format!("; synthetic rows have the model's columns with --features {}", want.len())
                }
                _ => "; the model was trained on a file's columns: give --data a file with them and its target, or train a new model without --init".into(),
            }
        } else if have.contains(target) && self.columns.target_name != *target {
            let word = units::shell_word(target);
            format!("; the model's target '{target}' is a feature here: leave it unread with --ignore {word}, or train it with --target {word}")
        } else if !have.contains(target) && want.contains(&self.columns.target_name) {
            format!(
                "; the target read, '{}', is one of the model's features, and the model's target '{target}' is not in the file: give a file with the model's feature columns and its target, or name the target column with --target",
                self.columns.target_name
            )
        } else if missing.is_empty() && !extra.iter().any(|n| self.is_level(n)) {
            // Columns of the file alone, which the model was trained
            // without.
            let ignore: Vec<String> = (extra.iter())
                .map(|n| format!("--ignore {}", units::shell_word(n)))
                .collect();
            format!(
                "; leave the columns the model does not take unread with {}, or train a new model without --init",
                ignore.join(" ")
            )
        } else {
            "; give a file with the model's feature columns (in any order) and its target, or train a new model without --init".to_string()
        };
        bail!(
            "{}: the model takes {} ({}) but the data has {} ({}; target '{}'): {}{hint}",
            source.display(),
            units::count(want.len(), "feature"),
            want.join(", "),
            units::count(have.len(), "feature"),
            have.join(", "),
            self.columns.target_name,
            problems.join("; ")
        )
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

    /// Fills the missing feature cells of the training and the held-out
    /// rows with `m`'s values.
    fn impute(&mut self, m: &Imputation) {
        let mut filled = vec![0usize; m.values().len()];
        for d in self.train.iter_mut().chain(self.val.iter_mut()) {
            for (total, n) in filled.iter_mut().zip(m.apply(d)) {
                *total += n;
            }
        }
        let names = self.columns.feature_names.iter().cloned();
        let filled = data::by_column(names.zip(filled), &self.categories);
        if let Some(text) = data::filled_cells(&filled, m.fill()) {
            self.what.push_str(&format!("; filled {text}"));
        }
        self.filled_cells = filled.iter().map(|(_, n)| n).sum();
    }

    /// Standardises the training and the held-out rows with `s`.
    fn standardize(&mut self, s: &Standardization) -> crate::Result<()> {
        for d in self.train.iter_mut().chain(self.val.iter_mut()) {
            s.apply(d)?;
        }
        self.what.push_str("; standardized");
        Ok(())
    }

    /// Rows trained on and rows held out.
    fn rows(&self) -> (usize, usize) {
        (self.train_rows, self.val.as_ref().map_or(0, |v| v.rows))
    }
}

/// What the model a run starts from (`--init`'s, or a checkpoint's) says
/// of how its data are read.
#[derive(Clone, Copy)]
struct Origin<'a> {
    /// The target of `--init`'s model, taken for the target where
    /// `--target` is not given and the file has such a column, not
    /// ignored.
    target: Option<&'a str>,
    /// The levels of its one-hot encoded columns, which the run's
    /// `--categorical` must name and which the data are encoded with;
    /// `None` where it has none.
    levels: Option<&'a [Category]>,
    /// The features it reads as dates, which the run's `--date` must
    /// name; `None` where there is no such model.
    dates: Option<&'a [String]>,
    /// What `--init`'s model fills missing cells with (`--missing mean`
    /// or `median`, which a run from it must give); `None` where there is
    /// no such model or it fills none.
    fill: Option<data::Fill>,
    /// The transform of the target the run trains on: the model's, or
    /// `--target-transform`'s.
    transform: TargetTransform,
}

/// Why a file whose every row `--missing` left out gives nothing to
/// train on, and what to do: for `drop`, `--missing mean`, or `--ignore`
/// for features missing in every row, which no fill has a value for.
fn none_to_train_on(
    path: &Path,
    run: &RunOptions,
    dropped: Option<data::Dropped>,
    target: Option<&str>,
) -> anyhow::Error {
    let of = dropped.as_ref().map_or(0, |d| d.of);
    let empty: Vec<String> = (dropped.iter().flat_map(|d| &d.columns))
        .filter(|(name, n)| *n == of && Some(name.as_str()) != target)
        .map(|(name, _)| units::shell_word(&data::escaped(name)))
        .collect();
    let instead = match (run.missing.fill(), empty.len()) {
        (Some(_), _) => String::new(),
        (None, 0) => "; --missing mean fills missing feature cells instead, and drops only the rows with no target".into(),
        (None, 1) => format!("; {0} is missing in every row, so no --missing fills it: --ignore {0} leaves it unread", empty[0]),
        (None, _) => format!("; {} are missing in every row, so no --missing fills them: --ignore {} leaves them unread", units::joined(&empty, "and"), empty.join(",")),
    };
    let (what, flag) = match run.missing.fill() {
        Some(fill) => ("its target missing", format!("--missing {}", fill.name())),
        None => ("a missing cell", "--missing drop".into()),
    };
    anyhow::anyhow!(
        "{}: every row has {what} ({}), so {flag} leaves none to train on{instead}",
        path.display(),
        dropped.map_or(String::new(), |d| d.by_column()),
    )
}

/// The rows [`read_data`] read.
#[derive(Clone)]
struct ReadData {
    data: Dataset,
    /// What they are, in one line.
    what: String,
    /// The file's digest, of every row read (those `--missing drop`
    /// leaves out included).
    digest: Option<DataDigest>,
    /// The rows left out for a missing cell, by their place among the
    /// rows read, in order.
    left_out: Vec<usize>,
    /// The one-hot encoded columns (`--categorical`).
    categories: Vec<Category>,
}

/// The warning of a file (whose columns are `header`) whose last column
/// `--ignore` leaves out, where no `--target` (nor `--init`'s model)
/// names the target, so that it is the last column read: a run that
/// ignored a file's target by mistake trained on another column, and said
/// only that its fit was poor.
fn last_column_ignored(run: &RunOptions, header: &[String]) -> Option<String> {
    let ignored = data::named_columns(&run.ignore, header);
    let last = header.last().filter(|last| ignored.contains(last))?;
    let categorical = data::named_columns(&run.categorical, header);
    let dates = data::named_columns(&run.date, header);
    let target = data::default_target(header, &ignored, &[&categorical, &dates])?;
    (run.target.is_none() && run.init.is_none()).then(|| {
        format!(
            "--ignore leaves out the file's last column, '{}', so the target is '{}', the last column read; --target names the column to predict",
            data::escaped(last),
            data::escaped(target)
        )
    })
}

/// The rows of `--data` or `--synthetic` on the host, what they are, and
/// the file's digest; process `rank` 0 warns of a header of numbers.
/// `from`: what the starting model says of the data ([`Origin`]).
fn read_data(run: &RunOptions, rank: usize, resumed: bool, from: Origin<'_>) -> Result<ReadData> {
    let init_target = from.target;
    match (&run.data, run.synthetic, run.features) {
        (Some(path), _, _) => {
            let format = run.format()?;
            let ignored = |names: &[String]| data::named_columns(&run.ignore, names);
            let target = |names: &[String]| {
                run.target.as_deref().or(init_target.filter(|t| {
                    names.iter().any(|n| n == t) && !ignored(names).contains(&t.to_string())
                }))
            };
            // The header, kept to name the column of a bad cell.
            let header = std::sync::OnceLock::new();
            // With --categorical or --date, the target as the file's header
            // gives it (the table's last column may be a level's or a
            // date).
            let chosen_target = std::sync::OnceLock::new();
            let choose = |names: &[String]| {
                let _ = header.set(names.to_vec());
                let (ignored, target) = (ignored(names), target(names));
                let uses = data::ignoring(path, names, &ignored, target)?;
                let categorical = data::named_columns(&run.categorical, names);
                let dates = data::named_columns(&run.date, names);
                let mut chosen = None;
                if !categorical.is_empty() {
                    chosen = data::check_categorical(path, names, &categorical, &ignored, target)?;
                }
                if !dates.is_empty() {
                    let read_otherwise = (&ignored[..], &categorical[..]);
                    chosen = data::check_dates(path, names, &dates, read_otherwise, target)?;
                }
                if let Some(t) = chosen {
                    let _ = chosen_target.set(Some(t));
                }
                if let Some(levels) = from.levels {
                    same_columns(path, levels, &categorical)?;
                }
                if let Some(model_dates) = from.dates {
                    same_dates(path, model_dates, &dates)?;
                }
                let uses = data::dated(uses, names, &dates);
                Ok(match run.missing {
                    Missing::Error => uses,
                    Missing::Drop | Missing::Mean | Missing::Median => data::with_gaps(uses),
                })
            };
            let read = match run.categorical.is_empty() {
                true => Table::read_columns(path, format, &choose).map(|t| (t, Vec::new())),
                false => {
                    let gaps = run.missing != Missing::Error;
                    let known = from.levels.map(|levels| (levels, data::Unseen::Error));
                    let categorical = &run.categorical;
                    data::read_categorical(path, format, &choose, categorical, known, gaps)
                        .map(|(table, categories, _)| (table, categories))
                }
            };
            let (mut table, categories) = read.map_err(|e| match header.get() {
                _ if resumed => resumed_hint(e),
                Some(names) => ignore_hint(e, names, run, target(names), from.fill),
                None => e,
            })?;
            let target = match chosen_target.into_inner() {
                Some(t) => t,
                None => target(&table.header).map(str::to_string),
            };
            let unresumed = header.get().filter(|_| !resumed);
            let ignored_last = unresumed.and_then(|names| last_column_ignored(run, names));
            let warnings = [table.numeric_header(format), ignored_last];
            for warning in warnings.into_iter().flatten().filter(|_| rank == 0) {
                crate::say!("warning: {warning}");
            }
            let digest = table.digest();
            let mut dropped = match run.missing {
                Missing::Error => None,
                Missing::Drop => Some(table.drop_missing()),
                Missing::Mean | Missing::Median => {
                    Some(table.drop_missing_target(target.as_deref()))
                }
            };
            if let Some(d) = &mut dropped {
                d.columns = data::by_column(std::mem::take(&mut d.columns), &categories);
            }
            if table.rows == 0 {
                return Err(none_to_train_on(path, run, dropped, target.as_deref()));
            }
            let mut data = (table.into_dataset(target.as_deref())).map_err(|e| {
                if resumed {
                    resumed_hint(e)
                } else {
                    e
                }
            })?;
            if rank == 0 {
                // One-hot levels and dates: their zeros are no tiny numbers.
                let mut derived: Vec<String> = categories
                    .iter()
                    .flat_map(Category::feature_names)
                    .collect();
                derived.extend(data::named_columns(&run.date, &data.feature_names));
                for warning in data.resolution_warnings(&derived) {
                    crate::say!("warning: {warning}");
                }
            }
            // After the warnings, which show the target as the file holds it.
            let left_out = dropped.as_ref().map_or(&[][..], |d| &d.left_out[..]);
            let read = (path.as_path(), format);
            let merged = transform_read(run, read, (resumed, from.transform), &mut data, left_out)?;
            if let (0, Some(warning)) = (rank, merged) {
                crate::say!("warning: {warning}");
            }
            let what = described(
                path,
                &data,
                run,
                &categories,
                dropped.as_ref(),
                from.transform,
            );
            let left_out = dropped.map_or(Vec::new(), |d| d.left_out);
            Ok(ReadData {
                data,
                what,
                digest: Some(digest),
                left_out,
                categories,
            })
        }
        (None, Some(n), Some(f)) => {
            let mut data = Dataset::synthetic(n, f, run.seed)?;
            let row = |n: usize| format!("synthetic row {}", n + 1);
            let out = way_out(run, resumed, WayOut::Synthetic);
            transform_target(from.transform, &mut data, row, out)?;
            let mut what = format!(
                "synthetic {} × {} (seed {})",
                units::count(n, "row"),
                units::count(f, "feature"),
                run.seed
            );
            what.push_str(&trained_on(from.transform, &data.target_name));
            Ok(ReadData {
                data,
                what,
                digest: None,
                left_out: Vec::new(),
                categories: Vec::new(),
            })
        }
        _ => bail!("no training data: give --data FILE.csv, or --synthetic N --features F"),
    }
}

/// The data line of the summary for the rows `data` read from `path`:
/// the file, its size and target, the one-hot encoded columns
/// (`categories`), the dates, and the rows `dropped` for a missing cell.
fn described(
    path: &Path,
    data: &Dataset,
    run: &RunOptions,
    categories: &[Category],
    dropped: Option<&data::Dropped>,
    transform: TargetTransform,
) -> String {
    let mut what = format!(
        "{} ({} × {}, target {})",
        path.display(),
        units::count(data.rows, "row"),
        units::count(data.features, "feature"),
        data.target_name
    );
    what.push_str(&trained_on(transform, &data.target_name));
    for c in categories {
        what.push_str(&format!(
            "; one-hot {} ({})",
            data::shown_name(&c.column),
            units::count(c.levels.len(), "level")
        ));
    }
    let dates = data::named_columns(&run.date, &data.feature_names);
    if !dates.is_empty() {
        let shown: Vec<_> = dates.iter().map(|d| data::shown_name(d)).collect();
        what.push_str(&format!("; {} as days since 1970-01-01", shown.join(", ")));
    }
    match dropped.filter(|d| d.rows() > 0) {
        Some(d) if run.missing.fill().is_some() => what.push_str(&format!(
            "; dropped {} of {} with a missing target",
            d.rows(),
            units::count(d.of, "row")
        )),
        Some(d) => what.push_str(&format!("; dropped {d}")),
        None => {}
    }
    what
}

/// The transform of the target a run trains on: the model's it starts
/// from (`--init`'s or the checkpoint's), which `--target-transform` may
/// only name again, or the flag's.
fn target_transform(
    run: &RunOptions,
    (resumed, init): (Option<&Resumed>, Option<&Model>),
) -> Result<TargetTransform> {
    let start = resumed.map(|r| &r.model).or(init);
    Ok(match (start, run.target_transform) {
        (Some(model), Some(given)) if given != model.target_transform => {
            let init = run.init.as_deref().unwrap_or(Path::new("--init"));
            let target = &model.target_name;
            let trained = match model.target_transform {
                TargetTransform::None => format!("its target '{}' as it is", data::escaped(target)),
                t => format!("{} (--target-transform {})", t.of(target), t.name()),
            };
            bail!(
                "{} was trained on {trained}, and --target-transform {} would go on from it on another scale; leave out --target-transform, or start without --init",
                init.display(),
                given.name()
            );
        }
        (Some(model), _) => model.target_transform,
        (None, given) => given.unwrap_or_default(),
    })
}

/// Where a target outside its transform's domain can go
/// ([`transform_target`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum WayOut {
    /// A new run on a file: another transform, or fewer rows.
    File,
    /// A run on synthetic rows: another transform.
    Synthetic,
    /// A run from a model (`--init`, `--resume`) trained on the transform.
    Model,
}

/// Transforms the target of the rows `data` read from `path` (written
/// as `format` says), where `transform` is not none; a row outside its
/// domain is named by its line and column in the file (the rows
/// `left_out` for a missing cell, by their place among the rows read,
/// counted), or where the file cannot be read again, by its place. The
/// warning, where the transform leaves the target too few of f32's steps
/// apart (a target spanning a small fraction of its size: 1e6 to 1e6 + 10
/// is 160 steps as y, 10 as ln y) and y had enough.
fn transform_read(
    run: &RunOptions,
    (path, format): (&Path, data::CsvFormat),
    (resumed, transform): (bool, TargetTransform),
    data: &mut Dataset,
    left_out: &[usize],
) -> Result<Option<String>> {
    let before = data.target_steps();
    let target = data.target_name.clone();
    let row = |n: usize| {
        let row = (left_out.iter()).fold(n, |row, &l| row + usize::from(l <= row));
        match data::cell_of_row(path, format.delimiter, &target, row) {
            Some((line, column)) => format!("{}:{line}:{column}", path.display()),
            None => format!("{}, data row {}", path.display(), row + 1),
        }
    };
    transform_target(transform, data, row, way_out(run, resumed, WayOut::File))?;
    Ok(match (before, data.target_steps()) {
        (Some((apart, _)), Some((steps, step))) if steps < data::FEW_STEPS && apart >= data::FEW_STEPS => Some(format!(
            "{} spans only {steps} steps of f32 (a step of {step} at its size), where '{}' spans {apart}: its values differ by so small a fraction of their size that their {}s, stored as f32, merge, and the loss and R² are measured against these; leave out --target-transform",
            transform.of(&data.target_name),
            data::escaped(&data.target_name),
            transform.name()
        )),
        _ => None,
    })
}

/// The way out for a new run's rows (`fresh`), unless the run goes on
/// from a model (`--init`, or `resumed`) trained on the transform.
fn way_out(run: &RunOptions, resumed: bool, fresh: WayOut) -> WayOut {
    match resumed || run.init.is_some() {
        true => WayOut::Model,
        false => fresh,
    }
}

/// Transforms the target of `rows` as `transform` says, or the error
/// at the first row outside its domain, which `row` names (from its
/// place among the rows, from 0), with the ways out there are (`out`).
fn transform_target(
    transform: TargetTransform,
    rows: &mut Dataset,
    row: impl Fn(usize) -> String,
    out: WayOut,
) -> Result<()> {
    let Err(outside) = transform.apply(&mut rows.y) else {
        return Ok(());
    };
    let others = match outside.count {
        1 => String::new(),
        n => format!(
            " ({n} rows are not, the least {})",
            crate::optim::short32(outside.least)
        ),
    };
    // Reading makes a magnitude below f32's least normal 0.
    let zero = match (outside.value == 0.0, out) {
        (true, WayOut::File | WayOut::Model) => format!(
            " (a cell of 0, or of a magnitude below {:e}, f32's least normal, which reads as 0)",
            f32::MIN_POSITIVE
        ),
        _ => String::new(),
    };
    let asinh = "--target-transform asinh takes zeros and values of any sign (it is about ln 2y for large y)";
    let ways = match out {
        WayOut::File => format!("{asinh}, or leave those rows out of the file"),
        WayOut::Synthetic => asinh.to_string(),
        WayOut::Model => "the run goes on from a model trained on it (--init, or the checkpoint's), which only rows whose target is above 0 can train further: leave the others out, or start anew".to_string(),
    };
    bail!(
        "{}: the target '{}' is {}{zero}, and --target-transform {} needs every value above 0{others}; {ways}",
        row(outside.first),
        data::escaped(&rows.target_name),
        crate::optim::short32(outside.value),
        transform.name()
    )
}

/// The data line's words for a run on a transform of the target.
fn trained_on(transform: TargetTransform, target: &str) -> String {
    match transform {
        TargetTransform::None => String::new(),
        t => format!(", trained as {}", t.of(target)),
    }
}

/// Checks that `given` (a list option's columns) name, in any order, the
/// columns the starting model reads that way (`wanted`); otherwise the
/// error `says(wanted, given)`, each sorted, at the file's header.
fn same_as_model(
    path: &Path,
    mut wanted: Vec<&str>,
    given: &[String],
    says: impl FnOnce(&[&str], &[&str]) -> String,
) -> crate::Result<()> {
    let mut got: Vec<&str> = given.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    got.sort_unstable();
    if wanted == got {
        return Ok(());
    }
    Err(crate::Error::Csv {
        path: path.to_path_buf(),
        line: 1,
        column: 0,
        message: says(&wanted, &got),
    })
}

/// Checks that `dates` (`--date`'s columns) are those the starting model
/// reads as dates (`model_dates`).
fn same_dates(path: &Path, model_dates: &[String], dates: &[String]) -> crate::Result<()> {
    let wanted = model_dates.iter().map(String::as_str).collect();
    same_as_model(path, wanted, dates, |want, got| {
        let listed = |names: &[&str]| match names.is_empty() {
            true => "none".to_string(),
            false => (names.iter().map(|n| data::escaped(n)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!(
            "the model this run starts from reads {} as dates, and --date names {}; give --date as the model was trained",
            listed(want),
            listed(got)
        )
    })
}

/// Checks that `categorical` (`--categorical`'s columns) are those the
/// starting model one-hot encodes (`levels`), whose levels the run reuses.
fn same_columns(path: &Path, levels: &[Category], categorical: &[String]) -> crate::Result<()> {
    let wanted = levels.iter().map(|c| c.column.as_str()).collect();
    same_as_model(path, wanted, categorical, |_, _| {
        let words: Vec<String> = (levels.iter())
            .map(|c| units::shell_word(&data::escaped(&c.column)))
            .collect();
        format!(
            "the model this run starts from one-hot encodes {} (its levels are reused); give --categorical {}",
            words.join(", "),
            words.join(",")
        )
    })
}

/// A resumed run's error at an option the checkpoint recorded (`--ignore`,
/// `--target`) that the file does not match, or at a cell the run's own
/// reading of its file did not meet: it says where the options came
/// from, and that the file may not be the run's.
fn resumed_hint(e: crate::Error) -> crate::Error {
    let crate::Error::Csv {
        path,
        line,
        column,
        message,
    } = e
    else {
        return e;
    };
    if path == Path::new(super::config::STDIN) && message.starts_with("the file is empty") {
        // The run read standard input, and nothing was piped in again.
        let message = "standard input is empty; --resume reads the run's rows from it, as the run did: pipe the same rows in again, or give --data FILE with them".to_string();
        return crate::Error::Csv {
            path,
            line,
            column,
            message,
        };
    }
    let option = message.starts_with("--ignore names") || message.starts_with("no target column");
    let cell = message.contains(" is not a number (column '")
        || message.contains(" is not a finite number (column '");
    let read = match (option, cell) {
        (true, _) => Some("the options the run started with, --ignore and --target among them"),
        (false, true) => Some("the file as the run started with it (its --ignore, --categorical, --date and --missing, and its cells as its --delimiter and --decimal-comma say, which a file written otherwise may give again)"),
        (false, false) => None,
    };
    let message = match read {
        Some(read) => {
            format!("{message}; --resume reads {read}: is --data the file it started with?")
        }
        None => message,
    };
    crate::Error::Csv {
        path,
        line,
        column,
        message,
    }
}

/// The lines above a text cell in a feature column, each a number there
/// (the first error is the first cell that is not), past which
/// [`ignore_hint`] calls the cell a slip to edit rather than the column
/// one of categories. Lines, not rows: the header's and blank ones count.
const NUMBERS_ABOVE: u64 = 100;

/// Whether `cell` looks like a date in a form other than ISO 8601's: three
/// runs of digits joined by one of `/`, `.` or `-`, one of four digits (a
/// year) or all of two at most (all of two where joined by dots, which
/// `1.2.3`, a version, is not), the others days up to 31 and one a month
/// up to 12 (`01/18/2020`, `18.01.20`, `2020/1/18`).
fn date_in_another_form(cell: &str) -> bool {
    let Some(sep) = ['/', '.', '-'].into_iter().find(|&s| cell.contains(s)) else {
        return false;
    };
    let parts: Vec<&str> = cell.split(sep).collect();
    let digits = |p: &&str| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(digits) {
        return false;
    }
    let years = parts.iter().filter(|p| p.len() == 4).count();
    let short = match sep {
        '.' => parts.iter().all(|p| p.len() == 2),
        _ => parts.iter().all(|p| p.len() <= 2),
    };
    // The parts other than a four-digit year: days, and one a month.
    let rest: Vec<u32> = (parts.iter())
        .filter(|p| p.len() < 4)
        .filter_map(|p| p.parse().ok())
        .collect();
    let calendar = rest.iter().all(|&v| (1..=31).contains(&v)) && rest.iter().any(|&v| v <= 12);
    (years == 1 || short) && calendar
}

/// A CSV error at a cell that is not a number (text, empty, NaN) in a
/// feature column of `header`, with the ways out: `--ignore` for a column
/// that is not a feature, else `--missing drop` for a missing cell,
/// `--date` for a date (or, for one in another form, to write it as
/// ISO 8601's), `--categorical` for other text, or editing the
/// cell in the file (`inf`, say, which `--missing` does not take). The target's column (`target`, else the last neither
/// ignored, categorical nor a date) gets `--missing drop` alone: ignoring
/// it would quietly train on another target. A categorical or date
/// column's own errors get a hint at a gap alone.
fn ignore_hint(
    e: crate::Error,
    header: &[String],
    run: &RunOptions,
    target: Option<&str>,
    init_fill: Option<data::Fill>,
) -> crate::Error {
    let crate::Error::Csv {
        path,
        line,
        column,
        mut message,
    } = e
    else {
        return e;
    };
    let ignored = data::named_columns(&run.ignore, header);
    let categorical = data::named_columns(&run.categorical, header);
    let dates = data::named_columns(&run.date, header);
    let read_otherwise = |n: &String| categorical.contains(n) || dates.contains(n);
    let target = target.or_else(|| {
        data::default_target(header, &ignored, &[&categorical, &dates]).map(String::as_str)
    });
    // Only a cell's own errors name their column (data::Rows).
    let name = column
        .checked_sub(1)
        .and_then(|j| header.get(j))
        .filter(|name| message.ends_with(&format!(" (column '{}')", data::escaped(name))));
    let gap = run.missing == Missing::Error && data::says_missing(&message);
    // The cell, as the message quotes it: '2024-03-01' is not a number.
    let cell = cells::quoted(&message);
    let date = cell.is_some_and(|c| data::date::days(c.as_bytes()).is_ok());
    let other_date = cell.is_some_and(date_in_another_form);
    let drop = "--missing drop leaves out the rows with a missing cell";
    let format = run.format().unwrap_or_default();
    let said = (cell.zip(name)).and_then(|(cell, name)| cells::said(cell, name, line, format));
    // A second header line, or how to write a number or a missing value
    // the cell holds otherwise.
    let (header, value) = match &said {
        Some(Said::Header(h)) => (Some(h.as_str()), None),
        Some(Said::Value(v)) => (None, Some(v.as_str())),
        None => (None, None),
    };
    match name {
        // A row of empty cells: a gap in every column, the target's too.
        Some(_) if gap && message.starts_with(data::BLANK_ROW) => {
            message += &match init_fill {
                Some(f) => format!("; delete those rows from the file, or --missing {} (the option --init's model was trained with) leaves them out", f.name()),
                None => "; delete those rows from the file, or --missing drop leaves them out".into(),
            }
        }
        // A categorical or date column's own errors say what to do, but
        // at a gap.
        Some(name) if read_otherwise(name) && !gap => {}
        // A second header line, whatever the column.
        Some(_) if header.is_some() => message += &format!("; {}", header.unwrap_or_default()),
        Some(name) if Some(name.as_str()) != target => {
            let name = units::shell_word(&data::escaped(name));
            let text = message.contains(" is not a number (column '");
            let fill = match (gap, text, date) {
                (false, true, _) if value.is_some() => value.unwrap_or_default().to_string(),
                (true, _, _) => match init_fill {
                    // The one a run from that model takes.
                    Some(f) => format!("--missing {0} fills each with the training {0} --init's model keeps (it was trained with --missing {0})", f.name()),
                    None => format!("{drop}, and --missing mean fills each with its column's mean"),
                },
                (false, true, true) => format!("--date {name} reads each date as the days since 1970-01-01"),
                // 01/18/2020: --categorical would make each date a feature
                // of its own (353 of 353 rows, a training r² of 1 and
                // every held-out date unseen).
                (false, true, false) if other_date => format!("write its dates as YYYY-MM-DD (ISO 8601), which --date {name} reads as the days since 1970-01-01 (--categorical would make each date a feature of its own)"),
                // Deep in a column of numbers: a slip in one cell, more
                // likely than a column of categories.
                (false, true, false) if line > NUMBERS_ABOVE + 1 => {
                    let or_missing = match run.missing {
                        Missing::Error => "",
                        _ => " or missing",
                    };
                    format!(
                        "edit the cell in the file: every cell above it in {name}, over {} lines, is a number{or_missing}, so this one is likely a slip (--categorical {name} one-hot encodes a column whose cells are categories)",
                        NUMBERS_ABOVE
                    )
                }
                (false, true, false) => format!("--categorical {name} one-hot encodes it where its cells are categories (a city, a colour), and otherwise edit the cells that are not numbers in the file"),
                (false, false, _) => "edit the cell in the file (--missing takes only missing cells, not this one)".into(),
            };
            message += &format!(
                "; if it is not a feature, --ignore {name} leaves it unread; if it is, {fill}"
            );
        }
        Some(_) if gap => match init_fill {
            Some(f) => {
                message += &format!("; --missing {} leaves out the rows with a missing target (the option --init's model was trained with)", f.name())
            }
            None => message += &format!("; {drop}, as --missing mean does for a missing target"),
        },
        // Text in a target that no option chose: likely not the target.
        Some(_) if run.target.is_none() => {
            let not = match (categorical.is_empty(), dates.is_empty()) {
                (true, true) => "",
                (false, true) => " that is not --categorical",
                (true, false) => " that is not --date",
                (false, false) => " that is not --categorical or --date",
            };
            let chosen = match &run.init {
                Some(_) => "--init's model's target".to_string(),
                None => format!("the last column read{not}, as no --target names one"),
            };
            let dates = match (date, name) {
                (true, Some(name)) => format!(
                    ", and --date {} reads its dates as days since 1970-01-01",
                    units::shell_word(&data::escaped(name))
                ),
                _ => String::new(),
            };
            let otherwise = match value {
                Some(v) => format!("; if it is the target, {v}"),
                None => ", and otherwise edit the cell in the file".into(),
            };
            message += &format!(
                "; it is the target ({chosen}), whose cells must be numbers: --target NAME names the column to predict{dates}{otherwise}"
            );
        }
        // The target named, or --init's: how to write the cell, if the
        // cell says.
        Some(_) => {
            if let Some(v) = value {
                message += &format!("; {v}");
            }
        }
        None => {}
    }
    crate::Error::Csv {
        path,
        line,
        column,
        message,
    }
}

/// Where a run starts: the model, the losses before each update so far,
/// the validation losses so far and a resumed optimizer's state.
struct Start {
    model: Model,
    history: Vec<f64>,
    val_history: Vec<(usize, f64)>,
    optimizer: Option<Saved>,
    /// `--keep best`'s or `best-val`'s parameters so far.
    kept: Option<Kept>,
    /// How `--lr auto` chose a resumed run's rate.
    lr_auto: Option<io::LrAuto>,
}

impl Start {
    /// A new run from `model`: no history, optimizer state or kept
    /// parameters.
    fn fresh(model: Model) -> Start {
        Start {
            model,
            history: Vec::new(),
            val_history: Vec::new(),
            optimizer: None,
            kept: None,
            lr_auto: None,
        }
    }
}

/// The resumed checkpoint's state, or a new run's starting model (`init`,
/// `--init`'s, where given), each once the run is known to fit in memory
/// on `device`; the data are standardised as the model is (rows far from
/// an `--init` model's statistics are named, once across the runs of
/// `--folds` that share `said`). A fresh network's first-layer weights from the features that are 0 in every
/// training row as trained on (standardised: each that holds one value)
/// start at 0: no row gives them a gradient, so every optimizer keeps
/// them there. From random values, the first-order rules would leave
/// them (or weight decay shrink them) and train the rest the same, bit
/// for bit; so does L-BFGS without weight decay, while with it, its
/// steps mixing every parameter's history, the rest differ. The model
/// saved ignores such a feature instead of moving a prediction by
/// weights no row measured (a constant column at 5, given 0 to 10 at
/// predict: R² 0.48 from random weights, 0.9995 from zeros).
fn starting_point(
    config: &TrainConfig,
    (resumed, init): (Option<Resumed>, Option<Model>),
    data: &mut TrainingData,
    device: &Device,
    said: Option<&mut bool>,
) -> Result<Start> {
    let run = &config.run;
    let rows = data.rows();
    let fits = |layout: &Layout| budget::check(config, device, layout, rows);
    let fresh = resumed.is_none() && run.init.is_none();
    let mut start = match resumed {
        Some(resumed) => {
            let start = resume(run, resumed, data)?;
            fits(&start.model.layout)?;
            start
        }
        None => {
            let mut model = initial_model(run, init, data, &fits)?;
            if fresh {
                // A run from --init trains on its model's (another
                // was refused before the data were read).
                model.target_transform = run.target_transform.unwrap_or_default();
            }
            let target = &data.columns.target_name;
            if let (Some(init), true) = (&run.init, model.target_name != *target) {
                // The model saved names the column it was trained on last.
                super::notice(
                    config.quiet,
                    &format!(
                        "{} was trained on the target '{}'; this run trains it on '{target}', and the model it saves names '{target}'",
                        init.display(),
                        model.target_name
                    ),
                );
                model.target_name = target.clone();
            }
            model.categories = data.categories.clone();
            let dates = data::named_columns(&run.date, &model.feature_names);
            model.dates = (model.feature_names.iter())
                .filter(|name| dates.contains(name))
                .cloned()
                .collect();
            model.imputation = fill_missing(run, &model, run.init.as_deref(), data)?;
            model.ranges = trained_ranges((model.ranges.take(), fresh), run, data);
            model.standardization =
                standardization(run, &model, run.init.as_deref(), data.train.as_ref())?;
            let kept = (run.init.as_deref()).zip(model.standardization.as_ref());
            if let (Some((init, s)), Some(rows)) = (kept, &data.train) {
                if let Some((far, target)) = far_from_the_model(&model, s, rows) {
                    let loss = match target {
                        true => "; the loss starts far from a fit and reads in those units (predicting these rows' mean no longer scores 1)",
                        false => "",
                    };
                    // Once across --folds' and --grid's runs.
                    super::notice_once(config, said, || {
                        format!("in the standardized units of {}, which --init keeps, these rows' {far}, where the network was fit to 0 ± 1{loss}; a new run without --init standardizes with these rows' own statistics", init.display())
                    });
                }
            } else if let (true, Some(rows)) = (fresh, &data.train) {
                // One-hot levels and dates: no transform would serve them,
                // nor are they ids.
                let mut skip: Vec<String> = (model.categories.iter())
                    .flat_map(data::Category::feature_names)
                    .collect();
                skip.extend(model.dates.iter().cloned());
                let heavy = (model.standardization.as_ref())
                    .map(|s| rows.heavy_tailed(s, &skip))
                    .unwrap_or_default();
                // Not where --target-transform chose (none included).
                let target = (model.standardization.as_ref())
                    .filter(|_| run.target_transform.is_none())
                    .and_then(|s| rows.heavy_tailed_target(s))
                    .map(|ratio| heavy_target_notice(&model.target_name, ratio, rows));
                let notices: Vec<String> = (!heavy.is_empty())
                    .then(|| heavy_tails_notice(&heavy))
                    .into_iter()
                    .chain(target)
                    .chain(rows.id_like(&skip).iter().map(|id| id_notice(id)))
                    .collect();
                if !notices.is_empty() {
                    // Once across --folds' and --grid's runs.
                    super::notices_once(config, said, || notices);
                }
            }
            Start::fresh(model)
        }
    };
    if let Some(s) = &start.model.standardization {
        data.standardize(s)?;
    }
    if let (true, Some(rows)) = (fresh, &data.train) {
        start.model.zero_inputs(&rows.zero_features());
    }
    Ok(start)
}

/// A checkpoint's state, checked against the data and the epochs to run;
/// the data's columns put in the model's order where the run started from
/// `--init`, as they were then.
fn resume(run: &RunOptions, resumed: Resumed, data: &mut TrainingData) -> Result<Start> {
    let Resumed {
        path,
        mut model,
        checkpoint,
    } = resumed;
    if let (Some(want), Some(got), Some(file)) = (&checkpoint.data, &data.digest, &run.data) {
        let differences = got.differences(want);
        if !differences.is_empty() {
            bail!(
                "{} is not the data {} was trained on: it has {}; give --data the file the run started with",
                file.display(),
                path.display(),
                differences.join(", ")
            );
        }
    }
    if run.init.is_some() {
        data.match_features(&model, &path, run.data.is_none())?;
    }
    check_model(&model, &path, run, &data.columns)?;
    if checkpoint.epoch > run.epochs {
        bail!(
            "{} is at epoch {}, past --epochs {}; give a larger --epochs to continue",
            path.display(),
            checkpoint.epoch,
            run.epochs
        );
    }
    // A first-order optimizer counts its updates, one per batch: Adam's
    // bias correction, the schedule's rate and the batches' shuffle follow
    // the count, which the checkpoint's metadata holds apart from the
    // digest of its tensors. (A gd checkpoint from before the count was
    // recorded has neither it nor a state: it is read as 0, as it was.)
    let per_epoch = run.batches().map_or(1, |b| b.per_epoch(data.train_rows)) as u64;
    let steps = checkpoint.optimizer.steps;
    let recorded = steps > 0 || !checkpoint.optimizer.tensors.is_empty();
    if recorded
        && run.optimizer.kind() != crate::optim::OptimizerKind::Lbfgs
        && Some(steps) != (checkpoint.epoch as u64).checked_mul(per_epoch)
    {
        bail!(
            "{}: metadata 'optimizer_steps' is {steps}, where a checkpoint at epoch {} of {} an epoch made {}; the file was edited or damaged",
            path.display(),
            checkpoint.epoch,
            units::count(per_epoch as usize, "update"),
            checkpoint.epoch as u128 * per_epoch as u128
        );
    }
    model.imputation = fill_missing(run, &model, Some(&path), data)?;
    model.standardization = standardization(run, &model, Some(&path), None)?;
    Ok(Start {
        model,
        history: checkpoint.history,
        val_history: checkpoint.val_history,
        optimizer: Some(checkpoint.optimizer),
        kept: checkpoint.kept,
        lr_auto: checkpoint.lr_auto,
    })
}

/// Checks a saved model against the data and the options that name a shape.
fn check_model(model: &Model, source: &Path, run: &RunOptions, data: &Columns) -> Result<()> {
    if model.layout.features() != data.features || model.feature_names != data.feature_names {
        bail!(
            "{}: the model takes {} ({}) but the data has {} ({})",
            source.display(),
            units::count(model.layout.features(), "feature"),
            model.feature_names.join(", "),
            units::count(data.features, "feature"),
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

/// The starting model: `init` (`--init`'s), with the data's columns put
/// in its order and checked against the other options, or fresh weights
/// from `--seed`; either once `fits` accepts its layout.
fn initial_model(
    run: &RunOptions,
    init: Option<Model>,
    data: &mut TrainingData,
    fits: &dyn Fn(&Layout) -> Result<()>,
) -> Result<Model> {
    let (Some(path), Some(model)) = (&run.init, init) else {
        let columns = &data.columns;
        let layout = Layout::new(columns.features, &run.fresh_hidden())?;
        fits(&layout)?;
        return Ok(Model::init(
            layout,
            run.fresh_activation(),
            run.seed,
            columns.feature_names.clone(),
            columns.target_name.clone(),
        ));
    };
    data.match_features(&model, path, run.data.is_none())?;
    check_model(&model, path, run, &data.columns)?;
    fits(&model.layout)?;
    Ok(model)
}

/// Fills `data`'s missing feature cells (`--missing mean` or `median`)
/// and returns the values it filled them with, for the model to keep: a
/// saved model's (from `--init` or a checkpoint), which predict fills with
/// and its weights were trained on, or fitted on the training rows of
/// `data` (a checkpoint of such a run always keeps its values). A model
/// that keeps values needs the option that chose them.
fn fill_missing(
    run: &RunOptions,
    model: &Model,
    source: Option<&Path>,
    data: &mut TrainingData,
) -> Result<Option<Imputation>> {
    let values = chosen_values(run, model, source, data)?;
    if let Some(m) = &values {
        data.impute(m);
    }
    Ok(values)
}

/// Before the first of `count` folds trains: refuses `--missing mean` or
/// `median` (`fill`) where some fold's training rows hold no number of a
/// feature, as that fold would, naming it, so that the folds before it do
/// not train for nothing.
fn check_fold_fills(
    run: &RunOptions,
    all: &Dataset,
    count: usize,
    fill: data::Fill,
    categories: &[Category],
) -> Result<()> {
    let Some(k) = all.fold_without_number(count, run.seed) else {
        return Ok(());
    };
    let (train, _) = all.fold(k, count, run.seed)?;
    let data = run.data.as_deref().expect("folds of a file's rows");
    match Imputation::fit(&train, fill, categories) {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "{}: fold {} of {count}: {e} (the rows of the fold held out are not used for the {}s; found before the first fold trains)",
            data.display(),
            k + 1,
            fill.name()
        ),
    }
}

/// The values [`fill_missing`] fills with; `None` without `--missing mean`
/// or `median`.
fn chosen_values(
    run: &RunOptions,
    model: &Model,
    source: Option<&Path>,
    data: &TrainingData,
) -> Result<Option<Imputation>> {
    match (&model.imputation, source, run.missing.fill()) {
        (Some(m), _, Some(fill)) if m.fill() == fill => Ok(Some(m.clone())),
        (Some(m), Some(path), _) => {
            let kept = m.fill().name();
            bail!(
                "{} was trained with --missing {kept}, and predict fills missing cells with its training {kept}s; add --missing {kept} to continue from it (its {kept}s are reused)",
                path.display()
            )
        }
        (Some(m), None, _) => bail!(
            "the model keeps training {}s, which need --missing {}",
            m.fill().name(),
            m.fill().name()
        ),
        (None, _, Some(fill)) => match (&data.train, &run.data) {
            (Some(d), Some(path)) => Imputation::fit(d, fill, &data.categories)
                .map(Some)
                .map_err(|e| {
                    let split = match (run.validation_split, run.fold) {
                        (Some(_), _) => format!(
                            " (the rows --validation-split holds out are not used for the {}s)",
                            fill.name()
                        ),
                        (None, Some(_)) => format!(
                            " (the rows of the fold held out are not used for the {}s)",
                            fill.name()
                        ),
                        (None, None) => String::new(),
                    };
                    anyhow::anyhow!("{}: {e}{split}", path.display())
                }),
            _ => bail!(
                "--missing {} needs the rows of --data on the host",
                fill.name()
            ),
        },
        (None, _, None) => Ok(None),
    }
}

/// The feature ranges a run's model keeps ([`Model::ranges`]), of its
/// training rows (filled, not standardised) where it starts fresh, joined
/// with those of its `--init` model, `init`; none where the host does not
/// hold the training rows (rows generated on the GPU), nor for synthetic
/// rows in `--shards`, which each process generates its own share of
/// (one process holds them all: none there too, so that one process and
/// several save the same model), nor where a model from `--init` keeps
/// none, as the rows it was trained on are unknown.
fn trained_ranges(
    (init, fresh): (Option<FeatureRanges>, bool),
    run: &RunOptions,
    data: &TrainingData,
) -> Option<FeatureRanges> {
    if run.shards.is_some() && run.data.is_none() {
        return None;
    }
    let seen = FeatureRanges::fit(data.train.as_ref()?)?;
    match (init, fresh) {
        (_, true) => Some(seen),
        (Some(init), false) => Some(init.union(&seen)),
        (None, false) => None,
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
            "{} was trained on standardized rows, so its weights expect standardized inputs; drop --no-standardize to continue from it (its statistics are reused)",
            path.display()
        ),
        (None, Some(path), true) => bail!(
            "{} was trained on raw rows (--no-standardize), so its weights expect raw inputs; drop --standardize (a run from it trains on raw values), or train a new model without --init",
            path.display()
        ),
        (None, None, true) => match train_rows {
            Some(d) => Ok(Some(Standardization::fit(d))),
            None => bail!("--standardize needs the rows on the host"),
        },
        (_, _, false) => Ok(None),
    }
}

/// The notice of a feature that [`data::Dataset::id_like`] reads as an id.
fn id_notice(id: &str) -> String {
    let name = data::escaped(id);
    let word = units::shell_word(&name);
    format!("'{name}' holds a different whole number in every training row, as an id does, and is trained on as a feature; if it is an id, --ignore {word} leaves it unread")
}

/// The notice of the features `heavy` names ([`Dataset::heavy_tailed`]):
/// on 20,000 rows with three such columns (t(1.5), log-normal, Cauchy),
/// the defaults' test R² was 0.903, and 0.976 with those columns written
/// as sign(x)·log(1 + |x|) (docs/optimizers.md).
fn heavy_tails_notice(heavy: &[(String, f64)]) -> String {
    let names: Vec<String> = (heavy.iter())
        .map(|(name, _)| format!("'{}'", data::escaped(name)))
        .collect();
    let ratios: Vec<String> = heavy.iter().map(|(_, r)| times(*r)).collect();
    let (has, its, deviation, half, them) = match heavy.len() {
        1 => ("has", "its", "deviation is", "half", "it"),
        _ => ("have", "their", "deviations are", "halves", "them"),
    };
    format!(
        "{} {has} heavy tails: {its} standard {deviation} {} the spread of {its} middle {half} (interquartile range / 1.349: 1× for a normal column), so standardized, most rows sit near 0 and a few far ones set the scale; a transform in the file (log for positive values, asinh for any) spreads {them}, and often trains better",
        units::joined(&names, "and"),
        units::joined(&ratios, "and"),
    )
}

/// A ratio of spreads as the heavy-tail notices write it: to one place
/// below 10, so that a ratio just past [`data::HEAVY_TAILS`] (3) does not
/// read as 3×.
fn times(ratio: f64) -> String {
    // 9.96 to one place is 10.0.
    // Past a million, as 1.1e38× rather than in 39 digits.
    match ratio {
        r if r < 9.95 => format!("{ratio:.1}×"),
        r if r < 1e6 => format!("{ratio:.0}×"),
        _ => format!("{:.1e}×", ratio),
    }
}

/// The notice of a target with heavy tails ([`Dataset::heavy_tailed_target`],
/// at `ratio`).
fn heavy_target_notice(target: &str, ratio: f64, rows: &Dataset) -> String {
    // log where every value is above 0, as for a price; asinh otherwise.
    let how = match rows.y.iter().all(|&y| TargetTransform::Log.takes(y as f64)) {
        true => "--target-transform log (its values are all above 0)",
        false => "--target-transform asinh (log takes values above 0 only; asinh bends values past ±1 and leaves those within it about as they are, so a target in small units wants scaling up in the file first)",
    };
    format!(
        "the target '{}' has heavy tails: its standard deviation is {} the spread of its middle half (interquartile range / 1.349: 1× for a normal column), so the squared error the network lowers is ruled by a few far rows; trained on a transform of it, {how}, which the model keeps and predict undoes, models often fit much better (docs/optimizers.md, \"Heavy-tailed features\": on a target of skew 11, test R² 0.65 as it was, 0.91 with log)",
        data::escaped(target),
        times(ratio)
    )
}

/// The columns of `rows` (the target first, then the numeric features;
/// not one-hot levels, whose share of the rows may shift freely) whose
/// own mean lies more than [`FAR_MEAN`] of `s`'s std from `s`'s mean,
/// or whose own std is more than [`FAR_SPREAD`] times `s`'s: in words,
/// each as its mean ± std in `s`'s standardised units, and whether the
/// target is among them; `None` where none is.
/// A model's target 1,000 times larger and 500 higher started its
/// `--init` run at a loss of 1.76e6 in the model's units.
fn far_from_the_model(
    model: &Model,
    s: &Standardization,
    rows: &Dataset,
) -> Option<(String, bool)> {
    // The rows' own, raw: a constant column's std is 0.
    let f = rows.features;
    let column = |j: usize| data::mean_std(rows.x.iter().skip(j).step_by(f).copied());
    let levels: Vec<String> = (model.categories.iter())
        .flat_map(|c| c.feature_names())
        .collect();
    let target = (
        &model.target_name,
        data::mean_std(rows.y.iter().copied()),
        (s.target_mean, s.target_std),
    );
    let features = (model.feature_names.iter().enumerate())
        .zip(s.feature_mean.iter().zip(&s.feature_std))
        .filter(|((_, name), _)| !levels.contains(name))
        .map(|((j, name), (m, sd))| (name, column(j), (*m, *sd)));
    let far: Vec<(bool, String)> = std::iter::once(target)
        .chain(features)
        .enumerate()
        .filter_map(|(k, (name, (mean, std), (s_mean, s_std)))| {
            let (at, spread) = ((mean - s_mean) / s_std, std / s_std);
            (at.abs() > FAR_MEAN || spread > FAR_SPREAD).then(|| {
                // Four significant digits.
                let sig = |v: f64| format!("{v:.3e}").parse::<f64>().unwrap_or(v);
                let name = units::shell_word(&data::escaped(name));
                (k == 0, format!("{name} is {} ± {}", sig(at), sig(spread)))
            })
        })
        .collect();
    let mut shown: Vec<String> = far.iter().take(3).map(|(_, s)| s.clone()).collect();
    match far.len() {
        0 => return None,
        1..=3 => {}
        n => shown.push(format!("{} more", n - 3)),
    }
    Some((units::joined(&shown, "and"), far[0].0))
}

/// A column's mean this many of the model's stds from the model's mean,
/// or its std this many times the model's: [`far_from_the_model`].
const FAR_MEAN: f64 = 3.0;
const FAR_SPREAD: f64 = 10.0;

/// Where a run trains, `auto` resolved. A clone is the same GPU device.
#[derive(Clone)]
pub(super) enum Device {
    Cpu,
    Reference,
    Gpu(Box<gpu::Context>),
}

/// The notice of a run that asked for `--precision mixed` (or, `resumed`,
/// took it from its checkpoint, whose notice said it would go on bit for
/// bit) and trains in f32: why, without the error's advice to ask for f32.
fn in_f32(why: &str, resumed: bool) -> String {
    let resumed = match resumed {
        true => ", not in the checkpoint's mixed precision, so not bit for bit",
        false => "",
    };
    format!("training in f32{resumed}: {}", gpu::mixed::why_not(why))
}

/// The GPU `request` asks for, or where it asks for mixed precision on an
/// adapter without the cooperative matrices it needs, the same in f32,
/// with a notice (unless `config.quiet`).
fn open_or_f32(request: &AdapterRequest, config: &TrainConfig) -> crate::Result<gpu::Context> {
    match gpu::Context::new(request) {
        Err(crate::Error::NoMixed(why)) => {
            let notice = in_f32(&why, config.precision_resumed);
            super::notice(config.quiet, &notice);
            gpu::Context::new(&AdapterRequest {
                precision: Precision::F32,
                ..request.clone()
            })
        }
        opened => opened,
    }
}

impl Device {
    fn open(config: &TrainConfig) -> Result<Device> {
        let mixed = config.adapter.precision != Precision::F32;
        // A GPU setting given for a checkpoint the CPU wrote asks for the
        // GPU: then `auto` chooses as for a new run.
        let gpu_asked =
            mixed || config.adapter.name.is_some() || config.kernels != KernelChoice::Auto;
        match (config.backend, config.resumed_on) {
            (BackendChoice::Auto, Some(BackendKind::Gpu)) => {
                return Device::resumed_on(config, BackendKind::Gpu)
            }
            (BackendChoice::Auto, Some(kind)) if !gpu_asked => {
                return Device::resumed_on(config, kind)
            }
            _ => {}
        }
        let backend = match (config.backend, config.run.batch_size) {
            // On the CPU backends the precision is refused first, below.
            (BackendChoice::Auto | BackendChoice::Kind(BackendKind::Gpu), Some(_)) if mixed => {
                bail!("--batch-size trains in f32; leave out --precision")
            }
            (BackendChoice::Auto, Some(b)) => {
                // Said once for a search, whose combinations' sizes differ.
                let size = match config.run.fold.and_then(|f| f.combination) {
                    Some(_) => String::new(),
                    None => format!(" {b}"),
                };
                super::notice(
                    config.quiet,
                    &format!("training on the CPU: mini-batches (--batch-size{size}) run on the cpu backend unless --backend gpu asks for the GPU{}", config.unused_on_cpu()),
                );
                BackendChoice::Kind(BackendKind::Cpu)
            }
            (choice, _) => choice,
        };
        Ok(match backend {
            BackendChoice::Auto => Device::auto(&config.adapter, config)?,
            BackendChoice::Kind(kind @ (BackendKind::Cpu | BackendKind::Reference)) if mixed => {
                let float = match kind {
                    BackendKind::Reference => "f64",
                    _ => "f32",
                };
                bail!("--precision mixed runs on the GPU backend; the {kind} backend computes in {float} (leave out --precision, or use --backend gpu)")
            }
            BackendChoice::Kind(BackendKind::Cpu) => Device::Cpu,
            BackendChoice::Kind(BackendKind::Reference) => Device::Reference,
            BackendChoice::Kind(BackendKind::Gpu) => {
                // The checkpoint's mixed precision, not asked for: without
                // the cooperative matrices, f32.
                let ctx = match config.precision_resumed {
                    true => open_or_f32(&config.adapter, config)?,
                    false => gpu::Context::new(&config.adapter)?,
                };
                Device::Gpu(Box::new(ctx))
            }
        })
    }

    /// The backend a `--resume` checkpoint was written on, for `--backend
    /// auto`, so that the run goes on as it started (on the GPU, any
    /// adapter, software ones included); where no GPU is found now, the
    /// CPU, with a notice.
    fn resumed_on(config: &TrainConfig, kind: BackendKind) -> Result<Device> {
        let path = config
            .resume
            .as_deref()
            .unwrap_or(Path::new("the checkpoint"));
        let on = |device| {
            let note = format!(
                "training on the {kind} backend, which wrote {} (--backend chooses another)",
                path.display()
            );
            super::notice(config.quiet, &note);
            Ok(device)
        };
        match kind {
            BackendKind::Cpu => on(Device::Cpu),
            BackendKind::Reference => on(Device::Reference),
            BackendKind::Gpu => {
                let request = AdapterRequest {
                    allow_software: true,
                    ..config.adapter.clone()
                };
                // As for a new run: --precision mixed without the
                // cooperative matrices trains in f32.
                match open_or_f32(&request, config) {
                    Ok(ctx) => on(Device::Gpu(Box::new(ctx))),
                    Err(crate::Error::NoAdapter(why)) => {
                        let reason = why.split(';').next().unwrap_or(&why);
                        if config.run.on_device {
                            bail!(
                                "{}'s synthetic data were generated on the GPU, but {reason}; resume it where a GPU is found",
                                path.display()
                            );
                        }
                        super::notice(
                            config.quiet,
                            &format!(
                                "training on the CPU: {} was written on the gpu backend, but {reason}; the run goes on, though not bit for bit as on the GPU",
                                path.display()
                            ),
                        );
                        Ok(Device::Cpu)
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The precision this device's products run in: mixed only on a GPU
    /// opened with cooperative matrices (`auto` falls back to f32).
    fn precision(&self) -> Precision {
        match self {
            Device::Gpu(ctx) if ctx.mixed.is_some() => Precision::Mixed,
            _ => Precision::F32,
        }
    }

    /// The backend this device trains on.
    fn kind(&self) -> BackendKind {
        match self {
            Device::Cpu => BackendKind::Cpu,
            Device::Reference => BackendKind::Reference,
            Device::Gpu(_) => BackendKind::Gpu,
        }
    }

    /// `auto`: a hardware GPU when there is one, otherwise the CPU, with a
    /// notice saying why (unless `quiet`).
    /// With `--precision mixed`, an adapter without the cooperative
    /// matrices it needs trains in f32, with a notice.
    fn auto(request: &AdapterRequest, config: &TrainConfig) -> Result<Device> {
        let quiet = config.quiet;
        match gpu::Context::new(request) {
            Ok(ctx) => Ok(Device::Gpu(Box::new(ctx))),
            Err(crate::Error::NoMixed(why)) => {
                super::notice(quiet, &in_f32(&why, config.precision_resumed));
                let f32 = AdapterRequest {
                    precision: Precision::F32,
                    ..request.clone()
                };
                Device::auto(&f32, config)
            }
            Err(crate::Error::NoAdapter(why)) => {
                // `pick` puts the reason first, then what it tried.
                let reason = why.split(';').next().unwrap_or(&why);
                let software = gpu::context::adapters()
                    .iter()
                    .any(|a| gpu::context::is_software(&a.get_info()));
                let hint = match (software, &request.name) {
                    // The reason already says how to use the named one.
                    (_, Some(_)) if reason.contains("--backend gpu") => String::new(),
                    (true, _) => {
                        " (a software adapter, which runs on the CPU itself and is usually slower than the cpu backend, is present; --backend gpu uses it)".into()
                    }
                    (false, _) => String::new(),
                };
                let f32 = match request.precision {
                    Precision::Mixed | Precision::MixedScalar => {
                        "; --precision mixed needs a GPU, so in f32"
                    }
                    Precision::F32 => "",
                };
                let unused = config.unused_on_cpu();
                super::notice(
                    quiet,
                    &format!("training on the CPU: {reason}{hint}{f32}{unused}"),
                );
                Ok(Device::Cpu)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `objective` as a training backend: itself for the first-order
/// optimizers, driven by host-side L-BFGS for lbfgs.
fn with_optimizer<'a, B>(
    objective: B,
    model: &Model,
    opt: Optimizer,
) -> crate::Result<Box<dyn Backend + 'a>>
where
    B: Backend + Objective + 'a,
{
    Ok(match opt {
        Optimizer::Lbfgs { .. } => Box::new(Lbfgs::new(objective, &model.params, opt)?),
        _ => Box::new(objective),
    })
}

/// `backend` holding the resumed optimizer `state`, if any.
fn resume_state<'a>(
    config: &TrainConfig,
    mut backend: Box<dyn Backend + 'a>,
    state: Option<&Saved>,
) -> Result<Box<dyn Backend + 'a>> {
    if let Some(state) = state {
        let resumed = config.resume.as_ref().expect("resumed");
        backend
            .set_optimizer_state(state)
            .with_context(|| format!("--resume {}", resumed.display()))?;
    }
    Ok(backend)
}

/// The trainer of `model` on the data, on `device`, holding a resumed
/// optimizer `state`.
fn open_backend<'a>(
    config: &TrainConfig,
    model: &Model,
    data: &'a TrainingData,
    device: Device,
    state: Option<&Saved>,
    hold_out: bool,
) -> Result<Box<dyn Backend + 'a>> {
    let (opt, kernels) = (config.run.optimizer, config.kernels);
    let schedule = config.run.lr_schedule;
    let updates = gpu::Updates {
        opt,
        schedule,
        batches: config.run.batches(),
    };
    let backend = match (device, &data.train) {
        // The synthetic rows, generated on the GPU.
        (Device::Gpu(ctx), None) => {
            let (rows, seed) = (data.columns.rows, config.run.seed);
            let source = gpu::Source::Synthetic {
                rows,
                seed,
                first: 0,
            };
            let g = GpuTrainer::with_updates(*ctx, model, source, updates, kernels)?;
            with_optimizer(g, model, opt)?
        }
        (_, None) => {
            bail!("this run's synthetic data are generated on the GPU; train it with --backend gpu")
        }
        (Device::Cpu, Some(rows)) => {
            CpuOptions::taken(true, true);
            let fast = Fast::run_on(model, rows, opt, (config.threads, config.run_on))?
                .with_isa(config.cpu_isa)?
                .with_batches(config.run.batches())
                .with_schedule(schedule);
            // A resumed run's count is the checkpoint's, lowered as it was.
            let asked = if config.threads_resumed {
                0
            } else {
                config.threads
            };
            let threads = (asked, fast.threads());
            super::threads_lowered(config.quiet, threads, rows.rows, "");
            with_optimizer(fast, model, opt)?
        }
        (Device::Reference, Some(rows)) => {
            let reference = Reference::new(model, rows, opt)?
                .with_batches(config.run.batches())
                .with_schedule(schedule);
            with_optimizer(reference, model, opt)?
        }
        (Device::Gpu(ctx), Some(rows)) => {
            let source = gpu::Source::Host(rows);
            let mut g = GpuTrainer::with_updates(*ctx, model, source, updates, kernels)?;
            // The held-out loss of every epoch, measured in the epochs'
            // submits (L-BFGS's epochs are its own; the host scores them).
            if let (Some(val), false, true) =
                (&data.val, matches!(opt, Optimizer::Lbfgs { .. }), hold_out)
            {
                g.hold_out(model, val)?;
            }
            with_optimizer(g, model, opt)?
        }
    };
    resume_state(config, backend, state)
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
    device: Device,
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
        // The synthetic rows, each shard's generated on the GPU; the first
        // shard takes the device opened.
        let mut first_ctx = match device {
            Device::Gpu(ctx) => Some(*ctx),
            _ => None,
        };
        let request = like(&config.adapter, first_ctx.as_ref());
        for s in owned {
            let rows = shards.rows_of(s);
            let source = gpu::Source::Synthetic {
                rows: rows.len(),
                seed: config.run.seed,
                first: rows.start,
            };
            let ctx = match first_ctx.take() {
                Some(ctx) => ctx,
                None => gpu::Context::new(&request)?,
            };
            parts.push(Box::new(GpuTrainer::with(
                ctx, model, source, pass_opt, kernels,
            )?));
        }
    } else {
        let (kind, first_ctx) = match device {
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
            cpu_isa: config.cpu_isa,
        };
        (parts, threads) = shard_passes(how, model, sets, pass_opt)?;
    }
    let mut sharded = Sharded::new(parts, threads, comm, shards, &model.params, opt)?
        .with_schedule(config.run.lr_schedule);
    sharded.watch(Interrupts {
        local: &SIGNAL,
        agreed: &AGREED,
        agreed_signal: &AGREED_SIGNAL,
        deadline: config.max_time.map(|t| std::time::Instant::now() + t),
        timed_out: &TIMED_OUT,
    });
    resume_state(config, with_optimizer(sharded, model, opt)?, state)
}

/// `request`, with the precision of the device `first` already opened
/// (where `--backend auto` fell back to f32), so every shard's device
/// computes alike, and on a software adapter where `first` is on one.
fn like(request: &AdapterRequest, first: Option<&gpu::Context>) -> AdapterRequest {
    let precision = match first {
        Some(ctx) if ctx.mixed.is_none() => Precision::F32,
        _ => request.precision,
    };
    // A resumed run opens its first device on any adapter (the
    // checkpoint's backend); the others follow it to a software one.
    let software = first.is_some_and(|ctx| ctx.info.device_type == wgpu::DeviceType::Cpu);
    AdapterRequest {
        precision,
        allow_software: request.allow_software || software,
        ..request.clone()
    }
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
    /// The cpu backend's build (`--cpu-isa`).
    pub cpu_isa: Option<crate::cpu::Isa>,
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
    let request = like(how.adapter, how.first_ctx.as_ref());
    let mut first_ctx = how.first_ctx;
    let mut parts: Vec<dist::sharded::Part<'a>> = Vec::with_capacity(sets.len());
    for set in sets {
        parts.push(match how.kind {
            BackendKind::Cpu => Box::new(Fast::new(model, set, opt, 1)?.with_isa(how.cpu_isa)?),
            BackendKind::Reference => Box::new(Reference::new(model, set, opt)?),
            BackendKind::Gpu => {
                // The first shard takes the device opened; the others their own.
                let ctx = match first_ctx.take() {
                    Some(ctx) => ctx,
                    None => gpu::Context::new(&request)?,
                };
                let source = gpu::Source::Host(set);
                Box::new(GpuTrainer::with(ctx, model, source, opt, how.kernels)?)
            }
        });
    }
    let threads = match how.kind {
        BackendKind::Gpu => 1,
        _ => Fast::thread_count(how.threads, usize::MAX),
    };
    CpuOptions::taken(how.kind != BackendKind::Gpu, how.kind == BackendKind::Cpu);
    Ok((parts, threads))
}

/// The scorer of the held-out rows, if any, having scored the starting
/// parameters (after `resumed_at` updates); with `--keep best-val` and
/// `kept_here` (the backend does not measure them itself) it keeps the
/// parameters of the lowest loss, from a resumed run's `kept` on.
fn open_validation<'a>(
    config: &TrainConfig,
    model: &Model,
    rows: Option<&'a Dataset>,
    history: Vec<(usize, f64)>,
    resumed_at: usize,
    kept: Option<Kept>,
    kept_here: bool,
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
    CpuOptions::taken(config.run.shards.is_none(), true);
    let opt = config.run.optimizer;
    let scorer =
        Fast::run_on(model, rows, opt, (threads, config.run_on))?.with_isa(config.cpu_isa)?;
    let keep = config.run.keep == Keep::BestVal && kept_here;
    let mut validation = Validation::new(scorer, history, keep, kept);
    validation.record(resumed_at, &model.params);
    Ok(Some(validation))
}

/// Writes `--checkpoint`: the model with given parameters, the losses
/// before them, the run's options, the validation losses so far and the
/// optimizer's state.
struct Checkpointer<'a> {
    writer: Option<RefCell<io::CheckpointWriter>>,
    /// The run's options, as checkpoints record them: `data` as an
    /// absolute path, so a resume finds it from any folder.
    options: serde_json::Value,
    /// The starting model, for everything but its parameters.
    model: &'a Model,
    /// The data file's digest, checked on resume.
    data: Option<DataDigest>,
    /// The backend training the run.
    backend: BackendKind,
    /// The threads of a run in one pass on the cpu backend, or of one
    /// whose held-out rows are scored on the host.
    threads: Option<usize>,
    /// The GPU backend's `--kernels`, where given other than auto.
    kernels: Option<String>,
    /// `mixed` where the GPU trains in mixed precision.
    precision: Option<String>,
    /// How `--lr auto` chose the rate, with the run's initial parameters.
    lr_auto: Option<io::LrAuto>,
    /// The epoch of the last checkpoint written, which an error that ends
    /// the run names ([`resume_hint`]).
    written_at: std::cell::Cell<Option<usize>>,
}

impl<'a> Checkpointer<'a> {
    /// The checkpoints of a run on `device`; `host_scored`: its held-out
    /// rows are scored on the host, whose threads the checkpoint records.
    fn new(
        config: &'a TrainConfig,
        model: &'a Model,
        writer: Option<io::CheckpointWriter>,
        data: Option<DataDigest>,
        device: &Device,
        host_scored: bool,
        lr_start: Option<&[f32]>,
    ) -> Checkpointer<'a> {
        let backend = device.kind();
        let mut run = config.run.clone();
        if let Some(path) = &run.data {
            let absolute = std::fs::canonicalize(path).or_else(|_| std::path::absolute(path));
            run.data = Some(absolute.unwrap_or_else(|_| path.clone()));
        }
        let lr_auto = (config.lr_found.as_ref())
            .zip(lr_start)
            .map(|(found, start)| io::LrAuto {
                found: found.clone(),
                start: start.to_vec(),
            });
        Checkpointer {
            writer: writer.map(RefCell::new),
            options: serde_json::to_value(&run).expect("options serialise"),
            model,
            data,
            backend,
            // As asked (0: the cores), before the cap by rows: the
            // validation scorer's threads follow it too, on the cpu
            // backend and where the host scores the held-out rows beside
            // another (the reference's, an L-BFGS GPU run's).
            threads: ((backend == BackendKind::Cpu || host_scored) && config.run.shards.is_none())
                .then(|| Fast::thread_count(config.threads, usize::MAX)),
            kernels: (backend == BackendKind::Gpu && config.kernels != KernelChoice::Auto)
                .then(|| clap::ValueEnum::to_possible_value(&config.kernels))
                .flatten()
                .map(|v| v.get_name().to_string()),
            precision: (device.precision() == Precision::Mixed).then(|| "mixed".to_string()),
            lr_auto,
            written_at: Default::default(),
        }
    }

    /// Writes the checkpoint after `epoch` updates; `ended` where the run
    /// ended there on its own ([`io::CheckpointView::ended`]).
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        epoch: usize,
        losses: &[f64],
        params: Vec<f32>,
        optimizer: Saved,
        validation: Option<&Validation>,
        kept: Option<&Kept>,
        ended: bool,
    ) -> crate::Result<()> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let model = Model {
            params,
            ..self.model.clone()
        };
        let ck = io::CheckpointView {
            epoch,
            history: losses,
            options: &self.options,
            val_history: validation.map_or(&[], |v| v.losses()),
            optimizer: &optimizer,
            data: self.data.as_ref(),
            kept,
            backend: Some(self.backend.name()),
            threads: self.threads,
            kernels: self.kernels.as_deref(),
            precision: self.precision.as_deref(),
            lr_auto: self.lr_auto.as_ref(),
            ended,
        };
        writer.borrow_mut().write(&model, &ck)?;
        self.written_at.set(Some(epoch));
        Ok(())
    }
}

/// What fitting leaves: the outcome, the validation losses, when the loss
/// reached each power of ten, and the updates done before this run.
struct Fitted<'a> {
    outcome: Outcome,
    validation: Option<Validation<'a>>,
    milestones: Milestones,
    resumed_at: usize,
    /// How busy the cores were while the epochs ran, where `/proc` says
    /// (not over `--distributed`, whose other processes share them).
    contention: Option<crate::contention::Contention>,
}

/// `--lr auto`'s rate, agreed by every process (`None`: a signal stopped
/// the test): [`find_rate`], then the schedule's bounds on the rate (a
/// floor below it).
fn auto_rate<'a>(
    config: &TrainConfig,
    test: RangeTest,
    comm: &dyn Comm,
    open: impl FnOnce(&TrainConfig) -> Result<Box<dyn Backend + 'a>>,
) -> Result<Option<Found>> {
    let found = find_rate(config, test, open).and_then(|found| {
        if let Some(f) = &found {
            let opt = config.run.optimizer.with_lr(f.lr);
            let chose = || format!("--lr auto chose {:.3e}", f.lr);
            config.run.lr_schedule.check(&opt).with_context(chose)?;
        }
        Ok(found)
    });
    // The processes' tests see the same summed losses, so they agree on
    // everything but the time taken.
    agree(comm, "the learning-rate range test", found, |f| {
        format!(
            "{:?}",
            f.as_ref().map(|f| Found {
                wall_s: 0.0,
                ..f.clone()
            })
        )
    })
}

/// `--lr auto` in a sharded run with full batches on more than
/// [`range::FULL_BATCH_ROWS`] rows: the rows of a run of that many, cut
/// into as many shards, each shard's a sample of the run's shard
/// ([`Dataset::sample`]), for the shards process `rank` of `size` owns;
/// `None` where every row is tested: few rows, the GPU's generated rows,
/// or a shard too small for its share. Each process decides from the
/// shards alone, so all decide alike, and the sample does not depend on
/// how the shards are shared out.
fn sampled_shards(
    sets: &[Dataset],
    shards: Shards,
    rank: usize,
    size: usize,
    seed: u64,
) -> Option<(Vec<Dataset>, Shards)> {
    let small = Shards::new(range::FULL_BATCH_ROWS, shards.count).ok()?;
    let fits = (0..shards.count).all(|s| small.rows_of(s).len() <= shards.rows_of(s).len());
    if sets.is_empty() || shards.rows <= small.rows || !fits {
        return None;
    }
    let owned = shards.owned(rank, size);
    let sampled = owned
        .zip(sets)
        .map(|(s, set)| set.sample(small.rows_of(s).len(), seed))
        .collect();
    Some((sampled, small))
}

/// `--lr auto`: runs `test` on a backend that `open` opens for it (with
/// the test's growing rates), from the run's initial parameters, and
/// returns what it found; `None` where a signal stopped it. It stops
/// early once the loss has blown up ([`range::diverged_at`]).
fn find_rate<'a>(
    config: &TrainConfig,
    test: RangeTest,
    open: impl FnOnce(&TrainConfig) -> Result<Box<dyn Backend + 'a>>,
) -> Result<Option<Found>> {
    watch_signals()?;
    let sharded = config.run.shards.is_some();
    let mut probe = config.clone();
    probe.run.optimizer = config.run.optimizer.with_lr(test.start);
    probe.run.lr_schedule = test.schedule();
    probe.quiet = true;
    // --max-time bounds the run; the test's 100 epochs are not cut short.
    probe.max_time = None;
    // Said by the first run of --folds (and of --grid's) alone: every
    // later one runs the same test on its own rows.
    let first = match (config.run.fold, &config.outputs.after_folds) {
        (Some(f), _) => {
            let place = f
                .combination
                .map_or((0, 0), |p| (p.combination.0, p.round.map_or(0, |r| r.0)));
            f.index == 0 && place == (0, 0)
        }
        (None, after) => after.is_none(),
    };
    super::notice(
        config.quiet || !first,
        &format!(
            "--lr auto: a range test of up to {} epochs, the rate growing from {:e} to {}",
            test.epochs, test.start, test.end
        ),
    );
    let mut backend = open(&probe)?;
    let mut blown_up = |_: usize, losses: &[f64], _: &[f64], _: &mut dyn Backend| {
        Ok(range::diverged_at(losses).is_some())
    };
    let hooks = Hooks {
        interrupt: Some(interrupt_flag(sharded)),
        after_batch: Some(&mut blown_up),
        ..Hooks::default()
    };
    let schedule = train::Schedule {
        max_epochs: test.epochs,
        tol: 0.0,
    };
    let outcome = train::train_from(backend.as_mut(), &schedule, Vec::new(), hooks)?;
    if outcome.reason == StopReason::Interrupted {
        return Ok(None);
    }
    let found =
        (test.choose(&outcome.losses, range::back_off(&config.run.lr_schedule))).map_err(|e| {
            match e {
                range::NoRate::StartNotFinite => {
                    let cause = start_not_finite(config, backend.describe().starts_with("gpu"));
                    anyhow::anyhow!("--lr auto: {e}: {cause}")
                }
                _ => anyhow::anyhow!("--lr auto: {e}"),
            }
        })?;
    if found.epochs == test.epochs && lowest_at_edge(&found) {
        // Not where it would be refused (a run from a raw --init model).
        let standardize = match other_remedies(config).iter().any(|r| r == "--standardize") {
            true => "--standardize (features or a target on a large scale do this), or ",
            false => "",
        };
        super::notice(
            config.quiet,
            &format!(
                "--lr auto: the range test's loss was lowest at or near its highest rate ({}) and never blew up, so the rate chosen may be far too low; try {standardize}a --lr of your own{}",
                test.end,
                with_run_flags(config)
            ),
        );
    }
    Ok(Some(Found {
        wall_s: outcome.elapsed.as_secs_f64(),
        ..found
    }))
}

/// The range test's last rates (of its 100, the top 5%: ×1.9) where its
/// lowest loss is its edge rather than a minimum, if the loss never rose
/// to 1.5 times that lowest after it.
const EDGE_POINTS: usize = 5;

/// Whether a range test's loss was lowest at or near its last rates (the
/// last [`EDGE_POINTS`]) and never rose to 1.5 times that lowest after
/// it: the curve's lowest point is then its edge, not a minimum.
fn lowest_at_edge(found: &Found) -> bool {
    let curve = &found.curve;
    let edge = &curve[curve.len().saturating_sub(EDGE_POINTS)..];
    let never_rose = (curve.iter())
        .skip_while(|p| p.lr != found.lowest_lr)
        .all(|p| p.loss <= 1.5 * found.lowest_loss);
    never_rose && edge.iter().any(|p| p.lr == found.lowest_lr)
}

/// The warning for a periodic checkpoint at `epoch` that could not be
/// written for `e`.
fn checkpoint_failed(config: &TrainConfig, epoch: usize, e: &str) -> String {
    let every = match config.checkpoint_every() {
        1 => "epoch".to_string(),
        n => crate::units::count(n, "epoch"),
    };
    format!("warning: could not write --checkpoint at epoch {epoch}: {e}; training goes on, and the checkpoint is tried again every {every} and at the end")
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
    kept: Option<Kept>,
) -> Result<Fitted<'a>> {
    // Ctrl-C, SIGTERM and SIGHUP: finish the batch in flight, checkpoint,
    // exit with the signal's status.
    watch_signals()?;
    let sharded = config.run.shards.is_some();
    let resumed_at = history.len();
    let validation = validation.map(RefCell::new);
    // Epochs, epochs/s, the latest loss (and validation loss) and the ETA;
    // under --folds, after the fold's number (and --grid's combination).
    let fold = (config.run.fold).map_or(String::new(), |f| {
        let combination = f.combination.map_or(String::new(), |at| {
            let (i, n) = at.combination;
            let round = (at.round).map_or(String::new(), |(r, n)| format!("round {}/{n} ", r + 1));
            format!("{round}combination {}/{n} ", i + 1)
        });
        format!("{combination}fold {}/{} ", f.index + 1, f.count)
    });
    let bar = progress::bar(
        config.quiet,
        config.run.epochs - resumed_at,
        &format!("{fold}{{wide_bar}} {{pos}}/{{len}} epochs  {{rate}}  {{msg}}  ETA {{eta}}"),
    );
    // A checkpoint that cannot be written (a full disk, a folder gone) is
    // warned of and tried again at the next one; the run goes on, and its
    // end reports the last checkpoint's failure with the other outputs'.
    let mut last_failure: Option<String> = None;
    let mut periodic = |epoch: usize,
                        losses: &[f64],
                        b: &mut dyn Backend,
                        kept: Option<&Kept>|
     -> crate::Result<()> {
        let params = b.params()?;
        if params.iter().any(|p| !p.is_finite()) {
            // The run diverges at this epoch (these parameters' loss,
            // computed next, is not finite), which writes the last good
            // parameters to the checkpoint.
            return Ok(());
        }
        let state = b.optimizer_state()?;
        let scored = validation.as_ref().map(RefCell::borrow);
        let kept = kept.or_else(|| scored.as_deref().and_then(Validation::kept));
        match checkpointer.write(epoch, losses, params, state, scored.as_deref(), kept, false) {
            Ok(()) => last_failure = None,
            Err(e) => {
                let e = e.to_string();
                if last_failure.as_ref() != Some(&e) {
                    bar.suspend(|| crate::say!("{}", checkpoint_failed(config, epoch, &e)));
                }
                last_failure = Some(e);
            }
        }
        Ok(())
    };
    // Scores the held-out rows, or takes the backend's measurements;
    // `--val-patience` stops the run once the lowest validation loss is
    // that many epochs old (the loop applies it to a backend's own
    // measurements, at their exact epoch).
    let on_device = backend.held_out().is_some();
    let mut score =
        |epoch: usize, _: &[f64], held: &[f64], b: &mut dyn Backend| -> crate::Result<bool> {
            let Some(v) = &validation else {
                return Ok(false);
            };
            let mut v = v.borrow_mut();
            if on_device {
                v.follow(held);
                return Ok(false);
            }
            v.record(epoch, &b.params()?);
            Ok(config.run.val_patience.is_some_and(|p| v.stalled(p)))
        };
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
        interrupt: Some(interrupt_flag(sharded)),
        patience: config.run.patience,
        // A sharded run's processes agree on the time limit through their
        // passes, as on a signal.
        max_time: if sharded { None } else { config.max_time },
        on_batch: Some(&mut report),
        after_batch: validation.is_some().then_some(&mut score),
        target_loss: config.target_loss,
        keep_best: config.run.keep == Keep::Best || (on_device && config.run.keep == Keep::BestVal),
        kept,
        plateau: config.run.lr_schedule.plateau(config.run.optimizer.lr()),
        held_out: match &validation {
            Some(v) if on_device => Some(HeldOutRules {
                history: v.borrow().dense(resumed_at),
                patience: config.run.val_patience,
                keep: config.run.keep == Keep::BestVal,
            }),
            _ => None,
        },
    };
    // A resumed run that --val-patience had stopped stays stopped, as one
    // that --tol had stopped does: it runs no epoch.
    let stalled = match (&validation, config.run.val_patience) {
        (Some(v), Some(p)) => v.borrow().stalled(p),
        _ => false,
    };
    let schedule = match stalled {
        true => train::Schedule {
            max_epochs: resumed_at,
            ..config.schedule
        },
        false => config.schedule,
    };
    let (outcome, contention) =
        crate::contention::around(|| train::train_from(backend, &schedule, history, hooks));
    let contention = contention.filter(|_| !config.distributed);
    let outcome = outcome.map(|mut o| {
        if sharded && o.reason == StopReason::Interrupted && TIMED_OUT.load(Ordering::SeqCst) {
            // The shards' time limit stops them as an interrupt does.
            let last = o.losses.last().copied().unwrap_or(f64::INFINITY);
            o.reason = train::at_budget(StopReason::TimeLimit, last, config.target_loss);
        }
        if stalled {
            o.reason = StopReason::ValidationStalled;
        }
        o
    });
    bar.finish_and_clear();
    Ok(Fitted {
        outcome: outcome.map_err(|e| resume_hint(config, checkpointer.written_at.get(), e))?,
        validation: validation.map(RefCell::into_inner),
        milestones,
        resumed_at,
        contention,
    })
}

/// An error `e` that ended a run after its periodic checkpoint at epoch
/// `written_at`, naming that checkpoint and the `--resume` that goes on
/// from it; not one written to a stream (a FIFO), which cannot be read
/// back.
fn resume_hint(config: &TrainConfig, written_at: Option<usize>, e: crate::Error) -> anyhow::Error {
    let checkpoint = (config.checkpoint.as_ref()).filter(|c| c.path.is_file());
    match (written_at, checkpoint) {
        (Some(epoch), Some(checkpoint)) => {
            let path = units::shell_word(&checkpoint.path.display().to_string());
            anyhow::Error::from(e).context(format!(
                "the run stopped on an error after its checkpoint at epoch {epoch}, in {path}, which train --resume {path} continues from"
            ))
        }
        _ => e.into(),
    }
}

/// The training rows' features the notices name: those far from ±1
/// where the run did not standardise them ([`report::FAR_SCALE`]), and
/// those that hold one value in every row (a one-hot encoded column by
/// its name, where every row has one level, which --ignore can name; a
/// level no row has by its feature's, city=Rare, held out alone), each
/// with whether the first layer's weights from it in `params` are 0 (a
/// fresh run's, where that value is 0 as trained on).
fn columns_to_name(
    config: &TrainConfig,
    data: &TrainingData,
    model: &Model,
    params: &[f32],
) -> (Vec<(String, f32)>, Vec<ConstantColumn>) {
    let constant = (data.train.as_ref()).map_or(Vec::new(), Dataset::constant_features);
    // A constant small column acts as part of a bias: named as constant,
    // not as far (a constant large one still saturates).
    let far = match (&data.train, config.run.standardize) {
        (Some(rows), false) => (rows.far_features(report::FAR_SCALE).into_iter())
            .filter(|(name, m)| *m > 1.0 || !constant.contains(name))
            .collect(),
        _ => Vec::new(),
    };
    let levels: Vec<String> = (model.categories.iter())
        .flat_map(|c| c.feature_names())
        .collect();
    let first = &model.layout.layers()[0];
    let at = |name: &String| model.feature_names.iter().position(|f| f == name);
    let zero =
        |name: &String| at(name).is_some_and(|j| first.from_input(j).all(|i| params[i] == 0.0));
    let mut named: Vec<ConstantColumn> = (constant.iter())
        .filter(|name| !levels.contains(name))
        .map(|name| ConstantColumn {
            ignored: zero(name),
            name: name.clone(),
            unseen_level: false,
        })
        .collect();
    for c in &model.categories {
        let of_c = c.feature_names();
        let fixed: Vec<&String> = of_c.iter().filter(|l| constant.contains(l)).collect();
        if fixed.len() == of_c.len() {
            // One level in every row: the column holds one value.
            named.push(ConstantColumn {
                ignored: of_c.iter().all(zero),
                name: c.column.clone(),
                unseen_level: false,
            });
            continue;
        }
        // The others: a level no row has (0 as read, in its mean where
        // the rows were standardised).
        let unseen = |level: &&String| {
            let j = at(level);
            let raw = |j: usize| match &model.standardization {
                Some(s) => s.feature_mean[j],
                None => data.train.as_ref().map_or(1.0, |d| f64::from(d.x[j])),
            };
            j.is_some_and(|j| raw(j) == 0.0)
        };
        named.extend(
            fixed
                .into_iter()
                .filter(unseen)
                .map(|level| ConstantColumn {
                    ignored: zero(level),
                    name: level.clone(),
                    unseen_level: true,
                }),
        );
    }
    (far, named)
}

/// R² of `model`'s predictions of `rows` (as trained on: standardized
/// where the model is, the target transformed) transformed back, against
/// the targets transformed back: the score in the target's own units of
/// a model trained on a transform of it, as `predict` gives it on those
/// rows as read; `None` where there are none, or the target is constant
/// (where `predict` calls it undefined, rather than a ratio of rounding).
fn untransformed_r2(model: &Model, rows: &[&Dataset]) -> Result<Option<f64>> {
    let mut y: Vec<f64> = (rows.iter())
        .flat_map(|d| d.y.iter().map(|&v| f64::from(v)))
        .collect();
    if y.is_empty() {
        return Ok(None);
    }
    // The network's output for the rows as they are.
    let network = Model {
        standardization: None,
        target_transform: TargetTransform::None,
        ..model.clone()
    };
    let mut yhat = Vec::with_capacity(y.len());
    for d in rows {
        yhat.extend(crate::cpu::reference::predict_on_cores(&network, d)?);
    }
    for v in [&mut yhat, &mut y] {
        if let Some(s) = &model.standardization {
            s.unstandardize_target(v);
        }
        model.target_transform.invert(v);
    }
    Ok(data::r2_between(&y, &yhat))
}

/// Scores the final parameters and writes the run's files, in this order:
/// model, history, plot, checkpoint, summary; an error names each one
/// that failed and says whether the model was saved.
fn write_outputs<'a>(
    config: &TrainConfig,
    backend: &mut dyn Backend,
    checkpointer: &Checkpointer,
    model: &Model,
    (data, held): (&TrainingData, &[&Dataset]),
    fitted: Fitted<'a>,
) -> Result<Finished<'a>> {
    let Fitted {
        outcome,
        mut validation,
        mut milestones,
        resumed_at,
        contention,
    } = fitted;
    let last = backend.params()?;
    if let Some(v) = &mut validation {
        match &outcome.held_out {
            Some(held) => v.follow(held),
            None => {
                v.record(outcome.updates, &last);
            }
        }
    }
    // `--keep best` or `best-val`: the saved model is the kept parameters;
    // the checkpoint holds the last ones, to continue from, and the kept.
    let kept = validation
        .as_ref()
        .and_then(Validation::kept)
        .or(outcome.kept.as_ref())
        .cloned();
    let params = kept
        .as_ref()
        .map_or_else(|| last.clone(), |k| k.params.clone());
    let summary = kept.as_ref().map(|k| {
        let val_loss = match (config.run.keep, &mut validation) {
            (Keep::BestVal, _) => Some(k.loss),
            (_, Some(v)) => Some(v.at(k.epoch).unwrap_or_else(|| v.score(&k.params))),
            (_, None) => None,
        };
        let loss = outcome.losses[k.epoch];
        report::KeptSummary {
            epoch: k.epoch,
            loss,
            val_loss,
            r2: data.variances.0.and_then(|v| r_squared(loss, v)),
            val_r2: data
                .variances
                .1
                .zip(val_loss)
                .and_then(|(v, l)| r_squared(l, v)),
            untransformed_r2: None,
            untransformed_val_r2: None,
            by: match config.run.keep {
                Keep::BestVal => report::KeptBy::Validation,
                _ => report::KeptBy::Training,
            },
        }
    });
    let final_val = validation.as_ref().and_then(Validation::latest);
    let r2 = (
        data.variances
            .0
            .and_then(|v| r_squared(outcome.losses[outcome.losses.len() - 1], v)),
        data.variances
            .1
            .zip(final_val)
            .and_then(|(v, l)| r_squared(l, v)),
    );
    let (far_columns, constant_columns) = columns_to_name(config, data, model, &params);
    // In the target's own units, where it was transformed.
    let untransformed = |params: &[f32]| -> Result<(Option<f64>, Option<f64>)> {
        if model.target_transform.is_none() {
            return Ok((None, None));
        }
        let at = Model {
            params: params.to_vec(),
            ..model.clone()
        };
        let val: Vec<&Dataset> = data.val.iter().collect();
        Ok((untransformed_r2(&at, held)?, untransformed_r2(&at, &val)?))
    };
    // A score that cannot be made is left out: the files come first.
    let untransformed_r2 = untransformed(&last).unwrap_or_default();
    let mut summary = summary;
    if let (Some(s), Some(k)) = (&mut summary, &kept) {
        (s.untransformed_r2, s.untransformed_val_r2) = untransformed(&k.params).unwrap_or_default();
    }
    let mut done = Finished {
        r2,
        untransformed_r2,
        checkpoint_failed: false,
        save_failed: false,
        far_columns,
        constant_columns,
        kept: summary,
        milestones: {
            milestones.finish(&outcome.losses, outcome.elapsed);
            milestones.reached(&outcome.losses, resumed_at)
        },
        outcome,
        model: Model {
            params,
            ..model.clone()
        },
        backend: backend.describe(),
        data: data.what.clone(),
        rows: data.rows(),
        dropped_rows: data.dropped_rows,
        filled_cells: data.filled_cells,
        validation,
        contention,
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
            done.save_failed = true;
            false
        }
    };
    note(
        &mut failed,
        "--history",
        report::write_history(config, &done),
    );
    note(&mut failed, "--plot", report::write_plot(config, &done));
    note(&mut failed, "--lr-plot", report::write_lr_plot(config));
    if let Some(written) = final_checkpoint(backend, checkpointer, &done, last, kept.as_ref()) {
        done.checkpoint_failed = written.is_err();
        note(&mut failed, "--checkpoint", written);
    }
    let summary = report::write_summary(config, &done, model_written, &failed);
    note(&mut failed, "--json", summary);
    if !failed.is_empty() {
        return outputs_failed(config, done, &failed, model_written);
    }
    Ok(done)
}

/// Writes the run's last checkpoint (`last` its parameters, `kept`
/// `--keep`'s), marked ended unless the run was cut short (a signal,
/// `--max-time`), which --resume continues and a new run at its path
/// refuses to replace; `None` where no parameters of the run had a finite
/// loss, which leaves nothing good to checkpoint.
fn final_checkpoint(
    backend: &mut dyn Backend,
    checkpointer: &Checkpointer,
    done: &Finished,
    last: Vec<f32>,
    kept: Option<&Kept>,
) -> Option<Result<()>> {
    let outcome = &done.outcome;
    if let StopReason::Diverged {
        rolled_back: false, ..
    } = outcome.reason
    {
        return None;
    }
    let ended = !matches!(
        outcome.reason,
        StopReason::Interrupted | StopReason::TimeLimit
    );
    let written = backend.optimizer_state().and_then(|state| {
        let validation = done.validation.as_ref();
        let (updates, losses) = (outcome.updates, &outcome.losses);
        checkpointer.write(updates, losses, last, state, validation, kept, ended)
    });
    Some(written.map_err(Into::into))
}

/// The run `done` whose outputs `failed` (`flag: error` each): an
/// interrupted run goes on to end as its signal says (its note says what
/// of it was kept, `conclude`), after the error; any other shows its
/// summary, then fails naming them and where the model is.
fn outputs_failed<'a>(
    config: &TrainConfig,
    done: Finished<'a>,
    failed: &[String],
    model_written: bool,
) -> Result<Finished<'a>> {
    let failures = format!("could not write {}", failed.join("; could not write "));
    if done.outcome.reason == StopReason::Interrupted {
        crate::say!("error: {failures}");
        return Ok(done);
    }
    let model = match (&config.outputs.save, model_written) {
        (Some(path), true) => format!("the model was saved to {}", path.display()),
        (Some(_), false) => "the model was not saved".to_string(),
        (None, _) => "no --save was given".to_string(),
    };
    // A diverged run's error comes instead of the summary.
    let diverged = matches!(done.outcome.reason, StopReason::Diverged { .. });
    if config.leader && !config.quiet && !diverged {
        report::print_summary(config, &done)?;
    }
    bail!("{failures}; {model}");
}

/// The notice at the start of a run [`TrainConfig::mini_batches_by_default`]
/// chose for its `rows`.
fn mini_batches_notice(config: &TrainConfig, rows: usize) -> String {
    let batch = config.run.batch_size.unwrap_or_default();
    format!(
        "{}, so adam in mini-batches of {batch} trains them (at --lr auto's rate, on a cosine schedule over {}): on this many it reaches a lower loss sooner than L-BFGS, which passes over every row for each step; --optimizer lbfgs keeps L-BFGS, and {} --lr auto --epochs {} names this run, to change its settings (docs/optimizers.md, \"Many rows\")",
        units::count(rows, "row"),
        units::count(config.run.epochs, "epoch"),
        many_rows_flags(),
        config.run.epochs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The heavy-tail notices' ratios: one place below 10, so that 3.24
    /// does not read as the threshold itself; past a million, with an
    /// exponent rather than in full.
    #[test]
    fn ratios_read_to_one_place_below_10() {
        assert_eq!(
            [3.24, 9.94, 9.96, 10.4, 31.6, 999_999.0, 1.1137e38].map(times),
            ["3.2×", "9.9×", "10×", "10×", "32×", "999999×", "1.1e38×"]
        );
    }

    /// The edge notice's test: lowest among the last 5 rates and never 1.5
    /// times that lowest after it, a rise that came back down included.
    #[test]
    fn a_range_test_is_lowest_at_its_edge_only_if_it_never_rose_after() {
        let found = |losses: &[f64]| {
            let curve: Vec<range::Point> = (losses.iter().enumerate())
                .map(|(i, &loss)| range::Point {
                    lr: 10f64.powi(i as i32 - 6),
                    loss,
                })
                .collect();
            let lowest = (curve.iter())
                .min_by(|a, b| a.loss.total_cmp(&b.loss))
                .unwrap();
            let lowest = (lowest.lr, lowest.loss);
            Found {
                rows: 10,
                ..Found::sketch(lowest.0 / 10.0, lowest, curve)
            }
        };
        let falling = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.21];
        assert!(lowest_at_edge(&found(&falling)));
        // At the edge, but 1.6 times the lowest after it, then back.
        let rose = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.32, 0.25, 0.21];
        assert!(!lowest_at_edge(&found(&rose)));
        let flat_after = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.29, 0.25, 0.21];
        assert!(lowest_at_edge(&found(&flat_after)));
        // Lowest before the last 5 rates: a minimum.
        let minimum = [1.0, 0.5, 0.2, 0.25, 0.26, 0.27, 0.28, 0.28, 0.29, 0.29];
        assert!(!lowest_at_edge(&found(&minimum)));
        // The 5th rate from the last is among the edge's, the 6th not.
        let fifth = [1.0, 0.9, 0.8, 0.7, 0.6, 0.2, 0.25, 0.26, 0.27, 0.28];
        assert!(lowest_at_edge(&found(&fifth)));
        let sixth = [1.0, 0.9, 0.8, 0.7, 0.2, 0.25, 0.26, 0.27, 0.28, 0.29];
        assert!(!lowest_at_edge(&found(&sixth)));
        // A loss that is not finite after the lowest is a blow-up.
        let blown = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, f64::NAN];
        assert!(!lowest_at_edge(&found(&blown)));
    }

    /// A run at the rate `--lr auto` chose that diverged is trained again
    /// at a third of its rate, the diverged run recorded, with what
    /// `--max-time` left; not after 3 retries, nor with no time left, nor
    /// where the run did not diverge or chose its rate by hand.
    #[test]
    fn a_diverged_auto_run_is_retried_a_third_lower_three_times_at_most() {
        let mut config =
            crate::app::config::tests::config(&["--optimizer", "adam", "--lr", "auto"]);
        config.quiet = true;
        config.run.optimizer = config.run.optimizer.with_lr(0.63);
        config.max_time = Some(Duration::from_secs(10));
        let curve = vec![range::Point { lr: 6.3, loss: 0.5 }];
        config.lr_found = Some(Found {
            rows: 64,
            ..Found::sketch(0.63, (6.3, 0.5), curve)
        });
        let diverged = StopReason::Diverged {
            epoch: 7,
            loss: f64::INFINITY,
            rolled_back: false,
        };
        let again = retry(&config, diverged, Duration::from_secs(4)).unwrap();
        assert_eq!(again.run.optimizer.lr(), 0.21);
        assert_eq!(again.max_time, Some(Duration::from_secs(6)));
        let retries = &again.lr_found.as_ref().unwrap().retries;
        assert_eq!(
            retries[..],
            [range::Retry {
                lr: 0.63,
                epoch: 7,
                loss: f64::INFINITY,
                wall_s: 4.0
            }]
        );
        // The second and third from the one before; no fourth.
        let second = retry(&again, diverged, Duration::from_secs(1)).unwrap();
        assert_eq!(second.run.optimizer.lr(), 0.07);
        let third = retry(&second, diverged, Duration::from_secs(1)).unwrap();
        assert_eq!(third.lr_found.as_ref().unwrap().retries.len(), 3);
        assert!(retry(&third, diverged, Duration::from_secs(1)).is_none());
        // No time left, or none at all.
        for spent in [10, 11] {
            assert!(retry(&config, diverged, Duration::from_secs(spent)).is_none());
        }
        let unbounded = TrainConfig {
            max_time: None,
            ..config.clone()
        };
        let again = retry(&unbounded, diverged, Duration::from_secs(99)).unwrap();
        assert_eq!(again.max_time, None);
        // Not diverged, or a rate given by hand.
        assert!(retry(&config, StopReason::Converged, Duration::ZERO).is_none());
        let by_hand = TrainConfig {
            lr_found: None,
            ..config.clone()
        };
        assert!(retry(&by_hand, diverged, Duration::ZERO).is_none());
    }

    /// Process `rank` of as many as `times` has seconds, each its time.
    struct Clocks {
        rank: usize,
        times: Vec<f64>,
    }

    impl Comm for Clocks {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.times.len()
        }
        fn local_rank(&self) -> usize {
            self.rank
        }
        fn all_gather(&self, local: &[f64], counts: &[usize], all: &mut [f64]) {
            assert_eq!(local, [self.times[self.rank]]);
            assert_eq!(counts, vec![1; self.times.len()]);
            all.copy_from_slice(&self.times);
        }
        fn all_gather_bytes(&self, _: &[u8]) -> Vec<Vec<u8>> {
            unreachable!("slowest gathers floats")
        }
        fn abort(&self, code: i32) -> ! {
            panic!("abort({code})")
        }
        fn describe(&self) -> String {
            format!("{} clocks", self.times.len())
        }
    }

    /// Every process takes the slowest one's time, so that all agree
    /// on the time left for a retry.
    #[test]
    fn every_process_takes_the_slowest_time() {
        let times = vec![1.5, 4.25, 0.5];
        for rank in 0..times.len() {
            let comm = Clocks {
                rank,
                times: times.clone(),
            };
            let own = Duration::from_secs_f64(times[rank]);
            assert_eq!(slowest(&comm, own), Duration::from_secs_f64(4.25));
        }
        assert_eq!(
            slowest(&crate::dist::Single, Duration::from_millis(7)),
            Duration::from_millis(7)
        );
    }
}
