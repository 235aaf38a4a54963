# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration_journal: what a migration did survives a round trip through the domain's metadata
(device XML exactly as it was, statuses, times)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils import _migration_journal as mj

DEVICE = ("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='8f1b4c2e-0000-4000-8000-"
          "00000000c0de'/></source><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0009'/></hostdev>")


def test_round_trip_keeps_device_xml_statuses_and_times():
    journal = mj.Journal("qemu:///system", "qemu+ssh://h2/system")
    journal.devices.append(mj.JournalDevice("hostdev[mdev:x]", "vfio-ccw", DEVICE, "hostdev[mdev:y]",
                                            DEVICE.replace("c0de", "beef"), mj.UNPLUGGED, 1765100000.25))
    journal.devices.append(mj.JournalDevice("interface[m]", "zpci", "<interface type='bridge'/>", "interface[m]",
                                            "<interface type='bridge'/>", error="refused & <why>"))
    again = mj.Journal.from_xml(journal.to_xml())
    assert (again.id, again.source_uri, again.dest_uri, again.phase) == (
        journal.id, "qemu:///system", "qemu+ssh://h2/system", "unplug")
    first, second = again.devices
    assert first.xml == DEVICE and first.target_xml.endswith("</hostdev>") and "beef" in first.target_xml
    assert first.status == mj.UNPLUGGED and first.unplugged_at == 1765100000.25 and first.replugged_at is None
    assert second.status == mj.PLANNED and second.error == "refused & <why>"
    assert [d.key for d in again.with_status(mj.UNPLUGGED)] == ["hostdev[mdev:x]"]


def test_namespaced_metadata_reads_back():
    # libvirt returns the element with its namespace declared on it
    text = mj.Journal("a", "b").to_xml().replace("<migration ", "<migration xmlns='%s' " % mj.NAMESPACE, 1)
    assert mj.Journal.from_xml(text).dest_uri == "b"


def test_report_outage():
    device = mj.JournalDevice("k", "zpci", "<x/>", "k", "<x/>", mj.REPLUGGED, 100.0, 101.5)
    report = device.report()
    assert report["outage_s"] == 1.5 and report["unplugged_at"].endswith("Z")
