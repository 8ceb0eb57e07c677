//! The training loop, written once for every backend. A backend runs whole
//! epochs (so it may fuse kernels and batch many epochs per submit); this
//! loop decides when to stop from the losses it reports.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What every trainer implements, at the level of an epoch.
pub trait Backend {
    /// One line naming the backend and the device it runs on.
    fn describe(&self) -> String;

    /// Runs `epochs` full-batch updates, pushing onto `losses` the loss of
    /// the parameters at the start of each, before its update.
    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()>;

    /// The loss of the current parameters, without an update.
    fn loss(&mut self) -> Result<f64>;

    /// Remembers the current parameters, for [`Backend::restore`].
    fn snapshot(&mut self) -> Result<()>;

    /// Returns to the parameters of the last [`Backend::snapshot`].
    fn restore(&mut self) -> Result<()>;

    /// The current flat parameter block.
    fn params(&mut self) -> Result<Vec<f32>>;

    /// Most epochs worth running per [`Backend::run`] call: 1 for a backend
    /// that gains nothing from batching.
    fn max_batch(&self) -> usize {
        1
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Learning rate α.
    pub lr: f64,
    /// Most updates to run.
    pub max_epochs: usize,
    /// Stop once |L_k − L_{k−1}| < tol·|L_{k−1}|; 0 never stops early.
    pub tol: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `max_epochs` updates were run.
    MaxEpochs,
    /// The relative change of the loss fell below `tol`.
    Converged,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::MaxEpochs => "reached --epochs",
            StopReason::Converged => "converged (relative loss change below --tol)",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// losses[k] is the loss at the start of epoch k; the last entry is the
    /// loss after the final update, so there are `updates + 1` of them.
    pub losses: Vec<f64>,
    pub updates: usize,
    pub reason: StopReason,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn time_per_epoch(&self) -> Duration {
        self.elapsed / self.updates.max(1) as u32
    }
}

/// First epoch in `losses[from..]` that ends the run, as (epoch, diverged).
fn first_stop(losses: &[f64], from: usize, tol: f64) -> Option<(usize, bool)> {
    (from..losses.len()).find_map(|k| {
        let l = losses[k];
        if !l.is_finite() {
            return Some((k, true));
        }
        let converged = k > 0 && (l - losses[k - 1]).abs() < tol * losses[k - 1].abs();
        converged.then_some((k, false))
    })
}

/// Trains until `schedule` says stop. Epochs run in growing batches; when a
/// batch overshoots the stopping epoch, the backend returns to its snapshot
/// and reruns exactly up to it, so the result does not depend on the batch
/// sizes. A non-finite loss is [`Error::Diverged`].
pub fn train(backend: &mut dyn Backend, schedule: &Schedule) -> Result<Outcome> {
    let start = Instant::now();
    let mut losses = Vec::with_capacity(schedule.max_epochs.min(1 << 20) + 1);
    let mut updates = 0usize;
    let mut batch = 1usize;
    let mut scratch = Vec::new();
    let diverged = |epoch: usize, loss: f64| Error::Diverged {
        epoch,
        loss,
        lr: schedule.lr,
    };
    let reason = loop {
        let remaining = schedule.max_epochs - updates;
        if remaining == 0 {
            let last = backend.loss()?;
            losses.push(last);
            if !last.is_finite() {
                return Err(diverged(updates, last));
            }
            break StopReason::MaxEpochs;
        }
        let m = batch.min(remaining);
        let from = losses.len();
        backend.snapshot()?;
        let t = Instant::now();
        backend.run(m, &mut losses)?;
        if let Some((k, is_nan)) = first_stop(&losses, from, schedule.tol) {
            losses.truncate(k + 1);
            backend.restore()?;
            scratch.clear();
            backend.run(k - from, &mut scratch)?;
            updates = k;
            if is_nan {
                return Err(diverged(k, losses[k]));
            }
            break StopReason::Converged;
        }
        updates += m;
        // Grow the batch while a call stays short, so a stop costs little rerun.
        if t.elapsed() < Duration::from_millis(200) {
            batch = (batch * 2).min(backend.max_batch());
        }
    };
    Ok(Outcome {
        losses,
        updates,
        reason,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend whose loss after k updates is a fixed sequence.
    struct Scripted {
        seq: Vec<f64>,
        at: usize,
        saved: usize,
        max_batch: usize,
    }

    impl Backend for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
            for _ in 0..epochs {
                losses.push(self.seq[self.at]);
                self.at += 1;
            }
            Ok(())
        }
        fn loss(&mut self) -> Result<f64> {
            Ok(self.seq[self.at])
        }
        fn snapshot(&mut self) -> Result<()> {
            self.saved = self.at;
            Ok(())
        }
        fn restore(&mut self) -> Result<()> {
            self.at = self.saved;
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
            at: 0,
            saved: 0,
            max_batch,
        }
    }

    #[test]
    fn stops_at_the_same_epoch_whatever_the_batch() {
        let seq = [10.0, 5.0, 3.0, 2.5, 2.49, 2.0, 1.0, 0.5, 0.1, 0.0];
        for max_batch in [1, 2, 3, 64] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                lr: 0.1,
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
    fn tol_zero_runs_every_epoch_and_appends_the_final_loss() {
        let seq = [4.0, 4.0, 4.0, 4.0];
        let mut b = scripted(&seq, 64);
        let s = Schedule {
            lr: 0.1,
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
        for max_batch in [1, 4] {
            let mut b = scripted(&seq, max_batch);
            let s = Schedule {
                lr: 3.0,
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
        }
        let mut b = scripted(&[1.0, f64::NAN], 4);
        let s = Schedule {
            lr: 1.0,
            max_epochs: 1,
            tol: 0.0,
        };
        assert!(matches!(
            train(&mut b, &s),
            Err(Error::Diverged { epoch: 1, .. })
        ));
    }
}
