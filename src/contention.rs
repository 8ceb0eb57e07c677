//! The CPU time other processes take on the cores this process may run
//! on, from Linux's `/proc`: what `bench` reports beside each case's
//! times, since a case timed while another program computes on the same
//! cores runs slower than on an idle machine, and nothing in its own
//! samples says so.

/// The cores' worth of CPU other processes took, on average, over a case
/// from which `bench` says so ([`Reading::others_since`]): a quarter of
/// a core, where an idle machine's daemons take a few hundredths.
pub const NOTABLE: f64 = 0.25;

/// A reading of the cores this process may run on (its affinity): their
/// busy and total clock ticks, and the ticks this process and its
/// waited-for children ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    busy: u64,
    total: u64,
    own: u64,
    cores: usize,
}

impl Reading {
    /// Now, or `None` where `/proc` does not say (other systems).
    pub fn now() -> Option<Reading> {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cores = allowed_cores(&read("/proc/self/status")?)?;
        let (busy, total) = core_ticks(&read("/proc/stat")?, &cores)?;
        let own = own_ticks(&read("/proc/self/stat")?)?;
        Some(Reading {
            busy,
            total,
            own,
            cores: cores.len(),
        })
    }

    /// The cores this process may run on.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// The cores' worth of CPU time other processes took on those cores
    /// between `self` and `later`, on average: their busy ticks (the
    /// hypervisor's stolen ones too) less this process's and its
    /// children's, over the ticks that passed on one core. `None` where
    /// no tick passed.
    pub fn others_since(&self, later: &Reading) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        if total == 0 {
            return None;
        }
        let busy = later.busy.saturating_sub(self.busy);
        let own = later.own.saturating_sub(self.own);
        let others = busy.saturating_sub(own);
        Some(others as f64 / total as f64 * self.cores as f64)
    }
}

/// Runs `f`; with the cores' worth of CPU time other processes took
/// meanwhile ([`Reading::others_since`]) and the cores this process may
/// run on, where `/proc` says.
pub fn around<T>(f: impl FnOnce() -> T) -> (T, Option<(f64, usize)>) {
    let start = Reading::now();
    let done = f();
    let end = Reading::now();
    let others = start
        .zip(end)
        .and_then(|(s, e)| Some((s.others_since(&e)?, s.cores())));
    (done, others)
}

/// The clause a case's line ends with where other processes took
/// [`NOTABLE`] or more of `cores` cores (`taken`).
pub fn clause(taken: f64, cores: usize) -> Option<String> {
    (taken >= NOTABLE).then(|| {
        format!(
            "other processes took {} of the {}",
            crate::units::decimals(taken, 2),
            crate::units::count(cores, "core")
        )
    })
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

/// The busy and total ticks of `cores` in a `/proc/stat` text: each
/// `cpuN` line's user, nice, system, irq, softirq and steal busy (guest
/// time is within user), and those with idle and iowait in total.
fn core_ticks(stat: &str, cores: &[usize]) -> Option<(u64, u64)> {
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
    (found == cores.len()).then_some((busy, total))
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
    /// another core's; a missing core is no reading.
    #[test]
    fn core_ticks_sum_the_allowed_cores() {
        let stat = "cpu  100 100 100 100 100 100 100 100 0 0\n\
                    cpu0 1 2 3 40 5 6 7 8 9 0\n\
                    cpu1 1000 0 0 0 0 0 0 0 0 0\n\
                    cpu2 10 20 30 400 50 60 70 80 0 0\n\
                    intr 5\n";
        // Busy: user, nice, system, irq, softirq, steal.
        assert_eq!(core_ticks(stat, &[0]), Some((27, 72)));
        assert_eq!(core_ticks(stat, &[0, 2]), Some((297, 792)));
        assert_eq!(core_ticks(stat, &[3]), None);
    }

    #[test]
    fn own_ticks_are_read_past_a_name_with_spaces() {
        // utime 7, stime 3, cutime 20, cstime 5.
        let stat = "4242 (a (b) c) S 1 2 3 0 -1 4194304 10 0 0 0 7 3 20 5 20 0 1 0 99 0";
        assert_eq!(own_ticks(stat), Some(35));
        assert_eq!(own_ticks("4242 (short) S 1"), None);
    }

    /// Others' share: busy ticks less this process's, over the ticks of
    /// one core; a reading with no ticks between is none.
    #[test]
    fn others_are_busy_ticks_less_own_over_one_core() {
        let at = |busy, total, own| Reading {
            busy,
            total,
            own,
            cores: 2,
        };
        let start = at(1000, 4000, 50);
        // 200 ticks of 2 cores passed (100 on each); 150 busy, 60 ours.
        let end = at(1150, 4200, 110);
        assert_eq!(start.others_since(&end), Some(0.9));
        // Ours more than the busy ticks (sampling): none taken by others.
        assert_eq!(start.others_since(&at(1010, 4200, 110)), Some(0.0));
        assert_eq!(start.others_since(&start), None);
        assert_eq!(end.others_since(&start), None);
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
        assert!(start.cores() >= 1);
        // Work enough for ticks to pass.
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(100);
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let end = Reading::now().unwrap();
        let others = start.others_since(&end).unwrap();
        assert!((0.0..=start.cores() as f64).contains(&others), "{others}");
    }
}
