#!/usr/bin/env bash
# Side-by-side benchmark inside one fresh network namespace with one nfs-ganesha:
#   - the ceiling: iperf3 TCP over loopback, 1 stream;
#   - the reference client: libnfs nfs-cp (read a BENCH_SIZE file to /dev/shm, write it back) and nfs-ls of a
#     BENCH_LS_ENTRIES-entry directory, NFSv3;
#   - nfsns doing the same through ./nfsns, when that CLI exists (the run_nfsns_* hook points below).
# BENCH_ROUNDS rounds, the measures interleaved within a round; prints min/median/max, the peak RSS of each client
# (GNU time), and the ratios nfsns/libnfs and nfsns/iperf3 of the medians.
#
# Heavy with the defaults (1 GiB each way per round): run it alone on the machine, as root, after
# scripts/install-peers.sh. Runs of the same command vary up to 4x here: compare only within one run. Each time is
# a whole client process, start included (tens of ms for .NET, a few for libnfs): it matters for small sizes only.
#
# Environment (defaults):
#   BENCH_ROUNDS=5  BENCH_SIZE=1G (bytes; K/M/G suffixes are powers of 1024)  BENCH_LS_ENTRIES=10000
#   BENCH_IPERF_SECONDS=3  BENCH_NFS_VERSION=3
#   NFSNS=<repo>/nfsns    the nfsns CLI; rows are skipped when it is not executable
#   NFSNS_NETNS_FLAG=     empty: nfsns runs inside the namespace (ip netns exec), like the libnfs tools;
#                         set it to the CLI's namespace option (e.g. --netns) to let nfsns enter the namespace itself.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${BENCH_ROUNDS:-5}
size=$(numfmt --from=iec "${BENCH_SIZE:-1G}")
ls_entries=${BENCH_LS_ENTRIES:-10000}
iperf_seconds=${BENCH_IPERF_SECONDS:-3}
nfs_version=${BENCH_NFS_VERSION:-3}
NFSNS=${NFSNS:-$repo/nfsns}
NFSNS_NETNS_FLAG=${NFSNS_NETNS_FLAG:-}
iperf_port=5201

die() { echo "side-by-side: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for tool in ip iperf3 nfs-cp nfs-ls numfmt dotnet; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-peers.sh"
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
[[ "$ls_entries" =~ ^[1-9][0-9]*$ ]] || die "BENCH_LS_ENTRIES must be a positive integer"
time_bin=/usr/bin/time
[ -x "$time_bin" ] || { echo "side-by-side: /usr/bin/time missing (package time): no peak RSS" >&2; time_bin=; }

work=$(mktemp -d /tmp/nfsns-bench.XXXXXX)    # export directory and results
shm=$(mktemp -d /dev/shm/nfsns-bench.XXXXXX) # client-side files, in memory so local disk is not measured
host_pid= iperf_pid= ns=

# ---- cleanup: every process started here, by PID; the namespace goes with the peer host ---------------------------
stop_pid() { # pid grace_seconds: SIGTERM, wait (a zombie counts as gone), then SIGKILL; reap it
  local pid=$1 grace=$2 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
alive() { [ -r "/proc/$1/stat" ] && [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != [ZX] ]]; }
cleanup() {
  set +e
  stop_pid "$iperf_pid" 5
  if [ -n "$host_pid" ]; then
    # Closing its stdin asks the peer host to stop ganesha and rpcbind and delete the namespace.
    [ -n "${PEERHOST[1]:-}" ] && exec {PEERHOST[1]}>&-
    for ((i = 0; i < 150; i++)); do alive "$host_pid" || break; sleep 0.1; done
    stop_pid "$host_pid" 15
  fi
  rm -rf "$work" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the data ------------------------------------------------------------------------------------------------------
export_dir=$work/export
mkdir -p "$export_dir/many" "$work/results"
echo "preparing: $(numfmt --to=iec-i --suffix=B "$size") file, $ls_entries directory entries" >&2
head -c "$size" /dev/zero >"$export_dir/big.bin" # zeros: NFS does not compress, and ganesha reads from page cache
head -c "$size" /dev/zero >"$shm/upload.bin"
(cd "$export_dir/many" && seq -f 'entry-%06g' 1 "$ls_entries" | xargs touch)

# ---- the peers: one namespace with rpcbind + ganesha (same recipe as the tests, via tools/NfsNs.PeerHost) ---------
dotnet build "$repo/tools/NfsNs.PeerHost" -c Release -nologo -v quiet >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; die "building tools/NfsNs.PeerHost failed"; }
host_dll=$repo/tools/NfsNs.PeerHost/bin/Release/net10.0/nfsns-peerhost.dll
# bash keeps coproc pipes out of the commands it runs (close-on-exec), so only the peer host holds its stdin.
coproc PEERHOST { exec dotnet "$host_dll" --prefix nfsns-bench --export "$export_dir"; }
host_pid=$PEERHOST_PID
read -r -t 60 -u "${PEERHOST[0]}" word ns _ || die "the peer host did not start ganesha"
[ "$word" = namespace ] || die "unexpected peer host output: $word $ns"
read -r -t 60 -u "${PEERHOST[0]}" word && [ "$word" = ready ] || die "the peer host did not get ready"
echo "namespace $ns ready" >&2

in_ns=(ip netns exec "$ns") # ip execs the command: its PID and rusage are the command's own

url=nfs://127.0.0.1/export
query="?version=$nfs_version"

# ---- measuring -----------------------------------------------------------------------------------------------------
now_ns() { date +%s%N; }
# measure ROW UNIT AMOUNT COMMAND...: runs COMMAND, records AMOUNT/seconds in results/ROW, peak RSS in results/ROW.rss
measure() {
  local row=$1 unit=$2 amount=$3 start end rss_file=$work/rss.txt
  shift 3
  start=$(now_ns)
  if [ -n "$time_bin" ]; then
    "$time_bin" -v -o "$rss_file" "$@" >/dev/null 2>"$work/stderr.txt" || { cat "$work/stderr.txt" >&2; die "$row failed"; }
  else
    "$@" >/dev/null 2>"$work/stderr.txt" || { cat "$work/stderr.txt" >&2; die "$row failed"; }
  fi
  end=$(now_ns)
  echo "$unit" >"$work/results/$row.unit"
  awk -v amount="$amount" -v ns="$((end - start))" 'BEGIN { printf "%.1f\n", amount / (ns / 1e9) }' >>"$work/results/$row"
  if [ -n "$time_bin" ]; then
    awk -F': ' '/Maximum resident set size/ { printf "%.1f\n", $2 / 1024 }' "$rss_file" >>"$work/results/$row.rss"
  fi
}
mb() { awk -v b="$1" 'BEGIN { printf "%.3f", b / 1e6 }'; }

run_iperf3() {
  local mbytes i
  # A one-off server per measurement (-1): even if this script is killed outright, it does not outlive the round.
  "${in_ns[@]}" iperf3 -s -1 -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 &
  iperf_pid=$!
  for ((i = 0; i < 50; i++)); do
    "${in_ns[@]}" ss -H -t -l -n "sport = :$iperf_port" | grep -q . && break
    sleep 0.1
  done
  mbytes=$("${in_ns[@]}" iperf3 -c 127.0.0.1 -p "$iperf_port" -t "$iperf_seconds" -f M |
    awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "MBytes/sec") print $i }')
  [ -n "$mbytes" ] || die "iperf3 printed no receiver rate"
  wait "$iperf_pid" || true
  iperf_pid=
  echo "MB/s" >"$work/results/iperf3.unit"
  awk -v m="$mbytes" 'BEGIN { printf "%.1f\n", m * 1.048576 }' >>"$work/results/iperf3" # MiB/s -> MB/s
}
run_libnfs_read()  { measure libnfs-read MB/s "$(mb "$size")" "${in_ns[@]}" nfs-cp "$url/big.bin$query" "$shm/read.bin"; rm -f "$shm/read.bin"; }
run_libnfs_write() { measure libnfs-write MB/s "$(mb "$size")" "${in_ns[@]}" nfs-cp "$shm/upload.bin" "$url/upload.bin$query"; rm -f "$export_dir/upload.bin"; }
run_libnfs_ls()    { measure libnfs-ls entries/s "$ls_entries" "${in_ns[@]}" nfs-ls "$url/many$query"; }

# ---- nfsns hook points ---------------------------------------------------------------------------------------------
# These call the nfsns CLI once it exists. Adjust the command lines here when its syntax settles: timing, peak RSS,
# statistics and ratios are shared with the libnfs rows. nfsns runs inside the namespace like the libnfs tools, or
# enters the namespace itself when NFSNS_NETNS_FLAG names the CLI's option for that.
have_nfsns() { [ -x "$NFSNS" ]; }
if [ -n "$NFSNS_NETNS_FLAG" ]; then nfsns=("$NFSNS" "$NFSNS_NETNS_FLAG" "$ns"); else nfsns=("${in_ns[@]}" "$NFSNS"); fi
run_nfsns_read()  { measure nfsns-read MB/s "$(mb "$size")" "${nfsns[@]}" cp "$url/big.bin$query" "$shm/read.bin"; rm -f "$shm/read.bin"; }
run_nfsns_write() { measure nfsns-write MB/s "$(mb "$size")" "${nfsns[@]}" cp "$shm/upload.bin" "$url/upload.bin$query"; rm -f "$export_dir/upload.bin"; }
run_nfsns_ls()    { measure nfsns-ls entries/s "$ls_entries" "${nfsns[@]}" ls "$url/many$query"; }

have_nfsns || echo "side-by-side: $NFSNS not found or not executable: nfsns rows skipped" >&2
for ((round = 1; round <= rounds; round++)); do
  echo "round $round/$rounds" >&2
  run_iperf3
  run_libnfs_read
  if have_nfsns; then run_nfsns_read; fi
  run_libnfs_write
  if have_nfsns; then run_nfsns_write; fi
  run_libnfs_ls
  if have_nfsns; then run_nfsns_ls; fi
done

# ---- report --------------------------------------------------------------------------------------------------------
stats() { sort -g "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s\n", v[1], m, v[NR] }'; }
median() { stats "$1" | awk '{ print $2 }'; }
human=$(numfmt --to=iec-i --suffix=B "$size")
label() {
  case $1 in
    iperf3) echo "iperf3 TCP loopback, 1 stream" ;;
    libnfs-read) echo "libnfs nfs-cp read $human, v$nfs_version" ;;
    nfsns-read) echo "nfsns cp read $human, v$nfs_version" ;;
    libnfs-write) echo "libnfs nfs-cp write $human, v$nfs_version" ;;
    nfsns-write) echo "nfsns cp write $human, v$nfs_version" ;;
    libnfs-ls) echo "libnfs nfs-ls $ls_entries entries, v$nfs_version" ;;
    nfsns-ls) echo "nfsns ls $ls_entries entries, v$nfs_version" ;;
  esac
}
echo
echo "Side by side in namespace $ns, $rounds rounds ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
printf '%-38s %-10s %10s %10s %10s %14s\n' measure unit min median max "peak RSS MiB"
for row in iperf3 libnfs-read nfsns-read libnfs-write nfsns-write libnfs-ls nfsns-ls; do
  [ -f "$work/results/$row" ] || continue
  read -r min med max < <(stats "$work/results/$row")
  rss=-
  [ -f "$work/results/$row.rss" ] && rss=$(median "$work/results/$row.rss")
  printf '%-38s %-10s %10s %10s %10s %14s\n' "$(label "$row")" "$(cat "$work/results/$row.unit")" "$min" "$med" "$max" "$rss"
done
ratio() { awk -v a="$(median "$work/results/$1")" -v b="$(median "$work/results/$2")" 'BEGIN { printf "%.2f", a / b }'; }
if have_nfsns; then
  echo
  echo "ratios of medians:"
  for op in read write ls; do echo "  nfsns/libnfs $op: $(ratio "nfsns-$op" "libnfs-$op")"; done
  for op in read write; do echo "  nfsns/iperf3 $op: $(ratio "nfsns-$op" iperf3)"; done
fi
