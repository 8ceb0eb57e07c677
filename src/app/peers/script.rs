//! Running one peer's script: its output read line by line as it comes,
//! and the script stopped, with every process it started, once its time
//! limit has passed or when bench itself is stopped by a signal.
//!
//! The script runs in a process group of its own, so that a kill reaches
//! the processes it started too (a compile worker, a `sleep` in a shell
//! script). A group of its own no longer receives the terminal's Ctrl-C,
//! so SIGINT, SIGTERM and SIGHUP are caught while a script runs: the group
//! is killed, and then the signal's default action ends shadertrain as it
//! would have without the handlers. At any other time the handlers run
//! that default action at once.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What a script left: its standard output's lines, the last line it wrote
/// to standard error that is not blank, and how it ended (`None`: stopped
/// at its time limit while still running).
pub(super) struct Script {
    pub stdout: Vec<String>,
    pub last_error: String,
    pub status: Option<ExitStatus>,
}

/// How often the loop looks at a caught signal and the clock.
const TICK: Duration = Duration::from_millis(50);

/// How long the lines still in the pipes are read once the script has been
/// stopped. They are not waited for beyond that: a process that left the
/// group may hold the pipes open and keep writing.
const DRAIN: Duration = Duration::from_millis(500);

/// Runs `command` with no input and collects what it writes. Past
/// `timeout` its process group is killed; the lines written before then
/// are kept. A script that has exited while a process it started still
/// holds its pipes is waited for up to the same limit, and then that
/// process is killed too; the script's own exit status is kept.
pub(super) fn run(mut command: Command, timeout: Option<Duration>) -> std::io::Result<Script> {
    let signals = Signals::get();
    // Armed before the spawn, so that no signal between the two takes the
    // default action and leaves the script running.
    let _armed = signals.map(Signals::arm);
    if signals.is_some() {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let group = signals.is_some();
    let from_pipes = read_lines(&mut child);
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut script = Script {
        stdout: Vec::new(),
        last_error: String::new(),
        status: None,
    };
    let mut open = true;
    loop {
        if let Some(signal) = signals.and_then(Signals::caught) {
            stop(&mut child, group);
            // Ends the process: the signal's default action, now restored.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            // A script that has exited keeps its status; what is stopped is
            // whatever of its group still holds the pipes.
            script.status = child.try_wait()?;
            stop(&mut child, group);
            let drain_until = Instant::now() + DRAIN;
            while open {
                let left = drain_until.saturating_duration_since(Instant::now());
                match from_pipes.recv_timeout(left) {
                    Ok(line) => script.keep(line),
                    Err(_) => open = false,
                }
            }
            return Ok(script);
        }
        let wait = deadline.map_or(TICK, |d| (d - now).min(TICK));
        if open {
            match from_pipes.recv_timeout(wait) {
                Ok(line) => script.keep(line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        } else if let Some(status) = child.try_wait()? {
            script.status = Some(status);
            return Ok(script);
        } else {
            std::thread::sleep(wait.min(Duration::from_millis(10)));
        }
    }
}

impl Script {
    /// Standard output's lines are all kept; of standard error's, the last
    /// that is not blank.
    fn keep(&mut self, (out, line): (bool, String)) {
        match out {
            true => self.stdout.push(line),
            false if !line.trim().is_empty() => self.last_error = line,
            false => {}
        }
    }
}

/// Each of the child's pipes read on a thread of its own, so that neither
/// fills while the other is read: `(true, line)` from standard output.
/// Bytes that are not UTF-8 are replaced, not a reason to stop reading.
fn read_lines(child: &mut Child) -> Receiver<(bool, String)> {
    use std::io::BufRead as _;
    let (lines, from_pipes) = channel();
    let pipes: [(bool, Option<Box<dyn std::io::Read + Send>>); 2] = [
        (true, child.stdout.take().map(|p| Box::new(p) as _)),
        (false, child.stderr.take().map(|p| Box::new(p) as _)),
    ];
    for (out, pipe) in pipes {
        let (Some(pipe), lines) = (pipe, lines.clone()) else {
            continue;
        };
        std::thread::spawn(move || {
            let mut pipe = std::io::BufReader::new(pipe);
            let mut bytes = Vec::new();
            loop {
                bytes.clear();
                match pipe.read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                let line = String::from_utf8_lossy(text).into_owned();
                if lines.send((out, line)).is_err() {
                    break;
                }
            }
        });
    }
    from_pipes
}

/// Kills the child and, when it leads a group of its own, every process
/// left in that group; then reaps the child.
fn stop(child: &mut Child, group: bool) {
    match (group, i32::try_from(child.id())) {
        // SAFETY: kill(2) with a negative pid signals a process group and
        // touches no memory. The group is the child's own: its id is the
        // child's pid, which the kernel gives to no other process while
        // the child is unreaped or any process of the group lives.
        (true, Ok(pid)) => unsafe {
            libc::kill(-pid, libc::SIGKILL);
        },
        // Already gone is fine: wait() reaps it either way.
        _ => {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

/// The signals that stop bench, caught for the whole process the first
/// time a script runs, and what the handlers saw.
struct Signals {
    /// The number of the last signal caught while a script ran; 0: none.
    caught: Arc<AtomicUsize>,
    /// Whether a signal takes its default action at once: true except
    /// while a script runs.
    default_action: Arc<AtomicBool>,
}

/// Lowers `default_action` again when the script is done.
struct Armed(&'static Signals);

impl Signals {
    /// The handlers, installed once; `None` where they could not be, and
    /// then scripts run in bench's own group, as a child that the
    /// terminal's signals reach.
    fn get() -> Option<&'static Signals> {
        static SIGNALS: OnceLock<Option<Signals>> = OnceLock::new();
        SIGNALS
            .get_or_init(|| {
                use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
                let signals = Signals {
                    caught: Arc::new(AtomicUsize::new(0)),
                    default_action: Arc::new(AtomicBool::new(true)),
                };
                for signal in [SIGINT, SIGTERM, SIGHUP] {
                    // In this order: the signal is recorded, then its
                    // default action runs unless a script is running.
                    let caught = Arc::clone(&signals.caught);
                    let default_action = Arc::clone(&signals.default_action);
                    signal_hook::flag::register_usize(signal, caught, signal as usize).ok()?;
                    signal_hook::flag::register_conditional_default(signal, default_action).ok()?;
                }
                Some(signals)
            })
            .as_ref()
    }

    fn arm(&'static self) -> Armed {
        self.caught.store(0, Ordering::SeqCst);
        self.default_action.store(false, Ordering::SeqCst);
        Armed(self)
    }

    /// The signal caught while the script ran, if any.
    fn caught(&self) -> Option<i32> {
        match self.caught.load(Ordering::SeqCst) {
            0 => None,
            signal => i32::try_from(signal).ok(),
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.0.default_action.store(true, Ordering::SeqCst);
        // A signal caught after the last look, as the script ended: its
        // default action is taken now.
        if let Some(signal) = self.0.caught() {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    }
}
