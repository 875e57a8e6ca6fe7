# Sourced by scripts/test and scripts/demo: puts uv on PATH, installing it from PyPI if needed.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v uv >/dev/null 2>&1; then
    export PATH="$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        as_root apt-get update -q && as_root apt-get install -y -q python3-pip
    fi
    python3 -m pip install -q uv 2>/dev/null \
        || python3 -m pip install -q --user uv 2>/dev/null \
        || python3 -m pip install -q --user --break-system-packages uv
    hash -r
fi
if ! command -v uv >/dev/null 2>&1; then
    uv() { python3 -m uv "$@"; }
fi
