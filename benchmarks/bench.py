"""`make bench`: every scenario of the benchmark issue, side by side in one command.

Writes `benchmarks/results/latest.json` and `latest.md`: each figure with its scenario,
data size, the command that produced it, the median of its repetitions (at least three)
and the machine. Ratios compare figures measured in this same command, because these
machines are noisy.

    python benchmarks/bench.py [--only daily history backfill ingest] [--repeat 3] [--scale 1.0]

Runs go through the real `dagster job execute` CLI, one process per run as a schedule
launches them. A run's time is Dagster's own (run start to end, as the UI shows it); the
CLI process's wall time (adding interpreter start and the code-location import) is
reported beside it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from ecommerce_assets.sources.clickstream import day_volume
from ecommerce_assets.sources.synthetic import ShopConfig

sys.path.insert(0, str(Path(__file__).parent))

import limit  # noqa: E402
from bench_ingest import EVENTS_PER_SECOND_MIN, PEAK_RSS_MB_MAX  # noqa: E402
import peer  # noqa: E402
from shop import REPO, BenchShop, RunTiming  # noqa: E402

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / ".work"
START = date(2026, 9, 1)  # ECOMMERCE_START_DATE of every bench shop
DAY = 100_000  # events per day: the synthetic shop's default scale
BIG_DAY = 10_000_000
EMPTY_DAY, BIG_DAY_N = START + timedelta(days=19), START + timedelta(days=29)
HISTORY_DAYS = 60
BACKFILL_DAYS = 30


def day(n: int) -> date:
    """The n-th day of a bench shop, 1-based."""
    return START + timedelta(days=n - 1)


def median(values: list[float]) -> float:
    value = statistics.median(values)
    return round(value) if value >= 1000 else round(value, 2)


class Report:
    def __init__(self, repeat: int, invocation: str) -> None:
        self.repeat = repeat
        self.invocation = invocation  # the bench command measuring now
        self.figures: list[dict] = []

    def add(self, scenario: str, measure: str, size: str, runs: list[float], unit: str, command: str,
            target: str | None = None, met: bool | None = None, **extra) -> float:
        figure = {"scenario": scenario, "measure": measure, "size": size, "median": median(runs),
                  "runs": [round(r) if r >= 1000 else round(r, 2) for r in runs], "unit": unit, "command": command,
                  "target": target, "met": met, "invocation": self.invocation, **extra}
        # A figure measured again (with --append) replaces the one kept from before.
        self.figures = [f for f in self.figures if (f["scenario"], f["measure"], f["size"]) != (scenario, measure, size)]
        self.figures.append(figure)
        print(f"  {scenario:9} {measure:52} {figure['median']:>10} {unit:8} {'' if met is None else ('met' if met else 'MISSED')}", flush=True)
        return figure["median"]

    def ratio(self, scenario: str, measure: str, size: str, value: float, command: str, target: str, met: bool) -> None:
        self.add(scenario, measure, size, [value], "ratio", command, target, met)


def repeat_runs(n: int, run: Callable[[], RunTiming]) -> list[RunTiming]:
    return [run() for _ in range(n)]


def job_command(first: date, last: date | None = None) -> str:
    if last is None:
        tags = f'{{"dagster/partition": "{first}"}}'
    else:
        tags = f'{{"dagster/asset_partition_range_start": "{first}", "dagster/asset_partition_range_end": "{last}"}}'
    return f"dagster job execute -m ecommerce_assets.definitions -j whole_graph_job --tags '{tags}'"


def record_runs(report: Report, scenario: str, measure: str, size: str, timings: list[RunTiming], command: str,
                target: str | None = None, check: Callable[[float], bool] | None = None) -> float:
    runs = [t.run_seconds for t in timings]
    met = check(median(runs)) if check else None
    steps = {k: median([t.steps.get(k, 0.0) for t in timings]) for k in timings[0].steps}
    return report.add(scenario, measure, size, runs, "s", command, target, met,
                      process_seconds=[t.process_seconds for t in timings],
                      slowest_steps=dict(sorted(steps.items(), key=lambda kv: -kv[1])[:5]))


def bench_ingest(report: Report, scale: float) -> None:
    sizes = [str(int(1_000_000 * scale)), str(int(BIG_DAY * scale))]
    command = f"python benchmarks/bench_ingest.py --sizes {' '.join(sizes)} --repeat {report.repeat}"
    subprocess.run([sys.executable, "benchmarks/bench_ingest.py", "--sizes", *sizes, "--repeat", str(report.repeat)],
                   cwd=REPO, check=True)
    ingest = json.loads((RESULTS / "ingest.json").read_text())
    for result in ingest["results"]:
        ours, base = result["ours"], result["baseline_read_ndjson"]
        size = f"{result['events_per_day']:,} events, one day"
        big = result["events_per_day"] >= BIG_DAY * scale
        report.add("ingest", "events per second, landing files to raw.events", size,
                   [ours["lines"] / s for s in ours["seconds_all"]], "events/s", command,
                   f">= {EVENTS_PER_SECOND_MIN:,} at 10M" if big else None,
                   ours["events_per_second"] >= EVENTS_PER_SECOND_MIN if big else None)
        report.add("ingest", "peak resident memory", size, [ours["peak_rss_mb"]], "MB", command,
                   f"< {PEAK_RSS_MB_MAX:,} at 10M" if big else None, ours["peak_rss_mb"] < PEAK_RSS_MB_MAX if big else None)
        report.add("ingest", "baseline: DuckDB read_ndjson, no validation", size,
                   [base["lines"] / s for s in base["seconds_all"]], "events/s", command)


def bench_daily(report: Report, scale: float) -> None:
    """Days 1-2 loaded; day 3 at 100k; then an empty day and a 10M day, each with no data in
    its trailing week: the volume checks judge a day against the week before it, and would
    rightly stop the run at an empty day (or a 100x day) after normal ones."""
    big, events = int(BIG_DAY * scale), int(DAY * scale)
    shop = BenchShop(WORK / "daily", START).create()
    shop.generate(day(1), day(3), events)
    shop.whole_graph(day(1), day(2))
    ours_100k = repeat_runs(report.repeat, lambda: shop.whole_graph(day(3)))
    record_runs(report, "daily", "one partition of the whole graph, 2 days loaded", f"{events:,} events/day",
                ours_100k, job_command(day(3)))
    empty = repeat_runs(report.repeat, lambda: shop.whole_graph(EMPTY_DAY))
    fixed = record_runs(report, "daily", "fixed overhead: an empty day", "0 events", empty, job_command(EMPTY_DAY),
                        "<= 10 s", lambda v: v <= 10)
    shop.generate(BIG_DAY_N, BIG_DAY_N, big)
    before_big = WORK / "daily-before-big-day.duckdb"
    shutil.copy(shop.db, before_big)
    ours_big = repeat_runs(report.repeat, lambda: shop.whole_graph(BIG_DAY_N))
    t_big = record_runs(report, "daily", "one partition of the whole graph", f"{big:,} events/day", ours_big,
                        job_command(BIG_DAY_N))
    report.add("daily", "marginal cost per million events", f"0 and {big:,} events/day",
               [(t_big - fixed) / (big / 1e6)], "s/M", "(10M day - empty day) / 10")

    statements = limit.compile_statements(shop, BIG_DAY_N)
    limit_shop = BenchShop(WORK / "limit", START)
    limit_runs = []
    for _ in range(report.repeat):
        limit_shop.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(before_big, limit_shop.db)
        limit_runs.append(limit.limit_run(limit_shop.db, shop.landing, BIG_DAY_N, statements)["seconds"])
    t_limit = report.add("limit", "plain load + the dbt models' compiled SQL, one DuckDB process", f"{big:,} events/day",
                         limit_runs, "s", "benchmarks/limit.py: limit_run")
    report.ratio("limit", "whole graph / limit", f"{big:,} events/day", round(t_big / t_limit, 2),
                 "the two lines above", "<= 3", t_big / t_limit <= 3)
    before_big.unlink()


def same_volume_as(events: int, measured: date, reference: date) -> int:
    """The --events-per-day that gives `measured` as many events as `reference` gets at `events`.

    The shop's weekly rhythm and daily noise make days differ (day 61, a Saturday, is 21%
    larger than day 3, a Thursday); the history scenario compares days of equal volume so
    that its ratio shows what the history costs, not what the weekday adds."""
    precise, seed = 10**9, ShopConfig().seed  # day_volume rounds: a large scale keeps the ratio exact
    return round(events * day_volume(precise, reference, seed) / day_volume(precise, measured, seed))


def bench_history_and_peer(report: Report, scale: float) -> None:
    """The same daily run with 2 and with 60 days loaded, on days of equal volume and clean
    data so that the peer's plain loader sees the same rows; then the peer on day 61 from
    the same starting state.

    The two are measured side by side, alternating day 3 on a copy of the warehouse with 2
    days loaded and day 61 on the warehouse with 60: run one after the other, minutes apart,
    a change in this machine's speed between them read as the cost of history (in one bench
    the `raw/events` step, which history hardly touches, took 24% longer on day 61)."""
    events = int(DAY * scale)
    size = f"{events:,} events/day"
    shop = BenchShop(WORK / "history", START).create()
    shop.generate(day(1), day(HISTORY_DAYS), events, clean=True)
    last = day(HISTORY_DAYS + 1)
    shop.generate(last, last, same_volume_as(events, last, day(3)), clean=True)
    shop.whole_graph(day(1), day(2))
    early = BenchShop(WORK / "history-2-days", START).create()
    early.landing.symlink_to(shop.landing)
    shutil.copy(shop.db, early.db)
    shop.whole_graph(day(3), day(HISTORY_DAYS))
    before = WORK / "history-before.duckdb"
    shutil.copy(shop.db, before)
    day_3, day_61 = [], []
    for _ in range(report.repeat):
        day_3.append(early.whole_graph(day(3)))
        day_61.append(shop.whole_graph(day(HISTORY_DAYS + 1)))
    t_2 = record_runs(report, "history", "one partition of the whole graph, 2 days loaded", size, day_3,
                      job_command(day(3)))
    t_60 = record_runs(report, "history", f"one partition of the whole graph, {HISTORY_DAYS} days loaded", size,
                       day_61, job_command(day(HISTORY_DAYS + 1)))
    report.ratio("history", f"day {HISTORY_DAYS} / day 2", size, round(t_60 / t_2, 2),
                 "the two lines above, alternating", "<= 1.2", t_60 / t_2 <= 1.2)

    peer_shop = BenchShop(WORK / "peer", START).create()
    peer_shop.landing.symlink_to(shop.landing)
    peer_runs = []
    for _ in range(report.repeat):
        shutil.copy(before, peer_shop.db)
        peer_runs.append(peer.peer_run(peer_shop, day(HISTORY_DAYS + 1))["seconds"])
    same = peer.marts_fingerprint(peer_shop.db) == peer.marts_fingerprint(shop.db)
    history = f"{HISTORY_DAYS} days of {events:,} events"
    t_peer = report.add("peer", "plain loader + dbt build --full-refresh over all history", history, peer_runs, "s",
                        "benchmarks/peer.py: peer_run", same_marts=same)
    report.ratio("peer", f"peer / our daily run (day {HISTORY_DAYS + 1})", history, round(t_peer / t_60, 2),
                 "the peer line and the 60-day history line", ">= 5, same marts", t_peer / t_60 >= 5 and same)
    before.unlink()


def bench_backfill(report: Report, scale: float) -> None:
    """30 days from an empty warehouse as one range run, against the same 30 days as 30
    one-partition runs (one after the other, summed), the two taking turns: each repetition
    runs both, so a change in this machine's speed falls on both sides alike."""
    events = int(DAY * scale)
    size = f"{events:,} events/day"
    shop = BenchShop(WORK / "backfill", START).create()
    shop.generate(day(1), day(BACKFILL_DAYS), events)

    def fresh_warehouse() -> None:
        for leftover in shop.root.glob("ecommerce.duckdb*"):
            leftover.unlink()

    one_run, per_day = [], []
    for _ in range(report.repeat):
        fresh_warehouse()
        one_run.append(shop.whole_graph(day(1), day(BACKFILL_DAYS)))
        fresh_warehouse()
        per_day.append([shop.whole_graph(day(n)) for n in range(1, BACKFILL_DAYS + 1)])
    t_one = record_runs(report, "backfill", f"{BACKFILL_DAYS} days as one run", size, one_run,
                        job_command(day(1), day(BACKFILL_DAYS)))
    sums = [sum(t.run_seconds for t in sequence) for sequence in per_day]
    t_each = report.add("backfill", f"{BACKFILL_DAYS} days as {BACKFILL_DAYS} one-partition runs (sum)", size, sums, "s",
                        f"{BACKFILL_DAYS} x " + job_command(day(1)),
                        per_run_median=median([t.run_seconds for sequence in per_day for t in sequence]),
                        process_seconds=[round(sum(t.process_seconds for t in sequence), 2) for sequence in per_day])
    report.ratio("backfill", f"{BACKFILL_DAYS} runs / one run", size, round(t_each / t_one, 2),
                 "the two lines above, taking turns", ">= 10", t_each / t_one >= 10)


SCENARIOS = {"daily": bench_daily, "history": bench_history_and_peer, "backfill": bench_backfill, "ingest": bench_ingest}


def machine() -> dict:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {p: importlib.metadata.version(p) for p in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb")}
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "memory_gb": round(memory_gb, 1),
            "python": platform.python_version(), **versions}


def write(report: Report, seconds: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    # The bench commands whose figures the file holds, in the order they first appear: a
    # command whose figures were all measured again since is gone.
    commands = list(dict.fromkeys(f["invocation"] for f in report.figures))
    meta = {"command": commands[0], "more_commands": commands[1:],
            "machine": machine(), "seconds": round(seconds), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (RESULTS / "latest.json").write_text(json.dumps({**meta, "figures": report.figures}, indent=2) + "\n")
    render(meta, report.figures)


def render(meta: dict, figures: list[dict]) -> None:
    """latest.md from what latest.json holds."""
    m = meta["machine"]
    lines = [
        "# Benchmarks", "",
        f"`{meta['command']}` on {m['platform']}, {m['cpus']} CPUs, {m['memory_gb']} GiB, Python {m['python']}, "
        f"dagster {m['dagster']}, dagster-dbt {m['dagster-dbt']}, dbt-core {m['dbt-core']}, dbt-duckdb {m['dbt-duckdb']}, "
        f"duckdb {m['duckdb']}; finished {meta['finished']}"
        + (f"; the figures of other sizes, or measured again, from `{'`, `'.join(meta['more_commands'])}`."
           if meta["more_commands"] else "."), "",
        "Medians of the repetitions listed. Run times are Dagster's own (run start to end); the "
        "last column adds the CLI process around the run (interpreter, code-location import, run creation).", "",
        "| scenario | measure | size | median | unit | runs | target | | CLI process |",
        "|---|---|---|---:|---|---|---|---|---:|",
    ]
    for f in figures:
        verdict = "" if f["met"] is None else ("met" if f["met"] else "**missed**")
        runs = ", ".join(f"{r:,}" if r >= 1000 else f"{r:g}" for r in f["runs"]) if len(f["runs"]) <= 5 else f"{len(f['runs'])} runs"
        process = f"{median(f['process_seconds']):,} s" if f.get("process_seconds") else ""
        lines.append(f"| {f['scenario']} | {f['measure']} | {f['size']} | {f['median']:,} | {f['unit']} | {runs} | "
                     f"{f['target'] or ''} | {verdict} | {process} |")
    lines += ["", "Commands:", ""]
    lines += sorted({f"- {f['scenario']}: `{f['command']}`" for f in figures})
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    global HISTORY_DAYS, BACKFILL_DAYS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every data size (smoke runs)")
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS, help="(smoke runs)")
    parser.add_argument("--backfill-days", type=int, default=BACKFILL_DAYS, help="(smoke runs)")
    parser.add_argument("--append", action="store_true", help="keep the figures already in latest.json (another size); those measured again are replaced")
    parser.add_argument("--render", action="store_true", help="only rewrite latest.md from latest.json")
    args = parser.parse_args()
    if args.render:
        saved = json.loads((RESULTS / "latest.json").read_text())
        render(saved, saved["figures"])
        return 0
    HISTORY_DAYS, BACKFILL_DAYS = args.history_days, args.backfill_days
    if args.repeat < 3:
        print("note: fewer than three repetitions; the issue asks for medians of at least three")
    report = Report(args.repeat, " ".join(["python", *sys.argv]))
    if args.append and (RESULTS / "latest.json").exists():
        earlier = json.loads((RESULTS / "latest.json").read_text())
        report.figures = [{"invocation": earlier["command"], **f} for f in earlier["figures"]]
    started = time.perf_counter()
    for name in args.only:
        print(f"== {name}", flush=True)
        SCENARIOS[name](report, args.scale)
        write(report, time.perf_counter() - started)
    print(f"written: {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
