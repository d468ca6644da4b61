#!/usr/bin/env bash
# Build the lab's base image from Debian packages with debootstrap (no registry needed) and import it into podman.
# The tag is a hash of this script and packages.txt: an image with that tag is reused, never rebuilt.
# Usage: lab/image/build.sh            prints the image reference on its last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=localhost/opsready-lab
tag=$(cat "$here/build.sh" "$here/packages.txt" | sha256sum | cut -c1-12)
image="$name:$tag"
mirror=${OPSREADY_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if podman image exists "$image"; then
  echo "lab image $image is up to date" >&2
  echo "$image"
  exit 0
fi

packages=$(sed 's/#.*//' "$here/packages.txt" | xargs | tr ' ' ',')
rootfs=$(mktemp -d /var/tmp/opsready-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
# mktemp makes 0700; the postgres user must traverse / or postgresql-15 creates no cluster (lab-recipe.md).
chmod 0755 "$rootfs"
start=$(date +%s)
echo "building $image with debootstrap from $mirror" >&2
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >&2

# The lab configures these itself; nothing should start before the lab roles say so.
chroot "$rootfs" systemctl disable haproxy.service nginx.service redis-server.service postgresql.service >&2 || true
chroot "$rootfs" rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# Minimal systemd in a container: no getty on a console nobody reads.
chroot "$rootfs" systemctl mask getty@tty1.service console-getty.service systemd-logind.service >&2 || true
# SSH: root by key only (the controller's lab key is mounted as authorized_keys), no PAM (logind is masked). The
# host keys are the image's, shared by every lab host: a throwaway lab, reached with host key checking off.
cat > "$rootfs/etc/ssh/sshd_config.d/opsready-lab.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
EOF
chroot "$rootfs" systemctl enable ssh.service >&2

tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' \
  --change 'LABEL io.opsready.lab.inputs='"$tag" - "$image" >&2
# Keep one image per name: older tags only take space.
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$name:" | grep -v ":$tag\$" | xargs -r podman rmi >&2 || true
echo "built $image in $(( $(date +%s) - start ))s" >&2
echo "$image"
