//! Marks the runtime's own threads, so that work that must not block them (shutting a runtime
//! down when its last handle is dropped inside a task's completion) can move elsewhere.

use std::cell::Cell;

thread_local! {
    static RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Called first thing on every thread the runtime starts.
pub(crate) fn mark_runtime_thread() {
    RUNTIME_THREAD.with(|c| c.set(true));
}

/// Whether the current thread belongs to a runtime (CPU pool, device worker or poller).
pub(crate) fn is_runtime_thread() -> bool {
    RUNTIME_THREAD.with(Cell::get)
}
