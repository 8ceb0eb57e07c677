//! Full-batch L-BFGS on the host, over any backend's loss-and-gradient pass.
//!
//! Each iteration takes the two-loop direction from the last `history_size`
//! pairs (s, y), then a line search for a step satisfying the strong Wolfe
//! conditions (c1 = 1e-4, c2 = 0.9, as torch.optim.LBFGS and scipy use):
//! bracketing, then zooming with safeguarded cubic interpolation; where it
//! runs out first, its lowest trial that met the first condition and
//! lowered f by more than [`FALLBACK_GAIN`] of it. The first trial step is lr·min(1, 1/‖g‖₁) on the first
//! iteration and lr after, as in torch. A pair is kept only when yᵀs > 1e-10.
//!
//! The direction, the pairs and the line search are f64; the parameters the
//! backend evaluates are the f32 block x + t·d rounded, and s is the change
//! of that block, so the pairs describe the points really evaluated.
//!
//! With weight decay λ the function minimised is L + λ/2·‖θ‖² (every
//! parameter, biases included, as the first-order rules' decay), with
//! gradient ∂L/∂θ + λ·θ, both in f64 on the host; the loss reported is L
//! alone.
//!
//! The iteration stops, as a stop reason and not an error, when the
//! gradient's max-norm is at most `gtol`, or when the line search finds no
//! step lowering f enough within [`MAX_LINE_EVALS`] evaluations (in f32
//! near a minimum, the points no longer differ enough to make progress).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::Result;
use crate::optim::{Optimizer, Saved};
use crate::train::{Backend, StopReason, SNAPSHOT_SLOTS};

/// Sufficient decrease: f(x + t·d) ≤ f(x) + C1·t·gᵀd.
pub const C1: f64 = 1e-4;
/// Curvature: |g(x + t·d)ᵀd| ≤ C2·|gᵀd|.
pub const C2: f64 = 0.9;
/// Loss-and-gradient passes one line search may take.
pub const MAX_LINE_EVALS: usize = 25;

/// A backend's full-batch loss and gradient at any parameters: what L-BFGS
/// needs of it.
pub trait Objective {
    /// One line naming the backend and the device it runs on.
    fn describe(&self) -> String;

    /// The length of the parameter block it evaluates.
    fn params_len(&self) -> usize;

    /// How far, relative to the loss, rounding may move the losses it
    /// returns: 0 (the default) for a loss summed in f64, about f32's
    /// precision for one summed in f32 on a device. The line search
    /// forgives its cubic interpolation that much.
    fn loss_rounding(&self) -> f64 {
        0.0
    }

    /// L(params), with ∂L/∂θ written into `grad` (the block's length).
    fn evaluate(&mut self, params: &[f32], grad: &mut [f64]) -> Result<f64>;
}

/// One accepted line-search step, for tests of the Wolfe conditions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineStep {
    pub t: f64,
    /// f and gᵀd at the start of the step, and at its end.
    pub f0: f64,
    pub gtd0: f64,
    pub f1: f64,
    pub gtd1: f64,
    /// Whether it meets the strong Wolfe conditions; otherwise it is the
    /// lowest trial of a search that ran out, which decreased f enough.
    pub wolfe: bool,
}

/// A line search's step: t, the point and the function there, and whether
/// it meets the strong Wolfe conditions (else sufficient decrease alone).
type Found = (f64, Vec<f32>, At, bool);

/// A curvature pair (s, y) and 1/yᵀs.
type Pair = (Vec<f64>, Vec<f64>, f64);

/// The function minimised at a point: f = L + λ/2·‖θ‖², its gradient, and
/// the loss L alone, which is what the run reports.
#[derive(Clone, Debug)]
struct At {
    f: f64,
    g: Vec<f64>,
    loss: f64,
}

/// Everything an iteration depends on: what a snapshot keeps.
#[derive(Clone, Debug)]
struct Point {
    x: Vec<f32>,
    /// The function and gradient at `x`, once evaluated.
    at: Option<At>,
    /// (s, y, 1/yᵀs), oldest first. Shared, never changed once made, so
    /// the snapshot the training loop takes every iteration copies
    /// pointers, not 2·m·p floats.
    pairs: VecDeque<Arc<Pair>>,
    iterations: u64,
}

/// An [`Objective`] driven by L-BFGS, as a training [`Backend`]: one
/// `run` epoch is one accepted iteration.
pub struct Lbfgs<O> {
    obj: O,
    opt: Optimizer,
    lr: f64,
    history_size: usize,
    gtol: f64,
    weight_decay: f64,
    now: Point,
    saved: [Option<Point>; SNAPSHOT_SLOTS],
    evaluations: usize,
    stopped: Option<StopReason>,
    steps: Vec<LineStep>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The minimiser of the cubic through (t1, f1, g1) and (t2, f2, g2),
/// clamped into [lo, hi]; the middle of [lo, hi] where it has none.
///
/// A discriminant d2² a hair below 0 (by less than [`CUBIC_SLACK`] of its
/// terms, and less than the losses' own `rounding`, relative, could move
/// it) is taken as 0, the limit the minimiser tends to: it is rounding,
/// and a loss read back in f32 (the GPU's) can put it either side of 0
/// where the f64 loss of the CPU backends does not, and without this the
/// two would take steps of different lengths from the same point.
fn cubic_min(a: (f64, f64, f64), b: (f64, f64, f64), lo: f64, hi: f64, rounding: f64) -> f64 {
    let ((t1, f1, g1), (t2, f2, g2)) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (t1 - t2);
    let d2sq = d1 * d1 - g1 * g2;
    // f1 − f2 rounded by up to rounding·(|f1| + |f2|) moves d1 by `shake`,
    // and d2² by about 2·|d1|·shake.
    let shake = 3.0 * rounding * (f1.abs() + f2.abs()) / (t2 - t1).abs();
    if d2sq >= -CUBIC_SLACK * (d1 * d1 + (g1 * g2).abs()) - 2.0 * d1.abs() * shake {
        let d2 = d2sq.max(0.0).sqrt();
        let t = t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2));
        if t.is_finite() {
            return t.clamp(lo, hi);
        }
    }
    (lo + hi) / 2.0
}

/// The least fall of f, relative, that a line search which ran out takes
/// its lowest trial for: less is within f32's rounding of the network's
/// arithmetic, and taking it went on for 200 iterations of 9 passes each
/// where the stall was found in 26, with the loss unchanged to 7 digits
/// (features near 1e6, not standardized); the GPU's run through a layer
/// of one unit fell 4.4e-5 at such a step.
pub const FALLBACK_GAIN: f64 = 1e-6;

/// The relative rounding [`cubic_min`] forgives in its discriminant.
const CUBIC_SLACK: f64 = 1e-4;

/// About the bytes L-BFGS holds on the host for `params` parameters with
/// the settings of `opt`, over a run of `epochs` iterations: the pairs
/// (s, y) in f64 (`history_size` of them at most, one per iteration), and
/// the points, gradients and directions of an iteration, its line search
/// and the snapshots (a point and its gradient each: about a dozen blocks
/// of f64). `None` on overflow.
pub fn bytes_needed(params: usize, opt: &Optimizer, epochs: usize) -> Option<u64> {
    let history_size = match *opt {
        Optimizer::Lbfgs { history_size, .. } => history_size,
        _ => crate::optim::DEFAULT_HISTORY_SIZE,
    };
    let pairs = history_size.min(epochs);
    crate::memory::product(&[pairs.checked_mul(2)?.checked_add(12)?, params, 8])
}

impl<O: Objective> Lbfgs<O> {
    /// L-BFGS from `params` with the settings of `opt` (an
    /// [`Optimizer::Lbfgs`]; other optimizers are taken with the defaults).
    /// An error where `params` is not as long as the block `obj` evaluates
    /// (the model's `params`), or where `opt`'s settings are out of range.
    pub fn new(obj: O, params: &[f32], opt: Optimizer) -> Result<Lbfgs<O>> {
        if params.len() != obj.params_len() {
            return Err(crate::Error::Config(format!(
                "L-BFGS was given {} for a backend of {} (the model's parameter block)",
                crate::units::count(params.len(), "parameter"),
                obj.params_len()
            )));
        }
        if let Optimizer::Lbfgs { .. } = opt {
            opt.check()?;
        }
        let (history_size, gtol, weight_decay) = match opt {
            Optimizer::Lbfgs {
                history_size,
                gtol,
                weight_decay,
                ..
            } => (history_size, gtol, weight_decay),
            _ => (
                crate::optim::DEFAULT_HISTORY_SIZE,
                crate::optim::DEFAULT_GTOL,
                0.0,
            ),
        };
        Ok(Lbfgs {
            obj,
            opt,
            lr: opt.lr(),
            history_size,
            gtol,
            weight_decay,
            now: Point {
                x: params.to_vec(),
                at: None,
                pairs: VecDeque::new(),
                iterations: 0,
            },
            saved: [None, None, None],
            evaluations: 0,
            stopped: None,
            steps: Vec::new(),
        })
    }

    /// The accepted steps of this backend's iterations, in order (reruns
    /// after a restore included).
    pub fn steps(&self) -> &[LineStep] {
        &self.steps
    }

    fn evaluate(&mut self, x: &[f32]) -> Result<At> {
        let mut g = vec![0.0; x.len()];
        let loss = self.obj.evaluate(x, &mut g)?;
        self.evaluations += 1;
        let mut f = loss;
        if self.weight_decay != 0.0 {
            let lambda = self.weight_decay;
            let mut squares = 0.0;
            for (gi, &xi) in g.iter_mut().zip(x) {
                let xi = xi as f64;
                squares += xi * xi;
                *gi += lambda * xi;
            }
            f += lambda / 2.0 * squares;
        }
        Ok(At { f, g, loss })
    }

    /// The function and gradient at the current point.
    fn current(&mut self) -> Result<At> {
        if let Some(at) = &self.now.at {
            return Ok(at.clone());
        }
        let x = self.now.x.clone();
        let at = self.evaluate(&x)?;
        self.now.at = Some(at.clone());
        Ok(at)
    }

    /// −H·g by the two-loop recursion over the stored pairs.
    fn direction(&self, g: &[f64]) -> Vec<f64> {
        let mut q: Vec<f64> = g.iter().map(|v| -v).collect();
        let pairs = &self.now.pairs;
        let mut alpha = vec![0.0; pairs.len()];
        for (i, (s, y, rho)) in pairs.iter().map(|p| &**p).enumerate().rev() {
            alpha[i] = rho * dot(s, &q);
            for (qj, yj) in q.iter_mut().zip(y) {
                *qj -= alpha[i] * yj;
            }
        }
        // H₀ = (yᵀs / yᵀy)·I from the newest pair.
        if let Some((_, y, rho)) = pairs.back().map(|p| &**p) {
            let h = 1.0 / (rho * dot(y, y));
            q.iter_mut().for_each(|v| *v *= h);
        }
        for (i, (s, y, rho)) in pairs.iter().map(|p| &**p).enumerate() {
            let beta = rho * dot(y, &q);
            for (qj, sj) in q.iter_mut().zip(s) {
                *qj += (alpha[i] - beta) * sj;
            }
        }
        q
    }

    fn moved(x: &[f32], d: &[f64], t: f64) -> Vec<f32> {
        x.iter()
            .zip(d)
            .map(|(&xi, &di)| (xi as f64 + t * di) as f32)
            .collect()
    }

    /// A step along `d` meeting the strong Wolfe conditions, as (t, x,
    /// and the function there), within [`MAX_LINE_EVALS`] evaluations;
    /// where none does before the search runs out, the lowest trial that
    /// decreased f enough, and by more than [`FALLBACK_GAIN`] of it (as torch's
    /// `_strong_wolfe` takes its bracket's low end: f32 losses that tie,
    /// the GPU's, ran the interval to nothing with every trial below the
    /// start); `None` where no trial did.
    fn line_search(
        &mut self,
        f0: f64,
        gtd0: f64,
        d: &[f64],
        t_first: f64,
    ) -> Result<Option<Found>> {
        let x0 = self.now.x.clone();
        let mut evals = 0;
        let mut best: Option<Found> = None;
        let mut keep = |t: f64, x: &[f32], at: &At| {
            let enough = at.f.is_finite()
                && at.f <= f0 + C1 * t * gtd0
                && f0 - at.f > FALLBACK_GAIN * f0.abs()
                && t > 0.0;
            if enough && best.as_ref().is_none_or(|b| at.f < b.2.f) {
                best = Some((t, x.to_vec(), at.clone(), false));
            }
        };
        // (t, f, gᵀd) of the previous trial; t = 0 is the start.
        let mut prev = (0.0, f0, gtd0);
        let mut t = t_first;
        // The bracket [lo, hi] once one is found: lo has the lower f.
        let bracket = loop {
            if evals == MAX_LINE_EVALS {
                return Ok(best);
            }
            let x = Lbfgs::<O>::moved(&x0, d, t);
            let at = self.evaluate(&x)?;
            evals += 1;
            let (f, gtd) = (at.f, dot(&at.g, d));
            keep(t, &x, &at);
            if !f.is_finite() || f > f0 + C1 * t * gtd0 || (evals > 1 && f >= prev.1) {
                break (prev, (t, f, gtd));
            }
            if gtd.abs() <= -C2 * gtd0 {
                return Ok(Some((t, x, at, true)));
            }
            if gtd >= 0.0 {
                break ((t, f, gtd), prev);
            }
            // Extrapolate: the cubic's minimiser within [t + 0.01·(t − t_prev), 10·t].
            let rounding = self.obj.loss_rounding();
            let next = cubic_min(
                prev,
                (t, f, gtd),
                t + 0.01 * (t - prev.0),
                10.0 * t,
                rounding,
            );
            prev = (t, f, gtd);
            t = next;
        };
        let (mut lo, mut hi) = bracket;
        while evals < MAX_LINE_EVALS {
            let (a, b) = (lo.0.min(hi.0), lo.0.max(hi.0));
            let width = b - a;
            if width * d.iter().fold(0.0f64, |m, v| m.max(v.abs())) < 1e-12 {
                return Ok(best);
            }
            // A non-finite end gives no cubic: bisect.
            let t = if hi.1.is_finite() {
                let rounding = self.obj.loss_rounding();
                cubic_min(lo, hi, a + 0.1 * width, b - 0.1 * width, rounding)
            } else {
                (a + b) / 2.0
            };
            let x = Lbfgs::<O>::moved(&x0, d, t);
            let at = self.evaluate(&x)?;
            evals += 1;
            let (f, gtd) = (at.f, dot(&at.g, d));
            keep(t, &x, &at);
            if !f.is_finite() || f > f0 + C1 * t * gtd0 || f >= lo.1 {
                hi = (t, f, gtd);
            } else {
                if gtd.abs() <= -C2 * gtd0 {
                    return Ok(Some((t, x, at, true)));
                }
                if gtd * (hi.0 - lo.0) >= 0.0 {
                    hi = lo;
                }
                lo = (t, f, gtd);
            }
        }
        Ok(best)
    }

    /// One iteration; false (with `stopped` set) when none could be taken.
    fn iterate(&mut self, losses: &mut Vec<f64>) -> Result<bool> {
        let At {
            f: f0,
            g: g0,
            loss: loss0,
        } = self.current()?;
        let gmax = g0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if gmax <= self.gtol {
            self.stopped = Some(StopReason::GradientSmall);
            return Ok(false);
        }
        let mut d = self.direction(&g0);
        let mut gtd0 = dot(&g0, &d);
        // NaN compares false too.
        if gtd0.partial_cmp(&0.0) != Some(std::cmp::Ordering::Less) {
            // Not a descent direction (the pairs have gone stale): restart
            // from the steepest descent.
            self.now.pairs.clear();
            d = g0.iter().map(|v| -v).collect();
            gtd0 = dot(&g0, &d);
        }
        let t_first = if self.now.iterations == 0 {
            let l1: f64 = g0.iter().map(|v| v.abs()).sum();
            self.lr * (1.0f64).min(1.0 / l1)
        } else {
            self.lr
        };
        let Some((t, x1, at1, wolfe)) = self.line_search(f0, gtd0, &d, t_first)? else {
            self.stopped = Some(StopReason::NoDescent);
            return Ok(false);
        };
        let g1 = &at1.g;
        self.steps.push(LineStep {
            t,
            f0,
            gtd0,
            f1: at1.f,
            gtd1: dot(g1, &d),
            wolfe,
        });
        losses.push(loss0);
        let s: Vec<f64> = x1
            .iter()
            .zip(&self.now.x)
            .map(|(&a, &b)| a as f64 - b as f64)
            .collect();
        let y: Vec<f64> = g1.iter().zip(&g0).map(|(a, b)| a - b).collect();
        let ys = dot(&y, &s);
        if ys > 1e-10 {
            if self.now.pairs.len() == self.history_size {
                self.now.pairs.pop_front();
            }
            self.now.pairs.push_back(Arc::new((s, y, 1.0 / ys)));
        }
        self.now.x = x1;
        self.now.at = Some(at1);
        self.now.iterations += 1;
        Ok(true)
    }
}

impl<O: Objective> Backend for Lbfgs<O> {
    fn describe(&self) -> String {
        self.obj.describe()
    }

    fn optimizer(&self) -> Optimizer {
        self.opt
    }

    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        self.stopped = None;
        for _ in 0..epochs {
            if !self.iterate(losses)? {
                break;
            }
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        Ok(self.current()?.loss)
    }

    fn snapshot(&mut self, slot: usize) -> Result<()> {
        self.saved[slot] = Some(self.now.clone());
        Ok(())
    }

    fn restore(&mut self, slot: usize) -> Result<()> {
        if let Some(p) = &self.saved[slot] {
            self.now = p.clone();
        }
        self.stopped = None;
        Ok(())
    }

    fn params(&mut self) -> Result<Vec<f32>> {
        Ok(self.now.x.clone())
    }

    fn max_batch(&self) -> usize {
        // Each iteration is host-driven anyway: one per batch, so progress,
        // stopping rules and time-to-accuracy marks see every one.
        1
    }

    fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    fn evaluations(&self) -> Option<usize> {
        Some(self.evaluations)
    }

    /// The pairs as `s` and `y` (pairs × parameters, oldest first) and the
    /// iterations done as the step count.
    fn optimizer_state(&mut self) -> Result<Saved> {
        let flat = |which: usize| {
            self.now
                .pairs
                .iter()
                .flat_map(|pair| {
                    if which == 0 {
                        pair.0.clone()
                    } else {
                        pair.1.clone()
                    }
                })
                .collect::<Vec<f64>>()
        };
        Ok(Saved {
            steps: self.now.iterations,
            tensors: vec![("s".into(), flat(0)), ("y".into(), flat(1))],
        })
    }

    fn set_optimizer_state(&mut self, saved: &Saved) -> Result<()> {
        let p = self.now.x.len();
        let bad = |m: String| crate::Error::Config(format!("the checkpoint's lbfgs state {m}"));
        let [(sn, s), (yn, y)] = saved.tensors.as_slice() else {
            return Err(bad("does not hold s and y".into()));
        };
        if sn != "s" || yn != "y" || s.len() != y.len() || s.len() % p.max(1) != 0 {
            return Err(bad(format!(
                "holds {sn} ({}) and {yn} ({}), not pairs of {p} values",
                s.len(),
                y.len()
            )));
        }
        let count = s.len() / p.max(1);
        if count > self.history_size {
            return Err(bad(format!(
                "holds {count} pairs, more than --history-size {}",
                self.history_size
            )));
        }
        self.now.pairs = (0..count)
            .map(|k| {
                let (s, y) = (&s[k * p..(k + 1) * p], &y[k * p..(k + 1) * p]);
                Arc::new((s.to_vec(), y.to_vec(), 1.0 / dot(y, s)))
            })
            .collect();
        self.now.iterations = saved.steps;
        self.now.at = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = Σ cᵢ·(xᵢ − 1)² + (x₀·x₁ − 1)², a small curved bowl.
    struct Bowl;

    impl Objective for Bowl {
        fn describe(&self) -> String {
            "bowl".into()
        }
        fn params_len(&self) -> usize {
            4
        }

        fn evaluate(&mut self, x: &[f32], g: &mut [f64]) -> Result<f64> {
            let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let mut f = 0.0;
            for i in 0..x.len() {
                let c = 1.0 + i as f64;
                f += c * (x[i] - 1.0).powi(2);
                g[i] = 2.0 * c * (x[i] - 1.0);
            }
            let e = x[0] * x[1] - 1.0;
            f += e * e;
            g[0] += 2.0 * e * x[1];
            g[1] += 2.0 * e * x[0];
            Ok(f)
        }
    }

    /// f(x) = ½·xᵀAx − bᵀx for A = MᵀM + I, symmetric positive definite:
    /// every step's yᵀs is positive, so every pair is kept.
    struct Quadratic {
        a: Vec<Vec<f64>>,
        b: Vec<f64>,
    }

    impl Objective for Quadratic {
        fn describe(&self) -> String {
            "quadratic".into()
        }
        fn params_len(&self) -> usize {
            self.b.len()
        }

        fn evaluate(&mut self, x: &[f32], g: &mut [f64]) -> Result<f64> {
            let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let mut f = 0.0;
            for i in 0..x.len() {
                g[i] = dot(&self.a[i], &x) - self.b[i];
                f += 0.5 * x[i] * dot(&self.a[i], &x) - self.b[i] * x[i];
            }
            Ok(f)
        }
    }

    /// The two-loop recursion is −H·g for the inverse Hessian that BFGS
    /// builds as dense matrices: H₀ = (sᵀy / yᵀy)·I from the newest pair,
    /// then H ← (I − ρ·s·yᵀ)·H·(I − ρ·y·sᵀ) + ρ·s·sᵀ for each kept pair,
    /// oldest first; and the pairs kept are the newest `history_size`
    /// steps of the iterates.
    #[test]
    fn the_direction_is_the_dense_bfgs_inverse_times_the_gradient() {
        let n = 6;
        let m: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0)
                    .collect()
            })
            .collect();
        let a: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..n).map(|k| m[k][i] * m[k][j]).sum::<f64>() + f64::from(i == j))
                    .collect()
            })
            .collect();
        let b: Vec<f64> = (0..n).map(|i| i as f64 - 2.5).collect();
        let opt = Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 3,
            gtol: 0.0,
            weight_decay: 0.0,
        };
        let mut l = Lbfgs::new(Quadratic { a, b }, &[0.5; 6], opt).unwrap();
        let mut xs = vec![l.now.x.clone()];
        let mut losses = Vec::new();
        for _ in 0..5 {
            assert!(l.iterate(&mut losses).unwrap());
            xs.push(l.now.x.clone());
        }
        // The newest three steps, oldest first.
        assert_eq!(l.now.pairs.len(), 3);
        for (k, pair) in l.now.pairs.iter().enumerate() {
            let (x0, x1) = (&xs[k + 2], &xs[k + 3]);
            let step: Vec<f64> = x1
                .iter()
                .zip(x0)
                .map(|(&a, &b)| a as f64 - b as f64)
                .collect();
            assert_eq!(pair.0, step, "pair {k}");
        }
        // H, dense, from the same pairs.
        let (_, y_new, rho_new) = &**l.now.pairs.back().unwrap();
        let gamma = 1.0 / (rho_new * dot(y_new, y_new));
        let mut h: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { gamma } else { 0.0 }).collect())
            .collect();
        for pair in &l.now.pairs {
            let (s, y, rho) = &**pair;
            // V = I − ρ·y·sᵀ; H ← Vᵀ·H·V + ρ·s·sᵀ.
            let v: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| f64::from(i == j) - rho * y[i] * s[j])
                        .collect()
                })
                .collect();
            let hv: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| (0..n).map(|k| h[i][k] * v[k][j]).sum())
                        .collect()
                })
                .collect();
            h = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            (0..n).map(|k| v[k][i] * hv[k][j]).sum::<f64>() + rho * s[i] * s[j]
                        })
                        .collect()
                })
                .collect();
        }
        let g: Vec<f64> = (0..n).map(|i| (i as f64 * 1.7).cos()).collect();
        let want: Vec<f64> = h.iter().map(|row| -dot(row, &g)).collect();
        let got = l.direction(&g);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "[{i}] {a} vs {b}");
        }
    }

    #[test]
    fn minimises_a_bowl_with_wolfe_steps() {
        let opt = Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 5,
            gtol: 1e-6,
            weight_decay: 0.0,
        };
        let mut b = Lbfgs::new(Bowl, &[3.0, -2.0, 0.5, 4.0], opt).unwrap();
        let mut losses = Vec::new();
        b.run(100, &mut losses).unwrap();
        assert!(losses.len() < 100, "{} iterations", losses.len());
        assert!(b.stopped().is_some());
        assert!(b.loss().unwrap() < 1e-9, "{}", b.loss().unwrap());
        for s in b.steps() {
            assert!(s.f1 <= s.f0 + C1 * s.t * s.gtd0, "{s:?}");
            assert!(s.gtd1.abs() <= C2 * s.gtd0.abs(), "{s:?}");
        }
    }

    /// With weight decay λ, the point reached is where ∇f + λ·x = 0 (the
    /// bowl's own gradient is not 0 there), and the loss reported is the
    /// bowl's f alone, without λ/2·‖x‖².
    #[test]
    fn weight_decay_minimises_the_penalised_bowl_and_reports_its_loss() {
        let lambda = 0.5;
        let opt = Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 5,
            gtol: 1e-6,
            weight_decay: lambda,
        };
        let mut b = Lbfgs::new(Bowl, &[3.0, -2.0, 0.5, 4.0], opt).unwrap();
        let mut losses = Vec::new();
        b.run(100, &mut losses).unwrap();
        assert!(b.stopped().is_some() && losses.len() < 100);
        let x = b.params().unwrap();
        let mut g = vec![0.0; x.len()];
        let f = Bowl.evaluate(&x, &mut g).unwrap();
        assert_eq!(b.loss().unwrap(), f);
        let own = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let penalised = (g.iter().zip(&x)).fold(0.0f64, |m, (gi, &xi)| {
            m.max((gi + lambda * xi as f64).abs())
        });
        assert!(own > 0.1 && penalised < 1e-4, "{own} {penalised}");
        // The first iteration's loss is the bowl's at the start.
        let f0 = Bowl.evaluate(&[3.0, -2.0, 0.5, 4.0], &mut g).unwrap();
        assert_eq!(losses[0], f0);
    }

    /// Where the discriminant is 0 up to rounding, both signs of the
    /// rounding give the minimiser's limit, not the interval's middle: the
    /// GPU's f32 loss and the CPU's f64 loss then step alike.
    #[test]
    fn cubic_min_is_continuous_through_a_rounded_discriminant() {
        // f = ((t − 1)³ + 1)/3: f′ = (t − 1)², a double root at 1, so
        // d2² = 0 exactly from (0, 0, 1) and (3, 3, 4).
        let exact = cubic_min((0.0, 0.0, 1.0), (3.0, 3.0, 4.0), 0.0, 10.0, 0.0);
        assert!((exact - 1.0).abs() < 1e-12, "{exact}");
        for nudge in [-1e-9, 1e-9] {
            let t = cubic_min((0.0, 0.0, 1.0), (3.0, 3.0 + nudge, 4.0), 0.0, 10.0, 0.0);
            assert!((t - exact).abs() < 1e-3, "nudge {nudge}: {t}");
        }
        // A cubic with no minimiser, d2² = −4 of terms 4: the middle.
        let t = cubic_min((0.0, 0.0, 2.0), (1.0, 4.0 / 3.0, 2.0), 0.0, 10.0, 0.0);
        assert_eq!(t, 5.0);
    }

    #[test]
    fn cubic_min_finds_the_quadratic_minimum() {
        // f = (t − 2)²: f(0) = 4, f′(0) = −4; f(3) = 1, f′(3) = 2.
        let t = cubic_min((0.0, 4.0, -4.0), (3.0, 1.0, 2.0), 0.0, 3.0, 0.0);
        assert!((t - 2.0).abs() < 1e-12, "{t}");
    }

    /// f(x) = ‖x‖²/2 in `.0` parameters.
    struct Parabola(usize);

    impl Objective for Parabola {
        fn describe(&self) -> String {
            "parabola".into()
        }
        fn params_len(&self) -> usize {
            self.0
        }
        fn evaluate(&mut self, x: &[f32], g: &mut [f64]) -> Result<f64> {
            let mut f = 0.0;
            for (gi, &xi) in g.iter_mut().zip(x) {
                *gi = xi as f64;
                f += *gi * *gi / 2.0;
            }
            Ok(f)
        }
    }

    /// One parameter that `evaluate` reports falling along +x, at slope
    /// `slope(x)`, while the function itself falls by `fall(x)` only: the
    /// curvature condition then never holds, and every line search runs
    /// out (an objective at odds with its gradient, as a loss rounded in
    /// f32 can be).
    struct Slanted {
        f0: f64,
        fall: fn(f64) -> f64,
        slope: fn(f64) -> f64,
    }

    impl Objective for Slanted {
        fn describe(&self) -> String {
            "slanted".into()
        }
        fn params_len(&self) -> usize {
            1
        }
        fn evaluate(&mut self, x: &[f32], g: &mut [f64]) -> Result<f64> {
            let x = x[0] as f64;
            g[0] = (self.slope)(x);
            Ok(self.f0 - (self.fall)(x))
        }
    }

    fn lbfgs_opt(gtol: f64) -> Optimizer {
        Optimizer::Lbfgs {
            lr: 1.0,
            history_size: 5,
            gtol,
            weight_decay: 0.0,
        }
    }

    /// The first trial step is lr·min(1, 1/‖g‖₁) on the first iteration
    /// and lr after it: from x = (3, 1) (g = x, ‖g‖₁ = 4; ‖g‖₂ would give
    /// 1/√10) the first accepted step is 0.25 (it meets both Wolfe
    /// conditions), to (2.25, 0.75); the second, along −H·g = −x, is 1, to
    /// the minimum.
    #[test]
    fn the_first_trial_step_is_scaled_by_the_gradients_l1_norm() {
        let mut l = Lbfgs::new(Parabola(2), &[3.0, 1.0], lbfgs_opt(0.0)).unwrap();
        let mut losses = Vec::new();
        l.run(1, &mut losses).unwrap();
        assert_eq!(l.steps()[0].t, 0.25);
        assert_eq!(l.params().unwrap(), [2.25, 0.75]);
        l.run(1, &mut losses).unwrap();
        assert_eq!(l.steps()[1].t, 1.0);
        assert_eq!(l.params().unwrap(), [0.0, 0.0]);
        assert_eq!(losses, [5.0, 2.8125]);
    }

    /// --gtol is inclusive: a gradient whose max-norm equals it has
    /// converged, before any iteration.
    #[test]
    fn a_gradient_at_exactly_gtol_has_converged() {
        let mut l = Lbfgs::new(Parabola(1), &[4.0], lbfgs_opt(4.0)).unwrap();
        let mut losses = Vec::new();
        l.run(5, &mut losses).unwrap();
        assert!(losses.is_empty(), "{losses:?}");
        assert_eq!(l.stopped(), Some(StopReason::GradientSmall));
        assert_eq!(l.params().unwrap(), [4.0]);
        // Just above it, an iteration is taken.
        let mut l = Lbfgs::new(Parabola(1), &[4.0], lbfgs_opt(3.999)).unwrap();
        l.run(1, &mut losses).unwrap();
        assert_eq!(losses, [8.0]);
    }

    /// A search that runs out takes its lowest trial only where it lowered
    /// f by more than FALLBACK_GAIN (relative): here f0 = 1e7 falls by 0.1 at
    /// most, less than 1e-6·1e7, so no step is taken ("no lower loss").
    #[test]
    fn a_search_that_runs_out_takes_no_step_that_gains_too_little() {
        let obj = Slanted {
            f0: 1e7,
            fall: |x| 1e-3 * x.clamp(0.0, 100.0),
            slope: |_| -1e-3,
        };
        let mut l = Lbfgs::new(obj, &[0.0], lbfgs_opt(0.0)).unwrap();
        let mut losses = Vec::new();
        l.run(3, &mut losses).unwrap();
        assert!(losses.is_empty(), "{losses:?}");
        assert_eq!(l.stopped(), Some(StopReason::NoDescent));
        assert_eq!(l.params().unwrap(), [0.0]);
        // From 10 the same fall of 0.1 is a gain of 1%: taken.
        let obj = Slanted {
            f0: 10.0,
            fall: |x| 1e-3 * x.clamp(0.0, 100.0),
            slope: |_| -1e-3,
        };
        let mut l = Lbfgs::new(obj, &[0.0], lbfgs_opt(0.0)).unwrap();
        l.run(1, &mut losses).unwrap();
        assert_eq!(losses, [10.0]);
        assert!(!l.steps()[0].wolfe, "{:?}", l.steps());
    }

    /// A step with yᵀs ≤ 1e-10 gives no pair: the lowest trial of a search
    /// that ran out, where the reported slope steepened (y = −1 for s = 1),
    /// is taken, and the history stays empty.
    #[test]
    fn a_step_without_positive_curvature_is_not_kept_as_a_pair() {
        let obj = Slanted {
            f0: 1.0,
            fall: |x| 0.5 * x.clamp(0.0, 1.0),
            slope: |x| -(1.0 + x.clamp(0.0, 1.0)),
        };
        let mut l = Lbfgs::new(obj, &[0.0], lbfgs_opt(0.0)).unwrap();
        let mut losses = Vec::new();
        l.run(1, &mut losses).unwrap();
        assert_eq!(losses, [1.0]);
        assert_eq!(l.params().unwrap(), [1.0]);
        assert!(!l.steps()[0].wolfe);
        let state = l.optimizer_state().unwrap();
        assert_eq!(
            state.tensors,
            [("s".to_string(), vec![]), ("y".to_string(), vec![])]
        );
        assert_eq!(state.steps, 1);
    }

    /// Pairs that give a direction that does not descend (here a
    /// checkpoint's pair with yᵀs < 0) are dropped, and the iteration
    /// steps along −g: the history then holds that step's pair alone.
    #[test]
    fn a_direction_that_does_not_descend_drops_the_pairs() {
        let mut l = Lbfgs::new(Parabola(1), &[4.0], lbfgs_opt(0.0)).unwrap();
        let stale = Saved {
            steps: 0,
            tensors: vec![("s".into(), vec![1.0]), ("y".into(), vec![-1.0])],
        };
        l.set_optimizer_state(&stale).unwrap();
        let mut losses = Vec::new();
        l.run(1, &mut losses).unwrap();
        // −g from 4, at the first trial 0.25: to 3.
        assert_eq!(l.params().unwrap(), [3.0]);
        let state = l.optimizer_state().unwrap();
        assert_eq!(
            state.tensors,
            [("s".to_string(), vec![-1.0]), ("y".to_string(), vec![-1.0])]
        );
    }

    /// A trial whose loss is NaN (a network whose arithmetic overflowed to
    /// ∞ − ∞) ends the bracketing: the zoom bisects back towards the start,
    /// here to x = 3.5, where the parabola's step meets the Wolfe
    /// conditions.
    #[test]
    fn a_trial_with_a_nan_loss_brackets_the_step() {
        struct NanBelow;
        impl Objective for NanBelow {
            fn describe(&self) -> String {
                "parabola, NaN below 3.5".into()
            }
            fn params_len(&self) -> usize {
                1
            }
            fn evaluate(&mut self, x: &[f32], g: &mut [f64]) -> Result<f64> {
                let x = x[0] as f64;
                if x < 3.5 {
                    g[0] = f64::NAN;
                    return Ok(f64::NAN);
                }
                g[0] = x;
                Ok(x * x / 2.0)
            }
        }
        // The first trial, 0.25 along −4, lands at 3: NaN.
        let mut l = Lbfgs::new(NanBelow, &[4.0], lbfgs_opt(0.0)).unwrap();
        let mut losses = Vec::new();
        l.run(1, &mut losses).unwrap();
        assert_eq!(l.stopped(), None);
        assert_eq!(losses, [8.0]);
        assert_eq!(l.params().unwrap(), [3.5]);
        assert!(l.steps()[0].wolfe, "{:?}", l.steps());
    }

    /// A checkpoint's history may hold up to --history-size pairs (a run
    /// past that many iterations saves that many): those are taken, and
    /// one more is refused.
    #[test]
    fn a_checkpoint_may_hold_a_full_history() {
        let pairs = |n: usize| Saved {
            steps: 12,
            tensors: vec![
                ("s".into(), (0..n).map(|k| k as f64 + 1.0).collect()),
                ("y".into(), vec![1.0; n]),
            ],
        };
        let mut l = Lbfgs::new(Parabola(1), &[4.0], lbfgs_opt(0.0)).unwrap();
        l.set_optimizer_state(&pairs(5)).unwrap();
        assert_eq!(l.optimizer_state().unwrap(), pairs(5));
        let e = l.set_optimizer_state(&pairs(6)).unwrap_err().to_string();
        assert!(
            e.contains("holds 6 pairs, more than --history-size 5"),
            "{e}"
        );
    }

    /// Rosenbrock's function, (1 − x)² + 100·(y − x²)².
    struct Rosenbrock;

    impl Objective for Rosenbrock {
        fn describe(&self) -> String {
            "Rosenbrock".into()
        }
        fn params_len(&self) -> usize {
            2
        }
        fn evaluate(&mut self, p: &[f32], g: &mut [f64]) -> Result<f64> {
            let (x, y) = (p[0] as f64, p[1] as f64);
            g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
            g[1] = 200.0 * (y - x * x);
            Ok((1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2))
        }
    }

    /// One run of [`TORCH_ROSENBROCK`]: lr, start, tolerance, iterates.
    type TorchRun = (f64, [f32; 2], f64, [[f64; 2]; 15]);

    /// The iterates of torch.optim.LBFGS (torch 2.15, float64;
    /// history_size 5, line_search_fn "strong_wolfe", both tolerances 0)
    /// on Rosenbrock's function, iterations 1 to 15: each row from a fresh
    /// optimizer's one `step` with `max_iter` k, at lr 1 from two starts
    /// and at lr 4 from one, where most searches overshoot and zoom. Every
    /// choice of the line search (its first trial, the bracket, the
    /// cubic's safeguards, the zoom's ends) shapes these paths. The points
    /// here are f32 (torch's f64): at lr 1 that moves them by less than
    /// 6e-5, at lr 4 by up to 3.3e-4 (torch's own f32 run moves as much);
    /// from (−1.2, 1) at lr 4 the f32 rounding alone took paths 3e-2 apart,
    /// so that start is not here. (lr, start, tolerance, iterates), as
    /// benches/torch_lbfgs_rosenbrock.py prints them.
    const TORCH_ROSENBROCK: [TorchRun; 3] = [
        (
            1.0,
            [-1.2, 1.0],
            1e-4,
            [
                [-1.02453193035e+00, 1.07161962027e+00],
                [-1.02845657456e+00, 1.06818745575e+00],
                [-1.02887953483e+00, 1.06550295168e+00],
                [-1.02761776638e+00, 1.05841207827e+00],
                [-1.02030848039e+00, 1.03527698665e+00],
                [-9.97031035168e-01, 9.75591384674e-01],
                [-9.43108093737e-01, 8.52927749747e-01],
                [-8.79486117938e-01, 7.26197926629e-01],
                [-7.68078990065e-01, 5.38949451722e-01],
                [-6.36976109584e-01, 4.40167137530e-01],
                [-4.58393542016e-01, 1.80867490879e-01],
                [-3.89481034415e-01, 1.09328923810e-01],
                [-2.64946852840e-01, 4.18466699490e-02],
                [-1.68016763381e-01, 1.82692498752e-02],
                [-6.25739233715e-02, -3.43966180449e-02],
            ],
        ),
        (
            1.0,
            [2.0, -1.5],
            1e-4,
            [
                [1.19992729916e+00, -1.30007270084e+00],
                [8.53835791305e-01, -1.13013798338e+00],
                [5.11974926059e-01, -8.45664590834e-01],
                [2.89805799862e-01, -5.16756173847e-01],
                [1.63799349640e-01, -1.73518588036e-01],
                [1.30415768240e-01, -7.41046026536e-03],
                [1.30437804369e-01, 1.52109743907e-02],
                [1.54958116301e-01, 3.15787329489e-02],
                [4.14358208866e-01, 1.41431348097e-01],
                [3.79928646555e-01, 1.29432634373e-01],
                [4.04161606907e-01, 1.51531591916e-01],
                [5.56023641778e-01, 2.83158984808e-01],
                [5.60600997142e-01, 3.10646442772e-01],
                [6.56689246550e-01, 4.21684458375e-01],
                [7.60913833987e-01, 5.56514709952e-01],
            ],
        ),
        (
            4.0,
            [2.0, -1.5],
            1e-3,
            [
                [-1.20029080334e+00, -7.00290803344e-01],
                [1.07839597657e+00, 1.00400646763e-01],
                [-1.39521440918e+00, 9.77942164380e-01],
                [1.00230212826e+00, 1.25891067429e+00],
                [1.09927716859e+00, 1.20806688881e+00],
                [1.09888105189e+00, 1.20801689479e+00],
                [1.06262639298e+00, 1.12815071469e+00],
                [1.02862387837e+00, 1.05504741919e+00],
                [9.90245825198e-01, 9.83540569982e-01],
                [9.85020573932e-01, 9.70551781777e-01],
                [1.00147114433e+00, 1.00283287098e+00],
                [1.00002587415e+00, 1.00005543233e+00],
                [1.00000034141e+00, 1.00000065930e+00],
                [9.99999999938e-01, 9.99999999867e-01],
                [9.99999999938e-01, 9.99999999867e-01],
            ],
        ),
    ];

    #[test]
    fn rosenbrock_iterates_follow_torch() {
        for (lr, start, tol, want) in TORCH_ROSENBROCK {
            let opt = Optimizer::Lbfgs {
                lr,
                history_size: 5,
                gtol: 0.0,
                weight_decay: 0.0,
            };
            let mut l = Lbfgs::new(Rosenbrock, &start, opt).unwrap();
            let mut losses = Vec::new();
            for (k, w) in want.iter().enumerate() {
                l.run(1, &mut losses).unwrap();
                let p = l.params().unwrap();
                for (got, want) in p.iter().zip(w) {
                    assert!(
                        (*got as f64 - want).abs() <= tol,
                        "lr {lr}, from {start:?}, iteration {}: {p:?}, torch {w:?}",
                        k + 1
                    );
                }
            }
        }
    }
}
