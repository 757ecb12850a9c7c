#!/usr/bin/env bash
# Installs what the end-to-end tests need from Debian, if it is missing:
# chromium (Playwright drives it; its own browser download cannot work here),
# fish and zsh (the fish and bash/zsh renderings run in the real shells), slapd (the LDAP tests run
# their own OpenLDAP server on loopback), and a kubectl when none is
# on the machine (Debian's kubernetes-client 1.20 as the fallback).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v fish >/dev/null 2>&1 || missing+=(fish)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/sbin/slapd ] || missing+=(slapd)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "kubegate tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
