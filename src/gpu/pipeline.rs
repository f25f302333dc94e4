//! Pipelines, created once per (kernel variant, device) and cached, failures included.
//!
//! The bind group layout is explicit (from the kernel's access signature), not derived from the
//! shader, so an entry point that leaves a binding unused still matches the bind groups we make.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, GpuError, Result};
use crate::kernels::{GpuKernel, GpuVariant, Mode};

pub(crate) struct Pipeline {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    pipelines: Mutex<HashMap<u64, Result<Arc<Pipeline>>>>,
    modules: Mutex<HashMap<u64, wgpu::ShaderModule>>,
}

impl PipelineCache {
    /// The pipeline for `kernel` with argument `modes`, creating it on first use.
    pub(crate) fn get(
        &self,
        device: &wgpu::Device,
        device_label: &str,
        name: &str,
        kernel: &GpuKernel,
        variant: &GpuVariant,
        modes: &[Mode],
    ) -> Result<Arc<Pipeline>> {
        if let Some(p) = self.pipelines.lock().get(&variant.key) {
            return p.clone();
        }
        // Created outside the lock: compiling can take a while and other kernels may be needed
        // meanwhile. Two threads racing on one key both compile; the first result is kept.
        let made = self.create(device, device_label, name, kernel, variant, modes);
        self.pipelines
            .lock()
            .entry(variant.key)
            .or_insert(made)
            .clone()
    }

    /// Number of cached pipelines (successful or not).
    pub(crate) fn len(&self) -> usize {
        self.pipelines.lock().len()
    }

    fn module(&self, device: &wgpu::Device, variant: &GpuVariant) -> wgpu::ShaderModule {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        variant.source.hash(&mut h);
        let key = h.finish();
        self.modules
            .lock()
            .entry(key)
            .or_insert_with(|| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some("tessera kernel"),
                    source: wgpu::ShaderSource::Wgsl(variant.source.to_string().into()),
                })
            })
            .clone()
    }

    fn create(
        &self,
        device: &wgpu::Device,
        device_label: &str,
        name: &str,
        kernel: &GpuKernel,
        variant: &GpuVariant,
        modes: &[Mode],
    ) -> Result<Arc<Pipeline>> {
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);

        let module = self.module(device, variant);
        let reflection = &variant.reflection;
        // Minimum sizes from the shader make a too-small binding fail when its bind group is
        // created (one job fails) rather than when the batch is encoded (the whole batch fails).
        let storage = |binding: u32, read_only: bool| wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: reflection.min_size(binding),
        };
        let mut entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .arg_bindings
            .iter()
            .zip(modes)
            .map(|(&binding, &mode)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: storage(binding, mode == Mode::Read),
                count: None,
            })
            .collect();
        if kernel.has_uniform {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: kernel.params_binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: reflection.params_type(kernel.params_binding),
                    has_dynamic_offset: false,
                    min_binding_size: reflection.min_size(kernel.params_binding),
                },
                count: None,
            });
        }
        if kernel.status.is_some() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: kernel.status_binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: storage(kernel.status_binding, false),
                count: None,
            });
        }
        let label = format!("tessera {name}/{}", variant.name);
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let constants: Vec<(&str, f64)> = variant
            .constants
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(&variant.entry_point),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: true,
            },
            cache: None,
        });

        let internal = pollster::block_on(internal.pop());
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = validation.or(internal) {
            return Err(Error::Gpu(GpuError::Pipeline {
                kernel: name.to_string(),
                device: device_label.to_string(),
                message: e.to_string(),
            }));
        }
        if oom.is_some() {
            return Err(Error::Gpu(GpuError::OutOfMemory {
                device: device_label.to_string(),
                bytes: 0,
            }));
        }
        Ok(Arc::new(Pipeline { pipeline, layout }))
    }
}

/// What pipeline layouts need to know about a shader's group-0 bindings, read with naga from the
/// module parsed when the kernel was built (`GpuKernel` validation).
#[derive(Default)]
pub(crate) struct Reflection {
    /// Binding -> (address space, minimum binding size in bytes).
    bindings: HashMap<u32, (naga::AddressSpace, u64)>,
}

impl Reflection {
    pub(crate) fn of_module(module: &naga::Module) -> Reflection {
        let ctx = module.to_ctx();
        let bindings = module
            .global_variables
            .iter()
            .filter_map(|(_, var)| {
                let b = var.binding.as_ref().filter(|b| b.group == 0)?;
                // A runtime-sized array counts as one element, as WebGPU's minimum does.
                let size = module.types[var.ty].inner.size(ctx);
                Some((b.binding, (var.space, u64::from(size))))
            })
            .collect();
        Reflection { bindings }
    }

    /// The smallest buffer range the shader accepts at `binding`, when known.
    pub(crate) fn min_size(&self, binding: u32) -> Option<wgpu::BufferSize> {
        self.bindings
            .get(&binding)
            .and_then(|&(_, size)| wgpu::BufferSize::new(size))
    }

    /// The buffer binding type of the parameters struct: `var<uniform>` or `var<storage, read>`,
    /// whichever the shader declares.
    ///
    /// Both are accepted so that user kernels can keep the familiar `var<uniform>`, but the
    /// built-in kernels use `var<storage, read>`: Mesa's llvmpipe (lavapipe) inlines small
    /// uniform buffers into the compiled shader and recompiles it whenever their contents
    /// change, which made every dispatch with new parameters cost milliseconds (measured: 16
    /// tiny GEMM tasks 42 ms with a uniform, 5.3 ms with a read-only storage buffer).
    pub(crate) fn params_type(&self, binding: u32) -> wgpu::BufferBindingType {
        match self.bindings.get(&binding) {
            Some((naga::AddressSpace::Storage { .. }, _)) => {
                wgpu::BufferBindingType::Storage { read_only: true }
            }
            _ => wgpu::BufferBindingType::Uniform,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reflection;

    fn of(source: &str) -> Reflection {
        Reflection::of_module(&naga::front::wgsl::parse_str(source).expect("valid WGSL"))
    }

    fn params_binding_type(source: &str, binding: u32) -> wgpu::BufferBindingType {
        of(source).params_type(binding)
    }

    #[test]
    fn the_params_binding_type_follows_the_shader() {
        let src = |space: &str| {
            format!(
                "struct P {{ n: u32 }}\n\
                 @group(0) @binding(0) var<storage, read_write> x: array<f32>;\n\
                 @group(0) @binding(1) var<{space}> p: P;\n\
                 @compute @workgroup_size(1) fn main() {{ x[0] = f32(p.n); }}\n"
            )
        };
        assert_eq!(
            params_binding_type(&src("uniform"), 1),
            wgpu::BufferBindingType::Uniform
        );
        assert_eq!(
            params_binding_type(&src("storage, read"), 1),
            wgpu::BufferBindingType::Storage { read_only: true }
        );
        // Nothing reflected: the uniform default.
        assert_eq!(
            Reflection::default().params_type(1),
            wgpu::BufferBindingType::Uniform
        );
    }

    #[test]
    fn minimum_binding_sizes_come_from_the_shader() {
        let r = of("struct P { n: u32, m: u32, a: f32 }\n\
             @group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;\n\
             @group(0) @binding(1) var<storage, read_write> y: array<f32>;\n\
             @group(0) @binding(2) var<uniform> p: P;\n\
             @compute @workgroup_size(1) fn main() { y[0] = x[0].x + f32(p.n); }\n");
        assert_eq!(r.min_size(0).map(|s| s.get()), Some(16));
        assert_eq!(r.min_size(1).map(|s| s.get()), Some(4));
        assert_eq!(r.min_size(2).map(|s| s.get()), Some(12));
        assert_eq!(r.min_size(3), None);
    }
}
