//! The training loop, written once for every backend. A backend runs whole
//! epochs (so it may fuse kernels and batch many epochs per submit); this
//! loop decides when to stop from the losses it reports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::optim::schedule::Plateau;
use crate::optim::{Optimizer, Saved};

/// What every trainer implements, at the level of an epoch.
pub trait Backend {
    /// One line naming the backend and the device it runs on.
    fn describe(&self) -> String;

    /// The optimizer the backend's updates follow.
    fn optimizer(&self) -> Optimizer;

    /// Runs `epochs` epochs, each one full-batch update or, where the
    /// backend trains in mini-batches, one update per batch; pushes onto
    /// `losses` the loss over all its rows of the parameters at the start
    /// of each epoch, before its updates.
    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()>;

    /// The loss of the current parameters, without an update.
    fn loss(&mut self) -> Result<f64>;

    /// Remembers the current parameters and optimizer state in `slot`
    /// (below [`SNAPSHOT_SLOTS`]), for [`Backend::restore`].
    fn snapshot(&mut self, slot: usize) -> Result<()>;

    /// Returns to the parameters of the last [`Backend::snapshot`] into `slot`.
    fn restore(&mut self, slot: usize) -> Result<()>;

    /// The current flat parameter block.
    fn params(&mut self) -> Result<Vec<f32>>;

    /// Most epochs worth running per [`Backend::run`] call: 1 for a backend
    /// that gains nothing from batching.
    fn max_batch(&self) -> usize {
        1
    }

    /// Why the last [`Backend::run`] ran fewer epochs than asked, where it
    /// did: L-BFGS stops on its own.
    fn stopped(&self) -> Option<StopReason> {
        None
    }

    /// Full-batch loss-and-gradient passes so far, where they differ from
    /// the updates (L-BFGS's line searches).
    fn evaluations(&self) -> Option<usize> {
        None
    }

    /// The held-out loss that the last [`Backend::run`] measured at the
    /// start of each epoch it ran (as `losses`), or the last
    /// [`Backend::loss`] of the current parameters, where the backend
    /// measures held-out rows itself (the GPU's `--validation-split`).
    fn held_out(&self) -> Option<&[f64]> {
        None
    }

    /// `--lr-schedule plateau`: the epochs from which the training loop has
    /// cut the rate, ascending; every epoch run from now on takes them.
    /// Backends without a schedule ignore them.
    fn set_rate_cuts(&mut self, _cuts: &[u64]) -> Result<()> {
        Ok(())
    }

    /// The optimizer's state (step count, moments or L-BFGS pairs), for a
    /// checkpoint.
    fn optimizer_state(&mut self) -> Result<Saved>;

    /// Continues from a checkpoint's optimizer state.
    fn set_optimizer_state(&mut self, saved: &Saved) -> Result<()>;
}

/// Snapshot slots a backend keeps: two for the loop's batches (this one's
/// start and the previous one's) and one for `--keep best`'s parameters.
pub const SNAPSHOT_SLOTS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Most epochs to run: each one update, or one per mini-batch.
    pub max_epochs: usize,
    /// Stop once L_k ≤ L_{k−1}, L_k ≤ L_0 and L_{k−1} − L_k <
    /// tol·|L_{k−1}| (or L_k = 0); 0 never stops early.
    pub tol: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StopReason {
    /// `max_epochs` updates were run.
    MaxEpochs,
    /// The relative change of the loss fell below `tol`.
    Converged,
    /// The interrupt flag was raised (Ctrl-C, SIGTERM or SIGHUP).
    Interrupted,
    /// The run reached its time limit.
    TimeLimit,
    /// The loss fell to the target (`--target-loss`).
    TargetReached,
    /// The validation loss has not improved for `--val-patience` epochs.
    ValidationStalled,
    /// L-BFGS: the gradient's max-norm fell to `--gtol`.
    GradientSmall,
    /// L-BFGS: the line search found no step that meets the strong Wolfe
    /// conditions; the parameters are the last accepted ones.
    NoDescent,
    /// The loss at `epoch` was not finite. With `rolled_back` the backend
    /// holds the last good parameters, those after `epoch − 1` updates;
    /// without, no parameters of this run had a finite loss (the initial or
    /// resumed ones did not), and it holds those.
    Diverged {
        epoch: usize,
        loss: f64,
        rolled_back: bool,
    },
}

impl StopReason {
    pub fn describe(self) -> String {
        match self {
            StopReason::MaxEpochs => "reached --epochs".into(),
            StopReason::Converged => "converged (--tol / --patience)".into(),
            StopReason::Interrupted => "interrupted".into(),
            StopReason::TimeLimit => "reached --max-time".into(),
            StopReason::TargetReached => "reached --target-loss".into(),
            StopReason::ValidationStalled => {
                "stopped: no lower validation loss for --val-patience epochs".into()
            }
            StopReason::GradientSmall => "converged: gradient max-norm at most --gtol".into(),
            // Not called converged: it is also where L-BFGS stalled far
            // from a fit (a feature ×1e6, at epoch 12, r² 0.0004).
            StopReason::NoDescent => {
                "stopped: the line search found no lower loss (a minimum, or a stall)".into()
            }
            StopReason::Diverged { epoch, loss, .. } => {
                format!("diverged at epoch {epoch} (loss = {loss})")
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// `losses[k]` is the loss at the start of epoch k; the last entry is the
    /// loss of the parameters the backend holds at the end, so there are
    /// `updates + 1` of them.
    pub losses: Vec<f64>,
    pub updates: usize,
    pub reason: StopReason,
    pub elapsed: Duration,
    /// Updates run by this call, excluding those of a resumed history.
    pub run_updates: usize,
    /// Loss-and-gradient passes of this call, where the backend counts
    /// them apart from its updates (L-BFGS).
    pub evaluations: Option<usize>,
    /// With [`Hooks::keep_best`]: the parameters with the lowest loss of
    /// the run, a resumed history's included (the last ones on a tie).
    pub kept: Option<Kept>,
    /// With [`Hooks::plateau`]: the epochs from which the rate was cut,
    /// those of a resumed history included.
    pub rate_cuts: Vec<u64>,
    /// With [`Hooks::held_out`]: the held-out loss by epoch, as `losses`
    /// (NaN where none was measured).
    pub held_out: Option<Vec<f64>>,
}

impl Outcome {
    /// The run's time over its updates (over one where it made none).
    pub fn time_per_epoch(&self) -> Duration {
        self.elapsed.div_f64(self.run_updates.max(1) as f64)
    }

    /// Whether the final loss is above the first one (a resumed run's
    /// first included): the run made the fit worse, a sign of too large a
    /// learning rate or of unscaled data.
    pub fn ended_above_start(&self) -> bool {
        match (self.losses.first(), self.losses.last()) {
            (Some(&first), Some(&last)) => last > first,
            _ => false,
        }
    }
}

/// Called with the number of updates so far, the losses before each of
/// them, the held-out losses the backend measured as they were (with
/// [`Hooks::held_out`]; empty without), and the backend holding the
/// parameters after them; returns whether the run should stop there
/// ([`StopReason::ValidationStalled`]).
pub type ScoreFn<'a> = dyn FnMut(usize, &[f64], &[f64], &mut dyn Backend) -> Result<bool> + 'a;

/// Called as [`ScoreFn`] is, and with, under [`Hooks::keep_best`], the
/// parameters with the lowest of those losses.
pub type SaveFn<'a> = dyn FnMut(usize, &[f64], &mut dyn Backend, Option<&Kept>) -> Result<()> + 'a;

/// Parameters a run measured and kept: `--keep best`'s (by the training
/// loss, kept by the loop) or `best-val`'s (by the validation loss, kept by
/// the CLI's scorer).
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    /// Updates before these parameters: their training loss is `losses[epoch]`.
    pub epoch: usize,
    /// The loss they were kept for: the training or the validation loss.
    pub loss: f64,
    pub params: Vec<f32>,
}

/// Optional extras of a run.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Every this many updates, call `checkpoint`.
    pub checkpoint_every: usize,
    pub checkpoint: Option<&'a mut SaveFn<'a>>,
    /// Checked between batches; when set the run stops as `Interrupted`
    /// (the CLI raises it on SIGINT, SIGTERM and SIGHUP).
    pub interrupt: Option<&'a AtomicBool>,
    /// With `tol`: stop after this many epochs in a row without a relative
    /// improvement of tol over the best loss (0: the one-epoch rule).
    pub patience: usize,
    /// Stop cleanly, as `TimeLimit`, once a batch ends past this much time.
    pub max_time: Option<Duration>,
    /// Called after every batch with the updates so far and the latest
    /// loss, from the batch's one readback: progress costs the loop nothing.
    pub on_batch: Option<&'a mut dyn FnMut(usize, f64)>,
    /// Called after every batch, before `on_batch`, with the updates so far,
    /// the losses before each, and the backend holding the parameters after
    /// them. The host waits for the batch's readback there anyway, so
    /// scoring held-out rows with those parameters stalls no batch. When it
    /// returns true the run stops there, as `ValidationStalled`.
    pub after_batch: Option<&'a mut ScoreFn<'a>>,
    /// Stop, as `TargetReached`, at the first epoch whose loss is at most this.
    pub target_loss: Option<f64>,
    /// Keep the parameters with the lowest loss ([`Outcome::kept`]).
    pub keep_best: bool,
    /// With `keep_best`: the best parameters of a resumed history, as its
    /// checkpoint recorded them.
    pub kept: Option<Kept>,
    /// `--lr-schedule plateau`'s rule: the loop finds its cuts from the
    /// losses (a resumed history's replayed first) and gives them to the
    /// backend, ending each batch where the next cut could start at the
    /// earliest.
    pub plateau: Option<Plateau>,
    /// Follow the held-out loss that the backend measures every epoch
    /// ([`Backend::held_out`]): its rules then hold at their exact epoch,
    /// whatever the batching.
    pub held_out: Option<HeldOutRules>,
}

/// The rules on a held-out loss measured every epoch by the backend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeldOutRules {
    /// A resumed history's held-out losses by epoch (NaN where none was
    /// measured), for its epochs before the resumed one.
    pub history: Vec<f64>,
    /// `--val-patience`: stop, as `ValidationStalled`, at the first epoch
    /// whose held-out loss is this many or more epochs after the lowest.
    pub patience: Option<usize>,
    /// With [`Hooks::keep_best`]: keep the parameters of the lowest
    /// held-out loss instead of the lowest training loss (`--keep best-val`).
    pub keep: bool,
}

/// The held-out losses the loop follows, as long as the training losses.
struct Held {
    losses: Vec<f64>,
    rules: HeldOutRules,
    /// The lowest finite loss (the earliest of equals) among the first
    /// `seen` epochs.
    lowest: Option<(usize, f64)>,
    seen: usize,
}

impl Held {
    fn new(mut rules: HeldOutRules, resumed: usize) -> Held {
        let mut losses = std::mem::take(&mut rules.history);
        losses.resize(resumed, f64::NAN);
        Held {
            losses,
            rules,
            lowest: None,
            seen: 0,
        }
    }

    /// Appends what the backend's last call measured, then pads with NaN
    /// or cuts to `len`.
    fn follow(&mut self, backend: &dyn Backend, len: usize) {
        self.losses
            .extend_from_slice(backend.held_out().unwrap_or(&[]));
        self.losses.resize(len, f64::NAN);
    }

    /// The first epoch from `from` on whose held-out loss is `patience` or
    /// more epochs after the lowest up to it (`from` never falls between
    /// calls).
    fn first_stall(&mut self, from: usize) -> Option<usize> {
        let patience = self.rules.patience?;
        let lower = |lowest: &mut Option<(usize, f64)>, k: usize, l: f64| {
            if l.is_finite() && lowest.is_none_or(|(_, low)| l < low) {
                *lowest = Some((k, l));
            }
        };
        for k in self.seen..from {
            lower(&mut self.lowest, k, self.losses[k]);
        }
        self.seen = self.seen.max(from);
        let mut lowest = self.lowest;
        (from..self.losses.len()).find(|&k| {
            lower(&mut lowest, k, self.losses[k]);
            lowest.is_some_and(|(low, _)| k - low >= patience)
        })
    }
}

/// `--keep best`: the lowest loss so far and where its parameters are.
///
/// Finding them costs the run nothing while it lasts. The loop snapshots
/// every batch's start anyway; the best loss of a batch is that of the
/// parameters some updates after that snapshot, so the keeper holds on to
/// the snapshot's slot (the third one) and reruns those updates only when
/// the parameters are needed: for a checkpoint and at the end. On the CPU
/// backends a batch is one epoch, so that rerun is of no updates at all.
struct Keeper {
    best: Option<Best>,
}

struct Best {
    epoch: usize,
    loss: f64,
    at: Found,
}

enum Found {
    Host(Vec<f32>),
    /// `epoch − base` updates after the snapshot in `slot`, taken after
    /// `base` updates.
    Slot {
        slot: usize,
        base: usize,
    },
}

impl Keeper {
    fn new(kept: Option<Kept>) -> Keeper {
        Keeper {
            best: kept.map(|k| Best {
                epoch: k.epoch,
                loss: k.loss,
                at: Found::Host(k.params),
            }),
        }
    }

    /// The snapshot slot the best parameters depend on, if any.
    fn holds(&self) -> Option<usize> {
        match &self.best {
            Some(Best {
                at: Found::Slot { slot, .. },
                ..
            }) => Some(*slot),
            _ => None,
        }
    }

    /// Looks at `losses[range]`, those of the parameters `k − base`
    /// updates after the snapshot in `slot` (taken after `base` updates).
    fn observe(&mut self, losses: &[f64], range: std::ops::Range<usize>, slot: usize, base: usize) {
        for k in range {
            if self.improves(losses[k]) {
                self.best = Some(Best {
                    epoch: k,
                    loss: losses[k],
                    at: Found::Slot { slot, base },
                });
            }
        }
    }

    /// Whether `loss` is finite and below the best so far.
    fn improves(&self, loss: f64) -> bool {
        loss.is_finite() && self.best.as_ref().is_none_or(|b| loss < b.loss)
    }

    /// Reads the best parameters onto the host, overwriting the snapshot
    /// in `spare` (not the one it holds); the backend ends holding what it
    /// held, parameters and optimizer state.
    fn fetch(&mut self, backend: &mut dyn Backend, spare: usize) -> Result<()> {
        let Some(best) = &mut self.best else {
            return Ok(());
        };
        if let Found::Slot { slot, base } = best.at {
            debug_assert_ne!(slot, spare);
            backend.snapshot(spare)?;
            backend.restore(slot)?;
            let mut rerun = Vec::new();
            backend.run(best.epoch - base, &mut rerun)?;
            best.at = Found::Host(backend.params()?);
            backend.restore(spare)?;
        }
        Ok(())
    }

    /// Takes the final parameters, after `epoch` updates with `loss`, when
    /// they are the best (a tie included where `final_on_tie`: `--keep
    /// best`'s rule; `--keep best-val` keeps the earliest of equals, as
    /// the host's scoring does), then reads the best onto the host.
    fn finish(
        mut self,
        backend: &mut dyn Backend,
        epoch: usize,
        loss: f64,
        final_on_tie: bool,
    ) -> Result<Option<Kept>> {
        let better = |b: &Best| loss < b.loss || (final_on_tie && loss == b.loss);
        if loss.is_finite() && self.best.as_ref().is_none_or(better) {
            self.best = Some(Best {
                epoch,
                loss,
                at: Found::Host(backend.params()?),
            });
        }
        let spare = free_slot(self.holds(), self.holds());
        self.fetch(backend, spare)?;
        Ok(self.kept())
    }

    /// The best parameters, once on the host.
    fn kept(&self) -> Option<Kept> {
        match &self.best {
            Some(Best {
                epoch,
                loss,
                at: Found::Host(params),
            }) => Some(Kept {
                epoch: *epoch,
                loss: *loss,
                params: params.clone(),
            }),
            _ => None,
        }
    }
}

/// The first snapshot slot that is neither `a` nor `b`.
fn free_slot(a: Option<usize>, b: Option<usize>) -> usize {
    (0..SNAPSHOT_SLOTS)
        .find(|&s| Some(s) != a && Some(s) != b)
        .expect("three slots leave one free")
}

/// Why an epoch ends the run early.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Early {
    Diverged,
    Converged,
    Target,
    /// The held-out loss stalled ([`HeldOutRules::patience`]).
    Stalled,
}

/// First epoch in `losses[from..]` that ends the run, and why.
///
/// A loss that rose is never converged: every rule needs L_k ≤ L_{k−1}.
/// Without patience, the run has converged at epoch k once, besides,
/// L_{k−1} − L_k < tol·|L_{k−1}| (or L_k = 0) and L_k ≤ L_0: a loss
/// still above the first is coming down from a spike (gd at 0.1 makes one
/// on every benchmark shape), not converged. With patience P (sklearn's
/// rule), an epoch improves when L_k < best·(1 − tol), best being the
/// lowest loss before it, and the run has converged after P epochs in a row
/// that do not, at an epoch whose loss is also at most best·(1 + tol): a
/// loss stuck above the best (or still climbing) is not a plateau.
fn first_stop(
    losses: &[f64],
    from: usize,
    tol: f64,
    patience: usize,
    target: Option<f64>,
) -> Option<(usize, Early)> {
    // The patience state at `from`, from the losses before it: the best
    // loss before the epoch stepped, and the epochs in a row without an
    // improvement, that one included.
    let mut best = f64::INFINITY;
    let mut stale = 0usize;
    let mut step = |l: f64| {
        let before = best;
        if l < best * (1.0 - tol) || best == f64::INFINITY {
            stale = 0;
        } else {
            stale += 1;
        }
        best = best.min(l);
        (stale, before)
    };
    if patience > 0 {
        for &l in &losses[..from] {
            step(l);
        }
    }
    (from..losses.len()).find_map(|k| {
        let l = losses[k];
        if !l.is_finite() {
            return Some((k, Early::Diverged));
        }
        if target.is_some_and(|t| l <= t) {
            return Some((k, Early::Target));
        }
        let converged = if patience > 0 {
            let (stale, best) = step(l);
            stale >= patience && l <= losses[k - 1] && l <= best * (1.0 + tol)
        } else {
            // A loss of exactly 0 cannot fall further: it has converged
            // (the relative rule alone never fires there: 0 < tol·0 is false).
            k > 0
                && l <= losses[k - 1]
                && l <= losses[0]
                && (losses[k - 1] - l < tol * losses[k - 1].abs() || (tol > 0.0 && l == 0.0))
        };
        converged.then_some((k, Early::Converged))
    })
}

/// Trains until `schedule` says stop; a non-finite loss is [`Error::Diverged`].
pub fn train(backend: &mut dyn Backend, schedule: &Schedule) -> Result<Outcome> {
    let out = train_from(backend, schedule, Vec::new(), Hooks::default())?;
    match out.reason {
        StopReason::Diverged { epoch, loss, .. } => Err(Error::Diverged {
            epoch,
            loss,
            lr: backend.optimizer().lr(),
        }),
        _ => Ok(out),
    }
}

/// Trains from a run whose first `history.len()` updates are done (the
/// backend holds the parameters after them) until `schedule` says stop.
///
/// Epochs run in growing batches; when a batch overshoots the stopping
/// epoch, the backend returns to a snapshot and reruns exactly up to it, so
/// the result does not depend on the batch sizes. Two snapshots are kept
/// (this batch's start and the previous one's), so after a divergence the
/// backend can always return to the last parameters with a finite loss;
/// `--keep best` holds on to a third ([`Hooks::keep_best`]).
pub fn train_from(
    backend: &mut dyn Backend,
    schedule: &Schedule,
    history: Vec<f64>,
    hooks: Hooks<'_>,
) -> Result<Outcome> {
    let before = backend.evaluations();
    let mut out = train_loop(backend, schedule, history, hooks)?;
    out.evaluations = backend.evaluations().map(|n| n - before.unwrap_or(0));
    Ok(out)
}

/// The epochs of the next batch: at most `most`, ending at the next
/// checkpoint (every `checkpoint_every` updates, after `updates`), and no
/// later than a plateau cut can fall (at a batch's end at the earliest).
fn batch_length(
    most: usize,
    updates: usize,
    checkpoint_every: usize,
    plateau: Option<&Plateau>,
) -> usize {
    let mut m = most;
    if checkpoint_every > 0 {
        m = m.min(checkpoint_every - updates % checkpoint_every);
    }
    if let Some(p) = plateau {
        m = m.min(p.room());
    }
    m
}

fn train_loop(
    backend: &mut dyn Backend,
    schedule: &Schedule,
    history: Vec<f64>,
    mut hooks: Hooks<'_>,
) -> Result<Outcome> {
    let start = Instant::now();
    let resumed = history.len();
    let mut losses = history;
    losses.reserve(schedule.max_epochs.saturating_sub(resumed).min(1 << 20) + 1);
    let mut updates = resumed;
    let mut batch = 1usize;
    let mut scratch = Vec::new();
    let mut track = Tracking {
        keeper: hooks.keep_best.then(|| Keeper::new(hooks.kept.take())),
        plateau: hooks.plateau.take(),
        held: hooks.held_out.take().map(|rules| Held::new(rules, resumed)),
    };
    if let Some(p) = &mut track.plateau {
        // The cuts of a resumed history, as its run made them.
        for (e, &l) in losses.iter().enumerate() {
            p.observe(e, l);
        }
        backend.set_rate_cuts(p.cuts())?;
    }
    // (slot, first update) of the previous batch's snapshot.
    let mut previous: Option<(usize, usize)> = None;
    let mut slot = 0usize;
    let reason = loop {
        // A run whose last batch is done has ended, even where a signal
        // came during that batch: it saves what it trained.
        let remaining = schedule.max_epochs.saturating_sub(updates);
        if remaining == 0 {
            break StopReason::MaxEpochs;
        }
        if hooks
            .interrupt
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            break StopReason::Interrupted;
        }
        if hooks.max_time.is_some_and(|t| start.elapsed() >= t) {
            break StopReason::TimeLimit;
        }
        let every = hooks.checkpoint_every;
        let m = batch_length(batch.min(remaining), updates, every, track.plateau.as_ref());
        let from = losses.len();
        backend.snapshot(slot)?;
        let t = Instant::now();
        backend.run(m, &mut losses)?;
        if let Some(h) = &mut track.held {
            h.follow(backend, losses.len());
        }
        let cut = track.plateau_cut(&losses, from);
        let early = first_stop(
            &losses,
            from,
            schedule.tol,
            hooks.patience,
            hooks.target_loss,
        );
        if let Some((k, why)) = track.stall_first(early, from) {
            if why == Early::Diverged {
                let loss = losses[k];
                // Back to the parameters after k − 1 updates, the last good ones.
                let (back_slot, back_from, target) = match (k > from, previous) {
                    (true, _) => (slot, from, k - 1),
                    (false, Some((s, f))) => (s, f, k - 1),
                    (false, None) => (slot, from, from),
                };
                track.observe(&losses, from..k, slot, from);
                backend.restore(back_slot)?;
                scratch.clear();
                backend.run(target - back_from, &mut scratch)?;
                losses.truncate(target + 1);
                if losses.len() <= target {
                    // The initial parameters themselves gave the bad loss.
                    losses.push(loss);
                }
                track.cut_to(losses.len());
                updates = target;
                break StopReason::Diverged {
                    epoch: k,
                    loss,
                    rolled_back: k > from || previous.is_some(),
                };
            }
            track.observe(&losses, from..k, slot, from);
            losses.truncate(k + 1);
            track.cut_to(k + 1);
            backend.restore(slot)?;
            scratch.clear();
            backend.run(k - from, &mut scratch)?;
            updates = k;
            let reason = match why {
                Early::Target => StopReason::TargetReached,
                Early::Stalled => StopReason::ValidationStalled,
                _ => StopReason::Converged,
            };
            return finish(losses, updates, resumed, reason, start, backend, track);
        }
        if let (true, Some(p)) = (cut, &track.plateau) {
            debug_assert_eq!(p.cuts().last(), Some(&((from + m) as u64)));
            backend.set_rate_cuts(p.cuts())?;
        }
        let ran = losses.len() - from;
        track.observe(&losses, from..from + ran, slot, from);
        if ran < m {
            // The backend stopped on its own (L-BFGS converged).
            let reason = backend.stopped().unwrap_or(StopReason::Converged);
            updates += ran;
            if let (Some(report), Some(&l)) = (hooks.on_batch.as_mut(), losses.last()) {
                report(updates, l);
            }
            break reason;
        }
        updates += m;
        previous = Some((slot, from));
        // The next batch's snapshot goes where neither this batch's start
        // (for a rollback) nor the best parameters are.
        slot = free_slot(Some(slot), track.keeper.as_ref().and_then(Keeper::holds));
        if batch_hooks(&mut hooks, &mut track, backend, updates, &losses, slot)? {
            // On a tie the epoch budget, and the training loss's stops
            // (found below, on the final loss), come before the held-out
            // loss's stall, as where the device follows the held-out loss
            // ([`Tracking::stall_first`]).
            break match updates >= schedule.max_epochs {
                true => StopReason::MaxEpochs,
                false => StopReason::ValidationStalled,
            };
        }
        // Grow the batch while a call stays short, so a stop costs little rerun.
        if t.elapsed() < Duration::from_millis(200) {
            batch = (batch * 2).min(backend.max_batch());
        }
    };
    let (updates, reason) = match reason {
        StopReason::Diverged { .. } => (updates, reason),
        _ => {
            let stop = (updates, reason, previous);
            ending(backend, &mut losses, &mut track, &hooks, schedule, stop)?
        }
    };
    finish(losses, updates, resumed, reason, start, backend, track)
}

/// How a run that stopped, not diverged, after `stop`'s updates for its
/// reason (the `previous` batch's snapshot beside them) ends: with its
/// final loss ([`final_loss`]), and where the held-out loss stalled at
/// the epoch whose final loss met `--target-loss` or `--tol`, as that
/// stop, which comes first on a tie (as in [`Tracking::stall_first`]).
fn ending(
    backend: &mut dyn Backend,
    losses: &mut Vec<f64>,
    track: &mut Tracking,
    hooks: &Hooks<'_>,
    schedule: &Schedule,
    (updates, reason, previous): (usize, StopReason, Option<(usize, usize)>),
) -> Result<(usize, StopReason)> {
    let target = hooks.target_loss;
    let held = track.held.as_mut();
    let (updates, reason) = final_loss(backend, losses, held, updates, reason, target, previous)?;
    let last = losses.len() - 1;
    let training = first_stop(losses, last, schedule.tol, hooks.patience, target);
    let reason = match (reason, training) {
        (StopReason::ValidationStalled, Some((_, Early::Target))) => StopReason::TargetReached,
        (StopReason::ValidationStalled, Some((_, Early::Converged))) => StopReason::Converged,
        (reason, _) => reason,
    };
    Ok((updates, reason))
}

/// After a batch that ran in full: the scoring hook, progress and a due
/// checkpoint (with the kept parameters read back, overwriting the
/// snapshot in `spare`). Returns whether the scoring asked to stop.
fn batch_hooks(
    hooks: &mut Hooks<'_>,
    track: &mut Tracking,
    backend: &mut dyn Backend,
    updates: usize,
    losses: &[f64],
    spare: usize,
) -> Result<bool> {
    let held = track.held.as_ref().map_or(&[][..], |h| &h.losses);
    let stalled = match hooks.after_batch.as_mut() {
        Some(score) => score(updates, losses, held, backend)?,
        None => false,
    };
    if let Some(report) = hooks.on_batch.as_mut() {
        report(updates, losses[losses.len() - 1]);
    }
    if hooks.checkpoint_every > 0 && updates.is_multiple_of(hooks.checkpoint_every) {
        if let Some(save) = hooks.checkpoint.as_mut() {
            let kept = match &mut track.keeper {
                Some(keeper) => {
                    keeper.fetch(backend, spare)?;
                    keeper.kept()
                }
                None => None,
            };
            save(updates, losses, backend, kept.as_ref())?;
        }
    }
    Ok(stalled)
}

/// Why a run that stopped for `reason` with the loss `last` (its final
/// one) ended: `TargetReached` where it stopped at its epoch or time budget
/// and `last`, the first loss at or below `target`, met it; else `reason`.
pub fn at_budget(reason: StopReason, last: f64, target: Option<f64>) -> StopReason {
    let budget = matches!(reason, StopReason::MaxEpochs | StopReason::TimeLimit);
    match target {
        Some(t) if budget && last <= t => StopReason::TargetReached,
        _ => reason,
    }
}

/// Appends the loss of the parameters after `updates` updates, the run
/// having stopped for `reason` (with `--target-loss` `target`). When it is
/// not finite the run diverged: the backend steps back one update, to the
/// last good parameters, from the `previous` batch's snapshot, if a batch
/// ran. Returns the updates and the reason the run ends with: where the
/// run stopped at its epoch or time budget and this loss, the first at
/// or below the target, met it, the target was reached there.
fn final_loss(
    backend: &mut dyn Backend,
    losses: &mut Vec<f64>,
    mut held: Option<&mut Held>,
    updates: usize,
    reason: StopReason,
    target: Option<f64>,
    previous: Option<(usize, usize)>,
) -> Result<(usize, StopReason)> {
    let last = backend.loss()?;
    losses.push(last);
    if let Some(h) = held.as_mut() {
        h.follow(backend, losses.len());
    }
    if last.is_finite() {
        return Ok((updates, at_budget(reason, last, target)));
    }
    let Some((s, f)) = previous else {
        // No batch ran: the parameters the run started from are bad.
        let reason = StopReason::Diverged {
            epoch: updates,
            loss: last,
            rolled_back: false,
        };
        return Ok((updates, reason));
    };
    // The final update broke the parameters: step back one.
    backend.restore(s)?;
    backend.run(updates - 1 - f, &mut Vec::new())?;
    losses.pop();
    if let Some(h) = held {
        h.losses.pop();
    }
    let reason = StopReason::Diverged {
        epoch: updates,
        loss: last,
        rolled_back: true,
    };
    Ok((updates - 1, reason))
}

/// What the loop follows besides the losses: `--keep best`'s parameters and
/// the plateau schedule's cuts.
struct Tracking {
    keeper: Option<Keeper>,
    plateau: Option<Plateau>,
    held: Option<Held>,
}

impl Tracking {
    /// Shows the keeper `losses[range]` (or the held-out losses, when it
    /// keeps by them), those of the parameters `k − base` updates after the
    /// snapshot in `slot`.
    fn observe(&mut self, losses: &[f64], range: std::ops::Range<usize>, slot: usize, base: usize) {
        if let Some(keeper) = &mut self.keeper {
            keeper.observe(Tracking::by(&self.held, losses), range, slot, base);
        }
    }

    /// The series the keeper keeps by: `losses`, or the held-out losses.
    fn by<'s>(held: &'s Option<Held>, losses: &'s [f64]) -> &'s [f64] {
        match held {
            Some(h) if Tracking::by_held_out(held) => &h.losses,
            _ => losses,
        }
    }

    /// Whether the keeper keeps by the held-out losses (`--keep
    /// best-val` on the device).
    fn by_held_out(held: &Option<Held>) -> bool {
        held.as_ref().is_some_and(|h| h.rules.keep)
    }

    /// Shows the plateau rule the batch's losses from `from` on; whether
    /// the batch's last loss makes a cut (it starts after the batch).
    fn plateau_cut(&mut self, losses: &[f64], from: usize) -> bool {
        let Some(p) = &mut self.plateau else {
            return false;
        };
        let mut cut = false;
        for (e, &l) in losses.iter().enumerate().skip(from) {
            cut |= p.observe(e, l).is_some();
        }
        cut
    }

    /// `early`, the training loss's first stop from `from` on, or the
    /// held-out loss's stall where that comes first.
    fn stall_first(
        &mut self,
        early: Option<(usize, Early)>,
        from: usize,
    ) -> Option<(usize, Early)> {
        let stall = self.held.as_mut().and_then(|h| h.first_stall(from));
        match (early, stall) {
            (Some((k, _)), Some(s)) if s < k => Some((s, Early::Stalled)),
            (None, Some(s)) => Some((s, Early::Stalled)),
            (early, _) => early,
        }
    }

    /// Cuts the held-out losses to the training losses' `len`.
    fn cut_to(&mut self, len: usize) {
        if let Some(h) = &mut self.held {
            h.losses.resize(len, f64::NAN);
        }
    }
}

/// The outcome, with the kept parameters read onto the host and the rate
/// cuts that took effect; `losses` ends with the loss of the parameters the
/// backend holds.
fn finish(
    losses: Vec<f64>,
    updates: usize,
    resumed: usize,
    reason: StopReason,
    start: Instant,
    backend: &mut dyn Backend,
    track: Tracking,
) -> Result<Outcome> {
    let rate_cuts = track.plateau.as_ref().map_or_else(Vec::new, |p| {
        let cuts = p.cuts();
        cuts[..cuts.partition_point(|&c| c < updates as u64)].to_vec()
    });
    let last = Tracking::by(&track.held, &losses)[losses.len() - 1];
    let kept = match track.keeper {
        Some(keeper) => {
            keeper.finish(backend, updates, last, !Tracking::by_held_out(&track.held))?
        }
        None => None,
    };
    let held_out = track.held.map(|h| h.losses);
    Ok(Outcome {
        losses,
        updates,
        reason,
        elapsed: start.elapsed(),
        run_updates: updates.saturating_sub(resumed),
        evaluations: None,
        kept,
        rate_cuts,
        held_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend whose loss after k updates is a fixed sequence, halved
    /// for every rate cut that took effect before that update.
    struct Scripted {
        seq: Vec<f64>,
        /// The held-out loss after k updates, where it measures one, and
        /// what its last call measured.
        held: Option<(Vec<f64>, Vec<f64>)>,
        at: usize,
        saved: [usize; SNAPSHOT_SLOTS],
        max_batch: usize,
        cuts: Vec<u64>,
    }

    impl Scripted {
        fn value(&self, k: usize) -> f64 {
            let cut = self.cuts.iter().filter(|&&c| (c as usize) < k).count();
            self.seq[k] * 0.5f64.powi(cut as i32)
        }
    }

    impl Backend for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn optimizer(&self) -> Optimizer {
            Optimizer::gd(3.0)
        }
        fn optimizer_state(&mut self) -> Result<Saved> {
            Ok(Saved::default())
        }
        fn set_optimizer_state(&mut self, _: &Saved) -> Result<()> {
            Ok(())
        }
        fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
            let at = self.at;
            if let Some((seq, last)) = &mut self.held {
                *last = seq[at..at + epochs].to_vec();
            }
            for _ in 0..epochs {
                losses.push(self.value(self.at));
                self.at += 1;
            }
            Ok(())
        }
        fn loss(&mut self) -> Result<f64> {
            let at = self.at;
            if let Some((seq, last)) = &mut self.held {
                *last = vec![seq[at]];
            }
            Ok(self.value(self.at))
        }
        fn held_out(&self) -> Option<&[f64]> {
            self.held.as_ref().map(|(_, last)| last.as_slice())
        }
        fn set_rate_cuts(&mut self, cuts: &[u64]) -> Result<()> {
            self.cuts = cuts.to_vec();
            Ok(())
        }
        fn snapshot(&mut self, slot: usize) -> Result<()> {
            self.saved[slot] = self.at;
            Ok(())
        }
        fn restore(&mut self, slot: usize) -> Result<()> {
            self.at = self.saved[slot];
            Ok(())
        }
        fn params(&mut self) -> Result<Vec<f32>> {
            Ok(vec![self.at as f32])
        }
        fn max_batch(&self) -> usize {
            self.max_batch
        }
    }

    fn scripted(seq: &[f64], max_batch: usize) -> Scripted {
        Scripted {
            seq: seq.to_vec(),
            held: None,
            at: 0,
            saved: [0; SNAPSHOT_SLOTS],
            max_batch,
            cuts: Vec::new(),
        }
    }

    #[test]
    fn stops_at_the_same_epoch_whatever_the_batch() {
        let seq = [10.0, 5.0, 3.0, 2.5, 2.49, 2.0, 1.0, 0.5, 0.1, 0.0];
        for max_batch in [1, 2, 3, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 8,
                tol: 0.01,
            };
            let out = train(&mut b, &s).unwrap();
            assert_eq!(out.reason, StopReason::Converged);
            assert_eq!(out.updates, 4, "batch {max_batch}");
            assert_eq!(out.losses, &seq[..5]);
            assert_eq!(b.params().unwrap(), vec![4.0]);
        }
    }

    #[test]
    fn a_loss_of_zero_has_converged() {
        let seq = [1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut b = scripted(&seq, 64);
        let s = Schedule {
            max_epochs: 6,
            tol: 1e-3,
        };
        let out = train(&mut b, &s).unwrap();
        assert_eq!(out.reason, StopReason::Converged);
        assert_eq!(out.updates, 2);
        // Without --tol a loss of 0 runs on.
        let mut b = scripted(&seq, 64);
        let s = Schedule { tol: 0.0, ..s };
        assert_eq!(train(&mut b, &s).unwrap().reason, StopReason::MaxEpochs);
    }

    /// A target met by the loss after the last update the budget allows
    /// is reached there, as it would be with a larger budget.
    #[test]
    fn a_target_met_by_the_final_loss_is_reached() {
        let seq = [10.0, 8.0, 6.0, 4.0, 2.0, 1.0];
        for max_batch in [1, 2, 64] {
            let run = |max_epochs, target, max_time| {
                let mut b = scripted(&seq, max_batch);
                let hooks = Hooks {
                    target_loss: Some(target),
                    max_time,
                    ..Hooks::default()
                };
                let s = Schedule {
                    max_epochs,
                    tol: 0.0,
                };
                let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
                (out.reason, out.updates, out.losses.len())
            };
            for max_epochs in [3, 5] {
                let reached = (StopReason::TargetReached, 3, 4);
                assert_eq!(run(max_epochs, 4.0, None), reached, "batch {max_batch}");
            }
            assert_eq!(run(3, 3.9, None), (StopReason::MaxEpochs, 3, 4));
            // A time limit before the first batch: the starting loss decides.
            let zero = Some(Duration::ZERO);
            assert_eq!(run(5, 10.0, zero), (StopReason::TargetReached, 0, 1));
            assert_eq!(run(5, 9.0, zero), (StopReason::TimeLimit, 0, 1));
        }
        // Only a budget gives way to the target: an interrupt, or a stop
        // of another rule at the same loss, keeps its reason.
        let met = |reason| at_budget(reason, 1.0, Some(2.0));
        assert_eq!(met(StopReason::TimeLimit), StopReason::TargetReached);
        for reason in [
            StopReason::Interrupted,
            StopReason::Converged,
            StopReason::ValidationStalled,
        ] {
            assert_eq!(met(reason), reason);
        }
        assert_eq!(
            at_budget(StopReason::MaxEpochs, 1.0, None),
            StopReason::MaxEpochs
        );
    }

    #[test]
    fn tol_zero_runs_every_epoch_and_appends_the_final_loss() {
        let seq = [4.0, 4.0, 4.0, 4.0];
        let mut b = scripted(&seq, 64);
        let s = Schedule {
            max_epochs: 3,
            tol: 0.0,
        };
        let out = train(&mut b, &s).unwrap();
        assert_eq!(out.reason, StopReason::MaxEpochs);
        assert_eq!(out.updates, 3);
        assert_eq!(out.losses.len(), 4);
    }

    #[test]
    fn a_non_finite_loss_is_divergence_at_its_epoch() {
        let seq = [1.0, 2.0, 1e30, f64::INFINITY, f64::NAN, 0.0];
        for max_batch in [1, 2, 3, 4] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 5,
                tol: 0.0,
            };
            match train(&mut b, &s) {
                Err(Error::Diverged { epoch, lr, .. }) => {
                    assert_eq!(epoch, 3);
                    assert_eq!(lr, 3.0);
                }
                other => panic!("{other:?}"),
            }
            // The backend is left at the last good parameters: after 2 updates.
            assert_eq!(b.params().unwrap(), vec![2.0], "batch {max_batch}");
        }
        let mut b = scripted(&[1.0, f64::NAN], 4);
        let s = Schedule {
            max_epochs: 1,
            tol: 0.0,
        };
        assert!(matches!(
            train(&mut b, &s),
            Err(Error::Diverged { epoch: 1, .. })
        ));
        assert_eq!(b.params().unwrap(), vec![0.0]);
    }

    #[test]
    fn checkpoints_fall_on_multiples_and_resume_continues_exactly() {
        let seq: Vec<f64> = (0..40).map(|k| 100.0 - k as f64).collect();
        let s = Schedule {
            max_epochs: 20,
            tol: 0.0,
        };
        let mut saved = Vec::new();
        let mut record = |k: usize, losses: &[f64], b: &mut dyn Backend, _: Option<&Kept>| {
            assert_eq!(losses.len(), k);
            saved.push((k, b.params()?[0]));
            Result::Ok(())
        };
        let mut b = scripted(&seq, 64);
        let hooks = Hooks {
            checkpoint_every: 7,
            checkpoint: Some(&mut record),
            ..Hooks::default()
        };
        let full = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
        assert_eq!(saved, vec![(7, 7.0), (14, 14.0)]);
        // Resume at 7 from the history so far.
        let mut b = scripted(&seq, 64);
        b.at = 7;
        let resumed = train_from(&mut b, &s, seq[..7].to_vec(), Hooks::default()).unwrap();
        assert_eq!(resumed.losses, full.losses);
        assert_eq!(resumed.updates, 20);
        assert_eq!(resumed.run_updates, 13);
    }

    #[test]
    fn bad_starting_parameters_are_divergence_without_a_rollback() {
        let s = Schedule {
            max_epochs: 3,
            tol: 0.0,
        };
        // Resumed at the last epoch with parameters whose loss is not finite.
        let mut b = scripted(&[1.0, 1.0, 1.0, f64::NAN], 4);
        b.at = 3;
        let out = train_from(&mut b, &s, vec![1.0; 3], Hooks::default()).unwrap();
        assert!(matches!(
            out.reason,
            StopReason::Diverged {
                epoch: 3,
                rolled_back: false,
                ..
            }
        ));
        // A fresh run whose initial loss is not finite.
        let mut b = scripted(&[f64::NAN, 1.0], 4);
        let out = train_from(&mut b, &s, Vec::new(), Hooks::default()).unwrap();
        assert!(matches!(
            out.reason,
            StopReason::Diverged {
                epoch: 0,
                rolled_back: false,
                ..
            }
        ));
        assert_eq!(b.params().unwrap(), vec![0.0]);
    }

    #[test]
    fn patience_counts_epochs_without_relative_improvement() {
        // Best 10 → 9 → 8.99 (not 1% better) → 8.995 → 8.98: stale 1, 2, 3.
        let seq = [10.0, 9.0, 8.99, 8.995, 8.98, 1.0, 0.5, 0.1];
        for max_batch in [1, 2, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 7,
                tol: 0.01,
            };
            let hooks = Hooks {
                patience: 3,
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(out.reason, StopReason::Converged);
            assert_eq!(out.updates, 4, "batch {max_batch}");
            // Without patience the one-epoch rule stops at 2 (|8.99 − 9| < 0.09).
            let mut b = scripted(&seq, max_batch);
            let out = train_from(&mut b, &s, Vec::new(), Hooks::default()).unwrap();
            assert_eq!(out.updates, 2);
        }
    }

    #[test]
    fn a_loss_that_rose_never_converges() {
        // --tol 2: the rise 1 → 2.5 changes the loss by less than 2·1, but
        // it rose; the falls to 2.4, 2.3 and 2.2 are as small, but above
        // the start: a spike coming down runs on.
        let seq = [1.0, 2.5, 2.4, 2.3, 2.2];
        for max_batch in [1, 2, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 4,
                tol: 2.0,
            };
            let out = train(&mut b, &s).unwrap();
            assert_eq!(out.reason, StopReason::MaxEpochs);
            assert!(out.ended_above_start());
        }
        // Once below the start, a small fall converges: 0.95 → 0.94, not
        // 2.5 → 2.4.
        let seq = [1.0, 2.5, 2.4, 0.95, 0.94, 0.5, 0.2];
        for max_batch in [1, 2, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 6,
                tol: 0.05,
            };
            let out = train(&mut b, &s).unwrap();
            assert_eq!(out.reason, StopReason::Converged);
            assert_eq!(out.updates, 4, "batch {max_batch}");
        }
        // A loss that only rises runs every epoch, whatever the tolerance.
        let seq = [1.0, 2.0, 4.0, 8.0, 16.0];
        let mut b = scripted(&seq, 64);
        let s = Schedule {
            max_epochs: 4,
            tol: 10.0,
        };
        let out = train(&mut b, &s).unwrap();
        assert_eq!(out.reason, StopReason::MaxEpochs);
        assert!(out.ended_above_start());
    }

    #[test]
    fn patience_never_stops_on_a_rising_or_raised_loss() {
        // The loss explodes, falls back, then plateaus below its start.
        // sklearn's rule alone would stop at epoch 2 (two stale epochs);
        // epochs 2 and 3 rose, and 4 and 5 fell but stay above the best
        // (1.0) by more than tol. 6 improves; 7 and 8 are a plateau.
        let seq = [1.0, 5.0, 50.0, 632.0, 600.0, 3.0, 0.9, 0.9, 0.9, 0.9, 0.9];
        for max_batch in [1, 3, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 10,
                tol: 0.01,
            };
            let hooks = Hooks {
                patience: 2,
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(out.reason, StopReason::Converged);
            assert_eq!(out.updates, 8, "batch {max_batch}");
            assert!(!out.ended_above_start());
        }
        // Resumed inside the explosion, the patience state and the previous
        // loss come from the history: the same stop.
        let mut b = scripted(&seq, 64);
        b.at = 4;
        let s = Schedule {
            max_epochs: 10,
            tol: 0.01,
        };
        let hooks = Hooks {
            patience: 2,
            ..Hooks::default()
        };
        let out = train_from(&mut b, &s, seq[..4].to_vec(), hooks).unwrap();
        assert_eq!(out.updates, 8);
        // An explosion that never comes back is never converged.
        let seq = [0.47, 5.0, 50.0, 632.0, 631.0, 630.0, 630.0, 630.0];
        let mut b = scripted(&seq, 64);
        let s = Schedule {
            max_epochs: 7,
            tol: 0.01,
        };
        let hooks = Hooks {
            patience: 2,
            ..Hooks::default()
        };
        let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
        assert_eq!(out.reason, StopReason::MaxEpochs);
        assert!(out.ended_above_start());
    }

    /// Ten epochs of a falling loss, batches of up to 4, with `score` as
    /// the after-batch hook.
    fn ten_epochs_scored(score: &mut ScoreFn<'_>) -> Outcome {
        ten_epochs_scored_to(score, None)
    }

    /// [`ten_epochs_scored`] with `--target-loss` `target`.
    fn ten_epochs_scored_to(score: &mut ScoreFn<'_>, target: Option<f64>) -> Outcome {
        let seq: Vec<f64> = (0..20).map(|k| 20.0 - k as f64).collect();
        let mut b = scripted(&seq, 4);
        let hooks = Hooks {
            after_batch: Some(score),
            target_loss: target,
            ..Hooks::default()
        };
        let s = Schedule {
            max_epochs: 10,
            tol: 0.0,
        };
        train_from(&mut b, &s, Vec::new(), hooks).unwrap()
    }

    #[test]
    fn after_batch_sees_the_parameters_after_each_batch() {
        let mut seen = Vec::new();
        ten_epochs_scored(&mut |k, losses, held, b| {
            assert_eq!(losses.len(), k);
            assert!(held.is_empty());
            seen.push((k, b.params()?[0]));
            Ok(false)
        });
        // Batches of 1, 2, 4, then what remains: the scripted backend's
        // parameter is its update count.
        assert_eq!(seen, vec![(1, 1.0), (3, 3.0), (7, 7.0), (10, 10.0)]);
    }

    /// A hook that asks to stop ends the run there, as `ValidationStalled`,
    /// with the final loss appended as at any other stop.
    #[test]
    fn after_batch_can_stop_the_run() {
        let out = ten_epochs_scored(&mut |k, _, _, _| Ok(k >= 3));
        assert_eq!(
            (out.reason, out.updates),
            (StopReason::ValidationStalled, 3)
        );
        assert_eq!(out.losses, [20.0, 19.0, 18.0, 17.0]);
    }

    /// A stall at the epoch whose final loss meets the target, or at the
    /// last epoch, ends the run as the target's or the budget's stop, as
    /// where the device follows the held-out loss (the training loss's
    /// stop first on a tie).
    #[test]
    fn a_stall_ties_with_the_target_and_the_budget_as_on_the_device() {
        let out = ten_epochs_scored_to(&mut |k, _, _, _| Ok(k >= 3), Some(17.0));
        assert_eq!((out.reason, out.updates), (StopReason::TargetReached, 3));
        let out = ten_epochs_scored_to(&mut |k, _, _, _| Ok(k >= 3), Some(16.5));
        assert_eq!(
            (out.reason, out.updates),
            (StopReason::ValidationStalled, 3)
        );
        let out = ten_epochs_scored(&mut |k, _, _, _| Ok(k >= 10));
        assert_eq!((out.reason, out.updates), (StopReason::MaxEpochs, 10));
    }

    #[test]
    fn a_time_limit_stops_cleanly() {
        let seq = [3.0; 10];
        let mut b = scripted(&seq, 4);
        let hooks = Hooks {
            max_time: Some(Duration::ZERO),
            ..Hooks::default()
        };
        let s = Schedule {
            max_epochs: 8,
            tol: 0.0,
        };
        let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
        assert_eq!(out.reason, StopReason::TimeLimit);
        assert_eq!(out.losses.len(), out.updates + 1);
    }

    #[test]
    fn an_interrupt_stops_between_batches() {
        let seq = [3.0; 10];
        let flag = AtomicBool::new(true);
        let mut b = scripted(&seq, 4);
        let hooks = Hooks {
            interrupt: Some(&flag),
            ..Hooks::default()
        };
        let s = Schedule {
            max_epochs: 8,
            tol: 0.0,
        };
        let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
        assert_eq!(out.reason, StopReason::Interrupted);
        assert_eq!(out.updates, 0);
        assert_eq!(out.losses.len(), 1);
        // A signal during a batch stops the run after it, unless that batch
        // was the last: the run then ended as it would have.
        for (signal_from, reason) in [(2, StopReason::Interrupted), (8, StopReason::MaxEpochs)] {
            let flag = AtomicBool::new(false);
            let mut b = scripted(&seq, 4);
            let mut at = None;
            let mut raise = |updates: usize, _: f64| {
                if updates >= signal_from && at.is_none() {
                    flag.store(true, Ordering::Relaxed);
                    at = Some(updates);
                }
            };
            let hooks = Hooks {
                interrupt: Some(&flag),
                on_batch: Some(&mut raise),
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!((out.reason, Some(out.updates)), (reason, at));
        }
    }

    /// `--keep best` on the scripted backend, whose parameter is its update
    /// count: the kept parameters must be those of the kept epoch.
    fn keep_best(seq: &[f64], max_batch: usize, schedule: Schedule, hooks: Hooks) -> Outcome {
        let mut b = scripted(seq, max_batch);
        let out = train_from(&mut b, &schedule, Vec::new(), hooks).unwrap();
        let kept = out.kept.as_ref().expect("a finite loss was measured");
        assert_eq!(kept.params, vec![kept.epoch as f32], "batch {max_batch}");
        assert_eq!(kept.loss, seq[kept.epoch]);
        // The backend is left with the final parameters.
        assert_eq!(b.params().unwrap(), vec![out.updates as f32]);
        out
    }

    fn keeping<'a>() -> Hooks<'a> {
        Hooks {
            keep_best: true,
            ..Hooks::default()
        }
    }

    #[test]
    fn keep_best_finds_the_lowest_loss_whatever_the_batch() {
        // Batches of 1, 2, then up to 4 or more: epoch 4 is inside one.
        let seq = [9.0, 4.0, 6.0, 3.0, 1.5, 2.0, 7.0, 1.5, 8.0, 5.0, 6.0];
        let s = Schedule {
            max_epochs: 10,
            tol: 0.0,
        };
        for max_batch in [1, 2, 3, 4, 64] {
            let out = keep_best(&seq, max_batch, s, keeping());
            // The first of two equal lows, inside a batch of the larger sizes.
            assert_eq!(out.kept.unwrap().epoch, 4, "batch {max_batch}");
        }
        // The final parameters, when they are as low as any: no rerun.
        let mut low_end = seq;
        low_end[10] = 1.5;
        for max_batch in [1, 4] {
            let out = keep_best(&low_end, max_batch, s, keeping());
            assert_eq!(out.kept.unwrap().epoch, 10);
        }
        // Without --keep best nothing is kept.
        let mut b = scripted(&seq, 4);
        assert_eq!(train(&mut b, &s).unwrap().kept, None);
    }

    #[test]
    fn keep_best_after_an_early_stop_or_a_divergence() {
        // --tol stops at epoch 6 (a change of 1% or less); the best is 2.
        let seq = [9.0, 8.0, 1.0, 5.0, 4.0, 3.0, 2.99, 2.0, 1.0];
        let s = Schedule {
            max_epochs: 8,
            tol: 0.01,
        };
        for max_batch in [1, 3, 64] {
            let out = keep_best(&seq, max_batch, s, keeping());
            assert_eq!((out.updates, out.kept.unwrap().epoch), (6, 2));
        }
        // A divergence at 5 rolls back to 4; the best is 1, not the NaN's
        // neighbours, and never past the rollback.
        let seq = [9.0, 2.0, 5.0, 4.0, 3.0, f64::NAN, 0.5, 0.1];
        let s = Schedule {
            max_epochs: 7,
            tol: 0.0,
        };
        for max_batch in [1, 2, 4, 64] {
            let mut b = scripted(&seq, max_batch);
            let out = train_from(&mut b, &s, Vec::new(), keeping()).unwrap();
            assert!(matches!(out.reason, StopReason::Diverged { epoch: 5, .. }));
            let kept = out.kept.unwrap();
            assert_eq!(
                (kept.epoch, kept.params),
                (1, vec![1.0]),
                "batch {max_batch}"
            );
            assert_eq!(b.params().unwrap(), vec![4.0]);
        }
    }

    #[test]
    fn keep_best_through_checkpoints_and_a_resume() {
        let seq = [
            9.0, 7.0, 8.0, 3.0, 6.0, 5.0, 4.0, 6.0, 2.0, 9.0, 8.0, 7.0, 6.0,
        ];
        let s = Schedule {
            max_epochs: 12,
            tol: 0.0,
        };
        for max_batch in [1, 2, 64] {
            let mut saved = Vec::new();
            let mut record = |k: usize, _: &[f64], b: &mut dyn Backend, kept: Option<&Kept>| {
                // The checkpoint sees the parameters after k updates.
                assert_eq!(b.params()?, vec![k as f32]);
                saved.push((k, kept.cloned()));
                Result::Ok(())
            };
            let hooks = Hooks {
                checkpoint_every: 5,
                checkpoint: Some(&mut record),
                ..keeping()
            };
            let full = keep_best(&seq, max_batch, s, hooks);
            assert_eq!(full.kept.as_ref().unwrap().epoch, 8);
            // At 5 the best of losses 0..5 is 3; at 10, of 0..10, it is 8.
            let epochs: Vec<_> = saved
                .iter()
                .map(|(k, c)| (*k, c.as_ref().unwrap().epoch))
                .collect();
            assert_eq!(epochs, vec![(5, 3), (10, 8)], "batch {max_batch}");
            for (k, c) in saved {
                let c = c.unwrap();
                assert_eq!(c.params, vec![c.epoch as f32]);
                // Resumed from the checkpoint: the same kept parameters.
                let mut b = scripted(&seq, max_batch);
                b.at = k;
                let hooks = Hooks {
                    kept: Some(c),
                    ..keeping()
                };
                let resumed = train_from(&mut b, &s, seq[..k].to_vec(), hooks).unwrap();
                assert_eq!(resumed.kept, full.kept, "resumed at {k}");
            }
        }
    }

    /// A scripted backend that measures `held` as its held-out losses.
    fn holding(seq: &[f64], held: &[f64], max_batch: usize) -> Scripted {
        Scripted {
            held: Some((held.to_vec(), Vec::new())),
            ..scripted(seq, max_batch)
        }
    }

    fn held_rules(patience: Option<usize>, keep: bool) -> Hooks<'static> {
        Hooks {
            keep_best: keep,
            held_out: Some(HeldOutRules {
                history: Vec::new(),
                patience,
                keep,
            }),
            ..Hooks::default()
        }
    }

    /// A falling training loss, and a held-out loss whose lowest is epoch 3.
    const TRAIN: [f64; 13] = [
        12.0, 11.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5,
    ];
    const HELD: [f64; 13] = [
        9.0, 7.0, 6.0, 2.0, 3.0, 2.0, 4.0, 5.0, 2.5, 6.0, 7.0, 8.0, 9.0,
    ];

    /// `--val-patience` on a backend's own measurements stops at the first
    /// epoch 3 or more after the lowest (epoch 6; the equal low at 5 is not
    /// lower), and `--keep best-val` keeps epoch 3, whatever the batch: the
    /// stop and the kept parameters come from reruns inside a batch.
    #[test]
    fn held_out_rules_hold_at_their_epoch_whatever_the_batch() {
        let s = Schedule {
            max_epochs: 12,
            tol: 0.0,
        };
        for max_batch in [1, 2, 3, 64] {
            let mut b = holding(&TRAIN, &HELD, max_batch);
            let out = train_from(&mut b, &s, Vec::new(), held_rules(Some(3), true)).unwrap();
            let name = format!("batch {max_batch}");
            assert_eq!(
                (out.reason, out.updates),
                (StopReason::ValidationStalled, 6),
                "{name}"
            );
            assert_eq!(out.losses, TRAIN[..7], "{name}");
            assert_eq!(out.held_out.as_deref(), Some(&HELD[..7]), "{name}");
            assert_eq!(b.params().unwrap(), vec![6.0], "{name}");
            let kept = out.kept.unwrap();
            assert_eq!((kept.epoch, kept.loss, kept.params), (3, 2.0, vec![3.0]));
            // Without patience the run goes on; the kept low is still 3,
            // and the final held-out loss is measured with the final loss.
            let mut b = holding(&TRAIN, &HELD, max_batch);
            let out = train_from(&mut b, &s, Vec::new(), held_rules(None, true)).unwrap();
            assert_eq!((out.reason, out.updates), (StopReason::MaxEpochs, 12));
            assert_eq!(out.held_out.as_deref(), Some(&HELD[..]), "{name}");
            assert_eq!(out.kept.unwrap().epoch, 3, "{name}");
            // A final held-out loss equal to the lowest: the earliest of
            // equals is kept, as the host's scoring keeps it.
            let mut tied = HELD;
            tied[12] = 2.0;
            let mut b = holding(&TRAIN, &tied, max_batch);
            let out = train_from(&mut b, &s, Vec::new(), held_rules(None, true)).unwrap();
            assert_eq!(out.kept.unwrap().epoch, 3, "{name}");
            // Keeping by the training loss, beside the held-out rules.
            let mut b = holding(&TRAIN, &HELD, max_batch);
            let hooks = Hooks {
                keep_best: true,
                ..held_rules(Some(3), false)
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!((out.updates, out.kept.unwrap().epoch), (6, 6), "{name}");
        }
    }

    /// An earlier stop of another rule wins; a stall before it wins; a
    /// resumed history's lows count.
    #[test]
    fn held_out_stall_against_other_stops_and_a_resume() {
        let s = Schedule {
            max_epochs: 12,
            tol: 0.0,
        };
        for max_batch in [1, 64] {
            // --target-loss reached at 5, before the stall at 6.
            let mut b = holding(&TRAIN, &HELD, max_batch);
            let hooks = Hooks {
                target_loss: Some(7.0),
                ..held_rules(Some(3), false)
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!((out.reason, out.updates), (StopReason::TargetReached, 5));
            // Reached at 8, after it.
            let mut b = holding(&TRAIN, &HELD, max_batch);
            let hooks = Hooks {
                target_loss: Some(4.0),
                ..held_rules(Some(3), false)
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(
                (out.reason, out.updates),
                (StopReason::ValidationStalled, 6)
            );
            // Resumed after 4 epochs with the held-out history: the low at
            // 3 is the history's, and the run stops at 6 as the straight one.
            let mut b = holding(&TRAIN, &HELD, max_batch);
            b.at = 4;
            let mut hooks = held_rules(Some(3), true);
            hooks.held_out.as_mut().unwrap().history = HELD[..4].to_vec();
            hooks.kept = Some(Kept {
                epoch: 3,
                loss: 2.0,
                params: vec![3.0],
            });
            let out = train_from(&mut b, &s, TRAIN[..4].to_vec(), hooks).unwrap();
            assert_eq!(
                (out.reason, out.updates),
                (StopReason::ValidationStalled, 6)
            );
            assert_eq!(out.held_out.as_deref(), Some(&HELD[..7]));
            assert_eq!(out.kept.unwrap().epoch, 3);
        }
        // A held-out loss that is never measured (NaN) never stalls.
        let mut b = holding(&TRAIN, &[f64::NAN; 13], 4);
        let out = train_from(&mut b, &s, Vec::new(), held_rules(Some(3), false)).unwrap();
        assert_eq!(out.reason, StopReason::MaxEpochs);
    }

    fn plateau(patience: usize) -> Option<Plateau> {
        let s = crate::optim::LrSchedule::Plateau {
            gamma: 0.5,
            patience,
            threshold: 0.01,
            min_lr: 0.0,
        };
        s.plateau(1.0)
    }

    /// A loss that stops falling after epoch 1.
    const FLAT: [f64; 13] = [
        5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0,
    ];

    /// The plateau's cuts fall at the same epochs, and the losses after
    /// them are those of the cut rate, whatever the batch: no batch runs
    /// past the earliest epoch a cut could start at.
    #[test]
    fn plateau_cuts_are_the_same_whatever_the_batch() {
        // Flat at 4 from epoch 1: with patience 2 the third epoch without
        // an improvement, L_4, cuts the rate from epoch 5 (L_6 on halved);
        // flat again at 2 from L_6, L_9 cuts it from 10 (L_11 on halved).
        let s = Schedule {
            max_epochs: 12,
            tol: 0.0,
        };
        let mut runs = Vec::new();
        for max_batch in [1, 2, 3, 64] {
            let mut b = scripted(&FLAT, max_batch);
            let hooks = Hooks {
                plateau: plateau(2),
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(out.rate_cuts, vec![5, 10], "batch {max_batch}");
            assert_eq!(b.cuts, vec![5, 10], "batch {max_batch}");
            runs.push(out.losses);
        }
        let want = [
            5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0,
        ];
        for losses in runs {
            assert_eq!(losses, want);
        }
    }

    /// A resumed run replays the history's cuts before its first epoch, and
    /// ends as the straight run did.
    #[test]
    fn plateau_cuts_replay_on_resume() {
        let s = Schedule {
            max_epochs: 12,
            tol: 0.0,
        };
        let hooks = || Hooks {
            plateau: plateau(2),
            ..Hooks::default()
        };
        let mut b = scripted(&FLAT, 4);
        let full = train_from(&mut b, &s, Vec::new(), hooks()).unwrap();
        for at in [3, 5, 6, 10, 11] {
            let mut b = scripted(&FLAT, 4);
            b.at = at;
            // The backend's own state holds the cuts made before `at`.
            b.cuts = full
                .rate_cuts
                .iter()
                .copied()
                .filter(|&c| (c as usize) < at)
                .collect();
            let history = full.losses[..at].to_vec();
            let resumed = train_from(&mut b, &s, history, hooks()).unwrap();
            assert_eq!(resumed.losses, full.losses, "resumed at {at}");
            assert_eq!(resumed.rate_cuts, full.rate_cuts, "resumed at {at}");
        }
    }

    /// A stop inside a batch comes before a cut at its end; a stop that
    /// needs the cut is found after it.
    #[test]
    fn plateau_and_early_stops_in_one_batch() {
        // --tol 0.05 stops the flat run at epoch 2 (no fall from L_1); with
        // patience 0, L_2 cuts the rate from epoch 3: the stop comes first,
        // and the cut never takes effect.
        let seq = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0];
        let s = Schedule {
            max_epochs: 5,
            tol: 0.05,
        };
        for max_batch in [1, 64] {
            let mut b = scripted(&seq, max_batch);
            let hooks = Hooks {
                plateau: plateau(0),
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!((out.reason, out.updates), (StopReason::Converged, 2));
            assert!(out.rate_cuts.is_empty(), "{:?}", out.rate_cuts);
        }
        // A target below the uncut losses is reached only after the cut:
        // the batch that ran past the cut must not report it early.
        let seq = [5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0];
        let s = Schedule {
            max_epochs: 6,
            tol: 0.0,
        };
        for max_batch in [1, 64] {
            let mut b = scripted(&seq, max_batch);
            let hooks = Hooks {
                plateau: plateau(1),
                target_loss: Some(2.0),
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            // L_3 cuts the rate from epoch 4, so L_5 = 1.5 is the first at
            // or below 2; the uncut batch never gets there.
            assert_eq!(out.rate_cuts, vec![4], "batch {max_batch}");
            assert_eq!((out.reason, out.updates), (StopReason::TargetReached, 5));
            assert_eq!(out.losses, [5.0, 4.0, 4.0, 4.0, 3.0, 1.5]);
        }
    }

    /// A loss that does not move at all has converged under --tol at the
    /// first epoch (L_1 ≤ L_0 is both "did not rise" and "not above the
    /// start", and a change of 0 is below tol·L_0); and it did not end
    /// above its start.
    #[test]
    fn an_unchanged_loss_converges_at_once_and_did_not_rise() {
        let seq = [4.0, 4.0, 4.0, 4.0, 4.0];
        for max_batch in [1, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 4,
                tol: 0.01,
            };
            let out = train(&mut b, &s).unwrap();
            assert_eq!((out.reason, out.updates), (StopReason::Converged, 1));
            assert!(!out.ended_above_start(), "{:?}", out.losses);
        }
        // Without --tol it runs every epoch, and still did not rise.
        let mut b = scripted(&seq, 64);
        let s = Schedule {
            max_epochs: 4,
            tol: 0.0,
        };
        let out = train(&mut b, &s).unwrap();
        assert_eq!((out.reason, out.updates), (StopReason::MaxEpochs, 4));
        assert!(!out.ended_above_start(), "{:?}", out.losses);
    }

    /// Patience's inequalities at their bounds: a fall to exactly
    /// best·(1 − tol) is no improvement (it must be below it), and a loss
    /// above the best but within best·(1 + tol) is a plateau.
    #[test]
    fn patience_improvement_is_strict_and_its_plateau_spans_tol_above_the_best() {
        // 8 → 4 = 8·(1 − 0.5): stale at once, so patience 1 stops at 1.
        let seq = [8.0, 4.0, 4.0, 4.0, 4.0];
        for max_batch in [1, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 4,
                tol: 0.5,
            };
            let hooks = Hooks {
                patience: 1,
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!((out.reason, out.updates), (StopReason::Converged, 1));
        }
        // Best 5 at epoch 1; 5.2 and 5.1 are stale, and 5.1 fell and is
        // within 5·1.1: a plateau at epoch 3, though above the best.
        let seq = [10.0, 5.0, 5.2, 5.1, 5.05, 5.02, 5.01];
        for max_batch in [1, 2, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 6,
                tol: 0.1,
            };
            let hooks = Hooks {
                patience: 2,
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(
                (out.reason, out.updates),
                (StopReason::Converged, 3),
                "batch {max_batch}"
            );
        }
    }

    /// A plateau cut found at the run's last epoch would start after it:
    /// it never took effect, and the outcome does not list it.
    #[test]
    fn a_cut_from_the_epoch_after_the_run_is_not_reported() {
        // As in plateau_cuts_are_the_same_whatever_the_batch: L_4 cuts the
        // rate from epoch 5.
        for (max_epochs, want) in [(5, vec![]), (6, vec![5u64])] {
            let s = Schedule {
                max_epochs,
                tol: 0.0,
            };
            let mut b = scripted(&FLAT, 64);
            let hooks = Hooks {
                plateau: plateau(2),
                ..Hooks::default()
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(out.updates, max_epochs);
            assert_eq!(out.rate_cuts, want, "{max_epochs} epochs");
        }
    }

    /// A stall that falls on the epoch where --tol converges (found on
    /// the final loss) ends the run as converged, the training loss's stop
    /// winning the tie as --target-loss's and the budget's do.
    #[test]
    fn a_stall_ties_with_tol_as_converged() {
        // 18 → 17.9 is a change below 1% of 18: converged at 3.
        let seq = [
            20.0, 19.0, 18.0, 17.9, 17.0, 16.0, 15.0, 14.0, 13.0, 12.0, 11.0,
        ];
        let mut b = scripted(&seq, 4);
        let mut stall = |k: usize, _: &[f64], _: &[f64], _: &mut dyn Backend| Result::Ok(k >= 3);
        let hooks = Hooks {
            after_batch: Some(&mut stall),
            ..Hooks::default()
        };
        let s = Schedule {
            max_epochs: 10,
            tol: 0.01,
        };
        let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
        assert_eq!((out.reason, out.updates), (StopReason::Converged, 3));
    }

    /// The backend's held-out loss stalls at epoch 6, where the training
    /// loss reaches --target-loss too: the target wins the tie, inside a
    /// batch (of 4 from epoch 3) as at a batch's end.
    #[test]
    fn a_held_out_stall_on_the_targets_epoch_is_the_target() {
        let s = Schedule {
            max_epochs: 12,
            tol: 0.0,
        };
        for max_batch in [1, 64] {
            let mut b = holding(&TRAIN, &HELD, max_batch);
            let hooks = Hooks {
                target_loss: Some(TRAIN[6]),
                ..held_rules(Some(3), false)
            };
            let out = train_from(&mut b, &s, Vec::new(), hooks).unwrap();
            assert_eq!(
                (out.reason, out.updates),
                (StopReason::TargetReached, 6),
                "batch {max_batch}"
            );
        }
    }

    /// A divergence at the first epoch of a batch (every epoch, in
    /// batches of one) rolls back through the previous batch's snapshot:
    /// the backend holds the last good parameters, and says so, which is
    /// what lets the CLI write them to --checkpoint.
    #[test]
    fn a_divergence_at_a_batchs_first_epoch_is_rolled_back() {
        let seq = [1.0, 2.0, 1e30, f64::INFINITY, f64::NAN, 0.0];
        for max_batch in [1, 2, 4] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                max_epochs: 5,
                tol: 0.0,
            };
            let out = train_from(&mut b, &s, Vec::new(), Hooks::default()).unwrap();
            assert!(
                matches!(
                    out.reason,
                    StopReason::Diverged {
                        epoch: 3,
                        rolled_back: true,
                        ..
                    }
                ),
                "batch {max_batch}: {:?}",
                out.reason
            );
            assert_eq!((out.updates, &out.losses[..]), (2, &seq[..3]));
            assert_eq!(b.params().unwrap(), vec![2.0], "batch {max_batch}");
        }
    }
}
