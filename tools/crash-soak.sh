#!/usr/bin/env bash
# Opt-in crash soak: kill -9 of a real broker at random points during topic creation, topic deletion
# and producer-id reservation, and during offset commits with the committed-offset log compacting
# over and over, KILLS times per case (default 20), checking the invariants after each restart (see
# tests/Integration.Tests/MetadataCrashTests.cs and OffsetLogCrashTests.cs). Takes about 25 s per kill
# and case on a 2-core machine (the offset case about 3 s). Rerun a failure with the seed it printed:
# LOGBROKER_CRASH_SEED=<seed> tools/crash-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-20}"
export LOGBROKER_CRASH_KILLS="$KILLS"
dotnet build tests/Integration.Tests -v quiet
dotnet test --project tests/Integration.Tests/LogBroker.Integration.Tests.csproj --no-build -- \
  --filter-class "*MetadataCrashTests*" --output Detailed
dotnet test --project tests/Integration.Tests/LogBroker.Integration.Tests.csproj --no-build -- \
  --filter-class "*OffsetLogCrashTests*" --output Detailed
