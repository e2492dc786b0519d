"""An offline job on a LocalCluster (10k objects of 1 KiB, 3 targets) against one ETL server's rate.

Both figures are taken in this one interpreter, with the same transform (upper), the same 1 KiB
objects and the same work per object (an hpush with the object's FQN, a direct put of the result,
the write at the destination):

* one server: a `LocalTarget` and one in-kernel ETL server, `tgt.transform(...)` (the LocalTarget job);
* cluster: `LocalCluster(targets=3)`, driven through the aistore SDK (`bucket.transform`, then the job
  status until `end_time`); three ETL servers, each result put on the target that owns its name.

The objects are written to the targets' folders before the clock starts (placement by HRW, as a PUT
through the SDK would place them). Time: from the request that starts the job to its end as the job
reports it (the SDK's own `job.wait()` polls once a second, which would round the figure).

    python benchmarks/cluster_job.py [--objects 10000] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aisetl

KIB = 1024


class Upper(aisetl.FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data.upper()


def one_server(objects: dict[str, bytes]) -> float:
    with aisetl.LocalTarget() as tgt:
        for name, data in objects.items():
            tgt.put(f"src/{name}", data)
        srv = Upper.serve(target=tgt, name="bench-one")
        try:
            report = tgt.transform("src", "dst", etl=srv, num_workers=8).wait()
        finally:
            srv.stop()
    assert (report.done, report.failed) == (len(objects), 0), report.summary()
    return report.done / report.seconds


def cluster_job(objects: dict[str, bytes], targets: int = 3) -> float:
    with aisetl.LocalCluster(targets=targets, images={"bench/upper": Upper}, name="bench") as cluster:
        client = cluster.client()
        client.bucket("src").create()
        for name, data in objects.items():
            cluster.owner("src", name).put(f"src/{name}", data)
        client.etl("bench-upper").init(image="bench/upper", direct_put=True)
        start = time.time_ns()
        job_id = client.bucket("src").transform("bench-upper", client.bucket("dst"))
        while (status := client.job(job_id).status()).end_time == 0:
            time.sleep(0.05)
        seconds = (status.end_time - start) / 1e9
        assert status.err == "" and not status.aborted, status
        assert sum(len(t.list("dst")) for t in cluster.targets) == len(objects)
    return len(objects) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON line (for run.py)")
    args = parser.parse_args()
    objects = {f"d{i % 16}/obj-{i:05}": os.urandom(KIB) for i in range(args.objects)}
    single, cluster = [], []
    for _ in range(args.rounds):  # interleaved, the better of each
        single.append(one_server(objects))
        cluster.append(cluster_job(objects))
    result = {"objects": args.objects, "one_server": max(single), "cluster": max(cluster)}
    result["ratio"] = result["cluster"] / result["one_server"]
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"offline job, {args.objects} objects of 1 KiB: one ETL server {result['one_server']:,.0f} objects/s, "
            f"LocalCluster (3 targets, through the SDK) {result['cluster']:,.0f} objects/s, "
            f"ratio {result['ratio']:.2f} (goal >= 0.33)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
