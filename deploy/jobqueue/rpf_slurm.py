r"""Run RPF on a SLURM or PBS batch system with dask-jobqueue.

Each batch job starts Dask workers that join a scheduler running in this
script; RPF's frames stream back as they finish.  Install once on the login
node: ``pip install rpf dask-jobqueue`` (the same environment must be visible
to the compute nodes, e.g. on a shared file system).

Examples
--------
SLURM, 16 jobs of 4 single-threaded workers each::

    python deploy/jobqueue/rpf_slurm.py --system slurm --jobs 16 --queue normal \\
        --account myproj --out /scratch/$USER/night1 /scratch/$USER/raw/night1/*.fits

PBS::

    python deploy/jobqueue/rpf_slurm.py --system pbs --jobs 8 --queue workq --out products raw/*.fits
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def make_cluster(system: str, *, queue: str | None, account: str | None, walltime: str, processes: int, memory: str):
    """Return a dask-jobqueue cluster whose jobs run ``processes`` single-threaded workers."""
    import dask_jobqueue

    kind = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[system]
    return kind(
        queue=queue,
        account=account,
        cores=processes,
        processes=processes,
        memory=memory,
        walltime=walltime,
        job_script_prologue=["export OMP_NUM_THREADS=1"],
        worker_extra_args=["--nthreads", "1"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, start the batch cluster, run the frames, print progress."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("science", nargs="+", help="raw science frames")
    parser.add_argument("--out", required=True, help="products folder (on a shared file system)")
    parser.add_argument("--system", choices=("slurm", "pbs"), default="slurm")
    parser.add_argument("--jobs", type=int, default=4, help="batch jobs to submit")
    parser.add_argument("--processes", type=int, default=4, help="worker processes per job")
    parser.add_argument("--memory", default="16GB", help="memory per job")
    parser.add_argument("--walltime", default="02:00:00")
    parser.add_argument("--queue")
    parser.add_argument("--account")
    parser.add_argument("--config", help="RPF configuration file (TOML, YAML or JSON)")
    args = parser.parse_args(argv)

    from distributed import Client

    from rpf.config import load_config
    from rpf.pipeline import run

    config = load_config(args.config)
    cluster = make_cluster(
        args.system,
        queue=args.queue,
        account=args.account,
        walltime=args.walltime,
        processes=args.processes,
        memory=args.memory,
    )
    cluster.scale(jobs=args.jobs)
    status = 0
    with cluster, Client(cluster) as client:
        print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        for event in run(args.science, config=config, out_dir=args.out, client=client):
            if event.kind == "frame_failed":
                status = 2
                print(event.message, file=sys.stderr)
            elif event.kind in ("frame_done", "run_finished"):
                print(event.to_dict(catalogue=False) if event.kind == "frame_done" else event.to_dict())
    return status


if __name__ == "__main__":
    sys.exit(main())
