"""Child process of test_robustness: run ``rpf.pipeline.process_frame`` on each path read from stdin.

Usage: ``python robustness_worker.py CONFIG.toml OUT_DIR``.  For every line
(a JSON string: the frame's path) it prints one JSON line with the frame's
status, error, failed stage and warnings.  A native crash or hang of a frame
shows up in the parent as a dead or silent child, not as a dead test run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rpf.config import load_config
from rpf.pipeline import RunContext, process_frame


def main() -> None:
    ctx = RunContext(config=load_config(sys.argv[1]), out_dir=Path(sys.argv[2]))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        path = json.loads(line)
        start = time.perf_counter()
        result = process_frame(path, ctx)
        answer = {
            "path": path,
            "status": result.status,
            "error": result.error,
            "failed_stage": result.metadata.get("failed_stage"),
            "exptime": result.metadata.get("exptime"),
            "warnings": result.metadata.get("warnings", []),
            "products": sorted(Path(p).name for p in result.products.values()),
            "seconds": time.perf_counter() - start,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
