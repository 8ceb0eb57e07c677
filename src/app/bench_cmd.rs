//! `bench`: epoch times of each shape on each backend, as a table, JSON
//! and a chart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::config;
use super::progress;
use crate::bench::{self, BackendKind, Record, Shape};
use crate::cli::BenchArgs;
use crate::contention;
use crate::cpu::{Fast, Reference};
use crate::data::Dataset;
use crate::gpu::{self, AdapterRequest, GpuTrainer};
use crate::memory;
use crate::model::{Layout, Model};
use crate::optim::Optimizer;
use crate::plot::{self, Picture};
use crate::train::Backend;
use crate::units;

pub(super) fn bench_command(args: &BenchArgs) -> Result<()> {
    if let Some(size) = crate::dist::first_of_launched().filter(|_| !args.distributed) {
        crate::say!("warning: mpirun started {size} processes, and without --distributed each times the whole bench alone, on cores the others share, and writes the same outputs; add --distributed to time the sharded trainer over them");
    }
    if args.distributed || args.shards.is_some() {
        return super::bench_dist::bench_sharded(args);
    }
    let request = config::check_bench(args, true)?;
    let backends = backends_to_time(args, &request)?;
    // Before any case is timed, so that a bad interpreter costs no wait.
    let peers = match args.peers {
        true => Some(super::peers::Setup::new(
            &args.python,
            config::peer_timeout(args)?,
        )?),
        false => None,
    };
    let cases = args.shapes.0.len() * backends.len();
    let per_case = bench::samples_per_case(args.warmup, args.samples);
    // Samples done of all cases, the case in hand and the ETA.
    let bar = progress::bar(
        args.quiet,
        cases * per_case,
        "{wide_bar} {pos}/{len} samples  case {msg}  ETA {eta}",
    );
    // Per-case lines go above the bar (or straight to a pipe), one per line.
    let say = |line: String| {
        if !args.quiet {
            bar.suspend(|| crate::say!("{line}"));
        }
    };
    // Every case is checked before the first is timed: on the GPU against
    // the adapter's limits too, on a device opened for that alone.
    let checking = match backends.contains(&BackendKind::Gpu) {
        true => Some(gpu::Context::new(&request)?),
        false => None,
    };
    for shape in &args.shapes.0 {
        fits(args, &backends, shape, checking.as_ref())?;
        if backends.contains(&BackendKind::Cpu) {
            let threads = (
                args.device.threads,
                Fast::thread_count(args.device.threads, shape.n),
            );
            let on = format!(" on {}", shape.label());
            super::threads_lowered(args.quiet, threads, shape.n, &on);
        }
    }
    drop(checking);
    let mut records = Vec::new();
    let mut case = 0;
    for shape in &args.shapes.0 {
        let layout = Layout::new(shape.f, &[shape.h])?;
        let data = Dataset::synthetic(shape.n, shape.f, 0)?;
        let model = Model::init(
            layout,
            args.activation,
            0,
            data.feature_names.clone(),
            "y".into(),
        );
        for &which in &backends {
            case += 1;
            bar.set_message(format!(
                "{case}/{cases}: {} ({}×{}, h {}) on {which}",
                shape.label(),
                shape.n,
                shape.f,
                shape.h
            ));
            let mut tick = || bar.inc(1);
            let case = Case {
                args,
                request: &request,
                shape,
                model: &model,
                data: &data,
            };
            let record = case.time(which, &mut tick)?;
            let busy = record.contention.and_then(|c| c.clause("this case"));
            say(format!(
                "{} {which}: median {:.3e} s/epoch ({} GFLOP/s), setup {:.2e} s, first sample {:.2e} s{}",
                shape.label(),
                record.median_s,
                crate::units::decimals(record.gflops, 2),
                record.setup_s.unwrap_or(0.0),
                record.first_sample_s.unwrap_or(0.0),
                busy.map_or(String::new(), |b| format!("; {b}"))
            ));
            if let Some(k) = &record.kernel_s {
                let parts: Vec<String> = k
                    .iter()
                    .map(|(name, s)| format!("{name} {:.3} ms", s * 1e3))
                    .collect();
                say(format!(
                    "  GPU time per kernel, median of {PROFILED_EPOCHS} epochs: {}",
                    parts.join(", ")
                ));
            }
            records.push(record);
        }
    }
    bar.finish_and_clear();
    let mut timed_no_peer = false;
    if let Some(setup) = &peers {
        let timed = time_peers(args, setup, &backends);
        timed_no_peer = timed.is_empty();
        records.extend(timed);
    }
    bench::fill_speedups(&mut records);
    for warning in bench::first_loss_mismatches(&records) {
        crate::say!("{warning}");
    }
    if let Some(notice) = contended(&records) {
        super::notice(args.quiet, &notice);
    }
    let outputs = [&args.json, &args.plot].into_iter().flatten();
    super::report(&bench::table(&records), outputs.map(PathBuf::as_path))?;
    // Each output is tried whatever became of the other; a failure names
    // its option.
    let mut written = super::Outputs::new(true);
    if let Some(path) = &args.json {
        written.note("--json", super::write_json(path, &records))?;
    }
    if let Some(path) = &args.plot {
        let plot = plot::BenchBars { records: &records }.write(path);
        written.note("--plot", plot.map_err(Into::into))?;
    }
    let no_peer = "--peers timed no peer (the notices above say why)";
    written.check(&match timed_no_peer {
        true => format!("{no_peer}; the table holds shadertrain's own timings"),
        false => "the table was printed".to_string(),
    })?;
    if timed_no_peer {
        anyhow::bail!("{no_peer}; the table and outputs hold shadertrain's own timings");
    }
    Ok(())
}

/// `--peers`' records of the shapes: the CUDA peers' where `backends`
/// times the GPU.
fn time_peers(
    args: &BenchArgs,
    setup: &super::peers::Setup,
    backends: &[BackendKind],
) -> Vec<Record> {
    let shapes: Vec<Shape> = args.shapes.0.clone();
    let peers = super::peers::Peers {
        setup,
        shapes: &shapes,
        activation: args.activation.name(),
        samples: args.samples,
        warmup: args.warmup,
        gpu_batch: args.gpu_batch,
        threads: args.device.threads,
        gpu: backends.contains(&BackendKind::Gpu),
    };
    // Notices always show; the per-peer lines follow --quiet.
    peers.run(&mut |line: String| {
        if !args.quiet || line.starts_with("notice:") {
            crate::say!("{line}");
        }
    })
}

/// The notice of a bench some of whose cases ran while other processes
/// kept the cores busy ([`contention::Contention::notable`]), naming
/// them; `None` where none did.
fn contended(records: &[Record]) -> Option<String> {
    let busy: Vec<(&Record, contention::Contention)> = (records.iter())
        .filter_map(|r| Some((r, r.contention.filter(|c| c.notable)?)))
        .collect();
    let (_, most) = busy
        .iter()
        .max_by(|(_, a), (_, b)| a.others_cores.total_cmp(&b.others_cores))?;
    let cases: Vec<String> = (busy.iter())
        .map(|(r, _)| format!("{} {}", r.shape, r.backend))
        .collect();
    let peer = match (busy.iter()).any(|(r, _)| matches!(r.backend, bench::Runner::Peer(_))) {
        true => " (a peer's while its script ran, its shapes together)",
        false => "",
    };
    Some(format!(
        "other processes (or, on a virtual machine, the hypervisor) took up to {} of the {} this bench may run on, leaving none idle, while it warmed up and timed {}{peer}; those times may be slower than an idle machine's, and ratios to cases timed at other moments can mislead",
        units::decimals(most.others_cores, 2),
        units::count(most.cores, "core"),
        units::joined(&cases, "and")
    ))
}

/// The backends to time: those of `--backends`, where the GPU's adapter is
/// found before any case is timed; by default the CPU, and the GPU where
/// wgpu finds a hardware adapter (or any, where `--adapter` or another GPU
/// setting is given).
fn backends_to_time(args: &BenchArgs, request: &AdapterRequest) -> Result<Vec<BackendKind>> {
    if args.backends.contains(&BackendKind::Gpu) {
        gpu::context::pick(gpu::context::adapters(), request)?;
    }
    if !args.backends.is_empty() {
        return Ok(args.backends.clone());
    }
    let mut all = vec![BackendKind::Cpu];
    // A software adapter (lavapipe) runs on the CPU itself, far slower than
    // the cpu backend: timed by default only where a GPU setting or an
    // adapter's name asks for the GPU, as train's auto picks no software
    // one.
    let flag = config::bench_gpu_flag(args);
    let default = AdapterRequest {
        allow_software: request.name.is_some() || flag.is_some(),
        ..request.clone()
    };
    match gpu::context::pick(gpu::context::adapters(), &default) {
        Ok(_) => all.push(BackendKind::Gpu),
        // An adapter asked for by name that is not there is an error.
        Err(e) if request.name.is_some() => return Err(e.into()),
        Err(e) => match flag {
            // A GPU setting asked for is not silently dropped.
            Some(flag) => anyhow::bail!(
                "{flag} is a setting of the GPU backend, and wgpu finds no GPU adapter ({e}); leave out {flag} to time the CPU alone"
            ),
            None => {
                let software = (gpu::context::adapters().iter())
                    .map(wgpu::Adapter::get_info)
                    .find(gpu::context::is_software);
                let why = match software {
                    Some(info) => format!(
                        "no hardware GPU adapter, and {} is a software one, which runs on the CPU; timing the CPU only (--backends cpu,gpu times it too)",
                        info.name
                    ),
                    None => "no GPU adapter; timing the CPU only".to_string(),
                };
                super::notice(args.quiet, &why);
            }
        },
    }
    Ok(all)
}

/// One shape, its data and starting model, to time on a backend.
struct Case<'a> {
    args: &'a BenchArgs,
    request: &'a AdapterRequest,
    shape: &'a Shape,
    model: &'a Model,
    data: &'a Dataset,
}

impl Case<'_> {
    /// Sets up `which` (timed as setup) and times its epochs; `tick` after
    /// every sample.
    fn time(&self, which: BackendKind, tick: &mut dyn FnMut()) -> Result<Record> {
        let (args, model, data) = (self.args, self.model, self.data);
        let opt = Optimizer::gd(bench::LR);
        let start = std::time::Instant::now();
        let time = |b: &mut dyn Backend, per_sample: usize, tick: &mut dyn FnMut()| {
            bench::time_epochs_with(
                b,
                bench::Warmup::new(args.warmup),
                args.samples,
                per_sample,
                tick,
            )
            .with_context(|| format!("benchmarking {} on {which}", self.shape.label()))
        };
        // The build the cpu backend ran (`--cpu-isa`), for the record.
        let mut isa = None;
        let (adapter, setup_s, timing, kernels) = match which {
            BackendKind::Cpu => {
                let mut b = Fast::new(model, data, opt, args.device.threads)?
                    .with_isa(args.device.cpu_isa)?;
                let setup = start.elapsed().as_secs_f64();
                let adapter = format!(
                    "{} ({}, {})",
                    cpu_name(),
                    units::count(b.threads(), "thread"),
                    b.isa().name()
                );
                isa = Some(b.isa());
                (adapter, setup, time(&mut b, 1, tick)?, None)
            }
            BackendKind::Reference => {
                let mut b = Reference::new(model, data, opt)?;
                let setup = start.elapsed().as_secs_f64();
                let adapter = format!("{} (1 thread)", cpu_name());
                (adapter, setup, time(&mut b, 1, tick)?, None)
            }
            BackendKind::Gpu => {
                let ctx = gpu::Context::new(self.request)?;
                let adapter = match ctx.mixed_name() {
                    Some(mixed) => format!("{} ({mixed})", ctx.info.name),
                    None => ctx.info.name.clone(),
                };
                let source = gpu::Source::Host(data);
                let mut g = GpuTrainer::with(ctx, model, source, opt, args.device.kernels)?;
                let setup = start.elapsed().as_secs_f64();
                let adapter = format!("{adapter}, {} kernels", g.family().name());
                let timing = time(&mut g, args.gpu_batch, tick)?;
                (adapter, setup, timing, kernel_times(&mut g)?)
            }
        };
        let activation = args.activation.name();
        let mut record = Record::new(which, &adapter, self.shape, activation, &timing, setup_s);
        record.kernel_s = kernels;
        if let Some(isa) = isa {
            record.cpu.build = isa.name().to_string();
        }
        Ok(record)
    }
}

/// Epochs profiled for `kernel_s`: each kernel's median of them.
const PROFILED_EPOCHS: usize = 5;

/// GPU seconds per kernel entry point in an epoch, the median of
/// [`PROFILED_EPOCHS`], where the adapter has timestamp queries.
fn kernel_times(g: &mut GpuTrainer) -> Result<Option<BTreeMap<String, f64>>> {
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..PROFILED_EPOCHS {
        let Some(epoch) = g.profile()? else {
            return Ok(None);
        };
        for (k, s) in epoch {
            times
                .entry(k.entry_point().to_string())
                .or_default()
                .push(s);
        }
    }
    Ok(Some(
        times
            .into_iter()
            .map(|(k, mut s)| {
                s.sort_by(f64::total_cmp);
                (k, s[s.len() / 2])
            })
            .collect(),
    ))
}

/// The CPU's model name, from /proc/cpuinfo where there is one.
pub(super) fn cpu_name() -> &'static str {
    &crate::cpu::Host::get().model
}

/// Refuses a shape whose network the machine cannot hold beside its
/// rows (which [`Dataset::synthetic`] checks itself): the model and its
/// copy, and the host backends' own memory where they are timed.
fn fits(
    args: &BenchArgs,
    backends: &[BackendKind],
    shape: &Shape,
    gpu: Option<&gpu::Context>,
) -> Result<()> {
    let layout = &Layout::new(shape.f, &[shape.h])?;
    let opt = Optimizer::gd(bench::LR);
    if backends.contains(&BackendKind::Gpu) {
        kernels_take(args, shape)?;
    }
    // The buffers within the adapter's limits; a software adapter's are
    // the host's memory.
    let on_gpu = match gpu {
        Some(ctx) => {
            let plan = GpuTrainer::plan_for(ctx, layout, shape.n, args.device.kernels)
                .with_context(|| {
                    format!(
                        "{} ({} rows × {} features, {} hidden units) on {}",
                        shape.label(),
                        shape.n,
                        shape.f,
                        shape.h,
                        ctx.info.name
                    )
                })?;
            match gpu::context::is_software(&ctx.info) {
                true => Some(plan.device_bytes(layout, shape.n, opt.state_per_param())),
                false => Some(0),
            }
        }
        None => Some(0),
    };
    let p = layout.len();
    let rows = memory::product(&[shape.n, shape.f + 1, 4]);
    // The backends are timed one after another, each dropped before the
    // next: the most any one takes, beside the model and the rows.
    let most = (backends.iter())
        .map(|kind| match kind {
            BackendKind::Cpu => Fast::bytes_needed(layout, shape.n, &opt, args.device.threads),
            BackendKind::Reference => Reference::bytes_needed(layout, shape.n, &opt),
            BackendKind::Gpu => on_gpu,
        })
        .try_fold(0u64, |most, b| b.map(|b| most.max(b)));
    memory::check(
        memory::sum(&[memory::product(&[2, p, 4]), rows, most]),
        || {
            format!(
                "benchmarking {} ({} → {} → 1, {})",
                shape.label(),
                shape.f,
                shape.h,
                units::count(p, "parameter")
            )
        },
        "use fewer hidden units, features or rows",
    )?;
    Ok(())
}

/// Whether the kernels asked for take `shape` (fused has its limits), on
/// any adapter: whether it is a hardware one changes only auto's choice.
pub(super) fn kernels_take(args: &BenchArgs, shape: &Shape) -> Result<()> {
    let layout = &Layout::new(shape.f, &[shape.h])?;
    let mixed = args.device.precision != gpu::mixed::Precision::F32;
    gpu::KernelFamily::choose(args.device.kernels, layout, true, mixed).with_context(|| {
        let kernels = clap::ValueEnum::to_possible_value(&args.device.kernels)
            .map_or_else(String::new, |v| v.get_name().to_string());
        format!(
            "{} ({} rows × {} features, {} hidden units) with --kernels {kernels}",
            shape.label(),
            shape.n,
            shape.f,
            shape.h,
        )
    })?;
    Ok(())
}
