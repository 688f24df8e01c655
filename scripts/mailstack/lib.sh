# scripts/mailstack/lib.sh -- functions shared by start.sh, stop.sh and ctl.sh.
# Sourced, not run.  Every function takes the instance DIR explicitly and only
# ever signals the master pids recorded in that DIR (never matches by name):
# other Dovecot/Postfix instances (other tests, other programs) share the host.

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_greeting PORT PREFIX: connect until the first line starts with PREFIX.
wait_greeting() {
  local port=$1 want=$2 deadline line
  deadline=$(( $(date +%s) + ${MAILSTACK_WAIT:-15} ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    # subshell: a refused connect must not abort a `set -e` caller
    line=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && IFS= read -r -t 3 l <&3 && printf '%s' "$l") 2>/dev/null ) || true
    [[ "$line" == "$want"* ]] && return 0
    sleep 0.05
  done
  return 1
}

# wait_port_free PORT: until nothing accepts on it (max ~5 s).
wait_port_free() {
  local i
  for i in $(seq 1 100); do
    port_in_use "$1" || return 0
    sleep 0.05
  done
  return 1
}

# env_get DIR VAR: a value from DIR/env (written by start.sh).
env_get() { sed -n "s/^export $2=//p" "$1/env" | tr -d "'"; }

is_zombie() {  # field 3 of /proc/PID/stat; the comm field may hold spaces
  local st
  st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$st" = Z ]
}

# alive PID: running and not a zombie.  (PID 1 on these hosts is not a full
# init and reaps orphans only now and then; `kill -0` succeeds on zombies.)
alive() { kill -0 "$1" 2>/dev/null && ! is_zombie "$1"; }

# is_ours DIR PID WHAT: guard against a stale pid file whose pid was reused.
#   dovecot master: its command line names DIR/dovecot.conf
#   postfix master: its working directory is DIR/postfix/spool
is_ours() {
  case $3 in
    dovecot) tr '\0' ' ' < "/proc/$2/cmdline" 2>/dev/null | grep -qF -- "-c $1/dovecot.conf" ;;
    postfix) [ "$(readlink "/proc/$2/cwd" 2>/dev/null)" = "$(readlink -f "$1/postfix/spool")" ] ;;
  esac
}

dovecot_pid() { cat "$1/run/master.pid" 2>/dev/null || true; }
postfix_pid() { { head -1 "$1/postfix/spool/pid/master.pid" 2>/dev/null || true; } | tr -d ' '; }

# start_dovecot DIR: start the master (it daemonizes).  Output goes to a file:
# a daemon that kept our stdout/stderr open would hang a caller that reads
# them to EOF (eval "$(start.sh)", Rust's Command::output()).
start_dovecot() {
  local dir=$1 pid
  pid=$(dovecot_pid "$dir")
  if [ -n "$pid" ] && alive "$pid" && is_ours "$dir" "$pid" dovecot; then
    return 0   # already running
  fi
  # A killed master leaves master.pid behind, and Dovecot refuses to start
  # while that pid "exists" (a zombie does): remove the stale file.
  rm -f "$dir/run/master.pid"
  if ! dovecot -c "$dir/dovecot.conf" </dev/null >>"$dir/daemon-start.log" 2>&1; then
    tail -5 "$dir/daemon-start.log" >&2
    return 1
  fi
  # The master writes master.pid after it has daemonized: wait for it.
  wait_file "$dir/run/master.pid"
}

# wait_file PATH: until it exists and is non-empty (max ~10 s).
wait_file() {
  local i
  for i in $(seq 1 200); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  printf '[mailstack] %s did not appear\n' "$1" >&2
  return 1
}

# start_postfix DIR: `postfix start` = `postfix check` + `master -w`.
start_postfix() {
  local dir=$1
  if ! postfix -c "$dir/postfix/etc" start </dev/null >>"$dir/daemon-start.log" 2>&1; then
    tail -5 "$dir/daemon-start.log" >&2
    # Early fatal errors go to syslog only (absent here) and to stderr only on
    # a tty: re-run the check under script(1) so the reason becomes visible.
    script -qec "postfix -c '$dir/postfix/etc' check" /dev/null >&2 </dev/null || true
    return 1
  fi
  wait_file "$dir/postfix/spool/pid/master.pid"
}

# stop_pid DIR NAME PID [SIGNAL]: signal (default TERM), wait up to 10 s, then KILL.
stop_pid() {
  local dir=$1 name=$2 pid=$3 sig=${4:-TERM} i
  if ! alive "$pid"; then
    printf '[mailstack] %s (pid %s) not running\n' "$name" "$pid" >&2; return 0
  fi
  if ! is_ours "$dir" "$pid" "$name"; then
    printf '[mailstack] pid %s is not our %s (stale pid file); not touching it\n' "$pid" "$name" >&2
    return 0
  fi
  kill -"$sig" "$pid"
  for i in $(seq 1 200); do
    if ! alive "$pid"; then
      printf '[mailstack] %s (pid %s) stopped (~%s ms)\n' "$name" "$pid" "$(( (i - 1) * 50 ))" >&2
      return 0
    fi
    sleep 0.05
  done
  printf '[mailstack] %s (pid %s) did not stop in 10s; SIGKILL\n' "$name" "$pid" >&2
  kill -KILL "$pid" 2>/dev/null
}

# children_of PID: "pid:comm" of its direct children, read from /proc
# (procps is not on a minimal Debian).
children_of() {
  local parent=$1 f line rest pid comm
  for f in /proc/[0-9]*/stat; do
    { IFS= read -r line < "$f"; } 2>/dev/null || continue
    rest=${line##*) }            # after the comm field, which may hold spaces
    # shellcheck disable=SC2086  # split into fields on purpose
    set -- $rest                 # $1 = state, $2 = ppid
    if [ "${2:-}" = "$parent" ]; then
      pid=${f#/proc/}; pid=${pid%/stat}
      comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
      printf '%s:%s ' "$pid" "$comm"
    fi
  done
}

# stop_dovecot DIR [fast]: fast = SIGKILL the master (~10 ms), else SIGTERM
# (the master then sleeps ~1 s).  Either way the imap/lmtp processes serving
# open connections outlive their master by ~10 s; they are killed too, so
# that a stop looks like a stop to clients (connection reset, then refused).
stop_dovecot() {
  local pid kids e p
  pid=$(dovecot_pid "$1")
  [ -n "$pid" ] || return 0
  alive "$pid" && is_ours "$1" "$pid" dovecot || { stop_pid "$1" dovecot "$pid"; return 0; }
  kids=$(children_of "$pid")
  if [ "${2:-}" = fast ]; then stop_pid "$1" dovecot "$pid" KILL; else stop_pid "$1" dovecot "$pid"; fi
  for e in $kids; do
    p=${e%%:*}
    # same pid AND same name as before: never a reused pid
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "${e#*:}" ] && kill -KILL "$p" 2>/dev/null
  done
  return 0
}

stop_postfix() {
  local pid
  pid=$(postfix_pid "$1")
  [ -n "$pid" ] || return 0
  stop_pid "$1" postfix "$pid"
}
