"""faiss's k-means on an .fvecs file, timed the way kmeans_timing times vectrove.

    python faiss_kmeans.py FILE K ITERS THREADS [MAX_POINTS_PER_CENTROID] [SEED]

Prints the seconds of every iteration (from faiss's own iteration stats), the
objective after each, and a summary line: mean of iterations 2 onwards, the
first one and the whole train() call. The objective is faiss's: the sum of
squared L2 distances of the training points to their nearest centroid at
the assignment of that iteration, as vectrove's.
"""
import sys
import time

import numpy as np
import faiss


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()


def main():
    args = sys.argv[1:]
    path, k, iters, threads = args[0], int(args[1]), int(args[2]), int(args[3])
    per = int(args[4]) if len(args) > 4 else 256
    seed = int(args[5]) if len(args) > 5 else 1
    x = read_fvecs(path)
    n, d = x.shape
    faiss.omp_set_num_threads(threads)
    km = faiss.Kmeans(d, k, niter=iters, seed=seed, verbose=False,
                      max_points_per_centroid=per)
    t0 = time.perf_counter()
    km.train(x)
    total = time.perf_counter() - t0
    stats = km.iteration_stats
    times, objs = [], []
    prev = 0.0
    for i, s in enumerate(stats):
        # faiss reports the seconds since training began.
        times.append(s["time"] - prev)
        prev = s["time"]
        objs.append(s["obj"])
        print(f"iteration {i + 1}: {times[-1]:.3f} s, objective {s['obj']:.1f}")
    later = times[1:] or times
    print(f"faiss {faiss.__version__} n={n} d={d} k={k} threads={threads}: "
          f"per iteration {sum(later) / len(later):.3f} s, first {times[0]:.3f} s, "
          f"total {total:.3f} s, objective {objs[-1]:.1f}")


if __name__ == "__main__":
    main()
