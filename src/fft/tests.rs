//! Unit tests of the plans: which passes, which lengths, which errors, without running.

use super::*;
use crate::DType;
use crate::error::Error;

/// The forward, backward-normalized plan of `dims`.
fn forward(dims: &[usize], dtype: DType, target: Target) -> crate::Result<FftPlan> {
    FftPlan::new(dims, Direction::Forward, Norm::Backward, dtype, target)
}

#[test]
fn small_1d_plans_are_one_pass() {
    for n in [1, 2, 3, 5, 7, 8, 12, 17, 97, 1000, 4096] {
        let p = forward(&[n], DType::C32, Target::Cpu).unwrap();
        assert_eq!(p.algorithm(), Algorithm::Direct);
        assert_eq!(p.passes().len(), 1);
    }
}

#[test]
fn long_cpu_vectors_split_near_the_square_root() {
    let p = forward(&[1 << 20], DType::C32, Target::Cpu).unwrap();
    assert_eq!(p.algorithm(), Algorithm::FourStep { n1: 1024, n2: 1024 });
    let p = forward(&[3 * 65536], DType::C64, Target::Cpu).unwrap();
    let Algorithm::FourStep { n1, n2 } = p.algorithm() else {
        panic!("{p}")
    };
    assert_eq!(n1 * n2, 3 * 65536);
    assert!(n1 <= n2 && n1 >= 256, "{p}");
    // A prime stays one task.
    let p = forward(&[65537], DType::C32, Target::Cpu).unwrap();
    assert_eq!(p.algorithm(), Algorithm::Direct);
}

#[test]
fn gpu_plans_keep_every_pass_within_workgroup_memory() {
    let p = FftPlan::new(
        &[1 << 18],
        Direction::Inverse,
        Norm::Ortho,
        DType::C64,
        Target::Gpu,
    )
    .unwrap();
    for pass in p.passes() {
        if let Pass::Columns { n, .. } = pass {
            assert!(*n <= 512 && n.is_power_of_two(), "{p}");
        }
    }
}

/// Every column pass of a GPU plan is one a GPU runs in one pass, or a split pair of them.
fn assert_gpu_passes(p: &FftPlan) {
    let d = p.dtype();
    let one = |n: usize| crate::kernels::fft::gpu_runs(n, d);
    for (i, pass) in p.passes().iter().enumerate() {
        match *pass {
            Pass::Columns { n, .. } => assert!(one(n), "pass {i} of {p}"),
            Pass::Bluestein { n, m, .. } => {
                assert!(
                    !one(n) && m >= 2 * n - 1 && m.is_power_of_two(),
                    "pass {i} of {p}"
                )
            }
            Pass::SplitRows { n1, n2, batch } => {
                assert!(one(n1) && one(n2), "pass {i} of {p}");
                assert!(
                    matches!(p.passes()[i + 1], Pass::SplitCols { n1: a, n2: b, batch: c, .. } if (a, b, c) == (n1, n2, batch)),
                    "pass {i} of {p} is not followed by its second half"
                );
            }
            Pass::SplitCols { .. } => assert!(
                matches!(p.passes()[i - 1], Pass::SplitRows { .. }),
                "pass {i} of {p}"
            ),
            Pass::Lines { .. } => panic!("a GPU plan with a CPU pass: {p}"),
            Pass::Transpose { .. } => {}
        }
    }
}

#[test]
fn gpu_plans_split_columns_longer_than_one_pass() {
    // 4096 x 4096 c32: both dimensions split 64 x 64, the plan's scale on the last half.
    let p = FftPlan::new(
        &[4096, 4096],
        Direction::Inverse,
        Norm::Backward,
        DType::C32,
        Target::Gpu,
    )
    .unwrap();
    assert_eq!(
        p.to_string(),
        "Inverse c32 FFT of 4096x4096 (Direct, 32 panels): T4096x4096 R64x64:4096 C64x64:4096 T4096x4096 R64x64:4096 C64x64:4096"
    );
    assert!(matches!(
        p.passes()[5],
        Pass::SplitCols {
            scaled: true,
            four_step: None,
            ..
        }
    ));
    assert_gpu_passes(&p);
    // 1001 = 7 11 13 c32 (above one Bluestein pass, not 2^a 3^b 5^c): 1D four-step of two
    // one-pass factors.
    let p = forward(&[1001], DType::C32, Target::Gpu).unwrap();
    assert!(
        matches!(p.algorithm(), Algorithm::FourStep { n1, n2 } if n1 * n2 == 1001),
        "{p}"
    );
    assert_gpu_passes(&p);
    // 2^22 c32: a four-step of 1024 x 4096 (one factor split) beats 2048 x 2048 (both split).
    let p = forward(&[1 << 22], DType::C32, Target::Gpu).unwrap();
    assert_eq!(p.algorithm(), Algorithm::FourStep { n1: 1024, n2: 4096 });
    assert!(matches!(
        p.passes()[2],
        Pass::SplitCols {
            four_step: Some(4_194_304),
            scaled: false,
            ..
        }
    ));
    assert_gpu_passes(&p);
    // Lengths that are a product of a one-pass power of two and a Bluestein length.
    for (dims, dtype) in [
        (&[513, 3][..], DType::C32),
        (&[510, 2][..], DType::C64),
        (&[3, 600, 2][..], DType::C64),
    ] {
        let p = forward(dims, dtype, Target::Gpu).unwrap();
        assert_gpu_passes(&p);
    }
}

#[test]
fn split_factors_are_balanced_and_cheapest() {
    use super::plan::gpu_len;
    // Powers of two: the most balanced split, the second factor the larger.
    assert_eq!(gpu_len(4096, DType::C32), Some(Some((64, 64))));
    assert_eq!(gpu_len(2048, DType::C64), Some(Some((32, 64))));
    assert_eq!(gpu_len(1024, DType::C32), Some(None));
    // 1000 c64 (above 512): two Stockham factors (radix 2/4/8/3/5) rather than any Bluestein.
    let Some(Some((n1, n2))) = gpu_len(1000, DType::C64) else {
        panic!("1000 c64 splits")
    };
    assert_eq!(n1 * n2, 1000);
    assert!(
        crate::kernels::fft::gpu_supports(n1, DType::C64)
            && crate::kernels::fft::gpu_supports(n2, DType::C64),
        "{n1} x {n2}"
    );
    // 1001 c64 = 7 x 143: a Bluestein factor where nothing else divides.
    assert!(matches!(gpu_len(1001, DType::C64), Some(Some((a, b))) if a * b == 1001));
    // A prime above one Bluestein pass has no GPU plan.
    assert_eq!(gpu_len(1031, DType::C32), None);
}

#[test]
fn long_primes_take_bluestein_passes_and_longer_ones_are_errors() {
    // 1031 c32 (prime, above one Bluestein pass): Bluestein over passes, its convolution of
    // 4096 points split 64 x 64.
    for (dims, dtype, n, m) in [
        (&[1031][..], DType::C32, 1031, 4096),
        (&[4, 2 * 521][..], DType::C32, 1042, 4096),
        (&[263, 3][..], DType::C64, 263, 1024),
    ] {
        let p = forward(dims, dtype, Target::Gpu).unwrap();
        assert!(
            p.passes()
                .iter()
                .any(|q| matches!(*q, Pass::Bluestein { n: a, m: b, .. } if (a, b) == (n, m))),
            "{p}"
        );
    }
    // The first prime whose convolution is longer than two passes (above max^2 / 2 points).
    let is_prime = |n: usize| {
        n > 1
            && (2..)
                .take_while(|d| d * d <= n)
                .all(|d| !n.is_multiple_of(d))
    };
    for dtype in [DType::C32, DType::C64] {
        let max = crate::kernels::fft::gpu_max_len(dtype);
        let p = (max * max / 2..).find(|&n| is_prime(n)).unwrap();
        for dims in [&[p][..], &[2, p][..]] {
            let e = forward(dims, dtype, Target::Gpu).unwrap_err();
            assert!(
                matches!(e, Error::NoProcessor { .. }),
                "{dims:?} {dtype}: {e}"
            );
        }
    }
}

#[test]
fn multi_dimensional_plans_rotate_through_every_dimension() {
    let p = forward(&[4, 6, 10], DType::C32, Target::Cpu).unwrap();
    let want = [
        Pass::Transpose { rows: 4, cols: 60 },
        Pass::Columns {
            n: 6,
            batch: 40,
            four_step: None,
            scaled: false,
        },
        Pass::Transpose { rows: 6, cols: 40 },
        Pass::Columns {
            n: 10,
            batch: 24,
            four_step: None,
            scaled: false,
        },
        Pass::Transpose { rows: 10, cols: 24 },
        Pass::Columns {
            n: 4,
            batch: 60,
            four_step: None,
            scaled: true,
        },
    ];
    assert_eq!(p.passes(), &want);
    assert_eq!(
        p.to_string(),
        "Forward c32 FFT of 4x6x10 (Direct, 4 panels): T4x60 F6x40 T6x40 F10x24 T10x24 F4x60"
    );
}

#[test]
fn bad_shapes_are_errors() {
    for dims in [&[][..], &[0][..], &[2, 2, 2, 2][..]] {
        let e = forward(dims, DType::C32, Target::Cpu).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{dims:?}: {e}");
    }
    let e = forward(&[8], DType::F32, Target::Cpu).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
}

#[test]
fn normalizations_scale_as_numpy() {
    assert_eq!(Norm::Backward.scale(8, Direction::Forward), 1.0);
    assert_eq!(Norm::Backward.scale(8, Direction::Inverse), 0.125);
    assert_eq!(Norm::Forward.scale(8, Direction::Forward), 0.125);
    assert_eq!(Norm::Ortho.scale(4, Direction::Inverse), 0.5);
    assert_eq!(Norm::None.scale(4, Direction::Inverse), 1.0);
}

#[test]
fn plans_are_cached_and_panels_are_bounded() {
    let a = FftPlan::cached(
        &[64, 64],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
    let b = FftPlan::cached(
        &[64, 64],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    let p = forward(&[4096, 4096], DType::C32, Target::Cpu).unwrap();
    assert_eq!(p.panels(), 32);
    assert_eq!(p.clone().with_panels(3).panels(), 3);
    let p = forward(&[2], DType::C32, Target::Cpu).unwrap();
    assert_eq!(p.panels(), 2);
}
