//! The one place that owns the wgpu instance, adapter, device and queue:
//! adapter choice, the limits requested, and the conversion of every device
//! error (validation, out of memory, lost device, timeout) into [`Error`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::gpu::kernels;
use crate::gpu::mixed::{self, Precision, Products};
use crate::gpu::trips;
use crate::units;

/// Which adapters a request may use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdapterRequest {
    /// Accept software adapters (device type Cpu, such as Mesa's lavapipe).
    pub allow_software: bool,
    /// Only adapters whose name contains this text, case-insensitively.
    pub name: Option<String>,
    /// Cap on the storage-buffer binding size requested from the device, to
    /// force the chunked paths in tests; `None` asks for the adapter's own.
    pub max_binding: Option<u64>,
    /// Longest wait for the device before a readback is an error.
    pub timeout: Duration,
    /// Take the suitable adapter at this place in order of preference
    /// (modulo their count): a distributed run's local process number, so
    /// the processes on one machine spread over its GPUs.
    pub nth: usize,
    /// `Mixed` opens the device with f16 cooperative matrices, or fails
    /// with [`Error::NoMixed`] where the adapter has none.
    pub precision: Precision,
    /// Build every shader module with wgpu's runtime checks (bounds,
    /// loop bounding, division by zero), even the kernels
    /// [`Kernel::checks`](crate::gpu::kernels::Kernel::checks) marks as
    /// proven in range. Defaults to whether `SHADERTRAIN_CHECKED_SHADERS` is
    /// set (to anything but empty, `0` or `false`).
    pub checked_shaders: bool,
    /// Let the output kernel's subgroup variant run where it is chosen
    /// (`Kernel::output`): the device is opened with subgroup operations
    /// where the adapter has them. False keeps the output kernel's
    /// workgroup tree; `--precision mixed`'s cooperative kernels open the
    /// device with subgroups either way. Defaults to true unless
    /// `SHADERTRAIN_NO_SUBGROUPS` is set (as above).
    pub subgroups: bool,
    /// The blocks each subgroup of the cooperative kernels holds under
    /// `Mixed`; `None` takes them from `SHADERTRAIN_COOP_BLOCKS`, else
    /// [`CoopBlocks::DEFAULT`](crate::gpu::mixed::CoopBlocks::DEFAULT).
    pub coop_blocks: Option<mixed::CoopBlocks>,
    /// What the f16 copies pad the first layer's inputs to under `Mixed`;
    /// `None` takes it from `SHADERTRAIN_MIXED_INPUT_PAD`, else
    /// [`InputPad::Tile`](crate::gpu::mixed::InputPad::Tile).
    pub input_pad: Option<mixed::InputPad>,
    /// The wide products' step along the sum, one of
    /// [`WIDE_STEPS`](crate::gpu::kernels::WIDE_STEPS); `None` takes it from
    /// `SHADERTRAIN_WIDE_STEP`, else [`WIDE_K`](crate::gpu::kernels::WIDE_K).
    pub wide_step: Option<u32>,
    /// The slices of `delta_half`'s row groups under `Mixed`, one of
    /// [`DELTA_SLICES`](crate::gpu::mixed::DELTA_SLICES); `None` takes them
    /// from `SHADERTRAIN_DELTA_SLICES`, else 1.
    pub delta_slices: Option<u32>,
    /// How the cooperative forward sums ŷ's shares under `Mixed`; `None`
    /// takes it from `SHADERTRAIN_MIXED_SHARES`, else
    /// [`Shares::Pass`](crate::gpu::mixed::Shares::Pass).
    pub shares: Option<mixed::Shares>,
}

/// Whether the environment variable `name` is set to anything but empty,
/// `0` or `false` (text that is not UTF-8 included).
pub fn env_flag(name: &str) -> bool {
    flag(std::env::var_os(name).as_deref())
}

/// [`env_flag`] of the variable's value, `None` where it is unset.
fn flag(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The environment variable `name`'s value, `None` where it is unset; an
/// error naming it where it is not UTF-8 text (which no setting is), rather
/// than the setting's default as if it were unset.
pub fn env_setting(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::Config(format!(
            "{name}={} is not UTF-8 text; unset it, or give one of its values",
            v.to_string_lossy()
        ))),
    }
}

/// The number environment variable `variable` names among `allowed`, the
/// first of which is the default: unset or empty is the default; anything
/// else is an error naming the variable, the values it takes, and `what`
/// it sets. The settings a session on a GPU measures without a rebuild.
pub fn one_of(variable: &str, value: Option<&str>, allowed: &[u32], what: &str) -> Result<u32> {
    let v = value.map(str::trim).unwrap_or("");
    if v.is_empty() {
        return Ok(allowed[0]);
    }
    v.parse::<u32>()
        .ok()
        .filter(|n| allowed.contains(n))
        .ok_or_else(|| {
            let mut values = format!("{} (the default)", allowed[0]);
            for (k, n) in allowed.iter().enumerate().skip(1) {
                values += if k + 1 == allowed.len() { " or " } else { ", " };
                values += &n.to_string();
            }
            Error::Config(format!("{variable}={v}: expected {values}: {what}"))
        })
}

/// A number setting `asked` for in an [`AdapterRequest`], where it is among
/// `allowed`, else the environment's (`from_env`).
fn asked_or_env(
    asked: Option<u32>,
    allowed: &[u32],
    what: &str,
    from_env: fn() -> Result<u32>,
) -> Result<u32> {
    match asked {
        Some(n) if allowed.contains(&n) => Ok(n),
        Some(n) => Err(Error::Config(format!(
            "{what} of {n}: it takes {allowed:?}"
        ))),
        None => from_env(),
    }
}

impl Default for AdapterRequest {
    fn default() -> AdapterRequest {
        AdapterRequest {
            allow_software: true,
            name: None,
            max_binding: None,
            timeout: Duration::from_secs(600),
            nth: 0,
            precision: Precision::F32,
            checked_shaders: env_flag("SHADERTRAIN_CHECKED_SHADERS"),
            subgroups: !env_flag("SHADERTRAIN_NO_SUBGROUPS"),
            coop_blocks: None,
            input_pad: None,
            wide_step: None,
            delta_slices: None,
            shares: None,
        }
    }
}

/// The backends shadertrain uses: Vulkan, Metal and DX12. wgpu's GL backend
/// is left out (flaky on llvmpipe); `WGPU_BACKEND` overrides. The only
/// place an instance is made, so `XDG_RUNTIME_DIR` is settled before any.
fn instance() -> wgpu::Instance {
    #[cfg(all(unix, not(target_vendor = "apple")))]
    super::runtime_dir::ensure();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc.with_env())
}

/// The backends tried where `WGPU_BACKEND` is not set ([`instance`]): of
/// Vulkan, Metal and DX12, those wgpu has on this platform.
#[cfg(target_os = "windows")]
const BACKENDS: &str = "Vulkan and DX12";
#[cfg(target_vendor = "apple")]
const BACKENDS: &str = "Metal";
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
const BACKENDS: &str = "Vulkan";

/// `WGPU_BACKEND`, where it is set: wgpu then tries only the backends it
/// names (none, where it names none wgpu knows).
fn chosen_backends() -> Option<String> {
    std::env::var("WGPU_BACKEND").ok()
}

/// The backends [`adapters`] tries, in words.
pub fn backends_tried() -> String {
    match chosen_backends() {
        Some(v) => format!("the backends WGPU_BACKEND={v:?} names"),
        None => BACKENDS.to_string(),
    }
}

/// Every adapter wgpu finds.
pub fn adapters() -> Vec<wgpu::Adapter> {
    let instance = instance();
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

fn preference(info: &wgpu::AdapterInfo) -> u32 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// One line per adapter: name, backend, type and driver.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {})",
        info.name,
        info.backend,
        info.device_type,
        driver(info)
    )
}

/// The adapter's driver and its version, whichever the backend reports
/// (GL reports no driver name).
pub fn driver(info: &wgpu::AdapterInfo) -> String {
    let parts = [info.driver.trim(), info.driver_info.trim()];
    let known: Vec<&str> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    match known.is_empty() {
        true => "unknown".to_string(),
        false => known.join(" "),
    }
}

/// The adapter `request` picks out of `adapters`: the first hardware type
/// in the order discrete, integrated, virtual, other, then software.
pub fn pick(mut adapters: Vec<wgpu::Adapter>, request: &AdapterRequest) -> Result<wgpu::Adapter> {
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    match choose(&infos, request) {
        Some(at) => Ok(adapters.swap_remove(at)),
        None => Err(Error::NoAdapter(no_adapter(&infos, request))),
    }
}

/// Where in `infos` the adapter [`pick`] takes is: of those `request`
/// accepts (software ones where it allows them, named like its name
/// where it has one, in any case), ranked by [`preference`], the one at
/// `request.nth` modulo their count; `None` where it accepts none.
fn choose(infos: &[wgpu::AdapterInfo], request: &AdapterRequest) -> Option<usize> {
    let wanted = request.name.as_ref().map(|n| n.to_lowercase());
    let mut suitable: Vec<usize> = (0..infos.len())
        .filter(|&i| {
            let info = &infos[i];
            (request.allow_software || !is_software(info))
                && wanted
                    .as_ref()
                    .is_none_or(|n| info.name.to_lowercase().contains(n))
        })
        .collect();
    // A stable sort: among equals, the order the instance listed them in.
    suitable.sort_by_key(|&i| preference(&infos[i]));
    match suitable.len() {
        0 => None,
        n => Some(suitable[request.nth % n]),
    }
}

/// Why no adapter in `infos` suits `request`, what was found, and what to
/// do: use a software adapter that is there, name another adapter, or
/// install one where there is none.
fn no_adapter(infos: &[wgpu::AdapterInfo], request: &AdapterRequest) -> String {
    let named = |info: &wgpu::AdapterInfo| {
        request
            .name
            .as_ref()
            .is_none_or(|n| info.name.to_lowercase().contains(&n.to_lowercase()))
    };
    // Software adapters the request left out only because they are software.
    let skipped: Vec<&str> = infos
        .iter()
        .filter(|i| !request.allow_software && is_software(i) && named(i))
        .map(|i| i.name.as_str())
        .collect();
    let mut why = match (&request.name, skipped.is_empty()) {
        (Some(n), false) => format!(
            "'{n}' names only the software adapter {}, and --backend auto looks at hardware adapters only: add --backend gpu to train on it",
            skipped.join(", ")
        ),
        (Some(n), true) => format!("none named like '{n}'"),
        (None, _) if request.allow_software => "none found".to_string(),
        (None, _) => "no hardware adapter".to_string(),
    };
    // Where software adapters were already allowed, the fix is the driver.
    let use_it = match request.allow_software {
        true => "",
        false => " and use --backend gpu",
    };
    let install = format!(". For a software adapter install Mesa's lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers){use_it}");
    if infos.is_empty() {
        why.push_str(&format!("; tried {} and found nothing", backends_tried()));
        match chosen_backends() {
            Some(_) => why.push_str(&format!(". Unset WGPU_BACKEND to try {BACKENDS}")),
            None => why.push_str(&install),
        }
        return why;
    }
    let tried: Vec<String> = infos.iter().map(describe).collect();
    why.push_str(&format!("; tried {}", tried.join("; ")));
    if request.name.is_some() {
        if skipped.is_empty() {
            why.push_str(". Give --adapter part of one of these names, or leave it out");
        }
    } else if !infos.iter().any(is_software) {
        // No hardware adapter, and no software one to fall back on.
        why.push_str(&install);
    }
    why
}

/// A device and the state that turns its errors into [`Error`]s.
///
/// Several threads may share one (it is `Send + Sync`, checked below), as
/// the tests do. wgpu 30 (default `std` feature) keeps error scopes per
/// thread: its wgpu-core backend files each scope under the pushing
/// thread's id and delivers an error to the innermost matching scope of
/// the thread that caused it, so [`Context::scoped`] on one thread never
/// sees, nor swallows, another's error and needs no lock. Errors outside
/// any scope (from a submit, say) and the device's loss are per device:
/// [`Context::check`] on any thread reports the first of them, whichever
/// thread caused it.
///
/// A clone is the same device, queue and error state: trainers opened on
/// clones share them.
#[derive(Clone)]
pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// How the first layer's products run, where the device was opened
    /// for `--precision mixed`.
    pub mixed: Option<Products>,
    /// What the mixed path's f16 copies pad the first layer's inputs to
    /// (the default where `mixed` is `None`).
    pub input_pad: mixed::InputPad,
    /// The wide products' step along the sum ([`AdapterRequest::wide_step`]).
    pub wide_step: u32,
    /// The slices of `delta_half`'s row groups
    /// ([`AdapterRequest::delta_slices`]; 1 where `mixed` is `None`).
    pub delta_slices: u32,
    /// How the cooperative forward sums ŷ's shares
    /// ([`AdapterRequest::shares`]; `Pass` unless the products are
    /// cooperative).
    pub shares: mixed::Shares,
    /// Every shader module keeps wgpu's runtime checks
    /// ([`AdapterRequest::checked_shaders`]).
    pub checked_shaders: bool,
    /// [`AdapterRequest::subgroups`]: false where `SHADERTRAIN_NO_SUBGROUPS`
    /// asked for the kernels without them, even on a device the
    /// cooperative kernels opened with subgroups.
    subgroups_asked: bool,
    timeout: Duration,
    /// [`Context::loop_limit`], once probed.
    loop_limit: Arc<OnceLock<Option<u64>>>,
    /// Errors no scope caught, in order; the first is reported.
    uncaptured: Arc<Mutex<Vec<wgpu::Error>>>,
    lost: Arc<Mutex<Option<String>>>,
}

impl Context {
    /// How the mixed products run, as a benchmark record or a trainer's
    /// description names them: "mixed 16x16x16, 4x2,4x4 blocks", with
    /// ", inputs padded to 16" where [`Context::input_pad`] is not the
    /// tile and ", delta_half in 4 slices" where
    /// [`Context::delta_slices`] is not 1, and ", ŷ's shares by subgroup
    /// shuffles" for [`Shares::Shuffle`](mixed::Shares::Shuffle); `None`
    /// for an f32 device.
    pub fn mixed_name(&self) -> Option<String> {
        let mut more = String::new();
        if self.input_pad != mixed::InputPad::Tile {
            more += &format!(", inputs padded to {}", self.input_pad.multiple());
        }
        if self.delta_slices != 1 {
            more += &format!(", delta_half in {} slices", self.delta_slices);
        }
        if self.shares == mixed::Shares::Shuffle {
            more += ", ŷ's shares by subgroup shuffles";
        }
        self.mixed
            .map(|products| format!("{}{more}", products.name()))
    }

    /// Picks an adapter and opens a device on it.
    pub fn new(request: &AdapterRequest) -> Result<Context> {
        let adapter = pick(adapters(), request)?;
        Context::open(&adapter, request)
    }

    /// Opens a device with the storage and buffer limits raised to the
    /// adapter's own (capped by `request.max_binding`), and the rest at
    /// WebGPU's defaults, which every kernel here fits at the default
    /// settings; the settings that need more (a wide step of 16, the
    /// cooperative kernels' workgroups, `delta_half` in slices) raise the
    /// limit they need, or are refused where the adapter lacks it.
    pub fn open(adapter: &wgpu::Adapter, request: &AdapterRequest) -> Result<Context> {
        let info = adapter.get_info();
        let have = adapter.limits();
        let mut limits = wgpu::Limits::default().using_resolution(have.clone());
        limits.max_storage_buffer_binding_size = request
            .max_binding
            .map_or(have.max_storage_buffer_binding_size, |m| {
                m.min(have.max_storage_buffer_binding_size)
            });
        limits.max_buffer_size = have.max_buffer_size;
        limits.max_storage_buffers_per_shader_stage =
            have.max_storage_buffers_per_shader_stage.min(8);
        limits.max_compute_workgroups_per_dimension = have.max_compute_workgroups_per_dimension;
        let mut wanted = wgpu::Features::TIMESTAMP_QUERY;
        if request.subgroups {
            wanted |= wgpu::Features::SUBGROUP;
        }
        let mut features = adapter.features() & wanted;
        // The settings are read before the adapter is asked, so a bad value
        // is reported as such wherever mixed precision is asked for.
        let (mixed, input_pad, delta_slices, shares) = match request.precision {
            Precision::F32 => (None, mixed::InputPad::default(), 1, mixed::Shares::Pass),
            p => {
                let blocks = request
                    .coop_blocks
                    .map_or_else(mixed::CoopBlocks::from_env, Ok)?;
                let pad = request
                    .input_pad
                    .map_or_else(mixed::InputPad::from_env, Ok)?;
                let slices = asked_or_env(
                    request.delta_slices,
                    &mixed::DELTA_SLICES,
                    "slices of delta_half's row groups",
                    mixed::delta_slices_from_env,
                )?;
                let shares = request.shares.map_or_else(mixed::Shares::from_env, Ok)?;
                let products = mixed::usable(adapter, p, blocks)?;
                let (min, max) = (info.subgroup_min_size, info.subgroup_max_size);
                let shares = shares.usable(products, min, max)?;
                (Some(products), pad, slices, shares)
            }
        };
        // A step of 16 stages 32 KiB, past WebGPU's default 16.
        let wide_step = asked_or_env(
            request.wide_step,
            &kernels::WIDE_STEPS,
            "the wide products' step",
            kernels::wide_step_from_env,
        )?;
        let wide_bytes = kernels::wide_workgroup_bytes(wide_step);
        if wide_step != kernels::WIDE_K && wide_bytes > have.max_compute_workgroup_storage_size {
            return Err(Error::Config(format!(
                "{}={wide_step}: the wide products would stage {} KiB of workgroup memory, \
                 more than {}'s {} KiB; unset it for the default step of {}",
                kernels::WIDE_STEP_VARIABLE,
                wide_bytes >> 10,
                info.name,
                have.max_compute_workgroup_storage_size >> 10,
                kernels::WIDE_K
            )));
        }
        limits.max_compute_workgroup_storage_size =
            limits.max_compute_workgroup_storage_size.max(wide_bytes);
        let mut experimental_features = wgpu::ExperimentalFeatures::disabled();
        if let Some(products) = mixed {
            features |= mixed::features(products);
            // SAFETY: wgpu asks its users to acknowledge that experimental
            // features may hide bugs. Only the mixed kernels use cooperative
            // matrices, and tests/mixed.rs holds them to their f64 twin on
            // every adapter that runs them.
            experimental_features = unsafe { wgpu::ExperimentalFeatures::enabled() };
            // The cooperative kernels' workgroups grow with the adapter's
            // subgroups (mixed::usable checked they fit its limits), and
            // delta_half's with its slices.
            let mut n = mixed::MIXED_WORKGROUP * delta_slices;
            if let Products::Coop { size, blocks } = products {
                n = n.max(blocks.largest_workgroup(size, info.subgroup_max_size));
            }
            let most = have
                .max_compute_invocations_per_workgroup
                .min(have.max_compute_workgroup_size_x);
            if n > most {
                return Err(Error::Config(format!(
                    "delta_half in {delta_slices} slices ({}) would need workgroups of {n} \
                     invocations, more than {}'s {most}; one slice needs {}",
                    mixed::DELTA_SLICES_VARIABLE,
                    info.name,
                    mixed::MIXED_WORKGROUP
                )));
            }
            limits.max_compute_invocations_per_workgroup =
                limits.max_compute_invocations_per_workgroup.max(n);
            limits.max_compute_workgroup_size_x = limits.max_compute_workgroup_size_x.max(n);
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shadertrain"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features,
            ..Default::default()
        }))
        .map_err(|e| Error::Device(format!("opening {}: {e}", info.name)))?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().expect("error sink poisoned").push(e);
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *lost_sink.lock().expect("lost flag poisoned") = Some(format!("{reason:?}: {message}"));
        });
        Ok(Context {
            device,
            queue,
            info,
            limits,
            features,
            mixed,
            input_pad,
            wide_step,
            delta_slices,
            shares,
            checked_shaders: request.checked_shaders,
            subgroups_asked: request.subgroups,
            timeout: request.timeout,
            loop_limit: Arc::new(OnceLock::new()),
            uncaptured,
            lost,
        })
    }

    /// Runs `f` (resource or pipeline creation) inside validation and
    /// out-of-memory error scopes; an error names `label`.
    pub fn scoped<T>(&self, label: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o.or(v) {
            return Err(convert(label, e));
        }
        self.check()?;
        Ok(value)
    }

    /// The first error the device reported outside any scope, or its loss.
    pub fn check(&self) -> Result<()> {
        if let Some(why) = self.lost.lock().expect("lost flag poisoned").clone() {
            return Err(Error::DeviceLost(why));
        }
        let mut errors = self.uncaptured.lock().expect("error sink poisoned");
        if !errors.is_empty() {
            let e = errors.remove(0);
            errors.clear();
            return Err(convert("a submitted command", e));
        }
        Ok(())
    }

    /// Blocks until the device has run `submission` (and what was
    /// submitted before it), or fails after the timeout. Work submitted
    /// later, by another thread sharing the device, is not waited for.
    pub fn wait(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        let poll = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: Some(self.timeout),
        });
        self.check()?;
        match poll {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(Error::Device(format!(
                "the device did not finish within {} (--gpu-timeout); give a longer --gpu-timeout",
                units::seconds(self.timeout)
            ))),
            Err(e) => Err(Error::Device(e.to_string())),
        }
    }

    /// Whether the kernels with a subgroup variant (the output layer's)
    /// use it: the device has subgroup operations, and they were not
    /// turned off (the cooperative kernels of `--precision mixed` open it
    /// with them either way, and need them).
    pub fn subgroups(&self) -> bool {
        self.subgroups_asked && self.has_subgroups()
    }

    /// Whether the device was opened with subgroup operations.
    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// The trips one shader invocation's loops may make in all, where the
    /// driver ends them early without an error (Mesa 22.3's lavapipe,
    /// Debian 12's: 65,535); `None` where it runs them all. Probed once
    /// per device ([`trips::probe`]), on software adapters only: no
    /// hardware driver has shown a limit.
    pub fn loop_limit(&self) -> Result<Option<u64>> {
        if !is_software(&self.info) {
            return Ok(None);
        }
        if let Some(&limit) = self.loop_limit.get() {
            return Ok(limit);
        }
        let limit = trips::probe(self)?;
        Ok(*self.loop_limit.get_or_init(|| limit))
    }

    /// Largest storage binding this device accepts, in bytes, and never
    /// more than the kernels' u32 indices reach (some Metal devices allow
    /// more).
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
            .min(u64::from(u32::MAX) + 1)
    }
}

/// A shared context must be usable from every thread that holds it.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
};

fn convert(label: &str, e: wgpu::Error) -> Error {
    match e {
        wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory {
            label: label.to_string(),
            need: None,
        },
        wgpu::Error::Validation { description, .. } => Error::Validation {
            label: label.to_string(),
            message: description,
        },
        wgpu::Error::Internal { description, .. } => {
            Error::Device(format!("internal error in {label}: {description}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_request_or_else_the_environment() {
        let env = || Ok(2);
        assert_eq!(asked_or_env(Some(4), &[1, 2, 4], "slices", env).unwrap(), 4);
        assert_eq!(asked_or_env(None, &[1, 2, 4], "slices", env).unwrap(), 2);
        let err = asked_or_env(Some(3), &[1, 2, 4], "slices", env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("slices of 3: it takes [1, 2, 4]"), "{err}");
        // one_of: unset or empty is the first value; the message lists all.
        assert_eq!(one_of("V", None, &[8, 16], "a step").unwrap(), 8);
        assert_eq!(one_of("V", Some(" 16 "), &[8, 16], "a step").unwrap(), 16);
        let err = one_of("V", Some("5"), &[1, 2, 4], "slices")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("V=5: expected 1 (the default), 2 or 4: slices"),
            "{err}"
        );
    }

    #[test]
    fn a_flag_is_set_by_anything_but_empty_0_or_false() {
        use std::ffi::OsStr;
        assert!(!flag(None));
        for off in ["", "0", "false"] {
            assert!(!flag(Some(OsStr::new(off))), "{off:?}");
        }
        for on in ["1", "true", "yes", "00", "FALSE"] {
            assert!(flag(Some(OsStr::new(on))), "{on:?}");
        }
    }

    /// An adapter of `device_type` on Vulkan named `name`, driver "d".
    fn adapter(name: &str, device_type: wgpu::DeviceType) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.to_string(),
            driver: "d".to_string(),
            ..wgpu::AdapterInfo::new(device_type, wgpu::Backend::Vulkan)
        }
    }

    #[test]
    fn adapters_are_taken_hardware_first_and_by_name_in_any_case() {
        use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu, Other, VirtualGpu};
        let infos = [
            adapter("llvmpipe (LLVM 15.0.6, 256 bits)", Cpu),
            adapter("Some Other Adapter", Other),
            adapter("Virtio GPU", VirtualGpu),
            adapter("Intel Iris Xe", IntegratedGpu),
            adapter("NVIDIA H100", DiscreteGpu),
            adapter("NVIDIA H200", DiscreteGpu),
        ];
        // The adapter at each nth in turn, until it wraps round to the first.
        let order = |request: AdapterRequest| -> Vec<usize> {
            let at = |nth| {
                choose(
                    &infos,
                    &AdapterRequest {
                        nth,
                        ..request.clone()
                    },
                )
            };
            let mut taken = vec![at(0).expect("an adapter")];
            for nth in 1..=infos.len() {
                match at(nth) {
                    Some(i) if i == taken[0] => return taken,
                    Some(i) => taken.push(i),
                    None => panic!("none at {nth}, after {taken:?}"),
                }
            }
            panic!("{taken:?} did not wrap round");
        };
        let any = AdapterRequest {
            allow_software: true,
            ..AdapterRequest::default()
        };
        let hardware = AdapterRequest {
            allow_software: false,
            ..any.clone()
        };
        let named = |name: &str, request: &AdapterRequest| AdapterRequest {
            name: Some(name.to_string()),
            ..request.clone()
        };
        assert_eq!(order(any.clone()), [4, 5, 3, 2, 1, 0]);
        assert_eq!(order(hardware.clone()), [4, 5, 3, 2, 1]);
        assert_eq!(order(named("nvidia", &any)), [4, 5]);
        assert_eq!(order(named("IRIS", &any)), [3]);
        assert_eq!(order(named("iris", &hardware)), [3]);
        assert_eq!(order(named("LLVMpipe", &any)), [0]);
        assert_eq!(choose(&infos, &named("llvmpipe", &hardware)), None);
        assert_eq!(choose(&infos, &named("amd", &any)), None);
        assert_eq!(choose(&[], &any), None);
    }

    #[test]
    fn no_adapter_says_why_and_what_to_do() {
        let lavapipe = [adapter(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            wgpu::DeviceType::Cpu,
        )];
        let tried = "; tried llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu, driver d)";
        let hardware = AdapterRequest {
            allow_software: false,
            ..AdapterRequest::default()
        };
        let named = |name: &str, request: &AdapterRequest| AdapterRequest {
            name: Some(name.to_string()),
            ..request.clone()
        };
        // --backend auto on lavapipe alone: it is there, so no advice to
        // install it.
        assert_eq!(
            no_adapter(&lavapipe, &hardware),
            format!("no hardware adapter{tried}")
        );
        // Named, under auto: the software adapter it names, and the flag
        // that takes it, not advice to name another.
        let why = no_adapter(&lavapipe, &named("LLVM", &hardware));
        assert_eq!(
            why,
            format!(
                "'LLVM' names only the software adapter llvmpipe (LLVM 15.0.6, 256 bits), \
                 and --backend auto looks at hardware adapters only: add --backend gpu to train \
                 on it{tried}"
            )
        );
        // A name that is no adapter's, under auto too: the adapters tried,
        // and no word of the software one it does not name.
        for request in [&hardware, &AdapterRequest::default()] {
            let why = no_adapter(&lavapipe, &named("nvidia", request));
            assert_eq!(
                why,
                format!(
                    "none named like 'nvidia'{tried}. Give --adapter part of one of these \
                     names, or leave it out"
                )
            );
        }
        // Nothing found: install lavapipe, and under auto ask for it.
        if chosen_backends().is_none() {
            let install = format!(
                "tried {BACKENDS} and found nothing. For a software adapter install \
                 Mesa's lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)"
            );
            assert_eq!(
                no_adapter(&[], &AdapterRequest::default()),
                format!("none found; {install}")
            );
            assert_eq!(
                no_adapter(&[], &hardware),
                format!("no hardware adapter; {install} and use --backend gpu")
            );
        }
    }

    #[test]
    fn an_adapter_is_described_by_backend_type_and_driver() {
        let mut info = adapter("llvmpipe", wgpu::DeviceType::Cpu);
        info.driver_info = " Mesa 22.3.6 ".to_string();
        assert_eq!(
            describe(&info),
            "llvmpipe (Vulkan, Cpu, driver d Mesa 22.3.6)"
        );
        info.driver = String::new();
        assert_eq!(driver(&info), "Mesa 22.3.6");
        info.driver_info = " ".to_string();
        assert_eq!(driver(&info), "unknown");
        info.driver = "llvmpipe".to_string();
        assert_eq!(driver(&info), "llvmpipe");
    }
}
