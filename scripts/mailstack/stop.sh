#!/usr/bin/env bash
# scripts/mailstack/stop.sh [--fast] [--purge] DIR -- stop the Dovecot and
# Postfix that start.sh started from DIR (default: $MAILSTACK_DIR).
#
# Only the two master pids recorded in DIR are signalled, after checking that
# each really belongs to DIR; each master stops its own children.
#   --fast    SIGKILL the Dovecot master (~10 ms) instead of SIGTERM (~1.1 s)
#   --purge   also delete DIR (and its short runtime dir, if it has one)
# Exit status: 0 when both are down (or were not running).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

PURGE=0 FAST=
while [ $# -gt 0 ]; do
  case $1 in
    --purge) PURGE=1; shift ;;
    --fast)  FAST=fast; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
DIR=${1:-${MAILSTACK_DIR:-}}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "usage: $0 [--fast] [--purge] DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd -P)

rc=0
# Postfix first, so that it does not try to deliver into a stopped Dovecot.
stop_postfix "$DIR" || rc=1
stop_dovecot "$DIR" $FAST || rc=1

if [ "$PURGE" = 1 ]; then
  if [ -s "$DIR/runtime-dir" ]; then rm -rf "$(cat "$DIR/runtime-dir")"; fi
  rm -rf "$DIR"
  printf '[mailstack] removed %s\n' "$DIR" >&2
fi
exit $rc
