//! Drivers that end a shader invocation's loops early, and the bounds
//! that keep every kernel inside them.
//!
//! Mesa's lavapipe as Debian 12 ships it (Mesa 22.3) stops an invocation's
//! loops after 65,535 trips, every loop of the shader counted together,
//! and says nothing: the loop just ends, and the sums it was adding come
//! out short. Mesa 26.1's lavapipe has no such limit, nor has any
//! hardware driver this project has met. [`probe`] measures the limit on
//! a software adapter (the only kind that has shown one), and
//! [`Plan::cut_on`](crate::gpu::Plan::cut_on) keeps each kernel's trips
//! under it:
//!
//! - the kernels that sum over a layer's units loop at most once per
//!   unit (the output layer's dot products, 16 units a trip), so the
//!   inputs and the hidden layers they loop over must stay under the
//!   limit: [`check_widths`];
//! - the gradient kernels loop once per row of their row group, and the
//!   output and fused kernels a few times per row, so row groups are cut
//!   short enough: [`most_group_rows`];
//! - the output layer's subgroup kernel may give one subgroup a whole
//!   group's rows, so it runs only where that fits:
//!   [`subgroup_output_fits`].
//!
//! Each bound leaves [`SPARE`] trips for the loops of fixed length around
//! them (trees over a workgroup, stores of a register block, which the
//! driver's compiler unrolls where their trip count is a constant). The
//! wide family's output kernel adds ⌈hidden/64⌉ shares a row, fewer than
//! the output kernel's trips. On Mesa 22.3's lavapipe the kernels first
//! came out wrong past these bounds: the forward kernels between 65,600
//! and 70,000 inputs, the gradient kernels between groups of 65,400 and
//! 65,600 rows, and the fused kernel of 256 hidden units between 45,000
//! and 60,000 (its bound here takes 8,512).

use crate::error::{Error, Result};
use crate::gpu::buffers::{self, Staging};
use crate::gpu::context::Context;
use crate::gpu::plan::KernelFamily;
use crate::model::Layout;

/// Trips the probe asks for: far past any limit seen, and quick to run.
const ASKED: u32 = 1 << 20;

/// Trips each bound leaves to the fixed-length loops beside its own.
pub const SPARE: u64 = 512;

/// Invocations of the output kernel's workgroup, each taking every 64th
/// row of its group (shaders/output.wgsl's LINEAR).
const OUTPUT_INVOCATIONS: u64 = 64;

/// Units the output kernel's dot product adds per trip.
const OUTPUT_STEP: u64 = 16;

/// The trips one invocation's loops may make on `ctx`'s device in all,
/// where its driver ends them early; `None` where the probe's loop ran
/// every trip it asked for ([`Context::loop_limit`] runs it once, on
/// software adapters).
pub fn probe(ctx: &Context) -> Result<Option<u64>> {
    let label = "trips.wgsl";
    let module = ctx.scoped(label, || {
        ctx.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/trips.wgsl").into()),
            })
    })?;
    let pipeline = ctx.scoped("count_trips", || {
        ctx.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("count_trips"),
                layout: None,
                module: &module,
                entry_point: Some("count_trips"),
                compilation_options: Default::default(),
                cache: None,
            })
    })?;
    // The counts travel as f32 bits: the staging path reads f32s, and
    // nothing does arithmetic on them.
    let counts = buffers::storage_with(ctx, "trip counts", &[f32::from_bits(ASKED), 0.0])?;
    let bind = ctx.scoped("trip counts", || {
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("trip counts"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: counts.as_entire_binding(),
            }],
        })
    })?;
    let staging = Staging::new(ctx, "trip counts readback", 2)?;
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("count_trips"),
        });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("count_trips"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
    staging.copy_from(&mut encoder, &counts, 2);
    let trips = staging.finish(ctx, encoder, 2)?[1].to_bits();
    Ok((trips < ASKED).then_some(u64::from(trips)))
}

/// The words that name the limit in errors: "lavapipe (Mesa 22.3.6) ends
/// a shader invocation's loops after 65,534 trips".
pub(crate) fn ends_loops(driver: &str, limit: u64) -> String {
    format!(
        "{driver} ends a shader invocation's loops after {limit} trips in all, without an error"
    )
}

/// Refuses a network with a layer too wide for a kernel to loop over its
/// units within `limit` trips. The forward kernels loop over a layer's
/// inputs and the backward ones over its outputs, one trip a unit, so
/// the inputs count, and so does every hidden layer of a network of two
/// or more; a lone hidden layer feeds only the output kernel, which takes
/// 16 units a trip ([`most_group_rows`] bounds it).
pub fn check_widths(layout: &Layout, limit: u64, driver: &str) -> Result<()> {
    let hidden = layout.hidden();
    let looped = match hidden.len() {
        1 => &[][..],
        _ => hidden,
    };
    let widest = looped.iter().fold(layout.features(), |a, &b| a.max(b));
    let most = limit.saturating_sub(SPARE);
    if widest as u64 <= most {
        return Ok(());
    }
    let what = match widest == layout.features() {
        true => format!("{widest} inputs"),
        false => format!("a hidden layer of {widest} units"),
    };
    Err(Error::Config(format!(
        "{}; the kernels loop over the inputs, and over the hidden layers' units where there are \
         two or more, one trip a unit, so at most {most} of each run right on it, not {what}: \
         train it with --backend cpu, or on a GPU or a newer Mesa (26.1's lavapipe has no such \
         limit)",
        ends_loops(driver, limit)
    )))
}

/// The most rows a row group may have on a device whose loops end after
/// `limit` trips, for `family`'s kernels over `layout`; a multiple of 64,
/// at least 64.
pub fn most_group_rows(layout: &Layout, family: KernelFamily, limit: u64) -> usize {
    let budget = limit.saturating_sub(SPARE);
    // The output layer's inputs: the last hidden layer's units.
    let sizes = layout.sizes();
    let last = sizes[sizes.len() - 2] as u64;
    // Trips of one invocation for a group of `g` rows, at the most.
    let trips = |g: u64| {
        // The gradient kernels: one trip a row.
        let gradient = g;
        // output_residual: ⌈g/64⌉ rows an invocation, each a trip, ⌊w/16⌋
        // trips of 16 units and up to 15 of one.
        let output = g.div_ceil(OUTPUT_INVOCATIONS) * (last / OUTPUT_STEP + OUTPUT_STEP + 1);
        let fused = match family {
            KernelFamily::Fused(shape) => fused_trips(shape, g),
            _ => 0,
        };
        gradient.max(output).max(fused)
    };
    // The largest multiple of 64 whose trips fit (they grow with the
    // rows), or 64.
    let (mut fits, mut breaks) = (1, budget / 64 + 1);
    while breaks - fits > 1 {
        let mid = (fits + breaks) / 2;
        match trips(64 * mid) <= budget {
            true => fits = mid,
            false => breaks = mid,
        }
    }
    64 * fits as usize
}

/// Trips of one invocation of the fused kernel over a group of `g` rows
/// (shaders/fused.wgsl): per tile, its two passes over the lane's rows,
/// its segment of a row's ŷ and the row's segments, and a trip of each
/// loop's end.
fn fused_trips(shape: crate::gpu::kernels::FusedShape, g: u64) -> u64 {
    let workgroup = u64::from(crate::gpu::kernels::FUSED_WORKGROUP);
    let (hb, tile) = (u64::from(shape.hb), u64::from(shape.tile));
    let lanes = workgroup / hb;
    let lane_rows = (tile / lanes).max(1);
    let segs = workgroup / tile;
    let per_tile = 2 * (lane_rows + 1) + hb.div_ceil(segs) + 1 + segs + 1 + 1;
    g.div_ceil(tile) * per_tile
}

/// Whether the output layer's subgroup kernel stays within `limit` trips
/// for groups of `group_rows` rows of `inputs` units: at worst one
/// subgroup of one lane takes every row, a trip per unit and one per row
/// (shaders/output_subgroup.wgsl). Always where there is no limit.
pub fn subgroup_output_fits(limit: Option<u64>, group_rows: usize, inputs: usize) -> bool {
    limit.is_none_or(|limit| {
        (group_rows as u64) * (inputs as u64 + 2) <= limit.saturating_sub(SPARE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_every_kernel_within_the_limit() {
        let limit = 65_534;
        for (features, hidden) in [
            (4, &[5000, 5000][..]),
            (16, &[64]),
            (3, &[60_000]),
            (2, &[1]),
        ] {
            let layout = Layout::new(features, hidden).unwrap();
            let rows = most_group_rows(&layout, KernelFamily::Layered, limit) as u64;
            assert_eq!(rows % 64, 0);
            let w = *hidden.last().unwrap() as u64;
            let output = rows.div_ceil(64) * (w / 16 + 17);
            assert!(rows + SPARE <= limit, "{hidden:?}: {rows}");
            assert!(
                output + SPARE <= limit,
                "{hidden:?}: {rows} rows, {output} trips"
            );
            // Not far below the bound: another 64 rows would break it.
            let more = rows + 64;
            assert!(
                more + SPARE > limit || more.div_ceil(64) * (w / 16 + 17) + SPARE > limit,
                "{hidden:?}: {rows} rows leaves room"
            );
        }
    }

    /// The fused kernel of 256 hidden units (tiles of 8 rows) came out
    /// right on Mesa 22.3's lavapipe for groups of 45,000 rows and wrong
    /// for 60,000; its bound stays well below.
    #[test]
    fn fused_groups_stay_below_where_lavapipe_cut_them() {
        let layout = Layout::new(4, &[256]).unwrap();
        let shape = crate::gpu::kernels::FusedShape::new(4, 256).unwrap();
        assert_eq!(shape.tile, 8);
        let rows = most_group_rows(&layout, KernelFamily::Fused(shape), 65_535);
        assert_eq!(rows, 8_512);
        assert!(fused_trips(shape, rows as u64) + SPARE <= 65_535);
    }

    #[test]
    fn the_subgroup_output_kernel_runs_where_one_subgroup_could_take_every_row() {
        assert!(subgroup_output_fits(None, 1 << 20, 256));
        assert!(subgroup_output_fits(Some(65_535), 64, 12));
        assert!(subgroup_output_fits(Some(65_535), 256, 200));
        assert!(!subgroup_output_fits(Some(65_535), 384, 200));
        assert!(!subgroup_output_fits(Some(65_535), 4096, 200));
    }
}
