# shellcheck shell=bash
# cached.sh: what scripts/consul.sh, jaeger.sh and pebble.sh share, sourced
# by each: one program of the tests, built or installed once into the cache
# ($SLUICE_CACHE, default $HOME/.cache/sluice) and found there by `path`.
#
# The sourcing script sets TOOL (its name in messages), and calls
# cached_init DIR BIN to name the cache directory and binary under the cache
# root; it then has CACHED_DIR and CACHED_BIN, and die, usage LINES,
# cmd_path and build_from_module.

CACHE_ROOT="${SLUICE_CACHE:-$HOME/.cache/sluice}"

# cached_init DIR BIN sets CACHED_DIR=$CACHE_ROOT/DIR and CACHED_BIN=CACHED_DIR/BIN.
cached_init() {
	CACHED_DIR="$CACHE_ROOT/$1"
	CACHED_BIN="$CACHED_DIR/$2"
}

die() {
	echo "$TOOL: $*" >&2
	exit 1
}

# usage LINES prints the calling script's header comment (lines 2..LINES).
usage() {
	sed -n "2,${1}p" "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# cmd_path prints the cached binary's path, or fails when there is none.
cmd_path() {
	[[ -x "$CACHED_BIN" ]] || return 1
	echo "$CACHED_BIN"
}

# build_from_module MODULE VERSION PACKAGE [PREPARE [LDFLAGS]] builds PACKAGE
# of MODULE@vVERSION into the cache, once, and prints the binary's path. It
# builds inside a copy of the module's source from the Go module proxy,
# outside any module of the caller's, so that the module's own replace
# directives hold (`go install module@version` refuses a module that has
# them). PREPARE, when given, is a function run in the copy before the
# build (to edit its go.mod); a replace pointing at a local directory left
# after it is an error.
build_from_module() {
	local module=$1 version=$2 pkg=$3 prepare=${4:-} ldflags=${5:-}
	if [[ -x "$CACHED_BIN" ]]; then
		echo "$CACHED_BIN"
		return 0
	fi
	command -v go >/dev/null || die "go toolchain not found in PATH"
	local work src start
	start=$(date +%s)
	work=$(mktemp -d "${TMPDIR:-/tmp}/$TOOL-build.XXXXXX")
	# shellcheck disable=SC2064 # expand $work now
	trap "chmod -R u+w '$work' 2>/dev/null; rm -rf '$work'" EXIT
	export GOFLAGS=-mod=mod GOWORK=off GO111MODULE=on
	src=$(cd "$work" && go mod download -json "$module@v$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n "$src" && -d "$src" ]] || die "go mod download of $module v$version failed"
	cp -R "$src" "$work/src"
	chmod -R u+w "$work/src"
	cd "$work/src"
	[[ -z "$prepare" ]] || "$prepare"
	if grep -Eq '=>[[:space:]]*\.' go.mod; then
		die "$module's go.mod has a local replace: $(grep -E '=>[[:space:]]*\.' go.mod)"
	fi
	echo "$TOOL: building $module v$version (takes minutes)..." >&2
	go mod download
	mkdir -p "$CACHED_DIR"
	CGO_ENABLED=0 go build -trimpath -o "$CACHED_BIN.tmp" -ldflags "$ldflags" "$pkg"
	mv "$CACHED_BIN.tmp" "$CACHED_BIN"
	echo "$TOOL: built in $(($(date +%s) - start))s" >&2
	echo "$CACHED_BIN"
}

# start_dir DIR prints DIR's absolute path, made if need be; it dies when
# the process whose pid DIR/$DAEMON.pid holds still runs.
start_dir() {
	local dir
	mkdir -p "$1"
	dir=$(cd "$1" && pwd)
	if [[ -f "$dir/$DAEMON.pid" ]] && kill -0 "$(cat "$dir/$DAEMON.pid")" 2>/dev/null; then
		die "$DAEMON already runs from $dir (pid $(cat "$dir/$DAEMON.pid"))"
	fi
	echo "$dir"
}

# run_until_ready DIR TIMEOUT READY CMD... runs CMD in the background, its
# output in DIR/$DAEMON.log and its pid in DIR/$DAEMON.pid, and waits
# until the command READY succeeds. The process exiting first, or TIMEOUT seconds
# passing (it is then killed), dies with the log's last lines.
run_until_ready() {
	local dir=$1 name=$DAEMON timeout=$2 ready=$3
	shift 3
	"$@" >"$dir/$name.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$dir/$name.pid"
	local deadline=$(($(date +%s) + timeout))
	until "$ready"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$dir/$name.log" >&2 || true
			die "$name exited during start; log in $dir/$name.log"
		fi
		if (($(date +%s) >= deadline)); then
			kill "$pid" 2>/dev/null || true
			tail -n 20 "$dir/$name.log" >&2 || true
			die "$name not ready ($ready) after ${timeout}s; log in $dir/$name.log"
		fi
		sleep 0.1
	done
}

# stop_pidfile PIDFILE stops the process whose pid PIDFILE holds: SIGTERM,
# up to 10 s to exit, then SIGKILL; the file is removed. No file: nothing.
stop_pidfile() {
	local pidfile=$1 pid
	[[ -f "$pidfile" ]] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

# cached_main LINES [COMMAND [DIR]] runs the script's command: build
# (cmd_build) and path, and, for a script with cmd_start, start DIR and
# stop DIR; anything else prints the usage (lines 2..LINES of the script).
cached_main() {
	local lines=$1 cmd=${2:-} dir=${3:-}
	case "$cmd" in
	build) cmd_build ;;
	path) cmd_path ;;
	start | stop)
		declare -F cmd_start >/dev/null || usage "$lines"
		[[ -n "$dir" ]] || die "$cmd needs a directory"
		if [[ $cmd == start ]]; then
			cmd_start "$dir"
		else
			stop_pidfile "$dir/$DAEMON.pid"
		fi
		;;
	*) usage "$lines" ;;
	esac
}
