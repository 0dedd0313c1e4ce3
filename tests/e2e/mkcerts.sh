#!/bin/sh
# Make the TLS material of the end-to-end tests in DIR (made if missing):
#
#   ca.pem ca.key           the test CA
#   server.pem server.key   for 127.0.0.1, ::1 and localhost (serverAuth)
#   client.pem client.key   CN=rr-client, signed by the CA (clientAuth)
#   serveronly.pem .key     signed by the CA, but for servers only
#   other-ca.pem            another CA
#   rogue.pem rogue.key     CN=rr-rogue, signed by the other CA (clientAuth)
#
# EC P-256 keys, valid for 2 days, nothing asked.  Keys are mode 0600.
set -eu

dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1.key" 2>/dev/null
}

# ca NAME CN
ca() {
	key "$1"
	openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 \
		-subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

# leaf NAME CN ISSUER EXTENSIONS
leaf() {
	key "$1"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
	printf '%s\n' "$4" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" \
		-CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" \
		2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

ca ca "rumprund test CA"
ca other-ca "another CA"
leaf server localhost ca "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client rr-client ca "extendedKeyUsage=clientAuth"
leaf serveronly rr-serveronly ca "extendedKeyUsage=serverAuth"
leaf rogue rr-rogue other-ca "extendedKeyUsage=clientAuth"
chmod 0644 ./*.pem
