"""`ecommerce-assets-dbt`: dbt itself, holding the warehouse's dbt lock for as long as it runs.

The step that starts dbt holds the warehouse's write lock, but that lock dies with the step's
process and dbt does not: a run killed with SIGKILL left its `dbt build` writing with no lock
held, and the next writer failed on DuckDB's own lock. Holding a lock in dbt's own process
keeps the warehouse taken until the last writer is gone (`locking`).
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext

from ecommerce_assets.locking import held_by_dbt
from ecommerce_assets.settings import DUCKDB_PATH_ENV


def main() -> None:
    from dbt.cli.main import cli

    # The warehouse a build writes, as the step resolved it (`assets/dbt_models.py`).
    database = os.environ.get(DUCKDB_PATH_ENV)
    # By hand, without the step's absolute path, dbt runs as it would alone.
    with held_by_dbt(database) if database and os.path.isabs(database) else nullcontext():
        sys.argv[0] = "dbt"
        sys.exit(cli())


if __name__ == "__main__":
    main()
