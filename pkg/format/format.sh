#!/bin/sh
# format: partition a disk with one partition spanning it and make a filesystem.
#
#   format [-type ext4|xfs|btrfs] [-label LABEL] [-partition dos|gpt] [-force]
#          [-verbose] [DEVICE]
#
# Without DEVICE: the first block device (in name order; loop*, nbd* and
# partitions such as sda1 are skipped) with no partition table and no filesystem
# or other signature is formatted. With DEVICE: DEVICE is formatted if it is empty
# in that sense, or in any case with -force (its partition table is replaced).
# Options take one or two dashes, and `-opt=value` works as `-opt value`.

fstype=ext4
label=
ptype=dos
force=false
verbose=false
ext4opts=resize_inode,has_journal,extent,huge_file,flex_bg,uninit_bg,64bit,dir_nlink,extra_isize

log() {
	echo "$(date '+%Y/%m/%d %H:%M:%S') $*" >&2
}
vlog() {
	[ "$verbose" = true ] && log "$@"
	return 0
}
die() {
	log "$@"
	exit 1
}
usage() {
	echo "usage: format [-type ext4|xfs|btrfs] [-label LABEL] [-partition dos|gpt] [-force] [-verbose] [DEVICE]" >&2
	exit 2
}

# value OPTION ARG: the value of -opt=value or of the next argument
while [ $# -gt 0 ]; do
	opt=$1
	case "$opt" in
	--*) opt=${opt#-} ;;
	esac
	case "$opt" in
	-type | -label | -partition)
		[ $# -ge 2 ] || usage
		val=$2
		shift
		;;
	-type=* | -label=* | -partition=*)
		val=${opt#*=}
		opt=${opt%%=*}
		;;
	esac
	case "$opt" in
	-type) fstype=$val ;;
	-label) label=$val ;;
	-partition) ptype=$val ;;
	-force | -force=true) force=true ;;
	-force=false) force=false ;;
	-verbose | -verbose=true) verbose=true ;;
	-verbose=false) verbose=false ;;
	-h | -help) usage ;;
	--) shift; break ;;
	-*) echo "format: flag provided but not defined: $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done

[ $# -le 1 ] || die "Too many arguments provided"
case "$ptype" in
dos | mbr) ptype=dos ;;
gpt) ;;
*) die "Unsupported partition table type $ptype (dos or gpt)" ;;
esac

is_block() {
	[ -b "$1" ]
}

has_partitions() {
	sfdisk -d "$1" >/dev/null 2>&1
}

# is_empty DEVICE: no signature that blkid recognises and no partition table
is_empty() {
	vlog "Checking if $1 is empty"
	out=$(blkid "$1" 2>&1)
	status=$?
	if [ $status -eq 0 ]; then
		log "$1 has content. blkid returned: $out"
		return 1
	fi
	if [ $status -ne 2 ]; then
		die "Could not determine if $1 was empty. blkid $1 returned: $out (exitcode $status)"
	fi
	vlog "blkid did not find any existing content on $1."
	if has_partitions "$1"; then
		log "Partition table found on device $1. Skipping."
		return 1
	fi
	return 0
}

# partition_of DEVICE: the name of its first partition
partition_of() {
	case "$1" in
	*[0-9]) echo "${1}p1" ;;
	*) echo "${1}1" ;;
	esac
}

wait_for() {
	mdev -s 2>/dev/null
	i=0
	while [ $i -lt 60 ]; do
		if is_block "$1"; then
			# even after the device appears there is a race
			sleep 1
			return 0
		fi
		sleep 0.1
		mdev -s 2>/dev/null
		i=$((i + 1))
	done
	die "Failed to find block device $1"
}

format() {
	dev=$1
	if [ "$force" = true ] && has_partitions "$dev"; then
		vlog "Clearing partitions on $dev because forced format was requested"
	fi
	log "Creating partition on $dev"
	# one partition over the whole disk; `L` is the Linux type for dos and gpt
	if ! out=$(printf 'label: %s\n,,L\n' "$ptype" | sfdisk --quiet --wipe always --wipe-partitions always "$dev" 2>&1); then
		die "Error running sfdisk: $out"
	fi
	blockdev --rereadpt "$dev" || die "Error running blockdev --rereadpt $dev"
	part=$(partition_of "$dev")
	wait_for "$part"

	case "$fstype" in
	ext4) set -- mkfs.ext4 -F -O "$ext4opts" ${label:+-L "$label"} ;;
	btrfs) set -- mkfs.btrfs -f ${label:+-L "$label"} ;;
	xfs) set -- mkfs.xfs -f ${label:+-L "$label"} ;;
	*)
		log "WARNING: Unsupported filesystem."
		set -- mkfs -t "$fstype"
		;;
	esac
	vlog "Running $* $part"
	if ! out=$("$@" "$part" 2>&1); then
		die "Error running mkfs: $out"
	fi
	log "Partition $part successfully created!"
}

# the candidate disks: block devices in /dev, not loop*, nbd* or partitions
find_drives() {
	for d in /dev/*; do
		name=${d#/dev/}
		if ! is_block "$d"; then
			continue
		fi
		case "$name" in
		loop* | nbd*)
			vlog "ignored device $d during drive autodetection"
			continue
			;;
		esac
		if expr "$name" : '[a-z][a-z]*[0-9][0-9]*$' >/dev/null; then
			vlog "ignored device $d during drive autodetection"
			continue
		fi
		echo "$d"
	done
}

autoformat() {
	for d in "$@"; do
		vlog "Considering auto format for device $d"
		if is_empty "$d"; then
			format "$d"
			return 0
		fi
	done
	die "No eligible disks found"
}

if [ $# -eq 0 ]; then
	# shellcheck disable=SC2046
	autoformat $(find_drives)
else
	[ -e "$1" ] || die "$1 does not exist"
	is_block "$1" || die "$1 is not a block device"
	if [ "$force" = true ]; then
		format "$1"
	else
		autoformat "$1"
	fi
fi
