"""The table `xiulian clean` prints at the end: what was kept, what was removed and why."""
from __future__ import annotations

from .fs import join


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def print_summary(manifest: dict, out: str) -> None:
    counts = manifest["counts"]
    read = max(1, counts["read"])
    rows = [("read", counts["read"], ""), ("kept", counts["kept"], f"{counts['kept'] / read:6.1%}"),
            ("removed", counts["removed"], f"{counts['removed'] / read:6.1%}")]
    rows += [(f"  {reason}", n, f"{n / read:6.1%}") for reason, n in manifest["removed_by"].items()]
    width = max(len(r[0]) for r in rows) + 2
    if manifest.get("resumed"):
        print(f"{out}: {manifest['resumed']}")
    for label, n, share in rows:
        print(f"{label:<{width}}{n:>9}  {share}")
    shard_bytes = sum(s["bytes"] for s in manifest["shards"])
    print(f"shards: {len(manifest['shards'])} file(s), {_size(shard_bytes)} in {join(out, 'shards')}; "
          f"ledger in {join(out, 'removed')}; manifest {join(out, 'manifest.json')}")
