#!/bin/sh
# mk/bench.sh BIN - the SM-DP+ load benchmark of `make bench`
# (spec-notes/bench.md): a private NIST PKI and minted eUICC identities in
# $BENCH_DIR, a fresh SQLite store with one released order per download
# (built on tmpfs when there is one, then moved), smdpd on 127.0.0.1 port
# 0, then smdp-bench run against it; smdpd is stopped by its PID.
#
#   BENCH_DOWNLOADS  timed downloads (default 3000; 100000 for the flat-RSS run)
#   BENCH_THREADS    concurrent connections = in-flight sessions (default 2)
#   BENCH_PARK       sessions parked after AuthenticateClient to measure
#                    memory per session (default 1000)
#   BENCH_SMDPD_THREADS  smdpd event-loop threads (default: one per CPU)
#   BENCH_SMDPD      the smdpd binary (default $BIN/smdpd)
#   BENCH_SYNCHRONOUS  smdpd --synchronous full|normal (default: smdpd's
#                    default, full); printed as smdp_bench_synchronous
set -eu
BIN=${1:-build/bin}
OUT=${BENCH_DIR:-build/bench}
SHARED=${RSP_SHARED:-../shared}
N=${BENCH_DOWNLOADS:-3000}
T=${BENCH_THREADS:-2}
K=${BENCH_PARK:-1000}
W=200
IDS=${BENCH_IDENTITIES:-1000}
FQDN=smdp.example.test
PKG=$SHARED/ts48/TS48v2_SAIP2.3_NoBERTLV.der

rm -rf "$OUT"
mkdir -p "$OUT/state"
"$BIN/rsp-pki" generate --out "$OUT/pki" --curve nist --host $FQDN >/dev/null
"$BIN/rsp-pki" mint-euicc --pki "$OUT/pki" --out "$OUT/ids" --count "$IDS" >/dev/null

TOTAL=$((N + W + K))
TMPDB=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    TMPDB=$(mktemp -d /dev/shm/smdp-bench.XXXXXX)
    DB0=$TMPDB/smdp.db
else
    DB0=$OUT/smdp.db
fi
"$BIN/smdp-bench" setup --db "$DB0" --profile "$PKG" --count "$TOTAL" --fqdn $FQDN
if [ -n "$TMPDB" ]; then
    mv "$DB0" "$OUT/smdp.db"
    rm -rf "$TMPDB"
fi

THR=
[ -n "${BENCH_SMDPD_THREADS:-}" ] && THR="--threads $BENCH_SMDPD_THREADS"
[ -n "${BENCH_SYNCHRONOUS:-}" ] && THR="$THR --synchronous $BENCH_SYNCHRONOUS"
echo "smdp_bench_synchronous: ${BENCH_SYNCHRONOUS:-full} store"
# shellcheck disable=SC2086
"${BENCH_SMDPD:-$BIN/smdpd}" --pki "$OUT/pki" --db "$OUT/smdp.db" --fqdn $FQDN --es9 127.0.0.1:0 \
    --state "$OUT/state" --port-file "$OUT/port" --log error $THR >"$OUT/smdpd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT INT TERM
i=0
while ! grep -q '^es9=[1-9]' "$OUT/port" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $PID 2>/dev/null; then
        echo "smdp-bench: smdpd did not start:" >&2
        cat "$OUT/smdpd.log" >&2
        exit 1
    fi
    sleep 0.1
done
PORT=$(sed -n 's/^es9=//p' "$OUT/port")
echo "smdp_bench_smdpd_pid: $PID pid"
"$BIN/smdp-bench" run --port "$PORT" --pid $PID --fqdn $FQDN --pki "$OUT/pki" \
    --ids "$OUT/ids" --state "$OUT/state" --downloads "$N" --threads "$T" \
    --warmup $W --park "$K" --identities "$IDS"
