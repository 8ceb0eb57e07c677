//! Runs one kernel on host data: how the tests hold each kernel to its CPU
//! twin in `cpu::ops`, and how benches/kernels.rs times it. Buffers are made
//! per [`Op`], so this is for checking and timing, not for training.
//!
//! [`run`] and [`run_pipeline`] follow every slot's values with a tail of
//! [`CANARIES`] canaries inside the same binding, and dispatch twice: with
//! NaN canaries ([`CANARY_BITS`]), then with finite ones
//! ([`FINITE_CANARY_BITS`]). A kernel that writes past the lengths its
//! proof gives ([`Kernel::bounds`]) changes a tail (a read-modify-write of
//! a NaN canary can keep its bits; of the finite one it cannot), and one
//! that reads past them gives other outputs in the two dispatches (NaN,
//! or a value the twin test refuses, in the first): either is an error.
//! Within the binding, not past it, because past it the driver's robust
//! buffer access would discard the write and hide it. [`run_exact`] binds
//! the slots as they are, for the tests of `Step::new`'s refusals.

use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
use crate::gpu::epoch::Step;
use crate::gpu::kernels::{Kernel, Kernels, Params};

/// One binding after the uniform block.
pub enum Slot<'a> {
    /// Read by the kernel.
    Input(&'a [f32]),
    /// Written by the kernel; starts zeroed, `len` values read back.
    Output(usize),
    /// Read and written; starts as the given values and is read back.
    InOut(&'a [f32]),
}

/// How many canaries follow each slot's values in [`run`]'s bindings.
pub const CANARIES: usize = 64;

/// The first dispatch's canary: a quiet NaN in f32 whose two halves are
/// NaNs in f16 too (0x7fe5, 0x7e5a), so that a value read past a buffer,
/// f32 or f16 (`array<f16>` in mixed.wgsl), turns what it reaches into NaN.
pub const CANARY_BITS: u32 = 0x7fe5_7e5a;

/// The second dispatch's canary: 1329.92 in f32, 4.65 and 1.36 as f16s; a
/// kernel that adds anything to it, or writes anything over it, changes
/// its bits, and one that reads it computes other outputs than from the
/// NaN. A buffer of u32 indices read past its end sees large numbers.
pub const FINITE_CANARY_BITS: u32 = 0x44a6_3d71;

/// Dispatches `kernel`, over the workgroups `params` calls for, with
/// `params` at binding 0 and `slots` after it, in the order of
/// [`Kernel::bindings`], each bound with [`CANARIES`] canaries after its
/// values, twice (as the module says). Returns the contents of the
/// `Output` and `InOut` slots, in order, without the canaries; an error
/// where the kernel changed a canary, or the two dispatches' outputs
/// differ.
pub fn run(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    params: &Params,
    slots: &[Slot<'_>],
) -> Result<Vec<Vec<f32>>> {
    run_pipeline(
        ctx,
        kernels,
        kernel,
        kernels.pipeline(ctx, kernel)?,
        params,
        slots,
    )
}

/// As [`run`], with `pipeline` (which runs `kernel`), such as a fused
/// pipeline built for one network's shape.
pub fn run_pipeline(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    pipeline: &wgpu::ComputePipeline,
    params: &Params,
    slots: &[Slot<'_>],
) -> Result<Vec<Vec<f32>>> {
    let guarded = |bits: u32| guarded_dispatch(ctx, kernels, kernel, pipeline, params, slots, bits);
    let nan = guarded(CANARY_BITS)?;
    let finite = guarded(FINITE_CANARY_BITS)?;
    for (binding, (a, b)) in written_bindings(kernel, slots).zip(nan.iter().zip(&finite)) {
        if let Some(at) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
            return Err(Error::Device(format!(
                "{} read past a buffer: value {at} of binding {binding} is {:#010x} with NaN past the buffers and {:#010x} with {} there",
                kernel.entry_point(),
                a[at].to_bits(),
                b[at].to_bits(),
                f32::from_bits(FINITE_CANARY_BITS)
            )));
        }
    }
    Ok(nan)
}

/// One dispatch of [`run_pipeline`]'s, with canaries of `bits`: the
/// written slots' values, their canaries checked and cut off.
fn guarded_dispatch(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    pipeline: &wgpu::ComputePipeline,
    params: &Params,
    slots: &[Slot<'_>],
    bits: u32,
) -> Result<Vec<Vec<f32>>> {
    let canary = f32::from_bits(bits);
    let guarded: Vec<Vec<f32>> = slots
        .iter()
        .map(|slot| {
            let mut values = match slot {
                Slot::Input(data) | Slot::InOut(data) => data.to_vec(),
                Slot::Output(len) => vec![0.0; *len],
            };
            values.extend([canary; CANARIES]);
            values
        })
        .collect();
    let padded: Vec<Slot<'_>> = slots
        .iter()
        .zip(&guarded)
        .map(|(slot, values)| match slot {
            Slot::Input(_) => Slot::Input(values),
            Slot::Output(_) | Slot::InOut(_) => Slot::InOut(values),
        })
        .collect();
    let mut results = dispatch_once(ctx, kernels, kernel, pipeline, params, &padded)?;
    for (binding, values) in written_bindings(kernel, slots).zip(&mut results) {
        let len = values.len() - CANARIES;
        if let Some(at) = values[len..].iter().position(|v| v.to_bits() != bits) {
            return Err(Error::Device(format!(
                "{} wrote past the {len} values of binding {binding}: value {} is {:#010x}",
                kernel.entry_point(),
                len + at,
                values[len + at].to_bits()
            )));
        }
        values.truncate(len);
    }
    Ok(results)
}

/// The bindings of the slots `kernel` writes (`Output`, `InOut`), in
/// order: slot i is binding `kernel.bindings()[i + 1]`, after the uniform
/// block.
fn written_bindings<'s>(kernel: Kernel, slots: &'s [Slot<'_>]) -> impl Iterator<Item = u32> + 's {
    (kernel.bindings().iter().skip(1))
        .zip(slots)
        .filter(|(_, slot)| !matches!(slot, Slot::Input(_)))
        .map(|(&binding, _)| binding)
}

/// As [`run`], on bindings exactly as long as `slots`, with no canaries:
/// for the tests of what `Step::new` refuses.
pub fn run_exact(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    params: &Params,
    slots: &[Slot<'_>],
) -> Result<Vec<Vec<f32>>> {
    let pipeline = kernels.pipeline(ctx, kernel)?;
    dispatch_once(ctx, kernels, kernel, pipeline, params, slots)
}

fn dispatch_once(
    ctx: &Context,
    kernels: &Kernels,
    kernel: Kernel,
    pipeline: &wgpu::ComputePipeline,
    params: &Params,
    slots: &[Slot<'_>],
) -> Result<Vec<Vec<f32>>> {
    let op = Op::new(ctx, kernel, pipeline, params, slots)?;
    op.dispatch(ctx, kernels, 1)?;
    op.read(ctx)
}

/// One kernel's dispatch over buffers uploaded once: dispatched as often as
/// asked, then read back.
pub struct Op {
    step: Step,
    /// Each slot's buffer, and for `Output` and `InOut` the values to read
    /// back.
    buffers: Vec<(wgpu::Buffer, Option<usize>)>,
    /// Held so the bind group's uniform block outlives every dispatch.
    _uniform: Option<wgpu::Buffer>,
}

impl Op {
    /// Uploads `slots` and binds them, after `params`, for `pipeline`, which
    /// runs `kernel`; as [`run`] describes.
    pub fn new(
        ctx: &Context,
        kernel: Kernel,
        pipeline: &wgpu::ComputePipeline,
        params: &Params,
        slots: &[Slot<'_>],
    ) -> Result<Op> {
        let mut buffers = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            let label = format!("{}.{i}", kernel.entry_point());
            buffers.push(match slot {
                Slot::Input(data) => (buffers::storage_with(ctx, &label, data)?, None),
                Slot::InOut(data) => (buffers::storage_with(ctx, &label, data)?, Some(data.len())),
                Slot::Output(len) => (buffers::storage(ctx, &label, *len)?, Some(*len)),
            });
        }
        let resources: Vec<&wgpu::Buffer> = buffers.iter().map(|(b, _)| b).collect();
        let (step, uniform) = Step::new(
            ctx,
            pipeline.clone(),
            kernel,
            kernel.entry_point(),
            params,
            &resources,
        )?;
        Ok(Op {
            step,
            buffers,
            _uniform: uniform,
        })
    }

    /// Records `times` dispatches in one compute pass, submits them and
    /// waits for the device.
    pub fn dispatch(&self, ctx: &Context, kernels: &Kernels, times: usize) -> Result<()> {
        let label = self.step.kernel.entry_point();
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("op") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            for _ in 0..times {
                self.step.record(kernels, &mut pass);
            }
        }
        let submission = ctx.queue.submit([encoder.finish()]);
        ctx.wait(submission)
    }

    /// The contents of the `Output` and `InOut` slots, in order.
    pub fn read(&self, ctx: &Context) -> Result<Vec<Vec<f32>>> {
        let mut results = Vec::new();
        for (buffer, len) in &self.buffers {
            if let Some(len) = *len {
                let staging = Staging::new(ctx, "op staging", len)?;
                results.push(staging.read(ctx, buffer, len)?);
            }
        }
        Ok(results)
    }
}
