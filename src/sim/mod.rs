//! A simulated machine: the scheduler's placement and priorities over modelled processors and
//! links, with a virtual clock and no kernels run.

pub mod graph;

pub use graph::{SimGraph, SimTask};
