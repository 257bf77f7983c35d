# shellcheck shell=bash
#
# S3 requests of the backup store sent by curl and signed by it with AWS Signature Version 4
# (`--aws-sigv4`): list, get, put of a file, put of a folder of files in one process, and a streamed
# multipart upload. A request costs about 10 ms of process start where an AWS CLI process costs
# 0.3-0.5 s before its first byte. Used when curl can sign for this run (s3h_init): credentials from
# the environment or the instance profile (IMDS), a known region, the standard endpoint or a
# configured one; the first requests (s3h_probe) prove the signature, else the store keeps the AWS CLI.
# Also STS GetCallerIdentity (s3h_caller_user_id), for the aws-userid host key.
# Needs common.sh (log, env_str, env_int, imds_get, on_exit). Bundled into each script; never run alone.
#
# AWS facts this relies on:
# - Header-based SigV4 for S3 needs `x-amz-content-sha256`; `UNSIGNED-PAYLOAD` is valid for any request
#   and leaves the body unhashed (TLS protects it in transit; a restore checks every archive's sha256).
#   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
# - Canonical URI: each key segment URI-encoded, everything but A-Z a-z 0-9 - _ . ~ and `/`.
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
# - Temporary credentials add `x-amz-security-token` to the request.
#   https://docs.aws.amazon.com/AmazonS3/latest/API/RESTAuthentication.html#UsingTemporarySecurityCredentials
# - Multipart: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 parts; a
#   CompleteMultipartUpload can answer 200 with an <Error> body, which is a failure.
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
# - Instance profile credentials: IMDS `iam/security-credentials/<role>` (AccessKeyId,
#   SecretAccessKey, Token, Expiration), renewed by EC2 well before they expire.
#   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html#instance-metadata-security-credentials

# curl's config file for this run (mode 0600): the credentials never appear on a command line.
S3H_DIR=""
S3H_CONFIG=""
# URL of the bucket (no trailing slash): https://<bucket>.s3.<region>.amazonaws.com or <endpoint>/<bucket>.
S3H_BUCKET_URL=""
S3H_REGION=""
S3H_ENDPOINT=""
S3H_BUCKET=""
# Epoch seconds at which instance-profile credentials are fetched again (0: from the environment).
S3H_RENEW_AT=0
# curl options of every request: connect timeout, silent-peer cut-off, retries of transient errors.
S3H_OPTS=()
# Attempts of one request (AWS_MAX_ATTEMPTS, as the AWS CLI reads it).
S3H_ATTEMPTS=3
# Why curl cannot be used (set when s3h_init fails).
S3H_WHY=""
# Concurrent part uploads of one streamed object.
readonly S3H_PART_JOBS=4
readonly S3H_MIN_PART_BYTES=$((16 * 1024 * 1024))
# Keys a listing page asks for (S3 answers at most 1,000).
S3H_LIST_MAX_KEYS=1000

#######################################
# Decides whether curl can sign this run's requests, and prepares it (s3h_probe then proves it).
# Arguments: bucket, endpoint URL (empty: AWS's), read timeout in seconds, folder for curl's config and
#   answers (made, mode 0700).
# Returns: non-zero with S3H_WHY set when the AWS CLI must be used instead.
#######################################
s3h_init() {
  local bucket="$1" endpoint="$2" read_timeout_s="$3" version attempts
  S3H_BUCKET="${bucket}" S3H_ENDPOINT="${endpoint%/}" S3H_WHY=""
  command -v curl >/dev/null 2>&1 || { S3H_WHY="curl is not installed" && return 1; }
  version="$(timeout -k 2 10 curl --version 2>/dev/null)" || { S3H_WHY="curl --version failed" && return 1; }
  # --aws-sigv4 arrived in 7.75; whether this curl honours our x-amz-content-sha256 the probe shows.
  [[ "${version}" =~ ^curl\ ([0-9]+)\.([0-9]+) ]] || { S3H_WHY="curl's version is unknown" && return 1; }
  if ((BASH_REMATCH[1] < 7 || (BASH_REMATCH[1] == 7 && BASH_REMATCH[2] < 75))); then
    S3H_WHY="curl ${BASH_REMATCH[1]}.${BASH_REMATCH[2]} cannot sign requests (7.75 or later can)"
    return 1
  fi
  s3h_settings_supported || return 1
  s3h_region || return 1
  if [[ -n "${S3H_ENDPOINT}" ]]; then
    S3H_BUCKET_URL="${S3H_ENDPOINT}/${bucket}"
  elif [[ "${bucket}" == *.* ]]; then
    # A dotted bucket name does not match the wildcard certificate of virtual-hosted endpoints.
    S3H_WHY="bucket name '${bucket}' has dots" && return 1
  else
    S3H_BUCKET_URL="https://${bucket}.s3.${S3H_REGION}.amazonaws.com"
  fi
  S3H_DIR="$4"
  (umask 077 && mkdir -p -- "${S3H_DIR}") || { S3H_WHY="cannot make ${S3H_DIR}" && return 1; }
  on_exit s3h_cleanup
  S3H_CONFIG="${S3H_DIR}/curl.conf"
  s3h_credentials || return 1
  env_int -v attempts AWS_MAX_ATTEMPTS 3 1 20
  S3H_ATTEMPTS="${attempts}"
  # --speed-time: a peer that sends nothing for the read timeout fails the request, as the CLI's
  # --cli-read-timeout does. --retry covers timeouts and 408/429/500/502/503/504.
  S3H_OPTS=(-sS --connect-timeout "$((read_timeout_s < 10 ? read_timeout_s : 10))" --speed-limit 1
    --speed-time "${read_timeout_s}" --retry "$((attempts - 1))" --retry-connrefused)
  [[ -z "${AWS_CA_BUNDLE:-}" ]] || S3H_OPTS+=(--cacert "${AWS_CA_BUNDLE}")
}

# True when nothing in the environment asks for something only the AWS CLI does (a named profile,
# other endpoints, a partition outside amazonaws.com); S3H_WHY says what otherwise.
s3h_settings_supported() {
  local name file
  for name in AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_WEB_IDENTITY_TOKEN_FILE; do
    [[ -z "${!name:-}" ]] || { S3H_WHY="${name} is set" && return 1; }
  done
  for name in AWS_USE_FIPS_ENDPOINT AWS_USE_DUALSTACK_ENDPOINT; do
    [[ "${!name:-false}" == false ]] || { S3H_WHY="${name} is set" && return 1; }
  done
  if [[ -z "${AWS_ACCESS_KEY_ID:-}" ]]; then
    # Credentials or a role named in the CLI's files come before the instance profile.
    for file in "${AWS_SHARED_CREDENTIALS_FILE:-${HOME:-/nonexistent}/.aws/credentials}" "${AWS_CONFIG_FILE:-${HOME:-/nonexistent}/.aws/config}"; do
      [[ -f "${file}" && -s "${file}" ]] || continue
      if grep -Eq '^[[:space:]]*(aws_access_key_id|role_arn|credential_process|sso_|credential_source|web_identity_token_file)' -- "${file}" 2>/dev/null; then
        S3H_WHY="${file} names credentials" && return 1
      fi
    done
  fi
  return 0
}

# Sets S3H_REGION: AWS_REGION, AWS_DEFAULT_REGION, this instance's region, or us-east-1 for a
# configured endpoint.
s3h_region() {
  S3H_REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
  [[ -n "${S3H_REGION}" ]] || S3H_REGION="$(imds_get placement/region 2>/dev/null)" || S3H_REGION=""
  [[ -n "${S3H_REGION}" || -z "${S3H_ENDPOINT}" ]] || S3H_REGION=us-east-1
  if [[ ! "${S3H_REGION}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
    S3H_WHY="region '${S3H_REGION}' is unknown" && return 1
  fi
  [[ -n "${S3H_ENDPOINT}" || "${S3H_REGION}" != cn-* ]] || { S3H_WHY="region ${S3H_REGION} is outside amazonaws.com" && return 1; }
}

#######################################
# Writes curl's config: credentials from the environment, else the instance profile's (renewed by
# s3h_renew before they expire).
#######################################
s3h_credentials() {
  local key secret token="" expires="" role json
  if [[ -n "${AWS_ACCESS_KEY_ID:-}" ]]; then
    [[ -n "${AWS_SECRET_ACCESS_KEY:-}" ]] || { S3H_WHY="AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY" && return 1; }
    key="${AWS_ACCESS_KEY_ID}" secret="${AWS_SECRET_ACCESS_KEY}" token="${AWS_SESSION_TOKEN:-}"
    S3H_RENEW_AT=0
  else
    [[ "${AWS_EC2_METADATA_DISABLED:-false}" != true ]] || { S3H_WHY="no credentials in the environment and AWS_EC2_METADATA_DISABLED" && return 1; }
    role="$(imds_get iam/security-credentials/ 2>/dev/null)" || role=""
    role="${role%%$'\n'*}"
    [[ -n "${role}" ]] || { S3H_WHY="no credentials in the environment and no instance profile" && return 1; }
    json="$(imds_get "iam/security-credentials/${role}" 2>/dev/null)" || json=""
    key="$(s3h_json_field AccessKeyId "${json}")" secret="$(s3h_json_field SecretAccessKey "${json}")"
    token="$(s3h_json_field Token "${json}")" expires="$(s3h_json_field Expiration "${json}")"
    [[ -n "${key}" && -n "${secret}" && -n "${token}" ]] || { S3H_WHY="the instance profile's credentials could not be read" && return 1; }
    # Fetched again 5 minutes before they expire (EC2 has the next ones by then), at most once a minute.
    local now expires_at
    expires_at="$(date -u -d "${expires}" +%s 2>/dev/null)" || expires_at=0
    printf -v now '%(%s)T' -1
    S3H_RENEW_AT=$((expires_at - 300 > now + 60 ? expires_at - 300 : now + 60))
  fi
  [[ "${key}${secret}${token}" != *[\"\\[:space:]]* ]] || { S3H_WHY="credentials hold characters curl's config cannot carry" && return 1; }
  # Part uploads renew in subshells of their own: each writes its own file before the rename.
  local tmp="${S3H_CONFIG}.${BASHPID}"
  (
    umask 077
    printf 'user = "%s:%s"\n' "${key}" "${secret}"
    [[ -z "${token}" ]] || printf 'header = "x-amz-security-token: %s"\n' "${token}"
  ) >"${tmp}" || { S3H_WHY="cannot write curl's config" && return 1; }
  mv -f -- "${tmp}" "${S3H_CONFIG}" || { S3H_WHY="cannot write curl's config" && return 1; }
}

# Prints a string field of a flat JSON object (the instance profile's credentials).
# Arguments: field name, JSON text.
s3h_json_field() {
  [[ ! "$2" =~ \"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]] || printf '%s' "${BASH_REMATCH[1]}"
}

# Fetches instance-profile credentials again when they are due (long runs outlive them).
s3h_renew() {
  local now
  ((S3H_RENEW_AT > 0)) || return 0
  printf -v now '%(%s)T' -1
  ((now >= S3H_RENEW_AT)) || return 0
  # shellcheck disable=SC2034 # imds_get's token (common.sh) may have expired too.
  IMDS_TOKEN=""
  s3h_credentials || log "warning: renewing the instance profile's credentials failed: ${S3H_WHY}"
  return 0
}

s3h_cleanup() {
  [[ -z "${S3H_DIR}" ]] || rm -rf -- "${S3H_DIR}"
  return 0
}

# Sets a variable to a key URI-encoded as SigV4 wants it (every byte but A-Z a-z 0-9 - _ . ~ and /).
# Arguments: variable name, key.
s3h_encode() {
  local -n out_="$1"
  local s="$2" i c
  if [[ "${s}" =~ ^[A-Za-z0-9._~/-]*$ ]]; then
    out_="${s}"
    return 0
  fi
  out_=""
  local LC_ALL=C
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "${c}" in
    [A-Za-z0-9._~/-]) out_+="${c}" ;;
    *) printf -v c '%%%02X' "'${c}" && out_+="${c}" ;;
    esac
  done
}

# Sets a variable to a query value encoded as SigV4 wants it: as s3h_encode, and `/` too. curl (7.88)
# signs the query as written, so callers also write parameters sorted by name and `name=` for an empty
# value, the canonical form (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
# Arguments: variable name, value.
s3h_query_value() {
  local -n q_out_="$1"
  s3h_encode q_out_ "$2"
  q_out_="${q_out_//\//%2F}"
}

# Sets an array to the command of a signed request, credentials renewed when due: curl under a
# deadline with the run's credentials and options, signing for a service (s3 with its payload header).
# Arguments: array name, service (s3 or sts), deadline.
s3h_command() {
  local -n cmd_="$1"
  s3h_renew
  cmd_=(timeout -k 10 "$3" curl -K "${S3H_CONFIG}" "${S3H_OPTS[@]}" --aws-sigv4 "aws:amz:${S3H_REGION}:$2")
  [[ "$2" != s3 ]] || cmd_+=(-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
}

# Runs curl signing for S3 (s3h_command). Arguments: deadline, curl arguments.
s3h_curl() {
  local -a cmd=()
  s3h_command cmd s3 "$1"
  shift
  "${cmd[@]}" "$@"
}

#######################################
# Prints the caller's IAM user id (`<role id>:<instance id>` for an instance role) from STS
# GetCallerIdentity at the regional endpoint (AWS_ENDPOINT_URL_STS when set), signed for sts with the
# form body hashed by curl. https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
# Arguments: deadline. Returns: non-zero when it could not be read (logged).
#######################################
s3h_caller_user_id() {
  local endpoint="${AWS_ENDPOINT_URL_STS:-https://sts.${S3H_REGION}.amazonaws.com}" status body="${S3H_DIR}/sts.$$.${BASHPID}"
  local -a cmd=()
  s3h_command cmd sts "$1"
  status="$("${cmd[@]}" --data 'Action=GetCallerIdentity&Version=2011-06-15' -o "${body}" -w '%{http_code}' \
    "${endpoint%/}/")" || status="${status:-000}"
  if [[ "${status}" != 200 || ! "$(<"${body}")" =~ \<UserId\>([^<]+)\</UserId\> ]]; then
    s3h_log_error "STS GetCallerIdentity at ${endpoint}" "${status}" "${body}"
    rm -f -- "${body}"
    return 1
  fi
  rm -f -- "${body}"
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# Logs a failed request: its HTTP status and S3's error code and message. Arguments: what, status, body file.
s3h_log_error() {
  local body="" code message=""
  code="$(s3h_error_code "$3")"
  [[ ! -f "$3" ]] || read -r -N 4096 body <"$3" || true
  [[ "${body}" =~ \<Message\>([^<]*)\</Message\> ]] && message="${BASH_REMATCH[1]}"
  log "error: $1 failed (HTTP ${2:-none}${code:+, ${code}}${message:+: ${message}})"
}

#######################################
# The first requests of a run, in one curl process: an empty listing of the host's own folder and a
# read of a key in it that does not exist (`.signature-check`), which its IAM policy allows. They
# carry what later requests carry (an encoded prefix in a query, an encoded key in a path). Success,
# NoSuchKey, NoSuchBucket or AccessDenied (S3 authorizes only a request whose signature it verified)
# show curl's signature is accepted; SignatureDoesNotMatch, RequestTimeTooSkewed, InvalidToken and the
# like do not (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). A 301 naming
# the bucket's region (x-amz-bucket-region) moves to that region once.
# Arguments: deadline, key prefix of the host's folder.
# Returns: non-zero with S3H_WHY set when a request was refused.
#######################################
s3h_probe() {
  local deadline_s="$1" query path out try region list_answer get_answer
  local headers="${S3H_DIR}/probe.h" list_body="${S3H_DIR}/probe-list.b" get_body="${S3H_DIR}/probe-get.b"
  local -a statuses=()
  s3h_query_value query "${2:-}"
  s3h_encode path "${2:-}.signature-check"
  for try in 1 2; do
    rm -f -- "${headers}" "${list_body}" "${get_body}"
    out="$(s3h_curl "${deadline_s}" -D "${headers}" -w '%{http_code}\n' \
      -o "${list_body}" "${S3H_BUCKET_URL}/?list-type=2&max-keys=0&prefix=${query}" \
      -o "${get_body}" "${S3H_BUCKET_URL}/${path}")" || true
    mapfile -t statuses <<<"${out}"
    list_answer="${statuses[0]:-000}:$(s3h_error_code "${list_body}")"
    get_answer="${statuses[1]:-000}:$(s3h_error_code "${get_body}")"
    # No answer at all is the network's failure, not curl's: the AWS CLI would meet it too, and the
    # run's requests report it.
    [[ "${list_answer}" != 000:* && "${get_answer}" != 000:* ]] || return 0
    case "${list_answer}" in
    200:* | 403:AccessDenied | 404:NoSuchBucket)
      case "${get_answer}" in
      200:* | 404:NoSuchKey | 404:NoSuchBucket | 403:AccessDenied) return 0 ;;
      esac
      S3H_WHY="$(s3h_refusal "${get_answer}")"
      return 1
      ;;
    301:* | 400:AuthorizationHeaderMalformed)
      region="$(grep -i -m 1 '^x-amz-bucket-region:' "${headers}" 2>/dev/null | tr -d '\r' | awk '{ print $2 }')"
      if ((try == 1)) && [[ -z "${S3H_ENDPOINT}" && "${region}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
        S3H_REGION="${region}"
        S3H_BUCKET_URL="https://${S3H_BUCKET}.s3.${region}.amazonaws.com"
        continue
      fi
      ;;
    esac
    S3H_WHY="$(s3h_refusal "${list_answer}")"
    return 1
  done
}

# Prints S3's error code in an answer's body (empty when none). Arguments: body file.
s3h_error_code() {
  local body=""
  [[ -f "$1" ]] || return 0
  read -r -N 4096 body <"$1" || true
  [[ ! "${body}" =~ \<Code\>([^<]*)\</Code\> ]] || printf '%s' "${BASH_REMATCH[1]}"
}

# Prints why a first request was refused. Arguments: `<status>:<S3 error code>`.
s3h_refusal() {
  local code="${1#*:}"
  printf 'a first request was refused (HTTP %s%s)' "${1%%:*}" "${code:+, ${code}}"
}

#######################################
# Lists objects below a key prefix, every page.
# Arguments: full key prefix, deadline.
# Outputs: `size<TAB>key` lines (full keys). Returns: non-zero when a page could not be read (logged).
#######################################
s3h_list() {
  local prefix="$1" deadline_s="$2" encoded token="" status page="${S3H_DIR}/list.$$.${BASHPID}" next
  s3h_query_value encoded "${prefix}"
  while :; do
    status="$(s3h_curl "${deadline_s}" -o "${page}" -w '%{http_code}' \
      "${S3H_BUCKET_URL}/?${token:+continuation-token=${token}&}list-type=2&max-keys=${S3H_LIST_MAX_KEYS}&prefix=${encoded}")" || status="${status:-000}"
    if [[ "${status}" != 200 ]]; then
      s3h_log_error "listing of s3://${S3H_BUCKET}/${prefix}" "${status}" "${page}"
      rm -f -- "${page}"
      return 1
    fi
    # One awk for the page: objects as size<TAB>key (XML entities decoded); the next page's token to a file.
    # shellcheck disable=SC2016 # an awk program
    timeout -k 5 "${deadline_s}" awk -v RS='<Contents>' -v next_file="${page}.next" '
      function text(s) { gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s); return s }
      match($0, /<NextContinuationToken>[^<]*</) { token = substr($0, RSTART + 23, RLENGTH - 24) }
      NR > 1 && match($0, /<Key>[^<]*<\/Key>/) { key = text(substr($0, RSTART + 5, RLENGTH - 11))
        if (match($0, /<Size>[0-9]+<\/Size>/)) print substr($0, RSTART + 6, RLENGTH - 13) "\t" key }
      END { print token > next_file }' "${page}" || {
      rm -f -- "${page}" "${page}.next"
      return 1
    }
    read -r next <"${page}.next" || next=""
    [[ -n "${next}" ]] || break
    s3h_query_value token "${next}"
  done
  rm -f -- "${page}" "${page}.next"
}

#######################################
# Copies an object to stdout. A failed attempt is tried again only when it wrote nothing: curl's own
# --retry would also retry a read cut off mid-body and write the start of the object twice into the
# pipe (curl's --retry-all-errors documentation, "data redirected to a pipe ... are not reset").
# Tried again: no answer, 408, 429 and 5xx, as curl's --retry does.
# Arguments: full key, deadline. Returns: non-zero when it could not be read (curl's message on stderr).
#######################################
s3h_get() {
  local encoded attempt=1 rc status size line err="${S3H_DIR}/get.$$.${BASHPID}"
  s3h_encode encoded "$1"
  while :; do
    rc=0
    # %{stderr}: the transfer's status and bytes go to stderr, after curl's own message.
    s3h_curl "$2" --retry 0 --fail -o - -w '%{stderr}@@s3h %{http_code} %{size_download}\n' \
      "${S3H_BUCKET_URL}/${encoded}" 2>"${err}" || rc=$?
    status=000 size=0
    while IFS= read -r line; do
      if [[ "${line}" =~ ^@@s3h\ ([0-9]{3})\ ([0-9]+)$ ]]; then
        status="${BASH_REMATCH[1]}" size="${BASH_REMATCH[2]}"
      elif ((rc != 0)); then
        printf '%s\n' "${line}" >&2
      fi
    done <"${err}"
    rm -f -- "${err}"
    ((rc != 0)) || return 0
    # With --fail an HTTP error writes no body; otherwise only a transfer that received nothing.
    if ((attempt < S3H_ATTEMPTS)) && [[ "${status}" =~ ^(000|408|429|5[0-9][0-9])$ ]] && { ((status >= 400)) || ((size == 0)); }; then
      sleep "${attempt}"
      attempt=$((attempt + 1))
      continue
    fi
    return "${rc}"
  done
}

#######################################
# Puts a local file as an object (a single PUT: at most 5 GiB).
# Arguments: local file, full key, deadline, content type (optional).
#######################################
s3h_put_file() {
  local file="$1" key="$2" deadline_s="$3" encoded status body="${S3H_DIR}/put.$$.${BASHPID}"
  local -a type=()
  [[ -z "${4:-}" ]] || type=(-H "content-type: $4")
  s3h_encode encoded "${key}"
  status="$(s3h_curl "${deadline_s}" "${type[@]+"${type[@]}"}" -T "${file}" -o "${body}" -w '%{http_code}' \
    "${S3H_BUCKET_URL}/${encoded}")" || status="${status:-000}"
  if [[ "${status}" != 200 ]]; then
    s3h_log_error "upload of s3://${S3H_BUCKET}/${key}" "${status}" "${body}"
    rm -f -- "${body}"
    return 1
  fi
  rm -f -- "${body}"
}

#######################################
# Puts every file below a folder as an object under a key prefix (the folder's relative paths), with
# one curl process and up to 8 transfers at once. An object is stored whole or not at all.
# Arguments: folder, full key prefix, deadline.
# Returns: non-zero when any object was not stored (each logged).
#######################################
s3h_put_tree() {
  local dir="$1" prefix="$2" deadline_s="$3" list="${S3H_DIR}/tree.$$.${BASHPID}" rel file encoded n=0 status url pid
  local -a failed=() cmd=()
  {
    while IFS= read -r -d '' rel; do
      s3h_encode encoded "${prefix}${rel}"
      # A quoted string of curl's config: backslash and double quote escaped.
      file="${dir}/${rel}" file="${file//\\/\\\\}" file="${file//\"/\\\"}"
      printf 'upload-file = "%s"\nurl = "%s"\noutput = "/dev/null"\n' "${file}" "${S3H_BUCKET_URL}/${encoded}"
      n=$((n + 1))
    done < <(timeout -k 5 "${deadline_s}" find "${dir}" -type f -printf '%P\0')
  } >"${list}"
  [[ -s "${list}" ]] || return 0
  # curl is this shell's own child, so that a TERM (store_abort_in_flight) stops the transfers too.
  s3h_command cmd s3 "${deadline_s}"
  "${cmd[@]}" --parallel --parallel-max 8 -K "${list}" -w '%{http_code} %{url_effective}\n' >"${list}.out" &
  pid=$!
  # shellcheck disable=SC2064 # the pid now
  trap "kill -TERM ${pid} 2>/dev/null; rm -f -- '${list}' '${list}.out'; exit 143" TERM
  wait "${pid}" || true
  trap - TERM
  while read -r status url; do
    n=$((n - 1))
    [[ "${status}" == 200 ]] || failed+=("${url##*/} (HTTP ${status})")
  done <"${list}.out"
  rm -f -- "${list}" "${list}.out"
  if ((${#failed[@]} > 0 || n != 0)); then
    log "error: $((${#failed[@]} > 0 ? ${#failed[@]} : n)) upload(s) below s3://${S3H_BUCKET}/${prefix} failed: ${failed[*]:0:5}"
    return 1
  fi
}

#######################################
# Uploads stdin as one object: a single PUT when it fits one part, else a multipart upload with up
# to S3H_PART_JOBS parts in flight, each staged as a file in a work folder. The object is completed
# only when stdin ends AND the commit file exists (the writer created it before closing its end):
# an end of input without it (the writer failed or was killed) aborts the upload, and nothing is
# stored under the key.
# Arguments: full key, expected size (an upper bound, for part sizing), work folder, commit file, deadline.
#######################################
s3h_put_stream() {
  local key="$1" expected="$2" work="$3" commit="$4" deadline_s="$5" part_bytes="${S3H_MIN_PART_BYTES}"
  local encoded n=0 size upload_id="" part status body="${work}/mpu.body" rc=0
  local -a pids=()
  mkdir -p -- "${work}" || return 1
  s3h_encode encoded "${key}"
  # Parts large enough that the expected size takes at most 9,000 of the 10,000 allowed.
  while ((expected / part_bytes >= 9000)); do part_bytes=$((part_bytes * 2)); done
  while :; do
    n=$((n + 1))
    part="${work}/part.${n}"
    if ! timeout -k 5 "${deadline_s}" head -c "${part_bytes}" >"${part}"; then
      log "error: staging part ${n} of s3://${S3H_BUCKET}/${key} in ${work} failed"
      rc=1 && break
    fi
    size="$(stat -c %s -- "${part}")" || { rc=1 && break; }
    if ((n == 1 && size < part_bytes)); then
      # The whole object fits one part: a single PUT, once the writer committed.
      [[ ! -e "${commit}" ]] || s3h_put_file "${part}" "${key}" "${deadline_s}" || rc=1
      [[ -e "${commit}" ]] || rc=1
      rm -rf -- "${work}"
      return "${rc}"
    fi
    if ((n == 1)); then
      status="$(s3h_curl "${deadline_s}" -X POST -o "${body}" -w '%{http_code}' "${S3H_BUCKET_URL}/${encoded}?uploads=")" || status="${status:-000}"
      [[ "${status}" == 200 && "$(<"${body}")" =~ \<UploadId\>([^<]+)\</UploadId\> ]] || {
        s3h_log_error "start of the multipart upload of s3://${S3H_BUCKET}/${key}" "${status}" "${body}"
        rm -rf -- "${work}"
        return 1
      }
      s3h_query_value upload_id "${BASH_REMATCH[1]}"
    fi
    if ((size == 0)); then
      rm -f -- "${part}"
      n=$((n - 1))
      break
    fi
    if ((n > 10000)); then
      log "error: s3://${S3H_BUCKET}/${key} needs more than 10,000 parts of $(human_bytes "${part_bytes}") (expected at most $(human_bytes "${expected}"))"
      rc=1 && break
    fi
    # At most S3H_PART_JOBS parts in flight. A part's failure shows as its .failed file (wait -n's
    # status is not reliable across bash versions once several jobs have ended); a missing ETag fails
    # the completion anyway.
    while ((${#pids[@]} >= S3H_PART_JOBS)); do
      wait -n 2>/dev/null || true
      s3h_prune_done pids
    done
    if compgen -G "${work}/part.*.failed" >/dev/null; then
      rc=1 && break
    fi
    s3h_put_part "${part}" "${encoded}" "${upload_id}" "${n}" "${deadline_s}" &
    pids+=("$!")
    ((size == part_bytes)) || break
  done
  local pid
  for pid in "${pids[@]+"${pids[@]}"}"; do wait "${pid}" 2>/dev/null || true; done
  if compgen -G "${work}/part.*.failed" >/dev/null || [[ ! -e "${commit}" ]]; then rc=1; fi
  if ((rc == 0)); then
    s3h_complete "${key}" "${encoded}" "${upload_id}" "${n}" "${work}" "${deadline_s}" || rc=1
  fi
  if ((rc != 0)) && [[ -n "${upload_id}" ]]; then
    s3h_curl "${deadline_s}" -X DELETE -o /dev/null "${S3H_BUCKET_URL}/${encoded}?uploadId=${upload_id}" || true
  fi
  rm -rf -- "${work}"
  return "${rc}"
}

# Drops the pids of finished jobs from an array. Arguments: array name.
s3h_prune_done() {
  local -n jobs_="$1"
  local -a still=()
  local pid
  for pid in "${jobs_[@]}"; do
    if kill -0 "${pid}" 2>/dev/null; then still+=("${pid}"); else wait "${pid}" 2>/dev/null || true; fi
  done
  jobs_=("${still[@]+"${still[@]}"}")
}

# Uploads one part (in the background) and records its ETag in part.etag.<n>, or writes <part>.failed;
# removes the part file.
# Arguments: part file, encoded key, upload id, part number, deadline.
s3h_put_part() {
  local part="$1" status line etag=""
  status="$(s3h_curl "$5" -T "${part}" -D "${part}.h" -o "${part}.b" -w '%{http_code}' \
    "${S3H_BUCKET_URL}/$2?partNumber=$4&uploadId=$3")" || status="${status:-000}"
  if [[ -f "${part}.h" ]]; then
    while IFS= read -r line; do
      [[ "${line,,}" != etag:* ]] || etag="${line#*:}"
    done <"${part}.h"
  fi
  etag="${etag//[[:space:]]/}"
  if [[ "${status}" != 200 || -z "${etag}" ]]; then
    s3h_log_error "upload of part $4 of s3://${S3H_BUCKET}/${2}" "${status}" "${part}.b"
    : >"${part}.failed"
    rm -f -- "${part}" "${part}.h" "${part}.b"
    return 1
  fi
  printf '%s\n' "${etag}" >"${part%.*}.etag.$4"
  rm -f -- "${part}" "${part}.h" "${part}.b"
}

# Completes a multipart upload from the recorded ETags. Arguments: key, encoded key, upload id,
# number of parts, work folder, deadline.
s3h_complete() {
  local key="$1" n="$4" work="$5" xml="$5/complete.xml" status body="$5/complete.body" k etag
  {
    printf '<CompleteMultipartUpload>'
    for ((k = 1; k <= n; k++)); do
      read -r etag <"${work}/part.etag.${k}" || return 1
      printf '<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>' "${k}" "${etag}"
    done
    printf '</CompleteMultipartUpload>'
  } >"${xml}"
  rm -f -- "${work}"/part.etag.*
  status="$(s3h_curl "$6" -X POST -H 'content-type: application/xml' --data-binary "@${xml}" -o "${body}" -w '%{http_code}' \
    "${S3H_BUCKET_URL}/$2?uploadId=$3")" || status="${status:-000}"
  rm -f -- "${xml}"
  if [[ "${status}" != 200 ]] || grep -q '<Error>' -- "${body}" 2>/dev/null; then
    s3h_log_error "completion of the multipart upload of s3://${S3H_BUCKET}/${key}" "${status}" "${body}"
    rm -f -- "${body}"
    return 1
  fi
  rm -f -- "${body}"
}
