#!/bin/sh
# The namespace lab's underlay, made or removed idempotently; prints "changed" when it
# changed anything. Written for the netwright.fabric lab role (tasks/main.yml runs it).
#
#   underlay.sh up   PREFIX DIR PREFIXLEN BIRD NODE=IP...
#   underlay.sh down PREFIX DIR NODE...
#
# up: a switch namespace PREFIX-sw with bridge br0, and per node a namespace PREFIX-NODE
# whose eth0 (a veth into the switch) holds IP/PREFIXLEN; with BIRD=1, one BIRD per node
# namespace on NODE's socket under DIR/nodes/NODE (run/bird/bird.ctl, where netwright's
# rendered configuration expects it) with a bootstrap configuration, its pid recorded.
# Every namespace made is recorded in DIR/namespaces before it is made.
# down: stops each recorded BIRD (only a pid that is still a bird), deletes every
# recorded or named namespace, removes DIR. Safe to run twice, and after a failed up.
set -eu
action=$1 prefix=$2 dir=$3
shift 3
changed=0
record="$dir/namespaces"

ns_exists() { [ -e "/run/netns/$1" ]; }

bird_pid() {  # the live BIRD of pid file $1, or nothing
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    case $pid in *[!0-9]*|'') return 0 ;; esac
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = bird ] && echo "$pid"
    return 0
}

add_ns() {
    echo "$1" >>"$record"
    ip netns add "$1"
    changed=1
}

case $action in
up)
    prefixlen=$1 bird=$2
    shift 2
    mkdir -p "$dir"
    touch "$record"
    sw="$prefix-sw"
    if ! ns_exists "$sw"; then
        add_ns "$sw"
        ip -n "$sw" link add br0 type bridge
        ip -n "$sw" link set br0 up
    fi
    for pair in "$@"; do
        node=${pair%%=*} addr=${pair#*=}
        ns="$prefix-$node"
        if ! ns_exists "$ns"; then
            add_ns "$ns"
            ip link add eth0 netns "$ns" type veth peer name "v$node" netns "$sw"
            ip -n "$sw" link set "v$node" master br0 up
            ip -n "$ns" link set lo up
        fi
        if ! ip -n "$ns" -o address show dev eth0 | grep -q " $addr/$prefixlen "; then
            ip -n "$ns" address add "$addr/$prefixlen" dev eth0
            changed=1
        fi
        if ! ip -n "$ns" -o link show dev eth0 up | grep -q .; then
            ip -n "$ns" link set eth0 up
            changed=1
        fi
        [ "$bird" = 1 ] || continue
        root="$dir/nodes/$node"
        pidfile="$dir/bird/$node.pid"
        [ -n "$(bird_pid "$pidfile")" ] && continue
        mkdir -p "$root/run/bird" "$root/var/log/bird" "$dir/bird"
        conf="$dir/bird/$node.bootstrap.conf"
        printf '%s\n' "# BIRD's configuration until netwright's own is applied." \
            "log \"$root/var/log/bird/bird.log\" all;" "router id $addr;" \
            "protocol device { scan time 10; }" >"$conf"
        rm -f "$pidfile"
        ip netns exec "$ns" bird -c "$conf" -s "$root/run/bird/bird.ctl" -P "$pidfile"
        tries=0
        until [ -n "$(bird_pid "$pidfile")" ] && [ -S "$root/run/bird/bird.ctl" ]; do
            tries=$((tries + 1))
            if [ "$tries" -gt 500 ]; then
                echo "bird $node: no pid file $pidfile or socket within 10 s" >&2
                exit 1
            fi
            sleep 0.02
        done
        changed=1
    done
    ;;
down)
    pids=""
    for pidfile in "$dir"/bird/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(bird_pid "$pidfile")
        [ -n "$pid" ] && kill "$pid" && pids="$pids $pid" && changed=1
    done
    for pid in $pids; do  # wait until each is gone (10 s), then kill it
        tries=0
        while [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = bird ] && [ "$tries" -lt 500 ]; do
            tries=$((tries + 1))
            sleep 0.02
        done
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = bird ] && kill -9 "$pid"
    done
    names="$prefix-sw"
    for node in "$@"; do names="$names $prefix-$node"; done
    [ -s "$record" ] && names="$names $(cat "$record")"
    for ns in $names; do
        if ns_exists "$ns"; then
            ip netns del "$ns"
            changed=1
        fi
    done
    if [ -e "$dir" ]; then
        rm -rf "$dir"
        changed=1
    fi
    ;;
*)
    echo "usage: underlay.sh up|down PREFIX DIR ..." >&2
    exit 2
    ;;
esac
[ "$changed" = 1 ] && echo changed
exit 0
