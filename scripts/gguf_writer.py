"""A small GGUF v3 writer: metadata of every scalar, string and array type, and
tensors in F32, F16 and Q8_0. Written for scripts/train_model.py so the project
exports its own model with its own code (no dependency on llama.cpp's gguf-py).

Layout of a GGUF v3 file: header (magic, version, tensor count, metadata
count), the metadata pairs, the tensor infos (name, dims with the row length
first, type, offset into the data section), padding to the alignment, then the
tensor data, each tensor starting on an aligned offset.
"""

import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# Metadata value types (the numbers are part of the format).
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

_SCALAR_FORMATS = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}

# Tensor types: ggml's numbering, block size in values, bytes per block.
F32, F16, Q8_0 = 0, 1, 8
_TENSOR_LAYOUT = {F32: (1, 4), F16: (1, 2), Q8_0: (32, 34)}
TENSOR_TYPE_NAMES = {"F32": F32, "F16": F16, "Q8_0": Q8_0}


def quantize_q8_0(values: np.ndarray) -> bytes:
    """Blocks of 32 along each row: an fp16 scale d = max|x| / 127 and 32 int8
    q = round(x / d), the same rounding as ggml's reference quantizer (the
    quotient uses the fp32 scale; only the stored scale is rounded to fp16)."""
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(flat).max(axis=1)
    d = amax / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    # np.round rounds halves to even; ggml's roundf rounds them away from zero.
    scaled = flat * inv[:, None]
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).clip(-127, 127).astype(np.int8)
    blocks = np.empty(flat.shape[0], dtype=[("d", "<f2"), ("q", "i1", 32)])
    blocks["d"] = d.astype(np.float16)
    blocks["q"] = q
    return blocks.tobytes()


def dequantize_q8_0(data: bytes, count: int) -> np.ndarray:
    """The inverse, for round-trip checks."""
    blocks = np.frombuffer(data, dtype=[("d", "<f2"), ("q", "i1", 32)], count=count // 32)
    return (blocks["d"].astype(np.float32)[:, None] * blocks["q"].astype(np.float32)).reshape(-1)


def _string_bytes(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value_bytes(value_type: int, value) -> bytes:
    if value_type == STRING:
        return _string_bytes(value)
    return struct.pack(_SCALAR_FORMATS[value_type], value)


class GGUFWriter:
    """Collects metadata and tensors, then writes the file in one pass."""

    def __init__(self):
        self._metadata = []  # (key, encoded type + value)
        self._tensors = []   # (name, dims with the row length first, type, encoded bytes)

    # ---- metadata ----------------------------------------------------------

    def add(self, key: str, value_type: int, value):
        if any(k == key for k, _ in self._metadata):
            raise ValueError(f"metadata key {key!r} added twice")
        self._metadata.append((key, struct.pack("<I", value_type) + _value_bytes(value_type, value)))

    def add_array(self, key: str, element_type: int, values):
        if element_type == ARRAY:
            raise ValueError(f"{key}: nested arrays are not supported")
        body = b"".join(_value_bytes(element_type, v) for v in values)
        header = struct.pack("<I", ARRAY) + struct.pack("<IQ", element_type, len(values))
        self._metadata.append((key, header + body))

    def add_string(self, key, value): self.add(key, STRING, value)
    def add_uint32(self, key, value): self.add(key, UINT32, int(value))
    def add_int32(self, key, value): self.add(key, INT32, int(value))
    def add_uint64(self, key, value): self.add(key, UINT64, int(value))
    def add_float32(self, key, value): self.add(key, FLOAT32, float(value))
    def add_bool(self, key, value): self.add(key, BOOL, bool(value))

    # ---- tensors -----------------------------------------------------------

    def add_tensor(self, name: str, array: np.ndarray, tensor_type: int = F32):
        """array in C order with the row as its last axis (a PyTorch [out, in]
        weight as it is); GGUF lists dims innermost first, so they are reversed."""
        array = np.ascontiguousarray(array, dtype=np.float32)
        dims = list(reversed(array.shape))
        block, _ = _TENSOR_LAYOUT[tensor_type]
        if dims[0] % block != 0:
            raise ValueError(f"tensor {name}: row length {dims[0]} is not a multiple of the block size {block}")
        if tensor_type == F32:
            data = array.astype("<f4").tobytes()
        elif tensor_type == F16:
            data = array.astype("<f2").tobytes()
        else:
            data = quantize_q8_0(array)
        self._tensors.append((name, dims, tensor_type, data))

    # ---- output ------------------------------------------------------------

    def write(self, path: str):
        with open(path, "wb") as f:
            f.write(GGUF_MAGIC)
            f.write(struct.pack("<IQQ", GGUF_VERSION, len(self._tensors), len(self._metadata)))
            for key, encoded in self._metadata:
                f.write(_string_bytes(key))
                f.write(encoded)
            offset = 0
            for name, dims, tensor_type, data in self._tensors:
                f.write(_string_bytes(name))
                f.write(struct.pack("<I", len(dims)))
                f.write(struct.pack(f"<{len(dims)}Q", *dims))
                f.write(struct.pack("<IQ", tensor_type, offset))
                offset += _aligned(len(data))
            f.write(b"\0" * (_aligned(f.tell()) - f.tell()))
            for _, _, _, data in self._tensors:
                f.write(data)
                f.write(b"\0" * (_aligned(len(data)) - len(data)))


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
