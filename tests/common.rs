//! Shared test helpers: runtimes for each processor configuration.
//!
//! GPU tests call [`gpu_runtime`] and friends. Without an adapter they print why and return
//! `None` (the test then ends early), unless `TESSERA_REQUIRE_GPU=1` (set by CI), when they
//! panic: a CI machine without its GPU must fail loudly.

#![allow(dead_code)]

use std::sync::{OnceLock, mpsc};
use std::time::Duration;

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

// ------------------------------------------------------------------ checking helpers

/// Runs `f` on another thread and fails the test if it does not finish within `secs`: a hang
/// must be a failure, not a stuck CI job.
pub fn within<R: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: did not finish within {secs} s: the runtime hangs"))
}

/// A sum accumulated as if in twice the working precision (Sum2/Dot2 of Ogita, Rump, Oishi).
#[derive(Clone, Copy, Default)]
pub struct Exact {
    s: f64,
    c: f64,
}

impl Exact {
    pub fn add(&mut self, x: f64) {
        let s = self.s + x;
        let bb = s - self.s;
        self.c += (self.s - (s - bb)) + (x - bb);
        self.s = s;
    }

    /// Adds `a*b`, split exactly.
    pub fn add_prod(&mut self, a: f64, b: f64) {
        let p = a * b;
        self.add(p);
        self.c += a.mul_add(b, -p);
    }

    /// Adds `a*b*c`, with an error of order u^2 |abc|.
    pub fn add_prod3(&mut self, a: f64, b: f64, c: f64) {
        let p = b * c;
        let e = b.mul_add(c, -p);
        self.add_prod(a, p);
        self.c += a * e;
    }

    pub fn value(self) -> f64 {
        self.s + self.c
    }
}

/// The element with the largest error/bound ratio seen so far.
#[derive(Default)]
pub struct Worst {
    seen: bool,
    ratio: f64,
    at: (usize, usize),
    got: f64,
    reference: f64,
    err: f64,
    bound: f64,
}

impl Worst {
    pub fn see(&mut self, at: (usize, usize), got: f64, reference: f64, err: f64, bound: f64) {
        let ratio = if !got.is_finite() || err.is_nan() {
            f64::INFINITY
        } else if err == 0.0 {
            0.0
        } else {
            err / bound
        };
        if !self.seen || ratio > self.ratio {
            *self = Worst {
                seen: true,
                ratio,
                at,
                got,
                reference,
                err,
                bound,
            };
        }
    }

    /// Panics if the worst element exceeds its bound; returns its ratio.
    pub fn verdict(&self, what: &str, bound: &str) -> f64 {
        if self.ratio > 1.0 {
            panic!(
                "{what}: worst element (row {}, col {}): got {:e}, reference {:e}; error {:.3e} \
                 exceeds the bound {:.3e} = {bound} ({:.2} times the bound)",
                self.at.0, self.at.1, self.got, self.reference, self.err, self.bound, self.ratio
            );
        }
        self.ratio
    }
}
