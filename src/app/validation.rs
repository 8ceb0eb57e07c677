//! `--validation-split`'s held-out loss.

use crate::cpu::Fast;
use crate::train::Kept;

/// The held-out rows, the CPU pass that scores parameters on them, and the
/// validation losses of the run.
///
/// On the CPU backends the host scores them where it already waits for
/// the trainer: at the end of every batch the training loop reads back
/// (each one epoch there), for the starting parameters and for the final
/// ones, as the MSE of the held-out rows under the fast CPU forward pass
/// (f32, sums in f64). The GPU measures them itself, every epoch
/// ([`crate::train::Backend::held_out`]), and `Validation::follow`
/// takes its measurements.
pub struct Validation<'a> {
    scorer: Fast<'a>,
    /// (epoch, loss) in ascending epochs; the loss of the parameters at the
    /// start of that epoch, as the history's rows.
    losses: Vec<(usize, f64)>,
    /// With `--keep best-val`: the last two measurements that were the
    /// lowest so far when made, with their parameters, the lowest last. A
    /// rollback replaces at most the latest measurement (the one at its
    /// batch's start), so the one before is all it can fall back to.
    lows: Option<Vec<Kept>>,
}

impl<'a> Validation<'a> {
    /// Scores with `scorer`, continuing a resumed run's `losses`; with
    /// `keep`, keeps the parameters of the lowest, from a resumed run's
    /// `kept` on.
    pub(super) fn new(
        scorer: Fast<'a>,
        losses: Vec<(usize, f64)>,
        keep: bool,
        kept: Option<Kept>,
    ) -> Validation<'a> {
        let lows = keep.then(|| kept.into_iter().collect());
        Validation {
            scorer,
            losses,
            lows,
        }
    }

    /// Scores the parameters after `epoch` updates. A rerun or rollback
    /// replaces what was measured past it.
    pub(super) fn record(&mut self, epoch: usize, params: &[f32]) -> f64 {
        self.losses.retain(|&(k, _)| k < epoch);
        let loss = self.scorer.loss_at(params);
        self.losses.push((epoch, loss));
        if let Some(lows) = &mut self.lows {
            lows.retain(|k| k.epoch < epoch);
            if loss.is_finite() && lows.last().is_none_or(|low| loss < low.loss) {
                if lows.len() == 2 {
                    lows.remove(0);
                }
                lows.push(Kept {
                    epoch,
                    loss,
                    params: params.to_vec(),
                });
            }
        }
        loss
    }

    /// Takes the losses a backend measured itself, by epoch (`series`, as
    /// the training loop follows them), from the latest recorded epoch on:
    /// those of the batches since the last call, or the run's end, cut
    /// where the run stopped.
    pub(super) fn follow(&mut self, series: &[f64]) {
        let Some(end) = series.len().checked_sub(1) else {
            return;
        };
        let from = self.losses.last().map_or(0, |&(e, _)| e).min(end);
        self.losses.retain(|&(k, _)| k < from);
        let measured = series[from..].iter().enumerate();
        self.losses.extend(measured.map(|(i, &l)| (from + i, l)));
    }

    /// The losses measured before epoch `end`, by epoch (NaN where none
    /// was).
    pub(super) fn dense(&self, end: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; end];
        for &(k, l) in self.losses.iter().filter(|&&(k, _)| k < end) {
            out[k] = l;
        }
        out
    }

    /// The loss measured at `epoch`, if one was.
    pub(super) fn at(&self, epoch: usize) -> Option<f64> {
        let i = self.losses.binary_search_by_key(&epoch, |&(k, _)| k).ok()?;
        Some(self.losses[i].1)
    }

    /// With `--keep best-val`: the parameters with the lowest validation
    /// loss measured (the earliest of equals), and that loss.
    pub(super) fn kept(&self) -> Option<&Kept> {
        self.lows.as_ref()?.last()
    }

    /// The held-out loss of `params`, recorded nowhere.
    pub(super) fn score(&mut self, params: &[f32]) -> f64 {
        self.scorer.loss_at(params)
    }

    /// (epoch, loss) as measured, in ascending epochs.
    pub(super) fn losses(&self) -> &[(usize, f64)] {
        &self.losses
    }

    pub(super) fn latest(&self) -> Option<f64> {
        self.losses.last().map(|&(_, l)| l)
    }

    /// Whether the lowest validation loss was measured `patience` or more
    /// epochs before the latest measurement (`--val-patience`).
    pub(super) fn stalled(&self, patience: usize) -> bool {
        match (self.best(), self.losses.last()) {
            (Some((best, _)), Some(&(latest, _))) => latest - best >= patience,
            _ => false,
        }
    }

    pub(super) fn best(&self) -> Option<(usize, f64)> {
        self.losses
            .iter()
            .copied()
            .filter(|(_, l)| l.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::model::{Activation, Layout, Model};
    use crate::optim::Optimizer;

    /// 64 synthetic rows of 2 features, and a 2 → 4 → 1 tanh network
    /// drawn with seed 1, for a scorer over them.
    fn rows_and_model() -> (Dataset, Model) {
        let rows = Dataset::synthetic(64, 2, 1).unwrap();
        let names = rows.feature_names.clone();
        let layout = Layout::new(2, &[4]).unwrap();
        let m = Model::init(layout, Activation::Tanh, 1, names, "y".into());
        (rows, m)
    }

    /// The lowest measurement's parameters are kept; a rollback that
    /// measures its epoch again falls back to the one before it.
    #[test]
    fn keeps_the_lowest_and_falls_back_after_a_rollback() {
        let (rows, m) = rows_and_model();
        let scorer = || Fast::new(&m, &rows, Optimizer::gd(0.1), 1).unwrap();
        // Three parameter blocks, from the initial ones: zero (ŷ = 0),
        // the initial, and the initial scaled up.
        let zero = vec![0.0; m.params.len()];
        let big: Vec<f32> = m.params.iter().map(|p| p * 8.0).collect();
        let loss = |p: &[f32]| scorer().loss_at(p);
        let (l_init, l_zero, l_big) = (loss(&m.params), loss(&zero), loss(&big));
        assert!(
            l_zero < l_init && l_init < l_big,
            "{l_zero} {l_init} {l_big}"
        );
        let mut v = Validation::new(scorer(), Vec::new(), true, None);
        v.record(0, &m.params);
        v.record(1, &big);
        assert_eq!(v.kept().map(|k| k.epoch), Some(0));
        v.record(2, &zero);
        let k = v.kept().unwrap();
        assert_eq!((k.epoch, k.loss, &k.params), (2, l_zero, &zero));
        // Epoch 2 rolled back and measured again with worse parameters.
        v.record(2, &big);
        let k = v.kept().unwrap();
        assert_eq!((k.epoch, &k.params), (0, &m.params));
        // Without --keep best-val nothing is kept.
        let mut v = Validation::new(scorer(), Vec::new(), false, None);
        v.record(0, &m.params);
        assert!(v.kept().is_none());
    }

    /// Of equal lowest measurements the earliest is kept, and the
    /// patience counts from it; a measurement that is not finite is never
    /// kept, even as the first, so the finite one after it is.
    #[test]
    fn the_earliest_of_equal_lows_is_kept_and_stalls_first() {
        let (rows, m) = rows_and_model();
        let scorer = || Fast::new(&m, &rows, Optimizer::gd(0.1), 1).unwrap();
        let nan = vec![f32::NAN; m.params.len()];
        let same: Vec<f32> = m.params.clone();
        let mut v = Validation::new(scorer(), Vec::new(), true, None);
        v.record(0, &nan);
        assert!(v.kept().is_none(), "a NaN loss kept");
        v.record(2, &m.params);
        v.record(5, &same);
        assert_eq!(v.kept().map(|k| k.epoch), Some(2));
        assert_eq!(v.best().map(|b| b.0), Some(2));
        assert!(v.stalled(3) && !v.stalled(4));
    }

    /// A backend's own measurements are taken from the latest recorded
    /// epoch on: that epoch measured again (after a rollback) replaces
    /// the one before, and a series cut short (where the run stopped)
    /// cuts the losses there.
    #[test]
    fn follows_a_backends_measurements_from_the_latest_epoch() {
        let (rows, m) = rows_and_model();
        let scorer = Fast::new(&m, &rows, Optimizer::gd(0.1), 1).unwrap();
        let mut v = Validation::new(scorer, Vec::new(), false, None);
        v.follow(&[]);
        assert!(v.losses().is_empty());
        v.follow(&[4.0, 3.0, 2.0]);
        v.follow(&[4.0, 3.0, 2.5, 1.0]);
        assert_eq!(v.losses(), [(0, 4.0), (1, 3.0), (2, 2.5), (3, 1.0)]);
        v.follow(&[4.0, 3.0]);
        assert_eq!(v.losses(), [(0, 4.0), (1, 3.0)]);
        assert_eq!(v.dense(3)[..2], [4.0, 3.0]);
        assert!(v.dense(3)[2].is_nan());
        assert_eq!((v.at(1), v.at(2)), (Some(3.0), None));
    }

    /// Stalled: the lowest measurement is `patience` epochs or more behind
    /// the latest, however sparse the measurements.
    #[test]
    fn stalls_patience_epochs_after_the_lowest() {
        let (rows, m) = rows_and_model();
        let scorer = Fast::new(&m, &rows, Optimizer::gd(0.1), 1).unwrap();
        let big: Vec<f32> = m.params.iter().map(|p| p * 8.0).collect();
        let mut v = Validation::new(scorer, Vec::new(), false, None);
        assert!(!v.stalled(1), "nothing measured");
        v.record(0, &m.params);
        assert!(!v.stalled(1));
        v.record(3, &big);
        assert!(v.stalled(3) && !v.stalled(4));
        v.record(10, &big);
        assert!(v.stalled(10) && !v.stalled(11));
    }
}
