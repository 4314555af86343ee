//! Saving an IVF-Flat index in the file format and loading it back.

use std::io::Write;

use super::read::PointsFile;
use super::write::finish_index;
use super::{Header, IndexKind, Reader, VectorChecksums, Writer, corrupt, le_u32s, tag, u32s};
use crate::distance::{Element, Metric};
use crate::error::{Error, Result};
use crate::ivf::{Ivf, IvfParams};
use crate::kmeans::{Init, KMeans};
use crate::store::{FeatureStore, MemoryStore};

/// Every section an IVF file has.
pub(super) const SECTIONS: [[u8; 4]; 10] = [
    tag::PARAMS,
    tag::CENTROIDS,
    tag::LISTS,
    tag::IDS,
    tag::DELETED,
    tag::VECTOR_SUMS,
    tag::VECTORS,
    tag::QUANT_PARAMS,
    tag::CODES,
    tag::CODE_SUMS,
];

impl<S: FeatureStore> Ivf<S> {
    /// Write the index in the file format (`docs/format.md`). The store's
    /// vectors must all be readable synchronously.
    pub fn write_to<W: Write>(&self, out: &mut W) -> Result<()> {
        self.write_file(out)
    }

    /// [`write_to`](Self::write_to) through one writer type, so the encoder
    /// is compiled once whatever the caller writes to.
    pub(crate) fn write_file(&self, out: &mut dyn Write) -> Result<()> {
        let count = self.points.slot_count();
        if self.dim() > crate::format::MAX_DIM {
            return Err(Error::InvalidParameter {
                name: "index",
                reason: format!(
                    "the file format holds at most {} dimensions",
                    crate::format::MAX_DIM
                ),
            });
        }
        let mut w = Writer::new(
            IndexKind::Ivf,
            super::write::elem_code(&self.points.store),
            self.metric(),
            self.dim(),
            count,
        );
        let mut params = Vec::with_capacity(24);
        for x in [
            self.lists.len(),
            self.params.iters,
            self.params.max_points_per_centroid,
            self.params.init.code() as usize,
        ] {
            params.extend_from_slice(&(x.min(u32::MAX as usize) as u32).to_le_bytes());
        }
        params.extend_from_slice(&self.params.seed.to_le_bytes());
        w.section(tag::PARAMS, params);
        let mut cent = Vec::new();
        f32::write_le(self.quantizer.centroids(), &mut cent);
        w.section(tag::CENTROIDS, cent);
        w.section(tag::LISTS, u32s(self.list_of.iter().copied()));
        finish_index(w, out, &self.points)
    }

    /// The index as file bytes (see [`write_to`](Self::write_to)).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

impl Ivf<MemoryStore<f32>> {
    /// Load an index from file bytes into memory, checking every section.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (file, store) = super::read::whole_file::<f32>(bytes, IndexKind::Ivf)?;
        file.into_index(store)?.into_ivf()
    }
}

/// A decoded IVF file without its vectors; attach a store for them with
/// [`into_index`](Self::into_index).
#[derive(Debug)]
pub struct IvfFile {
    points: PointsFile,
    params: IvfParams,
    quantizer: KMeans,
    list_of: Vec<u32>,
}

impl IvfFile {
    /// Decode and check everything but the vectors. `meta` is the start of
    /// the file, at least [`Header::meta_len`] bytes, or the metadata as
    /// [`read_meta`](crate::format::read_meta) returns it (without the
    /// optional sections this build does not know).
    pub fn decode(header: Header, meta: &[u8]) -> Result<Self> {
        header.check_kind(IndexKind::Ivf)?;
        if header.check_elem::<f32>().is_err() {
            return Err(corrupt("header", "IVF indexes hold f32 vectors"));
        }
        header.check_known(&SECTIONS)?;
        header.check_padding(meta)?;
        let (count, dim) = (header.count, header.dim);

        let mut r = Reader::new(
            header.section_bytes(meta, tag::PARAMS, "parameters")?,
            "parameters",
        );
        let nlist = r.u32()? as usize;
        let iters = r.u32()? as usize;
        let max_points_per_centroid = r.u32()? as usize;
        let init = Init::from_code(r.u32()?)
            .ok_or_else(|| corrupt("parameters", "unknown k-means initialisation"))?;
        let seed = r.u64()?;
        r.finish()?;

        let bytes = header.section_bytes(meta, tag::CENTROIDS, "centroids")?;
        if nlist == 0 || bytes.len() as u64 != nlist as u64 * dim as u64 * 4 {
            return Err(corrupt("centroids", "wrong length"));
        }
        let mut centroids = crate::alloc::zeroed(nlist * dim, "the centroids")?;
        f32::read_le(bytes, &mut centroids);
        if header.metric == Metric::Cosine {
            // Unit length (up to the rounding of a normalisation in f32), or
            // zero: the centroid of points that cancel out, which training
            // leaves as it is.
            let off = centroids.chunks_exact(dim).any(|c| {
                let sq: f64 = c.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
                sq != 0.0 && (sq - 1.0).abs() > 1e-3
            });
            if off {
                return Err(corrupt("centroids", "not of unit length (cosine)"));
            }
        }
        let quantizer = KMeans::from_centroids(header.metric, dim, centroids)
            .map_err(|e| corrupt("centroids", e.to_string()))?;

        let bytes = header.section_bytes(meta, tag::LISTS, "lists")?;
        if bytes.len() != 4 * count {
            return Err(corrupt("lists", "wrong length"));
        }
        let list_of: Vec<u32> = le_u32s(bytes, "the lists")?;
        if list_of.iter().any(|&l| l as usize >= nlist) {
            return Err(corrupt("lists", "a point is in a list that does not exist"));
        }
        let points = PointsFile::decode(header, meta)?;
        Ok(Self {
            params: IvfParams {
                nlist,
                iters,
                seed,
                max_points_per_centroid,
                init,
            },
            quantizer,
            list_of,
            points,
        })
    }

    /// What every kind's file holds about its points.
    pub(crate) fn points(&self) -> &PointsFile {
        &self.points
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.points.header
    }

    /// The checksums of the vectors section, for stores that verify what they load.
    pub fn vector_checksums(&self) -> &VectorChecksums {
        &self.points.sums
    }

    /// The index over `store`, which must hold the file's vectors.
    pub fn into_index<S: FeatureStore>(self, store: S) -> Result<Ivf<S>> {
        let (points, dist) = self.points.into_points(store)?;
        let mut lists = crate::alloc::vec_of(self.quantizer.k(), Vec::new(), "the lists")?;
        for (slot, &l) in self.list_of.iter().enumerate() {
            lists[l as usize].push(slot as u32);
        }
        Ok(Ivf {
            params: self.params,
            dist,
            quantizer: self.quantizer,
            lists,
            list_of: self.list_of,
            points,
        })
    }
}
