#!/usr/bin/env bash
# scripts/mailstack/ctl.sh DIR COMMAND -- break and mend a running test stack,
# for tests of reconnects and outages.
#
#   restart-dovecot   stop Dovecot the way `systemctl restart` does (SIGTERM:
#                     every IMAP client gets "* BYE Server shutting down" and is
#                     disconnected, ~1 s), start it again, wait for IMAP
#   stop-dovecot      the same stop (IMAP and LMTP then refuse connections)
#   start-dovecot     start it again and wait for the IMAP greeting
#   stop-smtp         stop Postfix (SMTP refuses connections)
#   start-smtp        start it again and wait for the SMTP greeting
#   status            print "dovecot up|down" and "postfix up|down"
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# = 2 ] || { echo "usage: $0 DIR restart-dovecot|stop-dovecot|start-dovecot|stop-smtp|start-smtp|status" >&2; exit 2; }
DIR=$(cd "$1" && pwd -P)
[ -s "$DIR/env" ] || { echo "$DIR has no env file: not a running mailstack" >&2; exit 2; }
IMAP_PORT=$(env_get "$DIR" IMAP_PORT)
SMTP_PORT=$(env_get "$DIR" SMTP_PORT)

up_down() { if [ -n "$1" ] && alive "$1"; then echo up; else echo down; fi; }

case $2 in
  # Not SIGKILL here: a killed master leaves its imap processes serving the
  # open connections for ~10 s more, which is not what a restart looks like.
  stop-dovecot)
    stop_dovecot "$DIR"
    wait_port_free "$IMAP_PORT" || { echo "IMAP port $IMAP_PORT still open" >&2; exit 1; }
    ;;
  start-dovecot)
    start_dovecot "$DIR"
    wait_greeting "$IMAP_PORT" '* OK' || { echo "IMAP did not answer on $IMAP_PORT" >&2; exit 1; }
    ;;
  restart-dovecot)
    stop_dovecot "$DIR"
    wait_port_free "$IMAP_PORT" || { echo "IMAP port $IMAP_PORT still open" >&2; exit 1; }
    start_dovecot "$DIR"
    wait_greeting "$IMAP_PORT" '* OK' || { echo "IMAP did not answer on $IMAP_PORT" >&2; exit 1; }
    ;;
  stop-smtp)
    [ -n "$SMTP_PORT" ] || { echo "this instance has no SMTP" >&2; exit 2; }
    stop_postfix "$DIR"
    wait_port_free "$SMTP_PORT" || { echo "SMTP port $SMTP_PORT still open" >&2; exit 1; }
    ;;
  start-smtp)
    [ -n "$SMTP_PORT" ] || { echo "this instance has no SMTP" >&2; exit 2; }
    start_postfix "$DIR"
    wait_greeting "$SMTP_PORT" '220 ' || { echo "SMTP did not answer on $SMTP_PORT" >&2; exit 1; }
    ;;
  status)
    echo "dovecot $(up_down "$(dovecot_pid "$DIR")")"
    echo "postfix $(up_down "$(postfix_pid "$DIR")")"
    ;;
  *) echo "unknown command $2" >&2; exit 2 ;;
esac
