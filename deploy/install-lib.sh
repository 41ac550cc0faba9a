# Helpers of deploy/install-systemd.sh (a station) and deploy/install-centre.sh (the
# centre), sourced after `set -euo pipefail` once these are set: me (the script's name,
# for messages), src (the repository), dry (1: only say what would be done), root ("" or
# the folder installed into), prefix, etc ($root/etc/evcs) and scratch (a private
# temporary folder, removed at exit).
# shellcheck shell=bash disable=SC2154  # me, dry, prefix, etc: set by the sourcing script

say() { echo "$me: $*"; }
die() { echo "$me: $*" >&2; exit 1; }
# Runs a command, or in a dry run only says it.
run() {
    if [ "$dry" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

# ---- files that are ours: replaced on every run ----------------------------------------
# install_file SOURCE DEST MODE [sed script]: copies (through sed when given), replacing.
install_file() {
    local from=$1 to=$2 mode=$3 script=${4:-}
    if [ "$dry" = 1 ]; then
        echo "would install $to ($mode) from ${from#"$src"/}"
        return
    fi
    mkdir -p "$(dirname "$to")"
    local tmp
    tmp=$(mktemp "$to.XXXXXX")
    if [ -n "$script" ]; then sed -e "$script" "$from" >"$tmp"; else cat "$from" >"$tmp"; fi
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$to"
}
# remove_file FILE: removes a file of ours that is no longer wanted (a drop-in), and its
# folder if that is left empty.
remove_file() {
    [ -e "$1" ] || return 0
    if [ "$dry" = 1 ]; then
        echo "would remove $1"
    else
        rm -f "$1"
        rmdir --ignore-fail-on-non-empty "$(dirname "$1")"
        say "removed $1"
    fi
}
# Units name /usr/local; another prefix is put in their place.
prefix_script() { echo "s|/usr/local/|$prefix/|g"; }

# install_web: the web console into PREFIX/share/evcs/web, replaced whole.
install_web() {
    local to=$root$prefix/share/evcs/web
    say "web console into $to"
    if [ "$dry" = 1 ]; then
        echo "would replace $to with $src/web (files 0644, folders 0755)"
        return
    fi
    mkdir -p "$(dirname "$to")"
    rm -rf "$to.new"
    cp -R "$src/web" "$to.new"
    find "$to.new" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
    rm -rf "$to"
    mv "$to.new" "$to"
}

# make_users SYSUSERS_FILE: the system users of an installed sysusers.d file.
make_users() {
    say "system users ($(basename "$1"))"
    if [ -n "$root" ]; then
        run mkdir -p "$root/etc"
        run systemd-sysusers --root="$root" "$1"
    else
        run systemd-sysusers "$1"
    fi
}

# ---- settings: written if absent, else a differing new version beside them ---------------
# settle TEMPFILE DEST MODE: TEMPFILE becomes DEST if there is none; if DEST differs it is
# kept and TEMPFILE becomes DEST.new.
settle() {
    local tmp=$1 to=$2 mode=$3
    if [ "$dry" = 1 ]; then
        if [ ! -e "$to" ]; then
            echo "would create $to ($mode)"
        elif ! cmp -s "$tmp" "$to"; then
            echo "would keep $to (edited or older) and write $to.new beside it"
        fi
        rm -f "$tmp"
        return
    fi
    mkdir -p "$(dirname "$to")"
    chmod "$mode" "$tmp"
    if [ ! -e "$to" ]; then
        mv "$tmp" "$to"
        say "created $to"
    elif cmp -s "$tmp" "$to"; then
        rm -f "$tmp"
        rm -f "$to.new"
    else
        mv -f "$tmp" "$to.new"
        say "kept $to; the new version is $to.new (compare and merge by hand)"
    fi
}
# env_value FILE KEY: KEY's value in an environment file (the last KEY= line; one pair of
# quotes around it removed, as systemd does), "" if none.
env_value() {
    local value
    value=$(sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1)
    case "$value" in
        \"*\" | \'*\') value=${value:1:${#value}-2} ;;
    esac
    printf '%s' "$value"
}

# ---- secrets: /etc/evcs/credentials, files 0600 root, never overwritten ------------------
# systemd reads them (LoadCredential=) before it starts a service as its user, and hands
# the service a copy under $CREDENTIALS_DIRECTORY (%d in a unit).
creds=$etc/credentials
declare -A dry_secrets=()   # what a dry run would have written: file -> first line
declare -A dry_moved=()     # what a dry run would have moved: file -> the older file
declare -A dry_stripped=()  # env files a dry run would have taken keys from: file -> "^K1=|^K2="
make_creds_dir() {
    if [ "$dry" = 1 ]; then
        [ -d "$creds" ] || echo "would create $creds (0700, root)"
        return
    fi
    mkdir -p "$creds"
    chmod 0700 "$creds"
}
new_secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
# write_secret DEST VALUE: DEST (0600) is made holding VALUE and a line feed; it must not
# exist. (A function's arguments are no command line: no other process sees them.)
write_secret() {
    local to=$1 value=$2
    if [ "$dry" = 1 ]; then
        dry_secrets[$to]=$value
        echo "would create $to (0600, root)"
        return
    fi
    local tmp
    tmp=$(mktemp "$to.XXXXXX")
    chmod 600 "$tmp"
    printf '%s\n' "$value" >"$tmp"
    mv -n "$tmp" "$to"
    rm -f "$tmp"
    say "created $to (0600)"
}
# secret_path FILE: where FILE's content is: FILE, or in a dry run the older file that
# would have moved there ("" if neither).
secret_path() {
    if [ -f "$1" ]; then echo "$1"; elif [ -n "${dry_moved[$1]+x}" ]; then echo "${dry_moved[$1]}"; fi
}
# has_secret FILE: whether the secret file exists (or a dry run would have made it).
has_secret() { [ -n "$(secret_path "$1")" ] || [ -n "${dry_secrets[$1]+x}" ]; }
# read_secret FILE: its first line (what a dry run would have written, in a dry run).
read_secret() {
    local at
    at=$(secret_path "$1")
    if [ -n "$at" ]; then head -n 1 "$at"; else printf '%s\n' "${dry_secrets[$1]}"; fi
}

# ---- an install of before the credentials: secrets move out of environment files --------
# Each move is called twice: with step=check, which only stops the run on a conflict (so
# that a refused upgrade changes nothing), then with step=move.
step=move
# move_env_secret ENVFILE KEY CREDENTIAL: KEY's value in ENVFILE (an older install kept it
# there) is written to the credential file, checked, and only then removed from ENVFILE.
# A credential already holding another value stops the run: nothing is overwritten.
move_env_secret() {
    local env=$1 key=$2 cred=$3 value
    [ -f "$env" ] && grep -q "^$key=" "$env" || return 0
    value=$(env_value "$env" "$key")
    [ -n "$value" ] || die "$env has an empty $key: remove the line, then run again"
    if has_secret "$cred"; then
        [ "$(read_secret "$cred")" = "$value" ] ||
            die "$env has $key, and $cred holds another value: keep the right one" \
                "(delete the line from $env, or the credential file), then run again"
    fi
    [ "$step" = move ] || return 0
    has_secret "$cred" || write_secret "$cred" "$value"
    if [ "$dry" = 1 ]; then
        echo "would remove $key from $env (moved to $cred)"
        dry_stripped[$env]="${dry_stripped[$env]:+${dry_stripped[$env]}|}^$key="
        return
    fi
    [ "$(head -n 1 "$cred")" = "$value" ] || die "$cred does not hold $key after writing it"
    local tmp
    tmp=$(mktemp "$env.XXXXXX")
    grep -v "^$key=" "$env" >"$tmp" || true
    chmod --reference="$env" "$tmp"
    mv -f "$tmp" "$env"
    say "moved $key from $env to $cred"
}
# move_secret_file OLD CREDENTIAL: a secret file of an older install moves to the
# credentials folder (the same content: never regenerated).
move_secret_file() {
    local old=$1 cred=$2
    [ -f "$old" ] || return 0
    if has_secret "$cred"; then
        cmp -s "$old" "$(secret_path "$cred")" ||
            die "both $old and $cred exist and differ: keep the right one as $cred, then run again"
        [ "$step" = move ] || return 0
        if [ "$dry" = 1 ]; then echo "would remove $old (the same as $cred)"; else rm -f "$old"; fi
        return
    fi
    [ "$step" = move ] || return 0
    if [ "$dry" = 1 ]; then
        dry_moved[$cred]=$old
        echo "would move $old to $cred (0600, root)"
        return
    fi
    chmod 600 "$old"
    mv "$old" "$cred"
    say "moved $old to $cred"
}
# retire_env ENVFILE: an environment file left with nothing but comments and blank lines
# is removed (the units read it only if it exists).
retire_env() {
    local env=$1
    [ -f "$env" ] || return 0
    local rest
    if [ -n "${dry_stripped[$env]+x}" ]; then
        rest=$(grep -vE "${dry_stripped[$env]}" "$env" || true)
    else
        rest=$(cat "$env")
    fi
    printf '%s\n' "$rest" | grep -q '^[[:space:]]*[^#[:space:]]' && return 0
    if [ "$dry" = 1 ]; then
        echo "would remove $env (no setting left in it)"
    else
        rm -f "$env"
        say "removed $env (no setting left in it)"
    fi
}
# optional_dropin CREDENTIAL SOURCE DEST: a unit's drop-in that loads an optional
# credential, installed while the credential file exists and removed when it is gone.
optional_dropin() {
    if has_secret "$1"; then
        install_file "$2" "$3" 0644 "$(prefix_script)"
    else
        remove_file "$3"
    fi
}
