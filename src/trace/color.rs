//! Kernel colors, shared by the SVG Gantt chart and the DOT graph so a kernel looks the same in
//! both.

/// Colors of the kernels every run uses, picked to be told apart at a glance (Tableau 10 and its
/// light variants).
const KNOWN: [(&str, &str); 14] = [
    ("gemm", "#1f77b4"),
    ("trsm", "#ff7f0e"),
    ("syrk", "#2ca02c"),
    ("potrf", "#9467bd"),
    ("axpy", "#17becf"),
    ("fill", "#7f7f7f"),
    ("copy", "#bcbd22"),
    ("scale", "#e377c2"),
    ("get_tile", "#8c564b"),
    ("set_tile", "#c49c94"),
    ("getrf", "#aec7e8"),
    ("geqrf", "#98df8a"),
    ("fft", "#ffbb78"),
    ("herk", "#c5b0d5"),
];

/// Colors for every other kernel, chosen by a hash of its name (Tableau 20b, disjoint from
/// [`KNOWN`], so an unknown kernel never takes a usual kernel's color).
const HASHED: [&str; 20] = [
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3", "#8ca252", "#bd9e39",
    "#ad494a", "#a55194", "#6b6ecf", "#b5cf6b", "#e7ba52", "#d6616b", "#ce6dbd", "#9c9ede",
    "#cedb9c", "#e7cb94", "#e7969c", "#de9ed6",
];

/// Fill color (`#rrggbb`) of a kernel in the SVG and DOT exports.
///
/// The usual kernels (`gemm`, `trsm`, `syrk`, `potrf`, `axpy`, `fill`, `copy`, `scale`,
/// `get_tile`, `set_tile`, `getrf`, `geqrf`, `fft`, `herk`) have fixed, distinct colors; a
/// variant name such as `gemm_nt` takes the color of the part before its first `_`. Any other
/// name gets one of 20 further colors by a hash of the name (FNV-1a), so its color is the same in
/// every run and on every machine.
///
/// # Examples
/// ```
/// use tessera::trace::kernel_color;
/// assert_ne!(kernel_color("gemm"), kernel_color("syrk"));
/// assert_eq!(kernel_color("gemm_nt"), kernel_color("gemm"));
/// assert_eq!(kernel_color("my_kernel"), kernel_color("my_kernel"));
/// ```
pub fn kernel_color(name: &str) -> &'static str {
    let known = |n: &str| KNOWN.iter().find(|(k, _)| *k == n).map(|(_, c)| *c);
    if let Some(c) = known(name) {
        return c;
    }
    if let Some(c) = name.split_once('_').and_then(|(head, _)| known(head)) {
        return c;
    }
    HASHED[(fnv1a(name.as_bytes()) % HASHED.len() as u64) as usize]
}

/// Color of a transfer lane's copies: uploads, downloads and device-to-device copies differ.
pub(crate) fn link_color(from: super::Place, to: super::Place) -> &'static str {
    use super::Place::{Device, Host};
    match (from, to) {
        (Host, Device(_)) => "#4a4a4a",
        (Device(_), Host) => "#8a8a8a",
        _ => "#5f5f8f",
    }
}

/// Text color readable on `fill` (`#rrggbb`): black on light fills, white on dark ones.
pub(crate) fn text_on(fill: &str) -> &'static str {
    let channel = |i: usize| {
        fill.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0.0, |v| f64::from(v) / 255.0)
    };
    // Rec. 709 luma; the threshold sits where both texts read about equally well.
    let luma = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    if luma > 0.5 { "#000000" } else { "#ffffff" }
}

/// 64-bit FNV-1a: tiny, and unlike `DefaultHasher` its output is fixed by its definition.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_kernels_have_distinct_colors() {
        let mut colors: Vec<&str> = KNOWN.iter().map(|(k, _)| kernel_color(k)).collect();
        colors.extend(HASHED);
        let n = colors.len();
        colors.sort_unstable();
        colors.dedup();
        assert_eq!(colors.len(), n, "a color is used twice");
    }

    #[test]
    fn colors_are_stable_and_well_formed() {
        // FNV-1a of "" and "a" are fixed by its definition.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        for name in ["gemm", "potrf", "my_kernel", "a<b&\"c\"", "", "_"] {
            let c = kernel_color(name);
            assert_eq!(c, kernel_color(name));
            assert!(
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: {c}"
            );
        }
        assert_eq!(kernel_color("trsm_llnn"), kernel_color("trsm"));
    }

    #[test]
    fn text_contrasts_with_fill() {
        assert_eq!(text_on("#ffffff"), "#000000");
        assert_eq!(text_on("#000000"), "#ffffff");
        assert_eq!(text_on(kernel_color("gemm")), "#ffffff");
        assert_eq!(text_on(kernel_color("getrf")), "#000000");
    }
}
