//! The CPU-against-GPU benchmark: docs/spec.md's shapes, timed per epoch after
//! warm-up with the device drained, reported as median, min and max.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::Layout;
use crate::train::Backend;
use crate::units;

/// A trainer: the backends `train --backend` names (but `auto`, which
/// picks one of these) and `bench --backends` times. Its name is its CLI
/// value and its JSON form.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The fast CPU trainer of `train --backend cpu`.
    Cpu,
    /// The f64 reference trainer (slow: plain loops, one thread).
    Reference,
    /// A wgpu adapter, software ones included.
    Gpu,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Reference => "reference",
            BackendKind::Gpu => "gpu",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that table widths apply.
        f.pad(self.name())
    }
}

/// Who ran a benchmark record: one of shadertrain's backends, or a peer
/// framework running the same epoch (benches/*_epoch.py). Its name is its
/// JSON form and its table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runner {
    Own(BackendKind),
    /// A peer, by the name its script reports (`numpy`, `torch-eager`,
    /// `torch-compile`, `jax-jit`).
    Peer(String),
}

impl Runner {
    pub fn name(&self) -> &str {
        match self {
            Runner::Own(kind) => kind.name(),
            Runner::Peer(name) => name,
        }
    }
}

impl std::fmt::Display for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl serde::Serialize for Runner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Benchmarks use α = 0.1 (docs/spec.md).
pub const LR: f64 = 0.1;

/// A benchmark shape: N rows of f features into h hidden units. The named
/// ones are docs/spec.md's; `bench --shapes` also takes any other as
/// `NxFxH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// `S0`..`S4`, or `None` for a shape given as `NxFxH`.
    pub name: Option<&'static str>,
    pub n: usize,
    pub f: usize,
    pub h: usize,
}

impl Shape {
    /// How tables, JSON records and the peers' scripts name it: `S1`, or
    /// `65536x16x64`.
    pub fn label(&self) -> String {
        match self.name {
            Some(name) => name.to_string(),
            None => format!("{}x{}x{}", self.n, self.f, self.h),
        }
    }
}

pub const SHAPES: [Shape; 5] = [
    Shape {
        name: Some("S0"),
        n: 1_024,
        f: 4,
        h: 16,
    },
    Shape {
        name: Some("S1"),
        n: 65_536,
        f: 16,
        h: 64,
    },
    Shape {
        name: Some("S2"),
        n: 1_048_576,
        f: 32,
        h: 128,
    },
    Shape {
        name: Some("S3"),
        n: 16_384,
        f: 256,
        h: 1_024,
    },
    Shape {
        name: Some("S4"),
        n: 16_777_216,
        f: 16,
        h: 64,
    },
];

/// `S1,S3` → those shapes, in the order given; `NxFxH` (`x` or `×`) is
/// N rows of F features into H hidden units.
pub fn parse_shapes(spec: &str) -> std::result::Result<Vec<Shape>, String> {
    spec.split(',').map(|s| parse_shape(s.trim())).collect()
}

fn parse_shape(s: &str) -> std::result::Result<Shape, String> {
    if let Some(shape) = SHAPES
        .iter()
        .find(|shape| shape.name.is_some_and(|name| name.eq_ignore_ascii_case(s)))
    {
        return Ok(*shape);
    }
    let unknown = || {
        format!(
            "unknown shape '{s}'; expected some of S0,S1,S2,S3,S4, or ROWSxFEATURESxHIDDEN \
             such as 65536x16x64"
        )
    };
    let sizes: Vec<&str> = s.split(['x', 'X', '×']).collect();
    let [n, f, h] = sizes[..] else {
        return Err(unknown());
    };
    let size = |text: &str, what: &str| match text.parse::<usize>() {
        _ if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) => Err(unknown()),
        Ok(0) => Err(format!("shape '{s}': {what} must be at least 1")),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("shape '{s}': {what} '{text}' is too large")),
    };
    let shape = Shape {
        name: None,
        n: size(n, "rows")?,
        f: size(f, "features")?,
        h: size(h, "hidden units")?,
    };
    // A network too large to count its parameters is refused with the rest.
    Layout::new(shape.f, &[shape.h]).map_err(|e| format!("shape '{s}': {e}"))?;
    Ok(shape)
}

/// Per-epoch times of one case, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// One entry per timed sample: the sample's time divided by its epochs.
    pub per_epoch: Vec<f64>,
    /// Epochs timed in all.
    pub epochs: usize,
    /// Seconds of the first sample, pipelines and upload excluded.
    pub first_s: f64,
    /// The loss of the first epoch, before any update: that of the
    /// shape's data and initial weights.
    pub first_loss: f64,
    /// How busy the cores this process may run on were over the warm-up
    /// after the first sample and the timed samples, where `/proc` says.
    pub contention: Option<crate::contention::Contention>,
}

impl Timing {
    pub fn median(&self) -> f64 {
        let mut v = self.per_epoch.clone();
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.per_epoch.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.per_epoch.iter().copied().fold(0.0, f64::max)
    }
}

/// How long a case warms up before its timed samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// Untimed samples; the first always runs, as it includes work done
    /// once (pipeline compilation, first touches of memory).
    pub samples: usize,
    /// After the first sample, warm-up goes on until this much time has
    /// passed as well. A process's first milliseconds can run well below
    /// its speed: on a 2-vCPU AMD EPYC (Zen 4), 64-µs epochs of the cpu
    /// backend with 2 threads ran at 1 thread's speed for their first
    /// 1–2 ms, so 2 warm-up and 10 timed samples gave a median 1.5–2×
    /// the steady one.
    pub at_least: std::time::Duration,
}

/// [`Warmup::at_least`] for `bench`: far above the transient seen, and
/// small beside a case's set-up.
pub const WARM_FOR: std::time::Duration = std::time::Duration::from_millis(200);

impl Warmup {
    /// `samples` untimed samples and [`WARM_FOR`] of them at least.
    pub fn new(samples: usize) -> Warmup {
        Warmup {
            samples,
            at_least: WARM_FOR,
        }
    }

    /// Exactly `samples` (one at least), whatever their time: where every
    /// process of a distributed run must run as many as the others.
    pub fn exactly(samples: usize) -> Warmup {
        Warmup {
            samples,
            at_least: std::time::Duration::ZERO,
        }
    }
}

/// Runs the `warmup` samples, then `samples` timed samples of `per_sample`
/// epochs each, on a backend built with [`LR`]. Every sample ends with the backend's loss readback, so the
/// device has drained when the clock stops.
pub fn time_epochs(
    backend: &mut dyn Backend,
    warmup: Warmup,
    samples: usize,
    per_sample: usize,
) -> Result<Timing> {
    time_epochs_with(backend, warmup, samples, per_sample, &mut || {})
}

/// Samples [`time_epochs`] counts for one case in its progress: the first
/// (untimed) one, the rest of the warm-up's count, then the timed ones.
/// Warm-up samples past the count, run to fill [`Warmup::at_least`], are
/// not counted.
pub fn samples_per_case(warmup: usize, samples: usize) -> usize {
    warmup.max(1) + samples
}

/// [`time_epochs`], calling `tick` after every counted sample (a progress
/// bar); outside the timed region, so it costs the measurement nothing.
pub fn time_epochs_with(
    backend: &mut dyn Backend,
    warmup: Warmup,
    samples: usize,
    per_sample: usize,
    tick: &mut dyn FnMut(),
) -> Result<Timing> {
    if samples == 0 || per_sample == 0 {
        return Err(Error::Config(
            "a benchmark needs at least one timed epoch".into(),
        ));
    }
    // One sample's losses at a time: the first that is not finite is an
    // error, at its epoch.
    let mut losses = Vec::with_capacity(per_sample);
    let mut before = 0;
    let mut first_loss = f64::NAN;
    let mut sample = |backend: &mut dyn Backend| -> Result<f64> {
        losses.clear();
        let t = Instant::now();
        backend.run(per_sample, &mut losses)?;
        let s = t.elapsed().as_secs_f64();
        if let Some(k) = losses.iter().position(|l| !l.is_finite()) {
            return Err(Error::Diverged {
                epoch: before + k,
                loss: losses[k],
                lr: LR,
            });
        }
        if before == 0 {
            first_loss = losses.first().copied().unwrap_or(f64::NAN);
        }
        before += losses.len();
        Ok(s)
    };
    let first_s = sample(backend)?;
    tick();
    let start = crate::contention::Reading::now();
    let warm = Instant::now();
    for _ in 1..warmup.samples {
        sample(backend)?;
        tick();
    }
    while warm.elapsed() < warmup.at_least {
        sample(backend)?;
    }
    let mut per_epoch = Vec::with_capacity(samples);
    for _ in 0..samples {
        per_epoch.push(sample(backend)? / per_sample as f64);
        tick();
    }
    let end = crate::contention::Reading::now();
    Ok(Timing {
        per_epoch,
        epochs: samples * per_sample,
        first_s,
        first_loss,
        contention: start.zip(end).and_then(|(s, e)| s.since(&e)),
    })
}

/// One row of the table and of `--json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Record {
    pub backend: Runner,
    pub adapter: String,
    /// Whether the record ran on the host's CPU (shadertrain's cpu and
    /// reference backends, CPU peers) rather than a GPU adapter.
    pub on_cpu: bool,
    pub shape: String,
    pub n: usize,
    pub f: usize,
    pub h: usize,
    pub activation: String,
    pub epochs: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub samples_per_s: f64,
    pub gflops: f64,
    /// Seconds of the first timed-or-warm-up sample after setup (not
    /// reported by peers).
    pub first_sample_s: Option<f64>,
    /// Setup: data upload and pipeline creation, in seconds (not reported
    /// by peers).
    pub setup_s: Option<f64>,
    /// The loss of the first epoch, before any update; a peer's where its
    /// script reports it. Every case of a shape trains the same network
    /// from the same start, so these agree ([`first_loss_mismatches`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_loss: Option<f64>,
    /// The CPU record's median over this one's, on the same shape, for GPU rows.
    pub speedup_vs_cpu: Option<f64>,
    /// For a peer's record: its median over shadertrain's on the same shape
    /// and kind of device (the cpu backend for a CPU peer, the gpu backend
    /// for a GPU one). Above 1, shadertrain is faster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadertrain_speedup: Option<f64>,
    /// The peer framework's version, for a peer's record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The host's CPU, whatever the record ran on.
    pub cpu: crate::cpu::Host,
    /// GPU seconds per kernel in one epoch, from timestamp queries, where
    /// the adapter has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_s: Option<std::collections::BTreeMap<String, f64>>,
    /// How busy the cores this process may run on were while the case
    /// warmed up and was timed (a peer's: while its script ran, its
    /// shapes together), where Linux's `/proc` says
    /// ([`crate::contention`]); where [`notable`], its times may be
    /// slower than an idle machine's.
    ///
    /// [`notable`]: crate::contention::Contention::notable
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contention: Option<crate::contention::Contention>,
}

impl Record {
    pub fn new(
        backend: BackendKind,
        adapter: &str,
        shape: &Shape,
        activation: &str,
        timing: &Timing,
        setup_s: f64,
    ) -> Record {
        let layout = Layout::new(shape.f, &[shape.h]).expect("benchmark shapes are valid");
        let median = timing.median();
        Record {
            backend: Runner::Own(backend),
            adapter: adapter.to_string(),
            on_cpu: backend != BackendKind::Gpu,
            shape: shape.label(),
            n: shape.n,
            f: shape.f,
            h: shape.h,
            activation: activation.to_string(),
            epochs: timing.epochs,
            median_s: median,
            min_s: timing.min(),
            max_s: timing.max(),
            samples_per_s: shape.n as f64 / median,
            gflops: layout.epoch_flops(shape.n) / median / 1e9,
            first_sample_s: Some(timing.first_s),
            setup_s: Some(setup_s),
            first_loss: Some(timing.first_loss),
            speedup_vs_cpu: None,
            shadertrain_speedup: None,
            version: None,
            cpu: crate::cpu::Host::get().clone(),
            kernel_s: None,
            contention: timing.contention,
        }
    }
}

/// One line a peer's script prints (benches/epoch_common.py's `report`).
#[derive(Debug, serde::Deserialize)]
pub struct PeerLine {
    pub adapter: String,
    pub shape: String,
    pub activation: String,
    pub epochs: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    /// The framework's version, under its own name (`numpy`, `torch`, `jax`).
    #[serde(flatten)]
    pub rest: std::collections::BTreeMap<String, serde_json::Value>,
}

impl PeerLine {
    /// Why this line cannot be a record of a run of `activation` with
    /// `epochs` timed epochs (its samples times the epochs in each), if
    /// it cannot: times that are not positive and finite, or out of
    /// order, or another case than the one asked for.
    pub fn fault(&self, activation: &str, epochs: usize) -> Option<String> {
        let times = [self.min_s, self.median_s, self.max_s];
        if times.iter().any(|t| !t.is_finite() || *t <= 0.0) {
            return Some(format!(
                "its times are not positive and finite (min {}, median {}, max {} s)",
                self.min_s, self.median_s, self.max_s
            ));
        }
        if !(self.min_s <= self.median_s && self.median_s <= self.max_s) {
            return Some(format!(
                "its median {} s is not between its min {} s and max {} s",
                self.median_s, self.min_s, self.max_s
            ));
        }
        if self.activation != activation {
            return Some(format!("it timed {}, not {activation}", self.activation));
        }
        if self.epochs != epochs {
            return Some(format!("it timed {} epochs, not {epochs}", self.epochs));
        }
        None
    }
}

impl Record {
    /// Peer `name`'s record of `shape`, from its script's line; `on_cpu`
    /// unless it ran on a GPU.
    pub fn peer(name: &str, on_cpu: bool, line: PeerLine, shape: &Shape) -> Record {
        let layout = Layout::new(shape.f, &[shape.h]).expect("benchmark shapes are valid");
        let version = ["numpy", "torch", "jax"].into_iter().find_map(|k| {
            let v = line.rest.get(k)?.as_str()?;
            Some(format!("{k} {v}"))
        });
        Record {
            on_cpu,
            backend: Runner::Peer(name.to_string()),
            adapter: line.adapter,
            shape: shape.label(),
            n: shape.n,
            f: shape.f,
            h: shape.h,
            activation: line.activation,
            epochs: line.epochs,
            median_s: line.median_s,
            min_s: line.min_s,
            max_s: line.max_s,
            samples_per_s: shape.n as f64 / line.median_s,
            gflops: layout.epoch_flops(shape.n) / line.median_s / 1e9,
            first_sample_s: None,
            setup_s: None,
            first_loss: line
                .rest
                .get("first_loss")
                .and_then(serde_json::Value::as_f64),
            speedup_vs_cpu: None,
            shadertrain_speedup: None,
            version,
            cpu: crate::cpu::Host::get().clone(),
            kernel_s: None,
            contention: None,
        }
    }
}

/// Fills `speedup_vs_cpu` of every GPU record from the cpu record of the
/// same shape, and `shadertrain_speedup` of every peer's record from the
/// cpu or gpu record of its shape, where there is one.
pub fn fill_speedups(records: &mut [Record]) {
    let median = |records: &[Record], kind: BackendKind, shape: &str| {
        records
            .iter()
            .find(|r| r.backend == Runner::Own(kind) && r.shape == shape)
            .map(|r| r.median_s)
    };
    let ours = records.to_vec();
    for r in records.iter_mut() {
        match r.backend {
            Runner::Own(BackendKind::Gpu) => {
                r.speedup_vs_cpu =
                    median(&ours, BackendKind::Cpu, &r.shape).map(|c| c / r.median_s);
            }
            Runner::Peer(_) => {
                let kind = if r.on_cpu {
                    BackendKind::Cpu
                } else {
                    BackendKind::Gpu
                };
                r.shadertrain_speedup = median(&ours, kind, &r.shape).map(|m| r.median_s / m);
            }
            Runner::Own(_) => {}
        }
    }
}

/// Relative difference past which a peer's first loss is another
/// problem's: the losses are f32 sums over the rows in other orders, far
/// closer than this; other data or weights differ in the first digit.
pub const FIRST_LOSS_RTOL: f64 = 1e-3;

/// A warning for each peer's record whose first loss differs from
/// shadertrain's on the same shape by more than [`FIRST_LOSS_RTOL`]: it
/// did not train the same network from the same start, so its time is
/// not a like-for-like comparison.
pub fn first_loss_mismatches(records: &[Record]) -> Vec<String> {
    let ours = |shape: &str| {
        let own = records
            .iter()
            .filter(|r| matches!(r.backend, Runner::Own(_)));
        own.filter(|r| r.shape == shape).find_map(|r| r.first_loss)
    };
    let peers = records
        .iter()
        .filter(|r| matches!(r.backend, Runner::Peer(_)));
    peers
        .filter_map(|r| {
            let (theirs, ours) = (r.first_loss?, ours(&r.shape)?);
            // A NaN is far too.
            let close = (theirs - ours).abs() <= FIRST_LOSS_RTOL * ours.abs();
            (!close).then(|| {
                format!(
                    "warning: {} ({}) began {} at loss {theirs:.6e}, and shadertrain at {ours:.6e}: it did not train the same network from the same start, so its time is not like for like",
                    r.backend, r.adapter, r.shape
                )
            })
        })
        .collect()
}

/// The records as an aligned text table. Its last column is the GPU's
/// speedup over the cpu backend on GPU rows, and shadertrain's speedup
/// over the peer on a peer's rows; a line under the table says so when
/// there are peers.
pub fn table(records: &[Record]) -> String {
    // The adapter column as wide as its longest name, up to ADAPTER_WIDTH;
    // a longer name is cut with "…", before the kernels it ends with
    // ("…, layered kernels"), which are kept.
    // ("llvmpipe (LLVM 15.0.6, 256 bits), layered kernels" is 50.)
    const ADAPTER_WIDTH: usize = 64;
    let adapter = |r: &Record| {
        let name = &r.adapter;
        if name.chars().count() <= ADAPTER_WIDTH {
            return name.clone();
        }
        let kernels = (name.rfind(", ").map(|at| &name[at..]))
            .filter(|tail| tail.ends_with(" kernels") && tail.chars().count() < ADAPTER_WIDTH / 2)
            .unwrap_or("");
        let head = ADAPTER_WIDTH - 1 - kernels.chars().count();
        name.chars()
            .take(head)
            .chain(['…'])
            .chain(kernels.chars())
            .collect::<String>()
    };
    let width = (records.iter())
        .map(|r| adapter(r).chars().count())
        .fold("adapter".len(), usize::max);
    let shape_width = (records.iter())
        .map(|r| r.shape.chars().count())
        .fold("shape".len(), usize::max);
    let backend_width = (records.iter())
        .map(|r| r.backend.to_string().chars().count())
        .fold("backend".len(), usize::max);
    let mut out = format!(
        "{:<backend_width$} {:<width$} {:<shape_width$} {:>10} {:>10} {:>10} {:>12} {:>9} {:>8}\n",
        "backend",
        "adapter",
        "shape",
        "median s",
        "min s",
        "max s",
        "samples/s",
        "GFLOP/s",
        "speedup"
    );
    for r in records {
        out.push_str(&format!(
            "{:<backend_width$} {:<width$} {:<shape_width$} {:>10.3e} {:>10.3e} {:>10.3e} {:>12.3e} {:>9} {:>8}\n",
            r.backend,
            adapter(r),
            r.shape,
            r.median_s,
            r.min_s,
            r.max_s,
            r.samples_per_s,
            units::decimals(r.gflops, 2),
            r.speedup_vs_cpu
                .or(r.shadertrain_speedup)
                .map_or("-".to_string(), ratio)
        ));
    }
    if records.iter().any(|r| matches!(r.backend, Runner::Peer(_))) {
        out.push_str(
            "speedup: gpu rows, the cpu backend's median over the gpu's; peer rows, the \
             peer's median over shadertrain's on the same device (above 1: shadertrain is faster)\n",
        );
    } else if records.iter().any(|r| r.speedup_vs_cpu.is_some()) {
        out.push_str("speedup: the cpu backend's median over the gpu's\n");
    }
    out
}

/// A speedup as the table shows it: two decimals, or three significant
/// digits below 0.1 (a GPU 400 times slower on a tiny shape is
/// 0.00254x, not 0.00x).
fn ratio(s: f64) -> String {
    format!("{}x", units::decimals(s, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_speedups_keep_their_digits() {
        assert_eq!(ratio(0.00254), "0.00254x");
        assert_eq!(ratio(0.0994), "0.0994x");
        assert_eq!(ratio(0.09996), "0.10x");
        assert_eq!(ratio(0.5), "0.50x");
        assert_eq!(ratio(8.333), "8.33x");
    }

    /// A peer's line is taken only where its times are positive, finite
    /// and in order, and it timed the case asked for.
    #[test]
    fn peer_lines_that_cannot_be_timings_are_refused() {
        let line = |text: &str| serde_json::from_str::<PeerLine>(text).unwrap();
        let good = r#"{"adapter":"cpu","shape":"S0","activation":"tanh","epochs":3,"median_s":2e-3,"min_s":1e-3,"max_s":3e-3,"numpy":"2.4"}"#;
        assert_eq!(line(good).fault("tanh", 3), None);
        assert!(line(good)
            .fault("sigmoid", 3)
            .unwrap()
            .contains("not sigmoid"));
        assert!(line(good).fault("tanh", 10).unwrap().contains("3 epochs"));
        for (median, min, max) in [(0.0, 0.0, 0.0), (-1.0, -2.0, 1.0), (2e-3, 0.0, 3e-3)] {
            let text = good
                .replace("2e-3", &median.to_string())
                .replace("1e-3", &min.to_string())
                .replace("3e-3", &max.to_string());
            assert!(
                line(&text)
                    .fault("tanh", 3)
                    .unwrap()
                    .contains("positive and finite"),
                "{text}"
            );
        }
        // Equal times are in order: a sample of one, or a coarse clock.
        let equal = good.replace("1e-3", "2e-3").replace("3e-3", "2e-3");
        assert_eq!(line(&equal).fault("tanh", 3), None);
        let unordered = good.replace("2e-3", "5e-3");
        assert!(line(&unordered)
            .fault("tanh", 3)
            .unwrap()
            .contains("not between"));
    }

    /// A backend whose epochs take `epoch` each, noting when each run
    /// (one sample) starts and ends.
    struct Clocked {
        epoch: std::time::Duration,
        runs: Vec<(Instant, Instant)>,
        /// Epochs run in all, and the one whose loss is NaN, if any.
        ran: usize,
        nan_at: Option<usize>,
    }

    impl Backend for Clocked {
        fn describe(&self) -> String {
            "clocked".into()
        }
        fn optimizer(&self) -> crate::optim::Optimizer {
            crate::optim::Optimizer::gd(LR)
        }
        fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
            let start = Instant::now();
            for _ in 0..epochs {
                std::thread::sleep(self.epoch);
                let nan = self.nan_at == Some(self.ran);
                losses.push(if nan { f64::NAN } else { 0.5 });
                self.ran += 1;
            }
            self.runs.push((start, Instant::now()));
            Ok(())
        }
        fn loss(&mut self) -> Result<f64> {
            Ok(0.5)
        }
        fn snapshot(&mut self, _: usize) -> Result<()> {
            Ok(())
        }
        fn restore(&mut self, _: usize) -> Result<()> {
            Ok(())
        }
        fn params(&mut self) -> Result<Vec<f32>> {
            Ok(Vec::new())
        }
        fn optimizer_state(&mut self) -> Result<crate::optim::Saved> {
            Ok(crate::optim::Saved::default())
        }
        fn set_optimizer_state(&mut self, _: &crate::optim::Saved) -> Result<()> {
            Ok(())
        }
    }

    /// Warm-up runs its count, then goes on until `at_least` has passed
    /// since the first sample ended, and no further; the timed samples
    /// follow, and the progress ticks count the first, the warm-up's count
    /// and the timed ones only.
    #[test]
    fn warm_up_fills_its_time_after_its_count() {
        let at_least = std::time::Duration::from_millis(30);
        let mut b = Clocked {
            epoch: std::time::Duration::from_millis(1),
            runs: Vec::new(),
            ran: 0,
            nan_at: None,
        };
        let mut ticks = 0;
        let warmup = Warmup {
            samples: 2,
            at_least,
        };
        let t = time_epochs_with(&mut b, warmup, 3, 2, &mut || ticks += 1).unwrap();
        assert_eq!((t.per_epoch.len(), t.epochs), (3, 6));
        assert_eq!(ticks, samples_per_case(2, 3));
        let runs = &b.runs;
        let warm = runs[0].1;
        let first_timed = runs.len() - 3;
        // The first timed sample starts once `at_least` has passed, not
        // after the warm-up's count (two 2-ms samples).
        assert!(runs[first_timed].0 - warm >= at_least);
        // The last warm-up sample started before `at_least` had passed
        // since the first sample's end, which came before the second's start.
        assert!(runs[first_timed - 1].0 - runs[1].0 < at_least);
        // Each timed sample is timed on its own: 2 epochs of 1 ms at least.
        assert!(t.per_epoch.iter().all(|&s| s >= 1e-3), "{:?}", t.per_epoch);

        // By count alone, as a distributed bench runs it: the first sample
        // and one more.
        b.runs.clear();
        time_epochs(&mut b, Warmup::exactly(2), 3, 1).unwrap();
        assert_eq!(b.runs.len(), 2 + 3);
        b.runs.clear();
        time_epochs(&mut b, Warmup::exactly(0), 1, 1).unwrap();
        assert_eq!(b.runs.len(), 1 + 1);
        // The progress counts the first sample where the warm-up has none.
        assert_eq!(samples_per_case(0, 3), 1 + 3);
    }

    /// A loss that is not finite stops the timing, named by its epoch
    /// counted from the first sample's, warm-up included.
    #[test]
    fn a_divergence_is_named_by_its_epoch_since_the_first_sample() {
        let mut b = Clocked {
            epoch: std::time::Duration::ZERO,
            runs: Vec::new(),
            ran: 0,
            nan_at: Some(5),
        };
        let e = time_epochs(&mut b, Warmup::exactly(2), 3, 2).unwrap_err();
        assert!(matches!(e, Error::Diverged { epoch: 5, .. }), "{e}");
    }

    /// One sample of `s` seconds.
    fn timing(s: f64) -> Timing {
        Timing {
            per_epoch: vec![s],
            epochs: 1,
            first_s: s,
            first_loss: 0.25,
            contention: None,
        }
    }

    /// shadertrain's `kind` on S0, one epoch of `median_s` seconds.
    fn own(kind: BackendKind, median_s: f64) -> Record {
        Record::new(kind, "x", &SHAPES[0], "sigmoid", &timing(median_s), 0.0)
    }

    /// Adapter names up to 64 characters are shown whole, in a column as
    /// wide as the longest; a longer one is cut to 63 and "…", before the
    /// kernels it ends with where it names them.
    #[test]
    fn the_table_shows_adapter_names_whole() {
        let timing = timing(1e-3);
        let shape = &parse_shapes("S0").unwrap()[0];
        let long = "An adapter with a name of seventy-odd characters, its kernels named after it";
        let names = ["llvmpipe (LLVM 15.0.6, 256 bits)", "cpu", long];
        let records: Vec<Record> = (names.iter())
            .map(|a| Record::new(BackendKind::Gpu, a, shape, "sigmoid", &timing, 0.0))
            .collect();
        let text = table(&records[..2]);
        assert!(
            text.contains("llvmpipe (LLVM 15.0.6, 256 bits) S0"),
            "{text}"
        );
        // backend (7, as wide as the word), a space, the adapter column
        // (32), a space.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find(" shape"), Some(7 + 1 + 32), "{text}");
        for line in &lines[1..3] {
            assert_eq!(line.find(" S0 "), Some(7 + 1 + 32), "{text}");
        }
        let text = table(&records);
        let cut: String = long.chars().take(63).chain(['…']).collect();
        assert!(text.contains(&format!("{cut} S0")), "{text}");
        // The kernels a long name ends with are kept.
        let mixed =
            "llvmpipe (LLVM 19.1.7, 256 bits) (mixed 8x8x8, 4x2,4x4 blocks), layered kernels";
        let record = Record::new(BackendKind::Gpu, mixed, shape, "sigmoid", &timing, 0.0);
        let text = table(&[record]);
        let kept = "llvmpipe (LLVM 19.1.7, 256 bits) (mixed 8x8x8,…, layered kernels";
        assert!(text.contains(&format!("{kept} S0")), "{text}");
        assert_eq!(kept.chars().count(), 64, "{kept}");
        // One of 64 exactly is whole.
        let whole: String = long.chars().take(64).collect();
        let record = Record::new(BackendKind::Gpu, &whole, shape, "sigmoid", &timing, 0.0);
        let text = table(&[record]);
        assert!(text.contains(&format!("{whole} S0")), "{text}");
        // A longer backend name widens its column for every row.
        let mut peer = records[1].clone();
        peer.backend = Runner::Peer("torch-compile (cuda)".into());
        let text = table(&[records[0].clone(), peer]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find(" shape"), Some(20 + 1 + 32), "{text}");
        for line in &lines[1..3] {
            assert_eq!(line.find(" S0 "), Some(20 + 1 + 32), "{text}");
        }
    }

    #[test]
    fn shapes_parse_by_name() {
        let s = parse_shapes("s1,S3").unwrap();
        assert_eq!(s[0].n, 65_536);
        assert_eq!(s[1].h, 1_024);
        assert_eq!(s[1].label(), "S3");
        assert!(parse_shapes("S9").is_err());
    }

    /// `NxFxH` is any shape; its label is the same three sizes, whatever
    /// the separator typed.
    #[test]
    fn shapes_parse_by_size() {
        let s = parse_shapes("1000x3x7, 5×2X1").unwrap();
        assert_eq!((s[0].name, s[0].n, s[0].f, s[0].h), (None, 1000, 3, 7));
        assert_eq!(s[0].label(), "1000x3x7");
        assert_eq!(s[1].label(), "5x2x1");
        for (bad, says) in [
            ("10x3", "ROWSxFEATURESxHIDDEN"),
            ("10x3x4x5", "ROWSxFEATURESxHIDDEN"),
            ("10x-3x4", "ROWSxFEATURESxHIDDEN"),
            ("10xx4", "ROWSxFEATURESxHIDDEN"),
            ("+10x3x4", "ROWSxFEATURESxHIDDEN"),
            ("10x0x4", "features must be at least 1"),
            ("4x18446744073709551615x4", "has too many parameters"),
            ("0x3x4", "rows must be at least 1"),
            (
                "10x3x99999999999999999999999",
                "hidden units '99999999999999999999999' is too large",
            ),
        ] {
            let err = parse_shapes(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    /// The shape column is as wide as its longest label.
    #[test]
    fn the_shape_column_fits_sized_shapes() {
        let timing = timing(1e-3);
        let shapes = parse_shapes("S0,1048576x32x128").unwrap();
        let records: Vec<Record> = (shapes.iter())
            .map(|s| Record::new(BackendKind::Cpu, "cpu", s, "sigmoid", &timing, 0.0))
            .collect();
        let text = table(&records);
        let lines: Vec<&str> = text.lines().collect();
        let median = lines[0].find("median s").unwrap();
        assert!(lines[1].contains("S0               "), "{text}");
        assert!(lines[2].contains("1048576x32x128 "), "{text}");
        // Both rows' numbers end where the header's median column does.
        for line in &lines[1..] {
            assert_eq!(
                line.find("1.000e-3").map(|i| i + 8),
                Some(median + 8),
                "{text}"
            );
        }
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        let t = |v: &[f64]| Timing {
            per_epoch: v.to_vec(),
            epochs: v.len(),
            first_s: 0.0,
            first_loss: 0.25,
            contention: None,
        };
        assert_eq!(t(&[3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(t(&[4.0, 1.0, 2.0, 3.0]).median(), 2.5);
        assert_eq!(t(&[4.0, 1.0, 2.0, 3.0]).min(), 1.0);
        assert_eq!(t(&[4.0, 1.0, 2.0, 3.0]).max(), 4.0);
    }

    /// A record holds its samples' median, least and greatest, the rows
    /// per second at the median, and whether it ran on the host's CPU.
    #[test]
    fn a_record_holds_its_samples_statistics() {
        let timing = Timing {
            per_epoch: vec![4.0, 1.0, 2.0, 3.0],
            epochs: 4,
            first_s: 5.0,
            first_loss: 0.25,
            contention: None,
        };
        let shape = &SHAPES[0];
        let record = |kind| Record::new(kind, "x", shape, "sigmoid", &timing, 0.0);
        let r = record(BackendKind::Reference);
        assert_eq!((r.median_s, r.min_s, r.max_s), (2.5, 1.0, 4.0));
        assert_eq!(r.samples_per_s, 1024.0 / 2.5);
        assert!(r.on_cpu);
        assert!(record(BackendKind::Cpu).on_cpu);
        assert!(!record(BackendKind::Gpu).on_cpu);
    }

    /// A peer's record of `median_s` on S0, on the CPU or a GPU.
    fn peer(on_cpu: bool, median_s: f64) -> Record {
        let text = format!(
            r#"{{"adapter":"a","shape":"S0","activation":"sigmoid","epochs":1,"median_s":{median_s},"min_s":{median_s},"max_s":{median_s}}}"#
        );
        let line: PeerLine = serde_json::from_str(&text).unwrap();
        Record::peer("numpy", on_cpu, line, &SHAPES[0])
    }

    /// A peer is compared with shadertrain's backend on its kind of
    /// device: a CPU peer with the cpu backend, a GPU peer with the gpu one.
    #[test]
    fn peers_are_compared_on_their_own_kind_of_device() {
        let mut r = vec![
            own(BackendKind::Cpu, 4.0),
            own(BackendKind::Gpu, 1.0),
            peer(true, 8.0),
            peer(false, 3.0),
        ];
        fill_speedups(&mut r);
        assert_eq!(r[2].shadertrain_speedup, Some(2.0));
        assert_eq!(r[3].shadertrain_speedup, Some(3.0));
        assert_eq!((r[2].speedup_vs_cpu, r[3].speedup_vs_cpu), (None, None));
    }

    /// A peer's first loss is far from shadertrain's by a share of
    /// shadertrain's: 1000.5 is near 1000, 0.2503 far from 0.25, and a NaN
    /// far from anything.
    #[test]
    fn first_losses_are_compared_relative_to_shadertrains() {
        let warned = |our_loss: f64, theirs: f64| {
            let ours = Record {
                first_loss: Some(our_loss),
                ..own(BackendKind::Cpu, 1.0)
            };
            let theirs = Record {
                first_loss: Some(theirs),
                ..peer(true, 1.0)
            };
            first_loss_mismatches(&[ours, theirs]).len()
        };
        assert_eq!(warned(1000.0, 1000.5), 0);
        assert_eq!(warned(1000.0, 1002.0), 1);
        assert_eq!(warned(0.25, 0.2502), 0);
        assert_eq!(warned(0.25, 0.2503), 1);
        assert_eq!(warned(0.25, f64::NAN), 1);
    }

    /// Under the table, a line says what the speedup column holds, where
    /// it holds any; a slow case's GFLOP/s keep three digits.
    #[test]
    fn the_table_says_what_its_speedups_are() {
        let mut r = vec![own(BackendKind::Cpu, 1.1), own(BackendKind::Gpu, 0.25)];
        let said = "speedup: the cpu backend's median over the gpu's\n";
        assert!(!table(&r).contains("speedup: "), "{}", table(&r));
        fill_speedups(&mut r);
        let text = table(&r);
        assert!(text.ends_with(said), "{text}");
        assert!(text.lines().nth(2).unwrap().ends_with(" 4.40x"), "{text}");
        // S0's epoch is 360,448 flops: 3.28e-4 GFLOP/s at 1.1 s, three
        // digits where two decimals would say 0.00.
        assert!(
            text.lines().nth(1).unwrap().contains(" 0.000328 "),
            "{text}"
        );
    }

    #[test]
    fn speedups_pair_by_shape() {
        let mut r = vec![own(BackendKind::Cpu, 4.0), own(BackendKind::Gpu, 1.0)];
        fill_speedups(&mut r);
        assert_eq!(r[1].speedup_vs_cpu, Some(4.0));
        assert_eq!(r[0].speedup_vs_cpu, None);
        let flops = 4.0 * 1024.0 * 4.0 * 16.0 + 6.0 * 1024.0 * 16.0;
        assert!((r[1].gflops - flops / 1e9).abs() < 1e-12);
    }
}
