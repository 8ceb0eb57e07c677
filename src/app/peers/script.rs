//! Running one peer's script: its output read line by line as it comes,
//! and the script stopped, with every process it started, once its time
//! limit has passed or when bench itself is stopped by a signal.
//!
//! The script runs in a process group of its own, so that a kill reaches
//! the processes it started too (a compile worker, a `sleep` in a shell
//! script), even those left running after the script exited. A group of
//! its own no longer receives what the terminal sends bench's, so while a
//! script runs bench catches SIGINT (Ctrl-C), SIGQUIT (`Ctrl-\`), SIGTERM
//! and SIGHUP: the group is killed, the scripts' folder removed, and then
//! the signal's default action ends shadertrain as it would have without
//! the handlers. SIGTSTP (Ctrl-Z) stops the group, then bench; when bench
//! is continued, so is the group, and the time stopped does not count
//! against the limit. A signal that bench inherited as ignored (`nohup`,
//! a shell's background job) is left ignored. At any other time the
//! handlers take the default action at once. The scripts' folder exists
//! only while the handlers are armed, so no signal leaves it behind.
//!
//! SIGSTOP cannot be caught: it stops bench alone, and the script runs on
//! until bench is continued. A script that calls setsid() fails: it
//! already leads its group. A process that starts a session of its own
//! leaves the group; once the script has exited, bench reads its output
//! for [`DRAIN`] at most and leaves it running.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What a script left: its standard output's lines, up to [`KEPT`] bytes
/// of them, the number of lines left out past that, the last line it wrote
/// to standard error that is not blank, and how it ended (`None`: stopped
/// at its time limit while still running).
#[derive(Default)]
pub(super) struct Script {
    pub stdout: Vec<String>,
    kept: usize,
    pub left_out: usize,
    pub last_error: String,
    pub status: Option<ExitStatus>,
}

/// The most of a script's standard output that is kept, in bytes with
/// each line's own bookkeeping counted. A peer's script prints a line of
/// about 300 bytes per shape and a few of progress; what a runaway writes
/// past this is counted, not kept.
pub(super) const KEPT: usize = 16 << 20;

/// How often the loop looks at a caught signal and the clock.
const TICK: Duration = Duration::from_millis(50);

/// How long the lines still in the pipes are read once the script has
/// exited or been stopped. They are not waited for beyond that: a process
/// the script left may hold the pipes open and keep writing; then it is
/// killed.
const DRAIN: Duration = Duration::from_millis(500);

/// Runs `command` with no input in the folder that `make_folder` makes,
/// and collects what it writes. Past `timeout` its process group is
/// killed; the lines written before then are kept. Once the script has
/// exited, what it left in its group gets [`DRAIN`] more to finish
/// writing, and is then killed; the script's own exit status is kept. A
/// signal that stops bench meanwhile removes the folder before it ends
/// the process; otherwise the folder is removed when the script is done.
pub(super) fn run(
    mut command: Command,
    timeout: Option<Duration>,
    make_folder: impl FnOnce() -> anyhow::Result<tempfile::TempDir>,
) -> anyhow::Result<Script> {
    let signals = Signals::get();
    // Armed before the folder is made and the script spawned, so that no
    // signal in between takes the default action and leaves either behind;
    // declared first, so dropped last (the group is killed and the folder
    // removed first).
    let _armed = signals.map(Signals::arm);
    let folder = make_folder()?;
    let folder = folder.path();
    command.current_dir(folder);
    let group = signals.is_some();
    if group {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut running = Running {
        child,
        group,
        reaped: false,
    };
    let from_pipes = read_lines(&mut running.child);
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut script = Script::default();
    let (mut open, mut exited_at) = (true, None::<Instant>);
    loop {
        if let Some(signals) = signals {
            if let Some(signal) = signals.caught() {
                running.stop();
                let _ = std::fs::remove_dir_all(folder);
                end_by(signal);
            }
            if signals.stop_asked.swap(false, Ordering::SeqCst) && may_stop() {
                let stopped = Instant::now();
                running.signal_group(libc::SIGSTOP);
                // SAFETY: raise(3) touches no memory. Bench stops here
                // until it is continued.
                unsafe { libc::raise(libc::SIGSTOP) };
                running.signal_group(libc::SIGCONT);
                deadline = deadline.map(|d| d + stopped.elapsed());
            }
        }
        let now = Instant::now();
        if exited_at.is_none() && running.exited()? {
            exited_at = Some(now);
        }
        if !open && exited_at.is_some() {
            script.status = Some(running.stop());
            return Ok(script);
        }
        let last_call = exited_at.map(|t| t + DRAIN);
        let until = [deadline, last_call].into_iter().flatten().min();
        if until.is_some_and(|u| now >= u) {
            // At the limit, or the script exited and what it left still
            // holds the pipes: a script that has exited keeps its status.
            let status = running.stop();
            script.status = exited_at.map(|_| status);
            // Until the pipes close, and no longer than DRAIN however fast
            // a process outside the group writes.
            let drain_until = Instant::now() + DRAIN;
            while open {
                let left = drain_until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match from_pipes.recv_timeout(left) {
                    Ok(line) => script.keep(line),
                    Err(_) => open = false,
                }
            }
            return Ok(script);
        }
        let wait = until.map_or(TICK, |u| (u - now).min(TICK));
        if open {
            match from_pipes.recv_timeout(wait) {
                Ok(line) => script.keep(line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        } else {
            std::thread::sleep(wait.min(Duration::from_millis(10)));
        }
    }
}

impl Script {
    /// Standard output's lines are kept up to [`KEPT`] bytes, and counted
    /// past that; of standard error's, the last that is not blank.
    fn keep(&mut self, (out, line): (bool, String)) {
        match out {
            true if self.kept + line.len() + size_of::<String>() <= KEPT => {
                self.kept += line.len() + size_of::<String>();
                self.stdout.push(line);
            }
            true => self.left_out += 1,
            false if !line.trim().is_empty() => self.last_error = line,
            false => {}
        }
    }
}

/// Each of the child's pipes read on a thread of its own, so that neither
/// fills while the other is read: `(true, line)` from standard output.
/// Bytes that are not UTF-8 are replaced, not a reason to stop reading.
/// The queue is short: a writer faster than the reading waits on its pipe.
fn read_lines(child: &mut Child) -> Receiver<(bool, String)> {
    use std::io::BufRead as _;
    let (lines, from_pipes) = sync_channel(1024);
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

/// Ends the process by `signal`'s default action, as if no handler had
/// caught it (a shell sees 128 + its number).
fn end_by(signal: i32) {
    let _ = signal_hook::low_level::emulate_default_handler(signal);
}

/// Whether SIGTSTP may stop bench. The kernel discards it for a process
/// group that is orphaned: no member has a parent in another group of the
/// same session, so no shell would continue it. Judged by bench's parent:
/// one in bench's own group is taken to lead to such a shell.
fn may_stop() -> bool {
    // SAFETY: these calls touch no memory.
    unsafe {
        let parent = libc::getppid();
        let parents_group = libc::getpgid(parent);
        parents_group == libc::getpgrp() || libc::getsid(parent) == libc::getsid(0)
    }
}

/// The script's process, and its group where it leads one: killed and
/// reaped when dropped, unless reaped already (an error or a panic in the
/// loop leaves nothing running).
struct Running {
    child: Child,
    group: bool,
    reaped: bool,
}

impl Running {
    /// Whether the script has exited, without reaping it: while it is
    /// unreaped, its pid, which is its group's id, is given to no other
    /// process, so the group can still be killed safely.
    #[cfg(target_os = "linux")]
    fn exited(&mut self) -> std::io::Result<bool> {
        let pid = self.child.id();
        // SAFETY: waitid(2) writes only `info`, a zeroed siginfo_t of
        // ours; WNOWAIT leaves the child to be reaped by `stop`.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_PID, pid, &mut info, flags) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(info.si_pid() != 0)
        }
    }

    /// Elsewhere the script is reaped when seen to have exited, and
    /// neither it nor its group is signalled after that (their id may
    /// have been reused); `stop` then gives the status kept.
    #[cfg(not(target_os = "linux"))]
    fn exited(&mut self) -> std::io::Result<bool> {
        let exited = self.child.try_wait()?.is_some();
        self.reaped |= exited;
        Ok(exited)
    }

    /// Sends `signal` to the script's group (to the script alone where it
    /// leads none).
    fn signal_group(&self, signal: i32) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        let target = if self.group { -pid } else { pid };
        if !self.reaped {
            // SAFETY: kill(2) touches no memory. The group's id is the
            // script's pid, which the kernel gives to no other process
            // while the script is unreaped.
            unsafe { libc::kill(target, signal) };
        }
    }

    /// Kills the script and every process left in its group, then reaps
    /// the script: its exit status, or the kill's.
    fn stop(&mut self) -> ExitStatus {
        self.signal_group(libc::SIGKILL);
        if !self.group && !self.reaped {
            // Already gone is fine: wait() reaps it either way.
            let _ = self.child.kill();
        }
        let status = self.child.wait();
        self.reaped = true;
        // wait() fails only where the child is gone already; then its
        // status is not known, and a kill's stands in for it.
        status.unwrap_or_else(|_| {
            use std::os::unix::process::ExitStatusExt as _;
            ExitStatus::from_raw(libc::SIGKILL)
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.stop();
        }
    }
}

/// The signals that stop bench, caught for the whole process the first
/// time a script runs, and what the handlers saw.
struct Signals {
    /// The number of the last signal caught while a script ran that ends
    /// bench; 0: none.
    caught: Arc<AtomicUsize>,
    /// SIGTSTP caught while a script ran.
    stop_asked: Arc<AtomicBool>,
    /// Whether a signal takes its default action at once: true except
    /// while a script runs.
    default_action: Arc<AtomicBool>,
}

/// Raises `default_action` again when the script is done.
struct Armed {
    signals: &'static Signals,
}

impl Signals {
    /// The handlers, installed once; `None` where they could not be, and
    /// then scripts run in bench's own group, as a child that the
    /// terminal's signals reach.
    fn get() -> Option<&'static Signals> {
        static SIGNALS: OnceLock<Option<Signals>> = OnceLock::new();
        SIGNALS
            .get_or_init(|| {
                use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP};
                let signals = Signals {
                    caught: Arc::new(AtomicUsize::new(0)),
                    stop_asked: Arc::new(AtomicBool::new(false)),
                    default_action: Arc::new(AtomicBool::new(true)),
                };
                for signal in [SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP] {
                    if ignored(signal) {
                        continue;
                    }
                    // In this order: the signal is recorded, then its
                    // default action runs unless a script is running.
                    match signal {
                        SIGTSTP => {
                            let stop = Arc::clone(&signals.stop_asked);
                            signal_hook::flag::register(signal, stop).ok()?
                        }
                        _ => {
                            let caught = Arc::clone(&signals.caught);
                            signal_hook::flag::register_usize(signal, caught, signal as usize)
                                .ok()?
                        }
                    };
                    let default_action = Arc::clone(&signals.default_action);
                    signal_hook::flag::register_conditional_default(signal, default_action).ok()?;
                }
                Some(signals)
            })
            .as_ref()
    }

    /// Holds off the default actions while a script runs. A signal caught
    /// before took its default action then, so nothing stale is pending.
    fn arm(&'static self) -> Armed {
        self.stop_asked.store(false, Ordering::SeqCst);
        self.default_action.store(false, Ordering::SeqCst);
        Armed { signals: self }
    }

    /// The signal caught while the script ran that ends bench, if any.
    fn caught(&self) -> Option<i32> {
        match self.caught.load(Ordering::SeqCst) {
            0 => None,
            signal => i32::try_from(signal).ok(),
        }
    }
}

/// Whether `signal`'s disposition is to be ignored, as `nohup` leaves
/// SIGHUP and a shell SIGINT for a background job: a handler would undo it.
fn ignored(signal: i32) -> bool {
    // SAFETY: sigaction(2) with no new action only writes `old`, a zeroed
    // struct of ours.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.signals.default_action.store(true, Ordering::SeqCst);
        // A signal caught after the last look, as the script ended: its
        // default action is taken now (the script is reaped and the
        // folder removed by then).
        if let Some(signal) = self.signals.caught() {
            end_by(signal);
        }
        if self.signals.stop_asked.swap(false, Ordering::SeqCst) && may_stop() {
            // SAFETY: raise(3) touches no memory.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_cap_is_counted_not_kept() {
        let mut script = Script::default();
        let line = "x".repeat(1000);
        let each = line.len() + size_of::<String>();
        for _ in 0..KEPT / each + 10 {
            script.keep((true, line.clone()));
        }
        script.keep((false, "last words".into()));
        script.keep((false, "  ".into()));
        assert_eq!(script.stdout.len(), KEPT / each);
        assert_eq!(script.left_out, 10);
        assert!(script.kept <= KEPT);
        assert_eq!(script.last_error, "last words");
    }
}
