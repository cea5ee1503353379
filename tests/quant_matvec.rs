//! `matvec_ref` against a plain dot product of dequantized rows.

use tabllm::quant::testing::{random_f32, random_tensor};
use tabllm::quant::{dequantize_to_vec, is_supported, matvec_ref, GgmlType, QuantError};

/// Both sides sum in f64; only the final rounding to f32 differs.
const REL_TOL: f64 = 1e-6;

#[test]
fn matvec_ref_matches_dequantized_dot() {
    let (rows, cols) = (5, 512);
    for ty in (0..64)
        .filter_map(GgmlType::from_id)
        .filter(|&t| is_supported(t))
    {
        let w = random_tensor(ty, rows * cols, 7);
        let x = random_f32(cols, 8);
        let y = matvec_ref(ty, &w, rows, cols, &x).unwrap();
        let dense = dequantize_to_vec(ty, &w).unwrap();
        assert_eq!(y.len(), rows);
        for r in 0..rows {
            let want: f64 = dense[r * cols..(r + 1) * cols]
                .iter()
                .zip(&x)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let err = (y[r] as f64 - want).abs() / want.abs().max(1e-6);
            assert!(err <= REL_TOL, "{ty} row {r}: got {}, want {want}", y[r]);
        }
    }
}

#[test]
fn matvec_ref_rejects_bad_shapes() {
    let w = random_tensor(GgmlType::Q4_0, 2 * 64, 1);
    let x = random_f32(64, 2);
    assert_eq!(
        matvec_ref(GgmlType::Q4_0, &w, 2, 64, &x[..63]),
        Err(QuantError::VectorLength {
            expected: 64,
            got: 63
        })
    );
    assert_eq!(
        matvec_ref(GgmlType::Q4_0, &w, 3, 64, &x),
        Err(QuantError::Length {
            expected: 108,
            got: 72
        })
    );
    assert_eq!(
        matvec_ref(GgmlType::Q4_0, &w, 4, 16, &x[..16]),
        Err(QuantError::PartialBlock {
            ty: GgmlType::Q4_0,
            n: 16
        })
    );
}
