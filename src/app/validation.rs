//! `--validation-split`'s held-out loss.

use crate::cpu::Fast;

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

impl<'a> Validation<'a> {
    /// Scores with `scorer`, continuing a resumed run's `losses`.
    pub(super) fn new(scorer: Fast<'a>, losses: Vec<(usize, f64)>) -> Validation<'a> {
        Validation { scorer, losses }
    }

    /// Scores the parameters after `epoch` updates. A rerun or rollback
    /// replaces what was measured past it.
    pub(super) fn record(&mut self, epoch: usize, params: &[f32]) -> f64 {
        self.losses.retain(|&(k, _)| k < epoch);
        let loss = self.scorer.loss_at(params);
        self.losses.push((epoch, loss));
        loss
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

    pub(super) fn best(&self) -> Option<(usize, f64)> {
        self.losses
            .iter()
            .copied()
            .filter(|(_, l)| l.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}
