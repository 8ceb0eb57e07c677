//! `train --grid ... --random N`: N combinations drawn at random from
//! `--grid`'s lists and ranges by `--seed`, on a stream of their own
//! ([`Stream::Search`]): the same on every machine, and a larger N draws
//! the same first combinations, then more.

use std::collections::HashSet;

use anyhow::{bail, Result};

use crate::cli::{GridAxis, GridRange, GridValues};
use crate::rng::{self, Stream};

/// The most options a draw can vary: draw d's value of option a (in
/// `--grid`'s order) is from the 64-bit word at 2·(d·AXES + a) and the
/// next ([`word`]). A constant, so that draws never change.
const AXES: usize = 64;

/// The most draws tried, per combination asked for, before it is said
/// that the ranges hold too few values.
const TRIES: usize = 1000;

/// Significant digits a drawn real keeps, so that a combination's
/// options read as they are given; more where its range is narrower than
/// its value ([`kept`]).
const DIGITS: i32 = 4;

/// A combination's values: each option varied and its value here, in
/// `--grid`'s order.
pub(super) type Values = Vec<(String, String)>;

/// `count` distinct combinations of `grid`'s values, each option's
/// drawn on its own (uniformly from a list or as its range says), and a
/// combination drawn before drawn again. Refused where there is no real
/// range and the lists and whole-number ranges hold fewer than `count`
/// combinations.
pub(super) fn draw(grid: &[GridAxis], count: usize, seed: u64) -> Result<Vec<Values>> {
    assert!(grid.len() <= AXES, "each of the options varies once");
    let finite = grid
        .iter()
        .try_fold(1u64, |n, axis| distinct(axis).map(|d| n.saturating_mul(d)));
    if let Some(finite) = finite.filter(|&f| f < count as u64) {
        let ranges = grid
            .iter()
            .any(|a| matches!(a.values, GridValues::Range(_)));
        match ranges {
            false => bail!(
                "--random {count} is more than --grid's {finite} combinations: give at most {finite}, or leave --random out to try every one"
            ),
            true => bail!(
                "--random {count} is more than the {finite} distinct combinations of --grid's values and whole-number ranges: give at most {finite}"
            ),
        }
    }
    let mut drawn = Vec::with_capacity(count);
    let mut seen: HashSet<Values> = HashSet::with_capacity(count);
    for d in 0..count * TRIES {
        let values: Values = (grid.iter().enumerate())
            .map(|(a, axis)| {
                let w = word(seed, (d * AXES + a) as u64);
                (axis.key.clone(), value(&axis.values, w))
            })
            .collect();
        if seen.insert(values.clone()) {
            drawn.push(values);
            if drawn.len() == count {
                return Ok(drawn);
            }
        }
    }
    bail!(
        "only {} distinct combinations of --grid's values were drawn in {} tries, not --random {count}: widen its ranges, or ask for fewer",
        drawn.len(),
        count * TRIES
    )
}

/// How many values an option's list or whole-number range holds; none
/// for a real range.
fn distinct(axis: &GridAxis) -> Option<u64> {
    match &axis.values {
        GridValues::Values(list) => Some(list.len() as u64),
        // Both ends are below 2⁵³ (`MOST_WHOLE`): no overflow.
        GridValues::Range(r) if r.whole => Some(r.high as u64 - r.low as u64 + 1),
        GridValues::Range(_) => None,
    }
}

/// 64 random bits: the words at 2·`at` (low) and 2·`at` + 1 (high) of
/// [`Stream::Search`] under `seed`.
fn word(seed: u64, at: u64) -> u64 {
    let low = rng::bits(seed, Stream::Search, 2 * at);
    let high = rng::bits(seed, Stream::Search, 2 * at + 1);
    (u64::from(high) << 32) | u64::from(low)
}

/// The value that the 64 random bits `w` choose: from a list, the one at
/// ⌊w·len / 2⁶⁴⌋; from a range, [`in_range`] at u = ⌊w / 2¹¹⌋ / 2⁵³.
fn value(values: &GridValues, w: u64) -> String {
    match values {
        GridValues::Values(list) => {
            let at = (u128::from(w) * list.len() as u128) >> 64;
            list[at as usize].clone()
        }
        GridValues::Range(range) => {
            let u = (w >> 11) as f64 / (1u64 << 53) as f64;
            in_range(range, u)
        }
    }
}

/// The value of `range` at u in [0, 1), as an option reads it. Uniform:
/// low + u·(high − low); log-uniform: exp of that over ln low and ln high.
/// A whole range spans [low, high + 1), takes the floor, and stays
/// within [low, high]. A real is [`kept`] to its digits, and stays within
/// [low, high].
fn in_range(range: &GridRange, u: f64) -> String {
    let (low, high) = (range.low, range.high);
    let top = if range.whole { high + 1.0 } else { high };
    let v = match range.log {
        true => (low.ln() + u * (top.ln() - low.ln())).exp(),
        false => low + u * (top - low),
    };
    if range.whole {
        return (v.floor().clamp(low, high) as u64).to_string();
    }
    let kept = kept(v, high - low).clamp(low, high);
    match kept != 0.0 && !(1e-4..1e6).contains(&kept.abs()) {
        true => format!("{kept:e}"),
        false => kept.to_string(),
    }
}

/// `v` rounded to [`DIGITS`] significant digits of its own or of the
/// range's `width`, whichever keeps more: a step of 10^(e − 3), where e is
/// the lesser of their decimal exponents. So that a range holds about
/// 1,000 values or more unless it spans only a few thousand doubles
/// (0.999..0.9999 draws 0.9995234, not only the 10 of 0.999, 0.9991, ...,
/// 0.9999), and a wide range's values read as 4 digits.
fn kept(v: f64, width: f64) -> f64 {
    if v == 0.0 {
        return v;
    }
    let exponent = |x: f64| -> i32 {
        let text = format!("{x:e}");
        let (_, e) = text.split_once('e').expect("an exponent");
        e.parse().expect("a whole exponent")
    };
    // The width as 12 digits: 0.3 − 0.2 is 0.09999999999999998 in f64,
    // and its exponent is that of 0.1.
    let width: f64 = format!("{width:.11e}").parse().expect("a number");
    let more = (exponent(v) - exponent(width)).max(0);
    let digits = (more + DIGITS - 1) as usize;
    format!("{v:.digits$e}").parse().expect("a number")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(key: &str, values: GridValues) -> GridAxis {
        GridAxis {
            key: key.into(),
            values,
        }
    }

    fn range(low: f64, high: f64, log: bool, whole: bool) -> GridValues {
        GridValues::Range(GridRange {
            low,
            high,
            log,
            whole,
            text: String::new(),
        })
    }

    fn list(values: &[&str]) -> GridValues {
        GridValues::Values(values.iter().map(|v| v.to_string()).collect())
    }

    #[test]
    fn a_range_maps_u_to_its_values() {
        let r = |low, high, log, whole| match range(low, high, log, whole) {
            GridValues::Range(r) => r,
            _ => unreachable!(),
        };
        let uniform = r(0.5, 1.0, false, false);
        assert_eq!(in_range(&uniform, 0.0), "0.5");
        assert_eq!(in_range(&uniform, 0.5), "0.75");
        assert_eq!(in_range(&uniform, 0.123456), "0.5617");
        // Rounding up to 4 digits never leaves the range.
        assert_eq!(in_range(&uniform, 1.0 - 1e-12), "1");
        let log = r(1e-4, 1e-1, true, false);
        assert_eq!(in_range(&log, 0.0), "0.0001");
        assert_eq!(in_range(&log, 0.5), "0.003162");
        assert_eq!(in_range(&r(1e-8, 1e-6, true, false), 0.5), "1e-7");
        assert_eq!(in_range(&r(1e-8, 1e-6, true, false), 0.25), "3.162e-8");
        // From 1e6 on, and at 0 never, a real is written with an exponent.
        assert_eq!(
            in_range(&r(999_000.0, 999_999.0, false, false), 0.0),
            "999000"
        );
        assert_eq!(in_range(&r(1e6, 2e6, false, false), 0.0), "1e6");
        assert_eq!(in_range(&r(1e6, 2e6, false, false), 0.5), "1.5e6");
        assert_eq!(in_range(&r(0.0, 1.0, false, false), 0.0), "0");
        let whole = r(16.0, 19.0, false, true);
        let each: Vec<String> = [0.0, 0.249, 0.25, 0.74, 0.75, 0.999]
            .iter()
            .map(|&u| in_range(&whole, u))
            .collect();
        assert_eq!(each, ["16", "16", "17", "18", "19", "19"]);
        // log: 16..=255 by ln, so that 16..=31 is as likely as 128..=255.
        let wide = r(16.0, 255.0, true, true);
        assert_eq!(in_range(&wide, 0.0), "16");
        assert_eq!(in_range(&wide, 0.2499), "31");
        assert_eq!(in_range(&wide, 0.2501), "32");
        assert_eq!(in_range(&wide, 0.7501), "128");
        assert_eq!(in_range(&wide, 0.99999), "255");
    }

    #[test]
    fn draws_fall_in_their_ranges_spread_over_them() {
        let grid = [
            axis("lr", range(1e-4, 1e-1, true, false)),
            axis("momentum", range(0.8, 0.99, false, false)),
            axis("batch-size", range(16.0, 64.0, false, true)),
            axis("hidden", list(&["8", "16,8", "32"])),
        ];
        let drawn = draw(&grid, 1000, 3).unwrap();
        let column = |a: usize| -> Vec<f64> {
            let mut v: Vec<f64> = drawn.iter().map(|c| c[a].1.parse().unwrap()).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let lr = column(0);
        assert!(lr[0] >= 1e-4 && lr[999] <= 1e-1);
        // Log-uniform: a third of the draws in each decade (333, sd 15;
        // this seed draws 303, 381 and 316).
        let below = |v: &[f64], x: f64| v.iter().filter(|&&y| y < x).count();
        let decade = below(&lr, 1e-3);
        assert!((270..=396).contains(&decade), "{decade}");
        let next = below(&lr, 1e-2) - decade;
        assert!((270..=396).contains(&next), "{decade} {next}");
        let momentum = column(1);
        assert!(momentum[0] >= 0.8 && momentum[999] <= 0.99);
        let median = momentum[500];
        assert!((0.885..0.905).contains(&median), "{median}");
        let batch = column(2);
        assert!(batch.iter().all(|b| b.fract() == 0.0));
        assert_eq!((batch[0], batch[999]), (16.0, 64.0));
        let hidden: HashSet<&str> = drawn.iter().map(|c| c[3].1.as_str()).collect();
        assert_eq!(hidden.len(), 3);
        assert!(drawn.iter().all(|c| c.iter().map(|p| p.0.as_str()).eq([
            "lr",
            "momentum",
            "batch-size",
            "hidden"
        ])));
    }

    #[test]
    fn the_same_seed_draws_the_same_and_more_draws_extend_them() {
        let grid = [
            axis("lr", range(1e-3, 1.0, true, false)),
            axis("weight-decay", list(&["0", "1e-4"])),
        ];
        let ten = draw(&grid, 10, 7).unwrap();
        assert_eq!(ten, draw(&grid, 10, 7).unwrap());
        assert_eq!(ten[..], draw(&grid, 25, 7).unwrap()[..10]);
        assert_ne!(ten, draw(&grid, 10, 8).unwrap());
    }

    #[test]
    fn lists_alone_are_drawn_without_a_combination_twice() {
        let grid = [
            axis("lr", list(&["0.1", "0.01", "0.001"])),
            axis("hidden", list(&["4", "8"])),
        ];
        let all = draw(&grid, 6, 0).unwrap();
        let distinct: HashSet<&Values> = all.iter().collect();
        assert_eq!(distinct.len(), 6);
        let over = draw(&grid, 7, 0).unwrap_err().to_string();
        assert!(over.contains("more than --grid's 6 combinations"), "{over}");
        // A whole range counts its values.
        let counted = [
            axis("batch-size", range(8.0, 10.0, false, true)),
            axis("hidden", list(&["4", "8"])),
        ];
        assert_eq!(draw(&counted, 6, 1).unwrap().len(), 6);
        let over = draw(&counted, 7, 1).unwrap_err().to_string();
        assert!(over.contains("the 6 distinct combinations"), "{over}");
    }

    #[test]
    fn a_narrow_range_keeps_the_digits_that_tell_its_values_apart() {
        // 4 digits of the width, 9e-4: steps of 1e-7, 9,001 values, where
        // 4 of their own would leave 10 (0.999, 0.9991, ..., 0.9999).
        let narrow = [axis("beta2", range(0.999, 0.9999, false, false))];
        let drawn = draw(&narrow, 500, 0).unwrap();
        let values: Vec<f64> = drawn.iter().map(|c| c[0].1.parse().unwrap()).collect();
        assert!(values.iter().all(|v| (0.999..=0.9999).contains(v)));
        assert!(drawn.iter().all(|c| c[0].1.len() <= "0.9999999".len()));
        assert!(drawn.iter().any(|c| c[0].1.len() == "0.9999999".len()));
        // A wide range's values keep 4 digits of their own.
        assert_eq!(kept(0.0123456, 0.1), 0.01235);
        assert_eq!(kept(0.0123456, 0.001), 0.012346);
        assert_eq!(kept(123.456, 1000.0), 123.5);
        assert_eq!(kept(0.0, 1.0), 0.0);
        // 4 digits of the width 0.1 whether it comes as 0.1 or 0.0999...
        assert_eq!(kept(0.225549, 0.3 - 0.2), 0.2255);
        assert_eq!(kept(1.100413, 1.2 - 1.1), 1.1004);
        // Rounding never leaves the range: 0.1..0.12349 rounds u = 1 to
        // 0.1235, clamped to the end.
        let top = match range(0.1, 0.12349, false, false) {
            GridValues::Range(r) => r,
            _ => unreachable!(),
        };
        assert_eq!(in_range(&top, 1.0 - 1e-12), "0.12349");
        // Only the two doubles of 0.1..next(0.1) are there to draw.
        let next = f64::from_bits(0.1f64.to_bits() + 1);
        let tiny = [axis("tol", range(0.1, next, false, false))];
        assert_eq!(draw(&tiny, 2, 0).unwrap().len(), 2);
        let three = draw(&tiny, 3, 0).unwrap_err().to_string();
        assert!(
            three.contains(
                "only 2 distinct combinations of --grid's values were drawn in 3000 tries"
            ),
            "{three}"
        );
    }

    /// The draws of seed 0, written out: they are the same on every
    /// machine and in every version, and this holds them so. Each option's
    /// word, its place among the words and the bits taken from it are in
    /// them.
    #[test]
    fn seed_0s_draws_are_these() {
        let grid = [
            axis("lr", range(1e-3, 0.1, true, false)),
            axis("batch-size", range(16.0, 64.0, false, true)),
            axis("hidden", list(&["4", "6,3"])),
        ];
        let drawn = draw(&grid, 6, 0).unwrap();
        let each: Vec<[&str; 3]> = (drawn.iter())
            .map(|c| [c[0].1.as_str(), c[1].1.as_str(), c[2].1.as_str()])
            .collect();
        assert_eq!(
            each,
            [
                ["0.003242", "56", "4"],
                ["0.001019", "47", "6,3"],
                ["0.02425", "42", "6,3"],
                ["0.001842", "60", "6,3"],
                ["0.03252", "61", "4"],
                ["0.002968", "59", "4"],
            ]
        );
    }
}
