#!/usr/bin/env bash
# scripts/mailstack/start.sh -- start a REAL, throw-away mail stack on loopback
# for mfa-desk's integration tests:
#
#   Postfix (SMTP, 127.0.0.1:$SMTP_PORT) accepts mail for the test domains and
#           hands it over LMTP to
#   Dovecot (LMTP, 127.0.0.1:$LMTP_PORT), which stores it as Maildir, served by
#   Dovecot (IMAP, 127.0.0.1:$IMAP_PORT) with LOGIN/AUTH PLAIN, IDLE, MOVE.
#
# Adapted from the team's verified recipe in shared/mailstack (see its NOTES.md
# for measurements and the reasons behind each setting).  Everything -- configs,
# Maildirs, queue, logs, pid files -- lives in ONE directory, so every test can
# run its own instance on its own ports.
#
# Usage:
#   scripts/mailstack/start.sh [DIR]       DIR default: mktemp -d /tmp/mailstack.XXXXXX
#   eval "$(scripts/mailstack/start.sh)"   exports MAILSTACK_DIR IMAP_PORT SMTP_PORT ...
#   scripts/mailstack/stop.sh [--fast] [--purge] DIR
#   scripts/mailstack/ctl.sh DIR restart-dovecot|stop-smtp|start-smtp|...
#
# stdout: only `export VAR=value` lines (eval-able); progress goes to stderr.
# The same lines are written to DIR/env.
#
# Exit status: 0 ready; 77 = cannot run HERE (not root, no apt-get while
# packages are missing) -- callers may treat that as "skip"; anything else is
# a real failure.
#
# Environment knobs (all optional):
#   IMAP_PORT=14143 SMTP_PORT=12525 LMTP_PORT=14024   a number, or "auto"/0 = free port
#   MAILSTACK_USERS="support@example.test employee@example.test admin@example.test"
#       space-separated "addr" or "addr:password"; domains are taken from them
#   MAILSTACK_PASSWORD=password     password for entries given without one
#   MAILSTACK_NO_SMTP=1             Dovecot only (IMAP + LMTP), no Postfix
#   MAILSTACK_NO_INSTALL=1          never call apt-get (exit 77 if packages are missing)
#   MAILSTACK_WAIT=15               seconds to wait for the greetings
#   MAILSTACK_TLS=1                 also offer TLS: a fresh private CA ($MAILSTACK_CA_FILE)
#       and a leaf certificate for the name in MAILSTACK_TLS_NAME (default
#       "localhost"; SAN is that DNS name only, so connecting as 127.0.0.1 is a
#       name mismatch on purpose).  IMAP STARTTLS, IMAPS on IMAPS_PORT, SMTP
#       STARTTLS, SMTPS (implicit TLS) on SMTPS_PORT.  Plaintext stays allowed.
#       (rustls refuses a self-signed CA used as the server certificate itself:
#       CaUsedAsEndEntity -- hence CA + leaf.)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
log() { printf '[mailstack] %s\n' "$*" >&2; }
die() { printf '[mailstack] ERROR: %s\n' "$*" >&2; exit 1; }
cannot_run() { printf '[mailstack] CANNOT RUN HERE: %s\n' "$*" >&2; exit 77; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2fs", b-a}'; }

# Dovecot and Postfix masters must start as root to drop privileges.
[ "$(id -u)" = 0 ] || cannot_run "needs root (Dovecot/Postfix masters start as root and drop privileges)"

T_ALL=$(now)

# ---------------------------------------------------------------------------
# 1. Install packages if missing (Debian/Ubuntu, non-interactive)
# ---------------------------------------------------------------------------
PKGS=(dovecot-imapd dovecot-lmtpd)
[ "${MAILSTACK_NO_SMTP:-0}" = 1 ] || PKGS+=(postfix swaks)

missing_pkgs() {
  local p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
  done
}

# One EXIT trap: drop a temporary policy-rc.d, and if the start fails half-way,
# SIGKILL the masters this run started (by pid, never by name).
ADDED_POLICY=0 STARTED_PIDS=() READY=0 DAEMONS_TRIED=0
on_exit() {
  local rc=$?
  if [ "$ADDED_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$READY" != 1 ] && [ ${#STARTED_PIDS[@]} -gt 0 ]; then
    log "start failed; stopping pids ${STARTED_PIDS[*]}"
    kill -KILL "${STARTED_PIDS[@]}" 2>/dev/null || true
  fi
  # Also whatever the pid files name (a daemon may have written its pid file
  # after we gave up on it): a failed start must leave nothing running.
  if [ "$READY" != 1 ] && [ "$DAEMONS_TRIED" = 1 ]; then
    stop_postfix "$DIR" 2>/dev/null || true
    stop_dovecot "$DIR" fast 2>/dev/null || true
    log "server logs are kept in $DIR"
  fi
  exit $rc
}
trap on_exit EXIT

if [ -n "$(missing_pkgs)" ]; then
  [ "${MAILSTACK_NO_INSTALL:-0}" = 1 ] && cannot_run "missing packages: $(missing_pkgs)(MAILSTACK_NO_INSTALL=1)"
  command -v apt-get >/dev/null || cannot_run "missing packages: $(missing_pkgs)and no apt-get"
  # Tests start instances in parallel: only one of them installs, the others
  # wait for the lock and then find the packages present.
  exec 9>/tmp/mfa-desk-mailstack-install.lock
  flock -w 900 9 || die "timed out waiting for another mailstack install"
  missing=$(missing_pkgs)
  if [ -n "$missing" ]; then
    T=$(now)
    log "installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    # "No configuration" = no /etc/postfix/main.cf and no system-wide Postfix.
    debconf-set-selections <<'EOF2'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
EOF2
    # Keep maintainer scripts from starting the SYSTEM daemons (:143, :993,
    # :25): there is no systemd here, and invoke-rc.d would start them.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      ADDED_POLICY=1
    fi
    APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300
              -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    # `apt-get update` only without package lists (fresh machine) or when the
    # install fails (stale lists: 404 on a superseded security update).
    if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
      apt-get update -q -o DPkg::Lock::Timeout=300 >&2
    fi
    # shellcheck disable=SC2086  # $missing is a word list on purpose
    if ! apt-get install "${APT_OPTS[@]}" $missing >&2; then
      log "apt-get install failed; running apt-get update and retrying"
      apt-get update -q -o DPkg::Lock::Timeout=300 >&2
      # shellcheck disable=SC2086
      apt-get install "${APT_OPTS[@]}" $missing >&2
    fi
    if [ "$ADDED_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; ADDED_POLICY=0; fi
    log "install took $(elapsed "$T")"
  fi
  exec 9>&-
fi

command -v dovecot >/dev/null || die "dovecot not found after install"
DOVECOT_VERSION=$(dovecot --version | awk '{print $1}')
case "$DOVECOT_VERSION" in
  2.3.*) ;;
  *) die "this script writes Dovecot 2.3 syntax; found $DOVECOT_VERSION (2.4 renamed most settings)";;
esac

# ---------------------------------------------------------------------------
# 2. Directory layout, ports, users
# ---------------------------------------------------------------------------
DIR=${1:-$(mktemp -d /tmp/mailstack.XXXXXX)}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
# mktemp makes 0700 dirs; Dovecot's auth ("dovecot") and mail ("mail") users
# must be able to traverse to $DIR.
chmod 755 "$DIR"
if ! runuser -u dovecot -- test -x "$DIR" || ! runuser -u mail -- test -x "$DIR"; then
  die "$DIR is not reachable by the dovecot/mail users (a parent directory is 0700?); use a dir under /tmp"
fi
if [ -e "$DIR/run/master.pid" ] && kill -0 "$(cat "$DIR/run/master.pid")" 2>/dev/null; then
  die "a Dovecot instance is already running from $DIR (scripts/mailstack/stop.sh $DIR)"
fi

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# Ports of instances that are still around (their DIR exists) are reserved in
# a small registry, under a lock: instances started in parallel must never
# pick the same "auto" port (a daemon failing to bind would otherwise go
# unnoticed behind the other instance's greeting).
PORT_REG=/tmp/mfa-desk-mailstack-ports
exec 8>>"$PORT_REG.lock"
flock -w 60 8 || die "timed out waiting for the port registry lock"
touch "$PORT_REG"
LIVE_REG=$(while read -r p d; do [ -d "$d" ] && printf '%s %s\n' "$p" "$d"; done < "$PORT_REG" || true)
PICKED=" $(printf '%s\n' "$LIVE_REG" | awk 'NF{printf "%s ", $1}')"
pick_port() {  # random free port in 20000..32767 (below Linux's ephemeral range)
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12768 ))
    [[ "$PICKED" == *" $p "* ]] && continue
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}
resolve_port() {  # $1=value $2=name
  local p
  case "$1" in
    0|auto) p=$(pick_port) ;;
    *[!0-9]*|'') die "$2 must be a number or 'auto' (got '$1')" ;;
    *) port_in_use "$1" && die "$2=$1 is already in use on 127.0.0.1"; p=$1 ;;
  esac
  echo "$p"
}
# (command substitution runs in a subshell: remember the picks out here so two
# "auto" ports of one instance never collide)
IMAP_PORT=$(resolve_port "${IMAP_PORT:-14143}" IMAP_PORT); PICKED+="$IMAP_PORT "
LMTP_PORT=$(resolve_port "${LMTP_PORT:-14024}" LMTP_PORT); PICKED+="$LMTP_PORT "
if [ "${MAILSTACK_NO_SMTP:-0}" = 1 ]; then
  SMTP_PORT=
else
  SMTP_PORT=$(resolve_port "${SMTP_PORT:-12525}" SMTP_PORT); PICKED+="$SMTP_PORT "
fi
TLS=${MAILSTACK_TLS:-0}
TLS_NAME=${MAILSTACK_TLS_NAME:-localhost}
SMTPS_PORT=
if [ "$TLS" = 1 ]; then
  IMAPS_PORT=$(resolve_port "${IMAPS_PORT:-auto}" IMAPS_PORT); PICKED+="$IMAPS_PORT "
  if [ -n "$SMTP_PORT" ]; then
    SMTPS_PORT=$(resolve_port "${SMTPS_PORT:-auto}" SMTPS_PORT); PICKED+="$SMTPS_PORT "
  fi
else
  IMAPS_PORT=0   # 0 = Dovecot's imaps listener disabled (else it binds :993)
fi

{
  [ -z "$LIVE_REG" ] || printf '%s\n' "$LIVE_REG"
  for p in $IMAP_PORT $LMTP_PORT $SMTP_PORT $SMTPS_PORT; do printf '%s %s\n' "$p" "$DIR"; done
  [ "$IMAPS_PORT" = 0 ] || printf '%s %s\n' "$IMAPS_PORT" "$DIR"
} > "$PORT_REG.new" && mv "$PORT_REG.new" "$PORT_REG"
exec 8>&-

MAIL_UID=$(id -u mail); MAIL_GID=$(id -g mail)   # Debian base user "mail" = 8:8
USERS=${MAILSTACK_USERS:-support@example.test employee@example.test admin@example.test}
DEFAULT_PW=${MAILSTACK_PASSWORD:-password}
case "$DEFAULT_PW" in *:*|*\'*|'') die "MAILSTACK_PASSWORD must be non-empty without ':' or quotes";; esac

# Unix socket paths are limited to 107 bytes: for a long DIR, sockets and the
# Postfix queue go to a short dir symlinked back (stop.sh --purge removes it).
RUNTIME=$DIR
if [ ${#DIR} -gt 60 ]; then
  RUNTIME=$(mktemp -d /tmp/msrt.XXXXXX); chmod 755 "$RUNTIME"
  echo "$RUNTIME" > "$DIR/runtime-dir"
  log "DIR path is long; sockets/queue go to $RUNTIME"
fi
RUN_DIR=$RUNTIME/run
mkdir -p "$RUN_DIR"
[ "$RUNTIME" = "$DIR" ] || ln -sfn "$RUN_DIR" "$DIR/run"
mkdir -p "$DIR/state" "$DIR/mail"
chown "$MAIL_UID:$MAIL_GID" "$DIR/mail"

# passwd-file: user:password:uid:gid:(gecos):home:(shell):extra_fields
: > "$DIR/users"
DOMAINS=()
for entry in $USERS; do
  addr=${entry%%:*}
  pw=$DEFAULT_PW
  if [[ "$entry" == *:* ]]; then pw=${entry#*:}; fi
  addr=${addr,,}   # Dovecot lowercases logins (%Lu)
  case "$addr" in *@*) ;; *) die "user '$addr' must be an e-mail address";; esac
  case "$pw" in *:*) die "password of $addr contains ':' (the passwd-file separator)";; esac
  printf '%s:{PLAIN}%s::::::\n' "$addr" "$pw" >> "$DIR/users"
  d=${addr#*@}
  [[ " ${DOMAINS[*]} " == *" $d "* ]] || DOMAINS+=("$d")
done
chmod 644 "$DIR/users"

INSTANCE="mailstack-$(basename "$DIR")"

# Server variants for tests. MAILSTACK_IMAP_CAPABILITY replaces Dovecot's
# post-login capability list (e.g. one without IDLE, MOVE or UIDPLUS, as
# older or smaller servers have). MAILSTACK_OAUTH2_URL adds XOAUTH2 logins,
# the token checked by POSTing it to that OAuth2 introspection endpoint
# (what Microsoft 365 and Google Workspace require instead of passwords).
IMAP_CAPABILITY=${MAILSTACK_IMAP_CAPABILITY:-}
OAUTH2_URL=${MAILSTACK_OAUTH2_URL:-}
AUTH_MECHS="plain login"
PASSWD_MECHS=
if [ -n "$OAUTH2_URL" ]; then
  AUTH_MECHS="plain login xoauth2 oauthbearer"
  PASSWD_MECHS="mechanisms = plain login"
fi

# ---------------------------------------------------------------------------
# 3. TLS material: private CA + leaf (only with MAILSTACK_TLS=1)
# ---------------------------------------------------------------------------
if [ "$TLS" = 1 ]; then
  mkdir -p "$DIR/tls"
  (
    cd "$DIR/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout ca.key -out ca.pem -days 3650 -subj "/CN=mailstack test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout key.pem -out leaf.csr -subj "/CN=$TLS_NAME"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' \
      "$TLS_NAME" > leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -out cert.pem -days 3650 -extfile leaf.ext
  ) >/dev/null 2>"$DIR/tls.log" || die "openssl could not create the test certificates; see $DIR/tls.log"
  chmod 600 "$DIR/tls/key.pem" "$DIR/tls/ca.key"; chmod 644 "$DIR/tls/cert.pem" "$DIR/tls/ca.pem"
fi

# ---------------------------------------------------------------------------
# 4. Dovecot config (self-contained: nothing from /etc/dovecot is included)
# ---------------------------------------------------------------------------
cat > "$DIR/dovecot.conf" <<EOF
# Generated by scripts/mailstack/start.sh -- minimal Dovecot 2.3 for tests.
instance_name = $INSTANCE
base_dir = $RUN_DIR
state_dir = $DIR/state
log_path = $DIR/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1

ssl = $( [ "$TLS" = 1 ] && echo yes || echo no )
disable_plaintext_auth = no
auth_mechanisms = $AUTH_MECHS
auth_verbose = yes
# Tests log in with wrong passwords on purpose: without these, every failure
# costs 2 s and the anvil auth penalty then slows EVERY later login by 2-15 s.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

# Mail is owned by the base user "mail" ($MAIL_UID:$MAIL_GID): Dovecot never
# accesses mail as root and by default refuses uids < 500.
mail_uid = $MAIL_UID
mail_gid = $MAIL_GID
first_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
mail_location = maildir:~/Maildir
# A throw-away test server: no fsync per delivery. With it, each LMTP
# delivery cost ~15 ms of disk flushes, and the benches measured the disk of
# the test box instead of mfa-desk (a real server keeps the default).
mail_fsync = never

# IDLE: inotify wakes clients (after Dovecot's fixed 0.5 s notify delay); this
# is only the fallback poll when inotify is unavailable (default 30 s).
mailbox_idle_check_interval = 1 secs

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $DIR/users
  $PASSWD_MECHS
}
userdb {
  # passwd-file (not static) so LMTP rejects unknown recipients with 550.
  driver = passwd-file
  args = username_format=%Lu $DIR/users
  default_fields = uid=$MAIL_UID gid=$MAIL_GID home=$DIR/mail/%Ld/%Ln
}

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    auto = create
    special_use = \Drafts
  }
  mailbox Sent {
    auto = create
    special_use = \Sent
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
recipient_delimiter = +

# SMTP AUTH for Postfix (smtpd_sasl_type = dovecot): the same users and
# passwords as IMAP, so tests can log in to SMTP (PLAIN/LOGIN) too.
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
if [ "$TLS" = 1 ]; then
  cat >> "$DIR/dovecot.conf" <<EOF
# TLS: STARTTLS on the imap port, implicit TLS on imaps.
ssl_cert = <$DIR/tls/cert.pem
ssl_key = <$DIR/tls/key.pem
EOF
fi

if [ -n "$IMAP_CAPABILITY" ]; then
  echo "imap_capability = $IMAP_CAPABILITY" >> "$DIR/dovecot.conf"
fi
if [ -n "$OAUTH2_URL" ]; then
  cat > "$DIR/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = $OAUTH2_URL
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
EOF
  chmod 644 "$DIR/dovecot-oauth2.conf.ext"
  cat >> "$DIR/dovecot.conf" <<EOF
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/dovecot-oauth2.conf.ext
}
EOF
fi

# ---------------------------------------------------------------------------
# 5. Postfix config (own config dir, queue and data dir => parallel instances)
# ---------------------------------------------------------------------------
if [ -n "$SMTP_PORT" ]; then
  PF=$DIR/postfix
  # queue/data dirs must NOT be inside the config dir (`postfix check` wants
  # everything under config_directory owned by root).
  mkdir -p "$PF/etc" "$PF/data"
  PF_SPOOL=$PF/spool
  if [ "$RUNTIME" != "$DIR" ]; then
    PF_SPOOL=$RUNTIME/spool; mkdir -p "$PF_SPOOL"; ln -sfn "$PF_SPOOL" "$PF/spool"
  else
    mkdir -p "$PF_SPOOL"
  fi
  chown postfix "$PF/data"; chmod 700 "$PF/data"
  cut -d: -f1 "$DIR/users" | sed 's/$/ OK/' > "$PF/etc/vmailbox"
  cat > "$PF/etc/main.cf" <<EOF
# Generated by scripts/mailstack/start.sh -- Postfix as SMTP front for Dovecot LMTP.
compatibility_level = 3.6
queue_directory = $PF_SPOOL
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-$INSTANCE
# No syslogd here: log to a file (needs the postlog service in master.cf).
maillog_file_prefixes = $DIR
maillog_file = $DIR/postfix.log

myhostname = mx.${DOMAINS[0]}
mydomain = ${DOMAINS[0]}
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
append_dot_mydomain = no
smtputf8_enable = no
recipient_delimiter = +

# SMTP AUTH (optional: loopback may send without it) against Dovecot's users.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $RUN_DIR/auth-postfix
smtpd_sasl_security_options = noanonymous
smtpd_tls_auth_only = no
EOF
  if [ "$TLS" = 1 ]; then
    cat >> "$PF/etc/main.cf" <<EOF
# TLS: STARTTLS offered (not required) on the smtp port; implicit TLS on smtps.
smtpd_tls_cert_file = $DIR/tls/cert.pem
smtpd_tls_key_file = $DIR/tls/key.pem
smtpd_tls_security_level = may
# "(using TLSv1.3 with cipher ...)" in Received: lets tests prove TLS was used.
smtpd_tls_received_header = yes
EOF
  fi
  cat >> "$PF/etc/main.cf" <<EOF

# Only the test domains are accepted; everything is stored via Dovecot LMTP.
virtual_mailbox_domains = ${DOMAINS[*]}
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
# Nothing ever leaves the box: no relaying, no local(8), no outbound SMTP.
smtpd_relay_restrictions = reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery disabled
default_transport = error:outbound mail disabled in test stack
relay_transport = error:outbound mail disabled in test stack

# Retry quickly if Dovecot was briefly down (tests restart it on purpose).
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
EOF
  # chroot = n everywhere: the queue dir is not a prepared chroot jail.
  {
    echo "# service  type  private unpriv chroot wakeup maxproc command"
    echo "127.0.0.1:$SMTP_PORT inet n - n - - smtpd"
    if [ -n "$SMTPS_PORT" ]; then
      echo "127.0.0.1:$SMTPS_PORT inet n - n - - smtpd"
      echo "  -o smtpd_tls_wrappermode=yes"
      echo "  -o smtpd_tls_security_level=encrypt"
    fi
    cat <<'EOF'
pickup     unix  n  -  n  60   1  pickup
cleanup    unix  n  -  n  -    0  cleanup
qmgr       unix  n  -  n  300  1  qmgr
rewrite    unix  -  -  n  -    -  trivial-rewrite
bounce     unix  -  -  n  -    0  bounce
defer      unix  -  -  n  -    0  bounce
trace      unix  -  -  n  -    0  bounce
verify     unix  -  -  n  -    1  verify
flush      unix  n  -  n  1000? 0 flush
proxymap   unix  -  -  n  -    -  proxymap
proxywrite unix  -  -  n  -    1  proxymap
smtp       unix  -  -  n  -    -  smtp
relay      unix  -  -  n  -    -  smtp
showq      unix  n  -  n  -    -  showq
error      unix  -  -  n  -    -  error
retry      unix  -  -  n  -    -  error
discard    unix  -  -  n  -    -  discard
lmtp       unix  -  -  n  -    -  lmtp
anvil      unix  -  -  n  -    1  anvil
scache     unix  -  -  n  -    1  scache
tlsmgr     unix  -  -  n  1000? 1 tlsmgr
postlog    unix-dgram n - n -  1  postlogd
EOF
  } > "$PF/etc/master.cf"
  # Postfix re-reads a config/table file whose mtime is within the last second,
  # sleeping 300 ms per retry: backdating saves ~2 s per postfix command.
  touch -d '-1 minute' "$PF/etc/main.cf" "$PF/etc/master.cf" "$PF/etc/vmailbox"
fi

# ---------------------------------------------------------------------------
# 6. Start and wait for the greetings (shared with ctl.sh)
# ---------------------------------------------------------------------------
T=$(now)
DAEMONS_TRIED=1
start_dovecot "$DIR" || die "dovecot failed to start; see $DIR/dovecot.log"
STARTED_PIDS+=("$(dovecot_pid "$DIR")")
wait_greeting "$IMAP_PORT" '* OK' || die "IMAP did not answer on $IMAP_PORT; see $DIR/dovecot.log"
wait_greeting "$LMTP_PORT" '220 ' || die "LMTP did not answer on $LMTP_PORT; see $DIR/dovecot.log"
if [ "$TLS" = 1 ]; then
  port_in_use "$IMAPS_PORT" || die "IMAPS is not listening on $IMAPS_PORT; see $DIR/dovecot.log"
fi
log "dovecot up (IMAP $IMAP_PORT, LMTP $LMTP_PORT) in $(elapsed "$T")"

if [ -n "$SMTP_PORT" ]; then
  T=$(now)
  start_postfix "$DIR" || die "postfix failed to start; see $DIR/postfix.log"
  PF_PID=$(postfix_pid "$DIR")
  STARTED_PIDS+=("$PF_PID")
  wait_greeting "$SMTP_PORT" '220 ' || die "SMTP did not answer on $SMTP_PORT; see $DIR/postfix.log"
  # A master that could not bind exits after start: the greeting would then
  # have come from someone else's server.
  sleep 0.1
  alive "$PF_PID" || die "postfix exited after start (port taken?); see $DIR/postfix.log"
  log "postfix up (SMTP $SMTP_PORT) in $(elapsed "$T")"
fi
READY=1

# ---------------------------------------------------------------------------
# 7. Report (eval-able) and remember it in DIR/env
# ---------------------------------------------------------------------------
{
  echo "export MAILSTACK_DIR=$DIR"
  echo "export MAILSTACK_HOST=127.0.0.1"
  echo "export IMAP_PORT=$IMAP_PORT"
  echo "export LMTP_PORT=$LMTP_PORT"
  echo "export SMTP_PORT=$SMTP_PORT"
  if [ "$TLS" = 1 ]; then
    echo "export IMAPS_PORT=$IMAPS_PORT"
    echo "export SMTPS_PORT=$SMTPS_PORT"
    echo "export MAILSTACK_CA_FILE=$DIR/tls/ca.pem"
    echo "export MAILSTACK_TLS_NAME=$TLS_NAME"
  fi
  echo "export MAILSTACK_USERS='$(cut -d: -f1 "$DIR/users" | tr '\n' ' ' | sed 's/ $//')'"
  echo "export MAILSTACK_PASSWORD='$DEFAULT_PW'"
  echo "export MAILSTACK_DOVECOT_PID=$(cat "$RUN_DIR/master.pid")"
  if [ -n "$SMTP_PORT" ]; then echo "export MAILSTACK_POSTFIX_PID=$(postfix_pid "$DIR")"; fi
} > "$DIR/env"
cat "$DIR/env"
log "ready in $(elapsed "$T_ALL"); stop with: $HERE/stop.sh --purge $DIR"
