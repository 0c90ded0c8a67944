"""A guest's serial console as text lines, whichever VMM or transport carries its bytes."""

from __future__ import annotations


class ConsoleText:
    """A serial console's bytes as plain lines: what a terminal would show, line by line.

    SeaBIOS and the kernel's boot stub clear the screen and return the carriage without
    ending the line, so with a quiet kernel the probe's first line would arrive as
    ".\\rBENCH-READY" after a clear-screen sequence. Here a control sequence (ESC x or
    ESC [ ... final byte) and a lone carriage return start a fresh line, and CR LF is one
    line end, so every marker stays at the start of its own line. Works across chunks.
    """

    ESC, CSI, CR, LF = 0x1B, ord("["), ord("\r"), ord("\n")

    def __init__(self) -> None:
        self._state = "text"
        self._pending_cr = False

    def __call__(self, chunk: bytes) -> bytes:
        if self._state == "text" and not self._pending_cr and self.ESC not in chunk \
                and self.CR not in chunk:
            return chunk
        out = bytearray()
        for byte in chunk:
            out += self._step(byte)
        return bytes(out)

    def _step(self, byte: int) -> bytes:
        if self._state == "text":
            return self._text(byte)
        if self._state == "escape" and byte == self.CSI:
            self._state = "csi"
            return b""
        if self._state == "csi" and not 0x40 <= byte <= 0x7E:
            return b""  # parameter and intermediate bytes
        self._state = "text"
        return b"\n"

    def _text(self, byte: int) -> bytes:
        ended = b"\n" if self._pending_cr else b""
        self._pending_cr = byte == self.CR
        if byte == self.CR or (byte == self.LF and ended):
            return ended
        if byte == self.ESC:
            self._state = "escape"
            return ended
        return ended + bytes((byte,))
