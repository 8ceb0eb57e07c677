//! `info`: the GPU adapters wgpu finds, and which one each backend picks;
//! with `--pipelines`, what the driver makes of each kernel.

use anyhow::{Context as _, Result};

use crate::cli::InfoArgs;
use crate::gpu::kernels::{Family, Kernel, Kernels};
use crate::gpu::mixed::Precision;
use crate::gpu::{self, AdapterRequest, Context};

pub(super) fn info_command(args: &InfoArgs) -> Result<()> {
    if let Some(names) = &args.pipelines {
        return super::emit(&pipelines(names)?.text());
    }
    let mut s = String::new();
    let adapters = gpu::context::adapters();
    if adapters.is_empty() {
        outln!(
            s,
            "no GPU adapters found: tried {}",
            gpu::context::backends_tried()
        );
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
        outln!(s, "    driver  {}", gpu::context::driver(&info));
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
        outln!(s, "    cooperative matrices {}", gpu::mixed::describe(a));
        if gpu::context::is_software(&info) {
            outln!(s, "    loops   {}", loops(a));
        }
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

/// Whether a software adapter's driver ends a shader invocation's loops
/// early ([`Context::loop_limit`]), measured on a device of its own.
fn loops(adapter: &wgpu::Adapter) -> String {
    let request = AdapterRequest {
        allow_software: true,
        ..AdapterRequest::default()
    };
    match Context::open(adapter, &request).and_then(|ctx| ctx.loop_limit()) {
        Ok(Some(limit)) => format!(
            "end after {limit} trips in all, without an error; training plans within that, and \
             refuses what does not fit"
        ),
        Ok(None) => "run every trip (measured)".to_string(),
        Err(e) => format!("not measured: {e}"),
    }
}

/// The statistics of the pipelines of `names` (comma-separated entry
/// points, or `all`: every kernel the device has) on the adapter
/// `--backend gpu` picks, opened for mixed precision where it has
/// cooperative matrices.
fn pipelines(names: &str) -> Result<gpu::stats::Report> {
    let which = match names.trim() {
        "all" => Vec::new(),
        _ => names
            .split(',')
            .map(str::trim)
            .map(|name| {
                if name.is_empty() {
                    anyhow::bail!(
                    "--pipelines {names:?}: an empty kernel name; give entry points separated by \
                     commas, or all"
                );
                }
                // The mixed kernels' activations share an entry point.
                let named: Vec<Kernel> = Kernel::ALL
                    .iter()
                    .copied()
                    .filter(|k| k.entry_point() == name)
                    .collect();
                if named.is_empty() {
                    let mut known: Vec<&str> =
                        Kernel::ALL.iter().map(|k| k.entry_point()).collect();
                    known.dedup();
                    anyhow::bail!(
                        "--pipelines: no kernel is named {name:?}; the kernels are {}",
                        known.join(", ")
                    );
                }
                Ok(named)
            })
            .collect::<Result<Vec<_>>>()?
            .concat(),
    };
    let request = |precision| AdapterRequest {
        precision,
        ..AdapterRequest::default()
    };
    let mut no_mixed = None;
    let ctx = match Context::new(&request(Precision::Mixed)) {
        Err(crate::Error::NoMixed(why)) => {
            no_mixed = Some(why);
            Context::new(&request(Precision::F32))
        }
        opened => opened,
    }?;
    if let (Some(why), Some(k)) = (no_mixed, which.iter().find(|k| k.family() == Family::Mixed)) {
        anyhow::bail!(
            "--pipelines: {} is a kernel of --precision mixed, which this adapter cannot run: {}",
            k.entry_point(),
            gpu::mixed::why_not(&why)
        );
    }
    let kernels = Kernels::new(&ctx)?;
    gpu::stats::pipeline_statistics(&ctx, &kernels, &which)
        .with_context(|| format!("--pipelines on {}", ctx.info.name))
}
