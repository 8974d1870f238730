"""Finding the USB device behind a tty through sysfs, and the typed errors when a reset cannot happen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.radio.usb_reset import (
    UsbResetError,
    UsbResetFailure,
    find_usb_device,
    rebind_usb_device,
    reset_usb_device,
    reset_usb_for_tty_sync,
)


def _fake_system(root: Path) -> tuple[Path, Path, Path]:
    """A sysfs and /dev laid out as the kernel does for a CP210x stick on bus 1, port 1.2 (ttyUSB0)."""
    sysfs, dev = root / "sys", root / "dev"
    usb_device = sysfs / "devices/platform/soc/usb1/1-1/1-1.2"
    port = usb_device / "1-1.2:1.0/ttyUSB0"
    port.mkdir(parents=True)
    for name, value in {"busnum": "1", "devnum": "4", "idVendor": "10c4", "idProduct": "87ed"}.items():
        (usb_device / name).write_text(value + "\n")
    tty_class = sysfs / "class/tty/ttyUSB0"
    tty_class.mkdir(parents=True)
    (tty_class / "device").symlink_to(port)
    (dev / "serial/by-id").mkdir(parents=True)
    (dev / "ttyUSB0").write_text("")
    udev_link = dev / "serial/by-id/usb-IMST_iM871A-if00-port0"
    udev_link.symlink_to(dev / "ttyUSB0")
    driver = sysfs / "bus/usb/drivers/usb"
    driver.mkdir(parents=True)
    return sysfs, dev, udev_link


def test_finds_the_usb_device_from_a_udev_symlink(tmp_path: Path) -> None:
    sysfs, dev, link = _fake_system(tmp_path)
    device = find_usb_device(str(link), sysfs_root=sysfs, dev_root=dev)
    assert device.name == "1-1.2"
    assert (device.busnum, device.devnum) == (1, 4)
    assert (device.vendor_id, device.product_id) == ("10c4", "87ed")
    assert device.devnode == dev / "bus/usb/001/004"


def test_a_pseudo_terminal_is_not_a_usb_device() -> None:
    master, slave = os.openpty()
    try:
        with pytest.raises(UsbResetError) as caught:
            reset_usb_for_tty_sync(os.ttyname(slave))
        assert caught.value.reason is UsbResetFailure.NOT_USB
    finally:
        os.close(master)
        os.close(slave)


def test_a_vanished_device_node_is_reported_as_gone(tmp_path: Path) -> None:
    sysfs, dev, link = _fake_system(tmp_path)
    device = find_usb_device(str(link), sysfs_root=sysfs, dev_root=dev)
    with pytest.raises(UsbResetError) as caught:
        reset_usb_device(device)
    assert caught.value.reason is UsbResetFailure.DEVICE_GONE


def test_the_kernel_refusing_the_ioctl_is_a_typed_error(tmp_path: Path) -> None:
    sysfs, dev, link = _fake_system(tmp_path)
    device = find_usb_device(str(link), sysfs_root=sysfs, dev_root=dev)
    device.devnode.parent.mkdir(parents=True)
    device.devnode.write_text("")  # a plain file: the ioctl fails with ENOTTY
    with pytest.raises(UsbResetError) as caught:
        reset_usb_device(device)
    assert caught.value.reason is UsbResetFailure.RESET_FAILED
    assert str(device.devnode) in str(caught.value)


def test_rebind_writes_the_device_name_to_unbind_then_bind(tmp_path: Path) -> None:
    sysfs, dev, link = _fake_system(tmp_path)
    device = find_usb_device(str(link), sysfs_root=sysfs, dev_root=dev)
    rebind_usb_device(device, sysfs_root=sysfs)
    driver = sysfs / "bus/usb/drivers/usb"
    assert (driver / "unbind").read_text() == "1-1.2"
    assert (driver / "bind").read_text() == "1-1.2"


def test_rebind_without_the_driver_directory_fails_typed(tmp_path: Path) -> None:
    sysfs, dev, link = _fake_system(tmp_path)
    device = find_usb_device(str(link), sysfs_root=sysfs, dev_root=dev)
    (sysfs / "bus/usb/drivers/usb").rmdir()
    with pytest.raises(UsbResetError) as caught:
        rebind_usb_device(device, sysfs_root=sysfs)
    assert caught.value.reason is UsbResetFailure.RESET_FAILED
