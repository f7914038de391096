#!/bin/sh
# make demo: the main job on the embedded defaults. It grows with each
# component; today: generate a private test PKI for both curves, verify every
# chain against its CI, check the public SGP.26 set, decode a GSMA TS.48 test
# profile, mint an eUICC, and fill an SM-DP+ inventory with two operators'
# profiles and orders. (smdpd, lpa and the downloads come with their issues.)
set -eu
BIN=build/bin
OUT=build/demo
SHARED=${RSP_SHARED:-../shared}

rm -rf "$OUT" && mkdir -p "$OUT"
t0=$(date +%s%N)
step() { printf '\n== %s\n' "$*"; }

step "generate a test PKI (both curves) into $OUT/pki"
$BIN/rsp-pki generate --out "$OUT/pki" --curve both --operator operatorA --operator operatorB >/dev/null
find "$OUT/pki" -name 'CERT_*.der' | sort | sed 's/^/  /'

step "verify the generated chains"
for C in NIST BRP; do
    P=$OUT/pki
    $BIN/x509-verify --ci "$P/CertificateIssuer" --role euicc --eum "$P/EUM/CERT_EUM_ECDSA_$C.der" "$P/eUICC/CERT_EUICC_ECDSA_$C.der"
    $BIN/x509-verify --ci "$P/CertificateIssuer" --role dp-auth "$P/DPauth/CERT_S_SM_DPauth_ECDSA_$C.der"
    $BIN/x509-verify --ci "$P/CertificateIssuer" --role dp-pb "$P/DPpb/CERT_S_SM_DPpb_ECDSA_$C.der"
    $BIN/x509-verify --ci "$P/CertificateIssuer" --role dp-tls "$P/DPtls/CERT_S_SM_DP_TLS_$C.der"
done

if [ -d "$SHARED/sgp26" ]; then
    step "the public GSMA SGP.26 test PKI, as it is"
    S=$SHARED/sgp26
    for C in NIST BRP; do
        $BIN/x509-verify --ci "$S/CertificateIssuer" --role euicc --eum "$S/EUM/CERT_EUM_ECDSA_$C.der" "$S/eUICC/CERT_EUICC_ECDSA_$C.der"
    done
    # an expired SGP.26 TLS certificate is refused
    $BIN/x509-verify --ci "$S/CertificateIssuer" --role dp-tls "$S/DPtls/CERT_S_SM_DP2_TLS.der" || true
fi

if [ -d "$SHARED/ts48" ]; then
    step "decode a GSMA TS.48 test profile"
    $BIN/saip-dump "$SHARED/ts48/TS48v2_SAIP2.3_NoBERTLV.der"
fi

step "mint an eUICC from the generated PKI (euicc-tool)"
$BIN/euicc-tool create --state "$OUT/euicc.json" --pki "$OUT/pki" --default-dp smdp.example.test >/dev/null
$BIN/euicc-tool show --state "$OUT/euicc.json"

if [ -d "$SHARED/ts48" ]; then
    step "SM-DP+ inventory (smdp-admin on SQLite): two operators, a profile each, two orders"
    DB=$OUT/smdp.db
    A=$SHARED/ts48/TS48v2_SAIP2.3_NoBERTLV.der
    B=$SHARED/ts48/TS48v4_SAIP2.1A_NoBERTLV.der
    $BIN/smdp-admin --db "$DB" operator add --id operatorA --name "Operator A"
    $BIN/smdp-admin --db "$DB" operator add --id operatorB --name "Operator B"
    $BIN/smdp-admin --db "$DB" profile import --operator operatorA "$A" --spn "Operator A" --name "A test profile"
    # the TS.48 files share one ICCID: import B's copy under another valid one
    $BIN/smdp-admin --db "$DB" profile import --operator operatorB "$B" --iccid 89000123456789012358 \
        --spn "Operator B" --name "B test profile"
    EID=$($BIN/euicc-tool show --state "$OUT/euicc.json" | sed -n 's/^ *EID:* *\([0-9]\{32\}\).*/\1/p' | head -1)
    printf '  order A (confirmation code required): '
    $BIN/smdp-admin --db "$DB" order create --operator operatorA --cc 1234 --fqdn smdp.example.test
    printf '  order B (bound to EID %s): ' "$EID"
    $BIN/smdp-admin --db "$DB" order create --operator operatorB ${EID:+--eid "$EID"} --fqdn smdp.example.test
    $BIN/smdp-admin --db "$DB" order list
fi

t1=$(date +%s%N)
printf '\ndemo finished in %d ms\n' $(( (t1 - t0) / 1000000 ))
