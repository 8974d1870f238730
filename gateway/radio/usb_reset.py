"""Reset the USB device behind a serial port: the usbfs reset ioctl, else an unbind/bind through sysfs.

The tty's sysfs node (``/sys/class/tty/ttyUSB0/device``) sits under its USB interface, under the USB
device whose ``busnum``/``devnum`` name the usbfs node ``/dev/bus/usb/BBB/DDD``. USBDEVFS_RESET needs
write access to that node (a udev rule); unbind/bind needs root and a writable /sys. When neither is
permitted the caller gets a ``UsbResetError`` saying why, never a silent no-op.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

USBDEVFS_RESET = 0x5514  # _IO('U', 20), linux/usbdevice_fs.h


class UsbResetFailure(StrEnum):
    """Why a USB reset could not be done."""

    NOT_USB = "not_usb"  # the port is not a USB serial device (a pty, a UART, rtl_wmbus on stdin)
    DEVICE_GONE = "device_gone"  # the device node vanished (unplugged)
    PERMISSION_DENIED = "permission_denied"  # no write access to usbfs, and /sys not writable
    RESET_FAILED = "reset_failed"  # the kernel refused the reset


class UsbResetError(Exception):
    """A USB reset that did not happen, with the reason and the device concerned."""

    def __init__(self, reason: UsbResetFailure, path: str, detail: str = "") -> None:
        self.reason = reason
        self.path = path
        self.detail = detail
        super().__init__(f"USB reset of {path}: {reason.value}{': ' + detail if detail else ''}")


@dataclass(frozen=True, slots=True)
class UsbDevice:
    """The USB device a tty belongs to, as sysfs describes it."""

    name: str  # sysfs name, e.g. "1-1.2": what usb's driver bind/unbind take
    sysfs_path: Path
    busnum: int
    devnum: int
    vendor_id: str
    product_id: str
    devnode: Path  # /dev/bus/usb/BBB/DDD

    def describe(self) -> str:
        return f"{self.name} ({self.vendor_id}:{self.product_id}) at {self.devnode}"


def find_usb_device(
    tty_path: str, *, sysfs_root: Path = Path("/sys"), dev_root: Path = Path("/dev")
) -> UsbDevice:
    """The USB device behind ``tty_path`` (a /dev/ttyUSB0 or a udev symlink to it)."""
    tty = Path(os.path.realpath(tty_path)).name
    link = sysfs_root / "class" / "tty" / tty / "device"
    if not link.exists():
        raise UsbResetError(UsbResetFailure.NOT_USB, tty_path, f"no {link}")
    node = link.resolve()
    while node != node.parent:
        if (node / "busnum").is_file() and (node / "devnum").is_file():
            busnum = int((node / "busnum").read_text().strip())
            devnum = int((node / "devnum").read_text().strip())
            return UsbDevice(
                name=node.name,
                sysfs_path=node,
                busnum=busnum,
                devnum=devnum,
                vendor_id=_read(node / "idVendor"),
                product_id=_read(node / "idProduct"),
                devnode=dev_root / "bus" / "usb" / f"{busnum:03d}" / f"{devnum:03d}",
            )
        node = node.parent
    raise UsbResetError(UsbResetFailure.NOT_USB, tty_path, "no USB device above its sysfs node")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "?"


def reset_usb_device(device: UsbDevice) -> None:
    """USBDEVFS_RESET on the device's usbfs node; the kernel re-enumerates it (the tty reappears)."""
    path = str(device.devnode)
    try:
        fd = os.open(device.devnode, os.O_WRONLY)
    except FileNotFoundError as exc:
        raise UsbResetError(UsbResetFailure.DEVICE_GONE, path, exc.strerror or "") from exc
    except PermissionError as exc:
        raise UsbResetError(UsbResetFailure.PERMISSION_DENIED, path, exc.strerror or "") from exc
    try:
        fcntl.ioctl(fd, USBDEVFS_RESET, 0)
    except OSError as exc:
        reason = UsbResetFailure.DEVICE_GONE if exc.errno == errno.ENODEV else UsbResetFailure.RESET_FAILED
        raise UsbResetError(reason, path, exc.strerror or "") from exc
    finally:
        os.close(fd)


def rebind_usb_device(device: UsbDevice, *, sysfs_root: Path = Path("/sys")) -> None:
    """Unbind the device from the usb core driver and bind it again (root, writable /sys)."""
    driver = sysfs_root / "bus" / "usb" / "drivers" / "usb"
    for verb in ("unbind", "bind"):
        target = driver / verb
        try:
            target.write_text(device.name)
        except PermissionError as exc:
            raise UsbResetError(UsbResetFailure.PERMISSION_DENIED, str(target), exc.strerror or "") from exc
        except OSError as exc:
            read_only = exc.errno == errno.EROFS
            reason = UsbResetFailure.PERMISSION_DENIED if read_only else UsbResetFailure.RESET_FAILED
            raise UsbResetError(reason, str(target), exc.strerror or "") from exc


def reset_usb_for_tty_sync(
    tty_path: str,
    *,
    sysfs_root: Path = Path("/sys"),
    dev_root: Path = Path("/dev"),
    allow_rebind: bool = True,
) -> str:
    """Reset the USB device behind ``tty_path``; say what was done, or raise ``UsbResetError``."""
    device = find_usb_device(tty_path, sysfs_root=sysfs_root, dev_root=dev_root)
    try:
        reset_usb_device(device)
        return f"usbfs reset of {device.describe()}"
    except UsbResetError as exc:
        if not allow_rebind or exc.reason is not UsbResetFailure.PERMISSION_DENIED:
            raise
        first = exc
    try:
        rebind_usb_device(device, sysfs_root=sysfs_root)
    except UsbResetError as exc:
        raise UsbResetError(exc.reason, tty_path, f"{first}; then {exc}") from exc
    return f"sysfs unbind/bind of {device.describe()}"


async def reset_usb_for_tty(tty_path: str) -> str:
    """``reset_usb_for_tty_sync`` in a thread: the ioctl blocks while the device re-enumerates."""
    return await asyncio.to_thread(reset_usb_for_tty_sync, tty_path)
