#!/usr/bin/env bash
# Side-by-side benchmark, all inside ONE fresh network namespace with ONE nfs-ganesha on 127.0.0.1 (loopback only):
#   iperf3 TCP ceiling; 1 GiB read and write with `nfsns cp` vs libnfs `nfs-cp`; listing 10,000 entries with
#   `nfsns ls` vs `nfs-ls`; peak RSS of `nfsns cp`. Prints min/median/max per row and the ratios.
# Usage: bench/side-by-side.sh [ROUNDS]   (env BENCH_SIZE_MIB, default 1024). Needs root and scripts/install-peers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
size_mib=${BENCH_SIZE_MIB:-1024}
ns="nfsns-bench-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
state=$(mktemp -d /tmp/nfsns-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$state" /dev/shm/nfsns-bench-*
}
trap cleanup EXIT
scripts/install-peers.sh
./nfsns --help >/dev/null   # build once, outside the measurements

ip netns add "$ns"; ip -n "$ns" link set lo up; ip -n "$ns" addr add fe80::1/64 dev lo nodad
mkdir -p "$state/run" "$state/export/list" "$state/recovery"
cat > "$state/ganesha.conf" <<CONF
NFS_CORE_PARAM { Bind_Addr = 127.0.0.1; NFS_Port = 2049; MNT_Port = 20048; Enable_NLM = false; Enable_RQUOTA = false;
  Enable_UDP = false; Protocols = 3, 4; mount_path_pseudo = true; }
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = $state/recovery; Only_Numeric_Owners = true; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT { Export_Id = 1; Path = $state/export; Pseudo = /export; Access_Type = RW; Squash = No_Root_Squash; SecType = sys;
  Protocols = 3, 4; Transports = TCP; Attr_Expiration_Time = 0; FSAL { Name = VFS; } }
LOG { Default_Log_Level = EVENT; Components { DBUS = FATAL; } }
CONF
setsid ip netns exec "$ns" unshare --mount --propagation private sh -c 'mount --bind "$1" /run && exec rpcbind -f' sh "$state/run" &
pids+=($!); sleep 0.5
nsenter --target "${pids[0]}" --mount --net ganesha.nfsd -F -f "$state/ganesha.conf" -L "$state/ganesha.log" -p "$state/ganesha.pid" &
pids+=($!)
for _ in $(seq 100); do grep -q "NFS SERVER INITIALIZED" "$state/ganesha.log" 2>/dev/null && break; sleep 0.2; done
grep -q "NFS SERVER INITIALIZED" "$state/ganesha.log" || { echo "ganesha did not start: $(tail -5 "$state/ganesha.log")" >&2; exit 1; }

head -c "$((size_mib << 20))" /dev/urandom > "$state/export/big.bin"
head -c "$((size_mib << 20))" /dev/urandom > "/dev/shm/nfsns-bench-src"
for i in $(seq 10000); do : > "$state/export/list/f$i"; done
url="nfs://127.0.0.1/export"

declare -A samples
now() { date +%s.%N; }
record() { samples[$1]+="$2 "; }
timed() { local start end; start=$(now); "$@" >/dev/null; end=$(now); echo "$end - $start" | bc -l; }

nsexec() { ip netns exec "$ns" "$@"; }
for round in $(seq "$rounds"); do
  echo "round $round/$rounds" >&2
  nsexec iperf3 -s -1 -B 127.0.0.1 >/dev/null 2>&1 & server=$!; sleep 0.3
  gbits=$(nsexec iperf3 -c 127.0.0.1 -t 3 -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
  wait "$server" 2>/dev/null || true
  record iperf3_Gbit "$gbits"

  t=$(timed nsexec nfs-cp "$url/big.bin" "/dev/shm/nfsns-bench-libnfs"); rm -f /dev/shm/nfsns-bench-libnfs
  record read_libnfs_MBps "$(echo "$size_mib * 1.048576 / $t" | bc -l)"
  rss=$(mktemp); start=$(now)
  /usr/bin/time -f %M -o "$rss" ./nfsns cp "$url/big.bin?netns=$ns" /dev/shm/nfsns-bench-ours >/dev/null
  t=$(echo "$(now) - $start" | bc -l); rm -f /dev/shm/nfsns-bench-ours
  record read_nfsns_MBps "$(echo "$size_mib * 1.048576 / $t" | bc -l)"; record rss_read_MiB "$(echo "$(cat "$rss") / 1024" | bc -l)"

  rm -f "$state/export/w-libnfs"
  t=$(timed nsexec nfs-cp /dev/shm/nfsns-bench-src "$url/w-libnfs")
  record write_libnfs_MBps "$(echo "$size_mib * 1.048576 / $t" | bc -l)"
  start=$(now)
  /usr/bin/time -f %M -o "$rss" ./nfsns cp /dev/shm/nfsns-bench-src "$url/w-ours?netns=$ns" >/dev/null
  t=$(echo "$(now) - $start" | bc -l)
  record write_nfsns_MBps "$(echo "$size_mib * 1.048576 / $t" | bc -l)"; record rss_write_MiB "$(echo "$(cat "$rss") / 1024" | bc -l)"
  rm -f "$rss"
  cmp -s /dev/shm/nfsns-bench-src "$state/export/w-ours" || { echo "nfsns wrote different bytes" >&2; exit 1; }

  t=$(timed nsexec nfs-ls "$url/list"); record ls_libnfs_entries_per_s "$(echo "10000 / $t" | bc -l)"
  t=$(timed ./nfsns ls "$url/list?netns=$ns"); record ls_nfsns_entries_per_s "$(echo "10000 / $t" | bc -l)"
done

stats() { tr ' ' '\n' <<<"${samples[$1]}" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {printf "%10.1f %10.1f %10.1f", v[1], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[NR]}'; }
median() { stats "$1" | awk '{print $2}'; }
printf '\n%-26s %10s %10s %10s   (%d rounds, %d MiB, one namespace, ganesha %s)\n' measure min median max "$rounds" "$size_mib" "$(dpkg-query -W -f '${Version}' nfs-ganesha 2>/dev/null)"
for key in iperf3_Gbit read_nfsns_MBps read_libnfs_MBps write_nfsns_MBps write_libnfs_MBps ls_nfsns_entries_per_s ls_libnfs_entries_per_s rss_read_MiB rss_write_MiB; do
  printf '%-26s %s\n' "$key" "$(stats "$key")"
done
ceiling=$(echo "$(median iperf3_Gbit) * 1000 / 8" | bc -l)
printf '\nratios of medians: read nfsns/libnfs %.2f, write nfsns/libnfs %.2f, ls nfsns/libnfs %.2f,\n' \
  "$(echo "$(median read_nfsns_MBps) / $(median read_libnfs_MBps)" | bc -l)" \
  "$(echo "$(median write_nfsns_MBps) / $(median write_libnfs_MBps)" | bc -l)" \
  "$(echo "$(median ls_nfsns_entries_per_s) / $(median ls_libnfs_entries_per_s)" | bc -l)"
printf '                  read nfsns/iperf3 %.3f, write nfsns/iperf3 %.3f (MB/s over the 1-stream TCP ceiling)\n' \
  "$(echo "$(median read_nfsns_MBps) / $ceiling" | bc -l)" "$(echo "$(median write_nfsns_MBps) / $ceiling" | bc -l)"
