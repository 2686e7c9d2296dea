#!/usr/bin/env bash
# Opt-in, time-boxed fuzzing of the protocol decoders with SharpFuzz and afl++ (never run by the build
# or the tests).
#
#   tools/fuzz.sh TARGET SECONDS
#
# TARGET: frame     the broker's read path: size prefix, request header, the request body decoder
#         requests  every request and response decoder in every version (input bytes 0-2 pick them)
#         batch     RecordBatch.Validate and record iteration (input byte 0 bit 0 re-seals the CRC)
#         codecs    the record batch decompressors (input byte 0 picks gzip/snappy/lz4/zstd)
#
# Installs what is missing (afl++ from apt, the SharpFuzz.CommandLine tool into the work directory),
# publishes tests/Fuzz in Release, instruments the assemblies under test, runs one afl-fuzz process for
# SECONDS seeded from tests/Fuzz/corpus/TARGET, then prints execs/s and the crash count and replays
# each crash (stack trace). Work files go to $FUZZ_WORK (default /tmp/logbroker-fuzz/TARGET).
# Exit status: 0 when no crash was found, 1 when one was, 2 on a usage or setup error.
set -euo pipefail

usage() { echo "usage: tools/fuzz.sh {frame|requests|batch|codecs} SECONDS" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
target=$1
seconds=$2
case "$target" in frame | requests | batch | codecs) ;; *) usage ;; esac
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || usage

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${FUZZ_WORK:-/tmp/logbroker-fuzz/$target}
tools=$(dirname "$work")/tools
sharpfuzz_version=2.3.0

if ! command -v afl-fuzz > /dev/null; then
  echo "== installing afl++"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ > /dev/null
fi

if [[ ! -x "$tools/sharpfuzz" ]]; then
  echo "== installing SharpFuzz.CommandLine $sharpfuzz_version"
  dotnet tool install SharpFuzz.CommandLine --version "$sharpfuzz_version" --tool-path "$tools" > /dev/null
fi

echo "== building"
rm -rf "$work"
mkdir -p "$work"
bin=$work/bin     # instrumented: runs only under afl-fuzz
plain=$work/plain # uninstrumented: replays crashes
dotnet publish "$repo/tests/Fuzz/LogBroker.Fuzz.csproj" -c Release -o "$plain" --nologo -v quiet > "$work/build.log" 2>&1 \
  || { cat "$work/build.log"; exit 2; }
cp -r "$plain" "$bin"

# The assemblies whose branches afl sees. The codecs live in LogBroker.Client (or LogBroker.Protocol,
# if they have moved); the compression libraries are instrumented too so that afl sees their branches.
case "$target" in
  codecs) assemblies=(LogBroker.Protocol.dll LogBroker.Client.dll Snappier.dll K4os.Compression.LZ4.dll K4os.Compression.LZ4.Streams.dll ZstdSharp.dll) ;;
  *) assemblies=(LogBroker.Protocol.dll) ;;
esac
for assembly in "${assemblies[@]}"; do
  echo "== instrumenting $assembly"
  "$tools/sharpfuzz" "$bin/$assembly" > "$work/instrument.log" 2>&1 || { cat "$work/instrument.log"; exit 2; }
done

echo "== afl-fuzz $target for ${seconds}s"
export AFL_SKIP_BIN_CHECK=1          # the forkserver is SharpFuzz's, inside dotnet
export AFL_NO_UI=1
export AFL_SKIP_CPUFREQ=1
export AFL_NO_AFFINITY=1             # the machine is shared: let the scheduler place it
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_FORKSRV_INIT_TMOUT=30000  # dotnet start-up
export DOTNET_TieredPGO=0
# -V ends the campaign after SECONDS; the timeout is a backstop if afl does not stop by itself.
timeout --signal=INT $((seconds + 120)) \
  afl-fuzz -i "$repo/tests/Fuzz/corpus/$target" -o "$work/findings" -t 5000 -m none -V "$seconds" \
  -- dotnet "$bin/LogBroker.Fuzz.dll" "$target" > "$work/afl.log" 2>&1 || true

stats=$work/findings/default/fuzzer_stats
if [[ ! -f "$stats" ]]; then
  echo "afl-fuzz did not start; its log:" >&2
  tail -40 "$work/afl.log" >&2
  exit 2
fi

stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crash_dir=$work/findings/default/crashes
mapfile -t crashes < <(find "$crash_dir" -type f -name 'id:*' 2> /dev/null | sort)
execs=$(stat execs_done)
run_time=$(stat run_time)
rate=$(awk -v e="$execs" -v t="$run_time" 'BEGIN { if (t > 0) printf "%.0f", e / t; else print 0 }')
echo "== $target: ${run_time}s, $execs execs, $rate execs/s (afl's last figure $(stat execs_per_sec)), $(stat corpus_count) paths, ${#crashes[@]} crashes, $(stat saved_hangs) hangs"
echo "   findings: $work/findings/default"

if [[ ${#crashes[@]} -gt 0 ]]; then
  echo "== replaying the crashes"
  dotnet "$plain/LogBroker.Fuzz.dll" "$target" --run "${crashes[@]}" || true
  exit 1
fi
