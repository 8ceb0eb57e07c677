//! What the driver makes of each kernel: its pipeline's statistics
//! (registers, memory, instructions: whatever the driver reports through
//! `VK_KHR_pipeline_executable_properties`), for `shadertrain info
//! --pipelines`. A kernel's time on a GPU follows from how many of its
//! workgroups fit on a multiprocessor at once, which its registers and
//! workgroup memory decide, and wgpu does not say.
//!
//! wgpu builds its pipelines without asking for statistics, so this opens
//! a Vulkan device of its own on the adapter the [`Context`] runs on, with
//! the features of wgpu 30's device that change how a compute kernel
//! compiles, where the adapter has them: robust buffer access (and robust
//! buffer access 2), f16 and 16-bit storage, the Vulkan memory model,
//! subgroup size control, cooperative matrices (without their own robust
//! access, which wgpu leaves off). It builds each kernel's pipeline again
//! the way wgpu does: the module's WGSL as [`Kernels`] compiled it (the
//! settings written in), through naga to SPIR-V (Vulkan 1.3's) with
//! wgpu's bounds checks, loop bounding and division guards for a checked
//! module and none for an unchecked one, workgroup memory not zeroed, the
//! same pipeline constants, a layout of the entry point's own bindings,
//! and a varying subgroup size allowed where the device has subgroups.
//! naga may use any capability it needs (wgpu lists the device's; the
//! kernels need none it lacks), and image bounds are not wgpu's (the
//! kernels have no images). The fused kernels are built with their
//! default constants, not a shape's. Where the driver offers no
//! statistics (lavapipe does not), each pipeline is still built, so the
//! report says the driver accepted it.

use std::collections::HashMap;
use std::ffi::{c_char, CStr};

use ash::vk;

use crate::error::{Error, Result};
use crate::gpu::context::Context;
use crate::gpu::kernels::{Checks, Kernel, Kernels, Program};

/// The statistics of each kernel's pipeline on one device.
#[derive(Clone, Debug)]
pub struct Report {
    /// The Vulkan device's name.
    pub device: String,
    /// Whether the driver reports statistics; where it does not, every
    /// pipeline was still built, with no executables listed.
    pub offered: bool,
    pub pipelines: Vec<PipelineStats>,
}

/// One kernel's pipeline.
#[derive(Clone, Debug)]
pub struct PipelineStats {
    pub kernel: Kernel,
    /// The module it was built from, whether wgpu checks it, and its
    /// pipeline constants.
    pub module: String,
    pub checks: Checks,
    pub constants: Vec<(&'static str, f64)>,
    /// The bindings of group 0 its pipeline's layout has: the entry
    /// point's own, as wgpu derives them.
    pub bindings: Vec<u32>,
    /// Each executable the driver made of it (one for a compute shader).
    pub executables: Vec<Executable>,
}

/// One executable of a pipeline and its statistics, as the driver names
/// them, in the driver's order.
#[derive(Clone, Debug)]
pub struct Executable {
    pub name: String,
    pub subgroup_size: u32,
    pub statistics: Vec<(String, String)>,
}

impl Report {
    /// The report as text: a line per kernel (its entry point, and its
    /// pipeline constants where it has any: the mixed kernels' workgroup
    /// size and activation), then one per executable with its statistics.
    pub fn text(&self) -> String {
        let mut s = format!("pipelines on {}", self.device);
        if !self.offered {
            s += " (the driver reports no statistics: each pipeline was built, that is all)";
        }
        s.push('\n');
        for p in &self.pipelines {
            let checks = match p.checks {
                Checks::Checked => "bounds checked",
                Checks::Unchecked => "bounds unchecked",
            };
            let constants: Vec<String> = p
                .constants
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            let constants = match constants.is_empty() {
                true => String::new(),
                false => format!(" [{}]", constants.join(", ")),
            };
            s += &format!(
                "{}{constants} ({}, {checks})\n",
                p.kernel.entry_point(),
                p.module
            );
            for e in &p.executables {
                let stats: Vec<String> = e
                    .statistics
                    .iter()
                    .map(|(name, value)| format!("{name} {value}"))
                    .collect();
                s += &format!(
                    "    {} (subgroup {}): {}\n",
                    e.name,
                    e.subgroup_size,
                    stats.join(", ")
                );
            }
        }
        s
    }
}

/// Builds the pipeline of each of `which` (every kernel `kernels` has a
/// module for, where empty) on `ctx`'s adapter and reads its statistics.
/// An error where the adapter is not a Vulkan one, where a kernel of
/// `which` has no module on this device, or where Vulkan refuses a step.
pub fn pipeline_statistics(ctx: &Context, kernels: &Kernels, which: &[Kernel]) -> Result<Report> {
    if ctx.info.backend != wgpu::Backend::Vulkan {
        return Err(Error::Config(format!(
            "pipeline statistics come from Vulkan drivers only; {} is a {:?} adapter",
            ctx.info.name, ctx.info.backend
        )));
    }
    // Each kernel once, in the order asked.
    let mut seen = std::collections::HashSet::new();
    let asked: Vec<Kernel> = which.iter().copied().filter(|&k| seen.insert(k)).collect();
    let programs: Vec<(Kernel, Program)> = match which {
        [] => Kernel::ALL
            .iter()
            .filter_map(|&k| kernels.program(ctx, k).ok().map(|p| (k, p)))
            .collect(),
        _ => asked
            .iter()
            .map(|&k| kernels.program(ctx, k).map(|p| (k, p)))
            .collect::<Result<_>>()?,
    };
    let vulkan = Vulkan::open(ctx)?;
    let mut parsed: HashMap<String, (naga::Module, naga::valid::ModuleInfo)> = HashMap::new();
    let mut pipelines = Vec::new();
    for (k, program) in programs {
        let (module, info) = match parsed.entry(program.module.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(parse(&program)?),
        };
        let entry = spirv(k, &program, module, info, vulkan.robust)?;
        let executables = vulkan.statistics(k, &entry, ctx.has_subgroups())?;
        pipelines.push(PipelineStats {
            kernel: k,
            module: program.module,
            checks: program.checks,
            constants: program.constants,
            bindings: entry.bindings.iter().map(|&(b, _)| b).collect(),
            executables,
        });
    }
    Ok(Report {
        device: vulkan.name.clone(),
        offered: vulkan.offered,
        pipelines,
    })
}

/// A program's module, parsed and validated (wgpu has compiled the same
/// WGSL already, so an error here is naga's, not the user's).
fn parse(program: &Program) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let fail = |what: String| Error::Config(format!("{}: {what}", program.module));
    let module = naga::front::wgsl::parse_str(&program.source)
        .map_err(|e| fail(e.emit_to_string(&program.source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| fail(e.emit_to_string(&program.source)))?;
    Ok((module, info))
}

/// One kernel's SPIR-V and the bindings of its layout, in binding order.
struct Entry {
    words: Vec<u32>,
    bindings: Vec<(u32, vk::DescriptorType)>,
}

/// `k`'s SPIR-V, as wgpu writes it for the program (see the module's
/// comment), and its layout's bindings: those of the module naga keeps
/// for the entry point alone; `robust`: the device has robust buffer
/// access 2, under which wgpu leaves a checked module's buffer accesses to
/// the driver.
fn spirv(
    k: Kernel,
    program: &Program,
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    robust: bool,
) -> Result<Entry> {
    use naga::back::spv;
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
    let fail = |what: String| Error::Config(format!("{}: {what}", k.entry_point()));
    let mut constants = naga::back::PipelineConstants::default();
    for &(name, value) in &program.constants {
        constants.insert(name.to_string(), value);
    }
    let stage = naga::ShaderStage::Compute;
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        module,
        info,
        Some((stage, k.entry_point())),
        &constants,
    )
    .map_err(|e| fail(e.to_string()))?;
    let checked = program.checks == Checks::Checked;
    let policy = match checked {
        true => BoundsCheckPolicy::Restrict,
        false => BoundsCheckPolicy::Unchecked,
    };
    let options = spv::Options {
        lang_version: (1, 6),
        bounds_check_policies: BoundsCheckPolicies {
            index: policy,
            buffer: if robust {
                BoundsCheckPolicy::Unchecked
            } else {
                policy
            },
            image_load: policy,
            binding_array: BoundsCheckPolicy::Unchecked,
        },
        zero_initialize_workgroup_memory: match k.zeroes_workgroup_memory() {
            true => spv::ZeroInitializeWorkgroupMemoryMode::Native,
            false => spv::ZeroInitializeWorkgroupMemoryMode::None,
        },
        force_loop_bounding: checked,
        emit_int_div_checks: checked,
        ..spv::Options::default()
    };
    let pipeline = spv::PipelineOptions {
        shader_stage: stage,
        entry_point: k.entry_point().to_string(),
    };
    let words = spv::write_vec(&module, &info, &options, Some(&pipeline))
        .map_err(|e| fail(e.to_string()))?;
    let mut bindings = Vec::new();
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        let kind = match var.space {
            naga::AddressSpace::Uniform => vk::DescriptorType::UNIFORM_BUFFER,
            naga::AddressSpace::Storage { .. } => vk::DescriptorType::STORAGE_BUFFER,
            other => {
                return Err(fail(format!(
                    "a binding in {other:?}, which is not a buffer"
                )))
            }
        };
        if binding.group != 0 {
            return Err(fail(format!("a binding in group {}", binding.group)));
        }
        bindings.push((binding.binding, kind));
    }
    bindings.sort_by_key(|&(b, _)| b);
    Ok(Entry { words, bindings })
}

/// A Vulkan instance and device of this report's own on the context's
/// adapter; dropped (device, then instance) when the report is done.
struct Vulkan {
    // The loader's entry points must outlive the instance.
    _entry: ash::Entry,
    instance: ash::Instance,
    device: ash::Device,
    /// The statistics calls, where `offered`.
    executables: Option<ash::khr::pipeline_executable_properties::Device>,
    name: String,
    offered: bool,
    robust: bool,
}

/// A Vulkan call's failure as an error naming the call.
fn refused(call: &str) -> impl Fn(vk::Result) -> Error + '_ {
    move |result| {
        Error::Config(format!(
            "pipeline statistics: Vulkan {call} failed: {result}"
        ))
    }
}

/// A driver's fixed-size text field as a string.
fn text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Vulkan {
    fn open(ctx: &Context) -> Result<Vulkan> {
        // SAFETY: loads the system's Vulkan loader, as wgpu has already
        // done in this process.
        let entry = unsafe { ash::Entry::load() }
            .map_err(|e| Error::Config(format!("pipeline statistics: no Vulkan loader: {e}")))?;
        let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_3);
        // SAFETY: a valid create info with no layers or extensions.
        let instance = unsafe {
            entry.create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
        }
        .map_err(refused("vkCreateInstance"))?;
        match Vulkan::open_device(ctx, &instance) {
            Ok((device, name, offered, robust)) => {
                let executables = offered.then(|| {
                    ash::khr::pipeline_executable_properties::Device::new(&instance, &device)
                });
                Ok(Vulkan {
                    _entry: entry,
                    instance,
                    device,
                    executables,
                    name,
                    offered,
                    robust,
                })
            }
            Err(e) => {
                // SAFETY: nothing was created from the instance but what
                // open_device destroyed.
                unsafe { instance.destroy_instance(None) };
                Err(e)
            }
        }
    }

    /// A device on the physical device wgpu's adapter is, with wgpu's
    /// features that change a kernel's code (the module's comment) where
    /// it has them, and whether it offers statistics and robust buffer
    /// access 2.
    fn open_device(
        ctx: &Context,
        instance: &ash::Instance,
    ) -> Result<(ash::Device, String, bool, bool)> {
        // SAFETY: a valid instance.
        let physical = unsafe { instance.enumerate_physical_devices() }
            .map_err(refused("vkEnumeratePhysicalDevices"))?;
        let (physical, props) = physical
            .into_iter()
            // SAFETY: physical devices this instance listed.
            .map(|p| (p, unsafe { instance.get_physical_device_properties(p) }))
            .find(|(_, props)| {
                props.vendor_id == ctx.info.vendor
                    && props.device_id == ctx.info.device
                    && text(&props.device_name) == ctx.info.name
            })
            .ok_or_else(|| {
                Error::Config(format!(
                    "pipeline statistics: Vulkan lists no device named {}",
                    ctx.info.name
                ))
            })?;
        let name = text(&props.device_name);
        if props.api_version < vk::API_VERSION_1_3 {
            return Err(Error::Config(format!(
                "pipeline statistics need Vulkan 1.3; {name} has {}.{}",
                vk::api_version_major(props.api_version),
                vk::api_version_minor(props.api_version)
            )));
        }
        // SAFETY: a physical device of this instance.
        let extensions = unsafe { instance.enumerate_device_extension_properties(physical) }
            .map_err(refused("vkEnumerateDeviceExtensionProperties"))?;
        let has = |wanted: &CStr| {
            extensions
                .iter()
                .any(|e| e.extension_name_as_c_str().is_ok_and(|n| n == wanted))
        };
        let offered = has(ash::khr::pipeline_executable_properties::NAME);
        let coop = has(ash::khr::cooperative_matrix::NAME);
        let robust = has(ash::ext::robustness2::NAME);
        // What the device has.
        let mut v11 = vk::PhysicalDeviceVulkan11Features::default();
        let mut v12 = vk::PhysicalDeviceVulkan12Features::default();
        let mut v13 = vk::PhysicalDeviceVulkan13Features::default();
        let mut stats = vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default();
        let mut matrices = vk::PhysicalDeviceCooperativeMatrixFeaturesKHR::default();
        let mut robustness = vk::PhysicalDeviceRobustness2FeaturesEXT::default();
        let mut has = vk::PhysicalDeviceFeatures2::default()
            .push_next(&mut v11)
            .push_next(&mut v12)
            .push_next(&mut v13);
        if offered {
            has = has.push_next(&mut stats);
        }
        if coop {
            has = has.push_next(&mut matrices);
        }
        if robust {
            has = has.push_next(&mut robustness);
        }
        // SAFETY: a chain of structures this instance's Vulkan 1.3 knows,
        // each for an extension the device lists.
        unsafe { instance.get_physical_device_features2(physical, &mut has) };
        let core = has.features;
        let on = |f: vk::Bool32| f == vk::TRUE;
        let offered = offered && on(stats.pipeline_executable_info);
        let coop = coop && on(matrices.cooperative_matrix);
        let robust = robust && on(robustness.robust_buffer_access2);
        // What wgpu's device has of it (the module's comment).
        let mut e11 = vk::PhysicalDeviceVulkan11Features::default()
            .storage_buffer16_bit_access(on(v11.storage_buffer16_bit_access))
            .uniform_and_storage_buffer16_bit_access(on(
                v11.uniform_and_storage_buffer16_bit_access
            ));
        let mut e12 = vk::PhysicalDeviceVulkan12Features::default()
            .shader_float16(on(v12.shader_float16))
            .vulkan_memory_model(on(v12.vulkan_memory_model))
            .vulkan_memory_model_device_scope(on(v12.vulkan_memory_model_device_scope));
        let mut e13 = vk::PhysicalDeviceVulkan13Features::default()
            .subgroup_size_control(on(v13.subgroup_size_control))
            .shader_zero_initialize_workgroup_memory(
                on(v13.shader_zero_initialize_workgroup_memory),
            )
            .robust_image_access(on(v13.robust_image_access));
        let mut e_stats = vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default()
            .pipeline_executable_info(true);
        let mut e_matrices =
            vk::PhysicalDeviceCooperativeMatrixFeaturesKHR::default().cooperative_matrix(true);
        let mut e_robustness = vk::PhysicalDeviceRobustness2FeaturesEXT::default()
            .robust_buffer_access2(true)
            .robust_image_access2(on(robustness.robust_image_access2));
        let mut features = vk::PhysicalDeviceFeatures2::default()
            .features(
                vk::PhysicalDeviceFeatures::default()
                    .robust_buffer_access(on(core.robust_buffer_access)),
            )
            .push_next(&mut e11)
            .push_next(&mut e12)
            .push_next(&mut e13);
        let mut names = Vec::new();
        if offered {
            names.push(ash::khr::pipeline_executable_properties::NAME.as_ptr());
            features = features.push_next(&mut e_stats);
        }
        if coop {
            names.push(ash::khr::cooperative_matrix::NAME.as_ptr());
            features = features.push_next(&mut e_matrices);
        }
        if robust {
            names.push(ash::ext::robustness2::NAME.as_ptr());
            features = features.push_next(&mut e_robustness);
        }
        let queue = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(0)
            .queue_priorities(&[1.0])];
        let create = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queue)
            .enabled_extension_names(&names)
            .push_next(&mut features);
        // SAFETY: every feature enabled is one the device reported, each
        // extension structure's extension enabled with it.
        let device = unsafe { instance.create_device(physical, &create, None) }
            .map_err(refused("vkCreateDevice"))?;
        Ok((device, name, offered, robust))
    }

    /// Builds `k`'s pipeline from `entry`, reads its executables'
    /// statistics where offered, and destroys what it built.
    fn statistics(&self, k: Kernel, entry: &Entry, subgroups: bool) -> Result<Vec<Executable>> {
        let d = &self.device;
        let bindings: Vec<vk::DescriptorSetLayoutBinding> = entry
            .bindings
            .iter()
            .map(|&(binding, kind)| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(binding)
                    .descriptor_type(kind)
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE)
            })
            .collect();
        let mut made = Made::new(d);
        // SAFETY (each call below): valid create infos on this device;
        // what is made is destroyed by `made` when this returns.
        made.shader = unsafe {
            d.create_shader_module(
                &vk::ShaderModuleCreateInfo::default().code(&entry.words),
                None,
            )
        }
        .map_err(refused("vkCreateShaderModule"))?;
        made.set = unsafe {
            d.create_descriptor_set_layout(
                &vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings),
                None,
            )
        }
        .map_err(refused("vkCreateDescriptorSetLayout"))?;
        let sets = [made.set];
        made.layout = unsafe {
            d.create_pipeline_layout(
                &vk::PipelineLayoutCreateInfo::default().set_layouts(&sets),
                None,
            )
        }
        .map_err(refused("vkCreatePipelineLayout"))?;
        let name = std::ffi::CString::new(k.entry_point()).expect("entry points have no NUL");
        let mut stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(made.shader)
            .name(&name);
        if subgroups {
            stage = stage.flags(vk::PipelineShaderStageCreateFlags::ALLOW_VARYING_SUBGROUP_SIZE);
        }
        let mut create = vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(made.layout);
        if self.offered {
            create = create.flags(vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR);
        }
        made.pipeline =
            unsafe { d.create_compute_pipelines(vk::PipelineCache::null(), &[create], None) }
                .map_err(|(_, result)| result)
                .map_err(refused("vkCreateComputePipelines"))?[0];
        let Some(calls) = &self.executables else {
            return Ok(Vec::new());
        };
        let info = vk::PipelineInfoKHR::default().pipeline(made.pipeline);
        let executables = unsafe { calls.get_pipeline_executable_properties(&info) }
            .map_err(refused("vkGetPipelineExecutablePropertiesKHR"))?;
        let mut out = Vec::new();
        for (i, e) in executables.iter().enumerate() {
            let which = vk::PipelineExecutableInfoKHR::default()
                .pipeline(made.pipeline)
                .executable_index(i as u32);
            let statistics = unsafe { calls.get_pipeline_executable_statistics(&which) }
                .map_err(refused("vkGetPipelineExecutableStatisticsKHR"))?
                .iter()
                .map(|s| (text(&s.name), value(s)))
                .collect();
            out.push(Executable {
                name: text(&e.name),
                subgroup_size: e.subgroup_size,
                statistics,
            });
        }
        Ok(out)
    }
}

/// A statistic's value as its format says.
fn value(s: &vk::PipelineExecutableStatisticKHR) -> String {
    // SAFETY: the union's field is the one `format` names.
    unsafe {
        match s.format {
            vk::PipelineExecutableStatisticFormatKHR::BOOL32 => {
                (s.value.b32 == vk::TRUE).to_string()
            }
            vk::PipelineExecutableStatisticFormatKHR::INT64 => s.value.i64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::UINT64 => s.value.u64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::FLOAT64 => s.value.f64.to_string(),
            other => format!("(format {other:?})"),
        }
    }
}

/// What one pipeline's statistics made, destroyed in reverse on drop (a
/// null handle is skipped by Vulkan's destroy calls).
struct Made<'a> {
    device: &'a ash::Device,
    shader: vk::ShaderModule,
    set: vk::DescriptorSetLayout,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
}

impl<'a> Made<'a> {
    fn new(device: &'a ash::Device) -> Made<'a> {
        Made {
            device,
            shader: vk::ShaderModule::null(),
            set: vk::DescriptorSetLayout::null(),
            layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
        }
    }
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        // SAFETY: each handle is null or made on this device, and no
        // command buffer uses it.
        unsafe {
            self.device.destroy_pipeline(self.pipeline, None);
            self.device.destroy_pipeline_layout(self.layout, None);
            self.device.destroy_descriptor_set_layout(self.set, None);
            self.device.destroy_shader_module(self.shader, None);
        }
    }
}

impl Drop for Vulkan {
    fn drop(&mut self) {
        // SAFETY: every object made on the device is destroyed (`Made`),
        // and the device before the instance it came from.
        unsafe {
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_where_the_driver_gave_no_statistics() {
        let reduce = PipelineStats {
            kernel: Kernel::Reduce,
            module: "update.wgsl".to_string(),
            checks: Checks::Unchecked,
            constants: Vec::new(),
            bindings: vec![0, 1, 2],
            executables: Vec::new(),
        };
        let mut report = Report {
            device: "llvmpipe".to_string(),
            offered: false,
            pipelines: vec![reduce.clone()],
        };
        assert_eq!(
            report.text(),
            "pipelines on llvmpipe (the driver reports no statistics: each pipeline was \
             built, that is all)\nreduce (update.wgsl, bounds unchecked)\n"
        );
        report.offered = true;
        report.pipelines[0] = PipelineStats {
            checks: Checks::Checked,
            constants: vec![("COOP", 128.0), ("DELTA", 256.0)],
            executables: vec![Executable {
                name: "Compute".to_string(),
                subgroup_size: 32,
                statistics: vec![
                    ("Registers".to_string(), "40".to_string()),
                    ("Spills".to_string(), "0".to_string()),
                ],
            }],
            ..reduce
        };
        assert_eq!(
            report.text(),
            "pipelines on llvmpipe\nreduce [COOP=128, DELTA=256] (update.wgsl, bounds checked)\n    \
             Compute (subgroup 32): Registers 40, Spills 0\n"
        );
    }
}
