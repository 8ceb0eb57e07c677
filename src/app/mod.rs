//! What each subcommand does, from parsed options to files and a summary.
//!
//! - `config`: `train`'s options, defaults and checks, from the command
//!   line or a checkpoint; `bench`'s checks.
//! - `train`: the `train` pipeline: data, starting model, backend, fit,
//!   outputs.
//! - `report`: what a run leaves behind: history, plot, model, the JSON
//!   summary, the printed summary.
//! - `validation`: the held-out loss of `--validation-split`.
//! - `progress`: the progress bar of `train` and `bench`.
//! - `bench_cmd`, `predict`, `gen`, `info`: the other subcommands.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

mod bench_cmd;
mod config;
mod gen;
mod info;
mod predict;
mod progress;
mod report;
mod train;
mod validation;

pub use config::RunOptions;
pub use report::{Milestone, Summary};
pub use validation::Validation;

/// Runs one subcommand; the exit code is 0, or 130 after Ctrl-C.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Train(args) => train::train_command(&args),
        Command::Predict(args) => done(predict::predict_command(&args)),
        Command::Gen(args) => done(gen::gen_command(&args)),
        Command::Bench(args) => done(bench_cmd::bench_command(&args)),
        Command::Info => done(info::info_command()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "shadertrain", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
