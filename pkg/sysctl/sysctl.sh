#!/bin/sh
# Apply every file of a directory of sysctl settings (default /etc/sysctl.d, in
# name order) to /proc/sys. Lines are `key = value`; `#` and `;` start comments;
# keys use `.` or `/` as separators. A setting that cannot be parsed or written
# gives a warning on stderr and the others are still applied.
#
#   sysctl [-configDir DIR] [-sysctlDir DIR]

configdir=/etc/sysctl.d
sysctldir=/proc/sys

usage() {
	echo "usage: $0 [-configDir DIR] [-sysctlDir DIR]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	-configDir|--configDir) [ $# -ge 2 ] || usage; configdir=$2; shift ;;
	-configDir=*|--configDir=*) configdir=${1#*=} ;;
	-sysctlDir|--sysctlDir) [ $# -ge 2 ] || usage; sysctldir=$2; shift ;;
	-sysctlDir=*|--sysctlDir=*) sysctldir=${1#*=} ;;
	-h|-help|--help) usage ;;
	*) echo "sysctl: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

warn() {
	echo "sysctl: WARN: $*" >&2
}

trim() {
	t=$1
	t=${t#"${t%%[![:space:]]*}"}
	t=${t%"${t##*[![:space:]]}"}
	printf '%s' "$t"
}

if [ ! -d "$configdir" ]; then
	echo "sysctl: Cannot read directory $configdir" >&2
	exit 1
fi

for file in "$configdir"/*; do
	[ -f "$file" ] || continue
	while IFS= read -r line || [ -n "$line" ]; do
		line=$(trim "$line")
		case "$line" in
		'' | '#'* | ';'*) continue ;;
		*=*=*) warn "Cannot parse $line"; continue ;;
		*=*) ;;
		*) warn "Cannot parse $line"; continue ;;
		esac
		key=$(trim "${line%%=*}")
		value=$(trim "${line#*=}")
		path=$sysctldir/$(printf '%s' "$key" | tr './' '//')
		if [ ! -e "$path" ]; then
			warn "Cannot open $path: no such file or directory"
			continue
		fi
		if ! printf '%s' "$value" 2>/dev/null >"$path"; then
			warn "Cannot write to $path"
		fi
	done <"$file"
done
exit 0
