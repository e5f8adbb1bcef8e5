"""Firmware images and the image server the controller runs itself.

The controller is an OEM tool: it packs its own images in the BMCs' image format (the ``SUFW``
header: magic, format 1, header size, component, model, version, payload length, SHA-256, CRC-32;
a test checks it against the BMCs' own reader) and serves them over HTTP on loopback for
Redfish SimpleUpdate pulls (and switch image installs). A corrupt image has its last payload
byte flipped after hashing, so only the BMC's verification fails.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAGIC = b"SUFW\r\n\x1a\n"
_BODY = struct.Struct(">8sHH16s32s64sQ32s")
_CRC = struct.Struct(">I")


def pack_image(component: str, model: str, version: str, size: int = 4096) -> bytes:
    seed = f"{component}\0{model}\0{version}".encode()
    payload = hashlib.shake_256(seed).digest(size)
    body = _BODY.pack(
        MAGIC,
        1,
        _BODY.size + _CRC.size,
        component.encode("ascii"),
        model.encode("ascii"),
        version.encode("ascii"),
        len(payload),
        hashlib.sha256(payload).digest(),
    )
    return body + _CRC.pack(zlib.crc32(body)) + payload


def corrupt(image: bytes) -> bytes:
    return image[:-1] + bytes((image[-1] ^ 0xFF,))


class ImageServer:
    """``GET /<name>`` for every image added; binds 127.0.0.1 on a free port."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self._images: dict[str, bytes] = {}
        self.requests: list[str] = []
        images, requests = self._images, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                requests.append(name)
                data = images.get(name)
                if data is None:
                    self.send_error(404, "no such image")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((address, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="image-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, name: str, data: bytes) -> str:
        self._images[name] = data
        return f"{self.url}/{name}"

    def image_url(self, component: str, model: str, version: str, *, bad: bool = False) -> str:
        name = f"{model.replace(' ', '_')}-{component}-{version}{'-corrupt' if bad else ''}.sufw"
        if name not in self._images:
            image = pack_image(component, model, version)
            self._images[name] = corrupt(image) if bad else image
        return f"{self.url}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
