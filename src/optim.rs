//! Optimizers: how the full-batch gradient g of the loss becomes an update
//! of the parameters θ. The rules are torch.optim's, so a run can be checked
//! against PyTorch step for step; docs/optimizers.md states them.
//!
//! The first-order rules (gd, momentum, nesterov, adam, adamw) are one elementwise
//! step, [`step`], written once over f32 (the cpu backend) and f64 (the
//! reference); the GPU runs the same step in `shaders/update.wgsl`. L-BFGS
//! ([`lbfgs`]) drives any backend's loss-and-gradient pass from the host.

pub mod lbfgs;
pub mod range;
pub mod schedule;

pub use schedule::{LrSchedule, Rates, ScheduleKind, ScheduleSettings};

use std::ops::{Add, Div, Mul, Sub};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The optimizer families, as `--optimizer` names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// θ ← θ − α·g (the default where --lr, --batch-size or another
    /// first-order flag is given).
    #[default]
    Gd,
    /// v ← μ·v + g; θ ← θ − α·v (torch.optim.SGD with momentum).
    Momentum,
    /// v ← μ·v + g; θ ← θ − α·(g + μ·v) (SGD with nesterov=True).
    Nesterov,
    /// torch.optim.Adam without amsgrad.
    Adam,
    /// torch.optim.AdamW: Adam with decoupled weight decay, θ ← θ·(1 − α·λ) before each step.
    Adamw,
    /// Full-batch L-BFGS with a strong-Wolfe line search (the default
    /// where no first-order flag is given, but for a new run of 50,000
    /// training rows or more, 30 a parameter, on the cpu backend: adam in
    /// mini-batches).
    Lbfgs,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Gd => "gd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Lbfgs => "lbfgs",
        }
    }

    /// The learning rate the peers default to: 0.1 for the SGD family
    /// (this project's historical rate), 0.001 for Adam (torch, sklearn), 1
    /// for L-BFGS (torch).
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Gd | OptimizerKind::Momentum | OptimizerKind::Nesterov => 0.1,
            OptimizerKind::Adam | OptimizerKind::Adamw => 0.001,
            OptimizerKind::Lbfgs => 1.0,
        }
    }
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub const DEFAULT_MOMENTUM: f64 = 0.9;
pub const DEFAULT_BETA1: f64 = 0.9;
pub const DEFAULT_BETA2: f64 = 0.999;
pub const DEFAULT_EPS: f64 = 1e-8;
/// torch.optim.AdamW's default λ.
pub const DEFAULT_ADAMW_DECAY: f64 = 0.01;

/// The optimizers that take Adam's settings.
const ADAMS: &[OptimizerKind] = &[OptimizerKind::Adam, OptimizerKind::Adamw];
/// The rules with gradient clipping: all but L-BFGS.
const FIRST_ORDER: &[OptimizerKind] = &[
    OptimizerKind::Gd,
    OptimizerKind::Momentum,
    OptimizerKind::Nesterov,
    OptimizerKind::Adam,
    OptimizerKind::Adamw,
];
pub const DEFAULT_HISTORY_SIZE: usize = 10;
pub const DEFAULT_GTOL: f64 = 1e-7;

/// An optimizer and every setting it uses; the one owner of the learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Optimizer {
    Gd {
        lr: f64,
        /// λ of torch.optim's `weight_decay`: g + λ·θ replaces g in the
        /// rule (an L2 penalty λ/2·‖θ‖² on every parameter, biases
        /// included, left out of the reported loss); 0, the default, is
        /// none. The first-order rules all have it.
        #[serde(default)]
        weight_decay: f64,
        /// torch.nn.utils.clip_grad_norm_'s max_norm before each step: a
        /// gradient g (of the loss alone, before any weight decay) whose
        /// norm ‖g‖ is above c − 10⁻⁶ (the factor c/(‖g‖ + 10⁻⁶) below 1)
        /// becomes g·c/(‖g‖ + 10⁻⁶); 0, the default,
        /// is no clipping. The first-order rules all have it.
        #[serde(default)]
        max_grad_norm: f64,
    },
    Momentum {
        lr: f64,
        momentum: f64,
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        max_grad_norm: f64,
    },
    Nesterov {
        lr: f64,
        momentum: f64,
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        max_grad_norm: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
        /// AdamW (torch.optim.AdamW): the decay shrinks θ by the factor
        /// 1 − α·λ before each step (α the step's rate) instead of joining
        /// the gradient.
        #[serde(default)]
        decoupled: bool,
        #[serde(default)]
        max_grad_norm: f64,
    },
    Lbfgs {
        lr: f64,
        history_size: usize,
        gtol: f64,
        /// λ of an L2 penalty λ/2·‖θ‖² on every parameter, biases
        /// included, added to the function minimised (its gradient gains
        /// λ·θ, as the first-order rules' coupled decay) and left out of
        /// the reported loss; 0, the default, is none.
        #[serde(default)]
        weight_decay: f64,
    },
}

/// The optimizer's settings as the command line gives them: `None` takes
/// the default, and a setting the chosen optimizer does not use is an error.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Settings {
    pub kind: OptimizerKind,
    /// Whether no `--optimizer` named `kind`: the run's default chose it.
    pub defaulted: bool,
    pub lr: Option<f64>,
    pub momentum: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub eps: Option<f64>,
    pub history_size: Option<usize>,
    pub gtol: Option<f64>,
    pub weight_decay: Option<f64>,
    pub max_grad_norm: Option<f64>,
}

impl Settings {
    /// The optimizer these settings name, checked.
    pub fn resolve(&self) -> Result<Optimizer> {
        let kind = self.kind;
        let unused: Vec<_> = [
            (
                "--momentum",
                self.momentum.is_some(),
                [OptimizerKind::Momentum, OptimizerKind::Nesterov].as_slice(),
            ),
            ("--beta1", self.beta1.is_some(), ADAMS),
            ("--beta2", self.beta2.is_some(), ADAMS),
            ("--eps", self.eps.is_some(), ADAMS),
            (
                "--history-size",
                self.history_size.is_some(),
                &[OptimizerKind::Lbfgs],
            ),
            ("--gtol", self.gtol.is_some(), &[OptimizerKind::Lbfgs]),
            (
                "--clip-grad-norm",
                self.max_grad_norm.is_some(),
                FIRST_ORDER,
            ),
        ]
        .into_iter()
        .filter(|(_, given, users)| *given && !users.contains(&kind))
        .collect();
        if let Some((flag, _, users)) = unused.first().filter(|_| self.defaulted) {
            // Nothing named the optimizer the flag is refused by.
            let names: Vec<&str> = users.iter().map(|k| k.name()).collect();
            // Adam's own flags, where many rows would have chosen adam
            // (app::config's mini_batches_by_default).
            let many = match (kind, *users == ADAMS) {
                (OptimizerKind::Lbfgs, true) => "; where many rows choose adam in mini-batches, --optimizer adam --batch-size 200 --lr-schedule cosine --lr auto names that run",
                _ => "",
            };
            return Err(Error::Config(format!(
                "{flag} needs --optimizer {} (without --optimizer, this run trains with {kind}, which does not use it{many})",
                names.join(" or ")
            )));
        }
        if !unused.is_empty() {
            let flags: Vec<&str> = unused.iter().map(|(flag, _, _)| *flag).collect();
            return Err(Error::Config(format!(
                "--optimizer {kind} does not use {}",
                flags.join(", ")
            )));
        }
        let lr = self.lr.unwrap_or(kind.default_lr());
        let momentum = self.momentum.unwrap_or(DEFAULT_MOMENTUM);
        let weight_decay = self.weight_decay.unwrap_or(0.0);
        // 0 in the optimizer is no clipping; on the command line it would
        // be a gradient clipped to nothing.
        let max_grad_norm = match self.max_grad_norm {
            Some(c) if !(c.is_finite() && c > 0.0) => {
                return Err(Error::Config(format!(
                    "--clip-grad-norm must be {}, not {}",
                    positive(c),
                    short(c)
                )))
            }
            c => c.unwrap_or(0.0),
        };
        let opt = match kind {
            OptimizerKind::Gd => Optimizer::Gd {
                lr,
                weight_decay,
                max_grad_norm,
            },
            OptimizerKind::Momentum => Optimizer::Momentum {
                lr,
                momentum,
                weight_decay,
                max_grad_norm,
            },
            OptimizerKind::Nesterov => Optimizer::Nesterov {
                lr,
                momentum,
                weight_decay,
                max_grad_norm,
            },
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let decoupled = kind == OptimizerKind::Adamw;
                Optimizer::Adam {
                    lr,
                    beta1: self.beta1.unwrap_or(DEFAULT_BETA1),
                    beta2: self.beta2.unwrap_or(DEFAULT_BETA2),
                    eps: self.eps.unwrap_or(DEFAULT_EPS),
                    weight_decay: match decoupled {
                        true => self.weight_decay.unwrap_or(DEFAULT_ADAMW_DECAY),
                        false => weight_decay,
                    },
                    decoupled,
                    max_grad_norm,
                }
            }
            OptimizerKind::Lbfgs => Optimizer::Lbfgs {
                lr,
                history_size: self.history_size.unwrap_or(DEFAULT_HISTORY_SIZE),
                gtol: self.gtol.unwrap_or(DEFAULT_GTOL),
                weight_decay,
            },
        };
        opt.check()?;
        Ok(opt)
    }
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::gd(OptimizerKind::Gd.default_lr())
    }
}

impl Optimizer {
    /// Adam at `lr`, its other settings the defaults (β₁ 0.9, β₂ 0.999,
    /// ε 1e-8, no weight decay); [`Settings::resolve`] sets any of them.
    pub fn adam(lr: f64) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: DEFAULT_BETA1,
            beta2: DEFAULT_BETA2,
            eps: DEFAULT_EPS,
            weight_decay: 0.0,
            decoupled: false,
            max_grad_norm: 0.0,
        }
    }

    /// L-BFGS with its defaults (a first step of 1, a history of
    /// [`DEFAULT_HISTORY_SIZE`], `gtol` [`DEFAULT_GTOL`]), full batch; the
    /// backend it steps is wrapped in [`lbfgs::Lbfgs::new`].
    pub fn lbfgs() -> Optimizer {
        Optimizer::Lbfgs {
            lr: OptimizerKind::Lbfgs.default_lr(),
            history_size: DEFAULT_HISTORY_SIZE,
            gtol: DEFAULT_GTOL,
            weight_decay: 0.0,
        }
    }

    /// Plain gradient descent at `lr`.
    pub fn gd(lr: f64) -> Optimizer {
        Optimizer::Gd {
            lr,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
        }
    }

    /// AdamW's factor 1 − α·λ on θ before each step, at this optimizer's
    /// rate α; `None` for the rules whose decay joins the gradient.
    pub fn shrink(&self) -> Option<f64> {
        match *self {
            Optimizer::Adam {
                lr,
                weight_decay,
                decoupled: true,
                ..
            } => Some(1.0 - lr * weight_decay),
            _ => None,
        }
    }

    /// The λ that joins the gradient (g + λ·θ) in a first-order step:
    /// torch's `weight_decay`, except AdamW's, which [`Optimizer::shrink`]
    /// applies, and L-BFGS's, which its driver ([`lbfgs::Lbfgs`]) adds to
    /// the function it minimises (0 for both).
    pub fn coupled_decay(&self) -> f64 {
        match (self.shrink(), self) {
            (Some(_), _) | (_, Optimizer::Lbfgs { .. }) => 0.0,
            _ => self.weight_decay(),
        }
    }

    /// torch.optim's `weight_decay` λ; L-BFGS's is the L2 penalty's.
    pub fn weight_decay(&self) -> f64 {
        match *self {
            Optimizer::Gd { weight_decay, .. }
            | Optimizer::Momentum { weight_decay, .. }
            | Optimizer::Nesterov { weight_decay, .. }
            | Optimizer::Adam { weight_decay, .. }
            | Optimizer::Lbfgs { weight_decay, .. } => weight_decay,
        }
    }

    /// clip_grad_norm_'s max_norm c (0: no clipping, and always for L-BFGS).
    pub fn max_grad_norm(&self) -> f64 {
        match *self {
            Optimizer::Gd { max_grad_norm, .. }
            | Optimizer::Momentum { max_grad_norm, .. }
            | Optimizer::Nesterov { max_grad_norm, .. }
            | Optimizer::Adam { max_grad_norm, .. } => max_grad_norm,
            Optimizer::Lbfgs { .. } => 0.0,
        }
    }

    /// The same optimizer with clip_grad_norm_'s max_norm `c` (0: none).
    /// L-BFGS, which has no clipping, is returned as it is.
    pub fn with_max_grad_norm(&self, c: f64) -> Optimizer {
        let mut opt = *self;
        match &mut opt {
            Optimizer::Gd { max_grad_norm, .. }
            | Optimizer::Momentum { max_grad_norm, .. }
            | Optimizer::Nesterov { max_grad_norm, .. }
            | Optimizer::Adam { max_grad_norm, .. } => *max_grad_norm = c,
            Optimizer::Lbfgs { .. } => {}
        }
        opt
    }

    pub fn kind(&self) -> OptimizerKind {
        match self {
            Optimizer::Gd { .. } => OptimizerKind::Gd,
            Optimizer::Momentum { .. } => OptimizerKind::Momentum,
            Optimizer::Nesterov { .. } => OptimizerKind::Nesterov,
            Optimizer::Adam {
                decoupled: true, ..
            } => OptimizerKind::Adamw,
            Optimizer::Adam { .. } => OptimizerKind::Adam,
            Optimizer::Lbfgs { .. } => OptimizerKind::Lbfgs,
        }
    }

    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Gd { lr, .. }
            | Optimizer::Momentum { lr, .. }
            | Optimizer::Nesterov { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::Lbfgs { lr, .. } => lr,
        }
    }

    /// The same optimizer with the learning rate `lr`.
    pub fn with_lr(&self, lr: f64) -> Optimizer {
        let mut opt = *self;
        match &mut opt {
            Optimizer::Gd { lr: rate, .. }
            | Optimizer::Momentum { lr: rate, .. }
            | Optimizer::Nesterov { lr: rate, .. }
            | Optimizer::Adam { lr: rate, .. }
            | Optimizer::Lbfgs { lr: rate, .. } => *rate = lr,
        }
        opt
    }

    /// Refuses L-BFGS where a backend is asked for its per-epoch updates:
    /// L-BFGS has none ([`Backend::run`](crate::train::Backend::run) would
    /// take gradient steps at its rate), and drives the backend through
    /// [`lbfgs::Lbfgs`], which evaluates it as an objective.
    pub fn stepped(&self) -> Result<()> {
        match self {
            Optimizer::Lbfgs { .. } => Err(Error::Config(
                "L-BFGS makes no per-epoch update for a backend to run: wrap the backend in optim::lbfgs::Lbfgs::new(backend, &params, optimizer)?, which drives it".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses settings outside the rules' domains.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("--lr must be {}, not {}", positive(lr), short(lr)));
        }
        let decay = self.weight_decay();
        if !(decay.is_finite() && decay >= 0.0) {
            return bad(format!(
                "--weight-decay must be 0 or {}, not {}",
                positive(decay),
                short(decay)
            ));
        }
        let clip = self.max_grad_norm();
        if !(clip.is_finite() && clip >= 0.0) {
            return bad(format!(
                "--clip-grad-norm must be {}, not {}",
                positive(clip),
                short(clip)
            ));
        }
        // The f32 backends hold each setting as an f32, flushing values
        // below its smallest normal to 0: a positive setting must stay one.
        for (flag, v) in [
            ("--lr", lr),
            ("--weight-decay", decay),
            ("--clip-grad-norm", clip),
            (
                "--eps",
                if let Optimizer::Adam { eps, .. } = *self {
                    eps
                } else {
                    0.0
                },
            ),
        ] {
            // As the f32 backends hold it: rounded to nearest, so a value
            // within half a step past either end rounds onto it.
            if v > 0.0 && !(v as f32).is_normal() {
                let (min, max) = (f32::MIN_POSITIVE, f32::MAX);
                let (bound, becomes) = match v < min as f64 {
                    true => (
                        format!("below f32's least normal value, {min:e}"),
                        "0 (subnormals are flushed)",
                    ),
                    false => (format!("above f32's largest value, {max:e}"), "inf"),
                };
                // --weight-decay 0 is none; the others must be positive.
                let zero = if flag == "--weight-decay" {
                    "0, or "
                } else {
                    ""
                };
                return bad(format!(
                    "{flag} {v:e} is out of f32's range, in which the cpu and gpu backends hold it: it is {bound}, and would be {becomes} there; give {zero}a value from {min:e} to {max:e}"
                ));
            }
        }
        let unit = |flag: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                bad(format!("{flag} must be in [0, 1), not {}", short(v)))
            }
        };
        match *self {
            Optimizer::Gd { .. } => Ok(()),
            Optimizer::Momentum { momentum, .. } | Optimizer::Nesterov { momentum, .. } => {
                unit("--momentum", momentum)
            }
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => {
                unit("--beta1", beta1)?;
                unit("--beta2", beta2)?;
                if !(eps.is_finite() && eps > 0.0) {
                    return bad(format!(
                        "--eps must be {}, not {}",
                        positive(eps),
                        short(eps)
                    ));
                }
                Ok(())
            }
            Optimizer::Lbfgs {
                history_size, gtol, ..
            } => {
                if history_size == 0 {
                    return bad("--history-size must be at least 1".into());
                }
                if !(gtol.is_finite() && gtol >= 0.0) {
                    return bad(format!("--gtol must be 0 or more, not {}", short(gtol)));
                }
                Ok(())
            }
        }
    }

    /// Floats of first-order state per parameter: v for momentum and
    /// nesterov, m then v for adam; none for gd (and L-BFGS, whose history
    /// lives on the host).
    pub fn state_per_param(&self) -> usize {
        match self {
            Optimizer::Gd { .. } | Optimizer::Lbfgs { .. } => 0,
            Optimizer::Momentum { .. } | Optimizer::Nesterov { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    /// One line for summaries: the name and every setting.
    pub fn describe(&self) -> String {
        let decay = match self.weight_decay() {
            0.0 => String::new(),
            λ => format!(", weight decay {}", short(λ)),
        };
        let clip = match self.max_grad_norm() {
            0.0 => String::new(),
            c => format!(", gradient norm clipped at {}", short(c)),
        };
        self.describe_rule() + &decay + &clip
    }

    fn describe_rule(&self) -> String {
        let n = short;
        match *self {
            Optimizer::Gd { lr, .. } => format!("gd, lr {}", n(lr)),
            Optimizer::Momentum { lr, momentum, .. } => {
                format!("momentum {}, lr {}", n(momentum), n(lr))
            }
            Optimizer::Nesterov { lr, momentum, .. } => {
                format!("nesterov {}, lr {}", n(momentum), n(lr))
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                decoupled,
                ..
            } => format!(
                "{}, lr {}, beta1 {}, beta2 {}, eps {}",
                if decoupled { "adamw" } else { "adam" },
                n(lr),
                n(beta1),
                n(beta2),
                n(eps)
            ),
            Optimizer::Lbfgs {
                lr,
                history_size,
                gtol,
                ..
            } => format!(
                "lbfgs, lr {}, history size {history_size}, gtol {}",
                n(lr),
                n(gtol)
            ),
        }
    }

    /// Adam's per-step factors for step `t` (counted from 1), in f64:
    /// (α / (1 − β1ᵗ), √(1 − β2ᵗ)), as torch computes its step size and
    /// denominator. (1, 1) for the other rules.
    pub fn corrections(&self, t: u64) -> (f64, f64) {
        match *self {
            Optimizer::Adam {
                lr, beta1, beta2, ..
            } => {
                let t = t as f64;
                (lr / (1.0 - beta1.powf(t)), (1.0 - beta2.powf(t)).sqrt())
            }
            _ => (1.0, 1.0),
        }
    }
}

/// What a refused positive setting `v` must be: where it is infinite,
/// with the word it lacks.
fn positive(v: f64) -> &'static str {
    match v.is_infinite() {
        true => "a finite positive number",
        false => "a positive number",
    }
}

/// [`short`] of an f32 in the fewest digits that read back as it
/// (0.9998339, not 0.999833881855011; -2.57573e38, not 39 digits).
pub fn short32(x: f32) -> String {
    short(x.to_string().parse().unwrap_or(f64::from(x)))
}

/// A setting for summaries and messages: small ones (ε, gtol) read better
/// as 1e-8 than 0.00000001, and large ones as 1e30 than 31 digits.
pub fn short(x: f64) -> String {
    let written = |x: f64| match x != 0.0 && !(1e-3..1e6).contains(&x.abs()) {
        true => format!("{x:e}"),
        false => format!("{x}"),
    };
    let text = written(x);
    // A value computed (a rate cut each epoch) reads without its last
    // digits' float noise, 3.56e-7 rather than 3.5599999999999996e-7: to
    // 15 significant digits, which keep every value typed with fewer
    // apart from its neighbours (1.0000000000001 is not 1).
    let mantissa = text.split('e').next().unwrap_or_default();
    let digits = mantissa.trim_start_matches(['-', '0', '.']).chars();
    match digits.filter(char::is_ascii_digit).count() > 15 {
        true => written(format!("{x:.14e}").parse().unwrap_or(x)),
        false => text,
    }
}

/// The floats the update rules run in: f32 on the cpu backend (as on the
/// GPU), f64 in the reference.
pub trait Real:
    Copy + PartialEq + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    fn of(v: f64) -> Self;
    fn sqrt(self) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn of(v: f64) -> f64 {
        v
    }
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// A first-order optimizer's state: the steps taken and the per-parameter
/// buffers (`state_per_param` blocks of the parameter count: v, or m then v).
#[derive(Clone, Debug, PartialEq)]
pub struct State<T> {
    pub steps: u64,
    pub buf: Vec<T>,
}

impl<T: Real> State<T> {
    /// Zero state for `params` parameters.
    pub fn new(opt: &Optimizer, params: usize) -> State<T> {
        State {
            steps: 0,
            buf: vec![T::of(0.0); opt.state_per_param() * params],
        }
    }

    /// As saved in checkpoints.
    pub fn export(&self, opt: &Optimizer) -> Saved {
        let p = self.buf.len() / opt.state_per_param().max(1);
        let names: &[&str] = match opt.state_per_param() {
            1 => &["v"],
            2 => &["m", "v"],
            _ => &[],
        };
        Saved {
            steps: self.steps,
            tensors: names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let values = self.buf[i * p..(i + 1) * p].iter().map(|v| v.to_f64());
                    (name.to_string(), values.collect())
                })
                .collect(),
        }
    }

    /// Loads a checkpoint's state, checking its shape.
    pub fn import(&mut self, opt: &Optimizer, saved: &Saved) -> Result<()> {
        let fresh = self.export(opt);
        let shapes = |s: &Saved| {
            s.tensors
                .iter()
                .map(|(n, v)| (n.clone(), v.len()))
                .collect::<Vec<_>>()
        };
        // As a message lists them: "m (20 values), v (20 values)".
        let listed = |s: &Saved| match s.tensors.is_empty() {
            true => "none".to_string(),
            false => (shapes(s).iter())
                .map(|(n, len)| format!("{n} ({})", crate::units::count(*len, "value")))
                .collect::<Vec<_>>()
                .join(", "),
        };
        if shapes(&fresh) != shapes(saved) {
            return Err(Error::Config(format!(
                "the checkpoint's {} state has tensors {}; expected {}",
                opt.kind(),
                listed(saved),
                listed(&fresh)
            )));
        }
        // Adam's second moments are averages of squares: none is below 0.
        let second = (saved.tensors.iter())
            .filter(|(n, _)| opt.state_per_param() == 2 && n == "v")
            .flat_map(|(_, v)| v.iter().enumerate())
            .find(|(_, &x)| x < 0.0);
        if let Some((i, x)) = second {
            return Err(Error::Config(format!(
                "the checkpoint's {} state has v[{i}] = {}, below 0, where v averages squared gradients: the file is damaged",
                opt.kind(),
                short(*x)
            )));
        }
        self.steps = saved.steps;
        self.buf = saved
            .tensors
            .iter()
            .flat_map(|(_, v)| v.iter().map(|&x| T::of(x)))
            .collect();
        Ok(())
    }
}

/// An optimizer's state as a checkpoint holds it: a step count and named
/// f64 vectors (f32 state converts exactly).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Saved {
    pub steps: u64,
    pub tensors: Vec<(String, Vec<f64>)>,
}

/// One first-order step over the whole parameter block: θ from its gradient
/// `g` and the state, which it advances. The arithmetic runs in `T` and the
/// result is stored in f32 (as the GPU's `reduce_*` kernels do in f32).
///
/// - gd: θ ← θ − α·g
/// - momentum: v ← μ·v + g; θ ← θ − α·v
/// - nesterov: v ← μ·v + g; θ ← θ − α·(g + μ·v)
/// - adam: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
///   θ ← θ − (α/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + ε)
///
/// With weight decay λ > 0 each rule takes g + λ·θ for g (θ before the
/// step, widened from f32 as the rule reads it); AdamW's decoupled decay
/// instead takes θ·(1 − α·λ) for θ in Adam's step (torch.optim.AdamW).
///
/// With a max_grad_norm c > 0, g is first clipped as
/// torch.nn.utils.clip_grad_norm_ clips it: g·f with f = [`clip_factor`],
/// where f < 1 (g itself otherwise, as torch's multiplication by 1 leaves
/// it), then decayed.
pub fn step<T: Real>(opt: &Optimizer, theta: &mut [f32], g: &[T], state: &mut State<T>) {
    let f = match opt.max_grad_norm() {
        0.0 => 1.0,
        c => clip_factor(c, g),
    };
    if f < 1.0 {
        let f = T::of(f);
        return decay_and_apply(opt, theta, g, state, move |gi| gi * f);
    }
    decay_and_apply(opt, theta, g, state, |gi| gi)
}

/// clip_grad_norm_'s factor on a gradient `g` for max_norm `c`:
/// min(1, c / (‖g‖ + 10⁻⁶)), with ‖g‖ summed in f64 whatever `T` is. NaN
/// where g holds a NaN, and 0 where it holds an infinity (whose product
/// with 0 is NaN), as torch's are; either way the run then stops on its
/// loss.
pub fn clip_factor<T: Real>(c: f64, g: &[T]) -> f64 {
    let norm = g.iter().map(|&gi| gi.to_f64().powi(2)).sum::<f64>().sqrt();
    (c / (norm + 1e-6)).min(1.0)
}

/// [`step`] after the clipping factor is known: each gᵢ as `clip` gives
/// it, then the decay and the rule.
#[inline(always)]
fn decay_and_apply<T: Real>(
    opt: &Optimizer,
    theta: &mut [f32],
    g: &[T],
    state: &mut State<T>,
    clip: impl Fn(T) -> T,
) {
    match (opt.weight_decay(), opt.shrink()) {
        (0.0, _) => apply(opt, theta, g, state, |gi, _| clip(gi), None),
        (_, Some(shrink)) => apply(opt, theta, g, state, |gi, _| clip(gi), Some(T::of(shrink))),
        (decay, None) => {
            let d = T::of(decay);
            apply(
                opt,
                theta,
                g,
                state,
                |gi, x| clip(gi) + d * T::of(x as f64),
                None,
            );
        }
    }
}

/// [`step`]'s rules, each reading the gradient of a parameter θᵢ = x as
/// `grad(gᵢ, x)`; Adam's scales θ by `shrink` before its step, where given.
#[inline(always)]
fn apply<T: Real>(
    opt: &Optimizer,
    theta: &mut [f32],
    g: &[T],
    state: &mut State<T>,
    grad: impl Fn(T, f32) -> T,
    shrink: Option<T>,
) {
    state.steps += 1;
    let p = theta.len();
    let of = T::of;
    let at = |x: f32| of(x as f64);
    match *opt {
        Optimizer::Gd { lr, .. } | Optimizer::Lbfgs { lr, .. } => {
            for (x, &gi) in theta.iter_mut().zip(g) {
                let gi = grad(gi, *x);
                *x = (at(*x) - of(lr) * gi).to_f64() as f32;
            }
        }
        Optimizer::Momentum { lr, momentum, .. } => {
            for ((x, &gi), v) in theta.iter_mut().zip(g).zip(&mut state.buf) {
                let gi = grad(gi, *x);
                *v = of(momentum) * *v + gi;
                *x = (at(*x) - of(lr) * *v).to_f64() as f32;
            }
        }
        Optimizer::Nesterov { lr, momentum, .. } => {
            for ((x, &gi), v) in theta.iter_mut().zip(g).zip(&mut state.buf) {
                let gi = grad(gi, *x);
                *v = of(momentum) * *v + gi;
                *x = (at(*x) - of(lr) * (gi + of(momentum) * *v)).to_f64() as f32;
            }
        }
        Optimizer::Adam {
            beta1, beta2, eps, ..
        } => {
            let (step_size, root2) = opt.corrections(state.steps);
            let (step_size, root2) = (of(step_size), of(root2));
            let (m, v) = state.buf.split_at_mut(p);
            // Zipped, not indexed: no bounds checks, so the loop vectorises
            // (the same IEEE operations per element, so the same bits).
            for (((x, &gi), mi), vi) in theta.iter_mut().zip(g).zip(m).zip(v) {
                let gi = grad(gi, *x);
                *mi = of(beta1) * *mi + of(1.0 - beta1) * gi;
                *vi = of(beta2) * *vi + of(1.0 - beta2) * gi * gi;
                let denom = vi.sqrt() / root2 + of(eps);
                let kept = match shrink {
                    Some(c) => at(*x) * c,
                    None => at(*x),
                };
                *x = (kept - step_size * *mi / denom).to_f64() as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings read as given, in e notation far from 1, and a computed
    /// value's float noise rounded off; never hundreds of digits.
    #[test]
    fn short_settings_are_short() {
        for (x, want) in [
            (0.1, "0.1"),
            (1e-8, "1e-8"),
            (123456.0, "123456"),
            (1e300, "1e300"),
            (-1e300, "-1e300"),
            (0.0012345678, "0.0012345678"),
            (3.5599999999999996e-7, "3.56e-7"),
            (0.1 + 0.2, "0.3"),
            (1.0000000000001, "1.0000000000001"),
            (f64::from(1e-40f32), "9.99994610111476e-41"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(short(x), want, "{x:?}");
        }
        // An f32 in its own fewest digits, not f64's of the same value.
        for (x, want) in [(0.9998339f32, "0.9998339"), (-2.57573e38, "-2.57573e38")] {
            assert_eq!(short32(x), want, "{x:?}");
        }
    }

    #[test]
    fn unused_flags_and_bad_values_are_refused() {
        let s = Settings {
            kind: OptimizerKind::Adam,
            momentum: Some(0.5),
            ..Settings::default()
        };
        let e = s.resolve().unwrap_err().to_string();
        assert!(
            e.contains("--optimizer adam does not use --momentum"),
            "{e}"
        );
        // Where no --optimizer named it, the error names the ones to name.
        let defaulted = Settings {
            kind: OptimizerKind::Lbfgs,
            defaulted: true,
            beta1: Some(0.5),
            ..Settings::default()
        };
        let e = defaulted.resolve().unwrap_err().to_string();
        assert_eq!(e, "--beta1 needs --optimizer adam or adamw (without --optimizer, this run trains with lbfgs, which does not use it; where many rows choose adam in mini-batches, --optimizer adam --batch-size 200 --lr-schedule cosine --lr auto names that run)");
        for (s, flag) in [
            (
                Settings {
                    kind: OptimizerKind::Momentum,
                    momentum: Some(1.0),
                    ..Settings::default()
                },
                "--momentum",
            ),
            (
                Settings {
                    kind: OptimizerKind::Adam,
                    beta2: Some(-0.1),
                    ..Settings::default()
                },
                "--beta2",
            ),
            (
                Settings {
                    kind: OptimizerKind::Adam,
                    eps: Some(0.0),
                    ..Settings::default()
                },
                "--eps",
            ),
            (
                Settings {
                    kind: OptimizerKind::Lbfgs,
                    history_size: Some(0),
                    ..Settings::default()
                },
                "--history-size",
            ),
            (
                Settings {
                    kind: OptimizerKind::Gd,
                    lr: Some(f64::NAN),
                    ..Settings::default()
                },
                "--lr",
            ),
        ] {
            let e = s.resolve().unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
    }

    /// --clip-grad-norm: a positive number for the first-order rules; L-BFGS
    /// has none. A run's JSON without the field (made before it) reads as
    /// no clipping.
    #[test]
    fn clipping_takes_a_positive_norm_and_a_first_order_rule() {
        let clip = |kind, c| {
            Settings {
                kind,
                max_grad_norm: Some(c),
                ..Settings::default()
            }
            .resolve()
        };
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = clip(OptimizerKind::Adam, c).unwrap_err().to_string();
            let finite = if c.is_infinite() { "finite " } else { "" };
            let says = format!("--clip-grad-norm must be a {finite}positive number");
            assert!(e.contains(&says), "{e}");
        }
        let e = clip(OptimizerKind::Lbfgs, 1.0).unwrap_err().to_string();
        assert!(
            e.contains("--optimizer lbfgs does not use --clip-grad-norm"),
            "{e}"
        );
        let opt = clip(OptimizerKind::Adamw, 2.5).unwrap();
        assert_eq!(opt.max_grad_norm(), 2.5);
        assert!(
            opt.describe().ends_with(", gradient norm clipped at 2.5"),
            "{}",
            opt.describe()
        );
        let old: Optimizer = serde_json::from_str(r#"{"name": "gd", "lr": 0.1}"#).unwrap();
        assert_eq!(old, Optimizer::gd(0.1));
        assert_eq!(Optimizer::gd(0.1).max_grad_norm(), 0.0);
    }

    #[test]
    fn defaults_follow_the_peers() {
        let lr = |kind| {
            Settings {
                kind,
                ..Settings::default()
            }
            .resolve()
            .unwrap()
            .lr()
        };
        assert_eq!(lr(OptimizerKind::Gd), 0.1);
        assert_eq!(lr(OptimizerKind::Adam), 0.001);
        assert_eq!(lr(OptimizerKind::Lbfgs), 1.0);
    }

    #[test]
    fn adam_first_step_moves_each_weight_by_about_lr() {
        // With m̂ = g and v̂ = g², the first step is α·g/(|g| + ε).
        let opt = Optimizer::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            max_grad_norm: 0.0,
        };
        let mut theta = [1.0f32, -2.0];
        let mut state = State::<f64>::new(&opt, 2);
        step(&opt, &mut theta, &[3.0, -0.5], &mut state);
        assert!((theta[0] - 0.99).abs() < 1e-6, "{theta:?}");
        assert!((theta[1] + 1.99).abs() < 1e-6, "{theta:?}");
        assert_eq!(state.steps, 1);
    }

    #[test]
    fn state_round_trips_through_its_saved_form() {
        let opt = Optimizer::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            max_grad_norm: 0.0,
        };
        let mut s = State::<f32>::new(&opt, 3);
        s.buf = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        s.steps = 7;
        let saved = s.export(&opt);
        assert_eq!(saved.tensors[1], ("v".to_string(), vec![4.0, 5.0, 6.0]));
        let mut t = State::<f32>::new(&opt, 3);
        t.import(&opt, &saved).unwrap();
        assert_eq!(t, s);
        let mut wrong = State::<f32>::new(&opt, 4);
        let err = wrong.import(&opt, &saved).unwrap_err().to_string();
        let says = "the checkpoint's adam state has tensors m (3 values), v (3 values); expected m (4 values), v (4 values)";
        assert_eq!(err, says);
        // A second moment below 0 is no average of squares.
        let mut negative = saved.clone();
        negative.tensors[1].1[2] = -1.0;
        let err = t.import(&opt, &negative).unwrap_err().to_string();
        assert!(err.contains("state has v[2] = -1, below 0"), "{err}");
        // Where m is below 0, nothing is wrong.
        negative.tensors = vec![saved.tensors[1].clone(), saved.tensors[1].clone()];
        negative.tensors[0].0 = "m".into();
        negative.tensors[0].1[0] = -1.0;
        t.import(&opt, &negative).unwrap();
    }

    /// Where each rule's weight decay goes, as the GPU's update kernels
    /// read it: AdamW's shrinks θ by 1 − α·λ and never joins the gradient;
    /// L-BFGS's joins its objective, not a first-order step; every other
    /// rule's joins the gradient, and shrinks nothing.
    #[test]
    fn weight_decay_joins_the_gradient_or_shrinks_theta_by_rule() {
        let lambda = 0.25;
        let adamw = Optimizer::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: lambda,
            decoupled: true,
            max_grad_norm: 0.0,
        };
        assert_eq!(adamw.shrink(), Some(1.0 - 0.1 * lambda));
        assert_eq!(adamw.coupled_decay(), 0.0);
        assert_eq!(adamw.weight_decay(), lambda);
        let lbfgs = Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 10,
            gtol: 1e-7,
            weight_decay: lambda,
        };
        assert_eq!((lbfgs.shrink(), lbfgs.coupled_decay()), (None, 0.0));
        let coupled = [
            Optimizer::Gd {
                lr: 0.1,
                weight_decay: lambda,
                max_grad_norm: 0.0,
            },
            Optimizer::Momentum {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: lambda,
                max_grad_norm: 0.0,
            },
            Optimizer::Nesterov {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: lambda,
                max_grad_norm: 0.0,
            },
            Optimizer::Adam {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: lambda,
                decoupled: false,
                max_grad_norm: 0.0,
            },
        ];
        for opt in coupled {
            assert_eq!(
                (opt.shrink(), opt.coupled_decay()),
                (None, lambda),
                "{opt:?}"
            );
        }
    }

    /// What a flag left out resolves to: torch's defaults (μ 0.9; β1 0.9,
    /// β2 0.999, ε 1e-8; AdamW's λ 0.01 and Adam's 0) and the peers' rates
    /// (0.1 for the SGD family, 0.001 for Adam and AdamW).
    #[test]
    fn settings_left_out_take_the_documented_defaults() {
        let resolve = |kind| {
            Settings {
                kind,
                ..Settings::default()
            }
            .resolve()
            .unwrap()
        };
        for kind in [OptimizerKind::Momentum, OptimizerKind::Nesterov] {
            let opt = resolve(kind);
            assert_eq!(opt.lr(), 0.1, "{kind}");
            let (Optimizer::Momentum { momentum, .. } | Optimizer::Nesterov { momentum, .. }) = opt
            else {
                panic!("{opt:?}");
            };
            assert_eq!(momentum, 0.9, "{kind}");
        }
        for (kind, decay) in [(OptimizerKind::Adam, 0.0), (OptimizerKind::Adamw, 0.01)] {
            let opt = resolve(kind);
            assert_eq!(
                opt,
                Optimizer::Adam {
                    lr: 0.001,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: decay,
                    decoupled: kind == OptimizerKind::Adamw,
                    max_grad_norm: 0.0,
                },
                "{kind}"
            );
        }
    }

    /// A setting the f32 backends would flush to 0 or round to infinity is
    /// refused, naming the flag; the smallest normal f32 is accepted.
    #[test]
    fn settings_outside_f32s_range_are_refused() {
        let tiny = f64::from(f32::MIN_POSITIVE) / 4.0;
        for (s, flag) in [
            (
                Settings {
                    kind: OptimizerKind::Gd,
                    lr: Some(tiny),
                    ..Settings::default()
                },
                "--lr",
            ),
            (
                Settings {
                    kind: OptimizerKind::Adam,
                    eps: Some(tiny),
                    ..Settings::default()
                },
                "--eps",
            ),
            (
                Settings {
                    kind: OptimizerKind::Momentum,
                    weight_decay: Some(1e39),
                    ..Settings::default()
                },
                "--weight-decay",
            ),
        ] {
            let e = s.resolve().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{flag} ")) && e.contains("out of f32's range"),
                "{e}"
            );
        }
        let normal = Settings {
            kind: OptimizerKind::Gd,
            lr: Some(f64::from(f32::MIN_POSITIVE)),
            ..Settings::default()
        };
        assert!(normal.resolve().is_ok());
    }
}
