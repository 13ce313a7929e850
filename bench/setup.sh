#!/usr/bin/env bash
# Installs the load tools the serve and 304 benchmarks need (Debian's wrk and nginx) when they
# are missing. Run as root (or with sudo) once per machine: `bash bench/setup.sh`.
# nginx is only ever started by the bench itself, on a loopback port, with a generated config:
# the package's own service is not enabled or started here.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)

if ((${#missing[@]} == 0)); then
  echo "bench setup: wrk and nginx already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "bench setup: run as root to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "bench setup: apt-get install ${missing[*]}"
"${sudo[@]}" apt-get update -qq
# policy-rc.d keeps Debian's postinst from starting nginx on port 80 as a system service.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created_policy=1
fi
status=0
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if ((created_policy)); then
  "${sudo[@]}" rm -f "$policy"
fi
exit "$status"
