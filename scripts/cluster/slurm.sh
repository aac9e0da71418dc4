#!/usr/bin/env bash
# A real single-node Slurm for the tests (the Slurm backend).
#
# Usage: scripts/cluster/slurm.sh install|start|stop|status|env
#
#   install  Debian packages (munge slurm-wlm slurmctld slurmd slurm-client),
#            the munge key and a one-node slurm.conf (partition `debug`, the
#            default: this host, OverSubscribe=FORCE:4, no accounting; finished
#            jobs stay in `scontrol show job` for MinJobAge=300 s and in the
#            jobcomp file /var/log/slurm/jobcomp.log).
#   start    munged, slurmctld and slurmd; waits for the node and a trivial job.
#   stop     stops the daemons, but only those that these scripts started.
#   status   prints key=value lines; exits 0 when the cluster answers, else 1.
#   env      prints the `export ...` lines a process needs (SLURM_CONF).
#
# Needs root. Idempotent: on a machine where it already ran, each step only
# checks. It never reconfigures a Slurm that it did not configure itself (a
# marker file tells which); with JUPYTER_WPS_TEST_SLURM=existing it uses an
# installed, running Slurm as it is and changes nothing.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARKER=$CONF_DIR/.jupyter-wps-test
PACKAGES=(munge slurm-wlm slurmctld slurmd slurm-client)
PARTITION=debug
SPOOL=/var/lib/slurm
LOGS=/var/log/slurm
JOBCOMP=$LOGS/jobcomp.log
HOST=$(hostname -s)
MODE=${JUPYTER_WPS_TEST_SLURM:-}
NAME=slurm
# shellcheck source=scripts/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --------------------------------------------------------------------------- install

install_packages() {
    if packages_installed; then
        log "packages already installed"
        return
    fi
    if [[ $(apt-cache policy slurmctld 2>/dev/null) != *"Candidate: "[0-9]* ]]; then
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
    mkdir -p "$STATE_DIR"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" >"$STATE_DIR/slurm-apt.log" 2>&1 || status=$?
    if [[ -n $saved ]]; then
        mv -f "$saved" "$policy"
    else
        rm -f "$policy"
    fi
    ((status == 0)) || die "apt-get install failed ($status); see $STATE_DIR/slurm-apt.log: $(tail -5 "$STATE_DIR/slurm-apt.log")"
    log "packages installed"
}

munge_key() {
    local key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        mungekey -c -k "$key" || die "mungekey -c failed"
        log "munge key created"
    fi
    chown munge:munge "$key"
    chmod 400 "$key"
}

write_conf() {
    local node
    node=$(slurmd -C 2>/dev/null | grep '^NodeName=') || die "slurmd -C printed no NodeName line"
    mkdir -p "$CONF_DIR" "$SPOOL/slurmctld" "$SPOOL/slurmd" "$LOGS"
    touch "$JOBCOMP"
    chmod 644 "$JOBCOMP"
    local new
    new=$(
        cat <<EOF
# One-node Slurm for the jupyter-wps tests: written by scripts/cluster/slurm.sh
ClusterName=jupyterwps
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
ReturnToService=2
MinJobAge=300
MaxJobCount=100000
KillWait=5
InactiveLimit=0
Waittime=0
StateSaveLocation=$SPOOL/slurmctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
$node State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
    )
    if [[ -f $CONF && $(cat "$CONF") == "$new" ]]; then
        log "slurm.conf already written"
        return
    fi
    printf '%s\n' "$new" >"$CONF"
    chmod 644 "$CONF"
    log "slurm.conf written: $node"
    if running slurmctld; then
        scontrol reconfigure || die "scontrol reconfigure failed"
    fi
}

cmd_install() {
    lock
    if use_existing; then
        packages_installed || die "JUPYTER_WPS_TEST_SLURM=existing, but the Slurm packages are not installed"
        log "JUPYTER_WPS_TEST_SLURM=existing: using the installed Slurm as it is"
        return
    fi
    if [[ -e $CONF ]] && ! ours; then
        die "$CONF exists but was not written by these scripts (no $MARKER): not touching it; set JUPYTER_WPS_TEST_SLURM=existing to use this Slurm as it is"
    fi
    install_packages
    mkdir -p "$CONF_DIR"
    echo "# Slurm set up for the tests by jupyter-wps scripts/cluster/slurm.sh" >"$MARKER"
    munge_key
    write_conf
}

# --------------------------------------------------------------------------- start

node_state() {
    local line
    line=$(timeout 5 scontrol -o show node "$HOST" 2>/dev/null) || return 0
    [[ $line =~ (^| )State=([^ ]+) ]] && echo "${BASH_REMATCH[2]}"
}

node_ready() { [[ $(node_state) =~ ^(IDLE|MIXED|ALLOCATED)$ ]]; }

ctld_answers() { [[ $(timeout 5 scontrol ping 2>/dev/null) == *"is UP"* ]]; }

job_done() { # jobid: finished (COMPLETED, else fail the wait at once)
    local line
    line=$(timeout 5 scontrol -o show job "$1" 2>/dev/null) || return 1
    [[ $line == *JobState=COMPLETED* ]] && return 0
    if [[ $line =~ JobState=(FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) ]]; then
        log "probe job $1: ${BASH_REMATCH[0]}"
        exit 1 # stop waiting: trivial_job runs the wait in a subshell
    fi
    return 1
}

# [user]: submit `true` as root or as user, wait until it completed (polling
# scontrol: `sbatch --wait` polls at 2, 4, 8 s and so takes up to 10 s)
trivial_job() {
    local -a as=()
    local id
    [[ -n ${1:-} ]] && as=(runuser -u "$1" --)
    id=$(cd / && timeout 30 "${as[@]}" sbatch --parsable -J jupyter-wps-probe \
        -D /tmp -o /dev/null -e /dev/null --wrap true </dev/null) || return 1
    id=${id%%;*}
    (wait_for 60 "probe job $id${1:+ of $1} completed" job_done "$id")
}

cmd_start() {
    lock
    if use_existing; then
        ctld_answers || die "JUPYTER_WPS_TEST_SLURM=existing, but slurmctld does not answer"
        log "JUPYTER_WPS_TEST_SLURM=existing: using the running Slurm as it is"
        return
    fi
    packages_installed || die "Slurm is not installed: run '$0 install' first"
    if ! ours || [[ ! -f $CONF ]]; then
        die "Slurm here was not configured by these scripts (no $MARKER): not starting it; set JUPYTER_WPS_TEST_SLURM=existing to use it as it is"
    fi
    local fresh=0
    if ! running munged; then
        install -d -o munge -g munge -m 755 /run/munge
        daemon munged runuser -u munge -- /usr/sbin/munged || die "munged failed to start; see $STATE_DIR/munged.log"
        record_started munged
        wait_for 10 "munged started" bash -c 'munge -n </dev/null | unmunge >/dev/null 2>&1' ||
            die "munged does not answer"
    fi
    if ! running slurmctld; then
        fresh=1
        daemon slurmctld /usr/sbin/slurmctld || die "slurmctld failed to start; see $LOGS/slurmctld.log"
        record_started slurmctld
    fi
    wait_for 30 "slurmctld answers" ctld_answers ||
        die "slurmctld does not answer: $(tail -5 "$LOGS/slurmctld.log" 2>&1)"
    if ! running slurmd; then
        fresh=1
        daemon slurmd /usr/sbin/slurmd || die "slurmd failed to start; see $LOGS/slurmd.log"
        record_started slurmd
        log "slurmd started"
    fi
    if ! wait_for 30 "node $HOST is $(node_state)" node_ready; then
        # a node left down or drained by an earlier run of ours: put it back
        scontrol update nodename="$HOST" state=resume 2>/dev/null || true
        wait_for 15 "node $HOST resumed" node_ready ||
            die "node $HOST is $(node_state): $(tail -5 "$LOGS/slurmd.log" 2>&1)"
    fi
    if ((fresh)); then
        trivial_job || die "a trivial job (sbatch --wrap true) did not complete"
        if id wpsalice >/dev/null 2>&1; then
            trivial_job wpsalice || die "a trivial job submitted by wpsalice did not complete"
        fi
    fi
    log "Slurm is up"
}

# --------------------------------------------------------------------------- stop

cmd_stop() {
    lock
    if [[ ! -s $STATE ]]; then
        log "these scripts started no Slurm daemon: leaving Slurm alone"
        return
    fi
    local d
    for d in slurmd slurmctld munged; do
        grep -qx "$d" "$STATE" || continue
        pkill -TERM -x "$d" 2>/dev/null || true
        if ! wait_for 30 "$d stopped" bash -c "! pgrep -r R,S,D -x $d >/dev/null"; then
            log "$d still runs after 30 s: SIGKILL"
            pkill -KILL -x "$d" || true
            wait_for 10 "$d killed" bash -c "! pgrep -r R,S,D -x $d >/dev/null" || die "$d does not stop"
        fi
    done
    rm -f "$STATE"
    log "Slurm stopped"
}

# --------------------------------------------------------------------------- status, env

cmd_status() {
    local installed=no configured=no up=no started=""
    packages_installed && installed=yes
    if ours && [[ -f $CONF ]]; then
        configured=ours
    elif [[ -f $CONF ]]; then
        configured=foreign
    fi
    running munged && running slurmctld && running slurmd && ctld_answers && node_ready && up=yes
    [[ -s $STATE ]] && started=$(paste -sd, "$STATE")
    echo "installed=$installed"
    echo "configured=$configured"
    echo "running=$up"
    echo "started_by_scripts=${started:-none}"
    [[ $up == yes ]]
}

cmd_env() {
    echo "export SLURM_CONF=${SLURM_CONF:-$CONF}"
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
