#!/usr/bin/env bash
# Stops Envoy without failing a call: Envoy's own SIGTERM closes every connection at once, calls in flight
# included. This asks Envoy's admin API to drain its listeners instead: the next answer on each client connection
# carries GOAWAY, so the client takes later calls to a new connection (another Envoy, once this one is out of the
# Service or DNS); calls in flight finish; then Envoy is told to quit.
#
#   drain.sh [ADMIN_HOST:PORT] [DRAIN_SECONDS]      defaults: 127.0.0.1:9901 and 20
#
# DRAIN_SECONDS is Envoy's --drain-time-s: Envoy keeps accepting connections (each told to go away) for that
# long; this waits as long, or until no client connection is left. Run Envoy with --drain-strategy immediate so
# its next answer on every connection carries GOAWAY, not only a growing share of them over the drain time.
# Kubernetes: the preStop hook of the Envoy container, with terminationGracePeriodSeconds above DRAIN_SECONDS.
# Compose (the script goes in on standard input, so the container needs bash only):
#   docker compose -f deploy/compose.yaml exec -T envoy bash -s < deploy/envoy/drain.sh && docker compose ... stop envoy
set -euo pipefail

admin=${1:-127.0.0.1:9901}
drain_seconds=${2:-20}

# bash's /dev/tcp, not curl: not every Envoy image has curl, and the admin API speaks plain HTTP/1.1.
admin_request() {
    local method=$1 path=$2 reply
    exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}"
    printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$method" "$path" "$admin" >&3
    reply=$(cat <&3)
    exec 3>&-
    case ${reply%%$'\r'*} in
        "HTTP/1.1 200"*) printf '%s\n' "${reply#*$'\r\n\r\n'}" ;;
        *) echo "drain.sh: $method $path: ${reply%%$'\r'*}" >&2; return 1 ;;
    esac
}

client_connections() {
    admin_request GET '/stats?filter=^http\.grpc_ingress\.downstream_cx_active$' | sed -n 's/.*: *//p'
}

admin_request POST '/drain_listeners?graceful' >/dev/null
echo "drain.sh: Envoy at $admin is draining; waiting up to $drain_seconds s for its clients to leave"
deadline=$((SECONDS + drain_seconds))
left=$(client_connections)
while ((SECONDS < deadline)) && [[ $left != 0 ]]; do
    sleep 1
    left=$(client_connections)
done
admin_request POST /quitquitquit >/dev/null
echo "drain.sh: ${left:-?} client connection(s) left; Envoy told to quit"
