//! What a job needs in memory, against what the machine has. Each backend
//! estimates its bytes from the shapes (`bytes_needed`) before it
//! allocates anything large, so a network too large for the machine is
//! refused with its size named, rather than aborting the process
//! mid-allocation or being killed by the kernel's OOM killer.
//!
//! Sizes are `Option<u64>`: `None` is a size that overflowed while it was
//! being counted, which no machine has.

use crate::error::{Error, Result};

/// The product of `factors` (counts and a size in bytes); `None` on overflow.
pub fn product(factors: &[usize]) -> Option<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(u64::try_from(f).ok()?))
}

/// The sum of `parts`; `None` when one is `None` or the sum overflows.
pub fn sum(parts: &[Option<u64>]) -> Option<u64> {
    parts
        .iter()
        .try_fold(0u64, |acc, &part| acc.checked_add(part?))
}

/// Bytes the process can still allocate without swapping: Linux's
/// `MemAvailable`, capped by the room left under the memory limit of the
/// process's cgroups where there is one (its own and each above it), and
/// under its own limits on its address space and data (`ulimit -v`,
/// `ulimit -d`). `None` where none is known (other systems): the check
/// then refuses only sizes that no process can address.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text));
    let limit = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_room(&text, std::path::Path::new("/sys/fs/cgroup")));
    [meminfo, limit, rlimit_room()].into_iter().flatten().min()
}

/// The least room left under the process's limits on its address space
/// (`RLIMIT_AS`, less its `VmSize`) and its data (`RLIMIT_DATA`, less its
/// `VmData`), where either is set; an allocation past it fails however
/// much memory is free.
#[cfg(unix)]
fn rlimit_room() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let limits = [(libc::RLIMIT_AS, "VmSize:"), (libc::RLIMIT_DATA, "VmData:")];
    (limits.into_iter())
        .filter_map(|(resource, used)| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes the struct it is given, and no more.
            let read = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
            let set = read && limit.rlim_cur != libc::RLIM_INFINITY;
            let used = kib_field(&status, used).unwrap_or(0);
            // rlim_t is u64 on Linux, not on every unix.
            #[allow(clippy::unnecessary_cast)]
            let limit = limit.rlim_cur as u64;
            set.then(|| limit.saturating_sub(used))
        })
        .min()
}

#[cfg(not(unix))]
fn rlimit_room() -> Option<u64> {
    None
}

/// The least room left under the memory limit of the cgroups a process
/// is in, its own and each above it up to `root`'s (a job scheduler's, a
/// container's, a systemd unit's): each group's limit less what it holds
/// other than file cache, which the kernel reclaims before it refuses an
/// allocation (as `MemAvailable` counts it free; a group whose usage
/// cannot be read counts as empty). `/proc/self/cgroup`'s text names the
/// groups, cgroup v2's as `0::/path` (`memory.max`, `memory.current`,
/// `memory.stat`'s `active_file` and `inactive_file` in `root/path`),
/// v1's as `N:...,memory,...:/path` (`memory.limit_in_bytes`,
/// `memory.usage_in_bytes`, `memory.stat`'s `total_active_file` and
/// `total_inactive_file`, which count the groups below too, in
/// `root/memory/path`). `None` where no group has a limit.
fn cgroup_room(proc_cgroup: &str, root: &std::path::Path) -> Option<u64> {
    let read = |file: std::path::PathBuf| -> Option<u64> {
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    };
    // The sum of `keys`' values in a memory.stat text (0 for one absent).
    let stat = |text: &str, keys: [&str; 2]| -> u64 {
        let value = |key: &str| -> Option<u64> {
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))?;
            line.trim().parse().ok()
        };
        keys.iter()
            .filter_map(|k| value(k))
            .fold(0, u64::saturating_add)
    };
    let mut least: Option<u64> = None;
    for line in proc_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (base, [limit_file, usage_file], cache) = match controllers {
            "" => (
                root.to_path_buf(),
                ["memory.max", "memory.current"],
                ["active_file", "inactive_file"],
            ),
            c if c.split(',').any(|c| c == "memory") => (
                root.join("memory"),
                ["memory.limit_in_bytes", "memory.usage_in_bytes"],
                ["total_active_file", "total_inactive_file"],
            ),
            _ => continue,
        };
        let mut dir = base.join(path.trim_start_matches('/'));
        // A path that leaves the root (`..`, a group outside a
        // container's view) is not followed.
        if !dir.starts_with(&base) || path.split('/').any(|p| p == "..") {
            continue;
        }
        loop {
            if let Some(limit) = read(dir.join(limit_file)) {
                let usage = read(dir.join(usage_file)).unwrap_or(0);
                let text = std::fs::read_to_string(dir.join("memory.stat"));
                let cache = text.map_or(0, |t| stat(&t, cache));
                let room = limit.saturating_sub(usage.saturating_sub(cache));
                least = Some(least.map_or(room, |l| l.min(room)));
            }
            if dir == base || !dir.pop() {
                break;
            }
        }
    }
    least
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable:")
}

/// The field `name` (with its colon) of a `/proc` text that gives sizes
/// in kB (`/proc/meminfo`, `/proc/self/status`), in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(name))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses a job of `need` bytes (`None`: too many to count) that the
/// machine cannot hold. `what` says what the job is ("training a 4 → 64
/// → 1 network on 2000 rows"), `advice` what to do instead.
pub fn check(need: Option<u64>, what: impl FnOnce() -> String, advice: &str) -> Result<()> {
    check_advising(need, what, |_| advice.to_string())
}

/// [`check`], its advice made from the bytes available (`None`:
/// unknown) once the job is refused.
pub fn check_advising(
    need: Option<u64>,
    what: impl FnOnce() -> String,
    advice: impl FnOnce(Option<u64>) -> String,
) -> Result<()> {
    let have = available();
    // Beyond isize::MAX no allocation can succeed on any system.
    let limit = have.unwrap_or(isize::MAX as u64);
    match need {
        Some(n) if n <= limit => Ok(()),
        _ => Err(Error::NotEnoughMemory {
            what: what(),
            need,
            have,
            advice: advice(have),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_overflow_to_none() {
        assert_eq!(product(&[3, 4, 8]), Some(96));
        assert_eq!(product(&[usize::MAX, 2, 4]), None);
        assert_eq!(sum(&[Some(1), Some(2)]), Some(3));
        assert_eq!(sum(&[Some(1), None]), None);
        assert_eq!(sum(&[Some(u64::MAX), Some(1)]), None);
    }

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       24683656 kB\nMemFree: 1 kB\nMemAvailable:   23731792 kB\n";
        assert_eq!(mem_available(text), Some(23_731_792 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    /// The room under the limit of the process's own cgroup and of those
    /// above it, the least, in cgroup v2 and v1 layouts: the limit less
    /// the usage that is not file cache; "max" (v2's none) and a group
    /// without the file are no limit, a group without its usage empty.
    #[test]
    fn the_least_room_under_the_process_cgroups_limits_is_read() {
        let root = tempfile::tempdir().unwrap();
        let at = |dir: &str, file: &str, text: &str| {
            let dir = root.path().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), text).unwrap();
        };
        at("", "memory.max", "max\n");
        at("job", "memory.max", "3000000000\n");
        at("job/step", "memory.max", "max\n");
        let room = |text: &str| cgroup_room(text, root.path());
        assert_eq!(room("0::/job/step\n"), Some(3_000_000_000));
        assert_eq!(room("0::/\n"), None);
        assert_eq!(room("0::/elsewhere\n"), None);
        // 1.2 GB used, of which 0.6 GB file cache: 2.4 GB left.
        at("job", "memory.current", "1200000000\n");
        let stat =
            "anon 600000000\nfile 600000000\nactive_file 100000000\ninactive_file 500000000\n";
        at("job", "memory.stat", stat);
        assert_eq!(room("0::/job/step\n"), Some(2_400_000_000));
        at("job/step", "memory.max", "2000000000\n");
        assert_eq!(room("0::/job/step\n"), Some(2_000_000_000));
        // Beyond the limit (a limit lowered under what the group holds).
        at("job/step", "memory.current", "2100000000\n");
        assert_eq!(room("0::/job/step\n"), Some(0));
        at("memory", "memory.limit_in_bytes", "9223372036854771712\n");
        at(
            "memory/slurm/uid_0",
            "memory.limit_in_bytes",
            "1610612736\n",
        );
        let v1 = "12:cpu,cpuacct:/slurm/uid_0\n4:memory:/slurm/uid_0/job_7\n";
        assert_eq!(room(v1), Some(1_610_612_736));
        // v1 counts the cache of the groups below in its total_ lines; the
        // others are this group's alone.
        at(
            "memory/slurm/uid_0",
            "memory.usage_in_bytes",
            "1000000000\n",
        );
        let stat = "active_file 2\ninactive_file 1\ntotal_active_file 100000000\ntotal_inactive_file 300000000\n";
        at("memory/slurm/uid_0", "memory.stat", stat);
        assert_eq!(room(v1), Some(1_010_612_736));
        assert_eq!(room("4:memory:/../x\n"), None);
        assert_eq!(room("garbage\n"), None);
    }

    #[test]
    fn a_job_too_large_to_count_or_address_is_refused() {
        assert!(check(None, String::new, "").is_err());
        assert!(check(Some(u64::MAX), String::new, "").is_err());
        assert!(check(Some(1), String::new, "").is_ok());
    }
}
