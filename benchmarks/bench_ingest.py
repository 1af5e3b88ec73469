"""Ingest benchmark: landing files -> raw.events, events per second and peak memory.

For each size, one synthetic day is generated once, then each scenario runs in a fresh
child process (so peak resident memory is that scenario's own), three times, ours and the
baseline taking turns; the median is reported. The baseline, in the same command on the
same files, is DuckDB's own `read_ndjson` into a table with no validation, deduplication or
quarantine: the ratio says what the contract costs on this machine, whatever its speed today.

    python benchmarks/bench_ingest.py [--sizes 1000000 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ecommerce_assets.settings import DUCKDB_FILE

DAY = date(2026, 11, 20)
# The bar, set on a day this large.
TARGET_EVENTS = 10_000_000
EVENTS_PER_SECOND_MIN = 500_000
PEAK_RSS_MB_MAX = 2048
RESULTS = Path(__file__).parent / "results"

OURS = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from ecommerce_assets.contracts import day_window
from ecommerce_assets.event_loading import load_events
from ecommerce_assets.sources.landing import event_files
from ecommerce_assets.warehouse import connect
landing, db, day = Path(sys.argv[1]), Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
start = time.perf_counter()
con = connect(db, memory_limit=sys.argv[4])
result = load_events(con, event_files(landing, day), day_window(day))
con.close()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "lines": result.lines, "loaded": result.loaded,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE = """
import json, resource, sys, time
from pathlib import Path
import duckdb
from ecommerce_assets.sources.landing import event_day_dir
landing, db, day = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
from datetime import date
folder = event_day_dir(landing, date.fromisoformat(day))
start = time.perf_counter()
con = duckdb.connect(str(db), config={"memory_limit": sys.argv[4]})
con.execute(f"CREATE TABLE events AS SELECT * FROM read_ndjson('{folder}/*.jsonl*', ignore_errors=true)")
rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
con.close()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "lines": rows, "loaded": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(code: str, landing: Path, workdir: Path, memory_limit: str) -> dict:
    db = workdir / DUCKDB_FILE
    for leftover in (db, db.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", code, str(landing), str(db), DAY.isoformat(), memory_limit],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "seconds_median": round(seconds, 3),
        "seconds_all": [round(r["seconds"], 3) for r in runs],
        "lines": runs[0]["lines"],
        "loaded": runs[0]["loaded"],
        "events_per_second": round(runs[0]["lines"] / seconds),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
    }


def side_by_side(landing: Path, workdir: Path, repeat: int, memory_limit: str) -> tuple[dict, dict]:
    """Ours and the baseline, taking turns: this machine's speed drifts within minutes."""
    ours, baseline = [], []
    for _ in range(repeat):
        ours.append(run_child(OURS, landing, workdir, memory_limit))
        baseline.append(run_child(BASELINE, landing, workdir, memory_limit))
    return summary(ours), summary(baseline)


def bench_size(events: int, repeat: int, memory_limit: str, root: Path) -> dict:
    from ecommerce_assets.sources.synthetic import ShopConfig, generate_landing

    landing = root / f"landing-{events}"
    started = time.perf_counter()
    generate_landing(landing, DAY, DAY, ShopConfig(events_per_day=events))
    generated = time.perf_counter() - started
    ours, baseline = side_by_side(landing, root, repeat, memory_limit)
    shutil.rmtree(landing)
    return {
        "scenario": "ingest",
        "events_per_day": events,
        "generate_seconds": round(generated, 2),
        "ours": ours,
        "baseline_read_ndjson": baseline,
        "time_ratio_vs_baseline": round(ours["seconds_median"] / baseline["seconds_median"], 2),
        "targets": {
            "events_per_second_min": EVENTS_PER_SECOND_MIN,
            "peak_rss_mb_max": PEAK_RSS_MB_MAX,
            "met": ours["events_per_second"] >= EVENTS_PER_SECOND_MIN and ours["peak_rss_mb"] < PEAK_RSS_MB_MAX,
        } if events >= TARGET_EVENTS else None,
    }


def _verdict(targets: dict | None) -> str:
    if targets is None:
        return "- (set at 10M)"
    return "met" if targets["met"] else "MISSED"


def machine() -> dict:
    import os

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit for both loaders")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        results = [bench_size(n, args.repeat, args.memory_limit, Path(tmp)) for n in args.sizes]
    report = {"machine": machine(), "command": " ".join(["python"] + sys.argv), "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'events/day':>12} {'ours ev/s':>12} {'peak MB':>9} {'baseline ev/s':>14} {'ratio':>6}  target")
    for r in results:
        o, b = r["ours"], r["baseline_read_ndjson"]
        print(f"{r['events_per_day']:>12,} {o['events_per_second']:>12,} {o['peak_rss_mb']:>9,.0f} "
              f"{b['events_per_second']:>14,} {r['time_ratio_vs_baseline']:>6}  {_verdict(r['targets'])}")
    print(f"written: {RESULTS / 'ingest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
