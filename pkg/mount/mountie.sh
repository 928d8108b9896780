#!/bin/sh
# mountie: mount a filesystem onto a mount point (created if missing).
#
#   mountie [-label LABEL | -uuid UUID | -device DEVICE] [DEVICE] MOUNTPOINT
#
# The device is DEVICE (argument or -device), else the one with filesystem label
# LABEL, else the one with UUID; with none of them, the first Linux partition
# (type 83 on a dos disk, the Linux filesystem type on a gpt disk) that is not
# mounted yet, looking at the disks in name order. The mount point should be under
# /var: the label binds the host's /var with shared propagation, so only mounts
# there are seen outside the container.
# Options take one or two dashes, and `-opt=value` works as `-opt value`.

device=
label=
uuid=
linux_gpt=0FC63DAF-8483-4772-8E79-3D69D8477DE4

log() {
	echo "$(date '+%Y/%m/%d %H:%M:%S') $*" >&2
}
die() {
	log "$@"
	exit 1
}
usage() {
	echo "usage: mountie [-label LABEL | -uuid UUID | -device DEVICE] [DEVICE] MOUNTPOINT" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	opt=$1
	case "$opt" in
	--*) opt=${opt#-} ;;
	esac
	case "$opt" in
	-label | -uuid | -device)
		[ $# -ge 2 ] || usage
		val=$2
		shift
		;;
	-label=* | -uuid=* | -device=*)
		val=${opt#*=}
		opt=${opt%%=*}
		;;
	esac
	case "$opt" in
	-label) label=$val ;;
	-uuid) uuid=$val ;;
	-device) device=$val ;;
	-h | -help) usage ;;
	--) shift; break ;;
	-*) echo "mountie: flag provided but not defined: $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done

case $# in
0) die "No mountpoints provided" ;;
1) mountpoint=$1 ;;
2) device=$1; mountpoint=$2 ;;
*) die "Too many arguments" ;;
esac

case "$mountpoint" in
/var/*) ;;
*) log "warning: $mountpoint is not under /var; the mount will not be visible outside this container" ;;
esac

mkdir -p "$mountpoint" || die "Unable to create mountpoint $mountpoint"

if [ -z "$device" ] && [ -n "$label" ]; then
	device=$(findfs "LABEL=$label") || die "Error finding device with LABEL=$label"
fi
if [ -z "$device" ] && [ -n "$uuid" ]; then
	device=$(findfs "UUID=$uuid") || die "Error finding device with UUID=$uuid"
fi

# the candidate disks: block devices in /dev, not loop*, nbd* or partitions
find_drives() {
	for d in /dev/*; do
		[ -b "$d" ] || continue
		name=${d#/dev/}
		case "$name" in
		loop* | nbd*) continue ;;
		esac
		expr "$name" : '[a-z][a-z]*[0-9][0-9]*$' >/dev/null && continue
		echo "$d"
	done
}

# is_mounted DEVICE: DEVICE is the source of a mount
is_mounted() {
	awk -v d="$1" '$1 == d { found = 1 } END { exit !found }' /proc/mounts
}

find_first() {
	for d in $(find_drives); do
		if ! table=$(sfdisk -d "$d" 2>/dev/null); then
			log "No partition table found on device $d. Skipping."
			continue
		fi
		# lines like `/dev/sda1 : start=2048, size=..., type=83`
		parts=$(printf '%s\n' "$table" | awk -v gpt="$linux_gpt" '
			$2 == ":" {
				type = ""
				n = split($0, f, ",")
				for (i = 1; i <= n; i++) {
					if (f[i] ~ /type=/) { type = f[i]; sub(/.*type= */, "", type) }
				}
				if (type == "83" || toupper(type) == gpt) print $1
			}')
		for p in $parts; do
			if is_mounted "$p"; then
				log "$p already mounted. Skipping"
				continue
			fi
			echo "$p"
			return 0
		done
	done
	return 1
}

if [ -z "$device" ]; then
	device=$(find_first) || die "No eligible disks found"
fi

if ! out=$(mount "$device" "$mountpoint" 2>&1); then
	die "Error mounting $device to $mountpoint: $out"
fi
log "Mounted $device on $mountpoint"
