//! Synthetic data sets, for `generate` and `demo`.

use rayon::prelude::*;
use vectrove::internals::rng::SplitMix64;

/// Gaussian clusters: a point is a random centre plus noise, so the data has
/// the neighbourhood structure of real embeddings rather than uniform noise.
fn generate_points(n: usize, dim: usize, seed: u64, centres: &[f32]) -> Vec<f32> {
    let n_centres = centres.len() / dim;
    // Chunks get their own generators (seeded from the chunk number), so the
    // data is the same whatever the thread count.
    const CHUNK: usize = 4096;
    let mut out = vec![0f32; n * dim];
    out.par_chunks_mut(CHUNK * dim)
        .enumerate()
        .for_each(|(c, block)| {
            let mut rng = SplitMix64::new(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for v in block.chunks_exact_mut(dim) {
                let centre = rng.below(n_centres as u64) as usize;
                let base = &centres[centre * dim..(centre + 1) * dim];
                for (x, &b) in v.iter_mut().zip(base) {
                    *x = b + 0.35 * gaussian(&mut rng);
                }
            }
        });
    out
}

fn gaussian(rng: &mut SplitMix64) -> f32 {
    // Box-Muller; one of the pair is enough here.
    let u = rng.next_f64().max(1e-12);
    let v = rng.next_f64();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// `n` base points and `nq` queries drawn around the same centres.
pub fn dataset(n: usize, nq: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64::new(seed);
    let n_centres = (n / 200).clamp(16, 4096);
    let centres: Vec<f32> = (0..n_centres * dim).map(|_| gaussian(&mut rng)).collect();
    let base = generate_points(n, dim, seed.wrapping_add(1), &centres);
    let queries = generate_points(nq, dim, seed.wrapping_add(2), &centres);
    (base, queries)
}
