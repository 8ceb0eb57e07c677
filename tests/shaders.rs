//! Every shader parses and validates with naga, and agrees with the Rust
//! side on constants, workgroup sizes and bindings. No adapter needed.

mod common;

use naga::valid::{Capabilities, ValidationFlags, Validator};
use shadertrain::gpu::kernels;
use shadertrain::gpu::kernels::{
    Family, FusedShape, Kernel, BLOCK_COLS, BLOCK_ROWS, FUSED_MAX_INPUTS, FUSED_MAX_TILE,
    FUSED_PROD_CAP, FUSED_WORKGROUP, FUSED_X_CAP, LINEAR_WORKGROUP, REDUCE_FAN, TILED_K, TILED_M,
    TILED_N, TILED_WORKGROUP, WIDE_K, WIDE_M, WIDE_N, WIDE_STEPS, WIDE_WORKGROUP_BYTES,
};
use shadertrain::gpu::mixed::{self, Blocks, CoopBlocks, Products};

fn module(family: Family) -> (naga::Module, naga::valid::ModuleInfo) {
    if family == Family::Mixed {
        let blocks = CoopBlocks::DEFAULT;
        return mixed_module(Products::Coop { size: 16, blocks }, blocks.forward);
    }
    let (name, source) = family.source();
    parsed(family, name, source)
}

/// `source` (of `family`, from file `name`) parsed and validated.
fn parsed(family: Family, name: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    let caps = if family.needs_subgroups() {
        Capabilities::SUBGROUP
    } else {
        Capabilities::empty()
    };
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate: {e:?}"));
    (module, info)
}

/// The mixed kernels for `products`, validated with the capabilities a
/// mixed device opens with.
fn mixed_module(products: Products, blocks: Blocks) -> (naga::Module, naga::valid::ModuleInfo) {
    let caps =
        Capabilities::COOPERATIVE_MATRIX | Capabilities::SHADER_FLOAT16 | Capabilities::SUBGROUP;
    let source = mixed::source(products, blocks).unwrap();
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("mixed {products:?}: {}", e.emit_to_string(&source)));
    let info = Validator::new(ValidationFlags::all(), caps)
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("mixed {products:?} does not validate: {e:?}"));
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
    let span = u32_constant(&update, "CLIP_SPAN") as usize;
    assert_eq!(span, shadertrain::gpu::kernels::CLIP_SPAN);
    assert_eq!(span, 16 * LINEAR_WORKGROUP as usize);
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

/// wide.wgsl at a step of `step` along the sum, as a device with
/// SHADERTRAIN_WIDE_STEP builds it.
fn wide_module(step: u32) -> (naga::Module, naga::valid::ModuleInfo) {
    let source = kernels::wide_source(step).unwrap();
    parsed(Family::Wide, &format!("wide.wgsl (step {step})"), &source)
}

#[test]
fn wide_constants_match_and_fit_the_default_workgroup_memory() {
    for step in WIDE_STEPS {
        let (m, info) = wide_module(step);
        assert_eq!(u32_constant(&m, "WM"), WIDE_M);
        assert_eq!(u32_constant(&m, "WN"), WIDE_N);
        assert_eq!(u32_constant(&m, "WK"), step);
        // Each stage: WK rows of WM/4 (= WN/4) vec4s, staged in parts of 8
        // rows, one vec4 per invocation each; 8 × 8 outputs per invocation
        // of the 256.
        assert_eq!(u32_constant(&m, "WIDE_STAGE"), step * WIDE_M / 4);
        assert_eq!(u32_constant(&m, "PARTS"), step / 8);
        assert_eq!(u32_constant(&m, "PART"), TILED_WORKGROUP);
        assert_eq!(
            (WIDE_M, WIDE_N, 8 * WIDE_M / 4),
            (128, 128, TILED_WORKGROUP)
        );
        // The workgroup memory each wide product uses, as naga lays it
        // out: wide_workgroup_bytes, at the default step within WebGPU's
        // default 16 KiB (what Context::open asks for unless the step is
        // 16).
        for k in [Kernel::ForwardWideSigmoid, Kernel::WeightGradWideTanh] {
            let index = m
                .entry_points
                .iter()
                .position(|e| e.name == k.entry_point())
                .expect("entry point");
            let fi = info.get_entry_point(index);
            let bytes: u32 = m
                .global_variables
                .iter()
                .filter(|(h, g)| g.space == naga::AddressSpace::WorkGroup && !fi[*h].is_empty())
                .map(|(_, g)| m.types[g.ty].inner.size(m.to_ctx()))
                .sum();
            assert_eq!(bytes, kernels::wide_workgroup_bytes(step), "{k:?} {step}");
        }
    }
    assert_eq!(WIDE_STEPS[0], WIDE_K);
    assert_eq!(kernels::wide_workgroup_bytes(WIDE_K), WIDE_WORKGROUP_BYTES);
    const { assert!(WIDE_WORKGROUP_BYTES <= 16 << 10) };
    // The default step's source is the file as it is.
    assert_eq!(
        kernels::wide_source(WIDE_K).unwrap(),
        Family::Wide.source().1
    );
    for bad in [0, 4, 12, 32] {
        assert!(kernels::wide_source(bad).is_err(), "{bad}");
    }
}

#[test]
fn wide_step_comes_from_the_variable() {
    for (value, want) in [(None, 8), (Some(""), 8), (Some("8"), 8), (Some(" 16 "), 16)] {
        assert_eq!(kernels::parse_wide_step(value).unwrap(), want, "{value:?}");
    }
    for bad in ["4", "32", "sixteen", "16,8", "-8"] {
        let err = kernels::parse_wide_step(Some(bad)).unwrap_err().to_string();
        assert!(
            err.contains(&format!("SHADERTRAIN_WIDE_STEP={bad}"))
                && err.contains("8 (the default) or 16"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn entry_points_match_kernel_table() {
    for k in Kernel::ALL {
        let (m, info) = module(k.family());
        // The cooperative kernels' workgroup size is an override (COOP),
        // whose default is Kernel::workgroup_size.
        let (m, info) =
            naga::back::pipeline_constants::process_overrides(&m, &info, None, &Default::default())
                .unwrap();
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

// Member-by-member and name-by-name agreement: the uniform block, the fused
// pipeline's override constants and the random streams.

use shadertrain::gpu::kernels::Params;
use shadertrain::rng::Stream;

/// The module of the WGSL file `file`, by name.
fn module_named(file: &str) -> naga::Module {
    let family = Family::ALL
        .into_iter()
        .find(|f| f.source().0 == file)
        .unwrap_or_else(|| panic!("no source {file}"));
    module(family).0
}

#[test]
fn random_streams_match_the_rust_side() {
    let synth = module_named("synth.wgsl");
    // Each WGSL constant that names a stream, with its Rust twin.
    let twins = [("STREAM", Stream::Features)];
    for (name, stream) in twins {
        assert_eq!(
            u32_constant(&synth, name),
            stream.id(),
            "{name}, {stream:?}"
        );
    }
    let mut in_wgsl: Vec<&str> = synth
        .constants
        .iter()
        .filter_map(|(_, c)| c.name.as_deref())
        .filter(|name| name.contains("STREAM"))
        .collect();
    in_wgsl.sort_unstable();
    assert_eq!(in_wgsl, twins.map(|(name, _)| name), "stream constants");
}

/// (name, offset, is f32) of each listed field of [`Params`], in the order
/// given. The destructuring fails to compile when a field is left out, and
/// the `let` when a field's type is not the one listed.
macro_rules! rust_fields {
    ($($field:ident: $ty:ty),* $(,)?) => {{
        let p = Params::default();
        let Params { $($field: _),* } = p;
        vec![$({
            let _: $ty = p.$field;
            (
                stringify!($field),
                std::mem::offset_of!(Params, $field),
                std::any::TypeId::of::<$ty>() == std::any::TypeId::of::<f32>(),
            )
        }),*]
    }};
}

#[test]
fn params_matches_the_wgsl_struct_member_by_member() {
    let rust = rust_fields!(
        rows: u32,
        inputs: u32,
        outputs: u32,
        w_off: u32,
        b_off: u32,
        group_rows: u32,
        group_base: u32,
        stride: u32,
        len: u32,
        count: u32,
        dst_off: u32,
        scheduled: u32,
        scale: f32,
        lr: f32,
        momentum: f32,
        beta2: f32,
        seed_lo: u32,
        seed_hi: u32,
        first_lo: u32,
        first_hi: u32,
        eps: f32,
        one_minus_beta1: f32,
        one_minus_beta2: f32,
        weight_decay: f32,
        max_grad_norm: f32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    );
    for (file, _) in Family::ALL.map(Family::source) {
        let m = module_named(file);
        let (_, ty) = m
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Params"))
            .unwrap_or_else(|| panic!("{file}: no struct Params"));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{file}: Params is {:?}", ty.inner);
        };
        let wgsl: Vec<(&str, usize, bool)> = members
            .iter()
            .map(|member| {
                let name = member.name.as_deref().expect("a named member");
                let naga::TypeInner::Scalar(scalar) = m.types[member.ty].inner else {
                    panic!("{file}: Params.{name} is not a scalar");
                };
                assert_eq!(scalar.width, 4, "{file}: Params.{name}");
                let float = match scalar.kind {
                    naga::ScalarKind::Float => true,
                    naga::ScalarKind::Uint => false,
                    other => panic!("{file}: Params.{name} is {other:?}"),
                };
                (name, member.offset as usize, float)
            })
            .collect();
        assert_eq!(wgsl, rust, "{file}: Params members (name, offset, is f32)");
        assert_eq!(*span as usize, std::mem::size_of::<Params>(), "{file}");
    }
}

/// The override names `FusedShape::constants` gives the fused pipeline,
/// read from its source: the function is private to the pipeline builder.
fn fused_constant_names() -> Vec<&'static str> {
    let source = include_str!("../src/gpu/kernels.rs");
    let start = source
        .find("fn constants(&self)")
        .expect("FusedShape::constants in src/gpu/kernels.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n    }\n").expect("the end of constants")];
    body.split("(\"")
        .skip(1)
        .map(|s| &s[..s.find('"').expect("a closing quote")])
        .collect()
}

#[test]
fn fused_pipeline_constants_are_overrides_of_fused_wgsl() {
    let fused = module_named("fused.wgsl");
    let mut overrides: Vec<&str> = fused
        .overrides
        .iter()
        .map(|(_, o)| o.name.as_deref().expect("a named override"))
        .collect();
    let mut set = fused_constant_names();
    assert!(!set.is_empty(), "no constants found");
    for name in &set {
        assert!(
            overrides.contains(name),
            "the fused pipeline sets {name}, which fused.wgsl does not declare as an override"
        );
    }
    // And every override is set, so none keeps its default by mistake.
    overrides.sort_unstable();
    set.sort_unstable();
    assert_eq!(overrides, set, "fused.wgsl's overrides");
}

/// A `spirv-val` that knows SPV_KHR_cooperative_matrix (SPIRV-Tools 2023.3
/// or later; Debian 12's 2023.1 refuses the capability as unknown):
/// `SHADERTRAIN_SPIRV_VAL`, else the one `.ci/coop-lavapipe` installs
/// (SPIRV-Tools 2025.1, in $SHADERTRAIN_COOP_LAVAPIPE or
/// target/coop-lavapipe). `None` after a message where there is neither,
/// except under CI=true (where .ci/run installs it), which fails.
fn spirv_val() -> Option<std::ffi::OsString> {
    if let Some(tool) = std::env::var_os("SHADERTRAIN_SPIRV_VAL").filter(|v| !v.is_empty()) {
        return Some(tool);
    }
    let tool = common::coop_lavapipe().join("spirv-val");
    if tool.is_file() {
        return Some(tool.into());
    }
    let why = format!(
        "SHADERTRAIN_SPIRV_VAL is not set and {} does not exist (.ci/coop-lavapipe installs it)",
        tool.display()
    );
    assert!(!common::in_ci(), "CI=true: {why}");
    common::say_skipped(format_args!("SKIPPED (spirv-val): {why}"));
    None
}

/// Every kernel of the f32 families compiles to SPIR-V that [`spirv_val`]
/// accepts under Vulkan 1.3's rules (the checks a driver's front end makes,
/// short of running it), both with the index clamping wgpu's Vulkan
/// backend asks naga for and without any (the unchecked modules). The
/// fused kernel is compiled with its overrides' defaults.
#[test]
fn every_kernel_compiles_to_spirv_that_spirv_val_accepts() {
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
    let Some(tool) = spirv_val() else {
        return;
    };
    let clamped = BoundsCheckPolicies {
        index: BoundsCheckPolicy::Restrict,
        buffer: BoundsCheckPolicy::Restrict,
        ..BoundsCheckPolicies::default()
    };
    let unchecked = BoundsCheckPolicies {
        index: BoundsCheckPolicy::Unchecked,
        buffer: BoundsCheckPolicy::Unchecked,
        ..BoundsCheckPolicies::default()
    };
    let mut checked = 0;
    // Every family, and wide.wgsl at its other steps.
    let forms = Family::ALL
        .iter()
        .map(|&f| (format!("{f:?}"), module(f)))
        .chain(
            WIDE_STEPS[1..]
                .iter()
                .map(|&s| (format!("Wide, step {s}"), wide_module(s))),
        );
    for (family, (module, info)) in forms {
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            None,
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{family}: {e}"));
        for entry in &module.entry_points {
            for policies in [clamped, unchecked] {
                let name = format!("{family} {} ({:?})", entry.name, policies.index);
                let options = naga::back::spv::Options {
                    lang_version: (1, 3),
                    bounds_check_policies: policies,
                    ..Default::default()
                };
                let pipeline = naga::back::spv::PipelineOptions {
                    shader_stage: naga::ShaderStage::Compute,
                    entry_point: entry.name.clone(),
                };
                let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline))
                    .unwrap_or_else(|e| panic!("{name} does not compile to SPIR-V: {e}"));
                spirv_validates(&tool, &name, &words);
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 2 * Family::ALL.len(),
        "only {checked} modules checked"
    );
}

/// The mixed kernels, in each of their forms (cooperative 8 × 8 and 16 ×
/// 16, with each subgroup's blocks of every shape that fits the tile;
/// scalar), validate with the capabilities `--precision mixed` opens the
/// device with, and compile to SPIR-V, which must also pass [`spirv_val`]
/// under Vulkan 1.3's rules. Debian 12's lavapipe does not run the
/// cooperative ones; tests/mixed.rs runs the 8 × 8 ones on Mesa 26.1's
/// lavapipe (`.ci/coop-lavapipe`), and both where an adapter offers them.
#[test]
fn mixed_kernels_validate_and_compile_to_spirv_for_each_size() {
    let spirv_val = spirv_val();
    let mut forms = vec![(16, Products::Scalar, CoopBlocks::DEFAULT.forward)];
    for size in [8, 16] {
        for blocks in Blocks::ALL {
            assert!(blocks.per_tile(size).is_some(), "{size} {blocks}");
            let products = Products::Coop {
                size,
                blocks: CoopBlocks::both(blocks),
            };
            forms.push((size, products, blocks));
        }
    }
    for (size, products, blocks) in forms {
        let (module, info) = mixed_module(products, blocks);
        let options = naga::back::spv::Options {
            lang_version: (1, 3),
            ..Default::default()
        };
        for (entry, act) in [
            ("to_half", 0.0),
            ("forward_coop", 1.0),
            ("weight_grad_coop", 0.0),
            ("forward_coop_shares", 1.0),
            ("delta_half", 1.0),
        ] {
            let name = format!("mixed {products:?} {entry}");
            assert!(
                module.entry_points.iter().any(|e| e.name == entry),
                "{name}: no such entry point"
            );
            // A cooperative workgroup for NVIDIA's subgroups of 32.
            let coop = match products {
                Products::Coop { size, .. } => mixed::coop_workgroup(size, blocks, 32),
                Products::Scalar => mixed::MIXED_WORKGROUP,
            };
            let constants = [
                ("COOP".to_string(), f64::from(coop)),
                ("ACT".to_string(), act),
            ]
            .into();
            let stage = Some((naga::ShaderStage::Compute, entry));
            let (module, info) = naga::back::pipeline_constants::process_overrides(
                &module, &info, stage, &constants,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            let pipeline = naga::back::spv::PipelineOptions {
                shader_stage: naga::ShaderStage::Compute,
                entry_point: entry.to_string(),
            };
            let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline))
                .unwrap_or_else(|e| panic!("{name} does not compile to SPIR-V: {e}"));
            assert!(words.len() > 100);
            if let Some(tool) = &spirv_val {
                spirv_validates(tool, &name, &words);
            }
        }
        assert_eq!(u32_constant(&module, "T"), mixed::TILE);
        assert_eq!(u32_constant(&module, "MIXED"), mixed::MIXED_WORKGROUP);
        assert_eq!(u32_constant(&module, "CS"), size);
        if let Products::Coop { .. } = products {
            assert_eq!(u32_constant(&module, "RB"), blocks.rows);
            assert_eq!(u32_constant(&module, "CB"), blocks.cols);
        }
    }
}

/// Runs `tool` (a spirv-val) on `words`, given on its standard input,
/// under Vulkan 1.3's rules; panics with its message unless it accepts
/// them.
fn spirv_validates(tool: &std::ffi::OsStr, name: &str, words: &[u32]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(tool)
        .args(["--target-env", "vulkan1.3", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.to_string_lossy()));
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    // Taken, so the pipe closes when it is written.
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name}: spirv-val refuses its SPIR-V:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
