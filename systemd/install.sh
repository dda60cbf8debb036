#!/usr/bin/env bash
# Install (or update, or remove) the hot-desk kiosk on a Raspberry Pi running Raspberry Pi OS
# Lite (Bookworm). Run as root from a checkout:
#
#   sudo systemd/install.sh                  install or update; idempotent (a second run changes nothing)
#   sudo systemd/install.sh --uninstall      remove it, keeping the session log in /var/lib/hotdesk
#   sudo systemd/install.sh --uninstall --purge   ... and the session log and configuration too
#   systemd/install.sh --root DIR            lay every file under DIR instead, for a look or a
#                                            test: no apt, no user, no venv, no systemctl --
#                                            it says what it would do
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=""
MODE=install
PURGE=0
CHANGED=0

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$(realpath -m "${2:?--root needs a folder}"); shift 2 ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
  esac
done

say() { printf '%s\n' "$*"; }
would() { say "would: $*"; }
# run a system command, or in staging mode say it instead
act() { if [ -n "$ROOT" ]; then would "$*"; else "$@"; fi; }

OPT="$ROOT/opt/hotdesk"
ETC="$ROOT/etc/hotdesk"
UNITS="$ROOT/etc/systemd/system"
UDEV="$ROOT/etc/udev/rules.d"
SYSUSERS="$ROOT/usr/lib/sysusers.d"
TMPFILES="$ROOT/usr/lib/tmpfiles.d"
STATE="$ROOT/var/lib/hotdesk"

# install_file SRC DEST MODE: copy when different; report what changed
install_file() {
  local from=$1 to=$2 mode=$3
  if [ -f "$to" ] && cmp -s "$from" "$to" && [ "$(stat -c %a "$to")" = "${mode#0}" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$to")"
  install -m "$mode" "$from" "$to"
  say "installed $to"
  CHANGED=1
}

# install_tree SRC DEST: the project's source, replaced when it differs
install_tree() {
  local to=$1
  local staged
  staged=$(mktemp -d)
  trap 'rm -rf "$staged"' RETURN
  tar -C "$SRC" --exclude='__pycache__' --exclude='*.pyc' -cf - \
    kiosk hardware assets systemd pyproject.toml README.md | tar -C "$staged" -xf -
  if [ -d "$to" ] && diff -rq "$staged" "$to" >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$to"
  rm -rf "$to"
  mkdir -p "$(dirname "$to")"
  cp -a "$staged" "$to"
  chmod 0755 "$to"
  say "installed the kiosk's source in $to"
  CHANGED=1
  SOURCE_CHANGED=1
}

remove() {
  local path=$1
  if [ -e "$path" ] || [ -L "$path" ]; then
    rm -rf "$path"
    say "removed $path"
  fi
}

if [ "$MODE" = install ]; then
  if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or with --root DIR to stage the files" >&2
    exit 1
  fi
  SOURCE_CHANGED=0

  # 1. system packages: touch input (mtdev), fonts for Chinese and Arabic, GPIO (lgpio), venv
  # and node_exporter, which the site's Prometheus scrapes (it reads the kiosk's metrics file)
  PACKAGES="python3-venv python3-pip libmtdev1 fonts-noto-cjk fonts-noto-core python3-lgpio
            prometheus-node-exporter"
  missing=""
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
  done
  if [ -n "$ROOT" ]; then
    would "apt-get install -y $PACKAGES (those not yet installed on the unit)"
  elif [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    CHANGED=1
  fi

  # 2. the hotdesk user and its folders
  install_file "$SRC/systemd/hotdesk.sysusers" "$SYSUSERS/hotdesk.conf" 0644
  install_file "$SRC/systemd/hotdesk.tmpfiles" "$TMPFILES/hotdesk.conf" 0644
  if [ -n "$ROOT" ]; then
    would "systemd-sysusers hotdesk.conf (user hotdesk; groups video render input gpio dialout tty)"
    mkdir -p "$STATE" "$ETC"
  elif ! id hotdesk >/dev/null 2>&1; then
    systemd-sysusers "$SYSUSERS/hotdesk.conf"; CHANGED=1
    systemd-tmpfiles --create "$TMPFILES/hotdesk.conf"
  else
    systemd-sysusers "$SYSUSERS/hotdesk.conf"
    systemd-tmpfiles --create "$TMPFILES/hotdesk.conf"
  fi

  # 3. the code, in a virtual environment that also sees Debian's lgpio
  install_tree "$OPT/src"
  if [ -n "$ROOT" ]; then
    would "python3 -m venv --system-site-packages $OPT/venv && $OPT/venv/bin/pip install $OPT/src"
  elif [ ! -x "$OPT/venv/bin/kiosk" ] || [ "$SOURCE_CHANGED" = 1 ]; then
    python3 -m venv --system-site-packages "$OPT/venv"
    "$OPT/venv/bin/pip" install --quiet --upgrade "$OPT/src"
    say "installed the kiosk into $OPT/venv"
    CHANGED=1
  fi

  # 3b. `kiosk` and `sqlite-utils` on PATH, for facilities and admins (and sudo, whose
  # secure_path has /usr/local/bin)
  BIN="$ROOT/usr/local/bin"
  for command in kiosk sqlite-utils; do
    if [ "$(readlink "$BIN/$command" 2>/dev/null)" != "/opt/hotdesk/venv/bin/$command" ]; then
      mkdir -p "$BIN"
      ln -sfn "/opt/hotdesk/venv/bin/$command" "$BIN/$command"
      say "linked $BIN/$command -> /opt/hotdesk/venv/bin/$command"
      CHANGED=1
    fi
  done

  # 4. configuration: the example, unless the unit has its own
  if [ ! -e "$ETC/kiosk.toml" ]; then
    install_file "$SRC/systemd/kiosk.toml.example" "$ETC/kiosk.toml" 0640
    say "  edit $ETC/kiosk.toml for this desk, then: kiosk config check $ETC/kiosk.toml"
  fi
  install_file "$SRC/systemd/kiosk.toml.example" "$ETC/kiosk.toml.example" 0644
  if [ -z "$ROOT" ]; then chgrp hotdesk "$ETC" "$ETC/kiosk.toml"; fi
  if [ ! -e "$ETC/host-password" ]; then
    say "  the desk host's password is missing: install -m 600 /dev/stdin $ETC/host-password"
  fi

  # 5. units, udev rule
  for unit in hotdesk-kiosk.service hotdesk-retention.service hotdesk-retention.timer; do
    install_file "$SRC/systemd/$unit" "$UNITS/$unit" 0644
  done
  install_file "$SRC/systemd/99-hotdesk-deskphone.rules" "$UDEV/99-hotdesk-deskphone.rules" 0644

  # 6. the journal's catalog (journalctl -x explains every entry of the kiosk)
  CATALOG_CHANGED=$CHANGED; CHANGED=0
  install_file "$SRC/systemd/hotdesk-kiosk.catalog" \
    "$ROOT/usr/lib/systemd/catalog/hotdesk-kiosk.catalog" 0644
  if [ "$CHANGED" = 1 ]; then act journalctl --update-catalog; fi
  CHANGED=$((CATALOG_CHANGED | CHANGED))

  # 7. node_exporter's textfile collector reads the kiosk's metrics (/run/hotdesk/metrics)
  DEFAULTS="$ROOT/etc/default/prometheus-node-exporter"
  TEXTFILE="--collector.textfile.directory=/run/hotdesk/metrics"
  if [ -f "$DEFAULTS" ] && grep -q -- "$TEXTFILE" "$DEFAULTS"; then
    :
  elif [ -f "$DEFAULTS" ] && grep -q -- "--collector.textfile.directory" "$DEFAULTS"; then
    say "  node_exporter reads another textfile directory ($DEFAULTS): add $TEXTFILE there"
  else
    mkdir -p "$(dirname "$DEFAULTS")"
    if [ -f "$DEFAULTS" ] && grep -q '^ARGS=' "$DEFAULTS"; then
      sed -i "s|^ARGS=\"\(.*\)\"|ARGS=\"\1 $TEXTFILE\"|; s|^ARGS=\" |ARGS=\"|" "$DEFAULTS"
    else
      printf '# set by hotdesk install.sh: the kiosk'"'"'s metrics\nARGS="%s"\n' "$TEXTFILE" >> "$DEFAULTS"
    fi
    say "node_exporter now reads the kiosk's metrics ($DEFAULTS)"
    CHANGED=1
    act systemctl restart prometheus-node-exporter
  fi

  if [ "$CHANGED" = 1 ]; then
    act systemctl daemon-reload
    act udevadm control --reload
    act udevadm trigger --subsystem-match=tty
    act systemctl enable hotdesk-kiosk.service hotdesk-retention.timer
    if [ -e "$ETC/host-password" ] || [ -n "$ROOT" ]; then
      act systemctl restart hotdesk-kiosk.service
      act systemctl start hotdesk-retention.timer
    fi
    say "done. Check the unit with: kiosk doctor (stop the kiosk first for the phone and GPIO)"
  else
    say "nothing to do: everything is installed and up to date"
  fi
  exit 0
fi

# --- uninstall ---------------------------------------------------------------------------------
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo)" >&2
  exit 1
fi
act systemctl disable --now hotdesk-kiosk.service hotdesk-retention.timer
for unit in hotdesk-kiosk.service hotdesk-retention.service hotdesk-retention.timer; do
  remove "$UNITS/$unit"
done
remove "$UDEV/99-hotdesk-deskphone.rules"
remove "$OPT"
remove "$ROOT/usr/local/bin/kiosk"
remove "$ROOT/usr/local/bin/sqlite-utils"
remove "$TMPFILES/hotdesk.conf"
act systemctl daemon-reload
if [ "$PURGE" = 1 ]; then
  remove "$STATE"
  remove "$ETC"
  remove "$SYSUSERS/hotdesk.conf"
  act userdel hotdesk
else
  say "kept the session log ($STATE) and the configuration ($ETC); --purge removes them"
fi
