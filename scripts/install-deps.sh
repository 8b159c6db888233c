#!/usr/bin/env bash
# Install every package SIP VAULT needs to build, test and demo, from Debian's
# repositories. Idempotent: packages already present are not touched, and apt is
# only consulted when something is missing. Runs as root, or through sudo.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang llvm libclang-rt-14-dev
	clang-format
	libpcap-dev libbpf-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
	libjansson-dev libinih-dev libyaml-dev libevent-dev
	libcmocka-dev libexpat1-dev
	tshark python3 curl
	python3-swift memcached python3-botocore python3-boto3
	sip-tester tcpreplay
	nginx wrk php-cli nodejs
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
		exit 1
	fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
