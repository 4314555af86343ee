//! The kernels k-means assigns with, on the table this machine selected
//! (natively AVX2 or AVX-512; `simd128` on wasm32): the fused `nearest`
//! kernel gives exactly what `argmin` over the products of `dots` gives,
//! runner-up included, ties and several panels and depth slices too.

use vectrove_core::rng::SplitMix64;
use vectrove_core::simd::{Nearest, kernels};

// On wasm32 the same tests run in Node.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn nearest_is_argmin_of_dots() {
    let k = kernels();
    let mut rng = SplitMix64::new(11);
    for &(na, nb, dim) in &[
        (1, 1, 1),
        (7, 3, 5),
        (13, 70, 33),
        (6, 200, 384),
        (20, 129, 130),
        (3, 0, 8),
    ] {
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n * dim)
                .map(|_| rng.next_f64() as f32 * 4.0 - 2.0)
                .collect()
        };
        let a = draw(na);
        let mut b = draw(nb);
        // Every fifth column repeats the first: equal scores.
        for j in (5..nb).step_by(5) {
            b.copy_within(0..dim, j * dim);
        }
        let packed = k.pack(&b, dim);
        let mut dots = vec![0f32; na * nb];
        (k.dots)(&a, &packed, &mut dots);
        for (scale, bias) in [
            (
                -2.0f32,
                b.chunks_exact(dim)
                    .map(|c| (k.dot)(c, c))
                    .collect::<Vec<_>>(),
            ),
            (-1.0, vec![0.0; nb]),
        ] {
            let none = Nearest {
                index: 9,
                score: 0.0,
                second: 0.0,
            };
            let mut got = vec![none; na];
            (k.nearest)(&a, &packed, scale, &bias, &mut got);
            for (i, g) in got.iter().enumerate() {
                let row = &dots[i * nb..(i + 1) * nb];
                let (index, score) = (k.argmin)(row, scale, &bias);
                let mut rest = row.to_vec();
                if nb > 0 {
                    rest[index as usize] = f32::NEG_INFINITY;
                }
                let (_, second) = (k.argmin)(&rest, scale, &bias);
                let want = Nearest {
                    index,
                    score,
                    second,
                };
                assert_eq!(*g, want, "{} {na}x{nb}x{dim} row {i}", k.isa);
            }
        }
    }
}
