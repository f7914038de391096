#!/bin/sh
# asn1c 0.9.28 bug: each generated X_inherit_TYPE_descriptor() copies the
# base type's check_constraints into asn_DEF_X on first use, so a named
# constrained type (Octet16, TransactionId, Iccid, VersionType, UInt8...)
# stops checking its constraints after its first decode/encode/free.
# Drop that one assignment so the type keeps its own checker.
# Usage: fix-inherit.sh GENERATED_DIR
set -eu
cd "$1"
for f in $(grep -l '_inherit_TYPE_descriptor(asn_TYPE_descriptor_t \*td) {' ./*.c); do
    awk '/_inherit_TYPE_descriptor\(asn_TYPE_descriptor_t \*td\) \{/ { i = 1 }
         i && /^}/ { i = 0 }
         !(i && /td->check_constraints = /)' "$f" > "$f.new"
    mv "$f.new" "$f"
done
