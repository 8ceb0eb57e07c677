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
/// `MemAvailable`, capped by the cgroup's memory limit where there is one.
/// `None` where neither is known (other systems): the check then refuses
/// only sizes that no process can address.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text));
    let limit = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| {
        std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    });
    match (meminfo, limit) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses a job of `need` bytes (`None`: too many to count) that the
/// machine cannot hold. `what` says what the job is ("training a 4 → 64
/// → 1 network on 2000 rows"), `advice` what to do instead.
pub fn check(need: Option<u64>, what: impl FnOnce() -> String, advice: &str) -> Result<()> {
    let have = available();
    // Beyond isize::MAX no allocation can succeed on any system.
    let limit = have.unwrap_or(isize::MAX as u64);
    match need {
        Some(n) if n <= limit => Ok(()),
        _ => Err(Error::NotEnoughMemory {
            what: what(),
            need,
            have,
            advice: advice.to_string(),
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

    #[test]
    fn a_job_too_large_to_count_or_address_is_refused() {
        assert!(check(None, String::new, "").is_err());
        assert!(check(Some(u64::MAX), String::new, "").is_err());
        assert!(check(Some(1), String::new, "").is_ok());
    }
}
