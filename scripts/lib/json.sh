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

# A JSON string literal (its escapes kept) or a bare scalar, as bash regexes.
readonly JSON_STRING_RE='^"(([^"\\]|\\.)*)"'
readonly JSON_SCALAR_RE='^(-?[0-9][0-9.eE+-]*|true|false|null)'

#######################################
# Reads scalar members of the JSON object that starts a line, whatever their order; reading stops at
# the first member whose value is an array or object (a manifest's header line ends in `"units":[`).
# Strings come without their quotes, escapes as written (a value that may hold one is better stored
# base64-encoded too, as manifests do with paths).
# Arguments: the name of an array to fill with the values, in the order asked; the line; the keys.
# Returns: 1 when the line does not start with an object or a key is missing.
#######################################
json_read() {
  local -n json_values_out="$1"
  local rest="$2" key value
  shift 2
  local -A json_members=()
  json_values_out=()
  [[ "${rest}" =~ ^[[:space:]]*\{ ]] || return 1
  rest="${rest#"${BASH_REMATCH[0]}"}"
  while [[ "${rest}" =~ ^[[:space:]]*,?[[:space:]]*\"([^\"\\]+)\"[[:space:]]*:[[:space:]]* ]]; do
    key="${BASH_REMATCH[1]}"
    rest="${rest#"${BASH_REMATCH[0]}"}"
    if [[ "${rest}" =~ ${JSON_STRING_RE} ]]; then
      value="${BASH_REMATCH[1]}"
    elif [[ "${rest}" =~ ${JSON_SCALAR_RE} ]]; then
      value="${BASH_REMATCH[1]}"
    else
      break
    fi
    rest="${rest#"${BASH_REMATCH[0]}"}"
    [[ -n "${json_members[${key}]+x}" ]] || json_members["${key}"]="${value}"
  done
  for key in "$@"; do
    [[ -n "${json_members[${key}]+x}" ]] || return 1
    json_values_out+=("${json_members[${key}]}")
  done
}

#######################################
# json_read for one line of output: the values tab-separated, in the order asked.
# Arguments: the line, then the keys.
#######################################
json_get() {
  local -a values=()
  json_read values "$@" || return 1
  local IFS=$'\t'
  printf '%s\n' "${values[*]}"
}
