#!/bin/sh
# mux-age.sh [exit|stop]: an sshrace driver (docs/driver-protocol.md) in POSIX sh with jq.
#
# Each request runs with the real `ssh` through one ControlMaster per host (ControlMaster=auto,
# ControlPersist), as a deploy tool does. At the first request after its master is MUX_MAX_AGE
# scenario seconds old (default 1800, Coolify's SSH_MUX_MAX_AGE), and at each timeline
# `refresh`, the master is recycled with `ssh -O exit` (the default: sessions still running on it
# die with exit 255, the deploy incident) or `ssh -O stop` (argument `stop` or MUX_RECYCLE=stop:
# they finish, new sessions get a new master). Requests run concurrently, each in the background.
#
#   sshrace run stop-then-reap --backend docker --client-cmd "examples/drivers/mux-age.sh"
#   sshrace run stop-then-reap --backend docker --client-cmd "examples/drivers/mux-age.sh stop"
set -u

RECYCLE=${1:-${MUX_RECYCLE:-exit}}
case $RECYCLE in exit | stop) ;; *) echo "mux-age.sh: recycle with exit or stop, not $RECYCLE" >&2; exit 2 ;; esac
command -v jq >/dev/null || { echo "mux-age.sh: needs jq" >&2; exit 2; }

# Control sockets want a short path.
DIR=$(mktemp -d "${SSHRACE_WORKDIR:-${TMPDIR:-/tmp}}/mux.XXXXXX") || exit 2
TAB=$(printf '\t')
MAX_AGE=1 PERSIST=1 # real seconds, from hello's time scale

field() { printf '%s\n' "$1" | jq -r "$2"; }

# A reply line; jq writes it in one write (under PIPE_BUF), so concurrent replies never mix.
reply() { jq -nc "$@"; }

# Set address port user key known for host $1 from hello's targets.
target() {
    while IFS=$TAB read -r name address port user key known; do
        [ "$name" = "$1" ] && return 0
    done <"$DIR/targets"
    return 1
}

ssh_to() { # host user command... (stdin from /dev/null: the driver's stdin is the protocol)
    host=$1 login=$2
    shift 2
    sock="$DIR/$host.sock"
    ssh -F /dev/null -T -o BatchMode=yes -o LogLevel=INFO \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null \
        -o IdentitiesOnly=yes -o IdentityAgent=none -i "$key" -p "$port" -l "$login" \
        -o ControlMaster=auto -o ControlPath="$sock" -o ControlPersist="$PERSIST" \
        "$address" "$@" </dev/null
}

# `ssh -O $2` to host $1's master.
control() {
    echo "mux-age.sh: ssh -O $2 to $1's master" >&2
    [ "$2" = exit ] && date +%s >"$DIR/$1.closed"
    ssh -F /dev/null -S "$DIR/$1.sock" -O "$2" "$1" 2>/dev/null
}

# Recycle host $1's master if it is older than MAX_AGE (one request at a time decides).
recycle_by_age() {
    until mkdir "$DIR/$1.lock" 2>/dev/null; do sleep 0.05; done
    now=$(date +%s)
    if [ ! -S "$DIR/$1.sock" ] || [ ! -f "$DIR/$1.born" ]; then
        echo "$now" >"$DIR/$1.born"
    elif [ $((now - $(cat "$DIR/$1.born"))) -ge "$MAX_AGE" ]; then
        control "$1" "$RECYCLE"
        echo "$now" >"$DIR/$1.born"
    fi
    rmdir "$DIR/$1.lock"
}

# Run one command; sets status, out_bytes, err_bytes, error (empty unless ssh failed) and
# cause (set when this driver knows it: it closed the master under the session itself).
run_command() { # id host user command
    cause=""
    target "$2" || { status=255 error="mux-age.sh: no target $2"; return; }
    recycle_by_age "$2"
    started=$(date +%s)
    ssh_to "$2" "$3" "$4" >"$DIR/$1.out" 2>"$DIR/$1.raw"
    status=$?
    # ssh's own notice is not the remote's stderr.
    grep -v '^Warning: Permanently added' "$DIR/$1.raw" >"$DIR/$1.err"
    out_bytes=$(wc -c <"$DIR/$1.out") err_bytes=$(wc -c <"$DIR/$1.err")
    error=""
    if [ "$status" -eq 255 ]; then
        error=$(head -c 2000 "$DIR/$1.err")
        if [ -z "$error" ] && [ "$(cat "$DIR/$2.closed" 2>/dev/null || echo 0)" -ge "$started" ]; then
            error="ssh exited 255: this driver sent ssh -O exit to the master under the session"
            cause=closed-locally
        fi
        [ -n "$error" ] || error="ssh exited 255 without a message"
    fi
    rm -f "$DIR/$1.out" "$DIR/$1.raw" "$DIR/$1.err"
}

handle_run() {
    id=$(field "$1" .id)
    run_command "$id" "$(field "$1" .host)" "$(field "$1" .user)" "$(field "$1" .command)"
    if [ -n "$error" ]; then
        reply --argjson id "$id" --arg e "$error" --arg c "$cause" \
            '{type:"reply", id:$id, error:$e} + (if $c == "" then {} else {cause:$c} end)'
    else
        reply --argjson id "$id" --argjson s "$status" --argjson o "$out_bytes" --argjson r "$err_bytes" \
            '{type:"reply", id:$id, exit_status:$s, stdout_bytes:$o, stderr_bytes:$r}'
    fi
}

# A job: steps in order, an event each, the results narrated before done (propagate).
handle_job() {
    id=$(field "$1" .id)
    failed=""
    for i in $(seq 0 $(($(field "$1" '.steps | length') - 1))); do
        step=$(field "$1" ".steps[$i]")
        host=$(field "$step" .host)
        reply --argjson id "$id" --arg t "$host: $(field "$step" .name) started" '{type:"event", id:$id, text:$t}'
        run_command "$id.$i" "$host" "$(field "$step" .user)" "$(field "$step" .command)"
        if [ -n "$error" ] || [ "$status" -ne 0 ]; then failed="$host: ${error:-exit $status}"; break; fi
    done
    reply --argjson id "$id" --arg t "${failed:-all steps ok}" '{type:"event", id:$id, text:$t}'
    reply --argjson id "$id" '{type:"done", id:$id}'
    if [ -z "$failed" ]; then
        reply --argjson id "$id" '{type:"reply", id:$id, success:true}'
    elif [ -n "$error" ]; then
        reply --argjson id "$id" --arg e "$error" --arg c "$cause" \
            '{type:"reply", id:$id, success:false, error:$e} + (if $c == "" then {} else {cause:$c} end)'
    else
        reply --argjson id "$id" --argjson s "$status" '{type:"reply", id:$id, success:false, exit_status:$s}'
    fi
}

cleanup() {
    for sock in "$DIR"/*.sock; do
        [ -S "$sock" ] && ssh -F /dev/null -S "$sock" -O exit x 2>/dev/null
    done
    rm -rf "$DIR"
}
trap 'cleanup; exit 0' TERM INT HUP
trap cleanup EXIT
pids=""

while IFS= read -r line; do
    case $(field "$line" .type) in
        hello)
            field "$line" '.targets[] | [.name, .address, (.port | tostring), .user, .key_file, .known_hosts] | @tsv' >"$DIR/targets"
            # Scenario seconds to real ones, at least 1.
            MAX_AGE=$(field "$line" "[((${MUX_MAX_AGE:-1800} * .time_scale) | ceil), 1] | max")
            PERSIST=$(field "$line" "[((${MUX_PERSIST:-3600} * .time_scale) | ceil), 1] | max")
            ;;
        run) handle_run "$line" & pids="$pids $!" ;;
        job) handle_job "$line" & pids="$pids $!" ;;
        refresh) control "$(field "$line" .host)" "$RECYCLE" ;;
        master) control "$(field "$line" .host)" "$(field "$line" .command)" ;;
        shutdown) break ;;
        *) ;; # control and cancel: this driver ignores them
    esac
done
# Masters first (their sessions end with them), then what is still running.
cleanup
# shellcheck disable=SC2086 # a list of pids
[ -z "$pids" ] || kill $pids 2>/dev/null
exit 0
