# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt ``<hostdev>`` of each pass-through kind, written in one place for the VFIO modules
(``hostdev_xml`` in their results) and the guest role (its domain XML).

libvirt formatdomain "Host device assignment": a mediated device is ``type='mdev'`` with the
``model`` of its vendor driver (``vfio-ccw``, ``vfio-ap``) and its UUID as source; a PCI function is
``type='pci'`` with its host address as source. IBM KVM on Z: a vfio-ccw device gets the device
number the guest sees in a CCW ``<address>`` with cssid 0xfe; a zPCI function the uid/fid the guest
sees in ``<zpci>``; vfio-ap has no guest address.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def ccw_guest_address(ssid, devno):
    """The virtual channel subsystem address (cssid 0xfe is the guest's css 0)."""
    return "<address type='ccw' cssid='0xfe' ssid='0x%x' devno='0x%04x'/>" % (ssid, devno)


def zpci_guest_address(uid=None, fid=None):
    """Lines of the zPCI address a guest sees; what is not given libvirt assigns."""
    attrs = (" uid='0x%04x'" % uid if uid is not None else "") + (" fid='0x%08x'" % fid if fid is not None else "")
    if not attrs:
        return ["<address type='pci'/>"]
    return ["<address type='pci'>", "  <zpci%s/>" % attrs, "</address>"]


def _hostdev(opening, body):
    return "\n".join([opening] + ["  " + line for line in body if line] + ["</hostdev>"])


def _mdev_source(mdev_uuid):
    return ["<source>", "  <address uuid='%s'/>" % mdev_uuid, "</source>"]


def vfio_ccw_hostdev(mdev_uuid, ssid=0, devno=None, boot_order=None, loadparm=None):
    """A vfio-ccw mediated device (a DASD), at guest device number ``devno`` when given."""
    boot = None
    if boot_order:
        boot = "<boot order='%d'%s/>" % (boot_order, " loadparm='%s'" % loadparm if loadparm else "")
    return _hostdev("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'>",
                    _mdev_source(mdev_uuid) + [boot, ccw_guest_address(ssid, devno) if devno is not None else None])


def vfio_ap_hostdev(mdev_uuid):
    """A vfio_ap matrix mediated device (crypto adapters x domains)."""
    return _hostdev("<hostdev mode='subsystem' type='mdev' model='vfio-ap'>", _mdev_source(mdev_uuid))


def vfio_pci_hostdev(address, uid=None, fid=None, managed=False):
    """A zPCI function bound to vfio-pci, host ``address`` DDDD:BB:SS.F. ``managed='no'`` when the
    collection binds the driver itself (libvirt would otherwise rebind the host driver at every stop)."""
    domain, bus, slot_function = address.split(":")
    slot, function = slot_function.split(".")
    source = "<address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>" % (
        int(domain, 16), int(bus, 16), int(slot, 16), int(function, 16))
    return _hostdev("<hostdev mode='subsystem' type='pci' managed='%s'>" % ("yes" if managed else "no"),
                    ["<driver name='vfio'/>", "<source>", "  " + source, "</source>"] + zpci_guest_address(uid, fid))
