#!/usr/bin/env python3
"""Writes an OCI image layout from a root filesystem tarball, byte-for-byte reproducibly.

The local Pusat Data reaches no container registry, so its images are made here from Debian
packages (mmdebstrap) and pushed to its own registry. The layer is the tarball as given,
gzip-compressed with no timestamp; the config carries no creation time, so the same rootfs
gives the same digest.

Usage: oci.py ROOTFS.tar OUT_DIR NAME:TAG --user 101:101 --cmd '["nginx", ...]' \
       [--entrypoint JSON] [--env K=V]... [--port 8080] [--workdir /] [--label K=V]...
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil


def blob(out, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rootfs")
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--user", default="65534:65534")
    ap.add_argument("--cmd", default="null")
    ap.add_argument("--entrypoint", default="null")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--port", action="append", default=[])
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--label", action="append", default=[])
    a = ap.parse_args()

    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(os.path.join(a.out, "blobs", "sha256"))
    with open(a.rootfs, "rb") as f:
        tar = f.read()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    layer = blob(a.out, gzip.compress(tar, compresslevel=6, mtime=0),
                 "application/vnd.oci.image.layer.v1.tar+gzip")
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": a.user,
            "Env": env,
            "Entrypoint": json.loads(a.entrypoint),
            "Cmd": json.loads(a.cmd),
            "WorkingDir": a.workdir,
            "ExposedPorts": {f"{p}/tcp": {} for p in a.port},
            "Labels": dict(l.split("=", 1) for l in a.label),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    cfg = blob(a.out, json.dumps(config, sort_keys=True).encode(),
               "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    man = blob(a.out, json.dumps(manifest, sort_keys=True).encode(),
               "application/vnd.oci.image.manifest.v1+json")
    man["annotations"] = {"org.opencontainers.image.ref.name": a.ref.rsplit(":", 1)[1]}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [man]}, f, sort_keys=True)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(man["digest"])


if __name__ == "__main__":
    main()
