#!/bin/sh
# The runner's on_failure hook (params/aapl_2023.yaml: on_failure: "sh deploy/on_failure.sh"): after a run that
# did not succeed, write a short alert naming the run and every problem `runner.py health` finds, to stderr (the
# runner keeps it in the run's manifest, "hook") and to $AAPL_OUTPUTS_DIR/logs/alerts.log. Point your own
# notifier at that file, or add a `mail`/`curl` line below.
# The runner gives it AAPL_RUN_ID, AAPL_RUN_STATUS, AAPL_RUN_DIR (and the id and status as $1 and $2) and
# AAPL_OUTPUTS_DIR. AAPL_HEALTH_ARGS adds options to the health check (e.g. "--max-age 30"); AAPL_PYTHON names
# the interpreter (default: the project's .venv). The health lines describe the runs before this one: the run
# that calls the hook is still being recorded. The live profile's on_failure also runs when a run stops at the
# manual approval gate (exit 3): that is the normal daily outcome, so it gets a one-line NOTICE, not an alert.
set -u
project=$(cd "$(dirname "$0")/.." && pwd)
python=${AAPL_PYTHON:-$project/.venv/bin/python}
[ -x "$python" ] || python=python3
outputs=${AAPL_OUTPUTS_DIR:-$project/outputs}
run_id=${AAPL_RUN_ID:-${1:-unknown}}
status=${AAPL_RUN_STATUS:-${2:-unknown}}
run_dir=${AAPL_RUN_DIR:-}
mkdir -p "$outputs/logs" || exit 1
log=$outputs/logs/alerts.log
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)

if [ "$status" = awaiting_approval ]; then
    echo "$now NOTICE run $run_id awaits approval: read $run_dir/html/05_model_evaluation.html, then python runner.py approve $run_id --by NAME (or reject), then python runner.py resume $run_id" | tee -a "$log" >&2
    exit 0
fi

# shellcheck disable=SC2086  # AAPL_HEALTH_ARGS is a list of options
health=$("$python" "$project/runner.py" health --json --outputs "$outputs" ${AAPL_HEALTH_ARGS:-} 2>&1)
code=$?
problems=$(printf '%s' "$health" | "$python" -c '
import json, sys
report = json.load(sys.stdin)
print("\n".join(report["problems"]) or "no other problem (every ticker is healthy)")
' 2>/dev/null) || problems="the health check itself failed (exit $code): $health"
{
    echo "$now ALERT run $run_id ended $status: $run_dir"
    printf '%s\n' "$problems" | sed "s/^/$now   health: /"
} | tee -a "$log" >&2
