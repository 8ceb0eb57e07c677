//! `gen`: the synthetic data set as CSV.

use anyhow::Result;

use crate::cli::GenArgs;
use crate::{io, units};

pub(super) fn gen_command(args: &GenArgs) -> Result<()> {
    io::check_output("--out", &args.out)?;
    io::check_format("--out", &args.out)?;
    for (flag, n) in [("--rows", args.rows), ("--features", args.features)] {
        if n == 0 {
            anyhow::bail!("{flag} must be at least 1");
        }
    }
    io::stop_writes_on_signals()?;
    // A part too large for memory is not a failed write.
    io::write_synthetic_csv(&args.out, args.rows, args.features, args.seed).map_err(
        |e| match e {
            crate::Error::Io { .. } => anyhow::Error::new(e).context("could not write --out"),
            e => e.into(),
        },
    )?;
    let to = match io::is_standard_output(&args.out) {
        true => "standard output".to_string(),
        false => units::one_line(&args.out.display().to_string()).into_owned(),
    };
    let line = format!(
        "wrote {} × {} to {to}\n",
        units::count(args.rows, "row"),
        units::count(args.features, "feature"),
    );
    super::report(&line, [args.out.as_path()])
}
