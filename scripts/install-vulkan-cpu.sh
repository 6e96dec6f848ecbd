#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) so the WebGPU provider finds an adapter on a machine
# without a GPU. Dawn refuses bookworm's own Mesa 22.3 ("No supported adapters"); bookworm-backports'
# Mesa 25 works. Idempotent: does nothing when a Vulkan driver other than an old Mesa is present, or
# when the backports Mesa is already installed. Needs root and apt (Debian bookworm).
set -euo pipefail

icd_dirs=(/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d)
has_icd() {
  local d f
  for d in "${icd_dirs[@]}"; do
    for f in "$d"/*.json; do
      [ -e "$f" ] || continue
      case "$(basename "$f")" in
        lvp_icd*|radeon_icd*|intel_icd*|intel_hasvk_icd*|nouveau_icd*|virtio_icd*|asahi_icd*|broadcom_icd*|freedreno_icd*|panfrost_icd*|powervr_mesa_icd*|dzn_icd*|gfxstream_vk_icd*) ;; # Mesa's own: decided by its version below
        *) return 0 ;;
      esac
    done
  done
  return 1
}
mesa_version() { { dpkg-query -W -f='${Status} ${Version}\n' mesa-vulkan-drivers 2>/dev/null || true; } | awk '$3=="installed"{print $4}' || true; }
has_libvulkan() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; }

if [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && has_libvulkan; then
  echo "install-vulkan-cpu: VK_ICD_FILENAMES/VK_DRIVER_FILES set; leaving the Vulkan setup as it is"
  exit 0
fi
if has_icd && has_libvulkan; then
  echo "install-vulkan-cpu: a Vulkan driver is already installed; nothing to do"
  exit 0
fi
current="$(mesa_version)"
if [ -n "$current" ] && dpkg --compare-versions "$current" ge 24 && has_libvulkan; then
  echo "install-vulkan-cpu: mesa-vulkan-drivers $current already installed; nothing to do"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "install-vulkan-cpu: needs root to install mesa-vulkan-drivers and libvulkan1 from bookworm-backports" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-vulkan-cpu: apt-get not found; install Mesa >= 24 (lavapipe) and libvulkan1 by hand" >&2
  exit 1
fi
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
if [ "$codename" != bookworm ]; then
  echo "install-vulkan-cpu: on $codename, installing mesa-vulkan-drivers and libvulkan1 from the distribution"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  exit 0
fi
if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
  echo "install-vulkan-cpu: added bookworm-backports to /etc/apt/sources.list.d/bookworm-backports.list"
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "install-vulkan-cpu: installed mesa-vulkan-drivers $(mesa_version) (lavapipe) from bookworm-backports"
