"""minicirc's benchmarks, a folder of the repository run from its root, never installed:
``python -m benchmarks.layer`` times one layer's forward+backward (see docs/benchmarks.md).

They use minicirc's public API only. PyTorch, their reference, is the ``bench`` extra
(``pip install -e ".[bench]"``), imported only where a benchmark times it.
"""

import json
import os
from typing import Any, Dict

from minicirc.mnist.files import write_text


def write_report(out: str, stem: str, title: str, module: str, meta: Dict[str, Any], md: str,
                 results: Any) -> None:
    """Write ``<stem>.json`` (meta and results) and ``<stem>.md`` (title, the command that
    reproduces it, the environment, the table) into ``out``.

    Each file is written atomically (``minicirc.mnist.files``, as every file minicirc writes):
    a benchmark killed by a timeout while writing (the GPU one rewrites its report after every
    configuration) leaves the previous complete file, never a truncated one.
    """
    os.makedirs(out, exist_ok=True)
    write_text(os.path.join(out, f"{stem}.json"), json.dumps({"meta": meta, "results": results}, indent=1))
    write_text(os.path.join(out, f"{stem}.md"),
               f"# {title}\n\n`python -m {module} {' '.join(meta['argv'])}`\n\n"
               f"{json.dumps({k: v for k, v in meta.items() if k != 'argv'})}\n\n{md}\n")

