//! Reading and writing chunks from the host, as tasks ordered like any other.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::Mutex;

use crate::data::chunk::Chunk;
use crate::dtype::Element;
use crate::error::Result;
use crate::kernels::Mode;
use crate::runtime::processor::ProcSet;
use crate::runtime::sched::TaskSpec;
use crate::runtime::scope::Scope;
use crate::runtime::task::{Access, HostOp, TaskHandle, Work};

impl<T: Element> Chunk<T> {
    fn host_task(&self, mode: Mode, op: HostOp) -> TaskHandle {
        let task = self.runtime().shared().submit(TaskSpec {
            work: Work::Host(Mutex::new(Some(op))),
            accesses: smallvec::smallvec![Access::new(&self.raw, mode)],
            procs: ProcSet::EMPTY,
            scope: &Scope::all(),
            priority: 0,
            region: None,
            ack: Arc::new(AtomicBool::new(false)),
            hold: false,
        });
        TaskHandle {
            task,
            output: Arc::new(Mutex::new(Some(()))),
        }
    }

    /// The chunk's current value, column-major. Waits for the tasks that write it (spawned
    /// before this call) and copies it to the host from wherever it was last written.
    ///
    /// # Errors
    /// [`Error::Cancelled`](crate::Error::Cancelled) if the value comes from a task that
    /// failed and whose failure has not been reported yet; [`Error::Task`](crate::Error::Task)
    /// if the copy from a device fails (device lost).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let out: Arc<Mutex<Vec<T>>> = Arc::default();
        let slot = out.clone();
        let n = self.len();
        let h = self.host_task(
            Mode::Read,
            Box::new(move |hosts| {
                let host = hosts[0].read_recursive();
                if n == 0 {
                    return Ok(());
                }
                *slot.lock() = host.as_slice::<T>().to_vec();
                Ok(())
            }),
        );
        h.wait()?;
        Ok(std::mem::take(&mut *out.lock()))
    }

    /// Makes the host replica valid (after pending writers), without copying it out.
    pub(crate) fn sync_host(&self) -> Result<()> {
        self.host_task(Mode::Read, Box::new(|_| Ok(()))).wait()
    }

    /// Overwrites the chunk with `data` (column-major), after the tasks already spawned on it.
    ///
    /// # Panics
    /// If `data.len()` is not the chunk's length.
    ///
    /// # Errors
    /// As [`Chunk::to_vec`].
    #[track_caller]
    pub fn copy_from_slice(&self, data: &[T]) -> Result<()> {
        assert_eq!(
            data.len(),
            self.len(),
            "{:?} has {} elements, got {}",
            self.raw,
            self.len(),
            data.len()
        );
        let bytes: Vec<u8> = bytemuck::cast_slice(data).to_vec();
        let h = self.host_task(
            Mode::Write,
            Box::new(move |hosts| {
                hosts[0].write().bytes_mut().copy_from_slice(&bytes);
                Ok(())
            }),
        );
        h.wait()
    }
}
