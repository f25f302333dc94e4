//! Embedding tessera in a wgpu application.
//!
//! The application owns the device. It fills an SPD matrix on the GPU with its own compute
//! pass, hands the buffer to tessera, which factors the matrix in tiles (A = L L^T) on that
//! device, and takes the factor back as a buffer that its next pass uses: it computes
//! `L (L^T x)` and `A x` for `x = (1, ..., 1)` on the GPU and compares them. No matrix crosses
//! to the host; only the two comparison numbers are read back.
//!
//! `cargo run --release --example embed` (needs a GPU adapter; lavapipe will do).

use tessera::linalg::Uplo;
use tessera::{Blocks, Chunk, DArray, DeviceId, Runtime, Scope};

const N: u32 = 256;

/// The application's shaders: fill A, and y = M x for a column-major M (optionally using only
/// its lower triangle, and optionally transposed).
const APP_WGSL: &str = r#"
struct P { n: u32, lower: u32, trans: u32 }
@group(0) @binding(0) var<storage, read_write> m: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

// A(r, c) = 1 / (1 + |r - c|) + n [r == c]: symmetric, diagonally dominant, so SPD.
@compute @workgroup_size(64)
fn fill(@builtin(global_invocation_id) g: vec3<u32>) {
    let e = g.x;
    if (e >= p.n * p.n) { return; }
    let r = e % p.n;
    let c = e / p.n;
    let d = f32(max(r, c) - min(r, c));
    m[e] = 1.0 / (1.0 + d) + select(0.0, f32(p.n), r == c);
}

// y[r] = sum_c op(M)[r, c] x[c], where only M's lower triangle counts when p.lower != 0.
@compute @workgroup_size(64)
fn matvec(@builtin(global_invocation_id) g: vec3<u32>) {
    let r = g.x;
    if (r >= p.n) { return; }
    var s = 0.0;
    for (var c = 0u; c < p.n; c++) {
        let i = select(r, c, p.trans != 0u);
        let j = select(c, r, p.trans != 0u);
        if (p.lower == 0u || i >= j) {
            s += m[i + j * p.n] * x[c];
        }
    }
    y[r] = s;
}
"#;

struct App {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: (wgpu::ComputePipeline, wgpu::ComputePipeline),
    layout: wgpu::BindGroupLayout,
}

impl App {
    fn new() -> App {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = pollster::block_on(instance.request_adapter(&Default::default()))
            .expect("a GPU adapter (on Debian: apt-get install mesa-vulkan-drivers)");
        let (device, queue) =
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
                .expect("a device");
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("app"),
            source: wgpu::ShaderSource::Wgsl(APP_WGSL.into()),
        });
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        use wgpu::BufferBindingType::{Storage, Uniform};
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("app"),
            entries: &[
                entry(0, Storage { read_only: false }),
                entry(1, Storage { read_only: true }),
                entry(2, Storage { read_only: false }),
                entry(3, Uniform),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("app"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let (fill, matvec) = (pipeline("fill"), pipeline("matvec"));
        App {
            device,
            queue,
            pipelines: (fill, matvec),
            layout,
        }
    }

    fn buffer(&self, floats: u32, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 4 * u64::from(floats),
            usage,
            mapped_at_creation: false,
        })
    }

    /// Runs one of the app's entry points with matrix `m`, vectors `x`, `y`.
    fn run(
        &self,
        fill: bool,
        m: &wgpu::Buffer,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        lower: u32,
        trans: u32,
    ) {
        let params = self.buffer(
            4,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        self.queue
            .write_buffer(&params, 0, bytemuck::cast_slice(&[N, lower, trans, 0]));
        let pipeline = if fill {
            &self.pipelines.0
        } else {
            &self.pipelines.1
        };
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: m.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: x.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: y.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind, &[]);
            let groups = if fill {
                (N * N).div_ceil(64)
            } else {
                N.div_ceil(64)
            };
            pass.dispatch_workgroups(groups, 1, 1);
        }
        self.queue.submit([enc.finish()]);
    }

    fn read(&self, b: &wgpu::Buffer) -> Vec<f32> {
        let staging = self.buffer(
            N,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(b, 0, &staging, 0, 4 * u64::from(N));
        self.queue.submit([enc.finish()]);
        staging.map_async(wgpu::MapMode::Read, .., |r| r.expect("map"));
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("poll");
        let v = bytemuck::cast_slice(&staging.get_mapped_range(..).expect("mapped")).to_vec();
        staging.unmap();
        v
    }
}

fn main() -> tessera::Result<()> {
    let app = App::new();
    use wgpu::BufferUsages as U;
    let storage = U::STORAGE | U::COPY_SRC | U::COPY_DST;

    // 1. The application fills A with its own pass.
    let a = app.buffer(N * N, storage);
    let ones = app.buffer(N, storage);
    app.queue
        .write_buffer(&ones, 0, bytemuck::cast_slice(&vec![1.0f32; N as usize]));
    let scratch = app.buffer(N, storage);
    app.run(true, &a, &ones, &scratch, 0, 0);
    // Keep a copy of A for the final check (tessera factors its buffer in place).
    let a_copy = app.buffer(N * N, storage);
    let mut enc = app.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&a, 0, &a_copy, 0, 4 * u64::from(N * N));
    app.queue.submit([enc.finish()]);

    // 2. tessera runs on the same device: adopt the buffer, tile it, factor it there.
    let rt = Runtime::from_wgpu(app.device.clone(), app.queue.clone())?;
    let gpu = DeviceId(0);
    let whole = Chunk::<f32>::from_wgpu_buffer(&rt, gpu, a, N as usize, N as usize)?;
    let tiles = DArray::from_chunk(&whole, Blocks::square(64))?;
    tiles.cholesky_with(Uplo::Lower, &Scope::gpu(0))?;
    // 3. The factor comes back as a buffer the application owns.
    let l = tiles.to_chunk()?.to_wgpu_buffer(gpu)?;
    println!(
        "factored a {N} x {N} matrix on {} in {} tiles; tasks on the GPU: {}",
        rt.processors()[1].name,
        tiles.mt() * tiles.nt(),
        rt.stats().processors[1].tasks
    );

    // 4. The application's next passes use L: y = L (L^T 1), and A 1 from its copy of A.
    let t = app.buffer(N, storage);
    let y = app.buffer(N, storage);
    let ay = app.buffer(N, storage);
    app.run(false, &l, &ones, &t, 1, 1); // t = L^T 1
    app.run(false, &l, &t, &y, 1, 0); // y = L t
    app.run(false, &a_copy, &ones, &ay, 0, 0); // A 1
    let (y, ay) = (app.read(&y), app.read(&ay));
    let worst = y
        .iter()
        .zip(&ay)
        .map(|(p, q)| (p - q).abs() / q.abs())
        .fold(0.0f32, f32::max);
    println!("max relative difference between L L^T 1 and A 1: {worst:.2e}");
    assert!(worst < 1e-4, "the factor does not reproduce A");
    Ok(())
}
