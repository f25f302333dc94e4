//! Integration tests of the public API, as one binary sharing its GPU runtimes.
//!
//! GPU tests run on lavapipe in CI (`TESSERA_REQUIRE_GPU=1` makes a missing adapter a failure).

mod common;
mod concurrency;
mod data;
mod dense;
mod elementwise;
mod errors;
mod fft;
mod linalg;
mod lu;
mod qr;
mod runtime;
mod scheduler;
mod serial_equivalence;
