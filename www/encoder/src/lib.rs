//! The demo page's sentence encoder: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer
//! BERT, 384-d) run by candle, with the model's own WordPiece tokenizer from the
//! `tokenizers` crate, compiled to WebAssembly for a dedicated worker.
//!
//! The output is what sentence-transformers computes for this model, and so what the
//! stored debian-384 vectors are: the last hidden state, averaged over the tokens the
//! attention mask keeps (mean pooling), then scaled to unit length.
//!
//! The page hands the model's files over as bytes (`model.safetensors`, `config.json`,
//! `tokenizer.json`): it fetches and keeps them itself, so this module never touches the
//! network or storage.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use wasm_bindgen::prelude::*;

/// The longest input the model is run on, in tokens: sentence-transformers' `max_seq_length`
/// for this model (`sentence_bert_config.json`). Longer texts are cut, as there.
pub const MAX_TOKENS: usize = 256;

/// A loaded model and tokenizer.
#[wasm_bindgen]
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
}

/// An error as a message, for the `Result`s of the Rust API; the JS API turns it into a
/// thrown `Error`.
#[derive(Debug)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

fn fail(context: &str, err: impl std::fmt::Display) -> EncodeError {
    EncodeError(format!("{context}: {err}"))
}

impl Encoder {
    /// Loads the model from the bytes of its `model.safetensors` (f32 or f16 weights; they
    /// are computed in f32), `config.json` and `tokenizer.json`.
    pub fn load(weights: &[u8], config: &[u8], tokenizer: &[u8]) -> Result<Encoder, EncodeError> {
        let config: Config =
            serde_json::from_slice(config).map_err(|e| fail("config.json", e))?;
        let mut tokenizer = Tokenizer::from_bytes(tokenizer).map_err(|e| fail("tokenizer.json", e))?;
        // The file pads every input to 128 tokens and cuts at 128; sentence-transformers
        // instead cuts at its max_seq_length and pads a batch to its longest input.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| fail("tokenizer truncation", e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let vb = VarBuilder::from_slice_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| fail("model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| fail("model.safetensors", e))?;
        Ok(Encoder {
            model,
            tokenizer,
            dim: config.hidden_size,
        })
    }

    /// The unit-length embeddings of `texts`, one row of [`Encoder::dim`] values per text,
    /// one after the other.
    pub fn encode(&self, texts: &[String]) -> Result<Vec<f32>, EncodeError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| fail("tokenize", e))?;
        let rows = encodings.len();
        let len = encodings[0].get_ids().len();
        let mut ids = Vec::with_capacity(rows * len);
        let mut types = Vec::with_capacity(rows * len);
        let mut mask = Vec::with_capacity(rows * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            let device = &Device::Cpu;
            let ids = Tensor::from_vec(ids, (rows, len), device)?;
            let types = Tensor::from_vec(types, (rows, len), device)?;
            let mask = Tensor::from_vec(mask, (rows, len), device)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?; // rows × len × dim
            let keep = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // rows × len × 1
            let summed = hidden.broadcast_mul(&keep)?.sum(1)?; // rows × dim
            let counts = keep.sum(1)?; // rows × 1
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.flatten_all()?.to_vec1::<f32>()
        };
        run().map_err(|e| fail("encode", e))
    }

    /// The length of an embedding (384 for this model).
    pub fn dim(&self) -> usize {
        self.dim
    }
}

#[wasm_bindgen]
impl Encoder {
    /// `new Encoder(weights, config, tokenizer)`: the bytes of `model.safetensors`,
    /// `config.json` and `tokenizer.json`.
    #[wasm_bindgen(constructor)]
    pub fn js_new(weights: &[u8], config: &[u8], tokenizer: &[u8]) -> Result<Encoder, JsError> {
        Encoder::load(weights, config, tokenizer).map_err(|e| JsError::new(&e.0))
    }

    /// `encoder.embed(texts)`: a `Float32Array` of `texts.length × dim` values.
    #[wasm_bindgen(js_name = embed)]
    pub fn js_embed(&self, texts: Vec<String>) -> Result<Vec<f32>, JsError> {
        self.encode(&texts).map_err(|e| JsError::new(&e.0))
    }

    /// The length of an embedding.
    #[wasm_bindgen(getter, js_name = dim)]
    pub fn js_dim(&self) -> usize {
        self.dim
    }
}
