#!/bin/sh
# Start a getty on every console named by `console=` on the kernel command line and
# restart it whenever it exits. INSECURE=true logs root in without a password.
# /hostroot/etc/getty.shadow (the host's /etc/getty.shadow) replaces /etc/shadow.

securetty=/etc/securetty

# forever CMD...: run CMD again each time it exits
forever() {
	while true; do
		"$@"
		sleep 1
	done
}

# start_getty CONSOLE: CONSOLE is `tty[,speed...]` as in console=
start_getty() {
	tty=${1%%,*}
	speed=${1#*,}
	[ "$speed" = "$1" ] && speed=115200
	# console=ttyS0,115200n8: the speed is the leading digits
	speed=${speed%%[!0-9]*}
	[ -n "$speed" ] || speed=115200
	line=
	term=linux
	case "$tty" in
	ttyS* | ttyAMA* | ttyUSB* | ttyMFD*)
		line=-L
		term=vt100
		;;
	tty | tty[0-9])
		speed=38400
		;;
	esac

	if [ ! -e "/dev/$tty" ]; then
		echo "getty: console=$tty on the kernel command line but /dev/$tty does not exist" >&2
		return
	fi
	if ! grep -q -x -F "$tty" "$securetty"; then
		echo "getty: cmdline has console=$tty but does not exist in $securetty; will not be able to log in as root on this tty $tty." >"/dev/$tty"
	fi

	issue=/etc/issue
	[ -f /hostroot/etc/issue ] && issue=/hostroot/etc/issue

	if [ "$INSECURE" = true ]; then
		# -n: no login prompt; the "login program" logs root in
		forever getty -n -l /usr/bin/autologin -f "$issue" $line "$speed" "$tty" $term &
	else
		forever getty -f "$issue" $line "$speed" "$tty" $term &
	fi
}

if [ -f /hostroot/etc/getty.shadow ]; then
	cp /hostroot/etc/getty.shadow /etc/shadow
	# in case the file has no final newline
	echo >>/etc/shadow
	chmod 0640 /etc/shadow
fi

started=false
for opt in $(cat /proc/cmdline); do
	case "$opt" in
	console=*)
		start_getty "${opt#console=}"
		started=true
		;;
	esac
done
if [ "$started" = false ]; then
	echo "getty: no console= on the kernel command line, starting a getty on /dev/console" >&2
	start_getty console
fi

# the gettys run in the background; wait for them (forever)
wait
