use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = shadertrain::cli::Cli::parse();
    // Before any thread starts: it may set an environment variable.
    #[cfg(all(unix, not(target_vendor = "apple")))]
    shadertrain::gpu::runtime_dir::ensure();
    match shadertrain::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
