"""The peer of bench/pipelines/overhead.ts: Prefect 3 flows of no-op tasks.

Shapes (run in this order, in one process):
  chain   N tasks, each taking the previous task's result (Prefect records the dependency);
          called directly, so they run one after another, as a chain must.
  fanout  one root task and N tasks each given the root's future (`.submit`), on the
          default task runner (ThreadPoolTaskRunner); N + 1 tasks.

With PREFECT_API_URL unset, Prefect 3 starts a temporary local API server (a subprocess
with its own SQLite database under PREFECT_HOME) on first use. That startup is measured
apart: import + one flow run with no tasks = seconds_startup. Each shape is then one flow
run; seconds_flow is its wall time and per_task_ms = seconds_flow / tasks.

Not like for like in one respect: Prefect 3 manages task run states in the client and sends
them to the API server as events, delivered in the background (docs.prefect.io, "Task run
events"), so a flow's wall time does not wait for its task runs to be stored; Mobius commits
every step's records before the next step starts.

Usage: <venv>/bin/python bench/pipelines/prefect_flow.py [--tasks 100] [--shape chain,fanout]
Prints one JSON line per shape:
  {shape, tasks, seconds_total, seconds_startup, seconds_flow, per_task_ms, prefect}
seconds_total runs from the interpreter's start to the end of that shape's flow.
"""

import argparse
import json
import time

T0 = time.perf_counter()

import prefect  # noqa: E402
from prefect import flow, task  # noqa: E402
from prefect.futures import wait  # noqa: E402


@task
def noop(previous=None):
    return None


@flow
def empty():
    return None


@flow
def chain(n):
    previous = None
    for _ in range(n):
        previous = noop(previous)


@flow
def fanout(n):
    root = noop.submit()
    wait([noop.submit(root) for _ in range(n)])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--shape", default="chain,fanout")
    args = parser.parse_args()
    empty()
    startup = time.perf_counter() - T0
    for shape in args.shape.split(","):
        fn = {"chain": chain, "fanout": fanout}[shape]
        tasks = args.tasks if shape == "chain" else args.tasks + 1
        t = time.perf_counter()
        fn(args.tasks)
        seconds_flow = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "shape": shape,
                    "tasks": tasks,
                    "seconds_total": round(time.perf_counter() - T0, 3),
                    "seconds_startup": round(startup, 3),
                    "seconds_flow": round(seconds_flow, 3),
                    "per_task_ms": round(seconds_flow / tasks * 1000, 2),
                    "prefect": prefect.__version__,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
