#!/usr/bin/env bash
# A second Docker engine on this host, for trying and testing several nodes on one machine (migration, draining,
# a node that vanishes). It has its own socket, data root, and bridge (wagw-n2, 172.30.0.1/24), and leaves the host's
# iptables alone; published ports go through docker-proxy. It also listens on tcp://127.0.0.1:2376 with TLS
# (`--tlsverify`), with a CA and client certificate of its own in /var/lib/docker-n2-tls (ca.pem, cert.pem, key.pem),
# as a remote engine would.
#
#   deploy/engines/second-engine.sh start|stop|status
#   → unix:///run/docker-n2.sock   (docker -H unix:///run/docker-n2.sock ps)
#   → tcp://127.0.0.1:2376         (docker --tlsverify --tlscacert …/ca.pem --tlscert …/cert.pem --tlskey …/key.pem
#                                   -H tcp://127.0.0.1:2376 ps)
set -euo pipefail

NAME=${ENGINE_NAME:-n2}
SOCKET=/run/docker-$NAME.sock
PIDFILE=/run/docker-$NAME.pid
BRIDGE=${ENGINE_BRIDGE:-wagw-$NAME}
BRIDGE_CIDR=${ENGINE_BRIDGE_CIDR:-172.30.0.1/24}
LOG=/var/log/dockerd-$NAME.log
TLS_PORT=${ENGINE_TLS_PORT:-2376}
TLS_DIR=/var/lib/docker-$NAME-tls

# A CA, a server certificate for 127.0.0.1 and a client certificate, made once.
tls_material() {
  [[ -f $TLS_DIR/server-key.pem ]] && return
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=wagw test CA ($NAME)" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=wagw" -keyout key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out cert.pem 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
  )
}

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if running; then echo "engine $NAME: running (unix://$SOCKET)"; return; fi
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add name "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  tls_material
  setsid dockerd -H "unix://$SOCKET" -H "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$TLS_DIR/ca.pem" \
    --tlscert "$TLS_DIR/server-cert.pem" --tlskey "$TLS_DIR/server-key.pem" --data-root "/var/lib/docker-$NAME" --exec-root "/run/docker-$NAME" \
    --pidfile "$PIDFILE" --bridge "$BRIDGE" --iptables=false --ip-masq=false >"$LOG" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    docker -H "unix://$SOCKET" info >/dev/null 2>&1 && { echo "engine $NAME: started (unix://$SOCKET)"; return; }
    sleep 0.5
  done
  echo "engine $NAME did not start; last lines of $LOG:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
}

stop() {
  if running; then
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  echo "engine $NAME: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running (unix://$SOCKET)"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
