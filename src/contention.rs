//! The CPU time other processes take on the cores this process may run
//! on, from Linux's `/proc`: what `bench` reports beside each case's
//! times and `train` beside its training time, since work timed while
//! other programs keep every core busy runs slower than on an idle
//! machine, and nothing in its own clock says so.
//!
//! What it cannot see: which core each process ran on (a case on one
//! thread beside one busy program on a 2-core machine reads as crowded,
//! though each may have had a core of its own); a CPU quota without a
//! cpuset (a container limited to 2 of a host's 64 cores reads the
//! host's load on all 64); the SMT sibling of an allowed core outside
//! the allowed set; and a peer's processes it does not wait for, whose
//! time counts as others'. Time the hypervisor gives other virtual
//! machines (steal) counts as others'.

/// Ticks of `/proc/stat` each core must pass between two readings for a
/// [`Contention`]: 0.1 s at Linux's 100 a second. Fewer are too coarse
/// (a tick or two either way is most of the share).
pub const MIN_TICKS: u64 = 10;

/// The cores' worth of CPU time other processes must take, on average,
/// for a [`Contention`] to be [`Contention::notable`]: a quarter of a
/// core, where an idle machine's daemons take a few hundredths.
pub const NOTABLE: f64 = 0.25;

/// A reading of the cores this process may run on (its affinity, those
/// of them online): their busy and total clock ticks, and the ticks this
/// process and its waited-for children ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    busy: u64,
    total: u64,
    own: u64,
    cores: usize,
}

/// How busy the cores this process may run on were between two
/// readings, in cores' worth of CPU time on average.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Contention {
    /// Other processes' time (steal too).
    pub others_cores: f64,
    /// This process's and its waited-for children's.
    pub own_cores: f64,
    /// The cores this process may run on.
    pub cores: usize,
    /// Other processes took [`NOTABLE`] or more, and with this one left
    /// less than that of the cores idle: they competed for the cores, and
    /// times taken meanwhile may be longer than on an idle machine. (Which
    /// core each ran on is not known: one thread beside one busy program
    /// on 2 cores is notable, though each may have had a core.)
    pub notable: bool,
}

impl Reading {
    /// Now, or `None` where `/proc` does not say (other systems).
    pub fn now() -> Option<Reading> {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cores = allowed_cores(&read("/proc/self/status")?)?;
        let (busy, total, cores) = core_ticks(&read("/proc/stat")?, &cores)?;
        let own = own_ticks(&read("/proc/self/stat")?)?;
        Some(Reading {
            busy,
            total,
            own,
            cores,
        })
    }

    /// How busy the cores were between `self` and `later`: the busy
    /// ticks less this process's and its children's are others', each
    /// over the ticks that passed on one core. `None` where the cores
    /// changed or fewer than [`MIN_TICKS`] passed on each.
    pub fn since(&self, later: &Reading) -> Option<Contention> {
        let total = later.total.checked_sub(self.total)?;
        if later.cores != self.cores || total < MIN_TICKS * self.cores as u64 {
            return None;
        }
        // The process's ticks and the cores' are read from two files at
        // two instants, so its own may run a tick past the cores' busy
        // ones, or past all of theirs: held to them.
        let busy = later.busy.saturating_sub(self.busy).min(total);
        let own = later.own.saturating_sub(self.own).min(total);
        let per_core = total as f64 / self.cores as f64;
        let others = busy.saturating_sub(own) as f64 / per_core;
        Some(Contention::new(others, own as f64 / per_core, self.cores))
    }
}

impl Contention {
    /// `others_cores` and `own_cores` of `cores`, and whether that is
    /// [`Contention::notable`].
    pub fn new(others_cores: f64, own_cores: f64, cores: usize) -> Contention {
        let idle = cores as f64 - own_cores - others_cores;
        Contention {
            others_cores,
            own_cores,
            cores,
            notable: others_cores >= NOTABLE && idle < NOTABLE,
        }
    }

    /// The clause a line ends with where [`Contention::notable`], of the
    /// work it times (`this`: "this case", "this run").
    pub fn clause(&self, this: &str) -> Option<String> {
        self.notable.then(|| {
            format!(
                "other processes kept the cores busy ({} of {}, {this} {})",
                crate::units::decimals(self.others_cores, 2),
                crate::units::count(self.cores, "core"),
                crate::units::decimals(self.own_cores, 2)
            )
        })
    }
}

/// Runs `f`, with how busy the cores were meanwhile, where `/proc` says.
pub fn around<T>(f: impl FnOnce() -> T) -> (T, Option<Contention>) {
    let start = Reading::now();
    let done = f();
    let end = Reading::now();
    (done, start.zip(end).and_then(|(s, e)| s.since(&e)))
}

/// The cores of `/proc/self/status`'s `Cpus_allowed_list` ("0-3,8").
fn allowed_cores(status: &str) -> Option<Vec<usize>> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    let mut cores = Vec::new();
    for part in list.trim().split(',') {
        let (first, last): (usize, usize) = match part.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let core = part.parse().ok()?;
                (core, core)
            }
        };
        if first > last {
            return None;
        }
        cores.extend(first..=last);
    }
    (!cores.is_empty()).then_some(cores)
}

/// The busy and total ticks of `cores` in a `/proc/stat` text, and how
/// many of them it has (an offline core has no line): each `cpuN` line's
/// user, nice, system, irq, softirq and steal busy (guest time is within
/// user), and those with idle and iowait in total. `None` where none of
/// them has a line.
fn core_ticks(stat: &str, cores: &[usize]) -> Option<(u64, u64, usize)> {
    let (mut busy, mut total, mut found) = (0u64, 0u64, 0);
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(core) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
            continue;
        };
        let Ok(core) = core.parse::<usize>() else {
            continue;
        };
        if !cores.contains(&core) {
            continue;
        }
        let ticks: Vec<u64> = fields
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks[..] else {
            return None;
        };
        let working = user + nice + system + irq + softirq + steal;
        busy += working;
        total += working + idle + iowait;
        found += 1;
    }
    (found > 0).then_some((busy, total, found))
}

/// This process's ticks and its waited-for children's in a
/// `/proc/self/stat` text: utime, stime, cutime and cstime, the 14th to
/// 17th fields (the second, the command's name in parentheses, may hold
/// spaces).
fn own_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // The third field, the state, is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = fields.get(11..15)?;
    ticks.iter().map(|t| t.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_cores_are_read_from_ranges_and_singles() {
        let status = "Name:\tx\nCpus_allowed:\t13f\nCpus_allowed_list:\t0-2,4,6-7\n";
        assert_eq!(allowed_cores(status), Some(vec![0, 1, 2, 4, 6, 7]));
        assert_eq!(allowed_cores("Cpus_allowed_list:\t3\n"), Some(vec![3]));
        assert_eq!(allowed_cores("Cpus_allowed_list:\t3-1\n"), None);
        assert_eq!(allowed_cores("Name:\tx\n"), None);
    }

    /// Only the allowed cores' lines count, not the summed `cpu` line nor
    /// another core's; an allowed core without a line (offline) is left
    /// out, and none with one is no reading.
    #[test]
    fn core_ticks_sum_the_allowed_cores() {
        let stat = "cpu  100 100 100 100 100 100 100 100 0 0\n\
                    cpu0 1 2 3 40 5 6 7 8 9 0\n\
                    cpu1 1000 0 0 0 0 0 0 0 0 0\n\
                    cpu2 10 20 30 400 50 60 70 80 0 0\n\
                    intr 5\n";
        // Busy: user, nice, system, irq, softirq, steal.
        assert_eq!(core_ticks(stat, &[0]), Some((27, 72, 1)));
        assert_eq!(core_ticks(stat, &[0, 2]), Some((297, 792, 2)));
        assert_eq!(core_ticks(stat, &[0, 2, 3]), Some((297, 792, 2)));
        assert_eq!(core_ticks(stat, &[3]), None);
    }

    #[test]
    fn own_ticks_are_read_past_a_name_with_spaces() {
        // utime 7, stime 3, cutime 20, cstime 5.
        let stat = "4242 (a (b) c) S 1 2 3 0 -1 4194304 10 0 0 0 7 3 20 5 20 0 1 0 99 0";
        assert_eq!(own_ticks(stat), Some(35));
        assert_eq!(own_ticks("4242 (short) S 1"), None);
    }

    /// Others' share: busy ticks less this process's, each over the
    /// ticks of one core; too few ticks, or other cores, is none.
    #[test]
    fn shares_are_ticks_over_one_cores_ticks() {
        let at = |busy, total, own, cores| Reading {
            busy,
            total,
            own,
            cores,
        };
        let start = at(1000, 4000, 50, 2);
        // 200 ticks of 2 cores passed (100 on each); 150 busy, 60 ours.
        let end = at(1150, 4200, 110, 2);
        let c = start.since(&end).unwrap();
        assert_eq!(c, Contention::new(0.9, 0.6, 2));
        // Ours more than the busy ticks (sampling): none taken by others.
        let c = start.since(&at(1010, 4200, 110, 2)).unwrap();
        assert_eq!((c.others_cores, c.own_cores), (0.0, 0.6));
        // 10 ticks a core at least.
        assert!(start.since(&at(1000, 4020, 50, 2)).is_some());
        assert_eq!(start.since(&at(1000, 4019, 50, 2)), None);
        assert_eq!(start.since(&start), None);
        assert_eq!(end.since(&start), None);
        assert_eq!(start.since(&at(1150, 4200, 110, 3)), None);
    }

    /// Notable: others took a quarter of a core or more, and with this
    /// process left less than that idle.
    #[test]
    fn contention_is_notable_where_no_core_was_left_idle() {
        let c = |others, own| Contention::new(others, own, 2);
        assert!(c(1.05, 0.8).notable);
        assert!(c(0.25, 1.51).notable);
        // A quarter of a core idle, or others under a quarter.
        assert!(!c(1.05, 0.7).notable);
        assert!(!c(0.24, 1.76).notable);
        assert_eq!(c(0.1, 1.9).clause("this case"), None);
        assert_eq!(
            c(1.3, 0.75).clause("this run").as_deref(),
            Some("other processes kept the cores busy (1.30 of 2 cores, this run 0.75)")
        );
    }

    /// The process's ticks past the cores' (read a moment apart) count
    /// as every core its own, never more.
    #[test]
    fn own_ticks_past_the_cores_are_held_to_them() {
        let at = |busy, total, own| Reading {
            busy,
            total,
            own,
            cores: 2,
        };
        let c = at(0, 0, 0).since(&at(40, 40, 42)).unwrap();
        assert_eq!((c.own_cores, c.others_cores), (2.0, 0.0));
        let c = at(0, 0, 0).since(&at(30, 40, 10)).unwrap();
        assert_eq!((c.own_cores, c.others_cores), (0.5, 1.0));
    }

    #[test]
    fn a_reading_is_taken_here() {
        let start = Reading::now();
        if !cfg!(target_os = "linux") {
            // Nothing to read.
            assert_eq!(start, None);
            return;
        }
        let start = start.expect("a reading on Linux");
        // Work enough for ticks to pass: 0.15 s on one core.
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(150);
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let c = start.since(&Reading::now().unwrap()).unwrap();
        let cores = c.cores as f64;
        assert!((0.0..=cores).contains(&c.others_cores), "{c:?}");
        // The loop's core, less what a busy machine took of it.
        assert!((0.3..=cores).contains(&c.own_cores), "{c:?}");
    }
}
