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
//! - the kernels that sum over a layer's units loop once per unit (the
//!   output layer's dot products 16 units a trip), so the inputs and the
//!   hidden layers they loop over must stay under the limit:
//!   [`check_widths`];
//! - the gradient kernels loop once per row of their row group, the
//!   output kernel ⌈w/16⌉ + 2 times per 64 rows of a last layer of w
//!   units, the fused kernel a few times per tile of rows, so row groups
//!   are cut short enough: [`most_group_rows`];
//! - the output layer's subgroup kernel may give one subgroup a whole
//!   group's rows, so it runs only where that fits:
//!   [`subgroup_output_fits`];
//! - under `--precision mixed` without cooperative matrices, each
//!   invocation of the first layer's products sums 32 outputs, each over
//!   the padded inputs or the group's rows: both bounds take them in.
//!
//! The counts take each pass through a loop's end as a trip, the last one
//! too, as the driver does, and each bound leaves [`SPARE`] trips for the
//! loops of fixed length around them (trees over a workgroup, stores of a
//! register block; the driver's compiler unrolls most loops whose trip
//! count is a constant, but not all need be). The wide family's output
//! kernel adds ⌈hidden/64⌉ shares a row, fewer than output_residual's
//! trips. `tests/shader_settings.rs` runs the forward and gradient
//! kernels at exactly these bounds on CI's lavapipe, with the whole sum
//! in the last trip, so a trip lost fails it.

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
const OUTPUT_INVOCATIONS: u64 = crate::gpu::kernels::LINEAR_WORKGROUP as u64;

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

/// A device whose driver ends an invocation's loops early, as the
/// planner needs it.
#[derive(Clone, Copy, Debug)]
pub struct Loops<'a> {
    /// The trips an invocation's loops may make in all
    /// ([`Context::loop_limit`]).
    pub limit: u64,
    /// The driver, as errors name it: "the driver llvmpipe Mesa 22.3.6
    /// (LLVM 15.0.6)".
    pub driver: &'a str,
    /// The wide products' step along their sums ([`Context::wide_step`]).
    pub wide_step: u32,
}

impl Loops<'_> {
    /// The trips a bound may spend: the limit less [`SPARE`].
    fn budget(&self) -> u64 {
        self.limit.saturating_sub(SPARE)
    }

    /// "the driver … ends a shader invocation's loops after 65535 trips
    /// in all, without an error".
    pub(crate) fn ends(&self) -> String {
        format!(
            "{} ends a shader invocation's loops after {} trips in all, without an error",
            self.driver, self.limit
        )
    }

    /// Trips of one invocation of the wide products over sums of `k`
    /// terms: ⌈k/step⌉ steps, each a trip of its own and `step` + 1 of the
    /// inner multiply (measured on Mesa 22.3's lavapipe: wrong results
    /// began past 52,429 inputs at a step of 8, 58,000 at 16).
    fn wide_trips(&self, k: u64) -> u64 {
        let step = u64::from(self.wide_step);
        k.div_ceil(step) * (step + 2) + 1
    }
}

/// What a refusal under the limit suggests.
pub(crate) const INSTEAD: &str =
    "train it with --backend cpu, or on a GPU or a newer Mesa (26.1's lavapipe has no such limit)";

/// Outputs each invocation of the mixed products without cooperative
/// matrices (shaders/mixed_scalar.wgsl) takes: a tile's outputs over the
/// workgroup's invocations (64 × 64 over 128), each output a loop over
/// the padded inputs or the group's rows.
const MIXED_SCALAR_OUTPUTS: u64 =
    (crate::gpu::mixed::TILE * crate::gpu::mixed::TILE / crate::gpu::mixed::MIXED_WORKGROUP) as u64;

/// Trips of one invocation of the mixed scalar products for sums of `k`
/// terms: each output's loop and its end, the outputs' loop and its end.
fn mixed_scalar_trips(k: u64) -> u64 {
    MIXED_SCALAR_OUTPUTS * (k + 2) + 1
}

/// The largest `k`, up to `most`, with `trips(k)` within `budget`
/// (`trips` grows with `k`); 0 where none is.
fn largest_within(most: u64, budget: u64, trips: impl Fn(u64) -> u64) -> u64 {
    let (mut fits, mut breaks) = (0, most + 1);
    while breaks - fits > 1 {
        let mid = fits + (breaks - fits) / 2;
        match trips(mid) <= budget {
            true => fits = mid,
            false => breaks = mid,
        }
    }
    fits
}

/// Refuses a network too wide for `family`'s kernels (and the mixed
/// products, where `mixed`) to loop over its units within the limit,
/// counting each pass through a loop's end, the last one too.
///
/// The inputs: the layered forward kernel loops over them a trip each,
/// the wide one step + 2 trips per step of them (`Loops::wide_trips`), the
/// mixed products without cooperative matrices 32 times over them padded
/// to 64; the device's synthetic rows and the mini-batches' gather loop
/// over them a trip each whatever the family, so no family takes more.
/// The hidden layers of a network of two or more: the backward kernels
/// loop over each later layer's units and the layered forward over each
/// earlier layer's, a trip each. A lone hidden layer feeds only the
/// output kernel, 16 units a trip ([`most_group_rows`] bounds it), and
/// the wide kernels, which loop over it by tiles of 64.
pub fn check_widths(
    layout: &Layout,
    family: KernelFamily,
    mixed: bool,
    loops: &Loops<'_>,
) -> Result<()> {
    let budget = loops.budget();
    let most = budget.saturating_sub(1);
    let features = layout.features() as u64;
    let mut most_inputs = most;
    if family == KernelFamily::Wide {
        most_inputs = largest_within(most_inputs, budget, |k| loops.wide_trips(k));
    }
    if mixed {
        // A multiple of 64, since the sums run over the padded inputs.
        let padded = largest_within(most_inputs, budget, mixed_scalar_trips);
        most_inputs = padded / 64 * 64;
    }
    if features > most_inputs {
        return Err(Error::Config(format!(
            "{}; the kernels loop over the inputs ({}), so it runs at most {most_inputs} inputs \
             correctly, not {features}: {INSTEAD}",
            loops.ends(),
            match (family == KernelFamily::Wide, mixed) {
                (_, true) => "--precision mixed's products 32 times over them".to_string(),
                (true, false) => format!(
                    "the wide products {} trips per {} inputs",
                    loops.wide_step + 2,
                    loops.wide_step
                ),
                (false, false) => "a trip an input".to_string(),
            }
        )));
    }
    let hidden = layout.hidden();
    let widest = match hidden.len() {
        1 => 0,
        _ => hidden.iter().copied().max().unwrap_or(0) as u64,
    };
    if widest > most {
        return Err(Error::Config(format!(
            "{}; in a network of two or more hidden layers the kernels loop over the layers' \
             units, a trip each, so it runs at most {most} units a layer correctly, not \
             {widest}: {INSTEAD}",
            loops.ends()
        )));
    }
    Ok(())
}

/// The most rows a row group may have within the limit, for `family`'s
/// kernels over `layout` (and the mixed scalar products where `mixed`): a
/// multiple of 64, or an error where even 64 rows take too many trips.
pub fn most_group_rows(
    layout: &Layout,
    family: KernelFamily,
    mixed: bool,
    loops: &Loops<'_>,
) -> Result<usize> {
    let budget = loops.budget();
    // The output layer's inputs: the last hidden layer's units.
    let sizes = layout.sizes();
    let last = sizes[sizes.len() - 2] as u64;
    // Trips of one invocation for a group of `g` rows, at the most,
    // counting each pass through a loop's end.
    let trips = |g: u64| {
        // The gradient kernels: a trip a row, and the end.
        let gradient = g + 1;
        // output_residual: ⌈g/64⌉ rows an invocation, each a trip of the
        // rows' loop, ⌊w/16⌋ trips of 16 units and the end, and up to 15
        // of one and the end; and the rows' loop's end.
        let rows = g.div_ceil(OUTPUT_INVOCATIONS);
        let output = rows * (last / OUTPUT_STEP + OUTPUT_STEP + 2) + 1;
        let family = match family {
            KernelFamily::Fused(shape) => fused_trips(shape, g),
            // The wide weight gradient sums over the group's rows.
            KernelFamily::Wide => loops.wide_trips(g),
            KernelFamily::Tiled | KernelFamily::Layered => 0,
        };
        let mixed = match mixed {
            true => mixed_scalar_trips(g),
            false => 0,
        };
        gradient.max(output).max(family).max(mixed)
    };
    if trips(64) > budget {
        return Err(Error::Config(format!(
            "{}; the output kernel's sums over a last hidden layer of {last} units take more than \
             that for a row group of 64 rows: {INSTEAD}",
            loops.ends()
        )));
    }
    // The largest multiple of 64 whose trips fit.
    let groups_of_64 = largest_within(budget / 64, budget, |k| trips(64 * k));
    Ok(64 * groups_of_64 as usize)
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
/// subgroup of one lane takes every row, a trip per unit, the end of the
/// units' loop and a trip of the rows' loop per row, and the rows' loop's
/// end (shaders/output_subgroup.wgsl). Lavapipe runs 16 subgroups of 4
/// lanes, so there it falls back to output_residual well before its own
/// limit. Always where there is no limit.
pub fn subgroup_output_fits(limit: Option<u64>, group_rows: usize, inputs: usize) -> bool {
    limit.is_none_or(|limit| {
        let trips = (group_rows as u64) * (inputs as u64 + 2) + 1;
        trips <= limit.saturating_sub(SPARE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's lavapipe, at the default wide step.
    const LAVAPIPE: Loops<'static> = Loops {
        limit: 65_535,
        driver: "the driver d",
        wide_step: 8,
    };

    /// Invocation 0's loop trips in output_residual over a group of `g`
    /// rows of `w` units, counted by walking its loops (each pass through
    /// a loop's end counts, the last one too).
    fn output_walk(g: u64, w: u64) -> u64 {
        let mut trips = 0;
        let mut n = 0;
        while n < g {
            trips += 1;
            let mut i = 0;
            while i + 16 <= w {
                trips += 1;
                i += 16;
            }
            trips += 1;
            while i < w {
                trips += 1;
                i += 1;
            }
            trips += 1;
            n += 64;
        }
        trips + 1
    }

    #[test]
    fn groups_keep_every_kernel_within_the_limit() {
        let limit = 65_535;
        let budget = limit - SPARE;
        for (features, hidden) in [
            (4, &[5000, 5000][..]),
            (16, &[64]),
            (3, &[60_000]),
            (2, &[1]),
            (2, &[767]),
            (2, &[1_000_000]),
        ] {
            let layout = Layout::new(features, hidden).unwrap();
            let rows = most_group_rows(&layout, KernelFamily::Layered, false, &LAVAPIPE);
            let rows = rows.unwrap() as u64;
            assert_eq!(rows % 64, 0);
            let w = *hidden.last().unwrap() as u64;
            // The bound takes a tail of 15 units whatever the width's.
            let worst = w / 16 * 16 + 15;
            assert!(rows < budget, "{hidden:?}: {rows}");
            for width in [w, worst] {
                let output = output_walk(rows, width);
                assert!(output <= budget, "{hidden:?}: {rows} rows, {output} trips");
            }
            // Tight: another 64 rows would break one of them.
            let more = rows + 64;
            assert!(
                more + 1 > budget || output_walk(more, worst) > budget,
                "{hidden:?}: {rows} rows leaves room"
            );
        }
        // Mixed scalar products: 32 sums over the group's rows an
        // invocation.
        let layout = Layout::new(4, &[8]).unwrap();
        let rows = most_group_rows(&layout, KernelFamily::Layered, true, &LAVAPIPE).unwrap();
        assert_eq!(rows, 1_984);
        assert!(mixed_scalar_trips(1_984) <= budget && mixed_scalar_trips(2_048) > budget);
        // A last layer so wide that 64 rows are too many.
        let huge = Layout::new(1, &[20_000_000]).unwrap();
        let err = most_group_rows(&huge, KernelFamily::Layered, false, &LAVAPIPE);
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("a last hidden layer of 20000000 units"),
            "{err}"
        );
    }

    #[test]
    fn widths_past_the_limit_are_refused_with_what_fits() {
        let ok = |f, h: &[usize], mixed| {
            let layout = Layout::new(f, h).unwrap();
            check_widths(&layout, KernelFamily::Layered, mixed, &LAVAPIPE)
        };
        ok(65_022, &[2], false).unwrap();
        let err = ok(65_023, &[2], false).unwrap_err().to_string();
        assert!(
            err.contains("at most 65022 inputs correctly, not 65023"),
            "{err}"
        );
        ok(4, &[70_000], false).unwrap();
        ok(4, &[65_022, 3], false).unwrap();
        let err = ok(4, &[3, 65_023], false).unwrap_err().to_string();
        assert!(
            err.contains("at most 65022 units a layer correctly, not 65023"),
            "{err}"
        );
        ok(1_984, &[2], true).unwrap();
        let err = ok(1_985, &[2], true).unwrap_err().to_string();
        assert!(err.contains("--precision mixed"), "{err}");
        assert!(
            err.contains("at most 1984 inputs correctly, not 1985"),
            "{err}"
        );
    }

    /// The fused kernel of 256 hidden units (tiles of 8 rows) came out
    /// right on Mesa 22.3's lavapipe for groups of 45,000 rows and wrong
    /// for 60,000; its bound stays well below.
    #[test]
    fn fused_groups_stay_below_where_lavapipe_cut_them() {
        let layout = Layout::new(4, &[256]).unwrap();
        let shape = crate::gpu::kernels::FusedShape::new(4, 256).unwrap();
        assert_eq!(shape.tile, 8);
        let rows = most_group_rows(&layout, KernelFamily::Fused(shape), false, &LAVAPIPE);
        let rows = rows.unwrap();
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
