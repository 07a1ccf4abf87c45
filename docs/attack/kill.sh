#!/bin/bash
set -u
/work/wt/e/attack/run.sh $1 kill 30
