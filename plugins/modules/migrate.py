#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: migrate
short_description: Live-migrate a KVM guest on IBM Z with its pass-through devices
version_added: 0.3.0
description:
  - Moves a running guest to another KVM host live, the way IBM's KVM on Z documentation asks for
    guests with pass-through devices - "dynamically remove all pass-through devices from a virtual server
    before a live guest migration and dynamically add them after the migration" - as one operation that
    checks everything first, rolls back on failure and can be re-run after a crash.
  - B(Preflight), before anything changes, reported as one list (RV(preflight)); check mode returns exactly
    this report. Both ends reachable and distinct; the guest's CPU model accepted by the destination
    (C(virConnectCompareHypervisorCPU)); the destination's free memory; every device classified from the
    live XML. vfio-ccw mediated devices, SCSI tape hostdevs and every device on a zPCI address (QEMU marks all
    zPCI devices non-migratable, an emulated virtio-net-pci too) are unplugged and plugged in again. vfio-ap is
    refused unless O(ap_policy=unplug) (IBM advises against hotplugging AP). virtio-fs, virtio-9p and
    vhost-scsi are refused, and so are local disk images without O(copy_storage) (or O(unsafe)) and copied
    disks with an iothread, each with what to do. For each pass-through device, the destination device it
    maps to (O(device_map)) must exist there, be prepared (an active mdev of the right type; a PCI function
    bound to vfio-pci) and not be assigned to another guest. Post-copy is refused while a VFIO device stays.
  - B(Unplug) each such device live only (the persistent definition keeps it), waiting for the guest's
    acknowledgement (C(DEVICE_REMOVED); C(DEVICE_REMOVAL_FAILED) or O(wait_timeout) is an error naming the
    device). Each device is written to a journal in the guest's live metadata before and after.
  - B(Migrate) with C(virDomainMigrateToURI3) (by default live, peer to peer, persistent on the destination,
    undefined on the source). The destination's definition is the source's with each pass-through device
    replaced by its mapped device. O(timeout) and O(timeout_action) act on the module's own timer.
  - B(Replug) the mapped devices into the running guest on the destination, waiting for C(DEVICE_ADDED).
  - B(Roll back) on a failure before the switch-over - the guest keeps running on the source and gets back
    every device that really was unplugged (never one that was not). A failed replug after the switch-over
    leaves the guest running on the destination and fails with RV(outcome=degraded), naming the missing
    devices; a re-run plugs them in.
  - B(Re-runnable) - a run after a crash (Ansible killed) in any phase finishes from the journal and never
    duplicates a device or migrates twice; a guest already running on the destination without a journal
    is V(changed=false).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.libvirt
  - s390x.kvm.attributes.actiongroup_libvirt
options:
  name:
    description: Name of the guest (libvirt domain).
    type: str
    required: true
  uri:
    description:
      - libvirt URI of the source host (where the guest runs now).
  dest_uri:
    description:
      - libvirt URI of the destination host, as this module and (peer to peer) the source's libvirtd reach it,
        for example C(qemu+ssh://root@kvmhost2/system) or C(qemu+tls://kvmhost2/system) (C(virsh migrate)'s desturi).
    type: str
    required: true
  migrate_uri:
    description:
      - Where QEMU sends the migration data (C(virsh migrate --migrateuri)), for example C(tcp://10.1.0.2) to
        use a dedicated migration network. Default - the destination's C(migration_host) or hostname.
    type: str
  listen_address:
    description: Address the destination's QEMU listens on for the migration data (C(--listen-address)).
    type: str
  live:
    description: Migrate without pausing the guest (C(--live)). With V(false) the guest is paused while its memory moves.
    type: bool
    default: true
  peer_to_peer:
    description:
      - The source's libvirtd drives the migration (C(--p2p)); it goes on when this module's connection is lost.
        With V(false) the module drives it through both connections (C(virDomainMigrate3)).
    type: bool
    default: true
  persistent:
    description: Define the guest on the destination (C(--persistent)), with the mapped pass-through devices.
    type: bool
    default: true
  undefine_source:
    description: Undefine the guest on the source after it moved (C(--undefinesource)), so exactly one host has its definition.
    type: bool
    default: true
  copy_storage:
    description:
      - Copy local disks to the destination (C(--copy-storage-all) = V(all), C(--copy-storage-inc) = V(inc)).
        The destination needs an equivalent resource; IBM allows no iothread on a copied disk.
    type: str
    choices: [none, all, inc]
    default: none
  unsafe:
    description:
      - Migrate although libvirt considers it unsafe (C(--unsafe)), for example disk images on a file system
        libvirt does not know as shared. Local disk images are then a warning, not a refusal.
    type: bool
    default: false
  bandwidth:
    description: Maximum migration bandwidth in MiB/s (C(--bandwidth)). Default - unlimited.
    type: int
  max_downtime:
    description: Maximum tolerated downtime at the switch-over in milliseconds (C(migrate-setmaxdowntime)).
    type: int
  auto_converge:
    description: Throttle the guest's vCPUs when its memory changes faster than it moves (C(--auto-converge)).
    type: bool
    default: false
  postcopy:
    description:
      - Allow switching to post-copy (C(--postcopy)); needed for O(timeout_action=postcopy). Refused while a VFIO
        device stays attached (a broken link in post-copy loses the guest on both hosts).
    type: bool
    default: false
  timeout:
    description:
      - Seconds after which O(timeout_action) is taken when the migration has not finished (C(virsh migrate --timeout)).
        V(0) waits as long as it takes.
    type: int
    default: 0
  timeout_action:
    description:
      - V(abort) cancels the migration (the guest stays on the source and gets its devices back),
        V(suspend) pauses the guest so the migration finishes (the guest is resumed on the destination),
        V(postcopy) switches to post-copy (needs O(postcopy=true)).
    type: str
    choices: [abort, suspend, postcopy]
    default: abort
  device_map:
    description:
      - Which destination device replaces each pass-through device, one entry per device, keyed by the source device
        and valued with the destination device. The key names the device by what it takes from the source host (an
        mdev UUID, a PCI address such as C(0000:00:02.0), a SCSI address such as C(scsi_host0:0:0:0)) or by its
        device key (as RV(devices) lists it). The value is the destination's device of the same form, prepared there
        (P(s390x.kvm.live_migration#role) does that from bus IDs and fids).
      - Devices it does not name map to the same device on the destination (an mdev of the same UUID, the PCI
        function at the same address). Emulated zPCI devices need no mapping.
      - A key that names no device being unplugged is an error.
    type: dict
    default: {}
  ap_policy:
    description:
      - What to do with vfio-ap crypto pass-through. V(refuse) (IBM - "must not include any vfio_ap devices")
        or V(unplug) it before and replug it after, knowing that IBM advises against hotplugging AP resources.
    type: str
    choices: [refuse, unplug]
    default: refuse
  wait_timeout:
    description: Seconds to wait for the guest to acknowledge each unplug and for each replug. Must be positive.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Runs the preflight only and returns its report; nothing is unplugged or migrated.
  diff_mode:
    support: none
    description: The result lists what moved (RV(devices), RV(host)); there is no text to diff.
  idempotent:
    support: full
    description: A guest already running on the destination (and no unfinished journal) is V(changed=false).
notes:
  - The journal is kept in the guest's live metadata, namespace C(https://s390x-kvm.github.io/xmlns/migration/1);
    C(virsh metadata NAME --live https://s390x-kvm.github.io/xmlns/migration/1) shows it while a migration is unfinished.
  - Run it where both libvirt URIs are reachable - typically on the source host (O(uri) local) with O(dest_uri)
    reaching the destination's libvirtd. Local disk images are judged only when O(uri) is local.
  - A removal the guest never acknowledges stays pending in QEMU; when the guest answers later the device
    leaves it. The failed task says so; a re-run plugs it back from the journal.
seealso:
  - module: s390x.kvm.domain_info
  - module: s390x.kvm.domain_device
  - name: IBM KVM on Z, live guest migration
    description: The preconditions for migrating a guest with pass-through devices.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=ibmz-live-guest-migration
  - name: libvirt migration
    description: Flags, peer to peer migration and the persistent definition on the destination.
    link: https://libvirt.org/migration.html
"""

EXAMPLES = r"""
- name: Move web1 to kvmhost2, replugging its vfio-ccw DASD as the mdev prepared there
  s390x.kvm.migrate:
    name: web1
    dest_uri: qemu+ssh://root@kvmhost2/system
    migrate_uri: tcp://10.1.0.2
    device_map:
      8f1b4c2e-7d1a-4c55-9f0a-3c1d2b3a4e5f: 0c8a1d44-2b7e-4f10-a3d2-61e5f7a9b001
    max_downtime: 500
    timeout: 600
    timeout_action: abort

- name: Only check whether it could move (the preflight report)
  s390x.kvm.migrate:
    name: web1
    dest_uri: qemu+ssh://root@kvmhost2/system
  check_mode: true
  register: preflight
"""

RETURN = r"""
outcome:
  description:
    - V(migrated), V(already_there) (nothing to do), V(planned) (check mode), V(rolled_back) (failed, the guest runs
      on the source with every device), V(degraded) (the guest runs without some of its devices; see RV(devices)).
  returned: always
  type: str
  sample: migrated
host:
  description: URI of the host the guest runs on at the end (null when it runs nowhere).
  returned: always
  type: str
  sample: qemu+ssh://root@kvmhost2/system
preflight:
  description: The preflight report (null when the guest already ran on the destination).
  returned: always
  type: dict
  contains:
    passed: {description: "Whether nothing was refused.", type: bool}
    checks:
      description: Each check with V(ok), V(failed), V(warning) or V(unknown) and what it found.
      type: list
      elements: dict
      sample: [{check: memory, status: ok, detail: "the guest needs 384 MiB, the destination has 20110 MiB free"}]
    devices:
      description: The devices unplugged and replugged, with kind, source (host device), target (the destination's) and target_key.
      type: list
      elements: dict
phases:
  description: Seconds spent per phase (preflight, unplug, migrate, replug, rollback).
  returned: always
  type: dict
  sample: {preflight: 0.05, unplug: 0.21, migrate: 1.93, replug: 0.04}
job:
  description:
    - QEMU's statistics of the completed migration job (C(virDomainGetJobStats)) - time_elapsed and downtime in ms,
      setup_time, data_total/processed/remaining and memory_* in bytes, memory_bps, memory_iteration.
  returned: when the migration ran
  type: dict
  sample: {time_elapsed: 270, downtime: 90, data_total: 402653184}
devices:
  description:
    - Per unplugged device - key, kind, target (its key on the destination), status (V(replugged), V(restored),
      V(unplugged)...), unplugged_at and replugged_at (UTC), outage_s (how long the guest was without it), error.
  returned: always
  type: list
  elements: dict
journal_id:
  description: Identifier of the migration's journal.
  returned: always
  type: str
libvirt_error:
  description: The libvirt error behind a failure (code, code_name, domain, message).
  returned: on failure from libvirt
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.s390x.kvm.plugins.module_utils import _migration as migration
from ansible_collections.s390x.kvm.plugins.module_utils import _migration_rules as migration_rules
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc


def main():
    client = lc.LibvirtModule(AnsibleModule, migration.ARGUMENT_SPEC, supports_check_mode=True)
    module, params = client.module, client.params
    error = migration.check_params(params)
    if error:
        module.fail_json(msg=error)
    job = migration.Migration(params, module.check_mode, module.warn,
                              migration_rules.fs_type_of if lc.is_local_uri(params["uri"]) else None)
    try:
        client.run(job.run, job.result)
    except migration.MigrationFailed as exc:
        result = dict(exc.result)
        if exc.libvirt_failure is not None:
            result.update(exc.libvirt_failure.result())
        result["msg"] = exc.msg
        module.fail_json(**result)


if __name__ == "__main__":
    main()
