#!/bin/bash
# Crash-loop program: note "pid epoch-seconds" (bash builtin, microseconds, no fork) and exit at once.
# The bench pairs this stamp with the daemon's "exited:" log line to get exit-detection latency.
echo "$$ $EPOCHREALTIME" >> "$1"
exit 1
