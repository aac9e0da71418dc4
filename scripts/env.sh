# Sourced by scripts/demo.sh and scripts/test.sh (from the repository's root): the Python
# they install into and run, in $PYTHON, always a virtualenv's:
#   - run inside a virtualenv (an activated one, or its python3 first on PATH): that one;
#   - else the repository's .venv, made with `python3 -m venv` (on Debian's own Python, as
#     root, python3-venv is installed first when the venv module or ensurepip is missing).
# Also installs Debian's Node.js when node is missing (as root): the JupyterLab extension
# is built from TypeScript during the install.

_env_log() { echo "${0##*/}: $*" >&2; }

_env_apt() {  # _env_apt PACKAGE...: install Debian packages, as root only
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
    _env_log "installing Debian's $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v node >/dev/null; then
    _env_apt nodejs || _env_log "node is missing: the JupyterLab extension cannot be built"
fi

if python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; then
    PYTHON=$(python3 -c 'import sys; print(sys.executable)')
    _env_log "using the virtualenv $(python3 -c 'import sys; print(sys.prefix)')"
else
    # a .venv that does not run, or has no pip (a venv made without ensurepip), is made again
    if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
            _env_apt python3-venv ||
                { _env_log "python3 has no venv module or no ensurepip (python3-venv)"; exit 1; }
        fi
        _env_log "creating the virtualenv $PWD/.venv (from $(command -v python3))"
        rm -rf .venv
        # readable by the tests' non-root users (tests/users.py runs its interpreter as them)
        (umask 022 && python3 -m venv .venv)
    else
        _env_log "using the virtualenv $PWD/.venv"
    fi
    PYTHON=$PWD/.venv/bin/python
    # as if activated: its console scripts (jupyter, ...) first on PATH
    export VIRTUAL_ENV=$PWD/.venv PATH=$PWD/.venv/bin:$PATH
fi

pip_install() {  # pip_install ARGS...: into $PYTHON's environment, readable by everyone
    (umask 022 && "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@")
}
