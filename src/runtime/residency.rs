//! Device memory capacity: a budget per device and eviction of least-recently-used replicas.
//!
//! Every replica allocated on a device is registered with the tick of its last use. When a
//! launch needs more bytes than the budget leaves (or wgpu reports out of memory), replicas
//! are taken oldest first, skipping those that queued or running jobs use (`pins`), those
//! being read back, and the launching task's own arguments:
//! - a *clean* replica (the host also holds the value, or the chunk is all zeros) is dropped at
//!   once; a later reader there uploads it again;
//! - a *dirty* one (the device holds the only current value) is written back to the host
//!   first, through the same readback path as any fetch, and dropped when the copy has landed.
//!
//! The budget is soft while write-backs are in flight: the launch that asked for room goes
//! ahead, and the bytes come back when the copies land. It never waits, so no thread blocks on
//! work that it would itself have to complete.
//!
//! Evicting is safe without new dependencies: a pinned replica is never touched, and a launch
//! re-checks validity under the device's launch lock, which eviction also holds (the drop after
//! a write-back only tries the lock, and leaves the replica for a later pass if it is busy).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::data::chunk::{ChunkInner, ReplicaState};
use crate::gpu::{BufRef, Readback};
use crate::runtime::sched::Shared;

/// One device's capacity bookkeeping.
#[derive(Default)]
pub(crate) struct Residency {
    /// Bytes of replicas the device may hold (`None`: as many as wgpu gives).
    pub(crate) budget: Option<u64>,
    /// Replicas on the device: chunk id -> (chunk, tick of last use).
    lru: Mutex<HashMap<u64, (Weak<ChunkInner>, u64)>>,
    tick: AtomicU64,
    /// Jobs launched on the device and eviction write-backs from it, not finished.
    pub(crate) inflight: AtomicU64,
    /// Launches waiting for room (retried when a job ends or a write-back lands).
    pub(crate) parked: Mutex<Vec<crate::runtime::task::TaskRef>>,
}

impl Residency {
    pub(crate) fn new(budget: Option<u64>) -> Residency {
        Residency {
            budget,
            ..Residency::default()
        }
    }

    /// Notes a use of `c`'s replica (allocated or reused by a launch).
    pub(crate) fn touch(&self, c: &Arc<ChunkInner>) {
        let t = self.tick.fetch_add(1, Ordering::Relaxed);
        self.lru.lock().insert(c.id.0, (Arc::downgrade(c), t));
    }

    /// Registered chunks, oldest use first (dead and replica-less ones are forgotten).
    fn oldest_first(&self) -> Vec<Arc<ChunkInner>> {
        let mut lru = self.lru.lock();
        lru.retain(|_, (w, _)| w.strong_count() > 0);
        let mut v: Vec<(u64, Arc<ChunkInner>)> = lru
            .values()
            .filter_map(|(w, t)| w.upgrade().map(|c| (*t, c)))
            .collect();
        drop(lru);
        v.sort_by_key(|(t, _)| *t);
        v.into_iter().map(|(_, c)| c).collect()
    }

    fn forget(&self, id: u64) {
        self.lru.lock().remove(&id);
    }
}

impl Shared {
    /// Makes room on device `d` for `need` more bytes of replicas, evicting as described in
    /// the module docs. `force` evicts whatever can be evicted (after wgpu ran out of memory).
    /// Must be called with `d`'s launch lock held.
    pub(crate) fn make_room(self: &Arc<Self>, d: usize, need: u64, keep: &[u64], force: bool) {
        let res = &self.residency[d];
        let dev = &self.devices[d];
        let excess = if force {
            u64::MAX
        } else {
            let Some(budget) = res.budget else { return };
            let used = dev.memory().resident_bytes;
            match (used + need).checked_sub(budget) {
                Some(e) if e > 0 => e,
                _ => return,
            }
        };
        let mut freed = 0u64;
        for c in res.oldest_first() {
            if freed >= excess {
                break;
            }
            if keep.contains(&c.id.0) {
                continue;
            }
            let mut coh = c.coh.lock();
            if coh.fetching.is_some() {
                continue;
            }
            let clean = coh.host.is_valid() || coh.zero;
            let version = coh.version;
            let Some(r) = coh.dev.get_mut(d) else {
                res.forget(c.id.0);
                continue;
            };
            // Pinned: queued or running jobs use it, or it is being written back already.
            if r.pins > 0 {
                continue;
            }
            let Some(buf) = r.buf.as_ref() else {
                res.forget(c.id.0);
                continue;
            };
            if buf.kind == crate::gpu::PoolKind::Imported {
                continue; // an application's own buffer: it stays where it was handed over
            }
            let capacity = buf.capacity;
            let src = BufRef::of(buf, c.bytes() as u64);
            if clean || !r.state.is_valid() {
                let b = r.buf.take();
                r.state = ReplicaState::Invalid;
                drop(coh);
                if let Some(b) = b {
                    dev.release(b);
                }
                res.forget(c.id.0);
                if let Some(rec) = &self.trace {
                    rec.eviction(c.id.0, d, capacity, false);
                }
                freed += capacity;
                continue;
            }
            // Dirty: the device holds the only current value. Copy it to the host (into a
            // buffer of its own: a host writer may commit meanwhile), and drop the replica
            // once the copy has landed, if no write was committed in between.
            // Pinned while the copy reads it: a writer elsewhere leaves the buffer attached,
            // and later passes skip it.
            r.pins += 1;
            drop(coh);
            freed += capacity;
            let temp = Arc::new(parking_lot::RwLock::new(crate::host::HostBytes::default()));
            // Counted like a job: launches waiting for room wait for it too.
            res.inflight.fetch_add(1, Ordering::AcqRel);
            let (sh, chunk, asked, landed) = (
                self.clone(),
                c.clone(),
                std::time::Instant::now(),
                temp.clone(),
            );
            dev.readback(Readback {
                src,
                dst: temp,
                done: crate::gpu::ReadbackDone::readback(move |r| {
                    sh.written_back(&chunk, d, version, &landed, r.is_ok(), asked);
                }),
            });
        }
        if force {
            dev.core.pool.trim();
        }
    }

    /// An eviction's copy of `c` from `d` has landed in `landed` (or failed). If no write
    /// was committed since it started, it becomes the host's value and the device replica is
    /// dropped (when no job uses it and the launch lock is free; otherwise it stays, clean,
    /// for a later pass). Then launches waiting for room are retried.
    fn written_back(
        self: &Arc<Self>,
        c: &Arc<ChunkInner>,
        d: usize,
        version: u64,
        landed: &parking_lot::RwLock<crate::host::HostBytes>,
        ok: bool,
        asked: std::time::Instant,
    ) {
        let dev = &self.devices[d];
        let res = &self.residency[d];
        res.inflight.fetch_sub(1, Ordering::AcqRel);
        let mut dropped = None;
        {
            let guard = dev.launch_lock.try_lock();
            let mut coh = c.coh.lock();
            if let Some(r) = coh.dev.get_mut(d) {
                r.pins = r.pins.saturating_sub(1);
            }
            let fetching = coh.fetching.is_some();
            let current = ok && coh.version == version;
            if current && coh.dev_state(d).is_valid() && !coh.host.is_valid() {
                let src = landed.read();
                let mut host = c.host.write();
                host.ensure(src.len());
                host.bytes_mut().copy_from_slice(src.bytes());
                coh.host = ReplicaState::Shared;
                coh.dev_mut(d).state = ReplicaState::Shared;
                if let Some(rec) = &self.trace {
                    rec.readback(c, d, asked);
                }
            }
            // Drop the replica if it is clean now (or was invalidated by a writer elsewhere
            // meanwhile), nothing uses it, no fetch copies from it, and no launch is between
            // checking and using it (the launch lock).
            let host_valid = coh.host.is_valid();
            let r = coh.dev_mut(d);
            let clean = !r.state.is_valid() || host_valid;
            if guard.is_some() && r.pins == 0 && !fetching && clean {
                let was_valid = r.state.is_valid();
                dropped = r.buf.take().map(|b| (b, was_valid));
                r.state = ReplicaState::Invalid;
            }
            if let Some((b, was_valid)) = &dropped {
                res.forget(c.id.0);
                if let Some(rec) = &self.trace {
                    rec.eviction(c.id.0, d, b.capacity, *was_valid);
                }
            }
        }
        if let Some((b, _)) = dropped {
            dev.release(b);
        }
        if ok {
            self.retry_parked(d);
        } else {
            // A refused copy may call back on the thread that holds the launch lock (the
            // device is shut down or lost): retry from elsewhere.
            let sh = self.clone();
            let _ = std::thread::Builder::new()
                .name("tessera-retry".into())
                .spawn(move || sh.retry_parked(d));
        }
    }

    /// Launches on `d` that waited for room go again.
    pub(crate) fn retry_parked(self: &Arc<Self>, d: usize) {
        let parked = std::mem::take(&mut *self.residency[d].parked.lock());
        for t in parked {
            let args = t.args.lock().clone();
            self.launch(&t, d + 1, Some(d), args);
        }
    }

    /// Whether a launch needing `need` more bytes on `d` should wait for room: the budget is
    /// exceeded even after evicting, and jobs in flight there will free some when they end.
    pub(crate) fn must_wait_for_room(&self, d: usize, need: u64) -> bool {
        let res = &self.residency[d];
        let Some(budget) = res.budget else {
            return false;
        };
        let used = self.devices[d].memory().resident_bytes;
        used + need > budget && res.inflight.load(Ordering::Acquire) > 0
    }
}
