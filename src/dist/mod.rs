//! Data-parallel full-batch training, bit for bit the same on any number of
//! processes.
//!
//! The rows are cut into K contiguous shards, K fixed by the run
//! (`--shards`), never by the process count P. Each process owns a
//! contiguous range of whole shards and computes, for each of its shards
//! separately, the loss and ∂L/∂θ of the shard (one [`Objective`] pass per
//! shard, on whichever backend it trains with). Every process then gathers
//! every shard's partials and sums them on the host in shard order, in f64,
//! and applies the same optimizer step to the same sums. Nothing depends on
//! which process computed a shard, so P = 1, 2 or 4 give the same bits; an
//! MPI all-reduce would not (its bracketing of a float sum changes with P).
//!
//! [`Comm`] is all the training loop sees of the processes: [`Single`] is
//! the one-process case (a `--shards K` run without MPI), and behind the
//! `mpi` feature `mpi::Mpi` is MPI's world. docs/distributed.md says more.
//!
//! [`Objective`]: crate::optim::lbfgs::Objective

#[cfg(feature = "mpi")]
pub mod mpi;
pub mod sharded;

use std::ops::Range;

pub use sharded::{CommStats, Sharded};

use crate::error::{Error, Result};

/// Shards of a run without `--shards`: enough for 16 processes; small
/// enough that a shard's pass still fills a CPU or a small GPU.
pub const DEFAULT_SHARDS: usize = 16;

/// The processes of a run, as the sharded trainer needs them: who am I,
/// how many are we, and two collective operations. Every process must call
/// the collectives in the same order.
pub trait Comm {
    /// This process's number, 0 ..= size − 1.
    fn rank(&self) -> usize;

    /// The number of processes.
    fn size(&self) -> usize;

    /// This process's number among those on its machine (to pick a GPU).
    fn local_rank(&self) -> usize;

    /// Every process's `local`, concatenated in rank order into `all`;
    /// `counts[r]` is the length rank r sends.
    fn all_gather(&self, local: &[f64], counts: &[usize], all: &mut [f64]);

    /// Every process's `local` bytes, in rank order.
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>>;

    /// Ends every process at once with exit status `code`: for an error or
    /// a panic on one process while the others wait in a collective.
    fn abort(&self, code: i32) -> !;

    /// One line: the transport and the process count.
    fn describe(&self) -> String;
}

/// The processes an MPI launcher started beside this one, where it did
/// (Open MPI's variables, or PMI's, which MPICH's and Intel MPI's set) and
/// they are more than one.
pub fn launched_processes() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
        .filter(|&n| n > 1)
}

/// The processes an MPI launcher started, where it started several and
/// this is the first of them: where a command run without `--distributed`
/// warns that each runs alone (said once, by the first).
pub fn first_of_launched() -> Option<usize> {
    launched_processes().filter(|_| rank_by_launcher() == 0)
}

/// This process's rank as its launcher numbered it; 0 where none did.
pub fn rank_by_launcher() -> usize {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// MPI's world, for `--distributed`: this process's place in the job
/// `mpirun` started (or a job of one, run without it).
#[cfg(feature = "mpi")]
pub fn world() -> Result<Box<dyn Comm>> {
    Ok(Box::new(mpi::Mpi::init()?))
}

#[cfg(not(feature = "mpi"))]
pub fn world() -> Result<Box<dyn Comm>> {
    Err(Error::Config(
        "--distributed needs shadertrain built with MPI: install an MPI library (OpenMPI's libopenmpi-dev) and libclang, then cargo build --release --features mpi".into(),
    ))
}

/// Writes `line` and its line end to standard error in one write
/// ([`crate::say!`]), so that what mpirun gathers onto the same stream from
/// elsewhere (its own MPI_ABORT banner, another process) cannot land
/// inside the line, as it can between the pieces `eprintln!` writes one by
/// one.
pub fn say(line: &str) {
    crate::say!("{line}");
}

/// One process: the collectives copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Comm for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn local_rank(&self) -> usize {
        0
    }
    fn all_gather(&self, local: &[f64], _: &[usize], all: &mut [f64]) {
        all.copy_from_slice(local);
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        vec![local.to_vec()]
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
    fn describe(&self) -> String {
        "1 process".to_string()
    }
}

/// The cut of N rows into K shards, and of the shards among P processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shards {
    /// N, the rows of the whole run.
    pub rows: usize,
    /// K.
    pub count: usize,
}

impl Shards {
    /// K shards of `rows` rows; every shard gets at least one row.
    pub fn new(rows: usize, count: usize) -> Result<Shards> {
        if count == 0 {
            return Err(Error::Config("--shards must be at least 1".into()));
        }
        if count > rows {
            return Err(Error::Config(format!(
                "--shards {count} is more than the {rows} training rows; give at most {rows}"
            )));
        }
        Ok(Shards { rows, count })
    }

    /// The rows of shard `s`: ⌊s·N/K⌋ .. ⌊(s+1)·N/K⌋.
    pub fn rows_of(&self, s: usize) -> Range<usize> {
        let at = |s: usize| (s as u128 * self.rows as u128 / self.count as u128) as usize;
        at(s)..at(s + 1)
    }

    /// The shards process `rank` of `size` owns: ⌊r·K/P⌋ .. ⌊(r+1)·K/P⌋.
    pub fn owned(&self, rank: usize, size: usize) -> Range<usize> {
        (rank * self.count / size)..((rank + 1) * self.count / size)
    }

    /// The rows process `rank` of `size` holds: those of its shards, one
    /// contiguous range.
    pub fn rows_owned(&self, rank: usize, size: usize) -> Range<usize> {
        let owned = self.owned(rank, size);
        self.rows_of(owned.start).start..self.rows_of(owned.end - 1).end
    }

    /// Refuses more processes than shards: a process without rows would
    /// change nothing but is surely a mistake. `resumed`: the run is
    /// resumed, and `--resume` takes no `--shards` (its shards are the
    /// checkpoint's, or `--distributed`'s 16 for a one-pass checkpoint).
    pub fn check_processes(&self, size: usize, resumed: bool) -> Result<()> {
        if size > self.count {
            let (k, n) = (self.count, self.rows);
            let remedy = match n < size {
                _ if resumed => format!("run at most {k}: --resume takes no --shards"),
                true if k < n => format!(
                    "run at most {k}, or at most {n} with --shards {n} (each shard needs a training row, and there are {n})"
                ),
                true => format!(
                    "run at most {k} (each shard needs a training row, and there {} {n})",
                    if n == 1 { "is" } else { "are" }
                ),
                false => format!("run at most {k}, or give --shards from {size} to {n}"),
            };
            return Err(Error::Config(format!(
                "{size} processes but {}, and every process needs one: {remedy}",
                crate::units::count(k, "shard")
            )));
        }
        Ok(())
    }
}

/// Every process's `Result`, agreed: the same `Ok` everywhere, or on every
/// process the error of the lowest rank that failed, named by its rank
/// (or "all P processes" where every one failed alike: the same options'
/// error, say).
/// Each process's `Ok` value is a fingerprint (options, data shape) that
/// must agree too.
pub fn agree(
    comm: &dyn Comm,
    what: &str,
    local: std::result::Result<String, String>,
) -> std::result::Result<(), String> {
    let mine = match &local {
        Ok(f) => format!("ok:{f}"),
        Err(e) => format!("err:{e}"),
    };
    let all = comm.all_gather_bytes(mine.as_bytes());
    let all: Vec<String> = all
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    for (r, m) in all.iter().enumerate() {
        if let Some(e) = m.strip_prefix("err:") {
            return Err(match comm.size() {
                1 => e.to_string(),
                p if all.iter().all(|other| other == m) => format!("all {p} processes: {e}"),
                p => format!("process {r} of {p}: {e}"),
            });
        }
    }
    if let Some((r, m)) = all.iter().enumerate().find(|(_, m)| *m != &all[0]) {
        return Err(format!(
            "the processes disagree on {what}: {}",
            differences(&all[0][3..], &m[3..], r)
        ));
    }
    Ok(())
}

/// Where fingerprints `first` (process 0's) and `other` (process `r`'s)
/// differ, in words: each differing field of two JSON objects by its path
/// (`options.optimizer.lr`), or else the two whole.
fn differences(first: &str, other: &str, r: usize) -> String {
    use serde_json::Value;
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<(String, String, String)>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let null = Value::Null;
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &at,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a != b => out.push((path.to_string(), a.to_string(), b.to_string())),
            _ => {}
        }
    }
    let parsed = serde_json::from_str::<Value>(first)
        .ok()
        .zip(serde_json::from_str(other).ok());
    let mut out = Vec::new();
    if let Some((a @ Value::Object(_), b)) = &parsed {
        walk("", a, b, &mut out);
    }
    if out.is_empty() {
        return format!("process 0 has {first}, process {r} has {other}");
    }
    out.iter()
        .map(|(path, a, b)| format!("{path}: process 0 has {a}, process {r} has {b}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_rows_and_processes_own_whole_shards() {
        for (n, k) in [(10, 3), (7, 7), (1000, 16), (17, 4)] {
            let s = Shards::new(n, k).unwrap();
            let mut next = 0;
            for i in 0..k {
                let r = s.rows_of(i);
                assert_eq!(r.start, next);
                assert!(!r.is_empty());
                next = r.end;
            }
            assert_eq!(next, n);
            for p in 1..=k {
                let mut next = 0;
                for rank in 0..p {
                    let r = s.rows_owned(rank, p);
                    assert_eq!(r.start, next, "n {n} k {k} p {p}");
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
        assert!(Shards::new(3, 4).is_err());
        assert!(Shards::new(3, 0).is_err());
        let err = |rows, k, size| {
            let e = Shards::new(rows, k)
                .unwrap()
                .check_processes(size, false)
                .unwrap_err();
            e.to_string()
        };
        assert_eq!(
            err(8, 2, 3),
            "3 processes but 2 shards, and every process needs one: run at most 2, or give --shards from 3 to 8"
        );
        assert_eq!(
            err(1, 1, 2),
            "2 processes but 1 shard, and every process needs one: run at most 1 (each shard needs a training row, and there is 1)"
        );
        assert_eq!(
            err(3, 2, 4),
            "4 processes but 2 shards, and every process needs one: run at most 2, or at most 3 with --shards 3 (each shard needs a training row, and there are 3)"
        );
        assert!(Shards::new(8, 2).unwrap().check_processes(2, false).is_ok());
    }

    /// Both cuts round down: shard s starts at ⌊s·N/K⌋ and process r's
    /// shards at ⌊r·K/P⌋, so process 0 holds the fewest shards (bench's
    /// bytes in to process 0 are the most any process receives).
    #[test]
    fn shard_and_process_boundaries_round_down() {
        let s = Shards::new(10, 3).unwrap();
        let cut: Vec<_> = (0..3).map(|i| s.rows_of(i)).collect();
        assert_eq!(cut, [0..3, 3..6, 6..10]);
        let s = Shards::new(100, 5).unwrap();
        assert_eq!((s.owned(0, 2), s.owned(1, 2)), (0..2, 2..5));
        assert_eq!(s.rows_owned(1, 2), 40..100);
        let s = Shards::new(1000, 16).unwrap();
        for p in 1..=16 {
            let least = (0..p).map(|r| s.owned(r, p).len()).min();
            assert_eq!(Some(s.owned(0, p).len()), least, "{p} processes");
        }
    }

    #[test]
    fn differing_fingerprints_are_named_by_field() {
        let a =
            r#"{"options":{"optimizer":{"lr":0.1,"kind":"gd"},"epochs":5},"--target-loss":null}"#;
        let b =
            r#"{"options":{"optimizer":{"lr":0.2,"kind":"gd"},"epochs":5},"--target-loss":0.33}"#;
        assert_eq!(
            differences(a, b, 2),
            "--target-loss: process 0 has null, process 2 has 0.33; \
             options.optimizer.lr: process 0 has 0.1, process 2 has 0.2"
        );
        assert_eq!(
            differences("3 rows", "4 rows", 1),
            "process 0 has 3 rows, process 1 has 4 rows"
        );
    }

    /// Process `rank` of a job whose processes sent `sent` (rank order)
    /// to every gather of bytes.
    struct Sent {
        rank: usize,
        sent: Vec<&'static str>,
    }

    impl Comm for Sent {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.sent.len()
        }
        fn local_rank(&self) -> usize {
            self.rank
        }
        fn all_gather(&self, _: &[f64], _: &[usize], _: &mut [f64]) {
            unreachable!("agree gathers bytes")
        }
        fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
            assert_eq!(local, self.sent[self.rank].as_bytes());
            self.sent.iter().map(|s| s.as_bytes().to_vec()).collect()
        }
        fn abort(&self, code: i32) -> ! {
            panic!("abort({code})")
        }
        fn describe(&self) -> String {
            format!("{} processes", self.sent.len())
        }
    }

    /// Every process reports the same error: the lowest failing rank's,
    /// named by its rank, or "all P processes" where every one failed
    /// alike; with none failing, the first fingerprint that differs from
    /// process 0's.
    #[test]
    fn every_process_reports_the_lowest_failing_rank_s_error() {
        let on_each = |sent: Vec<&'static str>| {
            let results: Vec<_> = (0..sent.len())
                .map(|rank| {
                    let comm = Sent {
                        rank,
                        sent: sent.clone(),
                    };
                    let local = match sent[rank].strip_prefix("err:") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(sent[rank][3..].to_string()),
                    };
                    agree(&comm, "the data", local)
                })
                .collect();
            assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
            results[0].clone()
        };
        let failed = on_each(vec!["ok:a", "err:no rows", "err:no file"]);
        assert_eq!(failed, Err("process 1 of 3: no rows".to_string()));
        let alike = on_each(vec!["err:bad", "err:bad", "err:bad"]);
        assert_eq!(alike, Err("all 3 processes: bad".to_string()));
        // Every one failed, not alike: the lowest rank's, named.
        let unlike = on_each(vec!["err:bad", "err:worse"]);
        assert_eq!(unlike, Err("process 0 of 2: bad".to_string()));
        let differ = on_each(vec!["ok:a", "ok:a", "ok:b", "ok:c"]);
        assert_eq!(
            differ,
            Err("the processes disagree on the data: process 0 has a, process 2 has b".to_string())
        );
        assert_eq!(on_each(vec!["ok:a", "ok:a"]), Ok(()));
    }

    #[test]
    fn one_process_agrees_with_itself_and_reports_its_error() {
        assert_eq!(agree(&Single, "x", Ok("a".into())), Ok(()));
        assert_eq!(agree(&Single, "x", Err("bad".into())), Err("bad".into()));
    }
}
