#!/usr/bin/env bash
# Installs the real NFS peers the integration tests and benchmarks run against (Debian 12 packages).
# Idempotent: does nothing when every tool is already on PATH.
# tcpdump captures (its immediate mode is reliable on loopback, see src/NfsNs.Peers/TsharkCapture.cs); tshark decodes.
set -euo pipefail
need=()
for tool in ganesha.nfsd rpcbind rpcinfo rpc.statd nfs-ls tshark tcpdump iperf3 showmount; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
[ -e /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so ] || need+=(fsal-vfs)
# GNU time, for the benchmark's peak-RSS measurement (/usr/bin/time -v).
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-peers: missing ${need[*]}; run as root to install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common libnfs-utils iperf3 tshark tcpdump time procps iproute2 util-linux >/dev/null
