# Shell functions shared by the blade's init scripts (busybox ash).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

log() { echo "rackboot: $*" > /dev/console; }

# This node: from the per-node overlay rackboot appends when it serves
# boot/<node>/initrd (empty when the RAM disk was booted without it).
load_node() {
  RACKBOOT_NODE= RACKBOOT_API= RACKBOOT_TOKEN= RACKBOOT_IFACES=
  [ -r /etc/rackboot/node.env ] && . /etc/rackboot/node.env
}

cmdline_has() { grep -qw "$1" /proc/cmdline 2>/dev/null; }

# Post an event to this node's timeline: report KIND [DETAIL-JSON]
# (busybox 1.35 wget crashes on its own -T timeout option: timeout(1) instead.)
report() {
  kind=$1
  detail=${2:-'{}'}
  if [ -z "$RACKBOOT_API" ] || [ -z "$RACKBOOT_TOKEN" ] || [ -z "$RACKBOOT_NODE" ]; then
    log "not reporting $kind: no API URL, token or node name (no per-node overlay)"
    return 1
  fi
  i=0
  while [ $i -lt 10 ]; do
    if timeout 10 wget -q -O /dev/null \
      --header "Authorization: Bearer $RACKBOOT_TOKEN" --header "Content-Type: application/json" \
      --post-data "{\"kind\":\"$kind\",\"detail\":$detail}" "$RACKBOOT_API/api/v1/nodes/$RACKBOOT_NODE/events"; then
      log "reported $kind to $RACKBOOT_API"
      return 0
    fi
    i=$((i + 1))
    sleep 3
  done
  log "could not report $kind to $RACKBOOT_API"
  return 1
}

dev_of_mac() {
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }
  done
  return 1
}

# The interfaces to configure: the registry's (RACKBOOT_IFACES="eth0=MAC ..."),
# else every interface but lo.
ifaces() {
  if [ -n "$RACKBOOT_IFACES" ]; then
    for p in $RACKBOOT_IFACES; do echo "${p%%=*}"; done
  else
    for d in /sys/class/net/*; do [ "${d##*/}" = lo ] || echo "${d##*/}"; done
  fi
}

# Give each NIC the name the registry has for its MAC (the kernel's probe
# order need not match the rack's cabling).
name_interfaces() {
  [ -n "$RACKBOOT_IFACES" ] || return 0
  n=0
  while :; do
    missing=
    for p in $RACKBOOT_IFACES; do dev_of_mac "${p#*=}" > /dev/null || missing="$missing ${p%%=*}"; done
    [ -z "$missing" ] && break
    n=$((n + 1))
    [ $n -gt 50 ] && { log "no NIC has the registered MAC of:$missing"; break; }
    usleep 200000
  done
  i=0
  for p in $RACKBOOT_IFACES; do
    d=$(dev_of_mac "${p#*=}") || continue
    [ "$d" = "${p%%=*}" ] && continue
    ip link set "$d" name "rbtmp$i" && i=$((i + 1))
  done
  for p in $RACKBOOT_IFACES; do
    d=$(dev_of_mac "${p#*=}") || continue
    [ "$d" = "${p%%=*}" ] || ip link set "$d" name "${p%%=*}" || log "cannot rename $d to ${p%%=*}"
  done
}

# DHCP on every interface at once; udhcpc stays in the background to renew.
# An interface with no lease after the first round (8 discovers, 16 s) keeps
# asking in the background (-b), and boot waits up to 45 s more for it: one
# slow answer must not leave a blade up on one leg.
bring_up_network() {
  for ifc in $(ifaces); do
    ip link set "$ifc" up 2> /dev/null || { log "no interface $ifc"; continue; }
    udhcpc -i "$ifc" -s /etc/rackboot/udhcpc.script -t 8 -T 2 -A 3 -b -p "/run/udhcpc.$ifc.pid" \
      -x hostname:"${RACKBOOT_NODE:-blade}" > "/run/rackboot/udhcpc.$ifc.log" 2>&1 &
  done
  wait
  n=0
  while [ $n -lt 45 ]; do
    pending=
    for ifc in $(ifaces); do
      [ -e "/sys/class/net/$ifc" ] && [ ! -e "/run/rackboot/dhcp.$ifc" ] && pending="$pending $ifc"
    done
    [ -z "$pending" ] && break
    [ $n -eq 0 ] && log "no lease yet on:$pending; still asking"
    n=$((n + 1))
    sleep 1
  done
  ADDRESSES=
  for ifc in $(ifaces); do
    a=$(ip -4 -o addr show dev "$ifc" 2> /dev/null | awk '{print $4}' | head -n 1)
    log "$ifc: ${a:-no address}"
    # Why not, on the console where the operator looks (udhcpc's own words).
    [ -z "$a" ] && while read -r l; do log "  udhcpc $ifc: $l"; done < "/run/rackboot/udhcpc.$ifc.log"
    ADDRESSES="$ADDRESSES${ADDRESSES:+ }$ifc=${a:-none}"
  done
}

# "SOURCE OPTIONS CONTENT-DIR" of an NFS export this node may mount (from
# the overlay). CONTENT-DIR is "." or the directory inside the export that
# holds the live content (a symlink the director switches on content syncs).
export_source() {
  [ -r /etc/rackboot/exports ] || return 1
  while read -r name src opts dir; do
    [ "$name" = "$1" ] && { echo "$src $opts ${dir:-.}"; return 0; }
  done < /etc/rackboot/exports
  return 1
}

is_mounted() { grep -q " $1 nfs" /proc/mounts; }

# mount_nfs EXPORT DIR: the kernel NFS client takes text options; busybox
# mount passes them through, and the server address must be given as addr=.
mount_nfs() {
  line=$(export_source "$1") || return 2
  set -- "$1" "$2" $line
  src=$3
  opts=$4
  [ "$opts" = defaults ] && opts=
  # Content behind a switched `current` symlink: keep attribute caching short
  # (1 s), or the blade serves the old release for up to a minute.
  if [ "${5:-.}" != . ]; then
    case ",$opts," in
    *,actimeo=* | *,acdirmax=* | *,noac,*) ;;
    *) opts="${opts:+$opts,}actimeo=1" ;;
    esac
  fi
  server=${src%:*}
  server=${server#[}
  server=${server%]}
  mkdir -p "$2"
  mount -t nfs4 -o "${opts:+$opts,}addr=$server" "$src" "$2"
}

# content_ok DIR: the NFS mount on DIR answers (within 10 s). A takeover by
# the pair's other disk node leaves the blade's mount on the floating
# address with file handles the new NFS server does not know (its export
# is on another disk): every request gets ESTALE, for good, since the
# root's handle cannot be looked up again. While no server answers, a hard
# mount blocks instead: SIGKILL ends the probe (the NFS wait is killable).
# Not less than 10 s: a starved VM takes seconds for a listing that is fine.
content_ok() { timeout -s KILL 10 ls "$1/." > /dev/null 2>&1; }

# remount_nfs EXPORT DIR: drop the broken mount lazily (a request stuck in
# it must not block the unmount) and mount the export again.
remount_nfs() {
  umount -l "$2" 2> /dev/null
  mount_nfs "$1" "$2"
}
