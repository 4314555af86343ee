//! Synthetic data sets, for `generate` and `demo`.

use rayon::prelude::*;
use vectrove::internals::rng::SplitMix64;

use crate::error::{CliResult, fail};

/// The largest dimension a generated data set may have: the index format's.
const MAX_DIM: usize = 1 << 20;

/// `len` zeros, or an error naming `what` if they cannot be allocated (a
/// huge `--n` or `--dim` must not abort the process).
fn zeros(len: Option<usize>, what: &str) -> CliResult<Vec<f32>> {
    let mut v = Vec::new();
    match len {
        Some(len) if v.try_reserve_exact(len).is_ok() => {
            v.resize(len, 0.0);
            Ok(v)
        }
        _ => fail(format!("not enough memory for the {what}")),
    }
}

/// Gaussian clusters: a point is a random centre plus noise, so the data has
/// the neighbourhood structure of real embeddings rather than uniform noise.
fn generate_points(out: &mut [f32], dim: usize, seed: u64, centres: &[f32]) {
    let n_centres = centres.len() / dim;
    // Chunks get their own generators (seeded from the chunk number), so the
    // data is the same whatever the thread count.
    const CHUNK: usize = 4096;
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
}

fn gaussian(rng: &mut SplitMix64) -> f32 {
    // Box-Muller; one of the pair is enough here.
    let u = rng.next_f64().max(1e-12);
    let v = rng.next_f64();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// `n` base points and `nq` queries of dimension `dim` (1 to 2^20) drawn
/// around the same centres. Sizes that do not fit in memory are an error,
/// found before any work is done.
pub fn dataset(n: usize, nq: usize, dim: usize, seed: u64) -> CliResult<(Vec<f32>, Vec<f32>)> {
    if dim == 0 || dim > MAX_DIM {
        return fail(format!("--dim must be between 1 and {MAX_DIM}"));
    }
    let mut base = zeros(
        n.checked_mul(dim),
        &format!("{n} points of {dim} dimensions"),
    )?;
    let mut queries = zeros(
        nq.checked_mul(dim),
        &format!("{nq} queries of {dim} dimensions"),
    )?;
    let mut rng = SplitMix64::new(seed);
    let n_centres = (n / 200).clamp(16, 4096);
    let centres: Vec<f32> = (0..n_centres * dim).map(|_| gaussian(&mut rng)).collect();
    generate_points(&mut base, dim, seed.wrapping_add(1), &centres);
    generate_points(&mut queries, dim, seed.wrapping_add(2), &centres);
    Ok((base, queries))
}
