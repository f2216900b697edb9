#!/usr/bin/env bash
# Side-by-side benchmark, in one run, of two NFSv3 servers, each alone in its own fresh network namespace (random
# suffix) at 127.0.0.1:
#   - ganesha:  nfs-ganesha + rpcbind, started by tools/NfsNs.PeerHost (the recipe the tests use);
#   - embedded: `./nfsns serve DIR --netns NS --squash none` (NFSv3 + MOUNT + its own portmapper), started the way
#               users start it, through the launcher; measured once `rpcinfo -p 127.0.0.1` in its namespace lists
#               100003.
# Both export the same data (hard links of one BENCH_SIZE file, and a directory of BENCH_LS_ENTRIES empty files each).
# Against each server, with the client inside the server's namespace:
#   - the reference client: libnfs nfs-cp read (the file to /dev/shm) and write (it back), nfs-ls of the directory;
#   - nfsns: ./nfsns cp read and write, ./nfsns ls, the same transfers.
# And once, in the ganesha namespace, the ceiling: iperf3 TCP over loopback, 1 stream.
# BENCH_ROUNDS rounds; within a round every measure runs once, the two servers interleaved per operation (and in
# alternating order from round to round) so that noise hits both alike. Prints per row min/median/max and the median
# peak RSS of the client process (GNU time); the peak RSS (VmHWM) of each server process over the whole run; and the
# ratios of medians: embedded/ganesha per client and operation, nfsns/libnfs per server, nfsns/iperf3 per server.
#
# Run it as root, after scripts/install-peers.sh, alone on the machine: the defaults move 1 GiB each way per client,
# server and round. A quick check that it works:
#   BENCH_SIZE=4M BENCH_LS_ENTRIES=100 BENCH_ROUNDS=1 BENCH_IPERF_SECONDS=1 bench/side-by-side.sh
# Runs of the same command vary up to 4x here: compare only within one run. Each time is a whole client process, start
# included (tens of ms for .NET, a few for libnfs): it matters for small sizes only. ./nfsns is built (if stale)
# before anything is measured.
#
# Environment (defaults):
#   BENCH_ROUNDS=5  BENCH_SIZE=1G (bytes; K/M/G suffixes are powers of 1024)  BENCH_LS_ENTRIES=10000
#   BENCH_IPERF_SECONDS=3  BENCH_NFS_VERSION=3
#   NFSNS=<repo>/nfsns    the nfsns CLI (client and embedded server)
#   NFSNS_NETNS_FLAG=     empty: the nfsns client runs inside the namespace (ip netns exec), like the libnfs tools;
#                         --netns: the nfsns client enters the namespace itself.
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
servers=(ganesha embedded)
clients=(libnfs nfsns)
operations=(read write ls)

die() { echo "side-by-side: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for tool in ip iperf3 nfs-cp nfs-ls numfmt dotnet rpcinfo timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-peers.sh"
done
[ -x "$NFSNS" ] || die "$NFSNS is not executable (set NFSNS)"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
[[ "$ls_entries" =~ ^[1-9][0-9]*$ ]] || die "BENCH_LS_ENTRIES must be a positive integer"
time_bin=/usr/bin/time
[ -x "$time_bin" ] || { echo "side-by-side: /usr/bin/time missing (package time): no peak RSS" >&2; time_bin=; }

work=$(mktemp -d /tmp/nfsns-bench.XXXXXX)    # export directories and results
shm=$(mktemp -d /dev/shm/nfsns-bench.XXXXXX) # client-side files, in memory so local disk is not measured
declare -A server_ns server_export server_pid server_rss
host_pid= iperf_pid= serve_pid= embedded_ns=

# ---- cleanup: every process started here, by PID; the namespaces ---------------------------------------------------
alive() { [ -r "/proc/$1/stat" ] && [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != [ZX] ]]; }
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
cleanup() {
  set +e
  stop_pid "$iperf_pid" 5
  stop_pid "$serve_pid" 15
  [ -n "$embedded_ns" ] && ip netns del "$embedded_ns"
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

# ---- the data: one copy, hard-linked into each server's export directory -----------------------------------------
mkdir -p "$work/data/many" "$work/results"
echo "preparing: $(numfmt --to=iec-i --suffix=B "$size") file, $ls_entries directory entries" >&2
head -c "$size" /dev/zero >"$work/data/big.bin" # zeros: NFS does not compress, and the servers read from page cache
head -c "$size" /dev/zero >"$shm/upload.bin"
(cd "$work/data/many" && seq -f 'entry-%06g' 1 "$ls_entries" | xargs touch)
for server in "${servers[@]}"; do
  # Separate directories so that one server's writes (upload.bin) never show in the other's caches.
  server_export[$server]=$work/export-$server
  cp -al "$work/data" "${server_export[$server]}"
done

# ---- the servers: start_SERVER sets server_ns[SERVER] and server_pid[SERVER] ---------------------------------------
start_ganesha() {
  local word ns pid
  dotnet build "$repo/tools/NfsNs.PeerHost" -c Release -nologo -v quiet >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; die "building tools/NfsNs.PeerHost failed"; }
  local host_dll=$repo/tools/NfsNs.PeerHost/bin/Release/net10.0/nfsns-peerhost.dll
  # bash keeps coproc pipes out of the commands it runs (close-on-exec), so only the peer host holds its stdin.
  coproc PEERHOST { exec dotnet "$host_dll" --prefix nfsns-bench --export "${server_export[ganesha]}"; }
  host_pid=$PEERHOST_PID
  # "namespace NAME export DIR ganesha-pid PID rpcbind-pid PID", then "ready"
  read -r -t 60 -u "${PEERHOST[0]}" word ns _ _ _ pid _ || die "the peer host did not start ganesha"
  [ "$word" = namespace ] || die "unexpected peer host output: $word $ns"
  read -r -t 60 -u "${PEERHOST[0]}" word && [ "$word" = ready ] || die "the peer host did not get ready"
  server_ns[ganesha]=$ns server_pid[ganesha]=$pid
}

start_embedded() {
  local name i
  name=$(mktemp -u nfsns-bench-XXXXXX)
  ip netns add "$name" || die "could not create namespace $name"
  embedded_ns=$name
  ip -n "$name" link set lo up
  # The handle secret goes under $work rather than /var/lib/nfsns. No root squash, like the ganesha export.
  # The launcher execs dotnet, so $! is the server's own PID (the CLI is already built: no build shell in between).
  XDG_STATE_HOME=$work/state "$NFSNS" serve "${server_export[embedded]}" --netns "$name" --squash none \
    >"$work/serve.out" 2>"$work/serve.err" &
  serve_pid=$!
  for ((i = 0; i < 300; i++)); do
    alive "$serve_pid" || { cat "$work/serve.err" >&2; die "nfsns serve exited"; }
    timeout 5 ip netns exec "$name" rpcinfo -p 127.0.0.1 2>/dev/null | awk '$1 == 100003 { found = 1 } END { exit !found }' &&
      break
    sleep 0.1
  done
  ((i < 300)) || { cat "$work/serve.err" >&2; die "nfsns serve did not register NFS (100003) within 30 s"; }
  server_ns[embedded]=$name server_pid[embedded]=$serve_pid
}

echo "building $NFSNS" >&2
"$NFSNS" --version >/dev/null # the launcher builds (or rebuilds) the CLI on first use: not during a measure
for server in "${servers[@]}"; do
  "start_$server"
  echo "$server ready in namespace ${server_ns[$server]} (pid ${server_pid[$server]})" >&2
done

# ---- measuring -----------------------------------------------------------------------------------------------------
now_ns() { date +%s%N; }
failed() { # row: show why, including the embedded server's log if it died
  cat "$work/stderr.txt" >&2
  if [ -n "$serve_pid" ] && ! alive "$serve_pid"; then tail -n 20 "$work/serve.err" >&2; fi
  die "$1 failed"
}
# measure ROW UNIT AMOUNT COMMAND...: runs COMMAND, records AMOUNT/seconds in results/ROW, peak RSS in results/ROW.rss
measure() {
  local row=$1 unit=$2 amount=$3 start end rss_file=$work/rss.txt
  shift 3
  start=$(now_ns)
  if [ -n "$time_bin" ]; then
    "$time_bin" -v -o "$rss_file" "$@" >/dev/null 2>"$work/stderr.txt" || failed "$row"
  else
    "$@" >/dev/null 2>"$work/stderr.txt" || failed "$row"
  fi
  end=$(now_ns)
  echo "$unit" >"$work/results/$row.unit"
  awk -v amount="$amount" -v ns="$((end - start))" 'BEGIN { printf "%.1f\n", amount / (ns / 1e9) }' >>"$work/results/$row"
  if [ -n "$time_bin" ]; then
    awk -F': ' '/Maximum resident set size/ { printf "%.1f\n", $2 / 1024 }' "$rss_file" >>"$work/results/$row.rss"
  fi
}
mb() { awk -v b="$1" 'BEGIN { printf "%.3f", b / 1e6 }'; }

run_iperf3() { # in the ganesha namespace: loopback is the same in every namespace
  local mbytes i in_ns=(ip netns exec "${server_ns[ganesha]}")
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

# run_op CLIENT SERVER OPERATION: one timed read, write or ls by libnfs or nfsns against SERVER, from inside the
# server's namespace; its results go to row CLIENT-OPERATION@SERVER.
run_op() {
  local client=$1 server=$2 operation=$3 netns=${server_ns[$2]}
  local row=$client-$operation@$server url=nfs://127.0.0.1/export query="?version=$nfs_version"
  local -a in_ns=(ip netns exec "$netns") cp ls
  case $client in
    libnfs) cp=("${in_ns[@]}" nfs-cp) ls=("${in_ns[@]}" nfs-ls) ;;
    nfsns)
      if [ -n "$NFSNS_NETNS_FLAG" ]; then cp=("$NFSNS" "$NFSNS_NETNS_FLAG" "$netns"); else cp=("${in_ns[@]}" "$NFSNS"); fi
      ls=("${cp[@]}" ls) cp+=(cp)
      ;;
  esac
  case $operation in
    read)
      measure "$row" MB/s "$(mb "$size")" "${cp[@]}" "$url/big.bin$query" "$shm/read.bin"
      rm -f "$shm/read.bin"
      ;;
    write)
      measure "$row" MB/s "$(mb "$size")" "${cp[@]}" "$shm/upload.bin" "$url/upload.bin$query"
      rm -f "${server_export[$server]}/upload.bin"
      ;;
    ls) measure "$row" entries/s "$ls_entries" "${ls[@]}" "$url/many$query" ;;
  esac
}

for ((round = 1; round <= rounds; round++)); do
  echo "round $round/$rounds" >&2
  # Alternate which server goes first, so neither always runs right after the other's writes.
  if ((round % 2)); then order=("${servers[@]}"); else order=("${servers[1]}" "${servers[0]}"); fi
  run_iperf3
  for operation in "${operations[@]}"; do
    for server in "${order[@]}"; do
      for client in "${clients[@]}"; do run_op "$client" "$server" "$operation"; done
    done
  done
done

# Peak RSS of each server process over the whole run, read before the cleanup stops it.
for server in "${servers[@]}"; do
  server_rss[$server]=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/${server_pid[$server]}/status" 2>/dev/null || true)
done

# ---- report --------------------------------------------------------------------------------------------------------
stats() { sort -g "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f\n", v[1], m, v[NR] }'; }
median() { stats "$1" | awk '{ print $2 }'; }
human=$(numfmt --to=iec-i --suffix=B "$size")
label() { # CLIENT-OPERATION
  case $1 in
    iperf3) echo "iperf3 TCP loopback, 1 stream" ;;
    libnfs-read) echo "libnfs nfs-cp read $human, v$nfs_version" ;;
    libnfs-write) echo "libnfs nfs-cp write $human, v$nfs_version" ;;
    libnfs-ls) echo "libnfs nfs-ls $ls_entries entries, v$nfs_version" ;;
    nfsns-read) echo "nfsns cp read $human, v$nfs_version" ;;
    nfsns-write) echo "nfsns cp write $human, v$nfs_version" ;;
    nfsns-ls) echo "nfsns ls $ls_entries entries, v$nfs_version" ;;
  esac
}
row_format='%-36s %-9s %-10s %10s %10s %10s %14s\n'
print_row() { # ROW LABEL SERVER
  local min med max rss=-
  read -r min med max < <(stats "$work/results/$1")
  [ -f "$work/results/$1.rss" ] && rss=$(median "$work/results/$1.rss")
  printf "$row_format" "$2" "$3" "$(cat "$work/results/$1.unit")" "$min" "$med" "$max" "$rss"
}
echo
echo "Side by side: ganesha in ${server_ns[ganesha]}, embedded in ${server_ns[embedded]}, $rounds rounds" \
  "($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
printf "$row_format" measure server unit min median max "peak RSS MiB"
print_row iperf3 "$(label iperf3)" -
for operation in "${operations[@]}"; do
  for client in "${clients[@]}"; do
    for server in "${servers[@]}"; do print_row "$client-$operation@$server" "$(label "$client-$operation")" "$server"; done
  done
done
echo
for server in "${servers[@]}"; do
  printf 'server peak RSS (VmHWM over the run) %-9s %s MiB\n' "$server" "${server_rss[$server]:-?}"
done

ratio() { awk -v a="$(median "$work/results/$1")" -v b="$(median "$work/results/$2")" 'BEGIN { printf "%.2f", a / b }'; }
ratio_format='%-32s %8s %8s %8s\n'
echo
printf "$ratio_format" "ratios of medians" "${operations[@]}"
for client in "${clients[@]}"; do
  printf "$ratio_format" "embedded/ganesha, $client" \
    $(for op in "${operations[@]}"; do ratio "$client-$op@embedded" "$client-$op@ganesha"; echo; done)
done
for server in "${servers[@]}"; do
  printf "$ratio_format" "nfsns/libnfs, $server" \
    $(for op in "${operations[@]}"; do ratio "nfsns-$op@$server" "libnfs-$op@$server"; echo; done)
done
for server in "${servers[@]}"; do
  printf "$ratio_format" "nfsns/iperf3, $server" \
    $(for op in "${operations[@]}"; do if [ "$op" = ls ]; then echo -; else ratio "nfsns-$op@$server" iperf3; echo; fi; done)
done
