#!/bin/sh
# pcsc.sh - the PC/SC path end to end: lpa --driver pcsc -> libpcsclite ->
# pcscd -> vsmartcard's vpcd reader driver -> euiccd --vpcd -> libeuicc.
#
#   tests/pcsc.sh BUILD_DIR        (BUILD_DIR holds bin/lpa, bin/euiccd, ...)
#
# Installs pcscd and vsmartcard-vpcd when missing (Debian 12, root), uses a
# running pcscd or starts `pcscd -f` itself (and stops what it started, also
# on failure), connects euiccd as the virtual card to vpcd's port (reader.conf
# DEVICENAME /dev/null:0x8C7B = server mode on port 35963; only 127.0.0.1 is
# used), then checks `lpa --driver pcsc chip info` and `profile list`.
# Every wait is bounded; logs are printed on failure.
# Exit: 0 pass, 1 fail, 77 skipped (not root and the packages are missing).
set -u

B=${1:-${RSP_BUILD:-build}}
BIN=$B/bin
WORK=$B/pcsc-test.$$
PORT=35963
LOCK=/tmp/open-rsp-pcsc.lock
PCSCD_PID=""
EUICCD_PID=""
T0=$(date +%s)

log() { echo "pcsc.sh: $*" >&2; }

dump_logs() {
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
}

cleanup() {
    rc=$?
    [ -n "$EUICCD_PID" ] && kill "$EUICCD_PID" 2>/dev/null && wait "$EUICCD_PID" 2>/dev/null
    if [ -n "$PCSCD_PID" ]; then
        kill "$PCSCD_PID" 2>/dev/null
        i=0
        while kill -0 "$PCSCD_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$PCSCD_PID" 2>/dev/null
        wait "$PCSCD_PID" 2>/dev/null
    fi
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && dump_logs
    rm -rf "$WORK"
    log "done in $(( $(date +%s) - T0 ))s (exit $rc)"
    exit $rc
}

fail() { log "FAIL: $*"; exit 1; }

for p in lpa euiccd euicc-tool rsp-pki; do
    [ -x "$BIN/$p" ] || fail "$BIN/$p missing (build first)"
done

# One run at a time on this machine: pcscd and vpcd's port are global.
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
    flock -w 300 9 || fail "another pcsc.sh holds $LOCK for more than 300 s"
fi

mkdir -p "$WORK" || fail "mkdir $WORK"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- packages ----
have_pkgs() {
    for p in pcscd vsmartcard-vpcd; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
    done
    [ -f /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || return 1
}
if ! have_pkgs; then
    if [ "$(id -u)" -ne 0 ]; then
        log "SKIP: pcscd/vsmartcard-vpcd missing and not root"
        exit 77
    fi
    log "installing pcscd vsmartcard-vpcd"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get install -y -qq --no-install-recommends pcscd vsmartcard-vpcd \
        >"$WORK/apt.log" 2>&1 ||
    { timeout 300 apt-get update -qq >>"$WORK/apt.log" 2>&1 &&
      timeout 300 apt-get install -y -qq --no-install-recommends pcscd vsmartcard-vpcd \
        >>"$WORK/apt.log" 2>&1; } || fail "apt-get install failed"
    have_pkgs || fail "packages still missing after apt-get"
fi

# ---- vpcd's reader.conf: server mode on 0x8C7B = 35963 ----
CONF=/etc/reader.conf.d/vpcd
[ -f "$CONF" ] || fail "$CONF missing"
grep -Eq '^[[:space:]]*DEVICENAME[[:space:]]+/dev/null:0x8C7B' "$CONF" ||
    fail "$CONF: expected DEVICENAME /dev/null:0x8C7B (vpcd listening on $PORT), got: $(grep DEVICENAME "$CONF")"

# ---- pcscd ----
port_listening() {
    # /proc/net/tcp: local address hex port, state 0A = LISTEN
    hex=$(printf '%04X' "$PORT")
    grep -Eq "^ *[0-9]+: [0-9A-F]{8}:$hex [0-9A-F]{8}:0000 0A" /proc/net/tcp 2>/dev/null
}
if pgrep -x pcscd >/dev/null 2>&1; then
    log "using the running pcscd (pid $(pgrep -x pcscd | head -1))"
    port_listening || fail "a pcscd runs but nothing listens on port $PORT (vpcd not loaded? restart pcscd)"
else
    pcscd -f -a >"$WORK/pcscd.log" 2>&1 &
    PCSCD_PID=$!
    log "started pcscd (pid $PCSCD_PID)"
fi
i=0
until port_listening; do
    [ -n "$PCSCD_PID" ] && ! kill -0 "$PCSCD_PID" 2>/dev/null && fail "pcscd exited"
    [ $i -ge 100 ] && fail "vpcd not listening on $PORT after 10 s"
    sleep 0.1; i=$((i + 1))
done

# ---- a fresh eUICC behind vpcd ----
"$BIN/rsp-pki" generate --out "$WORK/pki" --curve nist >"$WORK/pki.log" 2>&1 || fail "rsp-pki generate"
"$BIN/euicc-tool" create --state "$WORK/card.json" --pki "$WORK/pki" \
    --default-dp smdp.pcsc.test >"$WORK/create.log" 2>&1 || fail "euicc-tool create"
EID=$("$BIN/euicc-tool" show --state "$WORK/card.json" | sed -n 's/^EID: *//p')
[ ${#EID} -eq 32 ] || fail "no EID from euicc-tool show"

"$BIN/euiccd" --state "$WORK/card.json" --vpcd 127.0.0.1:$PORT --log info \
    >"$WORK/euiccd.log" 2>&1 &
EUICCD_PID=$!

# ---- lpa over PC/SC ----
i=0
while :; do
    "$BIN/lpa" -v --driver pcsc --reader "Virtual PCD" chip info >"$WORK/chip.out" 2>"$WORK/lpa.log"
    rc=$?
    [ $rc -eq 0 ] && break
    kill -0 "$EUICCD_PID" 2>/dev/null || fail "euiccd exited"
    [ $i -ge 100 ] && { cat "$WORK/lpa.log" >&2; fail "lpa chip info: exit $rc after 10 s of retries"; }
    sleep 0.1; i=$((i + 1))
done
cat "$WORK/chip.out"
got=$(sed -n 's/^EID: *//p' "$WORK/chip.out")
[ "$got" = "$EID" ] || fail "EID over PC/SC '$got' != card '$EID'"
grep -q "smdp.pcsc.test" "$WORK/chip.out" || fail "default SM-DP+ address missing"

"$BIN/lpa" --driver pcsc --reader "Virtual PCD" --json profile list >"$WORK/list.out" 2>>"$WORK/lpa.log" ||
    fail "lpa profile list: exit $?"
grep -q '"ok": true' "$WORK/list.out" || fail "profile list: $(cat "$WORK/list.out")"
grep -q '"profiles": \[\]' "$WORK/list.out" || fail "profile list not empty: $(cat "$WORK/list.out")"

log "PASS: EID $EID read through pcscd + vpcd ($(grep -m1 '^lpa: reader' "$WORK/lpa.log" | sed 's/^lpa: //'))"
exit 0
