#!/bin/sh
# modprobe wrapper: Debian's kernel package ships no modules.dep (depmod runs in
# its maintainer script, which our package builds do not run). If the running
# kernel's module directory has no modules.dep yet, run depmod once (it writes
# into /lib/modules/<release>, bound from the host), then run kmod's modprobe.
# With no arguments, load the modules listed in /etc/modules (one a line).
release=$(uname -r)
dir=/lib/modules/$release
if [ -d "$dir" ] && [ ! -s "$dir/modules.dep" ]; then
	echo "modprobe: $dir/modules.dep missing, running depmod $release" >&2
	/sbin/depmod "$release" || echo "modprobe: depmod failed" >&2
fi
if [ $# -eq 0 ]; then
	if [ -f /etc/modules ]; then
		status=0
		while read -r mod args; do
			case "$mod" in '' | '#'*) continue ;; esac
			# shellcheck disable=SC2086
			/sbin/modprobe "$mod" $args || status=1
		done </etc/modules
		exit $status
	fi
	echo "usage: modprobe [OPTIONS] MODULE [PARAMETERS]" >&2
	exit 1
fi
exec /sbin/modprobe "$@"
