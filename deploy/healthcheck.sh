#!/bin/bash
# The container's health check: GET /livez on the port CHECKOUT_LISTEN names (4020 unless set),
# healthy on a 200 within 5 s. Bash's /dev/tcp, so the image needs no HTTP client.
set -euo pipefail
port="${CHECKOUT_LISTEN:-127.0.0.1:4020}"
port="${port##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
read -r -t 5 status <&3
[[ "$status" == "HTTP/1.1 200"* ]]
