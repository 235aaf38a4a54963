#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The docs stage: lint the collection's documentation and build its docsite.
#   1. antsibull-docs lint-collection-docs --plugin-docs: module, plugin and role docs (schema and markup),
#      docs/docsite/*.yml, the guides under docs/docsite/rst and every reference in them;
#   2. antsibull-docs sphinx-init + the build.sh it writes (Sphinx warnings are errors), HTML under
#      $S390X_KVM_CACHE/docs-build/html;
#   3. scripts/docs_site.py check: every module's page with its options, examples and return values,
#      every role's and playbook's page.
# The tools live in their own virtualenv ($S390X_KVM_CACHE/venv-docs, rebuilt when requirements-docs.txt
# changes). Nothing is fetched from the network but packages: Ansible's own labels the pages refer to
# resolve from a local intersphinx inventory (scripts/docs_site.py inventory).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT" || exit 1

S390X_KVM_DOCS_VENV=$S390X_KVM_CACHE/venv-docs
DOCS_BUILD=$S390X_KVM_CACHE/docs-build

venv_ensure "$S390X_KVM_ROOT/requirements-docs.txt" "$S390X_KVM_DOCS_VENV"
# antsibull-docs runs ansible-doc and ansible from PATH: the docs virtualenv's, on this checkout as s390x.kvm.
export PATH=$S390X_KVM_DOCS_VENV/bin:$PATH
collection=$S390X_KVM_COLLECTIONS/ansible_collections/s390x/kvm

log "antsibull-docs lint-collection-docs"
antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs \
    --validate-collection-refs=all --disallow-unknown-collection-refs "$collection"

site=$(mktemp -d "${TMPDIR:-/tmp}/s390x-kvm-docs.XXXXXX")
trap 'rm -rf "$site"' EXIT
log "antsibull-docs sphinx-init"
antsibull-docs sphinx-init --use-current --fail-on-error --squash-hierarchy --no-add-antsibull-docs-version \
    --project s390x.kvm --title "s390x.kvm: KVM on IBM Z" --copyright "s390x.kvm contributors" \
    --dest-dir "$site" s390x.kvm >/dev/null
# No network: Ansible's labels (common_return_values, ...) from a local inventory, no other intersphinx.
python scripts/docs_site.py inventory "$site/ansible_devel.inv"
cat >> "$site/conf.py" <<CONF

# scripts/docs.sh: built without the network; Ansible's own labels resolve from a local inventory
# of their docs.ansible.com addresses (scripts/docs_site.py inventory).
intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '$site/ansible_devel.inv'),
}
CONF
# build.sh writes Sphinx's output to build/ next to itself (-W: warnings are errors): the cache's docs-build.
rm -rf "$DOCS_BUILD" && mkdir -p "$DOCS_BUILD"
ln -s "$DOCS_BUILD" "$site/build"
log "build.sh (Sphinx, warnings as errors)"
bash "$site/build.sh" > "$site/build.log" 2>&1 || { cat "$site/build.log" >&2; exit 1; }
grep -E "WARNING|ERROR" "$site/build.log" >&2 && exit 1

log "checking the built pages ($DOCS_BUILD/html)"
python scripts/docs_site.py check "$DOCS_BUILD/html"
