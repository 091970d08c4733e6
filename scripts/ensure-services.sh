#!/usr/bin/env bash
# Make sure the machine's MariaDB and Redis answer (they normally run already on this machine kind), and that
# Debian's Chromium is there for the browser tests.
set -u
if ! mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 30); do mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no || true
  for _ in $(seq 1 10); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
# The browser tests drive Debian's Chromium (Playwright's own browser download does not work on this machine kind).
# A Chinese font, so the pages' screenshots show text rather than boxes.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wqy; then
  echo "installing Debian's chromium and a Chinese font for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; } \
    || { echo "could not install chromium (apt-get install chromium, as root)"; exit 1; }
fi
mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1 || { echo "MariaDB is not reachable at 127.0.0.1:3306"; exit 1; }
redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { echo "Redis is not reachable at 127.0.0.1:6379"; exit 1; }
