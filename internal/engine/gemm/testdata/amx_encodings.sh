#!/bin/sh
# Regenerates amx_encodings.golden from amx_encodings.S with GNU as and
# objdump (binutils 2.40 or later know the AMX mnemonics): one line per
# instruction, its bytes in hex, a tab, and objdump's reading of it.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --64 amx_encodings.S -o "$tmp/enc.o"
objdump -d -w "$tmp/enc.o" |
	awk -F'\t' '/^ +[0-9a-f]+:\t/ { gsub(/ +$/, "", $2); gsub(/ /, "", $2); print $2 "\t" $3 }' >amx_encodings.golden
