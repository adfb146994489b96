#!/bin/sh
# Add Debian's security and point-release updates to a debootstrap root's sources.list,
# which names only "bookworm main", so the server images get fixed packages. Only for the
# default mirror layout (deb.debian.org), where the security archive sits beside it.
set -eu
list=/etc/apt/sources.list
mirror=$(awk '$1 == "deb" { print $2; exit }' "$list")
suite=$(awk '$1 == "deb" { print $3; exit }' "$list")
case "$mirror" in
    http://deb.debian.org/debian|http://deb.debian.org/debian/)
        grep -q -- "$suite-updates" "$list" || echo "deb $mirror $suite-updates main" >>"$list"
        grep -q -- "$suite-security" "$list" \
            || echo "deb http://deb.debian.org/debian-security $suite-security main" >>"$list"
        ;;
esac
