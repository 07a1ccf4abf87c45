#!/bin/bash
set -u
$(dirname $0)/run.sh $1 kill 30
