#!/bin/sh
# An idle program: replace the shell with a long sleep so the daemon sees one quiet pid.
exec sleep 2147483647
