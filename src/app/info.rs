//! `info`: the GPU adapters wgpu finds, and which one each backend picks.

use anyhow::Result;

use crate::gpu::{self, AdapterRequest};

pub(super) fn info_command() -> Result<()> {
    let mut s = String::new();
    let adapters = gpu::context::adapters();
    if adapters.is_empty() {
        outln!(s, "no GPU adapters found (Vulkan, Metal, DX12)");
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        outln!(s, "[{i}] {}", info.name);
        outln!(
            s,
            "    backend {:?}, type {:?}",
            info.backend,
            info.device_type
        );
        outln!(s, "    driver  {} {}", info.driver, info.driver_info);
        outln!(s,
            "    limits  storage binding {} MiB, buffer {} MiB, workgroups/dim {}, workgroup storage {} KiB, invocations {}",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_invocations_per_workgroup
        );
        outln!(
            s,
            "    timestamps {}",
            a.features().contains(wgpu::Features::TIMESTAMP_QUERY)
        );
        outln!(
            s,
            "    subgroups {}",
            a.features().contains(wgpu::Features::SUBGROUP)
        );
        outln!(s, "    cooperative matrices {}", gpu::coop::describe(a));
    }
    for (name, allow_software) in [("auto", false), ("gpu", true)] {
        let request = AdapterRequest {
            allow_software,
            ..AdapterRequest::default()
        };
        match gpu::context::pick(gpu::context::adapters(), &request) {
            Ok(a) => outln!(s, "--backend {name} would use: {}", a.get_info().name),
            Err(_) if name == "auto" => {
                outln!(s, "--backend auto would use: the CPU (no hardware GPU)")
            }
            Err(e) => outln!(s, "--backend {name}: {e}"),
        }
    }
    super::emit(&s)
}
