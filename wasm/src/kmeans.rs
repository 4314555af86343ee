//! The JS `KMeans` class: k-means++ and Lloyd iterations over `f32`
//! vectors, the same code and the same results (for a seed) as natively.

use js_sys::{Float32Array, Uint32Array};
use vectrove_core::kmeans::{IterationStats, KMeansParams};
use vectrove_core::{MemoryStore, Metric};
use wasm_bindgen::prelude::*;

use crate::errors::{from_core, invalid_argument};
use crate::js::{check_keys, opt_f64, opt_function, opt_u64, opt_usize, to_f32s, to_usize};

use crate::options::{self, JsResult};

/// Trained centroids.
#[wasm_bindgen]
pub struct KMeans {
    inner: vectrove_core::KMeans,
}

#[wasm_bindgen]
impl KMeans {
    /// Train `k` centroids on `data` (`dim`-element vectors back to back).
    /// Options: `k` (required), `metric` (default "l2"), `iters` (default
    /// 25), `seed`, `tolerance`, `maxPointsPerCentroid` (sample size cap),
    /// `init` ("kmeans++", the default, "random" or "hierarchical"),
    /// `onProgress(iteration, inertia)` (return `false` to stop early).
    pub fn train(
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] data: JsValue,
        dim: JsValue,
        #[wasm_bindgen(unchecked_param_type = "KMeansOptions")] options: JsValue,
    ) -> JsResult<KMeans> {
        check_keys(
            &options,
            "KMeans.train",
            &[
                "k",
                "metric",
                "iters",
                "seed",
                "tolerance",
                "maxPointsPerCentroid",
                "init",
                "onProgress",
            ],
        )?;
        let data = &to_f32s(&data, "data")?[..];
        let dim = to_usize(&dim, "dim")?;
        let k = opt_usize(&options, "k")?
            .ok_or_else(|| invalid_argument("options.k (the number of clusters) is required"))?;
        let mut params = KMeansParams {
            k,
            metric: options::metric(&options, Metric::L2)?,
            init: options::kmeans_init(&options)?,
            ..KMeansParams::default()
        };
        if let Some(iters) = opt_usize(&options, "iters")? {
            params.max_iters = iters;
        }
        if let Some(seed) = opt_u64(&options, "seed")? {
            params.seed = seed;
        }
        if let Some(t) = opt_f64(&options, "tolerance")? {
            params.tolerance = t;
        }
        if let Some(m) = opt_usize(&options, "maxPointsPerCentroid")? {
            params.max_points_per_centroid = m;
        }
        let progress = opt_function(&options, "onProgress")?;
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(from_core(vectrove_core::Error::DimensionMismatch {
                expected: dim,
                got: data.len() % dim.max(1),
            }));
        }
        let store = MemoryStore::from_flat(dim, data).map_err(from_core)?;
        let mut thrown = None;
        let inner = vectrove_core::KMeans::fit(&params, &store, |s: &IterationStats| {
            let Some(f) = &progress else { return true };
            match f.call2(
                &JsValue::NULL,
                &JsValue::from(s.iteration as f64),
                &JsValue::from(s.inertia),
            ) {
                Ok(v) => v.as_bool() != Some(false),
                Err(e) => {
                    thrown = Some(e);
                    false
                }
            }
        });
        if let Some(e) = thrown {
            return Err(e);
        }
        Ok(KMeans {
            inner: inner.map_err(from_core)?,
        })
    }

    /// A model from known centroids (`k` vectors of `dim` back to back).
    #[wasm_bindgen(js_name = fromCentroids)]
    pub fn from_centroids(
        centroids: Vec<f32>,
        dim: JsValue,
        metric_name: Option<String>,
    ) -> JsResult<KMeans> {
        let dim = to_usize(&dim, "dim")?;
        let options = js_sys::Object::new();
        if let Some(m) = metric_name {
            crate::js::set(&options, "metric", m);
        }
        let metric = options::metric(&options.into(), Metric::L2)?;
        Ok(KMeans {
            inner: vectrove_core::KMeans::from_centroids(metric, dim, centroids)
                .map_err(from_core)?,
        })
    }

    /// The centroids, `k` vectors of `dim` back to back.
    #[wasm_bindgen(getter)]
    pub fn centroids(&self) -> Float32Array {
        Float32Array::from(self.inner.centroids())
    }

    /// Number of centroids.
    #[wasm_bindgen(getter)]
    pub fn k(&self) -> usize {
        self.inner.k()
    }

    /// Elements per vector.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// "l2", "cosine" or "ip".
    #[wasm_bindgen(getter)]
    pub fn metric(&self) -> String {
        self.inner.metric().to_string()
    }

    /// The objective after the last iteration (see the native docs), or
    /// `undefined` for a model made from centroids.
    #[wasm_bindgen(getter)]
    pub fn inertia(&self) -> Option<f64> {
        self.inner.stats().last().map(|s| s.inertia)
    }

    /// Lloyd iterations run.
    #[wasm_bindgen(getter)]
    pub fn iterations(&self) -> usize {
        self.inner.stats().len()
    }

    /// The nearest centroid of each vector in `vectors` (back to back).
    pub fn assign(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] vectors: JsValue,
    ) -> JsResult<Uint32Array> {
        let vectors = &to_f32s(&vectors, "vectors")?[..];
        let a = self.inner.assign_many(vectors).map_err(from_core)?;
        let ids: Vec<u32> = a.into_iter().map(|(c, _)| c).collect();
        Ok(Uint32Array::from(&ids[..]))
    }
}
