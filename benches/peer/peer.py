#!/usr/bin/env python3
"""Peer benchmark: vectrove against hnswlib (and faiss, when present).

vectrove runs twice: `vectrove` searches on the f32 vectors, `vectrove-sq8` is
built with `--quantize sq8` (a byte a dimension, resident) and traverses on
the codes, reranking the best candidates exactly (the CLI's default rerank
unless --rerank is given).

Started by run.sh, which prepares the virtual environment and the release
CLI first. This file has two roles:

* `run`: the orchestrator. It writes the extra query sets and their exact
  ground truth, then for each round builds every index at each thread count
  and sweeps ef on one search thread for every index and query set, each
  build and each sweep in a process of its own. At the end it prints the
  markdown report and writes every raw number to <work>/results.json.
* `build` / `sweep`: the workers for hnswlib and faiss, one per process.
  vectrove's workers are its own CLI (`vectrove build`, `vectrove bench`).

Query sets
----------
like-base  debian-384 queries.fvecs: 1,000 other package descriptions,
           embedded with the same model, so they follow the base's
           distribution.
mix        normalised blends t*a + (1-t)*b, t uniform in [0.35, 0.65], of two
           held-out query vectors a, b whose cosine is below 0.05 (unrelated
           topics). A blend of two far-apart texts lands in the sparse space
           between topic clusters, where the nearest base vectors are far and
           nearly equidistant, which is hard for a graph walk.
noise      held-out query vectors plus isotropic Gaussian noise of the same
           norm as the vector (sigma = 1/sqrt(dim)), then renormalised:
           about 45 degrees off the data manifold, in directions the
           embedding model never produces. Graph indexes tuned on
           in-distribution queries tend to lose recall there.

Both generated sets start from queries.fvecs, which is not part of the base,
so no query is built from a vector the index holds: its nearest neighbours are
not its own sources. The random generator is seeded (--seed, default 20240),
so the sets are the same on every run; their exact top-100 by cosine is
computed by brute force in numpy and written as .ivecs beside them.

Fairness notes
--------------
* Every library searches one query at a time on one thread. hnswlib and faiss
  are given the whole query matrix in one call with one thread, so the loop
  over queries runs in C++ and no Python overhead is timed; vectrove's CLI
  loops over the queries in Rust.
* Each sweep runs in a fresh process and begins with one untimed pass over all
  queries (at ef = 128), then --repeat timed passes per ef (2 by default),
  back to back; the fastest pass counts, as the machine is shared and other
  work only ever slows a pass down. Every pass is kept in results.json.
* recall@10 = |returned top-10 ∩ true top-10| / 10, averaged over queries (the
  plain, not the tie-aware, variant), for every library alike.
* Build time is the wall time of the whole build process, loading the base
  and saving the index included (under a second of I/O for every library);
  the time inside the library's build call alone is kept in results.json too.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

K = 10
GT_DEPTH = 100
M = 16
EF_CONSTRUCTION = 200
WARM_EF = 128
FULL_EFS = [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384, 512, 800]
QUICK_EFS = [10, 16, 32, 64, 128, 256, 512]
TARGETS = [0.90, 0.95, 0.99]
LIBS = ["vectrove", "vectrove-sq8", "hnswlib", "faiss"]
OURS = ["vectrove", "vectrove-sq8"]


# ---------------------------------------------------------------- file formats

def openblas_core():
    """The OpenBLAS core to name for faiss: SkylakeX with AVX-512, Haswell
    with AVX2, None otherwise or where /proc/cpuinfo is absent."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l.split() for l in f if l.startswith("flags")), [])
    except OSError:
        return None
    if "avx512f" in flags:
        return "SkylakeX"
    return "Haswell" if "avx2" in flags else None


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise SystemExit(f"{path}: empty file")
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def read_fvecs(path):
    return read_vecs(path, np.float32)


def read_ivecs(path):
    return read_vecs(path, np.int32)


def write_vecs(path, arr):
    arr = np.ascontiguousarray(arr)
    n, dim = arr.shape
    out = np.empty((n, dim + 1), dtype=np.int32)
    out[:, 0] = dim
    out[:, 1:] = arr.view(np.int32)
    tmp = Path(str(path) + ".tmp")
    out.tofile(tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------ query generation

def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_topk(base, queries, depth):
    """Ids of the `depth` largest inner products (cosine on unit vectors),
    best first, by brute force in blocks of queries."""
    out = np.empty((len(queries), depth), dtype=np.int32)
    for s in range(0, len(queries), 250):
        sims = queries[s:s + 250] @ base.T
        part = np.argpartition(-sims, depth, axis=1)[:, :depth]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        out[s:s + 250] = np.take_along_axis(part, order, axis=1)
    return out


def make_mix(src, rng, n):
    sims = src @ src.T
    a_ids, b_ids = np.nonzero(np.triu(sims < 0.05, k=1))
    pick = rng.choice(len(a_ids), size=n, replace=False)
    a, b = src[a_ids[pick]], src[b_ids[pick]]
    t = rng.uniform(0.35, 0.65, size=(n, 1)).astype(np.float32)
    return unit(t * a + (1 - t) * b)


def make_noise(src, rng):
    sigma = 1.0 / math.sqrt(src.shape[1])
    return unit(src + rng.normal(0.0, sigma, size=src.shape).astype(np.float32))


def describe(base, queries, gt):
    """Mean cosine of each query to its 1st and 10th true neighbour."""
    q = queries
    top1 = np.einsum("ij,ij->i", q, base[gt[:, 0]])
    top10 = np.einsum("ij,ij->i", q, base[gt[:, K - 1]])
    return {"mean_cos_1st": float(top1.mean()), "mean_cos_10th": float(top10.mean())}


def prepare_queries(data, work, seed, log):
    """Returns {name: (queries path, groundtruth path, description)}."""
    qdir = work / "queries"
    qdir.mkdir(parents=True, exist_ok=True)
    base = read_fvecs(data / "base.fvecs")
    held_out = read_fvecs(data / "queries.fvecs")
    given_gt = read_ivecs(data / "groundtruth.ivecs")

    # Self-check of the brute force against the shipped ground truth.
    mine = exact_topk(base, held_out, K)
    agree = np.mean([len(set(a) & set(b[:K])) / K for a, b in zip(mine, given_gt)])
    log(f"brute-force top-{K} agrees with groundtruth.ivecs on {agree:.4f} of ids")

    sets = {"like-base": (data / "queries.fvecs", data / "groundtruth.ivecs",
                          describe(base, held_out, given_gt))}
    meta_path = qdir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    for name in ["mix", "noise"]:
        qp, gp = qdir / f"{name}.fvecs", qdir / f"{name}.gt.ivecs"
        if not (qp.exists() and gp.exists() and meta.get(name, {}).get("seed") == seed):
            rng = np.random.default_rng([seed, 0 if name == "mix" else 1])
            q = make_mix(held_out, rng, len(held_out)) if name == "mix" else make_noise(held_out, rng)
            gt = exact_topk(base, q, GT_DEPTH)
            write_vecs(qp, q)
            write_vecs(gp, gt)
            meta[name] = {"seed": seed}
            log(f"wrote {qp} and {gp}")
        q, gt = read_fvecs(qp), read_ivecs(gp)
        sets[name] = (qp, gp, describe(base, q, gt))
    meta_path.write_text(json.dumps(meta, indent=1))
    return sets


# --------------------------------------------------------------- peer workers

def peer_build(lib, base_path, threads, out):
    t0 = time.perf_counter()
    base = read_fvecs(base_path)
    n, dim = base.shape
    load_s = time.perf_counter() - t0
    if lib == "hnswlib":
        import hnswlib
        ix = hnswlib.Index(space="cosine", dim=dim)
        t = time.perf_counter()
        ix.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=100)
        ix.set_num_threads(threads)
        ix.add_items(base, np.arange(n), num_threads=threads)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        ix.save_index(str(out))
        save_s = time.perf_counter() - t
    else:
        import faiss
        faiss.omp_set_num_threads(threads)
        ix = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efConstruction = EF_CONSTRUCTION
        t = time.perf_counter()
        ix.add(base)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        faiss.write_index(ix, str(out))
        save_s = time.perf_counter() - t
    return {"load_seconds": load_s, "build_seconds": build_s, "save_seconds": save_s,
            "points": n, "threads": threads}


def recall_at_k(ids, gt):
    truth = gt[:, :K]
    hits = (ids[:, :K, None] == truth[:, None, :]).any(axis=2).sum()
    return float(hits) / (len(gt) * K)


def best_of(rows):
    """Folds repeated timed passes of one ef into one row: the fastest pass
    counts (the others were slowed by whatever else ran), all are kept."""
    out = {}
    for r in rows:
        o = out.setdefault(r["ef"], {"ef": r["ef"], "recall": r["recall"], "qps": 0.0, "qps_all": []})
        o["qps_all"].append(r["qps"])
        o["qps"] = max(o["qps"], r["qps"])
    return list(out.values())


def peer_sweep(lib, index_path, query_path, gt_path, efs):
    q = read_fvecs(query_path)
    gt = read_ivecs(gt_path)[: len(q)]
    dim = q.shape[1]
    if lib == "hnswlib":
        import hnswlib
        ix = hnswlib.Index(space="cosine", dim=dim)
        ix.load_index(str(index_path))
        ix.set_num_threads(1)

        def search(ef):
            ix.set_ef(ef)
            labels, _ = ix.knn_query(q, k=K, num_threads=1)
            return labels.astype(np.int64)
    else:
        import faiss
        faiss.omp_set_num_threads(1)
        ix = faiss.read_index(str(index_path))

        def search(ef):
            ix.hnsw.efSearch = ef
            _, labels = ix.search(q, K)
            return labels

    search(WARM_EF)
    rows = []
    for ef in efs:
        t = time.perf_counter()
        ids = search(ef)
        wall = time.perf_counter() - t
        rows.append({"ef": ef, "recall": recall_at_k(ids, gt), "qps": len(q) / wall})
    return rows


# ------------------------------------------------------------------ reporting

def qps_at(rows, target):
    """QPS at `target` recall: log-QPS interpolated linearly in recall between
    the two ef points that bracket it. Returns (qps, note) where note is ""
    (interpolated), ">=" (the smallest ef already reaches the target, so the
    figure is a lower bound) or None with qps None (never reached)."""
    rows = sorted(rows, key=lambda r: r["ef"])
    for i, r in enumerate(rows):
        if r["recall"] >= target:
            if i == 0:
                return r["qps"], ">="
            lo = rows[i - 1]
            span = r["recall"] - lo["recall"]
            f = (target - lo["recall"]) / span if span > 0 else 1.0
            return math.exp(math.log(lo["qps"]) + f * (math.log(r["qps"]) - math.log(lo["qps"]))), ""
    return None, None


def spread(values, digits=0, fmt=None):
    """'median [min–max]' of the values that are not None, with '(n/N)' when
    some rounds are missing."""
    got = [v for v in values if v is not None]
    if not got:
        return "not reached"
    f = fmt or (lambda v: f"{v:,.{digits}f}")
    s = f(statistics.median(got))
    if len(got) > 1:
        s += f" [{f(min(got))}–{f(max(got))}]"
    if len(got) < len(values):
        s += f" ({len(got)}/{len(values)} rounds)"
    return s


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def report(res, libs, out):
    rounds = res["rounds"]
    ours = [l for l in OURS if l in libs]
    peers = [l for l in libs if l not in OURS]
    w = out.write
    w(f"\n## Search: QPS at recall@{K}, 1 thread — median [min–max] over {len(rounds)} round(s)\n\n")
    head = ["query set", "recall"] + [f"{o} QPS" for o in ours]
    for p in peers:
        head.append(f"{p} QPS")
        head += [f"{o}/{p}" for o in ours]
    w("| " + " | ".join(head) + " |\n")
    w("|" + "---|" * len(head) + "\n")
    lower_bound = False
    for qs in res["query_sets"]:
        for target in TARGETS:
            per = {}
            for lib in ours + peers:
                vals = []
                for rd in rounds:
                    rows = rd["sweeps"].get(qs, {}).get(lib)
                    v, note = qps_at(rows, target) if rows else (None, None)
                    lower_bound |= note == ">="
                    vals.append(v)
                per[lib] = vals
            cells = [qs, f"{target:.2f}"] + [spread(per[o]) for o in ours]
            for p in peers:
                cells.append(spread(per[p]))
                for o in ours:
                    cells.append(spread([ratio(a, b) for a, b in zip(per[o], per[p])],
                                        fmt=lambda v: f"{v:.2f}"))
            w("| " + " | ".join(cells) + " |\n")
    if lower_bound:
        w("\nSome figure was reached at the smallest ef swept: there it is a lower bound.\n")

    w(f"\n## Recall@{K} at the largest ef swept ({res['efs'][-1]}), round 1; how far the queries are\n\n")
    w("| query set | mean cos to 1st / 10th true neighbour | " + " | ".join(ours + peers) + " |\n")
    w("|" + "---|" * (2 + len(ours) + len(peers)) + "\n")
    for qs, d in res["query_sets"].items():
        cells = [qs, f"{d['mean_cos_1st']:.3f} / {d['mean_cos_10th']:.3f}"]
        for lib in ours + peers:
            rows = rounds[0]["sweeps"].get(qs, {}).get(lib)
            cells.append(f"{max(r['recall'] for r in rows):.4f}" if rows else "—")
        w("| " + " | ".join(cells) + " |\n")

    if any(rd["builds"] for rd in rounds):
        for key, title in [("wall_seconds", "whole process, load and save included"),
                           ("build_seconds", "the build call alone")]:
            w(f"\n## Build time, seconds ({title}) — median [min–max]\n\n")
            head = ["threads"] + ours
            for p in peers:
                head += [p, f"vectrove/{p}"]
            w("| " + " | ".join(head) + " |\n")
            w("|" + "---|" * len(head) + "\n")
            for th in res["build_threads"]:
                def col(lib):
                    return [rd["builds"].get(f"{lib}-t{th}", {}).get(key) for rd in rounds]
                cells = [str(th)]
                for o in ours:
                    c = col(o)
                    cells.append(spread(c, 1) if any(v is not None for v in c) else "—")
                for p in peers:
                    cells.append(spread(col(p), 1))
                    cells.append(spread([ratio(a, b) for a, b in zip(col("vectrove"), col(p))],
                                        fmt=lambda v: f"{v:.2f}"))
                w("| " + " | ".join(cells) + " |\n")
            if "vectrove-sq8" in ours and key == "wall_seconds":
                w("\nvectrove-sq8 builds the same graph as vectrove, then trains and writes the codes; "
                  "it is built on 2 threads only.\n")
    w("\nRatios are taken round by round, pair by pair; above 1 means vectrove is faster "
      "(search) or slower (build).\n")
    if "vectrove-sq8" in ours:
        rr = res.get("sq8_rerank") or 0
        w(f"\nvectrove-sq8: built with --quantize sq8, rerank "
          f"{rr if rr else f'default (max(4k, 32) = {max(4 * K, 32)}, at most ef)'}.\n")
    disturbed = disturbance(res)
    if disturbed:
        w(f"\nThe machine was busy: {disturbed}. Treat differences below about 30% as noise.\n")


def disturbance(res):
    """Signs of a disturbed run in the raw sweeps, as a sentence (or "")."""
    uneven, rising, sweeps = 0, 0, 0
    for rd in res["rounds"]:
        for per_lib in rd["sweeps"].values():
            for rows in per_lib.values():
                sweeps += 1
                uneven += any(max(r.get("qps_all", [1])) > 1.25 * min(r.get("qps_all", [1])) for r in rows)
                rising += any(b["qps"] > 1.05 * a["qps"] for a, b in zip(rows, rows[1:]))
    parts = []
    if uneven:
        parts.append(f"in {uneven} of {sweeps} sweeps two passes at one ef differ by over 25%")
    if rising:
        parts.append(f"in {rising} of {sweeps} sweeps QPS rises with ef somewhere by over 5%")
    return "; ".join(parts)


# --------------------------------------------------------------- orchestration

def run_json(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout), wall


def orchestrate(a):
    work = Path(a.work).resolve()
    data = Path(a.data).resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    def log(msg):
        print(f"[{time.time() - started:7.1f}s] {msg}", file=sys.stderr, flush=True)

    libs = [l for l in LIBS if l in a.libs.split(",")]
    efs = [int(x) for x in a.ef.split(",")] if a.ef else (QUICK_EFS if a.quick else FULL_EFS)
    timed = [ef for ef in efs for _ in range(a.repeat)]
    rounds_n = 1 if a.quick else a.rounds
    build_threads = [2] if a.quick else [1, 2]
    me = [sys.executable, str(Path(__file__).resolve())]
    # The vectrove CLI puts its large buffers on transparent huge pages; with
    # --peer-huge-pages glibc's malloc does the same for the peers.
    base_env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.hugetlb=1") if a.peer_huge_pages else None
    faiss_env = dict(base_env or os.environ)
    core = openblas_core()
    if "OPENBLAS_CORETYPE" not in faiss_env and core:
        # faiss's bundled OpenBLAS picks slow kernels on its own (an old core
        # for newer AVX-512 Xeons, Zen's rather than Haswell's on AVX2-only
        # EPYCs); SkylakeX kernels die without AVX-512.
        faiss_env["OPENBLAS_CORETYPE"] = core
    peer_env = {"hnswlib": base_env, "faiss": faiss_env}
    ext = {"vectrove": "vtrv", "vectrove-sq8": "vtrv", "hnswlib": "hnsw", "faiss": "faiss"}

    def index_path(lib, th=2):
        return work / (f"index-{lib}.{ext[lib]}" if th == 2 else f"index-{lib}-t{th}.{ext[lib]}")

    sets = prepare_queries(data, work, a.seed, log)
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "data": str(data), "k": K,
           "m": M, "ef_construction": EF_CONSTRUCTION, "efs": efs, "warm_ef": WARM_EF,
           "repeat": a.repeat,
           "libs": libs, "build_threads": build_threads if not a.skip_build else [],
           "seed": a.seed, "vectrove_commit": a.commit, "sq8_rerank": a.rerank,
           "peer_huge_pages": a.peer_huge_pages,
           "query_sets": {k: v[2] for k, v in sets.items()},
           "versions": {}, "rounds": []}
    for lib in libs:
        if lib not in OURS:
            v, _ = run_json(me + ["version", "--lib", lib], env=peer_env[lib])
            res["versions"][lib] = v["version"]
    log(f"libraries: {libs}; ef sweep {efs}; {rounds_n} round(s)")

    if a.skip_build:
        missing = [str(index_path(l)) for l in libs if not index_path(l).exists()]
        if missing:
            raise SystemExit("--skip-build, but no index at: " + ", ".join(missing))

    for rnd in range(rounds_n):
        rd = {"round": rnd + 1, "builds": {}, "sweeps": {}}
        if not a.skip_build:
            # 2 threads last, so the kept index of every library is its 2-thread build.
            for th in sorted(build_threads):
                for lib in libs:
                    if lib == "vectrove-sq8" and th != 2:
                        continue  # the same graph build as vectrove's; only the 2-thread index is kept
                    out = index_path(lib, th)
                    if lib in OURS:
                        quant = ["--quantize", "sq8"] if lib == "vectrove-sq8" else []
                        j, wall = run_json([a.vectrove, "build", "--input", str(data / "base.fvecs"),
                                            "--metric", "cosine", "--m", str(M),
                                            "--ef-construction", str(EF_CONSTRUCTION), *quant,
                                            "--threads", str(th), "--output", str(out), "--json"])
                        rec = {"wall_seconds": wall, "build_seconds": j["build_seconds"]}
                    else:
                        j, wall = run_json(me + ["build", "--lib", lib, "--base", str(data / "base.fvecs"),
                                                 "--threads", str(th), "--out", str(out)],
                                           env=peer_env[lib])
                        rec = dict(j, wall_seconds=wall)
                    rd["builds"][f"{lib}-t{th}"] = rec
                    log(f"round {rnd + 1}: built {lib} on {th} thread(s) in {wall:.1f} s")
                    if th != 2:
                        out.unlink()
        for qs, (qp, gp, _) in sets.items():
            rd["sweeps"][qs] = {}
            for lib in libs:
                if lib in OURS:
                    # The extra first ef is the untimed warm-up pass; its row is dropped.
                    rerank = ["--rerank", str(a.rerank)] if lib == "vectrove-sq8" and a.rerank else []
                    j, wall = run_json([a.vectrove, "bench", "--index", str(index_path(lib)),
                                        "--queries", str(qp), "--groundtruth", str(gp), "--k", str(K),
                                        "--ef", ",".join(map(str, [WARM_EF] + timed)), "--threads", "1",
                                        "--storage", "memory", "--no-warmup", *rerank, "--json"])
                    rows = best_of([{"ef": r["ef"], "recall": r["recall"], "qps": r["qps"]}
                                    for r in j["runs"][0]["rows"][1:]])
                else:
                    rows, wall = run_json(me + ["sweep", "--lib", lib, "--index", str(index_path(lib)),
                                                "--queries", str(qp), "--groundtruth", str(gp),
                                                "--ef", ",".join(map(str, timed))], env=peer_env[lib])
                    rows = best_of(rows)
                rd["sweeps"][qs][lib] = rows
                best = max(r["recall"] for r in rows)
                log(f"round {rnd + 1}: swept {lib} on {qs} in {wall:.1f} s (best recall {best:.4f})")
        res["rounds"].append(rd)
        (work / "results.json").write_text(json.dumps(res, indent=1))

    res["elapsed_seconds"] = time.time() - started
    (work / "results.json").write_text(json.dumps(res, indent=1))
    print_report(res, work)


def print_report(res, work):
    out = sys.stdout
    efs = res["efs"]
    out.write(f"# vectrove peer benchmark\n\n{Path(res['data']).name}: base {Path(res['data']) / 'base.fvecs'}, "
              f"M={M}, ef_construction={EF_CONSTRUCTION}, cosine, k={K}; ")
    out.write(", ".join(f"{l} {res['versions'][l]}" for l in res["versions"]))
    out.write(f"; vectrove {res['vectrove_commit']}; ef swept {efs[0]}..{efs[-1]} ({len(efs)} points, "
              f"best of {res['repeat']} timed passes each).\n")
    if res.get("peer_huge_pages"):
        out.write("The peers ran with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (huge pages, as the vectrove CLI uses).\n")
    report(res, res["libs"], out)
    if "elapsed_seconds" in res:
        out.write(f"\nRaw numbers: {work / 'results.json'}; run took {res['elapsed_seconds'] / 60:.1f} min.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--work", required=True)
    r.add_argument("--vectrove", required=True)
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--quick", action="store_true")
    r.add_argument("--skip-build", action="store_true")
    r.add_argument("--libs", default=",".join(LIBS))
    r.add_argument("--ef", default="")
    r.add_argument("--repeat", type=int, default=2)
    r.add_argument("--seed", type=int, default=20240)
    r.add_argument("--commit", default="unknown")
    r.add_argument("--rerank", type=int, default=0,
                   help="candidates vectrove-sq8 reranks (0: the CLI's default)")
    r.add_argument("--peer-huge-pages", action="store_true",
                   help="run the peers with glibc's malloc on transparent huge pages")
    b = sub.add_parser("build")
    b.add_argument("--lib", choices=["hnswlib", "faiss"], required=True)
    b.add_argument("--base", required=True)
    b.add_argument("--threads", type=int, required=True)
    b.add_argument("--out", required=True)
    s = sub.add_parser("sweep")
    s.add_argument("--lib", choices=["hnswlib", "faiss"], required=True)
    s.add_argument("--index", required=True)
    s.add_argument("--queries", required=True)
    s.add_argument("--groundtruth", required=True)
    s.add_argument("--ef", required=True)
    p = sub.add_parser("report", help="print the report of an earlier run again")
    p.add_argument("--work", required=True)
    v = sub.add_parser("version")
    v.add_argument("--lib", choices=["hnswlib", "faiss"], required=True)
    a = ap.parse_args()

    if a.cmd == "run":
        if a.rounds < 1 or a.repeat < 1:
            raise SystemExit("--rounds and --repeat must be at least 1")
        orchestrate(a)
    elif a.cmd == "build":
        print(json.dumps(peer_build(a.lib, a.base, a.threads, a.out)))
    elif a.cmd == "sweep":
        efs = [int(x) for x in a.ef.split(",")]
        print(json.dumps(peer_sweep(a.lib, a.index, a.queries, a.groundtruth, efs)))
    elif a.cmd == "report":
        res = json.loads((Path(a.work) / "results.json").read_text())
        print_report(res, Path(a.work))
    elif a.cmd == "version":
        from importlib.metadata import version
        print(json.dumps({"version": version("hnswlib" if a.lib == "hnswlib" else "faiss-cpu")}))


if __name__ == "__main__":
    main()
