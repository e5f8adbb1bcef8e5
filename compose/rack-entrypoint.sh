#!/bin/sh
# The rack service's entry point: give this container every device's address, then run the rack.
#
# The container has one interface on each compose network, with the static address compose gave
# it (SCALEUNIT_MGMT_IP, SCALEUNIT_DATA_IP). The devices' addresses are added to the interface
# that holds that address, as secondary addresses in the same subnet (`ip addr replace` is
# idempotent; a restarted container starts with a new interface, so this runs at every start).
# Needs the NET_ADMIN capability (cap_add in the compose file). Arguments go to `scaleunit up`.
set -eu

add_addresses() {  # add_addresses PRIMARY "ADDRESS ..."
    primary=$1 addresses=$2
    [ -n "$primary" ] || return 0
    # "eth0 10.123.0.2/16" for the interface holding PRIMARY
    set -- $(ip -o -4 addr show | awk -v ip="$primary" '{split($4, a, "/"); if (a[1] == ip) print $2, a[2]}')
    if [ $# -ne 2 ]; then
        echo "error: no interface holds $primary: is the container on that network with that ipv4_address?" >&2
        exit 1
    fi
    dev=$1 prefix=$2
    for address in $addresses; do
        ip addr replace "$address/$prefix" dev "$dev" || {
            echo "error: cannot add $address to $dev (the rack service needs cap_add: [NET_ADMIN])" >&2
            exit 1
        }
    done
    echo "$dev: $primary and $(echo $addresses | wc -w) device addresses"
}

add_addresses "${SCALEUNIT_MGMT_IP:-}" "${SCALEUNIT_MGMT_ADDRESSES:-}"
add_addresses "${SCALEUNIT_DATA_IP:-}" "${SCALEUNIT_DATA_ADDRESSES:-}"

exec scaleunit up \
    --topology "${SCALEUNIT_TOPOLOGY:-/etc/scaleunit/topology.yaml}" \
    --state-dir "${SCALEUNIT_STATE_DIR:-/var/lib/scaleunit}" "$@"
