#!/usr/bin/env bash
# Command lines and configuration handling of the four programs: --help,
# --version, --check on every example in etc/, broken configurations (exit 2
# with one line naming file:line and key) and unknown flags (exit 2).
set -euo pipefail

: "${SV_BIN_DIR:?SV_BIN_DIR is not set (run through ctest)}"
: "${SV_SOURCE_DIR:?SV_SOURCE_DIR is not set (run through ctest)}"
ETC=$SV_SOURCE_DIR/etc
TMP=$(mktemp -d /tmp/svconfig.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

for p in agent server api retention; do
	[ -x "$SV_BIN_DIR/sipvault-$p" ] || { echo "FAIL: $SV_BIN_DIR/sipvault-$p missing" >&2; exit 1; }
done

# run NAME EXPECTED_STATUS CMD... : runs with a clean environment, keeps stdout/stderr.
run() {
	local name=$1 want=$2
	shift 2
	local st=0
	env -i PATH=/usr/bin:/bin "$@" >"$TMP/out" 2>"$TMP/err" || st=$?
	if [ "$st" -ne "$want" ]; then
		fail "$name: exit $st, wanted $want; stderr: $(head -c 500 "$TMP/err")"
		return 1
	fi
	return 0
}

# expect_err NAME PATTERN... : stderr is exactly one line holding every pattern.
expect_err() {
	local name=$1
	shift
	local lines
	lines=$(wc -l <"$TMP/err")
	if [ "$lines" -ne 1 ]; then
		fail "$name: stderr has $lines lines, wanted 1: $(cat "$TMP/err")"
		return
	fi
	for pat in "$@"; do
		grep -qF -- "$pat" "$TMP/err" || fail "$name: stderr lacks '$pat': $(cat "$TMP/err")"
	done
}

# --help and --version of every program.
for p in agent server api retention; do
	bin=$SV_BIN_DIR/sipvault-$p
	run "$p --help" 0 "$bin" --help && grep -q "usage: sipvault-$p" "$TMP/out" ||
		fail "$p --help: no usage line"
	run "$p --version" 0 "$bin" --version && grep -Eq "^sipvault-$p [0-9]+\.[0-9]+" "$TMP/out" ||
		fail "$p --version: no version"
	run "$p --bogus" 2 "$bin" --bogus && [ -s "$TMP/err" ] || fail "$p --bogus: no message"
	run "$p extra argument" 2 "$bin" stray || true
done
grep -q "rtp_port_min" < <("$SV_BIN_DIR/sipvault-agent" --help) || fail "agent --help lacks keys"
grep -q "SIPVAULT_PENDING_TIMEOUT" < <("$SV_BIN_DIR/sipvault-server" --help) ||
	fail "server --help lacks keys"

# --check on every example in etc/.
run "agent --check example" 0 "$SV_BIN_DIR/sipvault-agent" --check --config "$ETC/agent.conf" &&
	grep -q "configuration OK" "$TMP/out" || fail "agent --check: no OK line"
run "server --check example" 0 "$SV_BIN_DIR/sipvault-server" --check --config "$ETC/server.conf" &&
	grep -q "configuration OK" "$TMP/out" || fail "server --check: no OK line"
run "api --check example" 0 "$SV_BIN_DIR/sipvault-api" --check --config "$ETC/api.env" &&
	grep -q "configuration OK" "$TMP/out" || fail "api --check: no OK line"
run "retention --check example" 0 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$ETC/retention.yml" --env-file "$ETC/server.env" &&
	grep -q "configuration OK" "$TMP/out" || fail "retention --check: no OK line"
run "retention flags" 0 "$SV_BIN_DIR/sipvault-retention" --check --config "$ETC/retention.yml" \
	--env-file "$ETC/server.env" --dry-run --now 2026-02-28 --customer demo || true

# Without --check a valid configuration reaches the runtime: a capture file that cannot be
# read is a runtime failure (exit 1), before anything else (such as the disk buffer) is touched.
run "agent runtime" 1 "$SV_BIN_DIR/sipvault-agent" --config "$ETC/agent.conf" \
	--read "$TMP/missing.pcap" || true
run "retention runtime" 1 "$SV_BIN_DIR/sipvault-retention" --config "$ETC/retention.yml" \
	--env-file "$ETC/server.env" --dry-run || true

# The server and the API: environment only (missing default file), env beats file.
CUST='[{"id":"acme","token":"t","bucket":"acme-calls"}]'
run "server env only" 0 "SIPVAULT_CUSTOMERS=$CUST" "$SV_BIN_DIR/sipvault-server" --check || true
run "server env wins" 0 SIPVAULT_LOG_LEVEL=debug "$SV_BIN_DIR/sipvault-server" --check \
	--config "$ETC/server.conf" || true
run "server env bad" 2 SIPVAULT_PENDING_TIMEOUT=0 "$SV_BIN_DIR/sipvault-server" --check \
	--config "$ETC/server.conf" &&
	expect_err "server env bad" "environment variable SIPVAULT_PENDING_TIMEOUT" "must be 1..86400"
run "server no customers" 2 "$SV_BIN_DIR/sipvault-server" --check &&
	expect_err "server no customers" "SIPVAULT_CUSTOMERS: required"
run "server missing file" 2 "$SV_BIN_DIR/sipvault-server" --check --config "$TMP/nope.conf" &&
	expect_err "server missing file" "$TMP/nope.conf: cannot read"

# Broken configuration of each kind: exit 2, one line with file:line and key.
sed 's/^rtp_port_min = 10000$/rtp_port_min = 70000/' "$ETC/agent.conf" >"$TMP/agent-range.conf"
line=$(grep -n '^rtp_port_min = 70000$' "$TMP/agent-range.conf" | cut -d: -f1)
[ -n "$line" ] || fail "could not break agent.conf"
run "agent out of range" 2 "$SV_BIN_DIR/sipvault-agent" --check --config "$TMP/agent-range.conf" &&
	expect_err "agent out of range" "$TMP/agent-range.conf:$line:" "[capture] rtp_port_min" \
		'must be 1..65535, got "70000"'
printf '[server]\naddress = h:1\ncustomer_id = a\ntoken = t\n[capture]\nsnaplen = 9\n' >"$TMP/agent-key.conf"
run "agent unknown key" 2 "$SV_BIN_DIR/sipvault-agent" --check --config "$TMP/agent-key.conf" &&
	expect_err "agent unknown key" "$TMP/agent-key.conf:6:" "snaplen" "unknown key"
run "agent missing file" 2 "$SV_BIN_DIR/sipvault-agent" --check --config "$TMP/none.conf" &&
	expect_err "agent missing file" "$TMP/none.conf"

sed 's/"SIPVAULT_LOG_FLUSH": 60/"SIPVAULT_LOG_FLUSH": 0/' "$ETC/server.conf" >"$TMP/server-range.conf"
line=$(grep -n '"SIPVAULT_LOG_FLUSH": 0' "$TMP/server-range.conf" | cut -d: -f1)
run "server out of range" 2 "$SV_BIN_DIR/sipvault-server" --check --config "$TMP/server-range.conf" &&
	expect_err "server out of range" "$TMP/server-range.conf:$line:" "SIPVAULT_LOG_FLUSH" "must be 1..3600"
sed 's/"SIPVAULT_LOG_LEVEL"/"SIPVAULT_LOGLEVEL"/' "$ETC/server.conf" >"$TMP/server-key.conf"
line=$(grep -n 'SIPVAULT_LOGLEVEL' "$TMP/server-key.conf" | cut -d: -f1)
run "server unknown key" 2 "$SV_BIN_DIR/sipvault-server" --check --config "$TMP/server-key.conf" &&
	expect_err "server unknown key" "$TMP/server-key.conf:$line:" "SIPVAULT_LOGLEVEL" "unknown key"
sed 's/"demo-calls"/"Demo_Calls"/' "$ETC/server.conf" >"$TMP/server-bucket.conf"
run "server bad bucket" 2 "$SV_BIN_DIR/sipvault-server" --check --config "$TMP/server-bucket.conf" &&
	expect_err "server bad bucket" "$TMP/server-bucket.conf:" "SIPVAULT_CUSTOMERS" "bucket"
printf '{\n  "SIPVAULT_LOG_LEVEL": "info",\n  oops\n}\n' >"$TMP/server-syntax.conf"
run "server bad JSON" 2 "$SV_BIN_DIR/sipvault-server" --check --config "$TMP/server-syntax.conf" &&
	expect_err "server bad JSON" "$TMP/server-syntax.conf:3:" "invalid JSON"

sed 's/^SIPVAULT_HMAC_MAX_AGE=3600$/SIPVAULT_HMAC_MAX_AGE=soon/' "$ETC/api.env" >"$TMP/api.env"
line=$(grep -n '^SIPVAULT_HMAC_MAX_AGE=soon$' "$TMP/api.env" | cut -d: -f1)
[ -n "$line" ] || fail "could not break api.env"
run "api bad value" 2 "$SV_BIN_DIR/sipvault-api" --check --config "$TMP/api.env" &&
	expect_err "api bad value" "$TMP/api.env:$line:" "SIPVAULT_HMAC_MAX_AGE" '"soon"'
run "api missing secret" 2 "SIPVAULT_CUSTOMERS=$CUST" "$SV_BIN_DIR/sipvault-api" --check &&
	expect_err "api missing secret" "SIPVAULT_HMAC_SECRET: required"

sed 's/^  log_chunks_days: 14 .*$/  log_chunks_days: 0/' "$ETC/retention.yml" >"$TMP/retention.yml"
line=$(grep -n '^  log_chunks_days: 0$' "$TMP/retention.yml" | cut -d: -f1)
[ -n "$line" ] || fail "could not break retention.yml"
run "retention out of range" 2 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$TMP/retention.yml" --env-file "$ETC/server.env" &&
	expect_err "retention out of range" "$TMP/retention.yml:$line:" "default: log_chunks_days" \
		"must be 1..36500"
printf 'default:\n  sip_pcap_days: 9\nkeep: 3\n' >"$TMP/ret-key.yml"
run "retention unknown key" 2 "$SV_BIN_DIR/sipvault-retention" --check --config "$TMP/ret-key.yml" \
	--env-file "$ETC/server.env" &&
	expect_err "retention unknown key" "$TMP/ret-key.yml:3:" '"keep"' "unknown key"
printf 'customers:\n  nobody:\n    sip_pcap_days: 3\n' >"$TMP/ret-cust.yml"
run "retention unknown customer" 2 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$TMP/ret-cust.yml" --env-file "$ETC/server.env" &&
	expect_err "retention unknown customer" "$TMP/ret-cust.yml:2:" "nobody" "not in SIPVAULT_CUSTOMERS"
printf 'SIPVAULT_LOG_LEVEL=info\nSIPVAULT_LISTEN_TCP=9060\n' >"$TMP/bad.env"
run "retention bad env file" 2 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$ETC/retention.yml" --env-file "$TMP/bad.env" &&
	expect_err "retention bad env file" "$TMP/bad.env:2:" "SIPVAULT_LISTEN_TCP"
run "retention bad --now" 2 "$SV_BIN_DIR/sipvault-retention" --check --config "$ETC/retention.yml" \
	--env-file "$ETC/server.env" --now 2026-02-30 && expect_err "retention bad --now" "--now"
run "retention unknown --customer" 2 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$ETC/retention.yml" --env-file "$ETC/server.env" --customer ghost &&
	expect_err "retention unknown --customer" "ghost"

# ---- The configuration guide's own examples, verbatim, pass --check.
cat >"$TMP/guide-server.env" <<'EOF'
SIPVAULT_LISTEN_TCP=:9060
SIPVAULT_LISTEN_HEP=:9060
SIPVAULT_S3_ENDPOINT=https://abcdef1234567890.r2.cloudflarestorage.com
SIPVAULT_S3_REGION=auto
SIPVAULT_S3_ACCESS_KEY=your_r2_access_key
SIPVAULT_S3_SECRET_KEY=your_r2_secret_key
SIPVAULT_CUSTOMERS=[{"id":"acme","token":"securetoken123","bucket":"sipvault-acme-us"}]
SIPVAULT_LOG_LEVEL=info
EOF
cat >"$TMP/guide-retention.yml" <<'EOF'
# /etc/sipvault/retention.yml
# Run nightly via cron: 0 3 * * * /usr/local/bin/sipvault-retention

default:
  sip_pcap_days: 7
  rtcp_raw_days: 7
  quality_json_days: 30
  log_chunks_days: 14

customers:
  # Per-customer overrides using the customer ID as key
  acme:
    sip_pcap_days: 30
    rtcp_raw_days: 30
    quality_json_days: 365
    log_chunks_days: 90
EOF
cat >"$TMP/guide-api.env" <<'EOF'
SIPVAULT_S3_ENDPOINT=https://abcdef1234567890.r2.cloudflarestorage.com
SIPVAULT_S3_REGION=auto
SIPVAULT_HMAC_SECRET=YOUR_HMAC_SECRET_HERE
SIPVAULT_HMAC_MAX_AGE=3600
SIPPULSE_API_URL=https://api.sippulse.ai/v1
SIPPULSE_API_KEY=your_sippulse_ai_key
SIPPULSE_AI_MODEL=glm-4.7
ANTHROPIC_API_KEY=your_anthropic_key
AWS_ACCESS_KEY_ID=your_r2_read_access_key
AWS_SECRET_ACCESS_KEY=your_r2_read_secret_key
EOF
cat >"$TMP/guide-agent.conf" <<'EOF'
[server]
address = 10.0.0.1:9060
customer_id = acme
token = securetoken123

[capture]
mode = pcap
sip_ports = 5060
interface = eth0
log_file = /var/log/opensips.log
rtp_port_min = 10000
rtp_port_max = 30000

[buffer]
path = /var/lib/sipvault/buffer.dat
max_size = 104857600

[logging]
level = info
EOF
run "guide retention.yml" 0 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$TMP/guide-retention.yml" --env-file "$TMP/guide-server.env" &&
	grep -q "configuration OK (1 customers)" "$TMP/out" || fail "guide retention.yml: no OK line"
mapfile -t guide_env < <(grep -v '^#' "$TMP/guide-server.env")
run "guide server.env" 0 "${guide_env[@]}" "$SV_BIN_DIR/sipvault-server" --check || true
run "guide agent.conf" 0 "$SV_BIN_DIR/sipvault-agent" --check --config "$TMP/guide-agent.conf" ||
	true
# The API: the guide's api.env has no SIPVAULT_CUSTOMERS; it comes from the
# environment, or from the server's env file (SIPVAULT_SERVER_ENV).
run "guide api.env, customers from the server's env file" 0 \
	SIPVAULT_SERVER_ENV="$TMP/guide-server.env" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/guide-api.env" &&
	grep -q "configuration OK (1 customers, AI provider sippulse)" "$TMP/out" ||
	fail "guide api.env: no OK line"
run "guide api.env, customers from the environment" 0 "SIPVAULT_CUSTOMERS=$CUST" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/guide-api.env" || true
run "guide api.env, named server env file missing" 2 SIPVAULT_SERVER_ENV="$TMP/none.env" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/guide-api.env" &&
	expect_err "api no customers" "$TMP/none.env: cannot read"
if [ ! -e /etc/sipvault/server.env ]; then
	run "guide api.env, no customers anywhere" 2 \
		"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/guide-api.env" &&
		expect_err "api no customers (default)" "SIPVAULT_CUSTOMERS: required"
fi

# A retention file that leaves keys out takes the guide's defaults (7, 7, 30, 14).
printf 'customers:\n  acme:\n    sip_pcap_days: 30\n' >"$TMP/ret-partial.yml"
run "retention missing keys" 0 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$TMP/ret-partial.yml" --env-file "$TMP/guide-server.env" || true
: >"$TMP/ret-empty.yml"
run "retention empty file" 0 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$TMP/ret-empty.yml" --env-file "$TMP/guide-server.env" || true
"$SV_BIN_DIR/sipvault-retention" --help | grep -q "quality_json_days: 30" ||
	fail "retention --help lacks the guide's defaults"
# The old format is refused, naming the guide's keys.
printf 'defaults:\n  sip: 9\n' >"$TMP/ret-old.yml"
run "retention old format" 2 "$SV_BIN_DIR/sipvault-retention" --check \
	--config "$TMP/ret-old.yml" --env-file "$TMP/guide-server.env" &&
	expect_err "retention old format" "$TMP/ret-old.yml:1:" '"defaults": unknown key' \
		"expected default, customers"

# The API: the environment beats api.env (a bad value in the environment is the
# one reported; a good one in the environment hides a bad one in the file).
run "api env beats file (bad env)" 2 SIPVAULT_HMAC_MAX_AGE=never "SIPVAULT_CUSTOMERS=$CUST" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/guide-api.env" &&
	expect_err "api env beats file (bad env)" "environment variable SIPVAULT_HMAC_MAX_AGE" \
		'"never"'
sed 's/^SIPVAULT_HMAC_MAX_AGE=3600$/SIPVAULT_HMAC_MAX_AGE=never/' "$TMP/guide-api.env" \
	>"$TMP/api-bad.env"
run "api bad file value" 2 "SIPVAULT_CUSTOMERS=$CUST" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/api-bad.env" &&
	expect_err "api bad file value" "$TMP/api-bad.env:4:" "SIPVAULT_HMAC_MAX_AGE"
run "api env beats file (good env)" 0 SIPVAULT_HMAC_MAX_AGE=60 "SIPVAULT_CUSTOMERS=$CUST" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/api-bad.env" || true
run "api env beats file (provider)" 0 SIPVAULT_AI_PROVIDER=anthropic "SIPVAULT_CUSTOMERS=$CUST" \
	"$SV_BIN_DIR/sipvault-api" --check --config "$TMP/guide-api.env" &&
	grep -q "AI provider anthropic" "$TMP/out" ||
	fail "api: SIPVAULT_AI_PROVIDER from the environment ignored"

if [ "$failures" -ne 0 ]; then
	echo "config.sh: $failures failure(s)" >&2
	exit 1
fi
echo "config.sh: all checks passed"
