//! The SVG Gantt chart: one lane per processor (split into sub-rows where its tasks overlap), one
//! per transfer link, a kernel legend, a time axis, and eviction markers.
//!
//! Hand-written SVG 1.1, no styling beyond attributes, so it renders the same in a browser, in
//! an image viewer, and pasted into a document. Tasks narrower than [`MERGE_PX`] are merged with
//! their neighbours in the same row so that a trace of any length stays a few megabytes: the
//! number of rectangles per row is bounded by the chart's width, not the number of tasks.

use std::fmt::{self, Write};

use super::color::{kernel_color, link_color};
use super::format::{self, xml};
use super::layout::Layout;
use super::{Trace, processor_label};

/// Width of the time axis, pixels.
const CHART_W: f64 = 1200.0;
/// Height of a processor sub-row and of a transfer sub-row, pixels.
const ROW_H: f64 = 14.0;
const LINK_ROW_H: f64 = 10.0;
/// Space above and below a lane's rows.
const LANE_PAD: f64 = 3.0;
/// Spans narrower than this (pixels) are merged with neighbours closer than this.
const MERGE_PX: f64 = 0.5;
/// A merged group of different kernels stops growing at this width, so colors stay roughly
/// where they were; a group of one kernel grows without limit.
const GROUP_MAX_PX: f64 = 2.0;
/// Longest lane label, characters; longer names are cut with an ellipsis.
const LABEL_CHARS: usize = 44;
/// Most tiles listed in a task's tooltip.
const TOOLTIP_TILES: usize = 8;
const RIGHT: f64 = 24.0;
const FONT_W: f64 = 6.6;

/// A piece of a row: one span, or several narrow neighbours merged into one rectangle.
#[derive(Debug, PartialEq)]
enum Piece {
    /// The span with this index.
    One(usize),
    /// Spans with these indices, covering `x0..x1` pixels.
    Merged {
        x0: f64,
        x1: f64,
        members: Vec<usize>,
    },
}

/// Splits a row of spans `(index, x0, x1, kind)` (in pixels, sorted by `x0`) into pieces: a span
/// at least [`MERGE_PX`] wide stands alone; narrower ones merge with a preceding narrow
/// neighbour less than [`MERGE_PX`] away, while the group is of one kind or at most
/// [`GROUP_MAX_PX`] wide.
fn merge_row<'k>(spans: &[(usize, f64, f64, &'k str)]) -> Vec<Piece> {
    struct Group<'k> {
        x0: f64,
        x1: f64,
        kind: Option<&'k str>,
        members: Vec<usize>,
    }
    fn flush(group: Option<Group<'_>>, out: &mut Vec<Piece>) {
        match group {
            Some(g) if g.members.len() == 1 => out.push(Piece::One(g.members[0])),
            Some(g) => out.push(Piece::Merged {
                x0: g.x0,
                x1: g.x1,
                members: g.members,
            }),
            None => {}
        }
    }
    let mut out = Vec::new();
    let mut group: Option<Group<'k>> = None;
    for &(i, x0, x1, kind) in spans {
        if x1 - x0 >= MERGE_PX {
            flush(group.take(), &mut out);
            out.push(Piece::One(i));
            continue;
        }
        if let Some(g) = &mut group {
            let near = x0 - g.x1 < MERGE_PX;
            let same = g.kind == Some(kind);
            if near && (same || x1.max(g.x1) - g.x0 <= GROUP_MAX_PX) {
                g.x1 = g.x1.max(x1);
                if !same {
                    g.kind = None;
                }
                g.members.push(i);
                continue;
            }
        }
        flush(group.take(), &mut out);
        group = Some(Group {
            x0,
            x1,
            kind: Some(kind),
            members: vec![i],
        });
    }
    flush(group, &mut out);
    out
}

/// A step of 1, 2 or 5 times a power of ten giving about `target` ticks over `span`.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let magnitude = 10f64.powf(raw.log10().floor());
    let m = match raw / magnitude {
        n if n <= 1.0 => 1.0,
        n if n <= 2.0 => 2.0,
        n if n <= 5.0 => 5.0,
        _ => 10.0,
    };
    m * magnitude
}

/// Tick labels for `0, step, 2 step, ... <= end`: one unit for the whole axis (the largest
/// that keeps `end` at least 1), and as many decimals as the step needs.
fn ticks(end: f64, step: f64) -> Vec<(f64, String)> {
    let (scale, unit) = if end >= 1.0 {
        (1.0, "s")
    } else if end >= 1e-3 {
        (1e3, "ms")
    } else if end >= 1e-6 {
        (1e6, "µs")
    } else {
        (1e9, "ns")
    };
    // The epsilon keeps a step of 0.1 that is 0.0999.. in binary at one decimal.
    let decimals = (-((step * scale).log10() + 1e-9).floor()).max(0.0) as usize;
    let n = (end / step + 1e-9).floor() as usize;
    (0..=n)
        .map(|k| {
            let t = k as f64 * step;
            (t, format!("{:.decimals$} {unit}", t * scale))
        })
        .collect()
}

/// `s` cut to `n` characters, with an ellipsis if it was longer.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

impl Trace {
    /// The trace as a standalone SVG Gantt chart, for a browser.
    ///
    /// One lane per processor, labeled with its name; a processor whose tasks overlap (a CPU
    /// pool with several slots) has its tasks packed greedily into as many sub-rows as they need
    /// (its slot count when the trace is consistent). Then one lane per transfer link
    /// (`host->gpu0`, ...). Tasks are colored by [`kernel_color`] with a
    /// legend; each has a tooltip with kernel, task id, tiles, measured and predicted time.
    /// Failed tasks have a red outline. Evictions are small red triangles at the top of the
    /// device's lane. A title line gives the makespan and whether the trace is simulated; a time
    /// axis with 1-2-5 ticks runs along the bottom.
    ///
    /// Tasks and copies narrower than half a pixel are merged with their narrow neighbours in
    /// the same row into one rectangle (colored by the kernel that took most of its time, with a
    /// tooltip counting what it holds), so the file stays a few megabytes for any trace.
    pub fn to_svg(&self) -> String {
        let mut out = String::new();
        self.write_svg(&mut out)
            .expect("writing into a String cannot fail");
        out
    }

    fn write_svg(&self, out: &mut String) -> fmt::Result {
        let layout = Layout::new(self);
        let makespan = self.makespan();
        let end = if makespan > 0.0 { makespan } else { 1.0 };

        let longest = layout
            .processors
            .iter()
            .map(|l| l.name.chars().count())
            .chain(layout.links.iter().map(|l| l.name().chars().count()))
            .max()
            .unwrap_or(0)
            .min(LABEL_CHARS);
        let left = (16.0 + longest as f64 * FONT_W).clamp(110.0, 330.0);
        let width = left + CHART_W + RIGHT;
        let x = |t: f64| left + (if t.is_finite() { t } else { 0.0 }) / end * CHART_W;

        // Legend: kernels by name, wrapped to the chart's width.
        let mut kernels: Vec<&str> = self.tasks.iter().map(|t| t.kernel.as_str()).collect();
        kernels.sort_unstable();
        kernels.dedup();
        let mut legend = String::new();
        let (mut lx, mut ly) = (left, 44.0);
        let mut entries: Vec<(String, String)> = kernels
            .iter()
            .map(|k| {
                let swatch = format!(
                    r#"<rect class="key" width="12" height="12" fill="{}"/>"#,
                    kernel_color(k)
                );
                (swatch, cut(k, 32))
            })
            .collect();
        if !self.evictions.is_empty() {
            let marker = r##"<polygon class="key-evict" points="0,0 12,0 6,10" fill="#d62728"/>"##;
            entries.push((marker.to_owned(), "eviction".to_owned()));
        }
        for (swatch, name) in &entries {
            let w = 20.0 + name.chars().count() as f64 * FONT_W + 16.0;
            if lx + w > left + CHART_W && lx > left {
                lx = left;
                ly += 18.0;
            }
            writeln!(
                legend,
                r#"<g transform="translate({lx:.1},{:.1})">{swatch}<text x="18" y="10">{}</text></g>"#,
                ly - 10.0,
                xml(name)
            )?;
            lx += w;
        }
        let top = ly + 22.0;

        // Lane geometry.
        let mut y = top;
        let mut proc_y = Vec::with_capacity(layout.processors.len());
        for lane in &layout.processors {
            proc_y.push(y);
            y += lane.rows.len() as f64 * ROW_H + 2.0 * LANE_PAD;
        }
        if !layout.links.is_empty() {
            y += 6.0;
        }
        let mut link_y = Vec::with_capacity(layout.links.len());
        for lane in &layout.links {
            link_y.push(y);
            y += lane.rows.len() as f64 * LINK_ROW_H + 2.0 * LANE_PAD;
        }
        let bottom = y;
        let height = bottom + 44.0;

        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="11">"#
        )?;
        writeln!(
            out,
            r##"<rect class="bg" width="100%" height="100%" fill="#ffffff"/>"##
        )?;
        writeln!(
            out,
            r#"<text x="12" y="22" font-size="15" font-weight="bold">{}</text>"#,
            xml(&self.title(makespan))
        )?;
        out.push_str(&legend);

        // Lane backgrounds and labels.
        writeln!(out, "<g class=\"lanes\">")?;
        let lanes = layout
            .processors
            .iter()
            .zip(&proc_y)
            .map(|(l, &y)| (l.name.clone(), y, l.rows.len() as f64 * ROW_H))
            .chain(
                layout
                    .links
                    .iter()
                    .zip(&link_y)
                    .map(|(l, &y)| (l.name(), y, l.rows.len() as f64 * LINK_ROW_H)),
            );
        for (n, (name, y, h)) in lanes.enumerate() {
            let shade = if n % 2 == 0 { "#f4f4f4" } else { "#ffffff" };
            let h = h + 2.0 * LANE_PAD;
            writeln!(
                out,
                r##"<rect class="lane" x="0" y="{y:.1}" width="{width:.0}" height="{h:.1}" fill="{shade}"/>"##
            )?;
            writeln!(
                out,
                r#"<text x="8" y="{:.1}">{}<title>{}</title></text>"#,
                // The baseline a third of the font size below the middle centers the text
                // (`dominant-baseline` would, but not every renderer has it).
                y + h / 2.0 + 4.0,
                xml(&cut(&name, LABEL_CHARS)),
                xml(&name)
            )?;
        }
        writeln!(out, "</g>")?;

        // Grid and time axis.
        writeln!(out, "<g class=\"axis\" stroke=\"#cccccc\">")?;
        let step = nice_step(end, 10.0);
        for (t, label) in ticks(end, step) {
            let tx = x(t);
            writeln!(
                out,
                r#"<line x1="{tx:.1}" y1="{top:.1}" x2="{tx:.1}" y2="{:.1}"/>"#,
                bottom + 4.0
            )?;
            writeln!(
                out,
                r##"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" stroke="none" fill="#333333">{}</text>"##,
                bottom + 17.0,
                xml(&label)
            )?;
        }
        writeln!(
            out,
            r##"<line x1="{left:.1}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#666666"/>"##,
            left + CHART_W
        )?;
        writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" stroke="none" fill="#333333">time since the trace began</text>"##,
            left + CHART_W / 2.0,
            bottom + 34.0
        )?;
        writeln!(out, "</g>")?;

        // Tasks.
        writeln!(out, "<g class=\"tasks\">")?;
        for (lane, &ly) in layout.processors.iter().zip(&proc_y) {
            for (k, row) in lane.rows.iter().enumerate() {
                let ry = ly + LANE_PAD + k as f64 * ROW_H + 1.0;
                let spans: Vec<(usize, f64, f64, &str)> = row
                    .iter()
                    .map(|&i| {
                        let t = &self.tasks[i];
                        (i, x(t.start), x(t.start + t.duration()), t.kernel.as_str())
                    })
                    .collect();
                for piece in merge_row(&spans) {
                    self.write_task_piece(out, &piece, ry, &lane.name, &x)?;
                }
            }
        }
        writeln!(out, "</g>")?;

        // Transfers.
        writeln!(out, "<g class=\"transfers\">")?;
        for (lane, &ly) in layout.links.iter().zip(&link_y) {
            let fill = link_color(lane.from, lane.to);
            for (k, row) in lane.rows.iter().enumerate() {
                let ry = ly + LANE_PAD + k as f64 * LINK_ROW_H + 1.0;
                let spans: Vec<(usize, f64, f64, &str)> = row
                    .iter()
                    .map(|&i| {
                        let c = &self.transfers[i];
                        (i, x(c.start), x(c.start + c.duration()), "")
                    })
                    .collect();
                for piece in merge_row(&spans) {
                    let (x0, x1, tip) = match &piece {
                        Piece::One(i) => {
                            let c = &self.transfers[*i];
                            let rate = c
                                .gb_per_s()
                                .map_or(String::new(), |g| format!(", {g:.2} GB/s"));
                            let tip = format!(
                                "chunk {}: {} {}\n{}{rate}\nstart {}",
                                c.chunk,
                                format::bytes(c.bytes),
                                lane.name(),
                                format::time(c.duration(), true),
                                format::time(c.start, true),
                            );
                            (x(c.start), x(c.start + c.duration()), tip)
                        }
                        Piece::Merged { x0, x1, members } => {
                            let bytes: u64 = members.iter().map(|&i| self.transfers[i].bytes).sum();
                            let tip = format!(
                                "{} copies {} merged at this zoom, {}",
                                members.len(),
                                lane.name(),
                                format::bytes(bytes)
                            );
                            (*x0, *x1, tip)
                        }
                    };
                    writeln!(
                        out,
                        r#"<rect class="copy" x="{x0:.2}" y="{ry:.1}" width="{:.2}" height="{:.0}" fill="{fill}"><title>{}</title></rect>"#,
                        (x1 - x0).max(MERGE_PX),
                        LINK_ROW_H - 2.0,
                        xml(&tip)
                    )?;
                }
            }
        }
        writeln!(out, "</g>")?;

        // Evictions: markers at the top of the device's lane, merged within a pixel.
        writeln!(out, "<g class=\"evictions\">")?;
        let mut evictions: Vec<usize> = (0..self.evictions.len()).collect();
        evictions.sort_by(|&a, &b| {
            let (a, b) = (&self.evictions[a], &self.evictions[b]);
            a.device.cmp(&b.device).then(a.time.total_cmp(&b.time))
        });
        let mut n = 0;
        while n < evictions.len() {
            let first = &self.evictions[evictions[n]];
            let ex = x(first.time);
            let mut m = n + 1;
            while m < evictions.len()
                && self.evictions[evictions[m]].device == first.device
                && x(self.evictions[evictions[m]].time) - ex < 1.0
            {
                m += 1;
            }
            let group = &evictions[n..m];
            let Some(lane) = layout.processor(first.device + 1) else {
                unreachable!("the layout has a lane for every evicting device")
            };
            let ey = proc_y[lane] + 1.0;
            let tip = if let [i] = group {
                let e = &self.evictions[*i];
                format!(
                    "evicted chunk {} from {} at {}: {}{}",
                    e.chunk,
                    processor_label(e.device + 1),
                    format::time(e.time, true),
                    format::bytes(e.bytes),
                    if e.dirty {
                        ", dirty (written back first)"
                    } else {
                        ""
                    }
                )
            } else {
                let bytes: u64 = group.iter().map(|&i| self.evictions[i].bytes).sum();
                let dirty = group.iter().filter(|&&i| self.evictions[i].dirty).count();
                format!(
                    "{} evictions from {}: {}, {dirty} dirty",
                    group.len(),
                    processor_label(first.device + 1),
                    format::bytes(bytes)
                )
            };
            writeln!(
                out,
                r##"<polygon class="evict" points="{:.2},{ey:.1} {:.2},{ey:.1} {ex:.2},{:.1}" fill="#d62728" stroke="#7f0000" stroke-width="0.5"><title>{}</title></polygon>"##,
                ex - 3.5,
                ex + 3.5,
                ey + 6.0,
                xml(&tip)
            )?;
            n = m;
        }
        writeln!(out, "</g>")?;
        writeln!(out, "</svg>")
    }

    /// One task rectangle, or one rectangle standing for merged tasks.
    fn write_task_piece(
        &self,
        out: &mut String,
        piece: &Piece,
        y: f64,
        lane: &str,
        x: &impl Fn(f64) -> f64,
    ) -> fmt::Result {
        let h = ROW_H - 2.0;
        match piece {
            Piece::One(i) => {
                let t = &self.tasks[*i];
                let (x0, x1) = (x(t.start), x(t.start + t.duration()));
                let outline = if t.ok {
                    ""
                } else {
                    r##" stroke="#d00000" stroke-width="1""##
                };
                writeln!(
                    out,
                    r#"<rect class="task" x="{x0:.2}" y="{y:.1}" width="{:.2}" height="{h:.0}" fill="{}"{outline}><title>{}</title></rect>"#,
                    (x1 - x0).max(MERGE_PX),
                    kernel_color(&t.kernel),
                    xml(&self.tooltip(*i, lane))
                )
            }
            Piece::Merged { x0, x1, members } => {
                // Per kernel: count and time, to color by the one that took most time.
                let mut kinds: Vec<(&str, usize, f64)> = Vec::new();
                for &i in members {
                    let t = &self.tasks[i];
                    match kinds.iter_mut().find(|k| k.0 == t.kernel) {
                        Some(k) => {
                            k.1 += 1;
                            k.2 += t.duration();
                        }
                        None => kinds.push((&t.kernel, 1, t.duration())),
                    }
                }
                kinds.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.1.cmp(&a.1)));
                let list: Vec<String> = kinds.iter().map(|(k, n, _)| format!("{k} {n}")).collect();
                let (t0, t1) = (
                    self.tasks[members[0]].start,
                    members
                        .iter()
                        .map(|&i| self.tasks[i].end)
                        .fold(f64::MIN, f64::max),
                );
                let tip = format!(
                    "{} tasks on {lane}, merged at this zoom: {}\n{} to {}",
                    members.len(),
                    list.join(", "),
                    format::time(t0, true),
                    format::time(t1, true)
                );
                writeln!(
                    out,
                    r#"<rect class="merged" x="{x0:.2}" y="{y:.1}" width="{:.2}" height="{h:.0}" fill="{}"><title>{}</title></rect>"#,
                    (x1 - x0).max(MERGE_PX),
                    kernel_color(kinds[0].0),
                    xml(&tip)
                )
            }
        }
    }

    /// A task's tooltip: kernel and id, processor, tiles, times.
    fn tooltip(&self, i: usize, lane: &str) -> String {
        let t = &self.tasks[i];
        let mut tiles: Vec<String> = t
            .tiles
            .iter()
            .take(TOOLTIP_TILES)
            .map(|&(c, w)| if w { format!("{c} (w)") } else { c.to_string() })
            .collect();
        if t.tiles.len() > TOOLTIP_TILES {
            tiles.push(format!("… {} more", t.tiles.len() - TOOLTIP_TILES));
        }
        let dtype = t.dtype.map_or(String::new(), |d| format!(" {d}"));
        format!(
            "{}{dtype} #{} on {lane}{}\ntiles: {}\nmeasured {}, predicted {} ({})\nstart {}",
            t.kernel,
            t.task,
            if t.ok { "" } else { ", FAILED" },
            if tiles.is_empty() {
                "none".to_owned()
            } else {
                tiles.join(", ")
            },
            format::time(t.duration(), true),
            format::time(t.predicted, true),
            if t.calibrated {
                "calibrated"
            } else {
                "uncalibrated"
            },
            format::time(t.start, true),
        )
    }

    /// The chart's title line.
    fn title(&self, makespan: f64) -> String {
        let mut title = format!(
            "tessera trace: makespan {} ({}), {}",
            format::time(makespan, false),
            if self.simulated {
                "simulated"
            } else {
                "measured"
            },
            format::count(self.tasks.len(), "task", "tasks")
        );
        let failed = self.tasks.iter().filter(|t| !t.ok).count();
        if failed > 0 {
            write!(title, " ({failed} failed)").expect("writing into a String cannot fail");
        }
        if !self.transfers.is_empty() {
            let bytes: u64 = self.transfers.iter().map(|t| t.bytes).sum();
            write!(
                title,
                ", {} ({})",
                format::count(self.transfers.len(), "copy", "copies"),
                format::bytes(bytes)
            )
            .expect("writing into a String cannot fail");
        }
        if !self.evictions.is_empty() {
            let evictions = format::count(self.evictions.len(), "eviction", "evictions");
            write!(title, ", {evictions}").expect("writing into a String cannot fail");
        }
        title
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_spans_merge_and_wide_ones_stand_alone() {
        let spans = [
            (0, 0.0, 10.0, "gemm"),
            (1, 10.0, 10.1, "gemm"),
            (2, 10.1, 10.2, "syrk"),
            (3, 10.2, 10.3, "gemm"),
            (4, 20.0, 20.1, "gemm"),
            (5, 30.0, 31.0, "potrf"),
        ];
        let pieces = merge_row(&spans);
        assert_eq!(pieces.len(), 4, "{pieces:?}");
        assert_eq!(pieces[0], Piece::One(0));
        let Piece::Merged { x0, x1, members } = &pieces[1] else {
            panic!("expected a merged piece, got {:?}", pieces[1]);
        };
        assert_eq!((*x0, *x1, members.as_slice()), (10.0, 10.3, &[1, 2, 3][..]));
        assert_eq!(pieces[2], Piece::One(4));
        assert_eq!(pieces[3], Piece::One(5));
    }

    #[test]
    fn one_kernel_merges_without_limit_but_mixed_kernels_stop() {
        let same: Vec<_> = (0..100)
            .map(|i| (i, i as f64 * 0.1, i as f64 * 0.1 + 0.1, "gemm"))
            .collect();
        assert_eq!(merge_row(&same).len(), 1);
        // Spans of 1/8 px (exact in binary), alternating kernels: groups of at most 2 px, so
        // 16 spans each.
        let mixed: Vec<_> = (0..100)
            .map(|i| {
                let k = if i % 2 == 0 { "gemm" } else { "syrk" };
                (i, i as f64 * 0.125, i as f64 * 0.125 + 0.125, k)
            })
            .collect();
        let pieces = merge_row(&mixed);
        assert_eq!(pieces.len(), 7);
        assert!(
            matches!(&pieces[0], Piece::Merged { members, .. } if members.len() == 16),
            "{:?}",
            pieces[0]
        );
    }

    #[test]
    fn ticks_are_round() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b;
        assert!(close(nice_step(6e-3, 10.0), 1e-3));
        assert!(close(nice_step(1.3, 10.0), 0.2));
        assert!(close(nice_step(35.0, 10.0), 5.0));
        let t = ticks(6e-3, 1e-3);
        assert_eq!(t.len(), 7);
        assert_eq!(t[0].1, "0 ms");
        assert_eq!(t[6].1, "6 ms");
        let t = ticks(1.3, 0.2);
        assert_eq!(t.last().map(|t| t.1.as_str()), Some("1.2 s"));
        let t = ticks(2.5e-4, 5e-5);
        assert_eq!(t[1].1, "50 µs");
    }
}
