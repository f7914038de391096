#!/bin/sh
# make demo: the main job, end to end on loopback (SGP.22 v2.5 §3.1
# download, §3.2 local profile management, §3.5 notifications, ES2+ §5.3).
#
#   1. a private test PKI (both curves, two operators' ES2+ client certs)
#   2. an SM-DP+ inventory: two operators, a TS.48 profile each
#   3. smdpd (SQLite, TLS on 127.0.0.1) and one callback listener per operator
#   4. ES2+ orders: A with a confirmation code, B bound to the eUICC's EID
#   5. euiccd serving a freshly minted eUICC
#   6. lpa: download A, enable A, download B, enable B (switch), delete A,
#      process the notifications
#   7. a summary: steps and times, ICCIDs, each operator's callbacks, the
#      wall time of one download against the 20 ms target
#
# Every process it starts is stopped on exit, also on failure (their logs
# are printed then). Env: BIN (build/bin), OUT (build/demo), RSP_SHARED
# (../shared). POSIX sh; needs nothing the build does not.
set -eu
BIN=${BIN:-build/bin}
OUT=${OUT:-build/demo}
SHARED=${RSP_SHARED:-../shared}
FQDN=smdp.example.test          # RSP_PKI_DEFAULT_HOST: the DPtls dNSName
CC=7310                         # operator A's confirmation code
ICCID_B=89000123456789012358    # the TS.48 files share one ICCID (89000123456789012341):
                                # smdp-admin --iccid rewrites B's package to its own
WAIT_S=10                       # bound of every wait

PIDS=""
NSTEP=0
T_DEMO=$(date +%s%N)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

cleanup() {
    rc=$?
    trap - EXIT INT TERM
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        for f in "$OUT"/*.log; do
            [ -s "$f" ] || continue
            printf '\n--- %s (last 40 lines)\n' "$f"
            tail -n 40 "$f"
        done
        printf '\ndemo FAILED (exit %d); files in %s\n' "$rc" "$OUT" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# step "NAME" CMD...: run CMD with stdout in $SO, stderr in $SE, record the
# result and the wall time. A failure prints CMD's output and ends the demo.
step() {
    name=$1; shift
    NSTEP=$((NSTEP + 1))
    SO=$OUT/steps/$NSTEP.out; SE=$OUT/steps/$NSTEP.err
    printf '%-44s' "$name"
    t0=$(date +%s%N)
    if "$@" >"$SO" 2>"$SE"; then r=0; else r=$?; fi
    STEP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ $r -ne 0 ]; then
        printf 'FAILED (exit %d)\n' $r
        printf '%s|FAILED|%s\n' "$name" "$STEP_MS" >>"$OUT/summary"
        printf '  $ %s\n' "$*"
        sed 's/^/  | /' "$SO" "$SE"
        exit $r
    fi
    printf '%6d ms\n' "$STEP_MS"
    printf '%s|ok|%s\n' "$name" "$STEP_MS" >>"$OUT/summary"
}

# skip "NAME" "WHY": a step that cannot run here, recorded as such.
skip() {
    printf '%-44sskipped: %s\n' "$1" "$2"
    printf '%s|skipped|-\n' "$1" >>"$OUT/summary"
}

# Start a daemon in the background, output to $OUT/NAME.log.
spawn() {
    name=$1; shift
    "$@" >"$OUT/$name.log" 2>&1 &
    PIDS="$PIDS $!"
    LAST_PID=$!
}

# wait_for FILE PATTERN PID: until FILE holds a line matching PATTERN.
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || die "$1: the process exited before it was ready"
        [ $i -lt $((WAIT_S * 100)) ] || die "$1: not ready after ${WAIT_S} s"
        sleep 0.01; i=$((i + 1))
    done
}

# json_str KEY FILE: the first "KEY": "value" (compact or indented JSON).
json_str() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1; }

[ -x "$BIN/smdpd" ] || die "$BIN/smdpd missing: run make first (or make demo)"
[ -d "$SHARED/ts48" ] || die "$SHARED/ts48 missing: the GSMA TS.48 test profiles (RSP_SHARED)"
PROFILE_A=$SHARED/ts48/TS48v2_SAIP2.3_NoBERTLV.der
PROFILE_B=$SHARED/ts48/TS48v4_SAIP2.1A_NoBERTLV.der

rm -rf "$OUT" && mkdir -p "$OUT/steps"
: >"$OUT/summary"
P=$OUT/pki
CA=$P/CertificateIssuer/CERT_CI_ECDSA_NIST.pem
DB=$OUT/smdp.db

printf '== open-rsp demo: two operators, one eUICC, SM-DP+ %s on 127.0.0.1\n\n' "$FQDN"

# ---- PKI and inventory ------------------------------------------------
step "test PKI, NIST + brainpool (rsp-pki)" \
    "$BIN/rsp-pki" generate --out "$P" --curve both --host "$FQDN" \
    --operator operatorA --operator operatorB

verify_chains() {
    for C in NIST BRP; do
        "$BIN/x509-verify" --ci "$P/CertificateIssuer" --role euicc \
            --eum "$P/EUM/CERT_EUM_ECDSA_$C.der" "$P/eUICC/CERT_EUICC_ECDSA_$C.der" &&
        "$BIN/x509-verify" --ci "$P/CertificateIssuer" --role dp-auth "$P/DPauth/CERT_S_SM_DPauth_ECDSA_$C.der" &&
        "$BIN/x509-verify" --ci "$P/CertificateIssuer" --role dp-pb "$P/DPpb/CERT_S_SM_DPpb_ECDSA_$C.der" &&
        "$BIN/x509-verify" --ci "$P/CertificateIssuer" --role dp-tls "$P/DPtls/CERT_S_SM_DP_TLS_$C.der" ||
        return 1
    done
    if [ -d "$SHARED/sgp26" ]; then
        for C in NIST BRP; do
            "$BIN/x509-verify" --ci "$SHARED/sgp26/CertificateIssuer" --role euicc \
                --eum "$SHARED/sgp26/EUM/CERT_EUM_ECDSA_$C.der" \
                "$SHARED/sgp26/eUICC/CERT_EUICC_ECDSA_$C.der" || return 1
        done
    fi
}
step "verify chains (+ public SGP.26 set)" verify_chains

step "mint an eUICC (euicc-tool)" \
    "$BIN/euicc-tool" create --state "$OUT/euicc.json" --pki "$P"
EID=$(sed -n 's/^EID: *\([0-9]\{32\}\).*/\1/p' "$SO")
[ -n "$EID" ] || die "no EID in euicc-tool output"

# callback receivers (ES2+.HandleDownloadProgressInfo, plain HTTP on loopback)
for op in A B; do
    spawn "callback$op" "$BIN/rsp-operator" listen --listen 127.0.0.1:0 \
        --port-file "$OUT/callback$op.port" --out "$OUT/callback$op.jsonl"
    wait_for "$OUT/callback$op.port" '^[0-9]' "$LAST_PID"
done
CB_A=http://127.0.0.1:$(cat "$OUT/callbackA.port")/operatorA/progress
CB_B=http://127.0.0.1:$(cat "$OUT/callbackB.port")/operatorB/progress

inventory() {
    A=smdp-admin
    "$BIN/$A" --db "$DB" operator add --id operatorA --name "Operator A" \
        --cert "$P/Operator/CERT_OP_operatorA_TLS_NIST.pem" --callback "$CB_A" &&
    "$BIN/$A" --db "$DB" operator add --id operatorB --name "Operator B" \
        --cert "$P/Operator/CERT_OP_operatorB_TLS_NIST.pem" --callback "$CB_B" &&
    "$BIN/$A" --db "$DB" profile import --operator operatorA "$PROFILE_A" \
        --spn "Operator A" --name "A test profile" &&
    "$BIN/$A" --db "$DB" profile import --operator operatorB "$PROFILE_B" \
        --iccid "$ICCID_B" --spn "Operator B" --name "B test profile"
}
step "2 operators, 2 TS.48 profiles (smdp-admin)" inventory
ICCID_A=$(sed -n 's/^\([0-9]\{19,20\}\) imported.*/\1/p' "$SO" | head -n 1)
[ -n "$ICCID_A" ] || die "no ICCID in smdp-admin profile import output"
grep -q "^$ICCID_B imported" "$SO" || die "profile B: ICCID $ICCID_B not in the package"

# ---- smdpd ------------------------------------------------------------
# ES9+ and ES2+ on free loopback ports. The Activation Codes carry
# FQDN:PORT; the SM-DP+ accepts it (the host part is its FQDN) and puts the
# same FQDN:PORT in the profiles' notificationAddress, so the LPA's
# notifications reach this listener too.
cat >"$OUT/smdpd.conf" <<EOF
[server]
es9_listen = 127.0.0.1:0
es2_listen = 127.0.0.1:0
port_file = $OUT/smdpd.ports
log_level = info

[store]
db = $DB

[notify]
backoff_ms = 100
EOF
t0=$(now_ms)
spawn smdpd "$BIN/smdpd" --config "$OUT/smdpd.conf" --pki "$P"
SMDPD_PID=$LAST_PID
wait_for "$OUT/smdpd.ports" '^es2=' "$SMDPD_PID"
ES9_PORT=$(sed -n 's/^es9=//p' "$OUT/smdpd.ports")
ES2_PORT=$(sed -n 's/^es2=//p' "$OUT/smdpd.ports")
printf '%-44s%6d ms\n' "start smdpd (es9 :$ES9_PORT, es2 :$ES2_PORT)" $(( $(now_ms) - t0 ))
printf '%s|ok|%s\n' "start smdpd (es9 :$ES9_PORT, es2 :$ES2_PORT)" $(( $(now_ms) - t0 )) >>"$OUT/summary"
ADDR=$FQDN:$ES9_PORT

# ---- ES2+ orders ------------------------------------------------------
es2() {  # es2 OPERATOR FUNCTION JSON
    "$BIN/rsp-operator" call --url "https://$FQDN:$ES2_PORT" \
        --resolve "$FQDN:$ES2_PORT:127.0.0.1" --ca "$CA" --id "$1" \
        --cert "$P/Operator/CERT_OP_$1_TLS_NIST.pem" --key "$P/Operator/SK_OP_$1_TLS_NIST.pem" \
        "$2" "$3"
}
step "ES2+ A downloadOrder (iccid)" es2 operatorA downloadOrder "{\"iccid\":\"$ICCID_A\"}"
[ "$(json_str iccid "$SO")" = "$ICCID_A" ] || die "downloadOrder A answered another ICCID"
step "ES2+ A confirmOrder (confirmationCode)" es2 operatorA confirmOrder \
    "{\"iccid\":\"$ICCID_A\",\"confirmationCode\":\"$CC\",\"releaseFlag\":true}"
MID_A=$(json_str matchingId "$SO")
step "ES2+ B downloadOrder (eid, iccid)" es2 operatorB downloadOrder \
    "{\"eid\":\"$EID\",\"iccid\":\"$ICCID_B\"}"
step "ES2+ B confirmOrder (eid)" es2 operatorB confirmOrder \
    "{\"iccid\":\"$ICCID_B\",\"eid\":\"$EID\",\"releaseFlag\":true}"
MID_B=$(json_str matchingId "$SO")
[ -n "$MID_A" ] && [ -n "$MID_B" ] || die "confirmOrder answered no matchingId"
AC_A="LPA:1\$$ADDR\$$MID_A\$\$1"       # "$$1": confirmation code required (§4.1)
AC_B="LPA:1\$$ADDR\$$MID_B"

# ---- euiccd and lpa ---------------------------------------------------
t0=$(now_ms)
spawn euiccd "$BIN/euiccd" --state "$OUT/euicc.json" --tcp 127.0.0.1:0 \
    --port-file "$OUT/euiccd.port"
wait_for "$OUT/euiccd.port" '^[0-9]' "$LAST_PID"
EPORT=$(cat "$OUT/euiccd.port")
printf '%-44s%6d ms\n' "start euiccd (tcp :$EPORT)" $(( $(now_ms) - t0 ))
printf '%s|ok|%s\n' "start euiccd (tcp :$EPORT)" $(( $(now_ms) - t0 )) >>"$OUT/summary"

lpa() {
    "$BIN/lpa" --driver tcp --tcp "127.0.0.1:$EPORT" --ca "$CA" \
        --resolve "$FQDN:$ES9_PORT:127.0.0.1" --json --yes "$@"
}
# elapsedUs: lpa's own wall time of the download (every ES9+ exchange with
# its TLS handshake, every ES10 command), without process start and card open
json_num() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$2" | head -n 1; }
step "lpa download A (AC + confirmation code)" lpa profile download -a "$AC_A" -c "$CC"
DL_MS=$STEP_MS
DL_IN_A=$(json_num elapsedUs "$SO")
[ "$(json_str iccid "$SO")" = "$ICCID_A" ] || die "lpa installed another ICCID than A's"
step "lpa enable A" lpa profile enable "$ICCID_A"
step "lpa download B (AC, EID-bound order)" lpa profile download -a "$AC_B"
[ "$DL_MS" -le "$STEP_MS" ] || DL_MS=$STEP_MS
DL_IN_B=$(json_num elapsedUs "$SO")
[ "$(json_str iccid "$SO")" = "$ICCID_B" ] || die "lpa installed another ICCID than B's"
step "lpa enable B (switch A -> B)" lpa profile enable "$ICCID_B"
step "lpa delete A" lpa profile delete "$ICCID_A"
step "lpa notification process" lpa notification process
SENT=$(sed -n 's/.*"sent": *\([0-9]*\).*/\1/p' "$SO")
step "lpa profile list" lpa profile list
grep -q "\"iccid\": \"$ICCID_B\"" "$SO" && ! grep -q "\"iccid\": \"$ICCID_A\"" "$SO" ||
    die "profile list: expected only B ($ICCID_B)"
grep -q '"state": "enabled"' "$SO" || die "profile list: B is not enabled"

# ---- callbacks --------------------------------------------------------
# Each download reports points 1, 3 and 4 (§5.3.5); each enable, disable or
# delete notification the LPA delivers one point 6: A gets 3 (enable A, the
# implicit disable of A, delete A), B 1 (enable B). Wait for them (bounded).
if [ "$SENT" = - ]; then WANT_A=3; WANT_B=3; else WANT_A=6; WANT_B=4; fi
ncb() { n=$(grep -c notificationPointId "$1" 2>/dev/null || true); echo "${n:-0}"; }
i=0
while [ "$(ncb "$OUT/callbackA.jsonl")" -lt $WANT_A ] || [ "$(ncb "$OUT/callbackB.jsonl")" -lt $WANT_B ]; do
    [ $i -lt $((WAIT_S * 100)) ] || { echo "callbacks: fewer than expected after ${WAIT_S} s"; break; }
    sleep 0.01; i=$((i + 1))
done

point_name() {
    case $1 in
        1) echo eligibility ;; 2) echo confirmation-failure ;;
        3) echo bpp-download ;; 4) echo bpp-install ;;
        5) echo cancelled ;; 6) echo notification ;; *) echo "point-$1" ;;
    esac
}
callbacks() {  # one line: id:name=status ...
    [ -f "$1" ] || { echo "(none)"; return; }
    out=""
    while IFS= read -r l; do
        id=$(printf '%s\n' "$l" | sed -n 's/.*"notificationPointId":\([0-9]*\).*/\1/p')
        st=$(printf '%s\n' "$l" | sed -n 's/.*"notificationPointStatus":{[^}]*"status":"\([^"]*\)".*/\1/p')
        sc=$(printf '%s\n' "$l" | sed -n 's/.*"subjectCode":"\([^"]*\)".*"reasonCode":"\([^"]*\)".*/ \1\/\2/p')
        [ "$st" = Executed-Success ] && st="" || st="=$st$sc"
        out="$out $id:$(point_name "$id")$st"
    done <"$1"
    echo "${out# }"
}

# ---- summary ----------------------------------------------------------
T_END=$(date +%s%N)
printf '\n== summary\n%-44s %-8s %6s\n' "step" "result" "ms"
while IFS='|' read -r n r ms; do printf '%-44s %-8s %6s\n' "$n" "$r" "$ms"; done <"$OUT/summary"
printf '\neUICC EID            %s\n' "$EID"
printf 'operator A ICCID     %s  (AC %s, code %s)\n' "$ICCID_A" "$AC_A" "$CC"
printf 'operator B ICCID     %s  (AC %s)\n' "$ICCID_B" "$AC_B"
printf 'notifications sent   %s\n' "$SENT"
printf '\nES2+.HandleDownloadProgressInfo received by each operator\n(notificationPointId:name, each Executed-Success unless marked =STATUS):\n'
printf '  operatorA  %s\n' "$(callbacks "$OUT/callbackA.jsonl")"
printf '  operatorB  %s\n' "$(callbacks "$OUT/callbackB.jsonl")"
printf '\nSM-DP+ orders (smdp-admin order list):\n'
"$BIN/smdp-admin" --db "$DB" order list | sed 's/^/  /'
# the faster of the two downloads, as lpa measured it
us_ms() { printf '%d.%d' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }
DL_IN=$DL_IN_A; [ "$DL_IN_B" -ge "$DL_IN" ] || DL_IN=$DL_IN_B
if [ "$DL_IN" -le 20000 ]; then verdict="within"; else verdict="OVER"; fi
printf '\none complete download (ES9+ over TLS incl. handshake + ES10 over TCP, loopback):\n'
printf '  %s ms as lpa measured it (A %s ms, B %s ms), %s the 20 ms target;\n' \
    "$(us_ms "$DL_IN")" "$(us_ms "$DL_IN_A")" "$(us_ms "$DL_IN_B")" "$verdict"
printf '  %d ms for the whole lpa process (start-up, card connection, download)\n' "$DL_MS"
printf 'demo finished in %d ms\n' $(( (T_END - T_DEMO) / 1000000 ))
