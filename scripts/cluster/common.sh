# shellcheck shell=bash
# shellcheck disable=SC2153  # NAME is set by the script that sources this file
# Helpers shared by sge.sh and slurm.sh (sourced, not run). The caller sets NAME (sge or
# slurm), PACKAGES, MARKER and MODE first.

STATE_DIR=${JUPYTER_WPS_TEST_STATE_DIR:-/run/jupyter-wps-test}
STATE=$STATE_DIR/$NAME.started
LOCK=$STATE_DIR/$NAME.lock
T0=${EPOCHREALTIME/./}

log() {
    local us=$((${EPOCHREALTIME/./} - T0))
    printf '[%s %3d.%01ds] %s\n' "$NAME" $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die() {
    log "ERROR: $*"
    exit 1
}

# daemons leave short-lived zombies here: only a live process counts
running() { pgrep -r R,S,D -x "$1" >/dev/null; }

# start a daemon with every inherited descriptor closed (else a caller's pipe never ends)
daemon() {
    local name=$1
    shift
    mkdir -p "$STATE_DIR"
    "$@" </dev/null >>"$STATE_DIR/$name.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
}

packages_installed() {
    local p
    for p in "${PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || return 1
    done
}

ours() { [[ -f $MARKER ]]; }
use_existing() { [[ $MODE == existing ]]; }

wait_for() { # seconds description command...
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$(($(date +%s) + seconds))
    until "$@"; do
        (($(date +%s) < deadline)) || return 1
        sleep 0.2
    done
    log "$what"
}

lock() {
    mkdir -p "$STATE_DIR"
    exec 9>"$LOCK"
    flock -w 600 9 || die "another $NAME.sh holds $LOCK"
}

record_started() { # daemon
    mkdir -p "$STATE_DIR"
    grep -qx "$1" "$STATE" 2>/dev/null || echo "$1" >>"$STATE"
}
