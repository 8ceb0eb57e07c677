//! Every shader parses and validates with naga, and agrees with the Rust
//! side on constants, workgroup sizes and bindings. No adapter needed.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use shadertrain::gpu::kernels::{
    Family, FusedShape, Kernel, BLOCK_COLS, BLOCK_ROWS, FUSED_MAX_INPUTS, FUSED_MAX_TILE,
    FUSED_PROD_CAP, FUSED_WORKGROUP, FUSED_X_CAP, LINEAR_WORKGROUP, REDUCE_FAN, TILED_K, TILED_M,
    TILED_N, TILED_WORKGROUP,
};

fn module(family: Family) -> (naga::Module, naga::valid::ModuleInfo) {
    let (name, source) = family.source();
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate: {e:?}"));
    (module, info)
}

fn u32_constant(module: &naga::Module, name: &str) -> u32 {
    let (_, c) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no constant {name}"));
    match module.global_expressions[c.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        ref other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn every_shader_parses_and_validates() {
    for f in Family::ALL {
        module(f);
    }
}

#[test]
fn constants_match_the_rust_side() {
    for f in Family::ALL {
        let (m, _) = module(f);
        let (name, _) = f.source();
        assert_eq!(u32_constant(&m, "ROWS"), BLOCK_ROWS, "{name}");
        assert_eq!(u32_constant(&m, "COLS"), BLOCK_COLS, "{name}");
        assert_eq!(u32_constant(&m, "LINEAR"), LINEAR_WORKGROUP, "{name}");
        assert_eq!(u32_constant(&m, "TM"), TILED_M, "{name}");
        assert_eq!(u32_constant(&m, "TN"), TILED_N, "{name}");
        assert_eq!(u32_constant(&m, "TK"), TILED_K, "{name}");
        assert_eq!(u32_constant(&m, "TILED"), TILED_WORKGROUP, "{name}");
        // Each staged step: TK rows of 16 vec4s, one per invocation.
        assert_eq!(u32_constant(&m, "TILE_VEC4S"), TILED_K * TILED_N / 4);
        assert_eq!(TILED_M, 4 * 16);
        assert_eq!(TILED_WORKGROUP, 16 * 16);
    }
    let (update, _) = module(Kernel::Reduce.family());
    assert_eq!(u32_constant(&update, "FAN"), REDUCE_FAN);
    let common = shadertrain::gpu::kernels::common_source();
    assert!(common.contains(&format!(
        "TANH_CLAMP: f32 = {:.1}",
        shadertrain::model::TANH_CLAMP
    )));
}

#[test]
fn fused_constants_match_and_fit_the_default_workgroup_memory() {
    let (m, _) = module(Kernel::FusedSigmoid.family());
    assert_eq!(u32_constant(&m, "FUSED"), FUSED_WORKGROUP);
    assert_eq!(4 * u32_constant(&m, "MAX_F4"), FUSED_MAX_INPUTS);
    assert_eq!(u32_constant(&m, "X_CAP"), FUSED_X_CAP);
    assert_eq!(u32_constant(&m, "PROD_CAP"), FUSED_PROD_CAP);
    assert_eq!(u32_constant(&m, "MAX_TILE"), FUSED_MAX_TILE);
    // x tile (vec4), activations, r and y per row, w2 and (Σe², Σr) per
    // invocation: within WebGPU's default 16 KiB of workgroup memory.
    let bytes = 16 * FUSED_X_CAP + 4 * FUSED_PROD_CAP + 8 * FUSED_MAX_TILE + 12 * FUSED_WORKGROUP;
    // Each invocation stages at most one vec4 of an x tile.
    assert_eq!(FUSED_X_CAP, FUSED_WORKGROUP);
    assert!(bytes <= 16 << 10, "{bytes} bytes of workgroup memory");
    // Every shape the kernel takes has a tile within the arrays.
    for f in 1..=FUSED_MAX_INPUTS as usize {
        for h in 1..=FUSED_WORKGROUP as usize {
            let s = FusedShape::new(f, h).unwrap();
            assert!(s.tile.is_power_of_two() && s.tile <= FUSED_MAX_TILE);
            assert!(
                s.tile * s.hb <= FUSED_PROD_CAP && s.tile * f.div_ceil(4) as u32 <= FUSED_X_CAP
            );
            assert!(s.hb >= h as u32 && s.hb.is_power_of_two());
        }
    }
    assert!(FusedShape::new(FUSED_MAX_INPUTS as usize + 1, 8).is_none());
    assert!(FusedShape::new(8, FUSED_WORKGROUP as usize + 1).is_none());
}

#[test]
fn entry_points_match_kernel_table() {
    for k in Kernel::ALL {
        let (m, info) = module(k.family());
        let (index, ep) = m
            .entry_points
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == k.entry_point())
            .unwrap_or_else(|| panic!("{k:?}: no entry point {}", k.entry_point()));
        let size: u32 = ep.workgroup_size.iter().product();
        assert_eq!(size, k.workgroup_size(), "{k:?} workgroup size");
        let fi = info.get_entry_point(index);
        let mut used: Vec<u32> = m
            .global_variables
            .iter()
            .filter(|(h, _)| !fi[*h].is_empty())
            .filter_map(|(_, g)| g.binding.as_ref().map(|b| b.binding))
            .collect();
        used.sort();
        assert_eq!(used, k.bindings(), "{k:?} bindings");
    }
}
