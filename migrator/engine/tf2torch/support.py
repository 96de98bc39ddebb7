"""Small classes the tf2torch output defines for itself when torch has no stock equivalent, so a
migrated file stays self-contained (no runtime dependency on fwmigrate). Code text, emitted as is."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_SAME = '''

class {name}(nn.{base}):
    """nn.{base} with TensorFlow's 'same' padding, computed for each input: TF puts the odd
    pixel after (right/bottom), which a symmetric padding= cannot express at stride > 1."""

    def forward(self, x):
        pads = []
        for size, k, s, d in reversed(list(zip(x.shape[2:], self.kernel_size, self.stride, self.dilation))):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))
'''

SUPPORT: Mapping[str, str] = MappingProxyType(
    {
        "Conv1dSame": _SAME.format(name="Conv1dSame", base="Conv1d"),
        "Conv2dSame": _SAME.format(name="Conv2dSame", base="Conv2d"),
    }
)
# what each snippet needs imported
NEEDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Conv1dSame": ("torch.nn.Conv1d", "torch.nn.functional.pad"),
        "Conv2dSame": ("torch.nn.Conv2d", "torch.nn.functional.pad"),
    }
)
