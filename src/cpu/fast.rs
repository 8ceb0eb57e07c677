//! The fast CPU backend: all cores, rows in cache-sized blocks, and per
//! block the forward pass, the backward pass and the gradient partial sums
//! fused, so the N × h activations never reach main memory. Products go
//! through matrixmultiply's packed SGEMM; the activations use a
//! branch-free exp the compiler vectorises. Arithmetic is f32, like the
//! GPU's; the tests hold it to the f64 reference.

use crate::batches::MiniBatches;
use crate::cpu::flush::FlushDenormals;
use crate::cpu::pad::{self, Padded};
use crate::cpu::ParamSlots;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Activation, Layout, Model, TANH_CLAMP};
use crate::optim::lbfgs::Objective;
use crate::optim::{self, LrSchedule, Optimizer, Rates};
use crate::train::{Backend, SNAPSHOT_SLOTS};
use crate::{memory, units};

/// Bytes of per-block working set aimed for. Larger than L2 on purpose:
/// on S3 (h = 1,024) small blocks spend their time re-packing W for every
/// SGEMM, and 4 MiB measured best on S1–S3 (figures in BENCHMARKS.md).
const BLOCK_BYTES: usize = 4 << 20;

/// 1.5·2^23: adding and removing it rounds an f32 of magnitude below 2^22
/// to the nearest integer, which then sits in the sum's low mantissa bits.
const SHIFT: f32 = 12_582_912.0;

/// e^x in f32 for any x, without branches: Cody–Waite reduction by ln 2
/// and a degree-6 polynomial, about 2 ulp on [−87, 88]; below that it
/// returns about 1.6e-38 rather than 0, above about 1.7e38.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // clamp keeps a NaN a NaN, so a diverging run still shows it.
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5·2^23: plain adds, so the
    // loop vectorises (f32::round is a libm call on baseline x86-64).
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // A NaN x gives a NaN p, so the result stays NaN whatever 2^n is.
    p * two_to_the(shifted)
}

/// 2^n for `shifted` = 1.5·2^23 + n, n an integer in [−126, 127]: n sits
/// in the low mantissa bits, so integer operations, which vectorise, make
/// the exponent field. (A float-to-int cast of n saturates and maps NaN to
/// 0, which compiles to scalar code for every lane; in `exp` it cost more
/// than the rest of the forward pass.)
#[inline(always)]
fn two_to_the(shifted: f32) -> f32 {
    let n_bits = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// f32 lanes of the widest build's vectors (AVX-512).
const LANES: usize = 16;

/// g(z) over a slice, in place, with z first shifted by the bias.
/// z: (rows, width) row-major, bias: (width). Row by row, each row's
/// last width mod 16 values run in the loop's scalar tail: all of them
/// for a width of 15, which took 1.8× a width of 16's time. Where the
/// tail would hold more than an eighth of a row, the bias is added row by
/// row first and g then runs over the whole slice at once, filling every
/// lane; elsewhere the one pass saves a second trip through z. Both do
/// the same operations on each value, so give the same bits. Each loop
/// vectorises; inlined so the AVX2 build of the block loop covers it.
#[inline(always)]
fn activate_rows(z: &mut [f32], bias: &[f32], act: Activation) {
    // Each g its own instance of the loops, inlined into them.
    match act {
        Activation::Sigmoid => activate_rows_with(z, bias, sigmoid),
        Activation::Tanh => activate_rows_with(z, bias, tanh),
    }
}

#[inline(always)]
fn activate_rows_with(z: &mut [f32], bias: &[f32], g: impl Fn(f32) -> f32) {
    let width = bias.len();
    if (width % LANES) * 8 > width {
        for row in z.chunks_exact_mut(width) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        for v in z.iter_mut() {
            *v = g(*v);
        }
    } else {
        for row in z.chunks_exact_mut(width) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = g(*v + b);
            }
        }
    }
}

/// σ(s) = 1/(1 + e^(−s)) for s ≥ 0, e^s/(1 + e^s) below.
#[inline(always)]
fn sigmoid(s: f32) -> f32 {
    let e = exp(-s.abs());
    let num = if s >= 0.0 { 1.0 } else { e };
    num / (1.0 + e)
}

/// tanh(|s|) = (1 − e^(−2|s|)) / (1 + e^(−2|s|)), sign restored.
#[inline(always)]
fn tanh(s: f32) -> f32 {
    let c = s.clamp(-TANH_CLAMP as f32, TANH_CLAMP as f32);
    let e = exp(-2.0 * c.abs());
    ((1.0 - e) / (1.0 + e)).copysign(c)
}

/// Σ a·w with eight partial sums, term j going to sum j mod 8, which are
/// added pairwise in a fixed order at the end (the terms past the last
/// whole eight after them). The eight sums are independent, so the loop
/// vectorises, where one running sum is a chain of dependent scalar adds
/// (it took a third of S1's forward pass); the order is fixed, so every
/// build gives the same bits.
#[inline(always)]
fn dot(a: &[f32], w: &[f32]) -> f32 {
    let whole = a.len().min(w.len()) / 8 * 8;
    let mut lanes = [0.0f32; 8];
    for (ca, cw) in a[..whole].chunks_exact(8).zip(w[..whole].chunks_exact(8)) {
        for k in 0..8 {
            lanes[k] += ca[k] * cw[k];
        }
    }
    let [l0, l1, l2, l3, l4, l5, l6, l7] = lanes;
    let mut sum = ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7));
    for (x, y) in a[whole..].iter().zip(&w[whole..]) {
        sum += x * y;
    }
    sum
}

#[inline(always)]
fn slope(a: f32, act: Activation) -> f32 {
    match act {
        Activation::Sigmoid => a * (1.0 - a),
        Activation::Tanh => 1.0 - a * a,
    }
}

/// C = α·A·B + β·C for row-major slices; A: (m, k) with row stride `lda`
/// and column stride `cda` (so a transposed view is a stride swap).
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        k == 0 || (m - 1) * rsa + (k - 1) * csa < a.len(),
        "A out of range"
    );
    assert!(
        k == 0 || (k - 1) * rsb + (n - 1) * csb < b.len(),
        "B out of range"
    );
    assert!(m * n <= c.len(), "C out of range");
    // SAFETY: the asserts above keep every index the strides reach inside
    // the slices; C is (m, n) row-major and exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Which build of the block code (activations, deltas, residuals and
/// sums; the SGEMM picks its own kernels) a pass runs. The builds are the
/// same Rust compiled for different instruction sets, and Rust neither
/// reorders float operations nor fuses a multiply and an add on its own,
/// so every build computes the same bits; only the speed differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Isa {
    /// x86-64's baseline (SSE2), or the target's own on other CPUs.
    Baseline,
    /// AVX2 and FMA: 8 lanes of f32.
    Avx2,
    /// AVX-512 (F, VL, BW, DQ) with AVX2 and FMA: 16 lanes of f32.
    Avx512,
}

impl Isa {
    /// Every build, widest last.
    pub const ALL: [Isa; 3] = [Isa::Baseline, Isa::Avx2, Isa::Avx512];

    /// The build a pass runs unless told otherwise: the widest this CPU
    /// runs. On a Sapphire Rapids Xeon the AVX-512 build is 2–11% faster
    /// than the AVX2 one on S1–S3, on a Zen 4 EPYC (512-bit instructions
    /// as two 256-bit halves) 4–14%, and both are 20–40% faster than the
    /// baseline on S1 and S2 (BENCHMARKS.md).
    pub fn detect() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.available())
            .unwrap_or(Isa::Baseline)
    }

    /// Whether this CPU runs the build.
    pub fn available(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.available()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => false,
        }
    }

    /// Its `--cpu-isa` value.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// One thread's buffers, allocated once.
struct Worker {
    /// acts[l]: (block, width of hidden layer l)
    acts: Vec<Vec<f32>>,
    /// deltas[l]: ∂L/∂Z of hidden layer l, (block, width)
    deltas: Vec<Vec<f32>>,
    /// (block)
    residual: Vec<f32>,
    /// This thread's ∂L/∂θ over its rows.
    grads: Vec<f32>,
    /// This thread's Σ e², in f64.
    sq: f64,
}

/// Rows per block: as many as keep a block's activations, deltas and
/// residual within [`BLOCK_BYTES`], from 8 to 1024. Its inputs are read
/// where they lie, so they do not count: counted, they cut a block to 8
/// rows at 131,072 features, where each block's products re-packed the
/// first layer's whole W and ∂W (32 MiB each), 4.6× the time per FLOP
/// of 8,192 features.
fn block_rows(layout: &Layout) -> usize {
    let hidden = layout
        .hidden()
        .iter()
        .fold(0usize, |a, &h| a.saturating_add(h));
    let floats_per_row = hidden.saturating_mul(2).saturating_add(1);
    (BLOCK_BYTES / floats_per_row.saturating_mul(4)).clamp(8, 1024)
}

pub struct Fast<'a> {
    layout: Layout,
    /// The layout the block code runs on, where padding widens it.
    padded: Option<Padded>,
    act: Activation,
    opt: Optimizer,
    theta: ParamSlots<f32>,
    grads: Vec<f32>,
    data: &'a Dataset,
    block: usize,
    workers: Vec<Worker>,
    /// The helper threads, kept from pass to pass; none with one thread.
    pool: Option<Pool>,
    /// The build of the block code the passes run.
    isa: Isa,
    /// Mini-batches (`--batch-size`); `None`: full-batch epochs.
    batches: Option<MiniBatches>,
    /// The learning rate by epoch (`--lr-schedule`, and the plateau's cuts).
    rates: Rates,
    /// The current epoch's order of the rows, and the rows in that order,
    /// with mini-batches (kept between epochs for their allocations).
    order: Vec<usize>,
    shuffled: Option<Dataset>,
}

impl<'a> Fast<'a> {
    /// `threads` 0 means every core.
    pub fn new(
        model: &Model,
        data: &'a Dataset,
        opt: Optimizer,
        threads: usize,
    ) -> Result<Fast<'a>> {
        Fast::run_on(model, data, opt, (threads, 0))
    }

    /// [`Fast::new`] with `threads`' workers run on `on` threads (this one
    /// and `on − 1` helpers) where that is fewer; 0 keeps one thread a
    /// worker. The sums are the workers', in the same order, so the
    /// results stay bit for bit those of [`Fast::threads`] threads (the
    /// pool's workers): runs side by side, each on fewer threads, train
    /// as they would one after another.
    pub fn run_on(
        model: &Model,
        data: &'a Dataset,
        opt: Optimizer,
        (threads, on): (usize, usize),
    ) -> Result<Fast<'a>> {
        Fast::with_tile(model, data, opt, (threads, on), pad::tile())
    }

    /// [`Fast::run_on`] with the block code's widths padded for tile edge
    /// `tile` ([`pad::padded_width`]); `None` pads nothing.
    fn with_tile(
        model: &Model,
        data: &'a Dataset,
        opt: Optimizer,
        (threads, on): (usize, usize),
        tile: Option<usize>,
    ) -> Result<Fast<'a>> {
        super::reference::check_fit(model, data)?;
        opt.check()?;
        let threads = Fast::thread_count(threads, data.rows);
        // The helpers beside this thread.
        let helpers = match on {
            0 => threads - 1,
            on => on.min(threads) - 1,
        };
        let layout = model.layout.clone();
        let padded = Padded::new(&layout, tile);
        let runs = padded.as_ref().map_or(&layout, |p| &p.layout);
        let hidden = runs.hidden().to_vec();
        // From the model's widths: the block's rows set where the SGEMM's
        // sums over rows are cut, so they must not move with the padding.
        let block = block_rows(&layout);
        let workers = (0..threads)
            .map(|_| Worker {
                acts: hidden.iter().map(|&h| vec![0.0; block * h]).collect(),
                deltas: hidden.iter().map(|&h| vec![0.0; block * h]).collect(),
                residual: vec![0.0; block],
                grads: vec![0.0; runs.len()],
                sq: 0.0,
            })
            .collect();
        Ok(Fast {
            padded,
            act: model.activation,
            opt,
            theta: ParamSlots::new(&model.params, &opt),
            grads: vec![0.0; layout.len()],
            layout,
            data,
            block,
            workers,
            pool: if threads > 1 {
                Some(Pool::new(threads, helpers)?)
            } else {
                None
            },
            isa: Isa::detect(),
            batches: None,
            rates: Rates::default(),
            order: Vec::new(),
            shuffled: None,
        })
    }

    /// Trains in mini-batches (`None`: full-batch epochs, the default).
    pub fn with_batches(mut self, batches: Option<MiniBatches>) -> Self {
        self.batches = batches;
        self
    }

    /// Schedules the learning rate by epoch (`LrSchedule::Constant`, the
    /// default, keeps it). The schedule is taken as it is: one that
    /// [`LrSchedule::check`] refuses (a step every 0 epochs, a cosine over
    /// 0) panics or gives NaN rates.
    pub fn with_schedule(mut self, schedule: LrSchedule) -> Self {
        self.rates.schedule = schedule;
        self
    }

    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// The build of the block code the passes run: [`Isa::detect`]'s unless
    /// set.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs the passes with `isa`'s build, which must be one this CPU runs;
    /// `None` keeps [`Isa::detect`]'s.
    pub fn with_isa(mut self, isa: Option<Isa>) -> Result<Self> {
        let Some(isa) = isa else {
            return Ok(self);
        };
        if !isa.available() {
            return Err(Error::Config(format!(
                "this CPU cannot run the {} build of the cpu backend; it runs {}",
                isa.name(),
                Isa::ALL
                    .into_iter()
                    .filter(|i| i.available())
                    .map(Isa::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.isa = isa;
        Ok(self)
    }

    /// The threads [`Fast::new`] runs for `threads` asked (0: every core)
    /// on `rows` rows: no more than blocks of 64 rows.
    pub fn thread_count(threads: usize, rows: usize) -> usize {
        let threads = if threads == 0 {
            super::cores()
        } else {
            threads
        };
        threads.clamp(1, rows.div_ceil(64).max(1))
    }

    /// About the bytes [`Fast::new`] and its passes allocate for `layout`
    /// on `rows` rows (the rows themselves not counted): the parameters,
    /// the optimizer's state and their snapshots, the summed gradient,
    /// and per thread a gradient and a block's activations and deltas.
    /// `None` when the count overflows.
    pub fn bytes_needed(
        layout: &Layout,
        rows: usize,
        opt: &Optimizer,
        threads: usize,
    ) -> Option<u64> {
        let p = layout.len();
        let block = block_rows(layout);
        let padded = pad::widths(layout, pad::tile());
        let runs = padded.as_ref().unwrap_or(layout);
        let hidden = runs
            .hidden()
            .iter()
            .try_fold(0usize, |acc, &h| acc.checked_add(h))?;
        let per_thread = memory::sum(&[
            memory::product(&[2, block, hidden, 4]),
            memory::product(&[block, 4]),
            memory::product(&[runs.len(), 4]),
        ]);
        memory::sum(&[
            // The parameters and the state, now and in every snapshot.
            memory::product(&[1 + SNAPSHOT_SLOTS, p, 4]),
            memory::product(&[1 + SNAPSHOT_SLOTS, opt.state_per_param(), p, 4]),
            memory::product(&[p, 4]),
            // Their padded copy.
            memory::product(&[padded.as_ref().map_or(0, Layout::len), 4]),
            per_thread?.checked_mul(Fast::thread_count(threads, rows) as u64),
        ])
    }

    /// The loss of `params` (a block of this model's layout) on this
    /// backend's rows, without an update: a held-out set scored with the
    /// parameters another backend is training. `params` become this
    /// backend's parameters.
    ///
    /// # Panics
    ///
    /// Where `params` is not the layout's length.
    pub fn loss_at(&mut self, params: &[f32]) -> f64 {
        self.theta.params.copy_from_slice(params);
        self.loss_and_grads(false)
    }

    /// The loss over every row and, `with_grads`, ∂L/∂θ into `self.grads`.
    fn loss_and_grads(&mut self, with_grads: bool) -> f64 {
        let data = self.data;
        self.mean_pass(&data.x, &data.y, with_grads)
    }

    /// The mean of e² over the rows `x`, `y` (a whole set or a mini-batch)
    /// and, `with_grads`, its gradient into `self.grads`.
    fn mean_pass(&mut self, x: &[f32], y: &[f32], with_grads: bool) -> f64 {
        let rows = y.len();
        let (layout, params) = block_view(&mut self.padded, &self.layout, &self.theta.params);
        let pass = Pass {
            layout,
            real: &self.layout,
            act: self.act,
            params,
            x,
            y,
            features: self.data.features,
            scale: (2.0 / rows as f64) as f32,
            block: self.block,
            with_grads,
            isa: self.isa,
        };
        match &self.pool {
            Some(pool) => pool.run(&mut self.workers, pass, rows),
            None => self.workers[0].run(pass, 0..rows),
        }
        let mut sq = 0.0;
        if with_grads {
            self.grads.fill(0.0);
        }
        // A fixed order over threads: reruns with the same thread count agree
        // bit for bit. The workers without rows hold only zeros.
        for w in &self.workers[..active_workers(self.workers.len(), rows)] {
            sq += w.sq;
            if with_grads {
                add_grads(&self.padded, &mut self.grads, &w.grads);
            }
        }
        sq / rows as f64
    }
}

/// The layout the block code runs on and `params` in it: `padded`'s, or
/// the model's `layout` and `params` as they are.
fn block_view<'a>(
    padded: &'a mut Option<Padded>,
    layout: &'a Layout,
    params: &'a [f32],
) -> (&'a Layout, &'a [f32]) {
    match padded {
        Some(p) => p.load(params),
        None => (layout, params),
    }
}

/// A worker's gradient (in the block code's layout) added to `g`.
fn add_grads(padded: &Option<Padded>, g: &mut [f32], worker: &[f32]) {
    match padded {
        Some(p) => p.add_to(g, worker),
        None => {
            for (g, w) in g.iter_mut().zip(worker) {
                *g += w;
            }
        }
    }
}

/// What one worker needs for one pass over its rows.
#[derive(Clone, Copy)]
struct Pass<'p> {
    /// The layout the block code runs on, and its parameters: the model's,
    /// or their padded copy ([`Padded`]).
    layout: &'p Layout,
    /// The model's layout: the depth of each product over hidden units.
    real: &'p Layout,
    act: Activation,
    params: &'p [f32],
    /// The pass's rows: (N × features) and (N).
    x: &'p [f32],
    y: &'p [f32],
    features: usize,
    /// 2/N, N the rows the loss is a mean over: ∂L/∂ŷ = scale·e.
    scale: f32,
    /// Rows per block.
    block: usize,
    /// Also the backward pass and the gradient partials.
    with_grads: bool,
    /// The build of the block code to run.
    isa: Isa,
}

/// The workers of `threads` that a pass over `rows` rows gives rows to:
/// one per 64 rows at most (see [`Pool`]).
fn active_workers(threads: usize, rows: usize) -> usize {
    threads.min(rows.div_ceil(64)).max(1)
}

/// How long a waiting thread keeps checking before it sleeps: longer than
/// a small network's whole epoch plus its update, so that back-to-back
/// passes hand over without a wake-up, which can cost tens of microseconds
/// on a virtual machine, or hundreds when another process holds the core.
const SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// Waits until `done()` holds: a few microseconds of busy checks, then
/// checks that yield the core (a thread we wait for may need it), and
/// after [`SPIN`] sleeps; whoever makes `done()` hold unparks this thread
/// (a stray unpark costs one more check).
fn wait_until(done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    let mut checks = 0u32;
    while !done() {
        checks = checks.saturating_add(1);
        if checks < 256 {
            std::hint::spin_loop();
        } else if start.elapsed() < SPIN {
            std::thread::yield_now();
        } else {
            std::thread::park();
        }
    }
}

/// The persistent threads behind [`Fast`] with more than one thread.
///
/// A pass has one worker per thread, worker t over rows
/// `t·N/k .. (t+1)·N/k` with its own buffers and partial sums, exactly as
/// when each pass spawned its threads; k is the thread count, or ⌈N/64⌉
/// where that is fewer (a mini-batch is not cut into slivers of a few rows
/// each; the workers past k have no rows). A full-batch pass always has
/// k = threads, as [`Fast::thread_count`] gives no more threads than that.
/// The calling thread and the `threads − 1` helpers claim the workers of a
/// pass one at a time until none is left, so a helper that is slow to wake
/// (another process holds its core) leaves its worker to the caller
/// instead of stalling the pass. A pass with one worker that gets rows
/// runs on the caller alone. Which thread runs a worker changes nothing in its arithmetic (the
/// same code, each under its own [`FlushDenormals`]), and the caller sums
/// the workers in a fixed order afterwards: results stay bit for bit those
/// of a given `threads`, whatever the helpers' count ([`Fast::run_on`]
/// gives fewer than `threads − 1`; the caller then claims more workers).
struct Pool {
    shared: std::sync::Arc<PoolShared>,
    helpers: Vec<std::thread::JoinHandle<()>>,
}

struct PoolShared {
    threads: usize,
    /// The pass's generation (high 48 bits) and its next unclaimed worker
    /// (low 16): one word, so a claim can only take a worker of the pass
    /// the claimant saw posted.
    state: std::sync::atomic::AtomicU64,
    /// Workers of the current pass that are done.
    finished: std::sync::atomic::AtomicUsize,
    quit: std::sync::atomic::AtomicBool,
    job: std::sync::Mutex<Option<Job>>,
    /// The first panic in the current pass.
    panic: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

const SLOT_BITS: u32 = 16;

/// The most threads [`Fast`] runs (`--threads`' bound).
pub const MAX_THREADS: usize = (1 << SLOT_BITS) - 1;

/// One pass, as the threads that run it see it: raw pointers to the
/// caller's [`Pass`] and workers, only followed while the pass runs.
#[derive(Clone)]
struct Job {
    pass: *const Pass<'static>,
    workers: *mut Worker,
    rows: usize,
    /// The workers that get rows: k above.
    active: usize,
    /// The thread to unpark when the last worker is done.
    caller: std::thread::Thread,
}

// SAFETY: `pass` and `workers` point at the caller's data, which
// `Pool::run` keeps alive, and does not touch, until every worker of the
// pass is done; each worker is claimed by one thread only.
unsafe impl Send for Job {}

impl Pool {
    /// A pool of `threads` workers run by the caller and `helpers` threads.
    fn new(threads: usize, helpers: usize) -> Result<Pool> {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
        if threads >= 1 << SLOT_BITS {
            return Err(Error::Config(format!(
                "the cpu backend runs at most {} threads, not {threads}",
                MAX_THREADS
            )));
        }
        let shared = std::sync::Arc::new(PoolShared {
            threads,
            state: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            quit: AtomicBool::new(false),
            job: std::sync::Mutex::new(None),
            panic: std::sync::Mutex::new(None),
        });
        let mut pool = Pool {
            shared,
            helpers: Vec::with_capacity(helpers),
        };
        for t in 1..=helpers {
            let shared = pool.shared.clone();
            let helper = std::thread::Builder::new()
                .name(format!("shadertrain-cpu-{t}"))
                .spawn(move || shared.serve())
                .map_err(|e| Error::Config(format!("could not start CPU thread {t}: {e}")))?;
            pool.helpers.push(helper);
        }
        Ok(pool)
    }

    /// `pass` over `rows` rows, one worker of `workers` per thread.
    /// Returns once every worker is done; a panic in any is resumed here.
    fn run(&self, workers: &mut [Worker], pass: Pass<'_>, rows: usize) {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        let shared = &*self.shared;
        assert_eq!(workers.len(), shared.threads);
        let active = active_workers(shared.threads, rows);
        if active == 1 {
            // A mini-batch of 64 rows or fewer: the caller runs every
            // worker (the others with no rows, as a helper would), and the
            // helpers are not woken. Woken each step, they spun through
            // steps of a few microseconds and never slept: at 16 rows per
            // batch, 2 threads took as long as 1, or longer, and about
            // twice its CPU time.
            for (t, w) in workers.iter_mut().enumerate() {
                w.run(pass, if t == 0 { 0..rows } else { 0..0 });
            }
            return;
        }
        // Followed only until `finished` reaches `threads`, and this
        // function does not return before that.
        let job = Job {
            pass: (&raw const pass).cast::<Pass<'static>>(),
            workers: workers.as_mut_ptr(),
            rows,
            active,
            caller: std::thread::current(),
        };
        *lock(&shared.job) = Some(job.clone());
        shared.finished.store(0, Relaxed);
        let generation = (shared.state.load(Relaxed) >> SLOT_BITS) + 1;
        // Release: a thread that sees this generation sees the job above.
        shared.state.store(generation << SLOT_BITS, Release);
        for h in &self.helpers {
            h.thread().unpark();
        }
        while let Some(t) = shared.claim(generation) {
            shared.work(&job, t);
        }
        wait_until(|| shared.finished.load(Acquire) == shared.threads);
        *lock(&shared.job) = None;
        let panic = lock(&shared.panic).take();
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
    }
}

impl PoolShared {
    /// A worker of pass `generation` that no thread has taken yet.
    fn claim(&self, generation: u64) -> Option<usize> {
        use std::sync::atomic::Ordering::{AcqRel, Acquire};
        let mut now = self.state.load(Acquire);
        loop {
            let slot = (now & ((1 << SLOT_BITS) - 1)) as usize;
            if now >> SLOT_BITS != generation || slot >= self.threads {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(now, now + 1, AcqRel, Acquire)
            {
                Ok(_) => return Some(slot),
                Err(seen) => now = seen,
            }
        }
    }

    /// Runs claimed worker `t` of `job` and counts it done.
    fn work(&self, job: &Job, t: usize) {
        use std::sync::atomic::Ordering::AcqRel;
        let range = match t < job.active {
            true => (t * job.rows / job.active)..((t + 1) * job.rows / job.active),
            false => 0..0,
        };
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: see `Job`; worker t is this thread's alone, as the
            // claim that returned t succeeded here only.
            let (pass, w) = unsafe { (*job.pass, &mut *job.workers.add(t)) };
            w.run(pass, range);
        }));
        if let Err(p) = done {
            lock(&self.panic).get_or_insert(p);
        }
        // After this the pass's data may be gone: only `job.caller`, an
        // owned handle, is used, and the pointers are not followed again.
        if self.finished.fetch_add(1, AcqRel) + 1 == self.threads {
            job.caller.unpark();
        }
    }

    /// A helper's loop: wait for a pass, run its workers while any is
    /// unclaimed, wait for the next.
    fn serve(&self) {
        use std::sync::atomic::Ordering::Acquire;
        let mut seen = 0;
        loop {
            wait_until(|| self.quit.load(Acquire) || self.state.load(Acquire) >> SLOT_BITS != seen);
            if self.quit.load(Acquire) {
                return;
            }
            seen = self.state.load(Acquire) >> SLOT_BITS;
            while let Some(t) = self.claim(seen) {
                let job = lock(&self.job).clone().expect("a claimed pass has a job");
                self.work(&job, t);
            }
        }
    }
}

/// The pool's mutexes hold plain values that no panic can leave half
/// written, so a poisoned one is used as it is: a helper must not panic
/// outside a worker, or the caller would wait for it forever.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared
            .quit
            .store(true, std::sync::atomic::Ordering::Release);
        for h in self.helpers.drain(..) {
            h.thread().unpark();
            // Panics in a pass are caught there, so a join error is unlikely;
            // there is nothing to do with one in a destructor anyway.
            let _ = h.join();
        }
    }
}

impl Worker {
    /// Forward (and, `with_grads`, backward) over `rows`, block by block,
    /// with the block code built for `pass.isa` ([`Isa`]: on x86-64 the
    /// same code compiled for AVX-512, for AVX2 with FMA, and for the
    /// baseline; elsewhere only the baseline).
    ///
    /// The whole pass runs with subnormals flushed to zero on this thread
    /// ([`FlushDenormals`]: FTZ and DAZ on x86-64, the thread's previous
    /// mode restored on return, a no-op elsewhere): every f32 the block
    /// code computes (pre-activations and activations, ŷ and the residual,
    /// the deltas, the SGEMM products and sums, this thread's gradient
    /// partials) that would be below 2⁻¹²⁶ ≈ 1.18e-38 in magnitude is ±0,
    /// and a subnormal in the data or the parameters counts as 0 (the f64
    /// Σ e² likewise below 2⁻¹⁰²²). Without it, saturated sigmoid units made
    /// the deltas subnormal and an epoch up to 55× slower on Intel cores
    /// (issue 11). Not flushed: the sum over threads and the update, which
    /// run on the calling thread after the pass.
    fn run(&mut self, pass: Pass<'_>, rows: std::ops::Range<usize>) {
        let _flush = FlushDenormals::new();
        match pass.isa {
            // SAFETY: `Fast` holds only an `Isa` this CPU runs
            // (`Isa::detect`, or `with_isa`, which checks `available`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { self.run_avx512(pass, rows) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { self.run_avx2(pass, rows) },
            _ => self.run_any(pass, rows),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn run_avx512(&mut self, pass: Pass<'_>, rows: std::ops::Range<usize>) {
        self.run_any(pass, rows)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&mut self, pass: Pass<'_>, rows: std::ops::Range<usize>) {
        self.run_any(pass, rows)
    }

    #[inline(always)]
    fn run_any(&mut self, pass: Pass<'_>, rows: std::ops::Range<usize>) {
        let Pass {
            layout,
            real,
            act,
            params,
            x: all_x,
            y: all_y,
            features: f,
            scale,
            block,
            with_grads,
            isa: _,
        } = pass;
        let layers = layout.layers();
        let last = layers.len() - 1;
        let out = &layers[last];
        self.sq = 0.0;
        self.grads.fill(0.0);
        let mut start = rows.start;
        while start < rows.end {
            let nb = block.min(rows.end - start);
            let x = &all_x[start * f..(start + nb) * f];
            let y = &all_y[start..start + nb];
            // Forward through the hidden layers.   acts[l]: (nb, h_l)
            for l in 0..last {
                let v = &layers[l];
                let (before, rest) = self.acts.split_at_mut(l);
                let input: &[f32] = if l == 0 {
                    x
                } else {
                    &before[l - 1][..nb * v.inputs]
                };
                let z = &mut rest[0][..nb * v.outputs];
                // Depth: the real inputs; the padding's weights are 0.
                gemm(
                    nb,
                    real.layers()[l].inputs,
                    v.outputs,
                    input,
                    (v.inputs, 1),
                    &params[v.weight.clone()],
                    (1, v.inputs),
                    0.0,
                    z,
                );
                activate_rows(z, &params[v.bias.clone()], act);
            }
            // Output layer and residual.   r: (nb)
            let a_last = &self.acts[last - 1][..nb * out.inputs];
            let w_out = &params[out.weight.start..][..real.layers()[last].inputs];
            let b_out = params[out.bias.start];
            for (r, (row, t)) in a_last.chunks_exact(out.inputs).zip(y).enumerate() {
                let yhat = b_out + dot(&row[..w_out.len()], w_out);
                let e = yhat - t;
                self.sq += f64::from(e) * f64::from(e);
                self.residual[r] = scale * e;
            }
            if with_grads {
                self.backward((layout, real), act, params, x, nb);
            }
            start += nb;
        }
    }

    #[inline(always)]
    fn backward(
        &mut self,
        (layout, real): (&Layout, &Layout),
        act: Activation,
        params: &[f32],
        x: &[f32],
        nb: usize,
    ) {
        let layers = layout.layers();
        let last = layers.len() - 1;
        let out = &layers[last];
        let h = out.inputs;
        let r = &self.residual[..nb];
        // Output layer: ∂w = rᵀ·A_last, ∂b = Σ r, and Δ_last = (r ⊗ w) ⊙ g′,
        // in one pass over A_last's rows. ∂w is a running sum over the
        // block's rows in row order, a vector add per row. (An SGEMM with
        // one output row packed all of A_last and ran its micro-kernel for
        // one useful row: S1 took 24% longer, S2 16%, BENCHMARKS.md.)
        {
            let a_last = &self.acts[last - 1][..nb * h];
            let below = &layers[last - 1];
            let (hidden_grads, out_grads) = self.grads.split_at_mut(out.weight.start);
            let gb_below = &mut hidden_grads[below.bias.clone()];
            let (gw, gb) = out_grads[..out.bias.end - out.weight.start].split_at_mut(h);
            gb[0] += r.iter().sum::<f32>();
            let w_out = &params[out.weight.clone()];
            let d = &mut self.deltas[last - 1][..nb * h];
            for ((drow, arow), ri) in d.chunks_exact_mut(h).zip(a_last.chunks_exact(h)).zip(r) {
                for ((((dv, a), w), g), gbb) in drow
                    .iter_mut()
                    .zip(arow)
                    .zip(w_out)
                    .zip(gw.iter_mut())
                    .zip(gb_below.iter_mut())
                {
                    *g += ri * a;
                    *dv = ri * w * slope(*a, act);
                    *gbb += *dv;
                }
            }
        }
        // Hidden layers, last to first.
        for l in (0..last).rev() {
            let v = &layers[l];
            let d = &self.deltas[l][..nb * v.outputs];
            let input: &[f32] = if l == 0 {
                x
            } else {
                &self.acts[l - 1][..nb * v.inputs]
            };
            // ∂W += Δᵀ·A_prev: (outputs, nb)·(nb, inputs)
            gemm(
                v.outputs,
                nb,
                v.inputs,
                d,
                (1, v.outputs),
                input,
                (v.inputs, 1),
                1.0,
                &mut self.grads[v.weight.clone()],
            );
            // The last hidden layer's ∂b was summed with its deltas.
            if l + 1 < last {
                let gb = &mut self.grads[v.bias.clone()];
                for row in d.chunks_exact(v.outputs) {
                    for (g, dv) in gb.iter_mut().zip(row) {
                        *g += dv;
                    }
                }
            }
            if l > 0 {
                // Δ_{l−1} = (Δ_l·W_l) ⊙ g′(A_{l−1}): (nb, outputs)·(outputs, inputs)
                let (before, rest) = self.deltas.split_at_mut(l);
                let prev = &mut before[l - 1][..nb * v.inputs];
                // Depth: the real units; the padding's deltas are 0.
                gemm(
                    nb,
                    real.layers()[l].outputs,
                    v.inputs,
                    &rest[0][..nb * v.outputs],
                    (v.outputs, 1),
                    &params[v.weight.clone()],
                    (v.inputs, 1),
                    0.0,
                    prev,
                );
                for (dv, a) in prev.iter_mut().zip(&self.acts[l - 1][..nb * v.inputs]) {
                    *dv *= slope(*a, act);
                }
            }
        }
    }
}

impl Objective for Fast<'_> {
    fn describe(&self) -> String {
        let threads = units::count(self.threads(), "thread");
        match self.batches {
            None => format!("cpu (f32, {threads})"),
            Some(b) => format!("cpu (f32, {threads}, mini-batches of {})", b.size),
        }
    }

    fn params_len(&self) -> usize {
        self.theta.params.len()
    }

    fn evaluate(&mut self, params: &[f32], grad: &mut [f64]) -> Result<f64> {
        self.theta.params.copy_from_slice(params);
        let loss = self.loss_and_grads(true);
        for (d, &g) in grad.iter_mut().zip(&self.grads) {
            *d = g as f64;
        }
        Ok(loss)
    }
}

impl Backend for Fast<'_> {
    crate::cpu::host_param_methods!();

    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        self.opt.stepped()?;
        for _ in 0..epochs {
            let Some(batches) = self.batches else {
                losses.push(self.loss_and_grads(true));
                let t = &mut self.theta;
                let opt = self.rates.at(&self.opt, t.state.steps);
                optim::step(&opt, &mut t.params, &self.grads, &mut t.state);
                continue;
            };
            losses.push(self.loss_and_grads(false));
            let data = self.data;
            let epoch = batches.epoch(data.rows, self.theta.state.steps);
            let opt = self.rates.at(&self.opt, epoch);
            let mut shuffled = self.shuffled.take().unwrap_or_else(|| data.empty_like());
            let threads = self.workers.len();
            batches.order_into(data.rows, epoch, &mut self.order, threads);
            data.gather_into(&self.order, &mut shuffled, threads);
            for range in batches.ranges(data.rows) {
                let f = data.features;
                let x = &shuffled.x[range.start * f..range.end * f];
                self.mean_pass(x, &shuffled.y[range], true);
                let t = &mut self.theta;
                optim::step(&opt, &mut t.params, &self.grads, &mut t.state);
            }
            self.shuffled = Some(shuffled);
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        Ok(self.loss_and_grads(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_std_everywhere() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 1e-6,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
        assert!(exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
        assert!(exp(f32::NAN).is_nan());
    }

    /// `two_to_the` reads n from the bits of 1.5·2^23 + n: the same 2^n as
    /// a cast of n, for every x `exp` reduces, the ends included.
    #[test]
    fn two_to_the_n_from_bits_equals_a_cast() {
        let mut x = -87.0f32;
        loop {
            let shifted = x * std::f32::consts::LOG2_E + SHIFT;
            let n = shifted - SHIFT;
            let by_cast = f32::from_bits(((n as i32 + 127) as u32) << 23);
            assert_eq!(two_to_the(shifted).to_bits(), by_cast.to_bits(), "x = {x}");
            if x == 88.0 {
                break;
            }
            x = (x + 0.000_7).min(88.0);
        }
    }

    /// `dot` sums eight lanes pairwise, then the tail: close to the f64
    /// sum for every length, and the same on a rerun.
    #[test]
    fn dot_is_the_lane_ordered_sum() {
        for len in [0, 1, 7, 8, 9, 16, 63, 64, 65, 1024] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let w: Vec<f32> = (0..len)
                .map(|i| ((i * 13 % 7) as f32 - 3.0) / 5.0)
                .collect();
            let want: f64 = a
                .iter()
                .zip(&w)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let got = dot(&a, &w);
            let scale: f64 = a
                .iter()
                .zip(&w)
                .map(|(x, y)| f64::from((x * y).abs()))
                .sum();
            assert!(
                (f64::from(got) - want).abs() <= 1e-6 * scale.max(1.0),
                "{len}: {got} vs {want}"
            );
            let mut lanes = [0.0f32; 8];
            let whole = len / 8 * 8;
            for j in 0..whole {
                lanes[j % 8] += a[j] * w[j];
            }
            let mut ordered = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
                + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
            for j in whole..len {
                ordered += a[j] * w[j];
            }
            assert_eq!(got.to_bits(), ordered.to_bits(), "{len}");
        }
    }

    /// Issue 11: features × 1000 saturate most sigmoid units (a ≈ 1.6e-38,
    /// so g′ ≈ a), and the deltas r·w·g′ and (Δ·W)·g′ fall below 2⁻¹²⁶.
    /// Unflushed, about 40% of them were subnormal and an epoch ran 11×
    /// slower on Intel cores. Every worker thread, the calling thread's
    /// included, must produce none, and the calling thread must get its
    /// gradual underflow back after the pass.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn saturated_units_leave_no_subnormals_in_any_worker() {
        use crate::cpu::flush::flushing;
        let mut data = Dataset::synthetic(512, 4, 0).unwrap();
        for v in &mut data.x {
            *v *= 1000.0;
        }
        for hidden in [&[32][..], &[32, 16][..]] {
            let layout = Layout::new(4, hidden).unwrap();
            let model = Model::init(layout, Activation::Sigmoid, 0, vec![], "y".into());
            let mut fast = Fast::new(&model, &data, Optimizer::gd(0.001), 2).unwrap();
            assert_eq!(fast.threads(), 2);
            assert!(fast.block >= 256, "one block per worker");
            assert!(!flushing(), "the test thread starts with gradual underflow");
            fast.loss_and_grads(true);
            assert!(!flushing(), "the pass restores the calling thread's MXCSR");
            for (t, w) in fast.workers.iter().enumerate() {
                // One block holds each worker's 256 rows.
                let used = &w.acts[0][..256 * hidden[0]];
                let saturated = used.iter().filter(|&&a| a > 0.0 && a < 1e-30).count();
                assert!(
                    saturated > used.len() / 4,
                    "{hidden:?} worker {t}: only {saturated} of {} units saturated",
                    used.len()
                );
                let subnormal = w
                    .acts
                    .iter()
                    .chain(&w.deltas)
                    .flatten()
                    .chain(&w.residual)
                    .chain(&w.grads)
                    .filter(|v| v.is_subnormal())
                    .count();
                assert_eq!(subnormal, 0, "{hidden:?} worker {t}: subnormal values");
            }
            assert!(fast
                .grads
                .iter()
                .all(|g| g.is_finite() && !g.is_subnormal()));
        }
    }

    /// The pool hands workers to whichever thread claims them first; the
    /// result must be that of running worker t over rows t·N/k..(t+1)·N/k
    /// in turn on one thread, and stay so pass after pass: k = 3 workers
    /// on all 1,000 rows, 2 of the 3 on a 100-row batch (one per 64 rows),
    /// the third holding zeros, and 1 on a 50-row batch, run by the caller
    /// without waking the helpers, the other two holding zeros.
    #[test]
    fn pooled_passes_equal_each_worker_in_turn() {
        let data = Dataset::synthetic(1000, 5, 3).unwrap();
        let layout = Layout::new(5, &[12, 7]).unwrap();
        let model = Model::init(layout, Activation::Tanh, 4, vec![], "y".into());
        let mut fast = Fast::new(&model, &data, Optimizer::gd(0.1), 3).unwrap();
        assert!(fast.pool.is_some());
        for epoch in 0..20 {
            for (rows, active) in [(1000, 3), (100, 2), (50, 1)] {
                let (x, y) = (&data.x[..rows * 5], &data.y[..rows]);
                let posted = |fast: &Fast| {
                    let pool = fast.pool.as_ref().unwrap();
                    pool.shared.state.load(std::sync::atomic::Ordering::Acquire) >> SLOT_BITS
                };
                let before = posted(&fast);
                let loss = fast.mean_pass(x, y, true);
                // One worker with rows: the helpers were not woken.
                assert_eq!(posted(&fast) - before, u64::from(active > 1), "{rows} rows");
                let grads = fast.grads.clone();
                assert!(fast.workers[active..]
                    .iter()
                    .all(|w| w.sq == 0.0 && w.grads.iter().all(|&g| g == 0.0)));
                let (layout, params) =
                    block_view(&mut fast.padded, &fast.layout, &fast.theta.params);
                let pass = Pass {
                    layout,
                    real: &fast.layout,
                    act: fast.act,
                    params,
                    x,
                    y,
                    features: 5,
                    scale: (2.0 / rows as f64) as f32,
                    block: fast.block,
                    with_grads: true,
                    isa: fast.isa,
                };
                for (t, w) in fast.workers[..active].iter_mut().enumerate() {
                    w.run(pass, (t * rows / active)..((t + 1) * rows / active));
                }
                let (mut sq, mut want) = (0.0, vec![0.0f32; grads.len()]);
                for w in &fast.workers[..active] {
                    sq += w.sq;
                    add_grads(&fast.padded, &mut want, &w.grads);
                }
                let name = format!("epoch {epoch}, {rows} rows");
                assert_eq!(loss.to_bits(), (sq / rows as f64).to_bits(), "{name}");
                assert!(
                    grads
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}"
                );
            }
            Backend::run(&mut fast, 1, &mut Vec::new()).unwrap();
        }
    }

    /// Padding the block code's widths (pad.rs) changes no bit: a model
    /// trained with and without, for tiles of 8 and 16, full-batch and
    /// in mini-batches, on 1 and 3 threads, ends with the same losses,
    /// parameters and gradient, and its held-out loss agrees too.
    #[test]
    fn padded_widths_give_the_same_bits() {
        let data = Dataset::synthetic(700, 5, 2).unwrap();
        let cases: [(&[usize], usize); 4] = [
            (&[7], 8),
            (&[15, 3, 30], 16),
            (&[7, 15, 21], 8),
            (&[22, 6], 8),
        ];
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (hidden, tile) in cases {
            for act in Activation::ALL {
                for (threads, batches) in [(1, None), (3, None), (3, Some(100))] {
                    let layout = Layout::new(5, hidden).unwrap();
                    let model = Model::init(layout, act, 7, vec![], "y".into());
                    let train = |tile| {
                        let batches = batches.map(|size| MiniBatches { size, seed: 3 });
                        let mut fast =
                            Fast::with_tile(&model, &data, Optimizer::gd(0.5), (threads, 0), tile)
                                .unwrap()
                                .with_batches(batches);
                        let mut losses = Vec::new();
                        Backend::run(&mut fast, 4, &mut losses).unwrap();
                        let held_out = fast.loss_at(&model.params);
                        (
                            losses.iter().map(|l| l.to_bits()).collect::<Vec<_>>(),
                            bits(&fast.theta.params),
                            bits(&fast.grads),
                            held_out.to_bits(),
                            fast.padded.map(|p| p.layout.hidden().to_vec()),
                        )
                    };
                    let (plain, padded) = (train(None), train(Some(tile)));
                    let name =
                        format!("{hidden:?}, tile {tile}, {act}, {threads} threads, {batches:?}");
                    let widths = padded.4.clone().expect("some width is padded");
                    assert!(widths.iter().zip(hidden).any(|(p, h)| p > h), "{name}");
                    assert_eq!(plain.4, None, "{name}");
                    assert_eq!(plain.0, padded.0, "{name}: losses");
                    assert_eq!(plain.1, padded.1, "{name}: parameters");
                    assert_eq!(plain.2, padded.2, "{name}: gradient");
                    assert_eq!(plain.3, padded.3, "{name}: held-out loss");
                }
            }
        }
    }

    /// Four workers run on one, two or three threads (`run_on`; no more
    /// are started, not even for a while) train as
    /// four threads do, bit for bit: the same losses, parameters and
    /// held-out loss, full-batch and in mini-batches, with as many
    /// helpers as asked; `run_on` 0, or as many threads as workers, keeps
    /// a helper a worker.
    #[test]
    fn fewer_threads_than_workers_give_the_same_bits() {
        let data = Dataset::synthetic(900, 5, 2).unwrap();
        let layout = Layout::new(5, &[9, 4]).unwrap();
        let model = Model::init(layout, Activation::Tanh, 3, vec![], "y".into());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for batches in [None, Some(300)] {
            let train = |on: usize| {
                let batches = batches.map(|size| MiniBatches { size, seed: 5 });
                let fast = Fast::run_on(&model, &data, Optimizer::gd(0.5), (4, on)).unwrap();
                let mut fast = fast.with_batches(batches);
                let helpers = fast.pool.as_ref().map_or(0, |p| p.helpers.len());
                let mut losses = Vec::new();
                Backend::run(&mut fast, 5, &mut losses).unwrap();
                let held_out = fast.loss_at(&model.params).to_bits();
                let losses: Vec<u64> = losses.iter().map(|l| l.to_bits()).collect();
                (helpers, losses, bits(&fast.theta.params), held_out)
            };
            let four = train(0);
            assert_eq!(four.0, 3, "{batches:?}");
            for on in [1, 2, 3, 4] {
                let fewer = train(on);
                let name = format!("{batches:?} on {on}");
                assert_eq!(fewer.0, on.min(4) - 1, "{name}: helpers");
                assert_eq!(fewer.1, four.1, "{name}: losses");
                assert_eq!(fewer.2, four.2, "{name}: parameters");
                assert_eq!(fewer.3, four.3, "{name}: held-out loss");
            }
        }
    }

    /// A panic in a worker reaches the caller, the next pass is not stuck
    /// behind it, and dropping the backend stops its threads.
    #[test]
    fn a_panicking_worker_panics_the_pass() {
        let data = Dataset::synthetic(256, 3, 1).unwrap();
        // Rows 128.. (the second worker's) have no features: slicing them
        // panics. Given after the check that refuses such a data set.
        let mut short = data.clone();
        short.x.truncate(128 * 3);
        let layout = Layout::new(3, &[8]).unwrap();
        let model = Model::init(layout, Activation::Sigmoid, 1, vec![], "y".into());
        let mut fast = Fast::new(&model, &data, Optimizer::gd(0.1), 2).unwrap();
        fast.data = &short;
        for _ in 0..2 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fast.loss_and_grads(true)
            }));
            assert!(r.is_err());
        }
        drop(fast);
    }

    /// Both ways `activate_rows` runs, row by row and over the whole
    /// block, give each value's g(z + b) bit for bit: widths with a long
    /// vector tail (1, 7, 15) and without (16, 33, 64).
    #[test]
    fn both_activation_paths_give_the_same_bits() {
        for act in Activation::ALL {
            let g = match act {
                Activation::Sigmoid => sigmoid,
                Activation::Tanh => tanh,
            };
            for width in [1, 7, 15, 16, 33, 64] {
                let rows = 37;
                let bias: Vec<f32> = (0..width).map(|j| j as f32 * 0.37 - 3.0).collect();
                let z: Vec<f32> = (0..rows * width)
                    .map(|i| (i as f32 * 0.731).sin() * 9.0)
                    .collect();
                let want: Vec<u32> = (z.iter().enumerate())
                    .map(|(i, &v)| g(v + bias[i % width]).to_bits())
                    .collect();
                let mut got = z.clone();
                activate_rows(&mut got, &bias, act);
                let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{act}, width {width}");
            }
        }
    }

    /// A block holds 2h + 1 floats a row (activations, deltas and the
    /// residual) within BLOCK_BYTES, from 8 to 1024 rows, h counted at the
    /// model's widths: h 1020 runs at 1024 on a tile of 16, and its blocks
    /// stay 513 rows, as the SGEMM's sums over rows are cut by them.
    #[test]
    fn a_block_s_rows_follow_the_model_s_widths() {
        let rows = |hidden: &[usize]| block_rows(&Layout::new(3, hidden).unwrap());
        assert_eq!(rows(&[8]), 1024);
        // 4 MiB / (4 · (2·1024 + 1)) = 511.75; 2·1024 alone would give 512.
        assert_eq!(rows(&[1024]), 511);
        assert_eq!(rows(&[600, 424]), 511);
        assert_eq!(rows(&[1020]), 513);
        assert_eq!(rows(&[300_000]), 8);
        let data = Dataset::synthetic(100, 3, 0).unwrap();
        let layout = Layout::new(3, &[1020]).unwrap();
        let model = Model::init(layout, Activation::Tanh, 0, vec![], "y".into());
        let fast = Fast::with_tile(&model, &data, Optimizer::gd(0.1), (1, 0), Some(16)).unwrap();
        let padded = fast
            .padded
            .as_ref()
            .expect("1020 is padded on a tile of 16");
        assert_eq!(padded.layout.hidden(), [1024]);
        assert_eq!(fast.block, 513);
    }

    /// At most one thread, and one worker of a pass, per 64 rows (the
    /// last may hold fewer), and one at least.
    #[test]
    fn a_thread_per_64_rows_at_most() {
        for (rows, most) in [
            (0, 1),
            (1, 1),
            (64, 1),
            (65, 2),
            (128, 2),
            (129, 3),
            (1000, 16),
        ] {
            assert_eq!(Fast::thread_count(64, rows), most, "{rows} rows");
            assert_eq!(active_workers(64, rows), most, "{rows} rows");
            assert_eq!(Fast::thread_count(2, rows), most.min(2), "{rows} rows");
            assert_eq!(active_workers(2, rows), most.min(2), "{rows} rows");
        }
        assert_eq!(Fast::thread_count(0, 64), 1);
    }

    /// A thread's buffers are those of the widths the block code runs at:
    /// h 15 runs at 16 on either tile, so a second thread costs what it
    /// costs at 16.
    #[test]
    fn a_thread_s_bytes_follow_the_padded_widths() {
        if pad::tile().is_none() {
            return;
        }
        let per_thread = |h: usize| {
            let layout = Layout::new(3, &[h]).unwrap();
            let need = |t| Fast::bytes_needed(&layout, 1000, &Optimizer::gd(0.1), t).unwrap();
            need(2) - need(1)
        };
        assert_eq!(per_thread(15), per_thread(16));
        assert!(per_thread(17) > per_thread(16));
    }

    /// The default build is the widest this CPU runs: AVX-512 where it
    /// has AVX-512 F, VL, BW and DQ with AVX2 and FMA, else AVX2 where it
    /// has AVX2 and FMA; every build no wider runs too.
    #[test]
    fn the_default_build_is_the_widest_available() {
        #[cfg(target_arch = "x86_64")]
        let want = {
            use std::is_x86_feature_detected as d;
            let avx2 = d!("avx2") && d!("fma");
            let avx512 = d!("avx512f") && d!("avx512vl") && d!("avx512bw") && d!("avx512dq");
            match (avx2 && avx512, avx2) {
                (true, _) => Isa::Avx512,
                (false, true) => Isa::Avx2,
                _ => Isa::Baseline,
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let want = Isa::Baseline;
        assert_eq!(Isa::detect(), want);
        let at = Isa::ALL.iter().position(|&i| i == want).unwrap();
        assert!(Isa::ALL[..=at].iter().all(|i| i.available()));
    }

    #[test]
    fn activations_are_close_to_the_reference() {
        for act in Activation::ALL {
            let mut z: Vec<f32> = (-4000..4000).map(|i| i as f32 * 0.01).collect();
            z.extend([-1000.0, -100.0, 100.0, 1000.0]);
            let want: Vec<f64> = z.iter().map(|&v| act.apply(v as f64)).collect();
            activate_rows(&mut z, &[0.0], act);
            for (g, w) in z.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() <= 1e-6 + 1e-5 * w.abs(),
                    "{act}: {g} vs {w}"
                );
            }
        }
    }
}
