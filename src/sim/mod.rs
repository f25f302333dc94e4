//! A simulated machine: the scheduler's placement and priorities over modelled processors and
//! links, with a virtual clock and no kernels run.

pub mod graph;
mod record;

pub use graph::{SimGraph, SimTask};
pub use record::record;
