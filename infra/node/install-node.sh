#!/usr/bin/env bash
# First-boot installer of a Jumpgate web node (Ubuntu 24.04 LTS), run once by cloud-init's runcmd
# as root after cloud-init has installed the apt packages and written the configuration files.
#
# It downloads every upstream artifact pinned in /etc/jumpgate/artifacts.env (rendered from
# shared/node/catalog.ts) and refuses one whose SHA-256/SHA-512 does not match, or that has no
# pinned digest unless JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS=true. Then it builds guacd, unpacks
# Tomcat 9 and Guacamole (WAR unpacked as ROOT only, MySQL extension, Connector/J, schema for
# `jumpgate-node bootstrap-db`, the OpenID extension for `jumpgate-node sign-in`), turns SSH off,
# and starts the services with NGINX on a self-signed bootstrap certificate. Re-running it is
# harmless: finished steps are skipped.
#
# Who owns what, and what each service reads and writes, comes from /etc/jumpgate/services.json
# (rendered from shared/node/services.ts): the installer applies its layout, checks every
# service's access as that service's user (setpriv) before anything starts, enables exactly its
# units, and fails loudly, without writing its success marker, unless every one of them is still
# up a few seconds later (a crash-looping Type=simple unit would otherwise count as installed).
#
# --bake (image builder): download, verify, build, lay out; no stack configuration, nothing started;
# baked.json last. --from-image: no download or build; refuses an image of another release, then
# configures and starts like the default mode (shared/node/cloud-init.ts).
#
# Every path is under $JUMPGATE_NODE_ROOT (unset on a VM), like the agent's, so the tests run this
# very script in a sandbox directory; JUMPGATE_SYSTEMCTL, JUMPGATE_JOURNALCTL and JUMPGATE_NGINX
# (split on spaces) stand in for systemd and the system NGINX there, and
# JUMPGATE_SERVICE_SETTLE_SECONDS (default 10) is how long the services get before they are checked.
set -euo pipefail
shopt -s inherit_errexit
umask 022

readonly ROOT="${JUMPGATE_NODE_ROOT:-}"
readonly ARTIFACTS="$ROOT/etc/jumpgate/artifacts.env"
readonly CACHE=${JUMPGATE_INSTALL_CACHE:-$ROOT/var/cache/jumpgate}
readonly AGENT="$ROOT/usr/local/sbin/jumpgate-node"
readonly GUACAMOLE_HOME="$ROOT/etc/guacamole"
readonly SCHEMA_DIR="$ROOT/opt/jumpgate/guacamole/schema"
readonly OPENID_JAR_AVAILABLE="$ROOT/opt/jumpgate/guacamole/extensions-available/guacamole-auth-sso-openid.jar"
readonly TOMCAT_LINK="$ROOT/opt/tomcat"
readonly SERVICES="$ROOT/etc/jumpgate/services.json"
readonly GUACD_CONF="$ROOT/etc/guacd/guacd.conf"
readonly MARKER="$ROOT/var/lib/jumpgate/installed.json"
readonly BAKED="$ROOT/var/lib/jumpgate/baked.json"
readonly SETTLE_SECONDS=${JUMPGATE_SERVICE_SETTLE_SECONDS:-10}
read -r -a SYSTEMCTL <<<"${JUMPGATE_SYSTEMCTL:-systemctl}"
read -r -a JOURNALCTL <<<"${JUMPGATE_JOURNALCTL:-journalctl}"
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
  [[ $JUMPGATE_GUACAMOLE_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "JUMPGATE_GUACAMOLE_VERSION is not a version"
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
  # make dist keeps its builder's numeric ids: the sources are root's here
  tar --no-same-owner -xzf "$tarball" -C "$src" --strip-components=1
  log "building guacd $JUMPGATE_GUACAMOLE_VERSION"
  (
    cd "$src"
    # guacd opens its configuration at start-up and exits if it cannot: its own directory, not
    # /etc/guacamole (Tomcat's, with the database login), the default
    CFLAGS="-O2 -Wno-error" ./configure --prefix="$ROOT"/usr/local --with-guacd-conf="$GUACD_CONF" \
      --disable-guacenc --disable-guaclog
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
    # Apache packs bin/ and lib/ 750/640 and conf/ 700/600 for uid 0: apply_layout gives the
    # tomcat group what it must read
    tar --no-same-owner -xzf "$CACHE/tomcat.tar.gz" -C "$home" --strip-components=1
    # nothing but Guacamole is served: drop the sample, manager and docs applications
    rm -rf "${home:?}/webapps/"* "$home/bin/"*.bat
  fi
  configure_tomcat
}

configure_tomcat() {
  local home="$ROOT/opt/tomcat-$JUMPGATE_TOMCAT_VERSION"
  ln -sfn "$home" "$TOMCAT_LINK"
  install -m 0640 -o root -g tomcat "$ROOT"/opt/jumpgate/tomcat/server.xml "$home/conf/server.xml"
  local java
  java=$(readlink -f "$(command -v java)") || die "no Java runtime installed"
  printf 'JAVA_HOME=%s\n' "${java%/bin/java}" >"$ROOT"/etc/jumpgate/tomcat.env
}

install_guacamole() {
  local version=$JUMPGATE_GUACAMOLE_VERSION
  mkdir -p "$GUACAMOLE_HOME/extensions" "$GUACAMOLE_HOME/lib"

  fetch_verified JUMPGATE_ARTIFACT_GUACAMOLE_WAR "$CACHE/guacamole.war"
  # one copy, served at / (the reference ran two: /guacamole and a stale ROOT), unpacked here:
  # Tomcat never writes webapps/ (server.xml: unpackWARs="false")
  local staging
  staging=$(mktemp -d "$TOMCAT_LINK/webapps/.ROOT.XXXXXX")
  unzip -q "$CACHE/guacamole.war" -d "$staging"
  rm -rf "${TOMCAT_LINK:?}/webapps/"*
  mv "$staging" "$TOMCAT_LINK/webapps/ROOT"

  fetch_verified JUMPGATE_ARTIFACT_GUACAMOLE_AUTH_JDBC "$CACHE/guacamole-auth-jdbc.tar.gz"
  local jdbc
  jdbc=$(mktemp -d)
  tar --no-same-owner -xzf "$CACHE/guacamole-auth-jdbc.tar.gz" -C "$jdbc" --strip-components=1
  install -m 0640 "$jdbc/mysql/guacamole-auth-jdbc-mysql-$version.jar" "$GUACAMOLE_HOME/extensions/"
  install -d -m 0755 "$SCHEMA_DIR"
  install -m 0644 "$jdbc"/mysql/schema/*.sql "$SCHEMA_DIR/"
  # for `jumpgate-node schema-upgrade`
  install -d -m 0755 "$SCHEMA_DIR/upgrade"
  if [[ -d $jdbc/mysql/schema/upgrade ]]; then install -m 0644 -t "$SCHEMA_DIR/upgrade" "$jdbc"/mysql/schema/upgrade/*.sql; fi
  rm -rf "$jdbc"

  # the OpenID extension of the SSO bundle, where Guacamole does not load it: `jumpgate-node sign-in`
  # copies it into extensions/ only while the stack's spec has an access section
  fetch_verified JUMPGATE_ARTIFACT_GUACAMOLE_AUTH_SSO "$CACHE/guacamole-auth-sso.tar.gz"
  local sso
  sso=$(mktemp -d)
  tar --no-same-owner -xzf "$CACHE/guacamole-auth-sso.tar.gz" -C "$sso" --strip-components=1
  [[ -f $sso/openid/guacamole-auth-sso-openid-$version.jar ]] ||
    die "the SSO bundle has no openid/guacamole-auth-sso-openid-$version.jar"
  install -d -m 0700 "${OPENID_JAR_AVAILABLE%/*}"
  install -m 0600 "$sso/openid/guacamole-auth-sso-openid-$version.jar" "$OPENID_JAR_AVAILABLE"
  rm -rf "$sso"

  fetch_verified JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J "$CACHE/mysql-connector-j.zip"
  unzip -p "$CACHE/mysql-connector-j.zip" "$JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J_MEMBER" >"$CACHE/mysql-connector-j.jar"
  [[ -s $CACHE/mysql-connector-j.jar ]] || die "the Connector/J archive has no $JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J_MEMBER"
  install -m 0640 "$CACHE/mysql-connector-j.jar" "$GUACAMOLE_HOME/lib/mysql-connector-j.jar"
}

# Owners and modes of services.json's layout, in its order. dir: created when missing; file: must
# exist; tree: a directory and everything in it (chmod symbolic mode, so executables stay so).
# `baking`: a node's configuration file may be missing (its first boot applies the layout again).
apply_layout() {
  local baking=${1:-} path kind owner group mode target
  while IFS=$'\t' read -r path kind owner group mode; do
    target=$ROOT$path
    case $kind in
      dir) mkdir -p "$target" ;;
      file)
        if [[ ! -e $target && $baking == baking ]]; then continue; fi
        [[ -e $target ]] || die "$path is missing (services.json lays it out as a $kind)"
        ;;
      tree) [[ -e $target ]] || die "$path is missing (services.json lays it out as a $kind)" ;;
      *) die "services.json: unknown kind '$kind' for $path" ;;
    esac
    if [[ $kind == tree ]]; then
      chown -R "$owner:$group" "$target"
      chmod -R "$mode" "$target"
    else
      chown "$owner:$group" "$target"
      chmod "$mode" "$target"
    fi
  done < <(jq -r '.layout[] | [.path, .kind, .owner, .group, .mode] | @tsv' "$SERVICES")
}

# Every service's user (with the unit's group and its own groups, as systemd runs it) must read,
# run and write what services.json lists for it, and must not read or write what it forbids:
# checked as that user, so no archive's modes or owners can turn into a crash loop or a leak.
check_service_access() {
  local unit user group extra groups kind path file matched problems=()
  while IFS=$'\t' read -r unit user group extra; do
    [[ $user != root ]] || continue
    groups=$(id -G "$user" | tr ' ' ',')
    if [[ -n $extra ]]; then groups+=",$(getent group "${extra//,/ }" | cut -d: -f3 | paste -sd,)"; fi
    local as_user=(setpriv --reuid="$(id -u "$user")" --regid="$(getent group "$group" | cut -d: -f3)"
      --groups="$groups" --)
    while IFS=$'\t' read -r kind path; do
      matched=false
      # shellcheck disable=SC2206 # the last component of a path may be a glob
      local files=($ROOT$path)
      for file in "${files[@]}"; do
        [[ -e $file ]] || continue
        matched=true
        case $kind in
          read) "${as_user[@]}" test -r "$file" -a \( ! -d "$file" -o -x "$file" \) ||
            problems+=("$user ($unit) cannot read $path") ;;
          exec) "${as_user[@]}" test -x "$file" || problems+=("$user ($unit) cannot run $path") ;;
          write) "${as_user[@]}" test -w "$file" -a -x "$file" || problems+=("$user ($unit) cannot write $path") ;;
          noread) ! "${as_user[@]}" test -r "$file" || problems+=("$user ($unit) can read $path") ;;
          nowrite) ! "${as_user[@]}" test -w "$file" || problems+=("$user ($unit) can write $path") ;;
        esac
      done
      [[ $matched == true ]] || problems+=("$path ($kind, $unit) does not exist")
    done < <(jq -r --arg unit "$unit" '.services[] | select(.unit == $unit)
      | (.reads[] | "read\t\(.)"), (.executes[] | "exec\t\(.)"), (.writes[] | "write\t\(.)"),
        (.mustNotRead[] | "noread\t\(.)"), (.mustNotWrite[] | "nowrite\t\(.)")' "$SERVICES")
  done < <(jq -r '.services[] | [.unit, .user, .group, (.supplementaryGroups | join(","))] | @tsv' "$SERVICES")
  if ((${#problems[@]})); then
    printf '  %s\n' "${problems[@]}" >&2
    die "the node's layout does not give each service what it needs (services.json)"
  fi
  log "every service reaches what it needs and no more"
}

configure_nginx() {
  rm -f "$ROOT"/etc/nginx/sites-enabled/default
  mkdir -p "$ROOT"/etc/nginx/conf.d
  ln -sfn "$ROOT"/etc/jumpgate/nginx/jumpgate.conf "$ROOT"/etc/nginx/conf.d/jumpgate.conf
  "${NGINX[@]}" -t
}

# A Type=simple unit counts as started the moment its process exists, so `enable --now` succeeds
# for a service that dies a second later and is restarted every few seconds, for ever. Give the
# units time to fail, then insist on each being active without a single restart.
verify_services() {
  local unit props active sub restarts result failed=()
  sleep "$SETTLE_SECONDS"
  for unit in "$@"; do
    props=$("${SYSTEMCTL[@]}" show --property=ActiveState,SubState,NRestarts,Result "$unit") || props=""
    active=$(sed -n 's/^ActiveState=//p' <<<"$props")
    sub=$(sed -n 's/^SubState=//p' <<<"$props")
    restarts=$(sed -n 's/^NRestarts=//p' <<<"$props")
    result=$(sed -n 's/^Result=//p' <<<"$props")
    if [[ $active == active && ${restarts:-0} == 0 ]]; then continue; fi
    log "error: $unit is not running (${active:-unknown}/${sub:-unknown}, result ${result:-unknown}, ${restarts:-0} restarts); its last log lines:"
    "${JOURNALCTL[@]}" -u "$unit" -n 20 --no-pager -o cat 2>&1 | sed 's/^/  /' >&2 || true
    failed+=("$unit")
  done
  ((${#failed[@]} == 0)) || die "${failed[*]} did not stay up; the node is not installed"
}

configure_and_start() {
  # directories and the bootstrap certificate, before the layout is applied and checked
  "$AGENT" init >/dev/null
  apply_layout
  check_service_access
  configure_nginx
  local units
  mapfile -t units < <(jq -r '.services[].unit' "$SERVICES")
  "${SYSTEMCTL[@]}" daemon-reload
  "${SYSTEMCTL[@]}" enable --now "${units[@]}"
  # NGINX has been running Ubuntu's default site since its package was installed
  "${SYSTEMCTL[@]}" reload-or-restart nginx.service
  verify_services "${units[@]}"
  # the agent's health reports this marker, so the app knows when the node is ready for its credentials
  install -d -m 0755 "${MARKER%/*}"
  printf '{"guacamole":"%s","tomcat":"%s","installedAt":"%s"}\n' "$JUMPGATE_GUACAMOLE_VERSION" \
    "$JUMPGATE_TOMCAT_VERSION" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER"
  log "node installed; it joins the load balancer once its database credentials are installed"
}

bake() {
  rm -f "$BAKED"
  [[ ${JUMPGATE_IMAGE_DIGEST:-} =~ ^[0-9a-f]{64}$ ]] ||
    die "$ARTIFACTS has no JUMPGATE_IMAGE_DIGEST"
  build_guacd
  install_tomcat
  install_guacamole
  apply_layout baking
  # the package started NGINX's default site
  "${SYSTEMCTL[@]}" disable --now nginx.service
  rm -rf "${CACHE:?}"
  install -d -m 0755 "${BAKED%/*}"
  jq -n --arg digest "$JUMPGATE_IMAGE_DIGEST" --arg version "$JUMPGATE_GUACAMOLE_VERSION" \
    '{digest: $digest, guacamoleVersion: $version}' >"$BAKED.tmp"
  mv "$BAKED.tmp" "$BAKED"
  log "baked Guacamole $JUMPGATE_GUACAMOLE_VERSION"
}

# another release's web application must not meet this stack's database schema
check_baked_image() {
  [[ -r $BAKED ]] || die "this VM was not booted from a Jumpgate node image ($BAKED is missing)"
  local baked
  baked=$(jq -r '.guacamoleVersion // empty' "$BAKED") || die "$BAKED is not JSON"
  if [[ $baked != "$JUMPGATE_GUACAMOLE_VERSION" ]]; then
    log "error: REFUSED: this image was baked for Guacamole ${baked:-?}, but this node's configuration is for Guacamole $JUMPGATE_GUACAMOLE_VERSION"
    die "image and configuration disagree: nothing was started"
  fi
  [[ -x $ROOT/usr/local/sbin/guacd && -x $ROOT/opt/tomcat-$JUMPGATE_TOMCAT_VERSION/bin/catalina.sh && -d $TOMCAT_LINK/webapps/ROOT ]] ||
    die "the image lacks guacd, Tomcat or Guacamole: not a finished bake"
  log "booting from the node image baked for Guacamole $baked: configuration only, nothing downloaded or built"
}

main() {
  local mode=source
  case ${1:-} in
    "") ;;
    --bake) mode=bake ;;
    --from-image) mode=image ;;
    *) die "unknown argument '$1'" ;;
  esac
  # until every service is up again, the node is not installed (a re-run may fail)
  rm -f "$MARKER"
  load_artifacts
  [[ -r $SERVICES ]] || die "$SERVICES is missing"
  if [[ $mode == image ]]; then check_baked_image; fi
  ensure_system_user guacd /var/lib/guacd
  ensure_system_user tomcat /opt/tomcat
  disable_ssh
  case $mode in
    bake)
      mkdir -p "$CACHE"
      bake
      ;;
    image)
      configure_tomcat
      configure_and_start
      ;;
    source)
      mkdir -p "$CACHE"
      build_guacd
      install_tomcat
      install_guacamole
      configure_and_start
      ;;
  esac
}

# sourced by the tests to exercise fetch_verified; run by cloud-init otherwise
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
