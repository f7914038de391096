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
# used), then checks `lpa --driver pcsc chip info` and `profile list`, and
# puts a real download through PC/SC: smdpd (TLS on a free loopback port)
# with a TS.48 profile and a released order (smdp-admin), `lpa --driver
# pcsc profile download -a AC` (SGP.22 §3.1, the PIR delivered over ES9+),
# `profile enable`, `profile list`, and the order Done in `smdp-admin order
# list`. Then, when it started pcscd itself, the reverse mode: pcscd -c with a
# reader.conf.d in the work dir (vpcd connects to euiccd --vpcd-listen) and
# the enabled profile listed through it. Every process it starts is stopped on every exit (trap); every wait
# is bounded; logs are printed on failure. RSP_SHARED: the directory with
# ts48/ (default: ../../shared from this script).
# Exit: 0 pass, 1 fail, 77 skipped (not root and the packages are missing).
set -u

B=${1:-${RSP_BUILD:-build}}
BIN=$B/bin
WORK=$B/pcsc-test.$$
PORT=35963
LOCK=/tmp/open-rsp-pcsc.lock
PCSCD_PID=""
EUICCD_PID=""
SMDPD_PID=""
SHARED=${RSP_SHARED:-$(cd "$(dirname "$0")/../.." 2>/dev/null && pwd)/shared}
FQDN=smdp.example.test
T0=$(date +%s)

log() { echo "pcsc.sh: $*" >&2; }

dump_logs() {
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
}

# stop PID: SIGTERM, at most 5 s, then SIGKILL; reaped.
stop() {
    kill "$1" 2>/dev/null || return 0
    j=0
    while kill -0 "$1" 2>/dev/null && [ $j -lt 50 ]; do sleep 0.1; j=$((j + 1)); done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

cleanup() {
    rc=$?
    [ -n "$SMDPD_PID" ] && stop "$SMDPD_PID"
    [ -n "$EUICCD_PID" ] && stop "$EUICCD_PID"
    [ -n "$PCSCD_PID" ] && stop "$PCSCD_PID"
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && dump_logs
    rm -rf "$WORK"
    log "done in $(( $(date +%s) - T0 ))s (exit $rc)"
    exit $rc
}

fail() { log "FAIL: $*"; exit 1; }

for p in lpa euiccd euicc-tool rsp-pki smdpd smdp-admin; do
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

log "EID $EID read through pcscd + vpcd ($(grep -m1 '^lpa: reader' "$WORK/lpa.log" | sed 's/^lpa: //'))"

# ---- a download through PC/SC from a real smdpd ----
PROFILE=$SHARED/ts48/TS48v2_SAIP2.3_NoBERTLV.der
[ -f "$PROFILE" ] || fail "$PROFILE missing (set RSP_SHARED to the directory holding ts48/)"
DB=$WORK/smdp.db
CA=$WORK/pki/CertificateIssuer/CERT_CI_ECDSA_NIST.pem
"$BIN/smdp-admin" --db "$DB" operator add --id op1 --name "PC/SC operator" \
    >>"$WORK/admin.log" 2>&1 || fail "smdp-admin operator add"
"$BIN/smdp-admin" --db "$DB" profile import --operator op1 "$PROFILE" --spn "PCSC SP" \
    --name "TS.48 over PC/SC" >"$WORK/import.out" 2>>"$WORK/admin.log" || fail "smdp-admin profile import"
ICCID=$(sed -n 's/^\([0-9]\{19,20\}\) imported.*/\1/p' "$WORK/import.out" | head -n 1)
[ -n "$ICCID" ] || fail "no ICCID in: $(cat "$WORK/import.out")"

printf '[server]\nes9_listen = 127.0.0.1:0\nes2_listen = 127.0.0.1:0\nport_file = %s\nthreads = 1\nlog_level = info\n\n[store]\ndb = %s\n' \
    "$WORK/smdpd.ports" "$DB" >"$WORK/smdpd.conf"
"$BIN/smdpd" --config "$WORK/smdpd.conf" --pki "$WORK/pki" >"$WORK/smdpd.log" 2>&1 &
SMDPD_PID=$!
i=0
until grep -q '^es2=' "$WORK/smdpd.ports" 2>/dev/null; do
    kill -0 "$SMDPD_PID" 2>/dev/null || fail "smdpd exited"
    [ $i -ge 100 ] && fail "smdpd: no port file after 10 s"
    sleep 0.1; i=$((i + 1))
done
ES9=$(sed -n 's/^es9=//p' "$WORK/smdpd.ports")
[ -n "$ES9" ] || fail "no es9 port in $(cat "$WORK/smdpd.ports")"

"$BIN/smdp-admin" --db "$DB" order create --operator op1 --iccid "$ICCID" --release \
    --fqdn "$FQDN:$ES9" >"$WORK/order.out" 2>>"$WORK/admin.log" || fail "smdp-admin order create"
AC=$(grep -o 'LPA:1\$[^[:space:]]*' "$WORK/order.out" | head -n 1)
[ -n "$AC" ] || fail "no activation code in: $(cat "$WORK/order.out")"

# The default STORE DATA block size (120 bytes), as an LPA would send it.
lpa_pcsc() {
    timeout 30 "$BIN/lpa" --driver pcsc --reader "Virtual PCD" --ca "$CA" \
        --resolve "$FQDN:$ES9:127.0.0.1" --yes --json "$@" 2>>"$WORK/lpa.log"
}
lpa_pcsc profile download -a "$AC" >"$WORK/download.out" ||
    fail "lpa profile download: exit $? $(cat "$WORK/download.out")"
grep -q '"ok": true' "$WORK/download.out" || fail "download: $(cat "$WORK/download.out")"
grep -q "\"iccid\": \"$ICCID\"" "$WORK/download.out" ||
    fail "download installed another ICCID: $(cat "$WORK/download.out")"
grep -q '"detail"' "$WORK/download.out" &&
    fail "download left a note (PIR not delivered?): $(cat "$WORK/download.out")"
US=$(sed -n 's/.*"elapsedUs": *\([0-9]*\).*/\1/p' "$WORK/download.out")

lpa_pcsc profile enable "$ICCID" >"$WORK/enable.out" ||
    fail "lpa profile enable: exit $? $(cat "$WORK/enable.out")"
lpa_pcsc profile list >"$WORK/list2.out" || fail "lpa profile list: exit $?"
tr -d ' \n' <"$WORK/list2.out" |
    grep -q "\"iccid\":\"$ICCID\",\"isdpAid\":\"[0-9A-F]*\",\"state\":\"enabled\"" ||
    fail "profile $ICCID not enabled: $(cat "$WORK/list2.out")"
lpa_pcsc notification list >"$WORK/notif.out" || fail "lpa notification list: exit $?"
grep -q '"event": "install"' "$WORK/notif.out" &&
    fail "the install notification is still on the card: $(cat "$WORK/notif.out")"

# the SM-DP+ got the PIR (handleNotification is answered after the store
# is written, before lpa exits): the order is Done
"$BIN/smdp-admin" --db "$DB" order list >"$WORK/orders.out" 2>>"$WORK/admin.log" ||
    fail "smdp-admin order list"
grep "$ICCID" "$WORK/orders.out" | grep -qiw "done" ||
    fail "order of $ICCID not done: $(cat "$WORK/orders.out")"

# ---- reverse mode: vpcd connects to euiccd --vpcd-listen ----
# Only with a pcscd of our own (a running system pcscd keeps its config):
# pcscd -c reads a reader.conf.d in $WORK (DEVICENAME 127.0.0.1:0x8C7B), so
# /etc is not touched. euiccd answers both slot ports (35963 the eUICC,
# 35964 a blank card): Debian's vpcd aborts pcscd otherwise.
REV=skipped
if [ -n "$PCSCD_PID" ]; then
    stop "$PCSCD_PID"; PCSCD_PID=""
    stop "$EUICCD_PID"; EUICCD_PID=""
    mkdir -p "$WORK/revconf"
    printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   127.0.0.1:0x8C7B\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x8C7B\n' \
        >"$WORK/revconf/vpcd"
    i=0
    while port_listening; do   # the forward vpcd's port is released
        [ $i -ge 50 ] && fail "port $PORT still in use after pcscd stopped"
        sleep 0.1; i=$((i + 1))
    done
    "$BIN/euiccd" --state "$WORK/card.json" --vpcd-listen 127.0.0.1:$PORT --log info \
        >"$WORK/euiccd-rev.log" 2>&1 &
    EUICCD_PID=$!
    i=0
    until port_listening; do
        kill -0 "$EUICCD_PID" 2>/dev/null || fail "euiccd --vpcd-listen exited"
        [ $i -ge 100 ] && fail "euiccd --vpcd-listen: not listening on $PORT after 10 s"
        sleep 0.1; i=$((i + 1))
    done
    # pcscd wants an absolute directory (it changes to /)
    pcscd -f -a -c "$(cd "$WORK/revconf" && pwd)" >"$WORK/pcscd-rev.log" 2>&1 &
    PCSCD_PID=$!
    i=0
    until lpa_pcsc profile list >"$WORK/list3.out"; do
        kill -0 "$PCSCD_PID" 2>/dev/null || fail "pcscd (reverse mode) exited"
        [ $i -ge 100 ] && fail "lpa over reverse vpcd: no answer after 10 s"
        sleep 0.1; i=$((i + 1))
    done
    tr -d ' \n' <"$WORK/list3.out" |
        grep -q "\"iccid\":\"$ICCID\",\"isdpAid\":\"[0-9A-F]*\",\"state\":\"enabled\"" ||
        fail "reverse mode: profile $ICCID not listed enabled: $(cat "$WORK/list3.out")"
    kill -0 "$PCSCD_PID" 2>/dev/null || fail "pcscd (reverse mode) died"
    REV=ok
fi

log "PASS: EID $EID; profile $ICCID downloaded (${US:-?} us), enabled, order Done, through pcscd + vpcd (reverse mode: $REV)"
exit 0
