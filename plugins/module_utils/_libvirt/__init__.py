# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt layer of the collection's libvirt modules (private: not an API for other collections).

``client``      connection options, the module scaffold, errors that carry libvirt's error code
``waiter``      libvirt's event loop, event collection per domain, waits over events and polling
``domain_ops``  domain operations with per-phase timing: lifecycle, device attach/detach with waits
"""
