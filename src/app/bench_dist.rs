//! `bench --distributed` (and `bench --shards K`): epoch times of the
//! sharded trainer on each shape and backend, with the share of each epoch
//! spent gathering and summing the shards' partials and the bytes moved.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::bench_cmd::cpu_name;
use super::train::{shard_passes, PassConfig};
use crate::bench::{self, BackendKind};
use crate::cli::BenchArgs;
use crate::cpu::Isa;
use crate::data::Dataset;
use crate::dist::{self, Comm, Sharded, Shards, Single};
use crate::gpu::{self, AdapterRequest};
use crate::model::{Layout, Model};
use crate::optim::Optimizer;
use crate::units;

/// One row of the table and of `--json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DistRecord {
    pub shape: String,
    pub backend: BackendKind,
    /// Process 0's device: every process runs the same settings (see
    /// [`fingerprint`]), on hosts that may differ.
    pub adapter: String,
    pub processes: usize,
    pub shards: usize,
    /// The slowest process's median seconds per epoch.
    pub epoch_s: f64,
    /// Of a median epoch, the seconds in the gather and the ordered sum
    /// (waiting for the slowest process included), on the slowest process.
    pub reduce_s: f64,
    /// Bytes process 0 receives per epoch (8·(2 + parameters) per shard of
    /// the others; it holds the fewest shards, so the others receive as
    /// many or fewer), and sends.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub(super) fn bench_sharded(args: &BenchArgs) -> Result<()> {
    let comm: Box<dyn Comm> = if args.distributed {
        dist::world()?
    } else {
        Box::new(Single)
    };
    let comm = comm.as_ref();
    // The options are checked on every process, agreed, so that a mistake
    // in them is said once ("all P processes: …"), as train says it.
    let run = (|| {
        let request = super::config::check_bench(args, comm.rank() == 0);
        let request = super::train::agree(comm, "the bench's options", request, |_| String::new())?;
        time_cases(args, &request, comm)
    })();
    super::train::settle(comm, run)
}

/// What the processes of a sharded bench must agree on, as a JSON object
/// (see [`dist::agree`]): every setting that changes what is timed.
fn fingerprint(args: &BenchArgs, backends: &[BackendKind], shards: usize) -> String {
    let shapes: Vec<String> = args.shapes.0.iter().map(|s| s.label()).collect();
    serde_json::json!({
        "--shapes": shapes,
        "--backends": backends,
        "--activation": args.activation,
        "--warmup": args.warmup,
        "--samples": args.samples,
        "--shards": shards,
        "--kernels": format!("{:?}", args.device.kernels).to_lowercase(),
        // As given: the cpu backend's build and threads set its pace (the
        // record names process 0's).
        "--cpu-isa": args.device.cpu_isa.map_or("default", |isa| isa.name()),
        "--threads": args.device.threads,
    })
    .to_string()
}

fn time_cases(args: &BenchArgs, request: &AdapterRequest, comm: &dyn Comm) -> Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    let count = args.shards.unwrap_or(dist::DEFAULT_SHARDS);
    let backends = if args.backends.is_empty() {
        vec![BackendKind::Cpu]
    } else {
        args.backends.clone()
    };
    let mut request = request.clone();
    request.nth = comm.local_rank();
    // Before any case is timed, every process checks the shapes' shards
    // and finds its adapter; one failure or a difference in the settings
    // stops them all with one message.
    let setup = (|| {
        if backends.contains(&BackendKind::Gpu) {
            gpu::context::pick(gpu::context::adapters(), &request)?;
        }
        for shape in &args.shapes.0 {
            (Shards::new(shape.n, count).and_then(|s| s.check_processes(size, false)))
                .with_context(|| format!("shape {}", shape.label()))?;
            if backends.contains(&BackendKind::Gpu) {
                super::bench_cmd::kernels_take(args, shape)?;
            }
        }
        anyhow::Ok(())
    })();
    super::train::agree(comm, "the bench's settings", setup, |_| {
        fingerprint(args, &backends, count)
    })?;
    let mut records = Vec::new();
    for shape in &args.shapes.0 {
        let shards = Shards::new(shape.n, count)?;
        // This process's rows only, cut into its shards.
        let mine = shards.rows_owned(rank, size);
        let rows = Dataset::synthetic_rows(shape.n, shape.f, 0, mine.clone())?;
        let sets: Vec<Dataset> = shards
            .owned(rank, size)
            .map(|s| {
                let r = shards.rows_of(s);
                rows.slice(r.start - mine.start..r.end - mine.start)
            })
            .collect();
        drop(rows);
        let layout = Layout::new(shape.f, &[shape.h])?;
        let names = (0..shape.f).map(|j| format!("x{j}")).collect();
        let model = Model::init(layout, args.activation, 0, names, "y".into());
        for &kind in &backends {
            let how = PassConfig {
                kind,
                first_ctx: None,
                adapter: &request,
                kernels: args.device.kernels,
                threads: args.device.threads,
                cpu_isa: args.device.cpu_isa,
            };
            let opt = Optimizer::gd(bench::LR);
            let (parts, threads) = shard_passes(how, &model, &sets, opt)?;
            let threads_named = units::count(threads, "thread");
            let adapter = match kind {
                BackendKind::Gpu => parts[0].describe(),
                // The build each shard's pass runs, as the one-process
                // bench names it.
                BackendKind::Cpu => {
                    let isa = args.device.cpu_isa.unwrap_or_else(Isa::detect);
                    format!("{} ({threads_named}, {})", cpu_name(), isa.name())
                }
                BackendKind::Reference => format!("{} ({threads_named})", cpu_name()),
            };
            let mut b = Sharded::new(parts, threads, comm, shards, &model.params, opt)?;
            // Every process runs the same samples, as each epoch reduces
            // over all of them: a warm-up by count only where there are
            // several (`bench --shards` in one process warms up by time too).
            let warmup = match size {
                1 => bench::Warmup::new(args.warmup),
                _ => bench::Warmup::exactly(args.warmup),
            };
            let timing = bench::time_epochs(&mut b, warmup, args.samples, 1)
                .with_context(|| format!("benchmarking {} on {kind}", shape.label()))?;
            let stats = b.stats();
            let epoch = timing.median();
            // The reduce share of an epoch, from every epoch run.
            let reduce = epoch * stats.reduce.as_secs_f64()
                / (stats.reduce + stats.compute)
                    .as_secs_f64()
                    .max(f64::MIN_POSITIVE);
            // The slowest process sets the pace: its numbers, on every process.
            let mut all = vec![0.0; 2 * size];
            comm.all_gather(&[epoch, reduce], &vec![2; size], &mut all);
            let slowest = slowest(&all);
            let stride = (model.params.len() + 2) * 8;
            let owned = shards.owned(rank, size).len();
            let record = DistRecord {
                shape: shape.label(),
                backend: kind,
                adapter,
                processes: size,
                shards: count,
                epoch_s: slowest[0],
                reduce_s: slowest[1],
                bytes_in: ((count - owned) * stride) as u64,
                bytes_out: (owned * stride * (size - 1)) as u64,
            };
            if rank == 0 && !args.quiet {
                crate::say!(
                    "{} {kind} on {} × {count} shards: median {:.3e} s/epoch, reduce {:.3e} s ({:.1}%), {} B in to process 0 per epoch",
                    record.shape,
                    units::count(size, "process"),
                    record.epoch_s,
                    record.reduce_s,
                    100.0 * record.reduce_s / record.epoch_s,
                    record.bytes_in
                );
            }
            records.push(record);
        }
    }
    if rank > 0 {
        return Ok(());
    }
    let outputs = [&args.json, &args.plot].into_iter().flatten();
    super::report(&table(&records), outputs.map(PathBuf::as_path))?;
    if let Some(path) = &args.json {
        super::write_json(path, &records)?;
    }
    Ok(())
}

/// Of each process's (median epoch, its reduce part), gathered in rank
/// order, the slowest process's pair: the pace every process keeps.
fn slowest(all: &[f64]) -> &[f64] {
    all.chunks_exact(2)
        .max_by(|a, b| a[0].total_cmp(&b[0]))
        .expect("one process at least")
}

fn table(records: &[DistRecord]) -> String {
    let mut s = String::new();
    outln!(
        s,
        "| shape | backend | P | K | s/epoch | reduce s | reduce share | bytes in/epoch, process 0 | adapter |"
    );
    outln!(s, "|---|---|---|---|---|---|---|---|---|");
    for r in records {
        outln!(
            s,
            "| {} | {} | {} | {} | {:.3e} | {:.3e} | {:.1}% | {} | {} |",
            r.shape,
            r.backend,
            r.processes,
            r.shards,
            r.epoch_s,
            r.reduce_s,
            100.0 * r.reduce_s / r.epoch_s,
            r.bytes_in,
            r.adapter
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slowest process's epoch, with its own reduce part (not the
    /// largest reduce of any process: a fast process waits longest).
    #[test]
    fn the_slowest_process_sets_the_pace() {
        let all = [2e-3, 1e-4, 5e-3, 2e-4, 3e-3, 9e-4];
        assert_eq!(slowest(&all), [5e-3, 2e-4]);
        assert_eq!(slowest(&all[..2]), [2e-3, 1e-4]);
    }

    /// The processes must agree on the cpu backend's build and threads as
    /// given, which set its pace, as on the shapes and samples.
    #[test]
    fn the_processes_agree_on_the_cpu_build_and_threads() {
        use clap::Parser;
        let print = |extra: &[&str]| {
            let mut argv = vec!["shadertrain", "bench", "--shards", "2"];
            argv.extend(extra);
            let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
            let crate::cli::Command::Bench(args) = cli.command else {
                panic!("not a bench");
            };
            fingerprint(&args, &[BackendKind::Cpu], 2)
        };
        let plain = print(&[]);
        assert!(plain.contains(r#""--cpu-isa":"default""#), "{plain}");
        assert!(plain.contains(r#""--threads":0"#), "{plain}");
        let baseline = print(&["--cpu-isa", "baseline"]);
        assert!(baseline.contains(r#""--cpu-isa":"baseline""#), "{baseline}");
        assert_ne!(print(&["--threads", "1"]), plain);
        assert_eq!(print(&[]), plain);
    }

    /// The table's reduce share is the reduce's part of the whole epoch.
    #[test]
    fn the_reduce_share_is_of_the_epoch() {
        let record = DistRecord {
            shape: "S0".into(),
            backend: BackendKind::Cpu,
            adapter: "a CPU (2 threads, avx2)".into(),
            processes: 2,
            shards: 4,
            epoch_s: 2e-3,
            reduce_s: 5e-4,
            bytes_in: 1584,
            bytes_out: 1584,
        };
        let text = table(&[record]);
        let row = text.lines().nth(2).expect("a row under the header");
        assert_eq!(
            row,
            "| S0 | cpu | 2 | 4 | 2.000e-3 | 5.000e-4 | 25.0% | 1584 | a CPU (2 threads, avx2) |"
        );
    }
}
