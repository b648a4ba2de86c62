"""`make bench`: benchmarks, not tests. Prints numbers; asserts nothing about speed.

Each module bench/b_*.py defines `async def run(args) -> list[dict]` returning result rows
(name, database, and measured values); they run one after another and print as one table.
`python -m bench --only NAME` runs the modules whose name contains NAME; `--quick` makes every
benchmark small (used by a test to check that the benchmarks still run).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import pkgutil
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", help="run only modules whose name contains this")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL server for the PostgreSQL runs (skipped if unreachable)")
    parser.add_argument("--rounds", type=int, help="rounds of the interleaved comparisons (telegram: 5)")
    parser.add_argument("--variants", help="telegram: only these variants, by label, comma-separated "
                        "(e.g. 'sqlite,postgresql': the two databases with in-process locks)")
    return parser.parse_args(argv)


def print_rows(rows: list[dict]) -> None:
    for row in rows:
        name = row.get("name", "?")
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k != "name")
        print(f"  {name}: {rest}", flush=True)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    modules = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("b_"))
    if args.only:
        modules = [m for m in modules if args.only in m]
    all_rows: list[dict] = []
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {(module.__doc__ or '').strip().splitlines()[0] if module.__doc__ else ''}", flush=True)
        started = time.perf_counter()
        rows = await module.run(args)
        print_rows(rows)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
        all_rows.extend(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
