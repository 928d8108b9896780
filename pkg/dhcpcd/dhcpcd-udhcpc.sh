#!/bin/sh
# /sbin/dhcpcd: a dhcpcd-compatible front end to busybox udhcpc.
#
# Debian's dhcpcd 9.4.1 uses privilege separation and crashes (SIGSEGV) when
# its `dhcpcd` user cannot be looked up, which is always the case here: the
# label binds the host's /run/resolvconf over the container's /etc. This
# front end accepts dhcpcd's usual arguments (-1 one-shot, --nobackground,
# -f FILE, interface names) and runs udhcpc on each interface (default: every
# eth*), writing /etc/resolv.conf (the host's /run/resolvconf/resolv.conf).
# The real dhcpcd stays at /usr/sbin/dhcpcd.
oneshot=false
ifaces=
while [ $# -gt 0 ]; do
	case "$1" in
	-1 | --oneshot) oneshot=true ;;
	-f | --config | -t | --timeout | -h | --hostname | -I | --clientid) shift ;;
	-*) ;;
	*) ifaces="$ifaces $1" ;;
	esac
	shift
done
if [ -z "$ifaces" ]; then
	for i in /sys/class/net/eth*; do
		[ -e "$i" ] && ifaces="$ifaces ${i##*/}"
	done
fi
if [ -z "$ifaces" ]; then
	echo "dhcpcd: no valid interfaces found" >&2
	$oneshot && exit 1
fi
echo "dhcpcd (udhcpc): interfaces:$ifaces"
status=0
for i in $ifaces; do
	ip link set "$i" up
	if $oneshot; then
		# up to 10 tries, quit once configured; exit 1 if no lease
		udhcpc -i "$i" -n -q -t 10 -T 1 -s /usr/share/udhcpc/default.script -x hostname:"$(hostname)" || status=1
	else
		udhcpc -i "$i" -f -t 0 -s /usr/share/udhcpc/default.script -x hostname:"$(hostname)" &
	fi
done
$oneshot && exit $status
wait
