//! GPU time per kernel over one epoch, from timestamp queries: what
//! `shadertrain bench` reports per kernel.

use crate::error::Result;
use crate::gpu::buffers::Staging;
use crate::gpu::kernels::Kernel;
use crate::gpu::trainer::GpuTrainer;

impl GpuTrainer {
    /// GPU seconds per kernel over one epoch, summed per kernel, from
    /// timestamp queries around every dispatch (each in its own pass, so
    /// per-pass overhead is counted); `None` where the adapter has no
    /// timestamp queries or the epoch has more than 2,048 dispatches. Runs
    /// (and applies) one epoch.
    pub fn profile(&mut self) -> Result<Option<Vec<(Kernel, f64)>>> {
        let count = 2 * self.epoch.len() as u32;
        // One query set holds at most QUERY_SET_MAX_QUERIES timestamps.
        if !self.ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY)
            || count > wgpu::QUERY_SET_MAX_QUERIES
        {
            return Ok(None);
        }
        let queries = self.ctx.scoped("profile queries", || {
            self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile queries"),
                ty: wgpu::QueryType::Timestamp,
                count,
            })
        })?;
        let resolved = self.ctx.scoped("profile timestamps", || {
            self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile timestamps"),
                size: u64::from(count) * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        })?;
        // Each timestamp is a u64, read as two f32-sized words.
        let words = 2 * count as usize;
        let staging = Staging::new(&self.ctx, "profile staging", words)?;
        self.ctx.queue.write_buffer(&self.counter, 0, &[0; 4]);
        let mut encoder = self.encoder("profile");
        for (i, s) in self.epoch.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(s.kernel.entry_point()),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            s.record(&self.kernels, &mut pass);
        }
        encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
        staging.copy_from(&mut encoder, &resolved, words);
        let raw = staging.finish(&self.ctx, encoder, words)?;
        let ticks: Vec<u64> = raw
            .chunks_exact(2)
            .map(|w| u64::from(w[0].to_bits()) | (u64::from(w[1].to_bits()) << 32))
            .collect();
        let period = f64::from(self.ctx.queue.get_timestamp_period()) * 1e-9;
        let mut per_kernel: Vec<(Kernel, f64)> = Vec::new();
        for (s, t) in self.epoch.iter().zip(ticks.chunks_exact(2)) {
            let secs = t[1].saturating_sub(t[0]) as f64 * period;
            match per_kernel.iter_mut().find(|(k, _)| *k == s.kernel) {
                Some((_, total)) => *total += secs,
                None => per_kernel.push((s.kernel, secs)),
            }
        }
        Ok(Some(per_kernel))
    }
}
