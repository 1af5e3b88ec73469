"""`ecommerce-assets`: what the `dagster` CLI lacks for this project."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from ecommerce_assets.settings import Settings, parse_day


def recent_days(days: int, today: date | None = None) -> tuple[date, date]:
    """The last `days` complete UTC days, as an inclusive [first, last] pair."""
    if days < 1:
        raise ValueError("--days must be at least 1")
    today = today or datetime.now(timezone.utc).date()
    try:
        return today - timedelta(days=days), today - timedelta(days=1)
    except OverflowError:
        raise ValueError(f"--days {days} reaches back before the year 1") from None


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


POSITIVE, NON_NEGATIVE = _count(1), _count(0)


def _port(text: str) -> int:
    value = NON_NEGATIVE(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def _date(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from error


def _date_range(args: argparse.Namespace) -> tuple[date, date]:
    if args.start or args.end:
        if not (args.start and args.end):
            raise ValueError("give both --start and --end, or --days")
        if args.end < args.start:
            raise ValueError(f"--end {args.end} is before --start {args.start}")
        return args.start, args.end
    return recent_days(args.days)


def cmd_generate(args: argparse.Namespace) -> int:
    from ecommerce_assets.sources.synthetic import DirtRates, ShopConfig, generate_landing

    start, end = _date_range(args)
    dirt = DirtRates(**{f.name: 0.0 for f in fields(DirtRates)}) if args.clean else DirtRates()
    config = ShopConfig(
        seed=args.seed,
        n_products=args.products,
        n_users=args.users,
        events_per_day=args.events_per_day,
        dirt=dirt,
        gzip=args.gzip,
    )
    for report in generate_landing(args.landing_dir, start, end, config):
        injected = ", ".join(f"{kind} {count}" for kind, count in report.injected.items() if count)
        print(f"{report.day}: {report.lines} lines in {len(report.files)} files, {report.carts} carts"
              f"{'; dirt: ' + injected if injected else ''}")
    print(f"landing directory: {args.landing_dir}")
    return 0


def cmd_fakestore_server(args: argparse.Namespace) -> int:
    from ecommerce_assets.sources.fakestore_server import Faults, serve

    faults = Faults(
        fail_first=args.fail_first,
        throttle_every=args.throttle_every,
        retry_after=args.retry_after,
        delay=args.delay,
        malformed_every=args.malformed_every,
        trickle=args.trickle,
    )
    serve(args.landing_dir, args.host, args.port, faults)
    return 0


def cmd_partition_range(args: argparse.Namespace) -> int:
    first, last = recent_days(args.days)
    start = Settings.from_env().start_date
    if last < start:
        raise ValueError(f"no complete day since ECOMMERCE_START_DATE={start.isoformat()} yet: the first partition is {start}")
    print(f"{max(first, start).isoformat()}...{last.isoformat()}")
    return 0


def cmd_checks(args: argparse.Namespace) -> int:
    from ecommerce_assets.report import main_checks

    try:
        return main_checks(args.format)
    except Exception as error:  # noqa: BLE001 - 1 means a failing check; a report that failed is 2
        cause = error if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        print(f"ecommerce-assets checks: the report could not be made: {cause}", file=sys.stderr)
        return 2


def cmd_selection(args: argparse.Namespace) -> int:
    from ecommerce_assets.selections import BY_NAME

    print(BY_NAME[args.name])
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from ecommerce_assets.summary import print_summary

    return print_summary(args.duckdb_path)


def build_parser() -> argparse.ArgumentParser:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="ecommerce-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write the synthetic shop into the landing directory")
    generate.add_argument("--start", type=_date, help="first day (YYYY-MM-DD)")
    generate.add_argument("--end", type=_date, help="last day, inclusive (YYYY-MM-DD)")
    generate.add_argument("--days", type=POSITIVE, default=7, help="without --start/--end: the last N complete UTC days")
    generate.add_argument("--events-per-day", type=NON_NEGATIVE, default=100_000)
    generate.add_argument("--products", type=POSITIVE, default=200)
    generate.add_argument("--users", type=POSITIVE, default=2_000,
                          help="at least events-per-day / 50, or a user's sessions overlap (about 40 fit in a day)")
    generate.add_argument("--seed", type=NON_NEGATIVE, default=42)
    generate.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")
    generate.add_argument("--clean", action="store_true", help="inject no dirt at all")
    generate.add_argument("--landing-dir", type=Path, default=settings.landing_dir)
    generate.set_defaults(run=cmd_generate)

    server = commands.add_parser("fakestore-server", help="serve the synthetic shop as a Fake Store API")
    server.add_argument("--landing-dir", type=Path, default=settings.landing_dir)
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=_port, default=8000)
    server.add_argument("--fail-first", type=NON_NEGATIVE, default=0, help="answer the first N requests with 503")
    server.add_argument("--throttle-every", type=NON_NEGATIVE, default=0, help="answer every Nth request with 429")
    server.add_argument("--retry-after", type=_seconds, default=1.0, help="Retry-After seconds sent with 429")
    server.add_argument("--delay", type=_seconds, default=0.0, help="delay every response by S seconds")
    server.add_argument("--malformed-every", type=NON_NEGATIVE, default=0, help="truncate every Nth body")
    server.add_argument("--trickle", type=_seconds, default=0.0, help="send every body a byte at a time, S seconds apart")
    server.set_defaults(run=cmd_fakestore_server)

    window = commands.add_parser("partition-range", help="print START...END of the last N complete days")
    window.add_argument("--days", type=POSITIVE, default=7)
    window.set_defaults(run=cmd_partition_range)

    checks = commands.add_parser("checks", help="the latest state of every asset check; exit 1 if a blocking check is failing, 2 if the report could not be made")
    checks.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    checks.set_defaults(run=cmd_checks)

    selection = commands.add_parser("selection", help="print an asset selection string for `dagster asset materialize --select`")
    selection.add_argument("name", choices=["snapshots", "daily", "history"])
    selection.set_defaults(run=cmd_selection)

    summary = commands.add_parser("summary", help="print what the warehouse holds and headline numbers")
    summary.add_argument("--duckdb-path", type=Path, default=settings.duckdb_path)
    summary.set_defaults(run=cmd_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Bad settings or input, and the system refusing (a port in use, a folder not writable),
    end with one line naming the cause and exit 2, as argparse does; a bug keeps its traceback."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (ValueError, OSError) as error:
        print(f"ecommerce-assets: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
