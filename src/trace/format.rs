//! Number formatting and escaping shared by the exports.

/// A duration with a unit that fits and four significant digits: `1.234 s`, `12.35 ms`,
/// `123.5 us`, `4.000 ns`. With `micro` the microsecond unit is spelled `µs` (the SVG) instead
/// of `us` (plain-text tables).
pub(crate) fn time(seconds: f64, micro: bool) -> String {
    if !seconds.is_finite() {
        return "-".to_owned();
    }
    let a = seconds.abs();
    let (value, unit) = if a >= 1.0 || a == 0.0 {
        (seconds, "s")
    } else if a >= 1e-3 {
        (seconds * 1e3, "ms")
    } else if a >= 1e-6 {
        (seconds * 1e6, if micro { "µs" } else { "us" })
    } else {
        (seconds * 1e9, "ns")
    };
    format!("{} {unit}", significant(value))
}

/// Four significant digits for values below 1000 (more integer digits are kept).
fn significant(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

/// A byte count in decimal units: `512 B`, `4.194 MB`, `1.074 GB`.
pub(crate) fn bytes(n: u64) -> String {
    let v = n as f64;
    if n < 1000 {
        format!("{n} B")
    } else if v < 1e6 {
        format!("{} kB", significant(v / 1e3))
    } else if v < 1e9 {
        format!("{} MB", significant(v / 1e6))
    } else {
        format!("{} GB", significant(v / 1e9))
    }
}

/// `1 copy`, `2 copies`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A fraction as a percentage with one decimal (`41.7%`); `-` when not finite.
pub(crate) fn percent(f: f64) -> String {
    if f.is_finite() {
        format!("{:.1}%", f * 100.0)
    } else {
        "-".to_owned()
    }
}

/// `s` escaped for XML text and attribute values.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even as references; drop them.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// `s` escaped for the inside of a DOT double-quoted string: quotes and backslashes escaped, a
/// newline becomes DOT's `\n` line break.
pub(crate) fn dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A plain-text table: a header row, a rule, and rows, each column padded to its widest cell.
/// Columns are right-aligned (numbers) except those listed in `left`.
pub(crate) struct Table {
    header: Vec<String>,
    left: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers; a header starting with `<` marks a left-aligned column
    /// (the `<` is not printed).
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            header: header
                .iter()
                .map(|h| h.strip_prefix('<').unwrap_or(h).to_owned())
                .collect(),
            left: header.iter().map(|h| h.starts_with('<')).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per column.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "table row width");
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cols = self.header.len();
        let width = |c: usize| {
            self.rows
                .iter()
                .map(|r| r[c].chars().count())
                .chain([self.header[c].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        let line = |f: &mut std::fmt::Formatter<'_>, cells: &[String]| -> std::fmt::Result {
            let mut text = String::new();
            for (c, cell) in cells.iter().enumerate() {
                if c > 0 {
                    text.push_str("  ");
                }
                let pad = widths[c] - cell.chars().count();
                if self.left[c] {
                    text.push_str(cell);
                    text.extend(std::iter::repeat_n(' ', pad));
                } else {
                    text.extend(std::iter::repeat_n(' ', pad));
                    text.push_str(cell);
                }
            }
            writeln!(f, "{}", text.trim_end())
        };
        line(f, &self.header)?;
        let total = widths.iter().sum::<usize>() + 2 * cols.saturating_sub(1);
        writeln!(f, "{}", "-".repeat(total))?;
        for r in &self.rows {
            line(f, r)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_pick_a_fitting_unit() {
        assert_eq!(time(1.2346, false), "1.235 s");
        assert_eq!(time(0.012_345_6, false), "12.35 ms");
        assert_eq!(time(0.000_123_46, true), "123.5 µs");
        assert_eq!(time(4e-9, false), "4.000 ns");
        assert_eq!(time(0.0, false), "0.000 s");
        assert_eq!(time(1234.5, false), "1234 s");
        assert_eq!(time(f64::NAN, false), "-");
    }

    #[test]
    fn bytes_use_decimal_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1_500), "1.500 kB");
        assert_eq!(bytes(4_194_304), "4.194 MB");
        assert_eq!(bytes(2_000_000_000), "2.000 GB");
    }

    #[test]
    fn escapes() {
        assert_eq!(xml("a<b&\"c\"'"), "a&lt;b&amp;&quot;c&quot;&apos;");
        assert_eq!(xml("x\u{1}y\nz"), "xy\nz");
        assert_eq!(dot("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["<name", "count"]);
        t.row(vec!["gemm".into(), "12".into()]);
        t.row(vec!["a".into(), "1234".into()]);
        assert_eq!(
            t.to_string(),
            "name  count\n-----------\ngemm     12\na      1234\n"
        );
    }
}
