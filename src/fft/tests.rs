//! Unit tests of the plans: which passes, which lengths, which errors, without running.

use super::*;
use crate::DType;
use crate::error::Error;

#[test]
fn small_1d_plans_are_one_pass() {
    for n in [1, 2, 3, 5, 7, 8, 12, 17, 97, 1000, 4096] {
        let p = FftPlan::new(
            &[n],
            Direction::Forward,
            Norm::Backward,
            DType::C32,
            Target::Cpu,
        )
        .unwrap();
        assert_eq!(p.algorithm(), Algorithm::Direct);
        assert_eq!(p.passes().len(), 1);
    }
}

#[test]
fn long_cpu_vectors_split_near_the_square_root() {
    let p = FftPlan::new(
        &[1 << 20],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
    assert_eq!(p.algorithm(), Algorithm::FourStep { n1: 1024, n2: 1024 });
    let p = FftPlan::new(
        &[3 * 65536],
        Direction::Forward,
        Norm::Backward,
        DType::C64,
        Target::Cpu,
    )
    .unwrap();
    let Algorithm::FourStep { n1, n2 } = p.algorithm() else {
        panic!("{p}")
    };
    assert_eq!(n1 * n2, 3 * 65536);
    assert!(n1 <= n2 && n1 >= 256, "{p}");
    // A prime stays one task.
    let p = FftPlan::new(
        &[65537],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
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
    // 1001 = 7 11 13: above Bluestein's 512 and not 2^a 3^b 5^c.
    let e = FftPlan::new(
        &[1001],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Gpu,
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoProcessor { .. }), "{e}");
    let e = FftPlan::new(
        &[4096, 8],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Gpu,
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoProcessor { .. }), "{e}");
}

#[test]
fn gpu_plans_take_bluestein_lengths_in_one_pass() {
    // 511 c32 pads to 1024 points and 255 c64 to 512: one pass each.
    for (dims, dtype) in [
        (&[511][..], DType::C32),
        (&[255][..], DType::C64),
        (&[14, 22][..], DType::C32),
    ] {
        let p = FftPlan::new(dims, Direction::Forward, Norm::Backward, dtype, Target::Gpu).unwrap();
        assert_eq!(p.algorithm(), Algorithm::Direct, "{p}");
    }
    for (n, dtype) in [(513, DType::C32), (257, DType::C64)] {
        let e =
            FftPlan::new(&[n], Direction::Forward, Norm::Backward, dtype, Target::Gpu).unwrap_err();
        assert!(matches!(e, Error::NoProcessor { .. }), "{n} {dtype}: {e}");
    }
}

#[test]
fn multi_dimensional_plans_rotate_through_every_dimension() {
    let p = FftPlan::new(
        &[4, 6, 10],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
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
        let e = FftPlan::new(
            dims,
            Direction::Forward,
            Norm::Backward,
            DType::C32,
            Target::Cpu,
        )
        .unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{dims:?}: {e}");
    }
    let e = FftPlan::new(
        &[8],
        Direction::Forward,
        Norm::Backward,
        DType::F32,
        Target::Cpu,
    )
    .unwrap_err();
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
    let p = FftPlan::new(
        &[4096, 4096],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
    assert_eq!(p.panels(), 32);
    assert_eq!(p.clone().with_panels(3).panels(), 3);
    let p = FftPlan::new(
        &[2],
        Direction::Forward,
        Norm::Backward,
        DType::C32,
        Target::Cpu,
    )
    .unwrap();
    assert_eq!(p.panels(), 2);
}
