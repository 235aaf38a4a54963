# shellcheck shell=bash
# Fetch Debian packages of any architecture (e.g. s390x) from bookworm and bookworm-backports
# with a PRIVATE apt configuration: the system's sources, lists, dpkg architectures and
# preferences stay untouched. Sourced, not run.
#
#   source tests/testbed/lib/debs.sh
#   debs_update                         # refresh the private package lists (at most every 12 h)
#   debs_newest 'linux-image-6\.12\.[0-9]+\+deb12-s390x' s390x   # newest matching package name
#   debs_download DIR PKG[:ARCH][=VER]...   # .deb files into DIR (kept, reused); prints their paths
#   debs_apt ARGS...                     # apt-get with the private configuration
#
# Everything lives under $TB_CACHE/apt (lists, cache) and $TB_CACHE/debs (downloaded files).
# The mirror is the first URI of /etc/apt/sources.list.d/debian.sources (or /etc/apt/sources.list);
# override with TB_DEBIAN_MIRROR.

# shellcheck source=../../../scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/scripts/lib.sh"

TB_CACHE=${TB_CACHE:-$S390X_KVM_CACHE/testbed}
TB_APT=$TB_CACHE/apt
TB_DEBS=$TB_CACHE/debs
TB_SUITES=${TB_SUITES:-"bookworm bookworm-backports"}
TB_ARCHES=${TB_ARCHES:-"amd64 s390x"}
export TB_CACHE

# debs_mirror: the Debian mirror URI this machine is configured with.
debs_mirror() {
    if [ -n "${TB_DEBIAN_MIRROR:-}" ]; then echo "$TB_DEBIAN_MIRROR"; return; fi
    local uri=
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # First "URIs:" line whose URI is not the security archive.
        uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
            /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($i !~ /security/) { print $i; exit } } }' \
            /etc/apt/sources.list)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# debs_keyring: the keyring the system's Debian source is signed by.
debs_keyring() {
    local k=
    [ -f /etc/apt/sources.list.d/debian.sources ] && \
        k=$(awk 'tolower($1) == "signed-by:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
    [ -n "$k" ] && [ -f "$k" ] || k=/usr/share/keyrings/debian-archive-keyring.gpg
    echo "$k"
}

# debs_setup: write the private apt configuration (idempotent). Exports APT_CONFIG only
# inside debs_apt, never in the caller's environment.
debs_setup() {
    apt_ensure debian-archive-keyring ca-certificates
    mkdir -p "$TB_APT"/{etc/sources.list.d,etc/preferences.d,etc/apt.conf.d,lists/partial,cache/archives/partial} "$TB_DEBS"
    [ -f "$TB_APT/status" ] || : > "$TB_APT/status"
    local mirror keyring arches
    mirror=$(debs_mirror)
    keyring=$(debs_keyring)
    arches=$(echo "$TB_ARCHES" | tr ' ' ',')
    local sources=
    local s
    for s in $TB_SUITES; do
        sources+="deb [arch=$arches signed-by=$keyring] $mirror $s main"$'\n'
    done
    if [ ! -f "$TB_APT/etc/sources.list" ] || [ "$(cat "$TB_APT/etc/sources.list")" != "${sources%$'\n'}" ]; then
        printf '%s' "$sources" > "$TB_APT/etc/sources.list"
        rm -f "$TB_APT/.updated"
    fi
    {
        echo "Dir::Etc::SourceList \"$TB_APT/etc/sources.list\";"
        echo "Dir::Etc::SourceParts \"$TB_APT/etc/sources.list.d\";"
        echo "Dir::Etc::Preferences \"$TB_APT/etc/preferences\";"
        echo "Dir::Etc::PreferencesParts \"$TB_APT/etc/preferences.d\";"
        echo "Dir::Etc::Parts \"$TB_APT/etc/apt.conf.d\";"
        echo "Dir::State::Lists \"$TB_APT/lists\";"
        echo "Dir::State::Status \"$TB_APT/status\";"
        echo "Dir::Cache \"$TB_APT/cache\";"
        echo "Dir::Cache::Archives \"$TB_APT/cache/archives\";"
        echo "Dir::Log \"$TB_APT\";"
        echo "APT::Architecture \"amd64\";"
        printf 'APT::Architectures {'; for s in $TB_ARCHES; do printf ' "%s";' "$s"; done; echo ' };'
        echo 'Acquire::Languages "none";'
        echo 'APT::Get::List-Cleanup "false";'
        echo 'Debug::NoLocking "true";'
        echo 'APT::Sandbox::User "root";'
        # The machine's own Acquire settings (a proxy; a snapshot mirror's Check-Valid-Until), which
        # the private Dir::Etc::Parts above would hide (as scripts/molecule.sh does for its image).
        apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' || true
    } > "$TB_APT/apt.conf.new"
    mv -f "$TB_APT/apt.conf.new" "$TB_APT/apt.conf"
}

# debs_apt ARGS...: apt-get with the private configuration.
debs_apt() { APT_CONFIG=$TB_APT/apt.conf apt-get -q "$@"; }
debs_cache() { APT_CONFIG=$TB_APT/apt.conf apt-cache "$@"; }

# debs_update [--force]: refresh the private lists when missing, older than 12 h or forced.
# shellcheck disable=SC2120  # --force is for callers outside this file
debs_update() {
    debs_setup
    if [ "${1:-}" = --force ] || [ ! -f "$TB_APT/.updated" ] || [ -n "$(find "$TB_APT/.updated" -mmin +720 2>/dev/null)" ]; then
        log "private apt update ($TB_SUITES; $TB_ARCHES) from $(debs_mirror)"
        debs_apt update >/dev/null
        touch "$TB_APT/.updated"
    fi
}

# debs_newest REGEX [ARCH]: the newest package name (anchored REGEX) available for ARCH.
debs_newest() {
    local re=$1 arch=${2:-} names
    # shellcheck disable=SC2119  # no --force here
    debs_update
    names=$(debs_cache pkgnames | grep -E "^($re)\$" | sort -V) || true
    [ -n "$names" ] || { echo "no package matches ^($re)\$ in $TB_SUITES" >&2; return 1; }
    if [ -n "$arch" ]; then
        local n ok=
        for n in $names; do
            debs_cache show "$n:$arch" >/dev/null 2>&1 && ok+="$n"$'\n'
        done
        names=${ok%$'\n'}
        [ -n "$names" ] || { echo "no package matches ^($re)\$ for $arch" >&2; return 1; }
    fi
    echo "$names" | tail -n1
}

# debs_download DIR PKG...: download the packages (with apt's candidate, backports included)
# into DIR, reusing files already there; prints one path per package.
debs_download() {
    local dir=$1; shift
    mkdir -p "$dir"
    # shellcheck disable=SC2119  # no --force here
    debs_update
    local pkg name arch ver file
    local -a want=() paths=()
    for pkg in "$@"; do
        # The exact file name apt would use: NAME_VERSION_ARCH.deb (epoch ':' is %3a).
        name=${pkg%%[:=]*}
        arch=$(echo "$pkg" | sed -n 's/^[^:=]*:\([a-z0-9]*\).*/\1/p')
        ver=$(echo "$pkg" | sed -n 's/^[^=]*=\(.*\)$/\1/p')
        if [ -z "$ver" ]; then
            ver=$(debs_cache policy "${name}${arch:+:$arch}" | awk '$1 == "Candidate:" { print $2; exit }')
            # shellcheck disable=SC2015  # the message when either test fails
            [ -n "$ver" ] && [ "$ver" != "(none)" ] || { echo "package $pkg not found in $TB_SUITES" >&2; return 1; }
        fi
        if [ -z "$arch" ]; then
            arch=$(debs_cache show "$name=$ver" 2>/dev/null | awk '$1 == "Architecture:" { print $2; exit }')
        fi
        file=$dir/${name}_${ver/:/%3a}_${arch}.deb
        if [ ! -s "$file" ]; then
            want+=("$name:$arch=$ver")
        fi
        paths+=("$file")
    done
    if [ ${#want[@]} -gt 0 ]; then
        log "downloading ${want[*]}"
        (cd "$dir" && debs_apt download "${want[@]}" >/dev/null)
    fi
    for file in "${paths[@]}"; do
        [ -s "$file" ] || { echo "download did not produce $file" >&2; return 1; }
        echo "$file"
    done
}
