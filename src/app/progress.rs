//! The progress bar of `train` and `bench`: on standard error, drawn only
//! on a terminal (indicatif's rule), hidden with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps drawn with `template`.
pub(super) fn bar(quiet: bool, len: usize, template: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(ProgressStyle::with_template(template).expect("the template is valid"));
    bar
}
