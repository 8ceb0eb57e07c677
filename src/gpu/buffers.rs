//! Device buffers: creation under error scopes, upload, and the staging
//! buffer that is the only place device memory is mapped for reading.

use std::sync::mpsc;
use std::time::Duration;

use wgpu::BufferUsages;

use crate::error::{Error, Result};
use crate::gpu::context::Context;
use crate::gpu::kernels::Params;

/// How long a readback waits, once the device is idle, for its mapping's
/// callback; it normally runs at once, on this thread or on another that
/// polled the same device.
const CALLBACK_WAIT: Duration = Duration::from_secs(10);

/// A storage buffer of `len` f32s, zeroed, that can also be copied from and to.
pub fn storage(ctx: &Context, label: &str, len: usize) -> Result<wgpu::Buffer> {
    let size = (len.max(1) * 4) as u64;
    check_size(ctx, label, size)?;
    ctx.scoped(label, || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: BufferUsages::STORAGE | BufferUsages::COPY_SRC | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })
}

/// A storage buffer holding `data`, written through a mapping at creation
/// so a large upload needs no second host copy.
pub fn storage_with(ctx: &Context, label: &str, data: &[f32]) -> Result<wgpu::Buffer> {
    let size = (data.len().max(1) * 4) as u64;
    check_size(ctx, label, size)?;
    let buffer = ctx.scoped(label, || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: BufferUsages::STORAGE | BufferUsages::COPY_SRC | BufferUsages::COPY_DST,
            mapped_at_creation: true,
        })
    })?;
    {
        let mut view = buffer
            .get_mapped_range_mut(..)
            .map_err(|e| Error::Device(format!("mapping {label}: {e}")))?;
        view.slice(..data.len() * 4)
            .copy_from_slice(bytemuck::cast_slice(data));
    }
    buffer.unmap();
    Ok(buffer)
}

/// The uniform block of one dispatch.
pub fn uniform(ctx: &Context, label: &str, params: &Params) -> Result<wgpu::Buffer> {
    let buffer = ctx.scoped(label, || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: std::mem::size_of::<Params>() as u64,
            usage: BufferUsages::UNIFORM | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })?;
    ctx.queue
        .write_buffer(&buffer, 0, bytemuck::bytes_of(params));
    Ok(buffer)
}

fn check_size(ctx: &Context, label: &str, size: u64) -> Result<()> {
    let have = ctx.max_binding();
    if size > have {
        return Err(Error::TooLarge {
            what: format!("one storage binding ({label})"),
            need: size,
            have,
            fewer_rows: false,
        });
    }
    Ok(())
}

/// The one host-readable buffer: device results are copied here, mapped,
/// read and unmapped.
pub struct Staging {
    buffer: wgpu::Buffer,
    len: usize,
}

impl Staging {
    pub fn new(ctx: &Context, label: &str, len: usize) -> Result<Staging> {
        let buffer = ctx.scoped(label, || {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (len.max(1) * 4) as u64,
                usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(Staging { buffer, len })
    }

    /// Records a copy of `len` f32s of `src` into the staging buffer.
    pub fn copy_from(&self, encoder: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, len: usize) {
        self.copy_from_at(encoder, src, len, 0);
    }

    /// Records a copy of `len` f32s of `src` into the staging buffer, from
    /// its value `at` on.
    pub fn copy_from_at(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        len: usize,
        at: usize,
    ) {
        assert!(
            at + len <= self.len,
            "staging holds {} values, not {at} + {len}",
            self.len
        );
        encoder.copy_buffer_to_buffer(src, 0, &self.buffer, (at * 4) as u64, (len * 4) as u64);
    }

    /// Submits `encoder`, waits for the device (up to the context's timeout)
    /// and returns the first `len` values copied in by it.
    pub fn finish(
        &self,
        ctx: &Context,
        encoder: wgpu::CommandEncoder,
        len: usize,
    ) -> Result<Vec<f32>> {
        let submission = ctx.queue.submit([encoder.finish()]);
        let bytes = (len.max(1) * 4) as u64;
        let (tx, rx) = mpsc::channel();
        self.buffer
            .map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
                // The receiver outlives the wait below; a send can only fail
                // after it has returned with an error.
                let _ = tx.send(r);
            });
        ctx.wait(submission)?;
        // The copy is done, but the callback may not have run yet: when
        // threads share the device, another thread's poll or submit can
        // collect it and call it just after this wait returns.
        match rx.recv_timeout(CALLBACK_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Device(format!("reading results back: {e}"))),
            Err(_) => {
                return Err(Error::Device(
                    "the device finished but the readback never completed".into(),
                ))
            }
        }
        let values = {
            let view = self
                .buffer
                .get_mapped_range(0..bytes)
                .map_err(|e| Error::Device(format!("reading results back: {e}")))?;
            bytemuck::cast_slice::<u8, f32>(&view)[..len].to_vec()
        };
        self.buffer.unmap();
        Ok(values)
    }

    /// Copies `len` f32s of `src` to the host.
    pub fn read(&self, ctx: &Context, src: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        self.copy_from(&mut encoder, src, len);
        self.finish(ctx, encoder, len)
    }
}
