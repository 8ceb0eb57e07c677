//! What each subcommand does, from parsed options to files and a summary.
//!
//! - `config`: `train`'s options, defaults and checks, from the command
//!   line or a checkpoint; `bench`'s checks.
//! - `train`: the `train` pipeline: data, starting model, backend, fit,
//!   outputs; `ending`: how a run ends: its error, its note after a
//!   signal, its summary, notices and warnings; `decay_search`: the
//!   weight decay a run on few rows chooses by cross-validation.
//! - `report`: what a run leaves behind: history, plot, model, the JSON
//!   summary, the printed summary.
//! - `validation`: the held-out loss of `--validation-split`.
//! - `folds`: `train --folds`, K-fold cross-validation, and `--save`'s
//!   run on every row after it; `grid`: its `--grid` search, by successive
//!   halving with `--halving`.
//! - `budget`: what a run needs in memory, checked before it allocates.
//! - `progress`: the progress bar of `train`, `bench` and `importance`.
//! - `bench_dist`: `bench --distributed`, the sharded trainer's epochs.
//! - `bench_cmd`, `predict`, `importance`, `gen`, `info`: the other
//!   subcommands;
//!   `peers`: `bench --peers`, the Python frameworks timed alongside.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Appends a formatted line to a `String` of standard output text: one
/// line whatever a path or name in it holds (control characters but tabs
/// escaped, [`crate::units::one_line`]).
macro_rules! outln {
    ($s:expr) => {
        $s.push('\n')
    };
    ($s:expr, $($arg:tt)*) => {{
        $s.push_str(&crate::units::one_line(&format!($($arg)*)));
        $s.push('\n');
    }};
}

mod bench_cmd;
mod bench_dist;
mod budget;
mod cells;
mod config;
mod decay_search;
mod ending;
mod folds;
mod gen;
mod grid;
mod importance;
mod info;
mod peers;
mod predict;
mod progress;
mod random;
mod report;
mod train;
mod validation;

pub use config::RunOptions;
pub use report::{Milestone, Summary};
pub use validation::Validation;

/// Standard output was closed by its reader (`| head`): the command ends
/// quietly, with success, like other Unix tools.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct ClosedPipe;

/// A failure another process of a distributed run has reported: this one
/// ends with a failure status, printing nothing.
#[derive(Debug, thiserror::Error)]
#[error("reported by process 0")]
pub struct Reported;

/// Prints a command's report (train's summary, predict's scores, gen's
/// line, bench's table) on standard output, or on standard error where
/// one of the command's `outputs` is standard output (`--json
/// /dev/stdout`), so that the report never mixes into a file written there.
/// A reader that closed standard output early (`| head`, `| true`) ends
/// the report, not the command: the files asked for, which every command
/// writes after its report or before it, are still written.
pub(crate) fn report<'a>(text: &str, outputs: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    if outputs.into_iter().any(crate::io::is_standard_output) {
        // As say!, without a line end of its own.
        let _ = std::io::stderr().write_all(text.as_bytes());
        Ok(())
    } else {
        match emit(text) {
            Err(e) if e.is::<ClosedPipe>() => Ok(()),
            other => other,
        }
    }
}

/// A command's `outputs` (flag, path) and, where none of them is standard
/// output, standard output itself as its report, which [`report`] prints
/// there: for [`crate::io::check_distinct`], so that a shell's
/// `>> data.csv` is refused before the report is written into the file
/// the command reads.
pub(crate) fn and_the_report<'a>(outputs: &[(&'a str, &'a Path)]) -> Vec<(&'a str, &'a Path)> {
    let mut all = outputs.to_vec();
    if !(outputs.iter()).any(|(_, path)| crate::io::is_standard_output(path)) {
        all.push(("the report", Path::new("/dev/stdout")));
    }
    all
}

/// Refuses two of a command's `outputs` (flag, path) on standard output,
/// where their text would mix into one stream neither reader could parse.
pub(crate) fn one_on_standard_output(outputs: &[(&str, &Path)]) -> Result<()> {
    let on: Vec<&str> = (outputs.iter())
        .filter(|(_, path)| crate::io::is_standard_output(path))
        .map(|(flag, _)| *flag)
        .collect();
    if on.len() > 1 {
        let (all, but) = match on.len() {
            2 => ("both", "one"),
            _ => ("all", "all but one"),
        };
        anyhow::bail!(
            "{} {all} write to standard output, where they would mix; give {but} of them a file",
            on.join(" and ")
        );
    }
    Ok(())
}

/// Writes `text` to standard output. A closed pipe is [`ClosedPipe`];
/// another failure (a full disk) is an error that says so, never a panic.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedPipe.into()),
        Err(e) => Err(anyhow::anyhow!("writing to standard output: {e}")),
    }
}

/// Writes `record` as pretty JSON, with a final line end, atomically to
/// `path` (`-` is standard output).
pub(crate) fn write_json(path: &Path, record: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(record).expect("a record serialises");
    text.push('\n');
    crate::io::write_atomically(path, |w| w.write_all(text.as_bytes()))?;
    Ok(())
}

/// Prints `text` as a notice on standard error: something the user may
/// want to know that changes nothing about the result (which backend was
/// chosen, a thread count lowered). `--quiet` drops notices; warnings
/// (the result may be bad, work may be lost) and errors are always shown.
pub(crate) fn notice(quiet: bool, text: &str) {
    use std::sync::atomic::Ordering;
    if !quiet && !QUIET.load(Ordering::Relaxed) {
        crate::say!("notice: {text}");
    }
}

/// Every notice left unsaid, for the rest of the command: `predict
/// --quiet` and `importance --quiet`, whose notices come from functions
/// the two commands share (the data's, the model's), each of which would
/// otherwise take the flag. [`run`] lowers it as each command starts.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Leaves every later notice of this command unsaid ([`QUIET`]), or says
/// them.
pub(crate) fn quiet_notices(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Says, where the model `path` that a command reads is a checkpoint,
/// which parameters its output (`what`: "these predictions are") is of:
/// its last epoch's, not those its run keeps for `--save` with `--keep`.
pub(crate) fn checkpoint_notice(path: &Path, what: &str) {
    let Some(c) = crate::io::checkpoint_as_model(path) else {
        return;
    };
    let cut = match c.cut_short {
        true => " (its run was cut short there)",
        false => "",
    };
    let kept = c.kept_epoch.map_or(String::new(), |k| {
        format!("; it also holds epoch {k}'s, which --keep kept: those are what its run's --save writes, where it writes one")
    });
    notice(
        false,
        &format!(
            "{} is a checkpoint; {what} of its parameters after epoch {}{cut}{kept}",
            path.display(),
            c.epoch
        ),
    );
}

/// Says the notice `text` gives, where `config`'s process prints, unless
/// `said` (the folds' flag, where the run is one of `--folds`' or
/// `--grid`'s) says it was said already: once for all their runs.
pub(crate) fn notice_once(
    config: &config::TrainConfig,
    said: Option<&mut bool>,
    text: impl FnOnce() -> String,
) {
    notices_once(config, said, || vec![text()]);
}

/// [`notice_once`] for several notices said together, or not at all.
pub(crate) fn notices_once(
    config: &config::TrainConfig,
    said: Option<&mut bool>,
    texts: impl FnOnce() -> Vec<String>,
) {
    if config.leader && !said.as_deref().is_some_and(|s| *s) {
        for text in texts() {
            notice(config.quiet, &text);
        }
    }
    if let Some(said) = said {
        *said = true;
    }
}

/// The notice that `--threads asked` runs `used` threads on `rows` rows
/// (`on`: where, such as " on S0", or empty), where it is fewer.
pub(crate) fn threads_lowered(quiet: bool, (asked, used): (usize, usize), rows: usize, on: &str) {
    if asked > used {
        notice(
            quiet,
            &format!(
                "--threads {asked} lowered to {used}{on}: the cpu backend splits the rows into blocks of 64 and gives each thread one or more, and {} make {}",
                crate::units::count(rows, "row"),
                crate::units::count(rows.div_ceil(64), "block"),
            ),
        );
    }
}

/// Runs one subcommand; the exit code is 0, or after a signal stopped
/// `train`, 128 + its number (130 for Ctrl-C, 143 for SIGTERM, 129 for
/// SIGHUP).
pub fn run(cli: Cli) -> Result<ExitCode> {
    quiet_notices(false);
    // train reports an output whose pipe closed as a failed output; only
    // its summary on standard output ends quietly.
    let train = matches!(cli.command, Command::Train(_));
    let inputs = input_flags(&cli.command);
    let result = run_command(cli).map_err(|e| named_flag(e, &inputs));
    if let Some((path, signal)) = result.as_ref().err().and_then(write_stopped) {
        let name = train::signal_name(signal).unwrap_or("a signal");
        crate::say!(
            "interrupted ({name}) while writing {}; nothing was written to it",
            path.display()
        );
        return Ok(ExitCode::from(128 + signal as u8));
    }
    match result {
        Err(e) if e.downcast_ref::<ClosedPipe>().is_some() => Ok(ExitCode::SUCCESS),
        Err(e) if !train && closed_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<Reported>().is_some() => Ok(ExitCode::FAILURE),
        other => other,
    }
}

/// The input files a command names, each with its flag.
fn input_flags(command: &Command) -> Vec<(&'static str, std::path::PathBuf)> {
    let pairs = match command {
        Command::Train(a) => vec![
            ("--data", a.data.clone()),
            ("--init", a.init.clone()),
            ("--resume", a.resume.clone()),
        ],
        Command::Predict(a) => vec![
            ("--model", Some(a.model.clone())),
            ("--data", Some(a.data.clone())),
        ],
        Command::Importance(a) => vec![
            ("--model", Some(a.model.clone())),
            ("--data", Some(a.data.clone())),
        ],
        _ => Vec::new(),
    };
    (pairs.into_iter())
        .filter_map(|(flag, path)| Some((flag, path?)))
        .collect()
}

/// `e`, where it is a file of `inputs` that does not exist or is a
/// folder, as "--data FILE: No such file or directory": the flag that
/// named it said first. Outputs are checked for both before any work (a
/// folder opens, and its first read fails), so such an error on a path
/// an input flag names is the input's. A model
/// or checkpoint flag given `-` is told that it does not read standard
/// input.
fn named_flag(e: anyhow::Error, inputs: &[(&str, std::path::PathBuf)]) -> anyhow::Error {
    use std::io::ErrorKind;
    let Some(crate::Error::Io { path, error }) = e.downcast_ref::<crate::Error>() else {
        return e;
    };
    if !matches!(error.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) {
        return e;
    }
    // A path given to several flags names them all.
    let flags: Vec<&str> = (inputs.iter())
        .filter(|(_, p)| p == path)
        .map(|(flag, _)| *flag)
        .collect();
    let flags = flags.join(" and ");
    // --data's `-` is standard input (/dev/stdin) by now; a model's or a
    // checkpoint's is not.
    let dash = match path.as_os_str() == "-" && error.kind() == ErrorKind::NotFound {
        true => format!("; {flags} reads a file, not standard input (./- names a file called -)"),
        false => String::new(),
    };
    match flags.is_empty() {
        true => e,
        false => anyhow::anyhow!("{flags} {}: {error}{dash}", path.display()),
    }
}

/// Collects the outputs of a command that writes each whatever became of
/// the others (bench's, --folds'): a failure is noted by its flag, except
/// a write a signal stopped, and where `closed_pipe_ends` (every command
/// but `train`) a reader that closed the pipe, which end the command as
/// [`run`] ends them.
pub(crate) struct Outputs {
    failed: Vec<String>,
    closed_pipe_ends: bool,
}

impl Outputs {
    pub fn new(closed_pipe_ends: bool) -> Outputs {
        Outputs {
            failed: Vec::new(),
            closed_pipe_ends,
        }
    }

    /// Notes `written`'s failure under `flag`, or returns it where it ends
    /// the command.
    pub fn note(&mut self, flag: &str, written: Result<()>) -> Result<()> {
        let ends = |e: &anyhow::Error| {
            write_stopped(e).is_some() || (self.closed_pipe_ends && closed_pipe(e))
        };
        match written {
            Err(e) if ends(&e) => Err(e),
            Err(e) => {
                self.failed.push(format!("{flag}: {e:#}"));
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// An error naming every output that failed, then `done` (what was
    /// still shown), if any failed.
    pub fn check(self, done: &str) -> Result<()> {
        if self.failed.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "could not write {}; {done}",
            self.failed.join("; could not write ")
        )
    }
}

/// The output and the signal, where `e` is a write a signal stopped
/// ([`crate::io::stop_writes_on_signals`]).
fn write_stopped(e: &anyhow::Error) -> Option<(&std::path::Path, i32)> {
    match e.downcast_ref::<crate::Error>() {
        Some(crate::Error::Io { path, error }) => {
            let stopped = error.get_ref()?.downcast_ref::<crate::io::WriteStopped>()?;
            Some((path, stopped.0))
        }
        _ => None,
    }
}

/// Whether `e` is a reader that closed an output written straight through
/// (`--out /dev/stdout`, a FIFO) early: the write found the pipe broken.
fn closed_pipe(e: &anyhow::Error) -> bool {
    let broken = |error: &std::io::Error| error.kind() == std::io::ErrorKind::BrokenPipe;
    matches!(e.downcast_ref::<crate::Error>(), Some(crate::Error::Io { error, .. }) if broken(error))
}

fn run_command(cli: Cli) -> Result<ExitCode> {
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Train(args) => train::train_command(&args),
        Command::Predict(args) => done(predict::predict_command(&args)),
        Command::Importance(args) => done(importance::importance_command(&args)),
        Command::Gen(args) => done(gen::gen_command(&args)),
        Command::Bench(args) => done(bench_cmd::bench_command(&args)),
        Command::Info(args) => done(info::info_command(&args)),
        Command::Completions { shell } => {
            let mut cmd = crate::cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "shadertrain", &mut script);
            emit(&String::from_utf8_lossy(&script))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn every_output_that_failed_is_named_by_its_flag() {
        let mut outputs = Outputs::new(true);
        let full = |what: &str| Err(anyhow::anyhow!("{what}: No space left on device"));
        outputs.note("--json", full("/dev/full")).unwrap();
        outputs.note("--plot", Ok(())).unwrap();
        outputs.note("--out", full("out.csv")).unwrap();
        let e = outputs.check("the table was printed").unwrap_err();
        assert_eq!(
            e.to_string(),
            "could not write --json: /dev/full: No space left on device; \
             could not write --out: out.csv: No space left on device; the table was printed"
        );
        assert!(Outputs::new(false).check("nothing failed").is_ok());
    }

    #[test]
    fn an_input_not_found_is_named_by_its_flag() {
        let not_found = |path: &str| {
            let e = std::io::Error::from(std::io::ErrorKind::NotFound);
            anyhow::Error::new(crate::Error::io(path, e))
        };
        let inputs = [
            ("--data", PathBuf::from("gone.csv")),
            ("--init", PathBuf::from("-")),
        ];
        let named = |path| named_flag(not_found(path), &inputs).to_string();
        // Only a model's or a checkpoint's `-` is told of standard input.
        assert_eq!(named("gone.csv"), "--data gone.csv: entity not found");
        assert_eq!(
            named("-"),
            "--init -: entity not found; --init reads a file, not standard input (./- names a file called -)"
        );
        // A path no input flag names is left as it was.
        assert_eq!(named("other.csv"), "other.csv: entity not found");
    }
}
