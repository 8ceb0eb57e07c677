//! Learning-rate schedules: the rate of each epoch as a function of the
//! epoch's index (and, for the plateau schedule, of the epochs at which the
//! training loop cut it), so every backend, a rerun and a resumed run apply
//! the same rate at the same epoch. With `--batch-size` every update of an
//! epoch takes that epoch's rate, as torch's schedulers do when stepped
//! once per epoch. docs/optimizers.md states the formulas.

use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::error::{Error, Result};

/// The schedule families, as `--lr-schedule` names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleKind {
    /// The rate --lr at every epoch (the default).
    #[default]
    Constant,
    /// Half a cosine from --lr down to --lr-min over --lr-epochs epochs,
    /// then --lr-min (torch's CosineAnnealingLR, without its restart).
    Cosine,
    /// --lr times --lr-gamma after every --lr-every epochs (torch's StepLR).
    Step,
    /// --lr times --lr-gamma^e at epoch e (torch's ExponentialLR); a
    /// --lr-gamma above 1 makes the rate grow, as a learning-rate range
    /// test's does.
    Exponential,
    /// --lr times --lr-gamma whenever the training loss has not fallen by
    /// the fraction --lr-threshold below its best for more than
    /// --lr-patience epochs, down to --lr-min (torch's ReduceLROnPlateau).
    Plateau,
    /// One cycle over --lr-epochs epochs: half a cosine up from --lr/25 to
    /// --lr over the first --lr-pct-start of them, then half a cosine down
    /// to --lr-min (torch's OneCycleLR, without cycling the momentum).
    #[value(name = "one-cycle")]
    OneCycle,
}

impl ScheduleKind {
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Step => "step",
            ScheduleKind::Exponential => "exponential",
            ScheduleKind::Plateau => "plateau",
            ScheduleKind::OneCycle => "one-cycle",
        }
    }
}

impl std::fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The step and plateau schedules' factor when `--lr-gamma` is not given
/// (torch's).
pub const DEFAULT_GAMMA: f64 = 0.1;
/// The plateau schedule's `--lr-patience` and `--lr-threshold` when not
/// given (torch's).
pub const DEFAULT_PATIENCE: usize = 10;
pub const DEFAULT_THRESHOLD: f64 = 1e-4;
/// The one-cycle schedule's defaults (torch's OneCycleLR): the share of
/// the cycle spent rising, the peak's ratio to the first rate, and the
/// first rate's ratio to the last.
pub const DEFAULT_PCT_START: f64 = 0.3;
pub const ONE_CYCLE_DIV: f64 = 25.0;
pub const ONE_CYCLE_FINAL_DIV: f64 = 1e4;

/// A schedule and its settings, resolved (nothing left to a default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum LrSchedule {
    /// α at every epoch.
    #[default]
    Constant,
    /// α_e = α_min + (α − α_min)·(1 + cos(π·min(e, T)/T))/2.
    Cosine { epochs: usize, min_lr: f64 },
    /// α_e = α·γ^⌊e/K⌋.
    Step { every: usize, gamma: f64 },
    /// α_e = α·γ^e.
    Exponential { gamma: f64 },
    /// α_e = max(α·γ^n, α_min), n the cuts at or before e; [`Plateau`]
    /// places them from the losses.
    Plateau {
        gamma: f64,
        patience: usize,
        threshold: f64,
        min_lr: f64,
    },
    /// With T epochs, the rise ending at m = p·T − 1 (torch's step
    /// arithmetic), a = α/25 and α_min (by default a/10⁴):
    /// α_e = cos(a → α, e/m) for e ≤ m, cos(α → α_min, (e − m)/(T − 1 − m))
    /// after, where cos(x → y, t) = y + (x − y)·(1 + cos(π·t))/2; α_min from
    /// epoch T − 1 on.
    #[serde(rename = "one-cycle")]
    OneCycle {
        epochs: usize,
        pct_start: f64,
        /// `None`: the first rate over 10⁴, α/250,000.
        min_lr: Option<f64>,
    },
}

/// The schedule's settings as the command line gives them: `None` takes
/// the default, and a setting the chosen schedule does not use is an error.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScheduleSettings {
    pub kind: ScheduleKind,
    pub min_lr: Option<f64>,
    pub epochs: Option<usize>,
    pub every: Option<usize>,
    pub gamma: Option<f64>,
    pub patience: Option<usize>,
    pub threshold: Option<f64>,
    pub pct_start: Option<f64>,
}

impl ScheduleSettings {
    /// The schedule these settings name for `opt`, checked; a cosine
    /// without `--lr-epochs` falls over the run's `run_epochs`.
    pub fn resolve(&self, opt: &Optimizer, run_epochs: usize) -> Result<LrSchedule> {
        let kind = self.kind;
        use ScheduleKind::{Cosine, Exponential, OneCycle, Plateau, Step};
        let unused: Vec<&str> = [
            (
                "--lr-min",
                self.min_lr.is_some(),
                &[Cosine, Plateau, OneCycle][..],
            ),
            ("--lr-epochs", self.epochs.is_some(), &[Cosine, OneCycle]),
            ("--lr-every", self.every.is_some(), &[Step]),
            (
                "--lr-gamma",
                self.gamma.is_some(),
                &[Step, Exponential, Plateau],
            ),
            ("--lr-patience", self.patience.is_some(), &[Plateau]),
            ("--lr-threshold", self.threshold.is_some(), &[Plateau]),
            ("--lr-pct-start", self.pct_start.is_some(), &[OneCycle]),
        ]
        .into_iter()
        .filter(|&(_, given, users)| given && !users.contains(&kind))
        .map(|(flag, _, _)| flag)
        .collect();
        if !unused.is_empty() {
            return Err(Error::Config(format!(
                "--lr-schedule {kind} does not use {}",
                unused.join(", ")
            )));
        }
        let schedule = match kind {
            ScheduleKind::Constant => LrSchedule::Constant,
            ScheduleKind::Cosine => LrSchedule::Cosine {
                epochs: self.epochs.unwrap_or(run_epochs),
                min_lr: self.min_lr.unwrap_or(0.0),
            },
            ScheduleKind::Step => LrSchedule::Step {
                every: self.every.ok_or_else(|| {
                    Error::Config(
                        "--lr-schedule step needs --lr-every K, the epochs between cuts".into(),
                    )
                })?,
                gamma: self.gamma.unwrap_or(DEFAULT_GAMMA),
            },
            ScheduleKind::Exponential => LrSchedule::Exponential {
                gamma: self.gamma.ok_or_else(|| {
                    Error::Config(
                        "--lr-schedule exponential needs --lr-gamma G, the factor per epoch".into(),
                    )
                })?,
            },
            ScheduleKind::Plateau => LrSchedule::Plateau {
                gamma: self.gamma.unwrap_or(DEFAULT_GAMMA),
                patience: self.patience.unwrap_or(DEFAULT_PATIENCE),
                threshold: self.threshold.unwrap_or(DEFAULT_THRESHOLD),
                min_lr: self.min_lr.unwrap_or(0.0),
            },
            ScheduleKind::OneCycle => LrSchedule::OneCycle {
                epochs: self.epochs.unwrap_or(run_epochs),
                pct_start: self.pct_start.unwrap_or(DEFAULT_PCT_START),
                min_lr: self.min_lr,
            },
        };
        schedule.check(opt)?;
        Ok(schedule)
    }
}

impl LrSchedule {
    pub fn is_constant(&self) -> bool {
        *self == LrSchedule::Constant
    }

    /// The plateau rule, when this schedule cuts the rate `lr` from the
    /// losses.
    pub fn plateau(&self, lr: f64) -> Option<Plateau> {
        match *self {
            LrSchedule::Plateau {
                gamma,
                patience,
                threshold,
                min_lr,
            } => Some(Plateau {
                gamma,
                patience,
                threshold,
                min_lr,
                lr,
                best: f64::INFINITY,
                bad: 0,
                cuts: Vec::new(),
            }),
            _ => None,
        }
    }

    /// Refuses settings outside the schedule's domain, and a schedule for
    /// L-BFGS, whose line search chooses every step's length.
    pub fn check(&self, opt: &Optimizer) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.is_constant() {
            return Ok(());
        }
        if matches!(opt, Optimizer::Lbfgs { .. }) {
            return bad("--lr-schedule needs a first-order optimizer (gd, momentum, nesterov, adam or adamw): L-BFGS's line search chooses each step's length".into());
        }
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Cosine { epochs, min_lr } => {
                spans(epochs)?;
                min_below(min_lr, opt.lr())
            }
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    return bad("--lr-every must be at least 1".into());
                }
                if !(gamma.is_finite() && gamma > 0.0 && gamma <= 1.0) {
                    return bad(format!(
                        "--lr-gamma must be in (0, 1], not {}",
                        super::short(gamma)
                    ));
                }
                Ok(())
            }
            LrSchedule::Exponential { gamma } => {
                if !(gamma.is_finite() && gamma > 0.0) {
                    return bad(format!(
                        "--lr-gamma must be positive and finite for exponential, not {}",
                        super::short(gamma)
                    ));
                }
                Ok(())
            }
            LrSchedule::Plateau {
                gamma,
                threshold,
                min_lr,
                ..
            } => {
                if !(gamma.is_finite() && gamma > 0.0 && gamma < 1.0) {
                    return bad(format!(
                        "--lr-gamma must be in (0, 1) for plateau, not {}",
                        super::short(gamma)
                    ));
                }
                if !(threshold.is_finite() && (0.0..1.0).contains(&threshold)) {
                    return bad(format!(
                        "--lr-threshold must be in [0, 1), not {}",
                        super::short(threshold)
                    ));
                }
                min_below(min_lr, opt.lr())
            }
            LrSchedule::OneCycle {
                epochs,
                pct_start,
                min_lr,
            } => {
                spans(epochs)?;
                if !(pct_start > 0.0 && pct_start < 1.0) {
                    return bad(format!(
                        "--lr-pct-start must be in (0, 1), not {}",
                        super::short(pct_start)
                    ));
                }
                min_lr.map_or(Ok(()), |min_lr| min_below(min_lr, opt.lr()))
            }
        }
    }

    /// The learning rate of epoch `epoch` (counted from 0), from the base
    /// rate `lr`, in f64; `cuts` are the epochs from which a plateau
    /// schedule's rate was cut, ascending (other schedules ignore them).
    pub fn rate(&self, lr: f64, epoch: u64, cuts: &[u64]) -> f64 {
        match *self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine { epochs, min_lr } => {
                let t = epochs as f64;
                let e = (epoch as f64).min(t);
                min_lr + (lr - min_lr) * (1.0 + (std::f64::consts::PI * e / t).cos()) / 2.0
            }
            LrSchedule::Step { every, gamma } => {
                // Past 2^31 cuts γ^k underflows to 0 for any γ < 1 anyway.
                let cuts = (epoch / every as u64).min(i32::MAX as u64) as i32;
                lr * gamma.powi(cuts)
            }
            // γ^e overflows to ∞ (γ > 1) or underflows to 0 (γ < 1) long
            // before e reaches 2^53; the rate then says so.
            LrSchedule::Exponential { gamma } => lr * gamma.powf(epoch as f64),
            LrSchedule::Plateau { gamma, min_lr, .. } => {
                plateau_rate(lr, gamma, min_lr, cuts.partition_point(|&c| c <= epoch))
            }
            LrSchedule::OneCycle {
                epochs,
                pct_start,
                min_lr,
            } => {
                let first = lr / ONE_CYCLE_DIV;
                let last = one_cycle_last(lr, min_lr);
                // torch's phase ends: the rise's at step p·T − 1, the
                // fall's at T − 1. The fall is never empty, as p < 1.
                let t = epochs as f64;
                let rise_end = pct_start * t - 1.0;
                let fall_end = t - 1.0;
                let e = (epoch as f64).min(fall_end);
                let anneal = |from: f64, to: f64, x: f64| {
                    to + (from - to) * (1.0 + (std::f64::consts::PI * x).cos()) / 2.0
                };
                if e <= rise_end {
                    // rise_end ≥ e ≥ 0; at rise_end = 0 epoch 0 is the peak.
                    let x = if rise_end > 0.0 { e / rise_end } else { 1.0 };
                    anneal(first, lr, x)
                } else {
                    anneal(lr, last, (e - rise_end) / (fall_end - rise_end))
                }
            }
        }
    }

    /// `opt` as it steps in epoch `epoch`: its learning rate scheduled
    /// (`cuts` as for [`LrSchedule::rate`]).
    pub fn at(&self, opt: &Optimizer, epoch: u64, cuts: &[u64]) -> Optimizer {
        match self {
            LrSchedule::Constant => *opt,
            _ => opt.with_lr(self.rate(opt.lr(), epoch, cuts)),
        }
    }

    /// For summaries: `None` for the constant rate, else the schedule and
    /// its settings, as in "cosine to 0 over 200 epochs", from the base
    /// rate `lr` (a one-cycle's default last rate is named from it).
    pub fn describe(&self, lr: f64) -> Option<String> {
        match *self {
            LrSchedule::Constant => None,
            LrSchedule::Cosine { epochs, min_lr } => Some(format!(
                "cosine to {} over {}",
                super::short(min_lr),
                crate::units::count(epochs, "epoch")
            )),
            LrSchedule::Step { every, gamma } => Some(format!(
                "step ×{} every {}",
                super::short(gamma),
                crate::units::count(every, "epoch")
            )),
            LrSchedule::Exponential { gamma } => {
                Some(format!("exponential ×{} per epoch", super::short(gamma)))
            }
            LrSchedule::Plateau {
                gamma,
                patience,
                threshold,
                min_lr,
            } => Some(format!(
                "plateau ×{} after {} without a fall of {}, down to {}",
                super::short(gamma),
                crate::units::count(patience, "epoch"),
                super::short(threshold),
                super::short(min_lr)
            )),
            LrSchedule::OneCycle {
                epochs,
                pct_start,
                min_lr,
            } => Some(format!(
                "one cycle over {}, rising for {} of them, down to {}",
                crate::units::count(epochs, "epoch"),
                super::short(pct_start),
                match min_lr {
                    Some(min_lr) => super::short(min_lr),
                    None => format!("{:.3e}", one_cycle_last(lr, None)),
                }
            )),
        }
    }
}

/// One cycle's last rate from the peak `lr`: `--lr-min`, or the first
/// rate, lr/25, over 10⁴.
fn one_cycle_last(lr: f64, min_lr: Option<f64>) -> f64 {
    min_lr.unwrap_or(lr / ONE_CYCLE_DIV / ONE_CYCLE_FINAL_DIV)
}

/// The plateau schedule's rate after `n` cuts: max(α·γ^n, α_min).
fn plateau_rate(lr: f64, gamma: f64, min_lr: f64, n: usize) -> f64 {
    (lr * gamma.powi(n.min(i32::MAX as usize) as i32)).max(min_lr)
}

/// What a backend steps by: its schedule, and the plateau schedule's cuts
/// so far, which the training loop sets ([`crate::train::Backend::set_rate_cuts`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    pub schedule: LrSchedule,
    /// The epochs from which the rate was cut, ascending.
    pub cuts: Vec<u64>,
}

impl Rates {
    /// `opt` as it steps in epoch `epoch`.
    pub fn at(&self, opt: &Optimizer, epoch: u64) -> Optimizer {
        self.schedule.at(opt, epoch, &self.cuts)
    }
}

/// The plateau schedule's rule (torch's ReduceLROnPlateau in mode min,
/// with a relative threshold and no cooldown), over the training losses
/// L_0, L_1, … in order: L_e improves when L_e < best·(1 − threshold), and
/// becomes the best; after more than `patience` epochs in a row that do
/// not, the rate is cut from epoch e + 1 on, where L_e is the last of them,
/// and the count restarts. A cut that would take the rate no lower (it is
/// at --lr-min) is not made. The rate of epoch e depends on L_0..L_(e−1)
/// only, so the training loop can find each cut from the losses a batch
/// of epochs reports; it runs no batch past the earliest epoch a cut
/// could start at ([`Plateau::room`]), so no epoch ever runs at a rate it
/// should not have.
#[derive(Clone, Debug, PartialEq)]
pub struct Plateau {
    gamma: f64,
    patience: usize,
    threshold: f64,
    min_lr: f64,
    /// The base rate, `--lr`.
    lr: f64,
    best: f64,
    bad: usize,
    /// The epochs from which the rate was cut, ascending.
    cuts: Vec<u64>,
}

impl Plateau {
    /// Takes L_epoch, the losses before it having been observed; returns
    /// the epoch a cut starts at (epoch + 1) when it makes one.
    pub fn observe(&mut self, epoch: usize, loss: f64) -> Option<u64> {
        if loss < self.best * (1.0 - self.threshold) {
            self.best = loss;
            self.bad = 0;
        } else {
            self.bad += 1;
        }
        if self.bad <= self.patience {
            return None;
        }
        self.bad = 0;
        if self.floored() {
            return None;
        }
        let start = epoch as u64 + 1;
        self.cuts.push(start);
        Some(start)
    }

    /// The epochs from which the rate was cut, ascending.
    pub fn cuts(&self) -> &[u64] {
        &self.cuts
    }

    /// Whether one more cut would not lower the rate: it is at --lr-min.
    fn floored(&self) -> bool {
        let n = self.cuts.len();
        let rate = |n| plateau_rate(self.lr, self.gamma, self.min_lr, n);
        rate(n + 1) >= rate(n)
    }

    /// How many epochs can run before a cut could start: a cut needs more
    /// than `patience` stale losses in a row, and `bad` have been seen, so
    /// the earliest is after the loss of the (patience + 1 − bad)-th epoch
    /// from now. Unbounded once the rate is at its floor.
    pub fn room(&self) -> usize {
        if self.floored() {
            return usize::MAX;
        }
        // bad ≤ patience: it restarts when it passes it.
        (self.patience - self.bad).saturating_add(1)
    }
}

/// `--lr-min`'s check: at least 0 and below the base rate `lr`.
fn min_below(min_lr: f64, lr: f64) -> Result<()> {
    if !(min_lr.is_finite() && (0.0..lr).contains(&min_lr)) {
        return Err(Error::Config(format!(
            "--lr-min must be at least 0 and below --lr ({}), not {}",
            super::short(lr),
            super::short(min_lr)
        )));
    }
    Ok(())
}

/// `--lr-epochs`' check: a schedule spans at least one epoch.
fn spans(epochs: usize) -> Result<()> {
    match epochs {
        0 => Err(Error::Config(
            "--lr-epochs (by default --epochs) must be at least 1".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADAM: Optimizer = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
        max_grad_norm: 0.0,
    };

    const LBFGS: Optimizer = Optimizer::Lbfgs {
        lr: 1.0,
        history_size: 10,
        gtol: 1e-7,
        weight_decay: 0.0,
    };

    fn settings(kind: ScheduleKind) -> ScheduleSettings {
        ScheduleSettings {
            kind,
            ..ScheduleSettings::default()
        }
    }

    #[test]
    fn cosine_falls_from_lr_to_its_floor_and_stays() {
        let s = LrSchedule::Cosine {
            epochs: 10,
            min_lr: 0.001,
        };
        assert_eq!(s.rate(0.1, 0, &[]), 0.1);
        assert!(
            (s.rate(0.1, 5, &[]) - 0.0505).abs() < 1e-15,
            "{}",
            s.rate(0.1, 5, &[])
        );
        assert!((s.rate(0.1, 10, &[]) - 0.001).abs() < 1e-15);
        assert_eq!(s.rate(0.1, 10, &[]), s.rate(0.1, 11, &[]));
        assert_eq!(s.rate(0.1, 10, &[]), s.rate(0.1, u64::MAX, &[]));
        let falling: Vec<f64> = (0..=10).map(|e| s.rate(0.1, e, &[])).collect();
        assert!(falling.windows(2).all(|w| w[1] < w[0]), "{falling:?}");
        // Symmetric about the middle: α_e + α_(T−e) = α + α_min.
        for e in 0..=10 {
            let sum = s.rate(0.1, e, &[]) + s.rate(0.1, 10 - e, &[]);
            assert!((sum - 0.101).abs() < 1e-15, "e = {e}: {sum}");
        }
    }

    #[test]
    fn step_cuts_by_gamma_every_k_epochs() {
        let s = LrSchedule::Step {
            every: 3,
            gamma: 0.5,
        };
        let rates: Vec<f64> = (0..8).map(|e| s.rate(0.8, e, &[])).collect();
        assert_eq!(rates, [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2]);
        assert_eq!(s.rate(0.8, u64::MAX, &[]), 0.0);
        assert_eq!(LrSchedule::Constant.rate(0.8, 1234, &[]), 0.8);
    }

    #[test]
    fn exponential_multiplies_by_gamma_every_epoch() {
        let s = LrSchedule::Exponential { gamma: 0.5 };
        let rates: Vec<f64> = (0..4).map(|e| s.rate(0.8, e, &[])).collect();
        assert_eq!(rates, [0.8, 0.4, 0.2, 0.1]);
        assert_eq!(s.rate(0.8, u64::MAX, &[]), 0.0);
        // Growing: a range test's 1e-6 to 1 over 60 epochs.
        let grow = LrSchedule::Exponential {
            gamma: 1e6f64.powf(1.0 / 60.0),
        };
        assert!((grow.rate(1e-6, 60, &[]) - 1.0).abs() < 1e-12);
        assert_eq!(grow.rate(1e-6, u64::MAX, &[]), f64::INFINITY);
        assert_eq!(
            s.describe(0.8).as_deref(),
            Some("exponential ×0.5 per epoch")
        );
    }

    /// The rates torch 2.15's OneCycleLR (cycle_momentum=False) gave its
    /// optimizer at steps 0..T, stepped once per epoch.
    #[test]
    fn one_cycle_gives_torchs_rates() {
        let close = |got: &[f64], want: &[f64]| {
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() <= 1e-15, "{got:?}\n{want:?}");
            }
        };
        // OneCycleLR(max_lr=0.8, total_steps=10): defaults pct_start 0.3,
        // div_factor 25, final_div_factor 1e4.
        let s = LrSchedule::OneCycle {
            epochs: 10,
            pct_start: 0.3,
            min_lr: None,
        };
        let rates: Vec<f64> = (0..10).map(|e| s.rate(0.8, e, &[])).collect();
        let torch = [
            0.03200000000000003,
            0.41600000000000004,
            0.8,
            0.7603877056107791,
            0.6493965231598104,
            0.48900961754903144,
            0.3109935824509686,
            0.1506066768401896,
            0.03961549438922103,
            3.2e-06,
        ];
        close(&rates, &torch);
        // Past the cycle (where torch raises) the last rate stays.
        assert_eq!(s.rate(0.8, 10, &[]), s.rate(0.8, 9, &[]));
        assert_eq!(s.rate(0.8, u64::MAX, &[]), s.rate(0.8, 9, &[]));
        // OneCycleLR(max_lr=0.8, total_steps=7, pct_start=0.5,
        // final_div_factor=16): a last rate of 0.002, --lr-min here.
        let s = LrSchedule::OneCycle {
            epochs: 7,
            pct_start: 0.5,
            min_lr: Some(0.002),
        };
        let rates: Vec<f64> = (0..7).map(|e| s.rate(0.8, e, &[])).collect();
        let torch = [
            0.03200000000000003,
            0.2973374741600202,
            0.7266625258399798,
            0.7604865782930652,
            0.48978585264856944,
            0.15222756905836535,
            0.002,
        ];
        close(&rates, &torch);
        // A rise that ends at step 0 (p·T = 1, where torch divides 0 by 0)
        // starts at the peak; a one-epoch cycle is its last rate.
        let s = |epochs, pct_start| LrSchedule::OneCycle {
            epochs,
            pct_start,
            min_lr: None,
        };
        assert_eq!(s(10, 0.1).rate(0.8, 0, &[]), 0.8);
        assert!(s(10, 0.1).rate(0.8, 1, &[]) < 0.8);
        assert_eq!(s(1, 0.3).rate(0.8, 0, &[]), 0.8 / 25.0 / 1e4);
        assert_eq!(
            s(200, 0.3).describe(0.8).as_deref(),
            Some("one cycle over 200 epochs, rising for 0.3 of them, down to 3.200e-6")
        );
        assert!(s(1, 0.3)
            .describe(0.8)
            .unwrap()
            .starts_with("one cycle over 1 epoch,"));
        let cosine = LrSchedule::Cosine {
            epochs: 1,
            min_lr: 0.0,
        };
        assert_eq!(
            cosine.describe(0.1).as_deref(),
            Some("cosine to 0 over 1 epoch")
        );
    }

    #[test]
    fn at_changes_only_the_learning_rate() {
        let s = LrSchedule::Step {
            every: 1,
            gamma: 0.5,
        };
        let Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            ..
        } = s.at(&ADAM, 2, &[])
        else {
            panic!("not adam");
        };
        assert_eq!((lr, beta1, beta2, eps), (0.0025, 0.9, 0.999, 1e-8));
        assert_eq!(LrSchedule::Constant.at(&ADAM, 7, &[]), ADAM);
    }

    #[test]
    fn settings_resolve_with_defaults_and_refuse_what_is_wrong() {
        let cosine = settings(ScheduleKind::Cosine).resolve(&ADAM, 40).unwrap();
        assert_eq!(
            cosine,
            LrSchedule::Cosine {
                epochs: 40,
                min_lr: 0.0
            }
        );
        assert_eq!(
            cosine.describe(0.01).as_deref(),
            Some("cosine to 0 over 40 epochs")
        );
        let step = ScheduleSettings {
            every: Some(5),
            ..settings(ScheduleKind::Step)
        };
        let step = step.resolve(&ADAM, 40).unwrap();
        assert_eq!(
            step,
            LrSchedule::Step {
                every: 5,
                gamma: 0.1
            }
        );
        assert_eq!(
            step.describe(0.01).as_deref(),
            Some("step ×0.1 every 5 epochs")
        );
        let cycle = settings(ScheduleKind::OneCycle).resolve(&ADAM, 40).unwrap();
        assert_eq!(
            cycle,
            LrSchedule::OneCycle {
                epochs: 40,
                pct_start: 0.3,
                min_lr: None
            }
        );
        assert_eq!(LrSchedule::Constant.describe(0.01), None);
        assert!(settings(ScheduleKind::Constant).resolve(&LBFGS, 9).is_ok());
        for (s, opt, says) in [
            (settings(ScheduleKind::Cosine), LBFGS, "L-BFGS"),
            (settings(ScheduleKind::Step), ADAM, "needs --lr-every"),
            (
                ScheduleSettings {
                    gamma: Some(0.5),
                    min_lr: Some(0.0),
                    ..settings(ScheduleKind::Constant)
                },
                ADAM,
                "--lr-schedule constant does not use --lr-min, --lr-gamma",
            ),
            (
                ScheduleSettings {
                    min_lr: Some(0.01),
                    ..settings(ScheduleKind::Cosine)
                },
                ADAM,
                "--lr-min must be at least 0 and below --lr (0.01)",
            ),
            (
                ScheduleSettings {
                    epochs: Some(0),
                    ..settings(ScheduleKind::Cosine)
                },
                ADAM,
                "--lr-epochs",
            ),
            (
                ScheduleSettings {
                    every: Some(2),
                    gamma: Some(1.5),
                    ..settings(ScheduleKind::Step)
                },
                ADAM,
                "--lr-gamma must be in (0, 1]",
            ),
            (
                settings(ScheduleKind::Exponential),
                ADAM,
                "needs --lr-gamma",
            ),
            (
                ScheduleSettings {
                    gamma: Some(-2.0),
                    ..settings(ScheduleKind::Exponential)
                },
                ADAM,
                "--lr-gamma must be positive and finite for exponential",
            ),
            (
                ScheduleSettings {
                    gamma: Some(1.1),
                    every: Some(2),
                    ..settings(ScheduleKind::Exponential)
                },
                ADAM,
                "--lr-schedule exponential does not use --lr-every",
            ),
            (
                ScheduleSettings {
                    pct_start: Some(1.0),
                    ..settings(ScheduleKind::OneCycle)
                },
                ADAM,
                "--lr-pct-start must be in (0, 1), not 1",
            ),
            (
                ScheduleSettings {
                    pct_start: Some(f64::NAN),
                    ..settings(ScheduleKind::OneCycle)
                },
                ADAM,
                "--lr-pct-start must be in (0, 1), not NaN",
            ),
            (
                ScheduleSettings {
                    min_lr: Some(0.01),
                    ..settings(ScheduleKind::OneCycle)
                },
                ADAM,
                "--lr-min must be at least 0 and below --lr (0.01)",
            ),
            (
                ScheduleSettings {
                    gamma: Some(0.5),
                    ..settings(ScheduleKind::OneCycle)
                },
                ADAM,
                "--lr-schedule one-cycle does not use --lr-gamma",
            ),
            (
                ScheduleSettings {
                    pct_start: Some(0.5),
                    ..settings(ScheduleKind::Cosine)
                },
                ADAM,
                "--lr-schedule cosine does not use --lr-pct-start",
            ),
            (settings(ScheduleKind::OneCycle), LBFGS, "L-BFGS"),
        ] {
            let e = s.resolve(&opt, 10).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn plateau_rate_counts_the_cuts_down_to_its_floor() {
        let s = LrSchedule::Plateau {
            gamma: 0.5,
            patience: 1,
            threshold: 0.0,
            min_lr: 0.1,
        };
        let cuts = [3, 6, 9, 12];
        let rates: Vec<f64> = (0..14).map(|e| s.rate(0.8, e, &cuts)).collect();
        let want = [
            0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1,
        ];
        assert_eq!(rates, want);
        assert_eq!(s.rate(0.8, 1000, &[]), 0.8);
    }

    #[test]
    fn plateau_cuts_after_more_than_patience_stale_epochs_until_the_floor() {
        let s = LrSchedule::Plateau {
            gamma: 0.5,
            patience: 1,
            threshold: 0.1,
            min_lr: 0.2,
        };
        let mut p = s.plateau(0.8).unwrap();
        // 10 → 9.5 is less than a 10% fall: stale, then 9.4 stale again:
        // the second stale epoch (2) cuts from 3. 8 improves on 10 by 20%.
        let losses = [10.0, 9.5, 9.4, 8.0, 7.9, 7.8, 7.7, 7.6, 7.5];
        let cuts: Vec<Option<u64>> = losses
            .iter()
            .enumerate()
            .map(|(e, &l)| p.observe(e, l))
            .collect();
        let c = |e| Some(e);
        assert_eq!(cuts, [None, None, c(3), None, None, c(6), None, None, None]);
        // At 0.8·0.5² = 0.2, the floor, a third cut would not lower the rate.
        assert_eq!(p.cuts(), [3, 6]);
        assert_eq!(p.room(), usize::MAX, "no cut can come at the floor");
        // Room: a cut needs patience + 1 = 2 stale epochs in a row.
        let mut p = s.plateau(0.8).unwrap();
        assert_eq!(p.room(), 2);
        p.observe(0, 10.0);
        assert_eq!(p.room(), 2, "an improvement");
        p.observe(1, 10.0);
        assert_eq!(p.room(), 1, "one stale epoch");
        assert_eq!(p.observe(2, 10.0), Some(3));
        assert_eq!(p.room(), 2, "the count restarts after a cut");
        // Not finite is never an improvement.
        let mut p = s.plateau(0.8).unwrap();
        assert_eq!(p.observe(0, f64::NAN), None);
        assert_eq!(p.observe(1, f64::NAN), Some(2));
        assert_eq!(LrSchedule::Constant.plateau(0.8), None);
    }

    /// At --lr-threshold 0 an improvement is a loss strictly below the
    /// best (torch's `a < best`): a loss that stays exactly where it is
    /// counts as stale, and cuts the rate.
    #[test]
    fn plateau_at_threshold_zero_cuts_on_an_unchanged_loss() {
        let s = ScheduleSettings {
            threshold: Some(0.0),
            patience: Some(1),
            gamma: Some(0.5),
            ..settings(ScheduleKind::Plateau)
        };
        let s = s.resolve(&ADAM, 10).unwrap();
        let mut p = s.plateau(0.8).unwrap();
        let cuts: Vec<Option<u64>> = [4.0, 2.0, 2.0, 2.0, 1.0]
            .iter()
            .enumerate()
            .map(|(e, &l)| p.observe(e, l))
            .collect();
        assert_eq!(cuts, [None, None, None, Some(4), None]);
    }

    /// The gammas at the ends of their ranges: step's (0, 1] takes 1 (a
    /// constant rate), exponential's (0, ∞) refuses 0 (a rate of 0 from
    /// epoch 1).
    #[test]
    fn gamma_ranges_include_and_exclude_their_ends() {
        let step = ScheduleSettings {
            every: Some(3),
            gamma: Some(1.0),
            ..settings(ScheduleKind::Step)
        };
        let step = step.resolve(&ADAM, 10).unwrap();
        assert_eq!(step.rate(0.8, 7, &[]), 0.8);
        let exponential = ScheduleSettings {
            gamma: Some(0.0),
            ..settings(ScheduleKind::Exponential)
        };
        let e = exponential.resolve(&ADAM, 10).unwrap_err().to_string();
        assert!(
            e.contains("--lr-gamma must be positive and finite for exponential, not 0"),
            "{e}"
        );
    }

    #[test]
    fn plateau_settings_resolve_and_refuse() {
        let s = settings(ScheduleKind::Plateau).resolve(&ADAM, 40).unwrap();
        assert_eq!(
            s,
            LrSchedule::Plateau {
                gamma: 0.1,
                patience: 10,
                threshold: 1e-4,
                min_lr: 0.0
            }
        );
        assert_eq!(
            s.describe(0.01).as_deref(),
            Some("plateau ×0.1 after 10 epochs without a fall of 1e-4, down to 0")
        );
        for (s, says) in [
            (
                ScheduleSettings {
                    gamma: Some(1.0),
                    ..settings(ScheduleKind::Plateau)
                },
                "--lr-gamma must be in (0, 1) for plateau",
            ),
            (
                ScheduleSettings {
                    threshold: Some(1.0),
                    ..settings(ScheduleKind::Plateau)
                },
                "--lr-threshold must be in [0, 1)",
            ),
            (
                ScheduleSettings {
                    min_lr: Some(0.5),
                    ..settings(ScheduleKind::Plateau)
                },
                "--lr-min must be at least 0 and below --lr",
            ),
            (
                ScheduleSettings {
                    patience: Some(3),
                    threshold: Some(0.1),
                    ..settings(ScheduleKind::Cosine)
                },
                "--lr-schedule cosine does not use --lr-patience, --lr-threshold",
            ),
        ] {
            let e = s.resolve(&ADAM, 10).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
