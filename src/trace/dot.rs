//! The task graph in Graphviz DOT.

use std::collections::HashSet;
use std::fmt::{self, Write};

use super::color::{kernel_color, text_on};
use super::format::{self, dot};
use super::{Trace, processor_label};

/// Above this many tasks the graph is written for speed of layout rather than looks: straight
/// edges drawn under the nodes, smaller text.
const LARGE_GRAPH: usize = 5000;

impl Trace {
    /// The task graph in Graphviz DOT (`dot -Tsvg graph.dot > graph.svg`).
    ///
    /// A node `t<id>` per task, labeled `kernel #id` over the processor it ran on (`cpu`,
    /// `gpu0`, ...), filled with the kernel's [`kernel_color`]; failed tasks
    /// have a thick red border. An edge per entry of [`Trace::edges`]; a task an edge names but
    /// the trace did not record gets a dashed node. Graphs over 5000 tasks ask for straight
    /// edges (`splines=false`) so Graphviz lays them out in reasonable time; `sfdp` suits them
    /// better than `dot`.
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        self.write_dot(&mut out)
            .expect("writing into a String cannot fail");
        out
    }

    fn write_dot(&self, out: &mut String) -> fmt::Result {
        let large = self.tasks.len() > LARGE_GRAPH;
        writeln!(out, "digraph tasks {{")?;
        let title = format!(
            "tessera task graph: {} tasks, {} edges, makespan {}{}",
            self.tasks.len(),
            self.edges.len(),
            format::time(self.makespan(), false),
            if self.simulated { " (simulated)" } else { "" }
        );
        writeln!(
            out,
            "  graph [label=\"{}\", labelloc=t, fontname=\"Helvetica\"{}];",
            dot(&title),
            if large {
                ", splines=false, outputorder=edgesfirst"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "  node [shape=box, style=\"filled,rounded\", fontname=\"Helvetica\", fontsize={}];",
            if large { 8 } else { 10 }
        )?;
        writeln!(out, "  edge [color=\"#555555\", arrowsize=0.6];")?;

        let mut known = HashSet::with_capacity(self.tasks.len());
        for t in &self.tasks {
            known.insert(t.task);
            let fill = kernel_color(&t.kernel);
            writeln!(
                out,
                "  t{} [label=\"{} #{}\\n{}\", fillcolor=\"{fill}\", fontcolor=\"{}\"{}];",
                t.task,
                dot(&t.kernel),
                t.task,
                processor_label(t.processor),
                text_on(fill),
                if t.ok {
                    ""
                } else {
                    ", color=\"#d00000\", penwidth=3"
                }
            )?;
        }
        for &(a, b) in &self.edges {
            for id in [a, b] {
                if known.insert(id) {
                    writeln!(
                        out,
                        "  t{id} [label=\"#{id}\", style=dashed, fillcolor=\"#ffffff\"];"
                    )?;
                }
            }
        }
        for &(a, b) in &self.edges {
            writeln!(out, "  t{a} -> t{b};")?;
        }
        writeln!(out, "}}")
    }
}
