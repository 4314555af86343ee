//! Seeded random sampling: the one helper every "train on at most this
//! many points" policy (k-means, IVF, PCA) draws its sample with.

use crate::rng::SplitMix64;

/// A sorted random sample of `cap` distinct slots of `0..n`, the same for
/// the same `seed` on every target; every slot when `n <= cap`.
///
/// ```
/// use vectrove_core::sample::random_slots;
/// let s = random_slots(1000, 10, 7);
/// assert_eq!(s.len(), 10);
/// assert!(s.windows(2).all(|w| w[0] < w[1]) && s[9] < 1000);
/// assert_eq!(s, random_slots(1000, 10, 7));
/// assert_eq!(random_slots(5, 10, 7), [0, 1, 2, 3, 4]);
/// ```
pub fn random_slots(n: usize, cap: usize, seed: u64) -> Vec<u32> {
    if n <= cap {
        return (0..n as u32).collect();
    }
    // Partial Fisher-Yates over a virtual identity permutation: only the
    // swapped positions are stored.
    let mut rng = SplitMix64::new(seed);
    let mut moved = std::collections::HashMap::with_capacity(cap * 2);
    let mut out = Vec::with_capacity(cap);
    for i in 0..cap {
        let j = i + rng.below((n - i) as u64) as usize;
        let vj = *moved.get(&j).unwrap_or(&j);
        let vi = *moved.get(&i).unwrap_or(&i);
        moved.insert(j, vi);
        out.push(vj as u32);
    }
    out.sort_unstable();
    out
}
