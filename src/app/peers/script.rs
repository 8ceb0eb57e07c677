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
//! only while the handlers are armed, so none of those signals leaves it
//! behind (SIGKILL does). Where bench's process group is orphaned (no
//! shell of its session outside it to continue it), Ctrl-Z is ignored, as
//! the kernel would.
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
            if signals.stop_asked.swap(false, Ordering::SeqCst) {
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
            if open {
                script.drain(&from_pipes, Instant::now() + DRAIN);
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
    /// Standard output's lines are kept up to [`KEPT`] bytes, and from the
    /// first that does not fit on, counted; of standard error's, the last
    /// that is not blank, as a terminal shows it (after its last `\r`).
    fn keep(&mut self, (out, line): (bool, String)) {
        let cost = line.len() + size_of::<String>();
        if out && self.left_out == 0 && self.kept + cost <= KEPT {
            self.kept += cost;
            self.stdout.push(line);
        } else if out {
            self.left_out += 1;
        } else if let Some(shown) = line.rsplit('\r').find(|s| !s.trim().is_empty()) {
            self.last_error = shown.to_string();
        }
    }

    /// Keeps what comes from the pipes until they close or `until`,
    /// whichever is first, however fast a process outside the group
    /// writes.
    fn drain(&mut self, from_pipes: &Receiver<(bool, String)>, until: Instant) {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match from_pipes.recv_timeout(left) {
                Ok(line) => self.keep(line),
                Err(_) => return,
            }
        }
    }
}

/// The longest line kept whole, in bytes; the rest of a longer one, up to
/// its newline, is skipped.
const LINE: u64 = 64 << 10;

/// Each of the child's pipes read on a thread of its own, so that neither
/// fills while the other is read: `(true, line)` from standard output.
/// Bytes that are not UTF-8 are replaced, not a reason to stop reading.
/// The queue is short: a writer faster than the reading waits on its pipe.
/// A line longer than [`LINE`] bytes is cut there.
fn read_lines(child: &mut Child) -> Receiver<(bool, String)> {
    use std::io::{BufRead as _, Read as _};
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
                match (&mut pipe).take(LINE).read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                // A line cut at LINE: the rest of it is skipped.
                if bytes.last() != Some(&b'\n') && pipe.skip_until(b'\n').is_err() {
                    break;
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
/// same session, so no shell would continue it. Judged by bench's
/// ancestors: the first outside bench's group must be in its session. A
/// parent outside bench's PID namespace (pid 0) or an ancestor that cannot
/// be read counts as none.
fn may_stop() -> bool {
    // SAFETY: these calls touch no memory.
    let (group, session) = unsafe { (libc::getpgrp(), libc::getsid(0)) };
    let mut pid = unsafe { libc::getppid() };
    for _ in 0..64 {
        if pid <= 0 {
            return false;
        }
        // SAFETY: as above.
        let (its_group, its_session) = unsafe { (libc::getpgid(pid), libc::getsid(pid)) };
        if its_group < 0 {
            return false;
        }
        if its_group != group {
            return its_session == session;
        }
        match parent_of(pid) {
            Some(parent) => pid = parent,
            None => return false,
        }
    }
    false
}

/// The parent of process `pid`, from /proc.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state and the parent's pid follow the command's name, which is
    // in parentheses and may hold any byte.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
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
                for signal in [SIGINT, SIGQUIT, SIGTERM, SIGHUP] {
                    if crate::io::ignored_at_start(signal) {
                        continue;
                    }
                    // In this order: the signal is recorded, then its
                    // default action runs unless a script is running.
                    let caught = Arc::clone(&signals.caught);
                    signal_hook::flag::register_usize(signal, caught, signal as usize).ok()?;
                    let default_action = Arc::clone(&signals.default_action);
                    signal_hook::flag::register_conditional_default(signal, default_action).ok()?;
                }
                if !crate::io::ignored_at_start(SIGTSTP) {
                    // Decided once: whether a stop would be discarded.
                    let may_stop = may_stop();
                    let stop = Arc::clone(&signals.stop_asked);
                    let default_action = Arc::clone(&signals.default_action);
                    let on_stop = move || match default_action.load(Ordering::SeqCst) {
                        // SAFETY: raise(3) touches no memory.
                        true if may_stop => unsafe {
                            libc::raise(libc::SIGSTOP);
                        },
                        true => {}
                        false => stop.store(may_stop, Ordering::SeqCst),
                    };
                    // SAFETY: the handler only loads and stores atomics and
                    // calls raise(3), all async-signal-safe.
                    unsafe { signal_hook::low_level::register(SIGTSTP, on_stop) }.ok()?;
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

impl Drop for Armed {
    fn drop(&mut self) {
        self.signals.default_action.store(true, Ordering::SeqCst);
        // A signal caught after the last look, as the script ended: its
        // default action is taken now (the script is reaped and the
        // folder removed by then).
        if let Some(signal) = self.signals.caught() {
            end_by(signal);
        }
        if self.signals.stop_asked.swap(false, Ordering::SeqCst) {
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
        // A short line after the first left out is left out too.
        script.keep((true, "{}".into()));
        script.keep((false, "last words".into()));
        script.keep((false, "  ".into()));
        assert_eq!(script.stdout.len(), KEPT / each);
        assert_eq!(script.left_out, 11);
        assert!(script.kept <= KEPT);
        assert_eq!(script.last_error, "last words");
        // Standard error as a terminal shows it: after the last \r.
        script.keep((false, "10%\r55%\r100% done\r  ".into()));
        assert_eq!(script.last_error, "100% done");
    }

    #[test]
    fn the_drain_ends_on_time_however_fast_lines_come() {
        let (lines, from_pipes) = sync_channel(1024);
        // Four writers keep the queue full most of the time.
        for _ in 0..4 {
            let lines = lines.clone();
            std::thread::spawn(move || while lines.send((true, "y".to_string())).is_ok() {});
        }
        drop(lines);
        // On a thread of its own, so that a drain that never ends fails
        // the test instead of hanging it.
        let (done, drained) = sync_channel(1);
        std::thread::spawn(move || {
            let mut script = Script::default();
            let start = Instant::now();
            script.drain(&from_pipes, start + Duration::from_millis(200));
            let _ = done.send((start.elapsed(), script.stdout.pop()));
        });
        let (took, last) = drained
            .recv_timeout(Duration::from_secs(30))
            .expect("the drain went on past its time");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(last.as_deref(), Some("y"));
        let mut script = Script::default();
        // And at once where the pipes are closed.
        let (lines, from_pipes) = sync_channel::<(bool, String)>(1);
        drop(lines);
        let start = Instant::now();
        script.drain(&from_pipes, start + Duration::from_secs(60));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_long_line_is_cut_and_the_next_one_read_whole() {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "head -c {} /dev/zero | tr '\\0' z; echo; echo next",
                3 * LINE
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let from_pipes = read_lines(&mut child);
        let lines: Vec<(bool, String)> = from_pipes.iter().collect();
        child.wait().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1.len(), LINE as usize);
        assert_eq!(lines[1], (true, "next".to_string()));
    }

    #[test]
    fn the_parent_of_this_process_is_read() {
        // SAFETY: getppid(2) touches no memory.
        let parent = unsafe { libc::getppid() };
        assert_eq!(parent_of(std::process::id() as i32), Some(parent));
        // A child that leads a group of its own, so that its parent's pid
        // and its group's differ, under a name with ") " and spaces in it,
        // as a command's name may be.
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a) 1 2 (b");
        std::os::unix::fs::symlink("/bin/sleep", &odd).unwrap();
        let mut child = {
            use std::os::unix::process::CommandExt as _;
            Command::new(&odd)
                .arg("5")
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let read = parent_of(child.id() as i32);
        let _ = child.kill();
        child.wait().unwrap();
        assert_eq!(read, Some(std::process::id() as i32));
    }
}
