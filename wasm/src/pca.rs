//! The JS `Pca` class: principal component analysis of `f32` vectors (for
//! example, embeddings projected to 2-D for a plot), the same code and the
//! same results (for a seed, up to the last bits of the SIMD sums) as
//! natively.

use js_sys::{Float32Array, Float64Array};
use vectrove_core::PcaParams;
use wasm_bindgen::prelude::*;

use crate::errors::from_core;
use crate::js::{check_keys, opt_f64, opt_u64, opt_usize, to_f32s, to_usize};

use crate::options::JsResult;

/// A fitted projection: the mean and the leading principal axes.
#[wasm_bindgen]
pub struct Pca {
    inner: vectrove_core::Pca,
}

#[wasm_bindgen]
impl Pca {
    /// Fit on `data` (`dim`-element vectors back to back). Options:
    /// `components` (default 2), `maxIters` (default 300), `tolerance`
    /// (default 1e-7), `maxPoints` (fit on a random sample of at most this
    /// many vectors, default 100000; 0 for all), `seed`.
    pub fn fit(
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] data: JsValue,
        dim: JsValue,
        #[wasm_bindgen(unchecked_param_type = "PcaOptions")] options: JsValue,
    ) -> JsResult<Pca> {
        check_keys(
            &options,
            "Pca.fit",
            &["components", "maxIters", "tolerance", "maxPoints", "seed"],
        )?;
        let data = &to_f32s(&data, "data")?[..];
        let dim = to_usize(&dim, "dim")?;
        let mut params = PcaParams::default();
        if let Some(c) = opt_usize(&options, "components")? {
            params.components = c;
        }
        if let Some(iters) = opt_usize(&options, "maxIters")? {
            params.max_iters = iters;
        }
        if let Some(t) = opt_f64(&options, "tolerance")? {
            params.tolerance = t;
        }
        if let Some(m) = opt_usize(&options, "maxPoints")? {
            params.max_points = m;
        }
        if let Some(seed) = opt_u64(&options, "seed")? {
            params.seed = seed;
        }
        let inner = vectrove_core::Pca::fit(data, dim, &params).map_err(from_core)?;
        Ok(Pca { inner })
    }

    /// The principal axes: `nComponents` unit vectors of `dim` values back
    /// to back, by decreasing variance.
    #[wasm_bindgen(getter)]
    pub fn components(&self) -> Float32Array {
        Float32Array::from(self.inner.components())
    }

    /// The mean of the vectors fitted on.
    #[wasm_bindgen(getter)]
    pub fn mean(&self) -> Float32Array {
        Float32Array::from(self.inner.mean())
    }

    /// The variance along each component, largest first.
    #[wasm_bindgen(getter, js_name = explainedVariance)]
    pub fn explained_variance(&self) -> Float64Array {
        Float64Array::from(self.inner.explained_variance())
    }

    /// Each component's share of the total variance.
    #[wasm_bindgen(getter, js_name = explainedVarianceRatio)]
    pub fn explained_variance_ratio(&self) -> Float64Array {
        Float64Array::from(self.inner.explained_variance_ratio())
    }

    /// Elements per input vector.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Number of components.
    #[wasm_bindgen(getter, js_name = nComponents)]
    pub fn n_components(&self) -> usize {
        self.inner.n_components()
    }

    /// Subspace iterations run.
    #[wasm_bindgen(getter)]
    pub fn iterations(&self) -> usize {
        self.inner.iterations()
    }

    /// Project `data` (vectors back to back): `nComponents` values per
    /// vector.
    pub fn transform(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] data: JsValue,
    ) -> JsResult<Float32Array> {
        let data = &to_f32s(&data, "data")?[..];
        let out = self.inner.transform(data).map_err(from_core)?;
        Ok(Float32Array::from(&out[..]))
    }
}
