#!/usr/bin/env bash
# A real trial of `make up` / `make down`, end to end, inside a private network namespace:
#
#   infra/trial.sh [--keep] [--json]
#
# service.sh up (with a private PostgreSQL: the host's server is not reachable from the
# namespace) → Airflow api-server healthy, scheduler, dag-processor and triggerer alive, Spark
# master with one ALIVE worker → the DAGs parsed without import errors → one demo file submitted,
# midex_intake triggered and succeeded → midex_release triggered and succeeded, a release
# exists → service.sh down → no process it started remains. Prints the time of every phase
# (and with --json a last line with the results, which tests/test_service_up.py reads).
#
# Why a namespace: Airflow's log servers bind all interfaces (8793/8794); in a new network
# namespace only loopback exists, so nothing is reachable from outside and no port can clash
# with anything on the host. The namespace ends with its last process.
#
# Everything is written to a fresh folder (SERVICE_DIR, default a new /tmp/midex-trial-*),
# removed after a successful trial unless --keep. Exit status: 0 success, 1 a phase failed,
# 3 no network namespace can be made here.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$REPO/.venv/bin}"

if [[ "${TRIAL_IN_NETNS:-}" != 1 ]]; then
  if [[ $EUID -eq 0 ]]; then
    enter=(unshare --net)
  else
    # not root: a user namespace whose root may configure the new network namespace; the trial
    # itself then runs as the original user again (a nested user namespace mapping it back)
    enter=(unshare --map-root-user --net)
  fi
  if ! "${enter[@]}" true 2>/dev/null; then
    echo "trial: cannot create a network namespace here (${enter[*]} is not permitted)" >&2
    exit 3
  fi
  export TRIAL_IN_NETNS=1 TRIAL_UID="$EUID" TRIAL_GID="$(id -g)"
  exec "${enter[@]}" "$0" "$@"
fi

ip link set lo up
if [[ "${TRIAL_UID:-0}" != 0 && $EUID -eq 0 ]]; then
  exec unshare --map-user="$TRIAL_UID" --map-group="$TRIAL_GID" \
    "$BIN/python" "$REPO/infra/trial.py" "$@"
fi
exec "$BIN/python" "$REPO/infra/trial.py" "$@"
