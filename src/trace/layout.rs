//! Lanes shared by the Chrome and SVG exports: which lanes there are, in what order, and how the
//! spans of a lane are packed into sub-rows so that overlapping spans do not cover each other.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::{Place, Trace, processor_label};

/// Spans that end at most this long after the next one starts still share a row: a simulated
/// clock's sums of durations are off by a few ulps, and a row per rounding error would be
/// noise. Far below the Chrome export's nanosecond resolution, so rows still never overlap
/// there.
const TOUCH: f64 = 1e-12;

/// Most sub-rows a lane is split into; spans beyond are drawn over the last rows.
pub(crate) const MAX_ROWS: usize = 64;

/// A processor's lane.
pub(crate) struct ProcessorLane {
    /// Processor index.
    pub processor: usize,
    /// Display name.
    pub name: String,
    /// Tasks it runs at once (at least 1).
    pub slots: usize,
    /// Indices into `Trace::tasks`, one list per sub-row, each sorted by start.
    pub rows: Vec<Vec<usize>>,
}

/// A transfer link's lane (one direction between two places).
pub(crate) struct LinkLane {
    /// Source.
    pub from: Place,
    /// Destination.
    pub to: Place,
    /// Indices into `Trace::transfers`, one list per sub-row, each sorted by start.
    pub rows: Vec<Vec<usize>>,
}

impl LinkLane {
    /// `host->gpu0`.
    pub(crate) fn name(&self) -> String {
        format!("{}->{}", self.from, self.to)
    }
}

/// Every lane of a trace: processors first (in the order of `Trace::lanes`, then any processor
/// that only tasks or evictions name, by index), then links (by source, then destination).
pub(crate) struct Layout {
    /// Processor lanes.
    pub processors: Vec<ProcessorLane>,
    /// Transfer lanes.
    pub links: Vec<LinkLane>,
}

impl Layout {
    pub(crate) fn new(trace: &Trace) -> Layout {
        let mut order: Vec<(usize, String, usize)> = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::new();
        for lane in &trace.lanes {
            index.entry(lane.processor).or_insert_with(|| {
                order.push((lane.processor, lane.name.clone(), lane.slots.max(1)));
                order.len() - 1
            });
        }
        let mut unnamed: Vec<usize> = trace
            .tasks
            .iter()
            .map(|t| t.processor)
            .chain(trace.evictions.iter().map(|e| e.device + 1))
            .filter(|p| !index.contains_key(p))
            .collect();
        unnamed.sort_unstable();
        unnamed.dedup();
        for p in unnamed {
            index.insert(p, order.len());
            order.push((p, processor_label(p), 1));
        }

        let mut members: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
        for (i, t) in trace.tasks.iter().enumerate() {
            members[index[&t.processor]].push(i);
        }
        let processors = order
            .into_iter()
            .zip(members)
            .map(|((processor, name, slots), tasks)| ProcessorLane {
                processor,
                name,
                slots,
                rows: pack(
                    tasks
                        .into_iter()
                        .map(|i| (i, trace.tasks[i].start, trace.tasks[i].end)),
                ),
            })
            .collect();

        let mut by_link: HashMap<(Place, Place), Vec<usize>> = HashMap::new();
        for (i, t) in trace.transfers.iter().enumerate() {
            by_link.entry((t.from, t.to)).or_default().push(i);
        }
        let mut links: Vec<LinkLane> = by_link
            .into_iter()
            .map(|((from, to), copies)| LinkLane {
                from,
                to,
                rows: pack(
                    copies
                        .into_iter()
                        .map(|i| (i, trace.transfers[i].start, trace.transfers[i].end)),
                ),
            })
            .collect();
        links.sort_by_key(|l| (l.from.order(), l.to.order()));
        Layout { processors, links }
    }

    /// The lane of processor `p`, if there is one.
    pub(crate) fn processor(&self, p: usize) -> Option<usize> {
        self.processors.iter().position(|l| l.processor == p)
    }
}

/// Packs spans `(id, start, end)` into as few rows as possible with no two spans of a row
/// overlapping (interval partitioning: sweep by start, reuse the lowest-numbered free row). Every
/// row is sorted by start; there is at least one row, and at most [`MAX_ROWS`] (spans that would
/// need more go to the row that frees first).
pub(crate) fn pack(spans: impl Iterator<Item = (usize, f64, f64)>) -> Vec<Vec<usize>> {
    let mut spans: Vec<(usize, f64, f64)> = spans
        .map(|(i, s, e)| {
            let s = if s.is_finite() { s } else { 0.0 };
            (i, s, if e.is_finite() { e.max(s) } else { s })
        })
        .collect();
    spans.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    // Busy rows as (end, row), earliest end first; free rows, lowest first.
    let mut busy: BinaryHeap<Reverse<(Time, usize)>> = BinaryHeap::new();
    let mut free: BinaryHeap<Reverse<usize>> = BinaryHeap::from([Reverse(0)]);
    for (i, start, end) in spans {
        while let Some(Reverse((Time(e), r))) = busy.peek().copied() {
            if e > start + TOUCH {
                break;
            }
            busy.pop();
            free.push(Reverse(r));
        }
        let row = match free.pop() {
            Some(Reverse(r)) => r,
            None if rows.len() < MAX_ROWS => {
                rows.push(Vec::new());
                rows.len() - 1
            }
            None => {
                let Some(Reverse((_, r))) = busy.pop() else {
                    unreachable!("no free row and no busy row, yet there are {MAX_ROWS} rows")
                };
                r
            }
        };
        rows[row].push(i);
        busy.push(Reverse((Time(end), row)));
    }
    rows
}

/// A finite time with a total order, for the heap.
#[derive(Clone, Copy, PartialEq)]
struct Time(f64);

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_uses_as_few_rows_as_the_overlap_needs() {
        // 0:[0,2) 1:[1,3) 2:[2,4) 3:[2.5,3) 4:[3,5)
        let spans = [
            (0, 0.0, 2.0),
            (1, 1.0, 3.0),
            (2, 2.0, 4.0),
            (3, 2.5, 3.0),
            (4, 3.0, 5.0),
        ];
        let rows = pack(spans.into_iter());
        assert_eq!(rows, vec![vec![0, 2], vec![1, 4], vec![3]]);
    }

    #[test]
    fn pack_keeps_touching_spans_in_one_row() {
        let spans = (0..10).map(|i| (i, i as f64 * 0.1, (i + 1) as f64 * 0.1));
        assert_eq!(pack(spans), vec![(0..10).collect::<Vec<_>>()]);
        assert_eq!(pack(std::iter::empty()), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn pack_caps_rows() {
        let spans = (0..MAX_ROWS + 5).map(|i| (i, 0.0, 1.0));
        let rows = pack(spans);
        assert_eq!(rows.len(), MAX_ROWS);
        assert_eq!(rows.iter().map(Vec::len).sum::<usize>(), MAX_ROWS + 5);
    }
}
