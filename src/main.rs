use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = shadertrain::cli::Cli::parse();
    match shadertrain::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
