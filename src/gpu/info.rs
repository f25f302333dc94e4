//! Plain descriptions of adapters and devices, for `tessera info`, placement and users.

use serde::Serialize;

use crate::dtype::Caps;

/// What an adapter is: name, vendor, backend, driver, capabilities, limits.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterInfo {
    /// Position in discovery order (what `TESSERA_DEVICES` indices refer to).
    pub index: usize,
    /// Adapter name as the driver reports it.
    pub name: String,
    /// PCI vendor id (or the backend's equivalent).
    pub vendor: u32,
    /// Vendor name when the id is a known one.
    pub vendor_name: &'static str,
    /// PCI device id (or the backend's equivalent).
    pub device: u32,
    /// `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu`, `Other`.
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version information.
    pub driver_info: String,
    /// Whether the adapter runs shaders on the CPU (a software rasterizer such as lavapipe).
    pub software: bool,
    /// Optional capabilities: f64, f16, subgroups, timestamps.
    #[serde(serialize_with = "ser_caps")]
    pub caps: Caps,
    /// Subgroup size range, when subgroups are supported.
    pub subgroup_size: Option<(u32, u32)>,
    /// The limits that matter for compute.
    pub limits: DeviceLimits,
    /// A driver's cap on loop iterations per shader invocation, summed over all loops, past
    /// which loops stop silently: 65535 on Mesa's llvmpipe (lavapipe). Kernels declare their
    /// counts, and calls that would exceed the cap run elsewhere.
    pub loop_iteration_limit: Option<u64>,
}

fn ser_caps<S: serde::Serializer>(c: &Caps, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(c.names())
}

impl AdapterInfo {
    /// A short description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]`.
    pub fn summary(&self) -> String {
        format!("{} [{}, {}]", self.name, self.backend, self.device_type)
    }
}

/// Compute limits of a device (its adapter's full limits, which tessera requests).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Largest storage buffer binding in bytes (the largest tile one kernel argument can be).
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer in bytes.
    pub max_buffer_size: u64,
    /// Storage buffers one compute shader may bind.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Workgroup memory in bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Alignment of uniform buffer binding offsets.
    pub min_uniform_buffer_offset_alignment: u32,
    /// Alignment of storage buffer binding offsets.
    pub min_storage_buffer_offset_alignment: u32,
}

impl From<&wgpu::Limits> for DeviceLimits {
    fn from(l: &wgpu::Limits) -> Self {
        DeviceLimits {
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            min_uniform_buffer_offset_alignment: l.min_uniform_buffer_offset_alignment,
            min_storage_buffer_offset_alignment: l.min_storage_buffer_offset_alignment,
        }
    }
}

pub(crate) fn vendor_name(id: u32) -> &'static str {
    match id {
        0x10de => "NVIDIA",
        0x1002 | 0x1022 => "AMD",
        0x8086 => "Intel",
        0x106b => "Apple",
        0x5143 => "Qualcomm",
        0x13b5 => "ARM",
        0x1010 => "Imagination",
        0x10005 => "Mesa",
        0x1414 => "Microsoft",
        _ => "",
    }
}

/// The capabilities tessera uses from a feature set.
pub(crate) fn caps_of(f: wgpu::Features) -> Caps {
    let mut c = Caps::NONE;
    if f.contains(wgpu::Features::SHADER_F64) {
        c = c | Caps::F64;
    }
    if f.contains(wgpu::Features::SHADER_F16) {
        c = c | Caps::F16;
    }
    if f.contains(wgpu::Features::SUBGROUP) {
        c = c | Caps::SUBGROUPS;
    }
    if f.contains(wgpu::Features::TIMESTAMP_QUERY) {
        c = c | Caps::TIMESTAMPS;
    }
    c
}

/// The wgpu features behind capabilities `c` (the inverse of [`caps_of`]).
pub(crate) fn features_of(c: Caps) -> wgpu::Features {
    use wgpu::Features as F;
    let mut f = F::empty();
    if c.contains(Caps::F64) {
        f |= F::SHADER_F64;
    }
    if c.contains(Caps::F16) {
        f |= F::SHADER_F16;
    }
    if c.contains(Caps::SUBGROUPS) {
        f |= F::SUBGROUP;
    }
    if c.contains(Caps::TIMESTAMPS) {
        f |= F::TIMESTAMP_QUERY
            | F::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | F::TIMESTAMP_QUERY_INSIDE_PASSES;
    }
    f
}

/// The features tessera requests when the adapter has them.
pub(crate) fn wanted_features() -> wgpu::Features {
    use wgpu::Features as F;
    F::SHADER_F64
        | F::SHADER_F16
        | F::SUBGROUP
        | F::TIMESTAMP_QUERY
        | F::TIMESTAMP_QUERY_INSIDE_ENCODERS
        | F::TIMESTAMP_QUERY_INSIDE_PASSES
        | F::PIPELINE_CACHE
        | F::SHADER_INT64
        | F::SHADER_FLOAT32_ATOMIC
}

pub(crate) fn describe(index: usize, adapter: &wgpu::Adapter) -> AdapterInfo {
    from_wgpu(
        index,
        adapter.get_info(),
        adapter.features(),
        &adapter.limits(),
    )
}

/// Our description from wgpu's adapter info and the features and limits of an adapter or device.
pub(crate) fn from_wgpu(
    index: usize,
    i: wgpu::AdapterInfo,
    features: wgpu::Features,
    limits: &wgpu::Limits,
) -> AdapterInfo {
    let caps = caps_of(features);
    let mut info = AdapterInfo {
        index,
        vendor_name: vendor_name(i.vendor),
        software: i.device_type == wgpu::DeviceType::Cpu,
        subgroup_size: caps
            .contains(Caps::SUBGROUPS)
            .then_some((i.subgroup_min_size, i.subgroup_max_size)),
        name: i.name,
        vendor: i.vendor,
        device: i.device,
        backend: format!("{:?}", i.backend),
        device_type: format!("{:?}", i.device_type),
        driver: i.driver,
        driver_info: i.driver_info,
        caps,
        limits: DeviceLimits::from(limits),
        loop_iteration_limit: None,
    };
    // Mesa's gallivm (llvmpipe, and lavapipe on it) terminates loops after 65535 iterations
    // shared by every loop of a shader invocation (LP_MAX_TGSI_LOOP_ITERATIONS).
    if info.driver.eq_ignore_ascii_case("llvmpipe") || info.name.starts_with("llvmpipe") {
        info.loop_iteration_limit = Some(65535);
    }
    info
}
