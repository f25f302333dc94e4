//! # tessera
//!
//! A GPU-first heterogeneous task runtime. You write a tiled algorithm as a plain sequence of
//! tasks that declare how they touch data tiles ([`Read`], [`Write`], [`ReadWrite`]); tessera
//! derives the dependency graph, places every task on a processor (any GPU adapter wgpu can open,
//! or the CPU pool), moves tiles between memory spaces, and runs it, with exactly the result of
//! running the tasks one after another (*serial equivalence*).
//!
//! Kernels are WGSL compute shaders run through wgpu (Vulkan, Metal, DX12; lavapipe in CI) and
//! CPU code on a rayon pool.
//!
//! ```
//! use tessera::{Chunk, Read, ReadWrite, Runtime, kernels::builtin};
//!
//! // Without a GPU this runs on the CPU; with one, tasks may run there too.
//! let rt = Runtime::builder().cpu_only().build()?;
//! let x = Chunk::from_vec(&rt, 4, 1, vec![1.0f32, 2.0, 3.0, 4.0]);
//! let y = Chunk::<f32>::zeros(&rt, 4, 1);
//! rt.datadeps(|r| {
//!     r.spawn(builtin::axpy(3.0f32), (Read(&x), ReadWrite(&y))); // y = 3x + y
//!     r.spawn(builtin::scale(2.0f32), ReadWrite(&x));            // after the axpy read x
//!     r.spawn(builtin::axpy(1.0f32), (Read(&x), ReadWrite(&y))); // y = x + y
//! })?;
//! assert_eq!(y.to_vec()?, vec![5.0, 10.0, 15.0, 20.0]);
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! ## Map
//! - [`Runtime`], [`RuntimeBuilder`]: processors (CPU pool, GPU devices, virtual devices,
//!   [`Runtime::from_wgpu`] for embedding), [`Runtime::datadeps`] regions, eager
//!   [`Runtime::spawn`] returning a [`TaskHandle`] (a `Future`).
//! - [`Chunk`]: a tile with lazily allocated replicas per [`MemorySpace`] and MSI coherence.
//! - [`Kernel`]: a descriptor with a CPU closure and/or a [`GpuKernel`] (WGSL, one or more
//!   [`GpuVariant`]s, autotuned per device); elementwise built-ins in [`kernels::builtin`],
//!   dense tile kernels (GEMM, SYRK, TRSM, POTRF) in [`kernels::dense`], LU's (GETRF, LASWP)
//!   in [`kernels::lu`], tile QR kernels (GEQRT, TSQRT, UNMQR, TSMQR) in [`kernels::qr`].
//! - [`DArray`] and [`linalg`]: tiled Cholesky, LU, QR, solves (general, SPD, least squares),
//!   inverse, mixed precision, GEMM, SYRK, TRSM.
//! - [`fft`]: FFTs of [`DArray`]s (plans as data, 1D four-step, 2D, 3D, real columns); FFT
//!   tile kernels in [`kernels::fft`].
//! - [`mod@bench`]: the measuring harness behind `tessera bench` and `cargo bench`.
//! - [`Scope`]: which processors a region or task may use.
//! - [`Placement`]: the placement interface; [`EarliestFinish`] is the default policy.
//! - [`Error`]: every failure, typed.
//!
//! ## Devices
//! `TESSERA_DEVICES` (or [`RuntimeBuilder::devices`]) picks adapters: `none`, `all`, or a comma
//! list of `PATTERN`, `PATTERN x N` or `PATTERN*N` where `N` opens that many virtual devices
//! (separate memory spaces and queues) on each match, and `PATTERN` is an adapter index,
//! `lavapipe`, or a substring of the adapter's name, driver, vendor, backend or type. Example:
//! `TESSERA_DEVICES="lavapipe x 3"`. `TESSERA_CPU_THREADS` sets the pool size and
//! `TESSERA_CPU=0` removes the CPU processor.
//!
//! ## Element types
//! `f32` everywhere; `f64` and `Complex<f64>` on devices with `SHADER_F64`; `half::f16` with
//! `SHADER_F16`; `Complex<f32>`, `u32`, `i32` everywhere. A task is only placed where its
//! types are supported; if no processor in scope can run it, it fails with
//! [`Error::NoProcessor`].
//!
//! ## Guarantees
//! - Serial equivalence: a region computes what its tasks computed one by one in spawn order.
//!   Integer kernels give bit-identical results on every processor; floating-point kernels may
//!   differ in rounding between processors (GPU drivers may contract `a*b+c` into an FMA).
//! - A failing task fails only itself and the tasks that depend on it; the runtime stays usable.

#![warn(missing_docs)]
#![forbid(unsafe_code)]
// rustdoc proves `Send`/`Sync` for public types by walking into wgpu-core's internals (through the
// `wgpu::Device` and `wgpu::Buffer` handles that chunks and runtimes hold); the walk is deeper
// than the default limit of 128.
#![recursion_limit = "256"]

mod array;
pub mod bench;
mod cpu;
mod data;
mod dtype;
mod error;
pub mod fft;
mod gpu;
mod host;
pub mod kernels;
pub mod linalg;
mod runtime;
pub mod sim;
mod threads;
pub mod trace;

pub use array::{AutoBlocks, Blocking, Blocks, DArray, spd_element};
pub use data::chunk::{AnyChunk, Chunk, ReplicaState, Residency};
pub use dtype::{Caps, DType, Element};
pub use error::{ChunkId, Error, GpuError, KernelError, Result, TaskError, TaskFailure, TaskId};
pub use gpu::{AdapterInfo, DeviceLimits, MemoryStats, TuneEntry};
pub use kernels::{
    ArgSpec, Cost, CpuTask, Dispatch, GpuKernel, GpuVariant, Kernel, KernelBuilder, KernelCall,
    Launch, Mode, Scalar, Shape, TileMut, TileRef,
};
pub use runtime::perf::LinkModel;
pub use runtime::placement::CALIBRATED;
pub use runtime::placement::{
    Candidate, EarliestFinish, Placement, PlacementQuery, ProcessorModel,
};
pub use runtime::processor::{DeviceId, MemorySpace, Processor, ProcessorInfo};
pub use runtime::region::{Region, RegionTask};
pub use runtime::scope::Scope;
pub use runtime::task::{Access, IntoAccesses, Read, ReadWrite, TaskHandle, Write};
pub use runtime::{
    PerfEntry, PerfModel, ProcessorStats, Runtime, RuntimeBuilder, RuntimeStats, TaskBuilder,
};

/// The types most programs need.
pub mod prelude {
    pub use crate::kernels::builtin;
    pub use crate::{
        Chunk, DType, Error, Kernel, Read, ReadWrite, Result, Runtime, Scope, TaskHandle, Write,
    };
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
