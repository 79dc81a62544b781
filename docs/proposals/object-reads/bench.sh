#!/bin/bash
# Usage: bench.sh <out.csv> <rounds> <repo-names...>
# Round-robin over modes so background load from the shared machine is spread evenly.
set -u
OUT=$1; ROUNDS=$2; shift 2
B=/work/main/target/bench
BIN=${BIN:-/tmp/object-reads/release/object-reads}
MODES=${MODES:-"git2 git2-nohash gix-lru:16 gix-lru:64 gix-lru:96 gix-static gix-none git-log git-cat-file"}
echo "repo,mode,round,wall_ms,internal_ms,maxrss_kb,load1" >> "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for r in "$@"; do
    ids=/tmp/ids-$r.txt
    for m in $MODES; do
      tv=/tmp/object-reads-time.$$.txt
      load=$(cut -d' ' -f1 /proc/loadavg)
      t0=$(date +%s%N)
      case $m in
        git-log) internal=NA; /usr/bin/time -v -o "$tv" git -C "$B/$r" log --raw --no-renames --format=%ct --no-abbrev > /dev/null ;;
        git-cat-file) internal=NA; /usr/bin/time -v -o "$tv" git -C "$B/$r" cat-file --batch < "$ids" > /dev/null ;;
        *) line=$(/usr/bin/time -v -o "$tv" "$BIN" "$B/$r" "$ids" "$m"); internal=$(echo "$line" | sed -n 's/.*total_ms=\([0-9.]*\).*/\1/p') ;;
      esac
      t1=$(date +%s%N)
      rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tv")
      echo "$r,$m,$round,$(( (t1-t0)/1000000 )),$internal,$rss,$load" | tee -a "$OUT"
    done
  done
done
rm -f /tmp/object-reads-time.$$.txt
