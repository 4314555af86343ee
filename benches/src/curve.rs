//! Recall/throughput curves and the summary the sweep prints.

/// One point of a sweep: beam width, mean recall@k, queries per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepPoint {
    /// Search beam width.
    pub ef: usize,
    /// Mean recall@k over the queries.
    pub recall: f64,
    /// Queries per second on one thread.
    pub qps: f64,
}

/// Throughput at `target` recall, interpolated linearly in recall between
/// the two sweep points around the first crossing (points in the order of
/// increasing ef). `None` if no point reaches `target`. If the first point
/// already reaches it, its QPS is returned: a lower bound, since the curve
/// does not extend below.
pub fn qps_at(curve: &[SweepPoint], target: f64) -> Option<f64> {
    let i = curve.iter().position(|p| p.recall >= target)?;
    if i == 0 {
        return Some(curve[0].qps);
    }
    let (a, b) = (curve[i - 1], curve[i]);
    let t = (target - a.recall) / (b.recall - a.recall);
    Some(a.qps + t * (b.qps - a.qps))
}

/// The highest recall of the curve (0 for an empty one).
pub fn max_recall(curve: &[SweepPoint]) -> f64 {
    curve.iter().map(|p| p.recall).fold(0.0, f64::max)
}

/// `qps` in thousands with one decimal ("24.5k"), or "never".
pub fn fmt_kqps(qps: Option<f64>) -> String {
    qps.map_or_else(|| "never".to_string(), |q| format!("{:.1}k", q / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ef: usize, recall: f64, qps: f64) -> SweepPoint {
        SweepPoint { ef, recall, qps }
    }

    #[test]
    fn interpolates_between_the_crossing_points() {
        let c = [
            p(10, 0.80, 10_000.0),
            p(20, 0.90, 8_000.0),
            p(40, 1.0, 4_000.0),
        ];
        assert_eq!(qps_at(&c, 0.90), Some(8_000.0));
        let q = qps_at(&c, 0.95).unwrap();
        assert!((q - 6_000.0).abs() < 1e-6, "{q}");
        assert_eq!(qps_at(&c, 0.5), Some(10_000.0));
        assert_eq!(max_recall(&c), 1.0);
    }

    #[test]
    fn never_when_out_of_reach() {
        let c = [p(10, 0.80, 10_000.0), p(20, 0.98, 8_000.0)];
        assert_eq!(qps_at(&c, 0.99), None);
        assert_eq!(fmt_kqps(qps_at(&c, 0.99)), "never");
        assert_eq!(fmt_kqps(Some(24_510.0)), "24.5k");
        assert_eq!(qps_at(&[], 0.9), None);
    }
}
