//! `tessera info`: adapters, their features and limits, and the processors a runtime opens.

use serde::Serialize;
use tessera::{AdapterInfo, Caps, ProcessorInfo, Runtime};

use crate::Cli;

#[derive(Serialize)]
struct Report {
    tessera: &'static str,
    adapters: Vec<AdapterInfo>,
    hidden_duplicates: Vec<AdapterInfo>,
    devices_env: Option<String>,
    processors: Vec<ProcessorInfo>,
    cpu_threads: usize,
    placement: String,
}

fn yes(c: Caps, cap: Caps) -> &'static str {
    if c.contains(cap) { "yes" } else { "no" }
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

pub(crate) fn run(cli: &Cli, json: bool) -> tessera::Result<()> {
    let (adapters, duplicates) = Runtime::adapters();
    let rt = cli.runtime()?;
    let report = Report {
        tessera: env!("CARGO_PKG_VERSION"),
        adapters,
        hidden_duplicates: duplicates,
        devices_env: std::env::var("TESSERA_DEVICES").ok(),
        processors: rt.processors(),
        cpu_threads: rt.cpu_threads(),
        placement: rt.placement().to_string(),
    };
    if json {
        let s = serde_json::to_string_pretty(&report)
            .map_err(|e| tessera::Error::Config(format!("cannot serialise the report: {e}")))?;
        println!("{s}");
        return Ok(());
    }
    println!("tessera {} (wgpu 30)", report.tessera);
    if report.adapters.is_empty() {
        println!("\nNo GPU adapter found. Tasks will run on the CPU.");
        println!("  (On Debian/Ubuntu, `apt-get install mesa-vulkan-drivers` provides lavapipe.)");
    } else {
        println!("\nAdapters:");
    }
    for a in &report.adapters {
        let vendor = if a.vendor_name.is_empty() {
            format!("{:#x}", a.vendor)
        } else {
            format!("{} ({:#x})", a.vendor_name, a.vendor)
        };
        println!("  [{}] {}", a.index, a.name);
        println!(
            "      backend {}, type {}{}, vendor {vendor}, device {:#x}",
            a.backend,
            a.device_type,
            if a.software { " (software)" } else { "" },
            a.device
        );
        println!("      driver {} ({})", a.driver, a.driver_info);
        let sub = match a.subgroup_size {
            Some((lo, hi)) if lo == hi => format!("yes (size {lo})"),
            Some((lo, hi)) => format!("yes (size {lo}..{hi})"),
            None => "no".into(),
        };
        println!(
            "      f64 {}, f16 {}, subgroups {sub}, timestamps {}",
            yes(a.caps, Caps::F64),
            yes(a.caps, Caps::F16),
            yes(a.caps, Caps::TIMESTAMPS)
        );
        let l = &a.limits;
        println!(
            "      limits: storage binding {}, buffer {}, {} storage buffers/stage, workgroup {} invocations and {} KiB, {} workgroups/dim",
            mib(l.max_storage_buffer_binding_size),
            mib(l.max_buffer_size),
            l.max_storage_buffers_per_shader_stage,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size / 1024,
            l.max_compute_workgroups_per_dimension
        );
    }
    for d in &report.hidden_duplicates {
        println!(
            "  (hidden: {} through {}, the same device as above through a better backend)",
            d.name, d.backend
        );
    }
    println!("\nProcessors of this runtime:");
    for p in &report.processors {
        let extra = if p.embedded {
            " (application's device)"
        } else {
            ""
        };
        println!("  {}{extra}", p.name);
    }
    if let Some(spec) = &report.devices_env {
        println!("  (TESSERA_DEVICES={spec})");
    }
    println!("Placement policy: {}", report.placement);
    Ok(())
}
