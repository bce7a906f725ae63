"""EleutherAI delphi's explanation layout: `explanations/<module>_latent<index>.txt`, each a JSON string.

delphi saves an explanation as `orjson.dumps(explanation)` (a JSON string: no spaces, UTF-8, no newline)
in a file named after its `Latent`, which prints as `<module_name>_latent<latent_index>`; its readers take
the index back as `int(stem.split("latent")[-1])` and find a module's files by its name.

Module name: the SAE's hook name, as sae_lens gives it (`blocks.6.hook_resid_pre_latent12.txt`); give delphi
that name as the hookpoint. delphi's own hookpoints are the subject model's module paths (`layers.5`,
`h.5`), and which path matches a TransformerLens hook depends on the model (resid_pre of block 6 is the
output of layer 5), so the export does not guess one. A "/" in a name becomes "--", as delphi's scorer does.

Only features with a label (status "ok" or "weak") get a file. The export owns the files named for its
SAE's module: a file of that module whose feature has no label in the run (left by an earlier export) is
removed; every other file in the folder is left alone, so the export may go next to delphi's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sae_gd_labeler.export.common import EXPORT_DIR, ExportError, Run, ensure_dir, write_atomic

FOLDER = "explanations"


def module_name(hook_name: str) -> str:
    return hook_name.replace("/", "--")


def explanation_bytes(label: str) -> bytes:
    # what orjson.dumps(label) gives for a str: json's escapes, raw UTF-8, no spaces
    return json.dumps(label, ensure_ascii=False).encode("utf-8")


def export(run: Run, out: Path | str | None) -> Path:
    base = Path(out) if out is not None else run.path / EXPORT_DIR / "delphi"
    if base.exists() and not base.is_dir():
        raise ExportError(f"--out {base} is a file; the delphi export is a folder (explanations/ goes inside): "
                          "give a folder")
    folder = base / FOLDER
    ensure_dir(folder)  # a run with no label still gets its (empty) folder
    written = set()
    for r in run.labeled:
        name = f"{module_name(run.hook_name(r))}_latent{r['feature']}.txt"
        write_atomic(folder / name, explanation_bytes(r["label"]), sync=False)  # thousands of files: no fsync
        written.add(name)
    modules = {module_name(run.hook_name(r)) for r in run.records}
    # stale files of our module, and temporary files a killed export left
    ours = re.compile(r"\.?(?:" + "|".join(re.escape(m) for m in modules) + r")_latent\d+\.txt(?:\.tmp-\d+)?")
    for path in folder.iterdir():
        if modules and ours.fullmatch(path.name) and path.name not in written:
            path.unlink()
    return folder
