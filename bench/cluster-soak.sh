#!/usr/bin/env bash
# Opt-in cluster soak (not run by CI): 3 etcd members and 3 brokers on 127.0.0.1 (free ports), a topic with
# replication factor 3 and min.insync.replicas=2, the ClusterSoak driver producing with acks=all and
# idempotence while a fault loop kill -9s and restarts a random broker every FAULT_EVERY seconds; then the
# driver reads everything back and prints the history checker's verdict. Every process started here is
# stopped by PID on exit.
# Usage: bench/cluster-soak.sh [MINUTES=2] [FAULT_EVERY=15] [PARTITIONS=3]   (SOAK_RATE=records/s, default 5000, 0 unlimited)
set -euo pipefail
MINUTES=${1:-2}
FAULT_EVERY=${2:-15}
PARTITIONS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/cluster-soak.XXXXXX)
declare -a PIDS=() BROKER_PIDS=()

cleanup() {
  for pid in "${BROKER_PIDS[@]}" "${PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "soak: stopped; logs in $WORK"
}
trap cleanup EXIT

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
    --listen-client-urls="http://127.0.0.1:${CLIENT[$i]}" --advertise-client-urls="http://127.0.0.1:${CLIENT[$i]}" \
    --listen-peer-urls="http://127.0.0.1:${PEER[$i]}" --initial-advertise-peer-urls="http://127.0.0.1:${PEER[$i]}" \
    --initial-cluster="$INITIAL" --initial-cluster-token="soak$$" --initial-cluster-state=new \
    --log-level=error >"$WORK/etcd$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${CLIENT[$i]}/health" >/dev/null && break; sleep 0.1; done
done

declare -a BPORT
for id in 1 2 3; do BPORT[$id]=$(free_port); mkdir -p "$WORK/b$id"; done
start_broker() {
  local id=$1
  (cd "$WORK/b$id" && exec dotnet "$BROKER_DLL" --Broker:NodeId="$id" --Broker:Listener="127.0.0.1:${BPORT[$id]}" \
    --Storage:DataDirectory="$WORK/b$id" --Admin:Enabled=false --Logging:LogLevel:Default=Warning --Cluster:LeaseTtl=00:00:03 \
    --Cluster:Etcd:Endpoints:0="http://127.0.0.1:${CLIENT[0]}" --Cluster:Etcd:Endpoints:1="http://127.0.0.1:${CLIENT[1]}" \
    --Cluster:Etcd:Endpoints:2="http://127.0.0.1:${CLIENT[2]}" >>"$WORK/b$id.log" 2>&1) &
  BROKER_PIDS[$id]=$!
}
for id in 1 2 3; do start_broker "$id"; done
for id in 1 2 3; do
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/${BPORT[$id]}") 2>/dev/null && break; sleep 0.1; done
done
sleep 2

BOOTSTRAP="127.0.0.1:${BPORT[1]},127.0.0.1:${BPORT[2]},127.0.0.1:${BPORT[3]}"
SECONDS_TOTAL=$((MINUTES * 60))
: >"$WORK/faults.txt"
dotnet "$DRIVER_DLL" "$BOOTSTRAP" soak "$PARTITIONS" "$SECONDS_TOTAL" "$WORK/faults.txt" >"$WORK/driver.log" 2>&1 &
DRIVER=$!
PIDS+=($DRIVER)

faults=0
end=$((SECONDS + SECONDS_TOTAL))
while [ "$SECONDS" -lt "$end" ] && kill -0 "$DRIVER" 2>/dev/null; do
  sleep "$FAULT_EVERY"
  [ "$SECONDS" -lt "$end" ] || break
  victim=$((RANDOM % 3 + 1))
  echo "$(date +%s%3N) $victim" >>"$WORK/faults.txt"
  kill -9 "${BROKER_PIDS[$victim]}" 2>/dev/null || true
  wait "${BROKER_PIDS[$victim]}" 2>/dev/null || true
  faults=$((faults + 1))
  echo "soak: fault $faults: kill -9 broker $victim at ${SECONDS}s"
  sleep 2
  start_broker "$victim"
done

status=0
wait "$DRIVER" || status=$?
cat "$WORK/driver.log"
echo "soak: faults=$faults driver-exit=$status"
exit "$status"
