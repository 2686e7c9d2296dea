#!/usr/bin/env bash
# Opt-in cluster soak (not run by CI): 3 etcd members and 3 brokers on 127.0.0.1 (free ports), a topic with
# replication factor 3 and min.insync.replicas=2, the ClusterSoak driver producing with acks=all and
# idempotence while a fault loop kill -9s and restarts a random broker every FAULT_EVERY seconds; then the
# driver reads everything back and prints the history checker's verdict. Every process started here is
# stopped by PID on exit.
# Usage: bench/cluster-soak.sh [MINUTES=2] [FAULT_EVERY=15] [PARTITIONS=3]   (SOAK_RATE=records/s, default 5000, 0 unlimited)
# FAULTS=kill (default), partition or mixed: "partition" runs broker 3 in a network namespace of its own (root and
# iproute2 needed) and each fault cuts its cluster link (to etcd and its peers; clients still reach it) for
# CUT_SECONDS (default 8, past the 3 s lease) and heals it; "etcd" cuts broker 3 off from etcd alone for as long
# (blackhole routing both ways; replication with its peers goes on); "mixed" picks a kill -9, a cut or an etcd cut
# at random.
# SOAK_LOG_LEVEL: the brokers' log level (default Warning; Information shows elections and ISR changes).
set -euo pipefail
FAULTS=${FAULTS:-kill}
CUT_SECONDS=${CUT_SECONDS:-8}
case "$FAULTS" in kill|partition|etcd|mixed) ;; *) echo "FAULTS must be kill, partition, etcd or mixed" >&2; exit 2 ;; esac
MINUTES=${1:-2}
FAULT_EVERY=${2:-15}
PARTITIONS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/cluster-soak.XXXXXX)
declare -a PIDS=() BROKER_PIDS=()

NS="" NET=""
cleanup() {
  for pid in "${BROKER_PIDS[@]}" "${PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "$NS" ]; then
    ip rule del from "$ETCDSIDE" to "10.232.$NET.2" blackhole 2>/dev/null || true
    ip netns delete "$NS" 2>/dev/null || true
    ip link delete "lbc$NET" 2>/dev/null || true
    ip link delete "lbr$NET" 2>/dev/null || true
  fi
  echo "soak: stopped; logs in $WORK"
}
trap cleanup EXIT

# Broker 3's network namespace: a client link 10.231.N.1 <-> .2 and a cluster link 10.232.N.1 (SIDE: this side, where
# the other brokers' replication listeners also listen) and .3 (ETCDSIDE: this side too, where etcd also listens)
# <-> .2 (N unused here).
HOST3=127.0.0.1 SIDE=127.0.0.1 ETCDSIDE=127.0.0.1
if [ "$FAULTS" != kill ]; then
  for _ in 1 2 3 4 5; do
    NET=$((RANDOM % 254 + 1))
    ip -4 addr show | grep -qE "10\.23[12]\.$NET\." || break
  done
  NS="lbsoak$NET" HOST3="10.231.$NET.2" SIDE="10.232.$NET.1" ETCDSIDE="10.232.$NET.3"
  ip netns add "$NS"
  ip link add "lbc$NET" type veth peer name "lbc${NET}i" netns "$NS"
  ip link add "lbr$NET" type veth peer name "lbr${NET}i" netns "$NS"
  ip addr add "10.231.$NET.1/29" dev "lbc$NET" && ip addr add "$SIDE/29" dev "lbr$NET" && ip addr add "$ETCDSIDE/29" dev "lbr$NET"
  ip link set "lbc$NET" up && ip link set "lbr$NET" up
  ip -n "$NS" addr add "$HOST3/29" dev "lbc${NET}i" && ip -n "$NS" addr add "10.232.$NET.2/29" dev "lbr${NET}i"
  ip -n "$NS" link set lo up && ip -n "$NS" link set "lbc${NET}i" up && ip -n "$NS" link set "lbr${NET}i" up
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

dotnet build -c Release "$ROOT/src/Broker" -v q -nologo >/dev/null
dotnet build -c Release "$ROOT/bench/ClusterSoak" -v q -nologo >/dev/null
BROKER_DLL=$(find "$ROOT/src/Broker/bin/Release" -name logbroker-broker.dll | head -1)
DRIVER_DLL=$(find "$ROOT/bench/ClusterSoak/bin/Release" -name LogBroker.ClusterSoak.dll | head -1)

# etcd: 3 members.
declare -a CLIENT PEER
for i in 0 1 2; do CLIENT[$i]=$(free_port); PEER[$i]=$(free_port); done
INITIAL="m0=http://127.0.0.1:${PEER[0]},m1=http://127.0.0.1:${PEER[1]},m2=http://127.0.0.1:${PEER[2]}"
for i in 0 1 2; do
  ETCD_UNSUPPORTED_ARCH=arm64 /usr/bin/etcd --name="m$i" --data-dir="$WORK/etcd$i" \
    --listen-client-urls="http://127.0.0.1:${CLIENT[$i]}$([ "$ETCDSIDE" = 127.0.0.1 ] || echo ",http://$ETCDSIDE:${CLIENT[$i]}")" \
    --advertise-client-urls="http://127.0.0.1:${CLIENT[$i]}" \
    --listen-peer-urls="http://127.0.0.1:${PEER[$i]}" --initial-advertise-peer-urls="http://127.0.0.1:${PEER[$i]}" \
    --initial-cluster="$INITIAL" --initial-cluster-token="soak$$" --initial-cluster-state=new \
    --log-level=error >"$WORK/etcd$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${CLIENT[$i]}/health" >/dev/null && break; sleep 0.1; done
done

declare -a BPORT RPORT BHOST
for id in 1 2 3; do BPORT[$id]=$(free_port); RPORT[$id]=$(free_port); BHOST[$id]=127.0.0.1; mkdir -p "$WORK/b$id"; done
BHOST[3]=$HOST3
start_broker() {
  local id=$1 etcd=127.0.0.1 replication=$SIDE
  local -a launcher=() listeners=()
  if [ "$id" = 3 ] && [ -n "$NS" ]; then launcher=(ip netns exec "$NS"); etcd=$ETCDSIDE; replication="10.232.$NET.2"; fi
  if [ -n "$NS" ]; then
    # Clients on the first listener, replicas on REPLICATION across the cluster link (what a cut takes down).
    listeners=(--Security:Listeners:0:Address="${BHOST[$id]}:${BPORT[$id]}" --Security:Listeners:1:Name=REPLICATION
      --Security:Listeners:1:Address="$replication:${RPORT[$id]}" --Replication:InterBrokerListener=REPLICATION)
  fi
  (cd "$WORK/b$id" && exec "${launcher[@]}" dotnet "$BROKER_DLL" --Broker:NodeId="$id" --Broker:Listener="${BHOST[$id]}:${BPORT[$id]}" \
    --Storage:DataDirectory="$WORK/b$id" --Admin:Enabled=false --Logging:LogLevel:Default="${SOAK_LOG_LEVEL:-Warning}" --Cluster:LeaseTtl=00:00:03 \
    --Cluster:Etcd:Endpoints:0="http://$etcd:${CLIENT[0]}" --Cluster:Etcd:Endpoints:1="http://$etcd:${CLIENT[1]}" \
    --Cluster:Etcd:Endpoints:2="http://$etcd:${CLIENT[2]}" "${listeners[@]}" >>"$WORK/b$id.log" 2>&1) &
  BROKER_PIDS[$id]=$!
}
for id in 1 2 3; do start_broker "$id"; done
for id in 1 2 3; do
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/${BHOST[$id]}/${BPORT[$id]}") 2>/dev/null && break; sleep 0.1; done
done
sleep 2

BOOTSTRAP="127.0.0.1:${BPORT[1]},127.0.0.1:${BPORT[2]},${HOST3}:${BPORT[3]}"
SECONDS_TOTAL=$((MINUTES * 60))
: >"$WORK/faults.txt"
dotnet "$DRIVER_DLL" "$BOOTSTRAP" soak "$PARTITIONS" "$SECONDS_TOTAL" "$WORK/faults.txt" >"$WORK/driver.log" 2>&1 &
DRIVER=$!
PIDS+=($DRIVER)

faults=0 kills=0 cuts=0 etcdcuts=0
end=$((SECONDS + SECONDS_TOTAL))
while [ "$SECONDS" -lt "$end" ] && kill -0 "$DRIVER" 2>/dev/null; do
  sleep "$FAULT_EVERY"
  [ "$SECONDS" -lt "$end" ] || break
  kind=$FAULTS
  if [ "$kind" = mixed ]; then kinds=(kill partition etcd); kind=${kinds[$((RANDOM % 3))]}; fi
  faults=$((faults + 1))
  if [ "$kind" = partition ]; then
    echo "$(date +%s%3N) 3" >>"$WORK/faults.txt"
    ip link set "lbr$NET" down
    cuts=$((cuts + 1))
    echo "soak: fault $faults: broker 3 cut off from etcd and its peers at ${SECONDS}s for ${CUT_SECONDS}s"
    sleep "$CUT_SECONDS"
    ip link set "lbr$NET" up
    continue
  fi
  if [ "$kind" = etcd ]; then
    echo "$(date +%s%3N) 3" >>"$WORK/faults.txt"
    ip -n "$NS" route add blackhole "$ETCDSIDE/32" && ip rule add from "$ETCDSIDE" to "10.232.$NET.2" blackhole
    etcdcuts=$((etcdcuts + 1))
    echo "soak: fault $faults: broker 3 cut off from etcd alone at ${SECONDS}s for ${CUT_SECONDS}s"
    sleep "$CUT_SECONDS"
    ip -n "$NS" route del blackhole "$ETCDSIDE/32" && ip rule del from "$ETCDSIDE" to "10.232.$NET.2" blackhole
    continue
  fi

  victim=$((RANDOM % 3 + 1))
  echo "$(date +%s%3N) $victim" >>"$WORK/faults.txt"
  kill -9 "${BROKER_PIDS[$victim]}" 2>/dev/null || true
  wait "${BROKER_PIDS[$victim]}" 2>/dev/null || true
  kills=$((kills + 1))
  echo "soak: fault $faults: kill -9 broker $victim at ${SECONDS}s"
  sleep 2
  start_broker "$victim"
done

status=0
wait "$DRIVER" || status=$?
cat "$WORK/driver.log"
echo "soak: faults=$faults (kill -9: $kills, network cuts: $cuts, etcd cuts: $etcdcuts) driver-exit=$status"
exit "$status"
