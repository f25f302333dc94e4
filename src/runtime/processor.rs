//! Processors (where tasks run) and memory spaces (where bytes live).

use std::fmt;

use serde::Serialize;

use crate::dtype::Caps;
use crate::gpu::AdapterInfo;

/// Index of an open GPU device in a runtime (`gpu0`, `gpu1`, ...). Virtual devices on one
/// adapter get distinct ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeviceId(pub usize);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gpu{}", self.0)
    }
}

/// Where a task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Processor {
    /// The CPU pool (one slot per thread).
    Cpu,
    /// One GPU device with its own queue.
    Gpu(DeviceId),
}

impl Processor {
    /// The memory space the processor computes in.
    pub fn memory_space(self) -> MemorySpace {
        match self {
            Processor::Cpu => MemorySpace::Host,
            Processor::Gpu(d) => MemorySpace::Device(d),
        }
    }

    /// Its index in a runtime's processor table (and in [`crate::trace::Lane::processor`]):
    /// 0 is the CPU, `d + 1` is GPU `d`.
    pub fn index(self) -> usize {
        match self {
            Processor::Cpu => 0,
            Processor::Gpu(d) => d.0 + 1,
        }
    }

    /// The processor at index `i` of a runtime's processor table: 0 is the CPU, `d + 1` is
    /// GPU `d`.
    pub(crate) fn from_index(i: usize) -> Processor {
        if i == 0 {
            Processor::Cpu
        } else {
            Processor::Gpu(DeviceId(i - 1))
        }
    }
}

impl fmt::Display for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Processor::Cpu => f.write_str("cpu"),
            Processor::Gpu(d) => write!(f, "{d}"),
        }
    }
}

/// Where bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum MemorySpace {
    /// Host memory.
    Host,
    /// A GPU device's memory.
    Device(DeviceId),
}

impl fmt::Display for MemorySpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemorySpace::Host => f.write_str("host"),
            MemorySpace::Device(d) => write!(f, "{d}"),
        }
    }
}

/// A description of one processor of a runtime.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessorInfo {
    /// The processor.
    pub processor: Processor,
    /// A human-readable name.
    pub name: String,
    /// How many tasks it runs at once (CPU threads; 1 for a GPU queue).
    pub slots: usize,
    /// The adapter behind a GPU device.
    pub adapter: Option<AdapterInfo>,
    /// Which device of its adapter this is (virtual devices count 0, 1, ...).
    pub virtual_index: usize,
    /// Whether the device was handed in by the application (`Runtime::from_wgpu`).
    pub embedded: bool,
}

impl ProcessorInfo {
    /// GPU capabilities (none for the CPU, which runs every element type).
    pub fn caps(&self) -> Caps {
        self.adapter.as_ref().map_or(Caps::NONE, |a| a.caps)
    }
}

/// A set of processors, as a bit mask over processor indices (at most 64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct ProcSet(pub(crate) u64);

impl ProcSet {
    pub(crate) const EMPTY: ProcSet = ProcSet(0);

    pub(crate) fn with(self, i: usize) -> ProcSet {
        debug_assert!(i < 64, "at most 63 GPU devices are supported");
        ProcSet(self.0 | (1 << i))
    }

    pub(crate) fn and(self, o: ProcSet) -> ProcSet {
        ProcSet(self.0 & o.0)
    }

    pub(crate) fn or(self, o: ProcSet) -> ProcSet {
        ProcSet(self.0 | o.0)
    }

    pub(crate) fn minus(self, o: ProcSet) -> ProcSet {
        ProcSet(self.0 & !o.0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                i
            })
        })
    }
}
