//! The sharded trainer: any backend's per-shard loss-and-gradient passes,
//! summed in shard order across the processes, then one optimizer step on
//! the host.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Comm, Shards};
use crate::cpu::ParamSlots;
use crate::error::{Error, Result};
use crate::optim::lbfgs::Objective;
use crate::optim::{self, LrSchedule, Optimizer, Rates};
use crate::train::Backend;

/// The signals a sharded run watches: this process's own, and where the
/// run's agreed one is published.
#[derive(Clone, Copy)]
pub struct Interrupts<'a> {
    /// The number of the signal this process received; 0 for none.
    pub local: &'a AtomicUsize,
    /// Raised on every process at the same pass, once any process had a
    /// signal: the flag the training loop checks.
    pub agreed: &'a AtomicBool,
    /// The largest signal number any process had, as agreed.
    pub agreed_signal: &'a AtomicUsize,
    /// `--max-time`: past this instant a process asks to stop, as a signal
    /// does, so that every process stops at the same pass (their clocks
    /// would not agree on it).
    pub deadline: Option<Instant>,
    /// Raised with `agreed` when the stop was the deadline, no signal.
    pub timed_out: &'a AtomicBool,
}

/// The packet's stop slot: a signal's number, or this for the deadline
/// (below every signal, so a signal wins).
const TIME_UP: f64 = 0.5;

/// One shard's loss-and-gradient pass.
pub type Part<'a> = Box<dyn Objective + Send + 'a>;

/// Where a sharded pass spends its time, summed over passes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// Loss-and-gradient passes (each one gather).
    pub passes: usize,
    /// In this process's shard passes.
    pub compute: Duration,
    /// In the gather and the shard-order sum.
    pub reduce: Duration,
    /// Bytes this process received from the others.
    pub bytes: u64,
}

/// A full-batch trainer over K shards, this process computing `parts`
/// (its own shards, in order). Every process holds the same parameters
/// and optimizer state (f64, as the reference's), since every process
/// applies the same step to the same sums.
pub struct Sharded<'a> {
    /// One loss-and-gradient pass per shard this process owns, in shard order.
    parts: Vec<Part<'a>>,
    /// Threads the shard passes run on, side by side.
    threads: usize,
    comm: &'a dyn Comm,
    shards: Shards,
    /// n_s / N of every shard: a shard's pass is normalised by its own rows.
    weights: Vec<f64>,
    opt: Optimizer,
    /// The learning rate by epoch (`--lr-schedule`, and the plateau's cuts).
    rates: Rates,
    theta: ParamSlots<f64>,
    /// ∂L/∂θ of the last pass.
    grad: Vec<f64>,
    /// (owned shards, 2 + P): per shard [stop, loss, ∂L/∂θ].
    local: Vec<f64>,
    /// (K, 2 + P): every shard's, gathered.
    all: Vec<f64>,
    /// Floats each process sends.
    counts: Vec<usize>,
    interrupts: Option<Interrupts<'a>>,
    stats: CommStats,
}

impl<'a> Sharded<'a> {
    /// The trainer from `params`, with `parts` the passes over this
    /// process's shards (`shards.owned(rank, size)`, in order), run on
    /// `threads` threads side by side. A shard's pass must not depend on
    /// the thread count (the cpu backend runs one thread per shard), so
    /// neither does the result.
    pub fn new(
        parts: Vec<Part<'a>>,
        threads: usize,
        comm: &'a dyn Comm,
        shards: Shards,
        params: &[f32],
        opt: Optimizer,
    ) -> Result<Sharded<'a>> {
        let (rank, size) = (comm.rank(), comm.size());
        opt.check()?;
        shards.check_processes(size, false)?;
        if parts.len() != shards.owned(rank, size).len() {
            return Err(Error::Config(format!(
                "process {rank} has {} shard passes for shards {:?}",
                parts.len(),
                shards.owned(rank, size)
            )));
        }
        let stride = params.len() + 2;
        gather_fits(shards.count, stride)?;
        let weights = (0..shards.count)
            .map(|s| shards.rows_of(s).len() as f64 / shards.rows as f64)
            .collect();
        let counts = (0..size)
            .map(|r| shards.owned(r, size).len() * stride)
            .collect();
        Ok(Sharded {
            local: vec![0.0; parts.len() * stride],
            all: vec![0.0; shards.count * stride],
            parts,
            threads: threads.max(1),
            comm,
            shards,
            weights,
            opt,
            rates: Rates::default(),
            theta: ParamSlots::new(params, &opt),
            grad: vec![0.0; params.len()],
            counts,
            interrupts: None,
            stats: CommStats::default(),
        })
    }

    /// Schedules the learning rate by epoch (`LrSchedule::Constant`, the
    /// default, keeps it).
    pub fn with_schedule(mut self, schedule: LrSchedule) -> Self {
        self.rates.schedule = schedule;
        self
    }

    /// Shares the signals through every pass, so every process stops at
    /// the same one.
    pub fn watch(&mut self, interrupts: Interrupts<'a>) {
        self.interrupts = Some(interrupts);
    }

    pub fn stats(&self) -> CommStats {
        self.stats
    }

    /// L(params) into the return value and ∂L/∂θ into `self.grad`: each
    /// owned shard's pass, every shard's partials gathered, summed in shard
    /// order.
    fn pass(&mut self, params: &[f32]) -> Result<f64> {
        let stride = params.len() + 2;
        let stop = self
            .interrupts
            .map_or(0.0, |i| match i.local.load(Ordering::SeqCst) {
                0 if i.deadline.is_some_and(|d| Instant::now() >= d) => TIME_UP,
                signal => signal as f64,
            });
        #[cfg(debug_assertions)]
        injected_fault(self.comm.rank(), self.stats.passes)?;
        let t = Instant::now();
        // Each thread a contiguous run of shards, each shard its own slot.
        let per = self
            .parts
            .len()
            .div_ceil(self.threads.min(self.parts.len()));
        let run = |parts: &mut [Part<'a>], slots: &mut [f64]| -> Result<()> {
            for (part, slot) in parts.iter_mut().zip(slots.chunks_exact_mut(stride)) {
                let (head, grad) = slot.split_at_mut(2);
                head[0] = stop;
                head[1] = part.evaluate(params, grad)?;
            }
            Ok(())
        };
        if per == self.parts.len() {
            run(&mut self.parts, &mut self.local)?;
        } else {
            let (parts, local) = (&mut self.parts, &mut self.local);
            std::thread::scope(|scope| {
                let mut chunks = parts.chunks_mut(per).zip(local.chunks_mut(per * stride));
                let (first, first_slots) = chunks.next().expect("per < the shard count");
                let runs: Vec<_> = chunks
                    .map(|(parts, slots)| scope.spawn(move || run(parts, slots)))
                    .collect();
                // The calling thread runs the first shards meanwhile, so a
                // pass starts one thread fewer.
                let first = run(first, first_slots);
                // The scope joins every thread, also after an early error.
                let rest = (runs.into_iter())
                    .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                std::iter::once(first).chain(rest).try_for_each(|r| r)
            })?;
        }
        let computed = Instant::now();
        self.comm
            .all_gather(&self.local, &self.counts, &mut self.all);
        // L = Σ_s (n_s/N)·L_s and ∂L/∂θ likewise, s ascending: the same
        // additions in the same order on every process, whatever P.
        let mut loss = 0.0;
        let mut agreed = 0.0f64;
        self.grad.fill(0.0);
        for (slot, &w) in self.all.chunks_exact(stride).zip(&self.weights) {
            agreed = agreed.max(slot[0]);
            loss += w * slot[1];
            for (g, &v) in self.grad.iter_mut().zip(&slot[2..]) {
                *g += w * v;
            }
        }
        if let (Some(i), true) = (self.interrupts, agreed > 0.0) {
            if agreed == TIME_UP {
                i.timed_out.store(true, Ordering::SeqCst);
            } else {
                i.agreed_signal.store(agreed as usize, Ordering::SeqCst);
            }
            i.agreed.store(true, Ordering::SeqCst);
        }
        self.stats.passes += 1;
        self.stats.compute += computed - t;
        self.stats.reduce += computed.elapsed();
        self.stats.bytes += ((self.all.len() - self.local.len()) * 8) as u64;
        Ok(loss)
    }

    /// A pass at the current parameters.
    fn pass_here(&mut self) -> Result<f64> {
        let params = std::mem::take(&mut self.theta.params);
        let loss = self.pass(&params);
        self.theta.params = params;
        loss
    }
}

/// The gather of a pass, `shards` blocks of `stride` values, within what
/// one MPI call counts and offsets (32-bit signed).
fn gather_fits(shards: usize, stride: usize) -> Result<()> {
    let values = shards.saturating_mul(stride);
    if values > i32::MAX as usize {
        return Err(Error::Config(format!(
            "a pass gathers {values} values ({shards} shards of {} parameters and 2), past the 2^31 − 1 that one MPI call counts; use fewer --shards, or a smaller network",
            stride - 2
        )));
    }
    Ok(())
}

impl Objective for Sharded<'_> {
    fn describe(&self) -> String {
        format!(
            "{} on each of {} shards, {}",
            self.parts[0].describe(),
            self.shards.count,
            self.comm.describe()
        )
    }

    fn params_len(&self) -> usize {
        self.grad.len()
    }

    fn evaluate(&mut self, params: &[f32], grad: &mut [f64]) -> Result<f64> {
        let loss = self.pass(params)?;
        grad.copy_from_slice(&self.grad);
        Ok(loss)
    }
}

impl Backend for Sharded<'_> {
    crate::cpu::host_param_methods!();

    fn run(&mut self, epochs: usize, losses: &mut Vec<f64>) -> Result<()> {
        self.opt.stepped()?;
        for _ in 0..epochs {
            losses.push(self.pass_here()?);
            let t = &mut self.theta;
            let opt = self.rates.at(&self.opt, t.state.steps);
            optim::step(&opt, &mut t.params, &self.grad, &mut t.state);
        }
        Ok(())
    }

    fn loss(&mut self) -> Result<f64> {
        self.pass_here()
    }
}

/// Test builds only: `SHADERTRAIN_FAULT=panic:R:N` (or `error:R:N`) makes
/// process R panic (or fail) at its pass N, so the tests can check that
/// the other processes end promptly rather than wait in the gather.
#[cfg(debug_assertions)]
fn injected_fault(rank: usize, pass: usize) -> Result<()> {
    let Ok(fault) = std::env::var("SHADERTRAIN_FAULT") else {
        return Ok(());
    };
    let mut it = fault.split(':');
    let (kind, r, n) = (it.next(), it.next(), it.next());
    let at = |v: Option<&str>| v.and_then(|v| v.parse::<usize>().ok());
    if at(r) != Some(rank) || at(n) != Some(pass) {
        return Ok(());
    }
    match kind {
        Some("panic") => panic!("injected panic at pass {pass}"),
        _ => Err(Error::Config(format!("injected error at pass {pass}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 16 shards of 134,217,727 parameters (and the loss and the rows)
    /// gather 2,147,483,664 values a pass, past the 2^31 − 1 an MPI call
    /// counts: refused, naming the shards; 2^31 − 1 values or fewer fit.
    #[test]
    fn a_gather_past_mpi_s_counts_is_refused() {
        let e = gather_fits(16, 134_217_727 + 2).unwrap_err().to_string();
        assert!(
            e.contains(
                "a pass gathers 2147483664 values (16 shards of 134217727 parameters and 2)"
            ),
            "{e}"
        );
        assert!(gather_fits(16, (i32::MAX as usize) / 16).is_ok());
        assert!(gather_fits(1, i32::MAX as usize).is_ok());
        assert!(gather_fits(1, i32::MAX as usize + 1).is_err());
        assert!(gather_fits(usize::MAX, 3).is_err());
    }

    /// One process's trainer takes a pass for each of its shards, no
    /// fewer, counts its passes, and receives no bytes: its gather is a
    /// copy of what it computed.
    #[test]
    fn one_process_needs_every_shard_and_receives_nothing() {
        use crate::cpu::Reference;
        use crate::data::Dataset;
        use crate::dist::Single;
        use crate::model::{Activation, Layout, Model};
        let data = Dataset::synthetic(40, 2, 1).unwrap();
        let layout = Layout::new(2, &[3]).unwrap();
        let model = Model::init(layout, Activation::Tanh, 1, vec![], "y".into());
        let shards = Shards::new(40, 4).unwrap();
        let opt = Optimizer::gd(0.1);
        let sets: Vec<Dataset> = (0..4).map(|s| data.slice(shards.rows_of(s))).collect();
        let parts = |k: usize| -> Vec<Part> {
            (sets.iter().take(k))
                .map(|d| Box::new(Reference::new(&model, d, opt).unwrap()) as Part)
                .collect()
        };
        let e = Sharded::new(parts(3), 1, &Single, shards, &model.params, opt)
            .err()
            .expect("3 passes for 4 shards");
        assert!(
            e.to_string()
                .contains("process 0 has 3 shard passes for shards 0..4"),
            "{e}"
        );
        let mut b = Sharded::new(parts(4), 2, &Single, shards, &model.params, opt).unwrap();
        let mut grad = vec![0.0; model.params.len()];
        for _ in 0..2 {
            b.evaluate(&model.params, &mut grad).unwrap();
        }
        let stats = b.stats();
        assert_eq!((stats.passes, stats.bytes), (2, 0));
    }
}
