#!/bin/sh
# Create and enable a swap file.
#
#   swap.sh --path /var/PATH --size SIZE [--encrypt] [--condition COND]... [--debug]
#
# SIZE is bytes or a number with K, M or G. The file must be under /var.
# Conditions (all must hold, else the script exits 0, or 1 if REQUIRED is true):
#   part:MOUNTPOINT[:REQUIRED]          MOUNTPOINT is a mount point of its own
#   partsize:MOUNTPOINT:MINSIZE[:REQUIRED]  the filesystem there has at least MINSIZE
# --encrypt maps the file through dm-crypt (plain mode, random key) and swaps on
# /dev/mapper/swapfile.
set -e

path=
size=
encrypt=false
conditions=

while [ $# -gt 0 ]; do
	case "$1" in
	--debug) set -x ;;
	--path) [ $# -ge 2 ] || { echo "swap: --path needs a value" >&2; exit 1; }; path=$2; shift ;;
	--size) [ $# -ge 2 ] || { echo "swap: --size needs a value" >&2; exit 1; }; size=$2; shift ;;
	--encrypt) encrypt=true ;;
	--condition) [ $# -ge 2 ] || { echo "swap: --condition needs a value" >&2; exit 1; }; conditions="$conditions $2"; shift ;;
	*) echo "Unknown option passed to swapmaker: $1" >&2; exit 1 ;;
	esac
	shift
done

# to_bytes SIZE: SIZE with an optional K, M or G suffix, in bytes
to_bytes() {
	case "$1" in
	*G) echo $((${1%G} * 1024 * 1024 * 1024)) ;;
	*M) echo $((${1%M} * 1024 * 1024)) ;;
	*K) echo $((${1%K} * 1024)) ;;
	*) echo $(($1)) ;;
	esac
}

if [ -z "$path" ]; then
	echo "swap: --path <path> must be defined" >&2
	exit 1
fi
case "$path" in
/var/?*) ;;
*) echo "swap: --path <path> must be under /var" >&2; exit 1 ;;
esac
if [ -z "$size" ]; then
	echo "swap: --size <size> must be defined" >&2
	exit 1
fi

# unmet REQUIRED: exit 1 when REQUIRED is true, else 0 (no swap, no error)
unmet() {
	echo "swap: condition $2 not met, not creating swap" >&2
	if [ "$1" = true ]; then exit 1; fi
	exit 0
}

for cond in $conditions; do
	oldifs=$IFS
	IFS=:
	# shellcheck disable=SC2086
	set -- $cond
	IFS=$oldifs
	case "$1" in
	part)
		if ! awk -v m="$2" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; then
			unmet "$3" "$cond"
		fi
		;;
	partsize)
		have=$(df -k "$2" | tail -n 1 | awk '{ print $2 }')
		have=$((have * 1024))
		want=$(to_bytes "$3")
		if [ "$have" -lt "$want" ]; then
			unmet "$4" "$cond"
		fi
		;;
	*)
		echo "swap: Unknown condition: $cond" >&2
		exit 1
		;;
	esac
done

bytes=$(to_bytes "$size")
dd if=/dev/zero of="$path" bs=1024 count=$((bytes / 1024))
chmod 0600 "$path"

if [ "$encrypt" = true ]; then
	cryptsetup open --type plain --key-file /dev/urandom --key-size=256 \
		--hash=sha256 --cipher=aes-cbc-essiv:sha256 --offset=0 "$path" swapfile
	dev=/dev/mapper/swapfile
else
	dev=$path
fi

mkswap "$dev"
swapon "$dev"
