//! `gen`: the synthetic data set as CSV.

use anyhow::Result;

use crate::cli::GenArgs;
use crate::data::Dataset;
use crate::io;

pub(super) fn gen_command(args: &GenArgs) -> Result<()> {
    io::check_output_path(&args.out)?;
    let data = Dataset::synthetic(args.rows, args.features, args.seed)?;
    io::write_csv(&args.out, &data)?;
    super::emit(&format!(
        "wrote {} rows × {} features to {}\n",
        data.rows,
        data.features,
        args.out.display()
    ))
}
