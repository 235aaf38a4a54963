"""zpci_info and ap_info against fixture trees that mirror the kernel's sysfs."""

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
    assert rc != 0 and "adapters: 256 out of range" in res["msg"]


def test_ap_mask_helpers():
    from ansible_collections.s390x.kvm.plugins.module_utils.ap import format_mask, parse_mask
    text = format_mask([0, 4, 255])
    assert text.startswith("0x88") and text.endswith("01") and len(text) == 66
    assert parse_mask(text) == [0, 4, 255]
