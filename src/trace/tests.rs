//! Tests of the exports on a small hand-made trace (every number checked by hand) and on a large
//! synthetic one (size and validity).

use serde_json::Value;

use super::*;

/// Chrome's microseconds are rounded to the nanosecond; compare to a tolerance well below that.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn task(
    task: u64,
    kernel: &str,
    processor: usize,
    start: f64,
    end: f64,
    calibrated: bool,
) -> TaskSpan {
    TaskSpan {
        task,
        kernel: kernel.to_owned(),
        dtype: Some(DType::F32),
        tiles: vec![(task * 10, true), (task * 10 + 1, false)],
        processor,
        start,
        end,
        predicted: (end - start) * 0.9,
        calibrated,
        flops: 1e6,
        ok: true,
    }
}

/// A CPU with two slots running two overlapping tasks, a GPU running two (one with a kernel name
/// that needs escaping everywhere), a copy each way, an eviction, a decision, four edges.
///
/// By hand: makespan 6 ms; CPU busy 2 + 3 = 5 ms of 2 × 6 ms = 41.67%; GPU busy 2 + 1 = 3 ms of
/// 6 ms = 50%; calibrated 3 of 4 = 75%; host->gpu0 1 MB, gpu0->host 0.5 MB, total 1.5 MB.
fn small() -> Trace {
    Trace {
        simulated: true,
        lanes: vec![
            Lane {
                processor: 0,
                name: "cpu (2 threads)".to_owned(),
                slots: 2,
            },
            Lane {
                processor: 1,
                name: "gpu0: test".to_owned(),
                slots: 1,
            },
        ],
        tasks: vec![
            task(1, "fill", 0, 0.0, 0.002, true),
            task(2, "gemm", 0, 0.001, 0.004, false),
            task(3, "potrf", 1, 0.0025, 0.0045, true),
            task(4, "a<b&\"c\"", 1, 0.005, 0.006, true),
        ],
        edges: vec![(1, 2), (1, 3), (3, 4), (2, 4)],
        transfers: vec![
            TransferSpan {
                chunk: 7,
                bytes: 1_000_000,
                from: Place::Host,
                to: Place::Device(0),
                start: 0.002,
                end: 0.0025,
            },
            TransferSpan {
                chunk: 30,
                bytes: 500_000,
                from: Place::Device(0),
                to: Place::Host,
                start: 0.0045,
                end: 0.005,
            },
        ],
        evictions: vec![Eviction {
            chunk: 7,
            device: 0,
            bytes: 1_000_000,
            dirty: true,
            time: 0.0047,
        }],
        decisions: vec![Decision {
            task: 3,
            time: 0.002,
            chosen: 1,
            priority: 5,
            candidates: vec![
                Choice {
                    processor: 0,
                    finish: 0.004,
                    transfer: 0.0,
                    run: 0.002,
                },
                Choice {
                    processor: 1,
                    finish: 0.0025,
                    transfer: 0.0005,
                    run: 0.002,
                },
            ],
        }],
    }
}

/// A tiny well-formedness check for XML: tags nest and close in order, attribute values are
/// quoted and hold no `<`, text holds no stray `<` or `&`, every `&` starts a known entity.
/// Returns the number of elements.
fn check_xml(doc: &str) -> Result<usize, String> {
    fn entities(s: &str, at: usize) -> Result<(), String> {
        for (k, _) in s.match_indices('&') {
            let rest = &s[k..];
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| rest.starts_with(e));
            if !ok {
                return Err(format!("bad entity near byte {}: {:.20}", at + k, rest));
            }
        }
        Ok(())
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut elements = 0;
    let mut rest = doc;
    let mut pos = 0;
    while let Some(open) = rest.find('<') {
        entities(&rest[..open], pos)?;
        if rest[..open].contains('>') {
            return Err(format!("stray '>' near byte {pos}"));
        }
        let tag_start = &rest[open..];
        let close = if tag_start.starts_with("<?") {
            tag_start.find("?>").map(|c| c + 2)
        } else if tag_start.starts_with("<!--") {
            tag_start.find("-->").map(|c| c + 3)
        } else {
            // Find the closing '>' outside quotes.
            let mut quote = None;
            let mut end = None;
            for (k, c) in tag_start.char_indices().skip(1) {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), '<') => return Err(format!("'<' in an attribute near byte {pos}")),
                    (None, '<') => return Err(format!("'<' inside a tag near byte {pos}")),
                    (None, '>') => {
                        end = Some(k + 1);
                        break;
                    }
                    _ => {}
                }
            }
            end
        };
        let Some(close) = close else {
            return Err(format!("unclosed tag near byte {}", pos + open));
        };
        let tag = &tag_start[..close];
        if !tag.starts_with("<?") && !tag.starts_with("<!--") {
            entities(tag, pos + open)?;
            if let Some(name) = tag.strip_prefix("</") {
                let name = name.trim_end_matches('>').trim();
                match stack.pop() {
                    Some(open) if open == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else {
                let name = tag[1..]
                    .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
                    .next()
                    .unwrap_or("");
                if name.is_empty() {
                    return Err(format!("empty tag name near byte {}", pos + open));
                }
                elements += 1;
                if !tag.ends_with("/>") {
                    stack.push(name);
                }
            }
        }
        pos += open + close;
        rest = &tag_start[close..];
    }
    entities(rest, pos)?;
    if !stack.is_empty() {
        return Err(format!("unclosed elements: {stack:?}"));
    }
    Ok(elements)
}

#[test]
fn the_xml_checker_rejects_broken_documents() {
    assert_eq!(check_xml("<a><b x=\"1\"/>t &amp; u</a>"), Ok(2));
    assert!(check_xml("<a><b></a></b>").is_err());
    assert!(check_xml("<a>x < y</a>").is_err());
    assert!(check_xml("<a>x & y</a>").is_err());
    assert!(check_xml("<a title=\"a<b\"></a>").is_err());
    assert!(check_xml("<a>").is_err());
}

fn events(json: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(json).expect("the Chrome export is JSON");
    assert_eq!(v["displayTimeUnit"], "ns");
    v["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .clone()
}

#[test]
fn chrome_json_has_spans_lanes_and_microseconds() {
    let trace = small();
    let events = events(&trace.to_chrome_json());
    let of = |ph: &str| -> Vec<&Value> { events.iter().filter(|e| e["ph"] == ph).collect() };

    let complete = of("X");
    assert_eq!(complete.len(), 4 + 2, "one X event per task and per copy");
    let thread_names: Vec<(u64, String)> = of("M")
        .into_iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| {
            let tid = e["tid"].as_u64().expect("tid");
            (tid, e["args"]["name"].as_str().expect("name").to_owned())
        })
        .collect();
    let tid = |name: &str| {
        thread_names
            .iter()
            .find(|(_, n)| n == name)
            .unwrap_or_else(|| panic!("no thread named {name}: {thread_names:?}"))
            .0
    };
    // The CPU's overlapping tasks take two sub-rows; the GPU one; one lane per link; the
    // scheduler.
    let names: Vec<&str> = thread_names.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "cpu (2 threads) [0]",
            "cpu (2 threads) [1]",
            "gpu0: test",
            "host->gpu0",
            "gpu0->host",
            "scheduler"
        ]
    );
    let process = of("M")
        .into_iter()
        .find(|e| e["name"] == "process_name")
        .expect("a process name");
    assert_eq!(process["args"]["name"], "tessera (simulated)");

    let find = |name: &str| {
        complete
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no X event {name}"))
    };
    let gemm = find("gemm");
    assert!(close(gemm["ts"].as_f64().expect("ts"), 1000.0));
    assert!(close(gemm["dur"].as_f64().expect("dur"), 3000.0));
    assert_eq!(gemm["tid"].as_u64(), Some(tid("cpu (2 threads) [1]")));
    let args = &gemm["args"];
    assert_eq!(args["task"], 2);
    assert_eq!(args["tiles"], serde_json::json!(["20w", "21"]));
    assert_eq!(args["calibrated"], false);
    assert_eq!(args["ok"], true);
    assert_eq!(args["flops"], 1e6);
    assert!(close(
        args["measured_us"].as_f64().expect("measured"),
        3000.0
    ));
    assert!(close(
        args["predicted_us"].as_f64().expect("predicted"),
        2700.0
    ));
    assert_eq!(
        find("fill")["tid"].as_u64(),
        Some(tid("cpu (2 threads) [0]"))
    );
    let potrf = find("potrf");
    assert!(close(potrf["ts"].as_f64().expect("ts"), 2500.0));
    assert!(close(potrf["dur"].as_f64().expect("dur"), 2000.0));
    assert_eq!(potrf["tid"].as_u64(), Some(tid("gpu0: test")));

    let up = find("host->gpu0");
    assert_eq!(up["tid"].as_u64(), Some(tid("host->gpu0")));
    assert!(close(up["ts"].as_f64().expect("ts"), 2000.0));
    assert!(close(up["dur"].as_f64().expect("dur"), 500.0));
    assert_eq!(up["args"]["bytes"], 1_000_000);
    // 1 MB in 0.5 ms.
    assert!(close(up["args"]["gb_per_s"].as_f64().expect("GB/s"), 2.0));

    let instants = of("i");
    assert_eq!(instants.len(), 2);
    let evict = instants
        .iter()
        .find(|e| e["name"] == "evict")
        .expect("an eviction");
    assert_eq!(evict["tid"].as_u64(), Some(tid("gpu0: test")));
    assert!(close(evict["ts"].as_f64().expect("ts"), 4700.0));
    assert_eq!(evict["args"]["dirty"], true);
    let place = instants
        .iter()
        .find(|e| e["name"] == "place #3")
        .expect("a decision");
    assert_eq!(place["tid"].as_u64(), Some(tid("scheduler")));
    assert_eq!(place["args"]["chosen"], "gpu0");
    let candidates = place["args"]["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 2);
    assert!(close(
        candidates[1]["transfer_us"].as_f64().expect("us"),
        500.0
    ));
}

#[test]
fn chrome_json_caps_decisions() {
    let mut trace = small();
    let d = trace.decisions[0].clone();
    trace.decisions = (0..MAX_DECISIONS as u64 + 10)
        .map(|i| Decision {
            task: i,
            time: i as f64 * 1e-6,
            ..d.clone()
        })
        .collect();
    let json = trace.to_chrome_json();
    let v: Value = serde_json::from_str(&json).expect("JSON");
    let places = v["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["cat"] == "scheduler")
        .count();
    assert_eq!(places, MAX_DECISIONS);
    assert_eq!(v["otherData"]["decisions_left_out"], 10);
}

#[test]
fn svg_is_well_formed_with_a_rect_per_task_and_a_legend() {
    let trace = small();
    let svg = trace.to_svg();
    let body = svg
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("an XML declaration");
    assert!(body.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""));
    assert!(body.contains(" viewBox=\"0 0 "));
    assert!(svg.trim_end().ends_with("</svg>"));
    check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));

    assert_eq!(
        svg.matches("<rect class=\"task\"").count(),
        trace.tasks.len()
    );
    assert_eq!(svg.matches("<rect class=\"merged\"").count(), 0);
    assert_eq!(svg.matches("<rect class=\"key\"").count(), 4, "4 kernels");
    assert_eq!(svg.matches("<rect class=\"copy\"").count(), 2);
    assert_eq!(svg.matches("<polygon class=\"evict\"").count(), 1);
    // The legend names every kernel once (escaped), with its color.
    for k in ["fill", "gemm", "potrf", "a&lt;b&amp;&quot;c&quot;"] {
        assert!(svg.contains(&format!(">{k}</text>")), "legend lacks {k}");
    }
    assert!(!svg.contains("a<b"));
    for k in ["fill", "gemm", "potrf", "a<b&\"c\""] {
        assert!(svg.contains(&format!("fill=\"{}\"", kernel_color(k))));
    }
    // Title, lanes, ticks, tooltips.
    assert!(svg.contains("makespan 6.000 ms (simulated)"));
    for lane in [
        "cpu (2 threads)",
        "gpu0: test",
        "host-&gt;gpu0",
        "gpu0-&gt;host",
    ] {
        assert!(svg.contains(&format!(">{lane}<title>")), "no lane {lane}");
    }
    assert!(svg.contains(">0 ms</text>") && svg.contains(">6 ms</text>"));
    assert!(svg.contains(
        "<title>gemm f32 #2 on cpu (2 threads)\ntiles: 20 (w), 21\n\
         measured 3.000 ms, predicted 2.700 ms (uncalibrated)\nstart 1.000 ms</title>"
    ));
}

#[test]
fn svg_places_overlapping_slot_tasks_on_different_rows() {
    let svg = small().to_svg();
    let ys: Vec<&str> = svg
        .lines()
        .filter(|l| l.starts_with("<rect class=\"task\""))
        .map(|l| {
            let y = l.split(" y=\"").nth(1).expect("a y attribute");
            &y[..y.find('"').expect("a closing quote")]
        })
        .collect();
    // fill and gemm overlap on the CPU; potrf and the other run on the GPU's one row.
    assert_eq!(ys.len(), 4);
    assert_ne!(ys[0], ys[1], "overlapping CPU tasks share a row");
    assert_eq!(ys[2], ys[3], "GPU tasks are on one row");
}

#[test]
fn dot_has_every_task_and_edge() {
    let trace = small();
    let dot = trace.to_dot();
    assert!(dot.starts_with("digraph tasks {\n"));
    assert!(dot.ends_with("}\n"));
    for (a, b) in &trace.edges {
        assert!(
            dot.contains(&format!("  t{a} -> t{b};\n")),
            "no edge {a} -> {b}"
        );
    }
    assert_eq!(dot.matches(" -> ").count(), trace.edges.len());
    assert!(dot.contains(&format!(
        "  t3 [label=\"potrf #3\\ngpu0\", fillcolor=\"{}\"",
        kernel_color("potrf")
    )));
    assert!(dot.contains("  t4 [label=\"a<b&\\\"c\\\" #4\\ngpu0\""));
    check_dot_quotes(&dot);
}

/// Every line's unescaped double quotes pair up (a string never runs into the next line).
fn check_dot_quotes(dot: &str) {
    for line in dot.lines() {
        let mut quotes = 0;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => quotes += 1,
                _ => escaped = false,
            }
            if c != '\\' {
                escaped = false;
            }
        }
        assert_eq!(quotes % 2, 0, "unbalanced quotes: {line}");
    }
}

#[test]
fn dot_declares_tasks_only_edges_name() {
    let mut trace = small();
    trace.edges.push((4, 99));
    let dot = trace.to_dot();
    assert!(dot.contains("  t99 [label=\"#99\", style=dashed"));
    assert!(dot.contains("  t4 -> t99;\n"));
}

#[test]
fn summary_numbers_match_a_hand_count() {
    let s = small().summary();
    assert!(s.simulated);
    assert!(close(s.makespan, 0.006));
    assert_eq!((s.tasks, s.failed), (4, 0));
    assert!(close(s.calibrated_fraction, 0.75));

    assert_eq!(s.processors.len(), 2);
    let (cpu, gpu) = (&s.processors[0], &s.processors[1]);
    assert_eq!((cpu.processor, cpu.slots, cpu.tasks), (0, 2, 2));
    assert!(close(cpu.busy, 0.005));
    assert!(close(cpu.busy_fraction, 0.005 / (0.006 * 2.0)));
    assert_eq!((gpu.processor, gpu.slots, gpu.tasks), (1, 1, 2));
    assert!(close(gpu.busy, 0.003));
    assert!(close(gpu.busy_fraction, 0.5));

    let kernels: Vec<(&str, usize, usize)> = s
        .kernels
        .iter()
        .map(|k| (k.kernel.as_str(), k.processor, k.count))
        .collect();
    assert_eq!(
        kernels,
        [
            ("a<b&\"c\"", 1, 1),
            ("fill", 0, 1),
            ("gemm", 0, 1),
            ("potrf", 1, 1)
        ]
    );
    let gemm = &s.kernels[2];
    assert!(close(gemm.measured, 0.003) && close(gemm.predicted, 0.0027));

    assert_eq!(s.links.len(), 2);
    assert_eq!(
        (s.links[0].from, s.links[0].to, s.links[0].bytes),
        (Place::Host, Place::Device(0), 1_000_000)
    );
    assert_eq!(
        (s.links[1].from, s.links[1].to, s.links[1].bytes),
        (Place::Device(0), Place::Host, 500_000)
    );
    assert!(close(s.links[0].gb_per_s().expect("rate"), 2.0));
    assert_eq!(s.bytes_moved, 1_500_000);
    assert_eq!(
        (s.evictions, s.dirty_evictions, s.evicted_bytes),
        (1, 1, 1_000_000)
    );
}

#[test]
fn summary_prints_aligned_tables() {
    let text = small().summary().to_string();
    assert!(
        text.starts_with("makespan 6.000 ms (simulated)\n"),
        "{text}"
    );
    assert!(text.contains("tasks 4 (0 failed), 75.0% placed with a calibrated model\n"));
    let line = |start: &str| {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
    };
    let header = line("processor");
    let cpu = line("cpu (2 threads)");
    let gpu = line("gpu0: test");
    // Right-aligned columns end where their headers end.
    assert_eq!(header.len(), cpu.len());
    assert_eq!(cpu.len(), gpu.len());
    assert!(cpu.ends_with("41.7%") && gpu.ends_with("50.0%"), "{text}");
    assert!(line("host->gpu0").ends_with("2.00"));
    assert!(line("total").contains("1.500 MB"));
    assert!(line("evictions").starts_with("evictions 1 (1 dirty), 1.000 MB freed"));
    assert!(line("gemm").contains("cpu"));
}

#[test]
fn empty_trace_exports_are_valid() {
    let trace = Trace::default();
    assert_eq!(trace.makespan(), 0.0);
    let events = events(&trace.to_chrome_json());
    assert!(events.iter().all(|e| e["ph"] == "M"));
    check_xml(&trace.to_svg()).expect("well-formed SVG");
    assert_eq!(trace.to_dot().matches("->").count(), 0);
    let s = trace.summary();
    assert_eq!((s.tasks, s.calibrated_fraction), (0, 0.0));
    assert!(s.to_string().starts_with("makespan 0.000 s (measured)\n"));
}

#[test]
fn tasks_on_unlisted_processors_and_bad_times_still_export() {
    let mut trace = small();
    trace.lanes.clear();
    trace
        .tasks
        .push(task(5, "gemm", 3, f64::NAN, f64::INFINITY, false));
    trace.tasks.push(task(6, "gemm", 2, 0.003, 0.001, false));
    let svg = trace.to_svg();
    check_xml(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    assert!(svg.contains(">gpu2<title>"));
    let json = trace.to_chrome_json();
    serde_json::from_str::<Value>(&json).expect("JSON");
    let s = trace.summary();
    let names: Vec<&str> = s.processors.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["cpu", "gpu0", "gpu1", "gpu2"]);
    assert!(close(s.makespan, 0.006));
}

#[test]
fn write_all_writes_four_files() {
    let dir = std::env::temp_dir().join(format!("tessera-trace-test-{}", std::process::id()));
    let paths = small().write_all(&dir).expect("writable temp dir");
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().and_then(|n| n.to_str()).expect("a name"))
        .collect();
    assert_eq!(
        names,
        ["trace.json", "gantt.svg", "graph.dot", "summary.txt"]
    );
    let summary = std::fs::read_to_string(&paths[3]).expect("summary.txt");
    assert_eq!(summary, small().summary().to_string());
    std::fs::remove_dir_all(&dir).expect("remove the temp dir");
}

const N: u64 = 50_000;

/// 50 000 tasks over a 4-slot CPU and two GPUs, one chain of edges, a copy every 10 tasks and an
/// eviction every 100.
fn large() -> Trace {
    let kernels = ["gemm", "syrk", "trsm", "potrf"];
    let mut trace = Trace {
        lanes: vec![
            Lane {
                processor: 0,
                name: "cpu (4 threads)".to_owned(),
                slots: 4,
            },
            Lane {
                processor: 1,
                name: "gpu0".to_owned(),
                slots: 1,
            },
            Lane {
                processor: 2,
                name: "gpu1".to_owned(),
                slots: 1,
            },
        ],
        ..Trace::default()
    };
    // Six queues (four CPU slots, two GPUs), each running its tasks back to back with lengths
    // from a fixed LCG.
    let mut clock = [0.0f64; 6];
    let mut seed = 12345u64;
    for id in 0..N {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let q = (seed >> 33) as usize % 6;
        let len = 1e-5 + ((seed >> 40) % 1000) as f64 * 1e-7;
        let processor = if q < 4 { 0 } else { q - 3 };
        let k = kernels[(seed >> 20) as usize % kernels.len()];
        trace.tasks.push(task(
            id,
            k,
            processor,
            clock[q],
            clock[q] + len,
            id % 3 != 0,
        ));
        clock[q] += len;
        if id > 0 {
            trace.edges.push((id - 1, id));
        }
        if id % 10 == 0 {
            trace.transfers.push(TransferSpan {
                chunk: id,
                bytes: 1 << 20,
                from: Place::Host,
                to: Place::Device((id / 10 % 2) as usize),
                start: clock[q] - len,
                end: clock[q] - len / 2.0,
            });
        }
        if id % 100 == 0 {
            trace.evictions.push(Eviction {
                chunk: id,
                device: 0,
                bytes: 1 << 20,
                dirty: id % 200 == 0,
                time: clock[q],
            });
        }
    }
    trace
}

/// The exports of [`large`] stay valid and small.
#[test]
fn large_trace_exports_stay_small() {
    let trace = large();
    let svg = trace.to_svg();
    assert!(svg.len() < 8 << 20, "SVG is {} bytes", svg.len());
    check_xml(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(svg.matches("<rect class=\"merged\"").count() > 0);
    assert!(svg.matches("<polygon class=\"evict\"").count() <= trace.evictions.len());

    let json = trace.to_chrome_json();
    let events = events(&json);
    assert_eq!(
        events.iter().filter(|e| e["ph"] == "X").count(),
        trace.tasks.len() + trace.transfers.len()
    );

    let dot = trace.to_dot();
    assert!(dot.contains("splines=false"));
    assert_eq!(dot.matches(" -> ").count(), trace.edges.len());
    assert!(dot.ends_with("}\n"));
    check_dot_quotes(&dot);

    let s = trace.summary();
    assert_eq!(s.tasks, N as usize);
    assert_eq!(
        s.processors.iter().map(|p| p.tasks).sum::<usize>(),
        N as usize
    );
    assert!(s.processors.iter().all(|p| p.busy_fraction <= 1.0 + 1e-9));
}
