"""Peak memory of a bulk run as the corpus grows: it must stay flat (records are bounded by features x kept
examples, never by corpus size).

    sae-gd-labeler bench-run-memory --multipliers 1,10 --json run_memory.json

Each size is a fresh process running `sae-gd-labeler label` on a toy-world SAE saved to disk, with the toy
corpus repeated k times as a local text file (the same streaming path as any user's corpus); its peak
resident set (ru_maxrss) and time are read from inside that process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HOOK = "blocks.1.hook_resid_post"
_CHILD = """
import json, resource, sys, time
from sae_gd_labeler.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_memory_bench(multipliers=(1, 10), features: str = "0:64", log=print) -> dict:
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        world.saes[HOOK].save_model(str(tmp / "sae"))
        for k in multipliers:
            corpus = tmp / f"corpus_x{k}.txt"
            corpus.write_text("\n".join(world.corpus * k) + "\n", encoding="utf-8")
            args = ["-q", "label", "--sae-path", str(tmp / "sae"), "--model", "toy-world", "--dataset", str(corpus),
                    "--features", features, "--no-progress", "--out", str(tmp / f"run_x{k}")]
            out = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            summary = json.loads((tmp / f"run_x{k}" / "summary.json").read_text())
            row.update(multiplier=k, corpus_lines=len(world.corpus) * k, n_labeled=summary["n_labeled"])
            log(f"corpus x{k}: peak RSS {row['peak_rss_mb']:.0f} MB, {row['seconds']:.0f} s, "
                f"{row['n_labeled']} features labeled")
            results.append(row)
    base = results[0]["peak_rss_mb"]
    return {"features": features, "hook": HOOK, "runs": results,
            "peak_ratio_largest_to_smallest": results[-1]["peak_rss_mb"] / base}
