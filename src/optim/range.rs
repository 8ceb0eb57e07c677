//! The learning-rate range test behind `train --lr auto`: train from the
//! run's initial parameters for a few epochs while the rate grows
//! geometrically from tiny to huge, watch the training loss fall and then
//! blow up, and take a tenth of the rate whose update left the lowest
//! loss. The rule is the range test's usual one (a tenth of the minimum's
//! rate); for one cycle, whose rate spends most epochs below its peak, the
//! peak is that rate itself. docs/optimizers.md has the measurements.

use super::LrSchedule;

/// The range of rates tried, and over how many epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangeTest {
    /// The first epoch's rate.
    pub start: f64,
    /// The last epoch's rate.
    pub end: f64,
    /// Epochs the test runs at most, each at its own rate.
    pub epochs: usize,
}

/// The test `--lr auto` runs: 1e-6 to 10 over 100 epochs, about 18% more
/// per epoch, which spans the useful rates of every first-order rule here.
pub const DEFAULT_RANGE_TEST: RangeTest = RangeTest {
    start: 1e-6,
    end: 10.0,
    epochs: 100,
};

/// With mini-batches, each epoch of the test makes this many updates: it
/// trains on the rows of the run's first this many batches, not on every
/// row, so it costs a few epochs of the run at most.
pub const MINI_BATCHES: usize = 8;

/// With full batches on more rows than this, the test trains on this many
/// of them, a seeded random sample: the loss is a mean over the rows, so
/// its rates carry over, and the test costs little on a large file.
pub const FULL_BATCH_ROWS: usize = 16_384;

/// The test stops once a loss is more than this many times its lowest so
/// far, the start's included (or is not finite): the rate has passed
/// where training works.
pub const DIVERGED: f64 = 4.0;

/// The rate chosen is the lowest loss's rate divided by this, to two
/// significant digits. Of the divisors 10, 5, 3, 2 and 1 that
/// benches/lr_auto_schedules.py tried at a constant rate, with cosine and
/// with plateau, only this one never blew up a run.
pub const BACK_OFF: f64 = 10.0;

/// What the lowest loss's rate is divided by for a run on `schedule`:
/// [`BACK_OFF`], or 1 for one cycle, whose `--lr` is a peak that the rate
/// rises to and falls from (a tenth of it was too low a peak to reach any
/// target of benches/clipping.py's one-cycle runs, the rate itself the
/// best of the peaks tried).
pub fn back_off(schedule: &LrSchedule) -> f64 {
    match schedule {
        LrSchedule::OneCycle { .. } => 1.0,
        _ => BACK_OFF,
    }
}

/// What a range test found.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Found {
    /// The rate chosen: `lowest_lr / back_off` to two significant digits,
    /// so that `--lr` with the number printed repeats the run.
    pub lr: f64,
    /// What `lowest_lr` was divided by: [`back_off`] of the run's schedule.
    pub back_off: f64,
    /// The rate of the update after which the loss was lowest.
    pub lowest_lr: f64,
    /// That lowest loss.
    pub lowest_loss: f64,
    /// The loss before the test's first update.
    pub start_loss: f64,
    /// Epochs the test ran before it stopped.
    pub epochs: usize,
    /// The training rows it ran on (0 until the caller says).
    pub rows: usize,
    /// Seconds the test took (0 until the caller times it).
    pub wall_s: f64,
    /// Every epoch of the test: its rate, and the loss after its update
    /// (null where that was not finite), to plot or to choose from.
    pub curve: Vec<Point>,
    /// The runs at the rates chosen before `lr` that diverged, in order:
    /// each was trained again from the start at a [`RETRY_CUT`]th of its
    /// rate ([`retry_rate`]).
    pub retries: Vec<Retry>,
}

/// A run at a rate `--lr auto` chose that diverged.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Retry {
    /// Its rate.
    pub lr: f64,
    /// The epoch whose loss was not finite, and that loss (null in JSON,
    /// read back as NaN).
    pub epoch: usize,
    #[serde(deserialize_with = "null_as_nan")]
    pub loss: f64,
    /// Seconds it took.
    pub wall_s: f64,
}

/// A run at the rate `--lr auto` chose that diverges is trained again from
/// its initial parameters at the rate divided by this, up to
/// [`MAX_RETRIES`] times: the test's lowest loss is close to where
/// training blows up, and one cycle's peak at it blew up full-batch gd
/// where a ninth of it trained (BENCHMARKS.md, "`--lr auto` and the
/// schedules").
pub const RETRY_CUT: f64 = 3.0;

/// The most runs `--lr auto` trains again after they diverge.
pub const MAX_RETRIES: usize = 3;

/// The rate of the run after one at `lr` diverged: `lr / RETRY_CUT` to two
/// significant digits.
pub fn retry_rate(lr: f64) -> f64 {
    two_digits(lr / RETRY_CUT)
}

/// One epoch of a range test.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub lr: f64,
    /// Null in JSON where not finite, read back as NaN.
    #[serde(deserialize_with = "null_as_nan")]
    pub loss: f64,
}

/// A number that JSON holds as null where it was not finite (serde_json
/// writes NaN and ±inf so), as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Why a range test chose no rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoRate {
    /// The starting parameters' loss was not finite.
    StartNotFinite,
    /// No update lowered the loss below its start.
    NeverFell { start_loss: f64 },
}

impl std::fmt::Display for NoRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoRate::StartNotFinite => {
                f.write_str("the starting parameters' loss is not finite, so no rate can be judged")
            }
            NoRate::NeverFell { start_loss } => write!(
                f,
                "no rate lowered the loss below its start, {start_loss:.6e} (the parameters may already be at a minimum); give --lr"
            ),
        }
    }
}

impl RangeTest {
    /// The schedule of the test's epochs, from `start`: α_e =
    /// start·γ^e with γ = (end/start)^(1/(epochs − 1)), so the last epoch
    /// runs at `end`.
    pub fn schedule(&self) -> LrSchedule {
        let steps = self.epochs.saturating_sub(1).max(1) as f64;
        LrSchedule::Exponential {
            gamma: (self.end / self.start).powf(1.0 / steps),
        }
    }

    /// The rate of epoch `epoch` of the test.
    pub fn rate(&self, epoch: usize) -> f64 {
        self.schedule().rate(self.start, epoch as u64, &[])
    }

    /// The rate to train with, from the test's losses: `losses[0]` before
    /// the first update, `losses[e + 1]` after epoch e's (at [`Self::rate`]
    /// of e), divided by `back_off` ([`back_off`]). Only the losses before
    /// the first that diverged ([`diverged_at`]) count. The test ends at
    /// the epoch whose pass measured that one, whose update's loss ends
    /// its curve: a backend that checks for the blow-up only after each
    /// batch of epochs (the GPU) runs on past it, and those losses are
    /// left out, so that every backend's test ends alike.
    pub fn choose(&self, losses: &[f64], back_off: f64) -> Result<Found, NoRate> {
        let start_loss = *losses.first().ok_or(NoRate::StartNotFinite)?;
        if !start_loss.is_finite() {
            return Err(NoRate::StartNotFinite);
        }
        let diverged = diverged_at(losses);
        let losses = &losses[..diverged.map_or(losses.len(), |d| (d + 2).min(losses.len()))];
        let counted = diverged.unwrap_or(losses.len());
        // The earliest of equal lows: the smaller rate.
        let lowest = (1..counted).fold(None::<(usize, f64)>, |low, i| match low {
            Some((_, l)) if l <= losses[i] => low,
            _ => Some((i, losses[i])),
        });
        match lowest {
            Some((i, loss)) if loss < start_loss => {
                let lowest_lr = self.rate(i - 1);
                Ok(Found {
                    lr: two_digits(lowest_lr / back_off),
                    back_off,
                    lowest_lr,
                    lowest_loss: loss,
                    start_loss,
                    epochs: losses.len() - 1,
                    rows: 0,
                    wall_s: 0.0,
                    retries: Vec::new(),
                    curve: (1..losses.len())
                        .map(|i| Point {
                            lr: self.rate(i - 1),
                            loss: losses[i],
                        })
                        .collect(),
                })
            }
            _ => Err(NoRate::NeverFell { start_loss }),
        }
    }
}

/// `x` to two significant digits: the f64 nearest the number that
/// `{:.1e}` prints.
fn two_digits(x: f64) -> f64 {
    format!("{x:.1e}").parse().unwrap_or(x)
}

/// The index of the first loss that is not finite or is more than
/// [`DIVERGED`] times the lowest before it, if any: where a range test
/// stops.
pub fn diverged_at(losses: &[f64]) -> Option<usize> {
    let mut lowest = f64::INFINITY;
    for (i, &l) in losses.iter().enumerate() {
        if !l.is_finite() || l > DIVERGED * lowest {
            return Some(i);
        }
        lowest = lowest.min(l);
    }
    None
}

/// A result for other modules' tests: `lr` chosen, the lowest loss
/// `lowest` (its rate, the loss) from a start loss of 1 and a back-off of
/// 10, over `curve`'s epochs on 100 rows, untimed and never retried.
#[cfg(test)]
impl Found {
    pub(crate) fn sketch(lr: f64, lowest: (f64, f64), curve: Vec<Point>) -> Found {
        Found {
            lr,
            back_off: 10.0,
            lowest_lr: lowest.0,
            lowest_loss: lowest.1,
            start_loss: 1.0,
            epochs: curve.len(),
            rows: 100,
            wall_s: 0.0,
            curve,
            retries: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: RangeTest = RangeTest {
        start: 1e-4,
        end: 1.0,
        epochs: 5,
    };

    #[test]
    fn the_rates_grow_from_start_to_end() {
        let rates: Vec<f64> = (0..5).map(|e| TEST.rate(e)).collect();
        let want = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
        for (r, w) in rates.iter().zip(want) {
            assert!((r / w - 1.0).abs() < 1e-12, "{rates:?}");
        }
        let d = DEFAULT_RANGE_TEST;
        assert!((d.rate(d.epochs - 1) / d.end - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_tenth_of_the_lowest_loss_rate_before_the_blow_up() {
        // Lowest after epoch 2's update (rate 1e-2); the 0.05 after the
        // blow-up (9 > 4 × 0.2) does not count.
        let losses = [1.0, 0.9, 0.5, 0.2, 9.0, 0.05];
        let found = TEST.choose(&losses, BACK_OFF).unwrap();
        assert!((found.lowest_lr / 1e-2 - 1.0).abs() < 1e-12, "{found:?}");
        assert_eq!(found.lr, 0.001, "{found:?}");
        assert_eq!(two_digits(0.038535), 0.039);
        assert_eq!(two_digits(2.96e-7), 3e-7);
        assert_eq!((found.lowest_loss, found.start_loss), (0.2, 1.0));
        assert_eq!(found.epochs, 5);
        let curve: Vec<f64> = found.curve.iter().map(|p| p.loss).collect();
        assert_eq!(curve, losses[1..]);
        // Losses past the epoch after the blow-up (a batch of epochs run
        // on) are not the test's.
        let ran_on = [&losses[..], &[0.01, 0.02]].concat();
        assert_eq!(TEST.choose(&ran_on, BACK_OFF).unwrap(), found);
        assert!((found.curve[2].lr / 1e-2 - 1.0).abs() < 1e-12);
        assert_eq!(diverged_at(&losses), Some(4));
        // A NaN ends the counted losses as a blow-up does.
        let nan = [1.0, 0.9, 0.5, f64::NAN, 0.01];
        assert_eq!(TEST.choose(&nan, BACK_OFF).unwrap().lowest_loss, 0.5);
        // Still falling at the last rate: a tenth of it.
        let falling = [1.0, 0.8, 0.6, 0.4, 0.3, 0.2];
        assert_eq!(TEST.choose(&falling, BACK_OFF).unwrap().lr, 0.1);
        // One cycle's peak: the lowest loss's rate itself.
        let cycle = LrSchedule::OneCycle {
            epochs: 10,
            pct_start: 0.3,
            min_lr: None,
        };
        let peak = TEST.choose(&losses, back_off(&cycle)).unwrap();
        assert_eq!((peak.lr, peak.back_off), (0.01, 1.0), "{peak:?}");
        assert_eq!(back_off(&LrSchedule::Constant), BACK_OFF);
        // Retries: a third, to two digits.
        assert_eq!((retry_rate(0.63), retry_rate(0.21)), (0.21, 0.07));
        assert_eq!(retry_rate(1.0), 0.33);
        // Equal lows: the smaller rate.
        let flat = [1.0, 0.5, 0.5, 0.7, 3.0];
        assert!((TEST.choose(&flat, BACK_OFF).unwrap().lowest_lr / 1e-4 - 1.0).abs() < 1e-12);
    }

    /// A blow-up is a loss over [`DIVERGED`] times the lowest before it,
    /// the starting loss included: exactly 4 times is not one, and a
    /// first update that leaves 5 times the start is, so that nothing
    /// after it is chosen.
    #[test]
    fn a_blow_up_is_over_four_times_the_lowest_the_start_included() {
        assert_eq!(diverged_at(&[1.0, 0.25, 1.0, 0.2]), None);
        assert_eq!(diverged_at(&[1.0, 0.25, 1.0 + 1e-12]), Some(2));
        assert_eq!(diverged_at(&[1.0, 3.9, 0.1]), None);
        assert_eq!(diverged_at(&[1.0, 5.0, 0.1]), Some(1));
        assert_eq!(
            TEST.choose(&[1.0, 5.0, 0.1, 0.05], BACK_OFF),
            Err(NoRate::NeverFell { start_loss: 1.0 })
        );
    }

    #[test]
    fn no_rate_where_the_loss_never_fell_or_cannot_be_judged() {
        assert_eq!(
            TEST.choose(&[0.5, 0.5, 0.7, 3.0], BACK_OFF),
            Err(NoRate::NeverFell { start_loss: 0.5 })
        );
        assert_eq!(
            TEST.choose(&[0.5], BACK_OFF),
            Err(NoRate::NeverFell { start_loss: 0.5 })
        );
        assert_eq!(
            TEST.choose(&[f64::NAN, 0.1], BACK_OFF),
            Err(NoRate::StartNotFinite)
        );
        assert_eq!(TEST.choose(&[], BACK_OFF), Err(NoRate::StartNotFinite));
        let e = NoRate::NeverFell { start_loss: 0.5 }.to_string();
        assert!(e.contains("give --lr"), "{e}");
    }
}
