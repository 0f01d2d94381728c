# Source this file (`. scripts/env.sh`) to use the toolchain built by scripts/install-toolchain.
# It only exports variables; it builds nothing and creates no files.
# shellcheck shell=sh
_vd_cache="${VALOHAI_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/valohai-deployments}"
case "${PATH}:" in
  "${_vd_cache}/toolchain/bin:"*) ;; # already first

  *) PATH="${_vd_cache}/toolchain/bin:${PATH}" ;;
esac
export PATH
# Pulumi's own state (plugins, credentials, workspace settings) stays in the cache, not ~/.pulumi.
export PULUMI_HOME="${_vd_cache}/pulumi-home"
# Providers come from Pulumi's plugin cache under PULUMI_HOME, where scripts/install-toolchain
# installs the ones it builds at the versions the Python SDK asks for; their copies on PATH are
# for people and tests, and not used by Pulumi (no "using ... from $PATH" warning on every run).
# Never try to download a plugin (no network here), never check for updates.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
unset _vd_cache
