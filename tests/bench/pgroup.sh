# pgroup.sh - process groups for the bench scripts (sourced by encrypted.sh and console.sh):
# every daemon runs in a session of its own (PGID = PID), is watched through /proc and is
# stopped by its PGID (TERM, KILL after 5 s), also on exit or Ctrl-C. The script sets tmp
# (its temp dir) and KEEP (1: keep it) before sourcing this; every wait here is bounded.
STARTED=()         # PGIDs of every daemon the script started

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# pg_stat PGID -> "live_processes cpu_ticks" (utime+stime+cutime+cstime of the group)
pg_stat() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pg="$1" '
		{ s = $0; sub(/^.*\) /, "", s); split(s, a, " ")
		  if (a[3] == pg) { t += a[12] + a[13] + a[14] + a[15]; if (a[1] != "Z") live++ } }
		END { print live + 0, t + 0 }'
}
pg_alive() { local s; s=$(pg_stat "$1"); [ "${s%% *}" -gt 0 ]; }

# launch LOG CMD...: CMD in a new session (PGID = PID); sets LAST_PID
launch() {
	local logf=$1 pg; shift
	setsid "$@" >"$logf" 2>&1 </dev/null &
	LAST_PID=$!
	STARTED+=("$LAST_PID")
	for _ in $(seq 1 100); do   # until setsid() has run in the child
		pg=$(awk '{ s = $0; sub(/^.*\) /, "", s); split(s, a, " "); print a[3] }' \
			"/proc/$LAST_PID/stat" 2>/dev/null) || break
		[ "$pg" = "$LAST_PID" ] && break
		sleep 0.02
	done
}

stop_pg() {
	local p=$1 keep=() q
	{ [ -n "$p" ] && [ "$p" != 0 ]; } || return 0
	if pg_alive "$p"; then
		kill -TERM -- "-$p" 2>/dev/null
		for _ in $(seq 1 50); do pg_alive "$p" || break; sleep 0.1; done
		pg_alive "$p" && { kill -KILL -- "-$p" 2>/dev/null; sleep 0.2; }
	fi
	wait "$p" 2>/dev/null
	for q in "${STARTED[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	STARTED=("${keep[@]}")
}

cleanup() {
	local p
	for p in "${STARTED[@]}"; do stop_pg "$p"; done
	if [ "$KEEP" = 1 ]; then echo "kept: $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM
