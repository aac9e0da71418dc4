#!/usr/bin/env bash
# A real single-node Son of Grid Engine for the tests (the DRMAA backend).
#
# Usage: scripts/cluster/sge.sh install|start|stop|status|env
#
#   install  Debian packages (gridengine-master/-exec/-client/-drmaa1.0) and the
#            Python `drmaa` package; then one exec host, submit host and queue
#            all.q on this host (4 slots), root's jobs allowed, fast scheduling.
#            Leaves sge_qmaster running (configuring needs it).
#   start    sge_qmaster and sge_execd; waits until a trivial job has run.
#   stop     stops the daemons, but only those that these scripts started.
#   status   prints key=value lines; exits 0 when the cluster answers, else 1.
#   env      prints the `export ...` lines a DRMAA process needs (set them
#            before that process starts: DRMAA reads them when it loads).
#
# Needs root. Idempotent: on a machine where it already ran, each step only
# checks. It never reconfigures an SGE that it did not configure itself (a
# marker file tells which); with JUPYTER_WPS_TEST_SGE=existing it uses an
# installed, running SGE as it is and changes nothing.
#
# Environment: PYTHON (the interpreter to install `drmaa` into; python3),
# JUPYTER_WPS_TEST_SGE (`existing`: use the running SGE as is).
set -euo pipefail

export SGE_ROOT=${SGE_ROOT:-/var/lib/gridengine}
export SGE_CELL=${SGE_CELL:-default}
DRMAA_LIBRARY=/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0
PACKAGES=(gridengine-master gridengine-exec gridengine-client gridengine-drmaa1.0)
MARKER=$SGE_ROOT/.jupyter-wps-test
COMMON=$SGE_ROOT/$SGE_CELL/common
PYTHON=${PYTHON:-python3}
HOST=$(hostname)
MODE=${JUPYTER_WPS_TEST_SGE:-}
NAME=sge
# shellcheck source=scripts/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

any_running() { running sge_qmaster || running sge_execd; }

python_drmaa_installed() {
    "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("drmaa") is None)'
}

# has_line LINE command...: the command succeeds and prints LINE (no pipe: with
# pipefail, `cmd | grep -q` fails when grep stops reading early)
has_line() {
    local out
    out=$("${@:2}" 2>/dev/null) || return 1
    grep -qxF -- "$1" <<<"$out"
}

# `qconf`/`qstat` block for ever while qmaster retries a taken port: always a timeout
q() { timeout 20 "$@"; }
qmaster_answers() { timeout 5 qconf -sh >/dev/null 2>&1; }

# --------------------------------------------------------------------------- install

install_packages() {
    if packages_installed; then
        log "packages already installed"
        return
    fi
    # claim the cell before the packages create it: from now on it is ours to configure
    mkdir -p "$SGE_ROOT"
    echo "# SGE set up for the tests by jupyter-wps scripts/cluster/sge.sh" >"$MARKER"
    local p
    for p in gridengine-master gridengine-exec gridengine-client gridengine-common; do
        echo "$p shared/gridengineconfig boolean true"
        echo "$p shared/gridenginecell string $SGE_CELL"
        echo "$p shared/gridenginemaster string $HOST"
    done | debconf-set-selections
    if [[ $(apt-cache policy gridengine-master 2>/dev/null) != *"Candidate: "[0-9]* ]]; then
        log "apt-get update"
        apt-get update -qq
    fi
    # no service starts during the install (there is no init system to ask anyway)
    local policy=/usr/sbin/policy-rc.d saved=""
    if [[ -e $policy ]]; then
        saved=$(mktemp)
        cp -p "$policy" "$saved"
    fi
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    local status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" >"$STATE_DIR/sge-apt.log" 2>&1 || status=$?
    if [[ -n $saved ]]; then
        mv -f "$saved" "$policy"
    else
        rm -f "$policy"
    fi
    ((status == 0)) || die "apt-get install failed ($status); see $STATE_DIR/sge-apt.log: $(tail -5 "$STATE_DIR/sge-apt.log")"
    log "packages installed"
}

install_python_drmaa() {
    if python_drmaa_installed; then
        log "python drmaa already installed ($PYTHON)"
        return
    fi
    "$PYTHON" -m pip install --quiet --disable-pip-version-check drmaa ||
        die "pip install drmaa failed ($PYTHON)"
    log "python drmaa installed ($PYTHON)"
}

fix_host_files() {
    [[ -d $COMMON ]] || die "$COMMON is missing: the packages did not create the cell"
    # the host name resolves to 127.0.0.1, which SGE calls localhost
    local aliases="$HOST localhost"
    if [[ $(cat "$COMMON/host_aliases" 2>/dev/null) != "$aliases" ]]; then
        echo "$aliases" >"$COMMON/host_aliases"
    fi
    if [[ $(cat "$COMMON/act_qmaster" 2>/dev/null) != "$HOST" ]]; then
        echo "$HOST" >"$COMMON/act_qmaster"
    fi
}

start_qmaster() {
    if running sge_qmaster; then
        wait_for 30 "sge_qmaster answers" qmaster_answers || die "sge_qmaster runs but does not answer"
        return
    fi
    daemon qmaster /usr/sbin/sge_qmaster || die "sge_qmaster failed to start; see $STATE_DIR/qmaster.log"
    record_started sge_qmaster
    wait_for 30 "sge_qmaster started and answers" qmaster_answers ||
        die "sge_qmaster does not answer; see $SGE_ROOT/$SGE_CELL/spool/qmaster/messages"
}

configure() {
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN

    # root (uid 0) may run jobs: the tests and CI run as root
    q qconf -sconf global | sed -E '/^#/d;/^global:/d' |
        sed -E 's/^(min_uid|min_gid)( +).*/\1\20/' >"$tmp/global"
    grep -Eq '^min_uid +0$' "$tmp/global" || echo "min_uid 0" >>"$tmp/global"
    grep -Eq '^min_gid +0$' "$tmp/global" || echo "min_gid 0" >>"$tmp/global"
    q qconf -Mconf "$tmp/global" >/dev/null

    # fast scheduling
    q qconf -ssconf | sed -E \
        -e 's/^(schedule_interval +).*/\10:0:1/' \
        -e 's/^(flush_submit_sec +).*/\11/' \
        -e 's/^(flush_finish_sec +).*/\11/' \
        -e 's/^(job_load_adjustments +).*/\1NONE/' \
        -e 's/^(load_adjustment_decay_time +).*/\10:0:0/' >"$tmp/sconf"
    q qconf -Msconf "$tmp/sconf" >/dev/null

    has_line "$HOST" q qconf -ss || q qconf -as "$HOST" >/dev/null

    if ! has_line "$HOST" q qconf -sel; then
        cat >"$tmp/exechost" <<EOF
hostname              $HOST
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
        q qconf -Ae "$tmp/exechost" >/dev/null
    fi

    local verb=-Aq
    if has_line all.q q qconf -sql; then
        verb=-Mq
        q qconf -sq all.q >"$tmp/queue"
    else
        q qconf -sq >"$tmp/queue" # the template
    fi
    sed -Ei \
        -e 's/^(qname +).*/\1all.q/' \
        -e "s/^(hostlist +).*/\\1$HOST/" \
        -e 's/^(slots +).*/\14/' \
        -e 's/^(pe_list +).*/\1NONE/' \
        -e 's/^(load_thresholds +).*/\1NONE/' \
        -e 's/^(shell +).*/\1\/bin\/sh/' \
        "$tmp/queue"
    q qconf "$verb" "$tmp/queue" >/dev/null
    echo "configured $(date -u +%FT%TZ)" >>"$MARKER"
    log "configured: exec and submit host $HOST, queue all.q (4 slots), min_uid 0, 1 s scheduling"
}

configured() {
    grep -q '^configured ' "$MARKER" 2>/dev/null &&
        has_line all.q q qconf -sql &&
        grep -Eq '^min_uid +0$' <<<"$(q qconf -sconf global 2>/dev/null)"
}

cmd_install() {
    lock
    if use_existing; then
        packages_installed || die "JUPYTER_WPS_TEST_SGE=existing, but the SGE packages are not installed"
        install_python_drmaa
        log "JUPYTER_WPS_TEST_SGE=existing: using the installed SGE as it is"
        return
    fi
    if packages_installed && ! ours; then
        die "SGE is installed here but was not configured by these scripts (no $MARKER): not touching it; set JUPYTER_WPS_TEST_SGE=existing to use it as it is"
    fi
    install_packages
    install_python_drmaa
    fix_host_files
    if grep -q '^configured ' "$MARKER" 2>/dev/null && ! running sge_qmaster; then
        log "already configured"
        return
    fi
    start_qmaster
    if configured; then
        log "already configured"
    else
        configure
    fi
}

# --------------------------------------------------------------------------- start

queue_up() { # all.q on this host has no a(larm)/u(nknown)/d(isabled)/E(rror) state
    local line
    line=$(timeout 5 qstat -f -q "all.q@$HOST" 2>/dev/null | awk -v q="all.q@$HOST" '$1 == q') || return 1
    [[ -n $line ]] || return 1
    [[ ! $(awk '{print $6}' <<<"$line") =~ [audEsSoc] ]]
}

trivial_job() { # [user]: qsub -sync y /bin/true, as root or as user
    local -a as=()
    [[ -n ${1:-} ]] && as=(runuser -u "$1" --)
    (cd / && timeout 60 "${as[@]}" env SGE_ROOT="$SGE_ROOT" SGE_CELL="$SGE_CELL" \
        qsub -b y -sync y -N jupyter-wps-probe -o /dev/null -e /dev/null /bin/true >/dev/null)
}

cmd_start() {
    lock
    if use_existing; then
        qmaster_answers || die "JUPYTER_WPS_TEST_SGE=existing, but sge_qmaster does not answer"
        log "JUPYTER_WPS_TEST_SGE=existing: using the running SGE as it is"
        return
    fi
    packages_installed || die "SGE is not installed: run '$0 install' first"
    ours || die "SGE here was not configured by these scripts (no $MARKER): not starting it; set JUPYTER_WPS_TEST_SGE=existing to use it as it is"
    grep -q '^configured ' "$MARKER" || die "SGE is not configured yet: run '$0 install' first"
    fix_host_files
    local fresh=0
    running sge_qmaster || fresh=1
    running sge_execd || fresh=1
    start_qmaster
    if ! running sge_execd; then
        daemon execd /usr/sbin/sge_execd || die "sge_execd failed to start; see $STATE_DIR/execd.log"
        record_started sge_execd
        log "sge_execd started"
    fi
    wait_for 60 "queue all.q@$HOST is up" queue_up ||
        die "queue all.q@$HOST is not up: $(timeout 5 qstat -f 2>&1 | tail -3)"
    if ((fresh)); then
        trivial_job || die "a trivial job (qsub -b y -sync y /bin/true) failed"
        log "a trivial job ran"
        if id wpsalice >/dev/null 2>&1; then
            trivial_job wpsalice || die "a trivial job submitted by wpsalice failed"
            log "a trivial job of wpsalice ran"
        fi
    fi
    log "SGE is up"
}

# --------------------------------------------------------------------------- stop

cmd_stop() {
    lock
    if [[ ! -s $STATE ]]; then
        log "these scripts started no SGE daemon: leaving SGE alone"
        return
    fi
    if grep -qx sge_execd "$STATE" && running sge_execd; then
        q qconf -ke all >/dev/null 2>&1 || log "qconf -ke all failed"
    fi
    if grep -qx sge_qmaster "$STATE" && running sge_qmaster; then
        q qconf -km >/dev/null 2>&1 || log "qconf -km failed"
    fi
    local d
    for d in sge_execd sge_qmaster; do
        grep -qx "$d" "$STATE" || continue
        if ! wait_for 30 "$d stopped" bash -c "! pgrep -r R,S,D -x $d >/dev/null"; then
            log "$d still runs after 30 s: SIGKILL"
            pkill -KILL -x "$d" || true
            wait_for 10 "$d killed" bash -c "! pgrep -r R,S,D -x $d >/dev/null" || die "$d does not stop"
        fi
    done
    rm -f "$STATE"
    log "SGE stopped"
}

# --------------------------------------------------------------------------- status, env

cmd_status() {
    local installed=no configured=no up=no started=""
    packages_installed && installed=yes
    if ours; then
        configured=ours
        grep -q '^configured ' "$MARKER" 2>/dev/null || configured=incomplete
    elif [[ -d $COMMON ]]; then
        configured=foreign
    fi
    running sge_qmaster && running sge_execd && qmaster_answers && up=yes
    [[ -s $STATE ]] && started=$(paste -sd, "$STATE")
    echo "installed=$installed"
    echo "configured=$configured"
    echo "running=$up"
    echo "started_by_scripts=${started:-none}"
    [[ $up == yes ]]
}

cmd_env() {
    local tunables=glibc.rtld.optional_static_tls=16384
    if [[ -n ${GLIBC_TUNABLES:-} && $GLIBC_TUNABLES != *optional_static_tls* ]]; then
        tunables="$GLIBC_TUNABLES:$tunables"
    fi
    echo "export SGE_ROOT=$SGE_ROOT"
    echo "export SGE_CELL=$SGE_CELL"
    echo "export DRMAA_LIBRARY_PATH=$DRMAA_LIBRARY"
    echo "export GLIBC_TUNABLES=$tunables"
}

main() {
    case ${1:-} in
    install | start | stop)
        [[ $(id -u) == 0 ]] || die "$1 needs root"
        "cmd_$1"
        ;;
    status | env) "cmd_$1" ;;
    *)
        echo "usage: $0 install|start|stop|status|env" >&2
        exit 2
        ;;
    esac
}

main "$@"
