//! Runs one kernel on host data: how the tests hold each kernel to its CPU
//! twin in `cpu::ops`. Buffers are made per call, so this is for checking,
//! not for training.

use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
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

/// Dispatches `kernel` once, over the workgroups `params` calls for, with
/// `params` at binding 0 and `slots` after it, in the order of
/// [`Kernel::bindings`]. Returns the contents of the `Output` and `InOut`
/// slots, in order.
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
    let workgroups = u32::try_from(kernel.workgroups(params))
        .map_err(|_| Error::Config(format!("{kernel:?}: too many workgroups")))?;
    let uniform = buffers::uniform(ctx, "params", params)?;
    let mut owned = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        let label = format!("{}.{i}", kernel.entry_point());
        owned.push(match slot {
            Slot::Input(data) | Slot::InOut(data) => buffers::storage_with(ctx, &label, data)?,
            Slot::Output(len) => buffers::storage(ctx, &label, *len)?,
        });
    }
    // Binding 0 is the uniform block, for every kernel that reads it.
    let mut bindings = Vec::new();
    if kernel.bindings().first() == Some(&0) {
        bindings.push(uniform.as_entire_binding());
    }
    bindings.extend(owned.iter().map(|b| b.as_entire_binding()));
    let bind_group =
        crate::gpu::kernels::bind_group(ctx, pipeline, kernel, kernel.entry_point(), &bindings)?;
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("op") });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(kernel.entry_point()),
            timestamp_writes: None,
        });
        kernels.dispatch(&mut pass, pipeline, &bind_group, workgroups);
    }
    ctx.queue.submit([encoder.finish()]);
    let mut results = Vec::new();
    for (slot, buffer) in slots.iter().zip(&owned) {
        let len = match slot {
            Slot::Input(_) => continue,
            Slot::Output(len) => *len,
            Slot::InOut(data) => data.len(),
        };
        let staging = Staging::new(ctx, "op staging", len)?;
        results.push(staging.read(ctx, buffer, len)?);
    }
    Ok(results)
}
