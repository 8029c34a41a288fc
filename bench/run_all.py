"""`make bench`: every benchmark in turn, each printing its Markdown table; results go into the README by hand.

Run on a quiet machine: the figures are medians and ratios measured side by side within each script.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    "handler_latency.py",
    "handler_profile.py",
    "delivery_throughput.py",
    "outbox_memory.py",
    "outbox_locked.py",
    "export_memory.py",
    "export_speed.py",
    "import_cost.py",
    "evaluate_memory.py",
    "predictor_concurrency.py",
    "predictor_bulk.py",
    "predictor_profile.py",
    "concurrent_imports.py",
    "multihost.py",
]


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"\n<!-- bench/{script} -->", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
