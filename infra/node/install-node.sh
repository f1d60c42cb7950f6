#!/usr/bin/env bash
# First-boot installer of a Jumpgate web node (Ubuntu 24.04 LTS), run once by cloud-init's runcmd
# as root after cloud-init has installed the apt packages and written the configuration files.
#
# It downloads every upstream artifact pinned in /etc/jumpgate/artifacts.env (rendered from
# shared/node/catalog.ts) and refuses one whose SHA-256/SHA-512 does not match, or that has no
# pinned digest unless JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS=true. Then it builds guacd, unpacks
# Tomcat 9 and Guacamole (WAR as ROOT only, MySQL extension, Connector/J, schema for
# `jumpgate-node bootstrap-db`), turns SSH off, enables NGINX with a self-signed bootstrap
# certificate and starts the services. Re-running it is harmless: finished steps are skipped.
#
# Every path is under $JUMPGATE_NODE_ROOT (unset on a VM), like the agent's, so the tests run this
# very script in a sandbox directory; JUMPGATE_SYSTEMCTL and JUMPGATE_NGINX (split on spaces) stand
# in for systemd and the system NGINX there.
set -euo pipefail
shopt -s inherit_errexit
umask 022

readonly ROOT="${JUMPGATE_NODE_ROOT:-}"
readonly ARTIFACTS="$ROOT/etc/jumpgate/artifacts.env"
readonly CACHE=${JUMPGATE_INSTALL_CACHE:-$ROOT/var/cache/jumpgate}
readonly AGENT="$ROOT/usr/local/sbin/jumpgate-node"
readonly GUACAMOLE_HOME="$ROOT/etc/guacamole"
readonly SCHEMA_DIR="$ROOT/opt/jumpgate/guacamole/schema"
readonly TOMCAT_LINK="$ROOT/opt/tomcat"
read -r -a SYSTEMCTL <<<"${JUMPGATE_SYSTEMCTL:-systemctl}"
read -r -a NGINX <<<"${JUMPGATE_NGINX:-nginx}"

log() { printf 'jumpgate-install: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

load_artifacts() {
  [[ -r $ARTIFACTS ]] || die "$ARTIFACTS is missing"
  local line n=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    [[ -z $line || $line == \#* ]] && continue
    [[ $line =~ ^(JUMPGATE_[A-Z0-9_]+)=(.*)$ ]] || die "$ARTIFACTS:$n: expected KEY=value"
    printf -v "${BASH_REMATCH[1]}" '%s' "${BASH_REMATCH[2]}"
  done <"$ARTIFACTS"
  : "${JUMPGATE_GUACAMOLE_VERSION:?}" "${JUMPGATE_TOMCAT_VERSION:?}" "${JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS:?}"
}

# Downloads artifact $1 (the JUMPGATE_ARTIFACT_<NAME> prefix) to $2, trying each mirror in turn,
# and checks it against its pinned digest.
fetch_verified() {
  local name=$1 dest=$2 urls_var="${1}_URLS" digest_var="${1}_DIGEST" url ok=false
  local urls
  read -r -a urls <<<"${!urls_var:?$name has no URL}"
  local digest=${!digest_var:?$name has no digest entry}
  # the policy is checked before a byte is downloaded
  case $digest in
    sha256:* | sha512:*) ;;
    none)
      [[ ${JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS:-false} == true ]] ||
        die "$name has no pinned checksum; refusing to install an unverified artifact"
      ;;
    *) die "$name has an unknown digest '$digest'" ;;
  esac
  for url in "${urls[@]}"; do
    if curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 --retry 5 --retry-delay 3 \
      --max-time 900 --output "$dest" "$url"; then
      ok=true
      break
    fi
    log "downloading $name from $url failed; trying the next location"
  done
  [[ $ok == true ]] || die "could not download $name"
  if [[ $digest == none ]]; then
    log "WARNING: installing $name without a checksum (allowUnverifiedArtifacts is set)"
    return 0
  fi
  local algorithm=${digest%%:*}
  if ! printf '%s  %s\n' "${digest#*:}" "$dest" | "${algorithm}sum" --check --strict --quiet - 2>/dev/null; then
    rm -f "$dest"
    die "$name does not match its pinned ${algorithm^^} digest; the download was deleted"
  fi
  log "$name verified ($algorithm)"
}

ensure_system_user() {
  local user=$1 home=$2
  getent group "$user" >/dev/null || groupadd --system "$user"
  getent passwd "$user" >/dev/null ||
    useradd --system --gid "$user" --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
}

# No SSH anywhere: the node is operated through Run Command and the agent only.
disable_ssh() {
  "${SYSTEMCTL[@]}" disable --now ssh.socket ssh.service 2>/dev/null || true
  "${SYSTEMCTL[@]}" mask ssh.socket ssh.service 2>/dev/null || true
}

build_guacd() {
  if [[ -x $ROOT/usr/local/sbin/guacd ]] && "$ROOT"/usr/local/sbin/guacd -v 2>&1 | grep -q "$JUMPGATE_GUACAMOLE_VERSION"; then
    return 0
  fi
  local tarball="$CACHE/guacamole-server.tar.gz" src
  fetch_verified JUMPGATE_ARTIFACT_GUACAMOLE_SERVER "$tarball"
  src=$(mktemp -d)
  tar -xzf "$tarball" -C "$src" --strip-components=1
  log "building guacd $JUMPGATE_GUACAMOLE_VERSION"
  (
    cd "$src"
    CFLAGS="-O2 -Wno-error" ./configure --prefix="$ROOT"/usr/local --disable-guacenc --disable-guaclog
    make -j "$(nproc)"
    make install
  )
  if [[ -z $ROOT ]]; then ldconfig; fi
  rm -rf "$src"
}

install_tomcat() {
  local home="$ROOT/opt/tomcat-$JUMPGATE_TOMCAT_VERSION"
  if [[ ! -x $home/bin/catalina.sh ]]; then
    fetch_verified JUMPGATE_ARTIFACT_TOMCAT "$CACHE/tomcat.tar.gz"
    mkdir -p "$home"
    tar -xzf "$CACHE/tomcat.tar.gz" -C "$home" --strip-components=1
    # nothing but Guacamole is served: drop the sample, manager and docs applications
    rm -rf "${home:?}/webapps/"* "$home/bin/"*.bat
  fi
  ln -sfn "$home" "$TOMCAT_LINK"
  install -m 0640 -o root -g tomcat "$ROOT"/opt/jumpgate/tomcat/server.xml "$home/conf/server.xml"
  chgrp -R tomcat "$home/conf"
  chmod -R g+rX,o-rwx "$home/conf"
  chown -R tomcat:tomcat "$home/logs" "$home/temp" "$home/work" "$home/webapps"
  local java
  java=$(readlink -f "$(command -v java)") || die "no Java runtime installed"
  printf 'JAVA_HOME=%s\n' "${java%/bin/java}" >"$ROOT"/etc/jumpgate/tomcat.env
}

install_guacamole() {
  local version=$JUMPGATE_GUACAMOLE_VERSION
  install -d -m 0750 -o root -g tomcat "$GUACAMOLE_HOME" "$GUACAMOLE_HOME/extensions" "$GUACAMOLE_HOME/lib"

  fetch_verified JUMPGATE_ARTIFACT_GUACAMOLE_WAR "$CACHE/guacamole.war"
  # one copy, served at / (the reference ran two: /guacamole and a stale ROOT)
  rm -rf "$TOMCAT_LINK/webapps/"*
  install -m 0640 -o root -g tomcat "$CACHE/guacamole.war" "$TOMCAT_LINK/webapps/ROOT.war"

  fetch_verified JUMPGATE_ARTIFACT_GUACAMOLE_AUTH_JDBC "$CACHE/guacamole-auth-jdbc.tar.gz"
  local jdbc
  jdbc=$(mktemp -d)
  tar -xzf "$CACHE/guacamole-auth-jdbc.tar.gz" -C "$jdbc" --strip-components=1
  install -m 0640 -o root -g tomcat "$jdbc/mysql/guacamole-auth-jdbc-mysql-$version.jar" "$GUACAMOLE_HOME/extensions/"
  install -d -m 0755 "$SCHEMA_DIR"
  install -m 0644 "$jdbc"/mysql/schema/*.sql "$SCHEMA_DIR/"
  rm -rf "$jdbc"

  fetch_verified JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J "$CACHE/mysql-connector-j.zip"
  unzip -p "$CACHE/mysql-connector-j.zip" "$JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J_MEMBER" >"$CACHE/mysql-connector-j.jar"
  [[ -s $CACHE/mysql-connector-j.jar ]] || die "the Connector/J archive has no $JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J_MEMBER"
  install -m 0640 -o root -g tomcat "$CACHE/mysql-connector-j.jar" "$GUACAMOLE_HOME/lib/mysql-connector-j.jar"

  # never world-readable; credentials arrive later through `jumpgate-node db-credentials`
  chown root:tomcat "$GUACAMOLE_HOME/guacamole.properties"
  chmod 0640 "$GUACAMOLE_HOME/guacamole.properties"
}

configure_nginx() {
  "$AGENT" init >/dev/null
  rm -f "$ROOT"/etc/nginx/sites-enabled/default
  mkdir -p "$ROOT"/etc/nginx/conf.d
  ln -sfn "$ROOT"/etc/jumpgate/nginx/jumpgate.conf "$ROOT"/etc/nginx/conf.d/jumpgate.conf
  "${NGINX[@]}" -t
  "${SYSTEMCTL[@]}" enable nginx.service
  "${SYSTEMCTL[@]}" reload-or-restart nginx.service
}

main() {
  load_artifacts
  mkdir -p "$CACHE"
  ensure_system_user guacd /var/lib/guacd
  ensure_system_user tomcat "$TOMCAT_LINK"
  disable_ssh
  build_guacd
  install_tomcat
  install_guacamole
  configure_nginx
  "${SYSTEMCTL[@]}" daemon-reload
  "${SYSTEMCTL[@]}" enable --now guacd.service tomcat.service jumpgate-probe.timer
  # the agent's health reports this marker, so the app knows when the node is ready for its credentials
  install -d -m 0755 "$ROOT"/var/lib/jumpgate
  printf '{"guacamole":"%s","tomcat":"%s","installedAt":"%s"}\n' "$JUMPGATE_GUACAMOLE_VERSION" \
    "$JUMPGATE_TOMCAT_VERSION" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$ROOT"/var/lib/jumpgate/installed.json
  log "node installed; it joins the load balancer once its database credentials are installed"
}

# sourced by the tests to exercise fetch_verified; run by cloud-init otherwise
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
