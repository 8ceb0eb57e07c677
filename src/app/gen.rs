//! `gen`: the synthetic data set as CSV.

use anyhow::{Context as _, Result};

use crate::cli::GenArgs;
use crate::data::Dataset;
use crate::{io, units};

pub(super) fn gen_command(args: &GenArgs) -> Result<()> {
    io::check_output("--out", &args.out)?;
    for (flag, n) in [("--rows", args.rows), ("--features", args.features)] {
        if n == 0 {
            anyhow::bail!("{flag} must be at least 1");
        }
    }
    let data = Dataset::synthetic(args.rows, args.features, args.seed)?;
    io::stop_writes_on_signals()?;
    io::write_csv(&args.out, &data).context("could not write --out")?;
    let to = match io::is_standard_output(&args.out) {
        true => "standard output".to_string(),
        false => args.out.display().to_string(),
    };
    let line = format!(
        "wrote {} × {} to {to}\n",
        units::count(data.rows, "row"),
        units::count(data.features, "feature"),
    );
    super::report(&line, [args.out.as_path()])
}
