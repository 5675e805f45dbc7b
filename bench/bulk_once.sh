#!/bin/sh
# One bulk load of a forest file into a fresh embedded store, with the intentkb of source tree TREE:
# the unit that farm-bench (or any timer) runs side by side for two trees, e.g. before and after a
# change of the bulk path:
#
#   python -c "import json; from intentkb.ingest.synthetic import PAPER_LENGTHS, synthetic_forest; \
#     f = open('/tmp/forest.jsonl', 'w'); [f.write(json.dumps(r) + '\n') for r in synthetic_forest({k: max(1, round(v * 0.25)) for k, v in PAPER_LENGTHS.items()})]"
#   git worktree add /tmp/before HEAD~1
#   farm-bench -n 5 --timeout 300 --vs "bench/bulk_once.sh /tmp/before /tmp/forest.jsonl" -- bench/bulk_once.sh "$PWD" /tmp/forest.jsonl
#
# Exits non-zero when the load fails or does not read every line as loaded.
set -eu
tree=$(cd "$1" && pwd)
forest=$2
d=$(mktemp -d /tmp/ikbb-XXXXXX)
trap 'PYTHONPATH="$tree" python -c "import pathlib, sys; from intentkb.kb.falkordb import EmbeddedServer; EmbeddedServer(pathlib.Path(sys.argv[1])).stop()" "$d"; rm -rf "$d"' EXIT
cd "$tree"
out=$(INTENTKB_HOME="$d" INTENTKB_GRAPH_URI=embedded PYTHONPATH="$tree" python -m intentkb.cli.main ingest trees "$forest" --mode bulk --format json)
echo "$out" | python -c "import json, sys; s = json.load(sys.stdin)[0]; sys.exit(0 if s['read'] == s['loaded'] > 0 and s['mode'] == 'bulk' else f'not all loaded: {s}')"
