use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match shadertrain::cli::Cli::try_parse_noting_given(std::env::args_os()) {
        Ok(cli) => cli,
        // Usage errors, and --help and --version, which clap prints
        // itself: --help or --version that cannot be written to standard
        // output (a full disk) is exit 1, where clap's own exit would give
        // 0; a closed pipe is not a failure, and a usage error keeps its
        // exit code whether or not standard error takes its message.
        Err(e) => {
            // Under mpirun every process parses the same command line:
            // the usage error is said once, by the first. The others wait
            // before they fail: mpirun ends the job at the first process
            // that fails, and the first's message was lost where another
            // ended before it had printed.
            if e.use_stderr() && shadertrain::dist::rank_by_launcher() != 0 {
                std::thread::sleep(std::time::Duration::from_secs(2));
                return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
            }
            return match e.print() {
                Err(err) if !e.use_stderr() && err.kind() != std::io::ErrorKind::BrokenPipe => {
                    shadertrain::say!("error: could not write to standard output: {err}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::from(e.exit_code().clamp(0, 255) as u8),
            };
        }
    };
    // Which signals the process was started ignoring (nohup's SIGHUP), read
    // before any handler is installed, so that they stay ignored.
    shadertrain::io::ignored_at_start(libc::SIGHUP);
    // Before any thread starts: it may set an environment variable.
    #[cfg(all(unix, not(target_vendor = "apple")))]
    shadertrain::gpu::runtime_dir::ensure();
    match shadertrain::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line, whatever a path in it holds.
            let text = format!("{err:#}");
            shadertrain::say!("error: {}", shadertrain::units::one_line(&text));
            ExitCode::FAILURE
        }
    }
}
