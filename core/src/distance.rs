//! Metrics, element types and the distance functions built on the SIMD kernels.
//!
//! Every distance here is "smaller is closer", and may be negative (inner
//! product). Ordering uses [`f32::total_cmp`] through [`Dist`], never the raw
//! bit pattern, so negative distances sort correctly.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};
use crate::simd;
use crate::store::RowSlice;

/// How two vectors are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Cosine distance, `1 - cos(a, b)`. Vectors are normalised when they are
    /// inserted, so the index stores (and returns) unit vectors.
    Cosine,
    /// Negative inner product, `-(a . b)`: the largest product is the nearest.
    InnerProduct,
    /// Number of differing bits of packed binary codes (`u8` vectors).
    Hamming,
}

impl Metric {
    /// The metric's short name (`l2`, `cosine`, `ip`, `hamming`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "ip",
            Metric::Hamming => "hamming",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "l2" => Ok(Metric::L2),
            "cosine" => Ok(Metric::Cosine),
            "ip" => Ok(Metric::InnerProduct),
            "hamming" => Ok(Metric::Hamming),
            _ => Err(Error::InvalidParameter {
                name: "metric",
                reason: format!("unknown metric `{s}` (expected l2, cosine, ip or hamming)"),
            }),
        }
    }
}

/// A distance function over one element type.
pub type DistanceFn<T> = fn(&[T], &[T]) -> f32;

/// Distances from a query to many stored rows at once: `f(q, rows, slots,
/// out)` sets `out[i]` to the distance of `q` to row `slots[i]`, exactly as
/// the metric's [`DistanceFn`] computes it (NaN for a slot past the rows).
/// `out` holds at least `slots.len()` values.
pub type RowsDistanceFn<T> = fn(&[T], RowSlice<'_, T>, &[u32], &mut [f32]);

/// The element type of stored vectors: `f32` for the real-valued metrics,
/// `u8` (eight packed bits each) for Hamming.
pub trait Element:
    bytemuck::Pod + Default + PartialEq + fmt::Debug + Send + Sync + 'static
{
    /// Name used in error messages and the file format.
    const NAME: &'static str;

    /// Code of the element type in the index file format.
    const CODE: u32;

    /// Decode little-endian bytes (`out.len() * size_of::<Self>()` of them).
    fn read_le(bytes: &[u8], out: &mut [Self]);

    /// Append `v` as little-endian bytes.
    fn write_le(v: &[Self], out: &mut Vec<u8>);

    /// The distance function for `metric`, or an error if the metric does
    /// not apply to this element type.
    fn distance_fn(metric: Metric) -> Result<DistanceFn<Self>>;

    /// The metric's distance over many rows in one call (see [`RowsDistanceFn`]).
    fn rows_distance_fn(metric: Metric) -> Result<RowsDistanceFn<Self>>;

    /// Check and canonicalise a vector before it is stored or searched:
    /// refuses NaN and infinities, normalises for cosine.
    fn prepare(metric: Metric, v: &[Self], out: &mut Vec<Self>) -> Result<()>;

    /// The same values as `f32`s, for the parts of the library that work on
    /// real vectors only (IVF's coarse quantiser): `Some` exactly for `f32`.
    fn as_f32(_v: &[Self]) -> Option<&[f32]> {
        None
    }
}

fn unsupported<T: Element>(metric: Metric) -> Error {
    Error::UnsupportedMetric {
        metric: metric.name(),
        element: T::NAME,
    }
}

fn dot_distance(a: &[f32], b: &[f32]) -> f32 {
    -(simd::kernels().dot)(a, b)
}

fn cosine_unit_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - (simd::kernels().dot)(a, b)
}

fn l2_distance(a: &[f32], b: &[f32]) -> f32 {
    (simd::kernels().l2_sq)(a, b)
}

fn hamming_distance(a: &[u8], b: &[u8]) -> f32 {
    (simd::kernels().hamming)(a, b) as f32
}

fn dot_rows_distance(q: &[f32], rows: RowSlice<'_, f32>, slots: &[u32], out: &mut [f32]) {
    (simd::row_kernels().dot)(q, rows.data(), rows.stride(), slots, out);
    out.iter_mut().take(slots.len()).for_each(|d| *d = -*d);
}

fn cosine_rows_distance(q: &[f32], rows: RowSlice<'_, f32>, slots: &[u32], out: &mut [f32]) {
    (simd::row_kernels().dot)(q, rows.data(), rows.stride(), slots, out);
    out.iter_mut().take(slots.len()).for_each(|d| *d = 1.0 - *d);
}

fn l2_rows_distance(q: &[f32], rows: RowSlice<'_, f32>, slots: &[u32], out: &mut [f32]) {
    (simd::row_kernels().l2)(q, rows.data(), rows.stride(), slots, out);
}

fn hamming_rows_distance(q: &[u8], rows: RowSlice<'_, u8>, slots: &[u32], out: &mut [f32]) {
    (simd::row_kernels().hamming)(q, rows.data(), rows.stride(), slots, out);
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    const CODE: u32 = 1;

    #[inline]
    fn as_f32(v: &[f32]) -> Option<&[f32]> {
        Some(v)
    }

    fn read_le(bytes: &[u8], out: &mut [f32]) {
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    fn write_le(v: &[f32], out: &mut Vec<u8>) {
        out.reserve(v.len() * 4);
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn distance_fn(metric: Metric) -> Result<DistanceFn<f32>> {
        match metric {
            Metric::L2 => Ok(l2_distance),
            // Vectors are stored normalised, so cosine is one minus the dot product.
            Metric::Cosine => Ok(cosine_unit_distance),
            Metric::InnerProduct => Ok(dot_distance),
            Metric::Hamming => Err(unsupported::<f32>(metric)),
        }
    }

    fn rows_distance_fn(metric: Metric) -> Result<RowsDistanceFn<f32>> {
        match metric {
            Metric::L2 => Ok(l2_rows_distance),
            Metric::Cosine => Ok(cosine_rows_distance),
            Metric::InnerProduct => Ok(dot_rows_distance),
            Metric::Hamming => Err(unsupported::<f32>(metric)),
        }
    }

    fn prepare(metric: Metric, v: &[f32], out: &mut Vec<f32>) -> Result<()> {
        // A branch-free pass (it vectorises) first; the position only when
        // something is wrong.
        if !v.iter().fold(true, |ok, x| ok & x.is_finite()) {
            let position = v.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(Error::NonFinite { position });
        }
        out.clear();
        out.extend_from_slice(v);
        if metric == Metric::Cosine {
            normalize(out)?;
        }
        Ok(())
    }
}

impl Element for u8 {
    const NAME: &'static str = "u8";
    const CODE: u32 = 2;

    fn read_le(bytes: &[u8], out: &mut [u8]) {
        out.copy_from_slice(&bytes[..out.len()]);
    }

    fn write_le(v: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(v);
    }

    fn distance_fn(metric: Metric) -> Result<DistanceFn<u8>> {
        match metric {
            Metric::Hamming => Ok(hamming_distance),
            _ => Err(unsupported::<u8>(metric)),
        }
    }

    fn rows_distance_fn(metric: Metric) -> Result<RowsDistanceFn<u8>> {
        match metric {
            Metric::Hamming => Ok(hamming_rows_distance),
            _ => Err(unsupported::<u8>(metric)),
        }
    }

    fn prepare(_metric: Metric, v: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.extend_from_slice(v);
        Ok(())
    }
}

/// Scale `v` to unit length in place; a zero vector is an error.
pub fn normalize(v: &mut [f32]) -> Result<()> {
    // Accumulate in f64 so the norm does not depend on the kernel's summation order.
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::ZeroVector);
    }
    let inv = (1.0 / norm) as f32;
    v.iter_mut().for_each(|x| *x *= inv);
    Ok(())
}

/// Cosine distance `1 - cos(a, b)` of two vectors of any length (not
/// necessarily normalised). Zero vectors give distance 1.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let k = simd::kernels();
    let denom = ((k.dot)(a, a) * (k.dot)(b, b)).sqrt();
    if denom == 0.0 {
        1.0
    } else {
        1.0 - (k.dot)(a, b) / denom
    }
}

/// Squared Euclidean distance with the fastest kernel for this machine.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    (simd::kernels().l2_sq)(a, b)
}

/// Inner product with the fastest kernel for this machine.
pub fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    (simd::kernels().dot)(a, b)
}

/// Hamming distance of packed bit codes.
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    (simd::kernels().hamming)(a, b)
}

/// A distance with a total order (via [`f32::total_cmp`]), so negative values
/// and ties sort correctly in heaps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dist(pub f32);

impl Eq for Dist {}

impl PartialOrd for Dist {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dist {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_distances_order_correctly() {
        let mut d = [Dist(-3.0), Dist(2.0), Dist(-0.5), Dist(0.0), Dist(-10.0)];
        d.sort();
        let v: Vec<f32> = d.iter().map(|x| x.0).collect();
        assert_eq!(v, vec![-10.0, -3.0, -0.5, 0.0, 2.0]);
        // The seed crate compared `f32::to_bits`, which puts every negative
        // value after every positive one.
        assert!((-3.0f32).to_bits() > 2.0f32.to_bits());
    }

    #[test]
    fn prepare_refuses_non_finite_and_zero() {
        let mut out = Vec::new();
        assert!(matches!(
            f32::prepare(Metric::L2, &[1.0, f32::NAN], &mut out),
            Err(Error::NonFinite { position: 1 })
        ));
        assert!(matches!(
            f32::prepare(Metric::L2, &[f32::INFINITY], &mut out),
            Err(Error::NonFinite { position: 0 })
        ));
        assert!(matches!(
            f32::prepare(Metric::Cosine, &[0.0, 0.0], &mut out),
            Err(Error::ZeroVector)
        ));
        f32::prepare(Metric::Cosine, &[3.0, 4.0], &mut out).unwrap();
        assert!((out[0] - 0.6).abs() < 1e-6 && (out[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn metric_element_pairs() {
        assert!(f32::distance_fn(Metric::Hamming).is_err());
        assert!(u8::distance_fn(Metric::L2).is_err());
        let h = u8::distance_fn(Metric::Hamming).unwrap();
        assert_eq!(h(&[0b1010_1010, 0xFF], &[0b0101_0101, 0x0F]), 12.0);
        let ip = f32::distance_fn(Metric::InnerProduct).unwrap();
        assert_eq!(ip(&[1.0, 2.0], &[3.0, 4.0]), -11.0);
    }

    #[test]
    fn parse_metric() {
        for m in [
            Metric::L2,
            Metric::Cosine,
            Metric::InnerProduct,
            Metric::Hamming,
        ] {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
        }
        assert!("euclid".parse::<Metric>().is_err());
    }
}
