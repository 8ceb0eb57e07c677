//! The progress bar of `train`, `bench` and `importance`: on standard
//! error, drawn only on a terminal (indicatif's rule), hidden with
//! `--quiet`.

use std::fmt::Write;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar of `len` steps drawn with `template`, which may use `{rate}`: the
/// steps per second to three digits or so, so that the line keeps its width
/// (indicatif's `{per_sec}` prints every digit, as 632.7337/s).
pub(super) fn bar(quiet: bool, len: usize, template: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr())
    };
    let style = ProgressStyle::with_template(template).expect("the template is valid");
    bar.set_style(
        style.with_key("rate", |s: &ProgressState, w: &mut dyn Write| {
            let _ = w.write_str(&rate(s.per_sec()));
        }),
    );
    bar
}

/// Steps per second for the bar: 0.25/s, 7.81/s, 63.3/s, 633/s, 6327/s.
/// A rate that its decimals would round up to 10 or 100 has the fewer
/// decimals of that size (99.96 is 100/s, not 100.0/s).
fn rate(per_sec: f64) -> String {
    match per_sec {
        r if r >= 99.95 => format!("{r:.0}/s"),
        r if r >= 9.995 => format!("{r:.1}/s"),
        r => format!("{r:.2}/s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_have_about_three_digits() {
        let cases = [
            (0.25, "0.25/s"),
            (7.8125, "7.81/s"),
            (9.994, "9.99/s"),
            (9.996, "10.0/s"),
            (10.0, "10.0/s"),
            (63.33, "63.3/s"),
            (99.94, "99.9/s"),
            (99.96, "100/s"),
            (100.0, "100/s"),
            (632.7337, "633/s"),
            (6327.4, "6327/s"),
        ];
        for (per_sec, shown) in cases {
            assert_eq!(super::rate(per_sec), shown);
        }
    }
}
