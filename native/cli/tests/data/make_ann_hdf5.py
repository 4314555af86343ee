# How ann-contiguous.hdf5 and ann-gzip.h5 were made (the tests only read
# them; nothing here runs in the test command). They hold the first 200
# base vectors and 20 queries of debian-384 in the ann-benchmarks layout,
# written by h5py as ann-benchmarks does, with the exact cosine neighbours:
#   python make_ann_hdf5.py ann-contiguous.hdf5 200 20 10 contig DATA_DIR/
#   python make_ann_hdf5.py ann-gzip.h5 200 20 10 gzip DATA_DIR/
# (needs h5py and numpy; the gzip file stores every dataset but `distances`
# chunked, gzip-compressed and, for `train`, shuffled).
import sys, numpy as np, h5py
def fvecs(p, n=None):
    a = np.fromfile(p, dtype=np.int32)
    d = a[0]; a = a.reshape(-1, d + 1)[:n, 1:].copy().view(np.float32)
    return a
def exact(train, test, k):
    tn = train / np.linalg.norm(train, axis=1, keepdims=True)
    qn = test / np.linalg.norm(test, axis=1, keepdims=True)
    d = 1 - qn @ tn.T
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx.astype(np.int32), np.take_along_axis(d, idx, 1).astype(np.float32)
out, ntrain, ntest, k, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
D = sys.argv[6] if len(sys.argv) > 6 else "debian-384/"  # the debian-384 directory
train = fvecs(D + "base.fvecs", ntrain); test = fvecs(D + "queries.fvecs", ntest)
nb, dist = exact(train, test, k)
kw = {}
if mode == "gzip":
    kw = dict(chunks=(min(64, ntrain), train.shape[1]), compression="gzip", compression_opts=4, shuffle=True)
with h5py.File(out, "w") as f:
    f.attrs["type"] = "dense"; f.attrs["distance"] = "angular"
    f.attrs["dimension"] = train.shape[1]; f.attrs["point_type"] = "float"
    f.create_dataset("train", data=train, **kw)
    f.create_dataset("test", data=test, **({} if mode != "gzip" else dict(chunks=(min(8, ntest), train.shape[1]), compression="gzip")))
    f.create_dataset("neighbors", data=nb, **({} if mode != "gzip" else dict(chunks=True, compression="gzip")))
    f.create_dataset("distances", data=dist)
print(out, train.shape, test.shape, nb.shape)
