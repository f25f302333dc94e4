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
        let storage = |read_only: bool| wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let mut entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .arg_bindings
            .iter()
            .zip(modes)
            .map(|(&binding, &mode)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: storage(mode == Mode::Read),
                count: None,
            })
            .collect();
        if kernel.has_uniform {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: kernel.params_binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        if kernel.status.is_some() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: kernel.status_binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: storage(false),
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
