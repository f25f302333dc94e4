//! The simulated memory system: replicas per memory space with MSI coherence, host links as
//! priority-served serial resources, device capacity and LRU eviction.
//!
//! - A replica is `Invalid`, `Pending` (a transfer will bring it) or `Valid`. A chunk valid in
//!   one space only, other than the host, is Modified (dirty); valid in several, Shared.
//! - A read makes a replica valid where the task runs: from the host over the device's link, or
//!   from another device in two hops (its link up to the host, then the destination's link
//!   down; wgpu has no peer-to-peer copies), which leaves a shared copy on the host.
//! - A write, when its task starts, invalidates every other replica (their readers have all
//!   finished: datadeps orders them before the writer).
//! - Each GPU link carries one transfer at a time in each direction (PCIe and NVLink are full
//!   duplex), taking `link_latency + bytes / link_bandwidth`; the most urgent pending transfer
//!   goes next.
//! - A device's memory holds its valid and arriving replicas. Chunks of tasks placed there and
//!   not finished are pinned; when a placement would overflow the memory, unpinned replicas
//!   are dropped least recently used first, the dirty ones written back to the host first.
//!   The space of a written-back replica counts as free as soon as its write-back is queued (as
//!   if staged), a small optimism of the model.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::runtime::placement::ProcessorModel;
use crate::trace::{Eviction, Place, TransferSpan};

use super::engine::{Ends, Sim};
use super::fenwick::Fenwick;

/// The host's memory space (processor 0's).
pub(super) const HOST: usize = 0;
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Invalid,
    Pending,
    Valid,
}

/// One chunk's replica in one memory space.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rep {
    state: State,
    /// Placed, unfinished tasks (and outgoing transfers) that need it here.
    pins: u32,
    /// Last use, for LRU.
    tick: u64,
    /// The transfer bringing it while `Pending` (`NONE`: waiting for the host copy first).
    xfer: u32,
    /// Urgency of the most urgent task waiting for it.
    urgency: u32,
}

impl Rep {
    pub(super) const INVALID: Rep = Rep {
        state: State::Invalid,
        pins: 0,
        tick: 0,
        xfer: NONE,
        urgency: 0,
    };
    pub(super) const VALID: Rep = Rep {
        state: State::Valid,
        ..Rep::INVALID
    };
}

/// What bringing a task's inputs to one memory space would take ([`Sim::input_eta`]).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct InputEta {
    /// Seconds from now until every input could be valid there.
    pub(super) eta: f64,
    /// Bytes to move.
    pub(super) bytes: u64,
    /// Seconds of link time the copies take.
    pub(super) link_time: f64,
    /// The part of `link_time` for inputs the task also writes.
    pub(super) link_time_written: f64,
}

/// Who waits for a pending replica.
#[derive(Clone, Copy, Debug)]
pub(super) enum Waiter {
    /// A task placed in that space.
    Task(u32),
    /// A pending replica on this device, to be sent on once the host copy arrives.
    Forward(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum XState {
    Queued,
    Running,
    Done,
    Cancelled,
}

/// One copy of one chunk over one link.
#[derive(Clone, Debug)]
pub(super) struct Xfer {
    chunk: u32,
    from: usize,
    to: usize,
    link: usize,
    urgency: u32,
    dur: f64,
    state: XState,
    start: f64,
    end: f64,
    /// Whether the source replica is pinned while it is read (not for an eviction's
    /// write-back, whose source is already gone).
    pin_source: bool,
}

/// One direction of a GPU's host link.
pub(super) struct Link {
    bandwidth: f64,
    latency: f64,
    /// When the transfer in flight ends (at or before `now`: idle).
    busy_until: f64,
    /// Pending transfers, most urgent first: `(urgency, Reverse(seq), xfer)`; entries whose
    /// urgency is stale are skipped.
    queue: BinaryHeap<(u32, Reverse<u64>, u32)>,
    /// Seconds of pending transfers by urgency.
    pending: Fenwick,
    seq: u64,
    pub(super) bytes: u64,
    pub(super) busy: f64,
}

impl Link {
    pub(super) fn new(model: &ProcessorModel, n_tasks: usize) -> Link {
        Link {
            bandwidth: model.link_bandwidth,
            latency: model.link_latency,
            busy_until: 0.0,
            queue: BinaryHeap::new(),
            pending: Fenwick::new(n_tasks),
            seq: 0,
            bytes: 0,
            busy: 0.0,
        }
    }

    fn duration(&self, bytes: u64) -> f64 {
        if bytes == 0 {
            0.0
        } else {
            self.latency + bytes as f64 / self.bandwidth
        }
    }
}

/// The link carrying copies into space `to` from `from` (one of them is the host).
fn link_between(from: usize, to: usize) -> usize {
    if to == HOST {
        2 * (from - 1) + 1
    } else {
        debug_assert_eq!(from, HOST, "device-to-device copies go through the host");
        2 * (to - 1)
    }
}

impl Sim<'_> {
    fn rep(&self, c: usize, s: usize) -> &Rep {
        &self.reps[c * self.spaces + s]
    }

    fn cap(&self, s: usize) -> Option<u64> {
        if s == HOST {
            None
        } else {
            self.m.processors[s].memory
        }
    }

    fn in_lru(&self, c: usize, s: usize) -> bool {
        let r = self.rep(c, s);
        s != HOST && r.state == State::Valid && r.pins == 0
    }

    /// Changes a replica, keeping the memory use, the LRU set and the evictable bytes in step.
    fn update(&mut self, c: usize, s: usize, f: impl FnOnce(&mut Rep)) {
        let bytes = self.g.chunks[c];
        let (was_lru, was_present) = (self.in_lru(c, s), self.rep(c, s).state != State::Invalid);
        if was_lru {
            let tick = self.rep(c, s).tick;
            self.lru[s].remove(&(tick, c as u32));
            self.evictable[s] -= bytes;
        }
        f(&mut self.reps[c * self.spaces + s]);
        let is_present = self.rep(c, s).state != State::Invalid;
        if s != HOST && was_present != is_present {
            if is_present {
                self.used[s] += bytes;
                self.peak[s] = self.peak[s].max(self.used[s]);
                debug_assert!(
                    self.cap(s).is_none_or(|cap| self.used[s] <= cap),
                    "device memory overflows: evictions make room before anything arrives"
                );
            } else {
                self.used[s] -= bytes;
            }
        }
        if self.in_lru(c, s) {
            let tick = self.rep(c, s).tick;
            self.lru[s].insert((tick, c as u32));
            self.evictable[s] += bytes;
        }
    }

    fn pin(&mut self, c: usize, s: usize) {
        self.update(c, s, |r| r.pins += 1);
    }

    fn unpin(&mut self, c: usize, s: usize) {
        self.tick += 1;
        let tick = self.tick;
        self.update(c, s, |r| {
            r.pins -= 1;
            r.tick = tick;
        });
    }

    /// The device holding the only current value of a chunk not valid on the host.
    fn valid_device(&self, c: usize) -> usize {
        (1..self.spaces)
            .find(|&s| self.rep(c, s).state == State::Valid)
            .expect("a chunk invalid on the host is valid on a device")
    }

    /// Whether task `t`'s chunks fit in processor `p`'s memory after evicting what is not
    /// pinned.
    pub(super) fn fits(&self, t: u32, p: usize) -> bool {
        let Some(cap) = self.cap(p) else {
            return true;
        };
        let (mut need, mut own) = (0, 0);
        for &(c, ..) in &self.acc[t as usize] {
            let r = self.rep(c as usize, p);
            match r.state {
                State::Invalid => need += self.g.chunks[c as usize],
                State::Valid if r.pins == 0 => own += self.g.chunks[c as usize],
                _ => {}
            }
        }
        self.used[p] + need <= cap + (self.evictable[p] - own)
    }

    /// Pins task `t`'s chunks in space `p` and evicts until they fit.
    pub(super) fn make_room(&mut self, t: u32, p: usize) {
        let ti = t as usize;
        for i in 0..self.acc[ti].len() {
            self.pin(self.acc[ti][i].0 as usize, p);
        }
        let Some(cap) = self.cap(p) else {
            return;
        };
        let need: u64 = self.acc[ti]
            .iter()
            .filter(|a| self.rep(a.0 as usize, p).state == State::Invalid)
            .map(|a| self.g.chunks[a.0 as usize])
            .sum();
        while self.used[p] + need > cap {
            let &(_, c) = self.lru[p]
                .first()
                .expect("placement checked that the task's chunks fit");
            self.evict(c as usize, p, self.urgency[ti]);
        }
    }

    fn evict(&mut self, c: usize, s: usize, urgency: u32) {
        let dirty = self.rep(c, HOST).state == State::Invalid
            && !(1..self.spaces).any(|d| d != s && self.rep(c, d).state != State::Invalid);
        if dirty {
            self.update(c, HOST, |r| {
                r.state = State::Pending;
                r.urgency = urgency;
            });
            self.enqueue(c, s, HOST, urgency, false);
        }
        self.update(c, s, |r| r.state = State::Invalid);
        self.evictions += 1;
        if let Some(trace) = &mut self.trace {
            trace.evictions.push(Eviction {
                chunk: c as u64,
                device: s - 1,
                bytes: self.g.chunks[c],
                dirty,
                time: self.now,
            });
        }
    }

    /// Makes chunk `c` valid in space `s` for task `t`; true if `t` has to wait for it.
    pub(super) fn request(&mut self, c: usize, s: usize, urgency: u32, t: Option<u32>) -> bool {
        let wait = |sim: &mut Sim<'_>| {
            if let Some(t) = t {
                sim.waiters_mut(c, s).push(Waiter::Task(t));
            }
        };
        match self.rep(c, s).state {
            State::Valid => false,
            State::Pending => {
                wait(self);
                self.bump(c, s, urgency);
                true
            }
            State::Invalid => {
                self.update(c, s, |r| {
                    r.state = State::Pending;
                    r.urgency = urgency;
                    r.xfer = NONE;
                });
                wait(self);
                self.fetch(c, s, urgency);
                true
            }
        }
    }

    fn waiters_mut(&mut self, c: usize, s: usize) -> &mut Vec<Waiter> {
        &mut self.waiters[c * self.spaces + s]
    }

    /// Starts bringing chunk `c` to space `s`, whose replica has just become `Pending`.
    fn fetch(&mut self, c: usize, s: usize, urgency: u32) {
        if s == HOST {
            let q = self.valid_device(c);
            self.enqueue(c, q, HOST, urgency, true);
            return;
        }
        match self.rep(c, HOST).state {
            State::Valid => self.enqueue(c, HOST, s, urgency, true),
            State::Pending => {
                self.waiters_mut(c, HOST).push(Waiter::Forward(s));
                self.bump(c, HOST, urgency);
            }
            State::Invalid => {
                self.update(c, HOST, |r| {
                    r.state = State::Pending;
                    r.urgency = urgency;
                    r.xfer = NONE;
                });
                self.waiters_mut(c, HOST).push(Waiter::Forward(s));
                self.fetch(c, HOST, urgency);
            }
        }
    }

    /// A write-only argument: the replica is allocated where the task runs, nothing is copied.
    pub(super) fn allocate(&mut self, c: usize, s: usize) {
        if self.rep(c, s).state == State::Invalid {
            self.update(c, s, |r| r.state = State::Valid);
        }
    }

    fn enqueue(&mut self, c: usize, from: usize, to: usize, urgency: u32, pin_source: bool) {
        let link = link_between(from, to);
        let id = self.xfers.len() as u32;
        let l = &mut self.links[link];
        let dur = l.duration(self.g.chunks[c]);
        l.seq += 1;
        l.queue.push((urgency, Reverse(l.seq), id));
        l.pending.add(urgency as usize, dur);
        self.xfers.push(Xfer {
            chunk: c as u32,
            from,
            to,
            link,
            urgency,
            dur,
            state: XState::Queued,
            start: 0.0,
            end: 0.0,
            pin_source,
        });
        self.reps[c * self.spaces + to].xfer = id;
        if pin_source {
            self.pin(c, from);
        }
    }

    /// A more urgent task waits for the pending replica of `c` in `s`: its transfer (or the one
    /// bringing the host copy it waits for) moves up its link's queue.
    fn bump(&mut self, c: usize, s: usize, urgency: u32) {
        let r = *self.rep(c, s);
        if r.state != State::Pending || urgency <= r.urgency {
            return;
        }
        self.reps[c * self.spaces + s].urgency = urgency;
        if r.xfer == NONE {
            return self.bump(c, HOST, urgency);
        }
        let x = &mut self.xfers[r.xfer as usize];
        if x.state == XState::Queued && x.urgency < urgency {
            let l = &mut self.links[x.link];
            l.pending.add(x.urgency as usize, -x.dur);
            l.pending.add(urgency as usize, x.dur);
            l.seq += 1;
            l.queue.push((urgency, Reverse(l.seq), r.xfer));
            x.urgency = urgency;
        }
    }

    /// Starts the most urgent pending transfer on link `l` if it is idle.
    pub(super) fn start_transfer(&mut self, l: usize) {
        let now = self.now;
        let link = &mut self.links[l];
        if link.busy_until > now {
            return;
        }
        while let Some((u, _, id)) = link.queue.pop() {
            let x = &mut self.xfers[id as usize];
            if x.state != XState::Queued || x.urgency != u {
                continue;
            }
            x.state = XState::Running;
            x.start = now;
            x.end = now + x.dur;
            link.pending.add(u as usize, -x.dur);
            link.busy_until = x.end;
            let end = x.end;
            self.push_event(end, Ends::Transfer(id));
            return;
        }
    }

    pub(super) fn transfer_ends(&mut self, id: u32) {
        let x = self.xfers[id as usize].clone();
        self.xfers[id as usize].state = XState::Done;
        let c = x.chunk as usize;
        let link = &mut self.links[x.link];
        link.bytes += self.g.chunks[c];
        link.busy += x.dur;
        if let Some(trace) = &mut self.trace {
            let place = |s: usize| {
                if s == HOST {
                    Place::Host
                } else {
                    Place::Device(s - 1)
                }
            };
            trace.transfers.push(TransferSpan {
                chunk: c as u64,
                bytes: self.g.chunks[c],
                from: place(x.from),
                to: place(x.to),
                start: x.start,
                end: x.end,
            });
        }
        if x.pin_source {
            self.unpin(c, x.from);
        }
        let r = *self.rep(c, x.to);
        if r.state != State::Pending || r.xfer != id {
            return; // superseded by a write
        }
        self.tick += 1;
        let tick = self.tick;
        self.update(c, x.to, |r| {
            r.state = State::Valid;
            r.xfer = NONE;
            r.tick = tick;
        });
        for w in std::mem::take(self.waiters_mut(c, x.to)) {
            match w {
                Waiter::Task(t) => self.input_arrived(t),
                Waiter::Forward(d) => {
                    let r = *self.rep(c, d);
                    if r.state == State::Pending && r.xfer == NONE {
                        self.enqueue(c, HOST, d, r.urgency, true);
                    }
                }
            }
        }
    }

    /// Task `t` starts in space `p`: what it writes becomes valid there only.
    pub(super) fn task_starts(&mut self, t: u32, p: usize) {
        let ti = t as usize;
        for i in 0..self.acc[ti].len() {
            let (c, _, writes) = self.acc[ti][i];
            if !writes {
                continue;
            }
            let c = c as usize;
            for s in (0..self.spaces).filter(|&s| s != p) {
                let r = *self.rep(c, s);
                debug_assert!(
                    self.waiters[c * self.spaces + s].is_empty(),
                    "a chunk's readers finish before its next writer starts"
                );
                if r.state == State::Pending && r.xfer != NONE {
                    let x = &mut self.xfers[r.xfer as usize];
                    if x.state == XState::Queued {
                        x.state = XState::Cancelled;
                        self.links[x.link].pending.add(x.urgency as usize, -x.dur);
                        let (from, pinned) = (x.from, x.pin_source);
                        if pinned {
                            self.unpin(c, from);
                        }
                    }
                }
                if r.state != State::Invalid {
                    self.update(c, s, |r| {
                        r.state = State::Invalid;
                        r.xfer = NONE;
                    });
                }
            }
            self.update(c, p, |r| r.state = State::Valid);
        }
    }

    /// Task `t` finished in space `p`: its chunks there are no longer pinned for it.
    pub(super) fn task_done_with_chunks(&mut self, t: u32, p: usize) {
        let ti = t as usize;
        for i in 0..self.acc[ti].len() {
            self.unpin(self.acc[ti][i].0 as usize, p);
        }
    }

    /// What moving task `t`'s inputs to space `p` would take: the predicted seconds until
    /// every input could be valid there, the bytes to move, the seconds of link time those
    /// new copies take, and the part of that for inputs the task also writes.
    pub(super) fn input_eta(&self, t: u32, p: usize) -> InputEta {
        let u = self.urgency[t as usize];
        // Seconds of this task's own transfers already counted on each link.
        let mut extra: Vec<(usize, f64)> = Vec::new();
        let mut e = InputEta::default();
        for &(c, reads, writes) in &self.acc[t as usize] {
            let c = c as usize;
            if !reads {
                continue;
            }
            let before: f64 = extra.iter().map(|e| e.1).sum();
            let eta = match self.rep(c, p).state {
                State::Valid => 0.0,
                State::Pending => self.pending_eta(c, p),
                State::Invalid => {
                    e.bytes += self.g.chunks[c];
                    self.fetch_eta(c, p, u, &mut extra)
                }
            };
            let after: f64 = extra.iter().map(|e| e.1).sum();
            e.link_time = after;
            if writes {
                e.link_time_written += after - before;
            }
            e.eta = e.eta.max(eta);
        }
        e
    }

    /// Seconds until link `l` would start a transfer of the given urgency.
    fn link_wait(&self, l: usize, urgency: u32) -> f64 {
        let link = &self.links[l];
        (link.busy_until - self.now).max(0.0) + link.pending.at_least(urgency as usize)
    }

    /// A copy of `c` over link `l` that can start no earlier than `ready` (from now).
    fn hop_eta(
        &self,
        c: usize,
        l: usize,
        u: u32,
        ready: f64,
        extra: &mut Vec<(usize, f64)>,
    ) -> f64 {
        let dur = self.links[l].duration(self.g.chunks[c]);
        let slot = match extra.iter_mut().find(|e| e.0 == l) {
            Some(e) => e,
            None => {
                extra.push((l, 0.0));
                extra.last_mut().expect("pushed")
            }
        };
        let start = (self.link_wait(l, u) + slot.1).max(ready);
        slot.1 += dur;
        start + dur
    }

    fn fetch_eta(&self, c: usize, s: usize, u: u32, extra: &mut Vec<(usize, f64)>) -> f64 {
        if s == HOST {
            let q = self.valid_device(c);
            return self.hop_eta(c, link_between(q, HOST), u, 0.0, extra);
        }
        let host = match self.rep(c, HOST).state {
            State::Valid => 0.0,
            State::Pending => self.pending_eta(c, HOST),
            State::Invalid => {
                let q = self.valid_device(c);
                self.hop_eta(c, link_between(q, HOST), u, 0.0, extra)
            }
        };
        self.hop_eta(c, link_between(HOST, s), u, host, extra)
    }

    /// Predicted seconds until the pending replica of `c` in `s` is valid.
    fn pending_eta(&self, c: usize, s: usize) -> f64 {
        let r = self.rep(c, s);
        if r.xfer == NONE {
            let l = link_between(HOST, s);
            let host = self.pending_eta(c, HOST);
            return host.max(self.link_wait(l, r.urgency))
                + self.links[l].duration(self.g.chunks[c]);
        }
        let x = &self.xfers[r.xfer as usize];
        match x.state {
            XState::Running => x.end - self.now,
            XState::Queued => self.link_wait(x.link, x.urgency) + x.dur,
            XState::Done | XState::Cancelled => 0.0,
        }
    }
}
