#!/usr/bin/env bash
# The main job on the embedded defaults, from a fresh machine: set up, start a real
# local cluster, deploy a sample app, back it up to the default location
# (file:///var/lib/backupd), delete the app's namespace as an incident would, restore
# it, and show that it is back. The sandbox is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/setup.sh
. .venv/bin/activate

trap 'backupctl sandbox down --name demo >/dev/null 2>&1 || true' EXIT
echo "== starting a local cluster"
eval "$(backupctl sandbox up --name demo)"

echo "== deploying the sample app (namespace shop)"
kubectl apply -f deploy/examples/shop.yaml
kubectl -n shop rollout status deployment/web --timeout=90s

name="shop-$(date +%Y%m%d-%H%M%S)"
echo "== backing up namespace shop as $name"
backupctl backup create "$name" --include-namespaces shop
backupctl backup describe "$name" --details

echo "== the incident: namespace shop is deleted"
kubectl delete namespace shop --wait=true --timeout=120s

echo "== restoring from $name"
backupctl restore create "$name-restore" --from-backup "$name"
kubectl -n shop rollout status deployment/web --timeout=90s
kubectl -n shop get deployments,pods,services,configmaps,secrets
echo "== done: namespace shop was restored from backup $name"
