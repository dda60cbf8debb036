#!/usr/bin/env bash
# Install (or update, or remove) the hot-desk kiosk on a Raspberry Pi running Raspberry Pi OS
# Lite (Bookworm). Run as root from a checkout:
#
#   sudo systemd/install.sh                  install or update; idempotent (a second run changes nothing)
#   sudo systemd/install.sh --phone-serial S  ... the phone's adapter is the one with serial S
#   sudo systemd/install.sh --usb-lockdown   ... and only the USB devices in /etc/hotdesk/usb-allow
#                                            work (--no-usb-lockdown lifts it)
#   sudo systemd/install.sh --restart        restart the kiosk, unless an agent is signed in
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
PHONE_SERIAL=""
USB_LOCKDOWN=""

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$(realpath -m "${2:?--root needs a folder}"); shift 2 ;;
    --uninstall) MODE=uninstall; shift ;;
    --restart) MODE=restart; shift ;;
    --purge) PURGE=1; shift ;;
    --usb-lockdown) USB_LOCKDOWN=on; shift ;;
    --no-usb-lockdown) USB_LOCKDOWN=off; shift ;;
    --phone-serial) PHONE_SERIAL="${2:?--phone-serial needs the serial number of the adapter}"; shift 2 ;;
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

# A restart while an agent is signed in would sign her out: the kiosk is restarted only at a
# free desk. Otherwise the restart is owed (a marker in /opt/hotdesk) and the next run, or
# `install.sh --restart`, makes it once the desk is free.
PENDING="$ROOT/opt/hotdesk/restart-pending"
RESTART=0

desk_taken() {
  local answer
  answer=$("$ROOT/opt/hotdesk/venv/bin/kiosk" status --json 2>/dev/null) || return 1
  printf '%s' "$answer" | python3 -c \
    'import json, sys; sys.exit(0 if json.load(sys.stdin).get("agent") else 1)'
}

restart_kiosk() {
  if [ "$RESTART" = 0 ] && [ ! -e "$PENDING" ]; then
    say "nothing to do: everything is installed and up to date"
    return 0
  fi
  if [ -n "$ROOT" ]; then
    would "systemctl restart hotdesk-kiosk.service (when no agent is signed in)"
  elif [ ! -e "$ETC/host-password" ]; then
    say "done. The kiosk starts once the desk host's password is in $ETC/host-password"
    return 0
  elif desk_taken; then
    touch "$PENDING"
    say "restart deferred: an agent is signed in at this desk; the kiosk runs the version it"
    say "  started with until you run install.sh again (or install.sh --restart) at a free desk"
    return 0
  else
    systemctl restart hotdesk-kiosk.service
    rm -f "$PENDING"
  fi
  say "done. Check the unit with: kiosk doctor (stop the kiosk first for the phone and GPIO)"
}

if [ "$MODE" = restart ]; then
  RESTART=1
  restart_kiosk
  exit 0
fi

if [ "$MODE" = install ]; then
  if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or with --root DIR to stage the files" >&2
    exit 1
  fi
  SOURCE_CHANGED=0

  # 1. system packages: touch input (mtdev), fonts for Chinese and Arabic, OpenGL ES/EGL and
  # the DRM buffers Kivy draws with, the badge reader's libraries (evdev, ldap3), venv, and
  # node_exporter, which the site's Prometheus scrapes (it reads the kiosk's metrics file).
  # Raspberry Pi OS's lgpio (the Pi 5's GPIO) where the mirror has it. No recommended
  # packages: they bring services a kiosk does not run (and that fail without their hardware).
  PACKAGES="python3-venv python3-pip libmtdev1 fonts-noto-cjk fonts-noto-core
            libegl1 libgles2 libgl1 libgbm1 libgl1-mesa-dri python3-evdev python3-ldap3
            prometheus-node-exporter"
  OPTIONAL_PACKAGES="python3-lgpio"
  missing=""
  for p in $PACKAGES $OPTIONAL_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
  done
  if [ -n "$ROOT" ]; then
    would "apt-get install -y --no-install-recommends $PACKAGES $OPTIONAL_PACKAGES (those not yet installed on the unit; $OPTIONAL_PACKAGES where the mirror has it)"
  elif [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    apt-get update -qq
    wanted=""
    for p in $missing; do
      case " $OPTIONAL_PACKAGES " in
        *" $p "*) if apt-cache show "$p" >/dev/null 2>&1; then wanted="$wanted $p"
                  else say "  $p is not in this system's mirror (Raspberry Pi OS has it): GPIO through gpiozero's other pin libraries"; fi ;;
        *) wanted="$wanted $p" ;;
      esac
    done
    if [ -n "$wanted" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $wanted >/dev/null
      CHANGED=1
    fi
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
    say "installing the kiosk and its Python packages into $OPT/venv (a few minutes)..."
    python3 -m venv --system-site-packages "$OPT/venv"
    # built from a copy: pip writes build/ and *.egg-info into what it builds, and the next
    # run would see a changed source (and restart the kiosk for nothing)
    build=$(mktemp -d)
    cp -a "$OPT/src/." "$build/"
    "$OPT/venv/bin/pip" install --quiet --upgrade "$build[badge]"
    rm -rf "$build"
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
  # the phone's rule, tied to its adapter's serial number where one is known
  RULE="$SRC/systemd/99-hotdesk-deskphone.rules"
  IDS=$(sed -n 's/.*ATTRS{idVendor}=="\([0-9a-f]*\)", ATTRS{idProduct}=="\([0-9a-f]*\)".*/\1:\2/p' "$RULE")
  if [ -z "$PHONE_SERIAL" ] && [ -f "$UDEV/99-hotdesk-deskphone.rules" ]; then
    PHONE_SERIAL=$(sed -n 's/.*ATTRS{serial}=="\([^"@]*\)".*/\1/p' "$UDEV/99-hotdesk-deskphone.rules")
  fi
  if [ -z "$PHONE_SERIAL" ] && [ -z "$ROOT" ] && command -v udevadm >/dev/null 2>&1; then
    for dev in /dev/ttyUSB* /dev/ttyACM*; do
      [ -e "$dev" ] || continue
      props=$(udevadm info --query=property --name="$dev" 2>/dev/null || true)
      if [ "$(printf '%s\n' "$props" | sed -n 's/^ID_VENDOR_ID=//p'):$(printf '%s\n' "$props" | sed -n 's/^ID_MODEL_ID=//p')" = "$IDS" ]; then
        PHONE_SERIAL=$(printf '%s\n' "$props" | sed -n 's/^ID_SERIAL_SHORT=//p')
        [ -n "$PHONE_SERIAL" ] && break
      fi
    done
  fi
  case "$PHONE_SERIAL" in
    *[!A-Za-z0-9._-]*) echo "install.sh: --phone-serial: letters, digits, . _ - only" >&2; exit 2 ;;
  esac
  rule=$(mktemp)
  if [ -n "$PHONE_SERIAL" ]; then
    sed "s/@SERIAL@/$PHONE_SERIAL/" "$RULE" > "$rule"
  else
    sed 's/ ATTRS{serial}=="@SERIAL@",//' "$RULE" > "$rule"
  fi
  install_file "$rule" "$UDEV/99-hotdesk-deskphone.rules" 0644
  rm -f "$rule"
  if [ -z "$PHONE_SERIAL" ]; then
    say "  the phone's udev rule matches any $IDS adapter: plug the phone's in and run install.sh"
    say "  again (or install.sh --phone-serial SERIAL) to tie /dev/deskphone to that one"
  fi

  # 5b. the badge key and the directory's password: root's alone (mode 0600), handed to the
  # kiosk as systemd credentials, never readable by the hotdesk group or any other local user
  for secret in badge-key ldap-password; do
    if [ ! -e "$ETC/$secret" ]; then
      mkdir -p "$ETC"
      ( umask 077
        if [ "$secret" = badge-key ]; then
          python3 -c 'import secrets; print(secrets.token_hex(32))' > "$ETC/$secret"
        else
          : > "$ETC/$secret"  # empty: an anonymous bind, until the site gives one
        fi )
      say "made $ETC/$secret (root only)"
      CHANGED=1
    fi
    if [ "$(stat -c %a "$ETC/$secret")" != 600 ]; then
      chmod 600 "$ETC/$secret"; say "made $ETC/$secret root only (mode 600)"; CHANGED=1
    fi
    if [ -z "$ROOT" ] && [ "$(stat -c %U:%G "$ETC/$secret")" != root:root ]; then
      chown root:root "$ETC/$secret"; say "gave $ETC/$secret to root"; CHANGED=1
    fi
  done

  # 5c. the OS as a kiosk: no Magic SysRq, no core dumps of set-uid programs, no login
  # prompts on spare consoles (Ctrl+Alt+F2 on a keyboard plugged into the unit)
  BEFORE=$CHANGED; CHANGED=0
  install_file "$SRC/systemd/hardening/90-hotdesk-kiosk.sysctl.conf" \
    "$ROOT/etc/sysctl.d/90-hotdesk-kiosk.conf" 0644
  if [ "$CHANGED" = 1 ] && [ -z "$ROOT" ]; then
    sysctl -q -p "$ROOT/etc/sysctl.d/90-hotdesk-kiosk.conf" >/dev/null 2>&1 || \
      say "  (the kernel settings take effect at the next boot)"
  fi
  CHANGED=$((BEFORE | CHANGED))
  install_file "$SRC/systemd/hardening/90-hotdesk-logind.conf" \
    "$ROOT/etc/systemd/logind.conf.d/90-hotdesk-kiosk.conf" 0644
  for vt in 2 3 4 5 6; do
    if [ -z "$ROOT" ] && [ "$(systemctl is-enabled "getty@tty$vt.service" 2>/dev/null)" != masked ]; then
      systemctl mask --quiet "getty@tty$vt.service" "autovt@tty$vt.service" 2>/dev/null || true
      CHANGED=1
    fi
  done
  [ -n "$ROOT" ] && would "systemctl mask getty@tty2-6 and autovt@tty2-6 (no spare consoles)"

  # 5d. optional: USB devices authorised only from an allow-list (the phone's adapter, the
  # touchscreen, the badge reader): a rogue keyboard or stick on a spare port does nothing
  LOCKDOWN="$ROOT/etc/udev/rules.d/90-hotdesk-usb-lockdown.rules"
  ALLOW="$ETC/usb-allow"
  if [ -z "$USB_LOCKDOWN" ] && [ -e "$LOCKDOWN" ]; then USB_LOCKDOWN=on; fi
  if [ "$USB_LOCKDOWN" = on ]; then
    if [ ! -e "$ALLOW" ]; then
      install_file "$SRC/systemd/hardening/usb-allow.example" "$ALLOW" 0644
      say "  USB lockdown: list the unit's own devices (vendor:product) in $ALLOW"
    fi
    rules=$(mktemp)
    {
      echo "# Made by install.sh --usb-lockdown from $ALLOW: a USB device works only when listed."
      echo 'ACTION=="add", SUBSYSTEM=="usb", TEST=="authorized_default", ATTR{authorized_default}="0"'
      echo 'ACTION=="add", SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{bDeviceClass}=="09", ATTR{authorized}="1"'
      sed -e 's/#.*//' -e 's/[[:space:]]//g' "$ALLOW" | grep -E '^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$' |
        while IFS=: read -r vendor product; do
          printf 'ACTION=="add", SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="%s", ATTR{idProduct}=="%s", ATTR{authorized}="1"\n' \
            "$(echo "$vendor" | tr A-F a-f)" "$(echo "$product" | tr A-F a-f)"
        done
    } > "$rules"
    install_file "$rules" "$LOCKDOWN" 0644
    rm -f "$rules"
  elif [ "$USB_LOCKDOWN" = off ] && [ -e "$LOCKDOWN" ]; then
    remove "$LOCKDOWN"; CHANGED=1
  fi

  # 6. the journal's catalog (journalctl -x explains every entry of the kiosk)
  CATALOG_CHANGED=$CHANGED; CHANGED=0
  install_file "$SRC/systemd/hotdesk-kiosk.catalog" \
    "$ROOT/usr/lib/systemd/catalog/hotdesk-kiosk.catalog" 0644
  if [ "$CHANGED" = 1 ]; then act journalctl --update-catalog; fi
  CHANGED=$((CATALOG_CHANGED | CHANGED))

  # 7. node_exporter's textfile collector reads the kiosk's metrics through a link in Debian's
  # own textfile folder (hotdesk.tmpfiles makes it), beside the apt, smartmon and nvme metrics
  # of Debian's collectors. Earlier versions pointed node_exporter elsewhere: undone here.
  DEFAULTS="$ROOT/etc/default/prometheus-node-exporter"
  OURS="--collector.textfile.directory=/run/hotdesk/metrics"
  TEXTFILES="$ROOT/var/lib/prometheus/node-exporter"
  if [ "$(readlink "$TEXTFILES/hotdesk.prom" 2>/dev/null)" != /run/hotdesk/metrics/hotdesk.prom ]
  then
    mkdir -p "$TEXTFILES"
    ln -sfn /run/hotdesk/metrics/hotdesk.prom "$TEXTFILES/hotdesk.prom"
    say "linked $TEXTFILES/hotdesk.prom -> /run/hotdesk/metrics/hotdesk.prom (node_exporter)"
    CHANGED=1
  fi
  if [ -f "$DEFAULTS" ] && grep -q -- "$OURS" "$DEFAULTS"; then
    sed -i -e "/^# set by hotdesk install.sh/d" -e "s| *$OURS||" "$DEFAULTS"
    say "node_exporter reads Debian's textfile folder again ($DEFAULTS)"
    CHANGED=1
    act systemctl try-restart prometheus-node-exporter
  elif [ -f "$DEFAULTS" ] && grep -q -- "^ARGS=.*--collector.textfile.directory" "$DEFAULTS"; then
    say "  node_exporter reads another textfile folder ($DEFAULTS): link"
    say "  /run/hotdesk/metrics/hotdesk.prom into it for the kiosk's metrics"
  fi

  if [ "$CHANGED" = 1 ]; then
    act systemctl daemon-reload
    if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
      act udevadm control --reload
      act udevadm trigger --subsystem-match=tty
    fi
    act systemctl enable hotdesk-kiosk.service hotdesk-retention.timer
    act systemctl start hotdesk-retention.timer
    RESTART=1
  fi
  restart_kiosk
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
remove "$ROOT/etc/udev/rules.d/90-hotdesk-usb-lockdown.rules"
remove "$ROOT/etc/sysctl.d/90-hotdesk-kiosk.conf"
remove "$ROOT/etc/systemd/logind.conf.d/90-hotdesk-kiosk.conf"
for vt in 2 3 4 5 6; do act systemctl unmask --quiet "getty@tty$vt.service" "autovt@tty$vt.service" || true; done
remove "$OPT"
remove "$ROOT/usr/local/bin/kiosk"
remove "$ROOT/usr/local/bin/sqlite-utils"
remove "$ROOT/var/lib/prometheus/node-exporter/hotdesk.prom"
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
