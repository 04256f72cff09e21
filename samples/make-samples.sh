#!/usr/bin/env bash
# Regenerates the sample certificates with fixed validity dates (openssl ca -selfsign, because
# `openssl req -x509` in OpenSSL 3.0 can only count days from now). The samples are committed;
# run this only to change them, then update samples/README.md.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/index.txt"
cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = sample
[ sample ]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ exchange ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
[ transport ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:EXCH01, DNS:exch01.contoso.lab
subjectKeyIdentifier = hash
CNF

# self_signed NAME CN START END EXTENSIONS -> $work/NAME.key, $work/NAME.pem
self_signed() {
  local name=$1 cn=$2 start=$3 end=$4 extensions=$5
  openssl rand -hex 16 > "$work/serial"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$work/$name.key" -subj "/CN=$cn" \
    -out "$work/$name.csr" 2>/dev/null
  openssl ca -batch -selfsign -config "$work/ca.cnf" -keyfile "$work/$name.key" \
    -in "$work/$name.csr" -startdate "$start" -enddate "$end" -extensions "$extensions" \
    -notext -out "$work/$name.pem" 2>/dev/null
}

self_signed auth "Microsoft Exchange Server Auth Certificate" 20260115120000Z 20310115120000Z exchange
self_signed transport EXCH01 20211220090000Z 20261220090000Z transport
self_signed wmsvc WMSvc-SHA2-EXCH01 20161001080000Z 20261001080000Z exchange

cp "$work/auth.pem" auth-certificate.pem
openssl x509 -in "$work/transport.pem" -outform DER -out exch01-transport.cer
cp "$work/wmsvc.pem" exch01-wmsvc-expired.pem
printf 'sample\n' > auth-certificate.pfx.password
openssl pkcs12 -export -in "$work/auth.pem" -inkey "$work/auth.key" -passout pass:sample \
  -name "Microsoft Exchange Server Auth Certificate" -out auth-certificate.pfx
for f in auth-certificate.pem exch01-transport.cer exch01-wmsvc-expired.pem; do
  printf '%s: ' "$f"; openssl x509 -in "$f" -inform "$( [ "${f##*.}" = cer ] && echo DER || echo PEM )" -noout -enddate -fingerprint -sha1
done
