# shellcheck shell=bash
#
# JSON in bash without jq (hosts need not have it): string literals, flat objects written on one line,
# and the scalar members of such a line read back by key, whatever their order. Manifests
# (backup-manifest.sh) and watcher events (gpu-watch.sh) are written and read only through these.
# Bundled into the scripts that source it (lambda/tasks/scripts.ts); never run alone.

#######################################
# Sets the variable named by $1 to a JSON string literal (quotes included) for arbitrary bytes $2:
# quote, backslash and control characters are escaped; other bytes pass through (callers keep
# non-UTF-8 names base64-encoded too). No subshell: a manifest line per unit costs no process.
#######################################
json_string_to() {
  local s="$2" code char
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  if [[ "${s}" == *[$'\x01'-$'\x1f\x7f']* ]]; then
    s="${s//$'\n'/\\n}"
    s="${s//$'\t'/\\t}"
    s="${s//$'\r'/\\r}"
    for code in {1..31} 127; do
      printf -v char '%b' "\\x$(printf '%02x' "${code}")"
      [[ "${s}" == *"${char}"* ]] && s="${s//"${char}"/\\u$(printf '%04x' "${code}")}"
    done
  fi
  printf -v "$1" '"%s"' "${s}"
}

# Prints a JSON string literal for arbitrary bytes (see json_string_to). Arguments: the text.
json_string() {
  local literal
  json_string_to literal "$1"
  printf '%s' "${literal}"
}

readonly BASE64_ALPHABET='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

#######################################
# Sets the variable named by $1 to the base64 of the bytes of $2 (as `base64 -w0`), without a process.
#######################################
base64_to() {
  local LC_ALL=C
  local s="$2" out="" i n="${#2}" b0 b1 b2 v
  for ((i = 0; i < n; i += 3)); do
    printf -v b0 '%d' "'${s:i:1}"
    b1=0 b2=0
    ((i + 1 < n)) && printf -v b1 '%d' "'${s:i+1:1}"
    ((i + 2 < n)) && printf -v b2 '%d' "'${s:i+2:1}"
    v=$(((b0 << 16) | (b1 << 8) | b2))
    out+="${BASE64_ALPHABET:v>>18&63:1}${BASE64_ALPHABET:v>>12&63:1}"
    if ((i + 1 < n)); then out+="${BASE64_ALPHABET:v>>6&63:1}"; else out+="="; fi
    if ((i + 2 < n)); then out+="${BASE64_ALPHABET:v&63:1}"; else out+="="; fi
  done
  printf -v "$1" '%s' "${out}"
}

#######################################
# Prints a flat JSON object on one line (no newline after it).
# Arguments: members in order: `key=text` (a string, escaped) or `key:=json` (a number, true, false or
#   an already encoded value, written as is).
#######################################
json_object() {
  local member key out="{" sep=""
  for member in "$@"; do
    key="${member%%=*}"
    if [[ "${key}" == *: ]]; then
      out+="${sep}\"${key%:}\":${member#*=}"
    else
      out+="${sep}\"${key}\":$(json_string "${member#*=}")"
    fi
    sep=","
  done
  printf '%s}' "${out}"
}

#######################################
# awk functions that read the scalar members of the JSON object starting a line, whatever their
# order, in one process for a whole file (bash regexes cost about 1.6 ms a line).
# json_members(line, out): fills out[key] with each member's value (strings without their quotes,
#   escapes as written; a value that may hold one is better stored base64-encoded too, as manifests do
#   with paths); the first of repeated keys wins; reading stops at the first member whose value is an
#   array or object (a manifest's header line ends in `"units":[`). Returns 0 when the line does not
#   start with an object.
# json_hex64(v): 1 when v is 64 lowercase hex digits (no {n} intervals: mawk lacks them).
#######################################
# shellcheck disable=SC2016,SC2034 # awk functions (their $ are awk's), used by the scripts sourcing this
readonly JSON_MEMBERS_AWK='
function json_members(line, out,    key) {
  split("", out)
  if (!match(line, /^[[:space:]]*[{]/)) return 0
  line = substr(line, RLENGTH + 1)
  while (match(line, /^[[:space:]]*,?[[:space:]]*"[^"\\]+"[[:space:]]*:[[:space:]]*/)) {
    key = substr(line, 1, RLENGTH)
    line = substr(line, RLENGTH + 1)
    sub(/^[[:space:]]*,?[[:space:]]*"/, "", key)
    sub(/"[[:space:]]*:[[:space:]]*$/, "", key)
    if (match(line, /^"([^"\\]|\\.)*"/)) {
      if (!(key in out)) out[key] = substr(line, 2, RLENGTH - 2)
    } else if (match(line, /^(-?[0-9][0-9.eE+-]*|true|false|null)/)) {
      if (!(key in out)) out[key] = substr(line, 1, RLENGTH)
    } else {
      break
    }
    line = substr(line, RLENGTH + 1)
  }
  return 1
}
function json_hex64(v) {
  return length(v) == 64 && v ~ /^[0-9a-f]+$/
}
'
