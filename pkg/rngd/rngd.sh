#!/bin/sh
# /sbin/rngd: feed the kernel's entropy pool from the hardware random number
# sources (RDRAND/RDSEED via rng-tools5's DRNG source, /dev/hwrng, TPM).
#
#   rngd        run in the foreground (a service)
#   rngd -1     one shot: feed the pool for a moment, then exit 0 (onboot)
#   rngd ARGS   other arguments are rng-tools5 rngd's (see rngd --help)
oneshot=false
if [ "$1" = "-1" ]; then
	oneshot=true
	shift
fi
if [ "$oneshot" = true ]; then
	# rng-tools5 has no one-shot mode: run it briefly, ending it with SIGTERM
	timeout 2 /usr/sbin/rngd -f "$@"
	status=$?
	# 143 = ended by SIGTERM after the time limit: the normal case here
	if [ "$status" -ne 0 ] && [ "$status" -ne 143 ]; then
		echo "rngd: rngd exited with status $status" >&2
	fi
	exit 0
fi
exec /usr/sbin/rngd -f "$@"
