#!/bin/sh
# Power the machine off after a delay: `poweroff.sh [SECONDS]` (default 30).
# Used by tests, which run it as `/bin/sh /poweroff.sh N`.
delay=${1:-30}
sleep "$delay"
exec /sbin/poweroff -f
