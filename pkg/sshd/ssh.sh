#!/bin/sh
# Start OpenSSH's sshd in the foreground, logging to stderr.
# - host keys: made at the first start (ssh-keygen -A makes every missing type)
# - /run/sshd: sshd's privilege separation directory (/run is the host's)
# - root's keys: /root/.ssh/authorized_keys, usually bound from the host with
#   binds.add: [/run/config/ssh/authorized_keys:/root/.ssh/authorized_keys]
set -e

mkdir -p /run/sshd
chmod 0755 /run/sshd

if ! ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
	echo "sshd: generating host keys" >&2
fi
ssh-keygen -A

if [ -d /root/.ssh ]; then
	chmod 0700 /root/.ssh 2>/dev/null || true
fi

exec /usr/sbin/sshd -D -e "$@"
