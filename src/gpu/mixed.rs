//! `--precision mixed`: the first hidden layer's two products (the forward
//! X·W₁ᵀ and the weight gradient Δ₁ᵀ·X) on f16 operands with f32
//! accumulators, through wgpu's cooperative matrices
//! (`EXPERIMENTAL_COOPERATIVE_MATRIX`, Vulkan's `VK_KHR_cooperative_matrix`):
//! the tensor cores on NVIDIA GPUs. The master weights, every other
//! kernel, the reductions and the update stay f32.
//!
//! How the products run ([`Products`]), what an adapter offers
//! ([`describe`], [`usable`]), the WGSL source with the configuration
//! prepended ([`source`]), and the host-side twin of the f16 rounding
//! ([`round_f16`]). The arithmetic, and why Δ₁ is scaled before it is
//! rounded, is in docs/spec.md ("Mixed precision").

use crate::error::{Error, Result};

/// The arithmetic of the first layer's products (`--precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Precision {
    /// f32 everywhere: the reference's tolerances hold.
    #[default]
    F32,
    /// The first hidden layer's products on f16 operands with f32 sums, through cooperative matrices (tensor cores); GPU only.
    ///
    /// The weights, the other kernels and the update stay f32. An error
    /// with --backend gpu on an adapter without f16 cooperative matrices;
    /// with --backend auto, training falls back to f32 and says so.
    Mixed,
    /// The mixed path with its products as scalar f32 sums of f16
    /// operands instead of cooperative matrices: the same roundings, no
    /// tensor cores. Not on the command line: it lets the tests run the
    /// mixed path on adapters without cooperative matrices (Debian 12's lavapipe).
    #[value(skip)]
    MixedScalar,
}

/// How the mixed kernels form their products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Products {
    /// Cooperative matrices: `size` × `size` tiles of f16 A and B with an
    /// f32 accumulator, M = N = K = size (shaders/mixed_coop.wgsl), each
    /// subgroup holding `blocks` of them.
    Coop { size: u32, blocks: CoopBlocks },
    /// One invocation per output, f32 fused multiply-adds of f16 operands
    /// (shaders/mixed_scalar.wgsl); [`Precision::MixedScalar`].
    Scalar,
}

/// Each mixed workgroup's output tile is TILE × TILE; the f16 copies are
/// padded with zeros to multiples of it (the inputs perhaps only to 16,
/// [`InputPad`], with [`X_TAIL`] after the X copy), so every cooperative
/// load is in bounds. The WGSL `T`.
pub const TILE: u32 = 64;
// forward_coop_shares writes one of ŷ's shares per tile and row: the wide
// family's shares are of TILED_N units.
const _: () = assert!(TILE == crate::gpu::kernels::TILED_N);

/// Invocations per mixed workgroup; the WGSL `MIXED`.
pub const MIXED_WORKGROUP: u32 = 128;

/// What the f16 copies of X and W₁ pad the first layer's inputs (the
/// forward's sum, the weight gradient's columns) to a multiple of: a whole
/// [`TILE`], or a block of 16 (a multiple of every cooperative block
/// side), which spares the forward the steps along the sum that multiply
/// padding. S2's 32 inputs pad to 64 by the tile, so half of its forward's
/// multiply-adds are on zeros. The weight gradient's tiles still span 64
/// inputs: past a padded row of 16·k, their loads read the next row
/// (products no store keeps) and, past the last row, the copy's tail of
/// [`X_TAIL`] (zeros, or a longer chunk's rows where the last chunk is
/// shorter). Rows and outputs pad to the tile either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InputPad {
    /// To a multiple of [`TILE`].
    #[default]
    Tile,
    /// To a multiple of 16.
    Block,
}

/// The slices of its row group's rows each `delta_half` workgroup splits
/// its units' sums into (the first the default): one invocation per unit
/// and slice, so more slices put more invocations on the same rows. With
/// one, each invocation walks the whole group (S3: 32 groups of 512 rows,
/// 32,768 invocations in all); ∂b₁ and ∂w₂ then add the slices' sums in
/// slice order, so their bits depend on the slices.
pub const DELTA_SLICES: [u32; 3] = [1, 2, 4];
// delta_half's slice_sums holds MIXED units of the most slices, 4 · MIXED.
const _: () = assert!(DELTA_SLICES[2] == 4 && MIXED_WORKGROUP == 128);

/// The variable that sets [`DELTA_SLICES`] for a run.
pub const DELTA_SLICES_VARIABLE: &str = "SHADERTRAIN_DELTA_SLICES";

/// The slices [`DELTA_SLICES_VARIABLE`] names, else 1.
pub fn delta_slices_from_env() -> Result<u32> {
    parse_delta_slices(crate::gpu::context::env_setting(DELTA_SLICES_VARIABLE)?.as_deref())
}

/// [`delta_slices_from_env`] from the variable's value.
pub fn parse_delta_slices(value: Option<&str>) -> Result<u32> {
    let what = "the slices of each row group's rows delta_half splits its sums into \
                under --precision mixed";
    crate::gpu::context::one_of(DELTA_SLICES_VARIABLE, value, &DELTA_SLICES, what)
}

/// How `forward_coop_shares` sums each row's share of ŷ over each
/// cooperative block's CS columns (the WGSL `SHARES`). In its epilogue,
/// each block position's accumulators go through workgroup memory, and
/// one invocation per element applies the activation and stores A₁.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Shares {
    /// The elements' activations are written back, and after a barrier one
    /// invocation per block row adds its CS terms in order: a pass and a
    /// barrier per block position, and CS-long chains.
    #[default]
    Pass,
    /// The CS invocations that hold a block row's elements (consecutive
    /// lanes of one subgroup) add their terms by subgroup shuffles as they
    /// store A₁: no pass, a barrier fewer per block position. Needs
    /// subgroups of at least CS invocations and at most CS · CS
    /// ([`Shares::usable`]); the sums are added in another order, so ŷ's
    /// bits differ from `Pass`'s.
    Shuffle,
}

impl Shares {
    /// The variable that sets the sums for a run: `pass` (unset) or
    /// `shuffle`.
    pub const VARIABLE: &'static str = "SHADERTRAIN_MIXED_SHARES";

    /// The sums [`Shares::VARIABLE`] names, else the default.
    pub fn from_env() -> Result<Shares> {
        Shares::parse_setting(crate::gpu::context::env_setting(Shares::VARIABLE)?.as_deref())
    }

    /// [`Shares::from_env`] from the variable's value: unset or empty is
    /// the default.
    pub fn parse_setting(value: Option<&str>) -> Result<Shares> {
        match value.map(str::trim).unwrap_or("") {
            "" | "pass" => Ok(Shares::Pass),
            "shuffle" => Ok(Shares::Shuffle),
            v => Err(Error::Config(format!(
                "{}={v}: expected pass (the default) or shuffle: how the cooperative \
                 forward sums each row's share of ŷ under --precision mixed",
                Shares::VARIABLE
            ))),
        }
    }

    /// How `products` sum the shares when asked for these, on an adapter
    /// whose subgroups are `subgroup_min` to `subgroup_max` invocations:
    /// the scalar products their own way (reported as `Pass`); an error
    /// where shuffles cannot run, since they need a block row's CS
    /// invocations in one subgroup and every lane busy in each
    /// (`subgroup_max` at most CS · CS).
    pub fn usable(
        self,
        products: Products,
        subgroup_min: u32,
        subgroup_max: u32,
    ) -> Result<Shares> {
        match (self, products) {
            (_, Products::Scalar) => Ok(Shares::Pass),
            (Shares::Shuffle, Products::Coop { size, .. })
                if subgroup_min < size || subgroup_max > size * size =>
            {
                Err(Error::Config(format!(
                    "{}=shuffle: the cooperative forward's {size}-column block rows need \
                     subgroups of {size} to {} invocations, and this adapter's are \
                     {subgroup_min} to {subgroup_max}; unset it",
                    Shares::VARIABLE,
                    size * size
                )))
            }
            (shares, Products::Coop { .. }) => Ok(shares),
        }
    }
}

/// f16s past the padded rows of the X copy, so that the weight gradient's
/// 64-wide input tiles stay inside it where [`InputPad::Block`] makes
/// rows other than a whole number of tiles: the last row's loads reach at
/// most T − 16 past its end.
pub const X_TAIL: usize = TILE as usize;

impl InputPad {
    /// The variable that sets the padding for a run, so a session on a GPU
    /// can measure both without a rebuild: `64` ([`InputPad::Tile`], unset)
    /// or `16`.
    pub const VARIABLE: &'static str = "SHADERTRAIN_MIXED_INPUT_PAD";

    /// The multiple `inputs` pads to.
    pub fn multiple(self) -> usize {
        match self {
            InputPad::Tile => TILE as usize,
            InputPad::Block => 16,
        }
    }

    /// `inputs` padded.
    pub fn pad(self, inputs: usize) -> usize {
        inputs.next_multiple_of(self.multiple())
    }

    /// The padding [`InputPad::VARIABLE`] names, else the default.
    pub fn from_env() -> Result<InputPad> {
        InputPad::parse_setting(crate::gpu::context::env_setting(InputPad::VARIABLE)?.as_deref())
    }

    /// [`InputPad::from_env`] from the variable's value: unset or empty is
    /// the default.
    pub fn parse_setting(value: Option<&str>) -> Result<InputPad> {
        let what = "the multiple the f16 copies pad the first layer's inputs to under \
                    --precision mixed (64, the tile)";
        let n = crate::gpu::context::one_of(InputPad::VARIABLE, value, &[64, 16], what)?;
        Ok(if n == 16 {
            InputPad::Block
        } else {
            InputPad::Tile
        })
    }
}

impl Products {
    /// As a benchmark record names it: "mixed 16x16x16, 4x2,4x4 blocks"
    /// (the blocks as [`CoopBlocks`] writes them) or "mixed scalar".
    pub fn name(self) -> String {
        match self {
            Products::Coop { size: n, blocks } => format!("mixed {n}x{n}x{n}, {blocks} blocks"),
            Products::Scalar => "mixed scalar".to_string(),
        }
    }
}

/// How much of a cooperative kernel's [`TILE`] × [`TILE`] output tile one
/// subgroup holds: `rows` × `cols` blocks of CS × CS (the WGSL `RB` and
/// `CB`), an accumulator each, so each step along the sum loads `rows` A
/// blocks and `cols` B blocks into `rows · cols` multiply-adds. Larger
/// patches load less per multiply-add and make fewer, longer-lived
/// subgroups; each side is 2 or 4 blocks ([`Blocks::ALL`]). On an H200,
/// 1 × 1 (sixteen subgroups of one block each) took S3's mixed epoch
/// 1.17 ms against 0.75 at 2 × 2, and its epilogue's workgroup memory
/// would pass WebGPU's 16 KiB. The forward and the weight gradient each
/// have theirs ([`CoopBlocks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Blocks {
    /// Blocks down the tile: the forward's rows of X, the weight
    /// gradient's units.
    pub rows: u32,
    /// Blocks across it: the forward's units, the weight gradient's
    /// inputs.
    pub cols: u32,
}

impl Blocks {
    /// Every shape a subgroup may hold.
    pub const ALL: [Blocks; 4] = [
        Blocks { rows: 2, cols: 2 },
        Blocks { rows: 2, cols: 4 },
        Blocks { rows: 4, cols: 2 },
        Blocks { rows: 4, cols: 4 },
    ];

    /// `RxC` (or `RXC`) with R and C each 2 or 4.
    fn parse(text: &str) -> Option<Blocks> {
        let side = |t: &str| t.trim().parse::<u32>().ok().filter(|n| [2, 4].contains(n));
        let (r, c) = text.split_once(['x', 'X'])?;
        Some(Blocks {
            rows: side(r)?,
            cols: side(c)?,
        })
    }

    /// The subgroups of a tile with `size` × `size` blocks (the WGSL
    /// `PATCHES`), or `None` for blocks that are not among [`Blocks::ALL`]
    /// (the fields are public: other sides would leave rows of the tile
    /// unwritten, or divide by zero) or whose patch would not fit in the
    /// tile.
    pub fn per_tile(self, size: u32) -> Option<u32> {
        let (down, across) = (self.rows * size, self.cols * size);
        (Blocks::ALL.contains(&self) && size > 0 && down <= TILE && across <= TILE)
            .then(|| (TILE / down) * (TILE / across))
    }
}

/// The blocks each subgroup holds in the cooperative forward kernels
/// (`forward_coop`, `forward_coop_shares`) and in the weight gradient
/// (`weight_grad_coop`): each is compiled from a module of its own
/// blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoopBlocks {
    pub forward: Blocks,
    pub weight_grad: Blocks,
}

impl CoopBlocks {
    /// What the subgroups hold unless `SHADERTRAIN_COOP_BLOCKS` says
    /// otherwise: 4 × 2 blocks in the forward, 4 × 4 in the weight
    /// gradient. On an H200 (BENCHMARKS.md, "NVIDIA H200, 2026-12-04,
    /// afternoon"), 4 × 4 ran the weight gradient fastest on S2 and S3
    /// (0.214 and 0.120 ms against 0.388 and 0.186 at 2 × 2), and 4 × 2
    /// the forward within 1% of the fastest on S3 (0.336 ms; 2 × 2 0.376)
    /// and within 6% on S2 (1.250 ms against 2 × 2's 1.182), where 4 × 4
    /// took 1.697: fewer subgroups make S2's forward, whose sum is 64 long
    /// and whose epilogue writes 512 MB, slower.
    pub const DEFAULT: CoopBlocks = CoopBlocks {
        forward: Blocks { rows: 4, cols: 2 },
        weight_grad: Blocks { rows: 4, cols: 4 },
    };

    /// The variable that sets the blocks for a run, so one session on a
    /// GPU can measure several without a rebuild (`benches/gpu_session.sh`):
    /// `RxC` for every cooperative kernel, or `RxC,RxC` for the forward's
    /// and the weight gradient's.
    pub const VARIABLE: &'static str = "SHADERTRAIN_COOP_BLOCKS";

    /// `blocks` in every kernel.
    pub const fn both(blocks: Blocks) -> CoopBlocks {
        CoopBlocks {
            forward: blocks,
            weight_grad: blocks,
        }
    }

    /// [`CoopBlocks::DEFAULT`], or the blocks [`CoopBlocks::VARIABLE`]
    /// names.
    pub fn from_env() -> Result<CoopBlocks> {
        CoopBlocks::parse_setting(
            crate::gpu::context::env_setting(CoopBlocks::VARIABLE)?.as_deref(),
        )
    }

    /// [`CoopBlocks::from_env`] from the variable's value: unset or empty
    /// is the default.
    pub fn parse_setting(value: Option<&str>) -> Result<CoopBlocks> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(CoopBlocks::DEFAULT);
        };
        let parsed = match v.split_once(',') {
            None => Blocks::parse(v).map(CoopBlocks::both),
            Some((f, g)) => Blocks::parse(f)
                .zip(Blocks::parse(g))
                .map(|(forward, weight_grad)| CoopBlocks {
                    forward,
                    weight_grad,
                }),
        };
        parsed.ok_or_else(|| {
            Error::Config(format!(
                "{}={v}: expected RxC, or RxC,RxC for the forward and the weight gradient, \
                 with R and C each 2 or 4 (the blocks each subgroup of the cooperative \
                 kernels holds; unset for {})",
                CoopBlocks::VARIABLE,
                CoopBlocks::DEFAULT
            ))
        })
    }

    /// The largest workgroup of the cooperative kernels (see
    /// [`coop_workgroup`]).
    pub fn largest_workgroup(self, size: u32, subgroup_max: u32) -> u32 {
        coop_workgroup(size, self.forward, subgroup_max).max(coop_workgroup(
            size,
            self.weight_grad,
            subgroup_max,
        ))
    }
}

/// `RxC` where both kernels hold the same blocks, else `RxC,RxC`.
impl std::fmt::Display for CoopBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.forward == self.weight_grad {
            write!(f, "{}", self.forward)
        } else {
            write!(f, "{},{}", self.forward, self.weight_grad)
        }
    }
}

impl std::fmt::Display for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

/// The features a mixed-precision device opens with.
pub fn features(products: Products) -> wgpu::Features {
    match products {
        Products::Coop { .. } => {
            wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
                | wgpu::Features::SHADER_F16
                | wgpu::Features::SUBGROUP
        }
        Products::Scalar => wgpu::Features::SHADER_F16,
    }
}

/// The adapter's cooperative-matrix configurations, as `MxNxK A->C`
/// items, or "none".
pub fn describe(adapter: &wgpu::Adapter) -> String {
    let all = configurations(adapter);
    if all.is_empty() {
        return "none".to_string();
    }
    all.iter()
        .map(|p| {
            format!(
                "{}x{}x{} {:?}->{:?}",
                p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn configurations(adapter: &wgpu::Adapter) -> Vec<wgpu::CooperativeMatrixProperties> {
    if adapter
        .features()
        .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
    {
        adapter.cooperative_matrix_properties()
    } else {
        Vec::new()
    }
}

/// How the mixed kernels of `precision` (not F32) run on `adapter`: for
/// Mixed, 16×16×16 cooperative matrices where offered (fewer, larger
/// tensor-core operations), else 8×8×8, both with f16 inputs and f32
/// accumulators, each subgroup holding `blocks` of them; or what the
/// adapter lacks.
pub fn usable(
    adapter: &wgpu::Adapter,
    precision: Precision,
    blocks: CoopBlocks,
) -> Result<Products> {
    let info = adapter.get_info();
    let products = match precision {
        Precision::MixedScalar => Products::Scalar,
        Precision::F32 | Precision::Mixed => Products::Coop {
            size: coop_size(adapter)?,
            blocks,
        },
    };
    let missing = features(products) - adapter.features();
    if !missing.is_empty() {
        return Err(Error::NoMixed(format!(
            "{} lacks {missing:?}, which the mixed kernels need; use --precision f32",
            info.name
        )));
    }
    if let Products::Coop { size, blocks } = products {
        if [blocks.forward, blocks.weight_grad]
            .iter()
            .any(|b| b.per_tile(size).is_none())
        {
            return Err(Error::Config(format!(
                "{}={blocks}: each side must be 2 or 4 blocks, and blocks of \
                 {size}x{size} that many to a subgroup must fit in the cooperative kernels' \
                 {TILE} × {TILE} tile",
                CoopBlocks::VARIABLE
            )));
        }
        let limits = adapter.limits();
        let most = limits
            .max_compute_invocations_per_workgroup
            .min(limits.max_compute_workgroup_size_x);
        let wanted = blocks.largest_workgroup(size, info.subgroup_max_size);
        if wanted > most {
            return Err(Error::NoMixed(format!(
                "{} may run subgroups of {} invocations, so the cooperative kernels' \
                 workgroups would need {wanted} invocations, more than its {most}; \
                 use --precision f32",
                info.name, info.subgroup_max_size
            )));
        }
    }
    Ok(products)
}

/// What ends every [`Error::NoMixed`]'s reason: the advice for a command
/// that asked for mixed precision.
pub const USE_F32: &str = "; use --precision f32";

/// A [`Error::NoMixed`] reason without its advice to ask for f32, for a
/// message that goes on in f32 or says why in another way.
pub fn why_not(reason: &str) -> &str {
    reason.trim_end_matches(USE_F32)
}

/// The side of the square f16 → f32 cooperative matrices `adapter` offers.
fn coop_size(adapter: &wgpu::Adapter) -> Result<u32> {
    let info = adapter.get_info();
    let all = configurations(adapter);
    if all.is_empty() {
        return Err(Error::NoMixed(format!(
            "{} offers no cooperative matrices (wgpu's EXPERIMENTAL_COOPERATIVE_MATRIX, \
             Vulkan's VK_KHR_cooperative_matrix); use --precision f32",
            info.name
        )));
    }
    square_size(&all).ok_or_else(|| {
        Error::NoMixed(format!(
            "{} offers cooperative matrices ({}), but none 16x16x16 or 8x8x8 with f16 inputs \
             and f32 sums; use --precision f32",
            info.name,
            describe(adapter)
        ))
    })
}

/// The side of the square f16 → f32 configuration among `all` the mixed
/// kernels take: 16 where offered, else 8; `None` for neither.
fn square_size(all: &[wgpu::CooperativeMatrixProperties]) -> Option<u32> {
    let square = |size: u32| {
        all.iter().any(|p| {
            p.m_size == size
                && p.n_size == size
                && p.k_size == size
                && p.ab_type == wgpu::CooperativeScalarType::F16
                && p.cr_type == wgpu::CooperativeScalarType::F32
        })
    };
    [16, 8].into_iter().find(|&s| square(s))
}

/// Invocations per workgroup of the cooperative kernels with `size` ×
/// `size` blocks, `blocks` to a subgroup (the WGSL `COOP`), on an adapter
/// whose subgroups have at most `subgroup_max` invocations: a subgroup for
/// each patch of the tile (the WGSL `PATCHES`) even where every subgroup
/// is that large. A patch that does not fit counts as one
/// ([`usable`] refuses it).
pub fn coop_workgroup(size: u32, blocks: Blocks, subgroup_max: u32) -> u32 {
    blocks.per_tile(size).unwrap_or(1) * subgroup_max.max(1)
}

/// The mixed kernels' WGSL for `products`: the enables, the block size CS
/// (with the cooperative types of its size and the `blocks` RB × CB a
/// subgroup holds in the kernels built from this module), the shared
/// prelude, shaders/mixed.wgsl, then the products' entry points (with
/// [`write_out`]'s lines for those blocks). The scalar products ignore
/// `blocks`.
pub fn source(products: Products, blocks: Blocks) -> Result<String> {
    let (head, entries) = match products {
        Products::Coop { size: n, .. } => (
            format!(
                "enable f16;\nenable wgpu_cooperative_matrix;\nconst CS: u32 = {n}u;\n\
                 const RB: u32 = {}u;\nconst CB: u32 = {}u;\n\
                 alias MatA = coop_mat{n}x{n}<f16, A>;\n\
                 alias MatB = coop_mat{n}x{n}<f16, B>;\n\
                 alias MatC = coop_mat{n}x{n}<f32, C>;\n",
                blocks.rows, blocks.cols
            ),
            write_out(include_str!("../../shaders/mixed_coop.wgsl"), blocks)?,
        ),
        Products::Scalar => (
            "enable f16;\nconst CS: u32 = 16u;\n".to_string(),
            include_str!("../../shaders/mixed_scalar.wgsl").to_string(),
        ),
    };
    Ok(format!(
        "{head}{}{}{entries}",
        super::kernels::common_source(),
        include_str!("../../shaders/mixed.wgsl")
    ))
}

/// shaders/mixed_coop.wgsl with its `//% ` lines written out for `blocks`
/// (the file's head says what each one stands for): the accumulators
/// `c<i><j>`, one per block, their multiply-adds, and the epilogue's block
/// positions. Other lines pass through as they are; a `//%` line that is
/// none of these (a misspelt one would otherwise pass as a comment) is an
/// error.
pub fn write_out(source: &str, blocks: Blocks) -> Result<String> {
    let cells = || (0..blocks.rows).flat_map(|i| (0..blocks.cols).map(move |j| (i, j)));
    let mut out = String::with_capacity(source.len() * 2);
    for line in source.lines() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let words: Vec<&str> = body.split_whitespace().collect();
        let lines: Vec<String> = match words[..] {
            ["//%", "accumulators"] => cells()
                .map(|(i, j)| format!("var c{i}{j}: MatC = coopLoadT<MatC>(&zeros[0], CS);"))
                .collect(),
            ["//%", "multiply", kernel] => (0..blocks.rows)
                .map(|i| format!("let a{i} = {kernel}_a(ak, {i}u);"))
                .chain((0..blocks.cols).map(|j| format!("let b{j} = {kernel}_b(bk, {j}u);")))
                .chain(
                    cells()
                        .map(|(i, j)| format!("c{i}{j} = coopMultiplyAdd(a{i}, b{j}, c{i}{j});")),
                )
                .collect(),
            ["//%", "emit", ref steps @ ..] if !steps.is_empty() => {
                let mut all = Vec::new();
                for (q, (i, j)) in cells().enumerate() {
                    if q > 0 {
                        all.push("workgroupBarrier();".to_string());
                    }
                    all.push(format!("coopStoreT(c{i}{j}, slot, CS);"));
                    for step in steps {
                        all.push("workgroupBarrier();".to_string());
                        all.push(format!("{step}(li, tile, {q}u);"));
                    }
                }
                all
            }
            _ if body.starts_with("//%") => {
                return Err(Error::Config(format!(
                    "mixed_coop.wgsl: `{body}` is not a line write_out knows"
                )))
            }
            _ => vec![body.to_string()],
        };
        for l in lines {
            out.push_str(indent);
            out.push_str(&l);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The power of two Δ₁ is multiplied by before it is rounded to f16, and
/// the weight gradient divided by after: about N/2 for N rows, which
/// undoes the residual's 2/N so Δ₁ sits in f16's normal range instead of
/// underflowing. A power of two, so the scaling itself rounds nothing.
pub fn delta_scale(rows: usize) -> f32 {
    let half = (rows as f64 / 2.0).max(1.0);
    // Within f16's exponent range's reach of f32: 2^0 ..= 2^40.
    2f32.powi((half.log2().round() as i32).clamp(0, 40))
}

/// `x` rounded to the nearest f16 (ties to even), as an f32: the value the
/// mixed kernels' `f16(x)` gives. Past f16's largest finite value (65504)
/// it is ±∞; below its smallest subnormal, ±0.
pub fn round_f16(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let abs = f32::from_bits(bits & 0x7fff_ffff);
    // f16's spacing at `abs`: 2^(e − 10) for normals (e ≥ −14), 2^−24 below.
    let e = if abs == 0.0 {
        -14
    } else {
        (abs.log2().floor() as i32).max(-14)
    };
    let ulp = 2f64.powi(e - 10);
    let q = abs as f64 / ulp;
    // Round half to even.
    let mut r = q.floor();
    let frac = q - r;
    if frac > 0.5 || (frac == 0.5 && r % 2.0 == 1.0) {
        r += 1.0;
    }
    let v = r * ulp;
    let v = if v > 65504.0 { f32::INFINITY } else { v as f32 };
    f32::from_bits(v.to_bits() | sign)
}

/// The f16 bits of [`round_f16`]`(x)`.
pub fn f16_bits(x: f32) -> u16 {
    let r = round_f16(x);
    let sign = ((r.to_bits() >> 16) & 0x8000) as u16;
    let a = r.abs();
    if a.is_nan() {
        return 0x7e00;
    }
    if a.is_infinite() {
        return sign | 0x7c00;
    }
    if a < 2f32.powi(-14) {
        // Subnormal: a multiple of 2^-24, exactly.
        return sign | (a * 2f32.powi(24)) as u16;
    }
    let bits = a.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    // The rounded value has no bits below f16's 10-bit mantissa.
    let mantissa = ((bits >> 13) & 0x3ff) as u16;
    sign | (((exponent + 15) as u16) << 10) | mantissa
}

/// The value of f16 bits.
pub fn from_f16_bits(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = ((h >> 10) & 0x1f) as i32;
    let mantissa = (h & 0x3ff) as f32;
    sign * match exponent {
        0 => mantissa * 2f32.powi(-24),
        31 if mantissa == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f32.powi(e - 15),
    }
}

/// `values` as f16s, two to each f32 slot (the first in the low half), the
/// way an `array<f16>` lies in a buffer: for uploading f16 data through
/// f32 buffers.
pub fn pack_f16(values: &[f32]) -> Vec<f32> {
    values
        .chunks(2)
        .map(|pair| {
            let lo = f16_bits(pair[0]) as u32;
            let hi = pair.get(1).map_or(0, |&v| f16_bits(v)) as u32;
            f32::from_bits(lo | hi << 16)
        })
        .collect()
}

/// The f16s packed in `slots` by [`pack_f16`] (or a kernel), as f32s.
pub fn unpack_f16(slots: &[f32]) -> Vec<f32> {
    slots
        .iter()
        .flat_map(|s| {
            let b = s.to_bits();
            [from_f16_bits(b as u16), from_f16_bits((b >> 16) as u16)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding_keeps_what_f16_holds_and_rounds_the_rest_to_even() {
        // Exactly representable: integers to 2048, 1/1024 steps in [1, 2).
        for v in [
            0.0f32,
            1.0,
            2048.0,
            1.0 + 1.0 / 1024.0,
            65504.0,
            6.103_515_6e-5,
        ] {
            assert_eq!(round_f16(v), v, "{v}");
            assert_eq!(round_f16(-v), -v, "{v}");
        }
        // 2049 lies halfway between 2048 and 2050: ties go to the even 2048.
        assert_eq!(round_f16(2049.0), 2048.0);
        assert_eq!(round_f16(2051.0), 2052.0);
        assert_eq!(round_f16(1.0 + 1.0 / 4096.0), 1.0);
        assert_eq!(round_f16(1.0 + 3.0 / 4096.0), 1.0 + 1.0 / 1024.0);
        // The smallest subnormal, 2^-24, and below half of it.
        assert_eq!(round_f16(2f32.powi(-24)), 2f32.powi(-24));
        assert_eq!(round_f16(2f32.powi(-26)), 0.0);
        assert_eq!(round_f16(65520.0), f32::INFINITY);
        assert_eq!(round_f16(-1e6), f32::NEG_INFINITY);
        // Relative error at most 2^-11 in the normal range.
        let mut x = 6.2e-5f32;
        while x < 6e4 {
            let r = round_f16(x);
            assert!(((r - x) / x).abs() <= 2f32.powi(-11), "{x} -> {r}");
            x *= 1.37;
        }
    }

    #[test]
    fn f16_bits_round_trip() {
        for v in [
            0.0f32,
            1.0,
            -2.5,
            65504.0,
            6.103_515_6e-5,
            2f32.powi(-24),
            0.1,
            -1234.5,
        ] {
            assert_eq!(from_f16_bits(f16_bits(v)), round_f16(v), "{v}");
        }
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(2f32.powi(-24)), 0x0001);
        assert_eq!(f16_bits(f32::INFINITY), 0x7c00);
        let v = [0.5f32, -3.0, 7.25];
        assert_eq!(unpack_f16(&pack_f16(&v))[..3], v);
    }

    #[test]
    fn the_largest_square_f16_to_f32_matrices_are_taken() {
        use wgpu::CooperativeScalarType::{F16, F32, I32};
        let config = |m, n, k, ab_type, cr_type| wgpu::CooperativeMatrixProperties {
            m_size: m,
            n_size: n,
            k_size: k,
            ab_type,
            cr_type,
            saturating_accumulation: false,
        };
        // lavapipe's 8x8x8, listed before a 16x16x16 that is then taken.
        let eight = config(8, 8, 8, F16, F32);
        let sixteen = config(16, 16, 16, F16, F32);
        assert_eq!(square_size(&[eight]), Some(8));
        assert_eq!(square_size(&[eight, sixteen]), Some(16));
        assert_eq!(square_size(&[sixteen, eight]), Some(16));
        // Not square, or other types: none of them.
        for other in [
            config(16, 16, 8, F16, F32),
            config(16, 8, 16, F16, F32),
            config(8, 16, 16, F16, F32),
            config(16, 16, 16, F32, F32),
            config(16, 16, 16, F16, F16),
            config(16, 16, 16, I32, F32),
        ] {
            assert_eq!(square_size(&[other]), None, "{other:?}");
            assert_eq!(square_size(&[other, eight]), Some(8), "{other:?}");
        }
        assert_eq!(square_size(&[]), None);
    }

    #[test]
    fn coop_workgroups_have_a_subgroup_per_patch() {
        let b = |rows, cols| Blocks { rows, cols };
        let two = b(2, 2);
        // NVIDIA: 16x16 blocks, 4 patches of 2 × 2 per 64 × 64 tile,
        // subgroups of 32.
        assert_eq!(coop_workgroup(16, two, 32), 128);
        // One patch of 4 × 4, two of 4 × 2 or 2 × 4.
        assert_eq!(coop_workgroup(16, b(4, 4), 32), 32);
        assert_eq!(coop_workgroup(16, b(4, 2), 32), 64);
        assert_eq!(coop_workgroup(16, b(2, 4), 32), 64);
        // AMD's subgroups of up to 64.
        assert_eq!(coop_workgroup(16, two, 64), 256);
        // lavapipe: 8x8 blocks, 16 patches of 2 × 2, subgroups of 8.
        assert_eq!(coop_workgroup(8, two, 8), 128);
        assert_eq!(coop_workgroup(8, b(4, 4), 8), 32);
        assert_eq!(coop_workgroup(8, two, 32), 512);
        // 8 × 16 = 128 rows do not fit a 64-row tile; 3 × 16 = 48 would
        // fit once and leave 16 rows unwritten; 1 and 0 are not offered.
        for bad in [b(8, 2), b(3, 2), b(2, 3), b(1, 1), b(0, 2), b(2, 0)] {
            assert_eq!(bad.per_tile(16), None, "{bad}");
            assert_eq!(bad.per_tile(8), None, "{bad}");
        }
        assert_eq!(b(4, 4).per_tile(16), Some(1));
        assert_eq!(b(4, 4).per_tile(0), None);
        // The device is opened for the larger of the two kernels'.
        let pair = CoopBlocks {
            forward: two,
            weight_grad: b(4, 4),
        };
        assert_eq!(pair.largest_workgroup(16, 32), 128);
        assert_eq!(CoopBlocks::both(b(4, 4)).largest_workgroup(16, 32), 32);
    }

    #[test]
    fn blocks_come_from_the_variable_as_rows_x_cols() {
        let b = |rows, cols| Blocks { rows, cols };
        let pair = |forward, weight_grad| CoopBlocks {
            forward,
            weight_grad,
        };
        for (value, want) in [
            (None, CoopBlocks::DEFAULT),
            (Some(""), CoopBlocks::DEFAULT),
            (Some("  "), CoopBlocks::DEFAULT),
            (Some("4x4"), CoopBlocks::both(b(4, 4))),
            (Some("2X4"), CoopBlocks::both(b(2, 4))),
            (Some(" 4 x 2 "), CoopBlocks::both(b(4, 2))),
            (Some("2x2,4x4"), pair(b(2, 2), b(4, 4))),
            (Some("4x2 , 2x4"), pair(b(4, 2), b(2, 4))),
        ] {
            assert_eq!(CoopBlocks::parse_setting(value).unwrap(), want, "{value:?}");
        }
        for bad in [
            "3x2",
            "4",
            "4x",
            "x4",
            "2x8",
            "1x1",
            "0x2",
            "axb",
            "2x2x2",
            "-2x2",
            "2x2,",
            ",2x2",
            "2x2,4x4,2x2",
            "2x2;4x4",
        ] {
            let err = CoopBlocks::parse_setting(Some(bad))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("SHADERTRAIN_COOP_BLOCKS={bad}")) && err.contains("RxC"),
                "{bad}: {err}"
            );
        }
        assert_eq!(b(4, 2).to_string(), "4x2");
        assert_eq!(CoopBlocks::both(b(4, 2)).to_string(), "4x2");
        assert_eq!(pair(b(2, 2), b(4, 4)).to_string(), "2x2,4x4");
        // What Display writes, parse_setting reads back.
        for forward in Blocks::ALL {
            for weight_grad in Blocks::ALL {
                let p = pair(forward, weight_grad);
                assert_eq!(CoopBlocks::parse_setting(Some(&p.to_string())).unwrap(), p);
            }
        }
        let coop = |size, blocks| Products::Coop { size, blocks };
        assert_eq!(
            coop(16, CoopBlocks::both(b(4, 2))).name(),
            "mixed 16x16x16, 4x2 blocks"
        );
        assert_eq!(
            coop(8, CoopBlocks::DEFAULT).name(),
            "mixed 8x8x8, 4x2,4x4 blocks"
        );
    }

    #[test]
    fn write_out_refuses_lines_it_does_not_know() {
        let two = Blocks { rows: 2, cols: 2 };
        for bad in [
            "//% multiply",
            "//% accumulators x",
            "//%multiply forward",
            "//% emit",
            "//% unroll 2",
        ] {
            let source = format!("fn f() {{\n    {bad}\n}}\n");
            let err = write_out(&source, two).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        // Any line that starts with `//%` is a directive, `//%%` too.
        let doubled = "// a comment\n//%% not one\nlet x = 1u;\n";
        assert!(write_out(doubled, two).is_err(), "//%% starts with //%");
        // Plain comments, and code with `//%` after it, pass through.
        let plain = "// a comment\nlet x = 1u; //% trailing\n";
        assert_eq!(write_out(plain, two).unwrap(), plain);
    }

    #[test]
    fn write_out_expands_each_block_in_row_order_with_a_barrier_before_each_step() {
        // 2 × 4 blocks, so rows and columns cannot trade places unseen:
        // the accumulators and multiply-adds row by row, and each block
        // position q = i·CB + j stores c<i><j> and only then, each after a
        // barrier, runs F and G in the order written; a barrier between
        // positions. Indents are kept.
        let source = "fn k() {\n  //% accumulators\n    //% multiply f\n  //% emit F G\n}\n";
        let out = write_out(source, Blocks { rows: 2, cols: 4 }).unwrap();
        let cells: Vec<(u32, u32)> = (0..2).flat_map(|i| (0..4).map(move |j| (i, j))).collect();
        let mut want = vec!["fn k() {".to_string()];
        for (i, j) in &cells {
            want.push(format!(
                "  var c{i}{j}: MatC = coopLoadT<MatC>(&zeros[0], CS);"
            ));
        }
        want.extend((0..2).map(|i| format!("    let a{i} = f_a(ak, {i}u);")));
        want.extend((0..4).map(|j| format!("    let b{j} = f_b(bk, {j}u);")));
        for (i, j) in &cells {
            want.push(format!(
                "    c{i}{j} = coopMultiplyAdd(a{i}, b{j}, c{i}{j});"
            ));
        }
        for (q, (i, j)) in cells.iter().enumerate() {
            if q > 0 {
                want.push("  workgroupBarrier();".to_string());
            }
            want.push(format!("  coopStoreT(c{i}{j}, slot, CS);"));
            for step in ["F", "G"] {
                want.push("  workgroupBarrier();".to_string());
                want.push(format!("  {step}(li, tile, {q}u);"));
            }
        }
        want.push("}".to_string());
        assert_eq!(out.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn written_out_kernels_name_each_block_once() {
        let source = include_str!("../../shaders/mixed_coop.wgsl");
        for blocks in Blocks::ALL {
            let Blocks { rows, cols } = blocks;
            let out = write_out(source, blocks).unwrap();
            let code: Vec<&str> = out
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            assert!(
                !out.lines().any(|l| l.trim_start().starts_with("//% ")),
                "{rows}x{cols}"
            );
            let count = |text: &str| code.iter().filter(|l| l.contains(text)).count();
            for i in 0..rows {
                for j in 0..cols {
                    // Three kernels: declared and multiplied once each, and
                    // stored once in each epilogue (the shares' two).
                    let c = format!("c{i}{j}");
                    assert_eq!(count(&format!("var {c}: MatC")), 3, "{c}");
                    assert_eq!(count(&format!("{c} = coopMultiplyAdd(a{i}, b{j}, {c})")), 3);
                    assert_eq!(count(&format!("coopStoreT({c}, slot, CS)")), 4);
                }
            }
            let positions = (rows * cols) as usize;
            // No accumulator past the blocks.
            assert_eq!(count(": MatC = coopLoadT"), 3 * positions);
            assert_eq!(count("= coopMultiplyAdd("), 3 * positions);
            // One block position at a time: three kernels, each position's
            // store, then its steps.
            assert_eq!(count("emit_forward(li, tile, "), 2 * positions);
            assert_eq!(count("share_parts(li, tile, "), positions);
            assert_eq!(count("emit_forward_shuffled(li, tile, "), positions);
            assert_eq!(
                count(&format!("emit_weight_grad(li, tile, {}u)", positions - 1)),
                1
            );
            // A barrier before each step and between positions: forward_coop
            // 2·positions − 1; its shares form's pass 3·positions − 1, its
            // shuffles 2·positions − 1, and one before put_shares;
            // weight_grad_coop as forward_coop; and one after the zeros in
            // each.
            let barriers = (2 * positions - 1)
                + (3 * positions)
                + (2 * positions - 1)
                + (2 * positions - 1)
                + 3;
            assert_eq!(count("workgroupBarrier();"), barriers, "{blocks}");
            assert_eq!(
                count(&format!(
                    "let a{} = forward_a(ak, {}u);",
                    rows - 1,
                    rows - 1
                )),
                2
            );
            assert_eq!(
                count(&format!(
                    "let b{} = weight_grad_b(bk, {}u);",
                    cols - 1,
                    cols - 1
                )),
                1
            );
        }
    }

    #[test]
    fn shares_come_from_the_variable_and_need_wide_enough_subgroups() {
        for (value, want) in [
            (None, Shares::Pass),
            (Some(""), Shares::Pass),
            (Some(" pass"), Shares::Pass),
            (Some("shuffle "), Shares::Shuffle),
        ] {
            assert_eq!(Shares::parse_setting(value).unwrap(), want, "{value:?}");
        }
        for bad in ["Shuffle", "1", "subgroup"] {
            let err = Shares::parse_setting(Some(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{}={bad}: expected pass", Shares::VARIABLE)),
                "{err}"
            );
        }
        let coop = |size| Products::Coop {
            size,
            blocks: CoopBlocks::DEFAULT,
        };
        // NVIDIA (16 × 16 blocks, subgroups of 32), lavapipe (8 × 8, 8).
        for (size, min, max) in [(16, 32, 32), (8, 8, 8), (16, 16, 64), (8, 8, 64)] {
            assert!(Shares::Shuffle.usable(coop(size), min, max).is_ok());
        }
        // A row's 16 columns across subgroups of 8; lanes idle past 64.
        for (size, min, max) in [(16, 8, 32), (8, 4, 8), (8, 8, 128)] {
            let err = Shares::Shuffle.usable(coop(size), min, max).unwrap_err();
            assert!(
                err.to_string()
                    .contains("shuffle: the cooperative forward's"),
                "{err}"
            );
            assert!(Shares::Pass.usable(coop(size), min, max).is_ok());
        }
        assert!(matches!(
            Shares::Shuffle.usable(Products::Scalar, 1, 128),
            Ok(Shares::Pass)
        ));
    }

    #[test]
    fn input_pad_comes_from_the_variable() {
        for (value, want) in [
            (None, InputPad::Tile),
            (Some(""), InputPad::Tile),
            (Some(" 64 "), InputPad::Tile),
            (Some("16"), InputPad::Block),
        ] {
            assert_eq!(InputPad::parse_setting(value).unwrap(), want, "{value:?}");
        }
        for bad in ["8", "32", "tile", "16,64", "-16"] {
            let err = InputPad::parse_setting(Some(bad)).unwrap_err().to_string();
            assert!(
                err.contains(&format!("SHADERTRAIN_MIXED_INPUT_PAD={bad}")) && err.contains("16"),
                "{bad}: {err}"
            );
        }
        assert_eq!(InputPad::Tile.pad(32), 64);
        assert_eq!(InputPad::Block.pad(32), 32);
        assert_eq!(InputPad::Block.pad(33), 48);
        assert_eq!(InputPad::Block.pad(64), 64);
        // A multiple of both block sides, so every load along the sum is
        // a whole block.
        assert_eq!(InputPad::Block.multiple() % 16, 0);
        // The tail covers the last row's reach past its end: a 64-wide
        // tile over rows of at least 16.
        assert!(X_TAIL + InputPad::Block.multiple() >= TILE as usize);
    }

    #[test]
    fn delta_slices_come_from_the_variable() {
        for (value, want) in [(None, 1), (Some(" "), 1), (Some("2"), 2), (Some("4"), 4)] {
            assert_eq!(parse_delta_slices(value).unwrap(), want, "{value:?}");
        }
        for bad in ["0", "3", "8", "all"] {
            let err = parse_delta_slices(Some(bad)).unwrap_err().to_string();
            assert!(
                err.contains(&format!("SHADERTRAIN_DELTA_SLICES={bad}"))
                    && err.contains("expected 1 (the default), 2 or 4"),
                "{bad}: {err}"
            );
        }
        // delta_half's slice_sums holds MIXED units of the most slices.
        assert_eq!(DELTA_SLICES.iter().max(), Some(&4));
        assert_eq!(DELTA_SLICES[0], 1);
    }

    #[test]
    fn delta_scale_is_a_power_of_two_near_half_the_rows() {
        assert_eq!(delta_scale(16_384), 8192.0);
        assert_eq!(delta_scale(1), 1.0);
        assert_eq!(delta_scale(100), 64.0);
        for rows in [3usize, 1000, 65_536, 1 << 30] {
            let s = delta_scale(rows);
            assert_eq!(s.log2().fract(), 0.0);
            let ratio = s as f64 / (rows as f64 / 2.0);
            assert!((0.7..=1.42).contains(&ratio), "{rows}: {s}");
        }
    }
}
