//! Shared test helpers: runtimes for each processor configuration.
//!
//! GPU tests call [`gpu_runtime`] and friends. Without an adapter they print why and return
//! `None` (the test then ends early), unless `TESSERA_REQUIRE_GPU=1` (set by CI), when they
//! panic: a CI machine without its GPU must fail loudly.

#![allow(dead_code)]

use std::sync::OnceLock;

use tessera::Runtime;

/// Whether GPU tests must fail instead of skipping when no adapter is found.
pub fn gpu_required() -> bool {
    std::env::var("TESSERA_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

fn build(devices: &str, cpu: bool) -> Option<Runtime> {
    let b = Runtime::builder()
        .ignore_env()
        .devices(devices)
        .cpu(cpu)
        .cpu_threads(2);
    match b.build() {
        Ok(rt) if rt.gpu_count() > 0 => Some(rt),
        Ok(_) => skip(&format!("no GPU adapter matches `{devices}`")),
        Err(e) => skip(&e.to_string()),
    }
}

fn skip(why: &str) -> Option<Runtime> {
    if gpu_required() {
        panic!("TESSERA_REQUIRE_GPU=1 but no GPU is usable: {why}");
    }
    eprintln!("skipping GPU test: {why}");
    None
}

/// The adapter tests use: lavapipe when present (always there in CI), otherwise adapter 0.
pub fn adapter() -> &'static str {
    static PICK: OnceLock<String> = OnceLock::new();
    PICK.get_or_init(|| {
        let (found, _) = Runtime::adapters();
        if found
            .iter()
            .any(|a| a.name.contains("llvmpipe") && a.backend == "Vulkan")
        {
            "lavapipe".into()
        } else {
            "0".into()
        }
    })
}

/// CPU (2 threads) plus one GPU device.
pub fn mixed_runtime() -> Option<Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| build(adapter(), true)).clone()
}

/// One GPU device, no CPU processor.
pub fn gpu_runtime() -> Option<Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| build(adapter(), false)).clone()
}

/// Three virtual devices on one adapter, no CPU processor.
pub fn three_gpu_runtime() -> Option<Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| build(&format!("{} x 3", adapter()), false))
        .clone()
}

/// Three virtual devices and the CPU.
pub fn three_gpu_mixed_runtime() -> Option<Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| build(&format!("{} x 3", adapter()), true))
        .clone()
}

/// CPU only, 2 threads.
pub fn cpu_runtime() -> Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::builder()
            .ignore_env()
            .cpu_only()
            .cpu_threads(2)
            .build()
            .expect("a CPU runtime always builds")
    })
    .clone()
}

/// A fresh runtime of its own (for tests that break or inspect a device). `ADAPTER` in
/// `devices` stands for the test adapter.
pub fn own_gpu_runtime(devices: &str, cpu: bool) -> Option<Runtime> {
    build(&devices.replace("ADAPTER", adapter()), cpu)
}
