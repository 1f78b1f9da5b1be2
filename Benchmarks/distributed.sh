#!/usr/bin/env bash
# Many machines, measured on one: a throwaway PostgreSQL cluster, and `cliptrace worker` processes as the
# machines. Three measurements, each printing one line of figures:
#
#   equality:   the evaluation kit's public split (its catalogue and queries) through submit + 4 workers
#               (2 per shard, 2 shards), and through 1 shard, against a local `scan` of the same catalogue:
#               how many records are identical, and the kit's scores of each answer.
#   faults:     100 jobs, 2 workers, 10 SIGKILLs of a worker at random moments (each restarted at once):
#               every job done, attempts, and the records against a run without kills.
#   throughput: one batch, 1 worker held to one core (taskset) against 2 workers each held to its own core.
#
#   Benchmarks/distributed.sh [equality|faults|throughput]...   (all three by default)
#
# Needs Debian's postgresql, taskset (util-linux) and the evaluation corpus (../shared/eval/run.sh once).
# As root the cluster runs as `nobody` (PostgreSQL refuses root).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${CLIPTRACE:-.build/release/cliptrace}")
corpus=${CORPUS:-/tmp/cliptrace-eval}
kit=$(realpath ../shared/eval)
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ -d "$corpus/public/queries" ] || { echo "run ../shared/eval/run.sh first (it builds the evaluation corpus)" >&2; exit 1; }
parts=("$@")
((${#parts[@]})) || parts=(equality faults throughput)

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/cliptrace-distributed.XXXXXX)
chmod 755 "$work"
as_server=()
if [ "$(id -u)" -eq 0 ]; then chown nobody "$work"; as_server=(runuser -u nobody --); fi
port=$((40000 + RANDOM % 20000))
workers=()
cleanup() {
  for pid in "${workers[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  "${as_server[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${as_server[@]}" "$pgbin/initdb" -D "$work/data" -U cliptrace -A trust --no-sync >/dev/null
"${as_server[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w start \
  -o "-k $work -p $port -c listen_addresses='' -c fsync=off -c synchronous_commit=off" >/dev/null </dev/null
export XDG_CACHE_HOME="$work/cache"
url() { echo "postgres://cliptrace@${work//\//%2F}:$port/$1"; }
database() { psql -h "$work" -p "$port" -U cliptrace -d postgres -qc "CREATE DATABASE $1"; url "$1"; }
sql() { psql -h "$work" -p "$port" -U cliptrace -d "$1" -XqtAc "$2"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

started=0
start_worker() {  # url shard name [extra…]; its pid in $started (called directly, never in $(…))
  local u=$1 shard=$2 name=$3; shift 3
  "$bin" worker --catalogue "$u" --shard "$shard" --name "$name" --poll-interval 0.5 "$@" \
    >>"$work/$name.log" 2>&1 </dev/null &
  started=$!
  workers+=("$started")
}
stop_workers() {
  for pid in "${workers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${workers[@]}"; do wait "$pid" 2>/dev/null || true; done
  workers=()
}
wait_ready() {  # url count: until COUNT workers have said they are ready
  for _ in $(seq 600); do
    [ "$(sql "${1##*/}" "SELECT count(*) FROM cliptrace.worker")" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "workers did not start; logs in $work" >&2; exit 1
}

# The kit's JSON-lines contract, then its scorer: F1 and segment AP of an answer.
score() {
  python3 - "$1" "$work/predictions.jsonl" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("reference") is None: continue
    p = {"query": r["query"], "ref": r["reference"]}
    for k, v in (("query_start", "query_start"), ("query_end", "query_end"), ("reference_start", "ref_start"),
                 ("reference_end", "ref_end"), ("score", "score")):
        if k in r: p[v] = r[k]
    out.append(p)
open(sys.argv[2], "w").write("".join(json.dumps(p) + "\n" for p in out))
PY
  python3 "$kit/score.py" --gt "$corpus/public" --results "$work/predictions.jsonl" --json "$work/metrics.json" >/dev/null
  python3 -c "import json; m = json.load(open('$work/metrics.json')); print(f\"f1={m['video_level']['fixed']['f1']:.3f} seg_ap={m['segment_level']['vsc_segment_ap']:.3f}\")"
}
compare() {  # a b: identical records of two answers (order aside)
  python3 - "$1" "$2" <<'PY'
import sys
a = sorted(open(sys.argv[1]).read().splitlines()); b = sorted(open(sys.argv[2]).read().splitlines())
same = len(set(a) & set(b))
print(f"identical={same}/{max(len(a), len(b))}")
PY
}

queries=("$corpus"/public/queries/*.mp4)

register_public() {  # url: the kit's public catalogue, titled as run.sh titles it
  for f in "$corpus"/public/catalogue/*.mp4; do
    "$bin" register -q --catalogue "$1" --title "$(basename "${f%.mp4}")" "$f" >/dev/null
  done
}
timed_batch() {  # url: seconds from submitting the public queries to their last result
  local batch t0
  batch=$("$bin" submit -q --catalogue "$1" "${queries[@]}")
  t0=$(now)
  "$bin" results -q --wait --catalogue "$1" "$batch" >/dev/null
  since "$t0"
}

equality() {
  local u
  u=$(database equality)
  register_public "$u"
  "$bin" scan -q --catalogue "$u" "${queries[@]}" >"$work/local.jsonl"
  local line="equality: local $(score "$work/local.jsonl")"
  for shards in 1 2; do
    for s in $(seq "$shards"); do
      start_worker "$u" "$s/$shards" "eq$s-a" --jobs 1
      ((shards == 1)) || start_worker "$u" "$s/$shards" "eq$s-b" --jobs 1
    done
    wait_ready "$u" $((shards == 1 ? 1 : 2 * shards))
    local batch t0
    batch=$("$bin" submit -q --catalogue "$u" --shards "$shards" "${queries[@]}")
    t0=$(now)
    "$bin" results -q --wait --catalogue "$u" "$batch" >"$work/shards$shards.jsonl"
    line+=" | $shards shard(s): $(compare "$work/local.jsonl" "$work/shards$shards.jsonl") $(score "$work/shards$shards.jsonl") wall_s=$(since "$t0")"
    stop_workers
    sql equality "DELETE FROM cliptrace.worker" >/dev/null
  done
  echo "$line"
}

faults() {
  local u inputs=() i
  u=$(database faults)
  "$bin" register -q --catalogue "$u" testmedia/references/*.mp4 >/dev/null
  mkdir -p "$work/inputs"
  local recordings=(testmedia/recordings/*.mp4)
  for i in $(seq 100); do
    cp "${recordings[$(( (i - 1) % ${#recordings[@]} ))]}" "$work/inputs/input$(printf %03d "$i").mp4"
  done
  inputs=("$work"/inputs/*.mp4)
  "$bin" scan -q --catalogue "$u" "${inputs[@]}" >"$work/faults-local.jsonl"
  local batch t0 kills=0 a b
  batch=$("$bin" submit -q --catalogue "$u" "${inputs[@]}")
  t0=$(now)
  start_worker "$u" 1/1 fa --jobs 1 --lease 3; a=$started
  start_worker "$u" 1/1 fb --jobs 1 --lease 3; b=$started
  "$bin" results -q --wait --catalogue "$u" "$batch" >"$work/faults.jsonl" &
  local reader=$!
  while ((kills < 10)); do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 2.0), 2))')"
    if ((RANDOM % 2)); then kill -9 "$a"; start_worker "$u" 1/1 "fa$kills" --jobs 1 --lease 3; a=$started
    else kill -9 "$b"; start_worker "$u" 1/1 "fb$kills" --jobs 1 --lease 3; b=$started; fi
    kills=$((kills + 1))
  done
  wait "$reader"
  local seconds
  seconds=$(since "$t0")
  stop_workers
  echo "faults: jobs=$(sql faults "SELECT count(*) FROM cliptrace.job WHERE batch_id = $batch") done=$(sql faults "SELECT count(*) FROM cliptrace.job WHERE batch_id = $batch AND state IN ('done', 'failed')") kills=$kills rerun_jobs=$(sql faults "SELECT count(*) FROM cliptrace.job WHERE batch_id = $batch AND attempts > 1") records=$(wc -l <"$work/faults.jsonl") $(compare "$work/faults-local.jsonl" "$work/faults.jsonl") wall_s=$seconds"
}

throughput() {
  local u one two
  u=$(database throughput)
  register_public "$u"
  "$bin" scan -q --catalogue "$u" "${queries[0]}" >/dev/null  # builds the saved index once, outside the timing
  taskset -c 0 "$bin" worker --catalogue "$u" --name tp1 --jobs 1 --threads 1 --poll-interval 0.2 >>"$work/tp1.log" 2>&1 </dev/null &
  workers+=($!)
  wait_ready "$u" 1
  one=$(timed_batch "$u")
  taskset -c 1 "$bin" worker --catalogue "$u" --name tp2 --jobs 1 --threads 1 --poll-interval 0.2 >>"$work/tp2.log" 2>&1 </dev/null &
  workers+=($!)
  wait_ready "$u" 2
  two=$(timed_batch "$u")
  stop_workers
  echo "throughput: queries=${#queries[@]} one_worker_s=$one two_workers_s=$two speedup=$(python3 -c "print(f'{$one / $two:.2f}')")"
}

for part in "${parts[@]}"; do "$part"; done
