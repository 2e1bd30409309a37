#!/bin/bash
# systemd-sandbox.sh - boot a real systemd as PID 1 of private pid/mount/uts/ipc/net/cgroup
# namespaces, for sockrun's system tests. Needs root, Linux, util-linux (unshare, nsenter,
# setpriv, pivot_root) and the installed systemd; no systemd-nspawn, no container image.
#
#   SD=<work dir> NAME=<unique name> systemd-sandbox.sh up     boot; prints the host pid of PID 1
#   SD=... systemd-sandbox.sh sh CMD...                           run CMD inside (all namespaces)
#   SD=... systemd-sandbox.sh down                                poweroff, SIGKILL fallback, cgroup removed
#
# Inside: / is the host's root READ-ONLY; /run /tmp /dev are private tmpfs; /var is an overlay
# whose writes land in a tmpfs; $SD is writable at the same path; $SD/units is
# /etc/systemd/system (write units there, then `sh systemctl daemon-reload`); only loopback
# networking. It keeps systemd's side effects off the host; it is not a security boundary.
#
# Learned from shared/reference/systemd-sandbox (verified on Debian 12 / systemd 252); every
# guard below exists because something leaked or failed without it.
set -euo pipefail

SD=${SD:?SD must name a work dir}
NAME=${NAME:?NAME must be unique per sandbox (cgroup name and hostname)}
ROOT=$SD/root
SELF=$(readlink -f "$0")
# The host's cgroup-v2 hierarchy: /sys/fs/cgroup itself (unified) or /sys/fs/cgroup/unified (hybrid).
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then CGROOT=/sys/fs/cgroup; else CGROOT=/sys/fs/cgroup/unified; fi
CG=$CGROOT/sockrun-sandbox-$NAME
export SD NAME ROOT CG

say() { printf '%s [sandbox %s] %s\n' "$(date +%T.%3N)" "$NAME" "$*" >&2; }
alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

case "${1:-}" in
up)
    [ -e "$SD/pid" ] && { say "already up ($SD/pid exists)"; exit 1; }
    [ "$(stat -fc %T "$CGROOT" 2>/dev/null)" = cgroup2fs ] || { say "no cgroup2 hierarchy at $CGROOT"; exit 3; }
    t0=$(now_ms)
    mkdir -p "$ROOT" "$SD/empty" "$SD/scratch" "$SD/units" "$SD/state"
    # The vendor units minus every *.wants / *.requires directory: nothing is pulled in that
    # we did not ask for (sysinit.target.wants alone would run tmpfiles --remove, udev, ...).
    if [ ! -d "$SD/vendor" ]; then
        cp -a /usr/lib/systemd/system "$SD/vendor.tmp"
        rm -rf "$SD"/vendor.tmp/*.wants "$SD"/vendor.tmp/*.requires
        # Kernel audit state is global to the host: the audit socket stays masked.
        ln -sf /dev/null "$SD/vendor.tmp/systemd-journald-audit.socket"
        mv "$SD/vendor.tmp" "$SD/vendor"
    fi
    cat >"$SD/units/sandbox.target" <<'EOF'
[Unit]
Description=sockrun test sandbox (booted instead of default.target)
Requires=basic.target
Wants=systemd-journald.service systemd-journald.socket dbus.socket
After=basic.target systemd-journald.service
AllowIsolate=yes
EOF
    mkdir -p "$CG"
    # setsid: no terminal signal reaches PID 1. --kill-child: if unshare dies, so does PID 1.
    setsid unshare --pid --fork --kill-child --mount --propagation private --uts --ipc --net \
        -- "$SELF" __enter </dev/null >"$SD/boot.log" 2>&1 &
    upid=$!
    echo "$upid" >"$SD/upid"
    pid=
    for _ in $(seq 500); do          # PID 1 of the sandbox = unshare's only child
        pid=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null || true); pid=${pid// }
        [ -n "$pid" ] && break
        sleep 0.01
    done
    [ -n "$pid" ] || { say "unshare never forked"; cat "$SD/boot.log" >&2; exit 1; }
    echo "$pid" >"$SD/pid"
    for _ in $(seq 1500); do         # systemd's private bus: what root's systemctl talks to
        nsenter -t "$pid" -a -- test -S /run/systemd/private 2>/dev/null && break
        alive "$upid" || { say "boot failed:"; cat "$SD/boot.log" >&2; exit 1; }
        sleep 0.01
    done
    state=$(timeout 60 nsenter -t "$pid" -a -- systemctl is-system-running --wait 2>/dev/null || true)
    say "up: host pid $pid, state=$state, $(( $(now_ms) - t0 )) ms"
    echo "$pid"
    ;;

sh) shift; exec nsenter -t "$(cat "$SD/pid")" -a -- "$@" ;;

down)
    t0=$(now_ms)
    pid=$(cat "$SD/pid" 2>/dev/null || true); upid=$(cat "$SD/upid" 2>/dev/null || true)
    if [ -n "$pid" ] && alive "$pid"; then
        nsenter -t "$pid" -a -- systemctl poweroff --no-block 2>/dev/null \
            || kill -RTMIN+4 "$pid" 2>/dev/null || true        # SIGRTMIN+4 asks PID 1 to power off
    fi
    if [ -n "$upid" ]; then
        for _ in $(seq 1000); do alive "$upid" || break; sleep 0.01; done
        if alive "$upid"; then
            say "poweroff took > 10 s: SIGKILL to the sandbox's PID 1 (ends its whole pid namespace)"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 500); do alive "$upid" || break; sleep 0.01; done
        fi
    fi
    if [ -d "$CG" ]; then
        if cat "$CG/cgroup.procs" $(find "$CG" -mindepth 2 -name cgroup.procs) 2>/dev/null | grep -q .; then
            say "processes left in $CG: cgroup.kill"
            echo 1 >"$CG/cgroup.kill" 2>/dev/null || true
            sleep 0.2
        fi
        find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [ ! -d "$CG" ] || { say "could not remove $CG"; exit 1; }
    fi
    rm -f "$SD/pid" "$SD/upid"
    say "down in $(( $(now_ms) - t0 )) ms"
    ;;

__enter)   # PID 1 of the new pid namespace, still in the host's cgroup namespace
    echo 0 >"$CG/cgroup.procs"                 # only ourselves into the sandbox cgroup
    exec unshare --cgroup -- "$SELF" __boot    # cgroup namespace rooted at $CG: systemd sees "/"
    ;;

__boot)    # assemble the root under $ROOT, pivot into it, become systemd
    m() { mount -n "$@"; }                     # -n: never write the host's /run/mount/utab
    m --bind / "$ROOT"; m -o remount,bind,ro "$ROOT"     # read-only mount flag, host superblock untouched
    m -t proc -o nosuid,nodev,noexec proc "$ROOT/proc"
    # /proc/sys read-only: PID 1 writes fs.nr_open / fs.file-max even in containers (host-global).
    m --bind "$ROOT/proc/sys" "$ROOT/proc/sys"; m -o remount,bind,ro "$ROOT/proc/sys"
    m -t sysfs -o ro,nosuid,nodev,noexec sysfs "$ROOT/sys"
    m -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$ROOT/sys/fs/cgroup"
    m -t tmpfs -o nosuid,mode=755,size=4m tmpfs "$ROOT/dev"
    for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
        IFS=: read -r n major minor <<<"$dev"; mknod -m 666 "$ROOT/dev/$n" c "$major" "$minor"
    done
    mkdir -m 755 "$ROOT/dev/pts"; mkdir -m 1777 "$ROOT/dev/shm"; ln -s pts/ptmx "$ROOT/dev/ptmx"
    m -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$ROOT/dev/pts"
    m -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$ROOT/dev/shm"
    m -t tmpfs -o nosuid,nodev,mode=755,size=256m tmpfs "$ROOT/run"
    m -t tmpfs -o nosuid,nodev,mode=1777,size=512m tmpfs "$ROOT/tmp"
    m -t tmpfs -o mode=700 tmpfs "$SD/scratch"           # /var's upper layer; unreachable after pivot
    mkdir "$SD/scratch/upper" "$SD/scratch/work"
    m -t overlay -o "lowerdir=/var,upperdir=$SD/scratch/upper,workdir=$SD/scratch/work" overlay "$ROOT/var"
    mkdir -p "$ROOT$SD" 2>/dev/null || true; m --bind "$SD" "$ROOT$SD"
    # Host directories the tests need at their own path (the repository), read-only, above the
    # private /tmp and /run: RO_BINDS="/path/a /path/b".
    for d in ${RO_BINDS:-}; do mkdir -p "$ROOT$d" 2>/dev/null || true; m --bind "$d" "$ROOT$d"; m -o remount,bind,ro "$ROOT$d"; done
    m --bind "$SD/units" "$ROOT/etc/systemd/system"        # only our units and enablements
    m -o bind,ro "$SD/vendor" "$ROOT/usr/lib/systemd/system"
    m -o bind,ro "$SD/empty" "$ROOT/usr/lib/systemd/system-generators"
    mkdir -p "$ROOT/run/systemd/journald.conf.d" "$ROOT/run/systemd/system.conf.d"
    printf '[Journal]\nStorage=volatile\nAudit=\n' >"$ROOT/run/systemd/journald.conf.d/sandbox.conf"
    # No core dumps from a watchdog's SIGABRT; no rate limit on test units that restart a lot.
    printf '[Manager]\nDefaultLimitCORE=0\nDefaultStartLimitIntervalSec=0\n' >"$ROOT/run/systemd/system.conf.d/sandbox.conf"
    cd "$ROOT"; pivot_root . .; umount -n -l .; cd /
    # container=...: systemd behaves as in a container (no clock/kmod setup, and at shutdown it
    # never remounts the shared root superblock read-only). The bounding set drops capabilities
    # whose effects are host-global.
    exec setpriv --bounding-set -sys_module,-sys_rawio,-sys_time,-sys_boot,-audit_control,-audit_read,-audit_write,-syslog,-mac_admin,-mac_override,-wake_alarm,-block_suspend,-sys_pacct \
        env -i container=sockrun-sandbox TERM=dumb \
        /usr/lib/systemd/systemd --unit=sandbox.target systemd.hostname="$NAME"
    ;;

*) echo "usage: SD=dir NAME=name $0 up | sh CMD... | down" >&2; exit 2 ;;
esac
