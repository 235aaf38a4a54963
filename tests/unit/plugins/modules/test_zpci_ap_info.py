"""zpci_info and ap_info against fixture trees that mirror the kernel's sysfs."""

import json
import os

import pytest


@pytest.fixture(scope="module")
def small(host_tree):
    return host_tree("small_kvm_host")


def test_zpci_functions(run_module, small):
    rc, res = run_module("zpci_info", host_root=small)
    assert rc == 0 and res["s390x_host"] is True
    funcs = dict((f["fid"], f) for f in res["functions"])
    nic, nvme = funcs[0x10], funcs[0x20]
    # uid_is_unique: the PCI domain is the UID (as the real 6.12 kernel shows: uid 0x5 -> 0005:00:00.0)
    assert nic["address"] == "0010:00:00.0" and nic["uid"] == 0x10 and nic["uid_hex"] == "0x0010"
    assert nic["fid_hex"] == "0x00000010" and nic["uid_is_unique"] is True
    assert nic["vendor"] == 0x15B3 and nic["device"] == 0x101E and nic["driver"] == "mlx5_core"
    assert nic["netdevs"] == ["eno16"] and nic["pchid"] == "0x0114" and nic["port"] == 1 and nic["vfn"] == 1
    assert nvme["block_devices"] == ["nvme0n1"] and nvme["driver"] == "nvme"
    assert nvme["in_use_by_host"] is True and any("/srv/nvme" in r for r in nvme["host_use"])
    assert nic["in_use_by_host"] is False


@pytest.mark.parametrize("args, expected", [
    ({"fids": ["0x20"]}, [0x20]),
    ({"fids": ["10"]}, [0x10]),
    ({"uids": ["0x10"]}, [0x10]),
    ({"addresses": ["0020:00:00.0"]}, [0x20]),
    ({"fids": ["0x99"]}, []),
])
def test_zpci_selectors(run_module, small, args, expected):
    rc, res = run_module("zpci_info", host_root=small, **args)
    assert rc == 0 and [f["fid"] for f in res["functions"]] == expected


@pytest.mark.parametrize("args, fragment", [
    ({"fids": ["0xzz"]}, "invalid fid '0xzz'"),
    ({"uids": ["0x10000"]}, "invalid uid '0x10000': out of range"),
    ({"addresses": ["5:0:0.0"]}, "invalid PCI address '5:0:0.0'"),
])
def test_zpci_bad_input(run_module, small, args, fragment):
    rc, res = run_module("zpci_info", host_root=small, **args)
    assert rc != 0 and fragment in res["msg"]


def test_ap_cards_queues_masks_and_matrix(run_module, small):
    rc, res = run_module("ap_info", host_root=small)
    assert rc == 0 and res["ap_bus"] is True
    bus = res["bus"]
    # card 4 and domain 7 are taken out of apmask/aqmask for vfio_ap
    assert 4 not in bus["host_adapters"] and 3 in bus["host_adapters"] and bus["vfio_adapters"] == [4]
    assert bus["vfio_domains"] == [7] and len(bus["host_domains"]) == bus["max_domain_id"]
    cards = dict((c["id"], c) for c in res["cards"])
    assert cards[3]["type"] == "CEX8C" and cards[3]["vfio_ap_capable"] is True and cards[3]["online"] is True
    queues = dict((q["apqn"], q) for q in res["queues"])
    assert queues["04.0007"]["driver"] == "vfio_ap" and queues["04.0007"]["vfio_ap_status"] == "assigned"
    assert queues["03.0005"]["driver"] == "cex4queue"
    (mdev,) = res["matrix_mdevs"]
    assert mdev["uuid"] == "62177883-f1bb-47f0-914d-32a22e3a8804" and mdev["active"] and mdev["persistent"]
    assert mdev["matrix"] == [{"adapter": 4, "domain": 7}] and mdev["control_domains"] == [7]
    assert mdev["autostart"] is True


def test_ap_filters_and_bad_input(run_module, small):
    rc, res = run_module("ap_info", host_root=small, adapters=[3], domains=[6])
    assert [q["apqn"] for q in res["queues"]] == ["03.0006"] and [c["id"] for c in res["cards"]] == [3]
    rc, res = run_module("ap_info", host_root=small, adapters=[256])
    assert rc != 0 and "adapters: 256 is not an AP number; allowed: 0-255" in res["msg"]
    # text in decimal or 0x hex, as documented (Ansible's int elements refused "0x07")
    rc, res = run_module("ap_info", host_root=small, adapters=["4"], domains=["0x07", "06"])
    assert rc == 0 and [q["apqn"] for q in res["queues"]] == ["04.0006", "04.0007"]


@pytest.mark.parametrize("value", ["abc", "0x1ff", -1, True, "", "4.5"])
def test_ap_bad_numbers_name_the_value(run_module, small, value):
    rc, res = run_module("ap_info", host_root=small, domains=[5, value])
    assert rc != 0 and res["msg"] == "domains: %r is not an AP number; allowed: 0-255 as a number, decimal text or 0x hex (0x00-0xff)" % (value,)


def test_ap_bus_without_cards_and_broken_files(run_module, tmp_path):
    """An AP bus with no adapters (none configured to the LPAR), an mdevctl file that is not an
    object, and masks/matrix files that do not parse: no traceback."""
    from tests.fixtures.sysfs_builder import build_host
    root = str(build_host({"arch": "s390x", "ap": {"cards": []}}, tmp_path / "empty"))
    rc, res = run_module("ap_info", host_root=root)
    assert rc == 0 and res["ap_bus"] is True and res["cards"] == [] and res["queues"] == [] and res["matrix_mdevs"] == []
    assert res["bus"]["host_adapters"] == list(range(64))
    root = str(build_host(os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "hosts", "small_kvm_host.yml"),
                          tmp_path / "broken"))
    uuid = "62177883-f1bb-47f0-914d-32a22e3a8804"
    for rel, text in (("etc/mdevctl.d/matrix/" + uuid, "[1, 2]\n"), ("sys/bus/ap/apmask", "0xzz\n"),
                      ("sys/devices/vfio_ap/matrix/%s/matrix" % uuid, "zz.zzzz\n"),
                      ("sys/devices/vfio_ap/matrix/%s/control_domains" % uuid, "0007\nxyz\n")):
        with open(os.path.join(root, rel), "w") as handle:
            handle.write(text)
    rc, res = run_module("ap_info", host_root=root)
    assert rc == 0, res.get("msg")
    (mdev,) = res["matrix_mdevs"]
    assert mdev["persistent"] is True and mdev["defined_attrs"] == [] and mdev["autostart"] is False
    assert mdev["matrix"] == [{"adapter": None, "domain": None}] and mdev["control_domains"] == [7]
    # an apmask that does not parse says nothing: not "every adapter is free for vfio_ap"
    assert res["bus"]["host_adapters"] is None and res["bus"]["vfio_adapters"] is None
    assert res["bus"]["vfio_domains"] == [7]


def test_ap_info_with_an_empty_or_no_ap_bus(run_module, tmp_path):
    import shutil

    from tests.fixtures.sysfs_builder import build_host
    from tests.unit.helpers import HOSTS
    # lpar_mixed: /sys/bus/ap exists (the bus is registered) but has no attributes or devices
    root = str(build_host(os.path.join(HOSTS, "lpar_mixed.yml"), tmp_path / "h"))
    rc, res = run_module("ap_info", host_root=root)
    assert rc == 0 and res["ap_bus"] is True and res["cards"] == [] and res["queues"] == []
    assert res["bus"]["apmask"] is None and res["bus"]["vfio_adapters"] is None and res["bus"]["vfio_domains"] is None
    shutil.rmtree(os.path.join(root, "sys/bus/ap"))
    rc, res = run_module("ap_info", host_root=root)
    assert rc == 0 and res["s390x_host"] is True and res["ap_bus"] is False and "No AP bus" in res["msg"]
    assert res["cards"] == [] and "bus" not in res


def test_ap_mask_helpers():
    from ansible_collections.s390x.kvm.plugins.module_utils.ap import format_mask, parse_mask
    text = format_mask([0, 4, 255])
    assert text.startswith("0x88") and text.endswith("01") and len(text) == 66
    assert parse_mask(text) == [0, 4, 255]


@pytest.mark.parametrize("name", ["ccw_info", "zpci_info", "ap_info"])
@pytest.mark.parametrize("host", ["small_kvm_host", "lpar_mixed", "non_s390x_host"])
def test_return_docs_match_the_output(run_module, host_tree, name, host):
    """Every key the module returns is documented in RETURN (in ``contains`` or the sample),
    and the EXAMPLES use only documented options."""
    import importlib

    import yaml
    mod = importlib.import_module("ansible_collections.s390x.kvm.plugins.modules." + name)
    ret, doc = yaml.safe_load(mod.RETURN), yaml.safe_load(mod.DOCUMENTATION)
    options = set(doc["options"]) | {"host_root", "require_s390x"}
    for task in yaml.safe_load(mod.EXAMPLES):
        args = task.get("s390x.kvm." + name)
        if args is not None or "s390x.kvm." + name in task:
            assert set(args or {}) <= options
    rc, res = run_module(name, host_root=host_tree(host))
    assert rc == 0, res.get("msg")
    assert set(res) - {"changed", "invocation", "warnings"} <= set(ret)
    for key, spec in ret.items():
        value = res.get(key)
        items = value if isinstance(value, list) else [value]
        items = [i for i in items if isinstance(i, dict)]
        if not items:
            continue
        documented = set(spec.get("contains") or {})
        if not documented:
            sample = spec.get("sample")
            documented = set((sample[0] if isinstance(sample, list) else sample) or {})
        seen = set().union(*[set(i) for i in items])
        assert seen <= documented, "%s.%s: undocumented %s" % (name, key, sorted(seen - documented))


@pytest.fixture(scope="module")
def lpar(host_tree):
    return host_tree("lpar_mixed")


def test_zpci_without_unique_uids_and_with_nvme_multipath(run_module, lpar):
    rc, res = run_module("zpci_info", host_root=lpar)
    assert rc == 0
    funcs = dict((f["fid"], f) for f in res["functions"])
    assert all(f["uid_is_unique"] is False and f["uid"] == 0 and f["uid_hex"] == "0x0000" for f in funcs.values())
    # without unique UIDs the kernel numbers PCI domains itself (zpci_alloc_domain)
    assert [f["address"] for f in res["functions"]] == ["0000:00:00.0", "0001:00:00.0", "0002:00:00.0"]
    assert funcs[0x101]["driver"] == "vfio-pci" and funcs[0x100]["netdevs"] == ["eno256"]
    # native NVMe multipath: the controller holds nvme0c0n1, the block device is the head nvme0n1
    # below /sys/devices/virtual/nvme-subsystem -- and the mounted head still marks the function
    nvme = funcs[0x200]
    assert nvme["block_devices"] == ["nvme0n1"]
    assert nvme["in_use_by_host"] is True and nvme["host_use"] == ["/dev/nvme0n1p1: mounted at /srv/nvme"]
    assert funcs[0x100]["in_use_by_host"] is False


def test_zpci_lvm_label_on_an_nvme_partition(run_module, tmp_path):
    """An inactive volume group's PV on a namespace partition: only the on-disk label tells."""
    from tests.fixtures.sysfs_builder import build_host
    root = str(build_host({"arch": "s390x", "pci": [
        {"fid": "0x20", "uid": "0x20", "vendor": "0x144d", "device": "0xa824", "class": "0x010802", "driver": "nvme",
         "nvme": {"namespaces": [{"nsid": 1, "size_sectors": 4194304, "partitions": [{}]}]}}],
        "lvm": {"vgs": [{"name": "vg_old", "pvs": ["nvme0n1p1"], "lvs": [{"name": "lv", "active": False}]}]}},
        tmp_path / "h"))
    rc, res = run_module("zpci_info", host_root=root)
    (func,) = res["functions"]
    assert func["host_use"] == ["LVM physical volume (LVM2 label on /dev/nvme0n1p1)"]


@pytest.mark.parametrize("args, fragment", [
    # YAML reads an unquoted 0x10 as 16, which Ansible would make "16" = fid 0x16
    ({"fids": [16]}, "fids: 16 is a number, not text: YAML reads an unquoted 0x10 as 16"),
    ({"uids": [True]}, "uids: True is not text"),
    ({"addresses": [{"a": 1}]}, "addresses: {'a': 1} is not text"),
])
def test_zpci_refuses_numbers_and_other_types(run_module, small, args, fragment):
    rc, res = run_module("zpci_info", host_root=small, **args)
    assert rc != 0 and fragment in res["msg"]


def test_zpci_older_kernel_and_broken_attributes(run_module, tmp_path):
    """Kernels before port/uid_is_unique/mio_enabled existed (torvalds@06a7fcfc), and a
    function_id that is not a number: no traceback, null where unknown."""
    from tests.fixtures.sysfs_builder import build_host
    from tests.unit.helpers import HOSTS
    root = str(build_host(os.path.join(HOSTS, "small_kvm_host.yml"), tmp_path / "old"))
    for address in os.listdir(os.path.join(root, "sys/bus/pci/devices")):
        base = os.path.join(root, "sys/bus/pci/devices", address)
        for name in ("port", "fidparm", "mio_enabled", "uid_is_unique", "index", "pft", "driver_override"):
            if os.path.exists(os.path.join(base, name)):
                os.remove(os.path.join(base, name))
    with open(os.path.join(root, "sys/bus/pci/devices/0020:00:00.0/function_id"), "w") as handle:
        handle.write("garbage\n")
    rc, res = run_module("zpci_info", host_root=root)
    assert rc == 0, res.get("msg")
    (nic,) = res["functions"]
    assert nic["fid"] == 0x10 and nic["port"] is None and nic["uid_is_unique"] is None and nic["mio_enabled"] is None
    assert nic["pft"] is None and nic["pft_name"] is None and nic["driver_override"] is None
    assert res["summary"]["non_zpci_functions"] == 1


def test_nvme_ipl_device_marks_its_function(run_module, tmp_path):
    from tests.fixtures.sysfs_builder import build_host
    desc = {"arch": "s390x", "ipl": {"type": "nvme", "fid": "0x20", "nsid": 1}, "pci": [
        {"fid": "0x20", "uid": "0x20", "vendor": "0x144d", "device": "0xa824", "class": "0x010802", "driver": "nvme",
         "nvme": {"namespaces": [{"nsid": 1, "size_sectors": 4194304}]}},
        {"fid": "0x21", "uid": "0x21", "vendor": "0x144d", "device": "0xa824", "class": "0x010802", "driver": "nvme",
         "nvme": {"namespaces": [{"nsid": 1, "size_sectors": 4194304}]}}]}
    root = str(build_host(desc, tmp_path / "h"))
    rc, res = run_module("zpci_info", host_root=root)
    funcs = dict((f["fid"], f) for f in res["functions"])
    assert funcs[0x20]["host_use"] == ["IPL device (nvme, fid 0x00000020)"] and funcs[0x21]["in_use_by_host"] is False
    with open(os.path.join(root, "sys/firmware/ipl/fid"), "w") as handle:
        handle.write("bogus\n")
    rc, res = run_module("zpci_info", host_root=root)
    assert rc == 0 and not any(f["in_use_by_host"] for f in res["functions"])


def test_selecting_by_a_uid_that_is_not_unique_warns(run_module, lpar, small):
    rc, res = run_module("zpci_info", host_root=lpar, uids=["0x0"], host_usage=False)
    assert rc == 0 and len(res["functions"]) == 3
    assert "selected 0000:00:00.0, 0001:00:00.0, 0002:00:00.0 by a UID that is not unique" in json.dumps(res.get("warnings"))
    rc, res = run_module("zpci_info", host_root=small, uids=["0x10"], host_usage=False)
    assert rc == 0 and not res.get("warnings")


def test_zpci_info_does_not_report_an_nvme_function_free_when_block_devices_cannot_be_traced(run_module, tmp_path):
    """Without /sys/class/block the mount of /srv/nvme cannot be traced: the NVMe function is not free,
    the RoCE function (no block device) is."""
    import json
    import os

    from tests.fixtures.degraded import degrade
    from tests.fixtures.sysfs_builder import build_host
    from tests.unit.helpers import HOSTS
    root = degrade(str(build_host(os.path.join(HOSTS, "small_kvm_host.yml"), tmp_path / "host")), "no_class_block")
    rc, res = run_module("zpci_info", host_root=root)
    assert rc == 0, res.get("msg")
    funcs = dict((f["fid"], f) for f in res["functions"])
    cause = "/sys/class/block is missing (so mounts, swap and device-mapper stacks cannot be traced to their devices)"
    nvme, nic = funcs[0x20], funcs[0x10]
    assert (nvme["in_use_by_host"], nvme["host_use"], nvme["host_use_unknown"], nvme["host_use_state"]) == \
        (True, [], [cause], "unknown")
    assert (nic["in_use_by_host"], nic["host_use_unknown"], nic["host_use_state"]) == (False, [], "free")
    assert res["host_usage_unknown"] == [{"source": "/sys/class/block", "reason": cause}]
    assert res["summary"]["host_use_unknown"] == 1 and res["summary"]["in_use_by_host"] == 1
    assert "cannot tell the host's use of its block devices" in json.dumps(res.get("warnings", []))
