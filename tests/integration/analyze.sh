#!/usr/bin/env bash
# sipvault-server --analyze: every tests/data/analyze/in/NAME.json[.gz] must
# give a valid quality.json equal to expected/NAME.json (numbers within 1e-3;
# the expected diagnostic texts are substrings that must occur, "" = empty),
# and every missing or malformed input must give exit status 2 with exactly
# one stderr line naming the file.
set -euo pipefail
bin="${SV_BIN_DIR:?}/sipvault-server"
data="${SV_SOURCE_DIR:?}/tests/data/analyze"
[ -x "$bin" ] || { echo "analyze: $bin not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "analyze: python3 is required" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sv-analyze.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

compare_py="$tmp/compare.py"
cat >"$compare_py" <<'PY'
import json, sys

def cmp(e, a, path="$"):
    if path in ("$.diagnostic.probable_cause", "$.diagnostic.recommendation"):
        if not isinstance(a, str):
            return [f"{path}: not a string"]
        ok = (e == "" and a == "") or (e != "" and e.lower() in a.lower())
        want = "empty" if e == "" else "to contain " + repr(e)
        return [] if ok else [f"{path}: expected {want}, got {a!r}"]
    if isinstance(e, dict):
        if not isinstance(a, dict) or list(e) != list(a):
            return [f"{path}: keys {list(e)} != {list(a) if isinstance(a, dict) else a!r}"]
        return [x for k in e for x in cmp(e[k], a[k], path + "." + k)]
    if isinstance(e, list):
        if not isinstance(a, list) or len(e) != len(a):
            return [f"{path}: expected {len(e)} items"]
        return [x for i in range(len(e)) for x in cmp(e[i], a[i], f"{path}[{i}]")]
    if e is None or isinstance(e, (bool, str)):
        return [] if e == a and type(e) == type(a) else [f"{path}: expected {e!r}, got {a!r}"]
    if isinstance(a, bool) or not isinstance(a, (int, float)) or abs(e - a) > 1e-3:
        return [f"{path}: expected {e!r}, got {a!r}"]
    return []

expected = json.load(open(sys.argv[1]))
with open(sys.argv[2]) as f:
    actual = json.load(f)  # fails (non-zero exit) when stdout is not valid JSON
errors = cmp(expected, actual)
for line in errors:
    print(line, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

fail=0
count=0
for input in "$data"/in/*.json "$data"/in/*.json.gz; do
	[ -e "$input" ] || continue
	name=$(basename "$input")
	name=${name%.gz}
	name=${name%.json}
	expected="$data/expected/$name.json"
	[ -f "$expected" ] || { echo "FAIL $name: no $expected" >&2; fail=1; continue; }
	count=$((count + 1))
	if ! "$bin" --analyze "$input" >"$tmp/out.json" 2>"$tmp/err"; then
		echo "FAIL $name: exit status $? ($(cat "$tmp/err"))" >&2
		fail=1
		continue
	fi
	if [ -s "$tmp/err" ]; then
		echo "FAIL $name: unexpected stderr: $(cat "$tmp/err")" >&2
		fail=1
	fi
	if python3 "$compare_py" "$expected" "$tmp/out.json"; then
		echo "ok   $name"
	else
		echo "FAIL $name" >&2
		fail=1
	fi
done
[ "$count" -ge 8 ] || { echo "FAIL: only $count analyze inputs found" >&2; fail=1; }

# The bundled demo sample is analysed the same way as its test copy.
"$bin" --analyze "$SV_SOURCE_DIR/etc/sample/rtcp.json" >"$tmp/sample.json"
python3 "$compare_py" "$data/expected/sample.json" "$tmp/sample.json" || fail=1

# Missing or malformed inputs: exit 2, one line on stderr naming the file.
expect_usage_error() { # path, substring the message must contain
	local path=$1 want=$2 rc=0
	"$bin" --analyze "$path" >"$tmp/out" 2>"$tmp/err" || rc=$?
	local lines
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$path" "$tmp/err" ||
		! grep -qF -- "$want" "$tmp/err" || [ -s "$tmp/out" ]; then
		echo "FAIL $path: rc=$rc, want 2 and one line with '$want'; stderr: $(cat "$tmp/err")" >&2
		fail=1
	else
		echo "ok   $(basename "$path") -> $(cat "$tmp/err")"
	fi
}
expect_usage_error "$tmp/does-not-exist.json" "No such file"
expect_usage_error "$tmp" "not a regular file"
expect_usage_error "$data/bad/not_json.json" "invalid JSON at line 1"
expect_usage_error "$data/bad/empty.json" "invalid JSON"
expect_usage_error "$data/bad/top_array.json" "expected a JSON object"
expect_usage_error "$data/bad/wrong_type.json" "reports[1].blocks[0].jitter"
expect_usage_error "$data/bad/bad_direction.json" "reports[0].direction"
expect_usage_error "$data/bad/bad_summary_time.json" "summary.started_at"
expect_usage_error "$data/bad/truncated.json.gz" "truncated"

exit $fail
